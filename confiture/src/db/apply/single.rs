//! `up --single-transaction`: every migration of the run in one transaction.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use postgres::Client;

use super::batch::rollback_and_read;
use super::decide::{Attempts, LastingEffect};
use super::failure::{
    attempts_detail, cancelled, catalog_locked, connection_lost, copy_refusal, ended_by,
    interrupted, is_lock_contention, ledger_lock_holders, ledger_locked, lock_released,
    lock_timed_out, marked_failure, own_lock_wait, own_statement_lock_holders, reading_changed,
    release_locks_after_failure, server_details, sql_failure, stopped, with_interrupted_help,
};
use super::retry_backoff;
use super::script::SendError;
use super::sql::{begin_sql, push_step, release_advisory_locks, NONCE};
use super::{ApplySettings, OnRetry, Script, Step, StepFailure};
use crate::db::is_connection_lost;
use crate::db::notices::{Collector, Notice};
use crate::error::{Error, ErrorKind};
use crate::files::TransactionMode;

/// The first step that cannot run inside one transaction with the others (a file marked
/// `no-transaction`), as the failure `run_in_one_transaction` returns for it. Callers check
/// before writing anything, so that the refusal leaves the database as it was.
pub fn single_transaction_refusal(steps: &[Step<'_>]) -> Option<(usize, StepFailure)> {
    let (i, step) = steps
        .iter()
        .enumerate()
        .find(|(_, s)| s.file().mode == TransactionMode::NoTransaction)?;
    let error = Error::usage(format!(
        "--single-transaction cannot include migration {}: {} runs without a transaction",
        step.migration.id(),
        crate::display::path_text(&step.file().path)
    ))
    // `up` replaces it with the commands of its plan (`plan::single_transaction_help`).
    .with_help("apply it on its own, without --single-transaction, or drop --single-transaction");
    Some((i, StepFailure::of(error)))
}

/// Runs every step in one transaction (`up --single-transaction`): all are recorded, or none.
/// Each step is its own message inside the transaction, so a failure names its migration.
/// `on_step(i, None)` announces step `i`, `on_step(i, Some(duration))` reports it done (not yet
/// committed); `on_notice(steps, notice)` passes on what the server said while step `i` ran
/// (`steps`: `i..i + 1`): the first [`crate::db::notices::KEPT_PER_SEVERITY`] of each severity
/// of the run, then, at its end, one per severity that overflowed saying how many more came
/// (`steps`: those they came from). On failure, returns the index of the failing step, or
/// `steps.len()` when the run's `COMMIT` failed (a deferred constraint: of no one step).
pub fn run_in_one_transaction(
    client: &mut Client,
    settings: &ApplySettings,
    steps: &[Step<'_>],
    on_retry: &mut OnRetry<'_>,
    on_step: &mut dyn FnMut(usize, Option<Duration>),
    on_notice: &mut dyn FnMut(Range<usize>, Notice),
) -> Result<(), (usize, StepFailure)> {
    let started = Instant::now();
    let mut notices = Collector::new();
    let mut dropped_in: Option<Range<usize>> = None;
    let mut dropped_before = 0;
    let mut said = |i: usize, notices: &mut Collector| {
        for notice in notices.take() {
            on_notice(i..i + 1, notice);
        }
        if notices.dropped() > dropped_before {
            dropped_before = notices.dropped();
            let start = dropped_in.as_ref().map_or(i, |r| r.start);
            dropped_in = Some(start..i + 1);
        }
    };
    let mut idle = None;
    let ran = one_transaction(
        client,
        settings,
        steps,
        on_retry,
        on_step,
        &mut notices,
        &mut said,
        &mut idle,
    );
    if let Some(from) = dropped_in {
        for notice in notices.into_dropped() {
            on_notice(from.clone(), notice);
        }
    }
    let ran = ran.map_err(|(i, failure)| {
        // The run's COMMIT ([`commit_failure`]): no migration of its own to check.
        if i == steps.len() {
            return (i, failure);
        }
        let failure = cancelled(client, settings, &steps[i], failure, started.elapsed());
        let failure = lock_timed_out(client, settings, &steps[i], failure);
        release_locks_after_failure(client, &steps[i]);
        let failure = lock_released(client, settings, &steps[i], failure, true);
        if settings.stopped() {
            let failure = interrupted(&steps[i], failure);
            return (i, with_interrupted_help(&steps[i], failure));
        }
        (i, failure)
    });
    // The idle timeouts a wait before a retry turned off came back with the run's transaction
    // when it committed; rolled back with it, they come back now that the run is over, after
    // the failure's own reads (`db::IdleRestore`).
    if let (Err(_), Some(restore)) = (&ran, idle.take()) {
        let _ = restore.now(client);
    }
    ran
}

/// [`run_in_one_transaction`]'s attempts. `idle`: the idle timeouts a wait before a retry
/// turned off, given back by every attempt's first message (`BEGIN`'s), still pending until
/// the run's transaction commits (they are rolled back with it).
#[allow(clippy::too_many_arguments)]
fn one_transaction(
    client: &mut Client,
    settings: &ApplySettings,
    steps: &[Step<'_>],
    on_retry: &mut OnRetry<'_>,
    on_step: &mut dyn FnMut(usize, Option<Duration>),
    notices: &mut Collector,
    said: &mut dyn FnMut(usize, &mut Collector),
    idle: &mut Option<crate::db::IdleRestore>,
) -> Result<(), (usize, StepFailure)> {
    if let Some(refusal) = single_transaction_refusal(steps).or_else(|| copy_refusal(steps)) {
        return Err(refusal);
    }
    let (Some(first), Some(last)) = (steps.first().copied(), steps.last().copied()) else {
        return Ok(());
    };
    let mut backoff = retry_backoff();
    let mut attempt = 1;
    'attempt: loop {
        // The idle timeouts come back with the retry's first message, never in a round trip
        // of their own before it (`db::IdleRestore`).
        let begin = crate::db::IdleRestore::starting(idle.as_ref(), &begin_sql(settings));
        if let Err(e) = client.batch_execute(&begin) {
            return Err((0, connection_lost(settings, &first, e)));
        }
        let nonce = NONCE.fetch_add(1, Ordering::Relaxed);
        for (i, step) in steps.iter().enumerate() {
            on_step(i, None);
            let start = Instant::now();
            let mut script = Script::new();
            let tag = format!("{nonce}_{i}");
            push_step(&mut script, settings, step, &tag);
            // Its rows are discarded: the duration is ours, the step's message alone.
            let sent = notices.collect(|| settings.send(|| script.send_discarding_rows(client)));
            // The server's word that it ended the session is the reason of the lost
            // connection, not a migration's notice.
            let ended = match &sent {
                Some(Err(SendError::Driver(e))) if is_connection_lost(e) => notices.session_end(),
                _ => None,
            };
            said(i, notices);
            let Some(sent) = sent else {
                return Err((i, stopped_in_one_transaction(client, step)));
            };
            let e = match sent {
                Ok(()) => {
                    on_step(i, Some(start.elapsed()));
                    continue;
                }
                Err(SendError::Driver(e)) => e,
                Err(SendError::ReadingChanged(changed)) => {
                    let _ = client.batch_execute("ROLLBACK");
                    return Err((i, reading_changed(settings, step, changed, true)));
                }
            };
            if is_connection_lost(&e) {
                return Err((i, ended_by(connection_lost(settings, step, e), ended)));
            }
            let left = match rollback_and_read(client, settings) {
                Ok(left) => left,
                Err(lost) => return Err((i, connection_lost(settings, step, lost))),
            };
            let ledger_holders = ledger_lock_holders(client, settings, step, &e);
            // One of our own statements around the migration waited the command's lock wait
            // for a lock on a catalog (`own_lock_wait`): not the migration's contention,
            // never retried as such. With the read after the failure given up (behind that
            // lock), its holders are no longer asked.
            let own_wait = match (&left.gave_up, ledger_holders.is_empty()) {
                (Some(_), _) => own_lock_wait(&script, &e).map(|_| Vec::new()),
                (None, true) => own_statement_lock_holders(client, &script, &e),
                (None, false) => None,
            };
            // The run's decision of what is retried, as a run of one transaction per
            // migration's: only a lock wait of a migration's own, in a session still used.
            let contention = is_lock_contention(&e)
                && ledger_holders.is_empty()
                && own_wait.is_none()
                && left.gave_up.is_none();
            // Retried, the whole run would run again up to here: every migration's effects a
            // rollback did not undo.
            let lasting = || LastingEffect::in_steps(&steps[..=i]);
            let Some(attempts) =
                Attempts::after(attempt, contention, lasting, settings.lock_retries)
            else {
                let delay = backoff.next_delay();
                on_retry(attempt, delay);
                // Idle, and the server must not end the session for it.
                match crate::db::idle_wait(client, delay, &|| settings.stopped()) {
                    Ok(restore) => *idle = Some(restore),
                    Err(lost) => return Err((i, connection_lost(settings, step, lost))),
                }
                attempt += 1;
                continue 'attempt;
            };
            let mut failure = marked_failure(
                client,
                settings,
                step,
                &script,
                None,
                e,
                &left.statements,
                &tag,
            );
            if let Some(holders) = own_wait {
                failure = catalog_locked(settings, step, failure, holders);
            } else if !ledger_holders.is_empty() {
                failure = ledger_locked(settings, step, failure, ledger_holders, false);
            }
            if let Some(detail) = attempts_detail(settings, &attempts) {
                failure.error = failure.error.with_detail(detail);
            }
            failure.error = failure.error.with_detail(
                "the whole run was one transaction: it was rolled back and nothing is recorded",
            );
            if let Some(gave_up) = &left.gave_up {
                failure.error = failure.error.with_detail(gave_up.detail(settings));
            }
            return Err((i, failure));
        }
        // The session-level advisory locks a migration kept go once the transaction's own
        // are released with it (`release_advisory_locks`); one statement for the run.
        let release = steps
            .iter()
            .map(|s| release_advisory_locks(s.file()))
            .find(|sql| !sql.is_empty())
            .unwrap_or_default();
        // A message of the run: the migrations' deferred constraints and constraint triggers
        // run here, and may wait for another session's lock (a foreign key's referenced row
        // locked `FOR UPDATE`): named while it waits, cancelled by a stop, which rolls the
        // whole run back.
        let commit = format!("COMMIT;{release}");
        let Some(committed) = settings.send(|| client.batch_execute(&commit)) else {
            let mut failure = stopped_in_one_transaction(client, &last);
            failure.error.message = "interrupted before the run's COMMIT".to_string();
            return Err((steps.len() - 1, failure));
        };
        return match committed {
            Ok(()) => Ok(()),
            Err(e) => {
                let i = steps.len() - 1;
                if is_connection_lost(&e) {
                    Err((i, connection_lost(settings, &last, e)))
                } else {
                    let _ = client.batch_execute("ROLLBACK");
                    if !release.is_empty() {
                        let _ = client.batch_execute(&release);
                    }
                    if settings.stopped() {
                        // Cancelled while its checks waited: rolled back, nothing recorded.
                        let mut failure = stopped_in_one_transaction(client, &last);
                        failure.error.message = "interrupted during the run's COMMIT".to_string();
                        let cause = crate::db::cause_text(&e);
                        failure.error = failure.error.with_source_shown(e, cause);
                        return Err((i, failure));
                    }
                    if steps.len() > 1 {
                        return Err((steps.len(), commit_failure(steps, e)));
                    }
                    // One migration: the constraint is its own.
                    let mut f = sql_failure(settings, &last, &Script::new(), None, e, None);
                    f.error = f
                        .error
                        .with_detail("COMMIT failed (a deferred constraint?): nothing is recorded");
                    Err((i, f))
                }
            }
        };
    }
}

/// The `COMMIT` of a run of several migrations failed: a deferred constraint (or constraint
/// trigger) checked there, of any of the migrations — an `INITIALLY DEFERRED` foreign key whose row an earlier one wrote
/// —, so it is blamed on none: the last one, whose file it named before, is as likely innocent.
/// The help says how to learn which one: without `--single-transaction` each migration's own
/// `COMMIT` checks it, or the migrations that write the table the server named.
fn commit_failure(steps: &[Step<'_>], e: postgres::Error) -> StepFailure {
    let ids = match (steps.first(), steps.last()) {
        (Some(first), Some(last)) if steps.len() > 1 => {
            format!("{} .. {}", first.migration.id(), last.migration.id())
        }
        (Some(only), _) => only.migration.id(),
        _ => String::new(),
    };
    let mut error = Error::new(
        ErrorKind::MigrationFailed,
        format!(
            "the run's COMMIT failed on a deferred constraint of one of its migrations ({ids})"
        ),
    );
    let table = e
        .as_db_error()
        .and_then(|db| db.table())
        .map(str::to_string);
    if let Some(db) = e.as_db_error() {
        error.details = server_details(db);
    }
    error = error.with_detail(
        "the whole run was one transaction: it was rolled back and nothing is recorded",
    );
    let mut help = "run it again without --single-transaction to learn which migration: each \
         then commits on its own (those before it stay applied) and the one whose deferred \
         constraint fails is named"
        .to_string();
    if let Some(table) = table {
        help.push_str(&format!(
            "; or look at the migrations of this run that write table \"{}\"",
            crate::display::escape(&table)
        ));
    }
    let server = crate::error::ServerError::of(&e);
    let cause = e.as_db_error().map(|db| db.message().to_string());
    let error = match cause {
        Some(cause) => error.with_source_shown(e, cause),
        None => error.with_source(e),
    };
    StepFailure {
        error: error.with_help(help),
        location: None,
        server,
        unknown_fate: 0,
        blames_file: false,
        dropped_own_statements: false,
    }
}

/// The run was stopped before `step` was sent (or before the `COMMIT`): the one transaction is
/// rolled back, and nothing is recorded.
fn stopped_in_one_transaction(client: &mut Client, step: &Step<'_>) -> StepFailure {
    let mut failure = stopped(step, None);
    let _ = client.batch_execute("ROLLBACK");
    failure.error = failure.error.with_detail(
        "the whole run was one transaction: it was rolled back and nothing is recorded",
    );
    failure
}
