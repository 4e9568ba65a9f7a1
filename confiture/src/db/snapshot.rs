//! Reads a [`Snapshot`] of a database's schema from the system catalogs — not from `pg_dump`,
//! which may be absent or of another major version than the server.
//!
//! One simple-query message, three statements in one implicit transaction: the first two set,
//! for that transaction only, the ledger to leave out and the settings that decide how names
//! and constants print (`search_path = pg_catalog`, so that every name is schema-qualified the
//! same way in every database; `TimeZone`, `DateStyle`, ... so that a default such as
//! `'2024-01-01'::timestamptz` reads the same in every session); the third executes the query
//! of `snapshot.sql`, kept as a prepared statement of the session, which lists every object
//! with its properties as JSON. Nothing is written to the database, and the session's settings
//! are as before once the message completes. Call it outside a transaction block: inside one,
//! the settings would last until that transaction ends.
//!
//! What is covered, and what is left out on purpose (and why), is in the header of
//! `snapshot.sql`. Like `pg_dump`, reading view definitions and column defaults takes
//! `ACCESS SHARE` locks, so a snapshot waits behind DDL in progress (bound it with
//! `lock_timeout` / `statement_timeout` on the session).

use crate::hint::AGAIN;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::SimpleQueryMessage;
use sha2::Digest as _;

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
/// procedures, aggregates, triggers, event triggers, rules, policies, collations, conversions,
/// extended statistics, operators, operator families and classes, access methods, casts,
/// transforms, languages, text search parsers, templates, configurations and dictionaries,
/// foreign-data wrappers and servers, user mappings (the names of their options, never their
/// values), publications, subscriptions (never their connection string), grants, default
/// privileges, with owners and comments. System schemas, objects that belong to extensions
/// and the ledger are left out.
///
/// One round trip (two for the first snapshot of a session; more when another session drops
/// objects while they are read, which is tried again up to 10 times). Planning the query costs more
/// than running it, so the session keeps it as a prepared statement, named after a hash of
/// its text (`confiture_snapshot_<hash>`), and later snapshots only `EXECUTE` it. A session
/// that lost it (`DISCARD ALL`, a pooler that switched server connections) prepares it again.
pub fn snapshot(client: &mut postgres::Client, options: &SnapshotOptions) -> Result<Snapshot> {
    crate::migrator::blocking_here(|| read(client, options, None))
}

/// [`snapshot`] of a database other sessions use (drift's live database): a lock another
/// session holds on a relation it reads (`pg_get_viewdef` locks a view's tables) is waited
/// for at most `wait`, in slices ([`crate::db::lock::ServerWait`]), then exit 6 naming the
/// sessions holding such locks — the server does not say which relation it waited for
/// ([`crate::db::lock::read_lock_holders`]); at once when a prepared transaction is among
/// them ([`crate::db::lock::worth_waiting_for`]).
pub(crate) fn snapshot_within(
    client: &mut postgres::Client,
    options: &SnapshotOptions,
    wait: Duration,
) -> Result<Snapshot> {
    read(client, options, Some(wait))
}

/// The most holders a locked read names.
const MAX_HOLDERS: usize = 5;

fn read(
    client: &mut postgres::Client,
    options: &SnapshotOptions,
    wait: Option<Duration>,
) -> Result<Snapshot> {
    // The tool's own read: never bounded by the user's `statement_timeout` (drift's live
    // database may have one shorter than a catalog read of its schema).
    let settings = crate::db::own_statements(&settings_sql(options));
    let mut lock_wait = wait.map(crate::db::lock::ServerWait::new);
    let name = statement_name();
    let mut attempt = 1;
    let messages = loop {
        // The lock wait in slices ([`ServerWait`](crate::db::lock::ServerWait)): each
        // attempt's `lock_timeout`.
        let bound = match lock_wait.as_mut() {
            Some(lock_wait) => format!(
                "SELECT pg_catalog.set_config('lock_timeout', '{}ms', true);\n",
                lock_wait.slice_ms()
            ),
            None => String::new(),
        };
        let execute = format!("{settings}{bound}EXECUTE {name};");
        let result = match client.simple_query(&execute) {
            Err(e) if e.code() == Some(&SqlState::INVALID_SQL_STATEMENT_NAME) => client
                .simple_query(&format!(
                    "{settings}{bound}PREPARE {name} AS\n{OBJECTS_SQL};\nEXECUTE {name};"
                )),
            other => other,
        };
        match result {
            Ok(messages) => break messages,
            Err(e) if attempt < ATTEMPTS && e.code().is_some_and(dropped_while_read) => {
                attempt += 1;
            }
            Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                let Some(lock_wait) = &lock_wait else {
                    return Err(read_error(e));
                };
                // Found after the implicit transaction ended: no lock of ours is left to see.
                let holders = crate::db::lock::read_lock_holders(client, None, MAX_HOLDERS)
                    .unwrap_or_default();
                if !lock_wait.again(&holders) {
                    return Err(locked(&lock_wait.how(&holders), holders, e));
                }
            }
            Err(e) => return Err(read_error(e)),
        }
    };
    // The objects are the rows of the last statement, the EXECUTE.
    let mut rows = Vec::new();
    let mut last = Vec::new();
    for message in messages {
        match message {
            SimpleQueryMessage::Row(row) => rows.push(row),
            SimpleQueryMessage::CommandComplete(_) => last = std::mem::take(&mut rows),
            _ => {}
        }
    }
    let mut snapshot = Snapshot::new();
    for row in &last {
        let (id, object) = parse_row(row)?;
        if snapshot.insert(id.clone(), object).is_some() {
            return Err(unexpected(format!("{id} is listed twice")));
        }
    }
    Ok(snapshot)
}

/// How many times a snapshot is tried when objects are dropped while it reads them.
const ATTEMPTS: u32 = 10;

/// Whether an error means that an object was dropped by another session between the catalog
/// scan and a function that reads it (`could not open relation with OID ...`, `cache lookup
/// failed ...`): the catalogs changed under the query, and a new try sees them as they are.
/// DDL is rare on a live database; a migration tool's own scratch database has none.
fn dropped_while_read(code: &SqlState) -> bool {
    *code == SqlState::INTERNAL_ERROR
        || *code == SqlState::UNDEFINED_TABLE
        || *code == SqlState::UNDEFINED_OBJECT
        || *code == SqlState::UNDEFINED_FUNCTION
}

/// The role the session's objects are created as (`current_user`): who owns what a replay
/// makes, for [`Snapshot::as_applied_by`].
pub(crate) fn current_role(client: &mut postgres::Client) -> Result<String> {
    let messages = client
        .simple_query(&crate::db::own_statements(
            "SELECT pg_catalog.current_user()",
        ))
        .map_err(|e| crate::db::query_error("cannot read the session's role", e))?;
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .ok_or_else(|| unexpected("no row for current_user".to_string()))
}

/// The read waited for a lock another session holds, and gave up (`how`: `waited 30s`, or
/// `not waited for` a prepared transaction): exit 6, naming `holders`, those holding a lock in
/// the way of reading (found after the implicit transaction ended, so no lock of ours is left
/// to see).
fn locked(how: &str, holders: Vec<crate::db::lock::LockHolder>, e: postgres::Error) -> Error {
    let cause = crate::db::cause_text(&e);
    let mut error = Error::new(
        crate::ErrorKind::LockTimeout,
        format!(
            "cannot read the schema from the system catalogs: {} holds a lock on a relation \
             it reads ({how})",
            crate::db::lock::who_holds(&holders),
        ),
    )
    .with_source_shown(e, cause);
    for h in &holders {
        error = error.with_detail(format!("held by {h}"));
    }
    error = error.with_help(
        crate::db::lock::holders_help(&holders, &format!("run {AGAIN} (or raise --lock-wait)"))
            .unwrap_or_else(|| format!("run {AGAIN} when the lock is released")),
    );
    error.with_reason(crate::error::Reason::Lock {
        database: None,
        holders,
    })
}

fn read_error(e: postgres::Error) -> Error {
    crate::db::query_error("cannot read the schema from the system catalogs", e)
}

/// `confiture_snapshot_` and 16 hex digits of the query's SHA-256: another version of the
/// query (another version of confiture in the same session) gets another statement.
fn statement_name() -> String {
    let digest = sha2::Sha256::digest(OBJECTS_SQL.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("confiture_snapshot_{hex}")
}

/// The statements before the query, in the same implicit transaction: the ledger's OID (looked
/// up first, through the session's own search_path), then the settings that decide how names
/// and constants print, and `jit = off` (on a large schema the query's estimated cost is high
/// enough for PostgreSQL to compile it, which costs more than running it). `set_config(...,
/// true)` lasts until the end of the transaction, which is the end of the message.
fn settings_sql(options: &SnapshotOptions) -> String {
    let oid = |table: &TrackingTable| {
        format!(
            "COALESCE(pg_catalog.to_regclass({})::pg_catalog.oid, 0)::pg_catalog.text",
            literal(&table.quoted())
        )
    };
    // The start markers of no-transaction migrations beside the ledger are the tool's own
    // bookkeeping too (`TrackingTable::started_table`), made by the first such migration:
    // left out with the ledger, so that neither drift nor verify sees them.
    let (ledger, started) = match &options.ledger {
        Some(table) => (oid(table), oid(&table.started_table())),
        None => ("'0'".to_string(), "'0'".to_string()),
    };
    format!(
        "SELECT pg_catalog.set_config('confiture.snapshot_ledger', {ledger}, true), \
         pg_catalog.set_config('confiture.snapshot_started', {started}, true);\n\
         SELECT pg_catalog.set_config('search_path', 'pg_catalog', true), \
           pg_catalog.set_config('TimeZone', 'UTC', true), \
           pg_catalog.set_config('DateStyle', 'ISO, YMD', true), \
           pg_catalog.set_config('IntervalStyle', 'postgres', true), \
           pg_catalog.set_config('extra_float_digits', '1', true), \
           pg_catalog.set_config('bytea_output', 'hex', true), \
           pg_catalog.set_config('lc_monetary', 'C', true), \
           pg_catalog.set_config('quote_all_identifiers', 'off', true), \
           pg_catalog.set_config('jit', 'off', true);\n"
    )
}

fn parse_row(row: &postgres::SimpleQueryRow) -> Result<(ObjectId, Object)> {
    let (Some(kind), Some(name)) = (row.get(0), row.get(1)) else {
        return Err(unexpected("a row without kind or name".to_string()));
    };
    let id = ObjectId {
        kind: kind_named(kind)?,
        name: name.to_string(),
        sub: row.get(2).map(str::to_string),
    };
    let parents = match row.get(3) {
        Some(json) => parents(json).map_err(|e| unexpected(format!("{id}: {e}")))?,
        None => Vec::new(),
    };
    let mut properties =
        properties(row.get(4).unwrap_or("{}")).map_err(|e| unexpected(format!("{id}: {e}")))?;
    // A column's place among its relation's live columns: read, never compared as a property.
    let position = match properties.remove(POSITION) {
        Some(p) => Some(
            p.parse::<u32>()
                .map_err(|e| unexpected(format!("{id}: position {p:?}: {e}")))?,
        ),
        None => None,
    };
    Ok((
        id,
        Object {
            parents,
            properties,
            position,
        },
    ))
}

/// The key under which `snapshot.sql` gives a column's (an attribute's) place among the live
/// columns of its relation: [`Object::position`], not a property.
const POSITION: &str = "position";

fn kind_named(name: &str) -> Result<ObjectKind> {
    ObjectKind::from_name(name).ok_or_else(|| unexpected(format!("unknown object kind {name:?}")))
}

/// `[[kind, name, sub], ...]`, where a `null` entry (no such parent) is skipped.
fn parents(json: &str) -> std::result::Result<Vec<ObjectId>, String> {
    let entries: Vec<Option<(String, String, Option<String>)>> =
        serde_json::from_str(json).map_err(|e| e.to_string())?;
    entries
        .into_iter()
        .flatten()
        .map(|(kind, name, sub)| {
            let kind =
                ObjectKind::from_name(&kind).ok_or(format!("unknown object kind {kind:?}"))?;
            Ok(ObjectId { kind, name, sub })
        })
        .collect()
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
        let p = properties(
            r#"{"type": "integer", "default": null, "nullable": false, "valid": true, "n": 3}"#,
        )
        .unwrap();
        let pairs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("n", "3"),
                ("nullable", "no"),
                ("type", "integer"),
                ("valid", "yes")
            ]
        );
        assert!(properties("not json").is_err());
    }

    #[test]
    fn parents_skip_null_entries_and_refuse_unknown_kinds() {
        let p =
            parents(r#"[["table", "public.t", null], null, ["index", "public.i", null]]"#).unwrap();
        assert_eq!(
            p,
            [
                ObjectId::new(ObjectKind::Table, "public.t"),
                ObjectId::new(ObjectKind::Index, "public.i")
            ]
        );
        let grant = parents(r#"[["column", "public.t", "c"]]"#).unwrap();
        assert_eq!(
            grant,
            [ObjectId::with_sub(ObjectKind::Column, "public.t", "c")]
        );
        assert!(parents(r#"[["tablespace", "x", null]]"#).is_err());
        assert!(parents("{}").is_err());
    }

    #[test]
    fn the_ledger_name_is_a_quoted_literal_and_none_leaves_nothing_out() {
        let with = settings_sql(&SnapshotOptions {
            ledger: Some(TrackingTable::parse("ops.tb_confiture").unwrap()),
        });
        assert!(with.contains(r#"to_regclass('"ops"."tb_confiture"')"#));
        let without = settings_sql(&SnapshotOptions { ledger: None });
        assert!(!without.contains("to_regclass"));
        assert!(without.contains("'confiture.snapshot_ledger', '0'"));
    }

    #[test]
    fn only_objects_dropped_under_the_query_are_retried() {
        assert!(dropped_while_read(&SqlState::INTERNAL_ERROR));
        assert!(dropped_while_read(&SqlState::UNDEFINED_TABLE));
        assert!(!dropped_while_read(&SqlState::INSUFFICIENT_PRIVILEGE));
        assert!(!dropped_while_read(&SqlState::QUERY_CANCELED));
        assert!(!dropped_while_read(&SqlState::LOCK_NOT_AVAILABLE));
        assert!(!dropped_while_read(&SqlState::ADMIN_SHUTDOWN));
    }

    #[test]
    fn the_statement_name_is_an_identifier_that_follows_the_query() {
        let name = statement_name();
        assert_eq!(name.len(), "confiture_snapshot_".len() + 16);
        assert!(name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        assert_eq!(name, statement_name());
    }
}
