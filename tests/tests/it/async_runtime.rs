//! The library inside tokio runtimes, against the real PostgreSQL: the blocking commands
//! called on a runtime thread work (the `postgres` driver's own runtime used to panic there:
//! "Cannot start a runtime from within a runtime"), and the `*_async` commands (feature
//! `tokio`) run on `spawn_blocking`, on multi-thread and current-thread runtimes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use confiture::config::Environment;
use confiture::migrate::{no_progress, DownOptions, Progress, UpOptions};
use confiture::Migrator;
use confiture_tests::{wait_until, Project, TestDb};

/// Runs `f` on a thread of its own: the harness's own `postgres` client (creating, reading and
/// dropping the test database) blocks, which is not allowed on a runtime thread.
fn off<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(f).join().unwrap())
}

/// A test database created, and dropped, off the runtime thread.
struct Db(Option<TestDb>);

impl Db {
    fn new(prefix: &str) -> Db {
        Db(Some(off(|| TestDb::new(prefix))))
    }
    fn ledger_len(&self) -> Option<usize> {
        off(|| self.ledger().map(|rows| rows.len()))
    }
}

impl std::ops::Deref for Db {
    type Target = TestDb;
    fn deref(&self) -> &TestDb {
        self.0.as_ref().unwrap()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let db = self.0.take();
        off(move || drop(db));
    }
}

fn migrator(db: &TestDb, project: &Project) -> Migrator {
    let env = Environment::from_url(&db.url(), "test").unwrap();
    Migrator::new(env, project.path("db/migrations"), Default::default())
}

/// The blocking API, straight from `#[tokio::main]` (a multi-thread runtime): up with its
/// progress events, status, and the connected `Migrator` dropped on the runtime thread.
#[test]
fn blocking_commands_work_inside_tokio_main() {
    #[tokio::main]
    async fn service(db: &TestDb, project: &Project) -> Vec<Progress> {
        let mut migrator = migrator(db, project);
        let mut events = Vec::new();
        let report = migrator
            .up(&UpOptions::default(), &mut |event| events.push(event))
            .unwrap();
        assert_eq!(report.applied.len(), 6);
        let status = migrator.status().unwrap();
        assert!(status.is_up_to_date(), "{status:?}");
        drop(migrator);
        events
    }
    let (db, project) = (TestDb::new("async_main"), Project::example());
    // Outside the runtime: the harness blocks.
    let events = service(&db, &project);
    assert!(
        events.len() >= 6,
        "progress reached the caller's callback: {events:?}"
    );
    assert_eq!(db.ledger().map(|rows| rows.len()), Some(6));
}

/// The async commands from `#[tokio::main]`, as the example service calls them.
#[test]
fn async_commands_inside_tokio_main() {
    #[tokio::main]
    async fn service(db: &TestDb, project: &Project) {
        let mut migrator = migrator(db, project);
        let report = migrator
            .up_async(UpOptions::default().steps(Some(4)), no_progress)
            .await
            .unwrap();
        assert_eq!(report.applied, ["001", "002", "003", "004"]);
        let status = migrator.status_async().await.unwrap();
        assert_eq!(status.pending, ["005", "006"]);
        let report = migrator
            .up_async(UpOptions::default(), no_progress)
            .await
            .unwrap();
        assert_eq!(report.applied, ["005", "006"]);
    }
    let (db, project) = (TestDb::new("async_main_up"), Project::example());
    service(&db, &project);
    assert_eq!(db.ledger().map(|rows| rows.len()), Some(6));
}

/// The same on a current-thread runtime, where the test itself is the only runtime thread.
#[tokio::test(flavor = "current_thread")]
async fn blocking_commands_work_on_a_current_thread_runtime() {
    let (db, project) = (Db::new("async_ct_blocking"), Project::example());
    let mut migrator = migrator(&db, &project);
    let report = migrator
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(report.applied.len(), 6);
    assert!(migrator.status().unwrap().is_up_to_date());
    assert_eq!(db.ledger_len(), Some(6));
}

#[tokio::test(flavor = "current_thread")]
async fn async_commands_on_a_current_thread_runtime() {
    let (db, project) = (Db::new("async_ct"), Project::example());
    let mut migrator = migrator(&db, &project);
    let events = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&events);
    let report = migrator
        .up_async(UpOptions::default(), move |_| {
            *counted.lock().unwrap() += 1;
        })
        .await
        .unwrap();
    assert_eq!(report.applied, ["001", "002", "003", "004", "005", "006"]);
    assert!(*events.lock().unwrap() >= 6);
    let status = migrator.status_async().await.unwrap();
    assert!(status.is_up_to_date(), "{status:?}");
    let down = migrator
        .down_async(
            DownOptions::default().target(Some(0)).yes(true),
            no_progress,
        )
        .await
        .unwrap();
    assert_eq!(down.rolled_back.len(), 6);
    assert_eq!(db.ledger_len(), Some(0));
}

/// Several instances of a service starting at once, as tasks of one runtime: the lock
/// serialises them, exactly one applies the migrations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_async_runs_apply_each_migration_once() {
    let (db, project) = (Db::new("async_mt"), Project::example());
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let mut migrator = migrator(&db, &project);
        tasks.push(tokio::spawn(async move {
            migrator
                .up_async(UpOptions::default(), no_progress)
                .await
                .unwrap()
                .applied
        }));
    }
    let mut applied = Vec::new();
    for task in tasks {
        applied.extend(task.await.unwrap());
    }
    applied.sort();
    assert_eq!(applied, ["001", "002", "003", "004", "005", "006"]);
    assert_eq!(db.ledger_len(), Some(6));
}

/// A service that gives up waiting (its startup future dropped) does not abandon a migration
/// half-way: it runs to its end on the blocking thread, with its ledger row, and the lock is
/// released; the `Migrator` left behind works.
#[tokio::test(flavor = "current_thread")]
async fn a_dropped_future_lets_the_migration_finish() {
    let (db, project) = (Db::new("async_drop"), Project::new());
    project.migration(
        "001_slow",
        "SELECT pg_sleep(3);\nCREATE TABLE slow (id INTEGER);\n",
        "DROP TABLE slow;\n",
    );
    let mut migrator = migrator(&db, &project);
    {
        let run = migrator.up_async(UpOptions::default(), no_progress);
        tokio::pin!(run);
        // Poll it until the migration sleeps on the server, then drop it.
        let sleeping = || {
            off(|| {
                db.connect()
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()",
                        &[],
                    )
                    .unwrap()
                    .get::<_, i64>(0)
                    > 0
            })
        };
        let start = std::time::Instant::now();
        while !sleeping() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the migration never started"
            );
            let poll = futures_poll_once(run.as_mut()).await;
            assert!(poll.is_none(), "finished before it slept: {poll:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let finished = off(|| {
        wait_until(Duration::from_secs(30), || {
            db.has_relation("slow") && db.ledger().map(|r| r.len()) == Some(1)
        })
    });
    assert!(finished, "the migration ran to its end with its ledger row");
    let released = off(|| {
        wait_until(Duration::from_secs(30), || {
            db.migration_lock_holders().is_empty()
        })
    });
    assert!(released, "the lock was released");
    let status = migrator.status_async().await.unwrap();
    assert!(status.is_up_to_date(), "{status:?}");
}

/// Polls a future once: `Some(output)` if it completed.
async fn futures_poll_once<F: std::future::Future + Unpin>(mut fut: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut fut).poll(cx) {
            std::task::Poll::Ready(out) => Some(out),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

/// A panic in the caller's progress callback ends the run where it happened, on a runtime
/// thread as off one, and reaches the caller with its own payload. On a runtime thread the
/// callback runs on the caller's thread, fed by the worker: the worker went on applying every
/// migration and the panic surfaced only at the end (h10 D3).
#[test]
fn a_panicking_callback_stops_the_run_on_a_runtime_thread_as_off_one() {
    fn up_panicking_at(migrator: &mut Migrator, nth_finished: usize) -> Option<String> {
        let mut finished = 0;
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            migrator
                .up(&UpOptions::default(), &mut |event| {
                    if matches!(event, Progress::Finished { .. }) {
                        finished += 1;
                    }
                    if finished == nth_finished {
                        std::panic::panic_any("boom");
                    }
                })
                .is_ok()
        }));
        let payload = caught.expect_err("the callback's panic reaches the caller");
        payload.downcast_ref::<&str>().map(|p| p.to_string())
    }
    for nth_finished in [0, 1] {
        // Off a runtime: the run stops there.
        let (db, project) = (TestDb::new("async_cb_panic_off"), Project::example());
        let mut plain = migrator(&db, &project);
        assert_eq!(
            up_panicking_at(&mut plain, nth_finished).as_deref(),
            Some("boom")
        );
        // (Several migrations travel in one message: the first `Finished` comes after them.)
        let applied = db.ledger().map_or(0, |rows| rows.len());
        assert!(applied < 6, "the run stopped: {applied}");
        if nth_finished == 0 {
            assert_eq!(applied, 0, "it stopped at the first event");
        }
        // On a current-thread runtime's thread: the same.
        let (db, project) = (Db::new("async_cb_panic_rt"), Project::example());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let payload = runtime.block_on(async {
            let mut on_runtime = migrator(&db, &project);
            up_panicking_at(&mut on_runtime, nth_finished)
        });
        assert_eq!(payload.as_deref(), Some("boom"), "its own payload");
        assert_eq!(
            db.ledger_len().unwrap_or(0),
            applied,
            "the run stopped at the panic (after {nth_finished} finished), as off a runtime"
        );
    }
}

/// A command that can be stopped (`stop_when`: the CLI's, a service's) runs on a thread of its
/// own, its events handed to the caller's: those a message's results report together (the
/// migrations it committed) are handed over without each being waited for, then all at once.
/// A callback that panics on the first of them sees none of the rest, and the run stops before
/// anything more reaches the server: the no-transaction migration after that message never
/// runs, and the panic reaches the caller with its own payload.
#[test]
fn a_callback_panicking_on_a_messages_results_stops_the_run_before_its_next_message() {
    let db = TestDb::new("together_panic");
    let project = Project::new();
    project
        .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration("002_b", "CREATE TABLE b ();\n", "DROP TABLE b;\n")
        .migration(
            "003_c",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY c ON a (id);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY c;\n",
        );
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut stoppable = migrator(&db, &project).stop_when(flag);
    let mut seen = Vec::new();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        stoppable
            .up(&UpOptions::default(), &mut |event| {
                if let Progress::Finished { version, .. } = &event {
                    seen.push(version.clone());
                    std::panic::panic_any("boom");
                }
            })
            .is_ok()
    }));
    let payload = caught.expect_err("the callback's panic reaches the caller");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"boom"),
        "its own payload"
    );
    assert_eq!(seen, ["001"], "no event after the one that panicked");
    // 001 and 002 travelled, and committed, together; 003 was never sent.
    assert_eq!(
        db.ledger().map(|rows| rows.len()),
        Some(2),
        "the run stopped after the message whose results it was reporting"
    );
    let c_exists: bool = db
        .client()
        .query_one("SELECT to_regclass('public.c') IS NOT NULL", &[])
        .unwrap()
        .get(0);
    assert!(!c_exists, "the next message was never sent");
}

/// The lower-level `confiture::db` entry points panicked on a runtime thread ("Cannot start a
/// runtime from within a runtime", the `postgres` driver's blocking calls), where the
/// `Migrator`'s commands work: each runs where the driver may block now
/// (`migrator::blocking_here`), and a failure is an error, never a panic. One of each class:
/// those that connect and hand the driver's client back, those that work on a client given,
/// and those that connect, work and close themselves.
#[tokio::test(flavor = "current_thread")]
async fn the_db_entry_points_work_on_a_runtime_thread() {
    use confiture::db;
    let target = Db::new("async_db_calls");
    let env = Environment::from_url(&target.url(), "test").unwrap();

    // Connecting: a client back, and an error (not a panic) where nothing answers.
    let attrs = env.connection.target_session_attrs;
    let mut clients = vec![
        db::connect(&env).unwrap(),
        db::connect::connect_for(&env, attrs).unwrap(),
        db::connect::connect_if_exists(&env)
            .unwrap()
            .expect("it exists"),
    ];
    let nowhere = Environment::from_url("postgresql://postgres@127.0.0.1:1/x", "test").unwrap();
    let Err(refused) = db::connect(&nowhere) else {
        panic!("nothing listens on port 1");
    };
    assert_eq!(
        refused.exit_code(),
        confiture::exit::CONNECTION,
        "{refused}"
    );

    // On a client given.
    let client = &mut clients[0];
    db::snapshot::snapshot(client, &Default::default()).unwrap();
    let writable = db::writable::Target::of(&env);
    assert_eq!(
        db::writable::check(
            client,
            &writable,
            confiture::migrate::DEFAULT_LOCK_WAIT,
            &mut Vec::new(),
        )
        .unwrap(),
        target.name
    );
    db::scratch::execute(client, "CREATE TABLE t (id int)", |_| unreachable!()).unwrap();
    // The clients block when they close: dropped off the runtime thread.
    off(move || drop(clients));

    // Connecting, working and closing: a database created, a scratch database created and
    // dropped (by `drop_now` and by its drop).
    let unborn = off(|| confiture_tests::TestDb::unborn("async_db_create"));
    let new = Environment::from_url(&unborn.url(), "test").unwrap();
    assert!(db::create_database(&new).unwrap());
    assert!(off(|| unborn.exists()));
    off(move || drop(unborn));
    let scratch = db::scratch::Scratch::create(&env).unwrap();
    let name = scratch.name().to_string();
    assert!(scratch.drop_now().unwrap().is_empty());
    let dropped = db::scratch::Scratch::create(&env).unwrap();
    let second = dropped.name().to_string();
    drop(dropped);
    let left = off(|| {
        target.value(&format!(
            "SELECT count(*) FROM pg_database WHERE datname IN ('{name}', '{second}')"
        ))
    });
    assert_eq!(left.as_deref(), Some("0"));
}

/// An `*_async` command whose progress callback panicked left its blocking-pool thread marked
/// as one where blocking is allowed. tokio reuses that thread, as a runtime worker too (a
/// `block_in_place` hands the worker's core to an idle blocking thread): there the blocking
/// commands, taking it for a blocking thread, ran the driver in place and panicked with
/// "Cannot start a runtime from within a runtime". The mark now ends with the command, however
/// it ends.
#[test]
fn a_panicking_async_command_leaves_no_blocking_mark_on_its_thread() {
    let (db, project) = (Db::new("async_mark"), Project::example());
    // One worker and one blocking thread: the command's thread is the one a `block_in_place`
    // can hand the worker's core to.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let url = db.url();
    let dir = project.path("db/migrations");
    let env = move || Environment::from_url(&url, "test").unwrap();
    let runs_on_its_thread = runtime.block_on(async move {
        let command_thread = Arc::new(Mutex::new(None));
        let mut migrator = Migrator::new(env(), &dir, Default::default());
        let seen = Arc::clone(&command_thread);
        let panicked = tokio::spawn(async move {
            let _ = migrator
                .up_async(UpOptions::default(), move |event| {
                    *seen.lock().unwrap() = Some(std::thread::current().id());
                    if matches!(event, Progress::Finished { .. }) {
                        std::panic::panic_any("boom");
                    }
                })
                .await;
        })
        .await;
        assert!(panicked.unwrap_err().is_panic(), "the callback's panic");
        let command_thread = command_thread.lock().unwrap().expect("an event");
        let mut runs_on_its_thread = 0;
        for _ in 0..40 {
            // Hands the core over (to the command's idle thread, or back to this one).
            tokio::spawn(async {
                tokio::task::block_in_place(|| std::thread::sleep(Duration::from_millis(5)))
            })
            .await
            .unwrap();
            let dir = dir.clone();
            let env = env.clone();
            let (thread, status) = tokio::spawn(async move {
                let mut migrator = Migrator::new(env(), &dir, Default::default());
                let status = migrator.status().map(|s| s.applied.len());
                (std::thread::current().id(), status)
            })
            .await
            .expect("a blocking command on a worker thread never panics");
            assert!(status.is_ok(), "{status:?}");
            runs_on_its_thread += usize::from(thread == command_thread);
        }
        runs_on_its_thread
    });
    assert!(
        runs_on_its_thread > 0,
        "the worker never ran on the panicked command's thread: nothing was proved"
    );
}

/// A `before_connecting` check that panics in an `*_async` command leaves the session refused:
/// the check went with the `Migrator` moved to the blocking thread, and the copy left in its
/// place had none, so the next command (the service caught the panic and tried again) ran
/// unchecked on the database the check was there to refuse.
#[test]
fn an_async_command_whose_check_panicked_leaves_the_session_refused() {
    let (db, project) = (Db::new("async_check_panic"), Project::example());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut migrator = migrator(&db, &project);
    migrator.before_connecting(|_| panic!("the tenant lookup failed"));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = runtime.block_on(migrator.up_async(UpOptions::default(), no_progress));
    }));
    assert!(panicked.is_err(), "the check's panic reaches the caller");
    let again = runtime.block_on(migrator.up_async(UpOptions::default(), no_progress));
    let refused = again.map(|r| r.applied).unwrap_err().error;
    assert_eq!(refused.kind, confiture::ErrorKind::Usage, "{refused}");
    assert!(refused.message.contains("before_connecting"), "{refused}");
    let status = runtime.block_on(migrator.status_async());
    assert_eq!(
        status.map(|s| s.applied).unwrap_err().kind,
        confiture::ErrorKind::Usage
    );
    assert_eq!(db.ledger_len(), None, "nothing written");
}
