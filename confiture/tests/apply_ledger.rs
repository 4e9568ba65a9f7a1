//! `baseline` and `reinit`: writing the ledger without running migrations.

mod apply_support;

use apply_support::{rows, Dir, TestDb};
use confiture::files::checksum;
use confiture::migrate::{no_progress, BaselineOptions, ReinitOptions, UpOptions};
use confiture::ErrorKind;

fn three(dir: &Dir) {
    for v in 1..=3 {
        dir.migration(
            &format!("{v:03}"),
            &format!("t{v}"),
            &format!("CREATE TABLE t{v} (id int);\n"),
            &format!("DROP TABLE t{v};\n"),
        );
    }
}

#[test]
fn baseline_records_without_running_and_up_continues_after_it() {
    let db = TestDb::new("baseline");
    let dir = Dir::new();
    three(&dir);
    // The schema already exists, built by other means.
    db.client()
        .batch_execute("CREATE TABLE t1 (id int); CREATE TABLE t2 (id int)")
        .unwrap();

    let before = db.snapshot();
    let dry = db
        .migrator(&dir)
        .baseline(
            &BaselineOptions {
                dry_run: true,
                ..BaselineOptions::through(2)
            },
            &mut no_progress,
        )
        .unwrap();
    assert_eq!(dry.baselined, ["001", "002"]);
    assert_eq!(db.snapshot(), before, "a dry run writes nothing");

    let r = db
        .migrator(&dir)
        .baseline(&BaselineOptions::through(2), &mut no_progress)
        .unwrap();
    assert_eq!(r.baselined, ["001", "002"]);
    let slugs = rows(
        &mut db.client(),
        "SELECT slug FROM tb_confiture ORDER BY version",
    );
    assert!(slugs.iter().all(|s| s.ends_with("_baseline")), "{slugs:?}");
    assert!(slugs[0].starts_with("t1_001_"), "{slugs:?}");
    let sums = rows(
        &mut db.client(),
        "SELECT checksum FROM tb_confiture ORDER BY version",
    );
    assert_eq!(sums[0], checksum(b"CREATE TABLE t1 (id int);\n"));

    // Repeating it records nothing new.
    let again = db
        .migrator(&dir)
        .baseline(&BaselineOptions::through(2), &mut no_progress)
        .unwrap();
    assert!(again.baselined.is_empty());
    assert_eq!(again.skipped, ["001", "002"]);

    let up = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(up.applied, ["003"]);

    let err = db
        .migrator(&dir)
        .baseline(&BaselineOptions::through(9), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.kind, ErrorKind::Usage);
}

#[test]
fn reinit_accepts_edited_files_and_forgets_removed_ones() {
    let db = TestDb::new("reinit");
    let dir = Dir::new();
    three(&dir);
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();

    // An intended edit of an applied file is refused by up ...
    dir.write("002_t2.up.sql", "CREATE TABLE t2 (id int); -- reviewed\n");
    let err = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.kind, ErrorKind::Diverged);
    let help = err.help.unwrap();
    assert!(help.contains("reinit --through 003"), "{help}");

    // ... a dry run of reinit shows what it would do and changes nothing ...
    let ledger = rows(
        &mut db.client(),
        "SELECT slug || checksum FROM tb_confiture ORDER BY 1",
    );
    let dry = db
        .migrator(&dir)
        .reinit(
            &ReinitOptions {
                through: Some(3),
                dry_run: true,
                ..Default::default()
            },
            &mut no_progress,
        )
        .unwrap();
    assert_eq!((dry.deleted_count, dry.marked.len()), (3, 3));
    assert_eq!(
        rows(
            &mut db.client(),
            "SELECT slug || checksum FROM tb_confiture ORDER BY 1"
        ),
        ledger
    );

    // ... and reinit accepts it.
    let r = db
        .migrator(&dir)
        .reinit(
            &ReinitOptions {
                through: Some(3),
                ..Default::default()
            },
            &mut no_progress,
        )
        .unwrap();
    assert_eq!(
        (r.deleted_count, r.marked.clone(), r.forgotten.len()),
        (3, vec!["001".into(), "002".into(), "003".into()], 0)
    );
    let slugs = rows(
        &mut db.client(),
        "SELECT slug FROM tb_confiture ORDER BY version",
    );
    assert!(slugs.iter().all(|s| s.ends_with("_reinit")), "{slugs:?}");
    let up = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    assert!(up.applied.is_empty());

    // Through an older version: the newer rows are forgotten (confiture's semantics).
    let r = db
        .migrator(&dir)
        .reinit(
            &ReinitOptions {
                through: Some(1),
                ..Default::default()
            },
            &mut no_progress,
        )
        .unwrap();
    assert_eq!(r.forgotten, ["002", "003"]);
    assert_eq!(db.ledger(), ["001:t1"]);
}
