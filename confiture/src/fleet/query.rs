//! The target list read from the environment's own database: one query, in a read-only
//! transaction that is always rolled back, returning one column of URLs or database names.
//!
//! This is the one place outside `crate::db` that sends SQL, and it sends only the caller's
//! query: a connection from [`crate::db::connect`], a `READ ONLY` transaction, rows read as
//! text. (It belongs in `db/`; it lives here while `db/` is rewritten, see ARCHITECTURE.md.)

use crate::config::Environment;
use crate::error::{Error, Result};

use super::targets::{collect, collect_schemas, Target};

/// How the list is named in errors: `the targets query, row 3`.
const LIST: &str = "the targets query";

/// Runs `sql` on `base`'s database and resolves each row as a target (see
/// `fleet::targets`): a URL or conninfo, else a database name on `base`'s server. A row
/// that is NULL or blank is an error naming the row (a `LEFT JOIN` that lost a tenant's
/// database must not skip the tenant silently), as is a column that is not text.
pub fn query_targets(base: &Environment, sql: &str) -> Result<Vec<Target>> {
    let values = rows(base, sql, LIST, "database names or postgresql:// URLs")?;
    collect(
        base,
        values.iter().map(|(v, source)| (v.trim(), source.clone())),
        LIST,
    )
}

/// How the schema list is named in errors: `the schemas query, row 3`.
const SCHEMAS: &str = "the schemas query";

/// Runs `sql` on `base`'s database, as [`query_targets`] does, and makes each row a tenant
/// schema of that database ([`Target::schema`]): names taken as written, each once.
pub fn query_schemas(base: &Environment, sql: &str) -> Result<Vec<Target>> {
    let values = rows(base, sql, SCHEMAS, "schema names")?;
    collect_schemas(
        base,
        values
            .iter()
            .map(|(v, source)| (v.as_str(), source.clone())),
        SCHEMAS,
    )
}

/// The query's one text column, each value with its `LIST, row N`; NULL, blank and non-text
/// values are refused, all named at once. `what` says what the rows should be.
fn rows(base: &Environment, sql: &str, list: &str, what: &str) -> Result<Vec<(String, String)>> {
    let mut client = crate::db::connect(base)?;
    let spec = &base.connection;
    let failed = |e: postgres::Error| -> Error {
        if crate::db::is_connection_lost(&e) {
            return crate::db::query_error(
                "the connection was lost while running the targets query",
                e,
            );
        }
        let cause = match e.as_db_error() {
            Some(db) => format!(
                "{} (SQLSTATE {})",
                spec.scrub(db.message()),
                db.code().code()
            ),
            None => spec.scrub(&e.to_string()),
        };
        Error::invalid(format!("{list} failed on {spec}"))
            .with_cause(cause)
            .with_help(format!("the query runs read-only on the environment's database and returns one column: {what}"))
    };
    let mut tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .map_err(failed)?;
    let statement = tx.prepare(sql).map_err(failed)?;
    let columns = statement.columns();
    if columns.len() != 1 {
        return Err(
            Error::invalid(format!("{list} returns {} columns, not one", columns.len()))
                .with_help(format!("select one column of {what}")),
        );
    }
    let rows = tx.query(&statement, &[]).map_err(failed)?;
    // Dropping the transaction rolls it back: the query never writes, whatever it calls.
    drop(tx);
    let mut values = Vec::with_capacity(rows.len());
    let mut problems = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match row.try_get::<_, Option<String>>(0) {
            Ok(Some(value)) if value.trim().is_empty() || value.trim().starts_with('#') => {
                problems.push(format!("row {} is {value:?}, not a target", i + 1));
            }
            Ok(Some(value)) => values.push((value, format!("{list}, row {}", i + 1))),
            Ok(None) => problems.push(format!("row {} is NULL", i + 1)),
            Err(_) => {
                problems.push(format!(
                    "its column is of type {}, not text",
                    row.columns()[0].type_()
                ));
                break;
            }
        }
    }
    if !problems.is_empty() {
        let mut error = Error::invalid(format!("{list} returns values that are not targets"))
            .with_help(format!("return {what} as text, never NULL"));
        for p in problems {
            error = error.with_detail(p);
        }
        return Err(error);
    }
    Ok(values)
}
