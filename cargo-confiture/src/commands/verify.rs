//! `migrate verify` and `migrate drift`: call the library, render its report (a table, or the
//! report as JSON), and make sure an interrupted run drops its scratch databases.

// Runs return the library's `Outcome`, whose failure carries the report: the cold path,
// as in the library (`confiture::migrate`).
#![allow(clippy::result_large_err)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, Once};
use std::time::Duration;

use confiture::drift::{DriftOptions, DriftReport};
use confiture::history::Version;
use confiture::migrate::Outcome;
use confiture::schema::{Difference, ObjectId};
use confiture::verify::{
    CheckResult, Finding, MigrationCheck, ScratchProgress, ScratchServer, VerifyOptions,
    VerifyReport,
};
use confiture::{display, exit, hint, Error, Migrator, Result};

use super::fleet::Selected;
use super::Context;
use crate::cli::{Cli, DriftArgs, FleetArgs, ScratchArgs, VerifyArgs};
use crate::output::{LastDocument, Output, Style};
use crate::render::{self, plural};

pub fn verify(cli: &Cli, cx: &Context, args: &VerifyArgs, out: &Output) -> Result<u8> {
    let options = VerifyOptions::default()
        .from(args.from.as_deref().map(from_version).transpose()?)
        .scratch(scratch(&args.scratch))
        .lock_timeout_statement(args.timeouts.lock_timeout_statement.map(Duration::from))
        .statement_timeout(args.timeouts.statement_timeout.map(Duration::from));
    scratch_run(
        (cli, cx, out),
        (&args.fleet, &args.scratch),
        |plan| super::fleet::verify(plan, &options, out, INTERRUPTED.clone()),
        (verify_so_far, |m, progress| m.verify(&options, progress)),
        (VerifyReport::exit_code, verify_text),
        verify_help,
    )
}

pub fn drift(cli: &Cli, cx: &Context, args: &DriftArgs, out: &Output) -> Result<u8> {
    let options = DriftOptions::default()
        .scratch(scratch(&args.scratch))
        .schema_dir(args.schema_dir.clone())
        .lock_timeout_statement(args.timeouts.lock_timeout_statement.map(Duration::from))
        .statement_timeout(args.timeouts.statement_timeout.map(Duration::from))
        .lock_wait(args.lock.lock_wait.duration());
    scratch_run(
        (cli, cx, out),
        (&args.fleet, &args.scratch),
        |plan| super::fleet::drift(plan, &options, out, INTERRUPTED.clone()),
        (drift_so_far, |m, progress| m.drift(&options, progress)),
        (DriftReport::exit_code, drift_text),
        drift_help,
    )
}

/// How a report is rendered ([`finish`]): its exit code, its text.
type Rendered<R> = (fn(&R) -> u8, fn(&Output, &R) -> String);

/// The one run of `verify` and `drift`, once their options are built: the scratch databases
/// dropped on a signal from before the environment and the target list are read (a signal
/// while a pipe is waited on ends the run as interrupted, nothing to drop yet); a target list's
/// run by `fleet`, which claims the output itself before it prints the fleet's report; else
/// `run` on the one database, stopped by the signal (which renders the report `so_far`), its
/// progress shown, then its report: `code`, `text` and, in table output, `help`.
fn scratch_run<R: serde::Serialize + Send + 'static>(
    (cli, cx, out): (&Cli, &Context, &Output),
    (fleet_args, scratch_args): (&FleetArgs, &ScratchArgs),
    fleet: impl FnOnce(super::fleet::Plan) -> Result<u8>,
    (so_far, run): (
        SoFar,
        impl FnOnce(&mut Migrator, &mut dyn FnMut(ScratchProgress)) -> Outcome<R>,
    ),
    (code, text): Rendered<R>,
    help: impl FnOnce(&R) -> Option<String>,
) -> Result<u8> {
    drop_scratch_databases_on_interrupt(out);
    let migrator = match super::fleet::select(cli, cx, fleet_args)? {
        Selected::One(migrator) => migrator,
        Selected::Fleet(plan) => return fleet(plan),
    };
    let on = scratch_server_words(scratch_args);
    let mut migrator = migrator.stop_when(INTERRUPTED.clone());
    the_run_starts(so_far);
    let outcome = run(&mut migrator, &mut |p| progress(out, on, p));
    let help = match &outcome {
        Ok(report) if !out.json_mode() => help(report),
        _ => None,
    };
    finish(out, outcome, code, text, help)
}

/// The rendering of one database's report, handed to whichever thread prints the outcome.
type Render = Box<dyn FnOnce() -> Result<u8> + Send>;

/// One database's report, left by the command's thread when a signal stopped the run: the
/// signal thread prints it before the scratch databases are dropped (the stopped run left
/// them to it, `db::scratch::leave_stopped_runs_to_drop_all`), so the report says what was
/// checked before the signal (`interrupted` results, `summary.interrupted`), not only an
/// error, however long the drop takes. Only the thread that claimed stdout takes it.
static REPORT: Mutex<Option<Render>> = Mutex::new(None);

/// Renders one database's verify or drift outcome: here, or — a signal arrived — by the
/// signal thread ([`REPORT`]). `help`, the "what next" of a finding, comes last, after the
/// report it is about. Rendered here, it is [`FINISHED`] once written: a signal meanwhile
/// lets it end before the process exits (it exited halfway through, or before it started).
fn finish<R: serde::Serialize + Send + 'static>(
    out: &Output,
    outcome: std::result::Result<R, confiture::migrate::Failed<R>>,
    code: fn(&R) -> u8,
    text: fn(&Output, &R) -> String,
    help: Option<String>,
) -> Result<u8> {
    let shown = out.clone();
    *report_slot() = Some(Box::new(move || {
        let code = super::finish(&shown, outcome, code, text)?;
        if let Some(help) = help {
            shown.note(&shown.hint(&help));
        }
        Ok(code)
    }));
    FLEET_REPORT_OWED.store(false, Ordering::SeqCst);
    if INTERRUPTED.load(Ordering::SeqCst) || !claim() {
        paid(true);
        loop {
            std::thread::park();
        }
    }
    // Stdout is this thread's, and so is the report: the signal thread takes it only once it
    // has claimed stdout.
    let Some(render) = report_slot().take() else {
        unreachable!("the report is taken by stdout's owner alone")
    };
    let code = render();
    paid(true);
    if INTERRUPTED.load(Ordering::SeqCst) {
        // The signal thread ends the process (exit 130) once it has seen the report written.
        loop {
            std::thread::park();
        }
    }
    code
}

fn report_slot() -> std::sync::MutexGuard<'static, Option<Render>> {
    REPORT.lock().unwrap_or_else(|p| p.into_inner())
}

/// One database's report when its run started but the library returned none in
/// [`REPORT_WAIT`]: the command's report with nothing in it but its error (in `errors`) and
/// its duration, so that `--format json` writes the report's shape whenever the signal came
/// once the run started ([`verify_so_far`], [`drift_so_far`]). `None` before (the environment
/// or target list still being read, the error document as for every command) and for a
/// fleet, whose signal document is its report or the error's.
type SoFar = fn(confiture::migrate::ReportedError, u64) -> Option<serde_json::Value>;

static SO_FAR: Mutex<Option<SoFar>> = Mutex::new(None);

fn so_far() -> std::sync::MutexGuard<'static, Option<SoFar>> {
    SO_FAR.lock().unwrap_or_else(|p| p.into_inner())
}

fn verify_so_far(
    error: confiture::migrate::ReportedError,
    total: u64,
) -> Option<serde_json::Value> {
    let mut report = VerifyReport::default();
    report.errors = vec![error];
    report.total_duration_ms = total;
    serde_json::to_value(&report).ok()
}

fn drift_so_far(error: confiture::migrate::ReportedError, total: u64) -> Option<serde_json::Value> {
    let mut report = DriftReport::default();
    report.errors = vec![error];
    report.total_duration_ms = total;
    serde_json::to_value(&report).ok()
}

/// Set once one database's run is in the library, which returns its report promptly once
/// stopped (whatever it waits for: a server that never answers, a statement): the signal
/// thread then waits for that report ([`wait_for_reports`]) rather than writing its own.
static RUN_STARTED: AtomicBool = AtomicBool::new(false);

/// One database's run starts (its environment read): from now on, a signal's document is its
/// report — the library's, else `so_far_report`'s.
fn the_run_starts(so_far_report: SoFar) {
    *so_far() = Some(so_far_report);
    RUN_STARTED.store(true, Ordering::SeqCst);
}

/// When the command started: the `total_duration_ms` of a report the signal thread writes.
static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// What `--format json` writes when a signal ends the process without the run's report:
/// `error` in one database's report so far ([`SoFar`]), else the error document.
fn signal_document(error: &Error) -> LastDocument {
    let reported = confiture::migrate::ReportedError::of(error);
    let total = STARTED.get().map_or(0, |t| {
        u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
    });
    let report = (*so_far()).and_then(|so_far| so_far(reported.clone(), total));
    match report {
        Some(report) => LastDocument::Report(report),
        None => LastDocument::Error(Box::new(reported), None),
    }
}

/// Where the progress line says the scratch database is: nothing for the target's server
/// (the `using ...` line names it), else the `--scratch-url` server.
fn scratch_server_words(args: &ScratchArgs) -> &'static str {
    if args.scratch_url.is_some() {
        " on the --scratch-url server"
    } else {
        ""
    }
}

fn scratch(args: &ScratchArgs) -> ScratchServer {
    match &args.scratch_url {
        Some(url) => ScratchServer::Url(url.clone()),
        None => ScratchServer::Target,
    }
}

fn from_version(text: &str) -> Result<u64> {
    text.trim()
        .parse::<Version>()
        .map(|v| v.number())
        .map_err(|e| {
            Error::usage(format!("--from {text:?}: {e}"))
                .with_help("give the number at the start of a migration file name, e.g. `--from 3`")
        })
}

/// Set by the signal thread before it drops the scratch databases; also the run's stop flag
/// (`Migrator::stop_when`), so that the library stops the migration running on the scratch
/// database and reports it `interrupted`, not `failed` under the drop.
static INTERRUPTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(Arc::default);

/// The reports the library owes once it is stopped: a check running on the scratch database
/// (its `Checking` event seen, not its `Checked`), a fleet's target running (`Started`, not
/// `Finished`). The signal thread waits for them ([`REPORT_WAIT`] at most) before it drops the
/// scratch databases: the stop flag cancels the statement running there, and the library says
/// `interrupted` for that migration or target — a drop first would end the process before it
/// does, or make it a failure. And once more after, when the run dropped one itself: a drop
/// can outlast that wait (its checkpoint, on a loaded server), and the run's report follows it.
static OWED: Mutex<usize> = Mutex::new(0);
static PAID: Condvar = Condvar::new();

/// How long the signal thread waits for the reports owed: a cancel request is one round trip.
const REPORT_WAIT: Duration = super::interrupt::STOP_WAIT;

fn owed() -> std::sync::MutexGuard<'static, usize> {
    OWED.lock().unwrap_or_else(|p| p.into_inner())
}

/// A report starts being owed.
fn owe() {
    *owed() += 1;
}

/// The scratch databases the run announced: stopped, it drops them itself before it returns
/// its report, and the signal thread names them with those it dropped.
static CREATED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn created() -> std::sync::MutexGuard<'static, Vec<String>> {
    CREATED.lock().unwrap_or_else(|p| p.into_inner())
}

/// The command's thread has nothing more to write: its report written, or left in
/// [`REPORT`] (one database), or none to give (it parked).
static FINISHED: AtomicBool = AtomicBool::new(false);

/// A report owed was given (`all`: the command's thread has nothing more to report).
fn paid(all: bool) {
    let mut owed = owed();
    *owed = if all { 0 } else { owed.saturating_sub(1) };
    if all {
        FINISHED.store(true, Ordering::SeqCst);
    }
    PAID.notify_all();
}

/// Set while a fleet runs, until the command's thread has printed its report (or parked):
/// the signal thread then waits for that report, whatever the targets were doing at the
/// signal (connecting, creating a scratch database, waiting for a lock, between two
/// targets), since it is the fleet's report that says which targets were interrupted. Every
/// step of a target's run ends at the stop (the library's `stop_when`), so the wait is short.
static FLEET_REPORT_OWED: AtomicBool = AtomicBool::new(false);

/// The targets of a fleet running now (`Started`, not `Finished`), as shown: what the signal
/// thread says were interrupted when the fleet's report does not come in [`REPORT_WAIT`].
static RUNNING: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn running() -> std::sync::MutexGuard<'static, Vec<String>> {
    RUNNING.lock().unwrap_or_else(|p| p.into_inner())
}

/// The signal thread, before the drop: until every report owed is given (a fleet's: its
/// report printed), or [`REPORT_WAIT`]. For one database, once its run is in the library
/// ([`RUN_STARTED`]): until its report, which the stop ends promptly also while it connects to
/// a server that never answers — so that its report is the output whatever the run was doing
/// (the signal thread's own document raced it); not at all before (reading its environment,
/// maybe a pipe nothing writes to).
fn wait_for_reports() {
    let fleet = FLEET_REPORT_OWED.load(Ordering::SeqCst);
    if !fleet && !RUN_STARTED.load(Ordering::SeqCst) && !confiture::db::scratch::any_live() {
        return;
    }
    // The last check reported, the command's thread still has to return its outcome: that
    // report is the output ([`REPORT`]).
    let owed = owed();
    let _ = PAID.wait_timeout_while(owed, REPORT_WAIT, |owed| {
        *owed > 0 || FLEET_REPORT_OWED.load(Ordering::SeqCst) || !FINISHED.load(Ordering::SeqCst)
    });
}

/// A fleet's event (`show` shows it): a target's report is owed from its start to its end
/// ([`OWED`]), and the fleet's own report from its first event to its printing
/// ([`FLEET_REPORT_OWED`], [`print_fleet_report`]).
pub(super) fn fleet_event(event: &confiture::fleet::Event, show: impl FnOnce()) {
    use confiture::fleet::Event;
    match event {
        Event::Started { target, .. } => {
            owe();
            running().push(target.clone());
            show();
        }
        Event::Finished { target, .. } => {
            show();
            let mut running = running();
            if let Some(i) = running.iter().position(|t| t == target) {
                running.remove(i);
            }
            drop(running);
            paid(false);
        }
        _ => show(),
    }
}

/// A fleet's run is about to start: from now on, a signal waits for its report.
pub(super) fn fleet_starts() {
    FLEET_REPORT_OWED.store(true, Ordering::SeqCst);
}

/// The command's thread, with a fleet's report: `print` prints it (the table or the one JSON
/// document) when the output is still this thread's, and then, when a signal stopped the run,
/// the signal thread — which waited for it — drops what is left and ends the process with
/// exit 130 while this thread parks. The report says which targets were interrupted.
pub(super) fn print_fleet_report(print: impl FnOnce() -> u8) -> u8 {
    let settle = || {
        FLEET_REPORT_OWED.store(false, Ordering::SeqCst);
        paid(true);
    };
    if !claim() {
        settle();
        loop {
            std::thread::park();
        }
    }
    let code = print();
    settle();
    if INTERRUPTED.load(Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    code
}

/// Who renders the outcome: the command's thread, or the signal thread (the interruption).
/// Whoever claims stdout first ([`crate::output::claim_stdout`]); the other never prints, so
/// stdout holds one document.
fn claim() -> bool {
    crate::output::claim_stdout()
}

/// The signal thread, once [`wait_for_reports`] returned: the stopped run's report written
/// before anything is dropped — one database's left in [`REPORT`] (written here), or the
/// command thread's own (a fleet's; one database's when the signal came as it started
/// writing), whose end is waited for. False when the run has not reported (yet): then the
/// drop comes first, and the report may come after it, or the signal thread's document.
fn the_runs_report_is_written() -> bool {
    if report_slot().is_none() && !FINISHED.load(Ordering::SeqCst) {
        return false;
    }
    if !claim() {
        until_written();
        return true;
    }
    match report_slot().take() {
        Some(render) => {
            let _ = render();
            true
        }
        // The command's thread had no report to give (an error before the fleet ran).
        None => false,
    }
}

/// Waits ([`REPORT_WAIT`] at most: stdout may be a pipe nobody reads) until the command's
/// thread, which holds stdout, has written its report.
fn until_written() {
    let owed = owed();
    let _ = PAID.wait_timeout_while(owed, REPORT_WAIT, |_| !FINISHED.load(Ordering::SeqCst));
}

/// The command's thread, before it renders its report. A run cut short by a signal (its
/// scratch database dropped under it) returns once the signal thread has dropped it; that
/// thread then ends the process with its own code and document, so this one must neither print
/// the error the drop caused nor exit.
pub(super) fn claim_the_output() {
    FLEET_REPORT_OWED.store(false, Ordering::SeqCst);
    paid(true);
    if INTERRUPTED.load(Ordering::SeqCst) || !claim() {
        loop {
            std::thread::park();
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP drop every scratch database still there, then end the process
/// with [`exit::INTERRUPTED`] — with `--format json`, after one database's report once its run
/// started (its own, or [`SoFar`]'s when the run gave none: `kind` `interrupted` in its
/// `errors`, the dropped databases in `details`) or a fleet's, else the error document. A
/// library never installs signal handlers; the CLI knows that it is the whole process.
fn drop_scratch_databases_on_interrupt(out: &Output) {
    static INSTALLED: Once = Once::new();
    let _ = STARTED.set(std::time::Instant::now());
    let json = out.json_mode();
    let out = out.clone();
    INSTALLED.call_once(move || {
        let Ok(mut signals) = signal_hook::iterator::Signals::new(super::interrupt::watched())
        else {
            // Without handlers the default action ends the process; the scratch database
            // then stays, named `confiture_scratch_*`.
            return;
        };
        // A stopped run reports at once; this thread's `drop_all` drops what it used.
        confiture::db::scratch::leave_stopped_runs_to_drop_all();
        std::thread::spawn(move || {
            let mut received = signals.forever();
            if received.next().is_none() {
                return;
            }
            INTERRUPTED.store(true, Ordering::SeqCst);
            let leaving = out.clone();
            std::thread::spawn(move || {
                wait_for_reports();
                // The report first, the drop after: `DROP DATABASE` may take a minute on a
                // loaded server, and the stopped run left its scratch databases to it.
                let written = the_runs_report_is_written();
                let (mut dropped, errors) = confiture::db::scratch::drop_all();
                // The run dropped one itself (it ended as the signal came, not stopped): its
                // drop may have outlasted the wait above (a checkpoint, a loaded server), and
                // `drop_all` waited for it. Its report comes right after: waited for again,
                // else this thread's document would race it, and not name what the run
                // dropped.
                if !written && created().iter().any(|name| !dropped.contains(name)) {
                    wait_for_reports();
                }
                // Those the run dropped itself, before it returned its report.
                if FINISHED.load(Ordering::SeqCst) {
                    for name in created().iter() {
                        if !dropped.contains(name) {
                            dropped.push(name.clone());
                        }
                    }
                }
                // Else the report that came after the drop, or the interruption.
                if !written {
                    write_late_report_or_interruption(&out, json, &dropped, &errors);
                }
                for name in dropped {
                    Output::note_line(&format!(
                        "interrupted: dropped the scratch database \"{}\"",
                        display::escape(&name)
                    ));
                }
                for e in errors {
                    Output::note_line(&format!(
                        "error: {}",
                        display::escape(&e.message_with_cause())
                    ));
                }
                std::process::exit(i32::from(exit::INTERRUPTED));
            });
            // A second signal while the drop hangs (an unreachable server): leave at once.
            if received.next().is_some() {
                let left = confiture::db::scratch::being_dropped();
                leaving.last_document(|| {
                    let mut error = Error::new(
                        confiture::ErrorKind::Interrupted,
                        "interrupted again: exited without waiting for the scratch databases \
                         to be dropped",
                    );
                    error.details = left
                        .iter()
                        .map(|(server, name)| {
                            format!("left the scratch database \"{name}\" on {server}")
                        })
                        .collect();
                    error.help = Some(drop_help(&left));
                    signal_document(&error)
                });
                Output::note_line(&format!(
                    "interrupted again: exiting without waiting for the drop (scratch databases \
                     are named {}*)",
                    confiture::db::scratch::PREFIX
                ));
                for (server, name) in &left {
                    Output::note_line(&format!(
                        "left the scratch database \"{}\" on {}",
                        display::escape(name),
                        display::escape(server)
                    ));
                }
                if !left.is_empty() {
                    Output::note_line(&format!("  help: {}", display::escape(&drop_help(&left))));
                }
                std::process::exit(i32::from(exit::INTERRUPTED));
            }
        });
    });
}

/// The signal thread, after the drop, when the run's report was not written before it: the
/// command thread's, written by it (waited for) or left in [`REPORT`]; else the interruption,
/// naming the running targets of a fleet whose report did not come, `dropped` and `errors`.
fn write_late_report_or_interruption(
    out: &Output,
    json: bool,
    dropped: &[String],
    errors: &[Error],
) {
    if !claim() {
        // The command's thread is printing its report: not cut short.
        until_written();
        return;
    }
    if let Some(render) = report_slot().take() {
        let _ = render();
        return;
    }
    // A fleet whose report did not come in time: its running targets, named.
    let running = std::mem::take(&mut *running());
    let mut error = Error::new(confiture::ErrorKind::Interrupted, "interrupted by a signal");
    if json {
        error.details = running
            .iter()
            .map(|target| format!("interrupted the target {target}"))
            .chain(
                dropped
                    .iter()
                    .map(|name| format!("dropped the scratch database \"{name}\"")),
            )
            .chain(errors.iter().map(|e| e.message_with_cause()))
            .collect();
        out.last_document(|| signal_document(&error));
    } else {
        for target in &running {
            Output::note_line(&format!(
                "interrupted: {} (exit {})",
                display::escape(target),
                exit::INTERRUPTED
            ));
        }
        // What `up` says too; the lines below name what was dropped.
        out.error_text(&error);
    }
}

/// What to run to drop the scratch databases `left` behind.
fn drop_help(left: &[(String, String)]) -> String {
    let statements: Vec<String> = left
        .iter()
        .map(|(server, name)| {
            format!(
                "on {server}: {}",
                confiture::db::scratch::drop_statement(name)
            )
        })
        .collect();
    format!("drop them by hand: {}", statements.join("; "))
}

fn progress(out: &Output, on: &str, event: ScratchProgress) {
    match event {
        ScratchProgress::Created { database } => {
            out.progress(&format!(
                "created the scratch database \"{}\"{on} (dropped at the end)",
                display::escape(&database)
            ));
            created().push(database);
        }
        ScratchProgress::Checking { version, name } => {
            owe();
            out.progress_inline(&format!(
                "checking {} ...",
                display::escape(&format!("{version}_{name}"))
            ));
        }
        ScratchProgress::Checked(check) => {
            let time = check
                .duration_ms
                .map(|ms| format!(" ({ms} ms)"))
                .unwrap_or_default();
            out.progress(&format!(
                "{} {}{time}",
                display::escape(&check.id()),
                result_word(check.result)
            ));
            // Stopped, the run goes on to drop its scratch database and return its report,
            // which the signal thread prints ([`REPORT`]).
            paid(false);
        }
        ScratchProgress::Step(step) => out.progress(&format!("{step} ...")),
        // ScratchProgress is `#[non_exhaustive]`: an event this CLI does not know yet shows
        // nothing.
        _ => {}
    }
}

fn result_word(result: CheckResult) -> &'static str {
    match result {
        CheckResult::Reversible => "reversible",
        CheckResult::Irreversible => "irreversible: applied up only",
        CheckResult::Prepared => "applied without checks (before --from)",
        CheckResult::DownDoesNotRestore => "down does not restore the schema",
        CheckResult::UpNotRepeatable => "up not repeatable after its down",
        CheckResult::Failed => "failed",
        CheckResult::Interrupted => "interrupted",
        CheckResult::NotChecked => "not checked",
    }
}

fn findings(text: &mut String, list: &[Finding]) {
    for f in list {
        for line in display::escape_prose(&f.message).lines() {
            text.push_str("    ");
            text.push_str(line);
            text.push('\n');
        }
    }
}

fn verify_text(out: &Output, r: &VerifyReport) -> String {
    let ids: Vec<String> = r
        .migrations
        .iter()
        .map(|m| render::cell(display::escape(&m.id()).into_owned()))
        .collect();
    let width = render::column_width(ids.iter().map(String::as_str), "Migration");
    let mut text = out.paint(
        Style::Bold,
        &format!("{}  Result", render::pad("Migration", width)),
    );
    text.push('\n');
    for (m, id) in r.migrations.iter().zip(&ids) {
        let (mark, style) = match m.result {
            CheckResult::Reversible => ("✓", Style::Green),
            CheckResult::Irreversible | CheckResult::Prepared => ("–", Style::Cyan),
            CheckResult::NotChecked => ("·", Style::Yellow),
            _ => ("✗", Style::Red),
        };
        let cell = format!("{mark} {}", result_word(m.result));
        text.push_str(&format!(
            "{}  {}\n",
            render::pad(id, width),
            out.paint(style, &cell)
        ));
    }
    if let Some(m) = r.first_finding() {
        let file = checked_file(m);
        let headline = match m.result {
            CheckResult::DownDoesNotRestore => {
                format!("{file} does not restore the schema of before its up:")
            }
            _ => format!("{file} is not repeatable after its down:"),
        };
        text.push('\n');
        text.push_str(&out.paint(Style::Bold, &headline));
        text.push('\n');
        if let Some(error) = &m.error {
            text.push_str(&format!("    {}\n", display::escape(error)));
        }
        findings(&mut text, &m.findings);
    }
    let s = &r.summary;
    let mut summary = format!("{} reversible", s.reversible);
    for (n, word) in [
        (s.irreversible, "irreversible"),
        (s.prepared, "applied without checks"),
        (s.failed_checks, "failed"),
        (s.not_checked, "not checked"),
    ] {
        if n > 0 {
            summary.push_str(&format!(", {n} {word}"));
        }
    }
    text.push('\n');
    text.push_str(&format!(
        "{summary} ({} in {} ms)",
        plural(r.migrations.len(), "migration"),
        r.total_duration_ms
    ));
    left_on_server(out, &mut text, &r.left_on_server, r.errors.is_empty());
    for w in &r.warnings {
        out.warning(w);
    }
    text
}

/// The file of the migration a verify run found not reversible, as its headline and its help
/// name it: its path, or its id where the report has none.
fn checked_file(m: &MigrationCheck) -> String {
    m.file
        .as_deref()
        .map(display::path)
        .unwrap_or_else(|| display::escape(&m.id()).into_owned())
}

/// The help of a verify run that found a migration not reversible: fix the file it names
/// (the one its headline names) — for an up not repeatable, its down file first: what the
/// down leaves behind (a row, a role) is what makes the up fail or differ when it runs again
/// ([`MigrationCheck::down_file`]) —, then run the command again, as given
/// ([`hint::AGAIN`]: its `--from`, `--scratch-url`, timeouts).
fn verify_help(r: &VerifyReport) -> Option<String> {
    if r.passed {
        return None;
    }
    let m = r.first_finding()?;
    let file = checked_file(m);
    let fix = match (m.result, &m.down_file) {
        (CheckResult::UpNotRepeatable, Some(down)) => {
            let outcome = if m.error.is_some() {
                "fail"
            } else {
                "give another schema"
            };
            format!(
                "{} (what it leaves behind makes {file} {outcome} when it runs again) or {file}",
                display::path(down)
            )
        }
        _ => file,
    };
    Some(format!("help: fix {fix}, then run {}", hint::AGAIN))
}

/// The help of a drift found in the live database. A change (an object extra or changed):
/// keep it in a migration of its own, or undo it by hand. An object missing: no migration
/// drops what is not there — one that a migration recorded without running makes
/// ([`confiture::drift::NotRun::makes_missing`]: `baseline`, `reinit`) was most likely never
/// made there: run that migration's SQL by hand when nothing else it makes is there, else the
/// statements of it that make what is missing; any other was dropped outside the migrations:
/// make it again by hand, or capture its drop with `IF EXISTS`. A migration recorded without
/// running that makes nothing missing (a data migration among them) is never named.
fn drift_help(r: &DriftReport) -> Option<String> {
    if r.drift.is_empty() {
        return None;
    }
    let missing: Vec<&ObjectId> = (r.drift.iter())
        .filter_map(|f| match &f.difference {
            Difference::Missing { object } => Some(object),
            _ => None,
        })
        .collect();
    let changed = missing.len() < r.drift.len();
    let generate = hint::command("migrate generate NAME");
    let mut clauses = Vec::new();
    if changed {
        clauses.push(format!(
            "to keep the change, capture it in a new migration ({generate} creates its file); \
             to drop it, undo it by hand"
        ));
    }
    let mut attributed = 0;
    for n in r.recorded_without_running.iter() {
        if n.makes_missing.is_empty() {
            continue;
        }
        attributed += n.makes_missing.len();
        let objects: Vec<String> = (n.makes_missing.iter())
            .map(|o| display::escape(&o.to_string()).into_owned())
            .collect();
        let file = match &n.up_file {
            Some(file) => display::path(file),
            None => format!("{}'s up file", display::escape(&n.migration)),
        };
        let one = objects.len() == 1;
        let (verb, them) = if one { ("is", "it") } else { ("are", "them") };
        let fix = if n.makes_present {
            // The rest of what it makes is there: the file run again would fail, or do twice
            // what it did (its rows).
            format!(
                "make {them} by hand with {} in {file} (not the whole file: the rest of what \
                 it makes is in the live database)",
                if one {
                    "its statement"
                } else {
                    "their statements"
                }
            )
        } else {
            format!(
                "none of what it makes is there: run the SQL of {file} by hand (`psql -f FILE`)"
            )
        };
        clauses.push(format!(
            "{} {verb} made by {file}, which the ledger records as applied by {} without \
             running it: most likely never made in the live database; {fix}",
            display::cut(objects).join(", "),
            n.recorded_by
        ));
    }
    if attributed < missing.len() {
        let what = if attributed == 0 {
            "what is missing from the live database"
        } else {
            "the rest of what is missing from the live database"
        };
        clauses.push(format!(
            "{what} was dropped outside the migrations: make it again by hand (the SQL of the \
             migration that made it), or, to keep it gone, capture the drop in a new migration \
             ({generate} creates its file) written `DROP ... IF EXISTS` (a plain DROP fails: it \
             is not there)"
        ));
    }
    Some(format!(
        "help: {}; then run {}",
        clauses.join("; "),
        hint::AGAIN
    ))
}

/// What a replay left on its scratch server and could not put back (roles, tablespaces,
/// databases are the server's): listed after the results; with no error to carry them
/// (`with_section`), as a section of the report of their own.
fn left_on_server(out: &Output, text: &mut String, left: &[String], with_section: bool) {
    if left.is_empty() || !with_section {
        return;
    }
    text.push_str("\n\n");
    text.push_str(&out.paint(
        Style::Bold,
        "left on the scratch database's server (server-wide, not dropped with the scratch database):",
    ));
    text.push('\n');
    for sentence in left {
        text.push_str(&format!("    {}\n", display::escape(sentence)));
    }
}

/// One comparison of `drift` (the live database against its history replayed, a schema
/// directory against the migrations): the line saying they `match`, or the line saying they
/// `differ`, with the count of `differences`, and each difference.
fn comparison(
    out: &Output,
    text: &mut String,
    differences: &[Finding],
    matches: &str,
    differ: &str,
) {
    if differences.is_empty() {
        text.push_str(matches);
        text.push('\n');
    } else {
        text.push_str(&out.paint(
            Style::Bold,
            &format!("{differ} ({}):", plural(differences.len(), "difference")),
        ));
        text.push('\n');
        findings(text, differences);
    }
}

fn drift_text(out: &Output, r: &DriftReport) -> String {
    let mut text = String::new();
    let replayed = plural(r.replayed.len(), "applied migration");
    comparison(
        out,
        &mut text,
        &r.drift,
        &format!("no drift: the live database matches its {replayed} replayed"),
        &format!("drift: the live database differs from its {replayed} replayed"),
    );
    for schema in &r.tenant_schemas {
        text.push_str(&format!(
            "left out: schema {schema}, a tenant migrated with --schema (it holds a confiture \
             ledger of its own): drift compares the database's own history, not its tenants' \
             (`migrate status --schema {schema}` reads a tenant's)\n",
            schema = display::escape(schema),
        ));
    }
    if let Some(s) = &r.schema_dir {
        let dir = display::path(&s.dir);
        comparison(
            out,
            &mut text,
            &s.differences,
            &format!("the schema directory {dir} matches the migrations"),
            &format!("the schema directory {dir} differs from the migrations"),
        );
    }
    left_on_server(out, &mut text, &r.left_on_server, r.errors.is_empty());
    for w in &r.warnings {
        out.warning(w);
    }
    text.trim_end().to_string()
}
