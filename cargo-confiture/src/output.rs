//! Where and how things are printed: results on stdout (table or one JSON document), progress
//! and diagnostics on stderr, colour only on a terminal (honouring `NO_COLOR` and `--color`).
//! A closed pipe (`| head`) is not an error. Any other failed write of a result (a full
//! disk, an I/O error, a stdout closed when the process started: [`crate::stdio`]) is kept,
//! and the run ends with it ([`Output::settle`]).
//!
//! Text from outside (names, versions, paths, messages that quote them) reaches the terminal
//! through [`confiture::display`]: control characters escaped, paths relative to the current
//! directory. Suggested commands repeat the user's selection ([`confiture::hint::Invocation`]).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use confiture::config::Environment;
use confiture::fleet::{FleetReport, TargetReport};
use confiture::hint::{self, Invocation};
use confiture::migrate::ReportedError;
use confiture::{display, exit, Diagnostic, Error, ErrorKind, Reason};
use serde::Serialize;

use crate::cli::{Cli, Color, FleetArgs, Format, ListGiven};
use crate::render::{self, Paint};

/// ANSI styles used by the renderers.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    Green,
    Yellow,
    Red,
    Bold,
    Cyan,
    Blue,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Green => "32",
            Style::Yellow => "33",
            Style::Red => "31",
            Style::Bold => "1",
            Style::Cyan => "36",
            Style::Blue => "1;34",
        }
    }
}

#[derive(Clone)]
pub struct Output {
    pub format: Format,
    color_stdout: bool,
    color_stderr: bool,
    quiet: bool,
    /// stderr is a terminal that takes cursor codes (not `TERM=dumb`, [`redraws`]): live
    /// progress lines may be redrawn in place.
    pub stderr_is_terminal: bool,
    /// What every suggested command repeats: how this run chose its database and directory.
    invocation: Invocation,
    /// The tenant schema of a single `--schema` run, which its JSON document names.
    schema: Option<String>,
    /// The first write of a result to stdout that failed, not on a closed pipe: shared by
    /// every clone, read once the run has ended ([`Output::settle`]).
    stdout_failed: Arc<OnceLock<StdoutFailure>>,
}

/// Why a result could not be written to stdout.
#[derive(Debug)]
enum StdoutFailure {
    /// The process was started with stdout closed (`>&-`, [`crate::stdio`]).
    Closed,
    /// A write failed (`> /dev/full`, an I/O error).
    Write(std::io::Error),
    /// The document could not be made (serde refused a value): nothing was written.
    Json(serde_json::Error),
}

impl std::fmt::Display for StdoutFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StdoutFailure::Closed => f.write_str("stdout was closed when the command started"),
            StdoutFailure::Write(e) => e.fmt(f),
            StdoutFailure::Json(e) => write!(f, "its JSON document could not be made: {e}"),
        }
    }
}

/// The arguments that chose the database and the migrations directory, as a suggested command
/// must repeat them: a URL is replaced by a placeholder (it may hold a password). A fleet's
/// list on the command line (`--targets FILE`, `--targets-query`, `--schemas-query`) too, so
/// that every help of a fleet run — its refusals before the list is read as much as its
/// targets' errors — suggests commands on the fleet, never on the environment's own database.
pub fn invocation(cli: &Cli) -> Invocation {
    invocation_choosing(cli, None)
}

/// [`invocation`] for a run on the one target `chosen` that its list of one target
/// (`baseline`/`reinit --targets-query SQL`, ...) chose: a list a suggested command cannot
/// repeat as given ([`repeatable`]: a query, a pipe) gives way to that target
/// ([`Invocation::choosing`]).
pub fn invocation_choosing(cli: &Cli, chosen: Option<hint::OneTarget>) -> Invocation {
    let global = &cli.global;
    let mut database = Vec::new();
    if global.database_url.is_some() {
        database = vec!["--database-url".to_string(), "<URL>".to_string()];
    } else if let Some(env) = &global.env {
        database = vec!["--env".to_string(), env.clone()];
    } else if let Some(file) = &global.config {
        database = vec!["-c".to_string(), file_word(file, "<FILE>")];
    }
    // `baseline`/`reinit --targets FILE` (`--targets-query`, `--schemas-query`): that list is
    // how this run chose its one database or tenant schema — once read, the target it chose
    // when the list cannot be pasted.
    let mut chose = None;
    if let Some(list) = cli.one_target_list() {
        match chosen.filter(|_| !repeatable(list)) {
            Some(target) => chose = Some(target),
            None => database.extend(list_words(list)),
        }
    }
    let mut files = Vec::new();
    if let Some(package) = &global.package {
        files.extend(["-p".to_string(), package.clone()]);
    }
    if let Some(manifest) = &global.manifest_path {
        files.extend([
            "--manifest-path".to_string(),
            hint::path_word(manifest, "<PATH>"),
        ]);
    }
    if let Some(dir) = &global.migrations_dir {
        files.extend([
            "--migrations-dir".to_string(),
            hint::path_word(dir, "<DIR>"),
        ]);
    }
    let invocation = Invocation {
        database,
        files,
        fleet: cli
            .fleet_args()
            .and_then(FleetArgs::list)
            .map(list_words)
            .unwrap_or_default(),
        dry_run: cli.dry_run(),
        chosen: chose,
        ..Invocation::default()
    };
    match &global.schema {
        Some(schema) => invocation.with_schema(schema),
        None => invocation,
    }
}

/// Whether a suggested command can repeat `list` as the command line gave it: a regular file
/// named by its path. Not a query (`<SQL>`: long, and run again it may return another target)
/// nor a list read from a pipe (`<LIST>`, [`file_word`]).
fn repeatable(list: ListGiven<'_>) -> bool {
    match list {
        ListGiven::File(file) => names_a_regular_file(file),
        ListGiven::TargetsQuery(_) | ListGiven::SchemasQuery(_) => false,
    }
}

/// How a suggested command repeats the command line's target list.
fn list_words(list: ListGiven<'_>) -> Vec<String> {
    let word = match list {
        ListGiven::File(file) => file_word(file, hint::LIST_PLACEHOLDER),
        // A placeholder: the query may be long, and quoting it for every shell is not worth
        // the risk.
        ListGiven::TargetsQuery(_) | ListGiven::SchemasQuery(_) => "<SQL>".to_string(),
    };
    vec![list.flag().to_string(), word]
}

/// A file named on the command line as a suggested command repeats it: as given when it is a
/// regular file, else `placeholder` — a pipe (`-c <(sops -d prod.yaml)`, `--targets
/// <(list-tenants)`: `/dev/fd/63`, `/proc/self/fd/N`, `/dev/stdin`) is gone once read. A path
/// that names one of this process's descriptors ([`names_a_descriptor`]) is the placeholder
/// whatever it points at: `--targets /dev/stdin < tenants.txt` reads a regular file, but pasted
/// later the same path reads the terminal, or whatever that script's stdin is then.
fn file_word(file: &Path, placeholder: &str) -> String {
    if names_a_regular_file(file) {
        hint::path_word(file, placeholder)
    } else {
        placeholder.to_string()
    }
}

/// Whether `file` is a regular file that a later command reading the same path reads again:
/// not a pipe, nor a path naming one of this process's descriptors ([`names_a_descriptor`]).
fn names_a_regular_file(file: &Path) -> bool {
    !names_a_descriptor(file) && std::fs::metadata(file).is_ok_and(|m| m.is_file())
}

/// Whether `file`, or a symbolic link on its way, names an open descriptor of the process
/// that reads it: `/dev/stdin` (`/dev/stdout`, `/dev/stderr`), `/dev/fd/N`, `/proc/self/fd/N`
/// (`/proc/thread-self/fd/N`, `/proc/PID/fd/N`).
fn names_a_descriptor(file: &Path) -> bool {
    use std::path::Component;
    let Ok(mut path) = std::path::absolute(file) else {
        return false;
    };
    // Links followed by hand (a bounded chain, as the kernel's): canonicalizing would resolve
    // `/proc/self/fd/0` to the file it has open.
    for _ in 0..40 {
        let names: Vec<&str> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(name.to_str().unwrap_or("")),
                _ => None,
            })
            .collect();
        let descriptor = match names.as_slice() {
            ["dev", "stdin" | "stdout" | "stderr"] | ["dev", "fd", _] => true,
            ["proc", process, "fd", _] => {
                matches!(*process, "self" | "thread-self")
                    || process.chars().all(|c| c.is_ascii_digit())
            }
            _ => false,
        };
        if descriptor {
            return true;
        }
        match std::fs::read_link(&path) {
            Ok(target) => {
                path = match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            Err(_) => return false,
        }
    }
    false
}

/// Whether the variable `name` is set to something other than nothing.
fn is_set(var: &dyn Fn(&str) -> Option<String>, name: &str) -> bool {
    var(name).is_some_and(|v| !v.is_empty())
}

/// The process environment's variable `name`, for [`wants_color`] and [`redraws`].
fn process_var(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// A terminal that takes no escape codes (`TERM=dumb`: Emacs' shell, some CI logs).
fn is_dumb(var: &dyn Fn(&str) -> Option<String>) -> bool {
    var("TERM").as_deref() == Some("dumb")
}

/// The one rule of colour codes on a stream (`is_terminal`: it is one). `--color always` and
/// `never` decide; `auto` follows the conventions: `NO_COLOR` (set, not empty) turns colour
/// off, whatever else is set; `CLICOLOR_FORCE` (set, not `0`) turns it on even when piped;
/// `TERM=dumb` and `CLICOLOR=0` turn it off on a terminal.
fn wants_color(choice: Color, is_terminal: bool, var: &dyn Fn(&str) -> Option<String>) -> bool {
    match choice {
        Color::Always => true,
        Color::Never => false,
        Color::Auto if is_set(var, "NO_COLOR") => false,
        Color::Auto
            if is_set(var, "CLICOLOR_FORCE") && var("CLICOLOR_FORCE").as_deref() != Some("0") =>
        {
            true
        }
        Color::Auto => is_terminal && !is_dumb(var) && var("CLICOLOR").as_deref() != Some("0"),
    }
}

/// Whether a live line on stderr may be redrawn in place (`\r`, erase to the end of the
/// line): on a terminal that takes those codes (not `TERM=dumb`).
fn redraws(is_terminal: bool, var: &dyn Fn(&str) -> Option<String>) -> bool {
    is_terminal && !is_dumb(var)
}

impl Output {
    pub fn new(cli: &Cli) -> Output {
        let global = &cli.global;
        let stderr_is_terminal = std::io::stderr().is_terminal();
        let var = &process_var;
        Output {
            format: global.format,
            color_stdout: wants_color(global.color, std::io::stdout().is_terminal(), var),
            color_stderr: wants_color(global.color, stderr_is_terminal, var),
            quiet: global.quiet,
            stderr_is_terminal: redraws(stderr_is_terminal, var),
            invocation: invocation(cli),
            schema: global.schema.clone(),
            stdout_failed: Arc::default(),
        }
    }

    /// A single run's report (one database, or one tenant `--schema`) as its JSON document,
    /// with a `schema` key after the report's own: the tenant schema, `null` for a whole
    /// database, as each of a fleet's `targets` entries has it.
    pub fn report_json<T: Serialize>(&self, report: &T) {
        #[derive(Serialize)]
        struct Single<'a, T> {
            #[serde(flatten)]
            report: &'a T,
            schema: Option<&'a str>,
        }
        self.json(&Single {
            report,
            schema: self.schema.as_deref(),
        });
    }

    /// This output for a run on `env`, the session's environment, which the command line `cli`
    /// chose with a list of one target (`baseline`/`reinit --schemas-query SQL`: `chosen`,
    /// [`invocation_choosing`]) or without one: its JSON document's `schema` is `env`'s tenant
    /// schema — `--schema`'s, or the one the list chose, which the command line alone does not
    /// say — and its suggested commands address that target.
    pub fn on(&self, cli: &Cli, env: &Environment, chosen: Option<hint::OneTarget>) -> Output {
        let mut out = self.clone();
        out.schema = env.migration.tenant_schema.clone();
        if chosen.is_some() {
            out.invocation = invocation_choosing(cli, chosen).with_settings_of(env);
        }
        out
    }

    /// This output for a run on the one database of `env` with the migrations of `dir` (as
    /// shown: relative to the current directory): the confiture (Python) commands its helps
    /// suggest act on them too ([`Invocation::with_python_of`]).
    pub fn with_python_of(&self, env: &Environment, dir: &std::path::Path) -> Output {
        let mut out = self.clone();
        out.invocation = self.invocation.clone().with_python_of(env, Some(dir));
        out
    }

    /// `error` with the confiture (Python) commands of its help and details completed for
    /// this output's run ([`Invocation::render_python_commands`]), for an error this output
    /// does not render itself: the command line's last renderer knows no run's database, and
    /// would leave them bare (acting on `db/environments/local.yaml`).
    pub fn with_python_commands(&self, mut error: Error) -> Error {
        for line in error.help.iter_mut().chain(&mut error.details) {
            if let std::borrow::Cow::Owned(done) = self.invocation.render_python_commands(line) {
                *line = done;
            }
        }
        error
    }

    /// This output rendering a fleet run on `env`'s servers: a suggested command that addresses
    /// one of its databases by `--database-url <URL>` says which of `env`'s settings it loses
    /// ([`Invocation::with_settings_of`]); one target's confiture (Python) commands name the
    /// migrations directory `dir`, and `env`'s file for its own database
    /// ([`Invocation::in_fleet_of`]).
    pub fn in_fleet(&self, env: &Environment, dir: &std::path::Path) -> Output {
        let mut out = self.clone();
        out.invocation = self.invocation.clone().in_fleet_of(env, Some(dir));
        out
    }

    /// This output rendering the text of one target of a fleet: its suggested commands that
    /// act on one target address that target ([`Invocation::for_target`]).
    pub fn for_target(&self, target: &TargetReport) -> Output {
        let mut out = self.clone();
        out.invocation = self.invocation.for_target(target.addressed());
        out
    }

    /// A fleet's one JSON document: each entry of its `targets` array rendered as that
    /// target's text (a tenant schema's entry names it in `schema`), so that the commands in a
    /// target's error address it, as the table's error lines do; `errors`, when given, the
    /// document's own (`status`: the errors of the files every target read, once).
    pub fn json_targets(
        &self,
        report: &FleetReport,
        errors: Option<Vec<confiture::migrate::ReportedError>>,
    ) {
        let Ok(mut doc) = serde_json::to_value(report) else {
            return self.json(report);
        };
        if let (Some(errors), Some(fields)) = (errors, doc.as_object_mut()) {
            let mut errors = match serde_json::to_value(errors) {
                Ok(errors) => errors,
                Err(e) => {
                    // As [`Output::stdout_json`]: no document rather than one without them.
                    let _ = self.stdout_failed.set(StdoutFailure::Json(e));
                    return;
                }
            };
            render_strings(&mut errors, &self.invocation);
            fields.insert("errors".to_string(), errors);
        }
        if let Some(entries) = doc.get_mut("targets").and_then(|t| t.as_array_mut()) {
            for (entry, target) in entries.iter_mut().zip(&report.targets) {
                render_strings(entry, &self.invocation.for_target(target.addressed()));
            }
        }
        // Rendered once: the rest of a fleet's document suggests no command.
        self.stdout_json(&doc, |text| text);
    }

    /// A help or hint line: control characters escaped, and every suggested command repeating
    /// how this run chose its database.
    pub fn hint(&self, text: &str) -> String {
        // Rendered first, escaped last: the repeated arguments (`-c FILE`) come from outside too.
        display::escape(&self.invocation.render(text)).into_owned()
    }

    /// A result's `text` with its suggested commands completed as [`Output::hint`] completes
    /// them, its lines kept (a report of several lines, names escaped by its writer): a
    /// command written by [`confiture::hint::command`] in a report must not name the default
    /// database when the run was on another.
    pub fn completed(&self, text: &str) -> String {
        self.invocation.render(text).into_owned()
    }

    /// An error's detail lines as its text shows them under its `error:` line: each with its
    /// suggested commands completed ([`Output::hint`]'s invocation), laid out by
    /// [`render::details`]. The one rendering of details: one database's error, and each
    /// failed target's of a fleet, cut to [`display::MAX_LISTED`] lines there
    /// ([`display::cut`]) so that many failed targets stay readable.
    pub fn details(&self, details: Vec<String>) -> String {
        let rendered: Vec<String> = details
            .iter()
            .map(|d| self.invocation.render(d).into_owned())
            .collect();
        render::details(&rendered)
    }

    pub fn json_mode(&self) -> bool {
        self.format == Format::Json
    }

    /// Text styled for stdout.
    pub fn paint(&self, style: Style, text: &str) -> String {
        paint(self.color_stdout, style, text)
    }

    /// [`Output::paint`] written at the end of `out`: a table's cells without a string each.
    pub fn push_painted(&self, out: &mut String, style: Style, text: &str) {
        if self.color_stdout {
            out.push_str(&paint(true, style, text));
        } else {
            out.push_str(text);
        }
    }

    /// Text styled for stderr.
    pub fn paint_err(&self, style: Style, text: &str) -> String {
        paint(self.color_stderr, style, text)
    }

    /// A result line (or block) on stdout.
    pub fn result(&self, text: &str) {
        self.stdout(text);
    }

    /// The one JSON document of a `--format json` run, on stdout. Its suggested commands
    /// repeat how this run chose its database, as the text's do: a script that runs one must
    /// act on the same database.
    pub fn json<T: Serialize>(&self, value: &T) {
        self.stdout_json(value, |text| {
            self.invocation
                .render_escaped(&text, json_string_content)
                .into_owned()
        });
    }

    /// `value`'s JSON document, `finish`ed, on stdout; a document serde refuses is not written
    /// but kept for [`Output::settle`] as a write that failed: a run must never exit 0 without
    /// its report, nor print another document in its place.
    fn stdout_json<T: Serialize>(&self, value: &T, finish: impl FnOnce(String) -> String) {
        match json_text(value) {
            Ok(text) => self.stdout(&finish(text)),
            Err(e) => {
                let _ = self.stdout_failed.set(StdoutFailure::Json(e));
            }
        }
    }

    /// `text` and a newline on stdout, flushed: a write that fails, but on a closed pipe
    /// (`| head`), is kept for [`Output::settle`].
    fn stdout(&self, text: &str) {
        if !claim_stdout() {
            // A signal's thread holds it, and ends the process once its document is written.
            return;
        }
        if crate::stdio::stdout_was_closed() {
            // Its descriptor is `/dev/null` now: the write would succeed and lose it.
            let _ = self.stdout_failed.set(StdoutFailure::Closed);
            return;
        }
        if let Err(e) = write_line(&mut std::io::stdout().lock(), text) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                let _ = self.stdout_failed.set(StdoutFailure::Write(e));
            }
        }
    }

    /// **The** rule of a result that could not be written, once the run has ended with `code`:
    /// the run's effect stands, so the error says what `completed` did, and a success becomes
    /// [`exit::OUTPUT_FAILED`] — a script must not take a lost report for a good one. Any
    /// other code is the run's verdict on the database (a failure, `status`'s pending) and is
    /// kept; the error is said all the same. On stderr only: stdout is what failed.
    pub fn settle(&self, code: u8, completed: &str) -> u8 {
        let Some(failed) = self.stdout_failed.get() else {
            return code;
        };
        let help = match failed {
            StdoutFailure::Closed => {
                "nothing the command did is undone; run it with a stdout (`> /dev/null` to throw \
                 the result away) next time"
            }
            StdoutFailure::Write(_) => {
                "nothing the command did is undone; make room where stdout writes (or send it \
                 elsewhere) before the next run"
            }
            StdoutFailure::Json(_) => {
                "nothing the command did is undone; this is a bug of cargo-confiture: report it \
                 with the command that gave it"
            }
        };
        if code == exit::SUCCESS {
            let message = format!("{completed}; its result could not be written to stdout");
            let error = Error::new(ErrorKind::OutputFailed, message);
            self.error_text(&error.with_cause(failed).with_help(help));
            return exit::OUTPUT_FAILED;
        }
        let error = Error::new(
            ErrorKind::OutputFailed,
            "the run's result could not be written to stdout",
        )
        .with_cause(failed)
        .with_detail(format!("the exit code ({code}) is the run's own, kept"))
        .with_help(help);
        self.error_text(&error);
        code
    }

    /// A progress line on stderr, unless `--quiet`. On a terminal it replaces the line that
    /// [`Output::progress_inline`] left open.
    pub fn progress(&self, text: &str) {
        if !self.quiet {
            let clear = if self.stderr_is_terminal {
                "\r\x1b[K"
            } else {
                ""
            };
            // One write per line: stderr is unbuffered, and `up` may report thousands.
            let line = format!("{clear}{text}\n");
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }

    /// A live status line on a terminal (no newline): the next progress line replaces it.
    pub fn progress_inline(&self, text: &str) {
        if !self.quiet && self.stderr_is_terminal {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[K{text}");
            let _ = stderr.flush();
        }
    }

    /// A note on stderr that is shown even with `--quiet` (which database is used).
    pub fn note(&self, text: &str) {
        Output::note_line(text);
    }

    /// A `warning:` line on stderr, shown even with `--quiet`: the one form of every
    /// command's warnings, and the one rule for their text. `text` is given as it is (a
    /// server's `WARNING`, a name, a path in it): it is shown on one line, every control
    /// character escaped ([`display::escape`]), so that a newline in it cannot forge an
    /// `error:` line and an escape sequence cannot reach the terminal. Callers do not escape.
    pub fn warning(&self, text: &str) {
        self.note(&format!(
            "{} {}",
            self.paint_err(Style::Yellow, "warning:"),
            display::escape(text)
        ));
    }

    /// [`Output::note`] without an `Output` (from a callback).
    pub fn note_line(text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }

    /// An error on stderr, and in JSON mode also as the error document on stdout
    /// ([`print_json_error`]) so that a script reading stdout always gets one document.
    pub fn error(&self, error: &Error) {
        self.error_text(error);
        if self.json_mode() {
            self.json(&self.error_document(ReportedError::of(error), None));
        }
    }

    /// The error document of `reported`, naming the run's tenant schema when the error does
    /// not (refused before a session named it: a bad flag, invalid files).
    fn error_document(
        &self,
        mut reported: ReportedError,
        targets: Option<serde_json::Value>,
    ) -> ErrorDocument {
        if reported.schema.is_none() {
            reported.schema = self.schema.clone();
        }
        ErrorDocument {
            error: reported.clone(),
            schema: reported.schema.clone(),
            errors: [reported],
            targets,
        }
    }

    /// The last words on stdout of a process that ends at once (a second signal, a stop the
    /// server did not answer), from the thread that ends it: with `--format json`, `document`
    /// ([`LastDocument`]: the report so far, or the error document; what is known to have
    /// committed in its error's `committed` and `unknown`; a fleet's `targets` as known then)
    /// — unless a report claimed stdout first ([`claim_stdout`]): that report is the
    /// document, and its write, if under way, is let end ([`REPORT_END`] at most) so that the
    /// exit does not cut it. Whether stdout was this caller's (the report's error then is its
    /// own to print on stderr). Nothing here waits on a database.
    pub fn last_document(&self, document: impl FnOnce() -> LastDocument) -> bool {
        if !claim_stdout() {
            let_the_report_end();
            return false;
        }
        if self.json_mode() {
            match document() {
                LastDocument::Error(reported, targets) => {
                    self.json(&self.error_document(*reported, targets))
                }
                LastDocument::Report(report) => self.report_json(&report),
            }
        }
        true
    }

    /// An error on stderr only (when stdout already carries a report that includes it).
    pub fn error_text(&self, error: &Error) {
        // The file problems behind a refusal, each as `lint` shows it; its details repeat them.
        for d in &error.diagnostics {
            self.diagnostic(d);
        }
        let mut text = format!(
            "{} {}\n",
            self.paint_err(Style::Red, "error:"),
            display::escape(&error.message_with_cause())
        );
        if error.diagnostics.is_empty() {
            let fate = match error.reason() {
                Reason::Migration(failure) => render::fate(failure),
                _ => Vec::new(),
            };
            text.push_str(&self.details(error.details.iter().chain(&fate).cloned().collect()));
        }
        if let Some(help) = &error.help {
            text.push_str(&format!(
                "  {} {}\n",
                self.paint_err(Style::Cyan, "help:"),
                self.hint(help)
            ));
        }
        let clear = if self.stderr_is_terminal {
            "\r\x1b[K"
        } else {
            ""
        };
        let _ = write!(std::io::stderr().lock(), "{clear}{text}");
    }

    /// A diagnostic rendered like rustc, on stderr: `error[C105]: message`, ` --> path:line:col`,
    /// the source line with a caret under it, `= help: ...`. The one renderer of diagnostics:
    /// `lint`, and every command that shows a directory's problems.
    pub fn diagnostic(&self, d: &Diagnostic) {
        let source = d.line.and_then(|n| source_line(&d.path, n));
        let paint = |p: Paint, text: &str| {
            let style = match p {
                Paint::Error => Style::Red,
                Paint::Warning => Style::Yellow,
                Paint::Emphasis => Style::Bold,
                Paint::Gutter => Style::Blue,
                Paint::Help => Style::Cyan,
            };
            self.paint_err(style, text)
        };
        // The help line may suggest a command: it repeats this run's selection.
        let with_hint = Diagnostic {
            help: d.help.as_deref().map(|h| self.hint(h)),
            ..d.clone()
        };
        let text = render::diagnostic(
            &with_hint,
            &display::path(&d.path),
            source.as_deref(),
            &paint,
        );
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}

/// Line `n` (1-based) of the file at `path`, as [`render::diagnostic`] takes it (which cuts a
/// long one); `None` when it cannot be read, or is no text
/// ([`confiture::files::quotable_text`]: a file that is not UTF-8 or holds a NUL byte is shown
/// by position only). Its lines are the diagnostics' ([`confiture::text::line_range`]: a lone
/// CR ends one too).
fn source_line(path: &Path, n: u32) -> Option<String> {
    let text = confiture::files::quotable_text(path)?;
    let line = confiture::text::line_range(text.as_bytes(), n)?;
    Some(render::source_text(&text[line]).to_string())
}

/// Every string in `value` rendered by `invocation` (its suggested commands completed).
fn render_strings(value: &mut serde_json::Value, invocation: &Invocation) {
    match value {
        serde_json::Value::String(text) => {
            if let std::borrow::Cow::Owned(rendered) = invocation.render(text) {
                *text = rendered;
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                render_strings(item, invocation);
            }
        }
        serde_json::Value::Object(fields) => {
            for (_, field) in fields.iter_mut() {
                render_strings(field, invocation);
            }
        }
        _ => {}
    }
}

/// `text` and a newline, flushed: the error of a write the line buffer kept is not lost.
fn write_line(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    writeln!(out, "{text}")?;
    out.flush()
}

/// One JSON document on stdout, for a run that fails anyway (its own code kept, its error on
/// stderr): a failed write is dropped.
fn print_json<T: Serialize>(value: &T) {
    if claim_stdout() {
        if let Ok(text) = json_text(value) {
            let _ = write_line(&mut std::io::stdout().lock(), &text);
        }
    }
}

/// The thread that writes stdout: the first to claim it ([`claim_stdout`]).
static STDOUT_OWNER: OnceLock<std::thread::ThreadId> = OnceLock::new();

/// **The** rule of stdout's one document when two threads may print one — the command's
/// (its report, its error) and a signal's (the interruption): whichever claims stdout first is
/// the only one to write there; `false` for the other. Writing a result claims it
/// ([`Output::result`], [`Output::json`], ...); a thread that must decide before it renders
/// (`commands/verify.rs`, [`Output::last_document`]) claims it first.
pub fn claim_stdout() -> bool {
    let me = std::thread::current().id();
    *STDOUT_OWNER.get_or_init(|| me) == me
}

/// What a process that ends at once writes on stdout with `--format json`
/// ([`Output::last_document`]).
pub enum LastDocument {
    /// The error document (`error`, `errors`, a fleet's `targets`): a command that had no
    /// report under way.
    Error(Box<ReportedError>, Option<serde_json::Value>),
    /// The command's report so far, its error in its `errors`, as the run would have written
    /// it (`applied` or `rolled_back`, `unknown`, ...).
    Report(serde_json::Value),
}

/// How long a process that ends at once lets a report being written end: stdout is a pipe
/// whose reader may have stopped reading, and the exit must stay prompt.
const REPORT_END: std::time::Duration = std::time::Duration::from_secs(1);

/// Waits, [`REPORT_END`] at most, until no result is being written to stdout (each is written
/// whole under stdout's lock), so that an exit does not cut a report in the middle; then
/// holds the lock, so that nothing more starts.
fn let_the_report_end() {
    let (ended, end) = std::sync::mpsc::channel();
    let _ = std::thread::Builder::new().spawn(move || {
        let _stdout = std::io::stdout().lock();
        let _ = ended.send(());
        loop {
            std::thread::park();
        }
    });
    let _ = end.recv_timeout(REPORT_END);
}

/// `word` as the content of a JSON string, without its quotes: what a suggested command's
/// added word becomes inside a JSON document.
fn json_string_content(word: &str) -> String {
    let quoted = serde_json::to_string(word).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_string()
}

/// A JSON document as text, pretty-printed.
fn json_text<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(value)
}

/// `--version --format json`: `{"name": "cargo-confiture", "version": "0.1.0"}`.
pub fn version_document() -> String {
    #[derive(Serialize)]
    struct VersionDocument {
        name: &'static str,
        version: &'static str,
    }
    json_text(&VersionDocument {
        name: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
    })
    .unwrap_or_default()
}

/// The error document (`{"error": {...}, "errors": [{...}]}`) on stdout, also for a failure
/// before there is an [`Output`] (clap's errors).
pub fn print_json_error(error: &Error) {
    print_json(&ErrorDocument::from(error));
}

fn paint(enabled: bool, style: Style, text: &str) -> String {
    if enabled {
        format!("\x1b[{}m{text}\x1b[0m", style.code())
    } else {
        text.to_string()
    }
}

/// What a failed `--format json` run prints on stdout when it has no report: the error object
/// (the one every report's `errors` holds, [`ReportedError`]) as `error`, and as the only entry
/// of `errors`, so that `.errors[0]` reads every failure, reported or not.
#[derive(Serialize)]
struct ErrorDocument {
    error: ReportedError,
    errors: [ReportedError; 1],
    /// The tenant schema of a `--schema` run (`null` otherwise), as a report's document has it.
    schema: Option<String>,
    /// A fleet that ended at once (a second signal, [`Output::last_document`]): each target
    /// as known then; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    targets: Option<serde_json::Value>,
}

impl From<&Error> for ErrorDocument {
    fn from(error: &Error) -> Self {
        let reported = ReportedError::of(error);
        ErrorDocument {
            error: reported.clone(),
            schema: reported.schema.clone(),
            errors: [reported],
            targets: None,
        }
    }
}

#[cfg(test)]
mod color_tests {
    use super::*;

    /// `TERM=dumb` got colours and the live line's cursor codes; `CLICOLOR=0` and
    /// `CLICOLOR_FORCE=1` were not honoured (`NO_COLOR` was).
    #[test]
    fn colour_and_cursor_codes_follow_the_conventions() {
        let with = |set: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                (set.iter())
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        // (variables, colour on a terminal, colour when piped)
        type Vars = &'static [(&'static str, &'static str)];
        let cases: &[(Vars, bool, bool)] = &[
            (&[], true, false),
            (&[("TERM", "xterm-256color")], true, false),
            (&[("NO_COLOR", "1")], false, false),
            (&[("NO_COLOR", "")], true, false),
            (&[("TERM", "dumb")], false, false),
            (&[("CLICOLOR", "0")], false, false),
            (&[("CLICOLOR", "1")], true, false),
            (&[("CLICOLOR_FORCE", "1")], true, true),
            (&[("CLICOLOR_FORCE", "0")], true, false),
            (&[("CLICOLOR_FORCE", "1"), ("TERM", "dumb")], true, true),
            (&[("CLICOLOR_FORCE", "1"), ("CLICOLOR", "0")], true, true),
            (&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], false, false),
        ];
        for (set, terminal, piped) in cases {
            let var = with(set);
            assert_eq!(wants_color(Color::Auto, true, &var), *terminal, "{set:?}");
            assert_eq!(wants_color(Color::Auto, false, &var), *piped, "{set:?}");
            // `--color` decides over every variable.
            assert!(wants_color(Color::Always, false, &var), "{set:?}");
            assert!(!wants_color(Color::Never, true, &var), "{set:?}");
        }
        // The live line's cursor codes: a terminal that takes them.
        assert!(redraws(true, &with(&[("TERM", "xterm")])));
        assert!(!redraws(true, &with(&[("TERM", "dumb")])));
        assert!(!redraws(false, &with(&[])));
        // CLICOLOR_FORCE colours, it moves no cursor.
        assert!(!redraws(false, &with(&[("CLICOLOR_FORCE", "1")])));
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;

    /// A document serde refused (a `Path` that is not UTF-8, serialized without
    /// `display::serialize_path`) was replaced by `{"error":{"message":"path contains invalid
    /// UTF-8 characters"}}` — no `kind`, no `exit_code` — and the run exited 0. Nothing is
    /// written in its place, and the run ends with `OUTPUT_FAILED`, as a lost report does.
    #[cfg(unix)]
    #[test]
    fn a_document_serde_refuses_is_a_failed_write_never_a_success() {
        use std::os::unix::ffi::OsStrExt;
        #[derive(Serialize)]
        struct Refused {
            dir: std::path::PathBuf,
        }
        let cli = crate::cli::parse(["cargo-confiture", "lint", "--format", "json"])
            .expect("a command line");
        let out = Output::new(&cli);
        out.json(&Refused {
            dir: std::ffi::OsStr::from_bytes(b"x\xff").into(),
        });
        assert!(matches!(
            out.stdout_failed.get(),
            Some(StdoutFailure::Json(_))
        ));
        assert_eq!(
            out.settle(exit::SUCCESS, "`lint` completed"),
            exit::OUTPUT_FAILED
        );
        assert_eq!(out.settle(exit::INVALID, "`lint` completed"), exit::INVALID);
    }
}
