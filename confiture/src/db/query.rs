//! The user's own query (`--targets-query`, `--schemas-query`, a `fleet:` block's
//! `targets_query`/`schemas_query`): sent as written, in a `READ ONLY` transaction that is
//! always rolled back, its one column read as text. What the values mean is the caller's
//! (`fleet::query`); this only runs the query and says how it failed, as data.

use crate::config::Environment;
use crate::error::Error;

/// Why [`read_only_column`] returned no values.
#[derive(Debug)]
pub(crate) enum ColumnError {
    /// Connecting failed, or the connection was lost: a complete error, to pass on.
    Connection(Error),
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
}

/// Runs `sql` on `env`'s database in a read-only transaction, rolled back whatever the query
/// calls, and returns its one column, row by row (`None` for NULL). `label` names the query
/// in the message of a lost connection (`the targets query`).
pub(crate) fn read_only_column(
    env: &Environment,
    sql: &str,
    label: &str,
) -> Result<Vec<Option<String>>, ColumnError> {
    let mut client = super::connect(env).map_err(ColumnError::Connection)?;
    let spec = &env.connection;
    let failed = |e: postgres::Error| -> ColumnError {
        if super::is_connection_lost(&e) {
            let what = format!("the connection was lost while running {label}");
            return ColumnError::Connection(super::query_error(&what, e));
        }
        let shown = spec.scrub(&super::cause_text(&e));
        ColumnError::Refused { error: e, shown }
    };
    let mut tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .map_err(failed)?;
    let statement = tx.prepare(sql).map_err(failed)?;
    if statement.columns().len() != 1 {
        return Err(ColumnError::Columns(statement.columns().len()));
    }
    let rows = tx.query(&statement, &[]).map_err(failed)?;
    // Dropping the transaction rolls it back: the query never writes, whatever it calls.
    drop(tx);
    rows.iter()
        .map(|row| {
            row.try_get::<_, Option<String>>(0)
                .map_err(|_| ColumnError::NotText(row.columns()[0].type_().to_string()))
        })
        .collect()
}
