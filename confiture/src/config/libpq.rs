//! libpq's defaults for what a URL, conninfo or environment file leaves out: the user
//! (`PGUSER`, else the operating-system user) and the password (`PGPASSWORD`, else the
//! matching line of the password file, `PGPASSFILE` or `~/.pgpass`, which a connection's own
//! `passfile` parameter replaces, as in libpq: `params::SpecBuilder::finish`), so that a URL means the
//! same session here as in psql, sqlx and confiture (Python, through psycopg). Nothing else
//! of libpq's environment is read (`PGHOST`, `PGPORT`, `PGDATABASE`, `PGSSLMODE`, ...): which
//! database a migration reaches is the selection's alone (README, "Connection defaults").

use std::path::{Path, PathBuf};

/// The variables read, in the order README's table gives them.
pub const READ_VARIABLES: [&str; 3] = ["PGUSER", "PGPASSWORD", "PGPASSFILE"];

/// What fills in a connection's missing user and password.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LibpqDefaults {
    /// `PGUSER`, else the operating-system user's name.
    pub(crate) user: Option<String>,
    /// `PGPASSWORD`.
    pub(crate) password: Option<String>,
    /// `PGPASSFILE`, else `~/.pgpass`.
    pub(crate) passfile: Option<PathBuf>,
    /// `~/.postgresql/root.crt`: the CA certificates `verify-ca` and `verify-full` trust when
    /// no `sslrootcert` is given, as libpq's (`PGSSLROOTCERT` is not read).
    pub(crate) root_cert: Option<PathBuf>,
}

/// The home directory, `HOME` (an empty one counts as unset, as in libpq): where libpq's
/// defaults live (`~/.pgpass`, `~/.postgresql/root.crt`), and the path a TLS file's help gives
/// for a `~` that nothing expanded.
pub(crate) fn home_directory(vars: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    vars("HOME").filter(|v| !v.is_empty()).map(PathBuf::from)
}

impl LibpqDefaults {
    /// The defaults `vars` gives (the process's environment, or a caller's stand-in for it):
    /// an empty variable counts as unset, as in libpq.
    pub(crate) fn from_vars(vars: &dyn Fn(&str) -> Option<String>) -> LibpqDefaults {
        let var = |name: &str| vars(name).filter(|v| !v.is_empty());
        LibpqDefaults {
            user: var("PGUSER").or_else(os_user_name),
            password: var("PGPASSWORD"),
            passfile: var("PGPASSFILE")
                .map(PathBuf::from)
                .or_else(|| home_directory(vars).map(|home| home.join(".pgpass"))),
            root_cert: home_directory(vars).map(|home| home.join(".postgresql/root.crt")),
        }
    }

    /// The password of the password file's first line matching `host`, `port`, `dbname` and
    /// `user`, as libpq reads it, with that line's number (from 1); `None` without a file, a
    /// matching line, or when the file is not a regular file or others than its owner may
    /// read it (libpq ignores it then too).
    pub(crate) fn passfile_password(
        &self,
        host: &str,
        port: u16,
        dbname: &str,
        user: &str,
    ) -> Option<(String, usize)> {
        let path = self.passfile.as_deref()?;
        if PassfileUnread::of(path).is_some() {
            return None;
        }
        let text = std::fs::read_to_string(path).ok()?;
        // A Unix socket directory is matched as `localhost`, as libpq does.
        let host = if host.starts_with('/') || host.is_empty() {
            "localhost"
        } else {
            host
        };
        password_in(&text, host, &port.to_string(), dbname, user)
    }
}

/// Why libpq does not read a password file that is there (and warns): the one reason the CLI's
/// warning and a password error's detail give, each with what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassfileUnread {
    /// Not a regular file: a directory, a FIFO, a device (libpq: "is not a plain file").
    NotAFile,
    /// Its group or others may read or write it (libpq: "has group or world access").
    OpenToOthers,
}

impl PassfileUnread {
    /// Why libpq would not read the file at `path`; `None` when there is none, or it may be read.
    pub fn of(path: &Path) -> Option<PassfileUnread> {
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_file() {
            return Some(PassfileUnread::NotAFile);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            (meta.permissions().mode() & 0o077 != 0).then_some(PassfileUnread::OpenToOthers)
        }
        #[cfg(not(unix))]
        {
            None
        }
    }

    /// The sentence saying why the password file `shown` (its path, as the caller shows it)
    /// is not read, as libpq's warning says it.
    pub fn sentence(self, shown: &str) -> String {
        match self {
            PassfileUnread::NotAFile => format!("password file {shown} is not a plain file"),
            PassfileUnread::OpenToOthers => format!(
                "password file {shown} has group or world access; permissions should be u=rw \
                 (0600) or less"
            ),
        }
    }

    /// What makes the file `quoted` (a path quoted for a shell) read: its permissions, or
    /// another file named by PGPASSFILE (or `passfile`).
    pub fn fix(self, quoted: &str) -> String {
        match self {
            PassfileUnread::NotAFile => format!(
                "point PGPASSFILE (or the connection's `passfile`) at a file, not at {quoted}"
            ),
            PassfileUnread::OpenToOthers => format!("`chmod 0600 {quoted}`"),
        }
    }
}

/// The password of the first line of a password file matching the four fields (`*` matches
/// anything; `\:` and `\\` are a colon and a backslash), with that line's number (from 1);
/// comments (`#`) and malformed lines are skipped.
fn password_in(
    text: &str,
    host: &str,
    port: &str,
    dbname: &str,
    user: &str,
) -> Option<(String, usize)> {
    let wanted = [host, port, dbname, user];
    text.lines().zip(1..).find_map(|(line, number)| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('#') {
            return None;
        }
        let fields = split_fields(line);
        if fields.len() < 5 {
            return None;
        }
        let matches = fields[..4]
            .iter()
            .zip(wanted)
            .all(|((field, starred), wanted)| *starred || field == wanted);
        // The password is the rest of the line, colons included.
        matches.then(|| {
            let password = fields[4..]
                .iter()
                .map(|(f, _)| f.as_str())
                .collect::<Vec<_>>()
                .join(":");
            (password, number)
        })
    })
}

/// A password-file line cut at its unescaped colons: each field unescaped, and whether it was
/// exactly an unescaped `*`.
fn split_fields(line: &str) -> Vec<(String, bool)> {
    let mut fields = Vec::new();
    let (mut field, mut raw) = (String::new(), String::new());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next().unwrap_or('\\');
                field.push(next);
                raw.push('\\');
                raw.push(next);
            }
            ':' => {
                let starred = raw == "*";
                fields.push((std::mem::take(&mut field), starred));
                raw.clear();
            }
            c => {
                field.push(c);
                raw.push(c);
            }
        }
    }
    let starred = raw == "*";
    fields.push((field, starred));
    fields
}

/// The operating-system user's name, as libpq takes it for the default user: the password
/// database's entry of the effective user (read from `/etc/passwd` by the owner of
/// `/proc/self`), else `USER`, `LOGNAME` or `USERNAME`. Looked up once per process: a fleet
/// parses a URL per target.
fn os_user_name() -> Option<String> {
    static NAME: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    NAME.get_or_init(look_up_os_user_name).clone()
}

fn look_up_os_user_name() -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(me), Ok(passwd)) = (
            std::fs::metadata("/proc/self"),
            std::fs::read_to_string("/etc/passwd"),
        ) {
            let uid = me.uid().to_string();
            let name = passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)? == uid && !name.is_empty()).then(|| name.to_string())
            });
            if name.is_some() {
                return name;
            }
        }
    }
    ["USER", "LOGNAME", "USERNAME"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_file_lines_match_as_in_libpq() {
        let text = "# comment\n\
                    db.internal:5432:app:app:first\n\
                    *:5433:*:app:any-host\n\
                    h\\:x:5432:app:app:esc\\:aped\n\
                    localhost:*:*:*:with:colons\n\
                    short:line\n";
        let find = |h, p, d, u| password_in(text, h, p, d, u);
        let found = |password: &str, line: usize| Some((password.to_string(), line));
        assert_eq!(find("db.internal", "5432", "app", "app"), found("first", 2));
        assert_eq!(find("other", "5433", "x", "app"), found("any-host", 3));
        assert_eq!(find("other", "5433", "x", "bob"), None);
        assert_eq!(find("h:x", "5432", "app", "app"), found("esc:aped", 4));
        assert_eq!(find("localhost", "1", "d", "u"), found("with:colons", 5));
        assert_eq!(find("db.internal", "5432", "app", "other"), None);
        // `\*` is a literal star, not a wildcard.
        assert_eq!(password_in("\\*:*:*:*:p\n", "h", "1", "d", "u"), None);
        assert_eq!(
            password_in("\\*:*:*:*:p\n", "*", "1", "d", "u"),
            found("p", 1)
        );
        // An empty password is the line's too.
        assert_eq!(password_in("h:1:d:u:\n", "h", "1", "d", "u"), found("", 1));
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        let vars = |name: &str| match name {
            "PGUSER" => Some("alice".to_string()),
            "PGPASSWORD" | "PGPASSFILE" => Some(String::new()),
            "HOME" => Some("/home/alice".to_string()),
            _ => None,
        };
        let defaults = LibpqDefaults::from_vars(&vars);
        assert_eq!(defaults.user.as_deref(), Some("alice"));
        assert_eq!(defaults.password, None);
        assert_eq!(
            defaults.passfile,
            Some(PathBuf::from("/home/alice/.pgpass"))
        );
    }
}
