//! `Migrator::status`: the state of every migration, read-only.

use std::collections::BTreeSet;
use std::time::Duration;

use super::options::StatusOptions;
use super::report::Progress;
use crate::diagnostic::Diagnostic;
use crate::error::Result;
use crate::files::MigrationSet;
use crate::ledger::{BuildSite, Ledger};
use crate::status::{self, StatusReport};
use crate::Migrator;

/// A ledger row recorded without running its migration: its version, its name, and who
/// recorded it so (`RowKind::recorded_without_running_by`).
pub(crate) type NotRunRow = (String, String, &'static str);

impl Migrator {
    /// `migrate status`: the state of every migration. Strictly read-only — plain `SELECT`s,
    /// no lock, nothing created — and one round trip after connecting when the ledger exists.
    ///
    /// Problems in the files do not hide the database: a directory that cannot be read at all
    /// is an error (exit 5), but the report of a directory with errors — a draft being written,
    /// a file misnamed — still shows every migration, carries the diagnostics in
    /// `diagnostics`, marks the migrations they concern `invalid`, and its
    /// [`StatusReport::exit_code`] is 5: what `up` would answer before running anything.
    ///
    /// ```no_run
    /// # fn main() -> confiture::Result<()> {
    /// let mut migrator = confiture::Migrator::from_url("postgresql://app@localhost/app")?;
    /// let report = migrator.status()?;
    /// for m in &report.migrations {
    ///     println!("{} {:?}", m.id(), m.status);
    /// }
    /// // 0 up to date, 1 pending, 2 not initialised, ...: `confiture::exit`
    /// std::process::exit(report.exit_code().into());
    /// # }
    /// ```
    pub fn status(&mut self) -> Result<StatusReport> {
        self.status_with(&StatusOptions::default())
    }

    /// [`Migrator::status`] with `options`: how long the ledger read waits for a lock another
    /// session holds on the ledger (`--lock-wait`), then exit 6 naming it.
    pub fn status_with(&mut self, options: &StatusOptions) -> Result<StatusReport> {
        let wait = options.lock_wait.unwrap_or(self.ledger_read().wait);
        let result = self.status_read_within(wait).map(|(report, _, _)| report);
        self.suggested(result).map_err(|mut error| {
            // A library session names `StatusOptions::lock_wait`, not `--lock-wait`.
            if !self.suggest.is_empty() {
                super::options::name_fields(&mut error, "StatusOptions");
            }
            error
        })
    }

    /// [`Migrator::status`] as the commands that read it on the way (drift) read it, which
    /// complete their own errors, with the roles the ledger's rows name as having applied them
    /// (`applied_by`; none when there is no ledger): `drift` compares owners with them. Waits at
    /// most `wait` for a lock another session holds on the ledger (`--lock-wait`), then exit 6
    /// naming it.
    pub(crate) fn status_read_within(
        &mut self,
        wait: Duration,
    ) -> Result<(StatusReport, BTreeSet<String>, Vec<NotRunRow>)> {
        // The ledger is read on the connecting thread, while the files are read and checked.
        let read = LedgerRead {
            wait,
            ..self.ledger_read()
        };
        let (checked, ledger) = self.while_connecting_then(
            Migrator::read_checked,
            crate::db::connect::Need::Read,
            move |session, _| {
                let read = LedgerRead {
                    reached: Some(session.reached.clone()),
                    ..read
                };
                read.run(&mut session.client)
            },
        )?;
        let ledger = match ledger {
            Some(ledger) => ledger,
            None => self.off_runtime(&mut |_: Progress| {}, |m, _| {
                let read = LedgerRead {
                    wait,
                    ..m.ledger_read()
                };
                let (client, reached) = m.client_reached()?;
                LedgerRead { reached, ..read }.run(client)
            })?,
        };
        let applied_by = ledger
            .0
            .iter()
            .flat_map(|l| &l.rows)
            .filter_map(|row| row.applied_by.clone())
            .collect();
        let not_run = ledger
            .0
            .iter()
            .flat_map(|l| &l.rows)
            .filter_map(|row| {
                let by = row.kind().recorded_without_running_by()?;
                Some((row.version.clone(), row.name.clone(), by))
            })
            .collect();
        let mut report = self.report(&checked.set, &checked.diagnostics, ledger);
        let set = &checked.set;
        self.off_runtime(&mut |_: Progress| {}, |m, _| {
            m.mark_left_behind(set, &mut report, wait)
        })?;
        Ok((report, applied_by, not_run))
    }

    /// Names, on each `interrupted` line of `report`, what its run left in the database
    /// ([`crate::db::apply::left_behind`], the read `up`'s and `down`'s refusals make): the
    /// index an apply's interrupted build left INVALID (the rule that makes `baseline
    /// --through` refuse to record it, [`status::MigrationStatus::invalid_index`]), or the
    /// partition its interrupted `DETACH PARTITION ... CONCURRENTLY` left pending detach
    /// ([`status::MigrationStatus::pending_detach`]), or the index its cut `DROP INDEX
    /// CONCURRENTLY` (an apply's or a rollback's) left INVALID
    /// ([`status::MigrationStatus::unfinished_drop`]): its help then says to drop the index and
    /// run the migration again, to finish the detach, or to finish the drop (or rebuild the
    /// index), not to record or run it blindly. Read
    /// within `wait`; nothing read when no run is interrupted, or a run going on holds the
    /// markers. A line a row recorded over an apply left part-way
    /// ([`crate::history::History::recorded_over`]) whose run left what keeps it interrupted
    /// ([`crate::plan::LeftBehind::keeps_recorded_interrupted`]: its INVALID index, a
    /// partition pending detach) is
    /// `interrupted` still ([`StatusReport::interrupted_under_row`]): the schema, not the row,
    /// is the truth — as `up` and `down` refuse it.
    fn mark_left_behind(
        &mut self,
        set: &MigrationSet,
        report: &mut StatusReport,
        wait: Duration,
    ) -> Result<()> {
        if report.running.is_some() {
            return Ok(());
        }
        // Every interrupted line's run, read at once (`left_behind`: one read of the
        // INVALID indexes for them all, not one a line).
        let runs = (report.migrations.iter().enumerate()).filter_map(|(at, line)| {
            let over = line.recorded_over.is_some();
            let marker = line.started.as_ref().or(line.recorded_over.as_ref())?;
            if line.not_here.is_some()
                || line.renumbered_from.is_some()
                || line.shares_version_with.is_some()
            {
                return None;
            }
            let file = (set.migrations.iter())
                .find(|m| m.version_text == line.version && m.name == line.name)?;
            Some(((at, over), marker, file))
        });
        // No run, no round trip: the session is asked for only when there is one.
        let found = crate::db::apply::left_behind(|| self.client(), wait, runs)?;
        let mut under_rows = Vec::new();
        for ((at, over), left) in found {
            let Some(line) = report.migrations.get_mut(at) else {
                continue;
            };
            match (over, left) {
                // A row recorded it over an apply left part-way: what its run left says the
                // row made nothing whole (`History::recorded_over`).
                (true, left) => {
                    if left.keeps_recorded_interrupted() {
                        under_rows.push((at, left));
                    }
                }
                (false, crate::plan::LeftBehind::InvalidIndex(index)) => {
                    line.invalid_index = Some(index);
                }
                (false, crate::plan::LeftBehind::RebuildCopies(copies)) => {
                    line.set_rebuild_copies(copies);
                }
                (false, crate::plan::LeftBehind::PendingDetach(pending)) => {
                    line.pending_detach = Some(pending);
                }
                (false, crate::plan::LeftBehind::UnfinishedDrop(index)) => {
                    line.unfinished_drop = Some(index);
                }
            }
        }
        for (at, left) in under_rows {
            report.interrupted_under_row(at, left);
        }
        self.mark_pending_invalid_indexes(set, report, wait)
    }

    /// Names, on each pending no-transaction migration of `report` that would meet at its
    /// start an INVALID index a failed or interrupted build left (`CREATE INDEX CONCURRENTLY`
    /// of its index, `REINDEX INDEX CONCURRENTLY` whose copy remains), that index
    /// ([`status::MigrationStatus::invalid_index`]): `up` refuses it (exit 4) until it is
    /// dropped — the rule is the engine's, [`crate::db::apply::invalid_indexes_met`]. One read
    /// of the INVALID indexes for them all, within `wait`; none when no pending migration is a
    /// no-transaction one opening with a `CONCURRENTLY` build.
    fn mark_pending_invalid_indexes(
        &mut self,
        set: &MigrationSet,
        report: &mut StatusReport,
        wait: Duration,
    ) -> Result<()> {
        let pending = (report.migrations.iter().enumerate())
            .filter(|(_, line)| {
                matches!(
                    line.status,
                    status::State::Pending | status::State::OutOfOrder
                ) && line.started.is_none()
                    && !line.invalid
            })
            .filter_map(|(at, line)| {
                let file = (set.migrations.iter())
                    .find(|m| m.version_text == line.version && m.name == line.name)?;
                Some((at, &file.up, None))
            });
        let met = crate::db::apply::invalid_indexes_met(|| self.client(), wait, pending)?;
        for (at, met) in met {
            if let Some(line) = report.migrations.get_mut(at) {
                line.invalid_index = Some(met.index.qualified().to_string());
            }
        }
        Ok(())
    }

    /// The status of `set` (already read and checked; its diagnostics are not known here)
    /// against this database.
    ///
    /// ```no_run
    /// # fn main() -> confiture::Result<()> {
    /// let mut migrator = confiture::Migrator::from_url("postgresql://app@localhost/app")?;
    /// let checked = migrator.load()?;
    /// let report = migrator.status_of(&checked.set)?;
    /// println!("{} pending", report.summary.pending);
    /// # Ok(())
    /// # }
    /// ```
    pub fn status_of(&mut self, set: &MigrationSet) -> Result<StatusReport> {
        let result = self.off_runtime(&mut |_: Progress| {}, |m, _| m.status_of_set(set, &[]));
        self.suggested(result)
    }

    fn status_of_set(
        &mut self,
        set: &MigrationSet,
        diagnostics: &[Diagnostic],
    ) -> Result<StatusReport> {
        let read = self.ledger_read();
        let wait = read.wait;
        let (client, reached) = self.client_reached()?;
        let ledger = LedgerRead { reached, ..read }.run(client)?;
        let mut report = self.report(set, diagnostics, ledger);
        self.mark_left_behind(set, &mut report, wait)?;
        Ok(report)
    }

    /// How this session reads its ledger for `status`.
    fn ledger_read(&self) -> LedgerRead {
        LedgerRead {
            env: self.env.clone(),
            // A lock on the ledger is waited for as migration SQL waits
            // (`migration.lock_timeout`), never forever.
            wait: Some(self.env.migration.lock_timeout)
                .filter(|w| !w.is_zero())
                .unwrap_or(crate::db::ledger::DEFAULT_WAIT),
            reached: None,
        }
    }

    fn report(
        &self,
        set: &MigrationSet,
        diagnostics: &[Diagnostic],
        (ledger, table_name, unrecorded, uncreatable, holder, new_schema): LedgerState,
    ) -> StatusReport {
        // Whether the markers are of a run going on: `LockHolder::runs`, the one rule.
        let markers = ledger.as_ref().map_or(&[][..], |l| &l.started[..]);
        let running = (holder.as_ref())
            .and_then(|h| h.runs(markers))
            .map(ToString::to_string);
        let prepared = (holder.as_ref()).and_then(|h| h.prepared().cloned());
        let lock_held_by = match &holder {
            Some(crate::db::lock::LockHolder::Session(session)) => Some(session.clone()),
            _ => None,
        };
        let mut report = status::report_while(
            set,
            diagnostics,
            &self.check_options,
            ledger.as_ref(),
            &table_name
                .clone()
                .unwrap_or_else(|| self.env.migration.tracking_table.to_string()),
            running,
        );
        report.cannot_create_ledger = uncreatable;
        report.database_not_named = self.env.name_the_database();
        if !self.shared_ledgers.is_empty() {
            let rows = ledger.as_ref().map_or(&[][..], |l| &l.rows[..]);
            let history = crate::history::History::of(set, rows, self.check_options.first_version);
            report.another_members_rows =
                crate::plan::of_another_member(&history, &self.shared_ledgers);
        }
        report.new_schema = new_schema;
        report.lock_held_by_prepared = prepared;
        report.lock_held_by = lock_held_by;
        // What `up` would not refuse, `status` does not say it refuses: the objects of a
        // first migration left part-way by a run of ours.
        report.unrecorded = unrecorded.filter(|_| {
            !set.migrations
                .first()
                .is_some_and(|first| crate::ledger::Unrecorded::left_by_our_run(markers, first))
        });
        report.database = Some(self.env.connection.to_string());
        report
    }
}

/// What `status` read: the ledger, its qualified name, what a database without one holds and,
/// when this session may not create it, why ([`crate::db::ledger::uncreatable`]); who holds
/// the migration lock; a tenant schema that does not exist.
type LedgerState = (
    Option<Ledger>,
    Option<String>,
    Option<crate::ledger::Unrecorded>,
    Option<String>,
    Option<crate::db::lock::LockHolder>,
    Option<crate::ledger::NewTenantSchema>,
);

/// The ledger read of `status`: plain `SELECT`s, one round trip when the ledger exists. Owned
/// data, so that it can run on the connecting thread.
struct LedgerRead {
    /// The environment: its tracking table, and where the migrations build
    /// ([`BuildSite::of`]).
    env: crate::config::Environment,
    wait: Duration,
    /// The host the session reached and what it was sent (`None`: a connection handed over,
    /// whose startup options are not known): its options are checked as a writing session's
    /// are ([`crate::db::connect::refuse_dropped_options`]).
    reached: Option<crate::db::connect::Reached>,
}

impl LedgerRead {
    /// The ledger (`None` when it does not exist yet), its schema-qualified name (`None`
    /// when it does not exist and there is no schema to create it in), when it does not
    /// exist or has no rows, what the database holds where the migrations build (one round
    /// trip more, then only), and, when it does not exist, why this session may not create
    /// it (round trips more, then only).
    fn run(&self, client: &mut postgres::Client) -> Result<LedgerState> {
        let table = &self.env.migration.tracking_table;
        let site = BuildSite::of(&self.env);
        let tenant = self.env.migration.tenant_schema.as_deref();
        // Who holds the migration lock, asked with the ledger's rows: a run going on may be
        // applying the pending migrations now, whatever the markers say.
        let sent = crate::db::connect::sent_settings(&self.env, self.reached.as_ref());
        let connection =
            crate::db::writable::Target::reached(&self.env, self.reached.as_ref()).connection;
        let refuse = |arrivals: Option<&str>, search_path: Option<&str>| {
            crate::db::connect::refuse_dropped_options(
                &self.env,
                &connection,
                &crate::db::connect::unmatched_options(&sent, arrivals),
                search_path.filter(|_| self.reached.is_some()),
                None,
            )
        };
        let status = crate::db::ledger::StatusRead {
            tenant,
            sent: &sent,
            refuse: &refuse,
        };
        // The reads after the ledger's (none found, or empty) share its wait.
        let bound = crate::db::ledger::CatalogBound::new(self.wait, None, Some(&self.env));
        let read =
            crate::db::ledger::read_with_lock_holder(client, table, self.wait, site, status)?;
        let (ledger, holder) = match read {
            Some((ledger, holder)) => (Some(ledger), Some(holder)),
            None => (None, None),
        };
        let table_name = match &ledger {
            Some(ledger) => Some(ledger.table.clone()),
            None => crate::db::ledger::qualified_name_within(client, table, bound)?,
        };
        let unrecorded = crate::db::ledger::unrecorded(
            client,
            table,
            BuildSite::of(&self.env),
            ledger.as_ref().map(|ledger| &ledger.rows[..]),
            bound,
        )?;
        let uncreatable = match &ledger {
            None => crate::db::ledger::uncreatable(client, table, Some(&self.env)),
            Some(_) => None,
        };
        // Is a run going on (it holds the migration lock)? Then the start markers there are
        // of the migrations it is running, not interrupted, and the pending ones may be
        // being applied. One look, no waiting; its own round trip only without a ledger,
        // whose read could not ask (a first run's may be creating it).
        let holder = match holder {
            Some(holder) => holder,
            None => crate::db::lock::run_going_on(client, tenant, bound)?,
        };
        let holder = crate::db::lock::with_tool(client, holder);
        // A tenant without a ledger: is its schema there at all, or a misspelt tenant's?
        let new_schema = match (tenant, &ledger) {
            (Some(schema), None) => {
                let names = crate::db::ledger::resolve_session(client, table)
                    .map_err(|e| crate::db::query_error("cannot read the schemas", e))?;
                crate::ledger::NewTenantSchema::among(
                    schema,
                    &names.existing_schemas,
                    &names.tenant_ledgers,
                )
            }
            // A schema-qualified tracking table's schema, missing: misspelt, or new.
            (None, None) => crate::db::ledger::new_ledger_schema(
                client,
                Some(&self.env),
                &crate::db::ledger::Creation::Unasked,
            )?,
            _ => None,
        };
        Ok((
            ledger,
            table_name,
            unrecorded,
            uncreatable,
            holder,
            new_schema,
        ))
    }
}
