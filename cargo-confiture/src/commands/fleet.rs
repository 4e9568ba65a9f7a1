//! `migrate up|down|status --targets FILE | --targets-query SQL | --schemas-query SQL`: the
//! command against many databases (or tenant schemas of one) through `confiture::fleet`. A live line on a terminal (done / failed / running),
//! each failure on stderr as it happens, the result table (or one JSON document) on stdout.

use confiture::fleet::{self, Event, Fleet, FleetReport, Target, TargetReport, TargetState};
use confiture::migrate::{DownOptions, UpOptions};
use confiture::{display, exit, Result};

use super::Context;
use crate::cli::{Cli, FleetArgs};
use crate::output::{Output, Style};
use crate::render::{self, plural};

/// `migrate up` on every target.
pub fn up(
    cli: &Cli,
    cx: &Context,
    args: &FleetArgs,
    options: &UpOptions,
    out: &Output,
) -> Result<u8> {
    let out = &repeating_targets(out, args);
    let fleet = fleet(cli, cx, args, out)?;
    let report = fleet.up(options, &|event| live(out, event))?;
    Ok(finish(out, &report))
}

/// `migrate down` on every target.
pub fn down(
    cli: &Cli,
    cx: &Context,
    args: &FleetArgs,
    options: &DownOptions,
    out: &Output,
) -> Result<u8> {
    let out = &repeating_targets(out, args);
    let fleet = fleet(cli, cx, args, out)?;
    let report = fleet.down(options, &|event| live(out, event))?;
    Ok(finish(out, &report))
}

/// `migrate status` on every target.
pub fn status(cli: &Cli, cx: &Context, args: &FleetArgs, out: &Output) -> Result<u8> {
    let out = &repeating_targets(out, args);
    let fleet = fleet(cli, cx, args, out)?;
    let report = fleet.status(&|event| live(out, event))?;
    Ok(finish(out, &report))
}

/// Suggested commands act on the same fleet: `--targets FILE`, or `--targets-query <SQL>` (a
/// placeholder: the query may be long, and quoting it for every shell is not worth the risk).
fn repeating_targets(out: &Output, args: &FleetArgs) -> Output {
    let words = match (&args.targets, &args.targets_query, &args.schemas_query) {
        (Some(file), _, _) => vec!["--targets".to_string(), file.to_string_lossy().into_owned()],
        (None, Some(_), _) => vec!["--targets-query".to_string(), "<SQL>".to_string()],
        (None, None, Some(_)) => vec!["--schemas-query".to_string(), "<SQL>".to_string()],
        (None, None, None) => Vec::new(),
    };
    out.repeating(words)
}

/// The environment the user selected names the server, the credentials and the settings; the
/// list names the databases.
fn fleet(cli: &Cli, cx: &Context, args: &FleetArgs, out: &Output) -> Result<Fleet> {
    let migrator = super::migrate::migrator(cli, cx)?;
    let base = migrator.environment();
    // The `using ...` line: the list's names are on this server, the query runs here.
    Output::note_line(&display::escape(&base.describe()));
    let (targets, from): (Vec<Target>, String) =
        match (&args.targets, &args.targets_query, &args.schemas_query) {
            (Some(file), _, _) => (fleet::read_list(base, file)?, display::path(file)),
            (None, Some(sql), _) => (
                fleet::query_targets(base, sql)?,
                "the targets query".to_string(),
            ),
            (None, None, Some(sql)) => (
                fleet::query_schemas(base, sql)?,
                "the schemas query".to_string(),
            ),
            (None, None, None) => unreachable!("is_fleet() was checked by the caller"),
        };
    let mut fleet = Fleet::for_migrator(&migrator, targets).keep_going(args.keep_going);
    if let Some(jobs) = args.jobs {
        fleet = fleet.jobs(usize::from(jobs));
    }
    let count = fleet.targets().len();
    if count == 0 {
        out.note(&format!("no targets in {from}: nothing to do"));
    } else {
        out.progress(&format!(
            "{} from {from}, {} at a time{}",
            plural(count, "target"),
            args.jobs
                .map_or(fleet::DEFAULT_JOBS, usize::from)
                .min(count),
            if args.keep_going {
                ", keeping going after failures"
            } else {
                ""
            }
        ));
    }
    Ok(fleet)
}

/// The live line (terminal only) and, as they happen, the targets that failed.
fn live(out: &Output, event: &Event) {
    match event {
        Event::Started { counts, .. } => {
            out.progress_inline(&line(counts));
        }
        Event::Finished {
            target,
            exit_code,
            failed,
            counts,
            ..
        } => {
            if *failed {
                out.progress(&format!(
                    "{} {} (exit {exit_code})",
                    out.paint_err(Style::Red, "failed:"),
                    display::escape(target)
                ));
            }
            if counts.done < counts.total {
                out.progress_inline(&line(counts));
            }
        }
        // Event is `#[non_exhaustive]`: an event this CLI does not know yet shows nothing.
        _ => {}
    }
}

fn line(c: &fleet::Counts) -> String {
    const WIDTH: usize = 24;
    let filled = (c.done * WIDTH)
        .checked_div(c.total)
        .unwrap_or(0)
        .min(WIDTH);
    format!(
        "[{}{}] {}/{} targets done, {} failed, {} running",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled),
        c.done,
        c.total,
        c.failed,
        c.running
    )
}

/// The table (or JSON) on stdout, each failure's error on stderr; the fleet's exit code.
fn finish(out: &Output, report: &FleetReport) -> u8 {
    // Ends the live line before anything else is printed.
    out.progress_inline("");
    if out.json_mode() {
        out.json(report);
    } else {
        out.result(&table(out, report));
    }
    for failed in report.failed() {
        if let Some(error) = &failed.error {
            let mut text = format!(
                "{} {} ({}): {}",
                out.paint_err(Style::Red, "error:"),
                display::escape(&failed.target),
                display::escape(&failed.source),
                display::escape(&error.message)
            );
            if let Some(help) = &error.help {
                text.push_str(&format!(
                    "\n  {} {}",
                    out.paint_err(Style::Cyan, "help:"),
                    out.hint(help)
                ));
            }
            out.note(&text);
        }
    }
    let code = report.exit_code();
    if code == exit::FLEET_MIXED && !out.json_mode() {
        out.note(&out.hint(&format!(
            "note: the targets ended with different exit codes (exit {code}); each target's is in the table, and in `--format json`"
        )));
    }
    code
}

/// What happened to a target, in a few words, and its colour.
fn result_cell(command: &str, t: &TargetReport) -> (String, Style) {
    match (t.state, t.exit_code) {
        (TargetState::NotStarted, _) => ("– not started".to_string(), Style::Yellow),
        (TargetState::Failed, code) => (
            format!("✗ failed (exit {})", code.unwrap_or(exit::SUCCESS)),
            Style::Red,
        ),
        (TargetState::Done, code) if command == "status" => match code {
            Some(exit::SUCCESS) => ("✓ up to date".to_string(), Style::Green),
            Some(exit::PENDING) => ("✗ pending".to_string(), Style::Yellow),
            Some(exit::NOT_INITIALISED) => ("✗ not initialised".to_string(), Style::Yellow),
            Some(exit::INVALID) => ("! files with errors".to_string(), Style::Red),
            Some(exit::DIVERGED) => ("! diverged".to_string(), Style::Red),
            Some(other) => (format!("! exit {other}"), Style::Red),
            None => ("—".to_string(), Style::Yellow),
        },
        (TargetState::Done, _) if dry_run_plan(t).is_some() => {
            let (verb, count) = dry_run_plan(t).unwrap_or_default();
            (format!("would {verb} {count}"), Style::Yellow)
        }
        (TargetState::Done, _) if t.applied.is_empty() && t.rolled_back.is_empty() => {
            ("✓ up to date".to_string(), Style::Green)
        }
        (TargetState::Done, _) if command == "down" => (
            format!("✓ rolled back {}", t.rolled_back.len()),
            Style::Green,
        ),
        (TargetState::Done, _) => (format!("✓ applied {}", t.applied.len()), Style::Green),
    }
}

/// A dry run's plan: what it would do and to how many migrations (nothing was written, so
/// `applied` and `rolled_back` are empty and must not read as "up to date").
fn dry_run_plan(t: &TargetReport) -> Option<(&'static str, usize)> {
    match &t.report {
        Some(fleet::CommandReport::Up(r)) if r.dry_run => Some(("apply", r.migrations.len())),
        Some(fleet::CommandReport::Down(r)) if r.dry_run => Some(("roll back", r.migrations.len())),
        _ => None,
    }
}

/// The versions column: for `up` those applied by this run, for `status` how many are
/// recorded and pending.
fn versions_cell(command: &str, t: &TargetReport) -> String {
    if command == "status" {
        return match &t.report {
            Some(fleet::CommandReport::Status(r)) => format!(
                "{} applied, {} pending",
                r.summary.applied, r.summary.pending
            ),
            _ => "—".to_string(),
        };
    }
    let versions = if command == "down" {
        &t.rolled_back
    } else {
        &t.applied
    };
    if versions.is_empty() {
        "—".to_string()
    } else {
        render::versions(versions)
    }
}

fn table(out: &Output, report: &FleetReport) -> String {
    let command = report.command;
    let rows: Vec<(String, (String, Style), String)> = report
        .targets
        .iter()
        .map(|t| {
            (
                display::escape(&t.target).into_owned(),
                result_cell(command, t),
                versions_cell(command, t),
            )
        })
        .collect();
    let width = render::column_width(rows.iter().map(|r| r.0.as_str()), "Target");
    let result_width = render::column_width(rows.iter().map(|r| r.1 .0.as_str()), "Result");
    let third = if command == "status" {
        "Migrations"
    } else if command == "down" {
        "Rolled back"
    } else {
        "Applied"
    };
    let mut text = out.paint(
        Style::Bold,
        &format!("{:width$}  {:result_width$}  {third}", "Target", "Result"),
    );
    text.push('\n');
    for (target, (cell, style), versions) in &rows {
        let pad = result_width - cell.chars().count();
        text.push_str(&format!(
            "{target:width$}  {}{}  {versions}\n",
            out.paint(*style, cell),
            " ".repeat(pad)
        ));
    }
    let s = &report.summary;
    let mut summary = format!(
        "{}: {} done, {} failed",
        plural(s.total, "target"),
        s.done,
        s.failed
    );
    if s.not_started > 0 {
        summary.push_str(&format!(
            ", {} not started (stopped at the first failure; --keep-going runs every target)",
            s.not_started
        ));
    }
    summary.push_str(&format!(" in {} ms", s.duration_ms));
    text.push_str(&summary);
    text
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_jobs_help_names_the_library_default() {
        let cli = Cli::command();
        for command in ["up", "down", "status"] {
            let sub = cli
                .find_subcommand("migrate")
                .and_then(|m| m.find_subcommand(command))
                .expect("the subcommand");
            let jobs = sub
                .get_arguments()
                .find(|a| a.get_id() == "jobs")
                .expect("--jobs");
            let help = jobs.get_help().map(ToString::to_string).unwrap_or_default();
            assert!(
                help.contains(&format!("default {}", fleet::DEFAULT_JOBS)),
                "{command}: {help}"
            );
        }
    }
}
