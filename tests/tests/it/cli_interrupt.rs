//! Ctrl-C (SIGINT) during one database's `migrate up` / `migrate down`: the process used to
//! die on the signal's default action — no JSON document, no word of what committed. Now the
//! statement running on the server is cancelled at once, its migration rolled back (a
//! no-transaction one keeps what it committed and gets no ledger row), no other starts, and
//! the failure report (text or JSON, `kind` `interrupted`) says what committed, exit 130.

use std::process::Stdio;
use std::time::{Duration, Instant};

use confiture::exit;
use confiture_tests::{send_signal, server, wait_until, Project, Run, TestDb, TestDbs, Watched};

/// Sleeps while `tb_user` is empty: a test lets the next run through with one row.
const SLEEP_WHILE_EMPTY: &str = "SELECT pg_sleep(30) FROM tb_user HAVING count(*) = 0;\n";

/// Whether backend `pid` is still running a query (not idle, not gone).
fn backend_busy(db: &TestDb, pid: i32) -> bool {
    db.connect()
        .query_opt(
            "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
            &[&pid],
        )
        .expect("read pg_stat_activity")
        .is_some()
}

/// The CLI with `args` on `db`, its output captured.
fn spawn(project: &Project, db: &TestDb, args: &[&str]) -> std::process::Child {
    project.spawn_on(db, args)
}

/// Sends `child` SIGINT and returns what it printed, checking that it ended promptly (long
/// before the 30 s sleep or the 60 s lock wait of these tests).
fn interrupt(child: std::process::Child) -> Run {
    signal(child, "-INT")
}

/// [`interrupt`] with another signal (`-TERM`, `-HUP`).
fn signal(child: std::process::Child, signal: &str) -> Run {
    send_signal(child.id(), signal);
    let sent = Instant::now();
    let output = child.wait_with_output().unwrap();
    let elapsed = sent.elapsed();
    let run = Run::from_output(output, elapsed);
    assert!(
        elapsed < Duration::from_secs(10),
        "the run took {elapsed:?} after {signal}\n{}",
        run.dump()
    );
    run
}

/// Runs the CLI with `args` on `db`, interrupts it once a migration sleeps on the server, and
/// checks that the sleeping statement stopped.
fn interrupted(project: &Project, db: &TestDb, args: &[&str]) -> Run {
    interrupted_by(project, db, args, "-INT")
}

/// [`interrupted`] by another signal.
fn interrupted_by(project: &Project, db: &TestDb, args: &[&str], with: &str) -> Run {
    let child = spawn(project, db, args);
    let pid = db.wait_for_sleeping_backend("the slow migration never ran");
    let run = signal(child, with);
    assert!(
        !backend_busy(db, pid),
        "the sleeping statement still runs after the CLI exited\n{}",
        run.dump()
    );
    run
}

/// `001_create_tb_user`, `002_slow` with these halves, `003_create_tb_post`.
fn project(slow_up: &str, slow_down: &str) -> Project {
    let project = Project::new();
    project
        .migration(
            "001_create_tb_user",
            "CREATE TABLE tb_user (pk_user int PRIMARY KEY);\n",
            "DROP TABLE tb_user;\n",
        )
        .migration("002_slow", slow_up, slow_down)
        .migration(
            "003_create_tb_post",
            "CREATE TABLE tb_post (pk_post int PRIMARY KEY);\n",
            "DROP TABLE tb_post;\n",
        );
    project
}

/// [`project`] whose `002_slow` up sleeps.
fn slow_up() -> Project {
    project(
        &format!("CREATE TABLE t_partial (a int);\n{SLEEP_WHILE_EMPTY}"),
        "DROP TABLE t_partial;\n",
    )
}

#[test]
fn sigint_during_up_cancels_the_migration_reports_what_committed_and_exits_130() {
    let project = slow_up();
    for json in [false, true] {
        let db = TestDb::new("sigint_up");
        let mut args = vec!["migrate", "up"];
        if json {
            args.extend(["--format", "json"]);
        }
        let run = interrupted(&project, &db, &args);
        run.code(exit::INTERRUPTED)
            .stderr_has("stopping: cancelling the running statement");
        if json {
            let doc = run.json();
            let error = &doc["errors"][0];
            assert_eq!(error["kind"], "interrupted", "{}", run.dump());
            assert_eq!(error["exit_code"], 130, "{}", run.dump());
            assert_eq!(error["version"], "002", "{}", run.dump());
            assert_eq!(
                error["committed"],
                serde_json::json!(["001"]),
                "{}",
                run.dump()
            );
            assert_eq!(
                error["not_attempted"],
                serde_json::json!(["003"]),
                "{}",
                run.dump()
            );
            assert_eq!(doc["applied"], serde_json::json!(["001"]), "{}", run.dump());
        } else {
            run.stderr_has("interrupted: migration 002_slow was cancelled")
                .stderr_has("the migration was rolled back and is not recorded")
                .stderr_has("applied before the failure: 001")
                .stderr_has("not attempted: 003");
        }
        // The first migration committed; the interrupted one left nothing.
        assert_eq!(
            db.ledger(),
            Some(vec!["001:create_tb_user".to_string()]),
            "{}",
            run.dump()
        );
        assert!(!db.has_relation("t_partial"), "{}", run.dump());
        assert!(db.migration_lock_holders().is_empty(), "{}", run.dump());
        // The next run applies the rest.
        db.connect()
            .batch_execute("INSERT INTO tb_user VALUES (1)")
            .unwrap();
        project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
        assert_eq!(db.ledger().map(|l| l.len()), Some(3));
    }
}

#[test]
fn sigint_during_down_cancels_the_rollback_and_keeps_it_applied() {
    let project = project(
        "CREATE TABLE t_partial (a int);\n",
        &format!("DROP TABLE t_partial;\n{SLEEP_WHILE_EMPTY}"),
    );
    let db = TestDb::new("sigint_down");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let run = interrupted(
        &project,
        &db,
        &["migrate", "down", "--steps", "3", "--format", "json"],
    );
    run.code(exit::INTERRUPTED);
    let doc = run.json();
    assert_eq!(doc["errors"][0]["kind"], "interrupted", "{}", run.dump());
    assert_eq!(
        doc["errors"][0]["committed"],
        serde_json::json!(["003"]),
        "{}",
        run.dump()
    );
    assert_eq!(
        doc["rolled_back"],
        serde_json::json!(["003"]),
        "{}",
        run.dump()
    );
    assert_eq!(
        db.ledger(),
        Some(vec![
            "001:create_tb_user".to_string(),
            "002:slow".to_string()
        ]),
        "{}",
        run.dump()
    );
    assert!(db.has_relation("t_partial"), "{}", run.dump());
}

/// SIGTERM (a supervisor stopping the job) and SIGHUP (the ssh session or the terminal gone,
/// the output redirected to a log) stop every command Ctrl-C stops, the same way: the running
/// statement cancelled, its transaction rolled back, the report said, exit 130. SIGHUP used to
/// kill `up`, `down`, `baseline` and `reinit` on its default action (exit 129, the log holding
/// only the `using ...` line), when `verify` and `drift` already handled it (h14 D5).
#[test]
fn sigterm_and_sighup_stop_up_down_and_rewrites_as_ctrl_c_does() {
    let up = slow_up();
    let down = project(
        "CREATE TABLE t_partial (a int);\n",
        &format!("DROP TABLE t_partial;\n{SLEEP_WHILE_EMPTY}"),
    );
    for (with, name) in [("-TERM", "SIGTERM"), ("-HUP", "SIGHUP")] {
        for json in [false, true] {
            let db = TestDb::new("signal_up");
            let mut args = vec!["migrate", "up"];
            if json {
                args.extend(["--format", "json"]);
            }
            let run = interrupted_by(&up, &db, &args, with);
            run.code(exit::INTERRUPTED)
                .stderr_has("stopping: cancelling the running statement")
                .stderr_has(&format!("({name} again to exit at once)"));
            if json {
                let error = &run.json()["errors"][0];
                assert_eq!(error["kind"], "interrupted", "{with}\n{}", run.dump());
                assert_eq!(
                    error["committed"],
                    serde_json::json!(["001"]),
                    "{}",
                    run.dump()
                );
            } else {
                run.stderr_has("interrupted: migration 002_slow was cancelled")
                    .stderr_has("applied before the failure: 001");
            }
            assert_eq!(
                db.ledger(),
                Some(vec!["001:create_tb_user".to_string()]),
                "{with}\n{}",
                run.dump()
            );
            assert!(!db.has_relation("t_partial"), "{with}\n{}", run.dump());
            assert!(db.migration_lock_holders().is_empty(), "{}", run.dump());
        }

        let db = TestDb::new("signal_down");
        down.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
        let args = ["migrate", "down", "--steps", "3", "--format", "json"];
        let run = interrupted_by(&down, &db, &args, with);
        run.code(exit::INTERRUPTED);
        let doc = run.json();
        assert_eq!(
            doc["errors"][0]["kind"],
            "interrupted",
            "{with}\n{}",
            run.dump()
        );
        assert_eq!(
            doc["rolled_back"],
            serde_json::json!(["003"]),
            "{}",
            run.dump()
        );
        assert!(db.has_relation("t_partial"), "{with}\n{}", run.dump());

        for command in [
            ["migrate", "baseline", "--through", "3"],
            ["migrate", "reinit", "--through", "3"],
        ] {
            let db = TestDb::new("signal_rewrite");
            down.run_on(&db, &["migrate", "up", "--target", "1"])
                .code(exit::SUCCESS);
            let mut holder = db.connect();
            holder
                .batch_execute("BEGIN; LOCK TABLE tb_confiture IN SHARE MODE")
                .expect("lock the ledger");
            let child = spawn(&down, &db, &command);
            assert!(cli_waits_for_a_lock(&db), "{command:?} never waited");
            let run = signal(child, with);
            run.code(exit::INTERRUPTED)
                .stderr_has("interrupted:")
                .stderr_has("nothing was changed");
            release_and_check_untouched(&mut holder, &db, &format!("{command:?} {with}"), &run);
        }
    }
}

#[test]
fn sigint_during_a_no_transaction_migration_writes_no_row_and_says_what_stays() {
    let project = project(
        &format!(
            "-- confiture:no-transaction\n-- confiture:allow(no-transaction-multiple-statements)\n\
             CREATE TABLE t_partial (a int);\n\
             CREATE INDEX CONCURRENTLY t_partial_a ON t_partial (a);\n{SLEEP_WHILE_EMPTY}"
        ),
        "DROP TABLE t_partial;\n",
    );
    let db = TestDb::new("sigint_notx");
    let run = interrupted(&project, &db, &["migrate", "up"]);
    run.code(exit::INTERRUPTED)
        .stderr_has("interrupted: migration 002_slow was cancelled")
        .stderr_has("statements 1–2 were committed")
        .stderr_has("the migration is not recorded")
        .stderr_has("what it committed stays")
        .stderr_lacks("statement_timeout")
        // The notice at the signal said the migration "is rolled back": not this one.
        .stderr_lacks("rolled back");
    assert_eq!(
        db.ledger(),
        Some(vec!["001:create_tb_user".to_string()]),
        "{}",
        run.dump()
    );
    assert!(db.has_relation("t_partial"), "{}", run.dump());
}

#[test]
fn sigint_during_a_single_transaction_rolls_back_the_whole_run() {
    let project = slow_up();
    let db = TestDb::new("sigint_single");
    let run = interrupted(
        &project,
        &db,
        &["migrate", "up", "--single-transaction", "--format", "json"],
    );
    run.code(exit::INTERRUPTED);
    assert_eq!(
        run.json()["errors"][0]["kind"],
        "interrupted",
        "{}",
        run.dump()
    );
    assert_eq!(db.ledger(), Some(vec![]), "{}", run.dump());
    assert!(!db.has_relation("tb_user"), "{}", run.dump());
}

/// The wait ends at once for every writing command, and says what the command did not do:
/// `baseline` and `reinit` record migrations without running them, so nothing was recorded.
#[test]
fn sigint_while_waiting_for_the_migration_lock_ends_the_wait_at_once() {
    let project = slow_up();
    let commands: [(&[&str], &str); 4] = [
        (&["migrate", "up"], "nothing was run"),
        (&["migrate", "down"], "nothing was run"),
        (
            &["migrate", "baseline", "--through", "1"],
            "nothing was recorded",
        ),
        (&["migrate", "reinit"], "nothing was recorded"),
    ];
    for (command, nothing_done) in commands {
        let db = TestDb::new("sigint_lock");
        let (_holder, _) = db.hold_migration_lock("another_run");
        let args = [command, &["--lock-wait", "60s", "--format", "json"]].concat();
        let child = spawn(&project, &db, &args);
        // Its last statement is an attempt at the lock, or the look at who holds it that
        // follows each failed attempt.
        let connected = wait_until(Duration::from_secs(30), || {
            db.other_backends().iter().any(|b| {
                // (Its operators are written `OPERATOR(pg_catalog.=)`: match the words, not them.)
                b.contains("pg_try_advisory")
                    || b.contains("l.locktype OPERATOR(pg_catalog.=) 'advisory'")
            })
        });
        assert!(
            connected,
            "{command:?}: the CLI never tried the lock: {:?}",
            db.other_backends()
        );
        let run = interrupt(child);
        run.code(exit::INTERRUPTED);
        // Nothing was running: the notice at the signal said a migration "is rolled back",
        // and for `baseline` and `reinit`, "the ledger rewrite is rolled back".
        run.stderr_lacks("rolled back");
        // The first line says the wait ends, by the command's work: never that a statement is
        // cancelled, when none of the command's is running.
        run.stderr_lacks("cancelling the running statement");
        if ["up", "down"].contains(&command[1]) {
            run.stderr_has("stopping: ending the wait: no migration has started");
        } else {
            run.stderr_has("stopping: ending the wait: the ledger rewrite has not started");
        }
        let doc = run.json();
        assert_eq!(doc["errors"][0]["kind"], "interrupted", "{}", run.dump());
        let expected = format!("interrupted while waiting for the migration lock: {nothing_done}");
        assert!(
            doc["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains(&expected)),
            "{command:?}: {expected}\n{}",
            run.dump()
        );
        assert!(db.ledger().unwrap_or_default().is_empty(), "{}", run.dump());
    }
}

/// Ctrl-C in the instant between the server granting `baseline`'s or `reinit`'s migration lock
/// and its `LockAcquired` event reaching the CLI's thread: the notice said "the ledger rewrite
/// has not started" (what the CLI had seen of the run) though the lock was taken and the
/// rewrite under way. The words now come from the engine's own state. The run used to be held
/// before its event by a lock on `pg_settings`, which its restore of the session's settings
/// read; that restore now looks nothing up (`db::IdleRestore`), and the same lock holds the
/// run at its first read of `pg_settings` once it has the migration lock: Ctrl-C there speaks
/// of the rewrite.
#[test]
fn sigint_once_the_lock_is_taken_speaks_of_the_rewrite_before_its_event_arrives() {
    let project = slow_up();
    for command in [
        &["migrate", "baseline", "--through", "1"][..],
        &["migrate", "reinit"][..],
    ] {
        let db = TestDb::new("sigint_locked");
        let (mut holder, _) = db.hold_migration_lock("another_run");
        let args = [command, &["--lock-wait", "60s"]].concat();
        let mut child = Watched::of(spawn(&project, &db, &args));
        // Said once the session is ready to wait (its idle timeouts off, a read of
        // `pg_settings` the catalog lock below would hold up): from then on the attempts read
        // no catalog.
        child.line_with("waiting for the migration lock");
        // The run's reads once it holds the lock wait for this (never its restore of the
        // settings, which looks nothing up), then the lock is given up.
        let mut catalog = db.connect();
        catalog
            .batch_execute("BEGIN; LOCK TABLE pg_catalog.pg_settings IN ACCESS EXCLUSIVE MODE")
            .expect("lock pg_settings");
        holder
            .batch_execute("SELECT pg_advisory_unlock_all()")
            .expect("give the migration lock up");
        let held = wait_until(Duration::from_secs(30), || {
            db.connect()
                .query_opt(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                       AND application_name = 'cargo-confiture' AND wait_event_type = 'Lock'
                       AND query LIKE '%pg_settings%' AND query NOT LIKE '%RESET idle%'",
                    &[],
                )
                .expect("read pg_stat_activity")
                .is_some()
        });
        assert!(
            held,
            "{command:?} never waited for pg_settings holding the lock: {:?}",
            db.other_backends()
        );
        assert_eq!(
            db.migration_lock_holders().len(),
            1,
            "{command:?}: the lock is the CLI's"
        );
        send_signal(child.child.id(), "-INT");
        let run = child.run(Instant::now());
        assert!(
            run.elapsed < Duration::from_secs(10),
            "{command:?} took {:?} after SIGINT\n{}",
            run.elapsed,
            run.dump()
        );
        run.code(exit::INTERRUPTED);
        run.stderr_has(
            "stopping: cancelling the running statement; the ledger rewrite is rolled back \
             unless it has committed",
        )
        .stderr_lacks("has not started")
        .stderr_lacks("nothing was recorded");
        catalog
            .batch_execute("COMMIT")
            .expect("release pg_settings");
        assert!(
            wait_until(Duration::from_secs(20), || db
                .migration_lock_holders()
                .is_empty()),
            "{command:?}: the lock outlived the run"
        );
        assert!(db.ledger().unwrap_or_default().is_empty(), "{}", run.dump());
    }
}

/// Ctrl-C while the connection is being made (a server that accepts and never answers): the
/// signal was only noted, and the run went on waiting out `connect_timeout` (60 s here), then
/// failed with the connection error (exit 3). Now the wait ends at once, exit 130, for `up`
/// (which connects while it reads the files) and `down` (which connects when it needs to),
/// and for `status`, `baseline` and `reinit`, which the signal used to kill outright (no
/// report, no exit code of ours).
#[test]
fn sigint_while_connecting_ends_the_wait_at_once() {
    let project = slow_up();
    let (port, accepted) = silent_server();
    let url = format!("postgresql://postgres@127.0.0.1:{port}/silent?connect_timeout=60");
    // With what each did not do: `baseline` and `reinit` record rows without running
    // migrations (they said "nothing was run").
    let commands: [(&[&str], &str); 5] = [
        (&["migrate", "up"], "nothing was run"),
        (&["migrate", "down"], "nothing was run"),
        (&["migrate", "status"], "nothing was run"),
        (
            &["migrate", "baseline", "--through", "1"],
            "nothing was recorded",
        ),
        (&["migrate", "reinit"], "nothing was recorded"),
    ];
    for (n, (command, nothing_done)) in commands.iter().enumerate() {
        let child =
            project.spawn(&[*command, &["--database-url", &url, "--format", "json"]].concat());
        until_connected(&accepted, n);
        let run = interrupt(child);
        run.code(exit::INTERRUPTED);
        let error = &run.json()["errors"][0];
        assert_eq!(error["kind"], "interrupted", "{command:?}\n{}", run.dump());
        assert_eq!(
            error["message"],
            format!("interrupted while connecting: {nothing_done}"),
            "{command:?}\n{}",
            run.dump()
        );
    }
}

/// `baseline` and `reinit` write the ledger in one transaction. SIGINT used to kill the
/// process (the server rolled back; no report, no exit code of ours). Now the statement
/// waiting in that transaction (here for a lock the test holds on the ledger) is cancelled,
/// the transaction rolled back, and the failure report says `interrupted`, exit 130.
#[test]
fn sigint_during_a_ledger_rewrite_cancels_it_and_changes_nothing() {
    let project = project(
        "CREATE TABLE t_partial (a int);\n",
        "DROP TABLE t_partial;\n",
    );
    let commands: [&[&str]; 2] = [
        &["migrate", "baseline", "--through", "3"],
        &["migrate", "reinit", "--through", "3"],
    ];
    for command in commands {
        for json in [false, true] {
            let db = TestDb::new("sigint_rewrite");
            project
                .run_on(&db, &["migrate", "up", "--target", "1"])
                .code(exit::SUCCESS);
            // Reads go through; the rewrite's writes wait.
            let mut holder = db.connect();
            holder
                .batch_execute("BEGIN; LOCK TABLE tb_confiture IN SHARE MODE")
                .expect("lock the ledger");
            let mut args = command.to_vec();
            if json {
                args.extend(["--format", "json"]);
            }
            let child = spawn(&project, &db, &args);
            let waiting = wait_until(Duration::from_secs(30), || {
                db.connect()
                    .query_opt(
                        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                           AND application_name = 'cargo-confiture' AND wait_event_type = 'Lock'",
                        &[],
                    )
                    .expect("read pg_stat_activity")
                    .is_some()
            });
            assert!(
                waiting,
                "{command:?} never waited: {:?}",
                db.other_backends()
            );
            let run = interrupt(child);
            run.code(exit::INTERRUPTED).stderr_lacks("panicked");
            // The lock was taken: the notice speaks of the rewrite under way.
            run.stderr_has("the ledger rewrite is rolled back unless it has committed")
                .stderr_lacks("has not started");
            // The command to run again is this one, `--through 3` included.
            let again = format!("`cargo confiture {} --database-url", command.join(" "));
            if json {
                let doc = run.json();
                assert_eq!(doc["errors"][0]["kind"], "interrupted", "{}", run.dump());
                assert_eq!(doc["errors"][0]["exit_code"], 130, "{}", run.dump());
                let help = doc["errors"][0]["help"].as_str().unwrap_or_default();
                assert!(help.contains(&again), "{again}\n{}", run.dump());
            } else {
                run.stderr_has("interrupted:")
                    .stderr_has("nothing was changed")
                    .stderr_has(&again);
            }
            release_and_check_untouched(&mut holder, &db, &format!("{command:?}"), &run);
        }
    }
}

/// A Ctrl-C that arrives as the last migrations commit: the cancel request reaches a
/// `COMMIT` that is already durable (here parked in the wait for a synchronous standby that
/// never comes: the server answers "the transaction has already committed locally"). The
/// run completed; it used to print "interrupted: cancelling ..." all the same, and exit 0.
/// The rule now, for every command that writes: what the ledger shows wins. Everything
/// committed is a success (exit 0, the normal report) that says plainly the Ctrl-C came too
/// late to undo anything; no "interrupted" anywhere.
#[test]
fn sigint_as_the_last_commit_completes_reports_success_and_says_nothing_was_undone() {
    use confiture_tests::cluster::{Cluster, TRUST_ALL};
    let cluster = Cluster::init();
    cluster.configure("", TRUST_ALL);
    cluster.start();
    let project = project(
        "CREATE TABLE t_partial (a int);\n",
        "DROP TABLE t_partial;\n",
    );
    // (command, JSON?, what the note says committed last, ledger after)
    let cases: [(&[&str], bool, &str); 3] = [
        (&["migrate", "up"], false, "the last migration committed"),
        (&["migrate", "up"], true, "the last migration committed"),
        (
            &["migrate", "baseline", "--through", "3"],
            false,
            "the ledger rewrite committed",
        ),
    ];
    let dbs: Vec<String> = cases
        .iter()
        .map(|_| {
            let db = cluster.create_database("late_sigint");
            let url = cluster.url(&db, "sslmode=disable");
            let run = Run::of(project.cli().args([
                "migrate",
                "up",
                "--target",
                "1",
                "--database-url",
                &url,
            ]));
            run.code(exit::SUCCESS);
            db
        })
        .collect();
    // From now on every commit that must be durable waits for a standby that never comes.
    let mut admin = cluster.connect("postgres");
    admin
        .batch_execute("ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
        .expect("ask for a synchronous standby");
    admin
        .batch_execute("SELECT pg_reload_conf()")
        .expect("reload the configuration");
    let reloaded = wait_until(Duration::from_secs(30), || {
        let value: String = cluster
            .connect("postgres")
            .query_one("SHOW synchronous_standby_names", &[])
            .expect("SHOW")
            .get(0);
        value == "nobody"
    });
    assert!(reloaded, "the server never reloaded its configuration");
    for ((command, json, committed), db) in cases.iter().zip(&dbs) {
        let url = cluster.url(db, "sslmode=disable");
        let mut args = command.to_vec();
        if *json {
            args.extend(["--format", "json"]);
        }
        let child = project.spawn(&[&args[..], &["--database-url", &url]].concat());
        let committing = wait_until(Duration::from_secs(30), || {
            admin
                .query_opt(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event = 'SyncRep'",
                    &[db],
                )
                .expect("read pg_stat_activity")
                .is_some()
        });
        assert!(committing, "{command:?} never reached its last commit");
        let run = interrupt(child);
        run.code(exit::SUCCESS)
            .stderr_lacks("interrupted")
            .stderr_has(&format!(
                "Ctrl-C arrived after {committed}; nothing was undone"
            ));
        if *json {
            let doc = run.json();
            assert_eq!(
                doc["applied"],
                serde_json::json!(["002", "003"]),
                "{}",
                run.dump()
            );
            assert_eq!(doc["errors"], serde_json::json!([]), "{}", run.dump());
        }
        let versions: Vec<String> = cluster
            .connect(db)
            .query("SELECT version FROM tb_confiture ORDER BY version", &[])
            .expect("read the ledger")
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(
            versions,
            ["001", "002", "003"],
            "{command:?}\n{}",
            run.dump()
        );
    }
}

/// Whether the CLI's backend on `db` waits for a lock (a ledger another session locked).
fn cli_waits_for_a_lock(db: &TestDb) -> bool {
    wait_until(Duration::from_secs(30), || {
        db.connect()
            .query_opt(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                   AND application_name = 'cargo-confiture' AND wait_event_type = 'Lock'",
                &[],
            )
            .expect("read pg_stat_activity")
            .is_some()
    })
}

/// The commands that read the ledger under the migration lock before they write, with what
/// their interrupted error suggests running again: `baseline`/`reinit --through V` used to
/// suggest the command without `--through` (a usage error; for `reinit`, another rewrite).
const READ_THEN_WRITE: [(&[&str], Option<&str>); 5] = [
    (&["migrate", "down", "--lock-wait", "60s"], None),
    (
        &["migrate", "baseline", "--through", "3"],
        Some("`cargo confiture migrate baseline --through 3 --database-url"),
    ),
    (
        &["migrate", "reinit", "--through", "3"],
        Some("`cargo confiture migrate reinit --through 3 --database-url"),
    ),
    // Nothing to rewrite once read: it used to wait for the ledger, then exit 0 saying the
    // Ctrl-C "arrived after the ledger rewrite committed".
    (
        &["migrate", "reinit", "--through", "1"],
        Some("`cargo confiture migrate reinit --through 1 --database-url"),
    ),
    (
        &["migrate", "reinit"],
        Some("`cargo confiture migrate reinit --database-url"),
    ),
];

/// Ctrl-C while `down`, `baseline` or `reinit` waits to read a ledger another session holds
/// locked (`LOCK TABLE ... IN ACCESS EXCLUSIVE MODE`): it used to say "stopping" and wait
/// until the holder ended (or the 30 s read wait ran out). The read is cancelled at once, the
/// run is interrupted (exit 130, never 0) and nothing changed.
#[test]
fn sigint_while_the_ledger_read_waits_for_a_lock_ends_it_at_once() {
    let project = slow_up();
    for (command, again) in READ_THEN_WRITE {
        for json in [false, true] {
            let (db, mut holder, run) =
                interrupted_behind_a_ledger_lock(&project, "sigint_ledger_read", command, json);
            run.code(exit::INTERRUPTED)
                .stderr_lacks("panicked")
                .stderr_lacks("nothing was undone");
            let help = if json {
                let doc = run.json();
                assert_eq!(doc["errors"][0]["kind"], "interrupted", "{}", run.dump());
                assert_eq!(doc["errors"][0]["exit_code"], 130, "{}", run.dump());
                doc["errors"][0]["help"].as_str().unwrap_or("").to_string()
            } else {
                run.stderr_has("interrupted");
                run.stderr.clone()
            };
            if let Some(again) = again {
                assert!(help.contains(again), "{command:?}: {again}\n{}", run.dump());
            }
            release_and_check_untouched(&mut holder, &db, &format!("{command:?}"), &run);
        }
    }
}

/// `--lock-wait` bounds every wait of `up`, `down`, `baseline` and `reinit`, the ledger read's
/// for a lock another session holds on the tracking table included: `baseline` and `reinit`
/// used to wait the read's fixed 30 s.
#[test]
fn lock_wait_bounds_the_ledger_read_of_every_writing_command() {
    let project = slow_up();
    let commands: [&[&str]; 5] = [
        &["migrate", "up"],
        &["migrate", "down"],
        &["migrate", "baseline", "--through", "3"],
        &["migrate", "reinit", "--through", "3"],
        &["migrate", "reinit"],
    ];
    let db = TestDb::new("ledger_lock_wait");
    project
        .run_on(&db, &["migrate", "up", "--target", "1"])
        .code(exit::SUCCESS);
    let mut holder = db.connect();
    holder
        .batch_execute("BEGIN; LOCK TABLE tb_confiture IN ACCESS EXCLUSIVE MODE")
        .expect("lock the ledger");
    for command in commands {
        let mut args = command.to_vec();
        args.extend(["--lock-wait", "1s"]);
        let run = project.run_on(&db, &args);
        run.code(exit::LOCK_TIMEOUT)
            .stderr_has("another session holds a lock on it");
        assert!(
            run.elapsed < Duration::from_secs(10),
            "{command:?} waited past its --lock-wait\n{}",
            run.dump()
        );
    }
    holder
        .batch_execute("ROLLBACK")
        .expect("release the ledger");
    assert_eq!(db.ledger(), Some(vec!["001:create_tb_user".to_string()]));
}

/// h20 F4: the read of the start markers' table beside the ledger (`tb_confiture_started`)
/// waited for a lock on it unbounded (`status --lock-wait 1s` took 69 s behind a 70 s
/// `LOCK TABLE`); it is bounded by `--lock-wait` as the ledger's read is, in every command
/// that reads it, exit 6 naming that table.
#[test]
fn lock_wait_bounds_the_read_of_the_markers_table() {
    let project = slow_up();
    let db = TestDb::new("markers_lock_wait");
    project
        .run_on(&db, &["migrate", "up", "--target", "1"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute(&confiture::ledger::StartedRun::create_sql(
            &Default::default(),
        ))
        .expect("the markers' table");
    let mut holder = db.connect();
    holder
        .batch_execute("BEGIN; LOCK TABLE tb_confiture_started IN ACCESS EXCLUSIVE MODE")
        .expect("lock the markers' table");
    let commands: [&[&str]; 5] = [
        &["migrate", "status"],
        &["migrate", "up"],
        &["migrate", "up", "--dry-run"],
        &["migrate", "down", "--dry-run"],
        &["migrate", "baseline", "--through", "3"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.extend(["--lock-wait", "1s"]);
        let run = project.run_on(&db, &args);
        run.code(exit::LOCK_TIMEOUT)
            .stderr_has("cannot read public.tb_confiture_started")
            .stderr_has("another session holds a lock on it");
        assert!(
            run.elapsed < Duration::from_secs(10),
            "{command:?} waited past its --lock-wait\n{}",
            run.dump()
        );
    }
    holder.batch_execute("ROLLBACK").expect("release it");
    assert_eq!(db.ledger(), Some(vec!["001:create_tb_user".to_string()]));
}

/// Ctrl-C while an environment file, a `.env` or a target list that is a pipe nobody writes
/// to is waited on (`-c <(sops -d f.yaml)`, a secret manager's `.env` FIFO, `--targets
/// <(list-tenants)`): the signal was ignored until the 30 s wait ran out, then the run failed
/// as a configuration error (exit 5), a fleet after saying "stopping". Now the wait ends at
/// once: `kind` `interrupted`, exit 130, in text and in JSON, for every command that reads
/// them.
#[test]
fn sigint_while_a_pipe_is_read_ends_the_wait_at_once() {
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    let db = TestDb::new("pipe_sigint");
    let mkfifo = |path: &std::path::Path| {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
    };
    // Nobody ever writes to these.
    let config = project.path("secret.yaml");
    mkfifo(&config);
    let targets = project.path("tenants.txt");
    mkfifo(&targets);
    let with_dotenv = Project::new();
    with_dotenv.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    mkfifo(&with_dotenv.path(".env"));

    let url = db.url();
    let config = config.to_str().unwrap();
    let targets = targets.to_str().unwrap();
    let mut cases: Vec<(&Project, Vec<&str>)> = Vec::new();
    for command in [
        &["up"][..],
        &["down", "--yes"],
        &["status"],
        &["baseline", "--through", "1"],
        &["reinit"],
        &["verify"],
        &["drift"],
    ] {
        let mut args = vec!["migrate"];
        args.extend_from_slice(command);
        args.extend(["-c", config]);
        cases.push((&project, args.clone()));
        // The `.env` is read when nothing else names the database.
        cases.push((&with_dotenv, args[..args.len() - 2].to_vec()));
        if !matches!(command[0], "baseline" | "reinit") {
            args.truncate(args.len() - 2);
            args.extend(["--database-url", &url, "--targets", targets]);
            cases.push((&project, args));
        }
    }
    let children: Vec<_> = cases
        .iter()
        .flat_map(|(project, args)| {
            [false, true].map(|json| {
                let format: &[&str] = if json { &["--format", "json"] } else { &[] };
                let child = project.spawn(&[&args[..], format].concat());
                (args.join(" "), json, child)
            })
        })
        .collect();
    for (args, _, child) in &children {
        until_reading_a_pipe(child, args);
    }
    for (args, json, child) in children {
        let run = interrupt(child);
        run.code(exit::INTERRUPTED);
        if json {
            let error = &run.json()["error"];
            assert_eq!(error["kind"], "interrupted", "{args}\n{}", run.dump());
        } else {
            run.stderr_has("interrupted");
        }
    }
}

/// A server that accepts every connection and never answers: its port, and how many
/// connections it accepted so far — what a test waits on before it signals a run that
/// connects there ([`until_connected`]), never a fixed sleep.
pub(crate) fn silent_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (port, accepted)
}

/// Waits until `silent_server`'s count of accepted connections passes `before`: the run
/// spawned after reading `before` is connecting there, its signal handlers installed and its
/// earlier steps done. A fixed sleep instead let a signal under load land before (still
/// connecting to the target, or before the handlers), and the run then ended another way.
pub(crate) fn until_connected(accepted: &std::sync::atomic::AtomicUsize, before: usize) {
    let connected = confiture_tests::wait_until(Duration::from_secs(60), || {
        accepted.load(std::sync::atomic::Ordering::SeqCst) > before
    });
    assert!(connected, "the run never connected to the silent server");
}

/// Waits until `child` reads a pipe given as a file: its thread that opens and reads it
/// (`environment-file`, `config::read_user_file`) exists, started after the signal handlers
/// were installed (Linux: `/proc/<pid>/task/*/comm`). A fixed sleep instead let a signal under
/// load land before the handlers, and the default action killed the run (no exit code).
pub(crate) fn until_reading_a_pipe(child: &std::process::Child, what: &str) {
    let tasks = format!("/proc/{}/task", child.id());
    let reading = confiture_tests::wait_until(Duration::from_secs(60), || {
        std::fs::read_dir(&tasks).is_ok_and(|tasks| {
            tasks.flatten().any(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    // The kernel keeps 15 bytes of a thread's name.
                    .is_ok_and(|name| name.trim_end() == &"environment-file"[..15])
            })
        })
    });
    assert!(reading, "{what}: never started reading its pipe");
}

/// The connections made before a run has its database or its fleet: `up --create-database`
/// (one database, and a fleet's target) and the environment's database that a
/// `--targets-query` / `--schemas-query` reads. A Ctrl-C or SIGTERM there used to be ignored
/// until `connect_timeout` ran out, then exit 3 (the fleet adding a false "Ctrl-C arrived
/// after the last target finished"). Now they end at once, exit 130, `kind` `interrupted`.
#[test]
fn sigint_while_connecting_before_the_run_ends_the_wait_at_once() {
    let project = slow_up();
    let (port, accepted) = silent_server();
    let silent = format!("postgresql://postgres@127.0.0.1:{port}/silent?connect_timeout=60");
    project.write("silent.txt", format!("{silent}\n"));
    let real = TestDb::new("sigint_connect_before");
    let real = real.url();
    let commands: Vec<(Vec<&str>, &str)> = vec![
        (vec!["migrate", "up", "--create-database"], &silent),
        (
            vec![
                "migrate",
                "up",
                "--create-database",
                "--targets",
                "silent.txt",
            ],
            &real,
        ),
        (vec!["migrate", "up", "--targets-query", "select"], &silent),
        (
            vec!["migrate", "down", "--targets-query", "select"],
            &silent,
        ),
        (
            vec!["migrate", "status", "--targets-query", "select"],
            &silent,
        ),
        (vec!["migrate", "up", "--schemas-query", "select"], &silent),
        (
            vec!["migrate", "down", "--schemas-query", "select"],
            &silent,
        ),
        (
            vec!["migrate", "status", "--schemas-query", "select"],
            &silent,
        ),
    ];
    let mut n = 0;
    for (command, url) in &commands {
        for json in [false, true] {
            let mut args = command.clone();
            if json {
                args.extend(["--format", "json"]);
            }
            let child = project.spawn(&[&args[..], &["--database-url", url]].concat());
            let connecting = wait_until(Duration::from_secs(30), || {
                accepted.load(std::sync::atomic::Ordering::SeqCst) > n
            });
            n += 1;
            assert!(connecting, "{args:?} never connected");
            std::thread::sleep(Duration::from_millis(500));
            let run = interrupt(child);
            run.code(exit::INTERRUPTED)
                .stderr_lacks("arrived after")
                .stderr_lacks("no answer within");
            if json {
                let doc = run.json();
                let kind = doc["errors"][0]["kind"].clone();
                let fleet = doc["targets"][0]["error"]["kind"].clone();
                assert!(
                    kind == "interrupted" || fleet == "interrupted",
                    "{args:?}\n{}",
                    run.dump()
                );
            } else {
                run.stderr_has("interrupted");
            }
        }
    }
}

/// Ctrl-C while `status` or `up` wait to read a ledger another session holds locked: the
/// session is connected (the read runs on the connecting thread while the files are read),
/// but the error used to say "interrupted while connecting", which sends the user to the
/// network. It says the tracking table's read was interrupted.
#[test]
fn sigint_while_status_or_up_wait_for_the_ledger_says_so_not_connecting() {
    let project = slow_up();
    let commands: [&[&str]; 2] = [
        &["migrate", "status"],
        &["migrate", "up", "--lock-wait", "60s"],
    ];
    for command in commands {
        for json in [false, true] {
            let (_db, mut holder, run) =
                interrupted_behind_a_ledger_lock(&project, "sigint_ledger_wait", command, json);
            run.code(exit::INTERRUPTED);
            let message = if json {
                let doc = run.json();
                assert_eq!(doc["errors"][0]["kind"], "interrupted", "{}", run.dump());
                doc["errors"][0]["message"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            } else {
                run.stderr.clone()
            };
            assert!(
                message.contains("interrupted while reading the tracking table")
                    && !message.contains("connecting"),
                "{command:?}\n{}",
                run.dump()
            );
            holder
                .batch_execute("ROLLBACK")
                .expect("release the ledger");
        }
    }
}

/// Applies 001 on a database of its own (`name`), locks its ledger from another session, runs
/// `command` (`--format json` when `json`), and interrupts it once it waits for that lock:
/// the database, the session holding the lock and the run.
fn interrupted_behind_a_ledger_lock(
    project: &Project,
    name: &str,
    command: &[&str],
    json: bool,
) -> (TestDb, postgres::Client, Run) {
    let db = TestDb::new(name);
    project
        .run_on(&db, &["migrate", "up", "--target", "1"])
        .code(exit::SUCCESS);
    let mut holder = db.connect();
    holder
        .batch_execute("BEGIN; LOCK TABLE tb_confiture IN ACCESS EXCLUSIVE MODE")
        .expect("lock the ledger");
    let mut args = command.to_vec();
    if json {
        args.extend(["--format", "json"]);
    }
    let child = spawn(project, &db, &args);
    assert!(
        cli_waits_for_a_lock(&db),
        "{command:?} never waited: {:?}",
        db.other_backends()
    );
    (db, holder, interrupt(child))
}

/// Ends `holder`'s transaction (the lock it held on the ledger), then checks that the
/// interrupted `run` (`what`) left the ledger with its one row and no migration lock held.
fn release_and_check_untouched(holder: &mut postgres::Client, db: &TestDb, what: &str, run: &Run) {
    holder
        .batch_execute("ROLLBACK")
        .expect("release the ledger");
    assert_eq!(
        db.ledger(),
        Some(vec!["001:create_tb_user".to_string()]),
        "{what}\n{}",
        run.dump()
    );
    assert!(db.migration_lock_holders().is_empty(), "{}", run.dump());
}

/// A row trigger's body that sleeps: on each new `tb_confiture` ([`new_ledgers_sleeping`]),
/// the rows `baseline` and `reinit` write wait on the server.
const SLOW_NEW_LEDGER: &str = "BEGIN PERFORM pg_sleep(30); RETURN NEW; END";

/// [`SLOW_NEW_LEDGER`] whose sleep goes on through cancels: only the second signal ends the
/// run.
const STUCK_NEW_LEDGER: &str = "
DECLARE until timestamptz := clock_timestamp() + interval '30 s';
BEGIN
  WHILE clock_timestamp() < until LOOP
    BEGIN PERFORM pg_sleep(extract(epoch FROM until - clock_timestamp()));
    EXCEPTION WHEN query_canceled THEN NULL; END;
  END LOOP;
  RETURN NEW;
END";

/// The event trigger that gives each new `tb_confiture` (a tenant's too: the function is
/// qualified, its session's `search_path` is the tenant's) a row trigger running `body`
/// ([`SLOW_NEW_LEDGER`], [`STUCK_NEW_LEDGER`]: the function's body).
fn new_ledgers_sleeping(body: &str) -> String {
    format!(
        "
CREATE FUNCTION public.slow_ledger_row() RETURNS trigger LANGUAGE plpgsql AS $${body}$$;
CREATE FUNCTION slow_new_ledger() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM pg_event_trigger_ddl_commands()
           WHERE command_tag = 'CREATE TABLE' AND object_identity LIKE '%.tb_confiture' LOOP
    EXECUTE format('CREATE TRIGGER slow BEFORE INSERT ON %s FOR EACH ROW
                    EXECUTE FUNCTION public.slow_ledger_row()', r.object_identity);
  END LOOP;
END $$;
CREATE EVENT TRIGGER slow_new_ledger ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
  EXECUTE FUNCTION slow_new_ledger();
"
    )
}

/// `baseline` and `reinit` on a database without a ledger created (and committed) the table
/// first, then wrote its rows in a transaction of their own: stopped between the two — a
/// Ctrl-C, or its statement cancelled by another session — they left an empty ledger behind
/// a message saying nothing was changed. The table and its rows are now one transaction:
/// stopped anywhere, the database has no ledger, as the message says.
#[test]
fn a_rewrite_stopped_while_writing_a_new_ledger_leaves_no_ledger() {
    let project = project(
        "CREATE TABLE t_partial (a int);\n",
        "DROP TABLE t_partial;\n",
    );
    let commands: [&[&str]; 2] = [
        &["migrate", "baseline", "--through", "3"],
        &["migrate", "reinit", "--through", "3"],
    ];
    for command in commands {
        for cancelled in [false, true] {
            let what = format!("{command:?}, cancelled by another session: {cancelled}");
            let db = TestDb::new("stop_new_ledger");
            db.connect()
                .batch_execute(&new_ledgers_sleeping(SLOW_NEW_LEDGER))
                .expect("make new ledgers slow to write");
            let child = spawn(&project, &db, command);
            let pid = db.wait_for_sleeping_backend(&format!("{what}: never wrote"));
            let run = if cancelled {
                db.connect()
                    .execute("SELECT pg_cancel_backend($1)", &[&pid])
                    .expect("cancel the rewrite");
                let start = Instant::now();
                let output = child.wait_with_output().unwrap();
                Run::from_output(output, start.elapsed())
            } else {
                let run = interrupt(child);
                run.code(exit::INTERRUPTED);
                run
            };
            run.stderr_has("nothing was changed")
                .stderr_lacks("panicked");
            assert_eq!(
                db.ledger(),
                None,
                "{what}: a ledger was left\n{}",
                run.dump()
            );
            assert!(db.migration_lock_holders().is_empty(), "{}", run.dump());
        }
    }
}

/// Ctrl-C while a migration that hit its `lock_timeout` waits to be retried: the backoff
/// (up to 7.5 s between attempts) is cut short, and the run stops as it does between
/// migrations — exit 130, nothing recorded. It used to sleep the whole backoff out first.
#[test]
fn sigint_during_the_backoff_between_lock_retries_ends_it_at_once() {
    use std::io::{BufRead, BufReader};
    let db = TestDb::new("sigint_backoff");
    db.connect()
        .batch_execute("CREATE TABLE t (id int)")
        .expect("create the locked table");
    let mut holder = db.connect();
    holder
        .batch_execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .expect("lock the table");
    let project = Project::new();
    project
        .migration(
            "001_alter_t",
            "ALTER TABLE t ADD COLUMN c int;\n",
            "ALTER TABLE t DROP COLUMN c;\n",
        )
        .write(
            "db/environments/retry.yaml",
            format!(
                "database_url: {}\nmigration:\n  lock_timeout: 50ms\n  lock_retries: 20\n",
                db.url()
            ),
        );
    let mut child = project.spawn(&["migrate", "up", "--allow-non-empty", "--env", "retry"]);
    // The stderr lines as they come, read on a thread of their own.
    let (lines, seen) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // A retry announced with a backoff long enough to tell "at once" from "after it".
    let mut said = Vec::new();
    let delay = loop {
        let line = seen
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no long retry announced: {said:?}"));
        let ms = line
            .split("retrying in ")
            .nth(1)
            .and_then(|rest| rest.split(" ms").next())
            .and_then(|ms| ms.parse::<u64>().ok());
        said.push(line);
        if let Some(ms) = ms.filter(|&ms| ms >= 2_000) {
            break Duration::from_millis(ms);
        }
    };
    send_signal(child.id(), "-INT");
    let sent = Instant::now();
    let code = child.wait().expect("wait for the CLI");
    let elapsed = sent.elapsed();
    let rest: Vec<String> = seen.try_iter().collect();
    assert!(
        elapsed < delay / 2,
        "the run took {elapsed:?} after SIGINT, during a backoff of {delay:?}\n{said:?}\n{rest:?}"
    );
    assert_eq!(code.code(), Some(i32::from(exit::INTERRUPTED)), "{rest:?}");
    drop(holder);
    assert!(
        db.ledger().unwrap_or_default().is_empty(),
        "nothing recorded: {rest:?}"
    );
}

/// The dry runs of the commands that write: their ledger read took neither the command's
/// `--lock-wait` nor the stop into account.
const DRY_RUNS: [&[&str]; 4] = [
    &["migrate", "up", "--dry-run"],
    &["migrate", "down", "--dry-run"],
    &["migrate", "baseline", "--through", "3", "--dry-run"],
    &["migrate", "reinit", "--dry-run"],
];

/// h12 D4 + D7: behind a ledger another session holds locked, every `--dry-run` waited the
/// read's fixed 30 s whatever `--lock-wait` said (`0` and `1s` included), and Ctrl-C did not
/// stop it: it waited the lock out, exited 0 and said a migration (or the ledger rewrite)
/// "committed". Now a dry run gives up after its `--lock-wait` (exit 6, naming the holder)
/// and is interrupted at once (exit 130), as the run it previews is.
#[test]
fn dry_runs_honour_lock_wait_and_sigint_behind_a_locked_ledger() {
    let project = slow_up();
    let db = TestDb::new("dry_lock_wait");
    project
        .run_on(&db, &["migrate", "up", "--target", "1"])
        .code(exit::SUCCESS);
    let mut holder = db.connect();
    holder
        .batch_execute("BEGIN; LOCK TABLE tb_confiture IN ACCESS EXCLUSIVE MODE")
        .expect("lock the ledger");
    for command in DRY_RUNS {
        for wait in ["1s", "0"] {
            let mut args = command.to_vec();
            args.extend(["--lock-wait", wait]);
            let run = project.run_on(&db, &args);
            run.code(exit::LOCK_TIMEOUT)
                .stderr_has("another session holds a lock on it");
            assert!(
                run.elapsed < Duration::from_secs(10),
                "{args:?} waited past its --lock-wait\n{}",
                run.dump()
            );
        }
    }
    holder
        .batch_execute("ROLLBACK")
        .expect("release the ledger");
    for command in DRY_RUNS {
        let (db, mut holder, run) =
            interrupted_behind_a_ledger_lock(&project, "dry_sigint", command, false);
        run.code(exit::INTERRUPTED)
            .stderr_has("interrupted")
            .stderr_lacks("committed")
            .stderr_lacks("nothing was undone");
        release_and_check_untouched(&mut holder, &db, &format!("{command:?}"), &run);
    }
}

/// A statement that outlives every cancel request: it catches `query_canceled` and sleeps on
/// until 30 s after it started. The first signal's stop waits on it, as it would on any
/// statement the server is slow to cancel, so only the second signal ends the run.
///
/// One long `pg_sleep` until the deadline, not many short ones: the server acts on a cancel at
/// its next interrupt check, and the checks between two sleeps lie outside the block that
/// catches it — a cancel arriving there (under load, now and then) ended the statement, and the
/// run with it (a flaky fleet test in CI). Now such a check follows only a cancel just caught.
fn ignores_cancels() -> String {
    ignores_cancels_when("true")
}

/// [`ignores_cancels`]'s statement when `condition` holds (SQL), a no-op otherwise.
fn ignores_cancels_when(condition: &str) -> String {
    format!(
        "DO $$ DECLARE until timestamptz := clock_timestamp() + interval '30 s'; BEGIN \
         IF {condition} THEN WHILE clock_timestamp() < until LOOP BEGIN \
         PERFORM pg_sleep(extract(epoch FROM until - clock_timestamp())); \
         EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END IF; END $$;\n"
    )
}

/// [`ignores_cancels`] only on the databases `names`: a fleet with targets that finish and
/// targets that hang.
fn ignores_cancels_on(names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    ignores_cancels_when(&format!("current_database() IN ({})", names.join(", ")))
}

/// `kill -INT` of `child`.
fn send_sigint(child: &std::process::Child) {
    send_signal(child.id(), "-INT");
}

/// Sends SIGINT to `child` (whose run is stuck in a statement that ignores cancels), checks
/// that it goes on stopping, then sends the second SIGINT and returns what it printed: it
/// must exit at once.
fn interrupted_twice(child: std::process::Child) -> Run {
    let run = signalled_twice(child);
    // What was running may commit after the exit: never "run the command again" (a `down
    // --steps N` again rolls back N more), `migrate status` says what committed.
    run.stderr_has("`migrate status` says")
        .stderr_lacks("again to finish");
    run
}

/// [`interrupted_twice`]'s signals and exit at once (exit 130, `interrupted again`), whatever
/// the command says of what was running.
fn signalled_twice(mut child: std::process::Child) -> Run {
    send_sigint(&child);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended on the first signal: the statement did not ignore the cancel"
    );
    send_sigint(&child);
    let sent = Instant::now();
    let run = Run::from_output(child.wait_with_output().unwrap(), sent.elapsed());
    assert!(
        run.elapsed < Duration::from_secs(5),
        "the second signal did not exit at once\n{}",
        run.dump()
    );
    run.code(exit::INTERRUPTED)
        .stderr_has("interrupted again: exiting");
    run
}

/// Ends the backends `pids` (still sleeping through the cancels after the CLI left) and waits
/// until they are gone: the server rolls back what they had not committed.
fn terminate(db: &TestDb, pids: &[i32]) {
    for pid in pids {
        db.connect()
            .execute("SELECT pg_terminate_backend($1)", &[pid])
            .expect("terminate the backend");
    }
    assert!(
        wait_until(Duration::from_secs(20), || db.other_backends().is_empty()),
        "the CLI's sessions are still there: {:?}",
        db.other_backends()
    );
}

/// A second Ctrl-C (or SIGTERM) exits at once; with `--format json` it used to leave stdout
/// empty (h16 F10): a deploy script could not tell what had committed. Now the exit writes the
/// error document — `kind` `interrupted`, `committed`: the migrations known to have
/// committed, `unknown`: the one that was running (rolled back by the server unless its commit
/// had been sent, `status` tells) — built from what the process already knew, without waiting
/// on the database. `up` and `down`, each direction's own words.
#[test]
fn a_second_signal_with_json_still_writes_one_document_of_what_committed() {
    let up = project(
        &format!("CREATE TABLE t_partial (a int);\n{}", ignores_cancels()),
        "DROP TABLE t_partial;\n",
    );
    let down = project(
        "CREATE TABLE t_partial (a int);\n",
        &format!("DROP TABLE t_partial;\n{}", ignores_cancels()),
    );
    // Each command, what it changes before the hang (the migrations travel in one message with
    // 002: none is known to have committed at the exit), and the ledger after.
    let cases: [(&Project, &[&str], &str, &[&str]); 2] = [
        (&up, &["migrate", "up"], "001", &["001:create_tb_user"]),
        (
            &down,
            &["migrate", "down", "--steps", "3"],
            "003",
            &["001:create_tb_user", "002:slow"],
        ),
    ];
    for (project, command, changed, ledger) in cases {
        let db = TestDb::new("sigint_twice");
        if command[1] == "down" {
            project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
        }
        let mut args = command.to_vec();
        args.extend(["--format", "json"]);
        let child = project.spawn_on(&db, &args);
        let pid =
            db.wait_for_sleeping_backend(&format!("{command:?}: the slow migration never ran"));
        let run = interrupted_twice(child);
        let doc = run.json();
        // The run's own report, as its interrupted run writes it: `applied` (`rolled_back`),
        // `unknown`, its error in `errors` (h17 F2).
        let done = if command[1] == "down" {
            "rolled_back"
        } else {
            "applied"
        };
        let error = &doc["errors"][0];
        assert_eq!(doc[done], error["committed"], "{}", run.dump());
        assert_eq!(doc["unknown"], error["unknown"], "{}", run.dump());
        assert_eq!(error["kind"], "interrupted", "{}", run.dump());
        assert_eq!(error["exit_code"], 130, "{}", run.dump());
        let list = |key: &str| -> Vec<String> {
            serde_json::from_value(error[key].clone()).expect("a list of versions")
        };
        let (committed, unknown) = (list("committed"), list("unknown"));
        assert!(
            unknown.contains(&"002".to_string()),
            "{command:?}: the hung migration is not unknown\n{}",
            run.dump()
        );
        // What the document says committed did; what changed is in the document.
        assert!(
            committed.iter().all(|v| v == changed),
            "{command:?}\n{}",
            run.dump()
        );
        assert!(
            committed.iter().chain(&unknown).any(|v| v == changed),
            "{command:?}: {changed} changed and the document does not say so\n{}",
            run.dump()
        );
        terminate(&db, &[pid]);
        let expected: Vec<String> = ledger.iter().map(|s| s.to_string()).collect();
        assert_eq!(db.ledger(), Some(expected), "{command:?}\n{}", run.dump());
    }
}

/// A fleet's second signal (h16 F10): stdout held nothing, not even which targets had
/// finished. Now the error document has, beside the error, every target of the list with the
/// state known at the exit — `done` (its own exit code), `interrupted` (running: exit 130, its
/// `unknown` migration rolled back by the server unless its commit had been sent), `not_started`
/// — and each one's `committed`.
#[test]
fn a_fleets_second_signal_with_json_still_writes_every_targets_state() {
    let dbs = TestDbs::new("fleet_twice", 4);
    let names: Vec<&str> = dbs.dbs.iter().map(|db| db.name.as_str()).collect();
    // Two at a time: the first finishes, the second and third hang, the fourth never starts.
    let project = project(
        &format!(
            "CREATE TABLE t_partial (a int);\n{}",
            ignores_cancels_on(&names[1..3])
        ),
        "DROP TABLE t_partial;\n",
    );
    project.write("tenants.txt", format!("{}\n", names.join("\n")));
    let url = server().url("postgres");
    let fleet = [
        "--targets",
        "tenants.txt",
        "--jobs",
        "2",
        "--format",
        "json",
    ];
    let child = project.spawn(&[&["migrate", "up", "--database-url", &url][..], &fleet].concat());
    let mut pids = vec![None, None];
    let hanging = wait_until(Duration::from_secs(60), || {
        for (pid, db) in pids.iter_mut().zip(&dbs.dbs[1..3]) {
            *pid = pid.or_else(|| db.sleeping_backend());
        }
        pids.iter().all(Option::is_some)
    });
    assert!(hanging, "the second and third targets never hung in 002");
    assert_eq!(dbs.dbs[0].ledger().map(|l| l.len()), Some(3));
    let run = interrupted_twice(child);
    let doc = run.json();
    let error = &doc["errors"][0];
    assert_eq!(error["kind"], "interrupted", "{}", run.dump());
    let targets = doc["targets"].as_array().expect("targets[]");
    assert_eq!(targets.len(), 4, "{}", run.dump());
    let all = serde_json::json!(["001", "002", "003"]);
    let expected = [
        ("done", serde_json::json!(0), all, serde_json::json!([])),
        // The three travel in one message: none is known to have committed.
        (
            "interrupted",
            serde_json::json!(130),
            serde_json::json!([]),
            serde_json::json!(["001", "002", "003"]),
        ),
        (
            "interrupted",
            serde_json::json!(130),
            serde_json::json!([]),
            serde_json::json!(["001", "002", "003"]),
        ),
        (
            "not_started",
            serde_json::Value::Null,
            serde_json::json!([]),
            serde_json::json!([]),
        ),
    ];
    for ((entry, db), (state, code, committed, unknown)) in
        targets.iter().zip(&dbs.dbs).zip(expected)
    {
        let shown = db.display();
        assert_eq!(entry["target"], shown, "{}", run.dump());
        assert_eq!(entry["state"], state, "{shown}\n{}", run.dump());
        assert_eq!(entry["exit_code"], code, "{shown}\n{}", run.dump());
        assert_eq!(entry["committed"], committed, "{shown}\n{}", run.dump());
        assert_eq!(entry["unknown"], unknown, "{shown}\n{}", run.dump());
    }
    for (db, pid) in dbs.dbs[1..3].iter().zip(pids) {
        terminate(db, &[pid.unwrap()]);
        assert_eq!(
            db.ledger(),
            Some(vec!["001:create_tb_user".to_string()]),
            "{}",
            run.dump()
        );
    }
    assert!(dbs.dbs[3].ledger().is_none(), "{}", run.dump());
}

/// A pooler or proxy that stops forwarding (its process frozen, its kernel still accepting and
/// acknowledging): the first signal's cancel request never reaches the server, nor does the
/// statement's end reach the run, which waited forever, and the second signal said the server
/// rolls back the migration — which may commit all the same. The stop is bounded
/// (`STOP_WAIT`): exit 130 seconds later, saying that whether the running migration committed
/// is unknown and where to look, never that it was rolled back. SIGINT and SIGTERM alike.
///
/// What it writes (h17 F2) was the second signal's: "interrupted again" after one signal,
/// `database` null, and no `not_attempted` for the migrations never started. Now it is what
/// the run's own interrupted report is, the same keys (`migrate up`'s report, its error object)
/// and the same truth: the database (without the password), what committed, the migration
/// cut (fate unknown), those not attempted — on stderr too, with `migrate status` to see.
#[test]
fn a_stop_behind_a_frozen_proxy_is_bounded_and_says_the_fate_is_unknown() {
    let project = slow_up();
    // The keys of a run's own interrupted document, top-level and of its error.
    let normal = {
        let db = TestDb::new("frozen_proxy_normal");
        interrupted(&project, &db, &["migrate", "up", "--format", "json"]).json()
    };
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut keys: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
        keys.sort();
        keys
    };
    for (with, json) in [("-INT", true), ("-TERM", false)] {
        let db = TestDb::new("frozen_proxy");
        let proxy = confiture_tests::proxy::ClientCutProxy::start();
        let mut args = vec!["migrate", "up", "--database-url"];
        let url = proxy.url(&db.name);
        args.push(&url);
        if json {
            args.extend(["--format", "json"]);
        }
        let child = project.spawn(&args);
        let pid = db.wait_for_sleeping_backend("the slow migration never ran");
        proxy.freeze();
        send_signal(child.id(), with);
        let sent = Instant::now();
        let mut child = child;
        let ended = wait_until(Duration::from_secs(20), || {
            child.try_wait().expect("the CLI's status").is_some()
        });
        if !ended {
            let _ = child.kill();
        }
        let run = Run::from_output(child.wait_with_output().unwrap(), sent.elapsed());
        // The server's session, which the frozen proxy keeps open, ends with the test.
        db.connect()
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .unwrap();
        assert!(ended, "no exit 20 s after {with}\n{}", run.dump());
        // The library's bound (`confiture::migrate::STOP_WAIT`): its report, the CLI's own exit
        // (`no answer 7 s after the cancel request`) never needed.
        run.code(exit::INTERRUPTED)
            .stderr_has("whether the running migration committed is unknown")
            .stderr_has("the server did not answer the stop within 5 s")
            .stderr_lacks("no answer 7 s after")
            .stderr_has("applied before the failure: 001")
            .stderr_has(
                "fate unknown (they may have committed; run `cargo confiture migrate status",
            )
            .stderr_has("not attempted: 003")
            .stderr_lacks("interrupted again")
            .stderr_lacks("rolled back and");
        if !json {
            continue;
        }
        let doc = run.json();
        assert_eq!(keys(&doc), keys(&normal), "{}", run.dump());
        let error = &doc["errors"][0];
        assert_eq!(keys(error), keys(&normal["errors"][0]), "{}", run.dump());
        assert_eq!(error["kind"], "interrupted", "{}", run.dump());
        assert_eq!(error["exit_code"], 130, "{}", run.dump());
        let message = error["message"].as_str().expect("a message");
        assert!(
            message.contains("did not answer the stop within 5 s") && !message.contains("again"),
            "{}",
            run.dump()
        );
        let database = format!("{}@127.0.0.1:{}/{}", server().user, proxy.port(), db.name);
        assert_eq!(error["database"], database.as_str(), "{}", run.dump());
        assert_eq!(error["version"], "002", "{}", run.dump());
        assert_eq!(error["name"], "slow", "{}", run.dump());
        let list = |v: &[&str]| serde_json::json!(v);
        assert_eq!(error["committed"], list(&["001"]), "{}", run.dump());
        assert_eq!(error["unknown"], list(&["002"]), "{}", run.dump());
        assert_eq!(error["not_attempted"], list(&["003"]), "{}", run.dump());
        assert_eq!(doc["applied"], list(&["001"]), "{}", run.dump());
        assert_eq!(doc["unknown"], list(&["002"]), "{}", run.dump());
        assert_eq!(doc["skipped"], list(&["003"]), "{}", run.dump());
        assert_eq!(doc["migrations"][0]["version"], "001", "{}", run.dump());
    }
}

/// The library's stop (`Migrator::stop_when`) made its cancel request with no bound, holding
/// the lock its runner takes before its next query: a request that a pooler or proxy accepts
/// and never answers (here its TLS negotiation, `sslmode=require`, never answered) held the run
/// forever, although its statement ended on the server. The request is now given up after 3 s,
/// within `confiture::migrate::STOP_WAIT`, and the run goes on to its own report, before the
/// command's bound: what its statement's message applied, nothing more started.
#[test]
fn the_librarys_stop_gives_up_a_cancel_request_that_gets_no_answer() {
    use confiture::migrate::{no_progress, UpOptions, STOP_WAIT};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let project = Project::new();
    project.migration("001_slow", "SELECT pg_sleep(2);\n", "SELECT 1;\n");
    let db = TestDb::new("stop_unanswered");
    let proxy = confiture_tests::proxy::ClientCutProxy::start();
    let url = proxy
        .url(&db.name)
        .replace("sslmode=disable", "sslmode=require");
    let env = confiture::config::Environment::from_url(&url, "test").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut migrator = confiture::Migrator::new(
        env,
        project.path("db/migrations"),
        confiture::files::CheckOptions::default(),
    )
    .stop_when(stop.clone());
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(
            migrator
                .up(&UpOptions::default(), &mut no_progress)
                .map_err(|failed| failed.error.kind),
        );
    });
    let sleeping = wait_until(Duration::from_secs(30), || db.sleeping_backend().is_some());
    assert!(sleeping, "the slow migration never ran");
    proxy.freeze_new();
    let stopped = Instant::now();
    stop.store(true, Ordering::SeqCst);
    let outcome = outcome.recv_timeout(STOP_WAIT + Duration::from_secs(10));
    assert!(
        outcome.is_ok(),
        "the run did not return {:?} after the stop (the cancel request held it)",
        stopped.elapsed()
    );
    // The statement was not cancelled: its message committed, and nothing was left to start.
    assert!(
        outcome.unwrap().is_ok(),
        "the run failed {:?} after the stop",
        stopped.elapsed()
    );
    assert!(stopped.elapsed() < STOP_WAIT, "{:?}", stopped.elapsed());
    assert_eq!(db.ledger(), Some(vec!["001:slow".to_string()]));
}

/// The library's stop behind a frozen proxy (neither the cancel request nor the statement's
/// end gets through, and the proxy's kernel still acknowledges: no keepalive fails) held
/// `Migrator::up` forever: only the CLI, which exits, had a bound. The command now returns
/// `confiture::migrate::STOP_WAIT` after the stop, `interrupted`, with what its progress said:
/// the database, what committed, the migration whose fate is unknown, the rest not attempted.
#[test]
fn the_librarys_stop_behind_a_frozen_proxy_returns_after_stop_wait() {
    use confiture::migrate::{no_progress, UpOptions, STOP_WAIT};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let project = slow_up();
    let db = TestDb::new("stop_frozen_lib");
    let proxy = confiture_tests::proxy::ClientCutProxy::start();
    let env = confiture::config::Environment::from_url(&proxy.url(&db.name), "test").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut migrator = confiture::Migrator::new(
        env,
        project.path("db/migrations"),
        confiture::files::CheckOptions::default(),
    )
    .stop_when(stop.clone());
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(
            migrator
                .up(&UpOptions::default(), &mut no_progress)
                .map_err(Box::new),
        );
    });
    let pid = db.wait_for_sleeping_backend("the slow migration never ran");
    proxy.freeze();
    let stopped = Instant::now();
    stop.store(true, Ordering::SeqCst);
    let outcome = outcome.recv_timeout(STOP_WAIT + Duration::from_secs(10));
    let elapsed = stopped.elapsed();
    // The server's session, which the frozen proxy keeps open, ends with the test.
    db.connect()
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap();
    let failed = outcome
        .unwrap_or_else(|_| panic!("Migrator::up did not return {elapsed:?} after the stop"))
        .expect_err("the run was stopped");
    assert!(elapsed >= STOP_WAIT, "returned after {elapsed:?}");
    assert_eq!(
        failed.error.kind,
        confiture::ErrorKind::Interrupted,
        "{}",
        failed.error
    );
    let message = failed.error.to_string();
    assert!(
        message.contains("did not answer the stop within 5 s"),
        "{message}"
    );
    let reported = &failed.report.errors[0];
    let database = format!("{}@127.0.0.1:{}/{}", server().user, proxy.port(), db.name);
    assert_eq!(reported.database.as_deref(), Some(database.as_str()));
    assert_eq!(reported.version.as_deref(), Some("002"));
    assert_eq!(reported.committed, ["001"]);
    assert_eq!(reported.unknown, ["002"]);
    assert_eq!(reported.not_attempted, ["003"]);
    assert_eq!(failed.report.applied, ["001"]);
    assert_eq!(failed.report.unknown, ["002"]);
    assert_eq!(failed.report.skipped, ["003"]);
}

/// `nohup cargo confiture migrate up &` keeps running when the ssh session ends: a SIGHUP or
/// SIGINT the process inherited ignored (`nohup`, a background job of a non-interactive
/// shell) stays ignored, as POSIX tools leave it; the CLI's handler replaced the `SIG_IGN`, so
/// the hang-up cancelled the migration `nohup` was meant to keep alive (exit 130). SIGTERM is
/// still handled (the test above), and a foreground run still stops on SIGHUP.
#[test]
fn signals_inherited_ignored_stay_ignored() {
    let project = Project::new();
    project
        .migration(
            "001_slow",
            "CREATE TABLE t_slow (a int);\nSELECT pg_sleep(2);\n",
            "DROP TABLE t_slow;\n",
        )
        .migration(
            "002_after",
            "CREATE TABLE t_after (a int);\n",
            "DROP TABLE t_after;\n",
        );
    let db = TestDb::new("signal_ignored");
    // The CLI under test, started through a shell whose `trap ''` sets SIG_IGN, which `exec`
    // passes on (what `nohup` does for SIGHUP).
    let template = project.cli();
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg("trap '' HUP INT; exec \"$0\" \"$@\"")
        .arg(template.get_program())
        .args(template.get_args())
        .args(["migrate", "up", "--database-url", &db.url()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in template.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    if let Some(dir) = template.get_current_dir() {
        command.current_dir(dir);
    }
    let child = command.spawn().expect("spawn the CLI through sh");
    assert!(
        wait_until(Duration::from_secs(30), || db.sleeping_backend().is_some()),
        "the slow migration never ran: {:?}",
        db.other_backends()
    );
    for with in ["-HUP", "-INT"] {
        // Not `send_signal`, which refuses to signal a process that ignores the signal: that
        // is this test's point.
        let status = std::process::Command::new("kill")
            .args([with, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let run = Run::reaped(child);
    run.code(exit::SUCCESS);
    assert!(!run.dump().contains("stopping"), "{}", run.dump());
    assert_eq!(
        db.ledger(),
        Some(vec!["001:slow".to_string(), "002:after".to_string()]),
        "{}",
        run.dump()
    );
}

/// The user's `--targets-query` / `--schemas-query` runs under the database's (or role's)
/// `statement_timeout`, as any SQL of the user's does: its session carried
/// `statement_timeout=0` in its startup packet, as the tool's own reads do, and a query
/// sleeping past the database's bound ran on. A Ctrl-C while it runs ends the command at once
/// (exit 130), and the query on the server with it.
#[test]
fn a_list_query_keeps_the_database_statement_timeout_and_a_ctrl_c_ends_it() {
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a ();\n", "DROP TABLE a;\n");
    let db = TestDb::new("list_query_timeout");
    db.set_for_new_sessions("statement_timeout", "300ms");
    for flag in ["--targets-query", "--schemas-query"] {
        project
            .run_on(
                &db,
                &[
                    "migrate",
                    "status",
                    flag,
                    "SELECT pg_catalog.pg_sleep(5)::text",
                ],
            )
            .code(exit::INVALID)
            .stderr_has("canceling statement due to statement timeout");
    }
    let name = &db.name;
    db.connect()
        .batch_execute(&format!(
            "ALTER DATABASE \"{name}\" RESET statement_timeout"
        ))
        .unwrap();
    for flag in ["--targets-query", "--schemas-query"] {
        let child = spawn(
            &project,
            &db,
            &[
                "migrate",
                "status",
                flag,
                "SELECT pg_catalog.pg_sleep(30)::text",
            ],
        );
        let pid = db.wait_for_sleeping_backend(&format!("{flag}: the query never ran"));
        let run = interrupt(child);
        run.code(exit::INTERRUPTED).stderr_has("interrupted before");
        assert!(
            wait_until(Duration::from_secs(5), || !backend_busy(&db, pid)),
            "{flag}: the query still runs after the CLI exited\n{}",
            run.dump()
        );
    }
}

/// `baseline` on the one target its `--schemas-query` (`--targets-query`) chose, stopped by a
/// signal: the first's help said to run it again with `--schemas-query <SQL>` (which cannot be
/// pasted, and may return another tenant), and the second's JSON document said `"schema":
/// null` for a tenant — the exit at once rendered with the command line's output, before its
/// list had chosen a target. Both name the target: its JSON `schema`, and every suggested
/// command `--schema NAME` (a database listed by name: a list of that name alone).
#[test]
fn a_stopped_rewrite_on_a_target_its_list_chose_names_that_target() {
    let dbs = TestDbs::new("sigint_chosen", 2);
    let (home, one) = (&dbs.dbs[0], &dbs.dbs[1]);
    let project = project(
        "CREATE TABLE t_partial (a int);\n",
        "DROP TABLE t_partial;\n",
    );
    project.write(
        "db/environments/q.yaml",
        format!("name: q\ndatabase_url: {}\n", home.url()),
    );
    home.connect()
        .batch_execute("CREATE SCHEMA t_a")
        .expect("a tenant schema");
    let by_name = format!("SELECT '{}'", one.name);
    let named = format!("--env q --targets <(echo {})`", one.name);
    // (the list, the database it writes in, its JSON `schema`, how suggestions select it)
    let cases: [(&[&str], &TestDb, Option<&str>, &str); 2] = [
        (
            &["--schemas-query", "SELECT 't_a'"],
            home,
            Some("t_a"),
            "--env q --schema t_a`",
        ),
        (&["--targets-query", &by_name], one, None, &named),
    ];
    let spawn = |list: &[&str]| {
        project.spawn(
            &[
                &["migrate", "--env", "q", "baseline", "--through", "3"][..],
                list,
                &["--format", "json"],
            ]
            .concat(),
        )
    };
    for (list, db, schema, words) in cases {
        let what = format!("{list:?}");
        // The first signal: the rewrite is cancelled; its help runs it again on that target.
        db.connect()
            .batch_execute(&new_ledgers_sleeping(SLOW_NEW_LEDGER))
            .expect("make new ledgers slow to write");
        let child = spawn(list);
        db.wait_for_sleeping_backend(&what);
        let run = interrupt(child);
        run.code(exit::INTERRUPTED);
        let again = format!("`cargo confiture migrate baseline --through 3 {words}");
        let doc = run.json();
        assert_eq!(doc["schema"].as_str(), schema, "{what}\n{}", run.dump());
        let help = doc["errors"][0]["help"].as_str().unwrap_or_default();
        assert!(help.contains(&again), "{what}: {again}\n{}", run.dump());
        run.stderr_has(&again).stderr_lacks("<SQL>");

        // The second signal: the document of the exit at once.
        db.connect()
            .batch_execute(
                "DROP EVENT TRIGGER slow_new_ledger; DROP FUNCTION slow_new_ledger(); \
                 DROP FUNCTION slow_ledger_row()",
            )
            .expect("drop the slow ledger");
        db.connect()
            .batch_execute(&new_ledgers_sleeping(STUCK_NEW_LEDGER))
            .expect("make new ledgers stuck");
        let child = spawn(list);
        let pid = db.wait_for_sleeping_backend(&what);
        let run = signalled_twice(child);
        run.stderr_lacks("<SQL>");
        let doc = run.json();
        assert_eq!(doc["schema"].as_str(), schema, "{what}\n{}", run.dump());
        assert_eq!(
            doc["error"]["schema"].as_str(),
            schema,
            "{what}\n{}",
            run.dump()
        );
        let status = format!("`cargo confiture migrate status {words}");
        let help = doc["error"]["help"].as_str().unwrap_or_default();
        assert!(help.contains(&status), "{what}: {status}\n{}", run.dump());
        run.stderr_has(&status);
        terminate(db, &[pid]);
    }
    assert_eq!(home.ledger(), None, "the environment's own database");
}
