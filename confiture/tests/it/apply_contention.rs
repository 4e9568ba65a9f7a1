//! Migrations meeting other sessions: table locks (lock_timeout, retries), `CREATE INDEX
//! CONCURRENTLY` outside a transaction, and a backend terminated mid-migration.

use crate::apply_support;

use std::time::{Duration, Instant};

use apply_support::{recorder, Dir, TestDb};
use confiture::migrate::{no_progress, BaselineOptions, DownOptions, Progress, UpOptions};
use confiture::{ErrorKind, Reason};

/// A database of its own (`prefix`) with a table `busy`, and a directory whose one migration,
/// `001_alter_busy`, adds a column to it.
fn busy_table(prefix: &str) -> (TestDb, Dir) {
    let db = TestDb::new(prefix);
    db.client()
        .batch_execute("CREATE TABLE busy (id int)")
        .unwrap();
    let dir = Dir::new();
    dir.migration(
        "001",
        "alter_busy",
        "ALTER TABLE busy ADD COLUMN note text;\n",
        "ALTER TABLE busy DROP COLUMN note;\n",
    );
    (db, dir)
}

#[test]
fn a_migration_blocked_by_a_table_lock_is_retried_until_the_lock_is_released() {
    let (db, dir) = busy_table("retry");

    let mut other = apply_support::traffic_holding(&db, "busy");
    // Released once the run has waited for the lock, and past its 200 ms lock_timeout: a
    // release at a fixed 500 ms came before the run's first attempt on a loaded machine.
    let mut watch = db.client();
    let release = std::thread::spawn(move || {
        let started = Instant::now();
        while !watch
            .query_one(
                "SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                 WHERE c.relname = 'busy' AND NOT l.granted)",
                &[],
            )
            .unwrap()
            .get::<_, bool>(0)
        {
            assert!(started.elapsed() < Duration::from_secs(120), "never waited");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(500));
        other.batch_execute("COMMIT").unwrap();
    });
    let mut events = Vec::new();
    let options = UpOptions::default()
        .lock_timeout_statement(Some(Duration::from_millis(200)))
        .allow_non_empty(true);
    let report = db
        .migrator(&dir)
        .up(&options, &mut recorder(&mut events))
        .unwrap();
    release.join().unwrap();
    assert_eq!(report.applied, ["001"]);
    let retries = events
        .iter()
        .filter(|e| matches!(e, Progress::Retrying { .. }))
        .count();
    assert!(retries >= 1, "{events:?}");
    assert_eq!(db.ledger(), ["001:alter_busy"]);
}

/// The retries of a migration behind a lock that is never released run out: it fails without
/// a trace, saying so ("gave up after 2 attempts"). One transaction per migration, and
/// `--single-transaction` (which said nothing of its attempts before).
#[test]
fn a_lock_that_is_never_released_fails_after_the_retries_without_a_trace() {
    for single in [false, true] {
        a_lock_never_released(single);
    }
}

fn a_lock_never_released(single: bool) {
    let db = TestDb::new("noretry");
    db.client()
        .batch_execute("CREATE TABLE busy (id int)")
        .unwrap();
    let dir = Dir::new();
    dir.migration(
        "001",
        "alter_busy",
        "CREATE TABLE side (id int);\nALTER TABLE busy ADD COLUMN note text;\n",
        "SELECT 1;\n",
    );
    let other = apply_support::traffic_holding(&db, "busy");

    let (failed, events) = up_failing_on_a_held_lock(&db, &dir, single, 1, other);
    assert_eq!(failed.error.kind, ErrorKind::MigrationFailed);
    // A runtime error has no position: the statement markers name the statement that waited.
    assert!(
        failed.error.message_with_cause().contains(
            "001_alter_busy.up.sql:2:1 (statement 2 of 2): canceling statement due to lock timeout"
        ),
        "{}",
        failed.error.message
    );
    assert_eq!(failed.report.errors[0].sqlstate.as_deref(), Some("55P03"));
    assert!(
        failed
            .error
            .details
            .iter()
            .any(|d| d.contains("gave up after 2 attempts")),
        "{:?}",
        failed.error.details
    );
    assert!(failed
        .error
        .help
        .as_deref()
        .unwrap_or("")
        .contains("lock_timeout 100ms"));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Progress::Retrying { .. }))
            .count(),
        1
    );
    assert!(db.ledger().is_empty() && !db.table_exists("side"));
}

#[test]
fn statement_timeout_applies_to_migration_sql() {
    let db = TestDb::new("stmttimeout");
    let dir = Dir::new();
    dir.migration("001", "slow", "SELECT pg_sleep(5);\n", "SELECT 1;\n");
    let start = Instant::now();
    let options = UpOptions::default().statement_timeout(Some(Duration::from_millis(200)));
    let failed = db
        .migrator(&dir)
        .up(&options, &mut no_progress)
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(4));
    assert_eq!(failed.report.errors[0].sqlstate.as_deref(), Some("57014"));
    assert!(failed
        .error
        .help
        .as_deref()
        .unwrap_or("")
        .contains("statement_timeout (200ms)"));
    assert!(db.ledger().is_empty());
}

const CIC_UP: &str = "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n";
const CIC_DOWN: &str = "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t_id;\n";

#[test]
fn create_index_concurrently_applies_and_rolls_back() {
    let db = TestDb::new("cic");
    let dir = Dir::new();
    dir.migration(
        "001",
        "t",
        "CREATE TABLE t (id int);\nINSERT INTO t SELECT generate_series(1, 100);\n",
        "DROP TABLE t;\n",
    )
    .migration("002", "t_id", CIC_UP, CIC_DOWN);
    let report = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(report.applied, ["001", "002"]);
    assert_eq!(
        serde_json::to_value(&report.migrations[1]).unwrap()["mode"],
        "no_transaction"
    );
    assert!(db.table_exists("t_id"));
    // Session settings were reset after the statements.
    assert_eq!(db.ledger().len(), 2);

    let report = db
        .migrator(&dir)
        .down(&DownOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(report.rolled_back, ["002"]);
    assert!(!db.table_exists("t_id"));
    assert_eq!(db.ledger(), ["001:t"]);
}

#[test]
fn a_failed_concurrent_build_reports_the_invalid_index_and_what_was_committed() {
    let db = TestDb::new("cicfail");
    let dir = Dir::new();
    dir.migration("001", "t", "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1), (1);\n", "DROP TABLE t;\n")
        .migration(
            "002",
            "uniq",
            "-- confiture:no-transaction\nCREATE TABLE side (id int);\n\nCREATE UNIQUE INDEX CONCURRENTLY t_uniq ON t (id);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS t_uniq;\nDROP TABLE side;\n",
        );
    let failed = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    let err = &failed.error;
    assert_eq!(err.kind, ErrorKind::MigrationFailed);
    assert!(
        err.message
            .contains("002_uniq.up.sql:4:1 (statement 2 of 2)"),
        "{}",
        err.message
    );
    let details = err.details.join("\n");
    assert!(details.contains("statement 1 was committed"), "{details}");
    assert!(
        details.contains("index public.t_uniq was left INVALID"),
        "{details}"
    );
    assert!(
        // One form of the drop in the error (hlk 3): the help's.
        details.contains("`DROP INDEX CONCURRENTLY public.t_uniq;`")
            && !details.contains("IF EXISTS"),
        "{details}"
    );
    assert_eq!(db.ledger(), ["001:t"], "not recorded");
    assert!(db.table_exists("side"), "statement 1 stays committed");
    // The session-level timeouts were reset on the failure path too.
    assert_eq!(failed.report.errors[0].line, Some(4));
}

#[test]
fn a_backend_terminated_mid_migration_leaves_no_trace_and_the_next_run_applies_it() {
    let db = TestDb::new("terminated");
    let dir = Dir::new();
    dir.migration(
        "001",
        "slow",
        "CREATE TABLE half (id int);\nSELECT pg_sleep(30);\n",
        "DROP TABLE half;\n",
    );
    let mut env = apply_support::environment(&db.name);
    env.application_name = "doomed-deploy".to_string();
    let path = dir.path.clone();
    let runner = std::thread::spawn(move || {
        let start = Instant::now();
        let mut migrator = apply_support::migrator_for(env, &path);
        let result = migrator.up(&UpOptions::default(), &mut no_progress);
        (migrator, result, start.elapsed())
    });

    let mut watcher = db.client();
    let deadline = Instant::now() + Duration::from_secs(10);
    let pid = loop {
        let found = apply_support::value(
            &mut watcher,
            "SELECT pid::text FROM pg_stat_activity WHERE application_name = 'doomed-deploy' \
             AND datname = current_database() AND wait_event = 'PgSleep'",
        );
        if let Some(pid) = found {
            break pid;
        }
        assert!(Instant::now() < deadline, "the migration never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    watcher
        .batch_execute(&format!("SELECT pg_terminate_backend({pid})"))
        .unwrap();
    let (mut migrator, result, elapsed) = runner.join().unwrap();
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    let failed = result.unwrap_err();
    assert_eq!(
        (failed.error.kind, failed.error.exit_code()),
        (ErrorKind::Connection, 3)
    );
    // The server stayed up: a new connection read the ledger, which confirms it did not commit.
    assert!(
        failed
            .error
            .message
            .contains("connection lost before migration 001_slow committed"),
        "{}",
        failed.error.message
    );
    assert!(
        failed
            .error
            .details
            .iter()
            .any(|d| d.contains("checked in the ledger on a new connection")),
        "{:?}",
        failed.error.details
    );

    assert!(db.ledger().is_empty(), "no ledger row");
    assert!(!db.table_exists("half"), "no partial effect");
    assert!(apply_support::lock_is_free(&db), "lock free");

    // The same Migrator connects again.
    dir.write("001_slow.up.sql", "CREATE TABLE half (id int);\n");
    let report = migrator
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(report.applied, ["001"]);
}

/// A ledger row's lock that stayed taken: the run gave up at once (`failed`, `elapsed`), with
/// the help that ends its holders, and ran the migration no second time (`events`).
fn gave_up_at_once(case: &str, failed: &confiture::Error, events: &[Progress], elapsed: Duration) {
    assert!(
        failed
            .help
            .as_deref()
            .unwrap_or("")
            .contains("pg_terminate_backend"),
        "{case}: {:?}",
        failed.help
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Progress::Retrying { .. })),
        "{case}: not run again: {events:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "{case}: {elapsed:?}");
}

/// A lock on the tracking table in the way of the ledger row (up's INSERT, down's DELETE):
/// bounded by the command's lock wait, not the migration's `lock_timeout`; exit 6 naming the
/// session that holds it; the migration is not run again for it (the lock is the ledger's).
#[test]
fn a_lock_on_the_tracking_table_in_the_way_of_the_ledger_row_is_exit_6_naming_its_holder() {
    for (single, direction) in [(false, "up"), (true, "up"), (false, "down")] {
        let db = TestDb::new("ledgerlock");
        let dir = Dir::new();
        dir.table("001", "a", "a");
        dir.table("002", "b", "b");
        let first = if direction == "up" { 1 } else { 2 };
        db.migrator(&dir)
            .up(&UpOptions::default().target(Some(first)), &mut no_progress)
            .unwrap();
        let mut other = db.client_as("ledger-holder");
        other
            .batch_execute("BEGIN; LOCK TABLE public.tb_confiture IN SHARE MODE")
            .unwrap();
        let holder_pid: i32 = other
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);

        let mut env = apply_support::environment(&db.name);
        env.migration.lock_timeout = Duration::from_secs(20);
        env.migration.lock_retries = 3;
        let migrator = || apply_support::migrator_for(env.clone(), &dir.path);
        let wait = Duration::from_millis(300);
        let mut events = Vec::new();
        let started = Instant::now();
        let failed = if direction == "up" {
            let options = UpOptions::default()
                .lock_wait(wait)
                .single_transaction(single);
            migrator()
                .up(&options, &mut recorder(&mut events))
                .unwrap_err()
                .error
        } else {
            migrator()
                .down(
                    &DownOptions::default().lock_wait(wait),
                    &mut recorder(&mut events),
                )
                .unwrap_err()
                .error
        };
        let elapsed = started.elapsed();
        other.batch_execute("COMMIT").unwrap();
        let case = format!("{direction} single={single}");
        assert_eq!(failed.kind, ErrorKind::LockTimeout, "{case}: {failed:?}");
        assert_eq!(failed.exit_code(), 6, "{case}");
        assert!(
            failed
                .details
                .iter()
                .any(|d| d.contains(&format!("pid {holder_pid}, "))),
            "{case}: the holder is named: {:?}",
            failed.details
        );
        gave_up_at_once(&case, &failed, &events, elapsed);
        let expected: &[&str] = if direction == "up" {
            &["001:a"]
        } else {
            &["001:a", "002:b"]
        };
        assert_eq!(db.ledger(), expected, "{case}");
    }
}

/// A lock on the tracking table taken while a message of migrations runs, in the way of the
/// row of its second migration (h14 D11): exit 6 naming the ledger write, and no detail saying
/// that the server did not say which statement failed — the failing statement is the ledger
/// write, known from the sessions in its way.
#[test]
fn a_ledger_write_that_waited_out_its_lock_wait_is_not_an_unknown_statement() {
    let db = TestDb::new("ledgerlock_mid");
    let dir = Dir::new();
    dir.table("001", "a", "a");
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    dir.table("002", "b", "b");
    // Ends once another session holds the tracking table in SHARE mode.
    dir.migration(
        "003",
        "c",
        "CREATE TABLE c (id int);\nDO $$ BEGIN WHILE NOT EXISTS (SELECT FROM pg_locks l \
         WHERE l.relation = 'tb_confiture'::regclass AND l.mode = 'ShareLock' AND l.granted) \
         LOOP PERFORM pg_sleep(0.01); END LOOP; END $$;\n",
        "DROP TABLE c;\n",
    );
    let mut other = db.client_as("ledger-holder");
    let hold = std::thread::spawn(move || {
        // Once 002 committed: the rows of the message are prepared by then.
        let started = Instant::now();
        while other
            .query_opt("SELECT FROM pg_class WHERE relname = 'b'", &[])
            .unwrap()
            .is_none()
        {
            assert!(started.elapsed() < Duration::from_secs(60), "002 never ran");
            std::thread::sleep(Duration::from_millis(10));
        }
        other
            .batch_execute("BEGIN; LOCK TABLE public.tb_confiture IN SHARE MODE")
            .unwrap();
        other
    });
    let failed = db
        .migrator(&dir)
        .up(
            &UpOptions::default().lock_wait(Duration::from_millis(300)),
            &mut no_progress,
        )
        .unwrap_err()
        .error;
    let mut other = hold.join().unwrap();
    other.batch_execute("COMMIT").unwrap();
    assert_eq!(failed.kind, ErrorKind::LockTimeout, "{failed:?}");
    assert!(
        failed
            .message
            .contains("003_c ran, but writing the tracking table"),
        "{failed:?}"
    );
    assert!(
        !failed
            .details
            .iter()
            .any(|d| d.contains("did not say which statement failed")),
        "{:?}",
        failed.details
    );
    assert_eq!(db.ledger(), ["001:a", "002:b"]);
}

/// A lock on the ledger ROW the step writes, not on the table: `down`'s `DELETE` of a row
/// another session locked (`FOR UPDATE`, `FOR SHARE` — by two sessions at once too —, `FOR
/// KEY SHARE`, an uncommitted `UPDATE` or `DELETE`), `up`'s `INSERT` of a version another
/// session inserted and has not committed (the unique index makes it wait). No relation lock
/// names the holder; the run still ends as the table lock does: exit 6 naming the holder(s),
/// the migration not run again for it, and nothing changed.
#[test]
fn a_lock_on_the_ledger_row_the_step_writes_is_exit_6_naming_its_holders() {
    let insert_002 = "BEGIN; INSERT INTO public.tb_confiture (slug, version, name) \
                      VALUES ('other_002', '002', 'b')";
    let cases: &[(&str, bool, &[&str])] = &[
        (
            "down",
            false,
            &["BEGIN; SELECT 1 FROM public.tb_confiture WHERE version = '002' FOR UPDATE"],
        ),
        (
            "down",
            false,
            &["BEGIN; SELECT 1 FROM public.tb_confiture WHERE version = '002' FOR SHARE"],
        ),
        (
            "down",
            false,
            &["BEGIN; SELECT 1 FROM public.tb_confiture WHERE version = '002' FOR KEY SHARE"],
        ),
        (
            "down",
            false,
            &["BEGIN; UPDATE public.tb_confiture SET name = name WHERE version = '002'"],
        ),
        (
            "down",
            false,
            &["BEGIN; DELETE FROM public.tb_confiture WHERE version = '002'"],
        ),
        (
            "down",
            false,
            &[
                "BEGIN; SELECT 1 FROM public.tb_confiture WHERE version = '002' FOR SHARE",
                "BEGIN; SELECT 1 FROM public.tb_confiture WHERE version = '002' FOR SHARE",
            ],
        ),
        ("up", false, &[insert_002]),
        ("up", true, &[insert_002]),
    ];
    for (direction, single, holds) in cases {
        let db = TestDb::new("rowlock");
        let dir = Dir::new();
        dir.table("001", "a", "a");
        dir.table("002", "b", "b");
        let first = if *direction == "up" { 1 } else { 2 };
        db.migrator(&dir)
            .up(&UpOptions::default().target(Some(first)), &mut no_progress)
            .unwrap();
        // An unrelated session with a row of the ledger locked is not named.
        let mut bystander = db.client_as("ledger-bystander");
        bystander
            .batch_execute(
                "BEGIN; SELECT 1 FROM public.tb_confiture WHERE version = '001' FOR SHARE",
            )
            .unwrap();
        let mut holders = Vec::new();
        let mut pids = Vec::new();
        for (i, hold) in holds.iter().enumerate() {
            let mut other = db.client_as(&format!("row-holder-{i}"));
            other.batch_execute(hold).unwrap();
            pids.push(
                other
                    .query_one("SELECT pg_backend_pid()", &[])
                    .unwrap()
                    .get::<_, i32>(0),
            );
            holders.push(other);
        }

        let mut env = apply_support::environment(&db.name);
        env.migration.lock_timeout = Duration::from_secs(20);
        env.migration.lock_retries = 3;
        let migrator = || apply_support::migrator_for(env.clone(), &dir.path);
        let wait = Duration::from_millis(300);
        let mut events = Vec::new();
        let started = Instant::now();
        let failed = if *direction == "up" {
            let options = UpOptions::default()
                .lock_wait(wait)
                .single_transaction(*single);
            migrator()
                .up(&options, &mut recorder(&mut events))
                .unwrap_err()
                .error
        } else {
            migrator()
                .down(
                    &DownOptions::default().lock_wait(wait),
                    &mut recorder(&mut events),
                )
                .unwrap_err()
                .error
        };
        let elapsed = started.elapsed();
        for mut other in holders {
            other.batch_execute("ROLLBACK").unwrap();
        }
        bystander.batch_execute("ROLLBACK").unwrap();
        let case = format!("{direction} single={single} {holds:?}");
        assert_eq!(failed.kind, ErrorKind::LockTimeout, "{case}: {failed:?}");
        assert_eq!(failed.exit_code(), 6, "{case}");
        for pid in &pids {
            assert!(
                failed
                    .details
                    .iter()
                    .any(|d| d.contains(&format!("pid {pid}, "))),
                "{case}: holder {pid} is named: {:?}",
                failed.details
            );
        }
        assert!(
            !failed
                .details
                .iter()
                .any(|d| d.contains("ledger-bystander")),
            "{case}: {:?}",
            failed.details
        );
        // As data too: the migration that failed, and who its row waited for.
        let Reason::Migration(m) = failed.reason() else {
            panic!("{case}: {:?}", failed.reason());
        };
        let mut named: Vec<i32> = m.lock_holders.iter().filter_map(|h| h.pid()).collect();
        named.sort_unstable();
        assert_eq!((m.version.as_str(), named), ("002", pids.clone()), "{case}");
        gave_up_at_once(&case, &failed, &events, elapsed);
        let (ledger, table): (&[&str], _) = if *direction == "up" {
            (&["001:a"], "b")
        } else {
            (&["001:a", "002:b"], "b")
        };
        assert_eq!(db.ledger(), ledger, "{case}");
        assert_eq!(db.table_exists(table), *direction == "down", "{case}");
    }
}

/// A database of its own (`prefix`) whose idle timeouts (`idle_session_timeout`,
/// `idle_in_transaction_session_timeout`) are 200 ms, a directory whose `001_alter_busy` alters
/// `busy` and keeps the `idle_session_timeout` it ran under (table `seen`), and a session
/// (`app-traffic`, not under those timeouts) whose open transaction holds `busy`.
fn busy_under_idle_timeouts(prefix: &str) -> (TestDb, Dir, postgres::Client) {
    let db = TestDb::new(prefix);
    db.client()
        .batch_execute(&format!(
            "CREATE TABLE busy (id int); \
             ALTER DATABASE \"{0}\" SET idle_session_timeout = '200ms'; \
             ALTER DATABASE \"{0}\" SET idle_in_transaction_session_timeout = '200ms'",
            db.name
        ))
        .unwrap();
    let dir = Dir::new();
    dir.migration(
        "001",
        "alter_busy",
        "ALTER TABLE busy ADD COLUMN note text;\n\
         CREATE TABLE seen AS SELECT current_setting('idle_session_timeout') AS idle;\n",
        "DROP TABLE seen;\nALTER TABLE busy DROP COLUMN note;\n",
    );
    let mut traffic = db.client_as("app-traffic");
    traffic
        .batch_execute(
            "SET idle_session_timeout = 0; SET idle_in_transaction_session_timeout = 0; \
             BEGIN; LOCK TABLE busy IN ACCESS EXCLUSIVE MODE",
        )
        .unwrap();
    (db, dir, traffic)
}

/// The database's `idle_session_timeout` (and `idle_in_transaction_session_timeout`) bound the
/// migrations' sessions, not the tool's own wait between two attempts of a migration that hit
/// its `lock_timeout` (idle, a quarter of a second and more): the run retries until the lock is
/// released and applies, alone or in `--single-transaction`, and its migration still sees the
/// database's `idle_session_timeout` (the engine's own transactions are never idle ones:
/// `apply::sql`'s `NOT_IDLE`).
#[test]
fn an_idle_session_timeout_does_not_end_the_wait_between_lock_retries() {
    for single in [false, true] {
        let (db, dir, mut other) = busy_under_idle_timeouts("retryidle");
        // Past the second wait, which is at least 250 ms: longer than the idle timeout.
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1200));
            other.batch_execute("COMMIT").unwrap();
        });
        let mut env = apply_support::environment(&db.name);
        env.migration.lock_timeout = Duration::from_millis(100);
        env.migration.lock_retries = 20;
        let mut events = Vec::new();
        let result = apply_support::migrator_for(env, &dir.path).up(
            &UpOptions::default()
                .single_transaction(single)
                .allow_non_empty(true),
            &mut recorder(&mut events),
        );
        release.join().unwrap();
        let report = match result {
            Ok(report) => report,
            Err(failed) => panic!("single={single}: {:?}", failed.error),
        };
        assert_eq!(report.applied, ["001"], "single={single}");
        assert!(
            events
                .iter()
                .filter(|e| matches!(e, Progress::Retrying { .. }))
                .count()
                >= 2,
            "single={single}: {events:?}"
        );
        let mut client = db.client();
        assert_eq!(
            apply_support::value(&mut client, "SELECT idle FROM seen").as_deref(),
            Some("200ms"),
            "single={single}: the migration runs under the database's settings"
        );
    }
}

/// The tool's pause between a wait before a retry and the retry's message (a loaded machine,
/// here a progress callback slower than the database's `idle_session_timeout`) is still the
/// tool's own wait: the idle timeouts come back with the retry's message itself, never in a
/// round trip of their own before it, which left the session idle under them while the client
/// stalled (the server then ended it, and the run failed as a lost connection). Deterministic:
/// the lock is released at the first retry, and the callback stalls at the retry's `Sent`.
#[test]
fn a_stall_before_the_retry_message_is_not_ended_by_the_idle_session_timeout() {
    let (db, dir, other) = busy_under_idle_timeouts("retrystall");
    let mut other = Some(other);
    let mut env = apply_support::environment(&db.name);
    env.migration.lock_timeout = Duration::from_millis(100);
    env.migration.lock_retries = 5;
    let mut retried = false;
    let mut stalled = 0;
    let result = apply_support::migrator_for(env, &dir.path).up(
        &UpOptions::default().allow_non_empty(true),
        &mut |p: Progress| match p {
            Progress::Retrying { .. } => {
                retried = true;
                if let Some(mut holder) = other.take() {
                    holder.batch_execute("COMMIT").unwrap();
                }
            }
            // Three times the idle timeout: the server ends a session left idle under it.
            Progress::Sent { .. } if retried => {
                retried = false;
                stalled += 1;
                std::thread::sleep(Duration::from_millis(600));
            }
            _ => {}
        },
    );
    let report = match result {
        Ok(report) => report,
        Err(failed) => panic!("{:?}", failed.error),
    };
    assert_eq!(report.applied, ["001"]);
    assert_eq!(stalled, 1, "the retry's message was sent after the stall");
    let mut client = db.client();
    assert_eq!(
        apply_support::value(&mut client, "SELECT idle FROM seen").as_deref(),
        Some("200ms"),
        "the retried migration runs under the database's settings"
    );
}

/// A run that waited before a retry and then ended without a message that committed (the
/// retries used up, or the run stopped during the wait) gives the session its idle timeouts
/// back: the retry's message carried their restore, rolled back with its transaction (or never
/// sent), and the run's end sends it — the connection handed back (`into_client`) has the
/// database's `idle_session_timeout`, not the tool's wait's 0. Alone and in
/// `--single-transaction`.
#[test]
fn a_run_that_ends_after_a_wait_before_a_retry_gives_the_idle_timeouts_back() {
    for (single, stop) in [(false, false), (true, false), (false, true), (true, true)] {
        let case = format!("single={single} stop={stop}");
        let (db, dir) = busy_table("retryback");
        db.client()
            .batch_execute(&format!(
                "ALTER DATABASE \"{0}\" SET idle_session_timeout = '10min'; \
                 ALTER DATABASE \"{0}\" SET idle_in_transaction_session_timeout = '9min'",
                db.name
            ))
            .unwrap();
        let mut other = apply_support::traffic_holding(&db, "busy");
        let mut env = apply_support::environment(&db.name);
        env.migration.lock_timeout = Duration::from_millis(100);
        env.migration.lock_retries = 2;
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut migrator = apply_support::migrator_for(env, &dir.path);
        if stop {
            migrator = migrator.stop_when(flag.clone());
        }
        let mut retried = 0;
        let failed = migrator
            .up(
                &UpOptions::default()
                    .single_transaction(single)
                    .allow_non_empty(true),
                &mut |p: Progress| {
                    if matches!(p, Progress::Retrying { .. }) {
                        retried += 1;
                        // Stopped during the wait: the retry is never sent.
                        flag.store(stop, std::sync::atomic::Ordering::SeqCst);
                    }
                },
            )
            .unwrap_err()
            .error;
        other.batch_execute("ROLLBACK").unwrap();
        let kind = match stop {
            true => ErrorKind::Interrupted,
            false => ErrorKind::MigrationFailed,
        };
        assert_eq!(failed.kind, kind, "{case}: {failed:?}");
        assert!(retried >= 1, "{case}: a wait before a retry");
        let mut client = migrator.into_client().expect("the connection comes back");
        assert_eq!(
            apply_support::value(
                &mut client,
                "SELECT current_setting('idle_session_timeout') || ' ' || \
                 current_setting('idle_in_transaction_session_timeout')"
            )
            .as_deref(),
            Some("10min 9min"),
            "{case}"
        );
    }
}

/// A no-transaction migration's ledger row, written after its statements committed, waits for
/// a lock on its row or on the tracking table no longer than the command's lock wait either:
/// exit 6 naming the holder, saying what stays committed — never a wait without end (the
/// row's message had no `lock_timeout` of its own: the session's, none by default).
#[test]
fn a_no_transaction_migrations_ledger_row_waits_for_a_lock_no_longer_than_the_lock_wait() {
    let cases = [
        ("down", "SELECT 1 FROM public.tb_confiture WHERE version = '002' FOR UPDATE"),
        ("down", "LOCK TABLE public.tb_confiture IN SHARE MODE"),
        (
            "up",
            "INSERT INTO public.tb_confiture (slug, version, name) VALUES ('other_002', '002', 'b')",
        ),
    ];
    for (direction, hold) in cases {
        let db = TestDb::new("notxrowlock");
        let dir = Dir::new();
        dir.table("001", "a", "a");
        dir.migration(
            "002",
            "b",
            // Statements that wait for no other transaction (`CREATE INDEX CONCURRENTLY`
            // would wait for the holder's).
            "-- confiture:no-transaction\nCREATE TABLE b (id int);\nVACUUM b;\n",
            "-- confiture:no-transaction\nDROP TABLE b;\nVACUUM a;\n",
        );
        let first = if direction == "up" { 1 } else { 2 };
        db.migrator(&dir)
            .up(&UpOptions::default().target(Some(first)), &mut no_progress)
            .unwrap();
        let mut other = db.client_as("ledger-row-holder");
        other.batch_execute(&format!("BEGIN; {hold}")).unwrap();
        let pid: i32 = other
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        // Unblocks a run that would wait without end, so that the test fails instead of hanging.
        let (done, watched) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            let _ = watched.recv_timeout(Duration::from_secs(10));
            other.batch_execute("ROLLBACK").unwrap();
        });
        let wait = Duration::from_millis(300);
        let started = Instant::now();
        let failed = if direction == "up" {
            db.migrator(&dir)
                .up(&UpOptions::default().lock_wait(wait), &mut no_progress)
                .unwrap_err()
                .error
        } else {
            db.migrator(&dir)
                .down(&DownOptions::default().lock_wait(wait), &mut no_progress)
                .unwrap_err()
                .error
        };
        let elapsed = started.elapsed();
        let _ = done.send(());
        watchdog.join().unwrap();
        let case = format!("{direction} {hold}");
        assert!(elapsed < Duration::from_secs(5), "{case}: {elapsed:?}");
        assert_eq!(failed.kind, ErrorKind::LockTimeout, "{case}: {failed:?}");
        assert!(
            failed
                .details
                .iter()
                .any(|d| d.contains(&format!("pid {pid}, "))),
            "{case}: {:?}",
            failed.details
        );
        // Going down, its statements committed before its row waited; going up, its row is
        // tried before its statements run (rolled back), and that is what waited: nothing
        // ran, and the help runs the command again, never records it unrun.
        let said = if direction == "up" {
            "the row was tried first"
        } else {
            "every statement was committed"
        };
        assert!(
            failed.details.iter().any(|d| d.contains(said)),
            "{case}: {:?}",
            failed.details
        );
        if direction == "up" {
            let help = failed.help.clone().unwrap_or_default();
            assert!(!help.contains("baseline"), "{case}: {help}");
        }
        // Its row is as it was.
        let ledger: &[&str] = if direction == "up" {
            &["001:a"]
        } else {
            &["001:a", "002:b"]
        };
        assert_eq!(db.ledger(), ledger, "{case}");
        assert!(!db.table_exists("b"), "{case}");
    }
}

/// `--lock-wait 0` is one attempt, never a wait without end: a ledger row whose lock another
/// session holds (here `down`'s row, locked `FOR UPDATE`; in a transaction of its own and in a
/// no-transaction migration's message) fails at once, exit 6 naming the holder — its
/// `lock_timeout` was `0ms`, which the server reads as no timeout.
#[test]
fn a_zero_lock_wait_never_waits_for_the_ledger_row_without_end() {
    for no_transaction in [false, true] {
        let db = TestDb::new("zerowait");
        let dir = Dir::new();
        let (marker, up_vacuum, down_vacuum) = if no_transaction {
            (
                "-- confiture:no-transaction\n",
                "VACUUM a;\n",
                "VACUUM pg_catalog.pg_class;\n",
            )
        } else {
            ("", "", "")
        };
        dir.migration(
            "001",
            "a",
            &format!("{marker}CREATE TABLE a (id int);\n{up_vacuum}"),
            &format!("{marker}DROP TABLE a;\n{down_vacuum}"),
        );
        db.migrator(&dir)
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap();
        let mut other = db.client_as("ledger-row-holder");
        other
            .batch_execute(
                "BEGIN; SELECT 1 FROM public.tb_confiture WHERE version = '001' FOR UPDATE",
            )
            .unwrap();
        let pid: i32 = other
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        let (done, watched) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            let _ = watched.recv_timeout(Duration::from_secs(10));
            other.batch_execute("ROLLBACK").unwrap();
        });
        let started = Instant::now();
        let result = db.migrator(&dir).down(
            &DownOptions::default().lock_wait(Duration::ZERO),
            &mut no_progress,
        );
        let elapsed = started.elapsed();
        let _ = done.send(());
        watchdog.join().unwrap();
        let case = format!("no_transaction={no_transaction}");
        assert!(elapsed < Duration::from_secs(5), "{case}: {elapsed:?}");
        let failed = result.unwrap_err().error;
        assert_eq!(failed.kind, ErrorKind::LockTimeout, "{case}: {failed:?}");
        assert!(
            failed
                .details
                .iter()
                .any(|d| d.contains(&format!("pid {pid}, "))),
            "{case}: {:?}",
            failed.details
        );
        assert_eq!(db.ledger(), ["001:a"], "{case}");
    }
}

/// A migration whose own SQL waits for a row lock is retried as before, even while another
/// session holds a lock on another row of the ledger: only a lock on the row the step deletes
/// (or the table) is the ledger's, exit 6.
#[test]
fn a_migrations_own_row_lock_is_retried_while_another_ledger_row_is_locked() {
    let db = TestDb::new("ownrowlock");
    db.client()
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0)")
        .unwrap();
    let dir = Dir::new();
    dir.table("001", "a", "a");
    dir.migration(
        "002",
        "b",
        "UPDATE t SET v = 2 WHERE id = 1;\n",
        "UPDATE t SET v = 0 WHERE id = 1;\n",
    );
    db.migrator(&dir)
        .up(
            &UpOptions::default().allow_non_empty(true),
            &mut no_progress,
        )
        .unwrap();
    let mut bystander = db.client_as("ledger-bystander");
    bystander
        .batch_execute("BEGIN; SELECT 1 FROM public.tb_confiture WHERE version = '001' FOR SHARE")
        .unwrap();
    let mut app = db.client_as("app-traffic");
    app.batch_execute("BEGIN; SELECT 1 FROM t WHERE id = 1 FOR UPDATE")
        .unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(600));
        app.batch_execute("COMMIT").unwrap();
    });
    let mut env = apply_support::environment(&db.name);
    env.migration.lock_timeout = Duration::from_millis(100);
    env.migration.lock_retries = 20;
    let mut events = Vec::new();
    let result = apply_support::migrator_for(env, &dir.path).down(
        &DownOptions::default().lock_wait(Duration::from_secs(5)),
        &mut recorder(&mut events),
    );
    release.join().unwrap();
    bystander.batch_execute("ROLLBACK").unwrap();
    let report = match result {
        Ok(report) => report,
        Err(failed) => panic!("{:?}", failed.error),
    };
    assert_eq!(report.rolled_back, ["002"]);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Progress::Retrying { .. })),
        "{events:?}"
    );
    assert_eq!(db.ledger(), ["001:a"]);
}

/// The ledger row locked is the second of a message's: the steps before it commit, and the
/// failure is that step's, naming the holder of its row (`down --steps 2`, `up` of two).
#[test]
fn a_locked_ledger_row_later_in_a_message_fails_that_step_after_the_others_committed() {
    for direction in ["down", "up"] {
        let db = TestDb::new("rowlocklater");
        let dir = Dir::new();
        for (v, name) in [("001", "a"), ("002", "b"), ("003", "c")] {
            dir.migration(
                v,
                name,
                &format!("CREATE TABLE {name} (id int);\n"),
                &format!("DROP TABLE {name};\n"),
            );
        }
        let applied = if direction == "down" { 3 } else { 1 };
        db.migrator(&dir)
            .up(
                &UpOptions::default().target(Some(applied)),
                &mut no_progress,
            )
            .unwrap();
        // down rolls back 003 then 002; up applies 002 then 003.
        let (locked, hold) = if direction == "down" {
            (
                "002",
                "BEGIN; SELECT 1 FROM public.tb_confiture WHERE version = '002' FOR UPDATE",
            )
        } else {
            (
                "003",
                "BEGIN; INSERT INTO public.tb_confiture (slug, version, name) \
                 VALUES ('other_003', '003', 'c')",
            )
        };
        let mut other = db.client_as("row-holder");
        other.batch_execute(hold).unwrap();
        let pid: i32 = other
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        let wait = Duration::from_millis(300);
        let failed = if direction == "down" {
            db.migrator(&dir)
                .down(
                    &DownOptions::default().steps(Some(2)).lock_wait(wait),
                    &mut no_progress,
                )
                .unwrap_err()
                .error
        } else {
            db.migrator(&dir)
                .up(&UpOptions::default().lock_wait(wait), &mut no_progress)
                .unwrap_err()
                .error
        };
        other.batch_execute("ROLLBACK").unwrap();
        assert_eq!(
            failed.kind,
            ErrorKind::LockTimeout,
            "{direction}: {failed:?}"
        );
        let Reason::Migration(m) = failed.reason() else {
            panic!("{direction}: {:?}", failed.reason());
        };
        let named: Vec<i32> = m.lock_holders.iter().filter_map(|h| h.pid()).collect();
        assert_eq!(
            (m.version.as_str(), named),
            (locked, vec![pid]),
            "{direction}"
        );
        let other_committed = if direction == "down" { "003" } else { "002" };
        assert_eq!(m.committed, [other_committed], "{direction}");
        assert_eq!(db.ledger(), ["001:a", "002:b"], "{direction}");
    }
}

/// A no-transaction migration whose every statement committed, and whose ledger row was then
/// not written — its lock wait ran out (exit 6), or the connection dropped while the row
/// waited (exit 3) — is applied but for its row: the help records it without running it
/// (`migrate baseline --through V`), never "run the command again", which ran a data
/// migration a second time (h11 D8: 1000 became 100000). Following that help leaves the data
/// as the one run made it.
#[test]
fn a_no_transaction_migration_that_committed_everything_but_its_row_is_recorded_not_run_again() {
    for lost in [false, true] {
        let case = if lost { "connection lost" } else { "lock wait" };
        let db = TestDb::new("notxbaseline");
        let dir = Dir::new();
        dir.migration(
            "001",
            "money",
            "CREATE TABLE money (a numeric);\nINSERT INTO money VALUES (10);\n",
            "DROP TABLE money;\n",
        );
        dir.migration(
            "002",
            "cents",
            // Its row is tried before its statements run: the ledger is locked while they
            // run, past that trial (the gate: an advisory lock the test holds).
            "-- confiture:no-transaction\nDO $$ BEGIN UPDATE money SET a = a * 100; COMMIT; END $$;\n\
             SELECT pg_advisory_lock(4242);\nSELECT pg_advisory_unlock(4242);\n",
            "-- confiture:no-transaction\nDO $$ BEGIN UPDATE money SET a = a / 100; COMMIT; END $$;\n",
        );
        db.migrator(&dir)
            .up(&UpOptions::default().target(Some(1)), &mut no_progress)
            .unwrap();
        let mut gate = db.client_as("gate");
        gate.batch_execute("SELECT pg_advisory_lock(4242)").unwrap();
        let mut other = db.client_as("ledger-holder");
        let mut env = apply_support::environment(&db.name);
        env.application_name = "notx-deploy".to_string();
        // Its wait at the gate is the test's own: bounded by the test's waits below (10 s),
        // not by the default `lock_timeout` of 5 s, which a loaded machine can reach.
        env.migration.lock_timeout = Duration::from_secs(20);
        let path = dir.path.clone();
        let wait = Duration::from_millis(if lost { 20_000 } else { 300 });
        let runner = std::thread::spawn(move || {
            apply_support::migrator_for(env, &path)
                .up(&UpOptions::default().lock_wait(wait), &mut no_progress)
                .map(drop)
                .map_err(|failed| failed.error)
        });
        let mut watcher = db.client();
        // The run's session waiting for the lock `lock` (a condition on `pg_locks` as `l`) in
        // this test's database: the lock itself, not the kind of wait — `pg_stat_activity`
        // lists every database, where another run of this test (another process) waits too.
        let waits_on = |watcher: &mut postgres::Client, what: &str, lock: &str| {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Some(pid) = apply_support::value(
                    watcher,
                    &format!(
                        "SELECT a.pid::text FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
                         WHERE a.application_name = 'notx-deploy' \
                         AND a.datname = current_database() AND NOT l.granted AND {lock}"
                    ),
                ) {
                    break pid;
                }
                assert!(Instant::now() < deadline, "{case}: never waited on {what}");
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        // Its statements run (the update committed, the gate closed): lock the ledger, then
        // open the gate.
        waits_on(
            &mut watcher,
            "the gate",
            "l.locktype = 'advisory' AND l.classid = 0 AND l.objid = 4242 AND l.objsubid = 1",
        );
        other
            .batch_execute("BEGIN; LOCK TABLE public.tb_confiture IN SHARE MODE")
            .unwrap();
        gate.batch_execute("SELECT pg_advisory_unlock(4242)")
            .unwrap();
        if lost {
            // Its row waits for the lock: end the run's session there.
            let pid = waits_on(
                &mut watcher,
                "the ledger",
                "l.locktype = 'relation' AND l.relation = 'public.tb_confiture'::regclass",
            );
            watcher
                .batch_execute(&format!("SELECT pg_terminate_backend({pid})"))
                .unwrap();
        }
        let failed = runner.join().unwrap().unwrap_err();
        other.batch_execute("ROLLBACK").unwrap();
        let expected = if lost {
            ErrorKind::Connection
        } else {
            ErrorKind::LockTimeout
        };
        assert_eq!(failed.kind, expected, "{case}: {failed:?}");
        assert_eq!(db.ledger(), ["001:money"], "{case}");
        let help = failed.help.clone().unwrap_or_default();
        assert!(
            help.contains("`cargo confiture migrate baseline --through 002 "),
            "{case}: {help}"
        );
        assert!(!help.contains("run the command again"), "{case}: {help}");
        // The help's next step: recorded, not run again (over the run's start marker: `yes`).
        db.migrator(&dir)
            .baseline(&BaselineOptions::through(2).yes(true), &mut no_progress)
            .unwrap();
        assert_eq!(db.ledger(), ["001:money", "002:cents"], "{case}");
        let amount = apply_support::value(&mut db.client(), "SELECT a::text FROM money");
        assert_eq!(amount.as_deref(), Some("1000"), "{case}: ran once");
    }
}

/// h19 N27: a migration that gave up on its `lock_timeout` named no one (`lock_holders: []`),
/// when the migration lock's holder is named with its pid, application, user and the
/// `pg_terminate_backend` to run: the server says neither which relation the statement waited
/// for nor, once the wait is over, who held it. The sessions holding a lock on a relation the
/// failing statement names are named so (with the relation), in a message of several
/// migrations, inside `--single-transaction`, and for a no-transaction statement; a session
/// holding a lock on another table is not.
#[test]
fn a_migration_that_times_out_on_a_lock_names_the_sessions_holding_it() {
    let cases = [
        (
            "in a message",
            false,
            "ALTER TABLE app.busy ADD COLUMN note text;\n",
            "ACCESS SHARE",
        ),
        (
            "one transaction",
            true,
            "ALTER TABLE app.busy ADD COLUMN note text;\n",
            "ACCESS SHARE",
        ),
        (
            "no-transaction",
            false,
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY busy_id ON app.busy (id);\n",
            "EXCLUSIVE",
        ),
    ];
    for (how, single, up, mode) in cases {
        let db = TestDb::new("lock_holder");
        db.client()
            .batch_execute(
                "CREATE SCHEMA app; CREATE TABLE app.busy (id int); CREATE TABLE calm (id int)",
            )
            .unwrap();
        let dir = Dir::new();
        dir.table("001", "first", "first")
            .migration("002", "waits", up, "SELECT 1;\n");
        let mut holder = db.client_as("long-report");
        holder
            .batch_execute(&format!("BEGIN; LOCK TABLE app.busy IN {mode} MODE"))
            .unwrap();
        let pid: i32 = holder
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        let mut bystander = db.client_as("bystander");
        bystander
            .batch_execute("BEGIN; LOCK TABLE calm IN ACCESS EXCLUSIVE MODE")
            .unwrap();

        let mut env = apply_support::environment(&db.name);
        env.migration.lock_timeout = Duration::from_millis(100);
        env.migration.lock_retries = 0;
        let failed = apply_support::migrator_for(env, &dir.path)
            .up(
                &UpOptions::default()
                    .allow_non_empty(true)
                    .single_transaction(single),
                &mut no_progress,
            )
            .unwrap_err();
        holder.batch_execute("COMMIT").unwrap();
        bystander.batch_execute("COMMIT").unwrap();
        let error = &failed.report.errors[0];
        assert_eq!(error.sqlstate.as_deref(), Some("55P03"), "{how}");
        assert_eq!(error.version.as_deref(), Some("002"), "{how}");
        let holders: Vec<_> = error.lock_holders.iter().filter_map(|h| h.pid()).collect();
        assert_eq!(holders, [pid], "{how}: {:?}", failed.error.details);
        let confiture::migrate::LockHolder::Session(session) = &error.lock_holders[0] else {
            panic!("{how}: not a session: {:?}", error.lock_holders);
        };
        assert_eq!(
            session.application_name.as_deref(),
            Some("long-report"),
            "{how}"
        );
        assert!(
            failed
                .error
                .details
                .iter()
                .any(|d| d.starts_with(&format!("lock on app.busy held by pid {pid}"))),
            "{how}: {:?}",
            failed.error.details
        );
        let help = failed.error.help.as_deref().unwrap_or_default();
        assert!(
            help.contains(&format!("pg_terminate_backend({pid})")),
            "{how}: {help}"
        );
    }
}

/// A library run that can be stopped (`Migrator::stop_when`, its flag never set) reports,
/// while its migration waits for another session's lock, who is in the way
/// (`Progress::LockBlocked`), on the caller's thread, before the wait ends: the holder lets
/// go only once the event has come.
#[test]
fn a_library_run_that_can_be_stopped_names_the_holder_while_it_waits() {
    let (db, dir) = busy_table("lockblocked");
    let mut other = db.client_as("app-traffic");
    other
        .batch_execute("BEGIN; LOCK TABLE busy IN ACCESS SHARE MODE")
        .unwrap();
    let pid: i32 = other
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let (told, heard) = std::sync::mpsc::channel::<()>();
    // Lets go once told (a minute at most: a run that never says it still ends).
    let release = std::thread::spawn(move || {
        let _ = heard.recv_timeout(Duration::from_secs(60));
        other.batch_execute("COMMIT").unwrap();
    });
    let mut events = Vec::new();
    let options = UpOptions::default()
        .lock_timeout_statement(Some(Duration::ZERO))
        .allow_non_empty(true);
    let never = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let report = db
        .migrator(&dir)
        .stop_when(never)
        .up(&options, &mut |event: Progress| {
            if matches!(event, Progress::LockBlocked { .. }) {
                let _ = told.send(());
            }
            events.push(event);
        })
        .unwrap();
    release.join().unwrap();
    assert_eq!(report.applied, ["001"]);
    let blocked: Vec<&Progress> = events
        .iter()
        .filter(|e| matches!(e, Progress::LockBlocked { .. }))
        .collect();
    let [Progress::LockBlocked { relation, holders }] = blocked.as_slice() else {
        panic!("one LockBlocked: {events:?}");
    };
    assert_eq!(relation.as_deref(), Some("busy"), "{events:?}");
    let holder = holders.first().map(ToString::to_string).unwrap_or_default();
    assert!(
        holder.contains(&format!("pid {pid}, application_name \"app-traffic\"")),
        "{holder}"
    );
    // Said before the migration finished: while it waited.
    let at = |want: fn(&Progress) -> bool| events.iter().position(want);
    assert!(
        at(|e| matches!(e, Progress::LockBlocked { .. }))
            < at(|e| matches!(e, Progress::Finished { .. })),
        "{events:?}"
    );
}

/// A progress callback that panics on `Progress::LockBlocked` stops the run there, as a panic
/// on any other event does: the migration waiting for the lock is cancelled and rolled back,
/// and the panic reaches the caller while the other session still holds its lock — never after
/// the run went on and committed behind the caller's back once the lock was released.
#[test]
fn a_callback_that_panics_while_the_run_waits_for_a_lock_stops_the_run() {
    let (db, dir) = busy_table("lockpanic");
    dir.migration(
        "002",
        "after",
        "CREATE TABLE after_busy (id int);\n",
        "DROP TABLE after_busy;\n",
    );
    let mut other = db.client_as("app-traffic");
    other
        .batch_execute("BEGIN; LOCK TABLE busy IN ACCESS SHARE MODE")
        .unwrap();
    let (returned, heard) = std::sync::mpsc::channel::<()>();
    // Holds the lock until the run returned (half a minute at most: a run that goes on
    // waiting is then let through, and the checks below fail instead of the test hanging).
    let release = std::thread::spawn(move || {
        let waited = heard.recv_timeout(Duration::from_secs(30)).is_err();
        other.batch_execute("COMMIT").unwrap();
        waited
    });
    let options = UpOptions::default()
        .lock_timeout_statement(Some(Duration::ZERO))
        .allow_non_empty(true);
    let never = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut m = db.migrator(&dir).stop_when(never.clone());
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = m.up(&options, &mut |event: Progress| {
            if matches!(event, Progress::LockBlocked { .. }) {
                panic!("the service gives up on a blocked migration");
            }
        });
    }));
    let _ = returned.send(());
    let held_to_the_end = release.join().unwrap();
    assert!(panicked.is_err(), "the callback's panic reaches the caller");
    assert!(
        !held_to_the_end,
        "the run went on waiting for the lock after the callback panicked"
    );
    let rows: i64 = db
        .client()
        .query_one("SELECT count(*) FROM tb_confiture", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 0, "nothing is recorded after the panic");
    let columns: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM information_schema.columns \
             WHERE table_name = 'busy' AND column_name = 'note'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(columns, 0, "the blocked migration was rolled back");
    // The caller's flag is untouched: the same session runs the next command in full.
    assert!(!never.load(std::sync::atomic::Ordering::SeqCst));
    let report = m.up(&options, &mut no_progress).unwrap();
    assert_eq!(report.applied, ["001", "002"]);
}

/// A transactional migration whose text has effects a rollback does not undo — the one
/// reading of them, `server_wide`'s: `COPY ... PROGRAM`, `COPY ... TO` a server file, a server
/// function (`dblink`, `pg_cancel_backend`, ...), also in a `DO` block's body — is not retried
/// after a lock timeout: retrying would run them again (a hostile tester saw a `COPY ... TO
/// PROGRAM` run four times for one `up`). It fails at once, as a lock timeout that ran out of
/// retries does, saying why and that they may have happened once. `--single-transaction`
/// retries the whole run: an earlier migration's such effect stops it too, where one
/// transaction per migration (the earlier one committed) retries as usual. A `nextval` alone
/// is retried (a rolled-back attempt leaves a gap in the sequence, as any rollback): the
/// sequence `calls` counts the attempts.
#[test]
fn a_migration_with_effects_a_rollback_does_not_undo_is_not_retried_after_a_lock_timeout() {
    let effects = [
        (
            "COPY ... PROGRAM",
            "-- confiture:allow(server-wide-effect)\nCOPY (SELECT 1) TO PROGRAM 'cat > /dev/null';\n",
        ),
        (
            "COPY ... TO a file on the server",
            "COPY (SELECT 1) TO '/dev/null';\n",
        ),
        (
            "pg_cancel_backend()",
            "DO $$ BEGIN PERFORM pg_catalog.pg_cancel_backend(0); END $$;\n",
        ),
    ];
    const WAITS: &str = "SELECT nextval('calls');\nALTER TABLE busy ADD COLUMN note text;\n";
    for single in [false, true] {
        for (effect, sql) in effects {
            // In the migration that waits: never retried.
            let up = format!("{sql}{WAITS}");
            let case = format!("{effect} in the migration that waits, single {single}");
            let failed = lock_retry_case(&case, single, None, &up, 1);
            assert!(
                not_retried_for(&failed, effect, "002_waits.up.sql:"),
                "{case}: {:?}",
                failed.error.details
            );
            assert!(
                !failed
                    .error
                    .details
                    .iter()
                    .any(|d| d.contains("gave up after")),
                "{case}: {:?}",
                failed.error.details
            );
            // In a migration before it: the whole run is retried only in one transaction.
            let case = format!("{effect} in the migration before, single {single}");
            let earlier = format!("{sql}CREATE TABLE t1 (id int);\n");
            let failed = lock_retry_case(
                &case,
                single,
                Some(&earlier),
                WAITS,
                [3, 1][single as usize],
            );
            let said = not_retried_for(&failed, effect, "001_before.up.sql:");
            assert_eq!(said, single, "{case}: {:?}", failed.error.details);
        }
        // A `nextval` alone is retried, `lock_retries` times.
        let case = format!("nextval alone, single {single}");
        let failed = lock_retry_case(&case, single, None, WAITS, 3);
        assert!(
            failed
                .error
                .details
                .iter()
                .any(|d| d.contains("gave up after 3 attempts")),
            "{case}: {:?}",
            failed.error.details
        );
    }
}

/// Whether `failed` says it was not retried for `effect` of file `at` (`name.up.sql:`).
fn not_retried_for(
    failed: &confiture::migrate::Failed<confiture::migrate::UpReport>,
    effect: &str,
    at: &str,
) -> bool {
    failed.error.details.iter().any(|d| {
        d.starts_with(&format!("not retried: {effect} at "))
            && d.contains(&format!("/{at}"))
            && d.contains("an effect a rollback does not undo")
    })
}

/// `up` of `dir` on `db` (`single`: in one transaction), each lock waited for 100 ms and
/// retried `lock_retries` times, while `traffic` holds the lock it waits for: its failure and
/// the events it sent. `traffic` commits after.
fn up_failing_on_a_held_lock(
    db: &TestDb,
    dir: &Dir,
    single: bool,
    lock_retries: u32,
    mut traffic: postgres::Client,
) -> (
    confiture::migrate::Failed<confiture::migrate::UpReport>,
    Vec<Progress>,
) {
    let mut env = apply_support::environment(&db.name);
    env.migration.lock_timeout = Duration::from_millis(100);
    env.migration.lock_retries = lock_retries;
    let mut events = Vec::new();
    let failed = apply_support::migrator_for(env, &dir.path)
        .up(
            &UpOptions::default()
                .allow_non_empty(true)
                .single_transaction(single),
            &mut recorder(&mut events),
        )
        .unwrap_err();
    traffic.batch_execute("COMMIT").unwrap();
    (failed, events)
}

/// Runs `up` of `before` (as `001_before`; a `CREATE TABLE` without effects if `None`) and `up` (as `002_waits`) on a database of
/// its own where table `busy` is locked by another session for the whole run (lock_timeout
/// 100 ms, 2 retries), and checks that it fails on `002` with the lock timeout, without a trace
/// of `002`, after `attempts` attempts (the `Retrying` events, and `calls`, a sequence `up`
/// draws from once per attempt).
fn lock_retry_case(
    case: &str,
    single: bool,
    before: Option<&str>,
    up: &str,
    attempts: u32,
) -> confiture::migrate::Failed<confiture::migrate::UpReport> {
    let db = TestDb::new("noretry_effects");
    db.client()
        .batch_execute("CREATE TABLE busy (id int); CREATE SEQUENCE calls")
        .unwrap();
    let dir = Dir::new();
    let before_sql = before.unwrap_or("CREATE TABLE t1 (id int);\n");
    dir.migration("001", "before", before_sql, "SELECT 1;\n");
    dir.migration("002", "waits", up, "SELECT 1;\n");
    let other = apply_support::traffic_holding(&db, "busy");
    let (failed, events) = up_failing_on_a_held_lock(&db, &dir, single, 2, other);
    assert_eq!(
        failed.error.kind,
        ErrorKind::MigrationFailed,
        "{case}: {}",
        failed.error
    );
    let error = &failed.report.errors[0];
    assert_eq!(error.sqlstate.as_deref(), Some("55P03"), "{case}");
    assert_eq!(error.version.as_deref(), Some("002"), "{case}");
    let retries = events
        .iter()
        .filter(|e| matches!(e, Progress::Retrying { .. }))
        .count();
    assert_eq!(retries, attempts as usize - 1, "{case}: {events:?}");
    let drawn = db.value("SELECT last_value FROM calls");
    assert_eq!(drawn, Some(attempts.to_string()), "{case}");
    let applied = match single {
        false => vec!["001:before".to_string()],
        true => Vec::new(),
    };
    assert_eq!(db.ledger(), applied, "{case}");
    failed
}

/// A no-transaction migration whose second statement times out on another session's lock,
/// after its first committed: the start marker stays, so "run the command again" would be
/// refused (exit 7). The help names the command that works, `--rerun-interrupted`, as the
/// help of any other failure after a statement committed does, and following it applies it.
#[test]
fn a_lock_timeout_after_a_committed_statement_helps_with_the_rerun_that_works() {
    let db = TestDb::new("nt_lock_after");
    let dir = Dir::new();
    dir.migration(
        "001",
        "a",
        "CREATE TABLE lg (at timestamptz);\nCREATE TABLE t2 (v int);\n",
        "DROP TABLE lg, t2;\n",
    )
    .migration(
        "002",
        "b",
        "-- confiture:no-transaction\n-- confiture:allow(no-transaction-multiple-statements)\n\
         INSERT INTO lg VALUES (clock_timestamp());\nCREATE INDEX CONCURRENTLY t2_v ON t2 (v);\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t2_v;\n",
    );
    let mut migrator = db.migrator(&dir);
    migrator
        .up(&UpOptions::default().target(Some(1)), &mut no_progress)
        .unwrap();
    let mut other = db.client_as("app-traffic");
    other.batch_execute("BEGIN; LOCK TABLE t2").unwrap();
    let options = UpOptions::default().lock_timeout_statement(Some(Duration::from_millis(200)));
    let failed = migrator.up(&options, &mut no_progress).unwrap_err();
    let e = &failed.error;
    assert_eq!(e.exit_code(), 4, "{e:?}");
    let help = e.help.clone().unwrap_or_default();
    assert!(help.contains("migrate up --rerun-interrupted"), "{help}");
    assert!(!help.contains("the command again"), "{help}");
    other.batch_execute("COMMIT").unwrap();
    migrator
        .up(&options.clone().rerun_interrupted(true), &mut no_progress)
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(db.ledger(), ["001:a", "002:b"]);
}
