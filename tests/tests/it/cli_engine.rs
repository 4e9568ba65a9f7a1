//! The engine's messages as the CLI prints them: the lost-lock warning in table output, no
//! "applied" line for a migration a failed `--single-transaction` rolled back, the session
//! rule seen from the command line, and ledger problems named with exit 5.

use confiture::exit;
use confiture_tests::{Project, TestDb};

/// Releases every advisory lock of the session through a function whose `'...'` body lint does
/// not read as SQL: what `releases-migration-lock` cannot see, the run finds at release.
const UNLOCK_IN_A_FUNCTION: &str = "CREATE TABLE t (id int);\n\
    CREATE FUNCTION let_go() RETURNS void LANGUAGE sql AS 'SELECT pg_advisory_unlock_all()';\n\
    SELECT let_go();\n";

#[test]
fn a_lost_migration_lock_is_a_warning_in_table_output_too() {
    let db = TestDb::new("lostlock");
    let project = Project::new();
    project.migration("001_unlock", UNLOCK_IN_A_FUNCTION, "DROP TABLE t;\n");
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::SUCCESS)
        .stderr_has("warning: the migration lock on database")
        .stderr_has("was lost during the run");

    let json = Project::new();
    json.migration("001_unlock", UNLOCK_IN_A_FUNCTION, "DROP TABLE t;\n");
    let other = TestDb::new("lostlock_json");
    let run = json.run_on(&other, &["migrate", "up", "--format", "json"]);
    run.code(exit::SUCCESS).stderr_lacks("warning:");
    let warnings = run.json()["warnings"].clone();
    assert!(
        warnings[0]
            .as_str()
            .unwrap_or_default()
            .contains("was lost"),
        "{}",
        run.dump()
    );
}

/// Where lint sees it, a migration that would release the lock is refused before anything
/// runs, in up and down files, named with its file and line.
#[test]
fn a_migration_that_would_release_the_lock_is_refused_before_anything_runs() {
    let db = TestDb::new("unlockrefused");
    let project = Project::new();
    project
        .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration(
            "002_reset_session",
            "-- confiture:no-transaction\nDISCARD ALL;\n",
            "SELECT 1;\n",
        );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::INVALID)
        .stderr_has("002_reset_session.up.sql:2")
        .stderr_has("error[C107]")
        .stderr_has("DISCARD PLANS");
    assert_eq!(db.ledger(), None, "nothing ran");
    assert!(!db.has_relation("a"));

    // In a down file, `down` refuses it the same way, and the up it would undo stays.
    project.write(
        "db/migrations/002_reset_session.up.sql",
        "CREATE TABLE b (id int);\n",
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project.write(
        "db/migrations/002_reset_session.down.sql",
        "DROP TABLE b;\nDO $$ BEGIN PERFORM pg_advisory_unlock_all(); END $$;\n",
    );
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::INVALID)
        .stderr_has("002_reset_session.down.sql:2");
    assert!(db.has_relation("b"), "the down file did not run");
    assert_eq!(db.ledger().map(|l| l.len()), Some(2));
}

/// A migration that writes the tracking table — the default one for `lint`, the environment's
/// for `migrate` — is refused before anything runs: a `TRUNCATE` of it would have made every
/// earlier migration pending again.
#[test]
fn a_migration_that_writes_the_tracking_table_is_refused_before_anything_runs() {
    let db = TestDb::new("writesledger");
    let project = Project::new();
    project
        .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration(
            "002_forget",
            "CREATE TABLE b (id int);\nTRUNCATE tb_confiture;\n",
            "DROP TABLE b;\n",
        );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::INVALID)
        .stderr_has("error[C108]")
        .stderr_has("002_forget.up.sql:2");
    project
        .run(&["lint"])
        .code(exit::INVALID)
        .stderr_has("error[C108]");
    assert_eq!(db.ledger(), None, "nothing ran");

    // With the environment's own table, that name is the one checked, by `migrate`.
    project.write(
        "db/environments/ops.yaml",
        format!(
            "database_url: {}\nmigration:\n  tracking_table: ops.history\n",
            db.url()
        ),
    );
    project.write(
        "db/migrations/002_forget.up.sql",
        "CREATE TABLE b (id int);\nDELETE FROM ops.history WHERE version = '001';\n",
    );
    project
        .run(&["migrate", "up", "--env", "ops"])
        .code(exit::INVALID)
        .stderr_has("DELETE FROM history");
    assert!(!db.has_relation("a"), "nothing ran");
}

#[test]
fn a_failed_single_transaction_prints_no_applied_line_for_what_it_rolled_back() {
    let db = TestDb::new("single_fail");
    let project = Project::new();
    project
        .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration("002_b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n")
        .migration(
            "003_bad",
            "ALTER TABLE nope ADD COLUMN x int;\n",
            "SELECT 1;\n",
        );
    let run = project.run_on(&db, &["migrate", "up", "--single-transaction"]);
    run.code(exit::MIGRATION_FAILED)
        .stderr_lacks("applied 001")
        .stderr_lacks("applied 002")
        .stderr_has("rolled back");
    assert!(!db.has_relation("a"), "rolled back");
}

#[test]
fn a_pg_dump_preamble_in_a_migration_applies_like_any_other() {
    let db = TestDb::new("preamble");
    let project = Project::new();
    project
        .migration(
            "001_dump",
            "SET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\
             CREATE TABLE public.a (id int);\nRESET ALL;\n",
            "DROP TABLE public.a;\n",
        )
        .migration("002_next", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::SUCCESS)
        .stdout_has("2 applied, 0 pending, 2 total");
    assert!(db.has_relation("b"));
}

#[test]
fn a_ledger_with_an_extra_not_null_column_exits_5_naming_it() {
    let db = TestDb::new("ledger_col_cli");
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    db.connect()
        .batch_execute("ALTER TABLE tb_confiture ADD COLUMN team text NOT NULL DEFAULT 'x'; ALTER TABLE tb_confiture ALTER COLUMN team DROP DEFAULT")
        .unwrap();
    project.migration("002_b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::INVALID)
        .stderr_has("team")
        .stderr_has("tb_confiture")
        .stderr_lacks("002_b.up.sql");
    assert!(!db.has_relation("b"));
}
