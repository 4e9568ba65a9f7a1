//! Several migrations in one message, each its own transaction: a failure in the middle keeps
//! the earlier ones recorded, names the failing file and line, and never attempts the later
//! ones; lock-timeout retries resume from the migration that waited; timings stay per migration.

use super::apply_support;

use std::time::Duration;

use apply_support::{recorder, rows, Dir, TestDb};
use confiture::db::apply::{self, ApplySettings, BatchLimits, StepEvent};
use confiture::files::{self, CheckOptions};
use confiture::migrate::{no_progress, DownOptions, Outcome, Progress, UpOptions, UpReport};
use confiture::ErrorKind;

/// `001` creates `t`; `002`..`=count` insert their number into it.
fn inserts(dir: &Dir, count: u32) {
    dir.migration(
        "001",
        "create_t",
        "CREATE TABLE t (id int PRIMARY KEY);\n",
        "DROP TABLE t;\n",
    );
    for v in 2..=count {
        dir.migration(
            &format!("{v:03}"),
            &format!("row_{v}"),
            &format!("INSERT INTO t VALUES ({v});\n"),
            &format!("DELETE FROM t WHERE id = {v};\n"),
        );
    }
}

/// `up` of everything pending, over what the database holds (`allow_non_empty`), without
/// progress events: how these tests run their migrations.
#[allow(clippy::result_large_err)] // `Migrator::up`'s own outcome, returned as it is.
fn up_anyway(migrator: &mut confiture::Migrator) -> Outcome<UpReport> {
    migrator.up(
        &UpOptions::default().allow_non_empty(true),
        &mut no_progress,
    )
}

fn ids(db: &TestDb) -> Vec<String> {
    rows(&mut db.client(), "SELECT id::text FROM t ORDER BY id")
}

fn versions(db: &TestDb) -> Vec<String> {
    rows(
        &mut db.client(),
        "SELECT version FROM tb_confiture ORDER BY applied_at, pk_confiture",
    )
}

/// Which migrations got Started and Finished events, in order.
fn trace(events: &[Progress]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Progress::Started { version, .. } => Some(format!("start {version}")),
            Progress::Finished { version, .. } => Some(format!("done {version}")),
            Progress::Retrying { version, .. } => Some(format!("retry {version}")),
            _ => None,
        })
        .collect()
}

#[test]
fn an_error_in_the_middle_of_a_message_keeps_the_earlier_ones_and_names_the_file_and_line() {
    let db = TestDb::new("batchmid");
    let dir = Dir::new();
    inserts(&dir, 6);
    dir.write(
        "004_row_4.up.sql",
        "-- the third line is wrong\nINSERT INTO t VALUES (4);\nSELECT missing_column FROM t;\n",
    );
    let mut events = Vec::new();
    let failed = db
        .migrator(&dir)
        .up(
            &UpOptions::default().allow_non_empty(true),
            &mut recorder(&mut events),
        )
        .unwrap_err();
    assert_eq!(failed.error.kind, ErrorKind::MigrationFailed);
    assert!(
        failed
            .error
            .message_with_cause()
            .contains("004_row_4.up.sql:3:8:"),
        "{}",
        failed.error.message_with_cause()
    );
    let reported = &failed.report.errors[0];
    assert_eq!(reported.version.as_deref(), Some("004"));
    assert_eq!((reported.line, reported.column), (Some(3), Some(8)));
    assert_eq!(reported.sqlstate.as_deref(), Some("42703"));
    assert_eq!(failed.report.applied, ["001", "002", "003"]);
    assert_eq!(failed.report.skipped, ["005", "006"]);
    assert_eq!(reported.committed, ["001", "002", "003"]);
    assert_eq!(reported.not_attempted, ["005", "006"]);

    // Earlier transactions committed with their rows; the failing one left nothing; the later
    // ones never ran.
    assert_eq!(versions(&db), ["001", "002", "003"]);
    assert_eq!(ids(&db), ["2", "3"]);
    assert_eq!(
        trace(&events),
        [
            "start 001",
            "done 001",
            "start 002",
            "done 002",
            "start 003",
            "done 003",
            "start 004"
        ]
    );

    // Fixed, the next run applies the rest.
    dir.write("004_row_4.up.sql", "INSERT INTO t VALUES (4);\n");
    let report = up_anyway(&mut db.migrator(&dir)).unwrap();
    assert_eq!(report.applied, ["004", "005", "006"]);
    assert_eq!(ids(&db), ["2", "3", "4", "5", "6"]);
}

#[test]
fn a_runtime_error_without_a_position_is_the_failing_migration_s() {
    let db = TestDb::new("batchdup");
    let dir = Dir::new();
    inserts(&dir, 5);
    // A duplicate key: the server gives no position, only the marker tells which one failed.
    dir.write("003_row_3.up.sql", "INSERT INTO t VALUES (2);\n");
    let failed = up_anyway(&mut db.migrator(&dir)).unwrap_err();
    let reported = &failed.report.errors[0];
    assert_eq!(reported.version.as_deref(), Some("003"));
    assert_eq!(reported.sqlstate.as_deref(), Some("23505"));
    assert!(
        failed.error.message.contains("003_row_3.up.sql"),
        "{}",
        failed.error.message
    );
    assert_eq!(failed.report.applied, ["001", "002"]);
    assert_eq!(versions(&db), ["001", "002"]);
    assert_eq!(ids(&db), ["2"]);
}

#[test]
fn a_syntax_error_late_in_a_message_runs_the_ones_before_it() {
    // The server parses a whole message before running any of it: a syntax error in the fifth
    // migration rejects the first four too, so they are sent again without it.
    let db = TestDb::new("batchsyntax");
    let dir = Dir::new();
    inserts(&dir, 7);
    dir.write(
        "005_row_5.up.sql",
        "INSERT INTO t VALUES (5);\nINSRT INTO t VALUES (55);\n",
    );
    let failed = up_anyway(&mut db.migrator(&dir)).unwrap_err();
    assert!(
        failed
            .error
            .message_with_cause()
            .contains("005_row_5.up.sql:2:1:"),
        "{}",
        failed.error.message_with_cause()
    );
    assert_eq!(failed.report.applied, ["001", "002", "003", "004"]);
    assert_eq!(versions(&db), ["001", "002", "003", "004"]);
    assert_eq!(ids(&db), ["2", "3", "4"]);
    assert_eq!(failed.report.skipped, ["006", "007"]);
}

#[test]
fn identical_function_bodies_are_told_apart_by_their_migration() {
    // The server reports an error inside a function body as a position in the body's text;
    // two migrations of the message carry the same text, and the second one is at fault.
    let db = TestDb::new("batchbody");
    let dir = Dir::new();
    let body = "CREATE FUNCTION {f}() RETURNS int LANGUAGE sql AS $$\nSELECT x FROM t2\n$$;\n";
    dir.migration(
        "001",
        "f1",
        &format!("CREATE TABLE t2 (x int);\n{}", body.replace("{f}", "f1")),
        "DROP FUNCTION f1();\nDROP TABLE t2;\n",
    )
    .migration(
        "002",
        "f2",
        &format!("DROP TABLE t2;\n\n{}", body.replace("{f}", "f2")),
        "DROP FUNCTION f2();\n",
    );
    let failed = up_anyway(&mut db.migrator(&dir)).unwrap_err();
    let reported = &failed.report.errors[0];
    assert_eq!(reported.version.as_deref(), Some("002"));
    assert!(
        reported
            .file
            .as_ref()
            .is_some_and(|f| f.ends_with("002_f2.up.sql")),
        "{reported:?}"
    );
    assert_eq!(reported.line, Some(4), "{reported:?}");
    assert_eq!(versions(&db), ["001"]);
}

/// Commits `other`'s transaction (releasing its locks) once `rows` ledger rows are committed
/// in database `db`, and 400 ms more have passed: the migration after them has waited.
fn release_after_rows(
    db: &str,
    mut other: postgres::Client,
    rows: usize,
) -> std::thread::JoinHandle<()> {
    let db = db.to_string();
    std::thread::spawn(move || {
        let mut watch = apply_support::connect(&db, "watcher");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let rows = rows.to_string();
        loop {
            let recorded = apply_support::value(
                &mut watch,
                "SELECT count(*) FROM pg_tables WHERE tablename = 'tb_confiture'",
            );
            if recorded.as_deref() == Some("1")
                && apply_support::value(&mut watch, "SELECT count(*) FROM tb_confiture").as_deref()
                    == Some(rows.as_str())
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the first {rows} migrations never committed"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(400));
        other.batch_execute("COMMIT").unwrap();
    })
}

#[test]
fn a_lock_timeout_in_the_middle_is_retried_from_the_migration_that_waited() {
    let db = TestDb::new("batchretry");
    db.client()
        .batch_execute("CREATE TABLE busy (id int)")
        .unwrap();
    let dir = Dir::new();
    inserts(&dir, 3);
    dir.migration(
        "004",
        "alter_busy",
        "ALTER TABLE busy ADD COLUMN note text;\n",
        "ALTER TABLE busy DROP COLUMN note;\n",
    )
    .migration(
        "005",
        "after",
        "INSERT INTO t VALUES (5);\n",
        "DELETE FROM t WHERE id = 5;\n",
    );
    let mut other = db.client_as("app-traffic");
    other
        .batch_execute("BEGIN; LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    // Released once the migration has waited at least once, and seen committed rows before it.
    let release = release_after_rows(&db.name, other, 3);
    let mut events = Vec::new();
    let options = UpOptions {
        lock_timeout_statement: Some(Duration::from_millis(100)),
        allow_non_empty: true,
        ..Default::default()
    };
    let mut env = apply_support::environment(&db.name);
    env.migration.lock_retries = 20;
    let report = apply_support::migrator_for(env, &dir.path)
        .up(&options, &mut recorder(&mut events))
        .unwrap();
    release.join().unwrap();
    assert_eq!(report.applied, ["001", "002", "003", "004", "005"]);
    assert_eq!(versions(&db), ["001", "002", "003", "004", "005"]);
    let trace = trace(&events);
    let first_retry = trace
        .iter()
        .position(|e| e == "retry 004")
        .expect("004 waited");
    assert_eq!(
        trace[..first_retry],
        [
            "start 001",
            "done 001",
            "start 002",
            "done 002",
            "start 003",
            "done 003",
            "start 004"
        ]
    );
    assert!(
        trace[first_retry..]
            .iter()
            .all(|e| e == "retry 004" || e.ends_with("004") || e.ends_with("005")),
        "{trace:?}"
    );
    assert_eq!(
        trace.iter().filter(|e| *e == "start 004").count(),
        1,
        "{trace:?}"
    );
    assert_eq!(trace.last().map(String::as_str), Some("done 005"));
}

#[test]
fn a_lock_that_stays_taken_fails_the_migration_that_waited_and_keeps_the_earlier_ones() {
    let db = TestDb::new("batchgiveup");
    db.client()
        .batch_execute("CREATE TABLE busy (id int)")
        .unwrap();
    let dir = Dir::new();
    inserts(&dir, 2);
    dir.migration(
        "003",
        "alter_busy",
        "ALTER TABLE busy ADD COLUMN note text;\n",
        "ALTER TABLE busy DROP COLUMN note;\n",
    )
    .migration(
        "004",
        "after",
        "INSERT INTO t VALUES (4);\n",
        "DELETE FROM t WHERE id = 4;\n",
    );
    let mut other = db.client_as("app-traffic");
    other
        .batch_execute("BEGIN; LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let mut env = apply_support::environment(&db.name);
    env.migration.lock_timeout = Duration::from_millis(100);
    env.migration.lock_retries = 1;
    let failed = up_anyway(&mut apply_support::migrator_for(env, &dir.path)).unwrap_err();
    other.batch_execute("COMMIT").unwrap();
    let reported = &failed.report.errors[0];
    assert_eq!(reported.version.as_deref(), Some("003"));
    assert_eq!(reported.sqlstate.as_deref(), Some("55P03"));
    assert!(
        failed
            .error
            .details
            .iter()
            .any(|d| d.contains("gave up after 2 attempts")),
        "{:?}",
        failed.error.details
    );
    assert_eq!(failed.report.applied, ["001", "002"]);
    assert_eq!(failed.report.skipped, ["004"]);
    assert_eq!(versions(&db), ["001", "002"]);
    assert_eq!(ids(&db), ["2"]);
}

#[test]
fn timings_and_applied_at_stay_per_migration_inside_a_message() {
    let db = TestDb::new("batchtime");
    let dir = Dir::new();
    inserts(&dir, 4);
    dir.write(
        "003_row_3.up.sql",
        "SELECT pg_sleep(0.3);\nINSERT INTO t VALUES (3);\n",
    );
    let report = up_anyway(&mut db.migrator(&dir)).unwrap();
    let took: Vec<u64> = report
        .migrations
        .iter()
        .map(|m| m.duration_ms.unwrap())
        .collect();
    assert!(took[2] >= 300, "{took:?}");
    assert!(took[1] < 300 && took[3] < 300, "{took:?}");
    let mut c = db.client();
    let ms = rows(
        &mut c,
        "SELECT execution_time_ms FROM tb_confiture ORDER BY version",
    );
    assert!(ms[2].parse::<i64>().unwrap() >= 300, "{ms:?}");
    // applied_at is each migration's own start, not the message's.
    let gap = rows(
        &mut c,
        "SELECT (extract(epoch FROM (SELECT applied_at FROM tb_confiture WHERE version = '004') \
         - (SELECT applied_at FROM tb_confiture WHERE version = '003')) * 1000)::int",
    );
    assert!(gap[0].parse::<i64>().unwrap() >= 300, "{gap:?}");
    let slug = rows(
        &mut c,
        "SELECT slug FROM tb_confiture WHERE version = '003'",
    );
    let day = rows(
        &mut c,
        "SELECT to_char(applied_at, 'YYYYMMDD') FROM tb_confiture WHERE version = '003'",
    );
    assert!(
        slug[0].starts_with(&format!("row_3_003_{}_", day[0])),
        "{slug:?}"
    );
    // The session is left as it was found.
    assert_eq!(
        db.value("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'")
            .as_deref(),
        Some("0")
    );
}

#[test]
fn a_no_transaction_migration_splits_the_messages_around_it() {
    let db = TestDb::new("batchcic");
    let dir = Dir::new();
    inserts(&dir, 5);
    dir.write(
        "003_row_3.up.sql",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n",
    );
    dir.write(
        "003_row_3.down.sql",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t_id;\n",
    );
    let report = up_anyway(&mut db.migrator(&dir)).unwrap();
    assert_eq!(report.applied, ["001", "002", "003", "004", "005"]);
    assert_eq!(versions(&db), ["001", "002", "003", "004", "005"]);
    assert!(db.table_exists("t_id"));
    assert_eq!(ids(&db), ["2", "4", "5"]);
}

#[test]
fn a_failing_rollback_in_the_middle_keeps_the_newer_ones_rolled_back() {
    let db = TestDb::new("batchdown");
    let dir = Dir::new();
    inserts(&dir, 5);
    up_anyway(&mut db.migrator(&dir)).unwrap();
    dir.write(
        "003_row_3.down.sql",
        "DELETE FROM t WHERE id = 3;\nDELET FROM t;\n",
    );
    let failed = db
        .migrator(&dir)
        .down(
            &DownOptions {
                target: Some(crate::history::Version::from(0)),
                yes: true,
                ..Default::default()
            },
            &mut no_progress,
        )
        .unwrap_err();
    assert!(
        failed
            .error
            .message_with_cause()
            .contains("003_row_3.down.sql:2:1:"),
        "{}",
        failed.error.message_with_cause()
    );
    assert_eq!(failed.report.rolled_back, ["005", "004"]);
    assert_eq!(versions(&db), ["001", "002", "003"]);
    assert_eq!(ids(&db), ["2", "3"]);
}

/// The limits, through the engine's own entry point: three messages of at most two
/// migrations; the failure in the second message keeps the first message and the migration
/// before it in the second.
#[test]
fn batch_limits_bound_each_message() {
    let db = TestDb::new("batchlimits");
    let dir = Dir::new();
    inserts(&dir, 6);
    dir.write("004_row_4.up.sql", "INSERT INTO t VALUES (2);\n");
    let checked = files::load(&dir.path, &CheckOptions::default()).unwrap();
    let mut client = db.client();
    let settings = ApplySettings::for_tests();
    apply::create_tracking_table(&mut client, &settings.table, None, settings.ddl_bound()).unwrap();
    let steps = super::up_steps(&checked.set);
    let mut events = Vec::new();
    let limits = BatchLimits {
        max_bytes: usize::MAX,
        max_steps: 2,
    };
    let (failed_at, failure) =
        apply::run_steps(&mut client, &settings, &steps, limits, None, &mut |e| {
            events.push(e)
        })
        .unwrap_err();
    assert_eq!(failed_at, 3);
    assert_eq!(
        failure.server.as_ref().map(|s| s.sqlstate.as_str()),
        Some("23505")
    );
    let finished: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            StepEvent::Finished(i, _) => Some(*i),
            _ => None,
        })
        .collect();
    assert_eq!(finished, [0, 1, 2]);
    assert_eq!(versions(&db), ["001", "002", "003"]);
    // The session is usable and outside any transaction.
    assert_eq!(
        apply_support::value(&mut client, "SELECT 1").as_deref(),
        Some("1")
    );
    // A message no larger than one migration still carries one.
    let tiny = BatchLimits {
        max_bytes: 1,
        max_steps: 1000,
    };
    dir.write("004_row_4.up.sql", "INSERT INTO t VALUES (4);\n");
    let checked = files::load(&dir.path, &CheckOptions::default()).unwrap();
    let steps = super::up_steps(&checked.set);
    apply::run_steps(&mut client, &settings, &steps[3..], tiny, None, &mut |_| {}).unwrap();
    assert_eq!(versions(&db), ["001", "002", "003", "004", "005", "006"]);
}

/// Durations are the server's measure of each migration, or omitted: never the message's time
/// split evenly — for rollbacks sent together, and for the migrations that committed in a
/// message that then failed.
#[test]
fn durations_are_real_for_rollbacks_and_before_a_failure_never_a_share() {
    let db = TestDb::new("realtime");
    let dir = Dir::new();
    inserts(&dir, 4);
    dir.write(
        "003_row_3.down.sql",
        "SELECT pg_sleep(0.3);\nDELETE FROM t WHERE id = 3;\n",
    );
    let mut migrator = db.migrator(&dir);
    up_anyway(&mut migrator).unwrap();
    let report = migrator
        .down(
            &DownOptions {
                steps: Some(3),
                ..DownOptions::default()
            },
            &mut no_progress,
        )
        .unwrap();
    let took: Vec<Option<u64>> = report.migrations.iter().map(|m| m.duration_ms).collect();
    // Rolled back 004, 003, 002, in that order.
    assert!(took[1].unwrap() >= 300, "{took:?}");
    assert!(took[0].unwrap() < 300 && took[2].unwrap() < 300, "{took:?}");

    // 002 sleeps, 003 is quick, 004 fails: the two that committed keep their own times.
    dir.write(
        "002_row_2.up.sql",
        "SELECT pg_sleep(0.3);\nINSERT INTO t VALUES (2);\n",
    );
    dir.write("004_row_4.up.sql", "INSERT INTO nope VALUES (4);\n");
    let failed = up_anyway(&mut migrator).unwrap_err();
    assert_eq!(failed.report.applied, ["002", "003"]);
    let took: Vec<Option<u64>> = failed
        .report
        .migrations
        .iter()
        .map(|m| m.duration_ms)
        .collect();
    assert!(took[0].unwrap() >= 300, "{took:?}");
    assert!(took[1].unwrap() < 300, "{took:?}");
}

/// Ledger rows that cannot be prepared (a ledger table without `checksum`) are written inline:
/// the failure is the first migration's, with the server's SQLSTATE, nothing is committed, and
/// none of our prepared statements is left in the session.
#[test]
fn rows_that_cannot_be_prepared_fail_the_first_migration_inline() {
    let db = TestDb::new("unpreparable");
    let dir = Dir::new();
    inserts(&dir, 3);
    let checked = files::load(&dir.path, &CheckOptions::default()).unwrap();
    let mut client = db.client();
    client
        .batch_execute(
            "CREATE TABLE tb_confiture (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), \
             pk_confiture bigint GENERATED ALWAYS AS IDENTITY, slug text, version text, \
             name text, applied_at timestamptz, execution_time_ms int, applied_by text)",
        )
        .unwrap();
    let settings = ApplySettings::for_tests();
    let steps = super::up_steps(&checked.set);
    let (failed_at, failure) = super::run_steps(&mut client, &settings, &steps).unwrap_err();
    assert_eq!(failed_at, 0);
    assert_eq!(
        failure.server.as_ref().map(|s| s.sqlstate.as_str()),
        Some("42703"),
        "{failure:?}"
    );
    assert_eq!(
        rows(&mut client, "SELECT count(*)::text FROM tb_confiture"),
        ["0"]
    );
    assert_eq!(
        rows(
            &mut client,
            "SELECT count(*)::text FROM pg_prepared_statements WHERE name LIKE 'confiture_%'"
        ),
        ["0"]
    );
    assert_eq!(
        rows(&mut client, "SELECT to_regclass('t') IS NULL"),
        ["t"],
        "the first migration was rolled back with its row"
    );
}
