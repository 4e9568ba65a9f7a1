//! `migrate verify` and `migrate drift` through the real CLI: the table and the JSON report,
//! exit codes, Ctrl-C during a run (the scratch database is dropped), a role that may not
//! create databases (the error names `--scratch-url`, which then works), and `drift` leaving
//! the live database exactly as it was.

use std::time::{Duration, Instant};

use confiture::exit;
use confiture_test_support::reaper::DropRoleLater;
use confiture_tests::{
    admin, send_signal, server, slow_project, spawn_asleep_on_scratch, unique, wait_until, Project,
    Run, TestDb,
};

/// Sends `signal` (`-INT`, `-TERM`) to `child` and waits for it: its run, timed from the signal.
fn signalled(child: std::process::Child, signal: &str) -> Run {
    let sent = Instant::now();
    send_signal(child.id(), signal);
    Run::from_output(child.wait_with_output().unwrap(), sent.elapsed())
}

/// [`signalled`], for a `child` asleep on scratch database `scratch`: also how long after the
/// signal its statement there stopped sleeping (cancelled, or its session ended by the drop),
/// as the server shows it. That, not the run's duration, says whether the stop landed: the
/// run also waits for the drop of the scratch database, and PostgreSQL's `DROP DATABASE`
/// waits until every session of the server has taken in a signal barrier (`ProcSignalBarrier`)
/// — on a loaded server, seen to take 30 to 90 s whatever the run does.
fn signalled_asleep(child: std::process::Child, signal: &str, scratch: &str) -> (Run, Duration) {
    let sent = Instant::now();
    let name = scratch.to_string();
    let watched = std::thread::spawn(move || {
        let mut admin = admin();
        loop {
            let asleep: bool = admin
                .query_one(
                    "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = $1 \
                     AND wait_event = 'PgSleep')",
                    &[&name],
                )
                .unwrap()
                .get(0);
            if !asleep || sent.elapsed() > Duration::from_secs(120) {
                return sent.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let run = signalled(child, signal);
    (run, watched.join().unwrap())
}

/// How soon the statement asleep on a scratch database must stop after the signal (the
/// migrations sleep 60 s there): the cancel request, or the drop that ends its session.
const STOPPED_WITHIN: Duration = Duration::from_secs(30);

fn database_exists(name: &str) -> bool {
    admin()
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)",
            &[&name],
        )
        .unwrap()
        .get(0)
}

/// The scratch databases a run announced on stderr.
fn scratch_names(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("created the scratch database \""))
        .filter_map(|l| l.split('"').next())
        .map(str::to_string)
        .collect()
}

/// Every scratch database `run` announced is gone (also used by `cli_verify_kinds`).
#[track_caller]
pub(crate) fn assert_scratch_dropped(run: &Run) {
    let names = scratch_names(&run.stderr);
    assert!(
        !names.is_empty(),
        "no scratch database announced\n{}",
        run.dump()
    );
    for name in names {
        assert!(
            !database_exists(&name),
            "{name} left behind\n{}",
            run.dump()
        );
    }
}

#[test]
fn verify_the_example_as_a_table_and_as_json() {
    let db = TestDb::unborn("verify_example");
    let project = Project::example();
    let run = project.run_on(&db, &["migrate", "verify"]);
    run.code(exit::SUCCESS)
        .stdout_has("001_initial_schema            ✓ reversible")
        .stdout_has("006_index_tb_comment_fk_post  ✓ reversible")
        .stdout_has("6 reversible (6 migrations in ");
    assert_scratch_dropped(&run);
    // The target database is not needed, and not created.
    assert!(!db.exists());

    let run = project.run_on(&db, &["migrate", "verify", "--format", "json", "-q"]);
    run.code(exit::SUCCESS);
    let json = run.json();
    assert_eq!(json["passed"], true);
    let results: Vec<&str> = json["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["reversible"; 6]);
    assert_eq!(json["summary"]["reversible"], 6);
}

fn wrong_down_project() -> Project {
    let project = Project::new();
    project
        .migration(
            "001_create_tb_post",
            "CREATE TABLE tb_post (id bigint PRIMARY KEY, slug text);\n",
            "DROP TABLE tb_post;\n",
        )
        .migration(
            "002_add_comment_views",
            "CREATE INDEX idx_tb_post_slug ON tb_post (slug);\n",
            "SELECT 1; -- forgot the index\n",
        );
    project
}

#[test]
fn a_wrong_down_exits_9_with_an_object_level_diff() {
    let db = TestDb::unborn("verify_wrong");
    let project = wrong_down_project();
    let run = project.run_on(&db, &["migrate", "verify"]);
    run.code(exit::SCHEMA_CHECK_FAILED)
        .stdout_has("002_add_comment_views  ✗ down does not restore the schema")
        .stdout_has(
            "db/migrations/002_add_comment_views.down.sql does not restore the schema of before its up:\n    index public.idx_tb_post_slug: left behind by 002_add_comment_views.down.sql",
        )
        .stderr_has("help: fix db/migrations/002_add_comment_views.down.sql, then run the command again");
    assert_scratch_dropped(&run);

    // The rerun is the command as given, its `--from` too.
    let run = project.run_on(&db, &["migrate", "verify", "--from", "002"]);
    run.code(exit::SCHEMA_CHECK_FAILED).stderr_has(
        "help: fix db/migrations/002_add_comment_views.down.sql, then run the command again",
    );
    assert_scratch_dropped(&run);

    let run = project.run_on(&db, &["migrate", "verify", "--format", "json"]);
    run.code(exit::SCHEMA_CHECK_FAILED);
    let json = run.json();
    assert_eq!(json["passed"], false);
    let finding = &json["migrations"][1]["findings"][0];
    assert_eq!(finding["difference"], "extra");
    assert_eq!(finding["object"]["kind"], "index");
    assert_eq!(finding["object"]["name"], "public.idx_tb_post_slug");
    assert_eq!(json["migrations"][1]["result"], "down_does_not_restore");
}

#[test]
fn from_must_be_a_version() {
    let project = wrong_down_project();
    let db = TestDb::unborn("verify_from");
    project
        .run_on(&db, &["migrate", "verify", "--from", "x"])
        .code(exit::USAGE)
        .stderr_has("--from \"x\"");
    project
        .run_on(&db, &["migrate", "verify", "--from", "9"])
        .code(exit::USAGE)
        .stderr_has("no migration has version 9 or above");
}

/// Ctrl-C (SIGINT) or SIGTERM while a migration runs on the scratch database: the scratch
/// database is dropped and the run ends with 130, promptly.
#[test]
fn ctrl_c_during_verify_drops_the_scratch_database() {
    let db = TestDb::unborn("verify_sigint");
    let project = slow_project();
    for signal in ["-INT", "-TERM"] {
        let (child, scratch) = spawn_asleep_on_scratch(
            &project,
            &["migrate", "verify", "--database-url", &db.url()],
        );
        let (run, slept) = signalled_asleep(child, signal, &scratch);
        // The migration cut short is never called failed: the signal is also the run's stop
        // flag, so the library reports it `interrupted` (its `Checked` event), and the signal
        // thread waits for that report before its drop ends the process (the line was missing
        // whenever the drop came first).
        run.code(exit::INTERRUPTED)
            .stderr_has(&format!(
                "interrupted: dropped the scratch database \"{scratch}\""
            ))
            .stderr_lacks("001_slow failed");
        let said: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("001_slow"))
            .collect();
        assert!(
            matches!(said.as_slice(), [line] if line.starts_with("001_slow interrupted")),
            "{signal}: {}",
            run.dump()
        );
        assert!(
            !database_exists(&scratch),
            "{signal}: {scratch} left behind\n{}",
            run.dump()
        );
        assert!(slept < STOPPED_WITHIN, "{slept:?}\n{}", run.dump());
    }
}

/// Ctrl-C while a migration runs on the scratch database, the drop of it then slower than the
/// signal thread's wait for the run's report (a checkpoint on a loaded server; here held back
/// by a session's lock on the database): the signal thread waited for the run's own drop
/// inside its own, then printed its own document first — the error, not the run's report, and
/// without the dropped database's name. The stopped run now leaves the drop to the signal
/// thread, which writes the report first (`a_stopped_run_reports_before_its_slow_scratch_drop`).
#[test]
fn a_slow_drop_of_the_scratch_database_still_ends_with_the_runs_report() {
    let db = TestDb::unborn("verify_slow_drop");
    let project = slow_project();
    for json in [false, true] {
        let mut args = vec!["migrate", "verify", "--database-url"];
        let url = db.url();
        args.push(&url);
        if json {
            args.extend(["--format", "json"]);
        }
        let (child, scratch) = spawn_asleep_on_scratch(&project, &args);
        let mut holder = admin();
        holder
            .batch_execute(&format!(
                "BEGIN; COMMENT ON DATABASE \"{scratch}\" IS 'held'"
            ))
            .unwrap();
        let release = std::thread::spawn(move || {
            // Past the signal thread's wait for the report (`interrupt::STOP_WAIT`, 5 s).
            std::thread::sleep(Duration::from_secs(10));
            holder.batch_execute("COMMIT").unwrap();
        });
        let run = signalled(child, "-INT");
        release.join().unwrap();
        run.code(exit::INTERRUPTED).stderr_has(&format!(
            "interrupted: dropped the scratch database \"{scratch}\""
        ));
        assert!(
            !database_exists(&scratch),
            "{scratch} left behind\n{}",
            run.dump()
        );
        if json {
            let doc = run.json();
            assert_eq!(
                doc["migrations"][0]["result"],
                "interrupted",
                "the run's report\n{}",
                run.dump()
            );
        } else {
            // The run's error, not the signal thread's ("interrupted by a signal").
            run.stderr_has("error: interrupted: migration 001_slow was cancelled");
        }
    }
}

/// A project whose migration `001_slow` sleeps 60 s on scratch databases only (at once
/// anywhere else): a `verify` or `drift` to stop mid-replay.
fn slow_on_scratch() -> Project {
    let project = Project::new();
    project.migration(
        "001_slow",
        "CREATE TABLE t (a int);\nSELECT pg_sleep(CASE WHEN current_database() LIKE \
         'confiture\\_scratch\\_%' THEN 60 ELSE 0 END);\n",
        "DROP TABLE t;\n",
    );
    project
}

/// [`slow_on_scratch`] applied to `db`, with `targets.txt` listing `db`: a fleet of one to
/// stop mid-replay.
fn slow_on_scratch_applied_to(db: &TestDb) -> Project {
    let project = slow_on_scratch();
    project
        .run_on(db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    project.write("targets.txt", format!("{}\n", db.url()));
    project
}

/// What a running child writes, read as it comes: its output before it exits.
struct Reading(
    std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    std::thread::JoinHandle<()>,
);

impl Reading {
    fn of(mut pipe: impl std::io::Read + Send + 'static) -> Reading {
        let read = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let theirs = read.clone();
        let reader = std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buffer) {
                theirs.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        Reading(read, reader)
    }

    /// What was written so far.
    fn so_far(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Everything, once the child has exited.
    fn all(self) -> String {
        let Reading(read, reader) = self;
        reader.join().unwrap();
        let all = read.lock().unwrap();
        String::from_utf8_lossy(&all).into_owned()
    }
}

/// Ctrl-C while a migration runs on the scratch database, the drop of that database then slow
/// (`DROP DATABASE` waits for a checkpoint and for every session of the server to take in a
/// signal barrier: 30 to 90 s on a loaded server; here held back by a session's lock on the
/// database). The stopped run dropped it before it returned its report, so a fleet's report
/// came after the signal thread's wait for it (5 s), which then printed its own near-empty
/// document (JSON) or error (text) instead of the fleet's; one database's report waited for
/// the drop. The stopped run now leaves its scratch database to the signal thread, which
/// writes the report first and drops after: the report is out while the drop still waits —
/// one database or a fleet, `verify` or `drift`, JSON or text — and the database is dropped.
#[test]
fn a_stopped_run_reports_before_its_slow_scratch_drop() {
    let db = TestDb::new("verify_report_first");
    let project = slow_on_scratch_applied_to(&db);
    let url = db.url();
    for command in ["verify", "drift"] {
        for fleet in [false, true] {
            for format in ["json", "table"] {
                let case = format!("{command}, fleet {fleet}, {format}");
                let mut args = vec!["migrate", command, "--database-url", &url];
                if fleet {
                    args.extend(["--targets", "targets.txt"]);
                }
                args.extend(["--format", format]);
                let (mut child, scratch) = spawn_asleep_on_scratch(&project, &args);
                let stdout = Reading::of(child.stdout.take().unwrap());
                let stderr = Reading::of(child.stderr.take().unwrap());
                let mut holder = admin();
                let mut held = holder.transaction().unwrap();
                held.batch_execute(&format!("COMMENT ON DATABASE \"{scratch}\" IS 'held'"))
                    .unwrap();
                send_signal(child.id(), "-INT");
                // The report says the run was interrupted: the fleet's table or document, one
                // database's document or error (text: on stderr).
                let reported = |out: &str, err: &str| match (format, fleet) {
                    ("json", true) => serde_json::from_str::<serde_json::Value>(out)
                        .is_ok_and(|doc| doc["targets"][0]["state"] == "interrupted"),
                    // The run's own report, not one made up without it: what it checked.
                    ("json", false) => {
                        serde_json::from_str::<serde_json::Value>(out).is_ok_and(|doc| {
                            doc["errors"][0]["kind"] == "interrupted"
                                && (doc["migrations"][0]["result"] == "interrupted"
                                    || doc["scratch_databases"][0] == scratch.as_str())
                        })
                    }
                    (_, true) => out.contains("interrupted (exit 130)"),
                    (_, false) => err.contains("error: interrupted: migration 001_slow"),
                };
                // Written while the drop still waits (`STOP_WAIT`, 5 s, is long past when it
                // was not).
                let first = wait_until(Duration::from_secs(20), || {
                    reported(&stdout.so_far(), &stderr.so_far())
                });
                let still_there = database_exists(&scratch);
                let written = stdout.so_far();
                held.rollback().unwrap();
                let status = child.wait().unwrap();
                let run = Run {
                    code: status.code().unwrap_or(-1),
                    stdout: stdout.all(),
                    stderr: stderr.all(),
                    elapsed: Duration::ZERO,
                };
                assert!(
                    first,
                    "{case}: no report while the drop waited\n{}",
                    run.dump()
                );
                assert!(still_there, "{case}: the drop was not held\n{}", run.dump());
                // One document, the one written before the drop.
                assert_eq!(run.stdout, written, "{case}\n{}", run.dump());
                run.code(exit::INTERRUPTED)
                    .stderr_lacks("failed:")
                    .stderr_has(&format!(
                        "interrupted: dropped the scratch database \"{scratch}\""
                    ));
                if format == "json" {
                    let doc = run.json();
                    let error = match fleet {
                        true => &doc["targets"][0]["error"],
                        false => &doc["errors"][0],
                    };
                    assert_eq!(error["kind"], "interrupted", "{case}\n{}", run.dump());
                }
                assert!(
                    !database_exists(&scratch),
                    "{case}: {scratch} left behind\n{}",
                    run.dump()
                );
            }
        }
    }
}

/// Ctrl-C while a migration's up runs the second time (after its down, the repeatability
/// step): the cancelled statement was taken for the up's own failure, and the migration was
/// reported `up not repeatable after its down`, a false finding. It is `interrupted`,
/// whichever of its steps the signal stopped (the first up is covered above).
#[test]
fn ctrl_c_during_the_second_up_is_interrupted_not_a_finding() {
    let db = TestDb::unborn("verify_sigint_again");
    let project = Project::new();
    // Asleep only when run again: its down leaves a mark outside the schema (the scratch
    // database's comment), which the second run of the up reads. The statement is built from
    // pieces: `COMMENT ON DATABASE` of a name the refusal of server-wide statements cannot
    // read would be refused before the replay.
    project.migration(
        "001_slow",
        "CREATE TABLE t (a int);\nSELECT pg_sleep(CASE WHEN shobj_description((SELECT oid FROM \
         pg_database WHERE datname = current_database()), 'pg_database') = 'down ran' THEN 60 \
         ELSE 0 END);\n",
        "DROP TABLE t;\nDO $$ BEGIN EXECUTE format('COMMENT ON ' || 'DATABASE %I IS ''down ran''', \
         current_database()); END $$;\n",
    );
    let url = db.url();
    for json in [false, true] {
        let mut args = vec!["migrate", "verify", "--database-url", url.as_str()];
        if json {
            args.extend(["--format", "json"]);
        }
        let (child, scratch) = spawn_asleep_on_scratch(&project, &args);
        let run = signalled(child, "-INT");
        run.code(exit::INTERRUPTED)
            .stderr_lacks("not repeatable")
            .stderr_has("001_slow interrupted");
        if json {
            let doc = run.json();
            // The report, the interruption in its `errors` and the migration `interrupted`.
            assert_eq!(doc["errors"][0]["kind"], "interrupted", "{}", run.dump());
            assert_eq!(doc["summary"]["interrupted"], 1, "{}", run.dump());
        }
        assert!(
            !database_exists(&scratch),
            "{scratch} left behind\n{}",
            run.dump()
        );
    }
}

/// A migration's session ended (`pg_terminate_backend`) or its statement cancelled
/// (`pg_cancel_backend`) by another session, at each step of its check: its first up, its
/// down, its up run again. The second up's failure, whatever it was, was a finding (`up not
/// repeatable`, exit 9, no error); only its SQL refused is one: otherwise the run's error,
/// with the exit code the same failure has at the other steps (3 for a lost session, 4 for a
/// cancelled statement), and the scratch database dropped.
#[test]
fn a_failure_that_is_not_the_migrations_sql_is_the_runs_error_at_every_step() {
    let db = TestDb::unborn("verify_not_own");
    let url = db.url();
    // Each file sleeps in one step only: the down leaves a mark outside the schema (the
    // scratch database's comment), which the up run again reads (see
    // `ctrl_c_during_the_second_up_is_interrupted_not_a_finding`).
    let marked = "shobj_description((SELECT oid FROM pg_database WHERE datname = \
                  current_database()), 'pg_database') = 'down ran'";
    let mark = "DO $$ BEGIN EXECUTE format('COMMENT ON ' || 'DATABASE %I IS ''down ran''', \
                current_database()); END $$;\n";
    for (step, first, down, again) in [
        ("first up", 60, 0, 0),
        ("down", 0, 60, 0),
        ("second up", 0, 0, 60),
    ] {
        let project = Project::new();
        project.migration(
            "001_slow",
            &format!(
                "CREATE TABLE t (a int);\nSELECT pg_sleep(CASE WHEN {marked} THEN {again} \
                 ELSE {first} END);\n"
            ),
            &format!("DROP TABLE t;\n{mark}SELECT pg_sleep({down});\n"),
        );
        for (ended_by, code, kind) in [
            ("pg_terminate_backend", exit::CONNECTION, "connection"),
            (
                "pg_cancel_backend",
                exit::MIGRATION_FAILED,
                "migration_failed",
            ),
        ] {
            let args = ["migrate", "verify", "--format=json", "--database-url", &url];
            let (child, scratch) = spawn_asleep_on_scratch(&project, &args);
            admin()
                .execute(
                    &format!(
                        "SELECT {ended_by}(pid) FROM pg_stat_activity WHERE datname = $1 \
                         AND wait_event = 'PgSleep'"
                    ),
                    &[&scratch],
                )
                .unwrap();
            let run = Run::reaped(child);
            let at = format!("{ended_by} during the {step}\n{}", run.dump());
            run.code(code).stderr_lacks("not repeatable");
            let doc = run.json();
            assert_eq!(doc["passed"], false, "{at}");
            assert_eq!(doc["errors"][0]["kind"], kind, "{at}");
            assert_eq!(doc["summary"]["failed_checks"], 0, "{at}");
            assert_eq!(doc["migrations"][0]["result"], "failed", "{at}");
            assert!(!database_exists(&scratch), "{scratch} left behind: {at}");
        }
    }
}

/// Ctrl-C during a fleet's `verify` or `drift`: the fleet's targets did not get the signal's
/// stop flag, so a target whose migration the drop cut short on its scratch database was
/// reported `failed:` (or not at all), where one database's run says `interrupted`. Each
/// running target is stopped as one database's run is now, and says so before the drop.
#[test]
fn ctrl_c_during_a_fleet_verify_or_drift_interrupts_its_targets() {
    let db = TestDb::new("verify_fleet_sigint");
    let project = slow_on_scratch_applied_to(&db);
    for command in ["verify", "drift"] {
        let (child, scratch) = spawn_asleep_on_scratch(
            &project,
            &[
                "migrate",
                command,
                "--database-url",
                &db.url(),
                "--targets",
                "targets.txt",
            ],
        );
        let (run, slept) = signalled_asleep(child, "-INT", &scratch);
        run.code(exit::INTERRUPTED).stderr_lacks("failed:");
        assert!(
            run.stderr.lines().any(|l| l.starts_with("interrupted: ")
                && l.contains(&db.name)
                && l.ends_with("(exit 130)")),
            "{command}: {}",
            run.dump()
        );
        assert!(
            !database_exists(&scratch),
            "{command}: {scratch} left behind\n{}",
            run.dump()
        );
        // Cancelled, not waited for.
        assert!(
            slept < STOPPED_WITHIN,
            "{command}: {slept:?}\n{}",
            run.dump()
        );
    }
    // With `--format json`, stdout held the fleet's document (printed as soon as its targets
    // stopped) and then the signal thread's: two documents. One claims the output before it
    // prints, so there is exactly one, whichever thread comes first.
    for command in ["verify", "drift"] {
        for _ in 0..3 {
            let (child, scratch) = spawn_asleep_on_scratch(
                &project,
                &[
                    "migrate",
                    command,
                    "--database-url",
                    &db.url(),
                    "--targets",
                    "targets.txt",
                    "--format",
                    "json",
                ],
            );
            let run = signalled(child, "-INT");
            run.code(exit::INTERRUPTED);
            let documents: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&run.stdout)
                .into_iter::<serde_json::Value>()
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{command}: {e}\n{}", run.dump()));
            assert_eq!(documents.len(), 1, "{command}: {}", run.dump());
            let doc = &documents[0];
            // The signal's error, or the fleet's report with its targets interrupted.
            let interrupted = doc["error"]["kind"] == "interrupted"
                || (doc["summary"]["interrupted"] == true
                    && doc["summary"]["failed"] == 0
                    && doc["targets"][0]["state"] == "interrupted");
            assert!(interrupted, "{command}: {}", run.dump());
            assert!(!database_exists(&scratch), "{command}: {}", run.dump());
        }
    }
}

/// A login role, not a superuser, dropped (later, by the harness's reaper) on drop.
struct Role(DropRoleLater);

impl Role {
    /// Without CREATEDB.
    fn new() -> Role {
        Role::with("cft_nocreatedb", "NOCREATEDB")
    }

    /// With `attributes` besides LOGIN.
    fn with(prefix: &str, attributes: &str) -> Role {
        let name = unique(prefix);
        admin()
            .batch_execute(&format!("CREATE ROLE \"{name}\" LOGIN {attributes}"))
            .unwrap();
        Role(DropRoleLater(name))
    }

    fn name(&self) -> &str {
        &self.0 .0
    }

    fn url(&self, db: &str) -> String {
        server().url_as(self.name(), None, db)
    }
}

#[test]
fn a_role_that_may_not_create_databases_is_told_about_scratch_url() {
    let role = Role::new();
    let db = TestDb::new("verify_nocreatedb");
    let project = Project::example();
    let url = role.url(&db.name);
    let run = Run::of(
        project
            .cli()
            .args(["migrate", "verify", "--database-url", &url]),
    );
    run.code(exit::CONNECTION)
        .stderr_has("cannot create a scratch database")
        .stderr_has("permission denied to create database")
        .stderr_has("`--scratch-url URL`")
        // The grant, naming the role: pasted below, it works (h12 D2).
        .stderr_has(&format!(
            "a superuser of that server runs `ALTER ROLE \"{}\" CREATEDB;`",
            role.name()
        ))
        .stderr_lacks("password");
    // The error is about the scratch database it would have been, which the JSON names.
    let verify = ["migrate", "verify", "--database-url", &url];
    let run = Run::of(project.cli().args(verify).args(["--format", "json"]));
    run.code(exit::CONNECTION);
    let database = run.json()["errors"][0]["database"].clone();
    assert!(
        database
            .as_str()
            .is_some_and(|d| d.contains("/confiture_scratch_")),
        "{}",
        run.dump()
    );
    // The same role, with a server where scratch databases may be created.
    let scratch_url = server().url("postgres");
    let run = Run::of(project.cli().args([
        "migrate",
        "verify",
        "--database-url",
        &url,
        "--scratch-url",
        &scratch_url,
    ]));
    run.code(exit::SUCCESS)
        .stdout_has("6 reversible")
        .stderr_has("\" on the --scratch-url server (dropped at the end)");
    assert_scratch_dropped(&run);
    // The help's grant, as printed, run by a superuser: verify then works on the target's server.
    let help = Run::of(
        project
            .cli()
            .args(["migrate", "verify", "--database-url", &url]),
    )
    .stderr;
    let grant = help
        .split("runs `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .expect("the help gives the grant");
    admin().batch_execute(grant).unwrap();
    let run = Run::of(
        project
            .cli()
            .args(["migrate", "verify", "--database-url", &url]),
    );
    run.code(exit::SUCCESS).stdout_has("6 reversible");
    assert_scratch_dropped(&run);
    drop(db);
}

/// `drift` run as another role than the one that applied the migrations (a monitoring role,
/// or a `--scratch-url` server whose role has another name) compares owners, grants and
/// default privileges as made by the applying role (the ledger's `applied_by`): no false
/// drift, while an owner changed by hand to any other role is still drift.
#[test]
fn drift_as_another_role_than_the_one_that_applied_compares_owners_with_the_applier() {
    let monitor = Role::with("cft_drift_monitor", "CREATEDB");
    let other = Role::with("cft_drift_other", "");
    let db = TestDb::new("drift_roles");
    let project = Project::new();
    project
        .migration("001_t", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n")
        .migration(
            "002_s",
            "CREATE SCHEMA app;\nCREATE TABLE app.t2 (id int);\nCREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS 'SELECT 1';\n",
            "DROP SCHEMA app CASCADE;\n",
        )
        .migration(
            "003_p",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO PUBLIC;\nGRANT SELECT ON t1 TO PUBLIC;\n",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA app REVOKE SELECT ON TABLES FROM PUBLIC;\nREVOKE SELECT ON t1 FROM PUBLIC;\n",
        );
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute(&format!(
            "GRANT SELECT ON tb_confiture TO \"{}\"",
            monitor.name()
        ))
        .unwrap();
    let as_monitor = monitor.url(&db.name);
    let drift_as = |url: &str, extra: &[&str]| {
        Run::of(
            project
                .cli()
                .args(["migrate", "drift", "--database-url", url])
                .args(extra),
        )
    };
    // Live as the monitoring role, replayed as it.
    let run = drift_as(&as_monitor, &[]);
    run.code(exit::SUCCESS).stdout_has("no drift");
    assert_scratch_dropped(&run);
    // Live as the applying role, replayed on a --scratch-url as another.
    let run = drift_as(&db.url(), &["--scratch-url", &monitor.url("postgres")]);
    run.code(exit::SUCCESS).stdout_has("no drift");

    // A real change of owner is drift, whoever runs it, named against the applying role.
    db.connect()
        .batch_execute(&format!(
            "ALTER TABLE t1 OWNER TO \"{0}\"; ALTER SCHEMA app OWNER TO \"{0}\"",
            other.name()
        ))
        .unwrap();
    let owned = |run: &Run| {
        run.code(exit::SCHEMA_CHECK_FAILED)
            .stdout_has(&format!(
                "table public.t1: owner {}, expected postgres",
                other.name()
            ))
            .stdout_has(&format!(
                "schema app: owner {}, expected postgres",
                other.name()
            ));
    };
    owned(&drift_as(&as_monitor, &[]));
    owned(&drift_as(&db.url(), &[]));
    owned(&drift_as(
        &db.url(),
        &["--scratch-url", &monitor.url("postgres")],
    ));
    drop(db);
}

#[test]
fn drift_reads_the_live_database_and_writes_nothing() {
    let db = TestDb::new("drift_cli");
    let project = Project::example();
    // Not initialised: nothing applied, nothing to compare, and no ledger created.
    let before = db.catalog_snapshot();
    let run = project.run_on(&db, &["migrate", "drift"]);
    run.code(exit::SUCCESS)
        .stdout_has("no drift: the live database matches its 0 applied migrations replayed");
    assert_scratch_dropped(&run);
    assert_eq!(db.catalog_snapshot(), before);
    assert_eq!(db.ledger(), None);

    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute("ALTER TABLE tb_user ADD COLUMN nickname text")
        .unwrap();
    let before = db.catalog_snapshot();
    let ledger = db.ledger();
    let run = project.run_on(&db, &["migrate", "drift"]);
    run.code(exit::SCHEMA_CHECK_FAILED).stdout_has(
        "drift: the live database differs from its 6 applied migrations replayed (1 difference):\n    column public.tb_user.nickname: in the live database, not made by its applied migrations",
    ).stderr_has(
        "help: to keep the change, capture it in a new migration (`cargo confiture migrate generate NAME` creates its file); to drop it, undo it by hand; then run the command again",
    );
    assert_scratch_dropped(&run);
    assert_eq!(db.catalog_snapshot(), before);
    assert_eq!(db.ledger(), ledger);
    assert_eq!(db.migration_lock_holders(), Vec::<i32>::new());

    let run = project.run_on(&db, &["migrate", "drift", "--format", "json"]);
    run.code(exit::SCHEMA_CHECK_FAILED);
    let json = run.json();
    assert_eq!(json["passed"], false);
    assert_eq!(json["drift"][0]["difference"], "extra");
    assert_eq!(json["replayed"].as_array().unwrap().len(), 6);
}

/// An object missing from the live database is no change to capture in a migration (one that
/// drops it fails: it is not there): drift's help said so anyway. After `baseline --through`
/// on a database that never ran the migration, the help names the rows recorded without
/// running and says to run their SQL by hand; an object dropped by hand is made again by
/// hand, or its drop captured with `IF EXISTS`. A change (an extra object) keeps its help.
#[test]
fn drift_help_for_a_missing_object_says_how_it_went_missing() {
    let db = TestDb::new("drift_missing");
    let project = Project::new();
    project
        .migration("001_a", "CREATE TABLE a (x int);\n", "DROP TABLE a;\n")
        .migration("002_b", "CREATE TABLE b (y int);\n", "DROP TABLE b;\n");
    project
        .run_on(&db, &["migrate", "baseline", "--through", "1"])
        .code(exit::SUCCESS);
    let run = project.run_on(&db, &["migrate", "drift"]);
    run.code(exit::SCHEMA_CHECK_FAILED)
        .stdout_has("table public.a: missing from the live database")
        .stderr_has(
            "table public.a is made by db/migrations/001_a.up.sql, which the ledger records as \
             applied by a baseline (`migrate baseline`) without running it",
        )
        .stderr_has(
            "none of what it makes is there: run the SQL of db/migrations/001_a.up.sql by hand",
        )
        .stderr_lacks("capture it in a new migration");
    assert_scratch_dropped(&run);

    let by_hand = TestDb::new("drift_missing_by_hand");
    project
        .run_on(&by_hand, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    by_hand.connect().batch_execute("DROP TABLE b").unwrap();
    let run = project.run_on(&by_hand, &["migrate", "drift"]);
    run.code(exit::SCHEMA_CHECK_FAILED)
        .stdout_has("table public.b: missing from the live database")
        .stderr_has("make it again by hand")
        .stderr_has("`DROP ... IF EXISTS`")
        .stderr_lacks("recorded by a baseline")
        .stderr_lacks("to keep the change");
    assert_scratch_dropped(&run);
    drop(by_hand);
    drop(db);
}

/// After a baseline, drift's help said to run the SQL of every migration the baseline
/// recorded, whatever was missing: an index dropped later made it tell to run the seed of
/// another migration again. A migration recorded without running is named only for what its
/// replay makes and the live database lacks — with its statements alone when the rest of what
/// it makes is there —, never a migration that makes nothing (a data migration); what a
/// migration that ran makes, missing, gets the help of an object dropped outside the
/// migrations.
#[test]
fn drift_names_a_baselined_migration_only_for_what_it_makes() {
    let db = TestDb::new("drift_baselined");
    let project = Project::new();
    let users = "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n\
                 CREATE INDEX users_email ON users (email);\n\
                 CREATE TABLE settings (key text, value text);\n";
    let seed = "INSERT INTO settings VALUES ('mode', 'on');\n";
    project
        .migration(
            "001_users",
            users,
            "DROP TABLE settings;\nDROP TABLE users;\n",
        )
        .migration(
            "002_seed",
            seed,
            "DELETE FROM settings WHERE key = 'mode';\n",
        )
        .migration(
            "003_audit",
            "CREATE TABLE audit (at timestamptz);\n",
            "DROP TABLE audit;\n",
        );
    // The schema built by other means, then recorded; the next migration runs.
    db.connect().batch_execute(users).unwrap();
    db.connect().batch_execute(seed).unwrap();
    project
        .run_on(&db, &["migrate", "baseline", "--through", "2"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "drift"])
        .code(exit::SUCCESS);

    // A later incident.
    db.connect()
        .batch_execute("DROP INDEX users_email")
        .unwrap();
    let run = project.run_on(&db, &["migrate", "drift"]);
    run.code(exit::SCHEMA_CHECK_FAILED)
        .stdout_has("index public.users_email: missing from the live database")
        .stderr_has(
            "index public.users_email is made by db/migrations/001_users.up.sql, which the \
             ledger records as applied by a baseline (`migrate baseline`) without running it",
        )
        .stderr_has("with its statement in db/migrations/001_users.up.sql")
        .stderr_lacks("002_seed")
        .stderr_lacks("psql -f")
        .stderr_lacks("run the SQL of");
    assert_scratch_dropped(&run);
    let json = project
        .run_on(&db, &["migrate", "drift", "--format", "json"])
        .json();
    let not_run = &json["recorded_without_running"];
    assert_eq!(not_run[0]["migration"], "001_users", "{json:#}");
    assert_eq!(
        not_run[0]["makes_missing"],
        serde_json::json!([{"kind": "index", "name": "public.users_email"}]),
        "{json:#}"
    );
    assert_eq!(not_run[0]["makes_present"], true, "{json:#}");
    assert_eq!(not_run[1]["migration"], "002_seed", "{json:#}");
    assert_eq!(not_run[1].get("makes_missing"), None, "{json:#}");
    // The help followed: the statement alone, and nothing is missing.
    db.connect()
        .batch_execute("CREATE INDEX users_email ON users (email)")
        .unwrap();
    project
        .run_on(&db, &["migrate", "drift"])
        .code(exit::SUCCESS);

    // What a migration that ran makes, dropped: no migration recorded without running is named.
    db.connect().batch_execute("DROP TABLE audit").unwrap();
    let run = project.run_on(&db, &["migrate", "drift"]);
    run.code(exit::SCHEMA_CHECK_FAILED)
        .stdout_has("table public.audit: missing from the live database")
        .stderr_has("was dropped outside the migrations")
        .stderr_lacks("001_users")
        .stderr_lacks("002_seed")
        .stderr_lacks("recorded by");
    assert_scratch_dropped(&run);
    drop(db);
}

/// An up that fails (or differs) when run again after its down is made so by what the down
/// leaves behind (a row it does not delete, a role it does not drop) as much as by the up:
/// the help named the up file alone. And its "run again" dropped the flags given (`--from`,
/// `--scratch-url`, `--statement-timeout`; only `--from` on exit 9): it says to run the
/// command again, as given — and so does the help of a migration failing on the scratch
/// database.
#[test]
fn verify_names_the_down_of_an_up_not_repeatable_and_repeats_the_run_as_given() {
    let db = TestDb::unborn("verify_again");
    let project = Project::new();
    project
        .migration(
            "001_settings",
            "CREATE TABLE settings (key text PRIMARY KEY, value text);\n",
            "DROP TABLE settings;\n",
        )
        .migration(
            "002_seed",
            "INSERT INTO settings VALUES ('mode', 'on');\n",
            "DELETE FROM settings WHERE key = 'other';\n",
        );
    let scratch_url = server().url("postgres");
    let as_given = [
        "migrate",
        "verify",
        "--from",
        "2",
        "--statement-timeout",
        "5s",
        "--scratch-url",
        &scratch_url,
    ];
    for args in [&["migrate", "verify"][..], &as_given[..]] {
        let run = project.run_on(&db, args);
        run.code(exit::SCHEMA_CHECK_FAILED)
            .stdout_has("002_seed      ✗ up not repeatable after its down")
            .stderr_has(
                "help: fix db/migrations/002_seed.down.sql (what it leaves behind makes \
                 db/migrations/002_seed.up.sql fail when it runs again) or \
                 db/migrations/002_seed.up.sql, then run the command again",
            )
            .stderr_lacks("`cargo confiture migrate verify");
        assert_scratch_dropped(&run);
    }

    // A migration failing on the scratch database: its help, too.
    project.write("db/migrations/002_seed.up.sql", "SELECT 1 / 0;\n");
    let run = project.run_on(&db, &as_given);
    run.code(exit::MIGRATION_FAILED)
        .stderr_has("run the command again")
        .stderr_lacks("`cargo confiture migrate verify");
    assert_scratch_dropped(&run);
}

#[test]
fn drift_with_a_schema_directory() {
    let db = TestDb::new("drift_schema_dir");
    let project = Project::new();
    project
        .migration("001_t", "CREATE TABLE t (a int);\n", "DROP TABLE t;\n")
        .write("db/schema/t.sql", "CREATE TABLE t (a int NOT NULL);\n");
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    let run = project.run_on(&db, &["migrate", "drift", "--schema-dir", "db/schema"]);
    run.code(exit::SCHEMA_CHECK_FAILED)
        .stdout_has("no drift")
        .stdout_has("the schema directory db/schema differs from the migrations (1 difference):\n    column public.t.a: nullable no, expected yes (schema directory, expected by the migrations)");
    assert_scratch_dropped(&run);
    project.write("db/schema/t.sql", "CREATE TABLE t (a int);\n");
    project
        .run_on(&db, &["migrate", "drift", "--schema-dir", "db/schema"])
        .code(exit::SUCCESS)
        .stdout_has("the schema directory db/schema matches the migrations");
    project
        .run_on(&db, &["migrate", "drift", "--schema-dir", "nowhere"])
        .code(exit::INVALID)
        .stderr_has("schema directory nowhere does not exist");
}

/// A server nothing listens on: port 1 of the loopback address.
const NOWHERE: &str = "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=5";

/// `--schema-dir` follows symbolic links (to files and to directories, a loop reported), and
/// refuses (exit 5, `C010`, nothing compared) every `.sql` entry it cannot read — a FIFO, a
/// broken link, a file without permission — as the migrations directory does: a schema file
/// skipped silently would make its objects read as missing from the directory. Hidden entries
/// and names that are not `.sql` are left out, readable or not.
#[test]
fn a_schema_directory_follows_symbolic_links_and_refuses_what_it_cannot_read() {
    use std::os::unix::fs::symlink;
    let db = TestDb::new("drift_schema_links");
    let project = Project::new();
    project
        .migration(
            "001_t",
            "CREATE TABLE t1 (id int);
",
            "DROP TABLE t1;
",
        )
        .migration(
            "002_t",
            "CREATE TABLE t2 (id int);
",
            "DROP TABLE t2;
",
        )
        .migration(
            "003_t",
            "CREATE TABLE t3 (id int);
",
            "DROP TABLE t3;
",
        )
        .write(
            "db/schema/a.sql",
            "CREATE TABLE t1 (id int);
",
        )
        .write(
            "elsewhere/t2.sql",
            "CREATE TABLE t2 (id int);
",
        )
        .write(
            "shared/t3.sql",
            "CREATE TABLE t3 (id int);
",
        );
    symlink(
        project.path("elsewhere/t2.sql"),
        project.path("db/schema/e.sql"),
    )
    .unwrap();
    symlink(project.path("shared"), project.path("db/schema/shared")).unwrap();
    // What could never be a schema file is left out, readable or not: an Emacs lock link, a
    // broken `notes.md`, and a hidden directory (`.git`) with its `.sql` files.
    symlink(
        "root@host.1234:1700000000",
        project.path("db/schema/.#a.sql"),
    )
    .unwrap();
    symlink("nowhere", project.path("db/schema/notes.md")).unwrap();
    std::fs::create_dir_all(project.path("db/schema/.git")).unwrap();
    std::fs::write(project.path("db/schema/.git/x.sql"), [0xffu8]).unwrap();
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    let args = ["migrate", "drift", "--schema-dir", "db/schema"];
    let run = project.run_on(&db, &args);
    run.code(exit::SUCCESS)
        .stdout_has("the schema directory db/schema matches the migrations");
    let json = project
        .run_on(&db, &[&args[..], &["--format", "json"]].concat())
        .json();
    let files: Vec<&str> = json["schema_dir"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "db/schema/a.sql",
            "db/schema/e.sql",
            "db/schema/shared/t3.sql"
        ]
    );

    // A link back to a directory being walked is a loop: reported, not walked forever.
    symlink(
        project.path("db/schema"),
        project.path("db/schema/shared/again"),
    )
    .unwrap();
    let run = project.run_on(&db, &args);
    run.code(exit::INVALID)
        .stderr_has("error[C010]")
        .stderr_has("cannot read `db/schema/shared/again`: it is a symbolic link back to");
    std::fs::remove_file(project.path("db/schema/shared/again")).unwrap();

    // A FIFO (reading it would block forever), a broken link and a file without permission:
    // each one named, all at once, before any scratch database is created.
    let fifo = project.path("db/schema/b.sql");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    symlink("/nonexistent/confiture", project.path("db/schema/c.sql")).unwrap();
    project.write(
        "db/schema/d.sql",
        "CREATE TABLE d (id int);
",
    );
    let locked = project.path("db/schema/d.sql");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let root = std::fs::File::open(&locked).is_ok();
    let run = project.run_on(&db, &args);
    run.code(exit::INVALID)
        .stderr_has("error[C010]")
        .stderr_has("cannot read `db/schema/b.sql`: it is not a regular file")
        .stderr_has(
            "cannot read `db/schema/c.sql`: it is a symbolic link to `/nonexistent/confiture`, \
             which does not exist",
        )
        .stderr_lacks("created the scratch database");
    if !root {
        run.stderr_has("cannot read `db/schema/d.sql`");
    }
    let json = project
        .run_on(&db, &[&args[..], &["--format", "json"]].concat())
        .json();
    assert_eq!(json["errors"][0]["exit_code"], exit::INVALID);
    let codes: Vec<&str> = json["errors"][0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), if root { 2 } else { 3 }, "{codes:?}");
    assert!(codes.iter().all(|c| *c == "C010"), "{codes:?}");
}

/// A confiture (Python) migration (`NNN_name.py`) cannot be replayed by us: `verify` and `drift`
/// refuse it (exit 5) before any scratch database is made, naming it, whether the target
/// recorded it (confiture (Python) applied it) or not. Before, `verify` reported the migration
/// before it `failed` and told to apply it with confiture (Python), which cannot help a
/// scratch database, and `drift` replayed, then failed calling an applied migration pending.
#[test]
fn a_python_migration_is_refused_by_verify_and_drift_before_any_replay() {
    let db = TestDb::new("verify_python");
    let project = Project::new();
    project
        .migration("001_t", "CREATE TABLE t (a int);\n", "DROP TABLE t;\n")
        .migration("003_v", "CREATE TABLE v (a int);\n", "DROP TABLE v;\n");
    project
        .run_on(&db, &["migrate", "up", "-q", "--target", "1"])
        .code(exit::SUCCESS);
    // confiture (Python) applied 002 (its row and its table), then 003 was applied.
    project.write("db/migrations/002_py.py", "def up(conn):\n    pass\n");
    db.client()
        .batch_execute(
            "INSERT INTO tb_confiture (slug, version, name, applied_by) \
             VALUES ('py_002', '002', 'py', CURRENT_USER); CREATE TABLE made_by_python (a int);",
        )
        .unwrap();
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    let drift_with_dir = ["migrate", "drift", "--schema-dir", "db/schema"];
    project.write("db/schema/t.sql", "CREATE TABLE t (a int);\n");
    for args in [
        &["migrate", "verify"][..],
        &["migrate", "drift"],
        &drift_with_dir,
    ] {
        let run = project.run_on(&db, args);
        run.code(exit::INVALID)
            .stderr_has(
                "db/migrations has a confiture (Python) migration, which `cargo confiture migrate",
            )
            .stderr_has("would have to replay on its scratch database; nothing was checked")
            .stderr_has(
                "`002_py.py` is a confiture (Python) migration; cargo confiture cannot run it",
            )
            .stderr_lacks("created the scratch database")
            .stderr_lacks("pending")
            .stderr_lacks("failed")
            .stderr_lacks("confiture migrate up");
        let run = project.run_on(&db, &[args, &["--format", "json", "-q"][..]].concat());
        run.code(exit::INVALID);
        let json = run.json();
        assert_eq!(json["passed"], false, "{}", run.dump());
        assert_eq!(
            json["errors"][0]["exit_code"],
            exit::INVALID,
            "{}",
            run.dump()
        );
    }
    // Above the newest applied migration, drift replays nothing of it.
    db.client()
        .batch_execute(
            "DELETE FROM tb_confiture WHERE version <> '001'; DROP TABLE made_by_python, v;",
        )
        .unwrap();
    project
        .run_on(&db, &["migrate", "drift"])
        .code(exit::SUCCESS)
        .stdout_has("no drift");
}

#[test]
fn a_scratch_url_that_cannot_be_reached_is_named_not_the_target() {
    let db = TestDb::new("verify_scratch_unreachable");
    let project = Project::example();
    project.write(
        "db/environments/vd.yaml",
        format!("name: vd\ndatabase_url: {}\n", db.url()),
    );
    project
        .run(&["migrate", "up", "-q", "--env", "vd"])
        .code(exit::SUCCESS);
    for command in ["verify", "drift"] {
        let run = project.run(&["migrate", command, "--env", "vd", "--scratch-url", NOWHERE]);
        // Blamed on the scratch server, with what to check there: not on the environment file
        // whose database is reachable.
        run.code(exit::CONNECTION)
            .stderr_has("connecting as postgres@127.0.0.1:1/postgres")
            .stderr_has("check them in --scratch-url")
            .stderr_lacks("check them in environment file");
    }
}

#[test]
fn a_ledger_in_its_own_schema_is_not_a_difference() {
    let db = TestDb::new("verify_ledger_schema");
    let project = Project::new();
    project
        .migration("001_t", "CREATE TABLE t (a int);\n", "DROP TABLE t;\n")
        .write(
            "db/environments/vd.yaml",
            format!(
                "name: vd\ndatabase_url: {}\nmigration:\n  tracking_table: ops.tb_confiture\n",
                db.url()
            ),
        );
    // The schema the ledger creates is not the first migration's, on the scratch database.
    let run = project.run(&["migrate", "verify", "--env", "vd"]);
    run.code(exit::SUCCESS)
        .stdout_has("001_t      ✓ reversible");
    assert_scratch_dropped(&run);
    // A live database whose ledger (in `ops`) records nothing: nothing to replay, no drift.
    project
        .run(&["migrate", "up", "-q", "--env", "vd"])
        .code(exit::SUCCESS);
    project
        .run(&["migrate", "down", "-q", "--env", "vd"])
        .code(exit::SUCCESS);
    project
        .run(&["migrate", "drift", "--env", "vd"])
        .code(exit::SUCCESS)
        .stdout_has("no drift");
    // And one that records its migration.
    project
        .run(&["migrate", "up", "-q", "--env", "vd"])
        .code(exit::SUCCESS);
    project
        .run(&["migrate", "drift", "--env", "vd"])
        .code(exit::SUCCESS)
        .stdout_has("no drift");
}

#[test]
fn a_migration_that_fails_on_the_scratch_database_says_the_target_was_not_written() {
    let db = TestDb::unborn("verify_fails_on_scratch");
    let project = Project::new();
    project
        .migration("001_t", "CREATE TABLE t (a int);\n", "DROP TABLE t;\n")
        .migration("002_x", "ALTER TABLE nosuch ADD b int;\n", "SELECT 1;\n")
        .migration("003_y", "CREATE TABLE y (a int);\n", "DROP TABLE nosuch;\n");
    let target = format!("not on {}: nothing was written there; fix", db.display());
    // An up that fails (verify does not need the target, which does not exist).
    let run = project.run_on(&db, &["migrate", "verify", "--from", "2"]);
    run.code(exit::MIGRATION_FAILED)
        .stderr_has("help: this failed on the scratch database \"confiture_scratch_")
        .stderr_has(&target)
        .stderr_has("fix db/migrations/002_x.up.sql, then run the command again")
        .stderr_lacks("migrate up");
    assert_scratch_dropped(&run);
    // A down that fails, in the JSON too.
    project.write("db/migrations/002_x.up.sql", "SELECT 1;\n");
    let run = project.run_on(&db, &["migrate", "verify", "--format", "json"]);
    run.code(exit::MIGRATION_FAILED);
    let help = run.json()["errors"][0]["help"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        help.starts_with("this failed on the scratch database \"confiture_scratch_"),
        "{help}"
    );
    assert!(help.contains(&target), "{help}");
    assert!(help.contains("db/migrations/003_y.down.sql"), "{help}");
    // What became of the failed rollback is said of the scratch database, not in
    // `down`'s words for the target ("the migration stays applied"), in the text too.
    let details = run.json()["errors"][0]["details"].to_string();
    assert!(!details.contains("stays applied"), "{details}");
    assert!(
        details.contains("rolled back on the scratch database, which is dropped at the end"),
        "{details}"
    );
    project
        .run_on(&db, &["migrate", "verify"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("rolled back on the scratch database, which is dropped at the end")
        .stderr_lacks("stays applied");
    assert!(!db.exists(), "the target was created");
}

/// A no-transaction down file that fails part-way on `verify`'s scratch database said "the
/// migration is still recorded as applied" (`down`'s words for the database it is about) of a
/// database dropped at the end. What became of its ledger row is said of the scratch database,
/// as the transactional rollback's fate is, in the text and the JSON.
#[test]
fn a_no_transaction_down_that_fails_on_the_scratch_database_says_so_of_it() {
    let db = TestDb::unborn("verify_notx_down_fails");
    let project = Project::new();
    project
        .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration(
            "002_b",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY b_i ON a (id);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY b_i;\nSELECT nope();\n",
        );
    let run = project.run_on(&db, &["migrate", "verify"]);
    run.code(exit::MIGRATION_FAILED)
        .stderr_has("statement 1 was committed")
        .stderr_has("the scratch database (dropped at the end) still records the migration")
        .stderr_lacks("the migration is still recorded as applied");
    assert_scratch_dropped(&run);
    let run = project.run_on(&db, &["migrate", "verify", "--format", "json"]);
    run.code(exit::MIGRATION_FAILED);
    let details = run.json()["errors"][0]["details"].to_string();
    assert!(
        details.contains("the scratch database (dropped at the end) still records the migration"),
        "{details}"
    );
    assert!(
        !details.contains("the migration is still recorded"),
        "{details}"
    );
    assert!(!db.exists(), "the target was created");
}

#[test]
fn a_schema_file_that_fails_is_named_with_its_line_and_column() {
    let db = TestDb::new("drift_schema_file_line");
    let project = Project::new();
    project
        .migration("001_t", "CREATE TABLE t (a int);\n", "DROP TABLE t;\n")
        .write("db/schema/a.sql", "CREATE TABLE t (a int);\n")
        // A multi-byte character before the error: the server counts characters.
        .write(
            "db/schema/b.sql",
            "-- é\nCREATE TABLE u (a int, b nosuchtype);\n",
        );
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    let run = project.run_on(&db, &["migrate", "drift", "--schema-dir", "db/schema"]);
    run.code(exit::MIGRATION_FAILED)
        .stderr_has("schema file db/schema/b.sql:2:26 failed on the scratch database")
        .stderr_has("help: fix db/schema/b.sql");
    assert_scratch_dropped(&run);
    let run = project.run_on(
        &db,
        &[
            "migrate",
            "drift",
            "--schema-dir",
            "db/schema",
            "--format",
            "json",
        ],
    );
    run.code(exit::MIGRATION_FAILED);
    let message = run.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("db/schema/b.sql:2:26"), "{message}");
}

/// A schema file whose failing statement the server gives no position for (a runtime error: a
/// missing table, a duplicate, a division by zero) is named by the file, line and column of
/// that statement, in the text and in the JSON error's `file`/`line`/`column` (h12 D8): the
/// files ran as one message each, and such an error named the file alone.
#[test]
fn a_schema_file_failing_without_a_position_is_named_with_its_statements_line() {
    let db = TestDb::new("drift_schema_file_runtime");
    let project = Project::new();
    project
        .migration("001_t", "CREATE TABLE t (a int);\n", "DROP TABLE t;\n")
        .write("db/schema/a.sql", "CREATE TABLE t (a int);\n");
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    let preamble = "-- b\n-- the second file\n\nCREATE TABLE u (a int);\n\n-- then\n";
    for (failing, sqlstate) in [
        ("  CREATE INDEX ON nosuch (a);", "42P01"),
        ("  CREATE TABLE t (a int);", "42P07"),
        ("  SELECT 1 / 0;", "22012"),
    ] {
        project.write("db/schema/b.sql", format!("{preamble}{failing}\n"));
        let args = ["migrate", "drift", "--schema-dir", "db/schema"];
        let run = project.run_on(&db, &args);
        run.code(exit::MIGRATION_FAILED)
            .stderr_has(
                "schema file db/schema/b.sql:7:3 (statement 2 of 2) failed on the scratch database",
            )
            .stderr_has(sqlstate)
            .stderr_has("help: fix db/schema/b.sql");
        assert_scratch_dropped(&run);
        let run = project.run_on(&db, &[&args[..], &["--format", "json"]].concat());
        run.code(exit::MIGRATION_FAILED);
        let error = &run.json()["errors"][0];
        assert_eq!(error["exit_code"], exit::MIGRATION_FAILED, "{}", run.dump());
        assert_eq!(error["file"], "db/schema/b.sql", "{}", run.dump());
        assert_eq!(error["line"], 7, "{}", run.dump());
        assert_eq!(error["column"], 3, "{}", run.dump());
        assert_eq!(error["sqlstate"], sqlstate, "{}", run.dump());
    }
    // A syntax error, which the server places, is placed in the JSON too.
    project.write(
        "db/schema/b.sql",
        format!("{preamble}  CREATE TABLEE v (a int);\n"),
    );
    let args = [
        "migrate",
        "drift",
        "--schema-dir",
        "db/schema",
        "--format",
        "json",
    ];
    let run = project.run_on(&db, &args);
    run.code(exit::MIGRATION_FAILED);
    let error = &run.json()["errors"][0];
    assert_eq!(
        (&error["line"], &error["column"]),
        (&7.into(), &10.into()),
        "{}",
        run.dump()
    );
}

#[test]
fn a_second_ctrl_c_names_the_scratch_databases_left_behind() {
    let db = TestDb::unborn("verify_sigint_twice");
    let project = slow_project();
    for json in [false, true] {
        let mut args = vec!["migrate", "verify", "--database-url"];
        let url = db.url();
        args.push(&url);
        if json {
            args.extend(["--format", "json"]);
        }
        let (child, scratch) = spawn_asleep_on_scratch(&project, &args);
        let pid = child.id();
        // A lock on the database that DROP DATABASE waits for: the first signal's drop hangs.
        let mut blocker = admin();
        let mut tx = blocker.transaction().unwrap();
        tx.batch_execute(&format!("COMMENT ON DATABASE \"{scratch}\" IS 'held'"))
            .unwrap();
        send_signal(pid, "-INT");
        // This run's drop: `pg_stat_activity` lists every database's sessions, other tests'
        // drops among them.
        let waiting = wait_until(Duration::from_secs(30), || {
            admin()
                .query(
                    "SELECT FROM pg_stat_activity WHERE query LIKE 'DROP DATABASE%' \
                     AND strpos(query, $1) > 0 AND wait_event_type = 'Lock'",
                    &[&scratch],
                )
                .unwrap()
                .len()
                == 1
        });
        assert!(waiting, "the drop never waited");
        let sent = Instant::now();
        send_signal(pid, "-INT");
        let output = child.wait_with_output().unwrap();
        let run = Run::from_output(output, sent.elapsed());
        assert!(database_exists(&scratch), "{}", run.dump());
        // The server may still finish the drop it was waiting to make.
        tx.rollback().unwrap();
        run.code(exit::INTERRUPTED)
            .stderr_has(&format!("left the scratch database \"{scratch}\" on "))
            .stderr_has(&format!(
                "DROP DATABASE IF EXISTS \"{scratch}\" WITH (FORCE);"
            ));
        if json {
            // The run's report, written before the drop began (the report first, the
            // cleanup after): what it checked; the database left is named on stderr.
            let json = run.json();
            assert_eq!(json["errors"][0]["kind"], "interrupted", "{}", run.dump());
            assert_eq!(
                json["migrations"][0]["result"],
                "interrupted",
                "{}",
                run.dump()
            );
        }
        admin()
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{scratch}\" WITH (FORCE)"
            ))
            .unwrap();
    }
}

/// Migrations that only work with their target's own settings: tables created unqualified land
/// in the schema the `search_path` of `ALTER ROLE ... IN DATABASE` names (over the one of
/// `ALTER DATABASE`), whose name needs quoting, and which the downs name; a SQL function reads
/// a table made later (`check_function_bodies = off`); a custom setting holds a quote and a
/// backslash.
fn settings_project() -> Project {
    let project = Project::new();
    project
        .migration(
            "001_schemas",
            "CREATE SCHEMA app;\nCREATE SCHEMA \"My \"\"app\"\"\";\n",
            "DROP SCHEMA \"My \"\"app\"\"\";\nDROP SCHEMA app;\n",
        )
        .migration(
            "002_tb_item",
            "DO $$ BEGIN IF pg_catalog.current_setting('app.note') <> 'it''s a \\ value' THEN \
             RAISE EXCEPTION 'app.note is %', pg_catalog.current_setting('app.note'); END IF; END $$;\n\
             CREATE TABLE tb_item (id bigint PRIMARY KEY);\n\
             CREATE FUNCTION count_later() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM tb_later';\n",
            "DROP FUNCTION \"My \"\"app\"\"\".count_later();\nDROP TABLE \"My \"\"app\"\"\".tb_item;\n",
        )
        .migration(
            "003_tb_later",
            "CREATE TABLE tb_later (id bigint);\n",
            "DROP TABLE \"My \"\"app\"\"\".tb_later;\n",
        );
    project
}

/// The settings of [`settings_project`] on `db`: for every role, and for the connecting role
/// (`postgres`) in that database only. Both go with the database when it is dropped.
fn set_database_settings(db: &TestDb) {
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{db}\" SET search_path = app, public;\n\
             ALTER DATABASE \"{db}\" SET check_function_bodies = off;\n\
             ALTER ROLE postgres IN DATABASE \"{db}\" SET search_path = \"My \"\"app\"\"\", app, public;\n\
             ALTER ROLE postgres IN DATABASE \"{db}\" SET app.note = 'it''s a \\ value';",
            db = db.name
        ))
        .unwrap();
}

#[test]
fn verify_and_drift_run_with_the_target_databases_settings() {
    let db = TestDb::new("verify_db_settings");
    set_database_settings(&db);
    let project = settings_project();
    let run = project.run_on(&db, &["migrate", "verify"]);
    run.code(exit::SUCCESS)
        .stdout_has("3 reversible")
        .stderr_lacks("warning");
    assert_scratch_dropped(&run);
    let run = project.run_on(&db, &["migrate", "verify", "--format", "json"]);
    run.code(exit::SUCCESS);
    assert_eq!(
        run.json()["warnings"],
        serde_json::json!([]),
        "{}",
        run.dump()
    );

    // The same history on the target itself, then compared with its replay.
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    assert!(db.has_relation("\"My \"\"app\"\"\".tb_item"));
    let before = db.catalog_snapshot();
    let run = project.run_on(&db, &["migrate", "drift"]);
    run.code(exit::SUCCESS)
        .stdout_has("no drift: the live database matches its 3 applied migrations replayed");
    assert_scratch_dropped(&run);
    assert_eq!(db.catalog_snapshot(), before);

    project.write("db/schema/all.sql", "CREATE SCHEMA app;\nCREATE SCHEMA \"My \"\"app\"\"\";\nCREATE TABLE tb_item (id bigint PRIMARY KEY);\nCREATE TABLE tb_later (id bigint);\nCREATE FUNCTION count_later() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM tb_later';\n");
    project
        .run_on(&db, &["migrate", "drift", "--schema-dir", "db/schema"])
        .code(exit::SUCCESS)
        .stdout_has("the schema directory db/schema matches the migrations");
}

/// The JSON report of `run` has one warning, which names `setting`.
#[track_caller]
fn assert_one_warning_naming(run: &Run, setting: &str) {
    let warnings = run.json()["warnings"].clone();
    assert_eq!(warnings.as_array().map(Vec::len), Some(1), "{}", run.dump());
    let warning = warnings[0].as_str().unwrap_or_default();
    assert!(warning.contains(setting), "{}", run.dump());
}

#[test]
fn a_setting_the_scratch_database_cannot_take_is_a_warning_naming_it() {
    // A role that may create databases, not a superuser: `log_statement` is a superuser's.
    let role = Role::with("cft_createdb", "CREATEDB");
    let db = TestDb::new("verify_settings_denied");
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{db}\" SET log_statement = 'none';\n\
             ALTER DATABASE \"{db}\" SET check_function_bodies = off;",
            db = db.name
        ))
        .unwrap();
    let project = Project::new();
    project
        .migration(
            "001_count_later",
            "CREATE FUNCTION count_later() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM tb_later';\n",
            "DROP FUNCTION count_later();\n",
        )
        .migration(
            "002_tb_later",
            "CREATE TABLE tb_later (id bigint);\n",
            "DROP TABLE tb_later;\n",
        );
    let url = role.url(&db.name);
    let run = Run::of(
        project
            .cli()
            .args(["migrate", "verify", "--database-url", &url]),
    );
    // The other setting was copied: the function's body is not checked.
    run.code(exit::SUCCESS)
        .stdout_has("2 reversible")
        .stderr_has("warning: the scratch database does not have the setting log_statement of ")
        .stderr_has("permission denied to set parameter \"log_statement\"")
        .stderr_lacks("check_function_bodies");
    assert_scratch_dropped(&run);
    let run = Run::of(project.cli().args([
        "migrate",
        "verify",
        "--database-url",
        &url,
        "--format",
        "json",
    ]));
    run.code(exit::SUCCESS);
    assert_one_warning_naming(&run, "log_statement");

    // `drift` warns the same way, once for its two scratch databases.
    project.write(
        "db/schema/all.sql",
        "CREATE FUNCTION count_later() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM tb_later';\n\
         CREATE TABLE tb_later (id bigint);\n",
    );
    let run = Run::of(project.cli().args([
        "migrate",
        "drift",
        "--database-url",
        &url,
        "--schema-dir",
        "db/schema",
        "--format",
        "json",
    ]));
    run.code(exit::SUCCESS);
    assert_one_warning_naming(&run, "log_statement");
}

#[test]
fn a_target_that_cannot_be_reached_beside_a_scratch_url_is_a_warning() {
    // The scratch server is enough to check the files; the target's own settings are missing,
    // and the run says so.
    let scratch_url = server().url("postgres");
    let project = Project::example();
    let run = project.run(&[
        "migrate",
        "verify",
        "--database-url",
        NOWHERE,
        "--scratch-url",
        &scratch_url,
    ]);
    run.code(exit::SUCCESS)
        .stdout_has("6 reversible")
        .stderr_has("warning: the settings of postgres@127.0.0.1:1/postgres were not read")
        .stderr_has("the scratch database has its server's defaults");
    assert_scratch_dropped(&run);
}

/// The error object's `database` was `null` for the errors of `verify` and `drift` (but a
/// migration's on the scratch database): it names the database the error concerns, the
/// target (a refusal of its history) or the scratch database the failure happened on
/// (`scratch_database`, or one of `scratch_databases`).
#[test]
fn verify_and_drift_errors_name_the_database_they_concern() {
    let db = TestDb::new("verify_error_database");
    let project = Project::new();
    project
        .migration("001_t", "CREATE TABLE t (a int);\n", "DROP TABLE t;\n")
        .migration("002_x", "ALTER TABLE nosuch ADD b int;\n", "SELECT 1;\n");
    #[track_caller]
    fn names(run: &Run, database: &str) {
        let error = &run.json()["errors"][0];
        assert!(
            error["database"]
                .as_str()
                .is_some_and(|d| d.ends_with(&format!("/{database}"))),
            "not {database}\n{}",
            run.dump()
        );
    }
    // An up, then a down, that fail on verify's scratch database.
    let run = project.run_on(&db, &["migrate", "verify", "--format", "json"]);
    run.code(exit::MIGRATION_FAILED);
    names(&run, run.json()["scratch_database"].as_str().unwrap());
    project
        .write("db/migrations/002_x.up.sql", "CREATE TABLE x (a int);\n")
        .write("db/migrations/002_x.down.sql", "DROP TABLE nosuch;\n");
    let run = project.run_on(&db, &["migrate", "verify", "--format", "json"]);
    run.code(exit::MIGRATION_FAILED);
    names(&run, run.json()["scratch_database"].as_str().unwrap());

    // A schema file that fails on drift's second scratch database.
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    project.write("db/schema/a.sql", "CREATE TABLE t (a nosuchtype);\n");
    let args = [
        "migrate",
        "drift",
        "--schema-dir",
        "db/schema",
        "--format",
        "json",
    ];
    let run = project.run_on(&db, &args);
    run.code(exit::MIGRATION_FAILED);
    names(&run, run.json()["scratch_databases"][1].as_str().unwrap());

    // A refusal of the target's history: the target.
    project.write("db/migrations/002_x.up.sql", "CREATE TABLE x (b int);\n");
    let run = project.run_on(&db, &["migrate", "drift", "--format", "json"]);
    run.code(exit::DIVERGED);
    names(&run, &db.name);
}

/// `default_transaction_read_only = on` guards the target; verify and drift write only scratch
/// databases, created and dropped from a session that turns it off, and whose own sessions
/// have it off: for the database (`ALTER DATABASE`), the role in that database, and the role
/// everywhere (`ALTER ROLE ... SET`, which the scratch database would otherwise get too).
/// `up` still refuses the read-only target itself (exit 3).
#[test]
fn verify_and_drift_work_on_a_read_only_database() {
    let db = TestDb::new("verify_read_only");
    let project = Project::example();
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{db}\" SET default_transaction_read_only = on;\n\
             ALTER ROLE postgres IN DATABASE \"{db}\" SET default_transaction_read_only = on;",
            db = db.name
        ))
        .unwrap();
    let before = db.catalog_snapshot();
    let run = project.run_on(&db, &["migrate", "verify"]);
    run.code(exit::SUCCESS)
        .stdout_has("6 reversible")
        .stderr_lacks("warning");
    assert_scratch_dropped(&run);
    let run = project.run_on(&db, &["migrate", "drift"]);
    run.code(exit::SUCCESS)
        .stdout_has("no drift: the live database matches its 6 applied migrations replayed")
        .stderr_lacks("warning");
    assert_scratch_dropped(&run);
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::CONNECTION)
        .stderr_has("is read-only (transaction_read_only is on); nothing was run");
    assert_eq!(db.catalog_snapshot(), before, "the target was not written");

    // A role whose every session is read only, wherever it connects (on a database of its
    // own: the ledger above is not this role's to read).
    let role = Role::with("cft_readonly", "CREATEDB");
    let db = TestDb::new("verify_read_only_role");
    admin()
        .batch_execute(&format!(
            "ALTER ROLE \"{}\" SET default_transaction_read_only = on",
            role.name()
        ))
        .unwrap();
    let url = role.url(&db.name);
    for command in ["verify", "drift"] {
        let run = Run::of(
            project
                .cli()
                .args(["migrate", command, "--database-url", &url]),
        );
        run.code(exit::SUCCESS).stderr_lacks("warning");
        assert_scratch_dropped(&run);
    }
}

/// Settings the target's database gives every session — `idle_session_timeout`,
/// `idle_in_transaction_session_timeout`, `statement_timeout` — are copied to the scratch
/// databases for the migrations' sake; the tool's own session there, idle while another runs a
/// migration, was killed by them (exit 3, "cannot read the schema from the system catalogs",
/// every time). A migration longer than the timeouts passes verify and drift, with and without
/// a schema directory.
#[test]
fn the_targets_idle_timeouts_do_not_end_the_tools_own_scratch_sessions() {
    let db = TestDb::new("verify_idle_timeouts");
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{db}\" SET idle_session_timeout = '300ms';\n\
             ALTER DATABASE \"{db}\" SET idle_in_transaction_session_timeout = '300ms';\n\
             ALTER ROLE postgres IN DATABASE \"{db}\" SET idle_session_timeout = '300ms';",
            db = db.name
        ))
        .unwrap();
    let project = Project::new();
    project
        .migration("001_t", "CREATE TABLE t (a int);\n", "DROP TABLE t;\n")
        .migration(
            "002_slow",
            "CREATE TABLE slow (a int);\nSELECT pg_sleep(0.8);\n",
            "DROP TABLE slow;\nSELECT pg_sleep(0.8);\n",
        );
    let run = project.run_on(&db, &["migrate", "verify"]);
    run.code(exit::SUCCESS).stdout_has("2 reversible");
    assert_scratch_dropped(&run);
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    let run = project.run_on(&db, &["migrate", "drift"]);
    run.code(exit::SUCCESS)
        .stdout_has("no drift: the live database matches its 2 applied migrations replayed");
    project.write(
        "db/schema/all.sql",
        "CREATE TABLE t (a int);\nCREATE TABLE slow (a int);\nSELECT pg_sleep(0.8);\n",
    );
    project
        .run_on(&db, &["migrate", "drift", "--schema-dir", "db/schema"])
        .code(exit::SUCCESS)
        .stdout_has("the schema directory db/schema matches the migrations");
}

/// A target database whose `statement_timeout` is shorter than a `CREATE DATABASE` (or the
/// drop at the end) failed every `verify` and `drift` with exit 3 and a CREATEDB help, even
/// with `--statement-timeout 0` for the migrations, and could leave the scratch database
/// behind: the tool's own sessions that create, read the settings for and drop scratch
/// databases are not bound by it. Nor is `drift`'s read of the live schema, which failed with
/// exit 3 ("cannot read the schema from the system catalogs: canceling statement").
///
/// 1 ms, the shortest there is, is shorter than any `CREATE DATABASE`, so the proof holds on
/// any machine; and those sessions carry `statement_timeout=0` in their startup packet, so that
/// not even their first statement runs under it (a `SET statement_timeout = 0` sent first was
/// itself cancelled now and then under load: this test, with 2 ms, was load-sensitive). It is
/// made by `status` and by `drift` of a database with no migration applied: they read the
/// ledger, the live schema and settings, make, snapshot and drop a scratch database (given the
/// 1 ms too) with the tool's own statements alone — `verify`'s are the same code
/// (`settings::read_with`, `TargetSettings::new_scratch`, `Scratch::drop_now`). A migration
/// replayed under it is not a robust proof of anything: a session that runs migrations keeps
/// the user's timeout, the engine's message arms the session's 1 ms at its first statement,
/// before its `SET LOCAL statement_timeout = 0` disarms it, and a loaded machine can take
/// longer than that to get there (`verify --statement-timeout 0` failed so, exit 4, "no
/// statement_timeout was in force", in about one run in three under load).
#[test]
fn the_targets_statement_timeout_does_not_bound_the_tools_own_statements() {
    let db = TestDb::new("verify_stmt_timeout");
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET statement_timeout = '1ms'",
            db.name
        ))
        .unwrap();
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (a int);\n", "DROP TABLE t;\n");
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::NOT_INITIALISED)
        .stderr_lacks("canceling statement");
    let run = project.run_on(&db, &["migrate", "drift"]);
    run.code(exit::SUCCESS)
        .stdout_has("no drift: the live database matches its 0 applied migrations replayed");
    assert_scratch_dropped(&run);
}

/// A migration that fails unless its database has `encoding`, `collate`, `ctype` and, when
/// given, the ICU locale `icu` — and that writes a byte only LATIN1 takes when `latin1`.
fn locale_project(encoding: &str, collate: &str, icu: Option<&str>, latin1: bool) -> Project {
    let icu_check = icu.map_or(String::new(), |icu| {
        format!(
            " OR d.datlocprovider <> 'i' OR COALESCE(to_jsonb(d)->>'datlocale', \
             to_jsonb(d)->>'daticulocale') <> '{icu}'"
        )
    });
    let check = format!(
        "DO $$ BEGIN IF EXISTS (SELECT FROM pg_database d WHERE d.datname = current_database() \
         AND (pg_encoding_to_char(d.encoding) <> '{encoding}' OR d.datcollate <> '{collate}' \
         OR d.datctype <> '{collate}'{icu_check})) THEN RAISE EXCEPTION 'another locale'; END IF; END $$;\n"
    );
    let insert = if latin1 {
        "INSERT INTO x VALUES (E'\\xe9');\n"
    } else {
        ""
    };
    let project = Project::new();
    project.migration(
        "001_x",
        &format!("{check}CREATE TABLE x (c text);\n{insert}"),
        "DROP TABLE x;\n",
    );
    project
}

/// Scratch databases were created with the server's defaults (`template1`'s encoding, locale
/// and objects): on a LATIN1 database, a migration that applied fine failed on the scratch
/// copy (exit 4, "fix the file"). They are created from `template0` with the target's encoding,
/// LC_COLLATE, LC_CTYPE and locale provider.
#[test]
fn scratch_databases_have_the_targets_encoding_and_locale() {
    let db = TestDb::unborn("verify_latin1");
    admin()
        .batch_execute(&format!(
            "CREATE DATABASE \"{}\" TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'",
            db.name
        ))
        .unwrap();
    let project = locale_project("LATIN1", "C", None, true);
    let run = project.run_on(&db, &["migrate", "verify"]);
    run.code(exit::SUCCESS)
        .stdout_has("1 reversible")
        .stderr_lacks("warning");
    assert_scratch_dropped(&run);
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "drift"])
        .code(exit::SUCCESS)
        .stderr_lacks("warning");

    // An ICU database, where the server has ICU.
    let icu: bool = admin()
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_collation WHERE collprovider = 'i')",
            &[],
        )
        .unwrap()
        .get(0);
    if icu {
        let db = TestDb::unborn("verify_icu");
        admin()
            .batch_execute(&format!(
                "CREATE DATABASE \"{}\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' \
                 LC_CTYPE 'C' LOCALE_PROVIDER icu ICU_LOCALE 'de-DE'",
                db.name
            ))
            .unwrap();
        let project = locale_project("UTF8", "C", Some("de-DE"), false);
        let run = project.run_on(&db, &["migrate", "verify"]);
        run.code(exit::SUCCESS)
            .stdout_has("1 reversible")
            .stderr_lacks("warning");
    }
}

/// A scratch database made from `template1` got what a DBA put there, which `drift` then
/// reported as missing from a live database created from `template0`. On a throwaway cluster:
/// the shared server's `template1` is every test's.
#[test]
fn objects_of_template1_are_not_in_the_scratch_databases() {
    let cluster = confiture_tests::cluster::Cluster::init();
    cluster.start();
    cluster
        .connect("postgres")
        .batch_execute("CREATE DATABASE app TEMPLATE template0")
        .unwrap();
    cluster
        .connect("template1")
        .batch_execute("CREATE TABLE tmpl_junk (id int)")
        .unwrap();
    let url = cluster.url("app", "");
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (a int);\n", "DROP TABLE t;\n");
    let run_with = |args: &[&str]| {
        Run::of(
            project
                .cli()
                .args(args)
                .args(["--database-url", url.as_str()]),
        )
    };
    run_with(&["migrate", "verify"])
        .code(exit::SUCCESS)
        .stdout_has("1 reversible");
    run_with(&["migrate", "up", "-q"]).code(exit::SUCCESS);
    run_with(&["migrate", "drift"])
        .code(exit::SUCCESS)
        .stdout_has("no drift");
}

/// Ctrl-C while verify or drift connect to a `--scratch-url` server that accepts and never
/// answers waited the whole `connect_timeout` (10 s): the connection was made holding the lock
/// the signal handler's drop takes. And an interrupted run said nothing in text mode (only the
/// `using ...` line). Both end at once now, with an error line.
#[test]
fn ctrl_c_while_connecting_to_a_silent_scratch_server_ends_at_once_and_says_so() {
    let (port, accepted) = crate::cli_interrupt::silent_server();
    let scratch_url = format!("postgresql://postgres@127.0.0.1:{port}/x?connect_timeout=10");
    let db = TestDb::new("verify_silent_scratch");
    let url = db.url();
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (a int);\n", "DROP TABLE t;\n");
    // A fleet's targets connect to the scratch server the same way.
    project.write("targets.txt", format!("{}\n", db.url()));
    let fleet = ["--targets", "targets.txt"];
    for (command, format, targets) in [
        ("verify", "table", &[][..]),
        ("drift", "table", &[]),
        ("verify", "json", &[]),
        ("verify", "table", &fleet),
        ("drift", "json", &fleet),
    ] {
        let before = accepted.load(std::sync::atomic::Ordering::SeqCst);
        let child = project.spawn(
            &[
                &["migrate", command, "--database-url", &url][..],
                targets,
                &["--scratch-url", &scratch_url, "--format", format],
            ]
            .concat(),
        );
        crate::cli_interrupt::until_connected(&accepted, before);
        let run = signalled(child, "-INT");
        run.code(exit::INTERRUPTED);
        assert!(run.elapsed < Duration::from_secs(3), "{}", run.dump());
        // A fleet's report says its target was interrupted (the signal thread waits for it).
        match (format, targets.is_empty()) {
            // The run's own report: its library call saw the stop while creating the scratch
            // database (its shape whatever the timing: see
            // `an_interrupted_run_writes_its_report_whatever_it_was_doing`).
            ("json", true) => {
                assert_eq!(
                    run.json()["errors"][0]["kind"],
                    "interrupted",
                    "{}",
                    run.dump()
                );
            }
            ("json", false) => {
                assert_eq!(
                    run.json()["targets"][0]["state"],
                    "interrupted",
                    "{}",
                    run.dump()
                );
            }
            (_, true) => {
                run.stderr_has("error: interrupted");
            }
            (_, false) => {
                run.stderr_has("interrupted while creating a scratch database")
                    .stdout_has("interrupted (exit 130)");
            }
        }
    }
}

/// With `--format json`, a `verify` or `drift` of one database stopped by Ctrl-C once its run
/// started writes one shape of document whatever it was doing: its report (`migrations` or
/// `drift`, `summary` or `replayed`, ...) with the interruption in `errors`. It wrote the
/// CLI's error document (`error` and `errors`, no report) instead when the signal thread
/// printed before the library returned its report — while connecting to a scratch server,
/// whichever of the two came first. Timings: while it connects to a scratch server that never
/// answers, and while a migration runs on the scratch database; before the run (its `.env` a
/// pipe nothing writes to), nothing started: the error document, as for every command.
#[test]
fn an_interrupted_run_writes_its_report_whatever_it_was_doing() {
    let (port, accepted) = crate::cli_interrupt::silent_server();
    let silent_url = format!("postgresql://postgres@127.0.0.1:{port}/x?connect_timeout=10");
    let db = TestDb::new("verify_report_shape");
    let url = db.url();
    // Asleep on a scratch database only (`up` applies it to the target at once).
    let project = slow_on_scratch();
    // Its environment in a `.env` that is a pipe nothing writes to.
    let piped = Project::new();
    piped.migration("001_t", "CREATE TABLE t (a int);\n", "DROP TABLE t;\n");
    let made = std::process::Command::new("mkfifo")
        .arg(piped.path(".env"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let json = ["--format", "json"];
    let at_the_pipe = |command: &str| {
        let child = piped.spawn(&[&["migrate", command][..], &json].concat());
        crate::cli_interrupt::until_reading_a_pipe(&child, command);
        signalled(child, "-INT")
    };
    let at_the_silent_server = |command: &str| {
        let before = accepted.load(std::sync::atomic::Ordering::SeqCst);
        let child = project.spawn(
            &[
                &["migrate", command, "--database-url", &url][..],
                &["--scratch-url", &silent_url],
                &json,
            ]
            .concat(),
        );
        crate::cli_interrupt::until_connected(&accepted, before);
        let run = signalled(child, "-INT");
        let elapsed = run.elapsed;
        (run, elapsed)
    };
    let asleep = |command: &str| {
        let args = [
            "migrate",
            command,
            "--database-url",
            &url,
            "--format",
            "json",
        ];
        let (child, scratch) = spawn_asleep_on_scratch(&project, &args);
        signalled_asleep(child, "-INT", &scratch)
    };
    // `drift` replays what the ledger says was applied.
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    for command in ["verify", "drift"] {
        let run = at_the_pipe(command);
        run.code(exit::INTERRUPTED);
        assert!(run.elapsed < Duration::from_secs(3), "{}", run.dump());
        let doc = run.json();
        assert_eq!(doc["error"]["kind"], "interrupted", "{}", run.dump());
        assert_eq!(doc["errors"][0], doc["error"], "{}", run.dump());
        assert!(doc.get("passed").is_none(), "{}", run.dump());
    }
    for (command, when, (run, slept)) in [
        ("verify", "connecting", at_the_silent_server("verify")),
        ("verify", "replaying", asleep("verify")),
        ("drift", "connecting", at_the_silent_server("drift")),
        ("drift", "replaying", asleep("drift")),
    ] {
        run.code(exit::INTERRUPTED);
        // Connecting, nothing to drop: the run itself is prompt. Replaying, it also waits for
        // the drop of the scratch database (`signalled_asleep`): its statement is.
        if when == "connecting" {
            assert!(run.elapsed < Duration::from_secs(3), "{}", run.dump());
        } else {
            assert!(slept < STOPPED_WITHIN, "{slept:?}\n{}", run.dump());
        }
        let doc = run.json();
        let what = format!("{command} {when}: {}", run.dump());
        assert!(doc.get("error").is_none(), "the error document: {what}");
        assert_eq!(doc["errors"][0]["kind"], "interrupted", "{what}");
        assert_eq!(doc["passed"], false, "{what}");
        let report_keys: &[&str] = match command {
            "verify" => &[
                "migrations",
                "summary",
                "scratch_database",
                "left_on_server",
            ],
            _ => &["drift", "replayed", "scratch_databases", "left_on_server"],
        };
        for key in report_keys {
            assert!(doc.get(key).is_some(), "no {key}: {what}");
        }
    }
}

/// A `statement_timeout` that confiture did not set (`ALTER DATABASE` / `ALTER ROLE ... IN
/// DATABASE ... SET`, or the URL's `options`) was called "statement_timeout (server default)"
/// in the failure's help, sending the user to postgresql.conf: it is the session's, named by
/// where it comes from.
#[test]
fn a_statement_timeout_confiture_did_not_set_is_not_called_the_servers_default() {
    let db = TestDb::new("up_session_timeout");
    let project = Project::new();
    project.migration(
        "001_slow",
        "CREATE TABLE s (a int);\nSELECT pg_sleep(0.8);\n",
        "DROP TABLE s;\n",
    );
    for (setting, source) in [
        (
            format!(
                "ALTER DATABASE \"{}\" SET statement_timeout = '300ms'",
                db.name
            ),
            "the database's default (ALTER DATABASE ... SET)",
        ),
        (
            format!(
                "ALTER DATABASE \"{}\" RESET statement_timeout; \
                 ALTER ROLE postgres IN DATABASE \"{}\" SET statement_timeout = '300ms'",
                db.name, db.name
            ),
            "the role's default in this database (ALTER ROLE ... IN DATABASE ... SET)",
        ),
    ] {
        admin().batch_execute(&setting).unwrap();
        project
            .run_on(&db, &["migrate", "up"])
            .code(exit::MIGRATION_FAILED)
            .stderr_has(&format!(
                "statement_timeout (300ms, the session's, from {source})"
            ))
            .stderr_lacks("server default");
    }
    admin()
        .batch_execute(&format!(
            "ALTER ROLE postgres IN DATABASE \"{}\" RESET statement_timeout",
            db.name
        ))
        .unwrap();
}

/// A target whose `statement_timeout` is shorter than a migration: the scratch database has it
/// too (for the migrations' sake), and the failure's help names `--statement-timeout`, which
/// verify and drift did not take (exit 64). They take it, as `up` does, for the migrations
/// (and schema files) they run on scratch databases.
#[test]
fn verify_and_drift_take_the_statement_timeout_their_help_names() {
    let db = TestDb::new("verify_statement_timeout");
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET statement_timeout = '500ms'",
            db.name
        ))
        .unwrap();
    let project = Project::new();
    project.migration(
        "001_slow",
        "CREATE TABLE s (a int);\nSELECT pg_sleep(0.8);\n",
        "DROP TABLE s;\n",
    );
    project
        .run_on(&db, &["migrate", "verify"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("--statement-timeout");
    project
        .run_on(&db, &["migrate", "verify", "--statement-timeout", "5s"])
        .code(exit::SUCCESS)
        .stdout_has("1 reversible");
    project
        .run_on(&db, &["migrate", "up", "-q", "--statement-timeout", "5s"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "drift"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("--statement-timeout");
    project.write(
        "db/schema/all.sql",
        "CREATE TABLE s (a int);\nSELECT pg_sleep(0.8);\n",
    );
    project
        .run_on(
            &db,
            &[
                "migrate",
                "drift",
                "--schema-dir",
                "db/schema",
                "--statement-timeout",
                "5s",
                "--lock-timeout-statement",
                "5s",
            ],
        )
        .code(exit::SUCCESS)
        .stdout_has("the schema directory db/schema matches the migrations");
}

/// While they replay, `drift` and `verify` hold two connections, both on the scratch database
/// (the snapshots' session and the replay's own): `drift` closed its session on the live
/// database once it had read it. A role or database `CONNECTION LIMIT` a run fits in, and the
/// count the fleet's `--jobs` help gives (`fleet.rs`), are that.
#[test]
fn drift_and_verify_hold_two_connections_while_they_replay() {
    let db = TestDb::new("drift_conns");
    let project = Project::new();
    project.migration(
        "001_slow_on_scratch",
        "CREATE TABLE t (a int);\nDO $$ BEGIN IF current_database() LIKE 'confiture_scratch%' \
         THEN PERFORM pg_sleep(60); END IF; END $$;\n",
        "DROP TABLE t;\n",
    );
    // Every session of the run, whatever its database, by the run's application name.
    let app = unique("cft_conns");
    let url = format!("{}?application_name={app}", db.url());
    project
        .run(&["migrate", "up", "--database-url", &url])
        .code(exit::SUCCESS);
    let held = || -> Vec<String> {
        admin()
            .query(
                "SELECT datname::text FROM pg_stat_activity WHERE application_name = $1 \
                 ORDER BY 1",
                &[&app],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    for command in ["drift", "verify"] {
        let args = ["migrate", command, "--database-url", &url];
        let (child, scratch) = spawn_asleep_on_scratch(&project, &args);
        let two = wait_until(Duration::from_secs(5), || held().len() == 2);
        let sessions = held();
        let run = signalled(child, "-TERM");
        run.code(exit::INTERRUPTED);
        assert!(two, "{command}: {sessions:?}\n{}", run.dump());
        assert_eq!(
            sessions,
            [scratch.as_str(), scratch.as_str()],
            "{command}\n{}",
            run.dump()
        );
        assert!(!database_exists(&scratch), "{}", run.dump());
    }
}

/// Two roles: `login`, which connects, and `owner`, which the connection's options make the
/// session's role (`options=-c role=owner`): migrations run as `owner`, as `up` ran them.
/// Dropped (later, by the harness's reaper) on drop.
struct SetRole {
    login: Role,
    owner: Role,
}

impl SetRole {
    /// `login` and `owner` with these attributes (CREATEDB or NOCREATEDB), `login` a member
    /// of `owner`.
    fn new(login: &str, owner: &str) -> SetRole {
        let roles = SetRole {
            owner: Role::with("cft_setrole_owner", owner),
            login: Role::with("cft_setrole_login", login),
        };
        admin()
            .batch_execute(&format!(
                "ALTER ROLE \"{}\" NOLOGIN; GRANT \"{}\" TO \"{}\"",
                roles.owner.name(),
                roles.owner.name(),
                roles.login.name()
            ))
            .unwrap();
        roles
    }

    /// A URL of `db` as `login`, with the session's role set to `owner` by its options.
    fn url(&self, db: &str) -> String {
        format!(
            "{}?options=-c%20role%3D{}",
            self.login.url(db),
            self.owner.name()
        )
    }
}

/// `verify` and `drift` through a connection whose options set the session's role
/// (`-c role=owner`): the scratch database is created by whichever of the two roles may
/// create databases, owned by the role the migrations run as, and made writable (and given
/// the target's role settings) for the login role, whose settings a session there starts
/// with. They used to fail with exit 3: "permission denied to create database" with a help
/// saying to grant CREATEDB to a login role that had it, or "cannot make the scratch
/// database writable". When neither role may create databases, the error says so, naming
/// both (exit 3, as for one role without CREATEDB).
#[test]
fn verify_and_drift_through_a_connection_that_sets_the_role() {
    let project = Project::example();
    for (login, owner) in [("CREATEDB", "NOCREATEDB"), ("NOCREATEDB", "CREATEDB")] {
        let roles = SetRole::new(login, owner);
        let db = TestDb::new("verify_setrole");
        // The login role's settings in the target, which a session there starts with, and
        // which the scratch database is given.
        admin()
            .batch_execute(&format!(
                "ALTER DATABASE \"{db}\" OWNER TO \"{owner}\"; ALTER ROLE \"{login}\" IN \
                 DATABASE \"{db}\" SET check_function_bodies = off",
                db = db.name,
                owner = roles.owner.name(),
                login = roles.login.name()
            ))
            .unwrap();
        let url = roles.url(&db.name);
        let case = format!("login {login}, owner {owner}");
        let run = project.run(&["migrate", "up", "--database-url", &url]);
        assert_eq!(run.code, i32::from(exit::SUCCESS), "{case}\n{}", run.dump());
        for command in ["drift", "verify"] {
            let run = project.run(&["migrate", command, "--database-url", &url]);
            assert_eq!(
                run.code,
                i32::from(exit::SUCCESS),
                "{case}, {command}\n{}",
                run.dump()
            );
            assert!(
                !run.stderr.contains("warning")
                    && (command == "drift" || run.stdout.contains("6 reversible")),
                "{case}, {command}\n{}",
                run.dump()
            );
            assert_scratch_dropped(&run);
        }
        drop(db);
    }

    // Interrupted while it replays: the scratch database, the session's role's, is dropped
    // although the sessions still there are the login role's.
    let roles = SetRole::new("CREATEDB", "NOCREATEDB");
    let db = TestDb::unborn("verify_setrole");
    let slow = slow_project();
    let url = roles.url(&db.name);
    let (child, scratch) =
        spawn_asleep_on_scratch(&slow, &["migrate", "verify", "--database-url", &url]);
    let run = signalled(child, "-TERM");
    run.code(exit::INTERRUPTED).stderr_has(&format!(
        "interrupted: dropped the scratch database \"{scratch}\""
    ));
    assert!(!database_exists(&scratch), "{}", run.dump());

    let roles = SetRole::new("NOCREATEDB", "NOCREATEDB");
    let db = TestDb::new("verify_setrole");
    let url = roles.url(&db.name);
    for command in ["verify", "drift"] {
        let run = project.run(&["migrate", command, "--database-url", &url]);
        run.code(exit::CONNECTION)
            .stderr_has(&format!(
                "neither the session's role \"{}\" (set by the connection's options) nor the \
                 login role \"{}\" may create databases",
                roles.owner.name(),
                roles.login.name()
            ))
            .stderr_has(&format!("grant CREATEDB to \"{}\"", roles.owner.name()))
            .stderr_has("`--scratch-url URL`");
    }
    drop(db);
}

/// Whether process `pid` has `signal` pending (`/proc/<pid>/status`, `SigPnd` or `ShdPnd`):
/// a stopped process keeps a signal sent to it pending until it is continued.
fn signal_pending(pid: i32, signal: libc::c_int) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().any(|line| {
        let mask = line
            .strip_prefix("SigPnd:")
            .or_else(|| line.strip_prefix("ShdPnd:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok());
        mask.is_some_and(|mask| mask & (1 << (signal - 1)) != 0)
    })
}

/// A scratch database whose connection's options set the session's role (`-c role=owner`),
/// dropped while a session of the login role there takes longer than the server's 5 s to
/// exit (its backend stopped, as a loaded machine stops it): the drop as `owner` may not end
/// the login role's sessions (42501), the login role may (`SET ROLE NONE`), and its drop
/// then met the session not gone yet (55006, "being accessed by other users") — which the
/// drop reported as the first refusal, "permission denied to terminate process", and never
/// tried again: the scratch database was left behind (a warning, or an interrupted `verify`
/// without its "dropped" line). The drop is tried again while sessions there are exiting.
/// On a throwaway cluster: a stopped backend holds up every other session's `DROP DATABASE`.
#[test]
fn a_scratch_database_is_dropped_when_a_session_of_the_login_role_is_slow_to_exit() {
    use confiture_tests::cluster::Cluster;
    let cluster = Cluster::init();
    cluster.start();
    let mut admin = cluster.connect("postgres");
    admin
        .batch_execute(
            "CREATE ROLE owner NOLOGIN NOCREATEDB; CREATE ROLE login LOGIN CREATEDB; \
             GRANT owner TO login",
        )
        .unwrap();
    let url = format!(
        "postgresql://login@localhost:{}/postgres?options=-c%20role%3Downer",
        cluster.port()
    );
    let env = confiture::config::Environment::from_url(&url, "test").unwrap();
    let scratch = confiture::db::scratch::Scratch::create(&env).unwrap();
    let name = scratch.name().to_string();
    // A session of the login role there, its backend stopped: it cannot exit when told to.
    let mut lingering = postgres::Client::connect(
        &format!(
            "host=localhost port={} user=login dbname={name}",
            cluster.port()
        ),
        postgres::NoTls,
    )
    .unwrap();
    let pid: i32 = lingering
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    // SAFETY: kill(2) reads its two integer arguments only.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let dropping = std::thread::spawn(move || scratch.drop_now());
    // The login role's drop told it to exit (SIGTERM, pending while it is stopped), and that
    // drop was refused: the server waited 5 s for it, and says so in its log (the drop's
    // session is idle only for a moment between two tries, which a poll of
    // `pg_stat_activity` missed on a loaded machine). Then it may go.
    let told = wait_until(Duration::from_secs(120), || {
        signal_pending(pid, libc::SIGTERM) || dropping.is_finished()
    });
    let refused = wait_until(Duration::from_secs(120), || {
        cluster.log().contains("is being accessed by other users") || dropping.is_finished()
    });
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let dropped = dropping.join().unwrap();
    assert!(
        told && refused,
        "told {told}, refused {refused}: {dropped:?}"
    );
    assert!(
        dropped.is_ok(),
        "{:?}\n--- server log\n{}",
        dropped.map_err(|e| e.message_with_cause()),
        cluster.log()
    );
    let left: bool = admin
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert!(!left, "{name} left behind");
    drop(lingering);
}

/// `drift --lock-wait` bounds its reads of the live database, as `up`'s bounds its ledger
/// read: a lock another session holds on the ledger, or on a table a view the snapshot reads
/// is over, is waited for that long, then exit 6 naming the session holding it — not the
/// environment's `lock_timeout`, which is the migrations' (drift used to have no such flag,
/// exit 64).
#[test]
fn drift_lock_wait_bounds_the_live_reads() {
    let db = TestDb::new("drift_lockwait");
    let project = Project::new();
    project.migration(
        "001_w",
        "CREATE TABLE w (id int);\nCREATE VIEW v AS SELECT id FROM w;\n",
        "DROP VIEW v;\nDROP TABLE w;\n",
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    for table in ["tb_confiture", "w"] {
        let mut other = db.connect();
        other
            .batch_execute(&format!(
                "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
            ))
            .unwrap();
        let pid: i32 = other
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        // Released after 5 s at the latest: a wait not bounded by --lock-wait ends there.
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(5));
            other.batch_execute("COMMIT").unwrap();
        });
        let run = project.run_on(&db, &["migrate", "drift", "--lock-wait", "500ms"]);
        release.join().unwrap();
        run.code(exit::LOCK_TIMEOUT)
            .stderr_has(&format!("pid {pid}"));
        assert!(
            run.elapsed < Duration::from_secs(4),
            "{table}\n{}",
            run.dump()
        );
    }
    // 0: one try, no wait, as for the migration lock.
    project
        .run_on(&db, &["migrate", "drift", "--lock-wait", "0"])
        .code(exit::SUCCESS);
}

/// Two sessions each holding a lock in the way of `drift`'s snapshot of the live database
/// (`ACCESS EXCLUSIVE` on a table a view is over): the error names both, and its help ends
/// both by their pids, as every other lock error's does (`lock::holders_help`) — it used to
/// name only the first (`pg_terminate_backend(<first pid>)`).
#[test]
fn drift_lock_help_names_every_session_holding_a_lock_in_the_way() {
    let db = TestDb::new("drift_lockmany");
    let project = Project::new();
    project.migration(
        "001_w",
        "CREATE TABLE w1 (id int);\nCREATE VIEW v1 AS SELECT id FROM w1;\n\
         CREATE TABLE w2 (id int);\nCREATE VIEW v2 AS SELECT id FROM w2;\n",
        "DROP VIEW v2;\nDROP TABLE w2;\nDROP VIEW v1;\nDROP TABLE w1;\n",
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let mut holders: Vec<(postgres::Client, i32)> = ["w1", "w2"]
        .iter()
        .map(|table| {
            let mut other = db.connect();
            // The server ends it after 20 s: never a test left hanging.
            other
                .batch_execute(&format!(
                    "SET idle_in_transaction_session_timeout = '20s'; \
                     BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
                ))
                .unwrap();
            let pid: i32 = other
                .query_one("SELECT pg_backend_pid()", &[])
                .unwrap()
                .get(0);
            (other, pid)
        })
        .collect();
    let mut pids: Vec<i32> = holders.iter().map(|(_, pid)| *pid).collect();
    pids.sort_unstable();
    let run = project.run_on(&db, &["migrate", "drift", "--lock-wait", "300ms"]);
    run.code(exit::LOCK_TIMEOUT)
        .stderr_has(&format!("held by pid {}", pids[0]))
        .stderr_has(&format!("held by pid {}", pids[1]))
        .stderr_has("wait for those sessions to finish")
        .stderr_has(&format!(
            "`SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.unnest(ARRAY[{}, {}]) AS pid`",
            pids[0], pids[1]
        ));
    for (other, _) in &mut holders {
        other.batch_execute("ROLLBACK").unwrap();
    }
}

/// Ctrl-C during a fleet's `verify` or `drift` said which targets it interrupted only when it
/// came while a migration ran on a scratch database: at any other moment — a target
/// connecting, its scratch database being created, its ledger read waiting for a lock — the
/// signal thread, seeing no scratch database, dropped nothing and printed its own error at
/// once, without a word of the running targets (text and JSON alike), and the target's
/// connection or `CREATE DATABASE` could not be stopped anyway. Now every step of a target's
/// run ends at the stop, the signal thread waits for the fleet's report, and that report, the
/// one JSON document, says each running target `interrupted` (and the targets not started).
/// The signal is sent once the run itself waits for the ledger's lock: a session of the
/// previous case's run, killed while its read waited, may still wait there (as
/// [`stray_ledger_reader`]'s does), and taking its wait for the new run's signalled that run
/// before its handlers were installed (exit -1, no output) or before its fleet started.
#[test]
fn ctrl_c_at_any_moment_of_a_fleet_verify_or_drift_reports_its_running_targets_interrupted() {
    let db = TestDb::new("verify_fleet_sigint_any");
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (a int);\n", "DROP TABLE t;\n");
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    // Accepts and never answers: a connection there waits.
    let (port, accepted) = crate::cli_interrupt::silent_server();
    let silent_url = |database: &str| {
        format!("postgresql://postgres@127.0.0.1:{port}/{database}?connect_timeout=60")
    };
    // Connecting: the target itself never answers.
    project.write("silent.txt", format!("{}\n", silent_url("silent_target")));
    // The scratch database being created: the scratch server never answers.
    project.write("one.txt", format!("{}\n", db.url()));
    // Waiting for the ledger's lock (`drift` reads the history): the second target, listed
    // after it with one job, never starts.
    let second = TestDb::new("verify_fleet_sigint_any_2");
    project
        .run_on(&second, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    project.write("two.txt", format!("{}\n{}\n", db.url(), second.url()));
    let scratch_url = silent_url("x");
    let silent_target = "silent_target".to_string();
    let cases: Vec<(&str, Vec<&str>, &str, &String)> = vec![
        (
            "verify",
            vec!["--targets", "silent.txt"],
            "connecting",
            &silent_target,
        ),
        (
            "drift",
            vec!["--targets", "silent.txt"],
            "connecting",
            &silent_target,
        ),
        (
            "verify",
            vec!["--targets", "one.txt", "--scratch-url", &scratch_url],
            "creating the scratch database",
            &db.name,
        ),
        (
            "drift",
            vec!["--targets", "one.txt", "--scratch-url", &scratch_url],
            "creating the scratch database",
            &db.name,
        ),
        (
            "drift",
            vec!["--targets", "two.txt", "--jobs", "1", "--lock-wait", "60s"],
            "waiting for the ledger's lock",
            &db.name,
        ),
    ];
    let url = db.url();
    for (command, args, moment, running) in cases {
        for format in ["table", "json"] {
            let mut holder = postgres::Client::connect(&db.url(), postgres::NoTls).unwrap();
            let mut lock = holder.transaction().unwrap();
            let mut stray = None;
            if moment.starts_with("waiting") {
                lock.batch_execute("LOCK TABLE tb_confiture IN ACCESS EXCLUSIVE MODE")
                    .unwrap();
                stray = Some(stray_ledger_reader(&db));
            }
            // The sessions there before the run: the run's own wait is that of another one.
            let sessions = db
                .value(
                    "SELECT coalesce(string_agg(pid::text, ','), '') FROM pg_stat_activity \
                     WHERE datname = current_database()",
                )
                .unwrap_or_default();
            let before = accepted.load(std::sync::atomic::Ordering::SeqCst);
            let child = project.spawn(
                &[
                    &["migrate", command, "--database-url", &url][..],
                    &args,
                    &["--format", format],
                ]
                .concat(),
            );
            if moment.starts_with("waiting") {
                let waiting = wait_until(Duration::from_secs(30), || {
                    db.value(&format!(
                        "SELECT count(*) FROM pg_locks WHERE NOT granted \
                         AND relation = 'tb_confiture'::regclass \
                         AND pid <> ALL('{{{sessions}}}'::int[])"
                    ))
                    .as_deref()
                        != Some("0")
                });
                assert!(waiting, "{command} never waited for the lock");
            } else {
                crate::cli_interrupt::until_connected(&accepted, before);
            }
            let run = signalled(child, "-INT");
            lock.rollback().unwrap();
            if let Some(stray) = stray {
                stray.join().expect("the stray ledger read");
            }
            let case = format!("{command} {format}, {moment}");
            run.code(exit::INTERRUPTED).stderr_lacks("failed:");
            assert!(
                run.elapsed < Duration::from_secs(10),
                "{case}: {}",
                run.dump()
            );
            if format == "json" {
                let documents: Vec<serde_json::Value> =
                    serde_json::Deserializer::from_str(&run.stdout)
                        .into_iter::<serde_json::Value>()
                        .collect::<Result<_, _>>()
                        .unwrap_or_else(|e| panic!("{case}: {e}\n{}", run.dump()));
                assert_eq!(documents.len(), 1, "{case}: {}", run.dump());
                let doc = &documents[0];
                assert_eq!(doc["summary"]["interrupted"], true, "{case}: {doc}");
                assert_eq!(doc["summary"]["failed"], 0, "{case}: {doc}");
                let first = &doc["targets"][0];
                assert!(
                    first["target"]
                        .as_str()
                        .unwrap_or("")
                        .contains(running.as_str()),
                    "{case}: {doc}"
                );
                assert_eq!(first["state"], "interrupted", "{case}: {doc}");
                assert_eq!(first["error"]["kind"], "interrupted", "{case}: {doc}");
                if let Some(second) = doc["targets"].get(1) {
                    assert_eq!(second["state"], "not_started", "{case}: {doc}");
                }
            } else {
                assert!(
                    run.stderr.lines().any(|l| l.starts_with("interrupted: ")
                        && l.contains(running.as_str())
                        && l.ends_with("(exit 130)")),
                    "{case}: {}",
                    run.dump()
                );
            }
        }
    }
}

/// Another session's read of `db`'s ledger, waiting for the lock a test holds on it, and shown
/// waiting in `pg_locks` when this returns; it ends once the lock is released (30 s at most).
/// A run killed while its ledger read waits leaves such a session: the server does not see the
/// client is gone while the statement waits.
fn stray_ledger_reader(db: &TestDb) -> std::thread::JoinHandle<()> {
    let mut stray = db.connect();
    let pid: i32 = stray
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let reading = std::thread::spawn(move || {
        stray
            .batch_execute("SET lock_timeout = '30s'; SELECT FROM tb_confiture")
            .expect("the stray ledger read ends once the lock is released");
    });
    let waiting = wait_until(Duration::from_secs(30), || {
        db.value(&format!(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = {pid}"
        ))
        .as_deref()
            != Some("0")
    });
    assert!(waiting, "the stray ledger read never waited for the lock");
    reading
}

/// h12 D1: `verify --format json` (and `drift`) stopped by Ctrl-C or SIGTERM printed only an
/// error object (`error`, `errors`, `schema`): no `migrations`, no `summary.interrupted`, no
/// `passed`, though the run had reported what it checked. The report is the output now, the
/// interruption in its `errors`, exit 130, and the scratch database is still dropped.
#[test]
fn an_interrupted_verify_or_drift_still_prints_its_json_report() {
    let db = TestDb::unborn("verify_json_sigint");
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.migration("002_b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
    project.migration(
        "003_slow",
        "CREATE TABLE s (i int);\nSELECT pg_sleep(60);\n",
        "DROP TABLE s;\n",
    );
    let url = db.url();
    for signal in ["-INT", "-TERM"] {
        let args = [
            "migrate",
            "verify",
            "--database-url",
            url.as_str(),
            "--format",
            "json",
        ];
        let (child, scratch) = spawn_asleep_on_scratch(&project, &args);
        let run = signalled(child, signal);
        run.code(exit::INTERRUPTED);
        let doc = run.json();
        let results: Vec<(&str, &str)> = doc["migrations"]
            .as_array()
            .unwrap_or_else(|| panic!("{signal}: no migrations\n{}", run.dump()))
            .iter()
            .map(|m| {
                (
                    m["version"].as_str().unwrap_or(""),
                    m["result"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            results,
            [
                ("001", "reversible"),
                ("002", "reversible"),
                ("003", "interrupted")
            ],
            "{signal}\n{}",
            run.dump()
        );
        assert_eq!(doc["summary"]["interrupted"], 1, "{}", run.dump());
        assert_eq!(doc["errors"][0]["kind"], "interrupted", "{}", run.dump());
        assert!(!database_exists(&scratch), "{scratch} left behind");
    }
    // drift replays the applied migrations on a scratch database (asleep only there):
    // stopped there, its report too.
    let project = slow_on_scratch();
    let live = TestDb::new("drift_json_sigint");
    project
        .run_on(&live, &["migrate", "up"])
        .code(exit::SUCCESS);
    let live_url = live.url();
    let args = [
        "migrate",
        "drift",
        "--database-url",
        live_url.as_str(),
        "--format",
        "json",
    ];
    let (child, scratch) = spawn_asleep_on_scratch(&project, &args);
    let run = signalled(child, "-INT");
    run.code(exit::INTERRUPTED);
    let doc = run.json();
    assert!(doc.get("passed").is_some(), "{}", run.dump());
    assert_eq!(doc["errors"][0]["kind"], "interrupted", "{}", run.dump());
    assert!(!database_exists(&scratch), "{scratch} left behind");
}

/// A relay to the server under test on a port of its own, which holds the first connection
/// made once `silence` is set accepted and never answered (counted in `held`), and relays
/// every other: one step of a run meets a server that does not answer, the others the real one.
fn relay_silencing_one() -> (
    u16,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = listener.local_addr().unwrap().port();
    let silence = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let held = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (silenced, counted) = (silence.clone(), held.clone());
    let upstream = confiture_tests::server().host_port();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        for stream in listener.incoming().flatten() {
            if silenced.swap(false, Ordering::SeqCst) {
                kept.push(stream);
                counted.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                continue;
            };
            for (mut from, mut to) in [
                (stream.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, stream),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    (port, silence, held)
}

/// Ctrl-C while `drift --schema-dir` creates its second scratch database, every migration
/// already replayed on the first: the error said "nothing was run". It says what was.
#[test]
fn ctrl_c_while_creating_the_schema_directorys_scratch_database_says_the_replay_ran() {
    use std::sync::atomic::Ordering;
    let go = DropRoleLater(unique("hnr_go"));
    let db = TestDb::new("drift_second_scratch");
    let project = Project::new();
    project
        // Asleep on the first scratch database until the role `go` exists: the relay then
        // silences the next connection, the second scratch database's.
        .migration(
            "001_t",
            &format!(
                "CREATE TABLE t (a int);\n\
                 DO $$ BEGIN\n\
                   WHILE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{}') LOOP\n\
                     PERFORM pg_sleep(0.02);\n\
                   END LOOP;\n\
                 END $$;\n",
                go.0
            ),
            "DROP TABLE t;\n",
        )
        .write("db/schema/t.sql", "CREATE TABLE t (a int);\n");
    let (port, silence, held) = relay_silencing_one();
    let scratch_url = format!("postgresql://postgres@127.0.0.1:{port}/postgres?connect_timeout=10");
    let (child, _scratch) = spawn_asleep_on_scratch(
        &project,
        &[
            "migrate",
            "drift",
            "--database-url",
            &db.url(),
            "--schema-dir",
            "db/schema",
            "--scratch-url",
            &scratch_url,
        ],
    );
    silence.store(true, Ordering::SeqCst);
    admin()
        .batch_execute(&format!("CREATE ROLE \"{}\"", go.0))
        .expect("let the replay go on");
    let silenced = wait_until(Duration::from_secs(60), || held.load(Ordering::SeqCst) > 0);
    assert!(silenced, "the run never connected again");
    let run = signalled(child, "-INT");
    run.code(exit::INTERRUPTED)
        .stderr_has(
            "interrupted while creating a scratch database: the migrations had been replayed \
             on a scratch database; none of the schema directory's files was run",
        )
        .stderr_lacks("nothing was run");
}

/// A down that re-adds a column its up dropped puts it at the end (the only place a
/// column can be added), and the same goes for a composite type's attribute: the table went
/// from (id, v) to (v, id), and positional INSERT, COPY and SELECT * read it differently.
/// verify said "reversible" and nothing else. It still does (no down can restore the place),
/// and warns, naming the table and both orders, in text and in the JSON's warnings.
#[test]
fn a_down_that_reorders_columns_is_reversible_with_a_warning() {
    let db = TestDb::unborn("verify_col_order");
    let project = Project::new();
    project
        .migration(
            "001_a",
            "CREATE TABLE a (id int, v text);\nCREATE TYPE comp AS (x int, y text);\n",
            "DROP TYPE comp;\nDROP TABLE a;\n",
        )
        .migration(
            "002_d",
            "ALTER TABLE a DROP COLUMN id;\nALTER TYPE comp DROP ATTRIBUTE x;\n",
            "ALTER TABLE a ADD COLUMN id int;\nALTER TYPE comp ADD ATTRIBUTE x int;\n",
        )
        // Adding a column and dropping it again leaves the order as it was: no warning.
        .migration(
            "003_add",
            "ALTER TABLE a ADD COLUMN w int;\n",
            "ALTER TABLE a DROP COLUMN w;\n",
        );
    let run = project.run_on(&db, &["migrate", "verify"]);
    run.code(exit::SUCCESS)
        .stdout_has("3 reversible (3 migrations in ")
        .stderr_has(
            "db/migrations/002_d.down.sql: column order of table public.a: (id, v) before, \
             (v, id) after its down: positional INSERT, COPY without a column list and \
             SELECT * read them differently",
        )
        .stderr_has("db/migrations/002_d.down.sql: attribute order of type public.comp: (x, y) before, (y, x) after its down")
        .stderr_lacks("003_add.down.sql:");
    assert_scratch_dropped(&run);

    let run = project.run_on(&db, &["migrate", "verify", "--format", "json", "-q"]);
    run.code(exit::SUCCESS);
    let json = run.json();
    assert_eq!(json["passed"], true);
    assert_eq!(json["summary"]["reversible"], 3);
    let warnings: Vec<&str> = (json["warnings"].as_array().unwrap().iter())
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings.iter().any(|w| w
            .contains("column order of table public.a: (id, v) before, (v, id) after its down")),
        "{warnings:?}"
    );
}

/// A column dropped and added again by hand moves to the end; drift said "no drift".
/// It is no drift (no migration could restore the place either) but a warning naming the
/// table and both orders, in text and JSON, exit unchanged.
#[test]
fn drift_warns_of_columns_in_another_order_than_the_history_makes() {
    let db = TestDb::new("drift_col_order");
    let project = Project::new();
    project.migration(
        "001_a",
        "CREATE TABLE a (id int, v text);\n",
        "DROP TABLE a;\n",
    );
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute("ALTER TABLE a DROP COLUMN id; ALTER TABLE a ADD COLUMN id int;")
        .unwrap();
    let run = project.run_on(&db, &["migrate", "drift"]);
    run.code(exit::SUCCESS)
        .stdout_has("no drift: the live database matches its 1 applied migration replayed")
        .stderr_has(
            "column order of table public.a: (id, v) made by the applied migrations, (v, id) \
             in the live database: positional INSERT, COPY without a column list and SELECT * \
             read them differently",
        );
    assert_scratch_dropped(&run);

    let run = project.run_on(&db, &["migrate", "drift", "--format", "json", "-q"]);
    run.code(exit::SUCCESS);
    let json = run.json();
    assert_eq!(json["passed"], true);
    assert_eq!(json["drift"], serde_json::json!([]));
    let warnings = json["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0]
        .as_str()
        .unwrap()
        .starts_with("column order of table public.a: (id, v) made by the applied migrations, (v, id) in the live database"));
}
