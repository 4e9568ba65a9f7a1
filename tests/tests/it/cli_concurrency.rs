//! Eight `migrate up` processes started at once on one database, twenty times over: the
//! migration lock serialises them, the ledger is read only after taking it, so every
//! migration is applied exactly once, every process exits 0, and the runs that waited find
//! nothing to do instead of failing with "already applied" (confiture (Python)'s defect).
//! And a run whose migration waits for another session's lock names that session while it
//! waits.

use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use confiture_tests::cluster::Cluster;
use confiture_tests::{wait_until, Project, Run, TestDb, Watched};

const PROCESSES: usize = 8;
const ROUNDS: usize = 20;

/// Five migrations, none idempotent: applying one twice fails. The first holds the lock a
/// moment so that the other processes find it taken and wait.
fn project() -> Project {
    let project = Project::new();
    project.migration(
        "001_create_tb_user",
        "CREATE TABLE tb_user (pk_user int PRIMARY KEY);\nSELECT pg_sleep(0.05);\n",
        "DROP TABLE tb_user;\n",
    );
    for v in 2..=5 {
        project.migration(
            &format!("00{v}_add_c{v}"),
            &format!("ALTER TABLE tb_user ADD COLUMN c{v} int;\n"),
            &format!("ALTER TABLE tb_user DROP COLUMN c{v};\n"),
        );
    }
    project
}

#[test]
fn eight_runners_at_once_apply_each_migration_exactly_once() {
    let started = Instant::now();
    let project = project();
    let expected: Vec<String> = std::iter::once("001:create_tb_user".to_string())
        .chain((2..=5).map(|v| format!("00{v}:add_c{v}")))
        .collect();

    // The next round's database is created, and the last one dropped, while this round runs:
    // CREATE and DROP DATABASE are the slowest part of a round on a loaded machine.
    let (tx, rx) = mpsc::sync_channel::<TestDb>(1);
    let creator = thread::spawn(move || {
        for _ in 0..ROUNDS {
            if tx.send(TestDb::new("conc")).is_err() {
                return;
            }
        }
    });
    let (drop_tx, drop_rx) = mpsc::channel::<TestDb>();
    let dropper = thread::spawn(move || drop_rx.into_iter().for_each(drop));

    for round in 1..=ROUNDS {
        let db = rx.recv().expect("a database for the round");
        let url = db.url();
        let children: Vec<_> = (0..PROCESSES)
            .map(|_| {
                let start = Instant::now();
                let child = project
                    .cli()
                    .args(["migrate", "up", "--database-url", &url])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn the CLI under test");
                (start, child)
            })
            .collect();
        let runs: Vec<Run> = children
            .into_iter()
            .map(|(start, child)| {
                let output = child.wait_with_output().expect("wait for the CLI");
                Run::from_output(output, start.elapsed())
            })
            .collect();
        let all = || {
            runs.iter()
                .enumerate()
                .map(|(i, r)| format!("=== process {i}: {}", r.dump()))
                .collect::<Vec<_>>()
                .join("\n")
        };

        for run in &runs {
            assert_eq!(run.code, 0, "round {round}: a runner failed\n{}", all());
            assert!(
                !run.stderr.to_lowercase().contains("error"),
                "round {round}: a runner printed an error\n{}",
                all()
            );
        }
        let appliers = runs
            .iter()
            .filter(|r| r.stdout.contains("applied 5 migrations"))
            .count();
        let idle = runs
            .iter()
            .filter(|r| r.stdout.contains("already up to date"))
            .count();
        assert_eq!(
            (appliers, idle),
            (1, PROCESSES - 1),
            "round {round}: one runner applies everything, the others find nothing to do\n{}",
            all()
        );
        assert_eq!(
            db.ledger().expect("the ledger exists"),
            expected,
            "round {round}\n{}",
            all()
        );
        assert!(
            db.migration_lock_holders().is_empty(),
            "round {round}: the lock is still held"
        );
        // A failed send drops the database here instead.
        let _ = drop_tx.send(db);
    }
    drop(rx);
    drop(drop_tx);
    creator.join().expect("the database creator");
    dropper.join().expect("the database dropper");
    // A budget, not a benchmark: generous for a loaded 2-core machine.
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{ROUNDS} rounds took {:?}",
        started.elapsed()
    );
}

/// Several pods starting at once on an empty server: every one asks to create the database,
/// one does, and the others neither fail nor apply anything twice.
#[test]
fn eight_runners_creating_the_database_at_once() {
    let project = project();
    for round in 1..=3 {
        let db = TestDb::unborn("conc_create");
        let url = db.url();
        let children: Vec<_> = (0..PROCESSES)
            .map(|_| {
                let start = Instant::now();
                let child = project
                    .cli()
                    .args(["migrate", "up", "--create-database", "--database-url", &url])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn the CLI under test");
                (start, child)
            })
            .collect();
        let runs: Vec<Run> = children
            .into_iter()
            .map(|(start, child)| {
                Run::from_output(child.wait_with_output().expect("wait"), start.elapsed())
            })
            .collect();
        let all = runs.iter().map(|r| r.dump()).collect::<Vec<_>>().join("\n");
        assert!(
            runs.iter().all(|r| r.code == 0),
            "round {round}: a runner failed\n{all}"
        );
        assert_eq!(
            db.ledger().expect("the ledger").len(),
            5,
            "round {round}\n{all}"
        );
    }
}

/// Asserts that `line` names the session `pid` of the test named `blocked_holder`, and the
/// relation waited for when one is given.
fn names_the_holder(line: &str, pid: i32, relation: Option<&str>) {
    assert!(
        line.contains(&format!(
            "held by pid {pid}, application_name \"blocked_holder\""
        )),
        "{line}"
    );
    if let Some(relation) = relation {
        assert!(line.contains(&format!("lock on {relation} held")), "{line}");
    }
}

/// A session of the test named `blocked_holder` on `db`, in a transaction that ran `hold`;
/// with its pid.
fn holding(db: &TestDb, hold: &str) -> (postgres::Client, i32) {
    let mut holder = db.client_as("blocked_holder");
    holder.batch_execute(&format!("BEGIN; {hold}")).unwrap();
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    (holder, pid)
}

/// `001_create_t` (makes `t`) applied on `db`, and `002_add_b`, whose up file is `up_b`,
/// pending.
fn project_with_t(db: &TestDb, up_b: &str) -> Project {
    let project = Project::new();
    project.migration(
        "001_create_t",
        "CREATE TABLE t (a int);\n",
        "DROP TABLE t;\n",
    );
    project.migration("002_add_b", up_b, "ALTER TABLE t DROP COLUMN b;\n");
    project
        .run_on(db, &["migrate", "up", "--target", "001"])
        .code(0);
    project
}

/// `migrate up` of `002_add_b` (an `ALTER TABLE t`, or `up_b`) on a database where `001` made
/// `t`, while a session of the test named `blocked_holder` holds what `hold` takes in an open
/// transaction: the run said nothing while its message waited (until `lock_timeout` ended
/// it). Now, once it has waited about a second, a line on stderr names the holder — read
/// while the run waits — and the run goes on when the holder ends its transaction (`end`),
/// exit 0.
fn blocked_up_names_the_holder(
    db: &TestDb,
    up_b: &str,
    hold: &str,
    end: &str,
    relation: Option<&str>,
) {
    let project = project_with_t(db, up_b);
    let (mut holder, pid) = holding(db, hold);
    // No `lock_timeout`: the run waits for as long as the holder holds (the ledger's wait
    // too, a minute).
    let mut run = Watched::of(project.spawn_on(
        db,
        &[
            "migrate",
            "up",
            "--lock-timeout-statement",
            "0",
            "--lock-wait",
            "60s",
        ],
    ));
    names_the_holder(&run.waiting_line(), pid, relation);
    holder.batch_execute(end).unwrap();
    let (status, seen) = run.end();
    assert!(status.success(), "{status:?}: {seen:?}");
    assert_eq!(
        db.ledger(),
        Some(vec!["001:create_t".to_string(), "002:add_b".to_string()]),
        "{seen:?}"
    );
}

const ADD_B: &str = "ALTER TABLE t ADD COLUMN b int;\n";

/// A no-transaction `002_add_b` (an index built `CONCURRENTLY`): its row is tried (and
/// rolled back) before its statements.
const ADD_B_NO_TRANSACTION: &str =
    "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n";

/// Another session's uncommitted ledger row of version `002`.
const ROW_002: &str = "INSERT INTO tb_confiture (slug, version, name, checksum) \
                       VALUES ('add_b_002', '002', 'add_b', 'x')";

#[test]
fn up_waiting_for_a_table_lock_names_its_holder() {
    let db = TestDb::new("blocked_table");
    blocked_up_names_the_holder(
        &db,
        ADD_B,
        "LOCK TABLE t IN ACCESS SHARE MODE",
        "COMMIT",
        Some("t"),
    );
}

#[test]
fn up_waiting_for_an_uncommitted_ledger_row_names_its_writer() {
    let db = TestDb::new("blocked_row");
    blocked_up_names_the_holder(&db, ADD_B, ROW_002, "ROLLBACK", None);
}

/// A no-transaction migration's row is tried before its statements (`try_row`): that trial
/// waited for another session's uncommitted row of its version without a word, until the
/// command's `--lock-wait` ended it.
#[test]
fn a_no_transaction_migrations_trial_row_names_the_writer_in_its_way() {
    let db = TestDb::new("blocked_nt_row");
    blocked_up_names_the_holder(&db, ADD_B_NO_TRANSACTION, ROW_002, "ROLLBACK", None);
}

/// The same wait, stopped with Ctrl-C: the trial is cancelled at once (it waited, not
/// cancellable, until the stop's bound), exit 130 saying the migration never started; nothing
/// of it ran, no row, no start marker, and no session of the run is left behind.
#[test]
fn ctrl_c_while_the_trial_row_waits_ends_it_and_leaves_nothing() {
    let db = TestDb::new("blocked_nt_sigint");
    let project = project_with_t(&db, ADD_B_NO_TRANSACTION);
    let (mut holder, pid) = holding(&db, ROW_002);
    let mut run = Watched::of(project.spawn_on(&db, &["migrate", "up", "--lock-wait", "60s"]));
    names_the_holder(&run.waiting_line(), pid, None);
    let all = ctrl_c_ends(run, "interrupted before migration 002_add_b started");
    holder.batch_execute("ROLLBACK").unwrap();
    assert_eq!(db.ledger(), Some(vec!["001:create_t".to_string()]), "{all}");
    let count = |sql: &str| db.value(sql).unwrap_or_default();
    assert_eq!(
        count("SELECT count(*) FROM pg_class WHERE relname = 't_a'"),
        "0"
    );
    if count("SELECT count(*) FROM pg_class WHERE relname = 'tb_confiture_started'") != "0" {
        assert_eq!(
            count("SELECT count(*) FROM tb_confiture_started"),
            "0",
            "{all}"
        );
    }
    no_session_of_the_run_is_left(&db, pid);
}

/// Ctrl-C to `run`: it ends within the stop's bound with its own report, not the bound's "did
/// not answer" (exit 130), saying `said`; everything it said.
fn ctrl_c_ends(run: Watched, said: &str) -> String {
    let started = Instant::now();
    confiture_tests::send_signal(run.child.id(), "-INT");
    let (status, seen) = run.end();
    assert!(started.elapsed() < Duration::from_secs(5), "{seen:?}");
    assert_eq!(status.code(), Some(130), "{seen:?}");
    let all = seen.join("\n");
    assert!(all.contains(said), "{all}");
    all
}

/// No session of a run stopped on `db` is left: only the holder's (`pid`), and this look's.
fn no_session_of_the_run_is_left(db: &TestDb, pid: i32) {
    let others = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND backend_type = 'client backend' AND pid NOT IN (pg_backend_pid(), {pid})"
    );
    let count = || db.value(&others).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(10), || count() == "0"),
        "{}",
        count()
    );
}

/// `baseline` and `reinit` write the ledger in one transaction after reading it, each wait for
/// another session's lock on it in slices of at most a second (`lock::ServerWait`): they said
/// nothing until `--lock-wait` ended the wait. Now the wait, slices and all, names the holder
/// once it has lasted about a second; the command goes on when the holder commits.
fn ledger_rewrite_names_the_holder(args: &[&str], hold: &str, expected: &[&str]) {
    let db = TestDb::new("blocked_rewrite");
    let project = project_with_t(&db, ADD_B);
    let (mut holder, pid) = holding(&db, hold);
    let mut run = Watched::of(project.spawn_on(&db, &[args, &["--lock-wait", "60s"]].concat()));
    names_the_holder(&run.waiting_line(), pid, Some("tb_confiture"));
    holder.batch_execute("COMMIT").unwrap();
    let (status, seen) = run.end();
    assert!(status.success(), "{status:?}: {seen:?}");
    assert_eq!(
        db.ledger(),
        Some(expected.iter().map(ToString::to_string).collect()),
        "{seen:?}"
    );
}

#[test]
fn baseline_waiting_to_write_the_ledger_names_the_holder() {
    // SHARE: the read goes through, the rows' `INSERT` waits.
    ledger_rewrite_names_the_holder(
        &["migrate", "baseline", "--through", "002"],
        "LOCK TABLE tb_confiture IN SHARE MODE",
        &["001:create_t", "002:add_b"],
    );
}

#[test]
fn a_dry_run_waiting_to_read_the_ledger_names_the_holder() {
    ledger_rewrite_names_the_holder(
        &["migrate", "baseline", "--through", "002", "--dry-run"],
        "LOCK TABLE tb_confiture IN ACCESS EXCLUSIVE MODE",
        &["001:create_t"],
    );
}

#[test]
fn reinit_waiting_to_read_the_ledger_names_the_holder() {
    // ACCESS EXCLUSIVE: the read under the migration lock waits.
    ledger_rewrite_names_the_holder(
        &["migrate", "reinit", "--yes"],
        "LOCK TABLE tb_confiture IN ACCESS EXCLUSIVE MODE",
        &["001:create_t"],
    );
}

/// A fleet's targets waiting for another session's lock: each target's wait is named, by the
/// target, as one database's is — but a hundred tenants behind the same session are not a
/// hundred lines. Three tenant schemas of one database, all three running at once, each
/// migration writing `public.shared`, which one session holds: one line for the fleet, naming
/// a tenant and the holder (each target used to print its own), and the fleet goes on when
/// the holder commits.
#[test]
fn a_fleet_names_a_holder_its_targets_wait_for_once() {
    let db = TestDb::new("blocked_fleet");
    db.connect()
        .batch_execute(
            "CREATE TABLE public.shared (a int); CREATE SCHEMA tenant_a; \
             CREATE SCHEMA tenant_b; CREATE SCHEMA tenant_c;",
        )
        .unwrap();
    let project = Project::new();
    project.migration(
        "001_write_shared",
        "INSERT INTO public.shared VALUES (1);\n",
        "DELETE FROM public.shared;\n",
    );
    let (mut holder, pid) = holding(&db, "LOCK TABLE public.shared IN SHARE MODE");
    let mut run = Watched::of(project.spawn_on(
        &db,
        &[
            "migrate",
            "up",
            "--schemas-query",
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' ORDER BY 1",
            "--jobs",
            "3",
            "--lock-timeout-statement",
            "0",
            "--lock-wait",
            "60s",
        ],
    ));
    let first = run.waiting_line();
    names_the_holder(&first, pid, Some("public.shared"));
    assert!(first.contains(" schema tenant_"), "{first}");
    // All three wait behind the holder (by its pid: whatever else waits for a lock, a session
    // asking who is in the way included, is not counted); each asks after a second of
    // waiting: time for every one to speak.
    let count = |sql: &str| db.value(sql).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(30), || db.blocked_by(pid).len() == 3),
        "{:?}",
        db.blocked_by(pid)
    );
    thread::sleep(Duration::from_secs(3));
    holder.batch_execute("COMMIT").unwrap();
    let (status, seen) = run.end();
    assert!(status.success(), "{status:?}: {seen:?}");
    let lines: Vec<&String> = seen
        .iter()
        .filter(|l| l.contains("waiting for a lock"))
        .collect();
    assert!(lines.is_empty(), "said again: {lines:?}\n{first}");
    assert_eq!(count("SELECT count(*) FROM public.shared"), "3", "{seen:?}");
}

/// The session in the way may be in another database: a lock on a shared object (here the
/// database's own comment, which `COMMENT ON DATABASE` locks server-wide). It is named all
/// the same, by its pid, as `pg_terminate_backend` takes it from any database.
#[test]
fn a_holder_in_another_database_is_named() {
    let db = TestDb::new("blocked_elsewhere");
    let elsewhere = TestDb::new("blocked_elsewhere_holder");
    let project = Project::new();
    project.migration(
        "001_comment",
        "DO $$ BEGIN EXECUTE format('COMMENT ON DATABASE %I IS %L', current_database(), 'x'); \
         END $$;\n",
        "SELECT 1;\n",
    );
    let (mut holder, pid) = holding(
        &elsewhere,
        &format!("COMMENT ON DATABASE \"{}\" IS 'held'", db.name),
    );
    let mut run =
        Watched::of(project.spawn_on(&db, &["migrate", "up", "--lock-timeout-statement", "0"]));
    names_the_holder(&run.waiting_line(), pid, None);
    holder.batch_execute("COMMIT").unwrap();
    let (status, seen) = run.end();
    assert!(status.success(), "{status:?}: {seen:?}");
    assert_eq!(
        db.ledger(),
        Some(vec!["001:comment".to_string()]),
        "{seen:?}"
    );
}

/// A no-transaction migration's start marker (`tb_confiture_started`, written before its first
/// statement) waited for another session's lock on that table without a word until
/// `--lock-wait` ended it: named now as the trial row's wait is.
#[test]
fn a_no_transaction_migrations_start_marker_names_the_holder_in_its_way() {
    let db = TestDb::new("blocked_nt_marker");
    let project = project_with_t(&db, ADD_B_NO_TRANSACTION);
    project.migration(
        "003_index_a_again",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_a_again ON t (a);\n",
        "DROP INDEX t_a_again;\n",
    );
    // `002` makes the markers' table.
    project
        .run_on(&db, &["migrate", "up", "--target", "002"])
        .code(0);
    let (mut holder, pid) = holding(&db, "LOCK TABLE tb_confiture_started IN SHARE MODE");
    let mut run = Watched::of(project.spawn_on(&db, &["migrate", "up", "--lock-wait", "60s"]));
    names_the_holder(&run.waiting_line(), pid, Some("tb_confiture_started"));
    holder.batch_execute("COMMIT").unwrap();
    let (status, seen) = run.end();
    assert!(status.success(), "{status:?}: {seen:?}");
    assert_eq!(
        db.ledger(),
        Some(vec![
            "001:create_t".to_string(),
            "002:add_b".to_string(),
            "003:index_a_again".to_string()
        ]),
        "{seen:?}"
    );
}

/// The start marker held past `--lock-wait` by another session — a lock on the markers' table,
/// or its uncommitted marker of the same version — was reported as the migration's own lock
/// (exit 5 `invalid`, "raise `migration.lock_timeout`", naming no one). Now as a locked
/// ledger is: exit 6 naming the holder and the way to end it, nothing run; going up and down.
#[test]
fn a_start_marker_held_past_the_lock_wait_names_the_holder() {
    for (direction, hold) in [
        ("up", "LOCK TABLE tb_confiture_started IN SHARE MODE"),
        (
            "up",
            "INSERT INTO tb_confiture_started (version, name, direction, checksum, statement, \
             statements) VALUES ('003', 'index_a_again', 'up', 'x', 1, 1)",
        ),
        ("down", "LOCK TABLE tb_confiture_started IN SHARE MODE"),
    ] {
        let db = TestDb::new("held_nt_marker");
        let project = project_with_t(&db, ADD_B_NO_TRANSACTION);
        project.migration(
            "003_index_a_again",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_a_again ON t (a);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t_a_again;\n",
        );
        // `002` makes the markers' table.
        let target = if direction == "up" { "002" } else { "003" };
        project
            .run_on(&db, &["migrate", "up", "--target", target])
            .code(0);
        let (mut holder, pid) = holding(&db, hold);
        let run = project.run_on(
            &db,
            &[
                "migrate",
                direction,
                "--lock-wait",
                "1s",
                "--format",
                "json",
            ],
        );
        let _ = holder.batch_execute("ROLLBACK");
        run.code(6);
        let error = &run.json()["errors"][0];
        assert_eq!(error["kind"], "lock_timeout", "{hold}: {}", run.dump());
        assert_eq!(
            error["lock_holders"][0]["pid"],
            serde_json::json!(pid),
            "{hold}: {}",
            run.dump()
        );
        let help = error["help"].as_str().unwrap_or_default();
        assert!(
            help.contains("--lock-wait")
                && help.contains(&format!("pg_terminate_backend({pid})"))
                && !help.contains("lock_timeout"),
            "{hold}: {}",
            run.dump()
        );
        let expected = match direction {
            "up" => 2,
            _ => 3,
        };
        assert_eq!(
            db.ledger().map(|rows| rows.len()),
            Some(expected),
            "{hold}: {}",
            run.dump()
        );
    }
}

/// `001` makes `t` and `gate`; `002_add_b`, no-transaction, reads `gate` then builds an index:
/// while a session of the test holds `gate`, the run waits in its first statement, until the
/// test lets it go on (its markers' table exists by then).
fn project_with_a_gate(db: &TestDb) -> Project {
    let project = Project::new();
    project.migration(
        "001_create_t",
        "CREATE TABLE t (a int);\nCREATE TABLE gate ();\n",
        "DROP TABLE gate;\nDROP TABLE t;\n",
    );
    project.migration(
        "002_add_b",
        "-- confiture:no-transaction\nSELECT count(*) FROM gate;\n\
         CREATE INDEX CONCURRENTLY t_a ON t (a);\n",
        "DROP INDEX t_a;\n",
    );
    project
        .run_on(db, &["migrate", "up", "--target", "001"])
        .code(0);
    project
}

/// A no-transaction migration (`project_with_a_gate`) run on `db` until, between its two
/// statements, the start marker's advance waits for a session of the test holding a SHARE
/// lock on `tb_confiture_started`: the run, once it names that session, and the session.
/// The advance went around the run's sender (as did the lock check between statements, the
/// tracking table's OID and the session's reset before the first statement): it waited
/// without a word until `--lock-wait` ended it (then went on), and a Ctrl-C did not cancel it.
fn waiting_between_statements(db: &TestDb, project: &Project) -> (Watched, postgres::Client, i32) {
    let (mut gate, gate_pid) = holding(db, "LOCK TABLE gate IN ACCESS EXCLUSIVE MODE");
    let mut run = Watched::of(project.spawn_on(
        db,
        &[
            "migrate",
            "up",
            "--lock-timeout-statement",
            "0",
            "--lock-wait",
            "20s",
        ],
    ));
    names_the_holder(&run.waiting_line(), gate_pid, Some("gate"));
    // The first statement waits: its start marker committed.
    let (markers, pid) = holding(db, "LOCK TABLE tb_confiture_started IN SHARE MODE");
    gate.batch_execute("COMMIT").unwrap();
    names_the_holder(&run.waiting_line(), pid, Some("tb_confiture_started"));
    (run, markers, pid)
}

#[test]
fn a_no_transaction_migration_between_its_statements_names_the_holder_in_its_way() {
    let db = TestDb::new("blocked_nt_between");
    let project = project_with_a_gate(&db);
    let (run, mut markers, _) = waiting_between_statements(&db, &project);
    markers.batch_execute("COMMIT").unwrap();
    let (status, seen) = run.end();
    assert!(status.success(), "{status:?}: {seen:?}");
    assert_eq!(
        db.ledger(),
        Some(vec!["001:create_t".to_string(), "002:add_b".to_string()]),
        "{seen:?}"
    );
}

/// The same wait, stopped with Ctrl-C: cancelled at once, exit 130 saying the second statement
/// never ran; its index was not built, the migration is not recorded, and no session of the
/// run is left behind.
#[test]
fn ctrl_c_between_a_no_transaction_migrations_statements_ends_the_wait() {
    let db = TestDb::new("blocked_nt_between_sigint");
    let project = project_with_a_gate(&db);
    let (run, mut markers, pid) = waiting_between_statements(&db, &project);
    let all = ctrl_c_ends(
        run,
        "interrupted before statement 2 of migration 002_add_b ran",
    );
    markers.batch_execute("ROLLBACK").unwrap();
    assert_eq!(db.ledger(), Some(vec!["001:create_t".to_string()]), "{all}");
    let count = |sql: &str| db.value(sql).unwrap_or_default();
    assert_eq!(
        count("SELECT count(*) FROM pg_class WHERE relname = 't_a'"),
        "0",
        "{all}"
    );
    // Statement 1 committed: the start marker stays, and `status` shows it interrupted.
    assert_eq!(
        count("SELECT count(*) FROM tb_confiture_started"),
        "1",
        "{all}"
    );
    no_session_of_the_run_is_left(&db, pid);
}

/// `project_with_t` with `002_add_b` and `003_add_c` pending: transactional, they travel in
/// one message, whose ledger rows are prepared first.
fn two_pending(db: &TestDb) -> Project {
    let project = project_with_t(db, ADD_B);
    project.migration(
        "003_add_c",
        "ALTER TABLE t ADD COLUMN c int;\n",
        "ALTER TABLE t DROP COLUMN c;\n",
    );
    project
}

/// Two transactional migrations pending travel in one message, whose ledger rows are prepared
/// first in a message of their own: that `PREPARE` of an `INSERT` into the tracking table
/// waited for another session's SHARE lock on it without a word, past `--lock-wait` (it had no
/// bound), and a Ctrl-C did not cancel it. Now it is a message of the run: named while it
/// waits, cancelled by Ctrl-C (exit 130, nothing of the migrations ran).
#[test]
fn ctrl_c_while_a_message_prepares_its_ledger_rows_ends_the_wait() {
    let db = TestDb::new("blocked_prepare");
    let project = two_pending(&db);
    let (mut holder, pid) = holding(&db, "LOCK TABLE tb_confiture IN SHARE MODE");
    let mut run = Watched::of(project.spawn_on(&db, &["migrate", "up", "--lock-wait", "60s"]));
    names_the_holder(&run.waiting_line(), pid, Some("tb_confiture"));
    let all = ctrl_c_ends(run, "interrupted before migration 002_add_b started");
    holder.batch_execute("ROLLBACK").unwrap();
    assert_eq!(db.ledger(), Some(vec!["001:create_t".to_string()]), "{all}");
    assert_eq!(
        db.value("SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname IN ('b', 'c')")
            .unwrap_or_default(),
        "0",
        "{all}"
    );
}

/// The same `PREPARE` held past `--lock-wait`: exit 6 naming the holder, nothing run (it
/// waited, with no bound of its own, for as long as the holder held, then applied both).
#[test]
fn a_message_preparing_its_ledger_rows_waits_no_longer_than_the_lock_wait() {
    let db = TestDb::new("blocked_prepare_wait");
    let project = two_pending(&db);
    // Ended by the server after 15 s: a run that waits for as long as it holds ends then.
    let (mut holder, pid) = holding(
        &db,
        "SET LOCAL idle_in_transaction_session_timeout = '15s'; \
         LOCK TABLE tb_confiture IN SHARE MODE",
    );
    let run = project.run_on(&db, &["migrate", "up", "--lock-wait", "2s"]);
    let _ = holder.batch_execute("ROLLBACK");
    run.code(6);
    assert!(
        run.stderr.contains(&format!("held by pid {pid}")),
        "{}",
        run.dump()
    );
    assert_eq!(
        db.ledger(),
        Some(vec!["001:create_t".to_string()]),
        "{}",
        run.dump()
    );
}

/// After a message of several migrations fails, the durations of those it committed are read
/// from their rows. A failure that is another session's lock on the ledger (the next row's
/// `lock_timeout`) left that read waiting for the same lock, without a word and without bound
/// — past `--lock-wait`, and a retry after it —, for as long as the holder held it. It waits no
/// longer than the lock wait now: the run ends naming the holder (exit 6), `002` applied.
#[test]
fn the_read_after_a_failed_message_waits_no_longer_than_the_lock_wait() {
    let db = TestDb::new("blocked_durations");
    let project = Project::new();
    project.migration(
        "001_create_t",
        "CREATE TABLE t (a int);\nCREATE TABLE gate ();\n",
        "DROP TABLE gate;\nDROP TABLE t;\n",
    );
    project
        .run_on(&db, &["migrate", "up", "--target", "001"])
        .code(0);
    project.migration("002_add_b", ADD_B, "ALTER TABLE t DROP COLUMN b;\n");
    // One message with `002`, which commits before `003` waits for the gate.
    project.migration(
        "003_add_c",
        "LOCK TABLE gate IN ACCESS SHARE MODE;\nALTER TABLE t ADD COLUMN c int;\n",
        "ALTER TABLE t DROP COLUMN c;\n",
    );
    let (mut gate, gate_pid) = holding(&db, "LOCK TABLE gate IN ACCESS EXCLUSIVE MODE");
    let mut run = Watched::of(project.spawn_on(
        &db,
        &[
            "migrate",
            "up",
            "--lock-timeout-statement",
            "0",
            "--lock-wait",
            "3s",
        ],
    ));
    names_the_holder(&run.waiting_line(), gate_pid, Some("gate"));
    // Ended by the server after 20 s: a run that waits for as long as it holds ends then.
    let (mut ledger, pid) = holding(
        &db,
        "SET LOCAL idle_in_transaction_session_timeout = '20s'; \
         LOCK TABLE tb_confiture IN ACCESS EXCLUSIVE MODE",
    );
    gate.batch_execute("COMMIT").unwrap();
    let (status, seen) = run.end();
    let _ = ledger.batch_execute("ROLLBACK");
    assert_eq!(status.code(), Some(6), "{seen:?}");
    let all = seen.join("\n");
    assert!(all.contains(&format!("held by pid {pid}")), "{all}");
    assert_eq!(
        db.ledger(),
        Some(vec!["001:create_t".to_string(), "002:add_b".to_string()]),
        "{all}"
    );
}

/// `--single-transaction` commits once, at the end, where the migrations' deferred constraints
/// are checked: a foreign key whose referenced row another session holds `FOR UPDATE` waits
/// there. That `COMMIT` went around the run's sender: it waited without a word, and a Ctrl-C
/// did not cancel it. Now it is named while it waits, and Ctrl-C rolls the run back (exit
/// 130): nothing recorded, nothing of the migration kept.
#[test]
fn ctrl_c_while_a_single_transactions_commit_waits_rolls_it_back() {
    let db = TestDb::new("blocked_commit");
    let project = Project::new();
    project.migration(
        "001_create_parent",
        "CREATE TABLE parent (id int PRIMARY KEY);\nINSERT INTO parent VALUES (1);\n\
         CREATE TABLE child (pid int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);\n",
        "DROP TABLE child;\nDROP TABLE parent;\n",
    );
    project.run_on(&db, &["migrate", "up"]).code(0);
    project.migration(
        "002_add_child",
        "INSERT INTO child VALUES (1);\n",
        "DELETE FROM child;\n",
    );
    let (mut holder, pid) = holding(&db, "SELECT * FROM parent WHERE id = 1 FOR UPDATE");
    let mut run = Watched::of(project.spawn_on(
        &db,
        &[
            "migrate",
            "up",
            "--single-transaction",
            "--lock-timeout-statement",
            "0",
        ],
    ));
    names_the_holder(&run.waiting_line(), pid, None);
    let all = ctrl_c_ends(run, "interrupted during the run's COMMIT");
    holder.batch_execute("ROLLBACK").unwrap();
    assert_eq!(
        db.ledger(),
        Some(vec!["001:create_parent".to_string()]),
        "{all}"
    );
    assert_eq!(
        db.value("SELECT count(*) FROM child").unwrap_or_default(),
        "0",
        "{all}"
    );
    no_session_of_the_run_is_left(&db, pid);
}

/// A run of `project` waiting for the migration lock (`--lock-wait`, `wait`) while another session
/// holds it, and a session `catalog_holder` taking `ACCESS EXCLUSIVE` on `pg_catalog.pg_proc`
/// meanwhile, then the lock let go: the run takes it, and its ledger read (functions the
/// session never called: their look-ups) waits for the catalog. The run, the catalog's session
/// (its transaction open), the time the run started, what the run said so far and the rest of
/// its stderr.
fn run_behind_a_locked_catalog(
    project: &Project,
    db: &TestDb,
    url: &str,
    wait: &str,
    while_locked: impl FnOnce(),
) -> BehindALock {
    run_behind_a_locked(project, db, url, wait, "pg_catalog.pg_proc", while_locked)
}

/// A run started behind a catalog's lock ([`run_behind_a_locked`]): the run, the catalog's
/// session (its transaction open), the time the run started, what the run said so far and
/// the rest of its stderr.
type BehindALock = (
    std::process::Child,
    postgres::Client,
    Instant,
    Vec<String>,
    mpsc::Receiver<String>,
    thread::JoinHandle<()>,
);

/// Waits (40 s at most) for the run `behind` to exit while the catalog stays locked, then lets
/// the catalog go: the run's status and stderr. Fails, saying `held`, when the run was still
/// there after those 40 s (it waited for the catalog as long as it was locked).
fn ended_behind_the_lock(behind: BehindALock, held: &str) -> (std::process::ExitStatus, String) {
    let (mut child, mut maintenance, started, mut seen, lines, reader) = behind;
    let exited = wait_until(Duration::from_secs(40), || {
        child.try_wait().unwrap().is_some()
    });
    let elapsed = started.elapsed();
    maintenance.batch_execute("ROLLBACK").unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(lines.try_iter());
    let stderr = seen.join("\n");
    assert!(exited, "{held}\n{stderr}");
    assert!(elapsed < Duration::from_secs(40), "{elapsed:?}\n{stderr}");
    (status, stderr)
}

/// [`run_behind_a_locked_catalog`] with `catalog` (a system catalog or view) locked;
/// `while_locked` runs once it is, before the run's lock is let go.
fn run_behind_a_locked(
    project: &Project,
    db: &TestDb,
    url: &str,
    wait: &str,
    catalog: &str,
    while_locked: impl FnOnce(),
) -> BehindALock {
    let key =
        "(('x' || substr(encode(sha256(convert_to(current_database(), 'UTF8')), 'hex'), 1, 8))\
               ::bit(32)::int & 2147483647)";
    let mut holder = db.client_as("run_holder");
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock(1751936052, {key})"))
        .unwrap();
    let started = Instant::now();
    let mut child = project
        .cli()
        .args(["migrate", "up", "--lock-wait", wait, "--database-url"])
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the CLI under test");
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = mpsc::channel::<String>();
    let reader = thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the run never waited for the lock: {seen:?}"));
        let waiting = line.contains("waiting for the migration lock");
        seen.push(line);
        if waiting {
            break;
        }
    }
    let mut maintenance = db.client_as("catalog_holder");
    maintenance
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE {catalog} IN ACCESS EXCLUSIVE MODE"
        ))
        .unwrap();
    while_locked();
    // The run's lock is free once its holder's connection is gone (an unlock of its own would
    // wait for the catalog too).
    drop(holder);
    (child, maintenance, started, seen, lines, reader)
}

/// The unlock after a run is a statement of ours too: another session's lock on a system
/// catalog that it reads (`LOCK pg_catalog.pg_proc`, `VACUUM FULL pg_proc`, taken here while
/// the run waited for the migration lock: its ledger read and its unlock look up functions
/// the session never called) keeps the CLI no longer than its lock waits — the read's, then
/// the unlock's. It used to wait at the unlock as long as that lock lasted, after the run was
/// over (forever, for a session left idle in its transaction). The lock ends with the
/// process's connection, and the next run applies everything.
#[test]
fn a_catalog_lock_never_holds_the_exit_after_the_run() {
    let project = project();
    let db = TestDb::new("hxo_relcat");
    let (status, stderr) = ended_behind_the_lock(
        run_behind_a_locked_catalog(&project, &db, &db.url(), "3s", || {}),
        "the CLI waited for the catalog lock past its lock waits",
    );
    // The ledger read gave up on its lock wait (exit 6), and the unlock said so too.
    assert_eq!(status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("could not be given back within 3s"),
        "{stderr}"
    );
    assert!(
        wait_until(Duration::from_secs(10), || db
            .migration_lock_holders()
            .is_empty()),
        "the lock outlived the process"
    );
    let next = project.run(&["migrate", "up", "--database-url", &db.url()]);
    assert_eq!(next.code, 0, "{}", next.dump());
    assert_eq!(db.ledger().expect("the ledger").len(), 5, "{}", next.dump());
}

/// Once the migration lock is taken after a wait, the run gives back the idle timeouts it
/// turned off for the wait. That restore was a `set_config` over `pg_settings`' rows: behind
/// another session's `LOCK pg_catalog.pg_settings` (taken while the run waited, held as the
/// migration lock was let go) it waited as long as that lock lasted, unbounded and silent. It
/// now looks nothing up (a `RESET` of each setting the server knew when they were turned off):
/// the run applies its migrations with that lock still held (the ledger made first, whose
/// absence asks the catalogs more).
#[test]
fn giving_back_the_idle_timeouts_after_the_lock_wait_waits_for_no_catalog() {
    let project = project();
    let db = TestDb::new("idle_back");
    project
        .run_on(&db, &["migrate", "up", "--target", "001"])
        .code(0);
    let (status, stderr) = ended_behind_the_lock(
        run_behind_a_locked(
            &project,
            &db,
            &db.url(),
            "3s",
            "pg_catalog.pg_settings",
            || {},
        ),
        "the run waited for the lock on pg_settings as long as it was held",
    );
    assert!(status.success(), "{status:?}\n{stderr}");
    assert_eq!(db.ledger().expect("the ledger").len(), 5, "{stderr}");
}

/// Before waiting for the migration lock, the run turns off its session's idle timeouts (the
/// tool's own wait is no idle session's). That was a `set_config` over `pg_settings`' rows,
/// to learn which the server knows: behind another session's `LOCK pg_catalog.pg_settings`,
/// taken after the run's first read of the session's state, it waited as long as that lock
/// lasted, unbounded and silent, before it even said it waits for the migration lock. It now
/// sets them without reading anything (`SET`, and the server's refusal of a setting it does
/// not know): the run says it waits, takes the lock once it is let go and applies its
/// migrations, the catalog still locked. The catalog is locked while the run's look-up of the
/// migration lock's holder waits behind a lock on `pg_locks`, so after the session's state
/// was read and before the timeouts are turned off.
///
/// The run is seen waiting by what it waits behind, the test's own lock on `pg_locks`
/// ([`TestDb::blocked_by`]): a look for any session whose query names `pg_locks` and waits
/// for a lock matched another test's run on the same server (CI: a `status` behind a `LOCK
/// pg_catalog.pg_locks` of its own database), and `pg_settings` was locked before this run
/// read its session's state (`pg_settings` too), which then waited the whole `--lock-wait`
/// before saying anything.
#[test]
fn turning_the_idle_timeouts_off_for_the_lock_wait_waits_for_no_catalog() {
    let project = project();
    let db = TestDb::new("idle_off");
    project
        .run_on(&db, &["migrate", "up", "--target", "001"])
        .code(0);
    let (holder, _) = db.hold_migration_lock("run_holder");
    let lock = |application_name: &str, catalog: &str| {
        let mut session = db.client_as(application_name);
        let pid: i32 = session
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        session
            .batch_execute(&format!(
                "BEGIN; LOCK TABLE pg_catalog.{catalog} IN ACCESS EXCLUSIVE MODE"
            ))
            .unwrap();
        (session, pid)
    };
    let (mut locks, locks_pid) = lock("locks_holder", "pg_locks");
    let started = Instant::now();
    let mut run = Watched::of(project.spawn_on(&db, &["migrate", "up", "--lock-wait", "60s"]));
    // Only the run's sessions of this database wait behind that lock, and each of them once
    // the session's state was read: its main session in the look-up of the lock's holder,
    // or the session asking what a lasting message of it waits for (opened once the state
    // was read), while the main one cannot get past that look-up.
    assert!(
        wait_until(Duration::from_secs(30), || !db
            .blocked_by(locks_pid)
            .is_empty()),
        "the run never looked for the migration lock's holder: {:?}",
        db.other_backends()
    );
    let (mut settings, _) = lock("settings_holder", "pg_settings");
    locks.batch_execute("ROLLBACK").unwrap();
    run.line_with("waiting for the migration lock");
    drop(holder);
    let exited = wait_until(Duration::from_secs(30), || {
        run.child.try_wait().unwrap().is_some()
    });
    settings.batch_execute("ROLLBACK").unwrap();
    let run = run.run(started);
    assert!(
        exited,
        "the run waited for the lock on pg_settings\n{}",
        run.dump()
    );
    run.code(0);
    assert_eq!(db.ledger().expect("the ledger").len(), 5, "{}", run.dump());
}

/// While a run waits for a lock on a system catalog (its ledger read, behind a `LOCK
/// pg_catalog.pg_proc`), the line naming who is in the way names that catalog's holder, as
/// every other lasting wait is named. The asking session's own look-up of the run's blockers
/// waited for the same catalog, with no bound: nothing was said, and that session stayed
/// stuck as long as the catalog's lock lasted. It now gives up within its bound and asks a
/// maintenance database of the server, where the catalogs of this database are not in the way.
#[test]
fn a_wait_behind_a_locked_catalog_names_the_catalog_s_holder() {
    let project = project();
    let db = TestDb::new("hxo_catnamed");
    the_wait_names_the_catalogs_holder(run_behind_a_locked_catalog(
        &project,
        &db,
        &db.url(),
        "20s",
        || {},
    ));
}

/// The line of the run `behind` that says what it waits for (30 s at most), then the catalog
/// let go and the run ended: the line names the catalog's session (its pid, `catalog_holder`)
/// and `pg_proc`. The run's exit status and the other lines it printed.
fn the_wait_names_the_catalogs_holder(
    behind: BehindALock,
) -> (std::process::ExitStatus, Vec<String>) {
    let (mut child, mut maintenance, _, mut seen, lines, reader) = behind;
    // Asked of its own session: any other of this database waits for the catalog.
    let pid: i32 = maintenance
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let named = loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.contains("waiting for a lock") => break Some(line),
            Ok(line) => seen.push(line),
            Err(_) => break None,
        }
    };
    maintenance.batch_execute("ROLLBACK").unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(lines.try_iter());
    let line = named.unwrap_or_else(|| panic!("no line named the holder: {seen:#?}"));
    assert!(
        line.contains(&format!(
            "held by pid {pid}, application_name \"catalog_holder\""
        )),
        "{line}"
    );
    assert!(line.contains("pg_proc"), "{line}");
    (status, seen)
}

/// The session that names who a lasting message waits for could not be opened (in CI, its
/// start waited behind the very catalog lock the run waited for; here the database's
/// connection limit, which the run's own session fills): the asking ended for the run, and a
/// 20 s wait behind a locked catalog was never named. Now the catalog's holders are asked
/// from a maintenance database meanwhile, and the session is tried again at the next turn.
#[test]
fn a_wait_behind_a_locked_catalog_is_named_when_no_session_of_the_database_can_ask() {
    let project = project();
    let role =
        confiture_test_support::reaper::DropRoleLater(confiture_tests::unique("ask_limited"));
    let db = TestDb::new("ask_limited");
    confiture_tests::admin()
        .batch_execute(&format!(
            "CREATE ROLE \"{r}\" LOGIN IN ROLE pg_read_all_stats; \
             ALTER DATABASE \"{d}\" OWNER TO \"{r}\"",
            r = role.0,
            d = db.name
        ))
        .expect("a role owning the database");
    let url = confiture_tests::server().url_as(&role.0, None, &db.name);
    // Once the run waits, no other session of the role can start there (a superuser's still
    // can: the test's own).
    let limit = || {
        // From another database: this one's `pg_proc` is locked.
        let mut admin = confiture_tests::admin();
        let sessions = confiture_test_support::value(
            &mut admin,
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = '{}'",
                role.0
            ),
        )
        .unwrap_or_default();
        admin
            .batch_execute(&format!(
                "ALTER DATABASE \"{}\" CONNECTION LIMIT {sessions}",
                db.name
            ))
            .expect("limit the database to the run's sessions");
    };
    let (status, seen) = the_wait_names_the_catalogs_holder(run_behind_a_locked_catalog(
        &project, &db, &url, "20s", limit,
    ));
    assert!(status.success(), "{status:?}: {seen:#?}");
}

/// r2b: behind another session's lock on a system catalog the ledger read looks up (`LOCK
/// pg_catalog.pg_proc`), with nothing locking the tracking table, the read's error said
/// `another session holds a lock on it` — on the table — and named no one. It now says the
/// lock is on a system catalog and names that catalog and its holder, with the way out, as a
/// run's own statement waiting for such a lock does.
#[test]
fn a_ledger_read_behind_a_locked_catalog_names_the_catalog_and_its_holder() {
    let project = project();
    let db = TestDb::new("r2b_catread");
    let up = project.run(&["migrate", "up", "--database-url", &db.url()]);
    assert_eq!(up.code, 0, "{}", up.dump());
    let mut holder = db.client_as("r2b_catalog_holder");
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    holder
        .batch_execute("BEGIN; LOCK TABLE pg_catalog.pg_proc IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let url = db.url();
    let args = [
        "migrate",
        "status",
        "--lock-wait",
        "1s",
        "--database-url",
        &url,
    ];
    let run = project.run(&args);
    assert_eq!(run.code, 6, "{args:?}: {}", run.dump());
    assert!(
        run.stderr.contains(
            "cannot read the tracking table tb_confiture: another session holds a lock on a \
             system catalog the read looks up (waited 1s)"
        ),
        "{args:?}: {}",
        run.dump()
    );
    assert!(
        run.stderr.contains(&format!(
            "lock on pg_proc held by pid {pid}, application_name \"r2b_catalog_holder\""
        )),
        "{args:?}: {}",
        run.dump()
    );
    assert!(
        run.stderr.contains(&format!("pg_terminate_backend({pid})")),
        "{args:?}: {}",
        run.dump()
    );
    holder.batch_execute("ROLLBACK").unwrap();
}

/// The first message of a writing session (`db::writable::read_state`: which database, whether
/// it can write, the pooler check's session) is planned by a new backend that looks its
/// functions up in `pg_proc`: behind another session's lock on that catalog, left idle in its
/// transaction, `up` and `baseline` waited as long as the lock lasted — forever here — with
/// none of their bounds set yet (`--lock-wait 1s` waited 14 s for a lock held 14 s). They now
/// wait at most their `--lock-wait` and exit 6 naming the catalog and its holder.
#[test]
fn a_writing_session_behind_a_locked_catalog_ends_naming_its_holder() {
    let project = project();
    let db = TestDb::new("pp_catalog_first");
    let mut holder = db.client_as("pp_catalog_holder");
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    holder
        .batch_execute("BEGIN; LOCK TABLE pg_catalog.pg_proc IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let url = db.url();
    for command in [&["up"][..], &["baseline", "--through", "1"]] {
        let args: Vec<&str> = ["migrate"]
            .iter()
            .chain(command)
            .chain(&["--lock-wait", "1s", "--database-url", &url])
            .copied()
            .collect();
        let mut child = project.spawn(&args);
        let ended = wait_until(Duration::from_secs(60), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        if !ended {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still waiting for the catalog lock after 60 s");
        }
        let run = Run::from_output(child.wait_with_output().unwrap(), Duration::ZERO);
        // Usually the new backend starts and its first read waits (exit 6 after --lock-wait).
        // When the server rebuilds its relation cache at the session's start (another test's
        // CREATE or DROP DATABASE invalidated the shared init file), the start itself waits for
        // the catalog: exit 6 too after connect_timeout, naming the same holder. Either is
        // bounded.
        assert_eq!(run.code, 6, "{args:?}: {}", run.dump());
        assert!(
            run.stderr.contains(
                "cannot read the session's state: another session holds a lock on a system \
                 catalog the read looks up (waited 1s)"
            ) || run.stderr.contains(
                "the server did not start the session within 10s: it waits for a lock \
                 another session holds on a system catalog"
            ),
            "{args:?}: {}",
            run.dump()
        );
        run.stderr_has(&format!(
            "lock on pg_proc held by pid {pid}, application_name \"pp_catalog_holder\""
        ))
        .stderr_has(&format!("pg_terminate_backend({pid})"));
    }
    holder.batch_execute("ROLLBACK").unwrap();
    assert_eq!(db.ledger(), None, "nothing written");
}

/// hlk 2: a migration's statement that waited, past its retries, for another session's
/// advisory lock ended naming no holder and giving no `pg_terminate_backend`, while one that
/// waited for a lock on a table it names gave both (the waiting line named the holder in both
/// cases). Now both name who holds what the statement waited for, the same way: a table lock,
/// an advisory key of one `bigint` and one of two `int4`, held in a transaction or by the
/// session, shared or not.
#[test]
fn a_statement_that_waited_for_an_advisory_lock_names_its_holder_as_for_a_table() {
    for (hold, up, what) in [
        (
            "LOCK TABLE t IN ACCESS SHARE MODE",
            "ALTER TABLE t ADD COLUMN b int;\n",
            "lock on t",
        ),
        (
            "SELECT pg_advisory_xact_lock(99)",
            "SELECT pg_advisory_xact_lock(99);\nALTER TABLE t ADD COLUMN b int;\n",
            "advisory lock 99",
        ),
        (
            "SELECT pg_advisory_lock_shared(7, -2)",
            "SELECT pg_catalog.pg_advisory_xact_lock(7,-2);\nALTER TABLE t ADD COLUMN b int;\n",
            "advisory lock (7, -2)",
        ),
    ] {
        let db = TestDb::new("hlk_advisory_holder");
        let project = project_with_t(&db, up);
        let (mut holder, pid) = holding(&db, hold);
        let run = project.run_on(&db, &["migrate", "up", "--lock-timeout-statement", "50ms"]);
        let _ = holder.batch_execute("ROLLBACK");
        drop(holder);
        run.code(4)
            .stderr_has(&format!("{what} held by pid {pid}"))
            .stderr_has(&format!("pg_catalog.pg_terminate_backend({pid})"));
    }
}

/// hlk 3: a `CREATE INDEX CONCURRENTLY` that waited for the snapshot of another session's
/// transaction (in `REPEATABLE READ`, it read the table: `ACCESS SHARE`, no lock in the
/// build's way) was blamed on a "lock on t held by pid N"; it names that transaction's
/// snapshot now. And the INVALID index it left was dropped two ways in one error (`DROP INDEX
/// CONCURRENTLY IF EXISTS` in a detail, without `IF EXISTS` in the help): one form now.
#[test]
fn an_index_build_that_waited_for_an_old_snapshot_names_the_snapshot_not_a_lock() {
    let db = TestDb::new("hlk_snapshot_holder");
    let project = project_with_t(
        &db,
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_x ON t (a);\n",
    );
    let (mut holder, pid) = holding(
        &db,
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; SELECT * FROM t",
    );
    let run = project.run_on(&db, &["migrate", "up", "--lock-timeout-statement", "50ms"]);
    let _ = holder.batch_execute("ROLLBACK");
    drop(holder);
    run.stderr_has(&format!(
        "a snapshot older than the index build, which waits for the end of its transaction \
         (a virtualxid wait), held by pid {pid}"
    ))
    .stderr_has(&format!("pg_catalog.pg_terminate_backend({pid})"))
    .stderr_has("`DROP INDEX CONCURRENTLY public.t_x;`")
    .stderr_lacks("lock on t held by")
    .stderr_lacks("IF EXISTS");
}

/// hbd4: another session's lock on a catalog every session of the database reads as it starts
/// (`pg_class`, `pg_attribute`: the server reads them before the session is ready, whatever
/// the relation cache holds) holds the session's start itself, bounded only by
/// `connect_timeout`. The holder was named, but as a failed connection (exit 3), where every
/// other wait of the tool's own for a catalog's lock ends as a lock wait: exit 6, the holder
/// in the error and in the JSON's `lock_holders`, within the connection's bound.
#[test]
fn a_session_start_behind_a_locked_catalog_ends_as_a_lock_wait_naming_its_holder() {
    let project = project();
    for catalog in ["pg_class", "pg_attribute"] {
        // A database of its own: a lock on these stalls every session starting there.
        let db = TestDb::new("hbd4_start");
        let (mut holder, pid) =
            db.holding_lock("hbd4_start_holder", &format!("pg_catalog.{catalog}"));
        let url = format!("{}?connect_timeout=3", db.url());
        for command in [&["up"][..], &["status"]] {
            let args: Vec<&str> = ["migrate"]
                .iter()
                .chain(command)
                .chain(&["--lock-wait", "1s", "--format", "json"])
                .chain(&["--database-url", &url])
                .copied()
                .collect();
            let started = Instant::now();
            let run = project.run(&args);
            let took = started.elapsed();
            assert_eq!(run.code, 6, "{catalog}: {args:?}: {}", run.dump());
            run.stderr_has(
                "the server did not start the session within 3s: it waits for a lock another \
                 session holds on a system catalog",
            )
            .stderr_has(&format!(
                "lock on {catalog} held by pid {pid}, application_name \"hbd4_start_holder\""
            ))
            .stderr_has(&format!("pg_terminate_backend({pid})"));
            let error = &run.json()["errors"][0];
            assert_eq!(error["kind"], "lock_timeout", "{catalog}: {}", run.dump());
            assert_eq!(
                error["lock_holders"][0]["pid"],
                serde_json::json!(pid),
                "{catalog}: {args:?}: {}",
                run.dump()
            );
            assert!(
                took < Duration::from_secs(15),
                "{catalog}: {args:?} took {took:?}"
            );
        }
        holder.batch_execute("ROLLBACK").unwrap();
    }
}

/// hbd4: a lock on a catalog every database shares (`LOCK pg_catalog.pg_stat_activity` locks
/// `pg_database` and `pg_authid`, the view's tables) holds every session's start on the
/// server, before the startup options apply: nothing of ours bounds it but `connect_timeout`,
/// and no session started now can ask who holds it (the maintenance database's neither). The
/// error said the holder "could not be asked", as if by chance, and sent the user to a session
/// on another database, which cannot start either. It now says no session of the server
/// starts, why, and how to find the holder from a session already open. A throwaway cluster:
/// such a lock stalls the whole server.
#[test]
fn a_session_start_behind_a_locked_shared_catalog_says_no_session_of_the_server_starts() {
    let project = project();
    let cluster = Cluster::init();
    let port = (56000..57000)
        .map(|p| p + (std::process::id() as u16 % 500))
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port from 56000");
    cluster.start_on(port);
    let db = cluster.create_database("hbd4_shared");
    let mut holder = cluster.connect(&db);
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    holder
        .batch_execute("BEGIN; LOCK TABLE pg_catalog.pg_stat_activity IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let url = cluster.url(&db, "connect_timeout=2");
    let run = project.run(&["migrate", "up", "--format", "json", "--database-url", &url]);
    assert_eq!(run.code, 3, "{}", run.dump());
    run.stderr_has("did not start the session within 2s, nor one on its maintenance database")
        .stderr_has("no session of the server starts")
        .stderr_has("LOCK pg_catalog.pg_stat_activity");
    // The way the help gives finds the holder from a session already open: this one's.
    let error = &run.json()["errors"][0];
    let help = error["help"].as_str().unwrap_or_default().to_string();
    let query = help
        .split('`')
        .find(|part| part.starts_with("SELECT"))
        .unwrap_or_else(|| panic!("no query in the help: {help}"));
    let found: Vec<i32> = holder
        .query(query, &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(found.contains(&pid), "{query}: {found:?}, holder {pid}");
    holder.batch_execute("ROLLBACK").unwrap();
}

/// hlv: while a run going on applied (or rolled back) a no-transaction migration, the commands
/// that read its start marker without the migration lock took it for a run left part-way:
/// `drift` called what it had committed drift "to capture or undo by hand" (exit 9), `up
/// --dry-run` and `down --dry-run` said it "was interrupted" (exit 7), `baseline --dry-run`
/// refused to record "over its run left part-way" (exit 64), `abandon --dry-run` would
/// "forget the interrupted apply" (exit 0). They refuse now as a run would wait for that one,
/// exit 6, naming it and what it is running as `status` does (`LockHolder::runs`, the one
/// rule). `drift` refuses a run going on a transactional migration too: what it commits
/// between the ledger's read and the schema's would read as drift. The other commands'
/// previews stand then: no marker, nothing to mistake.
#[test]
fn commands_reading_a_live_runs_markers_name_that_run_and_never_call_it_interrupted() {
    use confiture::exit;
    let gate = 742;
    let wait = format!("SELECT pg_advisory_xact_lock({gate});\n");
    struct Case {
        name: &'static str,
        // The migrations applied before the live run, and the live run's command.
        before: &'static [&'static str],
        live: &'static [&'static str],
        // What the live run is doing, as `status` says it.
        doing: &'static str,
    }
    let cases = [
        Case {
            name: "no-transaction up",
            before: &["migrate", "up", "--target", "001"],
            live: &["migrate", "up"],
            doing: "002_t is being run now by it",
        },
        Case {
            name: "no-transaction down",
            before: &["migrate", "up"],
            live: &["migrate", "down", "--target", "001"],
            doing: "002_t is being run now by it",
        },
        Case {
            name: "transactional up",
            before: &["migrate", "up", "--target", "002"],
            live: &["migrate", "up"],
            doing: "the pending migration may be being applied now",
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        let project = Project::new();
        project
            .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
            .migration(
                "002_t",
                &format!(
                    "-- confiture: no-transaction\n\
                     -- confiture:allow(no-transaction-multiple-statements)\n\
                     CREATE TABLE t (id int);\n{wait}CREATE INDEX CONCURRENTLY t_idx ON t (id);\n"
                ),
                &format!(
                    "-- confiture: no-transaction\n\
                     -- confiture:allow(no-transaction-multiple-statements)\n\
                     DROP INDEX CONCURRENTLY t_idx;\n{wait}DROP TABLE t;\n"
                ),
            )
            .migration(
                "003_u",
                &format!("CREATE TABLE u (id int);\n{wait}"),
                "DROP TABLE u;\n",
            );
        let db = TestDb::new(&format!("hlv_live_{i}"));
        project.run_on(&db, case.before).code(exit::SUCCESS);
        let mut holder = db.connect();
        holder
            .batch_execute(&format!("SELECT pg_advisory_lock({gate})"))
            .expect("hold the gate");
        // The gate is a lock its statement waits for: no `lock_timeout` ends that wait.
        let live = [case.live, &["--lock-timeout-statement", "0"]].concat();
        let child = project.spawn_on(&db, &live);
        let pid = db.backend_waiting_on_advisory_lock();
        let transactional = case.name.starts_with("transactional");
        let run = |args: &[&str]| project.run_on(&db, args);
        let drift = run(&["migrate", "drift"]);
        let previews = [
            run(&["migrate", "up", "--dry-run"]),
            run(&["migrate", "down", "--dry-run"]),
            run(&["migrate", "baseline", "--through", "002", "--dry-run"]),
            run(&["migrate", "abandon", "002", "--dry-run"]),
        ];
        let json = run(&["migrate", "drift", "--format", "json"]);
        holder
            .batch_execute(&format!("SELECT pg_advisory_unlock({gate})"))
            .expect("open the gate");
        let live = Run::from_output(
            child.wait_with_output().expect("reap the runner"),
            Duration::ZERO,
        );
        live.code(exit::SUCCESS);
        let held_by = format!("held by pid {pid}, ");
        drift
            .code(exit::LOCK_TIMEOUT)
            .stderr_has(&format!("a run holds the migration lock: {}", case.doing))
            .stderr_has("nothing was compared")
            .stderr_has(&held_by)
            .stderr_has("wait for that run to finish")
            .stderr_lacks("by hand")
            .stderr_lacks("pg_terminate_backend");
        json.code(exit::LOCK_TIMEOUT);
        let doc = json.json();
        assert_eq!(
            doc["errors"][0]["lock_holders"][0]["pid"],
            pid,
            "{}: {}",
            case.name,
            json.dump()
        );
        for preview in &previews {
            preview
                .stderr_lacks("was interrupted")
                .stderr_lacks("by hand");
            if transactional {
                assert_ne!(
                    preview.code,
                    i32::from(exit::LOCK_TIMEOUT),
                    "{}: {}",
                    case.name,
                    preview.dump()
                );
            } else {
                preview
                    .code(exit::LOCK_TIMEOUT)
                    .stderr_has(&format!("a run holds the migration lock: {}", case.doing))
                    .stderr_has("nothing was previewed")
                    .stderr_has(&held_by)
                    .stderr_lacks("part-way");
            }
        }
    }
}

/// hlv: a no-transaction rollback whose every statement committed, and whose ledger row's
/// delete then waited past `--lock-wait` for another session's lock on the tracking table,
/// ended (exit 6) with "run the command again (or raise --lock-wait)" — the next `down` is
/// refused over the run left part-way (exit 7) —, and `status` offered `abandon` "to leave it
/// applied", which keeps the row of a migration whose down file removed everything. Each now
/// gives what works: `down --rerun-interrupted`, and says what `abandon` would keep.
#[test]
fn a_rollback_whose_row_delete_waited_gives_the_rerun_that_finishes_it() {
    use confiture::exit;
    let gate = 743;
    let db = TestDb::new("hlv_row_delete");
    let project = Project::new();
    project
        .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration(
            "002_t",
            "-- confiture: no-transaction\n\
             -- confiture:allow(no-transaction-multiple-statements)\n\
             CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_idx ON t (id);\n",
            &format!(
                "-- confiture: no-transaction\n\
                 -- confiture:allow(no-transaction-multiple-statements)\n\
                 DROP INDEX CONCURRENTLY IF EXISTS t_idx;\n\
                 SELECT pg_advisory_xact_lock({gate});\nDROP TABLE IF EXISTS t;\n"
            ),
        );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let (mut gate_holder, _) = holding(&db, &format!("SELECT pg_advisory_xact_lock({gate})"));
    let child = project.spawn_on(
        &db,
        &[
            "migrate",
            "down",
            "--lock-wait",
            "3s",
            "--lock-timeout-statement",
            "0",
        ],
    );
    db.backend_waiting_on_advisory_lock();
    // Ended by the server after 30 s: a run that waits for as long as it holds ends then.
    let (mut ledger, pid) = holding(
        &db,
        "SET LOCAL idle_in_transaction_session_timeout = '30s'; \
         LOCK TABLE tb_confiture IN ACCESS EXCLUSIVE MODE",
    );
    gate_holder.batch_execute("COMMIT").unwrap();
    let down = Run::reaped(child);
    let _ = ledger.batch_execute("ROLLBACK");
    down.code(exit::LOCK_TIMEOUT)
        .stderr_has(&format!("held by pid {pid}"))
        .stderr_has("every statement of db/migrations/002_t.down.sql committed")
        .stderr_has("run `cargo confiture migrate down --rerun-interrupted")
        .stderr_lacks("run the command again");
    let status = project.status_on(&db);
    status
        .code(exit::DIVERGED)
        .stderr_has("only its ledger row is left to delete")
        .stderr_has("`cargo confiture migrate down --rerun-interrupted")
        .stderr_has("keeps the row, recording the migration applied while what")
        .stderr_lacks("to leave it applied");
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::DIVERGED)
        .stderr_has("only its ledger row is left to delete")
        .stderr_lacks("to leave it applied");
    project
        .run_on(&db, &["migrate", "down", "--rerun-interrupted"])
        .code(exit::SUCCESS);
    assert_eq!(db.ledger(), Some(vec!["001:a".to_string()]));
}

/// hbd5: `up` on a fresh database sends the ledger's DDL (`CREATE SCHEMA` of a qualified
/// ledger, `CREATE TABLE` and its primary key, the markers' table) with no `lock_timeout`:
/// another session's lock on a catalog the DDL writes held it as long as that lock lasted,
/// whatever `--lock-wait` said, and with no line. Every catalog that DDL writes (and the
/// session's start does not wait for: `pg_class` and `pg_attribute` are
/// [`a_session_start_behind_a_locked_catalog_ends_as_a_lock_wait_naming_its_holder`]'s) now
/// holds it the lock wait at most: exit 6 naming the holder. The migration writes no catalog.
#[test]
fn the_ledgers_ddl_behind_a_locked_catalog_ends_as_a_lock_wait_naming_its_holder() {
    let project = Project::new();
    project.migration("001_nothing", "SELECT 1;\n", "SELECT 1;\n");
    for (catalog, table) in [
        ("pg_constraint", None),
        ("pg_type", None),
        ("pg_depend", None),
        ("pg_index", None),
        ("pg_namespace", Some("hbd5_ops.tb_confiture")),
        ("pg_depend", Some("hbd5_ops.tb_confiture")),
    ] {
        let db = TestDb::new("hbd5_ddl");
        if let Some(table) = table {
            project.write(
                "confiture.yaml",
                format!(
                    "database_url: {}\nmigration:\n  tracking_table: {table}\n",
                    db.url()
                ),
            );
        }
        let mut holder = db.client_as("hbd5_ddl_holder");
        let pid: i32 = holder
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        holder
            .batch_execute(&format!(
                // Released after 12s whatever happens: an unbounded wait ends, and fails.
                "SET idle_in_transaction_session_timeout = '12s'; \
                 BEGIN; LOCK TABLE pg_catalog.{catalog} IN ACCESS EXCLUSIVE MODE"
            ))
            .unwrap();
        let url = format!("{}?connect_timeout=3", db.url());
        let started = Instant::now();
        let run = project.run(&[
            "migrate",
            "up",
            "--lock-wait",
            "1s",
            "--format",
            "json",
            "--database-url",
            &url,
        ]);
        let took = started.elapsed();
        let _ = holder.batch_execute("ROLLBACK");
        let case = format!("{catalog} ({table:?})");
        assert_eq!(run.code, 6, "{case}: {}", run.dump());
        run.stderr_has(&format!(
            "lock on {catalog} held by pid {pid}, application_name \"hbd5_ddl_holder\""
        ));
        let error = &run.json()["errors"][0];
        assert_eq!(error["kind"], "lock_timeout", "{case}: {}", run.dump());
        assert_eq!(
            error["lock_holders"][0]["pid"],
            serde_json::json!(pid),
            "{case}: {}",
            run.dump()
        );
        assert!(took < Duration::from_secs(8), "{case} took {took:?}");
        let applied: i64 = db
            .connect()
            .query_one(
                "SELECT count(*) FROM pg_class WHERE relname = 'tb_confiture'",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(applied, 0, "{case}: the ledger was left behind");
    }
}
