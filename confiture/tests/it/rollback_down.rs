//! `Migrator::down` against a real PostgreSQL: newest first, refusals before anything runs,
//! failures that leave the migration applied.

use crate::apply_support;

use apply_support::{Dir, TestDb};
use confiture::migrate::{no_progress, DownOptions, UpOptions};
use confiture::ErrorKind;

fn four(dir: &Dir) {
    for v in 1..=4 {
        dir.migration(
            &format!("{v:03}"),
            &format!("t{v}"),
            &format!("CREATE TABLE t{v} (id int);\n"),
            &format!("DROP TABLE t{v};\n"),
        );
    }
}

fn applied(db: &TestDb, dir: &Dir) {
    db.migrator(dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
}

#[test]
fn rolls_back_the_newest_by_default_then_by_steps_and_target() {
    let db = TestDb::new("down");
    let dir = Dir::new();
    four(&dir);
    applied(&db, &dir);

    let r = db
        .migrator(&dir)
        .down(&DownOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(r.rolled_back, ["004"]);
    assert!(!db.table_exists("t4") && db.table_exists("t3"));

    let r = db
        .migrator(&dir)
        .down(&DownOptions::default().steps(Some(2)), &mut no_progress)
        .unwrap();
    assert_eq!(r.rolled_back, ["003", "002"]);
    assert_eq!(db.ledger(), ["001:t1"]);

    applied(&db, &dir);
    let r = db
        .migrator(&dir)
        .down(&DownOptions::default().target(Some(2)), &mut no_progress)
        .unwrap();
    assert_eq!(r.rolled_back, ["004", "003"]);
    assert_eq!(db.ledger(), ["001:t1", "002:t2"]);
    let json = serde_json::to_value(&r).unwrap();
    for key in ["rolled_back", "errors", "total_duration_ms"] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
}

#[test]
fn rolling_back_everything_needs_yes() {
    let db = TestDb::new("downall");
    let dir = Dir::new();
    four(&dir);
    applied(&db, &dir);
    let err = db
        .migrator(&dir)
        .down(&DownOptions::default().target(Some(0)), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!((err.kind, err.exit_code()), (ErrorKind::Usage, 64));
    // A library session: the option, not the flag.
    assert!(err.help.unwrap().contains("`DownOptions::yes`"));
    assert_eq!(db.ledger().len(), 4);

    let err = db
        .migrator(&dir)
        .down(&DownOptions::default().steps(Some(0)), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.kind, ErrorKind::Usage);

    let r = db
        .migrator(&dir)
        .down(
            &DownOptions::default().target(Some(0)).yes(true),
            &mut no_progress,
        )
        .unwrap();
    assert_eq!(r.rolled_back, ["004", "003", "002", "001"]);
    assert!(db.ledger().is_empty());
}

#[test]
fn an_irreversible_migration_is_refused_before_anything_is_rolled_back() {
    let db = TestDb::new("irreversible");
    let dir = Dir::new();
    four(&dir);
    dir.write("003_t3.down.sql", "-- confiture:irreversible\n");
    applied(&db, &dir);
    let failed = db
        .migrator(&dir)
        .down(&DownOptions::default().steps(Some(2)), &mut no_progress)
        .unwrap_err();
    assert_eq!(
        (failed.error.kind, failed.error.exit_code()),
        (ErrorKind::Irreversible, 8)
    );
    assert!(
        failed.error.details[0].contains("003_t3"),
        "{:?}",
        failed.error.details
    );
    assert!(failed.report.rolled_back.is_empty());
    assert_eq!(db.ledger().len(), 4, "004 was not rolled back either");
    assert!(db.table_exists("t4"));
}

#[test]
fn a_modified_up_file_is_refused() {
    let db = TestDb::new("downmodified");
    let dir = Dir::new();
    four(&dir);
    applied(&db, &dir);
    dir.write("004_t4.up.sql", "CREATE TABLE t4 (id bigint);\n");
    let err = db
        .migrator(&dir)
        .down(&DownOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!((err.kind, err.exit_code()), (ErrorKind::Diverged, 7));
    assert!(
        err.details[0].starts_with("modified: 004_t4"),
        "{:?}",
        err.details
    );
    assert_eq!(db.ledger().len(), 4);
}

#[test]
fn a_failing_down_file_leaves_the_migration_applied() {
    let db = TestDb::new("downfail");
    let dir = Dir::new();
    four(&dir);
    dir.write("004_t4.down.sql", "DROP TABLE t4;\nDROP TABLEX nope;\n");
    applied(&db, &dir);
    let failed = db
        .migrator(&dir)
        .down(&DownOptions::default(), &mut no_progress)
        .unwrap_err();
    assert_eq!(failed.error.kind, ErrorKind::MigrationFailed);
    assert!(
        failed.error.message.contains("004_t4.down.sql:2:"),
        "{}",
        failed.error.message
    );
    assert!(
        failed
            .error
            .details
            .iter()
            .any(|d| d.contains("stays applied")),
        "{:?}",
        failed.error.details
    );
    assert_eq!(db.ledger().len(), 4);
    assert!(
        db.table_exists("t4"),
        "the down file's first statement was rolled back"
    );
}

#[test]
fn a_dry_run_and_a_fresh_database_change_nothing() {
    let db = TestDb::new("downdry");
    let dir = Dir::new();
    four(&dir);
    // No tracking table: nothing to roll back, and down does not create it.
    let before = db.snapshot();
    let r = db
        .migrator(&dir)
        .down(&DownOptions::default(), &mut no_progress)
        .unwrap();
    assert!(r.rolled_back.is_empty());
    assert_eq!(db.snapshot(), before);

    applied(&db, &dir);
    let before = db.snapshot();
    let r = db
        .migrator(&dir)
        .down(
            &DownOptions::default().steps(Some(2)).dry_run(true),
            &mut no_progress,
        )
        .unwrap();
    assert!(r.dry_run && r.rolled_back.is_empty());
    let planned: Vec<&str> = r.migrations.iter().map(|m| m.version.as_str()).collect();
    assert_eq!(planned, ["004", "003"]);
    assert_eq!(r.migrations[0].sql.as_deref(), Some("DROP TABLE t4;\n"));
    assert_eq!((db.snapshot(), db.ledger().len()), (before, 4));
}
