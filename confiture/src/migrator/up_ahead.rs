//! What `up` does on the connecting thread while its files are read and checked
//! (`db::prefetch`): it checks that the session can write, takes the migration lock when it is
//! free, reads the ledger and, on a fresh database, sends the ledger's DDL without committing
//! it. None of it depends on the files, and the server's work (the DDL is a table with eight
//! indexes and constraints) overlaps this process's own.
//!
//! Nothing is committed before the plan is accepted: `up` commits the DDL once it is
//! ([`LedgerAhead::pending`]), and rolls it back on a refusal; when the files are refused, the
//! work is abandoned and the connection's end rolls the DDL back and releases the lock. Its
//! errors are those of the same steps run one after the other (the lock is released first, and
//! what the unlock answered is weighed as a run's: [`Prepared::Failed`]), and come only after
//! the files have passed. A lock another session holds is not waited for
//! here: `up` then does every step itself, as without a thread, announcing the wait.

use std::time::Duration;

use crate::config::Environment;
use crate::db::apply::PendingLedger;
use crate::db::connect::Session;
use crate::db::lock::{self, MigrationLock};
use crate::db::prefetch::Wanted;
use crate::db::writable::{self, Target};
use crate::error::Result;
use crate::ledger::TrackingTable;

use super::run::LedgerFound;

/// What the connecting thread of `up` needs: owned, so that it can run there.
pub(crate) struct UpAhead {
    pub(crate) env: Environment,
    pub(crate) table: TrackingTable,
    /// `--lock-wait`: bounds the ledger read's wait for a lock held on the table.
    pub(crate) lock_wait: Duration,
    /// `--allow-non-empty` (or a scratch database): no need to ask what a database without a
    /// ledger holds.
    pub(crate) allow_non_empty: bool,
    /// The session's `Migrator::second_connection`.
    pub(crate) second_connection: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// How far the connecting thread got.
pub(crate) enum Prepared {
    /// Connected only (the lock was taken by another session, or the work was abandoned):
    /// `up` does the rest itself.
    Connected,
    /// The ledger read (or its DDL) failed under the lock, which was given back: `unlock` is
    /// what that answered — an unlock that gave up leaves the lock to the session, which `up`
    /// then closes ([`crate::Migrator::lock_kept`]).
    Failed {
        error: crate::error::Error,
        unlock: Result<()>,
    },
    /// The lock is held and the ledger read (or its DDL sent).
    Locked {
        lock: MigrationLock,
        ledger: Box<LedgerAhead>,
    },
}

/// The ledger as the connecting thread found it, under the lock.
pub(crate) struct LedgerAhead {
    /// The table, schema-qualified as the server resolved it.
    pub(crate) table: TrackingTable,
    /// Its rows and what this role may do to it; `None` when it did not exist.
    pub(crate) found: Option<LedgerFound>,
    /// The start markers read with it ([`crate::ledger::Ledger::started`]).
    pub(crate) markers: Vec<crate::ledger::StartedRun>,
    /// Its DDL, sent and not committed, when it did not exist. `None` with `found` `None`: the
    /// DDL was not sent (abandoned) or failed and was rolled back; `up` sends it again once the
    /// plan is accepted, and its error, if any, comes there.
    pub(crate) pending: Option<PendingLedger>,
    /// Where the session would create it when it did not exist, as its read found out.
    pub(crate) creation: crate::db::ledger::Creation,
    /// What the session's checks ([`writable::check`]) warned of.
    pub(crate) warnings: Vec<String>,
    /// The schema of a schema-qualified tracking table that did not exist, asked before its
    /// DDL (which creates it) was sent ([`crate::db::ledger::new_ledger_schema`]); the DDL is
    /// not sent when `up` refuses to create it ([`crate::ledger::NewTenantSchema::refusal`]).
    pub(crate) new_schema: Option<crate::ledger::NewTenantSchema>,
    /// The ledger did not exist, or had no rows, and the database holds objects where the
    /// migrations build (asked unless `--allow-non-empty`): `up` refuses to run them, so the
    /// DDL of a missing ledger was not sent.
    pub(crate) unrecorded: Option<crate::ledger::Unrecorded>,
}

impl UpAhead {
    /// Runs on the connecting thread; see the module's documentation.
    pub(crate) fn run(self, session: &mut Session, wanted: &Wanted) -> Result<Prepared> {
        let mut target = Target::reached(&self.env, Some(&session.reached));
        target.second_connection = self.second_connection.clone();
        let client = &mut session.client;
        if !wanted.still() {
            return Ok(Prepared::Connected);
        }
        let mut warnings = Vec::new();
        let database = writable::check(client, &target, self.lock_wait, &mut warnings)?;
        if !wanted.still() {
            return Ok(Prepared::Connected);
        }
        let tenant = target.tenant_schema.as_deref();
        let Some(lock) = lock::try_acquire_scoped(client, &database, tenant, self.lock_wait)?
        else {
            return Ok(Prepared::Connected);
        };
        match self.ledger(client, wanted) {
            Ok(ledger) => Ok(Prepared::Locked {
                lock,
                ledger: Box::new(LedgerAhead { warnings, ..ledger }),
            }),
            // The lock given back, as `with_lock` does after its work failed; what its unlock
            // answered is `up`'s to weigh ([`super::run::released`]).
            Err(error) if client.is_closed() => Err(error),
            Err(error) => Ok(Prepared::Failed {
                error,
                unlock: lock.release(client),
            }),
        }
    }

    /// The ledger read under the lock, and its DDL sent (uncommitted) when it is absent.
    fn ledger(&self, client: &mut postgres::Client, wanted: &Wanted) -> Result<LedgerAhead> {
        let site = crate::ledger::BuildSite::of(&self.env);
        let (found, creation) = match crate::db::ledger::read_or_creation(
            client,
            &self.table,
            self.lock_wait,
            None,
            site,
        )? {
            Ok(found) => (Some(found), crate::db::ledger::Creation::Unasked),
            Err(creation) => (None, creation),
        };
        let unrecorded = if self.allow_non_empty {
            None
        } else {
            crate::db::ledger::unrecorded(
                client,
                found.as_ref().map_or(&self.table, |found| &found.table),
                crate::ledger::BuildSite::of(&self.env),
                found.as_ref().map(|found| &found.ledger.rows[..]),
                crate::db::ledger::CatalogBound::new(self.lock_wait, None, Some(&self.env)),
            )?
        };
        if let Some(found) = found {
            return Ok(LedgerAhead {
                table: found.table,
                markers: found.ledger.started,
                found: Some((found.ledger.rows, found.access)),
                pending: None,
                creation,
                warnings: Vec::new(),
                new_schema: None,
                unrecorded,
            });
        }
        let new_schema = crate::db::ledger::new_ledger_schema(client, Some(&self.env), &creation)?;
        let refused = new_schema.as_ref().and_then(|new| new.refusal()).is_some();
        let pending = if wanted.still() && unrecorded.is_none() && !refused {
            PendingLedger::begin(
                client,
                &self.table,
                crate::db::ledger::CatalogBound::new(self.lock_wait, None, Some(&self.env)),
            )
            .ok()
        } else {
            None
        };
        Ok(LedgerAhead {
            table: pending
                .as_ref()
                .map_or_else(|| self.table.clone(), |p| p.table.clone()),
            found: None,
            markers: Vec::new(),
            pending,
            creation,
            warnings: Vec::new(),
            new_schema,
            unrecorded,
        })
    }
}
