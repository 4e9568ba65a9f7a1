//! The migration lock: confiture's session-level advisory lock, two-key form
//! `(1751936052, lock_id(current_database()))`, so Python and Rust runners exclude each other.
//!
//! It is polled with `pg_try_advisory_lock` outside any transaction, never waited for inside
//! `pg_advisory_lock`: a waiter blocked in a statement holds a snapshot, and `CREATE INDEX
//! CONCURRENTLY` in the holder waits for every snapshot to go away — a deadlock, which the
//! server breaks by cancelling one of them, often the index build. confiture (Python) waits
//! inside `pg_advisory_lock`: a no-transaction migration that fails so says who waited
//! ([`HeldLock::waiters`]).
//! The lock is taken on the connection that applies the migrations and held for the whole run.

use crate::hint::AGAIN;
use std::fmt;
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{Client, SimpleQueryMessage};
use serde::Serialize;

use super::backoff::{human, Backoff};
use super::query_error;
use crate::error::{Error, ErrorKind, Result};

/// The first key of confiture's advisory lock (a constant in confiture's source); defined in
/// the pure [`crate::lock_key`], which lint reads too.
pub use crate::lock_key::LOCK_NAMESPACE;

/// The second key: the first 4 bytes (big-endian) of SHA-256 of the database name, as UTF-8,
/// with the sign bit cleared — confiture's formula.
pub fn lock_id(database: &str) -> i32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(database.as_bytes());
    let first = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    // Masked to 31 bits, so it always fits.
    i32::try_from(first & 0x7FFF_FFFF).unwrap_or(0)
}

/// The second key of one tenant's lock in a schema-per-tenant fleet: [`lock_id`] of the
/// database name and the schema name joined by a NUL (which neither can contain).
///
/// A tenant run holds its database's key *shared* and this key exclusively: tenants of one
/// database run side by side, each excluding only runs on the same tenant, while a run on
/// the whole database (ours or confiture's, which take the database key exclusively)
/// excludes every tenant run and is excluded by them.
pub fn tenant_lock_id(database: &str, schema: &str) -> i32 {
    lock_id(&format!("{database}\0{schema}"))
}

/// Who holds a lock a command was kept waiting for, from `pg_locks`: a server session, or a
/// prepared transaction (`PREPARE TRANSACTION`, two-phase commit), which has no session — no
/// process id, nothing for `pg_terminate_backend` to end, and no end of its own: it keeps its
/// locks, however long anyone waits, until `COMMIT PREPARED` or `ROLLBACK PREPARED` ends it.
/// In JSON, an object whose `kind` says which, with the fields of [`HoldingSession`] or
/// [`PreparedTransaction`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LockHolder {
    /// A server session (a backend).
    Session(HoldingSession),
    /// A prepared transaction.
    PreparedTransaction(PreparedTransaction),
}

impl LockHolder {
    /// The process id of the session holding the lock; `None` for a prepared transaction.
    pub fn pid(&self) -> Option<i32> {
        match self {
            LockHolder::Session(session) => Some(session.pid),
            LockHolder::PreparedTransaction(_) => None,
        }
    }

    /// The prepared transaction holding the lock, if that is what holds it.
    pub fn prepared(&self) -> Option<&PreparedTransaction> {
        match self {
            LockHolder::Session(_) => None,
            LockHolder::PreparedTransaction(prepared) => Some(prepared),
        }
    }

    /// The run going on whose start markers `markers` are, if this holder is one: **the**
    /// answer to "is this marker's run still going on", which `status` shows
    /// ([`crate::status::StatusReport::running`]) and the commands that read the markers
    /// otherwise refuse by (`refuse_markers_of_run_going_on`). A session holding the lock
    /// is a run going on; a prepared transaction is no run, and the markers are not its own;
    /// nor is a marker written before the holding session connected
    /// ([`HoldingSession::may_have_written`]): a dead run's, interrupted whoever holds the lock
    /// now.
    pub fn runs(&self, markers: &[crate::ledger::StartedRun]) -> Option<&HoldingSession> {
        match self {
            LockHolder::Session(session)
                if markers
                    .iter()
                    .all(|m| session.may_have_written(&m.started_at)) =>
            {
                Some(session)
            }
            _ => None,
        }
    }
}

/// The refusal (exit 6) of a command that cannot do its work while a run going on holds the
/// migration lock (`holder`), which may change the database as it reads it: what that run is
/// doing (`doing`: `002_t is being run now by it`, as `status` says it), and what the command
/// did not do (`outcome`: `nothing was compared`). Never a help to end the run: it is no stuck
/// session, and cut short, it leaves its migration part-way.
pub(crate) fn run_going_on_refusal(holder: &HoldingSession, doing: &str, outcome: &str) -> Error {
    Error::new(
        ErrorKind::LockTimeout,
        format!("a run holds the migration lock{doing}; {outcome}"),
    )
    .with_detail(format!("held by {holder}"))
    .with_help(format!(
        "wait for that run to finish, then run {AGAIN} ({} shows what it is running)",
        crate::hint::command("migrate status")
    ))
    .with_reason(crate::error::Reason::Lock {
        database: None,
        holders: vec![LockHolder::Session(holder.clone())],
    })
}

/// Refuses (exit 6, [`run_going_on_refusal`]) to read `markers`, the start markers a command
/// read from the ledger without the migration lock (a dry run), while the run that wrote them
/// is going on ([`LockHolder::runs`]): they are that run's migrations, not runs left
/// part-way, and what it would do over them cannot be told yet. One look at `pg_locks`, no
/// waiting for the lock; none when there is no marker. `what_not_done`: `nothing was
/// previewed`.
pub(crate) fn refuse_markers_of_run_going_on(
    client: &mut Client,
    env: &crate::config::Environment,
    markers: &[crate::ledger::StartedRun],
    wait: Duration,
    what_not_done: &str,
) -> Result<()> {
    if markers.is_empty() {
        return Ok(());
    }
    let tenant = env.migration.tenant_schema.as_deref();
    let bound = crate::db::ledger::CatalogBound::new(wait, None, Some(env));
    let holder = run_going_on(client, tenant, bound)?;
    let Some(session) = holder.as_ref().and_then(|h| h.runs(markers)) else {
        return Ok(());
    };
    let being_run: Vec<String> = (markers.iter())
        .map(|m| crate::display::escape(&format!("{}_{}", m.version, m.name)).into_owned())
        .collect();
    Err(run_going_on_refusal(
        session,
        &crate::status::run_doing(&being_run, 0),
        what_not_done,
    ))
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockHolder::Session(session) => session.fmt(f),
            LockHolder::PreparedTransaction(prepared) => prepared.fmt(f),
        }
    }
}

/// A session holding a lock, from `pg_locks` and `pg_stat_activity`. Fields the server hides
/// from roles without `pg_read_all_stats` are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldingSession {
    /// Its backend's process id.
    pub pid: i32,
    /// Its `application_name`.
    pub application_name: Option<String>,
    /// The role it connected as.
    pub user: Option<String>,
    /// The address it connected from (none over a Unix socket).
    pub client_addr: Option<String>,
    /// When the holder connected (UTC, RFC 3339).
    pub backend_start: Option<String>,
    /// `active`, `idle`, `idle in transaction`, ...
    pub state: Option<String>,
    /// When `state` last changed (UTC, RFC 3339).
    pub state_change: Option<String>,
    /// The program it is known to be, from that program's own record of the migration lock
    /// ([`HolderTool`]); `None` when nothing tells (it may still be any program). In JSON,
    /// `tool`: `"confiture_python"` or null.
    pub tool: Option<HolderTool>,
}

/// A program a session holding the migration lock is known to be. Decided by
/// `with_tool` alone, from a record the program itself writes, never from what any session
/// could show by accident (an empty `application_name`, a query's text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HolderTool {
    /// confiture, the Python tool (`fraiseql-confiture`), whose sessions set no
    /// `application_name`: its record of the lock it holds (`PYTHON_HOLDER_TABLE`) names
    /// the session.
    ConfiturePython,
}

impl fmt::Display for HolderTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HolderTool::ConfiturePython => f.write_str("confiture (Python)"),
        }
    }
}

/// confiture (Python)'s record of who holds its migration lock (its issue #147): a table it
/// makes, unqualified (where its session's `search_path` puts it, as ours finds it), and
/// writes once it holds the lock, in the session that holds it — the row of the lock's second
/// key, with its role (`usename`) and the time it took the lock (`acquired_at`, the server's
/// clock) —, deleted when it gives the lock back. A run of it killed leaves its row, which
/// its next run writes over.
pub const PYTHON_HOLDER_TABLE: &str = "confiture_lock_holder";

/// Whether the session of `pid` is confiture (Python) holding the migration lock of the
/// current database: it holds confiture's key of this database exclusively, sets no
/// `application_name` (ours always set one, `cargo-confiture` unless the environment names
/// another), and confiture (Python)'s record of that key ([`PYTHON_HOLDER_TABLE`]) was written
/// by its role since it connected — a record left by a killed run, older than the session,
/// names no later session. A row when it is.
fn python_holder_sql(pid: i32) -> String {
    format!(
        "SELECT true FROM {PYTHON_HOLDER_TABLE} h \
         JOIN pg_catalog.pg_locks l ON l.objid::pg_catalog.int8 OPERATOR(pg_catalog.=) h.lock_id \
         JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid \
         WHERE l.pid OPERATOR(pg_catalog.=) {pid} \
           AND l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted \
           AND l.mode OPERATOR(pg_catalog.=) 'ExclusiveLock' \
           AND l.classid OPERATOR(pg_catalog.=) {LOCK_NAMESPACE}::pg_catalog.oid \
           AND l.objsubid OPERATOR(pg_catalog.=) 2 AND {} \
           AND a.application_name OPERATOR(pg_catalog.=) '' \
           AND h.usename OPERATOR(pg_catalog.=) a.usename::pg_catalog.text \
           AND h.acquired_at OPERATOR(pg_catalog.>=) a.backend_start \
         LIMIT 1",
        in_database(CURRENT_DATABASE)
    )
}

/// `holder`, with the program it is known to be ([`HoldingSession::tool`]): the one place
/// that decides it. One round trip, only for a session that sets no `application_name`
/// ([`python_holder_sql`]); a record that cannot be read (no such table: confiture (Python)
/// never held the lock here; a role without the privilege; a lock on it past
/// [`crate::db::EXPLANATION_WAIT`]) tells nothing, and the session is named as before.
pub(crate) fn with_tool(client: &mut Client, holder: Option<LockHolder>) -> Option<LockHolder> {
    match holder {
        Some(LockHolder::Session(mut session))
            if session.tool.is_none()
                && session
                    .application_name
                    .as_deref()
                    .is_some_and(str::is_empty) =>
        {
            let found =
                client.simple_query(&crate::db::explaining(&python_holder_sql(session.pid)));
            if found.is_ok_and(|messages| first_value(&messages).is_some()) {
                session.tool = Some(HolderTool::ConfiturePython);
            }
            Some(LockHolder::Session(session))
        }
        other => other,
    }
}

impl HoldingSession {
    /// Whether the start marker written at `started_at` (UTC, RFC 3339, as
    /// [`crate::ledger::StartedRun::started_at`] reads) may be this session's: not when it was
    /// written before the session connected (`backend_start`) — a run that died left it, and
    /// this holder (another run, confiture (Python), a session holding the lock by hand) is
    /// not running it. To the second, both read so; a `backend_start` hidden from this role
    /// cannot tell, and the marker may be its own.
    pub fn may_have_written(&self, started_at: &str) -> bool {
        let second = |t: &str| t.get(..19).map(str::to_string);
        match (
            self.backend_start.as_deref().and_then(second),
            second(started_at),
        ) {
            (Some(connected), Some(written)) => written >= connected,
            _ => true,
        }
    }
}

impl HoldingSession {
    /// The session in a few words, for a line that waits for it: `confiture (Python), pid
    /// 42`, `pid 42 (psql)`, `pid 42 (no application_name)`; [`fmt::Display`] says the rest.
    pub fn brief(&self) -> String {
        match (self.tool, self.application_name.as_deref()) {
            (Some(tool), _) => format!("{tool}, pid {}", self.pid),
            (None, Some(app)) if !app.is_empty() => format!("pid {} ({app})", self.pid),
            (None, _) => format!("pid {} (no application_name)", self.pid),
        }
    }
}

impl fmt::Display for HoldingSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(tool) = self.tool {
            write!(f, "{tool}, ")?;
        }
        write!(f, "pid {}", self.pid)?;
        if let Some(app) = self.application_name.as_deref().filter(|a| !a.is_empty()) {
            write!(f, ", application_name {app:?}")?;
        }
        if let Some(user) = &self.user {
            write!(f, ", user {user}")?;
        }
        if let Some(addr) = &self.client_addr {
            write!(f, ", client {addr}")?;
        }
        if let Some(start) = &self.backend_start {
            write!(f, ", connected since {start}")?;
        }
        if let Some(state) = &self.state {
            write!(f, ", {state}")?;
            if let Some(since) = &self.state_change {
                write!(f, " since {since}")?;
            }
        }
        Ok(())
    }
}

/// A prepared transaction holding a lock, from `pg_locks` (whose rows of it have no pid) and
/// `pg_prepared_xacts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreparedTransaction {
    /// Its global identifier, the name `COMMIT PREPARED` and `ROLLBACK PREPARED` take.
    pub gid: String,
    /// The role that prepared it, which (or a superuser) may end it.
    pub owner: Option<String>,
    /// The database it was prepared in, where it must be ended.
    pub database: Option<String>,
    /// When it was prepared (UTC, RFC 3339).
    pub prepared: Option<String>,
}

impl PreparedTransaction {
    /// `'gid'`: the gid as an SQL literal, as the statements that end it take it.
    fn literal(&self) -> String {
        crate::ledger::literal(&self.gid)
    }

    /// How to end it, for a help: `ROLLBACK PREPARED 'gid'` on its database, as its owner or a
    /// superuser; `COMMIT PREPARED` when whatever drives its two-phase commit decided to commit.
    pub fn way_out(&self) -> String {
        let gid = self.literal();
        let on = match &self.database {
            Some(database) => format!(" to database {}", crate::config::quoted(database)),
            None => String::new(),
        };
        let by = match &self.owner {
            Some(owner) => format!(" as {owner} (its owner) or a superuser"),
            None => String::new(),
        };
        format!(
            "connected{on}{by}, run `ROLLBACK PREPARED {gid}` (or `COMMIT PREPARED {gid}` if \
             its transaction manager decided to commit it)"
        )
    }
}

impl fmt::Display for PreparedTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "prepared transaction {}", self.literal())?;
        if let Some(owner) = &self.owner {
            write!(f, ", owner {owner}")?;
        }
        if let Some(database) = &self.database {
            write!(f, ", database {}", crate::config::quoted(database))?;
        }
        if let Some(prepared) = &self.prepared {
            write!(f, ", prepared at {prepared}")?;
        }
        Ok(())
    }
}

/// How a hint names the sessions among `holders` and the statement that ends them if stuck:
/// `("that session", "`SELECT pg_catalog.pg_terminate_backend(42)`")` for one, `("those
/// sessions", ...)` with one statement for more ([`super::pasted::terminate`]). A prepared
/// transaction has no session: [`prepared_help`] says how to end it.
pub(crate) fn terminate_hint(holders: &[LockHolder]) -> (&'static str, String) {
    let pids: Vec<i32> = holders.iter().filter_map(LockHolder::pid).collect();
    let which = match pids.len() {
        1 => "that session",
        _ => "those sessions",
    };
    let sql = super::pasted::terminate(&pids).map_or_else(String::new, |sql| format!("`{sql}`"));
    (which, sql)
}

/// The help of an error naming `holders` when a prepared transaction is among them: waiting
/// and running again never help, the way out is to end it ([`PreparedTransaction`]), then
/// `then` (`run the command again`). With sessions among them too, they are waited for (or
/// ended) as usual. `None` when every holder is a session: the caller's own help, which waits
/// for them, is the one.
pub(crate) fn prepared_help(holders: &[LockHolder], then: &str) -> Option<String> {
    let ends: Vec<String> = holders
        .iter()
        .filter_map(LockHolder::prepared)
        .map(PreparedTransaction::way_out)
        .collect();
    if ends.is_empty() {
        return None;
    }
    let mut help = format!(
        "a prepared transaction keeps its locks until it is committed or rolled back, however \
         long the wait: {}",
        ends.join("; ")
    );
    if holders.iter().any(|h| h.pid().is_some()) {
        let (that, terminate) = terminate_hint(holders);
        help.push_str(&format!(
            "; wait for {that} to finish too (if it is stuck, end it with {terminate})"
        ));
    }
    Some(format!("{help}; then {then}"))
}

/// The help of an error naming `holders`, the one wording of every lock error's way out: a
/// prepared transaction's ([`prepared_help`]); else wait for the sessions, every one named by
/// its pid ([`terminate_hint`]), and `then`; `None` when no holder is known.
pub(crate) fn holders_help(holders: &[LockHolder], then: &str) -> Option<String> {
    if let Some(help) = prepared_help(holders, then) {
        return Some(help);
    }
    if holders.is_empty() {
        return None;
    }
    let (that, terminate) = terminate_hint(holders);
    Some(format!(
        "wait for {that} to finish and {then}; if it is stuck, end it with {terminate}"
    ))
}

/// Whether waiting for a lock `holders` hold may end with it granted: never while a prepared
/// transaction is among them — it keeps its locks until someone commits or rolls it back,
/// however long anyone waits. The one rule of every wait for the migration lock and for the
/// ledger's locks ([`wait_for_lock`], [`ServerWait`]): such a wait ends at once, as soon as
/// the holder is known to be one, with the error naming it.
pub(crate) fn worth_waiting_for(holders: &[LockHolder]) -> bool {
    holders.iter().all(|h| h.prepared().is_none())
}

/// A wait for a lock the server grants to one of our statements (a ledger read, `baseline`'s
/// and `reinit`'s rewrite), bounded by the command's wait: sent with a `lock_timeout` of a
/// slice of it ([`ServerWait::slice_ms`]), a short one first, then longer ones (backoff with
/// jitter, as the migration lock is polled), never beyond the wait; after each slice that hit
/// its `lock_timeout`, the holders in the way are looked at ([`ServerWait::again`]): the
/// statement is sent again while time is left, unless a prepared transaction holds the lock
/// ([`worth_waiting_for`]). A statement waiting inside the server cannot look at who it waits
/// for: the slices are how a wait for a lock that never ends stops as soon as that is known.
#[derive(Debug)]
pub(crate) struct ServerWait {
    began: Instant,
    wait: Duration,
    backoff: Backoff,
}

impl ServerWait {
    /// A wait of at most `wait` (zero: one attempt of 1 ms, never "forever").
    pub(crate) fn new(wait: Duration) -> ServerWait {
        ServerWait::since(Instant::now(), wait)
    }

    /// [`ServerWait::new`] for a wait that `began` already: a command's reads that share
    /// its lock wait (`ledger::CatalogBound`).
    pub(crate) fn since(began: Instant, wait: Duration) -> ServerWait {
        ServerWait {
            began,
            wait,
            backoff: Backoff::new(Duration::from_millis(50), Duration::from_secs(1)),
        }
    }

    /// The `lock_timeout` of the next attempt, in milliseconds (1 at least, within
    /// PostgreSQL's limit): the next slice, at most what is left of the wait.
    pub(crate) fn slice_ms(&mut self) -> u128 {
        let left = self.wait.saturating_sub(self.began.elapsed());
        self.backoff
            .next_delay()
            .min(left)
            .as_millis()
            .clamp(1, i32::MAX as u128)
    }

    /// After an attempt that hit its `lock_timeout`, `holders` being in the way now: whether
    /// to send it again — time is left, and waiting may end ([`worth_waiting_for`]).
    pub(crate) fn again(&self, holders: &[LockHolder]) -> bool {
        self.began.elapsed() < self.wait && worth_waiting_for(holders)
    }

    /// How the wait ended, for the error naming `holders`: `waited 30s`, or, given up at once
    /// on a prepared transaction, `not waited for`.
    pub(crate) fn how(&self, holders: &[LockHolder]) -> String {
        if worth_waiting_for(holders) {
            format!("waited {}", human(self.wait))
        } else {
            NOT_WAITED_FOR.to_string()
        }
    }
}

/// How an error says that the lock it names was not waited for: a prepared transaction holds
/// it ([`worth_waiting_for`]).
pub(crate) const NOT_WAITED_FOR: &str = "not waited for";

/// Who is in the way, for a message: `another session`, or `a prepared transaction` when one
/// is among `holders`.
pub(crate) fn who_holds(holders: &[LockHolder]) -> &'static str {
    if holders.iter().any(|h| h.prepared().is_some()) {
        "a prepared transaction"
    } else {
        "another session"
    }
}

/// Proof that this session holds the migration lock; give it back with [`MigrationLock::release`].
#[derive(Debug)]
#[must_use = "the lock is held until released or the connection closes"]
pub struct MigrationLock {
    /// The database the lock is for.
    pub database: String,
    /// The lock's key within confiture's advisory-lock namespace.
    pub key: i32,
    /// A tenant run's own key ([`tenant_lock_id`]); `key` is then held shared.
    pub tenant_key: Option<i32>,
    /// The tenant schema of a tenant run, which its messages name.
    pub tenant: Option<String>,
    /// How long acquiring took.
    pub waited: Duration,
    /// The server session that took it (`connect::SESSION_IDENTITY`): the one that holds it,
    /// where [`MigrationLock::release`] gives it back.
    backend: String,
    /// The command's lock wait, which bounds the unlock's wait for another session's lock
    /// ([`MigrationLock::release`]).
    wait: Duration,
}

/// `migration lock on database "app"`, `migration lock of tenant schema tenant_a on database
/// "app"`: the one name of a lock in messages, so that a tenant's lock is never taken for its
/// database's (which other tenants share).
fn lock_name(database: &str, tenant: Option<&str>) -> String {
    match tenant {
        None => format!(
            "migration lock on database {}",
            crate::config::quoted(database)
        ),
        Some(schema) => format!(
            "migration lock of tenant schema {schema} on database {}",
            crate::config::quoted(database)
        ),
    }
}

fn first_value(messages: &[SimpleQueryMessage]) -> Option<&str> {
    messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0),
        _ => None,
    })
}

#[cfg(test)]
fn current_database(client: &mut Client) -> Result<String> {
    let messages = client
        .simple_query(&crate::db::own_statements(
            "SELECT pg_catalog.current_database()",
        ))
        .map_err(|e| query_error("cannot read the current database name", e))?;
    Ok(first_value(&messages).unwrap_or_default().to_string())
}

/// Takes the lock: the run's exclusive key ([`HeldLock::key`]) once, so that one
/// `pg_advisory_unlock` of that key by a migration is a lost lock, which
/// [`HeldLock::check_sql`] finds (a second hold would have hidden it). The server session
/// that took it (`connect::SESSION_IDENTITY`) when it did, else `None`.
/// Its message calls only what every attempt calls: nothing another session's lock on a
/// catalog (`LOCK pg_catalog.pg_proc`) could hold up once the first attempt ran (the idle
/// timeouts the wait turned off come back after it, [`acquire_scoped`]: a `set_config` over
/// `pg_settings` here waited, unbounded, for such a lock).
fn try_lock(client: &mut Client, key: i32, tenant_key: Option<i32>) -> Result<Option<String>> {
    let sql = match tenant_key {
        None => format!("pg_catalog.pg_try_advisory_lock({LOCK_NAMESPACE}, {key})"),
        // Both or neither, in one round trip: the shared key is given back when the tenant's
        // is taken (CASE evaluates in order).
        Some(tenant) => format!(
            "CASE WHEN pg_catalog.pg_try_advisory_lock_shared({LOCK_NAMESPACE}, {key}) THEN \
             CASE WHEN pg_catalog.pg_try_advisory_lock({LOCK_NAMESPACE}, {tenant}) THEN true \
             ELSE NOT pg_catalog.pg_advisory_unlock_shared({LOCK_NAMESPACE}, {key}) END ELSE false END"
        ),
    };
    let messages = client
        .simple_query(&crate::db::own_statements(&format!(
            "SELECT {sql}, {}",
            crate::db::connect::SESSION_IDENTITY
        )))
        .map_err(|e| query_error("cannot take the migration lock", e))?;
    Ok((first_value(&messages) == Some("t")).then(|| value(&messages, 1).to_string()))
}

fn value(messages: &[SimpleQueryMessage], i: usize) -> &str {
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(i),
            _ => None,
        })
        .unwrap_or_default()
}

const RFC3339_UTC: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS"Z"'"#;

/// Who is in the way of a run (a session or a prepared transaction): for a tenant run, the
/// holder of the tenant's key, else the one holding the database's key (exclusively: a run on
/// the whole database).
fn holder_of(client: &mut Client, key: i32, tenant_key: Option<i32>) -> Result<Option<LockHolder>> {
    match tenant_key {
        None => holder(client, key),
        Some(tenant) => match holder(client, tenant)? {
            Some(found) => Ok(Some(found)),
            None => holder(client, key),
        },
    }
}

/// The locks of the migration lock `key` of the current database in `pg_locks` (as `l`),
/// held (`granted`) or waited for.
fn advisory_condition(key: i32, granted: bool) -> String {
    advisory_condition_of(&key.to_string(), granted)
}

/// [`advisory_condition`] of a key SQL computes (`key`: an `int4` expression).
fn advisory_condition_of(key: &str, granted: bool) -> String {
    format!(
        "l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted OPERATOR(pg_catalog.=) {granted} \
         AND l.classid OPERATOR(pg_catalog.=) {LOCK_NAMESPACE}::pg_catalog.oid \
         AND l.objid OPERATOR(pg_catalog.=) CAST({key} AS pg_catalog.oid) \
         AND l.objsubid OPERATOR(pg_catalog.=) 2 AND {}",
        in_database(CURRENT_DATABASE)
    )
}

/// The exclusive key of the migration lock a run on the current database (or on its tenant
/// schema `tenant`) takes, computed by the server: [`lock_id`] of `current_database()`, or
/// [`tenant_lock_id`] of it and `tenant` — SHA-256's first four bytes, masked to 31 bits —,
/// so that a query can name the lock without first asking the database's name.
fn run_key_sql(tenant: Option<&str>) -> String {
    let database = "pg_catalog.convert_to(pg_catalog.current_database(), 'UTF8')";
    let hashed = match tenant {
        None => database.to_string(),
        Some(schema) => format!(
            "{database} OPERATOR(pg_catalog.||) pg_catalog.decode('00', 'hex') \
             OPERATOR(pg_catalog.||) pg_catalog.convert_to({}, 'UTF8')",
            crate::ledger::literal(schema)
        ),
    };
    format!(
        "(CAST(CAST('x' OPERATOR(pg_catalog.||) pg_catalog.substr(pg_catalog.encode(\
         pg_catalog.sha256({hashed}), 'hex'), 1, 8) AS pg_catalog.bit(32)) AS pg_catalog.int4) \
         OPERATOR(pg_catalog.&) 2147483647)"
    )
}

/// The query of [`run_going_on`] in one statement (its key computed by the server,
/// [`run_key_sql`]), whose rows [`run_going_on_of`] reads: what `status` sends with its
/// ledger read, so that whether a run holds the migration lock costs no round trip.
pub(crate) fn run_going_on_sql(tenant: Option<&str>) -> String {
    holders_sql(&advisory_condition_of(&run_key_sql(tenant), true), "", 1)
}

/// The holder [`run_going_on_sql`]'s answer names, if any.
pub(crate) fn run_going_on_of(messages: &[SimpleQueryMessage]) -> Option<LockHolder> {
    holders_of(messages).into_iter().next()
}

/// `pg_catalog.current_database()`, for [`in_database`].
const CURRENT_DATABASE: &str = "pg_catalog.current_database()";

/// The locks of `pg_locks` (as `l`) in the database named `datname` (SQL: a literal, or
/// [`CURRENT_DATABASE`]): the one way each query here picks a database's locks.
fn in_database(datname: &str) -> String {
    format!(
        "l.database OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database \
         WHERE datname OPERATOR(pg_catalog.=) {datname})"
    )
}

/// The sessions waiting for the migration lock `key` of the current database, as rows of
/// [`sessions_of`]'s shape (a prepared transaction never waits).
fn waiting_sessions_sql(key: i32) -> String {
    format!(
        "SELECT {} \
         FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid \
         WHERE {} \
         ORDER BY a.pid",
        session_columns(),
        advisory_condition(key, false)
    )
}

/// Who holds the locks of `pg_locks` (as `l`) that `condition` picks, as rows of
/// [`holders_of`]'s shape followed by the columns `extra` (`, l.relation`): prepared
/// transactions (`pg_prepared_xacts`, as `p`), by gid, then sessions (`pg_stat_activity`, as
/// `a`), by pid; at most `limit`, each once. Prepared transactions first: they never end by
/// themselves, so a limit never leaves out the holder a wait must not wait for
/// ([`worth_waiting_for`]). A prepared transaction's rows in `pg_locks` have
/// no pid: its own is the transaction whose lock on its transaction id is held in the same
/// virtual transaction. One copy of `pg_locks` for both looks (a `WITH` query read twice).
fn holders_sql(condition: &str, extra: &str, limit: usize) -> String {
    format!(
        "WITH l AS (SELECT * FROM pg_catalog.pg_locks) \
         SELECT DISTINCT {sessions}, \
                p.gid, p.owner, p.database, \
                pg_catalog.to_char(p.prepared AT TIME ZONE 'UTC', {RFC3339_UTC}){extra} \
         FROM l \
         LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid \
         LEFT JOIN l x ON l.pid IS NULL AND x.pid IS NULL \
                      AND x.locktype OPERATOR(pg_catalog.=) 'transactionid' \
                      AND x.virtualtransaction OPERATOR(pg_catalog.=) l.virtualtransaction \
         LEFT JOIN pg_catalog.pg_prepared_xacts p \
                ON p.transaction OPERATOR(pg_catalog.=) x.transactionid \
         WHERE ({condition}) AND (a.pid IS NOT NULL OR p.gid IS NOT NULL) \
         ORDER BY 8, 1 LIMIT {limit}",
        sessions = session_columns(),
    )
}

/// What names a session holding or waiting for a lock, from `pg_stat_activity` (as `a`): the
/// first columns of [`sessions_of`]'s rows, and of [`holders_of`]'s — pid, application name,
/// role, client address, when it started, its state and since when.
fn session_columns() -> String {
    format!(
        "a.pid, a.application_name, a.usename, pg_catalog.host(a.client_addr), \
         pg_catalog.to_char(a.backend_start AT TIME ZONE 'UTC', {RFC3339_UTC}), a.state, \
         pg_catalog.to_char(a.state_change AT TIME ZONE 'UTC', {RFC3339_UTC})"
    )
}

/// The session or prepared transaction holding the migration lock of the current database,
/// if any.
pub fn holder(client: &mut Client, key: i32) -> Result<Option<LockHolder>> {
    let sql = holders_sql(&advisory_condition(key, true), "", 1);
    let messages = client
        .simple_query(&crate::db::own_statements(&sql))
        .map_err(|e| query_error("cannot find the holder of the migration lock", e))?;
    Ok(holders_of(&messages).into_iter().next())
}

/// Who holds, now, the exclusive migration lock a run on this database (or on its tenant
/// schema `tenant`) takes: a session, a run going on; or a prepared transaction, no run. No
/// waiting for the migration lock: a look at `pg_locks`, whose wait for another session's lock
/// on a catalog it reads (`LOCK pg_catalog.pg_locks`) is bounded by the command's (`bound`).
pub(crate) fn run_going_on(
    client: &mut Client,
    tenant: Option<&str>,
    bound: crate::db::ledger::CatalogBound<'_>,
) -> Result<Option<LockHolder>> {
    let messages = bound.send(
        client,
        "cannot find the holder of the migration lock",
        &run_going_on_sql(tenant),
    )?;
    Ok(run_going_on_of(&messages))
}

/// What a statement of ours wants of a table: the lock modes another session may hold that
/// make it wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// A `SELECT` (`ACCESS SHARE`): only `ACCESS EXCLUSIVE` is in its way.
    Read,
    /// An `INSERT`, `UPDATE` or `DELETE` (`ROW EXCLUSIVE`): `SHARE` and above are in its way.
    Write,
}

impl Wanted {
    fn conflicting_modes(self) -> &'static str {
        match self {
            Wanted::Read => "'AccessExclusiveLock'",
            Wanted::Write => {
                "'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'"
            }
        }
    }
}

/// Who holds a lock on `relation` (a `regclass` literal) that conflicts with
/// `wanted` of it, if any: what a ledger read or write that hit its `lock_timeout` names.
pub fn table_lock_holder(
    client: &mut Client,
    relation: &str,
    wanted: Wanted,
) -> Result<Option<LockHolder>> {
    let holders = holders_in_the_way(client, Some(relation), wanted, 1).map_err(|e| {
        query_error(
            "cannot find the holder of the lock on the tracking table",
            e,
        )
    })?;
    Ok(holders.into_iter().next())
}

/// What a write of ours does to a row of a table, for [`row_lock_holders`]: which other
/// sessions' row locks make it wait. A row lock is no relation lock in the way
/// ([`table_lock_holder`] finds none): the server keeps it in the row itself, and the waiter
/// waits for the holder's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowWrite<'a> {
    /// An `INSERT`: its unique index waits for another transaction's uncommitted write of the
    /// same key (an `INSERT` or `UPDATE`, holding `ROW EXCLUSIVE` on the table).
    Insert,
    /// A `DELETE` of the rows `condition` (an SQL condition on the table) matches: any lock
    /// on such a row is in its way (`SELECT ... FOR UPDATE`/`FOR SHARE`/`FOR KEY SHARE`,
    /// holding `ROW SHARE` on the table; an uncommitted `UPDATE` or `DELETE`, `ROW
    /// EXCLUSIVE`).
    Delete {
        /// The `WHERE` condition of the `DELETE`.
        condition: &'a str,
    },
}

impl RowWrite<'_> {
    /// The table lock modes a session holding a row lock in the way holds.
    fn holder_modes(self) -> &'static str {
        match self {
            RowWrite::Insert => "'RowExclusiveLock'",
            RowWrite::Delete { .. } => "'RowShareLock', 'RowExclusiveLock'",
        }
    }
}

/// The prepared transactions, then the sessions (at most `limit`, by gid then pid) whose row locks on
/// `table` (a quoted, qualified name) are in the way of `write` of it: what a ledger write
/// that hit its `lock_timeout` names when no relation lock was in its way. Row locks are not
/// in `pg_locks`: the sessions holding the table lock a row lock or a row write takes are the
/// candidates — for an `INSERT`, the holders —, and, for a `DELETE`, those among them whose
/// transaction is the rows' `xmax` — or a member of its multixact, when several share the
/// lock — are the holders (the others locked other rows); none when the rows are not locked
/// (any more).
pub(crate) fn row_lock_holders(
    client: &mut Client,
    table: &str,
    write: RowWrite<'_>,
    wait: Duration,
    limit: usize,
) -> std::result::Result<Vec<LockHolder>, postgres::Error> {
    let relation = crate::ledger::literal(table);
    // Sessions and prepared transactions alike (`holders_sql`): by virtual transaction, as a
    // prepared transaction has no pid.
    let candidates = format!(
        "l.locktype OPERATOR(pg_catalog.=) 'relation' AND l.granted \
         AND l.mode OPERATOR(pg_catalog.=) ANY (ARRAY[{modes}]::pg_catalog.text[]) \
         AND l.relation OPERATOR(pg_catalog.=) pg_catalog.to_regclass({relation}) \
         AND (l.pid IS NULL OR l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid())",
        modes = write.holder_modes()
    );
    // The candidates whose transaction (or subtransaction) holds `xids`, a query of xids.
    let holding = |xids: &str| {
        format!(
            "{candidates} AND l.virtualtransaction OPERATOR(pg_catalog.=) ANY (\
               SELECT t.virtualtransaction FROM pg_catalog.pg_locks t \
               WHERE t.locktype OPERATOR(pg_catalog.=) 'transactionid' AND t.granted \
                 AND t.transactionid OPERATOR(pg_catalog.=) ANY ({xids}))"
        )
    };
    // The `DELETE`'s look at its rows waits only for a lock that no write could get past
    // (`ACCESS EXCLUSIVE`, which [`table_lock_holder`] names first), and no longer than `wait`.
    let bound = format!("SET LOCAL lock_timeout = '{}ms';", wait.as_millis().max(1));
    let read = |client: &mut Client, condition: &str| {
        client
            .simple_query(&crate::db::own_statements(&format!(
                "{bound} {}",
                holders_sql(condition, "", limit)
            )))
            .map(|messages| holders_of(&messages))
    };
    let RowWrite::Delete { condition } = write else {
        // No row to look at: another transaction's write of the same key is not visible.
        return read(client, &candidates);
    };
    let xmax = format!("SELECT r.xmax FROM {table} r WHERE {condition}");
    let found = read(client, &holding(&xmax))?;
    if !found.is_empty() {
        return Ok(found);
    }
    // Several sessions share the lock: the `xmax` is a multixact, whose members are
    // transactions. An `xmax` that is no multixact may be out of its range, an error that only
    // says so; then no transaction holds the row any more (the holder ended meanwhile).
    let members = format!(
        "SELECT m.xid FROM {table} r, pg_catalog.pg_get_multixact_members(r.xmax) m \
         WHERE {condition} AND NOT r.xmax OPERATOR(pg_catalog.=) '0'::pg_catalog.xid"
    );
    Ok(read(client, &holding(&members)).unwrap_or_default())
}

/// The prepared transactions, then the sessions (at most `limit`, by gid then pid) holding a lock that
/// conflicts with reading `relation` (a `regclass` literal) — `ACCESS EXCLUSIVE`, the only
/// mode a `SELECT` waits for — or, without one, any relation of the current database: what a
/// read-only query that hit its `lock_timeout` names, since the server does not say which
/// relation it waited for.
pub(crate) fn read_lock_holders(
    client: &mut Client,
    relation: Option<&str>,
    limit: usize,
) -> std::result::Result<Vec<LockHolder>, postgres::Error> {
    holders_in_the_way(client, relation, Wanted::Read, limit)
}

/// What a concurrent index build that waited for another transaction's snapshot names it by:
/// no lock of that transaction's is in its way, its snapshot is ([`named_lock_holders`]).
const OLDER_SNAPSHOT: &str = "a snapshot older than the index build, which waits for the end \
                              of its transaction (a virtualxid wait),";

/// The key of an advisory lock as a statement gives it to `pg_advisory_lock` and its kin: one
/// `bigint`, or two `int4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdvisoryKey {
    /// `pg_advisory_lock(99)`.
    One(i64),
    /// `pg_advisory_lock(7, -2)`.
    Two(i32, i32),
}

impl AdvisoryKey {
    /// The condition on `pg_locks` (as `l`) of a lock of this key: its bits as `classid` and
    /// `objid`, with `objsubid` 1 for one `bigint` (`classid` its high half), 2 for two `int4`.
    fn condition(self) -> String {
        let (class, obj, sub) = match self {
            AdvisoryKey::One(key) => ((key as u64 >> 32) as u32, key as u64 as u32, 1),
            AdvisoryKey::Two(class, obj) => (class as u32, obj as u32, 2),
        };
        format!(
            "(l.locktype OPERATOR(pg_catalog.=) 'advisory' \
             AND l.classid OPERATOR(pg_catalog.=) '{class}'::pg_catalog.oid \
             AND l.objid OPERATOR(pg_catalog.=) '{obj}'::pg_catalog.oid \
             AND l.objsubid OPERATOR(pg_catalog.=) {sub})"
        )
    }

    /// What a message calls the lock: `advisory lock 99`, `advisory lock (7, -2)`.
    fn label(self) -> String {
        match self {
            AdvisoryKey::One(key) => format!("advisory lock {key}"),
            AdvisoryKey::Two(class, obj) => format!("advisory lock ({class}, {obj})"),
        }
    }
}

/// The prepared transactions, then the sessions (at most `limit` rows, by gid then pid) holding
/// a lock on one of the relations `names` (SQL names, `a` or `s.a`, resolved by the server with
/// `to_regclass`; those that are no relation are left out) or an advisory lock of one of the
/// `keys`, each with the lock as a message names it (`lock on users`, `advisory lock 99`): what
/// a migration that hit its `lock_timeout` names, the relations and keys being those its
/// statement names — the server says neither which lock it waited for nor, once the wait is
/// over, who held it (`pg_blocking_pids` is empty by then). Any mode: a migration's `ALTER
/// TABLE` waits for every one, and an advisory lock held shared is in the way of one wanted
/// exclusive.
///
/// `concurrent_build`: the statement builds an index concurrently (`CREATE INDEX
/// CONCURRENTLY`, `REINDEX ... CONCURRENTLY`), which waits for the table's writers and for
/// every transaction of the database holding a snapshot older than its own (a `virtualxid`
/// wait), never for a reader's lock: a session that only read the table (`ACCESS SHARE`, `ROW
/// SHARE`) is named for its snapshot, not for a lock on the table.
pub(crate) fn named_lock_holders(
    client: &mut Client,
    names: &[String],
    keys: &[AdvisoryKey],
    concurrent_build: bool,
    limit: usize,
) -> std::result::Result<Vec<(String, LockHolder)>, postgres::Error> {
    if names.is_empty() && keys.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = names.iter().map(|n| crate::ledger::literal(n)).collect();
    let modes = match concurrent_build {
        true => " AND l.mode OPERATOR(pg_catalog.<>) ALL (ARRAY['AccessShareLock', 'RowShareLock']::pg_catalog.text[])",
        false => "",
    };
    let relations = match names.is_empty() {
        true => "false".to_string(),
        false => format!(
            "(l.locktype OPERATOR(pg_catalog.=) 'relation'{modes} \
             AND l.relation OPERATOR(pg_catalog.=) ANY (SELECT pg_catalog.to_regclass(n) \
             FROM pg_catalog.unnest(ARRAY[{}]::pg_catalog.text[]) AS n))",
            names.join(", ")
        ),
    };
    let mut advisory = String::new();
    let mut label = String::from("CASE WHEN l.locktype OPERATOR(pg_catalog.=) 'relation' THEN 'lock on ' OPERATOR(pg_catalog.||) l.relation::pg_catalog.regclass::pg_catalog.text");
    // Every transaction's own `virtualxid` lock (of no database); those of a session of the
    // database with a snapshot (`backend_xmin`) are what the build's wait for older snapshots
    // waits for.
    let mut snapshots = String::new();
    if concurrent_build {
        snapshots.push_str(
            " OR (l.locktype OPERATOR(pg_catalog.=) 'virtualxid' AND l.pid OPERATOR(pg_catalog.=) \
             ANY (SELECT s.pid FROM pg_catalog.pg_stat_activity s \
             WHERE s.datname OPERATOR(pg_catalog.=) pg_catalog.current_database() \
             AND s.backend_xmin IS NOT NULL))",
        );
        label.push_str(&format!(
            " WHEN l.locktype OPERATOR(pg_catalog.=) 'virtualxid' THEN {}",
            crate::ledger::literal(OLDER_SNAPSHOT)
        ));
    }
    for key in keys {
        advisory.push_str(" OR ");
        advisory.push_str(&key.condition());
        label.push_str(&format!(
            " WHEN {} THEN {}",
            key.condition(),
            crate::ledger::literal(&key.label())
        ));
    }
    label.push_str(" END");
    labelled_holders(
        client,
        &format!(
            "l.granted AND (({relations}{advisory}) AND {}{snapshots}) \
             AND (l.pid IS NULL OR l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid())",
            in_database(CURRENT_DATABASE)
        ),
        &label,
        limit,
    )
}

/// The prepared transactions, then the sessions (at most `limit`, by gid then pid) holding a
/// lock on a system catalog of the database `database` (a relation below PostgreSQL's first
/// normal OID, `pg_class`, `pg_index`, ...) in the way of reading it (`ACCESS EXCLUSIVE`:
/// `LOCK pg_catalog.pg_class`, `VACUUM FULL`, `CLUSTER`), each with the catalog as this
/// session's database names it (a system catalog has the same OID in every database): what a
/// session starting on `database` waits for, asked from a session on another database of the
/// server (a maintenance database), since one on `database` would wait too.
/// `database`: its name; `None`, the session's own (`current_database()`), for a session that
/// got past its start and whose statement waited for such a lock.
pub(crate) fn catalog_lock_holders(
    client: &mut Client,
    database: Option<&str>,
    limit: usize,
) -> std::result::Result<Vec<(String, LockHolder)>, postgres::Error> {
    let database = database.map_or_else(
        || "pg_catalog.current_database()".to_string(),
        crate::ledger::literal,
    );
    relations_and_holders(
        client,
        &format!(
            "l.mode OPERATOR(pg_catalog.=) ANY (ARRAY[{modes}]::pg_catalog.text[]) \
             AND l.relation OPERATOR(pg_catalog.<) '16384'::pg_catalog.oid AND {database}",
            modes = Wanted::Read.conflicting_modes(),
            database = in_database(&database),
        ),
        limit,
    )
}

/// The sessions and prepared transactions (at most `limit`, by gid then pid) in the way of the
/// server session `pid` now — `pg_blocking_pids`: the holders of the lock it waits for, a
/// relation's, a row's (its writer's transaction), an advisory key's; a prepared transaction
/// is its 0 there, so any prepared transaction holding a lock stands for it — and the relation
/// it waits for when that lock is a relation's. What a message of a run that lasts waits for,
/// asked from a session of its own while it waits (`apply::Stop`), named as the exit-6
/// failures name holders. `same_server` is true only on that session's server
/// (`connect::session_of_identity`): elsewhere none is found. It waits for a lock (on a
/// system catalog it reads) no longer than [`crate::db::EXPLANATION_WAIT`]: a lock timeout.
pub(crate) fn blocking_holders(
    client: &mut Client,
    pid: i32,
    same_server: &str,
    limit: usize,
) -> std::result::Result<(Option<String>, Vec<LockHolder>), postgres::Error> {
    let blocking = format!("SELECT pg_catalog.unnest(pg_catalog.pg_blocking_pids({pid}))");
    let sql = holders_sql(
        &format!(
            "{same_server} AND (l.pid OPERATOR(pg_catalog.=) ANY ({blocking}) \
             OR (l.pid IS NULL AND 0 OPERATOR(pg_catalog.=) ANY ({blocking})))"
        ),
        &format!(
            ", (SELECT w.relation::pg_catalog.regclass::pg_catalog.text \
               FROM pg_catalog.pg_locks w WHERE w.pid OPERATOR(pg_catalog.=) {pid} \
               AND NOT w.granted AND w.locktype OPERATOR(pg_catalog.=) 'relation' LIMIT 1)"
        ),
        limit,
    );
    // Bounded: a lock on a system catalog it reads (`LOCK pg_catalog.pg_proc`) must not keep
    // the asking session waiting as long as it lasts; the caller then asks elsewhere.
    let messages = client.simple_query(&crate::db::explaining(&sql))?;
    let relation = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(HOLDER_COLUMNS).map(str::to_string),
        _ => None,
    });
    Ok((relation, holders_of(&messages)))
}

/// The one reader of sessions and prepared transactions holding relation locks in the way of
/// `wanted`
/// ([`read_lock_holders`], [`table_lock_holder`]).
fn holders_in_the_way(
    client: &mut Client,
    relation: Option<&str>,
    wanted: Wanted,
    limit: usize,
) -> std::result::Result<Vec<LockHolder>, postgres::Error> {
    let which = match relation {
        Some(relation) => {
            format!("l.relation OPERATOR(pg_catalog.=) pg_catalog.to_regclass({relation})")
        }
        None => in_database(CURRENT_DATABASE),
    };
    let sql = holders_sql(
        &format!(
            "l.locktype OPERATOR(pg_catalog.=) 'relation' AND l.granted \
             AND l.mode OPERATOR(pg_catalog.=) ANY (ARRAY[{modes}]::pg_catalog.text[]) \
             AND {which} AND (l.pid IS NULL OR l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid())",
            modes = wanted.conflicting_modes()
        ),
        "",
        limit,
    );
    Ok(holders_of(
        &client.simple_query(&crate::db::explaining(&sql))?,
    ))
}

/// The holders ([`holders_sql`]) of the granted relation locks `condition` picks besides, each
/// with the relation as the server names it: [`catalog_lock_holders`]'s query.
fn relations_and_holders(
    client: &mut Client,
    condition: &str,
    limit: usize,
) -> std::result::Result<Vec<(String, LockHolder)>, postgres::Error> {
    labelled_holders(
        client,
        &format!("l.locktype OPERATOR(pg_catalog.=) 'relation' AND l.granted AND {condition}"),
        "l.relation::pg_catalog.regclass::pg_catalog.text",
        limit,
    )
}

/// The holders ([`holders_sql`]) of the locks `condition` picks, each with what `label` (an SQL
/// text expression over `l`) says of its lock: the one query of [`named_lock_holders`] and
/// [`relations_and_holders`].
fn labelled_holders(
    client: &mut Client,
    condition: &str,
    label: &str,
    limit: usize,
) -> std::result::Result<Vec<(String, LockHolder)>, postgres::Error> {
    let sql = holders_sql(condition, &format!(", {label}"), limit);
    let messages = client.simple_query(&crate::db::explaining(&sql))?;
    let relations = messages.iter().filter_map(|m| match m {
        SimpleQueryMessage::Row(row) => {
            Some(row.get(HOLDER_COLUMNS).unwrap_or_default().to_string())
        }
        _ => None,
    });
    Ok(relations.zip(holders_of(&messages)).collect())
}

/// How many columns a row of [`holders_of`]'s shape has, before any more of its query's.
const HOLDER_COLUMNS: usize = 11;

/// Every row of a query of [`holders_sql`]'s shape, as holders: a prepared transaction's when
/// it has a gid (its session's columns are NULL), else a session's.
fn holders_of(messages: &[SimpleQueryMessage]) -> Vec<LockHolder> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(match row.get(7) {
                Some(gid) => LockHolder::PreparedTransaction(PreparedTransaction {
                    gid: gid.to_string(),
                    owner: row.get(8).map(str::to_string),
                    database: row.get(9).map(str::to_string),
                    prepared: row.get(10).map(str::to_string),
                }),
                None => LockHolder::Session(session_of(row)),
            }),
            _ => None,
        })
        .collect()
}

/// Every row of a query of sessions ([`waiting_sessions_sql`]'s shape, the first columns of
/// [`holders_sql`]'s), as sessions.
fn sessions_of(messages: &[SimpleQueryMessage]) -> Vec<HoldingSession> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(session_of(row)),
            _ => None,
        })
        .collect()
}

fn session_of(row: &postgres::SimpleQueryRow) -> HoldingSession {
    let text = |i: usize| row.get(i).map(str::to_string);
    HoldingSession {
        pid: row.get(0).and_then(|p| p.parse().ok()).unwrap_or(0),
        application_name: text(1),
        user: text(2),
        client_addr: text(3),
        backend_start: text(4),
        state: text(5),
        state_change: text(6),
        tool: None,
    }
}

/// How often a wait for the lock looks whether the run was stopped ([`acquire_scoped`]).
const STOP_POLL: Duration = Duration::from_millis(50);

/// Takes the migration lock, polling with backoff and jitter for at most `timeout`.
/// `waiting` is called once, with the holder, when the first attempt finds the lock taken.
/// On expiry the error (exit 6) names the holder. The engine uses [`acquire_scoped`]; this is
/// for the lock's own tests.
#[cfg(test)]
pub fn acquire(
    client: &mut Client,
    timeout: Duration,
    waiting: &mut dyn FnMut(Option<&LockHolder>),
) -> Result<MigrationLock> {
    let database = current_database(client)?;
    acquire_for(client, database, timeout, waiting)
}

/// [`acquire`] for a session whose `current_database()` is already known (the commands that
/// write read it with their read-only check, in the same round trip).
#[cfg(test)]
pub fn acquire_for(
    client: &mut Client,
    database: String,
    timeout: Duration,
    waiting: &mut dyn FnMut(Option<&LockHolder>),
) -> Result<MigrationLock> {
    let effect = crate::plan::Effect::Runs;
    acquire_scoped(client, database, None, timeout, None, effect, waiting)
}

/// Takes the migration lock for a session whose `current_database()` is known (the commands
/// that write read it with their read-only check, in the same round trip), for the whole
/// database (`tenant` `None`) or for one tenant schema of it
/// ([`tenant_lock_id`]). A run stopped from outside while it waits (`stop`,
/// [`crate::Migrator::stop_when`]) gives up at once: [`ErrorKind::Interrupted`], saying what
/// the command (`effect`) did not do.
pub fn acquire_scoped(
    client: &mut Client,
    database: String,
    tenant: Option<&str>,
    timeout: Duration,
    stop: Option<&crate::db::apply::Stop>,
    effect: crate::plan::Effect,
    waiting: &mut dyn FnMut(Option<&LockHolder>),
) -> Result<MigrationLock> {
    let mut idle = None;
    let taken = wait_for_lock(
        client, database, tenant, timeout, stop, effect, waiting, &mut idle,
    );
    if let Some(restore) = idle {
        // The migrations run under the connection's own setting again (README "Session
        // state"); a lost session has nothing to restore, and its error is the one to show.
        // In a round trip of its own, after the lock's message, whose attempts call nothing
        // another session's lock on a catalog can hold up (`try_lock`); the restore looks
        // nothing up either (`IdleRestore`).
        if let Err(e) = restore.now(client) {
            if taken.is_ok() {
                return Err(query_error("cannot restore the session's settings", e));
            }
        }
    }
    taken
}

/// [`acquire_scoped`]'s wait; `idle` set once [`crate::db::idle_timeouts_off`] was sent: the
/// session waits idle between two attempts, which the database's or role's idle timeouts must
/// not end.
#[allow(clippy::too_many_arguments)]
fn wait_for_lock(
    client: &mut Client,
    database: String,
    tenant: Option<&str>,
    timeout: Duration,
    stop: Option<&crate::db::apply::Stop>,
    effect: crate::plan::Effect,
    waiting: &mut dyn FnMut(Option<&LockHolder>),
    idle: &mut Option<crate::db::IdleRestore>,
) -> Result<MigrationLock> {
    let start = Instant::now();
    let (key, tenant_key) = keys(&database, tenant);
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
    let mut announced = false;
    let found = loop {
        if let Some(backend) = try_lock(client, key, tenant_key)? {
            // Granted: what the caller asks of the run says so before the next round trip
            // (the settings' restore, which may wait for a lock on a catalog).
            if let Some(stop) = stop {
                stop.lock_taken();
            }
            return Ok(MigrationLock {
                database,
                key,
                tenant_key,
                tenant: tenant.map(str::to_string),
                waited: start.elapsed(),
                backend,
                wait: timeout,
            });
        }
        // Who holds it, after every attempt: a prepared transaction — there at once, or
        // taking it from a session meanwhile — never gives it back by itself.
        let found = holder_of(client, key, tenant_key)?;
        let elapsed = start.elapsed();
        if elapsed >= timeout || !worth_waiting_for(found.as_slice()) {
            break found;
        }
        if !announced {
            announced = true;
            *idle =
                Some(crate::db::idle_timeouts_off(client).map_err(|e| {
                    query_error("cannot prepare the session to wait for the lock", e)
                })?);
            waiting(with_tool(client, found.clone()).as_ref());
        }
        let until = Instant::now() + backoff.next_delay().min(timeout - elapsed);
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if stop.is_some_and(crate::db::apply::Stop::is_set) {
                return Err(Error::new(
                    ErrorKind::Interrupted,
                    format!(
                        "interrupted while waiting for the migration lock: {}",
                        effect.nothing_done()
                    ),
                ));
            }
            std::thread::sleep(left.min(STOP_POLL));
        }
    };
    let found = with_tool(client, found);
    // A zero wait is one attempt: "within 0ms" read as a bug.
    let waited = if !worth_waiting_for(found.as_slice()) {
        format!("({NOT_WAITED_FOR})")
    } else if timeout.is_zero() {
        "at once (no wait was allowed)".to_string()
    } else {
        format!("within {}", human(timeout))
    };
    let holds = match found.as_ref().and_then(LockHolder::prepared) {
        Some(_) => "a prepared transaction holds it",
        None => "another migration run holds it",
    };
    let mut err = Error::new(
        ErrorKind::LockTimeout,
        format!(
            "{} not acquired {waited}: {holds}",
            lock_name(&database, tenant)
        ),
    );
    err = match &found {
        Some(LockHolder::Session(h)) => err.with_detail(format!("held by {h}")).with_help(format!(
            "wait for that run to finish and run {AGAIN}, or raise --lock-wait; if the session \
             is stuck, end it with `{}`",
            super::pasted::terminate(&[h.pid]).unwrap_or_default()
        )),
        Some(h) => err.with_detail(format!("held by {h}")).with_help(
            prepared_help(std::slice::from_ref(h), &format!("run {AGAIN}")).unwrap_or_default(),
        ),
        // Released between the last attempt and the look-up: a retry will most likely succeed.
        None => err.with_help(format!("the lock was released just now; run {AGAIN}")),
    };
    Err(err.with_reason(crate::error::Reason::Lock {
        database: None,
        holders: found.into_iter().collect(),
    }))
}

/// One attempt at [`acquire_scoped`]'s lock, never waiting: `None` when another session holds
/// it (the caller then waits for it with [`acquire_scoped`], which says who holds it). `wait`,
/// the command's lock wait, bounds its release's ([`MigrationLock::release`]).
pub fn try_acquire_scoped(
    client: &mut Client,
    database: &str,
    tenant: Option<&str>,
    wait: Duration,
) -> Result<Option<MigrationLock>> {
    let (key, tenant_key) = keys(database, tenant);
    Ok(
        try_lock(client, key, tenant_key)?.map(|backend| MigrationLock {
            database: database.to_string(),
            key,
            tenant_key,
            tenant: tenant.map(str::to_string),
            waited: Duration::ZERO,
            backend,
            wait,
        }),
    )
}

/// The second keys of the lock of `database`, or of one tenant schema of it.
fn keys(database: &str, tenant: Option<&str>) -> (i32, Option<i32>) {
    let tenant_key = tenant.map(|schema| tenant_lock_id(database, schema));
    (lock_id(database), tenant_key)
}

/// The exclusive key a run holds (the database's, or its tenant's), as the engine checks it
/// in every migration's transaction before it commits: a migration that
/// released it (`pg_advisory_unlock` of its key, `pg_advisory_unlock_all()`, `DISCARD ALL`,
/// also from a function it calls, where lint cannot see them) is rolled back before another
/// run can overlap it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldLock {
    key: i32,
    /// The process id of the server session holding it (0: unknown).
    pid: i32,
}

/// What the check of [`HeldLock::check_sql`] fails with, in the server's log and the source
/// of the engine's error.
const LOCK_RELEASED: &str = "confiture: this session no longer holds the migration lock";

/// The SQLSTATE of the check's failure (`invalid_text_representation`: the cast of
/// [`LOCK_RELEASED`] to an integer). A migration's own error of another code, once the lock is
/// found gone, is its own SQL's, and is reported too.
pub const CHECK_SQLSTATE: &str = "22P02";

impl HeldLock {
    /// An SQL expression (`text`) that fails its statement unless this session still holds
    /// the lock: it takes the key for the transaction (`pg_try_advisory_xact_lock`), gives back
    /// the run's session hold and takes it again. While the session holds the key, each step
    /// only counts in the session's own lock table, and the transaction's hold keeps the lock
    /// meanwhile: it is never let go, not even for an instant (a waiting session is never
    /// granted it), and the transaction's hold ends with the transaction. Released — the run
    /// holds its key once, so one `pg_advisory_unlock` of it, `pg_advisory_unlock_all()` or
    /// `DISCARD ALL` is enough —, the session hold is not there to give back (or another
    /// session took the key): the check fails. A few microseconds, with no look at the
    /// server's lock table (`pg_locks` copies it whole: a fifth of a millisecond or more per
    /// migration, under a database's own `statement_timeout`).
    ///
    /// The failure is a cast of our message to an integer: a statement can raise no error of
    /// its own choosing without PL/pgSQL. It is not decided by its text: after a failure the
    /// engine asks [`HeldLock::is_held`].
    pub fn check_sql(&self) -> String {
        let key = self.key;
        format!(
            "CASE WHEN CASE WHEN pg_catalog.pg_try_advisory_xact_lock({LOCK_NAMESPACE}, {key}) \
             THEN CASE WHEN pg_catalog.pg_advisory_unlock({LOCK_NAMESPACE}, {key}) \
             THEN pg_catalog.pg_try_advisory_lock({LOCK_NAMESPACE}, {key}) ELSE false END \
             ELSE false END \
             THEN '' ELSE pg_catalog.concat('{LOCK_RELEASED}')::pg_catalog.int4::pg_catalog.text END"
        )
    }

    /// The sessions blocked inside a statement waiting for this lock (`pg_advisory_lock`, as
    /// confiture in Python waits; ours polls outside any statement), in pid order. Such a
    /// waiter holds a snapshot that `CREATE INDEX CONCURRENTLY` in the holder waits for: the
    /// server breaks that deadlock by cancelling one of the two, often the index build.
    pub fn waiters(&self, client: &mut Client) -> Result<Vec<HoldingSession>> {
        let messages = client
            .simple_query(&crate::db::explaining(&waiting_sessions_sql(self.key)))
            .map_err(|e| {
                query_error("cannot find the sessions waiting for the migration lock", e)
            })?;
        Ok(sessions_of(&messages))
    }

    /// The run's own server session, seen from another session `client` on the same server,
    /// while it is still there: the session of the run's process id that started more than
    /// `run_began` ago (a later session of that process id is another one; durations on the
    /// server's clock, never two clocks compared). A session of another role whose start the
    /// server does not show counts as still there. `None` when it is gone; an error when the
    /// run's process id is unknown or the server cannot say.
    pub(crate) fn session_left(
        &self,
        client: &mut Client,
        run_began: Duration,
    ) -> Result<Option<HoldingSession>> {
        if self.pid == 0 {
            return Err(Error::new(
                ErrorKind::Connection,
                "the process id of the run's server session is unknown",
            ));
        }
        let sql = format!(
            "SELECT a.pid, a.application_name, a.usename, pg_catalog.host(a.client_addr), \
                    pg_catalog.to_char(a.backend_start AT TIME ZONE 'UTC', {RFC3339_UTC}), a.state, \
                    pg_catalog.to_char(a.state_change AT TIME ZONE 'UTC', {RFC3339_UTC}) \
             FROM pg_catalog.pg_stat_activity a \
             WHERE a.pid OPERATOR(pg_catalog.=) {} \
               AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid() \
               AND (a.backend_start IS NULL \
                    OR a.backend_start OPERATOR(pg_catalog.<) (pg_catalog.statement_timestamp() \
                    OPERATOR(pg_catalog.-) '{} milliseconds'::pg_catalog.interval))",
            self.pid,
            run_began.as_millis()
        );
        let messages = client
            .simple_query(&crate::db::own_statements(&sql))
            .map_err(|e| {
                query_error(
                    "cannot find whether the run's server session is still there",
                    e,
                )
            })?;
        Ok(sessions_of(&messages).into_iter().next())
    }

    /// Ends the run's own server session ([`HeldLock::session_left`]), which holds this lock:
    /// `pg_terminate_backend`, then waits, for at most `wait`, until it is gone (its
    /// transaction rolled back, the lock given back). `None` once it is gone; else the session
    /// still there.
    pub(crate) fn end_session(
        &self,
        client: &mut Client,
        run_began: Instant,
        wait: Duration,
    ) -> Result<Option<HoldingSession>> {
        let Some(left) = self.session_left(client, run_began.elapsed())? else {
            return Ok(None);
        };
        let sql = format!("SELECT pg_catalog.pg_terminate_backend({})", self.pid);
        if client
            .simple_query(&crate::db::own_statements(&sql))
            .is_err()
        {
            return Ok(Some(left));
        }
        let deadline = Instant::now() + wait;
        loop {
            let left = self.session_left(client, run_began.elapsed())?;
            if left.is_none() || Instant::now() >= deadline {
                return Ok(left);
            }
            std::thread::sleep(STOP_POLL);
        }
    }

    /// Whether this session holds the lock, from the server's lock table: what a failed
    /// migration is checked against ([`HeldLock::check_sql`] fails when it does not).
    pub fn is_held(&self, client: &mut Client) -> Result<bool> {
        let sql = format!(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_locks \
             WHERE locktype OPERATOR(pg_catalog.=) 'advisory' AND granted \
             AND mode OPERATOR(pg_catalog.=) 'ExclusiveLock' \
             AND pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() \
             AND classid OPERATOR(pg_catalog.=) {LOCK_NAMESPACE}::pg_catalog.oid \
             AND objid OPERATOR(pg_catalog.=) {}::pg_catalog.oid \
             AND objsubid OPERATOR(pg_catalog.=) 2)",
            self.key
        );
        let messages = client
            .simple_query(&crate::db::explaining(&sql))
            .map_err(|e| query_error("cannot check the migration lock", e))?;
        Ok(first_value(&messages) == Some("t"))
    }
}

impl MigrationLock {
    /// The server session holding it (`connect::SESSION_IDENTITY`): what a stop cancels through
    /// ([`crate::db::apply::Stop::on_session`]).
    pub(crate) fn backend(&self) -> &str {
        &self.backend
    }

    /// The exclusive key this run holds, for the engine's check in every migration's
    /// transaction.
    pub fn held(&self) -> HeldLock {
        HeldLock {
            key: self.tenant_key.unwrap_or(self.key),
            pid: self
                .backend
                .split(' ')
                .next()
                .and_then(|pid| pid.parse().ok())
                .unwrap_or(0),
        }
    }

    /// Releases the lock, on the server session that took it. An error means this session no
    /// longer held it (something in the session gave it back), so another run may have
    /// overlapped, or that the connection no longer reaches the server session holding it:
    /// a pooler in transaction pooling mode moved it to another one (what the pooler check
    /// refuses before the lock: this is its second line). The unlock is then sent again, for
    /// at most [`RELEASE_RETRY`], each time a transaction the pooler may hand to the holding
    /// server session; never released there, the error names that server session, a pooled
    /// server connection that keeps the lock until it closes.
    ///
    /// The unlock is a statement of our own: it waits for another session's lock (one on a
    /// system catalog the server reads to run it: `LOCK pg_catalog.pg_proc`, `VACUUM FULL
    /// pg_proc`) no longer than `wait`, the command's lock wait. Given up, the lock is still
    /// pg_proc`) no longer than the wait the lock was taken with (the command's lock wait, 1 ms
    /// at least). Given up, the lock is still this session's, until its connection ends: the
    /// error ([`ErrorKind::LockTimeout`]) says so, and [`kept_by_session`] tells it from the
    /// others.
    pub fn release(self, client: &mut Client) -> Result<()> {
        let wait = self.wait.max(Duration::from_millis(1));
        let sql = match self.tenant_key {
            None => format!("pg_catalog.pg_advisory_unlock({LOCK_NAMESPACE}, {})", self.key),
            // Both are given back whatever the first answers.
            Some(tenant) => format!(
                "(SELECT t AND s FROM (SELECT pg_catalog.pg_advisory_unlock({LOCK_NAMESPACE}, {tenant}) AS t, \
                 pg_catalog.pg_advisory_unlock_shared({LOCK_NAMESPACE}, {}) AS s OFFSET 0) AS u)",
                self.key
            ),
        };
        let sql = crate::db::own_statements(&format!(
            "SET LOCAL lock_timeout = '{}ms'; SELECT {sql}, {}",
            wait.as_millis().clamp(1, i32::MAX as u128),
            crate::db::connect::SESSION_IDENTITY
        ));
        let name = lock_name(&self.database, self.tenant.as_deref());
        let unlock = |client: &mut Client| -> Result<(bool, String)> {
            let messages = client.simple_query(&sql).map_err(|e| {
                if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
                    return kept(&name, wait, e);
                }
                query_error("cannot release the migration lock", e)
            })?;
            Ok((
                first_value(&messages) == Some("t"),
                value(&messages, 1).to_string(),
            ))
        };
        let (released, on) = unlock(client)?;
        if released {
            return Ok(());
        }
        let holder = self
            .backend
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        if on == self.backend {
            return Err(Error::new(
                ErrorKind::Diverged,
                format!("the {name} was lost during the run"),
            )
            .with_help(format!(
                "something in the session gave it back (an advisory unlock or a session \
                 reset, perhaps in a function a migration calls), so another run may have \
                 overlapped; check {}",
                crate::hint::command("migrate status")
            )));
        }
        let moved_to = on.split(' ').next().unwrap_or_default().to_string();
        let start = Instant::now();
        let mut tries = 1;
        while start.elapsed() < RELEASE_RETRY {
            let (released, _) = unlock(client)?;
            tries += 1;
            if released {
                return Err(Error::invalid(format!(
                    "this connection goes through a pooler in transaction pooling mode: the \
                     {name}, taken on server session {holder}, was released there only at \
                     attempt {tries}, after the connection had moved to server session \
                     {moved_to}"
                ))
                .with_detail(
                    "each migration committed only on the server session holding the lock, \
                     but such a pooler hands each transaction to any server session",
                )
                .with_help(format!(
                    "{NOT_TRANSACTION_POOLING}, and check {}",
                    crate::hint::command("migrate status")
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(Error::invalid(format!(
            "this connection goes through a pooler in transaction pooling mode: the {name} \
             stays held by server session {holder}, a pooled server connection, which this \
             connection no longer reaches (it moved to server session {moved_to})"
        ))
        .with_detail(format!(
            "the pooler may hand server session {holder} to other clients: the lock stays \
             there until that server connection closes, and every run waits for it"
        ))
        .with_help(format!(
            "close the pooler's server connections to database {} (PgBouncer: `RECONNECT` on \
             its admin console), or end that server connection when no client of the pooler \
             uses it (`{}`); then {NOT_TRANSACTION_POOLING}",
            crate::config::quoted(&self.database),
            super::pasted::terminate(&holder.parse::<i32>().into_iter().collect::<Vec<_>>())
                .unwrap_or_default()
        )))
    }
}

/// [`MigrationLock::release`]'s error when its unlock waited `wait` for another session's lock
/// (`e`, the server's lock timeout): the lock named `name` is still this session's.
fn kept(name: &str, wait: Duration, e: postgres::Error) -> Error {
    let cause = crate::db::cause_text(&e);
    Error::new(
        ErrorKind::LockTimeout,
        format!(
            "the {name} could not be given back within {}: another session holds a lock on a \
             system catalog the unlock reads",
            human(wait)
        ),
    )
    .with_source_shown(e, cause)
    .with_help(
        "the session keeps the lock until its connection closes, which gives it back: a \
         `LOCK` of a catalog, a `VACUUM FULL` or a `CLUSTER` of one, in another session, is \
         in the way of the unlock",
    )
}

/// Whether `error`, of [`MigrationLock::release`], says the lock is still this session's: its
/// unlock gave up waiting for another session's lock ([`kept`]). The lock then ends with the
/// connection, which the caller closes.
pub(crate) fn kept_by_session(error: &Error) -> bool {
    error.kind == ErrorKind::LockTimeout
        && error
            .driver_error()
            .and_then(postgres::Error::code)
            .is_some_and(|code| *code == SqlState::LOCK_NOT_AVAILABLE)
}

/// What to do about a pooler in transaction pooling mode, the help of every error that finds one.
pub(crate) const NOT_TRANSACTION_POOLING: &str = "connect to PostgreSQL directly, or through a \
     pool in session mode (PgBouncer: pool_mode = session)";

/// How long [`MigrationLock::release`] keeps sending the unlock when the connection no longer
/// reaches the server session holding the lock.
const RELEASE_RETRY: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock's name shows its database as every message shows a database's name
    /// (`config::quoted`: `"a"b"`, control characters escaped once), not as Rust's `{:?}`
    /// (`"a\"b"`) (h19 F17).
    #[test]
    fn a_locks_name_quotes_its_database_as_every_message_does() {
        for name in ["app", "a\"b", "x\u{1b}[2J"] {
            let shown = crate::config::quoted(name);
            assert_eq!(
                lock_name(name, None),
                format!("migration lock on database {shown}")
            );
            assert_eq!(
                lock_name(name, Some("t")),
                format!("migration lock of tenant schema t on database {shown}")
            );
        }
    }

    fn session(pid: i32) -> LockHolder {
        LockHolder::Session(HoldingSession {
            pid,
            application_name: None,
            user: None,
            client_addr: None,
            backend_start: None,
            state: None,
            state_change: None,
            tool: None,
        })
    }

    fn prepared(gid: &str) -> LockHolder {
        LockHolder::PreparedTransaction(PreparedTransaction {
            gid: gid.into(),
            owner: Some("deployer".into()),
            database: Some("app".into()),
            prepared: Some("2026-01-15T10:30:00Z".into()),
        })
    }

    #[test]
    fn one_holder_is_ended_by_its_pid_and_several_by_one_statement() {
        assert_eq!(
            terminate_hint(&[session(42)]),
            (
                "that session",
                "`SELECT pg_catalog.pg_terminate_backend(42)`".to_string()
            )
        );
        assert_eq!(
            terminate_hint(&[session(42), session(43)]),
            (
                "those sessions",
                "`SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.unnest(ARRAY[42, 43]) \
                 AS pid`"
                    .to_string()
            )
        );
        // A prepared transaction has no pid to end: never `pg_terminate_backend(0)`.
        assert_eq!(
            terminate_hint(&[prepared("g"), session(42)]).1,
            "`SELECT pg_catalog.pg_terminate_backend(42)`"
        );
    }

    /// h20 F10: a prepared transaction keeps its locks until it is committed or rolled back:
    /// its help ends it by its gid (quoted as SQL quotes it), on its database, never by a pid
    /// and never by waiting; sessions beside it are waited for as usual; none without one.
    #[test]
    fn a_prepared_transaction_is_ended_by_its_gid_and_never_waited_for() {
        let holder = prepared("deploy 'x'");
        assert_eq!(holder.pid(), None);
        assert_eq!(
            holder.to_string(),
            "prepared transaction 'deploy ''x''', owner deployer, database \"app\", prepared at \
             2026-01-15T10:30:00Z"
        );
        let help = prepared_help(std::slice::from_ref(&holder), "run it again")
            .expect("a prepared transaction has its own way out");
        assert!(
            help.contains("connected to database \"app\" as deployer (its owner) or a superuser")
                && help.contains("`ROLLBACK PREPARED 'deploy ''x'''`")
                && help.contains("`COMMIT PREPARED 'deploy ''x'''`")
                && help.ends_with("; then run it again")
                && !help.contains("pg_terminate_backend"),
            "{help}"
        );
        let both = prepared_help(&[holder, session(42)], "run it again").unwrap_or_default();
        assert!(both.contains("pg_terminate_backend(42)"), "{both}");
        assert_eq!(prepared_help(&[session(42)], "run it again"), None);
        assert_eq!(who_holds(&[session(42)]), "another session");
        assert_eq!(
            who_holds(&[session(42), prepared("g")]),
            "a prepared transaction"
        );
    }

    /// A prepared transaction among the holders ends every wait at once; sessions are waited
    /// for while time is left, in slices never beyond the wait (zero: one try of 1 ms).
    #[test]
    fn a_prepared_transaction_is_never_waited_for_and_a_session_until_the_wait_is_up() {
        assert!(worth_waiting_for(&[session(42)]));
        assert!(worth_waiting_for(&[]));
        assert!(!worth_waiting_for(&[session(42), prepared("g")]));
        let long = ServerWait::new(Duration::from_secs(60));
        assert!(long.again(&[session(42)]));
        assert!(!long.again(&[session(42), prepared("g")]));
        assert_eq!(long.how(&[prepared("g")]), "not waited for");
        assert_eq!(long.how(&[session(42)]), "waited 60s");
        let mut none = ServerWait::new(Duration::ZERO);
        assert_eq!(none.slice_ms(), 1);
        assert!(!none.again(&[session(42)]));
        let mut short = ServerWait::new(Duration::from_millis(20));
        assert!((1..=20).contains(&short.slice_ms()));
    }

    /// Every session is named by its pid in a lock error's help; none known, no help of ours.
    #[test]
    fn a_lock_help_ends_every_session_by_its_pid() {
        let help = holders_help(&[session(42), session(43)], "run it again").unwrap_or_default();
        assert!(
            help.starts_with("wait for those sessions to finish and run it again")
                && help.contains("unnest(ARRAY[42, 43])"),
            "{help}"
        );
        assert_eq!(holders_help(&[], "run it again"), None);
        let prepared_first = holders_help(&[prepared("g"), session(42)], "run it again");
        assert_eq!(
            prepared_first,
            prepared_help(&[prepared("g"), session(42)], "run it again")
        );
    }

    /// The JSON of a holder says which kind it is; a session's keeps its keys.
    #[test]
    fn a_holder_in_json_says_its_kind() {
        let json = |h: &LockHolder| serde_json::to_value(h).unwrap();
        let s = json(&session(42));
        assert_eq!(s["kind"], "session");
        assert_eq!(s["pid"], 42);
        for key in [
            "application_name",
            "user",
            "client_addr",
            "backend_start",
            "state",
            "state_change",
        ] {
            assert!(s.get(key).is_some(), "{key}: {s}");
        }
        let p = json(&prepared("g"));
        assert_eq!(p["kind"], "prepared_transaction");
        assert_eq!(p["gid"], "g");
        assert_eq!(p["owner"], "deployer");
        assert_eq!(p["database"], "app");
        assert_eq!(p["prepared"], "2026-01-15T10:30:00Z");
        assert!(p.get("pid").is_none(), "{p}");
    }

    #[test]
    fn a_tenant_key_is_its_own_and_never_a_databases() {
        // The NUL keeps `("a/b", "c")` and `("a", "b/c")` apart, and a tenant's key from the
        // key of a database whose name is the joined text.
        assert_ne!(tenant_lock_id("app", "tenant_1"), lock_id("app"));
        assert_ne!(tenant_lock_id("a", "bc"), tenant_lock_id("ab", "c"));
        assert_ne!(tenant_lock_id("app", "t"), lock_id("app/t"));
        assert_eq!(tenant_lock_id("app", "t"), lock_id("app\0t"));
        assert!(tenant_lock_id("postgres", "tenant_0001") >= 0);
    }

    #[test]
    fn lock_id_matches_confiture() {
        // python3 -c "import hashlib;print(int.from_bytes(hashlib.sha256(b'postgres').digest()[:4],'big')&0x7FFFFFFF)"
        assert_eq!(lock_id("postgres"), 692237180);
    }

    #[test]
    fn lock_id_is_never_negative() {
        for name in [
            "",
            "app",
            "ünïcode",
            "a-much-longer-database-name_with_parts",
        ] {
            assert!(lock_id(name) >= 0, "{name}");
        }
    }

    #[test]
    fn holder_is_described_with_what_is_known() {
        let h = HoldingSession {
            pid: 42,
            application_name: Some("psql".into()),
            user: Some("postgres".into()),
            client_addr: None,
            backend_start: Some("2026-01-15T10:30:00Z".into()),
            state: Some("idle".into()),
            state_change: Some("2026-01-15T10:31:00Z".into()),
            tool: None,
        };
        assert_eq!(
            h.to_string(),
            "pid 42, application_name \"psql\", user postgres, connected since 2026-01-15T10:30:00Z, idle since 2026-01-15T10:31:00Z"
        );
        assert_eq!(h.brief(), "pid 42 (psql)");
        let python = HoldingSession {
            application_name: Some(String::new()),
            tool: Some(HolderTool::ConfiturePython),
            ..h.clone()
        };
        assert_eq!(
            python.to_string(),
            "confiture (Python), pid 42, user postgres, connected since 2026-01-15T10:30:00Z, idle since 2026-01-15T10:31:00Z"
        );
        assert_eq!(python.brief(), "confiture (Python), pid 42");
        let unknown = HoldingSession {
            tool: None,
            ..python
        };
        assert_eq!(unknown.brief(), "pid 42 (no application_name)");
    }
}
