//! `Migrator::up`: applies pending migrations, one transaction each or all in one
//! (`--single-transaction`), creating the database first when asked (`--create-database`).

use crate::hint::AGAIN;
use std::time::{Duration, Instant};

use postgres::Client;

use super::lost::{written_by_another_session, Ran};
use super::options::UpOptions;
use super::report::{Outcome, Progress, UpReport};
use super::run::{
    done, holding_lock, ms, planned, qualified_settings, released, run_each, server_notice,
    versions, with_lock, Run, RunFailure,
};
use super::up_ahead::{LedgerAhead, Prepared, UpAhead};
use crate::config::Environment;
use crate::db::apply::{self, ApplySettings, Direction, Step, StepFailure};
use crate::db::connect::Reached;
use crate::db::ledger::{Access, CatalogBound, Write};
use crate::db::lock::HeldLock;
use crate::error::{ErrorKind, Result};
use crate::files::{Checked, Migration, MigrationSet, TransactionMode};
use crate::history::FileErrors;
use crate::ledger::{BuildSite, LedgerRow, StartedRun, TrackingTable};
use crate::plan;
use crate::Migrator;

impl Migrator {
    /// The files for `up`: refused (exit 5, before connecting) when a migration it could run
    /// through `--target` (all without one) has errors, a broken draft above it aside. A
    /// `--steps N` is decided by the ledger: its plan is checked once read ([`check_plan_files`]).
    /// The help's command that stops before the broken one is `request`'s ([`stop_before`]).
    /// `missing`: whether the database is known not to exist, asked only when the files are
    /// refused — nothing is applied there, which the help then says ([`plan::check_up_files`]
    /// with the empty history) instead of the condition.
    fn load_set_for_up(
        &self,
        options: &UpOptions,
        request: &plan::UpRequest,
        missing: &dyn Fn() -> bool,
    ) -> Result<Checked> {
        let checked = self.read_checked()?;
        if options.steps.is_none() {
            let errors = FileErrors::new(&checked.set, &checked.diagnostics);
            let stop = stop_before(self.on_scratch, request);
            let check = |history: Option<&crate::history::History<'_>>| {
                plan::check_up_files(
                    &checked.set,
                    &errors,
                    options.target.as_ref().map(crate::history::Version::number),
                    stop.as_ref().map(|s| s as &dyn Fn(&str) -> String),
                    history,
                    plan::Effect::Runs,
                )
            };
            let refused = check(None);
            if refused.is_err() && missing() {
                let none = crate::history::History::of(&checked.set, &[], request.first_version);
                check(Some(&none))?;
            }
            refused?;
        }
        Ok(checked)
    }

    /// Whether this session's database is known not to exist (`--create-database`'s files
    /// refused before connecting): asked of the server on a session opened and closed, which
    /// writes nothing ([`crate::db::connect::connect_if_exists`]) — only when no session is
    /// open and no [`Migrator::before_connecting`] check must come first; `false` whenever it
    /// cannot be told.
    fn database_is_missing(&self) -> bool {
        let checked_first = (self.before_connect.lock()).map_or(true, |state| state.is_some());
        if self.client.is_some() || checked_first {
            return false;
        }
        let env = self.env.clone();
        let found = crate::db::prefetch::unless_stopped(
            self.stop.clone(),
            || crate::db::prefetch::interrupted_connecting(crate::plan::Effect::Runs),
            move || crate::db::connect::connect_if_exists(&env),
        );
        matches!(found, Ok(Ok(None)))
    }

    /// Whether `up` runs on a database without a ledger that holds objects where the
    /// migrations build ([`crate::ledger::Unrecorded`]): when told to; on a scratch database,
    /// made for the replay; and in a squashed history (`first_version`), whose new database
    /// loads the schema snapshot before its first `up`.
    fn allows_non_empty(&self, options: &UpOptions) -> bool {
        options.allow_non_empty
            || self.on_scratch.is_some()
            || self.check_options.first_version.is_some()
    }

    /// The migrations `up` works from (with the directory's diagnostics) and its request, or
    /// the refusal `up` gives before connecting (files with errors it could run, `steps` 0, an
    /// unknown `target`). A fleet asks this once, not once per database.
    pub(crate) fn up_request(&self, options: &UpOptions) -> Result<(Checked, plan::UpRequest)> {
        self.up_request_where(options, &|| false)
    }

    /// [`Migrator::up_request`], `missing` saying whether the database is known not to exist
    /// ([`Migrator::load_set_for_up`]).
    fn up_request_where(
        &self,
        options: &UpOptions,
        missing: &dyn Fn() -> bool,
    ) -> Result<(Checked, plan::UpRequest)> {
        let request = plan::UpRequest {
            steps: options.steps,
            target: options.target.clone(),
            allow_out_of_order: options.allow_out_of_order,
            first_version: self.check_options.first_version,
            // A scratch database (`verify`, `drift`) replays the history: nothing is lost.
            allow_destructive: options.allow_destructive || self.on_scratch.is_some(),
            allow_newer_database: options.allow_newer_database,
            allow_non_empty: self.allows_non_empty(options),
            single_transaction: options.single_transaction,
            create_database: options.create_database,
        };
        let checked = self.load_set_for_up(options, &request, missing)?;
        plan::check_up_request(&checked.set, &request)?;
        Ok((checked, request))
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
        let options = options.clone();
        self.command(options.dry_run, progress, move |m, progress, report| {
            let result = m.up_run(&options, progress, report);
            result.map_err(|f| m.bounded_help(&options, f))
        })
    }

    /// A limited `up`'s failure (`--target`, `--steps`) whose help suggests an unbounded
    /// `migrate up` (the missing database's `migrate up --create-database`, whatever a refusal
    /// made before the plan said): the request's bound is put in it ([`crate::hint::bounded`],
    /// [`plan::up_args`]), so that following it does what was asked, and no more — with the
    /// request's flags. An unbounded request's connection failure (the missing database's
    /// `migrate up --create-database`, written without the request) gets its flags too; its
    /// refusals write their commands through [`plan::up_args`] themselves, some without a
    /// flag on purpose (`--single-transaction`'s "or drop --single-transaction"). Not on a
    /// scratch database, whose help names no `up`.
    fn bounded_help(&self, options: &UpOptions, mut f: RunFailure) -> RunFailure {
        let limited = options.target.is_some() || options.steps.is_some();
        let completed = limited || f.error.kind == ErrorKind::Connection;
        let Some(help) = f
            .error
            .help
            .as_deref()
            .filter(|_| completed && self.on_scratch.is_none())
        else {
            return f;
        };
        if crate::hint::unbounded_commands(help, "migrate up").is_empty() {
            return f;
        }
        let Ok((set, request)) = self.up_request(options) else {
            return f;
        };
        let spelled = request.target.as_ref().and_then(|t| {
            set.set
                .migrations
                .iter()
                .find(|m| m.version == t.number())
                .map(|m| m.version_text.as_str())
        });
        let args = plan::up_args(&request, spelled, None);
        f.error.help = Some(crate::hint::bounded(help, &args));
        f
    }

    fn up_run(
        &mut self,
        options: &UpOptions,
        progress: &mut dyn FnMut(Progress),
        report: &mut UpReport,
    ) -> Run<()> {
        options.check_durations()?;
        // Before connecting, dry run too: the database it would write is a default.
        self.env
            .refuse_unnamed_database(crate::plan::Effect::Runs)?;
        if !options.dry_run {
            crate::db::writable::refuse_reading_session(&self.env, crate::plan::Effect::Runs)?;
        }
        // `--create-database` connects its own way: only a missing database is created. A dry
        // run reads, and only after the files; otherwise the lock and the ledger (and its
        // DDL, uncommitted) are prepared while the files are read (`up_ahead`).
        let ((checked, request), prepared) = if options.create_database {
            // Files with errors are refused before connecting; a database that does not
            // exist yet has nothing applied, which their help says.
            let missing = || self.database_is_missing();
            (self.up_request_where(options, &missing)?, None)
        } else if options.dry_run {
            (self.while_connecting(|m| m.up_request(options))?, None)
        } else {
            let ahead = UpAhead {
                env: self.env.clone(),
                table: self.env.migration.tracking_table.clone(),
                lock_wait: options.lock_wait,
                allow_non_empty: self.allows_non_empty(options),
                second_connection: self.second_connection.clone(),
            };
            // The session `applying_session` takes over: opened for what it will run.
            let need = crate::db::connect::Need::writing(
                self.run_statement_timeout(options.statement_timeout),
            );
            self.while_connecting_then(
                |m| m.up_request(options),
                need,
                move |session, wanted| ahead.run(session, wanted),
            )?
        };
        if let Some(Prepared::Failed { error, unlock }) = prepared {
            // The connecting thread's failure, once the files passed: the lock given back, or
            // left to the session, which is closed (`Migrator::lock_kept`).
            let (mut kept, mut warnings) = (false, Vec::new());
            let result = released(unlock, Err(error.into()), &mut warnings, &mut kept);
            let result = self.lock_kept(kept, Ok(result));
            report.warnings.extend(warnings);
            return result;
        }
        let Checked {
            set, diagnostics, ..
        } = checked;
        let errors = FileErrors::new(&set, &diagnostics);
        if options.create_database
            && self.create_missing_database(&set, &errors, &request, options, progress, report)?
        {
            return Ok(());
        }
        if options.dry_run {
            let ledger = self.read_ledger_as_is(
                options.lock_wait,
                plan::Effect::Runs,
                &mut report.warnings,
            )?;
            if ledger.is_none() {
                // What `up` refuses, its dry run refuses: a ledger it may not create; and
                // what `up` says it creates with it, its dry run says it would.
                let env = self.env.clone();
                let table = &env.migration.tracking_table;
                let new = crate::db::ledger::refuse_uncreatable(self.client()?, table, Some(&env))?;
                if let Some((schema, ledger)) = new.and_then(|new| Some((new.schema, new.ledger?)))
                {
                    progress(Progress::WouldCreateLedgerSchema {
                        schema,
                        tracking_table: ledger.table,
                    });
                }
            }
            let (found, markers, access) = match ledger {
                Some(l) => (
                    Some(l.ledger.rows),
                    l.ledger.started,
                    Some((l.access, l.table)),
                ),
                None => (None, Vec::new(), None),
            };
            let rows = found.as_deref().unwrap_or_default();
            let wait = options.lock_wait;
            // Read with `--rerun-interrupted` too: an apply a row recorded over while its
            // index is INVALID is refused whatever the flags (`check_interrupted_with`).
            let left = apply::interrupted_left_behind(self.client()?, &set, &markers, wait)?;
            // What `up` refuses of its plan, its dry run refuses: the one list of them.
            let shared = std::sync::Arc::clone(&self.shared_ledgers);
            let plan = Acceptance {
                set: &set,
                errors: &errors,
                request: &request,
                on_scratch: self.on_scratch,
                single: options.single_transaction,
                shared: &shared,
            }
            .accept(
                rows,
                (&markers, options.rerun_interrupted, &left),
                access.as_ref().map(|(access, table)| (access, table)),
                report,
            )?;
            // What `up` refuses, its dry run refuses: no history, and objects where the
            // migrations build (it previewed a full apply, exit 0, where `up` says exit 7).
            if !request.allow_non_empty {
                let env = self.env.clone();
                let client = self.client()?;
                let unrecorded = crate::db::ledger::unrecorded(
                    client,
                    &env.migration.tracking_table,
                    BuildSite::of(&env),
                    found.as_deref(),
                    CatalogBound::new(options.lock_wait, None, Some(&env)),
                )?;
                crate::ledger::Unrecorded::refuse_applying(
                    unrecorded.as_ref(),
                    &markers,
                    &request,
                    &plan,
                )?;
            }
            // What `up` refuses, its dry run refuses: a pending no-transaction migration that
            // would meet, at its start, an INVALID index a failed or interrupted build left
            // (exit 4, the engine's rule and words); the migrations before it would be applied.
            refuse_invalid_index_met(self.client()?, &plan, &markers, options, wait)?;
            // Nothing refuses the preview: what lint says of the migrations it would run.
            report.warnings.extend(timeout_warnings(&plan.apply));
            // What the rerun meets of what its runs left part-way committed, said.
            let history = crate::history::History::of(&set, rows, request.first_version);
            (report.warnings).extend(plan::committed_run_again_warnings(
                &history,
                &markers,
                &plan.apply,
            ));
            report.migrations = planned(&plan.apply, Direction::Up);
            report.skipped = versions(&plan.skipped);
            return Ok(());
        }
        let mut warnings = Vec::new();
        let (on_scratch, in_fleet) = (self.on_scratch, self.in_fleet);
        let shared = std::sync::Arc::clone(&self.shared_ledgers);
        // `env`: to reconnect after a lost connection and read what the server committed.
        let (settings, client, target, env) = self.applying_session(
            options.lock_timeout_statement,
            options.statement_timeout,
            options.lock_wait,
            options.rerun_interrupted,
        )?;
        let locked = Locked {
            set: &set,
            errors: &errors,
            request: &request,
            settings: &settings,
            env: &env,
            reached: target.reached.as_ref(),
            single: options.single_transaction,
            lock_wait: options.lock_wait,
            started: Instant::now(),
            on_scratch,
            in_fleet,
            shared: &shared,
        };
        let mut kept = false;
        let result = match prepared {
            Some(Prepared::Locked { lock, mut ledger }) => {
                warnings.append(&mut ledger.warnings);
                holding_lock(
                    client,
                    lock,
                    settings.stop.as_ref(),
                    progress,
                    &mut warnings,
                    &mut kept,
                    |client, held, progress| {
                        locked.run(client, held, Some(*ledger), progress, report)
                    },
                )
            }
            _ => with_lock(
                client,
                &target,
                options.lock_wait,
                settings.stop.as_ref(),
                progress,
                &mut warnings,
                &mut kept,
                |client, held, progress| locked.run(client, held, None, progress, report),
            ),
        };
        let result = self.lock_kept(kept, result);
        report.warnings.extend(warnings);
        result
    }
}

/// How the refusal of files with errors says to stop before the broken migration: the
/// request bounded at the version before it ([`plan::up_args`]: `migrate up --target V` with
/// every flag the user gave — `--single-transaction`, `--allow-*`, ...), but not on a scratch
/// database: that `up` replays the history for `verify` or `drift`, which cannot stop before a
/// version, and suggesting `up` would have them write the target.
fn stop_before<'r>(
    on_scratch: Option<&'static str>,
    request: &'r plan::UpRequest,
) -> Option<impl Fn(&str) -> String + 'r> {
    on_scratch
        .is_none()
        .then_some(move |version: &str| plan::up_args(request, Some(version), None))
}

/// Refuses (exit 5) a plan bounded by `--steps` that reaches a migration whose files have
/// errors: the check [`Migrator::up_request`] makes before connecting for a `--target`, made
/// through the plan's [`plan::UpPlan::through`] once the ledger tells how far N steps go — so
/// that `--steps N` runs exactly when the `--target` of the same migrations does.
fn check_plan_files(
    set: &MigrationSet,
    errors: &FileErrors<'_>,
    request: &plan::UpRequest,
    (plan, rows): (&plan::UpPlan<'_>, &[LedgerRow]),
    on_scratch: Option<&'static str>,
) -> Result<()> {
    if request.steps.is_none() {
        return Ok(());
    }
    let stop = stop_before(on_scratch, request);
    // The ledger is read: the help says what holds here.
    let history = crate::history::History::of(set, rows, request.first_version);
    plan::check_up_files(
        set,
        errors,
        plan.through,
        stop.as_ref().map(|s| s as &dyn Fn(&str) -> String),
        Some(&history),
        plan::Effect::Runs,
    )
}

/// The report's warning of a plan that accepted a newer database (`allow_newer_database`):
/// which rows it leaves as they are.
fn newer_database_warning(plan: &plan::UpPlan<'_>) -> Option<String> {
    let newer = plan.newer_database.as_ref()?;
    Some(format!("{newer}: left as they are (allow_newer_database)"))
}

/// What `up` refuses of its plan once the ledger is read, before it writes anything: the one
/// list of them, which a run ([`Locked::accept`]) and its dry run both refuse by — so that a
/// dry run never previews a run the command refuses.
struct Acceptance<'a> {
    set: &'a MigrationSet,
    /// The directory's errors, for a plan that `--steps` bounds ([`check_plan_files`]).
    errors: &'a FileErrors<'a>,
    request: &'a plan::UpRequest,
    /// See [`Migrator::on_scratch`].
    on_scratch: Option<&'static str>,
    /// `--single-transaction`.
    single: bool,
    /// See [`Migrator::sharing_ledger_with`].
    shared: &'a [plan::SharedLedger],
}

impl<'a> Acceptance<'a> {
    /// The plan over the ledger's `rows`, or what refuses it: the plan itself, an interrupted
    /// run (`interrupted`: the ledger's markers, `--rerun-interrupted`, what interrupted runs
    /// left, `plan::LeftBehind`), the role's rights on the ledger (`access`, `None` when it does
    /// not exist yet), `--single-transaction` with a migration that cannot run in one
    /// ([`refuse_single`]). Adds the plan's warnings to `report`.
    fn accept<'p>(
        &self,
        rows: &'p [LedgerRow],
        (markers, rerun_interrupted, left): (&[StartedRun], bool, &[(String, plan::LeftBehind)]),
        access: Option<(&Access, &TrackingTable)>,
        report: &mut UpReport,
    ) -> Run<plan::UpPlan<'p>>
    where
        'a: 'p,
    {
        plan::check_unknown_interrupted(
            self.set,
            rows,
            markers,
            self.request.first_version,
            Direction::Up,
        )?;
        let plan = plan::up_over(self.set, rows, markers, self.request).map_err(|err| {
            let history = crate::history::History::of(self.set, rows, self.request.first_version);
            plan::explain_another_member(err, &history, self.shared)
        })?;
        check_plan_files(
            self.set,
            self.errors,
            self.request,
            (&plan, rows),
            self.on_scratch,
        )?;
        plan::check_up_interrupted_with(
            self.set,
            rows,
            markers,
            self.request,
            &plan,
            rerun_interrupted,
            left,
        )?;
        report.warnings.extend(newer_database_warning(&plan));
        if let Some((access, table)) = access.filter(|_| !plan.apply.is_empty()) {
            access.check(table, Write::Insert)?;
        }
        if self.single {
            if let Some(refused) = refuse_single(self.request, &plan, report) {
                return Err(refused);
            }
        }
        Ok(plan)
    }
}

/// What `up` does once it holds the migration lock.
struct Locked<'a> {
    set: &'a MigrationSet,
    /// The directory's errors, for a plan that `--steps` bounds ([`check_plan_files`]).
    errors: &'a FileErrors<'a>,
    request: &'a plan::UpRequest,
    settings: &'a ApplySettings,
    /// To reconnect after a lost connection and read what the server committed.
    env: &'a Environment,
    /// The host the run's session reached: the one that can tell what it committed.
    reached: Option<&'a Reached>,
    /// `--single-transaction`.
    single: bool,
    /// `--lock-wait` covers the migration lock and the ledger read after it.
    lock_wait: Duration,
    started: Instant,
    /// See [`Migrator::on_scratch`].
    on_scratch: Option<&'static str>,
    /// See [`Migrator::in_fleet`].
    in_fleet: bool,
    /// See [`Migrator::sharing_ledger_with`].
    shared: &'a [plan::SharedLedger],
}

/// The ledger `up` applies into: its rows as the run read them, and its DDL when it has not
/// committed yet (it commits with the first message of the migrations, `apply::run_steps`).
struct Ledger<'r> {
    read: &'r [LedgerRow],
    pending: Option<apply::PendingLedger>,
}

impl<'a> Locked<'a> {
    /// Reads the ledger (unless the connecting thread did: `ahead`), plans, refuses what the
    /// plan or the role's rights forbid, creates the tracking table once the plan is accepted
    /// (commits the DDL the connecting thread sent, or rolls it back on a refusal), and applies.
    fn run(
        &self,
        client: &mut Client,
        held: HeldLock,
        ahead: Option<LedgerAhead>,
        progress: &mut dyn FnMut(Progress),
        report: &mut UpReport,
    ) -> Run<()> {
        let new_schema_ahead = ahead.as_ref().and_then(|ahead| ahead.new_schema.clone());
        let (mut settings, found, mut pending, unrecorded, creation) = match ahead {
            Some(ahead) => {
                let settings = ApplySettings {
                    table: ahead.table,
                    markers: ahead.markers,
                    ledger_triggers: ahead
                        .found
                        .as_ref()
                        .is_some_and(|(_, access)| access.triggers),
                    ..self.settings.clone()
                };
                let creation = ahead.creation;
                (
                    settings,
                    ahead.found,
                    ahead.pending,
                    ahead.unrecorded,
                    creation,
                )
            }
            None => {
                let wait = self.lock_wait.saturating_sub(self.started.elapsed());
                let site = BuildSite::of(self.env);
                let (settings, found, creation) =
                    qualified_settings(client, self.settings, wait, site)?;
                let unrecorded = if self.request.allow_non_empty {
                    None
                } else {
                    crate::db::ledger::unrecorded(
                        client,
                        &settings.table,
                        BuildSite::of(self.env),
                        found.as_ref().map(|(rows, _)| &rows[..]),
                        CatalogBound::new(
                            self.lock_wait.saturating_sub(self.started.elapsed()),
                            settings.stop.as_ref(),
                            Some(self.env),
                        ),
                    )?
                };
                (settings, found, None, unrecorded, creation)
            }
        };
        settings.held_lock = Some(held);
        let initialised = found.is_some();
        let (rows, access) = found.unwrap_or_default();
        let access = initialised.then_some(&access);
        // The ledger's DDL sent ahead waits in a transaction of the session.
        let in_transaction = pending.is_some();
        // Read outside the ledger's DDL transaction only: its bounds (`SET LOCAL`) would
        // outlive the read there. There are no markers then anyway: they are read with the
        // ledger (`db::ledger::read_or_creation`), and a ledger not there has none; the engine
        // refuses the build of an INVALID index such a run meets (exit 4, naming it).
        let left = match in_transaction {
            true => Vec::new(),
            false => {
                let wait = self.lock_wait.saturating_sub(self.started.elapsed());
                apply::interrupted_left_behind(client, self.set, &settings.markers, wait)?
            }
        };
        let accepted = self
            .accept(&settings, &rows, access, &left, report)
            .and_then(|plan| {
                // No history (no ledger, or no rows), and objects where the migrations
                // build: not a new database.
                crate::ledger::Unrecorded::refuse_applying(
                    unrecorded.as_ref(),
                    &settings.markers,
                    self.request,
                    &plan,
                )?;
                // A prepared transaction in the way of the rows: never waited for.
                if access.is_some_and(|a| a.prepared) && !plan.apply.is_empty() {
                    crate::db::ledger::refuse_prepared_in_the_way(
                        client,
                        &settings.table,
                        crate::db::ledger::RowWrites::Insert {
                            migrations: &plan.apply,
                            tried: !in_transaction,
                        },
                        settings.ledger_lock_wait,
                    )?;
                }
                // No ledger, and no schema to create it in (a system schema first on the
                // search_path: in `pg_temp` its DDL even succeeds): refused as the dry run
                // and `status` refuse it, before anything is committed. The ledger's read
                // found out where it would be created: no round trip of its own.
                let new_schema = match initialised {
                    false => crate::db::ledger::refuse_nowhere_to_create(
                        client,
                        &self.env.migration.tracking_table,
                        Some(self.env),
                        &creation,
                    )?,
                    true => None,
                };
                Ok((plan, new_schema))
            });
        let plan = match accepted {
            Ok((plan, new_schema)) => {
                // The schema of a qualified tracking table, created with it: said.
                if let Some(new) = new_schema_ahead.or(new_schema) {
                    if let Some(ledger) = new.ledger {
                        progress(Progress::LedgerSchemaCreated {
                            schema: new.schema,
                            tracking_table: ledger.table,
                        });
                    }
                }
                plan
            }
            Err(refused) => {
                // A refused `up` leaves the database as it was.
                if let Some(pending) = pending {
                    pending.rollback(client)?;
                }
                return Err(refused);
            }
        };
        // Our apply markers that a full apply recorded since made out of date (confiture
        // (Python) applied the migration after our run was cut): deleted under the lock, so that
        // its later rollback does not bring our old run back. None read while the ledger's DDL
        // waits in a transaction (`left` is not read then).
        if !in_transaction {
            let history = crate::history::History::of(self.set, &rows, self.request.first_version);
            let superseded = plan::superseded_markers(&history, &settings.markers, &left);
            apply::clear_superseded(client, &settings, &superseded);
        }
        // Only once the plan is accepted: a refused `up` leaves the database as it was. The
        // DDL the connecting thread sent commits with the first message of the migrations
        // when they run one transaction each (`apply::run_steps`): no round trip
        // of its own.
        let mut ledger = None;
        // A ledger confiture made before 0.17.0 gets its `applied_by` column (the ledger's
        // DDL adds it, `TrackingTable::add_applied_by_sql`) with the first migration.
        let upgrade = access.is_some_and(|a| a.lacks_applied_by) && !plan.apply.is_empty();
        if upgrade && pending.is_none() && !self.single {
            pending = Some(apply::PendingLedger::begin(
                client,
                &settings.table,
                settings.ddl_bound(),
            )?);
        }
        if !initialised || upgrade {
            settings.table = match pending {
                Some(pending) if !self.single && !plan.apply.is_empty() => {
                    ledger = Some(pending);
                    settings.table
                }
                Some(pending) => pending.commit(client)?,
                None => apply::create_tracking_table(
                    client,
                    &settings.table,
                    settings.scratch,
                    settings.ddl_bound(),
                )?,
            };
        }
        report.skipped = versions(&plan.skipped);
        if plan.apply.is_empty() {
            progress(Progress::UpToDate);
            return Ok(());
        }
        // Nothing refused the run: what lint says of the migrations it runs.
        report.warnings.extend(timeout_warnings(&plan.apply));
        let result = if self.single {
            run_single(client, &settings, &rows, &plan.apply, progress, report)
        } else {
            let ledger = Ledger {
                read: &rows,
                pending: ledger,
            };
            self.apply_each(client, &settings, ledger, &plan.apply, progress, report)
        };
        result.map_err(|f| {
            let mut f = self.without_snapshot(&rows, f.in_a_fleet(self.in_fleet));
            // Part of a limited plan may be applied: the same `--steps N` again would apply N
            // more, `migrate up` every pending one.
            let partial = !report.applied.is_empty() || !report.unknown.is_empty();
            let finish = plan::up_finishing_command(self.set, &rows, self.request, &plan);
            let what = "what was asked";
            match (partial, self.on_scratch, finish) {
                (true, None, Some((_, target, args))) => {
                    report.finish_target = Some(target);
                    f.error.help = Some(match &f.error.help {
                        Some(help) => crate::hint::finishing(help, &args, what),
                        None => format!("to finish {what}, run {}", crate::hint::command(&args)),
                    });
                }
                // Nothing recorded as applied, but a help that names the bare `migrate up` (a
                // no-transaction migration that committed a part of itself: "then run `migrate
                // up` again") drops the request's bound; the finishing command is the request.
                (false, None, Some((_, _, args)))
                    if f.error.help.as_deref().is_some_and(|h| {
                        !crate::hint::unbounded_commands(h, "migrate up").is_empty()
                    }) =>
                {
                    let help = f.error.help.take().unwrap_or_default();
                    f.error.help = Some(crate::hint::finishing(&help, &args, what));
                }
                // A `--steps N` that left migrations out, which no `--target` finishes (one
                // applied out of order among them): never the same command again, nor a bare
                // `migrate up`.
                (true, None, None) if self.request.steps.is_some() && !plan.skipped.is_empty() => {
                    let help = f.error.help.as_deref().unwrap_or_default();
                    f.error.help = Some(crate::hint::unfinishable(help, "migrate up", what));
                }
                // Every pending migration was asked: a help that names the bare `migrate up`
                // (written by the engine, which knows no request: "then `migrate up` again")
                // gets the request's flags (`--single-transaction`, `--allow-*`, ...), so that
                // following it runs as the user asked.
                (_, None, None) if plan.skipped.is_empty() => {
                    if let Some(help) = f.error.help.take() {
                        let args = plan::up_plan_args(self.request, &plan, None);
                        f.error.help = Some(crate::hint::bounded(&help, &args));
                    }
                }
                _ => {}
            }
            f
        })
    }

    /// A migration that failed on a database without a squashed history's snapshot: the help
    /// says to load the snapshot first ([`plan::snapshot_missing_help`] decides when, from the
    /// server's SQLSTATE among others), instead of blaming a correct file. A help that says
    /// something more specific than "fix the file" ([`RunFailure::blames_file`]: a released
    /// migration lock, a no-transaction migration that committed part of itself) stays, the
    /// snapshot's text a detail.
    fn without_snapshot(&self, rows: &[LedgerRow], mut f: RunFailure) -> RunFailure {
        let failed = f.migration.as_ref().and_then(|(version, _)| {
            self.set
                .migrations
                .iter()
                .find(|m| &m.version_text == version)
        });
        let (Some(m), Some(server)) = (failed, f.server.as_ref()) else {
            return f;
        };
        if f.error.kind != ErrorKind::MigrationFailed {
            return f;
        }
        let Some(help) = plan::snapshot_missing_help(
            self.set,
            rows,
            self.request.first_version,
            m.version,
            &server.sqlstate,
            self.on_scratch,
        ) else {
            return f;
        };
        if f.blames_file {
            f.error.help = Some(help);
        } else {
            f.error.details.push(help);
        }
        f
    }

    /// The plan over the ledger's `rows`, or what refuses it ([`Acceptance::accept`]).
    fn accept<'p>(
        &'p self,
        settings: &ApplySettings,
        rows: &'p [LedgerRow],
        access: Option<&Access>,
        left: &[(String, plan::LeftBehind)],
        report: &mut UpReport,
    ) -> Run<plan::UpPlan<'p>> {
        Acceptance {
            set: self.set,
            errors: self.errors,
            request: self.request,
            on_scratch: self.on_scratch,
            single: self.single,
            shared: self.shared,
        }
        .accept(
            rows,
            (&settings.markers, settings.rerun_interrupted, left),
            access.map(|access| (access, &settings.table)),
            report,
        )
    }

    /// Applies `apply` one transaction each; on a failure, sorts the others into committed,
    /// unknown (the message cut short by a lost connection) and not attempted.
    fn apply_each(
        &self,
        client: &mut Client,
        settings: &ApplySettings,
        ledger: Ledger<'_>,
        apply: &[&Migration],
        progress: &mut dyn FnMut(Progress),
        report: &mut UpReport,
    ) -> Run<()> {
        let last = apply.len() - 1;
        let mut steps: Vec<Step<'_>> = apply
            .iter()
            .enumerate()
            .map(|(i, m)| Step::up(m, i == last))
            .collect();
        // The rows each must leave in the ledger, checked before it commits.
        apply::keep_rows(ledger.read, &mut steps);
        let started = std::time::Instant::now();
        let mut warnings = Vec::new();
        let result = run_each(
            client,
            settings,
            &steps,
            ledger.pending,
            progress,
            &mut warnings,
            &mut |m, d| {
                report.applied.push(m.version_text.clone());
                report.migrations.push(done(m, &m.up, d));
            },
        );
        report.warnings.extend(warnings);
        result.map_err(|mut f| {
            let fates = Ran {
                env: self.env,
                reached: self.reached,
                table: &settings.table,
                held: settings.held_lock,
                direction: Direction::Up,
                run: apply,
                committed: &mut report.applied,
                migrations: &mut report.migrations,
                took: started.elapsed(),
            }
            .settle(&mut f);
            report.unknown = fates.unknown;
            report.skipped.splice(0..0, fates.not_attempted);
            let failed = f.migration.as_ref().and_then(|(version, _)| {
                apply.iter().find(|m| &m.version_text == version).copied()
            });
            if let Some(m) = failed {
                // Its transaction rolled back with our row, unless it runs without one.
                let rolled_back = m.up.mode == TransactionMode::Transaction;
                written_by_another_session(client, settings, m, rolled_back, &mut f);
            }
            f
        })
    }
}

fn run_single(
    client: &mut Client,
    settings: &ApplySettings,
    read: &[LedgerRow],
    migrations: &[&Migration],
    progress: &mut dyn FnMut(Progress),
    report: &mut UpReport,
) -> Run<()> {
    let mut steps = up_steps(migrations);
    apply::keep_rows(read, &mut steps);
    let mut durations = vec![Duration::ZERO; migrations.len()];
    let mut notices = Vec::new();
    // Both callbacks report progress.
    let progress_cell = std::cell::RefCell::new(progress);
    // The step last started: the one whose lock wait a retry is for (the whole transaction
    // runs again from the first, but it was this one that waited).
    let current = std::cell::Cell::new(0);
    let result = apply::run_in_one_transaction(
        client,
        settings,
        &steps,
        &mut |attempt, delay| {
            let waited = migrations.get(current.get()).or(migrations.first());
            (*progress_cell.borrow_mut())(Progress::Retrying {
                version: waited.map(|m| m.version_text.clone()).unwrap_or_default(),
                name: waited.map(|m| m.name.clone()).unwrap_or_default(),
                attempt,
                delay_ms: ms(delay),
            })
        },
        &mut |i, finished| {
            let Some(m) = migrations.get(i) else { return };
            if finished.is_none() {
                current.set(i);
            }
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
        &mut |of, notice| {
            let (event, warning) = server_notice(&steps[of], Direction::Up, notice);
            notices.extend(warning);
            (*progress_cell.borrow_mut())(event);
        },
    );
    report.warnings.extend(notices);
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
        Err((i, failure)) => {
            let mut f = single_failure(migrations, i, failure, report);
            // One transaction for all: it rolled back, our rows and their SQL.
            if let Some(m) = migrations.get(i) {
                written_by_another_session(client, settings, m, true, &mut f);
            }
            Err(f)
        }
    }
}

/// The steps of `up --single-transaction`.
fn up_steps<'a>(migrations: &[&'a Migration]) -> Vec<Step<'a>> {
    migrations.iter().map(|m| Step::up(m, true)).collect()
}

/// `--single-transaction`'s refusal of `plan` (before anything runs) when one of its migrations
/// cannot run inside a transaction: its help spells the commands that apply the same migrations
/// instead, keeping the request's bound and flags ([`plan::single_transaction_help`]).
fn refuse_single(
    request: &plan::UpRequest,
    plan: &plan::UpPlan<'_>,
    report: &mut UpReport,
) -> Option<RunFailure> {
    let (i, mut failure) = apply::single_transaction_refusal(&up_steps(&plan.apply))?;
    failure.error.help = Some(plan::single_transaction_help(request, plan, i));
    Some(single_failure(&plan.apply, i, failure, report))
}

/// A failed `up --single-transaction`: step `i` failed, and none of the others stays applied.
fn single_failure(
    migrations: &[&Migration],
    i: usize,
    failure: StepFailure,
    report: &mut UpReport,
) -> RunFailure {
    // The run's COMMIT (`i` past the last step): of no one migration, and none stays applied.
    let Some(m) = migrations.get(i).or(migrations.first()).copied() else {
        return failure.error.into();
    };
    if i >= migrations.len() {
        report.skipped.splice(0..0, versions(migrations));
        return RunFailure {
            server: failure.server,
            ..RunFailure::from(failure.error)
        };
    }
    let rest: Vec<String> = migrations
        .iter()
        .filter(|o| o.version != m.version)
        .map(|m| m.version_text.clone())
        .collect();
    report.skipped.splice(0..0, rest);
    // Those before it ran and were rolled back with it; those after it were never sent.
    let mut f = RunFailure::of_step(m, Direction::Up, failure);
    f.not_attempted = versions(migrations.get(i + 1..).unwrap_or_default());
    f
}

impl Migrator {
    /// `--create-database`: connects to the database, and only when it does not exist refuses
    /// what `up` would refuse on its empty ledger, then creates it (a dry run plans instead).
    /// Returns whether the command is complete (a dry run of a missing database).
    fn create_missing_database(
        &mut self,
        set: &MigrationSet,
        errors: &FileErrors<'_>,
        request: &plan::UpRequest,
        options: &UpOptions,
        progress: &mut dyn FnMut(Progress),
        report: &mut UpReport,
    ) -> Run<bool> {
        if self.client.is_some() {
            return Ok(false);
        }
        self.announce_connect()?;
        // On a thread when the run can be stopped: a server that accepts and never answers
        // must not outlast a Ctrl-C (as `Migrator::client`).
        let env = self.env.clone();
        // The session the run goes on with (`applying_session`): opened for what it will run.
        let need = crate::db::connect::Need::writing(
            self.run_statement_timeout(options.statement_timeout),
        );
        let found = crate::db::prefetch::unless_stopped(
            self.stop.clone(),
            || crate::db::prefetch::interrupted_connecting(crate::plan::Effect::Runs),
            move || {
                crate::db::connect::open_session_if_exists(&env, need)
                    .map_err(crate::db::connect::for_create_through_pooler)
            },
        )??;
        if let Some(session) = found {
            self.set_new_session(session)?;
            return Ok(false);
        }
        let plan = plan::up(set, &[], request)?;
        check_plan_files(set, errors, request, (&plan, &[]), self.on_scratch)?;
        if options.single_transaction {
            if let Some(refused) = refuse_single(request, &plan, report) {
                return Err(refused);
            }
        }
        let database = self.env.connection.dbname.clone();
        crate::db::connect::refuse_unexpanded_database_name(&self.env)?;
        // A misspelt name creates a near-duplicate of the database meant, empty, and runs
        // every migration there: said (a dry run too), not refused, since close names are
        // also how numbered databases are told apart (`ci_41`, `ci_42`). Looked up while the
        // database is missing, said only by the run that creates it (or would): another run
        // that created it meanwhile said it, and this one created nothing to drop.
        let env = self.env.clone();
        let similar = crate::db::prefetch::unless_stopped(
            self.stop.clone(),
            || crate::db::prefetch::interrupted_connecting(crate::plan::Effect::Runs),
            move || crate::db::connect::close_database(&env),
        )?;
        let similar = similar.map(|similar| Progress::SimilarDatabaseExists {
            database: database.clone(),
            similar,
        });
        if options.dry_run {
            if let Some(similar) = similar {
                progress(similar);
            }
            // As the run, from a maintenance database of its server: which fails where the
            // run would, and identifies the server for a fleet target's claim, so that two
            // spellings of one missing database are one here too (the run claims it on the
            // session it creates it from, before creating it).
            let (env, claim) = (self.env.clone(), self.claim.clone());
            crate::db::prefetch::unless_stopped(
                self.stop.clone(),
                || crate::db::prefetch::interrupted_connecting(crate::plan::Effect::Runs),
                move || {
                    let mut client = crate::db::maintenance_session(&env)?;
                    // A role that may not create databases is refused as the run would be.
                    crate::db::check_may_create_database(&mut client, &env)?;
                    claim.map_or(Ok(()), |claim| claim.take_missing(&mut client))
                },
            )??;
            progress(Progress::WouldCreateDatabase { database });
            report.warnings.extend(timeout_warnings(&plan.apply));
            report.migrations = planned(&plan.apply, Direction::Up);
            report.skipped = versions(&plan.skipped);
            return Ok(true);
        }
        let (env, claim) = (self.env.clone(), self.claim.clone());
        let created = crate::db::prefetch::unless_stopped(
            self.stop.clone(),
            || {
                crate::Error::new(
                    crate::ErrorKind::Interrupted,
                    format!(
                        "interrupted while creating the database {}: no migration was run; the \
                         database may exist now (running {AGAIN} finds it)",
                        crate::config::quoted(&database)
                    ),
                )
            },
            // A fleet target claims the database before creating it, as the dry run does: the
            // second spelling of it is refused having created nothing, and one that finds it
            // created is refused as this target's duplicate, never told another session did.
            move || {
                crate::db::create_database_claimed(&env, |client| {
                    claim.map_or(Ok(()), |claim| claim.take_missing(client))
                })
            },
        )??;
        if created {
            if let Some(similar) = similar {
                progress(similar);
            }
            progress(Progress::DatabaseCreated { database });
        } else {
            // Another session created it between the look and the `CREATE DATABASE`.
            progress(Progress::DatabaseCreatedMeanwhile { database });
        }
        Ok(false)
    }
}

/// What lint's C119 (`resets-timeouts`) reports of the migrations `up` runs, said when it runs
/// them (the rule's own decision, `timeouts_turned_off`), named `file:line`: a statement that
/// turns the environment's `lock_timeout`/`statement_timeout` off for the rest of its
/// migration, and, in a no-transaction migration, one that sets `idle_session_timeout` (the
/// server ends the session between two of its statements). Said only once nothing refuses the
/// run, just before its first migration runs (a dry run: once its preview passed every
/// refusal, the missing database's of `--create-database` too): a run refused before running
/// anything says nothing of its files, whatever refused it.
fn timeout_warnings(apply: &[&Migration]) -> Vec<String> {
    use crate::files::rules::TimeoutFinding;
    apply
        .iter()
        .flat_map(|m| {
            let spans = m.up.statements.iter().map(|s| (s.range.clone(), s.line));
            let no_transaction = m.up.mode == TransactionMode::NoTransaction;
            crate::files::rules::timeouts_turned_off(&m.up.text, spans, no_transaction).map(
                move |(line, found)| {
                    let after = match found {
                        TimeoutFinding::BoundsOff(_) => "; the next migration gets them back",
                        TimeoutFinding::EndsIdleSession(_) => "",
                    };
                    format!(
                        "{}:{line}: {} (C119 resets-timeouts{after})",
                        crate::display::path(&m.up.path),
                        found.message()
                    )
                },
            )
        })
        .collect()
}

/// The dry run's refusal of the first migration of `plan` that `up` would refuse at its start
/// over an INVALID index a failed or interrupted build left ([`apply::invalid_indexes_met`], the
/// engine's rule; [`apply::refused_over_invalid_index`], its words): exit 4, as the real run's,
/// which applies the migrations before it first. Its help's command keeps
/// `--rerun-interrupted` when the migration's start marker stays (given, or an earlier run's).
/// No round trip when no migration of the plan is a no-transaction one opening with a
/// `CONCURRENTLY` build.
fn refuse_invalid_index_met(
    client: &mut Client,
    plan: &plan::UpPlan<'_>,
    markers: &[crate::ledger::StartedRun],
    options: &UpOptions,
    wait: Duration,
) -> Result<()> {
    let marker = |m: &crate::files::Migration| crate::history::apply_marker_of(markers, m.version);
    // A migration left part-way, run again, is read as the engine reads it: from the statement
    // that run was running on (its start marker), a build its file drops first left out.
    let files = (plan.apply.iter().enumerate()).map(|(at, m)| (at, &m.up, marker(m)));
    let Some((at, met)) = apply::invalid_indexes_met(|| Ok(client), wait, files)?
        .into_iter()
        .next()
    else {
        return Ok(());
    };
    let m = plan.apply[at];
    let again = match options.rerun_interrupted || marker(m).is_some() {
        true => "migrate up --rerun-interrupted",
        false => "migrate up",
    };
    let mut error =
        apply::refused_over_invalid_index(&m.id(), &m.up.path, &met, apply::NOT_RECORDED, again);
    if at > 0 {
        error = error.with_detail(format!(
            "{} would apply the {} before it first, then stop there",
            crate::hint::command("migrate up"),
            match at {
                1 => "migration".to_string(),
                n => format!("{n} migrations"),
            }
        ));
    }
    Err(error)
}
