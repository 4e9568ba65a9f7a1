//! `Migrator::up`, `down`, `baseline` and `reinit`: the commands that change a database, their
//! options, progress events and reports.
//!
//! Every command refuses what it can before connecting (bad flags, lint errors), takes the
//! migration lock on the connection that does the work, reads the ledger *after* the lock (a
//! runner that waited finds the work done and succeeds), plans with [`crate::plan`], and runs
//! with `db::apply` (crate-private). Dry runs read but never write: no table, no lock, no row.
//!
//! A failed command returns [`Failed`]: the error (its kind decides the exit code) and the
//! report of what was done before it, with the error in `errors` — the JSON a deploy script reads.

// Failures carry the report and file position a deploy script needs; they are the cold path,
// so their size does not matter and boxing would only make the public API clumsier.
#![allow(clippy::result_large_err)]

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use postgres::Client;
use serde::Serialize;

pub use crate::db::apply::Direction;
use crate::db::apply::{self, ApplySettings, Location, Step, StepFailure};
use crate::db::ledger::{self, Access, Write};
use crate::db::lock;
pub use crate::db::lock::LockHolder;
use crate::db::writable;
use crate::display;
use crate::error::{Error, ErrorKind, MigrationFailure, Reason, Result, ServerError};
use crate::files::{self, Migration, MigrationSet, TransactionMode};
use crate::history::{FileErrors, History};
use crate::ledger::{LedgerRow, Rewrite, TrackingTable};
use crate::plan;
use crate::Migrator;

/// Default for how long to wait for the migration lock (the CLI's `--lock-wait`).
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(30);

/// Options of `migrate up`. `Default` applies every pending migration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpOptions {
    /// Apply at most this many (≥ 1; 0 is a usage error).
    pub steps: Option<u32>,
    /// Apply pending migrations through this version (which must exist).
    pub target: Option<u64>,
    /// Connect and plan, write nothing (no tracking table, no lock); the report carries each
    /// planned migration's SQL.
    pub dry_run: bool,
    /// All pending migrations in one transaction; refused if one is `no-transaction`.
    pub single_transaction: bool,
    /// Apply pending migrations numbered below the newest applied one instead of refusing.
    pub allow_out_of_order: bool,
    /// How long to wait for the migration lock held by another run (exit 6 after).
    pub lock_wait: Duration,
    /// `lock_timeout` for migration SQL; overrides `migration.lock_timeout`.
    pub lock_timeout_statement: Option<Duration>,
    /// `statement_timeout` for migration SQL; overrides `migration.statement_timeout`.
    pub statement_timeout: Option<Duration>,
    /// Create the database when it does not exist. It is connected to first; only a missing
    /// one needs the `postgres` (else `template1`) maintenance database. A dry run says it would
    /// create it and plans on an empty ledger.
    pub create_database: bool,
}

setters!(UpOptions {
    steps: Option<u32>,
    target: Option<u64>,
    dry_run: bool,
    single_transaction: bool,
    allow_out_of_order: bool,
    lock_wait: Duration,
    lock_timeout_statement: Option<Duration>,
    statement_timeout: Option<Duration>,
    create_database: bool,
});

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            steps: None,
            target: None,
            dry_run: false,
            single_transaction: false,
            allow_out_of_order: false,
            lock_wait: DEFAULT_LOCK_WAIT,
            lock_timeout_statement: None,
            statement_timeout: None,
            create_database: false,
        }
    }
}

/// Options of `migrate down`. `Default` rolls back the newest applied migration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DownOptions {
    /// Roll back this many (default 1; 0 is a usage error).
    pub steps: Option<u32>,
    /// Roll back every migration after this version; 0 means all and needs `yes`.
    pub target: Option<u64>,
    /// Confirm a rollback of every migration (`--target 0` needs it).
    pub yes: bool,
    /// Plan and report, changing nothing.
    pub dry_run: bool,
    /// Roll back a migration whose up file changed since it was applied (refused otherwise,
    /// exit 7): its down file is trusted to undo what was run.
    pub allow_modified: bool,
    /// How long to wait for the migration lock held by another run.
    pub lock_wait: Duration,
    /// `lock_timeout` for each migration's statements (default: the environment's).
    pub lock_timeout_statement: Option<Duration>,
    /// `statement_timeout` for each migration's statements (default: the environment's).
    pub statement_timeout: Option<Duration>,
}

setters!(DownOptions {
    steps: Option<u32>,
    target: Option<u64>,
    yes: bool,
    dry_run: bool,
    allow_modified: bool,
    lock_wait: Duration,
    lock_timeout_statement: Option<Duration>,
    statement_timeout: Option<Duration>,
});

impl Default for DownOptions {
    fn default() -> Self {
        DownOptions {
            steps: None,
            target: None,
            yes: false,
            dry_run: false,
            allow_modified: false,
            lock_wait: DEFAULT_LOCK_WAIT,
            lock_timeout_statement: None,
            statement_timeout: None,
        }
    }
}

/// Options of `migrate baseline --through VERSION`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BaselineOptions {
    /// Record every migration through this version as applied.
    pub through: u64,
    /// Plan and report, changing nothing.
    pub dry_run: bool,
    /// How long to wait for the migration lock held by another run.
    pub lock_wait: Duration,
}

setters!(BaselineOptions {
    dry_run: bool,
    lock_wait: Duration,
});

impl BaselineOptions {
    /// Options recording every migration through `version`, with the default lock wait.
    pub fn through(version: u64) -> BaselineOptions {
        BaselineOptions {
            through: version,
            dry_run: false,
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }
}

/// Options of `migrate reinit [--through VERSION]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReinitOptions {
    /// Also record the files with no row through this version (which must exist) as applied,
    /// without running them, and forget the rows above it. Without it, `reinit` only rewrites
    /// the rows the ledger already has.
    pub through: Option<u64>,
    /// Plan and report, changing nothing.
    pub dry_run: bool,
    /// How long to wait for the migration lock held by another run.
    pub lock_wait: Duration,
}

setters!(ReinitOptions {
    through: Option<u64>,
    dry_run: bool,
    lock_wait: Duration,
});

impl Default for ReinitOptions {
    fn default() -> Self {
        ReinitOptions {
            through: None,
            dry_run: false,
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }
}

/// What a running command reports as it goes; the CLI renders these on stderr.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Progress {
    /// Another run holds the migration lock; polling until `lock_wait`.
    LockWaiting {
        /// Who holds it, when the server could tell.
        holder: Option<LockHolder>,
    },
    /// The migration lock was taken.
    LockAcquired {
        /// How long it was waited for.
        waited_ms: u64,
    },
    /// `--create-database` created the database (named by `database`, its name on the server).
    DatabaseCreated {
        /// The database's name on the server.
        database: String,
    },
    /// A dry run of `--create-database`: the database does not exist and would be created.
    WouldCreateDatabase {
        /// The database's name on the server.
        database: String,
    },
    /// Nothing to apply or roll back (for `up`, possibly because the run we waited for did it:
    /// "already up to date").
    UpToDate,
    /// The run will apply (or roll back) `count` migrations one by one: sent once, before the
    /// first starts (not for `--single-transaction`, where all commit together).
    Planned {
        /// Applying (up) or rolling back (down).
        direction: Direction,
        /// How many migrations.
        count: usize,
    },
    /// A migration starts.
    Started {
        /// Its version, as in its file name.
        version: String,
        /// Its name, as in its file name.
        name: String,
        /// Applying (up) or rolling back (down).
        direction: Direction,
        /// Whether it runs in a transaction.
        mode: TransactionMode,
    },
    /// The migration hit `lock_timeout` (or a deadlock) and will be retried after `delay_ms`.
    Retrying {
        /// Its version, as in its file name.
        version: String,
        /// Its name, as in its file name.
        name: String,
        /// The attempt about to start (2 for the first retry).
        attempt: u32,
        /// The wait before it.
        delay_ms: u64,
    },
    /// A migration finished and its ledger row is written.
    Finished {
        /// Its version, as in its file name.
        version: String,
        /// Its name, as in its file name.
        name: String,
        /// Applying (up) or rolling back (down).
        direction: Direction,
        /// `None` when not known (never a share of a message's time).
        duration_ms: Option<u64>,
    },
}

/// One migration in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MigrationReport {
    /// Its version, as in its file name.
    pub version: String,
    /// Its name, as in its file name.
    pub name: String,
    /// Whether it ran (would run) in a transaction.
    pub mode: TransactionMode,
    /// Time the migration took, including retries (measured by the server when it travelled
    /// in one message with others); `null` in a dry run.
    pub duration_ms: Option<u64>,
    /// The SQL that would run (dry runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

/// The error object: how every failure appears in JSON, in a report's `errors` and alone
/// (`{"error": ..., "errors": [...]}` when a command fails before it has a report). Built from
/// the [`Error`]'s data only ([`ReportedError::of`]); every key is always present (`null` or
/// empty when it does not apply), so that one parser reads every failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReportedError {
    /// `migration_failed`, `lock_timeout`, `diverged`, ... (the [`ErrorKind`] in snake case).
    pub kind: &'static str,
    /// The process exit code this error maps to (see [`crate::exit`]).
    pub exit_code: u8,
    /// The error's message, with its cause.
    pub message: String,
    /// Further lines of context (database, holder of a lock, ...).
    pub details: Vec<String>,
    /// What to do about it, when there is something to do.
    pub help: Option<String>,
    /// The database it concerns, `user@host:port/db` (never the password).
    pub database: Option<String>,
    /// The migration's version, when the error is in one.
    pub version: Option<String>,
    /// The migration's name, when the error is in one.
    pub name: Option<String>,
    /// The file the error is in, as the diagnostics name it.
    pub file: Option<PathBuf>,
    /// The 1-based line in `file`, when known.
    pub line: Option<u32>,
    /// The 1-based column in `file`, when known.
    pub column: Option<u32>,
    /// The server's SQLSTATE, when the server raised it.
    pub sqlstate: Option<String>,
    /// The server's own message, when the server reported the failure.
    pub server_message: Option<String>,
    /// Migrations this run committed before the failure (applied, or rolled back by `down`).
    pub committed: Vec<String>,
    /// Migrations not attempted after the failure.
    pub not_attempted: Vec<String>,
    /// Migrations whose fate is unknown (the connection was lost while they ran).
    pub unknown: Vec<String>,
    /// The sessions holding a lock that was not acquired in time.
    pub lock_holders: Vec<LockHolder>,
    /// The file problems behind an `invalid` refusal (also in `details` as text).
    pub diagnostics: Vec<crate::Diagnostic>,
}

impl ReportedError {
    /// The error object of `error`, from its kind and [`Reason`].
    pub fn of(error: &Error) -> ReportedError {
        let mut reported = ReportedError {
            kind: error.kind.name(),
            exit_code: error.exit_code(),
            message: error.to_string(),
            details: error.details.clone(),
            help: error.help.clone(),
            database: error.database().map(str::to_string),
            version: None,
            name: None,
            file: None,
            line: None,
            column: None,
            sqlstate: None,
            server_message: None,
            committed: Vec::new(),
            not_attempted: Vec::new(),
            unknown: Vec::new(),
            lock_holders: Vec::new(),
            diagnostics: error.diagnostics.to_vec(),
        };
        match error.reason() {
            Reason::Migration(m) => {
                reported.version = Some(m.version.clone());
                reported.name = Some(m.name.clone());
                reported.file = m.location.as_ref().map(|l| l.path.clone());
                reported.line = m.location.as_ref().map(|l| l.line);
                reported.column = m.location.as_ref().map(|l| l.column);
                reported.sqlstate = m.server.as_ref().map(|s| s.sqlstate.clone());
                reported.server_message = m.server.as_ref().map(|s| s.message.clone());
                reported.committed = m.committed.clone();
                reported.not_attempted = m.not_attempted.clone();
                reported.unknown = m.unknown.clone();
            }
            Reason::Lock { holders, .. } => reported.lock_holders = holders.clone(),
            _ => {}
        }
        reported
    }
}

/// The result of `migrate up`, serialised as the seed's JSON (`applied`, `skipped`, `errors`,
/// `total_duration_ms`) plus our additions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UpReport {
    /// Versions applied by this run, in order.
    pub applied: Vec<String>,
    /// Versions whose fate is unknown: the connection was lost while they ran and could not be
    /// re-established to read the ledger; they may have committed (`migrate status` tells).
    /// Never also in `skipped`.
    pub unknown: Vec<String>,
    /// Pending versions this run did not apply: beyond `steps`/`target`, or not attempted after
    /// a failure.
    pub skipped: Vec<String>,
    /// What failed (one entry at most today; a list so that the JSON can grow).
    pub errors: Vec<ReportedError>,
    /// Wall-clock time of the whole command.
    pub total_duration_ms: u64,
    /// Details of the applied migrations (of the planned ones in a dry run).
    pub migrations: Vec<MigrationReport>,
    /// Whether this was a dry run (nothing changed).
    pub dry_run: bool,
    /// Problems that did not fail the run (e.g. the lock was lost before release).
    pub warnings: Vec<String>,
}

/// The result of `migrate down`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DownReport {
    /// Versions rolled back by this run, in the order they were rolled back.
    pub rolled_back: Vec<String>,
    /// What failed (one entry at most today; a list so that the JSON can grow).
    pub errors: Vec<ReportedError>,
    /// Wall-clock time of the whole command.
    pub total_duration_ms: u64,
    /// Details of the rolled-back migrations (of the planned ones in a dry run).
    pub migrations: Vec<MigrationReport>,
    /// Whether this was a dry run (nothing changed).
    pub dry_run: bool,
    /// Problems that did not fail the run (e.g. the lock was lost before release).
    pub warnings: Vec<String>,
}

/// The result of `migrate baseline`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BaselineReport {
    /// Versions recorded as applied without running them.
    pub baselined: Vec<String>,
    /// Versions through `--through` that were already recorded (left as they are).
    pub skipped: Vec<String>,
    /// What failed (one entry at most today; a list so that the JSON can grow).
    pub errors: Vec<ReportedError>,
    /// Wall-clock time of the whole command.
    pub total_duration_ms: u64,
    /// Whether this was a dry run (nothing changed).
    pub dry_run: bool,
    /// Problems that did not fail the run (e.g. the lock was lost before release).
    pub warnings: Vec<String>,
}

/// One row of a `reinit` report: what happens (happened) to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReinitRow {
    /// `keep`, `accept`, `record` or `forget`.
    pub action: plan::ReinitAction,
    /// The version as the ledger will record it (the file's spelling), or as the row has it.
    pub version: String,
    /// The migration's name (from its file, else from the row).
    pub name: String,
    /// The row's `version` as stored before (null for a row `record` adds).
    pub recorded_version: Option<String>,
    /// The checksum the row had (null for `record`).
    pub recorded_checksum: Option<String>,
    /// The up file's checksum (null when no file is on disk).
    pub checksum: Option<String>,
    /// When it was applied, kept by `keep` and `accept` (null for `record`).
    pub applied_at: Option<String>,
    /// Whether a migration file for this version is on disk: a forgotten row with a file is
    /// pending again, and the next `up` runs it.
    pub file_on_disk: bool,
}

/// The result of `migrate reinit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReinitReport {
    /// Ledger rows deleted (`forgotten`).
    pub deleted_count: u64,
    /// Versions the ledger records as applied afterwards (kept, accepted and recorded).
    pub marked: Vec<String>,
    /// Rows that were recorded and no longer are (their own versions): the next `up` runs
    /// those with files (`forgotten_with_files`).
    pub forgotten: Vec<String>,
    /// Among `forgotten`, those whose migration files are on disk.
    pub forgotten_with_files: Vec<String>,
    /// Rows rewritten in place to accept their file (checksum, version spelling, name); they
    /// keep `applied_at` and `execution_time_ms`.
    pub accepted: Vec<String>,
    /// Files with no row recorded as applied without running them (only with `--through`).
    pub recorded: Vec<String>,
    /// Every row and every recorded file, in order.
    pub rows: Vec<ReinitRow>,
    /// What failed (one entry at most today; a list so that the JSON can grow).
    pub errors: Vec<ReportedError>,
    /// Wall-clock time of the whole command.
    pub total_duration_ms: u64,
    /// Whether this was a dry run (nothing changed).
    pub dry_run: bool,
    /// Problems that did not fail the run (e.g. the lock was lost before release).
    pub warnings: Vec<String>,
}

/// A command that failed: the error, and the report of what happened before it (with the error
/// in its `errors`). Converts into [`Error`] with `?`.
#[derive(Debug, Clone)]
pub struct Failed<R> {
    /// Why the command stopped.
    pub error: Error,
    /// What it did before stopping (the error is in its `errors` too).
    pub report: R,
}

impl<R> fmt::Display for Failed<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<R: fmt::Debug> std::error::Error for Failed<R> {}

impl<R> From<Failed<R>> for Error {
    fn from(failed: Failed<R>) -> Error {
        failed.error
    }
}

/// The result of a command: its report, or [`Failed`] with the report so far.
pub type Outcome<R> = std::result::Result<R, Failed<R>>;

/// Ignores progress events.
pub fn no_progress(_: Progress) {}

/// A failure inside a command, with what the report needs to know about it.
struct RunFailure {
    error: Error,
    migration: Option<(String, String)>,
    location: Option<Location>,
    server: Option<ServerError>,
    /// See [`StepFailure::unknown_fate`].
    unknown_fate: usize,
    committed: Vec<String>,
    not_attempted: Vec<String>,
    unknown: Vec<String>,
}

impl From<Error> for RunFailure {
    fn from(error: Error) -> RunFailure {
        RunFailure {
            error,
            migration: None,
            location: None,
            server: None,
            unknown_fate: 0,
            committed: Vec::new(),
            not_attempted: Vec::new(),
            unknown: Vec::new(),
        }
    }
}

impl RunFailure {
    fn of_step(m: &Migration, f: StepFailure) -> RunFailure {
        RunFailure {
            migration: Some((m.version_text.clone(), m.name.clone())),
            location: f.location,
            server: f.server,
            unknown_fate: f.unknown_fate,
            ..RunFailure::from(f.error)
        }
    }

    /// The error, with what the command knows about it as its [`Reason`]: the migration that
    /// failed and the fate of the others, or the database it concerns.
    fn into_error(self, database: String) -> Error {
        let error = self.error;
        let reason = match (self.migration, error.reason()) {
            (Some((version, name)), _) => Reason::Migration(Box::new(MigrationFailure {
                database: Some(database),
                version,
                name,
                location: self.location,
                server: self.server,
                committed: self.committed,
                not_attempted: self.not_attempted,
                unknown: self.unknown,
            })),
            (None, Reason::Other)
                if matches!(error.kind, ErrorKind::Connection | ErrorKind::LockTimeout) =>
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

type Run<T> = std::result::Result<T, RunFailure>;

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn versions(ms: &[&Migration]) -> Vec<String> {
    ms.iter().map(|m| m.version_text.clone()).collect()
}

fn planned(ms: &[&Migration], direction: Direction) -> Vec<MigrationReport> {
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
                sql: Some(file.text.clone()),
            }
        })
        .collect()
}

/// What every command's report carries: its total duration and its errors.
trait CommandReport {
    fn close(&mut self, total_duration_ms: u64, error: Option<ReportedError>);
}

macro_rules! command_report {
    ($($report:ty),*) => {$(
        impl CommandReport for $report {
            fn close(&mut self, total_duration_ms: u64, error: Option<ReportedError>) {
                self.total_duration_ms = total_duration_ms;
                self.errors.extend(error);
            }
        }
    )*};
}

command_report!(UpReport, DownReport, BaselineReport, ReinitReport);

/// Runs `work` holding the migration lock, and releases it after, whatever happened. A lock
/// found lost at release is returned as a warning. A session that cannot write (standby,
/// read-only) is refused first.
fn with_lock<T>(
    client: &mut Client,
    target: &writable::Target,
    wait: Duration,
    progress: &mut dyn FnMut(Progress),
    warnings: &mut Vec<String>,
    work: impl FnOnce(&mut Client, &mut dyn FnMut(Progress)) -> Run<T>,
) -> Run<T> {
    // A read-only server is refused before waiting for the lock or writing anything.
    let database = writable::check(client, target)?;
    let tenant = target.tenant_schema.as_deref();
    let taken = lock::acquire_scoped(client, database, tenant, wait, &mut |holder| {
        progress(Progress::LockWaiting {
            holder: holder.cloned(),
        })
    })?;
    progress(Progress::LockAcquired {
        waited_ms: ms(taken.waited),
    });
    let result = work(client, progress);
    if client.is_closed() {
        // The server released it with the session.
        return result;
    }
    if let (Err(lost), Ok(_)) = (taken.release(client), &result) {
        warnings.push(match &lost.help {
            Some(help) => format!("{lost} ({help})"),
            None => lost.to_string(),
        });
    }
    result
}

/// The ledger's rows (none when the table does not exist) and whether the table exists.
/// Writing commands create the table only after their plan is accepted.
fn read_ledger(client: &mut Client, table: &TrackingTable) -> Result<(Vec<LedgerRow>, bool)> {
    Ok(match crate::db::ledger::read(client, table)? {
        Some(ledger) => (ledger.rows, true),
        None => (Vec::new(), false),
    })
}

/// A ledger's rows and what this role may do to it.
type LedgerFound = (Vec<LedgerRow>, Access);

/// `settings` writing the ledger by the schema-qualified name the server resolved `table` to
/// (a migration's `search_path` must not send its row elsewhere), and the ledger's rows.
/// Creates the table first when `create` and it does not exist yet.
/// With the rows comes what this role may do to the table (`None` when it does not exist):
/// callers check it once they know they will write, before anything runs.
/// `wait` bounds the read's wait for a lock another session holds on the ledger (exit 6).
fn qualified_settings(
    client: &mut Client,
    settings: &ApplySettings,
    wait: Duration,
) -> Result<(ApplySettings, Option<LedgerFound>)> {
    let (table, found) = match crate::db::ledger::read_qualified(client, &settings.table, wait)? {
        Some(found) => (found.table, Some((found.ledger.rows, found.access))),
        None => (settings.table.clone(), None),
    };
    Ok((
        ApplySettings {
            table,
            ..settings.clone()
        },
        found,
    ))
}

impl Migrator {
    /// Reads and checks the migrations directory. Errors in the files are the caller's to
    /// weigh: `up` refuses those it could run, `down` those of what it rolls back, `status`
    /// shows them.
    fn load_checked(&self) -> Result<files::Checked> {
        self.load()
    }

    /// The set for `up` through `target` (all without one): refused (exit 5, before connecting)
    /// when a migration it could run has errors, a broken draft above `target` aside.
    fn load_set_for_up(&self, target: Option<u64>) -> Result<MigrationSet> {
        let checked = self.load_checked()?;
        let errors = FileErrors::new(&checked.set, &checked.diagnostics);
        plan::check_up_files(&checked.set, &errors, target)?;
        Ok(checked.set)
    }

    /// The migrations `up` works from and its request, or the refusal `up` gives before
    /// connecting (files with errors it could run, `steps` 0, an unknown `target`). A fleet
    /// asks this once, not once per database.
    /// What `down` refuses from the files and the options alone (`--steps 0`, `--target 0`
    /// without `--yes`, an unknown target): the same answer for every database of a fleet.
    pub(crate) fn down_request(&self, options: &DownOptions) -> Result<()> {
        let checked = self.load_checked()?;
        plan::check_down_request(
            &checked.set,
            &plan::DownRequest {
                steps: options.steps,
                target: options.target,
                yes: options.yes,
                allow_modified: options.allow_modified,
                first_version: self.check_options.first_version,
            },
        )
    }

    pub(crate) fn up_request(
        &self,
        options: &UpOptions,
    ) -> Result<(MigrationSet, plan::UpRequest)> {
        let set = self.load_set_for_up(options.target)?;
        let request = plan::UpRequest {
            steps: options.steps,
            target: options.target,
            allow_out_of_order: options.allow_out_of_order,
            first_version: self.check_options.first_version,
        };
        plan::check_up_request(&set, &request)?;
        Ok((set, request))
    }

    fn apply_settings(
        &self,
        lock_timeout: Option<Duration>,
        statement_timeout: Option<Duration>,
    ) -> ApplySettings {
        let m = &self.env.migration;
        ApplySettings {
            table: m.tracking_table.clone(),
            lock_timeout: lock_timeout.unwrap_or(m.lock_timeout),
            statement_timeout: statement_timeout.or(m.statement_timeout),
            lock_retries: m.lock_retries,
        }
    }

    fn read_rows(&mut self) -> Result<Option<Vec<LedgerRow>>> {
        let table = self.env.migration.tracking_table.clone();
        let client = self.client()?;
        Ok(crate::db::ledger::read(client, &table)?.map(|l| l.rows))
    }

    /// A connection the server closed (terminated backend, restart) is dropped, so the next
    /// command on this `Migrator` connects again instead of failing on the dead one.
    fn forget_closed_connection(&mut self) {
        if self
            .client
            .as_ref()
            .is_some_and(postgres::Client::is_closed)
        {
            self.client = None;
        }
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

    /// Runs one command: times it, names the database in connection-level errors, drops a
    /// connection the server closed (the next call reconnects), and fills in the report's
    /// duration and errors — the report so far travels with a failure.
    fn command<R: CommandReport>(
        &mut self,
        mut report: R,
        run: impl FnOnce(&mut Self, &mut R) -> Run<()>,
    ) -> Outcome<R> {
        let start = Instant::now();
        let result = run(self, &mut report).map_err(|f| self.with_database(f));
        self.forget_closed_connection();
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

    /// Applies pending migrations: `migrate up`. An application can run its migrations at
    /// startup; several instances starting at once are safe (the lock serialises them, and
    /// the ones that waited find nothing left to do):
    ///
    /// ```no_run
    /// use confiture::config::Environment;
    /// use confiture::migrate::{no_progress, UpOptions};
    ///
    /// fn migrate(database_url: &str) -> confiture::Result<()> {
    ///     let env = Environment::from_url(database_url, "DATABASE_URL")?;
    ///     let mut migrator = confiture::Migrator::new(env, "db/migrations", Default::default());
    ///     let report = migrator.up(&UpOptions::default(), &mut no_progress)?;
    ///     eprintln!("applied {:?}", report.applied);
    ///     Ok(())
    /// }
    /// ```
    pub fn up(
        &mut self,
        options: &UpOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Outcome<UpReport> {
        let report = UpReport {
            dry_run: options.dry_run,
            ..UpReport::default()
        };
        self.off_runtime(progress, |m, progress| {
            m.command(report, |m, report| m.up_run(options, progress, report))
        })
    }

    fn up_run(
        &mut self,
        options: &UpOptions,
        progress: &mut dyn FnMut(Progress),
        report: &mut UpReport,
    ) -> Run<()> {
        // `--create-database` connects its own way: only a missing database is created.
        let (set, request) = if options.create_database {
            self.up_request(options)?
        } else {
            self.while_connecting(|m| m.up_request(options))?
        };
        if options.create_database
            && self.create_missing_database(&set, &request, options, progress, report)?
        {
            return Ok(());
        }
        if options.dry_run {
            let rows = self.read_rows()?.unwrap_or_default();
            let plan = plan::up(&set, &rows, &request)?;
            report.migrations = planned(&plan.apply, Direction::Up);
            report.skipped = versions(&plan.skipped);
            return Ok(());
        }
        let settings =
            self.apply_settings(options.lock_timeout_statement, options.statement_timeout);
        let single = options.single_transaction;
        let mut warnings = Vec::new();
        let target = writable::Target::of(&self.env);
        // To reconnect after a lost connection and read what the server committed.
        let env = self.env.clone();
        let client = self.client()?;
        // `--lock-timeout` covers the migration lock and the ledger read after it.
        let (budget, started) = (options.lock_wait, Instant::now());
        let result = with_lock(
            client,
            &target,
            options.lock_wait,
            progress,
            &mut warnings,
            |client, progress| {
                let (mut settings, found) = qualified_settings(
                    client,
                    &settings,
                    budget.saturating_sub(started.elapsed()),
                )?;
                let initialised = found.is_some();
                let (rows, access) = found.unwrap_or_default();
                let plan = plan::up(&set, &rows, &request)?;
                if initialised && !plan.apply.is_empty() {
                    access.check(&settings.table, Write::Insert)?;
                }
                if single {
                    let steps = up_steps(&plan.apply);
                    if let Some((i, failure)) = apply::single_transaction_refusal(&steps) {
                        return Err(single_failure(&plan.apply, i, failure, report));
                    }
                }
                // Only once the plan is accepted: a refused `up` leaves the database as it was.
                if !initialised {
                    apply::create_tracking_table(client, &settings.table)?;
                    settings = qualified_settings(client, &settings, ledger::DEFAULT_WAIT)?.0;
                }
                let settings = &settings;
                report.skipped = versions(&plan.skipped);
                if plan.apply.is_empty() {
                    progress(Progress::UpToDate);
                    return Ok(());
                }
                if single {
                    run_single(client, settings, &plan.apply, progress, report)
                } else {
                    let last = plan.apply.len() - 1;
                    let steps: Vec<Step<'_>> = plan
                        .apply
                        .iter()
                        .enumerate()
                        .map(|(i, m)| Step::up(m, i == last))
                        .collect();
                    let result = run_each(client, settings, &steps, progress, &mut |m, d| {
                        report.applied.push(m.version_text.clone());
                        report.migrations.push(done(m, &m.up, d));
                    });
                    result.map_err(|mut f| {
                        let confirmed = f.error.kind == ErrorKind::Connection
                            && confirm_after_lost_connection(
                                &env,
                                &settings.table,
                                &plan.apply,
                                report,
                                &mut f,
                            );
                        // After a lost connection that could not be checked, the migrations
                        // of the message that was cut short may have committed: their fate is
                        // unknown, and they are never called skipped.
                        let failed_at = report.applied.len();
                        let unknown_end = if confirmed {
                            failed_at
                        } else {
                            (failed_at + f.unknown_fate).min(plan.apply.len())
                        };
                        report.unknown = versions(&plan.apply[failed_at..unknown_end]);
                        let not_attempted = versions(
                            plan.apply
                                .get(unknown_end.max(failed_at + 1)..)
                                .unwrap_or_default(),
                        );
                        f.committed = report.applied.clone();
                        f.unknown = report.unknown.clone();
                        f.not_attempted = not_attempted.clone();
                        if !report.applied.is_empty() {
                            f.error.details.push(format!(
                                "applied before the failure: {}",
                                display::versions(&report.applied)
                            ));
                        }
                        if !report.unknown.is_empty() {
                            f.error.details.push(format!(
                                "fate unknown (they may have committed; run {} to see what is \
                                 recorded): {}",
                                crate::hint::command("migrate status"),
                                display::versions(&report.unknown)
                            ));
                        }
                        if !not_attempted.is_empty() {
                            f.error.details.push(format!(
                                "not attempted: {}",
                                display::versions(&not_attempted)
                            ));
                        }
                        report.skipped.splice(0..0, not_attempted);
                        f
                    })
                }
            },
        );
        report.warnings.extend(warnings);
        result
    }

    /// Rolls back applied migrations, newest first: `migrate down`.
    ///
    /// ```no_run
    /// use confiture::migrate::{no_progress, DownOptions};
    ///
    /// # fn main() -> confiture::Result<()> {
    /// let mut migrator = confiture::Migrator::from_url("postgresql://app@localhost/app")?;
    /// // The newest applied migration; a dry run changes nothing.
    /// let options = DownOptions::default().dry_run(true);
    /// let report = migrator.down(&options, &mut no_progress)?;
    /// println!("would roll back {:?}", report.rolled_back);
    /// # Ok(())
    /// # }
    /// ```
    pub fn down(
        &mut self,
        options: &DownOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Outcome<DownReport> {
        let report = DownReport {
            dry_run: options.dry_run,
            ..DownReport::default()
        };
        self.off_runtime(progress, |m, progress| {
            m.command(report, |m, report| m.down_run(options, progress, report))
        })
    }

    fn down_run(
        &mut self,
        options: &DownOptions,
        progress: &mut dyn FnMut(Progress),
        report: &mut DownReport,
    ) -> Run<()> {
        let checked = self.load_checked()?;
        let set = &checked.set;
        // A draft being written (an error in a file `down` does not run) must not stop it.
        let errors = FileErrors::new(set, &checked.diagnostics);
        let request = plan::DownRequest {
            steps: options.steps,
            target: options.target,
            yes: options.yes,
            allow_modified: options.allow_modified,
            first_version: self.check_options.first_version,
        };
        plan::check_down_request(set, &request)?;
        if options.dry_run {
            let rows = self.read_rows()?.unwrap_or_default();
            let plan = plan_down(set, &rows, &request, &errors)?;
            report.warnings.extend(modified_warnings(&plan));
            report.migrations = planned(&plan.migrations(), Direction::Down);
            return Ok(());
        }
        let settings =
            self.apply_settings(options.lock_timeout_statement, options.statement_timeout);
        let mut warnings = Vec::new();
        let target = writable::Target::of(&self.env);
        let client = self.client()?;
        let (budget, started) = (options.lock_wait, Instant::now());
        let result = with_lock(
            client,
            &target,
            options.lock_wait,
            progress,
            &mut warnings,
            |client, progress| {
                // No table: nothing was ever applied, and `down` does not create it.
                let (settings, found) = qualified_settings(
                    client,
                    &settings,
                    budget.saturating_sub(started.elapsed()),
                )?;
                let settings = &settings;
                let (rows, access) = found.unwrap_or_default();
                let plan = plan_down(set, &rows, &request, &errors)?;
                if plan.roll_back.is_empty() {
                    progress(Progress::UpToDate);
                    return Ok(());
                }
                access.check(&settings.table, Write::Delete)?;
                report.warnings.extend(modified_warnings(&plan));
                // Each step deletes the row the plan matched, by that row's own version.
                let last = plan.roll_back.len() - 1;
                let steps: Vec<Step<'_>> = plan
                    .roll_back
                    .iter()
                    .enumerate()
                    .map(|(i, r)| Step::down(r.migration, &r.row.version, i == last))
                    .collect();
                run_each(client, settings, &steps, progress, &mut |m, d| {
                    report.rolled_back.push(m.version_text.clone());
                    report.migrations.push(done(m, &m.down, d));
                })
                .map_err(|mut f| {
                    f.committed = report.rolled_back.clone();
                    if !report.rolled_back.is_empty() {
                        f.error.details.push(format!(
                            "rolled back before the failure: {}",
                            report.rolled_back.join(", ")
                        ));
                    }
                    f
                })
            },
        );
        report.warnings.extend(warnings);
        result
    }

    /// Records migrations through `through` as applied without running them: for databases
    /// that already have the schema. Rows already present are left as they are.
    ///
    /// ```no_run
    /// use confiture::migrate::{no_progress, BaselineOptions};
    ///
    /// # fn main() -> confiture::Result<()> {
    /// let mut migrator = confiture::Migrator::from_url("postgresql://app@localhost/app")?;
    /// let report = migrator.baseline(&BaselineOptions::through(12), &mut no_progress)?;
    /// println!("recorded {:?}", report.baselined);
    /// # Ok(())
    /// # }
    /// ```
    pub fn baseline(
        &mut self,
        options: &BaselineOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Outcome<BaselineReport> {
        let report = BaselineReport {
            dry_run: options.dry_run,
            ..BaselineReport::default()
        };
        self.off_runtime(progress, |m, progress| {
            m.command(report, |m, report| {
                m.baseline_run(options, progress, report)
            })
        })
    }

    fn baseline_run(
        &mut self,
        options: &BaselineOptions,
        progress: &mut dyn FnMut(Progress),
        report: &mut BaselineReport,
    ) -> Run<()> {
        let checked = self.load_checked()?;
        let set = checked.set;
        plan::baseline(&set, &[], options.through)?;
        // It writes the checksums of the files through `--through` as the truth.
        let errors = FileErrors::new(&set, &checked.diagnostics);
        plan::check_up_files(&set, &errors, Some(options.through))?;
        let (done, warnings) = self.rewrite_ledger(
            "baseline",
            options.dry_run,
            options.lock_wait,
            progress,
            |rows| {
                let plan = plan::baseline(&set, rows, options.through)?;
                Ok((
                    plan.rewrite(),
                    (versions(&plan.record), versions(&plan.already)),
                ))
            },
        );
        report.warnings.extend(warnings);
        (report.baselined, report.skipped) = done?;
        Ok(())
    }

    /// Re-initialises the ledger from the files, in one transaction: rows the ledger has are
    /// kept, and rewritten in place (keeping `applied_at` and `execution_time_ms`) where their
    /// file was edited — the edit is accepted; rows with no file, and second rows for a
    /// version, are forgotten. With `through`, files up to it that have no row are recorded as
    /// applied without running them, and rows above it are forgotten (confiture's `reinit`).
    ///
    /// ```no_run
    /// use confiture::migrate::{no_progress, ReinitOptions};
    ///
    /// # fn main() -> confiture::Result<()> {
    /// let mut migrator = confiture::Migrator::from_url("postgresql://app@localhost/app")?;
    /// let report = migrator.reinit(&ReinitOptions::default(), &mut no_progress)?;
    /// println!("accepted {:?}, forgotten {:?}", report.accepted, report.forgotten);
    /// # Ok(())
    /// # }
    /// ```
    pub fn reinit(
        &mut self,
        options: &ReinitOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Outcome<ReinitReport> {
        let report = ReinitReport {
            dry_run: options.dry_run,
            ..ReinitReport::default()
        };
        self.off_runtime(progress, |m, progress| {
            m.command(report, |m, report| m.reinit_run(options, progress, report))
        })
    }

    fn reinit_run(
        &mut self,
        options: &ReinitOptions,
        progress: &mut dyn FnMut(Progress),
        report: &mut ReinitReport,
    ) -> Run<()> {
        let checked = self.load_checked()?;
        let set = &checked.set;
        let errors = FileErrors::new(set, &checked.diagnostics);
        let first_version = self.check_options.first_version;
        plan::reinit(set, &[], options.through, first_version)?;
        let (done, warnings) = self.rewrite_ledger(
            "reinit",
            options.dry_run,
            options.lock_wait,
            progress,
            |rows| {
                let plan = plan::reinit(set, rows, options.through, first_version)?;
                plan::check_reinit_files(set, &plan, &errors)?;
                Ok((plan.rewrite(), reinit_rows(&plan)))
            },
        );
        report.warnings.extend(warnings);
        fill_reinit(report, done?);
        Ok(())
    }

    /// What `baseline` and `reinit` share: read the ledger (after taking the lock, unless a dry
    /// run), let `decide` plan a [`Rewrite`] and describe it, and write it in one transaction,
    /// creating the tracking table only when there is something to write. A dry run writes
    /// nothing. Returns the description (only once written) and the lock warnings.
    fn rewrite_ledger<T>(
        &mut self,
        what: &'static str,
        dry_run: bool,
        lock_wait: Duration,
        progress: &mut dyn FnMut(Progress),
        decide: impl Fn(&[LedgerRow]) -> Result<(Rewrite, T)>,
    ) -> (Run<T>, Vec<String>) {
        let mut warnings = Vec::new();
        if dry_run {
            let result = self
                .read_rows()
                .and_then(|rows| decide(&rows.unwrap_or_default()))
                .map(|(_, described)| described)
                .map_err(RunFailure::from);
            return (result, warnings);
        }
        let table = self.env.migration.tracking_table.clone();
        let target = writable::Target::of(&self.env);
        let client = match self.client() {
            Ok(client) => client,
            Err(e) => return (Err(e.into()), warnings),
        };
        let result = with_lock(
            client,
            &target,
            lock_wait,
            progress,
            &mut warnings,
            |client, progress| {
                let (rows, initialised) = read_ledger(client, &table)?;
                let (rewrite, described) = decide(&rows)?;
                if rewrite.is_empty() {
                    progress(Progress::UpToDate);
                    return Ok(described);
                }
                if !initialised {
                    apply::create_tracking_table(client, &table)?;
                }
                crate::db::ledger::rewrite(client, &table, &rewrite, what)?;
                Ok(described)
            },
        );
        (result, warnings)
    }
}

/// Plans `down` and refuses it when a migration it rolls back has errors in its files.
fn plan_down<'a>(
    set: &'a MigrationSet,
    rows: &'a [LedgerRow],
    request: &plan::DownRequest,
    errors: &FileErrors<'_>,
) -> Result<plan::DownPlan<'a>> {
    let plan = plan::down(set, rows, request)?;
    plan::check_down_files(set, &plan, errors)?;
    Ok(plan)
}

/// Warnings for migrations `down --allow-modified` rolls back although their up file changed.
fn modified_warnings(plan: &plan::DownPlan<'_>) -> Vec<String> {
    plan.modified
        .iter()
        .map(|r| {
            format!(
                "{} changed since it was applied (--allow-modified): its down file was trusted to undo what ran",
                r.migration.up.path.display()
            )
        })
        .collect()
}

/// The rows of a reinit plan, as its report shows them.
fn reinit_rows(plan: &plan::ReinitPlan<'_>) -> Vec<ReinitRow> {
    plan.steps
        .iter()
        .map(|step| {
            let (version, name) = match (step.action, step.migration, step.row) {
                (plan::ReinitAction::Forget, _, Some(row)) | (_, None, Some(row)) => {
                    (row.version.clone(), row.name.clone())
                }
                (_, Some(m), _) => (m.version_text.clone(), m.name.clone()),
                (_, None, None) => (String::new(), String::new()),
            };
            ReinitRow {
                action: step.action,
                version,
                name,
                recorded_version: step.row.map(|r| r.version.clone()),
                recorded_checksum: step.row.and_then(|r| r.checksum.clone()),
                checksum: step.migration.map(|m| m.up.checksum.clone()),
                applied_at: step.row.map(|r| r.applied_at.clone()),
                file_on_disk: step.migration.is_some(),
            }
        })
        .collect()
}

fn fill_reinit(report: &mut ReinitReport, rows: Vec<ReinitRow>) {
    use plan::ReinitAction::{Accept, Forget, Record};
    let with = |keep: &dyn Fn(&ReinitRow) -> bool| -> Vec<String> {
        rows.iter()
            .filter(|r| keep(r))
            .map(|r| r.version.clone())
            .collect()
    };
    report.marked = with(&|r| r.action != Forget);
    report.forgotten = with(&|r| r.action == Forget);
    report.forgotten_with_files = with(&|r| r.action == Forget && r.file_on_disk);
    report.accepted = with(&|r| r.action == Accept);
    report.recorded = with(&|r| r.action == Record);
    report.deleted_count = report.forgotten.len() as u64;
    report.rows = rows;
}

/// After the connection dropped while a message of several migrations ran, the server may
/// have committed some of them. A fresh connection reads the ledger to tell exactly which: they
/// join `report.applied`, and the error names the migration that was interrupted. Returns
/// whether the ledger could be read (otherwise the error keeps saying what is unknown).
fn confirm_after_lost_connection(
    env: &crate::config::Environment,
    table: &TrackingTable,
    apply: &[&Migration],
    report: &mut UpReport,
    failure: &mut RunFailure,
) -> bool {
    let ledger =
        crate::db::connect(env).and_then(|mut client| crate::db::ledger::read(&mut client, table));
    let rows = match ledger {
        Ok(Some(ledger)) => ledger.rows,
        Ok(None) => Vec::new(),
        Err(_) => {
            failure.error.details.push(
                "could not reconnect to check which migrations the server committed".to_string(),
            );
            return false;
        }
    };
    let first = report.applied.len();
    // Which of them the ledger now records: the history rule, as everywhere.
    let history = History::new(apply.iter().copied(), &rows, None);
    for m in apply.get(first..).unwrap_or_default() {
        let Some(row) = history.row_of(m).map(|r| r.row) else {
            break;
        };
        report.applied.push(m.version_text.clone());
        // The time the server recorded; none when the row has none (never made up).
        let recorded = row.execution_time_ms.and_then(|t| u64::try_from(t).ok());
        report
            .migrations
            .push(done(m, &m.up, recorded.map(Duration::from_millis)));
    }
    // The message carried several migrations, or the one sent alone committed after all: name
    // the first migration the ledger lacks. The server stops at the first failure, so nothing
    // after it committed.
    let batch = failure.unknown_fate > 1;
    if batch || report.applied.len() > first {
        if let Some(m) = apply.get(report.applied.len()) {
            failure.error.message =
                format!("connection lost before migration {} committed", m.id());
            failure.migration = Some((m.version_text.clone(), m.name.clone()));
            if m.up.mode == TransactionMode::Transaction {
                // The details spoke of what was unknown: now it is known.
                failure.error.details.clear();
                failure.error.details.push(
                    "its transaction did not commit (checked in the ledger on a new connection)"
                        .to_string(),
                );
            }
        }
    }
    failure.unknown_fate = 0;
    true
}

fn done(m: &Migration, file: &files::SqlFile, duration: Option<Duration>) -> MigrationReport {
    MigrationReport {
        version: m.version_text.clone(),
        name: m.name.clone(),
        mode: file.mode,
        duration_ms: duration.map(ms),
        sql: None,
    }
}

/// Runs migrations one transaction each, several transactions to a message (see
/// [`apply::run_steps`]); only the last commits synchronously. Progress is reported per
/// migration, as each message returns.
fn run_each(
    client: &mut Client,
    settings: &ApplySettings,
    steps: &[Step<'_>],
    progress: &mut dyn FnMut(Progress),
    on_done: &mut dyn FnMut(&Migration, Option<Duration>),
) -> Run<()> {
    let Some(direction) = steps.first().map(|s| s.direction) else {
        return Ok(());
    };
    progress(Progress::Planned {
        direction,
        count: steps.len(),
    });
    apply::run_steps(
        client,
        settings,
        steps,
        apply::BatchLimits::default(),
        &mut |event| match event {
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
    .map_err(|(i, failure)| RunFailure::of_step(steps[i].migration, failure))
}

fn run_single(
    client: &mut Client,
    settings: &ApplySettings,
    migrations: &[&Migration],
    progress: &mut dyn FnMut(Progress),
    report: &mut UpReport,
) -> Run<()> {
    let steps = up_steps(migrations);
    let mut durations = vec![Duration::ZERO; migrations.len()];
    // Both callbacks report progress.
    let progress_cell = std::cell::RefCell::new(progress);
    let result = apply::run_in_one_transaction(
        client,
        settings,
        &steps,
        &mut |attempt, delay| {
            let first = migrations.first();
            (*progress_cell.borrow_mut())(Progress::Retrying {
                version: first.map(|m| m.version_text.clone()).unwrap_or_default(),
                name: first.map(|m| m.name.clone()).unwrap_or_default(),
                attempt,
                delay_ms: ms(delay),
            })
        },
        &mut |i, finished| {
            let Some(m) = migrations.get(i) else { return };
            let event = match finished {
                None => Progress::Started {
                    version: m.version_text.clone(),
                    name: m.name.clone(),
                    direction: Direction::Up,
                    mode: m.up.mode,
                },
                // Done, not committed: announced once the whole transaction commits, so that
                // a failed run never shows a migration it rolled back as applied.
                Some(d) => {
                    durations[i] = d;
                    return;
                }
            };
            (*progress_cell.borrow_mut())(event);
        },
    );
    match result {
        Ok(()) => {
            let progress = progress_cell.into_inner();
            for (m, d) in migrations.iter().zip(durations) {
                progress(Progress::Finished {
                    version: m.version_text.clone(),
                    name: m.name.clone(),
                    direction: Direction::Up,
                    duration_ms: Some(ms(d)),
                });
                report.applied.push(m.version_text.clone());
                report.migrations.push(done(m, &m.up, Some(d)));
            }
            Ok(())
        }
        Err((i, failure)) => Err(single_failure(migrations, i, failure, report)),
    }
}

/// The steps of `up --single-transaction`.
fn up_steps<'a>(migrations: &[&'a Migration]) -> Vec<Step<'a>> {
    migrations.iter().map(|m| Step::up(m, true)).collect()
}

/// A failed `up --single-transaction`: step `i` failed, and none of the others stays applied.
fn single_failure(
    migrations: &[&Migration],
    i: usize,
    failure: StepFailure,
    report: &mut UpReport,
) -> RunFailure {
    let Some(m) = migrations.get(i).or(migrations.first()).copied() else {
        return failure.error.into();
    };
    let rest: Vec<String> = migrations
        .iter()
        .filter(|o| o.version != m.version)
        .map(|m| m.version_text.clone())
        .collect();
    report.skipped.splice(0..0, rest);
    RunFailure::of_step(m, failure)
}

impl Migrator {
    /// `--create-database`: connects to the database, and only when it does not exist refuses
    /// what `up` would refuse on its empty ledger, then creates it (a dry run plans instead).
    /// Returns whether the command is complete (a dry run of a missing database).
    fn create_missing_database(
        &mut self,
        set: &MigrationSet,
        request: &plan::UpRequest,
        options: &UpOptions,
        progress: &mut dyn FnMut(Progress),
        report: &mut UpReport,
    ) -> Run<bool> {
        if self.client.is_some() {
            return Ok(false);
        }
        self.announce_connect();
        if let Some(client) = crate::db::connect::connect_if_exists(&self.env)? {
            self.client = Some(client);
            return Ok(false);
        }
        let plan = plan::up(set, &[], request)?;
        if options.single_transaction {
            if let Some((i, failure)) = apply::single_transaction_refusal(&up_steps(&plan.apply)) {
                return Err(single_failure(&plan.apply, i, failure, report));
            }
        }
        let database = self.env.connection.dbname.clone();
        if options.dry_run {
            progress(Progress::WouldCreateDatabase { database });
            report.migrations = planned(&plan.apply, Direction::Up);
            report.skipped = versions(&plan.skipped);
            return Ok(true);
        }
        if crate::db::create_database(&self.env)? {
            progress(Progress::DatabaseCreated { database });
        }
        Ok(false)
    }
}
