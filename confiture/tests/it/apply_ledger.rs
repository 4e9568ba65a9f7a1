//! `baseline` and `reinit`: writing the ledger without running migrations.

use crate::apply_support;

use apply_support::{rows, Dir, TestDb};
use confiture::files::checksum;
use confiture::migrate::{no_progress, BaselineOptions, DownOptions, ReinitOptions, UpOptions};
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
        .baseline(&BaselineOptions::through(2).dry_run(true), &mut no_progress)
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

/// `(version, slug, applied_at, execution_time_ms, checksum)` of every row, by version.
fn ledger_rows(db: &TestDb) -> Vec<String> {
    rows(
        &mut db.client(),
        "SELECT concat_ws(' ', version, slug, applied_at, execution_time_ms, checksum) \
         FROM tb_confiture ORDER BY version",
    )
}

#[test]
fn reinit_accepts_edited_files_and_forgets_removed_ones() {
    let db = TestDb::new("reinit");
    let dir = Dir::new();
    three(&dir);
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();

    // An intended edit of an applied file is refused by up, which names the safe reinit ...
    dir.write("002_t2.up.sql", "CREATE TABLE t2 (id int); -- reviewed\n");
    let err = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.kind, ErrorKind::Diverged);
    let help = err.help.unwrap();
    assert!(
        help.contains("`cargo confiture migrate reinit --database-url <URL> --migrations-dir ")
            && !help.contains("--through"),
        "{help}"
    );

    // ... a dry run of reinit shows what it would do and changes nothing ...
    let before = ledger_rows(&db);
    let dry = db
        .migrator(&dir)
        .reinit(&ReinitOptions::default().dry_run(true), &mut no_progress)
        .unwrap();
    assert_eq!(
        (dry.deleted_count, dry.marked.len(), dry.accepted.clone()),
        (0, 3, vec!["002".to_string()])
    );
    assert_eq!(dry.rows.len(), 3);
    assert_eq!(ledger_rows(&db), before);

    // ... and reinit accepts it, in place: slug, applied_at and execution_time_ms are kept.
    let r = db
        .migrator(&dir)
        .reinit(&ReinitOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(
        (r.deleted_count, r.accepted.clone(), r.recorded.len()),
        (0, vec!["002".to_string()], 0)
    );
    let after = ledger_rows(&db);
    assert_eq!((&after[0], &after[2]), (&before[0], &before[2]));
    let new_sum = checksum(b"CREATE TABLE t2 (id int); -- reviewed\n");
    let kept = before[1].rsplit_once(' ').unwrap().0;
    assert_eq!(after[1], format!("{kept} {new_sum}"));
    let up = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    assert!(up.applied.is_empty());

    // The newest migration's files removed: its row is above the newest file, a newer
    // release's for all reinit can tell (a rolling deploy), which would apply it again once
    // forgotten: kept, and the report says so (h15 D7) ...
    let up3 = std::fs::read_to_string(dir.file("003_t3.up.sql")).unwrap();
    let down3 = std::fs::read_to_string(dir.file("003_t3.down.sql")).unwrap();
    std::fs::remove_file(dir.file("003_t3.up.sql")).unwrap();
    std::fs::remove_file(dir.file("003_t3.down.sql")).unwrap();
    let r = db
        .migrator(&dir)
        .reinit(&ReinitOptions::default(), &mut no_progress)
        .unwrap();
    assert!(r.forgotten.is_empty(), "{:?}", r.forgotten);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("reinit keeps their rows")),
        "{:?}",
        r.warnings
    );
    assert_eq!(db.ledger(), ["001:t1", "002:t2", "003:t3"]);
    // ... and an abandoned migration leaves as it says: restored, rolled back, removed.
    dir.write("003_t3.up.sql", &up3);
    dir.write("003_t3.down.sql", &down3);
    let r = db
        .migrator(&dir)
        .down(&DownOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(r.rolled_back, ["003"]);
    std::fs::remove_file(dir.file("003_t3.up.sql")).unwrap();
    std::fs::remove_file(dir.file("003_t3.down.sql")).unwrap();
    assert_eq!(db.ledger(), ["001:t1", "002:t2"]);

    // Through an older version: the newer rows are forgotten (confiture's semantics), and the
    // report says their files are on disk. Their migrations ran: refused unless confirmed.
    let refused = db
        .migrator(&dir)
        .reinit(&ReinitOptions::default().through(Some(1)), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(refused.kind, ErrorKind::Usage, "{refused:?}");
    assert_eq!(db.ledger(), ["001:t1", "002:t2"]);
    let r = db
        .migrator(&dir)
        .reinit(
            &ReinitOptions::default().through(Some(1)).yes(true),
            &mut no_progress,
        )
        .unwrap();
    assert_eq!(r.forgotten, ["002"]);
    assert_eq!(r.forgotten_with_files, ["002"]);
    assert_eq!(db.ledger(), ["001:t1"]);

    // Recording a file that has no row needs `--through`.
    let r = db
        .migrator(&dir)
        .reinit(&ReinitOptions::default(), &mut no_progress)
        .unwrap();
    assert!(r.recorded.is_empty() && r.rows.len() == 1);
    assert_eq!(db.ledger(), ["001:t1"]);
    let r = db
        .migrator(&dir)
        .reinit(&ReinitOptions::default().through(Some(2)), &mut no_progress)
        .unwrap();
    assert_eq!(r.recorded, ["002"]);
    let slugs = rows(
        &mut db.client(),
        "SELECT slug FROM tb_confiture ORDER BY version",
    );
    assert!(
        !slugs[0].ends_with("_reinit") && slugs[1].ends_with("_reinit"),
        "{slugs:?}"
    );
    assert_eq!(db.ledger(), ["001:t1", "002:t2"]);
}

#[test]
fn reinit_without_a_ledger_writes_nothing_unless_through_records_something() {
    let db = TestDb::new("reinitempty");
    let dir = Dir::new();
    three(&dir);
    let before = db.snapshot();
    let r = db
        .migrator(&dir)
        .reinit(&ReinitOptions::default(), &mut no_progress)
        .unwrap();
    assert!(r.rows.is_empty() && r.marked.is_empty());
    assert_eq!(db.snapshot(), before, "no table created for nothing");
    let r = db
        .migrator(&dir)
        .reinit(&ReinitOptions::default().through(Some(3)), &mut no_progress)
        .unwrap();
    assert_eq!(r.recorded, ["001", "002", "003"]);
    assert_eq!(db.ledger().len(), 3);
}

/// A `search_path` change (`ALTER DATABASE ... SET search_path = app`, a hardening step) hides
/// the ledger the unqualified tracking table name found until then: `status`, `up`, `down`,
/// `baseline` and `reinit` refuse (exit 5), naming where the ledger is and what to set, and
/// write nothing — never a second ledger in `app` with every migration run again into it.
#[test]
fn a_ledger_the_search_path_hides_is_refused_never_started_again() {
    let db = TestDb::new("hidden");
    let dir = Dir::new();
    dir.migration("001", "a", "CREATE TABLE a (i int);\n", "DROP TABLE a;\n");
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    dir.migration("002", "b", "CREATE TABLE b (i int);\n", "DROP TABLE b;\n");

    for search_path in ["app", "''"] {
        db.client()
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS app; ALTER DATABASE \"{}\" SET search_path = {search_path}",
                db.name
            ))
            .unwrap();
        let before = db.snapshot();
        let refused = |what: &str, err: &confiture::Error| {
            assert_eq!(err.exit_code(), 5, "{what} ({search_path}): {err:?}");
            assert!(
                err.message.contains("public.tb_confiture"),
                "{what} ({search_path}): {}",
                err.message
            );
            let help = err.help.as_deref().unwrap_or_default();
            assert!(
                help.contains("migration.tracking_table: public.tb_confiture"),
                "{what} ({search_path}): {help}"
            );
        };
        let err = db.migrator(&dir).status().unwrap_err();
        refused("status", &err);
        let failed = db
            .migrator(&dir)
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap_err();
        refused("up", &failed.error);
        let failed = db
            .migrator(&dir)
            .down(&DownOptions::default(), &mut no_progress)
            .unwrap_err();
        refused("down", &failed.error);
        let failed = db
            .migrator(&dir)
            .baseline(&BaselineOptions::through(2), &mut no_progress)
            .unwrap_err();
        refused("baseline", &failed.error);
        let failed = db
            .migrator(&dir)
            .reinit(&ReinitOptions::default(), &mut no_progress)
            .unwrap_err();
        refused("reinit", &failed.error);
        assert_eq!(db.snapshot(), before, "{search_path}: nothing written");
    }
    assert_eq!(db.ledger_of("public.tb_confiture"), ["001:a"]);
}

/// A configured schema-qualified tracking table that does not exist, while a confiture ledger
/// with rows is elsewhere. A qualified name is deliberate: another application's ledger in the
/// same database (`ops.tb_confiture`, `tenant_a.tb_confiture` beside `public.tb_confiture`) is
/// its own, not made yet ("not initialised", exit 2) — every one was refused (exit 5) as the
/// first one's forgotten name, the help proposing to read that ledger as one's own. Only the
/// name that misspells a ledger by case (`PUBLIC.TB_CONFITURE`: quoted, another table than
/// `public.tb_confiture`) is refused, by `status`, `up`, `down`, `baseline` and `reinit`,
/// naming the ledger, its rows and the setting, writing nothing. A tenant's ledger
/// (`Target::schema`) is its own, created beside the others; a table of that name without
/// the ledger's columns is no ledger.
#[test]
fn a_qualified_tracking_table_is_a_ledger_of_its_own_unless_it_misspells_one_by_case() {
    let db = TestDb::new("beside");
    let dir = Dir::new();
    dir.migration("001", "a", "CREATE TABLE a (i int);\n", "DROP TABLE a;\n");
    db.client()
        .batch_execute(
            "CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b; CREATE SCHEMA other; \
             CREATE SCHEMA ops; CREATE TABLE other.tb_confiture (id int)",
        )
        .unwrap();
    // Not a ledger elsewhere: the unqualified name starts one in public. (That table is an
    // object of a user schema, as a migration naming its schema makes: `up` is told to run
    // over it.)
    let mut anyway = UpOptions::default();
    anyway.allow_non_empty = true;
    db.migrator(&dir).up(&anyway, &mut no_progress).unwrap();
    assert_eq!(db.ledger_of("public.tb_confiture"), ["001:a"]);
    let configured = |name: &str| {
        let mut env = apply_support::environment(&db.name);
        env.migration.tracking_table = confiture::ledger::TrackingTable::parse(name).unwrap();
        apply_support::migrator_for(env, &dir.path)
    };
    for name in ["ops.tb_confiture", "tenant_a.tb_confiture"] {
        let before = db.snapshot();
        let report = configured(name).status().unwrap();
        assert!(!report.initialised, "{name}: {report:?}");
        assert!(report.applied.is_empty(), "{name}: {report:?}");
        assert_eq!(db.snapshot(), before, "{name}: status writes nothing");
    }
    for (name, shown) in [
        ("PUBLIC.TB_CONFITURE", "\"PUBLIC\".\"TB_CONFITURE\""),
        ("Public.tb_confiture", "\"Public\".tb_confiture"),
        ("public.TB_Confiture", "public.\"TB_Confiture\""),
    ] {
        let before = db.snapshot();
        let refused = |what: &str, err: &confiture::Error| {
            assert_eq!(err.exit_code(), 5, "{what} ({name}): {err:?}");
            assert_eq!(
                err.message,
                format!(
                    "the tracking table {shown} does not exist in this database, but a \
                     confiture ledger is in it under the same name but for case: \
                     public.tb_confiture (1 row); nothing was read or written"
                ),
                "{what}"
            );
            let help = err.help.as_deref().unwrap_or_default();
            assert!(
                help.contains("set `migration.tracking_table: public.tb_confiture`"),
                "{what} ({name}): {help}"
            );
            assert!(
                !help.contains("--allow-non-empty") && !help.contains("baseline"),
                "{what} ({name}): {help}"
            );
        };
        refused("status", &configured(name).status().unwrap_err());
        let failed = configured(name)
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap_err();
        refused("up", &failed.error);
        let failed = configured(name).up(&anyway, &mut no_progress).unwrap_err();
        refused("up --allow-non-empty", &failed.error);
        let failed = configured(name)
            .down(&DownOptions::default(), &mut no_progress)
            .unwrap_err();
        refused("down", &failed.error);
        let failed = configured(name)
            .baseline(&BaselineOptions::through(1), &mut no_progress)
            .unwrap_err();
        refused("baseline", &failed.error);
        let failed = configured(name)
            .reinit(&ReinitOptions::default(), &mut no_progress)
            .unwrap_err();
        refused("reinit", &failed.error);
        assert_eq!(db.snapshot(), before, "{name}: nothing written");
    }
    // Tenants: each its own ledger, whatever the database's and `other`'s tables.
    let base = apply_support::environment(&db.name);
    for tenant in ["tenant_a", "tenant_b"] {
        let target = confiture::fleet::Target::schema(&base, tenant, "test").unwrap();
        apply_support::migrator_for(target.environment, &dir.path)
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap();
        assert_eq!(db.ledger_of(&format!("{tenant}.tb_confiture")), ["001:a"]);
    }
    // Tenants' ledgers, off the search_path, never refuse the database's: with public's gone,
    // `ops.tb_confiture` is a ledger not made yet.
    db.client()
        .batch_execute("DROP TABLE public.tb_confiture")
        .unwrap();
    let report = configured("ops.tb_confiture").status().unwrap();
    assert!(!report.initialised, "{report:?}");
}
