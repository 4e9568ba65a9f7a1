//! `Migrator::verify` and `Migrator::drift` against the real PostgreSQL, through the library
//! as an application or an xtask calls them:
//!
//! - the corpus of deliberately wrong down files (`tests/fixtures/snapshot/down/wrong_*`), each
//!   caught by `verify` as the migration after a `setup` one (checked from `--from 2`), and the
//!   right ones (`right_*`) passing;
//! - zero findings on the example `db/migrations` and on the chain of 30 realistic migrations;
//! - irreversible migrations, ups that are not repeatable, `--from`;
//! - the scratch database is dropped after success, findings and failures;
//! - `drift`: none after `up`, then changes made by hand, and a schema directory.
#![cfg(feature = "db")]
// `verify` returns the report with a failure, as the library's commands do.
#![allow(clippy::result_large_err)]

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{admin, TempDir, TestDb};
use confiture::drift::DriftOptions;
use confiture::files::CheckOptions;
use confiture::migrate::{no_progress, UpOptions};
use confiture::verify::{CheckResult, ScratchProgress, VerifyOptions, VerifyReport};
use confiture::{exit, ErrorKind, Migrator};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snapshot")
}

fn migrator(db: &TestDb, dir: &Path) -> Migrator {
    Migrator::new(db.environment(), dir, CheckOptions::default())
}

fn database_exists(name: &str) -> bool {
    admin()
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)",
            &[&name],
        )
        .unwrap()
        .get(0)
}

/// Runs verify, and checks that every scratch database it announced is gone afterwards.
fn verify(
    db: &TestDb,
    dir: &Path,
    options: &VerifyOptions,
) -> Result<VerifyReport, confiture::migrate::Failed<VerifyReport>> {
    let mut created = Vec::new();
    let outcome = migrator(db, dir).verify(options, &mut |p| {
        if let ScratchProgress::Created { database } = p {
            created.push(database.to_string());
        }
    });
    assert_eq!(created.len(), 1, "one scratch database per run");
    for name in &created {
        assert!(name.starts_with(confiture::db::scratch::PREFIX), "{name}");
        assert!(
            !database_exists(name),
            "the scratch database {name} was left behind"
        );
    }
    let report = match &outcome {
        Ok(r) => r,
        Err(f) => &f.report,
    };
    assert_eq!(
        report.scratch_database.as_deref(),
        created.first().map(String::as_str)
    );
    outcome
}

/// A migrations directory with `setup.sql` as `001_setup` (when the case has one) and the
/// case's up and down as `002_case`.
fn case_dir(case: &str) -> (TempDir, Option<u64>) {
    let from = fixtures().join("down").join(case);
    let dir = TempDir::new("cft_verify_case");
    let read = |f: &str| fs::read_to_string(from.join(f)).unwrap();
    let mut first = None;
    if from.join("setup.sql").exists() {
        dir.write("001_setup.up.sql", &read("setup.sql"));
        dir.write("001_setup.down.sql", "-- confiture:irreversible\n");
        first = Some(2);
    }
    let version = if first.is_some() { "002" } else { "001" };
    dir.write(&format!("{version}_case.up.sql"), &read("up.sql"));
    dir.write(&format!("{version}_case.down.sql"), &read("down.sql"));
    (dir, first)
}

fn corpus_cases() -> Vec<String> {
    let mut cases: Vec<String> = fs::read_dir(fixtures().join("down"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    cases
}

/// Every wrong down file of the corpus is caught by `verify` (exit 9, the case's migration
/// named, at least one finding naming its down file); every right one passes.
#[test]
fn verify_catches_every_wrong_down_of_the_corpus_and_passes_the_right_ones() {
    let cases = corpus_cases();
    assert!(cases.len() >= 30, "{cases:?}");
    let db = TestDb::new("cft_verify_corpus");
    let mut problems = Vec::new();
    for case in &cases {
        let (dir, from) = case_dir(case);
        let options = VerifyOptions::default().from(from);
        let report = match verify(&db, dir.path(), &options) {
            Ok(report) => report,
            Err(f) => {
                problems.push(format!("{case}: verify failed: {}", f.error));
                continue;
            }
        };
        let case_check = report.migrations.last().unwrap();
        assert_eq!(case_check.name, "case");
        if from.is_some() {
            assert_eq!(report.migrations[0].result, CheckResult::Prepared, "{case}");
        }
        if case.starts_with("wrong_") {
            if report.exit_code() != exit::SCHEMA_CHECK_FAILED
                || case_check.result != CheckResult::DownDoesNotRestore
                || case_check.findings.is_empty()
            {
                problems.push(format!("{case}: not caught: {report:#?}"));
            }
            for f in &case_check.findings {
                assert!(
                    f.message.contains("_case.down.sql"),
                    "{case}: {}",
                    f.message
                );
            }
        } else if report.exit_code() != exit::SUCCESS
            || case_check.result != CheckResult::Reversible
        {
            problems.push(format!(
                "{case}: a right down was not accepted: {report:#?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The wording, on the example's own objects: a down that forgets an index.
#[test]
fn a_leftover_index_is_named_with_the_down_file_that_left_it() {
    let db = TestDb::new("cft_verify_index");
    let dir = TempDir::new("cft_verify_index");
    dir.write(
        "001_create_tb_post.up.sql",
        "CREATE TABLE tb_post (id bigint PRIMARY KEY, slug text);\n",
    );
    dir.write("001_create_tb_post.down.sql", "DROP TABLE tb_post;\n");
    dir.write(
        "002_add_comment_views.up.sql",
        "CREATE INDEX idx_tb_post_slug ON tb_post (slug);\nCREATE VIEW v_post AS SELECT id, slug FROM tb_post;\n",
    );
    dir.write("002_add_comment_views.down.sql", "DROP VIEW v_post;\n");
    dir.write("003_more.up.sql", "CREATE TABLE more (a int);\n");
    dir.write("003_more.down.sql", "DROP TABLE more;\n");
    let report = verify(&db, dir.path(), &VerifyOptions::default()).unwrap();
    let results: Vec<CheckResult> = report.migrations.iter().map(|m| m.result).collect();
    assert_eq!(
        results,
        [
            CheckResult::Reversible,
            CheckResult::DownDoesNotRestore,
            CheckResult::NotChecked
        ]
    );
    let messages: Vec<&str> = report.migrations[1]
        .findings
        .iter()
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(
        messages,
        ["index public.idx_tb_post_slug: left behind by 002_add_comment_views.down.sql"]
    );
    assert!(!report.passed);
    assert_eq!(report.summary.failed_checks, 1);
    assert_eq!(report.summary.not_checked, 1);
}

#[test]
fn the_example_migrations_verify_with_zero_findings() {
    let db = TestDb::new("cft_verify_example");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../db/migrations");
    let report = verify(&db, &dir, &VerifyOptions::default()).unwrap();
    assert!(report.passed, "{report:#?}");
    assert_eq!(report.summary.reversible, 6, "{report:#?}");
    // Verify never touches the target database: it does not even need to exist.
    assert!(db
        .client()
        .query(
            "SELECT FROM pg_tables WHERE tablename = 'tb_confiture'",
            &[]
        )
        .unwrap()
        .is_empty());
}

#[test]
fn a_realistic_chain_of_30_migrations_verifies_with_zero_findings() {
    let db = TestDb::new("cft_verify_chain");
    let report = verify(&db, &fixtures().join("chain"), &VerifyOptions::default()).unwrap();
    assert!(report.passed, "{report:#?}");
    assert_eq!(report.summary.reversible, 30, "{report:#?}");
}

#[test]
fn irreversible_migrations_are_applied_up_only_and_reported() {
    let db = TestDb::new("cft_verify_irrev");
    let dir = TempDir::new("cft_verify_irrev");
    dir.write("001_t.up.sql", "CREATE TABLE t (a int);\n");
    dir.write("001_t.down.sql", "DROP TABLE t;\n");
    dir.write("002_drop_a.up.sql", "ALTER TABLE t DROP COLUMN a;\n");
    dir.write(
        "002_drop_a.down.sql",
        "-- confiture:irreversible\n-- the column's data is gone\n",
    );
    dir.write("003_u.up.sql", "CREATE TABLE u (b int);\n");
    dir.write("003_u.down.sql", "DROP TABLE u;\n");
    let report = verify(&db, dir.path(), &VerifyOptions::default()).unwrap();
    let results: Vec<CheckResult> = report.migrations.iter().map(|m| m.result).collect();
    assert_eq!(
        results,
        [
            CheckResult::Reversible,
            CheckResult::Irreversible,
            CheckResult::Reversible
        ]
    );
    assert!(report.passed);
    assert_eq!(report.exit_code(), exit::SUCCESS);
}

/// The down restores the schema but not the data the up relies on: the up fails the second
/// time (a duplicate key), or gives another schema.
#[test]
fn an_up_that_is_not_repeatable_after_its_down_is_caught() {
    let db = TestDb::new("cft_verify_repeat");
    let dir = TempDir::new("cft_verify_repeat");
    dir.write(
        "001_t.up.sql",
        "CREATE TABLE t (a int PRIMARY KEY);\nCREATE TABLE log (n int);\n",
    );
    dir.write("001_t.down.sql", "DROP TABLE t;\nDROP TABLE log;\n");
    dir.write("002_seed.up.sql", "INSERT INTO t VALUES (1);\n");
    dir.write("002_seed.down.sql", "SELECT 1; -- forgets the row\n");
    let report = verify(&db, dir.path(), &VerifyOptions::default()).unwrap();
    let seed = &report.migrations[1];
    assert_eq!(seed.result, CheckResult::UpNotRepeatable, "{report:#?}");
    assert!(
        seed.error.as_deref().unwrap().contains("duplicate key"),
        "{seed:#?}"
    );
    // What its down leaves behind makes it fail: the down file is named with it.
    let down = dir.path().join("002_seed.down.sql");
    assert_eq!(seed.down_file.as_deref(), Some(down.as_path()), "{seed:#?}");
    assert_eq!(report.exit_code(), exit::SCHEMA_CHECK_FAILED);

    // Another schema the second time: the up decides from data its down left behind.
    dir.write(
        "002_seed.up.sql",
        "INSERT INTO log VALUES (1);\n\
         DO $$ BEGIN IF (SELECT count(*) FROM log) > 1 THEN CREATE TABLE oops (); END IF; END $$;\n",
    );
    let report = verify(&db, dir.path(), &VerifyOptions::default()).unwrap();
    let seed = &report.migrations[1];
    assert_eq!(seed.result, CheckResult::UpNotRepeatable, "{report:#?}");
    let messages: Vec<&str> = seed.findings.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(
        messages,
        ["table public.oops: extra when 002_seed.up.sql runs again after its down"]
    );
    assert_eq!(seed.down_file.as_deref(), Some(down.as_path()), "{seed:#?}");
}

#[test]
fn from_applies_the_earlier_migrations_unchecked() {
    let db = TestDb::new("cft_verify_from");
    let dir = TempDir::new("cft_verify_from");
    // 001's down is wrong, but it is before --from.
    dir.write(
        "001_t.up.sql",
        "CREATE TABLE t (a int);\nCREATE INDEX t_a ON t (a);\n",
    );
    dir.write("001_t.down.sql", "DROP INDEX t_a;\n");
    dir.write("002_u.up.sql", "ALTER TABLE t ADD COLUMN b int;\n");
    dir.write("002_u.down.sql", "ALTER TABLE t DROP COLUMN b;\n");
    let options = VerifyOptions::default().from(Some(2));
    let report = verify(&db, dir.path(), &options).unwrap();
    let results: Vec<CheckResult> = report.migrations.iter().map(|m| m.result).collect();
    assert_eq!(results, [CheckResult::Prepared, CheckResult::Reversible]);
    assert!(report.passed);
    // Without --from, 001 is checked and caught.
    let report = verify(&db, dir.path(), &VerifyOptions::default()).unwrap();
    assert_eq!(report.migrations[0].result, CheckResult::DownDoesNotRestore);

    // A --from above every migration is a usage error, before any database is created.
    let options = VerifyOptions::default().from(Some(3));
    let failed = migrator(&db, dir.path())
        .verify(&options, &mut |p| panic!("nothing should happen: {p:?}"))
        .unwrap_err();
    assert_eq!(failed.error.kind, ErrorKind::Usage);
}

/// A migration whose SQL fails: the run's error (exit 4, file and line), the report so far,
/// and the scratch database dropped all the same.
#[test]
fn a_failing_migration_is_a_migration_error_and_the_scratch_is_dropped() {
    let db = TestDb::new("cft_verify_fail");
    let dir = TempDir::new("cft_verify_fail");
    dir.write("001_t.up.sql", "CREATE TABLE t (a int);\n");
    dir.write("001_t.down.sql", "DROP TABLE t;\n");
    dir.write("002_u.up.sql", "CREATE TABLE u (a int);\n");
    dir.write("002_u.down.sql", "DROP TABLE nope;\n");
    let failed = verify(&db, dir.path(), &VerifyOptions::default()).unwrap_err();
    assert_eq!(failed.error.kind, ErrorKind::MigrationFailed);
    assert_eq!(failed.error.exit_code(), exit::MIGRATION_FAILED);
    let report = &failed.report;
    assert!(!report.passed);
    assert_eq!(report.migrations[0].result, CheckResult::Reversible);
    assert_eq!(report.migrations[1].result, CheckResult::Failed);
    let error = &report.errors[0];
    assert_eq!(error.version.as_deref(), Some("002"));
    assert_eq!(error.line, Some(1));
    assert!(error.file.as_ref().unwrap().ends_with("002_u.down.sql"));
}

/// No migration: nothing to prove, and no scratch database is created for it.
#[test]
fn an_empty_directory_verifies_without_a_scratch_database() {
    let db = TestDb::new("cft_verify_empty");
    let dir = TempDir::new("cft_verify_empty");
    let report = migrator(&db, dir.path())
        .verify(&VerifyOptions::default(), &mut |p| {
            panic!("nothing should happen: {p:?}")
        })
        .unwrap();
    assert!(report.passed);
    assert_eq!(report.migrations, []);
    assert_eq!(report.scratch_database, None);
}

/// Broken files are refused before any database is created (exit 5).
#[test]
fn broken_files_are_refused_before_creating_anything() {
    let db = TestDb::new("cft_verify_broken");
    let dir = TempDir::new("cft_verify_broken");
    dir.write("001_t.up.sql", "CREATE TABLE t (a int);\n");
    let failed = migrator(&db, dir.path())
        .verify(&VerifyOptions::default(), &mut |p| {
            panic!("nothing should happen: {p:?}")
        })
        .unwrap_err();
    assert_eq!(failed.error.kind, ErrorKind::Invalid);
    assert_eq!(failed.report.scratch_database, None);
}

// ---------------------------------------------------------------------------------------------
// drift

fn up(db: &TestDb, dir: &Path) {
    migrator(db, dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_or_else(|e| panic!("up: {e:?}"));
}

fn drift(db: &TestDb, dir: &Path, options: &DriftOptions) -> confiture::drift::DriftReport {
    let report = migrator(db, dir)
        .drift(options, &mut no_scratch_progress)
        .unwrap_or_else(|e| panic!("drift: {e:?}"));
    for name in &report.scratch_databases {
        assert!(
            !database_exists(name),
            "the scratch database {name} was left behind"
        );
    }
    report
}

fn no_scratch_progress(_: ScratchProgress) {}

fn messages(findings: &[confiture::verify::Finding]) -> Vec<String> {
    findings.iter().map(|f| f.message.clone()).collect()
}

#[test]
fn drift_is_none_after_up_and_names_what_was_changed_by_hand() {
    let db = TestDb::new("cft_drift");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../db/migrations");
    up(&db, &dir);
    let report = drift(&db, &dir, &DriftOptions::default());
    assert!(report.passed, "{report:#?}");
    assert_eq!(report.replayed.len(), 6);
    assert_eq!(report.exit_code(), exit::SUCCESS);

    // An incident and two hot fixes, by hand.
    db.client()
        .batch_execute(
            "DROP INDEX idx_tb_comment_fk_post;\n\
             ALTER TABLE tb_user ADD COLUMN nickname text;\n\
             ALTER TABLE tb_user ALTER COLUMN avatar_url SET DEFAULT 'none';",
        )
        .unwrap();
    let report = drift(&db, &dir, &DriftOptions::default());
    assert_eq!(report.exit_code(), exit::SCHEMA_CHECK_FAILED);
    assert_eq!(
        messages(&report.drift),
        [
            "column public.tb_user.avatar_url: default 'none'::text, expected none (live database, expected by the history)",
            "column public.tb_user.nickname: in the live database, not made by its applied migrations",
            "index public.idx_tb_comment_fk_post: missing from the live database",
        ]
    );
}

/// confiture (Python), run once on a database, leaves its own bookkeeping there — a `confiture`
/// schema of view helpers, a `confiture_lock_holder` table, the ledger's `<name>_steps` table —
/// which drift reported as made by hand (exit 9) on every database both tools migrate, an alarm
/// no fix of the schema could clear. They are confiture's, as the ledger is ours: left out,
/// while anything else made by hand is still drift.
#[test]
fn drift_leaves_out_what_confiture_python_keeps_for_itself() {
    let db = TestDb::new("cft_drift_python");
    let dir = TempDir::new("cft_drift_python");
    dir.write("001_t.up.sql", "CREATE TABLE t (a int);\n");
    dir.write("001_t.down.sql", "DROP TABLE t;\n");
    migrator(&db, dir.path())
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    db.client()
        .batch_execute(
            "CREATE SCHEMA confiture;\n\
             CREATE TABLE confiture.saved_views (name text PRIMARY KEY, body text);\n\
             CREATE FUNCTION confiture.recreate_saved_views() RETURNS void \
               LANGUAGE sql AS 'SELECT';\n\
             CREATE TABLE public.confiture_lock_holder (pid int, since timestamptz);\n\
             CREATE TABLE public.tb_confiture_steps (id bigint PRIMARY KEY, version text);",
        )
        .unwrap();
    let report = drift(&db, dir.path(), &DriftOptions::default());
    assert!(report.passed, "{:?}", messages(&report.drift));
    db.client()
        .batch_execute("CREATE TABLE public.by_hand (a int);")
        .unwrap();
    let report = drift(&db, dir.path(), &DriftOptions::default());
    assert_eq!(
        messages(&report.drift),
        ["table public.by_hand: in the live database, not made by its applied migrations"]
    );
}

/// Only the applied migrations are replayed: pending ones are not drift.
#[test]
fn drift_replays_only_the_applied_migrations() {
    let db = TestDb::new("cft_drift_pending");
    let dir = TempDir::new("cft_drift_pending");
    dir.write("001_t.up.sql", "CREATE TABLE t (a int);\n");
    dir.write("001_t.down.sql", "DROP TABLE t;\n");
    migrator(&db, dir.path())
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    dir.write("002_u.up.sql", "CREATE TABLE u (a int);\n");
    dir.write("002_u.down.sql", "DROP TABLE u;\n");
    let report = drift(&db, dir.path(), &DriftOptions::default());
    assert!(report.passed, "{report:#?}");
    assert_eq!(report.replayed, ["001"]);
}

/// History that diverged cannot be replayed: refused (exit 7) before any scratch database.
#[test]
fn drift_refuses_a_diverged_history() {
    let db = TestDb::new("cft_drift_diverged");
    let dir = TempDir::new("cft_drift_diverged");
    dir.write("001_t.up.sql", "CREATE TABLE t (a int);\n");
    dir.write("001_t.down.sql", "DROP TABLE t;\n");
    migrator(&db, dir.path())
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    dir.write("001_t.up.sql", "CREATE TABLE t (a bigint);\n");
    let failed = migrator(&db, dir.path())
        .drift(&DriftOptions::default(), &mut |p| {
            panic!("nothing should happen: {p:?}")
        })
        .unwrap_err();
    assert_eq!(failed.error.kind, ErrorKind::Diverged);
    assert_eq!(failed.report.scratch_databases, Vec::<String>::new());
}

#[test]
fn drift_compares_a_schema_directory_with_every_migration() {
    let db = TestDb::new("cft_drift_schema");
    let dir = TempDir::new("cft_drift_schema");
    dir.write("m/001_t.up.sql", "CREATE TABLE t (a int);\n");
    dir.write("m/001_t.down.sql", "DROP TABLE t;\n");
    dir.write("m/002_u.up.sql", "CREATE TABLE u (a int DEFAULT 1);\n");
    dir.write("m/002_u.down.sql", "DROP TABLE u;\n");
    dir.write("schema/01_t.sql", "CREATE TABLE t (a int);\n");
    dir.write(
        "schema/tables/02_u.sql",
        "CREATE TABLE u (a int DEFAULT 1);\n",
    );
    dir.write("schema/README.md", "not SQL: left out\n");
    let migrations = dir.path().join("m");
    let options = DriftOptions::default().schema_dir(Some(dir.path().join("schema")));
    // Nothing applied yet: no drift, and the directory matches all the migrations.
    let report = drift(&db, &migrations, &options);
    assert!(report.passed, "{report:#?}");
    let schema = report.schema_dir.as_ref().unwrap();
    assert_eq!(schema.files.len(), 2);
    assert_eq!(report.scratch_databases.len(), 2);

    dir.write(
        "schema/tables/02_u.sql",
        "CREATE TABLE u (a int);\nCREATE TABLE w ();\n",
    );
    let report = drift(&db, &migrations, &options);
    assert_eq!(report.exit_code(), exit::SCHEMA_CHECK_FAILED);
    assert_eq!(report.drift, []);
    assert_eq!(
        messages(&report.schema_dir.unwrap().differences),
        [
            "table public.w: in the schema directory, not made by the migrations",
            "column public.u.a: no default, expected 1 (schema directory, expected by the migrations)",
        ]
    );
}

#[test]
fn a_schema_file_that_fails_keeps_the_server_error_as_data() {
    let db = TestDb::new("cft_drift_schema_bad");
    let dir = TempDir::new("cft_drift_schema_bad");
    dir.write("m/001_t.up.sql", "CREATE TABLE t (a int);\n");
    dir.write("m/001_t.down.sql", "DROP TABLE t;\n");
    dir.write("schema/01_t.sql", "CREATE TABLE t (a int;\n");
    let options = DriftOptions::default().schema_dir(Some(dir.path().join("schema")));
    let failed = migrator(&db, &dir.path().join("m"))
        .drift(&options, &mut no_scratch_progress)
        .unwrap_err();
    let e = &failed.error;
    assert_eq!(e.kind, ErrorKind::MigrationFailed, "{e:?}");
    assert!(
        e.message
            .contains("01_t.sql:1:22 failed on the scratch database"),
        "{e:?}"
    );
    assert!(
        e.cause().unwrap_or("").ends_with("(SQLSTATE 42601)"),
        "{e:?}"
    );
    // The driver's error is the source, its SQLSTATE matched as a type.
    let driver = e.driver_error().expect("the driver's error as the source");
    assert_eq!(
        driver.code(),
        Some(&postgres::error::SqlState::SYNTAX_ERROR),
        "{e:?}"
    );
    for name in &failed.report.scratch_databases {
        assert!(!database_exists(name), "{name} was left behind");
    }
}

/// h16 D11: a schema file that left a transaction open (`BEGIN` without `COMMIT`) took the
/// next files and drift's own catalog read into it, and one whose transaction was aborted ended
/// the run with "current transaction is aborted" (exit 3), naming no file. It is that file's
/// failure (exit 4), at its `BEGIN`, rolled back. And what a file sets in the session
/// (`search_path`, a role, temporary objects, prepared statements) no longer reaches the next
/// file or the read.
#[test]
fn a_schema_file_that_leaves_a_transaction_open_is_named_and_leaves_nothing_behind() {
    let db = TestDb::new("cft_drift_schema_txn");
    let dir = TempDir::new("cft_drift_schema_txn");
    dir.write(
        "m/001_t.up.sql",
        "CREATE SCHEMA other;\nCREATE TABLE t (a int);\nCREATE TABLE u (a int);\n",
    );
    dir.write("m/001_t.down.sql", "DROP TABLE u, t;\nDROP SCHEMA other;\n");
    let migrations = dir.path().join("m");
    let options = DriftOptions::default().schema_dir(Some(dir.path().join("schema")));
    for (open, line) in [
        ("CREATE SCHEMA other;\nBEGIN;\nCREATE TABLE t (a int);\n", 2),
        (
            "CREATE SCHEMA other;\nCREATE TABLE t (a int);\nSTART TRANSACTION;\nSELECT 1;\n",
            3,
        ),
        // Sent whole (a backslash in a plain string): the message ends inside its transaction.
        (
            "CREATE SCHEMA other;\nCREATE TABLE t (a int);\nBEGIN;\nSELECT '\\\\';\n",
            3,
        ),
    ] {
        dir.write("schema/01_t.sql", open);
        dir.write("schema/02_u.sql", "CREATE TABLE u (a int);\n");
        let failed = migrator(&db, &migrations)
            .drift(&options, &mut no_scratch_progress)
            .unwrap_err();
        let e = &failed.error;
        assert_eq!(e.kind, ErrorKind::MigrationFailed, "{open:?}: {e:?}");
        assert!(
            e.message.contains(&format!("01_t.sql:{line}:1"))
                && e.message.contains("transaction open"),
            "{open:?}: {e:?}"
        );
        match e.reason() {
            confiture::error::Reason::SchemaFile { file, at, .. } => {
                assert!(file.ends_with("01_t.sql"), "{file:?}");
                assert_eq!(*at, Some((line, 1)), "{open:?}");
            }
            other => panic!("{open:?}: {other:?}"),
        }
        for name in &failed.report.scratch_databases {
            assert!(!database_exists(name), "{name} was left behind");
        }
    }
    // Aborted inside its BEGIN: the statement's own error, as before.
    dir.write(
        "schema/01_t.sql",
        "CREATE SCHEMA other;\nBEGIN;\nCREATE TABLE t (a int);\nSELECT 1 / 0;\nCOMMIT;\n",
    );
    let failed = migrator(&db, &migrations)
        .drift(&options, &mut no_scratch_progress)
        .unwrap_err();
    assert_eq!(failed.error.kind, ErrorKind::MigrationFailed);
    assert!(
        failed.error.message.contains("01_t.sql:4:1"),
        "{:?}",
        failed.error
    );
    // Session state stays with its file: the next file's unqualified table is public's, its
    // temporary table and prepared statement of the same name are its own, and the read sees
    // every schema.
    dir.write(
        "schema/01_t.sql",
        "CREATE SCHEMA other;\nSET search_path = other;\nCREATE TEMP TABLE scratch_tmp (a int);\n\
         PREPARE p AS SELECT 1;\nCREATE TABLE public.t (a int);\nSET statement_timeout = '1ms';\n",
    );
    dir.write(
        "schema/02_u.sql",
        "CREATE TEMP TABLE scratch_tmp (a int);\nPREPARE p AS SELECT 1;\nCREATE TABLE u (a int);\n",
    );
    let report = drift(&db, &migrations, &options);
    assert!(report.passed, "{report:#?}");
}

/// CI (a loaded machine): a schema file that ended with `SET statement_timeout = '1ms'` made
/// the next file's first statement fail with "canceling statement due to statement timeout".
/// The session was put back (`DISCARD ALL`) under that timeout: the statement meant to turn it
/// off first went in one message with the `SAVEPOINT` that asks for an open transaction, which
/// fails outside one and took the `SET` with it. A timer that fired after the reset's last
/// interrupt check cancels the statement after it (PostgreSQL's delivery), and one that fired
/// during it cancelled the reset. A reset that takes longer than the timeout (temporary tables
/// to drop) makes it certain: each file, in a transaction it left open or not, is put back and
/// the next one runs.
#[test]
fn a_schema_file_that_sets_a_tiny_statement_timeout_does_not_cancel_the_reset_or_the_next_file() {
    let db = TestDb::new("cft_drift_schema_timeout");
    let dir = TempDir::new("cft_drift_schema_timeout");
    dir.write(
        "m/001_t.up.sql",
        "CREATE TABLE t (a int);\nCREATE TABLE u (a int);\n",
    );
    dir.write("m/001_t.down.sql", "DROP TABLE u, t;\n");
    let migrations = dir.path().join("m");
    let options = DriftOptions::default().schema_dir(Some(dir.path().join("schema")));
    // Enough temporary tables that dropping them takes longer than a millisecond.
    let temporary = "DO $$ BEGIN FOR i IN 1..300 LOOP \
                     EXECUTE format('CREATE TEMP TABLE tmp_%s (a int)', i); END LOOP; END $$;\n";
    dir.write("schema/02_u.sql", "CREATE TABLE u (a int);\n");
    for tail in [
        "SET statement_timeout = '1ms';\n",
        "BEGIN;\nSET statement_timeout = '1ms';\n",
    ] {
        dir.write(
            "schema/01_t.sql",
            &format!("CREATE TABLE t (a int);\n{temporary}{tail}"),
        );
        let result = migrator(&db, &migrations).drift(&options, &mut no_scratch_progress);
        if tail.starts_with("BEGIN") {
            // The file's own failure (its transaction left open), not a cancel of the reset.
            let failed = result.unwrap_err();
            assert_eq!(
                failed.error.kind,
                ErrorKind::MigrationFailed,
                "{:?}",
                failed.error
            );
            assert!(
                failed.error.message.contains("01_t.sql:3:1")
                    && failed.error.message.contains("transaction open"),
                "{:?}",
                failed.error
            );
            for name in &failed.report.scratch_databases {
                assert!(!database_exists(name), "{name} was left behind");
            }
        } else {
            let report = result.unwrap_or_else(|e| panic!("{tail:?}: {e:?}"));
            assert!(report.passed, "{report:#?}");
            for name in &report.scratch_databases {
                assert!(!database_exists(name), "{name} was left behind");
            }
        }
    }
}

/// Called on a thread of a tokio runtime (an application's `#[tokio::main]`), where the blocking
/// driver would panic: `verify` and `drift` run off the runtime's thread, their progress events
/// still reach the caller, and their scratch databases are dropped. (The test's own database
/// work happens outside the runtime.)
#[test]
fn verify_and_drift_work_on_a_tokio_runtime_thread() {
    let db = TestDb::new("cft_verify_tokio");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../db/migrations");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut events = Vec::new();
    let (verified, drifted) = runtime.block_on(async {
        let verified =
            migrator(&db, &dir).verify(&VerifyOptions::default(), &mut |p| events.push(p));
        let drifted = migrator(&db, &dir).drift(&DriftOptions::default(), &mut no_scratch_progress);
        (verified, drifted)
    });
    drop(runtime);
    let report = verified.unwrap_or_else(|e| panic!("verify: {e:?}"));
    assert!(report.passed, "{report:#?}");
    let created: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            ScratchProgress::Created { database } => Some(database),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 1, "{events:?}");
    assert!(!database_exists(created[0]));
    let checked = events
        .iter()
        .filter(|e| matches!(e, ScratchProgress::Checked(_)))
        .count();
    assert_eq!(checked, 6);

    let report = drifted.unwrap_or_else(|e| panic!("drift: {e:?}"));
    assert!(report.passed, "{report:#?}");
    assert!(!database_exists(&report.scratch_databases[0]));
}

/// drift's read of the live schema waits for a lock another session holds on a relation it
/// reads (`pg_get_viewdef` locks a view's tables) at most its `lock_wait` (`--lock-wait`), then
/// exit 6 naming that session: never an unbounded wait, and never exit 3 (a connection error)
/// when the database's own `lock_timeout` is shorter.
#[test]
fn drift_behind_a_table_lock_is_exit_6_naming_the_holder() {
    for database_lock_timeout in [None, Some("300ms")] {
        let db = TestDb::new("cft_driftlock");
        let dir = TempDir::new("driftlock");
        fs::write(
            dir.path().join("001_w.up.sql"),
            "CREATE TABLE w (id int);\nCREATE VIEW v AS SELECT id FROM w;\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("001_w.down.sql"),
            "DROP VIEW v;\nDROP TABLE w;\n",
        )
        .unwrap();
        up(&db, dir.path());
        if let Some(t) = database_lock_timeout {
            db.client()
                .batch_execute(&format!(
                    "ALTER DATABASE \"{}\" SET lock_timeout = '{t}'",
                    db.name
                ))
                .unwrap();
        }
        let mut other = db.client_as("long-alter");
        other
            .batch_execute("BEGIN; LOCK TABLE w IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        let pid: i32 = other
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        // Released after 6 s at the latest: an unbounded wait ends there (and fails below).
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(6));
            other.batch_execute("COMMIT").unwrap();
        });
        let started = std::time::Instant::now();
        let options = DriftOptions::default().lock_wait(std::time::Duration::from_millis(800));
        let result = Migrator::new(db.environment(), dir.path(), CheckOptions::default())
            .drift(&options, &mut no_scratch_progress);
        let elapsed = started.elapsed();
        release.join().unwrap();
        let Err(failed) = result else {
            panic!("drift waited {elapsed:?} for the lock, then succeeded");
        };
        let case = format!("database lock_timeout {database_lock_timeout:?}");
        assert_eq!(
            (failed.error.kind, failed.error.exit_code()),
            (ErrorKind::LockTimeout, exit::LOCK_TIMEOUT),
            "{case}: {:?}",
            failed.error
        );
        assert!(
            failed
                .error
                .details
                .iter()
                .any(|d| d.contains(&format!("pid {pid}, "))),
            "{case}: {:?}",
            failed.error.details
        );
        assert!(
            elapsed < std::time::Duration::from_secs(5),
            "{case}: {elapsed:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// read-only transactions

/// How long [`unless_it_waits_for_a_safe_snapshot`] lets a command run: no bound on its speed
/// (a scratch database's `DROP DATABASE` alone has been seen to take 30 to 90 s on a loaded
/// server), a guard against a wait nobody looks for, so that such a wait fails the test
/// instead of holding the suite.
const HANG_GUARD: std::time::Duration = std::time::Duration::from_secs(300);

/// Runs `command` on a thread of its own while a serializable writer is open on `db`, and
/// watches what it waits for: `"ended"`, `"failed"` (it panicked, its message above), or, as
/// soon as a session on `db` or on a scratch database waits for a safe snapshot (`wait_event`
/// `SafeSnapshot`: the wait this is about, which only the writer's end ends), that wait and
/// its query. Decided by the server's state, never by how long the command takes (a minute's
/// bound failed under load, the command still at work); past [`HANG_GUARD`], what the run's
/// sessions wait for. With the thread, joined once what blocks it is gone (so that a command
/// that waited drops its scratch databases before the test ends).
fn unless_it_waits_for_a_safe_snapshot(
    db: &TestDb,
    command: impl FnOnce() + Send + 'static,
) -> (String, std::thread::JoinHandle<()>) {
    let (done, ended) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        command();
        let _ = done.send(());
    });
    let sessions = format!(
        "FROM pg_stat_activity WHERE (datname = '{}' OR datname LIKE '{}%') \
         AND pid <> pg_backend_pid()",
        db.name,
        confiture::db::scratch::PREFIX
    );
    let mut watch = admin();
    let mut waits_for = |condition: &str| {
        confiture_test_support::value(
            &mut watch,
            &format!(
                "SELECT string_agg(datname || ' (' || coalesce(wait_event, 'running') || '): ' \
                 || query, '; ') {sessions} {condition}"
            ),
        )
    };
    let started = std::time::Instant::now();
    let status = loop {
        match ended.recv_timeout(std::time::Duration::from_millis(20)) {
            Ok(()) => break "ended".to_string(),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break "failed".to_string(),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Some(waiting) = waits_for("AND wait_event = 'SafeSnapshot'") {
            break format!("waited for a safe snapshot: {waiting}");
        }
        if started.elapsed() > HANG_GUARD {
            break format!(
                "still going after {HANG_GUARD:?}: {}",
                waits_for("").unwrap_or_default()
            );
        }
    };
    (status, thread)
}

/// A database whose transactions are `SERIALIZABLE` and `DEFERRABLE` by default: a `READ
/// ONLY` transaction started there waits for a safe snapshot (`wait_event` `SafeSnapshot`)
/// while any serializable transaction that writes is open — no lock, so no lock timeout ends
/// it. The tool's own read-only transactions (the target's settings that `verify` and
/// `drift` read, a fleet's targets and schemas queries) say `NOT DEFERRABLE`, at `REPEATABLE
/// READ`: they end while such a writer stays open.
#[test]
fn read_only_transactions_do_not_wait_for_an_open_serializable_writer() {
    let db = TestDb::new("cft_deferrable");
    let dir = TempDir::new("cft_deferrable");
    dir.write("001_t.up.sql", "CREATE TABLE t (a int);\n");
    dir.write("001_t.down.sql", "DROP TABLE t;\n");
    up(&db, dir.path());
    db.client()
        .batch_execute(&format!(
            "ALTER DATABASE \"{0}\" SET default_transaction_isolation = 'serializable';\n\
             ALTER DATABASE \"{0}\" SET default_transaction_deferrable = on",
            db.name
        ))
        .unwrap();
    let mut writer = db.client_as("serializable-writer");
    writer
        .batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE; INSERT INTO t VALUES (1)")
        .unwrap();

    let env = db.environment();
    let path = dir.path().to_path_buf();
    let (verified, verify_thread) = unless_it_waits_for_a_safe_snapshot(&db, move || {
        let outcome = Migrator::new(env, path, CheckOptions::default())
            .verify(&VerifyOptions::default(), &mut no_scratch_progress);
        assert!(outcome.is_ok_and(|r| r.passed));
    });
    let env = db.environment();
    let path = dir.path().to_path_buf();
    let (drifted, drift_thread) = unless_it_waits_for_a_safe_snapshot(&db, move || {
        let outcome = Migrator::new(env, path, CheckOptions::default())
            .drift(&DriftOptions::default(), &mut no_scratch_progress);
        assert!(outcome.is_ok_and(|r| r.passed));
    });
    let env = db.environment();
    let (listed, list_thread) = unless_it_waits_for_a_safe_snapshot(&db, move || {
        let sql = "SELECT current_database()::text";
        assert_eq!(confiture::fleet::query_targets(&env, sql).unwrap().len(), 1);
        assert_eq!(
            confiture::fleet::query_schemas(&env, "SELECT 'tenant_a'::text")
                .unwrap()
                .len(),
            1
        );
    });
    // The writer ends only now: whatever waited for it ends too (and drops what it made).
    writer.batch_execute("COMMIT").unwrap();
    for thread in [verify_thread, drift_thread, list_thread] {
        let _ = thread.join();
    }
    assert_eq!(
        (verified.as_str(), drifted.as_str(), listed.as_str()),
        ("ended", "ended", "ended"),
        "(verify, drift, targets and schemas queries) ended while the writer was open"
    );
}

// ---------------------------------------------------------------------------------------------
// what a failure on a scratch database suggests

/// SQL that sleeps `seconds` on a scratch database and not at all elsewhere: a migration that
/// `up` applies at once and `verify`/`drift` replay slowly.
fn sleep_on_scratch(seconds: u32) -> String {
    format!(
        "SELECT pg_sleep(CASE WHEN current_database() LIKE '{}%' THEN {seconds} ELSE 0 END);\n",
        confiture::db::scratch::PREFIX
    )
}

/// Sets `flag` a second after it is called, from a thread of its own.
fn set_soon(flag: &std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let flag = flag.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(1));
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
}

/// The help of an error of `verify` or `drift` (`command`): it says to run that command
/// again as it was given (`hint::AGAIN`: its flags too), never one that would write the
/// target (`migrate up`, `migrate down`), nor anything to undo (the scratch database is
/// dropped).
#[track_caller]
fn assert_suggests_only(command: &str, help: Option<&str>) {
    let help = help.expect("a help");
    assert!(
        help.contains(&format!("run {}", confiture::hint::AGAIN))
            && !help.contains("`cargo confiture migrate"),
        "{command}: {help}"
    );
    for unsafe_words in ["migrate up", "migrate down", "undo", "migrate status"] {
        assert!(!help.contains(unsafe_words), "{command}: {help}");
    }
}

/// `verify` and `drift` stopped from outside ([`Migrator::stop_when`]) while a migration runs
/// on the scratch database: the error says to run the same command again (nothing was done to
/// the target), never `migrate up`; verify's report and progress call the cut-off migration
/// `interrupted` (counted as such, not a failed check, and not `failed`); drift's `replayed`
/// lists only what was replayed.
#[test]
fn a_stopped_verify_or_drift_is_interrupted_and_suggests_itself_again() {
    let db = TestDb::new("cft_verify_stop");
    let dir = TempDir::new("cft_verify_stop");
    dir.write("001_a.up.sql", "CREATE TABLE a (i int);\n");
    dir.write("001_a.down.sql", "DROP TABLE a;\n");
    let slow = format!("{}CREATE TABLE s2 (id int);\n", sleep_on_scratch(60));
    dir.write("002_sleep.up.sql", &slow);
    dir.write("002_sleep.down.sql", "DROP TABLE s2;\n");
    dir.write("003_c.up.sql", "CREATE TABLE c (i int);\n");
    dir.write("003_c.down.sql", "DROP TABLE c;\n");

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut checked = Vec::new();
    let failed = migrator(&db, dir.path())
        .stop_when(stop.clone())
        .verify(&VerifyOptions::default(), &mut |p| match p {
            ScratchProgress::Checking { version, .. } if version == "002" => set_soon(&stop),
            ScratchProgress::Checked(check) => checked.push((check.version, check.result)),
            _ => {}
        })
        .unwrap_err();
    assert_eq!(
        failed.error.kind,
        ErrorKind::Interrupted,
        "{:?}",
        failed.error
    );
    assert_suggests_only("migrate verify", failed.error.help.as_deref());
    assert_suggests_only("migrate verify", failed.report.errors[0].help.as_deref());
    let results: Vec<CheckResult> = failed.report.migrations.iter().map(|m| m.result).collect();
    assert_eq!(
        results,
        [
            CheckResult::Reversible,
            CheckResult::Interrupted,
            CheckResult::NotChecked
        ]
    );
    assert_eq!(
        checked,
        [
            ("001".to_string(), CheckResult::Reversible),
            ("002".to_string(), CheckResult::Interrupted)
        ],
        "the progress events"
    );
    let summary = failed.report.summary;
    assert_eq!(
        (
            summary.interrupted,
            summary.failed_checks,
            summary.not_checked
        ),
        (1, 0, 1),
        "{summary:?}"
    );

    // drift, every migration applied (at once: the sleep is the scratch database's).
    up(&db, dir.path());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let failed = migrator(&db, dir.path())
        .stop_when(stop.clone())
        .drift(&DriftOptions::default(), &mut |p| {
            if matches!(p, ScratchProgress::Step(s) if s.starts_with("replaying")) {
                set_soon(&stop);
            }
        })
        .unwrap_err();
    assert_eq!(
        failed.error.kind,
        ErrorKind::Interrupted,
        "{:?}",
        failed.error
    );
    assert_suggests_only("migrate drift", failed.error.help.as_deref());
    assert_suggests_only("migrate drift", failed.report.errors[0].help.as_deref());
    assert_eq!(
        failed.report.replayed,
        ["001"],
        "002 was cut off, 003 never ran"
    );
}

/// A `no-transaction` migration that fails part-way on the scratch database: statement 1
/// stays committed there, but the scratch database is dropped — the help says to fix the file
/// and run `verify` (or `drift`) again, not to undo anything nor to run `migrate up`, which
/// would apply the migrations to the target. The same for a migration that releases the
/// migration lock, and for one that fails in its transaction.
#[test]
fn a_migration_failing_on_the_scratch_database_suggests_the_command_that_was_run() {
    let db = TestDb::new("cft_verify_notx");
    let dir = TempDir::new("cft_verify_notx");
    dir.write("001_a.up.sql", "CREATE TABLE a (i int);\n");
    dir.write("001_a.down.sql", "DROP TABLE a;\n");
    // Fails on a scratch database only, after its first statement committed.
    let fails_on_scratch = format!(
        "SELECT 1 / (CASE WHEN current_database() LIKE '{}%' THEN 0 ELSE 1 END);\n",
        confiture::db::scratch::PREFIX
    );
    dir.write(
        "002_i.up.sql",
        &format!(
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a_i ON a (i);\n{fails_on_scratch}"
        ),
    );
    dir.write(
        "002_i.down.sql",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY a_i;\n",
    );
    up(&db, dir.path());
    let fails = |failed: &confiture::migrate::Failed<_>, command: &str| {
        let error: &confiture::Error = &failed.error;
        assert_eq!(
            error.kind,
            ErrorKind::MigrationFailed,
            "{command}: {error:?}"
        );
        assert_suggests_only(command, error.help.as_deref());
        let help = error.help.as_deref().unwrap_or_default();
        assert!(help.contains("fix "), "{command}: {help}");
        assert!(help.contains("002_i.up.sql"), "{command}: {help}");
    };
    let failed = migrator(&db, dir.path())
        .verify(&VerifyOptions::default(), &mut no_scratch_progress)
        .unwrap_err();
    fails(&failed, "migrate verify");
    assert_suggests_only("migrate verify", failed.report.errors[0].help.as_deref());
    let failed = migrator(&db, dir.path())
        .drift(&DriftOptions::default(), &mut no_scratch_progress)
        .unwrap_err();
    assert_eq!(failed.error.kind, ErrorKind::MigrationFailed);
    assert_suggests_only("migrate drift", failed.error.help.as_deref());
    assert_suggests_only("migrate drift", failed.report.errors[0].help.as_deref());

    // A migration that releases the migration lock, and one whose SQL fails.
    for (up_sql, expected) in [
        // Out of the linter's sight, as a function of the application's would do it.
        (
            "DO $$ BEGIN EXECUTE 'SELECT pg_advisory_' || 'unlock_all()'; END $$;\n",
            "remove that call",
        ),
        ("ALTER TABLE nosuch ADD b int;\n", "fix "),
    ] {
        let dir = TempDir::new("cft_verify_unlock");
        dir.write("001_a.up.sql", "CREATE TABLE a (i int);\n");
        dir.write("001_a.down.sql", "DROP TABLE a;\n");
        dir.write("002_u.up.sql", up_sql);
        dir.write("002_u.down.sql", "SELECT 1;\n");
        let failed = migrator(&db, dir.path())
            .verify(&VerifyOptions::default(), &mut no_scratch_progress)
            .unwrap_err();
        let help = failed.error.help.as_deref().unwrap_or_default();
        assert!(help.contains(expected), "{up_sql}: {help}");
        assert_suggests_only("migrate verify", Some(help));
    }
}
