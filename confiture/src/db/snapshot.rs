//! Reads a [`Snapshot`] of a database's schema from the system catalogs — not from `pg_dump`,
//! which may be absent or of another major version than the server.
//!
//! One simple-query message, three statements in one implicit transaction: the first two set,
//! for that transaction only, the ledger to leave out and the settings that decide how names and
//! constants are printed (`search_path = pg_catalog`, so that every name is schema-qualified
//! the same way in every database; `TimeZone`, `DateStyle`, ... so that a default such as
//! `'2024-01-01'::timestamptz` reads the same in every session); the third
//! (`snapshot.sql`) lists every object with its properties as JSON. Nothing is written, and
//! the session's settings are as before once the message completes. Call it outside a
//! transaction block: inside one, the settings would last until that transaction ends.
//!
//! What is covered, and what is left out on purpose, is in the module docs of
//! [`crate::schema`] and in `snapshot.sql`. Like `pg_dump`, reading view definitions and
//! column defaults takes `ACCESS SHARE` locks, so a snapshot waits behind DDL in progress
//! (bound it with `lock_timeout` / `statement_timeout` on the session).

use postgres::SimpleQueryMessage;

use crate::error::{Error, Result};
use crate::ledger::{literal, TrackingTable};
use crate::schema::{Object, ObjectId, ObjectKind, Properties, Snapshot};

const OBJECTS_SQL: &str = include_str!("snapshot.sql");

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotOptions {
    /// The ledger, left out entirely (the table, its indexes, constraints, identity sequence,
    /// triggers, policies, comments and grants): its rows are data, and whether it exists
    /// says nothing about the schema. An unqualified name is looked up through the session's
    /// `search_path`, as everywhere else. `None` leaves nothing out.
    pub ledger: Option<TrackingTable>,
}

impl Default for SnapshotOptions {
    /// Leaves out confiture's default ledger, `tb_confiture`.
    fn default() -> Self {
        SnapshotOptions {
            ledger: Some(TrackingTable::default()),
        }
    }
}

/// The schema of the database `client` is connected to: schemas, extensions, types, domains,
/// sequences, tables, views, materialized views, columns, constraints, indexes, functions,
/// procedures, aggregates, triggers, event triggers, rules, policies, grants, default
/// privileges, with owners and comments. System schemas, objects that belong to extensions
/// and the ledger are left out. One round trip.
pub fn snapshot(client: &mut postgres::Client, options: &SnapshotOptions) -> Result<Snapshot> {
    let messages = client
        .simple_query(&sql(options))
        .map_err(|e| crate::db::query_error("cannot read the schema from the system catalogs", e))?;
    let mut statement = 0;
    let mut snapshot = Snapshot::new();
    for message in messages {
        match message {
            SimpleQueryMessage::CommandComplete(_) => statement += 1,
            // Statements 0 and 1 only set the settings.
            SimpleQueryMessage::Row(row) if statement == 2 => {
                let (id, object) = parse_row(&row)?;
                if snapshot.insert(id.clone(), object).is_some() {
                    return Err(unexpected(format!("{id} is listed twice")));
                }
            }
            _ => {}
        }
    }
    Ok(snapshot)
}

/// The whole message: the settings, then the objects.
fn sql(options: &SnapshotOptions) -> String {
    let ledger = match &options.ledger {
        Some(table) => format!(
            "COALESCE(pg_catalog.to_regclass({})::pg_catalog.oid, 0)::text",
            literal(&table.quoted())
        ),
        None => "'0'".to_string(),
    };
    // The ledger is looked up first, through the session's own search_path.
    format!(
        "SELECT pg_catalog.set_config('confiture.snapshot_ledger', {ledger}, true);\n\
         SELECT pg_catalog.set_config('search_path', 'pg_catalog', true), \
           pg_catalog.set_config('TimeZone', 'UTC', true), \
           pg_catalog.set_config('DateStyle', 'ISO, YMD', true), \
           pg_catalog.set_config('IntervalStyle', 'postgres', true), \
           pg_catalog.set_config('extra_float_digits', '1', true), \
           pg_catalog.set_config('bytea_output', 'hex', true), \
           pg_catalog.set_config('lc_monetary', 'C', true), \
           pg_catalog.set_config('quote_all_identifiers', 'off', true);\n\
         {OBJECTS_SQL}"
    )
}

fn parse_row(row: &postgres::SimpleQueryRow) -> Result<(ObjectId, Object)> {
    let text = |i: usize| row.get(i).map(str::to_string);
    let kind_at = |i: usize| -> Result<Option<ObjectKind>> {
        match row.get(i) {
            None => Ok(None),
            Some(name) => ObjectKind::from_name(name)
                .map(Some)
                .ok_or_else(|| unexpected(format!("unknown object kind {name:?}"))),
        }
    };
    let (Some(kind), Some(name)) = (kind_at(0)?, text(1)) else {
        return Err(unexpected("a row without kind or name".to_string()));
    };
    let id = ObjectId {
        kind,
        name,
        sub: text(2),
    };
    let parent = match (kind_at(3)?, text(4)) {
        (Some(kind), Some(name)) => Some(ObjectId {
            kind,
            name,
            sub: text(5),
        }),
        _ => None,
    };
    let json = row.get(6).unwrap_or("{}");
    let properties = properties(json).map_err(|e| unexpected(format!("{id}: {e}")))?;
    Ok((id, Object { parent, properties }))
}

/// The JSON object of a row as properties: `null` is an absent property, booleans are
/// `yes` / `no`, anything else its text.
fn properties(json: &str) -> std::result::Result<Properties, serde_json::Error> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)?;
    Ok(map
        .into_iter()
        .filter_map(|(key, value)| {
            let value = match value {
                serde_json::Value::Null => return None,
                serde_json::Value::String(s) => s,
                serde_json::Value::Bool(true) => "yes".to_string(),
                serde_json::Value::Bool(false) => "no".to_string(),
                other => other.to_string(),
            };
            Some((key, value))
        })
        .collect())
}

fn unexpected(what: String) -> Error {
    Error::connection("the server's answer to the schema snapshot query is not understood")
        .with_cause(what)
        .with_help("this is a bug in confiture: please report it with the server's version")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_properties_drop_nulls_and_say_yes_or_no() {
        let p = properties(r#"{"type": "integer", "default": null, "nullable": false, "valid": true, "n": 3}"#)
            .unwrap();
        let pairs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [("n", "3"), ("nullable", "no"), ("type", "integer"), ("valid", "yes")]
        );
        assert!(properties("not json").is_err());
    }

    #[test]
    fn the_ledger_name_is_a_quoted_literal_and_none_leaves_nothing_out() {
        let with = sql(&SnapshotOptions {
            ledger: Some(TrackingTable::parse("ops.tb_confiture").unwrap()),
        });
        assert!(with.contains(r#"to_regclass('"ops"."tb_confiture"')"#));
        let without = sql(&SnapshotOptions { ledger: None });
        assert!(!without.contains("to_regclass"));
        assert!(without.contains("'confiture.snapshot_ledger', '0'"));
    }
}
