//! Stopping a run from outside ([`crate::Migrator::stop_when`]: a CLI sets the flag on SIGINT).
//!
//! Once the flag is set, no statement of ours is sent any more (the runner asks
//! [`Stop::send`] before each), and the one running on the server is cancelled, by
//! `pg_cancel_backend` from a session of its own ([`crate::db::connect::cancel_session`]),
//! which returns once the server has signalled it: the runner, waiting for that before its
//! next statement, never has that one cancelled instead. That takes the run's server session
//! ([`Stop::on_session`]), told as early as it is known for sure: from the session's first
//! round trip when the connection reaches the server directly
//! ([`crate::db::connect::direct_identity`]: `writable::check` for the writing commands,
//! before their lock wait; [`Stop::watch_direct`] for a dry run, before its ledger read),
//! else once the run holds its lock (the pooler check has passed, and the lock names its
//! session). Through a pooler the server session may change between transactions, and the one
//! named be another client's by then: never cancelled before that.
//!
//! Without it (not known yet, the second session refused — a connection limit, a pooler's
//! pool — or the session is on another server), a cancel request is sent (as libpq's
//! `PQcancel`, over a connection made as the session's was, TLS included). The server may get
//! to it only after the runner went on, and then would cancel the runner's next statement
//! instead (CI: the `ROLLBACK` after the cancelled migration, of a role allowed one
//! connection, and the run reported as a lost connection). Over TLS the request waits, as
//! libpq's does, for the server to close its connection ([`crate::db::connect::cancel_query`]:
//! the process handling it signals the session's backend, then exits), so the runner, which
//! waits for the request, sends its next statement only once the backend was signalled; a
//! signal that finds the backend between statements is ignored. A plain request (sslmode
//! `disable`, a server without TLS, a Unix socket) is only written: the driver keeps the
//! session's key and the request's socket to itself and hands a plain connection to no
//! connector of ours, so waiting there would take forking it, and such a request may still
//! reach the server late. Retrying a statement cancelled after a stop is not done either: a
//! cancel inside a transaction aborts the transaction, not the statement, and whether the
//! error is that request's or a `statement_timeout`'s cannot be told apart from the outcome
//! alone. So the request stays the last resort, and the cases that use it are kept few: a dry
//! run's or writing command's session through a pooler (or a Unix socket) before its lock,
//! or a second session refused.
//!
//! The migration it belongs to fails and is rolled back — a no-transaction one keeps
//! the statements it committed and gets no ledger row — as any failed migration is, and the
//! run ends with [`ErrorKind::Interrupted`](crate::ErrorKind::Interrupted). Only the run's
//! own messages are cancelled — the migrations', the ledger read that plans them
//! (`db::ledger::read_unless_stopped`) and a ledger rewrite: the `ROLLBACK` and ledger read
//! after a failure, and the lock's release, run as usual. The wait for the migration lock
//! sends nothing through [`Stop::send`] (it polls, `lock::acquire_scoped`): a stop there
//! cancels nothing, the wait ends at its next look at the flag.
//!
//! A thread watches the flag while the run lasts (it ends when the last [`Stop`] is dropped):
//! a flag has no way to wake anybody, and the runner is blocked in the driver meanwhile. Each
//! cancel is made on a thread of its own and waited for [`CANCEL_WAIT`] at most: one that a
//! pooler or proxy takes and never answers is given up, and none is sent again, so that the
//! runner, which waits for the cancel before its next query, is never held by it.
//!
//! The same thread notices a message that lasts ([`ASK_AFTER`]) while the run's server session
//! is known and the run reports its waits ([`Stop::report_waits`]): a thread of its own then
//! opens one more session and asks, while messages last, what the run's session waits for
//! (`lock::blocking_holders`), reported as [`Progress::LockBlocked`] when those in the way
//! change — the migration's row is written in the migration's own transaction, in the same
//! message, and an `ALTER TABLE` waits inside the message too, so the run's own session cannot
//! ask. A wait in slices (`lock::ServerWait`: the ledger read of a run or dry run, `baseline`'s
//! and `reinit`'s rewrite), each slice a message of at most a second, is one wait to it
//! ([`Stop::one_wait`]). Nothing is done for a run whose messages all end within [`ASK_AFTER`].
//! While that session is not open yet (its start may wait behind a lock on a system catalog
//! of the database), or when its look-up fails or gives up behind such a lock (`LOCK
//! pg_catalog.pg_proc`: the run's session waits for it too), the holders of locks on the
//! database's system catalogs are asked from a maintenance database
//! (`connect::catalog_lock_holders`); a failed session is opened again at the next turn, never
//! given up for the run. It ends when the run is stopped or drops its [`Stop`], leaving its
//! session.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use postgres::error::SqlState;

use crate::config::Environment;
use crate::migrate::Progress;
use crate::migrator::STOP_WAIT;

/// How long a message lasts before the run asks what it waits for ([`Progress::LockBlocked`]),
/// and how often it asks again while one lasts.
const ASK_AFTER: Duration = Duration::from_secs(1);

/// How many of those in the way a [`Progress::LockBlocked`] names at most.
const BLOCKING_LIMIT: usize = 5;

/// How long a cancel request is waited for: within the stop's bound ([`STOP_WAIT`], after
/// which the command returns whatever the server does), so that a run whose session still
/// answers, its statement ended on the server, ends with its own report first.
const CANCEL_WAIT: Duration = Duration::from_secs(STOP_WAIT.as_secs() - 2);

/// How often the watching thread looks at the flag.
const POLL: Duration = Duration::from_millis(20);

/// A message still running this long after its cancel request is cancelled again (the
/// request reached the server before the message did, and the server ignored it). Still
/// needed when the request waited for the server (a session of its own, or TLS): that wait
/// says the backend was signalled, not that the message was running then. Such a second
/// request, waited for too, finds the message or an idle session, never a later statement;
/// a plain one may reach the server after the message ended (a server slower than this to
/// handle the first).
const CANCEL_AGAIN: Duration = Duration::from_secs(1);

/// The stop flag of a run and the cancel request of its session. Cloned with the run's
/// [`super::ApplySettings`]; equal when it is the same run's.
#[derive(Clone)]
pub(crate) struct Stop {
    inner: Arc<Inner>,
}

struct Inner {
    flag: Arc<AtomicBool>,
    sending: Mutex<Sending>,
    /// The run's server session ([`Stop::on_session`]), once known.
    session: Mutex<Option<String>>,
    /// Where what a lasting message waits for is reported ([`Stop::report_waits`]); taken by
    /// the asking thread when it starts, so that it starts once.
    waits: Mutex<Option<std::sync::mpsc::Sender<Progress>>>,
    /// The session's [`crate::migrate::LockTaken`] ([`Stop::telling`]): set once the run holds
    /// its lock ([`Stop::lock_taken`]).
    lock_taken: std::sync::OnceLock<crate::migrate::LockTaken>,
}

/// What the runner is sending: the message number in flight (0: none) and the one last
/// cancelled, with when.
#[derive(Default)]
struct Sending {
    in_flight: u64,
    /// When the wait of the message in flight began: when it was sent, or when the wait in
    /// slices it belongs to began ([`Stop::one_wait`]).
    since: Option<Instant>,
    /// What the asking thread knows the message in flight by: its number, or its wait's.
    waiting: u64,
    /// The message in flight may not be cancelled ([`Stop::watched`]).
    kept: bool,
    /// A wait in slices, each a message of its own ([`Stop::one_wait`]): its number and when
    /// it began.
    wait: Option<(u64, Instant)>,
    next: u64,
    cancelled: Option<(u64, Instant)>,
}

impl Stop {
    /// Watches `flag` for the run on `client`'s session (whose connection `env` describes):
    /// once it is set, the message running is cancelled.
    pub(crate) fn watch(
        flag: Arc<AtomicBool>,
        client: &postgres::Client,
        env: &Environment,
    ) -> Stop {
        let inner = Arc::new(Inner {
            flag,
            sending: Mutex::new(Sending::default()),
            session: Mutex::new(None),
            waits: Mutex::new(None),
            lock_taken: std::sync::OnceLock::new(),
        });
        let watched = Arc::downgrade(&inner);
        let token = client.cancel_token();
        let env = env.clone();
        // Without the thread (none could be started) the flag still stops the run between
        // messages; only the running statement is not cancelled.
        let _ = std::thread::Builder::new()
            .name("confiture-stop".to_string())
            .spawn(move || watching(&watched, &token, &env));
        Stop { inner }
    }

    /// [`Stop::watch`], the run's server session asked at once when the connection, dialled at
    /// `dialled`, reaches the server directly ([`crate::db::connect::read_direct_identity`]:
    /// one round trip, none without an address dialled): for a run whose first statement
    /// goes through [`Stop::send`] with no round trip of the session's before it to learn it
    /// from (a dry run's ledger read).
    pub(crate) fn watch_direct(
        flag: Arc<AtomicBool>,
        client: &mut postgres::Client,
        dialled: Option<std::net::SocketAddr>,
        env: &Environment,
    ) -> Stop {
        let stop = Stop::watch(flag, client, env);
        if let Some(identity) = crate::db::connect::read_direct_identity(client, dialled) {
            stop.on_session(&identity);
        }
        stop
    }

    /// The run's server session is `identity` (`connect::SESSION_IDENTITY`, of a connection
    /// that reaches the server directly, or of the session holding the run's lock): from now
    /// on its statements are cancelled from a session of its own, done on the server before
    /// the runner goes on ([`crate::db::connect::cancel_session`]).
    pub(crate) fn on_session(&self, identity: &str) {
        *self.inner.session.lock().unwrap_or_else(|e| e.into_inner()) = Some(identity.to_string());
    }

    /// Reports to `waits`, while a message lasts, what it waits for ([`Progress::LockBlocked`]:
    /// see the module) — the command's `Migrator::waits`; none reported without one.
    pub(crate) fn report_waits(self, waits: Option<std::sync::mpsc::Sender<Progress>>) -> Stop {
        *self.inner.waits.lock().unwrap_or_else(|e| e.into_inner()) = waits;
        self
    }

    /// Tells `lock_taken` when the run takes its lock ([`Stop::lock_taken`]), cleared now: the
    /// writing command starts.
    pub(crate) fn telling(self, lock_taken: crate::migrate::LockTaken) -> Stop {
        lock_taken.set(false);
        let _ = self.inner.lock_taken.set(lock_taken);
        self
    }

    /// The server granted the run its migration lock: what the caller asks
    /// ([`crate::Migrator::lock_taken`]) says so from now on. Called before the run sends
    /// anything under the lock, each message of which looks at the flag first
    /// ([`Stop::send`]): a caller that set the flag and then found the lock not taken knows
    /// that nothing will be written.
    pub(crate) fn lock_taken(&self) {
        if let Some(lock_taken) = self.inner.lock_taken.get() {
            lock_taken.set(true);
        }
    }

    /// Whether the flag is set: the run must start nothing more.
    pub(crate) fn is_set(&self) -> bool {
        self.inner.flag.load(Ordering::SeqCst)
    }

    /// Runs `send` (one message of the run) unless the flag is set (`None`); once it is set
    /// while `send` runs, the message is cancelled on the server.
    pub(crate) fn send<T>(&self, send: impl FnOnce() -> T) -> Option<T> {
        {
            let sending = self.inner.sending();
            if self.is_set() {
                return None;
            }
            Inner::sent(sending, false);
        }
        Some(self.inner.sent_ends(send()))
    }

    /// Runs `send`, a message of the run that must go whatever the flag says and never be
    /// cancelled (a no-transaction migration's row, after its statements committed): only
    /// what it waits for is reported while it lasts ([`Stop::report_waits`]), as for
    /// [`Stop::send`]'s.
    pub(crate) fn watched<T>(&self, send: impl FnOnce() -> T) -> T {
        Inner::sent(self.inner.sending(), true);
        self.inner.sent_ends(send())
    }

    /// One wait for a lock the server grants, in slices each sent as a message of its own
    /// (`lock::ServerWait`: a ledger read, `baseline`'s and `reinit`'s rewrite): until the
    /// returned guard is dropped, the messages sent are one wait to the asking thread, which
    /// reports what they wait for once the wait, not a slice, has lasted [`ASK_AFTER`] (a
    /// slice lasts a second at most), and only when those in the way change.
    pub(crate) fn one_wait(&self) -> OneWait {
        let mut sending = self.inner.sending();
        sending.next += 1;
        sending.wait = Some((sending.next, Instant::now()));
        OneWait {
            inner: self.inner.clone(),
        }
    }
}

/// A wait in slices ([`Stop::one_wait`]), until dropped.
pub(crate) struct OneWait {
    inner: Arc<Inner>,
}

impl Drop for OneWait {
    fn drop(&mut self) {
        self.inner.sending().wait = None;
    }
}

impl Inner {
    fn sending(&self) -> MutexGuard<'_, Sending> {
        self.sending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A message is sent (`kept`: it may not be cancelled).
    fn sent(mut sending: MutexGuard<'_, Sending>, kept: bool) {
        sending.next += 1;
        sending.in_flight = sending.next;
        sending.kept = kept;
        (sending.waiting, sending.since) = match sending.wait {
            Some((wait, began)) => (wait, Some(began)),
            None => (sending.in_flight, Some(Instant::now())),
        };
    }

    /// The message in flight ended with `result`.
    fn sent_ends<T>(&self, result: T) -> T {
        let mut sending = self.sending();
        sending.in_flight = 0;
        sending.since = None;
        sending.kept = false;
        result
    }

    fn session(&self) -> Option<String> {
        self.session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The message in flight whose wait has lasted [`ASK_AFTER`] or longer, if any: its
    /// number, or its wait's ([`Stop::one_wait`]).
    fn lasting(&self) -> Option<u64> {
        let sending = self.sending();
        match sending.since {
            Some(since) if sending.in_flight != 0 && since.elapsed() >= ASK_AFTER => {
                Some(sending.waiting)
            }
            _ => None,
        }
    }

    /// Starts the asking thread ([`asking`]) when a message lasts, the run's session is known
    /// and its waits are reported: once a run.
    fn ask_when_lasting(inner: &Arc<Inner>, env: &Environment) {
        if inner.lasting().is_none() {
            return;
        }
        let Some(identity) = inner.session() else {
            return;
        };
        let Some(waits) = inner.waits.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let (watched, env) = (Arc::downgrade(inner), env.clone());
        let _ = std::thread::Builder::new()
            .name("confiture-waits".to_string())
            .spawn(move || asking(&watched, &identity, &env, &waits));
    }
}

/// The asking thread: on a session of its own ([`Asker`]), asks every [`ASK_AFTER`] while a
/// message lasts who is in the way of the run's session `identity`, and sends a
/// [`Progress::LockBlocked`] when they are not those it reported last for that message. Ends,
/// closing its session, when the run dropped its [`Stop`] or was stopped. A look-up that gets
/// nothing (no session yet, a failed one) says nothing and is made again at the next turn.
fn asking(
    watched: &Weak<Inner>,
    identity: &str,
    env: &Environment,
    waits: &std::sync::mpsc::Sender<Progress>,
) {
    let Some((pid, same_server)) = crate::db::connect::session_of_identity(identity) else {
        return;
    };
    let mut asker = Asker::new(env);
    let mut reported: Option<(u64, Vec<crate::db::lock::LockHolder>)> = None;
    loop {
        let Some(inner) = watched.upgrade() else {
            break;
        };
        if inner.flag.load(Ordering::SeqCst) {
            break;
        }
        if let Some(message) = inner.lasting() {
            drop(inner);
            let (relation, holders) = asker.in_the_way(pid, &same_server);
            let Some(inner) = watched.upgrade() else {
                break;
            };
            let new = !holders.is_empty()
                && reported
                    .as_ref()
                    .is_none_or(|(m, last)| *m != message || *last != holders);
            // Only while the same message is still waiting: never after its results.
            if new && inner.lasting() == Some(message) {
                let event = Progress::LockBlocked {
                    relation,
                    holders: holders.clone(),
                };
                if waits.send(event).is_err() {
                    break;
                }
                reported = Some((message, holders));
            }
            drop(inner);
            // In steps of `POLL`: a stop closes this session at once, leaving the server's
            // connection slot to the cancel's own session.
            let next = Instant::now() + ASK_AFTER;
            while Instant::now() < next
                && watched
                    .upgrade()
                    .is_some_and(|i| !i.flag.load(Ordering::SeqCst))
            {
                std::thread::sleep(POLL);
            }
        } else {
            drop(inner);
            std::thread::sleep(POLL);
        }
    }
    asker.close();
}

/// The asking thread's session on the run's database, opened on a thread of its own: a
/// session starting there may wait, past any connect timeout, for as long as another
/// session's lock on a system catalog lasts (the lock the run's message may be waiting for,
/// `LOCK pg_catalog.pg_proc`), and meanwhile that catalog's holders are named from a
/// maintenance database. Opened again after a look-up on it failed.
struct Asker {
    env: Environment,
    client: Option<postgres::Client>,
    opening: Option<std::sync::mpsc::Receiver<crate::error::Result<postgres::Client>>>,
}

impl Asker {
    fn new(env: &Environment) -> Asker {
        Asker {
            env: env.clone(),
            client: None,
            opening: None,
        }
    }

    /// The session, once open: waits up to [`ASK_AFTER`] for one being opened, starting to
    /// open one when none is (a failed opening is tried again at the next call).
    fn session(&mut self) -> Option<&mut postgres::Client> {
        if self.client.is_none() {
            let opening = self.opening.get_or_insert_with(|| {
                let (opened, opening) = std::sync::mpsc::channel();
                let env = self.env.clone();
                // Ends by itself: its session, once open, is dropped (closed) when this
                // asker is gone.
                let _ = std::thread::Builder::new()
                    .name("confiture-waits-session".to_string())
                    .spawn(move || {
                        let _ = opened.send(crate::db::connect::connect(&env));
                    });
                opening
            });
            match opening.recv_timeout(ASK_AFTER) {
                Ok(Ok(client)) => {
                    self.client = Some(client);
                    self.opening = None;
                }
                Ok(Err(_)) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    self.opening = None;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        self.client.as_mut()
    }

    /// The relation the run's session `pid` waits for, if a relation's lock, and those in
    /// the way (`lock::blocking_holders`), asked on [`Asker::session`]. With no session, or
    /// when the look-up failed (a session found lost is opened again at the next call), the
    /// sessions holding a lock on a system catalog of the database, asked from a maintenance
    /// database (`connect::catalog_lock_holders`): what the run's message and this session's
    /// start or look-up may both be waiting for. Nothing when none answers.
    fn in_the_way(
        &mut self,
        pid: i32,
        same_server: &str,
    ) -> (Option<String>, Vec<crate::db::lock::LockHolder>) {
        if let Some(client) = self.session() {
            match crate::db::lock::blocking_holders(client, pid, same_server, BLOCKING_LIMIT) {
                Ok(found) => return found,
                // This session's own look-up (`pg_blocking_pids`, `pg_locks`: functions and
                // views it never read) waited for a lock on a system catalog of the database:
                // so does the run's session, whose message lasts.
                Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {}
                Err(_) => {
                    if let Some(lost) = self.client.take() {
                        let _ = lost.close();
                    }
                }
            }
        }
        let mut found = crate::db::connect::catalog_lock_holders(&self.env, ASK_AFTER)
            .unwrap_or_default()
            .into_iter();
        match found.next() {
            Some((catalog, first)) => (
                Some(catalog),
                std::iter::once(first)
                    .chain(found.map(|(_, h)| h))
                    .collect(),
            ),
            None => (None, Vec::new()),
        }
    }

    /// Closes the session, if open.
    fn close(self) {
        if let Some(client) = self.client {
            let _ = client.close();
        }
    }
}

/// The watching thread: cancels the message in flight once the flag is set, again when it is
/// still running [`CANCEL_AGAIN`] later; ends when the run dropped its [`Stop`], or when a
/// cancel request got no answer within [`CANCEL_WAIT`].
fn watching(watched: &Weak<Inner>, token: &postgres::CancelToken, env: &Environment) {
    loop {
        std::thread::sleep(POLL);
        let Some(inner) = watched.upgrade() else {
            return;
        };
        if !inner.flag.load(Ordering::SeqCst) {
            Inner::ask_when_lasting(&inner, env);
            continue;
        }
        // Held while the request is made: the runner, whose message may have ended meanwhile,
        // waits for it before its next query (a `ROLLBACK`, a no-transaction migration's
        // ledger row), so the request, done on the server by then (all but a plain cancel
        // request: see the module doc), never reaches a query that is not a migration's.
        let mut sending = inner.sending();
        let message = sending.in_flight;
        let due = message != 0
            && !sending.kept
            && match sending.cancelled {
                Some((cancelled, at)) => cancelled != message || at.elapsed() >= CANCEL_AGAIN,
                None => true,
            };
        if due {
            let session = inner
                .session
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if !cancel_within(token, env, session, CANCEL_WAIT) {
                // Given up: another request would wait as long. The guard goes with the
                // thread, and the runner goes on as its message ends.
                return;
            }
            sending.cancelled = Some((message, Instant::now()));
        }
    }
}

/// Cancels the run's statement on a thread of its own, waiting `wait` at most: whether it was
/// done (delivered or refused) in time. With the run's server `session` known, from a session
/// of its own, which returns once the server signalled the statement: the runner, waiting for
/// this before its next statement, never has that one cancelled by a request the server got
/// to late ([`crate::db::connect::cancel_session`]); else (not known yet, or that session
/// failed) with a cancel request, over TLS also done on the server before it returns
/// ([`crate::db::connect::cancel_query`]). Not done in time, it is left to its thread, which ends when
/// the connection it opened fails.
fn cancel_within(
    token: &postgres::CancelToken,
    env: &Environment,
    session: Option<String>,
    wait: Duration,
) -> bool {
    let (made, done) = std::sync::mpsc::channel();
    let (owned_token, owned_env) = (token.clone(), env.clone());
    let spawned = std::thread::Builder::new()
        .name("confiture-cancel".to_string())
        .spawn(move || {
            let cancelled = session
                .is_some_and(|s| crate::db::connect::cancel_session(&s, &owned_env))
                || crate::db::connect::cancel_query(&owned_token, &owned_env);
            // The receiver is gone when the wait is over: nothing to tell then.
            let _ = made.send(cancelled);
        });
    if spawned.is_err() {
        // No thread: the request is made here, unbounded, as it always was.
        crate::db::connect::cancel_query(token, env);
        return true;
    }
    done.recv_timeout(wait).is_ok()
}

impl std::fmt::Debug for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stop").field("set", &self.is_set()).finish()
    }
}

impl PartialEq for Stop {
    fn eq(&self, other: &Stop) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Stop {}
