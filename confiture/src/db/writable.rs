//! Refusing a database that cannot be written before anything is tried: a standby in recovery
//! (`pg_is_in_recovery()`), or a database whose sessions start read-only
//! (`default_transaction_read_only`, set for the database, the role or the server). Without
//! this, `up` would fail on its first write with a message about that statement, possibly after
//! waiting for the lock. The check shares its round trip with the lock's `current_database()`.

use postgres::{Client, SimpleQueryMessage};

use super::query_error;
use crate::config::Environment;
use crate::error::{Error, Result};

/// What the check needs to name the database in its error, taken from the environment before
/// the connection is borrowed.
#[derive(Debug, Clone)]
pub struct Target {
    /// `user@host:port/db`, never a password.
    pub connection: String,
    /// Where the connection settings come from (`environment file ...`, `--database-url`).
    pub source: String,
    /// The tenant schema whose migration lock the run takes (`MigrationSettings::tenant_schema`).
    pub tenant_schema: Option<String>,
}

impl Target {
    pub fn of(env: &Environment) -> Target {
        Target {
            connection: env.connection.to_string(),
            source: env.source(),
            tenant_schema: env.migration.tenant_schema.clone(),
        }
    }
}

/// The session's `current_database()`, after checking that the session can write (exit 3 if
/// not, naming the database).
pub fn check(client: &mut Client, target: &Target) -> Result<String> {
    let messages = client
        .simple_query(
            "SELECT pg_catalog.current_database(), pg_catalog.pg_is_in_recovery(), \
             pg_catalog.current_setting('transaction_read_only')",
        )
        .map_err(|e| query_error("cannot read the session's state", e))?;
    let row = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    let column = |i: usize| row.and_then(|r| r.get(i)).unwrap_or_default();
    let database = column(0).to_string();
    let Target {
        connection, source, ..
    } = target;
    if column(1) == "t" {
        return Err(Error::connection(format!(
            "database {connection} is a standby server in recovery (read-only); nothing was run"
        ))
        .with_help(format!(
            "migrations run on the primary: point {source} at the primary server (after a \
             failover, at the promoted one)"
        )));
    }
    if column(2) == "on" {
        return Err(Error::connection(format!(
            "database {connection} is read-only (transaction_read_only is on); nothing was run"
        ))
        .with_help(format!(
            "migrations need a writable primary: check the host in {source}; if the database was \
             made read-only on purpose (default_transaction_read_only for the database, the role \
             or the server), turn it off first, e.g. ALTER DATABASE \"{database}\" SET \
             default_transaction_read_only = off"
        )));
    }
    Ok(database)
}
