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

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confiture::{exit, hint};

use crate::output::Output;

/// The stop flag of one command and the signal that set it.
pub(super) struct Interrupt {
    flag: Arc<AtomicBool>,
    /// The signal received first (0: none yet).
    signal: Arc<AtomicI32>,
    /// What the first signal and the second say now ([`Interrupt::words`]).
    words: Arc<Mutex<Words>>,
    /// Set once the run has ended and its report is printed ([`Interrupt::after`]): the
    /// first signal's bounded wait ([`STOP_WAIT`]) is over.
    ended: Arc<AtomicBool>,
}

/// What a run says on the first signal (`stopping: ...`), and on the second (`exiting; ...`).
pub(super) type Words = (&'static str, &'static str);

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
    /// server rolls back what was not committed). The same flag ends a wait on a pipe given
    /// as the environment, `.env` or target list ([`confiture::config::stop_reading_when`]).
    /// A library never installs signal handlers; the CLI is the whole process. Without
    /// handlers (none could be installed) the default action ends the process, as before.
    pub(super) fn on_signal((stopping, leaving): Words) -> Interrupt {
        let interrupt = Interrupt {
            flag: Arc::new(AtomicBool::new(false)),
            signal: Arc::new(AtomicI32::new(0)),
            words: Arc::new(Mutex::new((stopping, leaving))),
            ended: Arc::new(AtomicBool::new(false)),
        };
        confiture::config::stop_reading_when(interrupt.flag());
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return interrupt;
        };
        let (flag, signal) = (interrupt.flag.clone(), interrupt.signal.clone());
        let (words, ended) = (interrupt.words.clone(), interrupt.ended.clone());
        std::thread::spawn(move || {
            let Some(first) = signals.forever().next() else {
                return;
            };
            signal.store(first, Ordering::SeqCst);
            flag.store(true, Ordering::SeqCst);
            let (stopping, leaving) = *words.lock().unwrap_or_else(|p| p.into_inner());
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
                    leave(&format!("interrupted again: exiting; {leaving}"));
                }
                if ended.load(Ordering::SeqCst) {
                    return;
                }
                if since.elapsed() >= STOP_WAIT {
                    leave(&format!(
                        "no answer {} s after the cancel request (the server, or a pooler or \
                         proxy in between, is not answering): exiting; {leaving}",
                        STOP_WAIT.as_secs()
                    ));
                }
                std::thread::sleep(POLL);
            }
        });
        interrupt
    }

    /// What the signals say from now on: the run has its database (or its fleet) and starts.
    pub(super) fn words(&self, words: Words) {
        *self.words.lock().unwrap_or_else(|p| p.into_inner()) = words;
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

/// Exits at once, saying `why` ([`exit::INTERRUPTED`]): the second signal, or a stop that
/// got no answer within [`STOP_WAIT`]. The server ends the session once it sees the connection
/// gone, rolling back what it had not committed.
fn leave(why: &str) -> ! {
    Output::note_line(&format!("{why} (run {} to finish them)", hint::AGAIN));
    std::process::exit(i32::from(exit::INTERRUPTED));
}

/// How long the first signal waits for the run to end (its running statement cancelled, its
/// report printed) before exiting without it: the one bound of the signal thread's waits
/// (`verify`'s for the fleet's report after the drop too).
pub(super) const STOP_WAIT: Duration = Duration::from_secs(5);

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
