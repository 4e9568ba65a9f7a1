//! `Migrator::status`: the state of every migration, read-only.

use super::report::Progress;
use crate::diagnostic::Diagnostic;
use crate::error::Result;
use crate::files::MigrationSet;
use crate::status::{self, StatusReport};
use crate::Migrator;

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
    /// std::process::exit(report.exit_code().into()); // 0 up to date, 2 pending, ...
    /// # }
    /// ```
    pub fn status(&mut self) -> Result<StatusReport> {
        let checked = self.while_connecting(Migrator::load)?;
        self.off_runtime(&mut |_: Progress| {}, |m, _| {
            m.status_with(&checked.set, &checked.diagnostics)
        })
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
        self.off_runtime(&mut |_: Progress| {}, |m, _| m.status_with(set, &[]))
    }

    fn status_with(
        &mut self,
        set: &MigrationSet,
        diagnostics: &[Diagnostic],
    ) -> Result<StatusReport> {
        let table = self.env.migration.tracking_table.clone();
        // A lock on the ledger is waited for as migration SQL waits (`migration.lock_timeout`),
        // never forever.
        let wait = Some(self.env.migration.lock_timeout)
            .filter(|w| !w.is_zero())
            .unwrap_or(crate::db::ledger::DEFAULT_WAIT);
        let first_version = self.check_options.first_version;
        let client = self.client()?;
        let ledger = crate::db::ledger::read_within(client, &table, wait)?;
        let table_name = match &ledger {
            Some(ledger) => ledger.table.clone(),
            None => crate::db::ledger::qualified_name(client, &table)?,
        };
        let mut report = status::report_checked(
            set,
            diagnostics,
            first_version,
            ledger.as_ref(),
            &table_name,
        );
        report.database = Some(self.env.connection.to_string());
        Ok(report)
    }
}
