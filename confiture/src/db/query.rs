//! The user's own query (`--targets-query`, `--schemas-query`, a `fleet:` block's
//! `targets_query`/`schemas_query`): sent as written, in a `READ ONLY` transaction that is
//! always rolled back (never waiting for a safe snapshot: `settings::read_only_transaction`), its one column read as text. What the values mean is the caller's
//! (`fleet::query`); this only runs the query and says how it failed, as data.
//!
//! The query is bounded as a ledger read is: it waits at most the environment's
//! `lock_timeout` for a lock another session holds (the ledger read's
//! [`super::ledger::DEFAULT_WAIT`] when that is zero, "no limit" for migration SQL: a list
//! query never waits forever) — in slices ([`super::lock::ServerWait`]), given up at once
//! when a prepared transaction holds a lock in its way —, and runs at most the environment's
//! `statement_timeout`, else the connection's, role's or database's, as migration SQL does
//! (its session keeps it: `Need::UserQuery`); the tool's own statements around it run
//! without one.

use std::time::Duration;

use postgres::error::SqlState;

use crate::config::Environment;
use crate::db::lock::LockHolder;
use crate::error::Error;

/// Why [`read_only_column`] returned no values.
#[derive(Debug)]
pub(crate) enum ColumnError {
    /// Connecting failed, or the connection was lost: a complete error, to pass on.
    Connection(Error),
    /// The server says the database does not exist (SQLSTATE 3D000): what creates it
    /// depends on what the query reads there, which the caller knows.
    MissingDatabase,
    /// The server refused the query (or the transaction around it): the driver's error, and
    /// its text to show (the server's message with the SQLSTATE, the password scrubbed).
    Refused {
        error: postgres::Error,
        shown: String,
    },
    /// The query returns this many columns, not one.
    Columns(usize),
    /// The column is not text: its type's name.
    NotText(String),
    /// The query waited for a lock another session holds on a relation it reads, and gave
    /// up (`how`: `waited 30s`, or `not waited for` a prepared transaction,
    /// [`super::lock::ServerWait::how`]): the sessions holding an `ACCESS EXCLUSIVE` lock in
    /// the database then (the server does not say which relation;
    /// [`super::lock::read_lock_holders`]), maybe none any more.
    Locked {
        how: String,
        holders: Vec<LockHolder>,
    },
}

/// The most holders a [`ColumnError::Locked`] names.
const MAX_HOLDERS: usize = 5;

/// How long the query waits for a lock held by another session: the environment's
/// `lock_timeout`, or [`super::ledger::DEFAULT_WAIT`] when that is zero.
pub(crate) fn lock_wait(env: &Environment) -> Duration {
    match env.migration.lock_timeout {
        wait if wait.is_zero() => super::ledger::DEFAULT_WAIT,
        wait => wait,
    }
}

/// What [`read_only_column`] read.
#[derive(Debug)]
pub(crate) struct Column {
    /// The one column, row by row (`None` for NULL).
    pub(crate) values: Vec<Option<String>>,
    /// How the same session resolves names ([`super::ledger::resolve_session`]): the
    /// tracking table asked for and the schemas of its `search_path`, when one was asked for.
    pub(crate) names: Option<super::ledger::SessionNames>,
}

/// Runs `sql` on `env`'s database in a read-only transaction, rolled back whatever the query
/// calls, and returns its one column, row by row (`None` for NULL). `label` names the query
/// in the message of a lost connection (`the targets query`). With `ledger`, where that
/// tracking table is in this database and the schemas of the `search_path`, as a session of
/// `env` resolves them (asked before the query runs, which may change the transaction's
/// `search_path`). Without `sql` (`--schema NAME` alone: no list to read), only that is
/// asked, and no value is returned.
pub(crate) fn read_only_column(
    env: &Environment,
    sql: Option<&str>,
    label: &str,
    ledger: Option<&crate::ledger::TrackingTable>,
) -> Result<Column, ColumnError> {
    // A session that keeps the user's `statement_timeout`: the query is theirs.
    let session = super::connect::open_session_if_exists(env, super::connect::Need::UserQuery);
    let mut client = match session {
        Ok(Some(session)) => session.client,
        Ok(None) => return Err(ColumnError::MissingDatabase),
        Err(e) => return Err(ColumnError::Connection(e)),
    };
    let spec = &env.connection;
    let failed = |e: postgres::Error| -> ColumnError {
        if super::is_connection_lost(&e) {
            let what = format!("the connection was lost while running {label}");
            return ColumnError::Connection(super::query_error(&what, e));
        }
        let shown = spec.scrub(&super::cause_text(&e));
        ColumnError::Refused { error: e, shown }
    };
    // The lock wait in slices ([`super::lock::ServerWait`]), each attempt a transaction of
    // its own: the query only reads, and is rolled back anyway.
    let mut lock_wait = super::lock::ServerWait::new(lock_wait(env));
    let (rows, names) = loop {
        let mut tx = super::settings::read_only_transaction(&mut client).map_err(failed)?;
        // `SET LOCAL`: the bounds end with the transaction, which is always rolled back. Ours
        // first: no `statement_timeout` for the tool's own statements.
        let bounds = format!(
            "{} SET LOCAL lock_timeout = '{}ms'",
            super::own_read_bounds(),
            lock_wait.slice_ms()
        );
        tx.batch_execute(&bounds).map_err(failed)?;
        let names = match ledger {
            Some(table) => Some(super::ledger::resolve_session(&mut tx, table).map_err(failed)?),
            None => None,
        };
        let Some(sql) = sql else {
            return Ok(Column {
                values: Vec::new(),
                names,
            });
        };
        // The user's query runs under the user's `statement_timeout`: the environment's, else
        // the connection's, role's or database's (`TO DEFAULT`, as `RESET`), as migration SQL.
        let user_bound = match env.migration.statement_timeout {
            Some(limit) => format!(
                "SET LOCAL statement_timeout = '{}ms'",
                limit.as_millis().clamp(1, i32::MAX as u128)
            ),
            None => "SET LOCAL statement_timeout TO DEFAULT".to_string(),
        };
        tx.batch_execute(&user_bound).map_err(failed)?;
        // Parsing the query locks the relations it reads: a lock held elsewhere is met here or
        // when it runs.
        let ran = tx
            .prepare(sql)
            .and_then(|statement| match statement.columns().len() {
                1 => tx.query(&statement, &[]).map(Ok),
                columns => Ok(Err(columns)),
            });
        // Dropping the transaction rolls it back: the query never writes, whatever it calls.
        drop(tx);
        match ran {
            Ok(Ok(rows)) => break (rows, names),
            Ok(Err(columns)) => return Err(ColumnError::Columns(columns)),
            Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                // Found after the rollback, in the same session: no lock of ours is left to see.
                let holders = super::lock::read_lock_holders(&mut client, None, MAX_HOLDERS)
                    .unwrap_or_default();
                if !lock_wait.again(&holders) {
                    let how = lock_wait.how(&holders);
                    return Err(ColumnError::Locked { how, holders });
                }
            }
            Err(e) => return Err(failed(e)),
        }
    };
    let values = rows
        .iter()
        .map(|row| {
            row.try_get::<_, Option<String>>(0)
                .map_err(|_| ColumnError::NotText(row.columns()[0].type_().to_string()))
        })
        .collect::<Result<_, _>>()?;
    Ok(Column { values, names })
}
