//! Dropping the tests' databases and roles in the background, and waiting for them before the
//! test process exits.
//!
//! `DROP DATABASE` has the server run an immediate checkpoint and waits for it (PostgreSQL
//! 15 flushes and fsyncs every dirty buffer of the whole server, 0.2–1 s on the test machines),
//! and the checkpointer runs one at a time: a suite that drops its 500 databases one by one at
//! the end of each test spent a third of its time waiting there. A test hands its database to
//! the reaper and goes on; a few background sessions drop them, and drops that wait together
//! share a checkpoint.
//!
//! A role is dropped once no database handed over before it (which may hold its objects) is
//! still queued or being dropped, however long their checkpoints take, and one role at a time:
//! two `DROP ROLE`s at once of roles that a membership links both delete it, and one fails
//! ("tuple concurrently deleted"). A drop the server refuses (its objects in a database handed
//! over after it, say) waits the same way for the databases handed over before the refusal;
//! only a refusal while no database is pending counts, and is tried again every 50 ms, at most
//! `ROLE_TRIES` times.
//!
//! Before the process exits (`atexit`, which runs both when libtest returns from `main` and
//! when it calls `process::exit` after a failure) it waits until everything handed over is
//! dropped, so no database outlives its test binary. A process killed by a signal leaves its
//! databases behind, as it did when each test dropped its own.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

use crate::server;

/// Background sessions that drop (at most): each waits for a checkpoint; more of them share
/// one, well below the server's `max_connections`.
const WORKERS: usize = 10;

/// The longest the exiting process waits for the drops still queued.
const EXIT_WAIT: Duration = Duration::from_secs(300);

/// How often a role's drop that the server refused while no database was pending is tried
/// again.
const ROLE_TRIES: u32 = 600;

/// The pause before a role's drop that the server refused while no database was pending is
/// tried again.
const ROLE_PAUSE: Duration = Duration::from_millis(50);

/// What a job drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    Database,
    Role,
}

/// One database or role to drop.
#[derive(Debug)]
struct Job {
    what: What,
    name: String,
    /// Its place in the order of hand-overs.
    place: u64,
    /// A role's drops the server refused while no database was pending.
    tries: u32,
    /// A role tried again is not tried before this.
    not_before: Option<Instant>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// The place of the next job handed over.
    next_place: u64,
    /// The places of the databases handed over and not dropped yet (queued or being dropped).
    databases: BTreeSet<u64>,
    /// A role is being dropped (one at a time).
    dropping_role: bool,
    /// Handed over and not dropped yet (queued or being dropped).
    pending: usize,
    workers: usize,
    idle: usize,
}

/// Which queued job may run.
enum Next {
    /// The job at this index of the queue, now.
    Now(usize),
    /// None before this instant (a role's pause).
    At(Instant),
    /// None until something changes.
    Wait,
}

impl State {
    /// The first queued job that may run: a database always; a role once the databases handed
    /// over before it are dropped, no other role is being dropped and its pause is over.
    fn next(&self, now: Instant) -> Next {
        let mut at: Option<Instant> = None;
        for (index, job) in self.queue.iter().enumerate() {
            if job.what == What::Database {
                return Next::Now(index);
            }
            let before = self
                .databases
                .first()
                .is_some_and(|&first| first < job.place);
            if self.dropping_role || before {
                continue;
            }
            match job.not_before {
                Some(not_before) if not_before > now => {
                    at = Some(at.map_or(not_before, |at| at.min(not_before)));
                }
                _ => return Next::Now(index),
            }
        }
        at.map_or(Next::Wait, Next::At)
    }
}

struct Reaper {
    state: Mutex<State>,
    changed: Condvar,
    /// [`ROLE_TRIES`], fewer in this module's tests.
    role_tries: u32,
}

impl Reaper {
    fn new(role_tries: u32) -> Reaper {
        Reaper {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            role_tries,
        }
    }
}

fn reaper() -> &'static Reaper {
    static REAPER: OnceLock<Reaper> = OnceLock::new();
    REAPER.get_or_init(|| {
        wait_at_exit();
        Reaper::new(ROLE_TRIES)
    })
}

fn lock(reaper: &Reaper) -> MutexGuard<'_, State> {
    reaper.state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Drops database `name` (`WITH (FORCE)`) in the background; an empty name is ignored.
pub fn drop_later(name: String) {
    if !name.is_empty() {
        hand_over(reaper(), What::Database, name);
    }
}

/// Drops role `name` in the background, once the databases handed over before it (which may
/// hold its objects) are dropped.
pub fn drop_role_later(name: String) {
    if !name.is_empty() {
        hand_over(reaper(), What::Role, name);
    }
}

/// A role's name, handed to [`drop_role_later`] when the value is dropped (also when the test
/// fails). Declared before the databases that hold the role's objects, it is handed over after
/// them.
#[derive(Debug)]
pub struct DropRoleLater(pub String);

impl Drop for DropRoleLater {
    fn drop(&mut self) {
        drop_role_later(std::mem::take(&mut self.0));
    }
}

fn hand_over(reaper: &'static Reaper, what: What, name: String) {
    let mut state = lock(reaper);
    let place = state.next_place;
    state.next_place += 1;
    if what == What::Database {
        state.databases.insert(place);
    }
    state.queue.push_back(Job {
        what,
        name,
        place,
        tries: 0,
        not_before: None,
    });
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
                let refused = run(&mut None, &job);
                finish(reaper, job, refused);
            }
        }
    }
}

/// The next job that may run, waiting for one; `None` once the queue is empty unless
/// `forever`.
fn next_job(reaper: &Reaper, forever: bool) -> Option<Job> {
    let mut state = lock(reaper);
    loop {
        let now = Instant::now();
        let next = state.next(now);
        if let Next::Now(index) = next {
            let job = state.queue.remove(index)?;
            if job.what == What::Role {
                state.dropping_role = true;
            }
            return Some(job);
        }
        if !forever && state.queue.is_empty() {
            return None;
        }
        state.idle += 1;
        state = match next {
            Next::At(at) => {
                let left = at.saturating_duration_since(now);
                let waited = reaper.changed.wait_timeout(state, left);
                waited.unwrap_or_else(PoisonError::into_inner).0
            }
            _ => reaper
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
        };
        state.idle -= 1;
    }
}

/// A worker: drops what is handed over until the process exits.
fn work(reaper: &'static Reaper) {
    let mut admin = None;
    while let Some(job) = next_job(reaper, true) {
        let refused = run(&mut admin, &job);
        finish(reaper, job, refused);
    }
}

/// Marks `job` done, or queues it again: a role whose drop the server `refused` (its objects
/// in a database, a concurrent change of a catalog row it deletes) waits for the databases
/// handed over before now when some are still pending (they may hold its objects), and is
/// otherwise tried again after a pause, [`ROLE_TRIES`] times at most.
fn finish(reaper: &Reaper, mut job: Job, refused: bool) {
    let mut state = lock(reaper);
    match job.what {
        What::Database => {
            state.databases.remove(&job.place);
        }
        What::Role => state.dropping_role = false,
    }
    let again = if !refused || job.what == What::Database {
        false
    } else if !state.databases.is_empty() {
        job.place = state.next_place;
        job.not_before = None;
        true
    } else if job.tries < reaper.role_tries {
        job.tries += 1;
        job.not_before = Some(Instant::now() + ROLE_PAUSE);
        true
    } else {
        false
    };
    if again {
        state.queue.push_back(job);
    } else {
        state.pending -= 1;
    }
    drop(state);
    reaper.changed.notify_all();
}

/// Drops what `job` names on `admin` (connecting first when needed); whether the server
/// refused. Other failures are ignored, as a test's cleanup must not fail the test: the name
/// is unique, so a leftover harms nobody.
fn run(admin: &mut Option<Client>, job: &Job) -> bool {
    let name = &job.name;
    let sql = match job.what {
        What::Database => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        What::Role => format!("DROP ROLE IF EXISTS \"{name}\""),
    };
    // One more try on a fresh session when the last one was lost (a server restart).
    for _ in 0..2 {
        if admin.is_none() {
            *admin = Client::connect(&server().conninfo("postgres"), NoTls).ok();
        }
        let Some(client) = admin.as_mut() else {
            return false;
        };
        match client.batch_execute(&sql) {
            Ok(()) => return false,
            Err(error) if error.as_db_error().is_some() => return true,
            Err(_) => *admin = None,
        }
    }
    false
}

/// Waits until everything handed over is dropped, at most `limit`; whether it all was.
pub fn wait(limit: Duration) -> bool {
    wait_for(reaper(), limit)
}

fn wait_for(reaper: &Reaper, limit: Duration) -> bool {
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

    /// A reaper of its own, whose role jobs give up after `role_tries` tries.
    fn own_reaper(role_tries: u32) -> &'static Reaper {
        Box::leak(Box::new(Reaper::new(role_tries)))
    }

    fn exists(admin: &mut Client, catalog: &str, name: &str) -> bool {
        let column = if catalog == "pg_roles" {
            "rolname"
        } else {
            "datname"
        };
        admin
            .query_one(
                &format!("SELECT count(*) FROM {catalog} WHERE {column} = $1"),
                &[&name],
            )
            .unwrap()
            .get::<_, i64>(0)
            > 0
    }

    /// A role whose objects are in a database handed over before it is dropped however long
    /// that database's drop takes (here held back by a session's lock on it, well past the
    /// role's tries): the role's tries start once the database is gone.
    #[test]
    fn a_role_waits_for_the_databases_handed_over_before_it_however_long_they_take() {
        let reaper = own_reaper(2);
        let (mut admin, role, db) = role_owning_a_database("cft_reaper_held");
        // Holds the database's drop back until this session commits.
        let mut holder = crate::admin();
        holder
            .batch_execute(&format!("BEGIN; COMMENT ON DATABASE \"{db}\" IS 'held'"))
            .unwrap();
        hand_over(reaper, What::Database, db.clone());
        hand_over(reaper, What::Role, role.clone());
        // Much longer than the role's two tries of 50 ms.
        std::thread::sleep(Duration::from_millis(1000));
        assert!(
            exists(&mut admin, "pg_database", &db),
            "the lock did not hold the drop"
        );
        holder.batch_execute("COMMIT").unwrap();
        both_dropped(reaper, &mut admin, &role, &db);
    }

    /// An admin session, and a new role owning a new database (`{prefix}_role`, `{prefix}`).
    fn role_owning_a_database(prefix: &str) -> (postgres::Client, String, String) {
        let mut admin = crate::admin();
        let role = crate::unique(&format!("{prefix}_role"));
        let db = crate::unique(prefix);
        admin
            .batch_execute(&format!("CREATE ROLE \"{role}\" NOLOGIN"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE \"{db}\" OWNER \"{role}\""))
            .unwrap();
        (admin, role, db)
    }

    /// Waits for `reaper`'s drops, then checks that database `db` and role `role` are gone.
    #[track_caller]
    fn both_dropped(reaper: &'static Reaper, admin: &mut postgres::Client, role: &str, db: &str) {
        assert!(
            wait_for(reaper, Duration::from_secs(120)),
            "drops did not finish"
        );
        assert!(!exists(admin, "pg_database", db));
        assert!(!exists(admin, "pg_roles", role), "the role was left behind");
    }

    /// A role handed over before the database that holds its objects (its guard dropped
    /// first): refused while that database's drop is held back, well past the role's tries,
    /// it waits for it.
    #[test]
    fn a_role_refused_waits_for_the_databases_handed_over_before_the_refusal() {
        let reaper = own_reaper(2);
        let (mut admin, role, db) = role_owning_a_database("cft_reaper_early");
        // The role's first drop waits for the first holder, until the database is handed over
        // too; the database's, for the second.
        let mut role_holder = crate::admin();
        role_holder
            .batch_execute(&format!("BEGIN; COMMENT ON ROLE \"{role}\" IS 'held'"))
            .unwrap();
        let mut db_holder = crate::admin();
        db_holder
            .batch_execute(&format!("BEGIN; COMMENT ON DATABASE \"{db}\" IS 'held'"))
            .unwrap();
        hand_over(reaper, What::Role, role.clone());
        hand_over(reaper, What::Database, db.clone());
        std::thread::sleep(Duration::from_millis(200));
        role_holder.batch_execute("COMMIT").unwrap();
        // Much longer than the role's two tries of 50 ms.
        std::thread::sleep(Duration::from_millis(1000));
        assert!(
            exists(&mut admin, "pg_database", &db),
            "the lock did not hold the drop"
        );
        db_holder.batch_execute("COMMIT").unwrap();
        both_dropped(reaper, &mut admin, &role, &db);
    }

    /// Roles that memberships link are dropped one at a time: two `DROP ROLE`s at once both
    /// delete the membership and one fails ("tuple concurrently deleted"), leaving its role.
    /// Here a chain of memberships, every drop held back by a session's lock until all are
    /// under way.
    #[test]
    fn roles_linked_by_memberships_are_all_dropped() {
        let reaper = own_reaper(2);
        let mut admin = crate::admin();
        let roles: Vec<String> = (0..4).map(|_| crate::unique("cft_reaper_link")).collect();
        for role in &roles {
            admin
                .batch_execute(&format!("CREATE ROLE \"{role}\" NOLOGIN"))
                .unwrap();
        }
        for pair in roles.windows(2) {
            admin
                .batch_execute(&format!("GRANT \"{}\" TO \"{}\"", pair[0], pair[1]))
                .unwrap();
        }
        let mut holder = crate::admin();
        holder.batch_execute("BEGIN").unwrap();
        for role in &roles {
            holder
                .batch_execute(&format!("COMMENT ON ROLE \"{role}\" IS 'held'"))
                .unwrap();
        }
        for role in &roles {
            hand_over(reaper, What::Role, role.clone());
        }
        std::thread::sleep(Duration::from_millis(500));
        holder.batch_execute("COMMIT").unwrap();
        assert!(
            wait_for(reaper, Duration::from_secs(120)),
            "drops did not finish"
        );
        let left: Vec<&String> = roles
            .iter()
            .filter(|role| exists(&mut admin, "pg_roles", role))
            .collect();
        assert!(left.is_empty(), "roles left behind: {left:?}");
    }
}
