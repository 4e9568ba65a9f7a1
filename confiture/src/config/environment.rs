//! `Environment`: a resolved database and the settings used with it, and where it came from.

use std::path::PathBuf;
use std::time::Duration;

use super::connection::{connection_help, ConnectionSpec, DEFAULT_APPLICATION_NAME};
use super::display_path;
use super::syntax::parse_spec;
use crate::error::{Error, Result};
use crate::ledger::TrackingTable;

/// Whether `name` can name an environment, the file `<name>.yaml` of the environments
/// directory: not empty, not hidden, no path separator (`--env ../x` never reads outside the
/// directory), no `.yaml` or `.yml` of its own. The one rule for `--env` and for `default_env`
/// in the Cargo.toml settings.
pub(crate) fn is_environment_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && !name.ends_with(".yaml")
        && !name.ends_with(".yml")
}

/// The environment a file name given for its name means (`prod` for `prod.yaml` or
/// `prod.yml`), when that is a name.
pub(crate) fn environment_of_file_name(name: &str) -> Option<&str> {
    (name
        .strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml")))
    .filter(|stem| is_environment_name(stem))
}

/// The `migration:` block of an environment file, with defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationSettings {
    /// The ledger table (`migration.tracking_table`; default `tb_confiture`).
    pub tracking_table: TrackingTable,
    /// `SET LOCAL lock_timeout` for migration SQL; default 5 s; zero disables.
    pub lock_timeout: Duration,
    /// `SET LOCAL statement_timeout` for migration SQL; `None` = server default.
    pub statement_timeout: Option<Duration>,
    /// Connect timeout, covering DNS, TCP, TLS and authentication; default 10 s; zero waits forever.
    pub connect_timeout: Duration,
    /// How long a connection waits for a server that is not accepting connections yet
    /// (`migration.wait_for_server`, the CLI's `--wait-for-server`): refused, no socket yet,
    /// starting up, shutting down, in recovery before it accepts connections, or no answer
    /// within `connect_timeout`. Tried again until then, every
    /// few hundred milliseconds; default zero: the first refusal is the error. For a server
    /// started beside the command (a container, a CI service). Any other refusal (the
    /// password, a database that does not exist) is never waited out.
    pub wait_for_server: Duration,
    /// How often a transactional migration failing with SQLSTATE 55P03 is retried; default 3.
    pub lock_retries: u32,
    /// The tenant schema of a schema-per-tenant fleet target (`crate::fleet::Target::schema`):
    /// the migration lock is that tenant's (`crate::db::lock`), not the whole database's.
    /// Never read from an environment file.
    pub tenant_schema: Option<String>,
}

impl Default for MigrationSettings {
    fn default() -> Self {
        MigrationSettings {
            tracking_table: TrackingTable::default(),
            lock_timeout: Duration::from_secs(5),
            statement_timeout: None,
            connect_timeout: Duration::from_secs(10),
            wait_for_server: Duration::ZERO,
            lock_retries: 3,
            tenant_schema: None,
        }
    }
}

/// How the database was chosen (the precedence rules, in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// [`Selection::Url`] (the CLI's `--database-url`)
    Url,
    /// [`Selection::Env`] (`--env NAME`)
    Env,
    /// [`Selection::File`] (`-c FILE`)
    File,
    /// `CONFITURE_DATABASE_URL`
    ConfitureDatabaseUrl,
    /// the default environment file (`default_env`, `local`)
    DefaultEnv,
    /// `DATABASE_URL`
    DatabaseUrl,
    /// `DATABASE_URL` in the `.env` file of the workspace root
    DotEnv,
}

/// Who built an environment: what a help tells its user to change a setting with
/// ([`Environment::set_in_file`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum BuiltBy {
    /// A program, through the library (`Environment::from_url`, `Migrator::from_url`, the
    /// library's labels, `Labels::LIBRARY`): it has no flag, and gives an environment file to
    /// `Migrator::from_config`, or sets the environment's `MigrationSettings` itself.
    #[default]
    Library,
    /// A command line, resolved with its own labels (`config::resolve_with`): the flag that
    /// gives an environment file (`-c`).
    #[cfg_attr(not(feature = "env-files"), allow(dead_code))]
    Flags(String),
}

/// A resolved environment: the database and the settings to use with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// The environment's name (`staging`), or a label for URL origins (`--database-url`).
    pub name: String,
    /// The environment file read, if any.
    pub file: Option<PathBuf>,
    /// Where the connection settings came from.
    pub origin: Origin,
    /// Which database, as whom, over what.
    pub connection: ConnectionSpec,
    /// The `migration:` block.
    pub migration: MigrationSettings,
    /// Default `cargo-confiture`.
    pub application_name: String,
    /// The `fleet:` block of the environment file, if it has one ([`super::FleetSettings`]).
    pub fleet: Option<super::FleetSettings>,
    /// Where in the environment file the connection settings came from when variables gave
    /// them (`database_url: ${DATABASE_URL:-...}` with `DATABASE_URL` set): those variables
    /// and the key's line. The file holds no host, port or database name to fix then: help
    /// lines name the variables ([`Environment::source`]).
    pub(crate) connection_variables: Option<(Vec<UrlVariable>, Option<usize>)>,
    /// Each `%` in the URL's user or password — a variable's value expanded into
    /// `database_url`, or written in the URL itself (`--database-url`, a `.env`, a target
    /// list's line) —: the URL reads it as a percent-encoding (`ab%41cd` is `abAcd`), so a
    /// refused authentication's help says so ([`PercentInCredentials::help`]).
    #[cfg_attr(not(feature = "db"), allow(dead_code))]
    pub(crate) percent_in_credentials: Vec<PercentInCredentials>,
    /// The lines of the environment file that write the connection's parts, each with its key
    /// (`database_url` for every part, or the legacy block's `database.host`, ...): where a
    /// help says to fix one ([`Environment::source_of`]).
    pub(crate) connection_lines: ConnectionLines,
    /// What of the connection a fleet target list gave ([`crate::fleet::Target`]), taken as
    /// written: a list expands no variable, so help about what it gave talks about the list,
    /// never the environment file.
    pub(crate) listed: Listed,
    /// Where the `migration:` settings were read when it is not this environment's own
    /// `file` and name: a fleet target's are its base environment's ([`crate::fleet::Target`]),
    /// whose file (or label: `--database-url`) is where a help says to set one
    /// ([`Environment::set_in_file`]).
    pub(crate) settings_from: Option<(Option<PathBuf>, String)>,
    /// Told while a connection waits for a server that does not accept connections yet
    /// (`migration.wait_for_server`): [`crate::Migrator::on_server_wait`].
    pub(crate) server_wait_watch: Option<ServerWaitWatch>,
    /// Who built this environment (a fleet target: who built its base), whose way of giving
    /// an environment file a help names ([`Environment::set_in_file`]).
    pub(crate) built_by: BuiltBy,
    /// The `DATABASE_URL` of a `.env` that an environment file met ([`DotenvUrl`]): the
    /// value its `${DATABASE_URL}` took, or the one the default environment file passed over.
    pub(crate) dotenv_url: Option<DotenvUrl>,
    /// Whether `migration.wait_for_server` is the command's own option's
    /// ([`Environment::wait_for_server_option`]: the CLI's `--wait-for-server`,
    /// `Migrator::wait_for_server`) rather than the environment file's: what a wait that gives
    /// up names.
    pub(crate) wait_given: bool,
}

/// The `DATABASE_URL` of the nearest `.env` that sets it, as an environment file met it
/// (`config::resolve`): the value the file's `${DATABASE_URL}` took, the environment
/// having none (`used`: the `using ...` line and the helps naming the variable say where it
/// came from), or the one the default environment file, not using the variable, passed over
/// (the note of [`super::database_url_not_used`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DotenvUrl {
    /// `DATABASE_URL in .env, line 2`.
    pub(crate) label: String,
    /// Its value, its variables expanded.
    pub(crate) url: String,
    /// Whether the environment file's `${DATABASE_URL}` took it.
    pub(crate) used: bool,
    /// The `.env` as `label` names it, and the line that sets it: [`Environment::database_from`].
    pub(crate) file: PathBuf,
    pub(crate) line: Option<usize>,
}

/// A connection waiting for a server that does not accept connections yet
/// (`migration.wait_for_server`), as [`crate::Migrator::on_server_wait`] is told of it: when the
/// first try has failed so, then about every [`WaitingForServer::EVERY`] while the wait lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitingForServer {
    /// How long it has waited so far (since the first try started).
    pub waited: Duration,
    /// False the first time a connection's wait is told, true after.
    pub again: bool,
    /// How long it waits at most (`migration.wait_for_server`).
    pub wait: Duration,
    /// Why the last try failed (`could not connect to ...: connection refused`), without the
    /// password.
    pub reason: String,
}

impl WaitingForServer {
    /// How often a wait that lasts is told again.
    pub const EVERY: Duration = Duration::from_secs(5);
}

/// `waiting up to 60s for the server to accept connections: could not connect to ...`, then
/// `still waiting for the server to accept connections (5.2s of 60s): ...`: the CLI's lines.
impl std::fmt::Display for WaitingForServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let wait = match super::Timeout::new(self.wait) {
            Ok(wait) => wait.to_string(),
            Err(_) => format!("{:.0}s", self.wait.as_secs_f64()),
        };
        if !self.again {
            write!(
                f,
                "waiting up to {wait} for the server to accept connections: {}",
                self.reason
            )
        } else {
            write!(
                f,
                "still waiting for the server to accept connections ({:.1}s of {wait}): {}",
                self.waited.as_secs_f64(),
                self.reason
            )
        }
    }
}

/// What [`crate::Migrator::on_server_wait`] registers: called on whichever thread connects.
#[derive(Clone)]
// Only a connection (feature `db`) calls it.
#[cfg_attr(not(feature = "db"), allow(dead_code))]
pub(crate) struct ServerWaitWatch(
    pub(crate) std::sync::Arc<dyn Fn(&WaitingForServer) + Send + Sync>,
);

impl std::fmt::Debug for ServerWaitWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerWaitWatch")
    }
}

/// Watching is not part of what an environment is: any two are equal.
impl PartialEq for ServerWaitWatch {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for ServerWaitWatch {}

/// A variable of an environment file's `database_url` that gave more than its password
/// ([`Environment::connection_variables`]), and the parts of the connection it gave: a help
/// about some parts names it only when it gave one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlVariable {
    /// The variable's name (`DATABASE_URL`).
    pub(crate) name: String,
    /// The parts it gave; `None` when that cannot be told (it is the whole URL, or the URL
    /// does not parse without it): every part then.
    pub(crate) parts: Option<Vec<ConnectionPart>>,
}

impl UrlVariable {
    /// A variable that gave the whole URL (every part).
    #[cfg(all(test, feature = "db"))]
    pub(crate) fn whole(name: &str) -> UrlVariable {
        UrlVariable {
            name: name.to_string(),
            parts: None,
        }
    }

    /// Whether it gave any of `parts` (`[]`: the connection in general, which it is part of).
    fn gave_any(&self, parts: &[ConnectionPart]) -> bool {
        match &self.parts {
            None => true,
            Some(gave) => parts.is_empty() || parts.iter().any(|part| gave.contains(part)),
        }
    }
}

/// A part of a connection an environment file writes, which a help may say to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Only environment files write them, and only the connection's helps (feature `db`) ask.
#[cfg_attr(not(all(feature = "db", feature = "env-files")), allow(dead_code))]
pub(crate) enum ConnectionPart {
    /// The database's name.
    Database,
    /// The host (or socket directory).
    Host,
    Port,
    User,
    Password,
}

impl ConnectionPart {
    /// What a message calls it: `database name`, `host`, ...
    #[cfg_attr(not(feature = "env-files"), allow(dead_code))]
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Self::Database => "database name",
            Self::Host => "host",
            Self::Port => "port",
            Self::User => "user name",
            Self::Password => "password",
        }
    }
}

/// A `%` in a URL's user name or password, which the URL reads as a percent-encoding
/// (`ab%41cd` is `abAcd`): where it came from, and the part it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PercentInCredentials {
    /// The variable whose value put it there (`database_url: ...${PW}...`); `None`: written
    /// in the URL itself.
    pub(crate) variable: Option<String>,
    /// `user` or `password`.
    pub(crate) part: &'static str,
}

impl PercentInCredentials {
    /// The `%` written in `url`'s user name or password, if any, with whether it decodes
    /// ([`super::syntax::percent_in_credentials`]).
    pub(crate) fn written_in(url: &str) -> Option<(PercentInCredentials, bool)> {
        let (part, decodes) = super::syntax::percent_in_credentials(url)?;
        Some((
            PercentInCredentials {
                variable: None,
                part,
            },
            decodes,
        ))
    }

    /// **The** advice about it, after the message that names where the URL is written (its
    /// file and line): what the `%` did, and how to write one that is part of the value — a
    /// variable's by [`variable_in_url_help`]. `decodes`: whether it was read as a
    /// percent-encoding (a refused password), else it is none (a URL refused as invalid).
    pub(crate) fn help(&self, decodes: bool) -> String {
        let part = self.part;
        match (&self.variable, decodes) {
            (Some(var), _) => format!(
                "${var} holds a `%`, read as a percent-encoding in the URL's {part}: {}",
                variable_in_url_help(var, part)
            ),
            (None, true) => format!(
                "the URL's {part} holds a `%`, read as a percent-encoding (`%41` is `A`): \
                 percent-encode a `%` that is part of the {part} as %25"
            ),
            (None, false) => format!(
                "the URL's {part} holds a `%` that is no percent-encoding (`%` and two hex \
                 digits): percent-encode a `%` that is part of the {part} as %25 (and `@` as \
                 %40, `:` %3A, `/` %2F, `?` %3F, `#` %23)"
            ),
        }
    }
}

/// The one advice about a variable's value in `database_url` that the URL reads otherwise
/// than as it is (reserved characters that break it, a `%` read as a percent-encoding): how
/// to write it, or give the connection as a `database:` block, whose `key` (`password`,
/// `user`) takes `var`'s value as it is.
#[cfg_attr(not(any(feature = "db", feature = "env-files")), allow(dead_code))]
pub(crate) fn variable_in_url_help(var: &str, key: &str) -> String {
    format!(
        "a variable's value goes into the URL as it is: percent-encode the characters a URL \
         reserves in it (`@` is %40, `:` %3A, `/` %2F, `?` %3F, `#` %23, `%` %25), or give the \
         connection as a `database:` block (host, port, database, user, password), whose \
         values are taken as they are (`{key}: ${{{var}}}`)"
    )
}

/// Where an environment file writes each [`ConnectionPart`]: its line and key. The one
/// record of those lines, filled when the file is read (`config::file`) and read by
/// [`Environment::source_of`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ConnectionLines {
    lines: Vec<(ConnectionPart, usize, &'static str)>,
}

impl ConnectionLines {
    /// Records that `part` is written on `line` under `key`.
    #[cfg_attr(not(feature = "env-files"), allow(dead_code))]
    pub(crate) fn add(&mut self, part: ConnectionPart, line: usize, key: &'static str) {
        self.lines.push((part, line, key));
    }

    /// The line and key that write `part`, when the file writes it.
    fn of(&self, part: ConnectionPart) -> Option<(usize, &'static str)> {
        self.lines
            .iter()
            .find(|(p, _, _)| *p == part)
            .map(|(_, line, key)| (*line, *key))
    }
}

/// What of an [`Environment`]'s connection a fleet target list gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
// Only a fleet (feature `db`) lists targets.
#[cfg_attr(not(feature = "db"), allow(dead_code))]
pub(crate) enum Listed {
    /// Nothing: the environment's own connection.
    #[default]
    Nothing,
    /// The database's name (a `--targets FILE` line, a `--targets-query` row: `entry`, where
    /// the list named it): the user, password, hosts and every other connection setting are
    /// the environment's the fleet is based on, whose [`Environment::source`] is `server`,
    /// and `server_file` that source when an environment file gave them, `server_path` that
    /// file (whose lines the environment's [`ConnectionLines`] still are).
    DatabaseName {
        entry: String,
        server: String,
        server_file: Option<String>,
        server_path: Option<PathBuf>,
    },
    /// The whole connection: a URL (or conninfo) on the list.
    Connection,
}

/// What the user asked for (on the command line: `--database-url`, `--env`, `-c`, or none).
/// `{:?}` shows a URL, or one given as the environment's name, as
/// [`RedactedConnection`](super::RedactedConnection): it may hold a password.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selection {
    /// `--database-url URL`.
    Url(String),
    /// `--env NAME`: `db/environments/NAME.yaml`.
    Env(String),
    /// `-c FILE`: an environment file by path.
    File(PathBuf),
    /// Neither flag: fall through `CONFITURE_DATABASE_URL`, the default env file, `DATABASE_URL`.
    Auto,
}

impl std::fmt::Debug for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selection::Url(url) => f
                .debug_tuple("Url")
                .field(&super::RedactedConnection(url))
                .finish(),
            Selection::Env(name) => f
                .debug_tuple("Env")
                .field(&super::connection::NameOrConnection(name))
                .finish(),
            Selection::File(path) => f.debug_tuple("File").field(path).finish(),
            Selection::Auto => f.write_str("Auto"),
        }
    }
}

/// The process environment, for callers that have no reason to inject another one. A value
/// that is not UTF-8 comes back with U+FFFD in place of its bad bytes (not as unset), which
/// `${VAR}` expansion and `resolve` refuse, naming the variable.
pub fn process_vars(name: &str) -> Option<String> {
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}

impl Environment {
    /// An environment naming the database by URL (or conninfo), with default settings.
    /// `label` says where the URL came from (`--database-url`, `DATABASE_URL`, ...): it is the
    /// environment's name and appears in errors. The origin is [`Origin::Url`] unless
    /// `resolve` says otherwise.
    pub fn from_url(url: &str, label: &str) -> Result<Environment> {
        Environment::from_url_in(url, label, &format!("in {label}"))
    }

    /// [`Environment::from_url`], whose refusal of a URL that cannot be parsed says where it
    /// was found as `place` (`given to Migrator::from_url`) rather than `in LABEL`: a label
    /// such as `the database URL` reads twice after "invalid database URL in".
    pub(crate) fn from_url_in(url: &str, label: &str, place: &str) -> Result<Environment> {
        let percent = PercentInCredentials::written_in(url);
        let connection = parse_spec(url).map_err(|reason| {
            let help = match &percent {
                Some((percent, false)) => percent.help(false),
                _ => connection_help(url),
            };
            Error::invalid(format!("invalid database URL {place}: {reason}")).with_help(help)
        })?;
        let percent_in_credentials = (percent.into_iter())
            .filter(|(_, decodes)| *decodes)
            .map(|(percent, _)| percent)
            .collect();
        let mut migration = MigrationSettings::default();
        if let Some(timeout) = connection.connect_timeout {
            migration.connect_timeout = timeout;
        }
        Ok(Environment {
            name: label.to_string(),
            file: None,
            origin: Origin::Url,
            application_name: connection
                .application_name
                .clone()
                .unwrap_or_else(|| DEFAULT_APPLICATION_NAME.to_string()),
            connection,
            migration,
            fleet: None,
            connection_variables: None,
            percent_in_credentials,
            connection_lines: ConnectionLines::default(),
            listed: Listed::Nothing,
            settings_from: None,
            server_wait_watch: None,
            built_by: BuiltBy::Library,
            dotenv_url: None,
            wait_given: false,
        })
    }

    /// `using staging (db/environments/staging.yaml): postgres@db.internal:5432/app` — what the
    /// CLI prints on stderr before connecting. Never contains the password.
    /// When the file's `${DATABASE_URL}` took a `.env`'s value, that too: `using local
    /// (db/environments/local.yaml, DATABASE_URL in .env, line 1): ...`.
    pub fn describe(&self) -> String {
        let described = self.describe_connection();
        match self.connection.dbname_defaulted {
            Some(defaulted) => format!(
                "{described} (no database named: {}, {})",
                crate::display::escape(&self.connection.shown_dbname()),
                defaulted.says()
            ),
            None => described,
        }
    }

    /// [`Environment::describe`] without what it says of a database the connection does
    /// not name.
    fn describe_connection(&self) -> String {
        match &self.file {
            Some(file) => {
                let dotenv = self
                    .dotenv_used()
                    .map_or_else(String::new, |l| format!(", {l}"));
                format!(
                    "using {} ({}{dotenv}): {}",
                    self.name,
                    display_path(file),
                    self.connection
                )
            }
            None => format!("using {}: {}", self.name, self.connection),
        }
    }
    /// Sets `migration.wait_for_server` as the command's own option (the CLI's
    /// `--wait-for-server`, [`crate::Migrator::wait_for_server`]), over the environment
    /// file's: a wait that gives up names that option as where the wait came from.
    pub fn wait_for_server_option(&mut self, wait: Duration) {
        self.migration.wait_for_server = wait;
        self.wait_given = true;
    }

    /// How a help tells the user of this environment to set `key` of an environment file
    /// (`migration.tracking_table`) to `value`: in the environment file its `migration:`
    /// settings were read from (a fleet target's are its base's); else (`--database-url`,
    /// `DATABASE_URL`: no file is read) in an environment file to give instead, since no flag
    /// or URL parameter sets it — as who built the environment gives one (`BuiltBy`): a
    /// command line with its flag (`-c FILE`), a program to `Migrator::from_config`, or, having
    /// built the environment, in its `MigrationSettings` (`Environment::migration`).
    pub fn set_in_file(&self, key: &str, value: &str) -> String {
        let (file, label) = self.settings_origin();
        if let Some(file) = file {
            return format!("`{key}: {value}` in {}", display_path(file));
        }
        match &self.built_by {
            BuiltBy::Flags(flag) => format!(
                "`{key}: {value}` in an environment file given with `{flag} FILE` ({label} reads \
                 none)"
            ),
            BuiltBy::Library => {
                let field = key.strip_prefix("migration.").unwrap_or(key);
                format!(
                    "`{key}: {value}` in an environment file given to `Migrator::from_config` \
                     ({label} reads none), or {value} as the environment's \
                     `MigrationSettings::{field}` (`Environment::migration`)"
                )
            }
        }
    }

    /// Where this environment's `migration:` settings were read: the environment file, else
    /// the label of the URL that reads none (`--database-url`); a fleet target's, its base's
    /// (never the target's own source, `tenants.txt:3, on the server of ...`, which reads no
    /// setting).
    pub(crate) fn settings_origin(&self) -> (Option<&PathBuf>, String) {
        match &self.settings_from {
            Some((file, label)) => (file.as_ref(), label.clone()),
            None => (self.file.as_ref(), self.source()),
        }
    }

    /// Where this environment's `migration:` settings were read, for an environment made from
    /// this one that keeps them but not its file (a fleet target).
    #[cfg(feature = "db")]
    pub(crate) fn settings_for_derived(&self) -> (Option<PathBuf>, String) {
        let (file, label) = self.settings_origin();
        (file.cloned(), label)
    }

    /// This environment, made the database `entry` (a target list's line or row) lists by
    /// name on `base`'s server, with `base`'s credentials and settings. The one composition
    /// of such a target's source ([`Environment::source`]): `tenants.txt:3, on the server of
    /// environment file db/environments/prod.yaml` — no parentheses of its own, so that a
    /// sentence that puts it in some (`(..., from SOURCE)`) reads well.
    #[cfg(feature = "db")]
    pub(crate) fn listed_by_name(&mut self, entry: &str, base: &Environment) {
        let server = base.source();
        self.name = format!("{entry}, on the server of {server}");
        self.listed = Listed::DatabaseName {
            entry: entry.to_string(),
            server_file: base.file.is_some().then(|| server.clone()),
            server_path: base.file.clone(),
            server,
        };
    }

    /// Refuses (exit 5, before connecting) a command that writes — `up`, `down`, `baseline`,
    /// `reinit`, `abandon`, their dry runs, a fleet's targets — on a connection that names no
    /// database ([`ConnectionSpec::names_no_database`]): the name it defaulted to (libpq's, the
    /// user's name: `postgres` for the `postgres` role, the maintenance database) is rarely
    /// the database meant. **The one decision** of it; `status` reads such a database, and
    /// says it was defaulted ([`Environment::describe`]) instead of suggesting `up` there.
    /// `effect` says what the command did not do.
    pub fn refuse_unnamed_database(&self, effect: crate::plan::Effect) -> Result<()> {
        let (Some(defaulted), Some(help)) =
            (self.connection.dbname_defaulted, self.name_the_database())
        else {
            return Ok(());
        };
        let database = crate::display::escape(&self.connection.shown_dbname()).into_owned();
        Err(Error::invalid(format!(
            "{} names no database: it defaulted to {database}, {}, which a writing command \
             does not migrate; {}",
            self.database_name_source(),
            defaulted.says(),
            effect.nothing_done()
        ))
        .with_help(format!("{help}; `migrate status` reads the defaulted one"))
        .with_reason(crate::error::Reason::Database {
            database: self.connection.to_string(),
        }))
    }

    /// What to do about a connection that names no database
    /// ([`Environment::refuse_unnamed_database`]): name it, where and how; `None` when it
    /// names one. What `status` says of such a database instead of suggesting `migrate up`.
    pub fn name_the_database(&self) -> Option<String> {
        let defaulted = self.connection.dbname_defaulted?;
        let name_it = match defaulted {
            super::connection::DefaultedDatabase::ConfitureBlock => {
                "add `database: NAME` to its `database:` block"
            }
            super::connection::DefaultedDatabase::UserName => match self.connection.written {
                super::connection::Written::Pairs => "add `dbname=NAME` to it",
                super::connection::Written::Url => {
                    "write the database's name after the host and port \
                     (postgresql://user@host:5432/NAME)"
                }
            },
        };
        Some(format!(
            "name the database to migrate in {}: {name_it}",
            self.database_name_source()
        ))
    }

    /// Where the connection's server, user, password and settings (hosts, ports, TLS,
    /// timeouts) are to be fixed, for a help about them: [`Environment::source`], except for a
    /// database a target list names (`tenants.txt:3`), which gives its name alone: the rest
    /// is the fleet's environment's, named by its source.
    pub fn server_source(&self) -> String {
        self.server_source_of(&[])
    }

    /// [`Environment::server_source`] for a help about `parts` of the connection (the host
    /// and port of a refused connection, the user and password of a failed authentication):
    /// with the lines of the environment file that write them ([`Environment::source_of`]).
    pub(crate) fn server_source_of(&self, parts: &[ConnectionPart]) -> String {
        match &self.listed {
            Listed::DatabaseName {
                server,
                server_path,
                ..
            } => self
                .written_in(server_path.as_ref(), parts)
                .unwrap_or_else(|| server.clone()),
            _ => self.source_of(parts),
        }
    }

    /// Where the database's name is to be fixed, for the help of a database that does not
    /// exist: [`Environment::source`], with the line and key of the environment file that
    /// names it when the file itself writes it (`environment file db/environments/legacy.yaml,
    /// line 5 (database.database)`).
    pub fn database_name_source(&self) -> String {
        if let Listed::DatabaseName { entry, .. } = &self.listed {
            return entry.clone();
        }
        self.source_of(&[ConnectionPart::Database])
    }

    /// [`Environment::source`], with the lines and keys of the environment file that write
    /// `parts` when the file itself writes them (not defaults, not variables):
    /// `environment file db/environments/legacy.yaml, lines 3 and 4 (database.host,
    /// database.port)`, every config error's `FILE:LINE`. Variables that gave some of `parts`
    /// are named instead, those alone (`$DB (used by environment file F, line 3)`): the one
    /// that gave the password is not where the host is fixed.
    pub(crate) fn source_of(&self, parts: &[ConnectionPart]) -> String {
        self.written_in(self.file.as_ref(), parts)
            .unwrap_or_else(|| self.source_naming(parts))
    }

    /// The lines and keys of environment file `file` that write `parts` ([`ConnectionLines`]);
    /// `None` when it writes none of them itself, a variable gave one of them, or no file gave
    /// them.
    fn written_in(&self, file: Option<&PathBuf>, parts: &[ConnectionPart]) -> Option<String> {
        let file = file?;
        if self.variables_of(parts).next().is_some() {
            return None;
        }
        let mut written: Vec<(usize, &str)> = parts
            .iter()
            .filter_map(|part| self.connection_lines.of(*part))
            .collect();
        written.sort_unstable();
        written.dedup();
        let lines: Vec<String> = written.iter().map(|(line, _)| line.to_string()).collect();
        let keys: Vec<&str> = written.iter().map(|(_, key)| *key).collect();
        let file = display_path(file);
        match lines.as_slice() {
            [] => None,
            [line] => Some(format!(
                "environment file {file}, line {line} ({})",
                keys[0]
            )),
            [first @ .., last] => Some(format!(
                "environment file {file}, lines {} and {last} ({})",
                first.join(", "),
                keys.join(", ")
            )),
        }
    }

    /// Where this environment came from, for error help lines: the file, or the URL's label.
    /// When variables gave the file's connection settings, those variables first: `$DATABASE_URL
    /// (used by environment file db/environments/local.yaml, line 3)`.
    pub fn source(&self) -> String {
        self.source_naming(&[])
    }

    /// The variables of [`Environment::connection_variables`] that gave any of `parts` (all of
    /// them for `[]`).
    fn variables_of<'a>(
        &'a self,
        parts: &'a [ConnectionPart],
    ) -> impl Iterator<Item = &'a str> + 'a {
        let vars = self.connection_variables.iter().flat_map(|(vars, _)| vars);
        vars.filter(|var| var.gave_any(parts))
            .map(|var| var.name.as_str())
    }

    /// Where the file's `${DATABASE_URL}` took its value when a `.env` gave it
    /// ([`DotenvUrl::used`]): `DATABASE_URL in .env, line 1`.
    /// Where this environment's own database URL came from when a `.env` gave it
    /// ([`crate::error::Error::database_from`]): `None` for another source, and for a fleet's
    /// target, whose list names its database.
    #[cfg(feature = "db")]
    pub(crate) fn database_from(&self) -> Option<crate::error::DatabaseFrom> {
        let dotenv = self.dotenv_url.as_ref().filter(|dotenv| dotenv.used)?;
        matches!(self.listed, Listed::Nothing).then(|| crate::error::DatabaseFrom {
            file: dotenv.file.clone(),
            line: dotenv.line.and_then(|line| u32::try_from(line).ok()),
            key: "DATABASE_URL".to_string(),
        })
    }

    fn dotenv_used(&self) -> Option<&str> {
        let dotenv = self.dotenv_url.as_ref().filter(|dotenv| dotenv.used)?;
        Some(dotenv.label.as_str())
    }

    /// [`Environment::source`], naming only the variables that gave any of `parts` (the
    /// `.env` line of one a `.env` gave: `$DATABASE_URL` is not set where the user looks).
    fn source_naming(&self, parts: &[ConnectionPart]) -> String {
        let vars: Vec<String> = (self.variables_of(parts))
            .map(|v| match self.dotenv_used() {
                Some(label) if v == "DATABASE_URL" => label.to_string(),
                _ => format!("${v}"),
            })
            .collect();
        let line = self
            .connection_variables
            .as_ref()
            .and_then(|(_, line)| *line);
        match &self.file {
            Some(file) if !vars.is_empty() => {
                let line = line.map_or_else(String::new, |line| format!(", line {line}"));
                format!(
                    "{} (used by environment file {}{line})",
                    vars.join(" and "),
                    display_path(file)
                )
            }
            Some(file) => format!("environment file {}", display_path(file)),
            None => self.name.clone(),
        }
    }
}
