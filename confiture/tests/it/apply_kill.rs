//! An operator who kills a deploy expects its migration to stop on the server too. The runner
//! is this test binary started again as a child process (running the ignored test below), so
//! SIGKILL closes a real socket mid-migration; `client_connection_check_interval`, set at
//! connect, lets the server notice and roll the migration back.

use crate::apply_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use apply_support::{Dir, TestDb};
use confiture::migrate::{no_progress, UpOptions};
use confiture::Reason;

const CHILD_DB: &str = "CONFITURE_KILL_TEST_DB";
const CHILD_DIR: &str = "CONFITURE_KILL_TEST_DIR";
const CHILD_APP: &str = "confiture-kill-child";

/// The child's side: runs a migration that sleeps; the parent test kills this process.
#[test]
#[ignore = "started as a child process by a_killed_client_stops_its_migration_on_the_server"]
fn child_runs_a_slow_migration() {
    let db = std::env::var(CHILD_DB).expect("only the kill test runs this, as a child process");
    let dir = std::env::var(CHILD_DIR).expect("only the kill test runs this, as a child process");
    let mut env = apply_support::environment(&db);
    env.application_name = CHILD_APP.to_string();
    let result =
        apply_support::migrator_for(env, dir.as_ref()).up(&UpOptions::default(), &mut no_progress);
    panic!("the parent should have killed this process before the migration ended: {result:?}");
}

#[test]
fn a_killed_client_stops_its_migration_on_the_server() {
    let db = TestDb::new("killed");
    let dir = Dir::new();
    dir.migration(
        "001",
        "slow",
        "CREATE TABLE half (id int);\nSELECT pg_sleep(60);\n",
        "DROP TABLE half;\n",
    );
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            // The test's name in the `it` binary: module path without the crate.
            "apply_kill::child_runs_a_slow_migration",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DB, &db.name)
        .env(CHILD_DIR, &dir.path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let mut watcher = db.client();
    let running = format!(
        "SELECT pid::text FROM pg_stat_activity WHERE application_name = '{CHILD_APP}' \
         AND datname = current_database() AND wait_event = 'PgSleep'"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let pid = loop {
        if let Some(pid) = apply_support::value(&mut watcher, &running) {
            break pid;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child exited before its migration started: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the child's migration never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };

    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    let alive = format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}");
    while apply_support::value(&mut watcher, &alive).as_deref() != Some("0") {
        // Without the check interval the backend would sleep out its 60 s.
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "backend {pid} still running after its client died"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    assert!(db.ledger().is_empty(), "not recorded");
    assert!(!db.table_exists("half"), "rolled back");
    assert!(apply_support::lock_is_free(&db));
    dir.write("001_slow.up.sql", "CREATE TABLE half (id int);\n");
    let report = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(report.applied, ["001"]);
}

/// `Migrator::stop_when`: the flag set mid-migration cancels the statement on the server over
/// the session's own TLS (`sslmode=require`: a cancel request sent without TLS would be
/// refused), rolls the migration back, starts no other, and the run fails as `interrupted`
/// with what committed before. Both ways the stop cancels: `pg_cancel_backend` from a TLS
/// session of its own, and (a role whose `CONNECTION LIMIT 1` refuses that session) the cancel
/// request over TLS.
#[test]
fn stop_when_cancels_the_running_migration_over_tls_and_reports_what_committed() {
    stop_when_cancels_over_tls(None);
    let role = confiture_test_support::reaper::DropRoleLater(confiture_test_support::unique(
        "cft_stop_tls",
    ));
    confiture_test_support::admin()
        .batch_execute(&format!(
            "CREATE ROLE \"{}\" LOGIN CONNECTION LIMIT 1",
            role.0
        ))
        .unwrap();
    stop_when_cancels_over_tls(Some(&role.0));
}

/// [`stop_when_cancels_the_running_migration_over_tls_and_reports_what_committed`], the run
/// connecting as `role` (owner of its database) when given, else as the server's user.
fn stop_when_cancels_over_tls(role: Option<&str>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let db = TestDb::new("stopped");
    if let Some(role) = role {
        confiture_test_support::admin()
            .batch_execute(&format!(
                "ALTER DATABASE \"{}\" OWNER TO \"{role}\"",
                db.name
            ))
            .unwrap();
    }
    let dir = Dir::new();
    dir.table("001", "first", "first")
        .migration(
            "002",
            "slow",
            "CREATE TABLE half (id int);\nSELECT pg_sleep(60);\n",
            "DROP TABLE half;\n",
        )
        .table("003", "last", "last");
    let server = apply_support::server();
    let url = match role {
        Some(role) => format!("{}?sslmode=require", server.url_as(role, None, &db.name)),
        None => format!("{}?sslmode=require", server.url(&db.name)),
    };
    let mut env = confiture::config::Environment::from_url(&url, "test").unwrap();
    env.application_name = "confiture-stop-test".to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let mut migrator = apply_support::migrator_for(env, &dir.path).stop_when(stop.clone());
    let run = std::thread::spawn(move || {
        migrator
            .up(&UpOptions::default(), &mut no_progress)
            .map_err(Box::new)
    });

    let mut watcher = db.client();
    let running = "SELECT s.pid::text FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
                   WHERE a.application_name = 'confiture-stop-test' AND s.ssl \
                   AND a.datname = current_database() AND a.wait_event = 'PgSleep'";
    let deadline = Instant::now() + Duration::from_secs(30);
    while apply_support::value(&mut watcher, running).is_none() {
        assert!(
            Instant::now() < deadline,
            "the slow migration never ran over TLS"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stopped = Instant::now();
    stop.store(true, Ordering::SeqCst);
    let failed = run.join().unwrap().expect_err("the run was stopped");
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "the statement was not cancelled: {:?}",
        stopped.elapsed()
    );
    assert_eq!(
        failed.error.kind,
        confiture::ErrorKind::Interrupted,
        "{}",
        failed.error
    );
    assert_eq!(failed.report.applied, ["001"]);
    let Reason::Migration(m) = failed.error.reason() else {
        panic!("no migration in {:?}", failed.error.reason());
    };
    assert_eq!(
        (m.version.as_str(), &m.committed, &m.not_attempted),
        ("002", &vec!["001".to_string()], &vec!["003".to_string()])
    );
    assert_eq!(db.ledger(), ["001:first"]);
    assert!(!db.table_exists("half"));
    assert!(apply_support::value(&mut watcher, running).is_none());
}

/// Interrupts a `DROP INDEX CONCURRENTLY` of `dir`'s `002` (run by `up` when `up`, else by
/// `down`) while an open transaction that read `r1` makes it wait, and returns the error.
fn interrupt_index_drop(db: &TestDb, dir: &Dir, up: bool) -> confiture::Error {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let app = format!("confiture-drop-{}", db.name);
    let mut env = apply_support::environment(&db.name);
    env.application_name = app.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let mut migrator = apply_support::migrator_for(env, &dir.path).stop_when(stop.clone());
    let mut reader = db.client();
    reader.batch_execute("BEGIN; SELECT * FROM r1;").unwrap();
    let run = std::thread::spawn(move || {
        if up {
            migrator
                .up(&UpOptions::default(), &mut no_progress)
                .map(drop)
                .map_err(|f| f.error)
        } else {
            migrator
                .down(
                    &confiture::migrate::DownOptions::default(),
                    &mut no_progress,
                )
                .map(drop)
                .map_err(|f| f.error)
        }
    });
    let mut watcher = db.client();
    let waiting = format!(
        "SELECT pid FROM pg_stat_activity WHERE application_name = '{app}' \
         AND query ILIKE '/* confiture: 002_%.sql */\nDROP INDEX CONCURRENTLY%' \
         AND wait_event_type = 'Lock'"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while apply_support::value(&mut watcher, &waiting).is_none() {
        assert!(Instant::now() < deadline, "the drop never waited");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    let error = run.join().unwrap().expect_err("the run was stopped");
    reader.batch_execute("COMMIT").unwrap();
    error
}

/// Ctrl-C during a no-transaction migration's `DROP INDEX CONCURRENTLY` (a `down` dropping what
/// its `up` built, or an `up` dropping an index) leaves the index INVALID: not dropped, unused
/// by queries. The report called it "a failed build" and said to drop it "before running
/// again", while the ledger kept the migration applied; it now says the drop is unfinished.
/// The run keeps its start marker (the drop committed part of itself), so `status` (its line,
/// its help, its JSON `unfinished_drop`) names the INVALID index and the migration whose file
/// left it, and `up`/`down` refuse to run past it naming it too — before, the marker went and
/// `status` said the migration was applied (or pending), silent about the index. Both ways
/// on are checked here to be true: running the same command again with
/// `--rerun-interrupted` finishes the drop; rebuilding the index then `migrate abandon 002`
/// keeps the migration where the ledger has it.
#[test]
fn an_interrupted_index_drop_says_what_it_left_and_both_ways_out() {
    use confiture::migrate::{AbandonOptions, DownOptions};
    let no_transaction = "-- confiture:no-transaction\n";
    for up in [false, true] {
        let how = if up { "up" } else { "down" };
        let db = TestDb::new("dropidx");
        let dir = Dir::new();
        if up {
            dir.migration(
                "001",
                "t",
                "CREATE TABLE r1 (id int);\nCREATE INDEX r1_i ON r1 (id);\n",
                "DROP TABLE r1;\n",
            )
            .migration(
                "002",
                "i",
                &format!("{no_transaction}DROP INDEX CONCURRENTLY r1_i;\n"),
                &format!("{no_transaction}CREATE INDEX CONCURRENTLY r1_i ON r1 (id);\n"),
            );
            db.migrator(&dir)
                .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
                .unwrap();
        } else {
            dir.table("001", "t", "r1").migration(
                "002",
                "i",
                &format!("{no_transaction}CREATE INDEX CONCURRENTLY r1_i ON r1 (id);\n"),
                &format!("{no_transaction}DROP INDEX CONCURRENTLY r1_i;\n"),
            );
            db.migrator(&dir)
                .up(&UpOptions::default(), &mut no_progress)
                .unwrap();
        }
        let recorded = if up {
            vec!["001:t"]
        } else {
            vec!["001:t", "002:i"]
        };
        let valid =
            "SELECT indisvalid::text FROM pg_index WHERE indexrelid = 'public.r1_i'::regclass";
        let rerun = format!("migrate {how} --rerun-interrupted");

        let error = interrupt_index_drop(&db, &dir, up);
        assert_eq!(
            error.kind,
            confiture::ErrorKind::Interrupted,
            "{how}: {error}"
        );
        let details = error.details.join("\n");
        assert!(
            details.contains(
                "index public.r1_i was left INVALID by the unfinished DROP INDEX CONCURRENTLY"
            ),
            "{how}: {details}"
        );
        assert!(!details.contains("failed build"), "{how}: {details}");
        assert_eq!(db.ledger(), recorded, "{how}: the ledger is as it was");
        assert_eq!(db.value(valid).as_deref(), Some("false"), "{how}: INVALID");

        // `status` names the INVALID index, the migration whose file left it, and the ways on.
        let report = db.migrator(&dir).status().unwrap();
        let line = serde_json::to_value(&report.migrations[1]).unwrap();
        assert_eq!(line["status"], "interrupted", "{how}: {line}");
        assert_eq!(line["unfinished_drop"], "public.r1_i", "{how}: {line}");
        assert_eq!(report.exit_code(), 7, "{how}");
        let said = report.interrupted_help().join("\n");
        assert!(
            said.contains("002_i")
                && said.contains("`DROP INDEX CONCURRENTLY` of public.r1_i was cut part-way")
                && said.contains(&rerun)
                && said.contains("REINDEX INDEX CONCURRENTLY public.r1_i;"),
            "{how}: {said}"
        );
        let help = error.help.as_deref().unwrap_or_default();
        assert!(
            help.contains(&rerun)
                && help.contains("finishes the drop")
                && help.contains("REINDEX INDEX CONCURRENTLY public.r1_i;")
                && help.contains("migrate abandon 002"),
            "{how}: {help}"
        );
        // The same command without the flag is refused over it, naming it.
        let refused = match up {
            true => db
                .migrator(&dir)
                .up(&UpOptions::default(), &mut no_progress)
                .map(drop)
                .map_err(|f| f.error),
            false => db
                .migrator(&dir)
                .down(&DownOptions::default(), &mut no_progress)
                .map(drop)
                .map_err(|f| f.error),
        }
        .expect_err("refused over the run left part-way");
        assert_eq!(refused.exit_code(), 7, "{how}: {refused}");
        let refused_help = refused.help.as_deref().unwrap_or_default();
        assert!(
            refused_help.contains("public.r1_i") && refused_help.contains(&rerun),
            "{how}: {refused_help}"
        );

        if up {
            // Nor is it recorded over: the index would stay INVALID for good.
            let baseline = db
                .migrator(&dir)
                .baseline(
                    &confiture::migrate::BaselineOptions::through(2).yes(true),
                    &mut no_progress,
                )
                .map(drop)
                .expect_err("an unfinished drop is never recorded")
                .error;
            assert_eq!(baseline.exit_code(), 4, "{baseline}");
            assert!(
                baseline.message.contains("public.r1_i")
                    && (baseline.help.as_deref().unwrap_or_default())
                        .contains("migrate up --target 002 --rerun-interrupted"),
                "{baseline:?}"
            );
            assert_eq!(db.ledger(), recorded, "nothing written");
        }

        // Keeping the migration where the ledger has it: the REINDEX makes the index valid,
        // and `abandon` forgets the run.
        db.client()
            .batch_execute("REINDEX INDEX CONCURRENTLY public.r1_i")
            .unwrap();
        assert_eq!(db.value(valid).as_deref(), Some("true"), "{how}: rebuilt");
        db.migrator(&dir)
            .abandon(
                &AbandonOptions::version("002".parse().unwrap()),
                &mut no_progress,
            )
            .unwrap_or_else(|f| panic!("{how}: {}", f.error));
        let report = db.migrator(&dir).status().unwrap();
        assert_eq!(report.summary.interrupted, 0, "{how}");
        assert_eq!(db.ledger(), recorded, "{how}: kept where it was");

        // Or running the command again on purpose: it finishes the drop.
        interrupt_index_drop(&db, &dir, up);
        assert_eq!(db.value(valid).as_deref(), Some("false"), "{how}");
        let mut migrator = db.migrator(&dir);
        if up {
            migrator
                .up(
                    &UpOptions::default().rerun_interrupted(true),
                    &mut no_progress,
                )
                .unwrap_or_else(|f| panic!("{how}: {}", f.error));
            assert_eq!(db.ledger(), ["001:t", "002:i"], "{how}: recorded");
        } else {
            migrator
                .down(
                    &DownOptions::default().rerun_interrupted(true),
                    &mut no_progress,
                )
                .unwrap_or_else(|f| panic!("{how}: {}", f.error));
            assert_eq!(db.ledger(), ["001:t"], "{how}: forgotten");
        }
        assert!(
            db.value("SELECT to_regclass('public.r1_i')::text")
                .is_none(),
            "{how}: the index is dropped"
        );
        assert_eq!(db.migrator(&dir).status().unwrap().summary.interrupted, 0);
    }
}

/// A stop during a no-transaction migration's `CALL` (or `DO` block) that commits each batch:
/// the batches it committed stay, so the run is left part-way, never "committed none": its
/// start marker stays (the next run refuses it, exit 7), and the help is the one of a run left
/// part-way, running it again on purpose (`--rerun-interrupted`) or recording it.
#[test]
fn a_stop_during_a_call_that_commits_inside_leaves_its_start_marker() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    for call in [true, false] {
        let how = format!("call {call}");
        let db = TestDb::new("stopcall");
        let dir = Dir::new();
        let body = "FOR i IN 1..10 LOOP INSERT INTO t VALUES (i); COMMIT; \
                    IF i = 3 THEN PERFORM pg_sleep(600); END IF; END LOOP;";
        let (procedure, statement) = match call {
            true => (
                format!(
                    "CREATE PROCEDURE batch_fill() LANGUAGE plpgsql AS $$ BEGIN {body} END $$;\n"
                ),
                "CALL batch_fill();\n".to_string(),
            ),
            false => (String::new(), format!("DO $$ BEGIN {body} END $$;\n")),
        };
        dir.migration(
            "001",
            "a",
            &format!("CREATE TABLE t (v int);\n{procedure}"),
            "DROP TABLE t;\n",
        )
        .migration(
            "002",
            "backfill",
            &format!("-- confiture:no-transaction\n{statement}"),
            "SELECT 1;\n",
        );
        let app = format!("confiture-stopcall-{}", db.name);
        let mut env = apply_support::environment(&db.name);
        env.application_name = app.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let mut migrator = apply_support::migrator_for(env, &dir.path).stop_when(stop.clone());
        let run = std::thread::spawn(move || {
            migrator
                .up(&UpOptions::default(), &mut no_progress)
                .map(drop)
                .map_err(|f| f.error)
        });
        let mut watcher = db.client();
        let sleeping = format!(
            "SELECT pid::text FROM pg_stat_activity WHERE application_name = '{app}' \
             AND wait_event = 'PgSleep'"
        );
        let deadline = Instant::now() + Duration::from_secs(120);
        while apply_support::value(&mut watcher, &sleeping).is_none() {
            assert!(Instant::now() < deadline, "{how}: the backfill never slept");
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::SeqCst);
        let e = run.join().unwrap().expect_err("the run was stopped");
        assert_eq!(e.kind, confiture::ErrorKind::Interrupted, "{how}: {e:?}");
        let all = format!("{e:?}");
        assert!(!all.contains("committed none"), "{how}: {all}");
        let help = e.help.clone().unwrap_or_default();
        assert!(
            help.contains("migrate up --rerun-interrupted"),
            "{how}: {help}"
        );
        assert!(
            help.contains("migrate baseline --through 002"),
            "{how}: {help}"
        );
        assert_eq!(
            apply_support::value(&mut watcher, "SELECT count(*)::text FROM t").as_deref(),
            Some("3"),
            "{how}"
        );
        assert_eq!(
            apply_support::value(&mut watcher, "SELECT version FROM tb_confiture_started")
                .as_deref(),
            Some("002"),
            "{how}"
        );
        assert_eq!(db.ledger(), ["001:a"], "{how}");
    }
}
