//! The end-to-end suite: one test binary (linked once, not once per file), one module per
//! former test file; the harness is the `confiture_tests` library (`tests/src`) on
//! `confiture-test-support`'s server.
//!
//! Tests share one process: none may set environment variables, change the current directory
//! or install signal handlers (they start the CLI under test as a child process for that).

mod async_runtime;
mod bad_input;
mod build_script;
mod cli_abandon;
mod cli_apply;
mod cli_bounds;
mod cli_cargo_config;
mod cli_concurrency;
mod cli_dir_named;
mod cli_drift_tenants;
mod cli_engine;
mod cli_file_text;
mod cli_generate;
mod cli_history;
mod cli_interrupt;
mod cli_invalid_index;
mod cli_json_errors;
mod cli_kill;
mod cli_other_flags;
mod cli_render;
mod cli_snapshots;
mod cli_status;
mod cli_usage;
mod cli_verify;
mod cli_verify_kinds;
mod cli_verify_server;
mod cli_verify_server_wide;
mod create_database;
mod embed;
mod exit_codes;
mod fleet;
mod fleet_checks;
mod fleet_hints;
mod fleet_identity;
mod fleet_schemas;
mod interop_python;
mod ledger_interop;
mod multi_host;
mod password_file;
mod pooler;
mod prepared_holders;
mod secrets;
mod server_faults;
mod tidy;
mod tidy_dependencies;
mod tls_client_cert;
mod tls_cluster;
mod tls_hba;
mod tls_server_v1;
mod url_variable_password;
mod wait_for_server;
