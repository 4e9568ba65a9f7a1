//! Reading the ledger. TEMPORARY stand-in for branch `envstatus`'s `db::ledger::read`,
//! replaced by theirs on merge.

use postgres::{Client, SimpleQueryMessage};

use super::query_error;
use crate::error::Result;
use crate::ledger::{literal, Ledger, LedgerRow, TrackingTable};

/// The ledger's rows in order of application, or `None` when the table does not exist.
pub fn read(client: &mut Client, table: &TrackingTable) -> Result<Option<Ledger>> {
    let exists = client
        .simple_query(&format!(
            "SELECT to_regclass({})::text",
            literal(&table.quoted())
        ))
        .map_err(|e| query_error("cannot look up the tracking table", e))?;
    let found = exists.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    });
    let Some(found) = found else { return Ok(None) };
    let sql = format!(
        "SELECT version, name, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"'), \
         execution_time_ms, checksum, applied_by FROM {} ORDER BY applied_at, pk_confiture",
        table.quoted()
    );
    let messages = client
        .simple_query(&sql)
        .map_err(|e| query_error("cannot read the tracking table", e))?;
    let rows = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(LedgerRow {
                version: r.get(0).unwrap_or_default().to_string(),
                name: r.get(1).unwrap_or_default().to_string(),
                applied_at: r.get(2).unwrap_or_default().to_string(),
                execution_time_ms: r.get(3).and_then(|v| v.parse().ok()),
                checksum: r.get(4).map(str::to_string),
                applied_by: r.get(5).map(str::to_string),
            }),
            _ => None,
        })
        .collect();
    Ok(Some(Ledger { table: found, rows }))
}
