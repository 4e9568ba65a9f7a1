//! The tracking table ("ledger"): its name, its DDL and the row format, exactly as confiture
//! (Python) defines them, so that both tools can share one database
//! (`shared/reference/confiture-interop.md`). Pure: builds SQL text, runs nothing.

use crate::hint::AGAIN;
use std::fmt;

use crate::error::{Error, Result};

/// What a database without a history already holds where the migrations build — its ledger
/// does not exist, or exists with no rows — objects made in it since it was created (not
/// copied from its template, not an extension's) where the migrations build: a tenant's schema
/// alone; for the database, the `search_path`'s schemas and every other user schema but
/// tenants' (a schema holding a ledger of the tracking table's name), a qualified tracking
/// table's own, and, off the `search_path`, objects of roles the connecting one is not a member
/// of. Such a database is not new: its ledger was lost (dropped, left out of a restore,
/// emptied) or its schema was built by other means, and `up` would run every migration over
/// it again (a data migration twice). `up` refuses it unless told to (`--allow-non-empty`,
/// as Flyway's `baselineOnMigrate`); `status` says so instead of "run `migrate up`", and its
/// JSON has it as `unrecorded` (`objects`, `count`, `ledger_empty`; null otherwise).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Unrecorded {
    /// The tracking table that does not exist or has no rows. Not a JSON key (the report's
    /// `tracking_table` names it).
    #[serde(skip)]
    pub table: String,
    /// A few of the objects (`table public.prices`), in name order.
    pub objects: Vec<String>,
    /// How many there are.
    pub count: u64,
    /// The tracking table exists, with no rows (else it does not exist).
    pub ledger_empty: bool,
    /// Start markers of runs left part-way stay beside it (a ledger emptied or dropped after
    /// such a run): the baseline its help suggests records over them, with `--yes`
    /// ([`crate::plan::record_command`]). Not a JSON key.
    #[serde(skip)]
    pub records_over_run: bool,
}

/// Where a session's migrations build the objects [`Unrecorded`] looks for: the one rule,
/// asked of the environment the session runs ([`BuildSite::of`]).
#[cfg(feature = "db")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BuildSite<'a> {
    /// A tenant's schema (`--schema`, `--schemas-query`): its session's `search_path` is that
    /// schema alone ([`crate::fleet::Target::schema`]), whatever the other tenants hold.
    Tenant(&'a str),
    /// The whole database's: the schemas of the session's `search_path` (where unqualified
    /// objects go), and every other user schema (migrations that name their schema: `CREATE
    /// TABLE app.t`) but those holding a confiture ledger of the tracking table's name
    /// (tenants', each with its own history), a schema-qualified tracking table's own schema
    /// (the ledger's place, not the migrations'), and objects of roles the connecting one is
    /// not a member of (a managed service's own schemas: nothing its migrations made).
    ///
    /// With the environment the session runs, when known: whose settings a refusal names
    /// (`db::ledger`'s ledger off the `search_path`: the key of its environment file, or the
    /// URL's options for `--database-url`).
    Database(Option<&'a crate::config::Environment>),
}

#[cfg(feature = "db")]
impl<'a> BuildSite<'a> {
    /// The environment a whole database's session runs, when known; none for a tenant's.
    pub(crate) fn environment(&self) -> Option<&'a crate::config::Environment> {
        match self {
            BuildSite::Database(env) => *env,
            BuildSite::Tenant(_) => None,
        }
    }

    /// Where the migrations of a session of `env` build.
    pub(crate) fn of(env: &'a crate::config::Environment) -> BuildSite<'a> {
        match &env.migration.tenant_schema {
            Some(schema) => BuildSite::Tenant(schema),
            None => BuildSite::Database(Some(env)),
        }
    }
}

impl Unrecorded {
    /// `up`'s one rule for a database without a history: refused (exit 7, [`Unrecorded::refusal`])
    /// when it holds objects where the migrations build (`unrecorded`) and the run would apply
    /// something; a run with nothing to apply refuses nothing. The run and its dry run both ask.
    ///
    /// Nor when the first migration the run applies has a start marker of its own apply
    /// ([`Unrecorded::left_by_our_run`]): its objects may be that run's.
    #[cfg(feature = "db")]
    pub(crate) fn refuse_applying(
        unrecorded: Option<&Unrecorded>,
        markers: &[StartedRun],
        request: &crate::plan::UpRequest,
        plan: &crate::plan::UpPlan<'_>,
    ) -> crate::Result<()> {
        let first = plan.apply.first();
        match (unrecorded, first) {
            (Some(_), Some(first)) if Self::left_by_our_run(markers, first) => Ok(()),
            (Some(unrecorded), Some(_)) => Err(unrecorded.refusal_bounded(
                &crate::plan::up_plan_args(request, plan, None),
                &crate::plan::up_plan_args(request, plan, Some("--allow-non-empty")),
                crate::plan::up_plan_bound(request, plan),
            )),
            _ => Ok(()),
        }
    }

    /// Whether what a database without a history holds may be what our own run of `first`
    /// left: the first migration a run would apply (the first of the files, the ledger having
    /// no rows) has a start marker of its apply ([`StartedRun`], read only where the ledger
    /// exists). The check refuses an unmanaged database; a marker says a run of ours was let
    /// past it on this one (the database held nothing, or `--allow-non-empty` was given), and
    /// that nothing ran after it: a no-transaction migration left part-way keeps what it
    /// committed, and a marker is not a row, so those objects would otherwise refuse every way
    /// on that `status`, `up` and `down` name (`up --rerun-interrupted`). A marker of a later
    /// migration proves nothing of the migrations before it, which would run again: the check
    /// stands then, and once `abandon` deleted the marker.
    #[cfg(feature = "db")]
    pub(crate) fn left_by_our_run(markers: &[StartedRun], first: &crate::files::Migration) -> bool {
        markers.iter().any(|marker| {
            marker.direction == "up"
                && crate::history::marker_number(marker) == Some(first.version)
                && !crate::history::marks_another_migration(first, marker)
        })
    }

    /// What the database holds, in a sentence: "3 objects (table public.a, ...)".
    pub fn described(&self) -> String {
        let listed = self
            .objects
            .iter()
            .map(|o| crate::display::escape(o).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        let more = self.count.saturating_sub(self.objects.len() as u64);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let noun = if self.count == 1 { "object" } else { "objects" };
        format!("{} {noun} ({listed}{more})", self.count)
    }

    /// What the ledger is: "the tracking table public.tb_confiture does not exist" (or "has no
    /// rows").
    pub fn ledger_is(&self) -> String {
        format!(
            "the tracking table {} {}",
            crate::display::escape(&self.table),
            self.ledger_state()
        )
    }

    /// "does not exist", or "has no rows".
    pub fn ledger_state(&self) -> &'static str {
        if self.ledger_empty {
            "has no rows"
        } else {
            "does not exist"
        }
    }

    /// The next steps: record what its schema has, without running it, or run anyway.
    pub fn help(&self) -> String {
        self.help_with("migrate up", "migrate up --allow-non-empty", None)
    }

    /// What a run over what is there would run: "every migration", or, for a bounded `up`
    /// (`bound` the version it stops at, [`crate::plan::up_plan_bound`]), "the migrations up
    /// to 003".
    fn what_runs(bound: Option<&str>) -> String {
        match bound {
            Some(version) => format!("the migrations up to {}", crate::display::escape(version)),
            None => "every migration".to_string(),
        }
    }

    /// [`Unrecorded::help`] for an `up` request: `up` the `up` that applies the rest once the
    /// schema's migrations are recorded, `anyway` the one that runs them over what is there —
    /// both bounded as the request was (`migrate up --target 003`, `plan::up_plan_args`): a
    /// bare `migrate up` would apply every pending migration.
    fn help_with(&self, up: &str, anyway: &str, bound: Option<&str>) -> String {
        format!(
            "if its ledger was lost (dropped, emptied, left out of a restore) or its schema was \
             built by other means, check which migrations the schema already has and record them \
             without running them: {} (the newest one it has), then {} applies the rest; to \
             run {} over what is there anyway: {}",
            crate::hint::command(&crate::plan::record_command(
                "<VERSION>",
                self.records_over_run
            )),
            crate::hint::command(up),
            Self::what_runs(bound),
            crate::hint::command(anyway),
        )
    }

    /// `up`'s refusal (exit 7: the database and the history disagree), before anything runs;
    /// its help suggests `up` and `anyway` (as [`Unrecorded::help`] words them).
    pub fn refusal(&self, up: &str, anyway: &str) -> Error {
        self.refusal_bounded(up, anyway, None)
    }

    /// [`Unrecorded::refusal`] of an `up` bounded at `bound` (`--target`, `--steps`,
    /// [`crate::plan::up_plan_bound`]): it says what that run would run, the migrations up to
    /// `bound`, not every migration.
    pub(crate) fn refusal_bounded(&self, up: &str, anyway: &str, bound: Option<&str>) -> Error {
        Error::new(
            crate::ErrorKind::Diverged,
            format!(
                "{}, but the database already holds {}: running {} over it could apply them \
                 twice; nothing was run",
                self.ledger_is(),
                self.described(),
                Self::what_runs(bound),
            ),
        )
        .with_detail(
            "counted: tables, views, sequences, types and functions made in the database since \
             it was created, in the schemas the migrations build in (a tenant's schema; else \
             the search_path's and every other schema but tenants' with their own ledger and \
             a qualified tracking table's own), not what its template held, an extension's, \
             confiture (Python)'s own, nor those of roles this one is not a member of",
        )
        .with_help(self.help_with(up, anyway, bound))
    }
}

/// Default ledger name, unqualified: resolved through `search_path` like confiture does.
pub const DEFAULT_TRACKING_TABLE: &str = "tb_confiture";

/// Why an unqualified tracking table cannot be created — the server's 3F000 "no schema has
/// been selected to create in" — and the two ways out, when the server cannot be asked where
/// the `search_path` is set (where it can, `db::settings::lift` names the one place): every
/// place it may be set, in the order the server lets one win over the next, each with the
/// command `lift` gives there. `database` is the database's name when known (quoted as
/// PostgreSQL quotes it), else a placeholder.
pub fn no_schema_help(database: Option<&str>) -> String {
    let database = database.map_or(std::borrow::Cow::Borrowed("<database>"), |name| {
        crate::display::escape(&quote_ident(name))
            .into_owned()
            .into()
    });
    let set = "SET search_path = public";
    format!(
        "the session's search_path names no existing schema (it is empty, or its schemas do \
         not exist), so an unqualified tracking table has nowhere to be created: \
         schema-qualify `migration.tracking_table` (e.g. `public.tb_confiture`), or give the \
         session a search_path where its own is set, the first of these that sets it: the \
         connection's `options` (`-c search_path=public` in them), the role's in \
         this database (ALTER ROLE <role> IN DATABASE {database} {set}), the role's (ALTER \
         ROLE <role> {set}), the database's (ALTER DATABASE {database} {set}), every \
         role's (ALTER ROLE ALL {set}); new sessions take it"
    )
}

/// A tracking-table name: `name` or `schema.name`. As configured ([`TrackingTable::parse`]),
/// each part matches `[A-Za-z_][A-Za-z0-9_]*`; as the server resolved it (the schema its
/// `search_path` chose), the schema may be any name. Always quoted in SQL
/// ([`TrackingTable::quoted`]), so it can never inject SQL, and shown as PostgreSQL shows it
/// (`Display`: [`quote_ident`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingTable {
    /// The schema, when qualified (otherwise the connection's `search_path` decides).
    pub schema: Option<String>,
    /// The table's name.
    pub name: String,
}

impl Default for TrackingTable {
    fn default() -> Self {
        TrackingTable {
            schema: None,
            name: DEFAULT_TRACKING_TABLE.to_string(),
        }
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`: a part of a tracking-table name, or a tenant schema name.
pub(crate) fn is_identifier(part: &str) -> bool {
    let mut chars = part.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A schema PostgreSQL keeps for itself (`pg_*`: `pg_catalog`, `pg_temp`, `pg_toast`, ...,
/// which `CREATE SCHEMA` refuses, and `information_schema`): never a tenant's, nor a tracking
/// table's. The one rule, for `--schema` and tenant lists as for `migration.tracking_table`.
pub(crate) fn is_system_schema(name: &str) -> bool {
    name.starts_with("pg_") || name == "information_schema"
}

impl TrackingTable {
    /// Parses `name` or `schema.name`. The error names the offending value and the allowed form.
    /// A system schema (`pg_*`, `information_schema`) is refused: the server would refuse to create
    /// the table there (`pg_*`), or it would vanish with the session (`pg_temp`).
    pub fn parse(text: &str) -> Result<TrackingTable> {
        let (schema, name) = match text.split_once('.') {
            Some((schema, name)) => (Some(schema), name),
            None => (None, text),
        };
        // A connection string given here by mistake is never quoted: it may hold a password.
        let shown = crate::config::NameOrConnection(text);
        if !is_identifier(name) || schema.is_some_and(|s| !is_identifier(s)) {
            return Err(
                Error::invalid(format!("invalid tracking table name {shown:?}")).with_help(
                    "use `name` or `schema.name`, each part letters, digits and underscores, \
                 not starting with a digit (for example `tb_confiture` or `ops.tb_confiture`)",
                ),
            );
        }
        if let Some(schema) = schema.filter(|s| is_system_schema(s)) {
            return Err(Error::invalid(format!(
                "invalid tracking table name {shown:?}: {schema} is a system schema"
            ))
            .with_help(
                "name a schema of your own (for example `ops.tb_confiture`), or none: \
                 `pg_*` and `information_schema` are PostgreSQL's own",
            ));
        }
        // The table beside it, `<name>_started`, must keep its whole name: PostgreSQL cuts a
        // longer one to 63 bytes, back onto the ledger's own (or another table's) name.
        let longest = crate::config::MAX_NAME_BYTES - STARTED_SUFFIX.len();
        let too_long = match schema {
            Some(schema) if schema.len() > crate::config::MAX_NAME_BYTES => Some(schema),
            _ => (name.len() > longest).then_some(name),
        };
        if let Some(part) = too_long {
            return Err(Error::invalid(format!(
                "invalid tracking table name {shown:?}: {part:?} is {} bytes long",
                part.len()
            ))
            .with_help(format!(
                "use a table name of at most {longest} bytes (a schema name of at most {}): \
                 PostgreSQL keeps 63 bytes of a name, and the table beside the ledger, \
                 `<name>{STARTED_SUFFIX}`, must keep its whole name",
                crate::config::MAX_NAME_BYTES
            )));
        }
        Ok(TrackingTable {
            schema: schema.map(str::to_string),
            name: name.to_string(),
        })
    }

    /// The table `name` the server found in `schema` (`pg_namespace`, `pg_class`): any names.
    #[cfg_attr(not(feature = "db"), allow(dead_code))]
    pub(crate) fn resolved(schema: &str, name: &str) -> TrackingTable {
        TrackingTable {
            schema: Some(schema.to_string()),
            name: name.to_string(),
        }
    }

    /// The table of the no-transaction migrations a run started and has not recorded yet
    /// (their start markers, [`StartedRun`]), next to the ledger: same schema, the ledger's
    /// name followed by [`STARTED_SUFFIX`] (`tb_confiture_started`). Never a row of the
    /// ledger: confiture (Python) counts every row of it as an applied migration. Created by
    /// the first no-transaction migration a run starts ([`StartedRun::start_sql`]), never
    /// otherwise.
    pub fn started_table(&self) -> TrackingTable {
        TrackingTable {
            schema: self.schema.clone(),
            name: format!("{}{STARTED_SUFFIX}", self.name),
        }
    }

    /// The table confiture (Python)'s online runner (`confiture migrate up --online`) keeps
    /// its checkpoints in ([`Checkpoint`]), next to the ledger: the ledger's name followed by
    /// [`STEPS_SUFFIX`] (`tb_confiture_steps`). Read, never written nor created, by us.
    pub fn steps_table(&self) -> TrackingTable {
        TrackingTable {
            schema: self.schema.clone(),
            name: format!("{}{STEPS_SUFFIX}", self.name),
        }
    }

    /// The name as SQL, every part quoted: `"tb_confiture"` or `"ops"."tb_confiture"`.
    pub fn quoted(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", quoted_ident(schema), quoted_ident(&self.name)),
            None => quoted_ident(&self.name),
        }
    }

    /// The SQL expression of the OID (`regclass`) the name has now, NULL when no table has it:
    /// `to_regclass` of [`TrackingTable::quoted`], which the server looks up each time it
    /// evaluates it.
    pub fn regclass(&self) -> String {
        format!("pg_catalog.to_regclass({})", literal(&self.quoted()))
    }

    /// The statement that creates the table's schema when it does not exist (`None` for an
    /// unqualified name). Only when it does not exist: `CREATE SCHEMA IF NOT EXISTS` asks for
    /// CREATE on the database first, which a role that owns its (tenant) schema may well not
    /// have.
    pub fn create_schema_sql(&self) -> Option<String> {
        let schema = self.schema.as_ref()?;
        Some(format!(
            "DO $confiture$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_namespace \
             WHERE nspname OPERATOR(pg_catalog.=) {}) THEN CREATE SCHEMA {}; END IF; \
             END $confiture$;\n",
            literal(schema),
            quoted_ident(schema)
        ))
    }

    /// confiture's DDL, with index names built from the unqualified table name.
    pub fn create_sql(&self) -> String {
        let t = self.quoted();
        let n = self.name.replace('"', "\"\"");
        format!(
            "CREATE TABLE IF NOT EXISTS {t} (\n    \
             id pg_catalog.uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),\n    \
             pk_confiture BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,\n    \
             slug pg_catalog.text NOT NULL UNIQUE,\n    \
             version VARCHAR(255) NOT NULL UNIQUE,\n    \
             name VARCHAR(255) NOT NULL,\n    \
             applied_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),\n    \
             execution_time_ms INTEGER,\n    \
             checksum VARCHAR(64),\n    \
             applied_by pg_catalog.text\n);\n\
             CREATE INDEX IF NOT EXISTS \"idx_{n}_pk_confiture\" ON {t}(pk_confiture);\n\
             CREATE INDEX IF NOT EXISTS \"idx_{n}_slug\" ON {t}(slug);\n\
             CREATE INDEX IF NOT EXISTS \"idx_{n}_version\" ON {t}(version);\n\
             CREATE INDEX IF NOT EXISTS \"idx_{n}_applied_at\" ON {t}(applied_at DESC);\n{add}",
            add = self.add_applied_by_sql(),
        )
    }

    /// Adds the `applied_by` column to a ledger confiture made before 0.17.0, as confiture
    /// does (`ADD COLUMN IF NOT EXISTS applied_by TEXT`; the rows already there keep NULL).
    /// Only when it is missing: no `ALTER TABLE` lock, and no notice, on a ledger that has it.
    /// Part of [`TrackingTable::create_sql`], so that every command that writes rows runs it
    /// in the transaction of its first write.
    pub fn add_applied_by_sql(&self) -> String {
        format!(
            "DO $confiture$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_attribute \
             WHERE attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass({name}) \
             AND attname OPERATOR(pg_catalog.=) 'applied_by' AND NOT attisdropped) THEN \
             ALTER TABLE {t} ADD COLUMN IF NOT EXISTS applied_by pg_catalog.text; END IF; \
             END $confiture$;\n",
            name = literal(&self.quoted()),
            t = self.quoted(),
        )
    }
}

/// A tenant schema (`--schema NAME`) that does not exist: `status` finds its tracking table
/// not initialised, and `up` creates the schema, a new tenant, and runs every migration there.
/// `similar`: a schema holding a tracking table of the same name whose name is close to it
/// ([`crate::text::close_name`], the rule of a misspelt database name too): the tenant a
/// misspelt name meant, where `up` would make an empty near-duplicate of it.
///
/// The schema of a schema-qualified `migration.tracking_table` that does not exist is the same
/// question (`NewTenantSchema::of_ledger`, `ledger` set): `similar` is then any existing
/// schema with a close name, where the ledger was meant; `up` refuses to create the schema
/// then ([`NewTenantSchema::refusal`]), and says it creates it otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTenantSchema {
    /// The schema named, which does not exist.
    pub schema: String,
    /// The existing tenant with a close name, if any.
    pub similar: Option<String>,
    /// The schema-qualified tracking table whose schema this is, when it is no tenant's.
    pub ledger: Option<LedgerSchema>,
}

/// The schema-qualified tracking table of a [`NewTenantSchema`] that is no tenant's, and where
/// it is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSchema {
    /// The tracking table as set (`opz.tb_confiture`).
    pub table: String,
    /// Where to set the tracking table in the close schema, as the environment sets it
    /// ([`crate::config::Environment::set_in_file`]: its file and key); `None` without a
    /// close schema.
    pub fix: Option<String>,
}

impl NewTenantSchema {
    /// `schema`, unless it is among `existing` (every schema of the database); `tenants`: the
    /// schemas holding a table of the tracking table's name.
    #[cfg(feature = "db")]
    pub(crate) fn among(
        schema: &str,
        existing: &[String],
        tenants: &[String],
    ) -> Option<NewTenantSchema> {
        if existing.iter().any(|name| name == schema) {
            return None;
        }
        let similar = crate::text::close_name(schema, tenants.iter().map(String::as_str));
        Some(NewTenantSchema {
            schema: schema.to_string(),
            similar: similar.map(str::to_string),
            ledger: None,
        })
    }

    /// The schema of `env`'s schema-qualified tracking table, unless it is among `existing`
    /// (every schema of the database) or `env` is a tenant's ([`NewTenantSchema::among`], the
    /// close names sought among every schema but the system's).
    #[cfg(feature = "db")]
    pub(crate) fn of_ledger(
        env: &crate::config::Environment,
        existing: &[String],
    ) -> Option<NewTenantSchema> {
        let table = &env.migration.tracking_table;
        let schema = table.schema.as_deref()?;
        if env.migration.tenant_schema.is_some() {
            return None;
        }
        let user: Vec<String> = existing
            .iter()
            .filter(|name| !is_system_schema(name))
            .cloned()
            .collect();
        let mut new = NewTenantSchema::among(schema, existing, &user)?;
        let fix = new.similar.as_ref().map(|similar| {
            let meant = TrackingTable {
                schema: Some(similar.clone()),
                name: table.name.clone(),
            };
            env.set_in_file("migration.tracking_table", &meant.to_string())
        });
        new.ledger = Some(LedgerSchema {
            table: table.to_string(),
            fix,
        });
        Some(new)
    }

    /// What `up`, `baseline` and `reinit` (their dry runs too) refuse: creating the schema of
    /// a schema-qualified tracking table beside an existing schema with a close name, the one
    /// meant (exit 5). `None` for a tenant, or a schema with no close name.
    pub fn refusal(&self) -> Option<crate::Error> {
        let (ledger, similar) = (self.ledger.as_ref()?, self.similar.as_ref()?);
        let similar = crate::display::escape(similar);
        let mut error = crate::Error::invalid(format!(
            "schema {} of the tracking table {} does not exist, but schema {similar} does: did \
             you mean `{similar}`? nothing was written",
            self.schema,
            crate::display::escape(&ledger.table),
        ));
        if let Some(fix) = &ledger.fix {
            error = error.with_help(format!(
                "if the ledger belongs in schema {similar}, set {fix}; only if {} is to be a new \
                 schema for it, create it first (`CREATE SCHEMA {}`)",
                self.schema,
                quote_ident(&self.schema),
            ));
        }
        Some(error)
    }

    /// What `up` (a dry run: `would`) says before it creates the schema: a warning when a
    /// tenant has a close name (`Err`), else a note (`Ok`).
    pub fn creating(&self, would: bool) -> std::result::Result<String, String> {
        let (schema, creates) = (&self.schema, if would { "would create" } else { "creates" });
        if let Some(ledger) = &self.ledger {
            return match self.refusal() {
                Some(refusal) => Err(refusal.to_string()),
                None => Ok(format!(
                    "schema {schema} does not exist: `up` {creates} it, with the tracking table \
                     {}",
                    crate::display::escape(&ledger.table)
                )),
            };
        }
        match &self.similar {
            Some(similar) => Err(format!(
                "schema {schema} does not exist and `up` {creates} it, but schema {} holds a \
                 tracking table: if that is the tenant meant, the new schema is an empty \
                 near-duplicate that every migration runs into; fix the --schema name",
                crate::display::escape(similar)
            )),
            None => Ok(format!(
                "schema {schema} does not exist: `up` {creates} it, a new tenant, with its \
                 tracking table"
            )),
        }
    }

    /// The help of `status` on the schema: the tenant with a close name first, then `up`
    /// (`up`: the command, as a help writes it), which would create it.
    pub fn status_help(&self, up: &str) -> String {
        let schema = &self.schema;
        if let Some(ledger) = &self.ledger {
            let table = crate::display::escape(&ledger.table);
            return match (&self.similar, &ledger.fix) {
                (Some(similar), Some(fix)) => {
                    let similar = crate::display::escape(similar);
                    format!(
                        "schema {schema} of the tracking table {table} does not exist, but \
                         schema {similar} does: did you mean `{similar}`? set {fix}; only if \
                         {schema} is to be a new schema for the ledger, create it \
                         (`CREATE SCHEMA {}`), then run {up}",
                        quote_ident(schema)
                    )
                }
                _ => format!(
                    "schema {schema} of the tracking table {table} does not exist: run {up} to \
                     create it, with the tracking table, and apply the migrations"
                ),
            };
        }
        match &self.similar {
            Some(similar) => {
                let similar = crate::display::escape(similar);
                format!(
                    "schema {schema} does not exist, but schema {similar} holds a tracking \
                     table: did you mean `--schema {similar}`? only if {schema} is to be a new \
                     tenant, run {up}, which creates it and applies every migration there"
                )
            }
            None => format!(
                "schema {schema} does not exist: run {up} to create it, with its tracking \
                 table, and apply the migrations"
            ),
        }
    }
}

/// Shown as PostgreSQL shows it, each part quoted only where SQL needs it ([`quote_ident`]):
/// `public.tb_confiture`, `"Odd Name".tb_confiture`, `"Ops"."Ledger"`.
impl fmt::Display for TrackingTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{}.", quote_ident(schema))?;
        }
        f.write_str(&quote_ident(&self.name))
    }
}

/// `name` as an SQL identifier, always in double quotes (`""` for a quote): a name shown in
/// quotes reads back as itself, a quote in it included (`"a""b"`).
pub fn quoted_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `name` as PostgreSQL's `quote_ident` gives it: as it is when SQL reads it back unquoted as
/// the same name (lowercase ASCII letters, digits and `_`, not starting with a digit, not a
/// keyword SQL reserves in some place), else in double quotes with `""` for a quote. The one
/// rule for showing a name the server holds (the ledger's schema and table, the database and
/// role in a connection refusal's suggested statements).
pub fn quote_ident(name: &str) -> std::borrow::Cow<'_, str> {
    let mut chars = name.chars();
    let plain = matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && RESERVED_KEYWORDS.binary_search(&name).is_err()
        && !NEWER_KEYWORDS.contains(&name);
    if plain {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Owned(quoted_ident(name))
    }
}

/// PostgreSQL 15's keywords that are not unreserved (`pg_get_keywords()` with `catcode` other
/// than `U`): `quote_ident` quotes them. Sorted.
const RESERVED_KEYWORDS: [&str; 151] = [
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// Keywords PostgreSQL 16 and 17 added that are not unreserved: quoted on every server, as
/// the newest quotes them (quoting a name is never wrong, only longer).
pub(crate) const NEWER_KEYWORDS: [&str; 13] = [
    "json",
    "json_array",
    "json_arrayagg",
    "json_exists",
    "json_object",
    "json_objectagg",
    "json_query",
    "json_scalar",
    "json_serialize",
    "json_table",
    "json_value",
    "merge_action",
    "system_user",
];

/// One row of the ledger as read back (extra columns written by newer confiture versions are ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// The version string exactly as in the file name, e.g. `"003"`.
    pub version: String,
    /// The migration's name, as in its file name.
    pub name: String,
    /// RFC 3339, UTC, e.g. `2026-01-15T10:30:00+00:00`.
    pub applied_at: String,
    /// How long it took, when recorded.
    pub execution_time_ms: Option<i32>,
    /// Lowercase hex SHA-256 of the up file's raw bytes; None in rows written without one.
    pub checksum: Option<String>,
    /// The role that applied it, when recorded.
    pub applied_by: Option<String>,
    /// Its `slug` (`<name>_<version>_<YYYYmmdd_HHMMSS>[_<reason>]`), when it has one: the
    /// reason says how it was written ([`LedgerRow::kind`]).
    pub slug: Option<String>,
    /// Its `archived_into` (a column confiture (Python) 1.29 adds): the version of the squashed
    /// baseline its `migrate squash` archived it into, whose up file replaced its files; `None`
    /// when the row is live, or the table has no such column. An archived row is applied and
    /// kept for the record, never pending, never checked against a file and never rolled back:
    /// part of a squashed history ([`crate::history::State::Squashed`]), as a row below
    /// `first_version` is.
    pub archived_into: Option<String>,
}

impl LedgerRow {
    /// How the row was written, as its slug says ([`RowKind::of_slug`]); a row without a slug
    /// is taken as applied.
    pub fn kind(&self) -> RowKind {
        self.slug
            .as_deref()
            .map_or(RowKind::Applied, RowKind::of_slug)
    }
}

/// A ledger row lacking a value every row has when confiture writes it (a column made
/// nullable by hand, a legacy table): the read refuses the ledger (exit 5) with it as data,
/// so that the help can be decided against the migration files
/// ([`crate::plan::incomplete_row_help`]): the row of a migration whose file is there is
/// never offered for deletion — `up` would run that migration again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncompleteRow {
    /// The table's name as SQL, every part quoted ([`TrackingTable::quoted`]).
    pub table: String,
    /// The column with no value: `version`, `name` or `applied_at`.
    pub column: &'static str,
    /// The row's `pk_confiture`, when it has one: the statements address that row alone.
    pub pk: Option<i64>,
    /// The row's version, when it has one.
    pub version: Option<String>,
    /// The row's name, when it has one.
    pub name: Option<String>,
    /// The row's checksum, when it has one.
    pub checksum: Option<String>,
    /// The row's slug, when it has one: it names the migration the row records
    /// ([`crate::history::slug_names`]).
    pub slug: Option<String>,
}

impl IncompleteRow {
    /// The row as the history matches rows to files: the values it lacks empty.
    pub fn as_row(&self) -> LedgerRow {
        LedgerRow {
            version: self.version.clone().unwrap_or_default(),
            name: self.name.clone().unwrap_or_default(),
            applied_at: String::new(),
            execution_time_ms: None,
            checksum: self.checksum.clone(),
            applied_by: None,
            slug: self.slug.clone(),
            archived_into: None,
        }
    }
}

/// The order of application, as the keys of an SQL `ORDER BY` over the ledger: the order the
/// rows were written in, `pk_confiture` (an identity in confiture's DDL, so the Python tool's
/// rows have it too, taken by every writer under the migration lock), then `applied_at` (for a
/// hand-made ledger whose `pk_confiture` is not filled). Never a wall clock first: a clock
/// stepped back (a failover to a standby whose clock lags, an NTP step) or an edited
/// `applied_at` would make `down` roll back a migration others were applied on top of. The
/// Python tool orders by `applied_at` first; the two agree whenever the clock went forward.
/// Every reader and writer of the ledger that depends on its order uses this.
pub const APPLICATION_ORDER: &str = "pk_confiture, applied_at";

/// [`APPLICATION_ORDER`] reversed: the row written last first.
pub const NEWEST_FIRST: &str = "pk_confiture DESC, applied_at DESC";

/// The ledger as read: the schema-qualified name it was found under and its rows in order of
/// application ([`APPLICATION_ORDER`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// The schema-qualified name it was found under.
    pub table: String,
    /// Its rows, in order of application.
    pub rows: Vec<LedgerRow>,
    /// The no-transaction migrations a run started and never recorded nor settled (killed,
    /// disconnected, or stopped after a statement committed), from the table beside the
    /// ledger ([`TrackingTable::started_table`]); empty when there is none, or no such table.
    pub started: Vec<StartedRun>,
}

/// What [`TrackingTable::started_table`]'s name adds to the ledger's.
pub const STARTED_SUFFIX: &str = "_started";

/// What [`TrackingTable::steps_table`]'s name adds to the ledger's: confiture (Python)'s
/// `step_runner.STEPS_SUFFIX`.
pub const STEPS_SUFFIX: &str = "_steps";

/// One row of confiture (Python)'s online-runner checkpoints ([`TrackingTable::steps_table`],
/// its `step_runner.CheckpointStore`): a stage (`expand`, `backfill`, `contract`) of one of
/// the staged plans (`plan_index`) of the online migration `migration` (its version), and
/// that stage's `state` (`running`, `done`, `failed`). The Python tool writes the migration's
/// ledger row only once its last plan's `contract` stage is done, and never deletes these
/// rows. **The one reading of them**: [`Checkpoint::unfinished_runs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The online migration's version, as the Python tool writes it (`002`).
    pub migration: String,
    /// Which of the migration's staged plans (one per statement), from 0.
    pub plan_index: i64,
    /// The stage: `expand`, `backfill` or `contract`.
    pub stage: String,
    /// `running`, `done` or `failed`.
    pub state: String,
}

/// A migration confiture (Python)'s online runner started and did not finish
/// ([`Checkpoint::unfinished_runs`]): its version and the stages not done, `backfill
/// (running)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfinishedOnlineRun {
    /// The migration's version, as the checkpoints name it.
    pub version: String,
    /// Its stages that are not done, `backfill (running)`; empty when the run stopped between
    /// two stages.
    pub stages: Vec<String>,
}

impl Checkpoint {
    /// The values read, in [`Checkpoint`]'s order, from `s.j`, a row of the table as
    /// `jsonb`: a table of that name without these columns (another tool's, an older Python's)
    /// gives NULLs, never an error that would fail the command or abort its transaction.
    #[cfg(feature = "db")]
    pub(crate) const COLUMNS: &'static str = "s.j OPERATOR(pg_catalog.->>) 'migration', \
         s.j OPERATOR(pg_catalog.->>) 'plan_index', s.j OPERATOR(pg_catalog.->>) 'stage', \
         s.j OPERATOR(pg_catalog.->>) 'state'";

    /// The online runs the checkpoints say the Python tool left unfinished: a migration with
    /// no ledger row of its version (among `rows`) whose checkpoints have a stage not `done`,
    /// or no `contract` stage done in its last plan (the run died between two stages). A
    /// migration whose every stage is done has finished (its row written), or was rolled back
    /// since (its row deleted, the checkpoints kept): running it again is right.
    pub fn unfinished_runs(
        rows: &[LedgerRow],
        checkpoints: &[Checkpoint],
    ) -> Vec<UnfinishedOnlineRun> {
        let same = |a: &str, b: &str| {
            a == b
                || matches!(
                    (a.parse::<crate::history::Version>(), b.parse::<crate::history::Version>()),
                    (Ok(a), Ok(b)) if a == b
                )
        };
        let mut versions: Vec<&str> = checkpoints.iter().map(|c| c.migration.as_str()).collect();
        versions.sort_unstable();
        versions.dedup();
        versions
            .into_iter()
            .filter(|v| !rows.iter().any(|r| same(&r.version, v)))
            .filter_map(|version| {
                let of: Vec<&Checkpoint> = checkpoints
                    .iter()
                    .filter(|c| c.migration == version)
                    .collect();
                let stages: Vec<String> = of
                    .iter()
                    .filter(|c| c.state != "done")
                    .map(|c| format!("{} ({})", c.stage, c.state))
                    .collect();
                let last = of.iter().map(|c| c.plan_index).max();
                let contracted = of.iter().any(|c| {
                    Some(c.plan_index) == last && c.stage == "contract" && c.state == "done"
                });
                (!stages.is_empty() || !contracted).then(|| UnfinishedOnlineRun {
                    version: version.to_string(),
                    stages,
                })
            })
            .collect()
    }

    /// The refusal (exit 7, the history and the database disagree) of every command that
    /// reads the ledger `table` while `runs` are unfinished: their stages committed part of
    /// the migration (a `<column>__new` column, a dual-write trigger, half a backfill) that
    /// our run of the migration's whole file would collide with or leave behind. Nothing was
    /// run; the Python tool's `confiture migrate steps` shows and resumes them.
    pub fn refusal(table: &impl std::fmt::Display, runs: &[UnfinishedOnlineRun]) -> Error {
        let steps = format!("{table}{STEPS_SUFFIX}");
        let listed: Vec<String> = runs
            .iter()
            .map(|r| {
                if r.stages.is_empty() {
                    format!("{}: stopped between two stages", r.version)
                } else {
                    format!("{}: {}", r.version, r.stages.join(", "))
                }
            })
            .collect();
        let first = runs.first().map_or("<VERSION>", |r| r.version.as_str());
        let mut error = Error::new(
            crate::ErrorKind::Diverged,
            format!(
                "{} by confiture (Python)'s online runner (`confiture migrate up --online`) \
                 and not finished: its checkpoints in {steps} say so; its stages committed \
                 part of the migration, which running its file again would collide with or \
                 leave behind; nothing was run",
                if runs.len() == 1 {
                    format!("migration {} was started", runs[0].version)
                } else {
                    format!(
                        "migrations {} were started",
                        crate::display::cut(runs.iter().map(|r| r.version.clone()).collect())
                            .join(", ")
                    )
                },
            ),
        );
        for line in crate::display::cut(listed) {
            error = error.with_detail(line);
        }
        error.with_help(format!(
            "finish it with the Python tool: `confiture migrate steps` lists its checkpoints, \
             `confiture migrate steps --resume {first}` continues it from the last one and \
             records it in the ledger; then run {AGAIN}"
        ))
    }
}

/// The schema of confiture (Python)'s view helpers (`confiture.saved_views`, ...), which its
/// `up` creates: with [`python_bookkeeping_tables`], what it keeps for itself in a database
/// it migrates — the one list, which `drift` leaves out of the live schema
/// ([`crate::schema::Snapshot::without_python_bookkeeping`]) and `up`'s look for a schema
/// built without the ledger does not count (`db::ledger::unrecorded`).
pub(crate) const PYTHON_HELPER_SCHEMA: &str = "confiture";

/// The tables confiture (Python) keeps for itself beside a ledger named `ledger`
/// (unqualified), in whichever schema: its lock holder (`confiture_lock_holder`, made by its
/// `up`) and the ledger's `<ledger>_steps` (its online runner's checkpoints, made with the
/// ledger, by its `status` too). See [`PYTHON_HELPER_SCHEMA`].
pub(crate) fn python_bookkeeping_tables(ledger: &str) -> [String; 2] {
    [
        "confiture_lock_holder".to_string(),
        format!("{ledger}_steps"),
    ]
}

/// The start marker of a no-transaction migration: written and committed (durably) before its
/// first statement runs, in the table beside the ledger ([`TrackingTable::started_table`]),
/// advanced before each later statement, and deleted in the transaction of its ledger row — or
/// at once when it failed with nothing committed. One that is left says that a run was stopped
/// part-way (`kill -9`, a lost connection, a statement that failed after others committed):
/// `status` shows the migration `interrupted`, and `up`/`down` refuse to run it again unless
/// told to (`rerun_interrupted`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct StartedRun {
    /// The version as the ledger row would record it (up) or records it (down).
    pub version: String,
    /// The migration's name.
    pub name: String,
    /// `up` or `down`.
    pub direction: String,
    /// The SHA-256 of the up file the run had (what its row would have recorded).
    pub checksum: String,
    /// When the run started the migration, RFC 3339 in UTC.
    pub started_at: String,
    /// The role that ran it (`current_user`).
    pub started_by: String,
    /// The client's address as the server saw it; null over a Unix socket.
    pub client_addr: Option<String>,
    /// The statement (1-based) that was sent last: every one before it committed, this one
    /// may have — unless `failed`.
    pub statement: u32,
    /// How many statements the file has.
    pub statements: u32,
    /// The server answered `statement` with an error (ErrorResponse, a cancel's included):
    /// the statement's own transaction was rolled back, nothing of it committed. False when
    /// that is not known — the run was killed or lost its connection without an answer, or
    /// the statement was a `DO` or `CALL` that may commit inside —, and in a markers' table
    /// made before the `failed` column.
    pub failed: bool,
    /// The server answered `statement` without an error, and the run stopped before sending
    /// anything more of the migration — one of its own checks between two statements (the
    /// migration lock, how the session reads SQL, its start marker gone), or before the ledger
    /// row (the row's own checks), refused to go on, or it was stopped there: every statement
    /// up to `statement` committed, the next never started (after the last: the row was never
    /// written). False when that is not known, and in a markers' table made before the
    /// `stopped_after` column, whose markers read as before.
    pub stopped_after: bool,
    /// What earlier runs of the same direction, which this one runs again
    /// (`--rerun-interrupted`), committed for sure: statements 1 to this one (0: none known).
    /// Kept when a run replaces their marker, so that one failing before it gets as far does
    /// not hide what they committed. 0 in a markers' table made before the column.
    pub earlier_committed: u32,
    /// The statement an earlier run of the same direction was running when it ended without
    /// an answer (killed, disconnected): it may have committed. Past
    /// [`StartedRun::earlier_committed`]; `None` when there is none, or not known.
    pub earlier_unsure: Option<u32>,
    /// The statements (1-based) of the file the run ran that change only its session
    /// ([`crate::files::StatementSpan::session_only`]: `SET`, `RESET`, `SHOW`), which commit
    /// nothing: never said committed ([`StartedRun::committed`]), as
    /// [`crate::plan::committed_statements`] never names them. Empty until
    /// [`StartedRun::of_file`] reads them from the file.
    #[serde(skip)]
    pub(crate) session_only: Vec<u32>,
}

/// What a run's start marker recorded when it started that a marker made again keeps
/// ([`StartedRun::restore_sql`]): so that a marker another session deleted mid-run (or whose
/// table it dropped) comes back the same marker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarkerKept {
    /// When the run started the migration, as [`StartedRun::STARTED_NOW`] read it; `None`:
    /// not known (the marker made again says now).
    pub started_at: Option<String>,
    /// [`StartedRun::earlier_committed`] of the marker, as the start kept it.
    pub earlier_committed: u32,
    /// [`StartedRun::earlier_unsure`] of the marker, as the start kept it.
    pub earlier_unsure: Option<u32>,
}

/// Whether the run a start marker records is going on ([`StartedRun::so_far`]).
#[derive(Clone, Copy)]
enum Run {
    /// It holds the migration lock now.
    Live,
    /// It is gone: killed, disconnected, or stopped after a statement committed.
    Ended,
}

/// A start marker ([`StartedRun`]) that cannot be read ([`StartedRun::read`]): what it has to
/// name it by, and its unusable column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusableMarker {
    /// Its version, when it has one.
    pub version: Option<String>,
    /// Its name, when it has one.
    pub name: Option<String>,
    /// The column whose value is unusable.
    pub column: &'static str,
    /// That value; `None` when it is NULL.
    pub value: Option<String>,
}

impl StartedRun {
    /// `0002_add_index`.
    pub fn id(&self) -> String {
        crate::display::migration_id(&self.version, &self.name)
    }

    /// This marker, knowing `file`, the file its run ran (an apply's up file, a rollback's
    /// down file): its statements that change only the session ([`StartedRun::session_only`])
    /// are not said committed.
    pub(crate) fn of_file(mut self, file: &crate::files::SqlFile) -> StartedRun {
        self.session_only = (file.statements.iter().zip(1..))
            .filter(|(span, _)| span.session_only)
            .map(|(_, at)| at)
            .collect();
        self
    }

    /// Statements 1 to `through` that committed something, in words (`statement 1`,
    /// `statements 2–3`, `statements 1 and 3–4`): those that change only the session
    /// ([`StartedRun::session_only`]) left out; `None` when none is left.
    fn said_committed(&self, through: u32) -> Option<String> {
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for at in (1..=through).filter(|at| !self.session_only.contains(at)) {
            match ranges.last_mut() {
                Some((_, end)) if *end + 1 == at => *end = at,
                _ => ranges.push((at, at)),
            }
        }
        let texts: Vec<String> = (ranges.iter())
            .map(|&(from, to)| match from == to {
                true => from.to_string(),
                false => format!("{from}–{to}"),
            })
            .collect();
        let (last, rest) = texts.split_last()?;
        let one = matches!(ranges.as_slice(), [(from, to)] if from == to);
        let word = if one { "statement" } else { "statements" };
        Some(match rest {
            [] => format!("{word} {last}"),
            rest => format!("{word} {} and {last}", rest.join(", ")),
        })
    }

    /// What is known of what it committed, the run that left it gone: `statement 1 of 1 was
    /// running: it may have committed`, `statements 1–2 of 3 committed; statement 3 of 3 was
    /// running: it may have committed`.
    pub fn committed(&self) -> String {
        self.so_far(Run::Ended)
    }

    /// How many of the file's first statements committed for sure, the run that left it gone
    /// (its own, or an earlier run's it runs again, [`StartedRun::earlier_committed`]): those
    /// before the one it was sending, and that one too when the run stopped by itself after
    /// the server answered it ([`StartedRun::stopped_after`]). The count
    /// [`StartedRun::committed`] says in words, and `keep_earlier_sql` keeps; a statement that
    /// only may have committed is not counted.
    pub fn surely_committed(&self) -> u32 {
        let this = match self.stopped_after && !self.failed {
            true => self.statement,
            false => self.statement.saturating_sub(1),
        };
        this.max(self.earlier_committed)
    }

    /// Whether every statement of its file committed for sure ([`StartedRun::surely_committed`]):
    /// the run stopped before writing (deleting, a rollback's) its ledger row.
    pub fn committed_every_statement(&self) -> bool {
        self.statements > 0 && self.surely_committed() >= self.statements
    }

    /// What the live run it records (one holding the migration lock now:
    /// [`crate::status::StatusReport::running`]) has done so far: `statement 1 of 1 is
    /// running`, `statement 1 committed; statement 2 of 3 is running`.
    pub fn running(&self) -> String {
        self.so_far(Run::Live)
    }

    /// The one wording of a marker's statements, [`StartedRun::committed`]'s and
    /// [`StartedRun::running`]'s.
    fn so_far(&self, run: Run) -> String {
        match self.earlier() {
            Some(earlier) => format!("{earlier}; run again, {}", self.this_run(run)),
            None => self.this_run(run),
        }
    }

    /// What earlier runs this one runs again committed ([`StartedRun::earlier_committed`],
    /// [`StartedRun::earlier_unsure`]): `an earlier run committed statement 1 (statement 2 of
    /// 2 may have committed too)`; `None` when nothing is known of them.
    fn earlier(&self) -> Option<String> {
        let n = self.statements;
        let unsure = self.earlier_unsure.filter(|u| *u > self.earlier_committed);
        let committed = (self.said_committed(self.earlier_committed))
            .map(|said| format!("an earlier run committed {said}"));
        match (committed, unsure) {
            (None, None) => None,
            (Some(c), None) => Some(format!("{c} of {n}")),
            (Some(c), Some(u)) => {
                Some(format!("{c} (statement {u} of {n} may have committed too)"))
            }
            (None, Some(u)) => Some(format!(
                "an earlier run's statement {u} of {n} may have committed"
            )),
        }
    }

    /// [`StartedRun::so_far`] of the run the marker records, alone.
    fn this_run(&self, run: Run) -> String {
        let (k, n) = (self.statement, self.statements);
        // Stopped by the run itself after an answered statement: nothing is running, nor may
        // have committed, whether the run is still there or not.
        if self.stopped_after && !self.failed && k > 0 {
            let done = self.said_committed(k);
            return match k < n {
                true => format!(
                    "{} committed; statement {} of {n} never started",
                    done.as_deref().unwrap_or("nothing"),
                    k + 1
                ),
                false => format!(
                    "{}; the run stopped before {} its ledger row",
                    match done {
                        Some(done) => format!("{done} of {n} committed"),
                        None => "nothing committed".to_string(),
                    },
                    match self.direction.as_str() {
                        "down" => "deleting",
                        _ => "writing",
                    }
                ),
            };
        }
        let before = (self.said_committed(k.saturating_sub(1)))
            .map_or_else(String::new, |said| format!("{said} committed; "));
        // The fate the run recorded wins over whether it is still there: an answered error
        // rolled the statement back, whatever came after.
        let now = match (self.failed, run) {
            (true, _) => "failed: the server refused it, and nothing of it committed",
            (false, Run::Live) => "is running",
            (false, Run::Ended) => "was running: it may have committed",
        };
        format!("{before}statement {k} of {n} {now}")
    }

    /// Who started it and when: `started 2026-01-15T10:30:00+00:00 by app (10.0.0.7)`.
    pub fn started(&self) -> String {
        let from = self
            .client_addr
            .as_deref()
            .map(|a| format!(" ({a})"))
            .unwrap_or_default();
        format!(
            "{} started {} by {}{from}",
            if self.direction == "down" {
                "its rollback"
            } else {
                "a run"
            },
            self.started_at,
            self.started_by
        )
    }

    /// The columns a read selects, in [`StartedRun::parse`]'s order.
    ///
    /// Read from the table as `m` (`FROM <markers> m`): its `failed` and `stopped_after`
    /// columns through the row's JSON, so that a table made before them is read alike (NULL:
    /// not known).
    pub const COLUMNS: &'static str = "version, name, direction, checksum, \
         pg_catalog.to_char(CAST(started_at AS pg_catalog.timestamptz) AT TIME ZONE 'UTC', \
         'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"'), started_by, client_addr, \
         CAST(statement AS pg_catalog.text), CAST(statements AS pg_catalog.text), \
         pg_catalog.to_jsonb(m) OPERATOR(pg_catalog.->>) 'failed', \
         pg_catalog.to_jsonb(m) OPERATOR(pg_catalog.->>) 'stopped_after', \
         pg_catalog.to_jsonb(m) OPERATOR(pg_catalog.->>) 'earlier_committed', \
         pg_catalog.to_jsonb(m) OPERATOR(pg_catalog.->>) 'earlier_unsure'";

    /// The time a marker written in the same transaction records as its start, as
    /// [`StartedRun::COLUMNS`] reads `started_at` (a marker's default, the transaction's
    /// `now()`): what a run keeps to make its marker again ([`StartedRun::restore_sql`]).
    pub const STARTED_NOW: &'static str = "pg_catalog.to_char(pg_catalog.now() AT TIME ZONE \
         'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"')";

    /// A row of [`StartedRun::COLUMNS`], as text; `None` when one of its values is unusable
    /// ([`StartedRun::read`]).
    pub fn parse(get: impl Fn(usize) -> Option<String>) -> Option<StartedRun> {
        StartedRun::read(get).ok()
    }

    /// A row of [`StartedRun::COLUMNS`], as text, or the first of its values that is unusable:
    /// NULL where a run always writes one (a hand-made or damaged table without the NOT NULL
    /// constraints), a direction other than `up` or `down`, a statement count that is not a
    /// count. The one rule of a readable marker: the ledger read refuses the others (exit 5),
    /// since a marker skipped is an interrupted migration taken for pending.
    pub fn read(get: impl Fn(usize) -> Option<String>) -> Result<StartedRun, UnusableMarker> {
        let unusable = |column: &'static str, value: Option<String>| UnusableMarker {
            version: get(0),
            name: get(1),
            column,
            value,
        };
        let required =
            |i: usize, column: &'static str| get(i).ok_or_else(|| unusable(column, None));
        let count = |i: usize, column: &'static str| {
            let text = required(i, column)?;
            text.parse().map_err(|_| unusable(column, Some(text)))
        };
        let direction = required(2, "direction")?;
        if direction != "up" && direction != "down" {
            return Err(unusable("direction", Some(direction)));
        }
        Ok(StartedRun {
            version: required(0, "version")?,
            name: required(1, "name")?,
            direction,
            checksum: required(3, "checksum")?,
            started_at: required(4, "started_at")?,
            started_by: required(5, "started_by")?,
            client_addr: get(6),
            statement: count(7, "statement")?,
            statements: count(8, "statements")?,
            failed: get(9).as_deref() == Some("true"),
            stopped_after: get(10).as_deref() == Some("true"),
            // Written only by a run, never by hand: a value that is not a count reads as none.
            earlier_committed: get(11).and_then(|e| e.parse().ok()).unwrap_or(0),
            earlier_unsure: get(12).and_then(|u| u.parse().ok()),
            session_only: Vec::new(),
        })
    }

    /// The statements that record, in one transaction committed durably, that a run starts
    /// the no-transaction migration `version` (`direction`, `statements` statements): creates
    /// the table beside `table` ([`TrackingTable::started_table`]) when it does not exist, and
    /// adds its row — or, with `rerun`, replaces the row an earlier run left. Returns one row,
    /// [`StartedRun::COLUMNS`], when an earlier run's marker was there (then, without `rerun`,
    /// nothing was written). The caller sends it in a transaction of its own, committed durably
    /// (after deleting the other markers of its version the plan accepted, when there are).
    pub fn start_sql(
        table: &TrackingTable,
        version: &str,
        name: &str,
        direction: &str,
        checksum: &str,
        statements: usize,
        rerun: bool,
    ) -> String {
        let t = table.started_table();
        let q = t.quoted();
        let on_conflict = if rerun {
            "UPDATE SET name = EXCLUDED.name, direction = EXCLUDED.direction, \
             checksum = EXCLUDED.checksum, started_at = EXCLUDED.started_at, \
             started_by = EXCLUDED.started_by, client_addr = EXCLUDED.client_addr, \
             statement = EXCLUDED.statement, statements = EXCLUDED.statements"
        } else {
            "NOTHING"
        };
        format!(
            "DO $confiture$ BEGIN IF pg_catalog.to_regclass({name_lit}) IS NULL THEN \
             {create}; END IF; END $confiture$; {keep}\
             WITH earlier AS (SELECT {columns} FROM {q} m WHERE version OPERATOR(pg_catalog.=) {v}), \
             started AS (INSERT INTO {q} (version, name, direction, checksum, client_addr, \
             statement, statements) VALUES ({v}, {n}, {d}, {c}, \
             pg_catalog.host(pg_catalog.inet_client_addr()), 1, {count}) \
             ON CONFLICT (version) DO {on_conflict} RETURNING 1) \
             SELECT * FROM earlier, (SELECT pg_catalog.count(*) FROM started) AS s; {forget}",
            // What the earlier run committed is kept, before the marker becomes this run's.
            keep = match rerun {
                true => StartedRun::keep_earlier_sql(table, version, direction),
                false => String::new(),
            },
            // The earlier run's fate is not this one's.
            forget = match rerun {
                true => format!(
                    "{} {}",
                    StartedRun::failed_sql(table, version, None),
                    StartedRun::stopped_after_sql(table, version, None)
                ),
                false => String::new(),
            },
            name_lit = literal(&q),
            create = StartedRun::create_sql(table),
            columns = StartedRun::COLUMNS,
            v = literal(version),
            n = literal(name),
            d = literal(direction),
            c = literal(checksum),
            count = statements,
        )
    }

    /// The `CREATE TABLE` of the markers' table beside `table` (no `;`): what a run makes
    /// when the first no-transaction migration starts, and what an owner of the schema runs
    /// once for a role that may not create tables there.
    pub fn create_sql(table: &TrackingTable) -> String {
        format!(
            "CREATE TABLE {} (version pg_catalog.text PRIMARY KEY, \
             name pg_catalog.text NOT NULL, direction pg_catalog.text NOT NULL, \
             checksum pg_catalog.text NOT NULL, \
             started_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(), \
             started_by pg_catalog.text NOT NULL DEFAULT CURRENT_USER, \
             client_addr pg_catalog.text, \
             statement INTEGER NOT NULL, statements INTEGER NOT NULL, failed pg_catalog.bool, \
             stopped_after pg_catalog.bool, earlier_committed INTEGER, earlier_unsure INTEGER)",
            table.started_table().quoted()
        )
    }

    /// The statement that says statement `statement` (1-based) of `version` is about to be
    /// sent: every one before it committed. Made only when `when` (a SQL condition, read as
    /// the statement runs) holds.
    pub fn advance_sql(
        table: &TrackingTable,
        version: &str,
        statement: usize,
        when: &str,
    ) -> String {
        format!(
            "UPDATE {t} SET statement = {statement} WHERE version OPERATOR(pg_catalog.=) {v} \
             AND ({when});",
            t = table.started_table().quoted(),
            v = literal(version),
        )
    }

    /// The statement that records the fate of statement `statement` of `version`'s marker:
    /// `Some(k)`, the server answered statement `k` with an error ([`StartedRun::failed`]);
    /// `None`, no fate known (a run that replaces the marker). Only where the markers' table has
    /// the `failed` column: one made before it is left as it is, and its markers say that the
    /// statement may have committed.
    pub fn failed_sql(table: &TrackingTable, version: &str, statement: Option<usize>) -> String {
        let (value, which) = match statement {
            Some(k) => ("true", format!(" AND statement OPERATOR(pg_catalog.=) {k}")),
            None => ("NULL", String::new()),
        };
        StartedRun::update_where_column(
            table,
            version,
            "failed",
            &format!("failed = {value}"),
            &which,
        )
    }

    /// The statement that records where the run of `version`'s marker stopped by itself:
    /// `Some(k)`, after statement `k`, which the server answered without an error, before
    /// sending anything more ([`StartedRun::stopped_after`]; the marker set back to `k` when it
    /// was advanced to the next already); `None`, nothing known (a run that replaces the
    /// marker). Only where the markers' table has the `stopped_after` column: one made before
    /// it is left as it is, its marker saying what it said.
    pub fn stopped_after_sql(
        table: &TrackingTable,
        version: &str,
        statement: Option<usize>,
    ) -> String {
        let set = match statement {
            Some(k) => format!("statement = {k}, stopped_after = true"),
            None => "stopped_after = NULL".to_string(),
        };
        StartedRun::update_where_column(table, version, "stopped_after", &set, "")
    }

    /// The statement that folds what the run `version`'s marker records into what earlier
    /// runs committed ([`StartedRun::earlier_committed`], [`StartedRun::earlier_unsure`]),
    /// before a run in `direction` replaces it (`--rerun-interrupted`): the furthest progress
    /// known is kept — every statement before the one it records committed, that one too when
    /// the run stopped after it, and it may have when the run ended without an answer. A
    /// marker of the other direction records another file's statements: forgotten. Only
    /// where the markers' table has the columns.
    pub fn keep_earlier_sql(table: &TrackingTable, version: &str, direction: &str) -> String {
        let sure = "CASE WHEN stopped_after AND failed IS NOT TRUE THEN statement \
             ELSE statement OPERATOR(pg_catalog.-) 1 END";
        let committed = format!("NULLIF(GREATEST(COALESCE(earlier_committed, 0), {sure}), 0)");
        let unsure = "GREATEST(earlier_unsure, CASE WHEN failed IS NOT TRUE AND \
             stopped_after IS NOT TRUE THEN statement END)";
        let same = format!("direction OPERATOR(pg_catalog.=) {}", literal(direction));
        StartedRun::update_where_column(
            table,
            version,
            "earlier_committed",
            &format!(
                "earlier_committed = CASE WHEN {same} THEN {committed} END, \
                 earlier_unsure = CASE WHEN {same} AND {unsure} OPERATOR(pg_catalog.>) \
                 COALESCE({committed}, 0) THEN {unsure} END"
            ),
            "",
        )
    }

    /// `UPDATE <markers> SET {set}` of `version`'s marker (and `which`, more of its `WHERE`),
    /// made only where the markers' table has `column`: the one guard of a column a later
    /// release added ([`StartedRun::failed_sql`], [`StartedRun::stopped_after_sql`]).
    fn update_where_column(
        table: &TrackingTable,
        version: &str,
        column: &str,
        set: &str,
        which: &str,
    ) -> String {
        let q = table.started_table().quoted();
        format!(
            "DO $confiture$ BEGIN IF EXISTS (SELECT FROM pg_catalog.pg_attribute \
             WHERE attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass({name}) \
             AND attname OPERATOR(pg_catalog.=) {column} AND NOT attisdropped) THEN \
             UPDATE {q} SET {set} WHERE version OPERATOR(pg_catalog.=) {v}{which}; \
             END IF; END $confiture$;",
            name = literal(&q),
            column = literal(column),
            v = literal(version),
        )
    }

    /// The statements that make again the marker of a run whose marker another session (or a
    /// statement of its migration) deleted, or whose markers' table it dropped, once the run
    /// stopped for it after statement `statement` committed: the table when it is gone
    /// ([`StartedRun::create_sql`]), the row as [`StartedRun::start_sql`] wrote it (what the
    /// start recorded, `kept`: its `started_at` and what earlier runs committed; the role and
    /// address of the session) unless one of its version is there again, and where the run
    /// stopped ([`StartedRun::stopped_after_sql`]): the same marker. Without it the migration
    /// would show `pending`, what it committed hidden.
    #[allow(clippy::too_many_arguments)]
    pub fn restore_sql(
        table: &TrackingTable,
        version: &str,
        name: &str,
        direction: &str,
        checksum: &str,
        kept: &MarkerKept,
        statement: usize,
        statements: usize,
    ) -> String {
        let q = table.started_table().quoted();
        let started_at = match &kept.started_at {
            Some(at) => format!("CAST({} AS pg_catalog.timestamptz)", literal(at)),
            None => "pg_catalog.now()".to_string(),
        };
        let count = |n: Option<u32>| n.map_or_else(|| "NULL".to_string(), |n| n.to_string());
        // What earlier runs committed, as the start kept it ([`StartedRun::keep_earlier_sql`]):
        // only where the table has the columns, as there.
        let earlier = match (kept.earlier_committed, kept.earlier_unsure) {
            (0, None) => String::new(),
            (committed, unsure) => format!(
                " {}",
                StartedRun::update_where_column(
                    table,
                    version,
                    "earlier_committed",
                    &format!(
                        "earlier_committed = {}, earlier_unsure = {}",
                        count(Some(committed).filter(|c| *c > 0)),
                        count(unsure)
                    ),
                    "",
                )
            ),
        };
        format!(
            "DO $confiture$ BEGIN IF pg_catalog.to_regclass({name_lit}) IS NULL THEN \
             {create}; END IF; END $confiture$; \
             INSERT INTO {q} (version, name, direction, checksum, started_at, client_addr, \
             statement, statements) VALUES ({v}, {n}, {d}, {c}, {started_at}, \
             pg_catalog.host(pg_catalog.inet_client_addr()), {statement}, {statements}) \
             ON CONFLICT (version) DO NOTHING; {after}{earlier}",
            name_lit = literal(&q),
            create = StartedRun::create_sql(table),
            v = literal(version),
            n = literal(name),
            d = literal(direction),
            c = literal(checksum),
            after = StartedRun::stopped_after_sql(table, version, Some(statement)),
        )
    }

    /// The statement that deletes the markers of `versions` (a migration's, every spelling
    /// of its version: [`crate::history::markers_of`]): in the transaction of its ledger row,
    /// or alone when the migration failed with nothing committed.
    pub fn settle_sql(table: &TrackingTable, versions: &[&str]) -> String {
        let list: Vec<String> = versions.iter().map(|v| literal(v)).collect();
        format!(
            "DELETE FROM {} WHERE version OPERATOR(pg_catalog.=) ANY (ARRAY[{}]::pg_catalog.text[])",
            table.started_table().quoted(),
            list.join(", ")
        )
    }

    /// The statement that deletes the apply markers (`up`) of `versions`, a rollback's marker
    /// of the same version kept: those a recorded full apply made out of date
    /// (`crate::plan::superseded_markers`), which a writing command holding the migration lock
    /// deletes.
    pub fn settle_applies_sql(table: &TrackingTable, versions: &[&str]) -> String {
        let list: Vec<String> = versions.iter().map(|v| literal(v)).collect();
        format!(
            "DELETE FROM {} WHERE direction OPERATOR(pg_catalog.=) 'up' AND version \
             OPERATOR(pg_catalog.=) ANY (ARRAY[{}]::pg_catalog.text[])",
            table.started_table().quoted(),
            list.join(", ")
        )
    }

    /// [`StartedRun::settle_sql`] for several versions, run only when the table exists (a
    /// ledger rewrite — `baseline`, `reinit` — that records or forgets them); empty for none.
    pub fn settle_any_sql(table: &TrackingTable, versions: &[&str]) -> String {
        if versions.is_empty() {
            return String::new();
        }
        let t = table.started_table().quoted();
        let list: Vec<String> = versions.iter().map(|v| literal(v)).collect();
        format!(
            "DO $confiture$ BEGIN IF pg_catalog.to_regclass({name}) IS NOT NULL THEN \
             DELETE FROM {t} WHERE version OPERATOR(pg_catalog.=) ANY (ARRAY[{list}]::pg_catalog.text[]); \
             END IF; END $confiture$;\n",
            name = literal(&t),
            list = list.join(", "),
        )
    }
}

/// Which kind of row: decides the slug suffix, as confiture does, and is read back from it
/// ([`RowKind::of_slug`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RowKind {
    /// Applied by running its migration.
    Applied,
    /// Recorded by `baseline` without running (read back: any reason but `reinit` that
    /// confiture (Python) writes — `baseline`, `auto-baseline`, `NNNN_baseline_from_db`,
    /// `squashed` —, each a row that records a migration without running it).
    Baseline,
    /// Recorded or rewritten by `reinit` without running.
    Reinit,
}

impl RowKind {
    /// The kind of row a slug says was written: what follows its time
    /// (`_<YYYYmmdd_HHMMSS>`, the last one in it: the name before it may hold anything) is the
    /// reason confiture (Python) and we append to a row written without running its migration
    /// (`_baseline`, `_reinit`, Python's `_auto-baseline`, ...). Nothing after the time, or a
    /// slug with no such time (a row made by hand), is a row applied by running it.
    pub fn of_slug(slug: &str) -> RowKind {
        match slug_time(slug).map(|at| &slug[at + SLUG_TIME.len()..]) {
            None | Some("") => RowKind::Applied,
            Some("_reinit") => RowKind::Reinit,
            Some(_) => RowKind::Baseline,
        }
    }

    /// Who wrote a row of this kind without running its migration, as a message names it
    /// ("recorded by {it} without running it"); `None` for a row applied by running it.
    pub(crate) fn recorded_without_running_by(self) -> Option<&'static str> {
        match self {
            RowKind::Applied => None,
            RowKind::Baseline => Some("a baseline (`migrate baseline`)"),
            RowKind::Reinit => Some("`migrate reinit`"),
        }
    }
}

/// A slug's time, `_<YYYYmmdd_HHMMSS>`, `d` standing for a digit.
const SLUG_TIME: &[u8] = b"_dddddddd_dddddd";

/// Where a slug's time ([`SLUG_TIME`]) starts: the last one in it followed by nothing or by a
/// reason (`_baseline`...): the name before it may hold anything. `None`: a slug with no such
/// time (a row made by hand).
fn slug_time(slug: &str) -> Option<usize> {
    let bytes = slug.as_bytes();
    let is_time = |at: usize| {
        bytes.get(at..at + SLUG_TIME.len()).is_some_and(|part| {
            part.iter().zip(SLUG_TIME).all(|(&b, &t)| match t {
                b'd' => b.is_ascii_digit(),
                _ => b == t,
            })
        })
    };
    (0..bytes.len())
        .rev()
        .filter(|&at| is_time(at))
        .find(|&at| {
            let rest = &bytes[at + SLUG_TIME.len()..];
            rest.is_empty() || rest.starts_with(b"_")
        })
}

/// What a slug says of its migration: the text before its time ([`RowKind::of_slug`]'s),
/// `<name>_<version>` as confiture writes it (`<name>` before confiture 1.29); `None` for a
/// slug with no time (written by hand). [`crate::history::slug_names`] reads it.
pub fn slug_stem(slug: &str) -> Option<&str> {
    slug_time(slug).map(|at| &slug[..at])
}

/// A SQL string literal, safe for `standard_conforming_strings = on` (the default since 9.1):
/// single quotes doubled. Used to put ledger values into the one message that applies a
/// migration, so no second round trip is needed for a bind.
pub fn literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    push_literal(&mut out, value);
    out
}

/// [`literal`] appended to `out`: the engine writes a ledger row's values straight into the
/// message it builds, one row per migration.
pub(crate) fn push_literal(out: &mut String, value: &str) {
    out.push('\'');
    push_literal_text(out, value);
    out.push('\'');
}

/// The inside of a [`literal`]: `value` with its single quotes doubled, without the quotes
/// around it (a literal made of several pieces, such as a slug's prefix).
pub(crate) fn push_literal_text(out: &mut String, value: &str) {
    let mut rest = value;
    while let Some(quote) = rest.find('\'') {
        out.push_str(&rest[..=quote]);
        out.push('\'');
        rest = &rest[quote + 1..];
    }
    out.push_str(rest);
}

/// The `INSERT` that records one migration. The slug is built by the server from local time,
/// as confiture does: `<name>_<version>_<YYYYmmdd_HHMMSS>[_baseline|_reinit]`.
/// `execution_time_ms` is an SQL expression (e.g. a literal, or a computation over
/// `clock_timestamp()`), so the time can be measured inside the same message.
///
/// The ledger's statements run in a migration's session, under whatever `search_path` it
/// set: they name every function and operator with `pg_catalog` (`OPERATOR(pg_catalog.||)`),
/// so that nothing of the migration's, or of a schema anybody may create in, stands in for a
/// built-in.
pub fn insert_sql(
    table: &TrackingTable,
    version: &str,
    name: &str,
    checksum: &str,
    kind: RowKind,
    execution_time_ms_sql: &str,
) -> String {
    let suffix = match kind {
        RowKind::Applied => "",
        RowKind::Baseline => "_baseline",
        RowKind::Reinit => "_reinit",
    };
    let slug_prefix = literal(&format!("{name}_{version}_"));
    format!(
        "INSERT INTO {t} (slug, version, name, execution_time_ms, checksum, applied_by) VALUES ({slug_prefix} OPERATOR(pg_catalog.||) pg_catalog.to_char(pg_catalog.now(), 'YYYYMMDD_HH24MISS') OPERATOR(pg_catalog.||) {suffix}, {v}, {n}, {execution_time_ms_sql}, {c}, current_user)",
        t = table.quoted(),
        suffix = literal(suffix),
        v = literal(version),
        n = literal(name),
        c = literal(checksum),
    )
}

/// [`insert_sql`] for an applied migration whose transaction is one of several in a message:
/// `now()` is the same for all of them (the server stamps a message once), so `applied_at` and
/// the slug's time come from `applied_at_sql`, an expression for the migration's own start.
pub fn insert_applied_at_sql(
    table: &TrackingTable,
    version: &str,
    name: &str,
    checksum: &str,
    applied_at_sql: &str,
    execution_time_ms_sql: &str,
) -> String {
    insert_applied_at_exprs_sql(
        table,
        &AppliedRowExprs {
            slug_prefix: &literal(&format!("{name}_{version}_")),
            version: &literal(version),
            name: &literal(name),
            checksum: &literal(checksum),
            applied_at: applied_at_sql,
            execution_time_ms: execution_time_ms_sql,
        },
    )
}

/// The SQL expressions of an applied row's values, for [`insert_applied_at_exprs_sql`]:
/// literals, or parameters (`$1`) of a prepared statement.
pub struct AppliedRowExprs<'a> {
    /// `<name>_<version>_`: the slug before its time.
    pub slug_prefix: &'a str,
    /// The version, as the file names it.
    pub version: &'a str,
    /// The migration's name.
    pub name: &'a str,
    /// The SHA-256 of the up file, hex.
    pub checksum: &'a str,
    /// When the migration began (a `timestamptz` expression).
    pub applied_at: &'a str,
    /// Its duration in milliseconds (an integer expression, NULL when unknown).
    pub execution_time_ms: &'a str,
}

/// [`insert_applied_at_sql`] with every value an SQL expression: the engine prepares it once
/// per message with parameters, so the server analyses and plans it once, not per migration.
pub fn insert_applied_at_exprs_sql(table: &TrackingTable, row: &AppliedRowExprs<'_>) -> String {
    format!(
        "INSERT INTO {t} (slug, version, name, applied_at, execution_time_ms, checksum, applied_by) VALUES ({slug} OPERATOR(pg_catalog.||) pg_catalog.to_char({at}, 'YYYYMMDD_HH24MISS'), {v}, {n}, {at}, {ms}, {c}, current_user)",
        t = table.quoted(),
        slug = row.slug_prefix,
        at = row.applied_at,
        v = row.version,
        n = row.name,
        ms = row.execution_time_ms,
        c = row.checksum,
    )
}

/// The `DELETE` that forgets one migration on rollback, as confiture does.
pub fn delete_sql(table: &TrackingTable, version: &str) -> String {
    format!(
        "DELETE FROM {} WHERE {}",
        table.quoted(),
        version_condition(version)
    )
}

/// The condition that matches the row of `version`: what [`delete_sql`] deletes.
pub fn version_condition(version: &str) -> String {
    format!("version OPERATOR(pg_catalog.=) {}", literal(version))
}

/// A row `baseline` or `reinit` adds, recorded without running its migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRow {
    /// The version as the file spells it.
    pub version: String,
    /// The migration's name.
    pub name: String,
    /// The up file's checksum.
    pub checksum: String,
    /// Which kind of row (decides the slug suffix).
    pub kind: RowKind,
}

/// A row kept, rewritten in place to match its file: `slug`, `applied_at`,
/// `execution_time_ms` and `applied_by` stay as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowUpdate {
    /// The row's own `version` as stored: the key it is found by.
    pub key: String,
    /// The version as the file spells it now.
    pub version: String,
    /// The migration's name, as in its file name now.
    pub name: String,
    /// The up file's checksum now.
    pub checksum: String,
}

/// The version a row of a [`Rewrite`] holds for a moment, between two updates of its
/// transaction, while another row takes its version: no migration version (not digits), so
/// no row has it.
const PARKED: &str = "confiture-reinit-parked-";

/// A rewrite of the ledger in one transaction, shared by `baseline`, `reinit` and `abandon`:
/// rows deleted, rows changed in place, rows added, start markers deleted. Every existing row
/// is addressed by its own `version` (`UNIQUE` in confiture's DDL), never by a text re-derived
/// from a file name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewrite {
    /// Keys (`version` as stored) of the rows to delete.
    pub delete: Vec<String>,
    /// Rows rewritten in place.
    pub update: Vec<RowUpdate>,
    /// Rows added.
    pub insert: Vec<NewRow>,
    /// The start markers ([`StartedRun`]) deleted with the rows, beside those spelled like a
    /// row it writes or deletes: every spelling of their versions ([`Rewrite::settling`]).
    pub markers: Vec<String>,
}

impl Rewrite {
    /// The rewrite, settling the start markers of every version it records, rewrites or
    /// forgets (`markers`, read with the ledger; by number, [`crate::history::markers_of`]):
    /// a migration recorded without running it (`baseline --through`, the way on after an
    /// interrupted run), or a row forgotten, leaves no marker of it behind.
    pub fn settling(mut self, markers: &[StartedRun]) -> Rewrite {
        let versions = (self.delete.iter())
            .chain(self.update.iter().flat_map(|u| [&u.key, &u.version]))
            .chain(self.insert.iter().map(|r| &r.version));
        // The markers it was made to delete (`abandon`), then those of the rows it writes.
        let mut settled: Vec<String> = std::mem::take(&mut self.markers);
        for v in versions {
            let Ok(v) = crate::history::Version::of_ledger(v) else {
                continue;
            };
            for m in crate::history::markers_of(markers, v.number()) {
                if !settled.iter().any(|s| s == m) {
                    settled.push(m.to_string());
                }
            }
        }
        self.markers = settled;
        self
    }

    /// Whether it changes nothing: no row, and no start marker, to write or delete.
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty()
            && self.update.is_empty()
            && self.insert.is_empty()
            && self.markers.is_empty()
    }

    /// One message, `BEGIN; … COMMIT;`: deletions first, so that a row renamed to the file's
    /// spelling never meets the duplicate it replaces (the column is `UNIQUE`), then updates,
    /// then inserts.
    pub fn sql(&self, table: &TrackingTable) -> String {
        format!("BEGIN;\n{}COMMIT;", self.statements(table))
    }

    /// [`Rewrite::sql`] without its `BEGIN` and `COMMIT`: for the transaction that created
    /// the ledger, so that the table and its rows commit together or not at all.
    pub fn statements(&self, table: &TrackingTable) -> String {
        let mut sql = String::new();
        // Each statement fails unless it wrote its one row ([`LedgerCheck::RowNotWritten`]): a
        // trigger or rule of the table that suppresses rows made the rewrite report rows it
        // never wrote. An update by its key may meet several rows of a ledger without its
        // `UNIQUE (version)`; none is the failure.
        let one = |statement: String, rows: &str| {
            format!(
                "WITH r AS ({statement} RETURNING 1) SELECT {};\n",
                LedgerCheck::RowNotWritten.unless(&format!(
                    "(SELECT pg_catalog.count(*) FROM r) OPERATOR(pg_catalog.{rows}) 1"
                ))
            )
        };
        // One row per key, the newest applied (the second row the history found, in the same
        // order): a ledger without its `UNIQUE (version)` can hold the same version twice, and
        // deleting the second row by its version deleted both.
        for key in &self.delete {
            sql.push_str(&one(
                format!(
                    "DELETE FROM {t} WHERE ctid OPERATOR(pg_catalog.=) (SELECT ctid FROM {t} \
                     WHERE version OPERATOR(pg_catalog.=) {k} ORDER BY {NEWEST_FIRST} LIMIT 1)",
                    t = table.quoted(),
                    k = literal(key),
                ),
                "=",
            ));
        }
        // A row in the way of another's new version (migrations renumbered in a swap, a cycle
        // or a chain: `002` becomes `003` while the row `003` becomes `002` or `004`) first
        // moves to a version of its own, `PARKED` and its place in the list: the column is
        // `UNIQUE`, checked row by row, and no order of the updates would pass it in a cycle.
        let moved_to: std::collections::HashSet<&str> = (self.update.iter())
            .filter(|u| u.version != u.key)
            .map(|u| u.version.as_str())
            .collect();
        let mut keys: Vec<String> = Vec::with_capacity(self.update.len());
        for (i, u) in self.update.iter().enumerate() {
            if !moved_to.contains(u.key.as_str()) {
                keys.push(u.key.clone());
                continue;
            }
            let parked = format!("{PARKED}{i}");
            sql.push_str(&one(
                format!(
                    "UPDATE {t} SET version = {p} WHERE version OPERATOR(pg_catalog.=) {k}",
                    t = table.quoted(),
                    p = literal(&parked),
                    k = literal(&u.key),
                ),
                ">=",
            ));
            keys.push(parked);
        }
        for (u, key) in self.update.iter().zip(&keys) {
            sql.push_str(&one(
                format!(
                    "UPDATE {t} SET version = {v}, name = {n}, checksum = {c} WHERE version OPERATOR(pg_catalog.=) {k}",
                    t = table.quoted(),
                    v = literal(&u.version),
                    n = literal(&u.name),
                    c = literal(&u.checksum),
                    k = literal(key),
                ),
                ">=",
            ));
        }
        for row in &self.insert {
            sql.push_str(&one(
                insert_sql(table, &row.version, &row.name, &row.checksum, row.kind, "0"),
                "=",
            ));
        }
        // And every row written is there once all are: a trigger that deletes a row after it
        // is written, or a rule that sends it elsewhere, would pass the counts above.
        let written: Vec<String> = (self.update.iter().map(|u| literal(&u.version)))
            .chain(self.insert.iter().map(|r| literal(&r.version)))
            .collect();
        if !written.is_empty() {
            sql.push_str(&format!(
                "SELECT {};\n",
                LedgerCheck::RowNotWritten.unless(&format!(
                    "NOT EXISTS (SELECT FROM pg_catalog.unnest(ARRAY[{}]::pg_catalog.text[]) \
                     AS w(k) WHERE NOT {})",
                    written.join(", "),
                    row_exists(table, "w.k")
                ))
            ));
        }
        // A migration recorded without running it (`baseline --through`, the way on after an
        // interrupted no-transaction run whose statements all committed), or a row forgotten,
        // settles the start marker a run left for its version: with the rows, or not at all.
        let settled: Vec<&str> = (self.insert.iter().map(|r| r.version.as_str()))
            .chain(self.delete.iter().map(String::as_str))
            .chain(self.markers.iter().map(String::as_str))
            .collect();
        sql.push_str(&StartedRun::settle_any_sql(table, &settled));
        sql
    }
}

/// `EXISTS`, an SQL condition: the tracking table has a row whose `version` is `version` (an
/// SQL expression). Found through the table's index on `version`.
pub fn row_exists(table: &TrackingTable, version: &str) -> String {
    format!(
        "EXISTS (SELECT FROM {} AS l WHERE l.version OPERATOR(pg_catalog.=) {version})",
        table.quoted()
    )
}

/// `EXISTS`, an SQL condition: the tracking table has a row whose `version`, `name` and
/// `checksum` are those SQL expressions — the row as it was written. Found through the table's
/// index on `version`.
pub fn row_exists_as(table: &TrackingTable, version: &str, name: &str, checksum: &str) -> String {
    format!(
        "EXISTS (SELECT FROM {} AS l WHERE l.version OPERATOR(pg_catalog.=) {version} \
         AND l.name OPERATOR(pg_catalog.=) {name} \
         AND l.checksum OPERATOR(pg_catalog.=) {checksum})",
        table.quoted()
    )
}

/// The checks of the ledger's own statements, made in the statement (or the transaction)
/// that writes the ledger, before it commits: each fails its statement with an error the
/// caller knows by its internal query ([`LedgerCheck::of`]), never by its text.
///
/// A statement can raise no error of its own choosing without PL/pgSQL, so each check runs a
/// query of its own through `query_to_xml` (`VOLATILE`: never evaluated when the statement is
/// planned, only when the condition fails), one that selects a column no query has (42703,
/// its name naming confiture for the server's log): the server returns that query with the
/// error, as the internal query of its position — the engine's own SQL, sent by it, which no
/// migration's statement can raise. An SQLSTATE alone could not tell: the checks failed with
/// `jsonpath` errors once (`2203A`, `22031`), which a data migration's `jsonb_path_query(...,
/// 'strict ...')` raises too, and were taken for the ledger's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerCheck {
    /// A row confiture writes is not there after its `INSERT` or `UPDATE` (a `BEFORE` trigger
    /// returned NULL, a trigger deleted it, a rule sent it elsewhere), or the row it deletes is
    /// still there (a `BEFORE DELETE` trigger returned NULL).
    RowNotWritten,
    /// Rows recorded before a migration, which it must keep, are gone, or its SQL wrote rows
    /// of the tracking table (deleted, truncated, updated or inserted them).
    RowsChanged,
    /// Row-level security applies to the tracking table for the connecting role just before
    /// the row is written: the read refused such a ledger before anything ran, so the
    /// migration turned it on (`ENABLE`/`FORCE ROW LEVEL SECURITY`, a loop over every table).
    RowSecurity,
    /// The connecting role lacks a privilege the row's statement needs (`INSERT` going up,
    /// `DELETE` going down, `SELECT` both ways) just before the row is written: the read found
    /// them, so the migration took them away (`REVOKE`, an `ALTER TABLE ... OWNER TO`).
    PrivilegeLost,
    /// The tracking table is no longer at its name just before the row is written, but the
    /// table the migration began with (its OID) still exists under another name or in another
    /// schema: the migration renamed it, moved it (`ALTER TABLE ... SET SCHEMA`) or renamed
    /// its schema (`ALTER SCHEMA ... RENAME TO`) — not dropped it. Where it is now travels in
    /// the failing query ([`LedgerCheck::unless_moved`], [`MovedLedger::of`]).
    Moved,
    /// A column of the tracking table that holds text (`version`, `name`, `checksum`, `slug`)
    /// is not of a string type just before the row is written: the read refused such a
    /// ledger before anything ran, so the migration changed its type (`ALTER TABLE ... ALTER
    /// COLUMN version TYPE bigint`, in a loop over every table): its row would go into a
    /// ledger the next read refuses.
    Altered,
}

/// Where the tracking table is now, after a migration moved it ([`LedgerCheck::Moved`]): read
/// from the catalogs by its OID inside the migration's transaction, before it is rolled back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedLedger {
    /// The table as it is now, schema-qualified.
    pub now: TrackingTable,
    /// Its schema was renamed: no schema has the old name any more (`ALTER SCHEMA ... RENAME
    /// TO`), where a table moved by `ALTER TABLE ... SET SCHEMA` leaves its old schema there.
    pub schema_renamed: bool,
}

impl MovedLedger {
    /// What the failing query of [`LedgerCheck::unless_moved`] says (`internal_query`, the
    /// engine's own SQL echoed by the server): `None` for any other query.
    pub fn of(internal_query: &str) -> Option<MovedLedger> {
        let fields = LedgerCheck::Moved.said(internal_query)?;
        let [schema, name, renamed] = <[String; 3]>::try_from(fields).ok()?;
        Some(MovedLedger {
            now: TrackingTable::resolved(&schema, &name),
            schema_renamed: renamed == "s",
        })
    }
}

/// The tracking table's text columns a migration gave another type
/// ([`LedgerCheck::Altered`]), read from the catalogs inside its transaction before it is
/// rolled back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlteredLedger {
    /// Each column and its type now (`format_type`: `bigint`), in the table's order.
    pub columns: Vec<(String, String)>,
}

impl AlteredLedger {
    /// What the failing query of the check says (`internal_query`, the engine's own SQL echoed
    /// by the server): `None` for any other query.
    pub fn of(internal_query: &str) -> Option<AlteredLedger> {
        let [columns] = <[String; 1]>::try_from(LedgerCheck::Altered.said(internal_query)?).ok()?;
        Some(AlteredLedger {
            columns: typed_columns(&columns),
        })
    }
}

/// Columns and their types as the catalog query of a ledger's mistyped columns writes them:
/// `version bigint; name character varying(10)` (every column name is one of confiture's,
/// without a space).
pub(crate) fn typed_columns(text: &str) -> Vec<(String, String)> {
    text.split("; ")
        .filter_map(|c| c.split_once(' '))
        .map(|(name, ty)| (name.to_string(), ty.to_string()))
        .collect()
}

/// How a check's failing query says more than its name ([`LedgerCheck::failing_with`]): after
/// the check's own query, ` FROM (SELECT 'hex', 'hex', 'hex') AS m`, each value hex-encoded
/// (nothing to quote).
const SAID_OPENING: &str = " FROM (SELECT '";
const SAID_SEPARATOR: &str = "', '";
const SAID_CLOSING: &str = "') AS m";

/// The bytes of lowercase hex text, as `encode(..., 'hex')` writes them.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl LedgerCheck {
    /// The help of a [`LedgerCheck::RowNotWritten`] failure: what to look for on `table`.
    pub fn suppressed_row_help(table: &TrackingTable) -> String {
        format!(
            "list the triggers and rules of {table} (`\\d {table}` in psql) and drop the one \
             that suppresses, rewrites or removes its rows, or keep the table out of it (a migration that \
             puts a trigger or rule on every table of the schema reaches it too); then run {AGAIN}"
        )
    }

    /// The query its failure runs, which the server returns as the error's internal query:
    /// a column no query has (under 64 bytes, so the server does not cut its name).
    pub const fn query(self) -> &'static str {
        match self {
            LedgerCheck::RowNotWritten => "SELECT \"confiture: tracking table row not written\"",
            LedgerCheck::RowsChanged => "SELECT \"confiture: tracking table rows changed\"",
            LedgerCheck::RowSecurity => "SELECT \"confiture: tracking table row security on\"",
            LedgerCheck::PrivilegeLost => "SELECT \"confiture: tracking table privilege lost\"",
            LedgerCheck::Moved => "SELECT \"confiture: tracking table moved\"",
            LedgerCheck::Altered => "SELECT \"confiture: tracking table altered\"",
        }
    }

    /// The check whose failure's internal query (`internal_query`: the query of an
    /// internal error position) is that one: the engine's own SQL, echoed by the server.
    pub fn of(internal_query: &str) -> Option<LedgerCheck> {
        [
            LedgerCheck::RowNotWritten,
            LedgerCheck::RowsChanged,
            LedgerCheck::RowSecurity,
            LedgerCheck::PrivilegeLost,
            LedgerCheck::Altered,
        ]
        .into_iter()
        .find(|check| check.query() == internal_query)
        .or_else(|| {
            [LedgerCheck::Moved, LedgerCheck::Altered]
                .into_iter()
                .find(|check| check.said(internal_query).is_some())
        })
    }

    /// The values the failing query of this check carries ([`LedgerCheck::failing_with`]),
    /// when `internal_query` is that query.
    fn said(self, internal_query: &str) -> Option<Vec<String>> {
        let rest = internal_query
            .strip_prefix(self.query())?
            .strip_prefix(SAID_OPENING)?
            .strip_suffix(SAID_CLOSING)?;
        rest.split(SAID_SEPARATOR)
            .map(|field| String::from_utf8(unhex(field)?).ok())
            .collect()
    }

    /// An SQL expression (`text`): the query whose failure is this check's, carrying the
    /// values of the SQL expressions `values` (text), which [`LedgerCheck::said`] reads back
    /// from the failure — each hex-encoded, so that any name survives the trip.
    fn failing_with(self, values: &[String]) -> String {
        let hex: Vec<String> = values
            .iter()
            .map(|v| {
                format!(
                    "pg_catalog.encode(pg_catalog.convert_to(({v})::pg_catalog.text, 'UTF8'), \
                     'hex')"
                )
            })
            .collect();
        format!(
            "pg_catalog.concat({}, {}, {}, {})",
            literal(self.query()),
            literal(SAID_OPENING),
            hex.join(&format!(", {}, ", literal(SAID_SEPARATOR))),
            literal(SAID_CLOSING)
        )
    }

    /// An SQL expression (`text`): empty unless the SQL expression `columns` (text, as the
    /// catalog query of a ledger's mistyped columns writes them: [`typed_columns`]) is not
    /// NULL — then it fails its statement with this check's query carrying them
    /// ([`AlteredLedger::of`]). Looked up only then, in a query of its own: `columns` stands
    /// alone (no parameter of the statement).
    #[cfg(feature = "db")]
    pub(crate) fn unless_untyped(self, columns: &str) -> String {
        let failing = self.failing_with(&["m.columns".to_string()]);
        only_when_reached(&format!(
            "SELECT pg_catalog.query_to_xml((SELECT {failing} FROM (SELECT {columns} AS columns) \
             AS m WHERE m.columns IS NOT NULL), false, false, '')"
        ))
    }

    /// An SQL expression (`text`): empty unless `table` is no longer the table whose OID the
    /// expression `oid` (text; empty or NULL: unknown, nothing checked) gives while that OID
    /// still names a table — then it fails its statement with [`LedgerCheck::Moved`]'s query
    /// followed by where the table is now, which [`MovedLedger::of`] reads back: looked up only
    /// then, in a query of its own, so `oid` stands alone (no parameter of the statement).
    /// `now`: the SQL expression of the OID `table`'s name has now (`regclass`, NULL when no
    /// table has it: [`TrackingTable::regclass`], or a column the statement computed it into
    /// once). Every name is `pg_catalog`'s: it runs under the `search_path` a migration set.
    pub fn unless_moved(table: &TrackingTable, oid: &str, now: &str) -> String {
        // The OID, NULL when unknown: the server may evaluate a subquery's comparison before
        // the `CASE` reaches it, and `''::oid` is an error.
        let oid_text = oid;
        let oid = format!(
            "(CASE WHEN COALESCE({oid_text}, '') OPERATOR(pg_catalog.=) '' THEN NULL \
             ELSE {oid_text} END)::pg_catalog.oid"
        );
        // The old schema gone by its name: renamed (`ALTER SCHEMA ... RENAME TO`).
        let renamed = match &table.schema {
            Some(schema) => format!(
                "CASE WHEN pg_catalog.to_regnamespace({}) IS NULL THEN 's' ELSE 't' END",
                literal(&quoted_ident(schema))
            ),
            None => "'t'".to_string(),
        };
        let where_now = format!(
            "(SELECT {} FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
             WHERE c.oid OPERATOR(pg_catalog.=) {oid})",
            LedgerCheck::Moved.failing_with(&[
                "n.nspname".to_string(),
                "c.relname".to_string(),
                renamed
            ]),
        );
        // Where the table is now (NULL when no table has the OID: dropped, and the row fails on
        // its own), read only when the table is not at its name any more.
        let moved = only_when_reached(&format!(
            "SELECT pg_catalog.query_to_xml({where_now}, false, false, '')"
        ));
        // The mark is read as an OID only where it is not empty: a `CASE` evaluates a branch
        // only when it is reached (no subquery here, and `current_setting` is not folded).
        format!(
            "CASE WHEN COALESCE({oid_text}, '') OPERATOR(pg_catalog.=) '' THEN '' \
             WHEN {now} IS NOT NULL AND \
             {now}::pg_catalog.oid OPERATOR(pg_catalog.=) ({oid_text})::pg_catalog.oid \
             THEN '' \
             ELSE {moved} END"
        )
    }

    /// An SQL expression (`text`): empty when `condition` holds, else it fails its statement
    /// with [`LedgerCheck::query`]'s error. Every name is `pg_catalog`'s: it runs under the
    /// `search_path` a migration set.
    pub fn unless(self, condition: &str) -> String {
        format!(
            "CASE WHEN {condition} THEN '' ELSE {} END",
            only_when_reached(self.query())
        )
    }
}

/// An SQL expression (`text`) that runs the query `select` when it is evaluated, and only
/// then: `query_to_xml` of its text. The server makes every subquery of a statement ready (its
/// tables and indexes opened and locked) each time the statement runs, reached or not: the
/// rare branch of a check before each ledger row cost ~10 µs a migration as a subquery, and
/// nothing as this. `select` stands alone (no parameter of the statement around it); its
/// errors are the statement's, with `select` (or the query it runs in turn) as their internal
/// query ([`LedgerCheck::of`]). Every name is `pg_catalog`'s: it runs under the `search_path`
/// a migration set.
pub(crate) fn only_when_reached(select: &str) -> String {
    format!(
        "pg_catalog.query_to_xml({}, false, false, '')::pg_catalog.text",
        literal(select)
    )
}

/// Unit tests' markers, built in one place.
#[cfg(test)]
impl StartedRun {
    /// A marker of a run of `direction` of migration `version` `name` whose file's checksum
    /// was `checksum`, started at `started_at` by `app` from a Unix socket, its statement 1 of
    /// 1 running, nothing else said: the fields a test cares for set with struct update.
    pub(crate) fn for_test(
        version: &str,
        name: &str,
        direction: &str,
        checksum: &str,
        started_at: &str,
    ) -> StartedRun {
        StartedRun {
            version: version.to_string(),
            name: name.to_string(),
            direction: direction.to_string(),
            checksum: checksum.to_string(),
            started_at: started_at.to_string(),
            started_by: "app".to_string(),
            client_addr: None,
            statement: 1,
            statements: 1,
            failed: false,
            stopped_after: false,
            earlier_committed: 0,
            earlier_unsure: None,
            session_only: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A marker read as [`StartedRun::COLUMNS`] gives it: statement `k` of `n`, in
    /// `direction`, with its `failed` and `stopped_after` values (`None`: NULL, or a table
    /// made before the column).
    fn marker(
        direction: &str,
        k: u32,
        n: u32,
        failed: Option<&str>,
        stopped: Option<&str>,
    ) -> StartedRun {
        let (k, n) = (k.to_string(), n.to_string());
        let values = [
            Some("002"),
            Some("nt"),
            Some(direction),
            Some("abc"),
            Some("2026-01-15T10:30:00+00:00"),
            Some("app"),
            None,
            Some(k.as_str()),
            Some(n.as_str()),
            failed,
            stopped,
        ];
        StartedRun::parse(|i| values.get(i).copied().flatten().map(str::to_string))
            .expect("a marker")
    }

    #[test]
    fn a_marker_stopped_after_a_statement_says_the_next_never_started() {
        let cases = [
            (marker("up", 2, 3, None, Some("true")), "statements 1–2 committed; statement 3 of 3 never started"),
            (marker("up", 1, 3, None, Some("true")), "statement 1 committed; statement 2 of 3 never started"),
            (
                marker("up", 2, 2, None, Some("true")),
                "statements 1–2 of 2 committed; the run stopped before writing its ledger row",
            ),
            (
                marker("down", 1, 1, None, Some("true")),
                "statement 1 of 1 committed; the run stopped before deleting its ledger row",
            ),
            // Before the column, or nothing known: as before.
            (marker("up", 2, 3, None, None), "statement 1 committed; statement 2 of 3 was running: it may have committed"),
            (marker("up", 2, 3, Some("false"), Some("false")), "statement 1 committed; statement 2 of 3 was running: it may have committed"),
            (
                marker("up", 2, 3, Some("true"), None),
                "statement 1 committed; statement 2 of 3 failed: the server refused it, and nothing of it committed",
            ),
        ];
        for (marker, said) in cases {
            assert_eq!(marker.committed(), said, "{marker:?}");
        }
        // A live run stopped by itself says the same: nothing of it is running.
        assert_eq!(
            marker("up", 2, 3, None, Some("true")).running(),
            "statements 1–2 committed; statement 3 of 3 never started"
        );
        assert_eq!(
            marker("up", 2, 3, None, None).running(),
            "statement 1 committed; statement 2 of 3 is running"
        );
    }

    #[test]
    fn a_marker_run_again_says_what_the_earlier_runs_committed() {
        let again = |committed: u32, unsure: Option<u32>| StartedRun {
            earlier_committed: committed,
            earlier_unsure: unsure,
            session_only: Vec::new(),
            ..marker("up", 1, 2, Some("true"), None)
        };
        let failed = "statement 1 of 2 failed: the server refused it, and nothing of it committed";
        for (marker, said) in [
            (again(0, None), failed.to_string()),
            (
                again(1, None),
                format!("an earlier run committed statement 1 of 2; run again, {failed}"),
            ),
            (
                again(1, Some(2)),
                format!(
                    "an earlier run committed statement 1 (statement 2 of 2 may have committed \
                     too); run again, {failed}"
                ),
            ),
            // Not past what committed for sure: nothing more to say.
            (
                again(2, Some(2)),
                format!("an earlier run committed statements 1–2 of 2; run again, {failed}"),
            ),
            (
                again(0, Some(1)),
                format!(
                    "an earlier run's statement 1 of 2 may have committed; run again, {failed}"
                ),
            ),
        ] {
            assert_eq!(marker.committed(), said, "{marker:?}");
        }
        // Kept by a rerun of the same direction only, and only where the table has the columns.
        let sql = StartedRun::keep_earlier_sql(&TrackingTable::default(), "002", "up");
        assert!(
            sql.contains("attname OPERATOR(pg_catalog.=) 'earlier_committed'"),
            "{sql}"
        );
        assert!(
            sql.contains("direction OPERATOR(pg_catalog.=) 'up'"),
            "{sql}"
        );
        let start =
            StartedRun::start_sql(&TrackingTable::default(), "002", "nt", "up", "abc", 2, true);
        assert!(start.contains(&sql), "{start}");
        let first = StartedRun::start_sql(
            &TrackingTable::default(),
            "002",
            "nt",
            "up",
            "abc",
            2,
            false,
        );
        assert!(!first.contains("earlier_committed ="), "{first}");
    }

    #[test]
    fn a_marker_made_again_keeps_what_earlier_runs_committed() {
        let table = TrackingTable::default();
        let restore = |kept: &MarkerKept| {
            StartedRun::restore_sql(&table, "002", "nt", "up", "abc", kept, 2, 3)
        };
        let kept = MarkerKept {
            started_at: Some("2026-12-07T10:00:00+00:00".to_string()),
            earlier_committed: 1,
            earlier_unsure: Some(2),
        };
        let sql = restore(&kept);
        assert!(
            sql.contains("SET earlier_committed = 1, earlier_unsure = 2"),
            "{sql}"
        );
        // Only where the table has the columns, as the start keeps them.
        assert!(
            sql.contains("attname OPERATOR(pg_catalog.=) 'earlier_committed'"),
            "{sql}"
        );
        assert!(sql.contains("'2026-12-07T10:00:00+00:00'"), "{sql}");
        let unsure_only = MarkerKept {
            earlier_committed: 0,
            ..kept
        };
        assert!(
            restore(&unsure_only).contains("SET earlier_committed = NULL, earlier_unsure = 2"),
            "{sql}"
        );
        assert!(!restore(&MarkerKept::default()).contains("earlier_committed ="));
    }

    #[test]
    fn where_a_run_stopped_is_written_only_where_the_markers_table_has_its_column() {
        let table = TrackingTable::default();
        let sql = StartedRun::stopped_after_sql(&table, "002", Some(2));
        assert!(
            sql.contains("attname OPERATOR(pg_catalog.=) 'stopped_after'"),
            "{sql}"
        );
        assert!(
            sql.contains("SET statement = 2, stopped_after = true"),
            "{sql}"
        );
        assert!(StartedRun::create_sql(&table).contains("stopped_after pg_catalog.bool"));
        // A run that replaces an earlier run's marker forgets where that one stopped.
        let start = StartedRun::start_sql(&table, "002", "nt", "up", "abc", 3, true);
        assert!(start.contains("SET stopped_after = NULL"), "{start}");
    }

    /// The Python tool's online runs its checkpoints say are unfinished: a stage not done
    /// (`running`, `failed`), or a run that died between two stages (no `contract` done in its
    /// last plan); never one recorded in the ledger (its version spelled otherwise included),
    /// nor one whose every stage is done (finished, or rolled back since).
    #[test]
    fn unfinished_online_runs_are_those_the_ledger_lacks_and_the_checkpoints_leave_open() {
        let step = |migration: &str, plan_index: i64, stage: &str, state: &str| Checkpoint {
            migration: migration.into(),
            plan_index,
            stage: stage.into(),
            state: state.into(),
        };
        let row = |version: &str| LedgerRow {
            version: version.into(),
            name: "n".into(),
            applied_at: "2026-01-01T00:00:00+00:00".into(),
            execution_time_ms: None,
            checksum: None,
            applied_by: None,
            slug: None,
            archived_into: None,
        };
        let checkpoints = [
            // Killed mid-backfill.
            step("002", 0, "expand", "done"),
            step("002", 0, "backfill", "running"),
            // Failed in its contract stage.
            step("003", 0, "expand", "done"),
            step("003", 0, "contract", "failed"),
            // Died between its first plan's contract and its second plan.
            step("004", 0, "expand", "done"),
            step("004", 0, "contract", "done"),
            step("004", 1, "expand", "done"),
            // Finished and rolled back since: every stage done, no row.
            step("005", 0, "expand", "done"),
            step("005", 0, "contract", "done"),
            // Recorded (as 0006): finished.
            step("006", 0, "expand", "running"),
        ];
        let unfinished = Checkpoint::unfinished_runs(&[row("0006")], &checkpoints);
        assert_eq!(
            unfinished,
            vec![
                UnfinishedOnlineRun {
                    version: "002".into(),
                    stages: vec!["backfill (running)".into()],
                },
                UnfinishedOnlineRun {
                    version: "003".into(),
                    stages: vec!["contract (failed)".into()],
                },
                UnfinishedOnlineRun {
                    version: "004".into(),
                    stages: vec![],
                },
            ]
        );
        let refusal = Checkpoint::refusal(&"public.tb_confiture", &unfinished);
        assert_eq!(refusal.kind, crate::ErrorKind::Diverged);
        assert!(refusal
            .message
            .contains("migrations 002, 003, 004 were started"));
        assert!(refusal.message.contains("public.tb_confiture_steps"));
        assert!(refusal
            .help
            .as_deref()
            .is_some_and(|h| h.contains("confiture migrate steps --resume 002")));
    }

    /// Where a moved ledger is, as the failing query of [`LedgerCheck::unless_moved`] writes it
    /// (each value hex-encoded by the server), is read back — a name with quotes, spaces and
    /// letters outside ASCII included; any other query is not [`LedgerCheck::Moved`]'s.
    #[test]
    fn a_moved_ledgers_new_place_is_read_back_from_its_check() {
        let hex = |t: &str| t.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        for (schema, name, renamed) in [
            ("archive", "tb_confiture", "t"),
            ("Old \"Public\" é", "tb'x", "s"),
        ] {
            let query = format!(
                "{}{SAID_OPENING}{}{SAID_SEPARATOR}{}{SAID_SEPARATOR}{}{SAID_CLOSING}",
                LedgerCheck::Moved.query(),
                hex(schema),
                hex(name),
                hex(renamed)
            );
            assert_eq!(LedgerCheck::of(&query), Some(LedgerCheck::Moved));
            assert_eq!(
                MovedLedger::of(&query),
                Some(MovedLedger {
                    now: TrackingTable::resolved(schema, name),
                    schema_renamed: renamed == "s",
                })
            );
        }
        for other in [
            LedgerCheck::Moved.query().to_string(),
            format!("{} FROM (SELECT 'zz') AS m", LedgerCheck::Moved.query()),
            "SELECT \"confiture: tracking table moved\" FROM t".to_string(),
        ] {
            assert_eq!(MovedLedger::of(&other), None, "{other}");
        }
    }

    /// The columns a migration gave another type, as the failing query of the check carries
    /// them (hex-encoded by the server, types with spaces and parentheses), are read back; the
    /// bare query of the check, and any other, say none.
    #[test]
    fn an_altered_ledgers_columns_are_read_back_from_its_check() {
        let hex = |t: &str| t.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        let query = format!(
            "{}{SAID_OPENING}{}{SAID_CLOSING}",
            LedgerCheck::Altered.query(),
            hex("version bigint; name character varying(10)")
        );
        assert_eq!(LedgerCheck::of(&query), Some(LedgerCheck::Altered));
        assert_eq!(
            AlteredLedger::of(&query),
            Some(AlteredLedger {
                columns: vec![
                    ("version".to_string(), "bigint".to_string()),
                    ("name".to_string(), "character varying(10)".to_string()),
                ]
            })
        );
        assert_eq!(
            LedgerCheck::of(LedgerCheck::Altered.query()),
            Some(LedgerCheck::Altered)
        );
        for other in [
            LedgerCheck::Altered.query().to_string(),
            format!(
                "{}{SAID_OPENING}zz{SAID_CLOSING}",
                LedgerCheck::Altered.query()
            ),
            format!(
                "{}{SAID_OPENING}{}{SAID_CLOSING}",
                LedgerCheck::Moved.query(),
                hex("x")
            ),
        ] {
            assert_eq!(AlteredLedger::of(&other), None, "{other}");
        }
    }

    /// The reason after a slug's time says how the row was written: ours and confiture
    /// (Python)'s, old slugs without the version, names that look like a time or a reason.
    #[test]
    fn a_slug_says_how_its_row_was_written() {
        for (slug, kind) in [
            ("initial_schema_001_20261125_170442", RowKind::Applied),
            ("initial_schema_20261125_170442", RowKind::Applied),
            ("data_002_20261125_170442_baseline", RowKind::Baseline),
            ("data_002_20261125_170442_reinit", RowKind::Reinit),
            ("data_002_20261125_170442_auto-baseline", RowKind::Baseline),
            (
                "data_002_20261125_170442_0003_baseline_from_db",
                RowKind::Baseline,
            ),
            ("data_20261125_170442_squashed", RowKind::Baseline),
            ("add_baseline_002_20261125_170442", RowKind::Applied),
            (
                "x_20260101_000000_reinit_002_20261125_170442",
                RowKind::Applied,
            ),
            (
                "x_20260101_000000_002_20261125_170442_reinit",
                RowKind::Reinit,
            ),
            ("made_by_hand", RowKind::Applied),
            ("again", RowKind::Applied),
            ("", RowKind::Applied),
            ("_20261125_17044_baseline", RowKind::Applied),
            ("é_002_20261125_170442_baseline", RowKind::Baseline),
        ] {
            assert_eq!(RowKind::of_slug(slug), kind, "{slug}");
        }
        // What precedes the time names the migration; a slug with no time has none.
        for (slug, stem) in [
            (
                "initial_schema_001_20261125_170442",
                Some("initial_schema_001"),
            ),
            ("data_20261125_170442_squashed", Some("data")),
            (
                "x_20260101_000000_002_20261125_170442_reinit",
                Some("x_20260101_000000_002"),
            ),
            ("made_by_hand", None),
            ("003_add_users", None),
        ] {
            assert_eq!(slug_stem(slug), stem, "{slug}");
        }
    }

    #[test]
    fn parses_plain_and_qualified_names() {
        assert_eq!(
            TrackingTable::parse("tb_confiture").unwrap().quoted(),
            "\"tb_confiture\""
        );
        assert_eq!(
            TrackingTable::parse("ops.tb_x").unwrap().quoted(),
            "\"ops\".\"tb_x\""
        );
    }

    #[test]
    fn rejects_a_name_whose_markers_table_would_be_cut_back_onto_it() {
        let fits = "t".repeat(55);
        assert!(TrackingTable::parse(&fits).is_ok());
        assert!(TrackingTable::parse(&format!("ops.{fits}")).is_ok());
        for long in [
            "t".repeat(56),
            "t".repeat(63),
            format!("{}.tb", "s".repeat(64)),
        ] {
            let err = TrackingTable::parse(&long).unwrap_err();
            assert!(err.message.contains("bytes long"), "{long}: {err}");
            assert!(err.help.as_deref().unwrap_or_default().contains("_started"));
        }
    }

    #[test]
    fn rejects_names_that_could_inject() {
        for bad in ["", "a b", "a\"b", "1abc", "a.b.c", "a;drop", ".a", "a."] {
            let err = TrackingTable::parse(bad).unwrap_err();
            assert!(
                err.message.contains("invalid tracking table name"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn reserved_keywords_are_sorted_for_binary_search() {
        assert!(RESERVED_KEYWORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_name_is_shown_quoted_only_where_sql_needs_it_and_always_quoted_in_sql() {
        let odd = TrackingTable::resolved("Odd \"Name\"", "tb_confiture");
        assert_eq!(odd.to_string(), "\"Odd \"\"Name\"\"\".tb_confiture");
        assert_eq!(odd.quoted(), "\"Odd \"\"Name\"\"\".\"tb_confiture\"");
        assert!(odd
            .create_schema_sql()
            .unwrap()
            .contains("CREATE SCHEMA \"Odd \"\"Name\"\"\";"));
        assert_eq!(quote_ident("select"), "\"select\"");
        assert_eq!(quote_ident("json_table"), "\"json_table\"");
        assert_eq!(quote_ident("tb_9"), "tb_9");
        assert_eq!(quote_ident("9tb"), "\"9tb\"");
    }

    #[test]
    fn literal_doubles_quotes() {
        assert_eq!(literal("o'brien"), "'o''brien'");
        assert_eq!(literal("'a''b'"), "'''a''''b'''");
        assert_eq!(literal(""), "''");
        let mut out = String::from("x");
        push_literal_text(&mut out, "é'");
        assert_eq!(out, "xé''");
    }

    #[test]
    fn a_rewrite_deletes_then_updates_then_inserts_addressing_rows_by_their_key() {
        let rewrite = Rewrite {
            delete: vec!["1".into()],
            update: vec![RowUpdate {
                key: "0001".into(),
                version: "001".into(),
                name: "o'brien".into(),
                checksum: "ab".into(),
            }],
            insert: vec![NewRow {
                version: "002".into(),
                name: "b".into(),
                checksum: "cd".into(),
                kind: RowKind::Reinit,
            }],
            markers: Vec::new(),
        };
        let sql = rewrite.sql(&TrackingTable::default());
        let delete = sql
            .find(
                "DELETE FROM \"tb_confiture\" WHERE ctid OPERATOR(pg_catalog.=) (SELECT ctid \
                 FROM \"tb_confiture\" WHERE version OPERATOR(pg_catalog.=) '1' ORDER BY \
                 pk_confiture DESC, applied_at DESC LIMIT 1) RETURNING 1) SELECT CASE WHEN \
                 (SELECT pg_catalog.count(*) FROM r) OPERATOR(pg_catalog.=) 1 THEN '' ELSE",
            )
            .unwrap();
        let update = sql
            .find("UPDATE \"tb_confiture\" SET version = '001', name = 'o''brien', checksum = 'ab' WHERE version OPERATOR(pg_catalog.=) '0001' RETURNING 1) SELECT CASE WHEN (SELECT pg_catalog.count(*) FROM r) OPERATOR(pg_catalog.>=) 1 THEN")
            .unwrap();
        let insert = sql.find("INSERT INTO").unwrap();
        assert!(
            sql.starts_with("BEGIN;") && sql.ends_with("COMMIT;"),
            "{sql}"
        );
        let written = sql
            .find(
                "SELECT CASE WHEN NOT EXISTS (SELECT FROM pg_catalog.unnest(ARRAY['001', \
                 '002']::pg_catalog.text[]) AS w(k) WHERE NOT EXISTS (SELECT FROM \
                 \"tb_confiture\" AS l WHERE l.version OPERATOR(pg_catalog.=) w.k)) THEN ''",
            )
            .unwrap();
        assert!(
            delete < update && update < insert && insert < written,
            "every row written is checked once all are: {sql}"
        );
        assert_eq!(
            sql.matches("confiture: tracking table row not written")
                .count(),
            4,
            "each statement checks its row: {sql}"
        );
        assert!(sql.contains("'_reinit'"), "{sql}");
        assert!(Rewrite::default().is_empty() && !rewrite.is_empty());
        let statements = rewrite.statements(&TrackingTable::default());
        assert!(!statements.contains("BEGIN;") && !statements.contains("COMMIT;"));
        assert_eq!(sql, format!("BEGIN;\n{statements}COMMIT;"));
        // The start markers of the versions recorded or forgotten go with the rows, when the
        // markers' table exists.
        assert!(
            statements.contains(
                "IF pg_catalog.to_regclass('\"tb_confiture_started\"') IS NOT NULL THEN \
                 DELETE FROM \"tb_confiture_started\" WHERE version OPERATOR(pg_catalog.=) \
                 ANY (ARRAY['002', '1']::pg_catalog.text[]);"
            ),
            "{statements}"
        );
    }

    /// D1: `reinit` of migrations renumbered in a swap (`002` now `003`, `003` now `002`) or a
    /// chain (`002` now `003`, `003` now `004`) updated a row to a version another row still
    /// had, which the `UNIQUE` column refuses; the row in the way moves aside first.
    #[test]
    fn a_rewrite_moves_a_row_in_the_way_of_another_aside_first() {
        let update = |key: &str, version: &str| RowUpdate {
            key: key.into(),
            version: version.into(),
            name: format!("to_{version}"),
            checksum: "ab".into(),
        };
        let swap = Rewrite {
            update: vec![
                update("002", "003"),
                update("003", "002"),
                update("4", "004"),
            ],
            ..Rewrite::default()
        };
        let sql = swap.statements(&TrackingTable::default());
        let at = |text: &str| {
            sql.find(text)
                .unwrap_or_else(|| panic!("no {text} in {sql}"))
        };
        let parked = [
            at("SET version = 'confiture-reinit-parked-0' WHERE version OPERATOR(pg_catalog.=) '002'"),
            at("SET version = 'confiture-reinit-parked-1' WHERE version OPERATOR(pg_catalog.=) '003'"),
        ];
        let moved = [
            at("SET version = '003', name = 'to_003', checksum = 'ab' WHERE version OPERATOR(pg_catalog.=) 'confiture-reinit-parked-0'"),
            at("SET version = '002', name = 'to_002', checksum = 'ab' WHERE version OPERATOR(pg_catalog.=) 'confiture-reinit-parked-1'"),
            at("SET version = '004', name = 'to_004', checksum = 'ab' WHERE version OPERATOR(pg_catalog.=) '4'"),
        ];
        assert!(parked.iter().all(|p| moved.iter().all(|m| p < m)), "{sql}");
        assert_eq!(sql.matches("parked").count(), 4, "{sql}");
        // A chain parks the one row in the way; nothing else moves aside.
        let chain = Rewrite {
            update: vec![update("002", "003"), update("003", "004")],
            ..Rewrite::default()
        };
        let sql = chain.statements(&TrackingTable::default());
        assert!(sql.contains("SET version = 'confiture-reinit-parked-1' WHERE version OPERATOR(pg_catalog.=) '003'"), "{sql}");
        assert_eq!(sql.matches("parked").count(), 2, "{sql}");
    }

    #[test]
    fn ddl_names_indexes_after_the_unqualified_table() {
        let ddl = TrackingTable::parse("ops.tb_mig").unwrap().create_sql();
        assert!(
            ddl.contains("\"idx_tb_mig_slug\" ON \"ops\".\"tb_mig\"(slug)"),
            "{ddl}"
        );
    }
}
