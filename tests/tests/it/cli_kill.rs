//! A `migrate up` killed with SIGKILL in the middle of a migration (a deploy timeout, the OOM
//! killer): the server notices within seconds (`client_connection_check_interval`), rolls the
//! migration back, releases the lock, and the next run applies it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use confiture::exit;
use confiture_tests::{wait_until, Project, TestDb};

const SLOW_UP: &str = "CREATE TABLE t_partial (a int);\nSELECT pg_sleep(30);\n";

/// `migrate up` on `db`, spawned, and the pid of its backend once a migration sleeps in
/// `pg_sleep` (the kill then lands at a known point, never a timing race).
fn up_until_it_sleeps(project: &Project, db: &TestDb) -> (std::process::Child, i32) {
    let mut child = project
        .cli()
        .args(["migrate", "up", "--database-url", &db.url()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the CLI under test");
    let mut pid = None;
    let sleeping = wait_until(Duration::from_secs(30), || {
        pid = db.sleeping_backend();
        pid.is_some()
    });
    if !sleeping {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the migration never slept in pg_stat_activity; backends: {:?}",
            db.other_backends()
        );
    }
    (child, pid.expect("a backend pid"))
}

fn backend_alive(db: &TestDb, pid: i32) -> bool {
    db.connect()
        .query_opt("SELECT 1 FROM pg_stat_activity WHERE pid = $1", &[&pid])
        .expect("read pg_stat_activity")
        .is_some()
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
/// until it next checks the client) and no ledger row. The rerun failed with "already exists",
/// said "no statement of this migration was committed" and "fix the file": both false. Now it
/// says what this run committed, that an earlier run may have built the index (named, VALID),
/// and how to finish: record it, or make the statements safe to run twice. Deterministic: the
/// kill lands in the `pg_sleep` after the build, which has committed.
#[test]
fn a_killed_no_transaction_migration_is_named_on_the_rerun_with_how_to_finish_it() {
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
    let (mut child, pid) = up_until_it_sleeps(&project, &db);
    child.kill().expect("kill the runner");
    child.wait().expect("reap the runner");
    assert!(
        wait_until(Duration::from_secs(15), || !backend_alive(&db, pid)),
        "backend {pid} outlived its client"
    );
    let valid = |db: &TestDb| {
        db.connect()
            .query_opt(
                "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass('public.big_ix')",
                &[],
            )
            .expect("read pg_index")
            .map(|row| row.get::<_, bool>(0))
    };
    assert_eq!(
        valid(&db),
        Some(true),
        "the build committed before the kill"
    );
    assert_eq!(db.ledger().expect("the ledger"), ["001:big"]);

    let rerun = project.run_on(&db, &["migrate", "up"]);
    rerun
        .code(exit::MIGRATION_FAILED)
        .stderr_has("relation \"big_ix\" already exists")
        .stderr_has("this run committed none of its statements")
        .stderr_has("index public.big_ix exists and is VALID: an earlier run of 002_ix may have built it and been stopped before recording 002_ix")
        .stderr_has("within a second")
        .stderr_has("check what the schema has of statements 1–2 of db/migrations/002_ix.up.sql")
        .stderr_has("`cargo confiture migrate baseline --through 002 --database-url <URL>`")
        .stderr_has("(`IF NOT EXISTS`)")
        .stderr_lacks("no statement of this migration was committed")
        .stderr_lacks("help: fix db/migrations/002_ix.up.sql");

    // Following the help: statements safe to run twice, and the migration completes.
    project.write(
        "db/migrations/002_ix.up.sql",
        slow.replace("CONCURRENTLY big_ix", "CONCURRENTLY IF NOT EXISTS big_ix")
            .replace("pg_sleep(30)", "pg_sleep(0)"),
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    assert_eq!(db.ledger().expect("the ledger"), ["001:big", "002:ix"]);
}

/// The same class without a kill: a `no-transaction` statement that finds what it makes
/// already there (an enum value, 42710), or, going down, what it removes already gone (an
/// index, 42704), says an earlier run may have committed it, never only "fix the file".
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
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("what statement 1 makes is already there: an earlier run of 002_v may have committed it")
        .stderr_has("`cargo confiture migrate baseline --through 002 --database-url <URL>`")
        .stderr_lacks("help: fix db/migrations/002_v.up.sql");

    // Down: the index already dropped by a rollback stopped before deleting the row.
    project.write(
        "db/migrations/002_v.up.sql",
        "-- confiture:no-transaction\nALTER TYPE mood ADD VALUE IF NOT EXISTS 'happy';\nCREATE INDEX CONCURRENTLY t_ix ON t (id);\n",
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    db.connect()
        .batch_execute("DROP INDEX t_ix")
        .expect("stand in for an earlier rollback");
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("what statement 1 removes is already gone: an earlier rollback of 002_v may have committed it")
        .stderr_has("(`IF EXISTS`)")
        .stderr_lacks("help: fix db/migrations/002_v.down.sql");
    assert_eq!(db.ledger().expect("the ledger"), ["001:t", "002:v"]);
}
