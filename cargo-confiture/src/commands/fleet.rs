//! `migrate up|down|status|verify|drift` against many databases (or tenant schemas of one)
//! through `confiture::fleet`: the list from `--targets FILE | --targets-query SQL |
//! --schemas-query SQL`, else from the environment file's `fleet:` block. A live line on a
//! terminal (done / failed / running), each failure on stderr as it happens, the result table
//! (or one JSON document) on stdout.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use confiture::config::FleetList;
use confiture::drift::DriftOptions;
use confiture::fleet::{self, Event, Fleet, FleetReport, Target, TargetReport, TargetState};
use confiture::migrate::{Direction, DownOptions, Progress, StatusOptions, UpOptions};
use confiture::verify::VerifyOptions;
use confiture::{display, exit, Error, Migrator, Result};

use super::interrupt::{Interrupt, Words};
use super::Context;
use crate::cli::{Cli, FleetArgs, ListGiven};
use crate::output::{Output, Style};
use crate::render::{self, plural};

/// What a command runs against: the environment's database, or a fleet.
pub enum Selected {
    /// No target list: the environment's database, through this session.
    One(Migrator),
    /// A target list, from the command line or the environment file.
    Fleet(Plan),
}

/// A fleet about to run: the environment (server, credentials, settings), its list, and how.
pub struct Plan {
    migrator: Migrator,
    list: FleetList,
    /// How messages name the list: `tenants.txt`, `the targets query`, ...
    from: String,
    jobs: Option<usize>,
    keep_going: bool,
    /// `--allow-empty`: a list with no target is nothing to do, not an error.
    allow_empty: bool,
}

/// The command line's list, else the environment file's (`fleet:`); `--jobs` and
/// `--keep-going` over the file's `jobs` and `keep_going`. `--jobs` or `--keep-going` with no
/// list anywhere is a usage error.
pub fn select(cli: &Cli, cx: &Context, args: &FleetArgs) -> Result<Selected> {
    one_tenant_or_a_list(cli, args)?;
    let migrator = super::migrate::migrator(cli, cx)?;
    let settings = migrator.environment().fleet.clone().unwrap_or_default();
    // The suggested commands repeat these flags (`output::invocation`).
    let (list, from) = match args.list() {
        Some(given) => (given.fleet_list(), given.named()),
        None => match settings.list {
            Some(list) => {
                let from = file_list_name(&migrator, &list);
                (list, from)
            }
            // A `fleet:` block whose list was left out (commented out, say) must not mean "the
            // environment's own database": that is rarely what a file meant for a fleet means.
            None if migrator.environment().fleet.is_some() => {
                let file = environment_file(&migrator);
                return Err(Error::invalid(format!(
                    "{}: the `fleet:` block has no target list, and the command line gives none",
                    block_at(&migrator)
                ))
                .with_help(format!(
                    "add `targets`, `targets_query` or `schemas_query` under `fleet:` in {file}, \
                     or give --targets FILE; to run on the environment's own database, remove \
                     its `fleet:` block"
                )));
            }
            None if args.jobs.is_some() || args.keep_going || args.allow_empty => {
                return Err(Error::usage(
                    "--jobs, --keep-going and --allow-empty need a target list",
                )
                .with_help(
                    "give --targets FILE, --targets-query SQL or --schemas-query SQL, or \
                         a `fleet:` list in the environment file",
                ))
            }
            None => return Ok(Selected::One(migrator)),
        },
    };
    Ok(Selected::Fleet(Plan {
        migrator,
        list,
        from,
        jobs: args.jobs.map(usize::from).or(settings.jobs),
        keep_going: args.keep_going || settings.keep_going.unwrap_or(false),
        allow_empty: args.allow_empty,
    }))
}

/// `--schema NAME` names one tenant: with a list of targets on the command line (which would
/// name others), or `--jobs`/`--keep-going` (which only a list takes), it is a usage error.
/// The environment file's `fleet:` list gives way to it: the command acts on that tenant.
fn one_tenant_or_a_list(cli: &Cli, args: &FleetArgs) -> Result<()> {
    let Some(schema) = &cli.global.schema else {
        return Ok(());
    };
    let others = [
        (args.jobs.is_some(), "--jobs"),
        (args.keep_going, "--keep-going"),
        (args.allow_empty, "--allow-empty"),
    ];
    let given = others
        .iter()
        .find(|(given, _)| *given)
        .map(|(_, flag)| *flag);
    let Some(flag) = args.list().map(ListGiven::flag).or(given) else {
        return Ok(());
    };
    // Raw: the renderer escapes what it prints.
    Err(Error::usage(format!(
        "--schema {schema} names one tenant schema, and {flag} is for a list of targets"
    ))
    .with_help(format!(
        "give --schema alone to act on that tenant, or leave it out to act on every target \
         of the list; a tenant of the list can be run alone with --schema NAME (without {flag})"
    )))
}

/// `migrate baseline` and `migrate reinit` (`command`), which take no fleet's list: the
/// selected database, with `--schema NAME` that tenant of it, with a list of one target
/// (`--targets`, `--targets-query`, `--schemas-query`: `migrate::one_target`) that target. An
/// environment whose file has a `fleet:` block means its list to the commands that take one
/// (`--env prod` is the fleet for `up`, `status`, ...), so the same words here must not write a
/// ledger into the database that holds the list: refused (exit 64), dry run too, before
/// connecting, saying how to pick one. A list of one target on the command line replaces the
/// block's list, as a fleet's list on the command line does. With the target that list chose
/// (how suggested commands address it).
pub fn one_database(
    cli: &Cli,
    cx: &Context,
    command: &str,
) -> Result<(Migrator, Option<confiture::hint::OneTarget>)> {
    let (migrator, chosen) = super::migrate::migrator_choosing(cli, cx)?;
    // A tenant's environment (`--schema`) has no `fleet:` block: it is one database's schema.
    if migrator.environment().fleet.is_none() {
        return Ok((migrator, chosen));
    }
    let file = environment_file(&migrator);
    let line = fleet_block(&migrator)
        .and_then(|b| b.line())
        .map_or_else(String::new, |line| format!(" (line {line})"));
    let list = fleet_block(&migrator).and_then(|b| b.list.as_ref());
    let (means, of_the_list, holding) = match list {
        Some(list) => (
            format!(
                "for the commands that take a list it means every target of {}",
                file_list_name(&migrator, list)
            ),
            " of the list",
            "; the database holding the list is reached the same way",
        ),
        // `jobs` alone, or nothing (`fleet: ~`): no list to name; the commands that take one
        // refuse the environment until the block names one (`select`).
        None => (
            "it names no target list, and the commands that take one refuse the environment \
             until it does"
                .to_string(),
            "",
            "",
        ),
    };
    Err(Error::usage(format!(
        "`{command}` takes one database, and {file} has a `fleet:` block{line}: {means}"
    ))
    .with_help(format!(
        "give --schema NAME to act on one tenant schema of the environment's database, or \
         select one database{of_the_list} with --targets FILE listing it alone (`--targets \
         <(echo NAME)`: the environment's credentials and settings), -c FILE (an environment \
         file naming it) or --database-url URL (which reads no environment file){holding}; \
         --targets-query SQL and --schemas-query SQL select the one database or tenant schema \
         their query returns"
    )))
}

/// The environment's `fleet:` block.
fn fleet_block(migrator: &Migrator) -> Option<&confiture::config::FleetSettings> {
    migrator.environment().fleet.as_ref()
}

/// `environment file F, line L` of the environment's `fleet:` key (the file alone when its line
/// is unknown): how an error about the block as a whole starts, as the errors about one of its
/// keys do (`config::fleet_file`).
fn block_at(migrator: &Migrator) -> String {
    let file = environment_file(migrator);
    match fleet_block(migrator).and_then(|b| b.line()) {
        Some(line) => format!("environment file {file}, line {line}"),
        None => format!("environment file {file}"),
    }
}

/// How messages name the environment's file: its path, else where the environment came from.
fn environment_file(migrator: &Migrator) -> String {
    let env = migrator.environment();
    env.file
        .as_deref()
        .map_or_else(|| env.source(), display::path)
}

/// `prod.yaml (fleet.targets)`, or the target file it names.
fn file_list_name(migrator: &Migrator, list: &FleetList) -> String {
    let file = environment_file(migrator);
    match list {
        FleetList::File(path) => display::path(path),
        FleetList::TargetsQuery(_) => format!("the targets query of {file}"),
        FleetList::SchemasQuery(_) => format!("the schemas query of {file}"),
        _ => format!("{file} (fleet.targets)"),
    }
}

/// `migrate up` on every target.
pub fn up(plan: Plan, options: &UpOptions, out: &Output, interrupt: &Interrupt) -> Result<u8> {
    let out = &out.in_fleet(plan.migrator.environment(), plan.migrator.migrations_dir());
    let fleet = fleet(&plan, out, "", fleet::Request::Up(options), Some(interrupt))?
        .stop_when(interrupt.flag());
    let said = Said::default();
    let report = fleet.up(options, &|event| {
        interrupt.fleet_event(event);
        live(out, &said, event)
    })?;
    Ok(finish(out, &report, Some(interrupt)))
}

/// `migrate down` on every target.
pub fn down(plan: Plan, options: &DownOptions, out: &Output, interrupt: &Interrupt) -> Result<u8> {
    let out = &out.in_fleet(plan.migrator.environment(), plan.migrator.migrations_dir());
    let fleet = fleet(
        &plan,
        out,
        "",
        fleet::Request::Down(options),
        Some(interrupt),
    )?
    .stop_when(interrupt.flag());
    let said = Said::default();
    let report = fleet.down(options, &|event| {
        interrupt.fleet_event(event);
        live(out, &said, event)
    })?;
    Ok(finish(out, &report, Some(interrupt)))
}

/// `migrate status` on every target.
pub fn status(
    plan: Plan,
    options: &StatusOptions,
    out: &Output,
    interrupt: &Interrupt,
) -> Result<u8> {
    let out = &out.in_fleet(plan.migrator.environment(), plan.migrator.migrations_dir());
    let fleet =
        fleet(&plan, out, "", fleet::Request::Status, Some(interrupt))?.stop_when(interrupt.flag());
    let said = Said::default();
    let report = fleet.status_with(options, &|event| {
        interrupt.fleet_event(event);
        live(out, &said, event)
    })?;
    // Every target read the same files: their errors are said once, as one database's status
    // says them (text: below the table; JSON: the document's `errors`), from the fleet's one
    // check of them, whether or not any target connected.
    let dir = plan.migrator.migrations_dir();
    if out.json_mode() {
        let errors = super::migrate::files_errors(&report.diagnostics, dir);
        return Ok(finish_with(out, &report, Some(interrupt), Some(errors)));
    }
    let code = finish_with(out, &report, Some(interrupt), None);
    super::migrate::status_file_errors(out, &report.diagnostics);
    if let Some(help) = super::migrate::files_errors_help(&report.diagnostics) {
        out.note(&out.hint(&help));
    }
    Ok(code)
}

/// SIGINT, SIGTERM or SIGHUP during a fleet's `up`, `down` or `status`: no new target starts, and
/// every running target stops as one database does (`Fleet::stop_when`); the partial report
/// is printed with exit 130. A second signal exits at once.
const FLEET_WORDS: Words = (
    "no new target starts; cancelling the running statement on every running target",
    "whether the running targets' migrations committed is unknown: `migrate status` says, and \
     the server rolls back what they had not committed",
);

/// `migrate verify`, once per server and session (user, options) of the targets; the output
/// claimed from the signal thread before anything is printed (`verify::claim_the_output`),
/// error or report. `stop`: the signal thread's flag
/// (`verify::drop_scratch_databases_on_interrupt`), which stops every running target as it
/// stops one database's verify: each says `interrupted`, not failed under the drop.
pub fn verify(
    plan: Plan,
    options: &VerifyOptions,
    out: &Output,
    stop: Arc<AtomicBool>,
) -> Result<u8> {
    let out = &out.in_fleet(plan.migrator.environment(), plan.migrator.migrations_dir());
    let request = fleet::Request::Verify(options);
    let said = Said::default();
    let report = fleet(
        &plan,
        out,
        ", verified once per server and session",
        request,
        None,
    )
    .and_then(|f| {
        super::verify::fleet_starts();
        f.stop_when(stop).verify(options, &|event| {
            super::verify::fleet_event(event, || live(out, &said, event))
        })
    });
    fleet_report(out, report)
}

/// `migrate drift` on every target; `stop` as for [`verify`].
pub fn drift(
    plan: Plan,
    options: &DriftOptions,
    out: &Output,
    stop: Arc<AtomicBool>,
) -> Result<u8> {
    let out = &out.in_fleet(plan.migrator.environment(), plan.migrator.migrations_dir());
    let request = fleet::Request::Drift {
        tenant_schemas: matches!(plan.list, FleetList::SchemasQuery(_)),
    };
    let said = Said::default();
    let report = fleet(&plan, out, "", request, None).and_then(|f| {
        super::verify::fleet_starts();
        f.stop_when(stop).drift(options, &|event| {
            super::verify::fleet_event(event, || live(out, &said, event))
        })
    });
    fleet_report(out, report)
}

/// A fleet's `verify` or `drift` report printed, its targets interrupted by a signal
/// included (`verify::print_fleet_report`); an error before the fleet ran, once the signal
/// thread cannot be printing its own document (`verify::claim_the_output`).
fn fleet_report(out: &Output, report: Result<FleetReport>) -> Result<u8> {
    match report {
        Ok(report) => Ok(super::verify::print_fleet_report(|| {
            finish(out, &report, None)
        })),
        Err(error) => {
            super::verify::claim_the_output();
            Err(error)
        }
    }
}

/// The environment the user selected names the server, the credentials and the settings; the
/// list names the databases. What every target would refuse (`request`) is refused first,
/// before the list is read: a targets query may be slow, or wait on a lock. A signal says
/// [`FLEET_WORDS`] (`interrupt`: `up`, `down`, `status`) once the list is read: before, no
/// target has started.
fn fleet(
    plan: &Plan,
    out: &Output,
    how: &str,
    request: fleet::Request<'_>,
    interrupt: Option<&Interrupt>,
) -> Result<Fleet> {
    let base = plan.migrator.environment();
    // The `using ...` line: the list's names are on this server, the query runs here.
    Output::note_line(&display::escape(&base.describe()));
    fleet::check_request(&plan.migrator, request)?;
    let targets: Vec<Target> = fleet::resolve_list(base, &plan.list)?;
    let mut fleet = Fleet::for_migrator(&plan.migrator, targets).keep_going(plan.keep_going);
    if let Some(interrupt) = interrupt {
        interrupt.fleet(fleet.targets());
        interrupt.words(FLEET_WORDS);
    }
    if let Some(jobs) = plan.jobs {
        fleet = fleet.jobs(jobs);
    }
    let count = fleet.targets().len();
    let from = &plan.from;
    if count == 0 {
        if !plan.allow_empty {
            return Err(empty_list(from));
        }
        out.note(&format!("no targets in {from}: nothing to do"));
    } else {
        out.progress(&format!(
            "{} from {from}, {} at a time{how}{}",
            plural(count, "target"),
            plan.jobs.unwrap_or(fleet::DEFAULT_JOBS).min(count),
            if plan.keep_going {
                ", keeping going after failures"
            } else {
                ""
            }
        ));
    }
    Ok(fleet)
}

/// A list with no target, refused (exit 5) unless `--allow-empty`: a deploy whose tenant
/// query has a typo in its `WHERE`, or whose list file a failed step left empty, must not
/// pass for one that migrated every tenant (nor `status` for one that is up to date).
fn empty_list(from: &str) -> Error {
    Error::invalid(format!("no targets in {from}: the list is empty")).with_help(format!(
        "check {from}; when no target is expected (no tenant yet), pass --allow-empty"
    ))
}

/// The waits for another session's lock a fleet's command has named so far (`LockBlocked`, by
/// [`wait_identity`]): see [`live`].
type Said = std::sync::Mutex<std::collections::HashSet<String>>;

/// What makes two targets' waits (`LockBlocked`) the same wait, for the fleet's one line: the
/// relation waited for and who holds it — a session by its pid and start, a prepared
/// transaction by its gid —, never what the holder shows that changes meanwhile (its state
/// and since when: a line keyed by its words named one holder again when its `state_change`
/// moved between two targets' look-ups).
fn wait_identity(relation: Option<&str>, holders: &[confiture::migrate::LockHolder]) -> String {
    use confiture::migrate::LockHolder;
    let who: Vec<String> = holders
        .iter()
        .map(|holder| match holder {
            LockHolder::Session(session) => {
                format!("pid {} {:?}", session.pid, session.backend_start)
            }
            LockHolder::PreparedTransaction(prepared) => format!("gid {:?}", prepared.gid),
            other => other.to_string(),
        })
        .collect();
    format!("{relation:?} {who:?}")
}

/// The live line (terminal only) and, as they happen, the targets that failed. A target's
/// wait for another session's lock is named once for the whole fleet (`said`): the first
/// target waiting for those holders says it, as `<target>: waiting for a lock ...`; another
/// target waiting for the very same ones (tenants of one database behind one session) adds
/// no line — a hundred waiting targets are not a hundred lines; its own error names them
/// again if its wait ends in failure.
fn live(out: &Output, said: &Said, event: &Event) {
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
                // A target the stop interrupted did not fail on its own.
                let (style, word) = if *exit_code == exit::INTERRUPTED {
                    (Style::Yellow, "interrupted:")
                } else {
                    (Style::Red, "failed:")
                };
                out.progress(&format!(
                    "{} {} (exit {exit_code})",
                    out.paint_err(style, word),
                    display::escape(target)
                ));
            }
            if counts.done < counts.total {
                out.progress_inline(&line(counts));
            }
        }
        // A target's own events, named by the target (a tenant schema's too): the database
        // `--create-database` created (or would), shown even with --quiet as for one
        // database, and a wait for the target's migration lock.
        Event::Progress {
            target, progress, ..
        } => {
            let target = display::escape(target);
            if let Some(line) = super::migrate::created_line(progress) {
                out.progress_inline("");
                out.note(&format!("{target}: {line}"));
            } else if let Progress::SimilarDatabaseExists { database, similar } = progress {
                out.progress_inline("");
                out.warning(&format!(
                    "{target}: {}",
                    super::migrate::similar_database_line(database, similar, true)
                ));
            } else if let Some(line) = super::migrate::lock_line(progress) {
                let first = match progress {
                    Progress::LockBlocked { relation, holders } => said
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(wait_identity(relation.as_deref(), holders)),
                    _ => true,
                };
                if first {
                    out.progress(&format!("{target}: {line}"));
                }
            }
        }
        // A target's wait for its server (`--wait-for-server`): one database's lines
        // (`migrate::migrator`'s), named by the target, each on a line of its own (the live
        // line cleared first), shown even with --quiet.
        Event::WaitingForServer {
            target, waiting, ..
        } => {
            out.progress_inline("");
            out.note(&format!(
                "{}: {}",
                display::escape(target),
                display::escape(&waiting.to_string())
            ));
        }
        // Event is `#[non_exhaustive]`: an event this CLI does not know yet shows nothing.
        _ => {}
    }
}

/// The detail lines of a target's error (`command`'s): its details as one database's error
/// shows them (a hint may be one), cut to a few lines — the JSON entry has them all — then
/// what became of the other migrations, in one database's words ([`render::fate`]: applied
/// before the failure, durability unknown, fate unknown, not attempted).
fn target_details(command: &str, error: &confiture::migrator::ReportedError) -> Vec<String> {
    let direction = match command {
        "down" => Direction::Down,
        _ => Direction::Up,
    };
    let mut details = display::cut(error.details.clone());
    details.extend(render::reported_fate(error, direction));
    details
}

fn line(c: &fleet::Counts) -> String {
    const WIDTH: usize = 24;
    let filled = (c.done * WIDTH)
        .checked_div(c.total)
        .unwrap_or(0)
        .min(WIDTH);
    let interrupted = match c.interrupted {
        0 => String::new(),
        n => format!(", {n} interrupted"),
    };
    format!(
        "[{}{}] {}/{} targets finished: {} done, {} failed{interrupted}, {} running",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled),
        c.done,
        c.total,
        c.succeeded(),
        c.failed,
        c.running
    )
}

/// The table (or JSON) on stdout, each failure's error on stderr; the fleet's exit code.
/// A target's suggested commands address it (`Output::for_target`). `interrupt`: the
/// signals of a command that can be stopped, whose rule ([`Interrupt::after`]) speaks last.
fn finish(out: &Output, report: &FleetReport, interrupt: Option<&Interrupt>) -> u8 {
    finish_with(out, report, interrupt, None)
}

/// [`finish`], the JSON document carrying `errors` when given: the errors of the files every
/// target read (`status`'s, [`super::migrate::status_errors`]), once for the fleet.
fn finish_with(
    out: &Output,
    report: &FleetReport,
    interrupt: Option<&Interrupt>,
    errors: Option<Vec<confiture::migrate::ReportedError>>,
) -> u8 {
    // Ends the live line before anything else is printed.
    out.progress_inline("");
    if out.json_mode() {
        out.json_targets(report, errors);
    } else {
        out.result(&table(out, report));
        target_warnings(out, report);
    }
    for failed in report.ended_with_error() {
        let out = &out.for_target(failed);
        if let Some(error) = &failed.error {
            let mut text = format!(
                "{} {} ({}): {}",
                out.paint_err(Style::Red, "error:"),
                display::escape(&failed.shown()),
                display::escape(&failed.source),
                display::escape(&error.message)
            );
            let details = out.details(target_details(report.command, error));
            if !details.is_empty() {
                text.push('\n');
                text.push_str(details.trim_end_matches('\n'));
            }
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
    // A target with no history that holds objects: what `status` of it alone says.
    for t in &report.targets {
        if let Some(unrecorded) = unrecorded(t) {
            let out = &out.for_target(t);
            out.note(&format!(
                "{} {} ({}): {}, but it already holds {}: {} refuses to run every migration \
                 over it; {}",
                out.paint_err(Style::Cyan, "help:"),
                display::escape(&t.shown()),
                display::escape(&t.source),
                unrecorded.ledger_is(),
                unrecorded.described(),
                out.hint(&confiture::hint::command("migrate up")),
                out.hint(&unrecorded.help())
            ));
        }
    }
    // A target with an interrupted migration: what one database's status says of it, its
    // commands addressed to that target.
    for t in &report.targets {
        if let Some(interrupted) = interrupted(t) {
            let out = &out.for_target(t);
            for line in interrupted.interrupted_help() {
                // Each line is `help: ...` or `note: ...`: the target goes after that word.
                let (word, rest) = line.split_once(": ").unwrap_or(("help", line.as_str()));
                out.note(&format!(
                    "{} {} ({}): interrupted: {}",
                    out.paint_err(Style::Cyan, &format!("{word}:")),
                    display::escape(&t.shown()),
                    display::escape(&t.source),
                    out.hint(rest)
                ));
            }
        }
    }
    // A target whose migration lock a run holds now, and one with a pending migration that
    // `up` refuses over an INVALID index: what one database's status says of it, its commands
    // addressed to that target.
    for t in &report.targets {
        let Some(fleet::CommandReport::Status(status)) = &t.report else {
            continue;
        };
        let out = &out.for_target(t);
        let lock_held = status.lock_held_help();
        for line in lock_held
            .into_iter()
            .chain(status.pending_invalid_index_help())
        {
            let (word, rest) = line.split_once(": ").unwrap_or(("help", line.as_str()));
            out.note(&format!(
                "{} {} ({}): {}",
                out.paint_err(Style::Cyan, &format!("{word}:")),
                display::escape(&t.target),
                display::escape(&t.source),
                out.hint(rest)
            ));
        }
    }
    // A target whose history diverged from the files: why (its first divergence, and whose
    // rows another member's are), and the command that shows every migration of every target (a fleet's text is its table).
    for t in &report.targets {
        if let Some(diverged) = diverged(t) {
            let out = &out.for_target(t);
            let why = match diverged.diverged.split_first() {
                Some((first, [])) => format!("{first}; "),
                Some((first, rest)) => format!("{first} (and {} more); ", rest.len()),
                None => String::new(),
            };
            // Rows another workspace member applied there: whose they are, as on one database.
            let whose = (diverged.another_members_rows.as_ref()).map_or_else(String::new, |rows| {
                format!("{}; ", confiture::plan::another_members_help(rows))
            });
            out.note(&format!(
                "{} {} ({}): diverged: {}{whose}{} shows each target's migrations",
                out.paint_err(Style::Cyan, "help:"),
                display::escape(&t.shown()),
                display::escape(&t.source),
                display::escape(&why),
                out.hint(&confiture::hint::command("migrate status --format json"))
            ));
        }
    }
    let code = report.exit_code();
    if let Some(interrupt) = interrupt {
        interrupt.after(out, !report.summary.interrupted, "the last target finished");
    }
    if report.summary.interrupted {
        let s = &report.summary;
        // `up` and `status` are safe to run again on the whole list (`up` applies only what
        // is missing); `down` again would roll back the finished targets once more.
        let next = if report.command == "down" {
            // A cancelled target that rolled back part of its plan: its own help names the
            // `--target` that finishes it; its `--steps N` again would roll back N more.
            let midway = report.targets.iter().any(|t| match &t.report {
                Some(fleet::CommandReport::Down(r)) => r.finish_target.is_some(),
                _ => false,
            });
            let cancelled = if midway {
                "; a cancelled target that rolled back part of it must not get its `--steps` \
                 once more (they would count from where it stopped): run the command its help \
                 names instead, which finishes its rollback (`--target`)"
            } else {
                ""
            };
            format!(
                "run `down` on the targets {} alone (a list of them): run on the whole list \
                 again, it would roll back the finished ones once more{cancelled}",
                if midway {
                    "not started or cancelled before rolling back anything"
                } else {
                    "cancelled or not started"
                }
            )
        } else if report.command == "up" && limited_up(report) {
            // `--steps`/`--target`: a bare `up` would apply every pending migration, and the
            // same `--steps N` would apply N more on the finished targets.
            "run `up` as it was asked on the targets not started or cancelled before applying \
             anything alone (a list of them): on the whole list, a `--steps N` would apply N \
             more on the finished ones; a cancelled target that applied part of it: run the \
             command its help names, which finishes it (`--target`)"
                .to_string()
        } else {
            format!(
                "run `cargo confiture migrate {}` again to reach the rest",
                report.command
            )
        };
        out.note(&out.hint(&format!(
            "interrupted: {} finished, {} cancelled, {} failed, {} not started \
             (exit {code}); {next}",
            s.done, s.interrupted_targets, s.failed, s.not_started
        )));
        return code;
    }
    if code == exit::FLEET_MIXED && !out.json_mode() {
        out.note(&out.hint(&format!(
            "note: the targets ended with different exit codes (exit {code}); each target's is in the table, and in `--format json`"
        )));
    }
    code
}

/// Whether a fleet's `up` was limited by `--steps` or `--target`: a target left pending
/// migrations beyond its plan (`UpReport::skipped`), or one stopped midway names the `--target`
/// that finishes it (`UpReport::finish_target`).
fn limited_up(report: &FleetReport) -> bool {
    report.targets.iter().any(|t| match &t.report {
        Some(fleet::CommandReport::Up(r)) => !r.skipped.is_empty() || r.finish_target.is_some(),
        _ => false,
    })
}

/// Each target's warnings (a migration applied out of order, a server `WARNING`, ...), one
/// `warning: <target>: ...` line each on stderr, in the list's order: what the single-database
/// command says (`migrate::warnings`), named by the target (never with a password). JSON
/// carries them in each target's `report.warnings`.
fn target_warnings(out: &Output, report: &FleetReport) {
    for t in &report.targets {
        let Some(r) = &t.report else {
            continue;
        };
        for warning in r.warnings() {
            out.warning(&format!("{}: {warning}", t.shown()));
        }
    }
}

/// What happened to a target, in a few words, and its colour.
fn result_cell(command: &str, t: &TargetReport) -> (String, Style) {
    match (t.state, t.exit_code) {
        (TargetState::NotStarted, _) => ("– not started".to_string(), Style::Yellow),
        (TargetState::Interrupted, _) => (
            format!("✗ interrupted (exit {})", exit::INTERRUPTED),
            Style::Red,
        ),
        (TargetState::Failed, code) => (
            format!("✗ failed (exit {})", code.unwrap_or(exit::SUCCESS)),
            Style::Red,
        ),
        (TargetState::Done, code) if command == "verify" || command == "drift" => {
            match (command, code) {
                (_, Some(exit::SUCCESS)) if command == "verify" => {
                    ("✓ verified".to_string(), Style::Green)
                }
                (_, Some(exit::SUCCESS)) => ("✓ no drift".to_string(), Style::Green),
                (_, Some(exit::SCHEMA_CHECK_FAILED)) if command == "verify" => {
                    ("✗ check failed".to_string(), Style::Red)
                }
                (_, Some(exit::SCHEMA_CHECK_FAILED)) => ("✗ drift".to_string(), Style::Red),
                (_, code) => (
                    format!("! exit {}", code.unwrap_or(exit::SUCCESS)),
                    Style::Red,
                ),
            }
        }
        (TargetState::Done, _) if command == "status" && unrecorded(t).is_some() => {
            ("! holds unrecorded objects".to_string(), Style::Red)
        }
        // A migration a run left part-way: what one database's status says of its line
        // (`State::Interrupted`, counted in `summary.interrupted`), never just "diverged".
        (TargetState::Done, _) if command == "status" && interrupted(t).is_some() => {
            ("! interrupted".to_string(), Style::Red)
        }
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
            let (direction, count) = dry_run_plan(t).unwrap_or((Direction::Up, 0));
            let verb = super::migrate::would(direction);
            match count {
                0 => (format!("{verb} nothing"), Style::Green),
                n => (format!("{verb} {n}"), Style::Yellow),
            }
        }
        (TargetState::Done, _) if t.applied.is_empty() && t.rolled_back.is_empty() => {
            let direction = if command == "down" {
                Direction::Down
            } else {
                Direction::Up
            };
            (
                format!("✓ {}", super::migrate::nothing_to_do(direction)),
                Style::Green,
            )
        }
        (TargetState::Done, _) if command == "down" => (
            format!("✓ rolled back {}", t.rolled_back.len()),
            Style::Green,
        ),
        (TargetState::Done, _) => (format!("✓ applied {}", t.applied.len()), Style::Green),
    }
}

/// `status`: what a target with no history (no ledger, or no rows) holds where its
/// migrations build.
fn unrecorded(t: &TargetReport) -> Option<&confiture::ledger::Unrecorded> {
    match &t.report {
        Some(fleet::CommandReport::Status(r)) if r.summary.errors == 0 => r.unrecorded.as_ref(),
        _ => None,
    }
}

/// `status`: the report of a target whose history diverged from the files (exit 7), and
/// that has no interrupted migration ([`interrupted`] says that one).
fn diverged(t: &TargetReport) -> Option<&confiture::status::StatusReport> {
    match &t.report {
        Some(fleet::CommandReport::Status(r))
            if r.exit_code() == exit::DIVERGED && interrupted(t).is_none() =>
        {
            Some(r)
        }
        _ => None,
    }
}

/// `status`: the report of a target with a migration a run started and never finished
/// (`State::Interrupted`, [`confiture::status::Summary::interrupted`]): the state one
/// database's status shows on its line, with [`StatusReport::interrupted_help`].
///
/// [`StatusReport::interrupted_help`]: confiture::status::StatusReport::interrupted_help
fn interrupted(t: &TargetReport) -> Option<&confiture::status::StatusReport> {
    match &t.report {
        Some(fleet::CommandReport::Status(r)) if r.summary.interrupted > 0 => Some(r),
        _ => None,
    }
}

/// A dry run's plan: what it would do and to how many migrations (nothing was written, so
/// `applied` and `rolled_back` are empty and must not read as "up to date").
fn dry_run_plan(t: &TargetReport) -> Option<(Direction, usize)> {
    match &t.report {
        Some(fleet::CommandReport::Up(r)) if r.dry_run => Some((Direction::Up, r.migrations.len())),
        Some(fleet::CommandReport::Down(r)) if r.dry_run => {
            Some((Direction::Down, r.migrations.len()))
        }
        _ => None,
    }
}

/// The versions column: for `up` those applied by this run (`down`: rolled back), and those
/// whose fate is unknown; for `status` how many are recorded and pending.
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
    if command == "verify" {
        return match (&t.report, &t.shared_with) {
            (_, Some(first)) => format!("as {}", display::escape(first)),
            // Those it checked: a target that failed before its checks checked none.
            (Some(fleet::CommandReport::Verify(r)), _) => {
                let s = &r.summary;
                match s.reversible + s.irreversible + s.failed_checks {
                    0 if s.not_checked > 0 => "none checked".to_string(),
                    checked => format!("{} checked here", plural(checked, "migration")),
                }
            }
            _ => "—".to_string(),
        };
    }
    if command == "drift" {
        return match &t.report {
            Some(fleet::CommandReport::Drift(r)) if !r.drift.is_empty() => {
                plural(r.drift.len(), "difference")
            }
            Some(fleet::CommandReport::Drift(r)) => match &r.replayed_with {
                // Compared with the replay another target of the same history made.
                Some(first) => format!(
                    "{}, as {}",
                    plural(r.replayed.len(), "migration"),
                    display::escape(first)
                ),
                None => format!("{} replayed", plural(r.replayed.len(), "migration")),
            },
            _ => "—".to_string(),
        };
    }
    let versions = if command == "down" {
        &t.rolled_back
    } else {
        &t.applied
    };
    // `up` and `down` alike: what may have committed after a lost connection, in the words
    // of a failed run's own error (`render::fate`).
    let unknown =
        (!t.unknown.is_empty()).then(|| format!("fate unknown: {}", render::versions(&t.unknown)));
    match (versions.is_empty(), unknown) {
        (true, None) => "—".to_string(),
        (true, Some(unknown)) => unknown,
        (false, None) => render::versions(versions),
        (false, Some(unknown)) => format!("{}; {unknown}", render::versions(versions)),
    }
}

fn table(out: &Output, report: &FleetReport) -> String {
    let command = report.command;
    let rows: Vec<(String, (String, Style), String)> = report
        .targets
        .iter()
        .map(|t| {
            (
                display::escape(&t.shown()).into_owned(),
                result_cell(command, t),
                versions_cell(command, t),
            )
        })
        .collect();
    let width = render::column_width(rows.iter().map(|r| r.0.as_str()), "Target");
    let result_width = render::column_width(rows.iter().map(|r| r.1 .0.as_str()), "Result");
    let third = match command {
        "status" => "Migrations",
        "down" => "Rolled back",
        "verify" => "Verified",
        "drift" => "Compared",
        _ => "Applied",
    };
    let mut text = out.paint(
        Style::Bold,
        &format!(
            "{}  {}  {third}",
            render::pad("Target", width),
            render::pad("Result", result_width)
        ),
    );
    text.push('\n');
    for (target, (cell, style), versions) in &rows {
        text.push_str(&format!(
            "{}  {}{}  {versions}\n",
            render::pad(target, width),
            out.paint(*style, cell),
            render::padding(cell, result_width)
        ));
    }
    let s = &report.summary;
    let mut summary = format!(
        "{}: {} done, {} failed",
        plural(s.total, "target"),
        s.done,
        s.failed
    );
    if s.interrupted_targets > 0 {
        summary.push_str(&format!(", {} interrupted", s.interrupted_targets));
    }
    if s.not_started > 0 && s.interrupted {
        summary.push_str(&format!(", {} not started (interrupted)", s.not_started));
    } else if s.not_started > 0 {
        summary.push_str(&format!(
            ", {} not started (stopped at the first failure; --keep-going runs every target)",
            s.not_started
        ));
    }
    summary.push_str(&format!(" in {} ms", s.duration_ms));
    text.push_str(&summary);
    findings(&mut text, report);
    text
}

/// Under the table: what `verify` found on each server and `drift` on each target.
fn findings(text: &mut String, report: &FleetReport) {
    for t in &report.targets {
        let shown = t.shown();
        let target = display::escape(&shown);
        let (headline, found) = match &t.report {
            Some(fleet::CommandReport::Verify(r)) => match r.first_finding() {
                Some(m) => (
                    format!(
                        "{target}: {} {}",
                        display::escape(&m.id()),
                        m.result.as_str()
                    ),
                    &m.findings,
                ),
                None => continue,
            },
            Some(fleet::CommandReport::Drift(r)) if !r.drift.is_empty() => {
                (format!("{target}: drift"), &r.drift)
            }
            _ => continue,
        };
        text.push_str(&format!("\n\n{headline}"));
        for f in found {
            for line in display::escape_prose(&f.message).lines() {
                text.push_str(&format!("\n    {line}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// A fleet's targets waiting behind one holder are one wait, whatever the holder showed
    /// each target's look-up meanwhile (its state, since when): CI saw a second line for the
    /// same session whose `state_change` had moved. Another holder, or another relation, is
    /// another wait.
    #[test]
    fn a_holder_is_one_wait_for_the_fleet_whatever_its_state_shows() {
        use confiture::migrate::{HoldingSession, LockHolder};
        let session = |pid: i32, state_change: &str| {
            LockHolder::Session(HoldingSession {
                pid,
                application_name: Some("holder".to_string()),
                user: Some("postgres".to_string()),
                client_addr: None,
                backend_start: Some("2026-12-08T05:34:20Z".to_string()),
                state: Some("idle in transaction".to_string()),
                state_change: Some(state_change.to_string()),
                tool: None,
            })
        };
        let at = |pid, when| wait_identity(Some("public.shared"), &[session(pid, when)]);
        assert_eq!(at(7, "2026-12-08T05:34:20Z"), at(7, "2026-12-08T05:34:24Z"));
        assert_ne!(at(7, "2026-12-08T05:34:20Z"), at(8, "2026-12-08T05:34:20Z"));
        assert_ne!(
            at(7, "2026-12-08T05:34:20Z"),
            wait_identity(Some("public.other"), &[session(7, "2026-12-08T05:34:20Z")])
        );
    }

    /// hdp #2: a target's error in the fleet's text said what a failed run left (applied
    /// before the failure, durability unknown, fate unknown, not attempted) as one database's
    /// error does (`render::fate`), in both directions: after a server crash it said only the
    /// table's `fate unknown`.
    #[test]
    fn a_target_error_says_what_became_of_the_others_as_one_database_does() {
        use confiture::error::{ErrorKind, MigrationFailure, Reason};
        for (command, direction) in [("up", Direction::Up), ("down", Direction::Down)] {
            let mut failure = MigrationFailure::default();
            failure.direction = direction;
            failure.committed = vec!["001".into()];
            failure.durability_unknown = vec!["001".into()];
            failure.unknown = vec!["002".into()];
            failure.not_attempted = vec!["003".into()];
            let error = Error::new(ErrorKind::MigrationFailed, "the server crashed")
                .with_detail("the connection was lost")
                .with_reason(Reason::Migration(Box::new(failure.clone())));
            let reported = confiture::migrator::ReportedError::of(&error);
            let details = target_details(command, &reported);
            let mut expected = vec!["the connection was lost".to_string()];
            expected.extend(render::fate(&failure));
            assert_eq!(details, expected, "{command}");
            assert!(
                details.iter().any(|d| d.starts_with("durability unknown")),
                "{details:?}"
            );
        }
    }

    #[test]
    fn the_jobs_help_names_the_library_default() {
        let cli = Cli::command();
        for command in ["up", "down", "status", "verify", "drift"] {
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
                help.contains(&format!("else {})", fleet::DEFAULT_JOBS)),
                "{command}: {help}"
            );
        }
    }

    /// The live line counts as the summary does: `done` is the targets whose command
    /// returned its report, the failed and interrupted aside (`FleetSummary::done`), never
    /// every finished target.
    #[test]
    fn the_live_line_counts_done_as_the_summary_does() {
        for (finished, failed, interrupted) in [(2, 1, 0), (3, 0, 2), (4, 2, 1), (0, 0, 0)] {
            let mut c = fleet::Counts::default();
            c.total = 6;
            c.done = finished;
            c.failed = failed;
            c.interrupted = interrupted;
            c.running = 1;
            let text = line(&c);
            let done = finished - failed - interrupted;
            assert!(
                text.contains(&format!(" {done} done, {failed} failed")),
                "{text}"
            );
            if interrupted > 0 {
                assert!(
                    text.contains(&format!(", {interrupted} interrupted")),
                    "{text}"
                );
            }
            assert!(text.contains(&format!("{finished}/6 ")), "{text}");
        }
    }
}
