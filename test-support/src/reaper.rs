//! Dropping the tests' databases and roles in the background, and waiting for them before the
//! test process exits.
//!
//! `DROP DATABASE` has the server run an immediate checkpoint and waits for it (PostgreSQL
//! 15 flushes and fsyncs every dirty buffer of the whole server, 0.2–1 s on the test machines),
//! and the checkpointer runs one at a time: a suite that drops its 500 databases one by one at
//! the end of each test spent a third of its time waiting there. A test hands its database to
//! the reaper and goes on; a few background sessions drop them, and drops that wait together
//! share a checkpoint. A role is dropped once no database still holds its objects: a role job
//! that finds dependent objects goes back to the end of the queue, behind the databases handed
//! over before it.
//!
//! Before the process exits (`atexit`, which runs both when libtest returns from `main` and
//! when it calls `process::exit` after a failure) it waits until everything handed over is
//! dropped, so no database outlives its test binary. A process killed by a signal leaves its
//! databases behind, as it did when each test dropped its own.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{Client, NoTls};

use crate::server;

/// Background sessions that drop (at most): each waits for a checkpoint; more of them share
/// one, well below the server's `max_connections`.
const WORKERS: usize = 10;

/// The longest the exiting process waits for the drops still queued.
const EXIT_WAIT: Duration = Duration::from_secs(300);

/// How often a role whose objects are still in a database being dropped is tried again.
const ROLE_TRIES: u32 = 600;

/// What to drop.
#[derive(Debug)]
enum Job {
    Database(String),
    Role { name: String, tries: u32 },
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Handed over and not dropped yet (queued or being dropped).
    pending: usize,
    workers: usize,
    idle: usize,
}

struct Reaper {
    state: Mutex<State>,
    changed: Condvar,
}

fn reaper() -> &'static Reaper {
    static REAPER: OnceLock<Reaper> = OnceLock::new();
    REAPER.get_or_init(|| {
        wait_at_exit();
        Reaper {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    })
}

fn lock(reaper: &Reaper) -> MutexGuard<'_, State> {
    reaper.state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Drops database `name` (`WITH (FORCE)`) in the background; an empty name is ignored.
pub fn drop_later(name: String) {
    if !name.is_empty() {
        hand_over(Job::Database(name));
    }
}

/// Drops role `name` in the background, once the databases handed over before it (which may
/// hold its objects) are dropped.
pub fn drop_role_later(name: String) {
    if !name.is_empty() {
        hand_over(Job::Role { name, tries: 0 });
    }
}

fn hand_over(job: Job) {
    let reaper = reaper();
    let mut state = lock(reaper);
    state.queue.push_back(job);
    state.pending += 1;
    let spawn = state.idle == 0 && state.workers < WORKERS;
    if spawn {
        state.workers += 1;
    }
    drop(state);
    reaper.changed.notify_all();
    if spawn {
        let spawned = std::thread::Builder::new()
            .name("test-db-reaper".to_string())
            .spawn(move || work(reaper));
        if spawned.is_err() {
            // No thread: this one does the work, so that nothing is left queued.
            lock(reaper).workers -= 1;
            while let Some(job) = next_job(reaper, false) {
                finish(reaper, run(&mut None, job));
            }
        }
    }
}

/// The next job, waiting for one when `wait`; `None` when there is none and not `wait`.
fn next_job(reaper: &Reaper, wait: bool) -> Option<Job> {
    let mut state = lock(reaper);
    loop {
        if let Some(job) = state.queue.pop_front() {
            return Some(job);
        }
        if !wait {
            return None;
        }
        state.idle += 1;
        state = reaper
            .changed
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner);
        state.idle -= 1;
    }
}

/// A worker: drops what is handed over until the process exits.
fn work(reaper: &'static Reaper) {
    let mut admin = None;
    while let Some(job) = next_job(reaper, true) {
        let again = run(&mut admin, job);
        finish(reaper, again);
    }
}

/// Marks one job done, or queues it again (a role still in use).
fn finish(reaper: &Reaper, again: Option<Job>) {
    let mut state = lock(reaper);
    match again {
        Some(job) => state.queue.push_back(job),
        None => state.pending -= 1,
    }
    drop(state);
    reaper.changed.notify_all();
}

/// Drops what `job` names on `admin` (connecting first when needed); a job to try again later
/// when the role still owns objects in a database not dropped yet. Other failures are ignored,
/// as a test's cleanup must not fail the test: the name is unique, so a leftover harms nobody.
fn run(admin: &mut Option<Client>, job: Job) -> Option<Job> {
    let sql = match &job {
        Job::Database(name) => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        Job::Role { name, .. } => format!("DROP ROLE IF EXISTS \"{name}\""),
    };
    // One more try on a fresh session when the last one was lost (a server restart).
    for _ in 0..2 {
        if admin.is_none() {
            *admin = Client::connect(&server().conninfo("postgres"), NoTls).ok();
        }
        let client = admin.as_mut()?;
        let error = match client.batch_execute(&sql) {
            Ok(()) => return None,
            Err(error) => error,
        };
        if error.code() == Some(&SqlState::DEPENDENT_OBJECTS_STILL_EXIST) {
            if let Job::Role { name, tries } = job {
                if tries < ROLE_TRIES {
                    std::thread::sleep(Duration::from_millis(50));
                    return Some(Job::Role {
                        name,
                        tries: tries + 1,
                    });
                }
            }
            return None;
        }
        if error.as_db_error().is_some() {
            return None;
        }
        *admin = None;
    }
    None
}

/// Waits until everything handed over is dropped, at most `limit`; whether it all was.
pub fn wait(limit: Duration) -> bool {
    let reaper = reaper();
    let deadline = Instant::now() + limit;
    let mut state = lock(reaper);
    while state.pending > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        state = reaper
            .changed
            .wait_timeout(state, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    true
}

extern "C" fn at_exit() {
    if !wait(EXIT_WAIT) {
        eprintln!(
            "confiture-test-support: test databases were still being dropped after {}s; \
             leftovers are named cft_*",
            EXIT_WAIT.as_secs()
        );
    }
}

/// Registers [`at_exit`] with the C library, once (when the reaper is first used).
fn wait_at_exit() {
    extern "C" {
        fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
    }
    // SAFETY: `atexit` is the C library's, linked into every Rust program on the platforms the
    // suite runs on; `at_exit` is a plain function that neither unwinds (it only waits on a
    // condition variable and prints) nor depends on thread-locals torn down before it runs.
    unsafe {
        atexit(at_exit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The databases and roles handed over are gone once `wait` returns, a role that owns
    /// objects in one of them included (it waits for the database's drop).
    #[test]
    fn handed_over_databases_and_roles_are_dropped_by_wait() {
        let mut admin = crate::admin();
        let role = crate::unique("cft_reaper_role");
        admin
            .batch_execute(&format!("CREATE ROLE \"{role}\" NOLOGIN"))
            .unwrap();
        let names: Vec<String> = (0..3).map(|_| crate::unique("cft_reaper")).collect();
        for name in &names {
            admin
                .batch_execute(&format!("CREATE DATABASE \"{name}\" OWNER \"{role}\""))
                .unwrap();
        }
        drop_role_later(role.clone());
        for name in &names {
            drop_later(name.clone());
        }
        assert!(wait(Duration::from_secs(120)), "drops did not finish");
        let left: i64 = admin
            .query_one(
                "SELECT (SELECT count(*) FROM pg_database WHERE datname = ANY($1)) + \
                 (SELECT count(*) FROM pg_roles WHERE rolname = $2)",
                &[&names, &role],
            )
            .unwrap()
            .get(0);
        assert_eq!(left, 0);
    }
}
