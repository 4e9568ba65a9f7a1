//! `migrate up|down|status|baseline|reinit`: the commands that connect to a database.

use std::time::Duration;

use confiture::config::{self, Selection};
use confiture::migrate::{
    BaselineOptions, DownOptions, Failed, Progress, ReinitOptions, UpOptions,
};
use confiture::status::{State, StatusReport};
use confiture::{display, exit, hint, Error, Migrator, Result};
use serde::Serialize;

use super::{refuse_invalid, Context};
use crate::cli::{Cli, LockArgs, Migrate};
use crate::output::{Output, Style};
use crate::render::{self, plural};

pub fn run(cli: &Cli, cx: &Context, command: &Migrate, out: &Output) -> Result<u8> {
    match command {
        Migrate::Status => status(cli, cx, out),
        Migrate::Up(args) => {
            let options = UpOptions {
                steps: args.steps,
                target: args.target.as_deref().map(version).transpose()?,
                dry_run: args.dry_run,
                single_transaction: args.single_transaction,
                allow_out_of_order: args.allow_out_of_order,
                lock_wait: lock_wait(&args.lock)?,
                lock_timeout_statement: optional_duration(
                    "--lock-timeout-statement",
                    &args.timeouts.lock_timeout_statement,
                )?,
                statement_timeout: optional_duration(
                    "--statement-timeout",
                    &args.timeouts.statement_timeout,
                )?,
                create_database: args.create_database,
            };
            let mut migrator = migrator(cli, cx)?;
            let mut view = ProgressView::default();
            let outcome = migrator.up(&options, &mut |p| view.on(out, p));
            let outcome = directory_problems(cx, out, outcome);
            finish(out, outcome, |out, r| {
                if r.dry_run {
                    plan_text(out, "would apply", &r.migrations)
                } else if r.applied.is_empty() {
                    "already up to date: nothing to apply".to_string()
                } else {
                    done_text("applied", &r.applied, r.total_duration_ms)
                }
            })
        }
        Migrate::Down(args) => {
            let options = DownOptions {
                steps: args.steps,
                target: args.target.as_deref().map(version).transpose()?,
                yes: args.yes,
                dry_run: args.dry_run,
                lock_wait: lock_wait(&args.lock)?,
                lock_timeout_statement: optional_duration(
                    "--lock-timeout-statement",
                    &args.timeouts.lock_timeout_statement,
                )?,
                statement_timeout: optional_duration(
                    "--statement-timeout",
                    &args.timeouts.statement_timeout,
                )?,
            };
            let mut migrator = migrator(cli, cx)?;
            let mut view = ProgressView::default();
            let outcome = migrator.down(&options, &mut |p| view.on(out, p));
            let outcome = directory_problems(cx, out, outcome);
            finish(out, outcome, |out, r| {
                if r.dry_run {
                    plan_text(out, "would roll back", &r.migrations)
                } else if r.rolled_back.is_empty() {
                    "nothing to roll back".to_string()
                } else {
                    done_text("rolled back", &r.rolled_back, r.total_duration_ms)
                }
            })
        }
        Migrate::Baseline(args) => {
            let options = BaselineOptions {
                through: version(&args.through)?,
                dry_run: args.dry_run,
                lock_wait: lock_wait(&args.lock)?,
            };
            let mut migrator = migrator(cli, cx)?;
            let mut view = ProgressView::default();
            let outcome = migrator.baseline(&options, &mut |p| view.on(out, p));
            let outcome = directory_problems(cx, out, outcome);
            finish(out, outcome, |_, r| {
                let verb = if r.dry_run {
                    "would record"
                } else {
                    "recorded"
                };
                if r.baselined.is_empty() {
                    "nothing to record: every migration through that version is already in the ledger".to_string()
                } else {
                    format!(
                        "{verb} {} as applied without running them: {}",
                        plural(r.baselined.len(), "migration"),
                        render::versions(&r.baselined)
                    )
                }
            })
        }
        Migrate::Reinit(args) => {
            let options = ReinitOptions {
                through: args.through.as_deref().map(version).transpose()?,
                dry_run: args.dry_run,
                lock_wait: lock_wait(&args.lock)?,
            };
            let mut migrator = migrator(cli, cx)?;
            let mut view = ProgressView::default();
            let outcome = migrator.reinit(&options, &mut |p| view.on(out, p));
            let outcome = directory_problems(cx, out, outcome);
            finish(out, outcome, |_, r| {
                let verb = if r.dry_run {
                    "would replace"
                } else {
                    "replaced"
                };
                let mut text = format!(
                    "{verb} {} ledger rows with {}: {}",
                    r.deleted_count,
                    plural(r.marked.len(), "row"),
                    render::versions(&r.marked)
                );
                if !r.forgotten.is_empty() {
                    text.push_str(&format!(
                        "\nforgotten (no file on disk): {}",
                        render::versions(&r.forgotten)
                    ));
                }
                text
            })
        }
        Migrate::Generate(_) => unreachable!("generate does not connect; handled by commands::run"),
    }
}

/// Resolves the database by the documented precedence and opens a session (connecting lazily).
/// The `using ...` line is printed when the session first reaches the server, so a request
/// refused before that (`--steps 0`, an unknown `--target`, broken files) prints none.
fn migrator(cli: &Cli, cx: &Context) -> Result<Migrator> {
    let g = &cli.global;
    let selection = if let Some(url) = &g.database_url {
        Selection::Url(url.clone())
    } else if let Some(name) = &g.env {
        Selection::Env(name.clone())
    } else if let Some(file) = &g.config {
        Selection::File(file.clone())
    } else {
        Selection::Auto
    };
    let env = config::resolve(&cx.workspace, &selection, &config::process_vars)?;
    let using = display::escape(&env.describe()).into_owned();
    let mut migrator = Migrator::new(env, cx.display_dir.clone(), cx.check_options.clone());
    migrator.on_connect(move |_| Output::note_line(&using));
    Ok(migrator)
}

fn version(text: &str) -> Result<u64> {
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::usage(format!("{text:?} is not a migration version"))
            .with_help("give the number at the start of a migration file name, e.g. `--target 3` or `--target 003`"));
    }
    digits
        .parse()
        .map_err(|_| Error::usage(format!("version {text} is too large")))
}

fn duration(flag: &str, text: &str) -> Result<Duration> {
    config::parse_duration(text).ok_or_else(|| {
        Error::usage(format!("{flag} {text:?} is not a duration"))
            .with_help("write a number with a unit: `500ms`, `5s`, `2m` (`0` disables)")
    })
}

/// `--lock-timeout`: how long to wait for another runner's migration lock.
fn lock_wait(args: &LockArgs) -> Result<Duration> {
    duration("--lock-timeout", &args.lock_timeout)
}

/// `applied 3 migrations in 41 ms: 001, 002, 003`; `applied 1000 migrations in 160 ms:
/// 0001…1000` (the JSON report keeps every version).
fn done_text(verb: &str, versions: &[String], total_ms: u64) -> String {
    format!(
        "{verb} {} in {total_ms} ms: {}",
        plural(versions.len(), "migration"),
        render::versions(versions)
    )
}

fn optional_duration(flag: &str, text: &Option<String>) -> Result<Option<Duration>> {
    text.as_deref().map(|t| duration(flag, t)).transpose()
}

/// Progress on stderr: one line per migration with its duration, and on a terminal a live
/// bar (`[#####     ] 3/6 applying 004_x`) that the next line replaces.
#[derive(Default)]
struct ProgressView {
    total: usize,
    done: usize,
}

impl ProgressView {
    fn bar(&self) -> String {
        const WIDTH: usize = 24;
        let filled = (self.done * WIDTH)
            .checked_div(self.total)
            .unwrap_or(0)
            .min(WIDTH);
        format!(
            "[{}{}] {}/{}",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled),
            self.done,
            self.total
        )
    }

    fn on(&mut self, out: &Output, event: Progress) {
        match event {
            Progress::LockWaiting { holder } => {
                let who = match holder {
                    Some(h) => format!(
                        "pid {} ({})",
                        h.pid,
                        h.application_name
                            .filter(|a| !a.is_empty())
                            .map(|a| display::escape(&a).into_owned())
                            .unwrap_or_else(|| "no application_name".into())
                    ),
                    None => "another session".to_string(),
                };
                out.progress(&format!("waiting for the migration lock held by {who}..."));
            }
            // Only worth a line when a LockWaiting line came before it.
            Progress::LockAcquired { waited_ms } if waited_ms >= 250 => {
                out.progress(&format!("acquired the migration lock after {waited_ms} ms"));
            }
            Progress::LockAcquired { .. } | Progress::UpToDate => {}
            Progress::Planned { count, .. } => {
                self.total = count;
                self.done = 0;
            }
            Progress::Started {
                version,
                name,
                direction,
                ..
            } => {
                if out.stderr_is_terminal {
                    let bar = if self.total > 1 {
                        format!("{} ", self.bar())
                    } else {
                        String::new()
                    };
                    out.progress_inline(&format!(
                        "{bar}{} {} ...",
                        direction_verb(direction),
                        shown_id(&version, &name)
                    ));
                }
            }
            Progress::Retrying {
                version,
                name,
                attempt,
                delay_ms,
            } => {
                out.progress(&format!(
                    "{}: lock not available, retrying in {delay_ms} ms (attempt {attempt})",
                    shown_id(&version, &name)
                ));
            }
            Progress::Finished {
                version,
                name,
                direction,
                duration_ms,
            } => {
                self.done += 1;
                out.progress(&format!(
                    "{} {} ({duration_ms} ms)",
                    out.paint_err(Style::Green, direction_done(direction)),
                    shown_id(&version, &name)
                ));
                if out.stderr_is_terminal && self.total > 1 && self.done < self.total {
                    out.progress_inline(&self.bar());
                }
            }
        }
    }
}

/// `003_add_bio`, control characters escaped (the name may come from the ledger).
fn shown_id(version: &str, name: &str) -> String {
    display::escape(&format!("{version}_{name}")).into_owned()
}

fn direction_verb(direction: confiture::migrate::Direction) -> &'static str {
    match direction {
        confiture::migrate::Direction::Up => "applying",
        confiture::migrate::Direction::Down => "rolling back",
    }
}

fn direction_done(direction: confiture::migrate::Direction) -> &'static str {
    match direction {
        confiture::migrate::Direction::Up => "applied",
        confiture::migrate::Direction::Down => "rolled back",
    }
}

/// Dry-run text: each migration, its transaction mode and its SQL.
fn plan_text(
    out: &Output,
    verb: &str,
    migrations: &[confiture::migrate::MigrationReport],
) -> String {
    if migrations.is_empty() {
        return format!("{verb} nothing: already up to date");
    }
    let mut text = String::new();
    for m in migrations {
        let mode = match m.mode {
            confiture::files::TransactionMode::Transaction => "in a transaction",
            confiture::files::TransactionMode::NoTransaction => {
                "no transaction: statement by statement"
            }
        };
        text.push_str(&out.paint(
            Style::Bold,
            &format!("-- {verb} {} ({mode})", shown_id(&m.version, &m.name)),
        ));
        text.push('\n');
        if let Some(sql) = &m.sql {
            text.push_str(&display::escape_prose(sql.trim_end()));
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str(&format!(
        "dry run: {verb} {}; nothing was written",
        plural(migrations.len(), "migration")
    ));
    text
}

/// A command refused because the migrations directory has errors: shows them with the one
/// renderer of diagnostics (rustc's layout), and keeps the error's one-line copies of them out of
/// the text (the JSON report keeps them). Only on this failure path is the directory read again;
/// the error's details are compared with it as data, nothing is parsed.
fn directory_problems<R>(
    cx: &Context,
    out: &Output,
    outcome: std::result::Result<R, Failed<R>>,
) -> std::result::Result<R, Failed<R>> {
    let Err(Failed { mut error, report }) = outcome else {
        return outcome;
    };
    if error.kind == confiture::ErrorKind::Invalid && !out.json_mode() {
        if let Ok(checked) = cx.load() {
            let errors: Vec<&confiture::Diagnostic> = checked
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .collect();
            let listed: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
            if !errors.is_empty() && listed == error.details {
                for d in &checked.diagnostics {
                    out.diagnostic(d);
                }
                error.details.clear();
            }
        }
    }
    Err(Failed { error, report })
}

/// Renders a command's outcome: its report as JSON or text on stdout, and on failure the error
/// on stderr. Returns the exit code.
fn finish<R: Serialize>(
    out: &Output,
    outcome: std::result::Result<R, Failed<R>>,
    text: impl Fn(&Output, &R) -> String,
) -> Result<u8> {
    match outcome {
        Ok(report) => {
            if out.json_mode() {
                out.json(&report);
            } else {
                out.result(&text(out, &report));
            }
            Ok(exit::SUCCESS)
        }
        Err(Failed { error, report }) => {
            // The report carries the error in `errors`; stdout keeps its one JSON document.
            if out.json_mode() {
                out.json(&report);
            }
            out.error_text(&error);
            Ok(error.exit_code())
        }
    }
}

/// `migrate status`: the seed's table (or JSON), and the seed's exit codes.
fn status(cli: &Cli, cx: &Context, out: &Output) -> Result<u8> {
    let checked = cx.load()?;
    if checked.has_errors() {
        return Err(refuse_invalid(
            cx,
            &checked.diagnostics,
            out,
            "reading the database",
        ));
    }
    let mut migrator = migrator(cli, cx)?;
    let report = migrator.status_of(&checked.set)?;
    if out.json_mode() {
        out.json(&report);
    } else {
        out.result(&status_table(out, &report));
        for line in status_advice(&report) {
            out.note(&out.hint(&line));
        }
    }
    Ok(report.exit_code())
}

fn status_cell(state: State) -> (&'static str, Style) {
    match state {
        State::Applied => ("✓ applied", Style::Green),
        State::Pending => ("✗ pending", Style::Yellow),
        State::Modified => ("! modified", Style::Red),
        State::Missing => ("! missing", Style::Red),
        State::OutOfOrder => ("✗ out of order", Style::Red),
    }
}

fn status_table(out: &Output, report: &StatusReport) -> String {
    let rows: Vec<(String, State, String)> = report
        .migrations
        .iter()
        .map(|m| {
            (
                display::escape(&m.id()).into_owned(),
                m.status,
                m.applied_at
                    .as_deref()
                    .map(human_time)
                    .unwrap_or_else(|| "—".to_string()),
            )
        })
        .collect();
    let width = rows
        .iter()
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(0)
        .max("Migration".len());
    let status_width = rows
        .iter()
        .map(|r| status_cell(r.1).0.chars().count())
        .max()
        .unwrap_or(0)
        .max("Status".len());
    let mut text = out.paint(
        Style::Bold,
        &format!(
            "{:width$}  {:status_width$}  Applied At (UTC)",
            "Migration", "Status"
        ),
    );
    text.push('\n');
    for (id, state, at) in &rows {
        let (cell, style) = status_cell(*state);
        let pad = status_width - cell.chars().count();
        text.push_str(&format!(
            "{id:width$}  {}{}  {at}\n",
            out.paint(style, cell),
            " ".repeat(pad)
        ));
    }
    let s = &report.summary;
    let mut summary = format!(
        "{} applied, {} pending, {} total",
        s.applied, s.pending, s.total
    );
    for (n, word) in [
        (s.modified, "modified"),
        (s.missing, "missing"),
        (s.out_of_order, "out of order"),
    ] {
        if n > 0 {
            summary.push_str(&format!(", {n} {word}"));
        }
    }
    if !report.initialised {
        summary.push_str(&format!(
            " (tracking table {} not initialised)",
            report.tracking_table
        ));
    }
    text.push_str(&summary);
    text
}

/// `2026-01-15T10:30:00+00:00` → `2026-01-15 10:30:00`, as the seed shows it: the column
/// header says UTC, which is what the ledger read gives. Another offset is kept in the cell.
fn human_time(rfc3339: &str) -> String {
    let text = rfc3339.replacen('T', " ", 1);
    let utc = text
        .strip_suffix("+00:00")
        .or_else(|| text.strip_suffix('Z'))
        .unwrap_or(&text);
    display::escape(utc).into_owned()
}

/// What to do next, on stderr, for the states a person must act on.
fn status_advice(report: &StatusReport) -> Vec<String> {
    let mut lines = Vec::new();
    if !report.initialised {
        lines.push(format!(
            "help: run {} to create the tracking table and apply the migrations",
            hint::command("migrate up")
        ));
    } else if !report.modified.is_empty() {
        lines.push(format!(
            "help: applied migrations were edited since they ran ({}): restore them from version control, or accept the edit with {}",
            report.modified.join(", "),
            hint::command("migrate reinit")
        ));
    }
    if !report.missing.is_empty() {
        lines.push(format!(
            "help: the ledger records migrations that have no file ({}): restore the files, or roll them back with the tool version that has them",
            report.missing.join(", ")
        ));
    }
    if !report.out_of_order.is_empty() {
        lines.push(format!(
            "help: pending migrations are older than the newest applied one ({}): renumber them, or apply with {}",
            report.out_of_order.join(", "),
            hint::command("migrate up --allow-out-of-order")
        ));
    }
    lines
}
