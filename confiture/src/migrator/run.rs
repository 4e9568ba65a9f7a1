//! What every command shares: the failure inside a run and how it becomes the [`Error`], the
//! migration lock around the work, the ledger read under it, the loop that runs migrations one
//! transaction each, and `Migrator::command` (timing, report, reconnect).

use std::time::{Duration, Instant};

use postgres::Client;

use super::report::{CommandReport, Failed, MigrationReport, Outcome, Progress, ReportedError};
use crate::db::apply::{
    self, ApplySettings, Direction, Location, SetBy, Step, StepFailure, TimeoutsSetBy,
};
use crate::db::ledger::Access;
use crate::db::lock;
use crate::db::writable;
use crate::error::{
    ConcurrentRow, Error, ErrorKind, MigrationFailure, Reason, Result, ServerError,
};
use crate::files::{self, Migration};
use crate::hint::AGAIN;
use crate::ledger::{LedgerRow, TrackingTable};
use crate::plan::Effect;
use crate::Migrator;

/// A failure inside a command, with what the report needs to know about it.
pub(super) struct RunFailure {
    pub(super) error: Error,
    pub(super) migration: Option<(String, String)>,
    /// Whether the run applied or rolled back (what `committed` means).
    pub(super) direction: Direction,
    pub(super) location: Option<Location>,
    pub(super) server: Option<ServerError>,
    /// See [`StepFailure::unknown_fate`].
    pub(super) unknown_fate: usize,
    /// See [`StepFailure::blames_file`].
    pub(super) blames_file: bool,
    /// See [`StepFailure::dropped_own_statements`].
    pub(super) dropped_own_statements: bool,
    pub(super) committed: Vec<String>,
    pub(super) not_attempted: Vec<String>,
    pub(super) unknown: Vec<String>,
    /// See [`MigrationFailure::durability_unknown`].
    pub(super) durability_unknown: Vec<String>,
    /// See [`MigrationFailure::concurrent_row`].
    pub(super) concurrent_row: Option<ConcurrentRow>,
}

impl From<Error> for RunFailure {
    fn from(error: Error) -> RunFailure {
        RunFailure {
            error,
            migration: None,
            direction: Direction::Up,
            location: None,
            server: None,
            unknown_fate: 0,
            blames_file: false,
            dropped_own_statements: false,
            committed: Vec::new(),
            not_attempted: Vec::new(),
            unknown: Vec::new(),
            durability_unknown: Vec::new(),
            concurrent_row: None,
        }
    }
}

impl RunFailure {
    pub(super) fn of_step(m: &Migration, direction: Direction, f: StepFailure) -> RunFailure {
        RunFailure {
            migration: Some((m.version_text.clone(), m.name.clone())),
            direction,
            location: f.location,
            server: f.server,
            unknown_fate: f.unknown_fate,
            blames_file: f.blames_file,
            dropped_own_statements: f.dropped_own_statements,
            ..RunFailure::from(f.error)
        }
    }

    /// A fleet's target (`in_fleet`): "fix the file" ([`RunFailure::blames_file`]) is wrong
    /// there, whichever the direction. Other targets may have run the same file already: an
    /// up file edited after they applied it is modified there (diverged), and a down file that
    /// rolled back on them is not what fails here. The help says to fix this database instead
    /// (the error names what fails on it), and the file only where no database ran it.
    pub(super) fn in_a_fleet(mut self, in_fleet: bool) -> RunFailure {
        if !in_fleet || !self.blames_file || self.error.kind != ErrorKind::MigrationFailed {
            return self;
        }
        let Some((version, name)) = &self.migration else {
            return self;
        };
        let id = crate::display::migration_id(version, name);
        self.error.help = Some(match self.direction {
            Direction::Up => format!(
                "other targets of the fleet may have applied {id} already: do not edit its file \
                 (they would see it modified); fix what makes it fail on this database (the \
                 error above names it), then run {AGAIN}, which resumes here. Edit \
                 the file only if no database has applied {id} (`migrate status` on the fleet)"
            ),
            Direction::Down => format!(
                "other targets of the fleet may have rolled back {id} with the same down file: \
                 the cause is likely on this database, not in the file; fix what makes it fail \
                 on this database (the error above names it), then run {AGAIN}. Edit the down \
                 file only if it fails on every target"
            ),
        });
        self
    }

    /// The error, with what the command knows about it as its [`Reason`]: the migration that
    /// failed and the fate of the others, or the database it concerns.
    pub(super) fn into_error(self, database: String) -> Error {
        let error = self.error;
        let reason = match (self.migration, error.reason()) {
            (Some((version, name)), _) => Reason::Migration(Box::new(MigrationFailure {
                database: Some(database),
                version,
                name,
                direction: self.direction,
                location: self.location,
                server: self.server,
                committed: self.committed,
                not_attempted: self.not_attempted,
                unknown: self.unknown,
                durability_unknown: self.durability_unknown,
                // A ledger row's lock ([`crate::db::apply`]'s `ledger_locked`): the migration
                // is what failed, and these are who it waited for.
                lock_holders: match error.reason() {
                    Reason::Lock { holders, .. } => holders.clone(),
                    _ => Vec::new(),
                },
                concurrent_row: self.concurrent_row,
                dropped_own_statements: self.dropped_own_statements,
            })),
            // A failure of no one migration: `up --single-transaction`'s COMMIT.
            (None, Reason::Other)
                if matches!(
                    error.kind,
                    ErrorKind::Connection | ErrorKind::LockTimeout | ErrorKind::MigrationFailed
                ) =>
            {
                Reason::Database { database }
            }
            (
                None,
                Reason::Lock {
                    database: None,
                    holders,
                },
            ) => Reason::Lock {
                database: Some(database),
                holders: holders.clone(),
            },
            (None, _) => return error,
        };
        error.with_reason(reason)
    }
}

pub(super) type Run<T> = std::result::Result<T, RunFailure>;

pub(super) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(super) fn versions(ms: &[&Migration]) -> Vec<String> {
    ms.iter().map(|m| m.version_text.clone()).collect()
}

pub(super) fn planned(ms: &[&Migration], direction: Direction) -> Vec<MigrationReport> {
    ms.iter()
        .map(|m| {
            let file = match direction {
                Direction::Up => &m.up,
                Direction::Down => &m.down,
            };
            MigrationReport {
                version: m.version_text.clone(),
                name: m.name.clone(),
                mode: file.mode,
                duration_ms: None,
                // The SQL as sent: without the byte-order mark the file's text keeps.
                sql: Some(crate::text::without_bom(&file.text).to_string()),
            }
        })
        .collect()
}

/// Runs `work` holding the migration lock, and releases it after, whatever happened. A lock
/// found lost at release (or out of this connection's reach) is the run's error, or a warning
/// after another error. A session that cannot write (standby,
/// read-only) is refused first. A run stopped while it waits (`stop`) ends there. `kept` is
/// set when the lock could not be given back ([`holding_lock`]). A panic of `progress` once
/// the lock is taken is returned, not resumed: the caller hands the outcome and `kept` to
/// [`Migrator::lock_kept`], which resumes it once the session no longer holds the lock.
#[allow(clippy::too_many_arguments)]
pub(super) fn with_lock<T>(
    client: &mut Client,
    target: &writable::Target,
    wait: Duration,
    stop: Option<&apply::Stop>,
    progress: &mut dyn FnMut(Progress),
    warnings: &mut Vec<String>,
    kept: &mut bool,
    work: impl FnOnce(&mut Client, lock::HeldLock, &mut dyn FnMut(Progress)) -> Run<T>,
) -> Unlocked<T> {
    // A read-only server is refused before waiting for the lock or writing anything. The
    // same round trip names the session a stop cancels from a session of its own, when the
    // connection reaches the server directly; else the lock names it, once taken.
    let mut take = || -> Result<lock::MigrationLock> {
        let (database, identity) = writable::check_session(client, target, wait, warnings)?;
        if let (Some(stop), Some(identity)) = (stop, &identity) {
            stop.on_session(identity);
        }
        let tenant = target.tenant_schema.as_deref();
        let effect = target.effect;
        lock::acquire_scoped(
            client,
            database,
            tenant,
            wait,
            stop,
            effect,
            &mut |holder| {
                progress(Progress::LockWaiting {
                    holder: holder.cloned(),
                })
            },
        )
    };
    let taken = match take() {
        Ok(taken) => taken,
        Err(error) => return Ok(Err(error.into())),
    };
    holding_lock(client, taken, stop, progress, warnings, kept, work)
}

/// [`with_lock`] once the lock is taken (`taken`): runs `work`, then releases it whatever
/// happened. `work` gets the lock to check ([`ApplySettings::held_lock`]); a lock found lost
/// at release all the same is the run's error (a warning after another error). An unlock that
/// gave up waiting for another session's lock on a catalog ([`lock::kept_by_session`]) leaves
/// the lock to the session: a warning, the run's outcome as it was, and `kept` set — the
/// caller closes the connection, which gives the lock back ([`Migrator::lock_kept`]). A
/// panic of `progress` is returned as [`with_lock`]'s is.
pub(super) fn holding_lock<T>(
    client: &mut Client,
    taken: lock::MigrationLock,
    stop: Option<&apply::Stop>,
    progress: &mut dyn FnMut(Progress),
    warnings: &mut Vec<String>,
    kept: &mut bool,
    work: impl FnOnce(&mut Client, lock::HeldLock, &mut dyn FnMut(Progress)) -> Run<T>,
) -> Unlocked<T> {
    // From now on a stop cancels through the session holding the lock, whichever way the lock
    // was taken (waited for here, or on the connecting thread: `up_ahead`).
    if let Some(stop) = stop {
        stop.on_session(taken.backend());
        // Taken on the connecting thread (`up_ahead`), it is the run's from here.
        stop.lock_taken();
    }
    let (held, waited_ms) = (taken.held(), ms(taken.waited));
    let work = std::panic::AssertUnwindSafe(|| {
        progress(Progress::LockAcquired { waited_ms });
        work(client, held, progress)
    });
    let result = match std::panic::catch_unwind(work) {
        Ok(result) => result,
        Err(panic) => {
            // The caller's progress callback panicked (it is the only code here that may):
            // its panic goes on, but the session it leaves behind — kept by a `Migrator` that
            // lives on, or handed back — must not hold what every other runner and reader
            // waits for. Events come between messages, never during one, so the session
            // answers at once: the transaction open at that point (the tracking table's DDL,
            // not committed) is rolled back, and the lock released — or, when the unlock
            // gives up, left to the session, which the caller closes before resuming the
            // panic ([`Migrator::lock_kept`]).
            if !client.is_closed() {
                let _ = client.batch_execute("ROLLBACK");
                *kept = taken
                    .release(client)
                    .is_err_and(|e| lock::kept_by_session(&e));
            }
            return Err(panic);
        }
    };
    if client.is_closed() {
        // The server released it with the session.
        return Ok(result);
    }
    Ok(released(taken.release(client), result, warnings, kept))
}

/// What [`with_lock`] and [`holding_lock`] return: the run's outcome, or the panic of the
/// caller's progress callback, for [`Migrator::lock_kept`] to resume.
pub(super) type Unlocked<T> = std::thread::Result<Run<T>>;

/// A run's outcome (`result`) once its unlock answered (`unlock`): the one decision of what an
/// unlock that failed does to it, for [`holding_lock`] and for `up`'s connecting thread
/// ([`super::up_ahead`]), which gives the lock back after its ledger read failed. An unlock
/// that gave up waiting for another session's lock on a catalog ([`lock::kept_by_session`])
/// sets `kept`: the caller has [`Migrator::lock_kept`] close the connection.
pub(super) fn released<T>(
    unlock: Result<()>,
    result: Run<T>,
    warnings: &mut Vec<String>,
    kept: &mut bool,
) -> Run<T> {
    match (unlock, result) {
        // The run's outcome stands: the lock ends with the connection, which the caller closes.
        (Err(still), result) if lock::kept_by_session(&still) => {
            *kept = true;
            warnings.push(match &still.help {
                Some(help) => format!("{} ({help})", still.message_with_cause()),
                None => still.message_with_cause(),
            });
            result
        }
        // The run failed and the session is gone (the failure said so, or the unlock is the
        // first to see it): a session-level lock ends with its session, so there is nothing
        // left to release, and nothing to warn about. (A run that succeeded keeps its exit 3:
        // its lock's end is not seen.)
        (Err(lost), Err(failure))
            if lost
                .driver_error()
                .is_some_and(crate::db::is_connection_lost) =>
        {
            Err(failure)
        }
        // The run did what it was asked, but the lock was lost, or the connection no longer
        // reaches the server session holding it (a transaction-pooling pooler): never exit 0.
        (Err(lost), Ok(_)) => Err(RunFailure::from(lost)),
        (Err(lost), result) => {
            warnings.push(match &lost.help {
                Some(help) => format!("{} ({help})", lost.message_with_cause()),
                None => lost.message_with_cause(),
            });
            result
        }
        (Ok(()), result) => result,
    }
}

/// The ledger's rows and what this role may do to it; when the table does not exist, where
/// this session would create it, found out in the same read
/// ([`crate::db::ledger::Creation`]: what a writing command refuses a ledger with nowhere to
/// be created by, [`crate::db::ledger::refuse_nowhere_to_create`], at no round trip of its
/// own). Writing commands create the table only after their plan is accepted. `wait` bounds
/// the read's wait for a lock another session holds on the ledger (the command's
/// `--lock-wait`, exit 6); `stop` ends it at once ([`crate::db::ledger::read_or_creation`]).
pub(super) fn read_ledger(
    client: &mut Client,
    table: &TrackingTable,
    wait: Duration,
    stop: Option<&apply::Stop>,
    site: crate::ledger::BuildSite<'_>,
) -> Result<std::result::Result<LedgerRead, crate::db::ledger::Creation>> {
    let found = crate::db::ledger::read_or_creation(client, table, wait, stop, site)?;
    Ok(found.map(|found| {
        (
            (found.ledger.rows, found.access),
            found.ledger.started,
            found.table,
        )
    }))
}

/// A ledger's rows and what this role may do to it.
pub(super) type LedgerFound = (Vec<LedgerRow>, Access);

/// What [`read_ledger`] found of an existing ledger: its rows and access, its start markers,
/// and the table as the server resolved it.
pub(super) type LedgerRead = (LedgerFound, Vec<crate::ledger::StartedRun>, TrackingTable);

/// `settings` writing the ledger by the schema-qualified name the server resolved `table` to
/// (a migration's `search_path` must not send its row elsewhere), and the ledger's rows.
/// Creates the table first when `create` and it does not exist yet.
/// With the rows comes what this role may do to the table (`None` when it does not exist):
/// callers check it once they know they will write, before anything runs.
/// `wait` bounds the read's wait for a lock another session holds on the ledger (exit 6); the
/// run's stop ([`ApplySettings::stop`]) ends it at once. `site`: where the run's migrations
/// build ([`crate::db::ledger::read_at`]). A table that does not exist comes with where the
/// session would create it ([`crate::db::ledger::Creation`]).
pub(super) fn qualified_settings(
    client: &mut Client,
    settings: &ApplySettings,
    wait: Duration,
    site: crate::ledger::BuildSite<'_>,
) -> Result<(
    ApplySettings,
    Option<LedgerFound>,
    crate::db::ledger::Creation,
)> {
    let stop = settings.stop.as_ref();
    let read = crate::db::ledger::read_or_creation(client, &settings.table, wait, stop, site)?;
    let (table, found, markers, creation) = match read {
        Ok(found) => (
            found.table,
            Some((found.ledger.rows, found.access)),
            found.ledger.started,
            crate::db::ledger::Creation::Unasked,
        ),
        Err(creation) => (settings.table.clone(), None, Vec::new(), creation),
    };
    Ok((
        ApplySettings {
            table,
            markers,
            ledger_triggers: found.as_ref().is_some_and(|(_, access)| access.triggers),
            ..settings.clone()
        },
        found,
        creation,
    ))
}

/// What [`Migrator::writing_session`] gives a run that writes: the client, its target, the
/// stop's watch and the environment.
pub(super) type WritingSession<'m> = (
    &'m mut Client,
    writable::Target,
    Option<apply::Stop>,
    crate::config::Environment,
);

/// What [`Migrator::applying_session`] gives `up` and `down`: the settings they apply with,
/// the client, its target and the environment.
pub(super) type ApplyingSession<'m> = (
    ApplySettings,
    &'m mut Client,
    writable::Target,
    crate::config::Environment,
);

impl Migrator {
    /// The settings `up` and `down` apply with: the options' timeouts over the environment's,
    /// and whether an interrupted no-transaction migration may run again.
    pub(super) fn apply_settings(
        &self,
        lock_timeout: Option<Duration>,
        statement_timeout: Option<Duration>,
        lock_wait: Duration,
        rerun_interrupted: bool,
    ) -> ApplySettings {
        let m = &self.env.migration;
        let defaults = crate::config::MigrationSettings::default();
        let set_by = |given: bool, from_env: bool| SetBy::of(given, &self.env, from_env);
        ApplySettings {
            table: m.tracking_table.clone(),
            lock_timeout: lock_timeout.unwrap_or(m.lock_timeout),
            statement_timeout: self.run_statement_timeout(statement_timeout),
            timeouts_set_by: TimeoutsSetBy {
                lock: set_by(
                    lock_timeout.is_some(),
                    m.lock_timeout != defaults.lock_timeout,
                ),
                statement: set_by(statement_timeout.is_some(), m.statement_timeout.is_some()),
            },
            lock_retries: m.lock_retries,
            ledger_lock_wait: lock_wait,
            held_lock: None,
            stop: None,
            scratch: self.on_scratch,
            ledger_triggers: false,
            in_fleet: self.in_fleet,
            rerun_interrupted,
            markers: Vec::new(),
            holders_from: Some(self.env.clone()),
            without_options: false,
        }
    }

    /// The `statement_timeout` `up`'s and `down`'s migrations run under: the command's
    /// (`--statement-timeout`), else the environment's (`migration.statement_timeout`), else
    /// none of the run's (the connection's, `None`). It decides what their session starts with
    /// ([`crate::db::connect::Need::writing`]).
    pub(super) fn run_statement_timeout(&self, given: Option<Duration>) -> Option<Duration> {
        given.or(self.env.migration.statement_timeout)
    }

    /// After a run whose unlock gave up ([`holding_lock`]'s `kept`, [`released`]'s): the
    /// session still holds the migration lock, which every other run waits for, and only the
    /// connection's end gives it back. This session's own connection is closed (the next
    /// command opens another); one handed over ([`Migrator::with_client`]) is the caller's to
    /// close, which the run's warning says. `run` is the run's outcome as [`with_lock`]
    /// returned it: a panic of the caller's progress callback, which it caught, is resumed
    /// once the connection is closed — a `Migrator` that lives on must not keep the lock.
    pub(super) fn lock_kept<T>(&mut self, kept: bool, run: std::thread::Result<T>) -> T {
        if kept {
            self.close_own_session();
        }
        run.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// The session a run that writes works on ([`Migrator::client_for_writing`]), with its
    /// target, the watch that stops it from outside (Ctrl-C: the wait for the lock ends, the
    /// transaction in flight is cancelled and rolled back; a lasting wait names who is in the
    /// way) and the environment: the one start of `up`, `down` and the ledger rewrites
    /// (`effect`: what the command does with its migrations).
    /// `need`: [`crate::db::connect::Need::writing`] of the run's `statement_timeout`
    /// ([`Migrator::run_statement_timeout`]), or `WriteBounded` for a command that runs no
    /// migration.
    pub(super) fn writing_session(
        &mut self,
        effect: Effect,
        need: crate::db::connect::Need,
    ) -> Result<WritingSession<'_>> {
        let (env, stop, waits) = (self.env.clone(), self.stop.clone(), self.waits.clone());
        let lock_taken = self.lock_taken.clone();
        // Not taken yet, whatever an earlier command took: said before anything can fail.
        lock_taken.set(false);
        let (client, target) = self.client_for_writing(effect, need)?;
        let stop = stop.map(|flag| {
            apply::Stop::watch(flag, client, &env)
                .report_waits(waits)
                .telling(lock_taken)
        });
        Ok((client, target, stop, env))
    }

    /// The start of `up` and `down`'s run: their session ([`Migrator::writing_session`]) and
    /// the settings they apply with ([`Migrator::apply_settings`]), stopped by the session's
    /// watch.
    pub(super) fn applying_session(
        &mut self,
        lock_timeout: Option<Duration>,
        statement_timeout: Option<Duration>,
        lock_wait: Duration,
        rerun_interrupted: bool,
    ) -> Result<ApplyingSession<'_>> {
        let mut settings = self.apply_settings(
            lock_timeout,
            statement_timeout,
            lock_wait,
            rerun_interrupted,
        );
        let need = crate::db::connect::Need::writing(settings.statement_timeout);
        let (client, target, stop, env) = self.writing_session(Effect::Runs, need)?;
        settings.stop = stop;
        settings.without_options = target.reached.as_ref().is_some_and(|r| r.without_options);
        Ok((settings, client, target, env))
    }

    /// The ledger a dry run reads: its rows and the start markers beside it
    /// ([`crate::ledger::Ledger::started`]), what the run it previews would refuse by, with
    /// the table as the server resolved it and what this role may do to it
    /// ([`crate::db::ledger::Access`]): the same read as the run's, so that the dry run refuses
    /// a ledger the run may not write as the run does. A refusal of its session says what the
    /// command (`effect`) did not do; what its pooler check could not tell is added to
    /// `warnings`.
    pub(super) fn read_ledger_as_is(
        &mut self,
        wait: Duration,
        effect: Effect,
        warnings: &mut Vec<String>,
    ) -> Result<Option<crate::db::ledger::Found>> {
        let table = self.env.migration.tracking_table.clone();
        let (env, stop, waits) = (self.env.clone(), self.stop.clone(), self.waits.clone());
        self.client_for(crate::db::connect::Need::Read, effect)?;
        let dialled = self.reached.as_ref().and_then(|r| r.dialled);
        let Some(client) = self.client.as_mut() else {
            return Err(Error::connection("not connected"));
        };
        // What the run refuses of its session, its dry run refuses: a read-only database, a
        // transaction-pooling pooler.
        let reached = self.reached.as_ref();
        crate::db::writable::check_preview(client, &env, reached, effect, wait, warnings)?;
        // A dry run waits for a lock on the ledger no longer than the command's `--lock-wait`,
        // and is stopped from outside (Ctrl-C) as the run it previews is: exit 6 or 130. No
        // round trip of its own comes before the read to learn the server session from (which
        // a stop cancels the read from a session of its own): it is asked first. A lasting wait
        // names who is in the way, as the run's would.
        let stop = stop
            .map(|flag| apply::Stop::watch_direct(flag, client, dialled, &env).report_waits(waits));
        let site = crate::ledger::BuildSite::of(&env);
        let found =
            crate::db::ledger::read_unless_stopped(client, &table, wait, stop.as_ref(), site)?;
        // Start markers of a run going on are its migrations, not runs left part-way: the
        // preview refuses them as its run would wait for that run (exit 6).
        let markers = found.as_ref().map_or(&[][..], |f| &f.ledger.started[..]);
        crate::db::lock::refuse_markers_of_run_going_on(
            client,
            &env,
            markers,
            wait,
            "nothing was previewed",
        )?;
        Ok(found)
    }

    /// Names the database in connection-level errors raised mid-run, as a detail line unless
    /// the error already says which (the connection's own errors name it in their message),
    /// and as data in every error ([`Error::database`]).
    fn with_database(&self, mut failure: RunFailure) -> Error {
        let database = self.env.connection.to_string();
        if matches!(
            failure.error.kind,
            ErrorKind::Connection | ErrorKind::LockTimeout
        ) && failure.error.database().is_none()
        {
            failure.error.details.push(format!("database: {database}"));
        }
        failure.into_error(database)
    }

    /// Runs one command off an async runtime ([`Migrator::off_runtime`]), or, when it can be
    /// stopped ([`Migrator::stop_when`]), on a thread of its own that a stop the server does
    /// not answer is not held by ([`Migrator::bounded`]): times it, names the
    /// database in connection-level errors, drops a connection the server closed (the next
    /// call reconnects), and fills in the report's duration and errors — the report so far
    /// travels with a failure.
    pub(super) fn command<R: CommandReport + super::bounded::CutShort + Send + 'static>(
        &mut self,
        dry_run: bool,
        progress: &mut dyn FnMut(Progress),
        run: impl FnOnce(&mut Self, &mut dyn FnMut(Progress), &mut R) -> Run<()> + Send + 'static,
    ) -> Outcome<R> {
        match self.stop.clone() {
            Some(flag) => self.bounded(flag, progress, move |m, progress| {
                m.command_here(dry_run, progress, run)
            }),
            None => self.off_runtime(progress, |m, progress| {
                m.command_here(dry_run, progress, run)
            }),
        }
    }

    /// [`Migrator::command`] on the thread it runs on.
    fn command_here<R: CommandReport>(
        &mut self,
        dry_run: bool,
        progress: &mut dyn FnMut(Progress),
        run: impl FnOnce(&mut Self, &mut dyn FnMut(Progress), &mut R) -> Run<()>,
    ) -> Outcome<R> {
        {
            let m = self;
            let mut report = R::starting(dry_run);
            let start = Instant::now();
            let result = run(m, progress, &mut report).map_err(|f| m.with_database(f));
            let result = result.map_err(|mut error| {
                if let (command, false) = R::COMMAND {
                    crate::db::connect::for_existing_database(&mut error, &m.env, command);
                }
                error
            });
            let result = m.suggested_for(result, dry_run).map_err(|mut error| {
                // A library session (its suggestions completed for it) names its options'
                // fields where the texts name the command line's flags; the CLI's stay.
                if !m.suggest.is_empty() {
                    super::options::name_fields(&mut error, R::OPTIONS);
                }
                error
            });
            m.forget_lost_connection(super::Probe::Known);
            let elapsed = ms(start.elapsed());
            match result {
                Ok(()) => {
                    report.close(elapsed, None);
                    Ok(report)
                }
                Err(error) => {
                    report.close(elapsed, Some(ReportedError::of(&error)));
                    Err(Failed { error, report })
                }
            }
        }
    }
}

pub(super) fn done(
    m: &Migration,
    file: &files::SqlFile,
    duration: Option<Duration>,
) -> MigrationReport {
    MigrationReport {
        version: m.version_text.clone(),
        name: m.name.clone(),
        mode: file.mode,
        duration_ms: duration.map(ms),
        sql: None,
    }
}

/// Runs migrations one transaction each, several transactions to a message (see
/// [`apply::run_steps`]); only the last commits synchronously: a run that ends before it (a
/// failure, a stop) makes those that committed durable first ([`apply::make_durable`]), and
/// when it cannot (the session is gone) names them as
/// [`MigrationFailure::durability_unknown`]. `ledger`: the tracking table's
/// DDL, sent and not committed, which commits with the run's first message
/// ([`apply::run_steps`]). Progress is reported per
/// migration, as each message returns.
pub(super) fn run_each(
    client: &mut Client,
    settings: &ApplySettings,
    steps: &[Step<'_>],
    ledger: Option<apply::PendingLedger>,
    progress: &mut dyn FnMut(Progress),
    warnings: &mut Vec<String>,
    on_done: &mut dyn FnMut(&Migration, Option<Duration>),
) -> Run<()> {
    let Some(direction) = steps.first().map(|s| s.direction) else {
        return Ok(());
    };
    progress(Progress::Planned {
        direction,
        count: steps.len(),
        versions: steps
            .iter()
            .map(|step| step.migration.version_text.clone())
            .collect(),
    });
    apply::run_steps(
        client,
        settings,
        steps,
        apply::BatchLimits::default(),
        ledger,
        &mut |event| match event {
            apply::StepEvent::Sent(message) => progress(Progress::Sent {
                versions: steps[message]
                    .iter()
                    .map(|step| step.migration.version_text.clone())
                    .collect(),
                direction,
            }),
            apply::StepEvent::Started(i) => {
                let step = &steps[i];
                progress(Progress::Started {
                    version: step.migration.version_text.clone(),
                    name: step.migration.name.clone(),
                    direction,
                    mode: step.file().mode,
                });
            }
            apply::StepEvent::Retrying {
                step,
                attempt,
                delay,
            } => {
                let m = steps[step].migration;
                progress(Progress::Retrying {
                    version: m.version_text.clone(),
                    name: m.name.clone(),
                    attempt,
                    delay_ms: ms(delay),
                });
            }
            apply::StepEvent::Notice { steps: of, notice } => {
                let (event, warning) = server_notice(&steps[of], direction, notice);
                warnings.extend(warning);
                progress(event);
            }
            apply::StepEvent::Finished(i, outcome) => {
                let m = steps[i].migration;
                progress(Progress::Finished {
                    version: m.version_text.clone(),
                    name: m.name.clone(),
                    direction,
                    duration_ms: outcome.duration.map(ms),
                });
                on_done(m, outcome.duration);
            }
        },
    )
    .map_err(|(i, failure)| {
        let mut f = RunFailure::of_step(steps[i].migration, direction, failure);
        // Steps before `i` committed, but asynchronously: the run's last commit, which would
        // have flushed them, never came.
        let committed = &steps[..i];
        if committed.is_empty() {
            return f;
        }
        let versions: Vec<String> = committed
            .iter()
            .map(|s| s.migration.version_text.clone())
            .collect();
        let wait = settings.ledger_lock_wait;
        // The session lost: of unknown durability. Alive, its lock wait over: said, and
        // flushed by the server in a moment.
        let not_made = match client.is_closed() {
            true => Some(None),
            false => apply::make_durable(client, wait)
                .err()
                .map(|e| apply::not_made_durable(&e, wait, &crate::display::versions(&versions))),
        };
        match not_made {
            None => {}
            Some(Some(detail)) => f.error = f.error.with_detail(detail),
            Some(None) => f.durability_unknown = versions,
        }
        f
    })
}

/// What the server said while `steps` ran (one migration, or one of the several of a message
/// or of a run's dropped notices): its [`Progress::ServerNotice`] and, for a `WARNING`, the
/// report's warning. Names two migrations at most, however many `steps` has.
pub(super) fn server_notice(
    steps: &[Step<'_>],
    direction: Direction,
    notice: crate::db::notices::Notice,
) -> (Progress, Option<String>) {
    let migration = steps.first().map(|s| s.migration.id()).unwrap_or_default();
    let through = match steps {
        [_, .., last] => Some(last.migration.id()),
        _ => None,
    };
    let warning = notice.is_warning().then(|| {
        let from = match (&through, direction) {
            (None, Direction::Up) => format!("migration {migration}"),
            (None, Direction::Down) => format!("the rollback of migration {migration}"),
            (Some(last), Direction::Up) => format!("one of migrations {migration}..{last}"),
            (Some(last), Direction::Down) => {
                format!("the rollback of one of migrations {migration}..{last}")
            }
        };
        let mut text = format!("{} from {from}: {}", notice.severity, notice.message);
        if let Some(detail) = &notice.detail {
            text.push_str(&format!("; DETAIL: {detail}"));
        }
        if let Some(hint) = &notice.hint {
            text.push_str(&format!("; HINT: {hint}"));
        }
        text
    });
    let event = Progress::ServerNotice {
        migration,
        through,
        direction,
        severity: notice.severity,
        message: notice.message,
        detail: notice.detail,
        hint: notice.hint,
    };
    (event, warning)
}
