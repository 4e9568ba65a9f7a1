//! Multi-host URLs and conninfo against a throwaway primary and its streaming standby, with
//! libpq's `target_session_attrs`: hosts are tried in order; writing commands need the primary
//! (with the default `any` they move on from a standby to the first host that can write), while
//! `status` reads from whichever host gives the session asked for.
//!
//! One primary and one standby serve every test of this file.

use std::sync::OnceLock;
use std::time::Duration;

use confiture_tests::cluster::{wait_until, Cluster, TRUST_ALL};
use confiture_tests::{Project, Run};

struct Pair {
    primary: Cluster,
    standby: Cluster,
}

fn pair() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| {
        let primary = Cluster::init();
        primary.configure("", &format!("{TRUST_ALL}local replication all trust\n"));
        primary.start();
        let standby = Cluster::standby_of(&primary);
        // The standby lags on purpose: a test that reads from it right after a write on the
        // primary, without `wait_for_standby`, fails every time rather than once in a while.
        standby.configure(
            "hot_standby = on\nrecovery_min_apply_delay = 200\n",
            TRUST_ALL,
        );
        standby.start();
        Pair { primary, standby }
    })
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A database made on the primary, once the standby has it too.
fn database(pair: &Pair, prefix: &str) -> String {
    let db = pair.primary.create_database(prefix);
    wait_for_standby(pair);
    db
}

/// Waits until the standby has replayed everything the primary has written so far: a read
/// from the standby right after a write on the primary may otherwise see the state before it
/// (a ledger table whose row is not there yet, a row a `down` already removed).
fn wait_for_standby(pair: &Pair) {
    let written: String = pair
        .primary
        .connect("postgres")
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .expect("pg_current_wal_lsn")
        .get(0);
    let mut standby = pair.standby.connect("postgres");
    wait_until("the standby to replay", Duration::from_secs(30), || {
        standby
            .query_one(
                "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                &[&written],
            )
            .expect("pg_last_wal_replay_lsn")
            .get(0)
    });
}

fn project() -> Project {
    let project = Project::new();
    project.migration(
        "001_create_users",
        "CREATE TABLE users (id int);\n",
        "DROP TABLE users;\n",
    );
    project
}

fn url_of(hosts: &[u16], db: &str, query: &str) -> String {
    let hosts: Vec<String> = hosts.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    format!("postgresql://postgres@{}/{db}{query}", hosts.join(","))
}

fn run(project: &Project, command: &str, url: &str) -> Run {
    project.run(&["migrate", command, "--database-url", url])
}

fn applied_on_primary(pair: &Pair, db: &str) -> bool {
    pair.primary
        .connect(db)
        .query_one("SELECT to_regclass('users') IS NOT NULL", &[])
        .expect("to_regclass")
        .get(0)
}

#[test]
fn writing_commands_move_on_from_a_standby_to_the_primary() {
    let pair = pair();
    let db = database(pair, "mh_any");
    let project = project();
    // The standby first, `any` (the default): `up` finds the primary.
    let url = url_of(&[pair.standby.port(), pair.primary.port()], &db, "");
    run(&project, "up", &url).code(0);
    assert!(applied_on_primary(pair, &db));
    // `status` reads from the first host, the standby, once it has replayed the ledger.
    wait_for_standby(pair);
    run(&project, "status", &url)
        .code(0)
        .stdout_has("001_create_users");
    run(&project, "down", &url).code(0);
    assert!(!applied_on_primary(pair, &db));
}

#[test]
fn status_reads_from_a_standby_alone_and_writing_is_refused() {
    let pair = pair();
    let db = database(pair, "mh_standby_only");
    let project = project();
    // The primary is not in the list: the standby, then a host that refuses connections.
    let url = url_of(&[pair.standby.port(), closed_port()], &db, "");
    run(&project, "status", &url).code(2);
    // The standby is named as one, and no `target_session_attrs` the URL does not have.
    run(&project, "up", &url)
        .code(3)
        .stderr_has("can be written (a writing command needs the primary)")
        .stderr_has(&format!(
            "postgres@127.0.0.1:{}/{db} is a standby in recovery",
            pair.standby.port()
        ))
        .stderr_has("connection refused")
        .stderr_lacks("target_session_attrs=read-write")
        .stderr_lacks("is read-only");
    assert!(!applied_on_primary(pair, &db));
}

#[test]
fn target_session_attrs_choose_the_host() {
    let pair = pair();
    let db = database(pair, "mh_attrs");
    let project = project();
    let (primary, standby) = (pair.primary.port(), pair.standby.port());
    // Conninfo with a port per host; `primary` and `read-write` skip the standby listed first.
    for attrs in ["primary", "read-write"] {
        let conninfo = format!(
            "host=127.0.0.1,127.0.0.1 port={standby},{primary} user=postgres dbname={db} \
             target_session_attrs={attrs}"
        );
        run(&project, "up", &conninfo).code(0);
        assert!(applied_on_primary(pair, &db));
        run(&project, "down", &conninfo).code(0);
    }
    // `standby` and `prefer-standby` read from the standby listed second, once it has replayed
    // the last `down`; writing there is refused before anything runs: `standby` before
    // connecting (it never gives a session that can write), `prefer-standby` on the standby.
    wait_for_standby(pair);
    for (attrs, refusal) in [
        (
            "standby",
            "a writing command needs a read-write session on the primary",
        ),
        (
            "prefer-standby",
            // The host it chose, not the list.
            &*format!("database postgres@127.0.0.1:{standby}/{db} is on a standby in recovery"),
        ),
    ] {
        let url = url_of(
            &[primary, standby],
            &db,
            &format!("?target_session_attrs={attrs}"),
        );
        run(&project, "status", &url).code(1);
        run(&project, "up", &url)
            .code(3)
            .stderr_has(refusal)
            .stderr_has("need target_session_attrs=read-write or primary");
    }
    // `prefer-standby` with no standby answering takes the primary.
    let url = url_of(
        &[closed_port(), primary],
        &db,
        "?target_session_attrs=prefer-standby",
    );
    run(&project, "up", &url).code(0);
    assert!(applied_on_primary(pair, &db));
    // `standby` with no standby answering names each host's reason, and what to do.
    let url = url_of(&[primary], &db, "?target_session_attrs=standby");
    run(&project, "status", &url)
        .code(3)
        .stderr_has("is not a standby")
        .stderr_has("to read from it all the same, use target_session_attrs=any");
    // `read-only` on the primary alone: the same.
    let url = url_of(&[primary], &db, "?target_session_attrs=read-only");
    run(&project, "status", &url)
        .code(3)
        .stderr_has("is not read-only")
        .stderr_has("to read from it all the same, use target_session_attrs=any");
    // `primary` on the standby alone: name the primary.
    let url = url_of(&[standby], &db, "?target_session_attrs=primary");
    run(&project, "status", &url)
        .code(3)
        .stderr_has("is a standby in recovery, not the primary")
        .stderr_has("asks for the writable primary: name its host");
}

#[test]
fn an_unreachable_first_host_is_skipped() {
    let pair = pair();
    let db = database(pair, "mh_skip");
    let project = project();
    let url = url_of(&[closed_port(), pair.primary.port()], &db, "");
    run(&project, "up", &url).code(0);
    assert!(applied_on_primary(pair, &db));
    // Every host unreachable: one error naming each.
    let url = url_of(&[closed_port(), closed_port()], &db, "");
    run(&project, "status", &url)
        .code(3)
        .stderr_has("no host of postgres@127.0.0.1:")
        .stderr_has("connection refused");
}

#[test]
fn create_database_creates_it_on_the_primary() {
    let pair = pair();
    let db = confiture_tests::unique("cft_mh_create");
    let project = project();
    let url = url_of(&[pair.standby.port(), pair.primary.port()], &db, "");
    project
        .run(&["migrate", "up", "--create-database", "--database-url", &url])
        .code(0);
    assert!(applied_on_primary(pair, &db));
}

#[test]
fn with_several_hosts_each_host_keeps_the_servers_reason_and_the_help_follows_it() {
    let pair = pair();
    let db = confiture_tests::unique("cft_mh_missing");
    let project = project();
    // Nothing listens on the first host; the second answers that the database does not exist.
    let url = url_of(&[closed_port(), pair.primary.port()], &db, "");
    run(&project, "up", &url)
        .code(3)
        .stderr_has("no host of postgres@127.0.0.1:")
        .stderr_has("connection refused")
        .stderr_has(&format!(
            "database \"{db}\" does not exist (SQLSTATE 3D000)"
        ))
        .stderr_has("--create-database")
        .stderr_lacks("check that the hosts are reachable");
    // In JSON too: the host's reason in `details`, its SQLSTATE the error's.
    let json = project.run(&["migrate", "up", "--database-url", &url, "--format", "json"]);
    let doc = json.code(3).json();
    let error = &doc["errors"][0];
    assert_eq!(error["sqlstate"], "3D000", "{}", json.dump());
    assert!(
        error["details"].to_string().contains("(SQLSTATE 3D000)"),
        "{}",
        json.dump()
    );
    // Every host unreachable: then reachability is the help.
    let url = url_of(&[closed_port(), closed_port()], &db, "");
    run(&project, "status", &url)
        .code(3)
        .stderr_has("check that the hosts are reachable");
}

#[test]
fn verify_and_drift_create_the_scratch_database_on_the_primary_of_the_list() {
    let pair = pair();
    let db = database(pair, "mh_scratch");
    let project = project();
    let (primary, standby) = (pair.primary.port(), pair.standby.port());
    // The standby first, `any`: the scratch database is written on the primary.
    let url = url_of(&[standby, primary], &db, "");
    run(&project, "verify", &url).code(0);
    run(&project, "up", &url).code(0);
    wait_for_standby(pair);
    run(&project, "drift", &url).code(0);
    // drift reads the live database from a standby (`standby`) and still writes its scratch
    // database on the primary.
    let url = url_of(&[primary, standby], &db, "?target_session_attrs=standby");
    run(&project, "drift", &url).code(0);
    // A `--scratch-url` list, the standby first.
    let scratch = url_of(&[standby, primary], "postgres", "");
    project
        .run(&[
            "migrate",
            "verify",
            "--database-url",
            &url_of(&[primary], &db, ""),
            "--scratch-url",
            &scratch,
        ])
        .code(0);
    // A standby alone is named as one, with what to do: not CREATEDB, which the role has.
    run(&project, "verify", &url_of(&[standby], &db, ""))
        .code(3)
        .stderr_has(&format!("127.0.0.1:{standby}"))
        .stderr_has("is a standby in recovery")
        .stderr_has("--scratch-url")
        .stderr_lacks("CREATEDB")
        .stderr_lacks("read-only transaction");
}

#[test]
fn create_database_never_writes_on_a_standby() {
    let pair = pair();
    let project = project();
    let (primary, standby) = (pair.primary.port(), pair.standby.port());
    // `prefer-standby` with the standby first: the database is created on the primary.
    let db = confiture_tests::unique("cft_mh_create_ps");
    let url = url_of(
        &[standby, primary],
        &db,
        "?target_session_attrs=prefer-standby",
    );
    let created = project.run(&["migrate", "up", "--create-database", "--database-url", &url]);
    created.stderr_lacks("read-only transaction");
    let exists: bool = pair
        .primary
        .connect("postgres")
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)",
            &[&db],
        )
        .expect("pg_database")
        .get(0);
    assert!(exists, "{}", created.dump());
    // A standby alone: named as one, not "create it by hand".
    let db = confiture_tests::unique("cft_mh_create_s");
    let url = url_of(&[standby], &db, "");
    project
        .run(&["migrate", "up", "--create-database", "--database-url", &url])
        .code(3)
        .stderr_has("is a standby in recovery")
        .stderr_lacks("create it by hand")
        .stderr_lacks("read-only transaction");
}

#[test]
fn after_a_lost_connection_what_committed_is_read_on_the_host_the_run_used() {
    let pair = pair();
    let db = database(pair, "mh_lost");
    let (primary, standby) = (pair.primary.port(), pair.standby.port());
    // 001 and 002 go in one message: 001 commits on the primary, unseen by the run, and 002
    // sleeps until its session is ended.
    let project = Project::new();
    project
        .migration(
            "001_create_t1",
            "CREATE TABLE t1 (id int);\n",
            "DROP TABLE t1;\n",
        )
        .migration(
            "002_slow",
            "CREATE TABLE half (id int);\nDO $$ BEGIN PERFORM pg_sleep(60); END $$;\n",
            "DROP TABLE half;\n",
        );
    // The standby, listed first, lags: its ledger does not have what the primary committed.
    let mut on_standby = pair.standby.connect("postgres");
    on_standby
        .batch_execute("SELECT pg_wal_replay_pause()")
        .expect("pause replay");
    let url = url_of(&[standby, primary], &db, "");
    let child = project
        .cli()
        .args(["migrate", "up", "--database-url", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the CLI under test");
    let mut on_primary = pair.primary.connect("postgres");
    let mut pid = None;
    wait_until("migration 002 sleeps", Duration::from_secs(30), || {
        pid = on_primary
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event = 'PgSleep'",
                &[&db],
            )
            .expect("pg_stat_activity")
            .map(|row| row.get::<_, i32>(0));
        pid.is_some()
    });
    on_primary
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .expect("pg_terminate_backend");
    let output = child.wait_with_output().expect("wait for the CLI");
    on_standby
        .batch_execute("SELECT pg_wal_replay_resume()")
        .expect("resume replay");
    let run = Run::from_output(output, Duration::ZERO);
    // The primary's ledger says 001 committed: the error names 002, never 001.
    run.code(3)
        .stderr_has("connection lost before migration 002_slow committed")
        .stderr_lacks("before migration 001");
}
