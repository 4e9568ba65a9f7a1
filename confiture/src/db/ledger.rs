//! Reading the ledger (the tracking table) as confiture (Python) writes it. Reading is strictly read-only:
//! plain `SELECT`s, no lock, nothing created. Writing rows is [`crate::ledger`]'s SQL, run by
//! the apply code, and [`rewrite`] for `baseline` and `reinit`.

use postgres::error::SqlState;
use postgres::SimpleQueryMessage;

use crate::error::{Error, Result};
use crate::ledger::{literal, Ledger, LedgerRow, Rewrite, TrackingTable};

/// Reads the ledger in order of application (`applied_at`, then `pk_confiture`), with the
/// schema-qualified name it was found under (an unqualified name is looked up through
/// `search_path`). `None` when the table does not exist.
///
/// One round trip: the name lookup and the rows travel in one simple-query message. An absent
/// table is recognised by the server's "undefined table" error, so call this outside a
/// transaction block (the error would abort it). Extra columns are ignored.
pub fn read(client: &mut postgres::Client, table: &TrackingTable) -> Result<Option<Ledger>> {
    Ok(read_qualified(client, table)?.map(|(ledger, _)| ledger))
}

/// [`read`], with the table's name as the server resolved it, schema-qualified: what the
/// engine writes rows to, so that a migration's `search_path` cannot send them elsewhere. The
/// name is `table` itself when the schema's name is not one a [`TrackingTable`] can hold.
pub fn read_qualified(
    client: &mut postgres::Client,
    table: &TrackingTable,
) -> Result<Option<(Ledger, TrackingTable)>> {
    let sql = format!(
        "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.oid = pg_catalog.to_regclass({name});\n\
         SELECT version, name, \
         to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"'), \
         execution_time_ms, checksum, applied_by \
         FROM {quoted} ORDER BY applied_at, pk_confiture",
        name = literal(&table.quoted()),
        quoted = table.quoted(),
    );
    let messages = match client.simple_query(&sql) {
        Ok(messages) => messages,
        Err(e) if is_absent(&e) => return Ok(None),
        Err(e) => return Err(read_error(table, &e)),
    };
    let mut statement = 0;
    let mut qualified = None;
    let mut resolved = None;
    let mut rows = Vec::new();
    for message in messages {
        match message {
            SimpleQueryMessage::CommandComplete(_) => statement += 1,
            SimpleQueryMessage::Row(row) if statement == 0 => {
                if let (Some(schema), Some(name)) = (row.get(0), row.get(1)) {
                    qualified = Some(format!("{schema}.{name}"));
                    resolved = TrackingTable::parse(&format!("{schema}.{name}")).ok();
                }
            }
            SimpleQueryMessage::Row(row) => rows.push(parse_row(table, &row)?),
            _ => {}
        }
    }
    let ledger = Ledger {
        table: qualified.unwrap_or_else(|| table.to_string()),
        rows,
    };
    Ok(Some((ledger, resolved.unwrap_or_else(|| table.clone()))))
}

/// The schema-qualified name a not-yet-created ledger would get: an unqualified name goes to
/// the first existing schema of `search_path` (`public.tb_confiture`), as `CREATE TABLE` does.
pub fn qualified_name(client: &mut postgres::Client, table: &TrackingTable) -> Result<String> {
    if table.schema.is_some() {
        return Ok(table.to_string());
    }
    let messages = client
        .simple_query("SELECT current_schema()")
        .map_err(|e| read_error(table, &e))?;
    let schema = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    });
    Ok(match schema {
        Some(schema) => format!("{schema}.{}", table.name),
        None => table.to_string(),
    })
}

fn is_absent(error: &postgres::Error) -> bool {
    matches!(error.code(), Some(code) if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::INVALID_SCHEMA_NAME)
}

fn read_error(table: &TrackingTable, error: &postgres::Error) -> Error {
    let detail = match error.as_db_error() {
        Some(db) => db.message().to_string(),
        None => error.to_string(),
    };
    if error.code() == Some(&SqlState::UNDEFINED_COLUMN) {
        return Error::invalid(format!(
            "the tracking table {table} is not a confiture ledger: {detail}"
        ))
        .with_help(
            "migration.tracking_table must name the table confiture created \
             (columns version, name, applied_at, execution_time_ms, checksum, applied_by)",
        );
    }
    Error::connection(format!("cannot read the tracking table {table}"))
        .with_cause(detail)
        .with_help("check that the user may read it (GRANT SELECT) and that the server is up")
}

fn parse_row(table: &TrackingTable, row: &postgres::SimpleQueryRow) -> Result<LedgerRow> {
    let required = |i: usize, column: &str| {
        row.get(i).map(str::to_string).ok_or_else(|| {
            Error::invalid(format!(
                "the tracking table {table} has a row with no {column}"
            ))
        })
    };
    Ok(LedgerRow {
        version: required(0, "version")?,
        name: required(1, "name")?,
        applied_at: required(2, "applied_at")?,
        execution_time_ms: row.get(3).and_then(|v| v.parse().ok()),
        checksum: row.get(4).map(str::to_string),
        applied_by: row.get(5).map(str::to_string),
    })
}

/// Rewrites the ledger (baseline, reinit) in one transaction; rolls back on error, so that
/// nothing is changed when any part fails.
pub fn rewrite(
    client: &mut postgres::Client,
    table: &TrackingTable,
    rewrite: &Rewrite,
    what: &str,
) -> crate::Result<()> {
    client.batch_execute(&rewrite.sql(table)).map_err(|e| {
        let _ = client.batch_execute("ROLLBACK");
        let cause = match e.as_db_error() {
            Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
            None => e.to_string(),
        };
        crate::Error::new(
            crate::ErrorKind::MigrationFailed,
            format!("{what} could not write the tracking table {table}; nothing was changed"),
        )
        .with_cause(cause)
        .with_help("check that this role may write the tracking table")
    })
}
