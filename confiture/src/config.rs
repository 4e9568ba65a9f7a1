//! Environments: which database, with which settings. Reads `<environments_dir>/<env>.yaml`
//! (confiture's format), expands `${VAR}`, applies the documented precedence, and describes
//! the connection without its password.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::ledger::TrackingTable;

/// libpq's `sslmode` values that we honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Everything needed to open a connection. `Display` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionSpec {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub dbname: String,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
}

/// `user@host:port/db` — the form printed on stderr at every connecting command.
impl fmt::Display for ConnectionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{}:{}/{}",
            self.user, self.host, self.port, self.dbname
        )
    }
}

/// Debug is redacted too: a `{:?}` in a log line must not leak the password.
impl fmt::Debug for ConnectionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSpec")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("dbname", &self.dbname)
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .finish()
    }
}

/// The `migration:` block of an environment file, with defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationSettings {
    pub tracking_table: TrackingTable,
    /// `SET LOCAL lock_timeout` for migration SQL; default 5 s; zero disables.
    pub lock_timeout: Duration,
    /// `SET LOCAL statement_timeout` for migration SQL; `None` = server default.
    pub statement_timeout: Option<Duration>,
    /// Connect timeout; default 10 s.
    pub connect_timeout: Duration,
    /// How often a transactional migration failing with SQLSTATE 55P03 is retried; default 3.
    pub lock_retries: u32,
}

impl Default for MigrationSettings {
    fn default() -> Self {
        MigrationSettings {
            tracking_table: TrackingTable::default(),
            lock_timeout: Duration::from_secs(5),
            statement_timeout: None,
            connect_timeout: Duration::from_secs(10),
            lock_retries: 3,
        }
    }
}

/// How the database was chosen (the precedence rules, in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `--database-url`
    UrlFlag,
    /// `--env NAME`
    EnvFlag,
    /// `-c FILE`
    ConfigFlag,
    /// `CONFITURE_DATABASE_URL`
    ConfitureDatabaseUrl,
    /// the default environment file (`default_env`, `local`)
    DefaultEnv,
    /// `DATABASE_URL`
    DatabaseUrl,
}

/// A resolved environment: the database and the settings to use with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// The environment's name (`staging`), or a label for URL origins (`--database-url`).
    pub name: String,
    /// The environment file read, if any.
    pub file: Option<PathBuf>,
    pub origin: Origin,
    pub connection: ConnectionSpec,
    pub migration: MigrationSettings,
    /// Default `cargo-confiture`.
    pub application_name: String,
}

/// What the user asked for on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Url(String),
    Env(String),
    File(PathBuf),
    /// Neither flag: fall through `CONFITURE_DATABASE_URL`, the default env file, `DATABASE_URL`.
    Auto,
}
