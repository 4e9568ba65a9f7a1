//! The tool's own statements never wait forever: a lock another session holds on the ledger
//! bounds `status` (by `migration.lock_timeout`) and `up`/`down` (by `--lock-timeout`, which
//! covers the migration lock and the ledger read), then exits 6 naming the holder; and our
//! connection carries TCP keepalives, so a silent network ends as a lost connection.

use crate::apply_support;

use std::time::{Duration, Instant};

use apply_support::{environment, migrator_for, Dir, TestDb};
use confiture::migrate::{no_progress, DownOptions, UpOptions};
use confiture::{ErrorKind, Reason};

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

/// A database-level `statement_timeout` shorter than the wait for a lock on the ledger is the
/// user's bound for migration SQL, not for the tool's own ledger read: the read still waits its
/// own budget and ends as the lock timeout it is (exit 6, naming the holder), never as a
/// connection error (exit 3) blaming privileges — for every command that reads the ledger.
#[test]
fn a_database_statement_timeout_does_not_cut_the_wait_for_a_locked_ledger() {
    let db = TestDb::new("hang_dbst");
    let dir = Dir::new();
    let (_holder, pid) = locked_ledger(&db, &dir);
    db.client()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET statement_timeout = '200ms'",
            db.name
        ))
        .unwrap();
    let budget = Duration::from_millis(1500);
    let check = |what: &str, error: &confiture::Error, took: Duration| {
        assert_eq!(error.kind, ErrorKind::LockTimeout, "{what}: {error:?}");
        assert!(
            error.details.join("\n").contains(&format!("pid {pid}")),
            "{what}: {error:?}"
        );
        assert!(
            took >= budget - Duration::from_millis(100),
            "{what} waited its own budget, not the database's statement_timeout: {took:?}"
        );
    };

    let mut env = environment(&db.name);
    env.migration.lock_timeout = budget;
    let start = Instant::now();
    let error = migrator_for(env, &dir.path).status().unwrap_err();
    check("status", &error, start.elapsed());

    let start = Instant::now();
    let failed = db
        .migrator(&dir)
        .up(&UpOptions::default().lock_wait(budget), &mut no_progress)
        .unwrap_err();
    check("up", &failed.error, start.elapsed());

    let start = Instant::now();
    let failed = db
        .migrator(&dir)
        .down(&DownOptions::default().lock_wait(budget), &mut no_progress)
        .unwrap_err();
    check("down", &failed.error, start.elapsed());

    let start = Instant::now();
    let failed = db
        .migrator(&dir)
        .baseline(
            &confiture::migrate::BaselineOptions::through(2).lock_wait(budget),
            &mut no_progress,
        )
        .unwrap_err();
    check("baseline", &failed.error, start.elapsed());
    drop(_holder);
    assert_eq!(db.ledger(), ["001:a"], "nothing written");
}

/// A ledger write of the tool's own (`baseline`, `reinit`) that waits for a lock another
/// session holds is not cancelled by a database-level `statement_timeout` either: that is the
/// user's bound for migration SQL (README "Session state"), not for the tool's bookkeeping.
#[test]
fn a_database_statement_timeout_does_not_cancel_a_ledger_rewrite_waiting_for_a_lock() {
    let db = TestDb::new("hang_dbst_rw");
    let dir = Dir::new();
    dir.migration("001", "a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    dir.migration("002", "b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
    db.client()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET statement_timeout = '300ms'",
            db.name
        ))
        .unwrap();
    // SHARE lets the ledger be read, not written: the rewrite waits for it, ~1 s.
    let mut holder = db.client_as("ledger-sharer");
    holder
        .batch_execute("SET statement_timeout = 0; BEGIN; LOCK tb_confiture IN SHARE MODE")
        .unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        holder.batch_execute("COMMIT").unwrap();
    });
    db.migrator(&dir)
        .baseline(
            &confiture::migrate::BaselineOptions::through(2),
            &mut no_progress,
        )
        .unwrap_or_else(|f| panic!("baseline: {:?}", f.error));
    release.join().unwrap();
    assert_eq!(db.ledger(), ["001:a", "002:b"]);
}

/// The engine's own statements between two migrations of a message are not bounded by the
/// database's `statement_timeout` either: the server arms it at each statement, and `RESET
/// ALL` after a migration's row brought it back for the statements of ours that followed
/// (the drop of what the migration left in the session, the checks of its row), before the
/// run's `--statement-timeout` was set again. On a loaded machine they were cancelled under a
/// few milliseconds, even with `--statement-timeout 0`, and the migration failed ("no
/// statement_timeout was in force"). Made certain here by a lock: `002` mentions temp tables,
/// so after its row the engine drops the session's (`DISCARD TEMP`), and another session
/// holds a lock for 1 s on the one `001` left there; the drop waits for it past the database's
/// 300 ms.
#[test]
fn a_database_statement_timeout_does_not_bound_the_engines_statements_after_a_migration() {
    let db = TestDb::new("hang_dbst_after");
    let dir = Dir::new();
    // Its text does not say it creates a temporary table: nothing of it is dropped after it.
    dir.migration(
        "001",
        "a",
        "DO $$ BEGIN EXECUTE 'CREATE TE' || 'MP TABLE left_behind (a int)'; END $$;\n",
        "SELECT 1;\n",
    );
    dir.migration(
        "002",
        "b",
        "-- ends once another session holds a lock on the temp table 001 left\n\
         DO $$ BEGIN WHILE NOT EXISTS (SELECT FROM pg_locks l JOIN pg_class c ON c.oid = \
         l.relation WHERE c.relname = 'left_behind' AND l.pid <> pg_backend_pid() AND \
         l.granted) LOOP PERFORM pg_sleep(0.01); END LOOP; END $$;\n",
        "SELECT 1;\n",
    );
    db.client()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET statement_timeout = '300ms'",
            db.name
        ))
        .unwrap();
    let mut holder = db.client_as("temp-locker");
    holder.batch_execute("SET statement_timeout = 0").unwrap();
    let hold = std::thread::spawn(move || {
        let started = Instant::now();
        let table = loop {
            let found = holder
                .query_opt(
                    "SELECT pg_catalog.format('%I.left_behind', n.nspname) FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE c.relname = 'left_behind' AND c.relpersistence = 't'",
                    &[],
                )
                .unwrap();
            if let Some(row) = found {
                break row.get::<_, String>(0);
            }
            assert!(started.elapsed() < Duration::from_secs(60), "001 never ran");
            std::thread::sleep(Duration::from_millis(10));
        };
        holder
            .batch_execute(&format!("BEGIN; LOCK {table} IN ACCESS SHARE MODE"))
            .unwrap();
        std::thread::sleep(Duration::from_secs(1));
        holder.batch_execute("COMMIT").unwrap();
    });
    let up = db.migrator(&dir).up(
        &UpOptions::default().statement_timeout(Some(Duration::ZERO)),
        &mut no_progress,
    );
    hold.join().unwrap();
    if let Err(failed) = up {
        panic!("{}\n{:?}", failed.error, failed.error.help);
    }
    assert_eq!(db.ledger(), ["001:a", "002:b"]);
}

/// A lock that lets the ledger be read but not written (`SHARE`) bounds `baseline`'s write by
/// its lock wait, as it bounds the read: exit 6 naming the holder, nothing written — it waited
/// forever (or until a database `statement_timeout`, then exit 4 blaming the role's rights).
#[test]
fn a_ledger_rewrite_blocked_by_a_lock_exits_6_naming_the_holder() {
    let db = TestDb::new("hang_rewrite");
    let dir = Dir::new();
    dir.migration("001", "a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    dir.migration("002", "b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
    let mut holder = db.client_as("ledger-sharer");
    holder
        .batch_execute("BEGIN; LOCK tb_confiture IN SHARE MODE")
        .unwrap();
    let pid = apply_support::value(&mut holder, "SELECT pg_backend_pid()").unwrap();
    let budget = Duration::from_secs(1);
    let start = Instant::now();
    let failed = db
        .migrator(&dir)
        .baseline(
            &confiture::migrate::BaselineOptions::through(2).lock_wait(budget),
            &mut no_progress,
        )
        .unwrap_err();
    assert!(start.elapsed() < budget * 4, "{:?}", start.elapsed());
    let e = &failed.error;
    assert_eq!(e.kind, ErrorKind::LockTimeout, "{e:?}");
    assert!(e.message.contains("nothing was changed"), "{e:?}");
    assert!(
        e.details.join("\n").contains(&format!("pid {pid}")),
        "{e:?}"
    );
    drop(holder);
    assert_eq!(db.ledger(), ["001:a"]);
}

/// A database's `idle_in_transaction_session_timeout` is for sessions a client forgot inside a
/// transaction, not for the engine's, which is busy between the messages of one transaction:
/// `--single-transaction` (its `BEGIN`, then a message per migration) and a migration longer
/// than one message (sent in parts inside its transaction) ran into a 1 ms one and lost the
/// session (exit 3).
#[test]
fn a_database_idle_in_transaction_timeout_never_ends_the_engines_transactions() {
    let db = TestDb::new("hang_idle");
    db.client()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET idle_in_transaction_session_timeout = '1ms'",
            db.name
        ))
        .unwrap();
    let dir = Dir::new();
    dir.migration("001", "a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    dir.migration("002", "b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
    // Longer than one message (`MESSAGE_BUDGET`, 64 KiB): sent in parts in its transaction.
    let long: String = (0..3000)
        .map(|i| format!("INSERT INTO c VALUES ({i}, 'a row of text to make it long');\n"))
        .collect();
    dir.migration(
        "003",
        "c",
        &format!("CREATE TABLE c (id int, t text);\n{long}"),
        "DROP TABLE c;\n",
    );
    for round in 0..3 {
        db.migrator(&dir)
            .up(
                &UpOptions::default().single_transaction(true),
                &mut no_progress,
            )
            .unwrap_or_else(|f| panic!("{round}: up --single-transaction: {:?}", f.error));
        db.migrator(&dir)
            .down(&DownOptions::default().steps(Some(3)), &mut no_progress)
            .unwrap_or_else(|f| panic!("{round}: down: {:?}", f.error));
        db.migrator(&dir)
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap_or_else(|f| panic!("{round}: up: {:?}", f.error));
        db.migrator(&dir)
            .down(&DownOptions::default().steps(Some(3)), &mut no_progress)
            .unwrap_or_else(|f| panic!("{round}: down: {:?}", f.error));
    }
}

/// A migration longer than one message (sent in parts inside its transaction) that sets
/// `idle_in_transaction_session_timeout` itself — its first statement, `SET`, `SET LOCAL` or
/// `set_config`, or a `RESET ALL` under a database's 1 ms — was ended by the server between
/// two of its parts, every run (exit 3, 25P03): the tool's own pause tripped it. Up and down,
/// a run of one transaction per migration and `--single-transaction`; the migration's own
/// value is still the one its later statements see.
#[test]
fn a_migration_setting_a_short_idle_in_transaction_timeout_is_not_ended_between_its_parts() {
    let db = TestDb::new("hang_idle_own");
    db.client()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET idle_in_transaction_session_timeout = '1ms'",
            db.name
        ))
        .unwrap();
    let long = |table: &str| -> String {
        (0..3000)
            .map(|i| {
                format!("INSERT INTO {table} VALUES ({i}, 'a row of text to make it long');\n")
            })
            .collect()
    };
    // Each way of setting it, in one of the two ways of running (a test of 3,000-row files on
    // a shared machine: not all eight pairs).
    let cases = [
        ("SET idle_in_transaction_session_timeout = '1ms';", false),
        ("SET LOCAL idle_in_transaction_session_timeout = 1;", true),
        (
            "SELECT set_config('idle_in_transaction_session_timeout', '1ms', false);",
            true,
        ),
        ("RESET ALL;", false),
    ];
    for (case, (first, single)) in cases.into_iter().enumerate() {
        let dir = Dir::new();
        // The down file is long too once: sent in parts the same way.
        let down = match case {
            0 => format!("{first}\n{}DROP TABLE c;\n", long("c")),
            _ => "DROP TABLE c;\n".to_string(),
        };
        dir.migration(
            "001",
            "c",
            &format!(
                "{first}\nCREATE TABLE c (id int, t text);\n{}\
                 INSERT INTO c VALUES (-1, current_setting('idle_in_transaction_session_timeout'));\n",
                long("c")
            ),
            &down,
        );
        db.migrator(&dir)
            .up(
                &UpOptions::default().single_transaction(single),
                &mut no_progress,
            )
            .unwrap_or_else(|f| panic!("{case} {single}: up: {:?}", f.error));
        assert_eq!(
            db.value("SELECT t FROM c WHERE id = -1").as_deref(),
            Some("1ms"),
            "{case} {single}: the migration's own value held for its statements"
        );
        db.migrator(&dir)
            .down(&DownOptions::default().steps(Some(1)), &mut no_progress)
            .unwrap_or_else(|f| panic!("{case} {single}: down: {:?}", f.error));
    }
}

/// A second session holding `lock` (an SQL `LOCK` statement) in an open transaction, taken
/// once a session of `db` sleeps in `pg_sleep` (a migration's statement), and released when
/// the returned sender is dropped (or after 90 s). Waits until the lock is held.
fn lock_once_sleeping(db: &TestDb, lock: &str) -> std::sync::mpsc::Sender<()> {
    lock_once_sleeping_by(db, lock).0
}

/// [`lock_once_sleeping`], and the pid of the session holding the lock.
fn lock_once_sleeping_by(db: &TestDb, lock: &str) -> (std::sync::mpsc::Sender<()>, String) {
    let mut holder = db.client_as("catalog-locker");
    let pid = apply_support::value(&mut holder, "SELECT pg_backend_pid()").unwrap();
    let lock = lock.to_string();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (held, holding) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let sleeping = "SELECT pid::text FROM pg_stat_activity \
                        WHERE datname = current_database() AND wait_event = 'PgSleep' \
                        AND pid <> pg_backend_pid()";
        let deadline = Instant::now() + Duration::from_secs(30);
        while apply_support::value(&mut holder, sleeping).is_none() {
            assert!(Instant::now() < deadline, "the migration never slept");
            std::thread::sleep(Duration::from_millis(20));
        }
        holder.batch_execute(&format!("BEGIN; {lock}")).unwrap();
        let _ = held.send(());
        let _ = released.recv_timeout(Duration::from_secs(90));
        holder.batch_execute("ROLLBACK").unwrap();
    });
    holding
        .recv_timeout(Duration::from_secs(40))
        .expect("the lock was taken");
    (release, pid)
}

/// `migrate up` of `dir` on `db` with a lock wait of `wait`, on a thread of its own, expected
/// to fail: its failure and how long it took.
fn failing_up_in_background(
    db: &TestDb,
    dir: &Dir,
    wait: Duration,
) -> std::thread::JoinHandle<(
    confiture::migrate::Failed<confiture::migrate::UpReport>,
    Duration,
)> {
    let mut migrator = db.migrator(dir);
    std::thread::spawn(move || {
        let start = Instant::now();
        let failed = migrator
            .up(&UpOptions::default().lock_wait(wait), &mut no_progress)
            .unwrap_err();
        (failed, start.elapsed())
    })
}

/// The reads that explain a failed migration (the lock it may have released, who held what,
/// the INVALID indexes it left, the durations of what committed) wait for no lock another
/// session holds on a catalog longer than a short bound: the migration's own failure is
/// reported at once, exit 4 with its file, saying that part of the explanation was left out
/// — not after that session's `LOCK pg_catalog.pg_class` (or `VACUUM FULL pg_class`) ends.
/// In a transaction and without one.
#[test]
fn a_failed_migration_is_reported_while_a_catalog_is_locked() {
    for (case, marker) in [("tx", ""), ("nt", "-- confiture:no-transaction\n")] {
        let db = TestDb::new(&format!("hang_catalog_{case}"));
        let dir = Dir::new();
        dir.table("001", "first", "first").migration(
            "002",
            "boom",
            &format!(
                "{marker}DO $$ BEGIN PERFORM pg_catalog.pg_sleep(1); \
                 RAISE EXCEPTION 'boom'; END $$;\n"
            ),
            "SELECT 1;\n",
        );
        // The deletion of the no-transaction migration's start marker is a write of the run,
        // which waits for the lock as long as `--lock-wait` says.
        let run = failing_up_in_background(&db, &dir, Duration::from_secs(2));
        let release = lock_once_sleeping(&db, "LOCK pg_catalog.pg_class IN ACCESS EXCLUSIVE MODE");
        let (failed, took) = run.join().unwrap();
        drop(release);
        // Each message after the failure may first wait its bound for the catalog's lock
        // (when the session must read the catalogs again to run it), never the holder's 90 s.
        assert!(took < Duration::from_secs(20), "{case}: took {took:?}");
        assert_eq!(failed.error.exit_code(), 4, "{case}: {}", failed.error);
        let Reason::Migration(m) = failed.error.reason() else {
            panic!("{case}: no migration in {:?}", failed.error);
        };
        assert_eq!(m.version, "002", "{case}");
        assert!(
            failed
                .error
                .details
                .iter()
                .any(|d| d.contains("explanation of this failure was left out")),
            "{case}: {:?}",
            failed.error
        );
        assert_eq!(db.ledger(), ["001:first"], "{case}");
    }
}

/// A stopped no-transaction migration that committed nothing deletes its own start marker,
/// but a lock on the markers' table held by another session does not hold the stop: the
/// deletion waits a second at most (not `--lock-wait`), and the stop ends at once saying that
/// the marker was left, that the next run refuses the migration as interrupted, and how to
/// go on.
#[test]
fn a_stop_is_not_held_by_a_lock_on_the_start_markers() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let db = TestDb::new("hang_settle");
    let dir = Dir::new();
    dir.table("001", "first", "first").migration(
        "002",
        "slow",
        "-- confiture:no-transaction\nDO $$ BEGIN PERFORM pg_catalog.pg_sleep(60); END $$;\n",
        "SELECT 1;\n",
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut migrator = db.migrator(&dir).stop_when(stop.clone());
    let run = std::thread::spawn(move || {
        migrator
            .up(
                &UpOptions::default().lock_wait(Duration::from_secs(30)),
                &mut no_progress,
            )
            .unwrap_err()
    });
    let release = lock_once_sleeping(&db, "LOCK tb_confiture_started IN SHARE MODE");
    let stopped = Instant::now();
    stop.store(true, Ordering::SeqCst);
    let failed = run.join().unwrap();
    let took = stopped.elapsed();
    drop(release);
    assert!(took < Duration::from_secs(4), "the stop took {took:?}");
    assert_eq!(
        failed.error.kind,
        ErrorKind::Interrupted,
        "{}",
        failed.error
    );
    let details = failed.error.details.join("\n");
    assert!(
        details.contains("start marker") && details.contains("could not be deleted"),
        "{:?}",
        failed.error
    );
    let help = failed.error.help.clone().unwrap_or_default();
    assert!(help.contains("--rerun-interrupted"), "{help}");
    let mut client = db.client();
    assert_eq!(
        apply_support::value(
            &mut client,
            "SELECT string_agg(version, ',') FROM tb_confiture_started"
        )
        .as_deref(),
        Some("002"),
        "the marker is left"
    );
}

/// The catalog reads before a no-transaction migration's statements (the INVALID indexes it
/// would build again, the tracking table's identity) wait for a lock another session holds on
/// a catalog (`LOCK pg_catalog.pg_index`, `VACUUM FULL pg_index`) no longer than the
/// command's `--lock-wait`: exit 6 naming the holder, nothing of the migration run, never a
/// lost connection nor a wait as long as the holder's.
#[test]
fn a_no_transaction_migrations_catalog_reads_wait_no_longer_than_the_lock_wait() {
    let db = TestDb::new("hang_nt_reads");
    let dir = Dir::new();
    dir.table("001", "first", "first").migration(
        "002",
        "concurrently",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY first_id ON first (id);\n",
        "DROP INDEX first_id;\n",
    );
    db.migrator(&dir)
        .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
        .unwrap();
    // The lock is taken once 002 starts, by a thread that holds it until the run ends (30 s at
    // most: the run, bounded, ends long before).
    let (take, taking) = std::sync::mpsc::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (held, holding) = std::sync::mpsc::channel::<String>();
    let mut holder = db.client_as("catalog-locker");
    std::thread::spawn(move || {
        if taking.recv().is_err() {
            return;
        }
        let pid = apply_support::value(&mut holder, "SELECT pg_backend_pid()").unwrap();
        holder
            .batch_execute("BEGIN; LOCK pg_catalog.pg_index IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        let _ = held.send(pid);
        let _ = released.recv_timeout(Duration::from_secs(30));
        holder.batch_execute("ROLLBACK").unwrap();
    });
    let mut pid = None;
    let start = Instant::now();
    let failed = db
        .migrator(&dir)
        .up(
            &UpOptions::default().lock_wait(Duration::from_secs(2)),
            &mut |p: confiture::migrate::Progress| {
                if let confiture::migrate::Progress::Started { version, .. } = p {
                    if version == "002" && pid.is_none() {
                        take.send(()).unwrap();
                        pid = Some(holding.recv().unwrap());
                    }
                }
            },
        )
        .unwrap_err();
    let took = start.elapsed();
    drop(release);
    let pid = pid.unwrap_or_else(|| panic!("002 never started: {:?}", failed.error));
    assert!(took < Duration::from_secs(10), "up took {took:?}");
    assert_eq!(
        failed.error.kind,
        ErrorKind::LockTimeout,
        "{:?}",
        failed.error
    );
    assert_eq!(failed.error.exit_code(), 6);
    let details = failed.error.details.join("\n");
    assert!(
        details.contains(&format!("pid {pid}")) && details.contains("catalog-locker"),
        "{:?}",
        failed.error
    );
    assert!(
        details.contains("nothing of") && !failed.error.message.contains("connection"),
        "{:?}",
        failed.error
    );
    assert_eq!(db.ledger(), ["001:first"]);
}

/// The tool's own statements around a migration's body (the checks before its ledger row name
/// `pg_attribute`, which the server locks while it parses them) wait for a lock another session
/// holds on that catalog no longer than the command's `--lock-wait`: exit 6 naming the holder,
/// the migration rolled back and not recorded — never retried as the migration's own
/// contention (`migration.lock_retries` times its `lock_timeout`), nor reported as the
/// ledger's failure (exit 5). Going up and down; and with `pg_proc` locked too, where the read
/// after the failure gives up as well (its functions are looked up there) and the session is
/// closed: the wait is still ours, said as such (it was "writing the tracking table failed",
/// exit 5, which a loaded machine's cache resets could give with `pg_attribute` alone).
#[test]
fn our_statements_around_a_migration_wait_for_a_locked_catalog_no_longer_than_the_lock_wait() {
    let catalogs = [
        "pg_catalog.pg_attribute",
        "pg_catalog.pg_attribute, pg_catalog.pg_proc",
    ];
    let runs = ["up", "down"]
        .into_iter()
        .flat_map(|d| catalogs.map(|c| (d, c)));
    for (direction, catalogs) in runs {
        let read_too = catalogs.contains("pg_proc");
        let db = TestDb::new(&format!("hang_own_{direction}_{read_too}"));
        let dir = Dir::new();
        let sleep = "DO $$ BEGIN PERFORM pg_catalog.pg_sleep(1); END $$;\n";
        let (up, down) = match direction {
            "up" => (sleep, "SELECT 1;\n"),
            _ => ("SELECT 1;\n", sleep),
        };
        dir.table("001", "first", "first")
            .migration("002", "slow", up, down);
        if direction == "down" {
            db.migrator(&dir)
                .up(&UpOptions::default(), &mut no_progress)
                .unwrap();
        } else {
            db.migrator(&dir)
                .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
                .unwrap();
        }
        let migrator = db.migrator(&dir);
        let run = std::thread::spawn(move || {
            let mut migrator = migrator;
            let mut events = Vec::new();
            let start = Instant::now();
            let wait = Duration::from_secs(2);
            let failed = match direction {
                "up" => {
                    migrator
                        .up(
                            &UpOptions::default().lock_wait(wait),
                            &mut apply_support::recorder(&mut events),
                        )
                        .unwrap_err()
                        .error
                }
                _ => {
                    migrator
                        .down(
                            &DownOptions::default().steps(Some(1)).lock_wait(wait),
                            &mut apply_support::recorder(&mut events),
                        )
                        .unwrap_err()
                        .error
                }
            };
            (failed, start.elapsed(), events)
        });
        let (release, pid) =
            lock_once_sleeping_by(&db, &format!("LOCK {catalogs} IN ACCESS EXCLUSIVE MODE"));
        let (failed, took, events) = run.join().unwrap();
        drop(release);
        // The lock wait (2 s) and the failure's bounded reads (500 ms each), with slack for a
        // loaded machine; the migration's retries (three, each its lock_timeout and a
        // backoff) took 30 s.
        assert!(took < Duration::from_secs(20), "{direction}: took {took:?}");
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, confiture::migrate::Progress::Retrying { .. })),
            "{direction}: retried as contention: {events:?}"
        );
        assert_eq!(
            failed.kind,
            ErrorKind::LockTimeout,
            "{direction}: {}",
            failed
        );
        assert_eq!(failed.exit_code(), 6);
        assert!(
            failed.message.contains("system catalog") && failed.message.contains("002_slow"),
            "{direction}: {}",
            failed
        );
        // Named, though a lock on `pg_attribute` keeps this session from reading `pg_locks`
        // (and with `pg_proc` locked too the read after the failure gives up and closes it):
        // asked from a maintenance database.
        let details = failed.details.join("\n");
        assert!(
            details.contains(&format!("pid {pid}")) && details.contains("catalog-locker"),
            "{direction} {catalogs}: {:?}",
            failed
        );
        let expected: &[&str] = match direction {
            "up" => &["001:first"],
            _ => &["001:first", "002:slow"],
        };
        assert_eq!(db.ledger(), expected, "{direction}");
    }
}

/// The read that follows a failed message of migrations (the `ROLLBACK`, then how far the
/// message got and which of our prepared statements it left, `batch::rollback_and_read`) looks
/// its functions up in catalogs another session may lock (`LOCK pg_catalog.pg_proc`,
/// `VACUUM FULL pg_aggregate`) right after the failure: it gives up within the command's
/// `--lock-wait`, and the migration's own failure is still reported (exit 4, its file), first,
/// within that bound — not after the holder's 90 s.
#[test]
fn a_failure_is_reported_within_the_lock_wait_when_a_catalog_is_locked_right_after_it() {
    // Alone in its message, and last of a message of two (where the read also says how far
    // the message got).
    for batched in [false, true] {
        let db = TestDb::new(&format!("hang_after_{batched}"));
        let dir = Dir::new();
        dir.table("001", "first", "first");
        if batched {
            dir.table("002", "second", "second");
        }
        let boom = if batched { "003" } else { "002" };
        dir.migration(
            boom,
            "boom",
            "DO $$ BEGIN PERFORM pg_catalog.pg_sleep(1); RAISE EXCEPTION 'boom'; END $$;\n",
            "SELECT 1;\n",
        );
        db.migrator(&dir)
            .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
            .unwrap();
        let run = failing_up_in_background(&db, &dir, Duration::from_secs(2));
        let release = lock_once_sleeping(&db, "LOCK pg_catalog.pg_proc IN ACCESS EXCLUSIVE MODE");
        let (failed, took) = run.join().unwrap();
        drop(release);
        // The read's lock wait (2 s) and the bounded reads after it, with slack for a loaded
        // machine: never the holder's 90 s.
        assert!(took < Duration::from_secs(20), "{batched}: took {took:?}");
        assert_eq!(failed.error.exit_code(), 4, "{batched}: {}", failed.error);
        // The migration's own error first: named as the one that raised it, or, when the
        // read could not say how far the message got (a loaded server: the session's caches
        // lost, its marker unread), as the message's first, saying any of them may have.
        let said = failed.error.message_with_cause();
        let named = said.contains(&format!("{boom}_boom"))
            || (batched
                && said.contains("002_second")
                && failed
                    .error
                    .details
                    .iter()
                    .any(|d| d.contains("any of them may have raised it")));
        assert!(
            said.contains("boom") && named,
            "{batched}: the migration's own error first: {:?}",
            failed.error
        );
        assert!(
            failed
                .error
                .details
                .iter()
                .any(|d| d.contains("could not be read") && d.contains("session was closed")),
            "{batched}: {:?}",
            failed.error
        );
        let ledger = db.ledger();
        assert!(
            !ledger.iter().any(|row| row.starts_with("003")),
            "{ledger:?}"
        );
    }
}

/// `up --single-transaction`: the tool's own statements around each migration of the one
/// transaction (the checks before its ledger row name `pg_attribute`) wait for a lock another
/// session holds on a catalog no longer than the command's `--lock-wait`, as a run of one
/// transaction per migration's do: exit 6 about a system catalog, the whole run rolled back —
/// never retried as the migration's contention (`migration.lock_retries` times its
/// `lock_timeout` and a backoff). With `pg_proc` locked too, where the read after the failure
/// gives up as well.
#[test]
fn a_single_transactions_own_statements_wait_for_a_locked_catalog_no_longer_than_the_lock_wait() {
    for catalogs in [
        "pg_catalog.pg_attribute",
        "pg_catalog.pg_attribute, pg_catalog.pg_proc",
    ] {
        let read_too = catalogs.contains("pg_proc");
        let db = TestDb::new(&format!("hang_own_single_{read_too}"));
        let dir = Dir::new();
        dir.table("001", "first", "first").migration(
            "002",
            "slow",
            "DO $$ BEGIN PERFORM pg_catalog.pg_sleep(1); END $$;\n",
            "SELECT 1;\n",
        );
        dir.table("003", "third", "third");
        // 001 applied before: the first migration of the one transaction is the one that
        // sleeps, so that no check of an earlier one holds the catalog's lock already.
        db.migrator(&dir)
            .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
            .unwrap();
        let mut migrator = db.migrator(&dir);
        let run = std::thread::spawn(move || {
            let mut events = Vec::new();
            let start = Instant::now();
            let failed = migrator
                .up(
                    &UpOptions::default()
                        .single_transaction(true)
                        .lock_wait(Duration::from_secs(2)),
                    &mut apply_support::recorder(&mut events),
                )
                .unwrap_err()
                .error;
            (failed, start.elapsed(), events)
        });
        let (release, pid) =
            lock_once_sleeping_by(&db, &format!("LOCK {catalogs} IN ACCESS EXCLUSIVE MODE"));
        let (failed, took, events) = run.join().unwrap();
        drop(release);
        assert!(took < Duration::from_secs(20), "{catalogs}: took {took:?}");
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, confiture::migrate::Progress::Retrying { .. })),
            "{catalogs}: retried as contention: {events:?}"
        );
        assert_eq!(failed.kind, ErrorKind::LockTimeout, "{catalogs}: {failed}");
        assert_eq!(failed.exit_code(), 6);
        assert!(
            failed.message.contains("system catalog") && failed.message.contains("002_slow"),
            "{catalogs}: {failed}"
        );
        let details = failed.details.join("\n");
        assert!(
            details.contains("the whole run was one transaction"),
            "{catalogs}: {failed:?}"
        );
        assert!(
            details.contains(&format!("pid {pid}")) && details.contains("catalog-locker"),
            "{catalogs}: {failed:?}"
        );
        assert_eq!(db.ledger(), ["001:first"], "{catalogs}");
    }
}

/// What the run sends after a failed migration once the read after the failure is done —
/// making durable what committed before it (`apply::make_durable`, one function of
/// `pg_proc` the session has not looked up yet), then releasing the migration lock — waits
/// for a lock another session takes on a catalog (`LOCK pg_catalog.pg_proc`) no longer than
/// the command's `--lock-wait`: the migration's own failure is reported first (exit 4, its
/// file), with a detail saying what could not be done — not after the holder's 90 s (before
/// the fix: 90 s). The session has
/// run a failed migration before (a `Migrator` kept across commands), so the read after the
/// failure finds what it looks up in its caches and gets past the lock.
#[test]
fn what_follows_a_failure_waits_for_a_locked_catalog_no_longer_than_the_lock_wait() {
    let db = TestDb::new("hang_durable");
    let dir = Dir::new();
    dir.table("001", "gate", "gate")
        .migration(
            "002",
            "gated",
            "SELECT 1 / (SELECT count(*)::int FROM gate);\n",
            "SELECT 1;\n",
        )
        .migration(
            "003",
            "boom",
            "DO $$ BEGIN PERFORM pg_catalog.pg_sleep(1); RAISE EXCEPTION 'boom'; END $$;\n",
            "SELECT 1;\n",
        );
    let mut client = db.client();
    db.migrator(&dir)
        .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
        .unwrap();
    let mut migrator = db.migrator(&dir);
    // 002 fails first of its run: nothing before it to make durable.
    let first = migrator
        .up(
            &UpOptions::default().lock_wait(Duration::from_secs(2)),
            &mut no_progress,
        )
        .unwrap_err();
    assert!(
        first
            .error
            .message_with_cause()
            .contains("division by zero"),
        "{}",
        first.error
    );
    client.batch_execute("INSERT INTO gate VALUES (1)").unwrap();
    let run = std::thread::spawn(move || {
        let start = Instant::now();
        let failed = migrator
            .up(
                &UpOptions::default().lock_wait(Duration::from_secs(2)),
                &mut no_progress,
            )
            .unwrap_err();
        (failed, start.elapsed())
    });
    let release = lock_once_sleeping(&db, "LOCK pg_catalog.pg_proc IN ACCESS EXCLUSIVE MODE");
    let (failed, took) = run.join().unwrap();
    drop(release);
    assert!(
        took < Duration::from_secs(20),
        "took {took:?}: {}",
        failed.error
    );
    assert_eq!(failed.error.exit_code(), 4, "{}", failed.error);
    assert!(
        failed.error.message_with_cause().contains("boom"),
        "{}",
        failed.error
    );
    let Reason::Migration(m) = failed.error.reason() else {
        panic!("no migration in {:?}", failed.error);
    };
    // The migration's own failure first, then what could not be done after it: the flush
    // waited the lock wait; or, on a loaded server whose caches the session lost, the read
    // before it gave up already (the session closed, 002's durability unknown, never waited
    // for longer either).
    let details = failed.error.details.join("\n");
    let flush_gave_up = details.contains("002 committed, but could not be flushed")
        && details.contains("lock wait");
    let read_gave_up = m.durability_unknown == ["002"]
        && details.contains("could not be read within 2s (the command's lock wait");
    assert!(flush_gave_up || read_gave_up, "{:?}", failed.error);
    assert_eq!(m.version, "003");
    assert_eq!(m.committed, ["002"]);
    assert_eq!(db.ledger(), ["001:gate", "002:gated"]);
}

/// A lock wait of the tool's own statements around a migration, behind another session's lock
/// on `pg_attribute`, names that session even though the run's own session cannot read
/// `pg_locks` then (its look-ups wait for the same lock; with `pg_proc` locked too, the read
/// after the failure gives up and the session is closed): a session on a maintenance database
/// of the server asks, as a connection that timed out behind such a lock does
/// (`connect::catalog_lock_holders`), within the command's lock wait. One transaction per
/// migration, and `--single-transaction`.
#[test]
fn a_lock_wait_of_our_own_statements_names_the_catalogs_holder_from_a_maintenance_database() {
    let catalogs = [
        "pg_catalog.pg_attribute",
        "pg_catalog.pg_attribute, pg_catalog.pg_proc",
    ];
    let runs = [false, true]
        .into_iter()
        .flat_map(|single| catalogs.map(|c| (single, c)));
    for (single, catalogs) in runs {
        let read_too = catalogs.contains("pg_proc");
        let db = TestDb::new(&format!("hang_named_{single}_{read_too}"));
        let dir = Dir::new();
        dir.table("001", "first", "first")
            .migration(
                "002",
                "slow",
                "DO $$ BEGIN PERFORM pg_catalog.pg_sleep(1); END $$;\n",
                "SELECT 1;\n",
            )
            .table("003", "third", "third");
        db.migrator(&dir)
            .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
            .unwrap();
        let mut migrator = db.migrator(&dir);
        let run = std::thread::spawn(move || {
            let start = Instant::now();
            let failed = migrator
                .up(
                    &UpOptions::default()
                        .single_transaction(single)
                        .lock_wait(Duration::from_secs(2)),
                    &mut no_progress,
                )
                .unwrap_err()
                .error;
            (failed, start.elapsed())
        });
        let (release, pid) =
            lock_once_sleeping_by(&db, &format!("LOCK {catalogs} IN ACCESS EXCLUSIVE MODE"));
        let (failed, took) = run.join().unwrap();
        drop(release);
        let case = format!("single {single}, {catalogs}");
        // The lock wait, the ask from a maintenance database (up to one lock wait a
        // database) and a loaded machine's slack: never the holder's 90 s.
        assert!(took < Duration::from_secs(40), "{case}: took {took:?}");
        assert_eq!(failed.exit_code(), 6, "{case}: {failed:?}");
        assert!(
            failed.message.contains("system catalog"),
            "{case}: {failed}"
        );
        let details = failed.details.join("\n");
        assert!(
            details.contains(&format!("held by pid {pid}")) && details.contains("catalog-locker"),
            "{case}: {failed:?}"
        );
        let Reason::Migration(m) = failed.reason() else {
            panic!("{case}: no migration in {failed:?}");
        };
        assert_eq!(m.lock_holders.len(), 1, "{case}: {failed:?}");
        assert_eq!(db.ledger(), ["001:first"], "{case}");
    }
}

/// A wait that ends the run by rule — one of the tool's own statements behind another
/// session's lock on a system catalog, or the ledger row behind a lock on the tracking table —
/// is never the migration's contention, even when an earlier attempt of the migration met a
/// lock of its own (a table another session locked) and was retried: the failure does not say
/// that the retries ran out ("gave up after 2 attempts (migration.lock_retries = 3)", before
/// the fix), only that the earlier attempt was retried. Up and down, one transaction per
/// migration and `--single-transaction`.
#[test]
fn a_wait_never_retried_does_not_say_the_retries_ran_out_after_a_retried_attempt() {
    let locks = [
        "LOCK pg_catalog.pg_attribute IN ACCESS EXCLUSIVE MODE",
        "LOCK tb_confiture IN ACCESS EXCLUSIVE MODE",
    ];
    let runs = [("up", false), ("down", false), ("up", true)]
        .into_iter()
        .flat_map(|run| locks.map(|lock| (run, lock)));
    for ((direction, single), lock) in runs {
        let case = format!("{direction} single={single} {lock}");
        let db = TestDb::new("hang_retried_then_ours");
        let dir = Dir::new();
        // Its first attempt waits for `busy` (the migration's contention, retried), its
        // second gets it and sleeps, while the lock that ends the run is taken (2 s: time
        // enough, on a loaded machine, for the holder to connect and see it sleep).
        let contended = "LOCK TABLE busy IN ACCESS SHARE MODE;\n\
                         DO $$ BEGIN PERFORM pg_catalog.pg_sleep(2); END $$;\n";
        let (up, down) = match direction {
            "up" => (contended, "SELECT 1;\n"),
            _ => ("SELECT 1;\n", contended),
        };
        dir.table("001", "first", "first")
            .migration("002", "contended", up, down);
        let before = match direction {
            "up" => Some(1),
            _ => None,
        };
        db.migrator(&dir)
            .up(&UpOptions::default().steps(before), &mut no_progress)
            .unwrap();
        db.client()
            .batch_execute("CREATE TABLE busy (id int)")
            .unwrap();
        let traffic = apply_support::traffic_holding(&db, "busy");
        let (retried, retrying) = std::sync::mpsc::channel::<()>();
        let mut migrator = db.migrator(&dir);
        let run = std::thread::spawn(move || {
            let mut events = Vec::new();
            let mut traffic = Some(traffic);
            let mut progress = |p: confiture::migrate::Progress| {
                if matches!(p, confiture::migrate::Progress::Retrying { .. }) {
                    // The table is free for the next attempt, before it is sent.
                    if let Some(mut traffic) = traffic.take() {
                        traffic.batch_execute("COMMIT").unwrap();
                        let _ = retried.send(());
                    }
                }
                events.push(p);
            };
            let wait = Duration::from_secs(2);
            let contention = Some(Duration::from_millis(200));
            let failed = match direction {
                "up" => {
                    migrator
                        .up(
                            &UpOptions::default()
                                .single_transaction(single)
                                .lock_timeout_statement(contention)
                                .lock_wait(wait),
                            &mut progress,
                        )
                        .unwrap_err()
                        .error
                }
                _ => {
                    migrator
                        .down(
                            &DownOptions::default()
                                .steps(Some(1))
                                .lock_timeout_statement(contention)
                                .lock_wait(wait),
                            &mut progress,
                        )
                        .unwrap_err()
                        .error
                }
            };
            (failed, events)
        });
        retrying
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{case}: never retried"));
        let (release, pid) = lock_once_sleeping_by(&db, lock);
        let (failed, events) = run.join().unwrap();
        drop(release);
        let retries = events
            .iter()
            .filter(|e| matches!(e, confiture::migrate::Progress::Retrying { .. }))
            .count();
        assert_eq!(retries, 1, "{case}: {events:?}");
        assert_eq!(failed.exit_code(), 6, "{case}: {failed:?}");
        assert!(
            failed.details.join("\n").contains(&format!("pid {pid}")),
            "{case}: {failed:?}"
        );
        assert!(
            !failed.details.iter().any(|d| d.contains("gave up after")),
            "{case}: a wait never retried said the retries ran out: {failed:?}"
        );
        assert!(
            failed.details.iter().any(|d| d.contains(
                "this was attempt 2: the attempt before it waited for a lock of a migration's \
                 own and was retried"
            )),
            "{case}: {failed:?}"
        );
        let expected: &[&str] = match direction {
            "up" => &["001:first"],
            _ => &["001:first", "002:contended"],
        };
        assert_eq!(db.ledger(), expected, "{case}");
    }
}
