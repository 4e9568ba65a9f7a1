//! `Migrator::up` against a real PostgreSQL: rows confiture can read, failures stopping at the
//! right file and line, refusals before doing anything, dry runs that write nothing.

use crate::apply_support;

use std::time::Duration;

use apply_support::{recorder, rows, Dir, TestDb};
use confiture::files::checksum;
use confiture::ledger::TrackingTable;
use confiture::migrate::{no_progress, Progress, UpOptions};
use confiture::{ErrorKind, Reason};

fn three(dir: &Dir) {
    dir.migration(
        "001",
        "create_a",
        "CREATE TABLE a (id int);\n",
        "DROP TABLE a;\n",
    )
    .migration(
        "002",
        "create_b",
        "CREATE TABLE b (id int);\n",
        "DROP TABLE b;\n",
    )
    .migration(
        "003",
        "fill_a",
        "INSERT INTO a VALUES (1), (2);\n",
        "DELETE FROM a;\n",
    );
}

#[test]
fn applies_pending_migrations_and_records_confiture_rows() {
    let db = TestDb::new("up");
    let dir = Dir::new();
    three(&dir);
    let mut events = Vec::new();
    let report = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut recorder(&mut events))
        .unwrap();
    assert_eq!(report.applied, ["001", "002", "003"]);
    assert!(report.errors.is_empty() && report.skipped.is_empty() && !report.dry_run);
    assert_eq!(report.migrations.len(), 3);
    assert_eq!(db.ledger(), ["001:create_a", "002:create_b", "003:fill_a"]);
    assert_eq!(db.value("SELECT count(*) FROM a").as_deref(), Some("2"));

    // The row format of confiture-interop.md.
    let mut c = db.client();
    let slug = rows(
        &mut c,
        "SELECT slug FROM tb_confiture WHERE version = '001'",
    )
    .remove(0);
    let today = db.value("SELECT to_char(now(), 'YYYYMMDD')").unwrap();
    assert!(
        slug.starts_with(&format!("create_a_001_{today}_"))
            && slug.len() == "create_a_001_".len() + 15,
        "{slug}"
    );
    let stored = rows(
        &mut c,
        "SELECT checksum FROM tb_confiture WHERE version = '001'",
    )
    .remove(0);
    assert_eq!(stored, checksum(b"CREATE TABLE a (id int);\n"));
    assert_eq!(
        rows(&mut c, "SELECT DISTINCT applied_by FROM tb_confiture"),
        ["postgres"]
    );
    assert_eq!(
        rows(
            &mut c,
            "SELECT count(*) FROM tb_confiture WHERE execution_time_ms >= 0"
        ),
        ["3"]
    );

    assert!(
        matches!(events.first(), Some(Progress::LockAcquired { .. })),
        "{events:?}"
    );
    let started = events
        .iter()
        .filter(|e| matches!(e, Progress::Started { .. }))
        .count();
    let finished = events
        .iter()
        .filter(|e| matches!(e, Progress::Finished { .. }))
        .count();
    assert_eq!((started, finished), (3, 3));

    // Nothing left: a second run is a no-op that succeeds.
    let mut events = Vec::new();
    let again = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut recorder(&mut events))
        .unwrap();
    assert!(again.applied.is_empty());
    assert!(events.contains(&Progress::UpToDate), "{events:?}");
}

#[test]
fn the_tracking_table_is_confiture_s_and_extra_columns_are_tolerated() {
    let db = TestDb::new("ddl");
    let dir = Dir::new();
    three(&dir);
    db.migrator(&dir)
        .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
        .unwrap();
    let columns = rows(
        &mut db.client(),
        "SELECT column_name || ' ' || data_type || ' ' || is_nullable FROM information_schema.columns \
         WHERE table_name = 'tb_confiture' ORDER BY ordinal_position",
    );
    assert_eq!(
        columns,
        [
            "id uuid NO",
            "pk_confiture bigint NO",
            "slug text NO",
            "version character varying NO",
            "name character varying NO",
            "applied_at timestamp with time zone NO",
            "execution_time_ms integer YES",
            "checksum character varying YES",
            "applied_by text YES",
        ]
    );
    let indexes = rows(
        &mut db.client(),
        "SELECT indexname FROM pg_indexes WHERE tablename = 'tb_confiture' ORDER BY 1",
    );
    for name in [
        "idx_tb_confiture_applied_at",
        "idx_tb_confiture_pk_confiture",
        "idx_tb_confiture_slug",
        "idx_tb_confiture_version",
    ] {
        assert!(indexes.iter().any(|i| i == name), "{name} in {indexes:?}");
    }
    // A newer confiture adds a column; we keep working.
    db.client()
        .batch_execute("ALTER TABLE tb_confiture ADD COLUMN archived_into text")
        .unwrap();
    let report = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(report.applied, ["002", "003"]);
}

#[test]
fn a_schema_qualified_tracking_table_gets_its_schema() {
    let db = TestDb::new("schema");
    let dir = Dir::new();
    three(&dir);
    let mut env = apply_support::environment(&db.name);
    env.migration.tracking_table = TrackingTable::parse("ops.tb_mig").unwrap();
    let mut m = apply_support::migrator_for(env, &dir.path);
    m.up(&UpOptions::default(), &mut no_progress).unwrap();
    assert_eq!(db.ledger_of("ops.tb_mig").len(), 3);
    assert!(!db.table_exists("tb_confiture"));
}

#[test]
fn a_failing_migration_stops_the_run_at_its_file_and_line() {
    let db = TestDb::new("fail");
    let dir = Dir::new();
    dir.migration(
        "001",
        "one",
        "CREATE TABLE one (id int);\n",
        "DROP TABLE one;\n",
    )
    .migration(
        "002",
        "two",
        "CREATE TABLE two (id int);\n",
        "DROP TABLE two;\n",
    )
    .migration(
        "003",
        "three",
        "-- créé à la main\nCREATE TABLE three (id int);\nCREAT TABLE oops (id int);\n",
        "DROP TABLE three;\n",
    )
    .migration(
        "004",
        "four",
        "CREATE TABLE four (id int);\n",
        "DROP TABLE four;\n",
    )
    .migration(
        "005",
        "five",
        "CREATE TABLE five (id int);\n",
        "DROP TABLE five;\n",
    );
    let failed = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    let err = &failed.error;
    assert_eq!(err.kind, ErrorKind::MigrationFailed);
    assert_eq!(err.exit_code(), 4);
    assert!(
        err.message_with_cause().contains("003_three.up.sql:3:1:"),
        "{}",
        err.message_with_cause()
    );
    assert!(
        err.message_with_cause()
            .contains("syntax error at or near \"CREAT\""),
        "{}",
        err.message_with_cause()
    );
    assert!(
        err.details.iter().any(|d| d == "SQLSTATE 42601"),
        "{:?}",
        err.details
    );
    let Reason::Migration(failure) = err.reason() else {
        panic!("a migration failure: {:?}", err.reason());
    };
    assert_eq!(failure.committed, ["001", "002"]);
    assert_eq!(failure.not_attempted, ["004", "005"]);

    assert_eq!(db.ledger(), ["001:one", "002:two"]);
    assert!(
        !db.table_exists("three"),
        "the failed migration was rolled back"
    );
    assert!(!db.table_exists("four"));

    let report = &failed.report;
    assert_eq!(report.applied, ["001", "002"]);
    assert_eq!(report.skipped, ["004", "005"]);
    let reported = &report.errors[0];
    assert_eq!(
        (reported.kind, reported.exit_code),
        (ErrorKind::MigrationFailed, 4)
    );
    assert_eq!(
        (
            reported.version.as_deref(),
            reported.line,
            reported.sqlstate.as_deref()
        ),
        (Some("003"), Some(3), Some("42601"))
    );
    assert!(reported
        .file
        .as_ref()
        .unwrap()
        .ends_with("003_three.up.sql"));

    // The JSON keeps the seed's keys.
    let json = serde_json::to_value(report).unwrap();
    for key in ["applied", "skipped", "errors", "total_duration_ms"] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }

    // The session is usable after the failure, and a fixed file applies.
    dir.write("003_three.up.sql", "CREATE TABLE three (id int);\n");
    let report = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(report.applied, ["003", "004", "005"]);
}

/// The protocol fact the ROLLBACK after a failed message relies on.
#[test]
fn an_error_inside_an_explicit_transaction_leaves_the_session_aborted() {
    let db = TestDb::new("aborted");
    let mut c = db.client();
    assert!(c.batch_execute("BEGIN; SELECT 1/0; COMMIT;").is_err());
    let err = c.batch_execute("SELECT 1").unwrap_err();
    assert_eq!(
        err.code().unwrap().code(),
        "25P02",
        "in_failed_sql_transaction"
    );
    c.batch_execute("ROLLBACK").unwrap();
    c.batch_execute("SELECT 1").unwrap();
}

#[test]
fn errors_in_function_bodies_point_into_the_body() {
    let db = TestDb::new("fnbody");
    let dir = Dir::new();
    dir.migration(
        "001",
        "fn",
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1\n  RETRN 2;\nEND\n$$;\n",
        "DROP FUNCTION f();\n",
    );
    let failed = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    let reported = &failed.report.errors[0];
    assert_eq!(reported.line, Some(4), "{reported:?}");

    dir.write(
        "001_fn.up.sql",
        "SELECT 1;\n\nDO $$\nBEGIN\n  PERFORM 1;\n  PERFRM 2;\nEND\n$$;\n",
    );
    let failed = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    let reported = &failed.report.errors[0];
    assert_eq!(reported.line, Some(6), "{reported:?}");
}

#[test]
fn a_comment_on_the_last_line_does_not_swallow_the_ledger_row() {
    let db = TestDb::new("comment");
    let dir = Dir::new();
    dir.migration(
        "001",
        "c",
        "CREATE TABLE c (id int); -- trailing comment, no newline",
        "DROP TABLE c;",
    );
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(db.ledger(), ["001:c"]);
}

#[test]
fn execution_time_is_measured_by_the_server() {
    let db = TestDb::new("time");
    let dir = Dir::new();
    dir.migration("001", "slow", "SELECT pg_sleep(0.2);\n", "SELECT 1;\n");
    let report = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    let ms: i64 = db
        .value("SELECT execution_time_ms FROM tb_confiture")
        .unwrap()
        .parse()
        .unwrap();
    assert!((200..5000).contains(&ms), "{ms}");
    assert!(report.migrations[0].duration_ms.unwrap() >= 200);
}

#[test]
fn steps_and_target_limit_the_run() {
    let db = TestDb::new("steps");
    let dir = Dir::new();
    three(&dir);
    let r = db
        .migrator(&dir)
        .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
        .unwrap();
    assert_eq!(
        (r.applied, r.skipped),
        (
            vec!["001".to_string()],
            vec!["002".to_string(), "003".to_string()]
        )
    );
    let r = db
        .migrator(&dir)
        .up(&UpOptions::default().target(Some(2)), &mut no_progress)
        .unwrap();
    assert_eq!(r.applied, ["002"]);
    assert_eq!(db.ledger().len(), 2);
}

#[test]
fn bad_requests_are_refused_before_connecting() {
    let dir = Dir::new();
    three(&dir);
    // A database that does not exist: reaching it would be a connection error instead.
    let mut m =
        apply_support::migrator_for(apply_support::environment("cft_does_not_exist"), &dir.path);
    let err = m
        .up(&UpOptions::default().steps(Some(0)), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!((err.kind, err.exit_code()), (ErrorKind::Usage, 64));
    let err = m
        .up(&UpOptions::default().target(Some(7)), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.kind, ErrorKind::Usage);
    assert_eq!(
        err.help.as_deref(),
        Some("the newest migration is 003_fill_a")
    );

    dir.write("004_no_down.up.sql", "SELECT 1;\n");
    let err = m
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!((err.kind, err.exit_code()), (ErrorKind::Invalid, 5));
    assert!(
        err.details.iter().any(|d| d.contains("004_no_down")),
        "{:?}",
        err.details
    );
}

/// A session its `before_connecting` check refused stays refused: the check is asked once,
/// and every later command of the same `Migrator` (the same one, a read, a dry run, `down`)
/// is refused with its error, nothing read or written. The second `up` applied every
/// migration to the database the check had refused, unchecked.
#[test]
fn a_session_its_check_refused_stays_refused() {
    let db = TestDb::new("checkrefused");
    let dir = Dir::new();
    three(&dir);
    let mut m = db.migrator(&dir);
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = asked.clone();
    m.before_connecting(move |env| {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(confiture::Error::usage(format!(
            "{} is not a tenant",
            env.connection
        )))
    });
    let refused = |error: confiture::Error, how: &str| {
        assert_eq!(error.kind, ErrorKind::Usage, "{how}: {error}");
        assert!(error.message.ends_with("is not a tenant"), "{how}: {error}");
    };
    for how in ["up", "up again", "a dry run"] {
        let options = UpOptions::default().dry_run(how == "a dry run");
        refused(m.up(&options, &mut no_progress).unwrap_err().error, how);
    }
    refused(m.status().unwrap_err(), "status");
    let down = confiture::migrate::DownOptions::default();
    refused(m.down(&down, &mut no_progress).unwrap_err().error, "down");
    assert_eq!(
        asked.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "asked once"
    );
    assert!(!db.table_exists("tb_confiture"), "nothing written");
    assert!(!db.table_exists("a"), "nothing applied");
}

/// A `before_connecting` check that panics (a service catching the panic and trying again)
/// leaves the session refused, as a check's refusal does: the check was taken before it was
/// asked, so the next command ran with no check at all and applied every migration to the
/// database the check was there to refuse.
#[test]
fn a_session_whose_check_panicked_stays_refused() {
    let db = TestDb::new("checkpanicked");
    let dir = Dir::new();
    three(&dir);
    let mut m = db.migrator(&dir);
    m.before_connecting(|_| panic!("the tenant lookup failed"));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = m.up(&UpOptions::default(), &mut no_progress);
    }));
    assert!(panicked.is_err(), "the check's panic reaches the caller");
    let refused = m
        .up(&UpOptions::default(), &mut no_progress)
        .map(|r| r.applied)
        .unwrap_err()
        .error;
    assert_eq!(refused.kind, ErrorKind::Usage, "{refused}");
    assert!(
        refused.message.contains("before_connecting"),
        "names the check: {refused}"
    );
    assert_eq!(m.status().unwrap_err().kind, ErrorKind::Usage, "status too");
    assert!(!db.table_exists("tb_confiture"), "nothing written");
    assert!(!db.table_exists("a"), "nothing applied");
}

/// A session handed a connection (`with_client`) asks its `before_connecting` check too,
/// before taking the connection over: the check was never asked there, and every command ran
/// unchecked on the database it would have refused.
#[test]
fn a_session_handed_a_connection_asks_its_check_too() {
    let db = TestDb::new("checkhanded");
    let dir = Dir::new();
    three(&dir);
    let mut m = db.migrator(&dir).with_client(db.client());
    m.before_connecting(|env| {
        Err(confiture::Error::usage(format!(
            "{} is not a tenant",
            env.connection
        )))
    });
    let up = m.up(&UpOptions::default(), &mut no_progress);
    let refused = up.map(|r| r.applied).unwrap_err().error;
    assert_eq!(refused.kind, ErrorKind::Usage, "{refused}");
    assert!(refused.message.ends_with("is not a tenant"), "{refused}");
    assert_eq!(m.status().unwrap_err().kind, ErrorKind::Usage, "status too");
    assert!(!db.table_exists("tb_confiture"), "nothing written");
    // The connection comes back, as the caller's.
    let mut client = m.into_client().expect("the connection comes back");
    client.batch_execute("SELECT 1").unwrap();
}

#[test]
fn modified_and_out_of_order_migrations_are_refused_up_front() {
    let db = TestDb::new("diverged");
    let dir = Dir::new();
    dir.migration("001", "a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration("002", "b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n")
        .migration("003", "c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n");
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    // As if 002 came from a branch merged after 003 was deployed.
    db.client()
        .batch_execute("DELETE FROM tb_confiture WHERE version = '002'; DROP TABLE b")
        .unwrap();

    // Someone also edited the applied 001, and 004 is new.
    dir.migration("004", "d", "CREATE TABLE d (id int);\n", "DROP TABLE d;\n");
    dir.write("001_a.up.sql", "CREATE TABLE a (id bigint);\n");
    let err = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!((err.kind, err.exit_code()), (ErrorKind::Diverged, 7));
    assert!(
        err.details[0].starts_with("modified: 001_a"),
        "{:?}",
        err.details
    );
    assert!(
        err.details[1].starts_with("out of order: 002_b"),
        "{:?}",
        err.details
    );
    let help = err.help.unwrap();
    assert!(
        help.contains("`cargo confiture migrate reinit --database-url <URL> --migrations-dir ")
            && help.contains("`UpOptions::allow_out_of_order`"),
        "{help}"
    );
    assert!(!db.table_exists("d"), "nothing ran");

    dir.write("001_a.up.sql", "CREATE TABLE a (id int);\n");
    let r = db
        .migrator(&dir)
        .up(
            &UpOptions::default().allow_out_of_order(true),
            &mut no_progress,
        )
        .unwrap();
    assert_eq!(r.applied, ["002", "004"]);

    // A deleted applied file is refused too.
    std::fs::remove_file(dir.file("004_d.up.sql")).unwrap();
    std::fs::remove_file(dir.file("004_d.down.sql")).unwrap();
    let err = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.kind, ErrorKind::Diverged);
    // 004 is above the newest file: the database is ahead of the files (or they were lost).
    let Some(newer) = (match err.reason() {
        confiture::Reason::Diverged(d) => d.newer_database.as_ref(),
        _ => None,
    }) else {
        panic!("{err:?}")
    };
    assert_eq!(newer.versions, ["004"]);
    assert!(
        err.details[1].starts_with("missing: 004_d"),
        "{:?}",
        err.details
    );
}

#[test]
fn a_dry_run_writes_nothing_and_shows_the_sql() {
    let db = TestDb::new("dry");
    let dir = Dir::new();
    three(&dir);
    let before = db.snapshot();
    let r = db
        .migrator(&dir)
        .up(&UpOptions::default().dry_run(true), &mut no_progress)
        .unwrap();
    assert_eq!(
        db.snapshot(),
        before,
        "no tracking table, no lock, no table"
    );
    assert!(r.dry_run && r.applied.is_empty());
    let planned: Vec<&str> = r.migrations.iter().map(|m| m.version.as_str()).collect();
    assert_eq!(planned, ["001", "002", "003"]);
    assert_eq!(
        r.migrations[0].sql.as_deref(),
        Some("CREATE TABLE a (id int);\n")
    );

    db.migrator(&dir)
        .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
        .unwrap();
    let before = db.snapshot();
    let ledger = db.ledger();
    let r = db
        .migrator(&dir)
        .up(&UpOptions::default().dry_run(true), &mut no_progress)
        .unwrap();
    assert_eq!(r.migrations.len(), 2);
    assert_eq!((db.snapshot(), db.ledger()), (before, ledger));
}

#[test]
fn single_transaction_records_all_or_nothing() {
    let db = TestDb::new("single");
    let dir = Dir::new();
    three(&dir);
    dir.migration("004", "bad", "SELECT 1/0;\n", "SELECT 1;\n");
    let opts = UpOptions::default().single_transaction(true);
    let failed = db.migrator(&dir).up(&opts, &mut no_progress).unwrap_err();
    assert_eq!(failed.error.kind, ErrorKind::MigrationFailed);
    assert!(
        failed
            .error
            .message_with_cause()
            .contains("004_bad.up.sql:1:1 (statement 1 of 1): division by zero"),
        "{}",
        failed.error.message
    );
    assert!(failed.report.applied.is_empty());
    assert!(db.ledger().is_empty() && !db.table_exists("a"));

    dir.write("004_bad.up.sql", "SELECT 1;\n");
    let r = db.migrator(&dir).up(&opts, &mut no_progress).unwrap();
    assert_eq!(r.applied, ["001", "002", "003", "004"]);
    assert_eq!(db.ledger().len(), 4);

    dir.migration(
        "005",
        "cic",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY a_id;\n",
    );
    let err = db
        .migrator(&dir)
        .up(&opts, &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.kind, ErrorKind::Usage);
    assert_eq!(db.ledger().len(), 4);
}

/// On a fresh database `up` sends the ledger's DDL while it reads its files, uncommitted: a
/// plan refused after that (here `--single-transaction` with a no-transaction migration) rolls
/// it back on the session the `Migrator` keeps, releases the lock, and the next command works.
#[test]
fn a_refused_up_on_a_fresh_database_leaves_no_ledger_and_a_clean_session() {
    let db = TestDb::new("refusedfresh");
    let dir = Dir::new();
    dir.migration(
        "001",
        "create_a",
        "CREATE TABLE a (id int);\n",
        "DROP TABLE a;\n",
    )
    .migration(
        "002",
        "index_a",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY a_id;\n",
    );
    let mut migrator = db.migrator(&dir);
    let single = UpOptions::default().single_transaction(true);
    let err = migrator.up(&single, &mut no_progress).unwrap_err().error;
    assert_eq!(err.kind, ErrorKind::Usage, "{err}");
    assert!(!db.table_exists("tb_confiture"), "no ledger committed");
    assert!(apply_support::lock_is_free(&db), "the lock was released");
    // The session itself no longer sees the table: its DDL was rolled back, not left open.
    let mut client = migrator.into_client().expect("connected");
    let seen = apply_support::value(&mut client, "SELECT to_regclass('tb_confiture') IS NULL");
    assert_eq!(
        seen.as_deref(),
        Some("t"),
        "the DDL's transaction is still open"
    );
    let mut migrator = db.migrator(&dir).with_client(client);
    let r = migrator
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(r.applied, ["001", "002"]);
    assert_eq!(db.ledger(), ["001:create_a", "002:index_a"]);
}

#[test]
fn create_database_creates_a_missing_database() {
    let db = TestDb::new("created");
    let name = format!("{}_new", db.name);
    let dir = Dir::new();
    three(&dir);
    // Dropped with the guard even if the assertions fail.
    let _guard = TestDb::adopt(name.clone());
    let mut m = apply_support::migrator_for(apply_support::environment(&name), &dir.path);
    let r = m
        .up(
            &UpOptions::default().create_database(true),
            &mut no_progress,
        )
        .unwrap();
    assert_eq!(r.applied.len(), 3);
    // Existing database: nothing to create.
    let mut m = apply_support::migrator_for(apply_support::environment(&name), &dir.path);
    m.up(
        &UpOptions::default().create_database(true),
        &mut no_progress,
    )
    .unwrap();
}

#[test]
fn the_lock_timeout_names_the_holder() {
    let db = TestDb::new("uplock");
    let dir = Dir::new();
    three(&dir);
    let mut holder = db.client_as("other-deploy");
    let key = confiture::db::lock_id(&db.name);
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock(1751936052, {key})"))
        .unwrap();
    let pid = apply_support::value(&mut holder, "SELECT pg_backend_pid()").unwrap();
    let start = std::time::Instant::now();
    let mut events = Vec::new();
    let failed = db
        .migrator(&dir)
        .up(
            &UpOptions::default().lock_wait(Duration::from_secs(2)),
            &mut recorder(&mut events),
        )
        .unwrap_err();
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    assert_eq!(
        (failed.error.kind, failed.error.exit_code()),
        (ErrorKind::LockTimeout, 6)
    );
    let details = failed.error.details.join("\n");
    assert!(
        details.contains(&format!("pid {pid}")) && details.contains("other-deploy"),
        "{details}"
    );
    assert!(
        details.contains(&format!("database: {}", db.display())),
        "{details}"
    );
    assert_eq!(failed.report.errors[0].kind, ErrorKind::LockTimeout);
    assert!(
        matches!(
            &events[0],
            Progress::LockWaiting { holder: Some(h) }
                if h.pid().map(|p| p.to_string()) == Some(pid.to_string())
        ),
        "{events:?}"
    );
    assert!(
        !db.table_exists("tb_confiture"),
        "nothing done without the lock"
    );
}

/// Runtime errors carry no position, and a transactional migration is one message: the
/// failing statement is named from the statement markers the server ran before the error
/// (never by running the file again; see `apply_errors.rs` and `src/db/engine_tests/statement.rs`), a file
/// of one statement with its line, and a file that carries no markers (a backslash in a plain
/// `'...'` string, which `standard_conforming_strings = off` reads otherwise) by name. A
/// backslash that reads the same under either setting — in an `E'...'` string, a comment, a
/// dollar-quoted body — keeps the markers: such a file was named without a line.
#[test]
fn a_runtime_error_without_a_position_names_its_file() {
    let db = TestDb::new("nopos");
    let dir = Dir::new();
    dir.migration(
        "001",
        "a",
        "CREATE TABLE a (id int PRIMARY KEY);\n\nINSERT INTO a VALUES (1);\n-- again\nINSERT INTO a VALUES (1);\n",
        "DROP TABLE a;\n",
    );
    let failed = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    let reported = &failed.report.errors[0];
    assert_eq!(
        (reported.line, reported.sqlstate.as_deref()),
        (Some(5), Some("23505")),
        "{reported:?}"
    );
    assert!(
        failed
            .error
            .message_with_cause()
            .contains("001_a.up.sql:5:1 (statement 3 of 3): duplicate key"),
        "{}",
        failed.error.message
    );
    assert!(!db.table_exists("a"));

    // A backslash the setting does not change: the markers stay.
    for backslash in [
        "INSERT INTO a VALUES (E'\\\\', E'it\\'s; here');",
        "INSERT INTO a VALUES ($$a\\'; b$$); -- a \\ here",
        "/* \\' */ INSERT INTO a VALUES ('x');",
    ] {
        dir.write(
            "001_a.up.sql",
            &format!("CREATE TABLE a (t text, u text);\n{backslash}\nSELECT 1 / 0;\n"),
        );
        let failed = db
            .migrator(&dir)
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap_err();
        assert_eq!(failed.report.errors[0].line, Some(3), "{backslash}");
        assert!(
            failed
                .error
                .message_with_cause()
                .contains("001_a.up.sql:3:1 (statement 3 of 3): division by zero"),
            "{backslash}: {}",
            failed.error.message
        );
        assert!(!db.table_exists("a"));
    }

    // No markers in a file with a backslash in a plain string: named by file, and said why.
    dir.write(
        "001_a.up.sql",
        "CREATE TABLE a (t text);\nINSERT INTO a VALUES ('\\');\nSELECT 1 / 0;\n",
    );
    let failed = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    let reported = &failed.report.errors[0];
    assert_eq!(
        (reported.line, reported.sqlstate.as_deref()),
        (None, Some("22012")),
        "{reported:?}"
    );
    assert!(
        failed
            .error
            .message_with_cause()
            .contains("001_a.up.sql: division by zero"),
        "{}",
        failed.error.message
    );
    assert!(
        failed
            .error
            .details
            .iter()
            .any(|d| d.contains("not run again")),
        "{:?}",
        failed.error.details
    );
    assert!(!db.table_exists("a"));

    dir.write(
        "001_a.up.sql",
        "\n-- one statement\nALTER TABLE nope ADD COLUMN b int;\n",
    );
    let failed = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    assert!(
        failed
            .error
            .message
            .contains("001_a.up.sql:3:1 (statement 1 of 1)"),
        "{}",
        failed.error.message
    );

    // A failure that depends on a sequence (which no rollback resets) is named from the one
    // run that failed: its statement 2, whose nextval moved once.
    // The sequence, made by hand beside the ledger the failed runs left with no rows, is an
    // object a lost history would have left: `up` is told to run anyway.
    db.client().batch_execute("CREATE SEQUENCE once").unwrap();
    dir.write(
        "001_a.up.sql",
        "CREATE TABLE a (id int);\nSELECT CASE WHEN nextval('once') = 1 THEN 1 / (random() > 2)::int ELSE 1 END;\nSELECT 1;\n",
    );
    let mut anyway = UpOptions::default();
    anyway.allow_non_empty = true;
    let failed = db.migrator(&dir).up(&anyway, &mut no_progress).unwrap_err();
    let reported = &failed.report.errors[0];
    assert_eq!(
        (reported.line, reported.sqlstate.as_deref()),
        (Some(2), Some("22012")),
        "{reported:?}"
    );
    assert_eq!(
        db.value("SELECT last_value FROM once").as_deref(),
        Some("1")
    );
    assert!(!db.table_exists("a"));
    assert!(db.ledger().is_empty());
}

/// The database's `idle_session_timeout` bounds the migrations' sessions, not the tool's own
/// wait for the migration lock (idle between two attempts, up to a second and more): the run
/// waits, then applies, and its migrations still see the database's setting.
#[test]
fn an_idle_session_timeout_does_not_end_the_wait_for_the_migration_lock() {
    let db = TestDb::new("upidle");
    let dir = Dir::new();
    dir.migration(
        "001",
        "seen",
        "CREATE TABLE seen AS SELECT current_setting('idle_session_timeout') AS v;\n",
        "DROP TABLE seen;\n",
    );
    db.client()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET idle_session_timeout = '300ms'",
            db.name
        ))
        .unwrap();
    let mut holder = db.client_as("other-deploy");
    let key = confiture::db::lock_id(&db.name);
    holder
        .batch_execute(&format!(
            "SET idle_session_timeout = 0; SELECT pg_advisory_lock(1751936052, {key})"
        ))
        .unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2500));
        holder
            .batch_execute(&format!("SELECT pg_advisory_unlock(1751936052, {key})"))
            .unwrap();
    });
    let mut events = Vec::new();
    let result = db.migrator(&dir).up(
        &UpOptions::default().lock_wait(Duration::from_secs(20)),
        &mut recorder(&mut events),
    );
    release.join().unwrap();
    let report = match result {
        Ok(report) => report,
        Err(failed) => panic!("{:?}", failed.error),
    };
    assert_eq!(report.applied, ["001"]);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Progress::LockWaiting { .. })),
        "{events:?}"
    );
    let seen = apply_support::value(&mut db.client(), "SELECT v FROM seen").unwrap();
    assert_eq!(
        seen, "300ms",
        "the migration runs under the database's setting"
    );
}

/// What the server says while a migration runs reaches the library: every notice as a
/// `ServerNotice` progress event naming its migration (one travelling alone; the first and the
/// last of a message's migrations when several travelled together), before its `Finished`, and each
/// `WARNING` in the report's `warnings`. They used to be dropped.
#[test]
fn server_notices_are_progress_events_and_warnings_are_in_the_report() {
    let db = TestDb::new("notices");
    let dir = Dir::new();
    dir.migration(
        "001",
        "n",
        "DO $$ BEGIN RAISE NOTICE 'hello notice'; RAISE WARNING 'hello warning' USING DETAIL = 'some rows', HINT = 'look'; END $$;\nCREATE TABLE n (id int);\n",
        "DROP TABLE n;\n",
    );
    let mut events = Vec::new();
    let report = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut recorder(&mut events))
        .unwrap();
    let said: Vec<(String, Option<String>, String, String)> = events
        .iter()
        .filter_map(|e| match e {
            Progress::ServerNotice {
                migration,
                through,
                severity,
                message,
                ..
            } => Some((
                migration.clone(),
                through.clone(),
                severity.clone(),
                message.clone(),
            )),
            _ => None,
        })
        .collect();
    let one = "001_n".to_string();
    assert_eq!(
        said,
        [
            (
                one.clone(),
                None,
                "NOTICE".to_string(),
                "hello notice".to_string()
            ),
            (
                one,
                None,
                "WARNING".to_string(),
                "hello warning".to_string()
            ),
        ],
        "{events:?}"
    );
    let notice_at = events
        .iter()
        .position(|e| matches!(e, Progress::ServerNotice { .. }))
        .unwrap();
    let finished_at = events
        .iter()
        .position(|e| matches!(e, Progress::Finished { .. }))
        .unwrap();
    assert!(notice_at < finished_at, "{events:?}");
    assert_eq!(
        report.warnings,
        ["WARNING from migration 001_n: hello warning; DETAIL: some rows; HINT: look"]
    );
}

/// A migration raising a notice per row held every one in memory until its statement ended
/// (3M NOTICEs: 486 MB; a WARNING flood became as many report warnings and JSON entries).
/// A run keeps the first few of each severity and counts the rest: 200,000 NOTICEs and
/// 50,000 WARNINGs come out as a bounded list ending with "... and N more".
#[test]
fn a_flood_of_server_notices_is_kept_bounded_with_a_count_of_the_rest() {
    let db = TestDb::new("noticeflood");
    let dir = Dir::new();
    dir.migration(
        "001",
        "flood",
        "DO $$ BEGIN FOR i IN 1..200000 LOOP RAISE NOTICE 'n %', i; END LOOP; \
         FOR i IN 1..50000 LOOP RAISE WARNING 'w %', i; END LOOP; END $$;\n\
         CREATE TABLE f (id int);\n",
        "DROP TABLE f;\n",
    );
    let mut events = Vec::new();
    let report = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut recorder(&mut events))
        .unwrap();
    let said: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match e {
            Progress::ServerNotice {
                severity, message, ..
            } => Some((severity.clone(), message.clone())),
            _ => None,
        })
        .collect();
    let kept = KEPT;
    let of = |severity: &str| -> Vec<&String> {
        said.iter()
            .filter(|(s, _)| s == severity)
            .map(|(_, m)| m)
            .collect()
    };
    let notices = of("NOTICE");
    assert_eq!(notices.len(), kept + 1, "{notices:?}");
    assert_eq!(notices[0], "n 1");
    assert_eq!(
        notices[kept],
        &format!(
            "... and {} more NOTICE messages (only the first {kept} of a run are kept)",
            format_count(200_000 - kept)
        )
    );
    let warnings = of("WARNING");
    assert_eq!(warnings.len(), kept + 1, "{warnings:?}");
    assert_eq!(report.warnings.len(), kept + 1, "{:?}", report.warnings);
    assert!(
        report.warnings[kept].ends_with(&format!(
            "... and {} more WARNING messages (only the first {kept} of a run are kept)",
            format_count(50_000 - kept)
        )),
        "{:?}",
        report.warnings
    );
    assert!(db.table_exists("f"));
}

/// A run keeps the first 100 notices of each severity, however many migrations it has: 50
/// migrations sent in one message each raising a NOTICE are all shown, and a flood after them
/// is one "... and N more" at the end of the run.
#[test]
fn a_run_keeps_its_first_notices_of_each_severity() {
    let db = TestDb::new("noticebatch");
    let dir = Dir::new();
    for i in 1..=50 {
        dir.migration(
            &format!("{i:03}"),
            &format!("m{i}"),
            &format!(
                "DO $$ BEGIN RAISE NOTICE 'from %', {i}; END $$;\nCREATE TABLE t{i} (id int);\n"
            ),
            &format!("DROP TABLE t{i};\n"),
        );
    }
    dir.migration(
        "051",
        "flood",
        "DO $$ BEGIN FOR i IN 1..5000 LOOP RAISE NOTICE 'n %', i; END LOOP; END $$;\n",
        "SELECT 1;\n",
    );
    let mut events = Vec::new();
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut recorder(&mut events))
        .unwrap();
    let said: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Progress::ServerNotice { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect();
    let from: Vec<&String> = said.iter().filter(|m| m.starts_with("from ")).collect();
    assert_eq!(from.len(), 50, "{said:?}");
    assert_eq!(said.len(), KEPT + 1, "{said:?}");
    assert_eq!(
        said.last().map(String::as_str),
        Some("... and 4,950 more NOTICE messages (only the first 100 of a run are kept)")
    );
}

/// A cap per migration is no bound: a run of 1,000 migrations raising 30 WARNINGs each kept 20
/// per migration of its message, 20,000 warnings each naming all 1,000 migrations (219 MB of
/// stderr, 322 MB of memory), and a no-transaction migration kept 20 per statement. A run now
/// keeps the first 100 of each severity, names at most two migrations in each, and says the
/// rest once at its end: the report stays a few kilobytes whatever the number of migrations.
#[test]
fn server_notices_of_a_run_stay_bounded_whatever_its_number_of_migrations() {
    let db = TestDb::new("noticemany");
    let dir = Dir::new();
    for i in 1..=1000 {
        dir.migration(
            &format!("{i:04}"),
            &format!("m{i}"),
            "DO $$BEGIN FOR i IN 1..30 LOOP RAISE WARNING 'w %', i; END LOOP; END$$;\n",
            "SELECT 1;\n",
        );
    }
    let statement = "DO $$BEGIN FOR i IN 1..30 LOOP RAISE WARNING 'x %', i; END LOOP; END$$;\n";
    dir.migration(
        "1001",
        "alone",
        &format!("-- confiture:no-transaction\n{}", statement.repeat(5)),
        "SELECT 1;\n",
    );
    let mut events = Vec::new();
    let report = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut recorder(&mut events))
        .unwrap();
    assert_eq!(report.applied.len(), 1001);
    let notices = events
        .iter()
        .filter(|e| matches!(e, Progress::ServerNotice { .. }))
        .count();
    assert_eq!(notices, KEPT + 1);
    let warnings = &report.warnings;
    let bytes: usize = warnings.iter().map(String::len).sum();
    assert_eq!(warnings.len(), KEPT + 1, "{:?}", &warnings[..3]);
    assert!(bytes < 16 * 1024, "{bytes} bytes of warnings");
    for w in warnings {
        assert!(
            w.matches("_m").count() <= 2,
            "names two migrations at most: {w}"
        );
    }
    assert!(
        warnings[0].starts_with("WARNING from one of migrations 0001_m1..")
            && warnings[0].ends_with(": w 1"),
        "{}",
        warnings[0]
    );
    assert_eq!(
        warnings[KEPT],
        "WARNING from one of migrations 0001_m1..1001_alone: ... and 30,050 more WARNING \
         messages (only the first 100 of a run are kept)"
    );
}

/// `--single-transaction` sends each migration on its own and kept 20 of each severity per
/// migration: 200 migrations raising 30 WARNINGs each were 4,000 warnings. The run's cap holds
/// there too; each kept warning names its migration, and the count of the rest names the
/// migrations they came from.
#[test]
fn server_notices_of_a_single_transaction_run_stay_bounded() {
    let db = TestDb::new("noticesingle");
    let dir = Dir::new();
    for i in 1..=200 {
        dir.migration(
            &format!("{i:04}"),
            &format!("m{i}"),
            "DO $$BEGIN FOR i IN 1..30 LOOP RAISE WARNING 'w %', i; END LOOP; END$$;\n",
            "SELECT 1;\n",
        );
    }
    let mut events = Vec::new();
    let report = db
        .migrator(&dir)
        .up(
            &UpOptions::default().single_transaction(true),
            &mut recorder(&mut events),
        )
        .unwrap();
    assert_eq!(report.applied.len(), 200);
    let warnings = &report.warnings;
    assert_eq!(warnings.len(), KEPT + 1, "{:?}", &warnings[..3]);
    assert_eq!(warnings[0], "WARNING from migration 0001_m1: w 1");
    assert_eq!(warnings[KEPT - 1], "WARNING from migration 0004_m4: w 10");
    assert_eq!(
        warnings[KEPT],
        "WARNING from one of migrations 0004_m4..0200_m200: ... and 5,900 more WARNING \
         messages (only the first 100 of a run are kept)"
    );
}

/// `db::notices::KEPT_PER_SEVERITY`, a crate-private constant: what a run keeps of each
/// severity.
const KEPT: usize = 100;

/// `49980` as `49,980`.
fn format_count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Savepoints nest inside the migration's transaction (lint allows them, C100): a
/// `ROLLBACK TO SAVEPOINT` undoes only its part, and a failure after a `RELEASE` still rolls the
/// whole migration back, ledger row and all.
#[test]
fn savepoints_nest_inside_the_migration_s_transaction() {
    let db = TestDb::new("savepoint");
    let dir = Dir::new();
    dir.migration(
        "001",
        "tried",
        "CREATE TABLE a (i int);\nSAVEPOINT s;\nINSERT INTO a VALUES (1);\n\
         ROLLBACK TO SAVEPOINT s;\nRELEASE SAVEPOINT s;\nINSERT INTO a VALUES (2);\n",
        "DROP TABLE a;\n",
    )
    .migration(
        "002",
        "fails",
        "CREATE TABLE b (i int);\nSAVEPOINT s2;\nINSERT INTO a VALUES (3);\n\
         RELEASE s2;\nSAVEPOINT s3;\nSELECT 1/0;\n",
        "DROP TABLE b;\n",
    );
    let failed = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    assert_eq!(failed.error.kind, ErrorKind::MigrationFailed);
    assert_eq!(failed.error.exit_code(), 4);
    assert!(
        failed.error.message.contains("002_fails.up.sql:6:"),
        "{}",
        failed.error.message
    );
    assert_eq!(failed.report.applied, ["001"]);
    assert_eq!(db.ledger(), ["001:tried"]);
    assert_eq!(
        db.value("SELECT string_agg(i::text, ',' ORDER BY i) FROM a")
            .as_deref(),
        Some("2"),
        "001 kept what its savepoint did not roll back; 002's released insert was rolled back"
    );
    assert!(
        !db.table_exists("b"),
        "the failed migration was rolled back"
    );

    // Inside --single-transaction too: the failure rolls back every migration of the run.
    dir.write(
        "002_fails.up.sql",
        "CREATE TABLE b (i int);\nSAVEPOINT s2;\nRELEASE s2;\n",
    );
    dir.migration(
        "003",
        "fails",
        "INSERT INTO a VALUES (4);\nSAVEPOINT s;\nRELEASE SAVEPOINT s;\nSELECT 1/0;\n",
        "SELECT 1;\n",
    );
    let options = UpOptions::default().single_transaction(true);
    let failed = db
        .migrator(&dir)
        .up(&options, &mut no_progress)
        .unwrap_err();
    assert_eq!(failed.error.exit_code(), 4);
    assert_eq!(db.ledger(), ["001:tried"]);
    assert!(!db.table_exists("b"));
    assert_eq!(
        db.value("SELECT count(*) FROM a WHERE i = 4").as_deref(),
        Some("0")
    );
}

/// A library session whose migrations directory has no migration, on a database with applied
/// ones: the refusal asked whether it is the directory meant and said to point
/// `--migrations-dir` at the right one — a flag a program calling `Migrator::new` does not
/// have. It names the directory the program gives `Migrator::new` (the command line's session,
/// `DirNamedBy::Command`, still gets its flag).
#[test]
fn an_empty_directorys_refusal_names_no_cli_flag_to_a_library_caller() {
    let db = TestDb::new("empty_dir_lib");
    let dir = Dir::new();
    three(&dir);
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    let empty = Dir::new();
    let err = db
        .migrator(&empty)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.kind, ErrorKind::Diverged);
    let help = err.help.clone().unwrap_or_default();
    assert!(
        help.contains("check that this is the migrations directory meant"),
        "{help}"
    );
    assert!(
        help.contains("the directory your program gives `Migrator::new`"),
        "{help}"
    );
    assert!(!help.contains("--migrations-dir"), "{help}");
    // The command line's session: its flag.
    let err = db
        .migrator(&empty)
        .migrations_dir_named_by(confiture::files::DirNamedBy::Command)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    let help = err.help.unwrap_or_default();
    assert!(
        help.contains("(or --migrations-dir) at the one holding them"),
        "{help}"
    );
    assert!(!help.contains("Migrator::new"), "{help}");
}
