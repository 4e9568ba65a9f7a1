//! A library `Migrator` whose unlock gave up (another session's lock on a system catalog is in
//! the way: [`confiture::ErrorKind::LockTimeout`], the lock still its session's) closes that
//! session, so that the migration lock is given back when the command returns — on every path
//! out of a run, not only its ordinary end: a service that embeds the `Migrator` would hold the
//! lock that every other runner waits for, as long as it lives.

use crate::apply_support;

use std::time::{Duration, Instant};

use apply_support::{lock_is_free, value, Dir, TestDb};
use confiture::migrate::{no_progress, BaselineOptions, DownOptions, Progress, UpOptions};
use confiture::{ErrorKind, Migrator};

fn options(wait: Duration) -> UpOptions {
    let mut options = UpOptions::default();
    options.lock_wait = wait;
    options
}

/// `up` whose ledger read (on its connecting thread, under the lock it took there) gives up
/// waiting for another session's lock on the ledger, while that session also locks a catalog
/// the unlock reads: the run fails (exit 6), and its session, kept by the `Migrator`, holds
/// the migration lock no longer.
#[test]
fn a_failed_ledger_read_ahead_leaves_no_lock_to_a_library_session() {
    let db = TestDb::new("r2d_ahead");
    let dir = Dir::new();
    dir.table("001", "a", "a");
    let mut migrator = db.migrator(&dir);
    migrator
        .up(&options(Duration::from_secs(5)), &mut no_progress)
        .unwrap();
    dir.table("002", "b", "b");
    let mut maintenance = db.client_as("catalog_holder");
    maintenance
        .batch_execute("BEGIN; LOCK TABLE tb_confiture IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let mut migrator = db.migrator(&dir);
    let name = db.name.clone();
    let watcher = std::thread::spawn(move || {
        // Once the run waits for the ledger (the lock taken, its look-up done), the catalog
        // the unlock reads is locked too.
        let mut watch = apply_support::connect(&name, "watcher");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let waiting = value(
                &mut watch,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'confiture-test' AND wait_event_type = 'Lock'",
            );
            if waiting.as_deref() == Some("1") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    });
    let started = std::thread::spawn({
        let wait = options(Duration::from_secs(3));
        move || {
            let result = migrator.up(&wait, &mut no_progress).map(|_| ());
            (result, migrator)
        }
    });
    assert!(
        watcher.join().unwrap(),
        "the run never waited for the ledger"
    );
    maintenance
        .batch_execute("LOCK TABLE pg_catalog.pg_proc IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let (result, migrator) = started.join().unwrap();
    maintenance.batch_execute("ROLLBACK").unwrap();
    let error = result.expect_err("the ledger read gave up");
    assert_eq!(error.error.kind, ErrorKind::LockTimeout, "{}", error.error);
    // The unlock that gave up is said, as after a run's failure.
    assert!(
        (error.report.warnings.iter()).any(|w| w.contains("could not be given back")),
        "{:?}",
        error.report.warnings
    );
    // The `Migrator` lives on, idle: its session must not hold the lock.
    assert!(
        lock_is_free(&db),
        "the library session kept the migration lock"
    );
    drop(migrator);
}

/// A progress callback that panics while the run holds the lock, with a catalog lock in the
/// way of the unlock: the panic goes on, and the `Migrator`'s session holds the migration
/// lock no longer — `up`, `down` and the ledger rewrites (`baseline`) alike.
#[test]
fn a_panicking_progress_leaves_no_lock_to_a_library_session() {
    let wait = Duration::from_secs(2);
    type Command = fn(&mut Migrator, &mut dyn FnMut(Progress));
    let commands: [(&str, Command); 3] = [
        ("up", |m, progress| {
            let _ = m.up(&options(Duration::from_secs(2)), progress);
        }),
        ("down", |m, progress| {
            let options = DownOptions::default()
                .steps(Some(1))
                .lock_wait(Duration::from_secs(2));
            let _ = m.down(&options, progress);
        }),
        ("baseline", |m, progress| {
            let options = BaselineOptions::through(1).lock_wait(Duration::from_secs(2));
            let _ = m.baseline(&options, progress);
        }),
    ];
    for (name, command) in commands {
        let db = TestDb::new("r2d_panic");
        let dir = Dir::new();
        dir.table("001", "a", "a");
        if name == "down" {
            db.migrator(&dir)
                .up(&options(wait), &mut no_progress)
                .unwrap();
        }
        let mut migrator = db.migrator(&dir);
        let mut maintenance = db.client_as("catalog_holder");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut progress = |event: Progress| {
                if matches!(event, Progress::LockAcquired { .. }) {
                    maintenance
                        .batch_execute(
                            "BEGIN; LOCK TABLE pg_catalog.pg_proc IN ACCESS EXCLUSIVE MODE",
                        )
                        .unwrap();
                    panic!("the caller's progress panics");
                }
            };
            command(&mut migrator, &mut progress);
        }));
        maintenance.batch_execute("ROLLBACK").unwrap();
        let payload = panicked.expect_err(name);
        assert_eq!(
            payload.downcast_ref::<&str>().copied(),
            Some("the caller's progress panics"),
            "{name}"
        );
        assert!(
            lock_is_free(&db),
            "{name}: the library session kept the migration lock"
        );
        // And the `Migrator` runs again, on a session of its own.
        migrator.up(&options(wait), &mut no_progress).unwrap();
        assert_eq!(db.ledger(), ["001:a"], "{name}");
    }
}
