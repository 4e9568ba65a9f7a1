//! What became of a run's migrations when it failed, for `up` and `down` alike: those it saw
//! commit, and after a lost connection those the ledger, read again on a new connection, shows
//! committed; then which are unknown and which were not attempted. And, for `up`, whether the
//! failed migration's ledger row was another session's ([`written_by_another_session`]).

use std::time::{Duration, Instant};

use postgres::Client;

use super::report::MigrationReport;
use super::run::{done, versions, RunFailure};
use crate::config::Environment;
use crate::db::apply::ApplySettings;
use crate::db::apply::Direction;
use crate::db::connect::{Need, Reached};
use crate::db::lock::{HeldLock, HoldingSession};
use crate::error::{ConcurrentRow, ErrorKind};
use crate::files::{Migration, TransactionMode};
use crate::history::History;
use crate::ledger::TrackingTable;

/// A run of migrations, one transaction each, in the order they ran, and what it has seen
/// commit so far.
pub(super) struct Ran<'r> {
    pub(super) env: &'r Environment,
    /// The host the run's session reached (`None`: a connection handed over): only that server
    /// can tell what it committed.
    pub(super) reached: Option<&'r Reached>,
    /// The ledger, schema-qualified as the run wrote to it.
    pub(super) table: &'r TrackingTable,
    /// The run's migration lock, which names the run's own server session (`None`: not
    /// known, and what became of the message cut short cannot be checked).
    pub(super) held: Option<HeldLock>,
    pub(super) direction: Direction,
    /// Every migration the run meant to apply or roll back, in order.
    pub(super) run: &'r [&'r Migration],
    /// The versions the run saw commit (`applied` or `rolled_back`): a prefix of `run`.
    pub(super) committed: &'r mut Vec<String>,
    /// Their reports.
    pub(super) migrations: &'r mut Vec<MigrationReport>,
    /// The time since the first of them was sent.
    pub(super) took: Duration,
}

/// How long the check after a lost connection waits for the run's own server session to end
/// once told to (`pg_terminate_backend`).
const END_WAIT: Duration = Duration::from_secs(10);

/// What the new connection found of the run's own server session before reading the ledger.
enum OldSession {
    /// Gone (or ended by the check): the ledger is final for the run.
    Gone,
    /// Still there, running what it was sent (or holding the lock), and it could not be ended.
    Running(HoldingSession),
    /// Whether it is still there could not be found.
    Unknown,
}

/// What a failed run's other migrations became, besides the committed ones.
pub(super) struct Fates {
    /// Those whose fate is unknown: the connection dropped while they ran and the ledger
    /// could not be read again.
    pub(super) unknown: Vec<String>,
    /// Those never sent.
    pub(super) not_attempted: Vec<String>,
}

impl Ran<'_> {
    /// Settles `f`, the failure that ended the run: after a lost connection, the ledger is
    /// read on a new connection and the migrations it shows committed join `committed`; the
    /// error keeps the lists as data (a renderer says them, `MigrationFailure`), and they are
    /// returned for the report.
    pub(super) fn settle(mut self, f: &mut RunFailure) -> Fates {
        let confirmed = f.error.kind == ErrorKind::Connection && self.confirm(f);
        // After a lost connection that could not be checked, the migrations of the message
        // that was cut short may have committed: their fate is unknown, and they are never
        // called skipped.
        let failed_at = self.committed.len();
        let unknown_end = if confirmed {
            failed_at
        } else {
            (failed_at + f.unknown_fate).min(self.run.len())
        };
        let unknown = versions(self.run.get(failed_at..unknown_end).unwrap_or_default());
        let not_attempted = versions(
            self.run
                .get(unknown_end.max(failed_at + 1)..)
                .unwrap_or_default(),
        );
        f.committed = self.committed.clone();
        // Never a migration the run did not see commit (a renderer lists them as a subset).
        // (A set: a run of 10,000 migrations, on the failure path too.)
        let committed: std::collections::HashSet<&str> =
            self.committed.iter().map(String::as_str).collect();
        f.durability_unknown
            .retain(|version| committed.contains(version.as_str()));
        f.unknown = unknown.clone();
        f.not_attempted = not_attempted.clone();
        Fates {
            unknown,
            not_attempted,
        }
    }

    /// After the connection dropped while a message of several migrations ran, the server may
    /// have committed some of them. A fresh connection reads the ledger to tell exactly which
    /// (applied: its row is there; rolled back: its row is gone): they join `committed`, and
    /// the error names the migration that was interrupted. Returns whether the ledger could be
    /// read (otherwise the error keeps saying what is unknown).
    ///
    /// When the server did not say why the session ended (the socket closed before the driver
    /// read its FATAL), the new connection also asks how long the server has been up: longer
    /// than the run took means it did not restart meanwhile, so another session or an
    /// administrator ended ours (`pg_terminate_backend`), or the network did — not a restart.
    /// Durations on each side, never the two clocks compared.
    fn confirm(&mut self, failure: &mut RunFailure) -> bool {
        let mut up_since_before = false;
        let took = self.took;
        // The very host (and address) the run used: another host of the list — a standby that
        // lags, a server that was never the run's — would answer for a server it is not. A
        // connection handed over is rechecked on the host a writing command reaches.
        let session = match self.reached {
            Some(reached) => crate::db::connect::open_session_on(self.env, reached),
            None => crate::db::connect::open_session(self.env, Need::WriteBounded),
        };
        let began = Instant::now()
            .checked_sub(took)
            .unwrap_or_else(Instant::now);
        let held = self.held;
        let mut old = OldSession::Unknown;
        let mut flushed = false;
        // What the statement cut short left in the database (a partition pending detach, an
        // INVALID index), by version: read on the new connection as `status` reads it.
        let mut left: Vec<(String, crate::plan::LeftBehind)> = Vec::new();
        let direction = match self.direction {
            Direction::Up => "up",
            Direction::Down => "down",
        };
        let not_seen = self.run.get(self.committed.len()..).unwrap_or_default();
        let ledger = session.and_then(|session| {
            let mut client = session.client;
            // Only the server's side of the connection may have been cut: the run's own
            // session then goes on with the message it was sent, and the ledger read now would
            // not be final. It is ended first (it is ours, and holds our lock); when it cannot
            // be, nothing is read.
            old = match held.map(|held| held.end_session(&mut client, began, END_WAIT)) {
                Some(Ok(None)) => OldSession::Gone,
                Some(Ok(Some(left))) => OldSession::Running(left),
                Some(Err(_)) | None => OldSession::Unknown,
            };
            if !matches!(old, OldSession::Gone) {
                return Ok(None);
            }
            // What the old session committed without a flush (all but a run's last commit)
            // is made durable before the ledger is read: a row read now stays.
            flushed = crate::db::apply::make_durable(&mut client, crate::db::ledger::DEFAULT_WAIT)
                .is_ok();
            let site = crate::ledger::BuildSite::of(self.env);
            let wait = crate::db::ledger::DEFAULT_WAIT;
            let ledger = crate::db::ledger::read_at(&mut client, self.table, wait, site)?;
            up_since_before = server_uptime(&mut client).is_some_and(|up| up > took);
            if let Some(read) = &ledger {
                let runs = not_seen.iter().filter_map(|m| {
                    let marker = (read.started.iter())
                        .find(|s| s.version == m.version_text && s.direction == direction)?;
                    Some((m.version_text.clone(), marker, *m))
                });
                // Only explains the failure: a read that fails leaves the general help.
                left = crate::db::apply::left_behind(|| Ok(&mut client), wait, runs)
                    .unwrap_or_default();
            }
            Ok(Some(ledger))
        });
        let rows = match ledger {
            Ok(Some(Some(ledger))) => ledger.rows,
            Ok(Some(None)) => Vec::new(),
            Ok(None) => {
                failure.error.details.push(match old {
                    OldSession::Running(left) => format!(
                        "the run's server session is still there and could not be ended: {left}; \
                         it may still commit what it was sent, and holds the migration lock \
                         until it ends (`{}` ends it)",
                        crate::db::pasted::terminate(&[left.pid]).unwrap_or_default()
                    ),
                    _ => "could not find whether the run's server session is still there, \
                          which may still commit what it was sent"
                        .to_string(),
                });
                return false;
            }
            Err(_) => {
                failure.error.details.push(
                    "could not reconnect to check which migrations the server committed"
                        .to_string(),
                );
                return false;
            }
        };
        let first = self.committed.len();
        // Which of them the ledger now records: the history rule, as everywhere.
        let history = History::new(self.run.iter().copied(), &rows, None);
        let recorded = |m: &Migration| match self.direction {
            Direction::Up => history.recording(m).is_some(),
            Direction::Down => history.recording(m).is_none(),
        };
        if flushed {
            // Those the run saw commit and the ledger still shows are durable now; the others
            // were lost with the server's unflushed WAL (a crash before their commit reached
            // its disk).
            let by_version: std::collections::HashMap<&str, &Migration> = self
                .run
                .iter()
                .map(|m| (m.version_text.as_str(), *m))
                .collect();
            failure.durability_unknown.retain(|version| {
                by_version
                    .get(version.as_str())
                    .is_some_and(|m| !recorded(m))
            });
            if !failure.durability_unknown.is_empty() {
                failure.error.details.push(format!(
                    "the ledger read on a new connection no longer shows {}: the server lost \
                     their commits (it crashed before they reached its disk); run {} again to {} them",
                    crate::display::versions(&failure.durability_unknown),
                    crate::hint::command(match self.direction {
                        Direction::Up => "migrate up",
                        Direction::Down => "migrate down",
                    }),
                    match self.direction {
                        Direction::Up => "apply",
                        Direction::Down => "roll back",
                    }
                ));
            }
        }
        for m in self.run.get(first..).unwrap_or_default() {
            let row = history.recording(m).map(|r| r.row);
            let (file, recorded) = match (self.direction, row) {
                (Direction::Up, Some(row)) => (&m.up, row.execution_time_ms),
                (Direction::Down, None) => (&m.down, None),
                _ => break,
            };
            self.committed.push(m.version_text.clone());
            if !flushed {
                failure.durability_unknown.push(m.version_text.clone());
            }
            // The time the server recorded; none when there is no row (never made up).
            let recorded = recorded.and_then(|t| u64::try_from(t).ok());
            self.migrations
                .push(done(m, file, recorded.map(Duration::from_millis)));
        }
        // The connection was lost while migrations ran (their fate was unknown), or one
        // committed after all: name the first migration the ledger shows not done. The server
        // stops at the first failure, so nothing after it committed.
        if failure.unknown_fate > 0 || self.committed.len() > first {
            // Only a migration of the message cut short was interrupted: when the ledger shows
            // all of them committed, none after them was sent.
            let cut_short = first + failure.unknown_fate.max(1);
            if let Some(m) = self
                .run
                .get(self.committed.len())
                .filter(|_| self.committed.len() < cut_short)
            {
                let (what, file) = match self.direction {
                    Direction::Up => ("migration", &m.up),
                    Direction::Down => ("the rollback of migration", &m.down),
                };
                // A no-transaction migration has no commit of its own: the engine's message
                // ("while applying") and its details (the statements it completed) stay.
                if file.mode == TransactionMode::Transaction {
                    failure.error.message =
                        format!("connection lost before {what} {} committed", m.id());
                }
                failure.migration = Some((m.version_text.clone(), m.name.clone()));
                // Its statement cut part-way left something its way on depends on (a
                // partition pending detach: running the file again fails on it): the help is
                // that way on, as `status`' and a rerun's refusal say it.
                // (An index build's own help, the engine's, already names its INVALID index.)
                let left = (left.iter())
                    .filter(|(_, l)| matches!(l, crate::plan::LeftBehind::PendingDetach(_)))
                    .find(|(v, _)| *v == m.version_text);
                if let (TransactionMode::NoTransaction, Some((_, left))) = (file.mode, left) {
                    let down = self.direction == Direction::Down;
                    let (named, rerun) = match down {
                        true => ("its down file", "migrate down --rerun-interrupted"),
                        false => ("its up file", "migrate up --rerun-interrupted"),
                    };
                    failure.error.details.push(format!(
                        "what its statement cut short committed stays: {} (read on a new \
                         connection)",
                        left.recorded_but()
                    ));
                    failure.error.help = Some(crate::plan::interrupted_ways_on(
                        down,
                        &m.version_text,
                        named,
                        rerun,
                        "",
                        Some(left),
                    ));
                }
                if file.mode == TransactionMode::NoTransaction {
                    failure.error.details.push(
                        match self.direction {
                            Direction::Up => "it is not recorded (checked in the ledger on a new connection)",
                            Direction::Down => "it is still recorded as applied (checked in the ledger on a new connection)",
                        }
                        .to_string(),
                    );
                }
                if file.mode == TransactionMode::Transaction {
                    // The details spoke of what was unknown: now it is known.
                    failure.error.details.clear();
                    failure.error.details.push(
                        "its transaction did not commit (checked in the ledger on a new connection)"
                            .to_string(),
                    );
                    // Its statement markers went with the session: any statement of the file
                    // may be the one that ended it.
                    let count = file.statements.len();
                    crate::db::apply::explain_session_end(
                        &m.id(),
                        file,
                        failure.server.as_ref(),
                        count,
                        None,
                        &mut failure.error,
                        &mut failure.location,
                    );
                }
            }
        }
        // A lost connection located in the file was put down to its own statement
        // ([`crate::db::apply::OwnEnd`]), not to another session.
        if up_since_before && failure.server.is_none() && failure.location.is_none() {
            failure.error.details.push(
                "the server did not restart during this run: another session or an administrator \
                 ended this one (pg_terminate_backend), or the network dropped the connection, or \
                 the migration itself did (terminating its own backend, through a pid it \
                 computes or a function it calls: then every run of it ends the same way)"
                    .to_string(),
            );
        }
        failure.unknown_fate = 0;
        true
    }
}

/// How long the look at the ledger after a unique violation waits for a lock on the table.
const ROW_LOOK_WAIT: Duration = Duration::from_secs(5);

/// After a failed `up`: our ledger row for the failed migration broke a unique constraint of
/// the tracking table (23505 on the table itself, [`crate::db::apply::on_ledger`]). The plan,
/// read under the migration lock, had no row for it, so someone wrote one since: the
/// migration's own SQL (the engine's first guess, its help "remove the write"), or another
/// session that takes no migration lock — confiture (Python)'s `migrate baseline` and
/// `migrate reinit`, a hand-written `INSERT`. When the migration's transaction rolled back
/// (`rolled_back`: a transactional migration, or `--single-transaction`), a row of its own SQL
/// went with it: a row of that version there now is another session's. The failure then says
/// so (exit 7, [`crate::error::MigrationFailure::concurrent_row`]), never blaming the file.
/// A no-transaction migration's statements committed: the row may be its own, and the
/// engine's wording stays.
pub(super) fn written_by_another_session(
    client: &mut Client,
    settings: &ApplySettings,
    migration: &Migration,
    rolled_back: bool,
    f: &mut RunFailure,
) {
    let Some(db) = f
        .error
        .driver_error()
        .and_then(postgres::Error::as_db_error)
    else {
        return;
    };
    if !rolled_back
        || f.direction != Direction::Up
        || db.code() != &postgres::error::SqlState::UNIQUE_VIOLATION
        || !crate::db::apply::on_ledger(settings, db)
        || client.is_closed()
    {
        return;
    }
    let constraint = db.constraint().map(str::to_string);
    let detail = db.detail().map(str::to_string);
    let Some((slug, applied_by)) = crate::db::ledger::row_of_version(
        client,
        &settings.table,
        &migration.version_text,
        ROW_LOOK_WAIT,
    ) else {
        return;
    };
    let id = migration.id();
    let table = &settings.table;
    let version = crate::config::shown(&migration.version_text).to_string();
    let constraint_text = constraint
        .as_deref()
        .map(|c| format!(" {}", crate::ledger::quote_ident(c)))
        .unwrap_or_default();
    let error = &mut f.error;
    error.kind = ErrorKind::Diverged;
    error.message = format!(
        "the ledger row of migration {id} (version {version}) was written by another session \
         while this run applied it: ours broke the unique constraint{constraint_text} of the \
         tracking table {table}"
    );
    let by = applied_by
        .as_deref()
        .map(|who| format!(", applied_by {}", crate::config::shown(who)))
        .unwrap_or_default();
    error.details = ["SQLSTATE 23505".to_string()]
        .into_iter()
        .chain(detail.map(|d| format!("detail: {d}")))
        .chain([
            format!(
                "the row there now is that session's: slug {}{by}",
                crate::config::shown(&slug)
            ),
            format!(
                "nothing of {id} was committed: its SQL and our row were rolled back together; \
                 the tracking table records {version} as applied all the same"
            ),
        ])
        .collect();
    error.help = Some(format!(
        "another session wrote {table} without taking the migration lock (confiture (Python)'s \
         `migrate baseline` and `migrate reinit` take none): run such commands only while no \
         migration is applied; check with {} whether {id}'s changes are in the database — \
         its SQL did not run here — before recording or applying it again",
        crate::hint::command("migrate status")
    ));
    f.blames_file = false;
    f.location = None;
    f.concurrent_row = Some(ConcurrentRow {
        constraint,
        slug,
        applied_by,
    });
}

/// How long the server has been up (`pg_postmaster_start_time()` to now, both the server's
/// clock); `None` when it cannot be read.
fn server_uptime(client: &mut Client) -> Option<Duration> {
    crate::db::read_millis(
        client,
        "SELECT pg_catalog.floor(pg_catalog.date_part('epoch', \
         pg_catalog.statement_timestamp() OPERATOR(pg_catalog.-) \
         pg_catalog.pg_postmaster_start_time()) OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8",
    )
}
