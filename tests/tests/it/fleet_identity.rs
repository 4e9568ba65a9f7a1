//! A database listed twice under two spellings of its server (`127.0.0.1` and `localhost`, a
//! name on the environment's server and a URL to it by another name) is one database: the
//! fleet knows it by what the server says once connected, and runs the command on it once.
//! `down --steps 1` on such a list rolled back two migrations of it.

use confiture::exit;
use confiture_test_support::reaper::DropRoleLater;
use confiture_tests::{admin, pg_host, pg_port, server, unique, Project, Run, TestDb};

/// Three migrations, each a table.
fn project() -> Project {
    let project = Project::new();
    for (version, table) in [("001", "tb_a"), ("002", "tb_b"), ("003", "tb_c")] {
        project.migration(
            &format!("{version}_create_{table}"),
            &format!("CREATE TABLE {table} (pk int);\n"),
            &format!("DROP TABLE {table};\n"),
        );
    }
    project
}

/// The server's host spelled another way: a loopback address by name, a name by its address.
fn other_host() -> String {
    let host = pg_host();
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_loopback() => "localhost".to_string(),
        Ok(ip) => panic!("no other spelling known for the test server's address {ip}"),
        Err(_) => {
            use std::net::ToSocketAddrs;
            let addr = (host.as_str(), pg_port())
                .to_socket_addrs()
                .expect("resolve the test server's host")
                .next()
                .expect("an address of the test server's host");
            addr.ip().to_string()
        }
    }
}

/// `db` as a URL to the server spelled [`other_host`].
fn other_url(db: &TestDb) -> String {
    let password = server()
        .password
        .as_deref()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    format!(
        "postgresql://{}{password}@{}:{}/{}",
        server().user,
        other_host(),
        pg_port(),
        db.name
    )
}

/// The lists that name `db` twice: its URL and its URL by another host; its name on the
/// environment's server and its URL by another host.
fn lists(db: &TestDb) -> Vec<String> {
    vec![
        format!("{}\n{}\n", db.url(), other_url(db)),
        format!("{}\n{}\n", db.name, other_url(db)),
    ]
}

fn fleet(project: &Project, args: &[&str]) -> Run {
    let url = server().url("postgres");
    Run::of(
        project
            .cli()
            .args(["migrate", "--database-url", url.as_str()])
            .args(args),
    )
}

fn entries(doc: &serde_json::Value) -> &Vec<serde_json::Value> {
    doc["targets"].as_array().expect("targets[]")
}

/// The README's promise, for the destructive command: the database loses one migration, and
/// the second spelling is refused as listed twice before anything runs on it, one job or two.
#[test]
fn down_on_a_database_listed_under_two_host_spellings_rolls_back_once() {
    let db = TestDb::new("fleetid_down");
    let project = project();
    for (i, list) in lists(&db).iter().enumerate() {
        for jobs in ["1", "2"] {
            let up = ["migrate", "up", "--database-url", &db.url()];
            Run::of(project.cli().args(up)).code(exit::SUCCESS);
            project.write("dup.txt", list);
            let args = [
                "down",
                "--steps",
                "1",
                "--targets",
                "dup.txt",
                "--jobs",
                jobs,
            ];
            let run = fleet(&project, &[&args[..], &["--format", "json"]].concat());
            let doc = run.json();
            assert_eq!(
                db.ledger().unwrap_or_default().len(),
                2,
                "list {i}, --jobs {jobs}: down --steps 1 rolled back more than one\n{}",
                run.dump()
            );
            let targets = entries(&doc);
            let refused: Vec<_> = targets.iter().filter(|t| t["state"] == "failed").collect();
            assert_eq!(refused.len(), 1, "list {i}: {}", run.dump());
            assert_eq!(refused[0]["exit_code"], exit::INVALID, "{}", run.dump());
            let message = refused[0]["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("is also listed at dup.txt:"),
                "list {i}: {}",
                run.dump()
            );
            assert!(
                refused[0]["rolled_back"]
                    .as_array()
                    .is_some_and(Vec::is_empty),
                "{}",
                run.dump()
            );
        }
    }
    // In text too, naming both lines (one job: the first line reaches it first).
    Run::of(
        project
            .cli()
            .args(["migrate", "up", "--database-url", &db.url()]),
    )
    .code(exit::SUCCESS);
    project.write("dup.txt", &lists(&db)[0]);
    fleet(
        &project,
        &[
            "down",
            "--steps",
            "1",
            "--targets",
            "dup.txt",
            "--jobs",
            "1",
        ],
    )
    .stderr_has("(dup.txt:2): the same database")
    .stderr_has("is also listed at dup.txt:1");
    assert_eq!(db.ledger().unwrap_or_default().len(), 2);
}

/// `up`, `status`, `drift` and `verify` give the same answer: the database is run once, the
/// second spelling refused as listed twice (`verify`, which proves the migrations once per
/// server of the list, took the two spellings for two servers and ran twice).
#[test]
fn up_status_drift_and_verify_run_a_database_listed_twice_once() {
    let db = TestDb::new("fleetid_up");
    let project = project();
    project.write("dup.txt", &lists(&db)[1]);
    for command in ["up", "status", "drift", "verify"] {
        let run = fleet(
            &project,
            &[command, "--targets", "dup.txt", "--format", "json"],
        );
        let doc = run.json();
        let targets = entries(&doc);
        assert_eq!(targets.len(), 2, "{}", run.dump());
        let refused: Vec<_> = targets
            .iter()
            .filter(|t| {
                t["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("is also listed at dup.txt:"))
            })
            .collect();
        assert_eq!(refused.len(), 1, "{command}: {}", run.dump());
        assert_eq!(refused[0]["exit_code"], exit::INVALID, "{}", run.dump());
    }
    assert_eq!(db.ledger().unwrap_or_default().len(), 3);
}

/// `verify` runs once per server of the list, as its first target there: when that target is
/// a database already reached under another spelling, it is refused as listed twice, and the
/// other targets of its spelling share the result of the server's run — the server was proved
/// once, not again under its other name.
#[test]
fn verify_refusing_a_servers_first_target_shares_the_other_spellings_run() {
    let (a, b) = (TestDb::new("fleetid_va"), TestDb::new("fleetid_vb"));
    let project = project();
    let other_b = other_url(&b);
    project.write(
        "dup.txt",
        format!("{}\n{}\n{other_b}\n", a.name, other_url(&a)),
    );
    for jobs in ["1", "3"] {
        let run = fleet(
            &project,
            &[
                "verify",
                "--targets",
                "dup.txt",
                "--keep-going",
                "--jobs",
                jobs,
                "--format",
                "json",
            ],
        );
        let doc = run.json();
        let targets = entries(&doc);
        let codes: Vec<_> = targets.iter().map(|t| &t["exit_code"]).collect();
        // The first spelling that reached `a` ran; which one that is depends on the schedule.
        let (ran, refused) = if codes[0] == 0 { (0, 1) } else { (1, 0) };
        assert_eq!(codes[ran], 0, "--jobs {jobs}: {}", run.dump());
        assert_eq!(
            codes[refused],
            exit::INVALID,
            "--jobs {jobs}: {}",
            run.dump()
        );
        let message = targets[refused]["error"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.contains("is also listed at dup.txt:"),
            "{}",
            run.dump()
        );
        assert_eq!(targets[ran]["report"]["passed"], true, "{}", run.dump());
        let runs = targets
            .iter()
            .filter(|t| t["report"]["passed"] == true)
            .count();
        assert_eq!(
            runs,
            1,
            "--jobs {jobs}: verify ran more than once\n{}",
            run.dump()
        );
        // `b`, under the other spelling, has the result of that one run.
        assert_eq!(codes[2], 0, "{}", run.dump());
        if ran == 0 {
            assert_eq!(
                targets[2]["shared_with"],
                targets[0]["target"],
                "{}",
                run.dump()
            );
        } else {
            assert_eq!(
                targets[2]["shared_with"],
                targets[1]["target"],
                "{}",
                run.dump()
            );
        }
    }
}

/// Two databases of one server are two targets, however the server is spelled.
#[test]
fn two_databases_of_one_server_under_two_spellings_are_two_targets() {
    let (a, b) = (TestDb::new("fleetid_a"), TestDb::new("fleetid_b"));
    let project = project();
    project.write("two.txt", format!("{}\n{}\n", a.url(), other_url(&b)));
    fleet(&project, &["up", "--targets", "two.txt"]).code(exit::SUCCESS);
    assert_eq!(a.ledger().unwrap_or_default().len(), 3);
    assert_eq!(b.ledger().unwrap_or_default().len(), 3);
}

/// A role that may not call `pg_control_system()` (revoked in its database, as an
/// administrator may) still tells one database from two.
#[test]
fn a_role_without_the_clusters_identifier_still_runs_a_database_once() {
    let role = DropRoleLater(unique("fleetid_role"));
    admin()
        .batch_execute(&format!("CREATE ROLE \"{}\" LOGIN", role.0))
        .expect("create the role");
    let (db, other) = (TestDb::new("fleetid_role"), TestDb::new("fleetid_role2"));
    for db in [&db, &other] {
        db.connect()
            .batch_execute(&format!(
                "ALTER DATABASE \"{}\" OWNER TO \"{}\";
                 ALTER SCHEMA public OWNER TO \"{}\";
                 REVOKE EXECUTE ON FUNCTION pg_catalog.pg_control_system() FROM PUBLIC;",
                db.name, role.0, role.0
            ))
            .expect("hand the database over");
    }
    let url = |host: &str, db: &TestDb| {
        format!("postgresql://{}@{host}:{}/{}", role.0, pg_port(), db.name)
    };
    let project = project();
    project.write(
        "dup.txt",
        format!(
            "{}\n{}\n{}\n",
            url(&pg_host(), &db),
            url(&other_host(), &other),
            url(&other_host(), &db)
        ),
    );
    let run = fleet(
        &project,
        &[
            "up",
            "--targets",
            "dup.txt",
            "--keep-going",
            "--jobs",
            "1",
            "--format",
            "json",
        ],
    );
    let doc = run.json();
    let codes: Vec<_> = entries(&doc).iter().map(|t| &t["exit_code"]).collect();
    assert_eq!(codes, [0, 0, exit::INVALID], "{}", run.dump());
    assert_eq!(db.ledger().unwrap_or_default().len(), 3);
    assert_eq!(other.ledger().unwrap_or_default().len(), 3);
}

/// `up --create-database` on a missing database listed under two spellings creates it once and
/// refuses the second spelling (exit 5): its dry run, before anything exists, gives the same
/// answer from a maintenance database of the server (it planned two creations, exit 0, while
/// the run then failed one).
#[test]
fn a_dry_run_creating_a_database_listed_twice_refuses_the_second_spelling_as_the_run_does() {
    let db = TestDb::unborn("fleetid_new");
    let project = project();
    let exists = || {
        admin()
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db.name])
            .expect("list databases")
            .is_some()
    };
    let check = |run: &Run, what: &str| {
        run.code(exit::INVALID);
        let doc = run.json();
        let targets = entries(&doc);
        let codes: Vec<_> = targets.iter().map(|t| &t["exit_code"]).collect();
        let refused = usize::from(codes[0] == 0);
        assert_eq!(codes[1 - refused], 0, "{what}: {}", run.dump());
        assert_eq!(codes[refused], exit::INVALID, "{what}: {}", run.dump());
        let message = targets[refused]["error"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.contains("the same database is also listed at dup.txt:"),
            "{what}: {}",
            run.dump()
        );
    };
    let args = |dry: bool, jobs: &'static str| {
        let mut args = vec![
            "up",
            "--targets",
            "dup.txt",
            "--create-database",
            "--keep-going",
            "--jobs",
            jobs,
            "--format",
            "json",
        ];
        if dry {
            args.push("--dry-run");
        }
        args
    };
    for (i, list) in lists(&db).iter().enumerate() {
        project.write("dup.txt", list);
        for jobs in ["1", "2"] {
            let run = fleet(&project, &args(true, jobs));
            check(&run, &format!("dry run, list {i}, --jobs {jobs}"));
            assert!(!exists(), "a dry run created the database");
        }
    }
    let run = fleet(&project, &args(false, "2"));
    check(&run, "the run");
    assert_eq!(db.ledger().unwrap_or_default().len(), 3, "{}", run.dump());
}

/// Two spellings of one missing database racing under `up --create-database`: the database is
/// claimed before it is created (as the dry run claims it), so one target creates and migrates
/// it and the other is refused as listed twice (exit 5), having created nothing. A target that
/// looked while it was missing blamed "another session" for the creation its fleet-mate made,
/// and the one that created it was then refused with `created_database` in its report.
#[test]
fn racing_spellings_of_a_missing_database_create_it_once_and_refuse_the_other_before_creating() {
    let project = project();
    let dbs: Vec<TestDb> = (0..8).map(|_| TestDb::unborn("fleetid_race")).collect();
    let list: String = dbs
        .iter()
        .map(|db| format!("{}\n{}\n", db.url(), other_url(db)))
        .collect();
    project.write("race.txt", &list);
    let args = [
        "up",
        "--targets",
        "race.txt",
        "--create-database",
        "--keep-going",
        "--jobs",
        "2",
        "--format",
        "json",
    ];
    let run = fleet(&project, &args);
    run.code(exit::INVALID);
    let dump = run.dump();
    assert!(
        !dump.contains("another session created it"),
        "a target blamed another session for its fleet-mate's creation: {dump}"
    );
    let doc = run.json();
    let targets = entries(&doc);
    assert_eq!(targets.len(), 2 * dbs.len(), "{dump}");
    for (i, (db, pair)) in dbs.iter().zip(targets.chunks(2)).enumerate() {
        let created: Vec<bool> = pair
            .iter()
            .map(|t| t["created_database"].as_str() == Some(db.name.as_str()))
            .collect();
        assert_eq!(
            created.iter().filter(|c| **c).count(),
            1,
            "pair {i}: not exactly one creation reported: {dump}"
        );
        for (t, created) in pair.iter().zip(&created) {
            let expected = if *created {
                exit::SUCCESS
            } else {
                exit::INVALID
            };
            assert_eq!(t["exit_code"], expected, "pair {i}: {dump}");
            if !created {
                let message = t["error"]["message"].as_str().unwrap_or_default();
                assert!(
                    message.contains("is also listed at race.txt:"),
                    "pair {i}: {dump}"
                );
            }
        }
        assert_eq!(db.ledger().unwrap_or_default().len(), 3, "pair {i}: {dump}");
    }
}
