//! What the server says while a migration runs — `RAISE WARNING`, `RAISE NOTICE`, a `DROP ...
//! IF EXISTS` that skipped — which the driver hands to the callback of the connection's
//! configuration ([`received`], installed by [`crate::db::connect()`]) as it reads them.
//!
//! The callback runs on the thread that uses the connection (the `postgres` driver polls it
//! there), so the engine collects them with a run's [`Collector`] around each message it
//! sends: a thread-local list, no lock and no knowledge of the connection needed. A notice that arrives
//! while nothing collects (the engine's own queries) is dropped, as the driver's default
//! callback, which only logs it, would. A connection handed over with
//! [`crate::Migrator::with_client`] keeps its own callback: its notices are not seen here.
//!
//! A notice of a message carrying several migrations is the message's, not one migration's
//! (`one of migrations 001..003`): the driver keeps notices in order among themselves, but
//! hands the callback each one as it reads it, while the results read before it (the
//! completions of the statement markers and of each migration's `COMMIT`) wait in the
//! query's channel, read only afterwards: nothing the callback can see says which statement
//! was running. Tying them exactly would take driving the connection ourselves (draining the
//! query's results before each notice), or a notice of our own between migrations (a
//! PL/pgSQL block per migration, lost under a `client_min_messages` above `notice`).

use std::cell::RefCell;

use postgres::error::SqlState;

/// One message of the server that is not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// `WARNING`, `NOTICE`, `INFO`, `LOG` or `DEBUG`, as the server names it.
    pub severity: String,
    /// The server's message.
    pub message: String,
    /// The server's detail line, when it gave one.
    pub detail: Option<String>,
    /// The server's hint, when it gave one.
    pub hint: Option<String>,
    /// Its SQLSTATE (`None` for [`Notice::more`]).
    pub code: Option<SqlState>,
}

impl Notice {
    /// A `WARNING` (the server's level above `NOTICE`): what a report lists among its
    /// warnings.
    pub fn is_warning(&self) -> bool {
        self.severity == "WARNING"
    }

    /// Whether it may be the server's word that it is ending the session: an immediate
    /// shutdown (57P01) or a crash of another backend (57P02) sends a `WARNING` with that
    /// SQLSTATE and closes the connection (PostgreSQL's `quickdie`), with no `FATAL`. Only
    /// [`session_end`] decides it is, once the connection was then lost: a migration may
    /// `RAISE WARNING USING ERRCODE = '57P01'` itself, and its session goes on.
    /// The server's `FATAL` (or `PANIC`) itself, read under the driver
    /// ([`heard_fatal`]), always is.
    fn may_end_session(&self) -> bool {
        self.is_session_end() || self.code.as_ref().is_some_and(may_end_session)
    }

    /// A `FATAL` or `PANIC`: the server's word that it ends the session ([`heard_fatal`]).
    fn is_session_end(&self) -> bool {
        matches!(self.severity.as_str(), "FATAL" | "PANIC")
    }
}

/// Whether a notice of SQLSTATE `code` may be the server's word that it ends the session
/// ([`Notice::may_end_session`]).
fn may_end_session(code: &SqlState) -> bool {
    *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
}

/// After the connection was lost while `notices` came (the caller knows, from the driver's
/// error): the server's notice saying why it ended the session, taken out of `notices` — it
/// is the loss's reason, never a migration's warning. `None` when the server sent none (the
/// socket just closed).
pub(crate) fn session_end(notices: &mut Vec<Notice>) -> Option<Notice> {
    let at = notices.iter().rposition(Notice::may_end_session)?;
    Some(notices.remove(at))
}

/// How many notices of each severity a run keeps, in order, whatever the number of its
/// migrations; the rest are counted, and said once, at the end of the run, as one
/// [`Notice::more`] per severity. A migration raising a `NOTICE` per row of a 100M-row
/// backfill would otherwise hold every one in memory until its statement ends (about 160 bytes
/// each: 3M notices were 486 MB) — the same promise as for rows a migration returns: memory
/// stays the same however many there are. A cap per migration is no bound: 1,000 migrations
/// raising 30 `WARNING`s each were 20,000 warnings kept (219 MB of stderr once each named the
/// migrations of its message).
pub const KEPT_PER_SEVERITY: usize = 100;

/// What the server said during one run of migrations ([`Collector::collect`] around each
/// message the run sends): the first [`KEPT_PER_SEVERITY`] notices of each severity, handed
/// over as they come ([`Collector::take`]), and how many more of each came
/// ([`Collector::dropped`], in the order each severity first overflowed).
#[derive(Default)]
pub(crate) struct Collector {
    /// Kept and not yet taken, in order.
    kept: Vec<Notice>,
    /// Past the cap, the last notice that may be the server's word that it ends the session:
    /// kept apart so that a run's flood never hides why its connection was lost
    /// ([`session_end`]); taken after [`Collector::kept`], as it came after them.
    ending: Option<Notice>,
    /// Per severity: how many were kept, and how many more came.
    counts: Vec<(String, usize, u64)>,
}

impl Collector {
    pub(crate) fn new() -> Collector {
        Collector::default()
    }

    fn count_of(&mut self, severity: &str) -> &mut (String, usize, u64) {
        let at = match self.counts.iter().position(|(s, _, _)| s == severity) {
            Some(at) => at,
            None => {
                self.counts.push((severity.to_string(), 0, 0));
                self.counts.len() - 1
            }
        };
        &mut self.counts[at]
    }

    /// Keeps `notice` (of `severity`, whose SQLSTATE may end the session: `may_end`), or
    /// counts it when its severity has its fill.
    fn push(&mut self, notice: impl FnOnce() -> Notice, severity: &str, may_end: bool) {
        let count = self.count_of(severity);
        if count.1 < KEPT_PER_SEVERITY {
            count.1 += 1;
            self.kept.push(notice());
            return;
        }
        count.2 += 1;
        if may_end {
            // Counted as dropped all the same: only the last is kept apart, and only until
            // it is taken.
            self.ending = Some(notice());
        }
    }

    /// Runs `f`, which sends a message of the run (or one statement of a no-transaction
    /// migration), collecting what the server says meanwhile on this thread's connections.
    /// An inner collection (a collector's `collect` inside `f`) gets what comes during it.
    pub(crate) fn collect<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let outer = COLLECTED.with(|c| c.borrow_mut().replace(std::mem::take(self)));
        let result = f();
        *self = COLLECTED
            .with(|c| std::mem::replace(&mut *c.borrow_mut(), outer))
            .unwrap_or_default();
        result
    }

    /// The notices kept since the last `take`, in the order they came.
    pub(crate) fn take(&mut self) -> Vec<Notice> {
        let mut notices = std::mem::take(&mut self.kept);
        notices.extend(self.ending.take());
        notices
    }

    /// [`session_end`] of the notices kept since the last `take`, taken out of them: the
    /// server's word that it ended the session, for a caller that hands the rest over as they
    /// are ([`Collector::take`]).
    pub(crate) fn session_end(&mut self) -> Option<Notice> {
        if self.ending.as_ref().is_some_and(Notice::may_end_session) {
            return self.ending.take();
        }
        session_end(&mut self.kept)
    }

    /// How many notices of the run were not kept, of every severity.
    pub(crate) fn dropped(&self) -> u64 {
        self.counts.iter().map(|(_, _, more)| more).sum()
    }

    /// One [`Notice::more`] per severity that overflowed: what the run says at its end.
    pub(crate) fn into_dropped(self) -> Vec<Notice> {
        self.counts
            .into_iter()
            .filter(|(_, _, more)| *more > 0)
            .map(|(severity, _, more)| Notice::more(severity, more))
            .collect()
    }
}

impl Notice {
    /// The notice that stands for the `count` notices of `severity` a collection did not keep:
    /// "... and 2,999,900 more NOTICE messages (only the first 100 of a run are kept)".
    fn more(severity: String, count: u64) -> Notice {
        Notice {
            message: format!(
                "... and {} more {severity} message{} (only the first {} of a run are kept)",
                grouped(count),
                if count == 1 { "" } else { "s" },
                grouped(KEPT_PER_SEVERITY as u64)
            ),
            severity,
            detail: None,
            hint: None,
            code: None,
        }
    }
}

/// `2999980` as `2,999,980`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

thread_local! {
    static COLLECTED: RefCell<Option<Collector>> = const { RefCell::new(None) };
    /// The last `FATAL` (or `PANIC`) read under the driver on this thread since a session was
    /// last opened here ([`heard_fatal`], [`forget_heard_end`]).
    static HEARD_END: RefCell<Option<Notice>> = const { RefCell::new(None) };
}

/// The server's `FATAL` (or `PANIC`) read under the driver ([`heard_fatal`]) that explains
/// `e`, a driver error without the server's own word (the socket closed, or failed, after
/// it): **the one answer** to why a session ended that the driver did not say, which
/// [`crate::db::cause_text`] words and [`crate::error::ServerError::of`] gives as the
/// error's SQLSTATE — so that every error made of a lost connection, a migration's, `status`'
/// read, an engine's own statement's, has it. The driver reads the server's messages on the
/// thread that uses the connection, and returns the socket's end in the same call: a `FATAL`
/// heard on this thread since its last session opened ([`forget_heard_end`]) is the one.
/// `None` for an error the server answered, and where nothing was heard (a Unix socket's
/// stream is the driver's own: `connect::fatal`).
pub(crate) fn heard_end_of(e: &postgres::Error) -> Option<Notice> {
    if e.as_db_error().is_some() {
        return None;
    }
    HEARD_END.with(|h| h.borrow().clone())
}

/// Forgets what [`heard_end_of`] would give: a session was opened on this thread, and a
/// `FATAL` heard before is another session's.
pub(crate) fn forget_heard_end() {
    HEARD_END.with(|h| h.borrow_mut().take());
}

/// The connection's notice callback: keeps `notice` when this thread is collecting
/// ([`Collector::collect`]): the first of its severity, up to [`KEPT_PER_SEVERITY`] a run; the
/// others are only counted.
/// A notice that may be the server's word that it ends the session (an immediate shutdown's
/// `WARNING`, 57P01: [`Notice::may_end_session`]) is also what [`heard_end_of`] gives, until a
/// later `FATAL` replaces it: it explains only a connection then lost without the driver's
/// word.
pub(crate) fn received(notice: postgres::error::DbError) {
    let make = || Notice {
        severity: notice.severity().to_string(),
        message: notice.message().to_string(),
        detail: notice.detail().map(str::to_string),
        hint: notice.hint().map(str::to_string),
        code: Some(notice.code().clone()),
    };
    let may_end = may_end_session(notice.code());
    if may_end {
        HEARD_END.with(|h| *h.borrow_mut() = Some(make()));
    }
    heard(make, notice.severity(), may_end);
}

/// The server's `FATAL` (or `PANIC`), read under the driver as it went by (the session's
/// stream, `connect::fatal`): kept as the notice that may end the session, so that a
/// connection lost right after it has its reason ([`session_end`]) — the driver, reading the
/// socket's end with it, returns that end alone while a statement runs —, and as what
/// [`heard_end_of`] gives, whether or not a run collects.
pub(crate) fn heard_fatal(fatal: Notice) {
    HEARD_END.with(|h| *h.borrow_mut() = Some(fatal.clone()));
    let severity = fatal.severity.clone();
    heard(|| fatal, &severity, true);
}

/// [`received`]'s work, on what it read of the driver's notice: built only when kept.
fn heard(notice: impl FnOnce() -> Notice, severity: &str, may_end: bool) {
    COLLECTED.with(|c| {
        if let Some(collected) = c.borrow_mut().as_mut() {
            collected.push(notice, severity, may_end);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(message: &str, code: Option<SqlState>) -> Notice {
        Notice {
            severity: "WARNING".to_string(),
            message: message.to_string(),
            detail: None,
            hint: None,
            code,
        }
    }

    #[test]
    fn the_session_end_is_taken_by_its_sqlstate_never_its_text() {
        let mut notices = vec![
            notice("from the migration", Some(SqlState::WARNING)),
            notice(
                "terminating connection due to immediate shutdown command",
                Some(SqlState::ADMIN_SHUTDOWN),
            ),
            notice("terminating connection", None),
        ];
        let ended = session_end(&mut notices).expect("the shutdown notice");
        assert_eq!(ended.code, Some(SqlState::ADMIN_SHUTDOWN));
        assert_eq!(notices.len(), 2, "the others stay the migration's");
        assert!(session_end(&mut notices).is_none());
        let mut crash = vec![notice("crash", Some(SqlState::CRASH_SHUTDOWN))];
        assert!(session_end(&mut crash).is_some());
    }

    /// 1,000 messages of a run (or 1,000 migrations of one) raising 30 WARNINGs each: what is
    /// kept, and so what is shown, is the run's first [`KEPT_PER_SEVERITY`] and one count, a
    /// few kilobytes, where a cap per migration kept 20,000. The server's word that it ends
    /// the session, past the cap, is still kept for [`session_end`].
    #[test]
    fn a_run_keeps_a_bounded_number_whatever_its_number_of_migrations() {
        let warning = |i: usize| notice(&format!("w {i}"), Some(SqlState::WARNING));
        let mut collector = Collector::new();
        let mut shown = Vec::new();
        for _ in 0..1000 {
            collector.collect(|| {
                for i in 1..=30 {
                    heard(|| warning(i), "WARNING", false);
                }
            });
            shown.extend(collector.take());
            assert!(collector.kept.capacity() <= KEPT_PER_SEVERITY);
        }
        // Nothing is collected outside `collect`.
        heard(|| warning(0), "WARNING", false);
        assert_eq!(collector.dropped(), 30_000 - KEPT_PER_SEVERITY as u64);
        collector.collect(|| {
            heard(
                || notice("shutdown", Some(SqlState::ADMIN_SHUTDOWN)),
                "WARNING",
                true,
            )
        });
        let mut last = collector.take();
        assert_eq!(
            session_end(&mut last).map(|n| n.message),
            Some("shutdown".into())
        );
        shown.extend(collector.into_dropped());
        let lines: Vec<String> = shown
            .iter()
            .map(|n| format!("{}: {}", n.severity, n.message))
            .collect();
        let bytes: usize = lines.iter().map(String::len).sum();
        assert_eq!(lines.len(), KEPT_PER_SEVERITY + 1);
        assert!(bytes < 4096, "{bytes} bytes");
        assert_eq!(lines[0], "WARNING: w 1");
        assert_eq!(
            lines[KEPT_PER_SEVERITY],
            "WARNING: ... and 29,901 more WARNING messages (only the first 100 of a run are kept)"
        );
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(2_999_980), "2,999,980");
    }
}
