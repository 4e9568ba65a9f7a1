//! Which databases a fleet runs against: a list of URLs (or libpq conninfo) and database
//! names, each resolved against the environment the list came with. Parsing is pure; reading
//! a file is the only IO here (the query is in `query.rs`).
//!
//! # The list
//!
//! One target per line. A line that holds `://`, `@` or a `key=value` pair is a connection
//! string with its own credentials (a URL with a mistyped scheme is refused as one, never shown
//! as a database name: it may hold a password); any other line is the name of a database on
//! the environment's server, reached with the environment's user, password and settings.
//! A relative `sslrootcert`, `sslcert` or `sslkey` in a URL of a list written in a file (a
//! target file, `fleet.targets`) starts at that file's directory, as an environment file's own
//! (`ConnectionSpec::files_relative_to`); in a query's row, at the current directory.
//!
//! The grammar of a line: whitespace around it (spaces, tabs, a `\r`) is dropped; a line left
//! empty, or starting with `#`, is ignored (a whole-line comment); anything else is one entry.
//! There are no trailing comments: a `#` later in a line is not a comment (it may be part of a
//! password), and an entry holds no whitespace — a name or URL with a space in it is written
//! as a URL, percent-encoded (`%20`); a conninfo's pairs are separated by spaces — so that
//! `tenant_1 # eu` and `postgresql://h/tenant_1 # eu` are refused with their `file:line`,
//! never looked up as the database `tenant_1 # eu`.
//!
//! Every bad line is reported at once, named `file:line`; a database listed twice (same hosts
//! and ports, in order, and name, [`crate::config::ConnectionSpec::same_database`]) is refused too: two
//! runners on one database would only queue on its lock, then run the command twice (`down
//! --steps 1` would roll back two migrations). The same database under two spellings of its
//! server (`127.0.0.1` and `localhost`, a host name and its address, a name on the
//! environment's server and a URL to it by another name) is found once connected, by what the
//! server says ([`Claims`]): the target that reaches it second is refused before it takes the
//! lock or reads the ledger, so the command runs on it once.

use std::path::Path;

use crate::config::{self, is_no_target, list_entry, Environment, FleetList, Listed};
use crate::db::ledger::SessionNames;
use crate::error::{Error, Result};

/// One database of a fleet: its environment (the list's environment with another database,
/// or the settings of the environment with a URL's connection) and where it was listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The environment to run the command with.
    pub environment: Environment,
    /// Where the target was listed: `tenants.txt:12`, `targets query, row 3`, or what the
    /// caller gave.
    pub source: String,
    /// The tenant schema, for a schema-per-tenant target ([`Target::schema`]).
    pub schema: Option<String>,
    /// Listed by its database name on the environment's server ([`Target::database`]).
    by_name: bool,
    /// Listed by name, and the environment's own database
    /// ([`crate::hint::OneTarget::environments_own`]).
    environments_own: bool,
    /// A tenant schema the server said does not exist ([`Target::new_schema`]).
    new_schema: Option<crate::ledger::NewTenantSchema>,
}

/// Largest target file read: a list of a million tenants is about 30 MiB.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The `search_path` a tenant's sessions resolve names through: its schema alone, quoted
/// ([`Target::schema`] pins it as the connection's own, so that a migration's `RESET ALL`
/// keeps it). A tenant schema name is an identifier (letters, digits, `_`): no quote to escape.
pub(crate) fn tenant_search_path(schema: &str) -> String {
    format!("\"{schema}\"")
}

/// The connection option that pins tenant `schema`'s `search_path` ([`Target::schema`]
/// appends it to the environment's options: later settings win).
fn tenant_pin(schema: &str) -> String {
    format!("-c search_path={}", tenant_search_path(schema))
}

/// A connection's `options` without the pin of tenant `schema` ([`tenant_pin`]) that
/// [`Target::schema`] appended: the options every tenant of its database shares. Blank
/// options are none.
pub(crate) fn options_apart_from_tenant(
    options: Option<&str>,
    schema: Option<&str>,
) -> Option<String> {
    let options = options?;
    let shared = match schema {
        Some(schema) => options
            .strip_suffix(tenant_pin(schema).as_str())
            .unwrap_or(options),
        None => options,
    };
    Some(shared.trim().to_string()).filter(|o| !o.is_empty())
}

/// Whether `search_path` (as the server shows it: `pg_settings.reset_val`, what `RESET ALL`
/// goes back to) is the tenant `schema`'s pin: [`tenant_search_path`], or the name unquoted
/// when it needs no quotes (all lowercase, as `-c search_path=tenant_a` writes it).
pub(crate) fn pins_tenant(search_path: &str, schema: &str) -> bool {
    let search_path = search_path.trim();
    search_path == tenant_search_path(schema)
        || (search_path == schema && !schema.chars().any(|c| c.is_ascii_uppercase()))
}

impl Target {
    /// The database `name` on `base`'s server, with `base`'s credentials and settings.
    pub fn database(base: &Environment, name: &str, source: impl Into<String>) -> Result<Target> {
        let source = source.into();
        if name.trim().is_empty() {
            // Never the environment's own database: an empty `${TENANT}` is no target. Worded
            // as every list words such an entry (`not_a_target`).
            return Err(
                Error::invalid(format!("{source} {}", not_a_target(name))).with_help(format!(
                    "name a database on the server of {} (or give a postgresql:// URL or \
                     key=value conninfo): an empty name names none, and is never taken for \
                     the environment's own database",
                    base.source()
                )),
            );
        }
        check_name(name, &base.connection)
            .map_err(|reason| Error::invalid(format!("{source}: {reason}")))?;
        let mut environment = base.clone();
        environment.connection.name_database(name);
        // Errors then say where the name came from, and where the rest did.
        environment.listed_by_name(&source, base);
        environment.settings_from = Some(base.settings_for_derived());
        environment.file = None;
        environment.fleet = None;
        Ok(Target {
            environments_own: base.connection.same_database(&environment.connection),
            new_schema: None,
            environment,
            source,
            schema: None,
            by_name: true,
        })
    }

    /// The database a URL (or libpq conninfo) names, with its own credentials; the migration
    /// settings (tracking table, timeouts) are `base`'s, except what the URL itself sets
    /// (`connect_timeout`, `application_name`), which wins as it does for `--database-url`.
    pub fn url(base: &Environment, url: &str, source: impl Into<String>) -> Result<Target> {
        let source = source.into();
        let parsed = Environment::from_url(url, &source)?;
        let mut environment = base.clone();
        if parsed.connection.connect_timeout.is_some() {
            environment.migration.connect_timeout = parsed.migration.connect_timeout;
        }
        if parsed.connection.application_name.is_some() {
            environment.application_name = parsed.application_name;
        }
        environment.connection = parsed.connection;
        // What the list's URL wrote, never the environment file's variables.
        environment.percent_in_credentials = parsed.percent_in_credentials;
        environment.name = source.clone();
        environment.settings_from = Some(base.settings_for_derived());
        environment.file = None;
        environment.fleet = None;
        environment.listed = Listed::Connection;
        Ok(Target {
            environment,
            source,
            schema: None,
            by_name: false,
            environments_own: false,
            new_schema: None,
        })
    }

    /// The tenant schema `schema` of `base`'s database: its ledger is
    /// `<schema>.<tracking table name>`, its session's `search_path` is the schema alone, set
    /// in the startup packet (`options=-c search_path="schema"`) so that the reset between
    /// migrations (`RESET ALL`) brings it back and nothing of one tenant reaches another or
    /// `public`, and its migration lock is the tenant's
    /// ([`crate::db::lock::tenant_lock_id`]), so tenants of one database run side by side.
    /// A schema that does not exist is created with the ledger. Its name is an identifier
    /// (`[A-Za-z_][A-Za-z0-9_]*`, at most 63 bytes), taken as written (case kept).
    ///
    /// Refused when `schema` holds the whole database's tracking table (`migration.tracking_table`
    /// qualified with it): its ledger would be that one. An unqualified tracking table is
    /// where the database's `search_path` puts it, and a schema that `search_path` names
    /// (`"$user"` too) is where the whole database's unqualified names go once it exists,
    /// which only the server says: a schemas query asks it ([`super::query_schemas`]), and so
    /// does [`super::one_schema`] (`--schema NAME`).
    pub fn schema(base: &Environment, schema: &str, source: impl Into<String>) -> Result<Target> {
        Target::tenant(base, schema, source.into(), None)
    }

    /// [`Target::schema`], with how a whole-database session resolves names (`resolved`:
    /// `public.tb_confiture` for an unqualified `tb_confiture`, and the schemas of its
    /// `search_path`) when known.
    pub(super) fn tenant(
        base: &Environment,
        schema: &str,
        source: String,
        resolved: Option<&SessionNames>,
    ) -> Result<Target> {
        Target::tenant_or_refusal(base, schema, source, resolved).map_err(|refusal| match refusal {
            TenantRefusal::Name(e) | TenantRefusal::Database(e) => e,
        })
    }

    /// [`Target::tenant`], its refusal telling the name's rules from the database's.
    fn tenant_or_refusal(
        base: &Environment,
        schema: &str,
        source: String,
        resolved: Option<&SessionNames>,
    ) -> std::result::Result<Target, TenantRefusal> {
        if !crate::ledger::is_identifier(schema) || schema.len() > config::MAX_NAME_BYTES {
            // The rule is in the message, not only the help: several bad rows are reported
            // as one error's details, under one help for them all.
            return Err(TenantRefusal::Name(
                Error::invalid(format!(
                    "{source}: {} is not a tenant schema name (letters, digits and `_`, not \
                     starting with a digit, at most {} bytes)",
                    config::quoted_entry(schema),
                    config::MAX_NAME_BYTES
                ))
                .with_help(format!(
                    "a tenant schema name is letters, digits and underscores, not starting with \
                     a digit, at most {} bytes",
                    config::MAX_NAME_BYTES
                )),
            ));
        }
        if crate::ledger::is_system_schema(schema) {
            // A query without its filter (`SELECT nspname FROM pg_namespace`) lists these; a
            // list's rows get the list's help ([`collect_schemas`]), so this one is about the
            // name alone (`--schema pg_catalog` has no query).
            return Err(TenantRefusal::Name(
                Error::invalid(format!(
                    "{source}: {schema} is a system schema, not a tenant"
                ))
                .with_help(
                    "name a tenant's schema: `pg_*` and `information_schema` are PostgreSQL's own",
                ),
            ));
        }
        refuse_database_ledger(base, schema, &source, resolved).map_err(TenantRefusal::Database)?;
        if let Some(names) = resolved {
            refuse_other_capitals(schema, &source, &names.existing_schemas)
                .map_err(TenantRefusal::Database)?;
        }
        let new_schema = resolved.and_then(|names| {
            crate::ledger::NewTenantSchema::among(
                schema,
                &names.existing_schemas,
                &names.tenant_ledgers,
            )
        });
        let mut environment = base.clone();
        let pin = tenant_pin(schema);
        environment.connection.options = Some(match &base.connection.options {
            // Later settings win: the tenant's search_path over one the URL set.
            Some(options) if !options.trim().is_empty() => format!("{options} {pin}"),
            _ => pin,
        });
        environment.migration.tracking_table = crate::ledger::TrackingTable {
            schema: Some(schema.to_string()),
            name: base.migration.tracking_table.name.clone(),
        };
        environment.migration.tenant_schema = Some(schema.to_string());
        // Where the connection settings are, for help lines ("check them in ..."): the
        // base's, never the schema's source, which holds no host or port.
        environment.name = format!("{} (schema {schema}, given by {source})", base.source());
        environment.settings_from = Some(base.settings_for_derived());
        environment.file = None;
        environment.fleet = None;
        Ok(Target {
            environment,
            source,
            schema: Some(schema.to_string()),
            by_name: false,
            environments_own: false,
            new_schema,
        })
    }

    /// The tenant schema, when the server said it does not exist (resolved by
    /// [`super::one_schema`]): `up` creates it, a new tenant; `similar` names the tenant a
    /// misspelt name meant.
    pub fn new_schema(&self) -> Option<&crate::ledger::NewTenantSchema> {
        self.new_schema.as_ref()
    }

    /// One entry of a list: a URL or conninfo ([`Target::url`]), else a database name
    /// ([`Target::database`]).
    ///
    /// A URL holds no whitespace (a space in a name or password is written `%20`): one that
    /// does is refused, never cut, so that `postgresql://h/tenant_1 # eu` is not taken for the
    /// database `tenant_1 # eu` (a list has no trailing comments).
    pub fn parse(base: &Environment, entry: &str, source: impl Into<String>) -> Result<Target> {
        if config::has_url_scheme(entry) && entry.contains(char::is_whitespace) {
            // Not shown: it may hold a password.
            return Err(Error::invalid(format!(
                "{}: a URL holds no whitespace: write a space in a name or password as %20, \
                 and a comment on a line of its own (# ...)",
                source.into()
            )));
        }
        if is_connection_string(entry) {
            let written = config::dbname_as_written(entry);
            if let Some((name, not_one)) =
                (written.as_deref()).and_then(|w| Some((w, NotOneName::of(w, false)?)))
            {
                // The name alone, never the entry: it may hold a password.
                return Err(Error::invalid(format!(
                    "{}: the database name {} of a URL or conninfo is not one name: {}",
                    source.into(),
                    config::quoted_entry(name),
                    not_one.says(false)
                )));
            }
            Target::url(base, entry, source)
        } else {
            Target::database(base, entry, source)
        }
    }

    /// The entry of a target list that names this target alone with the same environment:
    /// its database name, when it was listed by name ([`Target::database`]). `None` for a URL
    /// (its line may hold a password) and a tenant schema (`--schema NAME` names it).
    pub fn entry(&self) -> Option<&str> {
        self.by_name
            .then_some(self.environment.connection.dbname.as_str())
    }

    /// How the commands a message suggests address this target alone
    /// ([`crate::hint::OneTarget`]): its tenant schema, or its name as a list gave it.
    pub fn addressed(&self) -> crate::hint::OneTarget {
        crate::hint::OneTarget {
            schema: self.schema.clone(),
            entry: self.entry().map(str::to_string),
            environments_own: self.environments_own,
        }
    }

    /// `user@host:port/db`: the target as every output shows it, never with a password; a
    /// tenant's with its schema after it (`... schema tenant_7`).
    pub fn shown(&self) -> String {
        shown_with_schema(&self.shown_database(), self.schema.as_deref())
    }

    /// `user@host:port/db`, never with a password: the database alone, without a tenant's
    /// schema (the JSON's `target`, beside its `schema`).
    pub fn shown_database(&self) -> String {
        self.environment.connection.to_string()
    }
}

/// How a message shows a target: its database (`user@host:port/db`), then the tenant's
/// schema when it is one (`user@host:port/db schema tenant_7`). The one composition, for a
/// [`Target`] as for a [`TargetReport`](super::TargetReport).
pub(crate) fn shown_with_schema(database: &str, schema: Option<&str>) -> String {
    match schema {
        Some(schema) => format!("{database} schema {schema}"),
        None => database.to_string(),
    }
}

/// The one rule of a tenant and the whole database: refused (exit 5) when `schema` holds
/// `base`'s tracking table — as configured when qualified, else as the server resolved it
/// (`resolved`) — since the tenant's ledger `<schema>.<name>` would be that one: the tenant
/// would read the database's history as its own, and `down` would roll the database's
/// migrations back in it. Refused too when `schema` is named by the whole database's
/// `search_path` (`resolved`: `"$user"` expanded, whether the schema exists or not): once the
/// tenant creates it, the whole database's unqualified names — its tracking table, its
/// migrations' objects — resolve into the tenant's schema, and its `down` drops the tenant's.
fn refuse_database_ledger(
    base: &Environment,
    schema: &str,
    source: &str,
    resolved: Option<&SessionNames>,
) -> Result<()> {
    let configured = &base.migration.tracking_table;
    // Known not to exist yet: the schema would hold it, where `up` would create it.
    let unborn = resolved.is_some_and(|names| !names.ledger_exists);
    let not_yet = |before: &str| match unborn {
        true => format!("{before}it does not exist yet"),
        false => String::new(),
    };
    let ledger = match (&configured.schema, resolved) {
        (Some(_), _) if unborn => Some((configured, format!(" ({})", not_yet("")))),
        (Some(_), _) => Some((configured, String::new())),
        (None, Some(names)) => names.ledger.as_ref().map(|resolved| {
            (
                resolved,
                format!(
                    " (`{}`, as the whole database's search_path `{}` resolves it{})",
                    crate::ledger::quote_ident(&configured.name),
                    crate::display::escape(&names.search_path),
                    not_yet("; ")
                ),
            )
        }),
        (None, None) => None,
    };
    // The one rule of both refusals below: taking `schema` off the whole database's
    // `search_path` is a way out only where the connection's own options put it there (the
    // URL's options: this tool's sessions alone), said as the server says where it comes from
    // ([`crate::db::settings::lift`]). Never an `ALTER DATABASE` or `ALTER ROLE`, which every
    // session of the database (or the role) gets and which may break the applications' own
    // names (hostile run htl, B).
    let off_the_path = |names: &SessionNames| {
        names.origin.is_the_connections_own().then(|| {
            format!(
                "take {schema} off the whole database's search_path: {}",
                crate::db::settings::lift(
                    "search_path",
                    &crate::db::settings::search_path_without(
                        &names.search_path,
                        &names.user,
                        schema
                    ),
                    &names.origin,
                    &base.source(),
                    Some(&base.connection),
                )
            )
        })
    };
    let on_the_path = resolved.filter(|names| names.schemas.iter().any(|s| s == schema));
    if let Some((ledger, how)) = ledger.filter(|(l, _)| l.schema.as_deref() == Some(schema)) {
        // A qualified one is already "in a schema of its own": the example would be the
        // setting in use.
        let help = if configured.schema.is_some() {
            format!(
                "name another tenant schema, or move the whole database's tracking table to a \
                 schema no tenant has (`migration.tracking_table` is {ledger})"
            )
        } else if !resolved.is_some_and(|names| names.ledger_exists) {
            // Where the search_path would create it, none there yet: the path changed where
            // only this tool's sessions get it (`off_the_path`), or the ledger's setting, this
            // tool's alone.
            let path = on_the_path
                .and_then(off_the_path)
                .map(|off| format!("; or {off}"))
                .unwrap_or_default();
            format!(
                "name another tenant schema{path}; or keep the whole database's tracking table \
                 in a schema no tenant has: {}",
                base.set_in_file("migration.tracking_table", "ops.tb_confiture")
            )
        } else {
            // Resolved there by the search_path. Never "take the schema off it": that would
            // only hide the ledger — the whole database's commands refuse one off their path —
            // while the tenant's `<schema>.<name>` would be it, read as the tenant's history
            // (h19 F6). The ledger moved out (its rows kept) is the way to free the schema.
            let moved = crate::ledger::TrackingTable::resolved("ops", &configured.name);
            format!(
                "name another tenant schema; or, for {schema} to be a tenant, first move the \
                 whole database's tracking table to a schema no tenant has, its rows with it: \
                 CREATE SCHEMA ops; ALTER TABLE {ledger} SET SCHEMA ops; then set {}",
                base.set_in_file("migration.tracking_table", &moved.to_string())
            )
        };
        let holds = if unborn { "would hold" } else { "holds" };
        return Err(Error::invalid(format!(
            "{source}: {schema} {holds} the whole database's tracking table {ledger}{how}: as \
             a tenant, its ledger would be that one"
        ))
        .with_help(help));
    }
    let Some(names) = on_the_path else {
        return Ok(());
    };
    let user = if schema == names.user && names.search_path.contains("$user") {
        format!(", `$user` being the role {schema}")
    } else {
        String::new()
    };
    let objects = match configured.schema {
        Some(_) => "its migrations' tables".to_string(),
        None => format!(
            "its tracking table `{}`, its migrations' tables",
            crate::ledger::quote_ident(&configured.name)
        ),
    };
    Err(Error::invalid(format!(
        "{source}: {schema} is on the whole database's search_path (`{}`{user}): once the \
         tenant creates it, the whole database's unqualified names ({objects}) would resolve \
         into the tenant's schema",
        crate::display::escape(&names.search_path)
    ))
    .with_help(match off_the_path(names) {
        Some(off) => format!("name another tenant schema, or {off}"),
        None => "name another tenant schema, one that search_path does not name: every session \
                 of the database gets it, and changing it there would change the names the \
                 applications' sessions resolve too"
            .to_string(),
    }))
}

/// Refuses a tenant `schema` that does not exist while a schema of the same name in other
/// capitals does (`existing`: every schema of the database): `CREATE SCHEMA Acme` made `acme`
/// (PostgreSQL folds unquoted names to lower case), and `up` would create `"Acme"` beside it
/// and migrate that one. A schema of the exact name, once created, is a tenant as any other.
fn refuse_other_capitals(schema: &str, source: &str, existing: &[String]) -> Result<()> {
    if existing.iter().any(|name| name == schema) {
        return Ok(());
    }
    let folded = schema.to_lowercase();
    let Some(other) = existing.iter().find(|name| name.to_lowercase() == folded) else {
        return Ok(());
    };
    let other = crate::display::escape(other);
    Err(Error::invalid(format!(
        "{source}: schema {schema} does not exist, but {other} does: the names differ only in \
         capitals (PostgreSQL folds an unquoted name to lower case: `CREATE SCHEMA Acme` makes \
         `acme`), and `up` would create {schema} beside it and run every migration there"
    ))
    .with_help(format!(
        "name the tenant as its schema is named ({other}); only if a new schema {schema} is \
         meant, create it first (CREATE SCHEMA {};)",
        crate::ledger::quote_ident(schema)
    )))
}

fn is_connection_string(entry: &str) -> bool {
    config::names_a_connection(entry)
}

/// Why `name` cannot be a database name given bare, if it cannot. `connection`: the
/// environment's, which a name gets and a URL written for it does not.
fn check_name(name: &str, connection: &config::ConnectionSpec) -> std::result::Result<(), String> {
    if name.contains('\0') {
        return Err("the database name contains a NUL character".to_string());
    }
    if name.len() > config::MAX_NAME_BYTES {
        return Err(format!(
            "database name {} is longer than {} bytes (PostgreSQL would cut it and reach another database)",
            config::quoted_entry(name),
            config::MAX_NAME_BYTES
        ));
    }
    if let Some(c) = name.chars().find(|&c| is_invisible(c)) {
        let what = if c.is_control() {
            "a control character"
        } else {
            "a zero-width character or byte-order mark, from a copy and paste"
        };
        return Err(format!(
            "{} is not a database name: it holds the invisible character U+{:04X} ({what})",
            config::quoted_entry(name),
            u32::from(c)
        ));
    }
    // The URL is this database with none of the environment's connection settings.
    let carry = || {
        crate::hint::url_must_carry(&crate::hint::connection_settings_a_url_drops(connection))
            .map(|must| format!(" ({must})"))
            .unwrap_or_default()
    };
    if name.chars().any(char::is_whitespace) {
        return Err(format!(
            "{} is not a database name: write a name with spaces as a URL \
             (postgresql://host/my%20db){}, and comments on lines of their own (# ...)",
            config::quoted_entry(name),
            carry()
        ));
    }
    if let Some(not_one) = NotOneName::of(name, true) {
        return Err(format!(
            "{} is not a database name: {}{}",
            config::quoted_entry(name),
            not_one.says(true),
            carry()
        ));
    }
    Ok(())
}

/// A database name a list writes that is not one name: in quotes (`jq` without `-r`, a quoted
/// CSV column, `quote_ident`), or several joined by commas — a list takes no quoting, and one
/// target per line. **The one rule** of a bare name ([`check_name`]) and of the name a URL or
/// conninfo entry writes ([`Target::parse`], `config::dbname_as_written`), where `%22` and
/// `%2C` are how a name really holding them is written: `--create-database` never creates
/// `"a,b"` from `postgresql://h/a,b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotOneName {
    Quoted,
    Joined,
}

impl NotOneName {
    /// `written` as a list writes it: `bare` (a name alone: quotes around it), or a URL's or
    /// conninfo's database name before any decoding (a `"` anywhere in it).
    fn of(written: &str, bare: bool) -> Option<NotOneName> {
        let quoted = match bare {
            true => {
                written.len() >= 2
                    && ['"', '\'']
                        .iter()
                        .any(|&q| written.starts_with(q) && written.ends_with(q))
            }
            false => written.contains('"'),
        };
        if quoted {
            Some(NotOneName::Quoted)
        } else if written.contains(',') {
            Some(NotOneName::Joined)
        } else {
            None
        }
    }

    /// What is wrong, and how a name that really is so is written.
    fn says(self, bare: bool) -> &'static str {
        match (self, bare) {
            (NotOneName::Quoted, true) => {
                "a list takes its quotes as part of the name; write it without the quotes, and \
                 a name that really has them as a URL (postgresql://host/%22my_db%22)"
            }
            (NotOneName::Joined, true) => {
                "a list takes one target per line, not names separated by commas; write a \
                 name that really holds a comma as a URL (postgresql://host/a%2Cb)"
            }
            (NotOneName::Quoted, false) => {
                "a list takes no quoting; a `\"` of the name itself is written %22 in a URL \
                 (postgresql://host/%22my_db%22), never as it is, nor in key=value conninfo"
            }
            (NotOneName::Joined, false) => {
                "a list takes one target per line, not names separated by commas; a comma of \
                 the name itself is written %2C in a URL (postgresql://host/a%2Cb), never as \
                 it is, nor in key=value conninfo"
            }
        }
    }
}

/// A character that prints as nothing: a name holding one looks like another name in every
/// message (and `createdb` would make a database no one can type).
/// The one list of those is `display`'s, which escapes them in every message.
fn is_invisible(c: char) -> bool {
    crate::display::is_invisible(c)
        || matches!(c, '\u{202A}'..='\u{202E}')
        || (c.is_control() && !c.is_whitespace())
}

/// `base` without its `fleet:` block, cloned once for a whole list: every target is a copy of
/// its base, and a copy of an inline list per target would grow with the square of the list.
fn without_fleet(base: &Environment) -> std::borrow::Cow<'_, Environment> {
    if base.fleet.is_none() {
        return std::borrow::Cow::Borrowed(base);
    }
    let mut base = base.clone();
    base.fleet = None;
    std::borrow::Cow::Owned(base)
}

/// The targets of a list from an environment file's `fleet:` block ([`FleetList`]): its
/// entries, its target file, or its query run on `base`'s database. A relative `sslrootcert`,
/// `sslcert` or `sslkey` of a URL entry starts where the block's relative paths do (`base`'s
/// `fleet:` block: the environment file's directory), as the file's own connection's.
pub fn resolve_list(base: &Environment, list: &FleetList) -> Result<Vec<Target>> {
    match list {
        FleetList::Entries(entries) => {
            let file = base
                .file
                .as_deref()
                .map_or_else(|| base.source(), crate::display::path);
            let relative_to = base.fleet.as_ref().map(|f| f.relative_to.as_path());
            // Data, not lines: a blank or `#` entry is refused, never skipped.
            let entries = entries.iter().map(|(raw, source)| {
                let entry = list_entry(raw);
                let entry = if is_no_target(entry) {
                    Err(not_a_target(raw))
                } else {
                    Ok(entry)
                };
                (entry, source.clone())
            });
            let helps = ListHelps {
                write: "write one database name, postgresql:// URL or key=value conninfo per \
                        `- ` entry; an entry is never skipped: remove the blank ones and those \
                        starting with # (comment a line out with # outside quotes)",
                duplicate: "remove the `- ` entry that lists a database again: each is listed \
                            once",
            };
            collect_in(
                base,
                entries,
                &format!("{file} (`fleet.targets`)"),
                relative_to,
                helps,
            )
        }
        FleetList::File(path) => read_list(base, path),
        FleetList::TargetsQuery(sql) => super::query_targets(base, sql),
        FleetList::SchemasQuery(sql) => super::query_schemas(base, sql),
    }
}

/// The targets listed in `text`; `file` names it in errors (`tenants.txt` → `tenants.txt:3`).
/// A URL's relative `sslrootcert`, `sslcert` and `sslkey` stay relative to the current
/// directory ([`read_list`] makes them relative to the file it reads).
pub fn parse_list(base: &Environment, text: &str, file: &str) -> Result<Vec<Target>> {
    parse_list_in(base, text, file, None)
}

/// [`parse_list`], the relative files of its URLs starting at `relative_to` when given.
fn parse_list_in(
    base: &Environment,
    text: &str,
    file: &str,
    relative_to: Option<&Path>,
) -> Result<Vec<Target>> {
    // Lines end as `text::is_line_break` says: at a lone CR too (old Mac line endings), a
    // CRLF once. A file's blank and comment lines are no entries: skipped.
    let lf;
    let text = if text.contains('\r') {
        lf = crate::text::with_lf_line_breaks(text);
        lf.as_str()
    } else {
        text
    };
    let entries = text
        .lines()
        .enumerate()
        .map(|(i, line)| (list_entry(line), i))
        .filter(|(entry, _)| !is_no_target(entry))
        .map(|(entry, i)| (Ok(entry), format!("{file}:{}", i + 1)));
    let helps = ListHelps {
        write: "write one database name, postgresql:// URL or key=value conninfo per line; \
                blank lines and lines starting with # are ignored",
        duplicate: "remove the line that lists a database again (the line named after `is \
                    already listed at` stays): each is listed once",
    };
    collect_in(base, entries, file, relative_to, helps)
}

/// The targets listed in the file at `path` (see the module docs). A pipe or a device
/// (`--targets <(list-tenants)`) that does not reach its end within
/// [`config::STREAM_WAIT`] (30 s) is an error, not a wait without end. A URL's relative
/// `sslrootcert`, `sslcert` and `sslkey` start at the file's directory (the current
/// directory for a pipe), as an environment file's do.
pub fn read_list(base: &Environment, path: &Path) -> Result<Vec<Target>> {
    read_list_within(base, path, config::STREAM_WAIT)
}

/// [`read_list`], a pipe given `wait` to reach its end.
fn read_list_within(
    base: &Environment,
    path: &Path,
    wait: std::time::Duration,
) -> Result<Vec<Target>> {
    let shown = crate::display::path(path);
    let relative_to = config::relative_base_of(path);
    let bytes = config::read_user_file(path, MAX_FILE_BYTES, wait).map_err(|e| match e {
        // A connection string given where the list's path goes (`--targets URL`,
        // `fleet.targets: URL` without its `- `) is no file: said so, never shown, since it
        // may hold a password. A file of that name that exists is read as any other.
        config::ReadError::Io(_) if config::names_a_connection(&path.to_string_lossy()) => {
            config::connection_given_as(
                config::InPlaceOf::Path {
                    what: "target list",
                    given_to: None,
                },
                "give the path of a file with one database name or URL per line (in an \
                 environment file, `fleet.targets:` followed by `- ...` lines lists them there)",
            )
        }
        config::ReadError::TimedOut => Error::invalid(format!(
            "target list {shown} is a pipe or a device, and it did not reach its end within \
             {} s of waiting: it was not read",
            wait.as_secs_f64()
        ))
        // Worded for every caller that gives a list's path — `--targets`, an environment
        // file's `fleet.targets:`, a program calling `read_list` — so it names none of them.
        .with_help(
            "check that what writes to it (the command listing the targets) runs and ends, or \
             give the path of a file with one database name or URL per line",
        ),
        config::ReadError::Interrupted => config::read_interrupted(&format!("target list {shown}")),
        config::ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Error::invalid(format!("target list {shown} does not exist"))
                .with_help("give a file with one database name or URL per line")
        }
        config::ReadError::Io(_) if path.is_dir() => {
            Error::invalid(format!("target list {shown} is a directory, not a file"))
                .with_help("give a file with one database name or URL per line (`db/tenants.txt`)")
        }
        config::ReadError::Io(e) => {
            Error::invalid(format!("cannot read target list {shown}")).with_source(e)
        }
    })?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::invalid(format!(
            "target list {shown} is larger than {} MiB: it was not read",
            MAX_FILE_BYTES / 1024 / 1024
        )));
    }
    match String::from_utf8(bytes) {
        // A byte-order mark some editors write first is not part of the first name.
        Ok(text) => parse_list_in(
            base,
            &text[crate::text::bom_len(&text)..],
            &shown,
            Some(relative_to),
        ),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let line = crate::text::line_of(e.as_bytes(), at);
            Err(Error::invalid(format!(
                "target list {shown} is not valid UTF-8 (line {line})"
            ))
            .with_help("save it as UTF-8 text"))
        }
    }
}

/// One entry of a list with where it is (`tenants.txt:3`, `the schemas query, row 2`): its
/// text ([`list_entry`]), or why the list has none there (a query's NULL or blank row, said
/// after the source).
pub(crate) type Entry<'a> = (std::result::Result<&'a str, String>, String);

/// Why [`Target::tenant`] refused a schema: its name (the rows of a list get the list's help,
/// what its rows should be), or what the database holds (the whole database's tracking table,
/// its `search_path`, a schema of other capitals: the help is that row's own fix, which a
/// list's error keeps).
enum TenantRefusal {
    Name(Error),
    Database(Error),
}

/// The tenant schemas named by `(name, source)` pairs ([`Target::schema`] of `base`'s
/// database, whose whole-database session resolves names as `resolved` says, when known);
/// every bad row, bad name and duplicate is reported in one error about `list`, whose help is
/// `help` (what the rows should be), and the own fix of each row the database refuses
/// ([`TenantRefusal::Database`]), each once; those fixes alone when they are all its rows'.
pub(crate) fn collect_schemas<'a>(
    base: &Environment,
    names: impl Iterator<Item = Entry<'a>>,
    list: &str,
    resolved: Option<&SessionNames>,
    help: &str,
) -> Result<Vec<Target>> {
    let base = &without_fleet(base);
    let mut targets: Vec<Target> = Vec::new();
    let mut seen: std::collections::HashMap<String, String> = Default::default();
    // The first row of each name folded to lower case: two names that differ only in
    // capitals are refused unless both schemas exist (two tenants made on purpose).
    let mut folded: std::collections::HashMap<String, (String, String)> = Default::default();
    let mut problems = Vec::new();
    // The database's refusals' own fixes, each once, and how many rows they are.
    let (mut fixes, mut refused_by_database) = (Vec::<String>::new(), 0);
    for (name, source) in names {
        let name = match name {
            Ok(name) => name,
            Err(why) => {
                problems.push(format!("{source} {why}"));
                continue;
            }
        };
        match Target::tenant_or_refusal(base, name, source, resolved) {
            Ok(target) => match seen.get(name) {
                Some(first) => problems.push(format!(
                    "{}: schema {name} is already listed at {first}",
                    target.source
                )),
                None => {
                    let exists = |n: &str| {
                        resolved.is_some_and(|r| r.existing_schemas.iter().any(|e| e == n))
                    };
                    let other = folded
                        .get(&name.to_lowercase())
                        .filter(|(other, _)| !(exists(name) && exists(other)));
                    match other {
                        Some((other, first)) => problems.push(format!(
                            "{}: schema {name} and {other} ({first}) differ only in capitals: \
                             PostgreSQL folds an unquoted name to lower case (`CREATE SCHEMA \
                             Acme` makes `acme`), and `up` would make two tenants of what is \
                             likely one",
                            target.source
                        )),
                        None => {
                            folded
                                .entry(name.to_lowercase())
                                .or_insert_with(|| (name.to_string(), target.source.clone()));
                            seen.insert(name.to_string(), target.source.clone());
                            targets.push(target);
                        }
                    }
                }
            },
            Err(TenantRefusal::Name(e)) => problems.push(e.message_with_cause()),
            Err(TenantRefusal::Database(e)) => {
                problems.push(e.message_with_cause());
                refused_by_database += 1;
                if let Some(fix) = e.help.filter(|fix| !fixes.contains(fix)) {
                    fixes.push(fix);
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(targets);
    }
    let help = match (refused_by_database == problems.len(), fixes.is_empty()) {
        (_, true) => help.to_string(),
        (true, false) => fixes.join("; "),
        (false, false) => format!("{help}; {}", fixes.join("; ")),
    };
    Err(too_many(problems, list).with_help(help))
}

fn too_many(problems: Vec<String>, list: &str) -> Error {
    let mut error = Error::invalid(format!(
        "{} in {list}",
        if problems.len() == 1 {
            "1 bad target".to_string()
        } else {
            format!("{} bad targets", problems.len())
        }
    ));
    for problem in crate::display::cut(problems) {
        error = error.with_detail(problem);
    }
    error
}

/// Resolves `(entry, source)` pairs (a target file's blank and `#` lines already left out,
/// [`crate::config::is_no_target`]); every bad entry (and every row a query has none at) and
/// every duplicate is reported in one error about `list`.
pub(crate) fn collect<'a>(
    base: &Environment,
    entries: impl Iterator<Item = Entry<'a>>,
    list: &str,
    helps: ListHelps<'_>,
) -> Result<Vec<Target>> {
    collect_in(base, entries, list, None, helps)
}

/// The helps of a list's refusal ([`collect`]): what to write (`write`), and, for a target
/// listed again, how to list it once (`duplicate`) — said alone when duplicates are all that
/// is wrong, never the generic "write one database name" for them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListHelps<'h> {
    pub(crate) write: &'h str,
    pub(crate) duplicate: &'h str,
}

/// [`collect`] of a list written in a file: a URL entry's relative `sslrootcert`, `sslcert`
/// and `sslkey` start at `relative_to`, the file's directory
/// (`ConnectionSpec::files_relative_to`). An entry by name takes `base`'s connection as it is.
fn collect_in<'a>(
    base: &Environment,
    entries: impl Iterator<Item = Entry<'a>>,
    list: &str,
    relative_to: Option<&Path>,
    helps: ListHelps<'_>,
) -> Result<Vec<Target>> {
    let base = &without_fleet(base);
    let mut targets: Vec<Target> = Vec::new();
    // Targets by database name: `same_database` decides, among those with the same name only,
    // so that a list of 100,000 tenants is not compared pairwise.
    let mut by_name: std::collections::HashMap<String, Vec<usize>> = Default::default();
    let mut problems = Vec::new();
    // The fixes of URLs refused for a `%` of their user name or password, each once: a list's
    // line is written as the URL reads it, and only its own help says `%25`.
    let mut fixes = Vec::<String>::new();
    let mut duplicates = 0;
    for (entry, source) in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(why) => {
                problems.push(format!("{source} {why}"));
                continue;
            }
        };
        let percent = config::PercentInCredentials::written_in(entry);
        match Target::parse(base, entry, source) {
            Ok(mut target) => {
                if let (Some(dir), None) = (relative_to, target.entry()) {
                    target.environment.connection.files_relative_to(dir);
                }
                let connection = &target.environment.connection;
                let same_name = by_name.entry(connection.dbname.clone()).or_default();
                let first = same_name
                    .iter()
                    .map(|&i| &targets[i])
                    .find(|t| t.environment.connection.same_database(connection));
                match first {
                    Some(first) => {
                        duplicates += 1;
                        problems.push(already_listed(&target, &first.source));
                    }
                    None => {
                        same_name.push(targets.len());
                        targets.push(target);
                    }
                }
            }
            Err(e) => {
                problems.push(e.message_with_cause());
                if let (Some((_, false)), Some(fix)) = (&percent, e.help) {
                    if !fixes.contains(&fix) {
                        fixes.push(fix);
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(targets);
    }
    let help = match (duplicates == problems.len(), duplicates > 0) {
        (true, _) => helps.duplicate.to_string(),
        (false, true) => format!("{}; {}", helps.write, helps.duplicate),
        (false, false) => helps.write.to_string(),
    };
    let help = match fixes.is_empty() {
        true => help,
        false => format!("{help}; {}", fixes.join("; ")),
    };
    Err(too_many(problems, list).with_help(help))
}

/// The one wording of an entry that is no target ([`crate::config::is_no_target`]) in a list
/// that refuses it (a query's row, an entry of `fleet.targets`), said after its source:
/// `the targets query, row 3 is "", not a target`. A connection string commented out is never
/// shown ([`config::quoted_entry`]): `#postgresql://u:PW@h/x` holds a password.
pub(crate) fn not_a_target(raw: &str) -> String {
    format!("is {}, not a target", config::quoted_entry(raw))
}

/// The one wording of a target listed twice: `tenants.txt:9: app@db:5432/t7 is already
/// listed at tenants.txt:2`.
fn already_listed(target: &Target, first_source: &str) -> String {
    format!(
        "{}: {} is already listed at {first_source}",
        target.source,
        target.shown()
    )
}

/// The databases a fleet command's targets reached, by what each server said
/// ([`crate::db::identity`]), tenant schema included: one per command, shared by its targets'
/// sessions ([`Claim`]). The textual check ([`collect`]) cannot see that two spellings of a
/// server are one; this one sees it once connected.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    /// The next [`Claim::ticket`].
    tickets: std::sync::atomic::AtomicUsize,
    /// Who reached each database first: their ticket, source and how they are shown.
    reached: std::sync::Mutex<std::collections::HashMap<Reached, (usize, String, String)>>,
    /// The targets (by their source) whose session of their database is open: those
    /// that took their claim, until the fleet records their outcome ([`Connected`]).
    connected: Connected,
}

/// The targets of a running fleet holding a session of their database, by their source
/// ([`Target::source`], one per entry of a list): what a target refused for too many connections counts as the run's own
/// (`Fleet::blame_jobs`), shared by the fleet and its command's [`Claims`].
pub(crate) type Connected = std::sync::Arc<std::sync::Mutex<ConnectedTargets>>;

/// [`Connected`]'s targets, and for each running target the most of the others that held
/// their session at once since it started: what the server saw when it refused that target's
/// connection. The refused connection is tried again while a session of the run may still be
/// counted, and given up once one of them ends ([`crate::db::connect`]): by the time the
/// refused target returns, that target is no longer connected, and counting then would say
/// the run held less than it did.
#[derive(Debug, Default)]
pub(crate) struct ConnectedTargets {
    /// Those holding a session of their database now.
    now: std::collections::HashSet<String>,
    /// Per running target, the most of the others connected at once since it started.
    peaks: std::collections::HashMap<String, usize>,
}

impl ConnectedTargets {
    /// The target listed as `source` starts: its count of the others starts at theirs now.
    pub(crate) fn started(&mut self, source: &str) {
        let others = self.others(source);
        self.peaks.insert(source.to_string(), others);
    }

    /// The target listed as `source` holds a session of its database ([`Claim::take`]).
    pub(crate) fn connected(&mut self, source: &str) {
        self.now.insert(source.to_string());
        let now = &self.now;
        for (target, peak) in &mut self.peaks {
            let others = now.len() - usize::from(now.contains(target));
            *peak = (*peak).max(others);
        }
    }

    /// The target listed as `source` ended: its sessions are closed, no longer the run's.
    pub(crate) fn ended(&mut self, source: &str) {
        self.now.remove(source);
        self.peaks.remove(source);
    }

    /// What the run held when the target listed as `source` was refused: how many of the
    /// others held their session (the most at once since it started), and whether its own is
    /// open (the pooler check's second connection was the one refused).
    pub(crate) fn held_when_refused(&self, source: &str) -> (usize, bool) {
        let others = self
            .peaks
            .get(source)
            .copied()
            .unwrap_or_else(|| self.others(source));
        (others, self.now.contains(source))
    }

    /// How many targets but `source` hold their session now.
    fn others(&self, source: &str) -> usize {
        self.now.len() - usize::from(self.now.contains(source))
    }
}

type Reached = (crate::db::identity::DatabaseIdentity, Option<String>);

/// One target's place in its command's [`Claims`], held by its session ([`crate::Migrator`]).
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    claims: std::sync::Arc<Claims>,
    /// Tells this target's own reconnection (after a lost connection) from another target.
    ticket: usize,
    target: Target,
}

impl Claims {
    /// The claims of one command, recording in `connected` the targets that reached their
    /// database.
    pub(crate) fn counting(connected: Connected) -> Claims {
        Claims {
            connected,
            ..Claims::default()
        }
    }

    /// `target`'s claim, for its session.
    pub(crate) fn claim(self: &std::sync::Arc<Self>, target: &Target) -> Claim {
        Claim {
            claims: self.clone(),
            ticket: self
                .tickets
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            target: target.clone(),
        }
    }
}

impl Claim {
    /// Records the database `client` reached as this target's, or refuses it (exit 5, the
    /// textual duplicate's wording) when another target of the command reached it first: called
    /// on a new session before anything else runs on it, so the command runs once per
    /// database.
    pub(crate) fn take(&self, client: &mut postgres::Client) -> Result<()> {
        self.take_naming_first(client).map_err(|(error, _)| error)
    }

    /// This claim's place among its command's: the [`Claim::take_naming_first`] of another
    /// target that reached the same database names it.
    pub(crate) fn ticket(&self) -> usize {
        self.ticket
    }

    /// [`Claim::take`], a refusal coming with the [`Claim::ticket`] of the target that reached
    /// the database first (`None` when the database could not be identified).
    pub(crate) fn take_naming_first(
        &self,
        client: &mut postgres::Client,
    ) -> std::result::Result<(), (Error, Option<usize>)> {
        let identity = crate::db::identity::of(client).map_err(|e| (e, None))?;
        self.record(identity)?;
        // A session of the target's own database is open: the run holds it until the fleet
        // records the target's outcome.
        self.claims
            .connected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .connected(&self.target.source);
        Ok(())
    }

    /// [`Claim::take`] for the database this target names, which does not exist, on a session
    /// of a maintenance database of its server (`client`, [`crate::db::maintenance_session`]):
    /// `--create-database` refuses the second spelling of one missing database before it
    /// creates anything, its dry run alike, and a target reaching the database once another
    /// created it is refused as that one's duplicate ([`Claim::take`]).
    pub(crate) fn take_missing(&self, client: &mut postgres::Client) -> Result<()> {
        let database = &self.target.environment.connection.dbname;
        let identity = crate::db::identity::of_missing(client, database)?;
        self.record(identity).map_err(|(error, _)| error)
    }

    /// Records `identity` as this target's database, or refuses it when another target of the
    /// command recorded it first.
    fn record(
        &self,
        identity: crate::db::identity::DatabaseIdentity,
    ) -> std::result::Result<(), (Error, Option<usize>)> {
        // A database that another target claimed missing is the one it creates (or created):
        // it claims it on the creating session, before its `CREATE DATABASE` (`take_missing`).
        let creating = (identity.while_missing(), self.target.schema.clone());
        let key = (identity, self.target.schema.clone());
        let mut reached = self
            .claims
            .reached
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let another = [&key, &creating]
            .into_iter()
            .filter_map(|k| reached.get(k))
            .find(|(ticket, _, _)| *ticket != self.ticket)
            .cloned();
        match another {
            // Its report names this target and its line already: the message names the other.
            Some((first, source, shown)) => Err((
                Error::invalid(format!(
                "{} is also listed at {source}, as {shown}, which reached it first: the server \
                 says both reach it",
                match &self.target.schema {
                    Some(schema) => format!("schema {schema} of the same database"),
                    None => "the same database".to_string(),
                }
            ))
                .with_help(
                    "list each database once: two spellings of its server (a host name and its \
                 address, `localhost` and `127.0.0.1`) reach one database; nothing ran here",
                ),
                Some(first),
            )),
            None => {
                reached.entry(key).or_insert_with(|| {
                    (self.ticket, self.target.source.clone(), self.target.shown())
                });
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Environment {
        let mut env = Environment::from_url(
            "postgresql://app:s3cret@db.internal:5433/app?sslmode=require",
            "test",
        )
        .unwrap();
        env.migration.lock_retries = 9;
        env
    }

    /// Every way a list refuses an entry or a row, each holding a password: no refusal says
    /// it (message, details, help, cause), in a `fleet.targets` entry, a targets query's row
    /// and a schemas query's row alike. A `#` entry echoed its text with the password.
    #[test]
    fn no_refused_entry_or_row_says_its_password() {
        let entries = [
            "#postgresql://postgres:Zq9Leak1@127.0.0.1:5432/x",
            "  # host=h password=Zq9Leak2 dbname=x",
            "#postgres:Zq9Leak3@h/x",
            "#",
            "",
            "postgresql://postgres:Zq9Leak4@h/x # eu",
            "postgresql://postgres:Zq9Leak5@h:port/x",
            "postgresql://postgres:Zq9Leak6@h/x?bogus=1",
            "host=h password=Zq9Leak7 dbname=x bogus=1",
            "postgresql://postgres:Zq9Leak8@h/dup",
            "postgresql://postgres:Zq9Leak8@h/dup",
            "host=h password=Zq9Leak9 dbname=a,b",
            "postgresql://postgres:Zq9Leak10@h/a%2",
            "postgresql://postgres:Zq9Leak11@h/x?user=u,password=Zq9Leak11",
        ];
        let says_no_password = |e: &Error, what: &str| {
            let all = format!(
                "{}\n{}\n{}\n{e:?}",
                e.message_with_cause(),
                e.details.join("\n"),
                e.help.clone().unwrap_or_default(),
            );
            assert!(!all.contains("Zq9Leak"), "{what}: {all}");
            // Each entry is refused (the two duplicates as one).
            assert!(e.details.len() >= entries.len() - 1, "{what}: {all}");
        };
        let listed: Vec<(String, String)> = (entries.iter().enumerate())
            .map(|(i, e)| (e.to_string(), format!("f.yaml:{}", i + 1)))
            .collect();
        let e = resolve_list(&base(), &FleetList::Entries(listed)).unwrap_err();
        says_no_password(&e, "fleet.targets");
        let rows: Vec<super::super::query::Row> = (entries.iter().enumerate())
            .map(|(i, e)| {
                (
                    Some(e.to_string()),
                    format!("the targets query, row {}", i + 1),
                )
            })
            .chain([(None, "the targets query, row 99".to_string())])
            .collect();
        let helps = ListHelps {
            write: "w",
            duplicate: "d",
        };
        let e = collect(&base(), super::super::query::entries(&rows), "q", helps).unwrap_err();
        says_no_password(&e, "targets query");
        let schemas: Vec<Entry<'_>> = super::super::query::entries(&rows).collect();
        let e = collect_schemas(&base(), schemas.into_iter(), "q", None, "h").unwrap_err();
        says_no_password(&e, "schemas query");
    }

    /// A URL or conninfo entry whose database name holds a raw `,` or `"`: names joined by
    /// commas, a name in quotes, which `--create-database` created as one database `"a,b"`.
    /// Refused as the bare name is (one rule, `NotOneName`), with the `%2C`/`%22` way; the
    /// encoded name, and a URL's host list, are one target.
    #[test]
    fn a_url_or_conninfo_naming_names_joined_by_commas_or_in_quotes_is_refused() {
        for (entry, says) in [
            ("postgresql://h/a,b", "%2C"),
            ("postgresql://u:Zq9Leak@h/a,b", "%2C"),
            ("postgresql://h/?dbname=a,b", "%2C"),
            ("host=h password=Zq9Leak dbname=a,b", "%2C"),
            ("postgresql://h/\"tenant_1\"", "%22"),
            ("postgresql://h/tenant\"1", "%22"),
            ("host=h dbname='\"tenant_1\"'", "%22"),
        ] {
            let e = parse_list(&base(), &format!("{entry}\n"), "t.txt").unwrap_err();
            let details = e.details.join("\n");
            assert!(
                details.contains("t.txt:1: the database name ")
                    && details.contains("is not one name")
                    && details.contains(says),
                "{entry}: {details}"
            );
            assert!(!format!("{e:?}").contains("Zq9Leak"), "{entry}: {e:?}");
        }
        for (entry, dbname) in [
            ("postgresql://h/a%2Cb", "a,b"),
            ("postgresql://h/?dbname=a%2Cb", "a,b"),
            ("postgresql://h/%22tenant_1%22", "\"tenant_1\""),
            ("postgresql://h1:5432,h2:5433/app", "app"),
            ("host=h1,h2 dbname=app", "app"),
        ] {
            let list = parse_list(&base(), &format!("{entry}\n"), "t.txt")
                .unwrap_or_else(|e| panic!("{entry}: {e:?}"));
            assert_eq!(list[0].environment.connection.dbname, dbname, "{entry}");
        }
    }

    /// A target listed twice got the help of a bad line ("write one database name ... per
    /// line"), which it is not: it says to remove the line listing it again, alone when
    /// duplicates are all that is wrong, after the list's own help when lines are bad too; in
    /// a file, `fleet.targets` and a query alike.
    #[test]
    fn a_target_listed_twice_is_helped_to_remove_the_duplicate() {
        let help = |e: Error| e.help.unwrap_or_default();
        let only =
            help(parse_list(&base(), "tenant_1\ntenant_2\ntenant_1\n", "t.txt").unwrap_err());
        assert!(
            only.starts_with("remove the line that lists a database again"),
            "{only}"
        );
        assert!(!only.contains("write one database name"), "{only}");
        let both = help(parse_list(&base(), "tenant_1\n\"x\"\ntenant_1\n", "t.txt").unwrap_err());
        assert!(both.starts_with("write one database name"), "{both}");
        assert!(
            both.contains("remove the line that lists a database again"),
            "{both}"
        );
        let listed = ["tenant_1", "tenant_1"].map(|e| (e.to_string(), "f.yaml:1".to_string()));
        let entries =
            help(resolve_list(&base(), &FleetList::Entries(listed.to_vec())).unwrap_err());
        assert!(entries.starts_with("remove the `- ` entry"), "{entries}");
        let rows: Vec<super::super::query::Row> = ["tenant_1", "tenant_1"]
            .iter()
            .map(|e| (Some(e.to_string()), "the targets query, row 1".to_string()))
            .collect();
        let helps = ListHelps {
            write: "w",
            duplicate: "d",
        };
        let e = collect(&base(), super::super::query::entries(&rows), "q", helps).unwrap_err();
        assert_eq!(help(e), "d");
    }

    #[test]
    fn names_are_databases_on_the_environments_server_with_its_settings() {
        let list = parse_list(&base(), "# tenants\n\ntenant_1\n  tenant_2  \n", "t.txt").unwrap();
        let shown: Vec<String> = list.iter().map(Target::shown).collect();
        assert_eq!(
            shown,
            [
                "app@db.internal:5433/tenant_1",
                "app@db.internal:5433/tenant_2"
            ]
        );
        assert_eq!(list[0].source, "t.txt:3");
        assert_eq!(list[1].source, "t.txt:4");
        let env = &list[0].environment;
        assert_eq!(env.connection.password.as_deref(), Some("s3cret"));
        assert_eq!(env.connection.sslmode, config::SslMode::Require);
        assert_eq!(env.migration.lock_retries, 9);
    }

    #[test]
    fn urls_and_conninfo_bring_their_own_credentials_and_keep_the_settings() {
        let list = parse_list(
            &base(),
            "postgresql://other@h2:6000/x?connect_timeout=3\nhost=h3 dbname=y user=u3\n",
            "t.txt",
        )
        .unwrap();
        assert_eq!(list[0].shown(), "other@h2:6000/x");
        assert_eq!(list[0].environment.connection.password, None);
        assert_eq!(
            list[0].environment.migration.connect_timeout,
            std::time::Duration::from_secs(3)
        );
        assert_eq!(list[0].environment.migration.lock_retries, 9);
        assert_eq!(list[1].shown(), "u3@h3:5432/y");
        assert_eq!(
            list[1].environment.migration.connect_timeout,
            base().migration.connect_timeout
        );
    }

    #[test]
    fn every_bad_line_is_named_by_file_and_line_without_its_password() {
        let text = "ok_1\npostgresql://u:hunter2@h:notaport/db\ntenant_1 # eu\nok_1\n\
                    postgresql://u@db.internal:5433/ok_2\nok_2\n";
        let e = parse_list(&base(), text, "t.txt").unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Invalid);
        assert_eq!(e.message, "4 bad targets in t.txt");
        let details = e.details.join("\n");
        assert!(details.contains("t.txt:2"), "{details}");
        assert!(!details.contains("hunter2"), "{details}");
        assert!(
            details.contains("t.txt:3: \"tenant_1 # eu\" is not a database name"),
            "{details}"
        );
        assert!(
            details.contains("t.txt:4: app@db.internal:5433/ok_1 is already listed at t.txt:1"),
            "{details}"
        );
        // The same database by URL (another user) and by name is a duplicate too.
        assert!(details.contains("t.txt:6:"), "{details}");
        assert!(!details.contains("t.txt:5:"), "{details}");
    }

    /// Two multi-host URLs sharing their first host were one target to the duplicate check
    /// (`t.txt:2: ... is already listed at t.txt:1`, exit 5, nothing connected): a different
    /// list of hosts is a different target before connecting — the identity check, once
    /// connected, tells one server reached twice. The same list, spelled in another case, is
    /// still one.
    #[test]
    fn targets_with_different_host_lists_are_not_duplicates() {
        let text = "postgresql://u@h1:56261,h1:56262/x\n\
                    postgresql://u@h1:56261,h1:56263/x\n\
                    postgresql://u@h1:56261/x\n\
                    postgresql://u@h1:56261,h2:56261/x\n\
                    postgresql://u@h1:56261,h2/x\n";
        let list = parse_list(&base(), text, "t.txt").unwrap();
        assert_eq!(list.len(), 5);
        let again = format!("{text}postgresql://other@H1:56261,H1:56263/x\n");
        let e = parse_list(&base(), &again, "t.txt").unwrap_err();
        let details = e.details.join("\n");
        assert!(details.contains("t.txt:6: ") && details.contains("already listed at t.txt:2"));
        assert_eq!(e.details.len(), 1, "{details}");
    }

    /// A list's lines end as [`crate::text::is_line_break`] says — a LF, a CRLF once, a lone
    /// CR (old Mac line endings) — so that each entry, good or bad, is named at the line an
    /// editor shows (a lone-CR list was one line: one bad name holding every entry), and so
    /// is the first byte that is not UTF-8.
    #[test]
    fn lone_cr_and_crlf_line_endings_name_the_lines_lf_ones_do() {
        let good = "# tenants\n\ntenant_1\n  tenant_2  \n";
        let bad = "ok_1\npostgresql://u:hunter2@h:notaport/db\ntenant_1 # eu\nok_1\n";
        for ending in ["\r", "\r\n"] {
            let list = parse_list(&base(), &good.replace('\n', ending), "t.txt").unwrap();
            let sources: Vec<&str> = list.iter().map(|t| t.source.as_str()).collect();
            assert_eq!(sources, ["t.txt:3", "t.txt:4"], "{ending:?}");
            let lf = parse_list(&base(), bad, "t.txt").unwrap_err();
            let e = parse_list(&base(), &bad.replace('\n', ending), "t.txt").unwrap_err();
            assert_eq!(
                (&e.message, &e.details),
                (&lf.message, &lf.details),
                "{ending:?}"
            );
        }
        let dir = std::env::temp_dir().join(format!("cft_cr_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tenants.txt");
        std::fs::write(&file, b"tenant_1\rtenant_2\r\ntenant_\xff\r").unwrap();
        let e = read_list(&base(), &file).unwrap_err();
        assert!(e.message.ends_with("is not valid UTF-8 (line 3)"), "{e:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A URL with a mistyped scheme, or credentials without one, was taken for a database name
    /// and shown — password included — in every row, error and suggested command.
    #[test]
    fn a_line_that_looks_like_a_url_is_refused_as_one_never_shown() {
        let text = "postgresq://u:hunter2@h/db
u:hunter2@h/db
host=h password=hunter2 dbname=x y
";
        let e = parse_list(&base(), text, "t.txt").unwrap_err();
        assert_eq!(e.message, "3 bad targets in t.txt");
        let details = e.details.join("\n");
        assert!(!details.contains("hunter2"), "{details}");
        assert!(
            details.contains("invalid database URL in t.txt:1: the URL scheme"),
            "{details}"
        );
        assert!(
            details.contains("invalid database URL in t.txt:2:"),
            "{details}"
        );
    }

    /// A connection string given where the path of a target list goes (`--targets URL`,
    /// `fleet.targets: URL` written without its list) was read as a path, and the error said
    /// "target list postgresql://u:hunter2@h/db does not exist": the password printed.
    #[test]
    fn a_target_list_path_that_is_a_connection_string_is_never_shown() {
        let dir = std::env::temp_dir().join(format!("cft_url_path_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A file where the path's first part is a directory: not "not found", "not a directory".
        std::fs::write(dir.join("postgresql:"), "").unwrap();
        for given in [
            "postgresql://u:hunter2@h/db".to_string(),
            "u:hunter2@h/db".to_string(),
            "host=h password=hunter2 dbname=x".to_string(),
            dir.join("postgresql://u:hunter2@h/db")
                .display()
                .to_string(),
        ] {
            let e = read_list(&base(), Path::new(&given)).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::Invalid, "{given}");
            let all = format!(
                "{} {:?} {:?} {}",
                e.message,
                e.details,
                e.help,
                e.message_with_cause()
            );
            assert!(!all.contains("hunter2"), "{given}: {all}");
            assert!(all.contains("connection string"), "{given}: {all}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A directory given as the list (`--targets db/tenants`) said "cannot read target list
    /// db/tenants: Is a directory (os error 21)", with no help: it says what it is and what to
    /// give, as an environment file that is a directory does (its example named `--targets`,
    /// to a library caller too).
    #[test]
    fn a_directory_given_as_the_list_is_named_so() {
        let dir = std::env::temp_dir().join(format!("cft_dir_list_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = read_list(&base(), &dir).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(e.kind, crate::ErrorKind::Invalid, "{e:?}");
        assert!(
            e.message.ends_with("is a directory, not a file"),
            "{}",
            e.message
        );
        let help = e.help.unwrap_or_default();
        assert!(help.contains("one database name"), "{help}");
        // `read_list` is the library's as much as `--targets`' (and `fleet.targets:`'s): its
        // help names no flag of the command line.
        assert!(!help.contains("--"), "{help}");
    }

    /// A byte-order mark written first by an editor became part of the first name, shown as
    /// nothing: "database hf_t1 does not exist", and a `createdb` of an untypeable name.
    #[test]
    fn a_byte_order_mark_is_not_part_of_a_name_and_invisible_characters_are_refused() {
        let dir = std::env::temp_dir().join(format!("cft_bom_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.txt");
        std::fs::write(&path, "\u{FEFF}tenant_1\r\ntenant_2\r\n").unwrap();
        let targets = read_list(&base(), &path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(targets[0].environment.connection.dbname, "tenant_1");
        let e = parse_list(&base(), "ten\u{200B}ant\nx\u{FEFF}y\n", "t.txt").unwrap_err();
        let details = e.details.join("\n");
        assert!(
            details.contains("t.txt:1:") && details.contains("U+200B"),
            "{details}"
        );
        assert!(
            details.contains("t.txt:2:") && details.contains("U+FEFF"),
            "{details}"
        );
    }

    /// A comment or stray text after a URL was taken as part of its database name
    /// (`database "tenant_2 # eu" does not exist`); after a name or a conninfo it was refused.
    /// Every kind of entry now refuses it at its line, and whitespace around a line is dropped.
    #[test]
    fn text_after_an_entry_is_refused_at_its_line_whatever_the_entry() {
        let ok = parse_list(
            &base(),
            "  # tenants\t\n\t\npostgresql://u@h/t_1 \t\r\n  t_2\t\nhost=h dbname=t_3  \n",
            "t.txt",
        )
        .unwrap();
        let names: Vec<&str> = ok
            .iter()
            .map(|t| t.environment.connection.dbname.as_str())
            .collect();
        assert_eq!(names, ["t_1", "t_2", "t_3"]);
        let text = "postgresql://u:hunter2@h/t_1 # eu\n\
                    postgres://u@h/t_2\tstaging\n\
                    postgresql://u@h/my db\n\
                    t_4 # eu\n\
                    host=h dbname=t_5 # eu\n";
        let e = parse_list(&base(), text, "t.txt").unwrap_err();
        assert_eq!(e.message, "5 bad targets in t.txt", "{e:?}");
        let details = e.details.join("\n");
        assert!(!details.contains("hunter2"), "{details}");
        for line in 1..=3 {
            assert!(
                details.contains(&format!("t.txt:{line}: a URL holds no whitespace")),
                "{details}"
            );
        }
        assert!(details.contains("t.txt:4: \"t_4 # eu\""), "{details}");
        assert!(details.contains("t.txt:5:"), "{details}");
    }

    /// A FIFO nobody writes to (`--targets` given a named pipe) blocked the command forever
    /// when opened; a pipe is now given a bounded wait, and one that is written is read. Its
    /// help named `--targets <(list-tenants)` to a library caller too.
    #[cfg(unix)]
    #[test]
    fn a_pipe_that_never_ends_is_an_error_and_one_that_does_is_read() {
        let dir = std::env::temp_dir().join(format!("cft_fifo_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("tenants.txt");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let wait = std::time::Duration::from_millis(300);
        let start = std::time::Instant::now();
        let e = read_list_within(&base(), &fifo, wait).unwrap_err();
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(e.kind, crate::ErrorKind::Invalid);
        assert!(
            e.message
                .contains("is a pipe or a device, and it did not reach its end within 0.3 s"),
            "{e:?}"
        );
        // Nor in the shell form of one (`--targets <(list-tenants)`): a program calling
        // `read_list`, or an environment file's `fleet.targets:`, has neither.
        let help = e.help.clone().unwrap_or_default();
        assert!(help.contains("runs and ends"), "{help}");
        assert!(!help.contains("--") && !help.contains("<("), "{help}");
        // The helper thread given up on is still blocked opening the FIFO: let it go. The
        // written pipe is another one, which that thread cannot read first.
        std::fs::write(&fifo, "").unwrap();
        let fifo = dir.join("written.txt");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(&fifo, "tenant_1\ntenant_2\n").unwrap())
        };
        let targets = read_list_within(&base(), &fifo, std::time::Duration::from_secs(20)).unwrap();
        writer.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(
            targets[1].source,
            format!("{}:2", crate::display::path(&fifo))
        );
    }

    #[test]
    fn names_the_server_would_cut_are_refused() {
        let long = "d".repeat(config::MAX_NAME_BYTES + 1);
        let e = parse_list(&base(), &long, "t.txt").unwrap_err();
        assert!(e.details[0].starts_with("t.txt:1: database name"), "{e:?}");
        let at_limit = "d".repeat(config::MAX_NAME_BYTES);
        assert_eq!(parse_list(&base(), &at_limit, "t.txt").unwrap().len(), 1);
    }

    #[test]
    fn a_long_list_of_problems_is_cut() {
        let text = "a b\n".repeat(30);
        let e = parse_list(&base(), &text, "t.txt").unwrap_err();
        assert_eq!(e.details.len(), crate::display::MAX_LISTED + 1);
        assert_eq!(e.details.last().unwrap(), "... and 10 more");
    }

    #[test]
    fn a_long_list_is_read_in_linear_time() {
        let text: String = (0..100_000).map(|i| format!("tenant_{i}\n")).collect();
        let start = std::time::Instant::now();
        assert_eq!(parse_list(&base(), &text, "t.txt").unwrap().len(), 100_000);
        // Pairwise comparison takes minutes here; by name, well under a second in release.
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn a_tenant_schema_has_its_ledger_its_search_path_and_its_lock() {
        let mut base = base();
        base.connection.options = Some("-c work_mem=64MB".to_string());
        base.migration.tracking_table = crate::ledger::TrackingTable::parse("ops.tb_x").unwrap();
        let t = Target::schema(&base, "Tenant_A", "q, row 1").unwrap();
        assert_eq!(t.shown(), "app@db.internal:5433/app schema Tenant_A");
        let env = &t.environment;
        assert_eq!(
            env.migration.tracking_table.quoted(),
            "\"Tenant_A\".\"tb_x\""
        );
        assert_eq!(env.migration.tenant_schema.as_deref(), Some("Tenant_A"));
        assert_eq!(
            env.connection.options.as_deref(),
            Some("-c work_mem=64MB -c search_path=\"Tenant_A\"")
        );
        assert_eq!(env.connection.dbname, "app");
        assert_eq!(env.migration.lock_retries, 9);
    }

    #[test]
    fn bad_and_repeated_tenant_schemas_are_refused_at_once() {
        let names = [
            "t_1",
            "bad name",
            "t_1",
            "pg_catalog",
            "information_schema",
            "1x",
        ];
        let e = collect_schemas(
            &base(),
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (Ok(*n), format!("q, row {}", i + 1))),
            "q",
            None,
            "return schema names",
        )
        .unwrap_err();
        assert_eq!(e.message, "5 bad targets in q", "{e:?}");
        let details = e.details.join("\n");
        assert!(
            details.contains("q, row 3: schema t_1 is already listed at q, row 1"),
            "{details}"
        );
        assert!(
            details.contains("q, row 4: pg_catalog is a system schema"),
            "{details}"
        );
        assert!(
            details.contains("q, row 5: information_schema is a system schema"),
            "{details}"
        );
        assert!(
            details.contains(
                "q, row 2: \"bad name\" is not a tenant schema name (letters, digits and `_`, \
                 not starting with a digit, at most 63 bytes)"
            ),
            "the rule is in the detail: {details}"
        );
        assert!(
            details.contains("q, row 6: \"1x\" is not a tenant schema name (letters"),
            "{details}"
        );
        let long = "s".repeat(config::MAX_NAME_BYTES + 1);
        assert!(Target::schema(&base(), &long, "q").is_err());
    }

    /// A schemas query's tenant that the database refuses (on the whole database's
    /// `search_path`, holding its tracking table) got the list's generic help ("return one
    /// text column of ..."), not the fix `--schema NAME` gives: the list's error keeps each
    /// such row's own fix, alone when every bad row has one, after the list's help otherwise.
    #[test]
    fn a_listed_tenant_the_database_refuses_keeps_its_own_fix() {
        let names =
            SessionNames::for_test(Some("public"), false, "public, tenant_a, tenant_b", "app");
        let fix = |schema: &str| {
            Target::tenant(&base(), schema, "--schema".into(), Some(&names))
                .unwrap_err()
                .help
                .expect("a fix")
        };
        let list = |rows: &[&str]| {
            collect_schemas(
                &base(),
                rows.iter().map(|n| (Ok(*n), format!("q, {n}"))),
                "q",
                Some(&names),
                "return schema names",
            )
            .unwrap_err()
        };
        let e = list(&["t_1", "tenant_a"]);
        assert_eq!(e.message, "1 bad target in q", "{e:?}");
        assert_eq!(e.help, Some(fix("tenant_a")), "{e:?}");
        let e = list(&["tenant_a", "public", "tenant_b"]);
        // The two on the search_path share one fix, said once.
        assert_eq!(fix("tenant_a"), fix("tenant_b"));
        assert_eq!(
            e.help,
            Some(format!("{}; {}", fix("tenant_a"), fix("public"))),
            "{e:?}"
        );
        let e = list(&["tenant_a", "1x"]);
        assert_eq!(
            e.help,
            Some(format!("return schema names; {}", fix("tenant_a"))),
            "{e:?}"
        );
        assert_eq!(list(&["1x"]).help.as_deref(), Some("return schema names"));
    }

    /// An unqualified tracking table is the whole database's wherever the server resolves it:
    /// the tenant holding it there is refused as the schema of a qualified one is, one rule.
    #[test]
    fn a_tenant_holding_the_resolved_database_ledger_is_refused() {
        // A search_path naming `ops` only: `public` is no schema of it here.
        let names = |ledger: Option<&str>, search_path: &str| {
            SessionNames::for_test(ledger, true, search_path, "app")
        };
        let resolved = names(Some("public"), "ops");
        let list = |names: &[&str], resolved| {
            collect_schemas(
                &base(),
                names.iter().map(|n| (Ok(*n), format!("q, {n}"))),
                "q",
                resolved,
                "return schema names",
            )
        };
        let e = list(&["t_1", "public"], Some(&resolved)).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Invalid);
        assert_eq!(
            e.details,
            [
                "q, public: public holds the whole database's tracking table \
              public.tb_confiture (`tb_confiture`, as the whole database's search_path `ops` \
              resolves it): as a tenant, its ledger would be that one"
            ]
        );
        assert_eq!(list(&["t_1", "public"], None).unwrap().len(), 2);
        assert_eq!(list(&["t_1", "other"], Some(&resolved)).unwrap().len(), 2);
        // A qualified tracking table is its own answer, whatever was resolved.
        let mut qualified = base();
        qualified.migration.tracking_table =
            crate::ledger::TrackingTable::parse("ops.tb_confiture").unwrap();
        let resolved = names(Some("ops"), "other");
        let e = Target::tenant(&qualified, "ops", "q".into(), Some(&resolved)).unwrap_err();
        assert_eq!(
            e.message,
            "q: ops holds the whole database's tracking table ops.tb_confiture: as a tenant, \
             its ledger would be that one"
        );
        // Its help never suggests the setting in use (`e.g. ops.tb_confiture`).
        assert_eq!(
            e.help.as_deref(),
            Some(
                "name another tenant schema, or move the whole database's tracking table to a \
                 schema no tenant has (`migration.tracking_table` is ops.tb_confiture)"
            )
        );
        // Unqualified, resolved into `public`: the example is the way out.
        let in_public = names(Some("public"), "other");
        let e = Target::tenant(&base(), "public", "q".into(), Some(&in_public)).unwrap_err();
        assert!(
            e.help
                .as_deref()
                .is_some_and(|h| h.contains("`migration.tracking_table: ops.tb_confiture`")),
            "{:?}",
            e.help
        );
        assert!(Target::tenant(&qualified, "public", "q".into(), Some(&resolved)).is_ok());
    }

    /// `--schema public` on a database with no whole-database ledger yet (hostile run htl, B)
    /// said that public "holds" the tracking table (none existed) and offered, as a way out,
    /// `ALTER DATABASE ... SET search_path`: a change every session of the database gets. It
    /// now says public would hold it, and offers moving the ledger (the setting) only.
    #[test]
    fn a_tenant_where_the_databases_ledger_would_be_is_told_so_and_offered_no_search_path_change() {
        let names = |exists: bool| SessionNames {
            existing_schemas: vec!["public".to_string()],
            ..SessionNames::for_test(Some("public"), exists, "\"$user\", public", "postgres")
        };
        let e =
            Target::tenant(&base(), "public", "--schema".into(), Some(&names(false))).unwrap_err();
        assert_eq!(
            e.message,
            "--schema: public would hold the whole database's tracking table public.tb_confiture \
             (`tb_confiture`, as the whole database's search_path `\"$user\", public` resolves \
             it; it does not exist yet): as a tenant, its ledger would be that one"
        );
        let help = e.help.as_deref().unwrap_or_default();
        assert!(!help.contains("search_path"), "{help}");
        assert!(!help.contains("ALTER"), "{help}");
        assert!(
            help.contains("`migration.tracking_table: ops.tb_confiture`"),
            "{help}"
        );
        // The ledger there: it holds it, and the help moves it out (its rows with it).
        let e =
            Target::tenant(&base(), "public", "--schema".into(), Some(&names(true))).unwrap_err();
        assert!(
            e.message
                .starts_with("--schema: public holds the whole database's tracking table"),
            "{}",
            e.message
        );
        assert!(
            e.help
                .as_deref()
                .is_some_and(|h| h.contains("ALTER TABLE public.tb_confiture SET SCHEMA ops")),
            "{:?}",
            e.help
        );
        // Qualified, not created yet: said as it is too.
        let mut qualified = base();
        qualified.migration.tracking_table =
            crate::ledger::TrackingTable::parse("ops.tb_confiture").unwrap();
        let mut unborn = names(false);
        unborn.ledger = Some(crate::ledger::TrackingTable::resolved(
            "ops",
            "tb_confiture",
        ));
        let e = Target::tenant(&qualified, "ops", "q".into(), Some(&unborn)).unwrap_err();
        assert_eq!(
            e.message,
            "q: ops would hold the whole database's tracking table ops.tb_confiture (it does \
             not exist yet): as a tenant, its ledger would be that one"
        );
    }

    /// The whole database's unqualified ledger resolved into the tenant's schema, which its
    /// `search_path` names (`app, public`): taking the schema off the path is never offered —
    /// it would only hide the ledger (the whole database's commands refuse it then) while
    /// `--schema app` would take it for the tenant's (h19 F6). Moving the ledger out is.
    #[test]
    fn a_tenant_holding_the_databases_ledger_is_never_told_to_leave_the_search_path() {
        let names = SessionNames::for_test(Some("app"), true, "app, public", "postgres");
        let e = Target::tenant(&base(), "app", "q".into(), Some(&names)).unwrap_err();
        let help = e.help.as_deref().unwrap_or_default();
        assert!(!help.contains("search_path"), "{help}");
        assert!(
            help.contains(
                "CREATE SCHEMA ops; ALTER TABLE app.tb_confiture SET SCHEMA ops; then set \
                 `migration.tracking_table: ops.tb_confiture`"
            ),
            "{help}"
        );
    }

    /// Both refusals of a tenant for the whole database's `search_path` follow one rule of
    /// whether to offer taking the schema off it: only where the connection's own options
    /// set it (this tool's sessions alone). The schema the path names offered `ALTER DATABASE`,
    /// `ALTER ROLE` (`... IN DATABASE`) or, for the server's default, an `ALTER DATABASE` of
    /// its own, which every session of the database gets, as the schema that would hold the
    /// ledger no longer did.
    #[test]
    fn no_tenant_refusal_offers_a_search_path_change_the_applications_get() {
        let names = |source: &str, exists: bool| SessionNames {
            origin: crate::db::settings::SettingOrigin {
                source: source.to_string(),
                database: "app".to_string(),
                role: "app".to_string(),
                startup_options_refused: false,
            },
            existing_schemas: vec!["public".to_string()],
            ..SessionNames::for_test(Some("public"), exists, "app, public", "app")
        };
        for source in ["database", "user", "database user", "global", "default"] {
            for (schema, exists) in [("app", true), ("app", false), ("public", false)] {
                let e = Target::tenant(&base(), schema, "q".into(), Some(&names(source, exists)))
                    .unwrap_err();
                let help = e.help.as_deref().unwrap_or_default();
                assert!(!help.contains("ALTER DATABASE"), "{source}: {help}");
                assert!(!help.contains("ALTER ROLE"), "{source}: {help}");
                assert!(!help.contains("off the whole"), "{source}: {help}");
                assert!(
                    help.starts_with("name another tenant schema"),
                    "{source}: {help}"
                );
            }
        }
        // The connection's own options: changing them there is this tool's alone, offered by
        // both refusals.
        for (schema, exists) in [("app", true), ("public", false)] {
            let e = Target::tenant(&base(), schema, "q".into(), Some(&names("client", exists)))
                .unwrap_err();
            let help = e.help.as_deref().unwrap_or_default();
            assert!(
                help.contains(&format!(
                    "take {schema} off the whole database's search_path: it is set by the \
                     connection's options"
                )),
                "{schema}: {help}"
            );
        }
    }

    /// A tenant schema the whole database's `search_path` names — `"$user"` (the role), or
    /// any schema listed, existing or not — became, once the tenant created it, where the whole
    /// database's unqualified names resolve: its ledger and its migrations' tables. Refused
    /// (exit 5) whatever the tracking table, qualified or not.
    #[test]
    fn a_tenant_named_by_the_databases_search_path_is_refused() {
        let names =
            |search_path: &str| SessionNames::for_test(Some("public"), true, search_path, "app");
        let mut qualified = base();
        qualified.migration.tracking_table =
            crate::ledger::TrackingTable::parse("ops.tb_confiture").unwrap();
        for base in [base(), qualified] {
            let refused = |schema: &str, search_path: &str| {
                Target::tenant(&base, schema, "q".into(), Some(&names(search_path))).unwrap_err()
            };
            let e = refused("app", "\"$user\", public");
            assert_eq!(e.kind, crate::ErrorKind::Invalid);
            assert!(
                e.message.starts_with(
                    "q: app is on the whole database's search_path (`\"$user\", public`, \
                     `$user` being the role app): once the tenant creates it"
                ),
                "{e:?}"
            );
            refused("tenant_a", "Tenant_A, public");
            refused("Tenant_A", "\"Tenant_A\", public");
            refused("app", "$user");
            assert!(
                Target::tenant(&base, "Tenant_A", "q".into(), Some(&names("tenant_a"))).is_ok()
            );
            assert!(Target::tenant(
                &base,
                "tenant_b",
                "q".into(),
                Some(&names("\"$user\", public"))
            )
            .is_ok());
        }
    }

    /// `--schema pg_catalog` (and a library's `Target::schema`) was told to "filter the system
    /// schemas out of the query", where there is no query: a list's rows get the list's help
    /// ([`collect_schemas`]), so the help of a rejected name is about the name alone.
    #[test]
    fn a_rejected_schema_help_names_no_query() {
        for name in [
            "pg_catalog",
            "pg_toast",
            "information_schema",
            "bad name",
            "1x",
        ] {
            let e = Target::schema(&base(), name, "--schema").unwrap_err();
            let help = e.help.clone().unwrap_or_default();
            assert!(!help.is_empty(), "{name}: {e:?}");
            assert!(!help.contains("query"), "{name}: {help}");
        }
    }

    /// An empty database name given to the library (`Target::database`, `Target::parse`: an
    /// empty `${TENANT}`) said "empty database name", naming neither where it came from nor
    /// what to do: it is worded as a list's blank entry is (`not_a_target`), after its source,
    /// with help naming the server the name would be on. Blanks alone too (they were "not a
    /// database name: write a name with spaces as a URL").
    #[test]
    fn an_empty_database_name_names_its_source_and_what_to_do() {
        for name in ["", " \t"] {
            for e in [
                Target::database(&base(), name, "the request's tenant").unwrap_err(),
                Target::parse(&base(), name, "the request's tenant").unwrap_err(),
            ] {
                assert_eq!(e.kind, crate::ErrorKind::Invalid, "{name:?}: {e:?}");
                assert_eq!(
                    e.message,
                    format!("the request's tenant {}", not_a_target(name)),
                    "{name:?}"
                );
                let help = e.help.unwrap_or_default();
                assert!(
                    help.contains("name a database on the server of test"),
                    "{name:?}: {help}"
                );
            }
        }
    }

    /// A list line written in quotes (`"tenant_1"`: `jq` without `-r`, a quoted CSV column, a
    /// query's `quote_ident`) or holding several names separated by commas
    /// (`--targets <(echo tenant_1,tenant_2)`) was taken as one database name, quotes and
    /// commas included: `up --create-database` created `"tenant_1"` and migrated it, exit 0,
    /// and the tenant meant was left unmigrated. Both are refused as names, in every list (a
    /// file, a query, `fleet.targets`, the library's `Target::database`), with a URL for a
    /// name that really has them.
    #[test]
    fn a_name_in_quotes_or_names_joined_by_commas_are_refused() {
        for (name, says) in [
            ("\"tenant_1\"", "write it without the quotes"),
            ("'tenant_1'", "write it without the quotes"),
            ("tenant_1,tenant_2", "one target per line"),
            ("tenant_1,", "one target per line"),
        ] {
            let e = parse_list(&base(), &format!("{name}\n"), "t.txt").unwrap_err();
            let details = e.details.join("\n");
            assert!(
                details.contains(&format!(
                    "t.txt:1: {} is not a database name",
                    crate::config::quoted(name)
                )),
                "{name}: {details}"
            );
            assert!(details.contains(says), "{name}: {details}");
            assert!(
                Target::database(&base(), name, "the request").is_err(),
                "{name}"
            );
        }
        // Quotes inside a name, or one alone, are the name's own.
        for name in ["o'brien", "\"x", "x'"] {
            assert!(check_name(name, &base().connection).is_ok(), "{name}");
        }
    }

    /// A control character in a rejected schema name was escaped twice (`"x\\u{1b}[2J"`, a
    /// `{:?}` of the escaped text) where a database name's was escaped once: both are quoted by
    /// `config::quoted`.
    #[test]
    fn a_rejected_name_escapes_a_control_character_once() {
        let name = "x\u{1b}[2J";
        let once = "\"x\\u{1b}[2J\"";
        let schema = Target::schema(&base(), name, "q, row 1").unwrap_err();
        assert!(
            schema
                .message
                .starts_with(&format!("q, row 1: {once} is not a tenant schema")),
            "{}",
            schema.message
        );
        let database = check_name(name, &base().connection).unwrap_err();
        assert!(
            database.starts_with(&format!("{once} is not a database name")),
            "{database}"
        );
        let spaced = check_name("my db", &base().connection).unwrap_err();
        assert!(
            spaced.starts_with("\"my db\" is not a database name"),
            "{spaced}"
        );
    }

    /// A database a target list names had its source composed as `tenants.txt:1 (on the
    /// server of environment file ...)`: its helps read "check the user and password in
    /// tenants.txt:1 (on the server of ...)", where the list gives only the name, and nested
    /// parentheses wherever a sentence put it in some. Each composition — a list's line or a
    /// query's row, on the server of an environment file, of variables an environment file
    /// uses, or of a URL's label — reads as one phrase, and each help names where what it is
    /// about came from: the name, the list's entry; the user, password and hosts, the fleet's
    /// environment.
    #[test]
    fn a_listed_names_source_reads_well_in_every_composition() {
        let file = std::path::PathBuf::from("db/environments/fleet.yaml");
        let mut from_file = base();
        from_file.file = Some(file.clone());
        let mut from_variables = from_file.clone();
        from_variables.connection_variables = Some((
            vec![crate::config::UrlVariable::whole("DATABASE_URL")],
            Some(2),
        ));
        let mut from_url = base();
        from_url.name = "--database-url".to_string();
        for (base, server) in [
            (from_file, "environment file db/environments/fleet.yaml"),
            (
                from_variables,
                "$DATABASE_URL (used by environment file db/environments/fleet.yaml, line 2)",
            ),
            (from_url, "--database-url"),
        ] {
            for entry in ["tenants.txt:1", "the targets query, row 1"] {
                let env = Target::database(&base, "tenant_1", entry)
                    .unwrap()
                    .environment;
                assert_eq!(env.source(), format!("{entry}, on the server of {server}"));
                assert_eq!(env.server_source(), server);
                assert_eq!(env.database_name_source(), entry);
                // The `using ...` line.
                assert!(
                    env.describe()
                        .starts_with(&format!("using {entry}, on the server of {server}: ")),
                    "{}",
                    env.describe()
                );
                // At most the one pair of parentheses the server's own source has.
                let source = env.source();
                let mut depth = 0;
                for c in source.chars() {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    assert!(depth <= 1, "{source}");
                }
                assert_eq!(source.contains('('), server.contains('('), "{source}");
            }
        }
    }

    /// A help saying where to set `migration.tracking_table` for a fleet target said "in an
    /// environment file given with `-c FILE` (the targets query, row 1 (on the server of
    /// environment file ...) reads none)": nested parentheses, and untrue — a target's
    /// `migration:` settings are its base environment's, read from that file. Every kind of
    /// target (a name, a URL, a tenant schema) of a base read from a file or from a URL.
    #[test]
    fn where_to_set_a_targets_migration_setting_is_its_base_environments() {
        let set = |env: &Environment| env.set_in_file("migration.tracking_table", "S.T");
        let mut from_file = base();
        from_file.file = Some(std::path::PathBuf::from("db/environments/fleet.yaml"));
        let mut from_url = base();
        from_url.name = "--database-url".to_string();
        from_url.built_by = crate::config::BuiltBy::Flags("-c".to_string());
        for (base, expected) in [
            (
                from_file,
                "`migration.tracking_table: S.T` in db/environments/fleet.yaml",
            ),
            (
                from_url,
                "`migration.tracking_table: S.T` in an environment file given with `-c FILE` \
                 (--database-url reads none)",
            ),
        ] {
            let targets = [
                Target::database(&base, "tenant_1", "the targets query, row 1").unwrap(),
                Target::url(&base, "postgresql://h/db", "tenants.txt:4").unwrap(),
                Target::schema(&base, "tenant_a", "the schemas query, row 1").unwrap(),
            ];
            assert_eq!(set(&base), expected);
            for target in targets {
                assert_eq!(set(&target.environment), expected, "{}", target.source);
            }
        }
    }

    /// A 1 MB line of a target list was echoed whole by its error (1 MB on stderr): a rejected
    /// name is shown up to PostgreSQL's 63-byte limit, cut (`…`) with its length said — a
    /// database name, a tenant schema name and a blank entry alike. A name within the limit is
    /// shown whole.
    #[test]
    fn a_rejected_name_longer_than_any_name_is_shown_cut_with_its_length() {
        let long = "t".repeat(1 << 20);
        let kept = format!(
            "\"{}…\" (1048576 bytes)",
            "t".repeat(config::MAX_NAME_BYTES)
        );
        let database = Target::database(&base(), &long, "tenants.txt:3").unwrap_err();
        assert_eq!(
            database.message,
            format!(
                "tenants.txt:3: database name {kept} is longer than 63 bytes (PostgreSQL would \
                 cut it and reach another database)"
            )
        );
        let schema = Target::schema(&base(), &long, "q, row 1").unwrap_err();
        assert!(
            schema
                .message
                .starts_with(&format!("q, row 1: {kept} is not a tenant schema name")),
            "{}",
            &schema.message[..200]
        );
        let blank = Target::database(&base(), &" ".repeat(1 << 20), "tenants.txt:4").unwrap_err();
        let spaces = format!(
            "\"{}…\" (1048576 bytes)",
            " ".repeat(config::MAX_NAME_BYTES)
        );
        assert_eq!(
            blank.message,
            format!("tenants.txt:4 is {spaces}, not a target")
        );
        for error in [&database, &schema, &blank] {
            assert!(error.message.len() < 300, "{}", &error.message[..300]);
        }
        // Characters, not bytes: a multi-byte name is cut at a character boundary.
        let wide = "é".repeat(64);
        assert_eq!(
            config::quoted(&wide),
            format!("\"{}…\" (128 bytes)", "é".repeat(63))
        );
        let longest = "t".repeat(config::MAX_NAME_BYTES);
        assert_eq!(config::quoted(&longest), format!("\"{longest}\""));
    }

    /// "write a name with spaces as a URL" said nothing of what such a line loses: a URL line
    /// takes none of the environment's connection settings, so its `sslmode=verify-full` and
    /// certificate files did not apply to that target. The help names each one the
    /// environment sets, and nothing when it sets none.
    #[test]
    fn a_name_written_as_a_url_says_which_connection_settings_to_write_in_it() {
        let bare = Environment::from_url("postgresql://u@h/app", "t").expect("url");
        let plain = check_name("my db", &bare.connection).unwrap_err();
        assert!(!plain.contains("connection settings"), "{plain}");
        let tls = Environment::from_url(
            "postgresql://u@h/app?sslmode=verify-full&sslrootcert=/ca.pem&target_session_attrs=read-write",
            "t",
        )
        .expect("url");
        let spaced = check_name("my db", &tls.connection).unwrap_err();
        assert!(
            spaced.contains(
                "write its `sslmode`, `sslrootcert` and `target_session_attrs` in the URL too"
            ),
            "{spaced}"
        );
    }

    /// An inline `fleet.targets` list dropped its blank and `#` entries in silence (h16 F8),
    /// as a target file drops its blank and comment lines: a `"${TENANT:-}"` left empty or a
    /// quoted `"#tenant_2"` is data (YAML has comments of its own), refused naming its line,
    /// as a query's blank row is. A target file still skips such lines.
    #[cfg(feature = "env-files")]
    #[test]
    fn an_inline_list_refuses_its_blank_and_comment_entries_naming_each() {
        let text = "database_url: postgresql://app@db.internal/app\nfleet:\n  targets:\n    \
                    - tenant_1\n    - \"\"\n    - \"#tenant_2\"\n    - \" \"\n    \
                    - \"${TENANT:-}\"\n    # a comment\n    - tenant_3\n";
        let env =
            Environment::parse(text, Path::new("db/environments/fl.yaml"), &|_| None).unwrap();
        let list = env.fleet.as_ref().and_then(|f| f.list.clone()).unwrap();
        let e = resolve_list(&env, &list).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Invalid);
        assert_eq!(
            e.message,
            "4 bad targets in db/environments/fl.yaml (`fleet.targets`)"
        );
        assert_eq!(
            e.details,
            [
                "db/environments/fl.yaml:5 is \"\", not a target",
                "db/environments/fl.yaml:6 is \"#tenant_2\", not a target",
                // Read by the whitespace rule of every list (`list_entry`): blank.
                "db/environments/fl.yaml:7 is \"\", not a target",
                "db/environments/fl.yaml:8 is \"\", not a target",
            ]
        );
        assert!(e.help.unwrap_or_default().contains("never skipped"));
        // The same entries as lines of a target file are skipped.
        let list = parse_list(&base(), "tenant_1\n\n#tenant_2\n \ntenant_3\n", "t.txt").unwrap();
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn an_empty_list_is_an_empty_fleet() {
        assert!(parse_list(&base(), "# nobody yet\n\n", "t.txt")
            .unwrap()
            .is_empty());
    }
}
