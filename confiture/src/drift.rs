//! `Migrator::drift`: compares the live database with what its history says it should be.
//!
//! The migrations the ledger records as applied are replayed on a scratch database
//! ([`crate::db::scratch`]), both schemas are read from the catalogs
//! ([`crate::db::snapshot`]) and compared ([`crate::schema::diff`]): objects extra, missing or
//! different in the live database are drift (exit 9). The live database is only read — the
//! ledger through `status`'s plain `SELECT`s, its database settings in a read-only transaction
//! (given to every scratch database, `db::settings`) and one snapshot — so no table,
//! lock or row is created there.
//!
//! With a schema directory (`--schema-dir db/schema`), every migration is then applied to the
//! scratch database, the directory's `.sql` files (in path order) are run on a second one,
//! and the two schemas are compared: a schema folder that no longer matches its migrations.
//!
//! A fleet's `drift` replays each history once per server (`Replayed`): the targets of one
//! server whose ledgers record the same migrations (with the same files) are compared with the
//! schema the first of them replayed, instead of each creating — and dropping, which forces an
//! immediate checkpoint of the whole server — a scratch database of its own.

#![allow(clippy::result_large_err)]

use crate::hint::AGAIN;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::db::scratch::Scratch;
use crate::error::{Diverged, Error, ErrorKind, Reason, ServerError};
use crate::files::{SqlFile, TransactionMode};
use crate::migrate::{Outcome, ReportedError};
use crate::schema::{diff, Difference, ObjectId, Snapshot};
use crate::verify::{
    close_run, raised_on, refuse_server_wide, Finding, Replay, RunError, ScratchProgress,
    ScratchServer, SqlTimeouts, TargetSettings,
};
use crate::{exit, hint, Migrator};

/// Options of `migrate drift`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriftOptions {
    /// Where the scratch databases are created.
    pub scratch: ScratchServer,
    /// Also compare the migrations (all of them) with this directory of DDL files.
    pub schema_dir: Option<PathBuf>,
    /// `lock_timeout` for the migration SQL replayed on the scratch databases; overrides
    /// `migration.lock_timeout`, as `up`'s.
    pub lock_timeout_statement: Option<Duration>,
    /// `statement_timeout` for the migration SQL replayed (and the schema directory's files
    /// run) on the scratch databases; overrides `migration.statement_timeout` and the target's
    /// own setting, as `up`'s.
    pub statement_timeout: Option<Duration>,
    /// How long the reads of the live database (its ledger, its schema) wait for a lock
    /// another session holds on what they read, then exit 6 naming it: the CLI's
    /// `--lock-wait`, as `up`'s bounds its ledger read. Zero tries once.
    pub lock_wait: Duration,
}

setters!(DriftOptions {
    scratch: ScratchServer,
    schema_dir: Option<PathBuf>,
    lock_timeout_statement: Option<Duration>,
    statement_timeout: Option<Duration>,
    lock_wait: Duration,
});

impl Default for DriftOptions {
    fn default() -> Self {
        DriftOptions {
            scratch: ScratchServer::default(),
            schema_dir: None,
            lock_timeout_statement: None,
            statement_timeout: None,
            lock_wait: crate::migrate::DEFAULT_LOCK_WAIT,
        }
    }
}

/// The comparison of the migrations with a schema directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SchemaDirReport {
    /// The schema directory.
    #[serde(serialize_with = "crate::display::serialize_path")]
    pub dir: PathBuf,
    /// The `.sql` files run, in order.
    #[serde(serialize_with = "crate::display::serialize_paths")]
    pub files: Vec<PathBuf>,
    /// What the directory gives that every migration applied does not (`Extra`: only in the
    /// directory; `Missing`: only in the migrations).
    pub differences: Vec<Finding>,
}

/// What `migrate drift` reports (`--format json` prints it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DriftReport {
    /// No drift (and, with a schema directory, no difference from it).
    pub passed: bool,
    /// `user@host:port/db`, never with the password.
    pub database: Option<String>,
    /// The versions replayed: the ledger's applied migrations — those replayed before the
    /// replay failed or was stopped, when it did.
    pub replayed: Vec<String>,
    /// The scratch databases used (dropped at the end).
    pub scratch_databases: Vec<String>,
    /// In a fleet, the target (`user@host:port/db`) whose replay gave the expected schema,
    /// when another target of the same server recorded the same migrations, with the same
    /// files, and was replayed first: then no scratch database was created for this one.
    pub replayed_with: Option<String>,
    /// How the live database differs from its history (`Extra`: only in the live database;
    /// `Missing`: made by the history, absent from the live database).
    pub drift: Vec<Finding>,
    /// The comparison with `--schema-dir`, when given.
    pub schema_dir: Option<SchemaDirReport>,
    /// The migrations the ledger records as applied without having run them (`baseline`,
    /// `reinit`): what they make may never have been made in the live database, the likely
    /// cause of an object `Missing` there. Left out of the JSON when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recorded_without_running: Vec<NotRun>,
    /// The schemas of the live database left out of the comparison because each holds a
    /// confiture ledger of its own (`<schema>.tb_confiture`): tenants migrated with
    /// `--schema`, whose objects the database's own history does not make.
    pub tenant_schemas: Vec<String>,
    /// What failed (one entry at most today; a list so that the JSON can grow).
    pub errors: Vec<ReportedError>,
    /// A setting of the live database a scratch database could not be given, a scratch
    /// database that could not be dropped.
    pub warnings: Vec<String>,
    /// What the migrations replayed (or the schema directory's files) left on the scratch
    /// databases' server and the run could not put back (roles, tablespaces, databases are
    /// the server's): one sentence each, naming it and what to do. Not empty fails the run
    /// (exit 9).
    pub left_on_server: Vec<String>,
    /// Wall-clock time of the whole command.
    pub total_duration_ms: u64,
}

impl DriftReport {
    /// 0 no drift, [`exit::SCHEMA_CHECK_FAILED`] drift (or a schema directory that differs).
    pub fn exit_code(&self) -> u8 {
        if self.passed {
            exit::SUCCESS
        } else {
            exit::SCHEMA_CHECK_FAILED
        }
    }
}

/// A migration the ledger records as applied without having run it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NotRun {
    /// `VERSION_NAME`, as the ledger records it.
    pub migration: String,
    /// Its up file, when the migrations directory has it: the SQL that makes what it makes.
    #[serde(serialize_with = "crate::display::serialize_option_path")]
    pub up_file: Option<PathBuf>,
    /// Who recorded it without running it: `a baseline (`migrate baseline`)`, `` `migrate
    /// reinit` ``.
    pub recorded_by: &'static str,
    /// The objects `Missing` from the live database that its replay makes (the last
    /// migration to make each: the history replayed once more on a scratch database of its
    /// own, each migration recorded without running alone between two snapshots), found only
    /// when something is missing. Empty for a migration that makes none of them —
    /// a data migration makes none at all —, left out of the JSON then.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub makes_missing: Vec<ObjectId>,
    /// Whether the live database has some of what its replay makes, besides
    /// [`NotRun::makes_missing`]: then it ran there, or part of it was made by hand, and its
    /// file run again would fail or do twice what it did. Left out of the JSON when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub makes_present: bool,
}

fn drift_finding(d: Difference) -> Finding {
    Finding::worded(
        d,
        "in the live database, not made by its applied migrations",
        "missing from the live database",
        "(live database, expected by the history)",
    )
}

/// The live database against the schema its history makes: its drift, and a warning for
/// each table whose columns are in another order (not drift: a column dropped and added
/// again goes at the end, by hand or by a migration).
fn compare_live(expected: &Snapshot, live: &Snapshot, report: &mut DriftReport) {
    report.drift = diff(expected, live)
        .into_iter()
        .map(drift_finding)
        .collect();
    for order in crate::schema::column_order(expected, live) {
        report
            .warnings
            .push(order.describe("made by the applied migrations", "in the live database"));
    }
}

fn schema_dir_finding(d: Difference) -> Finding {
    Finding::worded(
        d,
        "in the schema directory, not made by the migrations",
        "made by the migrations, missing from the schema directory",
        "(schema directory, expected by the migrations)",
    )
}

impl Migrator {
    /// `migrate drift`: the live database against its history replayed on a scratch database.
    /// `Ok` with [`DriftReport::passed`] false (exit 9) on drift; `Err` when the comparison
    /// cannot be made (the history diverged, broken files, a migration that fails on the
    /// scratch database), with the report so far.
    ///
    /// Once the live database is read, the connection this session opened to it is closed
    /// (the next command opens another), so that the run holds no more than the scratch
    /// database's two; a connection handed over with [`Migrator::with_client`] stays open.
    ///
    /// ```no_run
    /// use confiture::drift::DriftOptions;
    /// use confiture::verify::ScratchProgress;
    ///
    /// # fn main() -> confiture::Result<()> {
    /// let mut migrator = confiture::Migrator::from_url("postgresql://app@localhost/app")?;
    /// let report = migrator.drift(&DriftOptions::default(), &mut |_: ScratchProgress| {})?;
    /// for finding in &report.drift {
    ///     eprintln!("{}", finding.message);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn drift(
        &mut self,
        options: &DriftOptions,
        progress: &mut dyn FnMut(ScratchProgress),
    ) -> Outcome<DriftReport> {
        self.drift_with(options, progress, None)
    }

    /// [`Migrator::drift`], with the schemas a fleet has already replayed (see [`Replayed`]).
    pub(crate) fn drift_with(
        &mut self,
        options: &DriftOptions,
        progress: &mut dyn FnMut(ScratchProgress),
        replayed: Option<&Replayed>,
    ) -> Outcome<DriftReport> {
        // The live database's status and snapshot, the scratch databases and their drop: all
        // where the blocking driver may block.
        self.off_runtime(progress, |m, progress| {
            let start = Instant::now();
            let mut report = DriftReport::default();
            let mut scratches = Vec::new();
            let result = m
                .drift_run(options, progress, &mut report, &mut scratches, replayed)
                .map_err(|mut run| {
                    crate::db::connect::for_existing_database(&mut run.error, &m.env, "drift");
                    run
                });
            report.passed = result.is_ok()
                && report.drift.is_empty()
                && report
                    .schema_dir
                    .as_ref()
                    .is_none_or(|s| s.differences.is_empty());
            close_run(
                (&m.suggest, "DriftOptions"),
                report,
                result,
                (scratches, m.stop_is_set()),
                start,
            )
        })
    }

    fn drift_run(
        &mut self,
        options: &DriftOptions,
        progress: &mut dyn FnMut(ScratchProgress),
        report: &mut DriftReport,
        scratches: &mut Vec<Scratch>,
        replayed: Option<&Replayed>,
    ) -> Result<(), RunError> {
        options.check_durations()?;
        if let Some(schema) = &self.env.migration.tenant_schema {
            return Err(no_tenant_drift(&format!("schema {schema}")).into());
        }
        let server = options.scratch.environment(&self.env)?;
        let schema_files = options.schema_dir.as_deref().map(sql_files).transpose()?;
        // The history, read as `status` reads it: plain SELECTs, nothing created.
        let read = self.status_read_within(options.lock_wait);
        let (status, applied_by, not_run) = read.map_err(|e| self.raised_here(e))?;
        report.database = status.database.clone();
        live_run(&status).map_err(|e| self.raised_here(e))?;
        replayable(&status, self.dir_named_by).map_err(|e| self.raised_here(e))?;
        let newest = status
            .migrations
            .iter()
            .filter(|m| m.status.is_recorded())
            .filter_map(|m| m.number)
            .max();
        // Set once replayed: a run that stops before (or while) it replays lists what it did.
        let applied = status.applied.clone();
        // The replay would refuse broken files of the migrations it runs (the applied ones;
        // every one with a schema directory): refused here, before the live schema is read
        // and a scratch database made — by the replay's own rule.
        let replays_through = match (&options.schema_dir, newest) {
            (Some(_), _) => Some(None),
            (None, Some(newest)) => Some(Some(newest)),
            (None, None) => None,
        };
        if let Some(target) = replays_through {
            let checked = self.read_checked()?;
            report.recorded_without_running = (not_run.into_iter())
                .map(|(version, name, recorded_by)| NotRun {
                    migration: crate::display::migration_id(&version, &name),
                    up_file: (checked.set.migrations.iter())
                        .find(|m| m.version_text == version)
                        .map(|m| m.up.path.clone()),
                    recorded_by,
                    makes_missing: Vec::new(),
                    makes_present: false,
                })
                .collect();
            let errors = crate::history::FileErrors::new(&checked.set, &checked.diagnostics);
            crate::plan::check_up_files(
                &checked.set,
                &errors,
                target,
                None,
                None,
                crate::plan::Effect::Runs,
            )?;
            crate::plan::check_replayable(&checked.set, target, DRIFT)?;
        }

        progress(ScratchProgress::Step("reading the live schema".into()));
        let live = self
            .live_snapshot(options.lock_wait)
            .map_err(|e| self.raised_here(e))?;
        // Tenants (a schema with a ledger of its own) are not made by this history: left out,
        // and said (`drift` of one tenant is refused, `no_tenant_drift`).
        let ledger = &self.env.migration.tracking_table.name;
        report.tenant_schemas = live.ledger_schemas(ledger);
        let live = live.without_schemas(&report.tenant_schemas);
        // What every session of the live database starts with, for the scratch databases.
        let env = self.env.clone();
        let values = self
            .client()
            .and_then(|client| crate::db::settings::read_with(client, &env))
            .map_err(|e| self.raised_here(e))?;
        let settings = TargetSettings {
            of: env.connection.to_string(),
            values,
        };
        // Everything of the live database is read: its session is not held while the scratch
        // databases are made and replayed on, nor while waiting for another target's replay
        // (`verify::CONNECTIONS_AT_ONCE`).
        self.close_own_session();

        // With a schema directory the replay goes on to every migration: not shared.
        let shared = replayed.filter(|_| options.schema_dir.is_none());
        // Held while this target replays: another target with the same history waits for it
        // (and replays itself only if this one fails).
        let slot = shared.map(|r| r.slot(Replayed::key(&server, &settings, &status, newest)));
        let mut slot = slot
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner));
        if let Some(done) = slot.as_deref().and_then(Option::clone) {
            report.replayed = applied;
            report.replayed_with = Some(done.by);
            let expected = done
                .expected
                .without_schemas(&report.tenant_schemas)
                .as_applied_by(&done.role, &applied_by, &live);
            let live =
                live.without_python_bookkeeping(&self.env.migration.tracking_table.name, &expected);
            compare_live(&expected, &live, report);
            drop(slot);
            let context = (&server, &settings, status.initialised, timeouts(options));
            return self.attribute_missing(context, &live, newest, progress, report, scratches);
        }
        let stop = (self.stop.clone(), crate::verify::Done::Nothing);
        let scratch = settings.new_scratch(&server, &mut report.warnings, stop)?;
        report.scratch_databases.push(scratch.name().to_string());
        progress(ScratchProgress::Created {
            database: scratch.name().to_string(),
        });
        // The ledger's schema exists on the scratch database when it does on the live one.
        let timeouts = timeouts(options);
        // What it replays: the ups through the newest applied (every one with a schema
        // directory), and the schema directory's files; refused here when one reaches the
        // target's own server.
        let checked = self.read_checked()?;
        let ups = checked
            .set
            .migrations
            .iter()
            .filter(|m| match replays_through {
                Some(Some(newest)) => m.version <= newest,
                Some(None) => true,
                None => false,
            })
            .map(|m| (m.up.path.as_path(), m.up.text.as_str()));
        let schema = schema_files
            .iter()
            .flatten()
            .map(|f| (f.sql.path.as_path(), f.sql.text.as_str()));
        let replay = refuse_server_wide(&scratch, &self.env, ups.chain(schema), DRIFT)
            .and_then(|()| Replay::new(&scratch, self, DRIFT, status.initialised, timeouts));
        scratches.push(scratch);
        let mut replay = replay?;
        if let Some(newest) = newest {
            let step = format!(
                "replaying {}",
                crate::display::plural(applied.len(), "applied migration")
            );
            progress(ScratchProgress::Step(step));
            if let Err(failed) = replay.up(None, Some(newest)) {
                // Those committed on the scratch database before it failed or was stopped.
                report.replayed.clone_from(&failed.report.applied);
                return Err(failed.into());
            }
        }
        report.replayed = applied;
        let expected = Arc::new(replay.snapshot()?);
        // The replay's objects are the replaying role's; the live ones, whoever's ran `up`.
        let role = replay.role()?;
        let as_applied = expected
            .without_schemas(&report.tenant_schemas)
            .as_applied_by(&role, &applied_by, &live);
        let live =
            live.without_python_bookkeeping(&self.env.migration.tracking_table.name, &as_applied);
        compare_live(&as_applied, &live, report);
        if let Some(slot) = slot.as_deref_mut() {
            *slot = Some(ReplayDone {
                expected,
                role,
                by: report.database.clone().unwrap_or_default(),
            });
        }

        drop(slot);

        if let (Some(dir), Some(files)) = (&options.schema_dir, schema_files) {
            let on = (&server, &settings);
            let compared = compare_schema_dir(replay, on, progress, report, scratches, files);
            report.schema_dir = Some(SchemaDirReport {
                dir: dir.clone(),
                ..compared?
            });
        } else {
            // Its sessions closed before another replay opens two (`CONNECTIONS_AT_ONCE`).
            drop(replay);
        }
        let context = (&server, &settings, status.initialised, timeouts);
        self.attribute_missing(context, &live, newest, progress, report, scratches)
    }

    /// Which migration recorded without running ([`DriftReport::recorded_without_running`])
    /// makes each object `Missing` from the live database ([`NotRun::makes_missing`]), and
    /// whether the live database has some of the rest of what it makes
    /// ([`NotRun::makes_present`]): only when something is missing and such a migration is
    /// among those replayed. The migrations through `newest` are replayed once more, on a
    /// scratch database of their own (on `server`, with the target's `settings`), each
    /// recorded without running alone, with a snapshot around it, and those that ran in
    /// batches between them, with a snapshot after each: an object is the last maker's, so
    /// one made again by a migration that ran is no longer a baselined migration's.
    fn attribute_missing(
        &self,
        (server, settings, initialised, timeouts): AttributionContext<'_>,
        live: &Snapshot,
        newest: Option<u64>,
        progress: &mut dyn FnMut(ScratchProgress),
        report: &mut DriftReport,
        scratches: &mut Vec<Scratch>,
    ) -> Result<(), RunError> {
        let missing: std::collections::HashSet<&ObjectId> = (report.drift.iter())
            .filter_map(|f| match &f.difference {
                Difference::Missing { object } => Some(object),
                _ => None,
            })
            .collect();
        let Some(newest) = newest.filter(|_| !missing.is_empty()) else {
            return Ok(());
        };
        let checked = self.read_checked()?;
        let not_run = &report.recorded_without_running;
        // Each migration replayed, in order, with its entry among those recorded without
        // running, if it is one.
        let replayed: Vec<(&crate::files::Migration, Option<usize>)> = (checked.set.migrations)
            .iter()
            .filter(|m| m.version <= newest)
            .map(|m| {
                let entry = not_run
                    .iter()
                    .position(|n| n.up_file.as_deref() == Some(m.up.path.as_path()));
                (m, entry)
            })
            .collect();
        if replayed.iter().all(|(_, entry)| entry.is_none()) {
            return Ok(());
        }
        progress(ScratchProgress::Step(
            "finding which migration recorded without running makes what is missing".into(),
        ));
        let stop = (self.stop.clone(), crate::verify::Done::Compared);
        let scratch = settings.new_scratch(server, &mut report.warnings, stop)?;
        report.scratch_databases.push(scratch.name().to_string());
        progress(ScratchProgress::Created {
            database: scratch.name().to_string(),
        });
        let ups = (replayed.iter()).map(|(m, _)| (m.up.path.as_path(), m.up.text.as_str()));
        let replay = refuse_server_wide(&scratch, &self.env, ups, DRIFT)
            .and_then(|()| Replay::new(&scratch, self, DRIFT, initialised, timeouts));
        scratches.push(scratch);
        let mut replay = replay?;

        let mut maker: HashMap<ObjectId, Option<usize>> = HashMap::new();
        let mut present = vec![false; not_run.len()];
        let mut before = replay.snapshot()?;
        // Applies the next `steps` migrations, then gives what they made to `entry`.
        let mut apply = |replay: &mut Replay, steps: u32, entry: Option<usize>| {
            replay.up(Some(steps), None)?;
            let after = replay.snapshot()?;
            for (id, _) in after.iter().filter(|(id, _)| before.get(id).is_none()) {
                if missing.contains(id) {
                    maker.insert(id.clone(), entry);
                } else if let Some(entry) = entry.filter(|_| live.get(id).is_some()) {
                    present[entry] = true;
                }
            }
            before = after;
            Ok::<(), RunError>(())
        };
        let mut batch = 0;
        for (_, entry) in &replayed {
            match entry {
                None => batch += 1,
                Some(entry) => {
                    if batch > 0 {
                        apply(&mut replay, batch, None)?;
                        batch = 0;
                    }
                    apply(&mut replay, 1, Some(*entry))?;
                }
            }
        }
        if batch > 0 {
            apply(&mut replay, batch, None)?;
        }
        let mut made: Vec<(usize, ObjectId)> = (maker.into_iter())
            .filter_map(|(id, entry)| Some((entry?, id)))
            .collect();
        made.sort();
        for (entry, id) in made {
            report.recorded_without_running[entry]
                .makes_missing
                .push(id);
        }
        for (n, present) in report.recorded_without_running.iter_mut().zip(present) {
            n.makes_present = present;
        }
        Ok(())
    }
}

/// Where [`Migrator::attribute_missing`] replays: the scratch server, the target's settings,
/// whether the ledger's schema is made first, the command's timeouts.
type AttributionContext<'a> = (
    &'a crate::config::Environment,
    &'a TargetSettings,
    bool,
    SqlTimeouts,
);

/// The timeouts `options` gives the SQL replayed.
fn timeouts(options: &DriftOptions) -> SqlTimeouts {
    SqlTimeouts {
        lock_timeout_statement: options.lock_timeout_statement,
        statement_timeout: options.statement_timeout,
    }
}

/// The command, as the help of a failure on its scratch databases names it.
const DRIFT: &str = "migrate drift";

/// `drift` of a tenant schema (named by `source`: where a fleet listed it, or `schema NAME`)
/// is refused, before connecting: the one wording, for a fleet and for one tenant.
pub(crate) fn no_tenant_drift(source: &str) -> Error {
    Error::usage(format!(
        "drift of tenant schemas is not supported ({source}): the live schema is read from \
         the whole database, where every tenant's objects are"
    ))
    .with_help(format!(
        "compare the migrations with {}, and each tenant's ledger with {}",
        hint::command("migrate verify"),
        hint::command("migrate status")
    ))
}

/// Refuses (exit 6) to compare the live database while a run going on holds the migration
/// lock ([`crate::status::StatusReport::lock_held_by`]): what it commits between the ledger's
/// read and the schema's — a no-transaction migration's statements, a migration and its row —
/// would read as drift no applied migration made, or its start markers as runs left part-way.
/// Named as `status` names it, with what it is running.
fn live_run(status: &crate::status::StatusReport) -> Result<(), Error> {
    let Some(holder) = &status.lock_held_by else {
        return Ok(());
    };
    Err(crate::db::lock::run_going_on_refusal(
        holder,
        &status.run_going_on_doing(),
        "drift compares the live database with its applied migrations, which that run is \
         changing; nothing was compared",
    ))
}

/// Refuses a history that cannot be replayed: diverged from the files (exit 7), a
/// no-transaction migration left part-way (`interrupted`, exit 7, with the ways on `status`
/// gives: [`crate::status::StatusReport::interrupted_help`]) or squashed (exit 5). A newer
/// release's rows are helped as `up` helps them, naming another migrations directory as
/// `named_by` names this one.
fn replayable(
    status: &crate::status::StatusReport,
    named_by: crate::files::DirNamedBy,
) -> Result<(), Error> {
    // Another member's rows (a ledger two members write): this member's migrations replayed
    // would not make that member's objects, which the live database has; nothing to fix here
    // but a ledger of its own for each member.
    if let (false, Some(rows)) = (status.diverged.is_empty(), &status.another_members_rows) {
        return Err(Error::diverged(
            format!(
                "drift replays this member's applied migrations, and the ledger is shared: the \
                 workspace member `{}` applied {} into it; nothing was compared",
                crate::display::escape(&rows.package),
                crate::display::escape(&rows.rows.join(", ")),
            ),
            Diverged::new(status.diverged.clone()),
        )
        .with_help(crate::plan::another_members_help(rows)));
    }
    if !status.diverged.is_empty() {
        let mut diverged = Diverged::new(status.diverged.clone());
        let mut help = format!(
            "{} shows what diverged; fix the history first",
            hint::command("migrate status")
        );
        // A newer release's rows: this release cannot replay them, and nothing here is to
        // fix (`status` says what `up` says of them, never that `reinit` forgets them).
        if let Some(newer) = &status.newer_database {
            diverged = diverged.with_newer_database(newer.clone());
            help = format!(
                "{}; drift from this release cannot judge them: run it from the release that \
                 applied them; {} shows whether anything else diverged",
                crate::plan::newer_database_help(newer, false, named_by),
                hint::command("migrate status")
            );
        }
        return Err(Error::diverged(
            "drift replays the applied migrations, and the history has diverged from the files",
            diverged,
        )
        .with_help(help));
    }
    // A no-transaction migration left part-way: what it committed is in the live database and
    // no applied migration made it (an apply), or what it removed is gone while its row says it
    // is applied (a rollback). Compared, that would be drift to capture or undo by hand; it is
    // the run left part-way to finish or abandon, as `status` (exit 7) and `up` say.
    if !status.interrupted.is_empty() {
        // Named as `status` names them (`006_t6`).
        let interrupted: Vec<String> = (status.migrations.iter())
            .filter(|m| matches!(m.status, crate::history::State::Interrupted { .. }))
            .map(|m| crate::display::escape(&m.id()).into_owned())
            .collect();
        let ways: Vec<String> = (status.interrupted_help().into_iter())
            .map(|line| {
                line.strip_prefix("help: ")
                    .map(str::to_string)
                    .unwrap_or(line)
            })
            .collect();
        return Err(Error::new(
            ErrorKind::Diverged,
            format!(
                "drift compares the live database with its applied migrations, and {} was \
                 interrupted part-way: what it committed (or, of a rollback, removed) is in the \
                 live database, which no finished run explains; nothing was compared",
                match interrupted.as_slice() {
                    [one] => format!("no-transaction migration {one}"),
                    many => format!(
                        "{} no-transaction migrations ({})",
                        many.len(),
                        many.join(", ")
                    ),
                }
            ),
        )
        .with_help(format!(
            "finish or abandon the run left part-way first ({} shows it): {}; then run {AGAIN}",
            hint::command("migrate status"),
            ways.join("; "),
        )));
    }
    if !status.squashed.is_empty() {
        return Err(Error::invalid(format!(
            "drift cannot replay a squashed history: the ledger records {} below \
             `first_version` or archived into a squashed baseline by confiture (Python)'s \
             `migrate squash`, whose files were removed",
            status.squashed.join(", ")
        )));
    }
    Ok(())
}

/// The schemas a fleet's `drift` has replayed, each with the target that replayed it, by
/// [`Replayed::key`]: the server the scratch databases are created on (its connection and
/// settings, whatever the target database's name), the target database's own settings, which
/// the scratch database is given, and what the replay applies — every
/// migration up to the newest one the ledger records, each with its up file's checksum, in
/// order. What a replay gives depends on nothing else: the scratch database is new, and a
/// history that diverged or was squashed is refused before.
#[derive(Debug, Default)]
pub(crate) struct Replayed(Mutex<HashMap<String, Arc<ReplaySlot>>>);

/// One history's replay: empty until a target has replayed it, locked while one does.
type ReplaySlot = Mutex<Option<ReplayDone>>;

/// A history replayed by a fleet's target.
#[derive(Debug, Clone)]
struct ReplayDone {
    /// The schema the replay gave.
    expected: Arc<Snapshot>,
    /// The role it ran as ([`Snapshot::as_applied_by`]).
    role: String,
    /// The target that replayed it (`user@host:port/db`).
    by: String,
}

impl Replayed {
    fn key(
        server: &crate::config::Environment,
        settings: &TargetSettings,
        status: &crate::status::StatusReport,
        newest: Option<u64>,
    ) -> String {
        // Where and how the scratch databases are made and migrated; not the environment's
        // name or file, which differ between the targets of a list.
        let mut connection = server.connection.clone();
        connection.dbname.clear();
        let mut key = format!(
            "{connection:?} {:?} {} {:?}",
            server.migration, server.application_name, settings.values
        );
        let replays = |m: &&crate::status::MigrationStatus| matches!((m.number, newest), (Some(v), Some(newest)) if v <= newest);
        for m in status.migrations.iter().filter(replays) {
            key.push_str(&format!("\n{} {:?}", m.id(), m.checksum));
        }
        key
    }

    fn slot(&self, key: String) -> Arc<ReplaySlot> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(key).or_default())
    }
}

impl Migrator {
    /// The live database's schema, its ledger left out; read only, waiting at most `wait` for
    /// a lock on what it reads.
    fn live_snapshot(&mut self, wait: Duration) -> Result<Snapshot, Error> {
        let options = crate::db::snapshot::SnapshotOptions {
            ledger: Some(self.env.migration.tracking_table.clone()),
        };
        crate::db::snapshot::snapshot_within(self.client()?, &options, wait)
    }
}

/// Every migration applied on `replay`'s scratch database against the schema directory's
/// `files` run on a second one (created on `server` with the target's `settings`, recorded in
/// `report` and `scratches`).
fn compare_schema_dir(
    mut replay: Replay,
    (server, settings): (&crate::config::Environment, &TargetSettings),
    progress: &mut dyn FnMut(ScratchProgress),
    report: &mut DriftReport,
    scratches: &mut Vec<Scratch>,
    files: Vec<SchemaFile>,
) -> Result<SchemaDirReport, RunError> {
    let timeouts = replay.timeouts;
    progress(ScratchProgress::Step("applying every migration".into()));
    replay.up(None, None)?;
    let head = replay.snapshot()?;
    let stop = replay.migrator.stop.clone();
    drop(replay);
    // Every migration ran on the first: an interruption here says so.
    let stop = (stop, crate::verify::Done::Replayed);
    let scratch = settings.new_scratch(server, &mut report.warnings, stop)?;
    report.scratch_databases.push(scratch.name().to_string());
    progress(ScratchProgress::Created {
        database: scratch.name().to_string(),
    });
    let env = scratch.environment().clone();
    scratches.push(scratch);
    progress(ScratchProgress::Step("running the schema directory".into()));
    let schema = run_schema_files(&env, &files, timeouts)?;
    Ok(SchemaDirReport {
        dir: PathBuf::new(),
        files: files.into_iter().map(|f| f.sql.path).collect(),
        differences: diff(&head, &schema)
            .into_iter()
            .map(schema_dir_finding)
            .collect(),
    })
}

/// One `.sql` file of the schema directory, read (and cut into statements) before any scratch
/// database is created.
#[derive(Debug)]
struct SchemaFile {
    /// Its path as found under the directory (a symbolic link keeps its own), its text and
    /// statements.
    sql: SqlFile,
}

impl SchemaFile {
    fn new(path: PathBuf, text: String) -> SchemaFile {
        let sql = SqlFile::new(path, text, TransactionMode::NoTransaction, false);
        SchemaFile { sql }
    }
}

/// The `.sql` files under `dir`, recursively, in path order, read; hidden entries (`.git`,
/// `.#a.sql`) and names that are not `.sql` are left out, readable or not. Symbolic links are
/// followed (a link back to a directory being walked is a loop). Whatever cannot be read — a broken
/// link or a loop, a FIFO or another entry that is not a regular file, a file or directory
/// without permission, a file that is not UTF-8 — is `C010`, the migrations directory's
/// rule, and every one of them is refused at once ([`crate::files::refusal`], exit 5): a
/// schema file skipped would make its objects read as missing from the directory.
fn sql_files(dir: &Path) -> Result<Vec<SchemaFile>, Error> {
    if !dir.is_dir() && crate::config::names_a_connection(&dir.to_string_lossy()) {
        // `--schema-dir $DATABASE_URL`: a connection string, never shown (it may hold a
        // password), as `-c`'s and `--targets`' are not. A directory of that name is read.
        return Err(crate::config::connection_given_as(
            crate::config::InPlaceOf::Path {
                what: "schema directory",
                given_to: None,
            },
            "give the directory of DDL files kept beside the migrations, e.g. db/schema; the \
             database is chosen apart from it",
        ));
    }
    if !dir.is_dir() {
        return Err(Error::invalid(format!(
            "schema directory {} does not exist",
            crate::display::path(dir)
        ))
        .with_help("give the directory of DDL files kept beside the migrations, e.g. db/schema"));
    }
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    let walk = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        // Hidden entries (`.git`, an editor's `.#a.sql` lock link) are never schema files nor
        // directories of them: not walked, not read, not reported. The directory given is.
        .filter_entry(|e| e.depth() == 0 || !is_hidden(e.path()));
    for entry in walk {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_path_buf();
                let link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink());
                if e.loop_ancestor().is_none() && link && !could_be_schema_file(&path) {
                    // A broken `notes.md` link is left out, as a readable one is.
                    continue;
                }
                let error = match (e.loop_ancestor(), e.io_error()) {
                    (Some(ancestor), _) => format!(
                        "it is a symbolic link back to {}, a loop",
                        crate::display::path(ancestor)
                    ),
                    (None, Some(io)) => crate::files::unreadable_link(&path, io),
                    (None, None) => e.to_string(),
                };
                unreadable.push(crate::files::unreadable_schema_file(&path, &error));
                continue;
            }
        };
        // With `follow_links`, the file type is the link's target's.
        if !could_be_schema_file(entry.path()) || entry.file_type().is_dir() {
            continue;
        }
        let path = entry.into_path();
        // Read as a migration file is: no FIFO, no file of the system (`/proc/self/environ`).
        match crate::files::read_sql_file(&path).map(String::from_utf8) {
            Ok(Ok(sql)) => files.push(SchemaFile::new(path, sql)),
            Ok(Err(_)) => {
                let error = "it is not UTF-8 text";
                unreadable.push(crate::files::unreadable_schema_file(&path, error));
            }
            Err(error) => {
                unreadable.push(crate::files::unreadable_schema_file(&path, &error));
            }
        }
    }
    if !unreadable.is_empty() {
        let shown = format!("schema directory {}", crate::display::path(dir));
        return Err(crate::files::refusal(
            Path::new(&shown),
            &unreadable,
            "drift compared nothing",
        ));
    }
    if files.is_empty() {
        return Err(Error::invalid(format!(
            "schema directory {} has no .sql file",
            crate::display::path(dir)
        )));
    }
    Ok(files)
}

/// Whether the entry at `path` is hidden (`.git`, `.#a.sql`): [`crate::files::name::is_hidden_name`].
fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| crate::files::name::is_hidden_name(&n.to_string_lossy()))
}

/// Whether the entry at `path` could be a schema file: named as the migrations directory's
/// files are read ([`crate::files::name::is_sql_file_name`]).
fn could_be_schema_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| crate::files::name::is_sql_file_name(&n.to_string_lossy()))
}

/// Runs each file on the database `env` names ([`run_schema_file`]), each in the session as
/// it connected ([`end_schema_file`] after each: nothing a file set or left open reaches the
/// next one, nor the read), then reads its schema.
fn run_schema_files(
    env: &crate::config::Environment,
    files: &[SchemaFile],
    timeouts: SqlTimeouts,
) -> Result<Snapshot, Error> {
    let on_scratch = |e| raised_on(env, e);
    // A session that runs the user's SQL, as a writing one: with the settings the scratch
    // database was given (the target's `statement_timeout` too, unless the command has its
    // own), not the tool's own.
    let need = crate::db::connect::Need::writing(timeouts.statement_timeout);
    let mut client = crate::db::connect::open_session(env, need)
        .map(|session| session.client)
        .map_err(on_scratch)?;
    // The files run as the migrations do: under the timeouts the command was given, set again
    // after each file's reset.
    let set = [
        ("lock_timeout", timeouts.lock_timeout_statement),
        ("statement_timeout", timeouts.statement_timeout),
    ];
    let set_timeouts = |client: &mut postgres::Client| {
        for (name, value) in set.iter().filter_map(|(n, v)| Some((n, (*v)?))) {
            let sql = format!("SET {name} = {}", value.as_millis());
            client.batch_execute(&sql).map_err(|e| {
                let what = format!("cannot set {name} on {}", env.connection);
                on_scratch(crate::db::query_error(&what, e))
            })?;
        }
        Ok::<(), Error>(())
    };
    for file in files {
        set_timeouts(&mut client)?;
        run_schema_file(&mut client, &file.sql).map_err(on_scratch)?;
        end_schema_file(&mut client, env, &file.sql).map_err(on_scratch)?;
    }
    // The files ran as migrations do, under the target's settings; the read is the tool's.
    crate::db::scratch::own_session(&mut client, env).map_err(on_scratch)?;
    crate::db::snapshot::snapshot(
        &mut client,
        &crate::db::snapshot::SnapshotOptions {
            ledger: Some(env.migration.tracking_table.clone()),
        },
    )
    .map_err(on_scratch)
}

/// Ends a schema file that ran: as `psql -f` does, whose session ends with the file. A
/// transaction it left open (a `BEGIN` without its `COMMIT`) is rolled back and is the file's
/// failure (exit 4, at its last `BEGIN` when its statements show one): otherwise the next
/// files and the catalog read ran inside it (one it had aborted failed the read with "current
/// transaction is aborted", exit 3, naming no file). Then the session is put back as it
/// connected ([`crate::db::scratch::end_file`]: settings, role, temporary objects, prepared
/// statements, cursors), so that nothing one file set reaches the next, nor the read.
fn end_schema_file(
    client: &mut postgres::Client,
    env: &crate::config::Environment,
    file: &SqlFile,
) -> Result<(), Error> {
    let left = crate::db::scratch::end_file(client).map_err(|e| {
        let what = format!("cannot put the session back on {}", env.connection);
        crate::db::query_error(&what, e)
    })?;
    let Some(aborted) = left.transaction_left_open else {
        return Ok(());
    };
    let begin = file.statements.iter().rev().find(|s| {
        crate::files::lexer::split(&file.text[s.range.clone()])
            .statements
            .first()
            .and_then(|s| s.transaction_control())
            .is_some_and(|c| matches!(c, "BEGIN" | "START TRANSACTION"))
    });
    let at = begin.map(|s| crate::text::line_col(&file.text, s.range.start));
    let shown = crate::display::path(&file.path);
    let place = at.map_or(String::new(), |(line, column)| format!(":{line}:{column}"));
    let state = if aborted { ", aborted" } else { "" };
    Err(Error::new(
        ErrorKind::MigrationFailed,
        format!(
            "schema file {shown}{place} left a transaction open{state}: it was rolled back on \
             the scratch database"
        ),
    )
    .with_help(format!(
        "end the transaction {shown} begins (COMMIT), or remove its BEGIN: each schema file \
         runs on its own, as `psql -f` runs it (nothing was written to the target), then run \
         {AGAIN}"
    ))
    .with_reason(Reason::SchemaFile {
        file: file.path.clone(),
        at,
        server: None,
    }))
}

/// Runs a schema file as `psql -f` does: one statement at a time, in autocommit, stopping at
/// the first that fails, which its error names by file, line and column — where the server
/// placed the error in it, else its first token (a runtime error has no position: a missing
/// table, a duplicate, a division by zero). A file whose cut may not be the server's
/// ([`crate::db::apply::cut_holds`]: a backslash in a plain `'...'` string) is sent whole, as one message: its error
/// then has a line only when the server placed it.
fn run_schema_file(client: &mut postgres::Client, file: &SqlFile) -> Result<(), Error> {
    let alone = crate::db::apply::cut_holds(file);
    let pieces: Vec<std::ops::Range<usize>> = if alone {
        file.statements.iter().map(|s| s.range.clone()).collect()
    } else {
        // The whole file, its byte-order mark left out: one piece.
        std::iter::once(crate::text::bom_len(&file.text)..file.text.len()).collect()
    };
    let shown = crate::display::path(&file.path);
    for (k, statement) in pieces.iter().enumerate() {
        let sql = &file.text[statement.clone()];
        let mut at = None;
        crate::db::scratch::execute(client, sql, |offset| {
            let start = statement.start;
            at = match (offset, alone) {
                (Some(offset), _) => Some(crate::text::line_col(&file.text, start + offset)),
                (None, true) => Some(crate::text::line_col(&file.text, start)),
                (None, false) => None,
            };
            let place = at.map_or(String::new(), |(line, column)| format!(":{line}:{column}"));
            let which = if alone && pieces.len() > 1 {
                format!(" (statement {} of {})", k + 1, pieces.len())
            } else {
                String::new()
            };
            Error::new(
                ErrorKind::MigrationFailed,
                format!("schema file {shown}{place}{which} failed on the scratch database"),
            )
            .with_help(format!(
                "fix {shown} (the schema directory, run on a scratch database: nothing was \
                 written to the target), then run {AGAIN}"
            ))
        })
        .map_err(|e| {
            let server = e.driver_error().and_then(ServerError::of);
            e.with_reason(Reason::SchemaFile {
                file: file.path.clone(),
                at,
                server,
            })
        })?;
    }
    Ok(())
}
