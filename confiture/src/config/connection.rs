//! `ConnectionSpec`: where a database is and how to log in, shown without its password.
//! Parsed by [`super::syntax`] from URLs and libpq conninfo.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::libpq::PassfileUnread;
use super::syntax::parse_spec;
use crate::error::{Error, Result};

/// `application_name` sent to the server unless the environment sets one.
pub const DEFAULT_APPLICATION_NAME: &str = "cargo-confiture";
/// Host used when a URL or environment file names none (TCP, as confiture (Python) does).
pub const DEFAULT_HOST: &str = "localhost";
/// Port used when none is named.
pub const DEFAULT_PORT: u16 = 5432;
/// User used when none is named and libpq's defaults give none either: no `PGUSER`, and the
/// operating-system user's name cannot be found ([`ConnectionSpec::parse`]).
pub const DEFAULT_USER: &str = "postgres";

/// libpq's `sslmode` values that we honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SslMode {
    /// No TLS.
    Disable,
    #[default]
    /// TLS when the server offers it, else plain (libpq's default).
    Prefer,
    /// TLS, without checking the server's certificate.
    Require,
    /// TLS, with the server's certificate signed by a trusted CA.
    VerifyCa,
    /// TLS, with a trusted certificate whose name matches the host.
    VerifyFull,
}

impl SslMode {
    /// The mode a libpq `sslmode` value names; `None` for an unknown one.
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

    /// The libpq spelling (`verify-full`).
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

/// libpq's `target_session_attrs`: which of a URL's hosts a session may use. The hosts are
/// tried in order; with `prefer-standby`, a second round takes any host when no standby answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetSessionAttrs {
    /// The first host that accepts the connection.
    #[default]
    Any,
    /// A session that can write (`transaction_read_only` is off).
    ReadWrite,
    /// A session that cannot write (`transaction_read_only` is on).
    ReadOnly,
    /// A server not in recovery.
    Primary,
    /// A server in recovery (a standby).
    Standby,
    /// A standby if one answers, else any host.
    PreferStandby,
}

impl TargetSessionAttrs {
    /// Every value, in libpq's order.
    pub const ALL: [TargetSessionAttrs; 6] = [
        TargetSessionAttrs::Any,
        TargetSessionAttrs::ReadWrite,
        TargetSessionAttrs::ReadOnly,
        TargetSessionAttrs::Primary,
        TargetSessionAttrs::Standby,
        TargetSessionAttrs::PreferStandby,
    ];

    /// The value libpq spells `text` (`read-write`, ...), if it is one.
    pub fn parse(text: &str) -> Option<TargetSessionAttrs> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }

    /// Whether every session this attribute picks cannot write: `read-only` and `standby` ask
    /// for such a session, so a writing command refuses them before connecting.
    /// `prefer-standby` does not: with no standby answering it takes a host that can write.
    pub fn never_writes(self) -> bool {
        matches!(
            self,
            TargetSessionAttrs::ReadOnly | TargetSessionAttrs::Standby
        )
    }

    /// Whether this attribute asks for a standby (`standby`, `prefer-standby`): a writing
    /// command refused on a standby says that the attribute chose it.
    pub fn prefers_standby(self) -> bool {
        matches!(
            self,
            TargetSessionAttrs::Standby | TargetSessionAttrs::PreferStandby
        )
    }

    /// How libpq spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetSessionAttrs::Any => "any",
            TargetSessionAttrs::ReadWrite => "read-write",
            TargetSessionAttrs::ReadOnly => "read-only",
            TargetSessionAttrs::Primary => "primary",
            TargetSessionAttrs::Standby => "standby",
            TargetSessionAttrs::PreferStandby => "prefer-standby",
        }
    }
}

impl fmt::Display for TargetSessionAttrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `sslrootcert` that names the public roots (libpq 16's `sslrootcert=system`; ours are
/// the webpki (Mozilla) roots) rather than a file: a file of that name is `./system`.
pub const SYSTEM_ROOTS: &str = "system";

/// Everything needed to open a connection. `Display` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionSpec {
    /// A host name, an IP address (IPv6 without brackets), or a Unix socket directory
    /// (starts with `/`).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The other hosts of a multi-host URL or conninfo (`postgresql://h1,h2:5433/db`,
    /// `host=h1,h2 port=5432,5433`), tried in order after `host:port`.
    pub more_hosts: Vec<(String, u16)>,
    /// Which host's session to keep (libpq's `target_session_attrs`).
    pub target_session_attrs: TargetSessionAttrs,
    /// The role to connect as.
    pub user: String,
    /// The password, if any (never displayed): the URL's or file's, else `PGPASSWORD`, else
    /// the password file's line for `host:port` (see [`passfile`](Self::passfile)).
    pub password: Option<String>,
    /// The password file (libpq's: the connection's `passfile`, else `PGPASSFILE`, else
    /// `~/.pgpass`) that gives each host's password, when neither the URL or file nor
    /// `PGPASSWORD` gave one: [`with_host`](Self::with_host) reads that host's line. `None`
    /// when a password was given.
    pub passfile: Option<PathBuf>,
    /// The `passfile` the connection string wrote (kept when a password made it unused): a
    /// URL written for one of its databases must say it too
    /// (`hint::connection_settings_a_url_drops`), and one written in a file starts at that
    /// file's directory ([`ConnectionSpec::files_relative_to`]).
    pub(crate) written_passfile: Option<PathBuf>,
    /// Where [`password`](Self::password) came from, for the help of a refused one; `None`
    /// without a password.
    pub(crate) password_source: Option<PasswordSource>,
    /// The database.
    pub dbname: String,
    /// How [`dbname`](Self::dbname) was filled in when the connection string or environment
    /// file named no database (`postgresql://app@db:5432/`); `None` when it names one. Set where
    /// the connection is resolved (`SpecBuilder::finish`, the legacy block's defaults) and
    /// read by [`super::Environment::refuse_unnamed_database`].
    pub(crate) dbname_defaulted: Option<DefaultedDatabase>,
    /// Whether and how to use TLS.
    pub sslmode: SslMode,
    /// CA certificates (PEM) the server's certificate is checked against; for `verify-ca` and
    /// `verify-full` without one given, libpq's `~/.postgresql/root.crt`. [`SYSTEM_ROOTS`]
    /// (libpq 16's `sslrootcert=system`) is the public roots instead.
    pub sslrootcert: Option<PathBuf>,
    /// The client certificate (PEM, with any intermediates after it) sent when the server asks
    /// for one; always set together with [`sslkey`](Self::sslkey).
    pub sslcert: Option<PathBuf>,
    /// The unencrypted private key (PEM) of [`sslcert`](Self::sslcert). Only its path is ever
    /// shown.
    pub sslkey: Option<PathBuf>,
    /// libpq's `options` (e.g. `-c search_path=app`), sent in the startup packet.
    pub options: Option<String>,
    /// `application_name` from the URL, if it names one (see [`super::Environment::application_name`]).
    pub application_name: Option<String>,
    /// `connect_timeout` from the URL (whole seconds there, as in libpq), if it names one.
    pub connect_timeout: Option<Duration>,
    /// How the connection string was written, which a help writing one of its parameters
    /// follows ([`ConnectionSpec::options_setting`]).
    pub(crate) written: Written,
}

/// Where a connection's password came from: the one record of it, set where the connection
/// settings are resolved (`config::params`, [`ConnectionSpec::with_host`]) and read by the
/// help of a refused password, which names it (never the password).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Only the connection's helps (feature `db`) ask.
#[cfg_attr(not(feature = "db"), allow(dead_code))]
pub(crate) enum PasswordSource {
    /// The connection string or environment file itself wrote it.
    Written,
    /// `PGPASSWORD`.
    Variable,
    /// Line `line` (from 1) of the password file [`ConnectionSpec::passfile`].
    PasswordFile { line: usize },
}

/// Where the name of a database that a connection string or environment file does not write
/// came from: the one record of it ([`ConnectionSpec::dbname_defaulted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefaultedDatabase {
    /// libpq's default, the user's name (a URL or conninfo without a database; `PGDATABASE`
    /// is not read).
    UserName,
    /// confiture (Python)'s default for a legacy `database:` block without `database`:
    /// `postgres`.
    // Only environment files write such a block.
    #[cfg_attr(not(feature = "env-files"), allow(dead_code))]
    ConfitureBlock,
}

impl DefaultedDatabase {
    /// Where the name came from, for a message that names it: `the user's name, libpq's
    /// default`.
    pub(crate) fn says(self) -> &'static str {
        match self {
            Self::UserName => "the user's name, libpq's default",
            Self::ConfitureBlock => {
                "confiture (Python)'s default for a `database:` block without `database`"
            }
        }
    }
}

/// How a connection string is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Written {
    /// A `postgresql://` URL: its parameters in the query, percent-encoded.
    #[default]
    Url,
    /// libpq's `key=value` pairs: a value with spaces in single quotes.
    Pairs,
}

/// `user@host:port/db` — the form printed on stderr at every connecting command, and the one
/// every output shows a target by. Control characters are escaped (`\u{1b}`): a name must not
/// drive the terminal. A name holding a `password=` is shown up to it (`u,password=***`): the
/// parsers refuse such a value (`password_pair_end`), a spec built by hand is shown safely too.
impl fmt::Display for ConnectionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@", shown(&self.shown_user()))?;
        for (i, (host, port)) in self.hosts().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            let host = masked(host);
            if host.contains(':') && !host.starts_with('/') {
                write!(f, "{comma}[{}]:{port}", shown(&host))?;
            } else {
                write!(f, "{comma}{}:{port}", shown(&host))?;
            }
        }
        write!(f, "/{}", shown(&self.shown_dbname()))
    }
}

/// Where the text after a `password=` in `text` starts, if `text` holds one (ASCII case
/// ignored, spaces allowed before the `=`: `Password =`, `sslpassword=`): the one rule of a
/// value that holds a password — libpq pairs joined by commas or `;` where spaces belong
/// (`user=u,password=PW`, which libpq reads as the user `u,password=PW`), or a URL's
/// `?host=h,password=PW`. Such a value is refused when parsed (`SpecBuilder`), and masked
/// from there on when shown.
pub(super) fn password_pair_end(text: &str) -> Option<usize> {
    const WORD: &[u8] = b"password";
    let bytes = text.as_bytes();
    (0..bytes.len()).find_map(|at| {
        let rest = &bytes[at..];
        if rest.len() < WORD.len() || !rest[..WORD.len()].eq_ignore_ascii_case(WORD) {
            return None;
        }
        let after = at + WORD.len();
        let spaces = bytes[after..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        (bytes.get(after + spaces) == Some(&b'=')).then_some(after + spaces + 1)
    })
}

/// `text` up to its first `password=`, the rest `***` ([`password_pair_end`]).
fn masked(text: &str) -> std::borrow::Cow<'_, str> {
    match password_pair_end(text) {
        Some(end) => std::borrow::Cow::Owned(format!("{}***", &text[..end])),
        None => std::borrow::Cow::Borrowed(text),
    }
}

/// `options` (the server's switches, split at whitespace a backslash does not escape) with
/// each `-c setting=...`, `-csetting=...` or `--setting=...` of it (the name in any case, `-`
/// for `_`) given `value`, in the form written; `-c setting=value` added when it has none.
// Only the helps of a session (feature `db`) write options.
#[cfg_attr(not(feature = "db"), allow(dead_code))]
fn with_setting(options: &str, setting: &str, value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_whitespace() || c == '\\' {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    let mut words = option_words(options);
    // The name part of `name=value`, when it names `setting`.
    let names = |assignment: &str| {
        assignment
            .split_once('=')
            .is_some_and(|(name, _)| setting_name(name).eq_ignore_ascii_case(setting))
    };
    let given = |assignment: &str| {
        let name = assignment
            .split_once('=')
            .map_or(assignment, |(name, _)| name);
        format!("{name}={escaped}")
    };
    let mut set = false;
    for i in 0..words.len() {
        let after_c = i > 0 && words[i - 1] == "-c";
        let prefix = ["--", "-c"]
            .into_iter()
            .find(|p| words[i].len() > p.len() && words[i].starts_with(p));
        if after_c && names(&words[i]) {
            words[i] = given(&words[i]);
            set = true;
        } else if let Some(prefix) = prefix.filter(|p| names(&words[i][p.len()..])) {
            words[i] = format!("{prefix}{}", given(&words[i][prefix.len()..]));
            set = true;
        }
    }
    if !set {
        words.push(format!("-c {setting}={escaped}"));
    }
    words.join(" ")
}

/// `options`'s words as the server splits them (`pg_split_opts`): at whitespace a backslash
/// does not escape, each backslash kept with the character it escapes.
fn option_words(options: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            word.push(c);
            word.extend(chars.next());
        } else if c.is_whitespace() {
            words.extend((!word.is_empty()).then(|| std::mem::take(&mut word)));
        } else {
            word.push(c);
        }
    }
    words.extend((!word.is_empty()).then_some(word));
    words
}

/// A setting's name as the server reads it from a switch (`ParseLongOption`): `-` is `_`.
fn setting_name(name: &str) -> String {
    name.replace('-', "_")
}

/// The settings `options` gives, in order, as the server reads them: each `-c name=value`,
/// `-cname=value` or `--name=value`, the name lower case with `_` for `-` (the server's names
/// are not case-sensitive), the value with its escaping backslashes taken out. The server's
/// other switches (`-e`, `-F`, ...) give none here. [`with_setting`] finds its setting by the
/// same reading.
// Only a session (feature `db`) checks what its options gave.
#[cfg_attr(not(feature = "db"), allow(dead_code))]
pub(crate) fn option_settings(options: &str) -> Vec<(String, String)> {
    let words = option_words(options);
    let unescaped = |text: &str| {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.extend(chars.next()),
                c => out.push(c),
            }
        }
        out
    };
    let mut settings = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let after_c = i > 0 && words[i - 1] == "-c";
        let assignment = match ["--", "-c"]
            .into_iter()
            .find(|p| word.len() > p.len() && word.starts_with(p))
        {
            _ if after_c => Some(word.as_str()),
            Some(prefix) => Some(&word[prefix.len()..]),
            None => None,
        };
        if let Some((name, value)) = assignment.and_then(|a| a.split_once('=')) {
            settings.push((setting_name(name).to_lowercase(), unescaped(value)));
        }
    }
    settings
}

/// `text` as a URL's query value: percent-encoded where the query's or the value's syntax
/// would read a character otherwise (a space, `=`, `&`, `#`, `%`, `+`, `\`, `'`, `?`), and
/// every byte outside printable ASCII.
// Only the helps of a session (feature `db`) write options.
#[cfg_attr(not(feature = "db"), allow(dead_code))]
fn url_encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_graphic() && !b"=&#%+\\'?".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `"name"`: [`shown`] between double quotes, the one way a message quotes a name it rejects
/// (a database, a tenant schema): each control character escaped once (`"x\u{1b}[2J"`), never
/// escaped again by a `{:?}` of the escaped text. A text longer than any name PostgreSQL takes
/// ([`MAX_NAME_BYTES`](super::MAX_NAME_BYTES) characters) is cut there ([`crate::display::clip`])
/// and its length said: `"tenant_aaaa…" (1048576 bytes)`.
pub fn quoted(text: &str) -> String {
    match crate::display::clip(text, super::MAX_NAME_BYTES) {
        Some(kept) => format!("\"{}…\" ({} bytes)", shown(kept), text.len()),
        None => format!("\"{}\"", shown(text)),
    }
}

/// [`quoted`] of a text written where a target goes (an entry of a target list, a row of a
/// `--targets-query`, an entry of `fleet.targets`): **the one way a message echoes a target's
/// text**. A connection string there ([`names_a_connection`](super::names_a_connection)), also
/// commented out with a leading `#`, is never shown, only the connection it names as
/// [`RedactedConnection`] does: it may hold a password. `# <connection string of
/// postgres@h:5432/x, not shown>`.
// Only the fleet's lists (feature `db`) echo a target's text.
#[cfg_attr(not(feature = "db"), allow(dead_code))]
pub(crate) fn quoted_entry(text: &str) -> String {
    if !super::names_a_connection(text) {
        return quoted(text);
    }
    match text.trim_start().strip_prefix('#') {
        Some(rest) => format!("# {:?}", RedactedConnection(rest.trim_start())),
        None => format!("{:?}", RedactedConnection(text)),
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

/// How `{:?}` shows a connection string that a public value keeps as it was written
/// ([`Selection::Url`](super::Selection::Url), `ScratchServer::Url`, a URL or conninfo of
/// `fleet.targets`): the connection it names, as [`ConnectionSpec`]'s `Display` shows it
/// (user, host, port, database), never the text, which may hold a password.
pub struct RedactedConnection<'a>(pub &'a str);

impl fmt::Debug for RedactedConnection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match parse_spec(self.0) {
            Ok(spec) => write!(f, "<connection string of {spec}, not shown>"),
            Err(_) => f.write_str("<connection string, not shown>"),
        }
    }
}

/// `{:?}` of a text written where a name goes (an entry of `fleet.targets`, `--env`'s
/// name): the name as it is, a connection string given there
/// ([`names_a_connection`](super::names_a_connection)) as [`RedactedConnection`].
pub(crate) struct NameOrConnection<'a>(pub(crate) &'a str);

impl fmt::Debug for NameOrConnection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if super::names_a_connection(self.0) {
            RedactedConnection(self.0).fmt(f)
        } else {
            self.0.fmt(f)
        }
    }
}

/// Debug is redacted too: a `{:?}` in a log line must not leak the password.
impl fmt::Debug for ConnectionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSpec")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("more_hosts", &self.more_hosts)
            .field("target_session_attrs", &self.target_session_attrs)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("passfile", &self.passfile)
            .field("written_passfile", &self.written_passfile)
            .field("password_source", &self.password_source)
            .field("dbname", &self.dbname)
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .field("sslcert", &self.sslcert)
            .field("sslkey", &self.sslkey)
            .field("options", &self.options)
            .field("application_name", &self.application_name)
            .field("connect_timeout", &self.connect_timeout)
            .field("written", &self.written)
            .finish()
    }
}

impl ConnectionSpec {
    /// Parses a `postgresql://` (or `postgres://`) URL or a libpq `key=value` conninfo string.
    ///
    /// Supported: percent-decoding, IPv6 hosts in brackets, Unix socket directories
    /// (`host=/var/run/postgresql`, or `%2F...` as the URL host), and the parameters `host`,
    /// `port` (several hosts and ports separated by commas), `user`, `password`, `dbname`,
    /// `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `target_session_attrs`, `application_name`,
    /// `connect_timeout` and `options`. Errors never quote the text: it may hold a password.
    pub fn parse(text: &str) -> Result<ConnectionSpec> {
        parse_spec(text).map_err(|reason| {
            Error::invalid(format!("invalid connection string: {reason}"))
                .with_help(connection_help(text))
        })
    }

    /// The `options` parameter that gives the session's `setting` the `value`, written as this
    /// connection string writes its parameters — `options=-c%20search_path%3Dpublic` in a URL,
    /// `options='-c search_path=public'` in `key=value` pairs —, with the other options it has
    /// and its own `-c setting=...` (or `-csetting=...`, `--setting=...`) given the value in
    /// the form it is written ([`with_setting`]). What a help says to write where the
    /// connection's options set a setting ([`crate::db`]'s `settings::lift`). Holds no
    /// password: the parsers refuse one in `options`.
    // Only the helps of a session (feature `db`) write options.
    #[cfg_attr(not(feature = "db"), allow(dead_code))]
    pub(crate) fn options_setting(&self, setting: &str, value: &str) -> String {
        let options = with_setting(self.options.as_deref().unwrap_or_default(), setting, value);
        match self.written {
            Written::Url => format!("options={}", url_encoded(&options)),
            Written::Pairs => format!(
                "options='{}'",
                options.replace('\\', "\\\\").replace('\'', "\\'")
            ),
        }
    }

    /// Every `(host, port)` in the order they are tried: `host:port`, then `more_hosts`.
    pub fn hosts(&self) -> impl Iterator<Item = (&str, u16)> {
        std::iter::once((self.host.as_str(), self.port))
            .chain(self.more_hosts.iter().map(|(h, p)| (h.as_str(), *p)))
    }

    /// The spec of one of its hosts alone (`target_session_attrs` kept), with that host's
    /// password from the password file when the password comes from it.
    pub fn with_host(&self, host: &str, port: u16) -> ConnectionSpec {
        let (password, password_source) = match &self.passfile {
            Some(passfile) => super::libpq::LibpqDefaults {
                passfile: Some(passfile.clone()),
                ..Default::default()
            }
            .passfile_password(host, port, &self.dbname, &self.user)
            .map_or((None, None), |(password, line)| {
                (Some(password), Some(PasswordSource::PasswordFile { line }))
            }),
            None => (self.password.clone(), self.password_source),
        };
        ConnectionSpec {
            host: host.to_string(),
            port,
            more_hosts: Vec::new(),
            password,
            password_source,
            ..self.clone()
        }
    }

    /// Names the database `name` in place of the one this connection names or defaulted to: a
    /// target a fleet's list names by name on this server.
    // Only a fleet (feature `db`) lists targets by name.
    #[cfg_attr(not(feature = "db"), allow(dead_code))]
    pub(crate) fn name_database(&mut self, name: &str) {
        self.dbname = name.to_string();
        self.dbname_defaulted = None;
    }

    /// Whether the connection string or environment file named no database, so that its
    /// name is a default: the user's name (libpq's), or `postgres` (a legacy `database:` block's).
    pub fn names_no_database(&self) -> bool {
        self.dbname_defaulted.is_some()
    }

    /// Makes a relative `sslrootcert`, `sslcert`, `sslkey` or `passfile` start at `base`, the
    /// directory of the file that wrote it: the one rule for the files of a connection written
    /// in a file (an environment file's own connection, a URL in its `fleet.targets` list or
    /// in a target file), so that the file works from any directory. A connection given on
    /// the command line (`--database-url`) or by a query keeps them relative to the current
    /// directory, as psql does. A `passfile` that gives the password is read again there.
    #[cfg(any(feature = "db", feature = "env-files"))]
    pub(crate) fn files_relative_to(&mut self, base: &std::path::Path) {
        // `sslrootcert=system` names the public roots, not a file.
        let system_roots = self.uses_system_roots();
        for file in [
            (!system_roots).then_some(&mut self.sslrootcert),
            Some(&mut self.sslcert),
            Some(&mut self.sslkey),
            Some(&mut self.written_passfile),
        ]
        .into_iter()
        .flatten()
        .flatten()
        {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
        // The password file is the written one unless a password was given (`passfile` None).
        if self.passfile.is_some() && self.written_passfile.is_some() {
            self.passfile = self.written_passfile.clone();
            let read = self.with_host(&self.host.clone(), self.port);
            (self.password, self.password_source) = (read.password, read.password_source);
        }
    }

    /// The password file that would have given the password but was not read, as libpq does
    /// not read it, because its group or others may read it or it is not a regular file:
    /// what the CLI warns about, as libpq does.
    pub fn ignored_passfile(&self) -> Option<&std::path::Path> {
        self.unread_passfile().map(|(path, _)| path)
    }

    /// [`ConnectionSpec::ignored_passfile`] with why it was not read.
    pub fn unread_passfile(&self) -> Option<(&std::path::Path, PassfileUnread)> {
        let path = self.passfile.as_deref()?;
        if self.password.is_some() {
            return None;
        }
        PassfileUnread::of(path).map(|why| (path, why))
    }

    /// Whether `sslrootcert` names the public roots ([`SYSTEM_ROOTS`]) rather than a file.
    pub fn uses_system_roots(&self) -> bool {
        self.sslrootcert.as_deref() == Some(std::path::Path::new(SYSTEM_ROOTS))
    }

    /// Whether `host` is a Unix socket directory.
    pub fn is_unix_socket(&self) -> bool {
        self.host.starts_with('/')
    }

    /// Whether both name the same database as written: every host and port of their lists,
    /// in order ([`ConnectionSpec::hosts`], a host's name in any case), and the database name.
    /// The user may differ: it is still the same database. Two lists sharing their first host
    /// (`h1,h2/x`, `h1,h3/x`, `h1/x`) are not the same: each may reach another server, which
    /// only connecting tells (a fleet's identity check, `fleet::targets::Claims`).
    pub fn same_database(&self, other: &ConnectionSpec) -> bool {
        self.dbname == other.dbname
            && self.hosts().count() == other.hosts().count()
            && self
                .hosts()
                .zip(other.hosts())
                .all(|((h1, p1), (h2, p2))| h1.eq_ignore_ascii_case(h2) && p1 == p2)
    }

    /// The user as every message names it, `Display` included: up to a `password=` inside
    /// it, `***` after (parsing refuses such a name; a spec built by hand may hold one). The
    /// caller quotes it its way, each escaping control characters: [`quoted`] in a sentence,
    /// `hint::quote` in a command, the SQL of a help through the connection error's escaping.
    pub(crate) fn shown_user(&self) -> std::borrow::Cow<'_, str> {
        masked(&self.user)
    }

    /// The database name as every message names it ([`ConnectionSpec::shown_user`]'s rule).
    pub(crate) fn shown_dbname(&self) -> std::borrow::Cow<'_, str> {
        masked(&self.dbname)
    }

    /// The first host as every message names it ([`ConnectionSpec::shown_user`]'s rule).
    #[cfg_attr(not(feature = "db"), allow(dead_code))]
    pub(crate) fn shown_host(&self) -> std::borrow::Cow<'_, str> {
        masked(&self.host)
    }

    /// `text` with every occurrence of the password as a whole word replaced by `***` (not
    /// inside another word, and not at all when the password is a name every message shows
    /// anyway: the user's, database's or a host's), in any percent-encoding
    /// (each byte as itself or as `%XX`, either case: a URL echoed as typed may encode more
    /// than it needs to): applied to driver messages before they reach an error, just in case,
    /// and by the CLI to its errors when a connection string was given on its command line.
    /// A name of the spec holding a `password=` (user, database, host) is replaced by its
    /// shown form too (up to the `password=`, `***` after, as `Display` shows it): the
    /// server's messages quote the names.
    pub fn scrub(&self, text: &str) -> String {
        let mut text = std::borrow::Cow::Borrowed(text);
        let names = [&self.user, &self.dbname, &self.host]
            .into_iter()
            .chain(self.more_hosts.iter().map(|(host, _)| host));
        for name in names {
            if let std::borrow::Cow::Owned(shown) = masked(name) {
                text = std::borrow::Cow::Owned(text.replace(name.as_str(), &shown));
            }
        }
        let text = text.as_ref();
        // A password that is a name every message shows anyway hides nothing when masked,
        // and masking it would garble every message that names the role or database.
        let shown_anyway = |p: &str| {
            [&self.user, &self.dbname, &self.host]
                .into_iter()
                .chain(self.more_hosts.iter().map(|(host, _)| host))
                .any(|name| name == p)
        };
        let Some(password) =
            (self.password.as_deref()).filter(|p| !p.is_empty() && !shown_anyway(p))
        else {
            return text.to_string();
        };
        let (bytes, wanted) = (text.as_bytes(), password.as_bytes());
        // Only a whole word is the password: where the password begins (ends) with a letter,
        // digit or `_`, the text before (after) it must not be one — else `app` would be
        // masked inside `h9_app`, garbling the message and telling which letters it is.
        let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b >= 0x80;
        let starts_word = wanted.first().is_some_and(word);
        let ends_word = wanted.last().is_some_and(word);
        let mut out = Vec::with_capacity(bytes.len());
        let mut at = 0;
        while at < bytes.len() {
            let whole = |len: usize| {
                (!starts_word || at == 0 || !word(&bytes[at - 1]))
                    && (!ends_word || bytes.get(at + len).is_none_or(|b| !word(b)))
            };
            match encoded_len_at(&bytes[at..], wanted).filter(|&len| whole(len)) {
                Some(len) => {
                    out.extend_from_slice(b"***");
                    at += len;
                }
                None => {
                    out.push(bytes[at]);
                    at += 1;
                }
            }
        }
        // Only whole matches of a UTF-8 password were replaced, each by ASCII: still UTF-8.
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }
}

/// The length of the text at the start of `text` that is `wanted` with any of its bytes
/// percent-encoded (`%XX`, either case), if it starts with one.
fn encoded_len_at(text: &[u8], wanted: &[u8]) -> Option<usize> {
    let mut at = 0;
    for &byte in wanted {
        if text.get(at) == Some(&byte) {
            at += 1;
        } else if text.get(at) == Some(&b'%')
            && text
                .get(at + 1..at + 3)
                .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
                .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok())
                == Some(byte)
        {
            at += 3;
        } else {
            return None;
        }
    }
    Some(at)
}

/// The help of a connection string that cannot be read: both syntaxes, each with its form of
/// a host list as libpq reads it (a URL's `host:port` pairs; conninfo's `host` and `port`
/// lists, one port for every host or one per host).
/// The help of a connection string `text` that cannot be parsed: [`CONNECTION_HELP`], or, for
/// one writing a client certificate without its key or the reverse, what to add
/// (`params::UnpairedClientFile`, in the URL's or conninfo's spelling); for one writing `sslpassword` (a client key's passphrase, which we cannot use), the one advice
/// for an encrypted key ([`crate::hint::unencrypted_key_advice`], with the `sslkey` it writes).
pub(super) fn connection_help(text: &str) -> String {
    use super::params::{Spelling, UnpairedClientFile};
    let written = |key| super::syntax::parameter_written(text, key).is_some();
    if !written("sslpassword") {
        return match UnpairedClientFile::of(written("sslcert"), written("sslkey")) {
            Some(missing) => missing.help(match super::syntax::has_url_scheme(text) {
                true => Spelling::Url,
                false => Spelling::Conninfo,
            }),
            None => CONNECTION_HELP.to_string(),
        };
    }
    let key = super::syntax::parameter_written(text, "sslkey").filter(|k| !k.is_empty());
    format!(
        "cargo-confiture cannot decrypt a client key (sslpassword is its passphrase): remove \
         sslpassword and {}",
        crate::hint::unencrypted_key_advice(key.as_deref().map(std::path::Path::new))
    )
}

pub(super) const CONNECTION_HELP: &str =
    "write `postgresql://user:password@host:5432/dbname?sslmode=prefer` \
     (several hosts: `postgresql://user@h1:5432,h2:5433/dbname`; percent-encode special \
     characters such as @ : / ? in the password) or libpq key=value pairs such as \
     `host=localhost port=5432 dbname=app user=app` (several hosts: `host=h1,h2 \
     port=5432,5433`)";

#[cfg(test)]
mod tests {
    use super::super::libpq::LibpqDefaults;
    use super::super::syntax::parse_spec_with;
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    /// A scratch directory with a password file of `mode`.
    fn passfile(name: &str, text: &str, mode: u32) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cft_pgpass_{}_{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pgpass");
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let _ = mode;
        path
    }

    /// What a URL or conninfo leaves out is libpq's default, as psql, sqlx and confiture
    /// (Python, through psycopg) take it: the user `PGUSER`, else the system user (never
    /// `postgres` in their place); the password `PGPASSWORD`, else the password file's line
    /// (hostile run 5, item 16). What the URL says always wins.
    #[test]
    fn what_the_url_leaves_out_is_libpq_s_default() {
        let vars = |name: &str| match name {
            "PGUSER" => Some("app_owner".to_string()),
            "PGPASSWORD" => Some("from-env".to_string()),
            _ => None,
        };
        let defaults = LibpqDefaults::from_vars(&vars);
        let spec = parse_spec_with("postgresql://127.0.0.1/h5_own", &defaults).unwrap();
        assert_eq!(spec.to_string(), "app_owner@127.0.0.1:5432/h5_own");
        assert_eq!(spec.password.as_deref(), Some("from-env"));
        assert_eq!(spec.passfile, None);
        let spec = parse_spec_with("host=db dbname=x", &defaults).unwrap();
        assert_eq!(spec.user, "app_owner");
        let spec = parse_spec_with("postgresql://me:given@db/x", &defaults).unwrap();
        assert_eq!(
            (spec.user.as_str(), spec.password.as_deref()),
            ("me", Some("given"))
        );
        assert!(!format!("{spec} {spec:?}").contains("from-env"));
        // No PGUSER: the system user, as libpq; the database defaults to it.
        let defaults = LibpqDefaults::from_vars(&|_: &str| None);
        let system_user = defaults
            .user
            .clone()
            .expect("the system user's name is found");
        let spec = parse_spec_with("postgresql://db", &defaults).unwrap();
        assert_eq!(spec.user, system_user);
        assert_eq!(spec.dbname, system_user);
    }

    /// A user taken from `PGUSER` that holds `password=` is refused like the same value
    /// written in the URL, naming `PGUSER`, never the value: taken as it is, the server's
    /// refusal quoted it whole (hostile run 8, D10). A user the URL names wins over it.
    #[test]
    fn a_user_from_pguser_holding_a_password_is_refused() {
        let vars = |name: &str| match name {
            "PGUSER" => Some("u,password=SECRETQ".to_string()),
            _ => None,
        };
        let defaults = LibpqDefaults::from_vars(&vars);
        for text in [
            "postgresql://127.0.0.1/h8_p1",
            "host=db dbname=x",
            "postgresql://db",
        ] {
            let error = parse_spec_with(text, &defaults).unwrap_err();
            assert!(error.contains("PGUSER"), "{error}");
            assert!(error.contains("holds `password=` (not shown)"), "{error}");
            assert!(!error.contains("SECRETQ"), "{error}");
        }
        let spec = parse_spec_with("postgresql://app@db/x", &defaults).unwrap();
        assert_eq!(spec.user, "app");
    }

    #[test]
    fn a_password_file_gives_each_host_its_password() {
        let path = passfile(
            "hosts",
            "# host:port:database:user:password\n\
             h1:5432:app:app:one\n\
             h2:5433:app:app:two\n\
             localhost:*:*:app:socket\n",
            0o600,
        );
        let vars = |name: &str| match name {
            "PGPASSFILE" => Some(path.display().to_string()),
            _ => None,
        };
        let defaults = LibpqDefaults::from_vars(&vars);
        let spec = parse_spec_with("postgresql://app@h1,h2:5433/app", &defaults).unwrap();
        assert_eq!(spec.password.as_deref(), Some("one"));
        assert_eq!(spec.passfile.as_deref(), Some(path.as_path()));
        let hosts: Vec<_> = spec
            .hosts()
            .map(|(h, p)| spec.with_host(h, p).password)
            .collect();
        assert_eq!(hosts, [Some("one".to_string()), Some("two".to_string())]);
        // Where each host's password came from: its own line of the file, which the help of a
        // refused password names.
        let from_file = |line| Some(PasswordSource::PasswordFile { line });
        assert_eq!(spec.password_source, from_file(2));
        let sources: Vec<_> = spec
            .hosts()
            .map(|(h, p)| spec.with_host(h, p).password_source)
            .collect();
        assert_eq!(sources, [from_file(2), from_file(3)]);
        assert_eq!(spec.with_host("h3", 5432).password_source, None);
        // A Unix socket directory matches `localhost`, as in libpq.
        let spec = parse_spec_with("host=/tmp user=app dbname=x", &defaults).unwrap();
        assert_eq!(spec.password.as_deref(), Some("socket"));
        // No line for this user: no password; PGPASSWORD or the URL's own win over the file.
        let spec = parse_spec_with("postgresql://bob@h1/app", &defaults).unwrap();
        assert_eq!((spec.password, spec.password_source), (None, None));
        let spec = parse_spec_with("postgresql://app:url@h1/app", &defaults).unwrap();
        assert_eq!(spec.password.as_deref(), Some("url"));
        assert_eq!(spec.password_source, Some(PasswordSource::Written));
        let other = spec.with_host("h2", 5433);
        assert_eq!(other.password.as_deref(), Some("url"));
        assert_eq!(other.password_source, Some(PasswordSource::Written));
        let with_env = |name: &str| match name {
            "PGPASSWORD" => Some("env".to_string()),
            other => vars(other),
        };
        let spec = parse_spec_with(
            "postgresql://app@h1/app",
            &LibpqDefaults::from_vars(&with_env),
        )
        .unwrap();
        assert_eq!(spec.password.as_deref(), Some("env"));
        assert_eq!(spec.password_source, Some(PasswordSource::Variable));
        assert_eq!(
            spec.with_host("h2", 5433).password_source,
            Some(PasswordSource::Variable)
        );
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    /// libpq ignores a password file its group or others may read (and says so).
    #[cfg(unix)]
    #[test]
    fn a_password_file_others_may_read_is_ignored() {
        let path = passfile("open", "*:*:*:*:secret\n", 0o640);
        let defaults = LibpqDefaults {
            passfile: Some(path.clone()),
            ..LibpqDefaults::default()
        };
        let spec = parse_spec_with("postgresql://app@h/app", &defaults).unwrap();
        assert_eq!(spec.password, None);
        assert_eq!(spec.ignored_passfile(), Some(path.as_path()));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
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
        let alice = LibpqDefaults {
            user: Some("alice".to_string()),
            ..LibpqDefaults::default()
        };
        let spec = parse_spec_with("postgres://", &alice).unwrap();
        assert_eq!(spec.to_string(), "alice@localhost:5432/alice");
        assert_eq!(spec.sslmode, SslMode::Prefer);
        let spec = parse_spec_with("postgresql://bob@h", &alice).unwrap();
        assert_eq!(spec.dbname, "bob");
        // No PGUSER and no system user name found: `postgres`.
        let spec = parse_spec_with("postgres://", &LibpqDefaults::default()).unwrap();
        assert_eq!(spec.to_string(), "postgres@localhost:5432/postgres");
    }

    #[test]
    fn parses_ipv6_and_unix_sockets() {
        let spec = ConnectionSpec::parse("postgresql://u@[::1]:5433/db").unwrap();
        assert_eq!(spec.host, "::1");
        assert_eq!(spec.port, 5433);
        assert_eq!(spec.to_string(), "u@[::1]:5433/db");
        let spec =
            ConnectionSpec::parse("postgresql://postgres@%2Fvar%2Frun%2Fpostgresql/db").unwrap();
        assert_eq!(spec.host, "/var/run/postgresql");
        assert!(spec.is_unix_socket());
        assert_eq!(spec.to_string(), "postgres@/var/run/postgresql:5432/db");
        let spec = ConnectionSpec::parse("postgresql:///db?host=/tmp").unwrap();
        assert_eq!(spec.host, "/tmp");
    }

    /// libpq percent-decodes a bracketed host as any other: an IPv6 zone id is written `%25`.
    #[test]
    fn an_ipv6_zone_id_is_percent_decoded_and_shown_readably() {
        let spec = ConnectionSpec::parse("postgresql://u:pw@[fe80::1%25eth0]:5433/db").unwrap();
        assert_eq!(spec.host, "fe80::1%eth0");
        assert_eq!(spec.port, 5433);
        assert_eq!(spec.to_string(), "u@[fe80::1%eth0]:5433/db");
        let spec =
            ConnectionSpec::parse("postgresql://u@h1,[fe80::1%25eth0],[%3A%3A1]:5434/db").unwrap();
        let hosts: Vec<_> = spec.hosts().map(|(h, p)| format!("{h} {p}")).collect();
        assert_eq!(hosts, ["h1 5432", "fe80::1%eth0 5432", "::1 5434"]);
        assert_eq!(
            spec.to_string(),
            "u@h1:5432,[fe80::1%eth0]:5432,[::1]:5434/db"
        );
        // Not percent-encoded: refused as libpq refuses it, without quoting the text.
        let err = ConnectionSpec::parse("postgresql://u:secret@[fe80::1%eth0]/db").unwrap_err();
        assert!(
            err.message.contains(
                "invalid percent-encoding in the IPv6 host (write its zone id's `%` as `%25`: \
                 `[fe80::1%25eth0]`)"
            ),
            "{err}"
        );
        assert!(!err.message.contains("secret"), "{err}");
        // A conninfo value is not percent-decoded, by libpq either.
        let spec = ConnectionSpec::parse("host=fe80::1%eth0 dbname=db user=postgres").unwrap();
        assert_eq!(spec.host, "fe80::1%eth0");
        assert_eq!(spec.to_string(), "postgres@[fe80::1%eth0]:5432/db");
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
            "postgresql://u:secret@h1,h2:x/db",
            "host=h1,h2,h3 port=1,2 password=secret",
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

    /// A raw `@` in a URL's user name or password was taken up to the last `@`, where libpq
    /// (psql, confiture (Python)) ends them at the first and looks for a host named by the
    /// rest: the file connected for us and failed for them. It is refused, never shown, with
    /// help to percent-encode it; encoded, it is taken.
    #[test]
    fn a_raw_at_sign_before_the_host_is_refused_as_libpq_reads_it() {
        for text in [
            "postgresql://u:se@cret@h/db",
            "postgres://u:se@cret@h:5432/db?sslmode=disable",
            "postgresql://u@x:secret@h/db",
            "postgresql://u:secret@@h/db",
            "postgresql://u:p@secret@h1:5432,h2:5433/db",
            "postgresql://u:p@secret@[::1]/db",
            "postgresql://u:p@secret@",
        ] {
            let err = ConnectionSpec::parse(text).unwrap_err();
            let shown = format!("{err} {:?} {:?}", err.help, err.details);
            assert!(
                err.message.contains("more than one `@` before the host")
                    && err.message.contains("%40"),
                "{text}: {shown}"
            );
            assert!(
                !shown.contains("secret") && !shown.contains("cret"),
                "{shown}"
            );
        }
        let spec = ConnectionSpec::parse("postgresql://u%40x:se%40cret@h/db").unwrap();
        assert_eq!(
            (
                spec.user.as_str(),
                spec.password.as_deref(),
                spec.host.as_str()
            ),
            ("u@x", Some("se@cret"), "h")
        );
    }

    /// An `@` in the database name or a parameter of a URL whose user name ended at an `@`
    /// before the host is data, as libpq reads it (psql connects with
    /// `?application_name=ci@runner`): it was refused as a password's unencoded `/` or `?`.
    /// Without an `@` before the host, one after it is still that mistake, refused.
    #[test]
    fn an_at_sign_after_the_host_is_data_once_the_user_name_has_ended() {
        let spec = ConnectionSpec::parse(
            "postgresql://u:pw@h:5433/app@eu?application_name=ci@runner&sslmode=disable",
        )
        .unwrap();
        assert_eq!(
            (
                spec.user.as_str(),
                spec.password.as_deref(),
                spec.host.as_str(),
                spec.port,
                spec.dbname.as_str(),
                spec.application_name.as_deref(),
            ),
            ("u", Some("pw"), "h", 5433, "app@eu", Some("ci@runner"))
        );
        for text in ["postgresql://u:se/cret@h/db", "postgresql://h/app@eu"] {
            let err = ConnectionSpec::parse(text).unwrap_err();
            assert!(
                err.message
                    .contains("found `@` after the host, in the database name"),
                "{text}: {err}"
            );
        }
    }

    /// A password holding both `@` and `/` unencoded (`p@ss/S3cret`, often from a variable:
    /// `postgresql://postgres:${PW}@127.0.0.1:5432/app`) ends the user name at its `@` and the
    /// host at its `/`: libpq reads the database `S3cret@127.0.0.1:5432/app` on the host `ss`,
    /// and that name was shown everywhere (`using ...`, errors, JSON) — the password's end in
    /// clear. A database name with an `@` followed by what only a host has (`/`, `:port`) is
    /// that mistake: refused, never shown.
    #[test]
    fn a_password_with_at_and_slash_is_refused_not_shown_as_a_database() {
        for text in [
            "postgresql://postgres:p@ss/S3cret@127.0.0.1:5432/app",
            "postgresql://u:Zs@cret/x@h/db",
            "postgresql://u:p@ss/S3cret@h:5432",
            "postgres://u:p@h1/S3cret@h2,h3/db?sslmode=disable",
        ] {
            let err = ConnectionSpec::parse(text).unwrap_err();
            let shown = format!("{err} {:?} {:?}", err.help, err.details);
            assert!(
                err.message
                    .contains("found `@` after the host, in the database name")
                    && err.message.contains("%2F"),
                "{text}: {shown}"
            );
            assert!(
                !shown.contains("S3cret") && !shown.contains("cret"),
                "{shown}"
            );
        }
    }

    /// libpq's rule (`conninfo_uri_parse_options`): the user name and password end at the
    /// first `@` before the first `/`. A URL with no credentials whose parameter holds a raw
    /// `@` (`postgresql://127.0.0.1/db?application_name=a@b`, which psql takes) was refused as
    /// a password's unencoded `/`; it is data after the path's `/`, with or without a database
    /// name. An `@` after a `?` with no `/` before it is where libpq's reading (all before the
    /// `@` a user name: `h?application_name=a` on the host `b`) and the writer's part: refused,
    /// as a password's raw `?` is, never shown.
    #[test]
    fn an_at_sign_in_a_parameter_after_the_path_is_data_as_libpq_reads_it() {
        for (text, host, dbname) in [
            (
                "postgresql://127.0.0.1/db?application_name=a@b",
                "127.0.0.1",
                Some("db"),
            ),
            ("postgresql://h/?application_name=a@b", "h", None),
            (
                "postgres://h1:5433,h2/db?application_name=a@b@c",
                "h1",
                Some("db"),
            ),
            ("postgresql://@h/db?application_name=a@b", "h", Some("db")),
        ] {
            let spec = ConnectionSpec::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((spec.host.as_str(), spec.password.as_deref()), (host, None));
            if let Some(dbname) = dbname {
                assert_eq!(spec.dbname, dbname, "{text}");
            }
            assert!(
                spec.application_name
                    .as_deref()
                    .is_some_and(|a| a.starts_with("a@b")),
                "{text}: {:?}",
                spec.application_name
            );
        }
        for text in [
            "postgresql://h?application_name=a@b",
            "postgresql://u:se?cret@h/db",
            "postgresql://u:se?cret@h",
        ] {
            let err = ConnectionSpec::parse(text).unwrap_err();
            let shown = format!("{err} {:?} {:?}", err.help, err.details);
            assert!(
                err.message
                    .contains("found `?` before the `@` that ends the user name and password")
                    && err.message.contains("%3F"),
                "{text}: {shown}"
            );
            assert!(!shown.contains("cret"), "{shown}");
        }
    }

    /// `user=u,password=PW,dbname=db` (pairs joined by commas) was taken as libpq takes it, the
    /// user `u,password=PW,dbname=db`, and the password was shown as part of it; a URL's
    /// `?host=h,password=PW` made a host list holding it. A value of any key but `password`
    /// that holds `password=` is refused, naming the key, never the value; a URL's query value
    /// with a second raw `=` is refused as libpq refuses it.
    #[test]
    fn a_password_inside_another_keys_value_is_refused() {
        for (text, key) in [
            ("user=u,password=secret,dbname=db", "`user`"),
            ("host=h,password=secret", "`host`"),
            ("host=h1,h2;PASSWORD=secret port=1,2", "`host`"),
            ("host=h dbname=db;password=secret", "`dbname`"),
            ("postgresql://h/db?dbname=db,Password%20=secret", "`dbname`"),
            ("host=h user='u password=secret'", "`user`"),
            (
                "host=h application_name=a,password=secret",
                "`application_name`",
            ),
            ("host=h options='-c x=1,password=secret'", "`options`"),
            ("host=h sslcert=/c,password=secret sslkey=/k", "`sslcert`"),
            ("host=h user=u,sslpassword=secret", "`user`"),
            ("postgresql://u@h/db?host=h,password=secret", "`host`"),
            ("postgresql://u@h/db?user=u,password%3Dsecret", "`user`"),
            ("postgresql://u@h/db?bogus=u,password=secret", "a parameter"),
            ("postgresql://u@h/db%2Cpassword%3Dsecret", "`dbname`"),
            ("postgresql://u%3Bpassword%3Dsecret@h/db", "`user`"),
            ("postgresql://u@h,password%3Dsecret/db", "`host`"),
        ] {
            let err = ConnectionSpec::parse(text).unwrap_err();
            let expected = format!("the value of {key} holds `password=` (not shown)");
            assert!(err.message.contains(&expected), "{text}: {err}");
            assert!(!format!("{err} {:?}", err.help).contains("secret"), "{err}");
        }
        let err = ConnectionSpec::parse("postgresql://u:secret@h/db?options=-c a=b").unwrap_err();
        assert!(
            err.message
                .contains("the value of `options` holds a second `=`"),
            "{err}"
        );
        assert!(!err.message.contains("secret"), "{err}");
        // Encoded, an `=` in a value is taken, as libpq takes it; a password may hold anything.
        for text in [
            "postgresql://u@h/db?options=-c%20a%3Db",
            "host=h password=password=x,user=y",
            "postgresql://u:password%3Dx@h/db",
            "host=h options='-c password_encryption=scram-sha-256'",
        ] {
            ConnectionSpec::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    /// The one way a connection is shown never shows what follows a `password=`, even in a
    /// spec built by hand, which no parser checked.
    #[test]
    fn a_name_holding_a_password_pair_is_shown_masked() {
        let mut spec = ConnectionSpec::parse("postgresql://u@h/db").unwrap();
        spec.user = "u,password=secret,dbname=x".to_string();
        spec.host = "h,PassWord = secret".to_string();
        spec.more_hosts = vec![("password=secret".to_string(), 5433)];
        spec.dbname = "db;password=secret\u{1b}".to_string();
        assert_eq!(
            spec.to_string(),
            "u,password=***@h,PassWord =***:5432,password=***:5433/db;password=***"
        );
        assert_eq!(password_pair_end("no pair here"), None);
        assert_eq!(password_pair_end("password"), None);
        assert_eq!(password_pair_end("a,password=b"), Some(11));
    }

    #[test]
    fn conninfo_with_a_url_in_a_value_is_conninfo() {
        let spec = ConnectionSpec::parse("host=h dbname=d password='a://b'").unwrap();
        assert_eq!(spec.password.as_deref(), Some("a://b"));
        let err = ConnectionSpec::parse("mysql://u@h/d").unwrap_err();
        assert!(err.message.contains("scheme"), "{err}");
    }

    /// `sslpassword` (a client key's passphrase) got the generic "write postgresql://..." help:
    /// it gets the advice for an encrypted key, with the `sslkey` written (a command that works
    /// as pasted), in words without one; never the passphrase. A URL, a conninfo, and
    /// `--database-url` alike.
    #[test]
    fn sslpassword_is_helped_with_the_encrypted_key_advice() {
        for (text, command) in [
            (
                "postgresql://u@h/db?sslkey=/k/client.key&sslpassword=Zq9Leak",
                true,
            ),
            ("host=h sslkey=/k/client.key sslpassword='Zq9Leak'", true),
            ("postgresql://u@h/db?sslpassword=Zq9Leak", false),
        ] {
            let helps = [
                ConnectionSpec::parse(text).unwrap_err().help.unwrap(),
                crate::config::Environment::from_url(text, "--database-url")
                    .unwrap_err()
                    .help
                    .unwrap(),
            ];
            for help in helps {
                assert!(help.contains("remove sslpassword"), "{text}: {help}");
                assert!(help.contains("openssl pkey"), "{text}: {help}");
                assert!(!help.contains("Zq9Leak"), "{text}: {help}");
                assert_eq!(help.contains("client.key.plain"), command, "{text}: {help}");
            }
        }
        let plain = ConnectionSpec::parse("host=h bogus=1")
            .unwrap_err()
            .help
            .unwrap();
        assert_eq!(plain, CONNECTION_HELP);
    }

    #[test]
    fn libpq_parameters_are_named_as_such() {
        let err = ConnectionSpec::parse("host=h sslpassword=/c.pem").unwrap_err();
        assert!(
            err.message
                .contains("unsupported libpq parameter \"sslpassword\""),
            "{err}"
        );
    }

    /// Which attributes a writing command refuses before connecting: those whose every
    /// session cannot write. `prefer-standby` writes when no standby answers.
    #[test]
    fn only_read_only_and_standby_never_write() {
        for attrs in TargetSessionAttrs::ALL {
            assert_eq!(
                attrs.never_writes(),
                matches!(attrs.as_str(), "read-only" | "standby"),
                "{attrs}"
            );
            assert_eq!(
                attrs.prefers_standby(),
                matches!(attrs.as_str(), "standby" | "prefer-standby"),
                "{attrs}"
            );
        }
    }

    #[test]
    fn several_hosts_are_tried_in_order() {
        let spec = ConnectionSpec::parse(
            "postgresql://u@h1:5432,[::1]:5433,h3/app?target_session_attrs=read-write",
        )
        .unwrap();
        assert_eq!((spec.host.as_str(), spec.port), ("h1", 5432));
        assert_eq!(
            spec.more_hosts,
            vec![("::1".to_string(), 5433), ("h3".to_string(), 5432)]
        );
        assert_eq!(spec.target_session_attrs, TargetSessionAttrs::ReadWrite);
        assert_eq!(spec.to_string(), "u@h1:5432,[::1]:5433,h3:5432/app");
        let spec = ConnectionSpec::parse(
            "host=h1,h2 port=5432,5433 dbname=app target_session_attrs=prefer-standby",
        )
        .unwrap();
        let hosts: Vec<_> = spec.hosts().collect();
        assert_eq!(hosts, vec![("h1", 5432), ("h2", 5433)]);
        assert_eq!(spec.target_session_attrs, TargetSessionAttrs::PreferStandby);
        // One port for every host; an empty port is the default.
        let spec = ConnectionSpec::parse("host=h1,h2,h3 port=6000,,6002").unwrap();
        let hosts: Vec<_> = spec.hosts().collect();
        assert_eq!(hosts, vec![("h1", 6000), ("h2", 5432), ("h3", 6002)]);
        let spec = ConnectionSpec::parse("postgresql://h1,h2").unwrap();
        assert_eq!(spec.target_session_attrs, TargetSessionAttrs::Any);
        for attrs in TargetSessionAttrs::ALL {
            let text = format!("host=h target_session_attrs={attrs}");
            let spec = ConnectionSpec::parse(&text).unwrap();
            assert_eq!(spec.target_session_attrs, attrs);
        }
        for (text, needle) in [
            ("host=h1,h2,h3 port=1,2", "3 hosts but 2 ports"),
            // Said "1 hosts but 2 ports".
            ("host=h port=1,2", "1 host but 2 ports"),
            (
                "host=h target_session_attrs=master",
                "not one of any, read-write",
            ),
            ("postgresql://h1,h2:0/db", "not a number from 1 to 65535"),
        ] {
            let err = ConnectionSpec::parse(text).unwrap_err();
            assert!(err.message.contains(needle), "{text}: {err}");
        }
        // The help of a string that cannot be read shows both syntaxes' host lists, each as
        // libpq reads it: every example in it parses, the host lists to two hosts on their
        // own ports. A port list that does not pair with the hosts says both ways that do.
        let examples: Vec<&str> = CONNECTION_HELP.split('`').skip(1).step_by(2).collect();
        assert_eq!(examples.len(), 4, "{CONNECTION_HELP}");
        for example in &examples {
            let spec = ConnectionSpec::parse(example).unwrap_or_else(|e| panic!("{example}: {e}"));
            if example.contains(',') {
                let hosts: Vec<_> = spec.hosts().collect();
                assert_eq!(hosts, vec![("h1", 5432), ("h2", 5433)], "{example}");
            }
        }
        let err = ConnectionSpec::parse("host=h1,h2,h3 port=1,2").unwrap_err();
        assert!(
            err.message.ends_with(
                "3 hosts but 2 ports: give one port, which every host takes, or one port per \
                 host, in the hosts' order"
            ),
            "{err}"
        );
        assert!(err.help.as_deref() == Some(CONNECTION_HELP), "{err:?}");
    }

    #[test]
    fn client_certificates_are_taken_as_a_pair() {
        let spec = ConnectionSpec::parse("postgresql://h/db?sslcert=/c.crt&sslkey=/c.key").unwrap();
        assert_eq!(spec.sslcert, Some(PathBuf::from("/c.crt")));
        assert_eq!(spec.sslkey, Some(PathBuf::from("/c.key")));
        let spec = ConnectionSpec::parse("host=h sslcert='/a b.crt' sslkey=/k").unwrap();
        assert_eq!(spec.sslcert, Some(PathBuf::from("/a b.crt")));
        for (text, needle) in [
            ("host=h sslcert=/c.crt", "sslcert is set without sslkey"),
            ("host=h sslkey=/c.key", "sslkey is set without sslcert"),
            (
                "postgresql://h/db?sslcert=/c%00&sslkey=/k",
                "sslcert contains a NUL",
            ),
        ] {
            let err = ConnectionSpec::parse(text).unwrap_err();
            assert!(err.message.contains(needle), "{text}: {err}");
        }
        // The help says what to add, in the spelling of what was written, not the generic
        // example of a URL.
        for (text, add) in [
            (
                "postgresql://h/a?sslcert=/x.crt",
                "`&sslkey=/path/to/client.key`",
            ),
            (
                "postgresql://h/a?sslkey=/x.key",
                "`&sslcert=/path/to/client.crt`",
            ),
            ("host=h sslcert=/x.crt", "`sslkey=/path/to/client.key`"),
            ("host=h sslkey=/x.key", "`sslcert=/path/to/client.crt`"),
        ] {
            let help = ConnectionSpec::parse(text).unwrap_err().help.unwrap();
            assert!(help.contains(add), "{text}: {help}");
            assert!(
                !help.contains("postgresql://user:password"),
                "{text}: {help}"
            );
        }
    }

    #[test]
    fn unknown_parameter_suggests_the_known_one() {
        let err = ConnectionSpec::parse("postgresql://h/db?sslmod=require").unwrap_err();
        assert!(err.message.contains("did you mean \"sslmode\""), "{err}");
        let err = ConnectionSpec::parse("postgresql://h/db?sslmode=allow").unwrap_err();
        assert!(err.message.contains("use sslmode=prefer"), "{err}");
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

    /// A password written with more of it percent-encoded than needed (`S3%63ret`, `%2d`,
    /// lowercase hex) was not found by `scrub`, which knew only its plain and minimal forms:
    /// an echo of the URL as the user typed it kept it.
    #[test]
    fn scrub_finds_the_password_in_any_percent_encoding() {
        let spec = ConnectionSpec::parse("postgresql://u:S3%63r%65t-x%2dy@h/db").unwrap();
        assert_eq!(spec.password.as_deref(), Some("S3cret-x-y"));
        for (text, expected) in [
            ("u:S3%63r%65t-x%2dy@h", "u:***@h"),
            ("u:S3cret-x-y@h", "u:***@h"),
            ("u:%53%33%63%72%65%74%2D%78%2D%79@h", "u:***@h"),
            ("S3cret-x-", "S3cret-x-"),
            ("%", "%"),
            ("é S3cret-x-y é", "é *** é"),
        ] {
            assert_eq!(spec.scrub(text), expected, "{text}");
        }
        let spec = ConnectionSpec::parse("postgresql://u:p%C3%A9@h/db").unwrap();
        assert_eq!(spec.scrub("u:p%c3%a9@h u:pé@h"), "u:***@h u:***@h");
    }

    /// `scrub` replaced the password wherever its letters stood, inside other words of a
    /// server's message: with password `app`, `role "h9_app"` became `role "h9_***"` — a wrong
    /// message that also tells every reader of the log which letters the password is. Only a
    /// whole word is the password; and a password that is the user's, database's or host's
    /// name, shown in every message anyway, hides nothing when masked.
    #[test]
    fn scrub_masks_the_password_as_a_whole_word_only() {
        let spec = ConnectionSpec::parse("postgresql://h9_app:app@h/h9_i").unwrap();
        for (text, expected) in [
            (
                "role \"h9_app\" does not exist",
                "role \"h9_app\" does not exist",
            ),
            ("apple application", "apple application"),
            ("u:app@h", "u:***@h"),
            ("password=app host=h", "password=*** host=h"),
            ("app", "***"),
        ] {
            assert_eq!(spec.scrub(text), expected, "{text}");
        }
        let spec = ConnectionSpec::parse("postgresql://u:data@h/db").unwrap();
        assert_eq!(
            spec.scrub("database \"x\" does not exist"),
            "database \"x\" does not exist"
        );
        // Punctuation at the password's own edges is its edge: `p@ss` in a URL.
        let spec = ConnectionSpec::parse("postgresql://u:%40ss@h/db").unwrap();
        assert_eq!(spec.scrub("u:@ss@h x@ssy"), "u:***@h x@ssy");
        let spec = ConnectionSpec::parse("postgresql://postgres:postgres@h/db").unwrap();
        assert_eq!(
            spec.scrub("role \"postgres\" does not exist"),
            "role \"postgres\" does not exist"
        );
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
        // A line break inside the name (one at its end is refused: a folded YAML value).
        let spec = ConnectionSpec::parse("postgresql://u%1B@h/db%1B%5B2J%0Ax").unwrap();
        assert_eq!(spec.dbname, "db\u{1b}[2J\nx");
        let shown = spec.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(shown, "u\\u{1b}@h:5432/db\\u{1b}[2J\\nx");
    }

    /// A 100 KB `options` reached the server, which closed the connection with no reason (its
    /// startup packet is at most 10,000 bytes): an `options` longer than what the packet leaves
    /// is refused before connecting, naming the parameter, in a URL and in conninfo.
    #[test]
    fn options_longer_than_the_startup_packet_takes_are_refused() {
        use crate::config::params::MAX_OPTIONS_BYTES;
        let at_limit = format!("-c a={}", "x".repeat(MAX_OPTIONS_BYTES - 5));
        assert_eq!(at_limit.len(), MAX_OPTIONS_BYTES);
        // A raw `=` in a URL's query value is refused, as libpq refuses it: written %3D.
        let encoded = at_limit.replace('=', "%3D");
        let spec = ConnectionSpec::parse(&format!("postgresql://u:secret@h/db?options={encoded}"))
            .unwrap();
        assert_eq!(spec.options.as_deref(), Some(at_limit.as_str()));
        let long = "x".repeat(100_000);
        for text in [
            format!("postgresql://u:secret@h/db?options=-c%20a%3D{long}"),
            format!("host=h user=u password=secret options='-c a={long}'"),
            format!("postgresql://u:secret@h/db?options={encoded}x"),
        ] {
            let err = ConnectionSpec::parse(&text).unwrap_err();
            assert!(err.message.contains("options is "), "{err}");
            assert!(err.message.contains("bytes"), "{err}");
            assert!(!err.message.contains("secret"), "{err}");
        }
    }

    /// An empty entry in a host list (`postgresql://u@h1:5432,/db`) became `localhost`, where
    /// libpq uses its default, a Unix socket: it is refused, naming the entry, in a URL, in
    /// conninfo and in an environment file's block. No host at all is still the default host
    /// (an empty `host` parameter is refused too: `params::tests::an_empty_host_parameter_is_refused_with_what_to_write`).
    #[test]
    fn an_empty_entry_in_a_host_list_is_refused() {
        for text in [
            "postgresql://u:secret@127.0.0.1:5432,/db",
            "postgresql://u:secret@,h2/db",
            "postgresql://u:secret@h1,,h3/db",
            "postgresql://u:secret@/db?host=h1,",
            "host=h1,,h3 port=6000 password=secret",
            "host=, password=secret",
        ] {
            let err = ConnectionSpec::parse(text).unwrap_err();
            assert!(
                err.message.contains("in the host list is empty"),
                "{text}: {err}"
            );
            assert!(err.message.contains("Unix socket"), "{text}: {err}");
            assert!(!err.message.contains("secret"), "{err}");
        }
        for text in [
            "postgresql:///db",
            "postgresql://u@/db",
            "postgresql://u@:5433/db",
            "dbname=db",
        ] {
            let spec = ConnectionSpec::parse(text).unwrap();
            assert_eq!(spec.host, DEFAULT_HOST, "{text}");
            assert!(spec.more_hosts.is_empty(), "{text}");
        }
    }

    /// The `options` a help says to write where the connection's options set a setting
    /// (`db::settings::lift`): written as the connection string writes parameters (a URL's
    /// percent-encoding, a conninfo's quotes), with the other options kept and the setting's
    /// own switch, in whichever form it was written, given the value — never dropped (the
    /// session would fall back to the role's or database's value, not to the one proposed).
    /// Each, put back in its string, reads as the options meant.
    /// The settings a connection's `options` give, as the server reads them: every written
    /// form of a switch, names in any case and with `-`, values unescaped; other switches none.
    #[test]
    fn the_settings_of_options_are_read_as_the_server_reads_them() {
        let settings = option_settings(
            "-c search_path=app,\\ public -cWORK_MEM=64MB --lock-timeout=5s -e -c app.Tenant=a\\ b",
        );
        assert_eq!(
            settings,
            [
                ("search_path", "app, public"),
                ("work_mem", "64MB"),
                ("lock_timeout", "5s"),
                ("app.tenant", "a b"),
            ]
            .map(|(n, v)| (n.to_string(), v.to_string()))
        );
        assert!(option_settings("  ").is_empty());
    }

    #[test]
    fn the_options_a_help_gives_are_written_as_the_connection_string_writes_them() {
        let defaults = LibpqDefaults::default();
        for (text, expected, options) in [
            (
                "postgresql://u@h/db?options=-csearch_path%3Dnowhere",
                "options=-csearch_path%3Dpublic",
                "-csearch_path=public",
            ),
            (
                "postgresql://u@h/db?options=-c%20work_mem%3D64MB%20-c%20search_path%3Dx",
                "options=-c%20work_mem%3D64MB%20-c%20search_path%3D\"$user\",%5C%20public",
                "-c work_mem=64MB -c search_path=\"$user\",\\ public",
            ),
            (
                "postgresql://u@h/db?options=--search-path%3Dx",
                "options=--search-path%3D\"$user\",%5C%20public",
                "--search-path=\"$user\",\\ public",
            ),
            (
                "postgresql://u@h/db?options=-c%20work_mem%3D64MB",
                "options=-c%20work_mem%3D64MB%20-c%20search_path%3Dpublic",
                "-c work_mem=64MB -c search_path=public",
            ),
            (
                "host=h dbname=db options='-c search_path=nowhere -c x.y=a\\\\ b'",
                "options='-c search_path=public -c x.y=a\\\\ b'",
                "-c search_path=public -c x.y=a\\ b",
            ),
            (
                "host=h dbname=db options='-cSEARCH_PATH=x'",
                "options='-cSEARCH_PATH=\"$user\",\\\\ public'",
                "-cSEARCH_PATH=\"$user\",\\ public",
            ),
        ] {
            let spec = parse_spec_with(text, &defaults).unwrap_or_else(|e| panic!("{text}: {e}"));
            let value = match expected.contains("$user") {
                true => "\"$user\", public",
                false => "public",
            };
            let written = spec.options_setting("search_path", value);
            assert_eq!(written, expected, "{text}");
            let again = match spec.written {
                Written::Url => format!("postgresql://u@h/db?{written}"),
                Written::Pairs => format!("host=h dbname=db {written}"),
            };
            let read =
                parse_spec_with(&again, &defaults).unwrap_or_else(|e| panic!("{again}: {e}"));
            assert_eq!(read.options.as_deref(), Some(options), "{again}");
        }
    }
}
