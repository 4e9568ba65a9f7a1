//! The sessions this process closed, per server, and whether a connection refused for too many
//! connections (53300) is tried again. The server counts a closed session until its backend
//! has exited, a few milliseconds after our `Terminate` (tens on a loaded machine): a
//! connection opened right after, on a server whose limit the closed session filled, is
//! refused by our own session. A fleet's next target (`--jobs 1`, the very fix its help
//! suggests), the pooler check's second connection, a command after a closed one: each would
//! fail on a limit it fits in. The driver neither waits for the server to close its end after
//! `Terminate` (what would show the backend gone) nor lets us reach the socket, so the end of
//! each session is recorded here, and a refusal soon after one is retried for a short while.
//! A command is often run right after another (a script's `status` then `up`, a fleet run
//! again with the `--jobs` its help suggested), whose sessions the server may still count:
//! this process's first try on a server counts as an end there.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::ConnectionSpec;
use crate::db::backoff::Backoff;

/// How long after we closed a session the server may still count it, for all we know: its
/// backend exits within milliseconds of our `Terminate`; a second leaves a wide margin on a
/// loaded machine, and is all a refusal that our sessions do not explain waits more.
pub(super) const LINGER: Duration = Duration::from_secs(1);

/// The first retry's delay (doubled after each, up to [`RETRY_MAX`], with jitter): about what
/// a backend takes to exit.
const RETRY_FIRST: Duration = Duration::from_millis(5);
const RETRY_MAX: Duration = Duration::from_millis(100);

/// A server as the connection names it: its host (or socket directory) and port. A database's
/// limit, a role's and `max_connections` all count sessions of one server, so the sessions
/// closed on a server count for every refusal of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Server {
    host: String,
    port: u16,
}

impl Server {
    pub(super) fn of(spec: &ConnectionSpec) -> Server {
        Server {
            host: spec.host.clone(),
            port: spec.port,
        }
    }
}

/// How many of our sessions on a server have ended, and when the last one did (or when this
/// process first tried to connect there, when later).
#[derive(Debug, Clone, Copy)]
struct Ended {
    count: u64,
    last: Instant,
}

/// Per server this process connected to (a handful): a list, as `HashMap::new` is not `const`.
static ENDED: Mutex<Vec<(Server, Ended)>> = Mutex::new(Vec::new());

fn ended_on(server: &Server) -> Option<Ended> {
    let ended = ENDED.lock().unwrap_or_else(|p| p.into_inner());
    ended.iter().find(|(s, _)| s == server).map(|(_, e)| *e)
}

/// Records the end of one of our sessions on `server`, or with `count` 0 the first try there
/// (a server already known is then left as it is).
fn record(server: &Server, count: u64) {
    let now = Instant::now();
    let mut ended = ENDED.lock().unwrap_or_else(|p| p.into_inner());
    match ended.iter_mut().find(|(s, _)| s == server) {
        Some((_, e)) if count > 0 => {
            e.count += count;
            e.last = now;
        }
        Some(_) => {}
        None => ended.push((server.clone(), Ended { count, last: now })),
    }
}

/// The end of one session, recorded when the last holder lets it go: the driver keeps it with
/// the session's notice callback ([`watch`]), which it drops when the session closes, right
/// after sending `Terminate`, wherever and however the client is dropped. A try that did not
/// connect ([`SessionEnd::opened`] never called) records nothing.
pub(super) struct SessionEnd {
    server: Server,
    opened: AtomicBool,
}

impl SessionEnd {
    /// The try connected: its session's end is recorded.
    pub(super) fn opened(&self) {
        self.opened.store(true, Ordering::SeqCst);
    }
}

impl Drop for SessionEnd {
    fn drop(&mut self) {
        if *self.opened.get_mut() {
            record(&self.server, 1);
        }
    }
}

/// Sets `config`'s notice callback (`db::notices::received`), holding the [`SessionEnd`] of
/// the session it will connect, which is returned. The first try on `server` is recorded.
pub(super) fn watch(config: &mut postgres::Config, server: Server) -> Arc<SessionEnd> {
    record(&server, 0);
    let end = Arc::new(SessionEnd {
        server,
        opened: AtomicBool::new(false),
    });
    let held = Arc::clone(&end);
    // What the server says while a migration runs reaches its report (`db::notices`).
    config.notice_callback(move |notice| {
        let _session_end = &held;
        crate::db::notices::received(notice);
    });
    end
}

/// The retries of a connection refused for too many connections: only while a session this
/// process closed on that server before the refusal (or another command's, just before this
/// process first tried there) may still be counted there ([`LINGER`] after the last one),
/// within `deadline` (the connect timeout's). It never waits for a slot
/// that a session still open must give up: once another of our sessions on the server ends
/// after the refusal, our own sessions held the slots, and the refusal is the answer (a
/// fleet's help then says to lower `--jobs`).
pub(super) struct Retry {
    server: Server,
    /// Our sessions on the server that had ended at the refusal.
    ended_at_refusal: u64,
    until: Instant,
    backoff: Backoff,
}

impl Retry {
    /// After the first refusal: `None` when no session of ours on `server` ended within
    /// [`LINGER`] before it (nor did this process first try there then).
    pub(super) fn after_refusal(server: Server, deadline: Option<Instant>) -> Option<Retry> {
        let ended = ended_on(&server)?;
        let lingers = ended.last + LINGER;
        let until = deadline.map_or(lingers, |d| d.min(lingers));
        (Instant::now() < until).then(|| Retry {
            server,
            ended_at_refusal: ended.count,
            until,
            backoff: Backoff::new(RETRY_FIRST, RETRY_MAX),
        })
    }

    /// How long to wait before trying again, or `None` to give up.
    pub(super) fn next_delay(&mut self) -> Option<Duration> {
        let ended = ended_on(&self.server).map_or(0, |e| e.count);
        if ended > self.ended_at_refusal {
            return None;
        }
        let delay = self.backoff.next_delay();
        (Instant::now() + delay < self.until).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(host: &str) -> Server {
        Server {
            host: host.to_string(),
            port: 5432,
        }
    }

    #[test]
    fn only_an_opened_session_records_its_end_when_the_driver_lets_it_go() {
        let here = server("lingering-test-opened");
        let count = || ended_on(&here).map(|e| e.count);
        let mut config = postgres::Config::new();
        drop(watch(&mut config, here.clone()));
        drop(config);
        assert_eq!(
            count(),
            Some(0),
            "a try that did not connect: only the first try"
        );
        let mut config = postgres::Config::new();
        let end = watch(&mut config, here.clone());
        end.opened();
        drop(end);
        assert_eq!(count(), Some(0), "the callback still holds it");
        drop(config);
        assert_eq!(count(), Some(1));
    }

    #[test]
    fn a_refusal_is_retried_only_soon_after_one_of_our_sessions_ended_or_the_first_try() {
        let here = server("lingering-test-soon");
        assert!(
            Retry::after_refusal(here.clone(), None).is_none(),
            "never tried"
        );
        record(&here, 0);
        assert!(
            Retry::after_refusal(here.clone(), None).is_some(),
            "the first try"
        );
        // As if the first try and the last end were longer ago than LINGER.
        {
            let mut ended = ENDED.lock().unwrap();
            let (_, e) = ended.iter_mut().find(|(s, _)| *s == here).unwrap();
            e.last -= LINGER;
        }
        record(&here, 0);
        assert!(
            Retry::after_refusal(here.clone(), None).is_none(),
            "long ago"
        );
        record(&here, 1);
        let mut retry = Retry::after_refusal(here.clone(), None).expect("one just ended");
        assert!(retry.next_delay().is_some_and(|d| d < RETRY_FIRST * 2));
        let past = Some(Instant::now());
        assert!(
            Retry::after_refusal(here.clone(), past).is_none(),
            "past the deadline"
        );
    }

    #[test]
    fn a_session_that_ends_after_the_refusal_ends_the_retries() {
        let here = server("lingering-test-held");
        record(&here, 1);
        let mut retry = Retry::after_refusal(here.clone(), None).expect("one just ended");
        assert!(retry.next_delay().is_some());
        record(&here, 1);
        assert_eq!(retry.next_delay(), None);
    }

    #[test]
    fn the_retries_end_lingering_after_the_last_end() {
        let here = server("lingering-test-linger");
        record(&here, 1);
        let mut retry = Retry::after_refusal(here.clone(), None).expect("one just ended");
        let started = Instant::now();
        let mut waited = Duration::ZERO;
        while let Some(delay) = retry.next_delay() {
            waited += delay;
            std::thread::sleep(delay);
        }
        // No delay ends past the bound; the retries stop only within a delay of it.
        assert!(waited < LINGER, "{waited:?}");
        assert!(
            started.elapsed() > LINGER - RETRY_MAX * 2,
            "{:?}",
            started.elapsed()
        );
    }
}
