//! confiture's integration tests: one test binary (linked once, not once per file), one module
//! per former test file. The harness modules: `common` (temporary directories, migrations
//! without a directory, confiture's ledger as Python writes it, [`common::TestDb`] on the
//! server of `confiture-test-support`), `apply_support` (migration directories and ledger
//! readers for the engine tests) and `xorshift` (the property tests' generator).
//!
//! Tests share one process: none may set environment variables, change the current directory
//! or assume it runs alone (`apply_kill` starts this binary again as its child, by test name).

mod apply_support;
mod common;
#[path = "support/xorshift.rs"]
mod xorshift;

mod apply_concurrent;
mod apply_contention;
mod apply_errors;
mod apply_hangs;
mod apply_kill;
mod apply_ledger;
mod apply_ledger_guard;
mod apply_session;
mod apply_up;
mod config_environment;
mod config_fuzz;
mod config_migrator;
mod config_precedence;
mod connect_errors;
mod connect_session;
mod connect_tls;
mod files_fixtures;
mod files_fuzz;
mod fleet;
mod fleet_checks;
mod history_ledger;
mod migrator_lock_kept;
mod migrator_suggestions;
mod migrator_with_client;
mod read_dir;
mod rollback_down;
mod schema_snapshot;
mod sql_docs;
mod sql_fixtures;
mod sql_lexer;
mod sql_pg;
mod sql_pg_scanner;
mod sql_split_props;
mod status_database;
mod status_directory;
mod status_report;
mod verify;
