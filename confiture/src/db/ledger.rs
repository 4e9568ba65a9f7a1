//! Reading the ledger (the tracking table) as confiture (Python) writes it. Reading is strictly read-only:
//! plain `SELECT`s, no lock, nothing created. Writing rows is [`crate::ledger`]'s SQL, run by
//! the apply code, and [`rewrite`] for `baseline` and `reinit`.

use crate::hint::AGAIN;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::SimpleQueryMessage;

use super::lock::Wanted;
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::ledger::{
    literal, quote_ident, BuildSite, Ledger, LedgerCheck, LedgerRow, Rewrite, TrackingTable,
};

/// Reads the ledger in order of application ([`crate::ledger::APPLICATION_ORDER`]), with the
/// schema-qualified name it was found under (an unqualified name is looked up through
/// `search_path`). `None` when the table does not exist.
///
/// One round trip: the name lookup and the rows travel in one simple-query message. An absent
/// table is recognised by the server's "undefined table" error, so call this outside a
/// transaction block (the error would abort it). Extra columns are ignored.
#[cfg_attr(not(test), allow(dead_code))] // the engine tests read with these
pub fn read(client: &mut postgres::Client, table: &TrackingTable) -> Result<Option<Ledger>> {
    read_within(client, table, DEFAULT_WAIT)
}

/// How long [`read`] waits for a lock another session holds on the ledger.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// [`read`], waiting at most `wait` for a lock another session holds on the table (`LOCK
/// TABLE ... IN ACCESS EXCLUSIVE MODE`, a long `ALTER TABLE`): after it, a lock-timeout error
/// (exit 6) names the session holding it. Zero is taken as 1 ms, never as "forever".
#[cfg_attr(not(test), allow(dead_code))] // the engine tests read with these
pub fn read_within(
    client: &mut postgres::Client,
    table: &TrackingTable,
    wait: Duration,
) -> Result<Option<Ledger>> {
    read_at(client, table, wait, BuildSite::Database(None))
}

/// [`read_within`] for a session whose migrations build at `site`: a tenant's ledger
/// ([`BuildSite::Tenant`]) that does not exist is a new tenant's, whatever ledgers the database
/// holds elsewhere; the whole database's is checked for one kept elsewhere
/// ([`hidden_ledger`]).
pub(crate) fn read_at(
    client: &mut postgres::Client,
    table: &TrackingTable,
    wait: Duration,
    site: BuildSite<'_>,
) -> Result<Option<Ledger>> {
    let found = read_asking(client, table, wait, None, Asked::Rows, site, None)?;
    Ok(found.ok().map(|found| found.ledger))
}

/// [`read_at`], and, in the same message, who holds the migration lock of a run on this
/// database (or on its tenant schema `tenant`) now ([`super::lock::run_going_on`]'s answer):
/// `status`'s read, whose look at the lock costs no round trip. `None` when the ledger does not
/// exist (the look was not made: the caller makes it on its own).
///
/// First of all, whether the session got the startup options it was sent (`status.sent`,
/// [`super::connect::options_columns`], in the same message when the ledger exists, else one
/// round trip more): `status.refuse` is given what the session answered, before anything is
/// read as the session's.
pub(crate) fn read_with_lock_holder(
    client: &mut postgres::Client,
    table: &TrackingTable,
    wait: Duration,
    site: BuildSite<'_>,
    status: StatusRead<'_>,
) -> Result<Option<(Ledger, Option<super::lock::LockHolder>)>> {
    let found = read_asking(client, table, wait, None, Asked::Rows, site, Some(status))?;
    Ok(found.ok().map(|found| (found.ledger, found.run_going_on)))
}

/// What `status`'s ledger read ([`read_with_lock_holder`]) asks besides the ledger: who holds
/// the migration lock of a run on the database (or on its tenant schema `tenant`), and whether
/// the startup options `sent` arrived, which `refuse` decides (given the two columns of
/// [`super::connect::options_columns`]).
pub(crate) struct StatusRead<'a> {
    pub(crate) tenant: Option<&'a str>,
    pub(crate) sent: &'a [super::connect::SentSetting],
    #[allow(clippy::type_complexity)]
    pub(crate) refuse: &'a dyn Fn(Option<&str>, Option<&str>) -> Result<()>,
}

/// `status`'s check of the startup options when its ledger read could not make it (no ledger:
/// the read failed): one round trip of [`super::connect::options_columns`], under the tool's
/// own reads' bounds ([`super::own_statements`]: it reads `pg_settings`), its wait for a lock
/// on it the read's ([`send_within`]).
fn refuse_unarrived(
    client: &mut postgres::Client,
    status: &StatusRead<'_>,
    bound: CatalogBound<'_>,
) -> Result<()> {
    let sql = format!("SELECT {}", super::connect::options_columns(status.sent));
    let messages = bound.send(client, "cannot read the session's settings", &sql)?;
    let row = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    (status.refuse)(row.and_then(|r| r.get(0)), row.and_then(|r| r.get(1)))
}

/// What a ledger read asks the catalog for besides the table's qualified name and whether
/// row-level security applies to it (always: a read it applies to is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// The rows alone ([`read_within`]: `status`): no privilege checks nor look-ups of the
    /// table's columns, which a new backend plans at some cost (≈ 0.4 ms of its ~1 ms for
    /// the catalog query); [`Found::access`] is then left at its default.
    Rows,
    /// And the role's [`Access`] to the table: what the writing commands check before writing.
    Access,
}

/// [`read`], with the table's name as the server resolved it, schema-qualified: what the
/// engine writes rows to, so that a migration's `search_path` cannot send them elsewhere,
/// whatever the schema's name.
#[cfg_attr(not(test), allow(dead_code))] // the engine tests read with these
pub fn read_qualified(
    client: &mut postgres::Client,
    table: &TrackingTable,
    wait: Duration,
) -> Result<Option<Found>> {
    read_unless_stopped(client, table, wait, None, BuildSite::Database(None))
}

/// [`read_qualified`] for a run that can be stopped from outside (`stop`,
/// [`crate::Migrator::stop_when`]): sent only while the flag is unset, and cancelled on the
/// server once it is set (the wait for a lock another session holds on the table included).
/// A read the flag was set during is [`ErrorKind::Interrupted`](crate::ErrorKind), even when
/// it completed all the same: a run stopped before it wrote anything must not go on to report
/// success. `site`: where the session's migrations build, as [`read_at`].
pub(crate) fn read_unless_stopped(
    client: &mut postgres::Client,
    table: &TrackingTable,
    wait: Duration,
    stop: Option<&crate::db::apply::Stop>,
    site: BuildSite<'_>,
) -> Result<Option<Found>> {
    Ok(read_or_creation(client, table, wait, stop, site)?.ok())
}

/// [`read_unless_stopped`], saying of a table that does not exist where this session would
/// create it, as the read found out ([`Creation`]): what `up` refuses a ledger with no schema
/// to be created in by ([`refuse_nowhere_to_create`]), at no round trip of its own.
pub(crate) fn read_or_creation(
    client: &mut postgres::Client,
    table: &TrackingTable,
    wait: Duration,
    stop: Option<&crate::db::apply::Stop>,
    site: BuildSite<'_>,
) -> Result<std::result::Result<Found, Creation>> {
    read_asking(client, table, wait, stop, Asked::Access, site, None)
}

/// Where this session would create a tracking table that does not exist, as a ledger read
/// found out ([`read_or_creation`]): the answer of [`qualified_name`], asked in the read's
/// own round trip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Creation {
    /// Not asked: the table exists, or is a tenant's, whose read looks nowhere else
    /// ([`BuildSite::Tenant`]).
    #[default]
    Unasked,
    /// [`qualified_name`]'s answer: the schema-qualified name it would get (`name`), `None`
    /// when no schema can take it; and whether a start markers' table may stand where it
    /// would be created (`markers_beside`: a ledger dropped or left out of a restore keeps its
    /// markers, which [`markers_without_ledger`] reads; false when the read found none there,
    /// and the rewrite of a fresh database asks no more).
    Known {
        name: Option<String>,
        markers_beside: bool,
        /// Every schema of the database, read in the same message for a schema-qualified
        /// tracking table: whether its schema exists ([`new_ledger_schema`]) costs no round
        /// trip of its own. `None` for an unqualified one.
        schemas: Option<Vec<String>>,
    },
}

/// [`read_unless_stopped`], asking the catalog for what `asked` says; a table that does not
/// exist is where the session would create it ([`Creation`]). `status`: also who holds the
/// migration lock of a run on the database or on a tenant schema now
/// ([`Found::run_going_on`]), a last statement of the same message, and whether the session
/// got its startup options ([`StatusRead`]), refused before anything else is read.
fn read_asking(
    client: &mut postgres::Client,
    table: &TrackingTable,
    wait: Duration,
    stop: Option<&crate::db::apply::Stop>,
    asked: Asked,
    site: BuildSite<'_>,
    status: Option<StatusRead<'_>>,
) -> Result<std::result::Result<Found, Creation>> {
    // `applied_at` is cast to `timestamptz` before it is put in UTC: on a `timestamp` column
    // (a hand-made or altered ledger) `AT TIME ZONE` goes the other way, and its wall clock —
    // written in the connection's `TimeZone`, which this session has too — was shown as UTC.
    // The statements of one message run in one implicit transaction: `SET LOCAL` bounds them
    // and ends with it, whatever happens. `row_security` on: where row-level security applies
    // to the ledger, the read is refused below ([`row_security_refusal`]) rather than failing
    // as a missing privilege would (`row_security = off` makes such a read an error).
    // `applied_by` (absent from a ledger made before confiture 0.17) is read by name inside a
    // `LATERAL` subquery: the table's own column when it has one, else the NULL of the
    // one-row relation beside it, whose name the subquery sees from outside. Same text as the
    // row's `to_jsonb(...) ->> 'applied_by'` gave, without building a JSON value of every row
    // (half the server's time for 1,000 rows on a new backend); the planner flattens it to a
    // scan and a sort. `archived_into` (confiture (Python) 1.29's `migrate squash`; absent
    // from older ledgers and from ours) is read the same way.
    let began = std::time::Instant::now();
    // The reads that follow a ledger not found (or empty), bounded by what is left of the wait.
    let bound = CatalogBound {
        began,
        wait,
        stop,
        env: site.environment(),
    };
    // After the name: the columns [`Access`] is read from (NULL in their places when only
    // the rows are asked), the role, and whether row-level security applies.
    let columns = match asked {
        Asked::Access => format!(
            "pg_catalog.has_table_privilege(c.oid, 'INSERT'), \
             pg_catalog.has_table_privilege(c.oid, 'DELETE'), current_user, \
             (SELECT pg_catalog.string_agg(a.attname, ', ' ORDER BY a.attnum) \
              FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid \
              AND a.attnum OPERATOR(pg_catalog.>) 0 \
              AND NOT a.attisdropped AND a.attnotnull AND NOT a.atthasdef \
              AND a.attidentity OPERATOR(pg_catalog.=) '' AND a.attgenerated OPERATOR(pg_catalog.=) '' \
              AND a.attname OPERATOR(pg_catalog.<>) ALL (ARRAY[{written}]::pg_catalog.name[])), \
             pg_catalog.row_security_active(c.oid), \
             pg_catalog.has_table_privilege(c.oid, 'UPDATE'), \
             EXISTS (SELECT FROM pg_catalog.pg_attribute a \
              WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid \
              AND a.attname OPERATOR(pg_catalog.=) 'applied_by' AND NOT a.attisdropped), \
             EXISTS (SELECT FROM pg_catalog.pg_trigger t WHERE t.tgrelid OPERATOR(pg_catalog.=) c.oid \
              AND NOT t.tgisinternal AND t.tgenabled OPERATOR(pg_catalog.<>) 'D' \
              AND (CAST(t.tgtype AS pg_catalog.int4) OPERATOR(pg_catalog.&) 12) \
              OPERATOR(pg_catalog.<>) 0)",
            written = WRITTEN_COLUMNS.map(literal).join(", "),
        ),
        Asked::Rows => "NULL, NULL, current_user, NULL, pg_catalog.row_security_active(c.oid), \
                        NULL, NULL, NULL"
            .to_string(),
    };
    // Whether the writes' locks must be looked at before anything runs
    // ([`refuse_prepared_in_the_way`]): `pg_prepared_xacts` alone, never `pg_locks` (which
    // copies the server's whole lock table).
    let prepared = match asked {
        Asked::Access => {
            "EXISTS (SELECT FROM pg_catalog.pg_prepared_xacts x \
             WHERE x.database OPERATOR(pg_catalog.=) pg_catalog.current_database())"
        }
        Asked::Rows => "NULL",
    };
    // The lock wait in slices ([`ServerWait`](super::lock::ServerWait)): each attempt's
    // `lock_timeout`.
    let sql = |wait_ms: u128| {
        format!(
            "{own} SET LOCAL lock_timeout = '{wait_ms}ms'; SET LOCAL row_security = on;\n\
         SELECT n.nspname, c.relname, {columns}, \
         c.relkind, \
         (SELECT pg_catalog.string_agg(s.name, ', ' ORDER BY s.n) \
          FROM pg_catalog.unnest(ARRAY[{shape}]) WITH ORDINALITY AS s(name, n) \
          WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a \
          WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0 \
          AND NOT a.attisdropped AND a.attname OPERATOR(pg_catalog.=) s.name)), \
         {mistyped}, \
         pg_catalog.to_regclass(pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' \
          OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname OPERATOR(pg_catalog.||) \
          {suffix})) IS NOT NULL, {prepared}, \
         pg_catalog.to_regclass(pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' \
          OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname OPERATOR(pg_catalog.||) \
          {steps})) IS NOT NULL{options} \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
         WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass({name});\n\
         SELECT l.version, l.name, l.confiture_applied_at, l.execution_time_ms, l.checksum, \
         l.applied_by, CAST(l.pk_confiture AS pg_catalog.text) AS confiture_pk, \
         CAST(l.slug AS pg_catalog.text) AS confiture_slug, l.archived_into \
         FROM (SELECT CAST(NULL AS pg_catalog.text) AS applied_by, \
         CAST(NULL AS pg_catalog.text) AS archived_into) AS confiture_absent, \
         LATERAL (SELECT version, name, \
         CASE WHEN NOT pg_catalog.isfinite(CAST(applied_at AS pg_catalog.timestamptz)) \
         THEN CAST(CAST(applied_at AS pg_catalog.timestamptz) AS pg_catalog.text) \
         WHEN CAST(applied_at AS pg_catalog.timestamptz) AT TIME ZONE 'UTC' \
         OPERATOR(pg_catalog.<) CAST('0001-01-01' AS pg_catalog.timestamp) \
         THEN pg_catalog.to_char(CAST(applied_at AS pg_catalog.timestamptz) AT TIME ZONE 'UTC', \
         'YYYY-MM-DD HH24:MI:SS BC') \
         ELSE pg_catalog.to_char(CAST(applied_at AS pg_catalog.timestamptz) AT TIME ZONE 'UTC', \
         'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"') END AS confiture_applied_at, \
         execution_time_ms, checksum, CAST(applied_by AS pg_catalog.text) AS applied_by, \
         CAST(archived_into AS pg_catalog.text) AS archived_into, \
         pk_confiture, slug, applied_at FROM {quoted}) AS l ORDER BY {order}{holder}",
            holder = status.as_ref().map_or(String::new(), |status| format!(
                ";\n{}",
                super::lock::run_going_on_sql(status.tenant)
            )),
            options = status.as_ref().map_or(String::new(), |status| format!(
                ", {}",
                super::connect::options_columns(status.sent)
            )),
            order = crate::ledger::APPLICATION_ORDER,
            suffix = literal(crate::ledger::STARTED_SUFFIX),
            steps = literal(crate::ledger::STEPS_SUFFIX),
            name = literal(&table.quoted()),
            quoted = table.quoted(),
            shape = LEDGER_SHAPE
                .map(|c| format!("{}::pg_catalog.text", literal(c)))
                .join(", "),
            own = super::own_read_bounds(),
            mistyped = mistyped_columns_sql("c.oid"),
        )
    };
    let interrupted = || interrupted_read(table);
    let mut lock_wait = super::lock::ServerWait::new(wait);
    // The slices are one wait to the run's asking thread: a lasting one is named as it waits.
    let one_wait = stop.map(crate::db::apply::Stop::one_wait);
    let messages = loop {
        let sql = sql(lock_wait.slice_ms());
        let sent = match stop {
            Some(stop) => stop.send(|| client.simple_query(&sql)),
            None => Some(client.simple_query(&sql)),
        };
        let sent = match sent {
            Some(sent) if !stop.is_some_and(crate::db::apply::Stop::is_set) => sent,
            Some(Err(e)) => {
                let cause = super::cause_text(&e);
                return Err(interrupted().with_source_shown(e, cause));
            }
            _ => return Err(interrupted()),
        };
        match sent {
            Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                let holders = holders(client, table, Wanted::Read);
                if !lock_wait.again(&holders) {
                    return Err(read_lock_error(
                        client,
                        format!("cannot read the tracking table {table}"),
                        &lock_wait,
                        holders,
                        site.environment(),
                    ));
                }
            }
            sent => break sent,
        }
    };
    drop(one_wait);
    let messages = match messages {
        Ok(messages) => messages,
        Err(e) if is_absent(&e) => {
            if let Some(status) = &status {
                refuse_unarrived(client, status, bound)?;
            }
            return Ok(Err(hidden_ledger(client, table, bound, site)?));
        }
        Err(e) if e.code() == Some(&SqlState::QUERY_CANCELED) && !super::is_connection_lost(&e) => {
            // Our read runs without the user's `statement_timeout` (`OWN_STATEMENT_BOUNDS`):
            // canceled, it was by another session (`pg_cancel_backend`) or by a timeout too
            // short for even our `SET`. While a session holds a lock on the ledger, what was
            // canceled is the wait for it: that lock is what the user must hear about.
            let holders = holders(client, table, Wanted::Read);
            return Err(if holders.is_empty() {
                read_error(client, table, e, site.environment())
            } else {
                lock_error(
                    format!("cannot read the tracking table {table}"),
                    "the wait for it was canceled",
                    holders,
                )
            });
        }
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_COLUMN) => {
            // The rows' query found a table of the name without a ledger's columns: named as
            // the server found it, and the ledger it hides when there is one.
            let found = resolve(client, table).ok().flatten();
            if let Some(found) = &found {
                if let Some(refusal) =
                    hidden_by(client, table, found, Hiding::NotALedger, bound, site)?
                {
                    return Err(refusal);
                }
            }
            let shown = found.as_ref().unwrap_or(table);
            return Err(read_error(client, shown, e, site.environment()));
        }
        Err(e) => return Err(read_error(client, table, e, site.environment())),
    };
    // The first four CommandCompletes are the SETs' (two of `own_read_bounds`).
    let mut statement = -4;
    let mut row_security = false;
    let mut shape = Shape::default();
    let mut qualified = None;
    let mut resolved = None;
    let mut access = Access::default();
    let mut rows = Vec::new();
    let mut started_table = false;
    let mut steps_table = false;
    let mut holder = Vec::new();
    for message in messages {
        if statement == 2 {
            // The migration lock's holder (`status`), the last statement.
            holder.push(message);
            continue;
        }
        match message {
            SimpleQueryMessage::CommandComplete(_) => statement += 1,
            SimpleQueryMessage::Row(row) if statement == 0 => {
                if let (Some(schema), Some(name)) = (row.get(0), row.get(1)) {
                    let found = TrackingTable::resolved(schema, name);
                    qualified = Some(found.to_string());
                    resolved = Some(found);
                }
                access = Access {
                    insert: row.get(2) == Some("t"),
                    delete: row.get(3) == Some("t"),
                    role: row.get(4).unwrap_or_default().to_string(),
                    unfilled: row
                        .get(5)
                        .map(|c| c.split(", ").map(str::to_string).collect())
                        .unwrap_or_default(),
                    update: row.get(7) == Some("t"),
                    // No column when the table is NULL (absent): not "lacking" it.
                    lacks_applied_by: row.get(8) == Some("f"),
                    triggers: row.get(9) == Some("t"),
                    prepared: row.get(14) == Some("t"),
                };
                row_security = row.get(6) == Some("t");
                shape = Shape {
                    relkind: row.get(10).map(str::to_string),
                    missing: row.get(11).map(str::to_string),
                    mistyped: row
                        .get(12)
                        .map(crate::ledger::typed_columns)
                        .unwrap_or_default(),
                };
                started_table = row.get(13) == Some("t");
                steps_table = row.get(15) == Some("t");
                if let Some(status) = &status {
                    (status.refuse)(row.get(16), row.get(17))?;
                }
            }
            SimpleQueryMessage::Row(row) => rows.push(parse_row(table, &row)?),
            _ => {}
        }
    }
    let shown = resolved.as_ref().unwrap_or(table);
    shape.check(shown, site.environment())?;
    if row_security {
        return Err(row_security_refusal(shown, &access.role, false));
    }
    if rows.is_empty() {
        if let Some(refusal) = hidden_by(client, table, shown, Hiding::Empty, bound, site)? {
            return Err(refusal);
        }
    }
    // The markers of no-transaction migrations left started: a second round trip, only
    // where a run ever started one (the table beside the ledger exists).
    let started = match (started_table, &resolved) {
        (true, Some(found)) => read_started(
            client,
            found,
            wait.saturating_sub(began.elapsed()),
            stop,
            site.environment(),
        )?,
        _ => Vec::new(),
    };
    // confiture (Python)'s online runs left unfinished: refused before anything is planned.
    // Another round trip, only where that tool ever ran one (its checkpoints' table exists).
    if let (true, Some(found)) = (steps_table, &resolved) {
        let checkpoints = read_checkpoints(client, found, stop)?;
        let unfinished = crate::ledger::Checkpoint::unfinished_runs(&rows, &checkpoints);
        if !unfinished.is_empty() {
            return Err(crate::ledger::Checkpoint::refusal(found, &unfinished));
        }
    }
    let ledger = Ledger {
        table: qualified.unwrap_or_else(|| table.to_string()),
        rows,
        started,
    };
    Ok(Ok(Found {
        ledger,
        table: resolved.unwrap_or_else(|| table.clone()),
        access,
        run_going_on: super::lock::run_going_on_of(&holder),
    }))
}

/// The checkpoints of confiture (Python)'s online runner beside the ledger `table` (resolved,
/// [`TrackingTable::steps_table`]), read as [`crate::ledger::Checkpoint`]s: the one read of
/// them. A table dropped since the catalog said it was there has none. Bounded by
/// [`EXPLANATION_WAIT`](super::EXPLANATION_WAIT)'s `lock_timeout`: the Python tool's
/// checkpoint writes take row locks alone.
fn read_checkpoints(
    client: &mut postgres::Client,
    table: &TrackingTable,
    stop: Option<&crate::db::apply::Stop>,
) -> Result<Vec<crate::ledger::Checkpoint>> {
    let steps = table.steps_table();
    let sql = super::own_statements(&format!(
        "SET LOCAL lock_timeout = '{}ms'; SELECT {} FROM (SELECT pg_catalog.to_jsonb(t) AS j \
         FROM {} AS t) AS s ORDER BY 1, 2, 3",
        super::EXPLANATION_WAIT.as_millis(),
        crate::ledger::Checkpoint::COLUMNS,
        steps.quoted()
    ));
    let Some(messages) = send_read(client, stop, &sql) else {
        return Err(interrupted_read(table));
    };
    let messages = match messages {
        Ok(messages) => messages,
        Err(e) if is_absent(&e) => return Ok(Vec::new()),
        Err(e) => {
            return Err(super::query_error(
                &format!(
                    "cannot read {steps}, where confiture (Python)'s online runner keeps its \
                     checkpoints"
                ),
                e,
            ))
        }
    };
    Ok(messages
        .iter()
        .filter_map(|m| match m {
            // A row without a migration is not a checkpoint of Python's online runner.
            SimpleQueryMessage::Row(row) => Some(crate::ledger::Checkpoint {
                migration: row.get(0)?.to_string(),
                plan_index: row.get(1).and_then(|i| i.parse().ok()).unwrap_or_default(),
                stage: row.get(2).unwrap_or_default().to_string(),
                state: row.get(3).unwrap_or_default().to_string(),
            }),
            _ => None,
        })
        .collect())
}

/// Whether `e`, of a statement that reads or writes the start markers' table
/// ([`TrackingTable::started_table`]) and nothing else, says a table of that name is not
/// confiture's: it lacks the markers' columns, is no table, or has no key on `version`.
pub(crate) fn is_foreign_markers_table(e: &postgres::Error) -> bool {
    [
        SqlState::UNDEFINED_COLUMN,
        SqlState::WRONG_OBJECT_TYPE,
        SqlState::INVALID_COLUMN_REFERENCE,
    ]
    .iter()
    .any(|code| e.code() == Some(code))
}

/// What an error says of a table named as the start markers' table of `table` that is not
/// confiture's ([`is_foreign_markers_table`]): that it is not, and how to get it out of the
/// way — never confiture's to read, write or drop. The one wording, for the read of the
/// markers (`status`, a run's plan) and for a run's first marker written into a table a
/// migration of that run created.
pub(crate) fn foreign_markers_table(table: &TrackingTable) -> (String, String) {
    let started = table.started_table();
    (
        format!(
            "{started} is not the table of confiture's start markers: it lacks their \
             columns; confiture keeps there the no-transaction migrations a run starts"
        ),
        format!(
            "that name belongs to the tracking table {table}: rename the other table \
             (ALTER TABLE {} RENAME TO ...), or set `migration.tracking_table` to another \
             name, whose markers go to `<name>{}`",
            started.quoted(),
            crate::ledger::STARTED_SUFFIX
        ),
    )
}

/// The start markers of the no-transaction migrations runs left started beside the ledger
/// `table` (resolved, [`TrackingTable::started_table`]), by version. A table dropped since the
/// catalog said it was there has none; one this role may not read is refused (exit 5): the
/// markers are what keeps `up` from running such a migration again blindly. Its wait for a
/// lock another session holds on that table is bounded by what is left of the ledger read's
/// (`wait`, the command's `--lock-wait`: exit 6 naming the holder), and ended at once by the
/// run's `stop`, as the ledger's own read is. `env`: where the holders of a lock on a system
/// catalog are asked when this session cannot read them ([`read_lock_error`]).
fn read_started(
    client: &mut postgres::Client,
    table: &TrackingTable,
    wait: Duration,
    stop: Option<&crate::db::apply::Stop>,
    env: Option<&Environment>,
) -> Result<Vec<crate::ledger::StartedRun>> {
    let started = table.started_table();
    let mut lock_wait = super::lock::ServerWait::new(wait);
    let sent = loop {
        // Row-level security asked first, in the same message (one column, where the markers
        // have ten): a read it filters is never taken for the markers.
        let sql = super::own_statements(&format!(
            "SET LOCAL lock_timeout = '{}ms'; \
             SELECT pg_catalog.row_security_active(pg_catalog.to_regclass({})), \
             CAST(current_user AS pg_catalog.text); \
             SELECT {} FROM {} m ORDER BY version",
            lock_wait.slice_ms(),
            literal(&started.quoted()),
            crate::ledger::StartedRun::COLUMNS,
            started.quoted()
        ));
        let Some(sent) = send_read(client, stop, &sql) else {
            return Err(interrupted_read(table));
        };
        match sent {
            Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                let holders = holders(client, &started, Wanted::Read);
                if !lock_wait.again(&holders) {
                    return Err(read_lock_error(
                        client,
                        format!(
                            "cannot read {started}, where runs mark the no-transaction \
                             migrations they start"
                        ),
                        &lock_wait,
                        holders,
                        env,
                    ));
                }
            }
            sent => break sent,
        }
    };
    let messages = match sent {
        Ok(messages) => messages,
        Err(e) if is_absent(&e) => return Ok(Vec::new()),
        Err(e) if super::is_connection_lost(&e) => {
            return Err(super::query_error(&format!("cannot read {started}"), e))
        }
        // A table of that name without the markers' columns: someone else's, never
        // confiture's to read, write or drop.
        Err(e) if is_foreign_markers_table(&e) => {
            let cause = super::cause_text(&e);
            let (what, help) = foreign_markers_table(table);
            return Err(Error::invalid(what)
                .with_source_shown(e, cause)
                .with_help(help));
        }
        Err(e) => {
            let cause = super::cause_text(&e);
            // The role refused, as the server knows it; else (a transaction the refusal
            // ended) the environment's user, who logged in.
            let role = crate::db::snapshot::current_role(client)
                .ok()
                .or_else(|| env.map(|env| env.connection.user.clone()));
            let grant = match role {
                Some(role) => grant_to("SELECT, INSERT, UPDATE, DELETE", &started.quoted(), &role),
                None => format!(
                    "grant SELECT, INSERT, UPDATE, DELETE on {started} to the role that runs \
                     confiture"
                ),
            };
            return Err(Error::invalid(format!(
                "cannot read {started}, where runs mark the no-transaction migrations they \
                 start"
            ))
            .with_source_shown(e, cause)
            .with_help(format!(
                "{grant} (or drop the table when no migration is interrupted: it is made again \
                 when needed)"
            )));
        }
    };
    // A policy may hide a marker, and a hidden marker is an interrupted migration taken for
    // pending and run again: refused as the ledger is ([`row_security_refusal`]).
    let secured = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) if row.len() == 2 => {
            Some((row.get(0) == Some("t"), row.get(1).unwrap_or_default()))
        }
        _ => None,
    });
    if let Some((true, role)) = secured {
        return Err(row_security_refusal(&started, role, true));
    }
    // A marker with an unusable value is refused, never skipped: skipped, its migration was
    // taken for pending and run again.
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) if row.len() != 2 => Some(
                crate::ledger::StartedRun::read(|i| row.get(i).map(str::to_string))
                    .map_err(|unusable| unusable_marker(&started, &unusable)),
            ),
            _ => None,
        })
        .collect()
}

/// The start markers beside `table` where it resolves ([`resolve`]: the ledger, or where it
/// would be created), read as [`read_started`] reads them beside a ledger: a ledger dropped or
/// left out of a restore keeps its markers' table, and what records over a run left part-way
/// (`baseline`, `reinit`) or forgets it (`abandon`) must see that run without a ledger too.
/// None when `table` resolves nowhere or its markers' table does not exist.
pub(crate) fn markers_without_ledger(
    client: &mut postgres::Client,
    table: &TrackingTable,
    wait: Duration,
    stop: Option<&crate::db::apply::Stop>,
    env: Option<&Environment>,
) -> Result<Vec<crate::ledger::StartedRun>> {
    let what = format!("cannot tell where the tracking table {table} is");
    let began = std::time::Instant::now();
    let lock_wait = super::lock::ServerWait::new(wait);
    let ms = wait.as_millis().clamp(1, i32::MAX as u128);
    let resolved = match super::own_read(client, |tx| {
        tx.batch_execute(&format!("SET LOCAL lock_timeout = '{ms}ms'"))?;
        resolve(tx, table)
    }) {
        Ok(resolved) => resolved,
        Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
            return Err(read_lock_error(client, what, &lock_wait, Vec::new(), env));
        }
        Err(e) => return Err(super::query_error(&what, e)),
    };
    let wait = wait.saturating_sub(began.elapsed());
    match resolved {
        Some(found) => read_started(client, &found, wait, stop, env),
        None => Ok(Vec::new()),
    }
}

/// A start marker in `started` (the markers' table) that [`crate::ledger::StartedRun::read`]
/// cannot read: exit 5, naming the table, the marker and its column, with the statements that
/// complete it or forget it: the read's refusal, and a run's that finds such a marker where it
/// starts a migration.
pub(crate) fn unusable_marker(
    started: &TrackingTable,
    marker: &crate::ledger::UnusableMarker,
) -> Error {
    let shown = crate::config::shown;
    let what = match &marker.value {
        None => format!("with no {}", marker.column),
        Some(value) => format!("whose {} is {}", marker.column, shown(value)),
    };
    let (which, condition) = match (&marker.version, &marker.name) {
        (Some(version), _) => (
            format!(" (version {})", shown(version)),
            format!("version = {}", literal(version)),
        ),
        (None, Some(name)) => (
            format!(" (name {})", shown(name)),
            format!("version IS NULL AND name = {}", literal(name)),
        ),
        (None, None) => (String::new(), "version IS NULL".to_string()),
    };
    let q = started.quoted();
    let (value, note) = match marker.column {
        "direction" => ("'up'", " ('down' for a rollback's marker)"),
        "statement" => ("<the number of the statement that was running>", ""),
        "statements" => ("<the file's count of statements>", ""),
        _ => ("<its value>", ""),
    };
    Error::invalid(format!(
        "the start markers' table {started} has a marker {what}{which}"
    ))
    .with_detail(
        "a run writes every value of a marker but client_addr: this one was written or \
         edited by hand; a marker is a no-transaction migration left interrupted, never \
         skipped as if it were not there",
    )
    .with_help(format!(
        "complete it (UPDATE {q} SET {column} = {value} WHERE {condition};){note}, or delete it \
         (DELETE FROM {q} WHERE {condition};) once what its migration committed is dealt \
         with; then run {AGAIN}",
        column = marker.column,
    ))
}

/// What the catalogs say of the ledger's shape, read with its rows: a ledger every command can
/// read but whose rows cannot be written must be refused before anything runs — a
/// no-transaction migration would otherwise commit and then fail to be recorded.
#[derive(Debug, Default)]
struct Shape {
    /// `pg_class.relkind`: `r` (a table) or `p` (a partitioned table) take confiture's rows.
    relkind: Option<String>,
    /// The columns of [`LEDGER_SHAPE`] it lacks (the read selects only some of them).
    missing: Option<String>,
    /// The columns of [`TEXT_COLUMNS`] whose type is not a string type, with that type
    /// (`format_type`: `bigint`).
    mistyped: Vec<(String, String)>,
}

/// The columns of a confiture ledger that hold text, with their type in confiture's DDL
/// ([`TrackingTable::create_sql`], as `format_type` writes it): confiture (Python) compares
/// and writes them as text, so any string type will do (a hand-made ledger's `text`), and a
/// column made another (`version` made `bigint`: `'001'` read back as `1`) is refused.
const TEXT_COLUMNS: [(&str, &str); 4] = [
    ("slug", "text"),
    ("version", "character varying(255)"),
    ("name", "character varying(255)"),
    ("checksum", "character varying(64)"),
];

/// The columns of [`TEXT_COLUMNS`] of the table whose OID is the SQL expression `oid` that are
/// not of a string type, as `name type; ...` (`format_type`), NULL when none: the one rule of a
/// ledger's mistyped columns, which the read refuses ([`Shape::check`], exit 5) and the check
/// before each migration's row fails a migration for ([`crate::ledger::LedgerCheck::Altered`],
/// [`altered_check`]). Every name is `pg_catalog`'s: the check runs under the `search_path` a
/// migration set.
fn mistyped_columns_sql(oid: &str) -> String {
    format!(
        "(SELECT pg_catalog.string_agg(a.attname OPERATOR(pg_catalog.||) ' ' \
         OPERATOR(pg_catalog.||) pg_catalog.format_type(a.atttypid, a.atttypmod), '; ' \
         ORDER BY a.attnum) \
         FROM pg_catalog.pg_attribute a \
         JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid \
         WHERE a.attrelid OPERATOR(pg_catalog.=) {oid} AND a.attnum OPERATOR(pg_catalog.>) 0 \
         AND NOT a.attisdropped \
         AND a.attname OPERATOR(pg_catalog.=) ANY (ARRAY[{text_columns}]::pg_catalog.name[]) \
         AND t.typcategory OPERATOR(pg_catalog.<>) 'S')",
        text_columns = TEXT_COLUMNS.map(|(c, _)| literal(c)).join(", "),
    )
}

/// The types a column of [`TEXT_COLUMNS`] has in confiture's DDL and hand-made ledgers, by
/// OID (fixed for every built-in type): `text` (25), `varchar` (1043), `bpchar` (1042) and
/// `name` (19), all of the string category. The check before each row looks for a column of
/// another type first ([`altered_check`]), which one index look-up answers; only then does it
/// run the rule itself ([`mistyped_columns_sql`], which accepts any string type: `citext`, a
/// domain over `text`).
pub(crate) const COMMON_TEXT_TYPES: [u32; 4] = [25, 1043, 1042, 19];

/// The check, just before a migration's row, that the tracking table's text columns are still
/// of a string type ([`mistyped_columns_sql`]), as an expression for the statement of checks
/// that runs anyway: else [`crate::ledger::LedgerCheck::Altered`] fails the migration, whose
/// row would have been written into a ledger the next read refuses (`version` made `bigint`:
/// `'003'` recorded as `3`), naming each column and its type now
/// ([`crate::ledger::AlteredLedger`]). True when no table has the name (the row then fails on
/// its own, naming the drop). The rule's join of `pg_attribute` and `pg_type` cost ~24 µs a migration;
/// it runs only when a column is not of one of [`COMMON_TEXT_TYPES`]
/// ([`crate::ledger::only_when_reached`]). `now`: the SQL expression of the table's OID now
/// (`regclass`, NULL when no table has the name: [`TrackingTable::regclass`], or a column the
/// statement computed it into once); the rule itself, a query of its own, looks it up again.
pub(crate) fn altered_check(table: &TrackingTable, now: &str) -> String {
    let rule = crate::ledger::LedgerCheck::Altered.unless_untyped(&mistyped_columns_sql(&format!(
        "{}::pg_catalog.oid",
        table.regclass()
    )));
    let oid = format!("{now}::pg_catalog.oid");
    format!(
        "CASE WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a \
         WHERE a.attrelid OPERATOR(pg_catalog.=) {oid} AND a.attnum OPERATOR(pg_catalog.>) 0 \
         AND NOT a.attisdropped \
         AND a.attname OPERATOR(pg_catalog.=) ANY (ARRAY[{text_columns}]::pg_catalog.name[]) \
         AND a.atttypid OPERATOR(pg_catalog.<>) ALL (ARRAY[{common}]::pg_catalog.oid[])) \
         THEN '' ELSE {rule} END",
        text_columns = TEXT_COLUMNS.map(|(c, _)| literal(c)).join(", "),
        common = COMMON_TEXT_TYPES.map(|t| t.to_string()).join(", "),
    )
}

impl Shape {
    /// Refuses (exit 5) a ledger that is not a table, or lacks a column confiture writes.
    fn check(&self, table: &TrackingTable, env: Option<&Environment>) -> Result<()> {
        let what = match self.relkind.as_deref() {
            None | Some("r" | "p") => None,
            Some("v") => Some("a view"),
            Some("m") => Some("a materialized view"),
            Some("f") => Some("a foreign table"),
            _ => Some("not a table"),
        };
        if let Some(what) = what {
            return Err(Error::invalid(format!(
                "the tracking table {table} is {what}, not the ledger table confiture writes \
                 a row to per migration; nothing was read or written"
            ))
            .with_help(
                "set migration.tracking_table to the table itself (schema-qualified: \
                 SCHEMA.NAME)",
            ));
        }
        if let Some(missing) = &self.missing {
            return Err(not_a_ledger(table, env).with_cause(format!(
                "it has no column {}",
                crate::display::escape(missing)
            )));
        }
        match self.mistyped.as_slice() {
            [] => Ok(()),
            mistyped => Err(mistyped_columns(table, mistyped)),
        }
    }
}

/// The refusal of a ledger whose text columns ([`TEXT_COLUMNS`]) have another type (exit 5),
/// with the `ALTER TABLE` giving each its type back: `version` padded back to the width of the
/// files' versions (`lpad`: `1` becomes `001`), which only the files know — the help says
/// which, never a `reinit`, which writes text into the column and cannot work then.
fn mistyped_columns(table: &TrackingTable, mistyped: &[(String, String)]) -> Error {
    let expected = |column: &str| {
        TEXT_COLUMNS
            .iter()
            .find(|(c, _)| *c == column)
            .map_or("text", |(_, ty)| ty)
    };
    let described: Vec<String> = mistyped
        .iter()
        .map(|(column, ty)| {
            format!(
                "column {column} of type {}, not the {} of confiture's ledger",
                crate::display::escape(ty),
                expected(column)
            )
        })
        .collect();
    let repairs: Vec<String> = mistyped
        .iter()
        .map(|(column, _)| {
            let text = format!("CAST({column} AS pg_catalog.text)");
            let using = if column == "version" {
                format!("pg_catalog.lpad({text}, WIDTH, '0')")
            } else {
                text
            };
            format!(
                "ALTER TABLE {} ALTER COLUMN {column} TYPE {} USING {using};",
                crate::display::escape(&table.to_string()),
                expected(column)
            )
        })
        .collect();
    let width = if mistyped.iter().any(|(column, _)| column == "version") {
        " (WIDTH: the digits of the migration files' versions, 3 for 001_name.up.sql, so that \
         each version reads as its file spells it)"
    } else {
        ""
    };
    Error::invalid(format!(
        "the tracking table {table} has {}: confiture (Python) compares its values as text; \
         nothing was read or written",
        described.join(", and ")
    ))
    .with_help(format!(
        "give the column its type back{width}: {}",
        repairs.join(" ")
    ))
}

/// The refusal of a table that lacks a confiture ledger's columns (exit 5). The help names
/// `migration.tracking_table` where the user can set it ([`Environment::set_in_file`]: the
/// environment file, or one to give with `-c` when `--database-url` reads none); generically
/// when the environment is not known (a tenant's ledger, the engine's own reads).
fn not_a_ledger(table: &TrackingTable, env: Option<&Environment>) -> Error {
    let setting = match env {
        Some(env) => env.set_in_file("migration.tracking_table", "SCHEMA.NAME"),
        None => "`migration.tracking_table`".to_string(),
    };
    Error::invalid(format!(
        "the tracking table {table} is not a confiture ledger"
    ))
    .with_help(format!(
        "the tracking table must be the table confiture created (columns pk_confiture, slug, \
         version, name, applied_at, execution_time_ms, checksum; applied_by since confiture \
         0.17, added when missing): name confiture's ledger with {setting}, or move this \
         table out of the way"
    ))
}

/// How many objects [`unrecorded`] names.
const UNRECORDED_LISTED: i64 = 5;

/// What the database holds where the migrations build (`site`, [`BuildSite`]) when it has no
/// history: `table` does not exist (`rows` `None`) or has no rows
/// ([`crate::ledger::Unrecorded`]); `None` when it holds nothing there, or when `rows` has
/// some — then without a round trip.
///
/// What: tables, views, materialized views, foreign tables, sequences no column owns,
/// standalone composite types, enums, domains, ranges, functions and procedures — made since
/// the database was created: an object copied from its template (`template1` with a DBA's
/// function) has an OID older than the database's own, taken when `CREATE DATABASE` ran (a
/// cluster whose OID counter wrapped around since may leave one out). An extension's members
/// are not counted (an extension a DBA installed in a new database). The ledger itself (this
/// session's uncommitted DDL, or the empty table) is left out, with its partitions (nested
/// too: a ledger partitioned by hand is one table), and the table of start markers
/// beside it ([`TrackingTable::started_table`]), and what confiture (Python) keeps for itself
/// (its schema of view helpers, its lock holder and the ledger's `_steps` table:
/// [`crate::ledger::python_bookkeeping_tables`]), which its `status` alone creates beside an
/// empty ledger. Where: a tenant's schema alone;
/// for the whole database, the `search_path`'s schemas, and every other user schema but
/// those holding a confiture ledger of `table`'s name (tenants'), `table`'s own schema when it
/// is qualified (the ledger's place) and, there, only objects of roles the connecting one is a
/// member of (a managed service's own schemas are not the migrations').
///
/// Its reads wait for another session's lock on a catalog no longer than `bound`, the
/// command's lock wait (exit 6 naming the holder). The same read says where the start markers'
/// table stands beside `table` when it does ([`markers_without_ledger`]'s answer, without its
/// round trips): they are read, in a second round trip, only then.
pub(crate) fn unrecorded(
    client: &mut postgres::Client,
    table: &TrackingTable,
    site: BuildSite<'_>,
    rows: Option<&[LedgerRow]>,
    bound: CatalogBound<'_>,
) -> Result<Option<crate::ledger::Unrecorded>> {
    if rows.is_some_and(|rows| !rows.is_empty()) {
        return Ok(None);
    }
    let schemas = match site {
        BuildSite::Tenant(schema) => {
            format!("n.nspname OPERATOR(pg_catalog.=) {}", literal(schema))
        }
        BuildSite::Database(_) => format!(
            "n.nspname OPERATOR(pg_catalog.<>) {python_schema} \
             AND (n.nspname OPERATOR(pg_catalog.=) ANY (pg_catalog.current_schemas(false)) \
             OR (n.nspname OPERATOR(pg_catalog.!~) '^pg_' \
             AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema' {ledgers_schema}\
             AND pg_catalog.pg_has_role(o.owner, 'MEMBER') \
             AND NOT EXISTS (SELECT FROM pg_catalog.pg_class c \
              WHERE c.relnamespace OPERATOR(pg_catalog.=) n.oid \
              AND c.relname OPERATOR(pg_catalog.=) {name} \
              AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::pg_catalog.\"char\"[]) \
              AND {shaped})))",
            ledgers_schema = match &table.schema {
                Some(schema) =>
                    format!("AND n.nspname OPERATOR(pg_catalog.<>) {} ", literal(schema)),
                None => String::new(),
            },
            name = literal(&table.name),
            shaped = ledger_shaped("c"),
            python_schema = literal(crate::ledger::PYTHON_HELPER_SCHEMA),
        ),
    };
    // Where the ledger resolves ([`resolve`]: found by the search_path, else where it would
    // be created), and whether the markers' table stands there.
    let ledger_schema = match &table.schema {
        Some(schema) => format!("CAST({} AS pg_catalog.text)", literal(schema)),
        None => format!(
            "(SELECT CAST(n.nspname AS pg_catalog.text) FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
             WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass({}))",
            literal(&table.quoted())
        ),
    };
    let markers = format!(
        "{ledger_schema}, CAST(pg_catalog.current_schema() AS pg_catalog.text), \
         pg_catalog.to_regclass(pg_catalog.quote_ident(COALESCE({ledger_schema}, \
         pg_catalog.current_schema())) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) \
         pg_catalog.quote_ident({started})) IS NOT NULL",
        started = literal(&table.started_table().name),
    );
    let sql = format!(
        "SELECT o.what, pg_catalog.count(*) OVER (), {markers} FROM (\
         SELECT pg_catalog.format('%s %I.%I', \
         CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'v' THEN 'view' \
         WHEN c.relkind OPERATOR(pg_catalog.=) 'm' THEN 'materialized view' \
         WHEN c.relkind OPERATOR(pg_catalog.=) 'f' THEN 'foreign table' \
         WHEN c.relkind OPERATOR(pg_catalog.=) 'S' THEN 'sequence' \
         WHEN c.relkind OPERATOR(pg_catalog.=) 'c' THEN 'type' ELSE 'table' END, \
         n.nspname, c.relname) \
         AS what, c.oid, 'pg_catalog.pg_class'::pg_catalog.regclass AS classid, \
         c.relnamespace AS nsp, c.relowner AS owner \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
         WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'v', 'm', 'f', 'S', 'c']::pg_catalog.\"char\"[]) \
         AND c.oid OPERATOR(pg_catalog.<>) COALESCE(pg_catalog.to_regclass({ledger}), 0) \
         AND c.oid OPERATOR(pg_catalog.<>) COALESCE(pg_catalog.to_regclass({started}), 0) \
         AND NOT (c.relispartition AND EXISTS (WITH RECURSIVE up(oid) AS (\
          SELECT i.inhparent FROM pg_catalog.pg_inherits i \
          WHERE i.inhrelid OPERATOR(pg_catalog.=) c.oid \
          UNION SELECT i.inhparent FROM pg_catalog.pg_inherits i \
          JOIN up ON i.inhrelid OPERATOR(pg_catalog.=) up.oid) \
          SELECT FROM up WHERE up.oid OPERATOR(pg_catalog.=) \
          COALESCE(pg_catalog.to_regclass({ledger}), 0))) \
         AND c.relname OPERATOR(pg_catalog.<>) ALL (ARRAY[{python_tables}]) \
         AND NOT (c.relkind OPERATOR(pg_catalog.=) 'S' AND EXISTS (SELECT FROM pg_catalog.pg_depend d \
          WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass \
          AND d.objid OPERATOR(pg_catalog.=) c.oid \
          AND d.deptype OPERATOR(pg_catalog.=) ANY (ARRAY['a', 'i']::pg_catalog.\"char\"[]))) \
         UNION ALL \
         SELECT pg_catalog.format('type %I.%I', n.nspname, t.typname), t.oid, \
         'pg_catalog.pg_type'::pg_catalog.regclass, t.typnamespace, t.typowner \
         FROM pg_catalog.pg_type t \
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) t.typnamespace \
         WHERE t.typtype OPERATOR(pg_catalog.=) ANY (ARRAY['e', 'd', 'r']::pg_catalog.\"char\"[]) \
         UNION ALL \
         SELECT pg_catalog.format('function %I.%I', n.nspname, p.proname), p.oid, \
         'pg_catalog.pg_proc'::pg_catalog.regclass, p.pronamespace, p.proowner \
         FROM pg_catalog.pg_proc p \
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace\
         ) o \
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) o.nsp \
         WHERE o.oid OPERATOR(pg_catalog.>=) (SELECT d.oid FROM pg_catalog.pg_database d \
          WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) \
         AND {schemas} \
         AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend e \
          WHERE e.classid OPERATOR(pg_catalog.=) o.classid \
          AND e.objid OPERATOR(pg_catalog.=) o.oid AND e.deptype OPERATOR(pg_catalog.=) 'e') \
         ORDER BY 1 LIMIT {UNRECORDED_LISTED}",
        ledger = literal(&table.quoted()),
        started = literal(&table.started_table().quoted()),
        python_tables = crate::ledger::python_bookkeeping_tables(&table.name)
            .map(|name| literal(&name))
            .join(", "),
    );
    let messages = bound.read(client, table, &sql)?;
    let mut objects = Vec::new();
    let mut count = 0;
    // Where the markers' table stands, when it does: `resolve`'s answer.
    let mut markers_table = None;
    for message in messages {
        if let SimpleQueryMessage::Row(row) = message {
            objects.push(row.get(0).unwrap_or_default().to_string());
            count = row.get(1).and_then(|n| n.parse().ok()).unwrap_or(0);
            let schema = match &table.schema {
                Some(schema) => Some(schema.clone()),
                None => row
                    .get(2)
                    .map(str::to_string)
                    .or_else(|| creation_schema(row.get(3).map(str::to_string))),
            };
            markers_table = schema
                .filter(|_| row.get(4) == Some("t"))
                .map(|schema| TrackingTable::resolved(&schema, &table.name));
        }
    }
    if objects.is_empty() {
        return Ok(None);
    }
    // A run left part-way keeps its start marker beside an emptied or dropped ledger: the
    // baseline the help suggests records over it, and takes `--yes` for it. Read only once
    // objects refuse a run and the markers' table stands there (a round trip more, on the
    // refusal's way), within what is left of the command's lock wait.
    let markers = match &markers_table {
        Some(found) => read_started(client, found, bound.left(), bound.stop, bound.env)?,
        None => Vec::new(),
    };
    Ok(Some(crate::ledger::Unrecorded {
        table: table.to_string(),
        objects,
        count,
        ledger_empty: rows.is_some(),
        records_over_run: !markers.is_empty(),
    }))
}

/// An unqualified tracking table name `search_path` does not find, while a ledger of that name
/// (a table with confiture's columns, [`WRITTEN_COLUMNS`]) is in another schema of the
/// database: refused (exit 5), naming where it is and what to set — a `search_path` changed
/// since the ledger was made (`ALTER DATABASE ... SET search_path = app`) would otherwise make
/// `up` start a second ledger and run every migration again. Asked only once the read found no
/// table (no round trip more when it is found), and never for a tenant's ledger (`site`
/// [`BuildSite::Tenant`]: `--schema`, `--schemas-query`): its `<schema>.<name>` is its own,
/// whatever the other tenants have. A schema-qualified name of the whole database's
/// (`migration.tracking_table: ops.tb_confiture`) is found by no `search_path`: the one rule
/// for it is [`ledger_under_another_name`]'s, a ledger with rows in a schema of the session's
/// `search_path` — where the whole database's ledger is found, and no tenant's ever is
/// (`fleet::Target::schema` refuses those schemas), so tenants' ledgers never refuse it.
fn hidden_ledger(
    client: &mut postgres::Client,
    table: &TrackingTable,
    bound: CatalogBound<'_>,
    site: BuildSite<'_>,
) -> Result<Creation> {
    let BuildSite::Database(env) = site else {
        return Ok(Creation::Unasked);
    };
    if let Some(schema) = &table.schema {
        // A schema-qualified name is deliberate: a ledger of its own, beside any other
        // application's ledger in the database, refusing only the one it misspells by case
        // (quoted, `PUBLIC.TB_CONFITURE` is another table than `public.tb_confiture`).
        let same_but_case = format!(
            "AND pg_catalog.lower(n.nspname) OPERATOR(pg_catalog.=) pg_catalog.lower({schema}) \
             AND pg_catalog.lower(c.relname) OPERATOR(pg_catalog.=) pg_catalog.lower({name}) ",
            schema = literal(schema),
            name = literal(&table.name),
        );
        let mut schemas = Vec::new();
        let hidden = ledger_under_another_name(
            client,
            table,
            bound,
            &same_but_case,
            None,
            Some(&mut schemas),
        )?;
        return match hidden {
            Some(refusal) => Err(refusal),
            None => Ok(Creation::Known {
                name: Some(table.to_string()),
                markers_beside: true,
                schemas: Some(schemas),
            }),
        };
    }
    let sql = format!(
        "SELECT n.nspname, pg_catalog.current_setting('search_path'), \
         pg_catalog.has_schema_privilege(n.oid, 'USAGE'), current_user, {origin}, \
         pg_catalog.current_schema(), \
         pg_catalog.to_regclass(pg_catalog.quote_ident(pg_catalog.current_schema()) \
         OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident({started})) \
         IS NOT NULL \
         FROM (SELECT) AS confiture_one LEFT JOIN (pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
         AND c.relname OPERATOR(pg_catalog.=) {name} \
         AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::pg_catalog.\"char\"[]) \
         AND {shaped}) ON true \
         ORDER BY 1",
        name = literal(&table.name),
        started = literal(&table.started_table().name),
        shaped = ledger_shaped("c"),
        origin = super::settings::SettingOrigin::columns("search_path"),
    );
    let messages = bound.read(client, table, &sql)?;
    let mut schemas = Vec::new();
    let mut unusable = Vec::new();
    let mut role = String::new();
    let mut search_path = String::new();
    let mut origin = super::settings::SettingOrigin::default();
    // Where this session creates an unqualified ledger: the schema a ledger of the whole
    // database's own is qualified with, beside tenants' ledgers (none when no schema of the
    // search_path exists, or a system schema is first: [`creation_schema`]). Read whether or
    // not a ledger is found (one row of NULLs then): what `up` refuses a ledger with nowhere
    // to be created by ([`Creation`]), at no round trip of its own.
    let mut current_schema = None;
    // Whether the markers' table stands in the schema it would be created in.
    let mut markers_beside = false;
    for message in messages {
        if let SimpleQueryMessage::Row(row) = message {
            search_path = row.get(1).unwrap_or_default().to_string();
            role = row.get(3).unwrap_or_default().to_string();
            origin =
                super::settings::SettingOrigin::from_row(|i| row.get(i).map(str::to_string), 4);
            current_schema = creation_schema(row.get(7).map(str::to_string));
            markers_beside = row.get(8) == Some("t");
            let Some(schema) = row.get(0) else {
                continue;
            };
            if !crate::ledger::is_system_schema(schema) {
                if row.get(2) == Some("f") {
                    unusable.push(schema.to_string());
                }
                schemas.push(TrackingTable::resolved(schema, &table.name));
            }
        }
    }
    if schemas.is_empty() {
        let creation = created_as(table, current_schema);
        let separate = creation
            .clone()
            .unwrap_or_else(|| format!("SCHEMA.{}", quote_ident(&table.name)));
        return match ledger_under_another_name(client, table, bound, "", Some(&separate), None)? {
            Some(refusal) => Err(refusal),
            None => Ok(Creation::Known {
                name: creation,
                markers_beside,
                schemas: None,
            }),
        };
    }
    // The ledger's schema is one the role may not use: the search_path skips it whether it
    // names it or not (`current_schemas` leaves it out), and no search_path nor qualified name
    // reaches it. The grant is the way (one ledger: else tenants', left to the rule below).
    if let ([one], [schema]) = (schemas.as_slice(), unusable.as_slice()) {
        let shown_schema = shown_ident(schema);
        let shown_role = shown_ident(&role);
        return Err(Error::invalid(format!(
            "the tracking table {name} is out of this session's reach: the ledger is \
                 {ledger}, and role {shown_role} has no USAGE on schema {shown_schema} (the \
                 search_path `{search_path}` skips a schema the role may not use); nothing was \
                 read or written",
            name = shown_ident(&table.name),
            ledger = crate::display::escape(&one.to_string()),
            search_path = crate::display::escape(&search_path),
        ))
        .with_help(format!(
            "grant role {shown_role} USAGE on schema {shown_schema}: GRANT USAGE ON SCHEMA \
                 {shown_schema} TO {shown_role};"
        )));
    }
    let shown = |t: &TrackingTable| crate::display::escape(&t.to_string()).to_string();
    let name = crate::display::escape(&quote_ident(&table.name)).to_string();
    // Where the search_path comes from, as the server says (the database's, the role's, the
    // connection's options in the URL or file the user gave): the change that puts the
    // ledger's schema back on it is made there; with no environment known (the engine's own
    // reads), its settings are named generically.
    // Where the connection's options are written ([`Environment::server_source`]): a database
    // a target list names by name has the fleet's environment's, never its entry's line.
    let source = env.map_or_else(
        || "the connection settings".to_string(),
        crate::config::Environment::server_source,
    );
    // A tenant schema's ledger (`--schema`, `--schemas-query`) is off the whole database's
    // search_path by rule (`fleet::Target::schema`), exactly as the database's own is after
    // its search_path changed: which one it is, only the user knows. Tenants migrated before
    // the whole database has a ledger of its own: that one qualified with the schema its
    // session creates tables in, which the tenants' ledgers never refuse
    // ([`ledger_under_another_name`] looks on the search_path only).
    let own = match &current_schema {
        Some(schema) => TrackingTable::resolved(schema, &table.name).to_string(),
        None => format!("SCHEMA.{}", quote_ident(&table.name)),
    };
    let own = format!(
        "for the whole database to have a ledger of its own beside its tenants', set {}",
        tracking_table_setting(env, &own)
    );
    let (found, which) = match schemas.as_slice() {
        [one] => {
            let schema = one.schema.as_deref().unwrap_or_default();
            let path = super::settings::search_path_with(&search_path, schema);
            let value = one.to_string();
            let setting = tracking_table_setting(env, &value);
            // Never the tenant's ledger proposed as the database's without saying it may be
            // a tenant's: followed, the whole database would read the tenant's history as its
            // own, and its `down` drop the tenant's tables.
            (
                format!("a ledger of that name is {}", shown(one)),
                crate::display::escape(&format!(
                    "if {value} is the ledger of tenant schema {tenant} (`{flag} {tenant}`, \
                     `--schemas-query`), act on that tenant with `{flag} {tenant}`; {own}; \
                     if it is this database's own ledger, its search_path changed since: put \
                     {schema_ident} on the search_path ({}), or set {setting}",
                    super::settings::lift(
                        "search_path",
                        &path,
                        &origin,
                        &source,
                        env.map(|env| &env.connection)
                    ),
                    flag = crate::hint::SCHEMA_FLAG,
                    tenant = crate::hint::quote(schema),
                    schema_ident = quote_ident(schema),
                ))
                .into_owned(),
            )
        }
        // Ledgers in several schemas: a database of tenant schemas, each with its own ledger
        // (`--schemas-query`), far more often than several ledgers of the database's own.
        // Listed cut (a thousand tenants are not a 70 kB message), and never one tenant's
        // ledger proposed as the database's: its history would be read as the database's.
        many => (
            format!(
                "{} schemas have a ledger of that name ({})",
                many.len(),
                crate::display::cut(many.iter().map(shown).collect()).join(", ")
            ),
            format!(
                "these look like the ledgers of tenant schemas: act on one tenant with `{flag} \
                 NAME` (`{flag} {first}`), on each of them with `--schemas-query`; {own}; if \
                 one of them is this database's own ledger, set `migration.tracking_table: \
                 SCHEMA.{table}` to it",
                flag = crate::hint::SCHEMA_FLAG,
                first = crate::hint::quote(many[0].schema.as_deref().unwrap_or_default()),
                table = name,
                own = crate::display::escape(&own),
            ),
        ),
    };
    // No "separate ledger" way out but the tenants' one above: a ledger of this name with
    // rows is there, and one started beside it would run every migration again.
    let search_path = crate::display::escape(&search_path);
    Err(Error::invalid(format!(
        "the tracking table {name} is not on this session's search_path `{search_path}`: \
         {found}; nothing was read or written"
    ))
    .with_help(which))
}

/// How a refusal's help says to set `migration.tracking_table` to `value`: where the user of
/// `env` sets it ([`Environment::set_in_file`]), or generically when the environment is not
/// known (the engine's own reads).
fn tracking_table_setting(env: Option<&Environment>, value: &str) -> String {
    match env {
        Some(env) => env.set_in_file("migration.tracking_table", value),
        None => format!("`migration.tracking_table: {value}`"),
    }
}

/// What the table an unqualified name found is, when it hides a ledger ([`hidden_by`]).
#[derive(Clone, Copy)]
enum Hiding {
    /// A table of a ledger's shape with no rows.
    Empty,
    /// A table without a ledger's columns.
    NotALedger,
}

/// An unqualified tracking table name the `search_path` finds as an empty table, or as a
/// table that is no ledger (`found`, `hiding` says which), while a table of that name and a
/// ledger's shape with rows is in a later schema of the `search_path` (an empty `tb_confiture`
/// in the `"$user"` schema, before `public`'s): refused (exit 5), naming which hides which —
/// read as it is, every migration would look pending (a script's cue to run `up`) and `up`
/// would start a second history in the empty one; the other was refused as "not a confiture
/// ledger" without a word of either. Asked only when the table found is empty or no ledger (no
/// round trip more otherwise), never for a qualified name (the table asked for) nor a tenant's
/// ledger (its own, and no tenant's schema is on the whole database's `search_path`).
fn hidden_by(
    client: &mut postgres::Client,
    table: &TrackingTable,
    found: &TrackingTable,
    hiding: Hiding,
    bound: CatalogBound<'_>,
    site: BuildSite<'_>,
) -> Result<Option<Error>> {
    let BuildSite::Database(env) = site else {
        return Ok(None);
    };
    let Some(found_schema) = found.schema.as_deref().filter(|_| table.schema.is_none()) else {
        return Ok(None);
    };
    let filter = format!(
        "AND n.nspname OPERATOR(pg_catalog.=) ANY (pg_catalog.current_schemas(false)) \
         AND n.nspname OPERATOR(pg_catalog.<>) {schema} \
         AND c.relname OPERATOR(pg_catalog.=) {name} ",
        schema = literal(found_schema),
        name = literal(&table.name),
    );
    let hidden: Vec<(TrackingTable, u64)> = ledgers_with_rows(client, table, bound, &filter, None)?
        .into_iter()
        .filter_map(|(ledger, rows)| Some((ledger, rows?)))
        .collect();
    let Some((first, _)) = hidden.first() else {
        return Ok(None);
    };
    let sql = "SELECT pg_catalog.current_setting('search_path')";
    let search_path = bound
        .read(client, table, sql)?
        .into_iter()
        .find_map(|message| match message {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap_or_default();
    let described: Vec<String> = hidden
        .iter()
        .map(|(ledger, rows)| {
            let plural = if *rows == 1 { "" } else { "s" };
            format!("{ledger} ({rows} row{plural})")
        })
        .collect();
    let value = first.to_string();
    let setting = tracking_table_setting(env, &value);
    let (is, way_out) = match hiding {
        Hiding::Empty => ("empty", format!("drop the empty one (DROP TABLE {found};)")),
        // Not ours: never a DROP of a table that may hold the migrations' data.
        Hiding::NotALedger => (
            "not a confiture ledger",
            format!("rename {found} or move it off the search_path (it is not confiture's)"),
        ),
    };
    Ok(Some(
        Error::invalid(crate::display::escape(&format!(
            "the tracking table {name} is {found}, which is {is}, and it hides {hidden} later \
             on the search_path `{search_path}`; nothing was read or written",
            name = quote_ident(&table.name),
            hidden = crate::display::cut(described).join(", "),
        )))
        .with_help(crate::display::escape(&format!(
            "{way_out}, or set {setting}"
        ))),
    ))
}

/// The columns that make a table a confiture ledger, whatever its name: every version of
/// confiture's DDL has them (`applied_by` came with 0.17.0, so it is not one of them).
const LEDGER_SHAPE: [&str; 7] = [
    "pk_confiture",
    "slug",
    "version",
    "name",
    "applied_at",
    "execution_time_ms",
    "checksum",
];

/// An unqualified tracking table name no schema has, while another table with a confiture
/// ledger's columns ([`LEDGER_SHAPE`]) and rows is in the database — the ledger of an
/// environment file whose `migration.tracking_table` names it, the key forgotten or mistyped in
/// this copy: refused (exit 5, the configuration names the wrong table), naming it and its rows.
/// Never "not initialised" (exit 2, which a script answers with `up`): `up` would start a
/// second, empty ledger and run every migration again. The help names both ways on, neither
/// taken for the user: that ledger's name if it is this application's, or, if it is another
/// application's sharing the database, a ledger of its own under a schema-qualified name
/// (`separate`: the unqualified one qualified with the schema it would be created in) — a
/// qualified name is deliberate, and refuses only the ledger it misspells by case (`filter`,
/// the catalogs' condition of [`ledgers_with_rows`]; `separate` none then). An empty one is no
/// history to lose, and is not refused. Like [`hidden_ledger`], never for a tenant's ledger
/// (its own, whatever the other tenants have).
fn ledger_under_another_name(
    client: &mut postgres::Client,
    table: &TrackingTable,
    bound: CatalogBound<'_>,
    filter: &str,
    separate: Option<&str>,
    schemas: Option<&mut Vec<String>>,
) -> Result<Option<Error>> {
    let found: Vec<(String, Option<u64>)> =
        ledgers_with_rows(client, table, bound, filter, schemas)?
            .into_iter()
            .map(|(ledger, rows)| {
                (
                    crate::display::escape(&ledger.to_string()).to_string(),
                    rows,
                )
            })
            .collect();
    let Some((first, _)) = found.first() else {
        return Ok(None);
    };
    let setting = format!("`migration.tracking_table: {first}`");
    let described: Vec<String> = found
        .iter()
        .map(|(ledger, rows)| match rows {
            Some(1) => format!("{ledger} (1 row)"),
            Some(n) => format!("{ledger} ({n} rows)"),
            None => format!("{ledger} (rows not readable by this role)"),
        })
        .collect();
    let name = crate::display::escape(&table.to_string()).to_string();
    let (what, which) = match (described.len(), separate) {
        (1, None) => (
            format!(
                "a confiture ledger is in it under the same name but for case: {}",
                described[0]
            ),
            format!(
                "if it is this application's ledger, set {setting} in the environment file \
                 (a quoted name is case-sensitive); if this application is to have a ledger \
                 of its own beside it, name a table that differs by more than case"
            ),
        ),
        (1, Some(_)) => (
            format!(
                "a confiture ledger is in it under another name: {}",
                described[0]
            ),
            format!(
                "if it is this application's ledger, set {setting} in the environment file, \
                 as the copy that made it has"
            ),
        ),
        (n, _) => (
            format!(
                "{n} tables in it have a confiture ledger's columns: {}",
                crate::display::cut(described).join(", ")
            ),
            format!(
                "if one of them is this application's ledger, set `migration.tracking_table` \
                 in the environment file to it ({setting}, say)"
            ),
        ),
    };
    let apart = match separate {
        Some(qualified) => format!(
            "; if {it} another application's, sharing this database, give this one a \
             separate ledger with a schema-qualified name, which is taken as deliberate: \
             `migration.tracking_table: {qualified}` (its first `migrate up` will name the \
             other application's objects: `--allow-non-empty` runs over them)",
            qualified = crate::display::escape(qualified),
            it = if found.len() == 1 {
                "it is"
            } else {
                "they are"
            },
        ),
        None => String::new(),
    };
    Ok(Some(
        Error::invalid(format!(
            "the tracking table {name} does not exist in this database, but {what}; nothing \
             was read or written"
        ))
        .with_help(format!(
            "{which} (a ledger named {name} would start empty and every migration would run \
             again){apart}"
        )),
    ))
}

/// The tables of a confiture ledger's shape ([`LEDGER_SHAPE`]) in the database's user schemas
/// that hold rows (or whose rows this role may not count: `None`), each with its count, those
/// the catalogs' condition `filter` (`AND ...`, on `n`, the schema, and `c`, the table) keeps.
fn ledgers_with_rows(
    client: &mut postgres::Client,
    table: &TrackingTable,
    bound: CatalogBound<'_>,
    filter: &str,
    mut schemas: Option<&mut Vec<String>>,
) -> Result<Vec<(TrackingTable, Option<u64>)>> {
    // Rows are counted only where the role may read them (`query_to_xml` runs the count in
    // the same statement, no function of ours created); NULL (unknown) otherwise.
    let sql = format!(
        "SELECT n.nspname, c.relname, CASE WHEN pg_catalog.has_table_privilege(c.oid, 'SELECT') \
         THEN CAST(CAST((pg_catalog.xpath('/row/c/text()', pg_catalog.query_to_xml(\
         pg_catalog.format('SELECT pg_catalog.count(*) AS c FROM %I.%I', n.nspname, c.relname), \
         false, true, '')))[1] AS pg_catalog.text) AS bigint) END \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
         WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::pg_catalog.\"char\"[]) \
         AND n.nspname OPERATOR(pg_catalog.<>) ALL \
         (ARRAY['pg_catalog', 'information_schema']::pg_catalog.name[]) \
         AND NOT n.nspname OPERATOR(pg_catalog.~~) 'pg\\_%' {filter}\
         AND {shaped} \
         ORDER BY 1, 2{also}",
        shaped = ledger_shaped("c"),
        also = match schemas {
            Some(_) => ";\nSELECT nspname::pg_catalog.text FROM pg_catalog.pg_namespace",
            None => "",
        },
    );
    let messages = bound.read(client, table, &sql)?;
    let mut found = Vec::new();
    for message in messages {
        // The schemas' rows, of one column, after the ledgers' (and the bounds' `SET`s).
        if let (SimpleQueryMessage::Row(row), Some(schemas)) = (&message, schemas.as_deref_mut()) {
            if row.len() == 1 {
                schemas.extend(row.get(0).map(str::to_string));
                continue;
            }
        }
        if let SimpleQueryMessage::Row(row) = message {
            let (Some(schema), Some(name)) = (row.get(0), row.get(1)) else {
                continue;
            };
            if crate::ledger::is_system_schema(schema) {
                continue;
            }
            let rows: Option<u64> = row.get(2).and_then(|n| n.parse().ok());
            if rows == Some(0) {
                continue;
            }
            found.push((TrackingTable::resolved(schema, name), rows));
        }
    }
    Ok(found)
}

/// The catalogs' condition that the table `alias` (a `pg_class` row) has every column of a
/// confiture ledger ([`LEDGER_SHAPE`]): how a ledger is recognised under any name.
fn ledger_shaped(alias: &str) -> String {
    format!(
        "(SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute a \
          WHERE a.attrelid OPERATOR(pg_catalog.=) {alias}.oid AND a.attnum OPERATOR(pg_catalog.>) 0 \
          AND NOT a.attisdropped \
          AND a.attname OPERATOR(pg_catalog.=) ANY (ARRAY[{shape}]::pg_catalog.name[])) \
         OPERATOR(pg_catalog.=) {columns}",
        shape = LEDGER_SHAPE.map(literal).join(", "),
        columns = LEDGER_SHAPE.len(),
    )
}

/// What bounds the reads of the catalogs about a ledger ([`CatalogBound::read`]): the
/// command's lock wait (`wait`, counted from `began`: the reads of one command share it),
/// the run's `stop`, and its environment (`env`, where the holders of a lock on a catalog are
/// asked when this session cannot read them: [`read_lock_error`]).
#[derive(Clone, Copy)]
pub(crate) struct CatalogBound<'a> {
    began: std::time::Instant,
    wait: Duration,
    stop: Option<&'a crate::db::apply::Stop>,
    env: Option<&'a Environment>,
}

impl<'a> CatalogBound<'a> {
    /// A bound of `wait` from now.
    pub(crate) fn new(
        wait: Duration,
        stop: Option<&'a crate::db::apply::Stop>,
        env: Option<&'a Environment>,
    ) -> CatalogBound<'a> {
        CatalogBound {
            began: std::time::Instant::now(),
            wait,
            stop,
            env,
        }
    }

    /// The engine tests' bound: 5 s, as `ApplySettings::for_tests`' lock waits.
    #[cfg(test)]
    pub(crate) fn for_tests() -> CatalogBound<'static> {
        CatalogBound::new(Duration::from_secs(5), None, None)
    }

    /// What is left of the wait.
    fn left(&self) -> Duration {
        self.wait.saturating_sub(self.began.elapsed())
    }

    /// The `SET LOCAL lock_timeout` of a statement of the tool's own sent once, in a
    /// transaction of its own that cannot be sent again in slices (the ledger's DDL,
    /// `apply::send_tracking_table_ddl`): what is left of the wait, 1 ms at least — in the
    /// same message as the statement, no round trip of its own. Hit, it is
    /// [`CatalogBound::lock_error`].
    pub(crate) fn lock_timeout_sql(&self) -> String {
        format!(
            "SET LOCAL lock_timeout = '{}ms';",
            self.left().as_millis().clamp(1, i32::MAX as u128)
        )
    }

    /// A statement sent with [`CatalogBound::lock_timeout_sql`] that hit it (`what` failed),
    /// its transaction rolled back: exit 6 naming who holds a lock on a catalog in its way,
    /// as a read that waited the whole wait names them ([`read_lock_error`]).
    pub(crate) fn lock_error(&self, client: &mut postgres::Client, what: String) -> Error {
        let waited = super::lock::ServerWait::since(self.began, self.wait);
        read_lock_error(client, what, &waited, Vec::new(), self.env)
    }

    /// Sends `sql`, a read of the tool's own that is no ledger's (`what` it reads, for its
    /// errors: `cannot read the session's settings`), within what is left of the wait, as
    /// [`CatalogBound::read`] sends one: a lock on a catalog in its way is exit 6 naming its
    /// holder, another failure [`super::query_error`].
    pub(crate) fn send(
        self,
        client: &mut postgres::Client,
        what: &str,
        sql: &str,
    ) -> Result<Vec<SimpleQueryMessage>> {
        match send_within(client, self, &|| what.to_string(), sql)? {
            Some(sent) => sent.map_err(|e| super::query_error(what, e)),
            None => Err(interrupted_read(&what)),
        }
    }

    /// Sends `sql`, a read of the catalogs about `table`'s ledger, under the tool's own reads'
    /// bounds ([`super::own_statements`]), so that the run's stop ends it: a stopped read is
    /// [`interrupted_read`], a failed one [`read_error`]. Another session's lock on a catalog
    /// it reads (`LOCK pg_catalog.pg_depend`, `VACUUM FULL pg_namespace`) holds it what is
    /// left of the wait at most ([`send_within`]: exit 6 naming the holder).
    fn read(
        self,
        client: &mut postgres::Client,
        table: &TrackingTable,
        sql: &str,
    ) -> Result<Vec<SimpleQueryMessage>> {
        let what = || format!("cannot read the catalogs about the tracking table {table}");
        match send_within(client, self, &what, sql)? {
            None => Err(interrupted_read(table)),
            Some(Err(e)) => Err(read_error(client, table, e, None)),
            Some(Ok(messages)) => Ok(messages),
        }
    }
}

/// Sends `sql`, a read of the tool's own, under its bounds ([`super::own_statements`]) and a
/// `lock_timeout` in [`super::lock::ServerWait`]'s slices of `wait` (the command's lock wait),
/// so that `stop` ends it ([`send_read`]): `None` when stopped. A wait for another session's
/// lock that outlasts `wait` is exit 6 naming who holds a lock on a catalog it reads
/// ([`read_lock_error`], `what` failed; `env`: where to ask when this session cannot), never a
/// wait as long as that lock lasts: the one bound of the ledger's catalog reads.
fn send_within(
    client: &mut postgres::Client,
    bound: CatalogBound<'_>,
    what: &dyn Fn() -> String,
    sql: &str,
) -> Result<Option<std::result::Result<Vec<SimpleQueryMessage>, postgres::Error>>> {
    let CatalogBound {
        began,
        wait,
        stop,
        env,
    } = bound;
    let mut lock_wait = super::lock::ServerWait::since(began, wait);
    loop {
        let bounded = super::own_statements(&format!(
            "SET LOCAL lock_timeout = '{}ms'; {sql}",
            lock_wait.slice_ms()
        ));
        match send_read(client, stop, &bounded) {
            Some(Err(e)) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                if !lock_wait.again(&[]) {
                    return Err(read_lock_error(client, what(), &lock_wait, Vec::new(), env));
                }
            }
            sent => return Ok(sent),
        }
    }
}

/// Sends `sql`, a read, so that `stop` ends it: its answer, or `None` when the run was
/// stopped before it or while it came (the caller's [`interrupted_read`]).
fn send_read(
    client: &mut postgres::Client,
    stop: Option<&crate::db::apply::Stop>,
    sql: &str,
) -> Option<std::result::Result<Vec<SimpleQueryMessage>, postgres::Error>> {
    let sent = match stop {
        Some(stop) => stop.send(|| client.simple_query(sql)),
        None => Some(client.simple_query(sql)),
    };
    sent.filter(|_| !stop.is_some_and(crate::db::apply::Stop::is_set))
}

/// Row-level security applies to the ledger for `role` (`row_security_active`: enabled on the
/// table, and the role neither a superuser, nor `BYPASSRLS`, nor its owner without `FORCE`):
/// refused (exit 5) before anything runs, whatever the policies say. A policy may hide rows,
/// and a hidden row is an applied migration taken for pending and run again (the Python tool
/// reads the same table); a policy may refuse the row written after a migration's SQL, or
/// make `down`'s `DELETE` forget nothing.
/// With `markers`, the same of the table of start markers beside it
/// ([`TrackingTable::started_table`], `read_started`): a hidden marker is an interrupted
/// migration taken for pending.
fn row_security_refusal(table: &TrackingTable, role: &str, markers: bool) -> Error {
    let shown_role = crate::display::escape(role);
    let quoted_role = role.replace('"', "\"\"");
    let what = match markers {
        true => format!(
            "row-level security applies to {table}, where runs mark the no-transaction \
             migrations they start, for role {shown_role}: its policies may hide an \
             interrupted migration (taken for pending and run again) or refuse the markers \
             confiture writes"
        ),
        false => format!(
            "row-level security applies to the tracking table {table} for role {shown_role}: \
             its policies may hide applied migrations (taken for pending and run again) or \
             refuse the rows confiture writes"
        ),
    };
    Error::invalid(what).with_help(format!(
        "exempt the tracking table or the role: ALTER TABLE {t} DISABLE ROW LEVEL SECURITY; \
         (or, when the role owns the table, ALTER TABLE {t} NO FORCE ROW LEVEL SECURITY;), \
         or ALTER ROLE \"{quoted_role}\" BYPASSRLS;",
        t = table.quoted(),
    ))
}

/// The columns confiture writes (the others have defaults in its DDL).
const WRITTEN_COLUMNS: [&str; 7] = [
    "slug",
    "version",
    "name",
    "applied_at",
    "execution_time_ms",
    "checksum",
    "applied_by",
];

/// The ledger as [`read_qualified`] found it.
#[derive(Debug, Clone)]
pub struct Found {
    /// The ledger's rows.
    pub ledger: Ledger,
    /// The table, schema-qualified as the server resolved it.
    pub table: TrackingTable,
    /// What this session may do to it.
    pub access: Access,
    /// Who held the migration lock when the ledger was read, when the read asked
    /// (`status`'s, [`read_with_lock_holder`]); `None` otherwise.
    pub run_going_on: Option<super::lock::LockHolder>,
}

/// What this session's role may do to the ledger, read with its rows, so that a ledger the
/// engine cannot write is refused before any migration runs, naming the privilege or column,
/// instead of failing on the row after the migration's SQL (and being blamed on its file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Whether the role may insert rows.
    pub insert: bool,
    /// Whether the role may delete rows.
    pub delete: bool,
    /// `current_user`.
    pub role: String,
    /// NOT NULL columns without a default that confiture does not write.
    pub unfilled: Vec<String>,
    /// Whether the role may update rows (`reinit` rewrites them in place).
    pub update: bool,
    /// The ledger has no `applied_by` column: confiture made it before 0.17.0. Its rows read
    /// with `applied_by` NULL; a command that writes adds the column first, as confiture does
    /// ([`TrackingTable::add_applied_by_sql`]), in the transaction of its first write.
    pub lacks_applied_by: bool,
    /// The table has triggers of its own (user-defined, enabled) that fire on an `INSERT` or a
    /// `DELETE`: the engine then marks the end of every migration's statements, so that an
    /// error one of them raises on the row is the ledger's, never the file's
    /// ([`ApplySettings::ledger_triggers`](crate::db::apply::ApplySettings)).
    pub triggers: bool,
    /// A prepared transaction exists in the database: before `up` or `down` writes a row,
    /// [`refuse_prepared_in_the_way`] looks whether it holds a lock in the way.
    pub prepared: bool,
}

/// What a command writes to the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Write {
    /// `up`: a row per migration.
    Insert,
    /// `down`: deletes the rows of what it rolls back.
    Delete,
    /// `reinit`: rewrites the rows of edited files in place.
    Update,
}

impl Access {
    /// Refuses (exit 5) a ledger this role cannot write as `write` needs, naming the
    /// privilege or the column and what to do about it.
    pub fn check(&self, table: &TrackingTable, write: Write) -> Result<()> {
        let (allowed, privilege) = match write {
            Write::Insert => (self.insert, "INSERT"),
            Write::Delete => (self.delete, "DELETE"),
            Write::Update => (self.update, "UPDATE"),
        };
        let role = crate::display::escape(&self.role);
        if !allowed {
            return Err(Error::invalid(format!(
                "role {role} may not {privilege} rows of the tracking table {table}: \
                 confiture records each migration there"
            ))
            .with_help(format!(
                "{} (or run as the role that owns it)",
                grant_to(
                    if write == Write::Update {
                        "SELECT, INSERT, DELETE, UPDATE"
                    } else {
                        "SELECT, INSERT, DELETE"
                    },
                    &table.quoted(),
                    &self.role
                )
            )));
        }
        if write == Write::Insert && !self.unfilled.is_empty() {
            let columns = self.unfilled.join(", ");
            let columns = crate::display::escape(&columns);
            let noun = if self.unfilled.len() == 1 {
                "column"
            } else {
                "columns"
            };
            return Err(Error::invalid(format!(
                "the tracking table {table} has NOT NULL {noun} confiture does not write: {columns}"
            ))
            .with_help(format!(
                "give them a DEFAULT (ALTER TABLE {} ALTER COLUMN <column> SET DEFAULT ...) or drop \
                 their NOT NULL; confiture writes only {}",
                table.quoted(),
                WRITTEN_COLUMNS.join(", ")
            )));
        }
        Ok(())
    }

    /// [`Access::check`] for each kind of write `rewrite` (baseline, reinit) makes: refused
    /// (exit 5) before its transaction starts, naming the privilege, rather than failing in
    /// it on the server's "permission denied".
    pub fn check_rewrite(&self, table: &TrackingTable, rewrite: &Rewrite) -> Result<()> {
        let writes = [
            (!rewrite.delete.is_empty(), Write::Delete),
            (!rewrite.update.is_empty(), Write::Update),
            (!rewrite.insert.is_empty(), Write::Insert),
        ];
        for (_, write) in writes.iter().filter(|(needed, _)| *needed) {
            self.check(table, *write)?;
        }
        Ok(())
    }
}

/// The schema-qualified name a not-yet-created ledger would get: an unqualified name goes to
/// the first existing schema of `search_path` (`public.tb_confiture`), as `CREATE TABLE` does.
/// `None` when `search_path` names no existing schema — `CREATE TABLE` would fail (3F000,
/// [`crate::ledger::no_schema_help`]) — or when its first is a system schema
/// ([`crate::ledger::is_system_schema`]: `pg_catalog, public`), no place for a ledger: the
/// server refuses user tables in `pg_catalog` and `pg_toast` whatever the grants, and one
/// in `pg_temp` would be a temporary table, gone with the session ([`no_schema_here_help`]
/// says which). The one answer to "where would the ledger be created", which `status`, the
/// dry runs and the runs ask.
pub fn qualified_name(
    client: &mut postgres::Client,
    table: &TrackingTable,
) -> Result<Option<String>> {
    qualified_name_with(client, table, None)
}

/// [`qualified_name`], within `bound` when given ([`qualified_name_within`]).
fn qualified_name_with(
    client: &mut postgres::Client,
    table: &TrackingTable,
    bound: Option<CatalogBound<'_>>,
) -> Result<Option<String>> {
    if table.schema.is_some() {
        return Ok(Some(table.to_string()));
    }
    const CURRENT_SCHEMA: &str = "SELECT pg_catalog.current_schema()";
    let messages = match bound {
        Some(bound) => bound.read(client, table, CURRENT_SCHEMA)?,
        None => client
            .simple_query(&super::own_statements(CURRENT_SCHEMA))
            .map_err(|e| read_error(client, table, e, None))?,
    };
    let schema = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    });
    Ok(created_as(table, schema))
}

/// [`qualified_name`] within `bound`, the command's lock wait shared from its ledger read
/// ([`CatalogBound::read`]): `status`'s look-up after a missing ledger. On a session that has
/// not looked `current_schema()` and the `search_path`'s schemas up yet, another session's lock
/// on `pg_proc` or `pg_namespace` held it as long as that lock lasted; it is exit 6 naming the
/// holder once the wait is over.
pub(crate) fn qualified_name_within(
    client: &mut postgres::Client,
    table: &TrackingTable,
    bound: CatalogBound<'_>,
) -> Result<Option<String>> {
    qualified_name_with(client, table, Some(bound))
}

/// The schema-qualified name an unqualified `table` is created with by a session whose
/// `current_schema()` is `current` ([`creation_schema`]): [`qualified_name`]'s answer.
fn created_as(table: &TrackingTable, current: Option<String>) -> Option<String> {
    creation_schema(current).map(|schema| TrackingTable::resolved(&schema, &table.name).to_string())
}

/// The schema an unqualified ledger is created in by a session whose `current_schema()` is
/// `current`: that one, unless it is none or a system schema
/// ([`crate::ledger::is_system_schema`]), no place for a ledger. **The** rule of
/// [`qualified_name`], which [`resolve`] and every help proposing an unqualified ledger's
/// qualified name ask too.
fn creation_schema(current: Option<String>) -> Option<String> {
    current.filter(|schema| !crate::ledger::is_system_schema(schema))
}

/// Where `table` is in this session, schema-qualified, without reading it: an unqualified
/// name is the table `search_path` finds (as [`read`] finds it), else the one `CREATE TABLE`
/// would make in the first existing schema of `search_path` (as [`qualified_name`] says).
/// `None` when it is unqualified, not found, and `search_path` names no existing schema or
/// puts a system schema first ([`creation_schema`]). Runs in any transaction (a read-only one
/// too): one query, no error for an absent table.
pub(crate) fn resolve(
    client: &mut impl postgres::GenericClient,
    table: &TrackingTable,
) -> std::result::Result<Option<TrackingTable>, postgres::Error> {
    if table.schema.is_some() {
        return Ok(Some(table.clone()));
    }
    let row = super::own_read(client, |tx| {
        tx.query_one(
            "SELECT (SELECT n.nspname FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
             WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1::pg_catalog.text)\
             )::pg_catalog.text, pg_catalog.current_schema()::pg_catalog.text",
            &[&table.quoted()],
        )
    })?;
    let found: Option<String> = row.get(0);
    let schema = found.or_else(|| creation_schema(row.get(1)));
    Ok(schema.map(|schema| TrackingTable::resolved(&schema, &table.name)))
}

/// The engine's check of the ledger ([`LedgerCheck`]) that `db`, an error the server
/// returned, is the failure of: known by the internal query the server names with it, which
/// is the check's own ([`LedgerCheck::query`]); `None` for any other error — a migration's own,
/// whatever its SQLSTATE.
pub(crate) fn failed_check(db: &postgres::error::DbError) -> Option<LedgerCheck> {
    LedgerCheck::of(internal_query(db)?)
}

/// The query an error names as the one that failed inside the statement (`internal_query`:
/// the engine's own SQL, echoed by the server), where a check of the ledger says what it found
/// ([`crate::ledger::MovedLedger::of`], [`crate::ledger::AlteredLedger::of`]).
pub(crate) fn internal_query(db: &postgres::error::DbError) -> Option<&str> {
    match db.position()? {
        postgres::error::ErrorPosition::Internal { query, .. } => Some(query),
        postgres::error::ErrorPosition::Original(_) => None,
    }
}

/// How a whole-database session of a database resolves names ([`resolve_session`]): where
/// its tracking table is, and every schema its `search_path` names. A tenant schema must be
/// none of them (`fleet::Target::schema`): once created, the whole database's unqualified
/// names — its ledger, its migrations' objects — would resolve into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionNames {
    /// The tracking table, schema-qualified ([`resolve`]); `None` when it is unqualified and
    /// `search_path` names no existing schema.
    pub(crate) ledger: Option<TrackingTable>,
    /// The tracking table exists there (else it is where `up` would create it).
    pub(crate) ledger_exists: bool,
    /// The session's `search_path` as the server has it (`"$user", public`).
    pub(crate) search_path: String,
    /// The role `"$user"` stands for (`current_user`).
    pub(crate) user: String,
    /// The schemas of `search_path`, existing or not, `"$user"` expanded
    /// ([`super::settings::search_path_schemas`]).
    pub(crate) schemas: Vec<String>,
    /// Where the session's `search_path` comes from (the database's, the role's, the
    /// connection's options, the server's default): what a refusal blames and how its help
    /// changes it ([`super::settings::lift`]).
    pub(crate) origin: super::settings::SettingOrigin,
    /// Every schema of the database (`pg_namespace`): a tenant named with other capitals
    /// than its existing schema is refused, never created beside it.
    pub(crate) existing_schemas: Vec<String>,
    /// The schemas holding a table of the tracking table's name (tenants): a tenant schema
    /// that does not exist is told apart from a misspelt one of them
    /// ([`crate::ledger::NewTenantSchema`]).
    pub(crate) tenant_ledgers: Vec<String>,
}

/// Unit tests' session names, built in one place.
#[cfg(test)]
impl SessionNames {
    /// A session of `user` whose `search_path` is `search_path` (its schemas expanded as
    /// [`resolve_session`] expands them), its tracking table `tb_confiture` resolved in
    /// `ledger_schema` (none: unqualified, on no existing schema) and existing there or not,
    /// its path from the server's default, no schema of the database known: the fields a test
    /// cares for set with struct update.
    pub(crate) fn for_test(
        ledger_schema: Option<&str>,
        ledger_exists: bool,
        search_path: &str,
        user: &str,
    ) -> SessionNames {
        SessionNames {
            ledger: ledger_schema.map(|schema| TrackingTable::resolved(schema, "tb_confiture")),
            ledger_exists,
            search_path: search_path.to_string(),
            user: user.to_string(),
            schemas: super::settings::search_path_schemas(search_path, user),
            origin: Default::default(),
            existing_schemas: Vec::new(),
            tenant_ledgers: Vec::new(),
        }
    }
}

/// [`SessionNames`] of this session: `table` where it resolves, and the schemas of the
/// session's `search_path` setting — read and expanded here, since `current_schemas` lists
/// only the schemas that exist and a tenant's is created later; and every schema of the
/// database ([`SessionNames::existing_schemas`]). Two short queries, in any
/// transaction (a read-only one too).
pub(crate) fn resolve_session(
    client: &mut impl postgres::GenericClient,
    table: &TrackingTable,
) -> std::result::Result<SessionNames, postgres::Error> {
    let ledger = resolve(client, table)?;
    let row = client.query_one(
        &format!(
            "SELECT pg_catalog.current_setting('search_path'), \
             CAST(current_user AS pg_catalog.text), \
             pg_catalog.to_regclass($1::pg_catalog.text) IS NOT NULL, \
             ARRAY(SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_namespace n), \
             ARRAY(SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_class c \
                   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
                   WHERE c.relname OPERATOR(pg_catalog.=) $2::pg_catalog.text \
                   AND c.relkind IN ('r', 'p')), {}",
            super::settings::SettingOrigin::columns("search_path")
        ),
        &[&ledger.as_ref().unwrap_or(table).quoted(), &table.name],
    )?;
    let search_path: String = row.get(0);
    let user: String = row.get(1);
    let schemas = super::settings::search_path_schemas(&search_path, &user);
    let origin = super::settings::SettingOrigin::from_row(|i| row.get(i), 5);
    Ok(SessionNames {
        ledger_exists: row.get(2),
        existing_schemas: row.get(3),
        tenant_ledgers: row.get(4),
        ledger,
        search_path,
        user,
        schemas,
        origin,
    })
}

/// The first schema of the session's `search_path` setting that exists but that the role may
/// not use (no USAGE: `current_schemas` leaves it out, and an unqualified name neither finds
/// nor creates anything there), with the role in effect and whether it may create there:
/// why a `search_path` naming `public` "names no existing schema" for a role `REVOKE ... ON
/// SCHEMA public FROM PUBLIC` left without it. `None` when there is none, or it cannot be
/// asked.
pub(crate) fn unusable_schema_on_path(
    client: &mut postgres::Client,
) -> Option<(String, String, bool)> {
    let (role, schemas, rows) = super::explaining_read(client, |tx| {
        let row = tx.query_one(
            "SELECT pg_catalog.current_setting('search_path'), \
             CAST(current_user AS pg_catalog.text)",
            &[],
        )?;
        let (search_path, role): (String, String) = (row.get(0), row.get(1));
        let schemas = super::settings::search_path_schemas(&search_path, &role);
        let rows = tx.query(
            "SELECT n.nspname::pg_catalog.text, \
             pg_catalog.has_schema_privilege(n.oid, 'CREATE') \
             FROM pg_catalog.pg_namespace n \
             WHERE n.nspname OPERATOR(pg_catalog.=) ANY ($1) \
             AND NOT pg_catalog.has_schema_privilege(n.oid, 'USAGE')",
            &[&schemas],
        )?;
        Ok((role, schemas, rows))
    })
    .ok()?;
    schemas.iter().find_map(|schema| {
        let row = rows.iter().find(|row| row.get::<_, String>(0) == *schema)?;
        Some((role.clone(), schema.clone(), row.get(1)))
    })
}

/// The help of an unqualified tracking table with no schema to be created in, because the
/// role may not use the one its `search_path` names ([`unusable_schema_on_path`]): the grant.
pub(crate) fn unusable_schema_help(role: &str, schema: &str, may_create: bool) -> String {
    let (role, schema) = (shown_ident(role), shown_ident(schema));
    let privileges = if may_create { "USAGE" } else { "USAGE, CREATE" };
    format!(
        "the search_path names schema {schema}, but role {role} has no USAGE on it, so an \
         unqualified tracking table has nowhere to be created: GRANT {privileges} ON SCHEMA \
         {schema} TO {role};"
    )
}

/// The holder of a lock on `table` (the ledger, or its start markers' table) in the way of
/// `wanted`, if one can be found (a prepared transaction first, as every look for holders
/// finds them).
fn holders(
    client: &mut postgres::Client,
    table: &TrackingTable,
    wanted: Wanted,
) -> Vec<super::lock::LockHolder> {
    super::lock::table_lock_holder(client, &literal(&table.quoted()), wanted)
        .ok()
        .flatten()
        .into_iter()
        .collect()
}

/// Who holds a lock in the way of a write of the ledger `table` or of its start markers'
/// table ([`TrackingTable::started_table`], where it exists), which a rewrite writes too: the
/// ledger's holder first, and the table it was found on (the ledger when none was).
fn write_holders(
    client: &mut postgres::Client,
    table: &TrackingTable,
) -> (Vec<super::lock::LockHolder>, TrackingTable) {
    let on_ledger = holders(client, table, Wanted::Write);
    if !on_ledger.is_empty() {
        return (on_ledger, table.clone());
    }
    let markers = table.started_table();
    match holders(client, &markers, Wanted::Write) {
        on_markers if !on_markers.is_empty() => (on_markers, markers),
        _ => (on_ledger, table.clone()),
    }
}

/// The ledger rows `up` or `down` is about to write, for [`refuse_prepared_in_the_way`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowWrites<'a> {
    /// `up`'s: a row for each of these migrations, by its version. `tried`: the rows may be
    /// tried (inserted, then rolled back) in a transaction of their own — none is open on the
    /// session (the ledger's DDL, sent ahead, waits there to commit with the first migration).
    Insert {
        migrations: &'a [&'a crate::files::Migration],
        tried: bool,
    },
    /// `down`'s: the deletes of the rows of these versions.
    Delete(&'a [&'a str]),
}

/// Before `up` or `down` runs anything that writes the ledger `table` (resolved): a prepared
/// transaction holding a lock in the way of those writes — on the table (`SHARE` and above),
/// or, for `down`'s deletes, on one of the rows they delete, or, for `up`'s inserts, an
/// uncommitted row of a version they insert (the rows' unique index waits for its
/// transaction: no table lock is in the way, and the row is not visible to look at, so the
/// rows are tried, in a transaction rolled back, without waiting, when a prepared transaction
/// has written the table) — is exit 6 naming it, at once, with nothing run. A migration's
/// ledger row waits inside the migration's transaction, after its SQL, where the wait cannot
/// be cut into the slices of [`super::lock::ServerWait`]; and a prepared transaction never
/// ends by itself ([`super::lock::worth_waiting_for`]). Sessions in the way are waited for by
/// the row, as before; so is a transaction prepared after this look (mid-run): the row waits
/// for it at most the command's lock wait, then names it (exit 6) — looking for one before
/// every row would cost each migration a read of the server's prepared transactions, ~50 µs
/// (issue 15). Asked only when the ledger
/// read found a prepared transaction in the database ([`Access::prepared`]). `wait` bounds
/// the look at the rows.
pub(crate) fn refuse_prepared_in_the_way(
    client: &mut postgres::Client,
    table: &TrackingTable,
    rows: RowWrites<'_>,
    wait: Duration,
) -> Result<()> {
    let mut holders = holders(client, table, Wanted::Write);
    if super::lock::worth_waiting_for(&holders) {
        holders = match rows {
            RowWrites::Delete(versions) => {
                let condition = versions
                    .iter()
                    .map(|v| format!("({})", crate::ledger::version_condition(v)))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                super::lock::row_lock_holders(
                    client,
                    &table.quoted(),
                    super::lock::RowWrite::Delete {
                        condition: &condition,
                    },
                    wait,
                    MAX_PREPARED_HOLDERS,
                )
                .unwrap_or_default()
            }
            RowWrites::Insert { migrations, tried } => {
                prepared_rows_in_the_way(client, table, migrations, tried, wait)
            }
        };
    }
    if super::lock::worth_waiting_for(&holders) {
        return Ok(());
    }
    Err(lock_error(
        format!("cannot write the tracking table {table}, so nothing was run"),
        super::lock::NOT_WAITED_FOR,
        holders,
    ))
}

/// The holders of writes to `table` in the way of `up`'s rows of `migrations`, when a
/// prepared transaction is among them; else none. A prepared transaction that wrote the table
/// (`ROW EXCLUSIVE`, [`super::lock::RowWrite::Insert`]'s candidates) may hold an uncommitted
/// row of one of their versions, which is not visible: the rows are inserted, with no wait
/// for a lock (`lock_timeout` 1 ms), in a transaction rolled back whatever happens. One that
/// waited is in the way: the candidates, the prepared transactions first (the identity values
/// the trial drew are not given back: a gap in `pk_confiture`, whose order stays the rows'
/// order). Any other failure
/// of the trial is the run's to meet and report, as it would without it. Not tried (none)
/// when `tried` is false: the row met at run time does not wait for it either.
fn prepared_rows_in_the_way(
    client: &mut postgres::Client,
    table: &TrackingTable,
    migrations: &[&crate::files::Migration],
    tried: bool,
    wait: Duration,
) -> Vec<super::lock::LockHolder> {
    let candidates = super::lock::row_lock_holders(
        client,
        &table.quoted(),
        super::lock::RowWrite::Insert,
        wait,
        MAX_PREPARED_HOLDERS,
    )
    .unwrap_or_default();
    if !tried || super::lock::worth_waiting_for(&candidates) {
        return Vec::new();
    }
    let inserts: String = migrations
        .iter()
        .map(|m| {
            format!(
                "{};",
                crate::ledger::insert_sql(
                    table,
                    &m.version_text,
                    &m.name,
                    &m.up.checksum,
                    crate::ledger::RowKind::Applied,
                    "0",
                )
            )
        })
        .collect();
    let trial = format!(
        "BEGIN; {} SET LOCAL lock_timeout = '1ms'; {inserts}",
        super::OWN_STATEMENT_BOUNDS
    );
    let tried = client.batch_execute(&trial);
    // Never kept: the rollback of an aborted transaction too.
    let _ = client.batch_execute("ROLLBACK");
    match tried {
        Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => candidates,
        _ => Vec::new(),
    }
}

/// How many holders of row locks [`refuse_prepared_in_the_way`] names.
const MAX_PREPARED_HOLDERS: usize = 5;

/// A statement on the ledger (`what` failed) waited for a lock another session holds: exit 6,
/// `how` saying how the wait ended, naming `holders` when known.
fn lock_error(what: String, how: &str, holders: Vec<super::lock::LockHolder>) -> Error {
    let mut error = Error::new(
        crate::ErrorKind::LockTimeout,
        format!(
            "{what}: {} holds a lock on it ({how})",
            super::lock::who_holds(&holders)
        ),
    );
    for h in &holders {
        error = error.with_detail(format!("held by {h}"));
    }
    naming(error, holders)
}

/// A read of the ledger or of its markers' table, or a writing session's first read
/// (`db::writable`), that waited the whole of `lock_wait` (`what` failed): exit 6 naming who is in the way — the holders of a lock on the table
/// (`holders`), else, when nothing locks it, those of a lock on a system catalog the read
/// looks up (`LOCK pg_catalog.pg_proc`, `VACUUM FULL pg_class`), asked of this session
/// ([`super::lock::catalog_lock_holders`]), else, when it cannot read them (the lock is in
/// the way of its look too), of a maintenance database of `env`'s server
/// ([`super::connect::catalog_lock_holders`]), as a run's own statement waiting for such a
/// lock names them (`apply::failure::catalog_locked`). Nothing found: the table's lock, as
/// before.
pub(crate) fn read_lock_error(
    client: &mut postgres::Client,
    what: String,
    lock_wait: &super::lock::ServerWait,
    holders: Vec<super::lock::LockHolder>,
    env: Option<&Environment>,
) -> Error {
    if !holders.is_empty() {
        return lock_error(what, &lock_wait.how(&holders), holders);
    }
    let mut catalogs =
        super::lock::catalog_lock_holders(client, None, MAX_CATALOG_HOLDERS).unwrap_or_default();
    if catalogs.is_empty() {
        if let Some(env) = env {
            catalogs = super::connect::catalog_lock_holders(env, super::EXPLANATION_WAIT)
                .unwrap_or_default();
        }
    }
    if catalogs.is_empty() {
        return lock_error(what, &lock_wait.how(&holders), holders);
    }
    let holders = super::apply::unique_holders(catalogs.clone());
    let mut error = Error::new(
        crate::ErrorKind::LockTimeout,
        format!(
            "{what}: {} holds a lock on a system catalog the read looks up ({})",
            super::lock::who_holds(&holders),
            lock_wait.how(&holders)
        ),
    );
    for (relation, holder) in &catalogs {
        error = error.with_detail(format!("lock on {relation} held by {holder}"));
    }
    naming(error, holders)
}

/// A lock error of the ledger's (`error`) with the way out `holders` give (wait for them, or
/// end them) and them as its [`crate::error::Reason::Lock`].
fn naming(error: Error, holders: Vec<super::lock::LockHolder>) -> Error {
    error
        .with_help(
            super::lock::holders_help(&holders, &format!("run {AGAIN}"))
                .unwrap_or_else(|| format!("run {AGAIN} when the lock is released")),
        )
        .with_reason(crate::error::Reason::Lock {
            database: None,
            holders,
        })
}

/// How many holders of locks on system catalogs a locked read names.
const MAX_CATALOG_HOLDERS: usize = 5;

fn is_absent(error: &postgres::Error) -> bool {
    matches!(error.code(), Some(code) if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::INVALID_SCHEMA_NAME)
}

pub(super) fn read_error(
    client: &mut postgres::Client,
    table: &TrackingTable,
    error: postgres::Error,
    env: Option<&Environment>,
) -> Error {
    let detail = match error.as_db_error() {
        Some(db) => db.message().to_string(),
        None => error.to_string(),
    };
    // The server's message is the cause, said once (`message_with_cause`), never in the
    // message: the driver's error, the source, says it to error reporters.
    let explained = if error.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
        // The server is up and answered: a missing grant, not a connection problem.
        Error::invalid(format!("cannot read the tracking table {table}"))
            .with_help(grants_help(table, grants(client, table).as_ref()))
    } else if error.code() == Some(&SqlState::UNDEFINED_COLUMN) {
        not_a_ledger(table, env)
    } else if super::is_connection_lost(&error) || error.as_db_error().is_none() {
        return super::query_error(&format!("cannot read the tracking table {table}"), error);
    } else {
        // The server is up and refused the read for a reason of its own: like a refused
        // ledger write (`db::apply::failure`), the ledger's problem, not the connection's.
        let help = if error.code() == Some(&SqlState::QUERY_CANCELED) {
            // Not our own statement_timeout (we set none) nor a lock wait (no session holds
            // one on the table).
            format!(
                "another session canceled this read (pg_cancel_backend), or the database's or \
                 role's statement_timeout is too short for even one statement: run {AGAIN}; a \
                 statement_timeout for migrations belongs in `migration.statement_timeout`"
            )
        } else if error.code() == Some(&SqlState::CONFIGURATION_LIMIT_EXCEEDED) {
            // `temp_file_limit`: the read spilled past its own `work_mem`.
            super::limit_help()
        } else {
            format!(
                "the server refused the read (SQLSTATE {}): fix what its message names, then \
                 run {AGAIN}",
                error.code().map_or("", |c| c.code())
            )
        };
        Error::invalid(format!("cannot read the tracking table {table}")).with_help(help)
    };
    explained.with_source_shown(error, detail)
}

/// What this session's role may do where the ledger is, asked of the server after it refused
/// the ledger's read or its creation (42501), through the catalogs' OIDs, which need no
/// privilege: the role in effect (`current_user`) and the one that logged in, which `role`
/// setting switched the session when they differ, the schema ([`resolve`]'s: as configured,
/// else where the `search_path` finds the table, else where `CREATE TABLE` would put it,
/// [`creation_schema`]; no grants where there is none) and the role's grants on
/// it and on the table. `None` when that cannot be asked. The one owner of "which grant is
/// missing" for the read's help ([`grants_help`]) and the creation's ([`Grants::create_help`]).
#[derive(Debug)]
pub(crate) struct Grants {
    /// `current_user`: what reads, migrations and the ledger's DDL run as.
    role: String,
    /// `session_user`: the role that logged in.
    login: String,
    /// The database, for `GRANT CREATE ON DATABASE`.
    database: String,
    /// The table's schema.
    schema: String,
    /// Whether that schema exists (else creating the table creates it, which needs the
    /// database's CREATE).
    schema_exists: bool,
    /// The role may use the schema.
    usage: bool,
    /// The role may read the table (false when it is not found: the schema hides it).
    select: bool,
    /// The table exists (a GRANT on it can be pasted).
    table_exists: bool,
    /// The schema's owner, when it exists: a role that may create in it (`public`'s
    /// `pg_database_owner` of PostgreSQL 15 read as the database's owner, a role one can log in as).
    owner: Option<String>,
    /// Where the migrations build: the session's `current_schema()`, where an unqualified
    /// `CREATE` puts its object (a tenant's own schema: `search_path` is pinned to it; for an
    /// unqualified ledger, the ledger's schema). `None` when no schema of `search_path` exists
    /// that the role may use.
    builds_in: Option<String>,
    /// The role may create in `builds_in`.
    builds_create: bool,
    /// Which `role` setting of the catalog switched the session to `role`, when one does;
    /// `None` when none does (the connection's options then did).
    role_set_by: Option<RoleSetBy>,
    /// The role may create in the table's schema (false when it does not exist).
    create: bool,
    /// The role may create schemas in the database (what a ledger's missing schema needs).
    database_create: bool,
}

/// Where a `role` setting stored in `pg_db_role_setting` was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoleSetBy {
    /// `ALTER ROLE <login> IN DATABASE <db> SET role`.
    LoginRoleInDatabase,
    /// `ALTER ROLE <login> SET role`.
    LoginRole,
    /// `ALTER DATABASE <db> SET role`.
    Database,
    /// `ALTER ROLE ALL SET role`.
    AllRoles,
}

impl RoleSetBy {
    /// As the catalog query below names it.
    fn of(text: &str) -> Option<RoleSetBy> {
        match text {
            "role in database" => Some(RoleSetBy::LoginRoleInDatabase),
            "role" => Some(RoleSetBy::LoginRole),
            "database" => Some(RoleSetBy::Database),
            "all" => Some(RoleSetBy::AllRoles),
            _ => None,
        }
    }
}

pub(crate) fn grants(client: &mut postgres::Client, table: &TrackingTable) -> Option<Grants> {
    // The ledger's schema as this session resolves it ([`resolve`], the one owner): an
    // unqualified name's, where the search_path finds it, else where it would be created
    // ([`creation_schema`]: never a system schema); none to create it in, nothing to grant.
    let ledger = resolve(client, table).ok()??;
    let schema = literal(ledger.schema.as_deref()?);
    // The `role` setting that wins as PostgreSQL applies them: the login role's in this
    // database, the login role's, this database's, every role's (`ALTER ROLE ALL SET`).
    let sql = super::own_statements(&format!(
        "SELECT current_user, session_user, pg_catalog.current_database(), s.name, \
         n.oid IS NOT NULL, \
         COALESCE(pg_catalog.has_schema_privilege(n.oid, 'USAGE'), false), \
         COALESCE(pg_catalog.has_table_privilege(c.oid, 'SELECT'), false), \
         c.oid IS NOT NULL, \
         CASE WHEN pg_catalog.pg_get_userbyid(n.nspowner) OPERATOR(pg_catalog.=) \
         'pg_database_owner' THEN (SELECT pg_catalog.pg_get_userbyid(d.datdba) \
         FROM pg_catalog.pg_database d \
         WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) \
         ELSE pg_catalog.pg_get_userbyid(n.nspowner) END, \
         pg_catalog.current_schema(), \
         COALESCE(pg_catalog.has_schema_privilege(pg_catalog.current_schema(), 'CREATE'), \
         false), \
         (SELECT CASE WHEN r.setrole OPERATOR(pg_catalog.<>) 0 \
                   AND r.setdatabase OPERATOR(pg_catalog.<>) 0 THEN 'role in database' \
                 WHEN r.setrole OPERATOR(pg_catalog.<>) 0 THEN 'role' \
                 WHEN r.setdatabase OPERATOR(pg_catalog.<>) 0 THEN 'database' \
                 ELSE 'all' END \
          FROM pg_catalog.pg_db_role_setting r, pg_catalog.unnest(r.setconfig) AS u(setting) \
          WHERE pg_catalog.starts_with(u.setting, 'role=') \
          AND (r.setdatabase OPERATOR(pg_catalog.=) 0 OR r.setdatabase OPERATOR(pg_catalog.=) \
               (SELECT d.oid FROM pg_catalog.pg_database d \
                WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())) \
          AND (r.setrole OPERATOR(pg_catalog.=) 0 OR r.setrole OPERATOR(pg_catalog.=) \
               (SELECT a.oid FROM pg_catalog.pg_roles a \
                WHERE a.rolname OPERATOR(pg_catalog.=) session_user)) \
          ORDER BY r.setrole OPERATOR(pg_catalog.<>) 0 DESC, \
                   r.setdatabase OPERATOR(pg_catalog.<>) 0 DESC LIMIT 1), \
         COALESCE(pg_catalog.has_schema_privilege(n.oid, 'CREATE'), false), \
         pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE') \
         FROM (SELECT {schema}::pg_catalog.text AS name) AS s \
         LEFT JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) s.name \
         LEFT JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid \
         AND c.relname OPERATOR(pg_catalog.=) {name}",
        name = literal(&table.name)
    ));
    let messages = client.simple_query(&sql).ok()?;
    messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(Grants {
            role: row.get(0)?.to_string(),
            login: row.get(1)?.to_string(),
            database: row.get(2)?.to_string(),
            schema: row.get(3)?.to_string(),
            schema_exists: row.get(4) == Some("t"),
            usage: row.get(5) == Some("t"),
            select: row.get(6) == Some("t"),
            table_exists: row.get(7) == Some("t"),
            owner: row.get(8).map(str::to_string),
            builds_in: row.get(9).map(str::to_string),
            builds_create: row.get(10) == Some("t"),
            role_set_by: row.get(11).and_then(RoleSetBy::of),
            create: row.get(12) == Some("t"),
            database_create: row.get(13) == Some("t"),
        }),
        _ => None,
    })
}

/// How a help that says "run the migrations as role X" says to do it: the connection's user, or
/// PostgreSQL's `role` setting — which no environment-file key sets, so it is said how (N29).
pub(crate) const ROLE_SETTING_HOW: &str = "connect as it, or switch the session to it with \
     PostgreSQL's `role` setting when the connection's user is a member of it: \
     `options=-c%20role%3DNAME` in the URL";

/// A name as a help shows it: quoted as PostgreSQL's `quote_ident` would, control characters
/// escaped.
/// The one GRANT a help asks an admin to run for the role that was refused: `GRANT
/// {privileges} ON {on} TO "role";`, the real role (the session's `current_user`), always in
/// double quotes ([`crate::ledger::quoted_ident`]: a name with capitals or a keyword pastes as
/// itself), shown without control characters; `on` quoted by the caller. Never a placeholder.
pub(crate) fn grant_to(privileges: &str, on: &str, role: &str) -> String {
    format!(
        "GRANT {privileges} ON {on} TO {};",
        crate::display::escape(&crate::ledger::quoted_ident(role))
    )
}

fn shown_ident(name: &str) -> String {
    crate::display::escape(&quote_ident(name)).into_owned()
}

/// Why the missing tracking table `table` could not be created in this session, asked of the
/// server without creating anything: the help of the creation's refusal
/// ([`crate::db::apply::create_tracking_table`]: no schema to create it in,
/// [`no_schema_here_help`]; a role that may not create it, [`Grants::create_help`]). `None`
/// when the role may create it, or when the server cannot be asked (the run then says). What
/// `status` says instead of "run `migrate up`", and why a dry run refuses
/// ([`refuse_uncreatable`]). `env`: the environment the session runs, whose settings the help
/// names.
pub(crate) fn uncreatable(
    client: &mut postgres::Client,
    table: &TrackingTable,
    env: Option<&Environment>,
) -> Option<String> {
    if let Some(help) = nowhere_to_create(client, table, env, &Creation::Unasked) {
        return Some(help);
    }
    let grants = grants(client, table)?;
    (!grants.may_create_ledger()).then(|| grants.create_help(table, None))
}

/// The help of an unqualified `table` with no schema to be created in ([`qualified_name`]:
/// none on the `search_path`, or a system schema first — as `creation` says when the ledger's
/// read found out, else asked), [`no_schema_here_help`]; `None` when it has one, is
/// qualified, or the server cannot be asked.
fn nowhere_to_create(
    client: &mut postgres::Client,
    table: &TrackingTable,
    env: Option<&Environment>,
    creation: &Creation,
) -> Option<String> {
    let nowhere = table.schema.is_none()
        && match creation {
            Creation::Known { name, .. } => name.is_none(),
            Creation::Unasked => qualified_name(client, table).ok()?.is_none(),
        };
    nowhere.then(|| no_schema_here_help(client, table, env))
}

/// What `up`, `baseline` and `reinit` refuse, their dry runs refuse (exit 5, with the run's
/// help): a missing tracking table this session may not create ([`uncreatable`]). Call it only
/// when the ledger does not exist. `Ok`, the schema its creation would create, if any
/// ([`refuse_nowhere_to_create`]): a dry run says so.
pub(crate) fn refuse_uncreatable(
    client: &mut postgres::Client,
    table: &TrackingTable,
    env: Option<&Environment>,
) -> Result<Option<crate::ledger::NewTenantSchema>> {
    let new = refuse_nowhere_to_create(client, table, env, &Creation::Unasked)?;
    match uncreatable(client, table, env) {
        Some(help) => Err(uncreatable_refusal(table, help)),
        None => Ok(new),
    }
}

/// What `up`, `baseline` and `reinit` refuse before they create a missing ledger, as their
/// dry runs and `status` do ([`refuse_uncreatable`]): an unqualified tracking table with no
/// schema to be created in ([`qualified_name`]) — also one whose creation would succeed, in
/// `pg_temp`, as a table gone with the session. [`crate::Reason::NoLedgerSchema`]. Asked only
/// when the ledger does not exist: no round trip when the ledger's read found out where it
/// would be created (`creation`, [`read_or_creation`]), one otherwise; the refusal's help
/// asks more. Also refused: the missing schema of a schema-qualified tracking table beside
/// an existing one of a close name ([`new_ledger_schema`]: no round trip when the ledger's
/// read found the schemas, `creation`; one otherwise); `Ok`, the schema its creation
/// creates, if any.
pub(crate) fn refuse_nowhere_to_create(
    client: &mut postgres::Client,
    table: &TrackingTable,
    env: Option<&Environment>,
    creation: &Creation,
) -> Result<Option<crate::ledger::NewTenantSchema>> {
    if let Some(help) = nowhere_to_create(client, table, env, creation) {
        return Err(
            uncreatable_refusal(table, help).with_reason(crate::error::Reason::NoLedgerSchema)
        );
    }
    // A schema-qualified tracking table whose schema is missing beside one with a close name:
    // the schema meant, misspelt (`opz` for `ops`), never created as a ledger of its own.
    let new = new_ledger_schema(client, env, creation)?;
    match new
        .as_ref()
        .and_then(crate::ledger::NewTenantSchema::refusal)
    {
        Some(refusal) => Err(refusal),
        None => Ok(new),
    }
}

/// The schema of `env`'s schema-qualified tracking table when it does not exist, with an
/// existing schema of a close name ([`crate::ledger::NewTenantSchema::of_ledger`], the rule
/// of a mistyped `--schema`); `None` for an unqualified or a tenant's tracking table, asked
/// then without a round trip, as when the ledger's read found the schemas (`creation`). Ask
/// it only when the ledger does not exist.
pub(crate) fn new_ledger_schema(
    client: &mut postgres::Client,
    env: Option<&Environment>,
    creation: &Creation,
) -> Result<Option<crate::ledger::NewTenantSchema>> {
    let Some(env) = env.filter(|env| {
        env.migration.tracking_table.schema.is_some() && env.migration.tenant_schema.is_none()
    }) else {
        return Ok(None);
    };
    if let Creation::Known {
        schemas: Some(existing),
        ..
    } = creation
    {
        return Ok(crate::ledger::NewTenantSchema::of_ledger(env, existing));
    }
    let row = client
        .query_one(
            "SELECT ARRAY(SELECT nspname::pg_catalog.text FROM pg_catalog.pg_namespace)",
            &[],
        )
        .map_err(|e| super::query_error("cannot read the schemas", e))?;
    let existing: Vec<String> = row.get(0);
    Ok(crate::ledger::NewTenantSchema::of_ledger(env, &existing))
}

/// The refusal of a missing tracking table this session may not create, with its `help`.
fn uncreatable_refusal(table: &TrackingTable, help: String) -> Error {
    Error::invalid(format!(
        "cannot create the tracking table {table}, which does not exist yet: this session may \
         not create it; nothing was written"
    ))
    .with_help(help)
}

/// The help of an unqualified tracking table with no schema to be created in: the system
/// schema first on the `search_path` ([`system_schema_first_help`]), else the schema of the
/// `search_path` the role may not use ([`unusable_schema_help`]), else the `search_path` to
/// give the session where it is set ([`path_naming_no_schema_help`]). `env`: the environment
/// the session runs, whose settings the help names.
pub(crate) fn no_schema_here_help(
    client: &mut postgres::Client,
    table: &TrackingTable,
    env: Option<&Environment>,
) -> String {
    no_schema_help_naming(client, table, None, env)
}

/// [`no_schema_here_help`] of a session whose database has the settings of the database
/// `settings_of` (a scratch database of `verify` or `drift`, given its target's settings:
/// `TargetSettings::copy_to`), which the help names as the one to give a `search_path`: the
/// scratch database is gone when the help is read. `None`: the session's own database.
pub(crate) fn no_schema_help_naming(
    client: &mut postgres::Client,
    table: &TrackingTable,
    settings_of: Option<&str>,
    env: Option<&Environment>,
) -> String {
    let Some(mut path) = CreationPath::read(client) else {
        let database = match settings_of {
            Some(database) => Some(database.to_string()),
            None => current_database(client),
        };
        return crate::ledger::no_schema_help(database.as_deref());
    };
    if let Some(database) = settings_of {
        path.origin.database = database.to_string();
    }
    if let Some(system) = path
        .first
        .as_deref()
        .filter(|s| crate::ledger::is_system_schema(s))
    {
        return system_schema_first_help(&path, system, table, env);
    }
    match unusable_schema_on_path(client) {
        Some((role, schema, create)) => unusable_schema_help(&role, &schema, create),
        None => path_naming_no_schema_help(&path, table, env),
    }
}

/// Where `CREATE TABLE` puts an unqualified name in this session, and the `search_path` that
/// decides it with where that comes from: what the help of a ledger with nowhere to be
/// created names.
struct CreationPath {
    /// `current_schema()`: the first schema of the `search_path` that exists (and the role
    /// may use); `None` when there is none.
    first: Option<String>,
    /// The first schema of the `search_path` that exists (and the role may use) and is no
    /// system schema, if any: the one to put first.
    first_of_users: Option<String>,
    /// The `search_path` setting, as the server has it.
    search_path: String,
    /// The role `"$user"` stands for.
    user: String,
    /// Where the `search_path` comes from ([`super::settings::lift`]).
    origin: super::settings::SettingOrigin,
}

impl CreationPath {
    /// One query, qualified (it runs under that `search_path`), which only explains a refusal
    /// ([`super::explaining_read`]); `None` when it cannot be asked.
    fn read(client: &mut postgres::Client) -> Option<CreationPath> {
        let sql = format!(
            "SELECT CAST(pg_catalog.current_schema() AS pg_catalog.text), \
             CAST(pg_catalog.current_schemas(false) AS pg_catalog.text[]), \
             pg_catalog.current_setting('search_path'), \
             CAST(current_user AS pg_catalog.text), {}",
            super::settings::SettingOrigin::columns("search_path")
        );
        let row = super::explaining_read(client, |tx| tx.query_one(&sql, &[])).ok()?;
        let existing: Vec<String> = row.get(1);
        Some(CreationPath {
            first: row.get(0),
            first_of_users: existing
                .into_iter()
                .find(|schema| !crate::ledger::is_system_schema(schema)),
            search_path: row.get(2),
            user: row.get(3),
            origin: super::settings::SettingOrigin::from_row(|i| row.get(i), 4),
        })
    }

    /// The change that makes the `search_path` create in a schema of the user's
    /// ([`super::settings::search_path_for_creation`]), worded where the path is set
    /// ([`super::settings::lift`]), and the way round it: a schema-qualified tracking table.
    fn ways_out(&self, table: &TrackingTable, env: Option<&Environment>) -> String {
        let path = super::settings::search_path_for_creation(
            &self.search_path,
            &self.user,
            self.first_of_users.as_deref(),
        );
        let schema = self.first_of_users.as_deref().unwrap_or("public");
        let qualified = TrackingTable::resolved(schema, &table.name).to_string();
        // Where the connection's options are written: a database a target list names by
        // name has the fleet's environment's ([`Environment::server_source`]).
        let source = env.map_or_else(
            || "the connection settings".to_string(),
            crate::config::Environment::server_source,
        );
        crate::display::escape(&format!(
            "put a schema of your own first on the search_path, `{path}` ({}), or \
             schema-qualify the tracking table: {}",
            super::settings::lift(
                "search_path",
                &path,
                &self.origin,
                &source,
                env.map(|env| &env.connection)
            ),
            tracking_table_setting(env, &qualified),
        ))
        .into_owned()
    }
}

/// The help of an unqualified tracking table whose `search_path` puts a system schema first
/// (`pg_catalog, public`): no grant makes `pg_catalog` or `pg_toast` hold a user table, and a
/// table in `pg_temp` is gone with the session.
fn system_schema_first_help(
    path: &CreationPath,
    system: &str,
    table: &TrackingTable,
    env: Option<&Environment>,
) -> String {
    let why = match system.starts_with("pg_temp") {
        true => "a table created there is temporary, gone with the session",
        false => "no grant makes it hold a table of yours",
    };
    format!(
        "the session's search_path (`{}`) puts schema {} first, which PostgreSQL keeps for \
         itself ({why}), so an unqualified tracking table has nowhere to be created: {}",
        crate::display::escape(&path.search_path),
        shown_ident(system),
        path.ways_out(table, env)
    )
}

/// The help of an unqualified tracking table whose `search_path` names no existing schema
/// (`''`, or schemas that do not exist): the `search_path` to give the session, where it is set.
fn path_naming_no_schema_help(
    path: &CreationPath,
    table: &TrackingTable,
    env: Option<&Environment>,
) -> String {
    format!(
        "the session's search_path names no existing schema (it is empty, or its schemas do \
         not exist), so an unqualified tracking table has nowhere to be created: {}",
        path.ways_out(table, env)
    )
}

/// The session's database, for a help that names it; `None` when it cannot be asked.
pub(crate) fn current_database(client: &mut postgres::Client) -> Option<String> {
    let messages = client
        .simple_query(&super::own_statements(
            "SELECT pg_catalog.current_database()",
        ))
        .ok()?;
    messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    })
}

impl Grants {
    /// `table` schema-qualified as this session resolves it: the schema these grants are of.
    fn ledger(&self, table: &TrackingTable) -> TrackingTable {
        TrackingTable::resolved(&self.schema, &table.name)
    }

    /// Whether the role may create the tracking table: USAGE and CREATE on its schema, or,
    /// where the schema does not exist (the ledger's DDL creates it), CREATE on the database.
    fn may_create_ledger(&self) -> bool {
        match self.schema_exists {
            true => self.usage && self.create,
            false => self.database_create,
        }
    }

    /// The help of a ledger this role may not create: the grants to paste, naming the role in
    /// effect and the schema, and, when that role is not the one that logged in, the setting
    /// that switched it. The migrations need CREATE where they build (`builds_in`) as much as
    /// the ledger does: where that is the ledger's schema (an unqualified ledger, a tenant's),
    /// the grant there is the help, or running as the schema's owner; an admin creating the
    /// ledger alone is offered only where it suffices — the ledger in an existing schema of its
    /// own, the role free to create where the migrations build. `scratch`: the database is
    /// that command's scratch one ([`crate::db::apply::ledger_creator`]).
    pub(crate) fn create_help(&self, table: &TrackingTable, scratch: Option<&str>) -> String {
        let (role, schema) = (shown_ident(&self.role), shown_ident(&self.schema));
        // Where the migrations build, when it is not the ledger's schema.
        let apart = self.builds_in.as_deref().filter(|b| *b != self.schema);
        let mut help = if self.schema_exists {
            let too = if self.builds_in.is_some() && apart.is_none() {
                ", where the migrations build too (the tracking table alone would not do: the \
                 first migration would fail next, for the same missing privilege)"
            } else {
                ""
            };
            format!(
                "grant role {role} CREATE on schema {schema}{too}: GRANT {} ON SCHEMA {schema} \
                 TO {role};",
                if self.usage {
                    "CREATE"
                } else {
                    "USAGE, CREATE"
                }
            )
        } else {
            // Created for the role, the schema is the role's: the migrations may build there.
            format!(
                "schema {schema} does not exist yet, and creating it needs CREATE on the \
                 database: GRANT CREATE ON DATABASE {} TO {role}; or create it first: CREATE \
                 SCHEMA {schema} AUTHORIZATION {role};",
                shown_ident(&self.database)
            )
        };
        if let Some(builds) = apart.filter(|_| !self.builds_create) {
            let builds = shown_ident(builds);
            help.push_str(&format!(
                " and the migrations build in schema {builds}, where {role} may not create either: \
                 GRANT CREATE ON SCHEMA {builds} TO {role};"
            ));
        }
        let owner = self
            .owner
            .as_deref()
            .filter(|o| *o != self.role && self.schema_exists && apart.is_none());
        // Every way out is a clause of the one sentence: the owner's ends it with a period
        // only when it is the last one.
        let by_owner = owner.is_some();
        if let Some(owner) = owner {
            help.push_str(&format!(
                " or run the migrations as the schema's owner, {}, every one of them ({}): \
                 objects belong to the role that created them",
                shown_ident(owner),
                ROLE_SETTING_HOW
            ));
        }
        let end = if by_owner { "." } else { "" };
        match self.switched_by() {
            // The first `up` run by another role would make that role own every object the
            // migrations create (later migrations as this role: "must be owner"): only the
            // ledger is created for it, by its one DDL, and this role given what it writes —
            // where that is all it lacks.
            None if scratch.is_none() => {
                if self.schema_exists && apart.is_some() && self.builds_create {
                    let ledger = self.ledger(table);
                    let usage = if self.usage {
                        String::new()
                    } else {
                        format!(" GRANT USAGE ON SCHEMA {schema} TO {role};")
                    };
                    help.push_str(&format!(
                        " or have an admin create only the tracking table and let {role} write \
                         it (the migrations still create their objects as {role}, which owns \
                         them): {} GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {role};{usage}",
                        crate::display::escape(&ledger.create_sql().replace('\n', " ")),
                        crate::display::escape(&ledger.quoted()),
                    ));
                }
                help + end
            }
            None => format!(
                "{help}{} or have a role that may create {} run {}",
                if by_owner { ";" } else { "" },
                crate::display::escape(&self.ledger(table).to_string()),
                crate::db::apply::ledger_creator(scratch)
            ),
            Some(switched) => format!("{help}{end} {switched}"),
        }
    }

    /// When the role in effect is not the one that logged in: which it is, and what set it.
    fn switched_by(&self) -> Option<String> {
        if self.role == self.login {
            return None;
        }
        let (role, login) = (shown_ident(&self.role), shown_ident(&self.login));
        let database = shown_ident(&self.database);
        let set_by = match self.role_set_by {
            Some(RoleSetBy::LoginRoleInDatabase) => {
                format!("ALTER ROLE {login} IN DATABASE {database} SET role")
            }
            Some(RoleSetBy::LoginRole) => format!("ALTER ROLE {login} SET role"),
            Some(RoleSetBy::Database) => format!("ALTER DATABASE {database} SET role"),
            Some(RoleSetBy::AllRoles) => "ALTER ROLE ALL SET role".to_string(),
            None => "the connection's options (`-c role=...`)".to_string(),
        };
        Some(format!(
            "(confiture runs as role {role}, not as {login} who logged in: {set_by} switches \
             every session to it; reset that setting to run as {login})"
        ))
    }
}

/// The grants that let the role read the ledger, as statements to paste; `None`: the server
/// could not be asked.
fn grants_help(table: &TrackingTable, grants: Option<&Grants>) -> String {
    let role = match grants {
        Some(g) => format!(
            "\"{}\"",
            crate::display::escape(&g.role.replace('"', "\"\""))
        ),
        None => "the role in the environment".to_string(),
    };
    let mut statements = Vec::new();
    // The schema's `USAGE` only for a schema named in the configuration: an unqualified name
    // is looked up only in the schemas of `search_path` the role may use, so the refusal is
    // then the table's.
    if let (Some(g), Some(schema)) = (grants, &table.schema) {
        if g.schema_exists && !g.usage {
            statements.push(format!("GRANT USAGE ON SCHEMA \"{schema}\" TO {role};"));
        }
    }
    // A GRANT on a table that does not exist fails when pasted (a tenant's ledger before its
    // first `up`): the schema's USAGE is then all a read needs.
    let absent = grants.is_some_and(|g| !g.table_exists);
    if (grants.is_none_or(|g| !g.select) || statements.is_empty()) && !absent {
        // Named as the session resolved it: the admin who pastes the grant has a search_path
        // of their own.
        let ledger = grants.map_or_else(|| table.clone(), |g| g.ledger(table));
        statements.push(format!("GRANT SELECT ON {} TO {role};", ledger.quoted()));
    }
    let mut help = if absent {
        let create = match (grants, &table.schema) {
            (Some(_), Some(schema)) => format!(
                ": GRANT CREATE ON SCHEMA {} TO {role};",
                shown_ident(schema)
            ),
            _ => String::new(),
        };
        format!(
            "{} (the tracking table {table} does not exist yet: the first `migrate up` creates \
             it, which needs CREATE on its schema too{create})",
            statements.join(" ")
        )
    } else {
        format!(
            "{} (and INSERT, DELETE on the table for commands that write, and UPDATE for \
             reinit)",
            statements.join(" ")
        )
    };
    if let Some(switched) = grants.and_then(Grants::switched_by) {
        help.push(' ');
        help.push_str(&switched);
    }
    help
}

fn parse_row(table: &TrackingTable, row: &postgres::SimpleQueryRow) -> Result<LedgerRow> {
    // An `applied_at` the read gives as it is (`infinity`, `-infinity`, a date before the
    // Common Era: `0044-03-15 12:00:00 BC`, which RFC 3339 cannot write) is no time a
    // migration ran: refused as a missing one is, named as what it is.
    let unusable = |i: usize, column: &'static str| match row.get(i) {
        None => Some(format!("with no {column}")),
        Some(value) if column == "applied_at" && value.ends_with("infinity") => {
            Some(format!("whose {column} is {value}"))
        }
        Some(value) if column == "applied_at" && value.ends_with(" BC") => Some(format!(
            "whose {column} is before the Common Era ({})",
            crate::config::shown(value)
        )),
        Some(_) => None,
    };
    let required = |i: usize, column: &'static str| {
        let what = unusable(i, column);
        row.get(i)
            .filter(|_| what.is_none())
            .map(str::to_string)
            .ok_or_else(|| {
                let what = what.unwrap_or_default();
                // Named by what it has: its version, else its name.
                let which = match (row.get(0), row.get(1)) {
                    (Some(version), _) => format!(" (version {})", crate::config::shown(version)),
                    (None, Some(name)) => format!(" (name {})", crate::config::shown(name)),
                    (None, None) => String::new(),
                };
                let incomplete = crate::ledger::IncompleteRow {
                    table: table.quoted(),
                    column,
                    pk: row.get(6).and_then(|pk| pk.parse::<i64>().ok()),
                    version: row.get(0).map(str::to_string),
                    name: row.get(1).map(str::to_string),
                    checksum: row.get(4).map(str::to_string),
                    slug: row.get(7).map(str::to_string),
                };
                // The files are not known here: a help that deletes no row that may be a
                // migration's, which `Migrator` decides again with them.
                let help = crate::plan::incomplete_row_help(&incomplete, None);
                Error::invalid(format!(
                    "the tracking table {table} has a row {what}{which}"
                ))
                .with_help(help)
                .with_incomplete_row(incomplete)
            })
    };
    Ok(LedgerRow {
        version: required(0, "version")?,
        name: required(1, "name")?,
        applied_at: required(2, "applied_at")?,
        execution_time_ms: row.get(3).and_then(|v| v.parse().ok()),
        checksum: row.get(4).map(str::to_string),
        applied_by: row.get(5).map(str::to_string),
        slug: row.get(7).map(str::to_string),
        archived_into: row.get(8).map(str::to_string),
    })
}

/// Rewrites the ledger (baseline, reinit) in one transaction; rolls back on error, so that
/// nothing is changed when any part fails. A lock another session holds on the table is
/// waited for at most `wait` (as the read before it), then exit 6 naming that session. A run
/// stopped from outside (`stop`, [`crate::Migrator::stop_when`]) sends nothing once stopped,
/// and the transaction it cancelled on the way is rolled back:
/// [`ErrorKind::Interrupted`](crate::ErrorKind).
///
/// `created` is the transaction that created the ledger, still open
/// ([`PendingLedger::begin_for_rows`](crate::db::apply::PendingLedger::begin_for_rows)): the
/// rows are written and committed in it, or rolled back with the table.
pub(crate) fn rewrite(
    client: &mut postgres::Client,
    table: &TrackingTable,
    rewrite: &Rewrite,
    created: Option<crate::db::apply::PendingLedger>,
    run: &RewriteRun<'_>,
    wait: Duration,
    stop: Option<&crate::db::apply::Stop>,
) -> crate::Result<()> {
    let creating = created.is_some();
    let transaction = match created {
        // The table is only this transaction's: the rows go to it by the name it resolved.
        Some(created) => format!("{}COMMIT;", rewrite.statements(&created.table)),
        None => rewrite.sql(table),
    };
    // What failed, once the table whose lock was in the way is known: the ledger, or the
    // markers' table beside it, whose rows a rewrite deletes too.
    let failed = |locked: &TrackingTable| {
        let which = match locked == table {
            true => "the tracking table",
            false => "the start markers' table",
        };
        format!(
            "{} could not write {which} {locked}; nothing was changed",
            run.what
        )
    };
    // The lock wait in slices ([`ServerWait`](super::lock::ServerWait)), each a transaction
    // sent again after the last one's rollback; but the transaction that created the table is
    // open already, and only it sees the table: its one attempt waits for no lock of it.
    let mut lock_wait = super::lock::ServerWait::new(wait);
    // The slices are one wait to the run's asking thread: a lasting one is named as it waits.
    let one_wait = stop.map(crate::db::apply::Stop::one_wait);
    let sent = loop {
        let wait_ms = if creating {
            wait.as_millis().clamp(1, i32::MAX as u128)
        } else {
            lock_wait.slice_ms()
        };
        let sql = super::own_statements(&format!(
            "SET LOCAL lock_timeout = '{wait_ms}ms'; {transaction}"
        ));
        let sent = match stop {
            Some(stop) => stop.send(|| client.batch_execute(&sql)),
            None => Some(client.batch_execute(&sql)),
        };
        let Some(sent) = sent else {
            if creating {
                // Not sent: the table created for the rows goes with them.
                let _ = client.batch_execute("ROLLBACK");
            }
            return Err(interrupted_rewrite(
                run,
                table,
                "before writing the tracking table",
            ));
        };
        match sent {
            Err(e)
                if !creating
                    && e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
                    && !super::is_connection_lost(&e) =>
            {
                let _ = client.batch_execute("ROLLBACK");
                let (holders, locked) = write_holders(client, table);
                if !lock_wait.again(&holders) {
                    return Err(lock_error(
                        failed(&locked),
                        &lock_wait.how(&holders),
                        holders,
                    ));
                }
            }
            sent => break sent,
        }
    };
    drop(one_wait);
    sent.map_err(|e| {
        let _ = client.batch_execute("ROLLBACK");
        let lost = super::is_connection_lost(&e);
        // Cancelled by our own stop (Ctrl-C): that, not a lock it was waiting for, is what
        // happened.
        if e.code() == Some(&SqlState::QUERY_CANCELED)
            && stop.is_some_and(crate::db::apply::Stop::is_set)
        {
            let cause = super::cause_text(&e);
            return interrupted_rewrite(run, table, "while writing the tracking table")
                .with_source_shown(e, cause);
        }
        if !lost && e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
            let (holders, locked) = write_holders(client, table);
            return lock_error(failed(&locked), &lock_wait.how(&holders), holders);
        }
        // Ours runs without the user's statement_timeout: a cancel while a session holds a
        // lock in the way is the wait for it, as for the read.
        if !lost && e.code() == Some(&SqlState::QUERY_CANCELED) {
            let (holders, locked) = write_holders(client, table);
            if !holders.is_empty() {
                return lock_error(failed(&locked), "the wait for it was canceled", holders);
            }
        }
        if lost || e.as_db_error().is_none() {
            return super::query_error(&failed(table), e);
        }
        // Our own check of each row ([`LedgerCheck`]): the server wrote nothing wrong, a
        // trigger or rule of the table kept a row from being written or deleted.
        if e.as_db_error().and_then(failed_check) == Some(LedgerCheck::RowNotWritten) {
            let mut error = crate::Error::invalid(format!(
                "{} could not write the tracking table {table}: a trigger or rule on the table \
                 suppressed a row; nothing was changed",
                run.what
            ))
            .with_help(LedgerCheck::suppressed_row_help(table));
            error.set_source(e);
            return error;
        }
        // Refused by the server: the ledger's problem (a privilege, a constraint or trigger
        // of its own), never a failed migration — none runs here (exit 5).
        let help = format!(
            "the server refused the rewrite (SQLSTATE {}): fix what its message names (a \
             privilege, a constraint or a trigger of the tracking table), then run {AGAIN}",
            e.code().map_or("", |c| c.code())
        );
        let cause = super::cause_text(&e);
        crate::Error::invalid(failed(table))
            .with_source_shown(e, cause)
            .with_help(help)
    })
}

/// The row of `version` in `table` now, as `(slug, applied_by)`: what a failed run asks to
/// tell another session's row from its own rolled-back one. Waits at most `wait` for a lock
/// on the table; `None` when there is no row or it could not be read (the caller then says
/// what it knew before).
pub(crate) fn row_of_version(
    client: &mut postgres::Client,
    table: &TrackingTable,
    version: &str,
    wait: Duration,
) -> Option<(String, Option<String>)> {
    let sql = format!(
        "BEGIN READ ONLY; {} SET LOCAL lock_timeout = {}; \
         SELECT slug, applied_by FROM {} WHERE version OPERATOR(pg_catalog.=) {} LIMIT 1; COMMIT",
        super::own_read_bounds(),
        literal(&format!("{}ms", wait.as_millis().max(1))),
        table.quoted(),
        literal(version)
    );
    let messages = client.simple_query(&sql);
    if messages.is_err() {
        let _ = client.batch_execute("ROLLBACK");
    }
    messages.ok()?.into_iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some((
            row.get(0).unwrap_or_default().to_string(),
            row.get(1).map(str::to_string),
        )),
        _ => None,
    })
}

/// Which ledger rewrite runs: as its errors name it (`what`: baseline, reinit) and the
/// command that runs it again ([`RewriteRun::again`]: `migrate baseline --through 12`, with
/// every argument that chose what it rewrites; [`crate::hint::Invocation`] adds the
/// database's).
#[derive(Debug, Clone)]
pub(crate) struct RewriteRun<'a> {
    pub(crate) what: &'a str,
    /// The command, without `--yes`.
    command: String,
    /// Whether it was given `--yes`: what it confirms, a run of it again must confirm too.
    pub(crate) yes: bool,
}

impl<'a> RewriteRun<'a> {
    /// The rewrite `what`, run as `command` (without `--yes`), given `yes`.
    pub(crate) fn new(what: &'a str, command: String, yes: bool) -> RewriteRun<'a> {
        RewriteRun { what, command, yes }
    }

    /// The command that runs it again as it was given: with `--yes` when it was, without
    /// which it would be refused where this run was not.
    pub(crate) fn again(&self) -> String {
        self.again_confirming(false)
    }

    /// [`RewriteRun::again`], with `--yes` also when `confirms`: a record over a run left
    /// part-way, which asks for it ([`crate::plan::confirm_recording_interrupted`]).
    pub(crate) fn again_confirming(&self, confirms: bool) -> String {
        match self.yes || confirms {
            true => format!("{} --yes", self.command),
            false => self.command.clone(),
        }
    }
}

/// A stop (Ctrl-C) that cut short the read of the tracking table `table`: the wait for a lock
/// another session holds on it, most often. The one text of every command's ledger read.
pub(crate) fn interrupted_read(table: &impl std::fmt::Display) -> Error {
    Error::new(
        crate::ErrorKind::Interrupted,
        format!("interrupted while reading the tracking table {table}: nothing was changed"),
    )
}

/// The error of a ledger rewrite ([`RewriteRun`]) stopped from outside `when`: nothing was
/// changed.
pub(crate) fn interrupted_rewrite(
    run: &RewriteRun<'_>,
    table: &TrackingTable,
    when: &str,
) -> crate::Error {
    let mut error = crate::Error::new(
        crate::ErrorKind::Interrupted,
        format!(
            "interrupted: {} was cancelled {when}; nothing was changed",
            run.what
        ),
    )
    .with_help(format!(
        "run {} again to write it",
        crate::hint::command(&run.again())
    ));
    error.details.push(format!(
        "the tracking table {table} is as it was: the rewrite is one transaction"
    ));
    error
}
