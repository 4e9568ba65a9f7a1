//! The only module that talks to PostgreSQL: connecting (with TLS), reading and writing the
//! ledger, the advisory lock, running migration SQL, and reading schema snapshots.

pub mod apply;
pub(crate) mod backoff;
pub mod connect;
pub mod ledger;
pub mod lock;
pub mod snapshot;
mod tls;
pub mod writable;

pub use connect::connect;

use crate::error::Error;

/// Whether an error means the session is gone (socket closed, backend terminated, server
/// shutting down) rather than a statement failing inside a live session.
pub(crate) fn is_connection_lost(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.as_db_error() {
        // FATAL/PANIC end the session; class 08 is connection exception, 57P0x operator intervention.
        Some(db) => {
            let code = db.code().code();
            matches!(db.severity(), "FATAL" | "PANIC")
                || code.starts_with("08")
                || matches!(code, "57P01" | "57P02" | "57P03")
        }
        // Not a server error: an IO or protocol error on the socket.
        None => true,
    }
}

/// An error from one of our own queries (not migration SQL): the session is gone, or the
/// server refused a catalog query — either way, a connection-level problem (exit 3).
pub(crate) fn query_error(what: &str, e: postgres::Error) -> Error {
    let cause = match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    Error::connection(what.to_string()).with_cause(cause)
}

/// Creates the environment's database when it does not exist, connecting to the `postgres`
/// maintenance database with the same credentials (as dbmate does). Two runners creating it at
/// once is fine: the loser's `duplicate_database` is ignored.
pub fn create_database(env: &crate::config::Environment) -> crate::Result<()> {
    let name = env.connection.dbname.clone();
    let mut maintenance = env.clone();
    maintenance.connection.dbname = "postgres".to_string();
    let mut client = crate::db::connect(&maintenance)?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .map_err(|e| crate::db::query_error("cannot list databases", e))?
        .is_some();
    if exists {
        return Ok(());
    }
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match client.batch_execute(&format!("CREATE DATABASE {quoted}")) {
        Ok(()) => Ok(()),
        // 42P04: created by a concurrent runner; 23505: the same race seen on the catalog index.
        Err(e) if matches!(e.code().map(|c| c.code()), Some("42P04" | "23505")) => Ok(()),
        Err(e) => Err(crate::db::query_error(
            &format!("cannot create database {quoted} on {}", env.connection),
            e,
        )
        .with_help("create it by hand, or grant this role CREATEDB")),
    }
}
