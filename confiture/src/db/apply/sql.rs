//! The SQL the engine adds around migrations: the session reset, the clock that times each
//! migration, the ledger rows, and a batch — consecutive transactional migrations in one message.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::markers::{marker_name, says_deallocate};
use super::{ApplySettings, Direction, Script, Step};
use crate::ledger::{self, RowKind, TrackingTable};

/// The statement a message of several migrations prepares once for their ledger rows (up),
/// and the one for the end of each transaction (`<name>_next`): the server then parses,
/// analyses and plans them once per message, not once per migration. Deallocated at the end
/// of the message, or after a failure by [`super::batch::rollback_and_read`].
pub(super) fn prepared_row(nonce: u64) -> String {
    format!("confiture_row_{nonce}")
}

/// The `PREPARE`s of [`prepared_row`]: `(version, name, checksum, slug prefix, step index)`,
/// and `(marker)`.
pub(super) fn prepare_rows_sql(table: &TrackingTable, nonce: u64) -> String {
    let insert = ledger::insert_applied_at_exprs_sql(
        table,
        &ledger::AppliedRowExprs {
            slug_prefix: "$4",
            version: "$1",
            name: "$2",
            checksum: "$3",
            applied_at: &started_at(),
            execution_time_ms: &elapsed_ms(),
        },
    );
    let row = prepared_row(nonce);
    format!(
        "PREPARE {row}(text, text, text, text, int) AS {insert} \
         RETURNING $5 AS {STEP_COLUMN}, execution_time_ms AS {MS_COLUMN};\n\
         PREPARE {row}_next(text) AS SELECT pg_catalog.set_config('{MARKER}', $1, false), \
         pg_catalog.set_config('{CLOCK}', {CLOCK_NOW}, false);"
    )
}

/// Whether a message of `steps` prepares its ledger rows: several migrations applied, none
/// of which says `DEALLOCATE`.
pub(super) fn prepares_rows(steps: &[Step<'_>]) -> bool {
    steps.len() >= 2
        && steps
            .iter()
            .all(|s| s.direction == Direction::Up && !says_deallocate(s.file()))
}

pub(super) fn millis(d: Duration) -> u128 {
    // Round up: 0 would mean "no timeout" to the server.
    if d.is_zero() {
        0
    } else {
        d.as_millis().max(1)
    }
}

/// `SET [LOCAL] lock_timeout ...; SET [LOCAL] statement_timeout ...`.
pub(super) fn timeouts_sql(settings: &ApplySettings, local: bool) -> String {
    let scope = if local { "SET LOCAL" } else { "SET" };
    let mut sql = format!(
        "{scope} lock_timeout = '{}ms';",
        millis(settings.lock_timeout)
    );
    if let Some(st) = settings.statement_timeout {
        sql.push_str(&format!(" {scope} statement_timeout = '{}ms';", millis(st)));
    }
    sql
}

/// The session setting that holds when the current migration began (epoch seconds as text,
/// so reading it back does not depend on DateStyle or TimeZone). It is set when a message
/// starts and again at the end of each migration's transaction, for the next one: a message
/// carries several migrations, and `now()` is the same for all of them (the server stamps a
/// message once), so each migration's `applied_at` and `execution_time_ms` come from here.
/// A migration that ran `RESET ALL` took its clock away: its row gets the time it is written
/// and no `execution_time_ms` (omitted rather than made up).
pub(super) const CLOCK: &str = "confiture.t";
/// The clock's value now.
pub(super) const CLOCK_NOW: &str = "date_part('epoch', clock_timestamp())::text";
/// The clock as a number; NULL when a migration reset it or left something else in it (a
/// value that is not an epoch is never cast, so it cannot fail the ledger statement), and
/// NULL unless it lies between the start of the transaction and now (a migration that set it
/// to another time cannot move its row before the rows of the migrations applied ahead of it).
pub(super) const CLOCK_VALUE: &str = "(CASE WHEN current_setting('confiture.t', true) ~ '^[0-9]{1,12}(\\.[0-9]{1,9})?$' \
     AND current_setting('confiture.t', true)::float8 BETWEEN date_part('epoch', now()) \
     AND date_part('epoch', clock_timestamp()) THEN current_setting('confiture.t', true)::float8 END)";

/// Puts the session back as the connection opened it: the role and session user of the login,
/// every setting at its connection-time value (`RESET ALL` keeps what the startup packet and
/// `ALTER ROLE/DATABASE ... SET` give). Sent at the start of every message that runs migrations
/// and after every migration — in the same message, never as a round trip of its own — so that
/// each migration starts from the same session state however it is batched, and its `SET`s
/// (search_path, role, timeouts, read-only, `set_config(..., false)`) never reach the next one.
/// Transactional like any `SET`: rolled back with a failed migration's transaction.
pub const RESET_SESSION: &str = "RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL;";
/// The role half of [`RESET_SESSION`]: the ledger row is written as the connecting role.
/// After it (and the ledger statement), `RESET ALL` completes the reset.
/// The ledger statement names its table schema-qualified (the caller resolves it) and calls
/// only functions of `pg_catalog`, which every `search_path` searches first unless it names
/// `pg_catalog` itself later on.
pub(super) const RESET_ROLE: &str = "RESET SESSION AUTHORIZATION; RESET ROLE;";

/// The start of every message that runs migrations: a clean session and a started clock.
pub(super) fn start_message() -> String {
    format!("{RESET_SESSION} SELECT pg_catalog.set_config('{CLOCK}', {CLOCK_NOW}, false);")
}

/// When the migration began; without a clock, when its row is written. Never `now()`: that
/// is when the message arrived, before the migrations sent ahead of this one in it, and
/// `applied_at` is the order `down` rolls back by.
pub(super) fn started_at() -> String {
    format!("COALESCE(to_timestamp({CLOCK_VALUE}), clock_timestamp())")
}

/// Milliseconds since the migration began, measured by the server (NULL without a clock).
pub(super) fn elapsed_ms() -> String {
    format!("((date_part('epoch', clock_timestamp()) - {CLOCK_VALUE}) * 1000)::int")
}

/// The SQL that records (up) or forgets (down) the migration in the ledger, as the connecting
/// role (the migration may have run `SET ROLE`). The table is schema-qualified by the caller
/// (see [`crate::db::ledger::read_qualified`]): a migration's `search_path` does not matter.
///
/// The statement returns the step's `index` in its message and its time, measured by the
/// server (columns [`STEP_COLUMN`], [`MS_COLUMN`]): how [`super::run_steps`] learns each step's
/// duration from the message itself.
pub(super) fn ledger_sql(
    settings: &ApplySettings,
    step: &Step<'_>,
    index: usize,
    prepared: Option<u64>,
) -> String {
    let table = &settings.table;
    let m = step.migration;
    let row = match (step.direction, prepared) {
        (Direction::Up, Some(nonce)) => format!(
            "EXECUTE {}({}, {}, {}, {}, {index})",
            prepared_row(nonce),
            ledger::literal(step.ledger_version),
            ledger::literal(&m.name),
            ledger::literal(&m.up.checksum),
            ledger::literal(&format!("{}_{}_", m.name, step.ledger_version)),
        ),
        (Direction::Up, None) => format!(
            "{} RETURNING {index} AS {STEP_COLUMN}, execution_time_ms AS {MS_COLUMN}",
            ledger::insert_applied_at_sql(
                table,
                step.ledger_version,
                &m.name,
                &m.up.checksum,
                &started_at(),
                &elapsed_ms(),
            )
        ),
        (Direction::Down, _) => format!(
            "{} RETURNING {index} AS {STEP_COLUMN}, {} AS {MS_COLUMN}",
            ledger::delete_sql(table, step.ledger_version),
            elapsed_ms()
        ),
    };
    // The migration's own timeouts must not bound the row (a `SET statement_timeout = '1ms'`
    // in it would fail its own ledger write): ours again, for this statement's transaction.
    let statement_timeout = settings.statement_timeout.map_or(0, millis);
    format!(
        "{RESET_ROLE} SET LOCAL lock_timeout = '{}ms'; SET LOCAL statement_timeout = '{statement_timeout}ms';\n{row}",
        millis(settings.lock_timeout)
    )
}

/// The column of a ledger statement's result naming its step in the message.
pub(super) const STEP_COLUMN: &str = "confiture_step";
/// The column of a ledger statement's result giving the step's milliseconds.
pub(super) const MS_COLUMN: &str = "confiture_ms";

/// The ledger SQL of a no-transaction step, sent on its own after its statements:
/// `execution_time_ms` is measured by us and given as a literal.
pub(super) fn record_sql(table: &TrackingTable, step: &Step<'_>, elapsed_ms: &str) -> String {
    let m = step.migration;
    match step.direction {
        Direction::Up => ledger::insert_sql(
            table,
            step.ledger_version,
            &m.name,
            &m.up.checksum,
            RowKind::Applied,
            elapsed_ms,
        ),
        Direction::Down => ledger::delete_sql(table, step.ledger_version),
    }
}

/// Appends a step's body and ledger row to a script already inside the one transaction of
/// `--single-transaction`, then puts the session back for the next step: [`RESET_SESSION`]
/// (the role before the ledger row, the settings after it) and the run's `SET LOCAL`s again
/// (`RESET ALL` takes them away too).
pub(super) fn push_step<'a>(
    script: &mut Script<'a>,
    settings: &ApplySettings,
    step: &Step<'a>,
    tag: &str,
) {
    script.push_sql(&format!(
        "SELECT pg_catalog.set_config('{CLOCK}', {CLOCK_NOW}, false);"
    ));
    let file = step.file();
    let markers = script.push_marked_body(file, tag);
    script.push_sql(&format!(
        "{};\nRESET ALL; {}",
        ledger_sql(settings, step, 0, None),
        local_settings(settings, true)
    ));
    if let Some(n) = markers {
        script.push_sql(&format!("DEALLOCATE {};", marker_name(tag, n)));
    }
}

/// The `SET LOCAL`s of a migration's transaction.
pub(super) fn local_settings(settings: &ApplySettings, synchronous_commit: bool) -> String {
    let mut sql = timeouts_sql(settings, true);
    if !synchronous_commit {
        sql.push_str(" SET LOCAL synchronous_commit = off;");
    }
    sql
}

pub(super) fn begin_sql(settings: &ApplySettings, synchronous_commit: bool) -> String {
    format!("BEGIN; {}", local_settings(settings, synchronous_commit))
}

/// Appends one step as its own transaction: `BEGIN`, its `SET LOCAL`s, the body, the ledger
/// row (as the connecting role), the rest of [`RESET_SESSION`], the session's progress `marker` with the
/// next migration's clock, `COMMIT`. Nothing but utility statements of our own and one
/// `SELECT` around the body, so that a migration costs the server little more than the bare
/// transaction.
pub(super) fn push_transaction<'a>(
    script: &mut Script<'a>,
    settings: &ApplySettings,
    step: &Step<'a>,
    index: usize,
    nonce: u64,
    prepared: bool,
) {
    script.begin_step();
    script.push_sql(&begin_sql(settings, step.synchronous_commit));
    let file = step.file();
    let marker = format!("{nonce}:{index}");
    let markers = script.push_marked_body(file, &format!("{nonce}_{index}"));
    // The last statement marker goes once the transaction is over (committed, or not: then
    // it tells that every statement completed).
    let deallocate = markers.map_or_else(String::new, |n| {
        format!(
            "\nDEALLOCATE {};",
            marker_name(&format!("{nonce}_{index}"), n)
        )
    });
    // The role is reset before the ledger row (written as the connecting role), every setting
    // after it (the row reads its clock from one). `synchronous_commit` must hold for the
    // COMMIT, so it is set again.
    // The marker is session-level and set last, so it survives COMMIT and is undone by an
    // abort: after a failure it names the last transaction of the message that committed.
    let sync = if step.synchronous_commit {
        ""
    } else {
        " SET LOCAL synchronous_commit = off;"
    };
    let next = if prepared {
        format!("EXECUTE {}_next('{marker}');", prepared_row(nonce))
    } else {
        format!(
            "SELECT pg_catalog.set_config('{MARKER}', '{marker}', false), \
             pg_catalog.set_config('{CLOCK}', {CLOCK_NOW}, false);"
        )
    };
    script.push_sql(&format!(
        "{};\nRESET ALL;{sync}\n{next}\nCOMMIT;{deallocate}",
        ledger_sql(settings, step, index, prepared.then_some(nonce))
    ));
}

/// The session setting each transaction of a message writes its `<nonce>:<index>` to.
pub(super) const MARKER: &str = "confiture.step";

/// Makes markers unique per message, so that a value left by an earlier message (or an earlier
/// command on the same session) is never taken for progress of this one.
pub(super) static NONCE: AtomicU64 = AtomicU64::new(1);

/// A message carrying consecutive transactional steps, each its own transaction.
pub(super) struct Batch<'a> {
    pub script: Script<'a>,
    pub nonce: u64,
}

pub(super) fn batch<'a>(settings: &ApplySettings, steps: &[Step<'a>]) -> Batch<'a> {
    let nonce = NONCE.fetch_add(1, Ordering::Relaxed);
    let mut script = Script::new();
    let size: usize = steps
        .iter()
        .map(|s| s.file().text.len() + STEP_OVERHEAD)
        .sum();
    script.reserve(size);
    script.push_sql(&start_message());
    let prepared = prepares_rows(steps);
    if prepared {
        script.push_sql(&prepare_rows_sql(&settings.table, nonce));
    }
    for (i, step) in steps.iter().enumerate() {
        push_transaction(&mut script, settings, step, i, nonce, prepared);
    }
    if prepared {
        let row = prepared_row(nonce);
        script.push_sql(&format!("DEALLOCATE {row}; DEALLOCATE {row}_next;"));
    }
    Batch { script, nonce }
}

impl Batch<'_> {
    /// How many of the message's transactions committed, given the marker read after it failed.
    pub fn committed(&self, marker: Option<&str>) -> usize {
        marker
            .and_then(|m| m.split_once(':'))
            .filter(|(nonce, _)| nonce.parse() == Ok(self.nonce))
            .and_then(|(_, index)| index.parse::<usize>().ok())
            .map_or(0, |index| index + 1)
    }
}

/// Roughly what [`push_transaction`] adds to a body, for [`super::BatchLimits::max_bytes`].
pub(super) const STEP_OVERHEAD: usize = 600;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_file as sql_file;
    use super::*;
    use crate::files::Migration;

    #[test]
    fn a_trailing_comment_cannot_swallow_the_ledger_row() {
        let file = sql_file("CREATE TABLE a (); -- no newline at end");
        let migration = Migration {
            version: 3,
            version_text: "003".into(),
            name: "x".into(),
            up: file.clone(),
            down: file,
        };
        let settings = ApplySettings {
            table: TrackingTable::default(),
            lock_timeout: Duration::from_millis(1500),
            statement_timeout: Some(Duration::from_micros(10)),
            lock_retries: 3,
        };
        let step = Step::up(&migration, false);
        let text = batch(&settings, std::slice::from_ref(&step))
            .script
            .text()
            .to_string();
        assert!(
            text.contains(
                "-- no newline at end\n;\nRESET SESSION AUTHORIZATION; RESET ROLE; \
                 SET LOCAL lock_timeout = '1500ms'; SET LOCAL statement_timeout = '1ms';\n\
                 INSERT INTO \"tb_confiture\""
            ),
            "{text}"
        );
        assert!(text.starts_with(&start_message()), "{text}");
        assert!(text.contains("\nBEGIN; SET LOCAL lock_timeout = '1500ms'; SET LOCAL statement_timeout = '1ms'; SET LOCAL synchronous_commit = off;\n"), "{text}");
        assert!(text.trim_end().ends_with("COMMIT;"), "{text}");
        let sync = Step {
            synchronous_commit: true,
            ..step
        };
        assert!(!batch(&settings, std::slice::from_ref(&sync))
            .script
            .text()
            .contains("synchronous_commit"));
    }
}
