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

use crate::db::apply::{self, ApplySettings, BatchLimits, Step, StepFailure};
use crate::files::MigrationSet;

/// [`apply::create_tracking_table`] of `table` on `client` (`scratch`: as that command's scratch
/// database), its catalog waits bounded as the engine tests bound them
/// ([`crate::db::ledger::CatalogBound::for_tests`]).
fn create_ledger(
    client: &mut postgres::Client,
    table: &crate::ledger::TrackingTable,
    scratch: Option<&str>,
) -> crate::Result<crate::ledger::TrackingTable> {
    apply::create_tracking_table(
        client,
        table,
        scratch,
        crate::db::ledger::CatalogBound::for_tests(),
    )
}

/// Each migration of `set` as a step up, its row committed durably.
fn up_steps(set: &MigrationSet) -> Vec<Step<'_>> {
    set.migrations.iter().map(|m| Step::up(m, true)).collect()
}

/// [`apply::run_steps`] as a run sends `steps` unless told otherwise: messages of
/// [`BatchLimits::default`], no ledger prepared ahead, its events dropped. Its failure is
/// `run_steps`' own, as large (`db::apply` allows it: the cold path).
#[allow(clippy::result_large_err)]
fn run_steps(
    client: &mut postgres::Client,
    settings: &ApplySettings,
    steps: &[Step<'_>],
) -> Result<(), (usize, StepFailure)> {
    apply::run_steps(
        client,
        settings,
        steps,
        BatchLimits::default(),
        None,
        &mut |_| {},
    )
}
