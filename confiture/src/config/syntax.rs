//! The syntax of connection strings: `postgresql://` URLs (percent-encoding, IPv6 hosts, Unix
//! socket directories) and libpq `key=value` conninfo. Errors never quote a value: it may be a
//! password.

use super::libpq::LibpqDefaults;
use super::params::{parameter_named, refuse_password_inside, SpecBuilder};
use super::ConnectionSpec;
#[cfg(feature = "env-files")]
use crate::config::environment::ConnectionPart;

/// The longest database or role name PostgreSQL keeps (`NAMEDATALEN - 1`): it truncates longer
/// ones in the startup packet.
pub const MAX_NAME_BYTES: usize = 63;

/// [`parse_spec_with`] libpq's defaults from the process's environment.
pub(super) fn parse_spec(text: &str) -> Result<ConnectionSpec, String> {
    parse_spec_with(text, &LibpqDefaults::from_vars(&super::process_vars))
}

/// A URL or conninfo, what it leaves out filled in by `defaults` (user, password).
pub(super) fn parse_spec_with(
    text: &str,
    defaults: &LibpqDefaults,
) -> Result<ConnectionSpec, String> {
    parse_parts(text)?.finish(defaults)
}

/// The parameters a URL or conninfo writes, before libpq's defaults fill in the rest.
fn parse_parts(text: &str) -> Result<SpecBuilder, String> {
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
        builder.written = super::connection::Written::Pairs;
        parse_conninfo(text, &mut builder)?;
    } else if text.is_empty() {
        return Err("it is empty".to_string());
    } else {
        return Err("expected a postgresql:// URL or key=value pairs".to_string());
    }
    Ok(builder)
}

/// The parts of a connection — the database's name, a host, a port, the user — that `marked`
/// writes and `text` leaves out or empty, `marked` being `text` with what some variables
/// emptied written as a mark instead (`expand::mark_empty_defaults`): the parts those
/// variables emptied, each libpq's default in its place, another server, role or database.
/// A part neither writes (`postgresql://h`) is not one; none when either does not parse.
#[cfg(feature = "env-files")]
pub(super) fn parts_emptied(text: &str, marked: &str) -> Vec<ConnectionPart> {
    let (Ok(text), Ok(marked)) = (parse_parts(text), parse_parts(marked)) else {
        return Vec::new();
    };
    fn named(value: Option<&String>) -> bool {
        value.is_some_and(|v| !v.is_empty())
    }
    let hosts = |b: &SpecBuilder, i: usize| named(b.hosts.as_ref().and_then(|h| h.get(i)));
    let ports = |b: &SpecBuilder, i: usize| {
        (b.ports.as_ref()).is_some_and(|p| p.get(i).is_some_and(Option::is_some))
    };
    let count = |list: Option<usize>| list.unwrap_or(0);
    let emptied = |list: &dyn Fn(&SpecBuilder, usize) -> bool, entries: usize| {
        (0..entries).any(|i| list(&marked, i) && !list(&text, i))
    };
    let mut parts = Vec::new();
    if named(marked.dbname.as_ref()) && !named(text.dbname.as_ref()) {
        parts.push(ConnectionPart::Database);
    }
    if emptied(&hosts, count(marked.hosts.as_ref().map(Vec::len))) {
        parts.push(ConnectionPart::Host);
    }
    if emptied(&ports, count(marked.ports.as_ref().map(Vec::len))) {
        parts.push(ConnectionPart::Port);
    }
    if named(marked.user.as_ref()) && !named(text.user.as_ref()) {
        parts.push(ConnectionPart::User);
    }
    parts
}

/// The parts of a connection — the database's name, the hosts, the ports, the user, the
/// password — that `text` and `other` write differently, as written (before libpq's defaults
/// fill in what both leave out); `None` when either does not parse. `other` is `text` with one
/// variable's value replaced: the parts that variable gave.
#[cfg(feature = "env-files")]
pub(super) fn parts_differing(text: &str, other: &str) -> Option<Vec<ConnectionPart>> {
    let (Ok(a), Ok(b)) = (parse_parts(text), parse_parts(other)) else {
        return None;
    };
    let differing = [
        (a.dbname != b.dbname, ConnectionPart::Database),
        (a.hosts != b.hosts, ConnectionPart::Host),
        (a.ports != b.ports, ConnectionPart::Port),
        (a.user != b.user, ConnectionPart::User),
        (a.password != b.password, ConnectionPart::Password),
    ];
    Some(
        differing
            .into_iter()
            .filter_map(|(differs, part)| differs.then_some(part))
            .collect(),
    )
}

/// Whether `text`, given where a database or host *name* goes (a line of a target list, the
/// legacy `database:` block's `database` and `host`), is a connection string instead: it has
/// `://` or `=` (`is_url_like`) or `@` (credentials, maybe with a password). It is then
/// parsed, or refused, as one — and never shown, since it may hold a password. A database
/// whose name has `@` or `=` is written as a URL (`postgresql://host/a%40b`).
pub fn names_a_connection(text: &str) -> bool {
    is_url_like(text) || text.contains('@')
}

/// Where a connection string was given in place of something else, for
/// [`connection_given_as`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InPlaceOf<'a> {
    /// A path that is not there: `what` it names (`"environment file"`), and the flag or call
    /// it was given to (`"-c"`), when the caller knows one.
    Path {
        /// What the path names: `"environment file"`, `"target list"`.
        what: &'a str,
        /// The flag (or call) given it, when known: `"-c"`, `"--migrations-dir"`.
        given_to: Option<&'a str>,
    },
    /// A name: `what` kind of name (`"environment name"`), and the flag or call given it.
    Name {
        /// The kind of name: `"environment name"`, `"tenant schema name"`.
        what: &'a str,
        /// The flag (or call) given it: `"--env"`, `"--schema"`.
        given_to: &'a str,
    },
    /// An argument no flag takes, of a program's own command line (an `xtask`'s, say):
    /// `given_to` names the program (`"cargo xtask release"`).
    Argument {
        /// The program (or command) given it: `"cargo xtask release"`.
        given_to: &'a str,
    },
}

/// The refusal (invalid, exit 5) of a connection string ([`names_a_connection`]) given where
/// a path or a name goes (`-c $DATABASE_URL`, `--env URL`, `--targets URL`, `--schema-dir
/// URL`, `--schema URL`, `--migrations-dir URL`), or as an argument no flag takes (a program
/// written with the library, as `examples/xtask-release` is, says so with its message and
/// help): the one wording of them all, which never shows the text, since it may hold a
/// password. `help` says what goes there instead.
pub fn connection_given_as(place: InPlaceOf<'_>, help: impl Into<String>) -> crate::Error {
    const WHY: &str = "it has `://`, `=` or `@`; its text is not shown: it may hold a password";
    let message = match place {
        InPlaceOf::Path { what, given_to } => {
            let to = given_to
                .map(|flag| format!(" to {flag}"))
                .unwrap_or_default();
            format!("{what} not found: the path given{to} looks like a connection string ({WHY})")
        }
        InPlaceOf::Name { what, given_to } => {
            format!("the {what} given to {given_to} looks like a connection string ({WHY})")
        }
        InPlaceOf::Argument { given_to } => {
            format!(
                "an unknown argument given to {given_to} looks like a connection string ({WHY})"
            )
        }
    };
    crate::Error::invalid(message).with_help(help)
}

/// Whether `text` has `://` (a URL, maybe with a mistyped scheme) or `=` (libpq's
/// `key=value` pairs, `password=...` among them): where a user name goes, which may itself
/// hold `@` (Azure's `user@server`), only these tell a connection string.
pub(crate) fn is_url_like(text: &str) -> bool {
    text.contains("://") || text.contains('=')
}

/// Whether `text` starts with `scheme://`. A `://` further on may be inside a conninfo value
/// (`password='a://b'`): that text is conninfo, not a URL with a wrong scheme.
pub(crate) fn has_url_scheme(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

/// The database name `text` (a URL or conninfo) writes, as written: a URL's path or its
/// `dbname` parameter (which wins, as [`parse_url`] reads them) before percent-decoding, a
/// conninfo's `dbname` value (conninfo has no encoding: as written is as read). `None` when it
/// writes none, or does not parse. What a target list's rule of a name that is not one
/// (`fleet::targets`: names joined by commas, a `"`) reads in a URL: `%2C` and `%22` are how a
/// name really holding them is written there.
// Only the fleet's lists (feature `db`) read it.
#[cfg_attr(not(feature = "db"), allow(dead_code))]
pub(crate) fn dbname_as_written(text: &str) -> Option<String> {
    let text = text.trim();
    let builder = parse_parts(text).ok()?;
    let Some(rest) = text
        .strip_prefix("postgresql://")
        .or_else(|| text.strip_prefix("postgres://"))
    else {
        return builder.dbname;
    };
    let (_, after) = split_userinfo(rest);
    let (main, query) = after.split_once('?').unwrap_or((after, ""));
    let parameter = (query.split('&'))
        .filter_map(|pair| pair.split_once('='))
        .rfind(|(key, _)| percent_decode(key, "").is_ok_and(|k| k == "dbname"))
        .map(|(_, value)| value);
    let path = main
        .split_once('/')
        .map(|(_, path)| path)
        .filter(|p| !p.is_empty());
    parameter.or(path).map(str::to_string)
}

/// The user name and password of a URL after its `postgresql://` (before the `@` that ends
/// them, if any), and the rest: libpq's `conninfo_uri_parse_options` ends them at the first
/// `@` before the first `/`, wherever a `?` is; with no `@` there, there are none, and an `@`
/// further on is data (`postgresql://h/db?application_name=ci@runner`).
fn split_userinfo(rest: &str) -> (Option<&str>, &str) {
    match rest.find(['@', '/']) {
        Some(at) if rest[at..].starts_with('@') => (Some(&rest[..at]), &rest[at + 1..]),
        _ => (None, rest),
    }
}

/// The part of a URL's user name and password written with a `%` (`password`, else `user`),
/// and whether each `%` there is a percent-encoding (`%` and two hex digits), which the URL
/// decodes (`ab%41cd` is the password `abAcd`): a `%` of the password itself is written
/// `%25`. `None` for a URL with no `%` there, and for a conninfo (`key=value`, read as
/// written).
pub(crate) fn percent_in_credentials(text: &str) -> Option<(&'static str, bool)> {
    let rest = text.trim().split_once("://").map(|(_, rest)| rest)?;
    if !has_url_scheme(text.trim()) {
        return None;
    }
    let (user, password) = match split_userinfo(rest).0?.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (split_userinfo(rest).0?, None),
    };
    let decodes = |part: &str| {
        let bytes = part.as_bytes();
        (0..bytes.len()).filter(|&i| bytes[i] == b'%').all(|i| {
            bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        })
    };
    match password.filter(|p| p.contains('%')) {
        Some(password) => Some(("password", decodes(password))),
        None => user.contains('%').then(|| ("user", decodes(user))),
    }
}

fn parse_url(rest: &str, builder: &mut SpecBuilder) -> Result<(), String> {
    let (userinfo, after) = split_userinfo(rest);
    if userinfo.is_some_and(|u| u.contains('?')) {
        // libpq takes the `?` into the user name or password (`h?application_name=a@b` is
        // the user `h?application_name=a` on the host `b`), where it is far more often a
        // parameter whose `/` was left out, or a password's `?` not percent-encoded.
        return Err(
            "found `?` before the `@` that ends the user name and password: libpq reads all \
             before that `@` as them; percent-encode `/`, `?` and `@` in the user name and \
             password (%2F, %3F, %40), and write a `/` before the parameters \
             (`postgresql://host/?key=value`)"
                .to_string(),
        );
    }
    let (main, query) = match after.split_once('?') {
        Some((main, query)) => (main, Some(query)),
        None => (after, None),
    };
    let (hostport, path) = match main.split_once('/') {
        Some((hostport, path)) => (hostport, Some(path)),
        None => (main, None),
    };
    // libpq ends the user name and password at the first `@` and reads the rest as the host
    // (`u:p@ss@h`: the host `ss@h`, which no resolver finds): a second `@` is one of them not
    // percent-encoded. Taken up to the last one, the URL connected for us and failed for psql
    // and confiture (Python).
    if userinfo.is_some() && hostport.contains('@') {
        return Err(
            "found more than one `@` before the host: percent-encode `@` in the user name and \
             password (%40); libpq takes the first `@` as their end"
                .to_string(),
        );
    }
    // With no user name, an `@` in the database name is most likely a password's `/` not
    // percent-encoded (`u:1234/cret@h/db`, which libpq reads as the database `cret@h/db` on
    // the host `u`): refused rather than connected to another database.
    if userinfo.is_none() && path.is_some_and(|p| p.contains('@')) {
        return Err(
            "found `@` after the host, in the database name, with no user name before the \
             host: percent-encode `/`, `?` and `@` in the user name and password (%2F, %3F, \
             %40); a database name's own `@` is written %40"
                .to_string(),
        );
    }
    // With a user name, an `@` in the database name is data (`app@eu`), unless what follows it
    // is what only a host has, a `/` or a `:port` (`u:p@ss/S3cret@h:5432/app`, which libpq
    // reads as the database `S3cret@h:5432/app` on the host `ss`): a password's `@` and `/`
    // not percent-encoded, whose end would be shown as that database's name.
    let host_after_at = |p: &str| {
        p.split_once('@')
            .is_some_and(|(_, after)| after.contains(['/', ':']))
    };
    if userinfo.is_some() && path.is_some_and(host_after_at) {
        return Err(
            "found `@` after the host, in the database name, followed by what looks like a \
             host: a `/` in the user name or password ended the host early; percent-encode \
             `/`, `?` and `@` in the user name and password (%2F, %3F, %40); a database \
             name's own `@` is written %40"
                .to_string(),
        );
    }
    if let Some(userinfo) = userinfo {
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
    }
    if !hostport.is_empty() {
        let pairs = hostport
            .split(',')
            .map(parse_url_host)
            .collect::<Result<Vec<_>, _>>()?;
        builder.set_hosts_and_ports(pairs);
    }
    if let Some(path) = path.filter(|p| !p.is_empty()) {
        builder.dbname = Some(percent_decode(path, "database name")?);
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| "a query parameter has no `=value`".to_string())?;
        let key = percent_decode(key, "query parameter name")?;
        let decoded = percent_decode(value, "query parameter value")?;
        if value.contains('=') {
            // libpq refuses it too ("extra key/value separator"): pairs joined with `,`
            // (`?host=h,password=PW`) would become a host list holding the password.
            refuse_password_inside(&key, &decoded)?;
            return Err(format!(
                "the value of {} holds a second `=`: separate query parameters with `&`, and \
                 percent-encode an `=` inside a value as %3D (libpq refuses it too)",
                parameter_named(&key)
            ));
        }
        builder.set(&key, decoded)?;
    }
    Ok(())
}

/// One `host[:port]` of a URL's host list: a name, an IPv6 address in brackets (with its zone
/// id, `%25eth0`), or a percent-encoded Unix socket directory, each percent-decoded; no port
/// is the default one.
fn parse_url_host(hostport: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "an IPv6 address opened with `[` is not closed with `]`".to_string())?;
        let port = if after.is_empty() {
            None
        } else {
            Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| "unexpected text after the IPv6 address's `]`".to_string())?,
            )
        };
        // Decoded like any host, as libpq does: an IPv6 zone id is written `%25` in a URL
        // (`[fe80::1%25eth0]`, RFC 6874).
        let what = "IPv6 host (write its zone id's `%` as `%25`: `[fe80::1%25eth0]`)";
        (percent_decode(host, what)?, port)
    } else {
        let (host, port) = match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        };
        (percent_decode(host, "host")?, port)
    };
    let port = match port.filter(|p| !p.is_empty()) {
        // The text is not quoted: a mis-split URL can put part of a password here.
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port > 0 => Some(port),
            _ => return Err("the port is not a number from 1 to 65535".to_string()),
        },
        None => None,
    };
    Ok((host, port))
}

/// libpq's conninfo: `key = value` pairs separated by whitespace; values may be single-quoted,
/// and `\` escapes the next character.
fn parse_conninfo(text: &str, builder: &mut SpecBuilder) -> Result<(), String> {
    for (key, value) in conninfo_pairs(text)? {
        builder.set(&key, value)?;
    }
    Ok(())
}

/// The `key=value` pairs of a conninfo, in order, values unquoted and unescaped as libpq reads
/// them: what [`parse_conninfo`] sets, and [`parameter_written`] looks a key up in.
fn conninfo_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
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
        pairs.push((key, value));
    }
}

/// The value `text` (a URL or conninfo) writes for the parameter `key` (the last one, as
/// libpq reads them; a URL's query parameters percent-decoded), whether or not we take that
/// parameter: what a refusal's help looks at (`sslpassword`), never its message. `None` when it
/// writes none, or cannot be read that far.
pub(super) fn parameter_written(text: &str, key: &str) -> Option<String> {
    let text = text.trim();
    let pairs = match text
        .strip_prefix("postgresql://")
        .or_else(|| text.strip_prefix("postgres://"))
    {
        Some(rest) => {
            let (_, after) = split_userinfo(rest);
            let query = after.split_once('?').map_or("", |(_, query)| query);
            (query.split('&'))
                .filter_map(|pair| pair.split_once('='))
                .filter_map(|(k, v)| {
                    Some((percent_decode(k, "").ok()?, percent_decode(v, "").ok()?))
                })
                .collect()
        }
        None => conninfo_pairs(text).ok()?,
    };
    pairs
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .next_back()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every refusal of a connection string given where a path or a name goes says the same
    /// (invalid, exit 5, what was expected and where), and never shows a text.
    #[test]
    fn a_connection_string_in_place_of_a_path_or_a_name_has_one_wording() {
        let why = "looks like a connection string (it has `://`, `=` or `@`; its text is not \
                   shown: it may hold a password)";
        let cases = [
            (
                InPlaceOf::Path {
                    what: "environment file",
                    given_to: Some("-c"),
                },
                format!("environment file not found: the path given to -c {why}"),
            ),
            (
                InPlaceOf::Path {
                    what: "target list",
                    given_to: None,
                },
                format!("target list not found: the path given {why}"),
            ),
            (
                InPlaceOf::Name {
                    what: "environment name",
                    given_to: "--env",
                },
                format!("the environment name given to --env {why}"),
            ),
            (
                InPlaceOf::Argument {
                    given_to: "cargo xtask release",
                },
                format!("an unknown argument given to cargo xtask release {why}"),
            ),
        ];
        for (place, message) in cases {
            let e = connection_given_as(place, "give the path");
            assert_eq!(e.kind, crate::ErrorKind::Invalid, "{place:?}");
            assert_eq!(e.exit_code(), crate::exit::INVALID, "{place:?}");
            assert_eq!(e.message, message);
            assert_eq!(e.help.as_deref(), Some("give the path"));
            assert!(e.details.is_empty() && e.cause().is_none(), "{place:?}");
        }
    }
}
