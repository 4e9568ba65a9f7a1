//! The runner of [`run_steps`]: a thin loop of IO — send a message, roll back and read what a
//! failed one left — around the decisions of [`super::decide`].

use std::ops::Range;
use std::time::{Duration, Instant};

use postgres::{Client, SimpleQueryMessage};

use crate::files::TransactionMode;

use super::decide::{
    failed_attempt_time, failed_step, Cost, Decision, LastingEffect, MessageFailure, Progress,
};
use super::failure::{
    batch_connection_lost, cancelled, catalog_locked, connection_lost, copy_refusal, ended_by,
    interrupted, is_lock_contention, ledger_lock_holders, ledger_locked, lock_released,
    lock_timed_out, message_failure, own_lock_wait, own_statement_lock_holders, reading_changed,
    release_locks_after_failure, stopped, stopped_before_statements, with_interrupted_help,
};
use super::markers::is_ours;
use super::no_transaction::run_statements;
use super::script::{placed_in_message, ReadingChanged, SendError};
use super::sql::{
    batch, ledger_lock_wait_sql, Batch, MARKER, MS_COLUMN, RESET_TIMEOUTS, STEP_COLUMN,
};
use super::{
    create_tracking_table, retry_backoff, ApplySettings, BatchLimits, Direction, PendingLedger,
    Step, StepFailure, StepOutcome,
};
use crate::db::backoff::Backoff;
use crate::db::is_connection_lost;
use crate::db::notices::{session_end, Collector, Notice};
use crate::ledger;

/// What [`run_steps`] reports as it goes; the index is into its `steps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepEvent {
    /// The steps of a message about to be sent (one, or several travelling together): from
    /// now until each one's `Finished`, whether it committed is not known to the caller.
    Sent(Range<usize>),
    /// The step runs now: it is sent on its own, or first in a message. A later step of the
    /// same message is announced when the message returns, just before its `Finished`.
    Started(usize),
    /// The step hit `lock_timeout` (or a deadlock) and is sent again after `delay`; `attempt`
    /// is the one that failed (1-based).
    Retrying {
        step: usize,
        attempt: u32,
        delay: Duration,
    },
    /// The server sent `notice` (`RAISE WARNING`, ...) while the message carrying `steps` ran:
    /// one step, or, for a message of several, all of them (which one said it is not known).
    /// Sent when the message returns, before the steps' `Finished`. A run sends the first
    /// [`crate::db::notices::KEPT_PER_SEVERITY`] of each severity; at its end (success or
    /// failure), one per severity that overflowed says how many more came, its `steps` those
    /// of the messages they came in.
    Notice { steps: Range<usize>, notice: Notice },
    /// The step committed with its ledger row.
    Finished(usize, StepOutcome),
}

/// What a failed message left in the session: the batch marker (see [`MARKER`]) and our
/// prepared statements (the statement markers, see [`super::markers::STATEMENT_MARKER`], and
/// the prepared ledger rows, see [`super::sql::prepared_row`]).
pub(super) struct Left {
    pub batch: Option<String>,
    pub statements: Vec<String>,
    /// The read gave up at its bound ([`rollback_and_read`]): `batch` was read alone, or not
    /// at all (`marker_read`), and the statements are not known.
    pub gave_up: Option<GaveUp>,
}

/// [`rollback_and_read`] gave up reading what a failed message left: another session's lock
/// on a catalog its look-ups wait for, held past the command's lock wait.
pub(super) struct GaveUp {
    /// The read's own error (its lock timeout).
    pub error: postgres::Error,
    /// Whether the batch marker was read all the same (alone: its function is in the
    /// session's catalog cache): else which of the message's transactions committed is not
    /// known.
    pub marker_read: bool,
    /// Whether the session was ended ([`end_own_session`]): the prepared statements it holds
    /// are not known, and guessing (a `DEALLOCATE ALL` drops the driver's own) is not an
    /// option.
    pub session_ended: bool,
}

impl GaveUp {
    /// The detail a failure carries when the read after it gave up.
    pub(super) fn detail(&self, settings: &ApplySettings) -> String {
        let wait = crate::db::backoff::human(settings.ledger_lock_wait);
        let committed = match self.marker_read {
            true => "",
            false => {
                ", nor which of the migrations sent with it committed: the failure is named as \
                 the first's, and any of them may have raised it"
            }
        };
        let session = match self.session_ended {
            true => "the session was closed",
            false => "closing the session failed too; it is not used again by this run",
        };
        format!(
            "after this failure, what the message left in the session (the tool's prepared \
             statements{committed}) could not be read within {wait} (the command's lock wait: \
             another session holds a lock on a catalog; {}): {session}",
            crate::db::cause_text(&self.error)
        )
    }
}

/// After a failed message: rolls back the aborted transaction block (if any), puts the
/// connection's timeouts back ([`RESET_TIMEOUTS`]) and reads what the message left, in the
/// same round trip; then deallocates the statement markers left. The read looks functions up
/// in the catalogs (`pg_prepared_statement`, `string_agg`), which another session may lock
/// (`LOCK pg_catalog.pg_proc`, a `VACUUM FULL`): it waits no longer than the command's lock
/// wait ([`read_bounds`]). Past it, the marker alone is read, and the session is ended
/// ([`GaveUp`]): an `Err` is the session lost.
pub(super) fn rollback_and_read(
    client: &mut Client,
    settings: &ApplySettings,
) -> Result<Left, postgres::Error> {
    let read = client.simple_query(&format!(
        "ROLLBACK; {RESET_TIMEOUTS} {} SELECT pg_catalog.current_setting('{MARKER}', true), \
         (SELECT pg_catalog.string_agg(s.name, ' ') FROM pg_catalog.pg_prepared_statement() s \
         WHERE pg_catalog.starts_with(s.name, 'confiture_'))",
        read_bounds(settings)
    ));
    let messages = match read {
        Ok(messages) => messages,
        Err(e) if !is_connection_lost(&e) && crate::db::gave_up_explaining(&e) => {
            return Ok(gave_up_reading(client, e));
        }
        Err(e) => return Err(e),
    };
    let row = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    let batch = row.and_then(|r| r.get(0)).map(str::to_string);
    let statements: Vec<String> = row
        .and_then(|r| r.get(1))
        .map(|names| {
            names
                .split(' ')
                .filter(|name| is_ours(name))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if !statements.is_empty() {
        let sql: String = statements
            .iter()
            .map(|name| format!("DEALLOCATE {name};"))
            .collect();
        client.batch_execute(&sql)?;
    }
    Ok(Left {
        batch,
        statements,
        gave_up: None,
    })
}

/// The bounds of [`rollback_and_read`]'s read, `SET LOCAL`: the command's lock wait as its
/// `lock_timeout` ([`ledger_lock_wait_sql`]) and as its `statement_timeout`, in place of
/// [`crate::db::OWN_STATEMENT_BOUNDS`]' none.
fn read_bounds(settings: &ApplySettings) -> String {
    format!(
        "SET LOCAL statement_timeout = '{}ms'; {}",
        super::sql::millis(settings.ledger_lock_wait).max(1),
        ledger_lock_wait_sql(settings)
    )
}

/// [`rollback_and_read`] past its bound (`error`): the marker read alone (within an
/// explanation's bound), then the session ended ([`end_own_session`]).
fn gave_up_reading(client: &mut Client, error: postgres::Error) -> Left {
    // Best effort, within an explanation's bound: its function may be in the catalog's cache.
    let marker = client.simple_query(&crate::db::explaining(&format!(
        "SELECT pg_catalog.current_setting('{MARKER}', true)"
    )));
    let batch = marker.as_ref().ok().and_then(|messages| {
        messages.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
    });
    let marker_read = marker.is_ok();
    Left {
        batch,
        statements: Vec::new(),
        gave_up: Some(GaveUp {
            error,
            marker_read,
            session_ended: end_own_session(client),
        }),
    }
}

/// Ends the session of `client` from inside, without a catalog look-up (the lock in the way of
/// the read may be on `pg_proc`, where `pg_terminate_backend` is looked up): an
/// `idle_session_timeout` of a millisecond (PostgreSQL 14+), which the server enforces once
/// the session is idle, then a round trip of nothing that finds it closed. Tells whether it is
/// gone: what it holds is not known, and the run, which ends with this failure, must not
/// leave it to the next command (a `Migrator` kept, or a connection handed back by
/// `into_client`). A closed session gives the migration lock back, and the run's end does
/// not ask for it.
fn end_own_session(client: &mut Client) -> bool {
    /// Long enough for the server to see the session idle and end it.
    const IDLE: std::time::Duration = std::time::Duration::from_millis(50);
    if client
        .batch_execute("SET idle_session_timeout = '1ms'")
        .is_err()
    {
        return client.is_closed();
    }
    std::thread::sleep(IDLE);
    let _ = client.simple_query("");
    client.is_closed()
}

/// The tracking table's DDL refused or lost when it commits ([`run_steps`]), before
/// any step ran: the tracking table's error as it is (exit 5 for a refusal, as
/// [`PendingLedger::commit`] and [`create_tracking_table`] say it), never a migration's.
fn ledger_failure(error: crate::Error) -> StepFailure {
    StepFailure::of(error)
}

/// How long each step of a message that succeeded took, from the rows its ledger statements
/// returned (the server's own measure); `None` for a step whose statement returned none (a
/// migration that ran `RESET ALL` took its clock away).
pub(super) fn returned_durations(
    messages: &[SimpleQueryMessage],
    steps: usize,
) -> Vec<Option<Duration>> {
    let mut taken = vec![None; steps];
    for message in messages {
        let SimpleQueryMessage::Row(row) = message else {
            continue;
        };
        let ours = matches!(row.columns(), [step, ms] if step.name() == STEP_COLUMN && ms.name() == MS_COLUMN);
        if !ours {
            continue;
        }
        let index = row.get(0).and_then(|i| i.parse::<usize>().ok());
        let ms = row.get(1).and_then(|ms| ms.parse::<u64>().ok());
        if let (Some(slot), Some(ms)) = (index.and_then(|i| taken.get_mut(i)), ms) {
            *slot = Some(Duration::from_millis(ms));
        }
    }
    taken
}

/// How long the steps of a failed message that committed took: the `execution_time_ms` of
/// their rows (one query, only after a failure); `None` for rollbacks, whose rows are gone,
/// and when the ledger could not be read within the command's lock wait.
pub(super) fn recorded_durations(
    client: &mut Client,
    settings: &ApplySettings,
    steps: &[Step<'_>],
) -> Vec<Option<Duration>> {
    let unknown = vec![None; steps.len()];
    if steps.is_empty() || steps[0].direction == Direction::Down {
        return unknown;
    }
    let versions: Vec<String> = steps
        .iter()
        .map(|s| ledger::literal(s.ledger_version))
        .collect();
    let sql = format!(
        "SELECT version, execution_time_ms FROM {} \
         WHERE version OPERATOR(pg_catalog.=) ANY (ARRAY[{}]::pg_catalog.text[])",
        settings.table.quoted(),
        versions.join(", ")
    );
    // After a failure, for the report alone: an explanation's short bound (the failure may be
    // another session's lock on the ledger, still held), named while it waits and cancelled by
    // a stop as any message of the run; not read, the durations are unknown.
    let sql = crate::db::explaining(&sql);
    let Some(Ok(messages)) = settings.send(|| client.simple_query(&sql)) else {
        return unknown;
    };
    let measured: std::collections::HashMap<&str, u64> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some((row.get(0)?, row.get(1)?.parse().ok()?)),
            _ => None,
        })
        .collect();
    steps
        .iter()
        .map(|s| {
            measured
                .get(s.ledger_version)
                .map(|ms| Duration::from_millis(*ms))
        })
        .collect()
}

/// Runs `steps` in order, each migration with its ledger row, and stops at the first failure,
/// returning its index. Consecutive transactional migrations travel together in one message
/// (within `limits`), each still its own transaction — `BEGIN; ...; <ledger row>; COMMIT` —
/// so one round trip applies many; `synchronous_commit` is as each step says. When a message
/// fails, the server has committed the transactions before the failing one and skipped the
/// rest: a marker each transaction leaves in the session says how far it got, so the error is
/// the right migration's, and the ones after it were never attempted. A migration that hit
/// `lock_timeout` is retried from there, up to `lock_retries` times. Never leaves the session
/// inside a transaction. What to send next is decided by [`Progress`].
///
/// `ledger`: the tracking table's DDL, sent and not committed (`up` on a fresh database,
/// [`PendingLedger`]), which commits at the end of the run's first message that prepares
/// ledger rows, after its `PREPARE`s, without a round trip of its own
/// (otherwise, alone, before the first step). When that message fails, the DDL is rolled back
/// with it and sent again, committed, in a message of its own (a refusal then is the
/// tracking table's, exit 5), and the rows are written inline as after any failed `PREPARE`.
/// A refused `COMMIT` leaves nothing written: the migrations come after it.
pub fn run_steps(
    client: &mut Client,
    settings: &ApplySettings,
    steps: &[Step<'_>],
    limits: BatchLimits,
    ledger: Option<PendingLedger>,
    on_event: &mut dyn FnMut(StepEvent),
) -> Result<(), (usize, StepFailure)> {
    if let Some(refusal) = copy_refusal(steps) {
        if let Some(ledger) = ledger {
            ledger
                .commit(client)
                .map_err(|error| (refusal.0, ledger_failure(error)))?;
        }
        return Err(refusal);
    }
    let mut runner = Runner {
        client,
        settings,
        ledger,
        steps,
        costs: steps.iter().map(Cost::of).collect(),
        progress: Progress::new(),
        backoff: retry_backoff(),
        events: Events {
            on_event,
            announced: None,
        },
        notices: Collector::new(),
        dropped_in: None,
        dropped_before: 0,
        idle: None,
    };
    let ran = runner.run(limits);
    runner.said_dropped();
    // The idle timeouts a wait before a retry turned off, when no message carrying them
    // committed (the run stopped or failed after the wait): back now that the run is over, after
    // the failure's own reads (`db::IdleRestore`).
    if let Some(restore) = runner.idle.take() {
        let _ = restore.now(runner.client);
    }
    ran
}

impl Runner<'_, '_> {
    /// The loop of [`run_steps`].
    fn run(&mut self, limits: BatchLimits) -> Result<(), (usize, StepFailure)> {
        let (steps, settings) = (self.steps, self.settings);
        while self.progress.next < steps.len() {
            let sent = Instant::now();
            if let Err((i, failure)) = self.send_next(limits) {
                // A no-transaction step's statement says what cancelled it itself, before what
                // its statements committed is added (`no_transaction`).
                let failure = match steps[i].file().mode {
                    TransactionMode::NoTransaction => failure,
                    TransactionMode::Transaction => {
                        let failure =
                            cancelled(self.client, settings, &steps[i], failure, sent.elapsed());
                        lock_timed_out(self.client, settings, &steps[i], failure)
                    }
                };
                release_locks_after_failure(self.client, &steps[i]);
                let mut failure = lock_released(self.client, settings, &steps[i], failure, false);
                if steps[i].file().mode == TransactionMode::NoTransaction {
                    // The explanation's bounds the failure left on the session
                    // (`no_transaction::statement_failed`) give way to the connection's.
                    let _ = self.client.batch_execute(RESET_TIMEOUTS);
                }
                if settings.stopped() {
                    failure = with_interrupted_help(&steps[i], interrupted(&steps[i], failure));
                }
                return Err((i, failure));
            }
        }
        Ok(())
    }
}

/// The IO of [`run_steps`]: sends what [`Progress`] says, and tells it what happened.
struct Runner<'r, 'a> {
    client: &'r mut Client,
    settings: &'r ApplySettings,
    /// The tracking table's DDL, not committed yet: see [`run_steps`].
    ledger: Option<PendingLedger>,
    steps: &'r [Step<'a>],
    costs: Vec<Cost>,
    progress: Progress,
    backoff: Backoff,
    events: Events<'r>,
    /// What the server said during the run.
    notices: Collector,
    /// The steps of the messages whose notices were not all kept.
    dropped_in: Option<Range<usize>>,
    /// How many notices were dropped before the last message.
    dropped_before: u64,
    /// The idle timeouts the wait before a retry turned off ([`crate::db::idle_wait`]): every
    /// message sent begins with their restore until one of its transactions commits (a
    /// rollback takes the restore back with it) — never a round trip of their own before the
    /// retry, after which a stalled client left the session idle under them.
    idle: Option<crate::db::IdleRestore>,
}

impl Runner<'_, '_> {
    /// Sends the next message (or the next no-transaction step, statement by statement).
    fn send_next(&mut self, limits: BatchLimits) -> Result<(), (usize, StepFailure)> {
        let message = self.progress.next_message(&self.costs, limits);
        let first = message.start;
        if self.settings.stopped() {
            // Never leave the session inside the DDL's transaction.
            self.commit_ledger().map_err(|f| (first, f))?;
            return Err((first, stopped(&self.steps[first], None)));
        }
        self.events.emit(StepEvent::Sent(message.clone()));
        self.events.start(first);
        let prepared =
            !self.costs[first].alone && super::sql::prepares_rows(&self.steps[message.clone()]);
        if !prepared {
            self.commit_ledger().map_err(|f| (first, f))?;
        }
        if self.costs[first].alone {
            // A statement of a no-transaction migration goes alone: the idle timeouts, if a
            // wait turned them off (a retry is of a transactional migration, so never here),
            // come back before it.
            if let Some(restore) = self.idle.take() {
                restore
                    .now(self.client)
                    .map_err(|e| (first, connection_lost(self.settings, &self.steps[first], e)))?;
            }
            let mut result = run_statements(
                self.client,
                self.settings,
                &self.steps[first],
                &mut self.notices,
            );
            let mut notices = self.said(&message);
            if let Err(f) = result {
                result = Err(if f.error.driver_error().is_some_and(is_connection_lost) {
                    ended_by(f, session_end(&mut notices))
                } else {
                    f
                });
            }
            self.events.notices(&message, notices);
            let outcome = result.map_err(|f| (first, f))?;
            self.committed(vec![outcome.duration]);
            return Ok(());
        }
        let mut batch = batch(self.settings, &self.steps[message.clone()], true);
        if let Some(prepare) = &batch.prepare {
            let ledger = self.ledger.take();
            let created = ledger.as_ref().map(|ledger| ledger.table.clone());
            let sent = match ledger {
                // Prepared in the transaction that creates the table: no other session sees
                // it, nor waits for it or holds a lock on it.
                Some(ledger) => ledger.commit_after(self.client, prepare),
                // A `PREPARE` of an `INSERT` locks the tracking table (`ROW EXCLUSIVE`) when
                // the server analyses it: a message of the run, named while it waits for
                // another session's lock on the ledger, cancelled by a stop, and bounded by
                // the command's lock wait as the row itself is.
                None => {
                    let bounded = crate::db::IdleRestore::starting(
                        self.idle.as_ref(),
                        &format!(
                            "{} {} {prepare}",
                            crate::db::OWN_STATEMENT_BOUNDS,
                            super::sql::ledger_lock_wait_sql(self.settings)
                        ),
                    );
                    let client = &mut *self.client;
                    match self.settings.send(|| client.batch_execute(&bounded)) {
                        Some(sent) => sent,
                        None => return Err((first, stopped(&self.steps[first], None))),
                    }
                }
            };
            if let Err(e) = sent {
                if is_connection_lost(&e) {
                    return Err((first, connection_lost(self.settings, &self.steps[first], e)));
                }
                if self.settings.stopped() {
                    // Its wait cancelled: nothing of the message ran.
                    let _ = rollback_and_read(self.client, self.settings);
                    return Err((first, stopped_before_statements(&self.steps[first], e)));
                }
                let holders =
                    ledger_lock_holders(self.client, self.settings, &self.steps[first], &e);
                if !holders.is_empty() {
                    // Another session's lock on the ledger, held past the command's lock wait:
                    // nothing of the message ran, the command can simply run again.
                    let _ = rollback_and_read(self.client, self.settings);
                    let step = &self.steps[first];
                    let mut script = super::Script::new();
                    script.push_sql(prepare);
                    let failure = super::failure::record_failure(self.settings, step, &script, e);
                    let table = holders.table.clone();
                    let mut failure = ledger_locked(self.settings, step, failure, holders, false);
                    failure.error.message = format!(
                        "the table {table} is locked by another session: migration {} was not run",
                        step.migration.id()
                    );
                    return Err((first, failure));
                }
                // Not preparable (a ledger table of another shape, say): the rows are then
                // written inline, where a failure belongs to the migration whose row failed.
                // The ledger's DDL, if it was to commit with them, was rolled back: sent again,
                // committed, on its own.
                let _ = rollback_and_read(self.client, self.settings);
                if let Some(table) = created {
                    create_tracking_table(
                        self.client,
                        &table,
                        self.settings.scratch,
                        self.settings.ddl_bound(),
                    )
                    .map_err(|error| (first, ledger_failure(error)))?;
                }
                batch = super::sql::batch(self.settings, &self.steps[message.clone()], false);
            }
        }
        if let Some(restore) = &self.idle {
            batch.script.begin_with(&restore.sql());
        }
        let start = Instant::now();
        let client = &mut *self.client;
        // A migration that may return rows is a message of its own (see `Cost::returns_rows`),
        // whose rows are discarded as they arrive: its duration is the message's.
        let discard = self.costs[message.clone()].iter().any(|c| c.returns_rows);
        let script = &mut batch.script;
        let settings = self.settings;
        let sent = self.notices.collect(|| {
            settings.send(|| {
                if discard {
                    script.send_discarding_rows(client).map(|()| None)
                } else {
                    script.send(client).map(Some)
                }
            })
        });
        let mut notices = self.said(&message);
        // The server's word that it ended the session is the reason of the lost connection,
        // not a migration's warning.
        let ended = match &sent {
            Some(Err(SendError::Driver(e))) if is_connection_lost(e) => session_end(&mut notices),
            _ => None,
        };
        crate::migrator::reported_together(|| self.events.notices(&message, notices));
        let Some(sent) = sent else {
            return Err((first, stopped(&self.steps[first], None)));
        };
        match sent {
            Ok(Some(messages)) => {
                self.committed(returned_durations(&messages, message.len()));
                Ok(())
            }
            Ok(None) => {
                // Never a share: a message of several has no duration of ours for each.
                let one = message.len() == 1;
                self.committed(vec![one.then(|| start.elapsed()); message.len()]);
                Ok(())
            }
            Err(SendError::Driver(e)) => self
                .failed(message, &batch, e, start.elapsed())
                .map_err(|(i, f)| (i, ended_by(f, ended))),
            Err(SendError::ReadingChanged(changed)) => {
                self.reading_changed(message, &batch, changed)
            }
        }
    }

    /// What the server said while `message` ran, kept since the last message; notes `message`
    /// among those whose notices were not all kept when some were dropped meanwhile.
    fn said(&mut self, message: &Range<usize>) -> Vec<Notice> {
        let dropped = self.notices.dropped();
        if dropped > self.dropped_before {
            self.dropped_before = dropped;
            self.dropped_in = Some(match self.dropped_in.take() {
                Some(before) => before.start..message.end,
                None => message.clone(),
            });
        }
        self.notices.take()
    }

    /// At the end of the run: how many notices of each severity were not kept.
    fn said_dropped(&mut self) {
        let Some(steps) = self.dropped_in.take() else {
            return;
        };
        let dropped = std::mem::take(&mut self.notices).into_dropped();
        self.events.notices(&steps, dropped);
    }

    /// Commits the tracking table's DDL ([`run_steps`]) on its own, if it is still
    /// pending: before a first message that prepares no ledger rows, or a run stopped before
    /// its first message (as it committed before the run when it had a round trip of its own).
    fn commit_ledger(&mut self) -> Result<(), StepFailure> {
        match self.ledger.take() {
            Some(ledger) => ledger.commit(self.client).map(drop).map_err(ledger_failure),
            None => Ok(()),
        }
    }

    /// Reports the steps from the next one on as committed, one per duration.
    fn committed(&mut self, durations: Vec<Option<Duration>>) {
        let outcomes = self.progress.committed(durations);
        if !outcomes.is_empty() {
            self.backoff = retry_backoff();
            // The first transaction of the message committed, and the idle timeouts' restore
            // that began it with it.
            self.idle = None;
        }
        // What the message committed: reported together, before anything more is sent.
        crate::migrator::reported_together(|| {
            for (i, outcome) in outcomes {
                self.events.finish(i, outcome);
            }
        });
    }

    /// After a message of `message` changed how the session reads SQL ([`ReadingChanged`]):
    /// rolls back the transaction in progress, reports the steps before it as committed, and
    /// fails it.
    fn reading_changed(
        &mut self,
        message: Range<usize>,
        batch: &Batch<'_>,
        changed: ReadingChanged,
    ) -> Result<(), (usize, StepFailure)> {
        let first = message.start;
        let left = rollback_and_read(self.client, self.settings).map_err(|lost| {
            (
                first,
                connection_lost(self.settings, &self.steps[first], lost),
            )
        })?;
        let failed = failed_step(&message, batch.committed(left.batch.as_deref()));
        let committed = recorded_durations(self.client, self.settings, &self.steps[first..failed]);
        self.committed(committed);
        self.events.start(failed);
        Err((
            failed,
            reading_changed(self.settings, &self.steps[failed], changed, false),
        ))
    }

    /// After `message` failed with `e`: rolls back, reports the steps of it that committed,
    /// then narrows, retries or fails as [`Progress::after_failure`] decides.
    fn failed(
        &mut self,
        message: Range<usize>,
        batch: &Batch<'_>,
        e: postgres::Error,
        elapsed: Duration,
    ) -> Result<(), (usize, StepFailure)> {
        let first = message.start;
        if is_connection_lost(&e) {
            return Err((
                first,
                batch_connection_lost(self.settings, &self.steps[message], e),
            ));
        }
        // The failed message left an aborted transaction block open (or none, when the server
        // could not parse it): roll back, then read how far the message got.
        let left = rollback_and_read(self.client, self.settings).map_err(|lost| {
            (
                first,
                connection_lost(self.settings, &self.steps[first], lost),
            )
        })?;
        let failed = match &left.gave_up {
            // Which transactions committed is not known: from the first on, every one.
            Some(gave_up) if !gave_up.marker_read => first,
            _ => failed_step(&message, batch.committed(left.batch.as_deref())),
        };
        let committed = recorded_durations(self.client, self.settings, &self.steps[first..failed]);
        let failed_attempt = failed_attempt_time(elapsed, &committed);
        self.committed(committed);
        if let Some(gave_up) = &left.gave_up {
            // The session is ended (or not to be trusted): the failure is the message's own,
            // never run again, with what could not be read said after it.
            self.events.start(failed);
            // The read gave up behind a lock on a catalog: a lock wait of ours (placed in our
            // SQL, or nowhere) is that lock's, its holders no longer to be asked.
            let own_wait = own_lock_wait(&batch.script, &e).is_some();
            let mut failure = message_failure(
                self.client,
                self.settings,
                &self.steps[failed],
                batch,
                failed - first,
                None,
                self.progress.not_retried(),
                e,
                own_wait,
            );
            if own_wait {
                failure = catalog_locked(self.settings, &self.steps[failed], failure, Vec::new());
            }
            failure.error = failure.error.with_detail(gave_up.detail(self.settings));
            if !gave_up.marker_read {
                failure.unknown_fate = message.end - failed;
            }
            return Err((failed, failure));
        }
        // A lock on the tracking table, or on the row, in the way of the ledger row: the
        // command's lock wait is over, and running the migration again would wait for it again.
        let ledger_holders =
            ledger_lock_holders(self.client, self.settings, &self.steps[failed], &e);
        // One of our own statements around the migrations waited the command's lock wait for
        // a lock on a catalog: not the migration's contention, never retried as such.
        let own_wait = match ledger_holders.is_empty() {
            true => own_statement_lock_holders(self.client, &batch.script, &e),
            false => None,
        };
        let contention = is_lock_contention(&e) && ledger_holders.is_empty() && own_wait.is_none();
        let failure = MessageFailure {
            message: message.clone(),
            position: match e.as_db_error() {
                Some(db) if placed_in_message(db) => db.position().map(|p| batch.script.step_at(p)),
                _ => None,
            },
            contention,
            // Retried, the step that waited would run again what its rollback did not undo.
            lasting: match contention {
                true => LastingEffect::of(self.steps[failed].file()),
                false => None,
            },
        };
        match self
            .progress
            .after_failure(&failure, self.settings.lock_retries)
        {
            Decision::Narrow => Ok(()),
            Decision::Retry { step, attempt } => {
                self.events.start(step);
                let delay = self.backoff.next_delay();
                self.events.emit(StepEvent::Retrying {
                    step,
                    attempt,
                    delay,
                });
                // Idle, and the server must not end the session for it.
                let settings = self.settings;
                let restore = crate::db::idle_wait(self.client, delay, &|| settings.stopped())
                    .map_err(|lost| {
                        (
                            step,
                            connection_lost(self.settings, &self.steps[step], lost),
                        )
                    })?;
                // Back with the retry's message (`Runner::idle`).
                self.idle = Some(restore);
                self.progress.retrying(failed_attempt, delay);
                Ok(())
            }
            Decision::Fail { step, attempts } => {
                self.events.start(step);
                let failure = message_failure(
                    self.client,
                    self.settings,
                    &self.steps[step],
                    batch,
                    step - first,
                    Some(&left.statements),
                    attempts,
                    e,
                    !ledger_holders.is_empty() || own_wait.is_some(),
                );
                let failure = match own_wait {
                    Some(holders) => {
                        catalog_locked(self.settings, &self.steps[step], failure, holders)
                    }
                    None if ledger_holders.is_empty() => failure,
                    None => ledger_locked(
                        self.settings,
                        &self.steps[step],
                        failure,
                        ledger_holders,
                        false,
                    ),
                };
                Err((step, failure))
            }
        }
    }
}

/// [`StepEvent`]s, each step announced once: `Started` before its `Finished`.
struct Events<'r> {
    on_event: &'r mut dyn FnMut(StepEvent),
    /// The step whose `Started` was sent and whose `Finished` was not.
    announced: Option<usize>,
}

impl Events<'_> {
    fn emit(&mut self, event: StepEvent) {
        (self.on_event)(event);
    }

    fn notices(&mut self, steps: &Range<usize>, notices: Vec<Notice>) {
        for notice in notices {
            self.emit(StepEvent::Notice {
                steps: steps.clone(),
                notice,
            });
        }
    }

    fn start(&mut self, step: usize) {
        if self.announced != Some(step) {
            self.emit(StepEvent::Started(step));
            self.announced = Some(step);
        }
    }

    fn finish(&mut self, step: usize, outcome: StepOutcome) {
        self.start(step);
        self.announced = None;
        self.emit(StepEvent::Finished(step, outcome));
    }
}
