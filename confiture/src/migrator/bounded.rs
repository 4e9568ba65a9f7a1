//! A stopped command that the server does not let end ([`Migrator::stop_when`]): the bound.
//!
//! A command that can be stopped runs on a thread of its own, its progress events handed back
//! to the caller's thread as [`Migrator::off_runtime`] hands them. Once the flag is set, the
//! caller waits [`STOP_WAIT`] at most for the command to end: a session that stops answering
//! (a frozen proxy between us and the server: neither the cancel request nor the statement's
//! end gets through, and its kernel still acknowledges, so no keepalive fails) holds the
//! driver's read forever, and no one can end it from outside. The command is then left to its
//! thread with its connection, and fails with [`ErrorKind::Interrupted`] saying what its
//! progress events said: the migrations committed, those sent or started and not finished
//! (fate unknown), the rest of its plan (not attempted). This `Migrator` connects again on its
//! next command.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::report::CommandReport;
use super::{CallerPanicked, Migrator, STOP_WAIT};
use crate::error::{Error, ErrorKind, MigrationFailure, Reason};
use crate::files::TransactionMode;
use crate::migrate::{
    AbandonReport, BaselineReport, Direction, DownReport, Failed, MigrationReport, Outcome,
    Progress, ReinitReport, ReportedError, UpReport,
};

/// How often the caller's thread looks at the flag while it waits for the command.
const POLL: Duration = Duration::from_millis(20);

thread_local! {
    /// On a command's thread, while [`reported_together`] runs: where the answers of the
    /// events handed over meanwhile wait, instead of each being waited for at once.
    static TOGETHER: std::cell::RefCell<Option<Vec<mpsc::Receiver<bool>>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `report`, whose progress events say what has already happened (a message's results:
/// what the server said while it ran, the migrations it committed), and returns what it
/// returns. On a command's own thread ([`Migrator::bounded`]) its events are handed to the
/// caller's thread without each being waited for, and then waited for all at once: waiting
/// for each had both threads sleep and wake twice an event (2,000 events and ~2,700 context
/// switches, ~10 ms, for a message of 1,000 migrations). A callback that panics on one of them
/// sees none of the rest, and the command stops here, before anything more reaches the server
/// — where waiting for each stopped it at that event, with nothing but the rest of these
/// reports in between. Elsewhere (no command thread), the events are calls as always.
pub(crate) fn reported_together<T>(report: impl FnOnce() -> T) -> T {
    // Inside another: its events wait with the outer's.
    if TOGETHER.with(|t| t.borrow().is_some()) {
        return report();
    }
    /// Leaves the thread as it was, `report` unwinding or not.
    struct Ends;
    impl Drop for Ends {
        fn drop(&mut self) {
            TOGETHER.with(|t| t.borrow_mut().take());
        }
    }
    TOGETHER.with(|t| *t.borrow_mut() = Some(Vec::new()));
    let ends = Ends;
    let value = report();
    let answers = TOGETHER.with(|t| t.borrow_mut().take()).unwrap_or_default();
    drop(ends);
    // The caller's thread answers each, in order; after a `false` (its callback panicked) the
    // rest are not waited for: the command unwinds.
    if !answers.into_iter().all(|a| a.recv() == Ok(true)) {
        std::panic::resume_unwind(Box::new(CallerPanicked));
    }
    value
}

/// What the command's thread sends the caller's.
enum Message<R> {
    /// A progress event, and where to say whether the caller's callback returned (`false`:
    /// it panicked, the command unwinds).
    Event(Progress, mpsc::SyncSender<bool>),
    /// The command ended: the session, and its outcome.
    Done(Box<Migrator>, Outcome<R>),
}

impl Migrator {
    /// Runs `work` (a command) on a thread of its own, bounded once `flag` is set
    /// ([`STOP_WAIT`]): see the module. Progress events reach `progress` on this thread, each
    /// waited for, as [`Migrator::off_runtime`] does (a `progress` that panics stops `work` at
    /// that event, and the panic is resumed here) — but those a message's results report
    /// together, waited for together ([`reported_together`]).
    pub(crate) fn bounded<R: CommandReport + CutShort + Send + 'static>(
        &mut self,
        flag: Arc<AtomicBool>,
        progress: &mut dyn FnMut(Progress),
        work: impl FnOnce(&mut Migrator, &mut dyn FnMut(Progress)) -> Outcome<R> + Send + 'static,
    ) -> Outcome<R> {
        let started = Instant::now();
        let fresh = self.detached();
        let mut m = std::mem::replace(self, fresh);
        let (sender, messages) = mpsc::channel::<Message<R>>();
        // What a lasting message waits for, reported from outside the command's thread (it
        // waits in the driver then): handed to `progress` here as they come.
        let (waits, waited) = mpsc::channel::<Progress>();
        m.waits = Some(waits);
        // The flag the command watches: the caller's, passed on by this thread, and set here
        // too when the caller's callback panics on a wait's event (`waited`), which comes from
        // outside the command's thread while it waits in the driver: the command then stops as
        // it would on the caller's flag — the message waiting is cancelled and rolled back —
        // instead of going on once the lock is let go. The caller's flag stays as it was.
        let stopping = Arc::new(AtomicBool::new(flag.load(Ordering::SeqCst)));
        m.stop = Some(stopping.clone());
        let worker = std::thread::Builder::new()
            .name("confiture-command".to_string())
            .spawn(move || {
                let events = sender.clone();
                let mut send = |event: Progress| {
                    // An event sent while unwinding (a drop) is not the caller's to see.
                    if std::thread::panicking() {
                        return;
                    }
                    let (done, handled) = mpsc::sync_channel(1);
                    if events.send(Message::Event(event, done)).is_err() {
                        return;
                    }
                    // Reported together: answered with the others ([`reported_together`]).
                    let handled = TOGETHER.with(|t| match t.borrow_mut().as_mut() {
                        Some(answers) => {
                            answers.push(handled);
                            None
                        }
                        None => Some(handled),
                    });
                    if handled.is_some_and(|handled| handled.recv() != Ok(true)) {
                        std::panic::resume_unwind(Box::new(CallerPanicked));
                    }
                };
                let outcome = work(&mut m, &mut send);
                let _ = sender.send(Message::Done(Box::new(m), outcome));
            })
            // As `std::thread::spawn` and the scoped threads of `off_runtime` do.
            .expect("failed to spawn the command's thread");
        let mut so_far = SoFar::default();
        let mut panicked = None;
        let mut stopped_at: Option<Instant> = None;
        loop {
            if flag.load(Ordering::SeqCst) {
                stopping.store(true, Ordering::SeqCst);
            }
            match messages.recv_timeout(POLL) {
                Ok(Message::Event(event, done)) => {
                    so_far.progress(&event);
                    if panicked.is_none() {
                        let call = std::panic::AssertUnwindSafe(|| progress(event));
                        panicked = std::panic::catch_unwind(call).err();
                    }
                    let _ = done.send(panicked.is_none());
                }
                Ok(Message::Done(m, outcome)) => {
                    *self = *m;
                    self.waits = None;
                    self.stop = Some(flag);
                    let joined = worker.join();
                    if let Some(payload) = panicked {
                        std::panic::resume_unwind(payload);
                    }
                    if let Err(panic) = joined {
                        std::panic::resume_unwind(panic);
                    }
                    return outcome;
                }
                Err(RecvTimeoutError::Timeout) => {
                    while let Ok(event) = waited.try_recv() {
                        if panicked.is_none() {
                            let call = std::panic::AssertUnwindSafe(|| progress(event));
                            panicked = std::panic::catch_unwind(call).err();
                            if panicked.is_some() {
                                stopping.store(true, Ordering::SeqCst);
                            }
                        }
                    }
                    if stopping.load(Ordering::SeqCst) {
                        let at = *stopped_at.get_or_insert_with(Instant::now);
                        if at.elapsed() >= STOP_WAIT {
                            // Left to its thread, as a stop the server does not answer is.
                            match panicked.take() {
                                Some(payload) => std::panic::resume_unwind(payload),
                                None => return Err(self.cut_short::<R>(&so_far, started)),
                            }
                        }
                    }
                }
                // The thread ended without its outcome: it panicked.
                Err(RecvTimeoutError::Disconnected) => {
                    let joined = worker.join();
                    if let Some(payload) = panicked {
                        std::panic::resume_unwind(payload);
                    }
                    if let Err(panic) = joined {
                        std::panic::resume_unwind(panic);
                    }
                    return Err(self.cut_short::<R>(&so_far, started));
                }
            }
        }
    }

    /// The failure of a command left to its thread, the stop unanswered within
    /// [`STOP_WAIT`], from what its progress events said.
    fn cut_short<R: CommandReport + CutShort>(
        &self,
        so_far: &SoFar,
        started: Instant,
    ) -> Failed<R> {
        let database = self.env.connection.to_string();
        let message = format!(
            "interrupted: the server did not answer the stop within {} s; the run was left \
             without waiting for it",
            STOP_WAIT.as_secs()
        );
        let error = Error::new(ErrorKind::Interrupted, message)
            .with_detail(format!(
                "whether the running migration committed is unknown: {} says, and the server \
                 rolls back what it had not committed",
                crate::hint::command("migrate status")
            ))
            .with_help(format!(
                "run {} to see what is applied",
                crate::hint::command("migrate status")
            ));
        let error = match so_far.failure(Some(database.clone())) {
            Some(failure) => error.with_reason(Reason::Migration(Box::new(failure))),
            None => error.with_reason(Reason::Database { database }),
        };
        let error = match self.suggested::<()>(Err(error)) {
            Err(error) => error,
            Ok(()) => unreachable!("an error stays one"),
        };
        let mut reported = ReportedError::of(&error);
        reported.committed = so_far.committed.clone();
        reported.not_attempted = so_far.not_attempted();
        reported.unknown = so_far.unknown().to_vec();
        let mut report = R::cut(so_far);
        report.close(super::run::ms(started.elapsed()), Some(reported));
        Failed { error, report }
    }
}

/// A command's report built from its progress events alone ([`SoFar`]).
pub(crate) trait CutShort: Sized {
    fn cut(so_far: &SoFar) -> Self;
}

impl CutShort for UpReport {
    fn cut(so_far: &SoFar) -> Self {
        so_far.up_report()
    }
}

impl CutShort for DownReport {
    fn cut(so_far: &SoFar) -> Self {
        so_far.down_report()
    }
}

/// One transaction, rolled back unless it committed: nothing is known to have committed.
impl CutShort for BaselineReport {
    fn cut(_: &SoFar) -> Self {
        BaselineReport::starting(false)
    }
}

impl CutShort for ReinitReport {
    fn cut(_: &SoFar) -> Self {
        ReinitReport::starting(false)
    }
}

impl CutShort for AbandonReport {
    fn cut(_: &SoFar) -> Self {
        AbandonReport::starting(false)
    }
}

/// What a run's progress events say it did, for a caller that cannot wait for its report (a
/// stop the server does not answer, [`STOP_WAIT`]; a CLI's second Ctrl-C): the migrations
/// committed ([`Progress::Finished`]: applied, or rolled back by `down`, with its ledger row),
/// those sent or started and not finished (fate unknown: rolled back by the server unless
/// their commit had been sent; a `no-transaction` one keeps what it committed), and the rest
/// of its plan ([`Progress::Planned`]; `--single-transaction` sends none), not attempted.
///
/// ```
/// use confiture::migrate::{Direction, Progress, SoFar};
///
/// let mut so_far = SoFar::default();
/// so_far.progress(&Progress::Planned {
///     direction: Direction::Up,
///     count: 2,
///     versions: vec!["001".into(), "002".into()],
/// });
/// so_far.progress(&Progress::Sent { versions: vec!["001".into()], direction: Direction::Up });
/// assert_eq!(so_far.unknown(), ["001"]);
/// assert_eq!(so_far.not_attempted(), ["002"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct SoFar {
    direction: Option<Direction>,
    planned: Vec<String>,
    committed: Vec<String>,
    /// The migrations of unknown fate, in the order they were sent or started, from
    /// `unknown_from` on: those before it have finished (they finish in the order they were
    /// sent, so one finishing moves the start on instead of moving the rest of the list).
    unknown: Vec<String>,
    unknown_from: usize,
    /// The versions of `unknown`, to look one up without reading the list: a message of
    /// 1,000 migrations reports each as sent, started and finished, and scanning the list for
    /// each (and the `started` below) cost ~55 M instructions a `SoFar`, on the thread the
    /// command waits for — twice with the CLI's (its own `SoFar` too).
    unknown_set: HashSet<String>,
    /// Each migration started: its name and mode, by version (the first time it started).
    started: HashMap<String, (String, TransactionMode)>,
    migrations: Vec<MigrationReport>,
}

impl SoFar {
    /// Takes in one progress event of the run.
    pub fn progress(&mut self, event: &Progress) {
        let mut running = |version: &String| {
            if self.unknown_set.insert(version.clone()) {
                self.unknown.push(version.clone());
            }
        };
        match event {
            Progress::Planned {
                direction,
                versions,
                ..
            } => {
                self.direction = Some(*direction);
                self.planned = versions.clone();
            }
            Progress::Sent { versions, .. } => versions.iter().for_each(running),
            // `--single-transaction` sends none: each started one is in the transaction.
            Progress::Started {
                version,
                name,
                direction,
                mode,
            } => {
                running(version);
                self.direction = Some(*direction);
                self.started
                    .entry(version.clone())
                    .or_insert_with(|| (name.clone(), *mode));
            }
            Progress::Finished {
                version,
                name,
                duration_ms,
                ..
            } => {
                if self.unknown_set.remove(version) {
                    // Migrations finish in the order they were sent: the first, as a rule.
                    let first = self.unknown_from;
                    match self.unknown[first..].iter().position(|v| v == version) {
                        Some(0) => self.unknown_from += 1,
                        Some(at) => {
                            self.unknown.remove(first + at);
                        }
                        None => {}
                    }
                }
                self.committed.push(version.clone());
                let mode = self
                    .started
                    .get(version)
                    .map_or(TransactionMode::Transaction, |(_, mode)| *mode);
                self.migrations
                    .push(MigrationReport::new(version, name, mode, *duration_ms));
            }
            _ => {}
        }
    }

    /// Applying or rolling back, once the run has a plan or started a migration.
    pub fn direction(&self) -> Option<Direction> {
        self.direction
    }

    /// The migrations committed (applied, or rolled back by `down`), in order.
    pub fn committed(&self) -> &[String] {
        &self.committed
    }

    /// The migrations sent or started and not finished: their fate is unknown.
    pub fn unknown(&self) -> &[String] {
        &self.unknown[self.unknown_from..]
    }

    /// The plan's migrations neither committed nor of unknown fate.
    pub fn not_attempted(&self) -> Vec<String> {
        let committed: HashSet<&String> = self.committed.iter().collect();
        self.planned
            .iter()
            .filter(|v| !committed.contains(v) && !self.unknown_set.contains(*v))
            .cloned()
            .collect()
    }

    /// `up`'s report as far as known: `applied`, `unknown`, `skipped` (not attempted),
    /// `migrations`; no error, no duration.
    pub fn up_report(&self) -> UpReport {
        let mut report = UpReport::starting(false);
        report.applied = self.committed.clone();
        report.unknown = self.unknown().to_vec();
        report.skipped = self.not_attempted();
        report.migrations = self.migrations.clone();
        report
    }

    /// `down`'s report as far as known: `rolled_back`, `unknown`, `migrations`.
    pub fn down_report(&self) -> DownReport {
        let mut report = DownReport::starting(false);
        report.rolled_back = self.committed.clone();
        report.unknown = self.unknown().to_vec();
        report.migrations = self.migrations.clone();
        report
    }

    /// The migration cut, as a failed one is named (the first of unknown fate), on
    /// `database`; `None` when none was running.
    pub fn failure(&self, database: Option<String>) -> Option<MigrationFailure> {
        let version = self.unknown().first()?;
        let name = self
            .started
            .get(version)
            .map(|(name, _)| name.clone())
            .unwrap_or_default();
        Some(MigrationFailure {
            database,
            version: version.clone(),
            name,
            direction: self.direction.unwrap_or(Direction::Up),
            committed: self.committed.clone(),
            not_attempted: self.not_attempted(),
            unknown: self.unknown().to_vec(),
            ..MigrationFailure::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(version: &str, mode: TransactionMode) -> Progress {
        Progress::Started {
            version: version.into(),
            name: format!("m{version}"),
            direction: Direction::Up,
            mode,
        }
    }

    fn finished(version: &str) -> Progress {
        Progress::Finished {
            version: version.into(),
            name: format!("m{version}"),
            direction: Direction::Up,
            duration_ms: None,
        }
    }

    /// The bookkeeping keeps the lists' order and meaning whatever order the events come in:
    /// a version sent and started is unknown once, one finishing out of order leaves the rest
    /// in order, a retried one keeps the mode it first started with.
    #[test]
    fn events_in_any_order_give_the_lists_in_order() {
        let versions: Vec<String> = ["001", "002", "003", "004", "005"].map(String::from).into();
        let mut so_far = SoFar::default();
        so_far.progress(&Progress::Planned {
            direction: Direction::Up,
            count: versions.len(),
            versions: versions.clone(),
        });
        so_far.progress(&Progress::Sent {
            versions: versions[..4].to_vec(),
            direction: Direction::Up,
        });
        so_far.progress(&started("001", TransactionMode::Transaction));
        so_far.progress(&started("002", TransactionMode::NoTransaction));
        so_far.progress(&started("002", TransactionMode::Transaction));
        so_far.progress(&finished("001"));
        so_far.progress(&finished("003"));
        assert_eq!(so_far.unknown(), ["002", "004"]);
        assert_eq!(so_far.committed(), ["001", "003"]);
        assert_eq!(so_far.not_attempted(), ["005"]);
        let failure = so_far.failure(None).unwrap();
        assert_eq!(
            (failure.version.as_str(), failure.name.as_str()),
            ("002", "m002")
        );
        so_far.progress(&finished("002"));
        // Sent again after it finished (a retried message): unknown again, once.
        so_far.progress(&Progress::Sent {
            versions: vec!["004".into(), "005".into()],
            direction: Direction::Up,
        });
        assert_eq!(so_far.unknown(), ["004", "005"]);
        let report = so_far.up_report();
        assert_eq!(report.applied, ["001", "003", "002"]);
        assert_eq!(report.unknown, ["004", "005"]);
        assert!(report.skipped.is_empty());
        let modes: Vec<_> = report.migrations.iter().map(|m| m.mode).collect();
        assert_eq!(
            modes,
            [
                TransactionMode::Transaction,
                TransactionMode::Transaction,
                TransactionMode::NoTransaction
            ]
        );
    }
}
