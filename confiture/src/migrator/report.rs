//! What the commands report: progress events as they go, the report of each command, the JSON
//! error object, and [`Failed`] (the error with the report so far).

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::db::apply::Direction;
use crate::db::lock::LockHolder;
use crate::error::{Divergence, Error, Reason, Unrollable};
use crate::files::TransactionMode;
use crate::plan;

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
    /// A message of the run (a migration's statements, its ledger row, a no-transaction
    /// migration's row tried before its statements, the ledger read or `baseline`'s and
    /// `reinit`'s rewrite waiting for a lock on the ledger) has waited about a second or more
    /// for a lock another session or a prepared transaction holds: sent while it waits, again
    /// only when those in the way change, by a session of the run's own that looks once a
    /// message lasts (nothing when that session cannot be opened). The wait ends as the run's
    /// settings say (`lock_timeout`: exit 6, naming the holders again) or when they let go.
    ///
    /// Only for a run that can be stopped ([`Migrator::stop_when`](crate::Migrator::stop_when);
    /// a flag never set is enough) and whose server session is known: it is sent while the
    /// run's own thread waits inside the driver, and only such a run has its command on a
    /// thread of its own, leaving the caller's thread free to call `progress` meanwhile
    /// (`progress` is called on the caller's thread, and need not be `Send`). Every other run
    /// would need that thread, a second one watching its messages and the handing over of
    /// each event between threads — on every command, for a wait most never meet, including
    /// those whose callback is [`no_progress`] — so a library
    /// caller that wants the line opts in.
    LockBlocked {
        /// The relation waited for, as the server names it, when the lock is a relation's (a
        /// row's is its writer's transaction: none).
        relation: Option<String>,
        /// Who is in the way.
        holders: Vec<LockHolder>,
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
    /// `--create-database` created (a dry run: would create) `database`, which did not exist,
    /// and the server has a database named `similar`, close enough to be what a misspelt
    /// `database` meant: sent before [`Progress::DatabaseCreated`]
    /// ([`Progress::WouldCreateDatabase`]); never when another session created it
    /// ([`Progress::DatabaseCreatedMeanwhile`]).
    SimilarDatabaseExists {
        /// The database's name on the server, that is created.
        database: String,
        /// The existing database with a close name.
        similar: String,
    },
    /// `--create-database` found `database` missing, and another session (another run of
    /// `--create-database`) created it before this run's `CREATE DATABASE`: this run created
    /// nothing, and migrates the database as it finds it.
    DatabaseCreatedMeanwhile {
        /// The database's name on the server.
        database: String,
    },
    /// `up` creates the schema of a schema-qualified tracking table with it: the schema does
    /// not exist, and no existing schema has a close name (else `up` refuses,
    /// [`crate::ledger::NewTenantSchema::refusal`]). Sent before the migrations run.
    LedgerSchemaCreated {
        /// The schema created.
        schema: String,
        /// The tracking table, as set (`ops.tb_confiture`).
        tracking_table: String,
    },
    /// A dry run of `up` would create the schema of a schema-qualified tracking table with it,
    /// as [`Progress::LedgerSchemaCreated`] says of `up`. Sent before the plan.
    WouldCreateLedgerSchema {
        /// The schema that does not exist.
        schema: String,
        /// The tracking table, as set (`ops.tb_confiture`).
        tracking_table: String,
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
        /// Their versions, as in their file names, in the order they will run: those a run
        /// stopped before it started them are its `not_attempted`, also for a caller that
        /// leaves without waiting for its report (the CLI's exit after a stop unanswered).
        versions: Vec<String>,
    },
    /// The migrations of one message are sent to the server (one, or several travelling
    /// together; their `Started` follow): until each one's `Finished`, whether it committed is
    /// not known — what a caller that leaves without waiting (a second Ctrl-C) reports as
    /// unknown. Not for `--single-transaction`, whose migrations commit together, at the end.
    Sent {
        /// Their versions, as in their file names, in order.
        versions: Vec<String>,
        /// Applying (up) or rolling back (down).
        direction: Direction,
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
    /// The server said something while a migration ran (`RAISE WARNING`, `RAISE NOTICE`, a
    /// `DROP ... IF EXISTS` that skipped), sent when the message carrying it returns, before
    /// its `Finished` (or its failure). `migration` names the migration (`001_name`), or, when
    /// several travelled in one message, the first of them and `through` the last: which one
    /// said it is not known. A run keeps the first 100 of each severity; the rest are said
    /// once, at its end, as one notice per severity (`... and N more WARNING messages`) naming
    /// the migrations they came from the same way. A `WARNING` is also one of the report's
    /// `warnings`. Not for a connection handed over with [`crate::Migrator::with_client`],
    /// whose notices go to its own callback.
    ServerNotice {
        /// The migration that said it (`001_name`), or the first of those it came from.
        migration: String,
        /// When it came from one of several migrations: the last of them (`None` when
        /// `migration` said it).
        through: Option<String>,
        /// Applying (up) or rolling back (down).
        direction: Direction,
        /// `WARNING`, `NOTICE`, `INFO`, ... as the server names it.
        severity: String,
        /// The server's message.
        message: String,
        /// The server's detail, when it gave one.
        detail: Option<String>,
        /// The server's hint, when it gave one.
        hint: Option<String>,
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

impl MigrationReport {
    /// One migration that ran: what a report built from the progress events
    /// ([`Progress::Started`], [`Progress::Finished`]: [`super::SoFar`]) knows of it.
    pub(crate) fn new(
        version: impl Into<String>,
        name: impl Into<String>,
        mode: TransactionMode,
        duration_ms: Option<u64>,
    ) -> MigrationReport {
        MigrationReport {
            version: version.into(),
            name: name.into(),
            mode,
            duration_ms,
            sql: None,
        }
    }
}

/// The error object: how every failure appears in JSON, in a report's `errors` and alone
/// (`{"error": ..., "errors": [...]}` when a command fails before it has a report). Built from
/// the [`Error`]'s data only ([`ReportedError::of`]); every key is always present (`null` or
/// empty when it does not apply), so that one parser reads every failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReportedError {
    /// What went wrong, to branch on ([`ErrorKind`](crate::ErrorKind)); in JSON its name
    /// (`migration_failed`, `lock_timeout`, `diverged`, ...: [`ErrorKind::name`](crate::ErrorKind::name)).
    #[serde(serialize_with = "serialize_kind")]
    pub kind: crate::ErrorKind,
    /// What the error is about, as data ([`Error::reason`]): a service matches on it (a
    /// migration that failed, with its version and SQLSTATE; the database a connection
    /// failure concerns; a refusal's diverged or irreversible migrations) rather than on the
    /// message. Not in the JSON, whose keys below say the same.
    #[serde(skip)]
    pub reason: Reason,
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
    /// The tenant schema it concerns (a `--schema` run's, a fleet's tenant target's); `null`
    /// for a whole database.
    pub schema: Option<String>,
    /// The migration's version, when the error is in one.
    pub version: Option<String>,
    /// The migration's name, when the error is in one.
    pub name: Option<String>,
    /// The file the error is in, as the diagnostics name it.
    #[serde(serialize_with = "crate::display::serialize_option_path")]
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
    /// Migrations of `committed` that may have been lost if the server crashed: the connection
    /// was lost before their commit was known to be on the server's disk
    /// ([`crate::error::MigrationFailure::durability_unknown`]; `migrate status` tells).
    pub durability_unknown: Vec<String>,
    /// The sessions holding a lock that was not acquired in time: the migration lock, the
    /// tracking table or a migration's ledger row.
    pub lock_holders: Vec<LockHolder>,
    /// The migration dropped cargo-confiture's own prepared statements with a `DEALLOCATE
    /// ALL` its SQL does not say ([`crate::error::MigrationFailure::dropped_own_statements`]):
    /// `file`, `line` name the statement that did, when known.
    pub dropped_own_statements: bool,
    /// The file problems behind an `invalid` refusal (also in `details` as text).
    pub diagnostics: Vec<crate::Diagnostic>,
    /// The migrations of a `diverged` refusal, each with how it diverged (also in `details`
    /// as text).
    pub diverged: Vec<ReportedDivergence>,
    /// The migrations of an `irreversible` refusal (also in `details` as text).
    pub irreversible: Vec<ReportedUnrollable>,
    /// A `diverged` refusal of a binary older than its database: the versions its embedded
    /// set lacks and the package that embedded it.
    pub newer_database: Option<crate::error::NewerDatabase>,
    /// The problems of an invalid environment file, each at its key and line (also in
    /// `details` as text, or the message when there is one): the first
    /// [`MAX_LISTED`](crate::display::MAX_LISTED), as the text lists them; empty otherwise.
    pub settings: Vec<crate::error::SettingProblem>,
    /// How many problems of the file `settings` leaves out (the text's `... and N more`);
    /// 0 otherwise. [`Reason::EnvironmentFile`] holds them all.
    pub settings_not_listed: usize,
    /// Where the database URL came from when a `.env` gave it ([`Error::database_from`]:
    /// `{file, line, key}`, as `settings` names a problem's place); `null` otherwise.
    pub database_from: Option<crate::error::DatabaseFrom>,
}

/// One migration of a `diverged` refusal in the JSON error object ([`Divergence`]'s data):
/// every key present, `null` when it does not apply to its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReportedDivergence {
    /// `modified`, `missing`, `renumbered`, `replaced`, `ambiguous`, `duplicate` or
    /// `out_of_order`, as
    /// `migrate status`
    /// names it.
    pub state: crate::history::State,
    /// The migration, `002_t2`; `null` for a duplicate row whose file is gone.
    pub migration: Option<String>,
    /// `modified`, `renumbered`: its up file; `replaced`: the up file of the migration that
    /// has its version now; `ambiguous`: the up file of the migration it may record.
    #[serde(serialize_with = "crate::display::serialize_option_path")]
    pub file: Option<PathBuf>,
    /// `modified`: the checksum recorded when it was applied.
    pub recorded_checksum: Option<String>,
    /// `modified`: the up file's checksum now.
    pub checksum: Option<String>,
    /// `modified`, `missing`, `renumbered`, `replaced`, `duplicate` (a ledger row): when its
    /// row was written;
    /// `null` for `out_of_order` (no row).
    pub applied_at: Option<String>,
    /// `duplicate`: the second row's `version`, as stored; `renumbered`: the row's (the old
    /// number); `replaced`, `ambiguous`: the row's.
    pub row_version: Option<String>,
    /// `out_of_order`: the newest applied version.
    pub newest_applied: Option<String>,
}

impl ReportedDivergence {
    fn of(d: &Divergence) -> ReportedDivergence {
        let mut reported = ReportedDivergence {
            state: d.state(),
            migration: d.id().map(str::to_string),
            file: None,
            recorded_checksum: None,
            checksum: None,
            applied_at: None,
            row_version: None,
            newest_applied: None,
        };
        match d {
            Divergence::Modified {
                file,
                recorded_checksum,
                checksum,
                applied_at,
                ..
            } => {
                reported.file = file.clone();
                reported.recorded_checksum = recorded_checksum.clone();
                reported.checksum = checksum.clone();
                reported.applied_at = applied_at.clone();
            }
            Divergence::Missing { applied_at, .. } => reported.applied_at = applied_at.clone(),
            Divergence::Renumbered {
                row_version,
                file,
                applied_at,
                ..
            }
            | Divergence::Replaced {
                row_version,
                file,
                applied_at,
                ..
            }
            | Divergence::Ambiguous {
                row_version,
                file,
                applied_at,
                ..
            } => {
                reported.row_version = Some(row_version.clone());
                reported.file = file.clone();
                reported.applied_at = applied_at.clone();
            }
            Divergence::Duplicate {
                row_version,
                applied_at,
                ..
            } => {
                reported.row_version = Some(row_version.clone());
                reported.applied_at = applied_at.clone();
            }
            Divergence::OutOfOrder { newest_applied, .. } => {
                reported.newest_applied = newest_applied.clone();
            }
        }
        reported
    }
}

/// One migration of an `irreversible` refusal in the JSON error object ([`Unrollable`]'s
/// data): every key present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReportedUnrollable {
    /// `irreversible` (its down file says so) or `squashed` (below `first_version`).
    pub reason: &'static str,
    /// The migration, `002_t2`.
    pub migration: String,
    /// `irreversible`: its down file.
    #[serde(serialize_with = "crate::display::serialize_option_path")]
    pub down_file: Option<PathBuf>,
    /// `squashed`: the workspace's `first_version` (`None` for a row archived into a squashed
    /// baseline).
    pub first_version: Option<u64>,
    /// `squashed`: the squashed baseline confiture (Python)'s `migrate squash` archived the row
    /// into, else `None`.
    pub archived_into: Option<String>,
}

impl ReportedUnrollable {
    fn of(u: &Unrollable) -> ReportedUnrollable {
        ReportedUnrollable {
            reason: u.name(),
            migration: u.id().to_string(),
            down_file: match u {
                Unrollable::Irreversible { down_file, .. } => Some(down_file.clone()),
                Unrollable::Squashed { .. } => None,
            },
            first_version: match u {
                Unrollable::Squashed {
                    first_version,
                    archived_into: None,
                    ..
                } => Some(*first_version),
                Unrollable::Squashed { .. } | Unrollable::Irreversible { .. } => None,
            },
            archived_into: match u {
                Unrollable::Squashed { archived_into, .. } => archived_into.clone(),
                Unrollable::Irreversible { .. } => None,
            },
        }
    }
}

/// [`ReportedError::kind`] as JSON writes it: its name.
fn serialize_kind<S: serde::Serializer>(
    kind: &crate::ErrorKind,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_str(kind.name())
}

impl ReportedError {
    /// The error object of `error`, from its kind and [`Reason`].
    pub fn of(error: &Error) -> ReportedError {
        let mut reported = ReportedError {
            kind: error.kind,
            reason: error.reason().clone(),
            exit_code: error.exit_code(),
            message: error.message_with_cause(),
            details: error.details.clone(),
            help: error.help.clone(),
            database: error.database().map(str::to_string),
            schema: error.schema().map(str::to_string),
            version: None,
            name: None,
            file: None,
            line: None,
            column: None,
            sqlstate: error.sqlstate().map(str::to_string),
            server_message: error.server_message().map(str::to_string),
            committed: Vec::new(),
            not_attempted: Vec::new(),
            unknown: Vec::new(),
            durability_unknown: Vec::new(),
            lock_holders: Vec::new(),
            dropped_own_statements: false,
            diagnostics: error.diagnostics.to_vec(),
            diverged: Vec::new(),
            irreversible: Vec::new(),
            newer_database: None,
            settings: Vec::new(),
            settings_not_listed: 0,
            database_from: error.database_from().cloned(),
        };
        match error.reason() {
            Reason::Migration(m) => {
                reported.version = Some(m.version.clone());
                reported.name = Some(m.name.clone());
                reported.file = m.location.as_ref().map(|l| l.path.clone());
                reported.line = m.location.as_ref().map(|l| l.line);
                reported.column = m.location.as_ref().map(|l| l.column);
                reported.committed = m.committed.clone();
                reported.not_attempted = m.not_attempted.clone();
                reported.unknown = m.unknown.clone();
                reported.durability_unknown = m.durability_unknown.clone();
                reported.lock_holders = m.lock_holders.clone();
                reported.dropped_own_statements = m.dropped_own_statements;
            }
            Reason::SchemaFile { file, at, .. } => {
                reported.file = Some(file.clone());
                reported.line = at.map(|(line, _)| line);
                reported.column = at.map(|(_, column)| column);
            }
            Reason::Lock { holders, .. } => reported.lock_holders = holders.clone(),
            Reason::Diverged(d) => {
                reported.diverged = d.migrations.iter().map(ReportedDivergence::of).collect();
                reported.newer_database = d.newer_database.clone();
            }
            Reason::Irreversible(found) => {
                reported.irreversible = found.iter().map(ReportedUnrollable::of).collect();
            }
            Reason::EnvironmentFile(found) => {
                // As its text names it: from where the user stands (`--env` finds it absolute).
                reported.file = Some(crate::display::relative(&found.file));
                if let [one] = &found.problems[..] {
                    reported.line = one.line;
                }
                let (listed, not_listed) = crate::display::listed(&found.problems);
                reported.settings = listed.to_vec();
                reported.settings_not_listed = not_listed;
            }
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
    /// A run limited by `--steps`/`--target` that stopped (failed, interrupted) after a part
    /// of its plan may have been applied: the `--target` that finishes what it was asked and no
    /// more (`migrate up --target V`, which its error's help names; the same `--steps N` again
    /// would apply N more), spelled as its file is (`"003"`). `None` otherwise.
    pub finish_target: Option<String>,
    /// What failed (one entry at most today; a list so that the JSON can grow).
    pub errors: Vec<ReportedError>,
    /// Wall-clock time of the whole command.
    pub total_duration_ms: u64,
    /// Details of the applied migrations (of the planned ones in a dry run).
    pub migrations: Vec<MigrationReport>,
    /// Whether this was a dry run (nothing changed).
    pub dry_run: bool,
    /// Problems that did not fail the run (e.g. the pooler check's second connection got no
    /// answer).
    pub warnings: Vec<String>,
}

/// The result of `migrate down`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DownReport {
    /// Versions rolled back by this run, in the order they were rolled back.
    pub rolled_back: Vec<String>,
    /// Versions whose fate is unknown: the connection was lost while they were being rolled
    /// back and could not be re-established to read the ledger; they may have been rolled back
    /// (`migrate status` tells).
    pub unknown: Vec<String>,
    /// A run that stopped (failed, interrupted) after a part of its plan may have been rolled
    /// back: the `--target` that finishes what it was asked and no more (`migrate down
    /// --target V`, which its error's help names; the same `--steps N` again would roll back N
    /// more). `None` when nothing of the plan was rolled back, or when no `--target` reaches
    /// exactly the rest of it (`migrate status` tells what is still applied). Spelled as its
    /// file is (`"001"`; `"0"` for everything).
    pub finish_target: Option<String>,
    /// What failed (one entry at most today; a list so that the JSON can grow).
    pub errors: Vec<ReportedError>,
    /// Wall-clock time of the whole command.
    pub total_duration_ms: u64,
    /// Details of the rolled-back migrations (of the planned ones in a dry run).
    pub migrations: Vec<MigrationReport>,
    /// Whether this was a dry run (nothing changed).
    pub dry_run: bool,
    /// Problems that did not fail the run (e.g. the pooler check's second connection got no
    /// answer).
    pub warnings: Vec<String>,
}

/// The result of `migrate baseline`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BaselineReport {
    /// Versions recorded as applied without running them.
    pub baselined: Vec<String>,
    /// The same migrations as ids (`001_a`), as the text output names them (not in the JSON,
    /// whose `baselined` are versions).
    #[serde(skip)]
    pub baselined_ids: Vec<String>,
    /// Versions through `--through` that were already recorded (left as they are).
    pub skipped: Vec<String>,
    /// The migrations it recorded whose apply had been left part-way (`interrupted`), with
    /// the start marker of that run, deleted with it: confirmed by
    /// [`BaselineOptions::yes`](super::BaselineOptions::yes).
    pub recorded_over_interrupted: Vec<RecordedOverRun>,
    /// What failed (one entry at most today; a list so that the JSON can grow).
    pub errors: Vec<ReportedError>,
    /// Wall-clock time of the whole command.
    pub total_duration_ms: u64,
    /// Whether this was a dry run (nothing changed).
    pub dry_run: bool,
    /// Problems that did not fail the run (e.g. the pooler check's second connection got no
    /// answer).
    pub warnings: Vec<String>,
}

/// The result of `migrate abandon`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AbandonReport {
    /// The interrupted runs it forgot (would forget, in a dry run): an apply, a rollback, or
    /// both, of the version it was given.
    pub abandoned: Vec<AbandonedRun>,
    /// When a migration is `pending` (or `another`) again in a tracking table with no rows:
    /// what the database holds where the migrations build (as `status` has it), which makes
    /// the next `up` refuse to run it unless `--allow-non-empty` (what the forgotten run
    /// committed, unless undone by hand). Null otherwise.
    pub unrecorded: Option<crate::ledger::Unrecorded>,
    /// What failed (one entry at most today; a list so that the JSON can grow).
    pub errors: Vec<ReportedError>,
    /// Wall-clock time of the whole command.
    pub total_duration_ms: u64,
    /// Whether this was a dry run (nothing changed).
    pub dry_run: bool,
    /// Problems that did not fail the run.
    pub warnings: Vec<String>,
}

/// A migration `baseline` or `reinit` recorded as applied without running it while its apply
/// had been left part-way ([`crate::plan::recorded_over`]): the run whose start marker it
/// deleted, described as `abandon` describes a run it forgets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RecordedOverRun {
    /// The marker as `status` showed it (`version`, `name`, `direction`, `started_at`,
    /// `started_by`, `statement`, `statements`, ...).
    #[serde(flatten)]
    pub run: crate::ledger::StartedRun,
    /// What is known of what it committed; what followed was never run, and is recorded as
    /// applied all the same: `statement 1 committed; statement 2 of 3 was running: it may
    /// have committed`.
    pub committed: String,
    /// The migration recorded (`002_add_index`).
    pub migration: String,
}

impl RecordedOverRun {
    pub(crate) fn of(marked: &crate::history::Marked<'_, '_>) -> RecordedOverRun {
        RecordedOverRun {
            run: marked.marker.clone(),
            committed: marked.marker_of_file().committed(),
            migration: marked.migration.id(),
        }
    }
}

/// One interrupted run `abandon` forgot: its start marker, and where its migration stands
/// afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AbandonedRun {
    /// The marker as `status` showed it (`version`, `name`, `direction`, `started_at`,
    /// `started_by`, `statement`, `statements`, ...).
    #[serde(flatten)]
    pub run: crate::ledger::StartedRun,
    /// What is known of what it committed, which stays in the database: `statement 1
    /// committed; statement 2 of 2 was running: it may have committed`.
    pub committed: String,
    /// Where its migration stands now: `pending` (an apply: the next `up` runs it),
    /// `applied` (a rollback: the ledger still records it), `not_here` (an apply of a
    /// migration no file here has), `another` (an apply of another migration than the file of
    /// its version here, which is pending), `missing` (a rollback of a migration whose files
    /// are gone: its row stays, which `reinit` forgets), `replaced` (a rollback of a migration
    /// whose number a file here has now: its row stays, which `reinit` forgets).
    pub now: &'static str,
    /// The migration here that `now` is about (`002_add_index`); null for `not_here` and
    /// `missing`.
    pub migration: Option<String>,
    /// For `missing`: its row is above the newest migration here, which `reinit` keeps (a
    /// newer release's for all it can tell); restoring its files and `migrate down` removes
    /// it. False otherwise.
    pub above_newest: bool,
}

impl AbandonedRun {
    pub(crate) fn of(abandoned: &plan::Abandoned<'_, '_>) -> AbandonedRun {
        let migration = match abandoned.after {
            plan::After::Pending(m)
            | plan::After::Applied(m)
            | plan::After::Another(m)
            | plan::After::Replaced(m) => Some(m.id()),
            plan::After::NotHere | plan::After::Missing { .. } => None,
        };
        let above_newest = matches!(abandoned.after, plan::After::Missing { above: true });
        // The file the run ran, when it is here: its statements that change only the session
        // are not said committed.
        let file = match abandoned.after {
            plan::After::Pending(m) => Some(&m.up),
            plan::After::Applied(m) => Some(&m.down),
            _ => None,
        };
        let marker = match file {
            Some(file) => abandoned.marker.clone().of_file(file),
            None => abandoned.marker.clone(),
        };
        AbandonedRun {
            run: abandoned.marker.clone(),
            committed: marker.committed(),
            now: abandoned.after.name(),
            migration,
            above_newest,
        }
    }
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
    /// Whether a migration file for this version is on disk.
    pub file_on_disk: bool,
    /// A kept row above the newest migration file, which `reinit` never forgets (a newer
    /// release's, or its files are gone: [`plan::ReinitStep::kept_as_newer`]); the ledger does
    /// not match the files there.
    pub kept_as_newer: bool,
    /// A forgotten row whose migration no other row records: it is pending again, and the next
    /// `up` runs it. Not a second row for a version another row still records, nor a replaced
    /// one (`replaced_by`).
    pub runs_again: bool,
    /// A forgotten row whose files are gone and whose version another migration has now
    /// (`replaced` in `migrate status`): that migration, `002_x`, which the next `up` runs.
    pub replaced_by: Option<String>,
    /// An accepted row whose up file was edited since it ran (`modified` in `migrate
    /// status`): the new text is recorded as applied without being run, and the database
    /// keeps what the text that ran did.
    pub edited: bool,
    /// An accepted row whose up file differs from what ran only by its line endings (or a
    /// byte-order mark), and which way ([`crate::history::line_endings_change`]): nothing that
    /// runs changed, never `edited`. Null otherwise.
    pub line_endings: Option<crate::history::LineEndingChange>,
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
    /// Among `forgotten`, those whose migrations the next `up` runs again (their files are on
    /// disk and no other row records them).
    pub forgotten_with_files: Vec<String>,
    /// Rows rewritten in place to accept their file (checksum, version spelling, name); they
    /// keep `applied_at` and `execution_time_ms`.
    pub accepted: Vec<String>,
    /// Files with no row recorded as applied without running them (only with `--through`).
    pub recorded: Vec<String>,
    /// Among `recorded`, those whose apply had been left part-way (`interrupted`), with the
    /// start marker of that run, deleted with it: confirmed by
    /// [`ReinitOptions::yes`](super::ReinitOptions::yes).
    pub recorded_over_interrupted: Vec<RecordedOverRun>,
    /// Files with no row that it left so (all of them without `--through`, those above it
    /// with it), in version order: the next `up` runs them.
    pub unrecorded: Vec<String>,
    /// Every row and every recorded file, in order.
    pub rows: Vec<ReinitRow>,
    /// What failed (one entry at most today; a list so that the JSON can grow).
    pub errors: Vec<ReportedError>,
    /// Wall-clock time of the whole command.
    pub total_duration_ms: u64,
    /// Whether this was a dry run (nothing changed).
    pub dry_run: bool,
    /// Problems that did not fail the run (e.g. the pooler check's second connection got no
    /// answer).
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

/// Transparent: its `Display` and `source()` are its error's, so a reporter prints each cause once.
impl<R: fmt::Debug> std::error::Error for Failed<R> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl<R> From<Failed<R>> for Error {
    fn from(failed: Failed<R>) -> Error {
        failed.error
    }
}

/// The result of a command: its report, or [`Failed`] with the report so far.
pub type Outcome<R> = std::result::Result<R, Failed<R>>;

/// Ignores progress events.
pub fn no_progress(_: Progress) {}

/// What every command's report carries: whether it is a dry run, its total duration and its
/// errors.
pub(crate) trait CommandReport: Sized {
    /// The options type of its command (`UpOptions`), as a library's texts name its fields
    /// ([`super::options::library_names`]).
    const OPTIONS: &'static str;
    /// The command's name (`down`), and whether it creates a database that does not exist
    /// (`up --create-database`): the others say to check the name instead
    /// ([`crate::db::connect::for_existing_database`]).
    const COMMAND: (&'static str, bool);
    fn starting(dry_run: bool) -> Self;
    fn close(&mut self, total_duration_ms: u64, error: Option<ReportedError>);
    /// Its errors (one at most today), which a run on scratch databases names its own by
    /// ([`crate::verify`]).
    fn errors(&self) -> &[ReportedError];
    fn errors_mut(&mut self) -> &mut [ReportedError];
}

macro_rules! command_report {
    ($($report:ident: $options:ident, $command:literal, $creates:literal),*) => {$(
        impl CommandReport for $report {
            const OPTIONS: &'static str = stringify!($options);
            const COMMAND: (&'static str, bool) = ($command, $creates);
            fn starting(dry_run: bool) -> Self {
                $report {
                    dry_run,
                    ..$report::default()
                }
            }
            fn close(&mut self, total_duration_ms: u64, error: Option<ReportedError>) {
                self.total_duration_ms = total_duration_ms;
                self.errors.extend(error);
            }
            fn errors(&self) -> &[ReportedError] {
                &self.errors
            }
            fn errors_mut(&mut self) -> &mut [ReportedError] {
                &mut self.errors
            }
        }
    )*};
}

command_report!(
    UpReport: UpOptions, "up", true,
    DownReport: DownOptions, "down", false,
    BaselineReport: BaselineOptions, "baseline", false,
    ReinitReport: ReinitOptions, "reinit", false,
    AbandonReport: AbandonOptions, "abandon", false
);
