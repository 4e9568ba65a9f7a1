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
}

impl Notice {
    /// A `WARNING` (the server's level above `NOTICE`): what a report lists among its
    /// warnings.
    pub fn is_warning(&self) -> bool {
        self.severity == "WARNING"
    }
}

thread_local! {
    static COLLECTED: RefCell<Option<Vec<Notice>>> = const { RefCell::new(None) };
}

/// The connection's notice callback: keeps `notice` when this thread is [`collecting`].
pub(crate) fn received(notice: postgres::error::DbError) {
    COLLECTED.with(|c| {
        if let Some(list) = c.borrow_mut().as_mut() {
            list.push(Notice {
                severity: notice.severity().to_string(),
                message: notice.message().to_string(),
                detail: notice.detail().map(str::to_string),
                hint: notice.hint().map(str::to_string),
            });
        }
    });
}

/// Runs `f`, returning what it returned and the notices the server sent meanwhile on this
/// thread's connections, in order.
pub(crate) fn collecting<T>(f: impl FnOnce() -> T) -> (T, Vec<Notice>) {
    let outer = COLLECTED.with(|c| c.borrow_mut().replace(Vec::new()));
    let result = f();
    let notices = COLLECTED.with(|c| {
        let mut slot = c.borrow_mut();
        let mine = slot.take().unwrap_or_default();
        // A collector around this one sees them too.
        *slot = outer.map(|mut o| {
            o.extend(mine.iter().cloned());
            o
        });
        mine
    });
    (result, notices)
}
