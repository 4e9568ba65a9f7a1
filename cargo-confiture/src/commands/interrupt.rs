//! Ctrl-C (SIGINT), SIGTERM and SIGHUP (the terminal or the ssh session gone) for the
//! commands that reach a database (`up`, `down`, `baseline`, `reinit`, `status`; a fleet's
//! `up`, `down`, `status`): the one signal thread,
//! whose flag the library's own stop machinery watches (`Migrator::stop_when`,
//! `Fleet::stop_when`: the running statement cancelled, its transaction rolled back, nothing
//! more started), and the one rule of what the user is told about it once the run has ended.
//! `verify` and `drift` have their own thread (`commands/verify.rs`): theirs drops the
//! scratch databases.
//!
//! The rule: what the ledger shows wins. The notice at the signal says only that the run is
//! stopping; the verdict is the run's outcome. A run the stop cut short fails with `kind`
//! `interrupted` (exit 130) and says what committed; a run that completed all the same (the
//! signal arrived as its last transaction committed, or after) is a success, with its normal
//! report and exit code, and a note that the Ctrl-C came too late to undo anything
//! ([`Interrupt::after`]). "Interrupted" is never printed for a run that completed, and a run
//! that printed it never exits 0.
//!
//! The second signal exits at once, without waiting on any database, as does the first when
//! the run has not ended [`STOP_WAIT`] after it: its error, on stderr and with `--format json`
//! as the run's own document would (one database's report so far, a fleet's error document),
//! says what the process knows then ([`SoFar`], fed by the run's progress events): the
//! database, the migrations committed, the one running, the rest of the plan, and a fleet's
//! every target.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confiture::fleet::{Event, Target, TargetState};
use confiture::migrate::{Direction, Progress, ReportedError};
use confiture::{exit, hint, Error, ErrorKind, Reason};
use serde::Serialize;

use crate::output::{LastDocument, Output};

/// The stop flag of one command and the signal that set it.
pub(super) struct Interrupt {
    flag: Arc<AtomicBool>,
    /// The signal received first (0: none yet).
    signal: Arc<AtomicI32>,
    /// What the first signal and the second say now ([`Interrupt::words`]), and once the run
    /// has taken its migration lock ([`Interrupt::once_locked`]).
    words: Arc<Mutex<Said>>,
    /// What the run is known to have done: the second signal's document.
    so_far: Arc<Mutex<SoFar>>,
    /// Set once the run has ended and its report is printed ([`Interrupt::after`]): the
    /// first signal's bounded wait ([`STOP_WAIT`]) is over.
    ended: Arc<AtomicBool>,
    /// What the exit at once renders with: the command's output, then the run's
    /// ([`Interrupt::renders_with`]).
    out: Arc<Mutex<Output>>,
}

/// The signals the CLI handles: SIGTERM, and SIGINT and SIGHUP unless the process inherited
/// them ignored — `nohup cargo confiture migrate up &` (SIGHUP), a background job of a
/// non-interactive shell (SIGINT) — which they stay, as POSIX tools leave them: a handler
/// replaced the inherited `SIG_IGN`, so the ssh session's end cancelled the migration `nohup`
/// was meant to keep running. The one rule for both signal threads (this one and `verify`'s).
pub(super) fn watched() -> Vec<std::ffi::c_int> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = vec![SIGTERM];
    signals.extend([SIGINT, SIGHUP].into_iter().filter(|&s| !ignored(s)));
    signals
}

/// Whether `signal`'s current disposition is `SIG_IGN` (what the process inherited, before any
/// handler of ours). Asked with `sigaction` and no new action: nothing is changed.
fn ignored(signal: std::ffi::c_int) -> bool {
    // SAFETY: a null new action only reads the current one into `old`, a zeroed struct that
    // outlives the call.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// What a run says on the first signal (`stopping: ...`), and on the second (`exiting; ...`).
pub(super) type Words = (&'static str, &'static str);

/// The words of a run, and those it says once the engine has taken its migration lock
/// ([`Interrupt::once_locked`]).
#[derive(Clone, Default)]
struct Said {
    words: Words,
    locked: Option<(Words, confiture::migrate::LockTaken)>,
}

impl Said {
    /// The words true now: asked of the engine's own state at the instant they are said, never
    /// of the progress events this thread has seen (the lock may be taken, and the run under
    /// way, before its `LockAcquired` reaches the callback).
    fn now(&self) -> Words {
        match &self.locked {
            Some((locked, taken)) if taken.is_set() => *locked,
            _ => self.words,
        }
    }
}

/// Locks the words, whatever a panicking holder left.
fn said(words: &Mutex<Said>) -> std::sync::MutexGuard<'_, Said> {
    words.lock().unwrap_or_else(|p| p.into_inner())
}

/// Before the command has its database or its fleet: the environment file, the `.env` file or
/// the target list may be a pipe still being waited on ([`confiture::config::stop_reading_when`]).
pub(super) const READING_FILES: Words = (
    "nothing has started; no longer waiting for the environment or the target list",
    "nothing had started",
);

impl Interrupt {
    /// Installs the signal thread, once per command and before its environment is read: on
    /// the first SIGINT, SIGTERM or SIGHUP it sets the flag and says `stopping: {stopping}` on stderr;
    /// on the second, or when the run has not ended [`STOP_WAIT`] later (the cancel request
    /// unanswered), it says `leaving` and exits at once with [`exit::INTERRUPTED`] (the
    /// server rolls back what was not committed), `--format json` writing what is known so far. The same flag ends a wait on a pipe given
    /// as the environment, `.env` or target list ([`confiture::config::stop_reading_when`]).
    /// A library never installs signal handlers; the CLI is the whole process. Without
    /// handlers (none could be installed) the default action ends the process, as before.
    pub(super) fn on_signal(out: &Output, (stopping, leaving): Words) -> Interrupt {
        let interrupt = Interrupt {
            flag: Arc::new(AtomicBool::new(false)),
            signal: Arc::new(AtomicI32::new(0)),
            words: Arc::new(Mutex::new(Said {
                words: (stopping, leaving),
                locked: None,
            })),
            so_far: Arc::new(Mutex::new(SoFar {
                started: Some(Instant::now()),
                ..SoFar::default()
            })),
            ended: Arc::new(AtomicBool::new(false)),
            out: Arc::new(Mutex::new(out.clone())),
        };
        confiture::config::stop_reading_when(interrupt.flag());
        let Ok(mut signals) = signal_hook::iterator::Signals::new(watched()) else {
            return interrupt;
        };
        let (flag, signal) = (interrupt.flag.clone(), interrupt.signal.clone());
        let (words, so_far) = (interrupt.words.clone(), interrupt.so_far.clone());
        let ended = interrupt.ended.clone();
        let out = interrupt.out.clone();
        std::thread::spawn(move || {
            let Some(first) = signals.forever().next() else {
                return;
            };
            signal.store(first, Ordering::SeqCst);
            // Set before the words are chosen: a lock the engine had not taken then is never
            // written under (it looks at the flag once it holds the lock, before each message).
            flag.store(true, Ordering::SeqCst);
            let stopping = said(&words).now().0;
            // Not "interrupted": whether anything was, only the run's outcome can say.
            Output::note_line(&format!(
                "\nstopping: {stopping} ({} again to exit at once)",
                name(first)
            ));
            // The stop is bounded: a server, or a pooler or proxy in between, that takes the
            // bytes and never answers (a frozen process, its kernel still acknowledging)
            // hears no cancel request and ends no statement; the run would wait forever.
            let since = Instant::now();
            loop {
                if signals.pending().next().is_some() {
                    leave(&out, &words, &so_far, Leaving::Again);
                }
                if ended.load(Ordering::SeqCst) {
                    return;
                }
                if since.elapsed() >= STOP_WAIT {
                    leave(&out, &words, &so_far, Leaving::Unanswered);
                }
                std::thread::sleep(POLL);
            }
        });
        interrupt
    }

    /// The output the run renders with once it has its database (`baseline --schemas-query`:
    /// the tenant its list chose, which its JSON document's `schema` names and its suggested
    /// commands address): the exit at once renders with it too.
    pub(super) fn renders_with(&self, out: &Output) {
        *self.out.lock().unwrap_or_else(|p| p.into_inner()) = out.clone();
    }

    /// What the signals say from now on: the run has its database (or its fleet) and starts.
    pub(super) fn words(&self, words: Words) {
        *said(&self.words) = Said {
            words,
            locked: None,
        };
    }

    /// What the signals say once the run's engine has taken its migration lock (`taken`,
    /// [`confiture::Migrator::lock_taken`]): asked when a signal comes, not learnt from the
    /// progress events.
    pub(super) fn once_locked(&self, words: Words, taken: confiture::migrate::LockTaken) {
        said(&self.words).locked = Some((words, taken));
    }

    /// The run's database, as its errors name it (`user@host:port/db`, never the password):
    /// the exit at once's error names it too.
    pub(super) fn database(&self, shown: String) {
        self.so_far().database = Some(shown);
    }

    /// One database's run reported `event`: what the second signal's document says it
    /// committed, and which migration ran.
    pub(super) fn progress(&self, event: &Progress) {
        self.so_far().run.progress(event);
    }

    /// A fleet is about to run `targets`: the second signal's document lists each.
    pub(super) fn fleet(&self, targets: &[Target]) {
        self.so_far().targets = Some(
            targets
                .iter()
                .map(|t| TargetSoFar {
                    target: t.shown_database(),
                    source: t.source.clone(),
                    schema: t.schema.clone(),
                    ended: None,
                    started: false,
                    run: confiture::migrate::SoFar::default(),
                })
                .collect(),
        );
    }

    /// A fleet's `event`: where its target stands.
    pub(super) fn fleet_event(&self, event: &Event) {
        let mut so_far = self.so_far();
        let Some(targets) = so_far.targets.as_mut() else {
            return;
        };
        match event {
            Event::Started { index, .. } => {
                if let Some(t) = targets.get_mut(*index) {
                    t.started = true;
                }
            }
            Event::Finished {
                index,
                exit_code,
                failed,
                ..
            } => {
                if let Some(t) = targets.get_mut(*index) {
                    t.ended = Some((TargetState::of(*failed, *exit_code), *exit_code));
                }
            }
            Event::Progress {
                index, progress, ..
            } => {
                if let Some(t) = targets.get_mut(*index) {
                    t.run.progress(progress);
                }
            }
            // Event is `#[non_exhaustive]`.
            _ => {}
        }
    }

    fn so_far(&self) -> std::sync::MutexGuard<'_, SoFar> {
        self.so_far.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The flag to give `Migrator::stop_when` or `Fleet::stop_when`.
    pub(super) fn flag(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }

    /// **The** rule, once the run has ended and its report is printed: a run that
    /// `completed` although a signal arrived says so — `Ctrl-C arrived after {last}; nothing
    /// was undone` — and keeps its own exit code. A run the stop cut short has said
    /// `interrupted` in its report (exit 130) and gets nothing more here.
    pub(super) fn after(&self, out: &Output, completed: bool, last: &str) {
        self.ended.store(true, Ordering::SeqCst);
        let signal = self.signal.load(Ordering::SeqCst);
        if completed && self.flag.load(Ordering::SeqCst) && signal != 0 {
            out.note(&format!(
                "note: {} arrived after {last}; nothing was undone",
                name(signal)
            ));
        }
    }
}

/// Why the process leaves without the run's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaving {
    /// The second signal.
    Again,
    /// The first signal's stop got no answer within [`STOP_WAIT`]: the cancel request, or the
    /// statement's end, is held by the server or a pooler or proxy in between.
    Unanswered,
}

impl Leaving {
    /// The line on stderr as the process leaves (`leaving`: what the signal says of the work
    /// cut short).
    fn line(self, leaving: &str) -> String {
        match self {
            Leaving::Again => format!("interrupted again: exiting; {leaving}"),
            Leaving::Unanswered => format!(
                "no answer {} s after the cancel request (the server, or a pooler or proxy in \
                 between, is not answering): exiting; {leaving}",
                STOP_WAIT.as_secs()
            ),
        }
    }

    /// The message of the exit's error.
    fn message(self) -> String {
        match self {
            Leaving::Again => {
                "interrupted again: exited without waiting for the run to stop".into()
            }
            Leaving::Unanswered => format!(
                "interrupted: the server did not answer the stop within {} s; exited without \
                 waiting for it",
                STOP_WAIT.as_secs()
            ),
        }
    }
}

/// Exits at once, saying why, and what is known so far ([`SoFar`]): on stderr as a run's
/// error is, and with `--format json` as its document — unless a report already claimed
/// stdout ([`exit::INTERRUPTED`]): the second signal, or a stop that got no answer within
/// [`STOP_WAIT`]. The server ends the session once it sees the connection gone, rolling
/// back what it had not committed.
fn leave(out: &Mutex<Output>, words: &Mutex<Said>, so_far: &Mutex<SoFar>, why: Leaving) -> ! {
    let out = out.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let leaving = said(words).now().1;
    // Never "run the command again": what was running may commit after the exit (a `down
    // --steps N` again would roll back N more); the words say `migrate status`.
    Output::note_line(&why.line(leaving));
    let (error, document) = {
        let so_far = so_far.lock().unwrap_or_else(|p| p.into_inner());
        so_far.document(why, leaving)
    };
    if out.last_document(|| document) {
        out.error_text(&error);
    }
    std::process::exit(i32::from(exit::INTERRUPTED));
}

/// How long the first signal waits for the run to end (its running statement cancelled, its
/// report printed) before exiting without it: the library's bound of a stop
/// ([`confiture::migrate::STOP_WAIT`], after which a stopped command returns `interrupted`
/// whatever the server does) and [`REPORT_MARGIN`] to print that report; the one bound of the
/// signal thread's waits (`verify`'s for the fleet's report after the drop too).
pub(super) const STOP_WAIT: Duration =
    Duration::from_secs(confiture::migrate::STOP_WAIT.as_secs() + REPORT_MARGIN.as_secs());

/// What the first signal's wait gives the run beyond the library's bound: its report written.
const REPORT_MARGIN: Duration = Duration::from_secs(2);

/// How often the signal thread looks for a second signal or the run's end.
const POLL: Duration = Duration::from_millis(20);

/// How the user knows the signal: Ctrl-C for SIGINT.
fn name(signal: i32) -> &'static str {
    match signal {
        signal_hook::consts::SIGTERM => "SIGTERM",
        signal_hook::consts::SIGHUP => "SIGHUP",
        _ => "Ctrl-C",
    }
}

/// What a run is known to have done, from its progress events: all that the second signal,
/// which does not wait for the run, can say.
#[derive(Default)]
struct SoFar {
    /// The database of one database's run, as its errors name it ([`Interrupt::database`]).
    database: Option<String>,
    /// When the command started (a report's `total_duration_ms`).
    started: Option<Instant>,
    /// One database's run.
    run: confiture::migrate::SoFar,
    /// A fleet's targets, in list order; `None` for one database.
    targets: Option<Vec<TargetSoFar>>,
}

/// One target of a fleet, as the second signal's document shows it.
struct TargetSoFar {
    target: String,
    source: String,
    schema: Option<String>,
    started: bool,
    /// Its state and code once it finished.
    ended: Option<(TargetState, u8)>,
    run: confiture::migrate::SoFar,
}

/// One entry of the second signal's `targets`: a fleet report's entry's keys, with the error
/// object's `committed` and `unknown`.
#[derive(Serialize)]
struct TargetEntry<'a> {
    target: &'a str,
    source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema: Option<&'a str>,
    state: TargetState,
    exit_code: Option<u8>,
    committed: &'a [String],
    unknown: Vec<String>,
}

impl SoFar {
    /// The error of the exit at once (`why`, with `leaving`: what the signal says of the work
    /// cut short), as a run's own error names its database and its migrations, and the
    /// document `--format json` writes: one database's report so far (the shape of the
    /// run's own, `up`'s or `down`'s), or the error document with a fleet's `targets`.
    fn document(&self, why: Leaving, leaving: &str) -> (Error, LastDocument) {
        let mut error = Error::new(ErrorKind::Interrupted, why.message()).with_help(format!(
            "run {} to see what is applied",
            hint::command("migrate status")
        ));
        let Some(targets) = &self.targets else {
            error.details = vec![leaving.to_string()];
            let run = &self.run;
            error = match (run.failure(self.database.clone()), &self.database) {
                (Some(failure), _) => error.with_reason(Reason::Migration(Box::new(failure))),
                (None, Some(database)) => error.with_reason(Reason::Database {
                    database: database.clone(),
                }),
                (None, None) => error,
            };
            let mut reported = ReportedError::of(&error);
            // Also when none is cut (nothing ran at the exit).
            reported.committed = run.committed().to_vec();
            reported.not_attempted = run.not_attempted();
            reported.unknown = run.unknown().to_vec();
            let total = self.started.map_or(0, |t| {
                u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
            });
            let report = match run.direction() {
                Some(Direction::Up) => {
                    let mut report = run.up_report();
                    report.errors = vec![reported.clone()];
                    report.total_duration_ms = total;
                    serde_json::to_value(&report).ok()
                }
                Some(Direction::Down) => {
                    let mut report = run.down_report();
                    report.errors = vec![reported.clone()];
                    report.total_duration_ms = total;
                    serde_json::to_value(&report).ok()
                }
                // No migration planned yet (the lock, the ledger, a baseline's one
                // transaction): the error alone.
                _ => None,
            };
            let document = match report {
                Some(report) => LastDocument::Report(report),
                None => LastDocument::Error(Box::new(reported), None),
            };
            return (error, document);
        };
        let entries: Vec<TargetEntry> = targets
            .iter()
            .map(|t| {
                let (state, exit_code) = match (t.ended, t.started) {
                    (Some((state, code)), _) => (state, Some(code)),
                    // Cut by the exit, as the stop would have interrupted it.
                    (None, true) => (TargetState::Interrupted, Some(exit::INTERRUPTED)),
                    (None, false) => (TargetState::NotStarted, None),
                };
                TargetEntry {
                    target: &t.target,
                    source: &t.source,
                    schema: t.schema.as_deref(),
                    state,
                    exit_code,
                    committed: t.run.committed(),
                    unknown: t.run.unknown().to_vec(),
                }
            })
            .collect();
        let count = |state| entries.iter().filter(|e| e.state == state).count();
        error.details = vec![
            // The words of the fleet's own summary of an interruption.
            format!(
                "{} finished, {} cancelled, {} failed, {} not started",
                count(TargetState::Done),
                count(TargetState::Interrupted),
                count(TargetState::Failed),
                count(TargetState::NotStarted)
            ),
            leaving.to_string(),
        ];
        let reported = ReportedError::of(&error);
        (
            error,
            LastDocument::Error(Box::new(reported), serde_json::to_value(&entries).ok()),
        )
    }
}
