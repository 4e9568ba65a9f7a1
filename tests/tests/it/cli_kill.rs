//! A `migrate up` killed with SIGKILL in the middle of a migration (a deploy timeout, the OOM
//! killer): the server notices within seconds (`client_connection_check_interval`), rolls the
//! migration back, releases the lock, and the next run applies it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use confiture::exit;
use confiture_tests::{wait_until, Project, TestDb};

const SLOW_UP: &str = "CREATE TABLE t_partial (a int);\nSELECT pg_sleep(30);\n";

fn backend_alive(db: &TestDb, pid: i32) -> bool {
    db.connect()
        .query_opt("SELECT 1 FROM pg_stat_activity WHERE pid = $1", &[&pid])
        .expect("read pg_stat_activity")
        .is_some()
}

#[test]
fn a_killed_run_leaves_nothing_behind_and_the_next_run_applies() {
    let db = TestDb::new("kill");
    let project = Project::new();
    project
        .migration(
            "001_create_tb_user",
            "CREATE TABLE tb_user (pk_user int PRIMARY KEY);\n",
            "DROP TABLE tb_user;\n",
        )
        .migration("002_slow", SLOW_UP, "DROP TABLE t_partial;\n");

    let mut child = project
        .cli()
        .args(["migrate", "up", "--database-url", &db.url()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the CLI under test");
    let mut pid = None;
    let running = wait_until(Duration::from_secs(30), || {
        pid = db.sleeping_backend();
        pid.is_some()
    });
    if !running {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the slow migration never showed up in pg_stat_activity; backends: {:?}",
            db.other_backends()
        );
    }
    let pid = pid.expect("a backend pid");
    assert_eq!(
        db.migration_lock_holders(),
        [pid],
        "the runner holds the lock"
    );

    // std's Child::kill is SIGKILL: no destructor, no ROLLBACK, no goodbye to the server.
    child.kill().expect("kill the runner");
    let status = child.wait().expect("reap the runner");
    assert_eq!(status.code(), None, "the runner was killed by a signal");

    let killed_at = Instant::now();
    assert!(
        wait_until(Duration::from_secs(15), || !backend_alive(&db, pid)),
        "backend {pid} still runs {:?} after its client died; backends: {:?}",
        killed_at.elapsed(),
        db.other_backends()
    );
    // client_connection_check_interval is 1 s; allow a loaded machine some slack.
    assert!(
        killed_at.elapsed() < Duration::from_secs(10),
        "the server took {:?} to notice the dead client",
        killed_at.elapsed()
    );

    assert_eq!(db.ledger().expect("the ledger"), ["001:create_tb_user"]);
    assert!(
        !db.has_relation("t_partial"),
        "the killed migration left its table"
    );
    assert!(db.has_relation("tb_user"));
    assert!(
        db.migration_lock_holders().is_empty(),
        "the migration lock is still held"
    );

    // The next run applies it (made quick: the file is not applied anywhere, so editing it is fine).
    project.write(
        "db/migrations/002_slow.up.sql",
        SLOW_UP.replace("pg_sleep(30)", "pg_sleep(0)"),
    );
    project
        .run_on(&db, &["migrate", "up", "--lock-timeout", "5s"])
        .code(exit::SUCCESS)
        .stdout_has("applied 1 migration");
    assert_eq!(
        db.ledger().expect("the ledger"),
        ["001:create_tb_user", "002:slow"]
    );
    assert!(db.has_relation("t_partial"));
}
