//! An operator who kills a deploy expects its migration to stop on the server too. The runner
//! is this test binary started again as a child process (running the ignored test below), so
//! SIGKILL closes a real socket mid-migration; `client_connection_check_interval`, set at
//! connect, lets the server notice and roll the migration back.

use crate::apply_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use apply_support::{Dir, TestDb};
use confiture::migrate::{no_progress, UpOptions};

const CHILD_DB: &str = "CONFITURE_KILL_TEST_DB";
const CHILD_DIR: &str = "CONFITURE_KILL_TEST_DIR";
const CHILD_APP: &str = "confiture-kill-child";

/// The child's side: runs a migration that sleeps; the parent test kills this process.
#[test]
#[ignore = "started as a child process by a_killed_client_stops_its_migration_on_the_server"]
fn child_runs_a_slow_migration() {
    let db = std::env::var(CHILD_DB).expect("only the kill test runs this, as a child process");
    let dir = std::env::var(CHILD_DIR).expect("only the kill test runs this, as a child process");
    let mut env = apply_support::environment(&db);
    env.application_name = CHILD_APP.to_string();
    let result =
        apply_support::migrator_for(env, dir.as_ref()).up(&UpOptions::default(), &mut no_progress);
    panic!("the parent should have killed this process before the migration ended: {result:?}");
}

#[test]
fn a_killed_client_stops_its_migration_on_the_server() {
    let db = TestDb::new("killed");
    let dir = Dir::new();
    dir.migration(
        "001",
        "slow",
        "CREATE TABLE half (id int);\nSELECT pg_sleep(60);\n",
        "DROP TABLE half;\n",
    );
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            // The test's name in the `it` binary: module path without the crate.
            "apply_kill::child_runs_a_slow_migration",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DB, &db.name)
        .env(CHILD_DIR, &dir.path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let mut watcher = db.client();
    let running = format!(
        "SELECT pid::text FROM pg_stat_activity WHERE application_name = '{CHILD_APP}' \
         AND datname = current_database() AND query LIKE '%pg_sleep(60)%' \
         AND wait_event = 'PgSleep'"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let pid = loop {
        if let Some(pid) = apply_support::value(&mut watcher, &running) {
            break pid;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child exited before its migration started: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the child's migration never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };

    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    let alive = format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}");
    while apply_support::value(&mut watcher, &alive).as_deref() != Some("0") {
        // Without the check interval the backend would sleep out its 60 s.
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "backend {pid} still running after its client died"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    assert!(db.ledger().is_empty(), "not recorded");
    assert!(!db.table_exists("half"), "rolled back");
    assert!(apply_support::lock_is_free(&db));
    dir.write("001_slow.up.sql", "CREATE TABLE half (id int);\n");
    let report = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(report.applied, ["001"]);
}
