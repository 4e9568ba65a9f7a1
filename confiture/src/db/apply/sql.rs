//! The SQL the engine adds around migrations: the session reset, the clock that times each
//! migration, the ledger rows, and a batch — consecutive transactional migrations in one message.

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use super::markers::{deallocate_markers, says_deallocate, says_in, RowMarker, STATEMENT_MARKER};
use super::{ApplySettings, Direction, Script, Step};
use crate::files::SqlFile;
use crate::ledger::{self, LedgerCheck, RowKind, StartedRun, TrackingTable};

/// [`super::make_durable`]'s transaction. A commit flushes the WAL only when its transaction
/// wrote WAL of its own (PostgreSQL's `RecordTransactionCommit`): an XID alone
/// (`txid_current()`) commits without a flush. A transactional logical-decoding message is the
/// cheapest record any role may write (`pg_logical_emit_message` is executable by `PUBLIC`, at
/// any `wal_level`), and touches no table, trigger or lock; plugins that do not ask for
/// messages never see it. `synchronous_commit TO DEFAULT`: the connection's, as the run's last
/// commit has it (`set_config(..., NULL, true)`, [`after_row_select`]), whatever a migration
/// set for the session.
/// Sent after `BEGIN`, [`crate::db::OWN_STATEMENT_BOUNDS`] and our `lock_timeout`
/// ([`super::make_durable`]).
pub(super) const MAKE_DURABLE: &str = "SET LOCAL synchronous_commit TO DEFAULT; \
     SELECT pg_catalog.pg_logical_emit_message(true, 'confiture', 'durable'); COMMIT;";

/// The statement a message of several migrations prepares once for their ledger rows (up),
/// the one before each row (`<name>_role`) and the one for the end of each transaction
/// (`<name>_next`): the server then parses,
/// analyses and plans them once per message, not once per migration. Deallocated at the end
/// of the message, or after a failure by [`super::batch::rollback_and_read`].
pub(super) fn prepared_row(nonce: impl std::fmt::Display) -> String {
    format!("confiture_row_{nonce}")
}

/// The `PREPARE`s of [`prepared_row`]: the row `(version, name, checksum, slug prefix, step
/// index)`, `_role` ([`before_row_select`]) and `_next` `(marker, synchronous_commit, version,
/// oldest kept, newest kept, name, checksum)` ([`after_row_select`]; the kept rows NULL when
/// there are none).
pub(super) fn prepare_rows_sql(settings: &ApplySettings, nonce: u64) -> String {
    let insert = ledger::insert_applied_at_exprs_sql(
        &settings.table,
        &ledger::AppliedRowExprs {
            slug_prefix: "$4",
            version: "$1",
            name: "$2",
            checksum: "$3",
            applied_at: &started_at(),
            execution_time_ms: &elapsed_ms(Began::OwnTransaction),
        },
    );
    let row = prepared_row(nonce);
    format!(
        "PREPARE {row}(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, int) \
         AS {insert} \
         RETURNING $5 AS {STEP_COLUMN}, execution_time_ms AS {MS_COLUMN};\n\
         PREPARE {row}_role AS {};\n\
         PREPARE {row}_next(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, \
         pg_catalog.text, pg_catalog.text, pg_catalog.text) AS {};",
        before_row_select(settings, Direction::Up),
        next_select(
            settings,
            "$1",
            "$2",
            &[
                own_row_check(&settings.table, Direction::Up, "$3", Some(("$6", "$7"))),
                kept_rows_check(&settings.table, &["$4", "$5"], true),
            ]
        )
    )
}

/// Whether a message of `steps` prepares its ledger rows: several migrations applied, none
/// of which says `DEALLOCATE`.
pub(super) fn prepares_rows(steps: &[Step<'_>]) -> bool {
    steps.len() >= 2
        && steps
            .iter()
            .all(|s| s.direction == Direction::Up && !says_deallocate(s.file()))
}

pub(super) fn millis(d: Duration) -> u128 {
    // Round up: 0 would mean "no timeout" to the server.
    if d.is_zero() {
        0
    } else {
        d.as_millis().max(1)
    }
}

/// A call that sets `name` to `value` (an SQL expression; `NULL` resets the setting, as
/// `RESET` does), for the transaction when `local`, as `SET [LOCAL]` would.
fn set_config(name: &str, value: &str, local: bool) -> String {
    format!("pg_catalog.set_config('{name}', {value}, {local})")
}

/// [`set_config`] of a literal value, or `NULL` for `None`.
fn set_literal(name: &str, value: Option<&str>, local: bool) -> String {
    set_config(
        name,
        &value.map_or_else(|| "NULL".to_string(), |v| format!("'{v}'")),
        local,
    )
}

/// One statement that makes `calls` (of [`set_config`]) in turn, and returns no row: several
/// settings for the price of one statement. The calls are the arguments of a `concat` in the
/// `WHERE` of a `SELECT` without `FROM`: a function's arguments are evaluated in order, so a
/// setting may rely on the ones before it (the role is reset before anything else is set), and
/// `concat` is never NULL, so no row comes back — nor the description of its columns. As a
/// target list (`SELECT set_config(...), ...`) the server described five columns and sent a
/// row for each of the three such statements of a migration, and the client parsed them: ~5%
/// of the server's time per migration.
pub(super) fn set_configs_select(calls: &[String]) -> String {
    format!(
        "SELECT WHERE pg_catalog.concat({}) IS NULL",
        calls.join(", ")
    )
}

/// The tracking table's OID now (`regclass`, NULL when no table has its name), as the calls of
/// a [`ledger_oid_select`] read it.
const LEDGER_OID: &str = "confiture_ledger.o";

/// A [`set_configs_select`] whose `calls` read the tracking table's OID now as [`LEDGER_OID`],
/// which the server looks up once, in a subquery before them ([`TrackingTable::regclass`]),
/// after the calls of `first` (the role's reset before a row: the look-up is made as the
/// role whose checks follow). The checks around a row read it up to nine times a statement,
/// each a `to_regclass` of its own (the name parsed, the schema and the table looked up).
/// `OFFSET 0` keeps the subquery a node of its own, which the planner neither merges into
/// the statement (that would copy the look-up into each call again) nor drops (its calls are
/// volatile); its target list is evaluated in order, `first` then the look-up, before the
/// statement's `WHERE`.
fn ledger_oid_select(table: &TrackingTable, first: &[String], calls: &[String]) -> String {
    let first = match first {
        [] => String::new(),
        _ => format!("pg_catalog.concat({}) AS r, ", first.join(", ")),
    };
    format!(
        "SELECT FROM (SELECT {first}{} AS o OFFSET 0) AS confiture_ledger \
         WHERE pg_catalog.concat({}) IS NULL",
        table.regclass(),
        calls.join(", ")
    )
}

/// The run's timeouts for the current transaction, in one [`set_configs_select`]: `lock_timeout`,
/// our `statement_timeout` ([`own_statement_timeout`]: the migration's is set right before its
/// body, [`migration_timeout_sql`]), and no `idle_in_transaction_session_timeout`
/// ([`NOT_IDLE`]).
pub(super) fn local_timeouts_sql(settings: &ApplySettings) -> String {
    let calls = [
        set_literal(
            "lock_timeout",
            Some(&format!("{}ms", millis(settings.lock_timeout))),
            true,
        ),
        set_literal(
            "statement_timeout",
            Some(&own_statement_timeout(settings)),
            true,
        ),
        set_literal(NOT_IDLE, Some("0"), true),
    ];
    format!("{};", set_configs_select(&calls))
}

/// The `statement_timeout` of our own statements in a message of migrations: the run's, else
/// none (`0`) — never the database's, role's or connection's, which bounds migration SQL
/// alone (README "Session state"). The ledger row runs under it ([`before_row_select`]), and
/// so does whatever of ours follows a `RESET ALL` ([`own_bound_after_reset`]).
fn own_statement_timeout(settings: &ApplySettings) -> String {
    format!("{}ms", settings.statement_timeout.map_or(0, millis))
}

/// The statement that follows every `RESET ALL` of ours in a message of migrations, before
/// anything else of ours: `RESET ALL` gives the session the database's, role's or
/// connection's `statement_timeout`, and the server arms a statement's timer with the value
/// in force when the statement starts, so the statements of ours after it (the drop of what
/// a migration left in the session, the checks of its row, the start of a message) were
/// bounded by it until the run's timeouts were set again — cancelled on a loaded machine
/// under a few milliseconds, `--statement-timeout 0` or not. A utility statement of its own,
/// never planned: only a timeout shorter than one `SET` can cancel it. `SET LOCAL`: it ends
/// with the transaction (the session's own value, set with the run's timeouts, then holds:
/// [`session_timeouts`]), and the next migration's ([`migration_timeout_sql`]) replaces it
/// where one follows.
pub(super) fn own_bound_after_reset(settings: &ApplySettings) -> String {
    format!(
        "SET LOCAL statement_timeout = '{}';",
        own_statement_timeout(settings)
    )
}

/// The statement that follows a migration's body, before anything of ours (the checks and the
/// role's reset before its row, [`before_row_select`], or its prepared `_role`): our
/// `statement_timeout` for the rest of the transaction ([`own_statement_timeout`]). The server
/// arms a statement's timer with the value in force when it starts: the statement before the
/// row, its own `set_config` of our timeout notwithstanding, ran under the migration's — the
/// database's or role's (`ALTER DATABASE ... SET statement_timeout = '5ms'`), or one the file
/// set —, and its catalog look-ups were cancelled on a loaded machine, the migration failing
/// for our bookkeeping. A utility statement, never planned: only a timeout shorter than one
/// `SET` can cancel it. `SET LOCAL`: what ends the transaction sets the next migration's.
///
/// Our `lock_timeout` too ([`own_lock_bound`]), in a second `SET`: the statement before the
/// row names `pg_attribute` (the ledger's columns, [`crate::db::ledger::altered_check`]) and
/// the server locks it while it parses that statement, before any `set_config` of the
/// statement itself runs — under the migration's `lock_timeout` (or none, one the file set),
/// another session's `LOCK pg_catalog.pg_attribute` (a `VACUUM FULL` of it) was waited for as
/// the migration's own contention, retried and reported as the ledger's failure.
pub(super) fn own_bound_before_row(settings: &ApplySettings) -> String {
    format!(
        "{} SET LOCAL lock_timeout = '{}';",
        own_bound_after_reset(settings),
        ledger_lock_timeout(settings)
    )
}

/// Our `lock_timeout` for the rest of a statement of ours, as a call for the start of a
/// [`ledger_oid_select`] (before its look-up of the tracking table): the command's lock wait
/// ([`ledger_lock_timeout`]), as the ledger row's. The statements of ours that open a message
/// and follow a migration's `RESET ALL` ([`start_message`], [`after_row_select`]) look the
/// table up by name, which reads `pg_class` and `pg_namespace` when the session's catalog
/// cache misses: a lock another session holds on a catalog is waited for no longer than that,
/// never under the connection's `lock_timeout` (`RESET ALL` gives it back, none by default)
/// nor as the migration's. Their own parse names no relation but the tracking table, which
/// the transaction holds already after its row.
fn own_lock_bound(settings: &ApplySettings) -> String {
    set_literal("lock_timeout", Some(&ledger_lock_timeout(settings)), true)
}

/// The statement right before a migration's body (after its `BEGIN`, or, inside
/// `--single-transaction`, after the statement that starts its clock): the migrations'
/// `statement_timeout` for the transaction, until [`own_bound_before_row`] after the body — the
/// run's, else the connection's (`TO DEFAULT`, as `RESET`: the connection's `options`, the
/// role's or the database's value). Only the migration's statements run under it: every other
/// statement of a message of migrations runs under ours ([`own_statement_timeout`]), its
/// `COMMIT` included — a `COMMIT` waiting for its WAL flush past a database's 5 ms was
/// cancelled (the cancel then landed on the next statement, "due to user request").
pub(super) fn migration_timeout_sql(settings: &ApplySettings) -> String {
    match settings.statement_timeout {
        Some(st) => format!("SET LOCAL statement_timeout = '{}ms';", millis(st)),
        None => "SET LOCAL statement_timeout TO DEFAULT;".to_string(),
    }
}

/// A transaction of the engine is busy between its messages (`--single-transaction`'s
/// `BEGIN` and each migration's message; a migration longer than one message, sent in parts),
/// never forgotten: the database's or role's `idle_in_transaction_session_timeout` (for
/// clients that forget a session inside a transaction) is off while the engine's run, as it
/// is for the ledger's DDL left open while `up` reads its files. A process that dies closes
/// the socket, and the server rolls the transaction back.
const NOT_IDLE: &str = "idle_in_transaction_session_timeout";

/// The statement that ends a message cut inside a migration's transaction
/// ([`super::script::Script::send`]), after the statement marker where it is cut: the
/// transaction is idle until the next message (and the settings read between them), and
/// the server arms `idle_in_transaction_session_timeout` with the value in force when a
/// message ends — the migration's own (`SET idle_in_transaction_session_timeout = '1ms'`,
/// or a `RESET ALL` under a database's or role's value) ended the session there, every run.
/// Keeps that value in a setting of the transaction ([`IDLE_TIMEOUT_KEPT`]) and turns
/// the timeout off for the transaction; [`RESUME_IDLE_TIMEOUT`] begins the next message with
/// the migration's value again. Both `LOCAL`: whatever the migration set for the session is
/// its session's value after `COMMIT` as before, and a savepoint rolled back undoes them with
/// the migration's own. One statement a cut (one a [`super::script::MESSAGE_BUDGET`]), in a
/// message sent anyway: no round trip.
pub(super) fn suspend_idle_timeout() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        format!(
            "{};\n",
            set_configs_select(&[
                set_config(
                    IDLE_TIMEOUT_KEPT,
                    &format!("pg_catalog.current_setting('{NOT_IDLE}')"),
                    true
                ),
                set_literal(NOT_IDLE, Some("0"), true),
            ])
        )
    })
}

/// The statement that begins a message continuing a migration's transaction after
/// [`suspend_idle_timeout`]: the migration's `idle_in_transaction_session_timeout` again, for
/// the rest of its statements.
pub(super) const RESUME_IDLE_TIMEOUT: &str = "SELECT WHERE pg_catalog.concat(\
     pg_catalog.set_config('idle_in_transaction_session_timeout', \
     pg_catalog.current_setting('confiture.idle_in_transaction_session_timeout'), true)) \
     IS NULL;\n";

/// Where [`suspend_idle_timeout`] keeps the migration's value, for its transaction.
const IDLE_TIMEOUT_KEPT: &str = "confiture.idle_in_transaction_session_timeout";

/// What precedes every ledger row, in one statement, after [`own_bound_before_row`]: the role
/// half of [`RESET_SESSION`] (`RESET SESSION AUTHORIZATION; RESET ROLE`, as
/// `set_config(..., NULL, false)`: the row is written as the connecting role; `RESET ALL`
/// after the row completes the reset) and the connection's `TimeZone` (the slug's time is
/// local time: the connection's, not a migration's). Our `lock_timeout` for the rest of the
/// transaction (a migration's own timeouts must not bound its row) is
/// [`own_bound_before_row`]'s, set before this statement is parsed.
///
/// This statement and the row run under the migration's `search_path`, which may put a
/// schema of its own (or one anybody can create in) before `pg_catalog`: both name every
/// function, operator and type they use with `pg_catalog` (`OPERATOR(pg_catalog.=)`,
/// `::pg_catalog.float8`; `NULLIF` and `BETWEEN` look their operators up by the path, so they
/// are not used), and the row names its table schema-qualified (the caller resolves it, see
/// [`crate::db::ledger::read_qualified`]). Pinning the path for the row instead
/// (`set_config('search_path', ...)`) made every prepared row be analysed and planned again:
/// 75 µs a migration.
pub(super) fn before_row_select(settings: &ApplySettings, direction: Direction) -> String {
    let table = &settings.table;
    let [row_security, privileges] = writable_checks(LEDGER_OID, direction);
    ledger_oid_select(
        table,
        &[
            set_literal("session_authorization", None, false),
            set_literal("role", None, false),
        ],
        &[
            set_literal("TimeZone", None, true),
            ledger_moved_check(table, LEDGER_OID),
            crate::db::ledger::altered_check(table, LEDGER_OID),
            no_ledger_writes_check(LEDGER_OID),
            row_security,
            privileges,
        ],
    )
}

/// The checks, just before a step's row is written (as the connecting role: after the role's
/// reset), that the connecting role may still write it as the run's read found it could:
/// row-level security does not apply to the tracking table ([`LedgerCheck::RowSecurity`]),
/// and the role has the privileges the row's statement and the checks after it need — `INSERT`
/// (up) or `DELETE` (down), and `SELECT` ([`LedgerCheck::PrivilegeLost`]). The read refused a
/// ledger failing either before anything ran, so a failure is the migration's doing (`ALTER
/// TABLE ... FORCE ROW LEVEL SECURITY` or `REVOKE` in a loop over every table), named as such,
/// where the row's own refusal (42501, with no table named) was taken for the file's
/// statement. True when the table is gone (`oid`, the SQL expression of its OID now, NULL):
/// the row then fails on its own, naming the drop. Catalog look-ups by OID, in a statement
/// that runs anyway.
fn writable_checks(oid: &str, direction: Direction) -> [String; 2] {
    let write = match direction {
        Direction::Up => "INSERT",
        Direction::Down => "DELETE",
    };
    [
        LedgerCheck::RowSecurity.unless(&format!(
            "COALESCE(NOT pg_catalog.row_security_active({oid}), true)"
        )),
        LedgerCheck::PrivilegeLost.unless(&format!(
            "COALESCE(pg_catalog.has_table_privilege({oid}, '{write}') \
             AND pg_catalog.has_any_column_privilege({oid}, 'SELECT'), true)"
        )),
    ]
}

/// The check that the session still holds the run's migration lock
/// ([`ApplySettings::held_lock`], [`crate::db::lock::HeldLock::check_sql`]), as a statement
/// of its own (empty without a lock): where a transaction has no [`after_row_select`] (before
/// a no-transaction migration's row, and between its statements; inside
/// `--single-transaction`, [`row_checks_sql`] makes it with the row's). Always after the
/// role was reset: the server checks a statement's right to call a function before running
/// it, as the role of that moment, and a role the migration switched to may not call the
/// lock functions.
pub(super) fn lock_check_sql(settings: &ApplySettings) -> String {
    settings
        .held_lock
        .map(|h| format!(" {};", set_configs_select(&[h.check_sql()])))
        .unwrap_or_default()
}

/// [`lock_check_sql`] between two statements of a no-transaction migration, as a message of
/// its own: in a transaction of its own whose role is the connecting one and which has no
/// `statement_timeout`, for its length only (the migration's `SET ROLE` and timeouts hold
/// again for its next statement). `None` without a lock. After an error the transaction is
/// left aborted: the caller rolls it back.
pub(super) fn lock_check_between_statements(settings: &ApplySettings) -> Option<String> {
    settings.held_lock?;
    Some(format!(
        "BEGIN; SET LOCAL statement_timeout = 0; {} COMMIT;",
        connecting_role_and_lock_check(settings)
    ))
}

/// Inside a transaction: the connecting role again for the transaction's length (the
/// migration's `SET ROLE` holds again after it), then [`lock_check_sql`] (nothing without a
/// lock). What a no-transaction migration's checks between two statements begin with.
pub(super) fn connecting_role_and_lock_check(settings: &ApplySettings) -> String {
    format!("{};{}", connecting_role(), lock_check_sql(settings))
}

/// Inside a transaction: the connecting role again for the transaction's length (no `;`) —
/// [`connecting_role_and_lock_check`]'s first half, and what a no-transaction migration's
/// marker written after a stop begins with.
pub(super) fn connecting_role() -> String {
    set_configs_select(&[
        set_literal("session_authorization", None, true),
        set_literal("role", None, true),
    ])
}

/// What follows the `RESET ALL` after every ledger row, in one statement: the check that the
/// session still holds the run's migration lock ([`ApplySettings::held_lock`]; a migration
/// that released it fails there, before `COMMIT`, row and all), the check of the step's own
/// ledger row ([`own_row_check`]), the session's
/// progress `marker` (see [`MARKER`]), the next migration's clock (see [`clock`]),
/// `synchronous_commit = off` for this transaction's `COMMIT` unless the step commits
/// synchronously (then the setting stays as `RESET ALL` left it: the connection's), and the
/// run's timeouts again for the next migration ([`session_timeouts`]).
pub(super) fn after_row_select(
    settings: &ApplySettings,
    step: &Step<'_>,
    marker: &str,
    synchronous_commit: bool,
) -> String {
    let sync = if synchronous_commit { "NULL" } else { "'off'" };
    next_select(
        settings,
        &format!("'{marker}'"),
        sync,
        &ledger_checks(&settings.table, step),
    )
}

/// [`after_row_select`] with its marker and `synchronous_commit` as SQL expressions (literals,
/// or the parameters of the prepared `_next`), and the checks of the ledger ([`ledger_checks`]).
fn next_select(
    settings: &ApplySettings,
    marker: &str,
    synchronous_commit: &str,
    ledger_checks: &[String],
) -> String {
    let mut calls: Vec<String> = settings.held_lock.iter().map(|h| h.check_sql()).collect();
    calls.extend_from_slice(ledger_checks);
    calls.extend([
        set_config("synchronous_commit", synchronous_commit, true),
        set_config(MARKER, marker, false),
    ]);
    calls.extend(start_clock(LEDGER_OID));
    calls.extend(session_timeouts(settings));
    ledger_oid_select(&settings.table, &[own_lock_bound(settings)], &calls)
}

/// The check that a step's ledger row is what its statement made it, before the transaction
/// commits: written (up) — or gone (down) — where the row's `version` (an SQL expression) is,
/// and, going up, with the `name` and `checksum` it was written with (`written`, SQL
/// expressions). A `BEFORE` trigger of the tracking table that returns NULL suppresses the
/// row without an error, one that changes `NEW` (or an `AFTER` trigger's `UPDATE`) rewrites it,
/// a trigger may delete it once written and a rule send it elsewhere: the run said "applied"
/// and recorded nothing, or a row no file has ([`LedgerCheck::RowNotWritten`] fails the
/// migration instead). An expression for a [`set_configs_select`]: one look-up in the table's
/// index on `version`, in the statement that follows the row anyway. Not in the row's own
/// statement: a statement does not see the rows it writes.
fn own_row_check(
    table: &TrackingTable,
    direction: Direction,
    version: &str,
    written: Option<(&str, &str)>,
) -> String {
    let exists = match written {
        Some((name, checksum)) => ledger::row_exists_as(table, version, name, checksum),
        None => ledger::row_exists(table, version),
    };
    LedgerCheck::RowNotWritten.unless(&match direction {
        Direction::Up => exists,
        Direction::Down => format!("NOT {exists}"),
    })
}

/// The check that the rows a step must keep ([`super::Kept`]) are still there, as an
/// expression for a [`set_configs_select`]: each of `versions` (SQL expressions; `nullable`:
/// parameters, NULL when there is no such row) is found in the index on `version`, else
/// [`LedgerCheck::RowsChanged`] fails the migration before it commits. Made where the step's
/// own row is checked, in a statement that follows the row anyway: no round trip, no statement
/// of its own.
fn kept_rows_check(table: &TrackingTable, versions: &[&str], nullable: bool) -> String {
    let conditions: Vec<String> = versions
        .iter()
        .map(|v| {
            let exists = ledger::row_exists(table, v);
            if nullable {
                format!("({v} IS NULL OR {exists})")
            } else {
                exists
            }
        })
        .collect();
    LedgerCheck::RowsChanged.unless(&conditions.join(" AND "))
}

/// The checks of the ledger after a step's row, as calls for a [`set_configs_select`]: its
/// own row ([`own_row_check`]) and the rows it must keep ([`kept_rows_check`], when it has
/// any).
fn ledger_checks(table: &TrackingTable, step: &Step<'_>) -> Vec<String> {
    let (name, checksum) = (
        ledger::literal(&step.migration.name),
        ledger::literal(&step.migration.up.checksum),
    );
    let written = (step.direction == Direction::Up).then_some((name.as_str(), checksum.as_str()));
    let mut checks = vec![own_row_check(
        table,
        step.direction,
        &ledger::literal(step.ledger_version),
        written,
    )];
    let mut kept: Vec<String> = [step.kept.oldest, step.kept.newest]
        .into_iter()
        .flatten()
        .map(ledger::literal)
        .collect();
    kept.dedup();
    if !kept.is_empty() {
        let kept: Vec<&str> = kept.iter().map(String::as_str).collect();
        checks.push(kept_rows_check(table, &kept, false));
    }
    checks
}

/// The checks of [`after_row_select`] that do not end a transaction, as a statement of their
/// own: the lock's ([`lock_check_sql`]) and the ledger's ([`ledger_checks`]). Inside
/// `--single-transaction`, after each step's row.
pub(super) fn row_checks_sql(settings: &ApplySettings, step: &Step<'_>) -> String {
    let mut calls: Vec<String> = settings.held_lock.iter().map(|h| h.check_sql()).collect();
    calls.extend(ledger_checks(&settings.table, step));
    format!(" {};", set_configs_select(&calls))
}

/// The run's timeouts as session settings (as `SET`, not `SET LOCAL`), as calls for a
/// [`set_configs_select`]: `lock_timeout`, our `statement_timeout` ([`own_statement_timeout`];
/// the migrations' is set after each `BEGIN`, [`migration_timeout_sql`]), and no
/// `idle_in_transaction_session_timeout` ([`NOT_IDLE`]: a migration longer than one message is
/// sent in parts inside its transaction). A message of migrations, each its own transaction, sets them when it starts
/// ([`start_message`]) and again after each migration's `RESET ALL` ([`after_row_select`]), so
/// that every transaction runs under them without a statement of its own (a `SET LOCAL` of all
/// of them after each `BEGIN` cost the server ~3 ms a thousand migrations); [`RESET_TIMEOUTS`] ends the
/// message, and [`super::batch::rollback_and_read`] a failed one, so that the session goes
/// back with the connection's timeouts.
fn session_timeouts(settings: &ApplySettings) -> Vec<String> {
    vec![
        set_literal(
            "lock_timeout",
            Some(&format!("{}ms", millis(settings.lock_timeout))),
            false,
        ),
        set_literal(
            "statement_timeout",
            Some(&own_statement_timeout(settings)),
            false,
        ),
        set_literal(NOT_IDLE, Some("0"), false),
    ]
}

/// What ends a message of migrations, and follows the `ROLLBACK` of a failed one: the
/// connection's timeouts back in place of the run's ([`session_timeouts`]), but for its
/// `statement_timeout`, which a writing session keeps at ours between messages
/// ([`WRITING_SESSION_BOUND`], last, so that none of these runs under the connection's).
pub(super) const RESET_TIMEOUTS: &str =
    "RESET lock_timeout; RESET idle_in_transaction_session_timeout; SET statement_timeout = 0;";

/// The `statement_timeout` of a session that runs migrations between its messages: none. The
/// server arms a message's first timer before it parses the message — the whole of it, every
/// statement of a batch of migrations —, with the session's value as the message arrives: a
/// database's `statement_timeout = '5ms'` cancelled the parse of a message of thirty
/// migrations rolling back (its cancel landing on the message's first statements, "due to
/// user request"). Set by the writing session's first message ([`crate::db::writable`]'s state
/// read), by the end of every message of migrations ([`RESET_TIMEOUTS`]) and by a
/// no-transaction migration's row, whose statements ran under the connection's value; the
/// migrations' statements still run under theirs ([`migration_timeout_sql`]), and
/// [`crate::Migrator::into_client`] gives the connection's back.
pub(crate) const WRITING_SESSION_BOUND: &str = "SET statement_timeout = 0;";

/// `SET LOCAL lock_timeout` of the ledger row ([`ApplySettings::ledger_lock_wait`]), for a
/// message of its own that writes it (a no-transaction migration's): a lock on the tracking
/// table or on the row is waited for no longer than the command's lock wait, as
/// [`before_row_select`] bounds it inside a migration's transaction.
pub(super) fn ledger_lock_wait_sql(settings: &ApplySettings) -> String {
    format!(
        "SET LOCAL lock_timeout = '{}';",
        ledger_lock_timeout(settings)
    )
}

/// The ledger row's `lock_timeout`: the command's lock wait, at least a millisecond — a zero
/// wait (`--lock-wait 0`) is one attempt, never `0`, which the server reads as no timeout —
/// and at most what the server takes.
fn ledger_lock_timeout(settings: &ApplySettings) -> String {
    lock_wait_literal(settings.ledger_lock_wait)
}

/// `wait`, the command's lock wait, as a `lock_timeout` for a statement of ours: at least a
/// millisecond — a zero wait (`--lock-wait 0`) is one attempt, never `0`, which the server
/// reads as no timeout — and at most what the server takes.
pub(in crate::db) fn lock_wait_literal(wait: std::time::Duration) -> String {
    let ms = wait.as_millis().clamp(1, i32::MAX as u128);
    format!("{ms}ms")
}

/// `SET [LOCAL] lock_timeout ...; SET [LOCAL] statement_timeout ...`.
pub(super) fn timeouts_sql(settings: &ApplySettings, local: bool) -> String {
    let scope = if local { "SET LOCAL" } else { "SET" };
    let mut sql = format!(
        "{scope} lock_timeout = '{}ms';",
        millis(settings.lock_timeout)
    );
    if let Some(st) = settings.statement_timeout {
        sql.push_str(&format!(" {scope} statement_timeout = '{}ms';", millis(st)));
    }
    sql
}

/// The session setting that holds when the current migration began: microseconds since the
/// epoch, an integer as text. No session setting changes that text, nor reading it back: a
/// time stamp's text depends on `DateStyle` and `TimeZone`, a `float8`'s on
/// `extra_float_digits` — which a database, a role or a migration may set below 0, and the
/// clock carried as `float8` text was then rounded to a few digits (`applied_at` hours off,
/// `execution_time_ms` out of range). It is set when a message
/// starts and again at the end of each migration's transaction, for the next one: a message
/// carries several migrations, and `now()` is the same for all of them (the server stamps a
/// message once), so each migration's `applied_at` and `execution_time_ms` come from here.
///
/// Its name ends with a token drawn once per process (`confiture.t_1f2e3d4c`; `pg_settings`
/// and `SHOW ALL` do not list custom settings), so that no migration writes it by accident,
/// and the row reads it as it is, unchecked. What a migration can do to it without digging
/// its name out of its own query text (`pg_stat_activity.query`) is to empty it with
/// `RESET ALL`: its row then gets the time it is written as `applied_at` (never earlier than
/// the rows before it) and its `execution_time_ms` counts from the server's time stamp
/// [`Began`] names — never NULL. A migration that finds it and writes something else there sabotages
/// the tool, as one that writes the ledger does: text that is not a number fails its own
/// transaction (rolled back, nothing recorded), another time stamps its own row. Checking the value before each row (a regular expression and a range, in one
/// more setting) cost ~11 ms of server time per 1,000 migrations, a tenth of the message.
pub(super) fn clock() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let token = RandomState::new().build_hasher().finish() as u32;
        format!("confiture.t_{token:08x}")
    })
}
/// The clock's value now: the epoch's `float8` (exact to a fraction of a microsecond) made an
/// integer before it is text.
const CLOCK_NOW: &str = "((pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()) \
     OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8)::pg_catalog.text";
/// The calls that (re)start the [`clock`] and mark the tracking table's [`ledger_writes`]
/// and its OID ([`ledger_oid_mark`]) where the next migration begins, from `oid` (the SQL
/// expression of the table's OID now: [`LEDGER_OID`] in a [`ledger_oid_select`]).
fn start_clock(oid: &str) -> [String; 3] {
    [
        set_config(clock(), CLOCK_NOW, false),
        set_config(&ledger_writes_mark(), &ledger_writes(oid), false),
        set_config(&ledger_oid_mark(), &ledger_oid(oid), false),
    ]
}

/// The session setting that holds the tracking table's OID when the current migration began
/// (empty when it was not there), set with the [`clock`]: the check before its row
/// ([`ledger_moved_check`]) tells a table the migration renamed or moved, still there under
/// that OID, from one it dropped.
fn ledger_oid_mark() -> String {
    format!("{}_o", clock())
}

/// The tracking table's OID (the SQL expression `oid`) as text, empty when no table has its
/// name.
fn ledger_oid(oid: &str) -> String {
    format!("COALESCE({oid}::pg_catalog.oid::pg_catalog.text, '')")
}

/// The check, just before a step's row, that the tracking table is still at its name when the
/// table the migration began with ([`ledger_oid_mark`]) still exists: else the migration
/// renamed it, moved it to another schema or renamed its schema, and
/// [`LedgerCheck::Moved`] fails the migration naming where it is now — where the row's own
/// failure (42P01) said it was dropped. Not made when the mark is empty (a migration's
/// `RESET ALL` empties it with the clock; the row then fails on its own). `oid`: the SQL
/// expression of the table's OID now.
fn ledger_moved_check(table: &TrackingTable, oid: &str) -> String {
    LedgerCheck::unless_moved(
        table,
        &format!("pg_catalog.current_setting('{}', true)", ledger_oid_mark()),
        oid,
    )
}

/// The session setting that holds [`ledger_writes`] when the current migration began, set
/// with the [`clock`] (a name of the same token): the migration's statements wrote the ledger
/// if the count grew by its row ([`no_ledger_writes_check`]).
fn ledger_writes_mark() -> String {
    format!("{}_w", clock())
}

/// How many rows of the tracking table this session inserted, updated or deleted and has not
/// reported to the statistics yet, as text: the server counts each in the transaction that
/// wrote it (`pg_stat_get_xact_tuples_*`, one look-up of the table's entry, whatever its
/// size) and adds a transaction's counts to the session's when it ends, reporting them when
/// the session is idle outside a transaction — never inside a message or a transaction of
/// ours —, so between two readings of one message the count grows by every row written
/// between them, committed or rolled back, subtransactions included, and by nothing else
/// (another session's writes are its own). A report in between only lowers it. `0` when the
/// table is gone (`oid`, the SQL expression of its OID now, NULL: its row then fails on its
/// own, naming the drop).
fn ledger_writes(oid: &str) -> String {
    format!(
        "COALESCE(pg_catalog.pg_stat_get_xact_tuples_inserted({oid}) OPERATOR(pg_catalog.+) \
         pg_catalog.pg_stat_get_xact_tuples_updated({oid}) OPERATOR(pg_catalog.+) \
         pg_catalog.pg_stat_get_xact_tuples_deleted({oid}), 0)::pg_catalog.text"
    )
}

/// The check that a migration's statements wrote no row of the tracking table — inserted,
/// updated or deleted, however hidden (a `DO` block's `EXECUTE`, a function): made just
/// before its own row ([`before_row_select`]), it finds [`ledger_writes`] where the migration
/// began ([`ledger_writes_mark`]), else [`LedgerCheck::RowsChanged`] fails the migration
/// before it commits. O(1) per migration, where counting the ledger's rows is O(rows): a
/// deleted row between the oldest and the newest ([`super::Kept`]) is found too. Not made
/// when the mark is empty (a migration's `RESET ALL` empties it with the clock). A write the
/// migration rolled back to a savepoint of its own (an `EXCEPTION` block) is counted too.
/// `oid`: the SQL expression of the table's OID now.
fn no_ledger_writes_check(oid: &str) -> String {
    let mark = format!(
        "pg_catalog.current_setting('{}', true)",
        ledger_writes_mark()
    );
    LedgerCheck::RowsChanged.unless(&format!(
        "CASE WHEN COALESCE({mark}, '') OPERATOR(pg_catalog.=) '' THEN true \
         ELSE ({})::pg_catalog.int8 OPERATOR(pg_catalog.<=) {mark}::pg_catalog.int8 END",
        ledger_writes(oid)
    ))
}
/// The [`clock`] in seconds since the epoch, NULL when a migration emptied it. The row runs
/// under the migration's `search_path`: every function, operator and type is `pg_catalog`'s,
/// named so.
fn clock_value() -> String {
    let clock = clock();
    format!(
        "CASE WHEN pg_catalog.current_setting('{clock}', true) OPERATOR(pg_catalog.<>) '' \
         THEN pg_catalog.current_setting('{clock}', true)::pg_catalog.float8 \
         OPERATOR(pg_catalog./) 1000000 END"
    )
}

/// Puts the session back as the connection opened it: the role and session user of the login,
/// every setting at its connection-time value (`RESET ALL` keeps what the startup packet and
/// `ALTER ROLE/DATABASE ... SET` give). Sent at the start of every message that runs migrations
/// and after every migration — in the same message, never as a round trip of its own — so that
/// each migration starts from the same session state however it is batched, and its `SET`s
/// (search_path, role, timeouts, read-only, `set_config(..., false)`) never reach the next one.
/// Transactional like any `SET`: rolled back with a failed migration's transaction.
pub const RESET_SESSION: &str = "RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL;";

/// What a migration may leave in the session besides settings, dropped after its ledger row
/// (in its transaction; each statement with a space before it) so that the next migration does
/// not see it — a second `CREATE TEMP TABLE tmp` of the same name failed when the two ran in
/// one session and passed when they did not: cursors declared `WITH HOLD` (`CLOSE ALL`; also
/// before `DISCARD TEMP`, which a cursor open on a temporary table fails), the objects of
/// `pg_temp` (`DISCARD TEMP`) and the statements it `PREPARE`d (the engine's own, of the message
/// `nonce`, stay: [`deallocate_theirs`]).
/// Only what the file's text mentions ([`says_in`]: `temp`, `hold`, `prepare`, also inside
/// longer words), so that a migration that mentions none costs nothing more; what a function
/// created earlier leaves is not seen.
pub(super) fn drop_session_objects(file: &SqlFile) -> String {
    drop_session_objects_of(file, None)
}

/// [`drop_session_objects`] of a step of the message `nonce` (its digits), whose statement
/// markers and prepared ledger rows stay.
pub(super) fn drop_session_objects_of(file: &SqlFile, nonce: Option<&str>) -> String {
    let lowercase = file.text.to_ascii_lowercase();
    let mut sql = String::new();
    let temp = says_in(&lowercase, "temp");
    // The cursors first: one still open on a temporary table (`WITH HOLD`, a plain one open
    // until the `COMMIT`, a `refcursor` a `DO` block opened) makes `DISCARD TEMP` fail
    // (55006, "being used by active queries in this session").
    if temp || says_in(&lowercase, "hold") {
        sql.push_str(" CLOSE ALL;");
    }
    if temp {
        sql.push_str(" DISCARD TEMP;");
    }
    if says_in(&lowercase, "prepare") {
        sql.push_str(&deallocate_theirs(nonce));
    }
    if says_in(&lowercase, "listen") {
        // Transactional: a `LISTEN` of this transaction never takes effect.
        sql.push_str(" UNLISTEN *;");
    }
    sql
}

/// Releases the session-level advisory locks a migration took and kept (`pg_advisory_lock`,
/// often written for `pg_advisory_xact_lock`), every one the session holds except confiture's
/// own key class ([`crate::lock_key::LOCK_NAMESPACE`], the migration lock): else every later
/// migration of the run starts holding them, and a connection handed back by
/// `Migrator::into_client` keeps them for its life. Only after a migration whose text says
/// `advisory` ([`says_in`]), so that one that does not costs nothing more; each statement with
/// a space before it. Sent where the session holds no transaction-level advisory lock — after
/// the migration's `COMMIT`, or in a no-transaction migration's row transaction —: `pg_locks`
/// does not tell the two levels apart, and unlocking a lock the transaction holds only warns.
/// One `pg_locks` read per pass: a lock taken twice is held twice, so it is unlocked until a
/// pass releases nothing.
pub(super) fn release_advisory_locks(file: &SqlFile) -> String {
    release_advisory_locks_held(file, false)
}

/// [`release_advisory_locks`] between two migrations of `--single-transaction`, in its one
/// transaction ([`push_step`]): the next migration starts without the session-level locks the
/// one before kept, as it does in a run of one transaction per migration. The transaction's
/// own locks (`pg_advisory_xact_lock`) stay until its `COMMIT`: `pg_locks` shows them alike,
/// and an unlock of one the session does not hold finds nothing to release and warns — said
/// to nobody (`client_min_messages`, for the block alone), and the pass goes on to the next.
pub(super) fn release_session_advisory_locks_in_transaction(file: &SqlFile) -> String {
    release_advisory_locks_held(file, true)
}

/// The one block of [`release_advisory_locks`] and
/// [`release_session_advisory_locks_in_transaction`] (`in_transaction`).
fn release_advisory_locks_held(file: &SqlFile, in_transaction: bool) -> String {
    if !crate::text::mentions(&file.text, "advisory") {
        return String::new();
    }
    let (declare, quiet, said) = if in_transaction {
        (
            " prior pg_catalog.text := pg_catalog.current_setting('client_min_messages');",
            " PERFORM pg_catalog.set_config('client_min_messages', 'error', true);",
            " PERFORM pg_catalog.set_config('client_min_messages', prior, true);",
        )
    } else {
        ("", "", "")
    };
    // `classid`/`objid` are the keys' bits as oids: a key of one bigint (`objsubid` 1) is
    // `classid` << 32 | `objid`, a key of two int4 (`objsubid` 2) is `classid`, `objid`.
    let int4 = |oid: &str| {
        format!(
            "({oid}::pg_catalog.int8 OPERATOR(pg_catalog.-) CASE WHEN {oid}::pg_catalog.int8 \
             OPERATOR(pg_catalog.>=) 2147483648 THEN 4294967296 ELSE 0 END)"
        )
    };
    let (class, obj) = (int4("l.classid"), int4("l.objid"));
    format!(
        " DO $confiture$ DECLARE l record; one pg_catalog.bool; released pg_catalog.bool;{declare} \
         BEGIN{quiet} LOOP released := false; \
         FOR l IN SELECT classid, objid, objsubid, mode FROM pg_catalog.pg_locks \
         WHERE locktype OPERATOR(pg_catalog.=) 'advisory' AND granted \
         AND pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() \
         AND NOT (objsubid OPERATOR(pg_catalog.=) 2 \
         AND classid OPERATOR(pg_catalog.=) {ns}::pg_catalog.int8::pg_catalog.oid) LOOP \
         one := CASE WHEN l.objsubid OPERATOR(pg_catalog.=) 1 THEN \
         CASE WHEN l.mode OPERATOR(pg_catalog.=) 'ShareLock' \
         THEN pg_catalog.pg_advisory_unlock_shared({big}) \
         ELSE pg_catalog.pg_advisory_unlock({big}) END \
         ELSE CASE WHEN l.mode OPERATOR(pg_catalog.=) 'ShareLock' \
         THEN pg_catalog.pg_advisory_unlock_shared({c4}, {o4}) \
         ELSE pg_catalog.pg_advisory_unlock({c4}, {o4}) END END; \
         released := released OR one; END LOOP; EXIT WHEN NOT released; END LOOP;{said} \
         END $confiture$;",
        ns = crate::lock_key::LOCK_NAMESPACE,
        big = format!(
            "{class} OPERATOR(pg_catalog.*) 4294967296 OPERATOR(pg_catalog.+) \
             l.objid::pg_catalog.int8"
        ),
        c4 = format!("{class}::pg_catalog.int4"),
        o4 = format!("{obj}::pg_catalog.int4"),
    )
}

/// Deallocates the statements prepared with SQL `PREPARE` except the engine's own of the
/// message `nonce` — its statement markers ([`STATEMENT_MARKER`]) and prepared ledger rows
/// ([`prepared_row`]), which must outlive the migration —, whatever their names: a
/// migration's `confiture_ins` survived into the next one, which failed preparing it again.
/// Without a nonce (a no-transaction migration's row, sent alone) nothing of the engine's is
/// prepared. The driver's protocol-level statements are not `from_sql`.
fn deallocate_theirs(nonce: Option<&str>) -> String {
    let ours = nonce.map_or_else(String::new, |n| {
        let row = prepared_row(n);
        format!(
            " AND NOT (pg_catalog.starts_with(name, '{STATEMENT_MARKER}{n}_') OR name \
             OPERATOR(pg_catalog.=) ANY (ARRAY['{row}', '{row}_role', '{row}_next']))"
        )
    });
    format!(
        " DO $confiture$ DECLARE n pg_catalog.text; BEGIN \
         FOR n IN SELECT name FROM pg_catalog.pg_prepared_statements \
         WHERE from_sql{ours} LOOP \
         EXECUTE pg_catalog.concat('DEALLOCATE ', pg_catalog.quote_ident(n)); END LOOP; \
         END $confiture$;"
    )
}

/// The start of every message that runs migrations: a clean session, our statements' bound
/// ([`own_bound_after_reset`]), a started clock and the run's timeouts for the session
/// ([`session_timeouts`]).
pub(super) fn start_message(settings: &ApplySettings) -> String {
    let mut calls = start_clock(LEDGER_OID).to_vec();
    calls.extend(session_timeouts(settings));
    format!(
        "{RESET_SESSION} {} {};",
        own_bound_after_reset(settings),
        ledger_oid_select(&settings.table, &[own_lock_bound(settings)], &calls)
    )
}

/// When the migration began; without a clock, when its row is written. Never `now()`: that
/// is when the message arrived, before the migrations sent ahead of this one in it, and
/// `applied_at` is the order `down` rolls back by.
pub(super) fn started_at() -> String {
    format!(
        "COALESCE(pg_catalog.to_timestamp({}), pg_catalog.clock_timestamp())",
        clock_value()
    )
}

/// Where a migration's time counts from when its [`clock`] is gone (a `RESET ALL` of its
/// own emptied it): a time stamp of the server's, which no statement of the migration can
/// move — a session setting, a temporary table, a prepared statement can all be emptied by
/// the migration, and anything else would cost every migration a statement. **The** rule of
/// a migration's time without its clock, one per way a migration is sent: its
/// `execution_time_ms` (and the duration reported) is never NULL for a migration that ran, as
/// confiture (Python) always writes one. Its `applied_at` stays the time its row is written
/// ([`started_at`]): the time stamp may be earlier than the migrations before it in the
/// message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Began {
    /// In a transaction of its own ([`push_transaction`]): when that transaction began
    /// (`transaction_timestamp()`, the arrival of the message that carries its `BEGIN`) —
    /// exactly its start when it begins its message: alone, first of a batch, or a migration
    /// whose text says `reset` ([`super::decide::Cost::begins_message`]). One emptied where
    /// its text does not say so (a function an earlier migration created) in the middle of a
    /// message gets an upper bound, which counts the migrations before it there too.
    OwnTransaction,
    /// One step of `--single-transaction`, a message of its own ([`push_step`]): when the
    /// message that carries its row arrived (`statement_timestamp()`) — exactly its start,
    /// but for a step sent in parts (over [`super::script::MESSAGE_BUDGET`]), timed from its
    /// last part.
    OwnMessage,
}

impl Began {
    /// The fallback time stamp, as SQL.
    fn timestamp(self) -> &'static str {
        match self {
            Began::OwnTransaction => "pg_catalog.transaction_timestamp()",
            Began::OwnMessage => "pg_catalog.statement_timestamp()",
        }
    }
}

/// Milliseconds since the migration began, measured by the server: since its [`clock`], else
/// since the time stamp `began` names.
pub(super) fn elapsed_ms(began: Began) -> String {
    format!(
        "((pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()) \
         OPERATOR(pg_catalog.-) COALESCE({}, pg_catalog.date_part('epoch', {}))) \
         OPERATOR(pg_catalog.*) 1000)::pg_catalog.int4",
        clock_value(),
        began.timestamp()
    )
}

/// The SQL that records (up) or forgets (down) the migration in the ledger, as the connecting
/// role (the migration may have run `SET ROLE`). The table is schema-qualified by the caller
/// (see [`crate::db::ledger::read_qualified`]): a migration's `search_path` does not matter.
///
/// The statement returns the step's `index` in its message and its time, measured by the
/// server (columns [`STEP_COLUMN`], [`MS_COLUMN`]): how [`super::run_steps`] learns each step's
/// duration from the message itself. `begun` goes between the statement before the row
/// ([`before_row_select`]) and the row's write: the [`RowMarker::Begun`] of a step that has
/// one, else empty. `began`: where its time counts from without its clock.
pub(super) fn ledger_sql(
    settings: &ApplySettings,
    step: &Step<'_>,
    index: usize,
    prepared: Option<u64>,
    begun: &str,
    began: Began,
) -> String {
    let mut sql = String::new();
    push_ledger_sql(&mut sql, settings, step, index, prepared, begun, began);
    sql
}

/// [`ledger_sql`] appended to `sql`: a message of migrations writes it once per migration,
/// straight into its text.
fn push_ledger_sql(
    sql: &mut String,
    settings: &ApplySettings,
    step: &Step<'_>,
    index: usize,
    prepared: Option<u64>,
    begun: &str,
    began: Began,
) {
    let table = &settings.table;
    let m = step.migration;
    sql.push_str(&own_bound_before_row(settings));
    sql.push('\n');
    match (step.direction, prepared) {
        (Direction::Up, Some(nonce)) => {
            let row = prepared_row(nonce);
            let _ = write!(sql, "EXECUTE {row}_role;\n{begun}EXECUTE {row}(");
            ledger::push_literal(sql, step.ledger_version);
            sql.push_str(", ");
            ledger::push_literal(sql, &m.name);
            sql.push_str(", ");
            ledger::push_literal(sql, &m.up.checksum);
            sql.push_str(", '");
            ledger::push_literal_text(sql, &m.name);
            sql.push('_');
            ledger::push_literal_text(sql, step.ledger_version);
            let _ = write!(sql, "_', {index})");
        }
        (Direction::Up, None) => {
            let _ = write!(
                sql,
                "{};\n{begun}{} RETURNING {index} AS {STEP_COLUMN}, execution_time_ms AS {MS_COLUMN}",
                before_row_select(settings, Direction::Up),
                ledger::insert_applied_at_sql(
                    table,
                    step.ledger_version,
                    &m.name,
                    &m.up.checksum,
                    &started_at(),
                    &elapsed_ms(began),
                )
            );
        }
        (Direction::Down, _) => {
            let _ = write!(
                sql,
                "{};\n{begun}{} RETURNING {index} AS {STEP_COLUMN}, {} AS {MS_COLUMN}",
                before_row_select(settings, Direction::Down),
                ledger::delete_sql(table, step.ledger_version),
                elapsed_ms(began)
            );
        }
    }
}

/// The column of a ledger statement's result naming its step in the message.
pub(super) const STEP_COLUMN: &str = "confiture_step";
/// The column of a ledger statement's result giving the step's milliseconds.
pub(super) const MS_COLUMN: &str = "confiture_ms";

/// The `INSERT` of `step`'s ledger row as a trial of whether the tracking table accepts it,
/// sent in a transaction that is rolled back (`execution_time_ms` 0): before a no-transaction
/// step's statements run, and after a transactional step failed where its row may be what
/// failed ([`super::failure::marked_failure`]). `None` going down: the row's write is a
/// `DELETE`, which the ledger read's privilege check covers.
pub(super) fn row_trial(settings: &ApplySettings, step: &Step<'_>) -> Option<String> {
    let m = step.migration;
    (step.direction == Direction::Up).then(|| {
        ledger::insert_sql(
            &settings.table,
            step.ledger_version,
            &m.name,
            &m.up.checksum,
            RowKind::Applied,
            "0",
        )
    })
}

/// The ledger SQL of a no-transaction step, sent on its own after its statements:
/// `execution_time_ms` is measured by us and given as a literal. The row, then the checks of
/// the ledger ([`ledger_checks`]), in the one transaction of the message.
/// `ledger_oid`: the tracking table's OID before the step's statements ran
/// ([`ledger_oid_now`]), checked first ([`LedgerCheck::Moved`]): a statement that renamed or
/// moved the table committed.
pub(super) fn record_sql(
    table: &TrackingTable,
    step: &Step<'_>,
    elapsed_ms: &str,
    ledger_oid: Option<u32>,
) -> String {
    let m = step.migration;
    let row = match step.direction {
        Direction::Up => ledger::insert_sql(
            table,
            step.ledger_version,
            &m.name,
            &m.up.checksum,
            RowKind::Applied,
            elapsed_ms,
        ),
        Direction::Down => ledger::delete_sql(table, step.ledger_version),
    };
    let now = table.regclass();
    let moved = ledger_oid
        .map(|oid| LedgerCheck::unless_moved(table, &format!("'{oid}'"), &now))
        .into_iter();
    let checks: Vec<String> = moved
        .chain([crate::db::ledger::altered_check(table, &now)])
        .chain(writable_checks(&now, step.direction))
        .collect();
    format!(
        "{}; {row}; {}",
        set_configs_select(&checks),
        set_configs_select(&ledger_checks(table, step))
    )
}

/// The tracking table's OID now, `None` when no table has its name: what a no-transaction
/// step's row checks it against ([`record_sql`]) once its statements have committed — its
/// session settings, where a transactional migration's mark lives ([`ledger_oid_mark`]), are
/// reset before the row. A simple query, begun by `bounded` (the caller's bounds on its own
/// reads).
pub(super) fn ledger_oid_now(
    client: &mut postgres::Client,
    table: &TrackingTable,
    bounded: &dyn Fn(&str) -> String,
) -> Result<Option<u32>, postgres::Error> {
    let sql = format!(
        "SELECT pg_catalog.to_regclass({}::pg_catalog.text)::pg_catalog.oid",
        crate::ledger::literal(&table.quoted())
    );
    let messages = client.simple_query(&bounded(&sql))?;
    Ok(messages.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(row) => row.get(0).and_then(|oid| oid.parse().ok()),
        _ => None,
    }))
}

/// The query, between two statements of a no-transaction step, of whether the tracking table
/// whose OID was `oid` before them ([`ledger_oid_now`]) is gone: one row, `t` when it is. A
/// table renamed or moved is still there (its row says so, [`LedgerCheck::Moved`]).
pub(super) fn ledger_gone_select(oid: u32) -> String {
    format!(
        "SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_class \
         WHERE oid OPERATOR(pg_catalog.=) '{oid}'::pg_catalog.oid)"
    )
}

/// Appends a step's body and ledger row to a script already inside the one transaction of
/// `--single-transaction`, then puts the session back for the next step: [`RESET_SESSION`]
/// (the role before the ledger row, the settings after it), what it made in the session
/// ([`drop_session_objects_of`]) and the session-level advisory locks it kept
/// ([`release_session_advisory_locks_in_transaction`]), and the run's `SET LOCAL`s again
/// (`RESET ALL` takes them away too).
pub(super) fn push_step<'a>(
    script: &mut Script<'a>,
    settings: &ApplySettings,
    step: &Step<'a>,
    tag: &str,
) {
    script.push_sql(&format!(
        "{}; {}",
        ledger_oid_select(&settings.table, &[], &start_clock(LEDGER_OID)),
        migration_timeout_sql(settings)
    ));
    let file = step.file();
    let marks_row = settings.marks_row(file);
    let markers = script.push_marked_body(file, tag, marks_row);
    let (begun, written) = row_markers(marks_row, markers, tag);
    let row = ledger_sql(settings, step, 0, None, &begun, Began::OwnMessage);
    script.push_sql(&format!(
        "{row};\n{}{written}RESET ALL; {}{}{}{} {}",
        settle_markers(settings, step),
        own_bound_after_reset(settings),
        row_checks_sql(settings, step),
        // The tag is `<nonce>_<step>`.
        drop_session_objects_of(file, tag.split('_').next()),
        release_session_advisory_locks_in_transaction(file),
        local_timeouts_sql(settings)
    ));
    let deallocate = deallocate_markers(tag, markers, marks_row);
    if !deallocate.is_empty() {
        script.push_sql(deallocate.trim_start());
    }
}

/// The statement that deletes, with a transactional step's ledger row, the start markers of
/// its version ([`ApplySettings::markers_of`]: a no-transaction run of it left part-way, since
/// made transactional, or one the ledger contradicts), `;`-terminated; empty when there is
/// none — the common case, which costs nothing.
fn settle_markers(settings: &ApplySettings, step: &Step<'_>) -> String {
    let versions = settings.markers_of(step, false);
    match versions.is_empty() {
        true => String::new(),
        false => format!("{};\n", StartedRun::settle_sql(&settings.table, &versions)),
    }
}

/// The [`RowMarker`]s of a step that carries them (`marks_row`, [`ApplySettings::marks_row`]:
/// the tracking table has triggers that fire on its row, or the file may leave its transaction
/// read-only), as `(begun, written)` statements to place around the
/// row's write: [`RowMarker::Begun`] only where the body carries no markers (`body`, as
/// [`Script::push_marked_body`] returned it) — whatever the body says, a backslash,
/// `DEALLOCATE` or `statement_timeout`, it has completed by then, and the statement before the
/// row has put our own timeouts in place. Empty for a step that carries none.
fn row_markers(marks_row: bool, body: Option<usize>, tag: &str) -> (String, String) {
    if !marks_row {
        return (String::new(), String::new());
    }
    let begun = if body.is_none() {
        format!("{} ", RowMarker::Begun.prepare(tag))
    } else {
        String::new()
    };
    (begun, format!("{}\n", RowMarker::Written.prepare(tag)))
}

/// The session reset ([`RESET_SESSION`]), `BEGIN` and the run's timeouts for the transaction
/// ([`local_timeouts_sql`]), for the one transaction of `--single-transaction`: the message
/// that starts it. `synchronous_commit` is set by what ends a transaction
/// ([`after_row_select`]): it matters only to the `COMMIT`.
pub(super) fn begin_sql(settings: &ApplySettings) -> String {
    // Our bound before `BEGIN`: the statements before it are the implicit transaction that
    // `BEGIN` makes the explicit one, whose `SET LOCAL`s hold until it ends.
    format!(
        "{RESET_SESSION} {} BEGIN; {}",
        own_bound_after_reset(settings),
        local_timeouts_sql(settings)
    )
}

/// Appends one step as its own transaction: `BEGIN` (the run's timeouts are the session's, see
/// [`session_timeouts`]), the body, the ledger row (as the connecting role), the rest of
/// [`RESET_SESSION`], the session's progress `marker` with the next migration's clock and the
/// timeouts again, `COMMIT`. Nothing but utility statements of our own and one
/// `SELECT` around the body, so that a migration costs the server little more than the bare
/// transaction.
pub(super) fn push_transaction<'a>(
    script: &mut Script<'a>,
    settings: &ApplySettings,
    step: &Step<'a>,
    index: usize,
    nonce: u64,
    prepared: bool,
) {
    script.begin_step();
    let began = script.byte_len();
    script.push_sql(&format!("BEGIN; {}", migration_timeout_sql(settings)));
    let file = step.file();
    let tag = format!("{nonce}_{index}");
    let marks_row = settings.marks_row(file);
    let markers = script.push_marked_body(file, &tag, marks_row);
    let (begun, written) = row_markers(marks_row, markers, &tag);
    // Written straight into one string: a message carries up to thousands of migrations, and
    // building each one's SQL out of `format!`ed pieces cost more client time than the rest of
    // the run's planning (issue 15).
    let mut sql = String::with_capacity(STEP_OVERHEAD);
    push_ledger_sql(
        &mut sql,
        settings,
        step,
        index,
        prepared.then_some(nonce),
        &begun,
        Began::OwnTransaction,
    );
    sql.push_str(";\n");
    sql.push_str(&settle_markers(settings, step));
    sql.push_str(&written);
    sql.push_str("RESET ALL; ");
    sql.push_str(&own_bound_after_reset(settings));
    sql.push_str(&drop_session_objects_of(file, Some(&nonce.to_string())));
    sql.push_str(FIRE_DEFERRED);
    sql.push('\n');
    // The role is reset before the ledger row (written as the connecting role), every setting
    // after it (the row reads its clock from one). `synchronous_commit` must hold for the
    // COMMIT, so it is set after `RESET ALL`.
    // The marker is session-level and set last, so it survives COMMIT and is undone by an
    // abort: after a failure it names the last transaction of the message that committed.
    if prepared {
        let sync = if step.synchronous_commit {
            "NULL"
        } else {
            "'off'"
        };
        let _ = write!(
            sql,
            "EXECUTE {}_next('{nonce}:{index}', {sync}, ",
            prepared_row(nonce)
        );
        ledger::push_literal(&mut sql, step.ledger_version);
        for kept in [step.kept.oldest, step.kept.newest] {
            sql.push_str(", ");
            match kept {
                Some(version) => ledger::push_literal(&mut sql, version),
                None => sql.push_str("NULL"),
            }
        }
        for written in [&step.migration.name, &step.migration.up.checksum] {
            sql.push_str(", ");
            ledger::push_literal(&mut sql, written);
        }
        sql.push_str(");");
    } else {
        sql.push_str(&after_row_select(
            settings,
            step,
            &format!("{nonce}:{index}"),
            step.synchronous_commit,
        ));
        sql.push(';');
    }
    sql.push_str("\nCOMMIT;");
    sql.push_str(&release_advisory_locks(file));
    // The last statement marker and the row markers go once the transaction is over
    // (committed, or not: then they tell how far it got).
    sql.push_str(&deallocate_markers(&tag, markers, marks_row));
    script.push_sql(&sql);
    script.end_transaction(began);
}

/// Fires what the migration's transaction deferred to its `COMMIT` — its deferred
/// constraints, and constraint triggers `DEFERRABLE INITIALLY DEFERRED`, a migration's own or
/// the tracking table's, whose functions run any SQL — before the checks that end the
/// transaction ([`after_row_select`]), so that they see what that code did: a deferred trigger
/// that released the migration lock (`pg_advisory_unlock_all()`) or wrote the tracking table
/// at `COMMIT` escaped them, and the next migration of the run was blamed for the lock it
/// never released. The same session state as at the `COMMIT` (after the role's and settings'
/// reset, under our `statement_timeout`); one that fails here fails as at the `COMMIT`, after
/// the row ([`super::markers::Reached::Commit`]).
const FIRE_DEFERRED: &str = " SET CONSTRAINTS ALL IMMEDIATE;";

/// The session setting each transaction of a message writes its `<nonce>:<index>` to.
pub(super) const MARKER: &str = "confiture.step";

/// Makes markers unique per message, so that a value left by an earlier message (or an earlier
/// command on the same session) is never taken for progress of this one.
pub(super) static NONCE: AtomicU64 = AtomicU64::new(1);

/// A message carrying consecutive transactional steps, each its own transaction.
pub(super) struct Batch<'a> {
    pub script: Script<'a>,
    pub nonce: u64,
    /// The `PREPARE`s of its ledger rows ([`prepare_rows_sql`]), when it uses them: sent as a
    /// message of their own just before it. A prepared statement keeps the whole text of the
    /// message that prepared it, and every `EXECUTE` copies that text: prepared inside a
    /// message of 1,000 migrations, each `EXECUTE` would copy the 1,000 (quadratic).
    pub prepare: Option<String>,
}

/// The message for `steps`; with prepared ledger rows when `prepare` and [`prepares_rows`].
pub(super) fn batch<'a>(settings: &ApplySettings, steps: &[Step<'a>], prepare: bool) -> Batch<'a> {
    let nonce = NONCE.fetch_add(1, Ordering::Relaxed);
    let mut script = Script::new();
    let size: usize = steps
        .iter()
        .map(|s| s.file().text.len() + STEP_OVERHEAD)
        .sum();
    script.reserve(size);
    script.push_sql(&start_message(settings));
    let prepared = prepare && prepares_rows(steps);
    for (i, step) in steps.iter().enumerate() {
        push_transaction(&mut script, settings, step, i, nonce, prepared);
    }
    if prepared {
        let row = prepared_row(nonce);
        script.push_sql(&format!(
            "DEALLOCATE {row}; DEALLOCATE {row}_role; DEALLOCATE {row}_next;"
        ));
    }
    script.push_sql(RESET_TIMEOUTS);
    Batch {
        script,
        nonce,
        prepare: prepared.then(|| prepare_rows_sql(settings, nonce)),
    }
}

impl Batch<'_> {
    /// How many of the message's transactions committed, given the marker read after it failed.
    pub fn committed(&self, marker: Option<&str>) -> usize {
        marker
            .and_then(|m| m.split_once(':'))
            .filter(|(nonce, _)| nonce.parse() == Ok(self.nonce))
            .and_then(|(_, index)| index.parse::<usize>().ok())
            .map_or(0, |index| index + 1)
    }
}

/// Roughly what [`push_transaction`] adds to a body, for [`super::BatchLimits::max_bytes`].
pub(super) const STEP_OVERHEAD: usize = 600;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_file as sql_file;
    use super::*;
    use crate::files::Migration;

    /// Migration `003_x`, `file` its up and down file.
    fn migration_003(file: crate::files::SqlFile) -> Migration {
        Migration {
            version: 3,
            version_text: "003".into(),
            name: "x".into(),
            up: file.clone(),
            down: file,
        }
    }

    #[test]
    fn a_trailing_comment_cannot_swallow_the_ledger_row() {
        let file = sql_file("CREATE TABLE a (); -- no newline at end");
        let migration = migration_003(file);
        let settings = ApplySettings {
            lock_timeout: Duration::from_millis(1500),
            statement_timeout: Some(Duration::from_micros(10)),
            lock_retries: 3,
            ledger_lock_wait: Duration::from_millis(1500),
            ..ApplySettings::for_tests()
        };
        let step = Step::up(&migration, false);
        let text = batch(&settings, std::slice::from_ref(&step), true)
            .script
            .text()
            .to_string();
        assert!(
            text.contains(&format!(
                "-- no newline at end\n;\nSET LOCAL statement_timeout = '1ms'; \
                 SET LOCAL lock_timeout = '1500ms';\n\
                 SELECT FROM (SELECT pg_catalog.concat(\
                 pg_catalog.set_config('session_authorization', NULL, false), \
                 pg_catalog.set_config('role', NULL, false)) AS r, \
                 pg_catalog.to_regclass('\"tb_confiture\"') AS o OFFSET 0) AS confiture_ledger \
                 WHERE pg_catalog.concat(\
                 pg_catalog.set_config('TimeZone', NULL, true), {}, {}, {}, {}) IS NULL;\n\
                 INSERT INTO \"tb_confiture\"",
                ledger_moved_check(&settings.table, LEDGER_OID),
                crate::db::ledger::altered_check(&settings.table, LEDGER_OID),
                no_ledger_writes_check(LEDGER_OID),
                writable_checks(LEDGER_OID, Direction::Up).join(", ")
            )),
            "{text}"
        );
        assert!(text.starts_with(&start_message(&settings)), "{text}");
        assert!(
            start_message(&settings).ends_with(
                ", pg_catalog.set_config('lock_timeout', '1500ms', false), \
                 pg_catalog.set_config('statement_timeout', '1ms', false), \
                 pg_catalog.set_config('idle_in_transaction_session_timeout', '0', false)) \
                 IS NULL;"
            ),
            "the run's timeouts are the session's while the message runs"
        );
        assert!(
            text.contains(
                "\nBEGIN; SET LOCAL statement_timeout = '1ms';\nCREATE TABLE a (); -- no newline"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "RESET ALL; SET LOCAL statement_timeout = '1ms'; SET CONSTRAINTS ALL IMMEDIATE;\nSELECT FROM \
                 (SELECT pg_catalog.concat(pg_catalog.set_config('lock_timeout', '1500ms', true)) \
                 AS r, pg_catalog.to_regclass('\"tb_confiture\"') AS o OFFSET 0) AS \
                 confiture_ledger WHERE pg_catalog.concat(CASE WHEN EXISTS (SELECT FROM \
                 \"tb_confiture\" AS l WHERE l.version OPERATOR(pg_catalog.=) '003' \
                 AND l.name OPERATOR(pg_catalog.=) 'x' \
                 AND l.checksum OPERATOR(pg_catalog.=) '"
            ) && text.contains(&format!(
                "AND l.checksum OPERATOR(pg_catalog.=) {}) THEN '' ELSE",
                ledger::literal(&migration.up.checksum)
            )) && text.contains(
                "::pg_catalog.text END, pg_catalog.set_config('synchronous_commit', 'off', true), \
                 pg_catalog.set_config('confiture.step', "
            ) && text.contains(
                ", pg_catalog.set_config('lock_timeout', '1500ms', false), \
                 pg_catalog.set_config('statement_timeout', '1ms', false), \
                 pg_catalog.set_config('idle_in_transaction_session_timeout', '0', false)) \
                 IS NULL;\nCOMMIT;"
            ),
            "after the row's RESET ALL, our bound first, then the timeouts again for the next \
             migration: {text}"
        );
        assert!(
            text.trim_end()
                .ends_with(&format!("COMMIT;\n{RESET_TIMEOUTS}")),
            "the message gives the connection's timeouts back: {text}"
        );
        let sync = Step {
            synchronous_commit: true,
            ..step
        };
        let text = batch(&settings, std::slice::from_ref(&sync), true)
            .script
            .text()
            .to_string();
        assert!(
            text.contains(
                "::pg_catalog.text END, pg_catalog.set_config('synchronous_commit', NULL, true)"
            ),
            "the last commit keeps the connection's synchronous_commit: {text}"
        );
        assert!(!text.contains("'off'"), "{text}");
    }

    fn settings(statement_timeout: Option<Duration>) -> ApplySettings {
        ApplySettings {
            lock_timeout: Duration::from_millis(1500),
            statement_timeout,
            lock_retries: 3,
            ledger_lock_wait: Duration::from_millis(1500),
            ..ApplySettings::for_tests()
        }
    }

    /// `RESET ALL` gives the session the database's `statement_timeout`, and the server arms
    /// each statement's timer with the value in force when it starts: whatever of ours follows
    /// a `RESET ALL`, in every message of migrations, comes after our bound — one `SET`.
    #[test]
    fn after_every_reset_all_of_ours_our_bound_comes_first() {
        let file = sql_file("CREATE TEMP TABLE t (); PREPARE p AS SELECT 1; -- hold");
        let migration = migration_003(file);
        let steps = [Step::up(&migration, false), Step::up(&migration, true)];
        for st in [None, Some(Duration::ZERO), Some(Duration::from_secs(5))] {
            let settings = settings(st);
            let bound = own_bound_after_reset(&settings);
            let mut single = Script::new();
            push_step(&mut single, &settings, &steps[0], "7_0");
            let messages = [
                batch(&settings, &steps, true).script.text().to_string(),
                batch(&settings, &steps, false).script.text().to_string(),
                begin_sql(&settings),
                single.text().to_string(),
            ];
            for text in messages {
                let resets: Vec<_> = text.match_indices("RESET ALL;").collect();
                assert!(!resets.is_empty(), "{text}");
                for (at, reset) in resets {
                    let after = text[at + reset.len()..].trim_start();
                    assert!(
                        after.starts_with(&bound),
                        "{st:?}: {bound} after {at}: {text}"
                    );
                }
            }
        }
    }

    /// The server arms a statement's timer with the `statement_timeout` in force when it
    /// starts, and a migration runs under the database's or role's (`ALTER DATABASE ... SET
    /// statement_timeout = '5ms'`): the first statement of ours after a migration's body is
    /// our bound, one `SET`, before the checks and the row — batched or not, prepared or not,
    /// up or down, inside `--single-transaction` —, and the migration's timeout is set right
    /// before its body: every other statement, `COMMIT` included, runs under ours. The
    /// statement before the row used to set our timeout for the statements after it, running
    /// under the migration's itself, and the session kept the migration's for the `COMMIT`.
    #[test]
    fn after_every_body_our_bound_comes_first() {
        let body = "INSERT INTO t VALUES (1); -- body";
        let migration = migration_003(sql_file(body));
        let (up, down) = (
            Step::up(&migration, false),
            Step::down(&migration, "003", false),
        );
        for st in [None, Some(Duration::from_secs(5))] {
            let settings = settings(st);
            let bound = own_bound_before_row(&settings);
            for steps in [[up, up], [down, down]] {
                let mut single = Script::new();
                push_step(&mut single, &settings, &steps[0], "7_0");
                let messages = [
                    batch(&settings, &steps, true).script.text().to_string(),
                    batch(&settings, &steps, false).script.text().to_string(),
                    batch(&settings, &steps[..1], true)
                        .script
                        .text()
                        .to_string(),
                    single.text().to_string(),
                ];
                for text in messages {
                    let ends: Vec<_> = text.match_indices(body).collect();
                    assert!(!ends.is_empty(), "{text}");
                    for (at, _) in ends {
                        let after = text[at + body.len()..].trim_start_matches(['\n', ';']);
                        assert!(
                            after.starts_with(&bound),
                            "{st:?}: {bound} after {at}: {text}"
                        );
                        let before = text[..at].trim_end_matches('\n');
                        assert!(
                            before.ends_with(&migration_timeout_sql(&settings)),
                            "{st:?}: the migration's timeout right before its body: {text}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_message_of_migrations_leaves_the_writing_session_at_our_bound() {
        assert!(
            RESET_TIMEOUTS.ends_with(WRITING_SESSION_BOUND),
            "{RESET_TIMEOUTS}"
        );
    }

    #[test]
    fn the_clock_has_a_name_of_this_process_and_the_row_reads_it_as_it_is() {
        let clock = clock();
        let token = clock.strip_prefix("confiture.t_").expect("our namespace");
        assert!(
            token.len() == 8 && token.bytes().all(|b| b.is_ascii_hexdigit()),
            "{clock}: a custom setting name, valid as written"
        );
        assert_eq!(clock, super::clock(), "one name for the whole process");
        assert_eq!(
            clock_value(),
            format!(
                "CASE WHEN pg_catalog.current_setting('{clock}', true) OPERATOR(pg_catalog.<>) '' \
                 THEN pg_catalog.current_setting('{clock}', true)::pg_catalog.float8 \
                 OPERATOR(pg_catalog./) 1000000 END"
            ),
            "emptied (RESET ALL): NULL, and the row takes the time it is written"
        );
    }

    #[test]
    fn settings_travel_as_one_statement() {
        assert_eq!(
            set_configs_select(&[
                set_literal("role", None, false),
                set_literal("lock_timeout", Some("1ms"), true)
            ]),
            "SELECT WHERE pg_catalog.concat(pg_catalog.set_config('role', NULL, false), \
             pg_catalog.set_config('lock_timeout', '1ms', true)) IS NULL",
            "in order, and no row back"
        );
        assert_eq!(
            local_timeouts_sql(&settings(None)),
            "SELECT WHERE pg_catalog.concat(\
             pg_catalog.set_config('lock_timeout', '1500ms', true), \
             pg_catalog.set_config('statement_timeout', '0ms', true), \
             pg_catalog.set_config('idle_in_transaction_session_timeout', '0', true)) IS NULL;",
            "the run's lock_timeout, our statement_timeout (the migration's is set before its \
             body), and the transaction is never idle"
        );
        assert_eq!(
            before_row_select(&settings(None), Direction::Up),
            format!(
                "SELECT FROM (SELECT pg_catalog.concat(\
                 pg_catalog.set_config('session_authorization', NULL, false), \
                 pg_catalog.set_config('role', NULL, false)) AS r, \
                 pg_catalog.to_regclass('\"tb_confiture\"') AS o OFFSET 0) AS confiture_ledger \
                 WHERE pg_catalog.concat(\
                 pg_catalog.set_config('TimeZone', NULL, true), {}, {}, {}, {}) IS NULL",
                ledger_moved_check(&TrackingTable::default(), LEDGER_OID),
                crate::db::ledger::altered_check(&TrackingTable::default(), LEDGER_OID),
                no_ledger_writes_check(LEDGER_OID),
                writable_checks(LEDGER_OID, Direction::Up).join(", ")
            ),
            "the role first, then the ledger's OID looked up once as that role (our timeouts are set before it, \
             own_bound_before_row), then the connection's time zone, then the checks that the ledger is still at its name and \
             that the migration wrote no ledger row"
        );
    }

    /// Every statement of checks around a row looks the tracking table up once: the
    /// `to_regclass` of its name outside a string (the rare branches' queries, which run
    /// only when reached, look it up on their own) appears once in `_role`, in `_next`, in
    /// the unprepared statements before a row (up and down) and at the start of a message.
    #[test]
    fn the_checks_look_the_ledger_up_once_a_statement() {
        let settings = settings(None);
        let lookup = settings.table.regclass();
        let prepare = prepare_rows_sql(&settings, 7);
        let statements = [
            before_row_select(&settings, Direction::Up),
            before_row_select(&settings, Direction::Down),
            start_message(&settings),
            prepare[prepare.find("PREPARE confiture_row_7_role").unwrap()..]
                .split(";\n")
                .next()
                .unwrap()
                .to_string(),
            prepare[prepare.find("PREPARE confiture_row_7_next").unwrap()..].to_string(),
        ];
        for statement in statements {
            assert_eq!(statement.matches(&lookup).count(), 1, "{statement}");
            assert!(
                statement.contains(&format!("{lookup} AS o OFFSET 0) AS confiture_ledger")),
                "{statement}"
            );
        }
    }

    #[test]
    fn a_prepared_message_writes_each_ledger_value_as_its_one_literal() {
        // The message is written straight into one string, piece by piece: each value must
        // still be exactly `ledger::literal` of it, quotes doubled, the slug's prefix included.
        let file = sql_file("INSERT INTO t VALUES (1);");
        let migration = Migration {
            version: 3,
            version_text: "0'3".into(),
            name: "it's".into(),
            up: file.clone(),
            down: file,
        };
        let mut steps = [Step::up(&migration, false), Step::up(&migration, true)];
        steps[1].kept = super::super::Kept {
            oldest: Some("o'ld"),
            newest: None,
        };
        let batch = batch(&settings(None), &steps, true);
        let n = batch.nonce;
        let text = batch.script.text();
        for (i, step) in steps.iter().enumerate() {
            let row = format!(
                "SET LOCAL statement_timeout = '0ms'; SET LOCAL lock_timeout = '1500ms';\n\
                 EXECUTE confiture_row_{n}_role;\n\
                 EXECUTE confiture_row_{n}({}, {}, {}, {}, {i});",
                ledger::literal(step.ledger_version),
                ledger::literal(&migration.name),
                ledger::literal(&migration.up.checksum),
                ledger::literal(&format!("{}_{}_", migration.name, step.ledger_version)),
            );
            assert!(text.contains(&row), "{row}\n{text}");
            let kept = |v: Option<&str>| v.map_or_else(|| "NULL".to_string(), ledger::literal);
            let next = format!(
                "EXECUTE confiture_row_{n}_next('{n}:{i}', {}, {}, {}, {}, {}, {});\nCOMMIT;",
                if step.synchronous_commit {
                    "NULL"
                } else {
                    "'off'"
                },
                ledger::literal(step.ledger_version),
                kept(step.kept.oldest),
                kept(step.kept.newest),
                ledger::literal(&migration.name),
                ledger::literal(&migration.up.checksum),
            );
            assert!(text.contains(&next), "{next}\n{text}");
        }
        assert_eq!(
            ledger_sql(
                &settings(None),
                &steps[0],
                0,
                Some(n),
                "",
                Began::OwnTransaction
            ),
            format!(
                "SET LOCAL statement_timeout = '0ms'; SET LOCAL lock_timeout = '1500ms';\n\
                 EXECUTE confiture_row_{n}_role;\n\
                 EXECUTE confiture_row_{n}('0''3', 'it''s', {}, \
                 'it''s_0''3_', 0)",
                ledger::literal(&migration.up.checksum)
            )
        );
    }

    #[test]
    fn a_migration_of_a_prepared_message_carries_nine_statements_of_ours() {
        let file = sql_file("INSERT INTO t VALUES (1);");
        let migration = migration_003(file);
        let mut steps = [Step::up(&migration, false), Step::up(&migration, true)];
        steps[1].kept = super::super::Kept {
            oldest: Some("001"),
            newest: Some("003"),
        };
        let batch = batch(&settings(None), &steps, true);
        let text = batch.script.text();
        let n = batch.nonce;
        let prepare = batch.prepare.as_deref().unwrap_or_default();
        assert!(
            prepare.starts_with(&format!("PREPARE confiture_row_{n}(")),
            "the rows are prepared in a message of their own: {prepare}"
        );
        assert!(!text.contains("PREPARE"), "{text}");
        let unprepared = super::batch(&settings(None), &steps, false);
        assert!(unprepared.prepare.is_none());
        assert!(!unprepared.script.text().contains("EXECUTE"));
        let first = format!(
            "\nBEGIN; SET LOCAL statement_timeout TO DEFAULT;\nINSERT INTO t VALUES (1);\n;\n\
             SET LOCAL statement_timeout = '0ms'; SET LOCAL lock_timeout = '1500ms';\n\
             EXECUTE confiture_row_{n}_role;\n\
             EXECUTE confiture_row_{n}('003', 'x', "
        );
        assert!(text.contains(&first), "{text}");
        let checksum = ledger::literal(&migration.up.checksum);
        assert!(
            text.contains(&format!(
                ", 0);\nRESET ALL; SET LOCAL statement_timeout = '0ms'; SET CONSTRAINTS ALL IMMEDIATE;\nEXECUTE confiture_row_{n}_next('{n}:0', 'off', '003', NULL, NULL, 'x', {checksum});\nCOMMIT;"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                ", 1);\nRESET ALL; SET LOCAL statement_timeout = '0ms'; SET CONSTRAINTS ALL IMMEDIATE;\nEXECUTE confiture_row_{n}_next('{n}:1', NULL, '003', '001', '003', 'x', {checksum});\nCOMMIT;"
            )),
            "{text}"
        );
        assert!(text.trim_end().ends_with(&format!(
            "DEALLOCATE confiture_row_{n}; DEALLOCATE confiture_row_{n}_role; \
             DEALLOCATE confiture_row_{n}_next;\nRESET lock_timeout; \
             RESET idle_in_transaction_session_timeout; SET statement_timeout = 0;"
        )));
        assert!(
            prepare.contains(&format!(
                "PREPARE confiture_row_{n}_next(pg_catalog.text, pg_catalog.text, pg_catalog.text, \
                 pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) AS SELECT FROM \
                 (SELECT pg_catalog.concat(pg_catalog.set_config('lock_timeout', '1500ms', true)) AS r, pg_catalog.to_regclass('\"tb_confiture\"') AS o OFFSET 0) AS \
                 confiture_ledger WHERE pg_catalog.concat(CASE WHEN EXISTS (SELECT FROM \"tb_confiture\" AS l WHERE \
                 l.version OPERATOR(pg_catalog.=) $3 AND l.name OPERATOR(pg_catalog.=) $6 \
                 AND l.checksum OPERATOR(pg_catalog.=) $7) THEN '' ELSE \
                 pg_catalog.query_to_xml('SELECT \"confiture: tracking table row not written\"', \
                 false, false, '')::pg_catalog.text END, \
                 CASE WHEN ($4 IS NULL OR EXISTS (SELECT FROM \"tb_confiture\" AS l WHERE \
                 l.version OPERATOR(pg_catalog.=) $4)) AND ($5 IS NULL OR EXISTS (SELECT FROM \
                 \"tb_confiture\" AS l WHERE l.version OPERATOR(pg_catalog.=) $5)) THEN '' ELSE \
                 pg_catalog.query_to_xml('SELECT \"confiture: tracking table rows changed\"', \
                 false, false, '')::pg_catalog.text END, pg_catalog.set_config('synchronous_commit', $2, true), \
                 pg_catalog.set_config('confiture.step', $1, false), \
                 pg_catalog.set_config('{}', {CLOCK_NOW}, false), \
                 pg_catalog.set_config('{}', {}, false), \
                 pg_catalog.set_config('{}', {}, false), \
                 pg_catalog.set_config('lock_timeout', '1500ms', false), \
                 pg_catalog.set_config('statement_timeout', '0ms', false), \
                 pg_catalog.set_config('idle_in_transaction_session_timeout', '0', false)) \
                 IS NULL;",
                clock(),
                ledger_writes_mark(),
                ledger_writes(LEDGER_OID),
                ledger_oid_mark(),
                ledger_oid(LEDGER_OID)
            )),
            "{prepare}"
        );
    }
}
