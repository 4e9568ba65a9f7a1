//! Every exit code of `confiture/src/exit.rs`, produced by the real CLI against the real
//! PostgreSQL: deployment scripts branch on them (`case $? in`), so each one is a contract.

use std::time::Duration;

use confiture::exit;
use confiture_tests::{binary, cli, Project, Run, TestDb};

/// Two small migrations that apply cleanly.
fn two_migrations() -> Project {
    let project = Project::new();
    project
        .migration(
            "001_create_tb_user",
            "CREATE TABLE tb_user (pk_user INTEGER PRIMARY KEY);\n",
            "DROP TABLE tb_user;\n",
        )
        .migration(
            "002_add_bio_to_users",
            "ALTER TABLE tb_user ADD COLUMN bio TEXT;\n",
            "ALTER TABLE tb_user DROP COLUMN bio;\n",
        );
    project
}

#[test]
fn exit_0_when_up_to_date_and_when_lint_is_clean() {
    let db = TestDb::new("exit0");
    let project = two_migrations();
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::SUCCESS)
        .stdout_has("2 applied, 0 pending, 2 total");
    project
        .run(&["lint"])
        .code(exit::SUCCESS)
        .stdout_has("no problems");
}

#[test]
fn exit_1_when_migrations_are_pending() {
    let db = TestDb::new("exit1");
    let project = two_migrations();
    project
        .run_on(&db, &["migrate", "up", "--steps", "1"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::PENDING)
        .stdout_has("1 applied, 1 pending, 2 total");
}

#[test]
fn exit_2_when_not_initialised_and_status_creates_nothing() {
    let db = TestDb::new("exit2");
    let project = two_migrations();
    let before = db.catalog_snapshot();
    // Twice: a status that created the ledger (as confiture (Python) does) would flip to 1.
    for _ in 0..2 {
        project
            .run_on(&db, &["migrate", "status"])
            .code(exit::NOT_INITIALISED)
            .stdout_has("0 applied, 2 pending, 2 total");
        project
            .run_on(&db, &["migrate", "status", "--format", "json"])
            .code(exit::NOT_INITIALISED);
    }
    assert_eq!(
        db.catalog_snapshot(),
        before,
        "status wrote to the database"
    );
    assert_eq!(db.ledger(), None);
}

#[test]
fn exit_3_fast_when_the_port_is_wrong() {
    let project = two_migrations();
    let run = project.run(&[
        "migrate",
        "status",
        "--database-url",
        "postgresql://postgres@127.0.0.1:1/app",
    ]);
    run.code(exit::CONNECTION)
        .stderr_has("127.0.0.1:1")
        .stderr_has("help:");
    assert!(
        run.elapsed < Duration::from_secs(5),
        "a refused connection must fail at once\n{}",
        run.dump()
    );
    // `up` too: nothing is attempted without a connection.
    project
        .run(&[
            "migrate",
            "up",
            "--database-url",
            "postgresql://postgres@127.0.0.1:1/app",
        ])
        .code(exit::CONNECTION);
}

#[test]
fn exit_3_when_the_database_does_not_exist() {
    let db = TestDb::unborn("exit3");
    let project = two_migrations();
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::CONNECTION)
        .stderr_has(&format!("database \"{}\" does not exist", db.name))
        .stderr_has("help:");
    assert!(!db.exists(), "status created the database");
}

#[test]
fn exit_4_when_a_migration_fails_naming_file_and_line() {
    let db = TestDb::new("exit4");
    let project = two_migrations();
    // The server gives no position for this error (it is found when the statement runs, not
    // when it is parsed), and the file has several statements: the statement markers the
    // engine sends between them name the line, without running the migration a second time.
    project.migration(
        "003_broken",
        "-- a comment\nCREATE TABLE ok (a int);\nALTER TABLE nope ADD COLUMN b int;\n",
        "DROP TABLE ok;\n",
    );
    let run = project.run_on(&db, &["migrate", "up"]);
    run.code(exit::MIGRATION_FAILED)
        .stderr_has("db/migrations/003_broken.up.sql:3:1 (statement 2 of 2)")
        .stderr_has("\"nope\" does not exist");
    assert_eq!(
        db.ledger().unwrap(),
        ["001:create_tb_user", "002:add_bio_to_users"]
    );
    assert!(!db.has_relation("ok"), "the failed migration left a table");

    // A constraint violated by data, on line 5 of a file whose first statement succeeds.
    project.migration(
        "003_broken",
        "CREATE TABLE ok (a int);\nINSERT INTO ok VALUES (1);\n\n-- now the users\nINSERT INTO tb_user (pk_user) VALUES (1), (1);\n",
        "DROP TABLE ok;\n",
    );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("db/migrations/003_broken.up.sql")
        .stderr_has("duplicate key");
    assert!(!db.has_relation("ok"), "the failed migration left a table");

    // Without a position, the column is where the failing statement starts: after another
    // statement on its line, or indented (it was always 1). Batched, and without a
    // transaction, where each statement is sent alone.
    for (up, at) in [
        (
            "CREATE TABLE ok (a int); SELECT 1 / 0;\n",
            "003_broken.up.sql:1:26 (statement 2 of 2)",
        ),
        (
            "CREATE TABLE ok (a int);\n\n  SELECT 1 / 0;\n",
            "003_broken.up.sql:3:3 (statement 2 of 2)",
        ),
        (
            "-- confiture:no-transaction\n-- confiture:allow(no-transaction-multiple-statements)\n\
             CREATE INDEX CONCURRENTLY tb_user_i ON tb_user (pk_user);  SELECT 1 / 0;\n",
            "003_broken.up.sql:3:60 (statement 2 of 2)",
        ),
    ] {
        project.migration("003_broken", up, "DROP TABLE ok;\n");
        project
            .run_on(&db, &["migrate", "up"])
            .code(exit::MIGRATION_FAILED)
            .stderr_has(at)
            .stderr_has("division by zero");
        db.connect()
            .batch_execute("DROP INDEX IF EXISTS tb_user_i")
            .expect("drop the index");
    }

    // A position the server does give: line and column from it.
    project.migration(
        "003_broken",
        "CREATE TABLE ok (a int);\n\nSELECT a, nope FROM ok;\n",
        "DROP TABLE ok;\n",
    );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("db/migrations/003_broken.up.sql:3:11");
    assert_eq!(db.ledger().unwrap().len(), 2);
}

#[test]
fn exit_5_when_lint_finds_errors() {
    let project = two_migrations();
    project.write("db/migrations/003_no_down.up.sql", "SELECT 1;\n");
    project
        .run(&["lint"])
        .code(exit::INVALID)
        .stderr_has("003_no_down.up.sql");
}

#[test]
fn exit_5_when_the_environment_file_is_invalid() {
    let project = two_migrations();
    project.write("db/environments/broken.yaml", "database_url: [unclosed\n");
    project
        .run(&["migrate", "status", "--env", "broken"])
        .code(exit::INVALID)
        .stderr_has("broken.yaml");
    project
        .run(&["migrate", "status", "-c", "db/environments/broken.yaml"])
        .code(exit::INVALID)
        .stderr_has("broken.yaml");
    // A file that does not exist is an error, never "unknown" with exit 0.
    project
        .run(&["migrate", "status", "-c", "db/environments/absent.yaml"])
        .code(exit::INVALID)
        .stderr_has("absent.yaml");
}

#[test]
fn exit_5_when_status_reads_a_broken_migrations_dir() {
    let db = TestDb::new("exit5");
    let project = two_migrations();
    project.remove("db/migrations/002_add_bio_to_users.down.sql");
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::INVALID)
        .stderr_has("002_add_bio_to_users.up.sql");
}

/// When several codes apply, `status` exits with the first of 3, 5, 2, 7, 1 (the README's
/// order), each case showing the others too.
#[test]
fn status_exits_with_the_first_code_that_applies() {
    let db = TestDb::new("exitorder");
    let project = two_migrations();
    // Not initialised, and the files have errors: 5.
    project.remove("db/migrations/002_add_bio_to_users.down.sql");
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::INVALID)
        .stdout_has("not initialised");
    // Diverged (001 edited after it ran), pending, and the files have errors: 5.
    project
        .run_on(&db, &["migrate", "up", "--target", "1"])
        .code(exit::SUCCESS);
    project.write(
        "db/migrations/001_create_tb_user.up.sql",
        "CREATE TABLE tb_user (pk_user BIGINT PRIMARY KEY);\n",
    );
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::INVALID)
        .stdout_has("modified");
    // Diverged and pending: 7.
    project.write(
        "db/migrations/002_add_bio_to_users.down.sql",
        "ALTER TABLE tb_user DROP COLUMN bio;\n",
    );
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::DIVERGED)
        .stdout_has("pending");
    // No connection, whatever else: 3.
    project
        .run(&[
            "migrate",
            "status",
            "--database-url",
            "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=2",
        ])
        .code(exit::CONNECTION);
}

/// `status` exits 6 when another session's lock on the ledger outlasts its wait: by default
/// the environment's `migration.lock_timeout` (5 s), as before `--lock-wait`; with
/// `--lock-wait`, that long, as the writing commands wait. Its help lists 6 (and 3).
#[test]
fn exit_6_when_status_waits_for_a_locked_ledger() {
    let db = TestDb::new("exit6status");
    let project = two_migrations();
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let mut holder = db.connect();
    holder
        .batch_execute("BEGIN; LOCK TABLE tb_confiture IN ACCESS EXCLUSIVE MODE")
        .expect("lock the ledger");
    let run = project.run_on(&db, &["migrate", "status", "--lock-wait", "1s"]);
    run.code(exit::LOCK_TIMEOUT)
        .stderr_has("another session holds a lock on it (waited 1s)");
    assert!(
        run.elapsed >= Duration::from_millis(900) && run.elapsed < Duration::from_secs(4),
        "waited about 1 s\n{}",
        run.dump()
    );
    let run = project.run_on(&db, &["migrate", "status"]);
    run.code(exit::LOCK_TIMEOUT).stderr_has("(waited 5s)");
    assert!(run.elapsed >= Duration::from_millis(4900), "{}", run.dump());
    holder.batch_execute("ROLLBACK").expect("unlock");
    project
        .run_on(&db, &["migrate", "status", "--lock-wait", "1s"])
        .code(exit::SUCCESS);
    project
        .run(&["migrate", "status", "--help"])
        .code(exit::SUCCESS)
        .stdout_has("3 no connection")
        .stdout_has("6 ledger locked by another session")
        .stdout_has("--lock-wait <DURATION>");
}

#[test]
fn exit_6_when_another_session_holds_the_lock() {
    let db = TestDb::new("exit6");
    let project = two_migrations();
    let (_holder, pid) = db.hold_migration_lock("exit6-holder");
    let run = project.run_on(&db, &["migrate", "up", "--lock-timeout", "2s"]);
    run.code(exit::LOCK_TIMEOUT)
        .stderr_has(&format!("pid {pid}"))
        .stderr_has("exit6-holder");
    assert!(
        run.elapsed >= Duration::from_millis(1900) && run.elapsed < Duration::from_secs(10),
        "the lock was waited for about 2 s\n{}",
        run.dump()
    );
    assert_eq!(db.ledger(), None, "nothing ran without the lock");

    // In JSON: one document whose error says so.
    let run = project.run_on(
        &db,
        &[
            "migrate",
            "up",
            "--lock-timeout",
            "300ms",
            "--format",
            "json",
        ],
    );
    run.code(exit::LOCK_TIMEOUT);
    let doc = run.json();
    assert_eq!(doc["errors"][0]["kind"], "lock_timeout", "{doc}");
    assert_eq!(doc["applied"], serde_json::json!([]));

    // status reads without the lock: it never waits for a run in progress (waiting would
    // take the default 30 s lock wait and end in exit 6; the bound leaves a loaded machine room).
    let run = project.run_on(&db, &["migrate", "status"]);
    run.code(exit::NOT_INITIALISED);
    assert!(run.elapsed < Duration::from_secs(10), "{}", run.dump());
}

/// `migrate generate` whose next version other `generate` runs keep claimed (a claim file too
/// young to be a killed run's, `.confiture-generate-<V>.claim`) gives up after its wait with
/// exit 6, a claim not acquired in time, as a lock is; it exited 5, "invalid configuration or
/// migration files", which sent scripts to fix files instead of trying again. The claim, which
/// may be a run killed a moment ago, is named with its age and the `rm` that removes it.
#[test]
fn exit_6_when_other_generates_keep_the_next_version_claimed() {
    let project = Project::new();
    let claim = project.path("db/migrations/.confiture-generate-1.claim");
    std::fs::write(&claim, "").expect("create the claim");
    project
        .run(&["migrate", "generate", "a"])
        .code(exit::LOCK_TIMEOUT)
        .stderr_has("busy for")
        .stderr_has(".confiture-generate-1.claim (")
        .stderr_has("s old) was left by one that did not finish")
        .stderr_has("rm ");
    std::fs::remove_file(&claim).expect("remove the claim");
    project
        .run(&["migrate", "generate", "a"])
        .code(exit::SUCCESS);
}

#[test]
fn exit_7_when_an_applied_migration_was_edited() {
    let db = TestDb::new("exit7m");
    let project = two_migrations();
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project.write(
        "db/migrations/002_add_bio_to_users.up.sql",
        "ALTER TABLE tb_user ADD COLUMN bio VARCHAR(200);\n",
    );
    project.migration("003_more", "SELECT 1;\n", "SELECT 1;\n");
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::DIVERGED)
        .stderr_has("002");
    assert_eq!(db.ledger().unwrap().len(), 2, "up ran despite the edit");
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::DIVERGED)
        .stdout_has("modified");
}

#[test]
fn exit_7_when_an_applied_migration_is_missing() {
    let db = TestDb::new("exit7x");
    let project = two_migrations();
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project
        .remove("db/migrations/002_add_bio_to_users.up.sql")
        .remove("db/migrations/002_add_bio_to_users.down.sql");
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::DIVERGED)
        .stdout_has("missing");
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::DIVERGED)
        .stderr_has("002");
    assert_eq!(db.ledger().unwrap().len(), 2);
}

#[test]
fn exit_7_when_a_pending_migration_is_out_of_order() {
    let db = TestDb::new("exit7o");
    let project = two_migrations();
    project.migration(
        "003_create_tb_post",
        "CREATE TABLE tb_post (pk_post INTEGER PRIMARY KEY);\n",
        "DROP TABLE tb_post;\n",
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    // 002 arrives "late" (as from a merge): undo it by hand, leaving 003 applied.
    db.connect()
        .batch_execute(
            "ALTER TABLE tb_user DROP COLUMN bio; DELETE FROM tb_confiture WHERE version = '002';",
        )
        .expect("forget 002");
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::DIVERGED)
        .stdout_has("out of order")
        // The pending one is named as pending (it read as the newest applied).
        .stderr_has("pending migrations 002 are older than the newest applied one");
    // After a merge the pending one is usually main's, applied elsewhere: renumbering it is
    // for a migration applied nowhere yet, and `status` and `up` say so with one text. Both
    // read the ledger: it is not applied here, which they say, rather than "only if it is not
    // applied anywhere yet", keeping the caution for other databases.
    let caveat = "otherwise, as it is not applied here, renumber it above 003 (rename both \
                  files) only if no other database applied it either — usually your own, \
                  unmerged one; one that came from another branch may already be applied \
                  elsewhere: apply it here with `--allow-out-of-order` (`cargo confiture \
                  migrate up --allow-out-of-order --database-url <URL>`)";
    project
        .run_on(&db, &["migrate", "status"])
        .stderr_has(caveat)
        .stderr_lacks("not applied anywhere yet");
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::DIVERGED)
        .stderr_has("002")
        .stderr_has(caveat)
        .stderr_lacks("not applied anywhere yet");
    project
        .run_on(&db, &["migrate", "up", "--allow-out-of-order"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::SUCCESS);
}

#[test]
fn exit_8_when_rolling_back_an_irreversible_migration() {
    let db = TestDb::new("exit8");
    let project = two_migrations();
    project.migration(
        "003_drop_bio",
        "ALTER TABLE tb_user DROP COLUMN bio;\n",
        "-- confiture:irreversible\n-- the column's data is gone\n",
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::IRREVERSIBLE)
        .stderr_has("003_drop_bio");
    assert_eq!(db.ledger().unwrap().len(), 3, "down rolled something back");
}

#[test]
fn exit_10_when_the_targets_of_a_fleet_end_with_different_codes() {
    // One target with a pending migration (1), one never migrated (2): a fleet's status
    // cannot be both, so it is 10, and each target's own code is in the JSON.
    let pending = TestDb::new("exit10p");
    let fresh = TestDb::new("exit10f");
    let project = two_migrations();
    project
        .run_on(&pending, &["migrate", "up", "--steps", "1"])
        .code(exit::SUCCESS);
    project.write(
        "tenants.txt",
        format!("{}\n{}\n", pending.url(), fresh.name),
    );
    let run = project.run_on(
        &pending,
        &[
            "migrate",
            "status",
            "--targets",
            "tenants.txt",
            "--format",
            "json",
        ],
    );
    run.code(exit::FLEET_MIXED);
    let doc = run.json();
    assert_eq!(doc["summary"]["exit_code"], exit::FLEET_MIXED);
    assert_eq!(doc["targets"][0]["exit_code"], exit::PENDING);
    assert_eq!(doc["targets"][1]["exit_code"], exit::NOT_INITIALISED);
    // The same codes shared by every target that is not 0 are the fleet's own.
    project
        .run_on(&pending, &["migrate", "up", "--targets", "tenants.txt"])
        .code(exit::SUCCESS);
    project
        .run_on(&pending, &["migrate", "status", "--targets", "tenants.txt"])
        .code(exit::SUCCESS);
}

#[test]
fn exit_9_when_verify_finds_a_down_that_does_not_restore_the_schema() {
    let db = TestDb::unborn("exit9v");
    let project = two_migrations();
    project
        .run_on(&db, &["migrate", "verify"])
        .code(exit::SUCCESS);
    project.migration(
        "003_index_bio",
        "CREATE INDEX idx_tb_user_bio ON tb_user (bio);\n",
        "SELECT 1; -- forgets the index\n",
    );
    project
        .run_on(&db, &["migrate", "verify"])
        .code(exit::SCHEMA_CHECK_FAILED)
        .stdout_has("index public.idx_tb_user_bio: left behind by 003_index_bio.down.sql");
}

#[test]
fn exit_9_when_drift_finds_the_live_database_changed_by_hand() {
    let db = TestDb::new("exit9d");
    let project = two_migrations();
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "drift"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute("ALTER TABLE tb_user DROP COLUMN bio")
        .unwrap();
    project
        .run_on(&db, &["migrate", "drift"])
        .code(exit::SCHEMA_CHECK_FAILED)
        .stdout_has("column public.tb_user.bio: missing from the live database");
}

/// 130 is tested where it happens: `cli_verify.rs`, Ctrl-C during `migrate verify`
/// (`ctrl_c_during_verify_drops_the_scratch_database`). Here: SIGTERM during `drift`.
#[test]
fn exit_130_when_drift_is_interrupted() {
    let db = TestDb::new("exit130");
    let project = confiture_tests::slow_project();
    // Applied by hand with its ledger row: `drift` then replays the slow migration.
    project
        .run_on(&db, &["migrate", "baseline", "--through", "1"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute("CREATE TABLE t (a int)")
        .unwrap();
    let url = db.url();
    let (child, _) = confiture_tests::spawn_asleep_on_scratch(
        &project,
        &[
            "migrate",
            "drift",
            "--format",
            "json",
            "--database-url",
            &url,
        ],
    );
    let prefix = confiture_tests::scratch_prefix(child.id());
    confiture_tests::send_signal(child.id(), "-TERM");
    let run = Run::reaped(child);
    run.code(exit::INTERRUPTED)
        .stderr_has("interrupted: dropped the scratch database");
    // With --format json, stdout is still one document: the report, the interruption in its
    // errors, the scratch database (dropped, as stderr says) named.
    let json = run.json();
    assert_eq!(json["errors"][0]["kind"], "interrupted", "{}", run.dump());
    assert_eq!(json["errors"][0]["exit_code"], 130);
    assert!(json["scratch_databases"][0]
        .as_str()
        .unwrap()
        .starts_with("confiture_scratch_"));
    let left: i64 = confiture_tests::admin()
        .query_one(
            "SELECT count(*) FROM pg_database WHERE starts_with(datname::text, $1)",
            &[&prefix],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        left,
        0,
        "a scratch database was left behind\n{}",
        run.dump()
    );
}

/// A result that cannot be written (`> /dev/full`: ENOSPC, or an I/O error) is no success:
/// `status`, `up` and `down`, text and JSON, exited 0 with their report lost (h14 D8). What
/// the run did stands and the error on stderr says so; exit 74 instead of 0. A run with a code
/// of its own (`status`'s pending) keeps it, the error said all the same; a closed pipe (`|
/// head`) is no error.
#[test]
fn exit_74_when_the_result_cannot_be_written_and_only_instead_of_0() {
    let db = TestDb::new("exit74");
    let project = two_migrations();
    let url = db.url();
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("open /dev/full")
    };
    let lost = |args: &[&str]| {
        Run::of(
            project
                .cli()
                .args(args)
                .args(["--database-url", &url])
                .stdout(full()),
        )
    };
    let unwritten = "its result could not be written to stdout: No space left on device";
    for format in [&[][..], &["--format", "json"][..]] {
        let with = |args: &[&'static str]| [args, format].concat();
        lost(&with(&["migrate", "up"]))
            .code(exit::OUTPUT_FAILED)
            .stderr_has("`migrate up` completed: the migrations it applied stay applied")
            .stderr_has(unwritten);
        assert_eq!(db.ledger().map(|rows| rows.len()), Some(2), "{format:?}");
        lost(&with(&["migrate", "status"]))
            .code(exit::OUTPUT_FAILED)
            .stderr_has("`migrate status` completed")
            .stderr_has(unwritten);
        lost(&with(&["migrate", "down", "--steps", "2"]))
            .code(exit::OUTPUT_FAILED)
            .stderr_has("`migrate down` completed: the migrations it rolled back stay rolled back")
            .stderr_has(unwritten);
        assert_eq!(db.ledger(), Some(vec![]), "{format:?}");
        // Its own verdict on the database wins.
        lost(&with(&["migrate", "status"]))
            .code(exit::PENDING)
            .stderr_has("could not be written to stdout: No space left on device");
        lost(&with(&["lint"]))
            .code(exit::OUTPUT_FAILED)
            .stderr_has(unwritten);
    }
    // A reader that went away (`| head`): nothing to report.
    let mut child = project
        .cli()
        .args(["migrate", "up", "--database-url", &url, "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the CLI under test");
    drop(child.stdout.take());
    let run = Run::reaped(child);
    run.code(exit::SUCCESS).stderr_lacks("could not be written");
    assert_eq!(db.ledger().map(|rows| rows.len()), Some(2));
}

/// The help and the version written to a stdout that fails (`> /dev/full`) exited 0, the
/// text lost, while a closed stdout exited 74: a write that fails is said and exits 74 too;
/// a reader that went away is still no error.
#[test]
fn exit_74_when_the_help_or_version_cannot_be_written() {
    let project = Project::new();
    for args in [
        &["--help"][..],
        &["-h"],
        &["migrate", "up", "--help"],
        &["--version"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("open /dev/full");
        Run::of(project.cli().args(args).stdout(full))
            .code(exit::OUTPUT_FAILED)
            .stderr_has("could not be written to stdout: No space left on device");
        let mut child = project
            .cli()
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the CLI under test");
        drop(child.stdout.take());
        let run = Run::reaped(child);
        run.code(exit::SUCCESS).stderr_lacks("could not be written");
    }
}

#[test]
fn exit_64_for_usage_errors_never_2() {
    let db = TestDb::new("exit64");
    let project = two_migrations();
    let url = db.url();
    for args in [
        vec!["migrate", "up", "--bogus"],
        vec!["migrate", "up", "--steps", "0", "--database-url", &url],
        vec!["migrate", "down", "--steps", "0", "--database-url", &url],
        vec!["migrate", "up", "--steps", "-1", "--database-url", &url],
        vec!["migrate", "up", "--steps", "two", "--database-url", &url],
        vec!["migrate", "up", "--target", "abc", "--database-url", &url],
        vec![
            "migrate",
            "status",
            "--env",
            "local",
            "--database-url",
            &url,
        ],
        vec!["migrate", "status", "-c", "x.yaml", "--database-url", &url],
        vec!["migrate", "status", "--format", "xml"],
        vec![
            "migrate",
            "up",
            "--lock-timeout",
            "soon",
            "--database-url",
            &url,
        ],
        vec!["migrate", "generate"],
        vec!["migrate", "frobnicate"],
        vec!["migrate"],
        vec![],
    ] {
        let run = project.run(&args);
        assert_eq!(
            run.code,
            i32::from(exit::USAGE),
            "`{}` is a usage error\n{}",
            args.join(" "),
            run.dump()
        );
    }
    assert_eq!(db.ledger(), None, "a usage error touched the database");
}

#[test]
fn both_invocation_forms_and_help() {
    let db = TestDb::new("forms");
    let project = two_migrations();
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    // As cargo runs it: `cargo-confiture confiture migrate status`.
    let cargo_form = project.run_on(&db, &["confiture", "migrate", "status"]);
    cargo_form.code(exit::SUCCESS);
    let direct = project.run_on(&db, &["migrate", "status"]);
    direct.code(exit::SUCCESS);
    assert_eq!(cargo_form.stdout, direct.stdout);
    for args in [
        &["--help"][..],
        &["confiture", "--help"],
        &["migrate", "--help"],
        &["confiture", "migrate", "up", "--help"],
        &["--version"],
    ] {
        let run = Run::of(cli().args(args));
        run.code(exit::SUCCESS);
        assert!(!run.stdout.is_empty(), "{args:?} printed nothing");
    }
    assert!(binary().is_file());
}

/// The CLI under test in `project` with `args`, run by `sh` with `redirect` (`>&-` closes
/// stdout): `Command` itself cannot start a process with a descriptor closed.
fn run_redirected(project: &Project, redirect: &str, args: &[&str]) -> Run {
    let cli = project.cli();
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg(format!("exec \"$0\" \"$@\" {redirect}"))
        .arg(cli.get_program())
        .args(args);
    if let Some(dir) = cli.get_current_dir() {
        sh.current_dir(dir);
    }
    for (name, value) in cli.get_envs() {
        match value {
            Some(value) => sh.env(name, value),
            None => sh.env_remove(name),
        };
    }
    Run::of(&mut sh)
}

/// Run with stdout closed (`>&-`), a command exited 0 with its result lost: Rust's start-up
/// code fills a closed descriptor with `/dev/null` before `main`, silently. The CLI now
/// notes, before that, which standard descriptor was closed: a command with a result to
/// write fails with exit 74 (its own verdict kept, as for `> /dev/full`) and says on stderr
/// that stdout was closed. A closed stderr or stdin changes nothing.
#[test]
fn exit_74_when_stdout_is_closed() {
    let db = TestDb::new("exit74closed");
    let project = two_migrations();
    let url = db.url();
    let closed = "its result could not be written to stdout: stdout was closed";
    // Its own verdict on the database (no ledger yet) wins, the error said all the same.
    run_redirected(
        &project,
        ">&-",
        &["migrate", "status", "--database-url", &url],
    )
    .code(exit::NOT_INITIALISED)
    .stderr_has("the run's result could not be written to stdout: stdout was closed");
    for format in [&[][..], &["--format", "json"][..]] {
        let with = |args: &[&'static str]| -> Vec<&str> {
            [args, &["--database-url", url.as_str()], format].concat()
        };
        run_redirected(&project, ">&-", &with(&["migrate", "up"]))
            .code(exit::OUTPUT_FAILED)
            .stderr_has("`migrate up` completed: the migrations it applied stay applied")
            .stderr_has(closed);
        assert_eq!(db.ledger().map(|rows| rows.len()), Some(2), "{format:?}");
        run_redirected(&project, ">&-", &with(&["migrate", "status"]))
            .code(exit::OUTPUT_FAILED)
            .stderr_has("`migrate status` completed")
            .stderr_has(closed);
        // stdin and stderr closed: nothing of the result is lost.
        run_redirected(&project, "<&- 2>&-", &with(&["migrate", "status"]))
            .code(exit::SUCCESS)
            .stdout_has("add_bio_to_users");
    }
    run_redirected(&project, ">&-", &["--help"])
        .code(exit::OUTPUT_FAILED)
        .stderr_has("stdout was closed");
    // Every command with a result: files-only ones and `up` creating its database too.
    run_redirected(&project, ">&-", &["lint"])
        .code(exit::OUTPUT_FAILED)
        .stderr_has("`lint` completed")
        .stderr_has(closed);
    let created = TestDb::unborn("exit74created");
    run_redirected(
        &project,
        ">&-",
        &[
            "migrate",
            "up",
            "--create-database",
            "--format",
            "json",
            "--database-url",
            &created.url(),
        ],
    )
    .code(exit::OUTPUT_FAILED)
    .stderr_has("the migrations it applied stay applied")
    .stderr_has(closed);
    assert_eq!(created.ledger().map(|rows| rows.len()), Some(2));
    // `>/dev/null` is a stdout: the result is thrown away, as asked.
    run_redirected(
        &project,
        ">/dev/null",
        &["migrate", "status", "--database-url", &url],
    )
    .code(exit::SUCCESS);
    // Last: its empty pair would stop the runs above.
    run_redirected(&project, ">&-", &["migrate", "generate", "more"])
        .code(exit::OUTPUT_FAILED)
        .stderr_has("`migrate generate` completed: the files it wrote stay")
        .stderr_has(closed);
}

/// With stdout closed (`>&-`), the next file or socket the process opens would get fd 1 and
/// receive its results (the PostgreSQL connection among them): fd 1 is `/dev/null` from the
/// start, while the run connects too.
#[cfg(target_os = "linux")]
#[test]
fn a_closed_stdout_is_never_reused_by_a_connection() {
    let project = two_migrations();
    let cli = project.cli();
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg("exec \"$0\" \"$@\" >&-")
        .arg(cli.get_program())
        .args([
            "migrate",
            "status",
            "--wait-for-server",
            "3s",
            "--database-url",
            "postgresql://postgres@127.0.0.1:1/nowhere",
        ])
        .stderr(std::process::Stdio::null());
    for (name, value) in cli.get_envs() {
        match value {
            Some(value) => sh.env(name, value),
            None => sh.env_remove(name),
        };
    }
    if let Some(dir) = cli.get_current_dir() {
        sh.current_dir(dir);
    }
    let mut child = sh.spawn().expect("start the CLI");
    let fd1 = format!("/proc/{}/fd/1", child.id());
    let mut seen = Vec::new();
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Ok(target) = std::fs::read_link(&fd1) {
            seen.push(target);
        }
    }
    let _ = child.wait();
    assert!(!seen.is_empty(), "fd 1 was never seen");
    assert!(
        seen.iter().all(|t| t == std::path::Path::new("/dev/null")),
        "{seen:?}"
    );
}
