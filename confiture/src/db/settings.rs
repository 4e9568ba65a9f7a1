//! A database's own settings: `ALTER DATABASE <db> SET` (every role's) and, for the connecting
//! role, `ALTER ROLE <role> IN DATABASE <db> SET` — the rows of `pg_db_role_setting` that the
//! server applies when a session starts there. `verify` and `drift` read them from the target
//! ([`read`], [`read_with`]: in a `READ ONLY` transaction that is rolled back) and give them to
//! each scratch database before any session opens there ([`DatabaseSettings::copy_to`]), so
//! that migrations replayed there run under the target's `search_path`,
//! `check_function_bodies`, ...
//!
//! `default_transaction_read_only` is the exception: it guards the target, which verify and
//! drift never write; a scratch database is made to be written, and has it off
//! (`db::scratch`).
//!
//! Role-wide (`ALTER ROLE r SET`, `ALTER ROLE ALL SET`) and server settings are not copied:
//! they belong to the server the scratch database is on (the target's own, unless
//! `--scratch-url` names another).

use crate::config::Environment;
use crate::error::Result;
use crate::ledger::literal;

/// The settings of the target's `pg_db_role_setting` for its database (its role's, then every
/// role's), each as stored: `name=value`, in order of `setconfig`.
const SETTINGS_SQL: &str = "SELECT s.setrole OPERATOR(pg_catalog.<>) 0, c.setting \
     FROM pg_catalog.pg_db_role_setting s \
     CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) WITH ORDINALITY AS c(setting, n) \
     WHERE s.setdatabase OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d \
        WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) \
     AND (s.setrole OPERATOR(pg_catalog.=) 0 OR s.setrole OPERATOR(pg_catalog.=) \
        (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) SESSION_USER)) \
     ORDER BY 1, c.n";

/// The target database's encoding and locale, each as text, whatever the server's version: the
/// columns a version lacks (`datlocprovider` before 15, `daticulocale` 15–16, `datlocale` 17+,
/// `daticurules` 16+) read as null through the row's JSON.
const LOCALE_SQL: &str = "SELECT pg_catalog.pg_encoding_to_char(d.encoding)::pg_catalog.text, \
     d.datcollate::pg_catalog.text, d.datctype::pg_catalog.text, j OPERATOR(pg_catalog.->>) 'datlocprovider', \
     COALESCE(j OPERATOR(pg_catalog.->>) 'datlocale', j OPERATOR(pg_catalog.->>) 'daticulocale'), \
     j OPERATOR(pg_catalog.->>) 'daticurules' \
     FROM pg_catalog.pg_database d CROSS JOIN LATERAL pg_catalog.to_jsonb(d) AS j \
     WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()";

/// The settings that PostgreSQL stores as a list of quoted elements (`GUC_LIST_QUOTE`): the
/// list pg_dump keeps (`variable_is_guc_list_quote`). Their stored value is split into its
/// elements, each given as a literal, or `search_path = '"a", b'` would name one schema.
const LIST_QUOTE: [&str; 6] = [
    "local_preload_libraries",
    "search_path",
    "session_preload_libraries",
    "shared_preload_libraries",
    "temp_tablespaces",
    "unix_socket_directories",
];

/// One setting as `pg_db_role_setting` stores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Setting {
    /// The parameter's name (`search_path`, `app.tenant`).
    pub(crate) name: String,
    /// Its value as stored (`app, public`, `"My app", public`).
    pub(crate) value: String,
}

impl Setting {
    fn parse(stored: &str) -> Setting {
        let (name, value) = stored.split_once('=').unwrap_or((stored, ""));
        Setting {
            name: name.to_string(),
            value: value.to_string(),
        }
    }

    /// `"search_path" = 'My app', 'public'`: what follows `SET` in `ALTER DATABASE`, giving
    /// the same stored value back.
    fn sql(&self) -> String {
        let name = self
            .name
            .split('.')
            .map(super::scratch::quoted)
            .collect::<Vec<_>>()
            .join(".");
        let list = LIST_QUOTE
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&self.name));
        let value = match list.then(|| split_guc_list(&self.value)).flatten() {
            Some(elements) if !elements.is_empty() => elements
                .iter()
                .map(|e| literal(e))
                .collect::<Vec<_>>()
                .join(", "),
            _ => literal(&self.value),
        };
        format!("{name} = {value}")
    }
}

/// The elements of a stored list value, as PostgreSQL's `SplitGUCList` reads them: separated by
/// commas, each a double-quoted name (`""` for a quote) or a word without spaces; `None` when
/// it is not such a list.
fn split_guc_list(value: &str) -> Option<Vec<String>> {
    split_list(value).map(|elements| elements.into_iter().map(|(e, _)| e).collect())
}

/// The schemas a session whose `search_path` setting is `value` resolves names into, as
/// PostgreSQL reads it (`SplitIdentifierString`, then `"$user"` expanded): its elements, an
/// unquoted one folded to lower case (`App` is `app`) and cut to 63 bytes, `$user` (quoted or
/// not) the session's role `user` (`current_user`), whether each schema exists or not —
/// `current_schemas` lists only those that do, and a schema created later (a tenant's) takes
/// its place there. Empty when the value is no such list (the server would have refused it).
pub(crate) fn search_path_schemas(value: &str, user: &str) -> Vec<String> {
    let mut schemas: Vec<String> = Vec::new();
    for (element, quoted) in split_list(value).unwrap_or_default() {
        let mut schema = if quoted {
            element
        } else {
            element.to_ascii_lowercase()
        };
        if schema == "$user" {
            schema = user.to_string();
        }
        while schema.len() > crate::config::MAX_NAME_BYTES {
            schema.pop();
        }
        if !schema.is_empty() && !schemas.contains(&schema) {
            schemas.push(schema);
        }
    }
    schemas
}

/// `value`, a `search_path` setting whose `"$user"` is `user`, without the elements that name
/// `schema` ([`search_path_schemas`]' reading), as a `SET search_path = ...` gives it back: each
/// element an identifier ([`crate::ledger::quote_ident`]), `''` when none is left. What the
/// help of a tenant refused for being on the whole database's `search_path` sets it to.
pub(crate) fn search_path_without(value: &str, user: &str, schema: &str) -> String {
    search_path_sql(path_elements(value).filter(|element| {
        let named = if element == "$user" { user } else { element };
        named != schema
    }))
}

/// `value`, a `search_path` setting whose `"$user"` is `user`, without the system schemas
/// ([`crate::ledger::is_system_schema`]: `pg_catalog`, `pg_temp`, ...) named before `keep`, its
/// first schema that exists and is none — else without any, and with `public` at its end —,
/// as a `SET search_path = ...` gives it: what makes `CREATE TABLE` of an unqualified name
/// create in a schema of the user's. `pg_catalog` left out is still searched first, as it is
/// by every path that does not name it: nothing else resolves otherwise.
pub(crate) fn search_path_for_creation(value: &str, user: &str, keep: Option<&str>) -> String {
    let mut before_keep = true;
    let mut elements: Vec<String> = path_elements(value)
        .filter(|element| {
            let named = if element == "$user" { user } else { element };
            before_keep &= keep != Some(named);
            !(before_keep && crate::ledger::is_system_schema(named))
        })
        .collect();
    if keep.is_none() && !elements.iter().any(|element| element == "public") {
        elements.push("public".to_string());
    }
    search_path_sql(elements.into_iter())
}

/// `value`, a `search_path` setting, with `schema` added at its end, as a `SET search_path =
/// ...` gives it: what puts a schema back on a session's path.
pub(crate) fn search_path_with(value: &str, schema: &str) -> String {
    search_path_sql(path_elements(value).chain([schema.to_string()]))
}

/// The names of a `search_path` setting's elements, as the server reads them (an unquoted
/// one folded to lower case), `$user` kept; none empty.
fn path_elements(value: &str) -> impl Iterator<Item = String> {
    split_list(value)
        .unwrap_or_default()
        .into_iter()
        .map(|(element, quoted)| {
            if quoted {
                element
            } else {
                element.to_ascii_lowercase()
            }
        })
        .filter(|element| !element.is_empty())
}

/// Schema names as the value of a `SET search_path = ...`: each an identifier
/// ([`crate::ledger::quote_ident`]: `"$user"`, `"Tenant_A"`), `''` for none.
fn search_path_sql(elements: impl Iterator<Item = String>) -> String {
    let elements: Vec<String> = elements
        .map(|element| crate::ledger::quote_ident(&element).into_owned())
        .collect();
    if elements.is_empty() {
        "''".to_string()
    } else {
        elements.join(", ")
    }
}

/// Where a session's setting comes from, as the server says (`pg_settings.source`), with the
/// session's database and login role (`SESSION_USER`, whose settings the server applied):
/// what [`lift`] needs to name the one `ALTER` (or the connection's options) that changes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SettingOrigin {
    /// `pg_settings.source`: `default`, `database`, `user`, `database user`, `client`,
    /// `configuration file`, ...
    pub(crate) source: String,
    /// `current_database()`.
    pub(crate) database: String,
    /// `SESSION_USER`.
    pub(crate) role: String,
    /// The server or a pooler in front of it refused the session's startup options, and it
    /// was opened without them ([`crate::db::connect::Reached::without_options`]): the setting
    /// the tool sets there (`-c standard_conforming_strings=on`) never reached the server, and
    /// [`lift`] says so rather than "unless the connection says otherwise".
    pub(crate) startup_options_refused: bool,
}

impl SettingOrigin {
    /// The setting comes from the connection's own startup options (`options=-c ...`): a
    /// change there reaches this tool's sessions alone, never the applications' (the
    /// database's, a role's or the server's setting does).
    pub(crate) fn is_the_connections_own(&self) -> bool {
        self.source == "client" && !self.startup_options_refused
    }

    /// The three columns of [`SettingOrigin`] for `setting` (a literal name), in a query's
    /// select list, in order: read them with [`SettingOrigin::from_row`].
    pub(crate) fn columns(setting: &str) -> String {
        format!(
            "(SELECT s.source FROM pg_catalog.pg_settings s \
             WHERE s.name OPERATOR(pg_catalog.=) {}), \
             CAST(pg_catalog.current_database() AS pg_catalog.text), \
             CAST(SESSION_USER AS pg_catalog.text)",
            literal(setting)
        )
    }

    /// The three columns [`SettingOrigin::columns`] selected, from `first` on, as text
    /// (a missing value empty).
    pub(crate) fn from_row(get: impl Fn(usize) -> Option<String>, first: usize) -> Self {
        SettingOrigin {
            source: get(first).unwrap_or_default(),
            database: get(first + 1).unwrap_or_default(),
            role: get(first + 2).unwrap_or_default(),
            startup_options_refused: false,
        }
    }
}

/// The `search_path` a session of a database that does not exist yet will have, asked of a
/// session of the same role on another database of the server (the maintenance session of
/// `--create-database`): `None` when that session's own is it — set by the connection's
/// options or for the role everywhere, or the server's — else the value and the source
/// ([`SettingOrigin::source`]) it will have there. A new database has no settings of its own
/// (`pg_db_role_setting` rows are per database, and `CREATE DATABASE` copies none), so the
/// maintenance database's (`ALTER DATABASE postgres SET`, `ALTER ROLE r IN DATABASE postgres
/// SET`) are not the new one's: under them, the role's own for every database (`ALTER ROLE r
/// SET`), else every role's (`ALTER ROLE ALL SET`), else the server's configuration
/// (`pg_file_settings`, where this role may read it), else the server's built-in default.
pub(crate) fn search_path_in_new_database(
    client: &mut impl postgres::GenericClient,
) -> std::result::Result<Option<(String, &'static str)>, postgres::Error> {
    // `search_path` as `pg_db_role_setting` stores it for the role `role` (an SQL expression
    // of its OID; `0`: `ALTER ROLE ALL`) in every database, NULL when it has none.
    let role_setting = |role: &str| {
        format!(
            "(SELECT pg_catalog.substr(c.setting, \
             pg_catalog.strpos(c.setting, '=') OPERATOR(pg_catalog.+) 1) \
             FROM pg_catalog.pg_db_role_setting d \
             CROSS JOIN LATERAL pg_catalog.unnest(d.setconfig) AS c(setting) \
             WHERE d.setdatabase OPERATOR(pg_catalog.=) 0 \
             AND d.setrole OPERATOR(pg_catalog.=) {role} \
             AND pg_catalog.split_part(c.setting, '=', 1) OPERATOR(pg_catalog.=) 'search_path')"
        )
    };
    let sql = format!(
        "SELECT s.source, s.boot_val, \
         pg_catalog.has_function_privilege('pg_catalog.pg_show_all_file_settings()', 'EXECUTE'), \
         {role}, {all} \
         FROM pg_catalog.pg_settings s WHERE s.name OPERATOR(pg_catalog.=) 'search_path'",
        role = role_setting(
            "(SELECT r.oid FROM pg_catalog.pg_roles r \
             WHERE r.rolname OPERATOR(pg_catalog.=) SESSION_USER)"
        ),
        all = role_setting("0"),
    );
    let row = client.query_one(&sql, &[])?;
    let source: String = row.get(0);
    if source != "database" && source != "database user" {
        return Ok(None);
    }
    if let Some(role) = row.get::<_, Option<String>>(3) {
        return Ok(Some((role, "user")));
    }
    // `ALTER ROLE ALL SET`: every role's, in every database.
    if let Some(all) = row.get::<_, Option<String>>(4) {
        return Ok(Some((all, "global")));
    }
    let boot: String = row.get(1);
    if row.get::<_, bool>(2) {
        // The file's last applied line wins, `postgresql.auto.conf` (ALTER SYSTEM) included.
        let file = client.query_opt(
            "SELECT f.setting FROM pg_catalog.pg_file_settings f \
             WHERE f.name OPERATOR(pg_catalog.=) 'search_path' AND f.applied \
             ORDER BY f.seqno DESC LIMIT 1",
            &[],
        )?;
        if let Some(file) = file {
            return Ok(Some((file.get(0), "configuration file")));
        }
    }
    Ok(Some((boot, "default")))
}

/// Where `setting` of a session comes from ([`SettingOrigin`]) and the command that sets it to
/// `value` there: `ALTER ROLE` for a role's setting, which wins over the database's (`ALTER
/// DATABASE` would change nothing), `... IN DATABASE` for the role's in that database,
/// `ALTER ROLE ALL` for every role's, the
/// connection's options in `source` (where the connection settings come from: `--database-url`,
/// `environment file ...`) for its startup options — which the tool takes only from there,
/// never from `PGOPTIONS` —, written as `connection` writes them with the setting at `value`
/// ([`ConnectionSpec::options_setting`](crate::config::ConnectionSpec): removed, the setting
/// would fall back to the role's or database's, not to `value`; `connection` `None`, the
/// switch alone), `ALTER DATABASE` for the server's default. Names are quoted by
/// [`crate::ledger::quote_ident`]. The one owner of that wording: the read-only and
/// `standard_conforming_strings` refusals (`db::writable`) and the `search_path` helps of a
/// tenant, of a ledger off the path and of one with nowhere to be created say it.
pub(crate) fn lift(
    setting: &str,
    value: &str,
    origin: &SettingOrigin,
    source: &str,
    connection: Option<&crate::config::ConnectionSpec>,
) -> String {
    use crate::ledger::quote_ident;
    let set = format!("SET {setting} = {value}");
    let (database, role) = (quote_ident(&origin.database), quote_ident(&origin.role));
    // Pasted into a session of that database or role, the `ALTER` runs in a transaction the
    // setting made read-only ("cannot execute ALTER DATABASE in a read-only transaction"):
    // one that says `READ WRITE` runs it there too, and anywhere else alike.
    let writable = |alter: String| {
        if setting == "default_transaction_read_only" {
            format!("BEGIN READ WRITE; {alter}; COMMIT;")
        } else {
            alter
        }
    };
    if origin.startup_options_refused {
        // The tool's own `-c` never reached the server: changing the database's setting (every
        // application's) is not the fix, nor is the connection's options, dropped alike. A
        // role's setting is taken by sessions that start after it: a pooler's server sessions,
        // opened before, keep the old value until it opens new ones.
        return format!(
            "the server, or a pooler in front of it (PgBouncer refuses the `options` startup \
             parameter unless its ignore_startup_parameters lists it), refused the tool's startup \
             options, which set {setting} = {value} for its sessions, and the session was opened \
             without them; connect to the server directly, or set it for the role {role} alone \
             in this database, then have the pooler open new server sessions, which start with \
             it (PgBouncer: `RECONNECT` on its admin console; those open already keep the old \
             value): {}",
            writable(format!("ALTER ROLE {role} IN DATABASE {database} {set}"))
        );
    }
    match origin.source.as_str() {
        "database" => format!(
            "it is set for the database: {}",
            writable(format!("ALTER DATABASE {database} {set}"))
        ),
        "user" => format!(
            "it is set for the role {role}: {}",
            writable(format!("ALTER ROLE {role} {set}"))
        ),
        "database user" => format!(
            "it is set for the role {role} in this database: {}",
            writable(format!("ALTER ROLE {role} IN DATABASE {database} {set}"))
        ),
        "global" => format!(
            "it is set for every role: {}",
            writable(format!("ALTER ROLE ALL {set}"))
        ),
        "client" => {
            let options = match connection {
                Some(connection) => {
                    crate::display::escape(&connection.options_setting(setting, value)).into_owned()
                }
                None => format!("-c {setting}={value}"),
            };
            format!(
                "it is set by the connection's options (`options=-c {setting}=...` in \
                 {source}): write `{options}` there"
            )
        }
        "configuration file" => format!(
            "it is set in the server's configuration file: ALTER SYSTEM {set} and {}, or \
             edit postgresql.conf",
            super::pasted::RELOAD_CONFIGURATION
        ),
        "default" => format!(
            "it is the server's default: give the database its own, ALTER DATABASE {database} \
             {set}"
        ),
        other => format!(
            "{setting} comes from {}; {set} where it is set",
            crate::display::escape(if other.is_empty() {
                "an unknown source"
            } else {
                other
            })
        ),
    }
}

/// [`split_guc_list`], each element with whether it was double-quoted.
fn split_list(value: &str) -> Option<Vec<(String, bool)>> {
    let mut elements = Vec::new();
    let mut rest = value.trim_start();
    if rest.is_empty() {
        return Some(elements);
    }
    loop {
        let element;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut text = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') if quoted[i + 1..].starts_with('"') => {
                        text.push('"');
                        chars.next();
                    }
                    (i, '"') => break i + 1,
                    (_, c) => text.push(c),
                }
            };
            element = (text, true);
            rest = &quoted[end..];
        } else {
            let end = rest
                .find(|c: char| c == ',' || c.is_ascii_whitespace())
                .unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            element = (rest[..end].to_string(), false);
            rest = &rest[end..];
        }
        elements.push(element);
        rest = rest.trim_start();
        match rest.strip_prefix(',') {
            Some(next) => rest = next.trim_start(),
            None if rest.is_empty() => return Some(elements),
            None => return None,
        }
    }
}

/// What every session of the target's database starts with, beyond the server's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct DatabaseSettings {
    /// `ALTER DATABASE <db> SET`: every role's.
    pub(crate) database: Vec<Setting>,
    /// `ALTER ROLE <connecting role> IN DATABASE <db> SET`, over those.
    pub(crate) role: Vec<Setting>,
    /// The database's encoding and locale, which a scratch database is created with
    /// (`db::scratch`); `None` when not read.
    pub(crate) locale: Option<Locale>,
}

/// A database's encoding and locale, as `pg_database` has them: what `CREATE DATABASE` is
/// given to make another like it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Locale {
    /// `UTF8`, `LATIN1`.
    pub(crate) encoding: String,
    /// `LC_COLLATE`.
    pub(crate) collate: String,
    /// `LC_CTYPE`.
    pub(crate) ctype: String,
    /// `datlocprovider` (PostgreSQL 15+): `c` libc, `i` ICU, `b` builtin (17+).
    pub(crate) provider: Option<String>,
    /// The ICU or builtin locale of that provider.
    pub(crate) provider_locale: Option<String>,
    /// `ICU_RULES` (PostgreSQL 16+).
    pub(crate) icu_rules: Option<String>,
}

impl Locale {
    /// What follows `CREATE DATABASE <name>` to make a database of this encoding and locale:
    /// `TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'`, and the locale
    /// provider with its locale when the server has one (`template0`: a template with another
    /// encoding or locale cannot be copied otherwise).
    pub(crate) fn create_options(&self) -> String {
        let mut sql = format!(
            "TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
            literal(&self.encoding),
            literal(&self.collate),
            literal(&self.ctype)
        );
        let provider = match self.provider.as_deref() {
            Some("c") => Some(("libc", None)),
            Some("i") => Some(("icu", Some("ICU_LOCALE"))),
            Some("b") => Some(("builtin", Some("BUILTIN_LOCALE"))),
            _ => None,
        };
        if let Some((name, locale_option)) = provider {
            sql.push_str(&format!(" LOCALE_PROVIDER {name}"));
            if let (Some(option), Some(locale)) = (locale_option, &self.provider_locale) {
                sql.push_str(&format!(" {option} {}", literal(locale)));
            }
            if let (Some("icu"), Some(rules)) = (Some(name), &self.icu_rules) {
                sql.push_str(&format!(" ICU_RULES {}", literal(rules)));
            }
        }
        sql
    }

    /// `ENCODING 'LATIN1', LC_COLLATE 'C', LC_CTYPE 'C'`, and its locale provider: for a warning.
    pub(crate) fn describe(&self) -> String {
        let mut text = format!(
            "ENCODING {}, LC_COLLATE {}, LC_CTYPE {}",
            self.encoding, self.collate, self.ctype
        );
        if let Some(locale) = &self.provider_locale {
            text.push_str(&format!(", locale {locale}"));
        }
        text
    }
}

/// A setting a scratch database could not be given: `log_statement` for a role that is not a
/// superuser, a parameter the scratch server does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotCopied {
    /// The parameter's name.
    pub(crate) name: String,
    /// Whether it was the connecting role's (`ALTER ROLE ... IN DATABASE`).
    pub(crate) for_role: bool,
    /// The server's refusal (message and SQLSTATE).
    pub(crate) cause: String,
}

impl NotCopied {
    /// The warning a report carries: `the scratch database does not have the setting
    /// log_statement of app@db:5432/app (ALTER DATABASE ... SET): permission denied ...`.
    pub(crate) fn warning(&self, target: &str) -> String {
        let how = if self.for_role {
            "ALTER ROLE ... IN DATABASE ... SET"
        } else {
            "ALTER DATABASE ... SET"
        };
        format!(
            "the scratch database does not have the setting {} of {target} ({how}): {}; \
             migrations run there without it",
            self.name, self.cause
        )
    }
}

impl DatabaseSettings {
    /// Whether there is no setting to copy (the locale is given at creation).
    pub(crate) fn is_empty(&self) -> bool {
        self.database.is_empty() && self.role.is_empty()
    }

    /// Gives these settings to the database `env` names (a scratch database no session has
    /// opened yet: they apply from the next session on), the role ones to the role connecting.
    /// Each is set on its own; one the server refuses is returned, the others are set.
    pub(crate) fn copy_to(&self, env: &Environment) -> Result<Vec<NotCopied>> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = super::connect(env)?;
        let what = || format!("cannot copy the target's settings to {}", env.connection);
        // The literals double their quotes only; the server's own or a role's setting may
        // have turned this off for the session.
        client
            .batch_execute("SET standard_conforming_strings = on")
            .map_err(|e| super::query_error(&what(), e))?;
        let database = super::scratch::quoted(&env.connection.dbname);
        let mut refused = Vec::new();
        let all = self.database.iter().map(|s| (s, false));
        let mut as_login_role = false;
        for (setting, for_role) in all.chain(self.role.iter().map(|s| (s, true))) {
            if setting
                .name
                .eq_ignore_ascii_case(super::scratch::READ_ONLY_SETTING)
            {
                // It guards the target; the scratch database is there to be written, and
                // `Scratch::create` has turned it off for this role there.
                continue;
            }
            let sql = if for_role {
                // The login role's settings (a session starts with them), which only it may
                // change, whatever role the connection's options make the session's (`-c
                // role=owner`); the database's, before, as the session's role, its owner.
                let login = if as_login_role { "" } else { "SET ROLE NONE; " };
                format!(
                    "{login}ALTER ROLE SESSION_USER IN DATABASE {database} SET {}",
                    setting.sql()
                )
            } else {
                format!("ALTER DATABASE {database} SET {}", setting.sql())
            };
            match client.batch_execute(&sql) {
                // A refused statement rolled back the `SET ROLE` of its message.
                Ok(()) => as_login_role |= for_role,
                Err(e) if super::is_connection_lost(&e) => {
                    return Err(super::query_error(&what(), e));
                }
                Err(e) => refused.push(NotCopied {
                    name: setting.name.clone(),
                    for_role,
                    cause: super::cause_text(&e),
                }),
            }
        }
        Ok(refused)
    }
}

/// The settings of `env`'s database for its role, read on a session of its own; `None` when
/// the database does not exist.
pub(crate) fn read(env: &Environment) -> Result<Option<DatabaseSettings>> {
    match super::connect::connect_if_exists(env)? {
        Some(mut client) => read_with(&mut client, env).map(Some),
        None => Ok(None),
    }
}

/// The settings of the database `client` is connected to (`env`'s), for its session's role.
pub(crate) fn read_with(
    client: &mut postgres::Client,
    env: &Environment,
) -> Result<DatabaseSettings> {
    let read = |tx: &mut postgres::Transaction<'_>| {
        Ok((tx.query(SETTINGS_SQL, &[])?, tx.query_opt(LOCALE_SQL, &[])?))
    };
    let (rows, locale) = read_only(client, read).map_err(|e| {
        super::query_error(
            &format!("cannot read the database settings of {}", env.connection),
            e,
        )
    })?;
    let mut settings = DatabaseSettings {
        locale: locale.map(|row| Locale {
            encoding: row.get(0),
            collate: row.get(1),
            ctype: row.get(2),
            provider: row.get(3),
            provider_locale: row.get(4),
            icu_rules: row.get(5),
        }),
        ..DatabaseSettings::default()
    };
    for row in rows {
        let setting = Setting::parse(row.get(1));
        if row.get::<_, bool>(0) {
            settings.role.push(setting);
        } else {
            settings.database.push(setting);
        }
    }
    Ok(settings)
}

/// Runs `read` in a `READ ONLY` transaction that is then rolled back: nothing it sends can
/// write the database, and the database's `statement_timeout` does not bound it.
pub(crate) fn read_only<T>(
    client: &mut postgres::Client,
    read: impl FnOnce(&mut postgres::Transaction<'_>) -> std::result::Result<T, postgres::Error>,
) -> std::result::Result<T, postgres::Error> {
    let mut tx = read_only_transaction(client)?;
    // The tool's own read: not cut by the database's `statement_timeout`.
    tx.batch_execute(&crate::db::own_read_bounds())?;
    let result = read(&mut tx);
    // Dropping the transaction rolls it back.
    drop(tx);
    result
}

/// Starts one of the tool's own read-only transactions (this module's reads, a fleet's
/// targets and schemas queries): `REPEATABLE READ READ ONLY NOT DEFERRABLE`, whatever the
/// session's defaults. A database whose transactions default to `SERIALIZABLE` and
/// `DEFERRABLE` would make a `READ ONLY` one wait for a safe snapshot until every serializable
/// transaction that writes has ended — for as long as a writer stays open, and no lock timeout
/// ends that wait. The tool's reads need one snapshot, not serializability.
pub(crate) fn read_only_transaction(
    client: &mut postgres::Client,
) -> std::result::Result<postgres::Transaction<'_>, postgres::Error> {
    client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .deferrable(false)
        .start()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(stored: &str) -> String {
        Setting::parse(stored).sql()
    }

    /// The schemas a whole-database session resolves names into, whether they exist or not:
    /// `"$user"` is the role, an unquoted name is folded as the server folds it.
    #[test]
    fn a_search_path_is_read_as_the_server_reads_it() {
        assert_eq!(
            search_path_schemas("\"$user\", public", "app"),
            ["app", "public"]
        );
        assert_eq!(
            search_path_schemas("App, \"Tenant_A\", $user, \"My \"\"x\"\"\", public", "Ops"),
            ["app", "Tenant_A", "Ops", "My \"x\"", "public"]
        );
        assert_eq!(search_path_schemas("\"\"", "app"), Vec::<String>::new());
        assert_eq!(search_path_schemas("", "app"), Vec::<String>::new());
        let long = "a".repeat(70);
        assert_eq!(search_path_schemas(&long, "app"), ["a".repeat(63)]);
    }

    /// The path a help sets: each element an identifier that reads back as the server read
    /// it (`$user` and a folded name quoted where needed), the schema taken off (as
    /// `"$user"` too when the role is that schema) or put at the end, `''` for none left.
    #[test]
    fn a_search_path_for_creation_leaves_out_the_system_schemas_before_a_users() {
        let user = "app";
        let creation =
            |value: &str, keep: Option<&str>| search_path_for_creation(value, user, keep);
        assert_eq!(creation("pg_catalog, public", Some("public")), "public");
        assert_eq!(
            creation("pg_temp, \"$user\", pg_toast, Ops, pg_catalog", Some("ops")),
            "\"$user\", ops, pg_catalog"
        );
        assert_eq!(
            creation("missing, pg_catalog, \"$user\"", Some("app")),
            "missing, \"$user\""
        );
        assert_eq!(creation("pg_catalog", None), "public");
        assert_eq!(creation("\"\"", None), "public");
        assert_eq!(creation("missing", None), "missing, public");
    }

    #[test]
    fn a_search_path_is_given_back_without_or_with_a_schema() {
        assert_eq!(
            search_path_without("tenant_a,public", "app", "tenant_a"),
            "public"
        );
        assert_eq!(
            search_path_without("$user, \"Tenant_A\", Public", "app", "public"),
            "\"$user\", \"Tenant_A\""
        );
        assert_eq!(
            search_path_without("\"$user\", public", "tenant_a", "tenant_a"),
            "public"
        );
        assert_eq!(search_path_without("Tenant_A", "app", "tenant_a"), "''");
        assert_eq!(
            search_path_with("\"$user\", public", "ops"),
            "\"$user\", public, ops"
        );
        assert_eq!(search_path_with("", "Ops"), "\"Ops\"");
    }

    #[test]
    fn a_list_setting_gives_each_element_as_a_literal() {
        assert_eq!(
            sql("search_path=app, public"),
            "\"search_path\" = 'app', 'public'"
        );
        assert_eq!(
            sql("search_path=\"My \"\"app\"\"\", \"$user\", public"),
            "\"search_path\" = 'My \"app\"', '$user', 'public'"
        );
        assert_eq!(sql("search_path=\"\""), "\"search_path\" = ''");
        assert_eq!(
            sql("temp_tablespaces=\"it's\""),
            "\"temp_tablespaces\" = 'it''s'"
        );
    }

    #[test]
    fn another_setting_is_one_literal_and_a_dotted_name_is_quoted_by_part() {
        assert_eq!(
            sql("check_function_bodies=off"),
            "\"check_function_bodies\" = 'off'"
        );
        assert_eq!(sql("DateStyle=ISO, MDY"), "\"DateStyle\" = 'ISO, MDY'");
        assert_eq!(
            sql("app.note=it's a \\ value"),
            "\"app\".\"note\" = 'it''s a \\ value'"
        );
        assert_eq!(sql("app.x=a=b"), "\"app\".\"x\" = 'a=b'");
    }

    #[test]
    fn a_scratch_database_is_created_from_template0_with_the_locale_and_its_provider() {
        let mut locale = Locale {
            encoding: "LATIN1".into(),
            collate: "C".into(),
            ctype: "it's".into(),
            provider: None,
            provider_locale: None,
            icu_rules: None,
        };
        assert_eq!(
            locale.create_options(),
            "TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'it''s'"
        );
        locale.provider = Some("c".into());
        assert!(locale.create_options().ends_with(" LOCALE_PROVIDER libc"));
        locale.provider = Some("i".into());
        locale.provider_locale = Some("de-DE".into());
        locale.icu_rules = Some("&a < b".into());
        assert!(locale
            .create_options()
            .ends_with(" LOCALE_PROVIDER icu ICU_LOCALE 'de-DE' ICU_RULES '&a < b'"));
        locale.provider = Some("b".into());
        locale.provider_locale = Some("C.UTF-8".into());
        assert!(locale
            .create_options()
            .ends_with(" LOCALE_PROVIDER builtin BUILTIN_LOCALE 'C.UTF-8'"));
    }

    #[test]
    fn a_value_that_is_not_a_list_is_given_whole() {
        assert_eq!(split_guc_list("\"open"), None);
        assert_eq!(split_guc_list("a b"), None);
        assert_eq!(split_guc_list(""), Some(vec![]));
        assert_eq!(
            split_guc_list(" a ,\"b,c\" "),
            Some(vec!["a".to_string(), "b,c".to_string()])
        );
        assert_eq!(sql("search_path=\"open"), "\"search_path\" = '\"open'");
    }

    fn origin(source: &str) -> SettingOrigin {
        SettingOrigin {
            source: source.to_string(),
            database: "app db".to_string(),
            role: "deploy".to_string(),
            startup_options_refused: false,
        }
    }

    /// A session opened again without its startup options (a pooler that refuses `options`)
    /// has none of the tool's own settings: whatever set the database's value, the help says
    /// that the startup options were refused, and gives the command for the connecting role in
    /// that database alone — never `ALTER DATABASE`, every application's setting, nor "unless
    /// the connection says otherwise".
    #[test]
    fn a_setting_the_startup_options_would_have_set_says_they_were_refused() {
        for source in ["database", "user", "database user", "default", "global"] {
            let help = lift(
                "standard_conforming_strings",
                "on",
                &SettingOrigin {
                    startup_options_refused: true,
                    ..origin(source)
                },
                "--database-url",
                None,
            );
            assert!(
                help.contains("refused the tool's startup options"),
                "{help}"
            );
            assert!(help.contains("connect to the server directly"), "{help}");
            assert!(help.contains("open new server sessions"), "{help}");
            assert!(help.contains("`RECONNECT`"), "{help}");
            assert!(
                help.ends_with(
                    "ALTER ROLE deploy IN DATABASE \"app db\" SET standard_conforming_strings = on"
                ),
                "{help}"
            );
            assert!(!help.contains("ALTER DATABASE"), "{help}");
        }
    }

    /// A setting of the connection's options was "remove it there": removed, the session
    /// falls back to the role's or the database's value, not to the one the help proposes.
    /// The help writes the options with the value, as the user's connection string writes
    /// them (here a URL's, percent-encoded, its other option kept).
    #[test]
    fn a_setting_of_the_connections_options_is_given_its_value_there() {
        let spec = crate::config::ConnectionSpec::parse(
            "postgresql://u:secret@h/db?options=-c%20work_mem%3D64MB%20-csearch_path%3Dnowhere",
        )
        .unwrap();
        let help = lift(
            "search_path",
            "public",
            &origin("client"),
            "--database-url",
            Some(&spec),
        );
        assert_eq!(
            help,
            "it is set by the connection's options (`options=-c search_path=...` in \
             --database-url): write `options=-c%20work_mem%3D64MB%20-csearch_path%3Dpublic` there"
        );
        assert!(!help.contains("secret"), "{help}");
    }

    /// The help of an unqualified tracking table with nowhere to be created, when the server
    /// cannot be asked where the `search_path` is set, names every place with the command
    /// [`lift`] gives there: consistent whatever set the path, never `ALTER DATABASE` alone
    /// (a role's setting wins over it).
    #[test]
    fn the_help_of_a_search_path_set_anywhere_gives_lifts_command_for_each_place() {
        let help = crate::ledger::no_schema_help(Some("app db")).replace("<role>", "deploy");
        for source in ["database user", "user", "database", "global", "client"] {
            let lifted = lift("search_path", "public", &origin(source), "FROM", None);
            let command = lifted
                .rsplit_once(": ")
                .map(|(_, command)| {
                    command
                        .trim_start_matches("write `")
                        .trim_end_matches("` there")
                })
                .unwrap();
            assert!(help.contains(command), "{source}: {command} not in {help}");
        }
        let places = [
            "options",
            "IN DATABASE",
            "ALTER ROLE deploy SET",
            "ALTER DATABASE",
            "ALL",
        ];
        let at: Vec<usize> = places.iter().map(|p| help.find(p).unwrap()).collect();
        assert!(
            at.windows(2).all(|w| w[0] < w[1]),
            "in the server's order: {help}"
        );
    }
}
