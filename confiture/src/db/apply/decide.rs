//! The runner's decisions, as pure functions over plain data: how to cut a run into messages
//! ([`BatchLimits`], [`batch_end`]), what to send again after a message failed (the failed
//! migration and those after it; the culprit alone when a syntax error rejected the whole
//! message), and lock-timeout retries (resume at the migration that waited, at most
//! `lock_retries` times, never when what the attempt ran has an effect a rollback does not
//! undo: [`LastingEffect`]). [`super::batch`] carries them out; the tests below need no
//! database.

use std::ops::Range;
use std::time::Duration;

use super::sql::STEP_OVERHEAD;
use super::{Step, StepOutcome};
use crate::files::{SqlFile, TransactionMode};

/// How many consecutive transactional migrations one message may carry. A migration marked
/// `no-transaction` always runs on its own, statement by statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// SQL bytes in one message; a larger migration is still sent, alone.
    pub max_bytes: usize,
    /// Migrations in one message (1 sends each on its own).
    pub max_steps: usize,
}

impl Default for BatchLimits {
    fn default() -> BatchLimits {
        BatchLimits {
            max_bytes: 2 * 1024 * 1024,
            max_steps: 1000,
        }
    }
}

/// What [`batch_end`] needs to know of a step: its size and whether it must go alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cost {
    /// Roughly the bytes it adds to a message: its SQL and what [`super::sql`] wraps it in.
    pub bytes: usize,
    /// Marked `no-transaction`: runs statement by statement, never in a message with others.
    pub alone: bool,
    /// A statement of it may return rows ([`crate::files::StatementSpan::may_return_rows`]):
    /// it goes in a message of its own, whose rows are discarded as they arrive (a message
    /// of several is read whole, for its ledger statements' durations), and its duration is
    /// that message's.
    pub returns_rows: bool,
    /// It may empty its session's settings, the engine's clock among them: its text says
    /// `reset` (`RESET ALL`, also run by a `DO` block's `EXECUTE`). It begins a message, whose
    /// arrival is then its transaction's start: its time without its clock is exact
    /// ([`super::sql::Began::OwnTransaction`]). The steps after it may join it.
    pub begins_message: bool,
}

impl Cost {
    pub fn of(step: &Step<'_>) -> Cost {
        let file = step.file();
        Cost {
            bytes: file.text.len() + STEP_OVERHEAD,
            alone: file.mode == TransactionMode::NoTransaction,
            returns_rows: file.statements.iter().any(|s| s.may_return_rows),
            begins_message: crate::text::mentions(&file.text, "reset"),
        }
    }
}

/// Where the message starting at `start` ends: consecutive transactional steps within
/// `limits`, never past a suspect step `cut` (which goes alone). At least one step: a step
/// larger than `limits.max_bytes`, or one that goes alone or may return rows, is a message of
/// its own; one that [`Cost::begins_message`] is never after another in a message.
pub(super) fn batch_end(
    costs: &[Cost],
    start: usize,
    limits: BatchLimits,
    cut: Option<usize>,
) -> usize {
    let stop = match cut {
        Some(c) if c > start => c.min(costs.len()),
        Some(_) => start + 1,
        None => costs.len(),
    };
    let mut end = start;
    let mut bytes = 0;
    while end < stop && end - start < limits.max_steps.max(1) {
        let cost = costs[end];
        if cost.alone
            || (end > start
                && (cost.returns_rows
                    || cost.begins_message
                    || bytes + cost.bytes > limits.max_bytes))
        {
            break;
        }
        bytes += cost.bytes;
        end += 1;
        if cost.returns_rows {
            break;
        }
    }
    end.max(start + 1)
}

/// Which step of a failed message failed: the one after those that committed (`committed`,
/// read from the session's marker), never past the message's last.
pub(super) fn failed_step(message: &Range<usize>, committed: usize) -> usize {
    (message.start + committed).min(message.end - 1)
}

/// The time a failed attempt took: what the message took (`elapsed`) minus the steps that
/// committed in it; `None` when one of theirs is not known (the total would be made up).
pub(super) fn failed_attempt_time(
    elapsed: Duration,
    committed: &[Option<Duration>],
) -> Option<Duration> {
    committed
        .iter()
        .try_fold(elapsed, |left, d| d.map(|d| left.saturating_sub(d)))
}

/// An effect a rollback does not undo ([`crate::files::rules::Effect::survives_rollback`], the
/// one reading of them: `COPY ... PROGRAM`, `COPY ... TO` a server file, `dblink`, ...) in a
/// migration an attempt ran: a lock-timeout retry would run it again, so the attempt is not
/// retried ([`Attempts::NotRepeated`]). Asked only of an attempt that waited for a lock of the
/// migration's own, with retries left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LastingEffect {
    /// How a message names it: `COPY ... PROGRAM`, `dblink()`.
    pub effect: String,
    /// Where: `path:line` of the migration file, as messages show paths.
    pub at: String,
}

impl LastingEffect {
    /// The first such effect of `file` (in its statements, and in the bodies and strings they
    /// hold, whether or not they run: conservative, as the reading is).
    pub fn of(file: &SqlFile) -> Option<LastingEffect> {
        let text = crate::text::without_bom(&file.text);
        crate::files::rules::server_wide(text)
            .into_iter()
            .find(|(_, _, effect)| effect.survives_rollback())
            .map(|(line, _, effect)| LastingEffect {
                effect: effect.describe(),
                at: format!("{}:{line}", crate::display::path(&file.path)),
            })
    }

    /// The first such effect of the files of `steps` (those one attempt ran, in order).
    pub fn in_steps(steps: &[Step<'_>]) -> Option<LastingEffect> {
        steps.iter().find_map(|step| LastingEffect::of(step.file()))
    }
}

/// A message that failed in a live session, as [`Progress::after_failure`] needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MessageFailure {
    /// The steps the message carried.
    pub message: Range<usize>,
    /// Where the server's error position fell, for an error with a position in the message's
    /// text: `Some(Some(i))` in the `i`-th step of the message, `Some(None)` outside every
    /// step; `None` for an error without such a position.
    pub position: Option<Option<usize>>,
    /// The error was a lock wait of the migration's own: `lock_timeout` (55P03) or a deadlock
    /// (40P01), neither the tool's own statements' nor its ledger row's (those end the run by
    /// rule, [`Attempts::AfterRetries`]).
    pub contention: bool,
    /// For a `contention`: an effect a rollback does not undo in the step that waited
    /// ([`LastingEffect::of`]), which makes it not retried.
    pub lasting: Option<LastingEffect>,
}

/// What to do after a message failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
    /// The server rejected the message before running it (a syntax error further on): send
    /// again from [`Progress::next`], the suspect step alone.
    Narrow,
    /// The step waited for a lock: send it again, after a delay, as attempt `attempt + 1`.
    Retry { step: usize, attempt: u32 },
    /// The step failed for good, after `attempts`.
    Fail { step: usize, attempts: Attempts },
}

/// What a step's attempts were when it failed for good, as the run decided them
/// ([`Attempts::after`]), said with its failure ([`super::failure::attempts_detail`]): a
/// retry budget ran out only when the last attempt, too, was the migration's contention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Attempts {
    /// The attempt that failed was the first.
    One,
    /// Each of the `made` attempts (more than one) waited for a lock of the migration's own,
    /// and the retries (`lock_retries`) ran out.
    RetriesRanOut { made: u32 },
    /// The `retried` attempts before the last waited for a lock of the migration's own and
    /// were retried; the last failed otherwise — another error, or a wait that is never the
    /// migration's contention (the tool's own statements behind a locked catalog, the ledger
    /// row behind a locked tracking table), which ends the run by rule, with retries left.
    AfterRetries { retried: u32 },
    /// The last attempt waited for a lock of the migration's own, with retries left, and is
    /// not retried: what it ran has `lasting`, an effect a rollback does not undo, which a
    /// retry would run again. `retried`: the attempts before it, retried (`--single-transaction`,
    /// whose next attempt may reach a migration with such an effect).
    NotRepeated {
        retried: u32,
        lasting: LastingEffect,
    },
}

impl Attempts {
    /// Whether the failed attempt `attempt` (1-based) of a step is retried: only a lock wait
    /// of the migration's own (`contention`, as [`MessageFailure::contention`]), at most
    /// `lock_retries` times, and only when what the attempt ran has no effect a rollback does
    /// not undo (`lasting`, asked only then). `None` when it is; else what its attempts were.
    pub(super) fn after(
        attempt: u32,
        contention: bool,
        lasting: impl FnOnce() -> Option<LastingEffect>,
        lock_retries: u32,
    ) -> Option<Attempts> {
        match (contention, attempt) {
            (true, attempt) if attempt <= lock_retries => {
                lasting().map(|lasting| Attempts::NotRepeated {
                    retried: attempt.saturating_sub(1),
                    lasting,
                })
            }
            (_, 0 | 1) => Some(Attempts::One),
            (true, made) => Some(Attempts::RetriesRanOut { made }),
            (false, attempt) => Some(Attempts::AfterRetries {
                retried: attempt - 1,
            }),
        }
    }
}

/// Where a run stands: the next step to send, a step to send alone, and the attempts of the
/// next step. Every change of it is one of the methods below, each a decision of the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Progress {
    /// The next step to send.
    pub next: usize,
    /// A step to send on its own, because a failed message could not be pinned on one step.
    cut: Option<usize>,
    /// The attempt of the step at `next` (1-based).
    attempt: u32,
    /// The time the step at `next` spent in failed attempts and the waits after them; `None`
    /// once a failed attempt's time is not known.
    spent: Option<Duration>,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            next: 0,
            cut: None,
            attempt: 1,
            spent: Some(Duration::ZERO),
        }
    }

    /// The steps of the next message: from [`Progress::next`], within `limits`.
    pub fn next_message(&mut self, costs: &[Cost], limits: BatchLimits) -> Range<usize> {
        if self.cut.is_some_and(|c| self.next > c) {
            self.cut = None;
        }
        self.next..batch_end(costs, self.next, limits, self.cut)
    }

    /// The steps from [`Progress::next`] on committed, one per duration (the server's measure
    /// of each, when known): their outcomes, the first with the attempts and time it spent
    /// before. The run moves past them.
    pub fn committed(&mut self, durations: Vec<Option<Duration>>) -> Vec<(usize, StepOutcome)> {
        let first = self.next;
        let outcomes: Vec<(usize, StepOutcome)> = (first..)
            .zip(durations)
            .map(|(i, duration)| {
                let outcome = if i == first {
                    StepOutcome {
                        duration: duration.zip(self.spent).map(|(d, s)| d + s),
                        attempts: self.attempt,
                    }
                } else {
                    StepOutcome {
                        duration,
                        attempts: 1,
                    }
                };
                (i, outcome)
            })
            .collect();
        if !outcomes.is_empty() {
            self.next = first + outcomes.len();
            self.attempt = 1;
            self.spent = Some(Duration::ZERO);
        }
        outcomes
    }

    /// What to do after `failure`, once the steps of it that committed went through
    /// [`Progress::committed`]: [`Progress::next`] is the step that failed. An error placed
    /// outside that step's text means the server rejected the message before running it:
    /// nothing from there on ran, so the steps before the culprit go again together, and the
    /// culprit alone, to find it. A step that waited for a lock is retried, at most
    /// `lock_retries` times.
    pub fn after_failure(&mut self, failure: &MessageFailure, lock_retries: u32) -> Decision {
        let failed = self.next;
        if failure.message.len() > 1 {
            let at = failure
                .position
                .map(|step| step.map(|s| failure.message.start + s));
            match at {
                None => {}
                Some(Some(j)) if j == failed => {}
                Some(Some(j)) if j > failed => {
                    self.cut = Some(j);
                    return Decision::Narrow;
                }
                Some(_) => {
                    self.cut = Some(failed);
                    return Decision::Narrow;
                }
            }
        }
        let attempt = self.attempt;
        let lasting = || failure.lasting.clone();
        match Attempts::after(attempt, failure.contention, lasting, lock_retries) {
            None => Decision::Retry {
                step: failed,
                attempt,
            },
            Some(attempts) => Decision::Fail {
                step: failed,
                attempts,
            },
        }
    }

    /// The attempts of the step at [`Progress::next`], which failed in a way that ends the run
    /// whatever its error (the session it ran in is not used again): never a retry budget
    /// that ran out.
    pub fn not_retried(&self) -> Attempts {
        Attempts::after(self.attempt, false, || None, 0).unwrap_or(Attempts::One)
    }

    /// The step at [`Progress::next`] is sent again after `delay`: its failed attempt took
    /// `failed_attempt` (when known).
    pub fn retrying(&mut self, failed_attempt: Option<Duration>, delay: Duration) {
        self.spent = self.spent.zip(failed_attempt).map(|(s, f)| s + f + delay);
        self.attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BatchLimits = BatchLimits {
        max_bytes: 1000,
        max_steps: 3,
    };

    fn costs(spec: &str) -> Vec<Cost> {
        // `t` a transactional step of 100 bytes, `T` one of 900, `n` a no-transaction step,
        // `r` a transactional step that may return rows, `e` one that may empty its session.
        spec.chars()
            .map(|c| Cost {
                bytes: if c == 'T' { 900 } else { 100 },
                alone: c == 'n',
                returns_rows: c == 'r',
                begins_message: c == 'e',
            })
            .collect()
    }

    #[test]
    fn batches_are_cut_at_the_step_count_the_bytes_and_no_transaction_steps() {
        let run = costs("ttttt");
        assert_eq!(batch_end(&run, 0, LIMITS, None), 3, "max_steps");
        assert_eq!(batch_end(&run, 3, LIMITS, None), 5, "the rest");
        let bytes = costs("tTt");
        assert_eq!(batch_end(&bytes, 0, LIMITS, None), 2, "900 + 100 fits");
        assert_eq!(batch_end(&bytes, 1, LIMITS, None), 3);
        assert_eq!(
            batch_end(&costs("TT"), 0, LIMITS, None),
            1,
            "over max_bytes"
        );
        let huge = vec![Cost {
            bytes: 5000,
            alone: false,
            returns_rows: false,
            begins_message: false,
        }];
        assert_eq!(
            batch_end(&huge, 0, LIMITS, None),
            1,
            "too large, still sent"
        );
        let mixed = costs("ttntt");
        assert_eq!(batch_end(&mixed, 0, LIMITS, None), 2, "stops before n");
        assert_eq!(batch_end(&mixed, 2, LIMITS, None), 3, "n goes alone");
        let rows = costs("trrt");
        assert_eq!(batch_end(&rows, 0, LIMITS, None), 1, "stops before r");
        assert_eq!(batch_end(&rows, 1, LIMITS, None), 2, "r goes alone");
        assert_eq!(batch_end(&rows, 2, LIMITS, None), 3, "the next r too");
        let emptied = costs("tete");
        assert_eq!(batch_end(&emptied, 0, LIMITS, None), 1, "stops before e");
        assert_eq!(batch_end(&emptied, 1, LIMITS, None), 3, "e begins, t joins");
        assert_eq!(
            batch_end(&emptied, 3, LIMITS, None),
            4,
            "e alone at the end"
        );
        let one = BatchLimits {
            max_steps: 0,
            ..LIMITS
        };
        assert_eq!(batch_end(&run, 0, one, None), 1, "0 means 1");
    }

    #[test]
    fn a_step_whose_text_may_empty_its_session_begins_its_message() {
        for (sql, begins) in [
            ("CREATE TABLE t ();\nRESET ALL;\n", true),
            ("DO $$ BEGIN EXECUTE 'reset all'; END $$;\n", true),
            ("SET search_path = app;\nCREATE TABLE t ();\n", false),
        ] {
            let file = super::super::test_file(sql);
            let migration = crate::files::Migration {
                version: 3,
                version_text: "003".into(),
                name: "x".into(),
                up: file.clone(),
                down: file,
            };
            let cost = Cost::of(&Step::up(&migration, false));
            assert_eq!(cost.begins_message, begins, "{sql}");
        }
    }

    #[test]
    fn a_suspect_step_goes_alone_and_the_steps_before_it_together() {
        let run = costs("tttt");
        assert_eq!(batch_end(&run, 0, LIMITS, Some(2)), 2, "up to the culprit");
        assert_eq!(batch_end(&run, 2, LIMITS, Some(2)), 3, "the culprit alone");
        let mut progress = Progress::new();
        progress.cut = Some(1);
        progress.next = 2;
        assert_eq!(
            progress.next_message(&run, LIMITS),
            2..4,
            "a cut passed is forgotten"
        );
        assert_eq!(progress.cut, None);
    }

    #[test]
    fn committed_steps_move_the_run_and_the_first_carries_its_retries() {
        let mut progress = Progress::new();
        progress.retrying(Some(Duration::from_millis(30)), Duration::from_millis(250));
        let ms = |n| Some(Duration::from_millis(n));
        let outcomes = progress.committed(vec![ms(10), None, ms(5)]);
        assert_eq!(
            outcomes,
            vec![
                (
                    0,
                    StepOutcome {
                        duration: ms(290),
                        attempts: 2
                    }
                ),
                (
                    1,
                    StepOutcome {
                        duration: None,
                        attempts: 1
                    }
                ),
                (
                    2,
                    StepOutcome {
                        duration: ms(5),
                        attempts: 1
                    }
                ),
            ]
        );
        assert_eq!(
            progress,
            Progress {
                next: 3,
                ..Progress::new()
            }
        );
        assert_eq!(progress.committed(Vec::new()), Vec::new());
        assert_eq!(progress.next, 3, "nothing committed: nothing moves");
    }

    #[test]
    fn a_failed_attempt_of_unknown_time_makes_the_total_unknown() {
        let mut progress = Progress::new();
        progress.retrying(None, Duration::from_millis(250));
        let outcomes = progress.committed(vec![Some(Duration::from_millis(10))]);
        assert_eq!(
            outcomes[0].1,
            StepOutcome {
                duration: None,
                attempts: 2
            }
        );
        let elapsed = Duration::from_millis(100);
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(failed_attempt_time(elapsed, &[ms(30), ms(20)]), ms(50));
        assert_eq!(failed_attempt_time(elapsed, &[]), ms(100));
        assert_eq!(failed_attempt_time(elapsed, &[ms(30), None]), None);
        assert_eq!(failed_attempt_time(elapsed, &[ms(300)]), ms(0));
    }

    #[test]
    fn the_failed_step_is_the_one_after_those_that_committed() {
        assert_eq!(failed_step(&(4..8), 0), 4);
        assert_eq!(failed_step(&(4..8), 2), 6);
        assert_eq!(failed_step(&(4..8), 9), 7, "never past the message");
    }

    fn failure(message: Range<usize>, position: Option<Option<usize>>) -> MessageFailure {
        MessageFailure {
            message,
            position,
            contention: false,
            lasting: None,
        }
    }

    /// The run after steps `first..failed` of a message starting at `first` committed.
    fn failed_at(first: usize, failed: usize) -> Progress {
        let mut progress = Progress {
            next: first,
            ..Progress::new()
        };
        progress.committed(vec![None; failed - first]);
        progress
    }

    #[test]
    fn a_runtime_error_fails_the_step_that_ran_it() {
        let mut progress = failed_at(2, 4);
        let decision = progress.after_failure(&failure(2..6, None), 3);
        assert_eq!(
            decision,
            Decision::Fail {
                step: 4,
                attempts: Attempts::One
            }
        );
        let placed = failure(2..6, Some(Some(2)));
        assert_eq!(
            failed_at(2, 4).after_failure(&placed, 3),
            Decision::Fail {
                step: 4,
                attempts: Attempts::One
            },
            "an error placed in the failing step is that step's"
        );
    }

    #[test]
    fn a_syntax_error_further_on_is_narrowed_down_by_sending_again() {
        // Nothing ran: the marker says no step committed, the error is placed in step 3.
        let mut progress = failed_at(0, 0);
        let rejected = failure(0..5, Some(Some(3)));
        assert_eq!(progress.after_failure(&rejected, 3), Decision::Narrow);
        assert_eq!(
            progress.next, 0,
            "the steps before the culprit are sent again"
        );
        assert_eq!(
            progress.next_message(&costs("ttttt"), BatchLimits::default()),
            0..3
        );
        progress.committed(vec![None; 3]);
        assert_eq!(
            progress.next_message(&costs("ttttt"), BatchLimits::default()),
            3..4
        );
        // Alone, the culprit fails for good.
        let alone = failure(3..4, Some(Some(0)));
        assert_eq!(
            progress.after_failure(&alone, 3),
            Decision::Fail {
                step: 3,
                attempts: Attempts::One
            }
        );
    }

    #[test]
    fn an_error_placed_before_the_failed_step_or_outside_every_step_sends_it_alone() {
        for position in [Some(Some(0)), Some(None)] {
            let mut progress = failed_at(0, 1);
            assert_eq!(
                progress.after_failure(&failure(0..4, position), 3),
                Decision::Narrow
            );
            assert_eq!(progress.next, 1);
            assert_eq!(
                progress.next_message(&costs("tttt"), BatchLimits::default()),
                1..2
            );
        }
    }

    #[test]
    fn lock_contention_retries_the_step_that_waited_lock_retries_times() {
        let contended = MessageFailure {
            contention: true,
            ..failure(0..4, None)
        };
        let mut progress = failed_at(0, 2);
        for attempt in 1..=2 {
            assert_eq!(
                progress.after_failure(&contended, 2),
                Decision::Retry { step: 2, attempt }
            );
            progress.retrying(Some(Duration::ZERO), Duration::from_millis(1));
            assert_eq!(progress.next, 2, "resumes at the step that waited");
        }
        assert_eq!(
            progress.after_failure(&contended, 2),
            Decision::Fail {
                step: 2,
                attempts: Attempts::RetriesRanOut { made: 3 }
            }
        );
        assert_eq!(
            failed_at(0, 0).after_failure(&contended, 0),
            Decision::Fail {
                step: 0,
                attempts: Attempts::One
            },
            "lock_retries = 0: no retry"
        );
    }

    #[test]
    fn a_wait_never_retried_after_retried_attempts_is_no_retry_budget_run_out() {
        let contended = MessageFailure {
            contention: true,
            ..failure(0..4, None)
        };
        // The tool's own wait, the ledger row's, or another error: not the contention.
        let ended = MessageFailure {
            contention: false,
            ..contended.clone()
        };
        for retries in 1..=3 {
            let mut progress = failed_at(0, 2);
            for attempt in 1..=retries {
                assert_eq!(
                    progress.after_failure(&contended, 3),
                    Decision::Retry { step: 2, attempt }
                );
                progress.retrying(None, Duration::from_millis(1));
            }
            assert_eq!(
                progress.after_failure(&ended, 3),
                Decision::Fail {
                    step: 2,
                    attempts: Attempts::AfterRetries { retried: retries }
                }
            );
            assert_eq!(
                progress.not_retried(),
                Attempts::AfterRetries { retried: retries }
            );
        }
        assert_eq!(failed_at(0, 2).not_retried(), Attempts::One);
        assert_eq!(
            failed_at(0, 2).after_failure(&ended, 3),
            Decision::Fail {
                step: 2,
                attempts: Attempts::One
            }
        );
    }

    /// A lock wait of the migration's own whose attempt ran an effect a rollback does not undo
    /// is not retried, with retries left: the retry would make the effect again. Once the
    /// retries ran out, or with none, it says what it said before.
    #[test]
    fn a_lock_wait_after_an_effect_a_rollback_does_not_undo_is_not_retried() {
        let lasting = LastingEffect {
            effect: "COPY ... PROGRAM".to_string(),
            at: "db/migrations/002_b.up.sql:2".to_string(),
        };
        let contended = MessageFailure {
            contention: true,
            lasting: Some(lasting.clone()),
            ..failure(0..4, None)
        };
        assert_eq!(
            failed_at(0, 2).after_failure(&contended, 3),
            Decision::Fail {
                step: 2,
                attempts: Attempts::NotRepeated {
                    retried: 0,
                    lasting: lasting.clone()
                }
            }
        );
        assert_eq!(
            failed_at(0, 2).after_failure(&contended, 0),
            Decision::Fail {
                step: 2,
                attempts: Attempts::One
            },
            "lock_retries = 0: no retry to refuse"
        );
        // Not a contention: the effect is never asked about.
        let asked = std::cell::Cell::new(false);
        let lasting_asked = || {
            asked.set(true);
            Some(lasting.clone())
        };
        assert_eq!(
            Attempts::after(1, false, lasting_asked, 3),
            Some(Attempts::One)
        );
        assert!(!asked.get());
        // `--single-transaction`: the next attempt reached a migration with such an effect.
        assert_eq!(
            Attempts::after(3, true, || Some(lasting.clone()), 3),
            Some(Attempts::NotRepeated {
                retried: 2,
                lasting: lasting.clone()
            })
        );
        assert_eq!(
            Attempts::after(4, true, || Some(lasting.clone()), 3),
            Some(Attempts::RetriesRanOut { made: 4 })
        );
        assert_eq!(Attempts::after(2, true, || None, 3), None, "none: retried");
    }

    #[test]
    fn a_step_that_commits_after_retries_gives_the_next_one_its_own_attempts() {
        let contended = MessageFailure {
            contention: true,
            ..failure(0..3, None)
        };
        let mut progress = failed_at(0, 1);
        assert_eq!(
            progress.after_failure(&contended, 1),
            Decision::Retry {
                step: 1,
                attempt: 1
            }
        );
        progress.retrying(None, Duration::from_millis(1));
        // The retried message commits step 1, then step 2 waits: a first attempt again.
        progress.committed(vec![None]);
        let again = MessageFailure {
            message: 1..3,
            ..contended
        };
        assert_eq!(
            progress.after_failure(&again, 1),
            Decision::Retry {
                step: 2,
                attempt: 1
            }
        );
    }
}
