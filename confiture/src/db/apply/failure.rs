//! What a failed step says: the error (its kind decides the exit code), where in the file, and
//! what the ledger holds now. One function per way of failing.

use crate::hint::AGAIN;
use std::time::Duration;

use postgres::error::{DbError, SqlState};
use postgres::Client;

use super::decide::Attempts;
use super::markers::{dropped_by, failed_statement, reached, Dropped, Reached, Statement};
use super::plpgsql;
use super::script::{placed_in_message, ReadingChanged, Script};
use super::sql::{release_advisory_locks, Batch};
use super::{ApplySettings, Direction, Location, RunTimeout, Step, StepFailure};
use crate::db::backoff::human;
use crate::error::{Error, ErrorKind};
use crate::files::{SqlFile, StatementSpan, TransactionMode};
use crate::ledger::{AlteredLedger, LedgerCheck, MovedLedger, TrackingTable};

/// The first step with a `COPY` through the client (`FROM STDIN`, `TO STDOUT`, in any form),
/// as a refusal (exit 5) before anything runs. `lint` refuses them first (C104); the engine,
/// a public API, refuses them too: the protocol would break mid-message (the server waiting
/// for rows, or sending rows nobody reads), which looks like a lost connection and may follow
/// a commit.
pub(super) fn copy_refusal(steps: &[Step<'_>]) -> Option<(usize, StepFailure)> {
    steps.iter().enumerate().find_map(|(i, step)| {
        let file = step.file();
        let stmt = file.statements.iter().find(|s| s.copy_stream.is_some())?;
        let error = Error::invalid(format!(
            "{}:{}: COPY through the client (FROM STDIN / TO STDOUT) cannot run in a migration: \
             confiture sends SQL only",
            crate::display::path_text(&file.path),
            stmt.line
        ))
        .with_help(
            "use INSERT ... VALUES, or COPY from/to a file on the server (`cargo confiture lint` \
             explains C104); nothing was run",
        );
        Some((
            i,
            StepFailure {
                error,
                location: Some(statement_start(file, stmt)),
                server: None,
                unknown_fate: 0,
                blames_file: false,
                dropped_own_statements: false,
            },
        ))
    })
}

/// Where statement `span` of `file` starts (its first token), as rustc counts columns.
pub(super) fn statement_start(file: &SqlFile, span: &StatementSpan) -> Location {
    let (_, column) = crate::text::line_col(&file.text, span.range.start);
    Location {
        path: file.path.clone(),
        line: span.line,
        column,
    }
}

/// The connection dropped while a message was running: its first step may not have committed,
/// and neither may the others it carried.
pub(super) fn batch_connection_lost(
    settings: &ApplySettings,
    steps: &[Step<'_>],
    e: postgres::Error,
) -> StepFailure {
    let mut failure = connection_lost(settings, &steps[0], e);
    failure.unknown_fate = steps.len();
    if let (true, Some(last)) = (steps.len() > 1, steps.last()) {
        // Which of them committed is unknown: name them all (the first few and the last), not
        // just the first, which may well have committed.
        let mut names: Vec<String> = steps.iter().take(3).map(|s| s.migration.id()).collect();
        if steps.len() > 4 {
            names.push("…".to_string());
        }
        if steps.len() > 3 {
            names.push(last.migration.id());
        }
        let (doing, recorded) = match steps[0].direction {
            Direction::Up => (
                "applying",
                "committed and recorded, each with its ledger row",
            ),
            Direction::Down => (
                "rolling back",
                "committed, each with its ledger row deleted",
            ),
        };
        failure.error.message = format!(
            "connection lost while {doing} {} migrations sent in one message ({})",
            steps.len(),
            names.join(", ")
        );
        // connection_lost's detail speaks of one migration: replaced by one for the message.
        failure.error.details.clear();
        failure.error = failure.error.with_detail(format!(
            "those the server finished before the connection dropped (from {} on, in order) are \
             {recorded} (a server crash before their commits reached its disk may have lost \
             them); the one it was running did not commit",
            steps[0].migration.id()
        ));
    }
    failure
}

/// `failure` of a run whose session no longer holds its migration lock
/// ([`ApplySettings::held_lock`]): the step released it (`pg_advisory_unlock` of its key,
/// `pg_advisory_unlock_all()`, `DISCARD ALL`, perhaps in a function it calls) and the check before its `COMMIT` stopped
/// it, or it failed on its own after releasing it. Either way the lock is what the user must
/// hear about: another run may overlap from now on. The step's own failure stays its source.
/// `whole_run`: the step ran inside `--single-transaction`'s one transaction. A failure whose
/// connection is gone, or a session whose lock cannot be read, is returned as it was.
pub(super) fn lock_released(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    mut failure: StepFailure,
    whole_run: bool,
) -> StepFailure {
    let Some(held) = settings.held_lock else {
        return failure;
    };
    if client.is_closed() || failure.unknown_fate > 0 {
        return failure;
    }
    match held.is_held(client) {
        Ok(false) => {}
        Ok(true) => return failure,
        Err(e) => {
            left_out(&mut failure, e.driver_error());
            return failure;
        }
    }
    let file = step.file();
    let fate = match (whole_run, file.mode, step.direction) {
        (true, ..) => {
            "the whole run was one transaction: it was rolled back and nothing is recorded"
                .to_string()
        }
        (false, TransactionMode::NoTransaction, direction) => format!(
            "it runs without a transaction: the statements it completed stay committed, and {}",
            ledger_state(settings, direction)
        ),
        (false, TransactionMode::Transaction, Direction::Up) => {
            "its transaction was rolled back: it is not recorded".to_string()
        }
        (false, TransactionMode::Transaction, Direction::Down) => {
            down_rolled_back(settings).to_string()
        }
    };
    let doing = match step.direction {
        Direction::Up => "migration",
        Direction::Down => "rolling back migration",
    };
    let mut error = Error::new(
        ErrorKind::MigrationFailed,
        format!(
            "{doing} {} released the migration lock (an advisory unlock or a session reset, \
             perhaps in a function it calls)",
            step.migration.id()
        ),
    )
    .with_detail(fate)
    .with_detail(
        "the run stopped there: without the lock, another run (cargo confiture's or \
         confiture's) could apply the same migrations at the same time",
    )
    // `hint::AGAIN`, not `migrate up`/`down`: on the scratch database of `verify`
    // and `drift` (which it names, and which is dropped with what it committed), they would
    // name the real one.
    .with_help(format!(
        "remove that call from {} (or from the function it calls){}, then {}",
        crate::display::path_text(&file.path),
        match (whole_run, file.mode, settings.scratch) {
            (false, TransactionMode::NoTransaction, None) => {
                "; what it committed stays: undo it, or make its statements safe to run twice"
            }
            _ => "",
        },
        settings.run_again(),
    ));
    // The migration's own error, when it failed on its own after releasing the lock, is said
    // too, with its place; the check's own failure would only repeat this message.
    let own = failure
        .server
        .filter(|server| server.sqlstate != crate::db::lock::CHECK_SQLSTATE);
    let location = own.as_ref().and(failure.location);
    if let Some(server) = &own {
        let at = location
            .as_ref()
            .map(|l| {
                format!(
                    " at {}:{}:{}",
                    crate::display::path_text(&l.path),
                    l.line,
                    l.column
                )
            })
            .unwrap_or_default();
        error.details.insert(
            0,
            format!(
                "its own SQL failed too{at}: {} (SQLSTATE {})",
                server.message, server.sqlstate
            ),
        );
    }
    error.set_source(failure.error);
    StepFailure {
        error,
        location,
        server: own,
        unknown_fate: 0,
        blames_file: false,
        dropped_own_statements: false,
    }
}

/// The message of a run stopped from outside ([`super::Stop`]) before it sent `step` — or,
/// `statement` (0-based), before that statement of a no-transaction `step`: nothing of it ran.
pub(super) fn stopped(step: &Step<'_>, statement: Option<usize>) -> StepFailure {
    let id = step.migration.id();
    let what = match (statement, step.direction) {
        (None, Direction::Up) => format!("before migration {id} started"),
        (None, Direction::Down) => format!("before migration {id} was rolled back"),
        (Some(k), _) => format!("before statement {} of migration {id} ran", k + 1),
    };
    StepFailure {
        error: Error::new(ErrorKind::Interrupted, format!("interrupted {what}")),
        location: None,
        server: None,
        unknown_fate: 0,
        blames_file: false,
        dropped_own_statements: false,
    }
}

/// `step` stopped from outside while a message of ours before any of it ran waited (a
/// no-transaction migration's trial row or start marker, a message's prepared ledger rows):
/// cancelled (`e`), nothing of the migration ran.
pub(super) fn stopped_before_statements(step: &Step<'_>, e: postgres::Error) -> StepFailure {
    let mut failure = stopped(step, None);
    let cause = crate::db::cause_text(&e);
    failure.error = failure.error.with_source_shown(e, cause);
    failure
}

/// `step` changed how the session reads SQL ([`ReadingChanged`]), found before the next
/// message of it was sent: its transaction (or, `whole_run`, the run's one transaction) is
/// rolled back by the caller, and the run stops (exit 4). The change is the source.
pub(super) fn reading_changed(
    settings: &ApplySettings,
    step: &Step<'_>,
    changed: ReadingChanged,
    whole_run: bool,
) -> StepFailure {
    let doing = match step.direction {
        Direction::Up => "migration",
        Direction::Down => "rolling back migration",
    };
    let file = step.file();
    // A no-transaction migration's caller says which statements stay committed.
    let fate = match (whole_run, file.mode, step.direction) {
        (true, ..) => {
            Some("the whole run was one transaction: it was rolled back and nothing is recorded")
        }
        (false, TransactionMode::NoTransaction, _) => None,
        (false, _, Direction::Up) => Some("its transaction was rolled back: it is not recorded"),
        (false, _, Direction::Down) => Some(down_rolled_back(settings)),
    };
    let setting = changed.setting.name();
    // Placed at the statement that did it, when the message before carried no other
    // ([`ReadingChanged::statement`]); else the error says which it may be, and why.
    let location = changed
        .statement()
        .filter(|at| at.path == file.path)
        .cloned();
    let mut error = Error::new(
        ErrorKind::MigrationFailed,
        format!(
            "{doing} {} changed the session's {setting} to {}",
            step.migration.id(),
            crate::display::escape(&changed.value)
        ),
    )
    .with_detail(format!(
        "{}; nothing more of it was sent",
        changed.setting.consequence()
    ))
    .with_help(format!(
        "remove what sets {setting} from {} (`UPDATE pg_settings`, `set_config`, or a \
         function it calls), then run {AGAIN}",
        crate::display::path_text(&file.path)
    ))
    .with_source(changed);
    if let Some(fate) = fate {
        error = error.with_detail(fate);
    }
    StepFailure {
        error,
        location,
        server: None,
        unknown_fate: 0,
        blames_file: true,
        dropped_own_statements: false,
    }
}

/// A failure of a run stopped from outside ([`super::Stop`]): `failure` is the cancelled
/// statement's, which becomes [`ErrorKind::Interrupted`] naming the migration and what became of
/// it. Its details (rolled back; what a no-transaction migration committed), place and server
/// error stay, and it is the source; its help (which would guess at a `statement_timeout`)
/// does not. Any other kind of failure (the connection lost meanwhile) is returned as it was.
pub(super) fn interrupted(step: &Step<'_>, failure: StepFailure) -> StepFailure {
    if failure.error.kind != ErrorKind::MigrationFailed {
        return failure;
    }
    let doing = match step.direction {
        Direction::Up => "migration",
        Direction::Down => "the rollback of migration",
    };
    let mut error = Error::new(
        ErrorKind::Interrupted,
        format!("interrupted: {doing} {} was cancelled", step.migration.id()),
    );
    // Its details say what became of it: rolled back, or (no-transaction) which statements
    // stay committed, or (`whole_run`) that nothing is recorded.
    error.details.extend(failure.error.details.iter().cloned());
    let location = failure.location.clone();
    let server = failure.server.clone();
    error.set_source(failure.error);
    StepFailure {
        error,
        location,
        server,
        unknown_fate: 0,
        blames_file: false,
        dropped_own_statements: false,
    }
}

/// `failure` of a run stopped from outside, with the help of an interrupted run, unless it
/// has one (a no-transaction migration's says what to do of what it committed).
pub(super) fn with_interrupted_help(step: &Step<'_>, mut failure: StepFailure) -> StepFailure {
    if failure.error.kind == ErrorKind::Interrupted && failure.error.help.is_none() {
        failure.error.help = Some(match step.direction {
            // The command as it was asked (its `--steps`, `--target`): a bare `migrate up`
            // would apply every pending migration. Once a part of a limited plan is applied,
            // `Migrator::up` names the `--target` that finishes it instead.
            Direction::Up => format!("run {AGAIN} to apply the migrations not applied"),
            Direction::Down => format!(
                "run {} to see what is still applied",
                crate::hint::command("migrate status")
            ),
        });
    }
    failure
}

/// What cancelled a migration's statement (SQLSTATE 57014). The server gives a
/// `statement_timeout` and a cancel request (`pg_cancel_backend` from another session) the
/// same SQLSTATE and no field but the localised message to tell them apart, so the cause is
/// decided from what we know instead: which `statement_timeout` was in force, and how long
/// the run took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CancelCause {
    /// A `statement_timeout` of `limit` was in force and the statement may have reached it
    /// (where it came from: [`BoundFrom`]).
    Timeout { limit: Duration },
    /// No `statement_timeout` could have fired: none was in force (`limit` zero), or the run
    /// ended before the one in force (`limit`) could.
    AnotherSession { limit: Duration },
    /// The migration sets `statement_timeout` itself, to a value not read here: either.
    Unknown,
}

/// Where the bound (`statement_timeout`, `lock_timeout`) a migration's statement ran under
/// came from: the one decision of which setting a timeout's help tells to raise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BoundFrom {
    /// The run's (`--statement-timeout`, `migration.statement_timeout`, and the lock's).
    Run,
    /// The session's default, with `pg_settings.source` when read: the database's, the
    /// role's, the connection's options or the server's.
    Session(Option<String>),
    /// Statement `index` of the file sets it itself (`set`), over the run's; a `RESET` gives
    /// the session's default back (its source, when read).
    File {
        index: usize,
        set: crate::files::rules::BoundSet,
        source: Option<String>,
    },
    /// The file names the setting where no statement read here shows a value (an
    /// `EXECUTE` of an expression, a function it calls).
    Unseen,
}

/// [`CancelCause`] from the `statement_timeout` in force for the migration (`None`: not
/// known, the file sets its own to a value not read), and `elapsed`, at least as
/// long as the cancelled statement ran (the server's timer starts after we send it).
pub(super) fn cancel_cause(in_force: Option<Duration>, elapsed: Duration) -> CancelCause {
    match in_force {
        None => CancelCause::Unknown,
        Some(limit) if limit.is_zero() || elapsed < limit => CancelCause::AnotherSession { limit },
        Some(limit) => CancelCause::Timeout { limit },
    }
}

/// The statement of `file` that set `bound` (`statement_timeout`, `lock_timeout`) for the
/// statement at `at` (the last one at or before it setting it; when `at` is not known, the
/// file's last one, its value unread when the file sets it to several), as
/// [`crate::files::rules::bound_set_by`] reads it. In a no-transaction migration each
/// statement is its own transaction: a `SET LOCAL` before `at` ended with it.
pub(super) fn own_bound(
    file: &SqlFile,
    bound: &str,
    at: Option<usize>,
) -> Option<(usize, crate::files::rules::BoundSet)> {
    let own_transactions = file.mode == TransactionMode::NoTransaction;
    let end = at.map_or(file.statements.len(), |i| i + 1);
    let mut found: Vec<_> = (file.statements.iter().enumerate().take(end))
        .filter_map(|(i, span)| {
            let set = crate::files::rules::bound_set_by(file.text.get(span.range.clone())?, bound)?;
            (!(own_transactions && set.local && Some(i) != at)).then_some((i, set))
        })
        .collect();
    let (index, mut set) = found.pop()?;
    if at.is_none() && found.iter().any(|(_, other)| other.to != set.to) {
        set.to = crate::files::rules::BoundTo::Unread;
    }
    Some((index, set))
}

/// Where the bound `bound` in force for `file`'s statement at `at` came from ([`BoundFrom`]),
/// with its value (`None`: not known): the file's own setting ([`own_bound`]; a `RESET`: the
/// session's default, read), else the run's (`ours`), else the session's (read from
/// `pg_settings`). `None` when the session's cannot be read.
fn bound_in_force(
    client: &mut Client,
    file: &SqlFile,
    bound: &str,
    at: Option<usize>,
    ours: Option<Duration>,
) -> Option<(Option<Duration>, BoundFrom)> {
    use crate::files::rules::BoundTo;
    if let Some((index, set)) = own_bound(file, bound, at) {
        let (limit, source) = match set.to {
            BoundTo::Millis(ms) => (Some(Duration::from_millis(ms)), None),
            BoundTo::SessionDefault => {
                let (limit, source) = session_bound(client, bound)?;
                (Some(limit), source)
            }
            BoundTo::Unread => (None, None),
        };
        return Some((limit, BoundFrom::File { index, set, source }));
    }
    if super::markers::says(file, bound) {
        return Some((None, BoundFrom::Unseen));
    }
    match ours {
        Some(ours) => Some((Some(ours), BoundFrom::Run)),
        None => {
            let (limit, source) = session_bound(client, bound)?;
            Some((Some(limit), BoundFrom::Session(source)))
        }
    }
}

/// Where a session's default of a setting comes from, in words, by `pg_settings.source`.
fn source_words(source: &str) -> String {
    match source {
        "database" => "the database's default (ALTER DATABASE ... SET)".to_string(),
        "user" => "the role's default (ALTER ROLE ... SET)".to_string(),
        "database user" => {
            "the role's default in this database (ALTER ROLE ... IN DATABASE ... SET)".to_string()
        }
        "client" => "the connection's options (the URL's `options`, PGOPTIONS)".to_string(),
        "configuration file" => {
            "the server's configuration (postgresql.conf, ALTER SYSTEM)".to_string()
        }
        other => format!("the server's settings ({other})"),
    }
}

/// The session's `bound` as `statement_timeout (5s, the session's, from ...)` says it.
fn session_bound_words(limit: Duration, source: Option<&str>) -> String {
    match source {
        Some(source) => format!(
            "{}, the session's, from {}",
            human(limit),
            source_words(source)
        ),
        None => format!(
            "{}, the session's: set by the database, the role, the connection's options or the \
             server",
            human(limit)
        ),
    }
}

/// What to raise of a bound the file sets itself (`index`, `set`): the words of the help
/// after "raise", e.g. `or remove the statement_timeout (50ms) that statement 1 (path:1)
/// sets itself (...), over the run's, there`.
fn own_bound_words(
    file: &SqlFile,
    bound: &str,
    limit: Option<Duration>,
    from: &BoundFrom,
) -> Option<String> {
    let BoundFrom::File { index, set, source } = from else {
        return None;
    };
    let which = which_statement(file, Some(*index));
    let what = &set.what;
    Some(match (set.to, limit) {
        (crate::files::rules::BoundTo::SessionDefault, Some(limit)) => format!(
            "{bound} ({}) that {which} restores (`{what}`) over the run's: remove that reset \
             there (reset by name only what the migration set), or raise that default",
            session_bound_words(limit, source.as_deref())
        ),
        (_, Some(limit)) => format!(
            "{bound} ({}) that {which} sets itself (`{what}`) over the run's: raise or remove \
             it there",
            human(limit)
        ),
        (_, None) => format!(
            "{bound} that {which} sets itself (`{what}`) over the run's: raise or remove it \
             there"
        ),
    })
}

/// `failure` of a run that took `elapsed`, with the help of what cancelled its statement
/// when it is a migration's statement cancelled (57014) in a session that is still there and
/// not by our own stop ([`super::Stop`], which [`interrupted`] words): [`cancel_cause`] over
/// the run's `statement_timeout`, else the session's (read from `pg_settings`, after the
/// rollback: the database's, the role's, the connection's or the server's). Returned as it
/// was when that cannot be read.
/// After `step` failed and its transaction was rolled back: the session-level advisory locks
/// it took and kept ([`release_advisory_locks`]; a rollback does not release them) are
/// released, as they are after a migration that succeeds, so that a connection handed back by
/// `Migrator::into_client` holds none. Nothing is sent when its file does not say `advisory`
/// or the session is gone; a failure to release leaves the failure as it is (the session
/// ends with the run, unless handed over).
pub(super) fn release_locks_after_failure(client: &mut Client, step: &Step<'_>) {
    let release = release_advisory_locks(step.file());
    if !release.is_empty() && !client.is_closed() {
        let _ = client.batch_execute(&release);
    }
}

/// `failure` of a migration whose statement hit its `lock_timeout` (55P03, not the ledger's:
/// [`ledger_locked`] names those), with the sessions holding a lock on a relation its failing
/// statement names, or an advisory lock of a key it waits for ([`advisory_keys`]), found by
/// [`crate::db::lock::named_lock_holders`], as the migration lock's holders are named: a detail
/// each (`lock on "users" held by pid ...`, `advisory lock 99 held by ...`), `lock_holders`, and
/// the `pg_terminate_backend` to run if one is stuck. Asked once the run gives up (after its
/// retries), on the session, after the rollback. Returned as it was when none is found.
pub(super) fn lock_timed_out(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    mut failure: StepFailure,
) -> StepFailure {
    let timed_out = failure.migration_failed_with(&SqlState::LOCK_NOT_AVAILABLE);
    if !timed_out
        || settings.stopped()
        || client.is_closed()
        || !matches!(failure.error.reason(), crate::error::Reason::Other)
    {
        return failure;
    }
    let file = step.file();
    let text = failure
        .location
        .as_ref()
        .and_then(|at| {
            file.statements
                .iter()
                .rev()
                .find(|s| s.line <= at.line)
                .map(|s| &file.text[s.range.clone()])
        })
        .unwrap_or(&file.text);
    // A `lock_timeout` of the file's own, over the run's: the one to raise.
    let at = (failure.location.as_ref()).and_then(|at| statement_at_line(file, at.line));
    let own = own_bound(file, "lock_timeout", at).and_then(|(index, set)| {
        let (limit, source) = match set.to {
            crate::files::rules::BoundTo::Millis(ms) => (Some(Duration::from_millis(ms)), None),
            crate::files::rules::BoundTo::SessionDefault => {
                let (limit, source) = session_bound(client, "lock_timeout")?;
                (Some(limit), source)
            }
            crate::files::rules::BoundTo::Unread => (None, None),
        };
        own_bound_words(
            file,
            "lock_timeout",
            limit,
            &BoundFrom::File { index, set, source },
        )
    });
    let (names, keys) = (relation_names(text), advisory_keys(text));
    let concurrent_build = crate::files::rules::concurrently_created_index(text).is_some()
        || crate::files::rules::concurrently_reindexed(text).is_some();
    let found =
        match crate::db::lock::named_lock_holders(client, &names, &keys, concurrent_build, 5) {
            Ok(found) => found,
            Err(e) => {
                left_out(&mut failure, Some(&e));
                return own_lock_help(failure, own.as_deref());
            }
        };
    if found.is_empty() {
        return own_lock_help(failure, own.as_deref());
    }
    let mut holders: Vec<crate::db::lock::LockHolder> = Vec::new();
    for (lock, holder) in &found {
        failure
            .error
            .details
            .insert(0, format!("{lock} held by {holder}"));
        if !holders.contains(holder) {
            holders.push(holder.clone());
        }
    }
    failure.error.details[..found.len()].reverse();
    failure.error.help = Some(
        crate::db::lock::prepared_help(&holders, &format!("run {AGAIN}")).unwrap_or_else(|| {
            let (that, terminate) = crate::db::lock::terminate_hint(&holders);
            let raise = own.as_ref().map_or_else(
                || {
                    format!(
                        "raise {} (lock_timeout {})",
                        settings.timeouts_set_by.raise(RunTimeout::Lock),
                        human(settings.lock_timeout)
                    )
                },
                |own| format!("for a longer wait, the {own}"),
            );
            format!(
                "wait for {that} to finish and run {AGAIN}; if it is stuck, end it with \
                 {terminate}; or {raise}"
            )
        }),
    );
    failure.error = failure.error.with_reason(crate::error::Reason::Lock {
        database: None,
        holders,
    });
    failure
}

/// `failure` of a lock wait cut by the file's own `lock_timeout` (`own`, [`own_bound_words`]),
/// its holders not named: the help says that bound, not the run's. Returned as it was
/// without one.
fn own_lock_help(mut failure: StepFailure, own: Option<&str>) -> StepFailure {
    if let Some(own) = own {
        failure.error.help = Some(format!(
            "another session holds a lock this migration needs; run {AGAIN} when it is \
             released, or, for a longer wait, the {own}"
        ));
    }
    failure
}

/// The names a statement may give a relation by: each identifier (plain or quoted) and each
/// two- or three-part dotted name, as the server would resolve them (`to_regclass`); keywords
/// and columns among them resolve to no relation, or to one the statement names anyway.
fn relation_names(statement: &str) -> Vec<String> {
    use crate::files::lexer::TokenKind;
    let tokens: Vec<_> = crate::files::lexer::tokens(statement)
        .filter(|t| !t.is_trivia())
        .collect();
    let is_name = |i: usize| {
        tokens.get(i).is_some_and(|t| {
            t.terminated && matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent)
        })
    };
    let is_dot = |i: usize| tokens.get(i).is_some_and(|t| t.kind == TokenKind::Dot);
    let mut names: Vec<String> = Vec::new();
    for i in 0..tokens.len() {
        if !is_name(i) || (i >= 1 && is_dot(i - 1)) {
            continue;
        }
        let mut name = tokens[i].text.to_string();
        let mut j = i;
        let mut parts = 1;
        while parts < 3 && is_dot(j + 1) && is_name(j + 2) {
            name.push('.');
            name.push_str(tokens[j + 2].text);
            j += 2;
            parts += 1;
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The functions that wait for an advisory lock (the `pg_try_` ones never wait).
const WAITING_ADVISORY_LOCKS: [&str; 4] = [
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_advisory_xact_lock",
    "pg_advisory_xact_lock_shared",
];

/// The keys of the advisory locks a statement waits for, as it writes them: a call of one of
/// [`WAITING_ADVISORY_LOCKS`] (bare or `pg_catalog.`-qualified) whose arguments are integer
/// literals, one (`bigint`) or two (`int4`), a minus sign allowed. A key the statement
/// computes is not known here (its holder is then not named, as for a relation no name of
/// the statement resolves to).
fn advisory_keys(statement: &str) -> Vec<crate::db::lock::AdvisoryKey> {
    use crate::db::lock::AdvisoryKey;
    use crate::files::lexer::TokenKind;
    let tokens: Vec<_> = crate::files::lexer::tokens(statement)
        .filter(|t| !t.is_trivia())
        .collect();
    // An integer literal at `i`, with its sign: the value and the index after it.
    let integer = |i: usize| -> Option<(i64, usize)> {
        let (negative, at) = match tokens.get(i)? {
            t if t.kind == TokenKind::Other && t.text == "-" => (true, i + 1),
            _ => (false, i),
        };
        let t = tokens.get(at)?;
        let value: i64 = match t.kind {
            TokenKind::Number => t.text.parse().ok()?,
            _ => return None,
        };
        Some((if negative { -value } else { value }, at + 1))
    };
    let is = |i: usize, kind: TokenKind| tokens.get(i).is_some_and(|t| t.kind == kind);
    let mut keys = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let waits = t.kind == TokenKind::Word
            && WAITING_ADVISORY_LOCKS
                .iter()
                .any(|f| t.text.eq_ignore_ascii_case(f));
        if !waits || !is(i + 1, TokenKind::OpenParen) {
            continue;
        }
        let Some((first, after)) = integer(i + 2) else {
            continue;
        };
        let key = if is(after, TokenKind::CloseParen) {
            Some(AdvisoryKey::One(first))
        } else if is(after, TokenKind::Comma) {
            integer(after + 1)
                .filter(|&(_, end)| is(end, TokenKind::CloseParen))
                .and_then(|(second, _)| {
                    Some(AdvisoryKey::Two(
                        i32::try_from(first).ok()?,
                        i32::try_from(second).ok()?,
                    ))
                })
        } else {
            None
        };
        if let Some(key) = key.filter(|k| !keys.contains(k)) {
            keys.push(key);
        }
    }
    keys
}

pub(super) fn cancelled(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    mut failure: StepFailure,
    elapsed: Duration,
) -> StepFailure {
    let is_cancel = failure.migration_failed_with(&SqlState::QUERY_CANCELED);
    if !is_cancel || settings.stopped() || client.is_closed() {
        return failure;
    }
    let file = step.file();
    let at = failure
        .location
        .as_ref()
        .and_then(|at| statement_at_line(file, at.line));
    let Some((in_force, from)) = bound_in_force(
        client,
        file,
        "statement_timeout",
        at,
        settings.statement_timeout,
    ) else {
        return failure;
    };
    let cause = cancel_cause(in_force, elapsed);
    failure.error.help = Some(match own_cancel(file, at) {
        Some(own) if !matches!(cause, CancelCause::Timeout { .. }) => own_cancel_help(file, own),
        _ => cancel_help(settings, step, cause, &from, at),
    });
    failure
}

/// The index of `file`'s statement at `line` (the last one starting at or before it).
fn statement_at_line(file: &SqlFile, line: u32) -> Option<usize> {
    file.statements.iter().rposition(|s| s.line <= line)
}

/// How a statement of `file` is named: `statement 2 (path:4)` for `index`, else `a statement of
/// path`.
fn which_statement(file: &SqlFile, index: Option<usize>) -> String {
    let path = crate::display::path(&file.path);
    match index.and_then(|i| Some((i, file.statements.get(i)?))) {
        Some((i, span)) => format!("statement {} ({path}:{})", i + 1, span.line),
        None => format!("a statement of {path}"),
    }
}

/// The statement of `file` (the one at `at`, or any when not known) whose text `rule` matches:
/// the one search of [`own_cancel`] and [`own_termination`].
fn statement_matching(file: &SqlFile, at: Option<usize>, rule: fn(&str) -> bool) -> Option<usize> {
    let (from, count) = match at {
        Some(i) => (i, 1),
        None => (0, file.statements.len()),
    };
    file.statements
        .iter()
        .enumerate()
        .skip(from)
        .take(count)
        .find(|(_, s)| file.text.get(s.range.clone()).is_some_and(rule))
        .map(|(i, _)| i)
}

/// The statement of `file` (the one at `at`, or any when not known) calling
/// `pg_cancel_backend(pg_backend_pid())` ([`crate::files::rules::cancels_own_statement`]).
fn own_cancel(file: &SqlFile, at: Option<usize>) -> Option<usize> {
    statement_matching(file, at, crate::files::rules::cancels_own_statement)
}

/// The help of a statement of `file` (`index`) that cancels itself
/// (`pg_cancel_backend(pg_backend_pid())`): the cause, never another session.
fn own_cancel_help(file: &SqlFile, index: usize) -> String {
    format!(
        "{} cancels its own statement (pg_cancel_backend with pg_backend_pid as its argument), \
         and every run of \
         it fails the same way: remove that call (to stop a migration on purpose, RAISE \
         EXCEPTION says why), then run {AGAIN}",
        which_statement(file, Some(index))
    )
}

/// The session's `bound` (`statement_timeout`, `lock_timeout`) for migrations, the value
/// `RESET` gives it (the run reset the session before them; `pg_settings.reset_val` is in
/// milliseconds, whatever the session's `DateStyle` or locale), and where it comes from:
/// `pg_settings.source` under a `SET LOCAL ... TO DEFAULT`, which gives the setting its reset
/// value and that value's source for the read's own transaction alone. Read by a statement of
/// ours that it does not bound; `None` when it cannot be read.
fn session_bound(client: &mut Client, bound: &str) -> Option<(Duration, Option<String>)> {
    let sql = crate::db::explaining(&format!(
        "SET LOCAL {bound} TO DEFAULT; \
         SELECT s.reset_val, s.source FROM pg_catalog.pg_settings s \
         WHERE s.name OPERATOR(pg_catalog.=) '{bound}'"
    ));
    let messages = client.simple_query(&sql).ok()?;
    messages.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(row) => {
            let limit = row.get(0)?.parse::<u64>().ok()?;
            Some((Duration::from_millis(limit), row.get(1).map(str::to_string)))
        }
        _ => None,
    })
}

/// The help of a cancelled migration statement, by its [`CancelCause`]; `at`, the index of the
/// statement cancelled when known. A cancel request is said the same by the server whoever
/// sent it: another session, or the statement itself through a pid it computes or a function it
/// calls (what the file does not show: [`own_cancel`] names what it does), so both are said.
fn cancel_help(
    settings: &ApplySettings,
    step: &Step<'_>,
    cause: CancelCause,
    from: &BoundFrom,
    at: Option<usize>,
) -> String {
    let file = step.file();
    let raise = format!(
        "raise {}, or split the migration",
        settings.timeouts_set_by.raise(RunTimeout::Statement)
    );
    let another = format!(
        "the server cancelled it at a request (pg_cancel_backend), which does not say who \
         asked: another session (an administrator, or a watchdog on long queries), or the \
         migration itself — {} may cancel itself (pg_cancel_backend with its own pid: \
         computed with pg_backend_pid, or in a function it calls), and then every run of it \
         fails the same way; find out which, then run {AGAIN}",
        which_statement(file, at)
    );
    let limit = match cause {
        CancelCause::Timeout { limit } => Some(limit),
        _ => None,
    };
    let own = own_bound_words(file, "statement_timeout", limit, from);
    match (cause, from) {
        (CancelCause::Timeout { .. }, BoundFrom::File { .. }) => format!(
            "a statement ran longer than the {}, or split the migration",
            own.unwrap_or_default()
        ),
        (CancelCause::Timeout { limit }, BoundFrom::Session(source)) => format!(
            "a statement ran longer than statement_timeout ({}); {raise}",
            session_bound_words(limit, source.as_deref())
        ),
        (CancelCause::Timeout { limit }, _) => format!(
            "a statement ran longer than the run's statement_timeout ({}); {raise}",
            human(limit)
        ),
        (CancelCause::AnotherSession { limit }, _) if limit.is_zero() => {
            format!("no statement_timeout was in force: {another}")
        }
        (CancelCause::AnotherSession { limit }, _) => format!(
            "the run ended before its statement_timeout ({}) could: {another}",
            human(limit)
        ),
        (CancelCause::Unknown, BoundFrom::File { .. }) => format!(
            "a statement may have run longer than the {} (or split the migration), or \
             {another}",
            own.unwrap_or_default()
        ),
        (CancelCause::Unknown, _) => format!(
            "{} sets statement_timeout itself where its statements do not show the value: a \
             statement ran longer than it (raise it where the file sets it, or split the \
             migration), or {another}",
            crate::display::path_text(&file.path)
        ),
    }
}

pub(super) fn is_lock_contention(e: &postgres::Error) -> bool {
    e.code().is_some_and(contention)
}

/// A lock another session held: its `lock_timeout` (55P03) or a deadlock (40P01), what the
/// engine tries again after a pause.
fn contention(code: &SqlState) -> bool {
    *code == SqlState::LOCK_NOT_AVAILABLE || *code == SqlState::T_R_DEADLOCK_DETECTED
}

/// Whether `error`, a migration's failure as the engine decided it, is its SQL refused by the
/// server for what that SQL does ([`ErrorKind::MigrationFailed`] with the server's answer),
/// not for the circumstances of the run: the session lost or ended, the server shut down (not
/// a migration failure at all), a cancel — another session's or a `statement_timeout`
/// (57014) —, a lock another session held ([`contention`]), a server condition: out of
/// resources (class 53), an operator's intervention (57), a system error (58). **The** one
/// answer to "is this failure the migration's": `verify` calls an up that fails again after
/// its down unrepeatable only when it is.
pub(crate) fn refused_for_its_sql(error: &Error) -> bool {
    let Some(state) = error.sqlstate() else {
        return false;
    };
    let circumstance = state == SqlState::QUERY_CANCELED.code()
        || contention(&SqlState::from_code(state))
        || ["53", "57", "58"]
            .iter()
            .any(|class| state.starts_with(class));
    error.kind == ErrorKind::MigrationFailed
        && matches!(error.reason(), crate::error::Reason::Migration(m) if m.server.is_some())
        && !circumstance
}

/// What the ledger says after a no-transaction step stopped part-way.
/// What the ledger holds of a no-transaction migration that failed (or was stopped) part-way:
/// the one owner of its wording, for the database the command is about or a scratch one
/// ([`ApplySettings::scratch`]), where "still recorded as applied" is `down`'s word for a
/// database dropped at the run's end.
/// What the ledger says of an `up` step that did not finish: [`ledger_state`]'s words, which
/// `up --dry-run` says of a step it predicts `up` refuses.
pub(crate) const NOT_RECORDED: &str = "the migration is not recorded";

pub(super) fn ledger_state(settings: &ApplySettings, direction: Direction) -> &'static str {
    match (direction, settings.scratch) {
        (Direction::Up, _) => NOT_RECORDED,
        (Direction::Down, None) => "the migration is still recorded as applied",
        (Direction::Down, Some(_)) => {
            "the scratch database (dropped at the end) still records the migration as applied"
        }
    }
}

pub(super) fn connection_lost(
    settings: &ApplySettings,
    step: &Step<'_>,
    e: postgres::Error,
) -> StepFailure {
    use crate::hint::command;
    let (doing, help) = match step.direction {
        Direction::Up => (
            "applying",
            format!(
                "run {} to see what was recorded, then {} again",
                command("migrate status"),
                command("migrate up")
            ),
        ),
        Direction::Down => (
            "rolling back",
            format!(
                "run {} to see what is recorded, then {} again if needed",
                command("migrate status"),
                command("migrate down")
            ),
        ),
    };
    let server = crate::error::ServerError::of(&e);
    let cause = crate::db::cause_text(&e);
    let detail = match step.file().mode {
        TransactionMode::Transaction => "its transaction did not commit, unless the connection dropped just after the server committed it".to_string(),
        TransactionMode::NoTransaction => format!("statements it had completed stay committed; {}", ledger_state(settings, step.direction)),
    };
    StepFailure {
        error: Error::connection(format!(
            "connection lost while {doing} migration {}",
            step.migration.id()
        ))
        .with_source_shown(e, cause)
        .with_detail(detail)
        .with_help(help),
        location: None,
        server,
        unknown_fate: 1,
        blames_file: false,
        dropped_own_statements: false,
    }
}

/// A statement of a migration's file that ended the migration's own session, as the data of
/// a lost connection shows it ([`own_session_end`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnEnd {
    /// Its index (0-based) in the file's statements.
    pub(crate) index: usize,
    /// What it does, as the message says it (after its `file:line`).
    what: String,
}

/// The statement of `file` that ended its own session, when the data of the lost connection
/// supports it: `code`, the SQLSTATE of the server's FATAL (`None`: the socket closed before
/// the driver read one); `completed`, how many of its statements the server finished;
/// `running`, the one it was running (`None`: not known — a transactional migration, whose
/// statement markers went with the session: any of them). 57P05 (idle session timeout): a
/// statement that set the session's `idle_session_timeout` (the rules' reading, C119), finished
/// or the one sent (the driver reports the server's FATAL on the message sent after the session
/// was ended idle, with its reply, or instead of it); 57P01 (terminated) or no word: the
/// running statement (any, when not known) calling `pg_terminate_backend(pg_backend_pid())`;
/// no word in a no-transaction migration (the session ended idle between two of its messages,
/// the next one finding the socket closed): also such a statement, as for 57P05 — the server
/// writes its FATAL and closes at once, and the driver often sees only the closed socket, or
/// the reset its message met. Any other code (a shutdown, a crash), or a
/// statement that does neither — a function, dynamic SQL, another session — is not put down
/// to the file: `None`.
pub(crate) fn own_session_end(
    file: &SqlFile,
    code: Option<&str>,
    completed: usize,
    running: Option<usize>,
) -> Option<OwnEnd> {
    // A session the server ended while idle is reported by the driver on the message sent
    // after that: its FATAL read with the reply to the statement sent (which had finished:
    // 57P05 says the server was idle), or lost with the socket (the statement sent never
    // reached it). So the statement "running" counts among those that may have set the
    // timeout; one after it never does.
    let set_by = completed + usize::from(running.is_some());
    match code {
        Some(c) if c == SqlState::IDLE_SESSION_TIMEOUT.code() => own_idle_timeout(file, set_by, ""),
        // The socket closed before the driver read the server's FATAL (often the case: the
        // server writes it and closes at once): the running statement that terminates its own
        // backend, else, around the messages of a no-transaction migration, a statement that
        // set a session idle_session_timeout (the only idle gaps we leave).
        None => own_termination(file, running).or_else(|| {
            (file.mode == TransactionMode::NoTransaction)
                .then(|| {
                    own_idle_timeout(
                        file,
                        set_by,
                        " (the server's reason did not reach us before it closed the connection, \
                         while it waited between statements)",
                    )
                })
                .flatten()
        }),
        Some(c) if c == SqlState::ADMIN_SHUTDOWN.code() => own_termination(file, running),
        Some(_) => None,
    }
}

/// `error` (a lost connection during `id`'s `file`, `server` (its SQLSTATE and message) and `completed`/`running` as
/// [`own_session_end`] reads them) explained by what ended the session, **the** one place that
/// decides it for the engine and the check after a lost connection: a statement of the file
/// that ended it is named ([`OwnEnd::blame`]); a 57P01 (terminated) while a statement ran that
/// the file does not show terminating its own backend may still be its doing, through a
/// function it calls, as much as another session's or an administrator's — both are said,
/// neither blamed ([`unattributed_termination`]), unless the server's message says it shut down
/// ([`is_immediate_shutdown`]); an idle session timeout (57P05) no statement
/// of the file sets is said as the server's reason.
pub(crate) fn explain_session_end(
    id: &str,
    file: &SqlFile,
    server: Option<&crate::error::ServerError>,
    completed: usize,
    running: Option<usize>,
    error: &mut Error,
    location: &mut Option<Location>,
) {
    let code = server.map(|s| s.sqlstate.as_str());
    if let Some(own) = own_session_end(file, code, completed, running) {
        own.blame(id, file, error, location);
        return;
    }
    match code {
        Some(c) if c == SqlState::ADMIN_SHUTDOWN.code() => {
            // A no-transaction migration between two statements ran nothing of its own.
            let ran = running.is_some() || file.mode == TransactionMode::Transaction;
            if server.is_some_and(is_immediate_shutdown) {
                error.details.push(
                    "the server shut down (an immediate shutdown, as its message says): the \
                     session ended with it, not by the migration's doing; once the server is \
                     back, see what was committed"
                        .to_string(),
                );
            } else if ran {
                error.details.push(unattributed_termination(file, running));
            }
        }
        Some(c) if c == SqlState::IDLE_SESSION_TIMEOUT.code() => {
            error.details.push(
                "the server ended the session for its idle_session_timeout while it waited for \
                 confiture's next statement: no statement of the file that lint reads sets it \
                 (a function or dynamic SQL of the migration may, or the database, role or \
                 connection does); run as it is, the migration may end the same way"
                    .to_string(),
            );
        }
        _ => {}
    }
}

/// The server's message of the 57P01 its `quickdie` sends every session when the postmaster
/// is shut down in immediate mode (`pg_ctl stop -m immediate`).
const IMMEDIATE_SHUTDOWN: &str = "terminating connection due to immediate shutdown command";

/// Whether `server`, a 57P01, is the server's immediate shutdown. The SQLSTATE is the same for
/// `pg_terminate_backend`, a fast shutdown (whose message is also the same) and this, and no
/// typed field of the error tells them apart: the server's own primary message
/// (`DbError::message`, kept as it gave it in [`crate::error::ServerError`]) is read, here
/// alone, only for want of a better signal. A message in another language (`lc_messages`) is
/// not recognised, and the end is said as unattributed, as before.
fn is_immediate_shutdown(server: &crate::error::ServerError) -> bool {
    server.sqlstate == SqlState::ADMIN_SHUTDOWN.code() && server.message == IMMEDIATE_SHUTDOWN
}

/// The detail of a 57P01 (terminating connection due to administrator command) while a
/// statement of `file` ran (`running`, or any when not known) that does not itself call
/// `pg_terminate_backend(pg_backend_pid())`: the server says the same whoever asked, so both
/// are said — another session or an administrator (or a shutdown), or the statement through a
/// pid it computes or a function it calls (then every run ends the same way).
fn unattributed_termination(file: &SqlFile, running: Option<usize>) -> String {
    let which = which_statement(file, running);
    format!(
        "the server terminated the session (57P01), which does not say who asked: another \
         session or an administrator (pg_terminate_backend), a server shutdown, or the \
         migration itself — {which} may terminate its own backend (pg_terminate_backend of its \
         own pid: computed with pg_backend_pid, or in a function it calls), \
         and then every run of it ends the same way; look for such a call in it and in the \
         functions it calls before running it again"
    )
}

/// The statement among the first `completed` of `file` that set the session's
/// `idle_session_timeout` (the rules' reading, C119), as [`own_session_end`] names it; `how`
/// ends the sentence (how the session's end was seen, when not by its SQLSTATE).
fn own_idle_timeout(file: &SqlFile, completed: usize, how: &str) -> Option<OwnEnd> {
    let spans = file.statements.iter().map(|s| (s.range.clone(), s.line));
    let (index, _, set) = crate::files::rules::idle_session_ended_by(&file.text, spans, completed)?;
    Some(OwnEnd {
        index,
        what: format!(
            "sets idle_session_timeout (`{set}`), and the server closed the session when it \
             waited that long for confiture's next statement{how}"
        ),
    })
}

/// The statement of `file` (the `running` one, or any when not known) calling
/// `pg_terminate_backend(pg_backend_pid())`.
fn own_termination(file: &SqlFile, running: Option<usize>) -> Option<OwnEnd> {
    let index = statement_matching(file, running, crate::files::rules::ends_own_session)?;
    Some(OwnEnd {
        index,
        what: "terminates its own backend (pg_terminate_backend with pg_backend_pid as its \
             argument)"
            .to_string(),
    })
}

impl OwnEnd {
    /// `error` (a lost connection during `id`'s `file`) and `location` made the statement's:
    /// the message names it, the help says to remove it before anything is run again (`then`,
    /// the help of the lost connection: what to do once it is gone).
    pub(crate) fn blame(
        &self,
        id: &str,
        file: &SqlFile,
        error: &mut Error,
        location: &mut Option<super::Location>,
    ) {
        let Some(span) = file.statements.get(self.index) else {
            return;
        };
        let path = crate::display::path(&file.path);
        error.message = format!(
            "migration {id} ended its own session: {path}:{} {}",
            span.line, self.what
        );
        let then = error.help.take().unwrap_or_default();
        error.help = Some(format!(
            "remove that statement from {path} (line {}): as it is, the migration ends its \
             session the same way on every run{}",
            span.line,
            if then.is_empty() {
                String::new()
            } else {
                format!("; then {then}")
            }
        ));
        *location = Some(statement_start(file, span));
    }
}

/// `failure`, a lost connection, with the reason the server gave in a notice before it
/// closed the connection ([`crate::db::notices::session_end`]: an immediate shutdown, a crash
/// of another backend), which the driver's error (the socket closed) does not carry: its
/// cause and SQLSTATE, as a `FATAL` read in time gives them ([`crate::db::cause_text`]).
pub(super) fn ended_by(
    mut failure: StepFailure,
    notice: Option<crate::db::notices::Notice>,
) -> StepFailure {
    let Some(notice) = notice else {
        return failure;
    };
    let Some(code) = notice.code else {
        return failure;
    };
    failure
        .error
        .set_cause(format!("{} (SQLSTATE {})", notice.message, code.code()));
    failure.server = Some(crate::error::ServerError {
        sqlstate: code.code().to_string(),
        message: notice.message,
    });
    failure
}

/// A failure of migration SQL (or of our ledger statement) in a live session.
pub(super) fn sql_failure(
    settings: &ApplySettings,
    step: &Step<'_>,
    script: &Script<'_>,
    step_in_script: Option<usize>,
    owned: postgres::Error,
    statement: Option<Statement>,
) -> StepFailure {
    failure_of(
        settings,
        step,
        script,
        step_in_script,
        owned,
        statement,
        Ours::No,
    )
}

/// The failure of a transactional step, told by the statement markers `left` in the session
/// (the step's tagged `tag`, [`super::markers::reached`]): a statement of the body (located,
/// or named by the markers), the row's write while `triggers`, the tracking table's triggers
/// that fire on it ([`ledger_triggers`]), are there — the ledger's failure (exit 5), never
/// the file's, wherever the trigger's function placed its error —, or what follows the row:
/// the `COMMIT`, where a deferred constraint fails ([`after_row_failure`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn marked_failure(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    script: &Script<'_>,
    step_in_script: Option<usize>,
    owned: postgres::Error,
    left: &[String],
    tag: &str,
) -> StepFailure {
    let last_too = settings.marks_row(step.file());
    if let Some(dropped) = dropped_by(step, &owned, left, tag, last_too, None) {
        return own_statements_dropped(settings, step, script, step_in_script, owned, dropped);
    }
    let dropped = owned
        .as_db_error()
        .is_some_and(|db| db.code() == &SqlState::UNDEFINED_TABLE);
    let mut failure = match reached(step, &owned, left, tag, last_too) {
        Reached::Body => {
            let statement = failed_statement(step, &owned, left, tag, last_too);
            // Without the row's markers (no trigger of the tracking table fires on it) the
            // body's last statement carries none: an error after the markers of the others may
            // be the row's, which a trial of the row tells.
            let last = statement.as_ref().is_none_or(|s| s.index == s.count);
            if !last_too
                && last
                && !owned.as_db_error().is_some_and(placed_in_message)
                && ledger_refuses_row(client, settings, step, &owned)
            {
                let ours = Ours::RowRefused;
                return failure_of(settings, step, script, step_in_script, owned, None, ours);
            }
            sql_failure(settings, step, script, step_in_script, owned, statement)
        }
        // The transaction the migration ran in refused our row's write as read-only: the
        // migration left it so (the run begins each one read-write).
        Reached::Row
            if owned
                .as_db_error()
                .is_some_and(|db| db.code() == &SqlState::READ_ONLY_SQL_TRANSACTION) =>
        {
            return left_read_only(settings, step, owned);
        }
        Reached::Row => {
            let read = ledger_triggers(client, settings, step, Fired::OnWrite);
            // Without such a trigger (or unknown) the failure stays the migration's, unless
            // the table as it stands refuses the row.
            let ours = match &read {
                Ok(triggers) if !triggers.is_empty() => Ours::Triggers(triggers.clone()),
                Ok(_) if ledger_refuses_row(client, settings, step, &owned) => Ours::RowRefused,
                _ => Ours::No,
            };
            let mut failure = failure_of(settings, step, script, step_in_script, owned, None, ours);
            left_out(&mut failure, read.err().as_ref());
            failure
        }
        Reached::Commit => after_row_failure(client, settings, step, script, step_in_script, owned),
    };
    // Our own SQL found no tracking table ([`dropped_ledger`]: the ledger's failure, never
    // the file's): the migration's doing, or another session's, which the rollback tells.
    if dropped && failure.error.kind == ErrorKind::Invalid {
        let gone = ledger_gone(client, settings);
        if let Ok(true) = gone {
            dropped_by_another_session(settings, step, &mut failure);
        }
        left_out(&mut failure, gone.err().as_ref());
    }
    failure
}

/// The failure of a transactional step whose SQL left its transaction read-only
/// (`SET TRANSACTION READ ONLY`, `transaction_read_only` set): our row's write failed
/// (SQLSTATE 25006) after every statement of the file completed, told by the row markers such
/// a file carries ([`ApplySettings::marks_row`]). The migration broke its own row, as one that
/// alters or moves the tracking table does: the ledger's failure (exit 5), which the file must
/// stop causing; nothing of it committed.
fn left_read_only(
    settings: &ApplySettings,
    step: &Step<'_>,
    owned: postgres::Error,
) -> StepFailure {
    let id = step.migration.id();
    let (doing, row) = match step.direction {
        Direction::Up => (format!("migration {id}"), "written"),
        Direction::Down => (format!("the rollback of migration {id}"), "deleted"),
    };
    let message = format!(
        "{doing} left its transaction read-only: its row in the tracking table {} could not be \
         {row}, and nothing of it committed",
        settings.table
    );
    let help = format!(
        "remove what makes the transaction read-only from {} (`SET TRANSACTION READ ONLY`, \
         `transaction_read_only` set to on, also built at run time): the tool writes each \
         migration's row in its transaction; then {}",
        step.file().path.display(),
        settings.run_again()
    );
    let mut error = Error::new(ErrorKind::Invalid, message).with_help(help);
    if let Some(db) = owned.as_db_error() {
        error.details = server_details(db);
    }
    let server = crate::error::ServerError::of(&owned);
    let cause = owned
        .as_db_error()
        .map(|db| db.message().to_string())
        .unwrap_or_default();
    let error = error.with_source_shown(owned, cause);
    StepFailure {
        server,
        ..StepFailure::of(error)
    }
}

/// The failure of a step that dropped the engine's own prepared statements ([`dropped_by`]):
/// a migration failure (exit 4) at the statement that dropped them, when known, saying so —
/// not the server's "does not exist" of ours that followed — and what to do: the engine keeps
/// none of its own around a file whose SQL says `DEALLOCATE` ([`super::markers::says_deallocate`]).
pub(super) fn own_statements_dropped(
    settings: &ApplySettings,
    step: &Step<'_>,
    script: &Script<'_>,
    step_in_script: Option<usize>,
    owned: postgres::Error,
    dropped: Dropped,
) -> StepFailure {
    let mut failure = failure_of(
        settings,
        step,
        script,
        step_in_script,
        owned,
        dropped.statement,
        Ours::No,
    );
    let what = match failure.location {
        Some(_) => "it deallocated",
        None => "a statement of it deallocated",
    };
    failure.error.set_cause(format!(
        "{what} cargo-confiture's own prepared statements (a `DEALLOCATE ALL` its SQL does \
         not say: built at run time, or run by a function it calls)"
    ));
    failure.error.help = Some(format!(
        "deallocate only the migration's own prepared statements, by name (`DEALLOCATE name`); \
         or write the `DEALLOCATE ALL` in {}'s SQL as it runs (`EXECUTE 'DEALLOCATE ALL'`; a \
         comment does not count), where cargo-confiture sees it and keeps none of its own \
         around it; then run {AGAIN}",
        crate::display::path_text(&step.file().path)
    ));
    failure.blames_file = true;
    failure.dropped_own_statements = true;
    failure
}

/// The failure of a transactional step after its ledger row was written
/// ([`Reached::Commit`]): a deferred constraint or constraint trigger failed where they fire,
/// just before its `COMMIT` (`sql::FIRE_DEFERRED`).
/// The migration's (its `INITIALLY DEFERRED` foreign key, its `SET CONSTRAINTS ALL DEFERRED`),
/// reported with its file — unless the tracking table has deferrable constraint triggers that
/// fire on the row and the server did not name another table for a constraint it checked
/// (class 23): then one of those triggers raised it, the ledger's failure.
fn after_row_failure(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    script: &Script<'_>,
    step_in_script: Option<usize>,
    owned: postgres::Error,
) -> StepFailure {
    let elsewhere = owned.as_db_error().is_some_and(|db| {
        db.code().code().starts_with("23") && db.table().is_some() && !on_ledger(settings, db)
    });
    let read = if elsewhere {
        Ok(Vec::new())
    } else {
        ledger_triggers(client, settings, step, Fired::Deferred)
    };
    let (triggers, gave_up) = match read {
        Ok(triggers) => (triggers, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    if !triggers.is_empty() {
        let ours = Ours::Triggers(triggers);
        return failure_of(settings, step, script, step_in_script, owned, None, ours);
    }
    let mut failure = failure_of(
        settings,
        step,
        script,
        step_in_script,
        owned,
        None,
        Ours::No,
    );
    if failure.error.kind == ErrorKind::MigrationFailed {
        failure.error = failure.error.with_detail(
            "every statement completed and the migration's row was written: it failed where \
             its deferred constraints are checked, just before its COMMIT (`INITIALLY DEFERRED`, or `SET \
             CONSTRAINTS ... DEFERRED` in the migration)",
        );
    }
    left_out(&mut failure, gave_up.as_ref());
    failure
}

/// Which triggers of the tracking table [`ledger_triggers`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fired {
    /// Every trigger that fires on the row's write.
    OnWrite,
    /// Those that may fire at `COMMIT`: deferrable constraint triggers.
    Deferred,
}

/// The user-defined, enabled triggers of the tracking table that fire on `step`'s ledger write
/// (`INSERT` going up, `DELETE` going down), by name, of the kind `fired`; empty when there is
/// none or the catalog cannot be read. Asked after a failure, in the session the run rolled
/// back.
pub(super) fn ledger_triggers(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    fired: Fired,
) -> Result<Vec<String>, postgres::Error> {
    // `pg_trigger.tgtype`'s bits: 4 INSERT, 8 DELETE.
    let event = match step.direction {
        Direction::Up => 4,
        Direction::Down => 8,
    };
    let deferrable = match fired {
        Fired::OnWrite => "",
        Fired::Deferred => " AND t.tgdeferrable",
    };
    let sql = crate::db::explaining(&format!(
        "SELECT t.tgname FROM pg_catalog.pg_trigger t \
         WHERE t.tgrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass({table}) \
         AND NOT t.tgisinternal AND t.tgenabled OPERATOR(pg_catalog.<>) 'D'{deferrable} \
         AND (CAST(t.tgtype AS pg_catalog.int4) OPERATOR(pg_catalog.&) {event}) \
         OPERATOR(pg_catalog.<>) 0 ORDER BY 1",
        table = crate::ledger::literal(&settings.table.quoted())
    ));
    let messages = client.simple_query(&sql)?;
    Ok(messages
        .iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .collect())
}

/// Says in `failure`, once, that part of its explanation was left out, when `e` is a read of
/// it that gave up at its bound ([`crate::db::gave_up_explaining`]); else leaves it as it is.
pub(super) fn left_out(failure: &mut StepFailure, e: Option<&postgres::Error>) {
    if !e.is_some_and(crate::db::gave_up_explaining) {
        return;
    }
    let detail = crate::db::explanation_left_out();
    if !failure.error.details.contains(&detail) {
        failure.error.details.push(detail);
    }
}

/// Whether the tracking table as it stands — the failed migration rolled back, so none of its
/// SQL in the way — refuses `step`'s row with the error `failed` raised (its SQLSTATE): a
/// column narrowed by hand (`varchar(5)`: 22001), a domain's `CHECK` (23514, naming the
/// domain, not the table), which no position or table name ties to the ledger: errors of
/// classes 22 and 23 only. Tried in a
/// transaction of its own, rolled back, bounded as a read that explains a failure; asked only
/// where the row's write may be what failed and no trigger of the table fires on it (a trial
/// would fire it). Going up only ([`super::sql::row_trial`]). `false` when the trial passes
/// (the migration's SQL made the row fail) or cannot tell.
fn ledger_refuses_row(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    failed: &postgres::Error,
) -> bool {
    let Some(code) = failed.as_db_error().map(|db| db.code().clone()) else {
        return false;
    };
    // Only what a row's values can meet in the table's definition without a trigger: a data
    // exception (class 22) or an integrity constraint (class 23). Not a `RAISE`, a lock or a
    // timeout: the trial would wait as the run did (a catalog locked by another session) and
    // tell nothing.
    if !matches!(code.code().get(..2), Some("22" | "23")) {
        return false;
    }
    let Some(insert) = super::sql::row_trial(settings, step) else {
        return false;
    };
    let trial = format!("BEGIN; {}; ROLLBACK", crate::db::explaining(&insert));
    match client.batch_execute(&trial) {
        Ok(()) => false,
        Err(e) => {
            // Whatever happened, the row is never kept.
            let _ = client.batch_execute("ROLLBACK");
            e.code() == Some(&code)
        }
    }
}

/// Whose SQL a failed message's error is, as [`failure_of`] is told.
enum Ours {
    /// The migration's, unless the server says otherwise (a position outside the file, the
    /// tracking table named).
    No,
    /// The engine's: the message held only its own SQL.
    Message,
    /// The engine's: every statement of the file completed, and these triggers of the tracking
    /// table fire on the row's write.
    Triggers(Vec<String>),
    /// The engine's: the tracking table as it stands refuses the row ([`ledger_refuses_row`]).
    RowRefused,
}

/// The failure of the message that records a no-transaction migration after its statements
/// committed: only our own SQL is in it, so whatever the server refused there (a trigger or
/// constraint of the tracking table, with or without a position or a table name) is the
/// ledger's (exit 5), not the migration's — except the lock check's own failure, which is
/// the migration's releasing the lock ([`lock_released`] words it).
pub(super) fn record_failure(
    settings: &ApplySettings,
    step: &Step<'_>,
    script: &Script<'_>,
    owned: postgres::Error,
) -> StepFailure {
    let lock_check = owned
        .as_db_error()
        .is_some_and(|db| db.code().code() == crate::db::lock::CHECK_SQLSTATE);
    let ours = if lock_check { Ours::No } else { Ours::Message };
    failure_of(settings, step, script, None, owned, None, ours)
}

/// [`sql_failure`]; `ours`: the failed message held only our own SQL, so the failure is the
/// ledger's wherever the server placed it.
fn failure_of(
    settings: &ApplySettings,
    step: &Step<'_>,
    script: &Script<'_>,
    step_in_script: Option<usize>,
    owned: postgres::Error,
    statement: Option<Statement>,
    ours: Ours,
) -> StepFailure {
    let triggers = match &ours {
        Ours::Triggers(triggers) => triggers.as_slice(),
        Ours::No | Ours::Message | Ours::RowRefused => &[],
    };
    let ours = !matches!(ours, Ours::No);
    let doing = match step.direction {
        Direction::Up => "migration",
        Direction::Down => "rolling back migration",
    };
    let Some(db) = owned.as_db_error() else {
        let id = step.migration.id();
        return StepFailure {
            error: Error::new(ErrorKind::MigrationFailed, format!("{doing} {id} failed"))
                .with_source(owned),
            location: None,
            server: None,
            unknown_fate: 0,
            blames_file: false,
            dropped_own_statements: false,
        };
    };
    // One of our checks of the ledger after the row ([`LedgerCheck`]), known by the internal
    // query the server names with its error, which is the check's own: never a migration's
    // statement, whatever SQLSTATE that raised (its `jsonpath` errors were once the checks').
    if let Some(check) = crate::db::ledger::failed_check(db) {
        return ledger_check_failure(settings, step, check, owned);
    }
    let located = db
        .position()
        .and_then(|p| script.locate_in(p, step_in_script));
    // Our own SQL failed: a position in the message outside the file's text, or an error the
    // server tied to the ledger table itself (a NOT NULL or CHECK constraint of its own on the
    // row we wrote). An internal position (in a function or `DO` body the migration ran) is
    // the migration's failure, located in the file when its text is there.
    let in_ledger = ours || (placed_in_message(db) && located.is_none()) || on_ledger(settings, db);
    // A runtime error of a `DO` block: the line of the body's statement, never the block's.
    let in_block = (!in_ledger)
        .then(|| in_do_block(step.file(), statement.as_ref(), db))
        .flatten();
    let block_line = in_block.as_ref().map(|b| b.block_line);
    // Without a position in the file (a runtime error, or one inside a function body defined
    // elsewhere), the statement that failed is still known: where it starts.
    let location = in_block.map(|b| b.at).or(located).or_else(|| {
        let s = statement.as_ref()?;
        let file = step.file();
        Some(
            match s.index.checked_sub(1).and_then(|i| file.statements.get(i)) {
                Some(span) => statement_start(file, span),
                None => Location {
                    path: file.path.clone(),
                    line: s.line,
                    column: 1,
                },
            },
        )
    });
    // The server's message is the cause, said once: `message_with_cause` shows it after the
    // message, and the driver's error (the source) says it to error reporters.
    let message = if dropped_ledger(db, in_ledger) {
        // The table was there when the run read it, under the migration lock: the migration
        // dropped it (`DROP SCHEMA ... CASCADE`, a loop over every table).
        let doing = match step.direction {
            Direction::Up => "migration",
            Direction::Down => "the rollback of migration",
        };
        format!(
            "{doing} {} dropped the tracking table {}",
            step.migration.id(),
            settings.table
        )
    } else if in_ledger {
        format!(
            "{doing} {} ran, but writing the tracking table {} failed",
            step.migration.id(),
            settings.table,
        )
    } else {
        failed_at(
            doing,
            step,
            location.as_ref(),
            statement.as_ref(),
            block_line,
        )
    };
    // The tool's own SQL failing is not the migration's fault: the ledger needs fixing (5) —
    // unless a row of the tracking table is a duplicate. The plan, read under the lock, had
    // no row for this migration, so the duplicate was written in its own transaction: by its
    // SQL (or a trigger it fired), as migrations ported from tools that want them to record
    // themselves do — whether the engine's row then failed, or the migration's own write.
    let wrote_own_row =
        in_ledger && step.direction == Direction::Up && db.code() == &SqlState::UNIQUE_VIOLATION;
    let kind = if in_ledger && !wrote_own_row {
        ErrorKind::Invalid
    } else {
        ErrorKind::MigrationFailed
    };
    let mut error = Error::new(kind, message);
    error.details = server_details(db);
    if wrote_own_row {
        error.details.push(format!(
            "{} wrote a row of the tracking table in its own transaction (its SQL, or a \
             trigger it fired)",
            step.migration.id()
        ));
    }
    let (help, blames_file) = if wrote_own_row {
        let help = format!(
            "remove the write to {} from {}: the tool records each migration itself",
            settings.table,
            crate::display::path_text(&step.file().path)
        );
        (help, false)
    } else {
        failure_help(settings, step, db, in_ledger, triggers)
    };
    error.help = Some(help);
    let server = crate::error::ServerError::of(&owned);
    // The server's error, whole, for callers (`std::error::Error::source`).
    let cause = db.message().to_string();
    let error = error.with_source_shown(owned, cause);
    StepFailure {
        error,
        location,
        server,
        unknown_fate: 0,
        blames_file,
        dropped_own_statements: false,
    }
}

/// The failure of one of our checks of the ledger ([`LedgerCheck`]) before the step's
/// `COMMIT`: the server's error says only which check failed (its SQLSTATE), so the message
/// is ours, and the server's text (a `jsonpath` error, see [`LedgerCheck`]) is only the source.
fn ledger_check_failure(
    settings: &ApplySettings,
    step: &Step<'_>,
    check: LedgerCheck,
    owned: postgres::Error,
) -> StepFailure {
    let id = step.migration.id();
    let table = &settings.table;
    let (kind, message, help) = match check {
        // The table's triggers or rules: the ledger's problem (exit 5), which no edit of the
        // file fixes when they were there before it.
        LedgerCheck::RowNotWritten => {
            let what = match step.direction {
                Direction::Up => format!(
                    "migration {id} ran, but its row in the tracking table {table} was not \
                     written as sent"
                ),
                Direction::Down => format!(
                    "the rollback of migration {id} ran, but its row in the tracking table \
                     {table} was not deleted"
                ),
            };
            (
                ErrorKind::Invalid,
                format!("{what}: a trigger or rule on the table suppressed or changed it"),
                LedgerCheck::suppressed_row_help(table),
            )
        }
        // The migration's own SQL did it (a `DO` loop over every table, where lint does not
        // see it): its failure (exit 4), as releasing the migration lock is.
        LedgerCheck::RowsChanged => {
            let doing = match step.direction {
                Direction::Up => format!("migration {id}"),
                Direction::Down => format!("the rollback of migration {id}"),
            };
            let file = step.file();
            let committed = match file.mode {
                TransactionMode::Transaction => String::new(),
                TransactionMode::NoTransaction => format!(
                    "; what its statements deleted is committed: record the migrations whose rows \
                     are gone again with {}, VERSION being the newest migration whose changes are \
                     in the database (check which)",
                    record_again(settings, step, "<VERSION>")
                ),
            };
            (
                ErrorKind::MigrationFailed,
                format!("{doing} deleted, updated or inserted rows of the tracking table {table}"),
                format!(
                    "keep {table} out of what {} deletes, truncates, updates or inserts (a loop \
                     over every table of the schema reaches it too; the tool records each \
                     migration itself), then run {AGAIN}{committed}",
                    crate::display::path_text(&file.path)
                ),
            )
        }
        // The migration renamed or moved the ledger (or its schema): not a drop. The ledger's
        // failure (exit 5, as a dropped one's is), which the file must stop causing.
        LedgerCheck::Moved => {
            let moved = owned
                .as_db_error()
                .and_then(crate::db::ledger::internal_query)
                .and_then(MovedLedger::of);
            moved_ledger_failure(settings, step, moved.as_ref())
        }
        // The migration changed the type of a text column of the ledger: the row would go
        // into a ledger the next read refuses (exit 5, as that refusal is), which the file
        // must stop causing.
        LedgerCheck::Altered => {
            let doing = match step.direction {
                Direction::Up => format!("migration {id}"),
                Direction::Down => format!("the rollback of migration {id}"),
            };
            let file = step.file();
            let keep_out = format!(
                "keep {table} out of the `ALTER TABLE` in {} (a loop over every table of the \
                 schema reaches it too)",
                crate::display::path_text(&file.path)
            );
            let help = match file.mode {
                TransactionMode::Transaction => format!("{keep_out}, then run {AGAIN}"),
                TransactionMode::NoTransaction => format!(
                    "its statements committed (it runs without a transaction), this too: give \
                     the columns their types back first ({} says how), and {keep_out}",
                    crate::hint::command("migrate status")
                ),
            };
            (
                ErrorKind::Invalid,
                format!(
                    "{doing} changed the type of {} of the tracking table {table}: its row \
                     was not {}",
                    altered_columns(owned.as_db_error()),
                    match step.direction {
                        Direction::Up => "written",
                        Direction::Down => "deleted",
                    }
                ),
                help,
            )
        }
        // The migration took the ledger out of the connecting role's reach: the row (or its
        // deletion) would be refused, a failure of the ledger's (exit 5, as the read's refusal
        // of such a ledger is), which the file must stop causing.
        LedgerCheck::RowSecurity | LedgerCheck::PrivilegeLost => {
            let doing = match step.direction {
                Direction::Up => format!("migration {id}"),
                Direction::Down => format!("the rollback of migration {id}"),
            };
            let (did, what, restore) = if check == LedgerCheck::RowSecurity {
                (
                    "turned on row-level security for",
                    "`ALTER TABLE ... ENABLE`/`FORCE ROW LEVEL SECURITY`",
                    format!("ALTER TABLE {} DISABLE ROW LEVEL SECURITY;", table.quoted()),
                )
            } else {
                (
                    "took away a privilege the connecting role needs on",
                    "`REVOKE` or `ALTER TABLE ... OWNER TO`",
                    format!(
                        "GRANT SELECT, INSERT, DELETE ON {} TO the migrations' role",
                        table.quoted()
                    ),
                )
            };
            let file = step.file();
            let keep_out = format!(
                "keep {table} out of the {what} in {} (a loop over every table of the schema \
                 reaches it too)",
                crate::display::path_text(&file.path)
            );
            let help = match file.mode {
                TransactionMode::Transaction => format!("{keep_out}, then run {AGAIN}"),
                // Its statements committed: the ledger must be given back first.
                TransactionMode::NoTransaction => format!(
                    "its statements committed (it runs without a transaction), this too: give the \
                     tracking table back first ({restore}), and {keep_out}"
                ),
            };
            (
                ErrorKind::Invalid,
                format!(
                    "{doing} {did} the tracking table {table}: its row could not be {}",
                    match step.direction {
                        Direction::Up => "written",
                        Direction::Down => "deleted",
                    }
                ),
                help,
            )
        }
    };
    let mut error = Error::new(kind, message).with_help(help);
    if check == LedgerCheck::Moved {
        error = error.with_detail(
            "the run checks, just before each migration's row, that the tracking table it began \
             with is still at its name: a table renamed or moved is told from one dropped by its \
             OID",
        );
    }
    if check == LedgerCheck::Altered {
        error = error.with_detail(
            "the run checks, just before each migration's row, that the tracking table's text \
             columns are still of a string type, as the run's read found them",
        );
    }
    if matches!(check, LedgerCheck::RowSecurity | LedgerCheck::PrivilegeLost) {
        error = error.with_detail(
            "the run checks, just before each migration's row, that the role may still write \
             the tracking table as it could when the run read it",
        );
    }
    if check == LedgerCheck::RowsChanged {
        let mut kept: Vec<&str> = [step.kept.oldest, step.kept.newest]
            .into_iter()
            .flatten()
            .collect();
        kept.dedup();
        let checked = if kept.is_empty() {
            "is checked"
        } else {
            "are checked"
        };
        let kept = if kept.is_empty() {
            String::new()
        } else {
            format!(
                ", and the oldest and the newest rows recorded before it (version {}),",
                kept.iter()
                    .map(|v| crate::config::shown(v).to_string())
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        };
        error = error.with_detail(format!(
            "its statements inserted, updated or deleted rows of the tracking table, or rows \
             recorded before it are gone: the server's count of this transaction's writes to \
             the table{kept} {checked} before each migration commits"
        ));
    }
    let server = crate::error::ServerError::of(&owned);
    error.set_source(owned);
    StepFailure {
        server,
        ..StepFailure::of(error)
    }
}

/// What [`LedgerCheck::Altered`]'s failure `db` says the migration changed: `column version
/// (now bigint)`, each column it found; the text columns in general when it names none.
fn altered_columns(db: Option<&postgres::error::DbError>) -> String {
    let columns = db
        .and_then(crate::db::ledger::internal_query)
        .and_then(AlteredLedger::of)
        .map(|a| a.columns)
        .unwrap_or_default();
    if columns.is_empty() {
        return "a text column (version, name, checksum, slug)".to_string();
    }
    let named: Vec<String> = columns
        .iter()
        .map(|(column, ty)| format!("column {column} (now {})", crate::display::escape(ty)))
        .collect();
    named.join(" and ")
}

/// The failure of [`LedgerCheck::Moved`]: what the migration did to the tracking table
/// (`settings.table`, where the run read it) — renamed it, moved it to another schema, renamed
/// its schema — and where it is now (`moved`, read inside the migration's transaction), the
/// kind, the message and the help: a transactional migration was rolled back, the move with it;
/// to move the ledger on purpose, move it outside a migration and name it in
/// `migration.tracking_table`.
fn moved_ledger_failure(
    settings: &ApplySettings,
    step: &Step<'_>,
    moved: Option<&MovedLedger>,
) -> (ErrorKind, String, String) {
    use crate::ledger::quote_ident;
    let id = step.migration.id();
    let table = &settings.table;
    let doing = match step.direction {
        Direction::Up => format!("migration {id}"),
        Direction::Down => format!("the rollback of migration {id}"),
    };
    let row = match step.direction {
        Direction::Up => "written",
        Direction::Down => "deleted",
    };
    let file = step.file();
    let (did, now, restore) = match moved {
        Some(moved) => {
            let now = &moved.now;
            let old_schema = table.schema.as_deref().unwrap_or_default();
            let new_schema = now.schema.as_deref().unwrap_or_default();
            let same_name = now.name == table.name;
            let same_schema = new_schema == old_schema;
            let (did, restore) = if same_name && moved.schema_renamed {
                (
                    format!(
                        "renamed the schema of the tracking table {table} (`ALTER SCHEMA {} \
                         RENAME TO {}`): the table is {now} now",
                        quote_ident(old_schema),
                        quote_ident(new_schema)
                    ),
                    format!(
                        "ALTER SCHEMA {} RENAME TO {};",
                        quote_ident(new_schema),
                        quote_ident(old_schema)
                    ),
                )
            } else if same_schema {
                (
                    format!("renamed the tracking table {table} to {now}"),
                    format!(
                        "ALTER TABLE {} RENAME TO {};",
                        now.quoted(),
                        quote_ident(&table.name)
                    ),
                )
            } else if same_name {
                (
                    format!(
                        "moved the tracking table {table} to the schema {} (`ALTER TABLE ... SET \
                         SCHEMA`): it is {now} now",
                        quote_ident(new_schema)
                    ),
                    format!(
                        "ALTER TABLE {} SET SCHEMA {};",
                        now.quoted(),
                        quote_ident(old_schema)
                    ),
                )
            } else {
                let renamed = TrackingTable::resolved(new_schema, &table.name);
                (
                    format!("renamed and moved the tracking table {table}: it is {now} now"),
                    format!(
                        "ALTER TABLE {} RENAME TO {}; ALTER TABLE {} SET SCHEMA {};",
                        now.quoted(),
                        quote_ident(&table.name),
                        renamed.quoted(),
                        quote_ident(old_schema)
                    ),
                )
            };
            (did, Some(now), restore)
        }
        // The check failed, but where the table went could not be read back.
        None => (
            format!("renamed or moved the tracking table {table}"),
            None,
            format!("give {table} back its name and schema"),
        ),
    };
    let on_purpose = match now {
        Some(now) => format!(
            "; to move the ledger on purpose, move it outside a migration, then set \
             `migration.tracking_table` to {now}"
        ),
        None => String::new(),
    };
    let keep_out = format!(
        "keep {table} out of what {} renames or moves (`ALTER SCHEMA ... RENAME TO` moves \
         every table of the schema)",
        crate::display::path_text(&file.path)
    );
    let undone = match step.direction {
        Direction::Up => format!("nothing of {id} is applied"),
        Direction::Down => format!("{id} is still applied"),
    };
    let help = match file.mode {
        TransactionMode::Transaction => format!(
            "the migration's transaction was rolled back, the move with it: {table} is where it \
             was, and {undone}; {keep_out}, then {}{on_purpose}",
            settings.run_again()
        ),
        TransactionMode::NoTransaction => format!(
            "its statements committed (it runs without a transaction), the move too: give the \
             tracking table back its name first ({restore}), and {keep_out}"
        ),
    };
    (
        ErrorKind::Invalid,
        format!("{doing} {did}: its row could not be {row}"),
        help,
    )
}

/// Whether the tracking table is gone after a transaction that found it dropped was rolled
/// back: a migration's own `DROP` (or the `DROP SCHEMA ... CASCADE` that took it) is undone by
/// the rollback, so a table still missing was dropped, committed, by another session.
fn ledger_gone(client: &mut Client, settings: &ApplySettings) -> Result<bool, postgres::Error> {
    let sql = crate::db::explaining(&format!(
        "SELECT pg_catalog.to_regclass({}) IS NULL",
        crate::ledger::literal(&settings.table.quoted())
    ));
    let messages = client.simple_query(&sql)?;
    Ok(messages
        .iter()
        .any(|m| matches!(m, postgres::SimpleQueryMessage::Row(row) if row.get(0) == Some("t"))))
}

/// Words `failure`, a transactional step's row that found the tracking table dropped, as
/// another session's doing ([`ledger_gone`]): the step's rollback would have given back a
/// table the migration dropped itself. Nothing of the step is applied, and the ledger is gone
/// with every row, which only the user can give back.
fn dropped_by_another_session(
    settings: &ApplySettings,
    step: &Step<'_>,
    failure: &mut StepFailure,
) {
    let id = step.migration.id();
    let table = &settings.table;
    let (doing, undone) = match step.direction {
        Direction::Up => ("migration", "nothing of it is applied"),
        Direction::Down => ("the rollback of migration", "it is still applied"),
    };
    failure.error.message = format!(
        "another session dropped the tracking table {table} while {doing} {id} ran: its row \
         could not be {}",
        match step.direction {
            Direction::Up => "written",
            Direction::Down => "deleted",
        }
    );
    failure.error.details.push(format!(
        "{table} is still missing after {id}'s transaction was rolled back, which would have \
         given back a table {id} dropped itself; {undone}"
    ));
    let through = match step.direction {
        Direction::Up => step.kept.newest,
        Direction::Down => Some(step.migration.version_text.as_str()),
    };
    let record = match through {
        Some(newest) => format!(
            "record what is applied again with {} ({} is the newest migration in effect)",
            record_again(settings, step, newest),
            crate::config::shown(newest),
        ),
        None => format!(
            "record what is applied again with {}, VERSION being the newest migration in effect",
            record_again(settings, step, "<VERSION>")
        ),
    };
    failure.error.help = Some(format!(
        "find what dropped it (a session other than this run's): restore {table} from a \
         backup, or {record}; then {}",
        settings.run_again()
    ));
    failure.blames_file = false;
}

/// Whether our own ledger SQL (`in_ledger`) found no tracking table (42P01): it was there
/// when the run read it, so the migration dropped it.
fn dropped_ledger(db: &DbError, in_ledger: bool) -> bool {
    in_ledger && db.code() == &SqlState::UNDEFINED_TABLE
}

/// Whether the write of a no-transaction step's row — a message of our own SQL alone — found
/// the tracking table dropped ([`dropped_ledger`]): its statements dropped it, committed.
pub(super) fn record_found_ledger_dropped(e: &postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| dropped_ledger(db, true))
}

/// The command that records again what is applied after a no-transaction `step` dropped the
/// tracking table with every row, and which version to give it: every statement of the step
/// committed, so going up the step itself is in effect; going down, the newest row recorded
/// before it ([`super::Kept::newest`]) — unless its rollback left something behind, which
/// only the user can check.
fn baseline_after_dropped_ledger(settings: &ApplySettings, step: &Step<'_>) -> String {
    let through = |v: &str| record_again(settings, step, v);
    match (step.direction, step.kept.newest) {
        (Direction::Up, _) => format!(
            "{} (every statement of {} committed: it and the migrations before it are in effect)",
            through(&step.migration.version_text),
            step.migration.id()
        ),
        (Direction::Down, Some(newest)) => format!(
            "{} ({} was the newest migration recorded before {}, whose rollback committed: check \
             that the rollback undid it)",
            through(newest),
            crate::config::shown(newest),
            step.migration.id()
        ),
        (Direction::Down, None) => format!(
            "{}, VERSION being the newest migration whose changes are still in the database \
             (check which: the rollback of {} committed)",
            through("<VERSION>"),
            step.migration.id()
        ),
    }
}

/// The `migrate baseline --through {through}` a help of `step`'s failure suggests to record
/// again what is applied: with its `--yes` ([`crate::plan::record_command`]) when the
/// failure leaves the start marker of `step`'s apply, a run left part-way
/// ([`super::no_transaction::marker_left`], every statement of it sent), which the baseline
/// records over. A transactional step has no marker, and a rollback's is never recorded over
/// (nor below its version, where every such help's `through` is).
fn record_again(settings: &ApplySettings, step: &Step<'_>, through: &str) -> String {
    let file = step.file();
    let over_run = step.direction == Direction::Up
        && file.mode == TransactionMode::NoTransaction
        && super::no_transaction::marker_left(settings, step, file.statements.len());
    crate::hint::command(&crate::plan::record_command(through, over_run))
}

/// Whether the server tied the error to the ledger table itself.
pub(crate) fn on_ledger(settings: &ApplySettings, db: &DbError) -> bool {
    db.table() == Some(settings.table.name.as_str())
        && settings
            .table
            .schema
            .as_deref()
            .is_none_or(|schema| db.schema() == Some(schema))
}

/// How a help names the write of `step`'s ledger row (`inserting`, `deleting`) and the
/// tracking table's `triggers` that fire on it (`audit_row; `\d tb_confiture` in psql lists
/// them`).
fn row_write_and_triggers(
    settings: &ApplySettings,
    step: &Step<'_>,
    triggers: &[String],
) -> (&'static str, String) {
    let write = match step.direction {
        Direction::Up => "inserting",
        Direction::Down => "deleting",
    };
    let names: Vec<String> = triggers
        .iter()
        .map(|t| crate::display::escape(t).to_string())
        .collect();
    let listed = format!(
        "{}; `\\d {}` in psql lists them",
        names.join(", "),
        settings.table
    );
    (write, listed)
}

/// The help of our own ledger write cancelled (57014), in a trigger of the tracking table
/// (`triggers`, [`ledger_triggers`]) or not: never "split the migration", whose statements all
/// completed. The row of a transactional migration is bounded by the run's `statement_timeout`
/// alone ([`super::sql::before_row_select`]: the migration's own is put aside, and without the
/// run's the row has none), as is a no-transaction migration's, sent on its own, by none.
fn ledger_cancel_help(settings: &ApplySettings, step: &Step<'_>, triggers: &[String]) -> String {
    let (write, listed) = row_write_and_triggers(settings, step, triggers);
    let what = if triggers.is_empty() {
        format!("{write} the migration's row in {}", settings.table)
    } else {
        format!(
            "the trigger of {} that fires on {write} the migration's row ({listed})",
            settings.table,
        )
    };
    let bounded = step.file().mode == TransactionMode::Transaction;
    match settings.statement_timeout.filter(|_| bounded) {
        Some(limit) => format!(
            "every statement of {} completed; {what} was cancelled: it ran longer than the run's \
             statement_timeout ({}), which bounds the row's write too — make the trigger \
             faster, or raise {}, then {}",
            crate::display::path_text(&step.file().path),
            human(limit),
            settings.timeouts_set_by.raise(RunTimeout::Statement),
            settings.run_again()
        ),
        None => format!(
            "every statement of {} completed; {what} was cancelled, and no statement_timeout \
             bounds the row's write: another session cancelled it (pg_cancel_backend: an \
             administrator, or a watchdog on long queries); find out who, then {}",
            crate::display::path_text(&step.file().path),
            settings.run_again()
        ),
    }
}

/// `migration 003_x failed at m/003_x.up.sql:4:9 (statement 2 of 3)`; the server's message
/// is the error's cause.
fn failed_at(
    doing: &str,
    step: &Step<'_>,
    location: Option<&Location>,
    statement: Option<&Statement>,
    block_line: Option<u32>,
) -> String {
    let at = match location {
        Some(l) => format!(
            "{}:{}:{}",
            crate::display::path_text(&l.path),
            l.line,
            l.column
        ),
        None => crate::display::path_text(&step.file().path).to_string(),
    };
    // The block's line, when the location is in its body (not the block's own line).
    let block = block_line
        .filter(|&b| location.is_some_and(|l| l.line != b))
        .map(|b| format!("in the DO block at line {b}"));
    let stmt = statement.map(|s| format!("statement {} of {}", s.index, s.count));
    let context: Vec<String> = stmt.into_iter().chain(block).collect();
    let context = if context.is_empty() {
        String::new()
    } else {
        format!(" ({})", context.join(", "))
    };
    format!("{doing} {} failed at {at}{context}", step.migration.id())
}

/// [`plpgsql::in_do_block`] for the statement of `file` that failed: the one `statement`
/// names, else the file's only `DO` block, when it has one (the server did not say which
/// statement failed, and a `DO` block's context names no file line).
fn in_do_block(
    file: &SqlFile,
    statement: Option<&Statement>,
    db: &DbError,
) -> Option<plpgsql::InBlock> {
    let span = match statement {
        Some(s) => file.statements.get(s.index.checked_sub(1)?)?,
        None => {
            let mut blocks = file.statements.iter().filter(|span| {
                file.text
                    .get(span.range.clone())
                    .is_some_and(|t| crate::files::rules::plpgsql_body(t).is_some())
            });
            let only = blocks.next()?;
            if blocks.next().is_some() {
                return None;
            }
            only
        }
    };
    plpgsql::in_do_block(file, span, db)
}

/// The help of a failed step: what the SQLSTATE asks for, or what to fix; and whether it is
/// only "fix the file" ([`StepFailure::blames_file`]).
fn failure_help(
    settings: &ApplySettings,
    step: &Step<'_>,
    db: &DbError,
    in_ledger: bool,
    triggers: &[String],
) -> (String, bool) {
    let help = match db.code().code() {
        "57014" if in_ledger => ledger_cancel_help(settings, step, triggers),
        "55P03" => format!(
            "another session holds a lock this migration needs (lock_timeout {}); run {AGAIN} when \
             it is released, or raise {}",
            human(settings.lock_timeout),
            settings.timeouts_set_by.raise(RunTimeout::Lock)
        ),
        "57014" => format!(
            "a statement ran longer than statement_timeout ({}); raise {}, or split the \
             migration",
            settings.statement_timeout.map_or_else(
                || "the session's: set by the database, the role, the connection's options or \
                    the server"
                    .to_string(),
                human
            ),
            settings.timeouts_set_by.raise(RunTimeout::Statement)
        ),
        _ if dropped_ledger(db, in_ledger) => {
            let file = step.file();
            let keep = format!(
                "keep {} out of what {} drops (`DROP SCHEMA ... CASCADE` drops every table of \
                 the schema)",
                settings.table,
                crate::display::path_text(&file.path),
            );
            match file.mode {
                // Committed: nothing is recorded any more, so there is nothing to run again.
                // Its statements committed one by one: another session's drop meanwhile is
                // told from its own by nothing ([`super::no_transaction`]'s message says both).
                TransactionMode::NoTransaction if settings.scratch.is_none() => format!(
                    "{keep}, or find the session that did it; its statements are committed and \
                     the tracking table is gone with every row: restore it from a backup, or \
                     record what is applied again with {}",
                    baseline_after_dropped_ledger(settings, step)
                ),
                _ => format!("{keep}, then {}", settings.run_again()),
            }
        }
        _ if in_ledger && !triggers.is_empty() => {
            let (write, listed) = row_write_and_triggers(settings, step, triggers);
            format!(
                "every statement of {} completed: a trigger of {} raised it on {write} the \
                 migration's row ({listed}): drop or fix the one that raised, or keep the table \
                 out of it, then {}",
                crate::display::path_text(&step.file().path),
                settings.table,
                settings.run_again()
            )
        }
        _ if in_ledger => format!(
            "check that {} has confiture's columns, that this role may write it and that no \
             trigger of it refuses the row (`\\d {}` in psql lists them)",
            settings.table, settings.table
        ),
        // Correct SQL run by a role that may not do it ("must be owner of table", "permission
        // denied"): the file is not what to change.
        "42501" => format!(
            "the role the migrations run as lacks a privilege this statement needs, or does not \
             own the object (objects belong to the role that created them: one created by \
             another role, an admin's first run say, must be altered by its owner): grant the \
             privilege, or hand the object over (ALTER ... OWNER TO the migrations' role), or \
             run the migrations as the owning role ({}), then {}",
            crate::db::ledger::ROLE_SETTING_HOW,
            settings.run_again()
        ),
        // A procedure or `DO` block that commits part-way (a backfill in batches) is right,
        // run where it cannot commit: inside the migration's transaction.
        "2D000" if step.file().mode == TransactionMode::Transaction => format!(
            "a procedure or DO block that ends a transaction (`COMMIT` or `ROLLBACK` in its \
             body, a backfill committing in batches) runs only outside one, and {} runs in a \
             transaction: if it means to commit part-way, add the line `-- confiture:no-transaction` to \
             its leading comments (its statements then commit one by one: those before a \
             failure stay committed), else take the `COMMIT` out of what it calls; then {}",
            crate::display::path_text(&step.file().path),
            settings.run_again()
        ),
        // A role is the server's: one the file creates may be there already without the file
        // being wrong (another database's migrations made it, or a `verify` killed with
        // SIGKILL left it), which the database's own history cannot tell.
        "42710" if settings.scratch.is_none() && creates_role(&step.file().text) => format!(
            "if what already exists is a role this file creates: a role is the server's, not \
             the database's, and it is on this server already — made by another database's \
             migrations, by hand, or left by a `migrate verify` or `migrate drift` killed with \
             SIGKILL (a `confiture_scratch_<pid>_...` database whose process is gone holds its \
             grants: `DROP DATABASE ... WITH (FORCE)` it, then `DROP ROLE` the role) — the \
             file is right; otherwise fix {}; then {}",
            crate::display::path_text(&step.file().path),
            settings.run_again()
        ),
        _ if step.direction == Direction::Up && step.file().squashed_through.is_some() => format!(
            "{} is confiture (Python)'s squashed baseline (`-- confiture:squashed-baseline`): \
             the schema the versions before it built, which this database already has from \
             applying them; record it as confiture does, without running it and marking their \
             rows archived into it: {} with confiture (Python) (our `migrate baseline` would \
             record it without marking them), then {}",
            crate::display::path_text(&step.file().path),
            squash_ledger(settings, step),
            settings.run_again()
        ),
        _ => {
            return (
                format!(
                    "fix {}, then {}",
                    crate::display::path_text(&step.file().path),
                    settings.run_again()
                ),
                true,
            )
        }
    };
    (help, false)
}

/// How to run confiture (Python)'s `migrate squash-ledger` on this run's database, for the
/// failed squashed baseline `step`, in the words every confiture (Python) command of a help
/// gets ([`crate::hint::PythonWords`]): it reads the database only from an environment file
/// (`-c`, by default `db/environments/local.yaml`), so the command names the file this run
/// read (`--env`, `-c`, the default environment) when it is this database's own
/// ([`crate::hint::PythonWords::names_a_file`]); without one (`--database-url`,
/// `DATABASE_URL`, a fleet's target, a tenant schema) it says to write one. `--migrations-dir`
/// when the baseline's directory is not confiture's default.
fn squash_ledger(settings: &ApplySettings, step: &Step<'_>) -> String {
    let env = settings.holders_from.as_ref();
    let dir = step.file().path.parent().map(crate::display::relative);
    let words = crate::hint::PythonWords::of(env, dir.as_deref());
    if words.names_a_file() {
        return format!(
            "run {}",
            crate::hint::python_command(&format!("migrate squash-ledger {}", words.quoted()))
        );
    }
    let dir = crate::hint::PythonWords {
        database: Vec::new(),
        ..words
    }
    .quoted();
    format!(
        "confiture (Python) reads the database only from an environment file, and this run \
         read none that names it ({}): write one (`database_url: <this database's URL>`{}) \
         and run `confiture migrate squash-ledger -c <that file>{}{dir}`",
        env.map_or_else(|| "no environment file".to_string(), |env| env.source()),
        // confiture's default table, which it finds on the `search_path` as we do.
        if settings.table.name == crate::ledger::TrackingTable::default().name
            && settings
                .table
                .schema
                .as_deref()
                .is_none_or(|s| s == "public")
        {
            String::new()
        } else {
            format!(", and {} as `migration.tracking_table`", settings.table)
        },
        if dir.is_empty() { "" } else { " " },
    )
}

/// Whether `text` (a migration file) creates a role: `CREATE ROLE | USER | GROUP`, also in a
/// `DO` block ([`crate::files::rules::server_wide`]).
fn creates_role(text: &str) -> bool {
    let text = &text[crate::text::bom_len(text)..];
    crate::files::rules::server_wide(text)
        .iter()
        .any(|(_, _, e)| {
            matches!(
                e,
                crate::files::rules::Effect::Role {
                    statement: "CREATE ROLE",
                    ..
                }
            )
        })
}

/// The failure of step `in_message` of a message of several (`batch`), which the server
/// answered: located in the file, or by the statement markers `left` in the session (`None`:
/// not known, the read after the failure gave up); with what
/// the ledger holds now and, after lock-timeout retries, what the attempts were
/// ([`attempts_detail`]).
/// `ledger_write`: the error is known to be the step's ledger row's (its lock wait ran out,
/// [`ledger_lock_holders`] found the sessions in its way), so the statement that failed is
/// known too, whatever the server's position says.
#[allow(clippy::too_many_arguments)]
pub(super) fn message_failure(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    batch: &Batch<'_>,
    in_message: usize,
    left: Option<&[String]>,
    attempts: Attempts,
    e: postgres::Error,
    ledger_write: bool,
) -> StepFailure {
    let tag = format!("{}_{in_message}", batch.nonce);
    let last_too = settings.marks_row(step.file());
    // The message's prepared ledger row, when it had one and what it left is known.
    let row = batch
        .prepare
        .as_ref()
        .map(|_| super::sql::prepared_row(batch.nonce));
    let row = row.as_deref().filter(|_| left.is_some());
    let left = left.unwrap_or_default();
    if let Some(dropped) = dropped_by(step, &e, left, &tag, last_too, row) {
        let mut failure =
            own_statements_dropped(settings, step, &batch.script, Some(in_message), e, dropped);
        if let Some(detail) = attempts_detail(settings, &attempts) {
            failure.error = failure.error.with_detail(detail);
        }
        failure.error = failure
            .error
            .with_detail(rolled_back(settings, step.direction));
        return failure;
    }
    let statement = failed_statement(step, &e, left, &tag, last_too);
    let unplaced = !ledger_write
        && statement.is_none()
        && reached(step, &e, left, &tag, last_too) != Reached::Commit
        && e.as_db_error().is_some_and(|db| !placed_in_message(db));
    let mut failure = marked_failure(
        client,
        settings,
        step,
        &batch.script,
        Some(in_message),
        e,
        left,
        &tag,
    );
    if unplaced && failure.location.is_none() && failure.error.kind == ErrorKind::MigrationFailed {
        failure.error = failure.error.with_detail(
            "the server did not say which statement failed, and the migration is not run \
             again to find out (its side effects outside the transaction would happen twice)",
        );
    }
    if let Some(detail) = attempts_detail(settings, &attempts) {
        failure.error = failure.error.with_detail(detail);
    }
    failure.error = failure
        .error
        .with_detail(rolled_back(settings, step.direction));
    failure
}

/// What became of a failed step of a message of several: its transaction rolled back.
fn rolled_back(settings: &ApplySettings, direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "the migration was rolled back and is not recorded",
        Direction::Down => match settings.scratch {
            None => "the rollback was itself rolled back: the migration stays applied",
            Some(_) => SCRATCH_ROLLBACK_ROLLED_BACK,
        },
    }
}

/// A failed rollback's transaction on a scratch database ([`ApplySettings::scratch`]): "the
/// migration stays applied" is `down`'s word for the database it is about, not for one
/// dropped at the run's end.
const SCRATCH_ROLLBACK_ROLLED_BACK: &str =
    "the rollback was itself rolled back on the scratch database, which is dropped at the end";

/// What became of a failed transactional rollback (not `--single-transaction`'s whole run):
/// the one owner of its wording, for the database the command is about or a scratch one.
fn down_rolled_back(settings: &ApplySettings) -> &'static str {
    match settings.scratch {
        None => "its transaction was rolled back: the migration stays applied",
        Some(_) => SCRATCH_ROLLBACK_ROLLED_BACK,
    }
}

/// What a failed step's `attempts` were, as the run decided them ([`Attempts::after`]), in
/// every mode: that the retries ran out only when each attempt was the migration's own lock
/// wait; else the earlier attempts retried as such; why a lock wait with retries left was not
/// retried (an effect a rollback does not undo); nothing for a first attempt.
pub(super) fn attempts_detail(settings: &ApplySettings, attempts: &Attempts) -> Option<String> {
    match *attempts {
        Attempts::One => None,
        Attempts::NotRepeated {
            retried,
            ref lasting,
        } => {
            let before = match retried {
                0 => String::new(),
                1 => " (this was attempt 2: the one before it was retried)".to_string(),
                n => format!(
                    " (this was attempt {}: the {n} before it were retried)",
                    n + 1
                ),
            };
            Some(format!(
                "not retried{before}: {} at {} is an effect a rollback does not undo, which an \
                 automatic retry (migration.lock_retries = {}) would make again: it happened \
                 once if it comes before the statement that waited, and running {AGAIN} makes \
                 it again",
                lasting.effect, lasting.at, settings.lock_retries
            ))
        }
        Attempts::RetriesRanOut { made } => Some(format!(
            "gave up after {made} attempts (migration.lock_retries = {})",
            settings.lock_retries
        )),
        Attempts::AfterRetries { retried: 1 } => Some(
            "this was attempt 2: the attempt before it waited for a lock of a migration's own \
             and was retried"
                .to_string(),
        ),
        Attempts::AfterRetries { retried } => Some(format!(
            "this was attempt {}: the {retried} before it waited for a lock of a migration's own \
             and were retried",
            retried + 1
        )),
    }
}

/// The enabled event triggers of the database (`ddl_command_start`/`_end`, ...), each with
/// its function: `et (function f())`. An event trigger runs on every DDL statement, ours too
/// (the ledger's and the start markers' `CREATE TABLE`), and its function may raise: what our
/// own DDL's refusal names, so that the help points at it and not at the role's rights or the
/// table's columns. Read only to explain such a refusal ([`crate::db::explaining`]); empty when
/// there is none or it cannot be read.
pub(super) fn event_triggers(client: &mut Client) -> Vec<String> {
    let sql = "SELECT pg_catalog.format('%I (function %s)', e.evtname, \
               e.evtfoid::pg_catalog.regprocedure) \
               FROM pg_catalog.pg_event_trigger e \
               WHERE e.evtenabled OPERATOR(pg_catalog.<>) 'D' ORDER BY 1";
    match client.simple_query(&crate::db::explaining(sql)) {
        Ok(messages) => messages
            .iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                _ => None,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The help of our own `CREATE TABLE` of `table` refused by the server while the database has
/// enabled event triggers (`triggers`, [`event_triggers`]): one of them ran on it and raised
/// (the error's context names its function), so `again` runs once it lets the table be made.
pub(super) fn event_trigger_help(triggers: &[String], table: &str, again: &str) -> String {
    format!(
        "an event trigger of the database runs on confiture's own `CREATE TABLE` of {table} \
         and may refuse it (the context above names the function that raised): {}; let its \
         function accept that table, or disable it while the command runs (ALTER EVENT \
         TRIGGER <name> DISABLE; then ENABLE), then run {again}",
        crate::display::cut(triggers.to_vec()).join(", ")
    )
}

pub(super) fn server_details(db: &DbError) -> Vec<String> {
    let mut details = vec![format!("SQLSTATE {}", db.code().code())];
    if let Some(d) = db.detail() {
        details.push(format!("detail: {d}"));
    }
    if let Some(h) = db.hint() {
        details.push(format!("hint: {h}"));
    }
    if let Some(w) = db.where_() {
        details.push(format!("context: {}", w.replace('\n', "; ")));
    }
    details
}

/// The next step for a no-transaction migration going up whose every statement committed and
/// whose ledger row was not written: it is applied but for its row, so it is recorded without
/// running it. Running it again would run its statements a second time (a data migration's
/// `UPDATE` twice; a `CREATE INDEX CONCURRENTLY` failing on the index it made).
pub(super) fn record_without_running(step: &Step<'_>) -> String {
    format!(
        "every statement of {} committed: check that the schema has what it makes, then record \
         it without running it: {} (not `migrate up`, which would run its statements a second \
         time)",
        step.migration.id(),
        crate::hint::command(&crate::plan::record_interrupted_command(
            &step.migration.version_text
        ))
    )
}

/// How many sessions in the way of a ledger row an error names.
const MAX_LEDGER_HOLDERS: usize = 5;

/// The sessions in the way of one of the tool's own writes beside a migration — the ledger
/// row, or a no-transaction migration's start marker — after a message of the run ended on a
/// lock timeout, and the table they hold it on ([`ledger_lock_holders`]).
pub(super) struct LedgerLock {
    /// The sessions holding the lock, at most [`MAX_LEDGER_HOLDERS`].
    pub(super) holders: Vec<crate::db::lock::LockHolder>,
    /// The table the lock is held on: the tracking table, or its start markers' table
    /// ([`TrackingTable::started_table`](crate::ledger::TrackingTable::started_table)).
    pub(super) table: crate::ledger::TrackingTable,
}

impl LedgerLock {
    /// Whether no session was found in the way.
    pub(super) fn is_empty(&self) -> bool {
        self.holders.is_empty()
    }
}

/// The sessions holding a lock on the tracking table or on its start markers' table, or on
/// the row `step` writes in either, in the way of that write, after a message of the run
/// ended on a lock timeout (rolled back already): the ledger row or the start marker waited
/// for it ([`ApplySettings::ledger_lock_wait`]), not the migration's SQL. For each table, a
/// lock on the table ([`crate::db::lock::table_lock_holder`]) first, else the row locks of
/// other sessions ([`crate::db::lock::row_lock_holders`]: `down`'s row locked `FOR UPDATE`
/// or being updated, `up`'s version inserted and not yet committed; a marker's version, which
/// the marker's start inserts and its settling deletes, either way). Empty when the timeout
/// was not a lock timeout, or no session holds such a lock.
pub(super) fn ledger_lock_holders(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    e: &postgres::Error,
) -> LedgerLock {
    use crate::db::lock::{row_lock_holders, table_lock_holder, RowWrite, Wanted};
    let none = |table| LedgerLock {
        holders: Vec::new(),
        table,
    };
    if e.code() != Some(&SqlState::LOCK_NOT_AVAILABLE) {
        return none(settings.table.clone());
    }
    let condition = crate::ledger::version_condition(step.ledger_version);
    let ledger_write = match step.direction {
        Direction::Up => RowWrite::Insert,
        Direction::Down => RowWrite::Delete {
            condition: &condition,
        },
    };
    let markers = settings.table.started_table();
    // The ledger's first; the markers' table, where it exists (`to_regclass`), after.
    let tables = [
        (settings.table.clone(), vec![ledger_write]),
        (
            markers,
            vec![
                RowWrite::Insert,
                RowWrite::Delete {
                    condition: &condition,
                },
            ],
        ),
    ];
    for (table, _) in &tables {
        let relation = crate::ledger::literal(&table.quoted());
        if let Ok(Some(holder)) = table_lock_holder(client, &relation, Wanted::Write) {
            return LedgerLock {
                holders: vec![holder],
                table: table.clone(),
            };
        }
    }
    for (table, writes) in tables {
        for write in writes {
            let holders = row_lock_holders(
                client,
                &table.quoted(),
                write,
                crate::db::EXPLANATION_WAIT,
                MAX_LEDGER_HOLDERS,
            )
            .unwrap_or_default();
            if !holders.is_empty() {
                return LedgerLock { holders, table };
            }
        }
    }
    none(settings.table.clone())
}

/// Whether `e`, the error of a message of migrations, is a lock wait past its `lock_timeout`
/// that may be one of the tool's own statements' ([`own_statement_lock_holders`]): `Some(true)`
/// placed by the server in our SQL, outside every migration's text; `Some(false)` placed
/// nowhere (ours only while a session holds a lock on a catalog); `None` for any other error,
/// or one placed in a migration's text or in a body it ran (the migration's own).
pub(super) fn own_lock_wait(script: &Script<'_>, e: &postgres::Error) -> Option<bool> {
    let db = e.as_db_error()?;
    if db.code() != &SqlState::LOCK_NOT_AVAILABLE {
        return None;
    }
    match db.position() {
        Some(p @ postgres::error::ErrorPosition::Original(_)) => {
            Some(script.locate_in(p, None).is_none())
        }
        Some(postgres::error::ErrorPosition::Internal { .. }) => None,
        None => Some(false),
    }
}

/// How many holders of a lock on a catalog an error names.
pub(super) const MAX_CATALOG_HOLDERS: usize = 5;

/// Whether `e`, the error of a message of migrations, is one of the tool's own statements
/// around a migration's body — the session's reset and the clock that open a message, the
/// checks and the row after each body — waiting past its `lock_timeout` (the command's lock
/// wait, [`super::sql::own_bound_before_row`]) for a lock another session holds on a system
/// catalog (`LOCK pg_catalog.pg_attribute`, `VACUUM FULL pg_index`): placed by the server in
/// our SQL, outside every migration's text (a catalog our statement names, locked while it is
/// parsed), or placed nowhere while a session holds such a lock (a catalog our statement reads
/// through the server's caches). `Some` of the sessions holding one
/// ([`crate::db::lock::catalog_lock_holders`], within an explanation's bound: empty when they
/// cannot be read); `None` when the timeout is the migration's own — in its text, or in a
/// function or `DO` body it ran — and the run's retry rule ([`super::decide`]) applies to it.
/// The ledger's own locks are [`ledger_lock_holders`]', asked first.
pub(super) fn own_statement_lock_holders(
    client: &mut Client,
    script: &Script<'_>,
    e: &postgres::Error,
) -> Option<Vec<crate::db::lock::LockHolder>> {
    let placed_in_ours = own_lock_wait(script, e)?;
    let holders = unique_holders(
        crate::db::lock::catalog_lock_holders(client, None, MAX_CATALOG_HOLDERS)
            .unwrap_or_default(),
    );
    (placed_in_ours || !holders.is_empty()).then_some(holders)
}

/// The holders of `found` (a holder per locked catalog), each once: also the locked ledger
/// read's (`db::ledger`).
pub(crate) fn unique_holders(
    found: Vec<(String, crate::db::lock::LockHolder)>,
) -> Vec<crate::db::lock::LockHolder> {
    found
        .into_iter()
        .map(|(_, holder)| holder)
        .fold(Vec::new(), |mut unique, holder| {
            if !unique.contains(&holder) {
                unique.push(holder);
            }
            unique
        })
}

/// The holders of a lock on a system catalog of the run's database, asked from a session on
/// a maintenance database of its server ([`crate::db::connect::catalog_lock_holders`],
/// [`ApplySettings::holders_from`]) — for when the run's own session cannot read them: a lock
/// on `pg_attribute` holds its read of `pg_locks` too, and a read after the failure that gave
/// up has closed it. Within the command's lock wait to connect (half a second at least: a
/// zero would be no bound); empty when none could be asked.
fn catalog_lock_holders_elsewhere(settings: &ApplySettings) -> Vec<crate::db::lock::LockHolder> {
    let Some(env) = &settings.holders_from else {
        return Vec::new();
    };
    let wait = settings.ledger_lock_wait.max(crate::db::EXPLANATION_WAIT);
    unique_holders(crate::db::connect::catalog_lock_holders(env, wait).unwrap_or_default())
}

/// `failure`, of a step whose message ended because one of the tool's own statements waited
/// the command's lock wait for `holders`' locks on a system catalog
/// ([`own_statement_lock_holders`]): exit 6 naming those sessions, as a catalog read before a
/// no-transaction migration is ([`catalog_locked_words`]) — not the migration's contention,
/// never retried as such, and not its file's failure. The server's error stays its source.
/// None found by the run's session (it could not read them, or was closed): asked from a
/// maintenance database ([`catalog_lock_holders_elsewhere`]).
pub(super) fn catalog_locked(
    settings: &ApplySettings,
    step: &Step<'_>,
    failure: StepFailure,
    holders: Vec<crate::db::lock::LockHolder>,
) -> StepFailure {
    let holders = match holders.is_empty() {
        true => catalog_lock_holders_elsewhere(settings),
        false => holders,
    };
    let doing = match step.direction {
        Direction::Up => "migration",
        Direction::Down => "rolling back migration",
    };
    let what = format!(
        "{doing} {} was rolled back: a statement of the tool's own in its transaction waited",
        step.migration.id()
    );
    let (kind, message, help) = catalog_locked_words(settings, &what, &holders);
    let mut failure = failure;
    failure.error.kind = kind;
    failure.error.message = message;
    failure.error.help = Some(help);
    held_by(failure, holders)
}

/// `failure`, its error made a lock's by the caller (kind, message, help), naming `holders` —
/// a detail each, first, and `Reason::Lock` — and blaming no file: the one shape of a failure
/// whose statement waited for another session's lock past the command's lock wait
/// ([`ledger_locked`], [`catalog_locked`]).
fn held_by(failure: StepFailure, holders: Vec<crate::db::lock::LockHolder>) -> StepFailure {
    let StepFailure {
        mut error,
        server,
        unknown_fate,
        ..
    } = failure;
    for (i, holder) in holders.iter().enumerate() {
        error.details.insert(i, format!("held by {holder}"));
    }
    StepFailure {
        error: error.with_reason(crate::error::Reason::Lock {
            database: None,
            holders,
        }),
        location: None,
        server,
        unknown_fate,
        blames_file: false,
        dropped_own_statements: false,
    }
}

/// What an error says of a statement of ours that waited the command's lock wait
/// ([`ApplySettings::ledger_lock_wait`]) for a lock `holders` hold on a system catalog: its
/// kind (exit 6), its message — `what` ("migration 002_x was not run: reading the catalogs
/// before it waited") with the wait and who holds the lock — and its help, the one way out of
/// such a wait; each holder is a detail of the caller's (`held by ...`).
pub(super) fn catalog_locked_words(
    settings: &ApplySettings,
    what: &str,
    holders: &[crate::db::lock::LockHolder],
) -> (ErrorKind, String, String) {
    let message = format!(
        "{what} {} (the command's lock wait) for a lock {} holds on a system catalog",
        human(settings.ledger_lock_wait),
        crate::db::lock::who_holds(holders)
    );
    let again = format!("run {AGAIN}");
    let help = crate::db::lock::holders_help(holders, &again)
        .unwrap_or_else(|| format!("{again} when the lock is released (or raise --lock-wait)"));
    (ErrorKind::LockTimeout, message, help)
}

/// `failure`, of a step whose ledger row waited for `holders`' locks on the tracking table or
/// on its row: exit 6 naming those sessions, as a locked ledger read is — not the migration's
/// lock, and not a migration to run again. `statements_committed`: the step's statements
/// committed before its row waited (a no-transaction migration's row, written after them) —
/// the caller knows, the step's mode does not tell (its row is also tried before its
/// statements run, with nothing run).
pub(super) fn ledger_locked(
    settings: &ApplySettings,
    step: &Step<'_>,
    failure: StepFailure,
    lock: LedgerLock,
    statements_committed: bool,
) -> StepFailure {
    let LedgerLock { holders, table } = lock;
    let doing = match step.direction {
        Direction::Up => "migration",
        Direction::Down => "rolling back migration",
    };
    let mut failure = failure;
    let error = &mut failure.error;
    error.kind = ErrorKind::LockTimeout;
    error.message = format!(
        "{doing} {} ran, but writing {} {table} waited {} (the command's lock wait) for a lock \
         {} holds on it",
        step.migration.id(),
        match table == settings.table {
            true => "the tracking table",
            false => "the start markers' table",
        },
        human(settings.ledger_lock_wait),
        crate::db::lock::who_holds(&holders)
    );
    let (that, terminate) = crate::db::lock::terminate_hint(&holders);
    // Every statement committed: running the command again is refused over the run left
    // part-way (its marker); what works is the command its refusal gives.
    let committed_all = statements_committed && settings.scratch.is_none();
    let then = match (committed_all, step.direction) {
        (true, Direction::Up) => record_without_running(step),
        (true, Direction::Down) => crate::plan::rollback_committed_ways_on(
            &step.migration.version_text,
            &crate::display::path_text(&step.migration.down.path),
            "migrate down --rerun-interrupted",
        ),
        (false, _) => format!("run {AGAIN}"),
    };
    error.help = Some(match crate::db::lock::prepared_help(&holders, &then) {
        Some(help) => help,
        None if committed_all => {
            format!(
                "wait for {that} to finish (if it is stuck, end it with {terminate}); then {then}"
            )
        }
        None => format!(
            "wait for {that} to finish and run {AGAIN} (or raise --lock-wait); if \
             it is stuck, end it with {terminate}"
        ),
    });
    held_by(failure, holders)
}

#[cfg(test)]
mod tests {
    use super::super::test_file;
    use super::*;
    use crate::files::Migration;

    #[test]
    fn the_advisory_keys_a_statement_waits_for_are_read_from_its_literals() {
        use crate::db::lock::AdvisoryKey::{One, Two};
        for (statement, keys) in [
            ("SELECT pg_advisory_xact_lock(99)", vec![One(99)]),
            ("SELECT PG_CATALOG.pg_advisory_lock( -7 )", vec![One(-7)]),
            (
                "SELECT pg_advisory_xact_lock_shared(7,-2), pg_advisory_lock(7, -2)",
                vec![Two(7, -2)],
            ),
            (
                "SELECT pg_advisory_lock(1), pg_advisory_lock_shared(9223372036854775807)",
                vec![One(1), One(i64::MAX)],
            ),
            // Never waits, computed, or no such function: nothing known.
            ("SELECT pg_try_advisory_lock(1)", vec![]),
            ("SELECT pg_advisory_lock(hashtext('x'))", vec![]),
            ("SELECT pg_advisory_lock(1 + 2)", vec![]),
            ("SELECT pg_advisory_lock(3000000000, 1)", vec![]),
            ("SELECT 'pg_advisory_lock(1)'", vec![]),
        ] {
            assert_eq!(advisory_keys(statement), keys, "{statement}");
        }
    }

    #[test]
    fn a_cancel_is_a_timeout_only_when_one_in_force_could_have_fired() {
        let ms = Duration::from_millis;
        // None in force: nothing but another session cancels.
        assert_eq!(
            cancel_cause(Some(Duration::ZERO), ms(90_000)),
            CancelCause::AnotherSession {
                limit: Duration::ZERO
            }
        );
        // One in force that the run did not reach.
        assert_eq!(
            cancel_cause(Some(ms(60_000)), ms(1_500)),
            CancelCause::AnotherSession { limit: ms(60_000) }
        );
        assert_eq!(
            cancel_cause(Some(ms(200)), ms(200)),
            CancelCause::Timeout { limit: ms(200) }
        );
        // The file sets its own, to a value not read.
        assert_eq!(cancel_cause(None, ms(5)), CancelCause::Unknown);
    }

    /// The statement that set a migration's own bound for the statement at `at`: the last one
    /// at or before it; a `SET LOCAL` of an earlier statement of a no-transaction migration
    /// ended with its own transaction; with `at` unknown, the file's last, unread when the
    /// file sets several values.
    #[test]
    fn the_files_own_bound_is_the_last_set_before_the_statement() {
        use crate::files::rules::BoundTo;
        let text =
            "SET statement_timeout = '1s';\nSELECT 1;\nSET statement_timeout = '2s';\nSELECT 2;\n";
        let file = test_file(text);
        let own =
            |file: &SqlFile, at| own_bound(file, "statement_timeout", at).map(|(i, s)| (i, s.to));
        assert_eq!(own(&file, Some(1)), Some((0, BoundTo::Millis(1000))));
        assert_eq!(own(&file, Some(3)), Some((2, BoundTo::Millis(2000))));
        assert_eq!(own(&file, None), Some((2, BoundTo::Unread)));
        assert_eq!(own(&test_file("SELECT 1;\nSELECT 2;\n"), None), None);
        let local = "SET LOCAL statement_timeout = '1s';\nSELECT 1;\n";
        assert_eq!(
            own(&test_file(local), Some(1)),
            Some((0, BoundTo::Millis(1000)))
        );
        let notx = SqlFile::new(
            "m/003_x.up.sql",
            local,
            TransactionMode::NoTransaction,
            false,
        );
        assert_eq!(own(&notx, Some(1)), None);
    }

    #[test]
    fn a_copy_through_the_client_is_refused_even_right_after_a_byte_order_mark() {
        let migration = |text: &str| Migration {
            version: 3,
            version_text: "003".into(),
            name: "x".into(),
            up: test_file(text),
            down: test_file("SELECT 1;"),
        };
        let plain = migration("SELECT 1;\n");
        let bom = migration("\u{feff}COPY t FROM STDIN;\n1\n\\.\n");
        let steps = [Step::up(&plain, false), Step::up(&bom, true)];
        let (at, refusal) = copy_refusal(&steps).expect("refused");
        assert_eq!(at, 1);
        assert_eq!(refusal.location.map(|l| l.line), Some(1));
        assert_eq!(refusal.error.kind, ErrorKind::Invalid);
        assert!(copy_refusal(&steps[..1]).is_none());
    }

    /// The server writes its FATAL and closes at once: the driver often reads only the closed
    /// socket, no SQLSTATE (a fresh-clone CI run saw 57P05 arrive as no word at all). A
    /// no-transaction migration that set a tiny `idle_session_timeout` and was between two
    /// messages (running nothing) is still named; a transactional one, which leaves no idle
    /// gap, is not put down to that setting.
    #[test]
    fn a_session_closed_without_a_word_between_messages_blames_the_idle_timeout_set() {
        let text =
            "CREATE TABLE a (i int);\nSET idle_session_timeout = '1ms';\nCREATE TABLE b (i int);\n";
        let file = |mode| SqlFile::new("m.sql", text, mode, false);
        let no_tx = file(TransactionMode::NoTransaction);
        for code in [None, Some(SqlState::IDLE_SESSION_TIMEOUT.code())] {
            let own = own_session_end(&no_tx, code, 2, None).expect("named");
            assert_eq!(own.index, 1, "{code:?}");
            assert!(own.what.contains("idle_session_timeout"), "{}", own.what);
        }
        assert_eq!(own_session_end(&no_tx, None, 1, None), None, "not set yet");
        let tx = file(TransactionMode::Transaction);
        assert_eq!(own_session_end(&tx, None, 3, None), None, "no idle gap");
    }

    /// The driver reports a session the server ended while idle on the message sent after
    /// that (the FATAL read with, or instead of, the reply to the statement sent: a loaded
    /// machine's race, seen as "statement k was running"): a no-transaction statement "running"
    /// then may have finished (57P05 says the server was idle: it had), or never reached the
    /// server. The statement that set the timeout is still named — among those finished, or
    /// the one sent itself — but never one after the statement sent.
    #[test]
    fn a_session_ended_idle_is_named_when_the_next_statement_was_sent() {
        let text =
            "CREATE TABLE a (i int);\nSET idle_session_timeout = '1ms';\nCREATE TABLE b (i int);\n";
        let no_tx = SqlFile::new("m.sql", text, TransactionMode::NoTransaction, false);
        for code in [None, Some(SqlState::IDLE_SESSION_TIMEOUT.code())] {
            // The statement after the `SET` sent, or the `SET` itself (its reply and the
            // server's FATAL read together).
            for (completed, running) in [(2, 2), (1, 1)] {
                let own = own_session_end(&no_tx, code, completed, Some(running))
                    .unwrap_or_else(|| panic!("named: {code:?} {completed} {running}"));
                assert_eq!(own.index, 1, "{code:?}");
                assert!(own.what.contains("idle_session_timeout"), "{}", own.what);
            }
            assert_eq!(
                own_session_end(&no_tx, code, 0, Some(0)),
                None,
                "{code:?}: the SET not sent yet"
            );
        }
    }
}
