//! The tool's own statements never wait forever: a lock another session holds on the ledger
//! bounds `status` (by `migration.lock_timeout`) and `up`/`down` (by `--lock-timeout`, which
//! covers the migration lock and the ledger read), then exits 6 naming the holder; and our
//! connection carries TCP keepalives, so a silent network ends as a lost connection.

use crate::apply_support;

use std::time::{Duration, Instant};

use apply_support::{environment, migrator_for, Dir, TestDb};
use confiture::migrate::{no_progress, DownOptions, UpOptions};
use confiture::ErrorKind;

/// A database with a ledger (one migration applied) and a second session holding
/// `LOCK tb_confiture IN ACCESS EXCLUSIVE MODE` in an open transaction; returns its pid.
fn locked_ledger(db: &TestDb, dir: &Dir) -> (postgres::Client, String) {
    dir.migration("001", "a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    db.migrator(dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    dir.migration("002", "b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
    let mut holder = db.client_as("ledger-locker");
    holder
        .batch_execute("BEGIN; LOCK tb_confiture IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let pid = apply_support::value(&mut holder, "SELECT pg_backend_pid()").unwrap();
    (holder, pid)
}

#[test]
fn status_under_an_exclusive_lock_on_the_ledger_exits_6_naming_the_holder() {
    let db = TestDb::new("hang_status");
    let dir = Dir::new();
    let (_holder, pid) = locked_ledger(&db, &dir);
    let mut env = environment(&db.name);
    env.migration.lock_timeout = Duration::from_millis(500);
    let start = Instant::now();
    let error = migrator_for(env, &dir.path).status().unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(error.kind, ErrorKind::LockTimeout, "{error:?}");
    assert_eq!(error.exit_code(), 6);
    assert!(error.message.contains("tb_confiture"), "{error:?}");
    let details = error.details.join("\n");
    assert!(
        details.contains(&format!("pid {pid}")) && details.contains("ledger-locker"),
        "{error:?}"
    );
}

#[test]
fn up_and_down_respect_their_lock_timeout_budget_on_a_locked_ledger() {
    let db = TestDb::new("hang_up");
    let dir = Dir::new();
    let (_holder, pid) = locked_ledger(&db, &dir);
    let budget = Duration::from_secs(2);
    let start = Instant::now();
    let failed = db
        .migrator(&dir)
        .up(&UpOptions::default().lock_wait(budget), &mut no_progress)
        .unwrap_err();
    let took = start.elapsed();
    assert!(took < budget + Duration::from_secs(2), "up took {took:?}");
    assert_eq!(
        failed.error.kind,
        ErrorKind::LockTimeout,
        "{}",
        failed.error
    );
    assert!(
        failed
            .error
            .details
            .join("\n")
            .contains(&format!("pid {pid}")),
        "{:?}",
        failed.error
    );
    assert!(!db.table_exists("b"), "nothing ran");

    let start = Instant::now();
    let failed = db
        .migrator(&dir)
        .down(&DownOptions::default().lock_wait(budget), &mut no_progress)
        .unwrap_err();
    assert!(start.elapsed() < budget + Duration::from_secs(2));
    assert_eq!(
        failed.error.kind,
        ErrorKind::LockTimeout,
        "{}",
        failed.error
    );
    assert!(db.table_exists("a"), "nothing rolled back");
}

/// Our socket has keepalives on: Linux shows the keepalive timer (`tr` = 2) of an idle
/// connection in `/proc/net/tcp`. The driver connected without them would show none.
#[test]
fn our_connection_has_tcp_keepalives() {
    let db = TestDb::new("keepalive");
    let mut client = confiture::db::connect(&environment(&db.name)).unwrap();
    let port: u16 = apply_support::value(
        &mut client,
        "SELECT client_port FROM pg_stat_activity WHERE pid = pg_backend_pid()",
    )
    .unwrap()
    .parse()
    .unwrap();
    let local = format!(":{port:04X} ");
    let tcp = std::fs::read_to_string("/proc/net/tcp").expect("Linux /proc/net/tcp");
    let line = tcp
        .lines()
        .find(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| format!("{a} ").ends_with(&local))
        })
        .unwrap_or_else(|| panic!("our socket (port {port}) in /proc/net/tcp"));
    // Fields: sl local rem st tx:rx tr:when ..., `when` in hexadecimal clock ticks (USER_HZ,
    // 100 a second): the driver's own default waits two hours before its first probe.
    let timer = line.split_whitespace().nth(5).unwrap();
    let (kind, when) = timer.split_once(':').unwrap();
    assert_eq!(kind, "02", "no keepalive timer on {line}");
    let seconds = u64::from_str_radix(when, 16).unwrap() / 100;
    assert!(
        seconds <= 15, // confiture::db::connect::KEEPALIVE_IDLE
        "first probe in {seconds} s: {line}"
    );
    drop(client);
}
