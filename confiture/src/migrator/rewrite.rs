//! `Migrator::baseline`, `Migrator::reinit` and `Migrator::abandon`: the commands that rewrite
//! the ledger without running any migration, through one shared rewrite (lock, checks, one
//! transaction).

use std::time::{Duration, Instant};

use super::options::{AbandonOptions, BaselineOptions, ReinitOptions};
use super::report::{
    AbandonReport, AbandonedRun, BaselineReport, Outcome, Progress, RecordedOverRun, ReinitReport,
    ReinitRow,
};
use super::run::{read_ledger, versions, with_lock, Run};
use crate::db::apply;
use crate::db::ledger::{interrupted_rewrite, Creation, RewriteRun};
use crate::error::{ErrorKind, Result};
use crate::history::{apply_marker_of, FileErrors, History, State};
use crate::ledger::{LedgerRow, Rewrite, StartedRun};
use crate::plan;
use crate::Migrator;

impl Migrator {
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
        let options = options.clone();
        self.command(options.dry_run, progress, move |m, progress, report| {
            m.baseline_run(&options, progress, report)
        })
    }

    /// What [`Migrator::baseline`] refuses from the files and `options` alone, before it
    /// connects: an unknown `through`, files with errors it would record. A caller that reads
    /// a list of targets before it has the database to run on (the command line's
    /// `--targets-query`) asks this first, so that such a request is refused before any
    /// query runs, as a fleet's ([`crate::fleet::check_request`]).
    pub fn check_baseline(&self, options: &BaselineOptions) -> Result<()> {
        self.suggested_for(self.baseline_request(options).map(drop), options.dry_run)
    }

    /// [`Migrator::check_baseline`]'s checks; the files read, for the run.
    fn baseline_request(&self, options: &BaselineOptions) -> Result<crate::files::Checked> {
        options.check_durations()?;
        let checked = self.read_checked()?;
        plan::check_baseline_request(&checked.set, &options.through)?;
        // It writes the checksums of the files through `--through` as the truth.
        let errors = FileErrors::new(&checked.set, &checked.diagnostics);
        plan::check_up_files(
            &checked.set,
            &errors,
            Some(options.through.number()),
            // The command as given, stopped before: its `--yes` kept.
            Some(&|version: &str| plan::record_command(version, options.yes)),
            None,
            plan::Effect::Records,
        )?;
        Ok(checked)
    }

    fn baseline_run(
        &mut self,
        options: &BaselineOptions,
        progress: &mut dyn FnMut(Progress),
        report: &mut BaselineReport,
    ) -> Run<()> {
        let set = self.baseline_request(options)?.set;
        let shared = std::sync::Arc::clone(&self.shared_ledgers);
        self.env.refuse_unnamed_database(plan::Effect::Records)?;
        let run = RewriteRun::new(
            "baseline",
            format!("migrate baseline --through {}", options.through),
            options.yes,
        );
        let done = self.rewrite_ledger(
            &run,
            options.dry_run,
            options.lock_wait,
            progress,
            &mut report.warnings,
            |client, rows, markers| {
                let history = History::of(&set, rows, None);
                plan::refuse_over_another_member(
                    &history,
                    &shared,
                    plan::Writing::Baseline,
                    |_| true,
                )?;
                let plan = plan::baseline(&set, rows, &options.through)?;
                let rewrite = plan.rewrite();
                let over_runs = OverRuns {
                    set: &set,
                    history: &history,
                    markers,
                    rewrite: &rewrite,
                };
                over_runs.refuse(client, &run, options.lock_wait, plan.record.iter().copied())?;
                let over = over_runs.confirm(&run)?;
                let ids = plan.record.iter().map(|m| m.id()).collect();
                Ok((
                    rewrite,
                    (versions(&plan.record), ids, versions(&plan.already), over),
                ))
            },
        );
        let over;
        (report.baselined, report.baselined_ids, report.skipped, over) = done?;
        report.recorded_over_interrupted = over;
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
        let options = options.clone();
        self.command(options.dry_run, progress, move |m, progress, report| {
            m.reinit_run(&options, progress, report)
        })
    }

    /// What [`Migrator::reinit`] refuses from the files and `options` alone, before it
    /// connects: an unknown `through`. As [`Migrator::check_baseline`], for a caller that
    /// reads a list of targets first.
    pub fn check_reinit(&self, options: &ReinitOptions) -> Result<()> {
        self.suggested_for(self.reinit_request(options).map(drop), options.dry_run)
    }

    /// [`Migrator::check_reinit`]'s checks; the files read, for the run.
    fn reinit_request(&self, options: &ReinitOptions) -> Result<crate::files::Checked> {
        options.check_durations()?;
        let checked = self.read_checked()?;
        let first_version = self.check_options.first_version;
        plan::check_reinit_request(&checked.set, options.through.as_ref(), first_version)?;
        Ok(checked)
    }

    fn reinit_run(
        &mut self,
        options: &ReinitOptions,
        progress: &mut dyn FnMut(Progress),
        report: &mut ReinitReport,
    ) -> Run<()> {
        let checked = self.reinit_request(options)?;
        self.env.refuse_unnamed_database(plan::Effect::Records)?;
        let set = &checked.set;
        let errors = FileErrors::new(set, &checked.diagnostics);
        let first_version = self.check_options.first_version;
        let shared = std::sync::Arc::clone(&self.shared_ledgers);
        let run = RewriteRun::new(
            "reinit",
            match &options.through {
                Some(through) => format!("migrate reinit --through {through}"),
                None => "migrate reinit".to_string(),
            },
            options.yes,
        );
        let done = self.rewrite_ledger(
            &run,
            options.dry_run,
            options.lock_wait,
            progress,
            &mut report.warnings,
            |client, rows, markers| {
                let plan = plan::reinit(set, rows, options.through.as_ref(), first_version)?;
                let rewrite = plan.rewrite();
                let history = History::of(set, rows, first_version);
                plan::refuse_over_another_member(&history, &shared, plan::Writing::Reinit, |_| {
                    true
                })?;
                let over_runs = OverRuns {
                    set,
                    history: &history,
                    markers,
                    rewrite: &rewrite,
                };
                let recorded =
                    (plan.with(plan::ReinitAction::Record)).filter_map(|step| step.migration);
                over_runs.refuse(client, &run, options.lock_wait, recorded)?;
                plan::check_reinit_files(set, &plan, &errors)?;
                plan::confirm_reinit(set, &plan, options.yes)?;
                let over = over_runs.confirm(&run)?;
                let unrecorded = plan
                    .unrecorded
                    .iter()
                    .map(|m| m.version_text.clone())
                    .collect();
                let kept_newer = plan.newer_database.as_ref().map(newer_rows_kept);
                Ok((rewrite, (reinit_rows(&plan), unrecorded, kept_newer, over)))
            },
        );
        let (rows, unrecorded, kept_newer, over) = done?;
        report.recorded_over_interrupted = over;
        fill_reinit(report, rows);
        report.unrecorded = unrecorded;
        report.warnings.extend(kept_newer);
        Ok(())
    }

    /// Forgets the run of a no-transaction migration left part-way at `version` (`status`
    /// shows it `interrupted`): deletes its start marker, and writes no ledger row, runs
    /// nothing. For a person who has dealt with what it committed — undone it by hand, or kept
    /// it on purpose — and the only way on for a migration whose files were removed (a newer
    /// build's, an abandoned branch's), which nothing here can run again or record. An apply's
    /// migration is pending again afterwards (the next `up` runs it), a rollback's still
    /// applied. A version with no such run is refused (exit 64), nothing written.
    ///
    /// ```no_run
    /// use confiture::history::Version;
    /// use confiture::migrate::{no_progress, AbandonOptions};
    ///
    /// # fn main() -> confiture::Result<()> {
    /// let mut migrator = confiture::Migrator::from_url("postgresql://app@localhost/app")?;
    /// let options = AbandonOptions::version(Version::from(7));
    /// let report = migrator.abandon(&options, &mut no_progress)?;
    /// for run in &report.abandoned {
    ///     println!("forgot {} ({}): {}", run.run.id(), run.run.direction, run.committed);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn abandon(
        &mut self,
        options: &AbandonOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Outcome<AbandonReport> {
        let options = options.clone();
        self.command(options.dry_run, progress, move |m, progress, report| {
            m.abandon_run(&options, progress, report)
        })
    }

    fn abandon_run(
        &mut self,
        options: &AbandonOptions,
        progress: &mut dyn FnMut(Progress),
        report: &mut AbandonReport,
    ) -> Run<()> {
        options.check_durations()?;
        self.env.refuse_unnamed_database(plan::Effect::Records)?;
        // Files with errors are no reason to keep a marker: only which migration each marker
        // is of is read from them, as `status` reads it.
        let set = self.read_checked()?.set;
        let first_version = self.check_options.first_version;
        let run = RewriteRun::new(
            "abandon",
            format!("migrate abandon {}", options.version),
            false,
        );
        let env = self.env.clone();
        let shared = std::sync::Arc::clone(&self.shared_ledgers);
        (report.abandoned, report.unrecorded) = self.rewrite_ledger(
            &run,
            options.dry_run,
            options.lock_wait,
            progress,
            &mut report.warnings,
            |client, rows, markers| {
                let history = History::of(&set, rows, first_version);
                // Another member's runs are that member's to settle: never forgotten here.
                let markers = plan::markers_to_abandon(&set, markers, &shared, &options.version)?;
                let plan = plan::abandon(&set, &history, &markers, &options.version)?;
                let runs = plan.runs.iter().map(AbandonedRun::of).collect();
                // A migration pending again in a ledger with no rows: with its marker gone,
                // what it committed makes the next `up` refuse the database as one without a
                // history (`Unrecorded::left_by_our_run` no longer applies), which the report
                // says with the `up` that runs it.
                let pending = (plan.runs.iter())
                    .any(|r| matches!(r.after, plan::After::Pending(_) | plan::After::Another(_)));
                let unrecorded = match pending && rows.is_empty() {
                    true => crate::db::ledger::unrecorded(
                        client,
                        &env.migration.tracking_table,
                        crate::ledger::BuildSite::of(&env),
                        Some(rows),
                        crate::db::ledger::CatalogBound::new(options.lock_wait, None, Some(&env)),
                    )?,
                    false => None,
                };
                Ok((plan.rewrite(), (runs, unrecorded)))
            },
        )?;
        Ok(())
    }

    /// What `baseline`, `reinit` and `abandon` share: read the ledger (after taking the lock, unless a dry
    /// run), let `decide` plan a [`Rewrite`] from its rows and start markers (which it may
    /// refuse by, [`plan::check_rewrite_interrupted`], a dry run as the run) and describe it, and write it in one transaction,
    /// creating the tracking table only when there is something to write, in that same
    /// transaction. A dry run writes
    /// nothing. Returns the description (only once written); a lock found lost at release is
    /// added to `warnings`.
    fn rewrite_ledger<T>(
        &mut self,
        run: &RewriteRun<'_>,
        dry_run: bool,
        lock_wait: Duration,
        progress: &mut dyn FnMut(Progress),
        warnings: &mut Vec<String>,
        decide: impl Fn(&mut postgres::Client, &[LedgerRow], &[StartedRun]) -> Result<(Rewrite, T)>,
    ) -> Run<T> {
        if dry_run {
            let Some(ledger) =
                self.read_ledger_as_is(lock_wait, plan::Effect::Records, warnings)?
            else {
                let env = self.env.clone();
                let table = &env.migration.tracking_table;
                let markers = crate::db::ledger::markers_without_ledger(
                    self.client()?,
                    table,
                    lock_wait,
                    None,
                    Some(&env),
                )?;
                crate::db::lock::refuse_markers_of_run_going_on(
                    self.client()?,
                    &env,
                    &markers,
                    lock_wait,
                    "nothing was previewed",
                )?;
                let (rewrite, described) = decide(self.client()?, &[], &markers)?;
                if !rewrite.is_empty() {
                    // What the rewrite refuses, its dry run refuses: a ledger it may not create.
                    let _ =
                        crate::db::ledger::refuse_uncreatable(self.client()?, table, Some(&env))?;
                }
                return Ok(described);
            };
            let (rewrite, described) =
                decide(self.client()?, &ledger.ledger.rows, &ledger.ledger.started)?;
            // What the rewrite refuses, its dry run refuses: a ledger this role may not write
            // as the rewrite needs.
            let rewrite = rewrite.settling(&ledger.ledger.started);
            if !rewrite.is_empty() {
                ledger.access.check_rewrite(&ledger.table, &rewrite)?;
            }
            return Ok(described);
        }
        let table = self.env.migration.tracking_table.clone();
        // Stopped from outside, the wait for the lock ends and the rewrite's transaction is
        // cancelled and rolled back, as `up`'s migrations are; a lasting wait for another
        // session's lock on the ledger names who is in the way, as `up`'s does.
        // Its statements are all the tool's own: none runs under the connection's bound.
        let need = crate::db::connect::Need::WriteBounded;
        let (client, target, stop, env) = self.writing_session(plan::Effect::Records, need)?;
        let started = Instant::now();
        let mut kept = false;
        let result = with_lock(
            client,
            &target,
            lock_wait,
            stop.as_ref(),
            progress,
            warnings,
            &mut kept,
            |client, _held, progress| {
                // The command's `--lock-wait` bounds the wait for the migration lock and
                // for a lock another session holds on the ledger, together, as `down`'s.
                let wait = lock_wait.saturating_sub(started.elapsed());
                let found = read_ledger(
                    client,
                    &table,
                    wait,
                    stop.as_ref(),
                    crate::ledger::BuildSite::of(&env),
                )
                .map_err(|e| match e.kind {
                    // Said as the rewrite's, with the command to run again.
                    ErrorKind::Interrupted => {
                        interrupted_rewrite(run, &table, "while reading the tracking table")
                    }
                    _ => e,
                })?;
                // The table as the server resolved it, which the helps of its grants name;
                // none, where the session would create it, as the read found out.
                let (found, resolved, creation) = match found {
                    Ok((found, markers, resolved)) => {
                        (Some((found, markers)), resolved, Creation::Unasked)
                    }
                    Err(creation) => (None, table.clone(), creation),
                };
                let initialised = found.is_some();
                let ((rows, access), markers) = match found {
                    Some(found) => found,
                    // No ledger: the markers a run left beside it may still be there (the read
                    // said whether a markers' table stands where it would be created).
                    None if matches!(
                        creation,
                        Creation::Known {
                            markers_beside: false,
                            ..
                        }
                    ) =>
                    {
                        (Default::default(), Vec::new())
                    }
                    None => {
                        let wait = lock_wait.saturating_sub(started.elapsed());
                        let markers = crate::db::ledger::markers_without_ledger(
                            client,
                            &table,
                            wait,
                            stop.as_ref(),
                            Some(&env),
                        )?;
                        (Default::default(), markers)
                    }
                };
                let (rewrite, described) = decide(client, &rows, &markers)?;
                let rewrite = rewrite.settling(&markers);
                if rewrite.is_empty() {
                    progress(Progress::UpToDate);
                    return Ok(described);
                }
                // A table it creates is its own; one it found, it may not be allowed to write.
                // None, and no schema to create it in: refused as the dry run refuses it, by
                // what the ledger's read found out (no round trip of its own, as `up`'s).
                match initialised {
                    true => access.check_rewrite(&resolved, &rewrite)?,
                    false => {
                        crate::db::ledger::refuse_nowhere_to_create(
                            client,
                            &table,
                            Some(&env),
                            &creation,
                        )?;
                    }
                }
                if stop.as_ref().is_some_and(apply::Stop::is_set) {
                    return Err(interrupted_rewrite(
                        run,
                        &table,
                        "before writing the tracking table",
                    )
                    .into());
                }
                // A ledger it creates commits with its rows, or not at all: stopped or refused
                // after the table was made, the database has none, as the message says.
                // A ledger confiture made before 0.17.0 gets its `applied_by` column in the
                // rows' transaction (the ledger's DDL adds it).
                let created = match initialised && !access.lacks_applied_by {
                    true => None,
                    false => Some(apply::PendingLedger::begin_for_rows(
                        client,
                        &table,
                        crate::db::ledger::CatalogBound::new(
                            lock_wait.saturating_sub(started.elapsed()),
                            None,
                            Some(&env),
                        ),
                    )?),
                };
                let stop = stop.as_ref();
                crate::db::ledger::rewrite(
                    client, &table, &rewrite, created, run, lock_wait, stop,
                )?;
                Ok(described)
            },
        );
        self.lock_kept(kept, result)
    }
}

/// The warning of a reinit that kept a newer release's rows (above the newest migration file:
/// [`plan::ReinitPlan::newer_database`]), which it never forgets.
fn newer_rows_kept(newer: &crate::error::NewerDatabase) -> String {
    format!(
        "{newer}: reinit keeps their rows (forgotten, the newer release would apply them \
         again over their own changes); if those migrations were abandoned, restore their files \
         and roll them back with `migrate down`"
    )
}

/// The rows of a reinit plan, as its report shows them.
fn reinit_rows(plan: &plan::ReinitPlan<'_>) -> Vec<ReinitRow> {
    // The migrations some row still records after the rewrite.
    let recorded: Vec<u64> = plan
        .steps
        .iter()
        .filter(|s| s.action != plan::ReinitAction::Forget)
        .filter_map(|s| s.migration.map(|m| m.version))
        .collect();
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
            let replaced_by = step
                .migration
                .filter(|_| step.state == Some(State::Replaced))
                .map(crate::files::Migration::id);
            let accepted_modified =
                step.action == plan::ReinitAction::Accept && step.state == Some(State::Modified);
            let line_endings = match (accepted_modified, step.migration, step.row) {
                (true, Some(m), Some(row)) => crate::history::line_endings_change(m, row),
                _ => None,
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
                kept_as_newer: step.kept_as_newer(),
                replaced_by: replaced_by.clone(),
                edited: accepted_modified && line_endings.is_none(),
                line_endings,
                runs_again: step.action == plan::ReinitAction::Forget
                    && replaced_by.is_none()
                    && step
                        .migration
                        .is_some_and(|m| !recorded.contains(&m.version)),
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
    report.forgotten_with_files = with(&|r| r.runs_again);
    report.accepted = with(&|r| r.action == Accept);
    report.recorded = with(&|r| r.action == Record);
    report.deleted_count = report.forgotten.len() as u64;
    report.rows = rows;
}

/// What a ledger rewrite that records migrations (`baseline`, `reinit`) does over the runs
/// left part-way: `markers`, read with the ledger `history` is of, and the `rewrite` it plans.
struct OverRuns<'h, 'a, 'm> {
    /// The migrations the rewrite reads the runs' files from.
    set: &'h crate::files::MigrationSet,
    history: &'h History<'a>,
    markers: &'m [StartedRun],
    rewrite: &'h Rewrite,
}

impl OverRuns<'_, '_, '_> {
    /// Refuses, before anything is written, a rewrite (`run`) that would delete a start marker
    /// no record settles ([`plan::check_rewrite_interrupted`]), or record a migration of
    /// `recorded` whose interrupted build left its index INVALID
    /// ([`apply::refuse_recording_invalid_index`], read within `lock_wait`).
    fn refuse<'f>(
        &self,
        client: &mut postgres::Client,
        run: &RewriteRun<'_>,
        lock_wait: Duration,
        recorded: impl Iterator<Item = &'f crate::files::Migration>,
    ) -> Result<()> {
        let again = run.again();
        let check = |left: &[(String, plan::LeftBehind)]| {
            plan::check_rewrite_interrupted_with(
                self.history,
                self.markers,
                self.rewrite,
                (run.what, &again),
                left,
            )
        };
        if let Err(refused) = check(&[]) {
            // Refused: what those runs left (an INVALID index, a partition pending detach) is
            // read, a round trip of the refusal alone, and named as `up`'s and `down`'s
            // refusals name it.
            let left = apply::interrupted_left_behind(client, self.set, self.markers, lock_wait)?;
            return Err(check(&left).err().unwrap_or(refused));
        }
        let recorded = recorded.map(|m| {
            (
                (m.id(), m.version_text.clone()),
                &m.up,
                apply_marker_of(self.markers, m.version),
            )
        });
        apply::refuse_recording_invalid_index(client, lock_wait, recorded, run)
    }

    /// The runs left part-way the rewrite (`run`) records over ([`plan::recorded_over`]), as
    /// its report lists them; refused unless the run was given `--yes`
    /// ([`plan::confirm_recording_interrupted`]).
    fn confirm(&self, run: &RewriteRun<'_>) -> Result<Vec<RecordedOverRun>> {
        let over = plan::recorded_over(self.history, self.markers, self.rewrite);
        plan::confirm_recording_interrupted(&over, run.what, &run.again(), run.yes)?;
        Ok(over.iter().map(RecordedOverRun::of).collect())
    }
}
