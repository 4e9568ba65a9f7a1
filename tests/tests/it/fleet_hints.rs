//! The commands a fleet run's messages suggest repeat how its databases were chosen: the
//! fleet's list (`--targets FILE`, `--targets-query`, `--schemas-query`; a placeholder for a
//! list read from a pipe) in every help, text and JSON, and for one target the environment it
//! was reached with — never a command that, pasted, acts on another database or fails.

use confiture::exit;
use confiture_tests::{server, suggested, Project, Run, TestDb, TestDbs};
use std::process::Stdio;
use std::time::Instant;

fn project() -> Project {
    let project = Project::new();
    for (id, table) in [("001_a", "tb_a"), ("002_b", "tb_b"), ("003_c", "tb_c")] {
        project.migration(
            id,
            &format!("CREATE TABLE {table} (id int);\n"),
            &format!("DROP TABLE {table};\n"),
        );
    }
    project
}

/// The CLI with `--database-url` naming the server's `postgres` database (names in a list are
/// databases on its server) and `args` after `migrate`.
fn fleet(project: &Project, args: &[&str]) -> Run {
    let url = server().url("postgres");
    Run::of(
        project
            .cli()
            .args(["migrate", "--database-url", &url])
            .args(args),
    )
}

fn help_of(doc: &serde_json::Value) -> String {
    doc["error"]["help"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The help of a fleet refused for files with errors suggested `migrate up --target 003` with
/// the selection alone: pasted, it migrated the environment's own database (the one a list is
/// read from; for a schemas query, the tenants' database's `public`), not the fleet. And
/// `drift --schemas-query`'s help sent each tenant's ledger to `status` without the list (the
/// whole database's ledger). Every help of a fleet run keeps the list, text and JSON alike.
#[test]
fn a_fleet_refused_before_its_list_is_read_suggests_commands_on_the_fleet() {
    let project = project();
    project.write("tenants.txt", "cft_fixhints_never_read\n");
    project.write("db/migrations/004_bad.up.sql", "CREATE TABLE x(;\n");
    let query = "SELECT 'never_run'";
    for (list, words) in [
        (["--targets", "tenants.txt"], "--targets tenants.txt"),
        (["--targets-query", query], "--targets-query <SQL>"),
        (["--schemas-query", query], "--schemas-query <SQL>"),
    ] {
        let command =
            format!("`cargo confiture migrate up --target 003 --database-url <URL> {words}`");
        let mut args = vec!["up", "--keep-going"];
        args.extend(list);
        fleet(&project, &args)
            .code(exit::INVALID)
            .stderr_has(&command);
        args.extend(["--format", "json"]);
        let doc = fleet(&project, &args).code(exit::INVALID).json();
        assert!(help_of(&doc).contains(&command), "{doc}");
    }
    project.remove("db/migrations/004_bad.up.sql");

    let args = ["drift", "--schemas-query", query];
    let verify = "`cargo confiture migrate verify --database-url <URL> --schemas-query <SQL>`";
    let status = "`cargo confiture migrate status --database-url <URL> --schemas-query <SQL>`";
    fleet(&project, &args)
        .code(exit::USAGE)
        .stderr_has(verify)
        .stderr_has(status);
    let doc = fleet(&project, &[&args[..], &["--format", "json"]].concat())
        .code(exit::USAGE)
        .json();
    assert!(help_of(&doc).contains(status), "{doc}");
}

/// With `--targets <(list-tenants)` every suggested command repeated `--targets /dev/fd/63`,
/// which pasted in a later shell names nothing (the pipe is gone). A list read from a pipe is
/// written `<LIST>`, as a URL is `<URL>`: here a target's help (text and JSON) and a refusal.
#[test]
fn a_list_read_from_a_pipe_is_a_placeholder_in_every_suggested_command() {
    let project = project();
    let missing = TestDb::unborn("fixhintspipe");
    let url = server().url("postgres");
    // The refusal below is made before the list is read: that run may exit, closing the
    // pipe, before the list is written (`Run::with_input`).
    let fed = |args: &[&str], stdin: String| {
        Run::with_input(
            project
                .cli()
                .args(["migrate", "--database-url", &url])
                .args(args)
                .args(["--targets", "/dev/stdin"]),
            &stdin,
        )
    };
    let list = format!("{}\n", missing.name);
    // The missing target's own `up` addresses it alone (a list of its name); the fleet's list
    // was a pipe.
    let create = &format!(
        "`cargo confiture migrate up --create-database --database-url <URL> --targets <(echo {})`",
        missing.name
    );
    fed(&["status"], list.clone())
        .code(exit::CONNECTION)
        .stderr_has(create)
        .stderr_lacks("--targets /dev/stdin");
    let doc = fed(&["status", "--format", "json"], list.clone())
        .code(exit::CONNECTION)
        .json();
    let help = doc["targets"][0]["error"]["help"]
        .as_str()
        .unwrap_or_default();
    assert!(help.contains(create), "{doc}");

    project.write("db/migrations/004_bad.up.sql", "CREATE TABLE x(;\n");
    fed(&["up"], list).code(exit::INVALID).stderr_has(
        "`cargo confiture migrate up --target 003 --database-url <URL> --targets <LIST>`",
    );
}

/// Rows of the environment's ledger `ops.tb_confiture` in `db`.
fn ops_ledger(db: &TestDb) -> i64 {
    db.connect()
        .query_one("SELECT count(*) FROM ops.tb_confiture", &[])
        .expect("read ops.tb_confiture")
        .get(0)
}

/// A fleet target's suggested `down` and `reinit` were `--database-url <URL>`: filled in, they
/// read no environment file, so with `migration.tracking_table: ops.tb_confiture` they looked
/// for another ledger and failed (and an environment's timeouts would silently not apply). A
/// database listed by name gets, for the commands that take a list, the environment and a list
/// of that name alone, which pasted acts on that database alone with the environment's
/// settings; the others (`reinit`; a URL's target) keep `--database-url <URL>` and say what it
/// loses.
#[test]
fn a_targets_commands_keep_the_environment_it_was_reached_with() {
    let dbs = TestDbs::new("fixhintsenv", 2);
    let project = project();
    let (named, by_url) = (&dbs.dbs[0], &dbs.dbs[1]);
    project.write(
        "db/environments/ops.yaml",
        format!(
            "name: ops\ndatabase_url: {}\nmigration:\n  tracking_table: ops.tb_confiture\n\
             fleet:\n  targets:\n    - {}\n    - {}\n",
            server().url("postgres"),
            named.name,
            by_url.url()
        ),
    );
    let ops = |args: &[&str]| {
        Run::of(
            project
                .cli()
                .args(["migrate", "--env", "ops"])
                .args(args)
                .arg("--keep-going"),
        )
    };
    ops(&["up"]).code(exit::SUCCESS);
    assert_eq!((ops_ledger(named), ops_ledger(by_url)), (3, 3));

    let down = format!(
        "`cargo confiture migrate down --steps 3 --env ops --targets <(echo {})`",
        named.name
    );
    let lost = "--database-url <URL>` (`--database-url` reads no environment file: the \
                environment's `migration.tracking_table` would not apply";
    ops(&["down", "--steps", "9"])
        .code(exit::USAGE)
        .stderr_has(&down)
        .stderr_has(&format!(
            "`cargo confiture migrate down --target 0 --yes {lost}"
        ));
    let doc = ops(&["down", "--steps", "9", "--format", "json"])
        .code(exit::USAGE)
        .json();
    let help = |i: usize| {
        doc["targets"][i]["error"]["help"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(help(0).contains(&down), "{doc}");
    assert!(help(1).contains(lost), "{doc}");

    // Pasted, it rolls back that database alone, in the environment's ledger.
    project.paste(&down).code(exit::SUCCESS);
    assert_eq!((ops_ledger(named), ops_ledger(by_url)), (0, 3));

    // `reinit` takes a list of one target (h20 F13b): the database listed by name gets the
    // environment and its name alone, the one listed by URL `--database-url <URL>`, saying
    // what it loses.
    ops(&["up"]).code(exit::SUCCESS);
    project.write(
        "db/migrations/002_b.up.sql",
        "CREATE TABLE tb_b (id int, y int);\n",
    );
    let reinit = format!(
        "`cargo confiture migrate reinit --env ops --targets <(echo {})`",
        named.name
    );
    ops(&["up"])
        .code(exit::DIVERGED)
        .stderr_has(&reinit)
        .stderr_has(&format!("`cargo confiture migrate reinit {lost}"));
    // Pasted, it rewrites that database's ledger alone, in the environment's ledger.
    project.paste(&reinit).code(exit::SUCCESS);
    let diverged = ops(&["status"]);
    diverged.code(exit::DIVERGED);
    assert_eq!(
        diverged.stderr.matches("diverged:").count(),
        1,
        "{}",
        diverged.stderr
    );
    diverged.stderr_has(&format!("/{} (", by_url.name));
}

/// The project's environment `fl` on the server's `postgres` database (names in a list are
/// databases on its server), with `list` written to `t.txt`.
fn fl_project(list: &[&TestDb]) -> Project {
    let project = project();
    project.write(
        "db/environments/fl.yaml",
        format!("name: fl\ndatabase_url: {}\n", server().url("postgres")),
    );
    let names: String = list.iter().map(|db| format!("{}\n", db.name)).collect();
    project.write("t.txt", names);
    project
}

fn fl(project: &Project, args: &[&str]) -> Run {
    Run::of(
        project
            .cli()
            .args(["migrate", "--env", "fl"])
            .args(args)
            .args(["--targets", "t.txt"]),
    )
}

/// A fleet `down`'s failed target was told "fix FILE, then run the command again": the command
/// was the fleet's, and run again it rolled back one more migration on every target that had
/// finished. Every "run the command again" of a target's text (a sentence, not a suggested
/// command: the failed SQL's, the lock's, the ledger's) says to run it on that target alone and
/// names how to select it, in text and JSON; followed, the other targets keep their history.
#[test]
fn a_failed_targets_help_to_run_again_names_that_target_alone() {
    let dbs = TestDbs::new("fixfleet8again", 3);
    let project = fl_project(&dbs.dbs.iter().collect::<Vec<_>>());
    fl(&project, &["up"]).code(exit::SUCCESS);
    let failing = &dbs.dbs[1];
    failing
        .connect()
        .batch_execute("CREATE VIEW v_c AS SELECT * FROM tb_c")
        .expect("a view on tb_c");
    let selection = format!("--env fl --targets <(echo {})", failing.name);
    let alone =
        format!("then run the command again on this target alone (select it with `{selection}`");
    fl(&project, &["down"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has(&alone);
    let doc = fl(&project, &["down", "--format", "json"])
        .code(exit::MIGRATION_FAILED)
        .json();
    let help = doc["targets"][1]["error"]["help"]
        .as_str()
        .unwrap_or_default();
    assert!(help.contains(&alone), "{doc}");
    // Rolled back 003 on the others, both times.
    let counts = || -> Vec<usize> {
        dbs.dbs
            .iter()
            .map(|db| db.ledger().unwrap_or_default().len())
            .collect()
    };
    assert_eq!(counts(), [1, 3, 1]);

    // Followed: the file fixed, the command on that target alone.
    project.write("db/migrations/003_c.down.sql", "DROP TABLE tb_c CASCADE;\n");
    project
        .paste(&format!("`cargo confiture migrate down {selection}`"))
        .code(exit::SUCCESS);
    assert_eq!(counts(), [1, 2, 1]);
}

/// A read-only fleet `status` with one missing database suggested
/// `migrate up --create-database ... --targets LIST`: pasted, it also migrated every other
/// target of the list. A target's suggested `up`, as its `down`, addresses that target alone.
#[test]
fn a_missing_targets_create_database_help_creates_and_migrates_that_target_alone() {
    let dbs = TestDbs::new("fixfleet8miss", 1);
    let missing = TestDb::unborn("fixfleet8miss");
    let project = fl_project(&[&dbs.dbs[0], &missing]);
    project
        .run_on(&dbs.dbs[0], &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    let create = format!(
        "`cargo confiture migrate up --create-database --env fl --targets <(echo {})`",
        missing.name
    );
    fl(&project, &["status"])
        .code(exit::FLEET_MIXED)
        .stderr_has(&create);
    let doc = fl(&project, &["status", "--format", "json"])
        .code(exit::FLEET_MIXED)
        .json();
    let help = doc["targets"][1]["error"]["help"]
        .as_str()
        .unwrap_or_default();
    assert!(help.contains(&create), "{doc}");

    project.paste(&create).code(exit::SUCCESS);
    assert_eq!(missing.ledger().map(|l| l.len()), Some(3));
    assert_eq!(dbs.dbs[0].ledger().map(|l| l.len()), Some(1), "untouched");
}

/// `--targets /dev/stdin < tenants.txt` (or `/dev/fd/N`, `/proc/self/fd/N` on a file) was
/// repeated as is in suggested commands: the path names a descriptor, which pasted later reads
/// the terminal or whatever the script's stdin is then. Such a path is `<LIST>` whatever it
/// points at.
#[test]
fn a_list_named_by_a_descriptor_is_a_placeholder_whatever_it_points_at() {
    let project = project();
    project.write("tenants.txt", "cft_fixfleet8_never_read\n");
    project.write("db/migrations/004_bad.up.sql", "CREATE TABLE x(;\n");
    let url = server().url("postgres");
    let suggested =
        "`cargo confiture migrate up --target 003 --database-url <URL> --targets <LIST>`";
    for path in ["/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "/dev/fd/7"] {
        let script = format!(
            "exec 7< tenants.txt; '{}' migrate up --keep-going --database-url '{url}' --targets {path} < tenants.txt",
            confiture_tests::binary().display()
        );
        let mut bash = std::process::Command::new("bash");
        for (key, value) in project.cli().get_envs() {
            match value {
                Some(value) => bash.env(key, value),
                None => bash.env_remove(key),
            };
        }
        bash.current_dir(&project.root).arg("-c").arg(script);
        Run::of(&mut bash)
            .code(exit::INVALID)
            .stderr_has(suggested)
            .stderr_lacks(&format!("--targets {path}"));
    }
}

/// The ledger of `db` as versions alone.
fn versions(db: &TestDb) -> Vec<String> {
    db.ledger()
        .unwrap_or_default()
        .iter()
        .map(|row| row.split(':').next().unwrap_or_default().to_string())
        .collect()
}

/// h16 F3: a `down --steps 2` that rolled back 003 and failed on 002 said "fix FILE, then run
/// the command again" — followed, `--steps 2` rolled back 002 and 001: three migrations for the
/// two asked. After a part of a rollback, every help names the command that finishes the
/// request and no more (`--target 1`, the version the plan would have ended at), on one
/// database and on a fleet's target alike, text and JSON (`finish_target`); a fleet's target
/// is told the cause is on that database (the same down file rolled back elsewhere), not in
/// the file. Followed, 001 stays. A request that reaches back to nothing (`--steps 3`) is
/// finished by `--target 0 --yes`.
#[test]
fn a_partial_rollbacks_help_finishes_what_was_asked_and_no_more() {
    let dbs = TestDbs::new("downhelp_part", 3);
    let project = fl_project(&dbs.dbs.iter().collect::<Vec<_>>());
    let failing = &dbs.dbs[1];
    let blocked = |db: &TestDb| {
        db.connect()
            .batch_execute("CREATE VIEW v_b AS SELECT * FROM tb_b")
            .expect("a view on tb_b");
    };
    let unblocked = |db: &TestDb| {
        db.connect()
            .batch_execute("DROP VIEW v_b")
            .expect("drop the view");
    };

    // A fleet's target.
    for json in [false, true] {
        fl(&project, &["up"]).code(exit::SUCCESS);
        blocked(failing);
        let mut args = vec!["down", "--steps", "2", "--keep-going"];
        if json {
            args.extend(["--format", "json"]);
        }
        let run = fl(&project, &args);
        run.code(exit::MIGRATION_FAILED);
        let help = if json {
            let doc = run.json();
            assert_eq!(doc["targets"][1]["report"]["finish_target"], "001", "{doc}");
            doc["targets"][1]["error"]["help"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        } else {
            run.stderr.clone()
        };
        let finish = format!(
            "`cargo confiture migrate down --target 001 --env fl --targets <(echo {})`",
            failing.name
        );
        assert!(help.contains(&finish), "{help}\n{}", run.dump());
        assert!(!help.contains("the command again"), "{}", run.dump());
        assert!(
            help.contains("fix what makes it fail on this database"),
            "{}",
            run.dump()
        );
        assert!(!help.contains("fix db/migrations"), "{}", run.dump());
        assert_eq!(
            dbs.dbs.iter().map(versions).collect::<Vec<_>>(),
            [vec!["001"], vec!["001", "002"], vec!["001"]]
        );
        unblocked(failing);
        project.paste(&finish).code(exit::SUCCESS);
        assert_eq!(versions(failing), ["001"], "001 stays");
        // Pasted twice, it changes nothing more.
        project.paste(&finish).code(exit::SUCCESS);
        assert_eq!(versions(failing), ["001"]);
        fl(&project, &["up"]).code(exit::SUCCESS);
    }

    // One database, the text help and the JSON's.
    let db = &dbs.dbs[0];
    for (steps, finish, kept) in [
        ("2", "migrate down --target 001", vec!["001"]),
        ("3", "migrate down --target 0 --yes", vec![]),
    ] {
        blocked(db);
        let run = project.run_on(db, &["migrate", "down", "--steps", steps, "--yes"]);
        run.code(exit::MIGRATION_FAILED);
        let finish = format!("`cargo confiture {finish} --database-url <URL>`");
        run.stderr_has(&finish);
        assert!(!run.stderr.contains("the command again"), "{}", run.dump());
        assert_eq!(versions(db), ["001", "002"]);
        project.run_on(db, &["migrate", "up"]).code(exit::SUCCESS);
        let doc = project
            .run_on(
                db,
                &[
                    "migrate", "down", "--steps", steps, "--yes", "--format", "json",
                ],
            )
            .json();
        let help = doc["errors"][0]["help"].as_str().unwrap_or_default();
        assert!(help.contains(&finish), "{doc}");
        unblocked(db);
        let pasted = suggested(help, "migrate down").expect("a suggested down");
        let pasted = pasted.replace("<URL>", &db.url());
        project.paste(&pasted).code(exit::SUCCESS);
        assert_eq!(versions(db), kept, "{doc}");
        project.run_on(db, &["migrate", "up"]).code(exit::SUCCESS);
    }
}

/// h16 F2: a fleet `down --steps 2` interrupted after its running targets rolled back 003 said
/// "run `down` on the targets cancelled or not started alone": followed, `--steps 2` rolled
/// back 002 and 001 on the cancelled ones. The summary now sends the cancelled targets that
/// rolled back part of it to their own help, which names `--target 1` (the single database's
/// interrupted `down` too); followed, 001 stays.
#[test]
fn an_interrupted_rollbacks_help_finishes_what_was_asked_and_no_more() {
    let dbs = TestDbs::new("downhelp_int", 3);
    let project = fl_project(&dbs.dbs.iter().collect::<Vec<_>>());
    fl(&project, &["up"]).code(exit::SUCCESS);
    project.write(
        "db/migrations/002_b.down.sql",
        "DROP TABLE tb_b;\nSELECT pg_sleep(30);\n",
    );
    let interrupt = |child, running: &[&TestDb]| {
        sigint_when_sleeping(child, running, "the rollback of 002 never ran")
    };
    let child = project
        .cli()
        .args(["migrate", "--env", "fl", "down", "--steps", "2"])
        .args(["--targets", "t.txt", "--jobs", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the CLI under test");
    let run = interrupt(child, &[&dbs.dbs[0], &dbs.dbs[1]]);
    run.code(exit::INTERRUPTED)
        .stderr_has("1 not started (exit 130)")
        .stderr_has("run the command its help names instead");
    assert!(
        !run.stderr
            .contains("on the targets cancelled or not started alone"),
        "{}",
        run.dump()
    );
    let mut finishes = Vec::new();
    for db in &dbs.dbs[..2] {
        let finish = format!(
            "`cargo confiture migrate down --target 001 --env fl --targets <(echo {})`",
            db.name
        );
        run.stderr_has(&finish);
        assert_eq!(versions(db), ["001", "002"], "{}", run.dump());
        finishes.push(finish);
    }
    project.write("db/migrations/002_b.down.sql", "DROP TABLE tb_b;\n");
    for (db, finish) in dbs.dbs.iter().zip(&finishes) {
        project.paste(finish).code(exit::SUCCESS);
        assert_eq!(versions(db), ["001"], "001 stays");
    }

    // One database.
    let db = &dbs.dbs[2];
    project.write(
        "db/migrations/002_b.down.sql",
        "DROP TABLE tb_b;\nSELECT pg_sleep(30);\n",
    );
    let child = project.spawn_on(db, &["migrate", "down", "--steps", "2"]);
    let run = interrupt(child, &[db]);
    run.code(exit::INTERRUPTED)
        .stderr_has("`cargo confiture migrate down --target 001 --database-url <URL>`");
    assert_eq!(versions(db), ["001", "002"], "{}", run.dump());
}

/// The same hole in `up`: a `up --steps 2` that applied 002 and failed on 003 said "run the
/// command again" (`--steps 2` again applies 003 and 004), an interrupted one "run
/// `migrate up` again" (every pending migration), and the interrupted fleet's line the same.
/// After a part of a limited plan, the helps name `migrate up --target V`, V the plan's newest
/// version; followed, 004 stays pending.
#[test]
fn a_partial_limited_up_is_finished_by_its_target_not_run_again() {
    let dbs = TestDbs::new("downhelp_up", 3);
    let project = fl_project(&dbs.dbs.iter().collect::<Vec<_>>());
    project.migration(
        "004_d",
        "CREATE TABLE tb_d (id int);\n",
        "DROP TABLE tb_d;\n",
    );
    fl(&project, &["up", "--target", "1"]).code(exit::SUCCESS);

    // A failed target: 002 applied, 003 failed.
    let failing = &dbs.dbs[1];
    failing
        .connect()
        .batch_execute("CREATE TABLE tb_c (id int)")
        .expect("tb_c in the way");
    let run = fl(&project, &["up", "--steps", "2", "--keep-going"]);
    run.code(exit::MIGRATION_FAILED);
    let finish = format!(
        "`cargo confiture migrate up --target 003 --env fl --targets <(echo {})`",
        failing.name
    );
    run.stderr_has(&finish);
    assert!(!run.stderr.contains("the command again"), "{}", run.dump());
    assert_eq!(versions(failing), ["001", "002"]);
    failing
        .connect()
        .batch_execute("DROP TABLE tb_c")
        .expect("drop tb_c");
    project.paste(&finish).code(exit::SUCCESS);
    project.paste(&finish).code(exit::SUCCESS);
    assert_eq!(
        versions(failing),
        ["001", "002", "003"],
        "004 stays pending"
    );

    // Interrupted: one database, then the fleet.
    let db = &dbs.dbs[0];
    for db in &dbs.dbs {
        project
            .run_on(db, &["migrate", "down", "--target", "1"])
            .code(exit::SUCCESS);
    }
    project.write(
        "db/migrations/003_c.up.sql",
        "CREATE TABLE tb_c (id int);\nSELECT pg_sleep(30);\n",
    );
    let interrupt =
        |child, running: &[&TestDb]| sigint_when_sleeping(child, running, "003 never ran");
    let run = interrupt(
        project.spawn_on(db, &["migrate", "up", "--steps", "2"]),
        &[db],
    );
    run.code(exit::INTERRUPTED)
        .stderr_has("`cargo confiture migrate up --target 003 --database-url <URL>`");
    assert!(
        !run.stderr
            .contains("`cargo confiture migrate up --database-url <URL>`"),
        "{}",
        run.dump()
    );
    assert_eq!(versions(db), ["001", "002"]);

    project
        .run_on(db, &["migrate", "down", "--target", "1"])
        .code(exit::SUCCESS);
    let child = project
        .cli()
        .args(["migrate", "--env", "fl", "up", "--steps", "2"])
        .args(["--targets", "t.txt", "--jobs", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the CLI under test");
    let run = interrupt(child, &[&dbs.dbs[0], &dbs.dbs[1]]);
    run.code(exit::INTERRUPTED);
    assert!(
        !run.stderr.contains("again to reach the rest"),
        "{}",
        run.dump()
    );
    project.write(
        "db/migrations/003_c.up.sql",
        "CREATE TABLE tb_c (id int);\n",
    );
    for db in &dbs.dbs[..2] {
        let finish = format!(
            "`cargo confiture migrate up --target 003 --env fl --targets <(echo {})`",
            db.name
        );
        run.stderr_has(&finish);
        project.paste(&finish).code(exit::SUCCESS);
        assert_eq!(versions(db), ["001", "002", "003"], "004 stays pending");
    }
}

/// h17 F1: a `down --steps 2` stopped midway on a ledger where a migration was applied out of
/// order (003 re-applied after 006: the request is 003 and 006, in the ledger's order) has no
/// `--target` that rolls back exactly the rest, and its help fell back to "run the command
/// again" — followed, `--steps 2` rolled back 006 and 005, never asked for. Without a command
/// that finishes it, the help sends to `migrate status`, never to the same command again.
#[test]
fn a_partial_rollback_no_target_finishes_sends_to_status_never_the_same_steps_again() {
    let db = TestDb::new("downhelp_ooo");
    let project = Project::new();
    for n in 1..=6 {
        project.migration(
            &format!("00{n}_m{n}"),
            &format!("CREATE TABLE t{n} (a int);\n"),
            &format!("DROP TABLE t{n};\n"),
        );
    }
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    db.connect()
        .batch_execute("DELETE FROM tb_confiture WHERE version = '003'; DROP TABLE t3;")
        .unwrap();
    project
        .run_on(&db, &["migrate", "up", "--allow-out-of-order"])
        .code(exit::SUCCESS);
    project.migration("006_m6", "CREATE TABLE t6 (a int);\n", "SELECT 1/0;\n");
    for json in [false, true] {
        let mut args = vec!["migrate", "down", "--steps", "2"];
        if json {
            args.extend(["--format", "json"]);
        }
        let run = project.run_on(&db, &args);
        run.code(exit::MIGRATION_FAILED);
        let help = if json {
            let doc = run.json();
            assert!(doc["finish_target"].is_null(), "{doc}");
            doc["errors"][0]["help"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        } else {
            run.stderr.clone()
        };
        assert!(!help.contains("the command again"), "{}", run.dump());
        assert!(
            help.contains(
                "`cargo confiture migrate status --database-url <URL>` to see what is left"
            ),
            "{}",
            run.dump()
        );
        assert!(
            !versions(&db).contains(&"003".to_string()),
            "{}",
            run.dump()
        );
        project
            .run_on(&db, &["migrate", "up", "--allow-out-of-order"])
            .code(exit::SUCCESS);
    }
}

/// h17 F15: a no-transaction migration of an `up --steps 2` that committed a part of itself and
/// failed, with nothing recorded as applied yet, said "then run `cargo confiture migrate up`
/// again": followed, the bare command applied every pending migration, 004 never asked for.
/// Its help names the command that is the request: `up --target 3`.
#[test]
fn a_no_transaction_failure_of_a_limited_up_keeps_the_bound_in_its_help() {
    let db = TestDb::new("uphelp_notx");
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE t1 (a int);\n", "DROP TABLE t1;\n");
    project.migration(
        "002_nt",
        "-- confiture:no-transaction\nCREATE TABLE t_log (a int);\n\
         CREATE INDEX CONCURRENTLY i_log ON t_log (nope);\n",
        "DROP TABLE IF EXISTS t_log;\n",
    );
    project.migration("003_c", "CREATE TABLE t3 (a int);\n", "DROP TABLE t3;\n");
    project.migration("004_d", "CREATE TABLE t4 (a int);\n", "DROP TABLE t4;\n");
    project
        .run_on(&db, &["migrate", "up", "--target", "1"])
        .code(exit::SUCCESS);
    let run = project.run_on(&db, &["migrate", "up", "--steps", "2"]);
    run.code(exit::MIGRATION_FAILED)
        .stderr_has("statement 1 was committed")
        .stderr_has("then run `cargo confiture migrate up --target 003 --rerun-interrupted --database-url <URL>`")
        .stderr_lacks("run `cargo confiture migrate up --database-url <URL>`");
    project.migration(
        "002_nt",
        "-- confiture:no-transaction\nCREATE TABLE IF NOT EXISTS t_log (a int);\n\
         CREATE INDEX CONCURRENTLY i_log ON t_log (a);\n",
        "DROP TABLE IF EXISTS t_log;\n",
    );
    // The help's command, on this database (`<URL>` is a placeholder).
    project
        .run_on(
            &db,
            &["migrate", "up", "--target", "3", "--rerun-interrupted"],
        )
        .code(exit::SUCCESS);
    assert_eq!(
        versions(&db),
        ["001", "002", "003"],
        "004 was not asked for"
    );
}

/// Sends SIGINT to `child` once every database of `running` has a backend in `pg_sleep` (`what`
/// names what never ran otherwise), and its output.
/// Adds migration `name`, without a transaction: it creates `t_one`, then indexes column `a`
/// of a table `t_pre` each of `targets` is given first with the column named as listed — so
/// it fails part-way (`t_one` committed) on those given another column.
fn fails_part_way_on(project: &Project, name: &str, targets: &[(&TestDb, &str)]) {
    for (db, column) in targets {
        db.connect()
            .batch_execute(&format!("CREATE TABLE t_pre ({column} int)"))
            .expect("t_pre");
    }
    project.migration(
        name,
        "-- confiture:no-transaction\nCREATE TABLE t_one (a int);\n\
         CREATE INDEX CONCURRENTLY i_pre ON t_pre (a);\n",
        "DROP INDEX IF EXISTS i_pre;\nDROP TABLE IF EXISTS t_one;\n",
    );
}

fn sigint_when_sleeping(child: std::process::Child, running: &[&TestDb], what: &str) -> Run {
    let sleeping = confiture_tests::wait_until(std::time::Duration::from_secs(60), || {
        running.iter().all(|db| db.sleeping_backend().is_some())
    });
    assert!(sleeping, "{what}");
    confiture_tests::send_signal(child.id(), "-INT");
    let sent = Instant::now();
    Run::from_output(child.wait_with_output().unwrap(), sent.elapsed())
}

/// h17 F15: in a fleet, a no-transaction migration that committed part of itself and failed on
/// one target said, as on one database, "fix FILE; what it committed stays: undo it, or make its
/// statements safe to run twice": the other targets had applied the file, and an edited file is
/// modified there (diverged). The caution a fleet's failed migration gets is kept: fix this
/// database, undo what it committed here, and do not edit the file the others applied. In text
/// and JSON; on one database the help is unchanged.
#[test]
fn a_no_transaction_failure_in_a_fleet_never_says_to_edit_the_file_others_applied() {
    let dbs = TestDbs::new("hints_fleet_nt", 2);
    let project = fl_project(&dbs.dbs.iter().collect::<Vec<_>>());
    fl(&project, &["up"]).code(exit::SUCCESS);
    // A table the migration indexes, without the column on the failing target.
    fails_part_way_on(
        &project,
        "004_nt",
        &[(&dbs.dbs[0], "a"), (&dbs.dbs[1], "b")],
    );
    let failing = &dbs.dbs[1];
    let fleet_help = format!(
        "help: fix what makes it fail on this database (the error above names it); what it \
         committed stays: undo it on this database; do not edit its file to make its statements \
         safe to run twice: other targets of the fleet may have applied 004_nt already, and would \
         see its file modified (edit it only if no database has applied 004_nt; `cargo confiture \
         migrate status --env fl --targets t.txt` on the fleet shows which have), then run `cargo \
         confiture migrate up --rerun-interrupted --env fl --targets <(echo {})` again",
        failing.name
    );
    let run = fl(&project, &["up"]);
    run.code(exit::MIGRATION_FAILED)
        .stderr_lacks("safe to run twice (`IF NOT EXISTS`")
        .stderr_lacks("fix db/migrations/004_nt.up.sql");
    assert_eq!(run.help_line(), fleet_help);
    assert_eq!(
        versions(&dbs.dbs[0]).len(),
        4,
        "the other target applied it"
    );
    // JSON: the same help.
    failing
        .connect()
        .batch_execute("DROP TABLE t_one")
        .expect("undo what it committed");
    // What it committed was undone: run again on purpose (its start marker stays).
    let doc = fl(&project, &["up", "--format", "json", "--rerun-interrupted"])
        .code(exit::MIGRATION_FAILED)
        .json();
    let help = doc["targets"][1]["error"]["help"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(format!("help: {help}"), fleet_help, "{doc}");

    // On one database: fix the file, or make its statements safe to run twice.
    failing
        .connect()
        .batch_execute("DROP TABLE t_one")
        .expect("undo what it committed");
    let run = project.run_on(failing, &["migrate", "up", "--rerun-interrupted"]);
    run.code(exit::MIGRATION_FAILED);
    assert_eq!(
        run.help_line(),
        "help: fix db/migrations/004_nt.up.sql; what it committed stays: undo it, or make its \
         statements safe to run twice (`IF NOT EXISTS`, `IF EXISTS`), then run `cargo confiture \
         migrate up --rerun-interrupted --database-url <URL>` again"
    );
}

/// h17 F4, the same class: the first migration of a new database, a no-transaction one, that
/// committed a part of itself and failed in an `up --target 002` said "then run `cargo
/// confiture migrate up --allow-non-empty` again" (what it committed makes a plain `up` refuse
/// the database): followed, it applied every pending migration. The command keeps the
/// request's bound: `up --target 002 --rerun-interrupted` (the start marker it left, not
/// `--allow-non-empty`, lets it past that refusal).
#[test]
fn a_first_no_transaction_failure_of_a_limited_up_keeps_the_bound() {
    let db = TestDb::new("hints_notx_first");
    let project = Project::new();
    project.migration(
        "001_nt",
        "-- confiture:no-transaction\nCREATE TABLE t_log (a int);\n\
         CREATE INDEX CONCURRENTLY i_log ON t_log (nope);\n",
        "DROP TABLE IF EXISTS t_log;\n",
    );
    project.migration("002_b", "CREATE TABLE t2 (a int);\n", "DROP TABLE t2;\n");
    project.migration("003_c", "CREATE TABLE t3 (a int);\n", "DROP TABLE t3;\n");
    let run = project.run_on(&db, &["migrate", "up", "--target", "2"]);
    run.code(exit::MIGRATION_FAILED)
        .stderr_has("statement 1 was committed");
    let help = run.help_line();
    let finish =
        "`cargo confiture migrate up --target 002 --rerun-interrupted --database-url <URL>`";
    assert!(help.contains(finish), "{help}");
    assert!(!help.contains("--allow-non-empty"), "{help}");
    project.migration(
        "001_nt",
        "-- confiture:no-transaction\nCREATE TABLE IF NOT EXISTS t_log (a int);\n\
         CREATE INDEX CONCURRENTLY i_log ON t_log (a);\n",
        "DROP TABLE IF EXISTS t_log;\n",
    );
    project
        .paste(&finish.replace("<URL>", &db.url()))
        .code(exit::SUCCESS);
    assert_eq!(versions(&db), ["001", "002"], "003 was not asked for");
}

/// A fleet `status`'s `! diverged` target was given no reason and no next step: a line says
/// how its history diverged (the first divergence, and how many more) and suggests the
/// fleet's `status --format json`, which shows each target's migrations.
#[test]
fn a_diverged_targets_status_says_why_and_how_to_see_it() {
    let dbs = TestDbs::new("fixcliuxdiv", 2);
    let project = fl_project(&dbs.dbs.iter().collect::<Vec<_>>());
    project
        .run_on(&dbs.dbs[0], &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    project
        .run_on(&dbs.dbs[1], &["migrate", "up"])
        .code(exit::SUCCESS);
    project.write(
        "db/migrations/002_b.up.sql",
        "CREATE TABLE tb_b (id bigint);\n",
    );
    let diverged = &dbs.dbs[1];
    let status = "`cargo confiture migrate status --format json --env fl --targets t.txt` shows each target's migrations";
    let run = fl(&project, &["status"]);
    run.code(exit::FLEET_MIXED)
        .stderr_has(&format!("/{} (", diverged.name))
        .stderr_has("diverged: modified: 002_b")
        .stderr_has(status);
    // Only the diverged target gets the line.
    assert_eq!(run.stderr.matches("diverged:").count(), 1, "{}", run.stderr);
    let doc = project
        .paste(&status.replace(" shows each target's migrations", ""))
        .code(exit::FLEET_MIXED)
        .json();
    assert_eq!(
        doc["targets"][1]["report"]["modified"],
        serde_json::json!(["002"]),
        "{doc}"
    );
}

/// The help line of the target `name` in a fleet's text output (`error: ... /name (...)`, then
/// its `help:`), without `help: `.
fn target_help(stderr: &str, name: &str) -> String {
    help_of_error(stderr, &format!("/{name} ("))
}

/// The help line of the error line holding `marker` (`/tenant_7 (`, ` schema t_a (`), after
/// its details, without `help: `.
fn help_of_error(stderr: &str, marker: &str) -> String {
    let mut lines = stderr.lines();
    lines
        .find(|l| l.starts_with("error: ") && l.contains(marker))
        .unwrap_or_else(|| panic!("no error of {marker}\n{stderr}"));
    let help = lines
        .find(|l| !l.starts_with("  - ") && !l.starts_with("    "))
        .unwrap_or_default()
        .trim_start();
    help.strip_prefix("help: ")
        .unwrap_or_else(|| panic!("no help for {marker}\n{stderr}"))
        .to_string()
}

/// Every suggested command of `text`.
fn suggested_commands(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|part| part.starts_with("cargo confiture "))
        .map(|part| format!("`{part}`"))
        .collect()
}

/// h20 F13b: a fleet target whose no-transaction migration a run left part-way (its start
/// marker in `tb_confiture_started`) was told to record it with `migrate baseline --through
/// 002 --database-url <URL>`: no way to reach that target with the environment it was reached
/// with (credentials, tracking table), where `up` and `down` reruns select it by a list of its
/// name. Every command of such a target's help, text and JSON, from `--targets` and
/// `--targets-query` alike, selects that target alone — `baseline` (which now takes a list of
/// one target) as `up` does; a target listed by its URL by `--database-url <URL>`. Pasted, each
/// acts on that target, never on another one nor on the environment's own database.
#[test]
fn an_interrupted_targets_help_selects_that_target_in_every_command() {
    let dbs = TestDbs::new("hints_interrupted", 4);
    let (home, fine, by_name, by_url) = (&dbs.dbs[0], &dbs.dbs[1], &dbs.dbs[2], &dbs.dbs[3]);
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE t1 (a int);\n", "DROP TABLE t1;\n");
    project.write(
        "db/environments/fl.yaml",
        format!("name: fl\ndatabase_url: {}\n", home.url()),
    );
    let names = [fine, by_name, by_url].map(|db| db.name.clone());
    project.write("t.txt", format!("{}\n", names.join("\n")));
    fl(&project, &["up"]).code(exit::SUCCESS);
    fails_part_way_on(
        &project,
        "002_nt",
        &[(fine, "a"), (by_name, "b"), (by_url, "b")],
    );
    fl(&project, &["up", "--keep-going"]).code(exit::MIGRATION_FAILED);

    // Each interrupted target's help: every command selects it alone.
    let query = format!(
        "SELECT datname FROM pg_database WHERE datname IN ('{}') ORDER BY 1",
        names.join("', '")
    );
    let lists: [&[&str]; 2] = [&["--targets", "t.txt"], &["--targets-query", &query]];
    for list in lists {
        let run = |more: &[&str]| {
            Run::of(
                project
                    .cli()
                    .args(["migrate", "--env", "fl", "up", "--keep-going"])
                    .args(list)
                    .args(more),
            )
        };
        let text = run(&[]);
        text.code(exit::DIVERGED).stderr_has("was interrupted");
        let doc = run(&["--format", "json"]).code(exit::DIVERGED).json();
        for (i, db) in [(1, by_name), (2, by_url)] {
            let help = target_help(&text.stderr, &db.name);
            assert_eq!(doc["targets"][i]["error"]["help"], help.as_str(), "{doc}");
            let commands = suggested_commands(&help);
            assert_eq!(commands.len(), 3, "{help}");
            let alone = format!("--env fl --targets <(echo {})`", db.name);
            for command in &commands {
                assert!(command.ends_with(&alone), "{command}: {help}");
            }
            assert!(commands[0].starts_with("`cargo confiture migrate baseline --through 002 "));
            assert!(commands[1].starts_with("`cargo confiture migrate up --rerun-interrupted "));
            assert!(commands[2].starts_with("`cargo confiture migrate abandon 002 "));
        }
    }
    // Listed by its URL (a line that may hold a password): `--database-url <URL>`.
    project.write(
        "u.txt",
        format!("{}\n{}\n{}\n", fine.name, by_name.name, by_url.url()),
    );
    let by_its_url = Run::of(project.cli().args([
        "migrate",
        "--env",
        "fl",
        "up",
        "--keep-going",
        "--targets",
        "u.txt",
    ]));
    by_its_url.code(exit::DIVERGED);
    let url_help = target_help(&by_its_url.stderr, &by_url.name);
    let url_commands = suggested_commands(&url_help);
    assert_eq!(url_commands.len(), 3, "{url_help}");
    for command in &url_commands {
        assert!(command.ends_with(" --database-url <URL>`"), "{url_help}");
    }

    // Followed: everything 002 makes is there on one target, recorded there alone.
    by_name
        .connect()
        .batch_execute("ALTER TABLE t_pre ADD COLUMN a int; CREATE INDEX i_pre ON t_pre (a)")
        .expect("what 002 makes");
    let help = target_help(&fl(&project, &["up", "--keep-going"]).stderr, &by_name.name);
    project
        .paste(&suggested_commands(&help)[0])
        .code(exit::SUCCESS);
    assert_eq!(versions(by_name), ["001", "002"]);
    assert_eq!(versions(by_url), ["001"], "another target");
    assert_eq!(versions(fine), ["001", "002"]);
    assert_eq!(home.ledger(), None, "the environment's own database");
    // The other one: what it committed undone, run again there alone, by its URL.
    by_url
        .connect()
        .batch_execute("DROP TABLE t_one; ALTER TABLE t_pre ADD COLUMN a int")
        .expect("undo what 002 committed");
    project
        .paste(&url_commands[1].replace("<URL>", &by_url.url()))
        .code(exit::SUCCESS);
    assert_eq!(versions(by_url), ["001", "002"]);
    assert_eq!(home.ledger(), None, "the environment's own database");
    // No start marker left: the fleet is up to date.
    fl(&project, &["up"]).code(exit::SUCCESS);
}

/// `baseline` and `reinit` take a list of one target (how a fleet target's help selects it):
/// a list of no database or of more than one, or `--schema` beside it, is refused before
/// anything is written, saying why.
#[test]
fn a_one_database_commands_list_names_one_database() {
    let dbs = TestDbs::new("hints_one_list", 2);
    let project = fl_project(&dbs.dbs.iter().collect::<Vec<_>>());
    project.write("empty.txt", "# none yet\n");
    for command in [&["baseline", "--through", "1"][..], &["reinit"]] {
        let words = format!("`migrate {}` takes one database", command[0]);
        fl(&project, command)
            .code(exit::USAGE)
            .stderr_has(&format!("{words}, and t.txt lists 2 targets"));
        let run = |more: &[&str]| {
            Run::of(
                project
                    .cli()
                    .args(["migrate", "--env", "fl"])
                    .args(command)
                    .args(more),
            )
        };
        run(&["--targets", "empty.txt"])
            .code(exit::USAGE)
            .stderr_has(&format!("{words}, and empty.txt lists 0 targets"));
        run(&["--targets", "t.txt", "--schema", "t_1"])
            .code(exit::USAGE)
            .stderr_has("--schema t_1 names a tenant schema");
    }
    for db in &dbs.dbs {
        assert_eq!(db.ledger(), None, "nothing written");
    }
}

/// A query returning the databases `dbs`, in their order.
fn databases_query(dbs: &[&TestDb]) -> String {
    let names: Vec<&str> = dbs.iter().map(|db| db.name.as_str()).collect();
    format!(
        "SELECT datname FROM pg_database WHERE datname IN ('{}') ORDER BY 1",
        names.join("', '")
    )
}

/// A query returning the schemas `names`, in their order.
fn schemas_query(names: &[&str]) -> String {
    format!(
        "SELECT nspname FROM pg_namespace WHERE nspname IN ('{}') ORDER BY 1",
        names.join("', '")
    )
}

/// The rows of the ledger `table` (`t_a.tb_confiture`) of `db`; None when it does not exist.
fn ledger_rows(db: &TestDb, table: &str) -> Option<i64> {
    db.has_relation(table).then(|| {
        db.connect()
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .expect("ledger rows")
            .get(0)
    })
}

/// `baseline` and `reinit` took `--targets FILE` alone: a fleet target that a query returned —
/// a database, or a tenant schema — could not be selected as the fleet selected it, nor the
/// fleet's query given to them. They take `--targets-query` and `--schemas-query`, resolved as
/// a fleet's list is: the one target the query returns is written, with the environment's
/// credentials and ledger, and announced as such; a query returning none or more than one is
/// refused (exit 64) saying how many and which, text and JSON, as is `--schema` beside it —
/// and nothing is written anywhere.
#[test]
fn a_one_database_commands_query_selects_the_one_target_it_returns() {
    let dbs = TestDbs::new("hints_one_query", 3);
    let (home, one, other) = (&dbs.dbs[0], &dbs.dbs[1], &dbs.dbs[2]);
    let project = project();
    project.write(
        "db/environments/q.yaml",
        format!("name: q\ndatabase_url: {}\n", home.url()),
    );
    home.connect()
        .batch_execute("CREATE SCHEMA t_a; CREATE SCHEMA t_b")
        .expect("tenant schemas");
    let q = |args: &[&str]| Run::of(project.cli().args(["migrate", "--env", "q"]).args(args));
    let (both, none) = (
        databases_query(&[one, other]),
        "SELECT datname FROM pg_database WHERE false".to_string(),
    );
    let (tenants, the_one) = (schemas_query(&["t_a", "t_b"]), databases_query(&[one]));
    let commands: [&[&str]; 4] = [
        &["baseline", "--through", "2"],
        &["baseline", "--through", "2", "--dry-run"],
        &["reinit"],
        &["reinit", "--through", "2", "--yes"],
    ];
    for command in commands {
        let run = |more: &[&str]| q(&[command, more].concat());
        let words = format!("`migrate {}` takes one", command[0]);
        run(&["--targets-query", &both])
            .code(exit::USAGE)
            .stderr_has(&format!(
                "error: {words} database, and the targets query returns 2 databases\n"
            ))
            .stderr_has(&format!("/{} (the targets query, row 1)\n", one.name))
            .stderr_has(&format!("/{} (the targets query, row 2)\n", other.name))
            .stderr_has("make the query return the one database to act on");
        run(&["--targets-query", &none])
            .code(exit::USAGE)
            .stderr_has(&format!(
                "error: {words} database, and the targets query returns 0 databases\n"
            ));
        run(&["--schemas-query", &tenants])
            .code(exit::USAGE)
            .stderr_has(&format!(
                "error: {words} tenant schema, and the schemas query returns 2 tenant schemas\n"
            ))
            .stderr_has(&format!(
                "/{} schema t_b (the schemas query, row 2)\n",
                home.name
            ))
            .stderr_has("or select it with `--schema NAME`");
        run(&["--targets-query", &the_one, "--schema", "t_a"])
            .code(exit::USAGE)
            .stderr_has("--schema t_a names a tenant schema of the environment's database");
        run(&["--targets-query", &the_one, "--schemas-query", &tenants]).code(exit::USAGE);
        let doc = run(&["--schemas-query", &tenants, "--format", "json"])
            .code(exit::USAGE)
            .json();
        assert_eq!(doc["error"]["kind"], "usage", "{doc}");
        let details = doc["error"]["details"].to_string();
        assert!(
            details.contains("schema t_a (the schemas query, row 1)"),
            "{doc}"
        );
    }
    for db in &dbs.dbs {
        assert_eq!(db.ledger(), None, "nothing written");
    }
    for table in ["t_a.tb_confiture", "t_b.tb_confiture"] {
        assert!(!home.has_relation(table), "nothing written: {table}");
    }

    // One: that target alone, reached as the fleet reaches it.
    q(&["baseline", "--through", "2", "--targets-query", &the_one])
        .code(exit::SUCCESS)
        .stderr_has(
            "using the targets query, row 1, on the server of environment file db/environments/q.yaml: ",
        )
        .stderr_has(&format!("/{}\n", one.name));
    assert_eq!(versions(one), ["001", "002"]);
    let tenant = schemas_query(&["t_a"]);
    let doc = q(&[
        "baseline",
        "--through",
        "2",
        "--schemas-query",
        &tenant,
        "--format",
        "json",
    ]);
    doc.code(exit::SUCCESS)
        .stderr_has("using q (db/environments/q.yaml): ")
        .stderr_has(&format!("/{} schema t_a\n", home.name));
    assert_eq!(doc.json()["schema"], "t_a", "{}", doc.dump());
    assert_eq!(ledger_rows(home, "t_a.tb_confiture"), Some(2));
    // An applied file edited: `reinit` accepts it where its query selects, nowhere else.
    project.write(
        "db/migrations/001_a.up.sql",
        "-- edited\nCREATE TABLE tb_a (id int);\n",
    );
    q(&["reinit", "--targets-query", &the_one]).code(exit::SUCCESS);
    q(&["reinit", "--schemas-query", &tenant]).code(exit::SUCCESS);
    for list in [["--targets-query", &the_one], ["--schemas-query", &tenant]] {
        // Pending 003, nothing diverged.
        q(&[&["status"][..], &list].concat()).code(exit::PENDING);
    }
    assert_eq!(other.ledger(), None, "another database");
    assert_eq!(home.ledger(), None, "the environment's own database");
    assert!(!home.has_relation("t_b.tb_confiture"), "another tenant");
}

/// What a fleet target a query returned (a database, a tenant schema; the query on the command
/// line or in the environment file's `fleet:` block) is told to run to accept an edited
/// migration, `migrate reinit` with the selection that reaches it alone, runs as printed: on
/// that target, never another one nor the environment's own database.
#[test]
fn a_query_targets_reinit_help_runs_as_printed() {
    let dbs = TestDbs::new("hints_query_paste", 4);
    let home = &dbs.dbs[0];
    let listed: Vec<&TestDb> = dbs.dbs[1..].iter().collect();
    let project = project();
    let (by_db, by_schema) = (
        databases_query(&listed),
        schemas_query(&["t_a", "t_b", "t_c"]),
    );
    home.connect()
        .batch_execute("CREATE SCHEMA t_a; CREATE SCHEMA t_b; CREATE SCHEMA t_c")
        .expect("tenant schemas");
    for (env, block) in [
        ("q", String::new()),
        ("tq", format!("fleet:\n  targets_query: {by_db}\n")),
        ("sq", format!("fleet:\n  schemas_query: {by_schema}\n")),
    ] {
        project.write(
            &format!("db/environments/{env}.yaml"),
            format!("name: {env}\ndatabase_url: {}\n{block}", home.url()),
        );
    }
    let run = |env: &str, args: &[&str]| {
        Run::of(project.cli().args(["migrate", "--env", env]).args(args))
    };
    run("tq", &["up"]).code(exit::SUCCESS);
    run("sq", &["up"]).code(exit::SUCCESS);
    project.write(
        "db/migrations/001_a.up.sql",
        "-- edited\nCREATE TABLE tb_a (id int);\n",
    );
    // Each form selects the next target: the earlier ones were accepted already.
    let forms: [(&str, &[&str], String, String); 4] = [
        (
            "q",
            &["--targets-query", &by_db],
            format!("/{} (", listed[0].name),
            format!("--env q --targets <(echo {})`", listed[0].name),
        ),
        (
            "tq",
            &[],
            format!("/{} (", listed[1].name),
            format!("--env tq --targets <(echo {})`", listed[1].name),
        ),
        (
            "q",
            &["--schemas-query", &by_schema],
            " schema t_a (".to_string(),
            "--env q --schema t_a`".to_string(),
        ),
        (
            "sq",
            &[],
            " schema t_b (".to_string(),
            "--env sq --schema t_b`".to_string(),
        ),
    ];
    for (env, list, marker, selection) in &forms {
        let up = |more: &[&str]| run(env, &[&["up", "--keep-going"][..], list, more].concat());
        let failed = up(&[]);
        failed.code(exit::DIVERGED);
        let help = help_of_error(&failed.stderr, marker);
        let reinit = suggested(&help, "migrate reinit").unwrap_or_else(|| panic!("{help}"));
        assert!(reinit.ends_with(selection.as_str()), "{reinit}: {help}");
        let doc = up(&["--format", "json"]).code(exit::DIVERGED).json();
        assert!(doc.to_string().contains(&reinit), "{doc}");
        project.paste(&reinit).code(exit::SUCCESS);
        // That target alone accepted the edit; the others still diverge.
        let again = up(&[]);
        assert!(!again.stderr.contains(marker.as_str()), "{}", again.stderr);
        again.code(exit::DIVERGED);
    }
    assert_eq!(home.ledger(), None, "the environment's own database");
    assert_eq!(versions(listed[2]), ["001", "002", "003"]);
    // The last of each kind still diverges: nothing reached it.
    run("tq", &["status"])
        .code(exit::DIVERGED)
        .stderr_has(&format!("/{} (", listed[2].name));
    run("sq", &["status"])
        .code(exit::DIVERGED)
        .stderr_has(" schema t_c (");
}

/// `baseline` and `reinit` with a list of one target (`--targets-query`, `--schemas-query`,
/// `--targets`) refuse what their flags and files alone decide before reading the list, as the
/// fleet commands do — the whole class, each with its exit code and no connection made: the
/// environment's server is unreachable here (a query that ran would fail to connect, exit 3),
/// and the list file does not exist (read, it would be refused for that). Text and JSON.
#[test]
fn baseline_and_reinit_refuse_their_flags_before_reading_their_list() {
    let project = Project::new();
    project
        .migration(
            "001_a",
            "CREATE TABLE tb_a (id int);\n",
            "DROP TABLE tb_a;\n",
        )
        .migration("002_b", "CREATE TABLE x(;\n", "DROP TABLE x;\n")
        .write(
            "db/environments/q.yaml",
            "database_url: postgresql://postgres@127.0.0.1:1/unreachable\n",
        );
    let q = |args: &[&str]| Run::of(project.cli().args(["migrate", "--env", "q"]).args(args));
    let lists: [&[&str]; 3] = [
        &["--targets-query", "SELECT 'tenant_1'"],
        &["--schemas-query", "SELECT 't_a'"],
        &["--targets", "missing.txt"],
    ];
    // (the command's flags, its exit code, what its error says)
    let refusals: [(&[&str], u8, &str); 12] = [
        (
            &["baseline", "--through", "999"],
            exit::USAGE,
            "--through 999: no migration with version 999",
        ),
        (
            &["baseline", "--through", "0"],
            exit::USAGE,
            "--through 0: no migration with version 0",
        ),
        (
            &["baseline", "--through", "abc"],
            exit::USAGE,
            "invalid value 'abc' for '--through",
        ),
        (
            &["baseline", "--through", "1", "--schema", "t_a"],
            exit::USAGE,
            "--schema t_a names a tenant schema",
        ),
        (
            &["baseline", "--through", "1", "--jobs", "2"],
            exit::USAGE,
            "unexpected argument '--jobs'",
        ),
        (
            &["baseline", "--through", "1", "--lock-wait", "99999999999s"],
            exit::USAGE,
            "'--lock-wait <DURATION>': is too long",
        ),
        (&["baseline"], exit::USAGE, "--through <VERSION>"),
        // Its files through `--through` are what it writes as the truth.
        (
            &["baseline", "--through", "2"],
            exit::INVALID,
            "nothing was recorded",
        ),
        (
            &["reinit", "--through", "999"],
            exit::USAGE,
            "--through 999: no migration with version 999",
        ),
        (
            &["reinit", "--through", "0", "--yes"],
            exit::USAGE,
            "--through 0: no migration with version 0",
        ),
        (
            &["reinit", "--schema", "t_a"],
            exit::USAGE,
            "--schema t_a names a tenant schema",
        ),
        (
            &["reinit", "--keep-going"],
            exit::USAGE,
            "unexpected argument '--keep-going'",
        ),
    ];
    for (command, code, says) in refusals {
        for list in lists {
            let args = [command, list].concat();
            q(&args)
                .code(code)
                .stderr_has(says)
                .stderr_lacks("connect")
                .stderr_lacks("missing.txt:");
            let doc = q(&[&args[..], &["--format", "json"]].concat())
                .code(code)
                .json();
            assert_eq!(doc["error"]["exit_code"], code, "{args:?}: {doc}");
        }
    }
    // Two lists: refused as such, whichever they are.
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        let args = [&["reinit"][..], lists[a], lists[b]].concat();
        q(&args).code(exit::USAGE).stderr_has("cannot be used with");
    }
}

/// `baseline` and `reinit` given a list of one target that a suggestion cannot repeat — a
/// query, a list read from a pipe — suggested commands with `--targets-query <SQL>` (or
/// `<LIST>`): pasted, the shell reads `<SQL>` as a redirection, and a query run again may
/// return another target. Every command such a run suggests names the target its list chose,
/// as a fleet target's help does: a database listed by name by a list of that name alone, a
/// tenant by `--schema NAME`, a URL by `--database-url <URL>`, text and JSON; pasted, it acts
/// on that target. A list in a regular file is repeated as given.
#[test]
fn a_one_target_runs_suggestions_name_the_target_its_list_chose() {
    let dbs = TestDbs::new("hints_one_chosen", 2);
    let (home, one) = (&dbs.dbs[0], &dbs.dbs[1]);
    let project = project();
    project
        .write(
            "db/environments/q.yaml",
            format!("name: q\ndatabase_url: {}\n", home.url()),
        )
        .write("one.txt", format!("{}\n", one.name));
    home.connect()
        .batch_execute("CREATE SCHEMA t_a")
        .expect("a tenant schema");
    let q = |args: &[&str]| {
        project
            .cli()
            .args(["migrate", "--env", "q"])
            .args(args)
            .output()
    };
    let (by_name, tenant) = (databases_query(&[one]), schemas_query(&["t_a"]));
    let by_url = format!("SELECT '{}'", one.url());
    q(&["up", "--targets-query", &by_name]).expect("up");
    q(&["up", "--schemas-query", &tenant]).expect("up");
    assert_eq!(versions(one), ["001", "002", "003"]);
    let baseline = "`cargo confiture migrate baseline --through 003";
    // (the list's flags, what the run's stdin feeds it, how its suggestions name the target)
    let named = format!("--env q --targets <(echo {})`", one.name);
    let cases: [(&[&str], &str, &str); 5] = [
        (&["--targets-query", &by_name], "", &named),
        (
            &["--targets", "/dev/stdin"],
            &format!("{}\n", one.name),
            &named,
        ),
        (&["--schemas-query", &tenant], "", "--env q --schema t_a`"),
        (&["--targets-query", &by_url], "", "--database-url <URL>`"),
        (&["--targets", "one.txt"], "", "--env q --targets one.txt`"),
    ];
    for (list, input, words) in cases {
        // `--through 1` would forget 002 and 003, applied with their files on disk: refused,
        // suggesting the baseline that records them again.
        let run = |more: &[&str]| {
            Run::with_input(
                project
                    .cli()
                    .args(["migrate", "--env", "q", "reinit", "--through", "1"])
                    .args(list)
                    .args(more),
                input,
            )
        };
        let expected = format!("{baseline} {words}");
        let text = run(&[]);
        text.code(exit::USAGE)
            .stderr_has(&expected)
            .stderr_lacks("<SQL>")
            .stderr_lacks("<LIST>");
        let doc = run(&["--format", "json"]).code(exit::USAGE).json();
        let help = doc["errors"][0]["help"].as_str().unwrap_or_default();
        assert!(help.contains(&expected), "{list:?}: {doc}");
        assert!(!help.contains("<SQL>"), "{list:?}: {doc}");
        if !words.contains("<URL>") {
            let pasted = suggested(&text.stderr, "migrate baseline").expect("suggested");
            project
                .paste(&pasted)
                .code(exit::SUCCESS)
                .stdout_has("nothing to record");
        }
    }
    assert_eq!(home.ledger(), None, "the environment's own database");
}

/// `url` (`postgresql://USER@HOST:PORT/DB`) with `closed` hosts that refuse connections
/// before its own.
fn behind_closed_hosts(url: &str, closed: usize) -> String {
    let (head, tail) = url.rsplit_once('@').expect("a URL with a user");
    format!("{head}@{}{tail}", "127.0.0.1:1,".repeat(closed))
}

/// `migrate up` of the databases `list` names (`t.txt`) on the server's `postgres` database
/// behind `closed` hosts (environment `hosts`).
fn up_behind_closed_hosts(project: &Project, closed: usize, list: &str) -> Run {
    let url = behind_closed_hosts(&server().url("postgres"), closed);
    project.write(
        "db/environments/hosts.yaml",
        format!("database_url: {url}\n"),
    );
    project.write("t.txt", list);
    Run::of(
        project
            .cli()
            .args(["migrate", "up", "--env", "hosts", "--targets", "t.txt"]),
    )
}

/// The details of a line that follow `error_line` (those indented under it), up to its help.
fn details_under(stderr: &str, error_line: &str) -> Vec<String> {
    stderr
        .lines()
        .skip_while(|l| !l.starts_with(error_line))
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with("help:") && l.starts_with("  "))
        .map(str::to_string)
        .collect()
}

/// A fleet's text showed each failed target's message and help, never its details: what one
/// database's error says under its message (each host's reason of a host list, a password
/// file that was not read, the lock's holder) reached only `--format json`. Each failed
/// target's error shows the details one database's shows, laid out alike, cut to a few lines
/// each so that many failed targets stay readable.
#[test]
fn a_failed_targets_text_shows_its_details_as_one_databases_does() {
    let project = project();
    let run = up_behind_closed_hosts(&project, 1, "fth_no_such_db_1\nfth_no_such_db_2\n");
    run.code(exit::CONNECTION);
    let alone_url = behind_closed_hosts(&server().url("fth_no_such_db_1"), 1);
    let alone = Run::of(
        project
            .cli()
            .args(["migrate", "up", "--database-url", &alone_url]),
    );
    alone.code(exit::CONNECTION);
    let expected = details_under(&alone.stderr, "error:");
    assert_eq!(expected.len(), 2, "{}", alone.dump());
    for db in ["fth_no_such_db_1", "fth_no_such_db_2"] {
        let line = format!(
            "error: {} (t.txt:",
            server().display(db).replacen('@', "@127.0.0.1:1,", 1)
        );
        let shown = details_under(&run.stderr, &line);
        let expected: Vec<String> = expected
            .iter()
            .map(|d| d.replace("fth_no_such_db_1", db))
            .collect();
        assert_eq!(shown, expected, "{}", run.dump());
    }

    // Many details: cut, the rest counted (the JSON entry has them all).
    let run = up_behind_closed_hosts(&project, 30, "fth_no_such_db_1\n");
    let shown = details_under(&run.stderr, "error: ");
    assert_eq!(
        shown.len(),
        confiture::display::MAX_LISTED + 1,
        "{}",
        run.dump()
    );
    assert_eq!(
        shown.last().map(String::as_str),
        Some("  - ... and 11 more")
    );
}

/// A database listed by name (a `--targets FILE` line, a `--targets-query` row) whose role the
/// server refused was told to "check the user and password in t.txt:1 (on the server of
/// environment file ...)": the list gives only the name; the user and password are the fleet's
/// environment file's, which the help now names alone (with the line that gives them), while a
/// help about the name (a database that does not exist) names the list's entry alone.
#[test]
fn a_listed_names_helps_name_where_what_they_are_about_came_from() {
    let project = project();
    let nobody = server().url_as("fth_nobody", None, "postgres");
    project.write(
        "db/environments/nobody.yaml",
        format!("database_url: {nobody}\n"),
    );
    project.write(
        "db/environments/fl.yaml",
        format!("database_url: {}\n", server().url("postgres")),
    );
    project.write("t.txt", "postgres\n");
    let file = "environment file db/environments/nobody.yaml, line 1 (database_url)";
    // (A targets query runs as that role too: its refusal is the fleet's own; the wording of
    // a query's row is `Target::database`'s unit test's.)
    let run =
        Run::of(
            project
                .cli()
                .args(["migrate", "status", "--env", "nobody", "--targets", "t.txt"]),
        );
    run.code(exit::CONNECTION).stderr_lacks("(on the server of");
    let help = help_of_error(&run.stderr, "(t.txt:1)");
    assert!(
        help.starts_with(&format!("check the user and password in {file};")),
        "{}",
        run.dump()
    );
    for (list, entry) in [
        (["--targets", "t2.txt"], "t2.txt:1"),
        (
            ["--targets-query", "SELECT 'fth_no_such_db'"],
            "the targets query, row 1",
        ),
    ] {
        project.write("t2.txt", "fth_no_such_db\n");
        let run = Run::of(
            project
                .cli()
                .args(["migrate", "status", "--env", "fl"])
                .args(list),
        );
        run.code(exit::CONNECTION);
        let help = help_of_error(&run.stderr, &format!("({entry})"));
        assert!(
            help.ends_with(&format!("or fix the database name in {entry}")),
            "{}",
            run.dump()
        );
    }
}

/// A database a fleet lists by name, whose `search_path` the environment's URL options leave
/// with nowhere to create the tracking table (empty, or a system schema first), was told to
/// write the options "in db/environments/po.yaml:4, on the server of environment file ...":
/// a line that holds only a name (hsm). The help names where the options are written — the
/// fleet's environment file for a name, the entry's own line for a URL with options of its
/// own — and never an ALTER ROLE or ALTER DATABASE, which would change nothing the options
/// set; a dry run says the same.
#[test]
fn a_targets_search_path_from_its_options_is_fixed_where_the_options_are_written() {
    let dbs = TestDbs::new("pathopts", 2);
    let project = project();
    project.write(
        "db/environments/po.yaml",
        format!(
            "database_url: {}?options=-c%20search_path%3D\nfleet:\n  targets:\n    - {}\n    \
             - {}?options=-c%20search_path%3Dpg_catalog,public\n",
            server().url("postgres"),
            dbs.dbs[0].name,
            server().url(&dbs.dbs[1].name)
        ),
    );
    for dry_run in [&["--dry-run"][..], &[]] {
        let run = Run::of(
            project
                .cli()
                .args(["migrate", "up", "--env", "po", "--keep-going"])
                .args(dry_run),
        );
        run.code(exit::INVALID);
        let written = "write `options=-c%20search_path%3Dpublic` there";
        for (db, source) in [
            (&dbs.dbs[0], "environment file db/environments/po.yaml"),
            (&dbs.dbs[1], "db/environments/po.yaml:5"),
        ] {
            let help = target_help(&run.stderr, &db.name);
            assert!(
                help.contains(&format!(
                    "it is set by the connection's options (`options=-c search_path=...` in \
                     {source}): {written}"
                )),
                "{dry_run:?} {}: {help}",
                db.name
            );
            assert!(!help.contains("ALTER"), "{help}");
        }
    }
}

/// A read-only database a fleet lists by name was told to "check the host in t.txt:1, on the
/// server of environment file ...": a line that holds only a name, where no host is written.
/// The refusal's help names where the host and the connection's settings are written, the
/// fleet's environment file, as the other connection helps of a listed name do (hsm); a
/// database listed by its own URL keeps its entry's line.
#[test]
fn a_read_only_listed_names_help_names_where_its_host_is_written() {
    let dbs = TestDbs::new("rolisted", 2);
    for db in &dbs.dbs {
        db.connect()
            .batch_execute(&format!(
                "ALTER DATABASE \"{}\" SET default_transaction_read_only = on",
                db.name
            ))
            .unwrap();
    }
    let project = project();
    project.write(
        "db/environments/fl.yaml",
        format!("database_url: {}\n", server().url("postgres")),
    );
    project.write(
        "t.txt",
        format!("{}\n{}\n", dbs.dbs[0].name, server().url(&dbs.dbs[1].name)),
    );
    let run = Run::of(project.cli().args([
        "migrate",
        "up",
        "--env",
        "fl",
        "--targets",
        "t.txt",
        "--keep-going",
    ]));
    run.code(exit::CONNECTION)
        .stderr_lacks("on the server of environment file db/environments/fl.yaml;");
    for (db, source) in [
        (&dbs.dbs[0], "environment file db/environments/fl.yaml"),
        (&dbs.dbs[1], "t.txt:2"),
    ] {
        let help = target_help(&run.stderr, &db.name);
        assert!(
            help.starts_with(&format!(
                "migrations need a writable primary: check the host in {source}; if the \
                 database was made read-only on purpose"
            )),
            "{}: {help}\n{}",
            db.name,
            run.dump()
        );
    }
}

/// A fleet's `status` labelled a target with an interrupted no-transaction migration
/// "! diverged" (exit 7) with the diverged help, where `status` of that database alone says
/// "! interrupted" and how to go on. The fleet's line says interrupted, with that help, its
/// commands addressed to that target; a diverged target that has none still says diverged.
#[test]
fn a_fleet_status_says_a_target_is_interrupted_as_one_database_does() {
    let dbs = TestDbs::new("hst_fleet_interrupted", 2);
    let project = fl_project(&dbs.dbs.iter().collect::<Vec<_>>());
    fl(&project, &["up"]).code(exit::SUCCESS);
    let (ok, failing) = (&dbs.dbs[0], &dbs.dbs[1]);
    fails_part_way_on(&project, "004_nt", &[(ok, "a"), (failing, "b")]);
    fl(&project, &["up"]).code(exit::MIGRATION_FAILED);

    // One database: the state the fleet's line must agree with.
    project
        .run_on(failing, &["migrate", "status"])
        .code(exit::DIVERGED)
        .stdout_has("! interrupted");

    let run = fl(&project, &["status"]);
    run.code(exit::DIVERGED)
        .stdout_has("! interrupted")
        .stdout_lacks("! diverged")
        .stderr_lacks("diverged:")
        .stderr_has(&format!(
            "/{} (t.txt:2): interrupted: 004_nt was interrupted part-way",
            failing.name
        ))
        .stderr_has(&format!(
            "migrate up --rerun-interrupted --env fl --targets <(echo {})`",
            failing.name
        ));

    // A diverged target with no interrupted migration still says diverged.
    project.write(
        "db/migrations/001_a.up.sql",
        "CREATE TABLE tb_a (id bigint);\n",
    );
    fl(&project, &["status"])
        .code(exit::DIVERGED)
        .stdout_has("! interrupted")
        .stdout_has("! diverged")
        .stderr_has(&format!("/{} (t.txt:1): diverged:", ok.name));
}
