//! The server misbehaving under the CLI: restarted (and crashed) in the middle of a run of slow
//! migrations, the applying backend terminated, a role without `CREATE`, a read-only database.
//! Each fails with a clear message and the right exit code, leaves no half-applied migration
//! and no ledger row for it, and the next `up` completes.
//!
//! Restarts happen on a throwaway cluster (never on the shared server); the other faults use a
//! database (and role) of their own on the shared server.

use std::process::Child;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use confiture::exit;
use confiture::files::Direction;
use confiture_test_support::reaper::DropRoleLater;
use confiture_tests::cluster::{wait_until, Cluster};
use confiture_tests::{admin, unique, Project, Run, TestDb};

/// 001 is quick; 002 creates a table, then sleeps for as long as the `pause` table (made by
/// the test, not by a migration) has a row; 003 is quick. The files never change between runs.
fn slow_project() -> Project {
    project_sleeping_in(Direction::Up)
}

/// 001–003 as [`slow_project`]'s, 002 sleeping in its `direction` file.
fn project_sleeping_in(direction: Direction) -> Project {
    project_sleeping_for(direction, 60)
}

/// 001–003, 002 sleeping in its `direction` file `seconds` for each row of `pause`, in one
/// message with 001 and 003.
fn project_sleeping_for(direction: Direction, seconds: u32) -> Project {
    // `PERFORM`, not `SELECT`: a statement that returns rows would send 002 alone, and these
    // tests are about a message of three.
    let sleep = format!("DO $$ BEGIN PERFORM pg_sleep({seconds}) FROM pause; END $$;\n");
    let (mut up, mut down) = (
        "CREATE TABLE half (id int PRIMARY KEY);\n".to_string(),
        "DROP TABLE half;\n".to_string(),
    );
    match direction {
        Direction::Up => up.push_str(&sleep),
        Direction::Down => down.push_str(&sleep),
    }
    let project = Project::new();
    project
        .migration(
            "001_create_t1",
            "CREATE TABLE t1 (id int PRIMARY KEY);\n",
            "DROP TABLE t1;\n",
        )
        .migration("002_slow", &up, &down)
        .migration(
            "003_create_t3",
            "CREATE TABLE t3 (id int PRIMARY KEY);\n",
            "DROP TABLE t3;\n",
        );
    project
}

/// `migrate up --allow-non-empty` on `db`, run to its end.
fn up_allowing_non_empty(project: &Project, db: &TestDb) -> Run {
    project.run_on(db, &["migrate", "up", "--allow-non-empty"])
}

/// The CLI running `migrate up` in the background.
fn spawn_up(project: &Project, url: &str) -> Child {
    project.spawn(&["migrate", "up", "--allow-non-empty", "--database-url", url])
}

/// The CLI run with `args` on `db`, its session ended (`pg_terminate_backend`) once it sleeps
/// in migration 002.
fn terminated_in_002(
    project: &Project,
    db: &TestDb,
    client: &mut postgres::Client,
    args: &[&str],
) -> Run {
    let child = project.spawn_on(db, args);
    let pid = sleeping_backend(client, &db.name);
    client
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .expect("pg_terminate_backend");
    Run::reaped(child)
}

/// Whether the error says why the session ended: the server's FATAL (57P01) when the driver
/// read it, else that the server did not restart.
fn says_the_session_was_ended(run: &Run) -> bool {
    run.stderr.contains("SQLSTATE 57P01")
        || run.stderr.contains(
            "the server did not restart during this run: another session or an \
             administrator ended this one (pg_terminate_backend)",
        )
}

/// The pid of the backend sleeping in migration 002 in `db`, once it is there: the only one
/// that waits in `pg_sleep`. Not found by its query text: it holds 001–003 (one message) as
/// soon as the server receives it, and the server truncates it at `track_activity_query_size`.
fn sleeping_backend(client: &mut postgres::Client, db: &str) -> i32 {
    let mut pid = None;
    wait_until("migration 002 sleeps", Duration::from_secs(30), || {
        pid = client
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 \
                 AND wait_event = 'PgSleep' \
                 AND pid <> pg_backend_pid()",
                &[&db],
            )
            .expect("pg_stat_activity")
            .map(|row| row.get(0));
        pid.is_some()
    });
    pid.unwrap_or_default()
}

fn ledger(client: &mut postgres::Client) -> Vec<String> {
    client
        .query(
            "SELECT version FROM tb_confiture ORDER BY applied_at, pk_confiture",
            &[],
        )
        .expect("ledger rows")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn has_table(client: &mut postgres::Client, name: &str) -> bool {
    client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .expect("to_regclass")
        .get(0)
}

/// A failed run of `slow_project` stopped in 002: exit 3 naming the migration, nothing of 002
/// or 003 in the database or the ledger.
#[track_caller]
fn assert_stopped_in_002(run: &Run, client: &mut postgres::Client) {
    // 001–003 go to the server in one message. When the server is back at once, a new
    // connection reads the ledger and the error names the migration that did not commit;
    // while it restarts, the error names the whole message and says the finished ones count.
    run.code(3)
        .stderr_has("002_slow")
        .stderr_has("help: run `cargo confiture migrate status --database-url <URL>`");
    let confirmed = run
        .stderr
        .contains("connection lost before migration 002_slow committed")
        && run
            .stderr
            .contains("its transaction did not commit (checked in the ledger");
    let unconfirmed = run
        .stderr
        .contains("connection lost while applying 3 migrations sent in one message")
        && run.stderr.contains("the one it was running did not commit");
    assert!(confirmed || unconfirmed, "{}", run.dump());
    assert!(
        !ledger(client).contains(&"002".to_string()),
        "no row for 002"
    );
    assert!(!has_table(client, "half"), "nothing of 002 was applied");
    assert!(!has_table(client, "t3"), "003 was not attempted");
    // What is recorded is exactly what is there.
    assert_eq!(
        ledger(client).contains(&"001".to_string()),
        has_table(client, "t1"),
        "001's row and its table commit together"
    );
}

/// How a refusal of the writing command `args` (`migrate COMMAND ...`) made before it does
/// anything ends: `baseline` and `reinit` record migrations without running them, so nothing
/// was recorded; `up` and `down` run them.
fn nothing_done(args: &[&str]) -> &'static str {
    match args.get(1) {
        Some(&"baseline") | Some(&"reinit") => "nothing was recorded",
        _ => "nothing was run",
    }
}

/// One cluster for the restart tests, one restart at a time.
fn restartable() -> MutexGuard<'static, Cluster> {
    static CLUSTER: OnceLock<Mutex<Cluster>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| {
            let cluster = Cluster::init();
            cluster.start();
            Mutex::new(cluster)
        })
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `slow_project` on the cluster, restarts the server with `mode` while 002 sleeps,
/// checks the failure, then runs `up` again.
fn restart_mid_run(mode: &str) -> Vec<String> {
    let cluster = restartable();
    let db = cluster.create_database("restart");
    let url = cluster.url(&db, "sslmode=disable");
    let project = slow_project();
    let mut client = cluster.connect(&db);
    client
        .batch_execute("CREATE TABLE pause (x int); INSERT INTO pause VALUES (1);")
        .expect("pause");

    let child = spawn_up(&project, &url);
    sleeping_backend(&mut client, &db);
    let restarted = Instant::now();
    cluster.restart(mode);
    let run = Run::reaped(child);
    assert!(
        restarted.elapsed() < Duration::from_secs(30),
        "the CLI noticed the restart"
    );

    let mut client = cluster.connect(&db);
    assert_stopped_in_002(&run, &mut client);
    let after_failure = ledger(&mut client);

    client.batch_execute("DELETE FROM pause").expect("unpause");
    let again = project.run(&["migrate", "up", "--allow-non-empty", "--database-url", &url]);
    again.code(0);
    assert_eq!(ledger(&mut client), ["001", "002", "003"]);
    assert!(has_table(&mut client, "half") && has_table(&mut client, "t3"));
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(0);
    after_failure
}

#[test]
fn a_server_restart_mid_run_fails_with_exit_3_and_the_next_up_completes() {
    let recorded = restart_mid_run("fast");
    // A clean shutdown flushes every commit: 001 stays applied.
    assert_eq!(recorded, ["001"]);
}

#[test]
fn a_server_crash_mid_run_loses_at_most_whole_migrations_and_the_next_up_completes() {
    // 001 committed without waiting for its WAL flush (only a run's last commit waits), so
    // an immediate shutdown may lose it — as a whole, with its row (checked in restart_mid_run).
    let recorded = restart_mid_run("immediate");
    assert!(recorded.is_empty() || recorded == ["001"], "{recorded:?}");
}

/// A cluster whose WAL writer flushes asynchronous commits only every ten seconds: a crash
/// within that window loses every commit that was not flushed by a synchronous one.
fn lazy_wal_writer() -> Cluster {
    let cluster = Cluster::init();
    cluster.configure(
        "wal_writer_delay = 10s\nwal_writer_flush_after = 0\n",
        confiture_tests::cluster::TRUST_ALL,
    );
    cluster.start();
    cluster
}

/// 001–003 quick (one message with `004`), then `004` as given.
fn three_then(up_004: &str) -> Project {
    let project = Project::new();
    for n in 1..=3 {
        project.migration(
            &format!("00{n}_q{n}"),
            &format!("CREATE TABLE q{n} (id int);\n"),
            &format!("DROP TABLE q{n};\n"),
        );
    }
    project.migration("004_last", up_004, "SELECT 1;\n");
    project
}

#[test]
fn migrations_reported_applied_before_a_failure_survive_a_server_crash_after_the_run() {
    // All but a run's last migration commit asynchronously; when the run ends before its last
    // (004 fails), nothing flushed 001–003, yet the report says they are applied.
    let cluster = lazy_wal_writer();
    let db = cluster.create_database("durable");
    let url = cluster.url(&db, "sslmode=disable");
    let project = three_then("DO $$ BEGIN RAISE EXCEPTION 'boom'; END $$;\n");
    let run = project.run(&["migrate", "up", "--database-url", &url]);
    run.code(exit::MIGRATION_FAILED)
        .stderr_has("applied before the failure: 001, 002, 003");
    assert!(!run.stderr.contains("durability unknown"), "{}", run.dump());
    cluster.restart("immediate");
    let mut client = cluster.connect(&db);
    assert_eq!(ledger(&mut client), ["001", "002", "003"], "{}", run.dump());
    assert!(has_table(&mut client, "q3"));

    // `down` the same way: 004–002 rolled back, 001's rollback (the run's last) fails. Their
    // rollbacks drop no table: a commit that drops a relation is flushed whatever
    // `synchronous_commit` says.
    project.write("db/migrations/004_last.up.sql", "SELECT 1;\n");
    for n in 2..=3 {
        project.write(
            &format!("db/migrations/00{n}_q{n}.down.sql"),
            format!("COMMENT ON TABLE q{n} IS 'rolled back';\n"),
        );
    }
    project.write(
        "db/migrations/001_q1.down.sql",
        "DO $$ BEGIN RAISE EXCEPTION 'boom'; END $$;\n",
    );
    let url = cluster.url(&db, "sslmode=disable");
    project
        .run(&["migrate", "up", "--database-url", &url])
        .code(exit::SUCCESS);
    let run = project.run(&[
        "migrate",
        "down",
        "--target",
        "0",
        "--yes",
        "--database-url",
        &url,
    ]);
    run.code(exit::MIGRATION_FAILED)
        .stderr_has("rolled back before the failure: 004, 003, 002");
    cluster.restart("immediate");
    let mut client = cluster.connect(&db);
    assert_eq!(ledger(&mut client), ["001"], "{}", run.dump());
}

#[test]
fn migrations_committed_before_a_crash_mid_run_are_reported_as_possibly_lost() {
    // The server crashes while 004 runs and stays down: 001–003 committed (asynchronously) and
    // nothing could make them durable. The report says so, and what survived is whole.
    let cluster = lazy_wal_writer();
    let db = cluster.create_database("durable_lost");
    let url = cluster.url(&db, "sslmode=disable");
    let mut client = cluster.connect(&db);
    client
        .batch_execute("CREATE TABLE pause (x int); INSERT INTO pause VALUES (1);")
        .expect("pause");
    // 004 returns rows, so it is a message of its own, after 001–003's: the run sees them
    // commit before it sleeps.
    let project = three_then("SELECT pg_sleep(60) FROM pause;\n");
    let child = project.spawn(&[
        "migrate",
        "up",
        "--allow-non-empty",
        "--format",
        "json",
        "--database-url",
        &url,
    ]);
    sleeping_backend(&mut client, &db);
    drop(client);
    cluster.stop("immediate");
    let run = Run::reaped(child);
    cluster.start();
    run.code(exit::CONNECTION);
    let json = run.json();
    let error = &json["errors"][0];
    let committed = error["committed"].clone();
    assert_eq!(
        committed,
        serde_json::json!(["001", "002", "003"]),
        "{}",
        run.dump()
    );
    assert_eq!(
        error["durability_unknown"],
        committed,
        "every migration committed in the run may be lost\n{}",
        run.dump()
    );
    let mut client = cluster.connect(&db);
    let survived = ledger(&mut client);
    let listed: Vec<String> = committed
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert!(listed.starts_with(&survived), "{survived:?} {}", run.dump());
    for (n, version) in ["001", "002", "003"].iter().enumerate() {
        assert_eq!(
            survived.contains(&version.to_string()),
            has_table(&mut client, &format!("q{}", n + 1)),
            "a row and its table survive together"
        );
    }
}

#[test]
fn an_immediate_shutdown_is_the_reason_of_the_lost_connection_not_a_migration_warning() {
    // The server's WARNING "terminating connection due to immediate shutdown command" (57P01,
    // then the socket closes, no FATAL) is why the connection was lost: in a message of
    // transactions, and in a no-transaction migration's statement.
    let cluster = Cluster::init();
    cluster.start();
    for no_transaction in [false, true] {
        let db = cluster.create_database("shutdown");
        let mut client = cluster.connect(&db);
        client
            .batch_execute("CREATE TABLE pause (x int); INSERT INTO pause VALUES (1);")
            .expect("pause");
        let marker = if no_transaction {
            "-- confiture:no-transaction\n"
        } else {
            ""
        };
        let project = three_then(&format!(
            "{marker}DO $$ BEGIN PERFORM pg_sleep(60) FROM pause; END $$;\n"
        ));
        let child = project.spawn(&[
            "migrate",
            "up",
            "--allow-non-empty",
            "--database-url",
            &cluster.url(&db, "sslmode=disable"),
        ]);
        sleeping_backend(&mut client, &db);
        drop(client);
        cluster.stop("immediate");
        let run = Run::reaped(child);
        cluster.start();
        run.code(exit::CONNECTION)
            .stderr_has("terminating connection due to immediate shutdown command (SQLSTATE 57P01)")
            .stderr_lacks("WARNING from")
            .stderr_lacks("without saying why")
            .stderr_lacks("warning:");
    }
}

#[test]
fn a_terminated_backend_fails_with_exit_3_and_the_next_up_completes() {
    let db = TestDb::new("terminated");
    let project = slow_project();
    let mut client = db.connect();
    client
        .batch_execute("CREATE TABLE pause (x int); INSERT INTO pause VALUES (1);")
        .expect("pause");

    let child = spawn_up(&project, &db.url());
    let pid = sleeping_backend(&mut client, &db.name);
    let terminated = Instant::now();
    let killed: bool = client
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .expect("pg_terminate_backend")
        .get(0);
    assert!(killed);
    let run = Run::reaped(child);
    assert!(terminated.elapsed() < Duration::from_secs(30));
    assert_stopped_in_002(&run, &mut client);
    // The server says why (hlk 1: its FATAL, read with the socket's end, was lost every time,
    // "the server closed the connection without saying why"). Over TLS (`sslmode=prefer`, the
    // URL's, to a server offering it) the session's stream hands it over as it reads it; a
    // plain connection's socket is the driver's own: there it may still be lost.
    let tls: String = client.query_one("SHOW ssl", &[]).expect("ssl").get(0);
    if tls == "on" {
        run.stderr_has("terminating connection due to administrator command (SQLSTATE 57P01)")
            .stderr_lacks("without saying why");
    } else {
        assert!(
            run.stderr
                .contains("terminating connection due to administrator command")
                || run.stderr.contains("the server closed the connection"),
            "{}",
            run.dump()
        );
    }
    // The server was up all along: the ledger was read on a new connection.
    run.stderr_has("connection lost before migration 002_slow committed");
    assert_eq!(ledger(&mut client), ["001"]);
    let lock_free: bool = client
        .query_one(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
             AND classid = 1751936052 AND database = (SELECT oid FROM pg_database \
             WHERE datname = current_database()))",
            &[],
        )
        .expect("pg_locks")
        .get(0);
    assert!(lock_free, "the migration lock went with the session");

    client.batch_execute("DELETE FROM pause").expect("unpause");
    up_allowing_non_empty(&project, &db)
        .code(0)
        .stdout_has("002, 003");
    assert_eq!(ledger(&mut client), ["001", "002", "003"]);
}

/// A session lost while `up` builds an index concurrently leaves the index INVALID (the build
/// commits its catalog entry first, then waits for the table's writers): the exit-3 help names
/// `DROP INDEX CONCURRENTLY <index>` before the run again with `--rerun-interrupted`, which the
/// run again would otherwise refuse over that index. Named as `DROP INDEX` takes it: the
/// table's schema when the file gives one, a name quoted as SQL reads it back. Following the
/// help builds the index and records the migration. The session ends as a restart ends it
/// (57P01, or a closed socket), with the build waiting for a writer of the table to finish.
///
/// hrb F2: a build naming no schema was named bare, `DROP INDEX CONCURRENTLY t_ix;`, which
/// pasted dropped the index of that name the paster's `search_path` found — another schema's
/// (`public.ix`) after the file's `SET search_path`, or a tenant's build (`--schema`) —, the
/// INVALID one left; and `status`, `baseline --dry-run` and `up --rerun-interrupted --dry-run`
/// did not find the INVALID index past the file's `SET search_path`. Now a bare name is never
/// given as a statement to run: the help sends to `status`, which names it with its schema.
#[test]
fn a_session_lost_mid_index_build_says_to_drop_the_invalid_index_first() {
    // The statement, the index as the help names it from the file (none: the file names no
    // schema), and as the server resolves it (`status`, the refusal of the run again).
    for (create, index, resolved) in [
        (
            "CREATE INDEX CONCURRENTLY t_ix ON t (id)",
            None,
            "public.t_ix",
        ),
        (
            "CREATE UNIQUE INDEX CONCURRENTLY \"T ix\" ON app.t (id)",
            Some("app.\"T ix\""),
            "app.\"T ix\"",
        ),
        (
            "SET search_path = app;\nCREATE INDEX CONCURRENTLY t_ix ON t (id)",
            None,
            "app.t_ix",
        ),
    ] {
        let db = TestDb::new("lost_mid_build");
        let project = Project::new();
        project
            .migration(
                "001_t",
                "CREATE SCHEMA app;\nCREATE TABLE t (id int);\nCREATE TABLE app.t (id int);\n",
                "DROP TABLE app.t;\nDROP TABLE t;\nDROP SCHEMA app;\n",
            )
            .migration(
                "002_ix",
                &format!("-- confiture:no-transaction\n{create};\n"),
                &format!("-- confiture:no-transaction\nDROP INDEX CONCURRENTLY {resolved};\n"),
            );
        project
            .run_on(&db, &["migrate", "up", "--target", "001"])
            .code(exit::SUCCESS);
        let table = if resolved.starts_with("app.") {
            "app.t"
        } else {
            "t"
        };
        // A writer of the table, whose transaction the build waits for once its INVALID index
        // is in the catalog.
        let mut writer = db.open_writer(table, "(1)");
        let (child, pid) = project.spawn_until_it_waits(
            &db,
            &["migrate", "up", "--lock-timeout-statement", "0"],
            "virtualxid",
        );
        let mut client = db.connect();
        client
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .expect("pg_terminate_backend");
        let run = Run::reaped(child);
        writer.batch_execute("COMMIT").expect("the writer commits");
        let invalid: bool = client
            .query_one(
                "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = $1::text::regclass",
                &[&resolved],
            )
            .expect("the index the build left")
            .get(0);
        assert!(invalid, "the build left its index INVALID");
        run.code(exit::CONNECTION)
            .stderr_has("connection lost while applying migration 002_ix");
        let help = run.help_line();
        let again = "`cargo confiture migrate up --rerun-interrupted --database-url <URL>`";
        let named = match index {
            // Not asked (the session is gone): what the build may have left, its drop
            // harmless if it left nothing.
            Some(index) => help.contains(&format!("`DROP INDEX CONCURRENTLY IF EXISTS {index};`")),
            None => {
                !help.contains("DROP INDEX CONCURRENTLY t_ix;")
                    && help.contains("`cargo confiture migrate status --database-url <URL>` reads it, names it with its schema")
            }
        };
        assert!(
            named && help.contains(again),
            "the help names the DROP (or `status`) and the run again\n{}",
            run.dump()
        );
        assert!(
            help.starts_with("help: the build may have left its index")
                || help.starts_with("help: that statement may have left its unfinished index"),
            "the index comes first\n{}",
            run.dump()
        );
        // `status` and the dry runs read it where the file's session built it.
        let drop = format!("`DROP INDEX CONCURRENTLY {resolved};`");
        project
            .status_on(&db)
            .code(exit::DIVERGED)
            .stderr_has(&drop);
        for args in [
            &[
                "migrate",
                "baseline",
                "--through",
                "002",
                "--yes",
                "--dry-run",
            ][..],
            &["migrate", "up", "--rerun-interrupted", "--dry-run"],
        ] {
            project.run_on(&db, args).stderr_has(&drop);
        }

        // The run again without the flag is refused, and its help drops the index first too.
        project
            .run_on(&db, &["migrate", "up"])
            .code(exit::DIVERGED)
            .stderr_has(&format!("`DROP INDEX CONCURRENTLY {resolved};`"));
        // Following the help: the DROP, then the command it names.
        client
            .batch_execute(&format!("DROP INDEX CONCURRENTLY {resolved}"))
            .expect("the DROP the help names");
        project
            .paste(&again.replace("<URL>", &db.url()))
            .code(exit::SUCCESS);
        let valid: bool = client
            .query_one(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = $1::text::regclass",
                &[&resolved],
            )
            .expect("the index built again")
            .get(0);
        assert!(valid, "the run again built the index");
        assert_eq!(ledger(&mut client), ["001", "002"]);
    }
}

/// A new login role on the shared server, dropped (after the databases handed over before it:
/// declare it before the databases it is used in) on drop.
fn login_role(prefix: &str) -> DropRoleLater {
    let name = unique(prefix);
    admin()
        .batch_execute(&format!("CREATE ROLE \"{name}\" LOGIN"))
        .unwrap_or_else(|e| panic!("cannot create role {name}: {e}"));
    DropRoleLater(name)
}

/// The URL of `db` on the shared server, logging in as `role`.
fn url_as(role: &DropRoleLater, db: &TestDb) -> String {
    format!(
        "postgresql://{}@{}:{}/{}",
        role.0,
        confiture_tests::pg_host(),
        confiture_tests::pg_port(),
        db.name
    )
}

/// A migration's id, up and down files.
type MigrationFiles<'a> = (&'a str, &'a str, &'a str);

/// The one migration of most projects here: a table the role needs `CREATE` to build.
const TB_NOTE: MigrationFiles = (
    "001_create_tb_note",
    "CREATE TABLE tb_note (id int PRIMARY KEY);\n",
    "DROP TABLE tb_note;\n",
);

/// A new login role (`role_prefix`), a database of its own (`db_prefix`), the database's URL
/// as that role, and a project holding `migration`. Bound in this order
/// (`let (role, db, url, project) = ...`), the database is dropped before the role that may own
/// its objects: bindings drop last to first.
fn role_project(
    role_prefix: &str,
    db_prefix: &str,
    (id, up, down): MigrationFiles,
) -> (DropRoleLater, TestDb, String, Project) {
    let role = login_role(role_prefix);
    let db = TestDb::new(db_prefix);
    let url = url_as(&role, &db);
    let project = Project::new();
    project.migration(id, up, down);
    (role, db, url, project)
}

#[test]
fn a_role_without_create_privilege_gets_an_error_naming_the_schema_and_table() {
    // Bound first, dropped last: the role outlives the database it has privileges in.
    let (role, db, url, project) = role_project("cft_nocreate", "nocreate", TB_NOTE);
    let mut client = db.connect();
    // PostgreSQL 15+ grants no CREATE on schema public to PUBLIC; older servers do.
    client
        .batch_execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        .expect("revoke");

    // The tracking table cannot be created: the database's configuration (5), not a failed
    // migration (4) — none ran.
    project
        .run(&["migrate", "up", "--allow-non-empty", "--database-url", &url])
        .code(confiture::exit::INVALID)
        .stderr_has(
            "cannot create the tracking table tb_confiture: permission denied for schema public",
        )
        .stderr_has(&format!(
            "help: grant role {role} CREATE on schema public, where the migrations build too",
            role = confiture::ledger::quote_ident(&role.0)
        ))
        .stderr_has(&format!(
            "GRANT CREATE ON SCHEMA public TO {role};",
            role = confiture::ledger::quote_ident(&role.0)
        ));
    assert_eq!(db.ledger(), None);

    // The owner creates it and lets the role write it: now the migration's own CREATE fails.
    client
        .batch_execute(&format!(
            "{}; GRANT SELECT, INSERT, DELETE ON tb_confiture TO \"{}\"",
            confiture::ledger::TrackingTable::default().create_sql(),
            role.0
        ))
        .expect("ledger made by the owner");
    project
        .run(&["migrate", "up", "--allow-non-empty", "--database-url", &url])
        .code(4)
        .stderr_has("migration 001_create_tb_note failed at ")
        .stderr_has("001_create_tb_note.up.sql")
        .stderr_has("permission denied for schema public")
        .stderr_has("SQLSTATE 42501");
    assert_eq!(db.ledger(), Some(vec![]));
    assert!(!db.has_relation("tb_note"));

    client
        .batch_execute(&format!("GRANT CREATE ON SCHEMA public TO \"{}\"", role.0))
        .expect("grant");
    project
        .run(&["migrate", "up", "--allow-non-empty", "--database-url", &url])
        .code(0);
    assert_eq!(db.ledger(), Some(vec!["001:create_tb_note".to_string()]));
    // Dropped before the role: the role owns tb_note.
    drop(client);
    drop(db);
}

/// A dry run, and `status`, said a missing tracking table the role may not create was fine:
/// `up --dry-run` and `baseline --dry-run` "would apply"/"would record" (exit 0), `status` "run
/// `migrate up` to create the tracking table", where the run then failed (exit 5) — PostgreSQL
/// 15's `public` grants no CREATE to other roles. What `up` refuses, its dry run refuses, with
/// the run's help; a role that may create it is previewed as before; nothing is written.
#[test]
fn a_dry_run_and_status_say_the_tracking_table_cannot_be_created_as_up_does() {
    let (role, db, url, project) = role_project(
        "cft_nocreate_dry",
        "nocreate_dry",
        (
            "001_t",
            "CREATE TABLE public.t (id int);\n",
            "DROP TABLE public.t;\n",
        ),
    );
    let q = |name: &str| confiture::ledger::quote_ident(name).into_owned();
    let mut client = db.connect();
    client
        .batch_execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        .expect("revoke");
    let grant = format!("GRANT CREATE ON SCHEMA public TO {};", q(&role.0));
    for args in [
        &["migrate", "up", "--dry-run"][..],
        &["migrate", "baseline", "--through", "001", "--dry-run"][..],
    ] {
        project
            .run(&[args, &["--database-url", &url]].concat())
            .code(exit::INVALID)
            .stderr_has("cannot create the tracking table tb_confiture")
            .stderr_has(&grant)
            .stdout_lacks("would");
    }
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(exit::NOT_INITIALISED)
        .stderr_has(&format!("cannot create it: grant role {}", q(&role.0)))
        .stderr_has(&grant)
        .stderr_lacks("to create the tracking table and apply the migrations");
    // The run says the same.
    project
        .run(&["migrate", "up", "--database-url", &url])
        .code(exit::INVALID)
        .stderr_has("cannot create the tracking table tb_confiture")
        .stderr_has(&grant);
    assert_eq!(db.ledger(), None);

    // No schema on the search_path: the dry run says so, as `up` and `status` do.
    client
        .batch_execute(&format!(
            "ALTER DATABASE {} SET search_path = ''",
            q(&db.name)
        ))
        .expect("an empty search_path");
    project
        .run(&["migrate", "up", "--dry-run", "--database-url", &url])
        .code(exit::INVALID)
        .stderr_has("cannot create the tracking table tb_confiture")
        .stderr_has("the session's search_path names no existing schema")
        .stdout_lacks("would");
    client
        .batch_execute(&format!("ALTER DATABASE {} RESET search_path", q(&db.name)))
        .expect("reset");

    // Allowed to create it: previewed, and nothing written.
    client
        .batch_execute(&format!("GRANT CREATE ON SCHEMA public TO {}", q(&role.0)))
        .expect("grant");
    project
        .run(&["migrate", "up", "--dry-run", "--database-url", &url])
        .code(0)
        .stdout_has("would apply 001_t");
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(exit::NOT_INITIALISED)
        .stderr_has("to create the tracking table and apply the migrations");
    assert_eq!(db.ledger(), None);
    drop(client);
    drop(db);
}

/// The role migrations run as may not be the one that logged in: a database's or a role's
/// `role` setting (`ALTER DATABASE ... SET role`, `ALTER ROLE ... SET role`) switches every
/// session. A tracking table that role may not create was told to "grant this role CREATE on
/// that schema (GRANT CREATE ON SCHEMA <schema> TO <role>)", to a superuser who saw only their
/// own name: the help names the role in effect, the grant to paste and the setting that
/// switched it.
#[test]
fn a_tracking_table_the_role_in_effect_may_not_create_names_that_role_and_where_it_comes_from() {
    let low = login_role("cft_setrole_low");
    let login = login_role("cft_setrole_login");
    let db = TestDb::new("setrole");
    let q = |name: &str| confiture::ledger::quote_ident(name).into_owned();
    admin()
        .batch_execute(&format!("GRANT {} TO {}", q(&low.0), q(&login.0)))
        .expect("the login role may be the low one");
    let mut client = db.connect();
    client
        .batch_execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        .expect("revoke");
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n");
    let grant = format!("GRANT CREATE ON SCHEMA public TO {};", q(&low.0));

    // Set by the database: the superuser who logs in runs as `low`.
    client
        .batch_execute(&format!(
            "ALTER DATABASE {} SET role = '{}'",
            q(&db.name),
            low.0
        ))
        .expect("the database's role");
    up_allowing_non_empty(&project, &db)
        .code(confiture::exit::INVALID)
        .stderr_has("cannot create the tracking table tb_confiture: permission denied")
        .stderr_has(&grant)
        .stderr_has(&format!("ALTER DATABASE {} SET role", q(&db.name)))
        .stderr_lacks("<role>")
        .stderr_lacks("<schema>");
    // A ledger that role may not read says the same of it.
    client
        .batch_execute(&confiture::ledger::TrackingTable::default().create_sql())
        .expect("a ledger made by the owner");
    project
        .run(&["migrate", "status", "--database-url", &db.url()])
        .code(confiture::exit::INVALID)
        .stderr_has("cannot read the tracking table")
        .stderr_has(&format!("TO \"{}\";", low.0))
        .stderr_has(&format!("ALTER DATABASE {} SET role", q(&db.name)));
    client
        .batch_execute(&format!(
            "DROP TABLE tb_confiture; ALTER DATABASE {} RESET role",
            q(&db.name)
        ))
        .expect("reset");

    // Set by the role that logs in.
    admin()
        .batch_execute(&format!(
            "ALTER ROLE {} SET role = '{}'",
            q(&login.0),
            low.0
        ))
        .expect("the login role's role");
    project
        .run(&[
            "migrate",
            "up",
            "--allow-non-empty",
            "--database-url",
            &url_as(&login, &db),
        ])
        .code(confiture::exit::INVALID)
        .stderr_has(&grant)
        .stderr_has(&format!("ALTER ROLE {} SET role", q(&login.0)))
        .stderr_lacks("<role>");
    assert_eq!(db.ledger(), None);

    // The role that logs in is the one in effect: named, no word of another.
    project
        .run(&[
            "migrate",
            "up",
            "--allow-non-empty",
            "--database-url",
            &url_as(&low, &db),
        ])
        .code(confiture::exit::INVALID)
        .stderr_has(&grant)
        .stderr_lacks("SET role")
        .stderr_lacks("<role>");
    // Two roles dropped at once while one is a member of the other can fail on the shared
    // membership row: they part first.
    admin()
        .batch_execute(&format!(
            "ALTER ROLE {login} RESET role; REVOKE {low} FROM {login}",
            low = q(&low.0),
            login = q(&login.0)
        ))
        .expect("the roles part");
    drop(client);
    drop(db);
}

/// A role that owns the schema of its ledger (a tenant's) but may not create schemas in the
/// database was refused: `CREATE SCHEMA IF NOT EXISTS` asks for the database's CREATE first,
/// and the help then pointed at the schema's rights. The schema is created only when missing;
/// a missing one the role may not create gets the database's grant in the help.
#[test]
fn a_role_that_owns_its_ledgers_schema_needs_no_create_on_the_database() {
    let (role, db, url, project) = role_project(
        "cft_ownschema",
        "ownschema",
        (
            "001_create_tb_note",
            "CREATE TABLE own_t.tb_note (id int PRIMARY KEY);\n",
            "DROP TABLE own_t.tb_note;\n",
        ),
    );
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "REVOKE CREATE ON DATABASE \"{db}\" FROM PUBLIC; REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
             CREATE SCHEMA own_t AUTHORIZATION \"{role}\"",
            db = db.name,
            role = role.0
        ))
        .expect("a schema the role owns");
    let env = |schema: &str| {
        format!("database_url: {url}\nmigration:\n  tracking_table: {schema}.tb_confiture\n")
    };
    project.write("db/environments/own.yaml", env("own_t"));
    project
        .run(&["migrate", "up", "--allow-non-empty", "--env", "own"])
        .code(0);
    let rows = client
        .query_one("SELECT count(*) FROM own_t.tb_confiture", &[])
        .expect("the ledger in the role's schema")
        .get::<_, i64>(0);
    assert_eq!(rows, 1);

    // A schema that does not exist, and the role may not create: the help says what to grant.
    project.write("db/environments/new.yaml", env("new_t"));
    project.run(&["migrate", "status", "--env", "new"]).code(2);
    project
        .run(&["migrate", "up", "--allow-non-empty", "--env", "new"])
        .code(confiture::exit::INVALID)
        .stderr_has("CREATE on the database");
    drop(client);
    drop(db);
}

/// `up` sends the ledger's DDL on a fresh database while it still reads and checks the files,
/// and commits it once they pass: a database whose `idle_in_transaction_session_timeout` is
/// shorter than that check ended the session mid-way (exit 3, with a help about the role's
/// rights to create tables). Checking a 4 MB file takes far longer than the 1 ms set here.
#[test]
fn a_short_idle_in_transaction_timeout_does_not_end_the_first_up() {
    let db = TestDb::new("idle_tx");
    let project = Project::new();
    let long = "-- a long history of this table, kept with its migration\n".repeat(70_000);
    project
        .migration("001_t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
        .migration(
            "002_t2",
            &format!("{long}CREATE TABLE t2 (id int);\n"),
            "DROP TABLE t2;\n",
        );
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET idle_in_transaction_session_timeout = '1ms'",
            db.name
        ))
        .expect("set the database's idle-in-transaction timeout");
    up_allowing_non_empty(&project, &db)
        .code(0)
        .stdout_has("applied 2 migrations");
    assert_eq!(db.ledger().map(|l| l.len()), Some(2));
}

/// A writing command given `target_session_attrs=read-only` or `standby` failed after
/// connecting with "... is not read-only" and no help. It is refused before connecting, saying
/// that it needs a read-write session on the primary and how to ask for one; reading commands
/// keep any attribute, and `prefer-standby` still writes when no standby answers.
#[test]
fn a_writing_command_asking_for_a_session_that_cannot_write_is_refused_before_connecting() {
    let db = TestDb::new("attrs_write");
    let project = Project::new();
    project.migration(
        "001_create_t1",
        "CREATE TABLE t1 (id int PRIMARY KEY);\n",
        "DROP TABLE t1;\n",
    );
    let before = db.catalog_snapshot();
    let with = |attrs: &str| format!("{}?target_session_attrs={attrs}", db.url());
    for attrs in ["read-only", "standby"] {
        project.write(
            "db/environments/ro.yaml",
            format!("database_url: {}\n", with(attrs)),
        );
        for args in [
            &["migrate", "up", "--allow-non-empty"][..],
            &["migrate", "up", "--allow-non-empty", "--create-database"],
            &["migrate", "down"],
            &["migrate", "baseline", "--through", "1"],
            &["migrate", "reinit"],
        ] {
            let url = with(attrs);
            for selection in [&["--database-url", &url][..], &["--env", "ro"]] {
                let source = if selection[0] == "--env" {
                    "environment file db/environments/ro.yaml"
                } else {
                    "--database-url"
                };
                project
                    .run(&[args, selection].concat())
                    .code(3)
                    .stderr_has(&format!(
                        "a writing command needs a read-write session on the primary, but \
                         {source} asks for target_session_attrs={attrs}, a session that cannot \
                         write; {}",
                        nothing_done(args)
                    ))
                    .stderr_has("need target_session_attrs=read-write or primary")
                    .stderr_lacks("is not read-only")
                    .stderr_lacks("is not a standby");
            }
        }
    }
    assert_eq!(db.catalog_snapshot(), before, "nothing was written");
    // Reading commands keep the attribute: a dry run and `status` (on a primary, which
    // `prefer-standby` takes when no standby answers) read as asked.
    let url = with("prefer-standby");
    reads_still_work(&project, &url);
    // `prefer-standby` may write when no standby answers.
    project
        .run(&["migrate", "up", "--allow-non-empty", "--database-url", &url])
        .code(0);
    assert_eq!(db.ledger().unwrap(), ["001:create_t1"]);
}

/// `status` (exit 2: nothing applied yet) and a dry run of `up` still read `url`'s database.
fn reads_still_work(project: &Project, url: &str) {
    project
        .run(&["migrate", "status", "--database-url", url])
        .code(2);
    project
        .run(&[
            "migrate",
            "up",
            "--allow-non-empty",
            "--dry-run",
            "--database-url",
            url,
        ])
        .code(0);
}

#[test]
fn a_read_only_database_is_refused_before_anything_is_tried() {
    let db = TestDb::new("readonly");
    let project = Project::new();
    project.migration(
        "001_create_t1",
        "CREATE TABLE t1 (id int PRIMARY KEY);\n",
        "DROP TABLE t1;\n",
    );
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET default_transaction_read_only = on",
            db.name
        ))
        .expect("make the database read-only");
    let before = db.catalog_snapshot();
    // Another session holds the migration lock: the refusal must not wait for it.
    let mut holder = db.connect();
    let key = confiture::db::lock_id(&db.name);
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock(1751936052, {key})"))
        .expect("hold the lock");

    let url = db.url();
    let started = Instant::now();
    // A dry run is refused as its run is: it previewed "would apply 1 migration", exit 0, for
    // an `up` refused with exit 3.
    for args in [
        &["migrate", "up", "--allow-non-empty"][..],
        &["migrate", "up", "--allow-non-empty", "--dry-run"],
        &["migrate", "down"],
        &["migrate", "down", "--dry-run"],
        &["migrate", "baseline", "--through", "1"],
        &["migrate", "baseline", "--through", "1", "--dry-run"],
        &["migrate", "reinit"],
        &["migrate", "reinit", "--dry-run"],
    ] {
        let run = project.run(&[args, &["--database-url", &url, "--lock-timeout", "60s"]].concat());
        run.code(3)
            .stderr_has(&format!(
                "database postgres@{}:{}/{} is read-only (transaction_read_only is on); {}",
                confiture_tests::pg_host(),
                confiture_tests::pg_port(),
                db.name,
                nothing_done(args)
            ))
            .stderr_has("default_transaction_read_only = off");
    }
    for args in [
        &["migrate", "abandon", "1"][..],
        &["migrate", "abandon", "1", "--dry-run"],
    ] {
        project
            .run(&[args, &["--database-url", &url]].concat())
            .code(3)
            .stderr_has("is read-only (transaction_read_only is on)");
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "refused without waiting for the lock: {:?}",
        started.elapsed()
    );
    assert_eq!(db.catalog_snapshot(), before, "nothing was written");

    // Reading still works.
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(2);

    drop(holder);
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" RESET default_transaction_read_only",
            db.name
        ))
        .expect("make the database writable");
    project
        .run(&["migrate", "up", "--allow-non-empty", "--database-url", &url])
        .code(0);
    assert_eq!(db.ledger(), Some(vec!["001:create_t1".to_string()]));
}

/// The read-only refusal names where `default_transaction_read_only` comes from — the
/// database, the role, the role in that database, the connection's options — and the command
/// it gives for a catalog setting lifts it: `ALTER DATABASE` changed nothing for a role's
/// setting, which wins over the database's. Names are quoted as PostgreSQL's `quote_ident`
/// quotes them (the role's capitals need quotes). Each level is set above the ones lifted
/// before it, so that each refusal is that level's.
#[test]
fn a_read_only_refusal_names_the_setting_s_source_and_the_command_that_lifts_it() {
    // Declared first, dropped last: the database holding its objects goes first.
    let role = DropRoleLater(unique("cft_RO"));
    let db = TestDb::new("ro_source");
    let name = &role.0;
    admin()
        .batch_execute(&format!("CREATE ROLE \"{name}\" LOGIN SUPERUSER"))
        .expect("create the role");
    let project = Project::new();
    project.migration(
        "001_create_t1",
        "CREATE TABLE t1 (id int PRIMARY KEY);\n",
        "DROP TABLE t1;\n",
    );
    let url = confiture_tests::server().url_as(name, None, &db.name);
    let levels = [
        (
            format!("ALTER DATABASE \"{}\" SET", db.name),
            format!("ALTER DATABASE {} SET", db.name),
            "set for the database",
        ),
        (
            format!("ALTER ROLE \"{name}\" SET"),
            format!("ALTER ROLE \"{name}\" SET"),
            "set for the role \"",
        ),
        (
            format!("ALTER ROLE \"{name}\" IN DATABASE \"{}\" SET", db.name),
            format!("ALTER ROLE \"{name}\" IN DATABASE {} SET", db.name),
            "in this database: BEGIN READ WRITE; ALTER ROLE",
        ),
    ];
    for (set, lift, source) in levels {
        admin()
            .batch_execute(&format!("{set} default_transaction_read_only = on"))
            .expect("make the sessions read-only");
        let lift = format!("BEGIN READ WRITE; {lift} default_transaction_read_only = off; COMMIT;");
        let run = project.run(&["migrate", "up", "--allow-non-empty", "--database-url", &url]);
        run.code(3)
            .stderr_has("is read-only (transaction_read_only is on); nothing was run")
            .stderr_has(source)
            .stderr_has(&lift);
        if !set.starts_with("ALTER DATABASE") {
            run.stderr_lacks("ALTER DATABASE");
        }
        // Pasted where the user is: a session of that database, as that role, which the
        // setting makes read-only.
        let mut there =
            postgres::Client::connect(&url, postgres::NoTls).expect("connect as the role");
        there
            .batch_execute(&lift)
            .unwrap_or_else(|e| panic!("the help's command `{lift}` fails in that session: {e}"));
        project
            .run(&["migrate", "up", "--allow-non-empty", "--database-url", &url])
            .code(0);
    }
    // The connection's own options: nothing to alter in the catalogs.
    let with_options = format!("{url}?options=-c%20default_transaction_read_only%3Don");
    project
        .run(&["migrate", "down", "--database-url", &with_options])
        .code(3)
        .stderr_has("set by the connection's options")
        .stderr_has("write `options=-c%20default_transaction_read_only%3Doff` there")
        .stderr_lacks("ALTER ");
    assert_eq!(db.ledger(), Some(vec!["001:create_t1".to_string()]));
}

/// `up` with `flags` on `db` (which has the `pause` table), its migration 002 cancelled from
/// another session with `pg_cancel_backend` once it sleeps.
fn cancel_002(project: &Project, db: &TestDb, flags: &[&str]) -> Run {
    let mut client = db.connect();
    let url = db.url();
    let child = project.spawn(
        &[
            &["migrate", "up", "--allow-non-empty", "--database-url", &url][..],
            flags,
        ]
        .concat(),
    );
    let pid = sleeping_backend(&mut client, &db.name);
    let cancelled: bool = client
        .query_one("SELECT pg_cancel_backend($1)", &[&pid])
        .expect("pg_cancel_backend")
        .get(0);
    assert!(cancelled);
    Run::reaped(child)
}

/// SQLSTATE 57014 is a `statement_timeout` and a cancel request alike (only the localised
/// message differs): a migration another session cancels (`pg_cancel_backend`: a DBA, a
/// watchdog on long queries) is said to be that, not a timeout to raise, when no
/// `statement_timeout` could have fired — none in force (not ours, not the database's), or
/// one longer than the run took — in a message of several migrations and in
/// `--single-transaction`; a real timeout, ours or the database's, still says to raise it.
#[test]
fn a_migration_cancelled_by_another_session_is_not_blamed_on_statement_timeout() {
    let project = slow_project();
    let db = TestDb::new("cancelled");
    db.connect()
        .batch_execute("CREATE TABLE pause (x int); INSERT INTO pause VALUES (1);")
        .expect("pause");
    let by_another_session = [
        (&[][..], "no statement_timeout"),
        (
            &["--single-transaction"],
            "no statement_timeout, one transaction",
        ),
        (
            &["--statement-timeout", "10min"],
            "a statement_timeout of ours, not reached",
        ),
    ];
    for (flags, what) in by_another_session {
        let run = cancel_002(&project, &db, flags);
        run.code(exit::MIGRATION_FAILED)
            .stderr_has("SQLSTATE 57014")
            .stderr_has(CANCEL_BOTH_WAYS)
            .stderr_has("run the command again")
            .stderr_lacks("or split the migration");
        assert!(!ledger(&mut db.connect()).contains(&"002".into()), "{what}");
    }
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET statement_timeout = '10min'",
            db.name
        ))
        .expect("a statement_timeout for the database");
    cancel_002(&project, &db, &[])
        .code(exit::MIGRATION_FAILED)
        .stderr_has(CANCEL_BOTH_WAYS)
        .stderr_lacks("or split the migration");

    // Real timeouts: the database's, then ours.
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET statement_timeout = '300ms'",
            db.name
        ))
        .expect("a short statement_timeout for the database");
    up_allowing_non_empty(&project, &db)
        .code(exit::MIGRATION_FAILED)
        .stderr_has("SQLSTATE 57014")
        .stderr_has("ran longer than statement_timeout (300ms, the session's")
        // `--database-url` reads no environment file: the flag is where to raise it.
        .stderr_has("raise --statement-timeout, or split the migration")
        .stderr_lacks("migration.statement_timeout")
        .stderr_lacks("pg_cancel_backend");
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" RESET statement_timeout",
            db.name
        ))
        .expect("reset");
    project
        .run(&[
            "migrate",
            "up",
            "--database-url",
            &db.url(),
            "--statement-timeout",
            "200ms",
        ])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("ran longer than the run's statement_timeout (200ms)")
        .stderr_has("raise --statement-timeout, or split the migration")
        .stderr_lacks("pg_cancel_backend");
}

/// The help of a statement cancelled (57014) with no `statement_timeout` that could have fired,
/// by a cancel request the file does not show: the migration itself, through a computed pid or
/// a function, as much as another session.
const CANCEL_BOTH_WAYS: &str = "may cancel itself (pg_cancel_backend with its own pid";

/// hcn: a migration cancelling its own statement at run time (`pg_cancel_backend` of a pid it
/// computes, which C124 cannot see) failed with 57014 and a help blaming another session: the
/// help names both causes, the same in `up`, `--single-transaction` and `down` (`verify` refuses
/// to replay `pg_cancel_backend` on the target's server, and applies with `up`/`down`); one
/// that spells `pg_cancel_backend(pg_backend_pid())` is named as the cause (its `file:line`),
/// never another session.
#[test]
fn a_migration_cancelling_its_own_statement_is_not_blamed_on_another_session() {
    const COMPUTED: &str =
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = pg_backend_pid();\n";
    let in_up = Project::new();
    in_up
        .migration("001_t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
        .migration(
            "002_cancel",
            &format!("CREATE TABLE t2 (id int);\n{COMPUTED}"),
            "DROP TABLE t2;\n",
        );
    let in_down = Project::new();
    in_down.migration(
        "001_cancel",
        "CREATE TABLE t1 (id int);\n",
        &format!("DROP TABLE t1;\n{COMPUTED}"),
    );
    let both = |run: Run, what: &str| {
        assert!(
            run.stderr.contains(CANCEL_BOTH_WAYS),
            "{what}: {}",
            run.dump()
        );
        run.code(exit::MIGRATION_FAILED)
            .stderr_has("SQLSTATE 57014")
            .stderr_has("another session")
            .stderr_lacks("or split the migration");
    };
    for (flags, what, recorded) in [
        (&[][..], "up", &["001"][..]),
        (
            &["--single-transaction"][..],
            "up, one transaction",
            &[][..],
        ),
    ] {
        let db = TestDb::new("own_cancel_up");
        let run = in_up.run_on(&db, &[&["migrate", "up"][..], flags].concat());
        let dump = run.dump();
        both(run, what);
        assert_eq!(ledger(&mut db.connect()), recorded, "{what}: {dump}");
    }
    let db = TestDb::new("own_cancel_down");
    in_down.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    both(in_down.run_on(&db, &["migrate", "down"]), "down");
    assert_eq!(ledger(&mut db.connect()), ["001"]);

    // Spelled: the statement is the cause.
    let spelled = Project::new();
    spelled
        .migration("001_t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
        .migration(
            "002_cancel",
            "CREATE TABLE t2 (id int);\nSELECT pg_cancel_backend(pg_backend_pid());\n",
            "DROP TABLE t2;\n",
        );
    let db = TestDb::new("own_cancel_spelled");
    spelled
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("SQLSTATE 57014")
        .stderr_has("002_cancel.up.sql:2")
        .stderr_has("cancels its own statement")
        .stderr_lacks("another session")
        .stderr_lacks("or split the migration");
}

/// `standard_conforming_strings = off` set for the database or the role would make the server
/// read a backslash in a `'...'` string as an escape, while lint, the dry run and the ledger's
/// own SQL read it as written: the migrations' sessions pin it on (in the startup packet, which
/// the engine's `RESET ALL` returns to), so the file means what lint reads. Turned off by the
/// connection's own options, it cannot be pinned: refused (exit 5) before anything runs,
/// naming where it comes from.
#[test]
fn standard_conforming_strings_off_for_the_database_or_role_does_not_change_what_a_file_means() {
    let db = TestDb::new("scs_off");
    let project = Project::new();
    project.migration(
        "001_paths",
        "CREATE TABLE paths (s text);\nINSERT INTO paths VALUES ('C:\\temp\\new');\n",
        "DROP TABLE paths;\n",
    );
    project.migration(
        "002_more",
        "INSERT INTO paths VALUES ('D:\\next');\n",
        "DELETE FROM paths WHERE s LIKE 'D:%';\n",
    );
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET standard_conforming_strings = off",
            db.name
        ))
        .expect("standard_conforming_strings off for the database");
    let with_options = format!(
        "{}?options=-c%20standard_conforming_strings%3Doff",
        db.url()
    );
    project
        .run(&[
            "migrate",
            "up",
            "--allow-non-empty",
            "--database-url",
            &with_options,
        ])
        .code(exit::INVALID)
        .stderr_has("standard_conforming_strings is off")
        .stderr_has("set by the connection's options")
        .stderr_has("write `options=-c%20standard_conforming_strings%3Don` there")
        .stderr_has("nothing was run");
    assert_eq!(db.ledger(), None, "nothing ran");
    project
        .run(&[
            "migrate",
            "up",
            "--database-url",
            &db.url(),
            "--target",
            "1",
        ])
        .code(0);
    up_allowing_non_empty(&project, &db).code(0);
    let mut client = db.connect();
    let stored: Vec<String> = client
        .query("SELECT s FROM paths ORDER BY s", &[])
        .expect("read back")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(stored, ["C:\\temp\\new", "D:\\next"]);
}

/// A migration whose session another one ends (`pg_terminate_backend`, while the server stays
/// up) is not put down to a restart or crash: the server's own FATAL (57P01) when the driver
/// read it, else — the socket closed first — the new connection that reads the ledger finds
/// the server up since before the run, and says the session was ended by another one or by the
/// network, and whether the migration was recorded.
#[test]
fn a_terminated_session_is_not_called_a_server_restart() {
    let db = TestDb::new("terminated_words");
    let project = slow_project();
    let mut client = db.connect();
    client
        .batch_execute("CREATE TABLE pause (x int); INSERT INTO pause VALUES (1);")
        .expect("pause");
    // The socket may close before the driver reads the FATAL, or not: several runs, every
    // other one sending 002 alone (`--target 2`) rather than with 003.
    for i in 0..8 {
        let run = if i % 2 == 0 {
            terminated_in_002(
                &project,
                &db,
                &mut client,
                &["migrate", "up", "--allow-non-empty"],
            )
        } else {
            terminated_in_002(
                &project,
                &db,
                &mut client,
                &["migrate", "up", "--allow-non-empty", "--target", "2"],
            )
        };
        run.code(exit::CONNECTION)
            .stderr_lacks("restarted or crashed?")
            // The lock ended with the session: nothing to release, nothing to warn about.
            .stderr_lacks("cannot release the migration lock")
            .stderr_has(
                "its transaction did not commit (checked in the ledger on a new connection)",
            );
        assert!(says_the_session_was_ended(&run), "{}", run.dump());
        assert_eq!(ledger(&mut client), ["001"]);
    }
}

/// hlk 1: another session's `pg_terminate_backend` of a no-transaction migration's statement
/// was reported, every time, as "the server closed the connection without saying why",
/// `sqlstate` null: the driver read the server's FATAL with the socket's end and returned the
/// end alone. Over TLS (the URL's `sslmode=prefer`, to a server offering it) the session's
/// stream hands the FATAL over as it reads it: its message and SQLSTATE are the error's, in
/// the text and the JSON, every time. A plain connection keeps the old wording when the
/// driver loses it.
#[test]
fn a_terminated_no_transaction_statement_reports_the_servers_reason() {
    let project = Project::new();
    project
        .migration("001_t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
        .migration(
            "002_slow",
            "-- confiture:no-transaction\nCREATE TABLE t2 (x int);\nVACUUM t2;\n\
             SELECT pg_sleep(60);\n",
            "DROP TABLE t2;\n",
        );
    for json in [false, true, false, true] {
        // Each on a database of its own: the run left 002 interrupted part-way.
        let db = TestDb::new("terminated_reason");
        let mut client = db.connect();
        let tls: String = client.query_one("SHOW ssl", &[]).expect("ssl").get(0);
        let mut args = vec!["migrate", "up"];
        if json {
            args.extend(["--format", "json"]);
        }
        let run = terminated_in_002(&project, &db, &mut client, &args);
        run.code(exit::CONNECTION);
        if tls != "on" {
            continue;
        }
        if json {
            let json = run.json();
            let error = &json["errors"][0];
            assert_eq!(error["sqlstate"], "57P01", "{}", run.dump());
            assert_eq!(
                error["server_message"],
                "terminating connection due to administrator command",
                "{}",
                run.dump()
            );
        } else {
            run.stderr_has(
                "connection lost while applying migration 002_slow: terminating connection \
                 due to administrator command (SQLSTATE 57P01)",
            )
            .stderr_lacks("without saying why");
        }
    }
    // `--single-transaction`'s lost connection too (its one transaction's statement).
    let db = TestDb::new("terminated_reason_single");
    let mut client = db.connect();
    client
        .batch_execute("CREATE TABLE pause (x int); INSERT INTO pause VALUES (1);")
        .expect("pause");
    let tls: String = client.query_one("SHOW ssl", &[]).expect("ssl").get(0);
    let args = ["migrate", "up", "--allow-non-empty", "--single-transaction"];
    let run = terminated_in_002(&slow_project(), &db, &mut client, &args);
    run.code(exit::CONNECTION);
    if tls == "on" {
        run.stderr_has("terminating connection due to administrator command (SQLSTATE 57P01)")
            .stderr_lacks("without saying why");
    }
}

/// Ends (`pg_terminate_backend`, from `client`) the run's session once it waits for a lock on
/// a relation of `db` (the ledger another session holds).
fn terminate_waiting_for_the_ledger(db: &TestDb, client: &mut postgres::Client) {
    let mut pid = None;
    wait_until(
        "the run waits for the ledger",
        Duration::from_secs(30),
        || {
            pid = db.waiting_backend("relation");
            pid.is_some()
        },
    );
    client
        .query_one(
            "SELECT pg_terminate_backend($1)",
            &[&pid.unwrap_or_default()],
        )
        .expect("pg_terminate_backend");
}

/// hlk3 1: `status` terminated while its read of the ledger waits for another session's lock:
/// "cannot read the tracking table: the server closed the connection without saying why",
/// `sqlstate` null, over TLS as over plain TCP (nothing collected the server's FATAL outside a
/// migration's statements). The FATAL heard under the driver is every lost connection's reason
/// (`notices::heard_end_of`): in the text and the JSON, whichever the connection.
#[test]
fn a_terminated_status_reports_the_servers_reason() {
    let project = Project::new();
    project.migration("001_t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n");
    let db = TestDb::new("terminated_status");
    project.run_on(&db, &["migrate", "up"]).code(0);
    for (sslmode, json) in TERMINATED_FORMS {
        let mut holder = db.connect();
        let mut client = db.connect();
        holder
            .batch_execute("BEGIN; LOCK TABLE tb_confiture IN ACCESS EXCLUSIVE MODE;")
            .expect("lock the ledger");
        let child = spawn_over(&project, &db, &["migrate", "status"], sslmode, json);
        terminate_waiting_for_the_ledger(&db, &mut client);
        let run = Run::reaped(child);
        drop(holder);
        says_terminated(&run, json, sslmode, "");
    }
}

/// The forms a terminated session's end is told in: over plain TCP and over TLS (`sslmode`
/// `disable`, `prefer`), in text and in JSON.
const TERMINATED_FORMS: [(&str, bool); 4] = [
    ("disable", false),
    ("disable", true),
    ("prefer", false),
    ("prefer", true),
];

/// `command` of `project` on `db` over `sslmode`, in JSON when `json`: a run to terminate.
fn spawn_over(
    project: &Project,
    db: &TestDb,
    command: &[&str],
    sslmode: &str,
    json: bool,
) -> Child {
    let url = format!("{}?sslmode={sslmode}", db.url());
    let mut args = command.to_vec();
    args.extend(["--database-url", &url]);
    if json {
        args.extend(["--format", "json"]);
    }
    project.spawn(&args)
}

/// `run` ([`spawn_over`]), its session ended by another's `pg_terminate_backend`: exit 3,
/// the server's reason after `lost` in the text, its SQLSTATE and message in the JSON.
fn says_terminated(run: &Run, json: bool, sslmode: &str, lost: &str) {
    run.code(exit::CONNECTION);
    if json {
        let json = run.json();
        let error = &json["errors"][0];
        assert_eq!(error["sqlstate"], "57P01", "{sslmode}: {}", run.dump());
        // Its message with it, whatever was cut (`Error::server_message`): `status`' read
        // once gave the SQLSTATE alone.
        assert_eq!(
            error["server_message"],
            "terminating connection due to administrator command",
            "{sslmode}: {}",
            run.dump()
        );
    } else {
        run.stderr_has(&format!(
            "{lost}terminating connection due to administrator command (SQLSTATE 57P01)"
        ))
        .stderr_lacks("without saying why");
    }
}

/// hlk3 2: a no-transaction migration's session terminated while our own read between its
/// statements (or its ledger row) waits for another session's lock on the ledger: only the
/// statement site of `lost_part_way` was given the server's FATAL heard under the driver;
/// every other site said "without saying why", `sqlstate` null. Every site now reads it from
/// the one place (`ServerError::of`), over plain TCP as over TLS.
#[test]
fn a_no_transaction_migration_terminated_between_statements_reports_the_servers_reason() {
    let project = Project::new();
    project
        .migration("001_t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
        .migration(
            "002_slow",
            "-- confiture:no-transaction\nCREATE TABLE t2 (x int);\nSELECT pg_sleep(1);\n\
             VACUUM t2;\n",
            "DROP TABLE t2;\n",
        );
    for (sslmode, json) in TERMINATED_FORMS {
        let db = TestDb::new("terminated_between");
        let mut client = db.connect();
        let mut holder = db.connect();
        project
            .run_on(&db, &["migrate", "up", "--steps", "1"])
            .code(0);
        let child = spawn_over(&project, &db, &["migrate", "up"], sslmode, json);
        sleeping_backend(&mut client, &db.name);
        holder
            .batch_execute("BEGIN; LOCK TABLE tb_confiture IN ACCESS EXCLUSIVE MODE;")
            .expect("lock the ledger");
        terminate_waiting_for_the_ledger(&db, &mut client);
        // The run reads the ledger again on a new connection.
        drop(holder);
        let run = Run::reaped(child);
        says_terminated(
            &run,
            json,
            sslmode,
            "connection lost while applying migration 002_slow: ",
        );
    }
}

/// hlk3 1: over a plain TCP connection (`sslmode=disable`, what the tests and the bench use)
/// the server's FATAL was read under the driver only over TLS: another session's
/// `pg_terminate_backend` of a migration's statement — transactional or not — was "the
/// server closed the connection without saying why", `sqlstate` null. The session's stream is
/// the same observer over plain TCP as over TLS: its message and SQLSTATE are the error's, in
/// the text and the JSON, whichever the connection.
#[test]
fn a_terminated_migration_reports_the_servers_reason_over_plain_tcp_as_over_tls() {
    let transactional = Project::new();
    transactional
        .migration("001_t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
        .migration(
            "002_slow",
            "CREATE TABLE t2 (x int);\nSELECT pg_sleep(60);\n",
            "DROP TABLE t2;\n",
        );
    let no_transaction = Project::new();
    no_transaction
        .migration("001_t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
        .migration(
            "002_slow",
            "-- confiture:no-transaction\nCREATE TABLE t2 (x int);\nVACUUM t2;\n\
             SELECT pg_sleep(60);\n",
            "DROP TABLE t2;\n",
        );
    for (project, lost) in [
        (
            &no_transaction,
            "connection lost while applying migration 002_slow",
        ),
        (
            &transactional,
            "connection lost before migration 002_slow committed",
        ),
    ] {
        for (sslmode, json) in TERMINATED_FORMS {
            let db = TestDb::new("terminated_plain");
            let mut client = db.connect();
            let child = spawn_over(project, &db, &["migrate", "up"], sslmode, json);
            let pid = sleeping_backend(&mut client, &db.name);
            client
                .query_one("SELECT pg_terminate_backend($1)", &[&pid])
                .expect("pg_terminate_backend");
            let run = Run::reaped(child);
            says_terminated(&run, json, sslmode, &format!("{lost}: "));
        }
    }
}

#[test]
fn a_migration_that_ends_its_own_session_gets_no_warning_about_releasing_the_lock() {
    // The session-level migration lock dies with its session: a warning that it cannot be
    // released reads like a lock left held. Several runs: the driver may read the FATAL
    // before the socket closes, or not.
    let db = TestDb::new("self_terminated");
    let project = Project::new();
    project
        .migration("001_t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
        .migration(
            "002_kill",
            "CREATE TABLE t2 (id int);\n\
             DO $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); END $$;\n",
            "DROP TABLE t2;\n",
        );
    for _ in 0..4 {
        let run = project.run(&["migrate", "up", "--database-url", &db.url()]);
        run.code(exit::CONNECTION)
            .stderr_has("002_kill")
            .stderr_lacks("cannot release the migration lock")
            .stderr_lacks("warning:");
        let mut client = db.connect();
        assert_eq!(ledger(&mut client), ["001"], "{}", run.dump());
    }
}

/// A `down` whose session another one ends (`pg_terminate_backend`) mid-rollback says exactly
/// which migrations were rolled back, as `up` says which were applied: 001–003 go to the server
/// in one message, 003's rollback commits, 002's sleeps until it is ended. Whether the driver
/// read the FATAL or the socket closed first, a new connection reads the ledger: 003 rolled
/// back, 002 did not commit, 001 not attempted — in the text, the JSON report and the ledger.
#[test]
fn a_down_whose_session_is_terminated_says_from_the_ledger_what_was_rolled_back() {
    let db = TestDb::new("terminated_down");
    let project = project_sleeping_in(Direction::Down);
    let mut client = db.connect();
    client
        .batch_execute("CREATE TABLE pause (x int)")
        .expect("pause");
    // The socket may close before the driver reads the FATAL, or not: several runs, every
    // other one asking for JSON.
    for i in 0..6 {
        // 001–003 applied (003 again after the first run), 002's rollback paused.
        client.batch_execute("DELETE FROM pause").expect("unpause");
        up_allowing_non_empty(&project, &db).code(0);
        client
            .batch_execute("INSERT INTO pause VALUES (1)")
            .expect("pause");
        let json = i % 2 == 1;
        let mut args = vec!["migrate", "down", "--steps", "3"];
        if json {
            args.extend(["--format", "json"]);
        }
        let run = terminated_in_002(&project, &db, &mut client, &args);
        run.code(exit::CONNECTION)
            .stderr_has("connection lost before the rollback of migration 002_slow committed")
            .stderr_has(
                "its transaction did not commit (checked in the ledger on a new connection)",
            )
            .stderr_lacks("fate unknown");
        assert!(says_the_session_was_ended(&run), "{}", run.dump());
        if json {
            let report = run.json();
            assert_eq!(
                report["rolled_back"],
                serde_json::json!(["003"]),
                "{}",
                run.dump()
            );
            assert_eq!(report["unknown"], serde_json::json!([]), "{}", run.dump());
            let error = &report["errors"][0];
            assert_eq!(error["version"], "002", "{}", run.dump());
            assert_eq!(error["committed"], serde_json::json!(["003"]));
            assert_eq!(error["not_attempted"], serde_json::json!(["001"]));
            assert_eq!(error["unknown"], serde_json::json!([]));
        } else {
            run.stderr_has("rolled back before the failure: 003")
                .stderr_has("not attempted: 001");
        }
        assert_eq!(ledger(&mut client), ["001", "002"]);
        assert!(!has_table(&mut client, "t3"), "003 was rolled back");
        assert!(has_table(&mut client, "half"), "002 was not");
    }
}

/// A fleet target whose session is ended mid-run while no new connection can read its ledger
/// (the database stops accepting connections first): the migrations of the message cut short
/// have an unknown fate, and the fleet's table and JSON say which, for `up` and `down` alike —
/// the same list as the target's own report.
#[test]
fn a_fleet_target_s_unknown_fate_is_in_its_table_row_and_json_entry_up_and_down() {
    for direction in [Direction::Up, Direction::Down] {
        let db = TestDb::new("unknown_fleet");
        let project = project_sleeping_in(direction);
        project.write("tenants.txt", format!("{}\n", db.url()));
        let mut client = db.connect();
        client
            .batch_execute("CREATE TABLE pause (x int)")
            .expect("pause");
        let command = match direction {
            Direction::Up => vec!["migrate", "up", "--allow-non-empty"],
            Direction::Down => vec!["migrate", "down", "--steps", "3"],
        };
        for json in [false, true] {
            if direction == Direction::Down {
                // 001–003 applied again, 002's rollback to be paused.
                client.batch_execute("DELETE FROM pause").expect("unpause");
                up_allowing_non_empty(&project, &db).code(0);
            }
            client
                .batch_execute("INSERT INTO pause VALUES (1)")
                .expect("pause");
            let mut args = command.clone();
            args.extend(["--targets", "tenants.txt"]);
            if json {
                args.extend(["--format", "json"]);
            }
            let child = project.spawn_on(&db, &args);
            let pid = sleeping_backend(&mut client, &db.name);
            // No new connection gets in: the ledger cannot be read again.
            let allow = |allowed: bool| {
                admin()
                    .batch_execute(&format!(
                        "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS {allowed}",
                        db.name
                    ))
                    .expect("ALLOW_CONNECTIONS");
            };
            allow(false);
            client
                .query_one("SELECT pg_terminate_backend($1)", &[&pid])
                .expect("pg_terminate_backend");
            let run = Run::reaped(child);
            allow(true);
            run.code(exit::CONNECTION);
            if json {
                let doc = run.json();
                let target = &doc["targets"][0];
                let unknown = &target["report"]["unknown"];
                assert!(
                    unknown
                        .as_array()
                        .is_some_and(|u| u.iter().any(|v| v == "002")),
                    "{direction:?}: {}",
                    run.dump()
                );
                assert_eq!(&target["unknown"], unknown, "{direction:?}: {}", run.dump());
            } else {
                let row = run
                    .stdout
                    .lines()
                    .find(|l| l.contains(&db.name))
                    .unwrap_or_else(|| panic!("no row for the target: {}", run.dump()));
                assert!(
                    row.contains("fate unknown: ") && row.contains("002"),
                    "{direction:?}: {}",
                    run.dump()
                );
                // The target's error says what became of the others as one database's does
                // (hdp #2).
                run.stderr_has("fate unknown (they may have committed; run ");
            }
        }
    }
}

#[test]
fn a_standby_in_recovery_is_refused_before_anything_is_tried() {
    // A cluster started with standby.signal and no primary stays in recovery for good, and
    // accepts read-only sessions: a real `pg_is_in_recovery()`.
    let cluster = Cluster::init();
    std::fs::write(cluster.data().join("standby.signal"), "").expect("standby.signal");
    cluster.start();
    let in_recovery: bool = cluster
        .connect("postgres")
        .query_one("SELECT pg_is_in_recovery()", &[])
        .expect("pg_is_in_recovery")
        .get(0);
    assert!(in_recovery);

    let project = slow_project();
    let url = cluster.url("postgres", "sslmode=disable");
    for args in [
        &["migrate", "up", "--allow-non-empty"][..],
        &["migrate", "reinit"],
    ] {
        project
            .run(&[args, &["--database-url", &url]].concat())
            .code(3)
            .stderr_has(&format!(
                "database postgres@localhost:{}/postgres is on a standby in recovery, which \
                 cannot be written; {}",
                cluster.port(),
                nothing_done(args)
            ))
            .stderr_has("help: migrations run on the primary");
    }
    // `prefer-standby` chose the standby: the URL's attribute, not the host, is to change.
    let url = cluster.url(
        "postgres",
        "sslmode=disable&target_session_attrs=prefer-standby",
    );
    for args in [
        &["migrate", "up", "--allow-non-empty"][..],
        &["migrate", "down"],
    ] {
        project
            .run(&[args, &["--database-url", &url]].concat())
            .code(3)
            .stderr_has(&format!(
                "database postgres@localhost:{}/postgres is on a standby in recovery, which \
                 cannot be written; nothing was run",
                cluster.port()
            ))
            .stderr_has(
                "target_session_attrs=prefer-standby in --database-url chose it: a writing \
                 command needs a read-write session on the primary",
            )
            .stderr_has("need target_session_attrs=read-write or primary in --database-url")
            .stderr_lacks("point --database-url at the primary");
    }
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(2);
}

/// Terminates every backend of `db` but the caller's: what a server restart or an
/// administrator does to a long-running service's connection between two of its calls.
fn terminate_other_backends(client: &mut postgres::Client, db: &str) -> i64 {
    client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db],
        )
        .expect("pg_terminate_backend")
        .get(0)
}

/// A `Migrator` kept by a service lost its connection (terminated backend, server restart)
/// between two calls: every later call failed on the dead connection, forever. Each command
/// now starts on a live connection, its own or a handed-over one, reconnecting when the held
/// one is gone.
#[test]
fn a_migrator_whose_connection_was_terminated_connects_again_for_its_next_command() {
    use confiture::config::Environment;
    use confiture::migrate::{no_progress, DownOptions, UpOptions};
    use confiture::Migrator;

    let db = TestDb::new("lost_between");
    let project = Project::new();
    for v in 1..=3 {
        project.migration(
            &format!("00{v}_t{v}"),
            &format!("CREATE TABLE t{v} (id int);\n"),
            &format!("DROP TABLE t{v};\n"),
        );
    }
    let mut admin = db.connect();
    let env = || Environment::from_url(&db.url(), "test").unwrap();
    let dir = project.path("db/migrations");
    let opened = Migrator::new(env(), &dir, Default::default());
    let handed = Migrator::new(env(), &dir, Default::default()).with_client(db.connect());
    for mut migrator in [opened, handed] {
        migrator.status().expect("the first status");
        // Between every two commands, the connection is terminated.
        let kill = |admin: &mut postgres::Client| {
            let killed = terminate_other_backends(admin, &db.name);
            assert!(killed >= 1, "the migrator's backend was terminated");
        };
        kill(&mut admin);
        assert_eq!(
            migrator
                .status()
                .expect("status after a kill")
                .summary
                .pending,
            3
        );
        kill(&mut admin);
        let report = migrator
            .up(&UpOptions::default(), &mut no_progress)
            .expect("up after a kill");
        assert_eq!(report.applied, ["001", "002", "003"]);
        kill(&mut admin);
        let checked = migrator.load().unwrap();
        assert_eq!(migrator.status_of(&checked.set).unwrap().summary.pending, 0);
        kill(&mut admin);
        let down = migrator
            .down(
                &DownOptions::default().target(Some(0)).yes(true),
                &mut no_progress,
            )
            .expect("down after a kill");
        assert_eq!(down.rolled_back.len(), 3);
        assert_eq!(ledger(&mut admin), Vec::<String>::new());
        // The connection it ends with is live too.
        let mut client = migrator.into_client().expect("connected");
        client.simple_query("SELECT 1").expect("a live client");
    }
}

/// A role that may read the ledger but not write it as `baseline` or `reinit` would: `reinit`
/// accepting an edited file rewrites its row in place (UPDATE), `baseline` adds rows (INSERT),
/// a `reinit` forgetting rows deletes them (DELETE). Without the privilege the rewrite used to
/// fail on the server's "permission denied" with exit 4 (`migration_failed`, although no
/// migration ran) and a help naming no privilege. It is refused before the transaction (exit
/// 5), naming the privilege and the GRANT; the ledger is as it was.
#[test]
fn a_role_that_may_not_rewrite_the_ledger_is_refused_naming_the_privilege() {
    let (role, db, url, project) = role_project(
        "cft_norewrite",
        "norewrite",
        ("001_a", "CREATE TABLE a (x int);\n", "DROP TABLE a;\n"),
    );
    project
        .migration("002_b", "CREATE TABLE b (x int);\n", "DROP TABLE b;\n")
        .migration("003_c", "CREATE TABLE c (x int);\n", "DROP TABLE c;\n");
    project
        .run(&[
            "migrate",
            "up",
            "--target",
            "2",
            "--database-url",
            &db.url(),
        ])
        .code(0);
    let before = db.ledger();
    let mut client = db.connect();
    let mut grant = |privileges: &str| {
        client
            .batch_execute(&format!(
                "REVOKE ALL ON tb_confiture FROM \"{r}\"; \
                 GRANT {privileges} ON tb_confiture TO \"{r}\"",
                r = role.0
            ))
            .expect("grant");
    };
    // (privileges granted, command, privilege it lacks)
    let cases: [(&str, &[&str], &str); 3] = [
        (
            "SELECT, INSERT, DELETE",
            &["migrate", "reinit", "--format", "json"],
            "UPDATE",
        ),
        (
            "SELECT, DELETE, UPDATE",
            &["migrate", "baseline", "--through", "3", "--format", "json"],
            "INSERT",
        ),
        (
            "SELECT, INSERT, UPDATE",
            &[
                "migrate",
                "reinit",
                "--through",
                "1",
                "--yes",
                "--format",
                "json",
            ],
            "DELETE",
        ),
    ];
    // Not even SELECT: the read's refusal lists what the writing commands need too.
    db.connect()
        .batch_execute(&format!("REVOKE ALL ON tb_confiture FROM \"{}\"", role.0))
        .expect("revoke");
    project
        .run(&["migrate", "status", "--database-url", &url])
        .stderr_has("GRANT SELECT ON \"public\".\"tb_confiture\"")
        .stderr_has("and UPDATE for reinit");
    // An edited file, so that `reinit` rewrites its row.
    project.write(
        "db/migrations/002_b.up.sql",
        "CREATE TABLE b (x int); -- edited\n",
    );
    // hxl F2: their dry runs said "would record" (exit 0) where the run refuses; so did `up
    // --dry-run` without INSERT and `down --dry-run` without DELETE. The dry run refuses as the
    // run does, from the same read.
    let cases: Vec<(&str, Vec<&str>, &str)> = (cases.into_iter())
        .flat_map(|(privileges, command, lacking)| {
            let dry: Vec<&str> = command.iter().copied().chain(["--dry-run"]).collect();
            [
                (privileges, command.to_vec(), lacking),
                (privileges, dry, lacking),
            ]
        })
        .collect();
    let up_down: [(&str, &[&str], &str); 4] = [
        (
            "SELECT, DELETE, UPDATE",
            &["migrate", "up", "--format", "json"],
            "INSERT",
        ),
        (
            "SELECT, DELETE, UPDATE",
            &["migrate", "up", "--dry-run", "--format", "json"],
            "INSERT",
        ),
        (
            "SELECT, INSERT, UPDATE",
            &["migrate", "down", "--format", "json"],
            "DELETE",
        ),
        (
            "SELECT, INSERT, UPDATE",
            &["migrate", "down", "--dry-run", "--format", "json"],
            "DELETE",
        ),
    ];
    let cases = (cases.into_iter()).chain(
        (up_down.into_iter())
            .map(|(privileges, command, lacking)| (privileges, command.to_vec(), lacking)),
    );
    for (privileges, command, lacking) in cases {
        if matches!(command[1], "up" | "down") {
            // Not edited: `up` and `down` refuse an edited file first.
            project.write("db/migrations/002_b.up.sql", "CREATE TABLE b (x int);\n");
        }
        grant(privileges);
        let mut args = command.to_vec();
        args.extend(["--database-url", &url]);
        let run = project.run(&args);
        run.code(confiture::exit::INVALID);
        let doc = run.json();
        let error = &doc["errors"][0];
        assert_eq!(error["kind"], "invalid", "{command:?}\n{}", run.dump());
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("may not {lacking} rows of the tracking table")),
            "{command:?}\n{}",
            run.dump()
        );
        let help = error["help"].as_str().unwrap_or_default();
        assert!(
            help.contains("GRANT") && help.contains(lacking),
            "{command:?}\n{}",
            run.dump()
        );
        assert_eq!(db.ledger(), before, "{command:?}\n{}", run.dump());
    }
}

/// Only the client's side of the connection is cut (a NAT or load balancer resetting it, the
/// client's `TCP_USER_TIMEOUT` after a partition that heals): the server session goes on with
/// the message it was sent. The check after the lost connection used to read the ledger at
/// once and say "did not commit (checked)" and "not attempted" while that session went on and
/// committed them. Now it ends the run's own session first (it holds our lock), then reads the
/// ledger: what it says stays true, and the lock is free. For `up` and `down`.
#[test]
fn a_connection_cut_on_the_client_side_only_ends_the_old_session_before_the_ledger_is_read() {
    for direction in [Direction::Up, Direction::Down] {
        let db = TestDb::new("client_cut");
        // 002 sleeps 3 s in `direction`, in one message with 001 and 003.
        let project = project_sleeping_for(direction, 3);
        let mut client = db.connect();
        client
            .batch_execute("CREATE TABLE pause (x int)")
            .expect("pause");
        if direction == Direction::Down {
            up_allowing_non_empty(&project, &db).code(0);
        }
        client
            .batch_execute("INSERT INTO pause VALUES (1)")
            .expect("pause");
        let proxy = confiture_tests::proxy::ClientCutProxy::start();
        let command = match direction {
            Direction::Up => vec!["migrate", "up", "--allow-non-empty"],
            Direction::Down => vec!["migrate", "down", "--steps", "3"],
        };
        let url = proxy.url(&db.name);
        let child = project.spawn(&[&command[..], &["--database-url", &url]].concat());
        sleeping_backend(&mut client, &db.name);
        proxy.cut_clients();
        let run = Run::reaped(child);
        let (interrupted, expected) = match direction {
            Direction::Up => (
                "connection lost before migration 002_slow committed",
                &["001"][..],
            ),
            Direction::Down => (
                "connection lost before the rollback of migration 002_slow committed",
                &["001", "002"][..],
            ),
        };
        run.code(exit::CONNECTION)
            .stderr_has(interrupted)
            .stderr_has(
                "its transaction did not commit (checked in the ledger on a new connection)",
            );
        // The old session, left running, would have finished the message by now: 002 and the rest.
        std::thread::sleep(Duration::from_secs(4));
        // Up: 001 applied, 002 did not commit, 003 not attempted; down: 003 rolled back, 002
        // did not commit, 001 not attempted.
        assert_eq!(ledger(&mut client), expected, "{}", run.dump());
        assert!(
            db.migration_lock_holders().is_empty(),
            "the old session still holds the lock\n{}",
            run.dump()
        );
    }
}

/// A no-transaction migration whose connection is lost part-way (its session ended while it
/// sleeps in statement 2 of 3) says which statements completed — the engine knows which were
/// acknowledged — that the one running may have committed, and gives the help a Ctrl-C there
/// gives ("what it committed stays ..."), not a bare "run `up` again" that fails on statement
/// 1. Nor does it speak of a commit the file does not have. For `up` and `down`.
#[test]
fn a_no_transaction_migration_whose_connection_is_lost_names_the_statements_it_completed() {
    for direction in [Direction::Up, Direction::Down] {
        let db = TestDb::new("lost_no_tx");
        let file = "-- confiture:no-transaction\n\
                    CREATE TABLE IF NOT EXISTS t2 (id int);\n\
                    SELECT pg_sleep(60) FROM pause;\n\
                    CREATE INDEX CONCURRENTLY IF NOT EXISTS i2 ON t2 (id);\n";
        let project = Project::new();
        project
            .migration(
                "001_create_t1",
                "CREATE TABLE t1 (id int);\n",
                "DROP TABLE t1;\n",
            )
            .migration(
                "002_slow",
                if direction == Direction::Up {
                    file
                } else {
                    "CREATE TABLE t2 (id int);\n"
                },
                if direction == Direction::Down {
                    file
                } else {
                    "DROP TABLE t2;\n"
                },
            );
        let mut client = db.connect();
        client
            .batch_execute("CREATE TABLE pause (x int)")
            .expect("pause");
        let command = match direction {
            Direction::Up => vec!["migrate", "up", "--allow-non-empty"],
            Direction::Down => {
                up_allowing_non_empty(&project, &db).code(0);
                vec!["migrate", "down", "--steps", "1"]
            }
        };
        client
            .batch_execute("INSERT INTO pause VALUES (1)")
            .expect("pause");
        let run = terminated_in_002(&project, &db, &mut client, &command);
        let (doing, recorded) = match direction {
            Direction::Up => ("applying", "it is not recorded (checked in the ledger"),
            Direction::Down => (
                "rolling back",
                "it is still recorded as applied (checked in the ledger",
            ),
        };
        run.code(exit::CONNECTION)
            .stderr_has(&format!("connection lost while {doing} migration 002_slow"))
            .stderr_lacks("002_slow committed")
            .stderr_has("statement 1 was committed (this migration runs without a transaction)")
            .stderr_has("statement 2 of 3 was running when the connection dropped")
            .stderr_has(recorded)
            .stderr_has(
                "help: what it committed stays: undo it, or make its statements safe to run twice",
            );
    }
}

/// The SQL a help gives, from `from` to the first `;` after `last` (both in the help), as an
/// admin pastes it.
fn pasted_sql(help: &str, from: &str, last: &str) -> String {
    let start = help
        .find(from)
        .unwrap_or_else(|| panic!("{from:?} not in the help: {help}"));
    let rest = &help[start..];
    let at = rest
        .find(last)
        .unwrap_or_else(|| panic!("{last:?} not after {from:?} in the help: {help}"));
    let end = at + rest[at..].find(';').expect("a statement's `;`") + 1;
    rest[..end].to_string()
}

/// The `help:` line of a run's stderr that holds `needle`.
fn help_line(run: &Run, needle: &str) -> String {
    run.stderr
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with("help:") && l.contains(needle))
        .unwrap_or_else(|| panic!("no help holding {needle:?}\n{}", run.dump()))
        .to_string()
}

/// A role that may not create the tracking table where the migrations build too was offered
/// to have an admin create only the tracking table: pasted, the first migration failed next
/// with the same missing privilege. The help now says that the role needs CREATE where the
/// migrations build, and offers the ledger alone only where that suffices (the ledger in a
/// schema of its own, the role free to build where the migrations build); each SQL it gives,
/// pasted by an admin, lets `up` succeed.
#[test]
fn a_tracking_table_the_role_may_not_create_gets_a_help_that_works_when_pasted() {
    let role = login_role("cft_builds");
    let q = |name: &str| confiture::ledger::quote_ident(name).into_owned();
    let project = Project::new();
    let (id, up, down) = TB_NOTE;
    project.migration(id, up, down);
    let env = |db: &TestDb, table: &str| {
        format!(
            "database_url: {}\nmigration:\n  tracking_table: {table}\n",
            url_as(&role, db)
        )
    };
    let up = |name: &str| project.run(&["migrate", "up", "--allow-non-empty", "--env", name]);

    // The ledger where the migrations build (public): the grant there, no ledger alone.
    let db = TestDb::new("builds_same");
    let mut client = db.connect();
    client
        .batch_execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        .expect("revoke");
    project.write("db/environments/same.yaml", env(&db, "tb_confiture"));
    let run = up("same");
    run.code(exit::INVALID)
        .stderr_lacks("create only the tracking table");
    let help = help_line(&run, "GRANT CREATE ON SCHEMA public");
    assert!(help.contains("where the migrations build"), "{help}");
    client
        .batch_execute(&pasted_sql(&help, "GRANT CREATE ON SCHEMA public", "GRANT"))
        .expect("the help's grant");
    up("same").code(exit::SUCCESS);
    drop(client);
    drop(db);

    // The ledger in a schema of its own, the role free to build in public: the ledger alone
    // suffices, and is offered.
    let db = TestDb::new("builds_apart");
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC; GRANT CREATE ON SCHEMA public TO {}; \
             CREATE SCHEMA ops; GRANT USAGE ON SCHEMA ops TO {0}",
            q(&role.0)
        ))
        .expect("a schema for the ledger");
    project.write("db/environments/apart.yaml", env(&db, "ops.tb_confiture"));
    let run = up("apart");
    run.code(exit::INVALID);
    let help = help_line(&run, "create only the tracking table");
    client
        .batch_execute(&pasted_sql(
            &help,
            "CREATE TABLE IF NOT EXISTS",
            "GRANT SELECT, INSERT, UPDATE, DELETE",
        ))
        .expect("the help's ledger DDL and grant");
    up("apart").code(exit::SUCCESS);
    drop(client);
    drop(db);

    // The ledger in a schema of its own, and no CREATE where the migrations build either:
    // both grants, no ledger alone.
    let db = TestDb::new("builds_neither");
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC; CREATE SCHEMA ops; \
             GRANT USAGE ON SCHEMA ops TO {}",
            q(&role.0)
        ))
        .expect("a schema for the ledger");
    project.write("db/environments/neither.yaml", env(&db, "ops.tb_confiture"));
    let run = up("neither");
    run.code(exit::INVALID)
        .stderr_lacks("create only the tracking table");
    let help = help_line(&run, "GRANT CREATE ON SCHEMA ops");
    client
        .batch_execute(&pasted_sql(&help, "GRANT CREATE ON SCHEMA ops", "GRANT"))
        .expect("the help's grant on the ledger's schema");
    client
        .batch_execute(&pasted_sql(&help, "GRANT CREATE ON SCHEMA public", "GRANT"))
        .expect("the help's grant where the migrations build");
    up("neither").code(exit::SUCCESS);
    drop(client);
    drop(db);
}

/// A schema-per-tenant run (`--schema`) as a role with no rights in the tenant's schema, or
/// on a tenant whose schema does not exist yet: each privilege help, pasted by an admin in
/// the order given, works — no GRANT on a tenant ledger that does not exist yet, no ledger DDL
/// in a schema that does not exist — and `up` then succeeds.
#[test]
fn a_tenants_privilege_helps_work_when_pasted() {
    let (_role, db, url, project) = role_project("cft_tenant", "tenant_grants", TB_NOTE);
    let q = |name: &str| confiture::ledger::quote_ident(name).into_owned();
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "REVOKE CREATE ON DATABASE {} FROM PUBLIC; REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
             CREATE SCHEMA t_admin",
            q(&db.name)
        ))
        .expect("a tenant schema the role has no rights in");
    let run = |args: &[&str], schema: &str| {
        let mut all = args.to_vec();
        all.extend(["--schema", schema, "--database-url", &url]);
        project.run(&all)
    };
    let paste = |help: &str, from: &str| {
        client_paste(&db, &pasted_sql(help, from, from));
    };

    // A tenant whose schema does not exist: create it for the role (no ledger DDL there).
    let up = run(&["migrate", "up", "--allow-non-empty"], "t_new");
    up.code(exit::INVALID).stderr_lacks("CREATE TABLE");
    let help = help_line(&up, "CREATE SCHEMA t_new AUTHORIZATION");
    paste(&help, "CREATE SCHEMA t_new AUTHORIZATION");
    run(&["migrate", "up", "--allow-non-empty"], "t_new").code(exit::SUCCESS);

    // A tenant schema the role may not use: `status`'s help grants what reads it (no GRANT on
    // its ledger, which does not exist yet), then `up`'s what creates in it.
    let status = run(&["migrate", "status"], "t_admin");
    status.code(exit::INVALID);
    let help = help_line(&status, "GRANT");
    // The statements, then what they are for, in parentheses.
    let (statements, _) = help
        .trim_start_matches("help: ")
        .split_once(" (")
        .expect("statements, then why");
    client_paste(&db, statements);
    run(&["migrate", "status"], "t_admin").code(exit::NOT_INITIALISED);
    let up = run(&["migrate", "up", "--allow-non-empty"], "t_admin");
    up.code(exit::INVALID).stderr_lacks("CREATE TABLE");
    let help = help_line(&up, "ON SCHEMA t_admin");
    let from = if help.contains("GRANT USAGE, CREATE ON SCHEMA t_admin") {
        "GRANT USAGE, CREATE ON SCHEMA t_admin"
    } else {
        "GRANT CREATE ON SCHEMA t_admin"
    };
    paste(&help, from);
    run(&["migrate", "up", "--allow-non-empty"], "t_admin").code(exit::SUCCESS);

    // The same from a schemas query (a fleet): a tenant schema the role may not use, and one
    // listed before it exists. Each target's help, pasted, and the fleet's `up` succeeds.
    client
        .batch_execute("CREATE SCHEMA t_q1")
        .expect("a tenant schema the role has no rights in");
    let query = "SELECT unnest(ARRAY['t_q1', 't_q2'])";
    let fleet_up = || {
        project.run(&[
            "migrate",
            "up",
            "--allow-non-empty",
            "--keep-going",
            "--schemas-query",
            query,
            "--database-url",
            &url,
        ])
    };
    let up = fleet_up();
    up.code(exit::INVALID).stderr_lacks("CREATE TABLE");
    let help = help_line(&up, "GRANT USAGE ON SCHEMA \"t_q1\"");
    let (statements, why) = help
        .trim_start_matches("help: ")
        .split_once(" (")
        .expect("statements, then why");
    client_paste(&db, statements);
    client_paste(
        &db,
        &pasted_sql(why, "GRANT CREATE ON SCHEMA t_q1", "GRANT"),
    );
    let help = help_line(&up, "CREATE SCHEMA t_q2 AUTHORIZATION");
    paste(&help, "CREATE SCHEMA t_q2 AUTHORIZATION");
    fleet_up().code(exit::SUCCESS);
    drop(client);
    drop(db);
}

/// Runs SQL a help gave, as an admin of `db`.
fn client_paste(db: &TestDb, sql: &str) {
    db.connect()
        .batch_execute(sql)
        .unwrap_or_else(|e| panic!("the help's SQL fails when pasted: {sql}: {e}"));
}

/// SQL that puts in schema `evil` a stand-in for every operator, function, aggregate, type and
/// catalog table or view of `pg_catalog` that SQL can name again — same names, same argument
/// types —, each raising `EVIL ...` when it is called, cast to or read. With `evil` before
/// `pg_catalog` on a `search_path`, every name or operator a statement does not qualify with
/// `pg_catalog` (`=`, `<>`, `~~`, `||`, `IN`, `IS DISTINCT FROM`, `::text`, `now()`,
/// `pg_locks`, ...) is one of them.
const SHADOW_PG_CATALOG: &str = r#"CREATE SCHEMA evil;
CREATE FUNCTION evil.boom(what pg_catalog.text) RETURNS pg_catalog.bool LANGUAGE plpgsql VOLATILE
  AS $$BEGIN RAISE EXCEPTION 'EVIL %', what; END$$;
DO $do$
DECLARE
  r record;
  args pg_catalog.text;
  n pg_catalog.int4 := 0;
BEGIN
  -- every operator of pg_catalog, on the same argument types, raising
  FOR r IN SELECT o.oprname, o.oprleft, o.oprright, o.oprresult, o.oid
           FROM pg_catalog.pg_operator o
           JOIN pg_catalog.pg_namespace s ON s.oid OPERATOR(pg_catalog.=) o.oprnamespace
           WHERE s.nspname OPERATOR(pg_catalog.=) 'pg_catalog'
  LOOP
    BEGIN
      EXECUTE pg_catalog.format(
        'CREATE FUNCTION evil.op_%s(%s) RETURNS %s LANGUAGE plpgsql AS %L',
        r.oid,
        pg_catalog.concat_ws(', ',
          CASE WHEN r.oprleft OPERATOR(pg_catalog.<>) 0 THEN pg_catalog.format_type(r.oprleft, NULL) END,
          CASE WHEN r.oprright OPERATOR(pg_catalog.<>) 0 THEN pg_catalog.format_type(r.oprright, NULL) END),
        pg_catalog.format_type(r.oprresult, NULL),
        pg_catalog.format('BEGIN RAISE EXCEPTION %L; END', 'EVIL operator ' OPERATOR(pg_catalog.||) r.oprname));
      EXECUTE pg_catalog.format('CREATE OPERATOR evil.%s (%s FUNCTION = evil.op_%s)',
        r.oprname,
        pg_catalog.concat(
          CASE WHEN r.oprleft OPERATOR(pg_catalog.<>) 0 THEN 'LEFTARG = ' OPERATOR(pg_catalog.||) pg_catalog.format_type(r.oprleft, NULL) OPERATOR(pg_catalog.||) ', ' END,
          CASE WHEN r.oprright OPERATOR(pg_catalog.<>) 0 THEN 'RIGHTARG = ' OPERATOR(pg_catalog.||) pg_catalog.format_type(r.oprright, NULL) OPERATOR(pg_catalog.||) ', ' END),
        r.oid);
      n := n OPERATOR(pg_catalog.+) 1;
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
  END LOOP;
  RAISE NOTICE 'operators: %', n;
  n := 0;
  -- every plain function of pg_catalog, on the same argument types (and defaults: a call that
  -- leaves them out finds the stand-in first), raising
  FOR r IN SELECT p.oid, p.proname,
                  CASE WHEN p.pronargdefaults OPERATOR(pg_catalog.>) 0
                       THEN pg_catalog.pg_get_function_arguments(p.oid)
                       ELSE pg_catalog.pg_get_function_identity_arguments(p.oid) END AS args,
                  pg_catalog.pg_get_function_result(p.oid) AS res, p.proretset
           FROM pg_catalog.pg_proc p
           WHERE p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace
             AND p.prokind OPERATOR(pg_catalog.=) 'f'
             AND p.proname OPERATOR(pg_catalog.!~) '^(boom|plpgsql_)'
  LOOP
    BEGIN
      EXECUTE pg_catalog.format(
        'CREATE FUNCTION evil.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L',
        r.proname, r.args, r.res,
        pg_catalog.format('BEGIN RAISE EXCEPTION %L; END', 'EVIL function ' OPERATOR(pg_catalog.||) r.proname));
      n := n OPERATOR(pg_catalog.+) 1;
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
  END LOOP;
  RAISE NOTICE 'functions: %', n;
  n := 0;
  -- aggregates
  FOR r IN SELECT p.oid, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid) AS args
           FROM pg_catalog.pg_proc p
           WHERE p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace
             AND p.prokind OPERATOR(pg_catalog.=) 'a'
  LOOP
    BEGIN
      EXECUTE pg_catalog.format(
        'CREATE FUNCTION evil.agg_%s(pg_catalog.int4%s) RETURNS pg_catalog.int4 LANGUAGE plpgsql AS %L',
        r.oid, CASE WHEN r.args OPERATOR(pg_catalog.=) '' THEN '' ELSE ', ' OPERATOR(pg_catalog.||) r.args END,
        pg_catalog.format('BEGIN RAISE EXCEPTION %L; END', 'EVIL aggregate ' OPERATOR(pg_catalog.||) r.proname));
      EXECUTE pg_catalog.format('CREATE AGGREGATE evil.%I(%s) (SFUNC = evil.agg_%s, STYPE = pg_catalog.int4)',
        r.proname, CASE WHEN r.args OPERATOR(pg_catalog.=) '' THEN '*' ELSE r.args END, r.oid);
      n := n OPERATOR(pg_catalog.+) 1;
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
  END LOOP;
  RAISE NOTICE 'aggregates: %', n;
  n := 0;
  -- every type: a domain of the same name whose values are refused
  FOR r IN SELECT t.typname, t.oid FROM pg_catalog.pg_type t
           WHERE t.typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace
             AND t.typtype OPERATOR(pg_catalog.=) ANY ('{b,d,e,r,m}'::pg_catalog."char"[])
             AND t.typname OPERATOR(pg_catalog.!~) '^_'
  LOOP
    BEGIN
      EXECUTE pg_catalog.format('CREATE DOMAIN evil.%I AS pg_catalog.%I CHECK (evil.boom(%L))',
        r.typname, r.typname, 'type ' OPERATOR(pg_catalog.||) r.typname);
      n := n OPERATOR(pg_catalog.+) 1;
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
  END LOOP;
  RAISE NOTICE 'types: %', n;
  n := 0;
  -- every catalog table and view: a view of the same name that refuses to be read
  FOR r IN SELECT c.relname FROM pg_catalog.pg_class c
           WHERE c.relnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace
             AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,v}'::pg_catalog."char"[])
  LOOP
    BEGIN
      EXECUTE pg_catalog.format('CREATE VIEW evil.%I AS SELECT * FROM pg_catalog.%I WHERE evil.boom(%L)',
        r.relname, r.relname, 'relation ' OPERATOR(pg_catalog.||) r.relname);
      n := n OPERATOR(pg_catalog.+) 1;
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
  END LOOP;
  RAISE NOTICE 'relations: %', n;
END
$do$;
"#;

/// A project whose first migration installs [`SHADOW_PG_CATALOG`] (its down drops it), then
/// two tables, then an index built without a transaction.
fn shadowing_project() -> Project {
    let project = Project::new();
    project
        .migration(
            "001_shadows",
            SHADOW_PG_CATALOG,
            "DROP SCHEMA evil CASCADE;\n",
        )
        .migration(
            "002_t2",
            "CREATE TABLE public.t2 (id int);\n",
            "DROP TABLE public.t2;\n",
        )
        .migration(
            "003_t3",
            "CREATE TABLE public.t3 (id int);\n",
            "DROP TABLE public.t3;\n",
        )
        .migration(
            "004_t3_id",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t3_id ON public.t3 (id);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY public.t3_id;\n",
        );
    project
}

/// Runs `args` on `db` and checks its exit code, and that nothing of `evil` answered.
#[track_caller]
fn unshadowed(project: &Project, db: &TestDb, args: &[&str], code: u8) -> Run {
    let run = project.run_on(db, args);
    run.code(code).stderr_lacks("EVIL").stdout_lacks("EVIL");
    run
}

/// The ledger's rows as `version`, read by a session opened before the database's
/// `search_path` changed.
fn versions(look: &mut postgres::Client) -> Vec<String> {
    look.query(
        "SELECT version FROM public.tb_confiture ORDER BY pk_confiture",
        &[],
    )
    .expect("read the ledger")
    .iter()
    .map(|row| row.get(0))
    .collect()
}

/// The database's `search_path` puts a schema before `pg_catalog` that has an operator,
/// function, type and catalog relation of every built-in name (hostile run: `EVIL = oid`,
/// "cannot read the session's state"): the tool's own statements — the session's state, the
/// migration lock and its holders, the ledger read and its lock's holders, the ledger's DDL, the
/// rows' statements, the start markers of a no-transaction migration, `baseline`'s and `reinit`'s
/// rewrites, the settings `verify` copies, the snapshots of `verify` and `drift` — name every
/// built-in with `pg_catalog`, so that every command works as under the default path; the ledger
/// is still found through the user's `search_path`.
#[test]
fn the_tools_own_statements_survive_a_search_path_that_shadows_pg_catalog() {
    let db = TestDb::new("shadowed");
    let project = shadowing_project();
    project
        .run_on(&db, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    // Sessions opened before the change keep the built-in path: the test's own looks.
    let mut look = db.connect();
    let mut holder = db.connect();
    let spare = db.connect();
    let set_path = |path: &str| {
        admin()
            .batch_execute(&format!(
                "ALTER DATABASE \"{}\" SET search_path = {path}",
                db.name
            ))
            .expect("set the database's search_path");
    };
    set_path("evil, pg_catalog, public");
    let shadowed = db
        .connect()
        .batch_execute("SELECT 1 = 1")
        .expect_err("a new session's `=` is evil's");
    assert!(
        format!("{shadowed:?}").contains("EVIL operator ="),
        "{shadowed:?}"
    );

    unshadowed(&project, &db, &["migrate", "status"], exit::PENDING).stdout_has("002_t2");
    unshadowed(
        &project,
        &db,
        &["migrate", "up", "--dry-run"],
        exit::SUCCESS,
    );
    unshadowed(
        &project,
        &db,
        &["migrate", "up", "--steps", "1"],
        exit::SUCCESS,
    );
    unshadowed(&project, &db, &["migrate", "up"], exit::SUCCESS);
    assert_eq!(versions(&mut look), ["001", "002", "003", "004"]);
    unshadowed(&project, &db, &["migrate", "status"], exit::SUCCESS);
    unshadowed(
        &project,
        &db,
        &["migrate", "down", "--steps", "2", "--dry-run"],
        exit::SUCCESS,
    );
    unshadowed(
        &project,
        &db,
        &["migrate", "down", "--steps", "2"],
        exit::SUCCESS,
    );
    assert_eq!(versions(&mut look), ["001", "002"]);
    unshadowed(
        &project,
        &db,
        &["migrate", "up", "--single-transaction", "--target", "003"],
        exit::SUCCESS,
    );
    unshadowed(&project, &db, &["migrate", "up"], exit::SUCCESS);
    assert_eq!(versions(&mut look), ["001", "002", "003", "004"]);

    // The migration lock's holder, and the ledger lock's, are named.
    let pid: i32 = holder
        .query_one(
            &format!(
                "SELECT pg_advisory_lock({}, ({})), pg_backend_pid()",
                confiture_tests::MIGRATION_LOCK_NAMESPACE,
                confiture_tests::LOCK_ID_SQL
            ),
            &[],
        )
        .expect("take the migration lock")
        .get(1);
    let run = unshadowed(
        &project,
        &db,
        &["migrate", "down", "--lock-wait", "200ms"],
        exit::LOCK_TIMEOUT,
    );
    run.stderr_has(&format!("pid {pid}"));
    // The help's statement that ends the holder, pasted into a session of the database (its
    // `search_path` is the hostile one), ends it, and nothing of `evil` runs.
    let help = help_line(&run, "pg_terminate_backend");
    let end = help
        .split('`')
        .find(|part| part.contains("pg_terminate_backend"))
        .expect("the statement, in backquotes");
    client_paste(&db, end);
    let ended = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        let left: i64 = look
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .expect("look for the holder")
            .get(0);
        left == 0
    });
    assert!(ended, "{end} did not end the holder");
    holder = spare;
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .expect("the new holder's pid")
        .get(0);
    holder
        .batch_execute("BEGIN; LOCK TABLE public.tb_confiture IN ACCESS EXCLUSIVE MODE")
        .expect("lock the ledger");
    unshadowed(&project, &db, &["migrate", "status"], exit::LOCK_TIMEOUT)
        .stderr_has(&format!("pid {pid}"));
    holder.batch_execute("ROLLBACK").expect("end the lock");

    // `baseline` records a row lost; `reinit` accepts an edited file.
    look.batch_execute("DELETE FROM public.tb_confiture WHERE version = '004'")
        .expect("lose a row");
    unshadowed(
        &project,
        &db,
        &["migrate", "baseline", "--through", "004", "--dry-run"],
        exit::SUCCESS,
    );
    unshadowed(
        &project,
        &db,
        &["migrate", "baseline", "--through", "004"],
        exit::SUCCESS,
    );
    assert_eq!(versions(&mut look), ["001", "002", "003", "004"]);
    project.write(
        "db/migrations/002_t2.up.sql",
        "CREATE TABLE public.t2 (id int); -- edited\n",
    );
    unshadowed(
        &project,
        &db,
        &["migrate", "reinit", "--dry-run"],
        exit::SUCCESS,
    );
    unshadowed(&project, &db, &["migrate", "reinit"], exit::SUCCESS);
    unshadowed(&project, &db, &["migrate", "status"], exit::SUCCESS);

    // `verify` and `drift` copy the path to their scratch database, where `evil` exists once
    // the first migration replays there: a qualified ledger has its schema from the start.
    project.write(
        "db/environments/qualified.yaml",
        format!(
            "database_url: {}\nmigration:\n  tracking_table: public.tb_confiture\n",
            db.url()
        ),
    );
    for command in ["verify", "drift"] {
        let run = project.run(&["migrate", command, "--env", "qualified"]);
        run.code(exit::SUCCESS).stderr_lacks("EVIL");
    }
    // With a schema of its own first, the unqualified ledger is found, and made there.
    set_path("public, evil, pg_catalog");
    unshadowed(&project, &db, &["migrate", "verify"], exit::SUCCESS);
    unshadowed(&project, &db, &["migrate", "drift"], exit::SUCCESS);
    unshadowed(
        &project,
        &db,
        &["migrate", "down", "--steps", "4"],
        exit::SUCCESS,
    );
    assert!(versions(&mut look).is_empty());
    drop((look, holder));
}

/// The target's `search_path` names no existing schema (`''`): `verify` gives its scratch
/// database the target's settings, where the unqualified ledger then has nowhere to be created.
/// The help names the target as the database to give a `search_path` — it named the scratch
/// database (`ALTER DATABASE confiture_scratch_<pid>_... SET search_path`), gone by the time it
/// is read —, and its command, pasted, lets the next run through.
#[test]
fn verify_names_the_target_as_the_database_whose_search_path_to_set() {
    let db = TestDb::new("empty_path");
    let project = Project::new();
    project.migration(
        "001_create_t1",
        "CREATE TABLE public.t1 (id int);\n",
        "DROP TABLE public.t1;\n",
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET search_path = ''",
            db.name
        ))
        .expect("empty the database's search_path");
    let run = project.run_on(&db, &["migrate", "verify"]);
    run.code(exit::INVALID)
        .stderr_has("cannot create the tracking table tb_confiture")
        .stderr_lacks("ALTER DATABASE confiture_scratch")
        .stderr_has(&format!("it has the settings of database \"{}\"", db.name));
    let help = run.help_line();
    let start = help
        .find("ALTER DATABASE ")
        .unwrap_or_else(|| panic!("no ALTER DATABASE in the help: {help}"));
    let end = help[start..].find([';', ')']).expect("its end") + start;
    let statement = &help[start..end];
    assert_eq!(
        statement,
        format!("ALTER DATABASE {} SET search_path = public", db.name)
    );
    client_paste(&db, statement);
    project
        .run_on(&db, &["migrate", "verify"])
        .code(exit::SUCCESS);
}

/// `migrate status`'s line for `version_name` on `db`.
fn status_line(project: &Project, db: &TestDb, version_name: &str) -> String {
    let status = project.run(&["migrate", "status", "--database-url", &db.url()]);
    status
        .stdout
        .lines()
        .find(|l| l.starts_with(version_name))
        .unwrap_or_default()
        .to_string()
}

/// hcx: a migration that ends its own session was reported as a lost connection whose help
/// was to run `migrate up` again, which ends the same way every time. A no-transaction
/// migration setting `idle_session_timeout` (the server ends the session, FATAL 57P05, while
/// it waits for the next statement): named at its file and line, the help to remove it, the
/// migration left interrupted as any half-run no-transaction migration. Statements returning
/// many rows keep the client reading after the server went idle, longer than the timeout. On a
/// loaded machine the session may end in any gap, and the driver reports it on the statement
/// sent next (its reply and the FATAL read together, or the socket reset): still named.
#[test]
fn a_no_transaction_migration_that_sets_a_tiny_idle_session_timeout_is_named_as_the_cause() {
    let db = TestDb::new("own_idle_end");
    let project = Project::new();
    let rows = "SELECT repeat('x', 2000) FROM generate_series(1, 3000);\n".repeat(6);
    project
        .migration("001_t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
        .migration(
            "002_idle",
            &format!(
                "-- confiture:no-transaction\n\
                 -- confiture:allow(no-transaction-multiple-statements, resets-timeouts)\n\
                 SET idle_session_timeout = '1ms';\n{rows}\
                 CREATE INDEX CONCURRENTLY t1_i ON t1 (id);\n"
            ),
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t1_i;\n",
        );
    // hse: said before it runs (C119's own decision), as for a bound turned off.
    let warned = "002_idle.up.sql:3: SET idle_session_timeout = '1ms' in a no-transaction \
                  migration ends its own session";
    project
        .run(&["migrate", "up", "--dry-run", "--database-url", &db.url()])
        .code(exit::SUCCESS)
        .stderr_has(warned);
    let run = project.run(&["migrate", "up", "--database-url", &db.url()]);
    run.code(exit::CONNECTION)
        .stderr_has(warned)
        .stderr_has("migration 002_idle ended its own session")
        .stderr_has("002_idle.up.sql:3")
        .stderr_has("help: remove that statement from")
        .stderr_lacks("another session or an administrator");
    // The server writes its FATAL and closes at once: the driver reads its SQLSTATE, or only
    // the closed socket (then the message says so); either way the statement is named.
    assert!(
        run.stderr.contains("SQLSTATE 57P05")
            || run.stderr.contains("the server's reason did not reach us"),
        "{}",
        run.dump()
    );
    assert!(
        status_line(&project, &db, "002_idle").contains("interrupted"),
        "{}",
        run.dump()
    );
}

/// hcx: `pg_terminate_backend(pg_backend_pid())` in a migration, transactional or not, is the
/// migration ending its own session (57P01, or the socket closed before the driver read it):
/// named at its file and line, never put down to another session or an administrator, and
/// never "run it again" alone.
#[test]
fn a_migration_that_terminates_its_own_backend_is_named_as_the_cause() {
    let db = TestDb::new("own_terminate");
    let project = Project::new();
    project
        .migration("001_t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
        .migration(
            "002_kill",
            "CREATE TABLE t2 (id int);\n\
             SELECT pg_terminate_backend(pg_backend_pid());\n",
            "DROP TABLE t2;\n",
        );
    for _ in 0..3 {
        let run = project.run(&["migrate", "up", "--database-url", &db.url()]);
        run.code(exit::CONNECTION)
            .stderr_has("migration 002_kill ended its own session")
            .stderr_has("002_kill.up.sql:2")
            .stderr_has("help: remove that statement from")
            .stderr_lacks("another session or an administrator")
            .stderr_has("its transaction did not commit");
        let mut client = db.connect();
        assert_eq!(ledger(&mut client), ["001"], "{}", run.dump());
    }
    let no_tx = Project::new();
    no_tx
        .migration("001_t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
        .migration(
            "002_kill",
            "-- confiture:no-transaction\n\
             -- confiture:allow(no-transaction-multiple-statements)\n\
             CREATE INDEX CONCURRENTLY t1_i ON t1 (id);\n\
             DO $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); END $$;\n\
             CREATE INDEX CONCURRENTLY t1_j ON t1 (id);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t1_i;\n",
        );
    let db = TestDb::new("own_terminate_notx");
    let run = no_tx.run(&["migrate", "up", "--database-url", &db.url()]);
    run.code(exit::CONNECTION)
        .stderr_has("migration 002_kill ended its own session")
        .stderr_has("002_kill.up.sql:4")
        .stderr_has("help: remove that statement from")
        .stderr_lacks("another session or an administrator");
    assert!(
        status_line(&no_tx, &db, "002_kill").contains("interrupted"),
        "{}",
        run.dump()
    );
}

/// hse: lint said nothing of a migration that terminates its own backend
/// (`pg_terminate_backend(pg_backend_pid())`, any case, `pg_catalog.`-qualified) or cancels its
/// own statement (`pg_cancel_backend(pg_backend_pid())`): C124 warns at the call's line, in up
/// and down files, and the file's allow silences it.
#[test]
fn lint_warns_on_a_migration_that_signals_its_own_backend() {
    let project = Project::new();
    project
        .migration(
            "001_kill",
            "CREATE TABLE t1 (id int);\nSELECT PG_CATALOG.pg_terminate_backend( pg_backend_pid() );\n",
            "DO $$ BEGIN PERFORM pg_cancel_backend(pg_catalog.pg_backend_pid()); END $$;\n",
        )
        .migration(
            "002_others",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid();\n",
            "-- confiture:allow(own-backend-signal)\nSELECT pg_terminate_backend(pg_backend_pid());\n",
        );
    let run = project.run(&["lint"]);
    let all = format!("{}{}", run.stdout, run.stderr);
    for at in ["001_kill.up.sql:2:8", "001_kill.down.sql:1:21"] {
        assert!(all.contains(at), "{at}\n{}", run.dump());
    }
    assert!(all.contains("allow(own-backend-signal)"), "{}", run.dump());
    assert!(
        all.contains("ends the migration's own session"),
        "{}",
        run.dump()
    );
    assert!(
        all.contains("cancels the migration's own statement"),
        "{}",
        run.dump()
    );
    assert!(!all.contains("002_others"), "{}", run.dump());
    assert_eq!(all.matches("warning[C124]").count(), 2, "{}", run.dump());
    // A warning: lint passes, `-D warnings` fails.
    run.code(exit::SUCCESS);
    assert_ne!(
        project.run(&["lint", "-D", "warnings"]).code,
        i32::from(exit::SUCCESS)
    );
}

/// A no-transaction migration whose statement calls a function (created elsewhere) that
/// terminates its own backend: `statement` in the file.
fn no_tx_calling(statement: &str) -> Project {
    let project = Project::new();
    project
        .migration("001_t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
        .migration(
            "002_call",
            &format!(
                "-- confiture:no-transaction\n\
                 -- confiture:allow(no-transaction-multiple-statements)\n\
                 CREATE INDEX CONCURRENTLY t1_i ON t1 (id);\n\
                 {statement}\n\
                 CREATE INDEX CONCURRENTLY t1_j ON t1 (id);\n"
            ),
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t1_i;\n",
        );
    project
}

/// The note of a termination the file does not show: both the statement (through a function)
/// and another session or an administrator.
const BOTH_WAYS: &str = "may terminate its own backend (pg_terminate_backend of its own pid";

/// hse: a 57P01 while a no-transaction migration's statement ran a function terminating its
/// own backend got no word that the statement may have done it (only the direct call was
/// recognised): the error says both — the statement through a function it calls, or another
/// session or an administrator — and blames neither for sure. Several runs: the driver reads
/// the server's FATAL, or only the closed socket.
#[test]
fn a_function_terminating_its_own_backend_is_said_as_one_of_two_causes() {
    let project = no_tx_calling("SELECT end_me();");
    // A fresh database each time: the migration is left interrupted.
    for i in 0..3 {
        let db = TestDb::new(&format!("own_fn_terminate{i}"));
        let mut client = db.connect();
        client
            .batch_execute(
                "CREATE FUNCTION end_me() RETURNS bool LANGUAGE sql \
                 AS 'SELECT pg_terminate_backend(pg_backend_pid())';",
            )
            .expect("the function");
        let run = up_allowing_non_empty(&project, &db);
        run.code(exit::CONNECTION)
            .stderr_lacks("ended its own session");
        if run.stderr.contains("SQLSTATE 57P01") {
            run.stderr_has(BOTH_WAYS)
                .stderr_has("another session or an administrator")
                .stderr_has("002_call.up.sql:4");
        } else {
            run.stderr_has("terminating its own backend");
        }
        assert_eq!(ledger(&mut client), ["001"], "{}", run.dump());
    }
}

/// hcn: a migration terminating its own backend through a pid it computes (`SELECT
/// pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = pg_backend_pid()`, which C124
/// cannot see), transactional or not: the error says both causes — the statement terminating
/// its own backend (a computed pid, not only a function it calls) or another session or an
/// administrator — and blames neither for sure. Several runs: the driver reads the server's
/// FATAL, or only the closed socket.
#[test]
fn a_computed_pid_terminating_its_own_backend_is_said_as_one_of_two_causes() {
    const COMPUTED: &str =
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = pg_backend_pid();";
    let tx = Project::new();
    tx.migration("001_t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
        .migration(
            "002_call",
            &format!("CREATE TABLE t2 (id int);\n{COMPUTED}\n"),
            "DROP TABLE t2;\n",
        );
    for (project, what) in [
        (&tx, "transactional"),
        (&no_tx_calling(COMPUTED), "no-transaction"),
    ] {
        for i in 0..2 {
            let db = TestDb::new(&format!("own_pid_terminate{i}"));
            let run = project.run_on(&db, &["migrate", "up"]);
            run.code(exit::CONNECTION)
                .stderr_lacks("ended its own session")
                .stderr_lacks("may call a function");
            if run.stderr.contains("SQLSTATE 57P01") {
                run.stderr_has(BOTH_WAYS)
                    .stderr_has("another session or an administrator");
            } else {
                run.stderr_has("terminating its own backend");
            }
            assert_eq!(ledger(&mut db.connect()), ["001"], "{what}: {}", run.dump());
        }
    }
}

/// hse: an administrator's `pg_terminate_backend` of a no-transaction migration's statement
/// that calls no such function: the same note, never that the statement did it for sure.
#[test]
fn an_administrator_kill_of_a_statement_is_never_put_down_to_it_for_sure() {
    let db = TestDb::new("admin_kill_notx");
    let mut client = db.connect();
    client
        .batch_execute("CREATE TABLE pause (x int); INSERT INTO pause VALUES (1);")
        .expect("pause");
    let project = no_tx_calling("DO $$ BEGIN PERFORM pg_sleep(60) FROM pause; END $$;");
    let run = terminated_in_002(
        &project,
        &db,
        &mut client,
        &["migrate", "up", "--allow-non-empty"],
    );
    run.code(exit::CONNECTION)
        .stderr_lacks("ended its own session")
        .stderr_lacks("remove that statement");
    assert!(says_the_session_was_ended(&run), "{}", run.dump());
    if run.stderr.contains("SQLSTATE 57P01") {
        run.stderr_has(BOTH_WAYS)
            .stderr_has("another session or an administrator");
    }
}

/// An event trigger whose function refuses every `CREATE TABLE`, made by `001` or by hand.
const FROZEN_TABLES: &str = "CREATE FUNCTION f() RETURNS event_trigger LANGUAGE plpgsql AS $$\n\
     BEGIN\n\
       IF EXISTS (SELECT FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE TABLE') THEN\n\
         RAISE EXCEPTION 'tables are frozen';\n\
       END IF;\n\
     END $$;\n\
     CREATE EVENT TRIGGER et ON ddl_command_end EXECUTE FUNCTION f();\n";

/// An event trigger that refuses our own `CREATE TABLE` (the start markers', the ledger's)
/// was helped as the ledger's columns or the role's rights ("check that public.tb_confiture
/// has confiture's columns", the wrong table; "check that this role may create tables"), and
/// the tracking table's refusal dropped the server's context naming the function that raised.
/// Both name the event triggers, keep the context, and name the table that was being made;
/// disabled as the help says, the run goes through.
#[test]
fn an_event_trigger_refusing_our_own_tables_is_named_in_the_help() {
    // The start markers' table, made by the first no-transaction migration of a run.
    let db = TestDb::new("evt_markers");
    let project = Project::new();
    project.migration(
        "001_a",
        &format!("CREATE TABLE a (id int);\n{FROZEN_TABLES}"),
        "DROP EVENT TRIGGER et; DROP FUNCTION f(); DROP TABLE a;\n",
    );
    project.migration(
        "002_b",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY ai ON a (id);\n",
        "DROP INDEX ai;\n",
    );
    let run = project.run_on(&db, &["migrate", "up"]);
    run.code(exit::INVALID)
        .stderr_has("cannot record that migration 002_b starts in public.tb_confiture_started")
        .stderr_has("context: PL/pgSQL function f()")
        .stderr_lacks("public.tb_confiture has confiture's columns");
    let help = run.help_line();
    assert!(help.contains("an event trigger of the database"), "{help}");
    assert!(help.contains("public.tb_confiture_started"), "{help}");
    assert!(help.contains("et (function f())"), "{help}");
    db.connect()
        .batch_execute("ALTER EVENT TRIGGER et DISABLE")
        .unwrap();
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);

    // The tracking table, on a database that has the trigger before the first run.
    let db = TestDb::new("evt_ledger");
    let project = Project::new();
    project.table("001_t");
    db.connect().batch_execute(FROZEN_TABLES).unwrap();
    let run = project.run_on(&db, &["migrate", "up", "--allow-non-empty"]);
    run.code(exit::INVALID)
        .stderr_has("cannot create the tracking table tb_confiture: tables are frozen")
        .stderr_has("context: PL/pgSQL function f()");
    let help = run.help_line();
    assert!(help.contains("an event trigger of the database"), "{help}");
    assert!(help.contains("et (function f())"), "{help}");
    assert!(!help.contains("may create tables"), "{help}");
    db.connect()
        .batch_execute("ALTER EVENT TRIGGER et DISABLE")
        .unwrap();
    project
        .run_on(&db, &["migrate", "up", "--allow-non-empty"])
        .code(exit::SUCCESS);
}

/// A role that may write the ledger but not `tb_confiture_started`: the refusals of its read
/// and of a no-transaction migration's start marker gave `GRANT ... TO <role>;` (a
/// placeholder) or "to the role that runs confiture", where the ledger's names the role. Every
/// GRANT a help suggests is `db::ledger::grant_to`'s: the real role, quoted, pasted as is.
#[test]
fn the_start_markers_grant_hints_name_the_real_role_quoted() {
    let (role, db, url, project) = role_project(
        "cft_Markers",
        "marker_grants",
        (
            "001_a",
            "-- confiture:no-transaction\nDO $$ BEGIN END $$;\n",
            "SELECT 1;\n",
        ),
    );
    // The admin's run leaves both tables, the role allowed only the ledger.
    project.up_on(&db).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down", "--yes"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON tb_confiture TO \"{}\"",
            role.0
        ))
        .expect("grant");
    let grant = format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON \"public\".\"tb_confiture_started\" TO \"{}\";",
        role.0
    );
    // Not even SELECT on the markers: the read's refusal.
    let run = project.run(&["migrate", "up", "--database-url", &url]);
    run.code(exit::INVALID)
        .stderr_has(&grant)
        .stderr_lacks("<role>")
        .stderr_lacks("the role that runs confiture");
    // SELECT alone: the start marker's refusal.
    db.connect()
        .batch_execute(&format!(
            "GRANT SELECT ON tb_confiture_started TO \"{}\"",
            role.0
        ))
        .expect("grant");
    let run = project.run(&["migrate", "up", "--database-url", &url]);
    run.code(exit::INVALID)
        .stderr_has("cannot record that migration 001_a starts")
        .stderr_has(&grant)
        .stderr_lacks("<role>");
    // Pasted by the admin, the grant lets the role run it.
    db.connect()
        .batch_execute(&grant)
        .expect("the suggested grant");
    project
        .run(&["migrate", "up", "--database-url", &url])
        .code(exit::SUCCESS);
}

/// An immediate shutdown (`pg_ctl stop -m immediate`) during a no-transaction `CREATE INDEX
/// CONCURRENTLY`: the server's own message says it shut down, so the detail says so, never that
/// the migration may have terminated its own backend ("look for such a call in it"); and, the
/// server gone before it could be asked, the help says the build *may* have left its index
/// INVALID, never that it did.
#[test]
fn an_immediate_shutdown_during_a_concurrent_build_is_said_as_the_servers_not_the_migrations() {
    let cluster = Cluster::init();
    cluster.start();
    let db = cluster.create_database("shutdown_cic");
    // An open transaction keeping its snapshot: the build waits for it once it started.
    let mut blocker = cluster.connect(&db);
    blocker
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT pg_catalog.txid_current();")
        .expect("a transaction the build waits for");
    let project = three_then(
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS q1_ix ON q1 (id);\n",
    );
    let mut child = project.spawn(&[
        "migrate",
        "up",
        "--allow-non-empty",
        "--database-url",
        &cluster.url(&db, "sslmode=disable"),
    ]);
    let mut client = cluster.connect(&db);
    wait_until(
        "the concurrent build waits for the open transaction",
        Duration::from_secs(30),
        || {
            if child.try_wait().expect("poll the run").is_some() {
                let mut stderr = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
                }
                panic!("the run ended before its build waited: {stderr}");
            }
            client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = $1 \
                     AND query LIKE '%CONCURRENTLY%' AND wait_event_type = 'Lock' \
                     AND pid <> pg_backend_pid())",
                    &[&db],
                )
                .expect("pg_stat_activity")
                .get(0)
        },
    );
    drop(client);
    // The blocker stays open until the server is gone: the build is still waiting then.
    cluster.stop("immediate");
    drop(blocker);
    let run = Run::reaped(child);
    cluster.start();
    run.code(exit::CONNECTION)
        .stderr_has("terminating connection due to immediate shutdown command (SQLSTATE 57P01)")
        .stderr_has("the server shut down (an immediate shutdown, as its message says)")
        .stderr_lacks("does not say who asked")
        .stderr_lacks("look for such a call")
        .stderr_has("may have left its")
        .stderr_lacks("that statement left INVALID");
}

/// The scratch database of a `verify` whose session the server ended (`pg_ctl restart -m
/// fast`, `stop -m fast`) while its first up ran: the drop at the end met the server going
/// away, and the database stayed, though the run had said it would be dropped; nothing named
/// it, and the error's fate line sent to `migrate status`, which reads the target, where
/// nothing was written. The drop is now tried again on a new session once the server is back
/// (a restart): the database is gone. A server that does not come back in time (a stop): the
/// run's error names the database left and the statement that drops it, which works once
/// the server is up. Never a fate line for a scratch database.
#[test]
fn a_server_going_away_during_verify_drops_its_scratch_database_or_names_it() {
    let cluster = restartable();
    let project = Project::new();
    project.migration(
        "001_slow",
        "CREATE TABLE t (a int);\nSELECT pg_sleep(60);\n",
        "DROP TABLE t;\n",
    );
    for stopped in [false, true] {
        let db = cluster.create_database("verify_away");
        let url = cluster.url(&db, "sslmode=disable");
        let child = project.spawn(&["migrate", "verify", "--format=json", "--database-url", &url]);
        let prefix = confiture_tests::scratch_prefix(child.id());
        let mut client = cluster.connect("postgres");
        wait_until(
            "the scratch database's migration sleeps",
            Duration::from_secs(120),
            || {
                client
                    .query_one(
                        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE \
                     starts_with(datname::text, $1) AND wait_event = 'PgSleep')",
                        &[&prefix],
                    )
                    .unwrap()
                    .get(0)
            },
        );
        if stopped {
            cluster.stop("fast");
        } else {
            cluster.restart("fast");
        }
        let run = Run::reaped(child);
        if stopped {
            cluster.start();
        }
        let at = format!("stopped: {stopped}\n{}", run.dump());
        run.code(exit::CONNECTION)
            .stderr_lacks("fate unknown")
            .stderr_lacks("migrate status");
        let doc = run.json();
        assert_eq!(doc["errors"][0]["kind"], "connection", "{at}");
        let scratch = doc["scratch_database"]
            .as_str()
            .expect("scratch_database")
            .to_string();
        let drop = format!("DROP DATABASE IF EXISTS \"{scratch}\" WITH (FORCE);");
        let details = doc["errors"][0]["details"].to_string();
        let mut admin = cluster.connect("postgres");
        let exists = |admin: &mut postgres::Client| -> bool {
            admin
                .query_one(
                    "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)",
                    &[&scratch],
                )
                .unwrap()
                .get(0)
        };
        if stopped {
            assert!(details.contains(&drop.replace('"', "\\\"")), "{at}");
            assert!(run.stderr.contains(&drop), "{at}");
            assert!(exists(&mut admin), "{at}");
            // The statement given, as given.
            admin.batch_execute(&drop).unwrap();
        } else {
            assert!(!details.contains("DROP DATABASE"), "{at}");
        }
        assert!(!exists(&mut admin), "{scratch} left behind: {at}");
    }
}
