//! Several runners deploying at once (pods of one deploy): each migration is applied exactly
//! once, and every runner succeeds — the ones that waited find the work done.

use crate::apply_support;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use apply_support::{Dir, TestDb};
use confiture::migrate::{Progress, UpOptions};

const RUNNERS: usize = 8;
const ROUNDS: usize = 10;

#[test]
fn concurrent_runners_apply_each_migration_exactly_once() {
    let start = Instant::now();
    let dir = Dir::new();
    for v in 1..=5 {
        // A little server time per migration widens the window in which runners overlap.
        dir.migration(
            &format!("{v:03}"),
            &format!("m{v}"),
            &format!("CREATE TABLE t{v} (id int);\nSELECT pg_sleep(0.02);\n"),
            &format!("DROP TABLE t{v};\n"),
        );
    }
    let mut waiters = 0;
    for round in 0..ROUNDS {
        let db = TestDb::new("concurrent");
        let barrier = Arc::new(Barrier::new(RUNNERS));
        let runners: Vec<_> = (0..RUNNERS)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                let env = apply_support::environment(&db.name);
                let path = dir.path.clone();
                std::thread::spawn(move || {
                    let mut migrator = apply_support::migrator_for(env, &path);
                    barrier.wait();
                    let options = UpOptions::default().lock_wait(Duration::from_secs(20));
                    let mut waited = false;
                    let result = migrator.up(&options, &mut |p| {
                        waited |= matches!(p, Progress::LockWaiting { .. })
                    });
                    (result, waited)
                })
            })
            .collect();
        let mut applied: Vec<String> = Vec::new();
        for runner in runners {
            let (result, waited) = runner.join().unwrap();
            waiters += usize::from(waited);
            match result {
                Ok(report) => applied.extend(report.applied),
                Err(failed) => panic!(
                    "round {round}: a runner failed: {} {:?}",
                    failed.error, failed.error.details
                ),
            }
        }
        applied.sort();
        assert_eq!(
            applied,
            ["001", "002", "003", "004", "005"],
            "round {round}"
        );
        assert_eq!(
            db.ledger(),
            ["001:m1", "002:m2", "003:m3", "004:m4", "005:m5"],
            "round {round}"
        );
        assert!(apply_support::lock_is_free(&db));
    }
    // The runners did overlap: some found the lock taken and waited.
    assert!(waiters > 0);
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
}
