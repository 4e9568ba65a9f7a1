//! A release flow for your `xtask`, written with the confiture library — copy this file into
//! your own `xtask` (and `main.rs` beside it, or call [`release`] from your `main`).
//!
//! `cargo xtask release --env staging`:
//!
//! 1. **lint** — the migration files are checked (errors stop the release);
//! 2. **verify** — on a scratch database, every down undoes its up (exit 9 otherwise);
//! 3. **status** — the target's history: refused when it diverged (exit 7), and says what is
//!    pending;
//! 4. **drift** — the target against its replayed history: refused on drift (exit 9) unless
//!    `--allow-drift`;
//! 5. **apply** — `migrate up` (skipped with `--dry-run`);
//! 6. **final status** — must be 0 (skipped with `--dry-run`).
//!
//! One summary at the end, with each step's time. The exit code is the failing step's
//! (confiture's codes: `confiture::exit`), else 0. Nothing here shells out to the CLI: each step
//! is one library call, so the flow is typed end to end.

use std::time::{Duration, Instant};

use confiture::drift::DriftOptions;
use confiture::migrate::{no_progress, UpOptions};
use confiture::status::State;
use confiture::verify::{ScratchServer, VerifyOptions};
use confiture::workspace::Workspace;
use confiture::{exit, Migrator};

/// What `cargo xtask release` was asked to do. `{:?}` never shows the scratch URL's password
/// ([`confiture::config::RedactedConnection`]).
#[derive(Clone, Default)]
pub struct ReleaseOptions {
    /// The environment to release to (`db/environments/<env>.yaml`).
    pub env: String,
    /// Stop before applying: lint, verify, status and drift only.
    pub dry_run: bool,
    /// Go on when the target has drifted from its history (reported all the same).
    pub allow_drift: bool,
    /// Where `verify` and `drift` create their scratch databases (default: the target's server).
    pub scratch_url: Option<String>,
}

impl std::fmt::Debug for ReleaseOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseOptions")
            .field("env", &self.env)
            .field("dry_run", &self.dry_run)
            .field("allow_drift", &self.allow_drift)
            .field(
                "scratch_url",
                &self
                    .scratch_url
                    .as_deref()
                    .map(confiture::config::RedactedConnection),
            )
            .finish()
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    Passed,
    /// Went on despite a finding (`--allow-drift`).
    Allowed,
    Failed,
    /// Not run (`--dry-run`, or a step before it failed).
    Skipped,
}

/// One line of the summary.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: &'static str,
    pub state: StepState,
    /// One line: what the step found or did.
    pub outcome: String,
    /// A failed step's whole account, for stderr after the summary: the error's report
    /// (`{:#}`: message, each detail, the help) or every error lint found. `None` otherwise.
    pub report: Option<String>,
    pub duration: Duration,
}

/// The summary of a release: every step, and the exit code.
#[derive(Debug, Clone)]
pub struct Summary {
    pub env: String,
    pub dry_run: bool,
    pub steps: Vec<Step>,
    pub exit_code: u8,
}

const STEPS: [&str; 6] = ["lint", "verify", "status", "drift", "apply", "final status"];

impl Summary {
    /// The summary table: one line per step with its time and outcome.
    pub fn render(&self) -> String {
        let mut text = format!(
            "release to {}{}\n",
            self.env,
            if self.dry_run { " (dry run)" } else { "" }
        );
        for step in &self.steps {
            let mark = match step.state {
                StepState::Passed => "ok     ",
                StepState::Allowed => "allowed",
                StepState::Failed => "FAILED ",
                StepState::Skipped => "skipped",
            };
            let time = if step.state == StepState::Skipped {
                String::new()
            } else {
                format!("{:>7} ms", step.duration.as_millis())
            };
            text.push_str(&format!(
                "  {:<13} {mark} {time:>10}  {}\n",
                step.name, step.outcome
            ));
        }
        let total: Duration = self.steps.iter().map(|s| s.duration).sum();
        text.push_str(&format!(
            "  {:<13} {} {:>7} ms\n",
            "total",
            if self.exit_code == exit::SUCCESS {
                "ok     "
            } else {
                "FAILED "
            },
            total.as_millis()
        ));
        text
    }

    /// The failed step's whole account (see [`Step::report`]), headed by its name: what to
    /// print on stderr after [`Summary::render`]. `None` when no step failed with one.
    pub fn failure_report(&self) -> Option<String> {
        let step = self.steps.iter().find(|s| s.state == StepState::Failed)?;
        let report = step.report.as_deref()?;
        Some(format!("{} failed:\n{report}\n", step.name))
    }
}

/// A step's verdict: its state, a line saying what happened, and the exit code to stop with.
struct Verdict {
    state: StepState,
    outcome: String,
    report: Option<String>,
    stop: Option<u8>,
}

impl Verdict {
    fn passed(outcome: impl Into<String>) -> Verdict {
        Verdict {
            state: StepState::Passed,
            outcome: outcome.into(),
            report: None,
            stop: None,
        }
    }

    fn failed(code: u8, outcome: impl Into<String>) -> Verdict {
        Verdict {
            state: StepState::Failed,
            outcome: outcome.into(),
            report: None,
            stop: Some(code),
        }
    }

    /// Failed with `e`: its message on the summary's line, its whole report for stderr.
    fn error(e: &confiture::Error) -> Verdict {
        Verdict::failed(e.exit_code(), e.message_with_cause()).reporting(format!("{e:#}"))
    }

    fn reporting(self, report: String) -> Verdict {
        Verdict {
            report: Some(report),
            ..self
        }
    }
}

/// Runs the release flow on the workspace `ws`. `log` receives a line as each step starts
/// (progress, for stderr); the returned summary is the result.
pub fn release(ws: &Workspace, options: &ReleaseOptions, log: &mut dyn FnMut(&str)) -> Summary {
    let mut summary = Summary {
        env: options.env.clone(),
        dry_run: options.dry_run,
        steps: Vec::new(),
        exit_code: exit::SUCCESS,
    };
    let mut migrator = match Migrator::from_env(ws, &options.env) {
        Ok(m) => Some(m),
        Err(e) => {
            summary.steps.push(Step {
                name: "environment",
                state: StepState::Failed,
                outcome: e.message_with_cause(),
                report: Some(format!("{e:#}")),
                duration: Duration::ZERO,
            });
            summary.exit_code = e.exit_code();
            None
        }
    };
    let scratch = match &options.scratch_url {
        Some(url) => ScratchServer::Url(url.clone()),
        None => ScratchServer::Target,
    };
    for name in STEPS {
        let Some(m) = migrator
            .as_mut()
            .filter(|_| summary.exit_code == exit::SUCCESS)
        else {
            summary.steps.push(skipped(name, "a step before it failed"));
            continue;
        };
        if options.dry_run && matches!(name, "apply" | "final status") {
            summary.steps.push(skipped(name, "dry run"));
            continue;
        }
        log(&format!("release: {name} ..."));
        let start = Instant::now();
        let verdict = match name {
            "lint" => lint(m),
            "verify" => verify(m, &scratch),
            "status" => status_gate(m),
            "drift" => drift(m, &scratch, options.allow_drift),
            "apply" => apply(m),
            _ => final_status(m),
        };
        if let Some(code) = verdict.stop {
            summary.exit_code = code;
        }
        summary.steps.push(Step {
            name,
            state: verdict.state,
            outcome: verdict.outcome,
            report: verdict.report,
            duration: start.elapsed(),
        });
    }
    summary
}

fn skipped(name: &'static str, why: &str) -> Step {
    Step {
        name,
        state: StepState::Skipped,
        outcome: why.to_string(),
        report: None,
        duration: Duration::ZERO,
    }
}

/// The files as every later step reads them (`Migrator::load`: the workspace's
/// `first_version`, the environment's tracking table).
fn lint(m: &Migrator) -> Verdict {
    match m.load() {
        Err(e) => Verdict::error(&e),
        Ok(checked) if checked.has_errors() => {
            let errors: Vec<String> = (checked.diagnostics.iter())
                .filter(|d| d.is_error())
                .map(|d| d.to_string())
                .collect();
            let first = errors.first().cloned().unwrap_or_default();
            Verdict::failed(
                exit::INVALID,
                format!("the migration files have errors: {first}"),
            )
            .reporting(errors.join("\n"))
        }
        Ok(checked) => Verdict::passed(format!(
            "{} migrations, {} warnings",
            checked.set.migrations.len(),
            checked.diagnostics.len()
        )),
    }
}

fn verify(m: &mut Migrator, scratch: &ScratchServer) -> Verdict {
    let options = VerifyOptions::default().scratch(scratch.clone());
    match m.verify(&options, &mut |_| {}) {
        Err(failed) => Verdict::error(&failed.error),
        Ok(report) => match report.first_finding() {
            Some(check) => Verdict::failed(
                report.exit_code(),
                format!(
                    "{}: {}",
                    check.id(),
                    check
                        .findings
                        .first()
                        .map(|f| f.message.clone())
                        .or_else(|| check.error.clone())
                        .unwrap_or_default()
                ),
            )
            .reporting(verify_findings(&report.migrations)),
            None => Verdict::passed(format!(
                "{} reversible, {} irreversible",
                report.summary.reversible, report.summary.irreversible
            )),
        },
    }
}

/// Every difference verify found, one line each, named by its migration.
fn verify_findings(checks: &[confiture::verify::MigrationCheck]) -> String {
    let lines = checks
        .iter()
        .filter(|c| c.result.is_finding())
        .flat_map(|c| {
            let found = c.findings.iter().map(|f| f.message.clone());
            found
                .chain(c.error.clone())
                .map(move |what| format!("{}: {what}", c.id()))
        });
    lines.collect::<Vec<_>>().join("\n")
}

fn status_gate(m: &mut Migrator) -> Verdict {
    match m.status() {
        Err(e) => Verdict::error(&e),
        Ok(report) => {
            let code = report.exit_code();
            if code == exit::DIVERGED || code == exit::INVALID {
                // Every way a history diverges (`State::is_diverged`: modified, missing, out
                // of order, duplicate, renumbered, replaced, ambiguous), and a no-transaction
                // migration a run left interrupted: each is exit 7.
                let what: Vec<String> = report
                    .migrations
                    .iter()
                    .filter(|m| {
                        m.status.is_diverged() || matches!(m.status, State::Interrupted { .. })
                    })
                    .map(|m| format!("{} {}", m.id(), m.status.as_str()))
                    .collect();
                Verdict::failed(
                    code,
                    format!("the history diverged ({}): fix it first", what.join(", ")),
                )
            } else if report.pending.is_empty() {
                Verdict::passed("up to date: nothing pending")
            } else {
                Verdict::passed(format!("pending: {}", report.pending.join(", ")))
            }
        }
    }
}

fn drift(m: &mut Migrator, scratch: &ScratchServer, allow: bool) -> Verdict {
    let options = DriftOptions::default()
        .scratch(scratch.clone())
        .schema_dir(None);
    match m.drift(&options, &mut |_| {}) {
        Err(failed) => Verdict::error(&failed.error),
        Ok(report) if report.passed => Verdict::passed("no drift"),
        Ok(report) => {
            let found: Vec<&str> = report.drift.iter().map(|f| f.message.as_str()).collect();
            let first = found.first().copied().unwrap_or_default();
            let outcome = format!("{} differences, first: {first}", report.drift.len());
            if allow {
                Verdict {
                    state: StepState::Allowed,
                    outcome,
                    report: None,
                    stop: None,
                }
            } else {
                Verdict::failed(
                    report.exit_code(),
                    format!("{outcome} (--allow-drift to go on)"),
                )
                .reporting(found.join("\n"))
            }
        }
    }
}

fn apply(m: &mut Migrator) -> Verdict {
    match m.up(&UpOptions::default(), &mut no_progress) {
        Err(failed) => Verdict::error(&failed.error),
        Ok(report) if report.applied.is_empty() => Verdict::passed("nothing to apply"),
        Ok(report) => Verdict::passed(format!("applied {}", report.applied.join(", "))),
    }
}

fn final_status(m: &mut Migrator) -> Verdict {
    match m.status() {
        Err(e) => Verdict::error(&e),
        Ok(report) if report.is_up_to_date() => Verdict::passed("up to date"),
        Ok(report) => Verdict::failed(
            report.exit_code(),
            format!(
                "not up to date after applying (status exit {})",
                report.exit_code()
            ),
        ),
    }
}

/// Parses `--env NAME [--dry-run] [--allow-drift] [--scratch-url URL]`. A flag given without
/// its value is refused, never taken as not given (the scratch databases would go to the
/// target's server); an unknown argument that looks like a connection string
/// ([`confiture::config::names_a_connection`]) is not quoted: it may hold a password, and it
/// is refused in the library's words ([`confiture::config::connection_given_as`]).
pub fn parse_args(args: &[String]) -> Result<ReleaseOptions, String> {
    let mut options = ReleaseOptions::default();
    let mut env = None;
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let mut value = || {
            words
                .next()
                .cloned()
                .ok_or_else(|| format!("{word} needs a value"))
        };
        match word.as_str() {
            "--env" | "-e" => env = Some(value()?),
            "--dry-run" => options.dry_run = true,
            "--allow-drift" => options.allow_drift = true,
            "--scratch-url" => options.scratch_url = Some(value()?),
            // `--scratch-url=URL`: the flag alone is shown, never its value.
            other if other.starts_with("--") && other.contains('=') => {
                let flag = other.split('=').next().unwrap_or_default();
                return Err(format!(
                    "unknown argument {flag}=...: write a flag and its value apart \
                     (`{flag} VALUE`); the value is not shown: it may hold a password"
                ));
            }
            // The library's one wording of a connection string given in place of something
            // else, never a copy of it.
            other if confiture::config::names_a_connection(other) => {
                let refused = confiture::config::connection_given_as(
                    confiture::config::InPlaceOf::Argument { given_to: PROGRAM },
                    "give the scratch server as `--scratch-url URL`",
                );
                return Err(format!(
                    "{}; {}",
                    refused.message,
                    refused.help.unwrap_or_default()
                ));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    options.env = env.ok_or("--env NAME is required (an environment of db/environments)")?;
    Ok(options)
}

/// The program, as the refusals of its arguments name it.
pub const PROGRAM: &str = "cargo xtask release";

/// The usage line.
pub const USAGE: &str =
    "usage: cargo xtask release --env NAME [--dry-run] [--allow-drift] [--scratch-url URL]";
