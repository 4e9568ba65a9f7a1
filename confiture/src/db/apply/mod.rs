//! Running migrations — up or down — together with their ledger rows.
//!
//! A transactional migration is one transaction inside a simple-query message:
//! `BEGIN; SET LOCAL ...; <body>\n; <ledger insert or delete>; COMMIT`, so the body and its row
//! commit together or not at all; consecutive ones travel in one message. After an error the
//! server skips the rest of the message and leaves the session in an aborted transaction block,
//! so a `ROLLBACK` follows. A migration marked `-- confiture:no-transaction` runs statement by
//! statement in autocommit, and its row is written only after every statement succeeded.
//!
//! - [`script`]: a message that maps server error positions back to file:line ([`Script`]).
//! - [`sql`]: the SQL we add around migrations: session reset, clock, ledger rows, batches.
//! - [`markers`]: statement markers, which tell which statement of a migration failed.
//! - [`decide`]: the runner's decisions, pure: how to cut batches, what to send again after a
//!   failure, lock-timeout retries. Tested without a database.
//! - [`batch`]: the runner ([`run_steps`]), a thin loop of IO around those decisions.
//! - [`no_transaction`]: a `no-transaction` migration, statement by statement.
//! - [`single`]: `--single-transaction` ([`run_in_one_transaction`]).
//! - [`failure`]: what a failure says ([`StepFailure`]).

// Failures carry the report and file position a deploy script needs; they are the cold path,
// so their size does not matter and boxing would only make the public API clumsier.
#![allow(clippy::result_large_err)]

mod batch;
mod decide;
mod failure;
mod markers;
mod no_transaction;
mod plpgsql;
mod script;
mod single;
mod sql;
mod stop;

use std::path::PathBuf;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::Client;
use serde::Serialize;

use super::backoff::Backoff;
use super::ledger::CatalogBound;
use super::lock::HeldLock;
use super::{is_connection_lost, query_error};
use crate::error::{Error, ErrorKind};
use crate::files::{Migration, SqlFile};
use crate::ledger::TrackingTable;

pub use crate::files::Direction;
pub use batch::{run_steps, StepEvent};
pub use decide::BatchLimits;
pub(crate) use failure::{
    explain_session_end, on_ledger, refused_for_its_sql, unique_holders, NOT_RECORDED,
};
pub(crate) use markers::cut_holds;
pub(crate) use no_transaction::{
    clear_superseded, interrupted_left_behind, invalid_indexes_met, left_behind,
    refuse_recording_invalid_index, refused_over_invalid_index,
};
pub use script::Script;
pub use single::{run_in_one_transaction, single_transaction_refusal};
pub use sql::RESET_SESSION;
pub(crate) use sql::WRITING_SESSION_BOUND;
pub(crate) use stop::Stop;

/// The settings every migration of a run shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySettings {
    pub table: TrackingTable,
    /// `lock_timeout` for migration SQL; zero disables it.
    pub lock_timeout: Duration,
    /// `statement_timeout` for migration SQL; `None` keeps the server's.
    pub statement_timeout: Option<Duration>,
    /// Where [`Self::lock_timeout`] and [`Self::statement_timeout`] came from: the one place
    /// a help says to raise each ([`TimeoutsSetBy::raise`]).
    pub timeouts_set_by: TimeoutsSetBy,
    /// Retries of a transactional migration that failed on `lock_timeout` (55P03) or a deadlock.
    pub lock_retries: u32,
    /// `lock_timeout` of the ledger row each migration writes: the command's lock wait
    /// (`--lock-wait`), not the migration's `lock_timeout` — the row is the tool's bookkeeping
    /// (README "Session state"). A lock on the tracking table in its way ends the run with
    /// exit 6 naming the holder, and the migration is not run again for it.
    pub ledger_lock_wait: Duration,
    /// The migration lock the run holds, checked in every migration's transaction before it
    /// commits (a migration that released it fails, rolled back); `None` checks nothing.
    pub held_lock: Option<HeldLock>,
    /// Stops the run from outside ([`crate::Migrator::stop_when`]): nothing more is sent once
    /// it is set, and the message running is cancelled; `None` runs to the end.
    pub stop: Option<Stop>,
    /// The run replays migrations on a scratch database for this command (`migrate verify`,
    /// `migrate drift`: [`crate::Migrator::on_scratch`]), which built it from the files and
    /// drops it at its end: a failed step's help names that command to run again, never
    /// `migrate up`/`down` (they would write the target), and says nothing of undoing what a
    /// no-transaction migration committed there. `None`: the database the command is about.
    pub scratch: Option<&'static str>,
    /// The tracking table has triggers of its own that fire on a row's write
    /// ([`Access::triggers`](crate::db::ledger::Access), read with the ledger): every
    /// transactional migration then carries a statement marker after its last statement, a
    /// single statement's too, or one before its row where its body carries none, and one
    /// after its row (`markers::RowMarker`), so that an error a trigger raises on its row is
    /// told from one of its statements' and from its `COMMIT`'s (`markers::reached`) and is
    /// the ledger's, not the file's.
    pub ledger_triggers: bool,
    /// The run is one target of a fleet ([`crate::Migrator`]'s `in_fleet`): other targets may
    /// have run the same files already, so a failed step's help never says to edit its file
    /// (`no_transaction::committed_stays`: a no-transaction migration that committed part of
    /// itself is undone on this database, not made safe to run twice in its file).
    pub in_fleet: bool,
    /// Run again a no-transaction migration an earlier run started and never finished (its
    /// start marker, [`crate::ledger::StartedRun`]; `--rerun-interrupted`): its marker is
    /// replaced by this run's. Without it such a migration is refused, nothing run (exit 7).
    pub rerun_interrupted: bool,
    /// The start markers read with the ledger ([`crate::ledger::Ledger::started`]), which
    /// the plan checked ([`crate::plan::check_interrupted`]): a step deletes those of its
    /// version ([`crate::history::markers_of`], every spelling, stale or not) with its ledger
    /// row, and a no-transaction step those that are not its own direction's before it
    /// starts. Empty: only the marker spelled like the step is known.
    pub markers: Vec<crate::ledger::StartedRun>,
    /// The environment of the run's connection, from which a session on a maintenance
    /// database of its server names the holders of a lock on a system catalog that one of
    /// the tool's own statements waited for, when the run's own session cannot read them
    /// (`pg_attribute` locked: its read of `pg_locks` waits too;
    /// [`crate::db::connect::catalog_lock_holders`]), and whose environment file a failed
    /// squashed baseline's help names for confiture (Python)'s `migrate squash-ledger
    /// -c` (`failure::squash_ledger`); `None`: not asked.
    pub holders_from: Option<crate::config::Environment>,
    /// The run's session was opened without the tool's startup options
    /// ([`crate::db::connect::Reached::without_options`]: a pooler dropped them), so the
    /// server checks a killed client only as its own `client_connection_check_interval`
    /// says (0 by default: a statement whose client died runs to its end): what a failure
    /// says of an earlier run killed part-way.
    pub without_options: bool,
}

/// Where one of a run's timeouts for migration SQL came from ([`TimeoutsSetBy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetBy {
    /// The command's option: the command line's flag (`--statement-timeout`), a library
    /// session's options field (`UpOptions::statement_timeout`, which
    /// `migrator::options::name_fields` writes for the flag).
    Option,
    /// The environment's `migration:` block, read from this environment file; `None`: an
    /// environment read from no file (`Environment::from_url`) whose setting the program set
    /// (`MigrationSettings::statement_timeout`).
    Environment(Option<std::path::PathBuf>),
    /// Neither: the default (`lock_timeout`'s 5 s), or none of ours (the session's own
    /// `statement_timeout`: the database's, the role's, the server's), which the option
    /// overrides, as the environment file the settings are read from does (`None`: none is).
    Default(Option<std::path::PathBuf>),
}

impl Default for SetBy {
    fn default() -> SetBy {
        SetBy::Default(None)
    }
}

impl SetBy {
    /// Where a timeout came from: the command's option when `given`, else the environment
    /// `env`'s settings when `from_env` (its value is not the default), else the default. The
    /// file is the one `env`'s settings were read from (a fleet target's: its base's).
    pub(crate) fn of(given: bool, env: &crate::config::Environment, from_env: bool) -> SetBy {
        let file = env.settings_origin().0.cloned();
        match (given, from_env) {
            (true, _) => SetBy::Option,
            (false, true) => SetBy::Environment(file),
            (false, false) => SetBy::Default(file),
        }
    }
}

/// Where a run's `lock_timeout` and `statement_timeout` for migration SQL came from
/// ([`ApplySettings::timeouts_set_by`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeoutsSetBy {
    /// [`ApplySettings::lock_timeout`]'s.
    pub lock: SetBy,
    /// [`ApplySettings::statement_timeout`]'s.
    pub statement: SetBy,
}

/// Which timeout of a run a help says to raise ([`TimeoutsSetBy::raise`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunTimeout {
    Lock,
    Statement,
}

impl TimeoutsSetBy {
    /// What a help says to raise `which` timeout with, naming where the run's value came
    /// from and nowhere else: the command's flag (a library session's options field, once
    /// `name_fields` has named it), the environment file's key in that file, or the setting
    /// of an environment the program made; with neither (a default, the session's own
    /// `statement_timeout`), the flag, which overrides it, and the key of the environment
    /// file the settings are read from, when there is one.
    pub(crate) fn raise(&self, which: RunTimeout) -> String {
        let (set_by, key, field, flag) = match which {
            RunTimeout::Lock => (
                &self.lock,
                "migration.lock_timeout",
                "lock_timeout",
                crate::migrate::SQL_TIMEOUT_FLAGS[0],
            ),
            RunTimeout::Statement => (
                &self.statement,
                "migration.statement_timeout",
                "statement_timeout",
                crate::migrate::SQL_TIMEOUT_FLAGS[1],
            ),
        };
        let in_file =
            |file: &std::path::Path| format!("`{key}` in {}", crate::config::display_path(file));
        match set_by {
            SetBy::Option | SetBy::Default(None) => flag.to_string(),
            SetBy::Environment(Some(file)) => in_file(file),
            SetBy::Environment(None) => {
                format!("the environment's `MigrationSettings::{field}` (`Environment::migration`)")
            }
            SetBy::Default(Some(file)) => format!("{flag} (or {})", in_file(file)),
        }
    }
}

#[cfg(test)]
impl ApplySettings {
    /// The engine tests' settings: the default ledger, 5 s lock waits, no statement timeout,
    /// no retries, nothing held, stopped or marked. A test changes what it is about with
    /// `ApplySettings { lock_retries: 3, ..ApplySettings::for_tests() }`.
    pub(crate) fn for_tests() -> ApplySettings {
        ApplySettings {
            table: TrackingTable::default(),
            lock_timeout: Duration::from_secs(5),
            statement_timeout: None,
            timeouts_set_by: TimeoutsSetBy::default(),
            lock_retries: 0,
            ledger_lock_wait: Duration::from_secs(5),
            held_lock: None,
            stop: None,
            scratch: None,
            ledger_triggers: false,
            in_fleet: false,
            rerun_interrupted: false,
            markers: Vec::new(),
            holders_from: None,
            without_options: false,
        }
    }
}

impl ApplySettings {
    /// What bounds the ledger's DDL ([`create_tracking_table`]): the command's lock wait
    /// ([`ApplySettings::ledger_lock_wait`]) from now, a catalog's holder asked from
    /// [`ApplySettings::holders_from`] when this session cannot read them.
    pub(crate) fn ddl_bound(&self) -> CatalogBound<'_> {
        CatalogBound::new(self.ledger_lock_wait, None, self.holders_from.as_ref())
    }

    /// The version texts of the markers of `step`'s version that its ledger row settles
    /// ([`ApplySettings::markers`]), its own spelling first when `own`.
    pub(crate) fn markers_of<'s>(&'s self, step: &Step<'s>, own: bool) -> Vec<&'s str> {
        let mut versions: Vec<&str> = Vec::new();
        if own {
            versions.push(step.ledger_version);
        }
        for v in crate::history::markers_of(&self.markers, step.migration.version) {
            if !versions.contains(&v) {
                versions.push(v);
            }
        }
        versions
    }
}

impl ApplySettings {
    /// Whether a transactional migration of `file` carries the row markers
    /// (`markers::RowMarker`, a statement marker after its last statement too), which tell
    /// its row's write failing from its statements' (`markers::reached`): the tracking table
    /// has triggers that fire on the row ([`ApplySettings::ledger_triggers`]), or the file may
    /// leave its transaction read-only (`rules::may_leave_read_only`), where the row's write
    /// fails (SQLSTATE 25006) after its last statement completed.
    pub(crate) fn marks_row(&self, file: &SqlFile) -> bool {
        self.ledger_triggers || crate::files::rules::may_leave_read_only(&file.text)
    }

    /// Whether the run was stopped from outside ([`ApplySettings::stop`]).
    pub(crate) fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(Stop::is_set)
    }

    /// The end of a failed step's help: `run` [`crate::hint::AGAIN`] — on a scratch database
    /// ([`ApplySettings::scratch`]) too: the command is the one given (`migrate verify` with
    /// its `--from`, `--scratch-url`, timeouts), not the `up` replaying there.
    pub(crate) fn run_again(&self) -> String {
        format!("run {}", crate::hint::AGAIN)
    }

    /// Sends one message of a migration (`send`), cancelled on the server when the run is
    /// stopped meanwhile; `None`, sending nothing, when it is stopped already.
    pub(crate) fn send<T>(&self, send: impl FnOnce() -> T) -> Option<T> {
        match &self.stop {
            Some(stop) => stop.send(send),
            None => Some(send()),
        }
    }

    /// Sends one message that must go, stopped or not, and is never cancelled (a
    /// no-transaction migration's row after its statements committed): what it waits for is
    /// still reported while it lasts ([`Stop::watched`]).
    pub(crate) fn send_watched<T>(&self, send: impl FnOnce() -> T) -> T {
        match &self.stop {
            Some(stop) => stop.watched(send),
            None => send(),
        }
    }
}

/// One migration to run in one direction.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    pub migration: &'a Migration,
    pub direction: Direction,
    /// The `version` of the ledger row the step writes (up: the file's version text) or
    /// deletes (down: the row the plan matched, by its own text — `0002` stays `0002` after the
    /// file was renamed `002_b`; never re-derived from the file name).
    pub ledger_version: &'a str,
    /// False on every migration of a run but the last: WAL is written in order, so the last,
    /// synchronous commit makes every earlier one durable, and a crash loses only a suffix of
    /// whole migrations. A run that ends before its last step never makes that commit: its
    /// caller then calls [`make_durable`] before it reports the earlier ones done.
    pub synchronous_commit: bool,
    /// The rows of the ledger the step must leave there ([`keep_rows`]); none checked unless
    /// the run says which.
    pub kept: Kept<'a>,
}

/// The rows of the ledger a step must leave where they are, by their `version` as stored: the
/// oldest and the newest, in order of application, of the rows recorded before it — read by
/// the run, or written by its steps before — that it does not delete itself. Checked before
/// its `COMMIT` (`sql::kept_rows_check`, one look-up each in the index on `version`): a
/// migration that empties the tables of its schema (a `DO` loop of `TRUNCATE` or `DELETE`,
/// which lint does not see) reaches the tracking table too, and committed it wiped the
/// history. Two rows, not a count: a count reads the whole ledger for every migration, which
/// is quadratic over a run (10,000 migrations). A row deleted, updated or inserted between
/// those two is seen by the server's count of the transaction's writes to the table instead
/// (`sql::no_ledger_writes_check`, before the step's own row), O(1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kept<'a> {
    pub oldest: Option<&'a str>,
    pub newest: Option<&'a str>,
}

/// Gives each of `steps`, in the order they run, its [`Kept`] rows, from the ledger's rows
/// as the run `read` them (in order of application) and the rows the steps before it write
/// (up) or delete (down).
pub fn keep_rows<'a>(read: &'a [crate::ledger::LedgerRow], steps: &mut [Step<'a>]) {
    let mut recorded: Vec<&'a str> = read.iter().map(|r| r.version.as_str()).collect();
    for step in steps {
        if step.direction == Direction::Down {
            if let Some(i) = recorded.iter().rposition(|v| *v == step.ledger_version) {
                recorded.remove(i);
            }
        }
        step.kept = Kept {
            oldest: recorded.first().copied(),
            newest: recorded.last().copied(),
        };
        if step.direction == Direction::Up {
            recorded.push(step.ledger_version);
        }
    }
}

impl<'a> Step<'a> {
    /// Applying `migration`: its row is written with the file's version text.
    pub fn up(migration: &'a Migration, synchronous_commit: bool) -> Step<'a> {
        Step {
            migration,
            direction: Direction::Up,
            ledger_version: &migration.version_text,
            synchronous_commit,
            kept: Kept::default(),
        }
    }

    /// Rolling back `migration`, recorded by the ledger row whose `version` is `row_version`.
    pub fn down(
        migration: &'a Migration,
        row_version: &'a str,
        synchronous_commit: bool,
    ) -> Step<'a> {
        Step {
            migration,
            direction: Direction::Down,
            ledger_version: row_version,
            synchronous_commit,
            kept: Kept::default(),
        }
    }

    pub fn file(&self) -> &'a SqlFile {
        self.migration.file(self.direction)
    }
}

/// Makes every transaction the session committed durable: the run ended before its last,
/// synchronous commit ([`Step::synchronous_commit`]), so the migrations that committed before
/// it (asynchronously) would otherwise wait for the server's WAL writer, and a server crash
/// meanwhile would lose what the report calls applied. One transaction that writes a WAL
/// record of its own and commits synchronously (with the connection's `synchronous_commit`,
/// as the run's last commit does): WAL is flushed in order, so its flush is theirs. Only on a
/// run's early end — a failure, a stop — never on its way: the run's last commit does it
/// otherwise. An error is the session's (lost, most likely: what it committed may then be
/// lost if the server crashed), or a lock another session holds on a catalog its statement
/// looks up (`LOCK pg_catalog.pg_proc`, `VACUUM FULL pg_proc`), waited for no longer than
/// `wait`, the command's lock wait ([`not_made_durable`] says so; the transaction is rolled
/// back, the session goes on) — never without bound, after a failure whose report waits.
pub fn make_durable(client: &mut Client, wait: Duration) -> Result<(), postgres::Error> {
    let made = client.batch_execute(&format!(
        "BEGIN; {} SET LOCAL lock_timeout = '{}'; {}",
        crate::db::OWN_STATEMENT_BOUNDS,
        sql::lock_wait_literal(wait),
        sql::MAKE_DURABLE
    ));
    if made.is_err() && !client.is_closed() {
        let _ = client.batch_execute("ROLLBACK");
    }
    made
}

/// The detail of a failure after which [`make_durable`] failed with `e` on the live session
/// (its lock wait, `wait`, ran out, or the server refused it), naming `committed`, the
/// migrations it would have flushed: they stay committed, and are on disk once the server's
/// WAL writer flushes them (a moment), unless it crashes first. `None` when the session is
/// lost (the caller names them as of unknown durability).
pub fn not_made_durable(e: &postgres::Error, wait: Duration, committed: &str) -> Option<String> {
    if crate::db::is_connection_lost(e) {
        return None;
    }
    let why = match e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
        true => format!(
            " within {} (the command's lock wait: another session holds a lock on a catalog)",
            crate::db::backoff::human(wait)
        ),
        false => String::new(),
    };
    Some(format!(
        "{committed} committed, but could not be flushed to the server's disk at once{why} \
         ({}): the server flushes them within a moment, unless it crashes first",
        crate::db::cause_text(e)
    ))
}

/// What running a step took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepOutcome {
    /// As measured by the server (or by us: statement by statement, or the message of a
    /// migration that may return rows, sent alone); `None` when it is not known — never a
    /// share of a message's time.
    pub duration: Option<Duration>,
    /// 1, or more when the migration was retried after a lock timeout.
    pub attempts: u32,
}

/// A place in a migration file: 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    #[serde(serialize_with = "crate::display::serialize_path")]
    pub path: PathBuf,
    pub line: u32,
    pub column: u32,
}

/// Why a step failed: the error (its kind decides the exit code) and, for machines, where.
#[derive(Debug, Clone)]
pub struct StepFailure {
    pub error: Error,
    pub location: Option<Location>,
    /// The SQLSTATE and message the server gave, when it answered.
    pub server: Option<crate::error::ServerError>,
    /// How many steps, from the failing one on, may have committed without our knowing: the
    /// connection dropped while they ran (the message carrying them, or the one step); 0 when
    /// the server answered.
    pub unknown_fate: usize,
    /// The help is the one of migration SQL the server refused: fix the file and run again.
    /// Nothing more specific was found (not a lock timeout, not the tracking table, not a
    /// released migration lock, not a no-transaction migration that committed part of itself),
    /// so a caller that knows better (a squashed history without its snapshot) may say it.
    pub blames_file: bool,
    /// The migration dropped the engine's own prepared statements (a statement marker, a
    /// message's prepared ledger row) with a `DEALLOCATE ALL` its SQL does not say, and our
    /// statement that needed one failed: the error names the statement that dropped them
    /// ([`markers::dropped_by`]).
    pub dropped_own_statements: bool,
}

impl StepFailure {
    /// `error` decided by us, not by the server running the file: no location in the file, no
    /// server answer, nothing of unknown fate, and its own help (not the file's SQL to fix).
    pub(crate) fn of(error: Error) -> StepFailure {
        StepFailure {
            error,
            location: None,
            server: None,
            unknown_fate: 0,
            blames_file: false,
            dropped_own_statements: false,
        }
    }

    /// Whether the migration's SQL failed ([`ErrorKind::MigrationFailed`]) with the server's
    /// answer `state`: the one test of which error a failed statement hit.
    pub(crate) fn migration_failed_with(&self, state: &postgres::error::SqlState) -> bool {
        self.error.kind == ErrorKind::MigrationFailed
            && self
                .server
                .as_ref()
                .is_some_and(|s| s.sqlstate == state.code())
    }
}

/// The waits between attempts of a migration that hit `lock_timeout` or a deadlock.
fn retry_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(250), Duration::from_secs(5))
}

/// Called before each retry with the attempt that failed (1-based) and the delay before the next.
pub type OnRetry<'a> = dyn FnMut(u32, Duration) + 'a;

/// Creates the tracking table (and its schema, when qualified) if absent, and returns its name
/// schema-qualified as the server resolved it (what `db::ledger::read_qualified` returns for
/// a table that exists), read in the same message: no second round trip. Only `up`,
/// `baseline` and `reinit` call this; `status` and dry runs never do.
///
/// Its commit is asynchronous (no WAL flush of its own): the commit of the migrations that
/// follow, or of the ledger rows `baseline` and `reinit` write, flushes it with theirs — WAL is
/// written in order — and losing an empty ledger in a crash loses nothing. `scratch`: the
/// database is that command's scratch one ([`ApplySettings::scratch`]), which the help of a
/// refusal names ([`ledger_creator`]).
pub(crate) fn create_tracking_table(
    client: &mut Client,
    table: &TrackingTable,
    scratch: Option<&str>,
    bound: CatalogBound<'_>,
) -> crate::Result<TrackingTable> {
    send_tracking_table_ddl(client, table, Ddl::Committed, scratch, bound)
}

/// What creates the tracking table, as a help names it: the first `migrate up`, or on a
/// scratch database ([`ApplySettings::scratch`]) the command that replays the migrations
/// there — never `migrate up`, which would write the target.
pub(crate) fn ledger_creator(scratch: Option<&str>) -> String {
    match scratch {
        Some(command) => crate::hint::command(command),
        None => format!("the first {}", crate::hint::command("migrate up")),
    }
}

/// How the tracking table's DDL ends ([`send_tracking_table_ddl`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ddl {
    /// Committed in its own message, asynchronously.
    Committed,
    /// Left open; committed later, asynchronously (`up`'s migrations flush it).
    Pending,
    /// Left open for the ledger's rows (`baseline`, `reinit`), whose `COMMIT` is durable.
    PendingForRows,
}

/// The tracking table's DDL sent but not committed (`up` sends it while the files are still
/// being read): [`PendingLedger::commit`] once the plan is accepted, else
/// [`PendingLedger::rollback`] — or the connection's end rolls it back. Nobody else sees the
/// table meanwhile.
#[must_use = "commit or roll back the ledger's DDL"]
pub struct PendingLedger {
    /// The table as the server resolved it (see [`create_tracking_table`]).
    pub table: TrackingTable,
}

impl PendingLedger {
    /// [`create_tracking_table`] without its `COMMIT`: the session is left in the open
    /// transaction. An error leaves none behind, and is the one [`create_tracking_table`]
    /// gives.
    pub(crate) fn begin(
        client: &mut Client,
        table: &TrackingTable,
        bound: CatalogBound<'_>,
    ) -> crate::Result<PendingLedger> {
        // Its one caller sends it ahead and drops an error (`up_ahead`): `up` then creates
        // the ledger itself (`create_tracking_table`), whose error names the command running.
        send_tracking_table_ddl(client, table, Ddl::Pending, None, bound)
            .map(|table| PendingLedger { table })
    }

    /// [`PendingLedger::begin`] for a ledger rewrite (`baseline`, `reinit`): the transaction
    /// is left open for the rows ([`crate::db::ledger::rewrite`]), which commit with the
    /// table, durably, or are rolled back with it — a rewrite stopped or refused leaves no
    /// ledger behind, empty or not.
    pub(crate) fn begin_for_rows(
        client: &mut Client,
        table: &TrackingTable,
        bound: CatalogBound<'_>,
    ) -> crate::Result<PendingLedger> {
        send_tracking_table_ddl(client, table, Ddl::PendingForRows, None, bound)
            .map(|table| PendingLedger { table })
    }

    /// Commits the DDL (asynchronously, as [`create_tracking_table`] does).
    pub fn commit(self, client: &mut Client) -> crate::Result<TrackingTable> {
        client
            .batch_execute("COMMIT")
            .map_err(|e| tracking_table_error(client, &self.table, e, None))?;
        Ok(self.table)
    }

    /// Commits the DDL (asynchronously) at the end of a message that first runs `statements`
    /// in its transaction: the engine's first message of a run — the `PREPARE`s of its ledger
    /// rows, which name the table — so that the `COMMIT` costs no round trip of its own. A
    /// statement that fails aborts the transaction: the DDL is not committed, and the caller
    /// rolls it back (the `PREPARE`s before it stay: prepared statements outlive their
    /// transaction).
    pub(crate) fn commit_after(
        self,
        client: &mut Client,
        statements: &str,
    ) -> Result<(), postgres::Error> {
        client.batch_execute(&format!("{statements}\nCOMMIT;"))
    }

    /// Rolls the DDL back: the database is as it was.
    pub fn rollback(self, client: &mut Client) -> crate::Result<()> {
        client.batch_execute("ROLLBACK").map_err(|e| {
            query_error(
                &format!("cannot roll back the creation of {}", self.table),
                e,
            )
        })
    }
}

/// The tracking table's DDL and the query of its qualified name in one message, committed
/// or left open as `ddl` says. The DDL writes catalogs (`pg_namespace`, `pg_class`,
/// `pg_type`, `pg_attribute`, `pg_constraint`, `pg_index`, `pg_depend`): another session's
/// lock on one holds it what is left of `bound` at most, the `lock_timeout` in the same
/// message, then exit 6 naming the holder ([`CatalogBound::lock_error`]), never as long as
/// that lock lasts.
fn send_tracking_table_ddl(
    client: &mut Client,
    table: &TrackingTable,
    ddl: Ddl,
    scratch: Option<&str>,
    bound: CatalogBound<'_>,
) -> crate::Result<TrackingTable> {
    let commit = ddl == Ddl::Committed;
    let mut sql = format!(
        "BEGIN; {} {}\n",
        crate::db::OWN_STATEMENT_BOUNDS,
        bound.lock_timeout_sql()
    );
    if ddl != Ddl::PendingForRows {
        // Flushed by the commit that follows it (see `create_tracking_table`); the rows of a
        // rewrite are that commit, and must be durable.
        sql.push_str("SET LOCAL synchronous_commit = off;\n");
    }
    if !commit {
        // Left open while `up` reads and checks the files: a server's (or role's, or
        // database's) `idle_in_transaction_session_timeout` shorter than that check would end
        // the session. This transaction is busy, not forgotten; a process that dies closes the
        // socket, and the server rolls it back.
        sql.push_str("SET LOCAL idle_in_transaction_session_timeout = 0;\n");
    }
    if let Some(create_schema) = table.create_schema_sql() {
        sql.push_str(&create_schema);
    }
    sql.push_str(&table.create_sql());
    sql.push_str(&format!(
        "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
         WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass({});\n",
        crate::ledger::literal(&table.quoted())
    ));
    if commit {
        sql.push_str("COMMIT;");
    }
    let messages = client.simple_query(&sql).map_err(|e| {
        if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
            let _ = client.batch_execute("ROLLBACK");
            return bound.lock_error(client, format!("cannot create the tracking table {table}"));
        }
        tracking_table_error(client, table, e, scratch)
    })?;
    let resolved = messages.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(row) => match (row.get(0), row.get(1)) {
            (Some(schema), Some(name)) => Some(TrackingTable::resolved(schema, name)),
            _ => None,
        },
        _ => None,
    });
    Ok(resolved.unwrap_or_else(|| table.clone()))
}

/// Why the tracking table could not be created, after rolling back what is left of it. The
/// ledger's own DDL refused by the server is the database's or the tracking table's
/// configuration (exit 5, [`ErrorKind::Invalid`]), never a failed migration (exit 4): `up`
/// creates it before any migration runs, `baseline` and `reinit` run none. `scratch`: see
/// [`create_tracking_table`].
fn tracking_table_error(
    client: &mut Client,
    table: &TrackingTable,
    e: postgres::Error,
    scratch: Option<&str>,
) -> Error {
    // Leave no aborted (or open) transaction block behind.
    let _ = client.batch_execute("ROLLBACK");
    let what = format!("cannot create the tracking table {table}");
    let help = "check that this role may create tables (and the schema) in the database";
    match e.as_db_error() {
        // Refused by the server (no schema to create in, no CREATE privilege on the schema, a
        // schema name it does not accept): the server's message names the schema.
        Some(db) if !is_connection_lost(&e) => {
            // An unqualified name with no schema to be created in: none on the search_path
            // (3F000), or a system schema first, where the server refuses user tables (42501).
            let nowhere = table.schema.is_none()
                && [
                    SqlState::INVALID_SCHEMA_NAME,
                    SqlState::INSUFFICIENT_PRIVILEGE,
                ]
                .contains(db.code())
                && matches!(crate::db::ledger::qualified_name(client, table), Ok(None));
            let help = if nowhere {
                crate::db::ledger::no_schema_here_help(client, table, None)
            } else if db.code() == &SqlState::INSUFFICIENT_PRIVILEGE {
                // The role in effect and the schema, asked of the server; the words alone when
                // that cannot be asked.
                if let Some(grants) = crate::db::ledger::grants(client, table) {
                    grants.create_help(table, scratch)
                } else {
                    let new_schema = if table.schema.is_some() {
                        "; a schema that does not exist yet needs CREATE on the database, or \
                         create it first (CREATE SCHEMA <schema> AUTHORIZATION <role>)"
                    } else {
                        ""
                    };
                    format!(
                        "grant this role CREATE on that schema (GRANT CREATE ON SCHEMA \
                         <schema> TO <role>), or have a role that may create {table} run \
                         {}{new_schema}",
                        ledger_creator(scratch)
                    )
                }
            } else if db.code() == &SqlState::RESERVED_NAME {
                "PostgreSQL keeps schemas named pg_* for itself: name another schema in \
                 `migration.tracking_table`"
                    .to_string()
            } else {
                // Refused otherwise: an event trigger our `CREATE TABLE` set off may have
                // raised (its function is in the error's context).
                let triggers = failure::event_triggers(client);
                match triggers.is_empty() {
                    true => help.to_string(),
                    false => failure::event_trigger_help(
                        &triggers,
                        &table.to_string(),
                        crate::hint::AGAIN,
                    ),
                }
            };
            // The server's message is the cause, said once; the driver's error the source;
            // its context kept (a function that raised: an event trigger's).
            let cause = db.message().to_string();
            let details = failure::server_details(db);
            let mut error = Error::new(ErrorKind::Invalid, what).with_help(help);
            for detail in details {
                error = error.with_detail(detail);
            }
            let error = error.with_source_shown(e, cause);
            match nowhere {
                true => error.with_reason(crate::error::Reason::NoLedgerSchema),
                false => error,
            }
        }
        // The connection, not the role's rights: what the lost connection's error says.
        _ => query_error(&what, e),
    }
}

/// A transactional file of a migration, for the unit tests of the engine's pure parts.
#[cfg(test)]
fn test_file(text: &str) -> SqlFile {
    SqlFile::new(
        "m/003_x.up.sql",
        text,
        crate::files::TransactionMode::Transaction,
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::LedgerRow;

    fn row(version: &str) -> LedgerRow {
        LedgerRow {
            version: version.into(),
            name: "m".into(),
            applied_at: String::new(),
            execution_time_ms: None,
            checksum: None,
            applied_by: None,
            slug: None,
            archived_into: None,
        }
    }

    fn kept(steps: &[Step<'_>]) -> Vec<(Option<String>, Option<String>)> {
        steps
            .iter()
            .map(|s| {
                (
                    s.kept.oldest.map(str::to_string),
                    s.kept.newest.map(str::to_string),
                )
            })
            .collect()
    }

    fn some(oldest: &str, newest: &str) -> (Option<String>, Option<String>) {
        (Some(oldest.into()), Some(newest.into()))
    }

    #[test]
    fn each_step_keeps_the_oldest_and_newest_rows_recorded_before_it_that_it_does_not_delete() {
        let migrations: Vec<crate::files::Migration> = ["003", "004"]
            .iter()
            .map(|v| crate::files::Migration {
                version: v.parse().unwrap(),
                version_text: v.to_string(),
                name: "m".into(),
                up: test_file("SELECT 1;"),
                down: test_file("SELECT 1;"),
            })
            .collect();
        // up on an empty ledger: the first step has nothing to keep, the next its row.
        let mut up: Vec<Step<'_>> = migrations.iter().map(|m| Step::up(m, false)).collect();
        keep_rows(&[], &mut up);
        assert_eq!(kept(&up), [(None, None), some("003", "003")]);
        // up after rows read: the oldest read and the newest before it.
        let read = [row("001"), row("0002")];
        keep_rows(&read, &mut up);
        assert_eq!(kept(&up), [some("001", "0002"), some("001", "003")]);
        // down, newest first: each keeps what the ledger holds once its own row is gone.
        let read = [row("001"), row("0002"), row("003"), row("004")];
        let mut down = [
            Step::down(&migrations[1], "004", false),
            Step::down(&migrations[0], "003", false),
        ];
        keep_rows(&read, &mut down);
        assert_eq!(kept(&down), [some("001", "003"), some("001", "0002")]);
        // Down to nothing: the last step keeps no row.
        let read = [row("003"), row("004")];
        keep_rows(&read, &mut down);
        assert_eq!(kept(&down), [some("003", "003"), (None, None)]);
    }
}

#[cfg(test)]
mod timeouts_set_by_tests {
    use super::{RunTimeout, SetBy, TimeoutsSetBy};
    use std::path::PathBuf;

    /// The help to raise a timeout names where the run's value came from, and only there;
    /// the flag (a library session's field) overrides a default or the session's own.
    #[test]
    fn a_timeout_is_raised_where_its_value_came_from() {
        let file = || Some(PathBuf::from("/nowhere/db/environments/prod.yaml"));
        let said = |statement: SetBy| {
            TimeoutsSetBy {
                lock: SetBy::Default(None),
                statement,
            }
            .raise(RunTimeout::Statement)
        };
        assert_eq!(said(SetBy::Option), "--statement-timeout");
        assert_eq!(said(SetBy::Default(None)), "--statement-timeout");
        assert_eq!(
            said(SetBy::Environment(file())),
            "`migration.statement_timeout` in /nowhere/db/environments/prod.yaml"
        );
        assert_eq!(
            said(SetBy::Default(file())),
            "--statement-timeout (or `migration.statement_timeout` in \
             /nowhere/db/environments/prod.yaml)"
        );
        assert!(said(SetBy::Environment(None)).contains("`MigrationSettings::statement_timeout`"));
        let lock = TimeoutsSetBy {
            lock: SetBy::Option,
            statement: SetBy::Environment(file()),
        };
        assert_eq!(lock.raise(RunTimeout::Lock), "--lock-timeout-statement");
    }
}
