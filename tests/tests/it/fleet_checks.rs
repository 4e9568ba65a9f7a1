//! `migrate verify|drift` with a target list, and target lists in the environment file's
//! `fleet:` block, from the command line against real databases.

use confiture::exit;
use confiture_tests::{server, Project, Run, TestDb, TestDbs};

fn server_url() -> String {
    server().url("postgres")
}

fn project() -> Project {
    let project = Project::new();
    project
        .migration(
            "001_create_tb_account",
            "CREATE TABLE tb_account (pk int PRIMARY KEY);\n",
            "DROP TABLE tb_account;\n",
        )
        .migration(
            "002_index_tb_account",
            "CREATE INDEX idx_tb_account ON tb_account (pk);\n",
            "DROP INDEX idx_tb_account;\n",
        );
    project
}

fn names(dbs: &TestDbs) -> String {
    dbs.dbs.iter().map(|db| format!("{}\n", db.name)).collect()
}

fn migrate(project: &Project, args: &[&str]) -> Run {
    let url = server_url();
    Run::of(
        project
            .cli()
            .args(["migrate", "--database-url", url.as_str()])
            .args(args),
    )
}

#[test]
fn verify_and_drift_take_a_target_list() {
    let dbs = TestDbs::new("fleetcheckcli", 3);
    let project = project();
    project.write("tenants.txt", names(&dbs));

    let run = migrate(
        &project,
        &["verify", "--targets", "tenants.txt", "--format", "json"],
    );
    run.code(exit::SUCCESS);
    let doc = run.json();
    assert_eq!(doc["command"], "verify");
    let targets = doc["targets"].as_array().expect("targets[]");
    assert_eq!(targets.len(), 3);
    // One server: the first target holds the report, the others share it.
    assert_eq!(targets[0]["report"]["passed"], true, "{doc:#}");
    assert_eq!(targets[1]["shared_with"], targets[0]["target"], "{doc:#}");
    assert!(targets.iter().all(|t| t["exit_code"] == 0), "{doc:#}");
    // Nothing was written to the targets.
    assert!(dbs.dbs.iter().all(|db| db.ledger().is_none()));
    // The table says how many it checked: a target whose server cannot be reached checked none
    // (it said "2 migrations checked here").
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port();
    project.write(
        "mixed.txt",
        format!(
            "{}postgresql://postgres@127.0.0.1:{closed}/nowhere\n",
            names(&dbs)
        ),
    );
    migrate(
        &project,
        &["verify", "--targets", "mixed.txt", "--keep-going"],
    )
    .code(exit::CONNECTION)
    .stdout_has("2 migrations checked here")
    .stdout_has("none checked");

    migrate(&project, &["up", "--targets", "tenants.txt"]).code(exit::SUCCESS);
    let drifted: &TestDb = &dbs.dbs[1];
    drifted
        .connect()
        .batch_execute("CREATE TABLE tb_hotfix (pk int)")
        .expect("drift one tenant");
    // One history on one server: one target replays it, the two others are compared with
    // that replay (`2 migrations, as <that target>`), the drifted one listing its difference.
    migrate(&project, &["drift", "--targets", "tenants.txt"])
        .code(exit::SCHEMA_CHECK_FAILED)
        .stdout_has("2 migrations, as ")
        .stdout_has("✓ no drift")
        .stdout_has("✗ drift")
        .stdout_has(&format!("/{}: drift", drifted.name))
        .stdout_has("tb_hotfix");
}

/// A fleet `verify` gave a listed name its server does not have (a typo, a stale list) the run
/// of its server's first target: `✓ verified as .../<that one>`, exit 0 (hostile run htl, C).
/// Refused as the list's rule says, as `up` and `status` refuse it (exit 3, `database "..."
/// does not exist`, SQLSTATE 3D000), whether listed before or after a database that exists;
/// the others still share one run.
#[test]
fn verify_refuses_a_listed_database_the_server_does_not_have() {
    let dbs = TestDbs::new("fleetcheckabsent", 2);
    let project = project();
    let typo = format!("{}_typo", dbs.dbs[0].name);
    project.write(
        "tenants.txt",
        format!("{typo}\n{}\n{}\n", dbs.dbs[0].name, dbs.dbs[1].name),
    );
    for command in ["verify", "status", "up"] {
        let run = migrate(
            &project,
            &[
                command,
                "--targets",
                "tenants.txt",
                "--keep-going",
                "--format",
                "json",
            ],
        );
        let doc = run.json();
        if command == "verify" {
            run.code(exit::CONNECTION);
        }
        let targets = doc["targets"].as_array().expect("targets[]");
        assert_eq!(targets.len(), 3, "{command}: {doc:#}");
        let refused = &targets[0];
        assert_eq!(refused["state"], "failed", "{command}: {doc:#}");
        assert_eq!(refused["exit_code"], 3, "{command}: {doc:#}");
        assert_eq!(refused["error"]["sqlstate"], "3D000", "{command}: {doc:#}");
        assert!(
            refused["error"]["message"]
                .as_str()
                .is_some_and(|m| m.ends_with(&format!(
                    "database \"{typo}\" does not exist (SQLSTATE 3D000)"
                ))),
            "{command}: {doc:#}"
        );
        assert!(refused["shared_with"].is_null(), "{command}: {doc:#}");
        assert!(
            targets[1..].iter().all(|t| t["state"] == "done"),
            "{command}: {doc:#}"
        );
        if command == "verify" {
            assert_eq!(targets[1]["report"]["passed"], true, "{doc:#}");
            assert_eq!(targets[2]["shared_with"], targets[1]["target"], "{doc:#}");
        }
    }
    // Listed after one that exists, in the text output too.
    project.write("tenants.txt", format!("{}\n{typo}\n", dbs.dbs[0].name));
    migrate(
        &project,
        &["verify", "--targets", "tenants.txt", "--keep-going"],
    )
    .code(exit::CONNECTION)
    .stderr_has(&format!("database \"{typo}\" does not exist"))
    .stdout_lacks("as postgres@");
}

#[test]
fn drift_of_tenant_schemas_is_a_usage_error() {
    let project = project();
    migrate(
        &project,
        &["drift", "--schemas-query", "SELECT 'tenant_a'::text"],
    )
    .code(exit::USAGE)
    .stderr_has("drift of tenant schemas is not supported");
}

#[test]
fn the_environment_file_lists_the_targets_and_the_flags_win() {
    let dbs = TestDbs::new("fleetenvfile", 2);
    let project = project();
    let entries: String = dbs
        .dbs
        .iter()
        .map(|db| format!("    - {}\n", db.name))
        .collect();
    project.write(
        "db/environments/tenants.yaml",
        format!(
            "database_url: {}\nfleet:\n  targets:\n{entries}  jobs: 1\n",
            server_url()
        ),
    );
    Run::of(project.cli().args(["migrate", "--env", "tenants", "up"]))
        .code(exit::SUCCESS)
        .stderr_has("2 targets from db/environments/tenants.yaml (fleet.targets), 1 at a time")
        .stdout_has("✓ applied 2");
    for db in &dbs.dbs {
        assert_eq!(db.ledger().unwrap_or_default().len(), 2, "{}", db.name);
    }
    // --targets replaces the file's list, --jobs its jobs.
    project.write("one.txt", format!("{}\n", dbs.dbs[0].name));
    Run::of(project.cli().args([
        "migrate",
        "--env",
        "tenants",
        "status",
        "--targets",
        "one.txt",
        "--jobs",
        "3",
    ]))
    .code(exit::SUCCESS)
    .stderr_has("1 target from one.txt, 1 at a time")
    .stdout_has("1 target: 1 done");

    // Two lists in the file: refused, naming the file, the line and the key.
    project.write(
        "db/environments/two.yaml",
        format!(
            "database_url: {}\nfleet:\n  targets: one.txt\n  schemas_query: SELECT 'a'\n",
            server_url()
        ),
    );
    Run::of(project.cli().args(["migrate", "--env", "two", "status"]))
        .code(exit::INVALID)
        .stderr_has("environment file db/environments/two.yaml, line 4: `fleet.schemas_query`");
    // A block whose list was commented out, or that has none, is refused: it ran the
    // migrations on the environment's own database. So is a block with every key commented
    // out, or written null, which YAML reads as `fleet:` with no value (h16 F7).
    let own = TestDb::new("fleetenvown");
    for (block, why) in [
        (
            "fleet:\n  targets:\n  #  - tenant_1\n  jobs: 8\n",
            "`fleet.targets` is empty",
        ),
        ("fleet:\n  jobs: 8\n", "has no target list"),
        ("fleet: {}\n", "has no target list"),
        (
            "fleet:\n#  targets: tenants.txt\n#  jobs: 8\n",
            "has no target list",
        ),
        ("fleet:\n", "has no target list"),
        ("fleet: ~\n", "has no target list"),
        ("fleet: null\n", "has no target list"),
    ] {
        project.write(
            "db/environments/nolist.yaml",
            format!("database_url: {}\n{block}", own.url()),
        );
        let run = Run::of(project.cli().args(["migrate", "--env", "nolist", "up"]));
        run.code(exit::INVALID)
            .stderr_has("db/environments/nolist.yaml")
            .stderr_has(why);
        assert_eq!(own.ledger(), None, "{block}");
        // Named with its line, as every other error of the file (h17 F6): the `fleet:` key's.
        if why == "has no target list" {
            assert!(
                run.stderr.contains(
                    "error: environment file db/environments/nolist.yaml, line 2: the `fleet:` \
                     block has no target list, and the command line gives none\n"
                ),
                "{block}: {}",
                run.dump()
            );
        }
    }
    // A target file named by the environment file is read relative to it.
    project.write(
        "db/environments/listed.txt",
        format!("{}\n", dbs.dbs[1].name),
    );
    project.write(
        "db/environments/byfile.yaml",
        format!(
            "database_url: {}\nfleet:\n  targets: listed.txt\n",
            server_url()
        ),
    );
    Run::of(project.cli().args(["migrate", "--env", "byfile", "status"]))
        .code(exit::SUCCESS)
        .stderr_has("1 target from db/environments/listed.txt")
        .stdout_has(&dbs.dbs[1].name);
    // --database-url names one database: the environment file's list is not read.
    let plain = TestDb::new("fleetenvplain");
    project
        .run_on(&plain, &["migrate", "status"])
        .code(exit::NOT_INITIALISED);
}

/// `migrate baseline` and `reinit` take no list: `--env E` (or `-c FILE`) whose file has a
/// `fleet:` block means the fleet to `up`, `status`, ..., yet they silently wrote a ledger
/// into the database holding the list (dry runs said they would). Refused with the usage
/// code before connecting, whatever the block lists (a file, an inline list, a query, nothing),
/// dry runs too, saying how to pick one database; `--schema` and `--database-url` still do.
#[test]
fn baseline_and_reinit_refuse_an_environment_whose_file_has_a_fleet_block() {
    let own = TestDb::new("fleetenvone");
    let listed = TestDb::new("fleetenvlisted");
    let project = project();
    project.write("db/environments/tenants.txt", format!("{}\n", listed.name));
    // Each with what the refusal says it means: the list it names, or none (h17 F6: a block
    // without one was said to mean "every target of that list").
    let none = "it names no target list, and the commands that take one refuse the environment \
                until it does";
    let blocks = [
        (
            "fleet:\n  targets: tenants.txt\n".to_string(),
            "for the commands that take a list it means every target of \
             db/environments/tenants.txt",
        ),
        (
            format!("fleet:\n  targets:\n    - {}\n", listed.name),
            "for the commands that take a list it means every target of db/environments/fl.yaml \
             (fleet.targets)",
        ),
        (
            format!("fleet:\n  targets_query: SELECT '{}'\n", listed.name),
            "for the commands that take a list it means every target of the targets query of \
             db/environments/fl.yaml",
        ),
        (
            "fleet:\n  schemas_query: SELECT 'tenant_a'\n".to_string(),
            "for the commands that take a list it means every target of the schemas query of \
             db/environments/fl.yaml",
        ),
        ("fleet:\n  jobs: 2\n".to_string(), none),
        ("fleet: null\n".to_string(), none),
    ];
    let commands: [&[&str]; 4] = [
        &["baseline", "--through", "2"],
        &["baseline", "--through", "2", "--dry-run"],
        &["reinit", "--through", "2", "--yes"],
        &["reinit", "--dry-run"],
    ];
    for (block, means) in &blocks {
        project.write(
            "db/environments/fl.yaml",
            format!("database_url: {}\n{block}", own.url()),
        );
        // Every way to select one: `--targets FILE` too, and the queries (h20 F13b).
        let (of_the_list, holding) = if *means == none {
            ("", "")
        } else {
            (
                " of the list",
                "; the database holding the list is reached the same way",
            )
        };
        let help = format!(
            "help: give --schema NAME to act on one tenant schema of the environment's database, \
             or select one database{of_the_list} with --targets FILE listing it alone \
             (`--targets <(echo NAME)`: the environment's credentials and settings), -c FILE \
             (an environment file naming it) or --database-url URL (which reads no environment \
             file){holding}; --targets-query SQL and --schemas-query SQL select the one database \
             or tenant schema their query returns"
        );
        for selection in [["--env", "fl"], ["-c", "db/environments/fl.yaml"]] {
            for command in commands {
                let run = Run::of(project.cli().arg("migrate").args(selection).args(command));
                run.code(exit::USAGE)
                    .stderr_has(&format!(
                        "error: `migrate {}` takes one database, and db/environments/fl.yaml has \
                         a `fleet:` block (line 2): {means}\n",
                        command[0]
                    ))
                    // Refused before connecting.
                    .stderr_lacks("using ");
                assert_eq!(run.help_line(), help, "{block}");
            }
        }
        assert_eq!(own.ledger(), None, "{block}");
        assert_eq!(listed.ledger(), None, "{block}");
    }
    // The JSON document says it too.
    let run = Run::of(project.cli().args([
        "migrate",
        "--env",
        "fl",
        "--format",
        "json",
        "baseline",
        "--through",
        "2",
    ]));
    run.code(exit::USAGE);
    assert_eq!(
        run.json()["errors"][0]["exit_code"],
        u64::from(exit::USAGE),
        "{}",
        run.dump()
    );

    // One tenant schema of the environment's database: `--schema` picks it.
    Run::of(project.cli().args([
        "migrate",
        "--env",
        "fl",
        "--schema",
        "tenant_a",
        "baseline",
        "--through",
        "2",
    ]))
    .code(exit::SUCCESS);
    assert!(own.has_relation("tenant_a.tb_confiture"));
    assert_eq!(
        own.ledger(),
        None,
        "the database's own ledger is not written"
    );
    // A list of one target on the command line replaces the block's, as a fleet's list does:
    // each way the help names selects that target alone, as the fleet reaches it.
    project.write(
        "db/environments/fl.yaml",
        format!(
            "database_url: {}\nfleet:\n  schemas_query: SELECT 'tenant_a'\n",
            own.url()
        ),
    );
    let query = format!("SELECT '{}'", listed.name);
    let names = format!(
        "SELECT datname FROM pg_database WHERE datname = '{}'",
        listed.name
    );
    for list in [
        ["--targets-query", query.as_str()],
        ["--targets-query", names.as_str()],
    ] {
        Run::of(
            project
                .cli()
                .args(["migrate", "--env", "fl", "baseline", "--through", "1"])
                .args(list),
        )
        .code(exit::SUCCESS)
        .stderr_has(&format!("/{}\n", listed.name));
    }
    assert_eq!(listed.ledger().map(|l| l.len()), Some(1));
    Run::of(project.cli().args([
        "migrate",
        "--env",
        "fl",
        "reinit",
        "--schemas-query",
        "SELECT 'tenant_b'",
        "--dry-run",
    ]))
    .code(exit::SUCCESS)
    .stderr_has(" schema tenant_b\n");
    assert!(!own.has_relation("tenant_b.tb_confiture"), "a dry run");
    assert_eq!(own.ledger(), None, "the database holding the list");
    // One database (the one holding the list too): `--database-url`.
    project
        .run_on(&listed, &["migrate", "baseline", "--through", "2"])
        .code(exit::SUCCESS);
    assert_eq!(listed.ledger().map(|l| l.len()), Some(2));
}

/// `$$` in an environment file's value is a literal `$`, so a `fleet.targets_query` or
/// `schemas_query` written with PostgreSQL's dollar quoting (`SELECT $$tenant$$`) reached the
/// server as `SELECT $tenant$`, and its syntax error showed the rewritten text without saying
/// why. The help says it when the server finds the syntax wrong (SQLSTATE 42601) and the
/// file's query was written with `$$` — not for another error, nor for a command line's query
/// (sent as typed) — and what it says to write works.
#[test]
fn a_file_query_with_double_dollars_that_fails_its_syntax_says_why() {
    let listed = TestDb::new("fleetdollar");
    let project = project();
    let env = |block: String| {
        project.write(
            "db/environments/fq.yaml",
            format!("database_url: {}\nfleet:\n{block}", server_url()),
        );
    };
    let status = |more: &[&str]| {
        Run::of(
            project
                .cli()
                .args(["migrate", "--env", "fq", "status"])
                .args(more),
        )
    };
    let said = "`$$` in an environment file's value is a literal `$`";
    for key in ["targets_query", "schemas_query"] {
        env(format!("  {key}: SELECT $${}$$\n", listed.name));
        status(&[])
            .code(exit::INVALID)
            .stderr_has("(SQLSTATE 42601)")
            .stderr_has(said)
            .stderr_has("write `$$$$` for a dollar quote");
        // Another error of a query written with `$$`: not this help.
        env(format!(
            "  {key}: SELECT 'a' FROM no_such_table WHERE 'x' <> '$$'\n"
        ));
        status(&[])
            .code(exit::INVALID)
            .stderr_has("(SQLSTATE 42P01)")
            .stderr_lacks(said);
    }
    // A command line's query is sent as typed, whatever the file's.
    env(format!("  targets_query: SELECT $${}$$\n", listed.name));
    status(&["--targets-query", "SELECT $$x"])
        .code(exit::INVALID)
        .stderr_has("(SQLSTATE 42601)")
        .stderr_lacks(said);
    // What the help says to write reaches the server as a dollar quote.
    env(format!("  targets_query: SELECT $$$${}$$$$\n", listed.name));
    status(&[])
        .code(exit::NOT_INITIALISED)
        .stdout_has(&listed.name);
}

/// The same database twice in a flow list (`targets: [postgres, postgres]`) was refused as
/// "fl.yaml:3: ... is already listed at fl.yaml:3": both entries share the line. Each is told
/// apart by its place in the list.
#[test]
fn a_target_listed_twice_in_a_flow_list_is_told_apart_by_its_entry() {
    let project = project();
    let (host, port) = (confiture_tests::pg_host(), confiture_tests::pg_port());
    project.write(
        "db/environments/fl.yaml",
        format!(
            "database_url: postgresql://postgres@{host}:{port}/postgres\nfleet:\n  \
             targets: [postgres, other, postgres]\n"
        ),
    );
    let run = project.run(&["migrate", "status", "--env", "fl"]);
    run.code(exit::INVALID).stderr_has(&format!(
        "db/environments/fl.yaml:3, entry 3: postgres@{host}:{port}/postgres is already listed \
         at db/environments/fl.yaml:3, entry 1"
    ));
}

/// `--targets -` was refused as "target list - does not exist": `-` reads the list from stdin,
/// as the usual convention has it (`list-tenants | cargo confiture migrate status --targets -`).
#[test]
fn a_target_list_of_dash_is_read_from_stdin() {
    let project = project();
    let (host, port) = (confiture_tests::pg_host(), confiture_tests::pg_port());
    let url = format!("postgresql://postgres@{host}:{port}/postgres");
    let args = [
        "migrate",
        "status",
        "--database-url",
        url.as_str(),
        "--targets",
        "-",
        "--format",
        "json",
    ];
    let run = Run::with_input(project.cli().args(args), "# tenants\npostgres\n");
    assert_ne!(run.code, i32::from(exit::INVALID), "{}", run.dump());
    let doc = run.json();
    let targets = doc["targets"].as_array().expect("targets[]");
    assert_eq!(targets.len(), 1, "{doc:#}");
    assert_eq!(
        targets[0]["target"],
        format!("postgres@{host}:{port}/postgres"),
        "{doc:#}"
    );
    assert_eq!(targets[0]["source"], "/dev/stdin:2", "{doc:#}");
}
