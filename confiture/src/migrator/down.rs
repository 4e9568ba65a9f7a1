//! `Migrator::down`: rolls back applied migrations, newest first.

use std::time::Instant;

use super::lost::Ran;
use super::options::DownOptions;
use super::report::{DownReport, Outcome, Progress};
use super::run::{done, planned, qualified_settings, run_each, with_lock, Run, RunFailure};
use crate::db::apply::{interrupted_left_behind, Direction, Step};
use crate::db::ledger::{Access, Write};
use crate::error::Result;
use crate::files::{Migration, MigrationSet};
use crate::history::{FileErrors, History};
use crate::ledger::{LedgerRow, StartedRun, TrackingTable};
use crate::plan;
use crate::Migrator;

impl Migrator {
    /// What `down` refuses from the files and the options alone (`--steps 0`, `--target 0`
    /// without `--yes`, an unknown target): the same answer for every database of a fleet.
    pub(crate) fn down_request(&self, options: &DownOptions) -> Result<()> {
        let checked = self.read_checked()?;
        plan::check_down_request(&checked.set, &self.down_plan_request(options))
    }

    /// The [`plan::DownRequest`] `options` make: the one reading of them that
    /// [`Migrator::down_request`] checks and the run plans by.
    fn down_plan_request(&self, options: &DownOptions) -> plan::DownRequest {
        plan::DownRequest {
            steps: options.steps,
            target: options.target.clone(),
            yes: options.yes,
            allow_modified: options.allow_modified,
            first_version: self.check_options.first_version,
            preview: options.dry_run,
        }
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
        let options = options.clone();
        self.command(options.dry_run, progress, move |m, progress, report| {
            m.down_run(&options, progress, report)
        })
    }

    fn down_run(
        &mut self,
        options: &DownOptions,
        progress: &mut dyn FnMut(Progress),
        report: &mut DownReport,
    ) -> Run<()> {
        options.check_durations()?;
        let checked = self.read_checked()?;
        let set = &checked.set;
        // A draft being written (an error in a file `down` does not run) must not stop it.
        let errors = FileErrors::new(set, &checked.diagnostics);
        let request = self.down_plan_request(options);
        plan::check_down_request(set, &request)?;
        let shared = std::sync::Arc::clone(&self.shared_ledgers);
        self.env
            .refuse_unnamed_database(crate::plan::Effect::Runs)?;
        if options.dry_run {
            let ledger = self.read_ledger_as_is(
                options.lock_wait,
                crate::plan::Effect::Runs,
                &mut report.warnings,
            )?;
            let (rows, markers, access) = match ledger {
                Some(l) => (l.ledger.rows, l.ledger.started, Some((l.access, l.table))),
                None => Default::default(),
            };
            let wait = options.lock_wait;
            let left = interrupted_left_behind(self.client()?, set, &markers, wait)?;
            // What `down` refuses of its plan, its dry run refuses: the one list of them.
            let interrupted = (&markers[..], options.rerun_interrupted, &left[..]);
            let access = access.as_ref().map(|(access, table)| (access, table));
            let plan = accept(set, &rows, &request, &errors, interrupted, access, &shared)?;
            report.warnings.extend(modified_warnings(&plan));
            report.warnings.extend(plan::gap_warnings(&plan, &errors));
            report.migrations = planned(&plan.migrations(), Direction::Down);
            return Ok(());
        }
        let mut warnings = Vec::new();
        let in_fleet = self.in_fleet;
        let (settings, client, target, env) = self.applying_session(
            options.lock_timeout_statement,
            options.statement_timeout,
            options.lock_wait,
            options.rerun_interrupted,
        )?;
        let (budget, started) = (options.lock_wait, Instant::now());
        let reached = target.reached.clone();
        let mut kept = false;
        let result = with_lock(
            client,
            &target,
            options.lock_wait,
            settings.stop.as_ref(),
            progress,
            &mut warnings,
            &mut kept,
            |client, held, progress| {
                // No table: nothing was ever applied, and `down` does not create it.
                let (mut settings, found, _) = qualified_settings(
                    client,
                    &settings,
                    budget.saturating_sub(started.elapsed()),
                    crate::ledger::BuildSite::of(&env),
                )?;
                settings.held_lock = Some(held);
                let settings = &settings;
                let (rows, access) = found.unwrap_or_default();
                let wait = budget.saturating_sub(started.elapsed());
                let markers = &settings.markers;
                let left = interrupted_left_behind(client, set, markers, wait)?;
                let interrupted = (&markers[..], settings.rerun_interrupted, &left[..]);
                let ledger = Some((&access, &settings.table));
                let plan = accept(set, &rows, &request, &errors, interrupted, ledger, &shared)?;
                // Our apply markers a full apply recorded since made out of date: deleted
                // under the lock, as `up` deletes them (`plan::superseded_markers`).
                let history = crate::history::History::of(set, &rows, request.first_version);
                let superseded = plan::superseded_markers(&history, markers, &left);
                crate::db::apply::clear_superseded(client, settings, &superseded);
                if plan.roll_back.is_empty() {
                    progress(Progress::UpToDate);
                    return Ok(());
                }
                // A prepared transaction in the way of the rows: never waited for.
                if access.prepared {
                    let versions: Vec<&str> =
                        plan.roll_back.iter().map(|r| &r.row.version[..]).collect();
                    crate::db::ledger::refuse_prepared_in_the_way(
                        client,
                        &settings.table,
                        crate::db::ledger::RowWrites::Delete(&versions),
                        settings.ledger_lock_wait,
                    )?;
                }
                report.warnings.extend(modified_warnings(&plan));
                report.warnings.extend(plan::gap_warnings(&plan, &errors));
                // Each step deletes the row the plan matched, by that row's own version.
                let last = plan.roll_back.len() - 1;
                let mut steps: Vec<Step<'_>> = plan
                    .roll_back
                    .iter()
                    .enumerate()
                    .map(|(i, r)| Step::down(r.migration, &r.row.version, i == last))
                    .collect();
                // The rows each must leave in the ledger, checked before it commits.
                crate::db::apply::keep_rows(&rows, &mut steps);
                let mut notices = Vec::new();
                let sent = Instant::now();
                let result = run_each(
                    client,
                    settings,
                    &steps,
                    None,
                    progress,
                    &mut notices,
                    &mut |m, d| {
                        report.rolled_back.push(m.version_text.clone());
                        report.migrations.push(done(m, &m.down, d));
                    },
                );
                report.warnings.extend(notices);
                result.map_err(|mut f| {
                    let run: Vec<&Migration> = plan.roll_back.iter().map(|r| r.migration).collect();
                    let fates = Ran {
                        env: &env,
                        reached: reached.as_ref(),
                        table: &settings.table,
                        held: settings.held_lock,
                        direction: Direction::Down,
                        run: &run,
                        committed: &mut report.rolled_back,
                        migrations: &mut report.migrations,
                        took: sent.elapsed(),
                    }
                    .settle(&mut f);
                    report.unknown = fates.unknown;
                    let mut f = recorded_without_running(set, &plan, f.in_a_fleet(in_fleet));
                    // Part of the plan may be rolled back: the same request again would roll
                    // back more than was asked (`--steps N` counts from where it stopped).
                    let partial = !report.rolled_back.is_empty() || !report.unknown.is_empty();
                    let finish = plan::finishing_command(set, &rows, &request, &plan);
                    let what = "the rollback asked for";
                    match (partial, finish) {
                        (true, Some((_, target, args))) => {
                            report.finish_target = Some(target);
                            f.error.help = Some(match &f.error.help {
                                Some(help) => crate::hint::finishing(help, &args, what),
                                None => {
                                    format!("to finish {what}, run {}", crate::hint::command(&args))
                                }
                            });
                        }
                        // Nothing rolled back, but a help that names the bare `migrate down`
                        // (written by the engine, which knows no request: "then run `migrate
                        // down --rerun-interrupted` again", one step by default) drops the
                        // request's bound: it gets the request's, as `up`'s does.
                        (false, Some((_, _, args)))
                            if (request.target.is_some() || request.steps.is_some())
                                && f.error.help.as_deref().is_some_and(|h| {
                                    !crate::hint::unbounded_commands(h, "migrate down").is_empty()
                                }) =>
                        {
                            let help = f.error.help.take().unwrap_or_default();
                            f.error.help = Some(crate::hint::bounded(&help, &args));
                        }
                        // A `--steps N` (1 by default) no `--target` finishes: never the same
                        // command again. A `--target V` again rolls back exactly the rest.
                        (true, None) if request.target.is_none() => {
                            let help = f.error.help.as_deref().unwrap_or_default();
                            f.error.help =
                                Some(crate::hint::unfinishable(help, "migrate down", what));
                        }
                        _ => {}
                    }
                    f
                })
            },
        );
        let result = self.lock_kept(kept, result);
        report.warnings.extend(warnings);
        result
    }
}

/// A rollback whose SQL failed ([`RunFailure::blames_file`]) on a row written without running
/// its migration (`baseline`, `reinit`: [`LedgerRow::kind`], the slug's reason, as `down`'s
/// order of application reads it): the down file may be right, and what it removes never
/// existed on this database. The error says so and how the row was written, and the help
/// gives the way on that writes no SQL of the migration: forget the row with `migrate reinit
/// --through` the migration before it (its dry run first: it forgets every row above), or make
/// the down file tolerate what is missing.
fn recorded_without_running(
    set: &MigrationSet,
    plan: &plan::DownPlan<'_>,
    mut f: RunFailure,
) -> RunFailure {
    if !f.blames_file || f.error.kind != crate::error::ErrorKind::MigrationFailed {
        return f;
    }
    let Some((version, name)) = &f.migration else {
        return f;
    };
    let Some(r) = plan
        .roll_back
        .iter()
        .find(|r| &r.migration.version_text == version)
    else {
        return f;
    };
    let Some(by) = r.row.kind().recorded_without_running_by() else {
        return f;
    };
    let id = crate::display::migration_id(version, name);
    f.error.details.push(format!(
        "{id}'s row was recorded by {by} without running it: what its down file removes may \
         never have existed on this database"
    ));
    let down = crate::display::path_text(&r.migration.down.path);
    let before = set
        .migrations
        .iter()
        .filter(|m| m.version < r.migration.version)
        .max_by_key(|m| m.version);
    f.error.help = Some(match before {
        Some(before) => format!(
            "if its objects never existed here, forget its row instead of rolling it back \
             (nothing of {id} runs): {} shows what that forgets (every row above {}), then run \
             it with --yes instead of --dry-run; else make {down} tolerate what is missing \
             (`DROP ... IF EXISTS`) or fix it, then run {AGAIN}",
            crate::hint::command(&format!(
                "migrate reinit --through {} --dry-run",
                before.version_text
            )),
            before.version_text,
            AGAIN = crate::hint::AGAIN,
        ),
        None => format!(
            "if its objects never existed here, make {down} tolerate what is missing \
             (`DROP ... IF EXISTS`), else fix it; then run {}",
            crate::hint::AGAIN
        ),
    });
    f
}

/// What `down` refuses of its plan once the ledger is read, before it writes anything: the one
/// list of them, which a run and its dry run both refuse by. The plan over `rows`, or what
/// refuses it: an interrupted run (`interrupted`: the ledger's markers, `--rerun-interrupted`,
/// what interrupted runs left, `plan::LeftBehind`), the plan itself and its files ([`plan_down`]),
/// the role's rights on the ledger (`access`, `None` when it does not exist) when the plan
/// deletes a row, the rows of another member sharing the ledger (`shared`,
/// [`plan::refuse_over_another_member`]).
fn accept<'a>(
    set: &'a MigrationSet,
    rows: &'a [LedgerRow],
    request: &plan::DownRequest,
    errors: &FileErrors<'_>,
    (markers, rerun_interrupted, left): (&[StartedRun], bool, &[(String, plan::LeftBehind)]),
    access: Option<(&Access, &TrackingTable)>,
    shared: &[plan::SharedLedger],
) -> Result<plan::DownPlan<'a>> {
    let first = request.first_version;
    plan::check_unknown_interrupted(set, rows, markers, first, Direction::Down)?;
    // Rows another member applied into this ledger are never this member's to roll back:
    // its refusal says whose they are, and `--allow-modified` lets none through.
    let history = History::of(set, rows, first);
    let plan = (plan_down(set, rows, request, errors))
        .map_err(|err| plan::explain_another_member(err, &history, shared))?;
    let rolled_back = |row: &LedgerRow| plan.roll_back.iter().any(|r| std::ptr::eq(r.row, row));
    plan::refuse_over_another_member(&history, shared, plan::Writing::Down, rolled_back)?;
    plan::check_down_interrupted_with(set, rows, markers, request, &plan, rerun_interrupted, left)?;
    if let Some((access, table)) = access.filter(|_| !plan.roll_back.is_empty()) {
        access.check(table, Write::Delete)?;
    }
    Ok(plan)
}

/// Plans `down` and refuses it when a migration it rolls back has errors in its files (a gap
/// before it is not one: [`plan::gap_warnings`]).
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
                crate::display::path_text(&r.migration.up.path)
            )
        })
        .collect()
}
