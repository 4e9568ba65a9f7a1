//! Environments: which database, with which settings. Reads `<environments_dir>/<env>.yaml`
//! (confiture's format), expands `${VAR}`, applies the documented precedence, and describes
//! the connection without its password.
//!
//! # Which database
//!
//! The first of these that is present wins ([`resolve`]):
//!
//! 1. `--database-url URL`;
//! 2. `--env NAME` (`<environments_dir>/NAME.yaml`) or `-c FILE`;
//! 3. the `CONFITURE_DATABASE_URL` environment variable;
//! 4. the default environment file (`default_env`, normally `local`), if it exists;
//! 5. the `DATABASE_URL` environment variable.
//!
//! An explicit file (2) together with a `CONFITURE_DATABASE_URL` that names another database
//! is an error: we never guess which one was meant. Empty variables count as unset.
//!
//! # Environment files
//!
//! ```yaml
//! database_url: postgresql://app:${DB_PASSWORD}@db.internal:5432/app   # or key=value conninfo
//! database: {host: localhost, port: 5432, database: app, user: app}     # legacy, if no database_url
//! application_name: billing-migrations                                 # default cargo-confiture
//! migration:
//!   tracking_table: ops.tb_confiture   # default tb_confiture, found through search_path
//!   lock_timeout: 5s                   # default 5s; 0 disables
//!   statement_timeout: 10min           # default: the server's
//!   connect_timeout: 10s               # default 10s; 0 waits forever
//!   lock_retries: 3                    # default 3
//! ```
//!
//! Durations are a whole number with a unit (`ms`, `s`, `min` or `m`, `h`); a plain number is
//! milliseconds, as in PostgreSQL's own `lock_timeout`. (A `connect_timeout` query parameter
//! in a URL keeps libpq's meaning: whole seconds.) Every duration is at most 2147483647 ms
//! (`596h`), the limit of PostgreSQL's timeout settings ([`Timeout`]). When a URL and the file both set
//! `application_name` or `connect_timeout`, the URL wins, so the URL behaves as it does in psql.
//!
//! `${VAR}` and `${VAR:-default}` are expanded in the values this tool reads (not in keys that
//! only confiture's other features use); `$$` is a literal `$`. Keys of confiture's other
//! features (`include_dirs`, `build`, `seed`, `ssh_tunnel`, `name`, ...) are ignored. Under
//! `migration:` and `database:`, an unknown key that is close to one we know is reported as a
//! misspelling; other unknown keys are left to confiture (Python), which shares the file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use crate::error::{Error, Result};
use crate::ledger::TrackingTable;
use crate::workspace::Workspace;

/// `application_name` sent to the server unless the environment sets one.
pub const DEFAULT_APPLICATION_NAME: &str = "cargo-confiture";
/// Host used when a URL or environment file names none (TCP, as confiture (Python) does).
pub const DEFAULT_HOST: &str = "localhost";
pub const DEFAULT_PORT: u16 = 5432;
/// User used when none is named (the database defaults to the user, as in libpq).
pub const DEFAULT_USER: &str = "postgres";

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

impl SslMode {
    pub fn parse(text: &str) -> Option<SslMode> {
        match text {
            "disable" => Some(SslMode::Disable),
            "prefer" => Some(SslMode::Prefer),
            "require" => Some(SslMode::Require),
            "verify-ca" => Some(SslMode::VerifyCa),
            "verify-full" => Some(SslMode::VerifyFull),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything needed to open a connection. `Display` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionSpec {
    /// A host name, an IP address (IPv6 without brackets), or a Unix socket directory
    /// (starts with `/`).
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub dbname: String,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
    /// libpq's `options` (e.g. `-c search_path=app`), sent in the startup packet.
    pub options: Option<String>,
    /// `application_name` from the URL, if it names one (see [`Environment::application_name`]).
    pub application_name: Option<String>,
    /// `connect_timeout` from the URL (whole seconds there, as in libpq), if it names one.
    pub connect_timeout: Option<Duration>,
}

/// `user@host:port/db` — the form printed on stderr at every connecting command.
/// Control characters are escaped (`\u{1b}`): a name must not drive the terminal.
impl fmt::Display for ConnectionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (user, host, dbname) = (shown(&self.user), shown(&self.host), shown(&self.dbname));
        if self.host.contains(':') && !self.is_unix_socket() {
            write!(f, "{user}@[{host}]:{}/{dbname}", self.port)
        } else {
            write!(f, "{user}@{host}:{}/{dbname}", self.port)
        }
    }
}

/// `text` with its control characters escaped as Rust does (`\n`, `\u{1b}`), for names
/// (database, user, host) that appear in messages: they may hold anything but NUL.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
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
            .field("options", &self.options)
            .field("application_name", &self.application_name)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl ConnectionSpec {
    /// Parses a `postgresql://` (or `postgres://`) URL or a libpq `key=value` conninfo string.
    ///
    /// Supported: percent-decoding, IPv6 hosts in brackets, Unix socket directories
    /// (`host=/var/run/postgresql`, or `%2F...` as the URL host), and the parameters `host`,
    /// `port`, `user`, `password`, `dbname`, `sslmode`, `sslrootcert`, `application_name`,
    /// `connect_timeout` and `options`. Errors never quote the text: it may hold a password.
    pub fn parse(text: &str) -> Result<ConnectionSpec> {
        parse_spec(text).map_err(|reason| {
            Error::invalid(format!("invalid connection string: {reason}"))
                .with_help(CONNECTION_HELP)
        })
    }

    /// Whether `host` is a Unix socket directory.
    pub fn is_unix_socket(&self) -> bool {
        self.host.starts_with('/')
    }

    /// Whether both name the same database (host, port and database name). The user may
    /// differ: it is still the same database.
    pub fn same_database(&self, other: &ConnectionSpec) -> bool {
        self.host.eq_ignore_ascii_case(&other.host)
            && self.port == other.port
            && self.dbname == other.dbname
    }

    /// `text` with every occurrence of the password (plain and percent-encoded) replaced by
    /// `***`: applied to driver messages before they reach an error, just in case.
    pub fn scrub(&self, text: &str) -> String {
        let Some(password) = self.password.as_deref().filter(|p| !p.is_empty()) else {
            return text.to_string();
        };
        let mut out = text.replace(password, "***");
        let encoded = percent_encode(password);
        if encoded != password {
            out = out.replace(&encoded, "***");
        }
        out
    }
}

const CONNECTION_HELP: &str = "write `postgresql://user:password@host:5432/dbname?sslmode=prefer` \
     (percent-encode special characters such as @ : / ? in the password) \
     or libpq key=value pairs such as `host=localhost port=5432 dbname=app user=app`";

const KNOWN_PARAMETERS: &[&str] = &[
    "host",
    "port",
    "user",
    "password",
    "dbname",
    "sslmode",
    "sslrootcert",
    "application_name",
    "connect_timeout",
    "options",
];

/// libpq's other connection parameters: named in errors as libpq's, but not supported.
const LIBPQ_ONLY_PARAMETERS: &[&str] = &[
    "hostaddr",
    "passfile",
    "require_auth",
    "channel_binding",
    "client_encoding",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslkeylogfile",
    "sslpassword",
    "sslcertmode",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
];

#[derive(Default)]
struct SpecBuilder {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<String>,
    dbname: Option<String>,
    sslmode: Option<SslMode>,
    sslrootcert: Option<PathBuf>,
    options: Option<String>,
    application_name: Option<String>,
    connect_timeout: Option<Duration>,
}

impl SpecBuilder {
    /// One parameter, from a URL's query or a conninfo pair. Error texts quote the key only
    /// when it is one we know or looks like one, never a value (it may be a password).
    fn set(&mut self, key: &str, value: String) -> Result<(), String> {
        match key {
            "host" => self.set_host(value)?,
            "port" => self.set_port(&value)?,
            "user" => self.user = Some(value).filter(|v| !v.is_empty()),
            "password" => self.password = Some(value),
            "dbname" => self.dbname = Some(value).filter(|v| !v.is_empty()),
            "sslmode" => {
                self.sslmode = Some(SslMode::parse(&value).ok_or_else(|| {
                    // Quoted only when it looks like a mode: a long or odd value may be a
                    // mis-split piece of a password.
                    let shown = if value.len() <= 20
                        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    {
                        format!("sslmode {value:?}")
                    } else {
                        "sslmode".to_string()
                    };
                    format!(
                        "{shown} is not one of disable, prefer, require, verify-ca, verify-full"
                    )
                })?);
            }
            // libpq 16's `system` means the system's roots: ours are the webpki roots, which
            // are also what we use when no sslrootcert is given.
            "sslrootcert" => {
                self.sslrootcert = Some(value)
                    .filter(|v| !v.is_empty() && v != "system")
                    .map(PathBuf::from);
            }
            "application_name" => self.application_name = Some(value),
            // The value is not quoted: a mis-split conninfo can put part of a password here.
            "connect_timeout" => match Timeout::from_secs_text(&value) {
                Ok(timeout) => self.connect_timeout = Some(timeout.duration()),
                Err(TimeoutError::Malformed) => {
                    return Err(
                        "connect_timeout must be a whole number of seconds (as in libpq)"
                            .to_string(),
                    )
                }
                Err(TimeoutError::TooLong) => {
                    return Err(format!(
                        "connect_timeout is too long: at most {} seconds (PostgreSQL's timeouts \
                         are at most 2147483647 ms)",
                        Timeout::MAX.as_secs()
                    ))
                }
            },
            "options" => self.options = Some(value).filter(|v| !v.trim().is_empty()),
            _ => {
                // A key is quoted only when it is libpq's or close to one of ours: anything
                // else may be a piece of a password whose spaces were not quoted
                // (`password=my secret=...`).
                let close = closest(key, KNOWN_PARAMETERS);
                let shown = if LIBPQ_ONLY_PARAMETERS.contains(&key) {
                    format!("libpq parameter {key:?}")
                } else if close.is_some() {
                    format!("parameter {key:?}")
                } else {
                    "parameter (its name is not shown: it may be part of a password)".to_string()
                };
                let hint = match close {
                    Some(known) => format!(" (did you mean {known:?}?)"),
                    None => String::new(),
                };
                return Err(format!(
                    "unsupported {shown}{hint}; supported: {}",
                    KNOWN_PARAMETERS.join(", ")
                ));
            }
        }
        Ok(())
    }

    fn set_host(&mut self, host: String) -> Result<(), String> {
        if host.contains(',') {
            return Err("several hosts are not supported: name one host".to_string());
        }
        self.host = Some(host).filter(|h| !h.is_empty());
        Ok(())
    }

    fn set_port(&mut self, port: &str) -> Result<(), String> {
        if port.contains(',') {
            return Err("several ports are not supported: name one port".to_string());
        }
        // The text is not quoted: a mis-split URL can put part of a password here.
        match port.trim().parse::<u16>() {
            Ok(port) if port > 0 => {
                self.port = Some(port);
                Ok(())
            }
            _ => Err("the port is not a number from 1 to 65535".to_string()),
        }
    }

    /// The spec, once nothing in it is something PostgreSQL cannot take as given: a NUL
    /// character (the protocol's strings end there) or a database or user name longer than
    /// 63 bytes (the server cuts it there, and would connect to another database or role).
    fn finish(self) -> Result<ConnectionSpec, String> {
        let fields = [
            ("host", self.host.as_deref()),
            ("user name", self.user.as_deref()),
            ("password", self.password.as_deref()),
            ("database name", self.dbname.as_deref()),
            ("options", self.options.as_deref()),
            ("application_name", self.application_name.as_deref()),
        ];
        for (what, value) in fields {
            if value.is_some_and(|v| v.contains('\0')) {
                return Err(format!(
                    "the {what} contains a NUL character (%00), which PostgreSQL cannot take"
                ));
            }
        }
        if let Some(path) = &self.sslrootcert {
            if path.as_os_str().as_encoded_bytes().contains(&0) {
                return Err("sslrootcert contains a NUL character (%00)".to_string());
            }
        }
        for (what, value) in [
            ("database name", self.dbname.as_deref()),
            ("user name", self.user.as_deref()),
        ] {
            if let Some(value) = value.filter(|v| v.len() > MAX_NAME_BYTES) {
                return Err(format!(
                    "the {what} is {} bytes: PostgreSQL would truncate it to {MAX_NAME_BYTES} and \
                     use another {what}",
                    value.len()
                ));
            }
        }
        let user = self.user.unwrap_or_else(|| DEFAULT_USER.to_string());
        Ok(ConnectionSpec {
            host: self.host.unwrap_or_else(|| DEFAULT_HOST.to_string()),
            port: self.port.unwrap_or(DEFAULT_PORT),
            dbname: self.dbname.unwrap_or_else(|| user.clone()),
            user,
            password: self.password,
            sslmode: self.sslmode.unwrap_or_default(),
            sslrootcert: self.sslrootcert,
            options: self.options,
            application_name: self.application_name,
            connect_timeout: self.connect_timeout,
        })
    }
}

/// The longest database or role name PostgreSQL keeps (`NAMEDATALEN - 1`): it truncates longer
/// ones in the startup packet.
pub const MAX_NAME_BYTES: usize = 63;

fn parse_spec(text: &str) -> Result<ConnectionSpec, String> {
    let text = text.trim();
    let mut builder = SpecBuilder::default();
    if let Some(rest) = text
        .strip_prefix("postgresql://")
        .or_else(|| text.strip_prefix("postgres://"))
    {
        parse_url(rest, &mut builder)?;
    } else if has_url_scheme(text) {
        return Err("the URL scheme must be postgresql:// or postgres://".to_string());
    } else if text.contains('=') {
        parse_conninfo(text, &mut builder)?;
    } else if text.is_empty() {
        return Err("it is empty".to_string());
    } else {
        return Err("expected a postgresql:// URL or key=value pairs".to_string());
    }
    builder.finish()
}

/// Whether `text` starts with `scheme://`. A `://` further on may be inside a conninfo value
/// (`password='a://b'`): that text is conninfo, not a URL with a wrong scheme.
fn has_url_scheme(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

fn parse_url(rest: &str, builder: &mut SpecBuilder) -> Result<(), String> {
    let (main, query) = match rest.split_once('?') {
        Some((main, query)) => (main, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match main.split_once('/') {
        Some((authority, path)) => (authority, Some(path)),
        None => (main, None),
    };
    // An `@` after the host means a `/` or `?` in the password was not percent-encoded; say
    // so instead of reporting a confusing piece of the password as a host or parameter.
    if path.is_some_and(|p| p.contains('@')) || query.is_some_and(|q| q.contains('@')) {
        return Err(
            "found `@` after the host: percent-encode `/`, `?` and `@` in the user \
                    name and password (%2F, %3F, %40)"
                .to_string(),
        );
    }
    let hostport = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                builder.user = Some(percent_decode(user, "user name")?);
            }
            if let Some(password) = password {
                builder.password = Some(percent_decode(password, "password")?);
            }
            hostport
        }
        None => authority,
    };
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "an IPv6 address opened with `[` is not closed with `]`".to_string())?;
        builder.set_host(host.to_string())?;
        if !after.is_empty() {
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| "unexpected text after the IPv6 address's `]`".to_string())?;
            if !port.is_empty() {
                builder.set_port(port)?;
            }
        }
    } else if !hostport.is_empty() {
        let (host, port) = match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        };
        builder.set_host(percent_decode(host, "host")?)?;
        if let Some(port) = port.filter(|p| !p.is_empty()) {
            builder.set_port(port)?;
        }
    }
    if let Some(path) = path.filter(|p| !p.is_empty()) {
        builder.dbname = Some(percent_decode(path, "database name")?);
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| "a query parameter has no `=value`".to_string())?;
        let key = percent_decode(key, "query parameter name")?;
        let value = percent_decode(value, "query parameter value")?;
        builder.set(&key, value)?;
    }
    Ok(())
}

/// libpq's conninfo: `key = value` pairs separated by whitespace; values may be single-quoted,
/// and `\` escapes the next character.
fn parse_conninfo(text: &str, builder: &mut SpecBuilder) -> Result<(), String> {
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(());
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(
                "expected key=value pairs (quote values that contain spaces: \
                        password='a b')"
                    .to_string(),
            );
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err("a quoted value is not closed with `'`".to_string()),
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err("a quoted value is not closed with `'`".to_string()),
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(escaped) = chars.next() {
                        value.push(escaped);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        builder.set(&key, value)?;
    }
}

fn percent_decode(text: &str, what: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid percent-encoding in the {what}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("the {what} is not UTF-8 once percent-decoded"))
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `migration:` block of an environment file, with defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationSettings {
    pub tracking_table: TrackingTable,
    /// `SET LOCAL lock_timeout` for migration SQL; default 5 s; zero disables.
    pub lock_timeout: Duration,
    /// `SET LOCAL statement_timeout` for migration SQL; `None` = server default.
    pub statement_timeout: Option<Duration>,
    /// Connect timeout, covering DNS, TCP, TLS and authentication; default 10 s; zero waits forever.
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

/// The process environment, for callers that have no reason to inject another one. A value
/// that is not UTF-8 comes back with U+FFFD in place of its bad bytes (not as unset), which
/// `${VAR}` expansion and [`resolve`] refuse, naming the variable.
pub fn process_vars(name: &str) -> Option<String> {
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}

/// Whether a variable's value was not UTF-8 (see [`process_vars`]).
fn is_not_utf8(value: &str) -> bool {
    value.contains(char::REPLACEMENT_CHARACTER)
}

impl Environment {
    /// An environment naming the database by URL (or conninfo), with default settings.
    /// `label` says where the URL came from (`--database-url`, `DATABASE_URL`, ...): it is the
    /// environment's name and appears in errors. The origin is [`Origin::UrlFlag`] unless
    /// [`resolve`] says otherwise.
    pub fn from_url(url: &str, label: &str) -> Result<Environment> {
        let connection = parse_spec(url).map_err(|reason| {
            Error::invalid(format!("invalid database URL in {label}: {reason}"))
                .with_help(CONNECTION_HELP)
        })?;
        let mut migration = MigrationSettings::default();
        if let Some(timeout) = connection.connect_timeout {
            migration.connect_timeout = timeout;
        }
        Ok(Environment {
            name: label.to_string(),
            file: None,
            origin: Origin::UrlFlag,
            application_name: connection
                .application_name
                .clone()
                .unwrap_or_else(|| DEFAULT_APPLICATION_NAME.to_string()),
            connection,
            migration,
        })
    }

    /// Reads an environment file. Its name is the file's stem (`staging` for `staging.yaml`);
    /// the origin is [`Origin::ConfigFlag`] unless [`resolve`] says otherwise. `vars` looks up
    /// the variables used by `${VAR}`.
    pub fn from_file(path: &Path, vars: &dyn Fn(&str) -> Option<String>) -> Result<Environment> {
        let shown = display_path(path);
        let bytes = read_capped(path, MAX_FILE_BYTES).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::invalid(format!("environment file {shown} does not exist"))
                    .with_help("check the path given to -c, or use --env NAME")
            } else if path.is_dir() {
                Error::invalid(format!("environment file {shown} is a directory")).with_help(
                    "give the path of a .yaml file to -c, or an environment name to --env",
                )
            } else {
                Error::invalid(format!("cannot read environment file {shown}")).with_cause(e)
            }
        })?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(Error::invalid(format!(
                "environment file {shown} is larger than {} KiB: it was not read",
                MAX_FILE_BYTES / 1024
            ))
            .with_help(format!(
                "an environment file holds a few settings: check that {shown} is the file you meant"
            )));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            Error::invalid(format!(
                "environment file {shown} is not valid UTF-8 (line {line})"
            ))
            .with_help("save it as UTF-8 text")
        })?;
        parse_environment(&text, path, &shown, vars)
    }

    /// Reads an environment file's text, as [`Environment::from_file`] does but without
    /// reading a file: `path` names the file in messages and in [`Environment::file`].
    pub fn parse(
        text: &str,
        path: &Path,
        vars: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Environment> {
        parse_environment(text, path, &path.display().to_string(), vars)
    }

    /// `using staging (db/environments/staging.yaml): postgres@db.internal:5432/app` — what the
    /// CLI prints on stderr before connecting. Never contains the password.
    pub fn describe(&self) -> String {
        match &self.file {
            Some(file) => {
                format!(
                    "using {} ({}): {}",
                    self.name,
                    display_path(file),
                    self.connection
                )
            }
            None => format!("using {}: {}", self.name, self.connection),
        }
    }

    /// Where this environment came from, for error help lines: the file, or the URL's label.
    pub fn source(&self) -> String {
        match &self.file {
            Some(file) => format!("environment file {}", display_path(file)),
            None => self.name.clone(),
        }
    }
}

/// A path as the user would type it: relative to the current directory (`../db/...` from a
/// subdirectory); the one rule is [`crate::display::relative_to`].
fn display_path(path: &Path) -> String {
    match std::env::current_dir() {
        Ok(cwd) => crate::display::relative_to(path, &cwd)
            .display()
            .to_string(),
        Err(_) => path.display().to_string(),
    }
}

/// Decides which database to use, by the rules in the module documentation.
pub fn resolve(
    ws: &Workspace,
    selection: &Selection,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<Environment> {
    let var = |name: &str| -> Result<Option<String>> {
        match vars(name).filter(|v| !v.trim().is_empty()) {
            Some(value) if is_not_utf8(&value) => Err(Error::invalid(format!(
                "the {name} environment variable is not valid UTF-8"
            ))
            .with_help(format!(
                "set {name} to a postgresql:// URL in UTF-8, or unset it"
            ))),
            other => Ok(other),
        }
    };
    match selection {
        Selection::Url(url) => {
            let mut env = Environment::from_url(url, "--database-url")?;
            env.origin = Origin::UrlFlag;
            Ok(env)
        }
        Selection::Env(name) => {
            let path = environment_file(ws, name)?;
            let mut env = Environment::from_file(&path, vars)?;
            env.name = name.clone();
            env.origin = Origin::EnvFlag;
            refuse_conflict(&env, var("CONFITURE_DATABASE_URL")?, "--env")?;
            Ok(env)
        }
        Selection::File(path) => {
            let mut env = Environment::from_file(path, vars)?;
            env.origin = Origin::ConfigFlag;
            refuse_conflict(&env, var("CONFITURE_DATABASE_URL")?, "-c")?;
            Ok(env)
        }
        Selection::Auto => {
            if let Some(url) = var("CONFITURE_DATABASE_URL")? {
                let mut env = Environment::from_url(&url, "CONFITURE_DATABASE_URL")?;
                env.origin = Origin::ConfitureDatabaseUrl;
                return Ok(env);
            }
            let default = ws
                .environments_dir()
                .join(format!("{}.yaml", ws.settings.default_env));
            if default.is_file() {
                let mut env = Environment::from_file(&default, vars)?;
                env.name = ws.settings.default_env.clone();
                env.origin = Origin::DefaultEnv;
                return Ok(env);
            }
            if let Some(url) = var("DATABASE_URL")? {
                let mut env = Environment::from_url(&url, "DATABASE_URL")?;
                env.origin = Origin::DatabaseUrl;
                return Ok(env);
            }
            let envs = display_path(&ws.environments_dir());
            Err(Error::invalid("no database configured")
                .with_detail("name one in any of these ways (the first found wins):")
                .with_detail("  1. --database-url postgresql://user@host:5432/dbname")
                .with_detail(format!(
                    "  2. --env NAME (reads {envs}/NAME.yaml), or -c FILE"
                ))
                .with_detail("  3. the CONFITURE_DATABASE_URL environment variable")
                .with_detail(format!(
                    "  4. the default environment file {envs}/{}.yaml",
                    ws.settings.default_env
                ))
                .with_detail("  5. the DATABASE_URL environment variable")
                .with_help(format!(
                    "for a project, create {envs}/{}.yaml with `database_url: postgresql://...`",
                    ws.settings.default_env
                )))
        }
    }
}

/// `<environments_dir>/<name>.yaml`, or an error listing the environments that exist.
fn environment_file(ws: &Workspace, name: &str) -> Result<PathBuf> {
    let dir = ws.environments_dir();
    if name.is_empty()
        || name.starts_with('.')
        || name.contains(['/', '\\', '\0'])
        || name.ends_with(".yaml")
    {
        return Err(
            Error::invalid(format!("invalid environment name {name:?}")).with_help(format!(
                "give the name of a file in {} without `.yaml` (e.g. --env staging), \
                 or a path with -c FILE",
                display_path(&dir)
            )),
        );
    }
    let path = dir.join(format!("{name}.yaml"));
    if path.is_file() {
        return Ok(path);
    }
    let available = list_environments(&dir);
    let mut error = Error::invalid(format!(
        "environment {name:?} not found: there is no {}",
        display_path(&path)
    ));
    error = if available.is_empty() {
        error.with_help(format!(
            "{} holds no environment files; create {} with `database_url: postgresql://...`",
            display_path(&dir),
            display_path(&path)
        ))
    } else {
        let names: Vec<&str> = available.iter().map(String::as_str).collect();
        let suggestion = match closest(name, &names) {
            Some(close) => format!("did you mean --env {close}? "),
            None => String::new(),
        };
        error.with_help(format!(
            "{suggestion}available environments: {}",
            available.join(", ")
        ))
    };
    if dir.join(format!("{name}.yml")).is_file() {
        error = error.with_detail(format!(
            "{name}.yml exists: environment files end in .yaml; rename it to {name}.yaml"
        ));
    }
    Err(error)
}

/// Names of the `*.yaml` files in `dir`, sorted; empty when the directory is missing.
pub fn list_environments(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let file_name = entry.file_name();
            let name = file_name.to_str()?.strip_suffix(".yaml")?.to_string();
            (!name.is_empty() && entry.path().is_file()).then_some(name)
        })
        .collect();
    names.sort();
    names
}

fn refuse_conflict(env: &Environment, url: Option<String>, flag: &str) -> Result<()> {
    let Some(url) = url else { return Ok(()) };
    let other = parse_spec(&url).map_err(|reason| {
        Error::invalid(format!(
            "invalid database URL in CONFITURE_DATABASE_URL: {reason}"
        ))
        .with_help(CONNECTION_HELP)
    })?;
    if other.same_database(&env.connection) {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "two databases named: {} names {}, but CONFITURE_DATABASE_URL names {}",
        env.source(),
        env.connection,
        other
    ))
    .with_help(format!(
        "unset CONFITURE_DATABASE_URL to use the file, or drop {flag} to use the variable"
    )))
}

// ---------------------------------------------------------------------------------------------
// Environment files

const MIGRATION_KEYS: &[&str] = &[
    "tracking_table",
    "lock_timeout",
    "statement_timeout",
    "connect_timeout",
    "lock_retries",
];
const DATABASE_KEYS: &[&str] = &[
    "host",
    "port",
    "database",
    "user",
    "password",
    "sslmode",
    "sslrootcert",
];
const TOP_LEVEL_KEYS: &[&str] = &["database_url", "database", "migration", "application_name"];

/// The most an environment file may be: a few settings take a few hundred bytes. Reading
/// stops there, so `-c /dev/zero` is refused instead of filling the memory.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The most `[` and `{` an environment file may hold (see [`flow_openers`]).
pub const MAX_FLOW_OPENERS: usize = 1_000;

/// At most `limit + 1` bytes of `path`: enough to tell that it is too large.
fn read_capped(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// How many `[` and `{` the text holds: an upper bound of how deep its flow collections can
/// nest, since each level opens with one of them. The YAML parser takes time quadratic in that
/// nesting (200,000 `[` took 22 s), so the bound is checked before parsing. Characters in
/// strings and comments count too: telling them apart would take a YAML scanner, and one that
/// follows quotes only approximately can be fooled into undercounting (closing brackets
/// hidden behind an apostrophe); an environment file has a handful of these characters.
fn flow_openers(text: &str) -> usize {
    text.bytes().filter(|b| matches!(b, b'[' | b'{')).count()
}

/// Reads an environment file's text. Pure: `path` is kept in the environment, `shown` names
/// the file in messages.
fn parse_environment(
    text: &str,
    path: &Path,
    shown: &str,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<Environment> {
    let file = FileContext { shown, vars };
    let openers = flow_openers(text);
    if openers > MAX_FLOW_OPENERS {
        return Err(file
            .error(&format!(
                "holds {openers} `[` or `{{`, more than the {MAX_FLOW_OPENERS} an environment \
                 file may hold (flow collections nested that deep take the YAML parser minutes); \
                 it was not parsed"
            ))
            .with_help(format!(
                "an environment file holds a few settings: check that {shown} is the file you \
                 meant, and write long lists one `- item` per line"
            )));
    }
    let document: Value =
        serde_yaml::from_str(text).map_err(|e| malformed_yaml(text, shown, &e))?;
    let top = match document {
        Value::Mapping(top) => top,
        Value::Null => {
            return Err(file.error("is empty").with_help(
                "add `database_url: postgresql://user@host:5432/dbname` to name the database",
            ))
        }
        _ => {
            return Err(file.error("is not a mapping of keys to values").with_help(
                "write one `key: value` per line, starting with \
                 `database_url: postgresql://user@host:5432/dbname`",
            ))
        }
    };

    let connection = match (get(&top, "database_url"), get(&top, "database")) {
        (Some(url), _) if !url.is_null() => {
            let url = file.string(url, "database_url")?;
            if url.trim().is_empty() {
                return Err(file
                    .key_error("database_url", "is empty")
                    .with_help(CONNECTION_HELP));
            }
            parse_spec(&url).map_err(|reason| {
                file.key_error("database_url", &format!("is invalid: {reason}"))
                    .with_help(CONNECTION_HELP)
            })?
        }
        (_, Some(Value::Mapping(block))) => file.legacy_database(block)?,
        (_, Some(other)) if !other.is_null() => {
            return Err(file.key_error(
                "database",
                "must be a mapping (host, port, database, user, password)",
            ))
        }
        _ => {
            let mut error = file.error("names no database").with_help(
                "add `database_url: postgresql://user@host:5432/dbname` \
                 (or a `database:` block with host, port, database, user, password)",
            );
            for key in top.keys().filter_map(Value::as_str) {
                if let Some(known) = closest(key, TOP_LEVEL_KEYS) {
                    error = error.with_detail(format!("found `{key}`: did you mean `{known}`?"));
                }
            }
            return Err(error);
        }
    };

    let mut migration = MigrationSettings::default();
    match get(&top, "migration") {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(block)) => file.migration_block(block, &mut migration)?,
        Some(_) => {
            return Err(file
                .key_error("migration", "must be a mapping of settings")
                .with_help(
                    "indent its settings under it, e.g. `migration:` then `  lock_timeout: 5s`",
                ))
        }
    }

    let mut application_name = match get(&top, "application_name") {
        None | Some(Value::Null) => DEFAULT_APPLICATION_NAME.to_string(),
        Some(value) => file.string(value, "application_name")?,
    };
    if let Some(from_url) = &connection.application_name {
        application_name = from_url.clone();
    }
    if let Some(timeout) = connection.connect_timeout {
        migration.connect_timeout = timeout;
    }

    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Environment {
        name,
        file: Some(path.to_path_buf()),
        origin: Origin::ConfigFlag,
        connection,
        migration,
        application_name,
    })
}

fn get<'a>(map: &'a Mapping, key: &str) -> Option<&'a Value> {
    map.get(key)
}

struct FileContext<'a> {
    /// The file as messages name it.
    shown: &'a str,
    vars: &'a dyn Fn(&str) -> Option<String>,
}

impl FileContext<'_> {
    fn error(&self, what: &str) -> Error {
        Error::invalid(format!("environment file {} {what}", self.shown))
    }

    fn key_error(&self, key: &str, what: &str) -> Error {
        Error::invalid(format!("environment file {}: `{key}` {what}", self.shown))
    }

    /// A scalar as text, with `${VAR}` expanded in strings. Numbers and booleans are taken as
    /// written (`port: 5432`, `password: 1234`).
    fn string(&self, value: &Value, key: &str) -> Result<String> {
        match value {
            Value::String(text) => expand(text, self.vars).map_err(|e| match e {
                ExpandError::Unset(var) => self
                    .key_error(key, &format!("uses ${{{var}}}, which is not set"))
                    .with_help(format!(
                        "set {var} in the environment, or give a default: ${{{var}:-value}}"
                    )),
                ExpandError::NotUtf8(var) => self
                    .key_error(
                        key,
                        &format!("uses ${{{var}}}, whose value is not valid UTF-8"),
                    )
                    .with_help(format!("set {var} to UTF-8 text")),
                ExpandError::Malformed(reason) => self
                    .key_error(key, &reason)
                    .with_help("write ${VAR} or ${VAR:-default}; write $$ for a literal $"),
            }),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(self.key_error(key, "must be a string")),
        }
    }

    fn duration(&self, value: &Value, key: &str) -> Result<Duration> {
        let text = self.string(value, key)?;
        text.parse::<Timeout>().map(Duration::from).map_err(|e| {
            self.key_error(key, &format!("{text:?} {e}"))
                .with_help(e.help())
        })
    }

    /// Reports an unknown key that is close to a known one; leaves others to confiture.
    fn check_keys(&self, block: &Mapping, parent: &str, known: &[&str]) -> Result<()> {
        for key in block.keys() {
            let Some(key) = key.as_str() else {
                return Err(self.key_error(parent, "has a key that is not a string"));
            };
            if known.contains(&key) {
                continue;
            }
            if let Some(close) = closest(key, known) {
                return Err(self
                    .key_error(&format!("{parent}.{key}"), "is not a setting")
                    .with_help(format!("did you mean `{parent}.{close}`?")));
            }
        }
        Ok(())
    }

    fn migration_block(&self, block: &Mapping, settings: &mut MigrationSettings) -> Result<()> {
        self.check_keys(block, "migration", MIGRATION_KEYS)?;
        for (key, value) in block {
            let Some(key) = key.as_str() else { continue };
            let full = format!("migration.{key}");
            if value.is_null() {
                continue;
            }
            match key {
                "tracking_table" => {
                    let text = self.string(value, &full)?;
                    settings.tracking_table = TrackingTable::parse(&text).map_err(|e| {
                        let mut error =
                            self.key_error(&full, &format!("is invalid: {}", e.message));
                        error.help = e.help;
                        error
                    })?;
                }
                "lock_timeout" => settings.lock_timeout = self.duration(value, &full)?,
                "statement_timeout" => {
                    settings.statement_timeout = Some(self.duration(value, &full)?);
                }
                "connect_timeout" => settings.connect_timeout = self.duration(value, &full)?,
                "lock_retries" => {
                    let text = self.string(value, &full)?;
                    settings.lock_retries = text.trim().parse().map_err(|_| {
                        self.key_error(
                            &full,
                            &format!("{text:?} is not a whole number from 0 to {}", u32::MAX),
                        )
                        .with_help("write how many times to retry, e.g. `lock_retries: 3`")
                    })?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The legacy `database:` block (used when `database_url` is absent).
    fn legacy_database(&self, block: &Mapping) -> Result<ConnectionSpec> {
        self.check_keys(block, "database", DATABASE_KEYS)?;
        let mut builder = SpecBuilder::default();
        for (key, value) in block {
            let Some(key) = key.as_str() else { continue };
            if value.is_null() || !DATABASE_KEYS.contains(&key) {
                continue;
            }
            let full = format!("database.{key}");
            let text = self.string(value, &full)?;
            let param = if key == "database" { "dbname" } else { key };
            let text = if key == "password" && text.is_empty() {
                None
            } else {
                Some(text)
            };
            if let Some(text) = text {
                builder
                    .set(param, text)
                    .map_err(|reason| self.key_error(&full, &format!("is invalid: {reason}")))?;
            }
        }
        builder
            .finish()
            .map_err(|reason| self.key_error("database", &format!("is invalid: {reason}")))
    }
}

/// `malformed YAML in environment file F at line L, column C: <what the parser says>`, with
/// the parser's own copy of the position left out, and a help line (tabs get their own: YAML
/// forbids them in indentation, and editors hide them).
fn malformed_yaml(text: &str, shown: &str, e: &serde_yaml::Error) -> Error {
    let mut cause = e.to_string();
    let mut at = String::new();
    let mut help =
        "check the YAML syntax there: `key: value` pairs, nested keys indented with spaces";
    if let Some(loc) = e.location() {
        at = format!(" at line {}, column {}", loc.line(), loc.column());
        cause = cause.replacen(
            &format!(" at line {} column {}", loc.line(), loc.column()),
            "",
            1,
        );
        let line = text.lines().nth(loc.line().saturating_sub(1)).unwrap_or("");
        let indentation = &line[..line.len() - line.trim_start().len()];
        if indentation.contains('\t') {
            help = "indent with spaces: YAML does not allow tabs in indentation";
        }
    }
    Error::invalid(format!("malformed YAML in environment file {shown}{at}"))
        .with_cause(cause)
        .with_help(help)
}

// ---------------------------------------------------------------------------------------------
// Small pure helpers

#[derive(Debug, Clone, PartialEq, Eq)]
enum ExpandError {
    /// `${VAR}` with VAR unset and no default.
    Unset(String),
    /// `${VAR}` with VAR set to something that is not UTF-8.
    NotUtf8(String),
    Malformed(String),
}

/// Expands `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`; any other `$` is kept.
/// A variable set to the empty string counts as unset when a default is given (as in sh).
fn expand(text: &str, vars: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(after) = after.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}').ok_or_else(|| {
                ExpandError::Malformed("has a `${` that is not closed with `}`".to_string())
            })?;
            let body = &inner[..end];
            let (name, default) = match body.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (body, None),
            };
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(ExpandError::Malformed(format!(
                    "uses ${{{body}}}, which is not a variable name"
                )));
            }
            if default.is_some_and(|d| d.contains("${")) {
                return Err(ExpandError::Malformed(format!(
                    "nests a `${{` in the default of ${{{name}}}, which is not supported"
                )));
            }
            match (vars(name), default) {
                (Some(value), _) if is_not_utf8(&value) => {
                    return Err(ExpandError::NotUtf8(name.to_string()))
                }
                (Some(value), Some(default)) if value.is_empty() => out.push_str(default),
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => return Err(ExpandError::Unset(name.to_string())),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A timeout as flags and environment files write it: a whole number with a unit (`500ms`,
/// `5s`, `5 s`, `2min`, `2m`, `1h`; a plain number is milliseconds, as in PostgreSQL), at most
/// [`Timeout::MAX`]. The one rule for every duration the tool reads — `--lock-timeout`,
/// `--lock-timeout-statement`, `--statement-timeout`, `migration.*_timeout`, a URL's
/// `connect_timeout` — so that a value PostgreSQL would refuse is refused before connecting,
/// naming the flag or the file and key, instead of failing inside a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timeout(Duration);

/// Why a text or a [`Duration`] is not a [`Timeout`]. `Display` is a phrase that follows the
/// quoted value (`"600h" is too long: ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutError {
    /// Not a whole number with a known unit.
    Malformed,
    /// Longer than PostgreSQL accepts for its timeout settings.
    TooLong,
}

impl Timeout {
    /// PostgreSQL keeps `statement_timeout`, `lock_timeout` and the other timeout settings in
    /// an `int` of milliseconds: 2147483647 ms, about 24.8 days (`596h`).
    pub const MAX: Duration = Duration::from_millis(i32::MAX as u64);

    /// `duration` as a timeout: refused when longer than [`Timeout::MAX`]. Sub-millisecond
    /// parts are kept (PostgreSQL rounds them).
    pub fn new(duration: Duration) -> Result<Timeout, TimeoutError> {
        if duration > Timeout::MAX {
            Err(TimeoutError::TooLong)
        } else {
            Ok(Timeout(duration))
        }
    }

    /// Whole seconds, as libpq's `connect_timeout` writes them.
    pub fn from_secs_text(text: &str) -> Result<Timeout, TimeoutError> {
        let text = text.trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TimeoutError::Malformed);
        }
        let millis = text
            .parse::<u64>()
            .ok()
            .and_then(|seconds| seconds.checked_mul(1_000))
            .ok_or(TimeoutError::TooLong)?;
        Timeout::new(Duration::from_millis(millis))
    }

    pub fn duration(self) -> Duration {
        self.0
    }
}

impl From<Timeout> for Duration {
    fn from(timeout: Timeout) -> Duration {
        timeout.0
    }
}

impl std::str::FromStr for Timeout {
    type Err = TimeoutError;

    fn from_str(text: &str) -> Result<Timeout, TimeoutError> {
        let text = text.trim();
        let digits = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        if digits == 0 {
            return Err(TimeoutError::Malformed);
        }
        let factor: u64 = match text[digits..].trim() {
            "" | "ms" => 1,
            "s" | "sec" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            _ => return Err(TimeoutError::Malformed),
        };
        // Only digits are left: a number that does not fit in u64 is too long, not malformed.
        let millis = text[..digits]
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(factor))
            .ok_or(TimeoutError::TooLong)?;
        Timeout::new(Duration::from_millis(millis))
    }
}

impl TimeoutError {
    /// What to write instead.
    pub fn help(self) -> &'static str {
        match self {
            TimeoutError::Malformed => {
                "write a whole number with a unit: 500ms, 5s, 2min, 1h (a plain number is milliseconds)"
            }
            TimeoutError::TooLong => {
                "write a duration of at most 596h (2147483647 ms)"
            }
        }
    }
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeoutError::Malformed => f.write_str("is not a duration"),
            TimeoutError::TooLong => f.write_str(
                "is too long: PostgreSQL's timeouts are at most 2147483647 ms (about 24.8 days)",
            ),
        }
    }
}

impl std::error::Error for TimeoutError {}

/// The known word closest to `word`: [`crate::text::did_you_mean`].
fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    crate::text::did_you_mean(word, known.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_vars(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn parses_urls() {
        let spec = ConnectionSpec::parse(
            "postgresql://app:p%40ss%2Fw@db.internal:6543/my%20db?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x&connect_timeout=3&options=-c%20search_path%3Dapp",
        )
        .unwrap();
        assert_eq!(spec.user, "app");
        assert_eq!(spec.password.as_deref(), Some("p@ss/w"));
        assert_eq!(spec.host, "db.internal");
        assert_eq!(spec.port, 6543);
        assert_eq!(spec.dbname, "my db");
        assert_eq!(spec.sslmode, SslMode::VerifyFull);
        assert_eq!(spec.sslrootcert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(spec.application_name.as_deref(), Some("x"));
        assert_eq!(spec.connect_timeout, Some(Duration::from_secs(3)));
        assert_eq!(spec.options.as_deref(), Some("-c search_path=app"));
        assert_eq!(spec.to_string(), "app@db.internal:6543/my db");
    }

    #[test]
    fn defaults_follow_libpq_where_it_is_unambiguous() {
        let spec = ConnectionSpec::parse("postgres://").unwrap();
        assert_eq!(spec.to_string(), "postgres@localhost:5432/postgres");
        assert_eq!(spec.sslmode, SslMode::Prefer);
        let spec = ConnectionSpec::parse("postgresql://bob@h").unwrap();
        assert_eq!(spec.dbname, "bob");
    }

    #[test]
    fn parses_ipv6_and_unix_sockets() {
        let spec = ConnectionSpec::parse("postgresql://u@[::1]:5433/db").unwrap();
        assert_eq!(spec.host, "::1");
        assert_eq!(spec.port, 5433);
        assert_eq!(spec.to_string(), "u@[::1]:5433/db");
        let spec = ConnectionSpec::parse("postgresql://%2Fvar%2Frun%2Fpostgresql/db").unwrap();
        assert_eq!(spec.host, "/var/run/postgresql");
        assert!(spec.is_unix_socket());
        assert_eq!(spec.to_string(), "postgres@/var/run/postgresql:5432/db");
        let spec = ConnectionSpec::parse("postgresql:///db?host=/tmp").unwrap();
        assert_eq!(spec.host, "/tmp");
    }

    #[test]
    fn parses_conninfo() {
        let spec = ConnectionSpec::parse(
            "host=/var/run/postgresql port = 5433 dbname=app user=u password='a b\\'c' sslmode=disable",
        )
        .unwrap();
        assert_eq!(spec.host, "/var/run/postgresql");
        assert_eq!(spec.port, 5433);
        assert_eq!(spec.password.as_deref(), Some("a b'c"));
        assert_eq!(spec.sslmode, SslMode::Disable);
    }

    #[test]
    fn parse_errors_never_quote_the_password() {
        let cases = [
            "postgresql://u:se/cret@host/db",
            "postgresql://u:se?cret@host/db",
            "postgresql://u:secret@host:notaport/db",
            "host=h password=se cret",
            "host=h password=my secret=1",
            "postgresql://u:secret@host/db?bogus=secret",
            "postgresql://u:secret@h1,h2/db",
            "postgresql://u:s%zzecret@h/db",
            "host=h password='secret",
            "mysql://u:secret@h/db",
        ];
        for case in cases {
            let err = ConnectionSpec::parse(case).unwrap_err();
            let text = format!("{err} {:?} {:?}", err.help, err.details);
            assert!(
                !text.contains("secret") && !text.contains("cret"),
                "{case}: {text}"
            );
            assert!(
                err.message.starts_with("invalid connection string: "),
                "{text}"
            );
        }
    }

    #[test]
    fn conninfo_with_a_url_in_a_value_is_conninfo() {
        let spec = ConnectionSpec::parse("host=h dbname=d password='a://b'").unwrap();
        assert_eq!(spec.password.as_deref(), Some("a://b"));
        let err = ConnectionSpec::parse("mysql://u@h/d").unwrap_err();
        assert!(err.message.contains("scheme"), "{err}");
    }

    #[test]
    fn libpq_parameters_are_named_as_such() {
        let err = ConnectionSpec::parse("host=h sslcert=/c.pem").unwrap_err();
        assert!(
            err.message
                .contains("unsupported libpq parameter \"sslcert\""),
            "{err}"
        );
    }

    #[test]
    fn unknown_parameter_suggests_the_known_one() {
        let err = ConnectionSpec::parse("postgresql://h/db?sslmod=require").unwrap_err();
        assert!(err.message.contains("did you mean \"sslmode\""), "{err}");
        let err = ConnectionSpec::parse("postgresql://h/db?sslmode=allow").unwrap_err();
        assert!(err.message.contains("verify-full"), "{err}");
    }

    #[test]
    fn debug_and_display_redact_the_password() {
        let spec = ConnectionSpec::parse("postgresql://u:hunter2@h/db").unwrap();
        assert!(!format!("{spec} {spec:?}").contains("hunter2"));
        assert_eq!(
            spec.scrub("password hunter2 and hunter2"),
            "password *** and ***"
        );
        let spec = ConnectionSpec::parse("postgresql://u:a%2Fb@h/db").unwrap();
        assert_eq!(spec.scrub("url u:a%2Fb@h and a/b"), "url u:***@h and ***");
    }

    #[test]
    fn expands_variables() {
        let vars = |name: &str| match name {
            "HOST" => Some("db".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(expand("a${HOST}b", &vars).unwrap(), "adbb");
        assert_eq!(
            expand("${NOPE:-x}-${EMPTY:-y}-${EMPTY}", &vars).unwrap(),
            "x-y-"
        );
        assert_eq!(expand("$$HOST $HOST $", &vars).unwrap(), "$HOST $HOST $");
        assert_eq!(
            expand("${NOPE}", &vars),
            Err(ExpandError::Unset("NOPE".to_string()))
        );
        assert!(matches!(
            expand("${HOST", &vars),
            Err(ExpandError::Malformed(_))
        ));
        assert!(matches!(
            expand("${1X}", &vars),
            Err(ExpandError::Malformed(_))
        ));
        // sh would expand a nested default; taking `${HOST` as the default's text would
        // silently put `${HOST}` in a URL or a password.
        assert!(matches!(
            expand("${NOPE:-${HOST}}", &vars),
            Err(ExpandError::Malformed(m)) if m.contains("nests")
        ));
        // A value is not expanded again: `${A}` set to `${A}` is no loop.
        let looping = |name: &str| (name == "A").then(|| "${A}".to_string());
        assert_eq!(expand("${A}", &looping).unwrap(), "${A}");
    }

    #[test]
    fn parses_timeouts() {
        let ms = |n| Ok(Duration::from_millis(n));
        let parse = |text: &str| text.parse::<Timeout>().map(Duration::from);
        assert_eq!(parse("500ms"), ms(500));
        assert_eq!(parse("5s"), ms(5_000));
        assert_eq!(parse(" 5 s "), ms(5_000));
        assert_eq!(parse("2min"), ms(120_000));
        assert_eq!(parse("1m"), ms(60_000));
        assert_eq!(parse("1h"), ms(3_600_000));
        assert_eq!(parse("250"), ms(250));
        assert_eq!(parse("0"), ms(0));
        for bad in ["", "s", "5x", "-5s", "1.5s", "+5s", "5 h m", "٣s"] {
            assert_eq!(parse(bad), Err(TimeoutError::Malformed), "{bad}");
        }
    }

    #[test]
    fn timeouts_stop_at_postgres_limit() {
        let parse = |text: &str| text.parse::<Timeout>().map(Duration::from);
        // int milliseconds: the largest value PostgreSQL's timeout settings accept.
        assert_eq!(parse("2147483647"), Ok(Timeout::MAX));
        assert_eq!(parse("2147483647ms"), Ok(Timeout::MAX));
        assert_eq!(parse("596h"), Ok(Duration::from_secs(596 * 3600)));
        assert_eq!(parse("35791min"), Ok(Duration::from_secs(35_791 * 60)));
        for long in [
            "2147483648",
            "2147483648ms",
            "2147484s",
            "35792min",
            "597h",
            "600h",
            "3000h",
            "99999999999999999999h",
            "99999999999999999999",
        ] {
            assert_eq!(parse(long), Err(TimeoutError::TooLong), "{long}");
        }
        assert_eq!(
            Timeout::from_secs_text("2147483").map(Duration::from),
            Ok(Duration::from_secs(2_147_483))
        );
        for long in ["2147484", "99999999999999999999"] {
            assert_eq!(
                Timeout::from_secs_text(long),
                Err(TimeoutError::TooLong),
                "{long}"
            );
        }
        assert_eq!(Timeout::from_secs_text("5s"), Err(TimeoutError::Malformed));
        assert_eq!(
            Timeout::new(Timeout::MAX + Duration::from_nanos(1)),
            Err(TimeoutError::TooLong)
        );
        assert!(TimeoutError::TooLong.to_string().contains("2147483647 ms"));
    }

    #[test]
    fn a_url_connect_timeout_beyond_the_limit_is_refused() {
        let err = ConnectionSpec::parse("postgresql://h/db?connect_timeout=9999999").unwrap_err();
        assert!(err.message.contains("at most 2147483 seconds"), "{err}");
        let spec = ConnectionSpec::parse("host=h connect_timeout=2147483").unwrap();
        assert_eq!(spec.connect_timeout, Some(Duration::from_secs(2_147_483)));
    }

    #[test]
    fn names_postgres_would_truncate_or_cannot_take_are_refused() {
        let at_limit = "d".repeat(63);
        let spec = ConnectionSpec::parse(&format!("postgresql://u@h/{at_limit}")).unwrap();
        assert_eq!(spec.dbname, at_limit);
        for (text, needle) in [
            (
                format!("postgresql://u@h/{}", "d".repeat(64)),
                "database name is 64 bytes",
            ),
            (
                format!("host=h user={} dbname=x", "é".repeat(32)),
                "user name is 64 bytes",
            ),
            (
                "postgresql://u@h/db%00x".to_string(),
                "database name contains a NUL",
            ),
            (
                "postgresql://u:se%00cret@h/db".to_string(),
                "password contains a NUL",
            ),
            (
                "postgresql://u%00@h/db".to_string(),
                "user name contains a NUL",
            ),
            ("postgresql://h%00/db".to_string(), "host contains a NUL"),
            (
                "postgresql://h/db?options=-c%20a%3D%00".to_string(),
                "options contains a NUL",
            ),
            (
                "postgresql://h/db?application_name=a%00".to_string(),
                "application_name contains a NUL",
            ),
        ] {
            let err = ConnectionSpec::parse(&text).unwrap_err();
            assert!(err.message.contains(needle), "{text}: {err}");
            assert!(!err.message.contains("cret"), "{err}");
        }
    }

    #[test]
    fn control_characters_are_escaped_when_shown() {
        let spec = ConnectionSpec::parse("postgresql://u%1B@h/db%1B%5B2J%0A").unwrap();
        assert_eq!(spec.dbname, "db\u{1b}[2J\n");
        let shown = spec.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(shown, "u\\u{1b}@h:5432/db\\u{1b}[2J\\n");
    }

    #[test]
    fn a_variable_that_is_not_utf8_is_named_as_such() {
        // What `process_vars` returns for a value that is not UTF-8.
        let vars = |name: &str| (name == "PW").then(|| "a\u{FFFD}b".to_string());
        assert_eq!(
            expand("x${PW}y", &vars),
            Err(ExpandError::NotUtf8("PW".to_string()))
        );
        let err = Environment::parse(
            "database_url: postgresql://u:${PW}@h/db\n",
            Path::new("db/environments/x.yaml"),
            &vars,
        )
        .unwrap_err();
        assert!(
            err.message
                .contains("uses ${PW}, whose value is not valid UTF-8"),
            "{err}"
        );
    }

    #[test]
    fn closest_finds_misspellings_only() {
        let known = MIGRATION_KEYS;
        assert_eq!(closest("tracking_tabel", known), Some("tracking_table"));
        assert_eq!(closest("lock-timeout", known), Some("lock_timeout"));
        assert_eq!(closest("strict_mode", known), None);
        assert_eq!(closest("hots", DATABASE_KEYS), Some("host"));
        assert_eq!(closest("databases", TOP_LEVEL_KEYS), Some("database"));
    }

    #[test]
    fn reads_a_minimal_file() {
        let env = Environment::parse(
            "database_url: postgresql://localhost/app\n",
            Path::new("db/environments/x.yaml"),
            &no_vars,
        )
        .unwrap();
        assert_eq!(env.name, "x");
        assert_eq!(env.connection.to_string(), "postgres@localhost:5432/app");
        assert_eq!(env.migration, MigrationSettings::default());
        assert_eq!(env.application_name, DEFAULT_APPLICATION_NAME);
    }
}
