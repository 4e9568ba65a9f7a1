//! The target list read from the environment's own database: one query, in a read-only
//! transaction that is always rolled back, returning one column of URLs or database names.
//!
//! The query itself runs in `crate::db` ([`read_only_column`]); this module says what its
//! rows mean: targets, or tenant schemas, and which rows are not.

use crate::config::{is_no_target, list_entry, Environment, FleetList};
use crate::db::ledger::SessionNames;
use crate::db::query::{read_only_column, ColumnError};
use crate::error::{Error, Result};
use crate::hint::AGAIN;

use super::targets::{collect, collect_schemas, not_a_target, Entry, Target};

/// How the list is named in errors: `the targets query, row 3`.
const LIST: &str = "the targets query";

/// Runs `sql` on `base`'s database and resolves each row as a target (see
/// `fleet::targets`): a URL or conninfo, else a database name on `base`'s server. A row
/// that is NULL or blank is an error naming the row (a `LEFT JOIN` that lost a tenant's
/// database must not skip the tenant silently), as is a column that is not text; every bad
/// row is named in one error.
pub fn query_targets(base: &Environment, sql: &str) -> Result<Vec<Target>> {
    crate::migrator::blocking_here(|| targets_of_query(base, sql))
}

/// [`query_targets`] where the driver may block.
fn targets_of_query(base: &Environment, sql: &str) -> Result<Vec<Target>> {
    let what = "database names or postgresql:// URLs";
    let missing = format!(
        "the targets query runs read-only on the environment's database, the one that lists \
         the targets: fix the database name in {} (`--create-database` creates the targets' \
         databases, not the one the query reads)",
        base.source()
    );
    let (values, _) = rows(base, sql, LIST, what, missing, None)?;
    let write = row_help(what);
    let helps = super::targets::ListHelps {
        write: &write,
        duplicate: "return each database once (`SELECT DISTINCT`, or leave out the rows naming \
                    one again): each is listed once",
    };
    collect(base, entries(&values), LIST, helps)
}

/// How the schema list is named in errors: `the schemas query, row 3`.
const SCHEMAS: &str = "the schemas query";

/// Runs `sql` on `base`'s database, as [`query_targets`] does, and makes each row a tenant
/// schema of that database ([`Target::schema`]): the rows read by the same rule (whitespace
/// around a value dropped, NULL and blank rows refused), each name once; every bad row is
/// named in one error.
///
/// A tracking table left unqualified (the default `tb_confiture`) is the whole database's
/// ledger wherever the database's `search_path` puts it (`public.tb_confiture`, most often),
/// and every schema of that `search_path` (`"$user"` expanded, existing or not) is where the
/// whole database's unqualified names go: the same session resolves them, so that a tenant
/// that is one of them is refused as the schema of a qualified ledger is ([`Target::schema`]).
pub fn query_schemas(base: &Environment, sql: &str) -> Result<Vec<Target>> {
    crate::migrator::blocking_here(|| schemas_of_query(base, sql))
}

/// [`query_schemas`] where the driver may block.
fn schemas_of_query(base: &Environment, sql: &str) -> Result<Vec<Target>> {
    let what = "schema names (`nspname`), each once";
    let missing = format!(
        "the tenant schemas live in this database, which the schemas query reads before any \
         tenant is migrated (`--create-database` cannot create it for a schemas query): create \
         it first ({}), then run {AGAIN}; or fix the database name in {}",
        crate::db::connect::createdb(&base.connection),
        base.source()
    );
    let ledger = &base.migration.tracking_table;
    let (values, names) = rows(base, sql, SCHEMAS, what, missing, Some(ledger))?;
    collect_schemas(
        base,
        entries(&values),
        SCHEMAS,
        names.as_ref(),
        &row_help(what),
    )
}

/// `--schema NAME` alone: the tenant schema `schema` of `base`'s database ([`Target::schema`]),
/// refused as a row of [`query_schemas`] is — the name by the same rules, and a schema holding
/// the whole database's tracking table (an unqualified one where the server resolves it) or
/// named by the whole database's `search_path`, asked of a read-only session of `base` as the
/// schemas query asks it (one round trip). A database that does not exist yet resolves nothing: the
/// session that runs the command says it is missing; when the command creates it (`creating`:
/// `up --create-database`, its dry run too), the new database's ledger is resolved as its
/// sessions will resolve it (`db::resolve_in_new_database`), so that the tenant
/// holding it is refused before the database is created, as it is once it exists.
/// `source` names the schema in errors (`--schema`).
pub fn one_schema(
    base: &Environment,
    schema: &str,
    source: &str,
    creating: bool,
) -> Result<Target> {
    crate::migrator::blocking_here(|| resolve_one_schema(base, schema, source, creating))
}

/// [`one_schema`] where the driver may block.
fn resolve_one_schema(
    base: &Environment,
    schema: &str,
    source: &str,
    creating: bool,
) -> Result<Target> {
    // The name's own rules first, without connecting.
    let target = Target::schema(base, schema, source)?;
    let ledger = &base.migration.tracking_table;
    // The tenant's session without its pinned `search_path`: the database's own places the
    // whole database's ledger. Its errors name where the tenant's settings are, as that
    // session's would.
    let mut session = target.environment.clone();
    session.connection = base.connection.clone();
    let names = match column(&session, None, RESOLVING, Some(ledger))? {
        Ok(column) => column.names,
        Err(ColumnError::MissingDatabase) if creating => {
            Some(new_database_names(&session, ledger)?)
        }
        Err(ColumnError::MissingDatabase) => return Ok(target),
        Err(ColumnError::Connection(e)) => return Err(e),
        Err(ColumnError::Locked { how, holders }) => {
            return Err(locked(base, RESOLVING, &how, holders))
        }
        Err(ColumnError::Refused { error, shown }) => {
            return Err(
                Error::invalid(format!("{RESOLVING} failed on {}", base.connection))
                    .with_source_shown(error, shown),
            )
        }
        // No query was run: no column to be wrong.
        Err(ColumnError::Columns(_) | ColumnError::NotText(_)) => None,
    };
    Target::tenant(base, schema, source.to_string(), names.as_ref())
}

/// Where `ledger` would be in `session`'s database, which `--create-database` is about to
/// create, and the schemas of its `search_path` ([`crate::db::resolve_in_new_database`]); on
/// a thread when a stop flag was given, as [`column`].
fn new_database_names(
    session: &Environment,
    ledger: &crate::ledger::TrackingTable,
) -> Result<SessionNames> {
    let (env, ledger) = (session.clone(), ledger.clone());
    crate::db::prefetch::unless_stopped(
        crate::config::stop_flag(),
        || crate::db::prefetch::interrupted_connecting(crate::plan::Effect::Runs),
        move || crate::db::resolve_in_new_database(&env, &ledger),
    )?
}

/// How the look-up of [`one_schema`] is named in errors.
const RESOLVING: &str = "the look-up of the tracking table";

/// The help of bad rows: what the query should return.
fn row_help(what: &str) -> String {
    format!("return one text column of {what}, never NULL or blank")
}

/// The rows as list entries ([`list_entry`]: the one whitespace rule of every list), each
/// with its `LIST, row N`; a NULL row, and a row with nothing but whitespace or a `#`
/// comment, is no entry and says so (a query's row is never skipped).
pub(super) fn entries(values: &[Row]) -> impl Iterator<Item = Entry<'_>> {
    values.iter().map(|(value, source)| {
        let entry = match value.as_deref().map(list_entry) {
            None => Err("is NULL".to_string()),
            Some(text) if is_no_target(text) => {
                Err(not_a_target(value.as_deref().unwrap_or_default()))
            }
            Some(text) => Ok(text),
        };
        (entry, source.clone())
    })
}

/// A value of the query's column (NULL as `None`) with its `LIST, row N`.
pub(super) type Row = (Option<String>, String);

/// The query's one text column, each value (NULL as `None`) with its `LIST, row N`, and how
/// the session resolves `ledger` and its `search_path` ([`read_only_column`]); a non-text column is refused. `what` says what the rows should be; `missing` what to do
/// when the environment's database does not exist — never the one-database help
/// (`migrate up --create-database`), which, pasted, would migrate the database the query
/// reads instead of the list. The query runs in `db` ([`read_only_column`]); this says what
/// its answer means.
fn rows(
    base: &Environment,
    sql: &str,
    list: &str,
    what: &str,
    missing: String,
    ledger: Option<&crate::ledger::TrackingTable>,
) -> Result<(Vec<Row>, Option<SessionNames>)> {
    let column = column(base, Some(sql), list, ledger)?.map_err(|e| match e {
        ColumnError::Connection(e) => e,
        ColumnError::MissingDatabase => {
            crate::db::connect::missing_database(&base.connection).with_help(missing)
        }
        ColumnError::Refused { error, shown } => {
            let mut help = format!(
                "the query runs read-only on the environment's database and returns one column: \
                 {what}"
            );
            if error.code() == Some(&postgres::error::SqlState::SYNTAX_ERROR)
                && written_with_double_dollar(base, sql)
            {
                help.push_str(
                    "; `$$` in an environment file's value is a literal `$` (as `${VAR}` is \
                     a variable): write `$$$$` for a dollar quote `$$`, or use a tagged one \
                     (`$q$...$q$`), which is kept as written",
                );
            }
            Error::invalid(format!("{list} failed on {}", base.connection))
                .with_source_shown(error, shown)
                .with_help(help)
        }
        ColumnError::Columns(n) => Error::invalid(format!("{list} returns {n} columns, not one"))
            .with_help(format!("select one column of {what}")),
        ColumnError::Locked { how, holders } => locked(base, list, &how, holders),
        ColumnError::NotText(type_name) => {
            Error::invalid(format!("{list} returns values that are not targets"))
                .with_help(row_help(what))
                .with_detail(format!("its column is of type {type_name}, not text"))
        }
    })?;
    let values = column
        .values
        .into_iter()
        .enumerate()
        .map(|(i, value)| (value, format!("{list}, row {}", i + 1)))
        .collect();
    Ok((values, column.names))
}

/// Whether `sql` is `base`'s file's own query (`fleet.targets_query`, `fleet.schemas_query`)
/// and was written there with `$$`, which the file reads as `$`: a command line's query is
/// sent as typed.
fn written_with_double_dollar(base: &Environment, sql: &str) -> bool {
    base.fleet.as_ref().is_some_and(|fleet| {
        fleet.query_has_double_dollar
            && matches!(
                &fleet.list,
                Some(FleetList::TargetsQuery(query) | FleetList::SchemasQuery(query)) if query == sql
            )
    })
}

/// [`read_only_column`] on `base`'s database, `list` naming it in errors; on a thread when a
/// stop flag was given (the CLI's Ctrl-C): a server that accepts and never answers, or a query
/// waiting for a lock, must not outlast a Ctrl-C.
fn column(
    base: &Environment,
    sql: Option<&str>,
    list: &str,
    ledger: Option<&crate::ledger::TrackingTable>,
) -> Result<std::result::Result<crate::db::query::Column, ColumnError>> {
    let (env, query, label) = (base.clone(), sql.map(str::to_string), list.to_string());
    let ledger = ledger.cloned();
    crate::db::prefetch::unless_stopped(
        crate::config::stop_flag(),
        || {
            Error::new(
                crate::ErrorKind::Interrupted,
                format!(
                    "interrupted before {list} on {} returned: no target was run",
                    base.connection
                ),
            )
        },
        move || read_only_column(&env, query.as_deref(), &label, ledger.as_ref()),
    )
}

/// The query waited for a lock another session holds, and gave up (`how`: `waited 30s`, or
/// `not waited for` a prepared transaction): exit 6, naming the sessions holding an `ACCESS
/// EXCLUSIVE` lock in the database, as a wait for the migration lock or the tracking table
/// names its holder.
fn locked(
    base: &Environment,
    list: &str,
    how: &str,
    holders: Vec<crate::db::lock::LockHolder>,
) -> Error {
    let database = base.connection.to_string();
    let mut error = Error::new(
        crate::ErrorKind::LockTimeout,
        match crate::db::lock::worth_waiting_for(&holders) {
            true => format!(
                "{list} {how} on {database} for a lock {} holds on a table it reads, and gave up",
                crate::db::lock::who_holds(&holders)
            ),
            false => format!(
                "{list} on {database} met a lock {} holds on a table it reads ({how})",
                crate::db::lock::who_holds(&holders)
            ),
        },
    );
    for holder in &holders {
        error = error.with_detail(format!("held by {holder}"));
    }
    let bound = "the wait is the environment's `lock_timeout`";
    let help = crate::db::lock::holders_help(&holders, &format!("run {AGAIN}"))
        .unwrap_or_else(|| format!("run {AGAIN} when the lock is released"));
    error = error.with_help(format!("{help} ({bound})"));
    error.with_reason(crate::error::Reason::Lock {
        database: Some(database),
        holders,
    })
}
