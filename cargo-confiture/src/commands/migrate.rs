//! `migrate up|down|status|baseline|reinit`: the commands that connect to a database.

use std::borrow::Cow;
use std::time::Duration;

use confiture::config::{self, Selection};
use confiture::history::Version;
use confiture::migrate::{
    AbandonOptions, AbandonReport, AbandonedRun, BaselineOptions, Direction, DownOptions, Failed,
    Outcome, Progress, RecordedOverRun, ReinitOptions, ReinitReport, ReinitRow, ReportedError,
    StatusOptions, UpOptions,
};
use confiture::plan::{Effect, ReinitAction};
use confiture::status::{MigrationStatus, State, StatusReport};
use confiture::{display, exit, hint, Diagnostic, Migrator, Result};

use super::fleet::Selected;
use super::interrupt::{Interrupt, Words, READING_FILES};
use super::Context;
use crate::cli::{
    AbandonArgs, BaselineArgs, Cli, Command, DownArgs, ListGiven, Migrate, ReinitArgs, UpArgs,
    SELECTION_LABELS,
};
use crate::output::{Output, Style};
use crate::render::{self, plural};

pub fn run(cli: &Cli, cx: &Context, command: &Migrate, out: &Output) -> Result<u8> {
    // `verify` and `drift` have their own signal thread (it drops the scratch databases).
    let interrupt = || Interrupt::on_signal(out, READING_FILES);
    match command {
        Migrate::Status(args) => {
            let options =
                StatusOptions::default().lock_wait(args.lock.lock_wait.map(|w| w.duration()));
            let interrupt = interrupt();
            match super::fleet::select(cli, cx, &args.fleet)? {
                Selected::Fleet(plan) => super::fleet::status(plan, &options, out, &interrupt),
                Selected::One(migrator) => {
                    let migrator = interruptible(migrator, &interrupt, READING);
                    let code = status(migrator, &options, out);
                    interrupt.after(out, code.is_ok(), "the status was read");
                    code
                }
            }
        }
        Migrate::Up(args) => up(cli, cx, args, out, &interrupt()),
        Migrate::Down(args) => down(cli, cx, args, out, &interrupt()),
        Migrate::Baseline(args) => baseline(cli, cx, args, out, &interrupt()),
        Migrate::Reinit(args) => reinit(cli, cx, args, out, &interrupt()),
        Migrate::Abandon(args) => abandon(cli, cx, args, out, &interrupt()),
        Migrate::Verify(args) => super::verify::verify(cli, cx, args, out),
        Migrate::Drift(args) => super::verify::drift(cli, cx, args, out),
        Migrate::Generate(_) => unreachable!("generate does not connect; handled by commands::run"),
    }
}

/// `migrate up`, on one database or a fleet.
fn up(cli: &Cli, cx: &Context, args: &UpArgs, out: &Output, interrupt: &Interrupt) -> Result<u8> {
    let options = UpOptions::default()
        .steps(args.steps)
        .target_version(args.target.clone())
        .dry_run(args.dry_run)
        .single_transaction(args.single_transaction)
        .allow_out_of_order(args.allow_out_of_order)
        .lock_wait(args.lock.lock_wait.duration())
        .lock_timeout_statement(args.timeouts.lock_timeout_statement.map(Duration::from))
        .statement_timeout(args.timeouts.statement_timeout.map(Duration::from))
        .create_database(args.create_database)
        .allow_destructive(args.allow_destructive)
        .allow_newer_database(args.allow_newer_database)
        .allow_non_empty(args.allow_non_empty)
        .rerun_interrupted(args.rerun_interrupted);
    let mut migrator = match super::fleet::select(cli, cx, &args.fleet)? {
        Selected::Fleet(plan) => return super::fleet::up(plan, &options, out, interrupt),
        Selected::One(migrator) => interruptible_once_locked(
            migrator,
            interrupt,
            args.dry_run,
            (BEFORE_MIGRATING, MIGRATING),
        ),
    };
    let out = &out.with_python_of(migrator.environment(), &cx.display_dir);
    let outcome = migrator.up(&options, &mut shown(out, interrupt));
    warnings(out, &outcome, |r| &r.warnings);
    let last = "the last migration committed";
    finish(
        out,
        interrupt,
        (last, args.dry_run),
        outcome,
        |_| exit::SUCCESS,
        |out, r| {
            let ran = (r.dry_run, &r.migrations[..], r.total_duration_ms);
            ran_text(out, Direction::Up, ran, &r.applied)
        },
    )
}

/// `migrate down`, on one database or a fleet.
fn down(
    cli: &Cli,
    cx: &Context,
    args: &DownArgs,
    out: &Output,
    interrupt: &Interrupt,
) -> Result<u8> {
    let options = DownOptions::default()
        .steps(args.steps)
        .target_version(args.target.clone())
        .yes(args.yes)
        .dry_run(args.dry_run)
        .allow_modified(args.allow_modified)
        .lock_wait(args.lock.lock_wait.duration())
        .lock_timeout_statement(args.timeouts.lock_timeout_statement.map(Duration::from))
        .statement_timeout(args.timeouts.statement_timeout.map(Duration::from))
        .rerun_interrupted(args.rerun_interrupted);
    let mut migrator = match super::fleet::select(cli, cx, &args.fleet)? {
        Selected::Fleet(plan) => return super::fleet::down(plan, &options, out, interrupt),
        Selected::One(migrator) => interruptible_once_locked(
            migrator,
            interrupt,
            args.dry_run,
            (BEFORE_MIGRATING, MIGRATING),
        ),
    };
    let out = &out.with_python_of(migrator.environment(), &cx.display_dir);
    let outcome = migrator.down(&options, &mut shown(out, interrupt));
    // `--allow-modified` went on past an edited file: say so where people look.
    warnings(out, &outcome, |r| &r.warnings);
    finish(
        out,
        interrupt,
        ("the last rollback committed", args.dry_run),
        outcome,
        |_| exit::SUCCESS,
        |out, r| {
            let ran = (r.dry_run, &r.migrations[..], r.total_duration_ms);
            ran_text(out, Direction::Down, ran, &r.rolled_back)
        },
    )
}

/// `up` and `down` before the migration lock is taken (connecting, waiting for the lock): no
/// migration has started, and what they did not do is [`Effect::nothing_done`]'s.
const BEFORE_MIGRATING: Words = (
    "ending the wait: no migration has started",
    Effect::Runs.nothing_done(),
);

/// `up` and `down` once the migration lock is taken. True in every case: a no-transaction
/// migration (whose committed statements stay), a rollback; the report says what happened.
const MIGRATING: Words = (
    "cancelling the running statement; no other migration starts",
    // Never "rolled back": the migration running may have committed as the signal came.
    "whether the running migration committed is unknown: `migrate status` says, and the server \
     rolls back what it had not committed",
);

/// `baseline` and `reinit` before the migration lock is taken (connecting, waiting for the
/// lock): the rewrite has not begun, and what they did not do is [`Effect::nothing_done`]'s.
const BEFORE_REWRITING: Words = (
    "ending the wait: the ledger rewrite has not started",
    Effect::Records.nothing_done(),
);

/// `baseline` and `reinit` once the migration lock is taken: one transaction.
const REWRITING: Words = (
    "cancelling the running statement; the ledger rewrite is rolled back unless it has committed",
    "the server rolls back the ledger rewrite unless it has committed",
);

/// A `--dry-run` of `up`, `down`, `baseline` or `reinit`: nothing is written.
const DRY_RUN: Words = (
    "ending the read; a dry run writes nothing",
    "the dry run wrote nothing",
);

/// `words`, or [`DRY_RUN`]'s for a dry run: it commits nothing to roll back.
fn unless_dry(dry_run: bool, words: Words) -> Words {
    if dry_run {
        DRY_RUN
    } else {
        words
    }
}

/// `status`: nothing is written.
const READING: Words = (
    "ending the read; status writes nothing",
    "status wrote nothing",
);

/// One database's command stopped cleanly by SIGINT, SIGTERM or SIGHUP ([`Interrupt`],
/// `Migrator::stop_when`): the running statement is cancelled and rolled back, nothing more
/// starts, and the failure report says what committed (exit 130) — or, when the run
/// completed all the same, its normal report ([`Interrupt::after`]). Dry runs too: they
/// write nothing, and end as promptly.
fn interruptible(migrator: Migrator, interrupt: &Interrupt, words: Words) -> Migrator {
    interrupt.words(words);
    interrupt.database(migrator.environment().connection.to_string());
    migrator.stop_when(interrupt.flag())
}

/// [`interruptible`] for a command that writes once it takes the migration lock (`up`, `down`,
/// `baseline`, `reinit`): a signal before the lock is taken says `before`'s words (a dry run's,
/// [`DRY_RUN`], throughout: it writes nothing); one after it `locked`'s, as the engine knows it
/// when the signal comes, not once its event reaches this thread ([`Interrupt::once_locked`]).
fn interruptible_once_locked(
    migrator: Migrator,
    interrupt: &Interrupt,
    dry_run: bool,
    (before, locked): (Words, Words),
) -> Migrator {
    let migrator = interruptible(migrator, interrupt, unless_dry(dry_run, before));
    if !dry_run {
        interrupt.once_locked(locked, migrator.lock_taken());
    }
    migrator
}

/// [`super::finish`], then [`Interrupt::after`]: the outcome decides what is said of a signal.
fn finish<R: serde::Serialize>(
    out: &Output,
    interrupt: &Interrupt,
    (last, dry_run): (&str, bool),
    outcome: std::result::Result<R, Failed<R>>,
    code: impl Fn(&R) -> u8,
    text: impl Fn(&Output, &R) -> String,
) -> Result<u8> {
    let completed = outcome.is_ok();
    let code = super::finish(out, outcome, code, text)?;
    // A dry run commits nothing: what the signal came after is its plan.
    let last = if dry_run {
        "the dry run had made its plan (it writes nothing)"
    } else {
        last
    };
    interrupt.after(out, completed, last);
    Ok(code)
}

/// `migrate baseline`.
// Its run returns the library's `Outcome`, whose failure carries the report (the cold path).
#[allow(clippy::result_large_err)]
fn baseline(
    cli: &Cli,
    cx: &Context,
    args: &BaselineArgs,
    out: &Output,
    interrupt: &Interrupt,
) -> Result<u8> {
    let options = baseline_options(args);
    rewrite(
        (cli, cx, "migrate baseline", args.dry_run),
        out,
        interrupt,
        |migrator, progress| migrator.baseline(&options, progress),
        |r| &r.warnings,
        |r| {
            let ids = &r.baselined_ids;
            let mut lines = vec![if ids.is_empty() {
                "nothing to record: every migration through that version is already in the ledger"
                    .to_string()
            } else {
                recorded_line(r.dry_run, ids)
            }];
            lines.extend(recorded_over_lines(r.dry_run, &r.recorded_over_interrupted));
            lines.extend(dry_run_line(r.dry_run));
            lines.join("\n")
        },
    )
}

/// `migrate reinit`.
// Its run returns the library's `Outcome`, whose failure carries the report (the cold path).
#[allow(clippy::result_large_err)]
fn reinit(
    cli: &Cli,
    cx: &Context,
    args: &ReinitArgs,
    out: &Output,
    interrupt: &Interrupt,
) -> Result<u8> {
    let options = reinit_options(args);
    rewrite(
        (cli, cx, "migrate reinit", args.dry_run),
        out,
        interrupt,
        |migrator, progress| migrator.reinit(&options, progress),
        |r| &r.warnings,
        |r| reinit_text(r, args.through.is_some()),
    )
}

/// `migrate abandon VERSION`.
// Its run returns the library's `Outcome`, whose failure carries the report (the cold path).
#[allow(clippy::result_large_err)]
fn abandon(
    cli: &Cli,
    cx: &Context,
    args: &AbandonArgs,
    out: &Output,
    interrupt: &Interrupt,
) -> Result<u8> {
    let options = AbandonOptions::version(args.version.clone())
        .dry_run(args.dry_run)
        .lock_wait(args.lock.lock_wait.duration());
    rewrite(
        (cli, cx, "migrate abandon", args.dry_run),
        out,
        interrupt,
        |migrator, progress| migrator.abandon(&options, progress),
        |r| &r.warnings,
        abandon_text,
    )
}

/// The runs left part-way whose migrations `baseline` or `reinit` recorded (would record) as
/// applied, each named as `abandon` names a run it forgets: who, when, what committed.
fn recorded_over_lines(dry_run: bool, runs: &[RecordedOverRun]) -> Vec<String> {
    runs.iter()
        .map(|r| {
            display::escape(&format!(
                "{} {} over its interrupted apply ({}): {}; what did not commit was never run, \
                 and its start marker {} deleted",
                if dry_run { "would record" } else { "recorded" },
                r.migration,
                r.run.started(),
                r.committed,
                if dry_run { "would be" } else { "was" },
            ))
            .into_owned()
        })
        .collect()
}

/// What `abandon` forgot (would forget), and where each migration stands now.
fn abandon_text(report: &AbandonReport) -> String {
    let mut lines = Vec::new();
    for abandoned in &report.abandoned {
        let AbandonedRun {
            run,
            committed,
            now,
            migration,
            above_newest,
            ..
        } = abandoned;
        let what = match run.direction.as_str() {
            "down" => "rollback",
            _ => "apply",
        };
        lines.push(format!(
            "{} the interrupted {what} of {} ({}): {committed}",
            if report.dry_run {
                "would forget"
            } else {
                "forgot"
            },
            run.id(),
            run.started(),
        ));
        let migration = migration.as_deref().unwrap_or_default();
        let stays = match run.direction.as_str() {
            "down" => "what the rollback committed stays in the database",
            _ => "what it committed stays in the database",
        };
        let dry_run = report.dry_run;
        // What a command does next, once the run is forgotten: in a dry run, which forgets
        // nothing, the next run of it does, and the command suggested (a preview, as every
        // suggestion of a dry run is) previews that, running nothing.
        let does = |command: &str, what: &str| match dry_run {
            true => format!(
                "the next `{command}` {what} ({} previews it)",
                hint::command(command)
            ),
            false => format!("{} {what}", hint::command(command)),
        };
        let (is, would_be) = match dry_run {
            true => ("would be", "would stay"),
            false => ("is", "stays"),
        };
        // The `up` that runs a migration pending again: with no row in the ledger and objects
        // where the migrations build (what the run committed), a plain `up` refuses.
        let (up, over) = match &report.unrecorded {
            Some(u) => (
                "migrate up --allow-non-empty",
                format!(
                    "; {}, and the database holds {}: a plain `migrate up` refuses to run over \
                     them",
                    u.ledger_is(),
                    u.described()
                ),
            ),
            None => ("migrate up", String::new()),
        };
        lines.push(format!(
            "  {}",
            match *now {
                "applied" => format!(
                    "{migration} {is} still applied: {stays}; {}",
                    does("migrate down", "rolls it back again")
                ),
                "not_here" => format!("no file here has version {}: {stays}", run.version),
                "missing" if *above_newest => format!(
                    "its row {would_be}, with no file here (`missing`), above the newest \
                     migration here, which {} keeps (a newer release's for all it can tell): \
                     {stays}; to remove the row, restore its files and run {}",
                    hint::command("migrate reinit"),
                    hint::command("migrate down")
                ),
                "missing" => format!(
                    "its row {would_be}, with no file here (`missing`): {stays}; once what the \
                     rollback removes is gone, {}",
                    does("migrate reinit", "forgets the row")
                ),
                "replaced" => format!(
                    "its row {would_be}, and the file of version {} here, {migration}, is \
                     another migration (`replaced`): {stays}; {}, and then {}",
                    run.version,
                    does("migrate reinit", "forgets the row"),
                    does("migrate up", &format!("runs {migration}")),
                ),
                "another" => format!(
                    "the file of version {} here, {migration}, is another migration: it is \
                     pending, and {}; {stays}{over}",
                    run.version,
                    does(up, "runs it")
                ),
                _ => format!(
                    "{migration} {is} pending again: {stays}, and {}{over}",
                    does(up, "runs it")
                ),
            }
        ));
    }
    lines.extend(dry_run_line(report.dry_run));
    lines.join("\n")
}

/// The one run of `baseline` and `reinit` (`command`, a `dry_run` or not): the session on
/// its one database or tenant schema ([`super::fleet::one_database`]), stopped by
/// `interrupt`, and the output that renders its run — its JSON document's `schema`, its
/// suggested commands addressing the target its list of one target chose ([`Output::on`]) —,
/// which `interrupt`'s exit at once renders with too; `run` on that session with its progress
/// [`shown`], the report's warnings (`warnings_of`) said, and its `text` rendered; a signal
/// before the engine took the lock ([`confiture::Migrator::lock_taken`]) says that nothing was
/// recorded ([`BEFORE_REWRITING`]), one after it what happens to the rewrite ([`REWRITING`]),
/// and one after the rewrite committed is said as such.
fn rewrite<R: serde::Serialize>(
    (cli, cx, command, dry_run): (&Cli, &Context, &str, bool),
    out: &Output,
    interrupt: &Interrupt,
    run: impl FnOnce(&mut Migrator, &mut dyn FnMut(Progress)) -> Outcome<R>,
    warnings_of: impl Fn(&R) -> &Vec<String>,
    text: impl Fn(&R) -> String,
) -> Result<u8> {
    let (migrator, chosen) = super::fleet::one_database(cli, cx, command)?;
    let out = out
        .on(cli, migrator.environment(), chosen)
        .with_python_of(migrator.environment(), migrator.migrations_dir());
    interrupt.renders_with(&out);
    let mut migrator =
        interruptible_once_locked(migrator, interrupt, dry_run, (BEFORE_REWRITING, REWRITING));
    let out = &out;
    let mut progress = shown(out, interrupt);
    let outcome = run(&mut migrator, &mut progress);
    warnings(out, &outcome, warnings_of);
    finish(
        out,
        interrupt,
        ("the ledger rewrite committed", dry_run),
        outcome,
        |_| exit::SUCCESS,
        // Its suggested commands completed as every other's: on this run's database, a
        // preview's with `--dry-run`.
        |out, r| out.completed(&text(r)),
    )
}

/// The progress of a run on one database (`up`, `down`, `baseline`, `reinit`): told to
/// `interrupt` (what a signal's report says was under way) and shown on stderr
/// ([`ProgressView`]).
fn shown<'a>(out: &'a Output, interrupt: &'a Interrupt) -> impl FnMut(Progress) + 'a {
    let mut view = ProgressView::default();
    move |p| {
        interrupt.progress(&p);
        view.on(out, p)
    }
}

fn baseline_options(args: &BaselineArgs) -> BaselineOptions {
    BaselineOptions::through_version(args.through.clone())
        .yes(args.yes)
        .dry_run(args.dry_run)
        .lock_wait(args.lock.lock_wait.duration())
}

fn reinit_options(args: &ReinitArgs) -> ReinitOptions {
    ReinitOptions::default()
        .through_version(args.through.clone())
        .yes(args.yes)
        .dry_run(args.dry_run)
        .lock_wait(args.lock.lock_wait.duration())
}

/// `baseline`/`reinit` given a list of one target: what the command refuses from its flags
/// and files alone (an unknown `--through`), asked of a session of `env` (the list's
/// environment) before the list is read — a usage error is refused before any query runs,
/// as the fleet commands refuse theirs (`fleet::check_request`).
fn check_before_the_list(cli: &Cli, cx: &Context, env: &config::Environment) -> Result<()> {
    let session = || session(env.clone(), cx);
    match &cli.command {
        Command::Migrate(Migrate::Baseline(args)) => {
            session().check_baseline(&baseline_options(args))
        }
        Command::Migrate(Migrate::Reinit(args)) => session().check_reinit(&reinit_options(args)),
        _ => Ok(()),
    }
}

/// A session of `env` on the migrations of `cx`, suggesting commands as the command line
/// completes them (with the flags as typed: `Output::hint`).
fn session(env: config::Environment, cx: &Context) -> Migrator {
    Migrator::new(env, cx.display_dir.clone(), cx.check_options.clone())
        .suggesting(confiture::hint::Invocation::default())
        .migrations_dir_named_by(cx.dir_named_by)
}

/// Resolves the database by the documented precedence and opens a session (connecting lazily).
/// The `using ...` line is printed when the session first reaches the server, so a request
/// refused before that (`--steps 0`, an unknown `--target`, broken files) prints none.
pub(super) fn migrator(cli: &Cli, cx: &Context) -> Result<Migrator> {
    migrator_choosing(cli, cx).map(|(migrator, _)| migrator)
}

/// [`migrator`], with the target that `baseline`/`reinit`'s list of one target chose (how its
/// suggested commands address it, `Output::on`); `None` without such a list.
pub(super) fn migrator_choosing(
    cli: &Cli,
    cx: &Context,
) -> Result<(Migrator, Option<hint::OneTarget>)> {
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
    let mut env = config::resolve_with(
        &cx.workspace,
        &selection,
        &SELECTION_LABELS,
        &config::process_vars,
    )?;
    if let Some(wait) = g.wait_for_server {
        env.wait_for_server_option(wait.into());
    }
    if let Some(note) =
        config::database_url_not_used(&env, &config::process_vars, &SELECTION_LABELS)
    {
        Output::note_line(&display::escape(&note));
    }
    // Another member's rows in this ledger are told apart from edits: a member whose
    // environment resolves to this one's database and tracking table writes, with the same
    // `--schema` or list, the same tenant's or target's ledger (a fleet's targets told so too:
    // `Fleet::for_migrator`).
    let shared = members_sharing_the_ledger(cx, &selection, &env);
    // `baseline`/`reinit`'s list of one target: that target, announced as `--schema` announces
    // a tenant of the environment's database (a database listed by name as its list names it).
    let (env, mut using, chosen) = match cli.one_target_list() {
        Some(list) => {
            check_before_the_list(cli, cx, &env)?;
            let target = one_target(&env, list, g.schema.as_deref(), &cli.words().join(" "))?;
            let using = match &target.schema {
                Some(schema) => format!("{} schema {schema}", env.describe()),
                None => target.environment.describe(),
            };
            let chosen = target.addressed();
            (target.environment, using, Some(chosen))
        }
        None => {
            let using = env.describe();
            (env, using, None)
        }
    };
    // One tenant schema of that database, exactly as a fleet's `--schemas-query` makes each
    // of its tenants a target (ledger, `search_path`, lock; the name checked there, and the
    // whole database's ledger refused where the server resolves it: `one_schema` asks it,
    // once the command has refused what its flags and files alone decide — a usage error is
    // exit 64 whether or not the server answers: `Migrator::before_connecting`).
    let (env, resolve) = match &g.schema {
        Some(schema) => {
            using.push_str(&format!(" schema {schema}"));
            // `up --create-database` on a database that does not exist yet: resolved as the
            // database it creates will resolve it (its dry run too).
            let creating = matches!(
                &cli.command,
                Command::Migrate(Migrate::Up(args)) if args.create_database
            );
            // `up` says it creates a new tenant, and warns when a tenant has a close name.
            let up_would = match &cli.command {
                Command::Migrate(Migrate::Up(args)) => Some(args.dry_run),
                _ => None,
            };
            let tenant =
                confiture::fleet::Target::schema(&env, schema, hint::SCHEMA_FLAG)?.environment;
            let (schema, out) = (schema.clone(), Output::new(cli));
            let resolve = move |_: &confiture::config::Environment| {
                let target =
                    confiture::fleet::one_schema(&env, &schema, hint::SCHEMA_FLAG, creating)?;
                if let (Some(would), Some(new)) = (up_would, target.new_schema()) {
                    match new.creating(would) {
                        Ok(note) => out.note(&display::escape(&note)),
                        Err(warning) => out.warning(&warning),
                    }
                }
                Ok(())
            };
            (tenant, Some(resolve))
        }
        None => (env, None),
    };
    let using = display::escape(&using).into_owned();
    // libpq's warning, and like libpq we go on without the file: said once the run's outcome
    // is known ([`say_ignored_passfile`]), unless its error says it.
    let ignored = env.connection.unread_passfile().map(|(passfile, why)| {
        format!(
            "{}: it is not read",
            why.sentence(confiture::display::path_text(passfile).as_ref())
        )
    });
    // The command line completes suggested commands itself, with the flags as typed
    // (`Output::hint`).
    let mut migrator = session(env, cx).sharing_ledger_with(shared);
    if let Some(resolve) = resolve {
        migrator.before_connecting(resolve);
    }
    // A server not accepting connections yet, waited for (`--wait-for-server`): said as it
    // waits, not only when the wait has passed.
    migrator.on_server_wait(|waiting| Output::note_line(&display::escape(&waiting.to_string())));
    migrator.on_connect(move |_| {
        Output::note_line(&using);
        if let Some(warning) = ignored {
            *IGNORED_PASSFILE.lock().unwrap_or_else(|e| e.into_inner()) = Some(warning);
        }
    });
    Ok((migrator, chosen))
}

/// The other members of the workspace whose environment — chosen as this run chooses its own,
/// `selection` — resolves to `env`'s database and tracking table, each with its migrations read
/// and checked: the library tells their rows in this ledger from edits
/// ([`confiture::plan::of_another_member`]). The members are those the root manifest declares
/// with `[package.metadata.confiture]` (`Workspace::declared_members_with_settings`, the
/// manifests read, no `cargo metadata`); one whose environment or files cannot be read is
/// passed over: it says nothing of these rows.
fn members_sharing_the_ledger(
    cx: &Context,
    selection: &Selection,
    env: &config::Environment,
) -> Vec<confiture::plan::SharedLedger> {
    let members = cx
        .workspace
        .declared_members_with_settings()
        .unwrap_or_default();
    if members.len() < 2 {
        return Vec::new();
    }
    let own = display::without_dot_dot(&cx.migrations_dir);
    (members.into_iter())
        .filter_map(|(package, dir)| {
            let workspace = confiture::workspace::Workspace::discover(&dir).ok()?;
            let migrations = workspace.migrations_dir();
            if display::without_dot_dot(&migrations) == own {
                return None;
            }
            let other = config::resolve_with(
                &workspace,
                selection,
                &SELECTION_LABELS,
                &config::process_vars,
            )
            .ok()?;
            let same = other.connection.same_database(&env.connection)
                && other.migration.tracking_table == env.migration.tracking_table;
            if !same {
                return None;
            }
            let checked = confiture::files::load(&migrations, &cx.check_options).ok()?;
            Some(confiture::plan::SharedLedger {
                package,
                set: checked.set,
            })
        })
        .collect()
}

/// `baseline` and `reinit` with a list of one target (`--targets FILE`, `--targets-query SQL`,
/// `--schemas-query SQL`): the one database or tenant schema `list` names, resolved from `base`
/// by the fleet's own resolution (`fleet::resolve_list`: a name on its server with its
/// credentials and settings, a URL, a tenant schema with its ledger, `search_path` and lock) —
/// how a fleet target's help selects that target alone, and how a target a query returns is
/// reached as the fleet reached it. A list of no target or of more than one is a usage error
/// (exit 64) naming how many and (a few of) them, before anything is written (a query only
/// reads); so is `--schema` beside it, which names a tenant of `base`'s database itself.
fn one_target(
    base: &config::Environment,
    list: ListGiven<'_>,
    schema: Option<&str>,
    command: &str,
) -> Result<confiture::fleet::Target> {
    let flag = list.flag();
    let (one, given, or) = match list {
        ListGiven::File(file) => (
            "database",
            format!("{flag} {} a database", display::path(file)),
            "--targets FILE for a database",
        ),
        ListGiven::TargetsQuery(_) => (
            "database",
            format!("{flag} a database"),
            "--targets-query SQL for a database",
        ),
        ListGiven::SchemasQuery(_) => (
            "tenant schema",
            format!("{flag} the one its query returns"),
            "--schemas-query SQL for the tenant its query returns",
        ),
    };
    if let Some(schema) = schema {
        // Raw: the renderer escapes what it prints.
        return Err(confiture::Error::usage(format!(
            "--schema {schema} names a tenant schema of the environment's database, and {given}"
        ))
        .with_help(format!("give --schema NAME for a tenant, or {or}")));
    }
    let targets = confiture::fleet::resolve_list(base, &list.fleet_list())?;
    if targets.len() == 1 {
        return Ok(targets.into_iter().next().expect("one target"));
    }
    let from = list.named();
    let (count, help) = match list {
        ListGiven::File(_) => (
            format!("lists {}", plural(targets.len(), "target")),
            "list one database in it (`--targets <(echo NAME)`)".to_string(),
        ),
        ListGiven::TargetsQuery(_) => (
            format!("returns {}", plural(targets.len(), "database")),
            "make the query return the one database to act on, or select it by name with \
             `--targets <(echo NAME)`"
                .to_string(),
        ),
        ListGiven::SchemasQuery(_) => (
            format!("returns {}", plural(targets.len(), "tenant schema")),
            "make the query return the one tenant schema to act on, or select it with \
             `--schema NAME`"
                .to_string(),
        ),
    };
    let listed = targets
        .iter()
        .map(|t| format!("{} ({})", t.shown(), t.source))
        .collect();
    let mut error =
        confiture::Error::usage(format!("`{command}` takes one {one}, and {from} {count}"))
            .with_help(format!("{help}, or run `{command}` once for each {one}"));
    for line in display::cut(listed) {
        error = error.with_detail(line);
    }
    Err(error)
}

/// The warning about a password file not read (its permissions, or not a file), once the run reached the
/// server: said by [`say_ignored_passfile`].
static IGNORED_PASSFILE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Says the warning about a password file the run did not read (its group or others may read
/// it, or it is not a file: `confiture::config::PassfileUnread`), once, when the run's outcome is known: not when the run's `error` says it already
/// ([`confiture::Error::ignored_passfile`]: the server asked for the password the file would
/// have given), else after a run that connected without it or failed for another reason.
pub(crate) fn say_ignored_passfile(out: &Output, error: Option<&confiture::Error>) {
    let warning = IGNORED_PASSFILE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(warning) = warning {
        if error.and_then(confiture::Error::ignored_passfile).is_none() {
            out.warning(&warning);
        }
    }
}

/// What `reinit` did (or would do), one line per kind of change. `through`: `--through` was
/// given.
fn reinit_text(r: &ReinitReport, through: bool) -> String {
    let ids = |action: ReinitAction, keep: &dyn Fn(&ReinitRow) -> bool| -> Vec<String> {
        r.rows
            .iter()
            .filter(|row| row.action == action && keep(row))
            .map(|row| display::migration_id(&row.version, &row.name))
            .collect()
    };
    let would = |done: &str, planned: &str| -> String {
        if r.dry_run { planned } else { done }.to_string()
    };
    let mut lines = Vec::new();
    let kept = ids(ReinitAction::Keep, &|row| !row.kept_as_newer);
    if !kept.is_empty() {
        lines.push(format!(
            "{} {} as {} (no change): {}",
            would("kept", "would keep"),
            plural(kept.len(), "row"),
            if kept.len() == 1 { "it is" } else { "they are" },
            display::version_range(&kept)
        ));
    }
    // Rows above the newest file, which reinit never forgets (the warning says why): the
    // ledger does not match the files.
    let newer = ids(ReinitAction::Keep, &|row| row.kept_as_newer);
    if !newer.is_empty() {
        let one = newer.len() == 1;
        lines.push(format!(
            "{} {} with no file on disk as {} (a newer release's, or {} files are gone: see \
             the warning): {}",
            would("kept", "would keep"),
            plural(newer.len(), "row"),
            if one { "it is" } else { "they are" },
            if one { "its" } else { "their" },
            display::version_range(&newer)
        ));
    }
    let accepted = ids(ReinitAction::Accept, &|_| true);
    if !accepted.is_empty() {
        lines.push(format!(
            "{} the files of {} (their checksum, version or name; applied_at and execution_time_ms are kept): {}",
            would("accepted", "would accept"),
            plural(accepted.len(), "row"),
            display::version_range(&accepted)
        ));
    }
    let edited = ids(ReinitAction::Accept, &|row| row.edited);
    if !edited.is_empty() {
        let one = edited.len() == 1;
        lines.push(format!(
            "the new {} of {} (edited since {} ran) {} recorded as applied without being run: \
             the database keeps what the text that ran did (a schema change goes in a new \
             migration: {})",
            if one { "text" } else { "texts" },
            display::version_range(&edited),
            if one { "it" } else { "they" },
            match (r.dry_run, one) {
                (true, _) => "would be",
                (false, true) => "is",
                (false, false) => "are",
            },
            hint::command("migrate generate NAME"),
        ));
    }
    // Line endings (or a byte-order mark) alone: never "edited"; the way each went decides
    // what was recorded (`LineEndingChange::file_has_lf`).
    let is = |n: usize| match (r.dry_run, n == 1) {
        (true, _) => "would be",
        (false, true) => "is",
        (false, false) => "are",
    };
    let as_is = ids(ReinitAction::Accept, &|row| {
        row.line_endings.is_some_and(|c| c.file_has_lf())
    });
    if !as_is.is_empty() {
        lines.push(format!(
            "the text of {}, which {} from what ran only by line endings (or a byte-order mark),              {} recorded as it is now: nothing that runs changed",
            display::version_range(&as_is),
            if as_is.len() == 1 { "differs" } else { "differ" },
            is(as_is.len()),
        ));
    }
    let converted = ids(ReinitAction::Accept, &|row| {
        row.line_endings.is_some_and(|c| !c.file_has_lf())
    });
    if !converted.is_empty() {
        let them = display::it_them(converted.len());
        lines.push(format!(
            "the bytes of {} as a checkout or an editor converted {them} (CRLF, lone CR, or a              byte-order mark; {} ran with LF and no mark) {} recorded: every LF checkout sees              {them} modified",
            display::version_range(&converted),
            if converted.len() == 1 { "it" } else { "they" },
            is(converted.len()),
        ));
    }
    let recorded = ids(ReinitAction::Record, &|_| true);
    if !recorded.is_empty() {
        lines.push(recorded_line(r.dry_run, &recorded));
    }
    lines.extend(recorded_over_lines(r.dry_run, &r.recorded_over_interrupted));
    let with_files = ids(ReinitAction::Forget, &|row| row.runs_again);
    if !with_files.is_empty() {
        // The way back: the newest of them, and the ones below it, recorded again.
        let newest = (r.rows.iter())
            .filter(|row| row.action == ReinitAction::Forget && row.runs_again)
            .filter_map(|row| Some((Version::number_of(&row.version).ok()?, &row.version)))
            .max_by_key(|(number, _)| *number)
            .map(|(_, text)| {
                format!(
                    " ({} records {} again without running {})",
                    hint::command(&format!("migrate baseline --through {text}")),
                    display::it_them(with_files.len()),
                    display::it_them(with_files.len()),
                )
            });
        lines.push(format!(
            "{} {} whose migration files are on disk: the next `migrate up` runs {}{}: {}",
            would("forgot", "would forget"),
            plural(with_files.len(), "row"),
            display::it_them(with_files.len()),
            newest.unwrap_or_default(),
            display::version_range(&with_files)
        ));
    }
    let replaced: Vec<String> = r
        .rows
        .iter()
        .filter_map(|row| {
            let by = row.replaced_by.as_deref()?;
            Some(format!(
                "{} (now {})",
                display::escape(&display::migration_id(&row.version, &row.name)),
                display::escape(by)
            ))
        })
        .collect();
    if !replaced.is_empty() {
        lines.push(format!(
            "{} {} whose files are gone and whose number another migration now has: the next `migrate up` runs {}: {}",
            would("forgot", "would forget"),
            plural(replaced.len(), "row"),
            if replaced.len() == 1 { "that migration" } else { "those migrations" },
            display::version_range(&replaced)
        ));
    }
    let second = ids(ReinitAction::Forget, &|row| {
        row.file_on_disk && !row.runs_again && row.replaced_by.is_none()
    });
    if !second.is_empty() {
        lines.push(format!(
            "{} {} for a migration another row records (it stays applied): {}",
            would("forgot", "would forget"),
            plural(second.len(), "second row"),
            display::version_range(&second)
        ));
    }
    let gone = ids(ReinitAction::Forget, &|row| !row.file_on_disk);
    if !gone.is_empty() {
        lines.push(format!(
            "{} {} with no file on disk: {}",
            would("forgot", "would forget"),
            plural(gone.len(), "row"),
            display::version_range(&gone)
        ));
    }
    // `--through` is named only where it would record something: not given, and a file has
    // no row.
    let through_helps = !through && !r.unrecorded.is_empty();
    if r.rows.is_empty() {
        // No row at all (or no table): "matches the files" would read as "all applied".
        lines.push(format!(
            "nothing to change: the ledger records no migration{}",
            if through_helps {
                " (`migrate up` applies them; `--through VERSION` records those applied by \
                 other means)"
            } else {
                ""
            }
        ));
    } else if kept.len() == r.rows.len() {
        // Every row kept, none as a newer release's: those are no match.
        lines.push(format!(
            "nothing to change: the ledger matches the files{}",
            if through_helps {
                " (`--through VERSION` also records migrations that have no row)"
            } else {
                ""
            }
        ));
    }
    lines.extend(dry_run_line(r.dry_run));
    lines.join("\n")
}

/// What `baseline` and `reinit --through` say of the migrations (ids, escaped here) they
/// record as applied without running them.
fn recorded_line(dry_run: bool, ids: &[String]) -> String {
    format!(
        "{} {} as applied without running {}: {}",
        if dry_run { "would record" } else { "recorded" },
        plural(ids.len(), "migration"),
        if ids.len() == 1 { "it" } else { "them" },
        display::version_range(ids)
    )
}

/// The last line of a ledger rewrite's dry run (`baseline`, `reinit`).
fn dry_run_line(dry_run: bool) -> Option<String> {
    dry_run.then(|| "dry run: nothing was written".to_string())
}

/// A report's warnings (the pooler check unable to tell, `--allow-modified` going on
/// past an edited file), one `warning:` line each on stderr in table output; JSON carries
/// them in `warnings`. Every command's warnings take the form and the escaping of
/// [`Output::warning`].
fn warnings<R>(
    out: &Output,
    outcome: &std::result::Result<R, Failed<R>>,
    of: impl Fn(&R) -> &Vec<String>,
) {
    if out.json_mode() {
        return;
    }
    let report = match outcome {
        Ok(report) | Err(Failed { report, .. }) => report,
    };
    for warning in of(report) {
        out.warning(warning);
    }
}

/// What a run of `up` or `down` (`direction`) says on stdout: a dry run's plan of
/// `migrations`, that there was nothing to do, or the versions it applied or rolled back
/// (`done`) — `applied 3 migrations in 41 ms: 001, 002, 003`; `applied 1000 migrations in
/// 160 ms: 0001…1000` (the JSON report keeps every version).
fn ran_text(
    out: &Output,
    direction: Direction,
    (dry_run, migrations, total_ms): (bool, &[confiture::migrate::MigrationReport], u64),
    done: &[String],
) -> String {
    if dry_run {
        plan_text(out, direction, migrations)
    } else if done.is_empty() {
        match direction {
            Direction::Up => format!("already {}: nothing to apply", nothing_to_do(direction)),
            Direction::Down => nothing_to_do(direction).to_string(),
        }
    } else {
        format!(
            "{} {} in {total_ms} ms: {}",
            direction_done(direction),
            plural(done.len(), "migration"),
            render::versions(done)
        )
    }
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

    /// A migration finished: its line, and the bar again while others are to come.
    fn finished(
        &mut self,
        out: &Output,
        id: &str,
        direction: confiture::migrate::Direction,
        duration_ms: Option<u64>,
    ) {
        self.done += 1;
        // A time only when it is known: never a share of a message's time.
        let took = duration_ms
            .map(|ms| format!(" ({ms} ms)"))
            .unwrap_or_default();
        out.progress(&format!(
            "{} {id}{took}",
            out.paint_err(Style::Green, direction_done(direction)),
        ));
        if out.stderr_is_terminal && self.total > 1 && self.done < self.total {
            out.progress_inline(&self.bar());
        }
    }

    fn on(&mut self, out: &Output, event: Progress) {
        match event {
            Progress::LockWaiting { .. }
            | Progress::LockBlocked { .. }
            | Progress::LockAcquired { .. } => {
                if let Some(line) = lock_line(&event) {
                    out.progress(&line);
                }
            }
            Progress::UpToDate => {}
            // Shown even with --quiet, as the `using ...` line is: it says what was changed.
            Progress::DatabaseCreated { .. }
            | Progress::DatabaseCreatedMeanwhile { .. }
            | Progress::WouldCreateDatabase { .. } => {
                if let Some(line) = created_line(&event) {
                    out.note(&line);
                }
            }
            Progress::SimilarDatabaseExists {
                ref database,
                ref similar,
            } => out.warning(&similar_database_line(database, similar, false)),
            // Shown even with --quiet: a schema is made beside the ledger.
            Progress::LedgerSchemaCreated {
                ref schema,
                ref tracking_table,
            }
            | Progress::WouldCreateLedgerSchema {
                ref schema,
                ref tracking_table,
            } => {
                let would = matches!(event, Progress::WouldCreateLedgerSchema { .. });
                let new = confiture::ledger::NewTenantSchema {
                    schema: schema.clone(),
                    similar: None,
                    ledger: Some(confiture::ledger::LedgerSchema {
                        table: tracking_table.clone(),
                        fix: None,
                    }),
                };
                if let Ok(note) = new.creating(would) {
                    out.note(&display::escape(&note));
                }
            }
            Progress::Planned { count, .. } => {
                self.total = count;
                self.done = 0;
            }
            // On a terminal only; elsewhere nothing (the `_` arm).
            Progress::Started {
                version,
                name,
                direction,
                ..
            } if out.stderr_is_terminal => {
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
            } => self.finished(out, &shown_id(&version, &name), direction, duration_ms),
            // `Started` off a terminal; and Progress is `#[non_exhaustive]`: an event this CLI
            // does not know yet shows nothing.
            _ => {}
        }
    }
}

/// Who holds the migration lock: `pid 4242 (deploy)`, or `another session` when the server
/// did not say.
/// The line of a wait for the migration lock (`LockWaiting`, and `LockAcquired` after one,
/// only worth a line after 250 ms), or of a message waiting for another session's lock
/// (`LockBlocked`, its holders named as the exit-6 failure names them): one wording for one
/// database and for a fleet's targets.
pub(super) fn lock_line(event: &Progress) -> Option<String> {
    match event {
        Progress::LockWaiting { holder } => Some(format!(
            "waiting for the migration lock held by {}...",
            holder_text(holder.as_ref())
        )),
        Progress::LockBlocked { relation, holders } => {
            let on = relation
                .as_deref()
                .map(|r| format!(" on {r}"))
                .unwrap_or_default();
            let by: Vec<String> = holders.iter().map(ToString::to_string).collect();
            Some(
                display::escape(&format!(
                    "waiting for a lock{on} held by {}...",
                    by.join("; ")
                ))
                .into_owned(),
            )
        }
        Progress::LockAcquired { waited_ms } if *waited_ms >= 250 => {
            Some(format!("acquired the migration lock after {waited_ms} ms"))
        }
        _ => None,
    }
}

/// The line of `--create-database`'s work (`DatabaseCreated`, `DatabaseCreatedMeanwhile`,
/// `WouldCreateDatabase`): one wording for one database and for a fleet's targets.
pub(super) fn created_line(event: &Progress) -> Option<String> {
    match event {
        // Quoted as every message quotes a database's name (`config::quoted`, as the
        // connection's refusals do), not SQL-escaped: `"app"x"` on each line alike.
        Progress::DatabaseCreated { database } => Some(format!(
            "created database {}",
            display::escape(&confiture::config::quoted(database))
        )),
        Progress::DatabaseCreatedMeanwhile { database } => Some(format!(
            "database {} did not exist, and another session created it before this run could \
             (another `--create-database`?): this run created nothing, and migrates it as it is",
            display::escape(&confiture::config::quoted(database))
        )),
        Progress::WouldCreateDatabase { database } => Some(format!(
            "would create database {}: it does not exist (the plan is for an empty database)",
            display::escape(&confiture::config::quoted(database))
        )),
        _ => None,
    }
}

/// The warning of `--create-database` about to create `database` beside `similar`, an
/// existing database with a close name ([`Progress::SimilarDatabaseExists`]). A fleet's target
/// (`in_fleet`) is never told to drop its database: the name to fix is its entry in the
/// fleet's list, and a person who knows the fleet decides what the database holds.
pub(super) fn similar_database_line(database: &str, similar: &str, in_fleet: bool) -> String {
    let fix = if in_fleet {
        "fix the target's entry in the fleet's list of targets"
    } else {
        "fix the database name, and drop the new database (dropping a database deletes its data)"
    };
    format!(
        "database {} does not exist and --create-database creates it, but a database named \
         {} exists on this server: if that is the one meant, the new database is an empty \
         near-duplicate that every migration runs into; {fix}",
        confiture::config::quoted(database),
        confiture::config::quoted(similar)
    )
}

fn holder_text(holder: Option<&confiture::migrate::LockHolder>) -> String {
    use confiture::migrate::LockHolder;
    match holder {
        Some(LockHolder::Session(h)) => display::escape(&h.brief()).into_owned(),
        // A prepared transaction keeps the lock until it is committed or rolled back: the
        // error at the end of the wait says how.
        Some(other) => display::escape(&other.to_string()).into_owned(),
        None => "another session".to_string(),
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

/// What a run with nothing to do says, in its direction's words: `up` is up to date, `down`
/// has nothing to roll back (a database it leaves as it is is not "up to date"). The one
/// wording of the single-database line, the dry run and a fleet's result cell.
pub(super) fn nothing_to_do(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "up to date",
        Direction::Down => "nothing to roll back",
    }
}

/// `would apply` / `would roll back`: a dry run's verb.
pub(super) fn would(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "would apply",
        Direction::Down => "would roll back",
    }
}

/// Dry-run text: each migration, its transaction mode and its SQL.
fn plan_text(
    out: &Output,
    direction: Direction,
    migrations: &[confiture::migrate::MigrationReport],
) -> String {
    let verb = would(direction);
    if migrations.is_empty() {
        return match direction {
            Direction::Up => format!("{verb} nothing: already {}", nothing_to_do(direction)),
            Direction::Down => format!("{verb} nothing"),
        };
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

/// `migrate status`: the seed's table (or JSON), and the seed's exit codes. Problems in the
/// files are shown with the table, not instead of it (exit 5).
fn status(mut migrator: Migrator, options: &StatusOptions, out: &Output) -> Result<u8> {
    let out = &out.with_python_of(migrator.environment(), migrator.migrations_dir());
    // Its error (a connection's, say) is rendered by the caller's output, which does not
    // know this run's confiture (Python) words.
    let report = migrator
        .status_with(options)
        .map_err(|e| out.with_python_commands(e))?;
    if out.json_mode() {
        out.report_json(&StatusDocument {
            errors: status_errors(&report, migrator.migrations_dir()),
            report: &report,
        });
    } else {
        status_file_errors(out, &report.diagnostics);
        out.result(&status_table(out, &report));
        for line in status_advice(&report, migrator.dir_named_by()) {
            out.note(&out.hint(&line));
        }
    }
    Ok(report.exit_code())
}

/// `migrate status --format json`: the report, and `errors` as every other command's report
/// has it ([`status_errors`]).
#[derive(serde::Serialize)]
struct StatusDocument<'a> {
    #[serde(flatten)]
    report: &'a StatusReport,
    errors: Vec<confiture::migrate::ReportedError>,
}

/// The `errors` of `status`' JSON: empty, but for files that fail the run (exit 5), the one
/// `invalid` error of the directory (`dir`) that `up` refuses with ([`confiture::files::refusal`]), its
/// `diagnostics` the errors, so that `.errors[0]` reads that failure as it reads every other.
/// A state of the database (pending, diverged) is the report's to say, no error.
pub(crate) fn status_errors(report: &StatusReport, dir: &std::path::Path) -> Vec<ReportedError> {
    if report.exit_code() != exit::INVALID {
        return Vec::new();
    }
    files_errors(&report.diagnostics, dir)
}

/// The `invalid` error of the files whose `diagnostics` hold an error, as `up` refuses them:
/// a status's JSON `errors` (one database's, [`status_errors`], or a fleet's, from its one
/// check of the files); none when no diagnostic is an error.
pub(crate) fn files_errors(
    diagnostics: &[Diagnostic],
    dir: &std::path::Path,
) -> Vec<ReportedError> {
    let errors: Vec<&Diagnostic> = diagnostics.iter().filter(|d| d.is_error()).collect();
    if errors.is_empty() {
        return Vec::new();
    }
    let refusal = confiture::files::refusal(
        dir,
        errors,
        "`migrate up` does not run a migration whose files have errors",
    );
    vec![ReportedError::of(&refusal)]
}

/// The errors among `diagnostics`, the files' a status read, on stderr, rendered like
/// rustc's: one database's status shows them above its table, a fleet's once below its own
/// (every target reads the same files: the fleet's one check of them). [`files_errors_help`]
/// says how to fix them.
pub(crate) fn status_file_errors(out: &Output, diagnostics: &[Diagnostic]) {
    for d in diagnostics.iter().filter(|d| d.is_error()) {
        out.diagnostic(d);
    }
}

/// The help under [`status_file_errors`] of `diagnostics`: what fixes their errors, and that
/// `up` refuses them.
pub(crate) fn files_errors_help(diagnostics: &[Diagnostic]) -> Option<String> {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    (errors > 0).then(|| {
        format!(
            "help: fix the {} above ({} explains each rule); `migrate up` does not run a \
             migration whose files have errors",
            plural(errors, "error"),
            hint::command("lint")
        )
    })
}

fn status_cell(m: &MigrationStatus) -> (Cow<'static, str>, Style) {
    let (text, style) = match m.status {
        State::Applied => ("✓ applied", Style::Green),
        State::Pending => ("✗ pending", Style::Yellow),
        State::Modified => ("! modified", Style::Red),
        State::Missing => ("! missing", Style::Red),
        State::OutOfOrder => ("✗ out of order", Style::Red),
        State::Squashed => ("✓ squashed", Style::Cyan),
        State::Duplicate => ("! duplicate", Style::Red),
        State::Renumbered => ("! renumbered", Style::Red),
        State::Replaced => ("! replaced", Style::Red),
        State::Ambiguous => ("! ambiguous", Style::Red),
        // Its files have errors by definition: the state says which, `invalid` adds nothing.
        State::Unreadable { .. } => return (Cow::Borrowed("! unreadable"), Style::Red),
        // A confiture (Python) migration: cargo confiture cannot run it.
        State::Python { recorded: true } => ("✓ applied (Python)", Style::Green),
        State::Python { recorded: false } => ("✗ pending (Python)", Style::Yellow),
        // A no-transaction migration a run started and never finished: a person decides.
        // A newer build's, or one whose files were removed: nothing here can settle it.
        State::Interrupted { recorded: false } if m.not_here.is_some() => {
            ("! interrupted (not in these files)", Style::Red)
        }
        // A pair sharing its version with the version's migration (C003).
        State::Interrupted { recorded: false } if m.shares_version_with.is_some() => {
            ("! interrupted (shares its version)", Style::Red)
        }
        State::Interrupted { recorded: false } => ("! interrupted", Style::Red),
        State::Interrupted { recorded: true } if m.not_here.is_some() => {
            ("! interrupted (rollback, not in these files)", Style::Red)
        }
        State::Interrupted { recorded: true } if m.renumbered_from.is_some() => {
            ("! interrupted (rollback, renumbered)", Style::Red)
        }
        // An apply a row recorded over since, whose index it left INVALID.
        State::Interrupted { recorded: true }
            if m.started.as_ref().is_some_and(|s| s.direction == "up") =>
        {
            ("! interrupted (recorded)", Style::Red)
        }
        State::Interrupted { recorded: true } => ("! interrupted (rollback)", Style::Red),
    };
    if m.invalid {
        (Cow::Owned(format!("{text}, invalid")), Style::Red)
    } else {
        (Cow::Borrowed(text), style)
    }
}

/// A line of the status table: the migration, its state (painted), when it was applied.
type StatusRow<'a> = (String, (Cow<'static, str>, Style), Option<&'a str>);

fn status_table(out: &Output, report: &StatusReport) -> String {
    // Borrowed where nothing needs escaping or rewording: a table of 1,000 migrations makes
    // no string per cell.
    let rows: Vec<StatusRow<'_>> = report
        .migrations
        .iter()
        .map(|m| {
            let id = m.id();
            let escaped = match display::escape(&id) {
                Cow::Owned(escaped) => Some(escaped),
                Cow::Borrowed(_) => None,
            };
            (
                render::cell(escaped.unwrap_or(id)),
                status_cell(m),
                m.applied_at.as_deref(),
            )
        })
        .collect();
    let width = render::column_width(rows.iter().map(|r| r.0.as_str()), "Migration");
    let status_width = render::column_width(rows.iter().map(|r| r.1 .0.as_ref()), "Status");
    let mut text = out.paint(
        Style::Bold,
        &format!(
            "{}  {}  Applied At (UTC)",
            render::pad("Migration", width),
            render::pad("Status", status_width)
        ),
    );
    text.push('\n');
    // Written in place: one string for the table, not several per row.
    text.reserve(rows.len() * (width + status_width + 26));
    for (id, (cell, style), at) in &rows {
        render::push_padded(&mut text, id, width);
        text.push_str("  ");
        out.push_painted(&mut text, *style, cell);
        render::push_padding(&mut text, cell, status_width);
        text.push_str("  ");
        match at {
            Some(at) => push_human_time(&mut text, at),
            None => text.push('—'),
        }
        text.push('\n');
    }
    let s = &report.summary;
    let mut summary = format!(
        "{} applied, {} pending, {} total",
        s.applied, s.pending, s.total
    );
    // As the cells show them: an unreadable migration is not also called invalid.
    let invalid = report
        .migrations
        .iter()
        .filter(|m| m.invalid && !m.status.is_unreadable())
        .count();
    for (n, word) in [
        (s.modified, "modified"),
        (s.missing, "missing"),
        (s.out_of_order, "out of order"),
        (s.duplicate, "duplicate"),
        (s.renumbered, "renumbered"),
        (s.replaced, "replaced"),
        (s.ambiguous, "ambiguous"),
        (s.interrupted, "interrupted"),
        (s.unreadable, "unreadable"),
        (s.incomplete, "incomplete"),
        (s.unverified, "without checksum"),
        (s.squashed, "squashed"),
        (invalid, "invalid"),
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
    // What is known of each interrupted migration: part of the result.
    for m in &report.migrations {
        if let Some(started) = &m.started {
            text.push_str(&format!(
                "\n{}: {}",
                display::escape(&m.id()),
                report.marker_progress_of(m, started)
            ));
        }
    }
    // Which files of the unreadable migrations cannot be read, and why: part of the result.
    for file in report.migrations.iter().flat_map(|m| &m.unreadable_files) {
        text.push_str(&format!(
            "\ncannot read {}: {}",
            display::path(&file.path),
            display::escape(&file.error)
        ));
    }
    text
}

/// `2026-01-15T10:30:00+00:00` → `2026-01-15 10:30:00`, as the seed shows it: the column
/// header says UTC, which is what the ledger read gives. Another offset is kept in the cell.
/// Written at the end of `out`, without a string per cell.
fn push_human_time(out: &mut String, rfc3339: &str) {
    // Neither suffix holds a `T`, nor does an escape (`\x1b`, `\u{202e}`): cutting and
    // escaping before the first `T` is replaced gives what replacing it first would.
    let utc = rfc3339
        .strip_suffix("+00:00")
        .or_else(|| rfc3339.strip_suffix('Z'))
        .unwrap_or(rfc3339);
    let shown = display::escape(utc);
    match shown.split_once('T') {
        Some((date, time)) => {
            out.push_str(date);
            out.push(' ');
            out.push_str(time);
        }
        None => out.push_str(&shown),
    }
}

/// What to do next, on stderr, for the states a person must act on.
fn status_advice(report: &StatusReport, named_by: confiture::files::DirNamedBy) -> Vec<String> {
    let mut lines = Vec::new();
    let s = &report.summary;
    let lint = hint::command("lint");
    let reinit = hint::command("migrate reinit");
    lines.extend(files_errors_help(&report.diagnostics));
    let warnings = report.diagnostics.len() - s.errors;
    if warnings > 0 {
        lines.push(format!(
            "note: the migration files have {}: {lint} shows {}",
            plural(warnings, "warning"),
            if warnings == 1 { "it" } else { "them" }
        ));
    }
    lines.extend(report.lock_held_help());
    lines.extend(report.interrupted_help());
    lines.extend(report.pending_invalid_index_help());
    if let Some(prepared) = &report.lock_held_by_prepared {
        let note = format!(
            "note: {prepared} holds the migration lock: no run can take it, however long it \
             waits; {}",
            prepared.way_out()
        );
        lines.push(display::escape(&note).into_owned());
    }
    if report
        .migrations
        .iter()
        .any(|m| m.status == State::Python { recorded: false })
    {
        lines.push(format!(
            "note: a migration marked `pending (Python)` is a confiture (Python) migration \
             (`<VERSION>_<NAME>.py`); cargo confiture cannot run it, and {} refuses to run while it is pending: {}",
            hint::command("migrate up"),
            confiture::plan::PYTHON_HELP
        ));
    }
    if let Some(help) = &report.database_not_named {
        // No `migrate up` there: every writing command refuses a defaulted database.
        lines.push(format!(
            "help: no database was named, so this is the one the name defaulted to, which the \
             writing commands (up, down, baseline, reinit, abandon) refuse to migrate: {}",
            display::escape(help)
        ));
    } else if let (false, 0, Some(help)) =
        (report.initialised, s.errors, &report.cannot_create_ledger)
    {
        lines.push(format!(
            "help: the tracking table {} does not exist, and {} cannot create it: {help}",
            display::escape(&report.tracking_table),
            hint::command("migrate up"),
        ));
    } else if let (0, Some(unrecorded)) = (s.errors, &report.unrecorded) {
        lines.push(format!(
            "help: the tracking table {} {}, but the database already holds {}: \
             {} refuses to run every migration over it; {}",
            display::escape(&report.tracking_table),
            unrecorded.ledger_state(),
            unrecorded.described(),
            hint::command("migrate up"),
            unrecorded.help()
        ));
    } else if let (false, 0, Some(new)) = (report.initialised, s.errors, &report.new_schema) {
        lines.push(format!(
            "help: {}",
            new.status_help(&hint::command("migrate up"))
        ));
    } else if !report.initialised && s.errors == 0 {
        lines.push(format!(
            "help: run {} to create the tracking table and apply the migrations",
            hint::command("migrate up")
        ));
    }
    // Another member's rows (one database, one tracking table): said instead of the helps of
    // edited, replaced, missing rows, which would offer `reinit` over them.
    let shared = report.another_members_rows.as_ref();
    if let Some(rows) = shared {
        lines.push(format!(
            "help: {}",
            confiture::plan::another_members_help(rows)
        ));
    }
    // A modified migration whose pair is incomplete: `reinit` refuses it, its help says more.
    let modified: Vec<String> = report
        .modified
        .iter()
        .filter(|v| !report.incomplete.contains(v))
        .cloned()
        .collect();
    if !modified.is_empty() && shared.is_none() {
        lines.push(format!(
            "help: the up files of applied migrations changed since they ran ({}): {}",
            render::versions(&modified),
            confiture::plan::modified_help(confiture::plan::LineEndings::of(
                modified
                    .iter()
                    .map(|v| (v.clone(), report.line_ending_change(v)))
            ))
        ));
    }
    if !report.unreadable.is_empty() {
        lines.push(format!(
            "help: the files of {} are there but cannot be read: {}",
            render::versions(&report.unreadable),
            confiture::plan::UNREADABLE_HELP
        ));
    }
    // Misnamed files alone are renamed; a half gone is restored: one line for each.
    let (misnamed, incomplete): (Vec<String>, Vec<String>) =
        (report.incomplete.iter().cloned()).partition(|v| report.misnamed.contains(v));
    if !incomplete.is_empty() {
        lines.push(format!(
            "help: the pair of files of {} is incomplete or misnamed, and the ledger records it: {}",
            render::versions(&incomplete),
            confiture::plan::incomplete_help([confiture::plan::IncompletePair::HalfGone])
        ));
    }
    if !misnamed.is_empty() {
        lines.push(format!(
            "help: the files of {} are misnamed, and the ledger records them: {}",
            render::versions(&misnamed),
            confiture::plan::incomplete_help(misnamed.iter().map(|v| {
                confiture::plan::IncompletePair::Misnamed {
                    respelled: report.misnamed_respelled.contains(v),
                }
            }))
        ));
    }
    // The rows above the newest file are a newer release's (`up` says so too): forgetting
    // them would make that release apply them again, so `reinit` (which keeps them) is
    // offered for the others alone; `--allow-newer-database` only when `up` would accept it.
    let newer = report.newer_database.as_ref();
    let missing: Vec<String> = report
        .missing
        .iter()
        .filter(|v| newer.is_none_or(|n| !n.versions.contains(v)))
        .cloned()
        .collect();
    if let Some(newer) = newer {
        lines.push(format!(
            "help: {}: {}",
            display::escape(&newer.to_string()),
            confiture::plan::newer_database_help(newer, report.newer_database_alone, named_by)
        ));
    }
    if !missing.is_empty() && shared.is_none() {
        let newer_kept = match newer {
            Some(newer) => format!(
                " (and keeps those above the newest file, {}: the newer release's)",
                render::versions(&newer.versions)
            ),
            None => String::new(),
        };
        let removed =
            confiture::plan::removed_on_purpose_help(report.missing_leaves_gap, &newer_kept);
        lines.push(format!(
            "help: the ledger records migrations that have no file ({}): restore the files; if they were squashed into a schema snapshot, set `first_version` in {}; {removed}",
            render::versions(&missing),
            confiture::workspace::SETTINGS_TABLES
        ));
    }
    if !report.unverified.is_empty() {
        lines.push(format!(
            "help: the ledger records no checksum for applied migrations ({}): an edit of their files cannot be seen (confiture's `verify-checksums` reports them as mismatches); record the files' checksums with {reinit} once the files are the ones that ran",
            render::versions(&report.unverified)
        ));
    }
    if let Some(help) = &report.renumbered_help {
        lines.push(format!(
            "help: applied migrations were renumbered since they ran (now {}; the same up file): {help}",
            render::versions(&report.renumbered)
        ));
    }
    if !report.respelled.is_empty() {
        lines.push(format!(
            "help: the ledger spells the version of applied migrations unlike their files ({}, e.g. `01` for `001`); confiture (Python) compares the text and would run them again: rewrite the rows with {reinit} (nothing runs)",
            render::versions(&report.respelled)
        ));
    }
    if !report.replaced.is_empty() && shared.is_none() {
        lines.push(format!(
            "help: applied migrations' files are gone and another migration now has their number ({}): {}",
            render::versions(&report.replaced),
            confiture::plan::replaced_help()
        ));
    }
    if let Some(help) = &report.ambiguous_help {
        lines.push(format!(
            "help: nothing tells which file some applied migrations' rows record (rows {}): {help}",
            render::versions(&report.ambiguous)
        ));
    }
    if !report.duplicate.is_empty() {
        lines.push(format!(
            "help: the ledger records some versions twice (rows {}): {reinit} keeps one row per migration",
            render::versions(&report.duplicate)
        ));
    }
    if let Some(help) = &report.out_of_order_help {
        lines.push(format!(
            "help: pending migrations {} are older than the newest applied one: {help}",
            render::versions(&report.out_of_order),
        ));
    }
    lines
}
