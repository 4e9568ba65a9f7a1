//! What the server says while a migration runs — `RAISE WARNING`, `RAISE NOTICE`, a `DROP ...
//! IF EXISTS` that skipped — which the driver hands to the callback of the connection's
//! configuration ([`received`], installed by [`crate::db::connect()`]) as it reads them.
//!
//! The callback runs on the thread that uses the connection (the `postgres` driver polls it
//! there), so the engine collects them with [`collecting`] around each message it sends: a
//! thread-local list, no lock and no knowledge of the connection needed. A notice that arrives
//! while nothing collects (the engine's own queries) is dropped, as the driver's default
//! callback, which only logs it, would. A connection handed over with
//! [`crate::Migrator::with_client`] keeps its own callback: its notices are not seen here.

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
    fn may_end_session(&self) -> bool {
        self.code.as_ref().is_some_and(|code| {
            *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
        })
    }
}

/// After the connection was lost while `notices` came (the caller knows, from the driver's
/// error): the server's notice saying why it ended the session, taken out of `notices` — it
/// is the loss's reason, never a migration's warning. `None` when the server sent none (the
/// socket just closed).
pub(crate) fn session_end(notices: &mut Vec<Notice>) -> Option<Notice> {
    let at = notices.iter().rposition(Notice::may_end_session)?;
    Some(notices.remove(at))
}

/// How many notices of each severity one collection keeps per migration it runs, in order;
/// the rest are counted ([`Notice::more`]). A message carrying several migrations keeps this
/// many per migration of it (the server does not say which of them raised a notice): a run
/// whose every migration raises one shows them all. A migration raising a `NOTICE` per row of a 100M-row backfill would
/// otherwise hold every one in memory until its statement ends (about 160 bytes each: 3M
/// notices were 486 MB) — the same promise as for rows a migration returns: memory stays the
/// same however many there are.
pub const KEPT_PER_SEVERITY: usize = 20;

/// What one collection holds: the first `limit` notices of each severity, in order, and how
/// many more of each came (in the order each severity first overflowed).
struct Collected {
    /// Notices kept per severity: [`KEPT_PER_SEVERITY`] per migration collected for.
    limit: usize,
    kept: Vec<Notice>,
    /// Per severity: how many were kept, and how many more came.
    counts: Vec<(String, usize, u64)>,
}

impl Collected {
    fn new(limit: usize) -> Collected {
        Collected {
            limit,
            kept: Vec::new(),
            counts: Vec::new(),
        }
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

    /// Keeps `notice`, or counts it when its severity has its fill.
    fn push(&mut self, notice: impl FnOnce() -> Notice, severity: &str) {
        let limit = self.limit;
        let count = self.count_of(severity);
        if count.1 < limit {
            count.1 += 1;
            self.kept.push(notice());
        } else {
            count.2 += 1;
        }
    }

    /// Takes in what an inner collection held, as if its notices had come here.
    fn absorb(&mut self, inner: &Collected) {
        for n in &inner.kept {
            self.push(|| n.clone(), &n.severity);
        }
        for (severity, _, more) in &inner.counts {
            self.count_of(severity).2 += more;
        }
    }

    /// The kept notices, then one [`Notice::more`] per severity that overflowed.
    fn into_notices(self) -> Vec<Notice> {
        let mut notices = self.kept;
        let limit = self.limit;
        notices.extend(
            self.counts
                .into_iter()
                .filter(|(_, _, more)| *more > 0)
                .map(|(severity, _, more)| Notice::more(severity, more, limit)),
        );
        notices
    }
}

impl Notice {
    /// The notice that stands for the `count` notices of `severity` a collection did not keep:
    /// "... and 2,999,980 more NOTICE messages (not kept)".
    fn more(severity: String, count: u64, kept: usize) -> Notice {
        Notice {
            message: format!(
                "... and {} more {severity} message{} (only the first {} are kept)",
                grouped(count),
                if count == 1 { "" } else { "s" },
                grouped(kept as u64)
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
    static COLLECTED: RefCell<Option<Collected>> = const { RefCell::new(None) };
}

/// The connection's notice callback: keeps `notice` when this thread is [`collecting`] (the
/// first of its severity, up to the collection's limit; the others are only counted).
pub(crate) fn received(notice: postgres::error::DbError) {
    COLLECTED.with(|c| {
        if let Some(collected) = c.borrow_mut().as_mut() {
            collected.push(
                || Notice {
                    severity: notice.severity().to_string(),
                    message: notice.message().to_string(),
                    detail: notice.detail().map(str::to_string),
                    hint: notice.hint().map(str::to_string),
                    code: Some(notice.code().clone()),
                },
                notice.severity(),
            );
        }
    });
}

/// Runs `f`, which sends `migrations` migrations (one message carrying them, or one statement
/// of a migration: 1), returning what it returned and the notices the server sent meanwhile
/// on this thread's connections, in order: at most [`KEPT_PER_SEVERITY`] × `migrations` of
/// each severity, followed by one notice per severity saying how many more came.
pub(crate) fn collecting<T>(migrations: usize, f: impl FnOnce() -> T) -> (T, Vec<Notice>) {
    let limit = KEPT_PER_SEVERITY.saturating_mul(migrations.max(1));
    let outer = COLLECTED.with(|c| c.borrow_mut().replace(Collected::new(limit)));
    let result = f();
    let notices = COLLECTED.with(|c| {
        let mut slot = c.borrow_mut();
        let mine = slot.take().unwrap_or_else(|| Collected::new(limit));
        // A collector around this one sees them too.
        *slot = outer.map(|mut o| {
            o.absorb(&mine);
            o
        });
        mine.into_notices()
    });
    (result, notices)
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

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(2_999_980), "2,999,980");
    }
}
