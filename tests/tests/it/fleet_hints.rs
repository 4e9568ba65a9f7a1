//! The commands a fleet run's messages suggest repeat how its databases were chosen: the
//! fleet's list (`--targets FILE`, `--targets-query`, `--schemas-query`; a placeholder for a
//! list read from a pipe) in every help, text and JSON, and for one target the environment it
//! was reached with — never a command that, pasted, acts on another database or fails.

use confiture::exit;
use confiture_tests::{server, Project, Run, TestDb, TestDbs};

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

    // `reinit` takes no list: `--database-url <URL>`, saying what it loses.
    project.write(
        "db/migrations/002_b.up.sql",
        "CREATE TABLE tb_b (id int, y int);\n",
    );
    ops(&["up"])
        .code(exit::DIVERGED)
        .stderr_has(&format!("`cargo confiture migrate reinit {lost}"));
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
