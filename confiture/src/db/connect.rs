//! Opening a connection to the environment's database: TLS by sslmode, `application_name` and
//! `client_connection_check_interval` in the startup packet, a connect timeout that covers the
//! whole exchange, and one clear message per way of failing (exit 3), without the password.

use std::error::Error as _;
use std::sync::mpsc;
use std::time::Duration;

use postgres::error::SqlState;

use crate::config::{ConnectionSpec, Environment, SslMode};
use crate::error::{Error, Result};

/// Set in the startup packet so that the server notices a killed client within a second and
/// stops its query (PostgreSQL 14+). Sent as `options`, which costs no extra round trip.
const CHECK_INTERVAL_OPTION: &str = "-c client_connection_check_interval=1000";

/// Connects to `env`'s database.
///
/// `migration.connect_timeout` bounds everything up to a usable session — name lookup, TCP,
/// TLS and authentication — as libpq's `connect_timeout` does (the driver alone bounds only
/// the TCP connect). A server older than 14, or a pooler that rejects `options`, is retried
/// once without `client_connection_check_interval`.
pub fn connect(env: &Environment) -> Result<postgres::Client> {
    match attempt(env, true) {
        Err(Failure::Driver(e)) if rejects_check_interval(&e) => {
            attempt(env, false).map_err(|failure| explain(env, failure))
        }
        other => other.map_err(|failure| explain(env, failure)),
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

fn rejects_check_interval(error: &postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        db.message().contains("client_connection_check_interval")
            || db.message().contains("unsupported startup parameter")
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

fn explain(env: &Environment, failure: Failure) -> Error {
    let spec = &env.connection;
    let source = env.source();
    let error = match failure {
        Failure::Setup(error) => return error,
        Failure::Lost => {
            return Error::connection(format!(
                "cannot connect to {spec}: the connection attempt failed"
            ))
        }
        Failure::TimedOut(timeout) => {
            return Error::connection(format!(
                "cannot connect to {spec}: no answer within {}",
                seconds(timeout)
            ))
            .with_help(format!(
                "check that the server is reachable from here; if the network is slow, raise \
                 migration.connect_timeout (or connect_timeout in the URL) in {source}"
            ))
        }
        Failure::Driver(error) => error,
    };
    let cause = driver_text(spec, &error);
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
            Error::connection(what).with_help(format!(
                "use sslmode=require, or verify-full with sslrootcert naming the server's CA, in \
                 {source}"
            ))
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
            Error::connection(format!("the server refused {spec}: too many connections"))
                .with_help("retry later, or raise max_connections on the server")
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

    let top = error.to_string();
    if top.starts_with("error performing TLS handshake") {
        return with_cause(explain_tls(env, &error, &cause));
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
    if let Some(io) = find_in_chain::<std::io::Error>(&error) {
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
            Error::connection(format!(
                "the server's TLS certificate is not signed by a trusted root (sslmode={mode}, \
                 checked against {roots}; connecting as {spec})"
            ))
            .with_help(format!(
                "set sslrootcert to the CA certificate that signed the server's certificate, or \
                 use sslmode=require to encrypt without verifying, in {source}"
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
