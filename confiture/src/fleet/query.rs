//! The target list read from the environment's own database: one query, in a read-only
//! transaction that is always rolled back, returning one column of URLs or database names.
//!
//! The query itself runs in `crate::db` ([`read_only_column`]); this module says what its
//! rows mean: targets, or tenant schemas, and which rows are not.

use crate::config::Environment;
use crate::db::query::{read_only_column, ColumnError};
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
/// values are refused, all named at once. `what` says what the rows should be. The query runs
/// in `db` ([`read_only_column`]); this says what its answer means.
fn rows(base: &Environment, sql: &str, list: &str, what: &str) -> Result<Vec<(String, String)>> {
    let not_targets = || {
        Error::invalid(format!("{list} returns values that are not targets"))
            .with_help(format!("return {what} as text, never NULL"))
    };
    let column = read_only_column(base, sql, list).map_err(|e| match e {
        ColumnError::Connection(e) => e,
        ColumnError::Refused { error, shown } => {
            Error::invalid(format!("{list} failed on {}", base.connection))
                .with_source_shown(error, shown)
                .with_help(format!(
            "the query runs read-only on the environment's database and returns one column: {what}"
        ))
        }
        ColumnError::Columns(n) => Error::invalid(format!("{list} returns {n} columns, not one"))
            .with_help(format!("select one column of {what}")),
        ColumnError::NotText(type_name) => {
            not_targets().with_detail(format!("its column is of type {type_name}, not text"))
        }
    })?;
    let mut values = Vec::with_capacity(column.len());
    let mut problems = Vec::new();
    for (i, value) in column.into_iter().enumerate() {
        match value {
            Some(value) if value.trim().is_empty() || value.trim().starts_with('#') => {
                problems.push(format!("row {} is {value:?}, not a target", i + 1));
            }
            Some(value) => values.push((value, format!("{list}, row {}", i + 1))),
            None => problems.push(format!("row {} is NULL", i + 1)),
        }
    }
    if !problems.is_empty() {
        let mut error = not_targets();
        for p in problems {
            error = error.with_detail(p);
        }
        return Err(error);
    }
    Ok(values)
}
