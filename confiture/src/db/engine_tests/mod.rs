//! The engine's own tests against the real PostgreSQL: `db::apply` (scripts, batches, step
//! events), `db::lock` and `db::ledger` are crate-private, so the tests that drive them directly
//! live inside the crate. They share the integration tests' harnesses (a database per test,
//! dropped on drop).

#[path = "../../../tests/it/apply_support/mod.rs"]
mod apply_support;
#[path = "../../../tests/it/common/mod.rs"]
mod common;

mod batch;
mod copy;
mod ledger_read;
mod lock;
mod settings;
mod statement;
mod stop;
mod up_ahead;
