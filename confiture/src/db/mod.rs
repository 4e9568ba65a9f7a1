//! The only module that talks to PostgreSQL: connecting (with TLS), reading and writing the
//! ledger, the advisory lock, running migration SQL, reading schema snapshots, and running a
//! fleet's targets query read-only.
//!
//! Every public function here that talks to the server may be called on a thread of a tokio
//! runtime, where the `postgres` driver's blocking calls panic: it runs on a thread of its own
//! there (`migrator::blocking_here`). A `postgres::Client` it returns still blocks when used or
//! dropped: use and drop it inside `spawn_blocking`.

pub(crate) mod apply;
pub(crate) mod backoff;
pub mod connect;
pub(crate) mod identity;
pub(crate) mod ledger;
pub(crate) mod lock;
pub(crate) mod notices;
pub(crate) mod pasted;
pub(crate) mod prefetch;
pub(crate) mod query;
pub mod scratch;
pub(crate) mod settings;
pub mod snapshot;
mod tls;
pub mod writable;

#[cfg(test)]
mod engine_tests;

pub use connect::connect;
/// The migration lock's key, for a monitor or a test that holds or looks for it: the advisory
/// lock `(LOCK_NAMESPACE, lock_id(database))`, confiture's (Python) own key; a tenant schema's run
/// also takes `(LOCK_NAMESPACE, tenant_lock_id(database, schema))`.
pub use lock::{lock_id, tenant_lock_id, LOCK_NAMESPACE};

use crate::hint::AGAIN;
use crate::migrator::blocking_here;
use std::time::Duration;

use postgres::error::Severity;

use crate::error::Error;

/// Whether an error means the session is gone (socket closed, backend terminated, server
/// shutting down) rather than a statement failing inside a live session.
///
/// Only the server's FATAL/PANIC (it ends the session after sending them) or the socket
/// itself say so, never the SQLSTATE: a migration's own SQL can raise class 08 or 57P0x at
/// severity ERROR (dblink to a host that is down, `RAISE ... USING ERRCODE = '57P01'`), and
/// the session that ran it is still alive — a failed migration, not a lost connection.
pub(crate) fn is_connection_lost(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.as_db_error() {
        // The non-localised severity (`V`, PostgreSQL 9.6+): the `S` field is translated
        // under `lc_messages` ("ВАЖНО" for FATAL in Russian).
        Some(db) => match db.parsed_severity() {
            Some(severity) => matches!(severity, Severity::Fatal | Severity::Panic),
            None => matches!(db.severity(), "FATAL" | "PANIC"),
        },
        // Not a server error: an IO or protocol error on the socket.
        None => true,
    }
}

/// An error from one of our own queries (not migration SQL): the session is gone, or the
/// server refused a catalog query — either way, a connection-level problem (exit 3).
pub(crate) fn query_error(what: &str, e: postgres::Error) -> Error {
    let cause = cause_text(&e);
    let lost = is_connection_lost(&e);
    let limited = e.code() == Some(&postgres::error::SqlState::CONFIGURATION_LIMIT_EXCEEDED);
    let error = Error::connection(what.to_string()).with_source_shown(e, cause);
    if lost {
        error.with_help(lost_connection_help())
    } else if limited {
        error.with_help(limit_help())
    } else {
        error
    }
}

/// The `work_mem` of the tool's own reads, whatever the database's, role's or connection's:
/// the views of the server's state (`pg_settings`, `pg_locks`, `pg_stat_activity`,
/// `pg_prepared_xacts`) are functions that build every row in a tuple store, and the tool's
/// reads sort and hash catalog rows and ledger rows; past `work_mem` each spills to a
/// temporary file, which a small `temp_file_limit` (or `0`) refuses: "temporary file size
/// exceeds temp_file_limit" (SQLSTATE 53400) failed `up`, `status`, `down` and `verify`
/// under `work_mem = '64kB'`. PostgreSQL's default: never less than a server left as
/// installed gives them.
const OWN_READ_WORK_MEM: &str = "4MB";

/// [`OWN_READ_WORK_MEM`] set with `scope` (`SET LOCAL`: it ends with the message's
/// transaction, never reaching migration SQL; `SET`, for [`explaining_session`], until its
/// `RESET ALL`): the one owner of the tool's own reads' memory. Every read of the tool's own
/// gets it from [`own_read_bounds`] (so [`own_statements`]) or [`explaining`].
fn read_memory(scope: &str) -> String {
    format!("{scope} work_mem = '{OWN_READ_WORK_MEM}';")
}

/// What starts a message (or a transaction) of the tool's own reads: no `statement_timeout`
/// ([`OWN_STATEMENT_BOUNDS`]) and their own `work_mem` ([`OWN_READ_WORK_MEM`]), both `SET
/// LOCAL`. Two statements: a reader counting its replies counts them.
pub(crate) fn own_read_bounds() -> String {
    format!("{OWN_STATEMENT_BOUNDS} {}", read_memory("SET LOCAL"))
}

/// Runs `read`, reads of the tool's own sent as the driver's parameterised queries (which
/// cannot carry [`own_read_bounds`] in their own message), in a transaction under those bounds,
/// rolled back once read (a savepoint, inside a transaction of the caller's): the one way such
/// a read gets them. A read that only explains a failure takes [`explaining_read`].
pub(crate) fn own_read<C: postgres::GenericClient, T>(
    client: &mut C,
    read: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
) -> Result<T, postgres::Error> {
    bounded_read(client, &own_read_bounds(), read)
}

/// [`own_read`] for a read that only explains a failure (a help, a refusal's detail): under
/// [`explaining`]'s bounds, so another session's lock on a catalog holds it
/// [`EXPLANATION_WAIT`] at most.
pub(crate) fn explaining_read<C: postgres::GenericClient, T>(
    client: &mut C,
    read: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
) -> Result<T, postgres::Error> {
    bounded_read(client, &explanation_bounds("SET LOCAL"), read)
}

/// [`own_read`] with its own lock wait, `wait`, and a `statement_timeout` of a few times that
/// ([`explaining`]'s bounds with another wait): a read on a session opened for it alone.
pub(crate) fn read_waiting<C: postgres::GenericClient, T>(
    client: &mut C,
    wait: Duration,
    read: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
) -> Result<T, postgres::Error> {
    bounded_read(client, &read_bounds("SET LOCAL", wait), read)
}

/// `read` in a transaction (or savepoint) that starts with `bounds`, `SET LOCAL`s.
fn bounded_read<C: postgres::GenericClient, T>(
    client: &mut C,
    bounds: &str,
    read: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
) -> Result<T, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.batch_execute(bounds)?;
    read(&mut tx)
}

/// The help of an error from one of our own reads that exceeded a limit the database, the
/// role or the session sets (SQLSTATE 53400, `configuration_limit_exceeded`): the tool's own
/// reads keep up to [`OWN_READ_WORK_MEM`] in memory, whatever the session's `work_mem`, so a
/// limit that stops them is set very low (`temp_file_limit = 0`) for what they read (a large
/// ledger or schema). Every refusal of such a read names it here: the session's ([`query_error`])
/// and the ledger's (`ledger::read_error`).
pub(crate) fn limit_help() -> String {
    format!(
        "a limit set for the database, the role or the connection refused the temporary file \
         of one of the tool's own reads (`temp_file_limit`, the size of temporary files; it \
         sorts up to {OWN_READ_WORK_MEM} in memory; see `SHOW temp_file_limit`): raise it \
         (`ALTER DATABASE name RESET temp_file_limit`, or `ALTER ROLE name RESET \
         temp_file_limit`, as a superuser), then run {}",
        crate::hint::AGAIN
    )
}

/// The help of an error from one of our own queries on a session that is gone: what happened
/// and what to do, for the CLI and a `Migrator` kept by a service alike (its next command
/// connects again).
pub(crate) fn lost_connection_help() -> String {
    format!(
        "the session ended under this command (a server restart or crash, a terminated \
         backend, a network failure), so nothing more was done on it; run {}: it opens a new \
         connection (a `Migrator` kept across commands reconnects by itself); if it fails the \
         same way, check that the server is up and reachable",
        crate::hint::AGAIN
    )
}

/// What starts every message of the tool's own bookkeeping — the session's state, the
/// migration lock, the ledger's reads and writes —, so that a `statement_timeout` of the
/// database, the role or the connection (the user's bound for migration SQL, which keeps it:
/// README "Session state") never cancels them: a read that waits for a lock on the ledger is
/// bounded by its own `lock_timeout` and ends as that lock timeout, naming the holder. `SET
/// LOCAL`: it ends with the message's transaction (implicit, or the explicit one it opens
/// first), so the next migration runs under the user's setting again. Only the statement
/// itself runs under the user's setting: a tiny one (1 ms) is still longer than a `SET`.
pub(crate) const OWN_STATEMENT_BOUNDS: &str = "SET LOCAL statement_timeout = 0;";

/// The settings a message of the tool's own reads sets before it reads anything
/// ([`OWN_STATEMENT_BOUNDS`], [`read_memory`], a writing session's first message's
/// `lock_timeout`): in that message the session's own value of each is hidden (`pg_settings`
/// says `session`), and the check of its startup options reads what `RESET` gives it instead
/// (`connect::unmatched_options`).
pub(crate) const SET_BY_OWN_READS: [&str; 3] = ["statement_timeout", "work_mem", "lock_timeout"];

/// `sql`, a message of the tool's own statements outside any transaction block, preceded by
/// [`own_read_bounds`] (no `statement_timeout`, the reads' own `work_mem`): one implicit
/// transaction.
pub(crate) fn own_statements(sql: &str) -> String {
    format!("{} {sql}", own_read_bounds())
}

/// How long a read that only explains a failure (who holds which lock, which objects a failed
/// statement left, the ledger's triggers, how long the committed migrations took) waits for a
/// lock, and how long it may run at all: such reads run after the failure is known, and a
/// lock on a catalog (`VACUUM FULL pg_class`, `LOCK pg_catalog.pg_class`, `CLUSTER`) or on
/// the ledger held by another session must not hold its report. Over it, the read fails and
/// the failure is reported without that part ([`EXPLANATION_LEFT_OUT`]).
pub(crate) const EXPLANATION_WAIT: Duration = Duration::from_millis(500);

/// `sql`, a read of the tool's own that only explains a failure, outside any transaction
/// block, preceded by its bounds ([`explanation_bounds`], `SET LOCAL`). It gives up within
/// about a second when another session's lock is in its way, instead of holding the failure's
/// report.
pub(crate) fn explaining(sql: &str) -> String {
    format!("{} {sql}", explanation_bounds("SET LOCAL"))
}

/// The bounds of [`explaining`] for the session (`SET`), for reads that cannot carry them in
/// their own message (the driver's parameterised queries): in force until the session's next
/// `RESET ALL`, which the caller sends once those reads are done.
pub(crate) fn explaining_session() -> String {
    explanation_bounds("SET")
}

/// The bounds of a read that only explains a failure, set with `scope` (`SET LOCAL`, `SET`):
/// [`EXPLANATION_WAIT`] as its `lock_timeout`, and our own `statement_timeout` of a few times
/// that (in place of [`OWN_STATEMENT_BOUNDS`]' none), and the reads' own `work_mem`
/// ([`read_memory`]).
fn explanation_bounds(scope: &str) -> String {
    read_bounds(scope, EXPLANATION_WAIT)
}

/// `wait` as the `lock_timeout` of a read of ours, a `statement_timeout` of four times that,
/// and the reads' own `work_mem` ([`read_memory`]), set with `scope`.
fn read_bounds(scope: &str, wait: Duration) -> String {
    let wait = wait.as_millis().max(1);
    format!(
        "{scope} statement_timeout = '{}ms'; {scope} lock_timeout = '{wait}ms'; {}",
        4 * wait,
        read_memory(scope)
    )
}

/// Whether `e`, the error of a read sent with [`explaining`], is that read giving up at its
/// bound (a lock in its way, or too long): the part of the explanation it would have given is
/// left out, and said to be ([`explanation_left_out`]).
pub(crate) fn gave_up_explaining(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code()
        .is_some_and(|c| *c == SqlState::LOCK_NOT_AVAILABLE || *c == SqlState::QUERY_CANCELED)
}

/// The detail of a failure whose explanation was cut short ([`gave_up_explaining`]).
pub(crate) fn explanation_left_out() -> String {
    format!(
        "part of the explanation of this failure was left out: the reads giving it waited \
         more than {} for a lock another session holds on a catalog or on the tracking table \
         (a `VACUUM FULL`, `CLUSTER` or `LOCK TABLE`)",
        backoff::human(EXPLANATION_WAIT)
    )
}

/// The timeouts that end a session left idle: `idle_session_timeout` (PostgreSQL 14+) and
/// `idle_in_transaction_session_timeout`.
const IDLE_TIMEOUTS: [&str; 2] = [
    "idle_session_timeout",
    "idle_in_transaction_session_timeout",
];

/// Turns off, for the session, the timeouts that end a session left idle ([`IDLE_TIMEOUTS`],
/// those the server knows), while the
/// tool waits between two messages of its own on the connection that runs the migrations: its
/// polling of the migration lock ([`lock`]), its wait before running again a migration that
/// hit its `lock_timeout` ([`idle_wait`]). The database's, role's or connection's setting
/// bounds the migrations' sessions, not the tool's own waits (README "Session state"): one of
/// a second or less ended such a run as a lost connection. The returned [`IdleRestore`] gives
/// them back, at the start of the message that ends the wait (never in a round trip of its
/// own before it, which left the session idle under them while the client stalled); a session
/// that is not kept ([`scratch`]'s own) turns them off for good with `scratch::own_session`.
///
/// Set by `SET`, after [`OWN_STATEMENT_BOUNDS`]: nothing is read (no `pg_settings`, no
/// function), so another session's lock on a catalog (`LOCK pg_catalog.pg_settings`) cannot
/// hold the wait up before it starts, nor a small `temp_file_limit` refuse it. All in one
/// message; a server that does not know one of them (`idle_session_timeout` before
/// PostgreSQL 14) refuses it (SQLSTATE 42704, which undoes the message's others), and each is
/// then set alone, those it refuses left out. An error is the session's (lost, most likely),
/// or the server's refusal of a `SET`.
pub(crate) fn idle_timeouts_off(
    client: &mut postgres::Client,
) -> Result<IdleRestore, postgres::Error> {
    timeouts_off(client, &IDLE_TIMEOUTS)
}

/// [`idle_timeouts_off`] of the timeouts `names`: those the server knows are set to `0`, and
/// given back by the [`IdleRestore`] returned.
fn timeouts_off(
    client: &mut postgres::Client,
    names: &[&'static str],
) -> Result<IdleRestore, postgres::Error> {
    let off = |names: &[&str]| {
        names
            .iter()
            .fold(OWN_STATEMENT_BOUNDS.to_string(), |sql, name| {
                format!("{sql} SET {name} = 0;")
            })
    };
    let unknown =
        |e: &postgres::Error| e.code() == Some(&postgres::error::SqlState::UNDEFINED_OBJECT);
    match client.batch_execute(&off(names)) {
        Ok(()) => return Ok(IdleRestore(names.to_vec())),
        Err(e) if unknown(&e) => {}
        Err(e) => return Err(e),
    }
    let mut known = Vec::new();
    for &name in names {
        match client.batch_execute(&off(&[name])) {
            Ok(()) => known.push(name),
            Err(e) if unknown(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(IdleRestore(known))
}

/// The session's idle timeouts, turned off for a wait of the tool's own
/// ([`idle_timeouts_off`]), not given back yet: the one owner of when and how they come back.
/// They come back with the next message the session sends after the wait
/// ([`IdleRestore::starting`], [`IdleRestore::sql`]), never in a round trip of their own
/// before it — the client may stall between two round trips (a loaded machine), and the
/// session, idle under the database's `idle_session_timeout` meanwhile, was ended by the
/// server. When no such message follows (the run stopped, or failed, before it), the holder
/// gives them back in a round trip of its own once the run is over ([`IdleRestore::now`]); a
/// session lost or ended has nothing to give back.
///
/// They come back by `RESET` (the connection's, role's, database's or server's value), each
/// of the settings the server knew when they were turned off — remembered here, so that the
/// restore looks nothing up: no `pg_settings`, no function, nothing another session's lock on
/// a catalog (`LOCK pg_catalog.pg_settings`, `LOCK pg_catalog.pg_proc`) can hold up once the
/// lock is taken. The restore runs inside that message's first transaction (statements
/// before a `BEGIN` join it): when that transaction rolls back, so does the restore, and the
/// holder keeps it pending (it goes with every message until one commits, and is given back
/// at the run's end).
#[must_use = "the idle timeouts stay off until the restore is sent"]
#[derive(Debug)]
pub(crate) struct IdleRestore(Vec<&'static str>);

impl IdleRestore {
    /// The SQL that gives the timeouts back, to begin a message with (its own statements,
    /// ending with `;`): [`OWN_STATEMENT_BOUNDS`], then a `RESET` of each.
    pub(crate) fn sql(&self) -> String {
        self.0
            .iter()
            .fold(OWN_STATEMENT_BOUNDS.to_string(), |sql, name| {
                format!("{sql} RESET {name};")
            })
    }

    /// `sql`, a message of the tool's own, beginning with [`IdleRestore::sql`] when a restore
    /// is pending (`restore`), else as it is.
    pub(crate) fn starting(restore: Option<&IdleRestore>, sql: &str) -> String {
        match restore {
            Some(restore) => format!("{} {sql}", restore.sql()),
            None => sql.to_string(),
        }
    }

    /// Gives the timeouts back in a round trip of their own: for a session whose run sends no
    /// next message (stopped, or failed, after the wait), and after the wait for the migration
    /// lock. An error is the session's (lost, or ended): nothing is left to give back.
    pub(crate) fn now(self, client: &mut postgres::Client) -> Result<(), postgres::Error> {
        client.simple_query(&self.sql()).map(drop)
    }
}

/// Sleeps `delay` on behalf of the session `client`, outside any statement, with its idle
/// timeouts off for the wait ([`idle_timeouts_off`]): the server does not end the session
/// under the tool's own wait. They are not given back here: the caller holds the returned
/// [`IdleRestore`] and sends it with its next message. An error is the session's (lost, most
/// likely).
/// The wait ends early once `stopped` says so (Ctrl-C, `Migrator::stop_when`): the caller's
/// next attempt then sends nothing and reports the run stopped, instead of after the rest of a
/// backoff of up to several seconds.
pub(crate) fn idle_wait(
    client: &mut postgres::Client,
    delay: std::time::Duration,
    stopped: &dyn Fn() -> bool,
) -> Result<IdleRestore, postgres::Error> {
    /// How often the wait looks at `stopped`.
    const POLL: std::time::Duration = std::time::Duration::from_millis(20);
    let restore = idle_timeouts_off(client)?;
    let until = std::time::Instant::now() + delay;
    while !stopped() {
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(POLL));
    }
    Ok(restore)
}

/// A driver error as the one line shown as an [`Error`]'s cause: the server's message with its
/// SQLSTATE, or what became of the connection. Every error made from a driver error words it
/// here, and keeps the driver error itself as its `source()`.
pub(crate) fn cause_text(e: &postgres::Error) -> String {
    if let Some(ended) = crate::error::ServerError::of(e) {
        return ended.to_string();
    }
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        // The socket closed without a word we could read (its `FATAL` heard under the driver
        // is taken above, `notices::heard_end_of`; a Unix socket's is never heard): the server
        // restarted or crashed, another session ended ours, or the network dropped the
        // connection.
        None if e.is_closed() => "the server closed the connection without saying why".to_string(),
        None => e.to_string(),
    }
}

/// The one value `sql` (a simple query) returns, read as a number of milliseconds; `None`
/// when it cannot be read.
pub(crate) fn read_millis(client: &mut postgres::Client, sql: &str) -> Option<Duration> {
    let messages = client.simple_query(sql).ok()?;
    messages.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(row) => row
            .get(0)
            .and_then(|ms| ms.parse::<u64>().ok())
            .map(Duration::from_millis),
        _ => None,
    })
}

/// The databases `--create-database` connects to in order to create another, in order: the
/// second only when the first does not exist (as `createdb` does).
pub(crate) const MAINTENANCE_DATABASES: [&str; 2] = ["postgres", "template1"];

/// Creates the environment's database, connecting to a maintenance database
/// (`postgres`, then `template1`) with the same credentials. Call it only once
/// [`connect_if_exists`](connect::connect_if_exists) said the database does not exist: an
/// existing database never needs the maintenance database. Returns whether this call created
/// it: `false` when a concurrent runner did first (its `duplicate_database` is not an error).
pub fn create_database(env: &crate::config::Environment) -> crate::Result<bool> {
    blocking_here(|| create_database_here(env, |_| Ok(())))
}

/// [`create_database`], `first` called on the maintenance session before the `CREATE
/// DATABASE`: a fleet target's claim of the database it creates
/// ([`crate::fleet::Claim::take_missing`]), whose refusal creates nothing.
pub(crate) fn create_database_claimed(
    env: &crate::config::Environment,
    first: impl FnOnce(&mut postgres::Client) -> crate::Result<()> + Send,
) -> crate::Result<bool> {
    blocking_here(|| create_database_here(env, first))
}

/// [`create_database_claimed`], on this thread.
fn create_database_here(
    env: &crate::config::Environment,
    first: impl FnOnce(&mut postgres::Client) -> crate::Result<()>,
) -> crate::Result<bool> {
    let name = &env.connection.dbname;
    let mut client = maintenance_session(env)?;
    first(&mut client)?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match client.batch_execute(&format!("CREATE DATABASE {quoted}")) {
        Ok(()) => Ok(true),
        // 42P04: created by a concurrent runner; 23505: the same race seen on the catalog index.
        Err(e) if matches!(e.code().map(|c| c.code()), Some("42P04" | "23505")) => Ok(false),
        Err(e) => {
            let help = create_database_help(e.code());
            let detail = e
                .as_db_error()
                .and_then(|db| db.detail())
                .map(str::to_string);
            let error = crate::db::query_error(
                &format!(
                    "cannot create database {} on {}",
                    crate::config::quoted(&env.connection.shown_dbname()),
                    env.connection
                ),
                e,
            );
            let error = match detail {
                Some(detail) => error.with_detail(format!("detail: {detail}")),
                None => error,
            };
            Err(error.with_help(help))
        }
    }
}

/// The session `--create-database` creates `env`'s database from: on a maintenance database
/// (`postgres`, then `template1`) of its server, with the same credentials; with several hosts,
/// the first one that can write. A dry run opens it too: to identify the server of the missing
/// database ([`identity::of_missing`]) as the run does once it created it, and to fail where
/// the run would.
pub(crate) fn maintenance_session(
    env: &crate::config::Environment,
) -> crate::Result<postgres::Client> {
    let mut missing = Vec::new();
    for maintenance_db in MAINTENANCE_DATABASES {
        let mut maintenance = env.clone();
        maintenance.connection.dbname = maintenance_db.to_string();
        // Creating writes: the first host that can (a standby alone is named as one).
        match connect::open_session_if_exists(&maintenance, connect::Need::CreateDatabase) {
            Ok(Some(found)) => return Ok(found.client),
            Ok(None) => missing.push(maintenance_db),
            Err(e) => return Err(maintenance_refused(env, maintenance_db, &missing, e)),
        }
    }
    Err(Error::connection(format!(
        "cannot create database {}: the server of {} has neither a `postgres` nor a \
         `template1` database to connect to first",
        crate::config::quoted(&env.connection.shown_dbname()),
        env.connection
    ))
    .with_help(maintenance_help(env)))
}

/// The error of a maintenance database (`maintenance_db`, after the `missing` ones) that
/// refused the session: a refusal of that database itself (55000: it does not accept
/// connections; 42501: no `CONNECT` privilege) is about the maintenance database, never the
/// target's (its help would say to name another database in the selection, which changes
/// what is created); any other failure (the server, the credentials) keeps its own help.
fn maintenance_refused(
    env: &crate::config::Environment,
    maintenance_db: &str,
    missing: &[&str],
    error: Error,
) -> Error {
    use postgres::error::SqlState;
    let mut error = match missing {
        [] => error,
        missing => error.with_detail(format!(
            "creating database {} connects to a maintenance database first: {} does not \
             exist, so {maintenance_db} was tried",
            crate::config::quoted(&env.connection.shown_dbname()),
            missing.join(", ")
        )),
    };
    let code = error.driver_error().and_then(|e| e.code());
    if code.is_some_and(|c| {
        *c == SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE || *c == SqlState::INSUFFICIENT_PRIVILEGE
    }) {
        error = error.with_help(maintenance_help(env));
    }
    error
}

/// What to do when no maintenance database can be used: `--create-database` (as `createdb`)
/// connects to `postgres`, else `template1`, and neither can be chosen.
fn maintenance_help(env: &crate::config::Environment) -> String {
    let name = crate::ledger::quote_ident(&env.connection.dbname);
    format!(
        "creating a database needs a session on a maintenance database of the server first \
         (`postgres`, else `template1`): a superuser can create `postgres` (`CREATE DATABASE \
         postgres`) or open `template1` (`ALTER DATABASE template1 ALLOW_CONNECTIONS true`); \
         or create {name} by hand from a database you can connect to (`CREATE DATABASE \
         {name}`, or `{} --maintenance-db=DBNAME`), then run {AGAIN}",
        connect::createdb(&env.connection)
    )
}

/// Whether the role of `client`'s session may create a database (`CREATEDB`, or a
/// superuser), as the server decides when `CREATE DATABASE` runs: a dry run of
/// `--create-database`, which holds the maintenance session, refuses as the run would
/// (exit 3, the run's help for SQLSTATE 42501).
pub(crate) fn check_may_create_database(
    client: &mut postgres::Client,
    env: &crate::config::Environment,
) -> crate::Result<()> {
    let what = format!(
        "cannot create database {} on {}",
        crate::config::quoted(&env.connection.shown_dbname()),
        env.connection
    );
    let row = own_read(client, |tx| {
        tx.query_one(
            "SELECT rolsuper OR rolcreatedb FROM pg_catalog.pg_roles \
             WHERE rolname OPERATOR(pg_catalog.=) current_user",
            &[],
        )
    })
    .map_err(|e| query_error(&what, e))?;
    if row.get::<_, bool>(0) {
        return Ok(());
    }
    Err(Error::connection(format!(
        "{what}: the role {} may not create databases (neither CREATEDB nor a superuser)",
        crate::ledger::quote_ident(&env.connection.shown_user())
    ))
    .with_help(create_database_help(Some(
        &postgres::error::SqlState::INSUFFICIENT_PRIVILEGE,
    ))))
}

/// Where the tracking `table` would be in `env`'s database once `--create-database` created
/// it, which does not exist yet, and the schemas its `search_path` would name
/// ([`ledger::SessionNames`]): asked of the maintenance session
/// the creation uses, with `env`'s connection settings, under the `search_path` the new
/// database's sessions will have ([`settings::search_path_in_new_database`]: the role's and
/// the server's settings and the connection's options, never the maintenance database's own,
/// which a new database does not have), as they will resolve it.
pub(crate) fn resolve_in_new_database(
    env: &crate::config::Environment,
    table: &crate::ledger::TrackingTable,
) -> crate::Result<ledger::SessionNames> {
    let mut client = maintenance_session(env)?;
    let failed = |e| {
        query_error(
            &format!(
                "cannot tell where the tracking table of the database {} to create would be",
                env.connection
            ),
            e,
        )
    };
    // One transaction of reads, under the tool's own reads' bounds (`pg_settings` spills past
    // a tiny `work_mem`), rolled back when it ends: the `search_path` set for the look-up too.
    let mut tx = client.transaction().map_err(failed)?;
    tx.batch_execute(&own_read_bounds()).map_err(failed)?;
    let new_path = settings::search_path_in_new_database(&mut tx).map_err(failed)?;
    if let Some((path, _)) = &new_path {
        tx.execute(
            "SELECT pg_catalog.set_config('search_path', $1, true)",
            &[path],
        )
        .map_err(failed)?;
    }
    let mut names = ledger::resolve_session(&mut tx, table).map_err(failed)?;
    drop(tx);
    if let Some((_, source)) = new_path {
        source.clone_into(&mut names.origin.source);
    }
    // The path's `ALTER DATABASE` is the new database's, not the maintenance one's.
    names.origin.database.clone_from(&env.connection.dbname);
    // The maintenance database's tenants are none of the new database's.
    names.tenant_ledgers.clear();
    Ok(names)
}

/// The template `CREATE DATABASE` copies when it names none.
const TEMPLATE_DATABASE: &str = "template1";

/// The help of a refused `CREATE DATABASE`, by its SQLSTATE: the privilege only when the
/// server says it is missing.
fn create_database_help(code: Option<&postgres::error::SqlState>) -> String {
    use postgres::error::SqlState;
    match code {
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => {
            "create it by hand, or grant this role CREATEDB".to_string()
        }
        // 55006: the template is copied only while no other session is connected to it.
        Some(c) if *c == SqlState::OBJECT_IN_USE => {
            let template = crate::ledger::literal(TEMPLATE_DATABASE);
            format!(
                "other sessions are connected to the template database {TEMPLATE_DATABASE}, \
                 which CREATE DATABASE copies: find them with `{}`, let them finish (or \
                 end them), and run {AGAIN}",
                pasted::sessions_on(&template)
            )
        }
        _ => format!("create it by hand, then run {AGAIN}"),
    }
}
