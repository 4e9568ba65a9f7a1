//! Fleets from the command line: `migrate up|status --targets FILE | --targets-query SQL`
//! against many real databases — 200 tenants with one poisoned, stop at the first failure,
//! a runner killed mid-fleet — checked from each database's ledger and catalogs.

use std::process::Stdio;
use std::time::Duration;

use confiture::exit;
use confiture_tests::{pg_host, pg_port, server, wait_until, Project, Run, TestDb, TestDbs};

/// The environment's database: names in a target list are databases on its server.
fn server_url() -> String {
    server().url("postgres")
}

/// Three migrations; the second creates `tb_widget` at its line 2 (the poison's conflict).
fn tenant_project() -> Project {
    let project = Project::new();
    project
        .migration(
            "001_create_tb_account",
            "CREATE TABLE tb_account (pk int PRIMARY KEY);\n",
            "DROP TABLE tb_account;\n",
        )
        .migration(
            "002_create_tb_widget",
            "-- widgets of the tenant\nCREATE TABLE tb_widget (pk int PRIMARY KEY);\n",
            "DROP TABLE tb_widget;\n",
        )
        .migration(
            "003_index_tb_widget",
            "CREATE INDEX idx_tb_widget ON tb_widget (pk);\n",
            "DROP INDEX idx_tb_widget;\n",
        );
    project
}

const ALL: [&str; 3] = [
    "001:create_tb_account",
    "002:create_tb_widget",
    "003:index_tb_widget",
];

/// Writes the target list: a comment, then one database name per line (with a blank line in
/// the middle); returns the line of each database, in order.
fn write_targets(project: &Project, dbs: &TestDbs) -> Vec<usize> {
    let mut text = String::from("# tenants of this test\n");
    let mut lines = Vec::new();
    for (i, db) in dbs.dbs.iter().enumerate() {
        if i == dbs.dbs.len() / 2 {
            text.push('\n');
        }
        text.push_str(&db.name);
        text.push('\n');
        lines.push(text.lines().count());
    }
    project.write("tenants.txt", text);
    lines
}

fn fleet(project: &Project, args: &[&str]) -> Run {
    let url = server_url();
    let mut all = vec!["--database-url", url.as_str()];
    all.extend_from_slice(args);
    Run::of(project.cli().args(["migrate"]).args(&all))
}

/// `migrate status` of the targets of `tenants.txt` ([`write_targets`]), resolved from `url`,
/// with `args` after.
fn tenants_status(project: &Project, url: &str, args: &[&str]) -> Run {
    Run::of(
        project
            .cli()
            .args(["migrate", "status", "--database-url", url])
            .args(["--targets", "tenants.txt"])
            .args(args),
    )
}

/// `migrate --env ENV status` with `args` after: the fleet of that environment's file.
fn env_status(project: &Project, env: &str, args: &[&str]) -> Run {
    Run::of(
        project
            .cli()
            .args(["migrate", "--env", env, "status"])
            .args(args),
    )
}

fn ledger(db: &TestDb) -> Vec<String> {
    db.ledger().unwrap_or_default()
}

/// The ledger and the schema agree: each migration's relation exists exactly when its row
/// does (read in one session). Returns the ledger.
#[track_caller]
fn consistent(db: &TestDb) -> Vec<String> {
    let mut client = db.connect();
    let row = client
        .query_one(
            "SELECT to_regclass('tb_confiture') IS NOT NULL, to_regclass('tb_account') IS NOT NULL,
                    to_regclass('tb_widget') IS NOT NULL, to_regclass('idx_tb_widget') IS NOT NULL",
            &[],
        )
        .expect("read the catalogs");
    let rows: Vec<String> = if row.get::<_, bool>(0) {
        client
            .query(
                "SELECT version || ':' || name FROM tb_confiture ORDER BY applied_at, pk_confiture",
                &[],
            )
            .expect("read the ledger")
            .iter()
            .map(|r| r.get(0))
            .collect()
    } else {
        Vec::new()
    };
    for (i, (recorded_as, relation)) in ALL
        .iter()
        .zip(["tb_account", "tb_widget", "idx_tb_widget"])
        .enumerate()
    {
        let recorded = rows.iter().any(|r| r == recorded_as);
        let exists: bool = row.get(i + 1);
        assert_eq!(
            exists, recorded,
            "{}: {relation} exists: {exists}, but the ledger is {rows:?}",
            db.name
        );
    }
    rows
}

/// [`consistent`] for every database, a few at a time; the ledgers in order.
fn all_consistent(dbs: &TestDbs) -> Vec<Vec<String>> {
    let chunk = dbs.dbs.len().div_ceil(8).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = dbs
            .dbs
            .chunks(chunk)
            .map(|dbs| scope.spawn(move || dbs.iter().map(consistent).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

fn entries(doc: &serde_json::Value) -> &Vec<serde_json::Value> {
    doc["targets"].as_array().expect("targets[]")
}

#[test]
fn two_hundred_tenants_one_poisoned_keep_going_then_resume_only_the_poisoned_one() {
    let dbs = TestDbs::new("fleet200", 200);
    let project = tenant_project();
    let lines = write_targets(&project, &dbs);
    let poisoned = 137;
    dbs.dbs[poisoned]
        .connect()
        .batch_execute("CREATE TABLE tb_widget (other text)")
        .expect("poison a tenant");

    let run = fleet(
        &project,
        &[
            "up",
            "--allow-non-empty",
            "--targets",
            "tenants.txt",
            "--jobs",
            "8",
            "--keep-going",
            "--format",
            "json",
        ],
    );
    run.code(exit::MIGRATION_FAILED)
        .stderr_has(&format!("tenants.txt:{}", lines[poisoned]))
        .stderr_has("002_create_tb_widget.up.sql:2");
    let doc = run.json();
    let targets = entries(&doc);
    assert_eq!(targets.len(), 200, "{doc}");
    assert_eq!(doc["summary"]["done"], 199, "{}", doc["summary"]);
    assert_eq!(doc["summary"]["failed"], 1);
    assert_eq!(doc["summary"]["not_started"], 0);
    assert_eq!(doc["summary"]["exit_code"], exit::MIGRATION_FAILED);
    for (i, (entry, db)) in targets.iter().zip(&dbs.dbs).enumerate() {
        assert_eq!(entry["target"], db.display());
        assert_eq!(entry["source"], format!("tenants.txt:{}", lines[i]));
        if i == poisoned {
            assert_eq!(entry["state"], "failed", "{entry}");
            assert_eq!(entry["exit_code"], exit::MIGRATION_FAILED);
            assert_eq!(entry["applied"], serde_json::json!(["001"]));
            let error = &entry["error"];
            assert_eq!(error["kind"], "migration_failed", "{error}");
            assert_eq!(error["version"], "002");
            assert_eq!(error["line"], 2);
            assert_eq!(error["sqlstate"], "42P07");
            assert!(
                error["file"]
                    .as_str()
                    .is_some_and(|f| f.ends_with("db/migrations/002_create_tb_widget.up.sql")),
                "{error}"
            );
        } else {
            assert_eq!(entry["state"], "done", "{entry}");
            assert_eq!(entry["exit_code"], 0);
            assert_eq!(entry["applied"], serde_json::json!(["001", "002", "003"]));
            assert_eq!(entry["error"], serde_json::Value::Null);
        }
    }
    // From the databases themselves: every other tenant is complete, the poisoned one stopped
    // before its failed migration and kept its own table.
    assert_eq!(ledger(&dbs.dbs[poisoned]), ["001:create_tb_account"]);
    dbs.dbs[poisoned]
        .connect()
        .batch_execute("DROP TABLE tb_widget")
        .expect("remove the poison");
    for (i, (rows, db)) in all_consistent(&dbs).iter().zip(&dbs.dbs).enumerate() {
        if i == poisoned {
            assert_eq!(rows, &["001:create_tb_account"]);
        } else {
            assert_eq!(rows, &ALL, "{}", db.name);
        }
    }

    // The poison removed (above), a re-run applies what is missing: only the poisoned tenant's.
    let run = fleet(
        &project,
        &[
            "up",
            "--targets",
            "tenants.txt",
            "--jobs",
            "8",
            "--format",
            "json",
        ],
    );
    run.code(exit::SUCCESS);
    let doc = run.json();
    let applied: Vec<(usize, &serde_json::Value)> = entries(&doc)
        .iter()
        .map(|e| &e["applied"])
        .enumerate()
        .filter(|(_, a)| a.as_array().is_some_and(|a| !a.is_empty()))
        .collect();
    assert_eq!(
        applied,
        [(poisoned, &serde_json::json!(["002", "003"]))],
        "{}",
        doc["summary"]
    );
    assert_eq!(doc["summary"]["done"], 200);
    for (rows, db) in all_consistent(&dbs).iter().zip(&dbs.dbs) {
        assert_eq!(rows, &ALL, "{}", db.name);
    }

    // And status agrees, for all 200, in a table.
    fleet(&project, &["status", "--targets", "tenants.txt"])
        .code(exit::SUCCESS)
        .stdout_has("200 targets: 200 done, 0 failed");
}

/// With two jobs, the first target runs beside the poisoned second one and waits (in its 003)
/// until the poisoned one's run has ended: no timing is assumed, the order is forced.
#[test]
fn the_first_failure_stops_the_fleet_and_the_running_targets_finish() {
    let dbs = TestDbs::new("fleetstop", 12);
    let project = tenant_project();
    let (beside, poisoned) = (0, 1);
    // The poisoned run has ended when its database saw a rollback and has no client session
    // left (the server-wide statistics views; the snapshot is cleared on each turn). Bounded,
    // so a runner that never ends the poisoned run fails this test instead of hanging it.
    project.write(
        "db/migrations/003_index_tb_widget.up.sql",
        format!(
            "CREATE INDEX idx_tb_widget ON tb_widget (pk);\n\
             DO $$ BEGIN\n\
             IF current_database() = '{beside}' THEN\n\
               FOR turn IN 1..3000 LOOP\n\
                 PERFORM pg_stat_clear_snapshot();\n\
                 EXIT WHEN EXISTS (SELECT FROM pg_stat_database WHERE datname = '{poisoned}' AND xact_rollback > 0)\n\
                   AND NOT EXISTS (SELECT FROM pg_stat_activity WHERE datname = '{poisoned}' AND backend_type = 'client backend');\n\
                 IF turn = 3000 THEN RAISE EXCEPTION 'the poisoned target''s run did not end within a minute'; END IF;\n\
                 PERFORM pg_sleep(0.02);\n\
               END LOOP;\n\
             END IF;\n\
             END $$;\n",
            beside = dbs.dbs[beside].name,
            poisoned = dbs.dbs[poisoned].name,
        ),
    );
    write_targets(&project, &dbs);
    dbs.dbs[poisoned]
        .connect()
        .batch_execute("CREATE TABLE tb_widget (other text)")
        .expect("poison a tenant");

    let run = fleet(
        &project,
        &[
            "up",
            "--allow-non-empty",
            "--targets",
            "tenants.txt",
            "--jobs",
            "2",
        ],
    );
    run.code(exit::MIGRATION_FAILED)
        .stdout_has("– not started")
        .stdout_has("--keep-going runs every target");
    // The one beside the poisoned one (two at a time) finished; none started after the
    // failure was known.
    for (i, db) in dbs.dbs.iter().enumerate() {
        if i == poisoned {
            // Its own tb_widget stays; the failed migration left no row.
            assert_eq!(ledger(db), ["001:create_tb_account"]);
        } else if i == beside {
            assert_eq!(consistent(db), ALL, "{}", db.name);
        } else {
            assert!(db.ledger().is_none(), "{} was started", db.name);
            let row = run
                .stdout
                .lines()
                .find(|l| l.contains(&db.name))
                .expect("a row per target");
            assert!(row.contains("– not started"), "{row}");
        }
    }
}

/// SIGINT mid-fleet ended the process with no word of which targets were done, running or
/// never reached; then it let the running targets finish, however long their migrations ran.
/// Now no target starts after it, and every running target stops as one database does: the
/// statement running there is cancelled, its migration rolled back, the ones it committed
/// kept. The partial report — table or JSON — gives every target its own code (130 for the
/// interrupted ones, none for those never started) and the run exits 130, promptly.
#[test]
fn sigint_mid_fleet_cancels_every_running_target_and_reports_the_rest_as_not_started() {
    let dbs = TestDbs::new("fleetint", 4);
    let project = tenant_project();
    project.write(
        "db/migrations/002_create_tb_widget.up.sql",
        "-- widgets of the tenant\nCREATE TABLE tb_widget (pk int PRIMARY KEY);\nSELECT pg_sleep(30);\n",
    );
    write_targets(&project, &dbs);
    let url = server_url();
    for json in [false, true] {
        for db in &dbs.dbs {
            db.connect()
                .batch_execute("DROP TABLE IF EXISTS tb_confiture, tb_widget, tb_account CASCADE")
                .expect("reset");
        }
        let mut command = project.cli();
        command
            .args(["migrate", "up", "--database-url", &url])
            .args(["--targets", "tenants.txt", "--jobs", "2"]);
        if json {
            command.args(["--format", "json"]);
        }
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the CLI under test");
        // The first two targets sleep in 002; their 001 committed.
        let sleeping = wait_until(Duration::from_secs(60), || {
            dbs.dbs[..2]
                .iter()
                .all(|db| db.sleeping_backend().is_some())
        });
        assert!(sleeping, "the first two targets never reached 002");
        confiture_tests::send_signal(child.id(), "-INT");
        let sent = std::time::Instant::now();
        let run = Run::from_output(child.wait_with_output().unwrap(), sent.elapsed());
        assert!(
            run.elapsed < Duration::from_secs(10),
            "the running targets were not cancelled\n{}",
            run.dump()
        );
        run.code(exit::INTERRUPTED)
            .stderr_has("stopping: no new target starts")
            .stderr_has("interrupted: 0 finished, 2 cancelled, 0 failed, 2 not started (exit 130)");
        // The running targets kept 001 and rolled back 002; the others were never reached.
        for db in &dbs.dbs[..2] {
            assert_eq!(
                consistent(db),
                ALL[..1],
                "{} did not roll back 002\n{}",
                db.name,
                run.dump()
            );
            assert!(db.sleeping_backend().is_none(), "{}", run.dump());
        }
        for db in &dbs.dbs[2..] {
            assert!(
                db.ledger().is_none(),
                "{} was reached\n{}",
                db.name,
                run.dump()
            );
        }
        if json {
            let doc = run.json();
            assert_eq!(doc["summary"]["interrupted"], true, "{doc}");
            assert_eq!(doc["summary"]["exit_code"], 130, "{doc}");
            assert_eq!(doc["summary"]["not_started"], 2, "{doc}");
            // Interrupted, not failed: they were counted as failed in the summary, and as
            // cancelled on the line under it.
            assert_eq!(doc["summary"]["failed"], 0, "{doc}");
            assert_eq!(doc["summary"]["interrupted_targets"], 2, "{doc}");
            for entry in &entries(&doc)[..2] {
                assert_eq!(entry["state"], "interrupted", "{doc}");
                assert_eq!(entry["exit_code"], 130, "{doc}");
                assert_eq!(entry["error"]["kind"], "interrupted", "{doc}");
                assert_eq!(entry["applied"], serde_json::json!(["001"]), "{doc}");
            }
            for entry in &entries(&doc)[2..] {
                assert_eq!(entry["state"], "not_started", "{doc}");
                assert_eq!(entry["exit_code"], serde_json::Value::Null, "{doc}");
            }
        } else {
            run.stdout_has(
                "4 targets: 0 done, 0 failed, 2 interrupted, 2 not started (interrupted)",
            )
            .stdout_has("✗ interrupted (exit 130)");
        }
    }
}

/// A runner killed with SIGKILL mid-fleet: every target is as one whole run would leave it
/// (ledger and schema agree: a migration and its row commit together), and the next run
/// finishes the job.
#[test]
fn a_runner_killed_mid_fleet_leaves_every_target_consistent_and_the_next_run_finishes() {
    let dbs = TestDbs::new("fleetkill", 24);
    let project = tenant_project();
    // Slow enough that the kill lands while several targets are mid-migration.
    project.write(
        "db/migrations/002_create_tb_widget.up.sql",
        "-- widgets of the tenant\nCREATE TABLE tb_widget (pk int PRIMARY KEY);\nSELECT pg_sleep(0.4);\n",
    );
    write_targets(&project, &dbs);
    let url = server_url();
    let mut child = project
        .cli()
        .args(["migrate", "up", "--database-url", &url])
        .args(["--targets", "tenants.txt", "--jobs", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the CLI under test");
    let finished = |db: &TestDb| ledger(db).len() == 3;
    let some_done = wait_until(Duration::from_secs(60), || {
        dbs.dbs.iter().take(12).filter(|db| finished(db)).count() >= 4
    });
    child.kill().expect("kill the runner");
    let status = child.wait().expect("reap the runner");
    assert!(some_done, "no target finished within a minute");
    assert_eq!(status.code(), None, "the runner was killed by a signal");

    // The server ends the orphaned sessions (client_connection_check_interval) and rolls back.
    assert!(
        wait_until(Duration::from_secs(20), || dbs
            .dbs
            .iter()
            .all(|db| db.other_backends().is_empty())),
        "sessions of the killed runner are still there"
    );
    let mut complete = 0;
    let mut untouched = 0;
    for db in &dbs.dbs {
        let rows = consistent(db);
        if rows == ALL {
            complete += 1;
        } else if db.ledger().is_none() {
            untouched += 1;
        }
        assert!(
            db.migration_lock_holders().is_empty(),
            "{}: the migration lock is still held",
            db.name
        );
    }
    assert!(complete >= 4, "{complete} complete");
    assert!(
        untouched > 0,
        "the kill came after every target had started"
    );

    let run = fleet(
        &project,
        &[
            "up",
            "--targets",
            "tenants.txt",
            "--jobs",
            "8",
            "--format",
            "json",
        ],
    );
    run.code(exit::SUCCESS);
    let doc = run.json();
    let resumed = entries(&doc)
        .iter()
        .filter(|e| e["applied"].as_array().is_some_and(|a| !a.is_empty()))
        .count();
    assert_eq!(resumed, 24 - complete, "{}", doc["summary"]);
    for db in &dbs.dbs {
        assert_eq!(consistent(db), ALL, "{}", db.name);
    }
}

#[test]
fn targets_from_a_query_status_table_and_json() {
    let dbs = TestDbs::new("fleetq", 3);
    let project = tenant_project();
    // One up to date, one with a pending migration, one never migrated.
    Run::of(
        project
            .cli()
            .args(["migrate", "up", "--database-url", &dbs.dbs[0].url()]),
    )
    .code(exit::SUCCESS);
    Run::of(project.cli().args([
        "migrate",
        "up",
        "--steps",
        "2",
        "--database-url",
        &dbs.dbs[1].url(),
    ]))
    .code(exit::SUCCESS);
    let prefix = dbs.dbs[0].name.trim_end_matches("_000");
    let query = format!(
        "SELECT datname FROM pg_database WHERE datname LIKE '{prefix}\\_%' ORDER BY datname"
    );
    let run = fleet(&project, &["status", "--targets-query", &query]);
    run.code(exit::FLEET_MIXED)
        .stdout_has("✓ up to date")
        .stdout_has("✗ pending")
        .stdout_has("✗ not initialised")
        .stdout_has("3 targets: 3 done, 0 failed")
        .stderr_has("different exit codes");
    let rows: Vec<&str> = run.stdout.lines().skip(1).take(3).collect();
    for (row, db) in rows.iter().zip(&dbs.dbs) {
        assert!(row.contains(&db.name), "{row} is not {}", db.name);
    }

    let run = fleet(
        &project,
        &["status", "--targets-query", &query, "--format", "json"],
    );
    run.code(exit::FLEET_MIXED);
    let doc = run.json();
    let codes: Vec<&serde_json::Value> = entries(&doc).iter().map(|e| &e["exit_code"]).collect();
    assert_eq!(
        codes,
        [
            &serde_json::json!(0),
            &serde_json::json!(1),
            &serde_json::json!(2)
        ]
    );
    assert_eq!(
        entries(&doc)[1]["report"]["pending"],
        serde_json::json!(["003"])
    );
    assert_eq!(entries(&doc)[1]["source"], "the targets query, row 2");
    // Status wrote nothing: the never-migrated tenant still has no ledger.
    assert!(dbs.dbs[2].ledger().is_none());
}

#[test]
fn the_targets_query_runs_read_only() {
    let db = TestDb::new("fleetro");
    db.connect()
        .batch_execute("CREATE TABLE tenants (name text)")
        .expect("setup");
    let project = tenant_project();
    let url = db.url();
    let run = Run::of(project.cli().args([
        "migrate",
        "status",
        "--database-url",
        &url,
        "--targets-query",
        "WITH added AS (INSERT INTO tenants VALUES ('x') RETURNING name) SELECT name FROM added",
    ]));
    run.code(exit::INVALID)
        .stderr_has("the targets query failed")
        .stderr_has("read-only transaction");
    let count: i64 = db
        .connect()
        .query_one("SELECT count(*) FROM tenants", &[])
        .expect("count")
        .get(0);
    assert_eq!(count, 0, "the targets query wrote");
}

/// A targets or schemas query reading a table another session had locked waited forever. It
/// now waits the environment's `lock_timeout`, then fails with the lock-timeout exit code,
/// naming the session holding the lock as a wait for the migration lock does.
#[test]
fn a_list_query_on_a_locked_table_gives_up_and_names_the_holder() {
    let db = TestDb::new("fleetqlock");
    db.connect()
        .batch_execute("CREATE TABLE tenants (name text); INSERT INTO tenants VALUES ('x')")
        .expect("setup");
    let project = tenant_project();
    project.write(
        "db/environments/ctl.yaml",
        format!(
            "database_url: {}\nmigration:\n  lock_timeout: 1s\n",
            db.url()
        ),
    );
    let mut holder = db.client_as("fleet_qlock_holder");
    // The server ends the holder after 20 s: a query that waits unbounded then succeeds (and
    // this test fails) instead of hanging.
    holder
        .batch_execute(
            "SET idle_in_transaction_session_timeout = '20s'; \
             BEGIN; LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE",
        )
        .expect("lock");
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .expect("pid")
        .get(0);
    for (flag, list) in [
        ("--targets-query", "the targets query"),
        ("--schemas-query", "the schemas query"),
    ] {
        let start = std::time::Instant::now();
        let run = env_status(&project, "ctl", &[flag, "SELECT name FROM tenants"]);
        run.code(exit::LOCK_TIMEOUT)
            .stderr_has(&format!("{list} waited 1s on "))
            .stderr_has(&format!(
                "held by pid {pid}, application_name \"fleet_qlock_holder\""
            ))
            .stderr_has(&format!("pg_terminate_backend({pid})"));
        assert!(start.elapsed() < Duration::from_secs(30), "{}", run.dump());
        let json = env_status(
            &project,
            "ctl",
            &[flag, "SELECT name FROM tenants", "--format", "json"],
        );
        json.code(exit::LOCK_TIMEOUT).stdout_has(&format!("{pid}"));
    }
    holder.batch_execute("ROLLBACK").expect("unlock");
}

/// A list query waiting for locks two sessions hold on the tables it reads: the error names
/// both, and its help ends both by their pids, as every lock error's does
/// (`lock::holders_help`) — it used to say `pg_terminate_backend(<pid>)`, no pid given.
#[test]
fn a_list_query_on_tables_two_sessions_locked_names_them_both_in_its_help() {
    let db = TestDb::new("fleetqlocks");
    db.connect()
        .batch_execute(
            "CREATE TABLE tenants (name text); CREATE TABLE more_tenants (name text); \
             INSERT INTO tenants VALUES ('x')",
        )
        .expect("setup");
    let project = tenant_project();
    project.write(
        "db/environments/ctl.yaml",
        format!(
            "database_url: {}\nmigration:\n  lock_timeout: 300ms\n",
            db.url()
        ),
    );
    let mut holders: Vec<(postgres::Client, i32)> = ["tenants", "more_tenants"]
        .iter()
        .map(|table| {
            let mut holder = db.connect();
            // The server ends it after 20 s: never a test left hanging.
            holder
                .batch_execute(&format!(
                    "SET idle_in_transaction_session_timeout = '20s'; \
                     BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
                ))
                .expect("lock");
            let pid: i32 = holder
                .query_one("SELECT pg_backend_pid()", &[])
                .expect("pid")
                .get(0);
            (holder, pid)
        })
        .collect();
    let mut pids: Vec<i32> = holders.iter().map(|(_, pid)| *pid).collect();
    pids.sort_unstable();
    let run = env_status(
        &project,
        "ctl",
        &[
            "--targets-query",
            "SELECT name FROM tenants UNION ALL SELECT name FROM more_tenants",
        ],
    );
    run.code(exit::LOCK_TIMEOUT)
        .stderr_has(&format!("held by pid {}", pids[0]))
        .stderr_has(&format!("held by pid {}", pids[1]))
        .stderr_has(&format!(
            "`SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.unnest(ARRAY[{}, {}]) AS pid`",
            pids[0], pids[1]
        ))
        .stderr_lacks("<pid>");
    for (holder, _) in &mut holders {
        holder.batch_execute("ROLLBACK").expect("unlock");
    }
}

#[test]
fn bad_target_lines_are_named_and_nothing_runs() {
    let db = TestDb::new("fleetbad");
    let project = tenant_project();
    project.write(
        "tenants.txt",
        format!(
            "{}\npostgresql://u:hunter2@host:port/db\ntenant 7 # eu\n{}\n\
             postgresq://u:hunter2@127.0.0.1/db\nu:hunter2@127.0.0.1/db\n",
            db.name, db.name
        ),
    );
    // A URL with a mistyped scheme, or credentials without one, is a bad URL, not a database
    // name to show (with its password) in every row, error and suggested `createdb`.
    fleet(&project, &["up", "--targets", "tenants.txt"])
        .code(exit::INVALID)
        .stderr_has("5 bad targets in tenants.txt")
        .stderr_has("tenants.txt:2")
        .stderr_has("tenants.txt:3")
        .stderr_has("is already listed at tenants.txt:1")
        .stderr_has("invalid database URL in tenants.txt:5: the URL scheme must be")
        .stderr_has("invalid database URL in tenants.txt:6")
        .stderr_lacks("hunter2");
    let json = fleet(
        &project,
        &["up", "--targets", "tenants.txt", "--format", "json"],
    );
    json.code(exit::INVALID);
    assert!(
        !json.stdout.contains("hunter2") && !json.stderr.contains("hunter2"),
        "{}",
        json.dump()
    );
    assert!(db.ledger().is_none(), "a target ran");

    fleet(&project, &["up", "--targets", "missing.txt"])
        .code(exit::INVALID)
        .stderr_has("target list missing.txt does not exist");
}

#[test]
fn fleet_flags_are_checked_before_anything_runs() {
    let project = tenant_project();
    for args in [
        &["up", "--jobs", "2"][..],
        &["up", "--keep-going"],
        &[
            "status",
            "--targets",
            "a.txt",
            "--targets-query",
            "SELECT 1",
        ],
        &["up", "--targets", "a.txt", "--jobs", "0"],
    ] {
        fleet(&project, args)
            .code(exit::USAGE)
            .stderr_lacks("using ");
    }
}

/// A poisoned tenant's help said to fix the migration's file, which the other targets had
/// just applied: edited, it would be a modified migration (diverged) on every one of them.
/// The help of a target's failed migration says to fix the database, never to edit the file.
#[test]
fn a_poisoned_targets_help_never_says_to_edit_a_migration_others_applied() {
    let dbs = TestDbs::new("fleetpoisonhelp", 2);
    let project = tenant_project();
    dbs.dbs[1]
        .connect()
        .batch_execute("CREATE TABLE tb_widget (pk int)")
        .expect("poison");
    write_targets(&project, &dbs);
    let run = fleet(
        &project,
        &[
            "up",
            "--allow-non-empty",
            "--targets",
            "tenants.txt",
            "--keep-going",
        ],
    );
    run.code(exit::MIGRATION_FAILED)
        .stderr_has("002_create_tb_widget.up.sql:2")
        .stderr_has("do not edit its file")
        .stderr_lacks("help: fix db/migrations");
    assert_eq!(ledger(&dbs.dbs[0]), ALL);
    let json = fleet(
        &project,
        &["up", "--targets", "tenants.txt", "--format", "json"],
    )
    .code(exit::MIGRATION_FAILED)
    .json();
    let help = entries(&json)[1]["error"]["help"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(help.contains("do not edit its file"), "{json}");
}

/// A `down --steps 2` on a list where one database has one migration applied: its refusal
/// said "pass --steps 1 (or --target 0 --yes)", which pasted onto the fleet's command rolled
/// back every database again. Its suggested commands name that database alone (never the
/// fleet's `--targets`), in text and JSON: listed by name, with the run's selection and a list
/// of that name (`--targets <(echo NAME)`, the environment's credentials and settings kept);
/// pasted in a shell with the environment's URL, the command rolls back that database only.
#[test]
fn a_down_beyond_one_databases_migrations_suggests_a_command_for_that_database() {
    let dbs = TestDbs::new("fleetdownhelp", 2);
    let project = tenant_project();
    write_targets(&project, &dbs);
    fleet(&project, &["up", "--targets", "tenants.txt"]).code(exit::SUCCESS);
    let short = dbs.dbs[1].url();
    // The second database keeps one migration, the first three.
    let shorten = || {
        let args = ["migrate", "down", "--steps", "2", "--database-url", &short];
        Run::of(project.cli().args(args)).code(exit::SUCCESS);
    };
    shorten();
    // `down --steps 2` on both, going on past the one with fewer.
    let down_two = |more: &[&str]| {
        let mut args = vec![
            "down",
            "--targets",
            "tenants.txt",
            "--steps",
            "2",
            "--keep-going",
        ];
        args.extend_from_slice(more);
        fleet(&project, &args)
    };
    let run = down_two(&[]);
    run.code(exit::USAGE);
    let alone = format!("--database-url <URL> --targets <(echo {})", dbs.dbs[1].name);
    let command = format!("`cargo confiture migrate down --steps 1 {alone}`");
    run.stderr_has(&command)
        .stderr_has(&format!(
            "`cargo confiture migrate down --target 0 --yes {alone}`"
        ))
        .stderr_lacks("--targets tenants.txt`");
    assert_eq!(ledger(&dbs.dbs[0]), ALL[..1]);
    assert_eq!(ledger(&dbs.dbs[1]), ALL[..1]);

    fleet(&project, &["up", "--targets", "tenants.txt"]).code(exit::SUCCESS);
    shorten();
    let json = down_two(&["--format", "json"]).code(exit::USAGE).json();
    let help = entries(&json)[1]["error"]["help"]
        .as_str()
        .unwrap_or_default();
    assert!(help.contains(&command), "{json}");
    assert!(entries(&json)[1].get("schema").is_none(), "{json}");

    // Pasted in a shell with the environment's URL: that database alone.
    project
        .paste(&command.replace("<URL>", &server_url()))
        .code(exit::SUCCESS);
    assert_eq!(ledger(&dbs.dbs[1]), Vec::<String>::new());
    assert_eq!(ledger(&dbs.dbs[0]), ALL[..1]);
}

/// A request every target would refuse (decided by the files and the flags alone) was refused
/// only once the targets query had run — after it had waited on a lock, say. It is refused
/// first: the query here would fail if it ran.
#[test]
fn what_every_target_would_refuse_is_refused_before_the_targets_query_runs() {
    let project = tenant_project();
    let failing = "SELECT (1 / 0)::text";
    for (args, code, said) in [
        (&["up", "--steps", "0"][..], exit::USAGE, "--steps 0"),
        (&["up", "--target", "99"], exit::USAGE, "99"),
        (&["down", "--steps", "0"], exit::USAGE, "--steps 0"),
        (&["down", "--target", "0"], exit::USAGE, "--yes"),
        (&["verify", "--from", "99"], exit::USAGE, "--from 99"),
    ] {
        for list in ["--targets-query", "--schemas-query"] {
            let mut all = args.to_vec();
            all.extend([list, failing]);
            fleet(&project, &all)
                .code(code)
                .stderr_has(said)
                .stderr_lacks("query failed");
        }
    }
    fleet(&project, &["drift", "--schemas-query", failing])
        .code(exit::USAGE)
        .stderr_has("drift of tenant schemas is not supported")
        .stderr_lacks("query failed");
    project.write(
        "db/migrations/004_broken.up.sql",
        "CREATE TABLE t4 (a int);\n",
    );
    for command in ["up", "verify"] {
        fleet(&project, &[command, "--targets-query", failing])
            .code(exit::INVALID)
            .stderr_has("004")
            .stderr_lacks("query failed");
    }
}

/// `--create-database` in a fleet created (or, in a dry run, would create) the missing
/// databases without a word, in the text or the JSON; it now names each, with its target.
#[test]
fn create_database_in_a_fleet_names_each_database_it_creates() {
    let existing = TestDb::new("fleetcrold");
    let missing = TestDb::unborn("fleetcrnew");
    let project = tenant_project();
    project.write(
        "tenants.txt",
        format!("{}\n{}\n", existing.name, missing.name),
    );
    let target = format!(
        "{}@{}:{}/{}",
        "postgres",
        pg_host(),
        pg_port(),
        missing.name
    );
    let dry = fleet(
        &project,
        &[
            "up",
            "--targets",
            "tenants.txt",
            "--create-database",
            "--dry-run",
        ],
    );
    dry.code(exit::SUCCESS)
        .stderr_has(&format!(
            "{target}: would create database \"{}\": it does not exist",
            missing.name
        ))
        .stderr_lacks(&format!("database \"{}\"", existing.name));
    assert!(!missing.exists());
    let json = fleet(
        &project,
        &[
            "up",
            "--targets",
            "tenants.txt",
            "--create-database",
            "--format",
            "json",
        ],
    )
    .code(exit::SUCCESS)
    .stderr_has(&format!("{target}: created database \"{}\"", missing.name))
    .json();
    assert!(missing.exists());
    assert_eq!(
        entries(&json)[1]["created_database"],
        missing.name.as_str(),
        "{json}"
    );
    assert!(
        entries(&json)[0].get("created_database").is_none(),
        "{json}"
    );
    assert_eq!(ledger(&missing), ALL);
}

/// `up --create-database` of a new tenant of a numbered series (`..._003` beside `..._000` to
/// `..._002`), on its own and in a `--targets` fleet (the documented onboarding), warned that it
/// was an empty near-duplicate of an existing tenant, probably a misspelling, and advised
/// dropping it. Numbers tell a series apart: no warning. A misspelt target of a fleet is still
/// warned of, but never with the advice to drop its database.
#[test]
fn create_database_takes_a_new_tenant_of_a_series_for_no_misspelling() {
    let series = TestDbs::new("series", 3);
    let base = series.dbs[0].name.strip_suffix("_000").unwrap().to_string();
    let new = |suffix: &str| confiture_test_support::TestDb::adopt(format!("{base}_{suffix}"));
    let (alone, listed, misspelt) = (new("003"), [new("004"), new("012")], new("00x"));
    let project = tenant_project();
    Run::of(project.cli().args([
        "migrate",
        "up",
        "--create-database",
        "--database-url",
        &alone.url(),
    ]))
    .code(exit::SUCCESS)
    .stderr_has(&format!("created database \"{}\"", alone.name))
    .stderr_lacks("warning:")
    .stderr_lacks("near-duplicate");
    project.write(
        "tenants.txt",
        format!(
            "{}\n{}\n{}\n",
            series.dbs[0].name, listed[0].name, listed[1].name
        ),
    );
    let up = ["up", "--targets", "tenants.txt", "--create-database"];
    fleet(&project, &up)
        .code(exit::SUCCESS)
        .stderr_has(&format!("created database \"{}\"", listed[1].name))
        .stderr_lacks("warning:")
        .stderr_lacks("near-duplicate");
    assert!(listed.iter().all(|db| db.exists()));
    project.write("tenants.txt", format!("{}\n", misspelt.name));
    fleet(&project, &up)
        .code(exit::SUCCESS)
        .stderr_has(&format!(
            "warning: {}: database \"{}\" does not exist and --create-database creates it, \
             but a database named \"{base}_00",
            misspelt.display(),
            misspelt.name
        ))
        .stderr_has("fix the target's entry in the fleet's list of targets")
        .stderr_lacks("drop");
}

/// A list with no target is refused (exit 5), whichever command and list: a deploy whose
/// tenant query has a typo in its `WHERE`, or whose list file a failed step left empty, does not
/// pass for one that migrated every tenant, nor `status` for one that is up to date. With
/// `--allow-empty` (no tenant yet) it is nothing to do.
#[test]
fn an_empty_list_is_refused_unless_allowed() {
    let project = tenant_project();
    project.write("tenants.txt", "# no tenants yet\n");
    let none = "SELECT datname FROM pg_database WHERE false";
    let lists: [(&[&str], &str); 3] = [
        (&["--targets", "tenants.txt"], "tenants.txt"),
        (&["--targets-query", none], "the targets query"),
        (
            &[
                "--schemas-query",
                "SELECT nspname FROM pg_namespace WHERE false",
            ],
            "the schemas query",
        ),
    ];
    for (list, from) in lists {
        for command in ["up", "down", "status"] {
            let args: Vec<&str> = [command].iter().chain(list).copied().collect();
            fleet(&project, &args)
                .code(exit::INVALID)
                .stderr_has(&format!("no targets in {from}: the list is empty"))
                .stderr_has("--allow-empty");
            let json: Vec<&str> = args.iter().copied().chain(["--format", "json"]).collect();
            let json = fleet(&project, &json).code(exit::INVALID).json();
            assert_eq!(json["error"]["kind"], "invalid", "{json}");
            let allowed: Vec<&str> = args.iter().copied().chain(["--allow-empty"]).collect();
            fleet(&project, &allowed)
                .code(exit::SUCCESS)
                .stderr_has(&format!("no targets in {from}: nothing to do"))
                .stdout_has("0 targets: 0 done, 0 failed");
        }
    }
    // Without a list, the flag is a usage error as --jobs and --keep-going are.
    fleet(&project, &["status", "--allow-empty"])
        .code(exit::USAGE)
        .stderr_has("need a target list");
}

#[test]
fn files_with_errors_refuse_the_whole_fleet_before_connecting() {
    let dbs = TestDbs::new("fleetfiles", 2);
    let project = tenant_project();
    project.write(
        "db/migrations/004_broken.up.sql",
        "CREATE TABLE t4 (a int);\n",
    );
    write_targets(&project, &dbs);
    fleet(
        &project,
        &["up", "--targets", "tenants.txt", "--format", "json"],
    )
    .code(exit::INVALID)
    .stdout_has("\"error\"");
    for db in &dbs.dbs {
        assert!(db.ledger().is_none(), "{} was migrated", db.name);
    }
}

#[test]
fn passwords_in_the_list_or_the_environment_are_never_shown() {
    let dbs = TestDbs::new("fleetpw", 2);
    let project = tenant_project();
    // The test server trusts local connections: the passwords are sent and ignored.
    project.write(
        "tenants.txt",
        format!(
            "{}\n{}\npostgresql://postgres:hunter3@127.0.0.1:1/gone?connect_timeout=2\n",
            server().url_as(&server().user, Some("hunter2"), &dbs.dbs[0].name),
            dbs.dbs[1].name
        ),
    );
    let base = format!(
        "postgresql://postgres:s3cret@{}:{}/postgres",
        pg_host(),
        pg_port()
    );
    for format in ["table", "json"] {
        let run = Run::of(project.cli().args([
            "migrate",
            "up",
            "--database-url",
            &base,
            "--targets",
            "tenants.txt",
            "--keep-going",
            "--format",
            format,
        ]));
        run.code(exit::CONNECTION);
        for secret in ["hunter2", "hunter3", "s3cret"] {
            run.stdout_lacks(secret).stderr_lacks(secret);
        }
    }
    for db in &dbs.dbs {
        assert_eq!(consistent(db), ALL, "{}", db.name);
    }
}

#[test]
fn the_live_line_is_drawn_on_a_terminal_only() {
    let dbs = TestDbs::new("fleettty", 3);
    let project = tenant_project();
    write_targets(&project, &dbs);
    let url = server_url();
    let args = [
        "migrate",
        "status",
        "--database-url",
        &url,
        "--targets",
        "tenants.txt",
    ];
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = quote(&confiture_tests::binary().display().to_string());
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    let output = std::process::Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .current_dir(&project.root)
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| {
            panic!("this test needs util-linux `script` to run the CLI on a terminal: {e}")
        });
    let terminal = String::from_utf8_lossy(&output.stdout);
    assert!(
        terminal.contains("targets finished: 0 done, 0 failed, 1 running"),
        "{terminal}"
    );
    assert!(
        terminal.contains("\r\x1b[K"),
        "the live line is redrawn: {terminal:?}"
    );
    assert!(
        terminal.contains("3 targets: 3 done, 0 failed"),
        "{terminal}"
    );

    // Through a pipe: the table and the summary, no line to redraw.
    fleet(&project, &["status", "--targets", "tenants.txt"])
        .code(exit::NOT_INITIALISED)
        .stdout_has("3 targets: 3 done, 0 failed")
        .stderr_lacks("targets finished")
        .stderr_lacks("\x1b[K");
}

/// A target with nothing to roll back read `✓ up to date` in a fleet's `down` (an `up` word,
/// as the single database's dry run said `would roll back nothing: already up to date`): each
/// direction says nothing to do in its own words, run or dry run, one target or many.
#[test]
fn down_with_nothing_to_roll_back_says_so_in_downs_words() {
    let dbs = TestDbs::new("fleetdown", 2);
    let project = tenant_project();
    write_targets(&project, &dbs);
    Run::of(project.cli().args([
        "migrate",
        "up",
        "--steps",
        "1",
        "--database-url",
        &dbs.dbs[0].url(),
    ]))
    .code(exit::SUCCESS);

    let run = fleet(&project, &["down", "--targets", "tenants.txt", "--dry-run"]);
    run.code(exit::SUCCESS)
        .stdout_has("would roll back 1")
        .stdout_has("would roll back nothing")
        .stdout_lacks("up to date")
        .stdout_lacks("would roll back 0");
    let run = fleet(&project, &["down", "--targets", "tenants.txt"]);
    run.code(exit::SUCCESS)
        .stdout_has("✓ rolled back 1")
        .stdout_has("✓ nothing to roll back")
        .stdout_lacks("up to date");
    assert_eq!(ledger(&dbs.dbs[0]), Vec::<String>::new());

    let one = Run::of(project.cli().args([
        "migrate",
        "down",
        "--dry-run",
        "--database-url",
        &dbs.dbs[0].url(),
    ]));
    one.code(exit::SUCCESS)
        .stdout_has("would roll back nothing")
        .stdout_lacks("up to date");

    // `up` keeps its own words.
    fleet(&project, &["up", "--targets", "tenants.txt"]).code(exit::SUCCESS);
    fleet(&project, &["up", "--targets", "tenants.txt"])
        .code(exit::SUCCESS)
        .stdout_has("✓ up to date");
    fleet(&project, &["up", "--targets", "tenants.txt", "--dry-run"])
        .code(exit::SUCCESS)
        .stdout_has("would apply nothing");
}

/// A new login role (named after `prefix`) that may hold `limit` connections, dropped after
/// the test.
fn login_role_limited_to(
    prefix: &str,
    limit: u32,
) -> confiture_test_support::reaper::DropRoleLater {
    let guard = confiture_test_support::reaper::DropRoleLater(confiture_tests::unique(prefix));
    confiture_tests::admin()
        .batch_execute(&format!(
            "CREATE ROLE \"{}\" LOGIN CONNECTION LIMIT {limit}",
            guard.0
        ))
        .unwrap();
    guard
}

/// A target refused with `53300` (too many connections) while the fleet runs several at once
/// gets a help that says to lower `--jobs`: the fleet's own connections are the likely cause.
/// With `--jobs 1` the fleet is not the cause, and the help does not say so.
#[test]
fn a_target_refused_for_too_many_connections_is_told_to_lower_jobs() {
    let guard = login_role_limited_to("cft_fleet_connlimit", 1);
    let role = guard.0.clone();
    let dbs = TestDbs::new("fleet_connlimit", 2);
    let project = tenant_project();
    write_targets(&project, &dbs);
    // The role's one connection is taken: every target is refused.
    let mut held =
        postgres::Client::connect(&server().url_as(&role, None, "postgres"), postgres::NoTls)
            .unwrap();
    let base = server().url_as(&role, None, "postgres");
    let run_with = |jobs: &str| {
        tenants_status(
            &project,
            &base,
            &["--keep-going", "--jobs", jobs, "--format", "json"],
        )
    };
    let run = run_with("2");
    let doc = run.json();
    for entry in entries(&doc) {
        let error = &entry["error"];
        assert_eq!(error["sqlstate"], "53300", "{}", run.dump());
        let help = error["help"].as_str().unwrap();
        assert!(
            help.starts_with(
                "this run holds up to 2 connections at once, one per running target: lower --jobs"
            ),
            "{help}"
        );
        assert!(help.contains("e.g. --jobs 1"), "{help}");
        assert!(help.contains("CONNECTION LIMIT"), "{help}");
        // The run has no environment file's `fleet:` block to set `jobs` in.
        assert!(!help.contains("fleet:"), "{help}");
    }
    // An environment whose file has a `fleet:` block: its `jobs` is named beside --jobs.
    project.write(
        "db/environments/tenants.yaml",
        format!("database_url: {base}\nfleet:\n  targets: ../../tenants.txt\n  jobs: 2\n"),
    );
    let run = env_status(&project, "tenants", &["--keep-going", "--format", "json"]);
    let doc = run.json();
    assert!(doc["targets"].is_array(), "{}", run.dump());
    assert_eq!(entries(&doc).len(), 2, "{}", run.dump());
    for entry in entries(&doc) {
        let help = entry["error"]["help"].as_str().unwrap();
        assert!(
            help.contains("lower --jobs (`jobs` of the environment's `fleet:` block)"),
            "{help}"
        );
    }
    // No more than the targets run at once, whatever --jobs says.
    let run = run_with("8");
    for entry in entries(&run.json()) {
        let help = entry["error"]["help"].as_str().unwrap();
        assert!(
            help.starts_with("this run holds up to 2 connections"),
            "{help}"
        );
    }
    // The text says it too, under each target's error.
    let text = tenants_status(&project, &base, &["--keep-going", "--jobs", "2"]);
    text.stderr_has(
        "help: this run holds up to 2 connections at once, one per running target: lower --jobs",
    );
    let run = run_with("1");
    for entry in entries(&run.json()) {
        assert_eq!(entry["error"]["sqlstate"], "53300", "{}", run.dump());
        assert!(!entry["error"]["help"].as_str().unwrap().contains("--jobs"));
    }
    // The count is the command's: a drift target holds two connections at once (its scratch
    // database's snapshot session and the replay's); verify runs once per server, so two
    // targets on one server are one run, which lowering --jobs does not help.
    let other = |command: &str| {
        Run::of(project.cli().args([
            "migrate",
            command,
            "--database-url",
            &base,
            "--targets",
            "tenants.txt",
            "--keep-going",
            "--jobs",
            "2",
            "--format",
            "json",
        ]))
    };
    let run = other("drift");
    let doc = run.json();
    assert_eq!(entries(&doc).len(), 2, "{}", run.dump());
    for entry in entries(&doc) {
        assert_eq!(entry["error"]["sqlstate"], "53300", "{}", run.dump());
        let help = entry["error"]["help"].as_str().unwrap();
        assert!(
            help.starts_with(
                "this run holds up to 4 connections at once, 2 per running target: lower --jobs"
            ),
            "{help}"
        );
        assert!(help.contains("e.g. --jobs 1"), "{help}");
    }
    let run = other("verify");
    let doc = run.json();
    for entry in entries(&doc) {
        assert_eq!(entry["error"]["sqlstate"], "53300", "{}", run.dump());
        let help = entry["error"]["help"].as_str().unwrap();
        assert!(!help.contains("--jobs"), "{help}");
    }
    held.batch_execute("SELECT 1").unwrap();
    drop(held);
    drop(guard);
}

/// A fleet's `up` and `down` in text output say each target's warnings on stderr, named by
/// the target, as the single-database commands do: they were only in `--format json`.
#[test]
fn each_targets_warnings_are_said_on_stderr_named_by_the_target() {
    let dbs = TestDbs::new("fleetwarn", 2);
    let project = Project::new();
    project.migration(
        "001_warns",
        "DO $$ BEGIN RAISE WARNING 'careful up'; END $$;\nCREATE TABLE tb_w (pk int);\n",
        "DO $$ BEGIN RAISE WARNING 'careful down'; END $$;\nDROP TABLE tb_w;\n",
    );
    write_targets(&project, &dbs);
    let said = |run: &Run, text: &str| {
        for db in &dbs.dbs {
            let line = run
                .stderr
                .lines()
                .find(|l| l.contains(text) && l.contains(&format!("/{}:", db.name)))
                .unwrap_or_else(|| panic!("no warning {text:?} for {}\n{}", db.name, run.stderr));
            assert!(line.starts_with("warning: "), "{line}");
        }
    };
    let up = fleet(&project, &["up", "--targets", "tenants.txt"]);
    up.code(exit::SUCCESS);
    said(&up, "WARNING from migration 001_warns: careful up");
    let down = fleet(&project, &["down", "--targets", "tenants.txt"]);
    down.code(exit::SUCCESS);
    said(
        &down,
        "WARNING from the rollback of migration 001_warns: careful down",
    );
    // JSON carries them in each target's report, and stderr does not repeat them.
    let up = fleet(
        &project,
        &["up", "--targets", "tenants.txt", "--format", "json"],
    );
    up.code(exit::SUCCESS).stderr_lacks("careful up");
    let doc = up.json();
    for entry in entries(&doc) {
        assert_eq!(
            entry["report"]["warnings"][0], "WARNING from migration 001_warns: careful up",
            "{entry}"
        );
    }
}

/// A target's server `WARNING` cannot forge a line nor reach the terminal: its newlines made a
/// fleet's `up` print a fake `error:` line after the target's `warning:` one. The line is the
/// single-database one (`Output::warning`): one line, its control characters escaped.
#[test]
fn a_targets_server_warning_cannot_forge_a_line() {
    let dbs = TestDbs::new("fleetforge", 2);
    let project = Project::new();
    project.migration(
        "001_warns",
        "DO $$ BEGIN RAISE WARNING E'careful\\nerror: forged\\n\\x1b[2Jcleared'; END $$;\n\
         CREATE TABLE tb_w (pk int);\n",
        "DROP TABLE tb_w;\n",
    );
    write_targets(&project, &dbs);
    let up = fleet(&project, &["up", "--targets", "tenants.txt"]);
    up.code(exit::SUCCESS);
    for db in &dbs.dbs {
        up.stderr_has(&format!(
            "/{}: WARNING from migration 001_warns: careful\\nerror: forged\\n\\x1b[2Jcleared\n",
            db.name
        ));
    }
    for line in up.stderr.lines() {
        assert!(!line.starts_with("error:"), "a forged line\n{}", up.dump());
    }
    assert!(!up.stderr.contains('\x1b'), "{}", up.dump());
}

/// The `--jobs` a target refused with `53300` is told to use is what fit in the connections
/// the run held when refused. It was computed from what the run could hold (`--jobs` times the
/// connections of a target, minus the refused one): under a role's `CONNECTION LIMIT 2` with
/// `--jobs 5` it said `--jobs 4` (what fits in the 4 connections it held), which the limit
/// refuses again. Two targets hold their session (waiting on their ledger, locked) while the
/// others are refused: the help says `--jobs 2`, the connections they held.
#[test]
fn a_connection_limit_help_suggests_what_the_run_held_when_refused() {
    let guard = login_role_limited_to("cft_fleet_connheld", 2);
    let role = guard.0.clone();
    let dbs = TestDbs::new("fleet_connheld", 5);
    let project = tenant_project();
    write_targets(&project, &dbs);
    // Each ledger made (as the server's user), readable by the role, then locked: a target's
    // `status` waits for it holding its session.
    fleet(&project, &["up", "-q", "--targets", "tenants.txt"]).code(exit::SUCCESS);
    let mut locks: Vec<postgres::Client> = dbs
        .dbs
        .iter()
        .map(|db| {
            let mut client = db.connect();
            client
                .batch_execute(&format!(
                    "GRANT SELECT ON tb_confiture TO \"{role}\"; BEGIN; \
                     LOCK TABLE tb_confiture IN ACCESS EXCLUSIVE MODE"
                ))
                .unwrap();
            client
        })
        .collect();
    let base = server().url_as(&role, None, "postgres");
    let run = tenants_status(
        &project,
        &base,
        &[
            "--keep-going",
            "--jobs",
            "5",
            "--lock-wait",
            "8s",
            "--format",
            "json",
        ],
    );
    for client in &mut locks {
        client.batch_execute("ROLLBACK").unwrap();
    }
    let doc = run.json();
    let refused: Vec<&serde_json::Value> = entries(&doc)
        .iter()
        .filter(|e| e["error"]["sqlstate"] == "53300")
        .collect();
    assert_eq!(refused.len(), 3, "{}", run.dump());
    for entry in refused {
        let help = entry["error"]["help"].as_str().unwrap();
        assert!(
            help.starts_with("this run holds up to 5 connections at once, one per running target"),
            "{help}"
        );
        assert!(
            help.contains("e.g. --jobs 2 (what fits in the 2 connections it held when refused)"),
            "{help}"
        );
    }
}

/// A writing target whose session is not direct (a Unix socket, a pooler, NAT) holds two
/// connections while the transaction-pooling check runs: its help for a target refused with
/// `53300` said "one per running target" and halved `--jobs` by chance (h16 F13). Now it counts
/// the check's connection, and its `--jobs` is what fits in the connections the run held when
/// refused (limit / per target, at least 1) — which then runs every target.
#[test]
fn a_connection_limit_help_counts_the_pooler_checks_second_connection() {
    let cluster = confiture_tests::cluster::Cluster::init();
    cluster.start();
    let db = cluster.create_database("connlimit_socket");
    cluster
        .connect("postgres")
        .batch_execute(&format!(
            "CREATE ROLE app LOGIN; ALTER DATABASE \"{db}\" OWNER TO app; \
             ALTER DATABASE \"{db}\" CONNECTION LIMIT 2"
        ))
        .unwrap();
    let project = tenant_project();
    let conninfo = format!(
        "host={} port={} user=app dbname={db}",
        cluster.dir().display(),
        cluster.port()
    );
    let run_with = |jobs: &str| {
        Run::of(project.cli().args([
            "migrate",
            "up",
            "--database-url",
            &conninfo,
            "--schemas-query",
            "SELECT 'cl_' || i FROM generate_series(1, 6) i",
            "--keep-going",
            "--jobs",
            jobs,
            "--format",
            "json",
        ]))
    };
    let run = run_with("2");
    let doc = run.json();
    let refused: Vec<&serde_json::Value> = entries(&doc)
        .iter()
        .filter(|e| e["error"]["sqlstate"] == "53300")
        .collect();
    assert!(!refused.is_empty(), "no target was refused\n{}", run.dump());
    for entry in refused {
        let help = entry["error"]["help"].as_str().unwrap();
        assert!(
            help.starts_with("this run holds up to 4 connections at once, 2 per running target"),
            "{help}"
        );
        assert!(help.contains("e.g. --jobs 1 "), "{help}");
        assert!(help.contains("just finished"), "{help}");
    }
    // What it suggests runs every target.
    let run = run_with("1");
    run.code(exit::SUCCESS);
    assert!(
        entries(&run.json()).iter().all(|e| e["state"] == "done"),
        "{}",
        run.dump()
    );
}

/// A throwaway cluster logging its connections, [`tenant_project`], and a database of the
/// cluster.
fn logging_cluster() -> (confiture_tests::cluster::Cluster, Project, String) {
    let cluster = confiture_tests::cluster::Cluster::init();
    cluster.configure(
        "log_connections = on\n",
        confiture_tests::cluster::TRUST_ALL,
    );
    cluster.start();
    let existing = cluster.create_database("hflt_here");
    (cluster, tenant_project(), existing)
}

/// `migrate up --keep-going --format json` of `tenants.txt`'s targets, from `url`.
fn up_tenants_json(project: &Project, url: &str) -> Run {
    Run::of(project.cli().args([
        "migrate",
        "up",
        "--database-url",
        url,
        "--targets",
        "tenants.txt",
        "--keep-going",
        "--format",
        "json",
    ]))
}

/// How many connections a server logging them (`log_connections = on`) has been asked for:
/// refused ones too.
fn connections_received(cluster: &confiture_tests::cluster::Cluster) -> usize {
    cluster.log().matches("connection received:").count()
}

/// A stale target list — database names its server does not have — is answered without a
/// connection attempt per name (it used to be two: the refused one, then one asking for a
/// close name; 100,000 names took 7.5 minutes): each such target is still reported on its
/// own, with the error, SQLSTATE, help and exit code its connection gave, among targets that
/// exist and run; a name close to an existing database still gets its did-you-mean. A
/// database created afterwards is reached by the next run.
#[test]
fn targets_the_server_does_not_have_are_refused_per_target_without_connecting_to_each() {
    let (cluster, project, existing) = logging_cluster();
    // The existing name with its last character changed: a misspelling of it.
    let mut misspelt = existing.clone();
    misspelt.pop();
    misspelt.push(if existing.ends_with('x') { 'y' } else { 'x' });
    let gone: Vec<String> = (0..40).map(|i| format!("hflt_gone_{i}")).collect();
    let mut list = vec![gone[0].clone(), existing.clone(), misspelt.clone()];
    list.extend(gone[1..].iter().cloned());
    project.write("tenants.txt", list.join("\n") + "\n");
    let url = cluster.url("postgres", "sslmode=disable");
    let up = || up_tenants_json(&project, &url);

    let before = connections_received(&cluster);
    let run = up();
    let connections = connections_received(&cluster) - before;
    let doc = run.json();
    run.code(u8::try_from(doc["summary"]["exit_code"].as_u64().unwrap()).unwrap());
    let targets = entries(&doc);
    assert_eq!(targets.len(), list.len(), "{}", run.dump());
    let port = cluster.port();
    for (i, (entry, name)) in targets.iter().zip(&list).enumerate() {
        assert_eq!(entry["source"], format!("tenants.txt:{}", i + 1), "{entry}");
        if *name == existing {
            assert_eq!(entry["state"], "done", "{}", run.dump());
            continue;
        }
        let shown = format!("postgres@localhost:{port}/{name}");
        assert_eq!(entry["state"], "failed", "{entry}");
        assert_eq!(entry["exit_code"], 3, "{entry}");
        let error = &entry["error"];
        assert_eq!(error["kind"], "connection", "{entry}");
        assert_eq!(error["sqlstate"], "3D000", "{entry}");
        assert_eq!(error["database"], shown.as_str(), "{entry}");
        assert_eq!(
            error["message"],
            format!(
                "cannot connect to {shown}: database \"{name}\" does not exist (SQLSTATE 3D000)"
            ),
            "{entry}"
        );
        let help = error["help"].as_str().unwrap();
        let source = format!("tenants.txt:{}", i + 1);
        if *name == misspelt {
            assert!(
                help.starts_with(&format!(
                    "a database named \"{existing}\" exists on this server: did you mean it? \
                     fix the database name in {source}"
                )),
                "{help}"
            );
        } else {
            assert!(
                help.starts_with("create it (`cargo confiture migrate up --create-database"),
                "{help}"
            );
            assert!(
                help.ends_with(&format!("or fix the database name in {source}")),
                "{help}"
            );
        }
    }
    // The existing target's session, and a read of the server's databases (once a second
    // at most): not one connection per name it does not have (there are 41).
    assert!(
        connections < 10,
        "{connections} connections for {} targets, {} of them absent\n{}",
        list.len(),
        list.len() - 1,
        cluster.log()
    );
    // The text output says the same per target.
    let text = tenants_status(&project, &url, &["--keep-going"]);
    for name in &gone {
        text.stderr_has(&format!(
            "cannot connect to postgres@localhost:{port}/{name}: database \"{name}\" does not \
             exist (SQLSTATE 3D000)"
        ));
    }

    // Created since, it is reached: the next run migrates it, and only it.
    cluster
        .connect("postgres")
        .batch_execute(&format!("CREATE DATABASE {}", gone[0]))
        .unwrap();
    let run = up();
    let doc = run.json();
    let first = &entries(&doc)[0];
    assert_eq!(first["state"], "done", "{}", run.dump());
    assert_eq!(first["applied"].as_array().unwrap().len(), 3, "{first}");
    assert_eq!(
        entries(&doc)[1]["applied"].as_array().unwrap().len(),
        0,
        "{}",
        run.dump()
    );
}

/// A role that may not read its server's databases from a maintenance database (no `CONNECT`
/// on `postgres` nor `template1`) decides nothing from them: each target connects, as before,
/// and a name the server does not have is refused by its connection, with the same error.
#[test]
fn absent_names_are_refused_by_their_connections_when_the_server_cannot_be_read() {
    let (cluster, project, existing) = logging_cluster();
    cluster
        .connect("postgres")
        .batch_execute(&format!(
            "CREATE ROLE hflt_tenant LOGIN; \
             ALTER DATABASE {existing} OWNER TO hflt_tenant; \
             REVOKE CONNECT ON DATABASE postgres, template1 FROM PUBLIC"
        ))
        .unwrap();
    project.write(
        "tenants.txt",
        format!("hflt_gone_1\n{existing}\nhflt_gone_2\n"),
    );
    let url = format!(
        "postgresql://hflt_tenant@localhost:{}/{existing}?sslmode=disable",
        cluster.port()
    );
    let before = connections_received(&cluster);
    let run = up_tenants_json(&project, &url);
    let connections = connections_received(&cluster) - before;
    let doc = run.json();
    let targets = entries(&doc);
    assert_eq!(targets[1]["state"], "done", "{}", run.dump());
    for i in [0, 2] {
        let name = format!("hflt_gone_{}", i / 2 + 1);
        let error = &targets[i]["error"];
        assert_eq!(error["sqlstate"], "3D000", "{}", run.dump());
        assert_eq!(
            error["message"],
            format!(
                "cannot connect to hflt_tenant@localhost:{}/{name}: database \"{name}\" does \
                 not exist (SQLSTATE 3D000)",
                cluster.port()
            ),
            "{}",
            run.dump()
        );
    }
    // Each absent name was asked of the server by its own connection.
    assert!(connections >= 3, "{connections}\n{}", cluster.log());
}

/// Ctrl-C while a fleet reads its server's databases (the check of names it may not have) on
/// a server that accepts and never answers: the running target is interrupted at once, as
/// one stopped while connecting is, not held for the read's `connect_timeout`.
#[test]
fn ctrl_c_while_the_fleet_reads_its_servers_databases_interrupts_at_once() {
    let proxy = confiture_tests::proxy::ClientCutProxy::start();
    proxy.freeze_new();
    let project = tenant_project();
    project.write("tenants.txt", "hflt_frozen_1\nhflt_frozen_2\n");
    let url = format!("{}&connect_timeout=60", proxy.url("postgres"));
    let mut child = project.spawn(&[
        "migrate",
        "up",
        "--database-url",
        &url,
        "--targets",
        "tenants.txt",
        "--jobs",
        "1",
        "--format",
        "json",
    ]);
    // Reading the list is quick; the check's session then waits on the frozen proxy.
    std::thread::sleep(Duration::from_secs(2));
    let signalled = std::time::Instant::now();
    confiture_tests::send_signal(child.id(), "-INT");
    let ended = wait_until(Duration::from_secs(20), || {
        child.try_wait().expect("wait for the CLI").is_some()
    });
    let waited = signalled.elapsed();
    if !ended {
        let _ = child.kill();
    }
    let run = Run::from_output(child.wait_with_output().expect("its output"), waited);
    assert!(
        ended,
        "still running {waited:?} after the signal\n{}",
        run.dump()
    );
    run.code(exit::INTERRUPTED);
    // Not the read's 60 s of `connect_timeout`, nor the 5 s after which a stop gives up on
    // what it waits for (`STOP_WAIT`): at once.
    assert!(
        waited < confiture::migrate::STOP_WAIT - Duration::from_secs(1),
        "{waited:?}\n{}",
        run.dump()
    );
    let doc = run.json();
    assert_eq!(entries(&doc)[0]["state"], "interrupted", "{}", run.dump());
    assert_eq!(entries(&doc)[1]["state"], "not_started", "{}", run.dump());
}

/// A confiture (Python) migration in a fleet's way: each target's help gave confiture
/// (Python)'s `migrate up` bare, which pasted acts on `db/environments/local.yaml`'s database,
/// not that target. confiture (Python) takes no list of targets and this target has no
/// environment file of its own: the command names `-c <FILE>`, and the help says what to write
/// in it — in the text and in the JSON entry alike.
#[test]
fn a_python_migration_in_a_fleets_way_is_never_suggested_bare() {
    let dbs = TestDbs::new("fleetpython", 2);
    let project = tenant_project();
    project.write(
        "db/migrations/004_data.py",
        "def up(connection):\n    pass\n",
    );
    write_targets(&project, &dbs);
    let run = fleet(
        &project,
        &["up", "--targets", "tenants.txt", "--keep-going"],
    );
    run.code(exit::INVALID)
        .stderr_has(
            "`confiture migrate up --target 004 -c <FILE>` (confiture (Python) takes no list \
             of targets: write an environment file naming this database, `database_url: <its \
             URL>` with the fleet environment's `migration:` settings, and give it as <FILE>)",
        )
        .stderr_lacks("`confiture migrate up --target 004`");
    let json = fleet(
        &project,
        &[
            "up",
            "--targets",
            "tenants.txt",
            "--keep-going",
            "--format",
            "json",
        ],
    )
    .code(exit::INVALID)
    .json();
    for entry in entries(&json) {
        let help = entry["error"]["help"].as_str().unwrap_or_default();
        assert!(
            help.contains("`confiture migrate up --target 004 -c <FILE>` (confiture (Python)"),
            "{json}"
        );
    }
}

/// The migrations of a fleet in a directory that is not confiture (Python)'s default
/// (`db/migrations`): each target's confiture (Python) command named `-c <FILE>` but no
/// `--migrations-dir`, so that pasted it read `db/migrations` (none there), while a run on one
/// database names it. Every database target's command names the directory too.
#[test]
fn a_fleets_python_command_names_its_migrations_directory() {
    let dbs = TestDbs::new("fleetpydir", 2);
    let project = Project::new();
    project
        .write(
            "sql/001_create_tb_account.up.sql",
            "CREATE TABLE tb_account (pk int PRIMARY KEY);\n",
        )
        .write(
            "sql/001_create_tb_account.down.sql",
            "DROP TABLE tb_account;\n",
        )
        .write("sql/002_data.py", "def up(connection):\n    pass\n");
    write_targets(&project, &dbs);
    let args = [
        "up",
        "--migrations-dir",
        "sql",
        "--targets",
        "tenants.txt",
        "--keep-going",
    ];
    fleet(&project, &args).code(exit::INVALID).stderr_has(
        "`confiture migrate up --target 002 -c <FILE> --migrations-dir sql` (confiture \
             (Python) takes no list of targets",
    );
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let json = fleet(&project, &json_args).code(exit::INVALID).json();
    for entry in entries(&json) {
        let help = entry["error"]["help"].as_str().unwrap_or_default();
        assert!(
            help.contains("`confiture migrate up --target 002 -c <FILE> --migrations-dir sql`"),
            "{json}"
        );
    }
}

/// A target listed by name that is the environment file's own database (same server, same
/// name) was told to write an environment file naming it, while the environment's file names
/// it already: its confiture (Python) command is `-c FILE` with that file, and says nothing
/// more. The other targets still get `-c <FILE>` and what to write in it.
#[test]
fn a_fleet_target_that_is_the_environments_database_gets_its_file() {
    let dbs = TestDbs::new("fleetpyown", 2);
    let project = tenant_project();
    project.write(
        "db/migrations/004_data.py",
        "def up(connection):\n    pass\n",
    );
    write_targets(&project, &dbs);
    project.write(
        "db/environments/own.yaml",
        format!("database_url: {}\n", dbs.dbs[0].url()),
    );
    let run = Run::of(project.cli().args([
        "migrate",
        "--env",
        "own",
        "up",
        "--targets",
        "tenants.txt",
        "--keep-going",
        "--format",
        "json",
    ]));
    run.code(exit::INVALID);
    let json = run.json();
    let helps: Vec<&str> = entries(&json)
        .iter()
        .map(|e| e["error"]["help"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(helps.len(), 2, "{}", run.dump());
    assert!(
        helps[0].contains("`confiture migrate up --target 004 -c db/environments/own.yaml`"),
        "{}",
        helps[0]
    );
    assert!(
        !helps[0].contains("takes no list of targets"),
        "{}",
        helps[0]
    );
    assert!(
        helps[1].contains(
            "`confiture migrate up --target 004 -c <FILE>` (confiture (Python) takes no list"
        ),
        "{}",
        helps[1]
    );
}

/// A fleet's status names, per target, a session holding that target's migration lock (a
/// run going on there, which may be applying its pending migrations), in its text and its
/// JSON entry (`report.lock_held_by`), and nothing for the targets whose lock is free.
#[test]
fn status_names_the_holder_of_each_targets_migration_lock() {
    let dbs = TestDbs::new("fleetlockheld", 2);
    let project = tenant_project();
    write_targets(&project, &dbs);
    fleet(&project, &["up", "--targets", "tenants.txt"]).code(exit::SUCCESS);
    project.migration(
        "004_more",
        "CREATE TABLE tb_more (pk int);\n",
        "DROP TABLE tb_more;\n",
    );
    let (holder, pid) = dbs.dbs[1].hold_migration_lock("fleet-lock-holder");
    let run = fleet(&project, &["status", "--targets", "tenants.txt"]);
    run.code(exit::PENDING);
    let named = format!(
        "a run holds the migration lock (pid {pid}, application_name \"fleet-lock-holder\""
    );
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("note: ") && l.contains(&dbs.dbs[1].name) && l.contains(&named)),
        "{}",
        run.dump()
    );
    assert_eq!(
        run.stderr.matches("holds the migration lock").count(),
        1,
        "{}",
        run.dump()
    );
    let run = fleet(
        &project,
        &["status", "--targets", "tenants.txt", "--format", "json"],
    );
    run.code(exit::PENDING);
    let doc = run.json();
    assert!(
        entries(&doc)[0]["report"].get("lock_held_by").is_none(),
        "{}",
        run.dump()
    );
    assert_eq!(entries(&doc)[1]["report"]["lock_held_by"]["pid"], pid);
    drop(holder);
}

/// The JSON `errors` of one database's status of `project`'s files with errors, on `db`:
/// the one `invalid` error of the directory.
fn files_errors_of(project: &Project, db: &TestDb) -> serde_json::Value {
    let single = project.status_json_on(db);
    single.code(exit::INVALID);
    let errors = single.json()["errors"].clone();
    assert_eq!(
        errors.as_array().map(Vec::len),
        Some(1),
        "{}",
        single.dump()
    );
    errors
}

/// The error lines (`error[C001]: ...`) one database's status `run` said of its files.
fn error_lines(run: &Run) -> Vec<String> {
    (run.stderr.lines())
        .filter(|l| l.starts_with("error"))
        .map(str::to_string)
        .collect()
}

/// A fleet's status `run` said each of `lines` once, and the help under them once.
fn says_the_files_errors_once(run: &Run, lines: &[String]) {
    for line in lines {
        assert_eq!(
            run.stderr.matches(line.as_str()).count(),
            1,
            "{line}\n{}",
            run.dump()
        );
    }
    assert_eq!(
        run.stderr
            .matches("`migrate up` does not run a migration whose files have errors")
            .count(),
        1,
        "{}",
        run.dump()
    );
}

/// A fleet's `status` of a directory with files in error (an up file without its down, a
/// misnamed file, a version twice) says so as one database's does, once for the whole fleet
/// (every target reads the same files): the errors on stderr with the help that fixes them,
/// and in JSON a top-level `errors`, the `invalid` error of the directory `up` refuses with,
/// its `diagnostics` the errors — never one per target.
#[test]
fn a_fleet_status_of_files_with_errors_says_so_once() {
    let dbs = TestDbs::new("fleetfe", 2);
    let project = tenant_project();
    project
        .write(
            "db/migrations/004_half.up.sql",
            "CREATE TABLE half (id int);\n",
        )
        .write("db/migrations/5_bad.up.sql", "SELECT 1;\n")
        .write("db/migrations/003_again.up.sql", "SELECT 1;\n")
        .write("db/migrations/003_again.down.sql", "SELECT 1;\n");
    write_targets(&project, &dbs);
    let url = server_url();
    let single_errors = files_errors_of(&project, &dbs.dbs[0]);

    let run = tenants_status(&project, &url, &[]);
    run.code(exit::INVALID).stdout_has("! files with errors");
    says_the_files_errors_once(&run, &error_lines(&project.status_on(&dbs.dbs[0])));

    let run = tenants_status(&project, &url, &["--format", "json"]);
    run.code(exit::INVALID);
    let doc = run.json();
    // The same errors as one database's, each with the files' own help: the fleet's one
    // check of its files, never one target's reading of them ("applied here").
    let without_help = |errors: &serde_json::Value| {
        let mut errors = errors.clone();
        for d in errors[0]["diagnostics"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            d["help"] = serde_json::Value::Null;
        }
        errors
    };
    assert_eq!(
        without_help(&doc["errors"]),
        without_help(&single_errors),
        "{}",
        run.dump()
    );
    let helps = doc["errors"][0]["diagnostics"].to_string();
    assert!(!helps.contains("applied here"), "{}", run.dump());
    for entry in entries(&doc) {
        assert!(entry.get("errors").is_none(), "{}", run.dump());
    }
    // Files without errors: an empty `errors`.
    project
        .remove("db/migrations/004_half.up.sql")
        .remove("db/migrations/5_bad.up.sql")
        .remove("db/migrations/003_again.up.sql")
        .remove("db/migrations/003_again.down.sql");
    let run = tenants_status(&project, &url, &["--format", "json"]);
    assert_eq!(
        run.json()["errors"],
        serde_json::json!([]),
        "{}",
        run.dump()
    );
}

/// The files' errors come from the fleet's one check of its files, not from a target's
/// report: a fleet none of whose targets connects (or whose first does not) still says them
/// once, on stderr with their help and in JSON's top-level `errors`, as one database's
/// status says them.
#[test]
fn a_fleet_status_says_the_files_errors_when_no_target_connects() {
    let dbs = TestDbs::new("fleetfx", 1);
    let project = tenant_project();
    project
        .write("db/migrations/5_bad.up.sql", "SELECT 1;\n")
        .write("db/migrations/004_half.up.sql", "SELECT 1;\n");
    let single_errors = files_errors_of(&project, &dbs.dbs[0]);
    let error_lines = error_lines(&project.status_on(&dbs.dbs[0]));
    assert!(!error_lines.is_empty(), "{single_errors}");
    let unreachable =
        |db: &str| format!("postgresql://postgres@127.0.0.1:1/{db}?connect_timeout=2");
    // None connects; then the first does not and the second does.
    for list in [
        format!("{}\n{}\n", unreachable("gone"), unreachable("lost")),
        format!("{}\n{}\n", unreachable("gone"), dbs.dbs[0].url()),
    ] {
        project.write("tenants.txt", &list);
        let run = tenants_status(&project, &server_url(), &["--keep-going"]);
        says_the_files_errors_once(&run, &error_lines);
        let run = tenants_status(
            &project,
            &server_url(),
            &["--keep-going", "--format", "json"],
        );
        assert_eq!(run.json()["errors"], single_errors, "{}", run.dump());
    }
}
