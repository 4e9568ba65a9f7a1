//! The engine's messages as the CLI prints them: a migration that releases the migration lock,
//! the lost-lock warning in table output, no
//! "applied" line for a migration a failed `--single-transaction` rolled back, the session
//! rule seen from the command line, and ledger problems named with exit 5.

use confiture::exit;
use confiture_test_support::reaper::DropRoleLater;
use confiture_tests::{Project, Run, TestDb};

/// Releases every advisory lock of the session through a function whose `'...'` body lint does
/// not read as SQL: what `releases-migration-lock` cannot see.
/// The function's name is built at run time: lint, which reads every body, does not see it.
const LET_GO: &str = "CREATE FUNCTION let_go() RETURNS void LANGUAGE plpgsql AS \
     'BEGIN EXECUTE ''SELECT pg_advisory_'' || ''unlock_all()''; END';\n";

fn versions(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|v| v.to_string()).collect())
}

/// `project` run on `db` with `args` (`--format json`), failing a migration (exit 4): the run
/// and its first error object.
#[track_caller]
fn failed_migration(project: &Project, db: &TestDb, args: &[&str]) -> (Run, serde_json::Value) {
    let run = project.run_on(db, args);
    run.code(exit::MIGRATION_FAILED);
    let error = run.json()["errors"][0].clone();
    (run, error)
}

/// The `message` of a JSON error object ("" when it has none).
fn message(error: &serde_json::Value) -> &str {
    error["message"].as_str().unwrap_or_default()
}

/// A migration that releases the migration lock where lint cannot see it (in a function it
/// calls) fails before it commits, in every way a migration runs: batched with
/// others, inside `--single-transaction`, without a transaction, rolling back. The run stops
/// there (exit 4, naming it): without the lock another run could overlap it. It used to run to
/// the end, with a warning after the fact.
#[test]
fn a_migration_that_releases_the_lock_at_run_time_is_rolled_back() {
    let db = TestDb::new("lostlock");
    let project = Project::new();
    project
        .migration(
            "001_f",
            &format!("CREATE TABLE t (id int);\n{LET_GO}"),
            "DROP FUNCTION let_go();\nDROP TABLE t;\n",
        )
        .migration("002_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration(
            "003_b",
            "CREATE TABLE b (id int);\nSELECT let_go();\n",
            "DROP TABLE b;\n",
        )
        .migration("004_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n");

    // Batched with the others: rolled back, and what follows is not attempted.
    let (run, error) = failed_migration(&project, &db, &["migrate", "up", "--format", "json"]);
    assert!(
        message(&error).starts_with("migration 003_b released the migration lock"),
        "{}",
        run.dump()
    );
    assert_eq!(error["not_attempted"], serde_json::json!(["004"]));
    assert_eq!(db.ledger(), versions(&["001:f", "002:a"]));
    assert!(!db.has_relation("b") && !db.has_relation("c"));

    // Failing on its own after releasing the lock: the release is the error, its own failure
    // is said too, with its place and SQLSTATE.
    project.write(
        "db/migrations/003_b.up.sql",
        "CREATE TABLE b (id int);\nSELECT let_go();\nSELECT 1 / 0;\n",
    );
    let (run, error) = failed_migration(&project, &db, &["migrate", "up", "--format", "json"]);
    assert_eq!(error["sqlstate"], "22012", "{}", run.dump());
    assert_eq!(error["line"], 3, "{}", run.dump());
    assert!(
        error["details"][0]
            .as_str()
            .unwrap_or_default()
            .contains("its own SQL failed too at db/migrations/003_b.up.sql:3"),
        "{}",
        run.dump()
    );
    assert_eq!(db.ledger(), versions(&["001:f", "002:a"]));
    project.write(
        "db/migrations/003_b.up.sql",
        "CREATE TABLE b (id int);\nSELECT let_go();\n",
    );

    // Inside --single-transaction: nothing of the run stays.
    project
        .run_on(&db, &["migrate", "up", "--single-transaction"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("error: migration 003_b released the migration lock")
        .stderr_has("nothing is recorded")
        .stderr_has("help: remove that call from db/migrations/003_b.up.sql");
    assert_eq!(db.ledger(), versions(&["001:f", "002:a"]));
    assert!(!db.has_relation("b"));

    // Without a transaction: what it committed stays, unrecorded, and the run stops there,
    // before its next statement.
    project.write(
        "db/migrations/003_b.up.sql",
        "-- confiture:no-transaction\n-- confiture:allow(no-transaction-multiple-statements)\n\
         CREATE INDEX CONCURRENTLY a_id ON a (id);\nSELECT let_go();\n\
         CREATE INDEX CONCURRENTLY a_id_2 ON a (id);\n",
    );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("error: migration 003_b released the migration lock")
        .stderr_has("stay committed, and the migration is not recorded");
    assert_eq!(db.ledger(), versions(&["001:f", "002:a"]));
    assert!(db.has_relation("a_id") && !db.has_relation("c"));
    assert!(!db.has_relation("a_id_2"), "nothing runs after the release");

    // Rolling back: the down is rolled back, and its migration stays applied.
    db.connect()
        .batch_execute("DROP INDEX a_id")
        .expect("drop the index");
    project.write(
        "db/migrations/003_b.up.sql",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a_id ON a (id);\nSELECT let_go();\n",
    );
    // What the first run committed was undone: run it again on purpose (its marker stays).
    project
        .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("error: migration 003_b released the migration lock");
    assert_eq!(
        db.ledger(),
        versions(&["001:f", "002:a"]),
        "its last statement too"
    );
    db.connect()
        .batch_execute("DROP INDEX a_id")
        .expect("drop the index");
    project.migration(
        "003_b",
        "CREATE TABLE b (id int);\n",
        "DROP TABLE b;\nSELECT let_go();\n",
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down", "--steps", "2"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("error: rolling back migration 003_b released the migration lock")
        .stderr_has("the migration stays applied");
    assert_eq!(db.ledger(), versions(&["001:f", "002:a", "003:b"]));
    assert!(db.has_relation("b") && !db.has_relation("c"));
}

/// A constraint trigger `DEFERRABLE INITIALLY DEFERRED` runs its function at the migration's
/// `COMMIT`, after the checks of the migration lock and the ledger that end its transaction:
/// one that released the lock let the migration commit and the next migration of the run was
/// blamed for it ("remove that call from 002_..."), and one that emptied the tracking table
/// committed with the migration, the whole ledger gone. What a transaction deferred now fires
/// before those checks: the migration that did it is named and rolled back.
#[test]
fn what_a_deferred_trigger_does_at_commit_is_checked_before_its_migration_commits() {
    let deferred = |table: &str, body: &str| {
        format!(
            "CREATE TABLE {table} (id int);\n\
             CREATE FUNCTION {table}_late() RETURNS trigger LANGUAGE plpgsql AS \
             'BEGIN EXECUTE {body}; RETURN NULL; END';\n\
             CREATE CONSTRAINT TRIGGER {table}_late AFTER INSERT ON {table} \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {table}_late();\n\
             INSERT INTO {table} VALUES (1);\n"
        )
    };
    // The lock, released where lint cannot see it: the migration that did it is named.
    let db = TestDb::new("deferred_lock");
    let project = Project::new();
    project
        .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration(
            "002_late",
            &deferred("l", "''SELECT pg_advisory_'' || ''unlock_all()''"),
            "SELECT 1;\n",
        )
        .migration("003_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n");
    let (run, error) = failed_migration(&project, &db, &["migrate", "up", "--format", "json"]);
    assert!(
        message(&error).starts_with("migration 002_late released the migration lock"),
        "{}",
        run.dump()
    );
    assert_eq!(error["not_attempted"], serde_json::json!(["003"]));
    assert_eq!(db.ledger(), versions(&["001:a"]));
    assert!(!db.has_relation("l") && !db.has_relation("c"));

    // The tracking table emptied at COMMIT: rolled back, the ledger as it was.
    let db = TestDb::new("deferred_ledger");
    let project = Project::new();
    project
        .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration(
            "002_late",
            &deferred("w", "''DELETE FROM tb_conf'' || ''iture''"),
            "SELECT 1;\n",
        );
    project.run_on(&db, &["migrate", "up"]).code(exit::INVALID);
    assert_eq!(db.ledger(), versions(&["001:a"]));
    assert!(!db.has_relation("w"));
}

/// In a schema-per-tenant fleet, each tenant's run checks its own key (held exclusively, the
/// database's shared): a tenant migration that releases every lock is stopped in every
/// tenant, rolled back.
#[test]
fn a_tenant_migration_that_releases_the_lock_is_rolled_back() {
    let db = TestDb::new("lostlock_tenants");
    db.connect()
        .batch_execute(&format!(
            "CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b; {}",
            LET_GO.replace("let_go", "public.let_go")
        ))
        .expect("create the tenants");
    let project = Project::new();
    project
        .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration(
            "002_b",
            "CREATE TABLE b (id int);\nSELECT public.let_go();\n",
            "DROP TABLE b;\n",
        );
    let url = db.url();
    let run = Run::of(project.cli().args([
        "migrate",
        "--database-url",
        url.as_str(),
        "up",
        "--schemas-query",
        "SELECT 'tenant_a' UNION ALL SELECT 'tenant_b'",
        "--keep-going",
        "--format",
        "json",
    ]));
    run.code(exit::MIGRATION_FAILED);
    let doc = run.json();
    for target in doc["targets"].as_array().expect("targets[]") {
        assert_eq!(target["exit_code"], 4, "{}", run.dump());
        assert!(
            target["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("002_b released the migration lock"),
            "{}",
            run.dump()
        );
    }
    let mut client = db.connect();
    for schema in ["tenant_a", "tenant_b"] {
        let rows: Vec<String> = client
            .query(&format!("SELECT version FROM {schema}.tb_confiture"), &[])
            .expect("the tenant's ledger")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(rows, vec!["001".to_string()], "{schema}");
        assert!(!db.has_relation(&format!("{schema}.b")), "{schema}");
    }
}

/// The run's migration lock key, computed in SQL as confiture computes it.
const RUN_KEY: &str = "(('x' || substr(encode(sha256(convert_to(current_database(), 'UTF8')), \
     'hex'), 1, 8))::bit(32)::int & 2147483647)";

/// A function `give_back()` that releases the run's migration lock once, its call built at
/// run time (lint does not see it).
fn give_back() -> String {
    let class = confiture::lock_key::LOCK_NAMESPACE;
    format!(
        "CREATE FUNCTION give_back() RETURNS boolean LANGUAGE plpgsql AS $f$\n\
         DECLARE r boolean;\n\
         BEGIN EXECUTE 'SELECT pg_advisory_' || 'unlock({class}, ' || {RUN_KEY} || ')' INTO r; \
         RETURN r; END\n$f$;\n"
    )
}

/// A migration that gives back the run's own key once released the lock as surely as
/// `pg_advisory_unlock_all()`: written in the file, `C107` refuses it before anything runs;
/// hidden in a function that builds the call at run time, which lint does not see (the key computed as confiture
/// does), it fails before it commits, rolled back, exit 4, and the error names no call the
/// file does not contain. It used to commit with exit 0 (the run held the key twice) and a
/// warning naming `pg_advisory_unlock_all()`.
#[test]
fn a_migration_that_gives_back_the_key_once_is_rolled_back() {
    let class = confiture::lock_key::LOCK_NAMESPACE;
    let key = RUN_KEY;
    let db = TestDb::new("lostlock_one");
    let project = Project::new();
    project.migration(
        "001_a",
        &format!("CREATE TABLE a (id int);\nSELECT pg_advisory_unlock({class}, {key});\n"),
        "DROP TABLE a;\n",
    );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::INVALID)
        .stderr_has("error[C107]");
    assert_eq!(db.ledger(), None, "nothing ran");
    let release_one = format!(
        "CREATE TABLE t (id int);\n{}SELECT give_back();\n",
        give_back()
    );
    let release_one = release_one.as_str();
    project
        .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration("002_unlock", release_one, "DROP TABLE t;\n")
        .migration("003_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n");
    let (run, error) = failed_migration(&project, &db, &["migrate", "up", "--format", "json"]);
    let message = message(&error);
    assert!(
        message.starts_with("migration 002_unlock released the migration lock"),
        "{}",
        run.dump()
    );
    assert!(
        !message.contains("unlock_all") && !message.contains("DISCARD"),
        "names calls the file does not contain: {message}"
    );
    assert_eq!(error["not_attempted"], serde_json::json!(["003"]));
    assert_eq!(db.ledger(), versions(&["001:a"]));
    assert!(!db.has_relation("t") && !db.has_relation("c"));
}

/// Issue 15: a no-transaction migration whose statement gives back the run's key (where lint
/// does not see it) stops before its next statement: the check of the lock travels with the
/// encoding's read and the start marker's advance, in one message between two statements,
/// and a refusal there rolls the advance back. Exit 4; the next statement (a `CREATE INDEX
/// CONCURRENTLY`) never ran; the marker says statement 3, the one that released it, is the
/// one that may have committed.
#[test]
fn a_no_transaction_statement_that_gives_back_the_key_stops_before_the_next() {
    let db = TestDb::new("lostlock_notx");
    let project = Project::new();
    project.migration(
        "001_unlock",
        &format!(
            "-- confiture:no-transaction\nCREATE TABLE t (id int);\n{}SELECT give_back();\n\
             CREATE INDEX CONCURRENTLY t_id ON t (id);\n",
            give_back()
        ),
        "DROP TABLE t;\n",
    );
    let run = project.run_on(&db, &["migrate", "up", "--format", "json"]);
    run.code(exit::MIGRATION_FAILED);
    let message = run.json()["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("released the migration lock"),
        "{}",
        run.dump()
    );
    assert_eq!(
        db.ledger().filter(|l| !l.is_empty()),
        None,
        "{}",
        run.dump()
    );
    assert!(
        db.has_relation("t") && !db.has_relation("t_id"),
        "{}",
        run.dump()
    );
    assert_eq!(
        db.value("SELECT statement::text FROM tb_confiture_started")
            .as_deref(),
        Some("3"),
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
        .stderr_has("DELETE FROM ops.history");
    assert!(!db.has_relation("a"), "nothing ran");
}

/// `lint` given an environment (`--env NAME` or `-c FILE`) checks that environment's tracking
/// table, as `migrate` does: it never connects, but the environment names the ledger. Before,
/// `--env` was "ignored" and `lint` passed a migration that `migrate up --env` refused.
#[test]
fn lint_checks_the_tracking_table_of_the_environment_it_is_given() {
    let project = Project::new();
    project
        .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration(
            "002_forget",
            "CREATE TABLE b (id int);\nDELETE FROM ops.history WHERE version = '001';\n",
            "DROP TABLE b;\n",
        );
    // No server is reached: the port is closed.
    let env = "database_url: postgresql://app@127.0.0.1:1/app\nmigration:\n  tracking_table: \
               ops.history\n";
    project.write("db/environments/ops.yaml", env);
    project.write("elsewhere/ops.yaml", env);
    for args in [
        &["lint", "--env", "ops"][..],
        &["lint", "-c", "elsewhere/ops.yaml"],
        &["--env", "ops", "lint", "-D", "warnings"],
    ] {
        project
            .run(args)
            .code(exit::INVALID)
            .stderr_has("error[C108]")
            // As the statement wrote it, schema and all (it said `DELETE FROM history`).
            .stderr_has("DELETE FROM ops.history:")
            .stderr_has("002_forget.up.sql:2")
            .stderr_lacks("is ignored");
    }
    let run = project.run(&["lint", "--env", "ops", "--format", "json"]);
    run.code(exit::INVALID);
    assert!(
        run.json()["diagnostics"]
            .as_array()
            .is_some_and(|all| all.iter().any(|d| d["code"] == "C108")),
        "{}",
        run.dump()
    );
    // `lint` reads the environment's tracking table, not its connection: a password from a
    // variable that CI does not set, or a `CONFITURE_DATABASE_URL` naming another database, is
    // no reason to refuse it.
    project.write(
        "db/environments/prod.yaml",
        "database_url: postgresql://app:${HLI_UNSET_PASSWORD}@db.internal/app\nmigration:\n  \
         tracking_table: ops.history\n",
    );
    project
        .run(&["lint", "--env", "prod"])
        .code(exit::INVALID)
        .stderr_has("DELETE FROM ops.history")
        .stderr_lacks("HLI_UNSET_PASSWORD");
    Run::of(project.cli().args(["lint", "--env", "ops"]).env(
        "CONFITURE_DATABASE_URL",
        "postgresql://other@127.0.0.1:1/other",
    ))
    .code(exit::INVALID)
    .stderr_has("DELETE FROM ops.history");
    // Without an environment: the default name, which this file does not write.
    project.run(&["lint"]).code(exit::SUCCESS);
    // An environment that cannot be read is said, not passed over.
    project
        .run(&["lint", "--env", "nope"])
        .code(exit::INVALID)
        .stderr_has("nope");
    // `--database-url` names no tracking table: still ignored, and said.
    project
        .run(&["lint", "--database-url", "postgresql://app@127.0.0.1:1/app"])
        .code(exit::SUCCESS)
        .stderr_has("`--database-url` is ignored");
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

/// confiture (Python) waits for the migration lock inside `pg_advisory_lock`, holding a
/// snapshot that `CREATE INDEX CONCURRENTLY` in the holder waits for: the server breaks the
/// deadlock by cancelling one of them. When it cancels the migration's index build, the error
/// names the waiting session and what to do, besides the INVALID index left behind.
#[test]
fn a_deadlock_with_a_run_waiting_inside_a_statement_names_the_waiter() {
    let db = TestDb::new("lock_waiter_deadlock");
    let project = Project::new();
    project
        .migration(
            "001_big",
            // Long enough for the waiter's own deadlock check (after `deadlock_timeout`, 1 s)
            // to pass before the index build waits: the build's check then finds the cycle.
            "CREATE TABLE big (a int);\nINSERT INTO big SELECT generate_series(1, 1000);\n\
             SELECT pg_sleep(2.5);\n",
            "DROP TABLE big;\n",
        )
        .migration(
            "002_index",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY big_a ON big (a);\n",
            "DROP INDEX big_a;\n",
        );
    let run = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while db.migration_lock_holders().is_empty() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the run never took the lock"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            // Blocks until the run exits, as confiture's runner would.
            db.hold_migration_lock("confiture-python-like")
        });
        let run = project.run_on(&db, &["migrate", "up"]);
        drop(waiter.join().expect("the waiter"));
        run
    });
    run.code(exit::MIGRATION_FAILED)
        .stderr_has("SQLSTATE 40P01")
        .stderr_has("waiting for the migration lock inside a statement: pid ")
        .stderr_has("application_name \"confiture-python-like\"")
        .stderr_has("index public.big_a was left INVALID");
    assert_eq!(db.ledger(), Some(vec!["001:big".to_string()]));
}

/// `migrate verify` runs the migrations on a scratch database: a migration there that releases
/// the lock is reported like any failure of verify, and its help never tells to run `migrate
/// up` or `migrate down` (which would act on the real database).
#[test]
fn a_migration_that_releases_the_lock_in_verify_names_no_command_on_the_real_database() {
    let db = TestDb::new("lostlock_verify");
    let project = Project::new();
    project.migration(
        "001_f",
        &format!("CREATE TABLE t (id int);\n{LET_GO}"),
        "SELECT let_go();\nDROP FUNCTION let_go();\nDROP TABLE t;\n",
    );
    project
        .run_on(&db, &["migrate", "verify"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("released the migration lock")
        .stderr_has("then run the command again")
        .stderr_lacks("migrate down")
        .stderr_lacks("migrate up");
    assert_eq!(db.ledger(), None, "the real database was not touched");
}

/// A function whose body fails at run time: the server reports the error with an *internal*
/// position (into the body), not a position in the message that called it.
const BOOM: &str = "CREATE TABLE t (id int);\n\
    CREATE FUNCTION boom() RETURNS int LANGUAGE plpgsql AS $$\n\
    BEGIN\n  RETURN (SELECT nosuchcol FROM t);\nEND $$;\n";

/// A procedure or `DO` block that commits part-way (a backfill in batches) fails inside the
/// migration's transaction ("invalid transaction termination", 2D000): its help said "fix the
/// file", where the file is right and only lacks the marker that runs it outside a
/// transaction. The help names the marker; with it, the file applies.
#[test]
fn a_procedure_that_commits_is_helped_to_the_no_transaction_marker() {
    let db = TestDb::new("commits_inside");
    let project = Project::new();
    let body = "CREATE TABLE t (id int);\n\
        CREATE PROCEDURE backfill() LANGUAGE plpgsql AS $$ BEGIN \
        INSERT INTO t VALUES (1); COMMIT; INSERT INTO t VALUES (2); COMMIT; END $$;\n\
        CALL backfill();\n";
    let down = "DROP PROCEDURE backfill();\nDROP TABLE t;\n";
    project.migration("001_backfill", body, down);
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("2D000")
        .stderr_has("`-- confiture:no-transaction`")
        .stderr_lacks("help: fix db/migrations");
    assert_eq!(db.ledger(), Some(vec![]));
    project.migration(
        "001_backfill",
        &format!("-- confiture:no-transaction\n{body}"),
        down,
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    assert_eq!(db.ledger(), versions(&["001:backfill"]));
}

/// An error the server places inside SQL a migration ran indirectly — a function's body, dynamic
/// SQL in a `DO` block — is the migration's failure (exit 4), blamed on the statement that ran
/// it, in every way a migration runs: batched with others (first or later in the message),
/// alone, inside `--single-transaction`, without a transaction. It used to be read as the
/// tracking table's failure (exit 5, "writing the tracking table failed").
#[test]
fn an_error_inside_a_function_or_do_body_is_the_migrations_failure() {
    let call = "CREATE TABLE u (id int);\n\nSELECT boom();\n";
    let dynamic = "CREATE TABLE u (id int);\n\nDO $$\nBEGIN\n  EXECUTE 'SELECT nosuch' || 'col FROM u';\nEND $$;\n";
    let no_tx =
        "-- confiture:no-transaction\n-- confiture:allow(no-transaction-multiple-statements)\n\
                 VACUUM t;\nSELECT boom();\n";
    let single = "\n\nSELECT boom();\n";
    // (case, the failing migration's SQL, the line blamed, boom applied in an earlier run,
    // extra arguments)
    let cases: [(&str, &str, &str, bool, &[&str]); 7] = [
        ("batched_later", call, ":3:1", false, &[]),
        ("batched_first", call, ":3:1", true, &[]),
        ("single_stmt", single, ":3:1", false, &[]),
        ("dynamic", dynamic, ":5:3", true, &[]),
        ("one_tx", call, ":3:1", false, &["--single-transaction"]),
        (
            "one_tx_dyn",
            dynamic,
            ":5:3",
            false,
            &["--single-transaction"],
        ),
        ("no_tx", no_tx, ":4:1", true, &[]),
    ];
    for (case, sql, line, earlier, extra) in cases {
        let db = TestDb::new(&format!("internal_{case}"));
        let project = Project::new();
        project.migration("001_boom", BOOM, "DROP FUNCTION boom(); DROP TABLE t;\n");
        if earlier {
            project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
        }
        project.migration("002_call", sql, "SELECT 1;\n").migration(
            "003_after",
            "CREATE TABLE after (id int);\n",
            "DROP TABLE after;\n",
        );
        let mut args = vec!["migrate", "up"];
        args.extend_from_slice(extra);
        let blamed = format!("002_call.up.sql{line}");
        project
            .run_on(&db, &args)
            .code(exit::MIGRATION_FAILED)
            .stderr_has("migration 002_call failed at")
            .stderr_has(&blamed)
            .stderr_has("does not exist")
            .stderr_lacks("tracking table");
        assert!(!db.has_relation("after"), "{case}: the run stopped at 002");
    }
}

/// A runtime error inside a `DO` block was blamed on the block's first line (`7:1` for a
/// `RAISE` on line 12): the server places it only in the error's PL/pgSQL context (`PL/pgSQL
/// function inline_code_block line 6 at RAISE`, counted from the body's first line) and, for
/// a statement of the body it could not plan, at a position in that statement's text. Each
/// is now the file's line of the body's statement (its column the position's), the block's
/// line kept as context, whichever way the migration runs and however its body is quoted; a
/// body whose text the server reads otherwise than the file shows (`E'...'` escapes) names
/// the block's line only, never a wrong one.
#[test]
fn an_error_inside_a_do_block_names_the_line_in_its_body() {
    let raise = "CREATE TABLE a (id int);\n\nDO $$\nDECLARE x int := 1;\nBEGIN\n  PERFORM 1;\n  \
                 RAISE EXCEPTION 'boom %', x;\nEND $$;\n";
    // The failing statement's text is in a comment above it too: it is found on its line.
    let planned = "-- INSERT INTO missing VALUES (1)\nDO $$\nBEGIN\n  CREATE TABLE a (id int);\n  \
                   INSERT INTO a VALUES (1); INSERT INTO missing VALUES (1);\nEND $$;\n";
    let nested = "DO LANGUAGE plpgsql $body$\nBEGIN\n  BEGIN\n    PERFORM 1 / 0;\n  \
                  EXCEPTION WHEN unique_violation THEN NULL;\n  END;\nEND $body$;\n";
    let quoted = "SELECT 1;\nDO '\nBEGIN\n  RAISE EXCEPTION $m$quoted$m$;\nEND';\n";
    let escaped = "SELECT 1;\nDO E'\n\\n\nBEGIN\n  RAISE EXCEPTION ''escaped'';\nEND';\n";
    let no_tx = "-- confiture:no-transaction\nDO $$\nBEGIN\n  RAISE EXCEPTION 'no tx';\nEND $$;\n";
    let dynamic = "DO $$\nBEGIN\n  EXECUTE 'SELECT nosuchcol ' || 'FROM pg_class';\nEND $$;\n";
    // (case, SQL, where the error is, the block's line when that is elsewhere, arguments)
    type Case<'a> = (&'a str, &'a str, &'a str, Option<u32>, &'a [&'a str]);
    let cases: [Case<'_>; 8] = [
        ("raise", raise, ":7:3", Some(3), &[]),
        ("planned", planned, ":5:41", Some(2), &[]),
        (
            "planned_one_tx",
            planned,
            ":5:41",
            Some(2),
            &["--single-transaction"],
        ),
        ("nested", nested, ":4:5", Some(1), &[]),
        ("quoted", quoted, ":4:3", Some(2), &[]),
        ("escaped", escaped, ":2:1", None, &[]),
        ("no_tx", no_tx, ":4:3", Some(2), &[]),
        ("dynamic", dynamic, ":3:3", Some(1), &[]),
    ];
    for (case, sql, at, block, extra) in cases {
        let db = TestDb::new(&format!("do_line_{case}"));
        let project = Project::new();
        project
            .migration(
                "001_first",
                "CREATE TABLE first ();\n",
                "DROP TABLE first;\n",
            )
            .migration("002_do", sql, "SELECT 1;\n");
        let mut args = vec!["migrate", "up"];
        args.extend_from_slice(extra);
        let run = project.run_on(&db, &args);
        run.code(exit::MIGRATION_FAILED)
            .stderr_has("migration 002_do failed at ")
            .stderr_has(&format!("002_do.up.sql{at} "));
        match block {
            Some(line) => run.stderr_has(&format!("in the DO block at line {line})")),
            None => run.stderr_lacks("in the DO block"),
        };
    }
}

/// PL/pgSQL counts its body's lines by LF alone (`PL/pgSQL function inline_code_block line 1`
/// for a whole body written with lone CRs, proved here against the server), while the file's
/// lines end as `text::is_line_break` says (a LF, a CRLF once, a lone CR). A body line of the
/// server's that holds several of the file's lines with text on them is placed by the
/// statement the context names: the one statement of its kind (`at RAISE`) starting on that
/// line, else the one whose text the context quotes (`SQL statement "..."`); the block's line
/// when neither tells, never a wrong one (a lone-CR file was blamed on the block's first line
/// throughout). The server's position in a statement's text still places it; a CRLF file
/// counts alike both ways.
#[test]
fn an_error_inside_a_do_block_of_a_file_with_cr_line_endings_names_its_line() {
    let lf_raise =
        "CREATE TABLE a (id int);\n\nDO $$\nDECLARE x int := 1;\nBEGIN\n  PERFORM 1;\n  \
                    RAISE EXCEPTION 'boom %', x;\nEND $$;\n";
    let cr_raise = lf_raise.replace('\n', "\r");
    let crlf_raise = lf_raise.replace('\n', "\r\n");
    let cr_planned =
        "DO $$\rBEGIN\r  CREATE TABLE a (id int);\r  INSERT INTO missing VALUES (1);\rEND \
                      $$;\r";
    // Lone CRs inside one of the server's lines: two of the file's lines with text on it.
    let mixed = "SELECT 1;\nDO $$\nBEGIN\r  RAISE EXCEPTION 'mixed';\nEND $$;\n";
    // Only blank lines of the file before the statement on the server's line: it is placed.
    let blank_crs = "DO $$\nBEGIN\n\r\r  RAISE EXCEPTION 'after blanks';\nEND $$;\n";
    // A statement the server ran as SQL, named by its text in the context.
    let cr_sql =
        "CREATE TABLE a (id int);\rDO $$\rBEGIN\r  PERFORM 1;\r  INSERT INTO a\r  SELECT 1/0;\rEND $$;\r";
    let cr_perform = "DO $$\rBEGIN\r  PERFORM 1;\r  PERFORM 1/0;\rEND $$;\r";
    // Two statements of the kind the context names, neither named by its text: unknown.
    let cr_two = "DO $$\rBEGIN\r  RAISE EXCEPTION 'a';\r  RAISE EXCEPTION 'b';\rEND $$;\r";
    // (case, SQL, where the error is, the block's line when that is elsewhere)
    let cases: [(&str, &str, &str, Option<u32>); 8] = [
        ("cr_raise", &cr_raise, ":7:3", Some(3)),
        ("crlf_raise", &crlf_raise, ":7:3", Some(3)),
        ("cr_planned", cr_planned, ":4:15", Some(1)),
        ("mixed", mixed, ":4:3", Some(2)),
        ("blank_crs", blank_crs, ":5:3", Some(1)),
        ("cr_sql", cr_sql, ":5:3", Some(2)),
        ("cr_perform", cr_perform, ":4:3", Some(1)),
        ("cr_two", cr_two, ":1:1", None),
    ];
    for (case, sql, at, block) in cases {
        let db = TestDb::new(&format!("do_cr_line_{case}"));
        let project = Project::new();
        project.migration("001_do", sql, "SELECT 1;\n");
        let run = project.run_on(&db, &["migrate", "up"]);
        run.code(exit::MIGRATION_FAILED)
            .stderr_has("migration 001_do failed at ")
            .stderr_has(&format!("001_do.up.sql{at} "));
        match block {
            Some(line) => run.stderr_has(&format!("in the DO block at line {line})")),
            None => run.stderr_lacks("in the DO block"),
        };
        if case == "cr_raise" {
            run.stderr_has("inline_code_block line 1 ");
        }
    }
}

/// A `CREATE FUNCTION ... LANGUAGE plpgsql` whose body does not compile: the server validates
/// the body as it creates the function and gives the error's position in the `CREATE`
/// statement's text (the body's, transposed), which names the file line inside the body, for
/// a `$$`, a `$tag$` and a `'...'` body, in LF, CRLF and lone-CR files alike.
#[test]
fn a_function_body_that_does_not_compile_names_its_line() {
    let dollar = "SELECT 1;\nCREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  \
                  PERFORM 1;\n  RETRN 1;\nEND $$;\n";
    let tagged = "SELECT 1;\nCREATE FUNCTION f() RETURNS int AS $body$\nDECLARE\n  y int;\n  \
                  x nosuchtype;\nBEGIN\n  RETURN 1;\nEND $body$ LANGUAGE plpgsql;\n";
    let quoted = "SELECT 1;\nCREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS '\nBEGIN\n  \
                  PERFORM ''a'';\n  RETRN 1;\nEND';\n";
    let cr = dollar.replace('\n', "\r");
    let crlf = dollar.replace('\n', "\r\n");
    let cases: [(&str, &str, &str); 5] = [
        ("dollar", dollar, ":5:3"),
        ("tagged", tagged, ":5:5"),
        ("quoted", quoted, ":5:3"),
        ("cr", &cr, ":5:3"),
        ("crlf", &crlf, ":5:3"),
    ];
    for (case, sql, at) in cases {
        let db = TestDb::new(&format!("fn_compile_{case}"));
        let project = Project::new();
        project.migration("001_fn", sql, "SELECT 1;\n");
        project
            .run_on(&db, &["migrate", "up"])
            .code(exit::MIGRATION_FAILED)
            .stderr_has("migration 001_fn failed at ")
            .stderr_has(&format!("001_fn.up.sql{at}:"));
    }
}

/// A migration of `rows` one-line `INSERT`s into `t` after a `CREATE TABLE t`, with a
/// `CREATE FUNCTION` whose dollar-quoted body (with `;` in it) runs across many lines in the
/// middle: far more text than one message carries once statement markers are in it, so it is
/// sent as several. Statement `k` (1-based) of the inserts is on line `k + 1` before the
/// function and `k + 1 + FUNCTION_LINES` after it.
fn long_migration(rows: usize) -> String {
    let mut sql = String::from("CREATE TABLE t (id int PRIMARY KEY, v text);\n");
    for i in 1..=rows {
        sql.push_str(&format!(
            "INSERT INTO t VALUES ({i}, 'a value of row {i}, padded to look like real data');\n"
        ));
        if i == rows / 2 {
            sql.push_str(&long_function());
        }
    }
    sql
}

/// The lines of [`long_function`].
const FUNCTION_LINES: usize = 2_002;

/// A function whose body (about 70 KiB, larger than a message's budget) is one statement.
fn long_function() -> String {
    let mut body =
        String::from("CREATE FUNCTION long_one() RETURNS int LANGUAGE plpgsql AS $body$\nBEGIN\n");
    for i in 0..FUNCTION_LINES - 4 {
        body.push_str(&format!(
            "  PERFORM 'line {i}; not a statement of the file';\n"
        ));
    }
    body.push_str("  RETURN 1;\nEND $body$;\n");
    body
}

/// A long transactional migration carries a statement marker after each statement and is sent
/// in bounded messages inside its one transaction (it used to be one message, whose markers
/// cost `markers x size`: quadratic, minutes for 40,000 `INSERT`s). Every statement runs, a
/// dollar-quoted body is never cut, a file with a backslash in an E-string (read alike whatever
/// `standard_conforming_strings` is: it keeps its markers)
/// runs as before, and a failure late in the file — at run time (a duplicate key, located by
/// the markers) or at parse time (located by the server's position in a later message) — rolls
/// the whole migration back and names its file and line, batched or in one transaction. A
/// syntax error in the next migration leaves the long one committed, run once.
#[test]
fn a_long_migration_is_sent_in_bounded_messages_and_stays_one_transaction() {
    const ROWS: usize = 6_000;
    let db = TestDb::new("long_ok");
    let project = Project::new();
    let e_string = format!(
        "{}INSERT INTO e VALUES (E'it\\'s; \\\\ here');\n",
        "CREATE TABLE e (v text);\n".to_string()
            + &"INSERT INTO e VALUES ('plain; text');\n".repeat(3_000)
    );
    // What the server was sent at once, seen from the end of the migration: the size of the
    // message it is in (`current_query()`), against the file's.
    let long = long_migration(ROWS)
        + "CREATE TABLE seen AS SELECT octet_length(pg_catalog.current_query()) AS bytes;\n";
    assert!(long.len() > 400 * 1024);
    project
        .migration(
            "002_long",
            &long,
            "DROP TABLE t; DROP FUNCTION long_one();\n",
        )
        .migration("001_e", &e_string, "DROP TABLE e;\n");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let mut client = db.connect();
    let row = client
        .query_one("SELECT count(*), max(id), long_one() FROM t", &[])
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), ROWS as i64);
    assert_eq!(row.get::<_, i32>(1), ROWS as i32);
    assert_eq!(row.get::<_, i32>(2), 1);
    let escaped: i64 = client
        .query_one("SELECT count(*) FROM e WHERE v = E'it\\'s; \\\\ here'", &[])
        .unwrap()
        .get(0);
    assert_eq!(escaped, 1);
    let seen: i32 = client
        .query_one("SELECT bytes FROM seen", &[])
        .unwrap()
        .get(0);
    assert!(
        seen < 128 * 1024,
        "a message of {seen} bytes: the file was sent whole"
    );

    // Statement `k` of the inserts, after the function, is on line `k + 1 + FUNCTION_LINES`.
    let late = ROWS - 5;
    let late_line = late + 1 + FUNCTION_LINES;
    let duplicate = long_migration(ROWS).replacen(
        &format!("INSERT INTO t VALUES ({late}, "),
        "INSERT INTO t VALUES (7, ",
        1,
    );
    let typo = long_migration(ROWS).replacen(
        &format!("INSERT INTO t VALUES ({late}, "),
        &format!("INSERT INTO t VALUES ({late}, nosuchcol, "),
        1,
    );
    // The column of `nosuchcol` on its line.
    let column = format!("INSERT INTO t VALUES ({late}, ").len() + 1;
    for (case, sql, blamed, says) in [
        (
            "dup",
            &duplicate,
            format!("002_long.up.sql:{late_line}:1"),
            "duplicate key",
        ),
        (
            "typo",
            &typo,
            format!("002_long.up.sql:{late_line}:{column}"),
            "nosuchcol",
        ),
    ] {
        for extra in [&[][..], &["--single-transaction"][..]] {
            let db = TestDb::new(&format!("long_{case}"));
            let project = Project::new();
            project
                .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
                .migration("002_long", sql, "DROP TABLE t;\n")
                .migration(
                    "003_after",
                    "CREATE TABLE after (id int);\n",
                    "DROP TABLE after;\n",
                );
            let mut args = vec!["migrate", "up"];
            args.extend_from_slice(extra);
            project
                .run_on(&db, &args)
                .code(exit::MIGRATION_FAILED)
                .stderr_has("migration 002_long failed at")
                .stderr_has(&blamed)
                .stderr_has(says)
                .stderr_lacks("tracking table");
            assert!(
                !db.has_relation("t"),
                "{case} {extra:?}: nothing of 002 remains"
            );
            let function: bool = db
                .connect()
                .query_one("SELECT to_regproc('long_one') IS NOT NULL", &[])
                .unwrap()
                .get(0);
            assert!(!function, "{case} {extra:?}: nothing of 002 remains");
            assert!(
                !db.has_relation("after"),
                "{case} {extra:?}: the run stopped at 002"
            );
            let recorded = db.ledger().unwrap_or_default();
            if extra.is_empty() {
                assert_eq!(recorded, ["001:a"], "{case}: 001 committed on its own");
                assert!(db.has_relation("a"), "{case}");
            } else {
                assert!(
                    recorded.is_empty(),
                    "{case}: one transaction, all rolled back"
                );
                assert!(!db.has_relation("a"), "{case}");
            }
        }
    }

    // A syntax error in the migration after a long one sent with it: the long one committed,
    // and ran once (its parts are never sent again with the culprit's message).
    let db = TestDb::new("long_next");
    let project = Project::new();
    project
        .migration("001_s", "CREATE SEQUENCE s;\n", "DROP SEQUENCE s;\n")
        .migration(
            "002_long",
            &("SELECT pg_catalog.nextval('s');\n".to_string() + &long_migration(ROWS)),
            "DROP TABLE t;\n",
        )
        .migration("003_bad", "CREAT TABLE x (id int);\n", "SELECT 1;\n");
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("migration 003_bad failed at")
        .stderr_has("003_bad.up.sql:1:1");
    assert_eq!(db.ledger().unwrap_or_default(), ["001:s", "002:long"]);
    let calls: i64 = db
        .connect()
        .query_one("SELECT last_value FROM s", &[])
        .unwrap()
        .get(0);
    assert_eq!(calls, 1, "002_long ran once");
}

/// The highest resident set (`VmHWM`, kB) of the running process `child`, polled from
/// `/proc` until it exits (the kernel keeps the peak; the last reading before the exit is
/// close to it, and a run that buffers is above the bound for seconds).
fn peak_rss_kb(child: &mut std::process::Child) -> u64 {
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
            peak = peak.max(hwm.unwrap_or(0));
        }
        if child.try_wait().expect("the CLI under test").is_some() {
            return peak;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The peak resident set ([`peak_rss_kb`]) of `project`'s `args` run on `db`, its output
/// discarded, which succeeds (`what` names it in the failure).
fn peak_rss_kb_of_success(project: &Project, db: &TestDb, args: &[&str], what: &str) -> u64 {
    let mut child = project
        .cli()
        .args(args)
        .args(["--database-url", &db.url()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run the CLI under test");
    let peak = peak_rss_kb(&mut child);
    assert_eq!(
        child.wait().unwrap().code(),
        Some(i32::from(exit::SUCCESS)),
        "{what}"
    );
    peak
}

/// The rows a migration's statements return are discarded as they arrive, never all kept in
/// the client: a data migration `SELECT`ing one row per row of a big table (`SELECT
/// backfill(id) FROM t`) runs in constant memory, batched with others, alone, rolling back,
/// and inside `--single-transaction`. It used to keep every row (~200 bytes each: 1.2 GB for 6
/// million), and the run ended killed for lack of memory.
#[test]
fn rows_a_migration_returns_are_not_kept_in_memory() {
    // ~400 MB when kept; the CLI itself needs a few tens.
    const BOUND_KB: u64 = 150 * 1024;
    let rows = "SELECT g, 'some text' FROM generate_series(1, 2000000) AS g;\n";
    let project = Project::new();
    project
        .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration(
            "002_rows",
            &format!(
                "CREATE TABLE b (id int);\n{rows}INSERT INTO b VALUES (1) RETURNING id, 'x';\n"
            ),
            &format!("{rows}DROP TABLE b;\n"),
        )
        .migration("003_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n");
    for (name, args) in [
        ("rows_up", &["migrate", "up"][..]),
        (
            "rows_single",
            &["migrate", "up", "--single-transaction"][..],
        ),
    ] {
        let db = TestDb::new(name);
        let peak = peak_rss_kb_of_success(&project, &db, args, name);
        assert!(peak < BOUND_KB, "{name}: peak resident set {peak} kB");
        assert_eq!(
            db.ledger(),
            versions(&["001:a", "002:rows", "003:c"]),
            "{name}"
        );
        assert_eq!(
            db.value("SELECT count(*)::text FROM b").as_deref(),
            Some("1")
        );

        let down = ["migrate", "down", "--steps", "2", "--yes"];
        let peak = peak_rss_kb_of_success(&project, &db, &down, &format!("{name} down"));
        assert!(peak < BOUND_KB, "{name} down: peak resident set {peak} kB");
        assert_eq!(db.ledger(), versions(&["001:a"]), "{name} down");
    }
}

/// Sets the session's `client_encoding` to LATIN1 through a function whose `'...'` body lint
/// does not read as SQL (`UPDATE pg_settings`, the other way to set a setting).
const TO_LATIN1: &str = "CREATE FUNCTION change_it() RETURNS void LANGUAGE sql AS \
    'UPDATE pg_settings SET setting = ''LATIN1'' WHERE name = ''client_encoding''';\n";

/// A migration that changes the session's `client_encoding` while it runs, where lint cannot
/// see it, fails before it commits when the rest of it (longer than one message) would be read
/// by the server in that encoding: rolled back, exit 4, naming the setting; batched, alone
/// and inside `--single-transaction`. It used to commit with exit 0 and its non-ASCII text
/// stored garbled (`café` as `cafÃ©`).
#[test]
fn a_migration_that_changes_client_encoding_is_rolled_back() {
    setting_changed_where_lint_cannot_see_it(
        "enc",
        TO_LATIN1,
        "INSERT INTO t VALUES (-1, 'café');\n",
        "INSERT INTO t VALUES (-1, 'café');\n",
        "client_encoding to LATIN1",
    );
}

/// Turns the session's `standard_conforming_strings` off through a function whose body lint
/// does not read as SQL.
const STRINGS_OFF: &str = "CREATE FUNCTION change_it() RETURNS void LANGUAGE plpgsql AS \
    $$ BEGIN PERFORM set_config('standard_conforming_strings', 'off', false); END $$;\n";

/// A migration that turns the session's `standard_conforming_strings` off while it runs, where
/// lint cannot see it, fails before the server reads more of it with backslashes in `'...'`
/// strings as escapes, as the encoding's change does. Without a transaction it used to commit
/// with exit 0, the next statement's `'a\b'` stored as `a` and a backspace, not as lint and
/// the dry run read it; longer than one message, it failed on the server's "unsafe use of
/// string constant with Unicode escapes" for a `U&'...'` string in a later message (a file
/// with a backslash in a plain `'...'` string is never cut into messages: `markers::pieces`).
#[test]
fn a_migration_that_turns_standard_conforming_strings_off_is_rolled_back() {
    setting_changed_where_lint_cannot_see_it(
        "scs",
        STRINGS_OFF,
        "INSERT INTO t VALUES (-1, U&'caf\\00e9');\n",
        "INSERT INTO t VALUES (-1, 'a\\b');\n",
        "standard_conforming_strings to off",
    );
}

/// A migration `002_set` that calls `change_it()` (created by `function`, where lint cannot
/// see what it does), which changes how the server reads the SQL after it: longer than one
/// message and ending with `last_in_transaction`, batched and inside `--single-transaction`,
/// it fails before it commits, rolled back, exit 4, the message naming the setting and value
/// (`changed`); without a transaction, ending with `last_without`, the statements before stay
/// committed, the next is not sent, the failure is placed at the call and the start marker is
/// not advanced past it. Databases are prefixed `prefix`.
fn setting_changed_where_lint_cannot_see_it(
    prefix: &str,
    function: &str,
    last_in_transaction: &str,
    last_without: &str,
    changed: &str,
) {
    let project = changing_project(
        function,
        &format!("SELECT change_it();\n{}{last_in_transaction}", filler()),
        "DELETE FROM t;\n",
    );
    project.migration("003_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n");
    let changed = format!("migration 002_set changed the session's {changed}");
    for (name, args) in [
        ("up", &["migrate", "up", "--format", "json"][..]),
        (
            "single",
            &["migrate", "up", "--single-transaction", "--format", "json"][..],
        ),
    ] {
        let name = format!("{prefix}_{name}");
        let db = TestDb::new(&name);
        let (run, error) = failed_migration(&project, &db, args);
        let message = message(&error);
        assert!(message.starts_with(&changed), "{name}: {}", run.dump());
        let batched = name.ends_with("_up");
        let expected = if batched { versions(&["001:f"]) } else { None };
        assert_eq!(db.ledger().filter(|l| !l.is_empty()), expected, "{name}");
        assert_eq!(
            db.value("SELECT count(*)::text FROM pg_class WHERE relname = 'c'")
                .as_deref(),
            Some("0"),
            "{name}: 003 not attempted"
        );
        if batched {
            assert_eq!(error["not_attempted"], serde_json::json!(["003"]), "{name}");
            assert_eq!(
                db.value("SELECT count(*)::text FROM t").as_deref(),
                Some("0"),
                "{name}: rolled back"
            );
        }
    }

    // Without a transaction: the statements before stay committed, the next is not sent.
    project.write(
        "db/migrations/002_set.up.sql",
        format!(
            "-- confiture:no-transaction\nSELECT change_it();\n\
             CREATE INDEX CONCURRENTLY t_id ON t (id);\n{last_without}"
        ),
    );
    let db = TestDb::new(&format!("{prefix}_notx"));
    let (run, error) = failed_migration(&project, &db, &["migrate", "up", "--format", "json"]);
    assert!(message(&error).starts_with(&changed), "{}", run.dump());
    assert_eq!(error["line"], 2, "placed at the call: {}", run.dump());
    assert_eq!(db.ledger(), versions(&["001:f"]));
    assert_eq!(
        db.value("SELECT count(*)::text FROM t").as_deref(),
        Some("0"),
        "the INSERT was not sent"
    );
    // Its start marker was not advanced past statement 1 (read with the settings, in one
    // message): the run never said statement 2 was sent.
    assert_eq!(
        db.value("SELECT statement::text FROM tb_confiture_started")
            .as_deref(),
        Some("1"),
        "{}",
        run.dump()
    );
}

/// A transactional migration that changes how the session reads SQL where lint cannot see it
/// (`client_encoding`, `standard_conforming_strings`: [`TO_LATIN1`], [`STRINGS_OFF`]), longer
/// than one message, is caught before its next message: the failure names the statement that
/// did it when the message before carried no other of the migration (`file` and `line` in
/// JSON, the line in the message) — the statement of a later message than the first too,
/// going up and down; when that message carried several, no line (one would be a guess: the
/// server reports the change only at a message's end), and the failure says which
/// statements, and why no line. It used to say no line and no reason, whatever the message
/// carried.
#[test]
fn a_changed_reading_of_sql_is_placed_at_its_statement_or_says_why_not() {
    // One statement a message: each is past `MESSAGE_BUDGET` (64 KiB) on its own.
    let big = |what: &str| what.repeat(70 * 1024);
    for (prefix, function, setting) in [
        ("rplace_enc", TO_LATIN1, "client_encoding"),
        ("rplace_scs", STRINGS_OFF, "standard_conforming_strings"),
    ] {
        let alone = format!(
            "INSERT INTO t VALUES (0, '{}');\nSELECT change_it(), '{}';\n\
             INSERT INTO t VALUES (-1, 'after');\n",
            big("a"),
            big("b")
        );
        let changed = format!("changed the session's {setting}");
        // Going up (migration by migration, then in one transaction), then down (its up
        // harmless).
        for (direction, up, whole) in [
            ("up", alone.as_str(), false),
            ("up", alone.as_str(), true),
            ("down", "SELECT 1;\n", false),
        ] {
            let project = changing_project(function, up, &alone);
            let db = TestDb::new(&format!("{prefix}_{direction}"));
            if direction == "down" {
                project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
            }
            let mut args = vec!["migrate", direction, "--format", "json"];
            if whole {
                args.push("--single-transaction");
            }
            let (run, error) = failed_migration(&project, &db, &args);
            let message = message(&error);
            let what = format!("{prefix} {}", args[1..].join(" "));
            assert!(message.contains(&changed), "{what}: {}", run.dump());
            assert_eq!(
                error["line"],
                2,
                "{what}: placed at the call: {}",
                run.dump()
            );
            assert!(message.contains("at line 2"), "{what}: {}", run.dump());
            assert!(
                error["file"]
                    .as_str()
                    .unwrap_or_default()
                    .ends_with(&format!("002_set.{direction}.sql")),
                "{what}: {}",
                run.dump()
            );
        }
        // Several statements in the message before: no line, and why.
        let among = format!(
            "SELECT change_it();\n{}INSERT INTO t VALUES (-1, 'after');\n",
            filler()
        );
        let project = changing_project(function, &among, "SELECT 1;\n");
        let db = TestDb::new(&format!("{prefix}_among"));
        let (run, error) = failed_migration(&project, &db, &["migrate", "up", "--format", "json"]);
        assert!(error["line"].is_null(), "{prefix}: no line: {}", run.dump());
        let said = error.to_string();
        assert!(
            said.contains("002_set")
                && said.contains("lines 1 to ")
                && said.contains("only at the end of a message"),
            "{prefix}: which statements, and why no line: {}",
            run.dump()
        );
    }
}

/// A project whose `001_f` creates a table `t (id int, s text)` and `function` (a
/// `change_it()` that changes how the session reads SQL where lint cannot see it), and whose
/// `002_set` is `up` and `down`.
fn changing_project(function: &str, up: &str, down: &str) -> Project {
    let project = Project::new();
    project
        .migration(
            "001_f",
            &format!("CREATE TABLE t (id int, s text);\n{function}"),
            "DROP FUNCTION change_it();\nDROP TABLE t;\n",
        )
        .migration("002_set", up, down);
    project
}

/// 3,000 one-line `INSERT`s into `t`: a migration longer than one message (`MESSAGE_BUDGET`).
fn filler() -> String {
    (0..3000)
        .map(|i| format!("INSERT INTO t VALUES ({i}, 'filler {i}');\n"))
        .collect()
}

/// A migration's `RAISE WARNING` reaches the operator: a `warning:` line on stderr in table
/// output and the JSON report's `warnings`, naming the migration — batched, alone (no
/// transaction), inside `--single-transaction`, rolling back, and for a migration that fails
/// after it. `RAISE NOTICE` (and `DROP ... IF EXISTS` skipping) are not warnings. They used to
/// be dropped silently.
#[test]
fn a_migrations_warnings_reach_the_operator() {
    let warn = |what: &str| {
        format!(
            "DROP TABLE IF EXISTS nope;\nDO $$ BEGIN RAISE NOTICE 'hello notice'; \
             RAISE WARNING '{what}'; END $$;\n"
        )
    };
    let project = Project::new();
    project
        .migration(
            "001_n",
            &format!("{}CREATE TABLE n (id int);\n", warn("up warning")),
            &format!("{}DROP TABLE n;\n", warn("down warning")),
        )
        .migration(
            "002_i",
            &format!(
                "-- confiture:no-transaction\n{}CREATE INDEX CONCURRENTLY n_id ON n (id);\n",
                warn("no-transaction warning")
            ),
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY n_id;\n",
        );
    let db = TestDb::new("warn_up");
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::SUCCESS)
        .stderr_has("warning: WARNING from migration 001_n: up warning")
        .stderr_has("warning: WARNING from migration 002_i: no-transaction warning")
        .stderr_lacks("hello notice");
    let run = project.run_on(
        &db,
        &["migrate", "down", "--steps", "2", "--format", "json"],
    );
    run.code(exit::SUCCESS);
    assert_eq!(
        run.json()["warnings"],
        serde_json::json!(["WARNING from the rollback of migration 001_n: down warning"]),
        "{}",
        run.dump()
    );

    let single = TestDb::new("warn_single");
    let run = project.run_on(
        &single,
        &[
            "migrate",
            "up",
            "--target",
            "001",
            "--single-transaction",
            "--format",
            "json",
        ],
    );
    run.code(exit::SUCCESS);
    assert_eq!(
        run.json()["warnings"],
        serde_json::json!(["WARNING from migration 001_n: up warning"]),
        "{}",
        run.dump()
    );

    // A migration that warns, then fails: the warning is reported with the error.
    project.write(
        "db/migrations/002_i.up.sql",
        format!("{}SELECT 1 / 0;\n", warn("before the error")),
    );
    let failing = TestDb::new("warn_fail");
    let run = project.run_on(&failing, &["migrate", "up", "--format", "json"]);
    run.code(exit::MIGRATION_FAILED);
    let warnings = run.json()["warnings"].clone();
    assert!(
        warnings
            .as_array()
            .is_some_and(|w| w.contains(&serde_json::json!(
                "WARNING from migration 002_i: before the error"
            ))),
        "{}",
        run.dump()
    );
}

/// A migration whose server `WARNING` holds a newline, a tab and an escape sequence, in its
/// message, detail and hint: text from outside the program.
const FORGING_WARNING: &str = "DO $$ BEGIN RAISE WARNING USING MESSAGE = \
     E'careful\\nerror: forged\\n\\x1b[2Jcleared', DETAIL = E'two\\nlines', \
     HINT = E'a\\ttab'; END $$;\n";

/// How a `warning:` line shows [`FORGING_WARNING`]: on one line, each control character
/// escaped.
const FORGING_WARNING_SHOWN: &str =
    "careful\\nerror: forged\\n\\x1b[2Jcleared; DETAIL: two\\nlines; HINT: a\\ttab";

/// A server's `WARNING` cannot forge a line nor reach the terminal: its newlines made `migrate
/// up` and `down` print a fake `error:` line after the `warning:` one (`verify` and `drift`
/// escaped theirs). Every `warning:` line is one line, its control characters escaped
/// (`Output::warning`); the JSON report keeps the server's text as it was.
#[test]
fn a_server_warning_cannot_forge_a_line() {
    let project = Project::new();
    project.migration(
        "001_w",
        &format!("{FORGING_WARNING}CREATE TABLE w (id int);\n"),
        &format!("{FORGING_WARNING}DROP TABLE w;\n"),
    );
    let db = TestDb::new("warn_forge");
    let forged = |run: &Run| {
        for line in run.stderr.lines() {
            assert!(!line.starts_with("error:"), "a forged line\n{}", run.dump());
        }
        assert!(!run.stderr.contains('\x1b'), "{}", run.dump());
    };
    let up = project.run_on(&db, &["migrate", "up"]);
    up.code(exit::SUCCESS).stderr_has(&format!(
        "warning: WARNING from migration 001_w: {FORGING_WARNING_SHOWN}\n"
    ));
    forged(&up);
    let down = project.run_on(&db, &["migrate", "down"]);
    down.code(exit::SUCCESS).stderr_has(&format!(
        "warning: WARNING from the rollback of migration 001_w: {FORGING_WARNING_SHOWN}\n"
    ));
    forged(&down);
    let run = project.run_on(&db, &["migrate", "up", "--format", "json"]);
    run.code(exit::SUCCESS);
    assert_eq!(
        run.json()["warnings"][0],
        "WARNING from migration 001_w: careful\nerror: forged\n\x1b[2Jcleared; \
         DETAIL: two\nlines; HINT: a\ttab",
        "{}",
        run.dump()
    );
}

/// `up --single-transaction --dry-run` over a no-transaction migration previewed a full
/// apply ("would apply 2 migrations", exit 0, JSON `errors: []`) where the run refuses it (exit
/// 64) without touching the database. Every refusal the run makes of its plan is its dry run's
/// too: on a database with a ledger, without one, and through `--create-database` on a database
/// that exists (a missing one was already refused).
#[test]
fn a_single_transaction_dry_run_refuses_what_the_run_refuses() {
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.migration("002_b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
    project.migration(
        "003_s",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY i_a ON a (id);\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY i_a;\n",
    );
    project.migration("004_x", "CREATE TABLE x (id int);\n", "DROP TABLE x;\n");
    let fresh = TestDb::new("hdx_single_dry_fresh");
    let applied = TestDb::new("hdx_single_dry_applied");
    project
        .run_on(&applied, &["migrate", "up", "--target", "2"])
        .code(exit::SUCCESS);
    for (db, rows) in [(&fresh, None), (&applied, versions(&["001:a", "002:b"]))] {
        for extra in [&[][..], &["--create-database"][..]] {
            let args = |more: &[&'static str]| {
                let mut args = vec!["migrate", "up", "--single-transaction"];
                args.extend_from_slice(extra);
                args.extend_from_slice(more);
                args
            };
            let run = project.run_on(db, &args(&[]));
            run.code(exit::USAGE)
                .stderr_has("--single-transaction cannot include migration 003_s");
            let dry = project.run_on(db, &args(&["--dry-run"]));
            dry.code(exit::USAGE)
                .stderr_has("--single-transaction cannot include migration 003_s")
                .stderr_has(&confiture_tests::previewed(
                    &run.help_line(),
                    &args(&["--dry-run"]),
                ))
                .stdout_lacks("would apply");
            let json = project.run_on(db, &args(&["--dry-run", "--format", "json"]));
            json.code(exit::USAGE);
            let errors = &json.json()["errors"];
            assert_eq!(
                errors.as_array().map(Vec::len),
                Some(1),
                "{extra:?}: {}",
                json.dump()
            );
            assert_eq!(db.ledger(), rows, "{extra:?}: nothing ran");
        }
    }
}

/// h17 F8: `up --single-transaction` refused over a no-transaction migration said "apply it on
/// its own first (`migrate up --target VERSION` with the version just before it, then
/// `migrate up --steps 1`)": a placeholder to fill in, and commands without the flag or the
/// request's bound. Its help spells the real commands, each keeping the request's flags:
/// followed in order, they apply what was asked, and no more.
#[test]
fn a_single_transaction_refusal_spells_the_commands_that_apply_the_same_migrations() {
    let db = TestDb::new("hints_single");
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.migration(
        "002_nt",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY i_a ON a (id);\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY i_a;\n",
    );
    project.migration("003_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n");
    project.migration("004_d", "CREATE TABLE d (id int);\n", "DROP TABLE d;\n");
    let suggested = |help: &str| -> Vec<String> {
        help.split('`')
            .filter(|w| w.starts_with("cargo confiture "))
            .map(|w| format!("`{w}`"))
            .collect()
    };
    let run = project.run_on(
        &db,
        &[
            "migrate",
            "up",
            "--single-transaction",
            "--steps",
            "3",
            "--allow-destructive",
        ],
    );
    run.code(exit::USAGE)
        .stderr_has("--single-transaction cannot include migration 002_nt");
    let help = run.help_line();
    assert_eq!(
        help,
        "help: apply the migrations before it in one transaction (`cargo confiture migrate up \
         --target 001 --allow-destructive --single-transaction --database-url <URL>`), then \
         002_nt on its own (`cargo confiture migrate up --target 002 --allow-destructive \
         --database-url <URL>`), then the rest (`cargo confiture migrate up --target 003 \
         --allow-destructive --single-transaction --database-url <URL>`); or drop \
         --single-transaction: `cargo confiture migrate up --target 003 --allow-destructive \
         --database-url <URL>`"
    );
    assert_eq!(db.ledger(), None, "nothing ran");
    let commands = suggested(&help);
    for command in &commands[..3] {
        project
            .paste(&command.replace("<URL>", &db.url()))
            .code(exit::SUCCESS);
    }
    assert_eq!(
        db.ledger(),
        versions(&["001:a", "002:nt", "003:c"]),
        "004 was not asked for"
    );

    // The no-transaction migration first, and last, of an unbounded request: no such step.
    let db = TestDb::new("hints_single_first");
    project
        .run_on(&db, &["migrate", "up", "--target", "1"])
        .code(exit::SUCCESS);
    let run = project.run_on(&db, &["migrate", "up", "--single-transaction"]);
    run.code(exit::USAGE);
    assert_eq!(
        run.help_line(),
        "help: apply 002_nt on its own (`cargo confiture migrate up --target 002 --database-url \
         <URL>`), then the rest (`cargo confiture migrate up --single-transaction --database-url \
         <URL>`); or drop --single-transaction: `cargo confiture migrate up --database-url <URL>`"
    );
    let run = project.run_on(
        &db,
        &["migrate", "up", "--single-transaction", "--target", "2"],
    );
    run.code(exit::USAGE);
    assert_eq!(
        run.help_line(),
        "help: apply 002_nt on its own (`cargo confiture migrate up --target 002 --database-url \
         <URL>`); or drop --single-transaction: `cargo confiture migrate up --target 002 \
         --database-url <URL>`"
    );
}

/// A migration's own SQL failing with the SQLSTATE of one of the engine's checks of the ledger
/// (a `jsonpath` error: `2203A` for a member a `strict` path does not find, `22031` for a
/// `.datetime()` of a text that is none) was taken for that check when the markers could not
/// tell (a file of one statement, or one without markers): "its row in the tracking table was
/// not written: a trigger or rule ... suppressed it" or "deleted, updated or inserted rows of the
/// tracking table", the server's own message dropped. Every jsonpath error class of a data
/// migration — both of the checks' codes, a syntax error in a path, a bad regular expression —
/// in a file of one statement, of several, and one without markers (a backslash in a plain
/// string), in `up`, in
/// `--single-transaction`, and in `down`, is the migration's failure (exit 4, its SQLSTATE and
/// message, the file's line); the checks still fire for what they are for (`RowsChanged`).
#[test]
fn a_migrations_jsonpath_error_is_never_taken_for_the_ledgers_check() {
    let failing = [
        ("2203A", "SELECT jsonb_path_query('{}', 'strict $.a');"),
        (
            "22031",
            "SELECT jsonb_path_query_first('\"x\"', '$.datetime()');",
        ),
        ("42601", "SELECT 'abc ?? def'::jsonpath;"),
        ("2201B", "SELECT '$.a ? (@ like_regex \"[\")'::jsonpath;"),
    ];
    for (sqlstate, statement) in failing {
        for (shape, body) in [
            ("one statement", format!("{statement}\n")),
            (
                "several",
                format!("CREATE TABLE t2 (a int);\n{statement}\n"),
            ),
            (
                "no markers",
                format!("CREATE TABLE t2 (a text DEFAULT '\\\\x');\n{statement}\n"),
            ),
        ] {
            for how in [&[][..], &["--single-transaction"][..], &["down"][..]] {
                let db = TestDb::new("jsonpath_blame");
                let project = Project::new();
                project.migration(
                    "001_create_t1",
                    "CREATE TABLE t1 (a int);\n",
                    "DROP TABLE t1;\n",
                );
                let down = how == ["down"];
                if down {
                    project.migration("002_data", "SELECT 1;\n", &body);
                } else {
                    project.migration("002_data", &body, "SELECT 1;\n");
                }
                let what = format!("{sqlstate} {shape} {how:?}");
                let run = if down {
                    project
                        .run_on(&db, &["migrate", "up", "-q"])
                        .code(exit::SUCCESS);
                    project.run_on(&db, &["migrate", "down", "--format", "json"])
                } else {
                    let mut args = vec!["migrate", "up", "--format", "json"];
                    args.extend(how);
                    project.run_on(&db, &args)
                };
                run.code(exit::MIGRATION_FAILED);
                let doc = run.json();
                let error = &doc["errors"][0];
                assert_eq!(error["kind"], "migration_failed", "{what}: {}", run.dump());
                assert_eq!(error["sqlstate"], sqlstate, "{what}: {}", run.dump());
                // The file's statement when the markers tell it (none without markers).
                let file = format!(
                    "db/migrations/002_data.{}.sql",
                    if down { "down" } else { "up" }
                );
                if shape != "no markers" {
                    assert_eq!(error["file"], file.as_str(), "{what}: {}", run.dump());
                }
                let message = message(error);
                assert!(
                    message.contains(&file)
                        && message.contains(error["server_message"].as_str().unwrap_or("?"))
                        && !message.contains("tracking table"),
                    "{what}: {}",
                    run.dump()
                );
            }
        }
    }
    // The checks themselves still fire, each known as such: a migration that deletes the
    // ledger's rows (through a function lint does not read), one that suppresses its own row
    // (a trigger it creates on the tracking table, named where lint does not read it).
    let checks = [
        (
            "CREATE FUNCTION wipe() RETURNS void LANGUAGE plpgsql AS 'BEGIN EXECUTE \
             ''DELETE FROM '' || ''tb_confiture''; END';\nSELECT wipe();\n",
            exit::MIGRATION_FAILED,
            "migration 002_check deleted, updated or inserted rows of the tracking table",
        ),
        (
            "CREATE FUNCTION skip() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; \
             END';\nCREATE FUNCTION mute() RETURNS void LANGUAGE plpgsql AS 'BEGIN EXECUTE \
             ''CREATE TRIGGER mute BEFORE INSERT ON '' || ''tb_confiture'' || '' FOR EACH ROW \
             EXECUTE FUNCTION skip()''; END';\nSELECT mute();\n",
            exit::INVALID,
            "its row in the tracking table public.tb_confiture was not written as sent: a \
             trigger or rule on the table suppressed or changed it",
        ),
    ];
    for (body, code, says) in checks {
        let db = TestDb::new("jsonpath_blame_check");
        let project = Project::new();
        project
            .migration(
                "001_create_t1",
                "CREATE TABLE t1 (a int);\n",
                "DROP TABLE t1;\n",
            )
            .migration("002_check", body, "SELECT 1;\n");
        project
            .run_on(&db, &["migrate", "up"])
            .code(code)
            .stderr_has(says);
    }
}

/// A login role on the shared server that owns a test database's `public` schema: row-level
/// security applies to the tables it owns once forced (a superuser bypasses it). Dropped after
/// the databases handed over before it (declare it before them).
struct Owner(DropRoleLater);

impl Owner {
    fn new() -> Owner {
        let name = confiture_tests::unique("engine_owner");
        confiture_tests::admin()
            .batch_execute(&format!("CREATE ROLE \"{name}\" LOGIN"))
            .expect("create the role");
        Owner(DropRoleLater(name))
    }

    /// `db` handed over to the role (database and `public` schema), and its URL as the role.
    fn owning(&self, db: &TestDb) -> String {
        let name = &self.0 .0;
        confiture_tests::admin()
            .batch_execute(&format!(
                "ALTER DATABASE \"{}\" OWNER TO \"{name}\"",
                db.name
            ))
            .expect("hand the database over");
        db.connect()
            .batch_execute(&format!("ALTER SCHEMA public OWNER TO \"{name}\""))
            .expect("hand the schema over");
        confiture_tests::server().url_as(name, None, &db.name)
    }
}

/// h18 F3: a migration that turns on row-level security for the tracking table (`ENABLE` and
/// `FORCE` in a loop over every table) or takes the role's `INSERT` on it away made our row's
/// `INSERT` fail, and that was blamed on the file's statement (exit 4, "lacks a privilege
/// this statement needs"). Now the run checks, just before each row, that the role may still
/// write the ledger, and names what the migration did (exit 5, the ledger's) — batched with
/// others, inside `--single-transaction`, without a transaction, and rolling back.
#[test]
fn a_migration_that_puts_the_ledger_out_of_reach_is_named_exit_5() {
    let force_rls = "DO $$ DECLARE r record; BEGIN\n  FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP\n    \
         EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', r.tablename);\n    \
         EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', r.tablename);\n  END LOOP;\nEND $$;\n";
    let revoke = |what: &str| {
        format!("DO $$ BEGIN EXECUTE 'REVOKE {what} ON public.tb_' || 'confiture FROM CURRENT_USER'; END $$;\n")
    };
    let owner = Owner::new();
    let cases: Vec<(&str, String, &str, &[&str], &str)> = vec![
        // (how, 002's up or down, direction, extra flags, what is said)
        (
            "rls batched",
            force_rls.to_string(),
            "up",
            &[],
            "turned on row-level security for",
        ),
        (
            "rls single",
            force_rls.to_string(),
            "up",
            &["--single-transaction"],
            "turned on row-level security for",
        ),
        (
            "revoke two statements",
            format!("{}CREATE TABLE t2 (x int);\n", revoke("INSERT")),
            "up",
            &[],
            "took away a privilege the connecting role needs on",
        ),
        (
            "revoke no-transaction",
            format!("-- confiture:no-transaction\n{}", revoke("INSERT")),
            "up",
            &[],
            "took away a privilege the connecting role needs on",
        ),
        (
            "rls down",
            force_rls.to_string(),
            "down",
            &[],
            "turned on row-level security for",
        ),
        (
            "revoke down",
            revoke("DELETE"),
            "down",
            &[],
            "took away a privilege the connecting role needs on",
        ),
    ];
    for (how, sql, direction, flags, said) in cases {
        let db = TestDb::new("ledger_reach");
        let url = owner.owning(&db);
        let project = Project::new();
        let (up, down) = if direction == "up" {
            (sql.as_str(), "SELECT 1;\n")
        } else {
            ("CREATE TABLE b (id int);\n", sql.as_str())
        };
        project
            .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
            .migration("002_evil", up, down)
            .migration("003_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n");
        let run = |args: &[&str]| {
            confiture_tests::Run::of(
                project
                    .cli()
                    .args(args)
                    .args(flags)
                    .args(["--database-url", &url]),
            )
        };
        if direction == "down" {
            run(&["migrate", "up"]).code(exit::SUCCESS);
        }
        let failed = if direction == "up" {
            run(&["migrate", "up"])
        } else {
            run(&["migrate", "down", "--steps", "2"])
        };
        failed
            .code(exit::INVALID)
            .stderr_has(&format!("{said} the tracking table public.tb_confiture"))
            .stderr_has("keep public.tb_confiture out of")
            .stderr_lacks("lacks a privilege")
            .stderr_lacks("SQLSTATE 42501");
        assert!(
            failed.stderr.contains("002_evil"),
            "{how}: {}",
            failed.dump()
        );
        let expected: &[&str] = match (direction, flags.is_empty()) {
            ("up", true) => &["001:a"],
            ("up", false) => &[],
            _ => &["001:a", "002:evil"],
        };
        assert_eq!(db.ledger(), versions(expected), "{how}: {}", failed.dump());
        assert!(!db.has_relation("c") || direction == "down", "{how}");
    }
}

/// Hides a statement from lint (which refuses a migration naming the tracking table): run
/// through `EXECUTE` of a string built at run time.
fn hidden(sql: &str) -> String {
    let (head, tail) = sql.split_at(sql.len() / 2);
    format!(
        "DO $$ BEGIN EXECUTE '{}' || '{}'; END $$;\n",
        head.replace('\'', "''"),
        tail.replace('\'', "''")
    )
}

/// A migration that renamed the tracking table, moved it to another schema or renamed its
/// schema was said to have "dropped the tracking table". The run now tells them apart by the
/// table's OID, read where the migration began and checked just before its row: it names what
/// the migration did and where the table is now, says the migration was rolled back (the move
/// with it) and how to move the ledger on purpose (`migration.tracking_table` naming the new
/// place) — batched with others, inside `--single-transaction`, and rolling back. A drop is
/// still a drop. The ledger's failure (exit 5), the table back where it was.
#[test]
fn a_migration_that_renames_or_moves_the_ledger_says_so_not_dropped() {
    let cases: [(&str, String, &[&str], &str); 4] = [
        (
            "rename_schema",
            "ALTER SCHEMA public RENAME TO old_public;\n".to_string(),
            &[
                "renamed the schema of the tracking table public.tb_confiture (`ALTER SCHEMA \
               public RENAME TO old_public`): the table is old_public.tb_confiture now",
            ],
            "old_public.tb_confiture",
        ),
        (
            "rename_table",
            hidden("ALTER TABLE tb_confiture RENAME TO tb_old"),
            &["renamed the tracking table public.tb_confiture to public.tb_old"],
            "public.tb_old",
        ),
        (
            "set_schema",
            format!(
                "CREATE SCHEMA archive;\n{}",
                hidden("ALTER TABLE tb_confiture SET SCHEMA archive")
            ),
            &[
                "moved the tracking table public.tb_confiture to the schema archive (`ALTER \
               TABLE ... SET SCHEMA`): it is archive.tb_confiture now",
            ],
            "archive.tb_confiture",
        ),
        (
            "both",
            format!(
                "CREATE SCHEMA archive;\n{}{}",
                hidden("ALTER TABLE tb_confiture SET SCHEMA archive"),
                hidden("ALTER TABLE archive.tb_confiture RENAME TO kept")
            ),
            &["renamed and moved the tracking table public.tb_confiture: it is archive.kept now"],
            "archive.kept",
        ),
    ];
    for (name, sql, says, now) in &cases {
        for flags in [&[][..], &["--single-transaction"]] {
            let db = TestDb::new("engine_moved");
            let project = Project::new();
            project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
            project.migration(&format!("002_{name}"), sql, "SELECT 1;\n");
            let run = project.run_on(&db, &[&["migrate", "up"][..], flags].concat());
            run.code(exit::INVALID)
                .stderr_lacks("dropped the tracking table");
            for said in *says {
                run.stderr_has(&format!(
                    "migration 002_{name} {said}: its row could not be written"
                ));
            }
            run.stderr_has(&format!(
                "the migration's transaction was rolled back, the move with it: \
                 public.tb_confiture is where it was, and nothing of 002_{name} is applied"
            ))
            .stderr_has(&format!(
                "to move the ledger on purpose, move it outside a migration, then set \
                 `migration.tracking_table` to {now}"
            ));
            let applied: &[&str] = if flags.is_empty() { &["001:a"] } else { &[] };
            assert_eq!(db.ledger(), versions(applied), "{name} {flags:?}");
        }
        // Going down: the rollback of the migration did it.
        let db = TestDb::new("engine_moved_down");
        let project = Project::new();
        project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
        project.migration(&format!("002_{name}"), "SELECT 1;\n", sql);
        project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
        let run = project.run_on(&db, &["migrate", "down"]);
        run.code(exit::INVALID)
            .stderr_lacks("dropped the tracking table");
        for said in *says {
            run.stderr_has(&format!(
                "the rollback of migration 002_{name} {said}: its row could not be deleted"
            ));
        }
        run.stderr_has(&format!(
            "the move with it: public.tb_confiture is where it was, and 002_{name} is still \
             applied"
        ));
        assert_eq!(db.ledger(), versions(&["001:a", &format!("002:{name}")]));
    }
    // Without a transaction, the move is committed with the statements: the help gives the
    // table back its name, then records the migration without running it again.
    let db = TestDb::new("engine_moved_nt");
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.migration(
        "002_nt",
        &format!(
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a_i ON a (id);\n{}",
            hidden("ALTER TABLE tb_confiture RENAME TO tb_old")
        ),
        "DROP INDEX a_i;\n",
    );
    let run = project.run_on(&db, &["migrate", "up"]);
    run.code(exit::INVALID)
        .stderr_lacks("dropped the tracking table")
        .stderr_has(
            "migration 002_nt renamed the tracking table public.tb_confiture to public.tb_old: \
             its row could not be written",
        )
        .stderr_has(
            "its statements committed (it runs without a transaction), the move too: give the \
             tracking table back its name first (ALTER TABLE \"public\".\"tb_old\" RENAME TO \
             tb_confiture;)",
        )
        .stderr_has("`cargo confiture migrate baseline --through 002 --yes --database-url <URL>`");
    db.connect()
        .batch_execute("ALTER TABLE \"public\".\"tb_old\" RENAME TO tb_confiture;")
        .expect("give the ledger back its name, as the help says");
    // Recorded over its run's start marker, as the help says: with `--yes`.
    project
        .run_on(&db, &["migrate", "baseline", "--through", "2", "--yes"])
        .code(exit::SUCCESS);
    assert_eq!(db.ledger(), versions(&["001:a", "002:nt"]));

    // A drop is still named a drop.
    let db = TestDb::new("engine_dropped");
    let project = Project::new();
    project.migration("001_a", &hidden("DROP TABLE tb_confiture"), "SELECT 1;\n");
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::INVALID)
        .stderr_has("migration 001_a dropped the tracking table public.tb_confiture");
}

/// The CLI run with `args` on `db` while the test holds advisory lock `gate`, which a migration
/// waits for (`SELECT pg_advisory_xact_lock(gate)`): once it waits, `sql` is run from another
/// session, then the gate opened and the run awaited.
fn run_gated(project: &Project, db: &TestDb, args: &[&str], gate: i64, sql: &str) -> Run {
    let mut holder = db.connect();
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock({gate})"))
        .expect("hold the gate");
    let child = project.spawn_on(db, args);
    db.backend_waiting_on_advisory_lock();
    db.connect()
        .batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    holder
        .batch_execute(&format!("SELECT pg_advisory_unlock({gate})"))
        .expect("open the gate");
    Run::from_output(
        child.wait_with_output().expect("reap the runner"),
        std::time::Duration::ZERO,
    )
}

/// The `migrate baseline` that `run`'s help suggests (`what` says whose, in a failure), pasted
/// as printed, `<URL>` this `db`'s and `<VERSION>` `version` (when given): it succeeds. Returns
/// the suggested command.
fn paste_the_suggested_baseline(
    project: &Project,
    db: &TestDb,
    run: &Run,
    what: &str,
    version: Option<&str>,
) -> String {
    let suggested = confiture_tests::suggested(&run.stderr, "migrate baseline")
        .unwrap_or_else(|| panic!("{what}: a suggested baseline: {}", run.dump()));
    let mut command = suggested.replace("<URL>", &db.url());
    if let Some(version) = version {
        command = command.replace("<VERSION>", version);
    }
    let pasted = project.paste(&command);
    assert_eq!(
        pasted.code,
        i32::from(exit::SUCCESS),
        "{what}: {suggested}: {}",
        pasted.dump()
    );
    suggested
}

/// hrc: the help of a no-transaction migration whose committed statements deleted the tracking
/// table's rows said `migrate baseline --through <VERSION>`, built by hand: given the
/// migration's version (every statement of it committed, the newest in effect), it was refused
/// (exit 64) for recording over that run's start marker without `--yes`. Every suggested
/// baseline now takes its `--yes` from `plan::record_command`, given whether a marker of a run
/// left part-way stays: pasted, it records the migrations — after a drop of the ledger too.
#[test]
fn a_suggested_baseline_after_the_ledger_was_emptied_or_dropped_works_as_pasted() {
    for (how, sql, code, said) in [
        (
            "emptied",
            "DELETE FROM tb_confiture",
            exit::MIGRATION_FAILED,
            "migration 002_nt deleted, updated or inserted rows of the tracking table",
        ),
        (
            "dropped",
            "DROP TABLE tb_confiture",
            exit::INVALID,
            "the tracking table public.tb_confiture was dropped during statement 2 of 2 of \
             migration 002_nt",
        ),
    ] {
        let db = TestDb::new("engine_nt_ledger");
        let project = Project::new();
        project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
        project.migration(
            "002_nt",
            &format!(
                "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a_i ON a (id);\n{}",
                hidden(sql)
            ),
            "DROP INDEX a_i;\n",
        );
        let run = project.up_on(&db);
        run.code(code).stderr_has(said);
        paste_the_suggested_baseline(&project, &db, &run, how, Some("002"));
        assert_eq!(db.ledger(), versions(&["001:a", "002:nt"]), "{how}");
    }
}

/// hrc: `up`'s refusal of an out-of-order migration whose own run (`--allow-out-of-order`) was
/// left part-way suggested `migrate baseline --through 002`, built by hand: pasted, it was
/// refused (exit 64) for recording over that run's start marker. Its `--yes` is now the
/// baseline's own plan's answer (`plan::baseline_records_over_run`).
#[test]
fn the_out_of_order_baseline_over_a_run_left_part_way_works_as_pasted() {
    let db = TestDb::new("engine_ooo_marked");
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.migration("002_nt", "SELECT 1;\n", "SELECT 1;\n");
    project.migration("003_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n");
    project.up_on(&db).code(exit::SUCCESS);
    // Its row lost (a restore), 002 is pending below 003: out of order.
    db.connect()
        .batch_execute("DELETE FROM tb_confiture WHERE version = '002'")
        .expect("lose 002's row");
    project.migration(
        "002_nt",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a_i ON a (id);\nSELECT 1/0;\n",
        "DROP INDEX IF EXISTS a_i;\n",
    );
    project
        .run_on(&db, &["migrate", "up", "--allow-out-of-order"])
        .code(exit::MIGRATION_FAILED);
    let run = project.up_on(&db);
    run.code(exit::DIVERGED).stderr_has("out of order");
    paste_the_suggested_baseline(&project, &db, &run, "out of order", None);
    let mut ledger = db.ledger().expect("the ledger");
    ledger.sort();
    assert_eq!(ledger, ["001:a", "002:nt", "003:c"]);
}

/// The tracking table dropped by another session while a transactional migration runs was
/// reported as the migration's drop ("migration 002 dropped the tracking table ... keep it out
/// of what 002's file drops"). The migration's rollback gives back a table it dropped itself,
/// so a table still missing after it was another session's doing: said so, with the way to
/// record what is applied again (exit 5) — going up, inside `--single-transaction`, and down.
#[test]
fn the_ledger_dropped_by_another_session_is_not_blamed_on_the_migration() {
    let gate = "SELECT pg_advisory_xact_lock(731);\n";
    for (direction, flags) in [
        ("up", &[][..]),
        ("up", &["--single-transaction"][..]),
        ("down", &[][..]),
    ] {
        let db = TestDb::new("engine_other_drop");
        let project = Project::new();
        project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
        project.migration(
            "002_gated",
            &format!("CREATE TABLE c (id int);\n{gate}"),
            &format!("DROP TABLE c;\n{gate}"),
        );
        let first: &[&str] = match direction {
            "up" => &["migrate", "up", "--steps", "1"],
            _ => &["migrate", "up"],
        };
        project.run_on(&db, first).code(exit::SUCCESS);
        let args = [&["migrate", direction][..], flags].concat();
        let run = run_gated(&project, &db, &args, 731, "DROP TABLE tb_confiture");
        let (doing, row, through) = match direction {
            "up" => ("migration", "written", "001"),
            _ => ("the rollback of migration", "deleted", "002"),
        };
        run.code(exit::INVALID)
            .stderr_lacks("002_gated dropped the tracking table")
            .stderr_lacks("keep public.tb_confiture out of")
            .stderr_has(&format!(
                "another session dropped the tracking table public.tb_confiture while {doing} \
                 002_gated ran: its row could not be {row}"
            ))
            .stderr_has(&format!("migrate baseline --through {through}"));
    }
}

/// The tracking table dropped by another session while a no-transaction migration ran was
/// said to be the migration's doing ("migration 002_nt dropped the tracking table"). Its
/// statements commit one by one: no rollback tells the two apart, nor does anything the run
/// records (a drop by the statement and one by another session while it ran leave the same
/// catalog). The run now checks the table between statements, and says when it went and that
/// either may have dropped it — going up and down, the drop during statement 2 of 3.
#[test]
fn the_ledger_dropped_during_a_no_transaction_migration_is_not_blamed_on_it_alone() {
    let nt = |body: &str| {
        format!(
            "-- confiture:no-transaction\n-- confiture:allow(no-transaction-multiple-statements)\n{body}"
        )
    };
    for direction in ["up", "down"] {
        let db = TestDb::new("engine_notx_other_drop");
        let project = Project::new();
        project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
        project.migration(
            "002_nt",
            &nt(
                "CREATE INDEX CONCURRENTLY a_i1 ON a (id);\nSELECT pg_advisory_xact_lock(735);\n\
                 CREATE INDEX CONCURRENTLY a_i2 ON a (id);\n",
            ),
            &nt(
                "DROP INDEX CONCURRENTLY a_i2;\nSELECT pg_advisory_xact_lock(735);\n\
                 DROP INDEX CONCURRENTLY a_i1;\n",
            ),
        );
        let first: &[&str] = match direction {
            "up" => &["migrate", "up", "--steps", "1"],
            _ => &["migrate", "up"],
        };
        project.run_on(&db, first).code(exit::SUCCESS);
        let run = run_gated(
            &project,
            &db,
            &["migrate", direction],
            735,
            "DROP TABLE tb_confiture",
        );
        let doing = match direction {
            "up" => "migration",
            _ => "the rollback of migration",
        };
        run.code(exit::INVALID)
            .stderr_lacks("002_nt dropped the tracking table")
            .stderr_has(&format!(
                "the tracking table public.tb_confiture was dropped during statement 2 of 3 of \
                 {doing} 002_nt — by it or by another session"
            ))
            .stderr_has("or find the session that did it");
        let through = match direction {
            "up" => "002",
            _ => "001",
        };
        // The help's way on records what is in effect again, as pasted (its `--yes` is
        // `plan::record_command`'s: the run's start marker stays).
        let suggested = paste_the_suggested_baseline(&project, &db, &run, direction, None);
        assert!(
            suggested.contains(&format!("migrate baseline --through {through} ")),
            "{direction}: {suggested}"
        );
    }
}

/// The start markers' table dropped, or a run's marker deleted, by another session while a
/// no-transaction migration ran: the marker's advance before the next statement failed or
/// updated nothing, and the run went on silently — killed after that, the migration looked
/// `pending`, not interrupted. The run now stops before the next statement (exit 5), saying
/// what happened and what was committed. Stopped, it showed `pending` all the same, hiding what
/// committed: the run now makes its marker again as it stops, so `status` and `up` say it was
/// left part-way, and where.
#[test]
fn a_start_marker_gone_mid_run_stops_the_no_transaction_migration() {
    const BETWEEN: &str = "statements 1–2 committed; statement 3 of 3 never started";
    for (how, sql, said) in [
        (
            "dropped",
            "DROP TABLE tb_confiture_started",
            "its start marker is gone (the start markers' table public.tb_confiture_started was dropped)",
        ),
        (
            "deleted",
            "DELETE FROM tb_confiture_started",
            "its start marker is gone (its row in public.tb_confiture_started was deleted)",
        ),
    ] {
        let db = TestDb::new("engine_marker_gone");
        let project = Project::new();
        project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
        project.migration(
            "002_nt",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a_i1 ON a (id);\n\
             SELECT pg_advisory_xact_lock(732);\nCREATE INDEX CONCURRENTLY a_i2 ON a (id);\n",
            "DROP INDEX a_i1;\nDROP INDEX IF EXISTS a_i2;\n",
        );
        project
            .run_on(&db, &["migrate", "up", "--steps", "1"])
            .code(exit::SUCCESS);
        let run = run_gated(&project, &db, &["migrate", "up"], 732, sql);
        run.code(exit::INVALID)
            .stderr_has(&format!(
                "migration 002_nt stopped before statement 3 of 3: {said}"
            ))
            .stderr_has("statements 1–2 were committed");
        let built: i64 = db
            .connect()
            .query_one("SELECT count(*) FROM pg_class WHERE relname = 'a_i2'", &[])
            .expect("look for the last index")
            .get(0);
        assert_eq!(built, 0, "{how}: the statement after the marker's loss ran");
        // What ran is still known: the run made its marker again as it stopped, so the
        // migration is interrupted, not pending, and `up` refuses it until a person decides.
        run.stderr_has(
            "the run made its start marker again as it stopped: `cargo confiture migrate status \
             --database-url <URL>` shows 002_nt interrupted",
        )
        .stderr_has(
            "or find the session that did it; what it committed stays: undo it, or make its \
             statements safe to run twice (`IF NOT EXISTS`, `IF EXISTS`), then run `cargo \
             confiture migrate up --rerun-interrupted --database-url <URL>`",
        );
        project
            .status_on(&db)
            .code(exit::DIVERGED)
            .stdout_has("interrupted")
            .stdout_has(BETWEEN);
        let json = project.status_json_on(&db).code(exit::DIVERGED).json();
        let started = &json["migrations"][1]["started"];
        assert_eq!(json["migrations"][1]["status"], "interrupted", "{how}: {json}");
        assert_eq!(started["statement"], 2, "{how}: {json}");
        assert_eq!(started["stopped_after"], true, "{how}: {json}");
        project
            .up_on(&db)
            .code(exit::DIVERGED)
            .stderr_has("migration 002_nt was interrupted")
            .stderr_has(BETWEEN)
            .stderr_has("migrate baseline --through 002 --yes");
    }
}

/// A `--rerun-interrupted` whose start marker another session deleted mid-run made it again as
/// it stopped, but without what the run it replaced had committed (`earlier_committed`,
/// `earlier_unsure`): the marker made again said only what the rerun did, as if no earlier run
/// had committed anything. The marker made again is the same marker: what the earlier runs
/// committed is kept — the marker deleted, and its table dropped.
#[test]
fn a_marker_made_again_keeps_what_earlier_runs_committed() {
    const KEPT: &str = "an earlier run committed statement 1 of 3; run again, statements 1–2 \
                        committed; statement 3 of 3 never started";
    let nt = |second: &str| {
        format!(
            "-- confiture:no-transaction\n-- confiture:allow(no-transaction-multiple-statements)\n\
             CREATE INDEX CONCURRENTLY IF NOT EXISTS a_i1 ON a (id);\n{second}\n\
             CREATE INDEX CONCURRENTLY a_i2 ON a (id);\n"
        )
    };
    for sql in [
        "DELETE FROM tb_confiture_started",
        "DROP TABLE tb_confiture_started",
    ] {
        let db = TestDb::new("engine_marker_kept");
        let project = Project::new();
        project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
        project.migration("002_nt", &nt("SELECT 1 / 0;"), "DROP INDEX a_i1;\n");
        // The first run commits statement 1 and fails on statement 2.
        project
            .up_on(&db)
            .code(exit::MIGRATION_FAILED)
            .stderr_has("22012");
        project.write(
            "db/migrations/002_nt.up.sql",
            nt("SELECT pg_advisory_xact_lock(734);"),
        );
        run_gated(
            &project,
            &db,
            &["migrate", "up", "--rerun-interrupted"],
            734,
            sql,
        )
        .code(exit::INVALID)
        .stderr_has("the run made its start marker again as it stopped");
        project.status_on(&db).code(exit::DIVERGED).stdout_has(KEPT);
        let json = project.status_json_on(&db).code(exit::DIVERGED).json();
        let started = &json["migrations"][1]["started"];
        assert_eq!(started["earlier_committed"], 1, "{sql}: {json}");
        assert_eq!(started["stopped_after"], true, "{sql}: {json}");
        project.up_on(&db).code(exit::DIVERGED).stderr_has(KEPT);
    }
}

/// The engine's own check between two statements of a no-transaction migration (here the
/// migration lock, released by statement 2; before the row, the lock the row's message checks)
/// stopped the run after a statement the server answered: the marker said that statement "was
/// running: it may have committed" (or, advanced already, the next one), which the run never
/// sent. It now says where the run stopped: every statement up to it committed, the next
/// never started — in `status` (text and JSON `stopped_after`), `up`'s and `down`'s refusals.
/// A markers' table made before that column reads as before.
#[test]
fn a_run_stopped_between_statements_says_the_next_never_started() {
    const BETWEEN: &str = "statements 1–2 committed; statement 3 of 3 never started";
    let nt = |body: &str| {
        format!(
            "-- confiture:no-transaction\n-- confiture:allow(no-transaction-multiple-statements)\n{body}"
        )
    };
    let project = Project::new();
    project.migration(
        "001_a",
        &format!("CREATE TABLE a (id int);\n{LET_GO}"),
        "DROP TABLE a;\n",
    );
    project.migration(
        "002_nt",
        &nt(
            "CREATE INDEX CONCURRENTLY a_i1 ON a (id);\nSELECT let_go();\n\
             CREATE INDEX CONCURRENTLY a_i2 ON a (id);\n",
        ),
        &nt(
            "DROP INDEX CONCURRENTLY IF EXISTS a_i2;\nSELECT let_go();\n\
             DROP INDEX CONCURRENTLY a_i1;\n",
        ),
    );
    let db = TestDb::new("engine_between");
    project
        .up_on(&db)
        .code(exit::MIGRATION_FAILED)
        .stderr_has("error: migration 002_nt released the migration lock");
    assert!(!db.has_relation("a_i2"), "the third statement ran");
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has(BETWEEN)
        .stdout_lacks("may have committed");
    let json = project.status_json_on(&db).code(exit::DIVERGED).json();
    let started = &json["migrations"][1]["started"];
    assert_eq!(started["statement"], 2, "{json}");
    assert_eq!(started["stopped_after"], true, "{json}");
    assert_eq!(started["failed"], false, "{json}");
    project
        .up_on(&db)
        .code(exit::DIVERGED)
        .stderr_has(BETWEEN)
        .stderr_lacks("may have committed");

    // Going down: the rollback stopped the same way.
    let db = TestDb::new("engine_between_down");
    project.write(
        "db/migrations/002_nt.up.sql",
        nt("CREATE INDEX CONCURRENTLY a_i1 ON a (id);\nSELECT 1;\n\
             CREATE INDEX CONCURRENTLY a_i2 ON a (id);\n"),
    );
    project.up_on(&db).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("error: rolling back migration 002_nt released the migration lock");
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has(BETWEEN)
        .stdout_lacks("may have committed");
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::DIVERGED)
        .stderr_has(BETWEEN);

    // Every statement committed, the row's own check refused: the row never written.
    let db = TestDb::new("engine_between_row");
    let last = Project::new();
    last.migration(
        "001_a",
        &format!("CREATE TABLE a (id int);\n{LET_GO}"),
        "DROP TABLE a;\n",
    );
    last.migration(
        "002_nt",
        &nt("CREATE INDEX CONCURRENTLY a_i1 ON a (id);\nSELECT let_go();\n"),
        "DROP INDEX a_i1;\n",
    );
    last.up_on(&db).code(exit::MIGRATION_FAILED);
    last.status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("statements 1–2 of 2 committed; the run stopped before writing its ledger row")
        .stdout_lacks("may have committed");

    // A markers' table of the release before the column: read, and written, as before.
    let db = TestDb::new("engine_between_old");
    db.connect()
        .batch_execute(
            "CREATE TABLE tb_confiture_started (version text PRIMARY KEY, name text NOT NULL, \
             direction text NOT NULL, checksum text NOT NULL, \
             started_at timestamptz NOT NULL DEFAULT now(), \
             started_by text NOT NULL DEFAULT CURRENT_USER, client_addr text, \
             statement integer NOT NULL, statements integer NOT NULL, failed bool)",
        )
        .expect("a markers' table of an earlier release");
    project.write(
        "db/migrations/002_nt.up.sql",
        nt(
            "CREATE INDEX CONCURRENTLY a_i1 ON a (id);\nSELECT let_go();\n\
             CREATE INDEX CONCURRENTLY a_i2 ON a (id);\n",
        ),
    );
    project.up_on(&db).code(exit::MIGRATION_FAILED);
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("statement 1 committed; statement 2 of 3 was running: it may have committed");
}

/// The query of `db`'s backend sleeping in a migration, as `pg_stat_activity` shows it (its
/// first `track_activity_query_size` bytes), once one sleeps.
fn sleeping_query(db: &TestDb) -> String {
    let mut query = None;
    let seen = confiture_tests::wait_until(std::time::Duration::from_secs(30), || {
        query = db.sleeping_backend().and_then(|pid| {
            db.connect()
                .query_opt("SELECT query FROM pg_stat_activity WHERE pid = $1", &[&pid])
                .expect("read pg_stat_activity")
                .map(|row| row.get::<_, String>(0))
        });
        query.is_some()
    });
    assert!(seen, "no migration slept: {:?}", db.other_backends());
    query.unwrap_or_default()
}

/// A DBA looking at a long migration in `pg_stat_activity` sees which one it is: every
/// message that runs migrations begins with a comment naming their files (the first and the
/// last of a batch), before the engine's own statements — batched, alone, without a
/// transaction, inside `--single-transaction`, rolling back. And the server's error positions,
/// which count the comment, still map to the failing file's exact line and column.
#[test]
fn a_running_migration_is_named_first_in_pg_stat_activity() {
    // A `DO` block returns no rows: batched with the others (a migration that may return rows
    // is a message of its own).
    const SLEEP: &str = "DO $$ BEGIN PERFORM pg_catalog.pg_sleep(1.5); END $$;\n";
    let cases: [(&str, &str, &[&str], &str); 5] = [
        (
            "batch",
            SLEEP,
            &["migrate", "up"],
            "/* confiture: 001_a.up.sql .. 003_c.up.sql (3 migrations) */\n",
        ),
        (
            "single",
            SLEEP,
            &["migrate", "up", "--single-transaction"],
            "/* confiture: 002_sleep.up.sql */\n",
        ),
        (
            "notx",
            "-- confiture:no-transaction\nDO $$ BEGIN PERFORM pg_catalog.pg_sleep(1.5); END $$;\n",
            &["migrate", "up"],
            "/* confiture: 002_sleep.up.sql */\nDO $$",
        ),
        (
            "alone",
            SLEEP,
            &["migrate", "up", "--steps", "1"],
            "/* confiture: 002_sleep.up.sql */\n",
        ),
        (
            "down",
            SLEEP,
            &["migrate", "down", "--target", "001"],
            "/* confiture: 003_c.down.sql .. 002_sleep.down.sql (2 migrations) */\n",
        ),
    ];
    for (case, sleep, args, expected) in cases {
        let db = TestDb::new(&format!("label_{case}"));
        let project = Project::new();
        project
            .migration("001_a", "CREATE TABLE a ();\n", "DROP TABLE a;\n")
            .migration("002_sleep", sleep, SLEEP)
            .migration("003_c", "CREATE TABLE c ();\n", "DROP TABLE c;\n");
        if case == "alone" {
            project
                .run_on(&db, &["migrate", "up", "--steps", "1"])
                .code(0);
        }
        if case == "down" {
            project.run_on(&db, &["migrate", "up"]).code(0);
        }
        let child = project.spawn_on(&db, args);
        let query = sleeping_query(&db);
        let output = child.wait_with_output().expect("wait for the CLI");
        let run = Run::from_output(output, std::time::Duration::ZERO);
        run.code(0);
        assert!(
            query.starts_with(expected),
            "{case}: pg_stat_activity shows {query:?}\n{}",
            run.dump()
        );
    }
}

/// The file, line and column of a failing statement are exact with the comment that begins
/// each message (`a_running_migration_is_named_first_in_pg_stat_activity`), whatever its
/// length: in a batch (after a migration of a long name), alone, inside
/// `--single-transaction`, and in a no-transaction migration.
#[test]
fn a_failing_statement_is_located_exactly_after_the_message_label() {
    let bad = "SELECT 1;\n\n  SELECT 'é', 2;    CREAT TABLE x ();\n";
    let cases: [(&str, &str, &[&str]); 4] = [
        ("batch", bad, &["migrate", "up"]),
        ("single", bad, &["migrate", "up", "--single-transaction"]),
        ("alone", bad, &["migrate", "up"]),
        (
            "notx",
            "-- confiture:no-transaction\n-- confiture:allow(no-transaction-multiple-statements)\n\
             DO $$ BEGIN END $$;\n\n  SELECT 'é', 2;    CREAT TABLE x ();\n",
            &["migrate", "up"],
        ),
    ];
    for (case, text, args) in cases {
        let db = TestDb::new(&format!("label_at_{case}"));
        let project = Project::new();
        project.migration(
            "001_a_migration_with_a_rather_long_name_to_make_the_label_long",
            "CREATE TABLE a ();\n",
            "DROP TABLE a;\n",
        );
        if case == "alone" {
            project.run_on(&db, &["migrate", "up"]).code(0);
        }
        project.migration("002_bad", text, "SELECT 1;\n");
        let line = if case == "notx" { 5 } else { 3 };
        project
            .run_on(&db, args)
            .code(exit::MIGRATION_FAILED)
            .stderr_has(&format!("002_bad.up.sql:{line}:21"));
    }
}

/// A project of a table and a no-transaction index build on it (`001_a`, `002_nt`), on `db`
/// given `temp_file_limit` (`0`, `'100kB'`) and a `work_mem` of `64kB` for new sessions.
fn index_built_under_temp_file_limit(db: &TestDb, temp_file_limit: &str) -> Project {
    let name = &db.name;
    db.connect()
        .batch_execute(&format!(
            "ALTER DATABASE \"{name}\" SET temp_file_limit = {temp_file_limit}; \
             ALTER DATABASE \"{name}\" SET work_mem = '64kB'"
        ))
        .unwrap();
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.migration(
        "002_nt",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a_i ON a (id);\n",
        "DROP INDEX a_i;\n",
    );
    project
}

/// `migrate down --target 0 --yes` (with `args`) on `db` succeeds: nothing is left recorded.
#[track_caller]
fn all_rolled_back(project: &Project, db: &TestDb, args: &[&str]) {
    let down = [&["migrate", "down", "--target", "0", "--yes"], args].concat();
    project.run_on(db, &down).code(exit::SUCCESS);
    assert_eq!(db.ledger(), versions(&[]));
}

/// A database with a small `work_mem` and `temp_file_limit` (superuser settings a hostile or
/// thrifty DBA may give it): `up` failed its very first read, the session's state ("cannot read
/// the session's state: temporary file size exceeds temp_file_limit", exit 3, no help), since
/// `pg_settings` builds every setting's row in a tuple store that spilled to a temporary file.
/// The tool's own reads are tiny and keep their rows in memory: `up` (with a no-transaction
/// migration), `status` and `down` succeed.
#[test]
fn a_small_temp_file_limit_does_not_stop_the_tools_own_reads() {
    let db = TestDb::new("tiny_temp");
    let project = index_built_under_temp_file_limit(&db, "'100kB'");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::SUCCESS);
    all_rolled_back(&project, &db, &[]);
}

/// `migrate up` (with `args`) on `db` while a session holds the migration lock, which it lets
/// go once the run says it waits for it (its idle timeouts turned off for the wait, given back
/// after it): the run's status and stderr.
fn up_after_waiting_for_the_lock(
    project: &Project,
    db: &TestDb,
    args: &[&str],
) -> (std::process::ExitStatus, String) {
    use std::io::BufRead;
    let (holder, _) = db.hold_migration_lock("lock_holder");
    let up = [&["migrate", "up", "--lock-wait", "60s"], args].concat();
    let mut child = project.spawn_on(db, &up);
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref().map_while(Result::ok) {
        let waiting = line.contains("waiting for the migration lock");
        seen.push(line);
        if waiting {
            break;
        }
    }
    drop(holder);
    seen.extend(lines.map_while(Result::ok));
    let status = child.wait().unwrap();
    let stderr = seen.join("\n");
    assert!(
        stderr.contains("waiting for the migration lock"),
        "{stderr}"
    );
    (status, stderr)
}

/// A database where the tool's own reads may write no temporary file at all
/// (`temp_file_limit = 0`) and whose `work_mem` is tiny (`64kB`): every read that builds, sorts
/// or hashes rows past `work_mem` — `pg_settings` (a function building every setting's row),
/// `pg_locks`, `pg_stat_activity`, the ledger, a schema snapshot's catalogs — was refused
/// ("cannot read the tracking table tb_confiture: temporary file size exceeds temp_file_limit
/// (0kB)", exit 5; `verify`: "cannot prepare a session", exit 3): only the session-state read
/// had its own `work_mem`. Every read of the tool's own has it now (`db::own_read_bounds`):
/// `up` (after waiting for the migration lock, with a no-transaction migration), `status`,
/// `verify` (whose scratch database gets the same settings) and `down` succeed.
#[test]
fn no_temporary_file_at_all_stops_none_of_the_tools_own_reads() {
    let db = TestDb::new("no_temp_file");
    let project = index_built_under_temp_file_limit(&db, "0");
    let (status, stderr) = up_after_waiting_for_the_lock(&project, &db, &[]);
    assert!(status.success(), "{status:?}\n{stderr}");
    assert_eq!(db.ledger(), versions(&["001:a", "002:nt"]));
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "verify"])
        .code(exit::SUCCESS);
    all_rolled_back(&project, &db, &[]);
}

/// A database whose `statement_timeout` is 1 ms bounds none of the tool's own statements,
/// those around a wait for the migration lock included (the idle timeouts turned off for the
/// wait and given back after it, `RESET` each, after the tool's own bound): `up` (its
/// migrations given a `--statement-timeout` of their own: the database's is theirs
/// otherwise), `status` and `down` succeed, three times over.
#[test]
fn a_one_millisecond_database_statement_timeout_bounds_none_of_the_tools_own_statements() {
    let db = TestDb::new("one_ms");
    db.set_for_new_sessions("statement_timeout", "1ms");
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.migration("002_b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
    for _ in 0..3 {
        let (status, stderr) =
            up_after_waiting_for_the_lock(&project, &db, &["--statement-timeout", "60s"]);
        assert!(status.success(), "{status:?}\n{stderr}");
        assert_eq!(db.ledger(), versions(&["001:a", "002:b"]));
        project
            .run_on(&db, &["migrate", "status"])
            .code(exit::SUCCESS);
        all_rolled_back(&project, &db, &["--statement-timeout", "60s"]);
    }
}

/// The session a run with its own `statement_timeout` (`--statement-timeout`) migrates on
/// starts without the database's 1 ms (`-c statement_timeout=0` in the startup packet), so
/// that not even its first message, the session-state read, runs under it: on a loaded
/// machine that read was cancelled (57014) before its own `SET statement_timeout = 0` took
/// effect. What the session started with is what `RESET` gives back (`reset_val`), read by
/// the migrations of `up` and of `down` themselves: never the database's 1 ms.
#[test]
fn a_run_with_its_own_statement_timeout_starts_its_session_without_the_databases() {
    let db = TestDb::new("own_st_start");
    db.set_for_new_sessions("statement_timeout", "1ms");
    let started_with = "DO $$ BEGIN IF (SELECT s.reset_val FROM pg_catalog.pg_settings s \
                        WHERE s.name = 'statement_timeout') <> '0' THEN RAISE EXCEPTION \
                        'the session started under statement_timeout %', \
                        (SELECT s.reset_val FROM pg_catalog.pg_settings s \
                        WHERE s.name = 'statement_timeout'); END IF; END $$;\n";
    let project = Project::new();
    project.migration("001_a", started_with, started_with);
    let bound = ["--statement-timeout", "60s"];
    let up = project.run_on(&db, &[&["migrate", "up"][..], &bound].concat());
    up.code(exit::SUCCESS);
    assert_eq!(db.ledger(), versions(&["001:a"]));
    all_rolled_back(&project, &db, &bound);
}

/// A database whose `statement_timeout` is tiny (`ALTER DATABASE ... SET statement_timeout =
/// '5ms'`) bounds the migrations' SQL, not the tool's bookkeeping on the session that runs
/// them: the statement of ours before each ledger row and each `COMMIT` ran under it (a loaded
/// machine cancelled them, the migration failing for our catalog look-ups), and so did the
/// server's parse of a whole message, forty migrations rolling back (always cancelled, "due to
/// user request"). Forty migrations of one cheap statement each go up and down, batched and
/// in one transaction; one that runs longer than the database's timeout still fails, naming
/// it.
#[test]
fn a_tiny_database_statement_timeout_bounds_the_migrations_not_the_bookkeeping() {
    let db = TestDb::new("tiny_st");
    db.set_for_new_sessions("statement_timeout", "5ms");
    let project = Project::new();
    // Each file's statement changes more than the session: a file of `SET`s alone does
    // nothing, which lint refuses (C007 up, C008 down).
    for i in 1..=40 {
        project.migration(
            &format!("{i:03}_m{i}"),
            "DO $$ BEGIN END $$;\n",
            "DO $$ BEGIN END $$;\n",
        );
    }
    // A migration's own statement is bound by the 5 ms on purpose: on a loaded machine even
    // a `DO` block can lose the CPU that long and be cancelled, naming its file (statement 1
    // of 1, at line 1: its first column, or the block's body where the server was in it).
    // Only that failure is run again (each command resumes where it stopped); one of our own
    // statements cancelled names no migration file's statement and fails the test.
    let until_done = |args: &[&str]| {
        for _ in 0..5 {
            let run = project.run_on(&db, args);
            let own_statement = run.code == i32::from(exit::MIGRATION_FAILED)
                && run.stderr.lines().any(|line| {
                    line.contains(".sql:1:")
                        && line.contains(
                            " (statement 1 of 1): canceling statement due to statement timeout",
                        )
                });
            if !own_statement {
                run.code(0);
                return;
            }
        }
        panic!("{args:?}: a migration's statement was cancelled five times in a row");
    };
    until_done(&["migrate", "up"]);
    until_done(&["migrate", "up", "--single-transaction"]);
    until_done(&["migrate", "down", "--target", "0", "--yes"]);
    until_done(&["migrate", "up", "--single-transaction"]);
    assert_eq!(db.ledger().unwrap_or_default().len(), 40);
    project.migration(
        "041_slow",
        "SELECT pg_catalog.pg_sleep(0.2);\n",
        "SELECT 1;\n",
    );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("041_slow.up.sql:1:1")
        .stderr_has("canceling statement due to statement timeout")
        .stderr_has("statement_timeout (5ms, the session's");
    assert_eq!(db.ledger().unwrap_or_default().len(), 40);
}

/// The type of the tracking table's `version` column, as `format_type` writes it.
fn version_type(db: &TestDb) -> String {
    db.connect()
        .query_one(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = 'tb_confiture'::regclass AND attname = 'version'",
            &[],
        )
        .unwrap()
        .get(0)
}

/// A migration that changes the type of a text column of the tracking table where lint cannot
/// see it (a `DO` block's `EXECUTE` of a name put together) fails before its row is written,
/// rolled back, exit 5 naming it — batched with others, alone, inside `--single-transaction`,
/// rolling back: its row used to be written into the changed table (`'002'` as `2`), and
/// only the next read refused the ledger (h19 F16). A change to another string type is no
/// change to the ledger's shape.
#[test]
fn a_migration_that_changes_the_ledgers_column_types_is_rolled_back() {
    const ALTER: &str = "DO $$ BEGIN EXECUTE 'ALTER TABLE tb_' || 'confiture ALTER COLUMN \
                         version TYPE bigint USING version::bigint'; END $$;\n";
    for (case, args) in [
        ("batch", &["migrate", "up"][..]),
        ("single", &["migrate", "up", "--single-transaction"][..]),
        ("down", &["migrate", "down", "--steps", "1", "--yes"][..]),
    ] {
        let db = TestDb::new(&format!("alter_ledger_{case}"));
        let project = Project::new();
        project.migration("001_a", "CREATE TABLE a ();\n", "DROP TABLE a;\n");
        if case == "down" {
            project.migration("002_alter", "CREATE TABLE b ();\n", ALTER);
            project.run_on(&db, &["migrate", "up"]).code(0);
        } else {
            project.migration("002_alter", ALTER, "SELECT 1;\n");
        }
        let before = db.ledger().unwrap_or_default();
        project
            .run_on(&db, args)
            .code(exit::INVALID)
            .stderr_has("002_alter")
            .stderr_has(
                "changed the type of column version (now bigint) of the tracking table \
                 public.tb_confiture",
            )
            .stderr_has(
                "keep public.tb_confiture out of the `ALTER TABLE` in db/migrations/002_alter.",
            );
        assert_eq!(
            version_type(&db),
            "character varying(255)",
            "{case}: rolled back"
        );
        let expected = match case {
            "batch" => versions(&["001:a"]),
            "single" => Some(Vec::new()),
            _ => Some(before),
        };
        assert_eq!(db.ledger(), expected, "{case}");
        project
            .run_on(&db, &["migrate", "status"])
            .stderr_lacks("tracking table");
    }
    // Another string type is still a ledger every read takes: a built-in one, and a domain
    // over `text` (which the check's look-up of the common types does not list: the rule
    // itself runs then, batched and alone).
    let db = TestDb::new("alter_ledger_text");
    let project = Project::new();
    project.migration(
        "001_text",
        "DO $$ BEGIN EXECUTE 'ALTER TABLE tb_' || 'confiture ALTER COLUMN name TYPE text'; \
         END $$;\n",
        "SELECT 1;\n",
    );
    project.migration(
        "002_domain",
        "CREATE DOMAIN ledger_text AS text;\n\
         DO $$ BEGIN EXECUTE 'ALTER TABLE tb_' || 'confiture ALTER COLUMN checksum TYPE \
         ledger_text'; END $$;\n",
        "SELECT 1;\n",
    );
    project.migration("003_after", "CREATE TABLE c ();\n", "DROP TABLE c;\n");
    project.run_on(&db, &["migrate", "up"]).code(0);
    assert_eq!(
        db.ledger(),
        versions(&["001:text", "002:domain", "003:after"])
    );
    project.migration("004_alone", "CREATE TABLE d ();\n", "DROP TABLE d;\n");
    project.run_on(&db, &["migrate", "up"]).code(0);
    assert_eq!(
        db.ledger(),
        versions(&["001:text", "002:domain", "003:after", "004:alone"])
    );
}

/// A batch of transactional migrations whose second says `DEALLOCATE ALL` (or `DEALLOCATE
/// PREPARE ALL`, any case): the engine's own prepared statements (a batch's prepared ledger
/// rows, `confiture_row_*`, its `_role` and `_next`, the statement markers) would vanish
/// mid-batch, and the next migration's row be written by a statement that no longer exists.
/// None is kept around such a file (`markers::says_deallocate`, `sql::prepares_rows`): the
/// batch applies whole, each migration recorded once, in order, batched and
/// `--single-transaction`, and rolls back whole; a `DISCARD ALL` (which a transaction block refuses
/// anyway) is refused by lint (C107) before anything runs, naming the file.
#[test]
fn a_deallocate_all_in_a_batch_keeps_the_ledger_right() {
    for (case, dealloc, extra) in [
        ("batched", "DEALLOCATE ALL;", &[][..]),
        ("prepare", "deallocate prepare all;", &[][..]),
        ("one_tx", "DEALLOCATE ALL;", &["--single-transaction"][..]),
    ] {
        let db = TestDb::new(&format!("dealloc_batch_{case}"));
        let project = Project::new();
        project
            .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
            .migration(
                "002_dealloc",
                &format!("CREATE TABLE b (id int);\n{dealloc}\nINSERT INTO b VALUES (1);\n"),
                &format!("{dealloc}\nDROP TABLE b;\n"),
            )
            .migration("003_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n")
            .migration("004_d", "CREATE TABLE d (id int);\n", "DROP TABLE d;\n");
        let mut args = vec!["migrate", "up"];
        args.extend_from_slice(extra);
        project.run_on(&db, &args).code(exit::SUCCESS);
        assert_eq!(
            db.ledger(),
            versions(&["001:a", "002:dealloc", "003:c", "004:d"]),
            "{case}"
        );
        for table in ["a", "b", "c", "d"] {
            assert!(db.has_relation(table), "{case}: {table}");
        }
        project
            .run_on(&db, &["migrate", "status"])
            .code(exit::SUCCESS);
        project
            .run_on(&db, &["migrate", "down", "--steps", "3", "--yes"])
            .code(exit::SUCCESS);
        assert_eq!(db.ledger(), versions(&["001:a"]), "{case}");
        assert!(!db.has_relation("b"), "{case}");
    }
    // `DISCARD ALL` drops the migration lock too: lint refuses the file before anything runs.
    let db = TestDb::new("dealloc_batch_discard");
    let project = Project::new();
    project
        .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration(
            "002_discard",
            "CREATE TABLE b (id int);\nDISCARD ALL;\n",
            "DROP TABLE b;\n",
        )
        .migration("003_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n");
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::INVALID)
        .stderr_has("002_discard.up.sql")
        .stderr_has("error[C107]: DISCARD ALL releases the migration lock");
    assert_eq!(db.ledger(), None);
    assert!(!db.has_relation("a"));
}

/// A `DEALLOCATE ALL` the file's SQL does not say (built at run time in a `DO` block's
/// `EXECUTE`), which drops cargo-confiture's own prepared statements — a statement marker
/// between two statements, a batch's prepared ledger row — was blamed on the next, innocent
/// statement, as "prepared statement confiture_at_... does not exist". The failure now names
/// the statement that dropped them and says what to do, in every way a migration runs; the
/// migration is rolled back (exit 4) and the run stops there.
#[test]
fn a_hidden_deallocate_all_is_named_at_its_statement() {
    let hidden = "DO $$ BEGIN EXECUTE 'DEALLOC' || 'ATE ALL'; END $$;";
    let second = format!("CREATE TABLE t (id int);\n{hidden}\nINSERT INTO t VALUES (1);\n");
    let third = format!(
        "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n{hidden}\nINSERT INTO t VALUES (2);\n"
    );
    let fourth = format!(
        "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);\n\n{hidden}\nSELECT 1;\n"
    );
    let last = format!("CREATE TABLE t (id int);\n{hidden}\n");
    let first = format!("{hidden}\nCREATE TABLE t (id int);\n");
    let only = format!("\n{hidden}\n");
    // (case, 002's SQL, the line blamed, 001 applied in an earlier run, arguments)
    let cases: [(&str, &str, u32, bool, &[&str]); 9] = [
        ("second", &second, 2, true, &[]),
        ("third", &third, 3, true, &[]),
        ("fourth", &fourth, 5, true, &[]),
        ("last", &last, 2, true, &[]),
        ("second_batched", &second, 2, false, &[]),
        ("first_batched", &first, 1, false, &[]),
        ("only_batched", &only, 2, false, &[]),
        ("one_tx", &third, 3, false, &["--single-transaction"]),
        (
            "one_tx_second",
            &second,
            2,
            false,
            &["--single-transaction"],
        ),
    ];
    for (case, sql, line, earlier, extra) in cases {
        let db = TestDb::new(&format!("hidden_dealloc_{case}"));
        let project = Project::new();
        project.migration(
            "001_first",
            "CREATE TABLE first ();\n",
            "DROP TABLE first;\n",
        );
        if earlier {
            project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
        }
        project
            .migration("002_dealloc", sql, "SELECT 1;\n")
            .migration(
                "003_after",
                "CREATE TABLE after (id int);\n",
                "DROP TABLE after;\n",
            );
        let mut args = vec!["migrate", "up"];
        args.extend_from_slice(extra);
        let run = project.run_on(&db, &args);
        run.code(exit::MIGRATION_FAILED)
            .stderr_has("migration 002_dealloc failed at")
            .stderr_has(&format!("002_dealloc.up.sql:{line}:1"))
            .stderr_has("DEALLOCATE ALL")
            .stderr_has("cargo-confiture's own prepared statements")
            .stderr_lacks("does not exist")
            .stderr_lacks("tracking table");
        assert!(!db.has_relation("t"), "{case}: 002 was rolled back");
        assert!(!db.has_relation("after"), "{case}: the run stopped at 002");
        // The JSON error object says it as data, at the statement.
        let mut json_args = args.clone();
        json_args.extend_from_slice(&["--format", "json"]);
        let (_, error) = failed_migration(&project, &db, &json_args);
        assert_eq!(error["kind"], "migration_failed", "{case}: {error}");
        assert_eq!(error["dropped_own_statements"], true, "{case}: {error}");
        assert_eq!(error["line"], line, "{case}: {error}");
        assert_eq!(error["sqlstate"], "26000", "{case}: {error}");
    }
    // With a trigger on the tracking table's rows, the last statement's drop was taken for the
    // trigger's failure on the row (exit 5, "writing the tracking table failed"); and a
    // rollback's file is named the same way.
    let db = TestDb::new("hidden_dealloc_triggers");
    let project = Project::new();
    project.migration(
        "001_first",
        "CREATE TABLE first ();\n",
        "DROP TABLE first;\n",
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    db.connect()
        .batch_execute(
            "CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RETURN NEW; END $$; \
             CREATE TRIGGER audit AFTER INSERT ON tb_confiture \
             FOR EACH ROW EXECUTE FUNCTION audit();",
        )
        .unwrap();
    project.migration("002_dealloc", &last, "SELECT 1;\n");
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("002_dealloc.up.sql:2:1 (statement 2 of 2)")
        .stderr_has("cargo-confiture's own prepared statements")
        .stderr_lacks("tracking table");
    project.migration(
        "002_dealloc",
        "CREATE TABLE t (id int);\n",
        &format!("SELECT 1;\n{hidden}\nDROP TABLE t;\n"),
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("rolling back migration 002_dealloc failed at")
        .stderr_has("002_dealloc.down.sql:2:1 (statement 2 of 3)")
        .stderr_has("cargo-confiture's own prepared statements")
        .stderr_lacks("does not exist");
    assert!(db.has_relation("t"), "the rollback was rolled back");
    // A no-transaction migration carries none of the engine's prepared statements: the same
    // statement there drops nothing of ours, and the migration applies.
    let db = TestDb::new("hidden_dealloc_no_tx");
    let project = Project::new();
    project
        .migration(
            "001_first",
            "CREATE TABLE first ();\n",
            "DROP TABLE first;\n",
        )
        .migration(
            "002_dealloc",
            &format!(
                "-- confiture:no-transaction\n\
                 -- confiture:allow(no-transaction-multiple-statements)\n{second}"
            ),
            "SELECT 1;\n",
        )
        .migration(
            "003_after",
            "CREATE TABLE after (id int);\n",
            "DROP TABLE after;\n",
        );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    assert!(db.has_relation("after"));
}

/// The project of an index build that fails part-way: `002_idx`'s second build (a unique
/// index) fails on a duplicate key after its first committed.
pub(crate) fn failing_second_build() -> Project {
    let nt = |body: &str| {
        format!(
            "-- confiture:no-transaction\n-- confiture:allow(no-transaction-multiple-statements)\n{body}"
        )
    };
    let project = Project::new();
    project.migration(
        "001_t",
        "CREATE TABLE t (a int, b int);\nINSERT INTO t VALUES (1, 1), (2, 1);\n",
        "DROP TABLE t;\n",
    );
    project.migration(
        "002_idx",
        &nt("CREATE INDEX CONCURRENTLY t_a_idx ON t (a);\n\
             CREATE UNIQUE INDEX CONCURRENTLY t_b_key ON t (b);\n"),
        &nt("DROP INDEX CONCURRENTLY t_b_key;\nDROP INDEX CONCURRENTLY t_a_idx;\n"),
    );
    project
}

/// A `--rerun-interrupted` that failed before it got as far as the run it replaced overwrote
/// that run's start marker: statement 1, which the earlier run committed, was then said to
/// have failed with nothing of it committed (status, JSON, `up`'s refusal), and the run's own
/// failure said the earlier run was "killed or disconnected" though it had failed. The marker
/// keeps what earlier runs committed, and the failure words the earlier run from its marker —
/// after a failed run, and after one that ended without an answer (a killed one).
#[test]
fn a_failed_rerun_keeps_what_the_run_it_replaced_committed() {
    let project = failing_second_build();
    for (name, killed) in [
        ("engine_rerun_failed", false),
        ("engine_rerun_killed", true),
    ] {
        let db = TestDb::new(name);
        project
            .up_on(&db)
            .code(exit::MIGRATION_FAILED)
            .stderr_has("23505");
        if killed {
            // What a run killed while statement 2 ran leaves: no answer recorded.
            db.connect()
                .batch_execute("UPDATE tb_confiture_started SET failed = NULL")
                .expect("the marker of a killed run");
        }
        let mut fix = db.connect();
        fix.batch_execute("DROP INDEX public.t_b_key")
            .expect("drop the INVALID index");
        fix.batch_execute("DELETE FROM t WHERE a = 2")
            .expect("fix the data");
        let earlier = match killed {
            false => "statement 1 committed; statement 2 of 2 failed: the server refused it",
            true => "statement 1 committed; statement 2 of 2 was running: it may have committed",
        };
        let rerun = project.run_on(&db, &["migrate", "up", "--rerun-interrupted"]);
        rerun
            .code(exit::MIGRATION_FAILED)
            .stderr_has("42P07")
            .stderr_has(&format!(
                "the start marker this run replaced said: {earlier}"
            ));
        match killed {
            false => rerun
                .stderr_lacks("killed or disconnected")
                .stderr_lacks("within a second"),
            true => rerun.stderr_has("within a second"),
        };
        let kept = match killed {
            false => {
                "an earlier run committed statement 1 of 2; run again, statement 1 of 2 \
                      failed: the server refused it, and nothing of it committed"
            }
            true => {
                "an earlier run committed statement 1 (statement 2 of 2 may have committed \
                     too); run again, statement 1 of 2 failed: the server refused it"
            }
        };
        project.status_on(&db).code(exit::DIVERGED).stdout_has(kept);
        let json = project.status_json_on(&db).code(exit::DIVERGED).json();
        let started = &json["migrations"][1]["started"];
        assert_eq!(started["statement"], 1, "{json}");
        assert_eq!(started["failed"], true, "{json}");
        assert_eq!(started["earlier_committed"], 1, "{json}");
        match killed {
            false => assert_eq!(started["earlier_unsure"], serde_json::Value::Null, "{json}"),
            true => assert_eq!(started["earlier_unsure"], 2, "{json}"),
        }
        project.up_on(&db).code(exit::DIVERGED).stderr_has(kept);
        // A second failed rerun keeps it still.
        project
            .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
            .code(exit::MIGRATION_FAILED);
        project.status_on(&db).code(exit::DIVERGED).stdout_has(kept);
    }
}

/// A statement cancelled by a `statement_timeout` its own file set (`SET`, `SET LOCAL`,
/// `set_config`, in a transactional or a no-transaction migration) is put down to that
/// statement, named with its line, not to the run's `--statement-timeout`, which the file's
/// own setting overrides; a `RESET` that gives the statements the database's default back is
/// named with that default's source.
#[test]
fn a_statement_cancelled_by_its_files_own_statement_timeout_names_that_setting() {
    let db = TestDb::new("own_timeout");
    let notx = "-- confiture:no-transaction\n\
                -- confiture:allow(no-transaction-multiple-statements)\n";
    let cases = [
        ("", "SET statement_timeout = '50ms';\n", 1),
        ("", "SET LOCAL statement_timeout = '50ms';\n", 1),
        (
            "",
            "SELECT pg_catalog.set_config('statement_timeout', '50ms', true);\n",
            1,
        ),
        (notx, "SET statement_timeout = '50ms';\n", 3),
        (
            notx,
            "SELECT set_config('statement_timeout', '50ms', false);\n",
            3,
        ),
    ];
    // What makes a no-transaction migration need to be one: never reached.
    let tail = |head: &str| match head {
        "" => "",
        _ => "CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n",
    };
    for (head, set, line) in cases {
        let project = Project::new();
        let id = "001_slow";
        project.migration(
            id,
            &format!("{head}{set}SELECT pg_sleep(2);\n{}", tail(head)),
            "SELECT 1;\n",
        );
        project
            .run_on(&db, &["migrate", "up", "--statement-timeout", "20s"])
            .code(exit::MIGRATION_FAILED)
            .stderr_has(&format!("{id}.up.sql:{line}) sets itself"))
            .stderr_has("statement_timeout (50ms)")
            .stderr_has("raise or remove it there")
            .stderr_lacks("raise --statement-timeout")
            .stderr_lacks("pg_cancel_backend");
    }
    // Back to the database's default by the file's `RESET`: that default and its source.
    db.connect()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET statement_timeout = '60ms'",
            db.name
        ))
        .unwrap();
    let project = Project::new();
    project.migration(
        "001_reset",
        "-- confiture:allow(resets-timeouts)\nRESET statement_timeout;\nSELECT pg_sleep(2);\n",
        "SELECT 1;\n",
    );
    // (A run with a bound of its own starts its session with `statement_timeout=0` in the
    // startup options, which a `RESET` gives back: the database's default is the session's
    // only in a run without one.)
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("statement_timeout (60ms")
        .stderr_has("ALTER DATABASE")
        .stderr_has("001_reset.up.sql:2) restores")
        .stderr_lacks("raise --statement-timeout");
    // The database's default alone (no setting of the file's, none of the run's): its source.
    let project = Project::new();
    project.migration("001_plain", "SELECT pg_sleep(2);\n", "SELECT 1;\n");
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("statement_timeout (60ms, the session's, from the database's default (ALTER DATABASE ... SET))");
}

/// A lock wait cut by a `lock_timeout` its own file set is put down to that statement, not to
/// the run's `--lock-timeout-statement`.
#[test]
fn a_lock_wait_cut_by_its_files_own_lock_timeout_names_that_setting() {
    let db = TestDb::new("own_lock_timeout");
    db.connect()
        .batch_execute("CREATE TABLE held (id int)")
        .unwrap();
    let mut holder = db.connect();
    holder
        .batch_execute("BEGIN; LOCK TABLE held IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let project = Project::new();
    project.migration(
        "001_lock",
        "SET lock_timeout = '50ms';\nALTER TABLE held ADD COLUMN b int;\n",
        "SELECT 1;\n",
    );
    project
        .run_on(
            &db,
            &[
                "migrate",
                "up",
                "--lock-timeout-statement",
                "20s",
                "--allow-non-empty",
            ],
        )
        .code(exit::MIGRATION_FAILED)
        .stderr_has("001_lock.up.sql:1) sets itself")
        .stderr_has("lock_timeout (50ms)")
        .stderr_lacks("raise --lock-timeout-statement");
    holder.batch_execute("ROLLBACK").unwrap();
}

/// A no-transaction migration stopped after statements that only set session state (`SET`,
/// `RESET`, `SHOW`, `set_config`) committed nothing to undo: they are not listed as committed
/// work to undo, and the run again needs no `--rerun-interrupted`.
#[test]
fn session_only_statements_before_a_failed_no_transaction_statement_are_nothing_to_undo() {
    let db = TestDb::new("notx_session_only");
    let head = "-- confiture:no-transaction\n\
                -- confiture:allow(no-transaction-multiple-statements)\n";
    let project = Project::new();
    project.migration(
        "001_idx",
        &format!(
            "{head}SET lock_timeout = '1s';\nSHOW search_path;\n\
             SELECT set_config('search_path', 'public', false);\n\
             CREATE INDEX CONCURRENTLY nope ON missing_table (id);\n"
        ),
        "SELECT 1;\n",
    );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("statements 1–3 only set session state and committed nothing")
        .stderr_lacks("were committed")
        .stderr_lacks("undo it")
        .stderr_lacks("--rerun-interrupted");
    // Mixed: the one that committed something is the one to undo.
    let project = Project::new();
    project.migration(
        "001_idx",
        &format!(
            "{head}SET lock_timeout = '1s';\nCREATE TABLE made (id int);\nRESET search_path;\n\
             CREATE INDEX CONCURRENTLY nope ON missing_table (id);\n"
        ),
        "SELECT 1;\n",
    );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has(
            "statements 1–3 were committed (this migration runs without a transaction); \
             statements 1 and 3 of them only set session state: nothing of theirs to undo",
        )
        .stderr_has("undo it");
}

/// A database whose `search_path` names no existing schema, with no temporary file allowed and
/// a tiny `work_mem`: the reads that explain where an unqualified tracking table would be
/// created (the `search_path` and where it is set: `pg_settings`, built whole in memory) run
/// under the tool's own reads' bounds like every other read of ours, so `status` and `up` name
/// the setting to change and where. The read spilled and was refused, and the help fell back
/// to the one that names no setting.
#[test]
fn no_temporary_file_at_all_keeps_the_help_of_a_search_path_naming_no_schema() {
    let db = TestDb::new("no_temp_path");
    let name = db.name.clone();
    db.connect()
        .batch_execute(&format!(
            "ALTER DATABASE \"{name}\" SET search_path = ''; \
             ALTER DATABASE \"{name}\" SET temp_file_limit = 0; \
             ALTER DATABASE \"{name}\" SET work_mem = '64kB'"
        ))
        .unwrap();
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    for args in [&["migrate", "status"][..], &["migrate", "up"][..]] {
        project
            .run_on(&db, args)
            .stderr_has("search_path names no existing schema")
            .stderr_has("put a schema of your own first on the search_path")
            .stderr_has(&format!("ALTER DATABASE {name}"));
    }
}

/// A ledger dropped (or left out of a restore) after a no-transaction migration's run was left
/// part-way keeps that run's start marker in its markers' table. `baseline` read no marker
/// without a ledger: it recorded the migration over that run without a word, the marker kept
/// beside its row. It now reads them there as beside a ledger — refused without `--yes` (exit
/// 64, the run and its dry run alike), nothing written —, and `status`'s help of a database
/// with objects and no history suggests the baseline that records over it with its `--yes`
/// (`plan::record_command`): pasted, it records the migrations and forgets the marker.
#[test]
fn a_dropped_ledgers_start_markers_are_read_by_baseline() {
    let db = TestDb::new("engine_lost_marked");
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.migration(
        "002_nt",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a_i ON a (id);\nSELECT 1/0;\n",
        "DROP INDEX a_i;\n",
    );
    project.up_on(&db).code(exit::MIGRATION_FAILED);
    db.connect()
        .batch_execute("DROP TABLE tb_confiture")
        .expect("lose the ledger");
    for dry_run in [&["--dry-run"][..], &[][..]] {
        let args = [&["migrate", "baseline", "--through", "002"][..], dry_run].concat();
        project
            .run_on(&db, &args)
            .code(exit::USAGE)
            .stderr_has("over its run left part-way");
        assert_eq!(db.ledger(), None, "{args:?}");
    }
    let run = project.run_on(&db, &["migrate", "status"]);
    paste_the_suggested_baseline(&project, &db, &run, "status", Some("002"));
    assert_eq!(db.ledger(), versions(&["001:a", "002:nt"]));
    let markers: i64 = db
        .connect()
        .query_one("SELECT count(*) FROM tb_confiture_started", &[])
        .expect("the markers' table")
        .get(0);
    assert_eq!(markers, 0, "the marker recorded over is forgotten");
}

/// What lint's C119 says of a migration (`RESET ALL` turns the environment's timeouts off) `up`
/// says only when it runs that migration, or its dry run would: a run refused before running
/// anything says nothing of its files, whatever refused it — objects where the migrations build
/// (exit 7), an applied file modified (exit 7), `--single-transaction` over a no-transaction
/// migration (exit 64) —, its dry run alike. The non-empty refusal said it, text and JSON, where
/// the modified one did not.
#[test]
fn a_runs_lint_warnings_are_said_only_for_the_migrations_it_runs() {
    let reset = "RESET ALL turns off";
    let project = Project::new();
    project
        .migration(
            "001_a",
            "CREATE TABLE tb_a (id int);\n",
            "DROP TABLE tb_a;\n",
        )
        .migration(
            "002_r",
            "RESET ALL;\nCREATE TABLE tb_r (id int);\n",
            "DROP TABLE tb_r;\n",
        );
    let says = |run: &Run| run.dump().contains(reset);
    let refused = |run: &Run, code: u8, what: &str| {
        run.code(code);
        assert!(
            !says(run),
            "{what}: a refused run said a lint warning\n{}",
            run.dump()
        );
    };
    let forms = |db: &TestDb, extra: &[&str], code: u8, what: &str| {
        for dry in [false, true] {
            for json in [false, true] {
                let mut args = vec!["migrate", "up"];
                args.extend(extra);
                args.extend(dry.then_some("--dry-run"));
                args.extend(["--format", "json"].into_iter().filter(|_| json));
                let what = format!("{what}, dry run {dry}, json {json}");
                refused(&project.run_on(db, &args), code, &what);
            }
        }
    };

    // Runs it, or would: said, text and JSON.
    let fresh = TestDb::new("lintwarn_run");
    let dry = project.run_on(&fresh, &["migrate", "up", "--dry-run", "--format", "json"]);
    dry.code(exit::SUCCESS);
    assert!(says(&dry), "{}", dry.dump());
    let run = project.run_on(&fresh, &["migrate", "up"]);
    run.code(exit::SUCCESS).stderr_has(reset);

    // Objects where the migrations build, no history.
    let non_empty = TestDb::new("lintwarn_nonempty");
    non_empty
        .client()
        .batch_execute("CREATE TABLE t (id int)")
        .expect("create a table");
    forms(&non_empty, &[], exit::DIVERGED, "non-empty");

    // `--single-transaction` over a no-transaction migration.
    let single = Project::new();
    single
        .migration(
            "001_r",
            "RESET ALL;\nCREATE TABLE tb_r (id int);\n",
            "DROP TABLE tb_r;\n",
        )
        .migration(
            "002_i",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY tb_r_id ON tb_r (id);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY tb_r_id;\n",
        );
    let db = TestDb::new("lintwarn_single");
    for json in [false, true] {
        let mut args = vec!["migrate", "up", "--single-transaction"];
        args.extend(["--format", "json"].into_iter().filter(|_| json));
        let run = single.run_on(&db, &args);
        run.code(exit::USAGE);
        assert!(!says(&run), "single, json {json}\n{}", run.dump());
    }

    // An applied migration modified, the one with the warning pending.
    let modified = TestDb::new("lintwarn_modified");
    project
        .run_on(&modified, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    project.write(
        "db/migrations/001_a.up.sql",
        "CREATE TABLE tb_a (id bigint);\n",
    );
    forms(&modified, &[], exit::DIVERGED, "modified");
}
