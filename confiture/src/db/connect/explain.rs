//! One message per way a connection fails (exit 3): the server's refusals by SQLSTATE, TLS,
//! authentication and the network, each naming the target without its password and what to
//! fix where; control characters escaped.

use std::error::Error as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use postgres::error::{DbError, SqlState};

use super::probe::{self, SslAnswer};
use super::Failure;
use crate::config::{quoted, shown, ConnectionSpec, Environment, SslMode};
#[cfg(feature = "env-files")]
use crate::config::{ConnectionPart, Listed, PasswordSource};
use crate::db::tls::UnverifiableServerCertificate;
use crate::error::{Error, Reason};
use crate::ledger::quote_ident;

/// The driver's error text with its causes, password removed.
fn driver_text(spec: &ConnectionSpec, error: &postgres::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    spec.scrub(&text)
}

/// The IO error in `error`'s chain, if any (what the network said).
pub(super) fn io_error_of(error: &postgres::Error) -> Option<&std::io::Error> {
    find_in_chain::<std::io::Error>(error)
}

/// The first error of type `T` in the chain, looking inside `io::Error`s too (their
/// `source()` skips the error they wrap).
fn find_in_chain<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(found) = find_in_chain::<T>(inner) {
                return Some(found);
            }
        }
        current = e.source();
    }
    None
}

/// The error for a failed connection, with control characters escaped everywhere: the names
/// in it (and the server's message quoting them) may hold any character but NUL.
pub(super) fn explain(env: &Environment, failure: Failure) -> Error {
    if let Failure::RetriedWithoutTls { first, retry } = failure {
        // `prefer`'s TLS try decides what is said; the plain retry's reason follows.
        let mut plain = env.clone();
        plain.connection.sslmode = SslMode::Disable;
        let retried = explain(&plain, *retry).message_with_cause();
        return explain(env, Failure::Driver(first.0, first.1)).with_detail(format!(
            "retried without TLS, as libpq does with sslmode=prefer: {retried}"
        ));
    }
    let mut error = describe_failure(env, &failure);
    #[cfg(feature = "env-files")]
    if let Some(unbraced) = Unbraced::of(env) {
        if unbraced.failed(&failure) {
            // Not "create it", "check the user", "check the host name": a database (role,
            // host) named `$DB` is not the one meant.
            error.help = Some(unbraced.line(env));
        } else {
            error = error.with_detail(unbraced.line(env));
        }
    }
    if *error.reason() == Reason::Other {
        error = error.with_reason(Reason::Database {
            database: env.connection.to_string(),
        });
    }
    match failure {
        // Shown as the scrubbed text already in `cause`; kept whole for callers.
        Failure::Driver(driver, _) | Failure::Unresolved(driver) => error.set_source(driver),
        // The refusal the server would have given, its SQLSTATE kept as the driver's is.
        Failure::Absent(_) => error.set_source(absent_refusal(&env.connection)),
        _ => {}
    }
    let escape = |text: &mut String| {
        if let std::borrow::Cow::Owned(escaped) = shown(text) {
            *text = escaped;
        }
    };
    escape(&mut error.message);
    error.help.iter_mut().for_each(escape);
    error.cause_mut().into_iter().for_each(escape);
    error.details.iter_mut().for_each(escape);
    error
}

/// A connection value from an environment file that holds a `$NAME` written without braces
/// (`database: $DB`): kept as written, it is what the connection used (a database named
/// `$DB`), where `${DB}` was meant. The password is not looked at: a `$` is common in one, and
/// it is never shown. What a fleet target's list gave (`--targets FILE`, `--targets-query`:
/// a database's name, or a URL's user and hosts too) is looked at too: a list expands
/// nothing, so what to write is the database's (user's, host's) own name, in the list
/// ([`Environment::listed`]); a listed name's user and hosts are the environment file's.
#[cfg(feature = "env-files")]
struct Unbraced<'a> {
    what: &'static str,
    value: &'a str,
    name: &'a str,
    place: Place<'a>,
}

/// Where a value holding a `$NAME` came from, and so where to fix it.
#[cfg(feature = "env-files")]
#[derive(Clone, Copy)]
enum Place<'a> {
    /// The target list that named the target ([`Environment::source`]).
    List,
    /// The environment file of the connection ([`Environment::source`]).
    File,
    /// The environment file that gave a listed database's server (its source).
    ServerFile(&'a str),
}

#[cfg(feature = "env-files")]
impl<'a> Unbraced<'a> {
    const DATABASE_NAME: &'static str = "database name";

    fn of(env: &'a Environment) -> Option<Unbraced<'a>> {
        let spec = &env.connection;
        // Where the database name came from, and where the user and hosts did.
        let (database, server) = match &env.listed {
            Listed::Nothing => {
                env.file.as_ref()?;
                (Place::File, Some(Place::File))
            }
            Listed::DatabaseName { server_file, .. } => {
                (Place::List, server_file.as_deref().map(Place::ServerFile))
            }
            Listed::Connection => (Place::List, Some(Place::List)),
        };
        let hosts = std::iter::once(&spec.host).chain(spec.more_hosts.iter().map(|(host, _)| host));
        let server_values = [("user", &spec.user)]
            .into_iter()
            .chain(hosts.map(|host| ("host", host)))
            .filter_map(|(what, value)| Some((what, value, server?)));
        std::iter::once((Self::DATABASE_NAME, &spec.dbname, database))
            .chain(server_values)
            .find_map(|(what, value, place)| {
                let name = crate::config::unbraced_variable(value)?;
                Some(Unbraced {
                    what,
                    value,
                    name,
                    place,
                })
            })
    }

    fn is_database_name(&self) -> bool {
        self.what == Self::DATABASE_NAME
    }

    /// Whether `failure` is the one this value makes: the server has no database of that
    /// name (3D000), refuses that user (class 28: no such role, a password that fails), or no
    /// server answered at that host (no SQLSTATE: a name with a `$` is no host name).
    fn failed(&self, failure: &Failure) -> bool {
        if let Failure::Absent(_) = failure {
            return self.what == Self::DATABASE_NAME;
        }
        let (Failure::Driver(driver, _) | Failure::Unresolved(driver)) = failure else {
            return false;
        };
        let code = driver.code();
        match self.what {
            Self::DATABASE_NAME => code == Some(&SqlState::INVALID_CATALOG_NAME),
            "user" => code.is_some_and(|code| code.code().starts_with("28")),
            _ => code.is_none(),
        }
    }

    fn line(&self, env: &Environment) -> String {
        let Unbraced {
            what,
            value,
            name,
            place,
        } = self;
        let file = match place {
            Place::List => {
                let owner = if self.is_database_name() {
                    "database"
                } else {
                    what
                };
                return format!(
                    "the {what} {} holds `${name}`, which a target list does not expand (it \
                     names each database as written): write the {owner}'s own name in {}",
                    quoted(value),
                    env.database_name_source()
                );
            }
            Place::File => env.source(),
            Place::ServerFile(source) => source.to_string(),
        };
        format!(
            "the {what} {} holds `${name}`, which is not expanded: write `${{{name}}}` in {file} \
             to use the environment variable {name}",
            quoted(value),
        )
    }
}

/// `--create-database` (and its dry run) refuses to create `env`'s database when its name,
/// from an environment file, holds a `$NAME` written without braces ([`Unbraced`]): it would
/// create a database literally named `$DB` and run every migration there, where `${DB}` was
/// meant. Exit 5, nothing created.
pub(crate) fn refuse_unexpanded_database_name(env: &Environment) -> Result<(), Error> {
    #[cfg(feature = "env-files")]
    if let Some(unbraced) = Unbraced::of(env).filter(Unbraced::is_database_name) {
        return Err(Error::invalid(format!(
            "not creating database {} on {}: its name holds `${}`, which is not expanded",
            quoted(&env.connection.shown_dbname()),
            env.connection,
            unbraced.name
        ))
        .with_help(unbraced.line(env)));
    }
    #[cfg(not(feature = "env-files"))]
    let _ = env;
    Ok(())
}

fn describe_failure(env: &Environment, failure: &Failure) -> Error {
    let spec = &env.connection;
    let (error, dialled) = match failure {
        Failure::Setup(error) => return error.clone(),
        Failure::Lost => {
            return Error::connection(format!(
                "cannot connect to {spec}: the connection attempt failed"
            ))
        }
        Failure::TimedOut(timeout) => return timed_out(env, *timeout),
        Failure::Absent(connectable) => {
            let close = close_in(env, connectable.iter().map(String::as_str));
            let cause = spec.scrub(&absent_refusal(spec).to_string());
            return refused_missing(env, close).with_cause(&cause);
        }
        Failure::Driver(error, dialled)
        | Failure::RetriedWithoutTls {
            first: (error, dialled),
            ..
        } => (error, *dialled),
        Failure::Unresolved(error) => (error, None),
    };
    let unresolved = matches!(failure, Failure::Unresolved(_));
    // A server's refusal is said once, as `db::cause_text` words it (its message and
    // SQLSTATE); anything else with the driver's chain of causes.
    let cause = match error.as_db_error() {
        Some(_) => spec.scrub(&crate::db::cause_text(error)),
        None => driver_text(spec, error),
    };
    if spec.password.is_none() && cause.contains("password missing") {
        // The driver's words (tokio-postgres has no public error kind) for a server that asked
        // for a password when none was given: said as a whole, without "invalid configuration".
        return password_missing(env);
    }
    // Asked only here, on paths where the driver's error cannot tell another service from
    // PostgreSQL, of the address that gave the error.
    let peer = Peer { env, dialled };
    let explained = match error.as_db_error() {
        Some(db) => server_refusal(env, db),
        None => handshake_failure(env, error, &cause, &peer)
            .or_else(|| {
                find_in_chain::<std::io::Error>(error)
                    .and_then(|io| network_failure(env, io, unresolved))
            })
            .unwrap_or_else(|| match peer.ssl_answer() {
                Some(SslAnswer::NotPostgres(byte)) => not_postgres(env, &peer, byte),
                _ => Error::connection(format!("cannot connect to {spec}"))
                    .with_help(format!("check the connection settings in {}", env.source())),
            }),
    };
    explained.with_cause(&cause)
}

/// The longest the explanation of a connection that timed out waits to connect to a
/// maintenance database and ask who holds a lock on the target's catalogs.
const ASK_HOLDERS_WAIT: Duration = Duration::from_secs(3);

/// The longest the explanation of a connection that timed out waits for the port's answer to a
/// TLS request ([`probe::ssl_answer`]), on top of the `timeout` already spent: a server that
/// accepts connections answers it at once (before the session's start, which is what may wait),
/// so a short wait tells it as well as `timeout` would, and a silent peer (accepts, never
/// answers) ends the command within about `timeout`, never twice it.
const ANSWER_WAIT: Duration = Duration::from_secs(1);

/// The error of a connection that got no session within `timeout`. The network, or the server:
/// a server that answers on the port (PostgreSQL's answer to a TLS request, [`probe`]) accepted
/// the connection, and the session's start waits inside it — for a lock another session holds
/// on a system catalog (`LOCK pg_catalog.pg_class`, `VACUUM FULL pg_index`: a starting session
/// reads them), or for an overloaded server. Then the holders of such locks on the target
/// database, asked from a maintenance database of the server, are named; the network is blamed
/// only when nothing answers (a Unix socket, local, is never the network's).
fn timed_out(env: &Environment, timeout: Duration) -> Error {
    let spec = &env.connection;
    let answered = spec.is_unix_socket()
        || (spec.host.as_str(), spec.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addresses| addresses.next())
            .and_then(|address| probe::ssl_answer(address, ANSWER_WAIT.min(timeout)))
            .is_some_and(|answer| !matches!(answer, SslAnswer::NotPostgres(_)));
    if !answered {
        return Error::connection(format!(
            "cannot connect to {spec}: no answer within {}",
            seconds(timeout)
        ))
        .with_help(format!(
            "check that the server is reachable from here; if the network is slow, raise {}",
            raise_timeout(env)
        ));
    }
    let holders = super::ask_catalog_lock_holders(env, ASK_HOLDERS_WAIT.min(timeout));
    let raise = raise_timeout(env);
    match holders {
        Ok(found) if !found.is_empty() => {
            // A lock in the way, as every other wait of the tool's own for one ends: exit 6.
            let mut error = Error::new(
                crate::ErrorKind::LockTimeout,
                format!(
                    "cannot connect to {spec}: the server did not start the session within {}: \
                     it waits for a lock another session holds on a system catalog",
                    seconds(timeout)
                ),
            );
            let mut holders: Vec<crate::db::lock::LockHolder> = Vec::new();
            for (relation, holder) in &found {
                error = error.with_detail(format!("lock on {relation} held by {holder}"));
                if !holders.contains(holder) {
                    holders.push(holder.clone());
                }
            }
            let again = format!("run {}", crate::hint::AGAIN);
            let help = crate::db::lock::prepared_help(&holders, &again).unwrap_or_else(|| {
                let (that, terminate) = crate::db::lock::terminate_hint(&holders);
                format!(
                    "wait for {that} to finish and {again}; if it is stuck, end it with \
                     {terminate}"
                )
            });
            error.with_help(help).with_reason(Reason::Lock {
                database: Some(spec.to_string()),
                holders,
            })
        }
        // Not even a maintenance database's session started: the lock is on a catalog every
        // database shares, which holds every session's start on the server, the asking one's
        // too (its holder cannot be named by any session started now).
        Err(super::Unasked::NoSessionStarted) => Error::connection(format!(
            "cannot connect to {spec}: the server answered, but did not start the session \
             within {}, nor one on its maintenance database within {}",
            seconds(timeout),
            seconds(ASK_HOLDERS_WAIT.min(timeout))
        ))
        .with_detail(
            "no session of the server starts: another session most likely holds a lock on a \
             catalog every database shares (`pg_authid`, `pg_database`: a `LOCK \
             pg_catalog.pg_stat_activity` locks both, the tables of that view), which every \
             session reads as it starts, so no new session can ask who holds it",
        )
        .with_help(format!(
            "from a session already open on the server, look for the holder with `SELECT pid, \
             relation FROM pg_catalog.pg_lock_status() WHERE database = 0 AND mode = \
             'AccessExclusiveLock' AND granted` (the `pg_locks` and `pg_stat_activity` views \
             read those catalogs too) and end its transaction; if the server is only overloaded, raise {raise}"
        )),
        _ => Error::connection(format!(
            "cannot connect to {spec}: the server answered, but did not start the session \
             within {}",
            seconds(timeout)
        ))
        .with_detail(
            "the server accepted the connection, so the network is not what is slow: starting \
             the session waits inside the server — for a lock another session holds on a \
             system catalog of the database (`LOCK pg_catalog.pg_class`, `VACUUM FULL \
             pg_index`, `CLUSTER`), which could not be asked, or for an overloaded server",
        )
        .with_help(format!(
            "from a session on another database of the server, look in `pg_catalog.pg_locks` \
             for a granted `AccessExclusiveLock` on a system catalog (a relation below 16384) \
             and wait for its session to finish; if the server is only slow, raise {raise}"
        )),
    }
}

/// The address a failed try dialled, asked what it is only when the driver's error cannot
/// tell ([`probe::ssl_answer`]).
struct Peer<'a> {
    env: &'a Environment,
    dialled: Option<SocketAddr>,
}

impl Peer<'_> {
    fn ssl_answer(&self) -> Option<SslAnswer> {
        let address = self.dialled?;
        probe::ssl_answer(address, self.env.migration.connect_timeout)
    }
}

/// What answered on the port is not PostgreSQL: no sslmode helps, the host or port is wrong.
fn not_postgres(env: &Environment, peer: &Peer<'_>, byte: u8) -> Error {
    let spec = &env.connection;
    let at = match peer.dialled {
        Some(address) => address.to_string(),
        None => format!("{}:{}", spec.shown_host(), spec.port),
    };
    let answer = if byte.is_ascii_graphic() {
        format!("\"{}\"", char::from(byte))
    } else {
        format!("0x{byte:02x}")
    };
    Error::connection(format!(
        "{at} is not a PostgreSQL server: it answered the TLS request with {answer}, where \
         PostgreSQL answers \"S\" or \"N\" (connecting as {spec})"
    ))
    .with_help(format!(
        "check the host and port in {}: another service listens there",
        env.server_source()
    ))
}

/// What to raise, and where, for a connection that timed out: `migration.connect_timeout` in
/// the environment file `env`'s settings were read from (a fleet target's are its base
/// environment's: [`Environment::settings_origin`]); without one (`--database-url`,
/// `DATABASE_URL`), the URL's `connect_timeout` where the server was given.
fn raise_timeout(env: &Environment) -> String {
    match env.settings_origin() {
        (Some(_), label) => {
            format!("migration.connect_timeout (or connect_timeout in the URL) in {label}")
        }
        (None, _) => format!(
            "connect_timeout in the URL (?connect_timeout=30) in {}",
            env.server_source()
        ),
    }
}

/// The error of a database the server says does not exist (SQLSTATE 3D000), without a help:
/// what creates it depends on what the database is for.
pub(crate) fn missing_database(spec: &ConnectionSpec) -> Error {
    Error::connection(format!(
        "database {} does not exist (connecting as {spec})",
        quoted(&spec.shown_dbname())
    ))
    .with_reason(Reason::Database {
        database: spec.to_string(),
    })
}

/// For `up --create-database`: a connection `error` that a pooler gave at login, SQLSTATE 08P01
/// (PgBouncer's own code for what it refuses, a database the server does not have among them;
/// PostgreSQL's own answer, 3D000, is what `--create-database` acts on), gets the help to create
/// the database on the server itself: after such a failed login PgBouncer holds every new
/// login to that database for `server_login_retry` (15 s by default), so even a database
/// created through it is not reached in that time. Told by the SQLSTATE, never by the wording;
/// any other error is returned as it is.
pub(crate) fn for_create_through_pooler(error: Error) -> Error {
    let from_pooler = error.kind == crate::error::ErrorKind::Connection
        && error.sqlstate() == Some(SqlState::PROTOCOL_VIOLATION.code());
    if !from_pooler {
        return error;
    }
    error
        .with_detail(
            "a pooler (PgBouncer, ...) answered for the server (SQLSTATE 08P01 is its own, not \
             PostgreSQL's answer for a missing database): `--create-database` cannot tell from \
             it whether the database exists, and after a failed login PgBouncer holds new \
             logins to that database for its `server_login_retry` (15 s by default)",
        )
        .with_help(
            "if the database does not exist, create it directly on the server \
             (`--create-database` with a URL naming the server's own host and port, not the \
             pooler's, or `createdb`), then run through the pooler once its \
             `server_login_retry` has passed",
        )
}

/// For a command that works on a database that exists and never creates one (`down`,
/// `baseline`, `reinit`, `drift`: everything but `up`, whose `--create-database` creates it,
/// and `status`, read before a first `up`): the help of a connection `error` refused because
/// `env`'s database does not exist (SQLSTATE 3D000, from the server's error behind it) names
/// the database (no password) and where its name came from, to be checked there, instead of
/// suggesting `migrate up --create-database`, which would make a new empty database and run
/// every migration in it — on a mistyped name, "success" on the wrong database. `command`
/// names the command (`down`). Any other error is left as it is.
pub(crate) fn for_existing_database(error: &mut Error, env: &Environment, command: &str) {
    let missing = error.kind == crate::error::ErrorKind::Connection
        && error.sqlstate() == Some(SqlState::INVALID_CATALOG_NAME.code());
    if !missing {
        return;
    }
    // Its help already says how the name was meant ([`explain`]).
    #[cfg(feature = "env-files")]
    if Unbraced::of(env).is_some_and(|u| u.is_database_name()) {
        return;
    }
    let spec = &env.connection;
    let close = close_database_first(env);
    let help = format!(
        "{close}the database {} ({spec}, from {}) does not exist on its server: check the database \
         name there (`psql -h {} -p {} -U {} -l` lists the server's databases); `{command}` \
         works on a database that exists and does not create one",
        quoted(&spec.shown_dbname()),
        env.source(),
        crate::hint::quote(&spec.shown_host()),
        spec.port,
        crate::hint::quote(&spec.shown_user()),
    );
    error.help = Some(shown(&help).into_owned());
}

/// A database of `env`'s server whose name is close to `env`'s, which does not exist there
/// (a misspelling, by the one did-you-mean rule: [`crate::text::did_you_mean`]): asked on one
/// short session on a maintenance database (`postgres`, else `template1`) with the same
/// credentials and TLS settings, within `migration.connect_timeout`. `None` when no name is
/// close, or when that session or its query fails: never an error of its own, the refusal
/// being explained is the error.
pub(crate) fn close_database(env: &Environment) -> Option<String> {
    let wanted = &env.connection.dbname;
    if crate::db::MAINTENANCE_DATABASES.contains(&wanted.as_str()) {
        // Looked up on itself: the session would fail as the one being explained did.
        return None;
    }
    for maintenance_db in crate::db::MAINTENANCE_DATABASES {
        let mut maintenance = env.clone();
        maintenance.connection.dbname = maintenance_db.to_string();
        // `open_at`, not `open_session`: a failure here is dropped, never explained.
        let Ok(mut session) = super::open_at(&maintenance, None, super::Need::Read) else {
            continue;
        };
        // Only a failure's help: under the bounds of a read that explains one.
        let names: Vec<String> = crate::db::explaining_read(&mut session.client, |tx| {
            tx.query(
                "SELECT datname FROM pg_catalog.pg_database \
                 WHERE datallowconn AND NOT datistemplate",
                &[],
            )
        })
        .ok()?
        .iter()
        .filter_map(|row| row.try_get(0).ok())
        .collect();
        return close_in(env, names.iter().map(String::as_str));
    }
    None
}

/// [`close_database`] among `names`, the databases of `env`'s server that accept connections
/// and are no templates, read already, by the one rule of a close name of the database's
/// objects ([`crate::text::close_name`]: never another of a numbered series).
fn close_in<'a>(env: &Environment, names: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let wanted = &env.connection.dbname;
    if crate::db::MAINTENANCE_DATABASES.contains(&wanted.as_str()) {
        return None;
    }
    crate::text::close_name(wanted, names).map(str::to_string)
}

/// The first words of the help of `env`'s missing database: a database with a close name
/// ([`close_database`]) that was probably meant, or nothing.
pub(crate) fn close_database_first(env: &Environment) -> String {
    close_database(env)
        .map(|close| format!("{} ", close_database_line(&close)))
        .unwrap_or_default()
}

/// The help's first words when [`close_database`] found `close`.
fn close_database_line(close: &str) -> String {
    format!(
        "a database named {} exists on this server: did you mean it?",
        quoted(close)
    )
}

/// The `createdb` command that creates `spec`'s database on its server, as its user.
pub(crate) fn createdb(spec: &ConnectionSpec) -> String {
    format!(
        "createdb -h {} -p {} -U {} {}{}",
        crate::hint::quote(&spec.shown_host()),
        spec.port,
        crate::hint::quote(&spec.shown_user()),
        // A name starting with `-` would be read as an option.
        if spec.dbname.starts_with('-') {
            "-- "
        } else {
            ""
        },
        crate::hint::quote(&spec.shown_dbname())
    )
}

/// The refusal of `env`'s database that does not exist (SQLSTATE 3D000), `close` a database
/// of its server with a close name ([`close_database`]): the one wording, whether the server
/// said it to a connection or a fleet found the database absent in `pg_database`
/// ([`super::absent_database`]).
fn refused_missing(env: &Environment, close: Option<String>) -> Error {
    let spec = &env.connection;
    // The server's message, the cause, names the database: said once.
    let create = format!(
        "{} does, or {}",
        crate::hint::command("migrate up --create-database"),
        createdb(spec)
    );
    // A misspelt name first: creating it would make a new empty database beside the one
    // meant, and run every migration there.
    let help = match close {
        Some(close) => format!(
            "{} fix the database name in {}; only if {} is to be a new database, create it \
             ({create})",
            close_database_line(&close),
            env.database_name_source(),
            quoted(&spec.shown_dbname()),
        ),
        None => format!(
            "create it ({create}), or fix the database name in {}",
            env.database_name_source()
        ),
    };
    Error::connection(format!("cannot connect to {spec}")).with_help(help)
}

/// What the server answers a connection to `spec`'s database that does not exist: its
/// message (in English: a server whose `lc_messages` is another language words it there)
/// and SQLSTATE 3D000.
fn absent_refusal(spec: &ConnectionSpec) -> crate::error::ServerError {
    crate::error::ServerError {
        sqlstate: SqlState::INVALID_CATALOG_NAME.code().to_string(),
        message: format!("database \"{}\" does not exist", spec.dbname),
    }
}

/// The server answered with an error: who may not connect, or what is not ready.
fn server_refusal(env: &Environment, db: &DbError) -> Error {
    let spec = &env.connection;
    let source = env.source();
    let code = db.code();
    if let Some(refusal) = authentication_refusal(env, db) {
        refusal
    } else if *code == SqlState::INVALID_CATALOG_NAME {
        refused_missing(env, close_database(env))
    } else if *code == SqlState::TOO_MANY_CONNECTIONS {
        too_many_connections(spec, connection_limit(db.message()))
    } else if *code == SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE
        && db
            .message()
            .ends_with("is not currently accepting connections")
    {
        Error::connection(format!(
            "database {} does not accept connections (refused {spec})",
            quoted(&spec.shown_dbname())
        ))
        .with_help(format!(
            "a superuser can open it with `ALTER DATABASE {} ALLOW_CONNECTIONS true`; \
             or name another database in {source}",
            quote_ident(&spec.shown_dbname())
        ))
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        // The server's message is the cause.
        Error::connection(format!("the server refused {spec}")).with_help(format!(
            "the database's owner or a superuser can run `GRANT CONNECT ON DATABASE {} TO {}`; \
             or connect as another user in {}",
            quote_ident(&spec.shown_dbname()),
            quote_ident(&spec.shown_user()),
            env.server_source()
        ))
    } else if *code == SqlState::PROTOCOL_VIOLATION && super::accepts_without_options(env) {
        options_refused(env)
    } else if *code == SqlState::CANNOT_CONNECT_NOW {
        Error::connection(format!(
            "the server is starting up or shutting down (connecting as {spec})"
        ))
        .with_help(format!("retry in a few seconds{}", wait_for_it(env)))
    } else {
        Error::connection(format!("the server refused {spec}"))
            .with_help(format!("check the connection settings in {source}"))
    }
}

/// A pooler in front of `env`'s server refused the session for its startup options (`options`,
/// SQLSTATE 08P01, PgBouncer's "unsupported startup parameter"), told by a session it gave
/// without them ([`super::accepts_without_options`]): the connection's own options, a tenant's
/// `search_path` among them, cannot pass that pooler.
fn options_refused(env: &Environment) -> Error {
    let spec = &env.connection;
    let needed = match &env.migration.tenant_schema {
        Some(schema) => format!("tenant schema {schema}'s search_path"),
        None => "the connection's own options".to_string(),
    };
    Error::connection(format!(
        "a pooler in front of the server of {spec} refuses the `options` startup parameter, \
         which carries {needed}"
    ))
    .with_help(format!(
        "connect to the server directly for migrations (its own host and port, not the \
         pooler's, in {}); listing `options` in the pooler's ignore_startup_parameters \
         (PgBouncer) is no way out: it then drops them, which the tool refuses",
        env.server_source()
    ))
}

/// The server refused who we are (28000, 28P01): TLS required by pg_hba.conf, a client
/// certificate refused, or the user and password.
fn authentication_refusal(env: &Environment, db: &DbError) -> Option<Error> {
    let spec = &env.connection;
    let source = env.server_source();
    let code = db.code();
    let hba = (*code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
        .then(|| hba_refusal(db.message()))
        .flatten();
    let mode = spec.sslmode;
    let no_entry = db.message().starts_with("no pg_hba.conf entry");
    Some(if hba.is_some() && spec.is_unix_socket() {
        // No `hostssl` applies to a socket, and no TLS is used there: the `local` entries
        // alone decide.
        Error::connection(if no_entry {
            format!("no `local` pg_hba.conf entry admits {spec}")
        } else {
            format!("a `local` pg_hba.conf entry rejects {spec}")
        })
        .with_help(unencrypted_refusal_help(mode, true, &source))
    } else if hba == Some(HbaRefusal::Encrypted) {
        // Not a wrong password either: pg_hba.conf has no entry for this host over TLS
        // (a `hostnossl` one admits it only without).
        Error::connection(if no_entry {
            format!(
                "the server has no pg_hba.conf entry for {spec} over TLS \
                     (sslmode={mode}): it admits this host only without encryption, or not \
                     at all"
            )
        } else {
            format!("pg_hba.conf rejects {spec} over TLS (sslmode={mode})")
        })
        .with_help(
            "add a `hostssl` (or `host`) pg_hba.conf entry that admits this host, user and \
                 database, then reload the server: a `hostnossl` entry admits only \
                 unencrypted connections",
        )
    } else if hba == Some(HbaRefusal::Unencrypted) {
        // Not a wrong password: pg_hba.conf only lets this host in over TLS.
        let what = if no_entry {
            format!(
                "the server has no pg_hba.conf entry for {spec} without encryption \
                     (sslmode={mode}): it requires TLS from this host, or does not admit it at all"
            )
        } else {
            format!(
                "the server requires TLS: pg_hba.conf rejects {spec} without encryption \
                     (sslmode={mode})"
            )
        };
        Error::connection(what).with_help(unencrypted_refusal_help(
            mode,
            spec.is_unix_socket(),
            &source,
        ))
    } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        && (db.message().contains("certificate") || spec.sslcert.is_some())
    {
        // `clientcert=verify-*` or the `cert` method: no certificate ("connection requires
        // a valid client certificate"), or one whose common name is not the user (then the
        // server names only the method, e.g. `"trust" authentication failed`, and logs the
        // mismatch).
        client_certificate_refused(env, db.message())
    } else if *code == SqlState::INVALID_PASSWORD
        || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    {
        Error::connection(format!("authentication failed for {spec}")).with_help(format!(
            "{}; the server's pg_hba.conf decides who may connect from where",
            check_user_and_password(env)
        ))
    } else {
        return None;
    })
}

/// The TLS handshake or the driver's authentication failed (no server error to read).
fn handshake_failure(
    env: &Environment,
    error: &postgres::Error,
    cause: &str,
    peer: &Peer<'_>,
) -> Option<Error> {
    let spec = &env.connection;
    if let Some(rustls::Error::AlertReceived(alert)) = find_in_chain::<rustls::Error>(error) {
        use rustls::AlertDescription as Alert;
        if spec.sslcert.is_some()
            && matches!(
                alert,
                Alert::UnknownCA
                    | Alert::BadCertificate
                    | Alert::CertificateUnknown
                    | Alert::UnsupportedCertificate
                    | Alert::CertificateExpired
                    | Alert::CertificateRevoked
                    | Alert::AccessDenied
            )
        {
            return Some(client_certificate_refused(
                env,
                &format!("TLS alert {alert:?}"),
            ));
        }
    }
    let top = error.to_string();
    if top.starts_with("error performing TLS handshake") {
        return Some(explain_tls(env, error, cause, peer));
    }
    if !top.starts_with("authentication error") {
        return None;
    }
    Some(
        Error::connection(format!("authentication failed for {spec}"))
            .with_help(check_user_and_password(env)),
    )
}

/// What to check of a refused authentication: the user where the connection names it, and
/// the password where it came from ([`PasswordSource`]) — the URL or environment file, or
/// `PGPASSWORD`, or the password file's line (as libpq's "password retrieved from file"),
/// never the password itself.
fn check_user_and_password(env: &Environment) -> String {
    let check = check_user_and_password_at_source(env);
    // A `%` a variable put in the URL's user or password was read as a percent-encoding.
    match env.percent_in_credentials.first() {
        Some(percent) => format!("{check}; {}", percent.help(true)),
        None => check,
    }
}

/// [`check_user_and_password`] without what a variable did to the URL.
fn check_user_and_password_at_source(env: &Environment) -> String {
    let spec = &env.connection;
    let user = || env.server_source_of(&[ConnectionPart::User]);
    match (spec.password_source, &spec.passfile) {
        (Some(PasswordSource::Variable), _) => {
            format!(
                "check the password in PGPASSWORD, and the user in {}",
                user()
            )
        }
        (Some(PasswordSource::PasswordFile { line }), Some(passfile)) => {
            let empty = if spec.password.as_deref() == Some("") {
                ", which is empty,"
            } else {
                ""
            };
            format!(
                "check the password on line {line} of password file {}{empty} and the user in {}",
                shown(crate::display::path_text(passfile).as_ref()),
                user()
            )
        }
        _ => format!(
            "check the user and password in {}",
            env.server_source_of(USER_AND_PASSWORD)
        ),
    }
}

/// The server asked for a password and none was given: where one may come from, as libpq
/// looks (the URL or file, `PGPASSWORD`, the password file), and why the password file gave
/// none — not read because its group or others may read it (libpq's warning), or no line.
fn password_missing(env: &Environment) -> Error {
    let spec = &env.connection;
    let source = env.server_source();
    let mut error = Error::connection(format!(
        "the server asks for a password for {spec}, and none was given"
    ));
    let help = format!(
        "give the password in {source} (`postgresql://user:password@host/db`), in PGPASSWORD, \
         or on a `host:port:database:user:password` line of the password file (the \
         connection's `passfile`, else PGPASSFILE, else ~/.pgpass), readable by its owner only"
    );
    if let Some((ignored, why)) = spec.unread_passfile() {
        return error
            .with_ignored_passfile(ignored)
            .with_detail(format!(
                "{}: it was not read (nor would libpq read it)",
                why.sentence(&shown(crate::display::path_text(ignored).as_ref()))
            ))
            .with_help(format!(
                "{}, or {help}",
                why.fix(&crate::hint::quote_path(ignored))
            ));
    }
    if let Some(passfile) = &spec.passfile {
        let path = shown(crate::display::path_text(passfile).as_ref()).into_owned();
        error = error.with_detail(if passfile.is_file() {
            format!(
                "password file {path} has no line for {}:{}:{}:{}",
                shown(&spec.host),
                spec.port,
                shown(&spec.dbname),
                shown(&spec.user)
            )
        } else {
            format!("there is no password file {path}")
        });
    }
    error.with_help(help)
}

/// The network failed: refused, timed out, no socket, no such host (`unresolved`: the host
/// name gave no address, [`Failure::Unresolved`]); `None` for another IO error (a stream
/// that broke off, or bytes that are not PostgreSQL's protocol).
fn network_failure(env: &Environment, io: &std::io::Error, unresolved: bool) -> Option<Error> {
    use std::io::ErrorKind as Io;
    let spec = &env.connection;
    let source = env.server_source_of(&[ConnectionPart::Host, ConnectionPart::Port]);
    Some(match io.kind() {
        Io::ConnectionRefused => Error::connection(format!(
            "connection refused (connecting as {spec})"
        ))
        .with_help(format!(
            "is PostgreSQL running and listening on that host and port? check them in \
             {source}{}",
            wait_for_it(env)
        )),
        Io::TimedOut => Error::connection(format!(
            "cannot connect to {spec}: no answer within {}",
            seconds(env.migration.connect_timeout)
        ))
        .with_help(format!(
            "check that the server is reachable from here (firewall, VPN, host name); if the \
             network is slow, raise {}",
            raise_timeout(env)
        )),
        Io::NotFound if spec.is_unix_socket() => Error::connection(format!(
            "no PostgreSQL socket for that directory and port (connecting as {spec})"
        ))
        .with_help(format!(
            "is PostgreSQL running? check the socket directory and port in {source}{}",
            wait_for_it(env)
        )),
        _ if unresolved => Error::connection(format!(
            "cannot resolve the host name (connecting as {spec})"
        ))
        .with_help(format!(
            "check the host name in {}{}",
            env.server_source_of(&[ConnectionPart::Host]),
            wait_for_it(env)
        )),
        _ => return None,
    })
}

/// The end of the help of a server that is not accepting connections yet, when the
/// connection did not wait for it: how to wait for a server started beside the command.
/// The environment-file half only when the settings came from one: a URL reads none. A
/// library session's text names `Migrator::wait_for_server` for the flag
/// (`migrate::options::name_fields`).
fn wait_for_it(env: &Environment) -> String {
    if !env.migration.wait_for_server.is_zero() {
        return String::new();
    }
    let in_file = match env.settings_origin() {
        (Some(_), _) => ", or `migration.wait_for_server: 60s` in the environment file",
        (None, _) => "",
    };
    format!(
        "; if it is still starting (a container or CI service started with this command), \
         wait for it: `--wait-for-server 60s`{in_file}"
    )
}

/// What a failed authentication's help says to check.
const USER_AND_PASSWORD: &[ConnectionPart] = &[ConnectionPart::User, ConnectionPart::Password];

/// What turns TLS on at a server: the help wherever the server does not offer it.
const ENABLE_SERVER_TLS: &str = "enable ssl on the server: `ssl = on` in its postgresql.conf, \
     with `ssl_cert_file` and `ssl_key_file` naming its certificate and private key, then reload it";

fn explain_tls(env: &Environment, error: &postgres::Error, cause: &str, peer: &Peer<'_>) -> Error {
    use rustls::CertificateError as Cert;
    let spec = &env.connection;
    let source = env.server_source();
    let mode = spec.sslmode;
    let roots = match &spec.sslrootcert {
        Some(_) if spec.uses_system_roots() => {
            "sslrootcert=system, the webpki (Mozilla) roots".to_string()
        }
        Some(path) => format!("sslrootcert {}", crate::display::path_text(path)),
        None => "no root certificates".to_string(),
    };
    if cause.contains("server does not support TLS") {
        // The driver says so of any first byte but `S`: only a server that answers `N` does
        // not offer TLS.
        return match peer.ssl_answer() {
            Some(SslAnswer::NoTls) => Error::connection(format!(
                "the server does not offer TLS, and sslmode={mode} requires it (connecting as \
                 {spec})"
            ))
            // The user chose to require TLS: the help is the server's side, never a weaker
            // sslmode (a peer that declines TLS is also what something between us and the
            // server would answer).
            .with_help(match mode {
                SslMode::VerifyCa | SslMode::VerifyFull => format!(
                    "you chose to require TLS with a verified server (sslmode={mode} in \
                     {source}): {ENABLE_SERVER_TLS}; also check that this host and port reach \
                     the server meant (nothing between them should answer in its place)"
                ),
                _ => format!(
                    "you chose to require TLS (sslmode={mode} in {source}): {ENABLE_SERVER_TLS}"
                ),
            }),
            Some(SslAnswer::NotPostgres(byte)) => not_postgres(env, peer, byte),
            Some(SslAnswer::ServerError) => Error::connection(format!(
                "the server answered the TLS request with an error: it could not start a \
                 session for the connection (connecting as {spec})"
            ))
            .with_help(
                "retry in a few seconds; the server's log says why (out of processes or memory)",
            ),
            Some(SslAnswer::Tls) | None => Error::connection(format!(
                "the server did not agree to TLS, and sslmode={mode} requires it (connecting \
                 as {spec})"
            ))
            .with_help(format!(
                "check that the host and port in {source} name a PostgreSQL server with ssl \
                 enabled"
            )),
        };
    }
    let certificate = find_in_chain::<rustls::Error>(error).and_then(|e| match e {
        rustls::Error::InvalidCertificate(c) => Some(c),
        _ => None,
    });
    // A certificate that does not verify is also what a man-in-the-middle shows: the help says
    // what to fix and never suggests checking less (a weaker sslmode, no sslrootcert).
    match certificate {
        Some(Cert::NotValidForName | Cert::NotValidForNameContext { .. }) => Error::connection(format!(
            "the server's TLS certificate is not valid for the host name connected to (sslmode={mode}, connecting as {spec})"
        ))
        .with_help(format!(
            "the host name in the URL must be one the certificate names (its subject alternative \
             names): connect with such a name in {source}, or have the server's certificate \
             issued for this one"
        )),
        Some(Cert::UnknownIssuer | Cert::BadSignature) => Error::connection(format!(
            "the server's TLS certificate is not signed by a trusted root (sslmode={mode}, \
             checked against {roots}; connecting as {spec})"
        ))
        .with_help(format!(
            "set sslrootcert to the CA certificate that signed the server's certificate (the \
             certificate itself if it is self-signed) in {source}"
        )),
        Some(Cert::Expired | Cert::ExpiredContext { .. }) => Error::connection(format!(
            "the server's TLS certificate has expired (connecting as {spec})"
        ))
        .with_help("renew the server's certificate"),
        Some(Cert::NotValidYet | Cert::NotValidYetContext { .. }) => Error::connection(format!(
            "the server's TLS certificate is not valid yet (connecting as {spec})"
        ))
        .with_help("check the clocks of this machine and the server"),
        Some(Cert::Other(other)) if other.0.is::<UnverifiableServerCertificate>() => {
            let version = other
                .0
                .downcast_ref::<UnverifiableServerCertificate>()
                .map_or(1, |older| older.version);
            Error::connection(format!(
                "the server's TLS certificate is X.509 version {version}, which cannot be \
                 verified: only X.509 version 3 certificates can (sslmode={mode}, checked \
                 against {roots}; connecting as {spec})"
            ))
            .with_help(
                "reissue the server's certificate as X.509 version 3, as a CA issues them: \
                 `openssl x509 -req` writes version 3 when given extensions (`-extfile` with \
                 a `subjectAltName = DNS:<the server's host name>` line), then reload the server",
            )
        }
        Some(_) => Error::connection(format!(
            "the server's TLS certificate was rejected (sslmode={mode}, connecting as {spec})"
        ))
        .with_help(format!("check the server's certificate and sslrootcert in {source}")),
        None => Error::connection(format!(
            "the TLS handshake failed (sslmode={mode}, connecting as {spec})"
        ))
        .with_help(
            "check the server's TLS setup: its certificate and key, and a protocol of TLS 1.2 \
             or later (ssl_min_protocol_version)",
        ),
    }
}

/// The server did not accept our client certificate (or wanted one and got none).
fn client_certificate_refused(env: &Environment, reason: &str) -> Error {
    let spec = &env.connection;
    let source = env.server_source();
    match &spec.sslcert {
        None => Error::connection(format!(
            "the server requires a client certificate from {spec}, and none is configured"
        ))
        .with_detail(spec.scrub(reason))
        .with_help(format!(
            "set sslcert and sslkey (a certificate signed by a CA the server trusts, its common \
             name the user name) in {source}"
        )),
        Some(cert) => Error::connection(format!(
            "the server did not accept the client certificate in sslcert {} (connecting as \
             {spec})",
            crate::display::path_text(cert)
        ))
        .with_detail(spec.scrub(reason))
        .with_help(format!(
            "the certificate must be signed by a CA in the server's ssl_ca_file, be valid now, \
             and (clientcert=verify-full) name the user {} as its common name; check \
             sslcert and sslkey in {source}",
            quoted(&spec.shown_user())
        )),
    }
}

/// What to do when pg_hba.conf refused a connection for being unencrypted: with `prefer` the
/// server did not offer TLS (prefer would have used it), so no sslmode helps; over a Unix
/// socket no sslmode does either (libpq never asks for TLS there, nor do we).
fn unencrypted_refusal_help(mode: SslMode, unix_socket: bool, source: &str) -> String {
    match mode {
        _ if unix_socket => "a Unix socket never carries TLS, whatever the sslmode (as with \
             libpq): add a `local` pg_hba.conf entry that admits this user and database, or \
             connect over TCP to a server with ssl enabled"
            .to_string(),
        SslMode::Disable => format!(
            "use sslmode=require, or verify-full with sslrootcert naming the server's CA, in \
             {source}"
        ),
        _ => format!(
            "the server does not offer TLS (sslmode=prefer would have used it): \
             {ENABLE_SERVER_TLS}; or add a pg_hba.conf entry that admits this host without TLS"
        ),
    }
}

/// Which limit a "too many connections" refusal (SQLSTATE 53300) hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnectionLimit {
    /// The database's `CONNECTION LIMIT`.
    Database,
    /// The role's `CONNECTION LIMIT`.
    Role,
    /// `max_connections`.
    Server,
    /// The slots left are reserved (for superusers, `pg_use_reserved_connections`).
    Reserved,
    /// A message we do not know (another `lc_messages`).
    Unknown,
}

/// Reads which limit from the server's message: the SQLSTATE is the same for all four, and
/// the message is the only thing that tells them apart. Known: PostgreSQL's English messages
/// (11 to 17); anything else is `Unknown`, whose help names every limit.
fn connection_limit(message: &str) -> ConnectionLimit {
    if message.starts_with("too many connections for database") {
        ConnectionLimit::Database
    } else if message.starts_with("too many connections for role") {
        ConnectionLimit::Role
    } else if message.starts_with("sorry, too many clients already") {
        ConnectionLimit::Server
    } else if message.starts_with("remaining connection slots are reserved") {
        ConnectionLimit::Reserved
    } else {
        ConnectionLimit::Unknown
    }
}

fn too_many_connections(spec: &ConnectionSpec, limit: ConnectionLimit) -> Error {
    let db = quote_ident(&spec.shown_dbname()).into_owned();
    let role = quote_ident(&spec.shown_user()).into_owned();
    match limit {
        ConnectionLimit::Database => Error::connection(format!(
            "database {} allows no more connections (refused {spec}): its CONNECTION LIMIT \
             is reached",
            quoted(&spec.shown_dbname())
        ))
        .with_help(format!(
            "retry when its other sessions end, or raise the limit: `ALTER DATABASE {db} \
             CONNECTION LIMIT 20` (-1 for none; see `{}`)",
            crate::db::pasted::DATABASE_CONNECTION_LIMITS
        )),
        ConnectionLimit::Role => Error::connection(format!(
            "role {} allows no more connections (refused {spec}): its CONNECTION LIMIT is \
             reached",
            quoted(&spec.shown_user())
        ))
        .with_help(format!(
            "retry when its other sessions end, or raise the limit: `ALTER ROLE {role} \
             CONNECTION LIMIT 20` (-1 for none; see `{}`)",
            crate::db::pasted::ROLE_CONNECTION_LIMITS
        )),
        ConnectionLimit::Server => Error::connection(format!(
            "the server has no free connection slot (refused {spec}): max_connections is reached"
        ))
        .with_help("retry later, close idle sessions, or raise max_connections on the server"),
        ConnectionLimit::Reserved => Error::connection(format!(
            "the server keeps its last connection slots for privileged roles (refused {spec})"
        ))
        .with_help("retry later, close idle sessions, or raise max_connections on the server"),
        ConnectionLimit::Unknown => Error::connection(format!(
            "the server refused {spec}: too many connections"
        ))
        .with_help(format!(
            "a connection limit is reached: the database's (`ALTER DATABASE {db} CONNECTION \
             LIMIT`), the role's (`ALTER ROLE {role} CONNECTION LIMIT`) or the server's \
             (max_connections); retry later or raise the one that applies"
        )),
    }
}

/// Which connections a pg_hba.conf refusal (SQLSTATE 28000, shared by every refusal of who we
/// are) was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HbaRefusal {
    /// An unencrypted connection: pg_hba.conf may admit this host over TLS only.
    Unencrypted,
    /// An encrypted one: pg_hba.conf may admit this host without TLS only (`hostnossl`).
    Encrypted,
}

/// Whether the server's message is a pg_hba.conf refusal, and of which connection: PostgreSQL
/// 12+ ends them with `no encryption`, `SSL encryption` or `GSS encryption` (older servers:
/// `SSL off`, `SSL on`); the SQLSTATE does not tell them from a wrong password.
pub(super) fn hba_refusal(message: &str) -> Option<HbaRefusal> {
    if !(message.starts_with("pg_hba.conf rejects connection")
        || message.starts_with("no pg_hba.conf entry"))
    {
        return None;
    }
    if message.ends_with("no encryption") || message.ends_with("SSL off") {
        Some(HbaRefusal::Unencrypted)
    } else if message.ends_with("SSL encryption")
        || message.ends_with("GSS encryption")
        || message.ends_with("SSL on")
    {
        Some(HbaRefusal::Encrypted)
    } else {
        None
    }
}

fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new database of a numbered series (`tenant_4` beside `tenant_1` to `tenant_3`) was
    /// taken for a misspelling of one of them: `up --create-database` warned it was an empty
    /// near-duplicate to drop. A name that differs from another only in its numbers is never
    /// close; a misspelt word still is, numbered or not.
    #[test]
    fn a_number_of_a_series_is_no_misspelling() {
        let close = |wanted: &str, names: &[&str]| {
            let env = Environment::from_url(&format!("postgresql://u@h/{wanted}"), "t").unwrap();
            close_in(&env, names.iter().copied())
        };
        let tenants = ["tenant_1", "tenant_2", "tenant_3"];
        assert_eq!(close("tenant_4", &tenants), None);
        assert_eq!(close("tenant_12", &tenants), None);
        assert_eq!(close("ci_42", &["ci_41"]), None);
        assert_eq!(close("app_2025_q3", &["app_2024_q1"]), None);
        assert_eq!(
            close("tenent_4", &["tenant_4"]).as_deref(),
            Some("tenant_4")
        );
        assert_eq!(close("tenant4", &["tenant_4"]).as_deref(), Some("tenant_4"));
        assert_eq!(
            close("app_stagin", &["app_staging"]).as_deref(),
            Some("app_staging")
        );
        assert_eq!(close("shopx", &["shop1"]).as_deref(), Some("shop1"));
    }

    /// A fleet target reads its `migration:` settings from its base environment's file, not
    /// from its own source (a target list, which has none): its timeout help names the file's
    /// `migration.connect_timeout`, as the base's own would; a URL alone names its parameter.
    #[test]
    fn the_timeout_help_names_where_the_timeout_is_set() {
        let help = |env: &Environment| {
            describe_failure(env, &Failure::TimedOut(Duration::from_secs(10)))
                .help
                .unwrap()
        };
        let mut target =
            Environment::from_url("postgresql://u@h/tenant_1", "tenants.txt:1").unwrap();
        let url_help = help(&target);
        assert!(
            url_help.contains("connect_timeout in the URL (?connect_timeout=30) in")
                && !url_help.contains("migration."),
            "{url_help}"
        );
        target.settings_from = Some((
            Some(std::path::PathBuf::from("db/environments/fleet.yaml")),
            "environment file db/environments/fleet.yaml".to_string(),
        ));
        let file_help = help(&target);
        assert!(
            file_help.contains(
                "raise migration.connect_timeout (or connect_timeout in the URL) in environment \
                 file db/environments/fleet.yaml"
            ),
            "{file_help}"
        );
    }

    #[test]
    fn connection_limits_are_told_apart() {
        let cases = [
            (
                r#"too many connections for database "app""#,
                ConnectionLimit::Database,
            ),
            (
                r#"too many connections for role "app""#,
                ConnectionLimit::Role,
            ),
            ("sorry, too many clients already", ConnectionLimit::Server),
            (
                "remaining connection slots are reserved for non-replication superuser connections",
                ConnectionLimit::Reserved,
            ),
            (
                "remaining connection slots are reserved for roles with the SUPERUSER attribute",
                ConnectionLimit::Reserved,
            ),
            (
                r#"trop de connexions pour la base de données « app »"#,
                ConnectionLimit::Unknown,
            ),
        ];
        for (message, limit) in cases {
            assert_eq!(connection_limit(message), limit, "{message}");
        }
        let spec = ConnectionSpec::parse("postgresql://a\"b@h/d%22b").unwrap();
        let help = too_many_connections(&spec, ConnectionLimit::Unknown)
            .help
            .unwrap();
        assert!(
            help.contains(r#"ALTER DATABASE "d""b" CONNECTION LIMIT"#),
            "{help}"
        );
        assert!(
            help.contains(r#"ALTER ROLE "a""b" CONNECTION LIMIT"#),
            "{help}"
        );
        assert!(help.contains("max_connections"), "{help}");
    }

    /// The messages said outside a connection's own error (a fleet query's missing database,
    /// its `createdb`) take the names as `Display` shows them: a `password=` inside one masked,
    /// control characters escaped.
    #[test]
    fn names_said_outside_a_connection_error_are_masked_and_escaped() {
        let mut spec = ConnectionSpec::parse("postgresql://u@h/db").unwrap();
        spec.user = "u,password=secret\u{1b}".to_string();
        spec.host = "h,password=secret".to_string();
        spec.dbname = "-db;password=secret\u{1b}[2J".to_string();
        let message = missing_database(&spec).message;
        assert_eq!(
            message,
            "database \"-db;password=***\" does not exist (connecting as \
             u,password=***@h,password=***:5432/-db;password=***)"
        );
        let command = createdb(&spec);
        assert_eq!(
            command,
            "createdb -h 'h,password=***' -p 5432 -U 'u,password=***' -- '-db;password=***'"
        );
        for text in [&message, &command] {
            assert!(
                !text.contains("secret") && !text.contains('\u{1b}'),
                "{text}"
            );
        }
        let limit = too_many_connections(&spec, ConnectionLimit::Role);
        assert!(
            limit.message.starts_with("role \"u,password=***\" allows"),
            "{}",
            limit.message
        );
        assert!(!format!("{limit:?}").contains("secret"), "{limit:?}");
    }

    #[test]
    fn an_unencrypted_refusal_suggests_tls_only_when_it_was_off() {
        assert!(unencrypted_refusal_help(SslMode::Disable, false, "x").contains("sslmode=require"));
        let help = unencrypted_refusal_help(SslMode::Prefer, false, "x");
        assert!(!help.contains("sslmode=require"), "{help}");
        assert!(help.contains("enable ssl on the server"), "{help}");
        // Over a Unix socket no sslmode brings TLS: none is suggested, and none is said to
        // have been declined by the server.
        for mode in [SslMode::Disable, SslMode::Prefer, SslMode::Require] {
            let help = unencrypted_refusal_help(mode, true, "x");
            assert!(!help.contains("sslmode="), "{help}");
            assert!(!help.contains("does not offer TLS"), "{help}");
            assert!(help.contains("`local` pg_hba.conf entry"), "{help}");
        }
    }

    #[test]
    fn pg_hba_refusals_are_told_by_the_connection_they_refused() {
        for message in [
            r#"pg_hba.conf rejects connection for host "127.0.0.1", user "app", database "app", no encryption"#,
            r#"no pg_hba.conf entry for host "10.0.0.7", user "app", database "app", no encryption"#,
            r#"no pg_hba.conf entry for host "10.0.0.7", user "app", database "app", SSL off"#,
        ] {
            assert_eq!(
                hba_refusal(message),
                Some(HbaRefusal::Unencrypted),
                "{message}"
            );
        }
        for message in [
            r#"pg_hba.conf rejects connection for host "127.0.0.1", user "app", database "app", SSL encryption"#,
            r#"no pg_hba.conf entry for host "127.0.0.1", user "app", database "app", GSS encryption"#,
            r#"no pg_hba.conf entry for host "127.0.0.1", user "app", database "app", SSL on"#,
        ] {
            assert_eq!(
                hba_refusal(message),
                Some(HbaRefusal::Encrypted),
                "{message}"
            );
        }
        for message in [
            r#"password authentication failed for user "app""#,
            r#"role "app" does not exist"#,
        ] {
            assert_eq!(hba_refusal(message), None, "{message}");
        }
    }
}
