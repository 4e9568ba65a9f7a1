//! Connecting while the migrations are read. The handshake (TCP, startup, authentication, the
//! server starting a backend) is mostly waiting, and reading and checking the directory is
//! mostly this process's own work: neither needs the other, so `up` and `status` do both at
//! once. [`Ahead::start_then`] opens the connection on a thread of its own; the command reads its
//! files meanwhile and takes the connection with [`Ahead::wait`] only once the files have
//! passed. A command that the files (or its options) refuse drops the [`Ahead`] unused: the
//! refusal still comes first and alone, and the thread closes the connection it opened.
//!
//! It can also run a first piece of work on that thread once connected (`status` reads the
//! ledger there; `up` checks that the session can write, takes the migration lock when it is
//! free, reads the ledger and, on a fresh database, sends the ledger's DDL without committing
//! it): its round trips and the server's work overlap the files too. Its result, error
//! included, is only looked at after the files have passed, so what a command reports, and in
//! which order, is what it would be with one done after the other. Whatever that work does
//! must leave nothing behind when the files are refused: it reads, or it leaves a transaction
//! open that the connection's end rolls back, and it asks [`Wanted::still`] before each step
//! so that a refused command's thread stops early.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use super::connect::Session;
use crate::config::Environment;
use crate::error::Result;

/// How often [`Ahead::wait_unless`] looks at its stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);

/// A connection being opened on another thread, and what `then` made of it once open.
pub(crate) struct Ahead<T> {
    handle: JoinHandle<Result<(Session, Result<T>)>>,
    /// Says when the thread is done, so that a wait ends then and not at its next poll.
    ended: Ended,
    /// Set by the thread once connected: a stop after it ends `then`'s work, not a connection.
    connected: Arc<AtomicBool>,
    /// Tells the thread, when dropped unused, that nothing more is wanted.
    _abandon: Abandon,
}

/// Whether the caller still wants what the connecting thread does: false once the [`Ahead`]
/// was dropped unused (the files or options were refused).
#[derive(Clone)]
pub(crate) struct Wanted(Arc<AtomicBool>);

impl Wanted {
    /// False once the caller gave up on the connection: stop, and do nothing more.
    pub(crate) fn still(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Clears [`Wanted`] when dropped: with its [`Ahead`], unused or after the thread ended.
struct Abandon(Wanted);

impl Drop for Abandon {
    fn drop(&mut self) {
        (self.0).0.store(false, Ordering::Release);
    }
}

impl<T: Send + 'static> Ahead<T> {
    /// Starts connecting to `env`'s database ([`super::connect`], the same rules and errors),
    /// then runs `then` on the new session, on the same thread (`|_, _| Ok(())` to only
    /// connect). `then` runs before the caller has decided anything: it must only read, or
    /// leave uncommitted what it writes (see the module's documentation). `None` when no
    /// thread can be started: the caller then connects as usual.
    pub(crate) fn start_then(
        env: &Environment,
        need: super::connect::Need,
        then: impl FnOnce(&mut Session, &Wanted) -> Result<T> + Send + 'static,
    ) -> Option<Ahead<T>> {
        let env = env.clone();
        let wanted = Wanted(Arc::new(AtomicBool::new(true)));
        let theirs = wanted.clone();
        let connected = Arc::new(AtomicBool::new(false));
        let sets = connected.clone();
        spawn(move || {
            let mut session = super::connect::open_session(&env, need)?;
            sets.store(true, Ordering::SeqCst);
            let value = then(&mut session, &theirs);
            Ok((session, value))
        })
        .ok()
        .map(|(handle, ended)| Ahead {
            handle,
            ended,
            connected,
            _abandon: Abandon(wanted),
        })
    }

    /// The connection (with the address it was dialled at), or why there is none (what
    /// [`super::connect`] returned), with what `then` returned on it.
    pub(crate) fn wait(self) -> Result<(Session, Result<T>)> {
        self.handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// [`Ahead::wait`], unless `stop` ([`crate::Migrator::stop_when`]) is set before the
    /// thread is done: a connection that takes its whole `connect_timeout` (a server that
    /// accepts and never answers), or `then`'s work waiting for a lock, must not outlast a
    /// Ctrl-C. The thread is left to end on its own; it committed nothing (see the module's
    /// documentation), and its session, if any, closes with it. The error says which wait was
    /// cut short: the connection's (saying what the command, `effect`, did not do), or, once
    /// connected, `then`'s (`in_then`).
    pub(crate) fn wait_unless(
        self,
        stop: Option<&AtomicBool>,
        effect: crate::plan::Effect,
        in_then: impl FnOnce() -> crate::error::Error,
    ) -> Result<(Session, Result<T>)> {
        if stopped_before_done(&self.ended, stop, STOP_POLL) {
            return Err(if self.connected.load(Ordering::SeqCst) {
                in_then()
            } else {
                interrupted_connecting(effect)
            });
        }
        self.wait()
    }
}

/// The error of a connection that a stop cut short: nothing was done on it, as the command
/// says what it did not do (`effect`: `up` ran nothing, `baseline` recorded nothing).
pub(crate) fn interrupted_connecting(effect: crate::plan::Effect) -> crate::error::Error {
    crate::error::Error::new(
        crate::error::ErrorKind::Interrupted,
        format!("interrupted while connecting: {}", effect.nothing_done()),
    )
}

/// A thread of ours, named as every thread of this module is, and its [`Ended`].
fn spawn<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> std::io::Result<(JoinHandle<R>, Ended)> {
    let (tell, told) = mpsc::channel::<std::convert::Infallible>();
    let handle = std::thread::Builder::new()
        .name("confiture-connect".to_string())
        .spawn(move || {
            // Dropped once `work` has returned or unwound: that is what `Ended` hears.
            let _tell = tell;
            work()
        })?;
    Ok((handle, Ended(told)))
}

/// Hears a thread of [`spawn`] end: its sender, which nothing is ever sent on, is dropped
/// when its work returns or panics.
struct Ended(mpsc::Receiver<std::convert::Infallible>);

impl Ended {
    /// Whether the thread's work is done, waiting for that at most `wait`.
    fn within(&self, wait: Duration) -> bool {
        matches!(
            self.0.recv_timeout(wait),
            Err(mpsc::RecvTimeoutError::Disconnected)
        )
    }
}

/// Waits for the thread `ended` hears to end, looking at `stop` every `poll` meanwhile: true
/// when `stop` was set first. The wait ends as soon as the thread does, not at the next look
/// at the flag (`status` and `up` wait so for their connecting thread, which often ends after
/// the files are read). The one wait of [`Ahead::wait_unless`] and [`unless_stopped`].
fn stopped_before_done(ended: &Ended, stop: Option<&AtomicBool>, poll: Duration) -> bool {
    let Some(stop) = stop else {
        return false;
    };
    while !ended.within(Duration::ZERO) {
        if stop.load(Ordering::SeqCst) {
            return true;
        }
        ended.within(poll);
    }
    false
}

/// `work` (a connection and what is done on it before anything is decided: a look-up, a
/// read-only query) on a thread of its own, unless `stop` is set before it is done: then
/// `interrupted`'s error at once, the thread left to end on its own (`work` must commit
/// nothing that the caller would have to know of, or `interrupted` must say so). Without a
/// flag, or when no thread can be started, `work` runs here.
pub(crate) fn unless_stopped<R: Send + 'static>(
    stop: Option<Arc<AtomicBool>>,
    interrupted: impl FnOnce() -> crate::error::Error,
    work: impl FnOnce() -> R + Send + 'static,
) -> Result<R> {
    let Some(stop) = stop else {
        return Ok(work());
    };
    // Shared, so that the work still runs here when no thread can be started.
    let work = Arc::new(std::sync::Mutex::new(Some(work)));
    let theirs = work.clone();
    let spawned = spawn(move || {
        let work = theirs.lock().unwrap_or_else(|p| p.into_inner()).take();
        work.map(|work| work())
    });
    let Ok((handle, ended)) = spawned else {
        let work = work.lock().unwrap_or_else(|p| p.into_inner()).take();
        return Ok(work.expect("not started")());
    };
    if stopped_before_done(&ended, Some(&stop), STOP_POLL) {
        return Err(interrupted());
    }
    let done = handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    Ok(done.expect("the thread ran it"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn a_connection_that_fails_is_the_connect_error() {
        // Port 1 on the loopback: refused at once, no server needed.
        let env = Environment::from_url("postgresql://nobody@127.0.0.1:1/none", "TEST_URL")
            .expect("a valid URL");
        let direct = super::super::connect(&env).map(|_| ()).unwrap_err();
        let ahead = Ahead::start_then(&env, super::super::connect::Need::Read, |_, _| Ok(()))
            .expect("a thread")
            .wait()
            .map(|_| ())
            .unwrap_err();
        assert_eq!(ahead.kind, ErrorKind::Connection);
        assert_eq!(ahead.to_string(), direct.to_string());
    }

    /// A stop flag that stays unset, looked at once an hour: the wait must still end when the
    /// thread does (`status` and `up` wait so for their connecting thread), not at the next
    /// look at the flag. The watchdog's minute is only there to fail instead of hanging.
    #[test]
    fn the_wait_ends_when_the_thread_ends_not_at_the_next_look_at_the_flag() {
        let (release, released) = mpsc::channel::<()>();
        let (handle, ended) = spawn(move || {
            let _ = released.recv();
            7
        })
        .expect("a thread");
        let (tell, told) = mpsc::channel();
        std::thread::spawn(move || {
            let stop = AtomicBool::new(false);
            let hour = Duration::from_secs(3600);
            let stopped = stopped_before_done(&ended, Some(&stop), hour);
            let _ = tell.send((stopped, handle.join().ok()));
        });
        // The waiter is in its wait by now (were it not, this test could not fail).
        std::thread::sleep(Duration::from_millis(100));
        release.send(()).expect("the thread waits for it");
        let ended = told.recv_timeout(Duration::from_secs(60));
        assert_eq!(ended, Ok((false, Some(7))), "the wait outlived its thread");
    }

    #[test]
    fn a_stop_ends_the_wait_while_the_thread_runs() {
        let (release, released) = mpsc::channel::<()>();
        let (handle, ended) = spawn(move || {
            let _ = released.recv();
        })
        .expect("a thread");
        let stop = AtomicBool::new(true);
        let poll = Duration::from_millis(1);
        assert!(stopped_before_done(&ended, Some(&stop), poll));
        assert!(!stopped_before_done(&ended, None, poll));
        drop(release);
        handle.join().expect("it ends once released");
    }
}
