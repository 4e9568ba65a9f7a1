//! The engine's own tests against the real PostgreSQL: `db::apply` (scripts, batches, step
//! events), `db::lock` and `db::ledger` are crate-private, so the tests that drive them directly
//! live inside the crate. They share the integration tests' harnesses (a database per test,
//! dropped on drop).

#[path = "../../../tests/it/apply_support/mod.rs"]
mod apply_support;
#[path = "../../../tests/it/common/mod.rs"]
mod common;

use crate::db::apply::{ApplySettings, Step};
use crate::files::Migration;
use crate::ledger::TrackingTable;
use std::time::Duration;

/// The settings the engine's tests run steps with: the default ledger, 5 s to wait for a
/// lock (the ledger's too), no statement timeout, no retry, nothing to stop the run.
fn settings() -> ApplySettings {
    ApplySettings {
        table: TrackingTable::default(),
        lock_timeout: Duration::from_secs(5),
        statement_timeout: None,
        lock_retries: 0,
        ledger_lock_wait: Duration::from_secs(5),
        held_lock: None,
        stop: None,
        scratch: None,
        ledger_triggers: false,
        in_fleet: false,
    }
}

/// Each of `migrations` as a step up, in order, each committed synchronously.
fn up_steps(migrations: &[Migration]) -> Vec<Step<'_>> {
    migrations.iter().map(|m| Step::up(m, true)).collect()
}

mod batch;
mod copy;
mod ledger_read;
mod lock;
mod settings;
mod statement;
mod up_ahead;
