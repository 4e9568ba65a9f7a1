//! The connection parameters we take (`host`, `port`, `sslmode`, ...), from a URL's query, a
//! conninfo pair or an environment file's `database:` block, and the checks on the result.

use std::path::PathBuf;
use std::time::Duration;

use super::connection::{
    ConnectionSpec, PasswordSource, SslMode, TargetSessionAttrs, DEFAULT_HOST, DEFAULT_PORT,
    DEFAULT_USER, SYSTEM_ROOTS,
};
use super::libpq::LibpqDefaults;
use super::suggest::closest;
use super::syntax::MAX_NAME_BYTES;
use super::timeout::{Timeout, TimeoutError};

pub(super) const KNOWN_PARAMETERS: &[&str] = &[
    "host",
    "port",
    "user",
    "password",
    "dbname",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
    "connect_timeout",
    "options",
    "target_session_attrs",
    "passfile",
];

/// libpq's other connection parameters: named in errors as libpq's, but not supported.
const LIBPQ_ONLY_PARAMETERS: &[&str] = &[
    "hostaddr",
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
    "load_balance_hosts",
];

/// Whether `key` names a libpq connection parameter (one we take or one only libpq takes): the
/// one list environment files check their keys against, and the names a message may quote.
pub(super) fn is_libpq_parameter(key: &str) -> bool {
    KNOWN_PARAMETERS.contains(&key) || LIBPQ_ONLY_PARAMETERS.contains(&key)
}

/// Whether `key` is a libpq parameter we take (in a URL or conninfo).
#[cfg(feature = "env-files")]
pub(super) fn is_supported_parameter(key: &str) -> bool {
    KNOWN_PARAMETERS.contains(&key)
}

#[derive(Default)]
pub(super) struct SpecBuilder {
    /// One entry per host (`host=h1,h2`, `postgresql://h1,h2/`); an empty one is the default.
    pub(super) hosts: Option<Vec<String>>,
    /// One port for every host, or one per host; `None` entries are the default.
    pub(super) ports: Option<Vec<Option<u16>>>,
    pub(super) target_session_attrs: Option<TargetSessionAttrs>,
    pub(super) user: Option<String>,
    pub(super) password: Option<String>,
    pub(super) dbname: Option<String>,
    pub(super) sslmode: Option<SslMode>,
    pub(super) sslrootcert: Option<PathBuf>,
    pub(super) sslcert: Option<PathBuf>,
    pub(super) sslkey: Option<PathBuf>,
    /// libpq's `passfile`: the password file read in place of `PGPASSFILE`'s (or
    /// `~/.pgpass`).
    pub(super) passfile: Option<PathBuf>,
    pub(super) options: Option<String>,
    pub(super) application_name: Option<String>,
    pub(super) connect_timeout: Option<Duration>,
    /// How the string is written.
    pub(super) written: super::connection::Written,
}

impl SpecBuilder {
    /// One parameter, from a URL's query or a conninfo pair. Error texts quote the key only
    /// when it is one we know or looks like one, never a value (it may be a password).
    pub(super) fn set(&mut self, key: &str, value: String) -> Result<(), String> {
        match key {
            "host" => self.set_host(value)?,
            "port" => self.set_port(&value)?,
            "user" => self.user = Some(value).filter(|v| !v.is_empty()),
            "password" => self.password = Some(value),
            "dbname" => self.dbname = Some(value).filter(|v| !v.is_empty()),
            "sslmode" => self.sslmode = Some(parse_sslmode(&value)?),
            // libpq 16's `system` (the TLS library's public roots: ours are the webpki roots)
            // is kept as written: `finish` makes it `verify-full`, and `db::tls` reads it.
            "sslrootcert" => {
                self.sslrootcert = Some(value).filter(|v| !v.is_empty()).map(PathBuf::from);
            }
            // The client certificate and its key (the key's path is shown, never its contents).
            "sslcert" => self.sslcert = Some(value).filter(|v| !v.is_empty()).map(PathBuf::from),
            "sslkey" => self.sslkey = Some(value).filter(|v| !v.is_empty()).map(PathBuf::from),
            // Empty, libpq's default (`PGPASSFILE`, else `~/.pgpass`), as libpq takes it.
            "passfile" => {
                self.passfile = Some(value).filter(|v| !v.is_empty()).map(PathBuf::from);
            }
            "application_name" => self.application_name = Some(application_name(value)?),
            "connect_timeout" => self.connect_timeout = Some(parse_connect_timeout(&value)?),
            "options" => self.options = Some(value).filter(|v| !v.trim().is_empty()),
            "target_session_attrs" => {
                self.target_session_attrs = Some(parse_target_session_attrs(&value)?);
            }
            _ => return Err(unsupported(key)),
        }
        Ok(())
    }

    /// `host`: one host, or several separated by commas (libpq's multi-host list). An entry
    /// no host name can be is refused ([`not_a_host`]).
    pub(super) fn set_host(&mut self, host: String) -> Result<(), String> {
        let hosts: Vec<String> = host.split(',').map(str::to_string).collect();
        for (i, entry) in hosts.iter().enumerate() {
            if let Some(reason) = not_a_host(entry) {
                return Err(format!("{} {reason}", which_host(i, hosts.len())));
            }
        }
        self.hosts = Some(hosts);
        Ok(())
    }

    /// `port`: one port for every host, or one per host separated by commas; an empty entry
    /// is the default port.
    pub(super) fn set_port(&mut self, port: &str) -> Result<(), String> {
        let ports = port
            .split(',')
            .map(|p| match p.trim() {
                "" => Ok(None),
                // The text is not quoted: a mis-split URL can put part of a password here.
                p => match p.parse::<u16>() {
                    Ok(port) if port > 0 => Ok(Some(port)),
                    _ => Err("the port is not a number from 1 to 65535".to_string()),
                },
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.ports = Some(ports);
        Ok(())
    }

    /// The hosts and ports of a URL's authority (`h1:5432,[::1]:5433`), each host with its
    /// own port. An authority naming no host (`postgresql://u@:5433/db`) names none: the
    /// default host ([`DEFAULT_HOST`]), as `postgresql:///db` does.
    pub(super) fn set_hosts_and_ports(&mut self, pairs: Vec<(String, Option<u16>)>) {
        let (hosts, ports): (Vec<String>, _) = pairs.into_iter().unzip();
        self.hosts = Some(hosts).filter(|hosts| hosts != &[""]);
        self.ports = Some(ports);
    }

    /// Every `(host, port)`, defaults filled in: one port applies to every host (as in libpq).
    /// No host at all is [`DEFAULT_HOST`]; an empty host given (`?host=`, `host=''`, an
    /// empty entry of a list) is refused: libpq uses its default there, a Unix socket in a
    /// directory it was built with, which is not ours, and a guess either way would reach a
    /// server other than the one meant.
    fn host_list(&self) -> Result<Vec<(String, u16)>, String> {
        let hosts = self.hosts.clone().unwrap_or_else(|| vec![String::new()]);
        if let Some(i) = (self.hosts.iter().flatten()).position(String::is_empty) {
            return Err(format!(
                "{} is empty: libpq would use its default there (a Unix socket), not \
                 {DEFAULT_HOST} as for a host left out; name every host (`localhost`, or the \
                 socket directory such as /var/run/postgresql)",
                which_host(i, hosts.len())
            ));
        }
        let ports = self.ports.clone().unwrap_or_else(|| vec![None]);
        let port_of = |i: usize| -> Result<u16, String> {
            match ports.len() {
                1 => Ok(ports[0].unwrap_or(DEFAULT_PORT)),
                n if n == hosts.len() => Ok(ports[i].unwrap_or(DEFAULT_PORT)),
                n => Err(format!(
                    "{} but {n} ports: give one port, which every host takes, or one port per \
                     host, in the hosts' order",
                    crate::display::plural(hosts.len(), "host")
                )),
            }
        };
        hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let host = if host.is_empty() {
                    DEFAULT_HOST.to_string()
                } else {
                    host.clone()
                };
                Ok((host, port_of(i)?))
            })
            .collect()
    }

    /// The spec, once nothing in it is something PostgreSQL cannot take as given: a NUL
    /// character (the protocol's strings end there), a database or user name longer than
    /// 63 bytes (the server cuts it there, and would connect to another database or role), or
    /// an `options` longer than the startup packet leaves room for ([`MAX_OPTIONS_BYTES`]).
    ///
    /// A user left out is libpq's default (`PGUSER`, else the operating-system user; the
    /// database defaults to the user); a password left out is `PGPASSWORD`'s, else the
    /// password file's line for the first host (the other hosts' lines are read by
    /// [`ConnectionSpec::with_host`]).
    /// The client certificate or key set without the other, which [`SpecBuilder::finish`]
    /// refuses.
    pub(super) fn unpaired_client_file(&self) -> Option<UnpairedClientFile> {
        UnpairedClientFile::of(self.sslcert.is_some(), self.sslkey.is_some())
    }

    pub(super) fn finish(self, defaults: &LibpqDefaults) -> Result<ConnectionSpec, String> {
        let paths = [
            ("sslrootcert", &self.sslrootcert),
            ("sslcert", &self.sslcert),
            ("sslkey", &self.sslkey),
            ("passfile", &self.passfile),
        ]
        .map(|(key, path)| (key, path.as_ref().map(|p| p.to_string_lossy())));
        let hosts = self
            .hosts
            .iter()
            .flatten()
            .map(|h| ("host", Some(h.as_str())));
        let values = [
            ("user", self.user.as_deref()),
            ("dbname", self.dbname.as_deref()),
            ("options", self.options.as_deref()),
            ("application_name", self.application_name.as_deref()),
        ];
        let paths = paths.iter().map(|(key, path)| (*key, path.as_deref()));
        for (key, value) in hosts.chain(values).chain(paths) {
            refuse_password_inside(key, value.unwrap_or_default())?;
        }
        let hosts = self.host_list()?;
        let joined_hosts = hosts.iter().map(|(h, _)| h.as_str()).collect::<String>();
        let fields = [
            ("host", Some(joined_hosts.as_str())),
            ("user name", self.user.as_deref()),
            ("password", self.password.as_deref()),
            ("database name", self.dbname.as_deref()),
            ("options", self.options.as_deref()),
        ];
        for (what, value) in fields {
            if value.is_some_and(|v| v.contains('\0')) {
                return Err(format!(
                    "the {what} contains a NUL character (%00), which PostgreSQL cannot take"
                ));
            }
        }
        for (what, path) in [
            ("sslrootcert", &self.sslrootcert),
            ("sslcert", &self.sslcert),
            ("sslkey", &self.sslkey),
            ("passfile", &self.passfile),
        ] {
            if path
                .as_ref()
                .is_some_and(|p| p.as_os_str().as_encoded_bytes().contains(&0))
            {
                return Err(format!("{what} contains a NUL character (%00)"));
            }
        }
        // libpq would look for the other one in ~/.postgresql; we take no default files, so
        // one without the other cannot work.
        if let Some(missing) = self.unpaired_client_file() {
            return Err(missing.reason().to_string());
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
        // A URL folded over two lines in YAML (`.../app` then `?sslmode=...`), a `|` block
        // scalar: the server would take the blank as part of the name, another database.
        for (what, value) in [
            ("database name", self.dbname.as_deref()),
            ("user name", self.user.as_deref()),
        ] {
            if let Some(value) = value.filter(|v| v.trim() != *v) {
                return Err(format!(
                    "the {what} {} begins or ends with a space or a line break, which PostgreSQL \
                     would take as part of the name (a value folded over lines in YAML gets \
                     one): write the name without it",
                    super::quoted(value)
                ));
            }
        }
        if let Some(options) = self
            .options
            .as_deref()
            .filter(|o| o.len() > MAX_OPTIONS_BYTES)
        {
            return Err(format!(
                "options is {} bytes: at most {MAX_OPTIONS_BYTES} fit in the startup packet, which \
                 PostgreSQL takes up to {MAX_STARTUP_PACKET_BYTES} bytes (a larger one closes \
                 the connection with no reason given)",
                options.len()
            ));
        }
        let user = match self.user {
            Some(user) => user,
            None => {
                // libpq's default goes through the rule every written value does: the
                // server's refusal would quote it whole.
                let user = defaults.user.clone();
                if super::connection::password_pair_end(user.as_deref().unwrap_or_default())
                    .is_some()
                {
                    return Err(
                        "the user name libpq's defaults give (PGUSER, else the system user) \
                         holds `password=` (not shown): set PGUSER to the user name alone, or \
                         name the user in the URL (`postgresql://user:password@host/db`)"
                            .to_string(),
                    );
                }
                user.unwrap_or_else(|| DEFAULT_USER.to_string())
            }
        };
        if user.len() > MAX_NAME_BYTES || user.contains('\0') {
            return Err(format!(
                "the user name libpq's defaults give (PGUSER, else the system user) is not one \
                 PostgreSQL can take (over {MAX_NAME_BYTES} bytes, or a NUL): name the user in the URL"
            ));
        }
        let mut hosts = hosts.into_iter();
        let (host, port) = hosts
            .next()
            .unwrap_or_else(|| (DEFAULT_HOST.to_string(), DEFAULT_PORT));
        let dbname_defaulted = self
            .dbname
            .is_none()
            .then_some(super::connection::DefaultedDatabase::UserName);
        let dbname = self.dbname.unwrap_or_else(|| user.clone());
        // The `passfile` written beats `PGPASSFILE` (and `~/.pgpass`), as in libpq; a password
        // given, written or `PGPASSWORD`, beats both.
        let written_passfile = self.passfile;
        let passfile_defaults;
        let defaults = match &written_passfile {
            Some(passfile) => {
                passfile_defaults = LibpqDefaults {
                    passfile: Some(passfile.clone()),
                    ..defaults.clone()
                };
                &passfile_defaults
            }
            None => defaults,
        };
        let (password, password_source, passfile) = match (self.password, &defaults.password) {
            (Some(password), _) => (Some(password), Some(PasswordSource::Written), None),
            (None, Some(password)) => {
                (Some(password.clone()), Some(PasswordSource::Variable), None)
            }
            (None, None) => match defaults.passfile_password(&host, port, &dbname, &user) {
                Some((password, line)) => (
                    Some(password),
                    Some(PasswordSource::PasswordFile { line }),
                    defaults.passfile.clone(),
                ),
                None => (None, None, defaults.passfile.clone()),
            },
        };
        let (sslmode, sslrootcert) = verified_roots(self.sslmode, self.sslrootcert, defaults)?;
        Ok(ConnectionSpec {
            host,
            port,
            more_hosts: hosts.collect(),
            target_session_attrs: self.target_session_attrs.unwrap_or_default(),
            dbname,
            dbname_defaulted,
            user,
            password,
            password_source,
            passfile,
            written_passfile,
            sslmode,
            sslrootcert,
            sslcert: self.sslcert,
            sslkey: self.sslkey,
            options: self.options,
            application_name: self.application_name,
            connect_timeout: self.connect_timeout,
            written: self.written,
        })
    }
}

/// The sslmode and the CA certificates it trusts, as libpq 16 decides them: `verify-ca` and
/// `verify-full` without `sslrootcert` trust `~/.postgresql/root.crt` (never a public CA);
/// `sslrootcert=system` trusts the public roots and so asks for `verify-full` (its default
/// then), a weaker sslmode refused: any public CA issues a certificate for a name its holder
/// controls, so only the host name check makes those roots mean anything.
fn verified_roots(
    sslmode: Option<SslMode>,
    sslrootcert: Option<PathBuf>,
    defaults: &LibpqDefaults,
) -> Result<(SslMode, Option<PathBuf>), String> {
    let system = sslrootcert.as_deref() == Some(std::path::Path::new(SYSTEM_ROOTS));
    match (sslmode, sslrootcert) {
        (None, root) if system => Ok((SslMode::VerifyFull, root)),
        (Some(mode), _) if system && mode != SslMode::VerifyFull => Err(format!(
            "sslmode={mode} may not be used with sslrootcert=system: the public CAs it trusts \
             mean something only with the host name checked (use sslmode=verify-full, the \
             default with sslrootcert=system)"
        )),
        // Without a home directory there is no root.crt: left unset, and `db::tls` refuses
        // to connect (only the connection needs it; a spec is also read to be shown).
        (Some(mode @ (SslMode::VerifyCa | SslMode::VerifyFull)), None) => {
            Ok((mode, defaults.root_cert.clone()))
        }
        (mode, root) => Ok((mode.unwrap_or_default(), root)),
    }
}

/// Entry `i` of a host list of `count` as a message names it: `the host` alone, else `host 2
/// of 3 in the host list`.
fn which_host(i: usize, count: usize) -> String {
    match count {
        1 => "the host".to_string(),
        n => format!("host {} of {n} in the host list", i + 1),
    }
}

/// Why a `host` entry (of `host=`, a URL's `?host=`, an environment file's `host:`) cannot be
/// a host name, address or socket directory, when it plainly cannot, with what to write: one
/// ending in a port (`db:5432`: a host name has no `:`, an IPv6 address at least two), or an
/// IPv6 address in brackets, which only a URL's authority takes. libpq would look either up
/// as a name and fail; the entry is not shown (only the port is): a mis-split string can put
/// part of a password here.
fn not_a_host(entry: &str) -> Option<String> {
    if entry.starts_with('/') || entry.starts_with('@') {
        return None;
    }
    if entry.starts_with('[') || entry.ends_with(']') {
        return Some(
            "is an IPv6 address in brackets, which only a URL's host takes \
             (`postgresql://user@[::1]:5432/db`): write it without them (`host=::1`)"
                .to_string(),
        );
    }
    match entry.split_once(':') {
        Some((name, port))
            if !name.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(format!(
                "ends in a port (`:{port}`), which libpq would look up as part of the host \
                 name: give the port as `port` (`host=h port={port}`, an environment file's \
                 `port: {port}`, a URL's `postgresql://user@h:{port}/db`)"
            ))
        }
        _ => None,
    }
}

/// Refuses a value of `key` (any key but `password`) that holds a `password=`
/// ([`super::connection::password_pair_end`]): almost certainly libpq pairs joined by commas
/// or `;` (`user=u,password=PW,dbname=db`, which libpq takes as one user name) or a URL's
/// `?host=h,password=PW`. Taken as written, the password would be shown wherever the user,
/// host or database is. The key is named (only when it is libpq's: an unknown one may be a
/// piece of a password), never the value.
pub(super) fn refuse_password_inside(key: &str, value: &str) -> Result<(), String> {
    if super::connection::password_pair_end(value).is_none() {
        return Ok(());
    }
    Err(format!(
        "the value of {} holds `password=` (not shown): separate libpq key=value pairs \
         with spaces, not commas or semicolons (`user=app password=...`), and give a URL's \
         password before its host (`postgresql://user:password@host/db`)",
        parameter_named(key)
    ))
}

/// `` `key` `` when it is a libpq parameter, else `a parameter`: an unknown key may be a
/// piece of a password whose spaces were not quoted.
pub(super) fn parameter_named(key: &str) -> String {
    if is_libpq_parameter(key) {
        format!("`{key}`")
    } else {
        "a parameter".to_string()
    }
}

/// The largest startup packet PostgreSQL takes (`MAX_STARTUP_PACKET_LENGTH`): a larger one
/// closes the connection with no reason given.
pub const MAX_STARTUP_PACKET_BYTES: usize = 10_000;

/// The longest `options` taken: what the startup packet leaves once the rest is in (the user,
/// database and application names, each at most 63 bytes, their keys and our own settings
/// take a few hundred bytes). A longer one is refused before connecting.
pub const MAX_OPTIONS_BYTES: usize = 9_000;

/// The longest `application_name` sent: PostgreSQL keeps `NAMEDATALEN - 1` bytes of it where it
/// shows it (`pg_stat_activity`, which names the holder of the migration lock).
pub const MAX_APPLICATION_NAME_BYTES: usize = MAX_NAME_BYTES;

/// `application_name` as sent to the server, wherever it is given (a URL, conninfo, an
/// environment file's `application_name:`). A NUL is refused: the protocol's strings end
/// there. A longer value is cut to [`MAX_APPLICATION_NAME_BYTES`] (at a character boundary):
/// the server shows only that much of it anyway, and a long one (20,000 characters) made the
/// startup packet larger than the server accepts, which closed the connection with no reason
/// given. Cutting it, as the server does, beats refusing a label that is only too long.
pub(super) fn application_name(mut value: String) -> Result<String, String> {
    if value.contains('\0') {
        return Err(
            "the application_name contains a NUL character (%00 in a URL, \\0 in YAML), which \
             PostgreSQL cannot take"
                .to_string(),
        );
    }
    if value.len() > MAX_APPLICATION_NAME_BYTES {
        let mut end = MAX_APPLICATION_NAME_BYTES;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        value.truncate(end);
    }
    Ok(value)
}

/// `sslmode`: libpq's values but `allow`, which would try without TLS first.
fn parse_sslmode(value: &str) -> Result<SslMode, String> {
    const MODES: [&str; 5] = ["disable", "prefer", "require", "verify-ca", "verify-full"];
    const LIBPQ_ONLY: &[(&str, &str)] = &[(
        "allow",
        "(libpq's: TLS only when the server demands it) is not supported: use sslmode=prefer \
         (TLS when the server offers it) or sslmode=disable",
    )];
    SslMode::parse(value).ok_or_else(|| not_a_value("sslmode", value, &MODES, LIBPQ_ONLY))
}

/// The error for a value of `key` (a parameter taking a set of `values`: `sslmode`,
/// `target_session_attrs`) that is none of them: the one rule of which of it is shown. A value
/// of libpq's that we do not take is named, with what to use instead (`libpq_only`: the value
/// and those words); a misspelled value (`requir`, `read_write`) is shown with the one meant;
/// any other is not shown, as no other parameter's is: it may be a mis-split piece of a
/// password.
fn not_a_value(key: &str, value: &str, values: &[&str], libpq_only: &[(&str, &str)]) -> String {
    if let Some((value, instead)) = libpq_only.iter().find(|(v, _)| *v == value) {
        return format!("{key}={value} {instead}");
    }
    match crate::text::did_you_mean(value, values.iter().copied()) {
        Some(meant) => format!("{key} {value:?} is not valid: did you mean {meant}?"),
        None => format!("{key} is not one of {}", values.join(", ")),
    }
}

/// `connect_timeout`, as libpq reads it ([`Timeout::from_secs_text`]: whole seconds, 1 is 2,
/// zero or negative waits indefinitely). The value is not quoted: a mis-split conninfo can put
/// part of a password here.
fn parse_connect_timeout(value: &str) -> Result<Duration, String> {
    match Timeout::from_secs_text(value) {
        Ok(timeout) => Ok(timeout.duration()),
        Err(TimeoutError::Malformed | TimeoutError::NoUnit) => {
            Err("connect_timeout must be a whole number of seconds (as in libpq)".to_string())
        }
        Err(TimeoutError::TooLong) => Err(format!(
            "connect_timeout is too long: at most {} seconds (PostgreSQL's timeouts are at most \
             2147483647 ms)",
            Timeout::MAX.as_secs()
        )),
    }
}

fn parse_target_session_attrs(value: &str) -> Result<TargetSessionAttrs, String> {
    TargetSessionAttrs::parse(value).ok_or_else(|| {
        let all = TargetSessionAttrs::ALL.map(TargetSessionAttrs::as_str);
        not_a_value("target_session_attrs", value, &all, &[])
    })
}

/// A key we do not take. It is quoted only when it is libpq's or close to one of ours:
/// anything else may be a piece of a password whose spaces were not quoted
/// (`password=my secret=...`).
///
/// A libpq parameter is spelled right: it gets no did-you-mean, which would name another
/// parameter (`sslpassword`, the key's passphrase, is not `password`; `sslcrl` is not
/// `sslcert`).
fn unsupported(key: &str) -> String {
    let libpq = LIBPQ_ONLY_PARAMETERS.contains(&key);
    let close = closest(key, KNOWN_PARAMETERS).filter(|_| !libpq);
    let shown = if libpq {
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
    format!(
        "unsupported {shown}{hint}; supported: {}",
        KNOWN_PARAMETERS.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::{parse_sslmode, SpecBuilder, LIBPQ_ONLY_PARAMETERS};

    /// A wrong `sslmode` was echoed when short and plain, against the rule every other
    /// parameter follows (a mis-split piece of a password): only a misspelled mode is shown.
    #[test]
    fn only_a_misspelled_sslmode_is_shown() {
        assert_eq!(
            parse_sslmode("requir").unwrap_err(),
            "sslmode \"requir\" is not valid: did you mean require?"
        );
        let err = parse_sslmode("SECRETPW").unwrap_err();
        assert!(!err.contains("SECRETPW"), "{err}");
        assert_eq!(
            err,
            "sslmode is not one of disable, prefer, require, verify-ca, verify-full"
        );
    }

    /// A libpq parameter we do not take is spelled right: a did-you-mean naming another
    /// parameter sent the user to harm (`sslpassword`, the key's passphrase, "did you mean
    /// password?"; `sslcrl` "did you mean sslcert?").
    #[test]
    fn a_libpq_parameter_we_do_not_take_gets_no_other_one_suggested() {
        for key in LIBPQ_ONLY_PARAMETERS {
            let err = SpecBuilder::default()
                .set(key, "x".to_string())
                .unwrap_err();
            assert!(err.contains(&format!("libpq parameter {key:?}")), "{err}");
            assert!(!err.contains("did you mean"), "{key}: {err}");
        }
    }

    /// `target_session_attrs` misspelled gets the did-you-mean `sslmode` gets, and a value of
    /// libpq's that we do not take (`sslmode=allow`) is named as such, never as a typo; any
    /// other value is still not shown (it may be a piece of a password).
    #[test]
    fn a_value_of_a_parameter_with_a_set_of_values_is_checked_by_one_rule() {
        let err = |key: &str, value: &str| {
            SpecBuilder::default()
                .set(key, value.to_string())
                .unwrap_err()
        };
        for (key, value, expected) in [
            (
                "target_session_attrs",
                "read_write",
                "target_session_attrs \"read_write\" is not valid: did you mean read-write?",
            ),
            (
                "target_session_attrs",
                "prefer-standy",
                "target_session_attrs \"prefer-standy\" is not valid: did you mean \
                 prefer-standby?",
            ),
            (
                "sslmode",
                "allow",
                "sslmode=allow (libpq's: TLS only when the server demands it) is not supported: \
                 use sslmode=prefer (TLS when the server offers it) or sslmode=disable",
            ),
        ] {
            assert_eq!(err(key, value), expected);
        }
        let hidden = err("target_session_attrs", "SECRETPW");
        assert_eq!(
            hidden,
            "target_session_attrs is not one of any, read-write, read-only, primary, standby, \
             prefer-standby"
        );
    }

    /// `connect_timeout` was read as whole seconds taken as written: `1` waited 1 s where libpq
    /// waits 2 (its minimum), and `-1`, `+2` or `-0` were refused where libpq takes them (a
    /// negative value waits indefinitely, as 0 does). Each case is psql 15's reading of it (a
    /// server that accepts and never answers: `1` and `+2` time out after 2 s, `0` and `-1`
    /// never; `""`, `1.5` and `abc` are "invalid integer value").
    #[test]
    fn connect_timeout_is_read_as_libpq_reads_it() {
        use crate::config::ConnectionSpec;
        use std::time::Duration;
        for (value, expected) in [
            ("1", 2),
            ("2", 2),
            ("10", 10),
            (" 3 ", 3),
            ("+2", 2),
            ("+1", 2),
            ("0", 0),
            ("-0", 0),
            ("-1", 0),
            ("-2147483648", 0),
        ] {
            for text in [
                format!("host=h dbname=db connect_timeout='{value}'"),
                format!(
                    "postgresql://h/db?connect_timeout={}",
                    value.replace(' ', "%20").replace('+', "%2B")
                ),
            ] {
                let spec = ConnectionSpec::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
                assert_eq!(
                    spec.connect_timeout,
                    Some(Duration::from_secs(expected)),
                    "{text}"
                );
            }
        }
        for value in ["", "1.5", "abc", "5s", "- 1", "-2147483649"] {
            let text = format!("host=h dbname=db connect_timeout='{value}'");
            let err = ConnectionSpec::parse(&text).unwrap_err();
            assert!(
                err.message.contains("whole number of seconds"),
                "{text}: {err}"
            );
        }
    }

    /// An empty `host` parameter (`?host=`, `host=''`) was taken as `localhost`, where libpq
    /// connects to its default Unix socket directory instead (psql 15 reaches the socket with
    /// `postgresql://u@127.0.0.1/db?host=`): a silent different server. It is refused, saying
    /// what to write; a `host` left out is still `localhost`.
    #[test]
    fn an_empty_host_parameter_is_refused_with_what_to_write() {
        use crate::config::ConnectionSpec;
        for text in [
            "postgresql://u@127.0.0.1:5432/db?host=",
            "postgresql:///db?host=",
            "postgresql://u@h/db?host=&port=5433",
            "host='' dbname=db",
        ] {
            let err = ConnectionSpec::parse(text).unwrap_err();
            assert!(
                err.message.contains("the host is empty")
                    && err.message.contains("Unix socket")
                    && err.message.contains("/var/run/postgresql"),
                "{text}: {err}"
            );
        }
        for (text, needle) in [
            (
                "host=h1,,h3 dbname=db",
                "host 2 of 3 in the host list is empty",
            ),
            (
                "postgresql://u@h1:5432,/db",
                "host 2 of 2 in the host list is empty",
            ),
            (
                "postgresql:///db?host=h1,",
                "host 2 of 2 in the host list is empty",
            ),
        ] {
            let err = ConnectionSpec::parse(text).unwrap_err();
            assert!(err.message.contains(needle), "{text}: {err}");
        }
        let spec = ConnectionSpec::parse("dbname=db user=u").unwrap();
        assert_eq!(spec.host, "localhost");
    }

    /// An empty `port` parameter is the default port, over a URL's own: libpq does the same
    /// (psql 15 reaches port 5432 with `postgresql://u@127.0.0.1:55917/db?port=`).
    #[test]
    fn an_empty_port_parameter_is_the_default_port_as_in_libpq() {
        use crate::config::ConnectionSpec;
        for text in [
            "postgresql://u@h:55917/db?port=",
            "host=h port=55917 port='' dbname=db",
        ] {
            let spec = ConnectionSpec::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(spec.port, 5432, "{text}");
        }
    }

    /// A host entry that no host name can be — one ending in a port (`db.example.com:5432`,
    /// the most common slip in `host=` and an environment file's `host:`), or an IPv6 address
    /// in a URL's brackets outside a URL (`host=[::1]`) — was looked up as a name (libpq does
    /// too), failing with "cannot resolve the host name" (exit 3) after shown as
    /// `[db.example.com:5432]:5432`. It is refused before connecting, saying what to write.
    #[test]
    fn a_host_entry_holding_a_port_or_brackets_is_refused_with_what_to_write() {
        use crate::config::ConnectionSpec;
        for (text, needle) in [
            (
                "host=db.example.com:5432 dbname=app",
                "ends in a port (`:5432`)",
            ),
            (
                "host=h1,h2:5433 dbname=app",
                "host 2 of 2 in the host list ends in a port",
            ),
            (
                "postgresql:///app?host=10.0.0.1:6432",
                "ends in a port (`:6432`)",
            ),
            ("host=[::1] dbname=app", "an IPv6 address in brackets"),
            (
                "host=h1,[fe80::1%eth0] dbname=app",
                "host 2 of 2 in the host list is an IPv6",
            ),
        ] {
            let err = ConnectionSpec::parse(text).unwrap_err();
            assert!(err.message.contains(needle), "{text}: {err}");
        }
        for text in [
            "host=::1 dbname=app",
            "host=fe80::1%eth0,h2 dbname=app",
            "host=/run/a:b dbname=app",
            "postgresql://u@[::1]:5432,h:5433/app",
            "postgresql://u@%2Frun%2Fpg/app",
        ] {
            ConnectionSpec::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }
}

/// A client certificate named without its key, or a key without its certificate: the one rule
/// ([`SpecBuilder::finish`] refuses it: libpq would look for the other in `~/.postgresql`, and
/// we take no default files), and the one help saying what to add, in the spelling of what
/// was written (a URL's query, conninfo, an environment file's `database:` block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UnpairedClientFile {
    /// `sslcert` without `sslkey`.
    NoKey,
    /// `sslkey` without `sslcert`.
    NoCertificate,
}

/// How a connection's parameters are written, for a help that says what to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Spelling {
    Url,
    Conninfo,
    /// An environment file's `database:` block, read with the driver only.
    #[cfg_attr(not(feature = "db"), allow(dead_code))]
    DatabaseBlock,
}

impl UnpairedClientFile {
    /// The one of them missing, given which are written (`None`: both or neither).
    pub(super) fn of(sslcert: bool, sslkey: bool) -> Option<UnpairedClientFile> {
        match (sslcert, sslkey) {
            (true, false) => Some(UnpairedClientFile::NoKey),
            (false, true) => Some(UnpairedClientFile::NoCertificate),
            _ => None,
        }
    }

    fn reason(self) -> &'static str {
        match self {
            UnpairedClientFile::NoKey => {
                "sslcert is set without sslkey: a client certificate needs the file of its \
                 private key too"
            }
            UnpairedClientFile::NoCertificate => {
                "sslkey is set without sslcert: a client key needs the file of its certificate \
                 too"
            }
        }
    }

    /// What to add, written as `spelling` writes a parameter.
    pub(super) fn help(self, spelling: Spelling) -> String {
        let (missing, present, path, what) = match self {
            UnpairedClientFile::NoKey => (
                "sslkey",
                "sslcert",
                "/path/to/client.key",
                "the file of the certificate's private key (PEM, unencrypted, readable by its \
                 owner only)",
            ),
            UnpairedClientFile::NoCertificate => (
                "sslcert",
                "sslkey",
                "/path/to/client.crt",
                "the file of the key's certificate (PEM)",
            ),
        };
        let add = match spelling {
            Spelling::Url => format!("`&{missing}={path}` to the URL"),
            Spelling::Conninfo => format!("`{missing}={path}`"),
            Spelling::DatabaseBlock => format!("`{missing}: {path}` to the `database:` block"),
        };
        format!("add {add}, {what}; or remove {present} to connect without a client certificate")
    }
}
