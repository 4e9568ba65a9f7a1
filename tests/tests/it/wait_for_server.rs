//! `--wait-for-server DURATION` (`migration.wait_for_server`): a server that is not accepting
//! connections yet — nothing listening, starting up — is tried again until the wait has
//! passed, as a command started beside its database needs (a container, a CI service); a
//! server that answers with a refusal (a database that does not exist) is never waited out.
//!
//! The server that starts late is a throwaway cluster of its own, started on a port chosen
//! beforehand; the shared server is only read.

use std::time::{Duration, Instant};

use confiture::exit;
use confiture_tests::cluster::Cluster;
use confiture_tests::{unique, Project, Run};

/// A cluster not started yet, the free port it will start on, and a project of one
/// migration, `001_t`.
fn late_server_project() -> (Cluster, u16, Project) {
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (i int);\n", "DROP TABLE t;\n");
    (Cluster::init(), Cluster::free_port(), project)
}

/// `child`'s run, `cluster` started on `port` once it has tried for a while: long enough for
/// several refused tries (the first delays are 100-200 ms).
fn started_late(cluster: &Cluster, port: u16, child: std::process::Child) -> Run {
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    cluster.start_on(port);
    let output = child.wait_with_output().expect("wait for the CLI");
    Run::from_output(output, started.elapsed())
}

/// The versions the ledger of `database` on `cluster` records, in order.
fn versions(cluster: &Cluster, database: &str) -> Vec<String> {
    cluster
        .connect(database)
        .query("SELECT version FROM tb_confiture ORDER BY version", &[])
        .expect("read the ledger")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// `up --create-database` started while nothing listens on the port its URL names waits, and
/// once the server starts there, creates the database and applies the migrations; without a
/// wait the same command fails at once, naming the flag that waits.
#[test]
fn up_waits_for_a_server_that_starts_after_it() {
    let cluster = Cluster::init();
    let port = Cluster::free_port();
    let url = format!("postgresql://postgres@127.0.0.1:{port}/late_app");
    let project = Project::new();
    project
        .migration("001_t", "CREATE TABLE t (i int);\n", "DROP TABLE t;\n")
        .migration("002_u", "INSERT INTO t VALUES (1);\n", "DELETE FROM t;\n");

    let at_once = project.run(&["migrate", "up", "--create-database", "--database-url", &url]);
    at_once
        .code(exit::CONNECTION)
        .stderr_has("connection refused")
        .stderr_has("--wait-for-server 60s")
        .stderr_lacks("waiting up to");

    let child = project.spawn(&[
        "migrate",
        "up",
        "--create-database",
        "--database-url",
        &url,
        "--wait-for-server",
        "2min",
    ]);
    let run = started_late(&cluster, port, child);
    // Said as it waits, on stderr, after the `using` line: not a silent pause.
    run.code(exit::SUCCESS)
        .stderr_lacks("error")
        .stderr_has(&format!(
            "using --database-url: postgres@127.0.0.1:{port}/late_app\n\
             waiting up to 2min for the server to accept connections: connection refused"
        ))
        .stdout_lacks("waiting");
    assert_eq!(
        versions(&cluster, "late_app"),
        ["001", "002"],
        "{}",
        run.dump()
    );
}

/// `migration.wait_for_server` of an environment file waits as the flag does: `up
/// --create-database --env late`, started while nothing listens on the port its file's URL
/// names, says it waits up to the file's 2min, and once the server starts there, creates the
/// database and applies the migrations (without the key it fails at once, as the flag's test
/// shows).
#[test]
fn an_environment_files_wait_for_server_waits_for_a_late_server() {
    let (cluster, port, project) = late_server_project();
    project.write(
        "db/environments/late.yaml",
        format!(
            "database_url: postgresql://postgres@127.0.0.1:{port}/late_file\n\
             migration:\n  wait_for_server: 2min\n"
        ),
    );
    let child = project.spawn(&["migrate", "up", "--create-database", "--env", "late"]);
    let run = started_late(&cluster, port, child);
    run.code(exit::SUCCESS)
        .stderr_lacks("error")
        .stderr_has("waiting up to 2min for the server to accept connections: connection refused");
    assert_eq!(versions(&cluster, "late_file"), ["001"], "{}", run.dump());
}

/// A server that never comes is waited for as long as asked, then the refusal is the error,
/// saying how long it waited and what set the wait (hsm3 #4: the flag, or the environment
/// file's key and that file, as other settings' texts name theirs); a server
/// that answers (the database does not exist) is not waited for at all.
#[test]
fn a_wait_ends_with_the_refusal_and_a_refusal_by_the_server_is_not_waited_out() {
    let port = Cluster::free_port();
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (i int);\n", "DROP TABLE t;\n");
    let url = format!("postgresql://postgres@127.0.0.1:{port}/never");

    let flag = project.run(&[
        "migrate",
        "status",
        "--database-url",
        &url,
        "--wait-for-server",
        "8s",
    ]);
    flag.code(exit::CONNECTION)
        .stderr_has("connection refused")
        .stderr_has("for the server to accept connections (`--wait-for-server 8s`)")
        .stderr_lacks("--wait-for-server 60s")
        // Told as it waits: at the first refusal, then again once five seconds have passed,
        // at the first try after that. Tries are up to a second apart: a wait of 6 s left
        // less than a second for that try, and a loaded CI machine sometimes had none there;
        // 8 s leaves three.
        .stderr_has("waiting up to 8s for the server to accept connections: connection refused");
    let again = "still waiting for the server to accept connections (";
    let told: f64 = flag
        .stderr
        .split_once(again)
        .and_then(|(_, rest)| rest.split_once("s of 8s)"))
        .and_then(|(waited, _)| waited.parse().ok())
        .unwrap_or_else(|| panic!("no {again:?}<seconds>s of 8s) line\n{}", flag.dump()));
    assert!((5.0..8.0).contains(&told), "{told}\n{}", flag.dump());
    assert!(flag.elapsed >= Duration::from_secs(8), "{}", flag.dump());

    project.write(
        "db/environments/late.yaml",
        format!("database_url: {url}\nmigration:\n  wait_for_server: 1s\n"),
    );
    let file = project.run(&["migrate", "status", "--env", "late", "--format", "json"]);
    file.code(exit::CONNECTION);
    let json = file.json();
    let details = json["error"]["details"].to_string();
    assert!(
        details.contains("(`migration.wait_for_server: 1s` in db/environments/late.yaml)"),
        "{}\n{json:#}",
        file.dump()
    );

    // The shared server answers: a database it does not have is its refusal, at once.
    let absent = unique("wfs_absent");
    let answered = project.run(&[
        "migrate",
        "status",
        "--database-url",
        &format!(
            "postgresql://postgres@{}:{}/{absent}",
            confiture_tests::pg_host(),
            confiture_tests::pg_port()
        ),
        "--wait-for-server",
        "10min",
    ]);
    answered
        .code(exit::CONNECTION)
        .stderr_has("does not exist")
        .stderr_lacks("wait_for_server")
        .stderr_lacks("waiting");
    assert!(
        answered.elapsed < Duration::from_secs(60),
        "a refusal by the server was waited out: {}",
        answered.dump()
    );
}

/// The library's `Migrator::wait_for_server`: a service applying its migrations at start-up
/// waits for its database as the command line does.
#[test]
fn a_library_session_waits_for_a_server_that_starts_after_it() {
    let (cluster, port, project) = late_server_project();
    let url = format!("postgresql://postgres@127.0.0.1:{port}/postgres");
    let root = project.path("");
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let tells = told.clone();
    let applying = std::thread::spawn(move || {
        let env = confiture::config::Environment::from_url(&url, "the test").expect("a URL");
        let mut migrator = confiture::Migrator::new(
            env,
            root.join("db/migrations"),
            confiture::files::CheckOptions::default(),
        )
        .wait_for_server(Duration::from_secs(120));
        migrator.on_server_wait(move |waiting| tells.lock().unwrap().push(waiting.clone()));
        migrator
            .up(
                &confiture::migrate::UpOptions::default(),
                &mut confiture::migrate::no_progress,
            )
            .map(|report| report.applied.len())
            .map_err(|e| format!("{e:#}"))
    });
    std::thread::sleep(Duration::from_millis(1500));
    cluster.start_on(port);
    let applied = applying
        .join()
        .expect("the library's thread")
        .unwrap_or_else(|e| panic!("up did not wait for the server: {e}"));
    assert_eq!(applied, 1);
    // Its watch was told of the wait as it waited (first, then only every five seconds).
    let told = told.lock().unwrap();
    assert!(!told.is_empty(), "the wait was not told");
    assert!(!told[0].again, "{told:?}");
    assert!(told[0].reason.contains("connection refused"), "{told:?}");
    assert_eq!(told[0].wait, Duration::from_secs(120));
    assert!(
        told.len() <= 2,
        "told more often than every five seconds: {told:?}"
    );
    let tables: i64 = cluster
        .connect("postgres")
        .query_one("SELECT count(*) FROM tb_confiture", &[])
        .expect("read the ledger")
        .get(0);
    assert_eq!(tables, 1);
}

/// A fleet's target whose server does not accept connections yet says its wait on stderr as
/// one database does, named by the target (`<target>: waiting up to ...`), each on a line of
/// its own, never as one database's unnamed line; with `--format json`, stdout stays one
/// document. A list from `--targets FILE` or from `--targets-query` alike.
#[test]
fn a_fleet_target_says_its_wait_named_by_the_target() {
    let port = Cluster::free_port();
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (i int);\n", "DROP TABLE t;\n");
    let late = format!("postgresql://postgres@127.0.0.1:{port}/late_tenant");
    project.write("tenants.txt", format!("{late}\n"));
    let query = format!("SELECT '{late}'");
    let base = format!(
        "postgresql://postgres@{}:{}/postgres",
        confiture_tests::pg_host(),
        confiture_tests::pg_port()
    );
    let shown = format!("postgres@127.0.0.1:{port}/late_tenant");
    for (list, json) in [
        (["--targets", "tenants.txt"], false),
        (["--targets", "tenants.txt"], true),
        (["--targets-query", query.as_str()], false),
    ] {
        let mut args = vec!["migrate", "status", "--database-url", &base];
        args.extend(list);
        args.extend(["--wait-for-server", "1s"]);
        if json {
            args.extend(["--format", "json"]);
        }
        let run = project.run(&args);
        run.code(exit::CONNECTION).stderr_has(&format!(
            "\n{shown}: waiting up to 1s for the server to accept connections: connection refused"
        ));
        assert!(
            !run.stderr
                .lines()
                .any(|line| line.starts_with("waiting up to")),
            "a target's wait not named by it: {}",
            run.dump()
        );
        assert!(run.elapsed >= Duration::from_secs(1), "{}", run.dump());
        if json {
            // One document, whose target says how long it waited.
            let doc = run.json();
            assert!(
                doc.to_string().contains("(`--wait-for-server 1s`)"),
                "{}\n{doc:#}",
                run.dump()
            );
        }
    }
}

/// The library's fleet tells its caller of a target's wait as an event named by the target
/// (`Event::WaitingForServer`), carrying what one database's `on_server_wait` is told.
#[test]
fn a_library_fleet_tells_a_targets_wait_as_an_event() {
    let port = Cluster::free_port();
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (i int);\n", "DROP TABLE t;\n");
    let base = confiture::config::Environment::from_url(
        &format!(
            "postgresql://postgres@{}:{}/postgres",
            confiture_tests::pg_host(),
            confiture_tests::pg_port()
        ),
        "the test",
    )
    .expect("a URL");
    let mut base = base;
    base.migration.wait_for_server = Duration::from_secs(1);
    let late = format!("postgresql://postgres@127.0.0.1:{port}/late_tenant");
    let target = confiture::fleet::Target::url(&base, &late, "the test").expect("a target");
    let fleet = confiture::fleet::Fleet::new(
        vec![target],
        project.path("db/migrations"),
        confiture::files::CheckOptions::default(),
    );
    let told = std::sync::Mutex::new(Vec::new());
    let report = fleet
        .status(&|event| {
            if let confiture::fleet::Event::WaitingForServer {
                index,
                target,
                waiting,
            } = event
            {
                told.lock()
                    .unwrap()
                    .push((*index, target.clone(), waiting.clone()));
            }
        })
        .expect("the fleet ran");
    assert_eq!(report.exit_code(), exit::CONNECTION);
    let told = told.into_inner().unwrap();
    assert!(!told.is_empty(), "the wait was not told");
    let (index, target, waiting) = &told[0];
    assert_eq!(*index, 0);
    assert_eq!(target, &format!("postgres@127.0.0.1:{port}/late_tenant"));
    assert!(!waiting.again, "{told:?}");
    assert_eq!(waiting.wait, Duration::from_secs(1));
    assert!(waiting.reason.contains("connection refused"), "{told:?}");
}

/// A host name that does not resolve yet (a compose service whose container has not started:
/// its name is not in the DNS) is waited for as a server that refuses connections is; without
/// a wait it fails at once, as before. `.invalid` never resolves (RFC 6761).
#[test]
fn a_host_name_that_does_not_resolve_yet_is_waited_for() {
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (i int);\n", "DROP TABLE t;\n");
    let url = "postgresql://postgres@db.confiture-test.invalid:5432/app";

    let waited = project.run(&[
        "migrate",
        "status",
        "--database-url",
        url,
        "--wait-for-server",
        "2s",
    ]);
    waited
        .code(exit::CONNECTION)
        .stderr_has("cannot resolve the host name")
        .stderr_has("waiting up to 2s for the server to accept connections: ")
        .stderr_has("(`--wait-for-server 2s`)");
    assert!(
        waited.elapsed >= Duration::from_secs(2),
        "{}",
        waited.dump()
    );

    let at_once = project.run(&["migrate", "status", "--database-url", url]);
    at_once
        .code(exit::CONNECTION)
        .stderr_has("cannot resolve the host name")
        .stderr_lacks("waiting")
        .stderr_has("--wait-for-server 60s");
    assert!(
        at_once.elapsed < Duration::from_secs(2),
        "{}",
        at_once.dump()
    );
}
