//! Which database a session reached, as the server says: what tells two spellings of one
//! database apart from two databases (`127.0.0.1` and `localhost`, a host name and its
//! address, a name on the environment's server and a URL to it). A fleet refuses a target
//! that reached the same database as another ([`crate::fleet`]).

use postgres::error::SqlState;

/// One database of one running server. Equal for two sessions exactly when they reached the
/// same database, whatever host, address, port spelling or user they came by; readable by any
/// role that can connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct DatabaseIdentity {
    /// The cluster's `system_identifier` (set by `initdb`), empty when the role may not read
    /// `pg_control_system()` (an administrator can revoke it): a copy of a cluster
    /// (`pg_basebackup`) shares it, so it is never the identity alone.
    system_identifier: String,
    /// When the server started, in microseconds: tells a copy apart from its original, and
    /// the rest apart from any other server.
    started: String,
    /// The server's `port` setting: a second server started at the same moment on the same
    /// machine listens on another.
    port: String,
    /// The database's OID on that server, and its name.
    database: String,
}

/// The server's own view of the session: nothing in it depends on the session's settings
/// (`DateStyle`, `TimeZone`, `extra_float_digits`, `search_path`), so two sessions of one
/// database read the same text.
const IDENTITY_SQL: &str = "SELECT \
     (SELECT c.system_identifier FROM pg_catalog.pg_control_system() c)::pg_catalog.text, \
     (pg_catalog.date_part('epoch', pg_catalog.pg_postmaster_start_time()) OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8::pg_catalog.text, \
     pg_catalog.current_setting('port'), \
     (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())::pg_catalog.text \
       OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) pg_catalog.current_database()";

/// [`IDENTITY_SQL`] for a role that may not call `pg_control_system()` (or a server without it).
fn without_system_identifier() -> String {
    IDENTITY_SQL.replacen(
        "(SELECT c.system_identifier FROM pg_catalog.pg_control_system() c)::pg_catalog.text",
        "''",
        1,
    )
}

/// The identity of the database `client` is connected to: one round trip (two when the role
/// may not read the cluster's identifier).
pub(crate) fn of(client: &mut postgres::Client) -> crate::Result<DatabaseIdentity> {
    let what = "cannot read which database this session reached";
    // Each under the tool's own reads' bounds, in a transaction of its own: the first one's
    // refusal ends its own.
    let read = |client: &mut postgres::Client, sql: &str| {
        super::own_read(client, |tx| tx.query_one(sql, &[]))
    };
    let row = match read(client, IDENTITY_SQL) {
        // Revoked by an administrator, or absent from a server that is not quite PostgreSQL.
        Err(e)
            if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE)
                || e.code() == Some(&SqlState::UNDEFINED_FUNCTION) =>
        {
            read(client, &without_system_identifier()).map_err(|e| super::query_error(what, e))?
        }
        row => row.map_err(|e| super::query_error(what, e))?,
    };
    let text = |i: usize| -> String { row.get::<_, Option<String>>(i).unwrap_or_default() };
    Ok(DatabaseIdentity {
        system_identifier: text(0),
        started: text(1),
        port: text(2),
        database: text(3),
    })
}

/// The identity the database `name`, which does not exist, is given on the server `client` is
/// connected to (a maintenance database's session, [`super::maintenance_session`]): the
/// server's, and the name without an OID. Two spellings of the server of one missing database
/// get the same one, and it never equals an existing database's: what a dry run of
/// `--create-database` claims for the database it would create.
pub(crate) fn of_missing(
    client: &mut postgres::Client,
    name: &str,
) -> crate::Result<DatabaseIdentity> {
    Ok(of(client)?.named_missing(name))
}

impl DatabaseIdentity {
    /// The identity [`of_missing`] gave this database before it existed: what a fleet target
    /// creating it claimed, so that another target reaching it once created is told apart
    /// from one reaching a database no target of the run created.
    pub(crate) fn while_missing(&self) -> DatabaseIdentity {
        // `database` is the OID, a space, then the name (which may hold spaces).
        let name = self.database.split_once(' ').map_or("", |(_, name)| name);
        self.named_missing(name)
    }

    /// The database `name`, missing, on this identity's server.
    fn named_missing(&self, name: &str) -> DatabaseIdentity {
        DatabaseIdentity {
            database: format!("- {name}"),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database found is known as what [`of_missing`] claimed before it existed: its server's
    /// and its whole name (one with spaces too), never its OID's; a missing one stays itself.
    #[test]
    fn a_database_found_is_known_as_it_was_claimed_missing() {
        let server = |database: &str| DatabaseIdentity {
            system_identifier: "7301".to_string(),
            started: "1765000000000000".to_string(),
            port: "5432".to_string(),
            database: database.to_string(),
        };
        for name in ["app", "my app db", "a-b"] {
            let found = server(&format!("16384 {name}"));
            let claimed = server("0 x").named_missing(name);
            assert_eq!(found.while_missing(), claimed, "{name}");
            assert_eq!(claimed.while_missing(), claimed, "{name}");
            assert_ne!(found, claimed, "{name}");
        }
        let other_port = DatabaseIdentity {
            port: "5433".to_string(),
            ..server("16384 app")
        };
        assert_ne!(
            other_port.while_missing(),
            server("0 x").named_missing("app")
        );
    }
}
