//! A prepared transaction (`PREPARE TRANSACTION 'gid'`, two-phase commit) holding the
//! migration lock, or a lock on the ledger or its rows: it has no server session (`pg_locks`
//! shows no pid), and it keeps its locks until someone runs `COMMIT PREPARED` or `ROLLBACK
//! PREPARED` — waiting and running again never help. Each error names it (its gid, owner,
//! database, when it was prepared), in text and in JSON (`lock_holders`, `kind`
//! `prepared_transaction`), and gives `ROLLBACK PREPARED 'gid'` as the way out; never "released
//! just now", never a `pg_terminate_backend` of a pid it has not.
//!
//! The shared server allows no prepared transaction (`max_prepared_transactions = 0`): each
//! test has a throwaway cluster that allows two.

use confiture::exit;
use confiture_tests::cluster::Cluster;
use confiture_tests::{Project, Run, LOCK_ID_SQL, MIGRATION_LOCK_NAMESPACE};

fn cluster() -> Cluster {
    let cluster = Cluster::init();
    cluster.configure(
        "max_prepared_transactions = 2\n",
        confiture_tests::cluster::TRUST_ALL,
    );
    cluster.start();
    cluster
}

/// [`cluster`] with a database named after `prefix`: the cluster, the database and its URL.
fn cluster_with_database(prefix: &str) -> (Cluster, String, String) {
    let cluster = cluster();
    let db = cluster.create_database(prefix);
    let url = cluster.url(&db, "sslmode=disable");
    (cluster, db, url)
}

/// [`cluster_with_database`] on which [`Project::two_tables`] is applied: the cluster, the
/// database, its URL and the project.
fn two_tables_applied(prefix: &str) -> (Cluster, String, String, Project) {
    let (cluster, db, url) = cluster_with_database(prefix);
    let project = Project::two_tables();
    project
        .run(&["migrate", "up", "--database-url", &url])
        .code(exit::SUCCESS);
    (cluster, db, url, project)
}

/// Prepares a transaction of `statements` on `db` under `gid`.
fn prepare(cluster: &Cluster, db: &str, statements: &str, gid: &str) {
    let gid = gid.replace('\'', "''");
    cluster
        .connect(db)
        .batch_execute(&format!("BEGIN; {statements}; PREPARE TRANSACTION '{gid}'"))
        .unwrap_or_else(|e| panic!("prepare {gid}: {e}"));
}

/// `migrate COMMAND --lock-wait WAIT --database-url URL`: `command` on `url`, waiting at most
/// `wait` for a lock.
fn waiting<'a>(command: &'a str, wait: &'a str, url: &'a str) -> Vec<&'a str> {
    vec![
        "migrate",
        command,
        "--lock-wait",
        wait,
        "--database-url",
        url,
    ]
}

/// `migrate --env ctl status FLAG 'SELECT name FROM tenants'`: the status of the targets the
/// list query of `flag` (`--targets-query`, `--schemas-query`) reads from the `ctl`
/// environment's database.
fn list_status(flag: &str) -> Vec<&str> {
    vec![
        "migrate",
        "--env",
        "ctl",
        "status",
        flag,
        "SELECT name FROM tenants",
    ]
}

fn rollback_prepared(cluster: &Cluster, db: &str, gid: &str) {
    let gid = gid.replace('\'', "''");
    cluster
        .connect(db)
        .batch_execute(&format!("ROLLBACK PREPARED '{gid}'"))
        .unwrap_or_else(|e| panic!("rollback prepared {gid}: {e}"));
}

/// The text of a failure caused by the prepared transaction `gid` (`quoted`, as an SQL
/// literal): named, with its way out, and none of a session's.
#[track_caller]
fn names_the_prepared_transaction(run: &Run, quoted: &str, db: &str) {
    names_the_prepared_transaction_with(run, exit::LOCK_TIMEOUT, quoted, db);
}

#[track_caller]
fn names_the_prepared_transaction_with(run: &Run, code: u8, quoted: &str, db: &str) {
    run.code(code)
        .stderr_has(&format!("prepared transaction {quoted}"))
        .stderr_has("owner postgres")
        .stderr_has(&format!("database \"{db}\""))
        .stderr_has("prepared at ")
        .stderr_has(&format!("ROLLBACK PREPARED {quoted}"))
        .stderr_has(&format!("COMMIT PREPARED {quoted}"))
        .stderr_lacks("released just now")
        .stderr_lacks("when the lock is released")
        .stderr_lacks("pg_terminate_backend")
        .stderr_lacks("pid 0");
}

/// The JSON holder of a failure caused by the prepared transaction `gid`.
#[track_caller]
fn lists_the_prepared_transaction(run: &Run, gid: &str, db: &str) {
    run.code(exit::LOCK_TIMEOUT);
    let doc = run.json();
    let holders = doc["errors"][0]["lock_holders"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(holders.len(), 1, "{}", run.dump());
    let holder = &holders[0];
    assert_eq!(holder["kind"], "prepared_transaction", "{}", run.dump());
    assert_eq!(holder["gid"], gid, "{}", run.dump());
    assert_eq!(holder["owner"], "postgres", "{}", run.dump());
    assert_eq!(holder["database"], db, "{}", run.dump());
    assert!(holder["prepared"].is_string(), "{}", run.dump());
    assert!(holder.get("pid").is_none(), "{}", run.dump());
}

#[test]
fn a_prepared_transaction_holding_the_migration_lock_is_named_with_its_way_out() {
    let (cluster, db, url) = cluster_with_database("ptx_lock");
    let project = Project::two_tables();
    // A quote in the gid: the statement to paste quotes it as SQL does.
    let gid = "deploy 'x' 42";
    let quoted = "'deploy ''x'' 42'";
    prepare(
        &cluster,
        &db,
        &format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_NAMESPACE}, ({LOCK_ID_SQL}))"),
        gid,
    );
    let up = waiting("up", "300ms", &url);
    let run = project.run(&up);
    names_the_prepared_transaction(&run, quoted, &db);
    // Not waited for: it never gives the lock back by itself.
    run.stderr_lacks("waiting for the migration lock");
    let json = project.run(&[&up[..], &["--format", "json"]].concat());
    lists_the_prepared_transaction(&json, gid, &db);
    assert!(!cluster.has_ledger(&db), "nothing ran");

    // The way out the help gives works.
    rollback_prepared(&cluster, &db, gid);
    project
        .run(&up)
        .code(exit::SUCCESS)
        .stdout_has("applied 2 migrations");

    // A migration's statement that waited for a lock on a table it names, past its retries.
    project.migration(
        "003_c",
        "ALTER TABLE a ADD COLUMN c int;\n",
        "ALTER TABLE a DROP COLUMN c;\n",
    );
    let gid = "table-a";
    prepare(&cluster, &db, "LOCK TABLE a IN ACCESS SHARE MODE", gid);
    let run = project.run(&[&up[..], &["--lock-timeout-statement", "50ms"]].concat());
    names_the_prepared_transaction_with(&run, exit::MIGRATION_FAILED, "'table-a'", &db);
    run.stderr_has("lock on a held by prepared transaction 'table-a'");
    rollback_prepared(&cluster, &db, gid);
}

#[test]
fn a_prepared_transaction_holding_a_lock_on_the_ledger_is_named_with_its_way_out() {
    let (cluster, db, url, project) = two_tables_applied("ptx_ledger");
    let on = |command: &str, json: bool| {
        let mut args = waiting(command, "300ms", &url);
        if json {
            args.extend(["--format", "json"]);
        }
        project.run(&args)
    };

    // The ledger read waits for a lock on the whole table.
    let gid = "ledger-read";
    prepare(
        &cluster,
        &db,
        "LOCK TABLE tb_confiture IN ACCESS EXCLUSIVE MODE",
        gid,
    );
    names_the_prepared_transaction(&on("status", false), "'ledger-read'", &db);
    lists_the_prepared_transaction(&on("status", true), gid, &db);
    names_the_prepared_transaction(&on("down", false), "'ledger-read'", &db);
    rollback_prepared(&cluster, &db, gid);

    // The ledger row `down` deletes waits for a lock on the table, or on the row itself.
    for (gid, hold) in [
        ("ledger-write", "LOCK TABLE tb_confiture IN SHARE MODE"),
        (
            "ledger-row",
            "SELECT 1 FROM tb_confiture WHERE version = '002' FOR UPDATE",
        ),
    ] {
        prepare(&cluster, &db, hold, gid);
        let run = on("down", false);
        names_the_prepared_transaction(&run, &format!("'{gid}'"), &db);
        lists_the_prepared_transaction(&on("down", true), gid, &db);
        rollback_prepared(&cluster, &db, gid);
    }

    // Nothing was rolled back meanwhile; the way out works.
    project
        .run(&["migrate", "down", "--database-url", &url])
        .code(exit::SUCCESS);
}

/// `status` with start markers looks for a run going on (the holder of the migration lock): a
/// prepared transaction holding it is no run — the markers stay `interrupted`, never "being
/// run now" —, and a note names it with its way out, in text and JSON
/// (`lock_held_by_prepared`).
#[test]
fn status_names_a_prepared_transaction_holding_the_lock_and_no_run_going_on() {
    let (cluster, db, url) = cluster_with_database("ptx_status");
    let project = Project::new();
    project
        .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration(
            "002_nt",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a_ix ON a (id);\nSELECT 1/0;\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS a_ix;\n",
        );
    // 002 stops after its first statement committed: its start marker stays.
    project
        .run(&["migrate", "up", "--database-url", &url])
        .code(exit::MIGRATION_FAILED);
    let gid = "status-gid";
    prepare(
        &cluster,
        &db,
        &format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_NAMESPACE}, ({LOCK_ID_SQL}))"),
        gid,
    );
    let status = ["migrate", "status", "--database-url", &url];
    project
        .run(&status)
        .code(exit::DIVERGED)
        .stdout_has("interrupted")
        .stderr_lacks("being run now")
        .stderr_has(&format!(
            "note: prepared transaction '{gid}', owner postgres, database \"{db}\""
        ))
        .stderr_has(&format!("ROLLBACK PREPARED '{gid}'"))
        .stderr_lacks("pg_terminate_backend");
    let json = project.run(&[&status[..], &["--format", "json"]].concat());
    json.code(exit::DIVERGED);
    let doc = json.json();
    assert!(doc.get("running").is_none(), "{}", json.dump());
    assert_eq!(doc["lock_held_by_prepared"]["gid"], gid, "{}", json.dump());
    assert_eq!(
        doc["lock_held_by_prepared"]["database"],
        db,
        "{}",
        json.dump()
    );
    rollback_prepared(&cluster, &db, gid);
}

/// A fleet's list query (`--targets-query`, `--schemas-query`) that waited for a table it
/// reads, locked by a prepared transaction, names it as the other waits do.
#[test]
fn a_list_query_on_a_table_a_prepared_transaction_locked_names_it() {
    let cluster = cluster();
    let db = cluster.create_database("ptx_fleet");
    cluster
        .connect(&db)
        .batch_execute("CREATE TABLE tenants (name text); INSERT INTO tenants VALUES ('x')")
        .expect("setup");
    let project = Project::two_tables();
    project.write(
        "db/environments/ctl.yaml",
        format!(
            "database_url: {}\nmigration:\n  lock_timeout: 300ms\n",
            cluster.url(&db, "sslmode=disable")
        ),
    );
    let gid = "tenants-lock";
    prepare(
        &cluster,
        &db,
        "LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE",
        gid,
    );
    for flag in ["--targets-query", "--schemas-query"] {
        let args = list_status(flag);
        names_the_prepared_transaction(&project.run(&args), "'tenants-lock'", &db);
        lists_the_prepared_transaction(
            &project.run(&[&args[..], &["--format", "json"]].concat()),
            gid,
            &db,
        );
    }
    rollback_prepared(&cluster, &db, gid);
}

/// A wait no prepared transaction ends: far longer than any command below may take.
const LONG_WAIT: &str = "60s";

/// How long a command that gives up at once on a prepared transaction may take (connecting,
/// reading the files, a few round trips), far below [`LONG_WAIT`].
const AT_ONCE: std::time::Duration = std::time::Duration::from_secs(10);

/// `run` failed on the prepared transaction `gid` without waiting out `--lock-wait
/// LONG_WAIT`: named, with its way out (in JSON when `json`), and no "waiting for" line.
#[track_caller]
fn gave_up_at_once_on(run: &Run, gid: &str, db: &str, json: bool) {
    gave_up_on(run, gid, db, json);
    run.stderr_lacks("waiting for the migration lock");
}

/// Runs each of `commands` (`migrate` and its arguments after it) on `url` with a long
/// `--lock-wait`, in text and JSON: each gives up at once, naming prepared transaction `gid`.
#[track_caller]
fn each_gives_up_at_once(project: &Project, commands: &[&[&str]], url: &str, gid: &str, db: &str) {
    for command in commands {
        for json in [false, true] {
            let mut args = vec!["migrate"];
            args.extend(*command);
            args.extend(["--lock-wait", LONG_WAIT, "--database-url", url]);
            if json {
                args.extend(["--format", "json"]);
            }
            gave_up_at_once_on(&project.run(&args), gid, db, json);
        }
    }
}

/// How many rows the ledger of `db` holds (`None`: it cannot be read).
fn ledger_rows(cluster: &Cluster, db: &str) -> Option<i64> {
    cluster
        .connect(db)
        .query_one("SELECT count(*) FROM tb_confiture", &[])
        .map(|r| r.get::<_, i64>(0))
        .ok()
}

/// [`gave_up_at_once_on`], for a command that may have waited for a session first.
#[track_caller]
fn gave_up_on(run: &Run, gid: &str, db: &str, json: bool) {
    assert!(
        run.elapsed < AT_ONCE,
        "waited for a prepared transaction: {}",
        run.dump()
    );
    if json {
        lists_the_prepared_transaction(run, gid, db);
    } else {
        names_the_prepared_transaction(run, &format!("'{gid}'"), db);
        run.stderr_has("not waited for")
            .stderr_lacks(&format!("within {LONG_WAIT}"))
            .stderr_lacks(&format!("waited {LONG_WAIT}"));
    }
}

/// Every command that waits for the migration lock (`up`, `down`, `baseline`, `reinit`, a
/// tenant's run, text and JSON) gives up at once when a prepared transaction holds it: it never
/// gives it back by itself, so `--lock-wait` is not waited out.
#[test]
fn a_prepared_transaction_holding_the_migration_lock_is_not_waited_for() {
    let (cluster, db, url, project) = two_tables_applied("ptx_nowait");
    let gid = "lock-nowait";
    prepare(
        &cluster,
        &db,
        &format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_NAMESPACE}, ({LOCK_ID_SQL}))"),
        gid,
    );
    let commands: [&[&str]; 5] = [
        &["up"],
        &["down"],
        &["baseline", "--through", "1"],
        &["reinit"],
        &["up", "--schema", "tenant_a"],
    ];
    each_gives_up_at_once(&project, &commands, &url, gid, &db);
    rollback_prepared(&cluster, &db, gid);
    assert_eq!(
        ledger_rows(&cluster, &db),
        Some(2),
        "nothing was rolled back or rewritten"
    );
}

/// Every read and write of the ledger that waits for a lock on it (`status`, `up`, `down`,
/// their `--dry-run`, `baseline`, `reinit`, text and JSON) gives up at once when a prepared
/// transaction holds that lock: a lock in the way of reading it, of writing it (`baseline`'s
/// and `reinit`'s rewrite; `up`'s and `down`'s rows, looked at before anything runs, since
/// a migration's row waits inside its transaction), or a lock on a row `down` deletes. A
/// prepared transaction's lock on a row no command writes stops none.
#[test]
fn a_prepared_transaction_holding_a_lock_on_the_ledger_is_not_waited_for() {
    let (cluster, db, url, project) = two_tables_applied("ptx_ledger_nowait");
    // A migration to record: `baseline` writes a row.
    project.table("003_c");
    let reading: [&[&str]; 7] = [
        &["status"],
        &["up"],
        &["up", "--dry-run"],
        &["down"],
        &["down", "--dry-run"],
        &["baseline", "--through", "3"],
        &["reinit", "--through", "3"],
    ];
    let writing: [&[&str]; 4] = [
        &["baseline", "--through", "3"],
        &["reinit", "--through", "3"],
        &["up"],
        &["down"],
    ];
    let deleting: [&[&str]; 2] = [&["down"], &["down", "--steps", "2"]];
    let locks = |mode: &str| format!("LOCK TABLE tb_confiture IN {mode} MODE");
    for (gid, hold, commands) in [
        (
            "ledger-read-nowait",
            locks("ACCESS EXCLUSIVE"),
            &reading[..],
        ),
        ("ledger-write-nowait", locks("SHARE"), &writing[..]),
        (
            "ledger-row-nowait",
            "SELECT 1 FROM tb_confiture WHERE version = '002' FOR UPDATE".to_string(),
            &deleting[..],
        ),
    ] {
        prepare(&cluster, &db, &hold, gid);
        each_gives_up_at_once(&project, commands, &url, gid, &db);
        rollback_prepared(&cluster, &db, gid);
    }
    assert_eq!(ledger_rows(&cluster, &db), Some(2), "nothing ran");
    // A row lock in the way of no write: `up` records 003, `down` rolls it back.
    let gid = "ledger-other-row";
    prepare(
        &cluster,
        &db,
        "SELECT 1 FROM tb_confiture WHERE version = '001' FOR UPDATE",
        gid,
    );
    for command in ["up", "down"] {
        project
            .run(&waiting(command, LONG_WAIT, &url))
            .code(exit::SUCCESS);
    }
    rollback_prepared(&cluster, &db, gid);
}

/// Runs the CLI with `args`, and `prepares` a transaction `after_ms` after it started: its
/// run, timed from the prepare.
fn run_preparing_after(
    project: &Project,
    args: &[&str],
    after_ms: u64,
    prepares: impl FnOnce(),
) -> Run {
    let child = project.spawn(args);
    std::thread::sleep(std::time::Duration::from_millis(after_ms));
    prepares();
    let prepared = std::time::Instant::now();
    let output = child.wait_with_output().expect("wait for the CLI");
    Run::from_output(output, prepared.elapsed())
}

/// A session holding the lock a command waits for, whose transaction is then prepared
/// (`PREPARE TRANSACTION`: the lock is the prepared transaction's from then on): the command,
/// which began waiting for a session, gives up as soon as the holder is a prepared transaction —
/// the migration lock's wait and the ledger read's alike.
#[test]
fn a_wait_ends_when_the_session_it_waits_for_becomes_a_prepared_transaction() {
    let (cluster, db, url, project) = two_tables_applied("ptx_becomes");
    for (gid, hold, command) in [
        (
            "became-lock",
            format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_NAMESPACE}, ({LOCK_ID_SQL}))"),
            "down",
        ),
        (
            "became-ledger",
            "LOCK TABLE tb_confiture IN ACCESS EXCLUSIVE MODE".to_string(),
            "status",
        ),
    ] {
        let mut holder = cluster.connect(&db);
        holder
            .batch_execute(&format!("BEGIN; {hold}"))
            .expect("hold the lock");
        let args = waiting(command, LONG_WAIT, &url);
        // Long enough for the command to meet the session and start waiting for it.
        let run = run_preparing_after(&project, &args, 1500, || {
            holder
                .batch_execute(&format!("PREPARE TRANSACTION '{gid}'"))
                .expect("prepare the holding transaction");
        });
        gave_up_on(&run, gid, &db, false);
        rollback_prepared(&cluster, &db, gid);
    }
}

/// `drift`'s snapshot of the live database and a fleet's list query (`--targets-query`,
/// `--schemas-query`) wait for a lock on a table they read in slices, looking at its holders
/// between them: a prepared transaction holding it ends the wait at once, naming it — they
/// used to wait out the whole `--lock-wait` (the environment's `lock_timeout` for a list
/// query) before naming it.
#[test]
fn drift_and_a_list_query_do_not_wait_for_a_prepared_transaction() {
    let (cluster, db, url) = cluster_with_database("ptx_reads");
    let project = Project::new();
    project.migration(
        "001_w",
        "CREATE TABLE w (id int);\nCREATE VIEW v AS SELECT id FROM w;\n\
         CREATE TABLE tenants (name text);\n",
        "DROP TABLE tenants;\nDROP VIEW v;\nDROP TABLE w;\n",
    );
    project
        .run(&["migrate", "up", "--database-url", &url])
        .code(exit::SUCCESS);
    project.write(
        "db/environments/ctl.yaml",
        format!("database_url: {url}\nmigration:\n  lock_timeout: {LONG_WAIT}\n"),
    );
    let gid = "reads-nowait";
    prepare(
        &cluster,
        &db,
        "LOCK TABLE w IN ACCESS EXCLUSIVE MODE; LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE",
        gid,
    );
    each_gives_up_at_once(&project, &[&["drift"]], &url, gid, &db);
    for flag in ["--targets-query", "--schemas-query"] {
        for json in [false, true] {
            let mut args = list_status(flag);
            if json {
                args.extend(["--format", "json"]);
            }
            gave_up_on(&project.run(&args), gid, &db, json);
        }
    }
    rollback_prepared(&cluster, &db, gid);
}

/// Whether table `name` exists in `db`.
fn has_table(cluster: &Cluster, db: &str, name: &str) -> bool {
    cluster
        .connect(db)
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .map(|r| r.get::<_, bool>(0))
        .unwrap_or_else(|e| panic!("look for table {name}: {e}"))
}

/// A prepared transaction's uncommitted row of a version `up` records (a transaction-id lock
/// the row's unique index waits for, no table lock in the way): `up` used to wait out
/// `--lock-wait` (or forever) on it, after applying the migrations before it; it now gives up
/// at once, before anything runs, naming it — transactional and no-transaction migrations
/// alike. A plan whose rows it is not in the way of runs.
#[test]
fn a_prepared_row_of_a_version_up_records_is_not_waited_for() {
    let (cluster, db, url, project) = two_tables_applied("ptx_same_row");
    let gid = "same-version";
    prepare(
        &cluster,
        &db,
        "INSERT INTO tb_confiture (slug, version, name) VALUES ('elsewhere_004', '004', 'd')",
        gid,
    );
    project.table("003_c").table("004_d");
    each_gives_up_at_once(&project, &[&["up"]], &url, gid, &db);
    project
        .run(&waiting("up", LONG_WAIT, &url))
        .stderr_has("so nothing was run");
    assert_eq!(ledger_rows(&cluster, &db), Some(2), "nothing was recorded");
    assert!(!has_table(&cluster, &db, "c"), "nothing was run");
    // 003's row is in no prepared transaction's way.
    project
        .run(&["migrate", "up", "--steps", "1", "--database-url", &url])
        .code(exit::SUCCESS);
    each_gives_up_at_once(&project, &[&["up"]], &url, gid, &db);
    project.migration(
        "004_d",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY d_ix ON a (id);\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY d_ix;\n",
    );
    each_gives_up_at_once(&project, &[&["up"]], &url, gid, &db);
    assert_eq!(
        ledger_rows(&cluster, &db),
        Some(3),
        "nothing more was recorded"
    );
    assert!(!has_table(&cluster, &db, "d_ix"), "nothing was run");
    rollback_prepared(&cluster, &db, gid);
    project
        .run(&["migrate", "up", "--database-url", &url])
        .code(exit::SUCCESS);
}

/// A migration waiting for a lock a prepared transaction holds (it has no session: `pg_locks`
/// shows no pid, `pg_blocking_pids` a 0) is named while it waits, by its gid — never as a
/// `pid 0` — and goes on once it is rolled back.
#[test]
fn a_migration_waiting_for_a_prepared_transaction_names_it_while_it_waits() {
    let (cluster, db, url, project) = two_tables_applied("ptx_waiting");
    project.migration(
        "003_add_x",
        "ALTER TABLE a ADD COLUMN x int;\n",
        "ALTER TABLE a DROP COLUMN x;\n",
    );
    prepare(
        &cluster,
        &db,
        "LOCK TABLE a IN ACCESS SHARE MODE",
        "holds-a",
    );
    // No `lock_timeout`: the migration waits for as long as the transaction is prepared.
    let mut run = confiture_tests::Watched::of(project.spawn(&[
        "migrate",
        "up",
        "--lock-timeout-statement",
        "0",
        "--database-url",
        &url,
    ]));
    let line = run.waiting_line();
    assert!(
        line.contains("waiting for a lock on a held by prepared transaction 'holds-a'"),
        "{line}"
    );
    assert!(!line.contains("pid 0"), "{line}");
    rollback_prepared(&cluster, &db, "holds-a");
    let (status, seen) = run.end();
    assert!(status.success(), "{status:?}: {seen:?}");
}
