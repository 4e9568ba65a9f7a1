//! Environment files: confiture's YAML format, read capped and checked key by key. The one
//! module that uses the YAML parser (`serde_yaml`), so that replacing it touches one file.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeSeed as _;
use serde_yaml::{Mapping, Value};

use super::connection::{
    connection_help, ConnectionSpec, CONNECTION_HELP, DEFAULT_APPLICATION_NAME,
};
use super::display_path;
use super::environment::{
    variable_in_url_help, ConnectionLines, Environment, MigrationSettings, Origin,
    PercentInCredentials, UrlVariable,
};
use super::expand::{expand, expand_naming, mark_empty_defaults, Emptied, ExpandError};
use super::libpq::LibpqDefaults;
use super::params::{
    application_name, is_libpq_parameter, is_supported_parameter, SpecBuilder, Spelling,
};
use super::resolve::Labels;
use super::suggest::closest;
use super::syntax::{parse_spec_with, parts_differing, parts_emptied};
use super::timeout::{Timeout, Zero};
use super::yaml11::{self, Yaml11};
use super::ConnectionPart;
use crate::error::{EnvironmentFileProblems, Error, Reason, Result, SettingProblem};
use crate::ledger::TrackingTable;

impl Environment {
    /// Reads an environment file. Its name is the file's stem (`staging` for `staging.yaml`);
    /// the origin is [`Origin::File`] unless [`super::resolve`] says otherwise. `vars` looks up
    /// the variables used by `${VAR}`.
    pub fn from_file(path: &Path, vars: &dyn Fn(&str) -> Option<String>) -> Result<Environment> {
        Environment::read_file(path, vars, &|_| None, &Labels::LIBRARY)
    }

    /// [`Environment::from_file`], with help lines naming the selections as `labels` says.
    /// `named`: where a variable's value came from when not the process's environment
    /// (`DATABASE_URL in .env, line 1`), as the file's errors name it
    /// ([`FileContext::vars_shown`]).
    pub(super) fn read_file(
        path: &Path,
        vars: &dyn Fn(&str) -> Option<String>,
        named: &dyn Fn(&str) -> Option<String>,
        labels: &Labels<'_>,
    ) -> Result<Environment> {
        let (text, stream) = read_text(path, labels)?;
        let base = relative_base(path, stream);
        let shown = display_path(path);
        let read = (&shown[..], vars, named);
        parse_environment(&text, path, base, read, labels.url)
    }

    /// The `migration:` settings of an environment file, read as [`Environment::read_file`]
    /// reads them, the rest of the file left unread: its connection (whose variables, a
    /// password, need not be set) and its other blocks. For what reads no database: `lint`'s
    /// tracking table.
    pub(super) fn read_migration_settings(
        path: &Path,
        vars: &dyn Fn(&str) -> Option<String>,
        labels: &Labels<'_>,
    ) -> Result<MigrationSettings> {
        let (text, _) = read_text(path, labels)?;
        let shown = display_path(path);
        let parsed = yaml_text(&text);
        let text = yaml_lines(&parsed);
        let text = &*text;
        let file = FileContext {
            shown: &shown,
            path,
            vars,
            named: &|_| None,
            text,
            parsed: &parsed,
            keys: KeyLines::new(text),
            problems: RefCell::default(),
        };
        let read = parse_top(&file).map(|top| migration_settings(&file, &top));
        let mut problems = file.problems.take();
        match read {
            Ok(settings) if problems.is_empty() => Ok(settings),
            Ok(_) => Err(file.all_problems(problems)),
            Err(error) => {
                problems.push(error);
                Err(file.all_problems(problems))
            }
        }
    }
}

/// The reason of an error about `path`'s key `key` (or, `None`, the whole file), at `line`.
fn problem(path: &Path, key: Option<&str>, line: Option<usize>, message: String) -> Reason {
    Reason::EnvironmentFile(Box::new(EnvironmentFileProblems {
        file: path.to_path_buf(),
        problems: vec![SettingProblem {
            key: key.map(str::to_string),
            line: line.and_then(|line| u32::try_from(line).ok()),
            message,
            details: Vec::new(),
            help: None,
        }],
    }))
}

/// **The** rule of an error of the environment file `path` as a whole (not YAML, not read,
/// too large, ...), at `line` when it has one: its reason names the file and holds the one
/// problem (its message, details and help), as a setting's refusal does, so that the JSON
/// error object's `file`, `line` and `settings` say what its text says. An error that already
/// has a reason keeps it.
fn of_file(path: &Path, line: Option<usize>, error: Error) -> Error {
    if !matches!(error.reason(), Reason::Other) {
        return error;
    }
    let mut reason = problem(path, None, line, error.message_with_cause());
    if let Reason::EnvironmentFile(found) = &mut reason {
        found.problems[0].details = error.details.clone();
        found.problems[0].help = error.help.clone();
    }
    error.with_reason(reason)
}

/// An environment file's text, read capped (a pipe on a helper thread), and whether it is a
/// stream (a pipe or a device: relative paths in it start from the current directory).
fn read_text(path: &Path, labels: &Labels<'_>) -> Result<(String, bool)> {
    read_text_within(path, labels, STREAM_WAIT)
}

/// [`read_text`], a pipe given `wait` to reach its end.
fn read_text_within(path: &Path, labels: &Labels<'_>, wait: Duration) -> Result<(String, bool)> {
    let shown = display_path(path);
    let Labels { env, file, .. } = labels;
    // A socket or a block device is no file of settings. A FIFO (`-c <(sops -d f.yaml)`)
    // or a character device (`-c /dev/stdin`) is read, but on a helper thread: opening and
    // reading one block until something writes to it, maybe never. Checked before
    // opening, the link followed.
    let mut stream = false;
    if let Ok(meta) = std::fs::metadata(path) {
        let kind = meta.file_type();
        stream = is_stream(&kind);
        if !meta.is_file() && !meta.is_dir() && !stream {
            return Err(of_file(
                path,
                None,
                Error::invalid(format!(
                    "environment file {shown} is not a regular file (a socket or a block \
                     device): it was not read"
                ))
                .with_help(format!(
                "an environment is a .yaml file (or a pipe{}): give the path of one to {file}, \
                 or another environment name to {env}",
                labels
                    .piped_file()
                    .map_or_else(String::new, |pipe| format!(", {pipe}"))
            )),
            ));
        }
    }
    let read = match read_user_file(path, MAX_FILE_BYTES, wait) {
        Err(ReadError::TimedOut) => {
            return Err(of_file(
                path,
                None,
                Error::invalid(format!(
                    "environment file {shown} is a pipe or a device, and it did not reach its \
                     end within {} s of waiting: it was not read",
                    wait.as_secs()
                ))
                .with_help(format!(
                    "check that {} runs and ends, or give the path of a .yaml file to {file}, or \
                 another environment name to {env}",
                    labels.piped_file().map_or_else(
                        || "what writes to it".to_string(),
                        |pipe| format!("the command writing to it ({pipe})")
                    )
                )),
            ))
        }
        Err(ReadError::Interrupted) => {
            return Err(read_interrupted(&format!("environment file {shown}")))
        }
        Err(ReadError::Io(e)) => Err(e),
        Ok(bytes) => Ok(bytes),
    };
    let bytes = read.map_err(|e| {
        // `-c $DATABASE_URL`: a connection string, never shown (it may hold a password).
        // A file of that name that exists is read as any other.
        if super::names_a_connection(&path.to_string_lossy()) {
            super::connection_given_as(
                super::InPlaceOf::Path {
                    what: "environment file",
                    given_to: Some(file),
                },
                format!(
                    "give a database URL with {}, or the path of a .yaml file to {file}",
                    labels.url
                ),
            )
        } else if e.kind() == std::io::ErrorKind::NotFound {
            let error = Error::invalid(format!("environment file {shown} does not exist"));
            of_file(
                path,
                None,
                error.with_help(format!(
                    "check the path given to {file}, or use {}",
                    labels.env_by_name()
                )),
            )
        } else if path.is_dir() {
            of_file(
                path,
                None,
                Error::invalid(format!(
                    "environment file {shown} is a directory, not a file"
                ))
                .with_help(directory_help(path, labels)),
            )
        } else {
            let help = if e.kind() == std::io::ErrorKind::PermissionDenied {
                "let the user running this command read it (and enter its directories)"
            } else {
                "check that it is a readable .yaml file (a symbolic link must point to one)"
            };
            let error = Error::invalid(format!("cannot read environment file {shown}"));
            of_file(path, None, error.with_source(e).with_help(help))
        }
    })?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let error = Error::invalid(format!(
            "environment file {shown} is larger than {} KiB: it was not read",
            MAX_FILE_BYTES / 1024
        ));
        return Err(of_file(
            path,
            None,
            error.with_help(few_settings_help(&shown, "")),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = crate::text::line_of(e.as_bytes(), at);
        let error = Error::invalid(format!(
            "environment file {shown} is not valid UTF-8 (line {line})"
        ));
        of_file(
            path,
            Some(line as usize),
            error.with_help("save it as UTF-8 text"),
        )
    })?;
    Ok((text, stream))
}

impl Environment {
    /// Reads an environment file's text, as [`Environment::from_file`] does but without
    /// reading a file: `path` names the file in messages and in [`Environment::file`].
    pub fn parse(
        text: &str,
        path: &Path,
        vars: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Environment> {
        let base = relative_base(path, false);
        let shown = crate::display::path_text(path).to_string();
        parse_environment(
            text,
            path,
            base,
            (&shown, vars, &|_| None),
            Labels::LIBRARY.url,
        )
    }
}

/// The help for a directory given as an environment file: the environment files it holds
/// (`-c db/environments`: one of them was meant, never "replace the directory"), or, for a
/// directory that holds none, a file to put in its place.
fn directory_help(path: &Path, labels: &Labels<'_>) -> String {
    let Labels { env, file, .. } = labels;
    let names = super::list_environments(path);
    if names.is_empty() {
        return format!(
            "an environment is a .yaml file: replace the directory with one, or give the path \
             of a .yaml file to {file}, or another environment name to {env}"
        );
    }
    const SHOWN: usize = 5;
    let mut files: Vec<String> = names
        .iter()
        .take(SHOWN)
        .map(|name| display_path(&path.join(format!("{name}.yaml"))))
        .collect();
    if names.len() > SHOWN {
        files.push(format!("and {} more", names.len() - SHOWN));
    }
    format!(
        "it holds environment files: give the path of one to {file} ({}), or an environment \
         name to {env}",
        files.join(", ")
    )
}

const MIGRATION_KEYS: &[&str] = &[
    "tracking_table",
    "lock_timeout",
    "statement_timeout",
    "connect_timeout",
    "wait_for_server",
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
    "sslcert",
    "sslkey",
];
/// Other names of the legacy block's keys (libpq's `dbname`, the `username` of many drivers):
/// the key we read in their place.
const DATABASE_ALIASES: &[(&str, &str)] = &[
    ("dbname", "database"),
    ("db", "database"),
    ("name", "database"),
    ("username", "user"),
    ("hostname", "host"),
    ("hostaddr", "host"),
    ("passwd", "password"),
    ("pass", "password"),
];
const TOP_LEVEL_KEYS: &[&str] = &[
    "database_url",
    "database",
    "migration",
    "application_name",
    "fleet",
];
/// Top-level keys of confiture's (Python) other features: accepted and ignored, one file serves
/// both tools — except `ssh_tunnel`, which changes the server confiture reaches and is refused
/// unless null (`FileContext::refuse_ssh_tunnel`). Any other unknown key is ignored too, unless
/// it is a misspelling of ours.
const PYTHON_KEYS: &[&str] = &[
    "name",
    "include_dirs",
    "exclude_dirs",
    "build",
    "seed",
    "ssh_tunnel",
];

/// How confiture (Python) takes the value of a key it reads too, from PyYAML's reading of the
/// file (YAML 1.1).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ConfitureReads {
    /// Python's `str()` of the value, whatever YAML made of it (`make_conninfo`): the
    /// connection's URL and the legacy block's parameters.
    Text,
    /// The value when it is a string, else a default of its own (`tb_confiture`).
    StringOnly,
}

/// The keys of this file that confiture (Python) reads too, and how: the one list of the
/// values that must mean to us what they mean to it (the same text under YAML 1.1; no `$$`).
fn confiture_reads(key: &str) -> Option<ConfitureReads> {
    match key {
        "database_url" | "database.host" | "database.port" | "database.database"
        | "database.user" | "database.password" => Some(ConfitureReads::Text),
        "migration.tracking_table" => Some(ConfitureReads::StringOnly),
        _ => None,
    }
}

/// Whether an empty value of `key` (its dotted path) is one: the legacy block's password
/// (unset, to both tools) and the `application_name` (none). Every other key refuses it — the
/// legacy block's connection keys and `database_url` (libpq's defaults, not confiture's),
/// the timeouts, names and queries (no such value) — or takes a value left out as its default.
fn takes_empty(key: &str) -> bool {
    matches!(key, "database.password" | "application_name")
}

/// Where a variable set to the empty string without a default is refused in `key`'s value
/// ([`expand`]): anywhere, unless an empty value of the key is one ([`takes_empty`]). A part
/// left out of a URL or conninfo is libpq's default in its place (`localhost`, the system
/// user, the database named as the user), of a target's name or a query another list, of a path
/// another file: never "nothing".
fn emptied_refused(key: &str) -> Emptied {
    if takes_empty(key) {
        Emptied::WholeValue
    } else {
        Emptied::AnyPart
    }
}

/// [`FileContext::emptied_parts`], with the variables `vars`: the one rule, of environment
/// files and of `.env` (`dotenv`) alike.
pub(super) fn emptied_parts(
    vars: &dyn Fn(&str) -> Option<String>,
    written: &str,
    expanded: &str,
) -> Option<(String, String)> {
    const MARK: &str = "1";
    let (marked, vars) = mark_empty_defaults(written, vars, MARK)?;
    let parts = parts_emptied(expanded, &marked);
    if parts.is_empty() {
        return None;
    }
    let nouns: Vec<&str> = parts.iter().map(|p| p.noun()).collect();
    let defaults: Vec<&str> = parts
        .iter()
        .map(|part| match part {
            ConnectionPart::Database => "a database named as the user",
            ConnectionPart::Host => "localhost",
            ConnectionPart::Port => "port 5432",
            ConnectionPart::User => "PGUSER or the system user",
            ConnectionPart::Password => "PGPASSWORD or the password file",
        })
        .collect();
    let shown: Vec<String> = vars.iter().map(|v| format!("${{{v}:-}}")).collect();
    let what = format!(
        "has an empty {}: {} expanded to nothing, which leaves libpq's default in its place \
         ({}), not the one written",
        nouns.join(", "),
        shown.join(" and "),
        defaults.join(", ")
    );
    let help = format!(
        "set {} (in CI: define the secret for this environment), or give a default \
         (`${{{}:-value}}`); to take libpq's default, write the URL without that part",
        vars.join(" and "),
        vars[0]
    );
    Some((what, help))
}

/// What is wrong with `key`'s value, whose expansion failed with `problem`, and the help:
/// the one wording of every value `${VAR}` is expanded in, environment files' and `.env`'s
/// (`dotenv`). `literal` says how a literal `$` is written where the value is.
pub(super) fn expand_problem(problem: ExpandError, key: &str, literal: &str) -> (String, String) {
    match problem {
        ExpandError::Unset(var) => (
            format!("uses ${{{var}}}, which is not set"),
            format!("set {var} in the environment, or give a default: ${{{var}:-value}}"),
        ),
        ExpandError::NotUtf8(var) => (
            format!("uses ${{{var}}}, whose value is not valid UTF-8"),
            format!("set {var} to UTF-8 text"),
        ),
        ExpandError::Empty(vars) => (
            format!("is empty: {}", set_empty(&vars)),
            empty_variable_help(key, &vars),
        ),
        ExpandError::EmptyPart(vars) => (
            format!("has a part left out: {}", set_empty(&vars)),
            empty_part_help(key, &vars),
        ),
        ExpandError::Malformed(reason) => (
            reason,
            format!("write ${{VAR}} or ${{VAR:-default}}; {literal}"),
        ),
    }
}

/// The help for a part of `key`'s value left out by `vars` (each set to the empty string,
/// without a default; [`emptied_refused`]).
fn empty_part_help(key: &str, vars: &[String]) -> String {
    let first = vars.first().map_or("VAR", String::as_str);
    let what = if key == "database_url" {
        "a part of a URL or conninfo left out is libpq's default in its place (`localhost`, the \
         system user, the database named as the user), another database; a whole host, port, \
         user or database name cannot be empty"
    } else {
        "a part left out changes what the value names"
    };
    format!(
        "set {} (in CI: define the secret for this environment), give a default \
         (`${{{first}:-value}}`), or write `${{{first}:-}}` where that part is meant to be empty: \
         {what}",
        vars.join(" and ")
    )
}

/// Whether `key` (its dotted path) may be left out: it has a default. Not `database_url` (the
/// file's database) nor the fleet's list of targets.
fn may_be_left_out(key: &str) -> bool {
    key.starts_with("database.")
        || key.starts_with("migration.")
        || matches!(key, "application_name" | "fleet.jobs" | "fleet.keep_going")
}

/// What a value left empty (or with a part left out) by `vars` says of them: `${A} is set to
/// an empty string`, `${A} and ${B} are set to empty strings`.
fn set_empty(vars: &[String]) -> String {
    let shown: Vec<String> = vars.iter().map(|v| format!("${{{v}}}")).collect();
    let (is, strings) = match vars.len() {
        1 => ("is", "an empty string"),
        _ => ("are", "empty strings"),
    };
    format!("{} {is} set to {strings}", shown.join(" and "))
}

/// The help for `key`'s value left empty by `vars` (each set to the empty string, without a
/// default): what the key takes instead. `${VAR:-}` only where an empty value is one
/// ([`takes_empty`]); elsewhere a default, or the key left out where it may be.
fn empty_variable_help(key: &str, vars: &[String]) -> String {
    let set = format!(
        "set {} (in CI: define the secret for this environment)",
        vars.join(" and ")
    );
    let first = vars.first().map_or("VAR", String::as_str);
    if takes_empty(key) {
        format!("{set}, or write ${{{first}:-}} where an empty value is meant")
    } else if may_be_left_out(key) {
        format!(
            "{set}, give a default (`${{{first}:-value}}`), or remove the key to take its \
             default: `{key}` cannot be empty"
        )
    } else {
        format!("{set}, or give a default (`${{{first}:-value}}`): `{key}` cannot be empty")
    }
}

/// The text of `database_url` as written, when it is a string.
fn url_text(top: &Mapping) -> String {
    match get(top, "database_url") {
        Some(Value::String(text)) => text.clone(),
        _ => String::new(),
    }
}

/// Whether `text` is one `${VAR}` or `${VAR:-default}` and nothing else: the variable gives
/// the whole value.
fn is_one_variable(text: &str) -> bool {
    let text = text.trim();
    text.starts_with("${") && text.ends_with('}') && text.matches("${").count() == 1
}

/// How to write a dollar sign in a value confiture (Python) reads too, where `$$` is refused.
const DOUBLE_DOLLAR_HELP: &str = "write a single `$` for a dollar sign (a `$` not followed by \
     `{` is itself to both tools); for two, or for a literal `${`, give the value in \
     `database_url` percent-encoded (`%24` is `$`, `%7B` is `{`), which both tools decode";

/// The most an environment file may be: a few settings take a few hundred bytes. Reading
/// stops there, so a multi-gigabyte file is refused instead of filling the memory.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The most `[` and `{` an environment file may hold: an upper bound of how deep flow
/// collections nest, checked before parsing (the YAML parser is quadratic in that nesting).
pub const MAX_FLOW_OPENERS: usize = 1_000;

/// How long a pipe or a device given as an environment file may take to reach its end: long
/// enough for `sops -d` to ask a key service, short enough that a FIFO nobody writes to is
/// reported instead of waited on forever.
pub const STREAM_WAIT: Duration = Duration::from_secs(30);

/// Whether a file of this type is read as a stream, on a helper thread: a FIFO or a
/// character device (`/dev/stdin`, a terminal).
#[cfg(unix)]
pub(super) fn is_stream(kind: &std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    kind.is_fifo() || kind.is_char_device()
}

#[cfg(not(unix))]
pub(super) fn is_stream(_: &std::fs::FileType) -> bool {
    false
}

#[derive(Debug)]
pub(crate) enum ReadError {
    Io(std::io::Error),
    /// Nothing reached the end of the stream within the wait.
    TimedOut,
    /// The flag given to [`stop_reading_when`] was set (Ctrl-C) while the stream was waited on.
    Interrupted,
}

/// The flag that ends the wait on a pipe or a device at once ([`read_user_file`]), set by
/// whoever owns the process's signals (the CLI's Ctrl-C flag, the one it gives
/// `Migrator::stop_when`). A library installs no signal handler; it only watches a flag.
static STOP_READING: std::sync::Mutex<Option<Arc<AtomicBool>>> = std::sync::Mutex::new(None);

/// How often a wait on a stream looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Makes every later wait on a pipe or a device given as an environment file, a `.env` file
/// or a fleet's target list end at once, as interrupted ([`crate::ErrorKind::Interrupted`],
/// exit 130), when `flag` is set: a hung secret manager's pipe is not waited on for
/// [`STREAM_WAIT`] after Ctrl-C. Replaces the flag given before.
pub fn stop_reading_when(flag: Arc<AtomicBool>) {
    *STOP_READING.lock().unwrap_or_else(|p| p.into_inner()) = Some(flag);
}

/// The flag given to [`stop_reading_when`]: what also ends a wait, before the run has its
/// database or its fleet, on the connection that lists the fleet's targets.
#[cfg(feature = "db")]
pub(crate) fn stop_flag() -> Option<Arc<AtomicBool>> {
    STOP_READING
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// Whether the flag of [`stop_reading_when`] is set.
fn stop_requested() -> bool {
    STOP_READING
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .is_some_and(|flag| flag.load(Ordering::SeqCst))
}

/// The error of a read of `what` (`environment file x.yaml`, `target list t.txt`) that
/// [`ReadError::Interrupted`] ended: kind `interrupted`, nothing was read nor done.
pub(crate) fn read_interrupted(what: &str) -> Error {
    Error::new(
        crate::ErrorKind::Interrupted,
        format!(
            "interrupted while waiting for {what} (a pipe or a device) to reach its end: it \
             was not read, and nothing was done"
        ),
    )
}

/// A file the user named that may be a pipe (an environment file, a fleet's target list), at
/// most `limit + 1` bytes (enough to tell that it is too large): a FIFO or a character device
/// (`<(sops -d f.yaml)`, `/dev/stdin`) is read on a helper thread and given up after `wait`
/// ([`STREAM_WAIT`]), since opening and reading one block until something writes to it, maybe
/// never; anything else is read directly (its errors are the caller's to word).
pub(crate) fn read_user_file(
    path: &Path,
    limit: u64,
    wait: Duration,
) -> Result<Vec<u8>, ReadError> {
    let stream = std::fs::metadata(path).is_ok_and(|meta| is_stream(&meta.file_type()));
    if stream {
        read_stream(path, limit, wait)
    } else {
        read_capped(path, limit).map_err(ReadError::Io)
    }
}

/// Where the relative paths written in the file at `path` start: its directory, or the
/// current directory (empty) for a pipe or a device (`/dev/fd/63` has no directory of its
/// own); `stream`: it is one ([`is_stream`]). The one rule for an environment file and a
/// target list.
pub(crate) fn relative_base(path: &Path, stream: bool) -> &Path {
    if stream {
        Path::new("")
    } else {
        path.parent().unwrap_or(Path::new(""))
    }
}

/// [`relative_base`] of the file at `path`, about to be read by [`read_user_file`] (which
/// tells a pipe or a device the same way).
#[cfg(feature = "db")]
pub(crate) fn relative_base_of(path: &Path) -> &Path {
    let stream = std::fs::metadata(path).is_ok_and(|meta| is_stream(&meta.file_type()));
    relative_base(path, stream)
}

/// [`read_capped`] on a helper thread, given up after `wait`, or at once when the flag of
/// [`stop_reading_when`] is set: a FIFO blocks opening until a writer opens it, and reading
/// until the writer closes it. A thread given up on stays blocked until then (or until the
/// process ends); it holds nothing else.
fn read_stream(path: &Path, limit: u64, wait: Duration) -> Result<Vec<u8>, ReadError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let owned = path.to_path_buf();
    std::thread::Builder::new()
        .name("environment-file".into())
        .spawn(move || {
            // The receiver is gone when the wait is over: nothing to tell then.
            let _ = sender.send(read_capped(&owned, limit));
        })
        .map_err(ReadError::Io)?;
    let deadline = Instant::now() + wait;
    loop {
        if stop_requested() {
            return Err(ReadError::Interrupted);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left.min(STOP_POLL)) {
            Ok(read) => return read.map_err(ReadError::Io),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => {}
            Err(_) => return Err(ReadError::TimedOut),
        }
    }
}

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

/// How many aliases (`*name`: a `*` at the start of a node, after a space, a line's start,
/// `[`, `{`, `,` or `-`, and followed by a name) `text` holds, when it holds any and is one
/// document: what a parser error without a position is then — the only such error of one
/// document with aliases is their expansion past the parser's limit. `None` otherwise (no
/// alias, or a second document, `---`, whose error has no position either).
fn expanded_aliases(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let aliases = (0..bytes.len())
        .filter(|&i| {
            bytes[i] == b'*'
                && (i == 0
                    || matches!(
                        bytes[i - 1],
                        b' ' | b'\t' | b'\n' | b'[' | b'{' | b',' | b'-'
                    ))
                && bytes.get(i + 1).is_some_and(|b| {
                    !b.is_ascii_whitespace() && !matches!(b, b',' | b'[' | b']' | b'{' | b'}')
                })
        })
        .count();
    (aliases > 0 && second_document(text).is_none()).then_some(aliases)
}

/// Where a second YAML document starts in `text`: its 1-based line and what begins it (`---`,
/// or its first line after the `...` that ended the first one). A line starting with `---` or
/// `...` followed by a space, a tab or its end is a document marker wherever it is (YAML
/// forbids both at column 0 inside a scalar); a `---` before anything else only opens the
/// first document; comments, blank lines and `%` directives belong to no document.
fn second_document(text: &str) -> Option<(usize, SecondDocument)> {
    let marker = |line: &str, marker: &str| {
        line.strip_prefix(marker)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    };
    let (mut open, mut ended) = (false, false);
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if marker(line, "---") {
            if open || ended {
                return Some((i + 1, SecondDocument::Marker));
            }
            open = true;
        } else if marker(line, "...") {
            ended |= open;
            open = false;
        } else {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') || (!open && line.starts_with('%')) {
                continue;
            }
            if ended {
                return Some((i + 1, SecondDocument::AfterEnd));
            }
            open = true;
        }
    }
    None
}

/// What starts a second YAML document ([`second_document`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecondDocument {
    /// A `---` line.
    Marker,
    /// A line after the `...` that ended the first document.
    AfterEnd,
}

/// The parser's refusal of a second document, which has no position: `text`'s first document
/// reads (the parser reads it before it looks for another; its own error comes first) and a
/// second one follows, as the parser counts them.
fn more_than_one_document(text: &str, shown: &str) -> Option<(Option<usize>, Error)> {
    use serde::Deserialize as _;
    let mut documents = serde_yaml::Deserializer::from_str(text);
    let first = documents.next()?;
    MergesJoined::deserialize(first).ok()?;
    documents.next()?;
    let help = "keep one document: an environment file holds one environment; delete the \
                second document, or move it to an environment file of its own in the same \
                directory (chosen with --env NAME)";
    let Some((line, starts)) = second_document(text) else {
        return Some((
            None,
            Error::invalid(format!(
                "environment file {shown} holds more than one YAML document"
            ))
            .with_help(help),
        ));
    };
    let what = match starts {
        SecondDocument::Marker => "a second YAML document starts here (`---`)",
        SecondDocument::AfterEnd => {
            "a second YAML document starts here (after the `...` that ends the first)"
        }
    };
    Some((
        Some(line),
        Error::invalid(format!(
            "environment file {shown}, line {line}: {what}, and an environment file holds one"
        ))
        .with_help(help),
    ))
}

/// The YAML an environment file's text holds, as the parser reads it: without a byte-order
/// mark (editors on Windows write one; it is not YAML: the parser took the file for two
/// documents once it had a second line), and with LF line breaks where that is the same YAML.
/// YAML 1.1 — the parser's, and PyYAML's — ends a line at a LF, a CRLF, a lone CR and a NEL
/// (U+0085), each read as a LF inside a scalar: the text with LF there is the same YAML. It
/// ends a line at a LS (U+2028) and a PS (U+2029) too, but keeps them inside a scalar, so
/// they stay: [`yaml_lines`] is the text every line is counted in.
fn yaml_text(text: &str) -> std::borrow::Cow<'_, str> {
    let text = text.get(crate::text::bom_len(text)..).unwrap_or(text);
    if text.contains(['\r', '\u{85}']) {
        crate::text::with_lf_line_breaks(text)
            .replace('\u{85}', "\n")
            .into()
    } else {
        text.into()
    }
}

/// [`yaml_text`] with a LF for each LS and PS as well: every line break the parser counts a
/// LF, so that every line found by indentation or quoted from it ([`KeyLines`], `str::lines`)
/// is the line the parser names (a lone-CR file was line 1 throughout, a LS made two of the
/// parser's lines one of ours). The text of every reader but the parser of the values.
fn yaml_lines(yaml: &str) -> std::borrow::Cow<'_, str> {
    if yaml.contains(['\u{2028}', '\u{2029}']) {
        yaml.replace(['\u{2028}', '\u{2029}'], "\n").into()
    } else {
        yaml.into()
    }
}

/// Reads an environment file's text. Pure: `path` is kept in the environment, `shown` names
/// the file in messages.
/// `shown`, `vars`, `named`: [`Reading`].
/// `base`: where a relative path in the file (`fleet.targets`, `sslrootcert`, `sslcert`,
/// `sslkey`) starts from — the file's directory, or the current directory for a file read
/// from a pipe (`/dev/fd/63` has none). `url_label` names the selection by URL in help.
fn parse_environment(
    text: &str,
    path: &Path,
    base: &Path,
    (shown, vars, named): Reading<'_>,
    url_label: &str,
) -> Result<Environment> {
    let parsed = yaml_text(text);
    let text = yaml_lines(&parsed);
    let text = &*text;
    let file = FileContext {
        shown,
        path,
        vars,
        named,
        text,
        parsed: &parsed,
        keys: KeyLines::new(text),
        problems: RefCell::default(),
    };
    let read = read_environment(&file, path, base, url_label);
    let mut problems = file.problems.take();
    match read {
        Ok(environment) if problems.is_empty() => Ok(environment),
        Ok(_) => Err(file.all_problems(problems)),
        Err(error) => {
            problems.push(error);
            Err(file.all_problems(problems))
        }
    }
}

/// [`parse_environment`]'s reading: an error that leaves nothing more to check (the file is
/// not YAML) is returned, the others are kept in `file` ([`FileContext::found`]) while the
/// other keys are read.
fn read_environment(
    file: &FileContext<'_>,
    path: &Path,
    base: &Path,
    url_label: &str,
) -> Result<Environment> {
    let top = parse_top(file)?;
    let misspelled_database = file.refuse_misspelled_keys(&top);
    // Before the connection is read: its `${TUNNEL_LOCAL_PORT}` is the tunnel's (not read
    // when the tunnel is refused: its variables are not the problem). A misspelled
    // `database_url` is the one problem of the database's: "names no database" would repeat it.
    let tunnel = file.kept(file.refuse_ssh_tunnel(&top, url_label));
    let connection = tunnel
        .filter(|()| !misspelled_database)
        .and_then(|()| file.kept(file.connection(&top)));
    let connection_variables = connection
        .as_ref()
        .and_then(|_| file.connection_variables(&top));
    let percent_in_credentials = match connection {
        Some(_) => file.percent_in_credentials(&top),
        None => Vec::new(),
    };
    let connection_lines = connection_lines(file, get(&top, "database_url").is_some());

    let mut migration = migration_settings(file, &top);

    let application_name = match get(&top, "application_name") {
        None | Some(Value::Null) => Some(DEFAULT_APPLICATION_NAME.to_string()),
        Some(value) => file.kept(file.string(value, "application_name").and_then(|text| {
            application_name(text).map_err(|reason| {
                file.key_error("application_name", &format!("is invalid: {reason}"))
                    .with_help("write the name without a NUL character")
            })
        })),
    };

    let fleet = match get(&top, "fleet") {
        Some(value) => file.kept(file.fleet_block(value, base)),
        None => Some(None),
    };
    // Every key was read: the problems found are the error.
    let (Some(mut connection), Some(mut application_name), Some(fleet)) =
        (connection, application_name, fleet)
    else {
        return Err(file
            .problems
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| file.error("could not be read")));
    };
    if !file.problems.borrow().is_empty() {
        return Err(file
            .problems
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| file.error("could not be read")));
    }
    // Relative certificate and key paths start where `fleet.targets` does, at `base`.
    connection.files_relative_to(base);
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
        origin: Origin::File,
        connection,
        migration,
        application_name,
        fleet,
        connection_variables,
        percent_in_credentials,
        connection_lines,
        listed: super::environment::Listed::Nothing,
        settings_from: None,
        server_wait_watch: None,
        built_by: super::environment::BuiltBy::Library,
        dotenv_url: None,
        wait_given: false,
    })
}

/// The file's top-level mapping, parsed; a file with more flow collections than the parser
/// reads in reasonable time is refused unparsed.
fn parse_top(file: &FileContext<'_>) -> Result<Mapping> {
    let (shown, text) = (file.shown, file.text);
    let openers = flow_openers(text);
    if openers > MAX_FLOW_OPENERS {
        return Err(file
            .error(&format!(
                "holds {openers} `[` or `{{`, more than the {MAX_FLOW_OPENERS} an environment \
                 file may hold (flow collections nested that deep take the YAML parser minutes); \
                 it was not parsed"
            ))
            .with_help(few_settings_help(
                shown,
                "write long lists one `- item` per line",
            )));
    }
    top_mapping(file, text)
}

/// The `migration:` block of `top`, with defaults; its problems kept in `file`.
fn migration_settings(file: &FileContext<'_>, top: &Mapping) -> MigrationSettings {
    let mut migration = MigrationSettings::default();
    match get(top, "migration") {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(block)) => file.migration_block(block, &mut migration),
        Some(_) => file.found(
            file.key_error("migration", "must be a mapping of settings")
                .with_help(
                    "indent its settings under it, e.g. `migration:` then `  lock_timeout: 5s`",
                ),
        ),
    }
    migration
}

/// Where `text` writes each part of its connection: every part on the `database_url` line
/// (`by_url`), or each on its key of the legacy `database:` block.
fn connection_lines(file: &FileContext<'_>, by_url: bool) -> ConnectionLines {
    use super::environment::ConnectionPart as Part;
    let mut lines = ConnectionLines::default();
    if by_url {
        if let Some(line) = file.key_line(&["database_url"]) {
            for part in [
                Part::Database,
                Part::Host,
                Part::Port,
                Part::User,
                Part::Password,
            ] {
                lines.add(part, line, "database_url");
            }
        }
        return lines;
    }
    let keys = [
        (Part::Database, "database", "database.database"),
        (Part::Host, "host", "database.host"),
        (Part::Port, "port", "database.port"),
        (Part::User, "user", "database.user"),
        (Part::Password, "password", "database.password"),
    ];
    for (part, key, shown) in keys {
        if let Some(line) = file.key_line(&["database", key]) {
            lines.add(part, line, shown);
        }
    }
    lines
}

/// The document's top-level mapping, or why there is none.
fn top_mapping(file: &FileContext<'_>, text: &str) -> Result<Mapping> {
    if let Some((line, error)) = forbidden_character(text, file.shown) {
        return Err(file.of_file(Some(line), error));
    }
    let too_deep = Cell::new(false);
    let seed = Nested {
        depth: 0,
        too_deep: &too_deep,
    };
    let MergesJoined(mut document) = seed
        .deserialize(serde_yaml::Deserializer::from_str(file.parsed))
        .map_err(|e| match e.location() {
            Some(at) if too_deep.get() => {
                file.of_file(Some(at.line()), nests_too_deep(text, file, at.line()))
            }
            _ => {
                let (line, error) = malformed_yaml(text, file.shown, &e);
                file.of_file(line, error)
            }
        })?;
    apply_merges(file, &mut document, &mut Vec::new())?;
    match document {
        Value::Mapping(top) => Ok(top),
        Value::Null => Err(file.error("is empty").with_help(
            "add `database_url: postgresql://user@host:5432/dbname` to name the database",
        )),
        _ => Err(file.error("is not a mapping of keys to values").with_help(
            "write one `key: value` per line, starting with \
                 `database_url: postgresql://user@host:5432/dbname`",
        )),
    }
}

/// A document as [`Value`] reads it, except that a mapping may hold several merge keys, as
/// PyYAML allows: `<<: *a` then `<<: *b` is read as `<<: [*b, *a]` (PyYAML's
/// `flatten_mapping`: a later merge wins over an earlier one, the first mapping of a list over
/// the next), for [`apply_merges`]. Any other key written twice is refused, as [`Value`] does.
struct MergesJoined(Value);

impl<'de> serde::Deserialize<'de> for MergesJoined {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let too_deep = Cell::new(false);
        Nested {
            depth: 0,
            too_deep: &too_deep,
        }
        .deserialize(deserializer)
    }
}

/// How deep mappings and lists may nest in an environment file, below the YAML parser's own
/// limit (128), whose error says only "recursion limit exceeded": a file of settings nests a
/// few levels; one nested deeper is refused by [`nests_too_deep`], at its line.
pub const MAX_NESTING: usize = 100;

/// A [`MergesJoined`] at `depth` mappings and lists deep, which sets `too_deep` and fails
/// where the nesting passes [`MAX_NESTING`].
#[derive(Clone, Copy)]
struct Nested<'a> {
    depth: usize,
    too_deep: &'a Cell<bool>,
}

impl Nested<'_> {
    /// The seed of a value inside this one's mapping or list, or the error of one too deep.
    fn inner<E: serde::de::Error>(self) -> std::result::Result<Self, E> {
        if self.depth >= MAX_NESTING {
            self.too_deep.set(true);
            return Err(E::custom("nests too deep"));
        }
        Ok(Nested {
            depth: self.depth + 1,
            ..self
        })
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Nested<'_> {
    type Value = MergesJoined;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<MergesJoined, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Nested<'_> {
    type Value = MergesJoined;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, b: bool) -> std::result::Result<MergesJoined, E> {
        Ok(MergesJoined(Value::Bool(b)))
    }
    fn visit_i64<E>(self, n: i64) -> std::result::Result<MergesJoined, E> {
        Ok(MergesJoined(Value::Number(n.into())))
    }
    fn visit_u64<E>(self, n: u64) -> std::result::Result<MergesJoined, E> {
        Ok(MergesJoined(Value::Number(n.into())))
    }
    fn visit_f64<E>(self, n: f64) -> std::result::Result<MergesJoined, E> {
        Ok(MergesJoined(Value::Number(n.into())))
    }
    fn visit_str<E>(self, text: &str) -> std::result::Result<MergesJoined, E> {
        Ok(MergesJoined(Value::String(text.to_string())))
    }
    fn visit_string<E>(self, text: String) -> std::result::Result<MergesJoined, E> {
        Ok(MergesJoined(Value::String(text)))
    }
    fn visit_unit<E>(self) -> std::result::Result<MergesJoined, E> {
        Ok(MergesJoined(Value::Null))
    }
    fn visit_none<E>(self) -> std::result::Result<MergesJoined, E> {
        Ok(MergesJoined(Value::Null))
    }
    fn visit_some<D: serde::Deserializer<'de>>(
        self,
        value: D,
    ) -> std::result::Result<MergesJoined, D::Error> {
        serde::de::DeserializeSeed::deserialize(self, value)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<MergesJoined, A::Error> {
        let inner = self.inner()?;
        let mut items = Vec::new();
        while let Some(MergesJoined(item)) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(MergesJoined(Value::Sequence(items)))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<MergesJoined, A::Error> {
        let inner = self.inner()?;
        let mut mapping = Mapping::new();
        let mut merges = Vec::new();
        while let Some(MergesJoined(key)) = map.next_key_seed(inner)? {
            let MergesJoined(value) = map.next_value_seed(inner)?;
            if key.as_str() == Some("<<") {
                merges.push(value);
            } else if mapping.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate entry with key {key:?}"
                )));
            } else {
                mapping.insert(key, value);
            }
        }
        let merge = match merges.len() {
            0 => None,
            1 => merges.pop(),
            // The last merge first; a list's mappings in their order.
            _ => Some(Value::Sequence(
                merges
                    .into_iter()
                    .rev()
                    .flat_map(|merge| match merge {
                        Value::Sequence(items) => items,
                        other => vec![other],
                    })
                    .collect(),
            )),
        };
        if let Some(merge) = merge {
            mapping.insert(Value::String("<<".to_string()), merge);
        }
        Ok(MergesJoined(Value::Mapping(mapping)))
    }
    fn visit_enum<A: serde::de::EnumAccess<'de>>(
        self,
        data: A,
    ) -> std::result::Result<MergesJoined, A::Error> {
        // A tagged value (`!tag value`).
        use serde::de::VariantAccess;
        let (tag, value) = data.variant::<String>()?;
        let MergesJoined(value) = value.newtype_variant_seed(self)?;
        Ok(MergesJoined(Value::Tagged(Box::new(
            serde_yaml::value::TaggedValue {
                tag: serde_yaml::value::Tag::new(tag),
                value,
            },
        ))))
    }
}

/// Applies YAML merge keys (`<<: *defaults`, `<<: [*a, *b]`) as PyYAML does, so that both
/// tools read the same settings: the parser keeps `<<` as an ordinary key. Keys written in the
/// mapping win over merged ones, and an earlier mapping of a list over a later one. Inner
/// mappings are merged first, so a merged mapping that merges another brings its keys too.
/// `path` is the dotted path of `value` (to name the line of a merge that cannot apply).
fn apply_merges(file: &FileContext<'_>, value: &mut Value, path: &mut Vec<String>) -> Result<()> {
    match value {
        Value::Mapping(mapping) => {
            for (key, child) in mapping.iter_mut() {
                path.push(key.as_str().unwrap_or("?").to_string());
                let merged = apply_merges(file, child, path);
                path.pop();
                merged?;
            }
            if !mapping.contains_key("<<") {
                return Ok(());
            }
        }
        Value::Sequence(items) => {
            for item in items {
                apply_merges(file, item, path)?;
            }
            return Ok(());
        }
        Value::Tagged(tagged) => return apply_merges(file, &mut tagged.value, path),
        _ => return Ok(()),
    }
    value.apply_merge().map_err(|e| {
        let mut keys: Vec<&str> = path.iter().map(String::as_str).collect();
        keys.push("<<");
        // A mapping inside a list has no path the line search can follow: the first merge
        // written in the file is the best guess left.
        let line = file.key_line(&keys).or_else(|| {
            file.text
                .lines()
                .position(|line| line.trim_start().starts_with("<<"))
                .map(|i| i + 1)
        });
        file.error_on_line(
            line,
            &keys.join("."),
            "cannot be merged: a merge key takes a mapping (`<<: *defaults`) or a list of \
             mappings (`<<: [*a, *b]`)",
        )
        .with_cause(e)
        .with_help("make the anchor it names (`&defaults`) a mapping of keys, or remove the `<<`")
    })
}

/// What a setting holds, which decides how an unquoted number or boolean is read
/// ([`FileContext::scalar_as_written`]).
#[derive(Clone, Copy)]
enum Setting {
    /// A name, a password, a path: the text as written.
    Text,
    /// A number, parsed by the setting's own rule: the value.
    Number,
}

fn get<'a>(map: &'a Mapping, key: &str) -> Option<&'a Value> {
    map.get(key)
}

/// What [`FileContext::check_keys`] does with an unknown key that is not a misspelling.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Unknown {
    /// Left alone: the block is confiture (Python)'s too (`migration:`), the key may be its;
    /// but one of our command options' names (`lock_wait`: `hint::OPTION_FLAGS`), which no
    /// setting reads, is refused.
    LeftToConfiture,
    /// Refused: the block is ours alone (`fleet:`, which confiture (Python) ignores whole).
    Refused,
}

/// How a file is read: its name as messages show it, its variables' values, and where a
/// variable's value came from when not the process's environment ([`FileContext::named`]).
type Reading<'a> = (
    &'a str,
    &'a dyn Fn(&str) -> Option<String>,
    &'a dyn Fn(&str) -> Option<String>,
);

pub(super) struct FileContext<'a> {
    /// The file as messages name it.
    pub(super) shown: &'a str,
    /// The file, as given ([`EnvironmentFileProblems::file`]).
    path: &'a Path,
    /// The problems found so far that did not stop the reading ([`FileContext::found`]): the
    /// file's other keys are still checked, so that one run names every problem.
    problems: RefCell<Vec<Error>>,
    vars: &'a dyn Fn(&str) -> Option<String>,
    /// Where a variable's value came from when not the process's environment: `DATABASE_URL
    /// in .env, line 1` (`config::resolve`'s `.env`, [`super::DotenvUrl`]'s label).
    named: &'a dyn Fn(&str) -> Option<String>,
    /// The file's text (to find the line of a key): [`yaml_lines`].
    pub(super) text: &'a str,
    /// The text the parser reads, the values' ([`yaml_text`]).
    parsed: &'a str,
    /// The lines of its keys ([`FileContext::key_line`]).
    keys: KeyLines<'a>,
}

impl FileContext<'_> {
    /// The database the file names: `database_url`, else the legacy `database:` block.
    fn connection(&self, top: &Mapping) -> Result<ConnectionSpec> {
        Ok(match (get(top, "database_url"), get(top, "database")) {
            (Some(url), _) if !url.is_null() => {
                let url = self.string(url, "database_url")?;
                if url.trim().is_empty() {
                    return Err(self
                        .key_error("database_url", "is empty")
                        .with_help(CONNECTION_HELP));
                }
                if let Some((what, help)) = self.emptied_parts(&url_text(top), &url) {
                    return Err(self.key_error("database_url", &what).with_help(help));
                }
                let defaults = LibpqDefaults::from_vars(self.vars);
                parse_spec_with(&url, &defaults).map_err(|reason| {
                    // Named when the variable is the whole value; a variable in a part of it
                    // (a password) only when its value is the fault: the URL parses with a
                    // plain word in its place.
                    let (from, help) = match self.url_variables(top) {
                        Some(vars) if is_one_variable(&url_text(top)) => (
                            match vars.iter().any(|var| (self.named)(var).is_some()) {
                                true => format!(" (from {})", self.vars_shown(&vars)),
                                false => format!(" (in {}, which it is)", self.vars_shown(&vars)),
                            },
                            connection_help(&url),
                        ),
                        Some(vars) => {
                            let faulty: Vec<String> = vars
                                .into_iter()
                                .filter(|name| {
                                    let plain = |var: &str| {
                                        if var == name {
                                            Some("x".to_string())
                                        } else {
                                            (self.vars)(var)
                                        }
                                    };
                                    expand(&url_text(top), &plain, emptied_refused("database_url"))
                                        .is_ok_and(|text| parse_spec_with(&text, &defaults).is_ok())
                                })
                                .collect();
                            if faulty.is_empty() {
                                (String::new(), connection_help(&url))
                            } else {
                                (
                                    format!(" (by the value of {})", self.vars_shown(&faulty)),
                                    variable_in_url_help(&faulty[0], "password"),
                                )
                            }
                        }
                        None => (String::new(), connection_help(&url)),
                    };
                    self.key_error("database_url", &format!("is invalid{from}: {reason}"))
                        .with_help(help)
                })?
            }
            (_, Some(Value::Mapping(block))) => self.legacy_database(block)?,
            (_, Some(other)) if !other.is_null() => {
                return Err(self.key_error(
                    "database",
                    "must be a mapping (host, port, database, user, password)",
                ))
            }
            _ => {
                // A near miss of a key (`migratoin:`) is a problem of its own, at its line
                // (`refuse_misspelled_keys`): said here too, it would be said twice.
                return Err(self.error("names no database").with_help(
                    "add `database_url: postgresql://user@host:5432/dbname` \
                     (or a `database:` block with host, port, database, user, password)",
                ));
            }
        })
    }

    /// What is wrong with a URL or conninfo whose host, port, user or database name, written
    /// as a whole in `written`, a `${VAR:-}` expanded to nothing in `expanded` (its expanded
    /// text), and the help: libpq's default would take its place (`postgresql://h/${DB:-}` is
    /// the database named as the user), a database other than the one written. `None` when
    /// none is. A part the URL does not write is libpq's default as documented; `${VAR}` set
    /// to "" without a default is refused by [`expand`] already. The one rule for
    /// `database_url` and the URLs of `fleet.targets`.
    pub(super) fn emptied_parts(&self, written: &str, expanded: &str) -> Option<(String, String)> {
        emptied_parts(self.vars, written, expanded)
    }

    /// The variables `database_url` uses; `None` when it uses none that are set (or the key
    /// is not read).
    /// Variables as the file's errors name them: `$PW`, or where a value came from when not
    /// the process's environment (`DATABASE_URL in .env, line 1`: `$DATABASE_URL` is empty
    /// where the user looks), joined by `and`.
    fn vars_shown(&self, vars: &[String]) -> String {
        let shown: Vec<String> = vars
            .iter()
            .map(|var| (self.named)(var).unwrap_or_else(|| format!("${var}")))
            .collect();
        shown.join(" and ")
    }

    fn url_variables(&self, top: &Mapping) -> Option<Vec<String>> {
        let Some(Value::String(text)) = get(top, "database_url") else {
            return None;
        };
        let (_, used) = expand_naming(text, self.vars, emptied_refused("database_url")).ok()?;
        (!used.is_empty()).then_some(used)
    }

    /// The variables whose values gave `database_url` more than its password, each with the
    /// parts of the connection it gave, and the key's line
    /// ([`Environment::connection_variables`]); `None` when there are none (or the key is not
    /// read). A variable that is the password (`postgresql://app:${PW}@db/app`) leaves the
    /// host, port and database in the file. What a variable gave is told by expanding the URL
    /// with its value replaced and seeing which parts change ([`parts_differing`]): comparing
    /// its value with the password took a password holding a `%` (`S3cret%50W`, which the URL
    /// decodes) for the host, port and database too.
    fn connection_variables(&self, top: &Mapping) -> Option<(Vec<UrlVariable>, Option<usize>)> {
        let Some(Value::String(text)) = get(top, "database_url") else {
            return None;
        };
        let refused = emptied_refused("database_url");
        let expanded = expand(text, self.vars, refused).ok()?;
        let gave = |name: &str| {
            // A word no URL holds, and numbers for a port (where the word does not parse); a
            // value that parses in none of these places is the whole URL, or most of it.
            let differing =
                ["confiturevariablemark", "7", "9"]
                    .into_iter()
                    .filter_map(|stand_in| {
                        let replaced = |var: &str| match var == name {
                            true => Some(stand_in.to_string()),
                            false => (self.vars)(var),
                        };
                        let other = expand(text, &replaced, refused).ok()?;
                        parts_differing(&expanded, &other)
                    });
            differing.reduce(|mut all, parts| {
                for part in parts {
                    if !all.contains(&part) {
                        all.push(part);
                    }
                }
                all
            })
        };
        let vars: Vec<UrlVariable> = self
            .url_variables(top)?
            .into_iter()
            .map(|name| UrlVariable {
                parts: gave(&name),
                name,
            })
            .filter(|var| var.parts.as_deref() != Some(&[ConnectionPart::Password]))
            .collect();
        (!vars.is_empty()).then(|| (vars, self.key_line(&["database_url"])))
    }

    /// The variables of `database_url` whose value holds a `%` and lands in the URL's user or
    /// password, each with that part ([`Environment::percent_in_credentials`]): told apart by
    /// expanding the URL with the variable's value replaced by a mark and seeing where the
    /// mark lands. A variable that is the whole URL is none: its `%`s are the URL's own.
    fn percent_in_credentials(&self, top: &Mapping) -> Vec<PercentInCredentials> {
        const MARK: &str = "confiturevariablemark";
        let Some(Value::String(text)) = get(top, "database_url") else {
            return Vec::new();
        };
        let Ok((_, used)) = expand_naming(text, self.vars, emptied_refused("database_url")) else {
            return Vec::new();
        };
        let defaults = LibpqDefaults::from_vars(self.vars);
        used.into_iter()
            .filter(|name| (self.vars)(name).is_some_and(|value| value.contains('%')))
            .filter_map(|name| {
                let marked = |var: &str| match var == name {
                    true => Some(MARK.to_string()),
                    false => (self.vars)(var),
                };
                let text = expand(text, &marked, emptied_refused("database_url")).ok()?;
                let spec = parse_spec_with(&text, &defaults).ok()?;
                let part = if spec.password.as_deref().is_some_and(|p| p.contains(MARK)) {
                    "password"
                } else if spec.user.contains(MARK) {
                    "user"
                } else {
                    return None;
                };
                Some(PercentInCredentials {
                    variable: Some(name),
                    part,
                })
            })
            .collect()
    }

    /// confiture (Python) reaches the database of a file with an `ssh_tunnel:` block through
    /// an SSH tunnel it opens (`ssh -N -L`), the connection's host and port being the tunnel's
    /// local end (`${TUNNEL_LOCAL_PORT}`) or the far end's view (`localhost` there). We open
    /// none: connected to directly, the same host is another server, or another database of
    /// this machine, which the command would then migrate. Refused unless the block is null
    /// (confiture's "connect directly"); confiture has no `enabled` key, so none is honoured.
    fn refuse_ssh_tunnel(&self, top: &Mapping, url_label: &str) -> Result<()> {
        let Some(block) = get(top, "ssh_tunnel").filter(|v| !v.is_null()) else {
            return Ok(());
        };
        let open = match block {
            Value::Mapping(block) => ssh_command(block),
            _ => None,
        }
        .map_or_else(
            || {
                format!(
                    "open the tunnel yourself (`ssh -N -L 15432:localhost:5432 USER@HOST`), then \
                     give {url_label} the URL through it (host and port `localhost:15432`)"
                )
            },
            |(command, port)| {
                format!(
                    "open the tunnel yourself (`{command}`; any free local port), then give \
                     {url_label} the file's URL with `localhost:{port}` as its host and port"
                )
            },
        );
        Err(self
            .key_error(
                "ssh_tunnel",
                "asks for an SSH tunnel, which cargo confiture does not open: connected to \
                 directly, the database the file names (its host as seen from the tunnel's far \
                 end, often `localhost`) would be another server's, or another database of this \
                 machine",
            )
            .with_help(format!(
                "{open}; or, if the database is reachable without a tunnel, write `ssh_tunnel: \
                 null` (confiture (Python) opens the tunnel whatever an `enabled:` key says)"
            )))
    }

    /// A top-level key that is not ours but close to one (`aplication_name`, `migraton:`) is a
    /// typo: ignored, the setting the user believes in would not hold.
    /// Whether one of them is a misspelling of the database's key (`databse_url`) while the
    /// file has none (or `~`).
    fn refuse_misspelled_keys(&self, top: &Mapping) -> bool {
        let mut database = false;
        for key in top.keys().filter_map(Value::as_str) {
            if TOP_LEVEL_KEYS.contains(&key) || PYTHON_KEYS.contains(&key) || holds_anchors(key) {
                continue;
            }
            if let Some(home) = misplaced_setting_home(key, true) {
                // `migration_table: x` at the top level was ignored (confiture refuses it).
                self.found(
                    self.key_error(key, "is not a setting at the top level")
                        .with_help(home),
                );
            } else if is_libpq_parameter(key) {
                // `sslmode: require` next to `database_url` did nothing.
                self.found(
                    self.key_error(key, "is a connection parameter, not a setting of this file")
                        .with_help(connection_parameter_help(key, true)),
                );
            } else if let Some(known) = closest(key, TOP_LEVEL_KEYS) {
                database |= ["database_url", "database"].contains(&known);
                self.found(
                    self.key_error(key, "is not a setting")
                        .with_help(format!("did you mean `{known}`?")),
                );
            }
        }
        // Null is no value, as `connection` reads it (`database_url: ~`).
        let named = |key: &str| get(top, key).is_some_and(|value| !value.is_null());
        database && !named("database_url") && !named("database")
    }

    /// Every key of the legacy `database:` block is one we read: any other (`dbname:`,
    /// `username:`) was ignored, and the connection went to the default database or role.
    fn check_database_keys(&self, block: &Mapping) {
        for key in block.keys() {
            let Some(key) = key.as_str() else {
                self.found(self.key_error("database", "has a key that is not a string"));
                continue;
            };
            if DATABASE_KEYS.contains(&key) {
                continue;
            }
            let error = self.key_error(&format!("database.{key}"), "is not a setting");
            let alias = DATABASE_ALIASES.iter().find(|(alias, _)| *alias == key);
            self.found(if let Some((_, ours)) = alias {
                error.with_help(format!(
                    "did you mean `database.{ours}`? (this block names it `{ours}`)"
                ))
            } else if let Some(home) = misplaced_setting_home(key, false) {
                error.with_help(home)
            } else if is_libpq_parameter(key) {
                error.with_help(connection_parameter_help(key, false))
            } else if let Some(close) = closest(key, DATABASE_KEYS) {
                error.with_help(format!("did you mean `database.{close}`?"))
            } else {
                error.with_help(format!(
                    "the `database:` block reads {}; give other connection parameters in \
                     `database_url` (postgresql://user@host:5432/dbname?sslmode=require)",
                    DATABASE_KEYS.join(", ")
                ))
            });
        }
    }

    pub(super) fn error(&self, what: &str) -> Error {
        Error::invalid(format!("environment file {} {what}", self.shown)).with_reason(self.problem(
            None,
            None,
            format!("the file {what}"),
        ))
    }

    /// The reason of an error about one key (or, `key` `None`, the whole file), its help and
    /// details filled in by [`FileContext::all_problems`] once the caller has added them.
    fn problem(&self, key: Option<&str>, line: Option<usize>, message: String) -> Reason {
        problem(self.path, key, line, message)
    }

    /// [`of_file`] of this file.
    fn of_file(&self, line: Option<usize>, error: Error) -> Error {
        of_file(self.path, line, error)
    }

    /// The line (from 1) of the key at `path` ([`KeyLines::line`]).
    pub(super) fn key_line(&self, path: &[&str]) -> Option<usize> {
        self.keys.line(path)
    }

    /// Keeps `error` to report with the file's other problems, which are still looked for.
    pub(super) fn found(&self, error: Error) {
        self.problems.borrow_mut().push(error);
    }

    /// The value, or `None` with the error kept ([`FileContext::found`]).
    pub(super) fn kept<T>(&self, result: Result<T>) -> Option<T> {
        result.map_err(|error| self.found(error)).ok()
    }

    /// The error of a file with `problems` (at least one): the problem itself when there is
    /// one; else one error naming the file, whose reason holds each problem (its key, line,
    /// message, details and help) and whose details say each, in the order of the lines.
    fn all_problems(&self, problems: Vec<Error>) -> Error {
        let mut problems: Vec<(Error, SettingProblem)> = problems
            .into_iter()
            .map(|error| {
                let mut problem = match error.reason() {
                    Reason::EnvironmentFile(found) if found.problems.len() == 1 => {
                        found.problems[0].clone()
                    }
                    _ => SettingProblem {
                        key: None,
                        line: None,
                        message: error.message_with_cause(),
                        details: Vec::new(),
                        help: None,
                    },
                };
                problem.details = error.details.clone();
                problem.help = error.help.clone();
                (error, problem)
            })
            .collect();
        if problems.len() == 1 {
            let (error, problem) = problems.remove(0);
            return match error.reason() {
                Reason::EnvironmentFile(_) => {
                    error.with_reason(Reason::EnvironmentFile(Box::new(EnvironmentFileProblems {
                        file: self.path.to_path_buf(),
                        problems: vec![problem],
                    })))
                }
                _ => self.of_file(None, error),
            };
        }
        // In the order of the file; a problem of the whole file (no line) last.
        problems.sort_by_key(|(_, problem)| problem.line.unwrap_or(u32::MAX));
        let problems: Vec<SettingProblem> = problems.into_iter().map(|(_, p)| p).collect();
        let mut error = Error::invalid(format!(
            "environment file {} has {} problems",
            self.shown,
            problems.len()
        ));
        // The first problems, then how many more: a file of thousands of unknown keys is an
        // error of a few kilobytes; its reason keeps each problem.
        let listed = problems.iter().map(|problem| {
            let mut lines = vec![problem.line_text()];
            lines.extend(problem.details.iter().map(|detail| format!("  {detail}")));
            lines.extend(problem.help.iter().map(|help| format!("  help: {help}")));
            lines
        });
        error
            .details
            .extend(crate::display::cut_entries(listed.collect()));
        error.with_reason(Reason::EnvironmentFile(Box::new(EnvironmentFileProblems {
            file: self.path.to_path_buf(),
            problems,
        })))
    }

    /// `environment file F, line L: `key` what`, `key` being the dotted path of a key
    /// (`migration.lock_timeout`): its line is found by [`FileContext::key_line`] (the file alone when it
    /// cannot be).
    pub(super) fn key_error(&self, key: &str, what: &str) -> Error {
        let path: Vec<&str> = key.split('.').collect();
        self.error_on_line(self.key_line(&path), key, what)
    }

    /// `environment file F, line L: `key` "text" what`: the refusal of the value `text` of a
    /// setting (a duration, a number, a name). The text is quoted as written, except a
    /// connection string ([`names_a_connection`](super::names_a_connection)), put there by
    /// mistake (`lock_timeout: ${DATABASE_URL}`): it may hold a password, so only the
    /// connection it names is said ([`NameOrConnection`](super::connection::NameOrConnection)).
    pub(super) fn value_error(&self, key: &str, text: &str, what: &str) -> Error {
        let shown = super::connection::NameOrConnection(text);
        self.key_error(key, &format!("{shown:?} {what}"))
    }

    /// [`FileContext::key_error`] at a line the caller knows (an item of a list).
    pub(super) fn error_on_line(&self, line: Option<usize>, key: &str, what: &str) -> Error {
        let reason = self.problem(Some(key), line, format!("`{key}` {what}"));
        match line {
            Some(line) => Error::invalid(format!(
                "environment file {}, line {line}: `{key}` {what}",
                self.shown
            )),
            None => Error::invalid(format!("environment file {}: `{key}` {what}", self.shown)),
        }
        .with_reason(reason)
    }

    /// A text setting (a name, a password, a path), with `${VAR}` expanded in strings. An
    /// unquoted number or boolean is taken as written (`password: 0x10`), or refused when its
    /// text cannot be found ([`FileContext::scalar_as_written`]).
    pub(super) fn string(&self, value: &Value, key: &str) -> Result<String> {
        let path: Vec<&str> = key.split('.').collect();
        self.scalar_on_line(value, key, self.key_line(&path), Setting::Text)
    }

    /// [`FileContext::string`], its errors at `line` (an item of a list).
    pub(super) fn string_on_line(
        &self,
        value: &Value,
        key: &str,
        line: Option<usize>,
    ) -> Result<String> {
        self.scalar_on_line(value, key, line, Setting::Text)
    }

    /// A numeric setting (`port`, `lock_retries`, a duration) as text for its own parser: an
    /// integer whose written text cannot be found is taken in decimal, its value being all
    /// that matters.
    pub(super) fn number(&self, value: &Value, key: &str) -> Result<String> {
        let path: Vec<&str> = key.split('.').collect();
        self.scalar_on_line(value, key, self.key_line(&path), Setting::Number)
    }

    fn scalar_on_line(
        &self,
        value: &Value,
        key: &str,
        line: Option<usize>,
        setting: Setting,
    ) -> Result<String> {
        let error = |what: &str| self.error_on_line(line, key, what);
        let shared = confiture_reads(key);
        let name = key.rsplit('.').next().unwrap_or(key);
        let tag = line.and_then(|line| self.keys.tag(line, name));
        match tag {
            // `!!str 0123`: the text, to PyYAML as to us, whatever it would read as untagged.
            Some(tag) if is_str_tag(tag) && matches!(value, Value::String(_)) => {}
            // `!!int 0123` where text is meant: PyYAML's value is not the text written (the
            // octal 83), nor, with `!!binary` or a tag of its own, text at all.
            Some(tag) if matches!(setting, Setting::Text) => {
                return Err(error(&format!(
                    "is written with the tag `{tag}`, which makes it another value than the \
                     text written (PyYAML, as confiture (Python) reads the file, takes `!!int \
                     0123` as the number 83)"
                ))
                .with_help(format!(
                    "write the text in quotes, without the tag: `{name}: \"...\"` (or tag it \
                     `!!str`)"
                )));
            }
            _ => {
                if let Some(reads) = shared {
                    self.refuse_other_yaml11_reading(value, key, line, reads)?;
                }
            }
        }
        match value {
            // confiture (Python) expands nothing in the values it reads: `$$` is two dollar
            // signs there, and was one here.
            Value::String(text) if shared.is_some() && text.contains("$$") => Err(error(
                "has `$$`, which confiture (Python) reads as two dollar signs and cargo \
                 confiture read as one: the two tools would not use the same value",
            )
            .with_help(DOUBLE_DOLLAR_HELP)),
            Value::String(text) => expand(text, self.vars, emptied_refused(key)).map_err(|e| {
                let literal = if shared.is_some() {
                    "a literal `${` in a URL is `%24%7B`"
                } else {
                    "write $$ for a literal $"
                };
                let (what, help) = expand_problem(e, key, literal);
                error(&what).with_help(help)
            }),
            Value::Number(_) | Value::Bool(_) => self.scalar_as_written(value, key, line, setting),
            _ => Err(error("must be a string")),
        }
    }

    /// Refuses the unquoted value of a key confiture (Python) reads too when PyYAML (YAML 1.1)
    /// reads it as something else than its text (`password: 0123` is the octal 83 there,
    /// `port: 05432` is 2842, `user: yes` is `True`): the two tools would connect differently.
    /// A quoted value is a string to both. A string whose text is not on the key's line (an
    /// alias, a merge, a value on another line) may have been written unquoted: refused when
    /// YAML 1.1 would read that text as something else; a number or boolean there is refused
    /// by [`FileContext::scalar_as_written`].
    fn refuse_other_yaml11_reading(
        &self,
        value: &Value,
        key: &str,
        line: Option<usize>,
        reads: ConfitureReads,
    ) -> Result<()> {
        let name = key.rsplit('.').next().unwrap_or(key);
        let written = line.and_then(|line| self.keys.written(line, name, value));
        // Brought by a merge or an alias: quoted wherever the anchors it names write this
        // value (a text that reads as another value is not where it came from), it is text to
        // both.
        let quoted_at_anchors = || {
            let texts = line.map_or_else(Vec::new, |line| self.keys.anchored(line, name, value));
            !texts.is_empty() && texts.iter().all(|text| text.starts_with(['"', '\'']))
        };
        let (plain, on_its_line) = match (written, value) {
            (Some(text), _) if text.starts_with(['"', '\'']) => return Ok(()),
            (None, Value::String(_)) if quoted_at_anchors() => return Ok(()),
            (Some(text), _) => (text.to_string(), true),
            (None, Value::String(text)) => (text.clone(), false),
            (None, _) => return Ok(()),
        };
        let reading = yaml11::resolve(&plain);
        let same = match reads {
            ConfitureReads::Text => reading.python_str(&plain).as_deref() == Some(plain.as_str()),
            ConfitureReads::StringOnly => reading == Yaml11::Text,
        };
        if same {
            return Ok(());
        }
        // A password, or a URL that may hold one, is never shown, nor what it would become.
        let secret = name == "password" || key == "database_url";
        let taken_as = if secret {
            match reading {
                Yaml11::Bool(_) => "a boolean".to_string(),
                Yaml11::Int(_) | Yaml11::Float(_) => "a number".to_string(),
                _ => reading.described(""),
            }
        } else {
            reading.described(&plain)
        };
        let consequence = match (reads, name) {
            (ConfitureReads::StringOnly, _) => {
                "which is not a name: it uses `tb_confiture` in its place, another ledger than \
                 ours"
                    .to_string()
            }
            (_, "password") => "the two tools would log in with different passwords".to_string(),
            (_, "database_url") => "the two tools would not use the same URL".to_string(),
            (_, "port") => "the two tools would connect to different ports".to_string(),
            (_, "host") => "the two tools would connect to different hosts".to_string(),
            (_, "user") => "the two tools would log in as different roles".to_string(),
            _ => "the two tools would connect to different databases".to_string(),
        };
        let shown = if secret {
            String::from("...")
        } else {
            plain.clone()
        };
        let what = if on_its_line {
            let value = if secret {
                String::new()
            } else {
                format!(" `{plain}`")
            };
            format!(
                "is written{value} without quotes, which confiture (Python), reading the file as \
                 YAML 1.1, takes as {taken_as}: {consequence}"
            )
        } else {
            format!(
                "is not written on its key's line (an alias, a merge, or a value on another \
                 line), and unquoted its text is, to confiture (Python) reading the file as YAML \
                 1.1, {taken_as}: {consequence}"
            )
        };
        Err(self.error_on_line(line, key, &what).with_help(format!(
            "quote it on the key's line, so that both tools read it as text: `{name}: \"{shown}\"`"
        )))
    }

    /// A number or boolean as written in the file: the parser turns `0x10` into 16, `12.50`
    /// into 12.5, `+5` into 5 and `True` into true, which as a password or a database name is
    /// another one. The text is read on the key's line (`key: value`, `{key: value}` or
    /// `- value`) and kept when the parser reads it as the same value. Where it cannot be
    /// found (an alias, a merge, a value on the next line, an explicit `? key`), a text
    /// setting is refused with help to quote it; a numeric setting takes an integer's value.
    /// The one rule for unquoted scalars.
    fn scalar_as_written(
        &self,
        value: &Value,
        key: &str,
        line: Option<usize>,
        setting: Setting,
    ) -> Result<String> {
        let name = key.rsplit('.').next().unwrap_or(key);
        let written = line.map_or_else(Vec::new, |line| self.keys.all_written(line, name, value));
        match written.as_slice() {
            [text] => return Ok(text.to_string()),
            // Entries of a flow list read as the same value (`[0x10, 16]`): which of them is
            // this one is not known, so neither text can be kept.
            [_, _, ..] if matches!(setting, Setting::Text) => {
                let shown: Vec<String> = written.iter().map(|text| format!("`{text}`")).collect();
                let quoted: Vec<String> =
                    written.iter().map(|text| format!("`\"{text}\"`")).collect();
                let read = match value {
                    Value::Bool(b) => format!("boolean ({b})"),
                    Value::Number(n) => format!("number ({n})"),
                    _ => "value".to_string(),
                };
                let what = format!(
                    "has entries {} that YAML reads as the same {read}: which entry is which \
                     cannot be told, so neither text can be kept as written",
                    shown.join(" and "),
                );
                return Err(self.error_on_line(line, key, &what).with_help(format!(
                    "quote those entries where they are written: {}",
                    quoted.join(" and ")
                )));
            }
            _ => {}
        }
        let what = match (setting, value) {
            (Setting::Number, Value::Number(n)) if n.is_i64() || n.is_u64() => {
                return Ok(n.to_string())
            }
            (Setting::Number, Value::Bool(b)) => return Ok(b.to_string()),
            (Setting::Number, _) => {
                "is a number that is not a whole number, and its text cannot be found (`12.50` \
                 would be read as 12.5)"
            }
            (Setting::Text, Value::Bool(_)) => {
                "is a boolean whose text cannot be kept as written (it is not on the key's line: \
                 an alias, a merge, or a value on another line; `True` would be read as true)"
            }
            (Setting::Text, _) => {
                "is a number whose text cannot be kept as written (it is not on the key's line: \
                 an alias, a merge, or a value on another line; `0x10` would be read as 16, \
                 `12.50` as 12.5)"
            }
        };
        let help = match setting {
            Setting::Text => {
                format!("quote it where it is written: `{name}: \"...\"` (or `&anchor \"...\"`)")
            }
            Setting::Number => format!("write it as a whole number: `{name}: 5`"),
        };
        Err(self.error_on_line(line, key, what).with_help(help))
    }

    /// The duration at `key`; `zero`: what `0` means there, for the help of one too long.
    fn duration(&self, value: &Value, key: &str, zero: Zero) -> Result<Duration> {
        let text = self.number(value, key)?;
        let name = key.rsplit('.').next().unwrap_or(key);
        text.parse::<Timeout>().map(Duration::from).map_err(|e| {
            self.value_error(key, &text, &e.to_string())
                .with_help(e.help_for(&text, zero, |v| format!("{name}: {v}")))
        })
    }

    /// Refuses an unknown key of the block `parent`: one close to a known one always (`did you
    /// mean`); any other only in a block that is ours alone ([`Unknown::Refused`]), since a
    /// block confiture (Python) reads too may hold its keys.
    pub(super) fn check_keys(
        &self,
        block: &Mapping,
        parent: &str,
        known: &[&str],
        unknown: Unknown,
    ) {
        for key in block.keys() {
            let Some(key) = key.as_str() else {
                self.found(self.key_error(parent, "has a key that is not a string"));
                continue;
            };
            if known.contains(&key) {
                continue;
            }
            // A key left to confiture (Python) that is one of our command options
            // (`lock_wait`) is a flag given in the wrong place: ignored, it would never apply.
            // A fleet's setting (`jobs`) is its `fleet:` block's, never a command option.
            let option = crate::hint::OPTION_FLAGS
                .iter()
                .filter(|(_, _, types)| *types != [crate::hint::FLEET])
                .find(|(_, field, _)| *field == key);
            if let (Unknown::LeftToConfiture, Some((flag, field, types))) = (unknown, option) {
                let library = types.first().map_or(String::new(), |options| {
                    format!(" (`{options}::{field}` in the library)")
                });
                self.found(
                    self.key_error(
                        &format!("{parent}.{key}"),
                        &format!("is not an environment setting: it is the `{flag}` flag{library}"),
                    )
                    .with_help(format!(
                        "remove it from the file and give `{flag}` to the command that takes it"
                    )),
                );
                continue;
            }
            let help = match closest(key, known) {
                Some(close) => format!("did you mean `{parent}.{close}`?"),
                None if unknown == Unknown::Refused => {
                    let settings: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                    format!("the settings of `{parent}` are {}", settings.join(", "))
                }
                None => continue,
            };
            self.found(
                self.key_error(&format!("{parent}.{key}"), "is not a setting")
                    .with_help(help),
            );
        }
    }

    /// The `migration:` block's settings; each problem is kept ([`FileContext::found`]).
    fn migration_block(&self, block: &Mapping, settings: &mut MigrationSettings) {
        self.check_keys(block, "migration", MIGRATION_KEYS, Unknown::LeftToConfiture);
        for (key, value) in block {
            let Some(key) = key.as_str() else { continue };
            let full = format!("migration.{key}");
            if value.is_null() {
                continue;
            }
            if let Err(error) = self.migration_setting(key, &full, value, settings) {
                self.found(error);
            }
        }
    }

    /// One setting of the `migration:` block.
    fn migration_setting(
        &self,
        key: &str,
        full: &str,
        value: &Value,
        settings: &mut MigrationSettings,
    ) -> Result<()> {
        let full = full.to_string();
        match key {
            "tracking_table" => {
                let text = self.string(value, &full)?;
                settings.tracking_table = TrackingTable::parse(&text).map_err(|e| {
                    let mut error = self.key_error(&full, &format!("is invalid: {}", e.message));
                    error.help = e.help;
                    error
                })?;
            }
            "lock_timeout" => {
                settings.lock_timeout = self.duration(value, &full, Zero::NoLimit)?;
            }
            "statement_timeout" => {
                settings.statement_timeout = Some(self.duration(value, &full, Zero::NoLimit)?);
            }
            "connect_timeout" => {
                settings.connect_timeout = self.duration(value, &full, Zero::NoLimit)?;
            }
            "wait_for_server" => {
                settings.wait_for_server = self.duration(value, &full, Zero::AtOnce)?;
            }
            "lock_retries" => {
                let text = self.number(value, &full)?;
                settings.lock_retries = text.trim().parse().map_err(|_| {
                    self.value_error(
                        &full,
                        &text,
                        &format!("is not a whole number from 0 to {}", u32::MAX),
                    )
                    .with_help("write how many times to retry, e.g. `lock_retries: 3`")
                })?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The legacy `database:` block (used when `database_url` is absent).
    fn legacy_database(&self, block: &Mapping) -> Result<ConnectionSpec> {
        self.check_database_keys(block);
        let mut builder = SpecBuilder::default();
        for (key, value) in block {
            let Some(key) = key.as_str() else { continue };
            let full = format!("database.{key}");
            // confiture (Python) fills a key left out with its defaults (`localhost`, 5432,
            // `postgres`), but hands an empty one to libpq as unset: libpq's defaults then
            // (`PGUSER` or the system user, a Unix socket, ...). A password empty or left out
            // is unset to both.
            // An empty string (`host: ""`, a variable's empty default) is unset to libpq as
            // null is: the same refusal.
            let empty = |how: &str| {
                self.key_error(
                    &full,
                    &format!(
                        "is empty ({how}): confiture (Python) leaves an empty connection key to \
                         libpq's defaults (`PGUSER` or the system user, a Unix socket, ...), not \
                         to the defaults it gives a key left out: the two tools would not reach \
                         the same database as the same role"
                    ),
                )
                .with_help(format!(
                    "write the value (`{key}: ...`), or remove the key to take confiture's \
                     default"
                ))
            };
            let refuses_empty = confiture_reads(&full).is_some() && !takes_empty(&full);
            if value.is_null() && refuses_empty {
                return Err(empty("null"));
            }
            if value.is_null() || !DATABASE_KEYS.contains(&key) {
                continue;
            }
            let text = if key == "port" {
                self.number(value, &full)?
            } else {
                self.string(value, &full)?
            };
            if text.is_empty() && refuses_empty {
                // A `${VAR:-}` that gave the empty string is named, with how to set it.
                let defaulted = match value {
                    Value::String(raw) => {
                        super::expand::mark_empty_defaults(raw, self.vars, "").map(|(_, v)| v)
                    }
                    _ => None,
                };
                let Some(vars) = defaulted else {
                    return Err(empty("an empty string"));
                };
                let shown: Vec<String> = vars.iter().map(|v| format!("${{{v}:-}}")).collect();
                let mut error = empty(&format!("{} expanded to nothing", shown.join(" and ")));
                error.help = Some(format!(
                    "set {} (in CI: define the secret for this environment), give a default \
                     (`${{{}:-value}}`), or remove the key to take confiture's default",
                    vars.join(" and "),
                    vars[0]
                ));
                return Err(error);
            }
            // A URL, or credentials, where a name goes: refused, never shown (it may hold a
            // password). A user name may have `@` (Azure's `user@server`), not `://`.
            let (names_a_connection, has) = match key {
                "database" | "host" => (super::names_a_connection(&text), "`://`, `=` or `@`"),
                "user" => (super::is_url_like(&text), "`://` or `=`"),
                _ => (false, ""),
            };
            if names_a_connection {
                let what = match key {
                    "database" => "a database name",
                    "host" => "a host name",
                    _ => "a user name",
                };
                return Err(self
                    .key_error(
                        &full,
                        &format!(
                            "looks like a connection URL (it has {has}), not {what}: give the \
                             URL as `database_url` (its text is not shown: it may hold a \
                             password)"
                        ),
                    )
                    .with_help(format!(
                        "write `database_url: postgresql://user:password@host:5432/dbname` \
                         in place of the `database:` block, or only {what} in `{full}`"
                    )));
            }
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
        // The block is confiture (Python)'s format, and confiture fills what it leaves out
        // with its own defaults (`user` and `database` both `postgres`), not libpq's (the
        // system user, and the user's name): the same file must reach the same database as
        // the same role in both tools.
        let mut dbname_defaulted = None;
        for (key, param) in [("user", "user"), ("database", "dbname")] {
            if block.get(key).is_none_or(Value::is_null) {
                builder
                    .set(param, CONFITURE_BLOCK_DEFAULT.to_string())
                    .map_err(|reason| {
                        self.key_error("database", &format!("is invalid: {reason}"))
                    })?;
                if key == "database" {
                    dbname_defaulted = Some(super::connection::DefaultedDatabase::ConfitureBlock);
                }
            }
        }
        let unpaired = builder.unpaired_client_file();
        let mut spec = builder
            .finish(&LibpqDefaults::from_vars(self.vars))
            .map_err(|reason| {
                let error = self.key_error("database", &format!("is invalid: {reason}"));
                match unpaired {
                    Some(missing) => error.with_help(missing.help(Spelling::DatabaseBlock)),
                    None => error,
                }
            })?;
        spec.dbname_defaulted = dbname_defaulted;
        Ok(spec)
    }
}

/// The `ssh -N -L` that opens the tunnel an `ssh_tunnel:` block describes, as confiture
/// (Python) builds it (its defaults: `remote_host` localhost, `remote_port` 5432; a
/// `remote_socket` instead of both; a `local_port` of 0 picks a free port, shown as 15432),
/// and the local port; `None` without a `host`.
fn ssh_command(block: &Mapping) -> Option<(String, String)> {
    let text = |key: &str| match get(block, key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let host = text("host")?;
    let local = text("local_port")
        .filter(|p| p != "0")
        .unwrap_or_else(|| "15432".to_string());
    let forward = match text("remote_socket") {
        Some(socket) => format!("{local}:{socket}"),
        None => format!(
            "{local}:{}:{}",
            text("remote_host").unwrap_or_else(|| "localhost".to_string()),
            text("remote_port").unwrap_or_else(|| "5432".to_string())
        ),
    };
    let mut words = vec!["ssh".to_string(), "-N".into(), "-L".into(), forward];
    if let Some(identity) = text("identity_file") {
        words.extend(["-i".to_string(), identity]);
    }
    words.push(match text("user") {
        Some(user) => format!("{user}@{host}"),
        None => host,
    });
    let command: Vec<String> = words
        .iter()
        .map(|w| crate::hint::quote(w).into_owned())
        .collect();
    Some((command.join(" "), local))
}

/// What confiture (Python) takes for a `user` or `database` its `database:` block leaves out.
const CONFITURE_BLOCK_DEFAULT: &str = "postgres";

/// Whether a top-level key only holds YAML anchors for other keys to use, as docker-compose
/// (`x-database: &db {...}`) and GitLab CI (`.defaults: &d`) write them: `x-`, `.` or `_`
/// first. Ignored, never taken for a misspelling.
fn holds_anchors(key: &str) -> bool {
    key.starts_with("x-") || key.starts_with('.') || key.starts_with('_')
}

/// Where a setting of this file written in the wrong place belongs, as a help line: a
/// `migration:` setting (or Python confiture's old `migration_table`) at the top level
/// (`top`) or in the `database:` block, `application_name` in the `database:` block.
fn misplaced_setting_home(key: &str, top: bool) -> Option<String> {
    let under_migration = if key == "migration_table" {
        "tracking_table"
    } else if MIGRATION_KEYS.contains(&key) {
        key
    } else if key == "application_name" && !top {
        return Some(
            "`application_name` is set at the top level of the file: write \
             `application_name: NAME` without indentation"
                .to_string(),
        );
    } else {
        return None;
    };
    let unit = if under_migration.ends_with("_timeout") {
        ", with a unit (`10s`): a plain number is milliseconds there"
    } else {
        ""
    };
    Some(format!(
        "move it under `migration:` as `migration.{under_migration}` (`migration:` then \
         `  {under_migration}: ...`){unit}"
    ))
}

/// Where the connection parameter `key` goes, written in an environment file where it is not
/// read: at the top level (`top`) or in the legacy `database:` block. The parts of a URL's
/// authority and path are named there, the other parameters as `?key=VALUE`.
fn connection_parameter_help(key: &str, top: bool) -> String {
    if !is_supported_parameter(key) {
        return format!(
            "`{key}` is a libpq connection parameter that cargo confiture does not support; \
             give the ones it does in `database_url` (postgresql://user@host:5432/dbname?\
             sslmode=require)"
        );
    }
    let ours = DATABASE_ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key, |(_, ours)| ours);
    let url = match ours {
        "host" => "`database_url`: postgresql://user@HOST:5432/dbname (the host)".to_string(),
        "port" => "`database_url`: postgresql://user@host:PORT/dbname (the port)".to_string(),
        "database" => {
            "`database_url`: postgresql://user@host:5432/DBNAME (the URL's path)".to_string()
        }
        "user" => "`database_url`: postgresql://USER@host:5432/dbname (the user info)".to_string(),
        "password" => "`database_url`: postgresql://user:PASSWORD@host:5432/dbname (the user \
                       info, percent-encoded), or `${VAR}` there"
            .to_string(),
        _ => format!(
            "`database_url`: postgresql://user@host:5432/dbname?{key}=VALUE (e.g. \
             `?sslmode=require`)"
        ),
    };
    if !top {
        format!(
            "the `database:` block reads only {}: give `{key}` in {url} instead of the block",
            DATABASE_KEYS.join(", ")
        )
    } else if DATABASE_KEYS.contains(&ours) {
        format!("give it in {url}, or as `{ours}` in the `database:` block")
    } else {
        format!("give it in {url}")
    }
}

/// The texts on `line` that may be a scalar's: after `key:` (block or flow style), after `- `
/// (an item of a block list) and each entry of a flow list (`[a, b]`), each up to a comment or
/// the end of its flow entry, its anchor (`&a`) left out. An alias (`*a`) is kept as written,
/// for [`KeyLines::written`] to follow.
fn scalar_texts<'t>(line: &'t str, key: &str) -> Vec<&'t str> {
    let after_keys = line.match_indices(key).filter_map(|(at, _)| {
        let before = line[..at].trim_end_matches(['"', '\'']);
        let boundary = before.is_empty() || before.ends_with([' ', '\t', '{', ',']);
        let rest = line[at + key.len()..].trim_start_matches(['"', '\'']);
        let rest = rest.trim_start_matches([' ', '\t']).strip_prefix(':')?;
        boundary.then(|| entry_text(rest))
    });
    let item = line.trim_start().strip_prefix("- ").map(entry_text);
    let flow_entries = line
        .match_indices(['[', ','])
        .map(|(at, _)| entry_text(&line[at + 1..]));
    after_keys.chain(item).chain(flow_entries).collect()
}

/// The text of one entry starting at `rest`: up to a comment or the end of its flow entry,
/// trimmed, its anchor (`&pw 12.50` names the value, it is not part of it) left out.
fn entry_text(rest: &str) -> &str {
    let end = rest
        .char_indices()
        .find(|&(i, c)| {
            matches!(c, ',' | '}' | ']') || (c == '#' && rest[..i].ends_with([' ', '\t']))
        })
        .map_or(rest.len(), |(i, _)| i);
    let text = rest[..end].trim();
    match text.strip_prefix('&') {
        Some(anchored) => anchored
            .split_once([' ', '\t'])
            .map_or("", |(_, value)| value.trim_start()),
        None => text,
    }
}

/// Whether `tag` (`!!str`, or its verbatim form) makes a scalar a string, its text as written:
/// to PyYAML as to us.
fn is_str_tag(tag: &str) -> bool {
    matches!(tag, "!!str" | "!<tag:yaml.org,2002:str>")
}

/// Whether the parser reads `text`, written as a plain or quoted scalar, as `value`. A tag
/// (`!!int 0x10`) or an alias is not the text of a scalar.
fn reads_as(text: &str, value: &Value) -> bool {
    !text.is_empty()
        && !text.starts_with(['!', '*'])
        && serde_yaml::from_str::<Value>(text).ok().as_ref() == Some(value)
}

/// Where the anchor `&name` is written on `line`: the byte just past it, when it is one (at
/// the start of a value, a list item or a flow entry, followed by its value, a space or the
/// end of the line).
fn anchor_end(line: &str, name: &str) -> Option<usize> {
    let anchor = format!("&{name}");
    line.match_indices(&anchor).find_map(|(at, _)| {
        let before = line[..at].trim_end_matches([' ', '\t']);
        let starts = before.is_empty() || before.ends_with([':', '-', '[', ',', '{']);
        let end = at + anchor.len();
        let after = &line[end..];
        let ends = after.is_empty() || after.starts_with([' ', '\t', '{', '[']);
        (starts && ends).then_some(end)
    })
}

pub(super) fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Whether `line` (with its indentation removed) is written as `key:` (the key unquoted, or in
/// double or single quotes), and the key when it is.
fn written_key(trimmed: &str) -> Option<&str> {
    let (key, rest) = match trimmed.chars().next()? {
        quote @ ('"' | '\'') => {
            let end = trimmed[1..].find(quote)? + 1;
            (&trimmed[1..end], &trimmed[end + 1..])
        }
        _ => {
            // The first `:` followed by a space, a tab or the end of the line.
            let colon = trimmed.char_indices().find_map(|(i, c)| {
                let after = trimmed[i + c.len_utf8()..].chars().next();
                (c == ':' && matches!(after, None | Some(' ' | '\t'))).then_some(i)
            })?;
            (trimmed[..colon].trim_end(), &trimmed[colon..])
        }
    };
    let plain = !key.is_empty() && !key.starts_with(['#', '-', '{', '[', '?', '&', '*', '!']);
    (plain && rest.trim_start().starts_with(':')).then_some(key)
}

/// The lines of a file's keys in block-style YAML: each key is searched among the lines
/// indented under its parent's, at the indentation of its first child. A key written inside a
/// flow mapping (`migration: {lock_timeout: 1s}`) is at its parent's line; one a merge of its
/// block brought (`<<: *base`), at the merge's line. The one place that
/// maps a key to its line. The file's lines are split once and each block's keys read once,
/// when a key of that block is first looked for: a file of thousands of keys, each named by a
/// problem, is read in linear time.
pub(super) struct KeyLines<'t> {
    lines: Vec<&'t str>,
    /// For a block (the line of its key, `None` for the top level), the first line of each of
    /// its keys.
    blocks: RefCell<HashMap<Option<usize>, HashMap<&'t str, usize>>>,
}

impl<'t> KeyLines<'t> {
    pub(super) fn new(text: &'t str) -> KeyLines<'t> {
        KeyLines {
            lines: text.lines().collect(),
            blocks: RefCell::default(),
        }
    }

    /// The text of line `line` (from 1).
    pub(super) fn text_of(&self, line: usize) -> Option<&'t str> {
        self.lines.get(line.checked_sub(1)?).copied()
    }

    /// The line (from 1) of the key at `path`; `None` when it is not written either way.
    pub(super) fn line(&self, path: &[&str]) -> Option<usize> {
        let mut parent: Option<usize> = None;
        for key in path {
            let found = self
                .blocks
                .borrow_mut()
                .entry(parent)
                .or_insert_with(|| self.keys_under(parent))
                .get(key)
                .copied();
            match found {
                Some(i) => parent = Some(i),
                None => {
                    // Brought by a merge of the block (`<<: *base`): at the merge's line.
                    let merge = self
                        .blocks
                        .borrow()
                        .get(&parent)
                        .and_then(|b| b.get("<<").copied());
                    if let Some(merge) = merge {
                        return Some(merge + 1);
                    }
                    // Written inline, in a flow mapping on its parent's line.
                    let p = parent?;
                    let value = self.lines[p].split_once(':').map_or("", |(_, value)| value);
                    return value.trim_start().starts_with('{').then_some(p + 1);
                }
            }
        }
        parent.map(|i| i + 1)
    }

    /// The text of the scalar `value` written as `key`'s on `line` (from 1), quoted or plain
    /// ([`scalar_texts`]), when the parser reads that text as `value`. `None` when it is not
    /// found (an alias, a tag), or when two texts on the line are read as `value` (which one
    /// is this one is not known). The one reading of a scalar's written text.
    pub(super) fn written(&self, line: usize, key: &str, value: &Value) -> Option<&'t str> {
        match self.all_written(line, key, value).as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Every distinct text written as `key`'s on `line` (from 1) that the parser reads as
    /// `value`, in the order written ([`KeyLines::written`] is the one when there is one): two
    /// or more when entries of a flow list read as the same value (`[0x10, 16]`).
    pub(super) fn all_written(&self, line: usize, key: &str, value: &Value) -> Vec<&'t str> {
        let Some(text) = self.text_of(line) else {
            return Vec::new();
        };
        let mut found: Vec<&'t str> = Vec::new();
        for text in scalar_texts(text, key) {
            if reads_as(text, value) && !found.contains(&text) {
                found.push(text);
            }
        }
        found
    }

    /// The tag of the scalar written as `key`'s on `line` (from 1; `password: !!str 0123`:
    /// `!!str`), its anchor left out; `None` when it has none, or when two are written there
    /// (which one is this one is not known).
    pub(super) fn tag(&self, line: usize, key: &str) -> Option<&'t str> {
        let line = self.text_of(line)?;
        let texts = scalar_texts(line, key);
        let mut tags = texts
            .into_iter()
            .filter(|text| text.starts_with('!'))
            .map(|text| {
                // A verbatim tag (`!<tag:yaml.org,2002:str>`) ends at its `>`, past the comma
                // that ended the entry's text.
                let at = text.as_ptr() as usize - line.as_ptr() as usize;
                match line[at..]
                    .strip_prefix("!<")
                    .and_then(|rest| rest.find('>'))
                {
                    Some(end) => &line[at..at + end + 3],
                    None => text.split([' ', '\t']).next().unwrap_or(text),
                }
            });
        let first = tags.next()?;
        tags.all(|tag| tag == first).then_some(first)
    }

    /// The texts that anchors write for the scalar `value` of `key`, brought to the line
    /// `line` (from 1) by a merge ([`KeyLines::merged_lines`]) or an alias (`key: *a`, `- *a`,
    /// `[*a]`), wherever the anchor is written (a key's value, an item of a block or a flow
    /// list). Empty when `value` is written on `line` itself.
    pub(super) fn anchored(&self, line: usize, key: &str, value: &Value) -> Vec<&'t str> {
        let merged = (self.merged_lines(line, key).into_iter())
            .filter_map(|at| self.written(at, key, value));
        let aliases = self
            .text_of(line)
            .map_or_else(Vec::new, |text| scalar_texts(text, key));
        let aliased = (aliases.into_iter())
            .filter_map(|text| self.anchored_text(text.strip_prefix('*')?, line))
            .filter(|text| reads_as(text, value));
        merged.chain(aliased).collect()
    }

    /// The text the anchor `&name` gives its scalar where it is last written up to `line`
    /// (from 1; a later anchor of the same name is another one): after it, up to a comment
    /// or the end of its flow entry. `None` when it anchors a block (nothing follows it).
    fn anchored_text(&self, name: &str, line: usize) -> Option<&'t str> {
        let name = name.trim_end();
        self.lines[..line.min(self.lines.len())]
            .iter()
            .rev()
            .find_map(|l| Some(entry_text(&l[anchor_end(l, name)?..])))
            .filter(|text| !text.is_empty())
    }

    /// The lines (from 1) where the anchors a merge at `line` (`<<: *base`, `<<: [*a, *b]`)
    /// names write `key`: in the anchored block (`base: &base` then its keys), inline on the
    /// anchor's line (`base: &base {key: value}`), or through that block's own merge. Only
    /// block-style merges are read; empty when `line` is not one or the key is not found.
    fn merged_lines(&self, line: usize, key: &str) -> Vec<usize> {
        self.merged_lines_within(line, key, 4)
    }

    fn merged_lines_within(&self, line: usize, key: &str, depth: usize) -> Vec<usize> {
        let Some(text) = self.text_of(line) else {
            return Vec::new();
        };
        let Some(aliases) = text.trim_start().strip_prefix("<<:") else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for alias in aliases.split([' ', '\t', ',', '[', ']']) {
            let Some(name) = alias.strip_prefix('*').filter(|n| !n.is_empty()) else {
                continue;
            };
            let anchored =
                (self.lines.iter().enumerate()).filter(|(_, l)| anchor_end(l, name).is_some());
            for (i, anchor_line) in anchored {
                if anchor_line.contains('{') {
                    found.push(i + 1);
                    continue;
                }
                let keys = self.keys_under(Some(i));
                match (keys.get(key), keys.get("<<")) {
                    (Some(&at), _) => found.push(at + 1),
                    (None, Some(&merge)) if depth > 0 => {
                        found.extend(self.merged_lines_within(merge + 1, key, depth - 1));
                    }
                    _ => {}
                }
            }
        }
        found
    }

    /// The keys of the block whose key is at line index `parent` (`None`: the top level),
    /// each at its first line index: the lines after the parent's indented more than it, at
    /// the indentation of the first of them.
    fn keys_under(&self, parent: Option<usize>) -> HashMap<&'t str, usize> {
        let content = |line: &str| {
            let trimmed = line.trim_start();
            !trimmed.is_empty() && !trimmed.starts_with('#') && !trimmed.starts_with("---")
        };
        let from = parent.map_or(0, |i| i + 1);
        let level = self.lines[from..]
            .iter()
            .find(|l| content(l))
            .map(|l| indent(l));
        let parent_indent = parent.map(|i| indent(self.lines[i]));
        let mut keys = HashMap::new();
        for (i, line) in self.lines.iter().enumerate().skip(from) {
            if !content(line) {
                continue;
            }
            if parent_indent.is_some_and(|p| indent(line) <= p) {
                break;
            }
            if Some(indent(line)) == level {
                if let Some(key) = written_key(line.trim_start()) {
                    keys.entry(key).or_insert(i);
                }
            }
        }
        keys
    }
}

/// The line (from 1) of the key at `path` in `text` ([`KeyLines::line`]), for a single look-up.
#[cfg(test)]
pub(super) fn key_line(text: &str, path: &[&str]) -> Option<usize> {
    KeyLines::new(text).line(path)
}

/// A key written twice in the block mapping that starts at `line`, `column` (from 1: where the
/// parser reports an error about a mapping): the key, and the lines of its first and second
/// occurrences. Only block style is read; `None` when no key of that mapping is repeated.
fn repeated_key(text: &str, line: usize, column: usize) -> Option<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.get(line.checked_sub(1)?)?;
    // The mapping's first key may follow `- ` on its line; the others are at its column.
    let at: usize = first
        .char_indices()
        .nth(column.checked_sub(1)?)
        .map(|(byte, _)| byte)?;
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for (i, text_line) in lines.iter().enumerate().skip(line - 1) {
        let trimmed = text_line.trim_start();
        let (key_indent, key_text) = if i == line - 1 {
            (at, &text_line[at..])
        } else {
            (indent(text_line), trimmed)
        };
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if key_indent < at {
            break;
        }
        if key_indent > at {
            continue;
        }
        let Some(key) = written_key(key_text).or_else(|| explicit_key(key_text)) else {
            continue;
        };
        if key == "<<" {
            continue; // several merges are allowed (`MergesJoined`)
        }
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
            return Some((key.to_string(), *first, i + 1));
        }
        seen.push((key, i + 1));
    }
    None
}

/// The key of an explicit key line (`? database_url`, `? "database_url"`), when it is a
/// scalar written on that line: YAML's other way of writing a key, its value on a `: ` line
/// after it.
fn explicit_key(trimmed: &str) -> Option<&str> {
    let rest = trimmed.strip_prefix('?')?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start();
    let key = match rest.chars().next()? {
        quote @ ('"' | '\'') => {
            let end = rest[1..].find(quote)? + 1;
            &rest[1..end]
        }
        _ => {
            let end = rest.find(" #").unwrap_or(rest.len());
            rest[..end].trim_end()
        }
    };
    let plain = !key.is_empty() && !key.starts_with(['#', '-', '{', '[', '?', '&', '*', '!']);
    (plain && !key.contains(": ")).then_some(key)
}

/// A document read without refusing repeated keys (the YAML parser's own tree refuses them,
/// with only a message to tell that from a syntax error): to find the key written twice.
enum Loose {
    Scalar,
    Sequence(Vec<Loose>),
    Mapping(Vec<(Value, Loose)>),
}

/// The methods of [`Loose`]'s visitor for scalars: every scalar is one, the document being
/// read only for its mappings' keys.
macro_rules! scalar {
    ($($visit:ident($($arg:ty)?)),*) => {$(
        fn $visit<E>(self, $(_: $arg)?) -> std::result::Result<Loose, E> {
            Ok(Loose::Scalar)
        }
    )*};
}

impl<'de> serde::Deserialize<'de> for Loose {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Loose;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            scalar!(
                visit_bool(bool),
                visit_i64(i64),
                visit_u64(u64),
                visit_f64(f64),
                visit_str(&str),
                visit_unit(),
                visit_none()
            );
            fn visit_some<D: serde::Deserializer<'de>>(
                self,
                value: D,
            ) -> std::result::Result<Loose, D::Error> {
                serde::Deserialize::deserialize(value)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Loose, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Loose::Sequence(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Loose, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Loose::Mapping(entries))
            }
            fn visit_enum<A: serde::de::EnumAccess<'de>>(
                self,
                data: A,
            ) -> std::result::Result<Loose, A::Error> {
                // A tagged value (`!tag value`).
                use serde::de::VariantAccess;
                let (_, value) = data.variant::<Value>()?;
                value.newtype_variant()
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The dotted path of the first key written twice in one mapping, at any depth and in any
/// style, or `None` when the text has none (or does not parse for another reason).
fn repeated_key_anywhere(text: &str) -> Option<String> {
    fn find(node: &Loose, path: &mut Vec<String>) -> Option<String> {
        match node {
            Loose::Scalar => None,
            Loose::Sequence(items) => items.iter().find_map(|item| find(item, path)),
            Loose::Mapping(entries) => {
                let name = |key: &Value| key.as_str().unwrap_or("?").to_string();
                for (i, (key, _)) in entries.iter().enumerate() {
                    let merge = key.as_str() == Some("<<");
                    if !merge && entries[..i].iter().any(|(earlier, _)| earlier == key) {
                        path.push(name(key));
                        return Some(path.join("."));
                    }
                }
                entries.iter().find_map(|(key, value)| {
                    path.push(name(key));
                    let found = find(value, path);
                    path.pop();
                    found
                })
            }
        }
    }
    let document: Loose = serde_yaml::from_str(text).ok()?;
    find(&document, &mut Vec::new())
}

/// The dotted path of the block keys a line is nested in (`migration` for a line under
/// `migration:`), as far as they are written in block style.
fn parents_of(text: &str, line: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let mut path = Vec::new();
    let Some(mut level) = lines.get(line.saturating_sub(1)).map(|l| indent(l)) else {
        return path;
    };
    for l in lines[..line.saturating_sub(1)].iter().rev() {
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || indent(l) >= level {
            continue;
        }
        match written_key(trimmed) {
            Some(key) => {
                path.push(key);
                level = indent(l);
            }
            None => break,
        }
    }
    path.reverse();
    path
}

/// The first character YAML does not allow in a document (its `c-printable` set: a NUL byte,
/// an escape, DEL, a C1 control, U+FFFE), at its line and column. The parser refuses it
/// before reading any syntax, at line 1, column 1, its byte offset only in its message.
fn forbidden_character(text: &str, shown: &str) -> Option<(usize, Error)> {
    let printable = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}')
            || matches!(c, '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
    };
    let (offset, c) = text.char_indices().find(|&(_, c)| !printable(c))?;
    let (line, column) = crate::text::line_col(text, offset);
    Some((
        line as usize,
        Error::invalid(format!(
            "malformed YAML in environment file {shown} at line {line}, column {column}"
        ))
        .with_cause(format!(
            "character U+{:04X} is not allowed in YAML",
            u32::from(c)
        ))
        .with_help("remove it: YAML allows no control character but tab and line breaks"),
    ))
}

/// The help of a file far larger or deeper than a file of settings: what to check, then
/// `then`, what to write instead (if anything).
fn few_settings_help(shown: &str, then: &str) -> String {
    let check = format!(
        "an environment file holds a few settings: check that {shown} is the file you meant"
    );
    match then {
        "" => check,
        then => format!("{check}, and {then}"),
    }
}

/// A document nested more than [`MAX_NESTING`] deep, at `line` (where the parser was when it
/// passed the limit): named by the top-level key it is under, when there is one (not in a
/// document that is itself a list).
fn nests_too_deep(text: &str, file: &FileContext<'_>, line: usize) -> Error {
    // The last key written at the left margin up to that line: block or flow, every line
    // of its value is indented or follows it on its line.
    let top = (text.lines().take(line))
        .filter(|l| indent(l) == 0 && !l.starts_with('#'))
        .filter_map(written_key)
        .last();
    let what = top.map_or_else(|| "the document".to_string(), |key| format!("`{key}`"));
    Error::invalid(format!(
        "environment file {}, line {line}: {what} nests mappings and lists more than \
         {MAX_NESTING} deep; it was not read",
        file.shown
    ))
    .with_help(few_settings_help(
        file.shown,
        "write each setting as `key: value`, nested a few levels at most",
    ))
}

/// `malformed YAML in environment file F at line L, column C: <what the parser says>`, with
/// the parser's own copy of the position left out, and a help line (tabs get their own: YAML
/// forbids them in indentation, and editors hide them). A key written twice is named at its
/// second line, with its first: the parser puts that error at the start of the mapping.
fn malformed_yaml(text: &str, shown: &str, e: &serde_yaml::Error) -> (Option<usize>, Error) {
    let mut cause = e.to_string();
    let mut at = String::new();
    let mut help =
        "check the YAML syntax there: `key: value` pairs, nested keys indented with spaces";
    if let Some(loc) = e.location() {
        if let Some((key, first, second)) = repeated_key(text, loc.line(), loc.column()) {
            let mut path = parents_of(text, second);
            path.push(&key);
            let key = path.join(".");
            let error = Error::invalid(format!(
                "environment file {shown}, line {second}: `{key}` is set twice (first at line \
                 {first})"
            ));
            return (
                Some(second),
                error.with_help("keep one of them: a key may appear once in its mapping"),
            );
        }
        if let Some(key) = repeated_key_anywhere(text) {
            // Flow style (`{a: 1, a: 2}`), which the line search above does not read: the
            // parser gives the line where the mapping holding the key starts, not the key's.
            let error = Error::invalid(format!(
                "environment file {shown}: `{key}` is set twice (in the mapping that starts at \
                 line {})",
                loc.line()
            ));
            return (
                Some(loc.line()),
                error.with_help("keep one of them: a key may appear once in its mapping"),
            );
        }
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
    } else if let Some(found) = more_than_one_document(text, shown) {
        return found;
    } else if let Some(aliases) = expanded_aliases(text) {
        // The parser gives up, with no position, once its aliases have copied their anchors'
        // values a hundred times the document's size: aliases of aliases (a "billion laughs").
        // The file is well-formed YAML; what is wrong is how much it expands to.
        return (
            None,
            Error::invalid(format!(
            "environment file {shown} was not read: its {aliases} aliases (`*name`) expand past \
             the YAML parser's limit (an alias copies its anchor's value, and an anchor holding \
             aliases multiplies them: a \"billion laughs\")"
        ))
            .with_help(few_settings_help(
                shown,
                "write them out; use an alias only to share a block (`<<: *base`), never inside \
             the value of another anchor",
            )),
        );
    }
    let error = Error::invalid(format!("malformed YAML in environment file {shown}{at}"));
    (
        e.location().map(|loc| loc.line()),
        error.with_cause(cause).with_help(help),
    )
}

#[cfg(test)]
mod tests {
    use super::super::expand::{expand, Emptied};
    use super::*;

    /// `text` read as the environment file `x.yaml`, with no variables set.
    fn parse_x(text: &str) -> Result<Environment> {
        Environment::parse(text, Path::new("x.yaml"), &no_vars)
    }
    use std::path::Path;

    fn no_vars(_: &str) -> Option<String> {
        None
    }

    /// A tracking table in a schema PostgreSQL keeps for itself (`pg_temp`, any `pg_*`,
    /// `information_schema`) is refused where it is configured, naming the file, the key and
    /// its line, by the rule `--schema` follows: never found out after connecting, as a
    /// refused `CREATE TABLE`.
    /// A `database:` block without `user` or `database` connected as the system user to the
    /// user's database (libpq's defaults), where confiture (Python) reading the same file
    /// connects as `postgres` to `postgres`: one file, two roles and two databases.
    #[test]
    fn the_legacy_block_fills_user_and_database_as_confiture_does() {
        let vars = |name: &str| (name == "PGUSER").then(|| "someone".to_string());
        let env = Environment::parse("database:\n  host: h\n", Path::new("x.yaml"), &vars).unwrap();
        assert_eq!(
            (env.connection.user.as_str(), env.connection.dbname.as_str()),
            ("postgres", "postgres")
        );
        let env = parse_x("database:\n  host: h\n  user: app\n").unwrap();
        assert_eq!(
            (env.connection.user.as_str(), env.connection.dbname.as_str()),
            ("app", "postgres")
        );
        let env = parse_x("database:\n  host: h\n  database: app\n").unwrap();
        assert_eq!(
            (env.connection.user.as_str(), env.connection.dbname.as_str()),
            ("postgres", "app")
        );
        // A URL keeps libpq's defaults, as psql would read it.
        let env = Environment::parse(
            "database_url: postgresql://h/\n",
            Path::new("x.yaml"),
            &vars,
        )
        .unwrap();
        assert_eq!(env.connection.user, "someone");
    }

    #[test]
    fn a_tracking_table_in_a_system_schema_is_refused_at_its_key() {
        for schema in [
            "pg_temp",
            "pg_catalog",
            "pg_toast",
            "pg_mine",
            "information_schema",
        ] {
            let text = format!(
                "database_url: postgresql://h/db\nmigration:\n  tracking_table: {schema}.tb_confiture\n"
            );
            let err = parse_x(&text).expect_err(schema);
            assert_eq!(err.exit_code(), crate::exit::INVALID, "{schema}");
            assert!(
                err.message
                    .starts_with("environment file x.yaml, line 3: `migration.tracking_table`")
                    && err
                        .message
                        .contains(&format!("{schema} is a system schema")),
                "{schema}: {err}"
            );
        }
        for schema in ["ops", "pgx", "Pg_temp", "information"] {
            let text = format!(
                "database_url: postgresql://h/db\nmigration:\n  tracking_table: {schema}.tb_confiture\n"
            );
            let env = parse_x(&text).unwrap_or_else(|e| panic!("{schema}: {e}"));
            assert_eq!(env.migration.tracking_table.schema.as_deref(), Some(schema));
        }
    }

    /// `$$` was our escape for `$` in every value, while confiture (Python) expands nothing in
    /// the values it reads: `password: pa$$word` logged in with `pa$word` here and `pa$$word`
    /// there, `database: app$$1` reached `app$1` here and `app$$1` there. In the keys
    /// confiture reads too, `$$` is refused (its line, its key, never the value) with how to
    /// write what is meant; a single `$` is itself to both, and `${VAR}` is expanded (the
    /// documented difference: confiture would fail on the literal `${VAR}`). Keys only we
    /// read keep `$$` as `$`.
    #[test]
    fn a_double_dollar_in_a_value_confiture_reads_is_refused() {
        let vars = |name: &str| (name == "PW").then(|| "from$$env".to_string());
        for (key, text, line) in [
            (
                "database.password",
                "database:\n  host: h\n  password: pa$$word\n",
                3,
            ),
            (
                "database.database",
                "database:\n  host: h\n  database: 'app$$1'\n",
                3,
            ),
            ("database.user", "database: {host: h, user: \"u$$\"}\n", 1),
            ("database.host", "database:\n  host: h$$\n", 2),
            (
                "database_url",
                "database_url: postgresql://u:pa$$w@h/db\n",
                1,
            ),
            (
                "database_url",
                "database_url: postgresql://u:$${PW}@h/db\n",
                1,
            ),
        ] {
            let err = Environment::parse(text, Path::new("x.yaml"), &vars)
                .expect_err(&format!("accepted: {text}"));
            assert!(
                err.message.starts_with(&format!(
                    "environment file x.yaml, line {line}: `{key}` has `$$`"
                )),
                "{text}: {err}"
            );
            assert!(
                !err.message.contains("pa$") && !err.message.contains("app$"),
                "{err}"
            );
            let help = err.help.unwrap();
            assert!(
                help.contains("a single `$`") && help.contains("%24"),
                "{help}"
            );
        }
        // A single `$` is itself to both tools; `${VAR}` is expanded and its value taken as it
        // is (a `$$` there is no escape).
        let env = Environment::parse(
            "database:\n  host: h\n  password: pa$word${PW}\n  database: a$b\n",
            Path::new("x.yaml"),
            &vars,
        )
        .unwrap();
        assert_eq!(env.connection.password.as_deref(), Some("pa$wordfrom$$env"));
        assert_eq!(env.connection.dbname, "a$b");
        // Keys only we read keep `$$` as one `$`.
        let env = parse_x("database_url: postgresql://h/db\napplication_name: a$$b\n").unwrap();
        assert_eq!(env.application_name, "a$b");
    }

    /// An `ssh_tunnel:` block was ignored with confiture (Python)'s other keys, and we
    /// connected to `database_url` (or the `database:` block) directly: its host is seen from
    /// the tunnel's far end, so `localhost` there is this machine here — another database,
    /// which we then migrated. Refused (exit 5) at the block's line, with the `ssh -L` that
    /// opens the tunnel and the URL selection to give; `ssh_tunnel: null` (confiture's "connect
    /// directly") is accepted. confiture has no `enabled` key (pydantic ignores it and opens
    /// the tunnel): `enabled: false` is no way out.
    #[test]
    fn an_ssh_tunnel_block_is_refused_with_the_command_that_opens_it() {
        let url = "database_url: postgresql://app@localhost:${TUNNEL_LOCAL_PORT}/app\n";
        for (text, line, command) in [
            (
                format!("name: prod\n{url}ssh_tunnel:\n  host: bastion\n  user: me\n  remote_port: 5433\n"),
                3,
                "ssh -N -L 15432:localhost:5433 me@bastion",
            ),
            (
                "database:\n  host: localhost\n  database: app\nssh_tunnel: {host: db.example.com, \
                 enabled: false, local_port: 6000, identity_file: ~/.ssh/my key}\n"
                    .to_string(),
                4,
                "ssh -N -L 6000:localhost:5432 -i '~/.ssh/my key' db.example.com",
            ),
            (
                format!(
                    "{url}ssh_tunnel:\n  host: h\n  remote_host: 10.0.0.5\n  \
                     remote_socket: /var/run/postgresql/.s.PGSQL.5432\n"
                ),
                2,
                "ssh -N -L 15432:/var/run/postgresql/.s.PGSQL.5432 h",
            ),
            (format!("{url}ssh_tunnel: {{}}\n"), 2, ""),
            (format!("{url}ssh_tunnel: false\n"), 2, ""),
        ] {
            let err = parse_x(&text).expect_err(&format!("accepted:\n{text}"));
            assert_eq!(err.kind, crate::error::ErrorKind::Invalid, "{err}");
            assert!(
                err.message.starts_with(&format!(
                    "environment file x.yaml, line {line}: `ssh_tunnel` asks for an SSH tunnel"
                )),
                "{text}: {err}"
            );
            let help = err.help.unwrap();
            assert!(help.contains(command), "{text}: {help}");
            assert!(help.contains("Migrator::from_url"), "{help}");
            assert!(help.contains("`ssh_tunnel: null`"), "{help}");
        }
        for text in [
            "database_url: postgresql://h/db\nssh_tunnel: null\n",
            "database_url: postgresql://h/db\nssh_tunnel:\ninclude_dirs: [a]\nseed: {x: 1}\n",
        ] {
            parse_x(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    /// `user: ~` (or an empty `user:`) in the legacy block: confiture (Python) hands `None`
    /// to libpq, which then takes `PGUSER` or the system user (and a Unix socket for `host`,
    /// the user's name for `database`); we took confiture's defaults for a key left out
    /// (`postgres`). One file, two roles or databases: an empty host, port, database or user
    /// is refused at its line; an empty password is unset to both and taken. An empty string
    /// (`host: ""`, `''`, a variable's empty default) is the same to libpq: refused too.
    #[test]
    fn an_empty_connection_key_of_the_legacy_block_is_refused() {
        for key in ["host", "port", "database", "user"] {
            for empty in [
                "~",
                "null",
                "",
                "\"\"",
                "''",
                "\"${CONFITURE_TEST_UNSET_VAR:-}\"",
            ] {
                let text = format!("database:\n  sslmode: disable\n  {key}: {empty}\n");
                let err = parse_x(&text).expect_err(&format!("accepted:\n{text}"));
                assert!(
                    err.message.starts_with(&format!(
                        "environment file x.yaml, line 3: `database.{key}` is empty"
                    )),
                    "{err}"
                );
                assert!(err.help.unwrap().contains("remove the key"));
                // Exit 5, as every error of an environment file's contents.
                assert_eq!(err.kind, crate::ErrorKind::Invalid, "{text}");
            }
        }
        let env = parse_x("database:\n  host: h\n  password: ~\n").unwrap();
        assert_eq!(env.connection.password, None);
        let env = parse_x("database:\n  host: h\n  password: \"\"\n").unwrap();
        assert_eq!(env.connection.password, None);
    }

    /// Help lines about the connection named the environment file when a variable gave its
    /// URL (the quick start's `${DATABASE_URL:-...}`): the file holds no database name, port or
    /// `sslmode` to fix (h16 F9). They name the variable, used by the file at its line; a
    /// variable that is only the password leaves them to the file.
    #[test]
    fn a_connection_given_by_a_variable_is_named_by_it() {
        let path = Path::new("db/environments/local.yaml");
        let text = "# the quick start\n\ndatabase_url: ${DATABASE_URL:-postgresql://h/example}\n";
        let set = |url: &'static str| {
            move |name: &str| match name {
                "DATABASE_URL" => Some(url.to_string()),
                "PW" => Some("s3cret".to_string()),
                _ => None,
            }
        };
        let env = Environment::parse(text, path, &set("postgresql://app@db:5433/app")).unwrap();
        assert_eq!(
            env.source(),
            "$DATABASE_URL (used by environment file db/environments/local.yaml, line 3)"
        );
        assert_eq!(env.connection.dbname, "app");
        // The default taken: the file gives the URL.
        let env = Environment::parse(text, path, &no_vars).unwrap();
        assert_eq!(env.source(), "environment file db/environments/local.yaml");
        // Only the password from a variable: the rest is the file's.
        let env = Environment::parse(
            "database_url: postgresql://app:${PW}@db/app\n",
            path,
            &set("x"),
        )
        .unwrap();
        assert_eq!(env.source(), "environment file db/environments/local.yaml");
        // A host from one: named.
        let env = Environment::parse(
            "database_url: postgresql://app:${PW}@${DATABASE_URL}/app\n",
            path,
            &set("db2"),
        )
        .unwrap();
        assert_eq!(
            env.source(),
            "$DATABASE_URL (used by environment file db/environments/local.yaml, line 1)"
        );
        // An invalid URL that is the variable's: the error names it.
        let e =
            Environment::parse(text, path, &set("postgresql://h/db?sslmode=bogus")).unwrap_err();
        assert!(
            e.message.starts_with(
                "environment file db/environments/local.yaml, line 3: `database_url` is \
                 invalid (in $DATABASE_URL, which it is): "
            ),
            "{e}"
        );
    }

    /// A help about some parts of the connection (the database's name, the host and port)
    /// blamed every variable of `database_url` that was not the password, told apart by
    /// comparing the variable's value with the decoded password: a password variable holding a
    /// `%` (`S3cret%50W`, the password `S3cretPW`) was blamed for the database's name and the
    /// port. A variable is named only for the parts it gave; the others are the file's line.
    #[test]
    fn a_variable_is_blamed_only_for_the_parts_it_gave() {
        use super::super::environment::ConnectionPart::{Database, Host, Password, Port, User};
        let path = Path::new("db/environments/prod.yaml");
        let named = |var: &str| {
            format!(
                "${var} (used by environment file {}, line 1)",
                path.display()
            )
        };
        let file = format!("environment file {}, line 1 (database_url)", path.display());
        let vars = |name: &str| match name {
            "PW" => Some("S3cret%50W".to_string()),
            "SLASH" => Some("a%2Fb".to_string()),
            "PLAIN" => Some("S3cretPW".to_string()),
            "USR" => Some("app".to_string()),
            "DB" => Some("app%5Fdb".to_string()),
            "HOST" => Some("db2".to_string()),
            "PORT" => Some("5433".to_string()),
            "HOSTPORT" => Some("db2:5433".to_string()),
            _ => None,
        };
        // (the URL, the parts asked about, who is blamed: a variable, else the file's line)
        let cases: &[(&str, &[_], Option<&str>)] = &[
            ("postgresql://u:${PW}@h:5432/d", &[Database], None),
            ("postgresql://u:${PW}@h:5432/d", &[Host, Port], None),
            ("postgresql://u:${SLASH}@h:5432/d", &[Host, Port], None),
            ("postgresql://u:${PLAIN}@h:5432/d", &[Database], None),
            ("postgresql://${USR}:${PW}@h/d", &[Database], None),
            (
                "postgresql://${USR}:${PW}@h/d",
                &[User, Password],
                Some("USR"),
            ),
            ("postgresql://u:${PW}@h/${DB}", &[Database], Some("DB")),
            ("postgresql://u:${PW}@h/${DB}", &[Host, Port], None),
            (
                "postgresql://u:${PW}@${HOST}/d",
                &[Host, Port],
                Some("HOST"),
            ),
            ("postgresql://u:${PW}@${HOST}/d", &[Database], None),
            ("postgresql://u@h:${PORT}/d", &[Host, Port], Some("PORT")),
            ("postgresql://u@h:${PORT}/d", &[Database], None),
            ("postgresql://u@${HOSTPORT}/d", &[Port], Some("HOSTPORT")),
            ("host=h user=u dbname=${DB}", &[Database], Some("DB")),
            ("host=h user=u dbname=${DB}", &[Host], None),
        ];
        for (url, parts, blamed) in cases {
            let env = Environment::parse(
                &format!(
                    "database_url: {url}
"
                ),
                path,
                &vars,
            )
            .unwrap_or_else(|e| panic!("{url}: {e}"));
            let expected = blamed.map_or_else(|| file.clone(), named);
            assert_eq!(env.source_of(parts), expected, "{url} {parts:?}");
        }
        // A variable that is the whole URL gave every part.
        let whole = |name: &str| (name == "URL").then(|| "postgresql://u:p@h/d".to_string());
        let env = Environment::parse(
            "database_url: ${URL}
",
            path,
            &whole,
        )
        .unwrap();
        for part in [Database, Host, Port, User] {
            assert_eq!(env.source_of(&[part]), named("URL"), "{part:?}");
        }
        // The general help names every variable but the password's.
        let env = Environment::parse(
            "database_url: postgresql://u:${PW}@h/${DB}
",
            path,
            &vars,
        )
        .unwrap();
        assert_eq!(env.source(), named("DB"));
        let env = Environment::parse(
            "database_url: postgresql://u:${PW}@h/d
",
            path,
            &vars,
        )
        .unwrap();
        assert_eq!(env.source(), format!("environment file {}", path.display()));
    }

    /// A password (or any part) from a variable whose value a URL must percent-encode
    /// (`${PW}` set to `p@ss`) was refused as "found more than one `@` before the host", naming
    /// no variable: the user looked for the fault in the file. The variable is named when the
    /// URL parses with its value replaced by a plain word, with how to give such a value.
    #[test]
    fn a_url_broken_by_a_variable_s_value_names_the_variable() {
        let path = Path::new("db/environments/local.yaml");
        let vars = |name: &str| match name {
            "PW" => Some("p@ss".to_string()),
            "DB" => Some("app".to_string()),
            _ => None,
        };
        let e = Environment::parse(
            "database_url: postgresql://app:${PW}@db/${DB}\n",
            path,
            &vars,
        )
        .unwrap_err();
        let text = format!("{e:#}");
        assert!(
            e.message
                .contains("`database_url` is invalid (by the value of $PW): "),
            "{text}"
        );
        assert!(text.contains("percent-encode"), "{text}");
        assert!(text.contains("`database:` block"), "{text}");
        assert!(!text.contains("p@ss"), "{text}");
        // The file's own fault: no variable blamed.
        let e = Environment::parse(
            "database_url: postgresql://app:${DB}@db@x/app\n",
            path,
            &vars,
        )
        .unwrap_err();
        assert!(!e.message.contains("by the value of"), "{e}");
    }

    /// A variable set to the empty string without a default inside a value (h16 F4): only a
    /// value left blank as a whole was refused, so `postgresql://app@db/${DB}` with `DB=""`
    /// connected to the `postgres` database, `@${HOST}:5432` to `localhost`, `${USER}@` as the
    /// system user. Refused wherever it sits (exit 5, naming the file, line, key and variable),
    /// in every key but those whose empty value is one; `${VAR:-}` says empty is meant.
    #[test]
    fn a_variable_emptied_inside_a_value_is_refused_where_a_part_matters() {
        const VAR: &str = "CONFITURE_TEST_EMPTY";
        let url = "database_url: postgresql://h/db\n";
        let empty = |name: &str| (name == VAR).then(String::new);
        let path = Path::new("db/environments/x.yaml");
        // Each file with `@` where the variable goes (`§`): the key and the line of the value.
        let refused: Vec<(String, &str, usize)> = vec![
            (
                "database_url: postgresql://app@127.0.0.1:5432/§\n".to_string(),
                "database_url",
                1,
            ),
            (
                "database_url: postgresql://app@§:5432/app\n".to_string(),
                "database_url",
                1,
            ),
            (
                "database_url: postgresql://§@127.0.0.1/app\n".to_string(),
                "database_url",
                1,
            ),
            (
                "database_url: postgresql://app@h:§/app\n".to_string(),
                "database_url",
                1,
            ),
            (
                "database_url: \"host=h dbname=§ user=app\"\n".to_string(),
                "database_url",
                1,
            ),
            (
                "database:\n  host: db§\n  database: app\n".to_string(),
                "database.host",
                2,
            ),
            (
                "database:\n  host: h\n  database: app_§\n".to_string(),
                "database.database",
                3,
            ),
            (
                "database:\n  host: h\n  user: app§\n".to_string(),
                "database.user",
                3,
            ),
            (
                format!("{url}migration:\n  tracking_table: ledger_§\n"),
                "migration.tracking_table",
                3,
            ),
            (
                format!("{url}fleet:\n  targets:\n    - a\n    - tenant_§\n"),
                "fleet.targets",
                5,
            ),
            (
                format!("{url}fleet:\n  targets:\n    - postgresql://app@db2/§\n"),
                "fleet.targets",
                4,
            ),
            (
                format!("{url}fleet:\n  targets: [a, \"postgresql://§@db2/t\"]\n"),
                "fleet.targets",
                3,
            ),
            (
                format!("{url}fleet:\n  targets: §/tenants.txt\n"),
                "fleet.targets",
                3,
            ),
            (
                format!("{url}fleet:\n  targets_query: SELECT d FROM t WHERE d LIKE '§%'\n"),
                "fleet.targets_query",
                3,
            ),
        ];
        for (template, key, line) in &refused {
            let written = template.replace('§', &format!("${{{VAR}}}"));
            let err = Environment::parse(&written, path, &empty)
                .expect_err(&format!("accepted:\n{written}"));
            assert_eq!(err.kind, crate::ErrorKind::Invalid, "{written}");
            assert_eq!(
                err.message,
                format!(
                    "environment file db/environments/x.yaml, line {line}: `{key}` has a part \
                     left out: ${{{VAR}}} is set to an empty string"
                ),
                "{written}"
            );
            let help = err.help.unwrap_or_default();
            assert!(help.starts_with(&format!("set {VAR}")), "{written}: {help}");
            // With a default, as the help says, it is accepted.
            let explicit = template.replace('§', &format!("${{{VAR}:-1}}"));
            Environment::parse(&explicit, path, &empty)
                .unwrap_or_else(|e| panic!("{explicit}: the help's default is refused: {e}"));
        }
        // An explicit empty default inside a URL is taken as written.
        let env = Environment::parse(
            &format!("database_url: postgresql://app:${{{VAR}:-}}@h/db\n"),
            path,
            &empty,
        )
        .unwrap();
        assert_eq!(env.connection.password.as_deref(), Some(""));
        // Where an empty value is one, an empty part is too.
        for text in [
            format!("{url}application_name: deploy${{{VAR}}}\n"),
            format!("database:\n  host: h\n  password: pw${{{VAR}}}\n"),
        ] {
            Environment::parse(&text, path, &empty).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    /// Through a merge key (`<<: *base`), whether a value was quoted was not seen (hc2):
    /// `database: "0123"` written quoted in the anchored block was refused as the YAML 1.1
    /// octal 83. Quoted wherever the merge's anchors write it — in a block, inline on the
    /// anchor's line, through the block's own merge — it is text to both tools; unquoted
    /// there, or unquoted in one of several anchors, it is still refused.
    #[test]
    fn a_value_quoted_in_a_merged_anchor_is_text() {
        let tail = "  host: h\n  user: app\n";
        let taken = [
            "base: &base\n  database: \"0123\"\n  password: '0x10'\ndatabase:\n  <<: *base\n",
            "base: &base {database: \"0123\", password: '0x10'}\ndatabase:\n  <<: *base\n",
            "a: &a\n  database: \"0123\"\n  password: '0x10'\nb: &b\n  <<: *a\ndatabase:\n  <<: [*b]\n",
        ];
        for text in taken {
            let text = format!("{text}{tail}");
            let env = parse_x(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(env.connection.dbname, "0123", "{text}");
            assert_eq!(env.connection.password.as_deref(), Some("0x10"), "{text}");
        }
        let refused = [
            "base: &base\n  database: 0123\ndatabase:\n  <<: *base\n",
            "a: &a\n  database: 0123\nb: &b\n  database: \"0123\"\ndatabase:\n  <<: [*a, *b]\n",
            "a: &a\n  database: yes\ndatabase:\n  <<: *a\n",
        ];
        for text in refused {
            let text = format!("{text}{tail}");
            let err = parse_x(&text).expect_err(&text);
            assert!(
                err.message
                    .contains("`database.database` is not written on its key's line"),
                "{text}: {err}"
            );
        }
    }

    /// An alias (`database: *db`) was not followed to see whether its anchor quotes the value
    /// (hsm): `&db "0123"` written quoted was refused as the YAML 1.1 octal 83, wherever the
    /// anchor was — a key's value, an item of a block list, an entry of a flow list. Quoted
    /// at its anchor it is text to both tools; unquoted there it is still refused.
    #[test]
    fn a_value_quoted_at_the_anchor_an_alias_names_is_text() {
        let tail = "  host: h\n  user: app\n";
        for anchored in [
            "x: &db \"0123\"\nx-pw: &pw '0x10'\n",
            "x:\n  - &db \"0123\"\n  - &pw '0x10'\n",
            "x: [&db \"0123\", &pw '0x10']\n",
            "x: {a: &db \"0123\", b: [&pw '0x10']}\n",
        ] {
            let text = format!("{anchored}database:\n  database: *db\n  password: *pw\n{tail}");
            let env = parse_x(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(env.connection.dbname, "0123", "{text}");
            assert_eq!(env.connection.password.as_deref(), Some("0x10"), "{text}");
        }
        // An anchor in the same mapping.
        let text = format!("database:\n  database: &db \"0123\"\n  password: *db\n{tail}");
        let env = parse_x(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(env.connection.password.as_deref(), Some("0123"), "{text}");
        for anchored in [
            "x: &db 0123\n",
            "x:\n  - &db 0123\n",
            "x: [&db 0123]\n",
            // The last anchor of a name before the alias is the one it names.
            "x: [&db \"0123\"]\ny: [&db 0123]\n",
        ] {
            let text = format!("{anchored}database:\n  database: *db\n{tail}");
            let err = parse_x(&text).expect_err(&text);
            let line = anchored.lines().count() + 2;
            assert!(
                err.message.contains(&format!(
                    "line {line}: `database.database` is not written on its key's line (an alias, a \
                     merge, or a value on another line), and unquoted its text is, to confiture \
                     (Python) reading the file as YAML 1.1, the number 83"
                )),
                "{text}: {err}"
            );
        }
    }

    /// A file nested past the YAML parser's limit said "malformed YAML ... recursion limit
    /// exceeded" (hc2): neither what nests nor that a file of settings does not. Refused at
    /// the line where it passes `MAX_NESTING`, naming the top-level key, in block mappings,
    /// block lists, flow collections and under a tag alike; one level less is read.
    #[test]
    fn a_file_nested_too_deep_names_the_key_and_line() {
        let url = "database_url: postgresql://h/db\n";
        let block_maps = |levels: usize| {
            let mut text = format!("{url}seed:\n");
            for i in 1..levels {
                text.push_str(&format!("{}k{i}:\n", "  ".repeat(i)));
            }
            text.push_str(&format!("{}v: 1\n", "  ".repeat(levels)));
            text
        };
        let block_lists = |levels: usize| {
            let mut text = format!("{url}seed:\n");
            for i in 1..levels {
                text.push_str(&format!("{}-\n", "  ".repeat(i)));
            }
            text.push_str(&format!("{}- 1\n", "  ".repeat(levels)));
            text
        };
        let flow =
            |levels: usize| format!("{url}seed: {}{}\n", "[".repeat(levels), "]".repeat(levels));
        let tagged = |levels: usize| {
            format!(
                "{url}seed: !t {}{}\n",
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        // The top-level mapping is one level: `seed`'s value is the second.
        let deepest = MAX_NESTING - 1;
        let cases: [(&dyn Fn(usize) -> String, usize); 4] = [
            (&block_maps, deepest + 3),
            (&block_lists, deepest + 3),
            (&flow, 2),
            (&tagged, 2),
        ];
        for (file, line) in cases {
            let text = file(deepest + 1);
            let err = parse_x(&text).expect_err(&text);
            assert_eq!(err.kind, crate::ErrorKind::Invalid);
            assert_eq!(
                err.message,
                format!(
                    "environment file x.yaml, line {line}: `seed` nests mappings and lists more \
                     than {MAX_NESTING} deep; it was not read"
                ),
                "{text}"
            );
            assert!(
                err.help
                    .unwrap_or_default()
                    .starts_with("an environment file holds a few settings"),
                "{text}"
            );
            // Past the parser's own limit (128), the same refusal.
            let err = parse_x(&file(200)).unwrap_err();
            assert!(err.message.ends_with("deep; it was not read"), "{err}");
            // One level less is read (`seed` is confiture (Python)'s, kept for it).
            let text = file(deepest);
            parse_x(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    /// A `${VAR:-}` that is a whole host, port, user or database name of `database_url`
    /// (hc2): expanded to nothing, it left that part to libpq's default, so
    /// `postgresql://u@h/${DB:-}` connected to the database named as the user without a word.
    /// Refused before connecting (exit 5, naming the file, line and variable), whether the
    /// variable is unset or set to ""; a URL that does not write the part, a part only partly
    /// emptied and an empty password are taken as written. The legacy block refuses an empty
    /// value of these keys already.
    /// A key of the legacy `database:` block that a `${VAR:-}` emptied was refused as "empty
    /// (an empty string)", the variable unnamed: the message names it and the help says to set it.
    #[test]
    fn a_default_that_empties_a_key_of_the_database_block_is_named() {
        const VAR: &str = "CONFITURE_TEST_EMPTY_BLOCK_KEY";
        let path = Path::new("db/environments/x.yaml");
        let unset = |_: &str| None;
        for key in ["host", "database", "user"] {
            let text = format!(
                "database:\n  host: h\n  database: app\n  user: app\n  {key}: ${{{VAR}:-}}\n"
            )
            .replacen(
                &format!("  {key}: {}\n", if key == "host" { "h" } else { "app" }),
                "",
                1,
            );
            let err = Environment::parse(&text, path, &unset).expect_err(&text);
            assert_eq!(err.kind, crate::ErrorKind::Invalid, "{text}");
            assert!(
                err.message.contains(&format!(
                    "`database.{key}` is empty (${{{VAR}:-}} expanded to nothing)"
                )),
                "{text}: {}",
                err.message
            );
            let help = err.help.as_deref().unwrap_or_default();
            assert!(help.starts_with(&format!("set {VAR} ")), "{help}");
        }
        // Written empty, no variable: said as before.
        let text = "database:\n  host: \"\"\n  database: app\n  user: app\n";
        let err = Environment::parse(text, path, &unset).expect_err(text);
        assert!(
            err.message.contains("is empty (an empty string)"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_default_that_empties_a_whole_part_of_the_url_is_refused() {
        const VAR: &str = "CONFITURE_TEST_HC2_EMPTY";
        let path = Path::new("db/environments/x.yaml");
        let unset = |_: &str| None;
        let empty = |name: &str| (name == VAR).then(String::new);
        let refused = [
            ("postgresql://app@127.0.0.1:5432/§", "database name"),
            (
                "postgresql://app@127.0.0.1/§?sslmode=disable",
                "database name",
            ),
            ("postgresql://app@§/app", "host"),
            ("postgresql://app@§:5432/app", "host"),
            ("postgresql://app@h1,§/app", "host"),
            ("postgresql://app@h:§/app", "port"),
            ("postgresql://§@h/app", "user name"),
            ("postgresql://§:pw@h/app", "user name"),
            ("host=h user=app dbname='§'", "database name"),
        ];
        for (url, part) in refused {
            let text = format!(
                "# x\ndatabase_url: \"{}\"\n",
                url.replace('§', &format!("${{{VAR}:-}}"))
            );
            for vars in [&unset as &dyn Fn(&str) -> Option<String>, &empty] {
                let err =
                    Environment::parse(&text, path, vars).expect_err(&format!("accepted:\n{text}"));
                assert_eq!(err.kind, crate::ErrorKind::Invalid, "{text}");
                assert!(
                    err.message.starts_with(&format!(
                        "environment file db/environments/x.yaml, line 2: `database_url` has an \
                         empty {part}: ${{{VAR}:-}} expanded to nothing"
                    )),
                    "{text}: {}",
                    err.message
                );
            }
        }
        for url in [
            "postgresql://app@h",
            "postgresql://app@h/",
            "postgresql://app@h/app_§",
            "postgresql://app:§@h/app",
            "postgresql://app@h/app?application_name=§",
        ] {
            let text = format!(
                "database_url: \"{}\"\n",
                url.replace('§', &format!("${{{VAR}:-}}"))
            );
            Environment::parse(&text, path, &unset).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
        for key in ["host", "port", "database", "user"] {
            let text = format!("database:\n  {key}: \"${{{VAR}:-}}\"\n");
            let err = Environment::parse(&text, path, &unset).expect_err(&text);
            assert!(
                err.message.contains(&format!("`database.{key}` is empty")),
                "{err}"
            );
        }
    }

    /// A value left empty by a variable set to the empty string (a CI secret not defined for
    /// this environment): the help's every suggestion, applied as the help writes it, is
    /// accepted — setting the variable, each `${VAR...}` form it writes (`value` standing for
    /// a value of the key), and removing the key when it says so. `${VAR:-}` for a key that
    /// refuses an empty value sent the user from one refusal to the next.
    #[test]
    fn an_empty_variable_s_help_suggests_only_what_the_key_takes() {
        const VAR: &str = "CONFITURE_TEST_EMPTY";
        let url = "database_url: postgresql://h/db\n";
        // Each file with `@` where the value goes, and a value the key takes.
        let cases: Vec<(String, &str)> = vec![
            ("database_url: @\n".to_string(), "postgresql://h/db"),
            ("database:\n  host: @\n  database: app\n".to_string(), "h"),
            ("database:\n  host: h\n  port: @\n".to_string(), "5433"),
            ("database:\n  host: h\n  database: @\n".to_string(), "app"),
            ("database:\n  host: h\n  user: @\n".to_string(), "app"),
            (
                "database:\n  host: h\n  password: @\n".to_string(),
                "secret",
            ),
            (
                "database:\n  host: h\n  sslmode: @\n".to_string(),
                "require",
            ),
            (format!("{url}application_name: @\n"), "deploy"),
            (format!("{url}migration:\n  tracking_table: @\n"), "ledger"),
            (format!("{url}migration:\n  lock_timeout: @\n"), "5s"),
            (format!("{url}migration:\n  statement_timeout: @\n"), "1min"),
            (format!("{url}migration:\n  connect_timeout: @\n"), "10s"),
            (format!("{url}migration:\n  wait_for_server: @\n"), "1min"),
            (format!("{url}migration:\n  lock_retries: @\n"), "3"),
            (format!("{url}fleet:\n  targets_query: @\n"), "SELECT 'a'"),
            (format!("{url}fleet:\n  schemas_query: @\n"), "SELECT 'a'"),
            (format!("{url}fleet:\n  targets: [a]\n  jobs: @\n"), "2"),
        ];
        let path = Path::new("x.yaml");
        let empty = |name: &str| (name == VAR).then(String::new);
        for (template, valid) in &cases {
            let written = template.replace('@', &format!("\"${{{VAR}}}\""));
            let err = Environment::parse(&written, path, &empty)
                .expect_err(&format!("accepted:\n{written}"));
            assert!(
                err.message
                    .contains(&format!("is empty: ${{{VAR}}} is set to an empty string")),
                "{written}: {err}"
            );
            let help = err.help.unwrap_or_default();
            assert!(help.starts_with(&format!("set {VAR}")), "{written}: {help}");
            let set = |name: &str| (name == VAR).then(|| valid.to_string());
            Environment::parse(&written, path, &set)
                .unwrap_or_else(|e| panic!("{written} with {VAR}={valid}: {e}"));
            let forms: Vec<&str> = help
                .match_indices("${")
                .filter_map(|(at, _)| Some(&help[at..at + help[at..].find('}')? + 1]))
                .collect();
            assert!(!forms.is_empty(), "{written}: {help}");
            for form in forms {
                let applied = form.replace(":-value}", &format!(":-{valid}}}"));
                let text = template.replace('@', &format!("\"{applied}\""));
                Environment::parse(&text, path, &empty)
                    .unwrap_or_else(|e| panic!("{text}: the help's `{form}` is refused: {e}"));
            }
            if help.contains("remove the key") {
                let text: String = template
                    .lines()
                    .filter(|l| !l.contains('@'))
                    .map(|l| format!("{l}\n"))
                    .collect();
                Environment::parse(&text, path, &empty)
                    .unwrap_or_else(|e| panic!("{text}: the help's key removed is refused: {e}"));
            }
        }
    }

    #[test]
    fn a_variable_that_is_not_utf8_is_named_as_such() {
        // What `process_vars` returns for a value that is not UTF-8.
        let vars = |name: &str| (name == "PW").then(|| "a\u{FFFD}b".to_string());
        assert_eq!(
            expand("x${PW}y", &vars, Emptied::AnyPart),
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

    /// A URL put where the legacy block's database name goes (a mistyped scheme, or no scheme)
    /// was taken for a name and shown, password included, in the `using` line and errors.
    #[test]
    fn a_url_in_the_legacy_database_name_is_refused_never_shown() {
        // The host and the user too: `host: "postgresql://app:s3cret@db/app"` was shown,
        // password included. A user name may hold `@` (Azure's `user@server`), not `://`.
        for (key, value) in [
            ("database", "postgresq://u:hunter2@h/db"),
            ("database", "u:hunter2@h/db"),
            ("host", "postgresql://app:hunter2@db/app"),
            ("host", "u:hunter2@127.0.0.1"),
            ("host", "h:5432/db?password=hunter2://"),
            ("user", "postgresql://app:hunter2@db/app"),
            // libpq's key=value pairs, `password=` among them, were shown too.
            ("database", "host=h password=hunter2"),
            ("host", "h password=hunter2"),
            ("user", "postgres password=hunter2"),
        ] {
            for text in [
                format!("database:\n  port: 5432\n  {key}: \"{value}\"\n"),
                format!("database: {{port: 5432, {key}: \"{value}\"}}\n"),
            ] {
                let err = Environment::parse(&text, Path::new("db/environments/x.yaml"), &no_vars)
                    .unwrap_err();
                let all = format!("{err:?}");
                assert!(!all.contains("hunter2"), "{all}");
                assert!(
                    err.message
                        .contains(&format!("`database.{key}` looks like a connection URL")),
                    "{err}"
                );
                assert!(err.help.unwrap().contains("database_url"));
            }
        }
        let env =
            parse_x("database:\n  host: db.postgres.database.azure.com\n  user: app@myserver\n")
                .unwrap();
        assert_eq!(env.connection.user, "app@myserver");
    }

    /// N5: a file naming no database with a near miss of one of our keys (`migratoin:`) said
    /// the near miss twice: as its own problem, at its line, and again under "names no
    /// database". Each near miss is said once, at its line; the missing database is a problem
    /// of its own (none when the near miss is of `database_url` or `database`: it is why).
    #[test]
    fn a_near_miss_is_said_once_when_the_file_names_no_database() {
        let near_misses = [
            ("databse_url: postgresql://h/db\n", "databse_url", false),
            ("databse:\n  host: h\n", "databse", false),
            ("migratoin:\n  lock_timeout: 1s\n", "migratoin", true),
            ("aplication_name: bot\n", "aplication_name", true),
            ("fleat:\n  jobs: 2\n", "fleat", true),
        ];
        for (near, key, no_database) in near_misses {
            for text in [
                near.to_string(),
                format!("name: x\n{near}"),
                format!("database_url: ~\n{near}"),
            ] {
                let err = parse_x(&text).unwrap_err();
                let said = |lines: &mut dyn Iterator<Item = &String>| {
                    lines
                        .map(|line| line.matches(&format!("`{key}`")).count())
                        .sum::<usize>()
                };
                let in_text = said(
                    &mut std::iter::once(&err.message)
                        .chain(&err.details)
                        .chain(&err.help),
                );
                assert_eq!(in_text, 1, "{text:?}: {err:?}");
                let Reason::EnvironmentFile(found) = err.reason() else {
                    panic!("{text:?}: {err:?}");
                };
                let in_problems =
                    said(&mut found.problems.iter().flat_map(|p| {
                        std::iter::once(&p.message).chain(&p.details).chain(&p.help)
                    }));
                assert_eq!(in_problems, 1, "{text:?}: {err:?}");
                assert_eq!(
                    err.details
                        .iter()
                        .any(|line| line.contains("names no database")),
                    no_database,
                    "{text:?}: {err:?}"
                );
            }
        }
    }

    /// `aplication_name:` and `migraton:` were ignored without a word: the settings under them
    /// did not hold. A key close to one of ours is refused; other unknown keys (confiture's
    /// other features') are still ignored.
    #[test]
    fn a_misspelled_top_level_key_is_refused_and_others_are_ignored() {
        for (text, key, known) in [
            (
                "aplication_name: bot\n",
                "aplication_name",
                "application_name",
            ),
            ("migraton:\n  lock_timeout: 1s\n", "migraton", "migration"),
        ] {
            let err = Environment::parse(
                &format!("database_url: postgresql://h/db\n{text}"),
                Path::new("db/environments/x.yaml"),
                &no_vars,
            )
            .unwrap_err();
            assert!(
                err.message.contains(&format!("`{key}` is not a setting")),
                "{err}"
            );
            assert_eq!(
                err.help.as_deref(),
                Some(format!("did you mean `{known}`?").as_str())
            );
        }
        for text in [
            "include_dirs: [a]\nseed: x\nbuild: {}\nname: prod\n",
            "whatever_else: 1\n",
        ] {
            Environment::parse(
                &format!("database_url: postgresql://h/db\n{text}"),
                Path::new("db/environments/x.yaml"),
                &no_vars,
            )
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        }
        // A block naming no database suggests the close key, never the key itself.
        let err = parse_x("database:\n").unwrap_err();
        assert!(
            !err.details
                .iter()
                .any(|d| d.contains("did you mean `database`")),
            "{err:?}"
        );
    }

    /// `dbname:` and `username:` in the legacy block were ignored unless close to one of our
    /// keys (the connection went to the `postgres` database, as `postgres`), and libpq's
    /// parameters at the top level (`sslmode: require`) were ignored: every key of the block
    /// that is not read, and every libpq name at the top level, is refused at its line with
    /// where it goes.
    #[test]
    fn unread_database_keys_and_top_level_connection_parameters_are_refused() {
        for (text, line, key, help) in [
            (
                "database:\n  host: h\n  dbname: app\n",
                3,
                "database.dbname",
                "`database.database`",
            ),
            (
                "database:\n  username: app\n",
                2,
                "database.username",
                "`database.user`",
            ),
            (
                "database:\n  hostname: h\n",
                2,
                "database.hostname",
                "`database.host`",
            ),
            (
                "database:\n  passwd: x\n",
                2,
                "database.passwd",
                "`database.password`",
            ),
            (
                "database: {host: h, db: app}\n",
                1,
                "database.db",
                "`database.database`",
            ),
            (
                "database:\n  target_session_attrs: read-write\n",
                2,
                "database.target_session_attrs",
                "?target_session_attrs=VALUE",
            ),
            (
                "database:\n  options: -c x=1\n",
                2,
                "database.options",
                "`database_url`",
            ),
            (
                "database:\n  connect_timeout: 3\n",
                2,
                "database.connect_timeout",
                "`migration.connect_timeout` (`migration:` then `  connect_timeout: ...`), with \
                 a unit (`10s`)",
            ),
            (
                "database:\n  tracking_table: t\n",
                2,
                "database.tracking_table",
                "`migration.tracking_table`",
            ),
            (
                "database:\n  lock_timeout: 1s\n",
                2,
                "database.lock_timeout",
                "`migration.lock_timeout`",
            ),
            (
                "database:\n  application_name: bot\n",
                2,
                "database.application_name",
                "is set at the top level of the file",
            ),
            (
                "database:\n  keepalives: 1\n",
                2,
                "database.keepalives",
                "does not support",
            ),
            (
                "database:\n  hots: h\n",
                2,
                "database.hots",
                "`database.host`",
            ),
            (
                "database:\n  whatever: 1\n",
                2,
                "database.whatever",
                "reads host, port",
            ),
            (
                "database_url: postgresql://h/db\nsslmode: require\n",
                2,
                "sslmode",
                "?sslmode=VALUE",
            ),
            (
                "database_url: postgresql://h/db\ntarget_session_attrs: primary\n",
                2,
                "target_session_attrs",
                "`database_url`",
            ),
            (
                "database_url: postgresql://h/db\noptions: x\n",
                2,
                "options",
                "`database_url`",
            ),
            (
                "host: h\nport: 5433\n",
                1,
                "host",
                "as `host` in the `database:` block",
            ),
            (
                "database_url: postgresql://h/db\ndbname: app\n",
                2,
                "dbname",
                "as `database` in the `database:` block",
            ),
            (
                "database_url: postgresql://h/db\nuser: app\n",
                2,
                "user",
                "`database_url`",
            ),
            (
                "database_url: postgresql://h/db\npassword: x\n",
                2,
                "password",
                "`database_url`",
            ),
            (
                "database_url: postgresql://h/db\nsslrootcert: /ca.pem\n",
                2,
                "sslrootcert",
                "`database_url`",
            ),
            (
                "database_url: postgresql://h/db\nconnect_timeout: 3\n",
                2,
                "connect_timeout",
                "`migration.connect_timeout`",
            ),
            (
                "database_url: postgresql://h/db\nmigration_table: t\n",
                2,
                "migration_table",
                "move it under `migration:` as `migration.tracking_table`",
            ),
            (
                "database_url: postgresql://h/db\ntracking_table: t\n",
                2,
                "tracking_table",
                "`migration.tracking_table`",
            ),
            (
                "database_url: postgresql://h/db\nlock_retries: 3\n",
                2,
                "lock_retries",
                "`migration.lock_retries`",
            ),
            (
                "database_url: postgresql://h/db\ndbname: app\n",
                2,
                "dbname",
                "postgresql://user@host:5432/DBNAME (the URL's path)",
            ),
            (
                "database_url: postgresql://h/db\npassword: x\n",
                2,
                "password",
                "postgresql://user:PASSWORD@host:5432/dbname",
            ),
            (
                "database_url: postgresql://h/db\nport: 5433\n",
                2,
                "port",
                "postgresql://user@host:PORT/dbname",
            ),
            (
                "database_url: postgresql://h/db\nkeepalives: 1\n",
                2,
                "keepalives",
                "does not support",
            ),
        ] {
            let err = parse_x(text).unwrap_err();
            // A file without a database has that problem too: the key's is one of them.
            let (message, shown) = match err.reason() {
                Reason::EnvironmentFile(found) if found.problems.len() > 1 => {
                    let problem = found
                        .problems
                        .iter()
                        .find(|p| p.key.as_deref() == Some(key))
                        .unwrap_or_else(|| panic!("{text}: {err} {:?}", err.details));
                    let at = problem
                        .line
                        .map(|l| format!(", line {l}"))
                        .unwrap_or_default();
                    (
                        format!("environment file x.yaml{at}: {}", problem.message),
                        problem.help.clone().unwrap_or_default(),
                    )
                }
                _ => (err.message.clone(), err.help.clone().unwrap_or_default()),
            };
            assert!(
                message.starts_with(&format!("environment file x.yaml, line {line}: `{key}` ")),
                "{text}: {message}"
            );
            assert!(shown.contains(help), "{text}: {shown}");
            // A key with a place of its own is never sent to a query parameter.
            if ["dbname", "password", "host", "port", "user"].contains(&key)
                || key.contains("timeout")
                || key.contains("tracking_table")
                || key.contains("application_name")
            {
                assert!(!shown.contains("=VALUE"), "{text}: {shown}");
            }
        }
        // Every key the block reads, and Python's top-level keys, still are.
        let env = parse_x(
            "name: x\nseed: {}\ndatabase:\n  host: h\n  port: 5433\n  database: app\n  \
             user: u\n  password: p\n  sslmode: disable\n",
        )
        .unwrap();
        assert_eq!(env.connection.to_string(), "u@h:5433/app");
    }

    /// Top-level keys that only hold anchors (docker-compose's `x-database: &db`, GitLab CI's
    /// `.defaults: &d`) were refused as misspellings of `database`; Python accepts them. Keys
    /// starting with `x-`, `.` or `_` are ignored; real near-misses are still refused.
    #[test]
    fn keys_that_hold_anchors_are_ignored() {
        let env = parse_x(
            "x-database: &db {host: dbhost, port: 5433}\n.defaults: &d {lock_timeout: 9s}\n\
             _database: &u {user: app}\nx-databse: 1\n\
             database:\n  <<: [*db, *u]\n  database: app\nmigration:\n  <<: *d\n",
        )
        .unwrap();
        assert_eq!(env.connection.to_string(), "app@dbhost:5433/app");
        assert_eq!(env.migration.lock_timeout, Duration::from_secs(9));
        // A file naming no database does not suggest them either.
        let err = parse_x("x-database: &db {host: h}\n").unwrap_err();
        assert!(err.details.is_empty(), "{err:?}");
        for key in ["migrations", "databases", "database-url", "xdatabase"] {
            let err =
                parse_x(&format!("database_url: postgresql://h/db\n{key}: {{}}\n")).unwrap_err();
            assert!(
                err.message.contains(&format!("`{key}` is not a setting")),
                "{key}: {err}"
            );
        }
    }

    /// Merge keys (`<<: *anchor`) were kept as an ordinary key and ignored (PyYAML applies
    /// them): the migration settings and the legacy block's host and user were the defaults.
    #[test]
    fn merge_keys_are_applied_as_pyyaml_does() {
        let env = parse_x(
            "base: &b\n  lock_timeout: 7s\n  tracking_table: ops.ledger\n\
             d: &d {host: dbhost, user: app, port: 5433}\n\
             more: &m {<<: *d, database: appdb}\n\
             database:\n  <<: *m\n  port: 6000\n\
             migration: {<<: *b, lock_timeout: 9s}\n",
        )
        .unwrap();
        // Written keys win over merged ones; a merged mapping's own merge is applied.
        assert_eq!(env.connection.to_string(), "app@dbhost:6000/appdb");
        assert_eq!(env.migration.lock_timeout, Duration::from_secs(9));
        assert_eq!(env.migration.tracking_table.to_string(), "ops.ledger");
        // A list of mappings: the first one's keys win.
        let env = parse_x(
            "a: &a {host: first}\nb: &b {host: second, database: two, user: u}\n\
             database:\n  <<: [*a, *b]\n",
        )
        .unwrap();
        assert_eq!(env.connection.to_string(), "u@first:5432/two");
        // Several merge keys in one mapping, which PyYAML applies (its `flatten_mapping`):
        // a later merge wins over an earlier one, written keys over both.
        let env = parse_x(
            "a: &a {host: a1, port: 1}\nb: &b {host: b1, user: b}\nc: &c {host: c1, database: c}\n\
             database:\n  <<: [*a, *b]\n  <<: *c\n",
        )
        .unwrap();
        assert_eq!(env.connection.to_string(), "b@c1:1/c");
        let env = parse_x(
            "a: &a {host: a1, port: 1, user: a}\nb: &b {host: b1, user: b}\n\
             database:\n  <<: *a\n  user: w\n  <<: *b\n  database: d\n\
             migration: {<<: {lock_timeout: 1s}, <<: {lock_timeout: 2s}}\n",
        )
        .unwrap();
        assert_eq!(env.connection.to_string(), "w@b1:1/d");
        assert_eq!(env.migration.lock_timeout, Duration::from_secs(2));
        // Any other key written twice beside them is still refused, at its line.
        let err =
            parse_x("a: &a {host: a1}\ndatabase:\n  <<: *a\n  host: h\n  <<: *a\n  host: i\n")
                .unwrap_err();
        assert_eq!(
            err.message,
            "environment file x.yaml, line 6: `database.host` is set twice (first at line 4)"
        );
        // A merge of something that is not a mapping is refused at its line.
        for (text, line, key) in [
            (
                "s: &s text\ndatabase_url: postgresql://h/db\nmigration:\n  <<: *s\n",
                4,
                "migration.<<",
            ),
            (
                "database_url: postgresql://h/db\nmigration: {<<: [1]}\n",
                2,
                "migration.<<",
            ),
            (
                "database_url: postgresql://h/db\nx:\n  - a: 1\n    <<: 2\n",
                4,
                "x.<<",
            ),
        ] {
            let err = parse_x(text).unwrap_err();
            assert!(
                err.message.starts_with(&format!(
                    "environment file x.yaml, line {line}: `{key}` cannot be merged"
                )),
                "{text}: {err}"
            );
        }
    }

    /// Unquoted numbers for string settings were rewritten by the parser: `database: 0x10`
    /// connected to `16`, `password: 12.50` sent `12.5`. They are taken as written, in block
    /// and flow style, comments after them left out; where the text cannot be found (a key
    /// brought by a merge) a number that is not an integer is refused.
    #[test]
    fn numbers_are_taken_as_written() {
        // Only texts YAML 1.1 reads as themselves: confiture (Python) reads these keys too
        // (a_value_confiture_reads_as_another_under_yaml_1_1_is_refused).
        for written in ["1e3", "0o17", "5432", "1.5", "-7", "08", "True"] {
            for text in [
                format!(
                    "database:\n  host: h\n  database: {written}\n  password: {written}   # c\n"
                ),
                format!("database: {{host: h, database: {written}, password: {written}}}\n"),
                format!("database:\n  \"database\": {written}\n  'password': {written}\n"),
            ] {
                let env = parse_x(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
                assert_eq!(env.connection.dbname, written, "{text}");
                assert_eq!(env.connection.password.as_deref(), Some(written), "{text}");
            }
        }
        // An anchor is not part of the value; a tagged or aliased number is not plain text.
        let env = parse_x("database:\n  host: h\n  password: &pw 1.5\n").unwrap();
        assert_eq!(env.connection.password.as_deref(), Some("1.5"));
        // A tag is named (a_tagged_scalar_on_its_key_s_line_is_read_as_pyyaml_reads_it).
        let err = parse_x("database:\n  host: h\n  database: !!int 0x10\n").unwrap_err();
        assert!(
            err.message
                .contains("line 3: `database.database` is written with the tag `!!int`"),
            "{err}"
        );
        let err = parse_x("x: &pw 12.50\ndatabase:\n  host: h\n  password: *pw\n").unwrap_err();
        assert!(
            err.message
                .contains("line 4: `database.password` is a number"),
            "{err}"
        );
        let env = parse_x("database:\n  host: h\n  port: 5433\n  password: 1234\n  user: True\n")
            .unwrap();
        assert_eq!(env.connection.port, 5433);
        assert_eq!(env.connection.password.as_deref(), Some("1234"));
        assert_eq!(env.connection.user, "True");
        // Brought by a merge: refused with help to quote (see
        // a_text_setting_whose_number_is_not_written_on_its_line_is_refused).
        let err = parse_x("d: &d {password: 12.50}\ndatabase:\n  <<: *d\n  host: h\n").unwrap_err();
        assert!(
            err.message
                .contains("`database.password` is a number whose text cannot be kept"),
            "{err}"
        );
        assert!(err.help.unwrap().starts_with("quote it"));
    }

    /// `password: !!str 0123` was refused as "not written on its key's line": the text of a
    /// tagged scalar was not found. `!!str` (or its verbatim form) makes the scalar its text to
    /// PyYAML as to us, whatever it reads as untagged: taken, for every text key, anchored or
    /// not. Any other tag where text is meant (`!!int 0123`, PyYAML's 83; `!!binary`, bytes; a
    /// tag of one's own) is refused at its line, naming the tag.
    #[test]
    fn a_tagged_scalar_on_its_key_s_line_is_read_as_pyyaml_reads_it() {
        let keys = [
            (
                "database.password",
                "database:\n  host: h\n  password: V   # c\n",
                3,
            ),
            ("database.user", "database: {host: h, user: V}\n", 1),
            (
                "database.database",
                "database:\n  host: h\n  database: V\n",
                3,
            ),
            (
                "migration.tracking_table",
                "database_url: postgresql://h/db\nmigration:\n  tracking_table: V\n",
                3,
            ),
        ];
        for (key, template, line) in keys {
            for (written, text) in [
                ("!!str 0123", "0123"),
                ("!!str yes", "yes"),
                ("!!str on", "on"),
                ("!!str \"0123\"", "0123"),
                ("&a !!str 0123", "0123"),
                ("!<tag:yaml.org,2002:str> 0123", "0123"),
            ] {
                // A table's name does not start with a digit.
                if key == "migration.tracking_table" && text.starts_with('0') {
                    continue;
                }
                let yaml = template.replace('V', written);
                let env = parse_x(&yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
                let read = match key {
                    "database.password" => env.connection.password.clone().unwrap_or_default(),
                    "database.user" => env.connection.user.clone(),
                    "database.database" => env.connection.dbname.clone(),
                    _ => env.migration.tracking_table.to_string(),
                };
                assert!(read.trim_matches('"').ends_with(text), "{yaml}: {read}");
            }
            for (written, tag) in [
                ("!!int 123", "!!int"),
                ("!!binary aGk=", "!!binary"),
                ("!mine x", "!mine"),
            ] {
                let yaml = template.replace('V', written);
                let err = parse_x(&yaml).expect_err(&yaml);
                assert!(
                    err.message.starts_with(&format!(
                        "environment file x.yaml, line {line}: `{key}` is written with the tag \
                         `{tag}`"
                    )),
                    "{yaml}: {err}"
                );
            }
        }
    }

    /// confiture (Python) reads the file with PyYAML, YAML 1.1: `password: 0123` is the octal
    /// 83 there, `port: 05432` 2842, `user: yes` `True`, `12_345` 12345, `1:30` 90. We took
    /// the text as written, so the two tools logged in with different passwords or reached
    /// different ports and databases, silently. Every key confiture reads too refuses a value
    /// whose YAML 1.1 meaning is not its text, at its line, with help to quote it; quoted, or
    /// the same to both (`5432`, `1e3`, `0o17`, `True`), it is taken.
    #[test]
    fn a_value_confiture_reads_as_another_under_yaml_1_1_is_refused() {
        let keys = [
            (
                "database.password",
                "database:\n  host: h\n  password: V   # c\n",
                3,
            ),
            ("database.user", "database: {host: h, user: V}\n", 1),
            (
                "database.database",
                "database:\n  host: h\n  database: V\n",
                3,
            ),
            ("database.host", "database:\n  database: d\n  host: V\n", 3),
            ("database.port", "database:\n  host: h\n  port: V\n", 3),
            (
                "migration.tracking_table",
                "database_url: postgresql://h/db\nmigration:\n  tracking_table: V\n",
                3,
            ),
        ];
        for written in [
            "0123",
            "05432",
            "0x1F",
            "12_345",
            "1:30",
            "+5",
            "-0",
            "12.50",
            ".5",
            "1.",
            "yes",
            "on",
            "off",
            "true",
            "No",
            "2001-12-14T21:59:43Z",
            "1.0e+3",
            "0b101",
        ] {
            for (key, template, line) in keys {
                let name = key.rsplit('.').next().unwrap();
                let text = template.replace('V', written);
                let err = parse_x(&text).expect_err(&format!("{written} accepted in\n{text}"));
                assert!(
                    err.message
                        .starts_with(&format!("environment file x.yaml, line {line}: `{key}` "))
                        && err.message.contains("YAML 1.1"),
                    "{text}: {err}"
                );
                let help = err.help.clone().unwrap();
                if name == "password" {
                    assert!(!err.message.contains(&format!("`{written}`")), "{err}");
                    assert!(help.contains("`password: \"...\"`"), "{help}");
                } else {
                    assert!(help.contains(&format!("`{name}: \"{written}\"`")), "{help}");
                }
                // Quoted, it is text to both tools.
                for quoted in [format!("\"{written}\""), format!("'{written}'")] {
                    let text = template.replace('V', &quoted);
                    if key == "database.port"
                        || key == "migration.tracking_table"
                        || (key == "database.host" && written.contains(':'))
                    {
                        continue; // text that is no port, table or host name: refused on its own
                    }
                    parse_x(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
                }
            }
        }
        // The same text to both tools: taken.
        for written in [
            "s3cret",
            "1e3",
            "0o17",
            "08",
            "1.5",
            "-7",
            "True",
            "2001-12-14",
        ] {
            let text = format!("database:\n  host: h\n  password: {written}\n  user: {written}\n");
            let env = parse_x(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(env.connection.password.as_deref(), Some(written));
            assert_eq!(env.connection.user, written);
        }
        let env = parse_x("database:\n  host: h\n  port: 5433\n").unwrap();
        assert_eq!(env.connection.port, 5433);
        // A tracking table that is no string to YAML 1.1 is no name to confiture, even when
        // its `str()` is the same (`True`): it falls back to `tb_confiture`.
        let err = parse_x("database_url: postgresql://h/db\nmigration:\n  tracking_table: True\n")
            .unwrap_err();
        assert!(err.message.contains("tb_confiture"), "{err}");
        // A string not on its key's line may have been written unquoted: refused when YAML
        // 1.1 reads that text otherwise.
        let err = parse_x("database:\n  host: h\n  user:\n    yes\n").unwrap_err();
        assert!(
            err.message
                .contains("`database.user` is not written on its key's line"),
            "{err}"
        );
        // A URL (it may hold a password) is not shown either.
        let err = parse_x("database_url: 0123\n").unwrap_err();
        assert!(!err.message.contains("`0123`"), "{err}");
        // Keys confiture does not read keep the text as written.
        let env = parse_x("database_url: postgresql://h/db\napplication_name: 0123\n").unwrap();
        assert_eq!(env.application_name, "0123");
    }

    /// Where the written text of an unquoted number or boolean could not be found (an alias,
    /// a value on the next line, an explicit `? key`, a merge, a multi-line flow mapping, a
    /// flow list of fleet targets), an integer fell back to its decimal value: password `0x10`
    /// sent `16`, fleet target `0x10` ran against database `16`, `True` became `true`. A text
    /// setting is refused at its line with help to quote it; numeric settings keep their value.
    #[test]
    fn a_text_setting_whose_number_is_not_written_on_its_line_is_refused() {
        let settings = [
            ("database.password", "database:\n  host: h\n  password: V\n"),
            ("database.user", "database:\n  host: h\n  user: V\n"),
            ("database.database", "database:\n  host: h\n  database: V\n"),
            ("database.host", "database:\n  database: d\n  host: V\n"),
            (
                "application_name",
                "database_url: postgresql://h/db\napplication_name: V\n",
            ),
            (
                "migration.tracking_table",
                "database_url: postgresql://h/db\nmigration:\n  tracking_table: V\n",
            ),
            (
                "fleet.targets",
                "database_url: postgresql://h/db\nfleet:\n  targets:\n    - V\n",
            ),
        ];
        for written in ["0x10", "0o17", "+5", "-0", "True", "12.50"] {
            for (key, template) in settings {
                let name = key.rsplit('.').next().unwrap();
                let ways = [
                    // An alias to an anchor written elsewhere.
                    format!("a: &v {written}\n{}", template.replace('V', "*v")),
                    // The value on the line after its key.
                    template.replace(": V", &format!(":\n      {written}")),
                    // A merge of a mapping holding it.
                    format!(
                        "m: &m {{{name}: {written}}}\n{}",
                        template.replace(&format!("{name}: V"), "<<: *m")
                    ),
                ];
                for text in ways {
                    if !text.contains(written) || text.contains(": V") || text.contains("- V") {
                        continue; // not a way this setting can be written (a list item)
                    }
                    let err = parse_x(&text).expect_err(&format!("{written} accepted in\n{text}"));
                    assert!(
                        err.message.contains(&format!("`{key}` is a "))
                            && err.message.contains("cannot be kept as written"),
                        "{text}: {err}"
                    );
                    assert!(err.help.unwrap().starts_with("quote it"), "{text}");
                }
            }
            for text in [
                // An explicit key, a multi-line flow mapping (a flow list of targets keeps
                // its texts: a_target_of_a_flow_list_written_as_a_number_keeps_its_text).
                format!("database:\n  host: h\n  ? password\n  : {written}\n"),
                format!("database: {{host: h, password:\n  {written}}}\n"),
            ] {
                let err = parse_x(&text).expect_err(&format!("{written} accepted in\n{text}"));
                assert!(
                    err.message.contains("cannot be kept as written"),
                    "{text}: {err}"
                );
            }
        }
        // Numeric settings take the value wherever it is written.
        let env = parse_x(
            "p: &p 0x1538\nr: &r 7\nj: &j 4\nt: &t 0\n\
             database:\n  host: h\n  port: *p\n\
             migration:\n  lock_retries: *r\n  lock_timeout:\n    *t\n\
             fleet:\n  targets: [a]\n  jobs: *j\n",
        )
        .unwrap();
        assert_eq!(env.connection.port, 0x1538);
        assert_eq!(env.migration.lock_retries, 7);
        assert_eq!(env.migration.lock_timeout, Duration::ZERO);
        assert_eq!(env.fleet.unwrap().jobs, Some(4));
    }

    /// `application_name` from the file was not checked as the URL's is: a NUL reached the
    /// connection (exit 3, "string contains embedded null"), and 20,000 characters made the
    /// server close it. Both forms go through one rule: a NUL is refused at its line, a long
    /// name is cut to the 63 bytes the server keeps, at a character boundary.
    #[test]
    fn application_name_is_checked_as_in_a_url() {
        let long = "x".repeat(20_000);
        let accents = "é".repeat(40);
        for (written, kept) in [
            (long.as_str(), "x".repeat(63)),
            (accents.as_str(), "é".repeat(31)),
            ("deploy-bot", "deploy-bot".to_string()),
        ] {
            let from_file = parse_x(&format!(
                "database_url: postgresql://h/db\napplication_name: {written}\n"
            ))
            .unwrap();
            assert_eq!(from_file.application_name, kept);
            let from_url = parse_x(&format!(
                "database_url: postgresql://h/db?application_name={written}\n"
            ))
            .unwrap();
            assert_eq!(from_url.application_name, kept);
        }
        let err = parse_x("database_url: postgresql://h/db\n\napplication_name: \"a\\0b\"\n")
            .unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::INVALID);
        assert!(
            err.message.starts_with(
                "environment file x.yaml, line 3: `application_name` is invalid: the \
                 application_name contains a NUL character"
            ),
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

    /// A key written twice was reported where the parser says its mapping starts (line 1 for
    /// the top level), not at the second occurrence: top level, nested, in a list item, quoted,
    /// after comments and a block scalar.
    #[test]
    fn a_repeated_key_is_named_at_its_second_line_with_its_first() {
        for (text, line, key, first) in [
            ("database_url: a\n\ndatabase_url: b\n", 3, "database_url", 1),
            (
                "# c\ndatabase_url: postgresql://h/db\nmigration:\n  lock_timeout: 1s\n  \
                 statement_timeout: |\n    lock_timeout: 9s\n  # c\n  lock_timeout: 2s\n",
                8,
                "migration.lock_timeout",
                4,
            ),
            (
                "database_url: postgresql://h/db\nfleet:\n  jobs: 2\n  \"jobs\": 3\n",
                4,
                "fleet.jobs",
                3,
            ),
            (
                "database_url: postgresql://h/db\nx:\n  - name: a\n    name: b\n",
                4,
                "name",
                3,
            ),
            // An explicit key (`? key`, its value on the `: ` line after it).
            (
                "? database_url\n: postgresql://h/db\n? database_url\n: postgresql://h/db\n",
                3,
                "database_url",
                1,
            ),
            (
                "database_url: postgresql://h/db\n# x\n? \"database_url\"  # again\n: x\n",
                3,
                "database_url",
                1,
            ),
            (
                "database_url: postgresql://h/db\nmigration:\n  lock_timeout: 5s\n  ? lock_timeout\n  : 6s\n",
                4,
                "migration.lock_timeout",
                3,
            ),
        ] {
            let err = parse_x(text).unwrap_err();
            assert_eq!(
                err.message,
                format!(
                    "environment file x.yaml, line {line}: `{key}` is set twice (first at line \
                     {first})"
                ),
                "{text}"
            );
        }
        // Keys in different mappings, or items of a list, are not repeated keys.
        parse_x("database_url: postgresql://h/db\nx:\n  - name: a\n  - name: b\ny:\n  name: c\n")
            .unwrap();
    }

    /// A character YAML does not allow (a NUL byte, an escape, DEL, a C1 control) was reported
    /// at line 1, column 1, the parser's byte offset in its message: it is named at its own
    /// line and column (in characters), by its code point.
    #[test]
    fn a_character_yaml_forbids_is_named_at_its_line_and_column() {
        for (text, line, column, code) in [
            ("database_url: x\0\n", 1, 16, "U+0000"),
            ("a: 1\nb: \"\u{e9}\u{e9}\" \u{1b}\n", 2, 9, "U+001B"),
            ("# \u{e9}\n# \u{7f}\ndatabase_url: x\n", 2, 3, "U+007F"),
            ("database_url: x\n  # \u{80}\n", 2, 5, "U+0080"),
        ] {
            let err = parse_x(text).unwrap_err();
            assert_eq!(
                err.message,
                format!(
                    "malformed YAML in environment file x.yaml at line {line}, column {column}"
                ),
                "{text:?}"
            );
            let cause = err.cause().unwrap_or_default();
            assert!(cause.contains(code), "{text:?}: {cause}");
            assert!(!cause.contains("position"), "{text:?}: {cause}");
        }
        // What YAML allows is read as before: tabs, CR LF, any printable character.
        let env = parse_x("database_url: postgresql://h/d\u{e9}\t# \u{a0}\u{fffd}\u{10000}\r\n");
        assert!(env.is_ok(), "{env:?}");
    }

    /// A key written twice in a flow mapping got the generic "malformed YAML" help: it is named
    /// as set twice, as in block style, with the line where its mapping starts (the parser
    /// gives no line of the key itself).
    #[test]
    fn a_key_repeated_in_a_flow_mapping_is_named() {
        for (text, line, key) in [
            (
                "database_url: postgresql://h/db\nmigration: {lock_timeout: 5s, lock_timeout: 6s}\n",
                2,
                "migration.lock_timeout",
            ),
            (
                "database_url: postgresql://h/db\nfleet:\n  x: [{a: 1}, {b: 1, \"b\": 2}]\n",
                3,
                "fleet.x.b",
            ),
            ("{database_url: a, database_url: b}\n", 1, "database_url"),
            (
                "database: {host: h,\n  host: i}\n",
                1,
                "database.host",
            ),
        ] {
            let err = parse_x(text).unwrap_err();
            assert_eq!(
                err.message,
                format!(
                    "environment file x.yaml: `{key}` is set twice (in the mapping that starts \
                     at line {line})"
                ),
                "{text}"
            );
            assert_eq!(
                err.help.as_deref(),
                Some("keep one of them: a key may appear once in its mapping")
            );
        }
        // Other syntax errors keep their own report.
        let err =
            parse_x("database_url: postgresql://h/db\nmigration: {lock_timeout: 5s\n").unwrap_err();
        assert!(err.message.starts_with("malformed YAML"), "{err}");
    }

    /// Errors about keys name their line, at any depth, in flow style, and brought by a merge.
    #[test]
    fn key_errors_name_their_line() {
        for (text, line, key) in [
            ("database_url: postgresql://h/db\napplication_name: [1]\n", 2, "application_name"),
            (
                "database_url: postgresql://h/db\nmigration:\n  lock_retries: 1\n  lock_timeout: x\n",
                4,
                "migration.lock_timeout",
            ),
            (
                "database_url: postgresql://h/db\n\nmigration: {lock_timeout: x}\n",
                3,
                "migration.lock_timeout",
            ),
            ("database:\n  host: h\n  port: no\n", 3, "database.port"),
            // A byte-order mark before the first key, and a line with letters of more than
            // one byte before its colon (which once panicked the search).
            (
                "\u{feff}application_name: [1]\ndatabase_url: postgresql://h/db\n",
                1,
                "application_name",
            ),
            (
                "database_url: postgresql://h/db\nmigration:\n  \"été\": 1\n  ç:\n  lock_timeout: x\n",
                5,
                "migration.lock_timeout",
            ),
            // A value a merge key brought (`<<: *base`), at any depth: at the merge's line
            // (it was named with the file alone, no line to look at).
            (
                "base: &base\n  host: h\n  database: 0123\ndatabase:\n  user: u\n  <<: *base\n",
                6,
                "database.database",
            ),
            (
                "m: &m\n  lock_timeout: x\ndatabase_url: postgresql://h/db\nmigration:\n  <<: *m\n",
                5,
                "migration.lock_timeout",
            ),
        ] {
            let err = parse_x(text).unwrap_err();
            assert!(
                err.message
                    .starts_with(&format!("environment file x.yaml, line {line}: `{key}` ")),
                "{text}: {err}"
            );
        }
    }

    /// A `database:` block with `sslcert` and no `sslkey` (or the reverse) was refused with no
    /// help: it says which key to add, as the block writes it.
    #[test]
    fn a_client_certificate_without_its_key_says_which_key_to_add() {
        for (text, add) in [
            (
                "database:\n  host: h\n  sslcert: /x.crt\n",
                "`sslkey: /path/to/client.key`",
            ),
            (
                "database:\n  host: h\n  sslkey: /x.key\n",
                "`sslcert: /path/to/client.crt`",
            ),
        ] {
            let err = parse_x(text).unwrap_err();
            let help = err.help.clone().unwrap_or_default();
            assert!(help.contains(add), "{text}: {err} / {help}");
        }
    }

    /// A database or user name beginning or ending with a space or a line break was taken as
    /// written: a URL folded over two lines in YAML (`.../app` then `?sslmode=...` on the
    /// next line) named the database `"app "`, a `database: |` block scalar `"app\n"`, and
    /// `up --create-database` created it (exit 0) instead of migrating `app`. Refused
    /// wherever a connection is written (an environment file's URL or `database:` block,
    /// `--database-url`), naming the key (the `database:` block) and its line.
    #[test]
    fn a_name_beginning_or_ending_with_blanks_is_refused() {
        for (text, line, key) in [
            (
                "database_url: postgresql://h/app\n  ?sslmode=disable\n",
                1,
                "database_url",
            ),
            ("database_url: postgresql://h/\n  app\n", 1, "database_url"),
            // The block's connection errors name the block, as its other ones do.
            (
                "database:\n  host: h\n  database: |\n    app\n",
                1,
                "database",
            ),
            ("database:\n  host: h\n  user: \" app\"\n", 1, "database"),
            ("database_url: host=h dbname='app\t'\n", 1, "database_url"),
        ] {
            let err = parse_x(text).unwrap_err();
            assert!(
                err.message
                    .starts_with(&format!("environment file x.yaml, line {line}: `{key}` ")),
                "{text}: {err}"
            );
            assert!(
                err.message.contains("space or a line break"),
                "{text}: {err}"
            );
        }
        for url in ["postgresql://h/app%20", "postgresql://%0Aapp@h/app"] {
            let err = super::super::syntax::parse_spec(url).unwrap_err();
            assert!(err.contains("space or a line break"), "{url}: {err}");
        }
        // Inside a name, a space is the name's own.
        let env = parse_x("database_url: postgresql://h/my%20app\n").unwrap();
        assert_eq!(env.connection.dbname, "my app");
    }

    /// Every problem of a file was a detail of its error: 5,000 unknown `fleet:` keys printed
    /// 10,000 lines (a 4 MB JSON document). The message lists the first
    /// [`crate::display::MAX_LISTED`] problems, then how many more, as every long list does;
    /// the error's data (`Reason::EnvironmentFile`) keeps them all.
    #[test]
    fn a_file_of_many_problems_lists_the_first_ones() {
        let mut text = String::from("database_url: postgresql://h/db\nfleet:\n");
        for i in 0..100 {
            text.push_str(&format!("  k{i}: 1\n"));
        }
        let err = parse_x(&text).unwrap_err();
        assert_eq!(err.message, "environment file x.yaml has 100 problems");
        let listed = crate::display::MAX_LISTED;
        let lines: Vec<&String> = err
            .details
            .iter()
            .filter(|d| d.starts_with("line "))
            .collect();
        assert_eq!(lines.len(), listed, "{:?}", err.details);
        assert_eq!(
            lines[listed - 1],
            &format!(
                "line {}: `fleet.k{}` is not a setting",
                listed + 2,
                listed - 1
            )
        );
        assert_eq!(
            err.details.last().map(String::as_str),
            Some(format!("... and {} more", 100 - listed).as_str())
        );
        let Reason::EnvironmentFile(found) = err.reason() else {
            panic!("{err}")
        };
        assert_eq!(found.problems.len(), 100);
    }

    /// A key's line was searched from the top of the file once per key: a file of 10,000
    /// unknown `fleet:` keys (350 kB, under the 1 MiB cap) took tens of seconds to refuse,
    /// 60,000 over two minutes. The lines are read once, each block's keys found once.
    #[test]
    fn the_lines_of_many_keys_are_found_in_linear_time() {
        let mut text = String::from("database_url: postgresql://h/db\nfleet:\n");
        for i in 0..10_000 {
            text.push_str(&format!("  k{i}: 1\n"));
        }
        let started = Instant::now();
        let err = parse_x(&text).unwrap_err();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "took {took:?}");
        let Reason::EnvironmentFile(found) = err.reason() else {
            panic!("{err}")
        };
        assert_eq!(found.problems.len(), 10_000);
        let last = &found.problems[9_999];
        assert_eq!(
            (last.key.as_deref(), last.line),
            (Some("fleet.k9999"), Some(10_002))
        );
    }

    /// `-c <(sops -d prod.yaml)` and `-c /dev/stdin` were refused as "not a regular file" (to
    /// stop a hang on a FIFO nobody writes to). Pipes and character devices are read on a
    /// helper thread, given up after a wait that the error names; sockets stay refused.
    #[cfg(unix)]
    #[test]
    fn pipes_and_devices_are_read_and_given_up_on_when_silent() {
        let dir = std::env::temp_dir().join(format!("cft-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("env.yaml");
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Nobody writes: given up after the wait.
        let started = std::time::Instant::now();
        let read = read_stream(&fifo, MAX_FILE_BYTES, Duration::from_millis(300));
        assert!(matches!(read, Err(ReadError::TimedOut)), "{read:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // The thread left waiting gets its writer, then its end: no file is left open.
        std::fs::write(&fifo, "").unwrap();
        // A writer that comes later: read through the whole file.
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                std::fs::write(&fifo, "database_url: postgresql://h/from_pipe\n").unwrap();
            })
        };
        let env = Environment::from_file(&fifo, &no_vars).unwrap();
        writer.join().unwrap();
        assert_eq!(env.connection.dbname, "from_pipe");
        // A character device: /dev/null is read, to its empty end; /dev/zero to the cap.
        let err = Environment::from_file(Path::new("/dev/null"), &no_vars).unwrap_err();
        assert!(err.message.ends_with("/dev/null is empty"), "{err}");
        let err = Environment::from_file(Path::new("/dev/zero"), &no_vars).unwrap_err();
        assert!(err.message.contains("is larger than 1024 KiB"), "{err}");
        // A socket is no file of settings.
        let socket = dir.join("env.sock");
        let _ = std::fs::remove_file(&socket);
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let err = Environment::from_file(&socket, &no_vars).unwrap_err();
        assert!(err.message.contains("is not a regular file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An environment file that is a pipe nobody finishes writing, or a socket, was helped
    /// in the command line's shell form whoever read it: a library caller
    /// (`Migrator::from_config`) was told `` `Migrator::from_config <(sops -d f.yaml)` `` and
    /// `-c <(...)`, neither of which a program can write. The example is the command line's
    /// alone ([`Labels::piped_file`]); a library's help names its calls and no flag.
    #[cfg(unix)]
    #[test]
    fn a_pipe_or_socket_environment_files_help_is_worded_for_its_caller() {
        let tmp = confiture_test_support::TempDir::new("env_pipe_help");
        let fifo = tmp.path().join("env.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let socket = tmp.path().join("env.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let command_line = Labels {
            url: "--database-url",
            env: "--env",
            file: "-c",
        };
        for labels in [Labels::LIBRARY, command_line] {
            let wait = Duration::from_millis(200);
            let timed_out = read_text_within(&fifo, &labels, wait).unwrap_err();
            assert!(
                timed_out.message.contains("did not reach its end"),
                "{timed_out}"
            );
            // The thread left waiting gets its writer, then its end.
            std::fs::write(&fifo, "").unwrap();
            let refused = read_text_within(&socket, &labels, wait).unwrap_err();
            assert!(refused.message.contains("not a regular file"), "{refused}");
            for help in [timed_out.help, refused.help] {
                let help = help.unwrap_or_default();
                assert!(help.contains(&format!("to {},", labels.file)), "{help}");
                match labels == Labels::LIBRARY {
                    true => {
                        assert!(!help.contains("<("), "{help}");
                        assert!(!help.contains("-c"), "{help}");
                    }
                    false => assert!(help.contains("`-c <(sops -d f.yaml)`"), "{help}"),
                }
            }
        }
    }

    /// A byte-order mark (Windows editors write one) is no part of the YAML: with a second
    /// line the parser took the file for two documents and refused it.
    #[test]
    fn reads_a_file_that_starts_with_a_byte_order_mark() {
        let env = Environment::parse(
            "\u{feff}database_url: postgresql://postgres@localhost/app\napplication_name: deploy\n",
            Path::new("db/environments/x.yaml"),
            &no_vars,
        )
        .unwrap();
        assert_eq!(env.connection.to_string(), "postgres@localhost:5432/app");
        assert_eq!(env.application_name, "deploy");
    }

    #[test]
    fn reads_a_minimal_file() {
        let env = Environment::parse(
            "database_url: postgresql://postgres@localhost/app\n",
            Path::new("db/environments/x.yaml"),
            &no_vars,
        )
        .unwrap();
        assert_eq!(env.name, "x");
        assert_eq!(env.connection.to_string(), "postgres@localhost:5432/app");
        assert_eq!(env.migration, MigrationSettings::default());
        assert_eq!(env.application_name, DEFAULT_APPLICATION_NAME);
    }

    /// An alias bomb ("billion laughs": anchors holding aliases of anchors) was "malformed YAML
    /// ...: repetition limit exceeded", told to check the syntax, which is fine: it says what
    /// is wrong (the aliases' expansion), names the file and what to do, at any size that
    /// reaches the parser's limit; aliases used as meant still parse, and another error
    /// without a position (a second document) keeps its own words.
    #[test]
    fn an_alias_bomb_is_named_as_such_with_the_file() {
        for (levels, width) in [(9, 9), (6, 10), (4, 30)] {
            let mut text = String::from("database_url: postgresql://h/db\n");
            text.push_str(&format!("l0: &l0 [{}]\n", vec!["\"x\""; width].join(",")));
            for level in 1..levels {
                let alias = format!("*l{}", level - 1);
                text.push_str(&format!(
                    "l{level}: &l{level} [{}]\n",
                    vec![alias.as_str(); width].join(",")
                ));
            }
            let err = parse_x(&text).unwrap_err();
            let aliases = (levels - 1) * width;
            assert!(
                err.message.starts_with(&format!(
                    "environment file x.yaml was not read: its {aliases} aliases (`*name`) \
                     expand past the YAML parser's limit"
                )),
                "{levels}x{width}: {err}"
            );
            assert!(
                err.help.as_deref().is_some_and(|h| h.starts_with(
                    "an environment file holds a few settings: \
                                                    check that x.yaml is the file you meant"
                )),
                "{err:?}"
            );
            assert_eq!(err.exit_code(), crate::exit::INVALID);
        }
        let shared = "database_url: postgresql://h/db\nbase: &base\n  lock_timeout: 7s\n\
                      migration:\n  <<: *base\n";
        assert_eq!(
            parse_x(shared).unwrap().migration.lock_timeout,
            std::time::Duration::from_secs(7)
        );
        let two = parse_x("database_url: postgresql://h/db\nbase: &b 1\nx: *b\n---\na: 1\n");
        assert!(
            two.unwrap_err()
                .message
                .starts_with("environment file x.yaml, line 4: a second YAML document"),
            "a second document is not an alias bomb"
        );
    }

    /// A second YAML document was "malformed YAML ...: deserializing from YAML containing
    /// more than one document is not supported", with no line and the generic syntax help. It
    /// is named at the line that starts it — a `---` (after a first one that opened the first
    /// document, or after an empty first document), or the first line after a `...` — with
    /// what to do; a `---` that only opens the file, and a `...` that only ends it, are one
    /// document.
    #[test]
    fn a_second_document_is_named_at_its_line() {
        let url = "database_url: postgresql://h/db";
        for (text, line, starts) in [
            (format!("{url}\n---\nx: 1\n"), 2, "`---`"),
            (format!("# c\n---\n{url}\n\n--- \nx: 1\n"), 5, "`---`"),
            (format!("{url}\r\n---\r\n"), 2, "`---`"),
            ("---\n---\n".to_string(), 2, "`---`"),
            (format!("{url}\n...\n# c\n\nx: 1\n"), 5, "after the `...`"),
            (format!("{url}\n...\n%YAML 1.1\n---\nx: 1\n"), 4, "`---`"),
        ] {
            let err = parse_x(&text).unwrap_err();
            assert!(
                err.message.starts_with(&format!(
                    "environment file x.yaml, line {line}: a second YAML document starts here"
                )) && err.message.contains(starts),
                "{text:?}: {err}"
            );
            assert!(
                err.help
                    .as_deref()
                    .is_some_and(|h| h.starts_with("keep one document")),
                "{err:?}"
            );
            assert_eq!(err.exit_code(), crate::exit::INVALID);
        }
        for one in [
            format!("---\n{url}\n"),
            format!("{url}\n...\n"),
            format!("%YAML 1.1\n---\n{url}\n...\n# end\n"),
            format!("{url}\nx: |\n  ---\n  ...\n"),
        ] {
            assert!(parse_x(&one).is_ok(), "{one:?}");
        }
        // The first document's own error comes first, as the parser reads it first.
        let err = parse_x(&format!("{url}\n{url}\n---\nx: 1\n")).unwrap_err();
        assert!(err.message.contains("is set twice"), "{err}");
    }

    /// YAML ends a line at a LF, a CRLF and a lone CR (`b-break`; the parser and PyYAML
    /// count them so), as [`crate::text::is_line_break`] does: a file written with lone CRs
    /// (old Mac line endings) or CRLFs reads as the same file written with LFs — every
    /// problem at the same line, with the same key, the same source line — where the lines
    /// found by indentation were counted by LF alone (line 1 for everything, the keys of
    /// nested blocks not found). So do the NEL, LS and PS YAML 1.1 ends lines at too (the
    /// parser counted them, our lines did not: an error after one named the line before).
    #[test]
    fn lone_cr_and_crlf_line_endings_name_the_lines_lf_ones_do() {
        let url = "database_url: postgresql://h/db";
        for text in [
            format!("{url}\nmigration:\n  tracking_table: pg_temp.tb\n"),
            format!("{url}\nmigration:\n  lock_timeout: 5\n  trackng_table: t\n"),
            format!("# a comment\n{url}\nmigration:\n  tracking_table: [a, b\n"),
            format!("{url}\n\napplication_name: \"a\\0b\"\n"),
            format!("{url}\n---\n{url}\n"),
            format!("{url}\nfleet:\n  targets:\n    - a\n  jobs: 0\n"),
            format!("{url}\nmigration:\n  tracking_table: 12\n"),
        ] {
            let lf = format!("{:?}", parse_x(&text).expect_err(&text));
            for ending in ["\r", "\r\n", "\u{85}", "\u{2028}", "\u{2029}"] {
                let other = text.replace('\n', ending);
                let got = format!("{:?}", parse_x(&other).expect_err(&other));
                assert_eq!(got, lf, "{other:?}");
            }
        }
        let env = parse_x(&format!("{url}\rmigration:\r  tracking_table: ops.tb\r")).unwrap();
        assert_eq!(env.migration.tracking_table.to_string(), "ops.tb");
    }
}
