//! A `migrate up` killed with SIGKILL in the middle of a migration (a deploy timeout, the OOM
//! killer): the server notices within seconds (`client_connection_check_interval`), rolls the
//! migration back, releases the lock, and the next run applies it.

use std::time::{Duration, Instant};

use confiture::exit;
use confiture_test_support::reaper::DropRoleLater;
use confiture_tests::{wait_until, Project, TestDb};

const SLOW_UP: &str = "CREATE TABLE t_partial (a int);\nSELECT pg_sleep(30);\n";

/// `migrate up` on `db`, spawned, and the pid of its backend once a migration sleeps in
/// `pg_sleep` (the kill then lands at a known point, never a timing race).
fn up_until_it_sleeps(project: &Project, db: &TestDb) -> (std::process::Child, i32) {
    project.spawn_until_it_waits(db, &["migrate", "up"], "PgSleep")
}

fn backend_alive(db: &TestDb, pid: i32) -> bool {
    db.connect()
        .query_opt("SELECT 1 FROM pg_stat_activity WHERE pid = $1", &[&pid])
        .expect("read pg_stat_activity")
        .is_some()
}

/// [`up_until_it_sleeps`], then the runner killed (SIGKILL) and reaped, and its backend gone.
fn kill_up_while_it_sleeps(project: &Project, db: &TestDb) {
    kill_when_it_waits(project, db, &["migrate", "up"], "PgSleep");
}

/// [`Project::spawn_until_it_waits`], then [`kill_and_reap`].
fn kill_when_it_waits(project: &Project, db: &TestDb, args: &[&str], wait_event: &str) {
    let (child, pid) = project.spawn_until_it_waits(db, args, wait_event);
    kill_and_reap(child, db, pid);
}

/// The runner `child` killed (SIGKILL, `kill -9`) and reaped, and its backend `pid` gone.
fn kill_and_reap(mut child: std::process::Child, db: &TestDb, pid: i32) {
    child.kill().expect("kill the runner");
    child.wait().expect("reap the runner");
    assert!(
        wait_until(Duration::from_secs(15), || !backend_alive(db, pid)),
        "backend {pid} outlived its client"
    );
}

/// [`table_then_ix`] whose `002_ix` builds an index, then sleeps: `up` killed in the sleep
/// ([`kill_up_while_it_sleeps`]), the build committed, the second statement's fate unknown.
fn killed_after_the_build(db: &TestDb) -> Project {
    let project = table_then_ix(
        "CREATE INDEX CONCURRENTLY t_ix ON t (id);\nSELECT pg_sleep(30);\n",
        "DROP INDEX CONCURRENTLY t_ix;\n",
    );
    kill_up_while_it_sleeps(&project, db);
    project
}

/// The up file of a no-transaction `002_ix` ([`table_then_ix`]) whose first statement commits
/// and whose second fails.
const IX_THEN_FAIL: &str =
    "CREATE INDEX CONCURRENTLY t_ix ON t (id);\nCREATE INDEX CONCURRENTLY t_ix2 ON nope (id);\n";

/// A project of `001_t` (table `t`) and `002_ix`, a `no-transaction` migration whose up and
/// down files run `up` and `down`.
fn table_then_ix(up: &str, down: &str) -> Project {
    let project = Project::new();
    project
        .migration("001_t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n")
        .migration(
            "002_ix",
            &format!("-- confiture:no-transaction\n{up}"),
            &format!("-- confiture:no-transaction\n{down}"),
        );
    project
}

#[test]
fn a_killed_run_leaves_nothing_behind_and_the_next_run_applies() {
    let db = TestDb::new("kill");
    let project = Project::new();
    project
        .migration(
            "001_create_tb_user",
            "CREATE TABLE tb_user (pk_user int PRIMARY KEY);\n",
            "DROP TABLE tb_user;\n",
        )
        .migration("002_slow", SLOW_UP, "DROP TABLE t_partial;\n");

    let (mut child, pid) = up_until_it_sleeps(&project, &db);
    assert_eq!(
        db.migration_lock_holders(),
        [pid],
        "the runner holds the lock"
    );

    // std's Child::kill is SIGKILL: no destructor, no ROLLBACK, no goodbye to the server.
    child.kill().expect("kill the runner");
    let status = child.wait().expect("reap the runner");
    assert_eq!(status.code(), None, "the runner was killed by a signal");

    let killed_at = Instant::now();
    assert!(
        wait_until(Duration::from_secs(15), || !backend_alive(&db, pid)),
        "backend {pid} still runs {:?} after its client died; backends: {:?}",
        killed_at.elapsed(),
        db.other_backends()
    );
    // client_connection_check_interval is 1 s; allow a loaded machine some slack.
    assert!(
        killed_at.elapsed() < Duration::from_secs(10),
        "the server took {:?} to notice the dead client",
        killed_at.elapsed()
    );

    assert_eq!(db.ledger().expect("the ledger"), ["001:create_tb_user"]);
    assert!(
        !db.has_relation("t_partial"),
        "the killed migration left its table"
    );
    assert!(db.has_relation("tb_user"));
    assert!(
        db.migration_lock_holders().is_empty(),
        "the migration lock is still held"
    );

    // The next run applies it (made quick: the file is not applied anywhere, so editing it is fine).
    project.write(
        "db/migrations/002_slow.up.sql",
        SLOW_UP.replace("pg_sleep(30)", "pg_sleep(0)"),
    );
    project
        .run_on(&db, &["migrate", "up", "--lock-timeout", "5s"])
        .code(exit::SUCCESS)
        .stdout_has("applied 1 migration");
    assert_eq!(
        db.ledger().expect("the ledger"),
        ["001:create_tb_user", "002:slow"]
    );
    assert!(db.has_relation("t_partial"));
}

/// h18 F10: `kill -9` of `migrate up` while a `no-transaction` migration runs leaves what its
/// statements committed (the server finishes a `CREATE INDEX CONCURRENTLY` whose client died,
/// until it next checks the client) and no ledger row. `status` showed the migration plain
/// "pending" (exit 1) and the rerun ran it again blindly, failing on "already exists". Now
/// the run records that it started the migration (a marker beside the ledger, committed before
/// the first statement, advanced before each later one): `status` shows it `interrupted`
/// (exit 7, in the table and the JSON, with who, when and what committed), the library's
/// status too, and `up` refuses it, nothing run, with the safe ways on; the flag that runs it
/// again on purpose completes it and leaves no marker behind. Deterministic: the kill lands in
/// the `pg_sleep` after the build, which has committed.
#[test]
fn a_killed_no_transaction_migration_is_interrupted_until_a_person_decides() {
    let db = TestDb::new("kill_cic");
    let project = Project::new();
    let slow = "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY big_ix ON big (id);\nSELECT pg_sleep(30);\n";
    project
        .migration(
            "001_big",
            "CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 1000) g;\n",
            "DROP TABLE big;\n",
        )
        .migration(
            "002_ix",
            slow,
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY big_ix;\n",
        );
    kill_up_while_it_sleeps(&project, &db);
    assert!(
        db.has_relation("big_ix"),
        "the build committed before the kill"
    );
    assert_eq!(db.ledger().expect("the ledger"), ["001:big"]);

    // status: interrupted, exit 7, with what is known.
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("! interrupted")
        .stdout_has("1 applied, 1 pending, 2 total, 1 interrupted")
        .stdout_has("002_ix: a run started ")
        .stdout_has(" by postgres")
        .stdout_has("statement 1 committed; statement 2 of 2 was running: it may have committed")
        .stderr_has("`cargo confiture migrate baseline --through 002 --yes --database-url <URL>`")
        .stderr_has("migrate up --rerun-interrupted");
    let json = project.status_json_on(&db).code(exit::DIVERGED).json();
    assert_eq!(json["pending"], serde_json::json!(["002"]));
    assert_eq!(json["interrupted"], serde_json::json!(["002"]));
    assert_eq!(json["summary"]["interrupted"], 1);
    let line = &json["migrations"][1];
    assert_eq!(line["status"], "interrupted");
    assert_eq!(line["started"]["direction"], "up");
    assert_eq!(line["started"]["started_by"], "postgres");
    assert_eq!(line["started"]["statement"], 2);
    assert_eq!(line["started"]["statements"], 2);
    assert_eq!(line["started"]["checksum"], line["checksum"]);
    assert!(
        line["started"]["started_at"]
            .as_str()
            .is_some_and(|t| t.ends_with("+00:00")),
        "{line}"
    );
    assert!(json["migrations"][0].get("started").is_none(), "{json}");

    // The library says the same.
    let env = confiture::config::Environment::from_url(&db.url(), "test").unwrap();
    let mut migrator =
        confiture::Migrator::new(env, project.path("db/migrations"), Default::default());
    let report = migrator.status().expect("the library's status");
    assert_eq!(report.interrupted, ["002"]);
    assert_eq!(
        report.migrations[1].status,
        confiture::status::State::Interrupted { recorded: false }
    );
    assert_eq!(report.exit_code(), exit::DIVERGED);
    drop(migrator);

    // up refuses it, nothing run, naming the file, what is known and the safe ways on.
    project
        .up_on(&db)
        .code(exit::DIVERGED)
        .stderr_has("migration 002_ix was interrupted: a run started ")
        .stderr_has("it was not run again")
        .stderr_has("statement 1 committed; statement 2 of 2 was running")
        .stderr_has("db/migrations/002_ix.up.sql")
        .stderr_has("`cargo confiture migrate baseline --through 002 --yes --database-url <URL>`")
        .stderr_has("migrate up --rerun-interrupted")
        .stderr_lacks("already exists");
    assert_eq!(db.ledger().expect("the ledger"), ["001:big"]);

    // Following the help: statements safe to run twice, run again on purpose.
    project.write(
        "db/migrations/002_ix.up.sql",
        slow.replace("CONCURRENTLY big_ix", "CONCURRENTLY IF NOT EXISTS big_ix")
            .replace("pg_sleep(30)", "pg_sleep(0)"),
    );
    project
        .up_on(&db)
        .code(exit::DIVERGED)
        .stderr_has("its up file changed since that run");
    project
        .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
        .code(exit::SUCCESS);
    assert_eq!(db.ledger().expect("the ledger"), ["001:big", "002:ix"]);
    assert_eq!(markers(&db), 0, "the marker went with the ledger row");
    project.status_on(&db).code(exit::SUCCESS);
}

/// `status` of `project` on `db` exits `code` and lists no migration as interrupted.
#[track_caller]
fn status_says_nothing_interrupted(project: &Project, db: &TestDb, code: u8) {
    project.status_on(db).code(code).stdout_lacks("interrupted");
}

/// How many start markers are left beside the ledger.
fn markers(db: &TestDb) -> i64 {
    db.connect()
        .query_one("SELECT count(*) FROM public.tb_confiture_started", &[])
        .expect("the markers' table")
        .get(0)
}

/// The other way on: every statement committed, the migration is recorded without running it
/// (`baseline --through`), which settles the marker with the row. `drift` does not report the
/// markers' table, which the replay on its scratch database never makes.
///
/// `baseline --through` recorded the half-applied migration with nothing but
/// `recorded 1 migration`, deleting the marker, the only record that its statements after the
/// last committed one never ran. Refused without `--yes` (exit 64, dry run too, nothing
/// written), naming the run (who, when, what committed), as `abandon` names it; confirmed, the
/// text, the dry run and the JSON name it.
#[test]
fn an_interrupted_migration_recorded_by_baseline_is_settled() {
    let db = TestDb::new("kill_baseline");
    let project = killed_after_the_build(&db);
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stderr_has("migrate baseline --through 002 --yes");
    for args in [
        &["migrate", "baseline", "--through", "002"][..],
        &["migrate", "baseline", "--through", "002", "--dry-run"],
    ] {
        project
            .run_on(&db, args)
            .code(exit::USAGE)
            .stderr_has("baseline would record 002_ix as applied without running it, over its run left part-way")
            .stderr_has("002_ix: a run started ")
            .stderr_has("statement 1 committed; statement 2 of 2 was running")
            .stderr_has("migrate baseline --through 002 --yes");
        assert_eq!(markers(&db), 1, "{args:?}");
        assert_eq!(db.ledger().expect("the ledger"), ["001:t"], "{args:?}");
    }
    project
        .run_on(
            &db,
            &[
                "migrate",
                "baseline",
                "--through",
                "002",
                "--yes",
                "--dry-run",
            ],
        )
        .code(exit::SUCCESS)
        .stdout_has("would record 002_ix over its interrupted apply (a run started ")
        .stdout_has("statement 1 committed; statement 2 of 2 was running");
    project
        .run_on(
            &db,
            &[
                "migrate",
                "baseline",
                "--through",
                "002",
                "--yes",
                "--dry-run",
                "--format",
                "json",
            ],
        )
        .code(exit::SUCCESS)
        .stdout_has("\"recorded_over_interrupted\": [")
        .stdout_has("\"migration\": \"002_ix\"");
    assert_eq!(markers(&db), 1);
    project
        .run_on(&db, &["migrate", "baseline", "--through", "002", "--yes"])
        .code(exit::SUCCESS)
        .stdout_has("recorded 002_ix over its interrupted apply (a run started ")
        .stdout_has("its start marker was deleted");
    assert_eq!(markers(&db), 0);
    project.status_on(&db).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "drift"])
        .code(exit::SUCCESS);
    // Its rollback runs as any other, and leaves no marker either.
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::SUCCESS);
    assert_eq!(markers(&db), 0);
    assert!(!db.has_relation("t_ix"));
}

/// Without a kill: a no-transaction migration whose first statement fails committed nothing
/// and leaves no marker (pending, as before); one whose second statement fails after the first
/// committed leaves it (interrupted), and the help of that failure names the flag that runs it
/// again; a transactional migration never makes the markers' table.
#[test]
fn a_failed_no_transaction_migration_is_interrupted_only_once_a_statement_committed() {
    let db = TestDb::new("nt_marker_fail");
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n");
    project.up_on(&db).code(exit::SUCCESS);
    assert!(
        !db.has_relation("tb_confiture_started"),
        "a transactional migration pays nothing"
    );
    project.migration(
        "002_ix",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_ix ON nope (id);\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t_ix;\n",
    );
    project.up_on(&db).code(exit::MIGRATION_FAILED);
    assert_eq!(markers(&db), 0, "nothing committed: no marker");
    project.status_on(&db).code(exit::PENDING);

    project.write(
        "db/migrations/002_ix.up.sql",
        format!("-- confiture:no-transaction\n{IX_THEN_FAIL}"),
    );
    project
        .up_on(&db)
        .code(exit::MIGRATION_FAILED)
        .stderr_has("statement 1 was committed")
        .stderr_has("migrate up --rerun-interrupted");
    assert_eq!(markers(&db), 1);
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("statement 1 committed; statement 2 of 2 failed");
    project
        .up_on(&db)
        .code(exit::DIVERGED)
        .stderr_has("migration 002_ix was interrupted");
    project.write(
        "db/migrations/002_ix.up.sql",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_ix ON t (id);\n",
    );
    project
        .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
        .code(exit::SUCCESS);
    assert_eq!(markers(&db), 0);
    assert_eq!(db.ledger().expect("the ledger"), ["001:t", "002:ix"]);
}

/// A start marker said of the statement a run ended on "it may have committed" also when the
/// server had answered it with an error (its own transaction rolled back: nothing of it
/// committed). The run now records that answer on its marker, and every text read from the
/// marker (`status`, text and JSON, `up`'s refusal, `abandon`) says the statement failed; only a
/// run gone without an answer (killed) leaves "it may have committed". A markers' table made
/// before the column that records it is read as before, and says what it can: may have.
#[test]
fn a_marker_says_may_have_committed_only_of_a_statement_left_without_an_answer() {
    const FAILED: &str =
        "statement 1 committed; statement 2 of 2 failed: the server refused it, and nothing of \
         it committed";
    const UNKNOWN: &str =
        "statement 1 committed; statement 2 of 2 was running: it may have committed";
    // Answered with an error.
    let db = TestDb::new("marker_failed");
    let project = table_then_ix(IX_THEN_FAIL, "DROP INDEX CONCURRENTLY t_ix;\n");
    project.up_on(&db).code(exit::MIGRATION_FAILED);
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has(FAILED)
        .stdout_lacks("may have committed");
    let json = project.status_json_on(&db).code(exit::DIVERGED).json();
    assert_eq!(json["migrations"][1]["started"]["failed"], true, "{json}");
    project
        .up_on(&db)
        .code(exit::DIVERGED)
        .stderr_has(FAILED)
        .stderr_lacks("may have committed");
    project
        .run_on(&db, &["migrate", "abandon", "002"])
        .code(exit::SUCCESS)
        .stdout_has(FAILED);

    // Gone without an answer: what the statement did is not known.
    let db = TestDb::new("marker_unknown");
    let project = killed_after_the_build(&db);
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has(UNKNOWN)
        .stdout_lacks("failed");
    let json = project.status_json_on(&db).code(exit::DIVERGED).json();
    assert_eq!(json["migrations"][1]["started"]["failed"], false, "{json}");

    // A markers' table without the column: read as before, and cautious.
    let db = TestDb::new("marker_old_table");
    db.connect()
        .batch_execute(
            "CREATE TABLE tb_confiture_started (version text PRIMARY KEY, name text NOT NULL, \
             direction text NOT NULL, checksum text NOT NULL, \
             started_at timestamptz NOT NULL DEFAULT now(), \
             started_by text NOT NULL DEFAULT CURRENT_USER, client_addr text, \
             statement integer NOT NULL, statements integer NOT NULL)",
        )
        .expect("a markers' table of an earlier release");
    let project = table_then_ix(IX_THEN_FAIL, "DROP INDEX CONCURRENTLY t_ix;\n");
    project.up_on(&db).code(exit::MIGRATION_FAILED);
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has(UNKNOWN);
}

/// The same class without a kill: a `no-transaction` statement that finds what it makes
/// already there (an enum value, 42710), or, going down, what it removes already gone (an
/// index, 42704), says an earlier run may have committed it, never only "fix the file". The
/// wording follows the start marker: with none there, no run of this tool was stopped part-way
/// (it would be `interrupted`), so it names a run that marks nothing; in a
/// `--rerun-interrupted`, the interrupted run did commit it.
#[test]
fn a_no_transaction_statement_found_done_says_an_earlier_run_may_have_done_it() {
    let db = TestDb::new("nt_done");
    let project = Project::new();
    project
        .migration(
            "001_t",
            "CREATE TYPE mood AS ENUM ('sad');\nCREATE TABLE t (id int);\n",
            "DROP TABLE t;\nDROP TYPE mood;\n",
        )
        .migration(
            "002_v",
            "-- confiture:no-transaction\nALTER TYPE mood ADD VALUE 'happy';\nCREATE INDEX CONCURRENTLY t_ix ON t (id);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t_ix;\n",
        );
    project
        .run_on(&db, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute("ALTER TYPE mood ADD VALUE 'happy'")
        .expect("stand in for an earlier run");
    project
        .up_on(&db)
        .code(exit::MIGRATION_FAILED)
        .stderr_has("what statement 1 makes is already there: no run of 002_v is marked started")
        .stderr_has(
            "so what did it is not known: a run of 002_v left part-way and abandoned since, a run \
             that marks nothing (confiture (Python), a release before the start marker) stopped \
             before recording 002_v, or statements run by hand may have committed it",
        )
        .stderr_has("`cargo confiture migrate baseline --through 002 --database-url <URL>`")
        .stderr_lacks("help: fix db/migrations/002_v.up.sql")
        // No marker of ours: the earlier run may be another tool's, whose server check of a
        // dead client is not ours (`client_connection_check_interval`).
        .stderr_has(
            "(the server finishes a statement whose client died until it next checks the \
             client, within a second for a run of ours; for a run of another tool, confiture \
             (Python) say, or one that marks nothing, the server may finish the whole statement)",
        );

    // Down: the index already dropped by a rollback stopped before deleting the row.
    project.write(
        "db/migrations/002_v.up.sql",
        "-- confiture:no-transaction\nALTER TYPE mood ADD VALUE IF NOT EXISTS 'happy';\nCREATE INDEX CONCURRENTLY t_ix ON t (id);\n",
    );
    project.up_on(&db).code(exit::SUCCESS);
    db.connect()
        .batch_execute("DROP INDEX t_ix")
        .expect("stand in for an earlier rollback");
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has(
            "what statement 1 removes is already gone: no rollback of 002_v is marked started",
        )
        .stderr_has("may have committed it")
        .stderr_has("(`IF EXISTS`)")
        .stderr_lacks("help: fix db/migrations/002_v.down.sql");
    assert_eq!(db.ledger().expect("the ledger"), ["001:t", "002:v"]);

    // A run interrupted after its first statement committed, run again as it is: the
    // interrupted run did commit it, and is named as such.
    project.migration(
        "003_w",
        "-- confiture:no-transaction\nALTER TYPE mood ADD VALUE 'glad';\nCREATE INDEX CONCURRENTLY w_ix ON nope (id);\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS w_ix;\n",
    );
    project
        .up_on(&db)
        .code(exit::MIGRATION_FAILED)
        .stderr_has("migrate up --rerun-interrupted");
    assert_eq!(markers(&db), 1);
    project
        .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has(
            "what statement 1 makes is already there: the interrupted run of 003_w that this one \
             runs again (`--rerun-interrupted`) committed it",
        )
        .stderr_lacks("no run of 003_w is marked started")
        .stderr_lacks("may have committed it");
}

/// A role that may write the ledger but not create tables in its schema (PostgreSQL 15's
/// `public`): the marker's table cannot be made, so the no-transaction migration is refused
/// before anything of it runs (exit 5), its help the `CREATE TABLE` and `GRANT` a schema owner
/// runs once; after them the migration runs, and leaves no marker behind.
#[test]
fn a_role_that_cannot_create_the_markers_table_is_refused_before_anything_runs() {
    // Declared before the database that holds its objects: handed over after it.
    let guard = DropRoleLater(confiture_tests::unique("marker_app"));
    let role = &guard.0;
    let db = TestDb::new("nt_marker_priv");
    confiture_tests::admin()
        .batch_execute(&format!("CREATE ROLE \"{role}\" LOGIN"))
        .expect("create the role");
    let project = Project::new();
    project.migration(
        "001_t",
        &format!("CREATE TABLE t (id int);\nALTER TABLE t OWNER TO \"{role}\";\n"),
        "DROP TABLE t;\n",
    );
    project.up_on(&db).code(exit::SUCCESS);
    db.connect()
        .batch_execute(&format!(
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON tb_confiture TO \"{role}\""
        ))
        .expect("let the role write the ledger, not create tables");
    project.migration(
        "002_ix",
        "-- confiture:no-transaction\nVACUUM t;\n",
        "-- confiture:no-transaction\nVACUUM t;\n",
    );
    let url = confiture_tests::server().url_as(role, None, &db.name);
    let up_as_role = || project.run(&["migrate", "up", "--database-url", &url]);
    up_as_role()
        .code(exit::INVALID)
        .stderr_has("cannot record that migration 002_ix starts in public.tb_confiture_started")
        .stderr_has("it was not run")
        .stderr_has(
            "CREATE TABLE \"public\".\"tb_confiture_started\" (version pg_catalog.text PRIMARY KEY",
        );
    assert_eq!(
        db.ledger().expect("the ledger"),
        ["001:t"],
        "nothing of it ran"
    );
    db.connect()
        .batch_execute(&format!(
            "{}; GRANT SELECT, INSERT, UPDATE, DELETE ON tb_confiture_started TO \"{role}\"",
            confiture::ledger::StartedRun::create_sql(&Default::default())
        ))
        .expect("the schema owner's part");
    up_as_role().code(exit::SUCCESS);
    assert_eq!(markers(&db), 0);
    assert_eq!(db.ledger().expect("the ledger"), ["001:t", "002:ix"]);
}

/// The rollback of a no-transaction down file is marked the same way: one stopped after a
/// statement committed leaves the migration applied and `interrupted` (its rollback), `down`
/// refuses it until told to run it again, and `up` has nothing to do with it.
#[test]
fn an_interrupted_rollback_is_refused_by_down_until_rerun() {
    let db = TestDb::new("nt_marker_down");
    let project = table_then_ix(
        "CREATE INDEX CONCURRENTLY t_ix ON t (id);\n",
        "DROP INDEX CONCURRENTLY t_ix;\nDROP INDEX CONCURRENTLY nope_ix;\n",
    );
    project.up_on(&db).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("migrate down --rerun-interrupted");
    assert!(!db.has_relation("t_ix"), "statement 1 committed");
    let json = project.status_json_on(&db).code(exit::DIVERGED).json();
    assert_eq!(json["applied"], serde_json::json!(["001", "002"]));
    assert_eq!(json["migrations"][1]["status"], "interrupted");
    assert_eq!(json["migrations"][1]["started"]["direction"], "down");
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("! interrupted (rollback)")
        .stdout_has("002_ix: its rollback started ")
        .stderr_has("migrate down --rerun-interrupted");
    // h20 F6, F7: `up` (nothing pending, or a new migration on top) and both dry runs refuse
    // it as `status` does, never "already up to date" over a half rolled-back migration.
    for args in [&["migrate", "up"][..], &["migrate", "up", "--dry-run"]] {
        project
            .run_on(&db, args)
            .code(exit::DIVERGED)
            .stderr_has("migration 002_ix was interrupted: its rollback started ")
            .stderr_has("`cargo confiture migrate up` ran nothing")
            .stderr_has("migrate down --rerun-interrupted");
    }
    project.migration(
        "003_more",
        "CREATE TABLE more (id int);\n",
        "DROP TABLE more;\n",
    );
    project
        .up_on(&db)
        .code(exit::DIVERGED)
        .stderr_has("its rollback started ");
    assert!(!db.has_relation("more"), "nothing applied on top of it");
    std::fs::remove_file(project.path("db/migrations/003_more.up.sql")).unwrap();
    std::fs::remove_file(project.path("db/migrations/003_more.down.sql")).unwrap();
    project
        .run_on(&db, &["migrate", "down", "--dry-run"])
        .code(exit::DIVERGED)
        .stderr_has("migration 002_ix was interrupted: its rollback started ");
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::DIVERGED)
        .stderr_has("migration 002_ix was interrupted: its rollback started ")
        .stderr_has("(`IF EXISTS`)");
    project.write(
        "db/migrations/002_ix.down.sql",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS t_ix;\n",
    );
    project
        .run_on(&db, &["migrate", "down", "--rerun-interrupted"])
        .code(exit::SUCCESS);
    assert_eq!(markers(&db), 0);
    assert_eq!(db.ledger().expect("the ledger"), ["001:t"]);
    project.status_on(&db).code(exit::PENDING);
}

/// A tenant's migration (`--schema`, a ledger per schema) is marked beside the tenant's own
/// ledger: interrupted there, and nowhere else; `baseline --through` on the tenant settles it.
#[test]
fn a_tenant_migration_is_marked_beside_the_tenants_ledger() {
    let db = TestDb::new("nt_marker_tenant");
    let project = table_then_ix(IX_THEN_FAIL, "DROP INDEX CONCURRENTLY t_ix;\n");
    project
        .run_on(&db, &["migrate", "up", "-q", "--target", "001"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "up", "-q", "--schema", "tenant_a"])
        .code(exit::MIGRATION_FAILED);
    assert!(db.has_relation("tenant_a.tb_confiture_started"));
    assert!(!db.has_relation("public.tb_confiture_started"));
    project
        .run_on(&db, &["migrate", "status", "--schema", "tenant_a"])
        .code(exit::DIVERGED)
        .stdout_has("! interrupted");
    status_says_nothing_interrupted(&project, &db, exit::PENDING);
    project
        .run_on(&db, &["migrate", "up", "--schema", "tenant_a"])
        .code(exit::DIVERGED)
        .stderr_has("migration 002_ix was interrupted");
    project
        .run_on(
            &db,
            &[
                "migrate",
                "baseline",
                "--through",
                "002",
                "--yes",
                "--schema",
                "tenant_a",
            ],
        )
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "status", "--schema", "tenant_a"])
        .code(exit::SUCCESS);
    let left: i64 = db
        .connect()
        .query_one("SELECT count(*) FROM tenant_a.tb_confiture_started", &[])
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

/// `reinit --through V`, which records the files up to V without running them, settles the
/// start marker of an interrupted one with its row, as `baseline` does.
#[test]
fn reinit_through_an_interrupted_migration_settles_its_marker() {
    let db = TestDb::new("nt_marker_reinit");
    let project = table_then_ix(IX_THEN_FAIL, "DROP INDEX CONCURRENTLY t_ix;\n");
    project.up_on(&db).code(exit::MIGRATION_FAILED);
    assert_eq!(markers(&db), 1);
    // Never without a confirmation that names the run, dry run too.
    for args in [
        &["migrate", "reinit", "--through", "002"][..],
        &["migrate", "reinit", "--through", "002", "--dry-run"],
    ] {
        project
            .run_on(&db, args)
            .code(exit::USAGE)
            .stderr_has("reinit would record 002_ix as applied without running it, over its run left part-way")
            .stderr_has("002_ix: a run started ")
            .stderr_has("migrate reinit --through 002 --yes");
        assert_eq!(markers(&db), 1, "{args:?}");
    }
    project
        .run_on(&db, &["migrate", "reinit", "--through", "002", "--yes"])
        .code(exit::SUCCESS)
        .stdout_has("recorded 002_ix over its interrupted apply (a run started ");
    assert_eq!(markers(&db), 0);
    assert_eq!(db.ledger().expect("the ledger"), ["001:t", "002:ix"]);
    project.status_on(&db).code(exit::SUCCESS);
}

/// A no-transaction `002_data` whose first statement (an insert) committed and whose second
/// failed: its start marker `002` is left, the migration interrupted. The second statement is
/// made to pass again, so that a run that ran it twice is seen (two rows).
fn interrupted_data_migration(db: &TestDb) -> Project {
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (v int);\n", "DROP TABLE t;\n");
    project.migration(
        "002_data",
        "-- confiture:no-transaction\nDO $$ BEGIN INSERT INTO t VALUES (1); END $$;\nSELECT 1 / (SELECT count(*) - 1 FROM t);\n",
        "-- confiture:no-transaction\nDO $$ BEGIN DELETE FROM t; END $$;\n",
    );
    project.up_on(db).code(exit::MIGRATION_FAILED);
    assert_eq!(markers(db), 1, "statement 1 committed: the marker stays");
    project.write(
        "db/migrations/002_data.up.sql",
        "-- confiture:no-transaction\nDO $$ BEGIN INSERT INTO t VALUES (1); END $$;\nSELECT 1;\n",
    );
    project
}

/// Renames `from`'s pair to `to` (`002_data` to `0002_data`).
fn rename_pair(project: &Project, from: &str, to: &str) {
    for direction in ["up", "down"] {
        std::fs::rename(
            project.path(&format!("db/migrations/{from}.{direction}.sql")),
            project.path(&format!("db/migrations/{to}.{direction}.sql")),
        )
        .expect("rename the migration");
    }
}

fn rows_of_t(db: &TestDb) -> i64 {
    db.connect()
        .query_one("SELECT count(*) FROM t", &[])
        .expect("count t")
        .get(0)
}

/// hwd 3: two pending pairs share the version of an interrupted no-transaction migration (C003,
/// `status` lists both): the start marker is of the pair whose name or up file it records,
/// whichever of the two the version's migration is, and `status` shows it on that pair's line,
/// never on the other's.
#[test]
fn an_interrupted_marker_shows_on_its_own_pair_of_a_shared_version() {
    for other in ["002_aaa", "002_zzz"] {
        let db = TestDb::new("marker_shared_version");
        let project = interrupted_data_migration(&db);
        project.migration(other, "SELECT 1;\n", "SELECT 1;\n");
        let status = project.status_json_on(&db);
        let json = status.json();
        let lines = json["migrations"].as_array().expect("the lines");
        let line = |name: &str| {
            (lines.iter())
                .find(|m| m["version"] == "002" && m["name"] == name)
                .unwrap_or_else(|| panic!("{other}: no line 002_{name}: {}", status.dump()))
        };
        let data = line("data");
        assert_eq!(data["status"], "interrupted", "{other}: {}", status.dump());
        assert_eq!(
            data["started"]["name"],
            "data",
            "{other}: {}",
            status.dump()
        );
        let theirs = line(&other[4..]);
        assert!(
            theirs.get("started").is_none(),
            "{other}: {}",
            status.dump()
        );
        assert_ne!(
            theirs["status"],
            "interrupted",
            "{other}: {}",
            status.dump()
        );
        assert_eq!(
            lines.iter().filter(|m| m["version"] == "002").count(),
            2,
            "{other}: one line per pair: {}",
            status.dump()
        );
    }
}

/// h20 F1: a start marker is of the migration of its version's number, as a ledger row is —
/// the one rule of `status`, `up`, `down`, their dry runs, `baseline` and `reinit`. Its files
/// renamed `002` → `0002`, the interrupted migration was `interrupted` to `status` but run again
/// by `up` (applied twice), and the marker `002` stayed through `baseline --through 0002`,
/// `reinit --through 0002`, `--rerun-interrupted` and a successful apply (after a `down`, status
/// said `interrupted` again). Now `up` and its dry run refuse it (exit 7), and every command
/// that writes or forgets that version's row deletes every marker of it.
#[test]
fn a_marker_is_its_migrations_whatever_the_spelling_of_its_version() {
    for settle in ["baseline", "reinit", "rerun"] {
        let db = TestDb::new(&format!("marker_spelling_{settle}"));
        let project = interrupted_data_migration(&db);
        rename_pair(&project, "002_data", "0002_data");
        project
            .status_on(&db)
            .code(exit::DIVERGED)
            .stdout_has("! interrupted");
        for dry in [true, false] {
            let mut args = vec!["migrate", "up"];
            if dry {
                args.push("--dry-run");
            }
            project
                .run_on(&db, &args)
                .code(exit::DIVERGED)
                .stderr_has("migration 0002_data was interrupted: a run started ")
                .stderr_has(
                    "`cargo confiture migrate baseline --through 0002 --yes --database-url <URL>",
                );
        }
        assert_eq!(rows_of_t(&db), 1, "{settle}: never run twice");
        match settle {
            "baseline" => project
                .run_on(&db, &["migrate", "baseline", "--through", "0002", "--yes"])
                .code(exit::SUCCESS),
            "reinit" => project
                .run_on(&db, &["migrate", "reinit", "--through", "0002", "--yes"])
                .code(exit::SUCCESS),
            _ => project
                .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
                .code(exit::SUCCESS),
        };
        assert_eq!(
            markers(&db),
            0,
            "{settle}: every marker of 0002 went with its row"
        );
        project.status_on(&db).code(exit::SUCCESS);
        // Rolled back cleanly, it is pending, not interrupted again.
        project
            .run_on(&db, &["migrate", "down"])
            .code(exit::SUCCESS);
        status_says_nothing_interrupted(&project, &db, exit::PENDING);
    }
}

/// h20 F1, the ledger contradicting a marker: a row another tool wrote (confiture (Python)
/// records the interrupted migration) makes an up marker stale — the migration is applied, a
/// clean `down` deletes the marker with the row, and the migration is pending, not
/// interrupted again; a row a person deleted by hand after finishing a rollback makes a down
/// marker stale — the migration is pending, `up` applies it (not refused with the up help).
/// One rule in `status`, `up`, `down` and the dry runs.
#[test]
fn a_marker_the_ledger_contradicts_is_stale_everywhere_and_settled_by_the_next_write() {
    let db = TestDb::new("marker_stale");
    let project = interrupted_data_migration(&db);
    db.record_as_another_tool("data_002_py", "002", "data");
    status_says_nothing_interrupted(&project, &db, exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down", "--dry-run"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::SUCCESS);
    assert_eq!(markers(&db), 0, "the stale marker went with the row");
    status_says_nothing_interrupted(&project, &db, exit::PENDING);
    project.up_on(&db).code(exit::SUCCESS);

    // A rollback left part-way, then finished by hand: the row deleted.
    project.write(
        "db/migrations/002_data.down.sql",
        "-- confiture:no-transaction\nDO $$ BEGIN DELETE FROM t; END $$;\nSELECT 1 / (SELECT count(*) FROM t);\n",
    );
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::MIGRATION_FAILED);
    assert_eq!(markers(&db), 1);
    db.connect()
        .batch_execute("DELETE FROM tb_confiture WHERE version = '002'")
        .expect("a person finishes the rollback");
    status_says_nothing_interrupted(&project, &db, exit::PENDING);
    project
        .run_on(&db, &["migrate", "up", "--dry-run"])
        .code(exit::SUCCESS);
    project.up_on(&db).code(exit::SUCCESS);
    assert_eq!(markers(&db), 0);
    assert_eq!(rows_of_t(&db), 1);
}

/// h20 F5 (A): a 63-byte `tracking_table` made the markers' table `<name>_started` cut back to
/// 63 bytes — onto the ledger itself (every command then failed, exit 5, and `status`'s help
/// "drop the table" named the ledger). Such a name is refused when the environment is read,
/// naming the file, before anything connects.
#[test]
fn a_tracking_table_whose_markers_table_does_not_fit_is_refused_at_configuration() {
    let db = TestDb::new("marker_long_name");
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n");
    let name = "l".repeat(63);
    project.write(
        "db/environments/long.yaml",
        format!(
            "database_url: {}\nmigration:\n  tracking_table: {name}\n",
            db.url()
        ),
    );
    for command in [&["migrate", "status"][..], &["migrate", "up"]] {
        let mut args = command.to_vec();
        args.extend(["--env", "long"]);
        project
            .run(&args)
            .code(exit::INVALID)
            .stderr_has("long.yaml")
            .stderr_has("is 63 bytes long")
            .stderr_has("at most 55 bytes");
    }
    assert_eq!(db.ledger(), None, "nothing ran");
}

/// h20 F5 (B): a table of the markers' name that is not confiture's (a user's
/// `tb_confiture_started(version, note)`) was read as the markers' table: every command failed
/// with "cannot read ..., grant SELECT ... (or drop the table ...)" — advice to grant or drop a
/// user's table. It is refused as not confiture's, naming it, with the ways on.
#[test]
fn a_users_table_of_the_markers_name_is_refused_as_not_confiturees() {
    let db = TestDb::new("marker_foreign");
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n");
    project.up_on(&db).code(exit::SUCCESS);
    db.connect()
        .batch_execute("CREATE TABLE tb_confiture_started (version text PRIMARY KEY, note text)")
        .expect("a user's table");
    for command in [
        &["migrate", "status"][..],
        &["migrate", "down", "--dry-run"],
    ] {
        project
            .run_on(&db, command)
            .code(exit::INVALID)
            .stderr_has("public.tb_confiture_started is not the table of confiture's start markers")
            .stderr_has("set `migration.tracking_table` to another name")
            .stderr_lacks("drop the table")
            .stderr_lacks("grant SELECT");
    }
}

/// h20 F11: the markers' table dropped while a no-transaction migration ran (by another
/// session, here by the migration itself) failed the write of its row as a dropped LEDGER
/// ("every row of it is gone ... restore it from a backup", exit 5) while the ledger was
/// intact. Its loss is noticed where the marker advances, before the next statement: the run
/// stops there (exit 5), saying the start marker is gone — never a dropped ledger.
#[test]
fn a_markers_table_dropped_mid_run_is_not_a_dropped_ledger() {
    let db = TestDb::new("marker_dropped");
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n");
    project.migration(
        "002_drop",
        // Built at run time: lint (C108) refuses the name written out.
        "-- confiture:no-transaction\nDO $$ BEGIN EXECUTE format('DROP TABLE public.%I', 'tb_confiture' || '_started'); END $$;\nSELECT 1;\n",
        "-- confiture:no-transaction\nDO $$ BEGIN NULL; END $$;\n",
    );
    project
        .up_on(&db)
        .code(exit::INVALID)
        .stderr_has(
            "migration 002_drop stopped before statement 2 of 2: its start marker is gone (the \
             start markers' table public.tb_confiture_started was dropped)",
        )
        .stderr_lacks("restore it from a backup");
    assert_eq!(db.ledger().expect("the ledger"), ["001:t"]);
}

/// h20 F8: `status` while a run is running a no-transaction migration called it `interrupted`
/// (exit 7, "undo what it committed"). The run holds the migration lock: `status` says it is
/// being run (naming the holder's pid), the migration pending (exit 1); once the run is
/// killed, `interrupted`. hdx B: its marker's line said "statement 2 of 2 was running: it may
/// have committed", as of a dead run: a live run's statement is running.
#[test]
fn status_during_a_live_run_says_it_is_running_not_interrupted() {
    let db = TestDb::new("marker_live");
    let project = Project::new();
    project
        .migration("001_t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n")
        .migration(
            "002_ix",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_ix ON t (id);\nSELECT pg_sleep(30);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t_ix;\n",
        );
    let (child, pid) = up_until_it_sleeps(&project, &db);
    let run = project.status_on(&db);
    let holders = db.migration_lock_holders();
    kill_and_reap(child, &db, pid);
    run.code(exit::PENDING)
        .stdout_lacks("interrupted")
        .stdout_has("002_ix: a run started ")
        .stdout_has("; statement 1 committed; statement 2 of 2 is running\n")
        .stdout_lacks("may have committed")
        .stderr_has(&format!(
            "note: a run holds the migration lock (pid {}, ",
            holders[0]
        ))
        .stderr_has("): 002_ix is being run now by it; ")
        .stderr_lacks("undo what it committed");
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("! interrupted")
        .stdout_has("; statement 1 committed; statement 2 of 2 was running: it may have committed")
        .stdout_lacks("is running");
}

/// An older checkout (fewer migration files) sharing the database with a newer build whose
/// no-transaction migration was left part-way: its start marker is there, with no ledger row,
/// and no file here has its version. The older build is told, as it is of a newer build's
/// applied rows (`missing`, exit 7): `status` never says "up to date" (text and JSON, the
/// marker's line `interrupted`, listed in `interrupted` and `interrupted_unknown`); `up`
/// refuses (exit 7, its dry run too) instead of applying its own pending migrations on top, and
/// neither `--rerun-interrupted` (it has no file to run) nor `--allow-newer-database` (nothing
/// says what of it is there) lets it through; `down` refuses too. The newer build, its file
/// made safe to run twice, settles it as before.
#[test]
fn an_older_checkout_is_told_of_a_newer_builds_interrupted_migration() {
    let db = TestDb::new("nt_unknown_marker");
    // The newer build: 001, 002 and a no-transaction 003 whose second statement fails after
    // its first committed.
    let newer = Project::new();
    newer
        .migration("001_t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n")
        .table("002_u")
        .migration(
            "003_ix",
            &format!("-- confiture:no-transaction\n{IX_THEN_FAIL}"),
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t_ix;\n",
        );
    newer.up_on(&db).code(exit::MIGRATION_FAILED);
    assert_eq!(markers(&db), 1, "statement 1 committed: the marker stays");

    // The older checkout: 001 and 002, applied (nothing of its own pending), then 002 not
    // applied (pending: its own migration it must not apply on top).
    let older = Project::new();
    older
        .migration("001_t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n")
        .table("002_u");
    for ledger in [&["001:t", "002:u"][..], &["001:t"]] {
        if ledger.len() == 1 {
            db.connect()
                .batch_execute("DROP TABLE u; DELETE FROM tb_confiture WHERE version = '002'")
                .expect("002 not applied here");
        }
        let status = older.status_on(&db);
        status
            .code(exit::DIVERGED)
            .stdout_has("! interrupted (not in these files)")
            .stderr_has("003_ix was interrupted part-way")
            .stderr_has("no file here has its version");
        let status = older.status_json_on(&db);
        status.code(exit::DIVERGED);
        let doc = status.json();
        assert_eq!(
            doc["interrupted"],
            serde_json::json!(["003"]),
            "{}",
            status.dump()
        );
        assert_eq!(
            doc["interrupted_unknown"],
            serde_json::json!(["003"]),
            "{}",
            status.dump()
        );
        assert_eq!(doc["summary"]["interrupted"], 1, "{}", status.dump());
        let line = status.migration_line("003");
        assert_eq!(line["name"], "ix", "{}", status.dump());
        assert_eq!(line["status"], "interrupted", "{}", status.dump());
        assert_eq!(
            line["checksum"],
            serde_json::Value::Null,
            "{}",
            status.dump()
        );
        assert_eq!(line["started"]["direction"], "up", "{}", status.dump());
        assert_eq!(line["started"]["statement"], 2, "{}", status.dump());

        for args in [
            &["migrate", "up"][..],
            &["migrate", "up", "--dry-run"],
            &["migrate", "up", "--rerun-interrupted"],
            &["migrate", "up", "--allow-newer-database"],
            &["migrate", "down"],
            &["migrate", "down", "--dry-run"],
            &["migrate", "down", "--rerun-interrupted"],
        ] {
            older
                .run_on(&db, args)
                .code(exit::DIVERGED)
                .stderr_has("migration 003_ix was interrupted")
                .stderr_has("no file here has its version")
                .stderr_has("statement 1 committed; statement 2 of 2 failed");
            let json: Vec<&str> = args.iter().copied().chain(["--format", "json"]).collect();
            let run = older.run_on(&db, &json);
            run.code(exit::DIVERGED);
            let error = &run.json()["errors"][0];
            assert_eq!(error["kind"], "diverged", "{}", run.dump());
            assert!(
                error["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("migration 003_ix was interrupted")),
                "{}",
                run.dump()
            );
        }
        assert_eq!(
            db.ledger().expect("the ledger"),
            ledger,
            "nothing applied or rolled back on top"
        );
        assert_eq!(markers(&db), 1);
    }
    assert!(
        !db.has_relation("u"),
        "the older build's pending 002 did not run"
    );

    // The newer build, its file made safe to run twice, settles it (and applies 002).
    newer.write(
        "db/migrations/003_ix.up.sql",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_ix ON t (id);\n",
    );
    newer
        .run_on(
            &db,
            &[
                "migrate",
                "up",
                "--allow-out-of-order",
                "--rerun-interrupted",
            ],
        )
        .code(exit::SUCCESS);
    assert_eq!(markers(&db), 0);
    older
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("! missing");
}

/// The same, when the older checkout has a file of that version that is another migration
/// (another branch's `002_u`, transactional, where the newer build's `002_ix` was left
/// part-way): the marker is not that file's — it used to be stale, and `up` ran `002_u` over
/// the half-built index.
#[test]
fn another_branchs_migration_at_an_interrupted_version_does_not_run_over_it() {
    let db = TestDb::new("nt_other_branch");
    let newer = table_then_ix(IX_THEN_FAIL, "DROP INDEX CONCURRENTLY t_ix;\n");
    newer.up_on(&db).code(exit::MIGRATION_FAILED);
    assert_eq!(markers(&db), 1);
    let older = Project::new();
    older
        .migration("001_t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n")
        .table("002_u");
    older
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("! interrupted (not in these files)")
        .stderr_has("the file of its version here is another migration, 002_u");
    for args in [&["migrate", "up"][..], &["migrate", "down"]] {
        older
            .run_on(&db, args)
            .code(exit::DIVERGED)
            .stderr_has("migration 002_ix was interrupted")
            .stderr_has("the file of its version here is another migration, 002_u");
    }
    assert!(!db.has_relation("u"));
    assert_eq!(db.ledger().expect("the ledger"), ["001:t"]);
    // Nor is it recorded over: `baseline` and `reinit` through that version would write the
    // row of this checkout's `002_u` and delete the other build's marker (by number) with it,
    // and its half-run migration would be gone for every build. Refused, dry runs too, nothing
    // written; a rewrite that stops below it goes on.
    for args in [
        &["migrate", "baseline", "--through", "002"][..],
        &["migrate", "baseline", "--through", "002", "--dry-run"],
        &["migrate", "reinit", "--through", "002"],
        &["migrate", "reinit", "--through", "002", "--dry-run"],
    ] {
        older
            .run_on(&db, args)
            .code(exit::DIVERGED)
            .stderr_has("migration 002_ix was interrupted")
            .stderr_has("the file of its version here is another migration, 002_u")
            .stderr_has("nothing was recorded over it");
        assert_eq!(markers(&db), 1, "{args:?} kept the other build's marker");
        assert_eq!(db.ledger().expect("the ledger"), ["001:t"]);
    }
    older
        .run_on(&db, &["migrate", "baseline", "--through", "001"])
        .code(exit::SUCCESS);
    assert_eq!(markers(&db), 1);
}

/// A known interrupted apply (its file is here, pending) stops `down` as an unknown one does:
/// rolling back the migrations below it would leave what it committed on a schema it was not
/// written for, and `status` would still call it interrupted. Refused (exit 7), dry run and
/// `--rerun-interrupted` alike (that reruns rollbacks), naming the way on: finish the apply
/// first (`up --rerun-interrupted`), then roll back.
#[test]
fn an_interrupted_apply_stops_down_below_it() {
    let db = TestDb::new("nt_down_below");
    let project = table_then_ix(IX_THEN_FAIL, "DROP INDEX CONCURRENTLY IF EXISTS t_ix;\n");
    project.up_on(&db).code(exit::MIGRATION_FAILED);
    assert_eq!(markers(&db), 1);
    for args in [
        &["migrate", "down"][..],
        &["migrate", "down", "--dry-run"],
        &["migrate", "down", "--rerun-interrupted"],
        &["migrate", "down", "--target", "0", "--yes"],
    ] {
        project
            .run_on(&db, args)
            .code(exit::DIVERGED)
            .stderr_has("migration 002_ix was interrupted")
            .stderr_has("migrate down` rolled back nothing: the migration is half applied")
            .stderr_has("migrate up --target 002 --rerun-interrupted");
        assert_eq!(db.ledger().expect("the ledger"), ["001:t"]);
        assert!(db.has_relation("t"), "{args:?} rolled 001 back");
        assert_eq!(markers(&db), 1);
    }
    // The way on: finish it, then roll back through it.
    project.write(
        "db/migrations/002_ix.up.sql",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_ix ON t (id);\n",
    );
    project
        .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down", "--target", "0", "--yes"])
        .code(exit::SUCCESS);
    assert_eq!(markers(&db), 0);
    assert!(!db.has_relation("t"));
}

/// `002_ix` applied, its no-transaction rollback stopped after its first statement committed:
/// the row is there and the marker says the rollback is half done.
fn interrupted_rollback(db: &TestDb) -> Project {
    let project = table_then_ix(
        "CREATE INDEX CONCURRENTLY t_ix ON t (id);\n",
        "DROP INDEX CONCURRENTLY t_ix;\nDROP INDEX CONCURRENTLY nope_ix;\n",
    );
    project.up_on(db).code(exit::SUCCESS);
    project
        .run_on(db, &["migrate", "down"])
        .code(exit::MIGRATION_FAILED);
    assert_eq!(markers(db), 1, "statement 1 committed: the marker stays");
    project
}

/// hrb F1: a rollback left part-way, then a newer migration recorded over it — by `baseline
/// --through 003` (accepted) or by confiture (Python)'s `migrate up`, which knows no marker.
/// `status` suggested `migrate down --rerun-interrupted`, which rolled back 003 (its table and
/// its data gone) and left 002 half rolled back. Now `baseline` records nothing above it
/// (exit 7); over a row written there anyway, `down`, `--rerun-interrupted` and their dry runs
/// refuse (exit 7, nothing rolled back), and `status` and the refusal name the row above and
/// the two ways on, the pasted `--steps 2 --rerun-interrupted` finishing both.
#[test]
fn a_rollback_left_part_way_under_a_newer_row_is_never_skipped() {
    let db = TestDb::new("hrb_under_row");
    let project = interrupted_rollback(&db);
    project.migration(
        "003_orders",
        "CREATE TABLE orders (id int);\n",
        "DROP TABLE orders;\n",
    );
    project
        .run_on(&db, &["migrate", "baseline", "--through", "003"])
        .code(exit::DIVERGED)
        .stderr_has("baseline would record version 003 above it")
        .stderr_has("migrate down --rerun-interrupted");
    assert_eq!(db.ledger().expect("the ledger"), ["001:t", "002:ix"]);
    // What confiture (Python)'s `migrate up` does: run 003, write its row.
    db.connect()
        .batch_execute(
            "CREATE TABLE orders (id int); INSERT INTO orders VALUES (1), (2); \
             INSERT INTO tb_confiture (slug, version, name, checksum, execution_time_ms, \
             applied_by) VALUES ('orders_003_20260101_120000', '003', 'orders', \
             encode(sha256(convert_to($q$CREATE TABLE orders (id int);\n$q$, 'UTF8')), 'hex'), \
             1, current_user);",
        )
        .expect("a confiture (Python) row above the half rollback");
    let ways = "migrate down --steps 2 --rerun-interrupted";
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("! interrupted (rollback)")
        .stderr_has("003_orders is recorded above it since its rollback was left part-way")
        .stderr_has("`cargo confiture migrate abandon 002")
        .stderr_has(ways);
    for args in [
        &["migrate", "down"][..],
        &["migrate", "down", "--dry-run"],
        &["migrate", "down", "--rerun-interrupted"],
        &["migrate", "down", "--rerun-interrupted", "--dry-run"],
    ] {
        project
            .run_on(&db, args)
            .code(exit::DIVERGED)
            .stderr_has("migration 002_ix was interrupted: its rollback started ")
            .stderr_has("003_orders is recorded above it since")
            .stderr_has(ways);
        assert!(
            db.has_relation("orders"),
            "{args:?}: 003 was not rolled back"
        );
        assert_eq!(
            db.ledger().expect("the ledger"),
            ["001:t", "002:ix", "003:orders"]
        );
    }
    project.write(
        "db/migrations/002_ix.down.sql",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS t_ix;\n",
    );
    project
        .run_on(
            &db,
            &["migrate", "down", "--steps", "2", "--rerun-interrupted"],
        )
        .code(exit::SUCCESS);
    assert_eq!(markers(&db), 0);
    assert_eq!(db.ledger().expect("the ledger"), ["001:t"]);
}

/// hxl F1: a half-run rollback never vanishes. Its migration's files then removed (the row
/// `missing`, below a newer file) or replaced by another migration at its version (the row
/// `replaced`), `status` called the row `missing`/`replaced` and said nothing of the rollback,
/// and `reinit` forgot the row and deleted the marker with it: the half-dropped schema was
/// left with no trace. Now the marker is of a migration these files do not know, as an apply's
/// is: `status` shows the row `interrupted` (its rollback, not in these files), `up`, `down`,
/// `reinit` and their dry runs refuse (exit 7), nothing written. A known interrupted rollback
/// is never settled by a rewrite either: `reinit` accepting its edited up file refuses too.
#[test]
fn a_half_run_rollback_is_never_forgotten_by_a_rewrite() {
    for case in ["replaced", "missing", "accepted"] {
        let db = TestDb::new(&format!("hxl_rollback_{case}"));
        let project = interrupted_rollback(&db);
        match case {
            "replaced" => {
                project
                    .remove("db/migrations/002_ix.up.sql")
                    .remove("db/migrations/002_ix.down.sql")
                    .table("002_x");
            }
            "missing" => {
                project
                    .remove("db/migrations/002_ix.up.sql")
                    .remove("db/migrations/002_ix.down.sql")
                    .table("003_x");
            }
            _ => {
                let up = project.read("db/migrations/002_ix.up.sql");
                project.write(
                    "db/migrations/002_ix.up.sql",
                    format!("{up}-- reformatted\n"),
                );
            }
        }
        // The gap `missing` leaves (C004) is a file error: exit 5.
        let code = match case {
            "missing" => exit::INVALID,
            _ => exit::DIVERGED,
        };
        let status = project.status_json_on(&db);
        status.code(code);
        let doc = status.json();
        assert_eq!(
            doc["interrupted"],
            serde_json::json!(["002"]),
            "{case}: {}",
            status.dump()
        );
        let line = status.migration_line("002");
        assert_eq!(line["name"], "ix", "{case}: {}", status.dump());
        assert_eq!(line["status"], "interrupted", "{case}: {}", status.dump());
        assert_eq!(
            line["started"]["direction"],
            "down",
            "{case}: {}",
            status.dump()
        );
        let unknown = match case {
            "accepted" => serde_json::json!([]),
            _ => serde_json::json!(["002"]),
        };
        assert_eq!(
            doc["interrupted_unknown"],
            unknown,
            "{case}: {}",
            status.dump()
        );
        for args in [
            &["migrate", "reinit"][..],
            &["migrate", "reinit", "--dry-run"],
            &["migrate", "reinit", "--yes"],
        ] {
            project
                .run_on(&db, args)
                .code(exit::DIVERGED)
                .stderr_has("migration 002_ix was interrupted: its rollback started ")
                .stderr_has("the ledger row of version 002 and delete that marker with it");
            assert_eq!(markers(&db), 1, "{case}: {args:?} kept the marker");
            assert_eq!(db.ledger().expect("the ledger"), ["001:t", "002:ix"]);
        }
        if case != "accepted" {
            // `up` refuses the gap (C004) of `missing` first, before it connects.
            let runs: &[&[&str]] = match case {
                "missing" => &[&["migrate", "down"], &["migrate", "down", "--dry-run"]],
                _ => &[
                    &["migrate", "up"],
                    &["migrate", "up", "--dry-run"],
                    &["migrate", "down"],
                    &["migrate", "down", "--dry-run"],
                ],
            };
            for args in runs {
                project
                    .run_on(&db, args)
                    .code(exit::DIVERGED)
                    .stderr_has("migration 002_ix was interrupted: its rollback started ");
            }
            project
                .status_on(&db)
                .code(code)
                .stdout_has("! interrupted (rollback, not in these files)")
                .stderr_has("migrate down --rerun-interrupted");
        }
        assert_eq!(markers(&db), 1);
        assert_eq!(db.ledger().expect("the ledger"), ["001:t", "002:ix"]);
    }
}

/// hxl F4: row-level security on the markers' table (enabled, no policy: the role sees none of
/// its rows) hid an interrupted migration from a role that does not own it: `status` said
/// `pending` (exit 1), `up --dry-run` would apply it (exit 0). Refused as the ledger is under
/// row-level security (exit 5, naming the table and the way out), every command alike.
#[test]
fn row_level_security_on_the_markers_table_is_refused_as_the_ledgers_is() {
    let guard = DropRoleLater(confiture_tests::unique("marker_rls"));
    let role = &guard.0;
    let db = TestDb::new("nt_marker_rls");
    let project = table_then_ix(IX_THEN_FAIL, "DROP INDEX CONCURRENTLY IF EXISTS t_ix;\n");
    project.up_on(&db).code(exit::MIGRATION_FAILED);
    assert_eq!(markers(&db), 1);
    confiture_tests::admin()
        .batch_execute(&format!("CREATE ROLE \"{role}\" LOGIN"))
        .expect("create the role");
    db.connect()
        .batch_execute(&format!(
            "GRANT ALL ON ALL TABLES IN SCHEMA public TO \"{role}\"; \
             GRANT CREATE ON SCHEMA public TO \"{role}\"; \
             ALTER TABLE tb_confiture_started ENABLE ROW LEVEL SECURITY"
        ))
        .expect("hide the markers from the role");
    let url = confiture_tests::server().url_as(role, None, &db.name);
    for args in [
        &["migrate", "status"][..],
        &["migrate", "up", "--dry-run"],
        &["migrate", "up"],
        &["migrate", "down", "--dry-run"],
        &["migrate", "baseline", "--through", "002", "--dry-run"],
        &["migrate", "reinit", "--dry-run"],
    ] {
        let args: Vec<&str> = args
            .iter()
            .copied()
            .chain(["--database-url", &url])
            .collect();
        project
            .run(&args)
            .code(exit::INVALID)
            .stderr_has("row-level security applies to public.tb_confiture_started")
            .stderr_has("DISABLE ROW LEVEL SECURITY");
    }
    assert_eq!(markers(&db), 1);
    assert_eq!(db.ledger().expect("the ledger"), ["001:t"]);
}

/// hxl F1, renumbered: the migration whose rollback was left part-way then renamed to another
/// number (its row `renumbered`): `reinit` rewrote its row to the new number and deleted the
/// marker of the old one with it, the half-run rollback gone. Refused (exit 7, dry run too,
/// nothing written), as for any row whose rollback never finished.
#[test]
fn a_half_run_rollback_renumbered_is_not_settled_by_reinit() {
    let db = TestDb::new("hxl_rollback_renumbered");
    let project = interrupted_rollback(&db);
    rename_pair(&project, "002_ix", "003_ix");
    // Its number given to a new migration: no gap (C004) to stop `reinit` first.
    project.table("002_new");
    for args in [
        &["migrate", "reinit", "--dry-run"][..],
        &["migrate", "reinit"],
    ] {
        project
            .run_on(&db, args)
            .code(exit::DIVERGED)
            .stderr_has("migration 002_ix was interrupted: its rollback started ")
            .stderr_has("reinit would write the ledger row of version 002");
        assert_eq!(markers(&db), 1, "{args:?} kept the marker");
        assert_eq!(db.ledger().expect("the ledger"), ["001:t", "002:ix"]);
    }
}

/// The migration whose rollback was left part-way then renamed to another number (its row
/// `renumbered`) was only `renumbered` in `status`, its half-run rollback hidden. `status`
/// shows it `interrupted (rollback)` as any half-run rollback (exit 7), and the JSON carries
/// its start marker, in `interrupted` and still in `renumbered`; the help says to finish the
/// rollback with the files as they were, under a number taken or not.
#[test]
fn a_half_run_rollback_renumbered_is_shown_interrupted_by_status() {
    let db = TestDb::new("hpy_rollback_renumbered");
    let project = interrupted_rollback(&db);
    rename_pair(&project, "002_ix", "003_ix");
    for new in [false, true] {
        if new {
            // Its number given to a new migration.
            project.table("002_new");
        }
        // Without it, the gap its old number left (C004) is a file error: exit 5.
        let code = if new { exit::DIVERGED } else { exit::INVALID };
        let json = project.status_json_on(&db).code(code).json();
        let line = (json["migrations"].as_array().unwrap().iter())
            .find(|m| m["name"] == "ix")
            .unwrap_or_else(|| panic!("no line of ix: {json}"));
        assert_eq!(line["version"], "003", "{json}");
        assert_eq!(line["status"], "interrupted", "{json}");
        assert_eq!(line["started"]["direction"], "down", "{json}");
        assert_eq!(line["started"]["version"], "002", "{json}");
        assert_eq!(json["interrupted"], serde_json::json!(["003"]), "{json}");
        assert_eq!(json["renumbered"], serde_json::json!(["003"]), "{json}");
        assert_eq!(json["summary"]["interrupted"], 1, "{json}");
        assert_eq!(json["summary"]["renumbered"], 1, "{json}");
        project
            .status_on(&db)
            .code(code)
            .stdout_has("! interrupted (rollback, renumbered)")
            .stdout_has("003_ix: its rollback started ")
            .stderr_has("003_ix was interrupted part-way while rolled back")
            .stderr_has("recorded as 002")
            .stderr_has("migrate down --rerun-interrupted");
        assert_eq!(markers(&db), 1);
    }
}

/// r2b: a hand-made or damaged markers' table (no NOT NULL constraints) whose marker lacks a
/// value a run always writes — its name, its direction, its statement —, or has a direction
/// that is neither `up` nor `down`, was skipped by the read: the interrupted migration was
/// `pending` in `status` (exit 1) and `up` ran it again. Now every command that reads the
/// ledger refuses it (exit 5, nothing run), naming the table, the marker and the column, with
/// the statement that completes it; completed, it is `interrupted`.
#[test]
fn a_marker_with_an_unusable_value_is_refused_never_skipped() {
    let db = TestDb::new("nt_marker_null");
    let project = table_then_ix(
        "CREATE INDEX CONCURRENTLY t_ix ON t (id);\n",
        "DROP INDEX CONCURRENTLY t_ix;\n",
    );
    project
        .run_on(&db, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    let sql = |sql: &str| {
        db.connect()
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    sql(
        "CREATE TABLE public.tb_confiture_started (version text UNIQUE, name text, \
         direction text, checksum text, started_at timestamptz DEFAULT now(), \
         started_by text DEFAULT current_user, client_addr text, statement int, statements int)",
    );
    let complete = "('002', 'ix', 'up', 'x', now(), current_user, 1, 1)";
    let columns =
        "(version, name, direction, checksum, started_at, started_by, statement, statements)";
    let cases = [
        ("name", "NULL", "with no name (version 002)"),
        ("direction", "NULL", "with no direction (version 002)"),
        (
            "direction",
            "'sideways'",
            "whose direction is sideways (version 002)",
        ),
        ("checksum", "NULL", "with no checksum (version 002)"),
        ("started_at", "NULL", "with no started_at (version 002)"),
        ("started_by", "NULL", "with no started_by (version 002)"),
        ("statement", "NULL", "with no statement (version 002)"),
        ("statements", "-1", "whose statements is -1 (version 002)"),
        ("version", "NULL", "with no version (name ix)"),
    ];
    for (column, value, said) in cases {
        sql(&format!(
            "DELETE FROM public.tb_confiture_started; \
             INSERT INTO public.tb_confiture_started {columns} VALUES {complete}; \
             UPDATE public.tb_confiture_started SET {column} = {value}"
        ));
        for args in [
            &["migrate", "status"][..],
            &["migrate", "up"],
            &["migrate", "up", "--dry-run"],
        ] {
            project
                .run_on(&db, args)
                .code(exit::INVALID)
                .stderr_has(&format!(
                    "the start markers' table public.tb_confiture_started has a marker {said}"
                ))
                .stderr_has(&format!(
                    "UPDATE \"public\".\"tb_confiture_started\" SET {column} = "
                ));
        }
        assert!(!db.has_relation("t_ix"), "{column}: up ran nothing");
    }
    // Completed as the help says, it is the interrupted migration it is.
    sql(&format!(
        "DELETE FROM public.tb_confiture_started; \
         INSERT INTO public.tb_confiture_started {columns} VALUES {complete}"
    ));
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("! interrupted");
}

/// hrb: `up` and `down` over a migration whose rollback was left part-way then renamed to
/// another number refused it only as `renumbered`, their help suggesting `reinit` (which refuses
/// it) and never naming the half-run rollback that `status` shows. Both refuse it (exit 7,
/// nothing run) as interrupted, with the rollback's help `status` and `reinit` give: finish the
/// rollback with the files as they were. `up` over the gap its old number left stops at the
/// files first (C004, exit 5); `down` runs over a gap, and refuses it then too.
#[test]
fn up_and_down_over_a_half_run_rollback_renumbered_name_the_interrupted_rollback() {
    let db = TestDb::new("hrb_rollback_renumbered");
    let project = interrupted_rollback(&db);
    rename_pair(&project, "002_ix", "003_ix");
    for new in [false, true] {
        if new {
            // Its number given to a new migration.
            project.table("002_new");
        }
        let mut runs = vec![
            &["migrate", "down"][..],
            &["migrate", "down", "--dry-run"],
            &["migrate", "down", "--rerun-interrupted"],
            &["migrate", "down", "--target", "001"],
        ];
        if new {
            runs.extend([
                &["migrate", "up"][..],
                &["migrate", "up", "--dry-run"],
                &["migrate", "up", "--rerun-interrupted"],
            ]);
        }
        for args in runs {
            let run = project.run_on(&db, args);
            run.code(exit::DIVERGED)
                .stderr_has("migration 002_ix was interrupted: its rollback started ")
                .stderr_has("003_ix")
                .stderr_has("finish the rollback first, with the files of 002_ix as they were")
                .stderr_has("migrate down --rerun-interrupted")
                .stderr_lacks("migrate reinit");
            assert_eq!(markers(&db), 1, "new={new} {args:?} kept the marker");
            assert_eq!(
                db.ledger().expect("the ledger"),
                ["001:t", "002:ix"],
                "new={new} {args:?}: {}",
                run.dump()
            );
        }
    }
}

/// A no-transaction `002_ix` whose first build (`t_a`) commits and whose second (`t_u`, unique
/// over duplicates) fails: the run is `interrupted` (its marker stays) and `t_u` is left
/// INVALID, as a killed `CREATE INDEX CONCURRENTLY` leaves it.
fn interrupted_with_an_invalid_index(db: &TestDb) -> Project {
    let project = unique_build_failed_over_duplicates(
        db,
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a ON t (id);\nCREATE UNIQUE INDEX CONCURRENTLY t_u ON t (id);\n",
    );
    project
        .status_on(db)
        .code(exit::DIVERGED)
        .stdout_has("! interrupted");
    project
}

/// [`interrupted_with_an_invalid_index`] with its ledger dropped (the markers kept, 001's
/// table moved aside so that 001 runs again), then `migrate up --allow-non-empty`, which
/// meets the INVALID `t_u` (exit 4). The project and that run.
fn up_over_an_invalid_index_without_its_ledger(db: &TestDb) -> (Project, confiture_tests::Run) {
    let project = interrupted_with_an_invalid_index(db);
    db.connect()
        .batch_execute("DROP TABLE public.tb_confiture; ALTER TABLE t RENAME TO t_before;")
        .expect("a fresh ledger, the markers kept, 001 runnable again");
    let run = project.run_on(db, &["migrate", "up", "--allow-non-empty"]);
    run.code(exit::MIGRATION_FAILED);
    (project, run)
}

/// The INVALID `t_u` dropped as the help says, then `up --rerun-interrupted`: it succeeds,
/// no start marker left.
fn t_u_dropped_then_rerun(project: &Project, db: &TestDb) {
    db.connect()
        .batch_execute("DROP INDEX CONCURRENTLY public.t_u")
        .expect("the suggested DROP INDEX");
    project
        .run_on(db, &["migrate", "up", "--rerun-interrupted"])
        .code(exit::SUCCESS);
    assert_eq!(markers(db), 0);
}

/// him #3: `up --rerun-interrupted` refused on the INVALID index it would build again told to
/// run plain `migrate up` after dropping it, which refuses the interrupted migration (exit 7):
/// the suggested command keeps `--rerun-interrupted`, and following it completes the run.
#[test]
fn the_invalid_index_refusal_of_a_rerun_suggests_the_rerun_again() {
    let db = TestDb::new("him_rerun_invalid");
    let project = interrupted_with_an_invalid_index(&db);
    project
        .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("DROP INDEX CONCURRENTLY public.t_u;")
        .stderr_has("`cargo confiture migrate up --rerun-interrupted --database-url <URL>` again");
    t_u_dropped_then_rerun(&project, &db);
}

/// him #1: `baseline --through` (and `reinit --through`) recorded an interrupted migration as
/// applied while the index it builds was INVALID, with exit 0. Both refuse before writing
/// anything, as `up --rerun-interrupted` does (exit 4), naming the index and its `DROP INDEX
/// CONCURRENTLY`; and `status`' help does not offer to record it.
#[test]
fn an_interrupted_migration_whose_index_is_invalid_is_never_recorded() {
    let db = TestDb::new("him_baseline_invalid");
    let project = interrupted_with_an_invalid_index(&db);
    for args in [
        &["migrate", "baseline", "--through", "002"][..],
        &["migrate", "baseline", "--through", "002", "--dry-run"][..],
        &["migrate", "reinit", "--through", "002", "--yes"][..],
    ] {
        project
            .run_on(&db, args)
            .code(exit::MIGRATION_FAILED)
            .stderr_has("public.t_u")
            .stderr_has("DROP INDEX CONCURRENTLY public.t_u;");
        assert_eq!(db.ledger().expect("the ledger"), ["001:t"], "{args:?}");
        assert_eq!(markers(&db), 1, "{args:?}");
    }
    db.connect()
        .batch_execute("DROP INDEX CONCURRENTLY public.t_u")
        .expect("drop the unfinished index");
    project
        .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
        .code(exit::SUCCESS);
}

/// r3c: `status`' help (and `up`'s refusal, dry run or not) of an interrupted apply whose index
/// its build left INVALID suggested recording it (`migrate baseline --through 002`), which
/// refuses (exit 4). It names the
/// INVALID index (also in the JSON, `invalid_index`) and says to drop it and run the migration
/// again; pasting those commands completes the run.
#[test]
fn the_interrupted_help_of_an_invalid_index_does_not_suggest_recording_it() {
    let db = TestDb::new("r3c_help_invalid");
    let project = interrupted_with_an_invalid_index(&db);
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stderr_lacks("baseline --through")
        .stderr_has("public.t_u exists and is INVALID")
        .stderr_has("`DROP INDEX CONCURRENTLY public.t_u;`")
        .stderr_has("`cargo confiture migrate up --rerun-interrupted --database-url <URL>`");
    project
        .status_json_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("\"invalid_index\": \"public.t_u\"");
    for args in [&["migrate", "up"][..], &["migrate", "up", "--dry-run"]] {
        project
            .run_on(&db, args)
            .code(exit::DIVERGED)
            .stderr_lacks("baseline --through")
            .stderr_has("public.t_u exists and is INVALID")
            .stderr_has("`DROP INDEX CONCURRENTLY public.t_u;`")
            .stderr_has("--rerun-interrupted");
    }
    t_u_dropped_then_rerun(&project, &db);
    project.status_on(&db).code(exit::SUCCESS);
}

/// hix #1: `down` refused under an apply left part-way whose index its build left INVALID
/// (dry run or not) still said to record it (`migrate baseline --through 002`, which refuses
/// it, exit 4). Its help comes from the one decision `status`' does: it names the INVALID
/// index, says to drop it, then finish the apply (`up --target 002 --rerun-interrupted`), then
/// roll back; pasting those commands finishes the apply.
#[test]
fn down_refused_under_an_invalid_index_says_what_status_says() {
    let db = TestDb::new("hix_down_invalid");
    let project = interrupted_with_an_invalid_index(&db);
    for args in [
        &["migrate", "down"][..],
        &["migrate", "down", "--dry-run"],
        &["migrate", "down", "--target", "001", "--rerun-interrupted"],
    ] {
        let run = project.run_on(&db, args);
        run.code(exit::DIVERGED)
            .stderr_lacks("baseline --through")
            .stderr_has("public.t_u exists and is INVALID")
            .stderr_has("`DROP INDEX CONCURRENTLY public.t_u;`")
            .stderr_has("migrate up --target 002 --rerun-interrupted")
            .stderr_has(", then roll back");
        assert_eq!(markers(&db), 1, "{args:?}: {}", run.dump());
        assert_eq!(db.ledger().expect("the ledger"), ["001:t"], "{args:?}");
    }
    db.connect()
        .batch_execute("DROP INDEX CONCURRENTLY public.t_u;")
        .expect("the suggested DROP INDEX");
    project
        .run_on(
            &db,
            &["migrate", "up", "--target", "002", "--rerun-interrupted"],
        )
        .code(exit::SUCCESS);
    assert_eq!(markers(&db), 0);
}

/// hix #2 (pinned, not a change): the real `up` on a database whose ledger it creates in the
/// same round trip as the first migration (here the ledger was dropped, the markers' table
/// kept) plans without markers — they are read with the ledger, and a ledger not there has
/// none —, so its plan reads no INVALID index. The engine meets the INVALID index at the
/// interrupted migration's start and refuses it (exit 4) naming it, never suggesting to
/// record it; following its help and then the interrupted refusal's finishes the run.
#[test]
fn up_creating_its_ledger_never_suggests_recording_an_invalid_index() {
    let db = TestDb::new("hix_up_fresh_ledger");
    let (project, run) = up_over_an_invalid_index_without_its_ledger(&db);
    run.stderr_lacks("baseline --through")
        .stderr_has("migration 002_ix creates index public.t_u, which exists and is INVALID")
        .stderr_has("DROP INDEX CONCURRENTLY public.t_u;");
    assert_eq!(markers(&db), 1, "{}", run.dump());
    assert_eq!(
        db.ledger().expect("the ledger"),
        ["001:t"],
        "{}",
        run.dump()
    );
    db.connect()
        .batch_execute("DROP INDEX CONCURRENTLY public.t_u;")
        .expect("the suggested DROP INDEX");
    project
        .run_on(&db, &["migrate", "up", "--allow-non-empty"])
        .code(exit::DIVERGED)
        .stderr_has("--rerun-interrupted");
    project
        .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
        .code(exit::SUCCESS);
    assert_eq!(markers(&db), 0);
}

/// him #2: `status` said a dead run's marker "is being run now by the run that holds the
/// migration lock" whenever any session held the lock (another run, confiture (Python)), and
/// exited with 1. A marker written before the holder's session connected is not its own:
/// `interrupted`, exit 7, its help the interrupted one; the holder is named only as the
/// session holding the lock, never as the marker's run.
#[test]
fn a_marker_older_than_the_lock_holders_session_stays_interrupted() {
    let db = TestDb::new("him_marker_older");
    let project = interrupted_with_an_invalid_index(&db);
    std::thread::sleep(Duration::from_millis(1100));
    let (holder, pid) = db.hold_migration_lock("him-holder");
    let run = project.status_on(&db);
    run.code(exit::DIVERGED)
        .stdout_has("! interrupted")
        .stderr_lacks("is being run now")
        .stderr_has(&format!("note: a run holds the migration lock (pid {pid}"));
    let named: Vec<&str> = (run.stderr.lines())
        .filter(|l| l.contains(&format!("pid {pid}")))
        .collect();
    assert_eq!(named.len(), 1, "{}", run.dump());
    project.status_json_on(&db).code(exit::DIVERGED);
    drop(holder);
}

/// A project whose no-transaction `002_ix` builds `big_h_idx` on `big` (`001_big`), applied
/// through 001, and a session whose open transaction wrote to `big`: the build makes its
/// INVALID index, then waits for that writer.
fn index_build_held(db: &TestDb) -> (Project, postgres::Client) {
    let project = big_then_ix(
        db,
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY big_h_idx ON big (h);\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY big_h_idx;\n",
    );
    (project, db.open_writer("big", "(0)"))
}

/// A project of `001_big` (table `big`, `h` from 1 to 1000) and `002_ix` of the files `up` and
/// `down`, applied through 001.
fn big_then_ix(db: &TestDb, up: &str, down: &str) -> Project {
    let project = Project::new();
    project
        .migration(
            "001_big",
            "CREATE TABLE big AS SELECT g AS h FROM generate_series(1, 1000) g;\n",
            "DROP TABLE big;\n",
        )
        .migration("002_ix", up, down);
    project
        .run_on(db, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    project
}

/// Whether `big_h_idx` exists and is INVALID.
fn big_h_idx_invalid(db: &TestDb) -> bool {
    db.connect()
        .query_opt(
            "SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('public.big_h_idx') \
             AND NOT indisvalid",
            &[],
        )
        .expect("read pg_index")
        .is_some()
}

/// The help of `run`'s error (text) from its `help:` line on.
fn help_of(run: &confiture_tests::Run) -> String {
    let stderr = &run.stderr;
    stderr
        .find("help:")
        .map(|at| stderr[at..].to_string())
        .unwrap_or_default()
}

/// hci #1: `up` stopped (SIGTERM, SIGINT: exit 130) while a `CREATE INDEX CONCURRENTLY`
/// builds: its details said the index was left INVALID, its help to run the command again,
/// which is refused (exit 4) while the index is INVALID. The help is the `DROP INDEX
/// CONCURRENTLY` of that index, then the command that finishes; following it finishes.
#[test]
fn up_stopped_during_an_index_build_says_to_drop_the_invalid_index_first() {
    for with in ["-TERM", "-INT"] {
        let db = TestDb::new("hci_stop_build");
        let (project, mut writer) = index_build_held(&db);
        let child = project.spawn_on(&db, &["migrate", "up"]);
        let built = wait_until(Duration::from_secs(30), || big_h_idx_invalid(&db));
        confiture_tests::send_signal(child.id(), with);
        let run = confiture_tests::Run::reaped(child);
        assert!(built, "the build never started\n{}", run.dump());
        run.code(exit::INTERRUPTED)
            .stderr_has("public.big_h_idx was left INVALID");
        let help = help_of(&run);
        assert!(
            help.contains("DROP INDEX CONCURRENTLY public.big_h_idx;"),
            "{with}: {}",
            run.dump()
        );
        writer.batch_execute("ROLLBACK").expect("end the writer");
        db.connect()
            .batch_execute("DROP INDEX CONCURRENTLY public.big_h_idx")
            .expect("the suggested DROP INDEX");
        let next = suggested(&help);
        let args: Vec<&str> = next.iter().map(String::as_str).collect();
        let again = project.run_on(&db, &args);
        again.code(exit::SUCCESS);
        assert_eq!(markers(&db), 0, "{with} {args:?}: {}", again.dump());
    }
}

/// The command a help suggests (`` `cargo confiture migrate ...` ``, its first), as arguments
/// for [`Project::run_on`]: without the `--database-url <URL>` that `run_on` gives.
fn suggested(help: &str) -> Vec<String> {
    let start = help.find("`cargo confiture ").expect("a suggested command") + 17;
    let end = start + help[start..].find('`').expect("its end");
    let words: Vec<&str> = help[start..end].split_whitespace().collect();
    let mut args = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if words[i] == "--database-url" {
            i += 2;
            continue;
        }
        args.push(words[i].to_string());
        i += 1;
    }
    args
}

/// hci #2: `up`'s exit-4 refusal of an INVALID index that an earlier run left (its plan read
/// no markers: the ledger was dropped) said to drop it and run `migrate up` again, which is
/// refused (exit 7) asking for `--rerun-interrupted`. Its help names the command that works
/// the first time: following every help, each step succeeds.
#[test]
fn following_the_invalid_index_refusal_of_up_finishes_in_one_step() {
    let db = TestDb::new("hci_follow_invalid");
    let (project, run) = up_over_an_invalid_index_without_its_ledger(&db);
    run.stderr_has("DROP INDEX CONCURRENTLY public.t_u;");
    let help = help_of(&run);
    db.connect()
        .batch_execute("DROP INDEX CONCURRENTLY public.t_u;")
        .expect("the suggested DROP INDEX");
    let next = suggested(&help);
    let args: Vec<&str> = next.iter().map(String::as_str).collect();
    let again = project.run_on(&db, &args);
    again.code(exit::SUCCESS);
    assert_eq!(markers(&db), 0, "{args:?}: {}", again.dump());
}

/// hpm #1: a start marker of ours hidden by a later row of another tool. Our `up` left `002_ix`
/// part-way with its index `t_u` INVALID; confiture (Python) (or anything writing a ledger row
/// for that version) recorded it since — a file using `IF NOT EXISTS` "succeeds" over the
/// INVALID index. The row made the marker stale, and `status` said `applied` (exit 0) while the
/// index was unusable. The INVALID index is the truth: `status` (text and JSON) shows the
/// migration interrupted with its index, exit 7, and its help rebuilds the index rather than
/// recording or running anything; following it, `status` says applied. A row over a marker
/// whose index is valid (or a migration building none) stays applied: the row is trusted.
#[test]
fn a_row_written_over_our_marker_does_not_hide_the_invalid_index_it_left() {
    for spelled in ["002", "2"] {
        let db = TestDb::new("hpm_row_over_invalid");
        let project = interrupted_with_an_invalid_index(&db);
        db.record_as_another_tool(&format!("ix_{spelled}_py"), spelled, "ix");
        let status = project.status_on(&db);
        status
            .code(exit::DIVERGED)
            .stdout_has("! interrupted (recorded)")
            .stderr_lacks("baseline --through")
            .stderr_lacks("--rerun-interrupted")
            .stderr_has("public.t_u exists and is INVALID")
            .stderr_has("`REINDEX INDEX CONCURRENTLY public.t_u;`");
        let status = project.status_json_on(&db);
        status.code(exit::DIVERGED);
        let (json, line) = (status.json(), status.migration_line("002"));
        assert_eq!(line["status"], "interrupted", "{spelled}: {line}");
        assert_eq!(line["invalid_index"], "public.t_u", "{spelled}: {line}");
        assert_eq!(line["started"]["direction"], "up", "{spelled}: {line}");
        assert_eq!(json["interrupted"][0], "002", "{spelled}: {json}");
        assert_eq!(json["summary"]["interrupted"], 1, "{spelled}: {json}");
        db.connect()
            .batch_execute("REINDEX INDEX CONCURRENTLY public.t_u;")
            .expect("the suggested REINDEX");
        status_says_nothing_interrupted(&project, &db, exit::SUCCESS);
    }
}

/// hfz #1: the marker of `a_row_written_over_our_marker_does_not_hide_the_invalid_index_it_left`
/// (`status`: `! interrupted (recorded)`, exit 7, `REINDEX INDEX CONCURRENTLY`) did not stop `up`
/// or `down`: `down` ran the down file, dropping the index, as if the migration were healthy.
/// Every `up` and `down` (bounded, dry run, `--rerun-interrupted`) refuses it, exit 7, with the
/// help `status` gives, nothing run; following that help, `status` says applied and `down`
/// rolls it back.
#[test]
fn up_and_down_refuse_a_row_written_over_our_invalid_index_as_status_does() {
    let db = TestDb::new("hfz_row_over_invalid");
    let project = interrupted_with_an_invalid_index(&db);
    db.record_as_another_tool("ix_002_py", "002", "ix");
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("! interrupted (recorded)");
    let runs: [&[&str]; 11] = [
        &["migrate", "up"],
        &["migrate", "up", "--dry-run"],
        &["migrate", "up", "--target", "002"],
        &["migrate", "up", "--rerun-interrupted"],
        &["migrate", "down"],
        &["migrate", "down", "--dry-run"],
        &["migrate", "down", "--target", "001"],
        &["migrate", "down", "--steps", "1"],
        &["migrate", "down", "--steps", "1", "--dry-run"],
        &["migrate", "down", "--rerun-interrupted"],
        &["migrate", "down", "--target", "0", "--yes"],
    ];
    for args in runs {
        let run = project.run_on(&db, args);
        run.code(exit::DIVERGED)
            .stderr_has("002_ix was interrupted")
            .stderr_has("public.t_u exists and is INVALID")
            .stderr_has("`REINDEX INDEX CONCURRENTLY public.t_u;`")
            .stderr_lacks("baseline --through");
        assert!(index_there(&db, "t_u"), "{args:?}: {}", run.dump());
        assert_eq!(
            db.ledger().expect("the ledger"),
            ["001:t", "002:ix"],
            "{args:?}"
        );
        assert_eq!(markers(&db), 1, "{args:?}");
    }
    db.connect()
        .batch_execute("REINDEX INDEX CONCURRENTLY public.t_u;")
        .expect("the suggested REINDEX");
    project.status_on(&db).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::SUCCESS);
    assert!(!index_there(&db, "t_u"));
}

/// Whether index `name` exists in `public`, valid or not.
fn index_there(db: &TestDb, name: &str) -> bool {
    db.connect()
        .query_opt(
            "SELECT 1 FROM pg_class WHERE oid = to_regclass('public.' || $1)",
            &[&name],
        )
        .expect("read pg_class")
        .is_some()
}

/// hpm #2: two pairs share the version of an interrupted no-transaction migration (C003), and
/// the marker is of the pair that is not the version's migration here (`002_data` beside
/// `002_aaa`, which the set keeps). `status` showed it on that pair's line as `not in these
/// files`, with the help of a newer build's migration, while `up` and `down` refused it as
/// another migration than `002_aaa`. All of them now say the marker is `002_data`'s, which
/// shares its version with `002_aaa`, with one way on; following it (give `002_aaa` a version
/// of its own, then finish `002_data`'s run as any other: `up --rerun-interrupted`) works.
#[test]
fn an_interrupted_marker_of_a_shared_version_is_named_alike_by_status_up_and_down() {
    let db = TestDb::new("hpm_shared_version");
    let project = interrupted_data_migration(&db);
    project.migration("002_aaa", "SELECT 1;\n", "SELECT 1;\n");
    let runs = [
        (&["migrate", "status"][..], exit::INVALID),
        // The files' C003 refusal names `--target 001`, which stops before the version.
        (&["migrate", "up", "--target", "001"][..], exit::DIVERGED),
        (
            &["migrate", "up", "--target", "001", "--dry-run"][..],
            exit::DIVERGED,
        ),
        (&["migrate", "down"][..], exit::DIVERGED),
    ];
    for (args, code) in runs {
        let run = project.run_on(&db, args);
        run.code(code);
        let all = format!("{}{}", run.stdout, run.stderr);
        for needle in [
            "002_data was interrupted",
            "002_data shares version 002 with 002_aaa",
            "`cargo confiture migrate abandon 002",
        ] {
            assert!(
                all.contains(needle),
                "{args:?}: no {needle:?}: {}",
                run.dump()
            );
        }
        for wrong in ["newer build", "not in these files", "another migration"] {
            assert!(!all.contains(wrong), "{args:?}: {wrong:?}: {}", run.dump());
        }
    }
    // The way on: the other pair gets a version of its own, and the run left part-way is
    // `002_data`'s alone, finished as any other.
    rename_pair(&project, "002_aaa", "003_aaa");
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("! interrupted")
        .stderr_has("002_data was interrupted part-way");
    project
        .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
        .code(exit::SUCCESS);
    assert_eq!(markers(&db), 0);
    project.status_on(&db).code(exit::SUCCESS);
}

/// A project whose no-transaction `002_detach` detaches `p2` from `p` (`001_p`) concurrently,
/// applied through 001, and a session whose open transaction read `p`: the detach commits its
/// first transaction (`p2` pending detach), then waits for that reader.
fn detach_held(db: &TestDb) -> (Project, postgres::Client) {
    let project = Project::new();
    project
        .migration(
            "001_p",
            "CREATE TABLE p (id int) PARTITION BY RANGE (id);\n\
             CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100);\n\
             CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (100) TO (200);\n",
            "DROP TABLE p;\n",
        )
        .migration(
            "002_detach",
            "-- confiture:no-transaction\nALTER TABLE p DETACH PARTITION p2 CONCURRENTLY;\n",
            "ALTER TABLE p ATTACH PARTITION p2 FOR VALUES FROM (100) TO (200);\n",
        );
    project
        .run_on(db, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    let mut reader = db.connect();
    reader
        .batch_execute("BEGIN; SELECT * FROM p;")
        .expect("an open reader");
    (project, reader)
}

/// [`detach_held`]'s `migrate up` stopped by `signal` (`-TERM`, `-INT`) once `p2` is pending
/// detach: exit 130, its marker left; then the reader ends. The project and the stopped run.
fn detach_stopped_by(db: &TestDb, signal: &str) -> (Project, confiture_tests::Run) {
    let (project, mut reader) = detach_held(db);
    let run = stopped_while_detaching(db, &project, &mut reader, &["migrate", "up"], "p2", signal);
    (project, run)
}

/// `project`'s `args` run on `db`, stopped by `signal` once `partition` is pending detach from
/// `p` (its detach waiting for `reader`): exit 130, its marker left; then the reader ends.
fn stopped_while_detaching(
    db: &TestDb,
    project: &Project,
    reader: &mut postgres::Client,
    args: &[&str],
    partition: &str,
    signal: &str,
) -> confiture_tests::Run {
    let child = project.spawn_on(db, args);
    let pending = wait_until(Duration::from_secs(30), || pending_detach(db, partition));
    confiture_tests::send_signal(child.id(), signal);
    let run = confiture_tests::Run::reaped(child);
    assert!(pending, "the detach never started\n{}", run.dump());
    run.code(exit::INTERRUPTED);
    assert_eq!(markers(db), 1, "{signal}: {}", run.dump());
    reader.batch_execute("ROLLBACK").expect("end the reader");
    run
}

/// [`detach_held`]'s `project` run with `args` on `db`, its session cut (lost connection:
/// `pg_terminate_backend`) while its detach waits for `reader`'s snapshot, its first
/// transaction committed: `p2` is left pending detach; then the reader ends. The cut run.
fn detach_cut(
    db: &TestDb,
    project: &Project,
    reader: &mut postgres::Client,
    args: &[&str],
) -> confiture_tests::Run {
    let (child, pid) = project.spawn_until_it_waits(db, args, "virtualxid");
    db.connect()
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .expect("terminate the run's backend");
    let run = confiture_tests::Run::reaped(child);
    assert!(
        pending_detach(db, "p2"),
        "the detach is pending\n{}",
        run.dump()
    );
    reader.batch_execute("ROLLBACK").expect("end the reader");
    run
}

/// Whether `partition` (of `public`) is pending detach.
fn pending_detach(db: &TestDb, partition: &str) -> bool {
    db.connect()
        .query_opt(
            "SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass('public.' || $1) \
             AND inhdetachpending",
            &[&partition],
        )
        .expect("read pg_inherits")
        .is_some()
}

/// How many partitions `p` has.
fn partitions_of_p(db: &TestDb) -> i64 {
    db.connect()
        .query_one(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass('public.p')",
            &[],
        )
        .expect("count the partitions")
        .get(0)
}

/// Finishes the detach the help of `run` names, then runs the command it suggests: it
/// succeeds, 002 is applied, `p2` is detached, and no marker is left.
fn finalize_as_told(db: &TestDb, project: &Project, run: &confiture_tests::Run) {
    let help = help_of(run);
    assert!(
        help.contains("ALTER TABLE public.p DETACH PARTITION public.p2 FINALIZE;"),
        "{}",
        run.dump()
    );
    db.connect()
        .batch_execute("ALTER TABLE public.p DETACH PARTITION public.p2 FINALIZE;")
        .expect("the suggested FINALIZE");
    let next = suggested(&help);
    let args: Vec<&str> = next.iter().map(String::as_str).collect();
    let again = project.run_on(db, &args);
    again.code(exit::SUCCESS);
    assert_eq!(markers(db), 0, "{args:?}: {}", again.dump());
    assert!(!pending_detach(db, "p2"));
    // 002 is recorded: `up` has nothing to run (its detach, run again, would fail).
    project.up_on(db).code(exit::SUCCESS);
    assert_eq!(partitions_of_p(db), 1);
}

/// hdp #1: `up` stopped (SIGTERM, SIGINT: exit 130) while an `ALTER TABLE ... DETACH
/// PARTITION ... CONCURRENTLY` waits: its first transaction committed, the partition is left
/// pending detach. It said this run committed none of its statements and deleted its start
/// marker; the run again failed (55000, "already pending detach") blaming the file. Like an
/// interrupted index build: the migration stays interrupted (its marker kept), and the help
/// is the `DETACH PARTITION ... FINALIZE` to run, then the command that finishes.
#[test]
fn up_stopped_during_a_concurrent_detach_says_to_finalize_it() {
    for with in ["-TERM", "-INT"] {
        let db = TestDb::new("hdp_stop_detach");
        let (project, run) = detach_stopped_by(&db, with);
        run.stderr_has("pending detach")
            .stderr_lacks("committed none of its statements");
        finalize_as_told(&db, &project, &run);
    }
}

/// A no-transaction `DETACH PARTITION ... CONCURRENTLY` whose own session is cut (lost
/// connection: `pg_terminate_backend` while it waits for a reader) after its first
/// transaction committed: `up`'s own error names the partition left pending detach and its
/// `FINALIZE` first, as `status` and a rerun's refusal do (`plan::interrupted`), never only
/// the general "run `migrate up --rerun-interrupted` again", which would fail on it; following
/// it finishes the migration.
#[test]
fn up_whose_concurrent_detach_loses_its_connection_names_the_finalize() {
    let db = TestDb::new("hsmall_cut_detach");
    let (project, mut reader) = detach_held(&db);
    let run = detach_cut(&db, &project, &mut reader, &["migrate", "up"]);
    run.code(exit::CONNECTION).stderr_has("pending detach");
    let help = help_of(&run);
    let finalize = help.find("FINALIZE");
    let rerun = help.find("--rerun-interrupted");
    assert!(
        finalize.is_some() && rerun.is_none_or(|rerun| finalize < Some(rerun)),
        "{}",
        run.dump()
    );
    finalize_as_told(&db, &project, &run);
}

/// hdp #1: a partition left pending detach by an interrupted `DETACH PARTITION ...
/// CONCURRENTLY` that no run of ours marked (another session's, a run that marks nothing):
/// `up` fails on it (55000, "already pending detach"), its help the `FINALIZE` to run, then
/// the command that finishes — not "fix the file", which is right.
#[test]
fn a_partition_left_pending_detach_is_named_with_the_finalize_to_run() {
    let db = TestDb::new("hdp_pending_detach");
    let (project, mut reader) = detach_held(&db);
    let mut other = db.connect();
    other
        .batch_execute("SET statement_timeout = '1s'")
        .expect("a bounded session");
    // Alone in its message: `DETACH ... CONCURRENTLY` cannot run in a transaction block.
    let cut = other
        .batch_execute("ALTER TABLE p DETACH PARTITION p2 CONCURRENTLY")
        .expect_err("the detach waits for the reader past its timeout");
    assert!(pending_detach(&db, "p2"), "{cut}");
    reader.batch_execute("ROLLBACK").expect("end the reader");
    let run = project.up_on(&db);
    run.code(exit::MIGRATION_FAILED)
        .stderr_has("pending detach")
        .stderr_lacks("fix db/migrations");
    finalize_as_told(&db, &project, &run);
}

/// hdp #1, going down: a rollback whose `DETACH PARTITION ... CONCURRENTLY` is stopped
/// part-way stays interrupted; no command forgets a migration without running it, so the help
/// finishes the detach, attaches the partition again, and runs the rollback again, which
/// detaches it: following it rolls the migration back.
#[test]
fn down_stopped_during_a_concurrent_detach_says_to_finalize_it() {
    let db = TestDb::new("hdp_stop_detach_down");
    let project = Project::new();
    project
        .migration(
            "001_p",
            "CREATE TABLE p (id int) PARTITION BY RANGE (id);\n\
             CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100);\n",
            "DROP TABLE p;\n",
        )
        .migration(
            "002_p3",
            "CREATE TABLE p3 PARTITION OF p FOR VALUES FROM (200) TO (300);\n",
            "-- confiture:no-transaction\nALTER TABLE p DETACH PARTITION p3 CONCURRENTLY;\n",
        );
    project.up_on(&db).code(exit::SUCCESS);
    let mut reader = db.connect();
    reader
        .batch_execute("BEGIN; SELECT * FROM p;")
        .expect("an open reader");
    let run = stopped_while_detaching(
        &db,
        &project,
        &mut reader,
        &["migrate", "down"],
        "p3",
        "-TERM",
    );
    run.stderr_lacks("committed none of its statements");
    // hfz #2: the next `down` (and `status`) refused it with the generic help of a rollback
    // left part-way: they name the `FINALIZE` too.
    for args in [&["migrate", "down"][..], &["migrate", "status"]] {
        project
            .run_on(&db, args)
            .code(exit::DIVERGED)
            .stderr_has("ALTER TABLE public.p DETACH PARTITION public.p3 FINALIZE;")
            .stderr_has("ATTACH PARTITION public.p3")
            .stderr_lacks("IF EXISTS");
    }
    let help = help_of(&run);
    assert!(
        help.contains("ALTER TABLE public.p DETACH PARTITION public.p3 FINALIZE;")
            && help.contains("ATTACH PARTITION public.p3"),
        "{}",
        run.dump()
    );
    db.connect()
        .batch_execute(
            "ALTER TABLE public.p DETACH PARTITION public.p3 FINALIZE; \
             ALTER TABLE public.p ATTACH PARTITION public.p3 FOR VALUES FROM (200) TO (300);",
        )
        .expect("the suggested FINALIZE, and the partition attached again");
    let next = suggested(&help);
    let args: Vec<&str> = next.iter().map(String::as_str).collect();
    let again = project.run_on(&db, &args);
    again.code(exit::SUCCESS);
    assert_eq!(markers(&db), 0, "{args:?}: {}", again.dump());
    assert_eq!(partitions_of_p(&db), 1, "002 was rolled back: p3 detached");
}

/// hfz #2: after `up` was stopped during a `DETACH PARTITION ... CONCURRENTLY` (its own help:
/// the `FINALIZE` to run, then `baseline --through`), the next plain `migrate up` refused the
/// interrupted migration (exit 7) with the generic help ("check what the schema has", `IF NOT
/// EXISTS`, `--rerun-interrupted`, which would fail: the partition is pending detach). `up`,
/// its dry run, `down` and `status` (text and JSON, `pending_detach`) name the `FINALIZE`;
/// following `up`'s help finishes.
#[test]
fn the_refusal_of_an_interrupted_detach_names_its_finalize() {
    let db = TestDb::new("hfz_refused_detach");
    let (project, _) = detach_stopped_by(&db, "-TERM");
    let finalize = "ALTER TABLE public.p DETACH PARTITION public.p2 FINALIZE;";
    for args in [
        &["migrate", "status"][..],
        &["migrate", "up", "--dry-run"],
        &["migrate", "down"],
        &["migrate", "down", "--dry-run"],
    ] {
        let run = project.run_on(&db, args);
        run.code(exit::DIVERGED)
            .stderr_has(finalize)
            .stderr_has("`cargo confiture migrate baseline --through 002")
            .stderr_lacks("IF NOT EXISTS");
    }
    let status = project.status_json_on(&db);
    status.code(exit::DIVERGED);
    let line = status.migration_line("002");
    assert_eq!(line["status"], "interrupted", "{line}");
    assert_eq!(line["pending_detach"]["table"], "public.p", "{line}");
    assert_eq!(line["pending_detach"]["partition"], "public.p2", "{line}");
    assert_eq!(line["pending_detach"]["finalize"], finalize, "{line}");
    let up = project.up_on(&db);
    up.code(exit::DIVERGED).stderr_lacks("IF NOT EXISTS");
    assert!(pending_detach(&db, "p2"));
    finalize_as_told(&db, &project, &up);
}

/// A row written over our marker of an apply whose `DETACH PARTITION ... CONCURRENTLY` was cut
/// part-way (confiture (Python), or a row written by hand, recorded 002 while `p2` is still
/// pending detach) was taken as any row over a stale marker: `status` said applied (exit 0)
/// and `down` ran the down file over a half-done detach. As a row over an INVALID index our
/// run left (`LeftBehind::keeps_recorded_interrupted`, the one rule): `status` (text and JSON)
/// shows it `interrupted (recorded)` with the partition pending detach, exit 7, and every `up`
/// and `down` refuses it, nothing run, with the help `status` gives: the `FINALIZE` to run,
/// never `baseline --through` (it is recorded) nor `--rerun-interrupted` (the detach would
/// fail); following it, `status` says applied and the marker is stale.
#[test]
fn a_row_written_over_our_pending_detach_is_refused_as_over_an_invalid_index() {
    let db = TestDb::new("hcx_row_over_detach");
    let (project, _) = detach_stopped_by(&db, "-TERM");
    db.connect()
        .batch_execute(
            "INSERT INTO tb_confiture (slug, version, name, applied_at) \
             VALUES ('detach_002_py', '002', 'detach', now())",
        )
        .expect("another tool records it");
    let finalize = "ALTER TABLE public.p DETACH PARTITION public.p2 FINALIZE;";
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::DIVERGED)
        .stdout_has("! interrupted (recorded)")
        .stderr_has("pending detach")
        .stderr_has(finalize)
        .stderr_lacks("baseline --through")
        .stderr_lacks("--rerun-interrupted");
    let status = project.status_json_on(&db);
    status.code(exit::DIVERGED);
    let (json, line) = (status.json(), status.migration_line("002"));
    assert_eq!(line["status"], "interrupted", "{line}");
    assert_eq!(line["pending_detach"]["finalize"], finalize, "{line}");
    assert_eq!(line["started"]["direction"], "up", "{line}");
    assert_eq!(json["summary"]["interrupted"], 1, "{json}");
    for args in [
        &["migrate", "up"][..],
        &["migrate", "up", "--dry-run"],
        &["migrate", "up", "--rerun-interrupted"],
        &["migrate", "down"],
        &["migrate", "down", "--dry-run"],
        &["migrate", "down", "--rerun-interrupted"],
    ] {
        let run = project.run_on(&db, args);
        run.code(exit::DIVERGED)
            .stderr_has("002_detach was interrupted")
            .stderr_has(finalize)
            .stderr_lacks("baseline --through");
        assert!(pending_detach(&db, "p2"), "{args:?}: {}", run.dump());
        assert_eq!(
            db.ledger().expect("the ledger"),
            ["001:p", "002:detach"],
            "{args:?}"
        );
        assert_eq!(markers(&db), 1, "{args:?}");
    }
    db.connect()
        .batch_execute(finalize)
        .expect("the suggested FINALIZE");
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::SUCCESS);
}

/// A no-transaction `002_ix` whose INVALID index is left by its third statement, after a
/// statement that builds nothing: `CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a` commits,
/// `SELECT 1` runs, and the unique `t_u` (`IF NOT EXISTS` when `if_not_exists`) fails over
/// duplicates, leaving it INVALID as a killed build leaves it, and the run's start marker at
/// statement 3 of 3.
fn interrupted_later_with_an_invalid_index(db: &TestDb, if_not_exists: bool) -> Project {
    unique_build_failed_over_duplicates(
        db,
        &format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a ON t (id);\nSELECT 1;\n\
             CREATE UNIQUE INDEX CONCURRENTLY {}t_u ON t (id);\n",
            if if_not_exists { "IF NOT EXISTS " } else { "" }
        ),
    )
}

/// [`table_then_ix`] whose `002_ix` runs `up`, which builds `t_a` then the unique `t_u`
/// (dropped in that order by its down file), applied through 001; its `up` then failed on
/// duplicates in `t` (deleted after), leaving `t_u` INVALID and the run `interrupted`.
fn unique_build_failed_over_duplicates(db: &TestDb, up: &str) -> Project {
    let project = table_then_ix(
        up,
        "DROP INDEX CONCURRENTLY t_u;\nDROP INDEX CONCURRENTLY t_a;\n",
    );
    project
        .run_on(db, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute("INSERT INTO t VALUES (1), (1)")
        .expect("duplicates");
    project.up_on(db).code(exit::MIGRATION_FAILED);
    db.connect()
        .batch_execute("DELETE FROM t")
        .expect("no duplicates");
    assert_eq!(markers(db), 1, "the run is interrupted");
    project
}

/// `project` ([`table_then_ix`]) applied through 001 on `db`, where a build of `t_u` by hand
/// (not by a run of ours) failed over duplicates in `t` (deleted after): `t_u` is INVALID and
/// no run is left part-way.
fn through_001_with_t_u_left_invalid_by_hand(db: &TestDb, project: &Project) {
    project
        .run_on(db, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    let mut client = db.connect();
    client
        .batch_execute("INSERT INTO t VALUES (1), (1)")
        .expect("duplicates");
    client
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY t_u ON t (id)")
        .expect_err("a build over duplicates fails, its index left INVALID");
    client
        .batch_execute("DELETE FROM t")
        .expect("no duplicates");
}

/// hiv #1: an INVALID index left by an interrupted build that is not the file's first
/// statement (a statement that builds nothing before it) was missed: `status` gave the help
/// that records it, `baseline --through --yes` and `reinit --through --yes` recorded it (exit
/// 0, the index INVALID for good), and `up`, `down` and their dry runs said nothing of it. The
/// run's start marker says how far it got: the statement it was running, and any after it (a
/// marker that lags), are read for the index too, whatever comes before them — `IF NOT EXISTS`
/// or not, the marker where the run left it or behind. Every command names the index, never
/// records it, and following the help finishes the run. A later build after a statement that
/// sets `search_path` is read only when it names its table's schema (`a_later_build_after_a_
/// search_path_names_no_other_schemas_index`).
#[test]
fn an_invalid_index_of_a_later_statement_of_an_interrupted_run_is_never_missed() {
    for (if_not_exists, lagging) in [(false, false), (true, false), (false, true), (true, true)] {
        let case = format!("ine={if_not_exists} lagging={lagging}");
        let db = TestDb::new("hiv_later_invalid");
        let project = interrupted_later_with_an_invalid_index(&db, if_not_exists);
        if lagging {
            // The marker says statement 2 was running when statement 3 was.
            db.connect()
                .batch_execute("UPDATE public.tb_confiture_started SET statement = 2")
                .expect("a marker that lags");
        }
        project
            .run_on(&db, &["migrate", "status"])
            .code(exit::DIVERGED)
            .stdout_has("! interrupted")
            .stderr_lacks("baseline --through")
            .stderr_has("public.t_u exists and is INVALID")
            .stderr_has("`DROP INDEX CONCURRENTLY public.t_u;`")
            .stderr_has("migrate up --rerun-interrupted");
        project
            .run_on(&db, &["migrate", "status", "--format", "json"])
            .code(exit::DIVERGED)
            .stdout_has("\"invalid_index\": \"public.t_u\"");
        for args in [
            &["migrate", "baseline", "--through", "002", "--yes"][..],
            &[
                "migrate",
                "baseline",
                "--through",
                "002",
                "--yes",
                "--dry-run",
            ],
            &["migrate", "reinit", "--through", "002", "--yes"],
        ] {
            let run = project.run_on(&db, args);
            run.code(exit::MIGRATION_FAILED)
                .stderr_has("public.t_u")
                .stderr_has("DROP INDEX CONCURRENTLY public.t_u;");
            assert_eq!(
                db.ledger().expect("the ledger"),
                ["001:t"],
                "{case} {args:?}: {}",
                run.dump()
            );
            assert_eq!(markers(&db), 1, "{case} {args:?}");
        }
        for args in [
            &["migrate", "up"][..],
            &["migrate", "up", "--dry-run"],
            &["migrate", "down"],
            &["migrate", "down", "--dry-run"],
        ] {
            let run = project.run_on(&db, args);
            run.code(exit::DIVERGED)
                .stderr_lacks("baseline --through")
                .stderr_has("public.t_u exists and is INVALID")
                .stderr_has("`DROP INDEX CONCURRENTLY public.t_u;`");
            assert_eq!(markers(&db), 1, "{case} {args:?}: {}", run.dump());
        }
        // Run again, the build stops at the INVALID index (it fails, or `IF NOT EXISTS` skips
        // it), naming it and its drop; the run stays interrupted.
        let run = project.run_on(&db, &["migrate", "up", "--rerun-interrupted"]);
        run.code(exit::MIGRATION_FAILED)
            .stderr_has("public.t_u")
            .stderr_has("`DROP INDEX CONCURRENTLY public.t_u;`, then run `cargo confiture migrate up --rerun-interrupted --database-url <URL>` again")
            .stderr_lacks(";;");
        assert_eq!(markers(&db), 1, "{case}: {}", run.dump());
        assert_eq!(db.ledger().expect("the ledger"), ["001:t"], "{case}");
        db.connect()
            .batch_execute("DROP INDEX CONCURRENTLY public.t_u;")
            .expect("the suggested DROP INDEX");
        project
            .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
            .code(exit::SUCCESS);
        assert_eq!(markers(&db), 0, "{case}");
        project
            .run_on(&db, &["migrate", "status"])
            .code(exit::SUCCESS);
    }
}

/// hiv #2: the help of a run stopped after `CREATE INDEX CONCURRENTLY IF NOT EXISTS` skipped an
/// INVALID index (an earlier build's) read "drop the unfinished index, then run `...` again:
/// DROP INDEX CONCURRENTLY public.t_u;; what it committed stays ...": the statement after the
/// command that must follow it, and a doubled `;`. The statement comes first, as it is run.
#[test]
fn the_help_over_a_skipped_invalid_index_names_the_drop_first() {
    let db = TestDb::new("hiv_skipped_help");
    let project = table_then_ix(
        "SELECT 1;\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_u ON t (id);\n",
        "DROP INDEX CONCURRENTLY t_u;\n",
    );
    through_001_with_t_u_left_invalid_by_hand(&db, &project);
    let run = project.run_on(&db, &["migrate", "up"]);
    run.code(exit::MIGRATION_FAILED)
        .stderr_has("`IF NOT EXISTS` skipped it, and it is INVALID")
        .stderr_has(
            "help: drop the unfinished index, `DROP INDEX CONCURRENTLY public.t_u;`, then run \
             `cargo confiture migrate up --rerun-interrupted --database-url <URL>` again; what \
             it committed stays: undo it, or make its statements safe to run twice \
             (`IF NOT EXISTS`, `IF EXISTS`)\n",
        )
        .stderr_lacks(";;");
    t_u_dropped_then_rerun(&project, &db);
}

/// hiv #3: `status`' help of a rollback left part-way said "what committed stays, unrecorded"
/// while its row still records the migration applied (`! interrupted (rollback)`, its Applied
/// At date shown). It says what stays of a rollback: what its down file committed, the row
/// still there.
#[test]
fn the_help_of_an_interrupted_rollback_says_its_row_still_records_it() {
    let db = TestDb::new("hiv_rollback_help");
    let project = interrupted_rollback(&db);
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::DIVERGED)
        .stdout_has("! interrupted (rollback)")
        .stderr_has(
            "help: 002_ix was interrupted part-way (it runs without a transaction: what its \
             down file committed stays, and its row still records it applied), and \
             `cargo confiture migrate down --database-url <URL>` refuses",
        )
        .stderr_lacks("unrecorded");
}

/// hiv #1, the other side: the build an interrupted run was running on, after a statement that
/// sets `search_path`, builds in that schema; an INVALID index of its name in `public` (this
/// session's `search_path`) is another one. `status` does not name it, and `baseline
/// --through --yes` records the migration, its help the ordinary one.
#[test]
fn a_later_build_after_a_search_path_names_no_other_schemas_index() {
    let db = TestDb::new("hiv_later_path");
    let project = Project::new();
    project
        .migration(
            "001_t",
            "CREATE SCHEMA b;\nCREATE TABLE b.t (id int);\nCREATE TABLE t (id int);\n",
            "DROP SCHEMA b CASCADE;\nDROP TABLE t;\n",
        )
        .migration(
            "002_ix",
            "-- confiture:no-transaction\nCREATE TABLE b.done (x int);\nSET search_path = b;\n\
             CREATE UNIQUE INDEX CONCURRENTLY t_u ON t (id);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY b.t_u;\nDROP TABLE b.done;\n",
        );
    project
        .run_on(&db, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    let mut client = db.connect();
    client
        .batch_execute("INSERT INTO b.t VALUES (1), (1); INSERT INTO public.t VALUES (1), (1);")
        .expect("duplicates");
    client
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY t_u ON public.t (id)")
        .expect_err("public's build fails, its index left INVALID");
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED);
    for sql in [
        "DROP INDEX CONCURRENTLY b.t_u",
        "DELETE FROM b.t",
        "CREATE UNIQUE INDEX CONCURRENTLY t_u ON b.t (id)",
    ] {
        client.batch_execute(sql).expect("b.t_u built by hand");
    }
    assert_eq!(markers(&db), 1, "the run is interrupted");
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::DIVERGED)
        .stderr_lacks("INVALID")
        .stderr_has("migrate baseline --through 002 --yes");
    project
        .run_on(&db, &["migrate", "baseline", "--through", "002", "--yes"])
        .code(exit::SUCCESS);
    assert_eq!(db.ledger().expect("the ledger"), ["001:t", "002:ix"]);
}

/// `up --rerun-interrupted --dry-run` over a run left part-way by a build that was not the
/// file's first statement (its index left INVALID, the marker at that build) said it would
/// apply the migration (exit 0) while the real `up --rerun-interrupted` stopped over the index
/// (exit 4). Both now ask the one rule of which INVALID index a run of the file meets: both
/// refuse before anything runs, naming the index and its drop — and both run a file that drops
/// that index itself before it builds it again (`DROP INDEX ... IF EXISTS`).
#[test]
fn a_rerun_and_its_dry_run_agree_over_a_later_statements_invalid_index() {
    for if_not_exists in [false, true] {
        let db = TestDb::new("hdr_rerun_later");
        let project = interrupted_later_with_an_invalid_index(&db, if_not_exists);
        for args in [
            &["migrate", "up", "--rerun-interrupted", "--dry-run"][..],
            &["migrate", "up", "--rerun-interrupted"],
        ] {
            let run = project.run_on(&db, args);
            run.code(exit::MIGRATION_FAILED)
                .stderr_has(
                    "migration 002_ix creates index public.t_u, which exists and is INVALID",
                )
                .stderr_has(
                    "`DROP INDEX CONCURRENTLY public.t_u;`, then run \
                     `cargo confiture migrate up --rerun-interrupted --database-url <URL>",
                );
            assert_eq!(
                markers(&db),
                1,
                "ine={if_not_exists} {args:?}: {}",
                run.dump()
            );
            assert_eq!(db.ledger().expect("the ledger"), ["001:t"], "{args:?}");
        }
    }
    // The file drops its own INVALID index before it builds it again: both run it.
    let db = TestDb::new("hdr_rerun_self_drop");
    let project = table_then_ix(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a ON t (id);\n\
         DROP INDEX CONCURRENTLY IF EXISTS t_u;\n\
         CREATE UNIQUE INDEX CONCURRENTLY t_u ON t (id);\n",
        "DROP INDEX CONCURRENTLY t_u;\nDROP INDEX CONCURRENTLY t_a;\n",
    );
    project
        .run_on(&db, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute("INSERT INTO t VALUES (1), (1)")
        .expect("duplicates");
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED);
    db.connect()
        .batch_execute("DELETE FROM t")
        .expect("no duplicates");
    assert_eq!(markers(&db), 1, "the run is interrupted");
    project
        .run_on(&db, &["migrate", "up", "--rerun-interrupted", "--dry-run"])
        .code(exit::SUCCESS)
        .stderr_lacks("INVALID");
    let run = project.run_on(&db, &["migrate", "up", "--rerun-interrupted"]);
    run.code(exit::SUCCESS);
    assert_eq!(markers(&db), 0, "{}", run.dump());
    assert_eq!(db.ledger().expect("the ledger"), ["001:t", "002:ix"]);
}

/// `baseline`/`reinit --through 002` refused over the INVALID index an interrupted run of 002
/// left said: drop it, "then run `migrate baseline --through 002` again to record it".
/// Followed, 002 was recorded as applied with its index missing, and `status` said all was
/// well. The index is the migration's own: once it is dropped, the ways on are the run's — run
/// it again, which builds it, or abandon it —, never recording it. Each, pasted as printed
/// after the suggested `DROP INDEX`, leaves no migration recorded without its index.
#[test]
fn a_rewrite_refused_over_its_own_invalid_index_never_records_it_dropped() {
    for args in [
        &["migrate", "baseline", "--through", "002", "--yes"][..],
        &["migrate", "baseline", "--through", "002"],
        &["migrate", "reinit", "--through", "002", "--yes"],
    ] {
        for way in ["up", "abandon"] {
            let db = TestDb::new("hbx_record_own");
            let project = interrupted_later_with_an_invalid_index(&db, false);
            let refused = project.run_on(&db, args);
            refused.code(exit::MIGRATION_FAILED);
            let help = refused.help_line();
            let quoted: Vec<&str> = help.split('`').skip(1).step_by(2).collect();
            assert!(
                !quoted.iter().any(|part| part.contains("--through")),
                "{args:?}: a record suggested over the missing index\n{}",
                refused.dump()
            );
            let drop = (quoted.iter())
                .find(|part| part.starts_with("DROP INDEX CONCURRENTLY"))
                .unwrap_or_else(|| panic!("{args:?}: no drop suggested\n{}", refused.dump()));
            db.connect()
                .batch_execute(drop)
                .expect("the suggested drop");
            let suggested = (quoted.iter())
                .find(|part| part.starts_with(&format!("cargo confiture migrate {way} ")))
                .unwrap_or_else(|| panic!("{args:?}: no {way} suggested\n{}", refused.dump()));
            let pasted = project.paste(&format!("`{suggested}`").replace("<URL>", &db.url()));
            pasted.code(exit::SUCCESS);
            assert_eq!(markers(&db), 0, "{args:?} {way}: {}", pasted.dump());
            let invalid: i64 = (db.connect())
                .query_one("SELECT count(*) FROM pg_index WHERE NOT indisvalid", &[])
                .expect("the INVALID indexes")
                .get(0);
            assert_eq!(invalid, 0, "{args:?} {way}");
            if way == "up" {
                assert_eq!(db.ledger().expect("the ledger"), ["001:t", "002:ix"]);
                assert!(
                    db.has_relation("t_u"),
                    "{args:?}: 002 recorded, its index built"
                );
                project.status_on(&db).code(exit::SUCCESS);
            } else {
                assert_eq!(db.ledger().expect("the ledger"), ["001:t"], "{args:?}");
            }
        }
    }
}

/// `record`, a `cargo confiture migrate ...` a help suggested (its `<URL>` placeholder
/// filled), pasted into a shell: it succeeds, recording 002 after 001.
fn pasted_records_002(project: &Project, db: &TestDb, record: &str) {
    let pasted = project.paste(&format!("`{record}`").replace("<URL>", &db.url()));
    pasted.code(exit::SUCCESS);
    assert_eq!(
        db.ledger().expect("the ledger"),
        ["001:t", "002:ix"],
        "{}",
        pasted.dump()
    );
}

/// With no run of its own left part-way, a migration whose index is there INVALID (a build of
/// it by hand or by another tool failed) is not recorded over it either, nor once it is dropped:
/// the help of `baseline`/`reinit --through` says to build it again as the up file does, then
/// record — never `up`, which would run what the rewrite was asked to record without running.
/// Followed, the migration is recorded with its index whole.
#[test]
fn a_rewrite_refused_over_an_invalid_index_no_run_left_records_it_once_built() {
    for args in [
        &["migrate", "baseline", "--through", "002"][..],
        &["migrate", "reinit", "--through", "002"],
    ] {
        let db = TestDb::new("hbx_record_unrun");
        let build = "CREATE UNIQUE INDEX CONCURRENTLY t_u ON t (id);";
        let project = table_then_ix(&format!("{build}\n"), "DROP INDEX CONCURRENTLY t_u;\n");
        through_001_with_t_u_left_invalid_by_hand(&db, &project);
        let refused = project.run_on(&db, args);
        refused
            .code(exit::MIGRATION_FAILED)
            .stderr_has("public.t_u, which exists and is INVALID");
        let help = refused.help_line();
        let quoted: Vec<&str> = help.split('`').skip(1).step_by(2).collect();
        assert!(
            !quoted.iter().any(|part| part.contains("migrate up")),
            "{args:?}: {}",
            refused.dump()
        );
        assert!(
            help.contains("build it again as 002_ix's up file builds it"),
            "{help}"
        );
        let drop = (quoted.iter())
            .find(|part| part.starts_with("DROP INDEX CONCURRENTLY"))
            .expect("the suggested drop");
        let mut client = db.connect();
        client.batch_execute(drop).expect("the suggested drop");
        client
            .batch_execute(build)
            .expect("built as the up file does");
        let record = (quoted.iter())
            .find(|part| part.starts_with("cargo confiture migrate ") && part.contains("--through"))
            .unwrap_or_else(|| panic!("{args:?}: no record suggested\n{}", refused.dump()));
        pasted_records_002(&project, &db, record);
        project.status_on(&db).code(exit::SUCCESS);
    }
}

/// A no-transaction `up` that failed on an object already there (42P07) after a statement of
/// it committed — its start marker stays — said "record it without running it: `migrate
/// baseline --through 002`": pasted, that was refused (exit 64), recording over a run left
/// part-way taking `--yes`. Every suggested baseline says `--yes` when it records over a marker.
#[test]
fn the_baseline_an_up_failed_on_an_existing_object_suggests_pastes() {
    let db = TestDb::new("hbx_exists_baseline");
    let project = table_then_ix(
        "CREATE INDEX CONCURRENTLY t_x ON t (id);\nCREATE TABLE y (id int);\n",
        "DROP TABLE y;\nDROP INDEX CONCURRENTLY t_x;\n",
    );
    project
        .run_on(&db, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute("CREATE TABLE y (id int)")
        .expect("y made otherwise");
    let failed = project.run_on(&db, &["migrate", "up"]);
    failed.code(exit::MIGRATION_FAILED).stderr_has("42P07");
    assert_eq!(markers(&db), 1, "statement 1 committed: {}", failed.dump());
    let help = failed.help_line();
    let record = (help.split('`').skip(1).step_by(2))
        .find(|part| part.starts_with("cargo confiture migrate baseline"))
        .unwrap_or_else(|| panic!("no baseline suggested\n{}", failed.dump()));
    pasted_records_002(&project, &db, record);
    assert_eq!(markers(&db), 0);
}

/// A `reinit` refused over a rollback left part-way said "then run `migrate reinit` again",
/// whatever it was given: pasted after a `reinit --through 002 --yes`, it lost both (and a
/// `baseline` was told to run `migrate baseline`, which needs `--through`). The command to run
/// again is the one that was refused, with every argument it was given.
#[test]
fn a_rewrite_refused_over_a_half_rollback_suggests_itself_again() {
    for args in [
        &["migrate", "reinit", "--through", "002", "--yes"][..],
        &["migrate", "reinit"],
    ] {
        let db = TestDb::new("hdr_rewrite_again");
        let project = interrupted_rollback(&db);
        // An edit reinit accepts: it would rewrite the row of the half rollback.
        let up = project.read("db/migrations/002_ix.up.sql");
        project.write(
            "db/migrations/002_ix.up.sql",
            format!("{up}-- reformatted\n"),
        );
        let refused = project.run_on(&db, args);
        refused.code(exit::DIVERGED);
        let again = format!("`cargo confiture {} --database-url <URL>`", args.join(" "));
        refused.stderr_has(&format!("then run {again} again"));
    }
}

/// `baseline --through 002` refused over the INVALID index of an interrupted `002` offered
/// `migrate up --rerun-interrupted` "to build it", and refused over any run left part-way
/// offered it after making its statements safe to run twice: pasted, each applied `003` too,
/// which the baseline never asked for. Each `up` a rewrite's refusal suggests stops at the
/// newest migration it would have recorded.
#[test]
fn the_up_a_refused_baseline_suggests_stops_at_its_through() {
    for (dropped, args) in [
        (
            true,
            &["migrate", "baseline", "--through", "002", "--yes"][..],
        ),
        (false, &["migrate", "baseline", "--through", "002"]),
    ] {
        let db = TestDb::new("hdr_baseline_up");
        let project = interrupted_later_with_an_invalid_index(&db, false);
        project.migration("003_g", "CREATE TABLE g (id int);\n", "DROP TABLE g;\n");
        if !dropped {
            db.connect()
                .batch_execute("DROP INDEX CONCURRENTLY public.t_u;")
                .expect("the INVALID index dropped");
        }
        let refused = project.run_on(&db, args);
        let help = refused.help_line();
        let suggested = (help.split('`').skip(1).step_by(2))
            .find(|part| part.starts_with("cargo confiture migrate up"))
            .unwrap_or_else(|| panic!("{args:?}: no up suggested\n{}", refused.dump()));
        if dropped {
            db.connect()
                .batch_execute("DROP INDEX CONCURRENTLY public.t_u;")
                .expect("the suggested DROP INDEX");
        }
        let pasted = project.paste(&format!("`{suggested}`").replace("<URL>", &db.url()));
        pasted.code(exit::SUCCESS);
        assert_eq!(
            db.ledger().expect("the ledger"),
            ["001:t", "002:ix"],
            "{args:?}: {}",
            pasted.dump()
        );
    }
}

/// `down --target 001` whose first rollback, a no-transaction one, failed part-way said to
/// run `migrate down --rerun-interrupted` again: pasted once the file was fixed, it rolled
/// back that one migration (`down` rolls back one by default), not down to 001 as asked. The
/// command keeps the request's bound, as `up`'s does; pasted, it finishes the rollback asked for.
#[test]
fn a_bounded_rollback_that_failed_first_suggests_its_bound_again() {
    let db = TestDb::new("hdr_down_bound");
    let project = Project::new();
    project
        .migration("001_t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n")
        .migration("002_u", "CREATE TABLE u (id int);\n", "DROP TABLE u;\n")
        .migration(
            "003_ix",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_ix ON t (id);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t_ix;\nDROP INDEX CONCURRENTLY nope_ix;\n",
        );
    project.up_on(&db).code(exit::SUCCESS);
    let failed = project.run_on(&db, &["migrate", "down", "--target", "001"]);
    failed.code(exit::MIGRATION_FAILED);
    let help = failed.help_line();
    let suggested = (help.split('`').skip(1).step_by(2))
        .find(|part| part.starts_with("cargo confiture migrate down"))
        .unwrap_or_else(|| panic!("no down suggested\n{}", failed.dump()));
    project.migration(
        "003_ix",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_ix ON t (id);\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS t_ix;\nDROP INDEX CONCURRENTLY IF EXISTS nope_ix;\n",
    );
    let pasted = project.paste(&format!("`{suggested}`").replace("<URL>", &db.url()));
    pasted.code(exit::SUCCESS);
    assert_eq!(
        db.ledger().expect("the ledger"),
        ["001:t"],
        "{}",
        pasted.dump()
    );
}

/// A project of `001_big` (table `big`) and a no-transaction `002_ix` of three statements, each
/// safe to run twice: a table, a concurrent build of the unique index `big_h_key`, a column of
/// the table; applied through 001.
fn table_then_unique_build(db: &TestDb) -> Project {
    big_then_ix(
        db,
        "-- confiture:no-transaction\n\
         -- confiture:allow(no-transaction-multiple-statements)\n\
         CREATE TABLE IF NOT EXISTS side (id int);\n\
         CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS big_h_key ON big (h);\n\
         ALTER TABLE side ADD COLUMN IF NOT EXISTS note text;\n",
        "-- confiture:no-transaction\n\
         -- confiture:allow(no-transaction-multiple-statements)\n\
         DROP INDEX CONCURRENTLY big_h_key;\nDROP TABLE side;\n",
    )
}

/// `up --rerun-interrupted` of [`table_then_unique_build`]'s `002_ix` killed (`kill -9`) while
/// its build waits for `writer`'s open transaction on `big`: the build's INVALID index is
/// there, its first statement committed.
fn kill_the_rerun_during_the_build(project: &Project, db: &TestDb, args: &[&str]) {
    let mut writer = db.open_writer("big", "(0)");
    kill_when_it_waits(project, db, args, "virtualxid");
    writer.batch_execute("ROLLBACK").expect("end the writer");
}

/// What `up --rerun-interrupted` left, following `status`' help over the INVALID index: that
/// index dropped, then the command the help suggests (the rerun) finishes the migration; the
/// ledger and the schema then agree (`drift`), and no marker is left.
fn finish_as_status_says(project: &Project, db: &TestDb) {
    let status = project.status_on(db);
    status.code(exit::DIVERGED).stderr_has(
        "drop the unfinished index, `DROP INDEX CONCURRENTLY public.big_h_key;`, then run \
             `cargo confiture migrate up --rerun-interrupted --database-url <URL>`",
    );
    db.connect()
        .batch_execute("DROP INDEX CONCURRENTLY public.big_h_key")
        .expect("the suggested DROP INDEX");
    let done = project.run_on(db, &["migrate", "up", "--rerun-interrupted"]);
    done.code(exit::SUCCESS);
    assert_eq!(
        db.ledger().expect("the ledger"),
        ["001:big", "002:ix"],
        "{}",
        done.dump()
    );
    assert_eq!(markers(db), 0, "{}", done.dump());
    assert!(db.has_relation("big_h_key") && !big_h_key_invalid(db));
    let note: i64 = db
        .connect()
        .query_one(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'side'::regclass \
             AND attname = 'note'",
            &[],
        )
        .expect("read pg_attribute")
        .get(0);
    assert_eq!(note, 1, "the last statement ran");
    project.status_on(db).code(exit::SUCCESS);
    project
        .run_on(db, &["migrate", "drift"])
        .code(exit::SUCCESS);
}

/// Whether `big_h_key` is there and INVALID.
fn big_h_key_invalid(db: &TestDb) -> bool {
    db.connect()
        .query_opt(
            "SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('public.big_h_key') \
             AND NOT indisvalid",
            &[],
        )
        .expect("read pg_index")
        .is_some()
}

/// `kill -9` of `migrate up` in the middle of a no-transaction migration, end to end, at the
/// two places a kill leaves something a person must see: during a `CREATE INDEX CONCURRENTLY`
/// (its INVALID index committed, the build never finished), and between two statements (the
/// first committed, the run waiting for a lock on the markers' table to advance its marker).
/// `status` says the migration is interrupted and what committed; following its help (the
/// INVALID index dropped first), `up --rerun-interrupted` finishes it, and the ledger matches
/// the schema.
#[test]
fn a_run_killed_mid_migration_is_finished_by_rerunning_it_as_status_says() {
    // During the build.
    let db = TestDb::new("kill_mid_build");
    let project = table_then_unique_build(&db);
    kill_the_rerun_during_the_build(&project, &db, &["migrate", "up"]);
    assert!(big_h_key_invalid(&db), "the build's INVALID index");
    assert_eq!(db.ledger().expect("the ledger"), ["001:big"]);
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("! interrupted")
        .stdout_has("statement 1 committed; statement 2 of 3 was running: it may have committed");
    let json = project.status_json_on(&db).code(exit::DIVERGED).json();
    assert_eq!(json["interrupted"], serde_json::json!(["002"]), "{json}");
    project.up_on(&db).code(exit::DIVERGED);
    finish_as_status_says(&project, &db);

    // Between two statements: the build committed, the advance of the marker waits for a lock.
    let db = TestDb::new("kill_between");
    let project = table_then_unique_build(&db);
    let mut writer = db.open_writer("big", "(0)");
    let (child, pid) = project.spawn_until_it_waits(&db, &["migrate", "up"], "virtualxid");
    let mut locker = db.connect();
    locker
        .batch_execute("BEGIN; LOCK TABLE tb_confiture_started IN SHARE MODE")
        .expect("lock the markers' table");
    writer.batch_execute("ROLLBACK").expect("end the writer");
    // The build finished and committed; the run now waits to advance its marker.
    let between = wait_until(Duration::from_secs(30), || {
        db.connect()
            .query_opt(
                "SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted \
                 AND relation = 'tb_confiture_started'::regclass",
                &[&pid],
            )
            .expect("read pg_locks")
            .is_some()
    });
    assert!(between, "the run never waited between its statements");
    assert!(!big_h_key_invalid(&db) && db.has_relation("big_h_key"));
    kill_and_reap(child, &db, pid);
    locker.batch_execute("ROLLBACK").expect("let go");
    assert_eq!(db.ledger().expect("the ledger"), ["001:big"]);
    // The marker was never advanced: the statement the run had sent last may have committed.
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("! interrupted")
        .stdout_has("statement 1 committed; statement 2 of 3 was running: it may have committed");
    // Every statement is safe to run twice, the index is built: the rerun finishes.
    project
        .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
        .code(exit::SUCCESS);
    assert_eq!(db.ledger().expect("the ledger"), ["001:big", "002:ix"]);
    assert_eq!(markers(&db), 0);
    project
        .run_on(&db, &["migrate", "drift"])
        .code(exit::SUCCESS);
}

/// The same after a `--rerun-interrupted` that failed: the first run killed during its build,
/// the rerun failed on a duplicate key (its marker keeps what the killed run committed, the
/// `earlier_*` columns), a second rerun killed during its build again. `status` says what each
/// run committed, and the rerun that follows its help finishes the migration.
#[test]
fn a_run_killed_after_a_failed_rerun_keeps_what_every_run_committed() {
    let db = TestDb::new("kill_after_failed_rerun");
    let project = table_then_unique_build(&db);
    kill_the_rerun_during_the_build(&project, &db, &["migrate", "up"]);
    db.connect()
        .batch_execute("DROP INDEX CONCURRENTLY big_h_key")
        .expect("drop the INVALID index");
    db.connect()
        .batch_execute("INSERT INTO big VALUES (1)")
        .expect("a duplicate");
    project
        .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("23505");
    const EARLIER: &str = "an earlier run committed statement 1 (statement 2 of 3 may have \
                           committed too); run again, ";
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has(&format!(
            "{EARLIER}statement 1 committed; statement 2 of 3 failed: the server refused it"
        ));
    db.connect()
        .batch_execute("DROP INDEX CONCURRENTLY big_h_key")
        .expect("drop the INVALID index");
    db.connect()
        .batch_execute("DELETE FROM big WHERE h = 1; INSERT INTO big VALUES (1);")
        .expect("no duplicate");
    kill_the_rerun_during_the_build(&project, &db, &["migrate", "up", "--rerun-interrupted"]);
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has(&format!(
            "{EARLIER}statement 1 committed; statement 2 of 3 was running: it may have committed"
        ));
    let json = project.status_json_on(&db).code(exit::DIVERGED).json();
    let started = &json["migrations"][1]["started"];
    assert_eq!(started["earlier_committed"], 1, "{json}");
    assert_eq!(started["earlier_unsure"], 2, "{json}");
    finish_as_status_says(&project, &db);
}

/// hdx2 #2: a no-transaction `DETACH PARTITION ... CONCURRENTLY` cut part-way (its connection
/// lost while it waited) left the partition pending detach. `up --rerun-interrupted` ran it
/// again, which failed at the server ("already pending detach", exit 4), and its dry run said
/// it would apply it (exit 0). Both refuse, as an interrupted run is refused (exit 7), naming
/// the partition and the `FINALIZE` that finishes it; nothing is run.
#[test]
fn a_rerun_over_a_detach_left_pending_is_refused_dry_run_or_not() {
    let db = TestDb::new("hdx2_pending_detach");
    let (project, mut reader) = detach_held(&db);
    let up = ["migrate", "up", "--lock-timeout-statement", "60s"];
    detach_cut(&db, &project, &mut reader, &up);
    for args in [
        &["migrate", "up", "--rerun-interrupted"][..],
        &["migrate", "up", "--rerun-interrupted", "--dry-run"],
    ] {
        project
            .run_on(&db, args)
            .code(exit::DIVERGED)
            .stderr_has("public.p2")
            .stderr_has("ALTER TABLE public.p DETACH PARTITION public.p2 FINALIZE;")
            .stderr_lacks("already pending detach");
        assert_eq!(db.ledger().expect("the ledger"), ["001:p"], "{args:?}");
        assert_eq!(markers(&db), 1, "{args:?}");
    }
}
