//! Opening a connection to the environment's database: TLS by sslmode, `application_name` and
//! `client_connection_check_interval` in the startup packet, a connect timeout that covers the
//! whole exchange, and one clear message per way of failing (exit 3), without the password.

use std::error::Error as _;
use std::sync::mpsc;
use std::time::Duration;

use postgres::error::SqlState;

use crate::config::{shown, ConnectionSpec, Environment, SslMode, TargetSessionAttrs};
use crate::error::{Error, Reason, Result};

/// Set in the startup packet so that the server notices a killed client within a second and
/// stops its query (PostgreSQL 14+). Sent as `options`, which costs no extra round trip.
const CHECK_INTERVAL_OPTION: &str = "-c client_connection_check_interval=1000";

/// Silence on the connection before the first keepalive probe.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
/// Between unanswered probes.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// Unanswered probes before the connection is given up: a dead peer is noticed within
/// `KEEPALIVE_IDLE + KEEPALIVE_RETRIES * KEEPALIVE_INTERVAL` (30 s) of silence.
pub const KEEPALIVE_RETRIES: u32 = 3;
/// How long data we sent may stay unacknowledged before the connection is given up.
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to `env`'s database.
///
/// `migration.connect_timeout` bounds everything up to a usable session — name lookup, TCP,
/// TLS and authentication — as libpq's `connect_timeout` does (the driver alone bounds only
/// the TCP connect). A server older than 14, or a pooler that rejects `options`, is retried
/// once without `client_connection_check_interval`.
pub fn connect(env: &Environment) -> Result<postgres::Client> {
    connect_for(env, env.connection.target_session_attrs)
}

/// Connects to the first of `env`'s hosts whose session is what `attrs` asks for (libpq's
/// `target_session_attrs`, tried in order; `prefer-standby` falls back to the first host that
/// answered). One host asked for `any` is [`connect`] as ever. An invalid setting (a client
/// key that cannot be used) ends the search at once: it would fail on every host.
pub fn connect_for(env: &Environment, attrs: TargetSessionAttrs) -> Result<postgres::Client> {
    select(env, attrs).map_err(|failed| failed.into_error(env, attrs))
}

/// Connects to `env`'s database, or `Ok(None)` when the server answers that it does not exist
/// (SQLSTATE 3D000): what `--create-database` asks before creating it. Every other failure is
/// [`connect`]'s error. With several hosts, `None` means that no host connected and one of
/// them said so.
pub fn connect_if_exists(env: &Environment) -> Result<Option<postgres::Client>> {
    let attrs = env.connection.target_session_attrs;
    match select(env, attrs) {
        Ok(client) => Ok(Some(client)),
        Err(failed) if failed.missing_database => Ok(None),
        Err(failed) => Err(failed.into_error(env, attrs)),
    }
}

/// Why no host gave a session: one error per host tried (in order).
struct NoSession {
    errors: Vec<Error>,
    /// A host answered that the database does not exist.
    missing_database: bool,
    /// A setting that is wrong whatever the host (boxed: the struct is an `Err`).
    invalid: Option<Box<Error>>,
}

impl NoSession {
    fn into_error(mut self, env: &Environment, attrs: TargetSessionAttrs) -> Error {
        if let Some(invalid) = self.invalid {
            return *invalid;
        }
        if self.errors.len() == 1 {
            return self.errors.remove(0);
        }
        let spec = &env.connection;
        let what = match attrs {
            TargetSessionAttrs::Any => "accepted the connection".to_string(),
            attrs => format!("gave a session with target_session_attrs={attrs}"),
        };
        let mut error = Error::connection(format!("no host of {spec} {what}"));
        for failure in self.errors {
            error = error.with_detail(failure.message);
        }
        error.with_help(format!(
            "check that the hosts are reachable and which one is the primary; the hosts and \
             target_session_attrs are in {}",
            env.source()
        ))
    }
}

fn select(env: &Environment, attrs: TargetSessionAttrs) -> Result<postgres::Client, NoSession> {
    let spec = &env.connection;
    let mut failed = NoSession {
        errors: Vec::new(),
        missing_database: false,
        invalid: None,
    };
    // `prefer-standby`: the first host that answered, kept in case no standby does.
    let mut fallback = None;
    let wanted = match attrs {
        TargetSessionAttrs::PreferStandby => TargetSessionAttrs::Standby,
        attrs => attrs,
    };
    for (host, port) in spec.hosts() {
        let mut one = env.clone();
        one.connection = spec.with_host(host, port);
        let mut client = match open(&one) {
            Ok(client) => client,
            Err(Failure::Setup(error)) => {
                failed.invalid = Some(Box::new(error));
                return Err(failed);
            }
            Err(failure) => {
                if let Failure::Driver(e) = &failure {
                    failed.missing_database |= e.code() == Some(&SqlState::INVALID_CATALOG_NAME);
                }
                failed.errors.push(explain(&one, failure));
                continue;
            }
        };
        match session_mismatch(&mut client, wanted) {
            Ok(None) => return Ok(client),
            Ok(Some(reason)) => {
                let shown = &one.connection;
                failed
                    .errors
                    .push(Error::connection(format!("{shown} {reason}")));
                if attrs == TargetSessionAttrs::PreferStandby && fallback.is_none() {
                    fallback = Some(client);
                }
            }
            Err(error) => failed.errors.push(error),
        }
    }
    fallback.ok_or(failed)
}

/// Why the session is not what `attrs` asks for, or `None` when it is. `any` costs no round
/// trip; the others one (`pg_is_in_recovery()` and `transaction_read_only`, as libpq reads).
fn session_mismatch(
    client: &mut postgres::Client,
    attrs: TargetSessionAttrs,
) -> Result<Option<&'static str>> {
    if attrs == TargetSessionAttrs::Any {
        return Ok(None);
    }
    let messages = client
        .simple_query(
            "SELECT pg_catalog.pg_is_in_recovery(), \
             pg_catalog.current_setting('transaction_read_only')",
        )
        .map_err(|e| super::query_error("cannot read whether the server is a standby", e))?;
    let row = messages.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    let in_recovery = row.and_then(|r| r.get(0)) == Some("t");
    let read_only = row.and_then(|r| r.get(1)) == Some("on");
    Ok(match attrs {
        TargetSessionAttrs::Primary if in_recovery => Some("is a standby, not the primary"),
        TargetSessionAttrs::Standby | TargetSessionAttrs::PreferStandby if !in_recovery => {
            Some("is not a standby")
        }
        TargetSessionAttrs::ReadWrite if read_only => Some("is read-only"),
        TargetSessionAttrs::ReadOnly if !read_only => Some("is not read-only"),
        _ => None,
    })
}

/// Refuses a session that goes through a pooler in transaction (or statement) pooling mode,
/// such as PgBouncer with `pool_mode = transaction`: between two transactions such a pooler
/// may hand our statements to another server session, so the session-level migration lock
/// and session settings would silently belong to somebody else. Called by the writing
/// commands before they take the lock; `session` is what [`SESSION_IDENTITY`] answered on
/// `client`, and `attrs` what chose its host (the second connection goes to the same one).
///
/// A pooler answers `SHOW pool_mode` only on its admin console, so the check is behavioural:
/// a second connection asks for its backend, then `client` asks again. Through session
/// pooling or directly, each connection keeps its own backend: the second one's differs and
/// `client`'s does not change. Through transaction pooling the idle server session `client`
/// just released is handed to the second connection (PgBouncer reuses the most recently used
/// one first), or `client` gets another. When the second connection gets no answer within
/// [`PROBE_WAIT`] (a connection limit, a full session pool), nothing can be told and nothing
/// is refused.
pub(crate) fn refuse_transaction_pooling(
    client: &mut postgres::Client,
    env: &Environment,
    attrs: TargetSessionAttrs,
    session: &str,
) -> Result<()> {
    let Some(other_session) = other_server_session(env, attrs) else {
        return Ok(());
    };
    let again = server_session(client)?;
    if other_session != session && again == session {
        return Ok(());
    }
    let pid = |s: &str| s.split(' ').next().unwrap_or_default().to_string();
    let spec = &env.connection;
    let then = if again != session {
        &again
    } else {
        &other_session
    };
    Err(Error::invalid(format!(
        "{spec} goes through a pooler in transaction or statement pooling mode (server \
         session {} served this connection, then {}); nothing was run",
        pid(session),
        pid(then)
    ))
    .with_detail(
        "such a pooler hands each transaction to any server session: the migration lock and \
         session settings would not stay with this connection",
    )
    .with_help(format!(
        "connect to PostgreSQL directly, or through a pool in session mode (PgBouncer: \
         pool_mode = session), in {}",
        env.source()
    )))
}

/// The longest the pooler check waits for its second connection's answer: a session pool
/// with no free server session keeps the second client waiting (PgBouncer: up to
/// `query_wait_timeout`).
const PROBE_WAIT: Duration = Duration::from_secs(5);

/// The server session a second connection gets, or `None` when it cannot be told in time
/// (refused, a connection limit, a full session pool). The thread that asks is left behind
/// on a timeout; its connection closes when it gets an answer.
fn other_server_session(env: &Environment, attrs: TargetSessionAttrs) -> Option<String> {
    let wait = match env.migration.connect_timeout {
        timeout if timeout.is_zero() => PROBE_WAIT,
        timeout => timeout.min(PROBE_WAIT),
    };
    let env = env.clone();
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("confiture-pooler-check".to_string())
        .spawn(move || {
            let session = select(&env, attrs)
                .ok()
                .and_then(|mut other| server_session(&mut other).ok());
            let _ = tx.send(session);
        })
        .ok()?;
    rx.recv_timeout(wait).ok().flatten()
}

/// Which server session runs a statement: its process id and the server's start time (a
/// process id alone may repeat on another server of a multi-host list).
pub(crate) const SESSION_IDENTITY: &str = "pg_catalog.pg_backend_pid()::text || ' ' || \
     pg_catalog.date_part('epoch', pg_catalog.pg_postmaster_start_time())::text";

fn server_session(client: &mut postgres::Client) -> Result<String> {
    let messages = client
        .simple_query(&format!("SELECT {SESSION_IDENTITY}"))
        .map_err(|e| super::query_error("cannot read the server session's process id", e))?;
    Ok(messages
        .iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap_or_default())
}

fn open(env: &Environment) -> Result<postgres::Client, Failure> {
    match attempt(env, true) {
        Err(Failure::Driver(e)) if rejects_check_interval(&e) => attempt(env, false),
        other => other,
    }
}

enum Failure {
    Setup(Error),
    Driver(postgres::Error),
    TimedOut(Duration),
    /// The thread that connected died without an answer (a bug in the driver).
    Lost,
}

fn attempt(env: &Environment, check_interval: bool) -> Result<postgres::Client, Failure> {
    let spec = &env.connection;
    let mut config = postgres::Config::new();
    if spec.is_unix_socket() {
        config.host_path(&spec.host);
    } else {
        config.host(&spec.host);
    }
    config.port(spec.port).user(&spec.user).dbname(&spec.dbname);
    config.application_name(&env.application_name);
    if let Some(password) = &spec.password {
        config.password(password);
    }
    let options: Vec<&str> = check_interval
        .then_some(CHECK_INTERVAL_OPTION)
        .into_iter()
        .chain(spec.options.as_deref())
        .collect();
    if !options.is_empty() {
        config.options(&options.join(" "));
    }
    let timeout = env.migration.connect_timeout;
    if !timeout.is_zero() {
        config.connect_timeout(timeout);
    }
    // A network that silently drops every packet must not hang the CLI forever: keepalive
    // probes find the server gone while we wait for an answer (a busy server's kernel still
    // answers them, so a long migration is never cut), and TCP_USER_TIMEOUT while what we sent
    // stays unacknowledged. Either way the read fails and the run ends as a lost connection.
    config
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_INTERVAL)
        .keepalives_retries(KEEPALIVE_RETRIES)
        .tcp_user_timeout(TCP_USER_TIMEOUT);

    // PostgreSQL has no TLS over Unix sockets; libpq skips it there too.
    let tls_mode = match (spec.sslmode, spec.is_unix_socket()) {
        (SslMode::Disable, _) | (SslMode::Prefer, true) => None,
        (mode, true) => {
            return Err(Failure::Setup(
                Error::invalid(format!(
                    "sslmode={mode} cannot be used with the Unix socket in {}",
                    spec.host
                ))
                .with_help(format!(
                    "TLS runs over TCP only: name a TCP host, or use sslmode=prefer in {}",
                    env.source()
                )),
            ))
        }
        (SslMode::Prefer, false) => Some(postgres::config::SslMode::Prefer),
        (_, false) => Some(postgres::config::SslMode::Require),
    };
    let tls = match tls_mode {
        Some(mode) => {
            config.ssl_mode(mode);
            Some(super::tls::make_connect(spec).map_err(Failure::Setup)?)
        }
        None => {
            config.ssl_mode(postgres::config::SslMode::Disable);
            None
        }
    };

    let open = move || match tls {
        Some(tls) => config.connect(tls),
        None => config.connect(postgres::NoTls),
    };
    if timeout.is_zero() {
        return open().map_err(Failure::Driver);
    }
    // The driver cannot be interrupted, so it runs on a thread we stop waiting for. A late
    // success is dropped (closing the session) when the send finds nobody listening; a server
    // that never answers keeps the thread until it closes the socket.
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("confiture-connect".to_string())
        .spawn(move || {
            let _ = tx.send(open());
        });
    if let Err(e) = spawned {
        return Err(Failure::Setup(
            Error::connection("cannot start a thread to connect").with_cause(e),
        ));
    }
    match rx.recv_timeout(timeout) {
        Ok(result) => result.map_err(Failure::Driver),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Failure::TimedOut(timeout)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(Failure::Lost),
    }
}

/// The server, or a pooler in front of it, refused a startup parameter: PostgreSQL before 14
/// does not know `client_connection_check_interval` (42704, undefined_object), PgBouncer
/// refuses the `options` parameter (08P01, protocol_violation). Told by the SQLSTATE, never by
/// the wording; a refusal of the user's own `options` fails the same way on the retry.
fn rejects_check_interval(error: &postgres::Error) -> bool {
    error.code().is_some_and(|code| {
        *code == SqlState::UNDEFINED_OBJECT || *code == SqlState::PROTOCOL_VIOLATION
    })
}

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
fn explain(env: &Environment, failure: Failure) -> Error {
    let mut error = describe_failure(env, &failure);
    if *error.reason() == Reason::Other {
        error = error.with_reason(Reason::Database {
            database: env.connection.to_string(),
        });
    }
    if let Failure::Driver(driver) = failure {
        // Shown as the scrubbed text already in `cause`; kept whole for callers.
        error.set_source(driver);
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

fn describe_failure(env: &Environment, failure: &Failure) -> Error {
    let spec = &env.connection;
    let source = env.source();
    let error = match failure {
        Failure::Setup(error) => return error.clone(),
        Failure::Lost => {
            return Error::connection(format!(
                "cannot connect to {spec}: the connection attempt failed"
            ))
        }
        Failure::TimedOut(timeout) => {
            return Error::connection(format!(
                "cannot connect to {spec}: no answer within {}",
                seconds(*timeout)
            ))
            .with_help(format!(
                "check that the server is reachable from here; if the network is slow, raise \
                 migration.connect_timeout (or connect_timeout in the URL) in {source}"
            ))
        }
        Failure::Driver(error) => error,
    };
    let cause = driver_text(spec, error);
    let with_cause = |e: Error| e.with_cause(&cause);

    if let Some(db) = error.as_db_error() {
        let code = db.code();
        let explained = if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            && is_unencrypted_hba_refusal(db.message())
        {
            // Not a wrong password: pg_hba.conf only lets this host in over TLS.
            let mode = spec.sslmode;
            let what = if db.message().starts_with("no pg_hba.conf entry") {
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
            Error::connection(what).with_help(unencrypted_refusal_help(mode, &source))
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
                "check the user and password in {source}; the server's pg_hba.conf decides who may \
                 connect from where"
            ))
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            Error::connection(format!(
                "database \"{}\" does not exist (connecting as {spec})",
                spec.dbname
            ))
            .with_help(format!(
                "create it ({} does, or \
                 createdb -h {} -p {} -U {} {}), or fix the database name in {source}",
                crate::hint::command("migrate up --create-database"),
                spec.host,
                spec.port,
                spec.user,
                spec.dbname
            ))
        } else if *code == SqlState::TOO_MANY_CONNECTIONS {
            too_many_connections(spec, connection_limit(db.message()))
        } else if *code == SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE
            && db
                .message()
                .ends_with("is not currently accepting connections")
        {
            Error::connection(format!(
                "database \"{}\" does not accept connections (refused {spec})",
                spec.dbname
            ))
            .with_help(format!(
                "a superuser can open it with `ALTER DATABASE {} ALLOW_CONNECTIONS true`; \
                 or name another database in {source}",
                quote_ident(&spec.dbname)
            ))
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            Error::connection(format!(
                "the server refused {spec}: {}",
                spec.scrub(db.message())
            ))
            .with_help(format!(
                "the database's owner or a superuser can run `GRANT CONNECT ON DATABASE {} TO {}`; \
                 or connect as another user in {source}",
                quote_ident(&spec.dbname),
                quote_ident(&spec.user)
            ))
        } else if *code == SqlState::CANNOT_CONNECT_NOW {
            Error::connection(format!(
                "the server is starting up or shutting down (connecting as {spec})"
            ))
            .with_help("retry in a few seconds")
        } else {
            Error::connection(format!(
                "the server refused {spec}: {}",
                spec.scrub(db.message())
            ))
            .with_help(format!("check the connection settings in {source}"))
        };
        return with_cause(explained);
    }

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
            return with_cause(client_certificate_refused(
                env,
                &format!("TLS alert {alert:?}"),
            ));
        }
    }
    let top = error.to_string();
    if top.starts_with("error performing TLS handshake") {
        return with_cause(explain_tls(env, error, &cause));
    }
    if top.starts_with("authentication error") {
        let explained = if cause.contains("password missing") {
            Error::connection(format!(
                "the server asks for a password for {spec}, and none is configured"
            ))
            .with_help(format!("add the password to the database URL in {source}"))
        } else {
            Error::connection(format!("authentication failed for {spec}"))
                .with_help(format!("check the user and password in {source}"))
        };
        return with_cause(explained);
    }
    if let Some(io) = find_in_chain::<std::io::Error>(error) {
        use std::io::ErrorKind as Io;
        let explained = match io.kind() {
            Io::ConnectionRefused => Error::connection(format!(
                "connection refused (connecting as {spec})"
            ))
            .with_help(format!(
                "is PostgreSQL running and listening on that host and port? check them in {source}"
            )),
            Io::TimedOut => Error::connection(format!(
                "cannot connect to {spec}: no answer within {}",
                seconds(env.migration.connect_timeout)
            ))
            .with_help(format!(
                "check that the server is reachable from here (firewall, VPN, host name); if the \
                 network is slow, raise migration.connect_timeout in {source}"
            )),
            Io::NotFound if spec.is_unix_socket() => Error::connection(format!(
                "no PostgreSQL socket for that directory and port (connecting as {spec})"
            ))
            .with_help(format!(
                "is PostgreSQL running? check the socket directory and port in {source}"
            )),
            _ if cause.contains("lookup address") || cause.contains("resolve") => {
                Error::connection(format!(
                    "cannot resolve the host name (connecting as {spec})"
                ))
                .with_help(format!("check the host name in {source}"))
            }
            _ => Error::connection(format!("cannot connect to {spec}"))
                .with_help(format!("check the connection settings in {source}")),
        };
        return with_cause(explained);
    }
    with_cause(
        Error::connection(format!("cannot connect to {spec}"))
            .with_help(format!("check the connection settings in {source}")),
    )
}

fn explain_tls(env: &Environment, error: &postgres::Error, cause: &str) -> Error {
    use rustls::CertificateError as Cert;
    let spec = &env.connection;
    let source = env.source();
    let mode = spec.sslmode;
    let roots = match &spec.sslrootcert {
        Some(path) => format!("sslrootcert {}", path.display()),
        None => "the webpki (Mozilla) roots".to_string(),
    };
    if cause.contains("server does not support TLS") {
        return Error::connection(format!(
            "the server does not offer TLS, and sslmode={mode} requires it (connecting as {spec})"
        ))
        .with_help(format!(
            "enable ssl on the server, or use sslmode=prefer or disable in {source}"
        ));
    }
    let certificate = find_in_chain::<rustls::Error>(error).and_then(|e| match e {
        rustls::Error::InvalidCertificate(c) => Some(c),
        _ => None,
    });
    match certificate {
        Some(Cert::NotValidForName | Cert::NotValidForNameContext { .. }) => Error::connection(format!(
            "the server's TLS certificate is not valid for the host name connected to (sslmode={mode}, connecting as {spec})"
        ))
        .with_help(format!(
            "connect with the host name the certificate names (see its subject alternative names), \
             or use sslmode=verify-ca to check the chain only, in {source}"
        )),
        Some(Cert::UnknownIssuer | Cert::BadSignature) => {
            // With prefer or require, only a sslrootcert makes the chain checked (as in
            // libpq): suggesting sslmode=require there would change nothing.
            let without_verifying = match mode {
                SslMode::Prefer | SslMode::Require => {
                    "remove sslrootcert to encrypt without verifying the certificate"
                }
                _ => "use sslmode=require without sslrootcert to encrypt without verifying",
            };
            Error::connection(format!(
                "the server's TLS certificate is not signed by a trusted root (sslmode={mode}, \
                 checked against {roots}; connecting as {spec})"
            ))
            .with_help(format!(
                "set sslrootcert to the CA certificate that signed the server's certificate, or \
                 {without_verifying}, in {source}"
            ))
        }
        Some(Cert::Expired | Cert::ExpiredContext { .. }) => Error::connection(format!(
            "the server's TLS certificate has expired (connecting as {spec})"
        ))
        .with_help("renew the server's certificate"),
        Some(Cert::NotValidYet | Cert::NotValidYetContext { .. }) => Error::connection(format!(
            "the server's TLS certificate is not valid yet (connecting as {spec})"
        ))
        .with_help("check the clocks of this machine and the server"),
        Some(_) => Error::connection(format!(
            "the server's TLS certificate was rejected (sslmode={mode}, connecting as {spec})"
        ))
        .with_help(format!("check the server's certificate and sslrootcert in {source}")),
        None => Error::connection(format!(
            "the TLS handshake failed (sslmode={mode}, connecting as {spec})"
        ))
        .with_help(format!(
            "check the server's TLS setup, or the sslmode in {source}"
        )),
    }
}

/// The server did not accept our client certificate (or wanted one and got none).
fn client_certificate_refused(env: &Environment, reason: &str) -> Error {
    let spec = &env.connection;
    let source = env.source();
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
            cert.display()
        ))
        .with_detail(spec.scrub(reason))
        .with_help(format!(
            "the certificate must be signed by a CA in the server's ssl_ca_file, be valid now, \
             and (clientcert=verify-full) name the user \"{}\" as its common name; check \
             sslcert and sslkey in {source}",
            spec.user
        )),
    }
}

/// What to do when pg_hba.conf refused a connection for being unencrypted: with `prefer` the
/// server did not offer TLS (prefer would have used it), so no sslmode helps.
fn unencrypted_refusal_help(mode: SslMode, source: &str) -> String {
    match mode {
        SslMode::Disable => format!(
            "use sslmode=require, or verify-full with sslrootcert naming the server's CA, in \
             {source}"
        ),
        _ => "the server does not offer TLS (sslmode=prefer would have used it): enable ssl on \
              the server, or add a pg_hba.conf entry that admits this host without TLS"
            .to_string(),
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
    let db = quote_ident(&spec.dbname);
    let role = quote_ident(&spec.user);
    match limit {
        ConnectionLimit::Database => Error::connection(format!(
            "database \"{}\" allows no more connections (refused {spec}): its CONNECTION LIMIT \
             is reached",
            spec.dbname
        ))
        .with_help(format!(
            "retry when its other sessions end, or raise the limit: `ALTER DATABASE {db} \
             CONNECTION LIMIT 20` (-1 for none; see `SELECT datconnlimit FROM pg_database`)"
        )),
        ConnectionLimit::Role => Error::connection(format!(
            "role \"{}\" allows no more connections (refused {spec}): its CONNECTION LIMIT is \
             reached",
            spec.user
        ))
        .with_help(format!(
            "retry when its other sessions end, or raise the limit: `ALTER ROLE {role} \
             CONNECTION LIMIT 20` (-1 for none; see `SELECT rolconnlimit FROM pg_roles`)"
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

/// `name` as an SQL identifier, for statements the help suggests.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Whether the server refused a connection because it was not encrypted: PostgreSQL 12+ ends
/// its pg_hba.conf refusals with `no encryption` (older servers: `SSL off`).
fn is_unencrypted_hba_refusal(message: &str) -> bool {
    (message.starts_with("pg_hba.conf rejects connection")
        || message.starts_with("no pg_hba.conf entry"))
        && (message.ends_with("no encryption") || message.ends_with("SSL off"))
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

    #[test]
    fn an_unencrypted_refusal_suggests_tls_only_when_it_was_off() {
        assert!(unencrypted_refusal_help(SslMode::Disable, "x").contains("sslmode=require"));
        let help = unencrypted_refusal_help(SslMode::Prefer, "x");
        assert!(!help.contains("sslmode=require"), "{help}");
        assert!(help.contains("enable ssl on the server"), "{help}");
    }

    #[test]
    fn pg_hba_refusals_of_unencrypted_connections_are_recognised() {
        for message in [
            r#"pg_hba.conf rejects connection for host "127.0.0.1", user "app", database "app", no encryption"#,
            r#"no pg_hba.conf entry for host "10.0.0.7", user "app", database "app", no encryption"#,
            r#"no pg_hba.conf entry for host "10.0.0.7", user "app", database "app", SSL off"#,
        ] {
            assert!(is_unencrypted_hba_refusal(message), "{message}");
        }
        for message in [
            r#"pg_hba.conf rejects connection for host "127.0.0.1", user "app", database "app", SSL encryption"#,
            r#"password authentication failed for user "app""#,
            r#"role "app" does not exist"#,
        ] {
            assert!(!is_unencrypted_hba_refusal(message), "{message}");
        }
    }
}
