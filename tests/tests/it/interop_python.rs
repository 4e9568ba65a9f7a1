//! Interoperability with confiture, the Python tool (`fraiseql-confiture` from PyPI), on one
//! database: one history whichever tool applied each migration, the same checksums, one lock
//! that each tool waits for when the other holds it, and rollbacks seen by both.
//!
//! The Python tool is found at `$CONFITURE_PYTHON` (its `confiture` executable), else at
//! `target/confiture-python/venv/bin/confiture`, where `bash .ci/run` installs it and where the
//! first test installs it when missing. If that fails, the tests fail with the commands that
//! install it: they never skip.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use confiture_tests::cluster::wait_until;
use confiture_tests::{workspace_root, Project, Run, TestDb};
use serde_json::Value;

const ENV_FILE: &str = "db/environments/test.yaml";

/// The version `.ci/run` installs too: a new PyPI release cannot change what these tests see.
const PYTHON_CONFITURE: &str = "fraiseql-confiture==1.29.0";

/// The Python tool's `confiture` executable: `$CONFITURE_PYTHON`, else the virtual environment
/// at `target/confiture-python/venv`, created on first use (python3 and PyPI needed) so that
/// `cargo test --workspace` works on its own, as the README says.
fn python_confiture() -> PathBuf {
    if let Some(path) = std::env::var_os("CONFITURE_PYTHON").map(PathBuf::from) {
        assert!(
            path.is_file(),
            "CONFITURE_PYTHON is {}, which is not a file: point it at confiture's executable",
            path.display()
        );
        return path;
    }
    static INSTALLED: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    INSTALLED
        .get_or_init(install_python_confiture)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn install_python_confiture() -> Result<PathBuf, String> {
    let venv = workspace_root().join("target/confiture-python/venv");
    let path = venv.join("bin/confiture");
    if path.is_file() {
        return Ok(path);
    }
    let run = |program: &str, args: &[&str]| -> Result<(), String> {
        let status = Command::new(program)
            .args(args)
            .status()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        status
            .success()
            .then_some(())
            .ok_or_else(|| format!("{program} {} failed ({status})", args.join(" ")))
    };
    let venv_text = venv.to_string_lossy().into_owned();
    let pip = venv.join("bin/pip").to_string_lossy().into_owned();
    run("python3", &["-m", "venv", &venv_text])
        .and_then(|()| run(&pip, &["install", "--quiet", PYTHON_CONFITURE]))
        .map_err(|e| {
            format!(
                "these tests need confiture (Python) and installing it failed: {e}. Install it with\n  \
                 python3 -m venv target/confiture-python/venv\n  \
                 target/confiture-python/venv/bin/pip install {PYTHON_CONFITURE}\n\
                 (bash .ci/run does), or set CONFITURE_PYTHON to its `confiture` executable"
            )
        })?;
    Ok(path)
}

/// A project whose `test` environment is `db`, with migrations 001–`count`. The one numbered
/// `gated` (if any) waits, before creating its table, for as long as the `pause` table (made by
/// the test, not by a migration) has a row: a migration that runs exactly as long as the test
/// wants, whatever the machine's load.
fn project(db: &TestDb, count: u32, gated: Option<u32>) -> Project {
    let project = Project::new();
    project.write(
        ENV_FILE,
        format!("name: test\ndatabase_url: {}\n", db.url()),
    );
    for n in 1..=count {
        let gate = if gated == Some(n) {
            "DO $$ BEGIN\n  WHILE EXISTS (SELECT 1 FROM pause) LOOP PERFORM pg_sleep(0.05); END LOOP;\nEND $$;\n"
        } else {
            ""
        };
        project.migration(
            &format!("{n:03}_create_t{n}"),
            &format!("{gate}CREATE TABLE t{n} (id int PRIMARY KEY);\n"),
            &format!("DROP TABLE t{n};\n"),
        );
    }
    project
}

/// Closes the gate of `project`'s gated migration (see [`project`]).
fn close_gate(client: &mut postgres::Client) {
    client
        .batch_execute("CREATE TABLE pause (x int); INSERT INTO pause VALUES (1);")
        .expect("close the gate");
}

fn open_gate(client: &mut postgres::Client) {
    client
        .batch_execute("DELETE FROM pause")
        .expect("open the gate");
}

/// Whether a session of `db` is waiting at the gate, inside a migration (holding the lock): its
/// query names the gate, or (the server truncates query texts at `track_activity_query_size`,
/// and a migration may travel in one message with others) it sleeps in the gate's loop.
fn at_gate(client: &mut postgres::Client, db: &str) -> bool {
    client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = $1 \
             AND (query LIKE '%FROM pause%' OR wait_event = 'PgSleep') \
             AND pid <> pg_backend_pid())",
            &[&db],
        )
        .expect("pg_stat_activity")
        .get(0)
}

/// Whether a session of `db` is blocked in `pg_advisory_lock` on the migration lock (how
/// confiture waits for it).
fn blocked_on_migration_lock(client: &mut postgres::Client, db: &str) -> bool {
    client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
             AND classid = 1751936052 AND objsubid = 2 \
             AND database = (SELECT oid FROM pg_database WHERE datname = $1))",
            &[&db],
        )
        .expect("pg_locks")
        .get(0)
}

/// The Python tool, run in the project (its paths are relative to the current directory).
fn python(project: &Project, args: &[&str]) -> Command {
    let mut cmd = Command::new(python_confiture());
    cmd.current_dir(&project.root)
        .args(args)
        .args(["-c", ENV_FILE])
        // Wide enough that its tables and messages are not wrapped; no colours.
        .env("COLUMNS", "200")
        .env("NO_COLOR", "1")
        .env_remove("DATABASE_URL")
        .env_remove("CONFITURE_DATABASE_URL");
    cmd
}

fn run_python(project: &Project, args: &[&str]) -> Run {
    Run::of(&mut python(project, args))
}

/// Our CLI, on the same environment file.
fn ours(project: &Project, args: &[&str]) -> Run {
    project.run(&[args, &["--env", "test"]].concat())
}

fn ours_cmd(project: &Project, args: &[&str]) -> Command {
    let mut cmd = project.cli();
    cmd.args(args).args(["--env", "test"]);
    cmd
}

fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a migration run")
}

/// One status row, as both tools can say it: version, name, status, and `applied_at` to the
/// second (confiture prints microseconds, we print seconds).
fn rows(status: &Value) -> Vec<(String, String, String, Option<String>)> {
    status["migrations"]
        .as_array()
        .unwrap_or_else(|| panic!("no migrations array in {status}"))
        .iter()
        .map(|m| {
            let text = |key: &str| m[key].as_str().unwrap_or_default().to_string();
            let applied_at = m["applied_at"]
                .as_str()
                .map(|t| t.get(..19).unwrap_or(t).to_string());
            (text("version"), text("name"), text("status"), applied_at)
        })
        .collect()
}

/// Both tools' `status`: the same exit code, and the same rows.
#[track_caller]
fn statuses_agree(project: &Project, exit: u8) -> Vec<(String, String, String, Option<String>)> {
    let theirs = run_python(project, &["migrate", "status", "--format", "json"]);
    theirs.code(exit);
    let ours = ours(project, &["migrate", "status", "--format", "json"]);
    ours.code(exit);
    let (theirs, ours) = (rows(&theirs.json()), rows(&ours.json()));
    assert_eq!(
        theirs, ours,
        "confiture (Python) and we see the same history"
    );
    ours
}

fn statuses(rows: &[(String, String, String, Option<String>)]) -> Vec<String> {
    rows.iter()
        .map(|(version, _, status, _)| format!("{version}:{status}"))
        .collect()
}

#[test]
fn migrations_applied_by_either_tool_make_one_history() {
    let db = TestDb::new("interop_history");
    let project = project(&db, 5, None);

    run_python(&project, &["migrate", "up", "--target", "002"]).code(0);
    let seen = statuses_agree(&project, 1);
    assert_eq!(
        statuses(&seen),
        [
            "001:applied",
            "002:applied",
            "003:pending",
            "004:pending",
            "005:pending"
        ]
    );

    ours(&project, &["migrate", "up"])
        .code(0)
        .stdout_has("applied 3 migrations")
        .stdout_has("003, 004, 005");
    let seen = statuses_agree(&project, 0);
    assert_eq!(seen.len(), 5);
    assert!(seen
        .iter()
        .all(|(_, _, status, at)| status == "applied" && at.is_some()));

    // The same checksum for the same file, whoever wrote the row: SHA-256 of the up file's
    // bytes. confiture verifies ours, and we find none of its rows modified.
    let mut client = db.connect();
    let recorded = client
        .query(
            "SELECT version, name, checksum, slug, applied_by, execution_time_ms \
             FROM tb_confiture ORDER BY applied_at, pk_confiture",
            &[],
        )
        .expect("ledger rows");
    assert_eq!(recorded.len(), 5);
    for row in &recorded {
        let (version, name): (String, String) = (row.get(0), row.get(1));
        let file = project.path(&format!("db/migrations/{version}_{name}.up.sql"));
        let bytes = std::fs::read(&file).expect("read the up file");
        assert_eq!(
            row.get::<_, Option<String>>(2),
            Some(confiture::files::checksum(&bytes)),
            "checksum of {version}"
        );
        // `<name>_<version>_<YYYYmmdd_HHMMSS>`, as confiture 1.29 writes it.
        let slug: String = row.get(3);
        let stamp = slug
            .strip_prefix(&format!("{name}_{version}_"))
            .unwrap_or_else(|| panic!("slug {slug:?} of {version}"));
        assert!(
            stamp.len() == 15
                && stamp.as_bytes()[8] == b'_'
                && stamp.chars().filter(char::is_ascii_digit).count() == 14,
            "slug {slug:?} of {version}"
        );
        assert_eq!(row.get::<_, Option<String>>(4).as_deref(), Some("postgres"));
        assert!(
            row.get::<_, Option<i32>>(5).is_some(),
            "execution time of {version}"
        );
    }
    run_python(&project, &["migrate", "verify-checksums"])
        .code(0)
        .stdout_has("All migration checksums verified");
    let ours_json = ours(&project, &["migrate", "status", "--format", "json"]).json();
    assert_eq!(ours_json["summary"]["modified"], 0);

    // Both tools then see the same thing to do: nothing.
    run_python(&project, &["migrate", "up"])
        .code(0)
        .stdout_has("No pending migrations");
    ours(&project, &["migrate", "up"]).code(0);
    assert_eq!(
        client
            .query_one("SELECT count(*) FROM tb_confiture", &[])
            .expect("count")
            .get::<_, i64>(0),
        5
    );
}

#[test]
fn a_run_of_confiture_keeps_ours_waiting_on_its_lock() {
    let db = TestDb::new("interop_lock_py");
    let project = project(&db, 2, Some(2));
    let mut client = db.connect();
    close_gate(&mut client);

    let python_run = spawn(python(&project, &["migrate", "up"]));
    wait_until(
        "confiture (Python) is inside migration 002",
        Duration::from_secs(60),
        || at_gate(&mut client, &db.name),
    );
    // Started while confiture holds the lock: one gives up after a second, one waits.
    let impatient = spawn(ours_cmd(
        &project,
        &["migrate", "up", "--lock-timeout", "1s"],
    ));
    let mut patient = spawn(ours_cmd(&project, &["migrate", "up"]));
    Run::reaped(impatient)
        .code(6)
        .stderr_has("not acquired within 1s: another migration run holds it")
        .stderr_has("held by confiture (Python), pid");
    assert!(
        patient.try_wait().expect("poll our waiting run").is_none(),
        "our run waits while confiture holds the lock"
    );

    open_gate(&mut client);
    Run::reaped(python_run).code(0);
    let patient = Run::reaped(patient);
    patient
        .code(0)
        .stderr_has("waiting for the migration lock held by confiture (Python), pid")
        .stderr_has("acquired the migration lock after")
        .stdout_has("up to date");
    // The waiter read the ledger after taking the lock: confiture had applied everything.
    assert_eq!(
        db.ledger(),
        Some(vec!["001:create_t1".into(), "002:create_t2".into()])
    );
}

/// confiture (Python) holding the migration lock is named so — in the exit-6 error's detail
/// and JSON (`tool`), and in `status`'s note and JSON (`lock_held_by`) — from its own record of
/// the lock, never from what any session could show: the record its killed run left names no
/// session that connected later, such as one holding the lock by hand with no
/// `application_name`.
#[test]
fn confiture_holding_the_lock_is_named_from_its_own_record_alone() {
    let db = TestDb::new("interop_lock_named");
    let project = project(&db, 2, Some(2));
    let mut client = db.connect();
    close_gate(&mut client);
    let mut python_run = spawn(python(&project, &["migrate", "up"]));
    wait_until(
        "confiture (Python) is inside migration 002",
        Duration::from_secs(60),
        || at_gate(&mut client, &db.name),
    );
    let tool = |run: &Run, doc: &Value| -> Value {
        let holder = &doc["errors"][0]["lock_holders"][0];
        assert!(holder["pid"].is_i64(), "{}", run.dump());
        holder["tool"].clone()
    };
    let held = ours(&project, &["migrate", "up", "--lock-wait", "1s"]);
    held.code(6).stderr_has("held by confiture (Python), pid");
    let held = ours(
        &project,
        &["migrate", "up", "--lock-wait", "1s", "--format", "json"],
    );
    held.code(6);
    assert_eq!(tool(&held, &held.json()), "confiture_python");
    ours(&project, &["migrate", "status"])
        .code(1)
        .stderr_has("a run holds the migration lock (confiture (Python), pid");
    let status = ours(&project, &["migrate", "status", "--format", "json"]);
    status.code(1);
    assert_eq!(status.json()["lock_held_by"]["tool"], "confiture_python");

    // Killed as it holds the lock: its record stays. Its server session ends once the gate
    // opens (the statement's answer finds no client), giving the lock back.
    python_run.kill().expect("kill confiture (Python)");
    let _ = python_run.wait();
    open_gate(&mut client);
    wait_until(
        "the killed run's session gave the lock back",
        Duration::from_secs(60),
        || db.migration_lock_holders().is_empty(),
    );
    let records: i64 = (client.query_one("SELECT count(*) FROM confiture_lock_holder", &[]))
        .expect("read confiture's record of its lock")
        .get(0);
    assert_eq!(records, 1, "the killed run left its record");
    let (mut hand, pid) = db.hold_migration_lock("by-hand");
    hand.batch_execute("SET application_name = ''")
        .expect("set no application_name");
    let held = ours(&project, &["migrate", "up", "--lock-wait", "1s"]);
    held.code(6)
        .stderr_has(&format!("held by pid {pid}, user"))
        .stderr_lacks("Python");
    let held = ours(
        &project,
        &["migrate", "up", "--lock-wait", "1s", "--format", "json"],
    );
    held.code(6);
    assert_eq!(tool(&held, &held.json()), Value::Null);
    let status = ours(&project, &["migrate", "status", "--format", "json"]);
    status.code(1);
    assert_eq!(status.json()["lock_held_by"]["pid"], pid);
    assert_eq!(status.json()["lock_held_by"]["tool"], Value::Null);
}

#[test]
fn a_run_of_ours_keeps_confiture_waiting_on_its_lock() {
    let db = TestDb::new("interop_lock_rs");
    let project = project(&db, 2, Some(2));
    let mut client = db.connect();
    close_gate(&mut client);

    let our_run = spawn(ours_cmd(&project, &["migrate", "up", "--allow-non-empty"]));
    wait_until(
        "our run is inside migration 002",
        Duration::from_secs(60),
        || at_gate(&mut client, &db.name),
    );
    let impatient = spawn(python(
        &project,
        &["migrate", "up", "--lock-timeout", "500"],
    ));
    let mut patient = spawn(python(&project, &["migrate", "up"]));
    // confiture's exit code for lock contention is 6, as ours.
    let impatient = Run::reaped(impatient);
    impatient.code(6);
    assert!(
        format!("{}{}", impatient.stdout, impatient.stderr)
            .contains("Could not acquire migration lock"),
        "{impatient:?}"
    );
    wait_until(
        "confiture (Python) waits for the lock we hold",
        Duration::from_secs(60),
        || blocked_on_migration_lock(&mut client, &db.name),
    );
    assert!(patient.try_wait().expect("poll confiture").is_none());

    open_gate(&mut client);
    Run::reaped(our_run)
        .code(0)
        .stdout_has("applied 2 migrations");
    // confiture reads the ledger under the lock (1.29; older versions planned before it and
    // failed here with "already applied"): nothing left to do.
    Run::reaped(patient)
        .code(0)
        .stdout_has("No pending migrations");
    assert_eq!(
        db.ledger(),
        Some(vec!["001:create_t1".into(), "002:create_t2".into()])
    );
}

#[test]
fn a_rollback_by_one_tool_is_seen_by_the_other() {
    let db = TestDb::new("interop_rollback");
    let project = project(&db, 3, None);
    run_python(&project, &["migrate", "up", "--target", "002"]).code(0);
    ours(&project, &["migrate", "up"]).code(0);
    statuses_agree(&project, 0);

    // confiture rolls back the migration we applied...
    run_python(&project, &["migrate", "down"]).code(0);
    let seen = statuses_agree(&project, 1);
    assert_eq!(
        statuses(&seen),
        ["001:applied", "002:applied", "003:pending"]
    );
    assert!(!db.has_relation("t3"));

    // ...and we roll back one it applied.
    ours(&project, &["migrate", "down"])
        .code(0)
        .stdout_has("002");
    let seen = statuses_agree(&project, 1);
    assert_eq!(
        statuses(&seen),
        ["001:applied", "002:pending", "003:pending"]
    );
    assert!(!db.has_relation("t2"));

    // Either tool can then apply what the other rolled back.
    run_python(&project, &["migrate", "up", "--target", "002"]).code(0);
    ours(&project, &["migrate", "up"]).code(0);
    let seen = statuses_agree(&project, 0);
    assert_eq!(
        statuses(&seen),
        ["001:applied", "002:applied", "003:applied"]
    );
    assert!(db.has_relation("t2") && db.has_relation("t3"));
}

/// 001 creates a table; 002 builds an index on it with `CREATE INDEX CONCURRENTLY`, after
/// waiting at the gate (see [`project`]) in a statement of its own.
fn index_project(db: &TestDb) -> Project {
    let project = Project::new();
    project
        .write(
            ENV_FILE,
            format!("name: test\ndatabase_url: {}\n", db.url()),
        )
        .migration(
            "001_create_t",
            "CREATE TABLE t (id int PRIMARY KEY, v int);\n",
            "DROP TABLE t;\n",
        )
        .migration(
            "002_index_t_v",
            "-- confiture:no-transaction\n\
             DO $$ BEGIN\n  WHILE EXISTS (SELECT 1 FROM pause) LOOP PERFORM pg_sleep(0.05); END LOOP;\nEND $$;\n\
             CREATE INDEX CONCURRENTLY t_v ON t (v);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t_v;\n",
        );
    project
}

#[test]
fn our_waiting_runner_does_not_disturb_confiture_s_concurrent_index_build() {
    let db = TestDb::new("interop_cic_py");
    let project = index_project(&db);
    let mut client = db.connect();
    close_gate(&mut client);

    let python_run = spawn(python(&project, &["migrate", "up"]));
    wait_until(
        "confiture (Python) is inside migration 002",
        Duration::from_secs(60),
        || at_gate(&mut client, &db.name),
    );
    let mut waiter = spawn(ours_cmd(&project, &["migrate", "up"]));
    // Long enough for our runner to be polling for the lock, and past deadlock_timeout.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(waiter.try_wait().expect("poll our run").is_none());
    open_gate(&mut client);

    // We poll for the lock between statements, holding no snapshot: the build completes.
    Run::reaped(python_run).code(0);
    Run::reaped(waiter).code(0).stdout_has("up to date");
    let valid: bool = client
        .query_one(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_v'::regclass",
            &[],
        )
        .expect("t_v")
        .get(0);
    assert!(valid);
    statuses_agree(&project, 0);
}

/// A limit of mixing the tools, pinned here so that it is documented (RELIABILITY.md): confiture
/// waits for the lock inside `pg_advisory_lock`, in a transaction, holding a snapshot, and
/// `CREATE INDEX CONCURRENTLY` waits for every older snapshot to go away. PostgreSQL sees the
/// cycle and cancels our build (40P01); we report it with the invalid index to drop.
#[test]
fn a_waiting_confiture_makes_our_concurrent_index_build_fail_as_a_deadlock() {
    let db = TestDb::new("interop_cic_rs");
    let project = index_project(&db);
    let mut client = db.connect();
    close_gate(&mut client);

    let our_run = spawn(ours_cmd(&project, &["migrate", "up", "--allow-non-empty"]));
    wait_until(
        "our run is inside migration 002",
        Duration::from_secs(60),
        || at_gate(&mut client, &db.name),
    );
    let python_run = spawn(python(&project, &["migrate", "up"]));
    // confiture has waited past deadlock_timeout (1 s) when our build starts waiting for it,
    // so the deadlock check that finds the cycle is our build's.
    wait_until(
        "confiture (Python) waits for the lock for 1.5 s",
        Duration::from_secs(60),
        || {
            client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
                     WHERE l.locktype = 'advisory' AND NOT l.granted AND a.datname = $1 \
                     AND clock_timestamp() - a.query_start > interval '1.5 s')",
                    &[&db.name],
                )
                .expect("pg_locks")
                .get(0)
        },
    );
    open_gate(&mut client);

    Run::reaped(our_run)
        .code(4)
        .stderr_has("migration 002_index_t_v failed at ")
        .stderr_has("deadlock detected")
        .stderr_has("index public.t_v was left INVALID by the failed build")
        .stderr_has("`DROP INDEX CONCURRENTLY public.t_v;`");
    // confiture then takes the lock and trips over the invalid index; nothing records 002.
    assert_ne!(Run::reaped(python_run).code, 0);
    assert_eq!(db.ledger(), Some(vec!["001:create_t".into()]));

    client
        .batch_execute("DROP INDEX CONCURRENTLY IF EXISTS t_v")
        .expect("drop the invalid index");
    open_gate(&mut client);
    // Its first statement (the gate) ran: our start marker stays (confiture (Python) does not
    // read it), and ours runs it again only when told to.
    ours(&project, &["migrate", "up"])
        .code(confiture::exit::DIVERGED)
        .stderr_has("migration 002_index_t_v was interrupted");
    ours(&project, &["migrate", "up", "--rerun-interrupted"]).code(0);
    statuses_agree(&project, 0);
}

/// Our `fleet:` block (a target list for our fleet commands) is ignored by confiture, which
/// shares the file: it still migrates the environment's own database.
#[test]
fn confiture_accepts_an_environment_file_with_a_fleet_block() {
    let db = TestDb::new("interop_fleet");
    let project = project(&db, 1, None);
    project.write(
        ENV_FILE,
        format!(
            "name: test\ndatabase_url: {}\nfleet:\n  targets:\n    - tenant_1\n  jobs: 2\n  keep_going: true\n",
            db.url()
        ),
    );
    run_python(&project, &["migrate", "up"]).code(0);
    assert!(db.has_relation("t1"));
}

/// A migration of confiture (Python)'s own kind, `<VERSION>_<NAME>.py`, as `confiture migrate
/// generate` writes it, creating table `tx`.
const PYTHON_MIGRATION: &str = r#"from confiture.models.migration import Migration


class AddX(Migration):
    version = "003"
    name = "add_x"

    def up(self) -> None:
        self.execute("CREATE TABLE tx (id int)")

    def down(self) -> None:
        self.execute("DROP TABLE tx")
"#;

/// A `.py` migration in the shared directory is counted: pending, `up` refuses to run past
/// it (naming it, pointing at confiture); applied by confiture, it is applied, never
/// `missing`, and `reinit` keeps its row. A `.verify.sql` sidecar is confiture's, not a
/// misnamed migration.
#[test]
fn confiture_python_migrations_and_verify_sidecars_are_confiture_s() {
    let db = TestDb::new("interop_py_migration");
    let project = project(&db, 2, None);
    project.write(
        "db/migrations/002_create_t2.verify.sql",
        "SELECT 1 FROM t2;\n",
    );
    run_python(&project, &["migrate", "up"]).code(0);
    ours(&project, &["lint"]).code(0).stderr_lacks("C006");
    ours(&project, &["migrate", "status"])
        .code(0)
        .stderr_lacks("verify.sql");

    project.write("db/migrations/003_add_x.py", PYTHON_MIGRATION);
    project.migration(
        "004_create_t4",
        "CREATE TABLE t4 (id int);\n",
        "DROP TABLE t4;\n",
    );
    let status = ours(&project, &["migrate", "status", "--format", "json"]);
    status.code(1);
    let seen = statuses(&rows(&status.json()));
    assert_eq!(
        seen,
        ["001:applied", "002:applied", "003:python", "004:pending"]
    );
    assert_eq!(status.json()["summary"]["pending"], 2, "{}", status.json());
    ours(&project, &["migrate", "status"])
        .code(1)
        .stdout_has("pending (Python)");
    ours(&project, &["migrate", "up"])
        .code(5)
        .stderr_has("003_add_x.py")
        .stderr_has("confiture migrate up");
    ours(&project, &["migrate", "up", "--target", "002"]).code(0);

    run_python(&project, &["migrate", "up", "--target", "003"]).code(0);
    let status = ours(&project, &["migrate", "status", "--format", "json"]);
    status.code(1);
    assert_eq!(
        statuses(&rows(&status.json())),
        ["001:applied", "002:applied", "003:python", "004:pending"]
    );
    assert_eq!(status.json()["summary"]["applied"], 3, "{}", status.json());
    ours(&project, &["migrate", "status"])
        .code(1)
        .stdout_has("applied (Python)")
        .stdout_lacks("missing");
    ours(&project, &["migrate", "reinit"]).stdout_lacks("forgot");
    ours(&project, &["migrate", "up"]).code(0);
    ours(&project, &["migrate", "status"]).code(0);
    // Rolling it back is confiture's to do.
    ours(&project, &["migrate", "down", "--steps", "2"])
        .code(5)
        .stderr_has("003_add_x.py");
    run_python(&project, &["migrate", "status"]).code(0);
}

/// A lost middle row recorded again by confiture (Python)'s `migrate baseline --through 002`
/// (its slug ends `_baseline`, written after the rows of 003 to 005) records an earlier
/// application: our `down` rolls back 005, 004, 003 and leaves 002, never 002 first under the
/// migrations applied on top of it (h16 F20).
#[test]
fn a_middle_row_confiture_baselined_again_is_rolled_back_in_version_order() {
    let db = TestDb::new("interop_baseline_order");
    let project = project(&db, 5, None);
    ours(&project, &["migrate", "up"]).code(0);
    let mut client = db.connect();
    client
        .batch_execute("DELETE FROM tb_confiture WHERE version = '002'")
        .expect("lose the row of 002");
    run_python(&project, &["migrate", "baseline", "--through", "002"]).code(0);
    let last: String = client
        .query_one(
            "SELECT version || ' ' || slug FROM tb_confiture ORDER BY pk_confiture DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        last.starts_with("002 ") && last.ends_with("_baseline"),
        "{last}"
    );
    let down = ours(
        &project,
        &["migrate", "down", "--steps", "3", "--format", "json"],
    );
    down.code(0);
    assert_eq!(
        down.json()["rolled_back"],
        serde_json::json!(["005", "004", "003"]),
        "{}",
        down.json()
    );
    let tables: Vec<String> = client
        .query(
            "SELECT tablename::text FROM pg_tables WHERE tablename LIKE 't_' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tables, ["t1", "t2"]);
}

/// confiture (Python)'s `migrate squash` baseline, run on a database that applied what it
/// squashed, fails on objects that exist: the help says what the file is and how to record it
/// without running it, not to fix a generated file.
#[test]
fn a_failed_confiture_squashed_baseline_is_explained() {
    let db = TestDb::new("interop_squashed_baseline");
    let project = project(&db, 3, None);
    ours(&project, &["migrate", "up"]).code(0);
    project.migration(
        "004_squashed_baseline",
        "-- confiture:squashed-baseline through=003 versions=3 digest=abc\n\
         CREATE TABLE t1 (id int PRIMARY KEY);\n",
        "SELECT 1;\n",
    );
    ours(&project, &["migrate", "up"])
        .code(4)
        .stderr_has("squashed baseline")
        .stderr_has("confiture migrate squash-ledger")
        .stderr_lacks("migrate baseline --through 004")
        .stderr_lacks("help: fix");
    ours(&project, &["migrate", "baseline", "--through", "004"]).code(0);
    ours(&project, &["migrate", "status"]).code(0);
}

/// confiture's generator marks a data-losing migration `-- confiture:destructive`, and its
/// `migrate up` refuses it (exit 5) without `--allow-destructive`: we refuse it the same way,
/// before anything runs (a dry run too), wherever confiture reads the directive — any `--` line,
/// any case — and apply it only with the flag.
#[test]
fn a_migration_confiture_gates_as_destructive_is_refused_by_both_tools_without_the_flag() {
    let db = TestDb::new("fixgate_destructive");
    let project = project(&db, 1, None);
    run_python(&project, &["migrate", "up"]).code(0);
    let gates = [
        ("002_drop_t1", "-- confiture:destructive\nDROP TABLE t1;\n"),
        (
            "002_drop_t1",
            "SELECT 1;\n-- CONFITURE:Destructive the rows go\nDROP TABLE t1;\n",
        ),
    ];
    for (id, up) in gates {
        project.migration(id, up, "CREATE TABLE t1 (id int PRIMARY KEY);\n");
        run_python(&project, &["migrate", "up"])
            .code(5)
            .stderr_has("002_drop_t1.up.sql");
        for args in [&["migrate", "up"][..], &["migrate", "up", "--dry-run"]] {
            ours(&project, args)
                .code(5)
                .stderr_has("002_drop_t1.up.sql")
                .stderr_has("--allow-destructive");
        }
        assert!(db.has_relation("t1"), "nothing ran: {up}");
        assert_eq!(
            statuses(&statuses_agree(&project, 1)),
            ["001:applied", "002:pending"]
        );
    }
    // Lint does not call confiture's directive unknown.
    project
        .run(&["lint"])
        .code(0)
        .stdout_lacks("C190")
        .stderr_lacks("C190");
    ours(&project, &["migrate", "up", "--allow-destructive"]).code(0);
    assert!(!db.has_relation("t1"));
    assert_eq!(
        statuses(&statuses_agree(&project, 0)),
        ["001:applied", "002:applied"]
    );
}

/// confiture matches a ledger row to its file by the version's text: a file renamed from `01_x`
/// to `001_x` after it ran (the rename C006 asks for) is pending for confiture, which would run
/// it again. Our status says so (text and JSON) and points at `migrate reinit`, which rewrites
/// the rows' spelling; confiture then sees them applied too.
#[test]
fn a_row_spelled_unlike_its_file_is_reported_until_reinit_rewrites_it() {
    let db = TestDb::new("fixgate_respelled");
    let project = Project::new();
    project.write(
        ENV_FILE,
        format!("name: test\ndatabase_url: {}\n", db.url()),
    );
    project.migration(
        "01_mk_t1",
        "CREATE TABLE t1 (id int);\n",
        "DROP TABLE t1;\n",
    );
    run_python(&project, &["migrate", "up"]).code(0);
    // The rename our lint asks for; its help says to run reinit afterwards.
    ours(&project, &["migrate", "status"])
        .stderr_has("001_mk_t1.up.sql")
        .stderr_has("migrate reinit");
    let dir = project.root.join("db/migrations");
    for half in ["up", "down"] {
        std::fs::rename(
            dir.join(format!("01_mk_t1.{half}.sql")),
            dir.join(format!("001_mk_t1.{half}.sql")),
        )
        .unwrap();
    }
    let status = ours(&project, &["migrate", "status", "--format", "json"]);
    assert_eq!(status.json()["respelled"], serde_json::json!(["001"]));
    assert_eq!(status.json()["summary"]["respelled"], 1);
    ours(&project, &["migrate", "status"])
        .stderr_has("spells the version")
        .stderr_has("migrate reinit");
    ours(&project, &["migrate", "reinit"]).code(0);
    let status = ours(&project, &["migrate", "status", "--format", "json"]);
    status.code(0);
    assert_eq!(status.json()["respelled"], serde_json::json!([]));
    run_python(&project, &["migrate", "up"]).code(0);
    assert_eq!(statuses(&statuses_agree(&project, 0)), ["001:applied"]);
}

/// confiture (Python) reads environment files with PyYAML (YAML 1.1), which makes numbers,
/// booleans and dates of unquoted values that are text to us (`password: 0123` is the octal 83
/// there): the two tools logged in with different passwords. Over every short value written
/// with the characters that make YAML 1.1 numbers, and the words and dates it reads, our
/// `password` is what confiture hands to libpq (`str()` of PyYAML's value), or refused — and
/// refused for that reason only when PyYAML reads it otherwise.
#[test]
fn an_unquoted_password_is_the_same_to_both_tools_or_refused() {
    let alphabet = ['0', '1', '9', '_', '.', ':', '+', '-', 'e', 'x', 'b', 'E'];
    let mut values: Vec<String> = Vec::new();
    let mut frontier = vec![String::new()];
    for _ in 0..4 {
        let mut next = Vec::new();
        for prefix in &frontier {
            for c in alphabet {
                next.push(format!("{prefix}{c}"));
            }
        }
        values.extend(next.iter().cloned());
        frontier = next;
    }
    for word in [
        "yes",
        "No",
        "ON",
        "off",
        "True",
        "false",
        "y",
        "n",
        "~",
        "null",
        "NULL",
        ".inf",
        "-.INF",
        ".NaN",
        "0o17",
        "0x1F",
        "0x_",
        "12_345",
        "1:30",
        "190:20:30.15",
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "2001-12-14 21:59:43.10",
        "2001-1-4 1:02:03",
        "2002-12-14T21:59:43Z",
        "=",
        "<<",
        "s3cret",
    ] {
        values.push(word.to_string());
    }
    let script = "import sys, yaml, json\n\
        for t in sys.stdin.read().split('\\n'):\n\
        \x20   try:\n\
        \x20       v = yaml.safe_load('password: ' + t)\n\
        \x20       v = v['password'] if isinstance(v, dict) else None\n\
        \x20       out = None if v is None else str(v)\n\
        \x20       print(json.dumps([t, 'ok', out]))\n\
        \x20   except Exception:\n\
        \x20       print(json.dumps([t, 'error', None]))\n";
    let python = python_confiture().with_file_name("python");
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    let input = values.join("\n");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(input.as_bytes()).unwrap();
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success(), "PyYAML's run failed");
    let lines = String::from_utf8(output.stdout).unwrap();
    let no_vars = |_: &str| None;
    let (mut agreed, mut refused) = (0, 0);
    for line in lines.lines() {
        let (text, outcome, python): (String, String, Option<String>) =
            serde_json::from_str(line).unwrap();
        if outcome == "error" {
            continue; // confiture cannot read such a file at all: nothing silent
        }
        let file = format!("database:\n  host: h\n  password: {text}\n");
        match confiture::config::Environment::parse(&file, std::path::Path::new("x.yaml"), &no_vars)
        {
            Ok(env) => {
                assert_eq!(
                    env.connection.password, python,
                    "`password: {text}`: ours {:?}, confiture's {python:?}",
                    env.connection.password
                );
                agreed += 1;
            }
            Err(e) => {
                if e.message.contains("YAML 1.1") {
                    assert_ne!(
                        python.as_deref(),
                        Some(text.as_str()),
                        "`password: {text}` refused, but PyYAML reads it as written: {e}"
                    );
                }
                refused += 1;
            }
        }
    }
    assert!(
        agreed > 10_000 && refused > 500,
        "{agreed} agreed, {refused} refused"
    );
}

/// confiture (Python)'s `migrate baseline` takes no migration lock: run while we apply 002, it
/// records 002 itself, and our ledger row for 002 then breaks the table's unique constraint on
/// `version`. That was reported as 002's own SQL writing the ledger ("remove the write to
/// tb_confiture from 002_create_t2.up.sql", exit 4): blamed on a file that does no such thing.
/// It is what it is: the row for 002 was written by another session during the run (exit 7,
/// `MigrationFailure::concurrent_row`), naming the constraint and the row there now; nothing
/// of 002 committed (its table absent, the row the other session's), 003 not attempted.
#[test]
fn a_ledger_row_written_by_confiture_during_our_run_is_reported_as_such() {
    let db = TestDb::new("interop_race");
    let project = project(&db, 3, Some(2));
    let mut client = db.connect();
    close_gate(&mut client);

    // The gate's table is there before the first `up`: the database is not new.
    let our_run = spawn(ours_cmd(&project, &["migrate", "up", "--allow-non-empty"]));
    wait_until(
        "our run is inside migration 002",
        Duration::from_secs(60),
        || at_gate(&mut client, &db.name),
    );
    // Lock-less: it records 002 (001 is ours, committed) while we hold the lock.
    run_python(&project, &["migrate", "baseline", "--through", "002"]).code(0);
    open_gate(&mut client);
    let run = Run::reaped(our_run);
    run.code(7)
        .stderr_has("was written by another session")
        .stderr_has("tb_confiture_version_key")
        .stderr_has("nothing of 002_create_t2 was committed")
        .stderr_has("_baseline");
    assert!(
        !run.stderr.contains("remove the write"),
        "blamed on the file: {}",
        run.stderr
    );
    let tables: Vec<String> = client
        .query(
            "SELECT tablename::text FROM pg_tables WHERE tablename IN ('t1', 't2', 't3') \
             ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tables, ["t1"], "002's SQL rolled back, 003 not attempted");
    let slug: String = client
        .query_one("SELECT slug FROM tb_confiture WHERE version = '002'", &[])
        .unwrap()
        .get(0);
    assert!(slug.ends_with("_baseline"), "{slug}");

    // The same in JSON: a `diverged` error on 002, 003 not attempted.
    let db = TestDb::new("interop_race_json");
    let project = project_with(&db);
    let mut client = db.connect();
    close_gate(&mut client);
    let our_run = spawn(ours_cmd(
        &project,
        &["migrate", "up", "--allow-non-empty", "--format", "json"],
    ));
    wait_until(
        "our run is inside migration 002",
        Duration::from_secs(60),
        || at_gate(&mut client, &db.name),
    );
    run_python(&project, &["migrate", "baseline", "--through", "002"]).code(0);
    open_gate(&mut client);
    let run = Run::reaped(our_run);
    run.code(7);
    let error = &run.json()["errors"][0];
    assert_eq!(error["kind"], "diverged", "{error}");
    assert_eq!(error["version"], "002", "{error}");
    assert_eq!(
        error["not_attempted"],
        serde_json::json!(["003"]),
        "{error}"
    );
}

/// [`project`] with 3 migrations, 002 gated.
fn project_with(db: &TestDb) -> Project {
    project(db, 3, Some(2))
}

/// What confiture keeps for itself beside its ledger — the `<ledger>_steps` table its `status`
/// creates with the ledger, the `confiture_lock_holder` table and the `confiture` schema of
/// view helpers its `up` creates — is no schema "built by other means": a database where
/// confiture only ran `status`, or applied and rolled back every migration, was refused by our
/// `up` (exit 7, "already holds 1 object (table public.tb_confiture_steps)"), and `status`
/// advised a baseline; confiture's own `up` runs them.
#[test]
fn confiture_s_bookkeeping_beside_an_empty_ledger_is_no_unrecorded_schema() {
    let db = TestDb::new("interop_bookkeeping");
    let project = project(&db, 2, None);
    let unrecorded = |project: &Project| {
        ours(project, &["migrate", "status", "--format", "json"])
            .code(1)
            .json()["unrecorded"]
            .clone()
    };

    run_python(&project, &["migrate", "status"]);
    assert!(db.has_relation("tb_confiture_steps"));
    assert_eq!(unrecorded(&project), Value::Null);
    ours(&project, &["migrate", "up", "--dry-run"]).code(0);

    run_python(&project, &["migrate", "up"]).code(0);
    run_python(&project, &["migrate", "down", "--steps", "2"]).code(0);
    assert_eq!(db.ledger(), Some(vec![]));
    assert!(db.has_relation("confiture_lock_holder"));
    assert!(db.has_relation("confiture.saved_views"));
    assert_eq!(unrecorded(&project), Value::Null);

    ours(&project, &["migrate", "up"])
        .code(0)
        .stdout_has("applied 2 migrations");
    statuses_agree(&project, 0);
}

/// rnm: confiture runs `002-dash.up.sql` (its version `002-dash`, a name we refuse: C006);
/// renamed to `002_dash.up.sql`, the file has the row's checksum: ours says `renumbered`
/// (never `missing` and `pending`), `up` refuses and writes nothing, and `reinit` records the
/// new version so that the next `up` runs nothing (the row it inserted is there once).
#[test]
fn a_migration_confiture_ran_under_a_name_we_refuse_never_runs_twice_once_renamed() {
    let db = TestDb::new("interop_rnm");
    let project = project(&db, 1, None);
    let dir = "db/migrations";
    project.write(
        &format!("{dir}/002-dash.up.sql"),
        "INSERT INTO t1 VALUES (2);\n",
    );
    project.write(
        &format!("{dir}/002-dash.down.sql"),
        "DELETE FROM t1 WHERE id = 2;\n",
    );
    run_python(&project, &["migrate", "up"]).code(0);
    let count = || -> i64 {
        db.connect()
            .query_one("SELECT count(*) FROM t1 WHERE id = 2", &[])
            .expect("count")
            .get(0)
    };
    assert_eq!(count(), 1);
    for kind in ["up", "down"] {
        std::fs::rename(
            project.path(&format!("{dir}/002-dash.{kind}.sql")),
            project.path(&format!("{dir}/002_dash.{kind}.sql")),
        )
        .expect("rename");
    }
    let before = db.ledger();

    ours(&project, &["migrate", "status"])
        .code(confiture::exit::DIVERGED)
        .stdout_has("! renumbered")
        .stdout_lacks("! missing")
        .stdout_lacks("✗ pending")
        .stderr_has("`002_dash` ran as 002-dash");
    ours(&project, &["migrate", "up"]).code(confiture::exit::DIVERGED);
    assert_eq!(db.ledger(), before);
    ours(&project, &["migrate", "reinit"]).code(confiture::exit::SUCCESS);
    ours(&project, &["migrate", "up"]).code(confiture::exit::SUCCESS);
    ours(&project, &["migrate", "status"]).code(confiture::exit::SUCCESS);
    assert_eq!(count(), 1);
}

/// confiture (Python)'s `migrate squash` moves the squashed files to `archive/` and writes a
/// baseline; its `migrate up` then records that baseline without running it and marks the
/// squashed rows `archived_into` it — rows it never shows, checks or rolls back again. We read
/// them as part of a squashed history, whether or not `first_version` says so yet: never
/// `missing`, kept by `reinit` as they are (the marks intact), and the Python tool still sees
/// its squash after ours ran.
#[test]
fn rows_confiture_squash_archived_are_squashed_never_missing_nor_forgotten() {
    let db = TestDb::new("interop_squash_archived");
    let project = squashed_by_python(&db, true);
    let mut client = db.connect();
    let ledger = |client: &mut postgres::Client| -> Vec<String> {
        client
            .query(
                "SELECT version || ':' || coalesce(archived_into, '-') FROM tb_confiture \
                 ORDER BY version",
                &[],
            )
            .expect("the ledger's archive marks")
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let archived = ["001:004", "002:004", "003:004", "004:-"];
    assert_eq!(
        ledger(&mut client),
        archived,
        "what confiture's squash wrote"
    );
    let theirs = run_python(&project, &["migrate", "status", "--format", "json"]);
    theirs.code(0);
    assert_eq!(statuses(&rows(&theirs.json())), ["004:applied"]);

    // Without `first_version` the directory starts at the baseline, after the version its
    // header says it squashed through (it was C005, exit 5, until `first_version` said so):
    // the rows are squashed, none missing.
    ours(&project, &["lint"]).code(0).stderr_lacks("C005");
    let status = ours(&project, &["migrate", "status", "--format", "json"]);
    status.code(0);
    let json = status.json();
    assert_eq!(
        statuses(&rows(&json)),
        [
            "001:squashed",
            "002:squashed",
            "003:squashed",
            "004:applied"
        ],
        "{json}"
    );
    assert_eq!(json["summary"]["missing"], 0, "{json}");
    assert_eq!(json["summary"]["squashed"], 3, "{json}");
    ours(&project, &["migrate", "reinit", "--dry-run"])
        .code(0)
        .stdout_lacks("forget");
    ours(&project, &["migrate", "reinit"]).code(0);
    assert_eq!(
        ledger(&mut client),
        archived,
        "reinit kept confiture's squash"
    );

    // With `first_version` at the baseline, both tools report one clean history.
    project.write(
        "Cargo.toml",
        "[workspace]\nmembers = []\n\n[workspace.metadata.confiture]\nfirst_version = 4\n",
    );
    ours(&project, &["migrate", "status"])
        .code(0)
        .stdout_has("squashed");
    ours(&project, &["migrate", "reinit"]).code(0);
    assert_eq!(ledger(&mut client), archived);
    run_python(&project, &["migrate", "status"]).code(0);
    // A rollback reaching the archived rows is refused: their files are gone.
    let down = ours(
        &project,
        &["migrate", "down", "--steps", "2", "--format", "json"],
    );
    down.code(8);
    let refused = &down.json()["errors"][0]["irreversible"];
    // The baseline first: confiture's squashed baseline cannot be rolled back either.
    assert_eq!(
        refused[0]["migration"],
        "004_squashed_baseline",
        "{}",
        down.dump()
    );
    let refused = &refused[1];
    assert_eq!(refused["reason"], "squashed", "{}", down.dump());
    assert_eq!(refused["migration"], "003_create_t3", "{}", down.dump());
    assert_eq!(refused["archived_into"], "004", "{}", down.dump());
    down.stderr_has("archived into the squashed baseline 004");
    assert_eq!(ledger(&mut client), archived, "{}", down.dump());
}

/// A project of three migrations that ours applied, then confiture (Python)'s `migrate squash
/// --through 003` squashed into `004_squashed_baseline` (001-003 moved to `archive/`) and, when
/// `recorded`, its `migrate up` recorded, marking the three rows `archived_into` 004.
fn squashed_by_python(db: &TestDb, recorded: bool) -> Project {
    let project = project(db, 3, None);
    // `migrate squash` asks every environment (whose file it reads whole) and dates the cut.
    project.write(
        ENV_FILE,
        format!(
            "name: test\ndatabase_url: {}\ninclude_dirs: [db/schema]\n",
            db.url()
        ),
    );
    project.write("db/schema/.keep", "");
    project.write("db/project.yaml", "squash:\n  min_age_days: 0\n");
    ours(&project, &["migrate", "up"]).code(0);
    run_python(&project, &["migrate", "squash", "--through", "003"]).code(0);
    if recorded {
        run_python(&project, &["migrate", "up"]).code(0);
    }
    let baseline = std::fs::read_to_string(
        project
            .root
            .join("db/migrations/004_squashed_baseline.up.sql"),
    )
    .expect("confiture's squashed baseline");
    assert!(
        baseline.starts_with("-- confiture:squashed-baseline through=003 "),
        "{baseline}"
    );
    project
}

/// The `-- confiture:squashed-baseline through=N ...` header confiture (Python)'s `migrate
/// squash` writes is its marker, not an unknown one (C190), and the baseline it heads cannot be
/// rolled back (its down file always raises): `verify` treats it as an irreversible migration
/// (it failed, exit 4, rolling the baseline back on its scratch database), `down` refuses it
/// (exit 8) naming it as confiture's squashed baseline, as Python's own `migrate down` does.
#[test]
fn confiture_s_squashed_baseline_is_a_known_marker_and_irreversible() {
    let db = TestDb::new("interop_squash_baseline_irreversible");
    let project = squashed_by_python(&db, true);
    project.write(
        "Cargo.toml",
        "[workspace]\nmembers = []\n\n[workspace.metadata.confiture]\nfirst_version = 4\n",
    );
    let lint = ours(&project, &["lint"]);
    lint.stderr_lacks("C190").stdout_lacks("C190");
    ours(&project, &["migrate", "status"]).code(0);
    ours(&project, &["migrate", "verify"])
        .code(0)
        .stderr_lacks("failed");
    let before = db.ledger();
    let down = ours(&project, &["migrate", "down", "--format", "json"]);
    down.code(confiture::exit::IRREVERSIBLE);
    let refused = &down.json()["errors"][0]["irreversible"][0];
    assert_eq!(refused["reason"], "irreversible", "{}", down.dump());
    assert_eq!(
        refused["migration"],
        "004_squashed_baseline",
        "{}",
        down.dump()
    );
    down.stderr_has("squashed baseline");
    down.stderr_lacks("is marked `-- confiture:irreversible`");
    assert_eq!(db.ledger(), before, "{}", down.dump());
}

/// Our `up` on a database that applied what confiture (Python)'s `migrate squash` squashed,
/// before confiture recorded the baseline there, fails on the objects the baseline creates. Its
/// help said to record it with our `migrate baseline --through 004`, which records the baseline
/// but does not mark the squashed rows `archived_into` it as confiture does: confiture's
/// `squash-ledger` does both, and after it both tools see one squashed history.
#[test]
fn a_failed_confiture_squashed_baseline_suggests_confiture_s_squash_ledger() {
    let db = TestDb::new("interop_squash_ledger_help");
    let project = squashed_by_python(&db, false);
    project.write(
        "Cargo.toml",
        "[workspace]\nmembers = []\n\n[workspace.metadata.confiture]\nfirst_version = 4\n",
    );
    let before = db.ledger();
    let up = ours(&project, &["migrate", "up"]);
    up.code(confiture::exit::MIGRATION_FAILED)
        .stderr_has("confiture migrate squash-ledger")
        .stderr_lacks("migrate baseline --through");
    assert_eq!(db.ledger(), before, "{}", up.dump());
    // What the help says, done with the Python tool.
    run_python(&project, &["migrate", "squash-ledger"]).code(0);
    let archived: Vec<String> = (db.connect())
        .query(
            "SELECT version || ':' || coalesce(archived_into, '-') FROM tb_confiture \
             ORDER BY version",
            &[],
        )
        .expect("the ledger's archive marks")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(archived, ["001:004", "002:004", "003:004", "004:-"]);
    ours(&project, &["migrate", "status"]).code(0);
    ours(&project, &["migrate", "up"]).code(0);
    run_python(&project, &["migrate", "status"]).code(0);
}

/// The `confiture migrate squash-ledger ...` a help suggests, as printed (shell syntax).
fn suggested_squash_ledger(stderr: &str) -> String {
    let start = stderr
        .find("`confiture migrate squash-ledger")
        .unwrap_or_else(|| panic!("no squash-ledger suggested: {stderr}"));
    let rest = &stderr[start + 1..];
    rest[..rest.find('`').expect("the suggestion's end")].to_string()
}

/// Runs a suggested confiture (Python) command line as printed, in a shell, in the project.
fn paste_python(project: &Project, suggested: &str) -> Run {
    let args = suggested
        .strip_prefix("confiture ")
        .unwrap_or_else(|| panic!("not a confiture command: {suggested}"));
    let mut bash = Command::new("bash");
    bash.current_dir(&project.root)
        .arg("-c")
        .arg(format!("'{}' {args}", python_confiture().display()))
        .env("COLUMNS", "200")
        .env("NO_COLOR", "1")
        .env_remove("DATABASE_URL")
        .env_remove("CONFITURE_DATABASE_URL");
    Run::of(&mut bash)
}

/// hsq 4: the help of a failed squashed baseline said to run `confiture migrate squash-ledger
/// --config <this environment's YAML file>`, a placeholder, though the run read a file (`--env`,
/// `-c`) that confiture (Python) reads as well. It names that file, quoted for a shell, so that
/// the command works pasted; a run that read none (`--database-url`) says to write one.
#[test]
fn the_squash_ledger_help_names_the_environment_file_the_run_read() {
    let db = TestDb::new("interop_squash_ledger_config");
    let project = squashed_by_python(&db, false);
    let before = db.ledger();
    let by_url = project.run_on(&db, &["migrate", "up"]);
    by_url
        .code(confiture::exit::MIGRATION_FAILED)
        .stderr_has("reads the database only from an environment file")
        .stderr_has("`database_url: <this database's URL>`")
        .stderr_has("`confiture migrate squash-ledger -c <that file>`")
        .stderr_lacks("migration.tracking_table")
        .stderr_lacks("YAML file>");
    // `-c` with a path a shell must quote, and `--env`.
    project.write("conf/the env.yaml", project.read(ENV_FILE));
    let with_c = project.run(&["migrate", "up", "-c", "conf/the env.yaml"]);
    with_c.code(confiture::exit::MIGRATION_FAILED);
    assert_eq!(
        suggested_squash_ledger(&with_c.stderr),
        "confiture migrate squash-ledger -c 'conf/the env.yaml'",
        "{}",
        with_c.dump()
    );
    let up = ours(&project, &["migrate", "up"]);
    up.code(confiture::exit::MIGRATION_FAILED);
    let suggested = suggested_squash_ledger(&up.stderr);
    assert_eq!(
        suggested,
        "confiture migrate squash-ledger -c db/environments/test.yaml",
        "{}",
        up.dump()
    );
    assert_eq!(db.ledger(), before);
    // Migrations elsewhere than confiture (Python)'s default, in a directory a shell must
    // quote: the command names it, in the words every confiture (Python) command gets.
    std::fs::rename(
        project.root.join("db/migrations"),
        project.root.join("sql dir"),
    )
    .expect("move the migrations");
    let elsewhere = ours(&project, &["migrate", "up", "--migrations-dir", "sql dir"]);
    elsewhere.code(confiture::exit::MIGRATION_FAILED);
    let suggested = suggested_squash_ledger(&elsewhere.stderr);
    assert_eq!(
        suggested,
        "confiture migrate squash-ledger -c db/environments/test.yaml --migrations-dir 'sql dir'",
        "{}",
        elsewhere.dump()
    );
    // Pasted as printed, it records the baseline.
    paste_python(&project, &suggested).code(0);
    ours(
        &project,
        &["migrate", "status", "--migrations-dir", "sql dir"],
    )
    .code(0);
}

/// hsq 1: on a database that applied 001-003 before confiture (Python) recorded its squashed
/// baseline 004 there, `down --target 3` exited 8 ("below 004_squashed_baseline") although the
/// database is at 3 already: nothing to roll back (exit 0), as for any target at or above the
/// current version. A target that would roll back a version squashed into the baseline, or the
/// baseline once recorded, is still refused (exit 8) naming it; the baseline's help is its own.
#[test]
fn a_target_below_an_unrecorded_squashed_baseline_is_a_no_op_until_it_crosses_it() {
    let db = TestDb::new("interop_squash_unrecorded_down");
    let project = squashed_by_python(&db, false);
    let before = db.ledger();
    for args in [
        &["migrate", "down", "--target", "3"][..],
        &["migrate", "down", "--target", "003", "--yes"],
        &["migrate", "down", "--target", "3", "--dry-run"],
    ] {
        let run = ours(&project, args);
        run.code(0).stderr_lacks("refusing");
        assert_eq!(db.ledger(), before, "{args:?}: {}", run.dump());
    }
    for args in [
        &["migrate", "down", "--target", "2"][..],
        &["migrate", "down", "--target", "0", "--yes"],
        &["migrate", "down", "--target", "0"],
    ] {
        let run = ours(&project, args);
        run.code(confiture::exit::IRREVERSIBLE)
            .stderr_has("004_squashed_baseline")
            .stderr_has("through 003")
            // r3d 3: not recorded, the rows are not archived into it yet.
            .stderr_lacks("archived into it")
            .stderr_has("not recorded here yet");
        assert_eq!(db.ledger(), before, "{args:?}: {}", run.dump());
    }
    // r3d 2: `--steps` beyond the squashed rows reaches only rows that cannot be rolled back:
    // refused for that (exit 8), as `down` and `--target 0 --yes` are, never asked `--yes`.
    for args in [
        &["migrate", "down", "--steps", "10"][..],
        &["migrate", "down", "--steps", "10", "--yes"],
        &["migrate", "down"],
    ] {
        let run = ours(&project, args);
        run.code(confiture::exit::IRREVERSIBLE)
            .stderr_has("004_squashed_baseline")
            .stderr_has("nothing to roll back")
            .stderr_lacks("more than the")
            .stderr_lacks("snapshot");
        assert_eq!(db.ledger(), before, "{args:?}: {}", run.dump());
    }
    // Recorded, the baseline is crossed by `--target 3`, refused with its own help.
    run_python(&project, &["migrate", "squash-ledger"]).code(0);
    let recorded = db.ledger();
    for args in [
        &["migrate", "down", "--target", "3"][..],
        &["migrate", "down"],
        &["migrate", "down", "--steps", "9"],
    ] {
        let run = ours(&project, args);
        run.code(confiture::exit::IRREVERSIBLE)
            .stderr_has("004_squashed_baseline is confiture (Python)'s squashed baseline")
            .stderr_has("restore the database from a backup")
            .stderr_lacks("undo its effect");
        assert_eq!(db.ledger(), recorded, "{args:?}: {}", run.dump());
    }
}

/// A directory whose lowest migration is confiture (Python)'s squashed baseline through 003
/// starts at 004 without `first_version`, for every command that reads it: `lint` and `status`
/// exited 5 (C005, "set `first_version = 4`"). On a database that applied 001-003 before the
/// baseline was recorded there, those rows are the squashed history (as with the setting), not
/// `missing`; once confiture recorded the baseline, everything is applied.
#[test]
fn a_directory_starting_at_confiture_s_squashed_baseline_needs_no_first_version() {
    let db = TestDb::new("interop_squash_start");
    let project = squashed_by_python(&db, false);
    // Nor is the `archive/` it moved them to a stray subdirectory (C012).
    ours(&project, &["lint"])
        .code(0)
        .stderr_lacks("C005")
        .stderr_lacks("C012")
        .stdout_lacks("C012");
    let status = ours(&project, &["migrate", "status", "--format", "json"]);
    status.code(confiture::exit::PENDING);
    let json = status.json();
    assert_eq!(
        statuses(&rows(&json)),
        [
            "001:squashed",
            "002:squashed",
            "003:squashed",
            "004:pending"
        ],
        "{json}"
    );
    assert_eq!(json["summary"]["missing"], 0, "{json}");
    run_python(&project, &["migrate", "squash-ledger"]).code(0);
    ours(&project, &["migrate", "status"]).code(0);
    ours(&project, &["migrate", "up"]).code(0);
    // A fresh database applies the baseline, the only migration its history has.
    let fresh = TestDb::new("interop_squash_start_fresh");
    project.run_on(&fresh, &["migrate", "up"]).code(0);
    assert_eq!(
        fresh.ledger().map(|rows| rows.len()),
        Some(1),
        "the baseline alone"
    );
    project.run_on(&fresh, &["migrate", "status"]).code(0);
}

/// hrb: on a directory starting at confiture (Python)'s squashed baseline 004 (through 003),
/// `down --target 3` (or 0) said "first_version 4 ... back to the schema snapshot" and asked for
/// `--yes` (exit 64), although nobody set `first_version` and there is no schema snapshot:
/// `migrate squash` archived 001-003 into the baseline, whose down file always raises. Every
/// text of `up` and `down` that reaches below the baseline now says that, and a `--target`
/// below it is refused as the baseline is (exit 8, `--yes` or not, nothing rolled back). With
/// `first_version = 4` set, there is still no schema snapshot.
#[test]
fn a_target_below_confiture_s_squashed_baseline_names_the_baseline_not_a_snapshot() {
    let db = TestDb::new("interop_squash_below_baseline");
    let project = squashed_by_python(&db, true);
    let before = db.ledger();
    for setting in [false, true] {
        if setting {
            project.write(
                "Cargo.toml",
                "[workspace]\nmembers = []\n\n[workspace.metadata.confiture]\nfirst_version = 4\n",
            );
        }
        let below = [
            &["migrate", "down", "--target", "3"][..],
            &["migrate", "down", "--target", "003", "--yes"],
            &["migrate", "down", "--target", "0"],
            &["migrate", "down", "--target", "0", "--yes"],
            &["migrate", "down", "--target", "1", "--dry-run"],
        ];
        for args in below {
            let run = ours(&project, args);
            run.code(confiture::exit::IRREVERSIBLE)
                .stderr_has("004_squashed_baseline")
                .stderr_has("through 003")
                .stderr_has("cannot be rolled back")
                .stderr_lacks("schema snapshot");
            if !setting {
                run.stderr_lacks("first_version");
            }
            assert_eq!(db.ledger(), before, "{setting} {args:?}: {}", run.dump());
        }
        let json = ours(
            &project,
            &["migrate", "down", "--target", "3", "--format", "json"],
        );
        json.code(confiture::exit::IRREVERSIBLE);
        let refused = &json.json()["errors"][0]["irreversible"][0];
        assert_eq!(
            refused["migration"],
            "004_squashed_baseline",
            "{}",
            json.dump()
        );
        // What else reaches below it says so too.
        for args in [
            &["migrate", "down", "--steps", "5"][..],
            &["migrate", "down", "--steps", "2"],
        ] {
            let run = ours(&project, args);
            run.stderr_has("004_squashed_baseline")
                .stderr_lacks("schema snapshot");
            if !setting {
                run.stderr_lacks("first_version");
            }
            assert_eq!(db.ledger(), before, "{setting} {args:?}: {}", run.dump());
        }
        let up = ours(&project, &["migrate", "up", "--target", "2"]);
        up.code(confiture::exit::USAGE)
            .stderr_has("004_squashed_baseline")
            .stderr_has("through 003")
            .stderr_lacks("schema snapshot");
        if !setting {
            up.stderr_lacks("first_version");
        }
    }
}

/// Whether confiture (Python)'s online runner is inside the backfill stage of `version`: its
/// checkpoint says `running`.
fn backfilling(client: &mut postgres::Client, version: &str) -> bool {
    client
        .query_one("SELECT to_regclass('tb_confiture_steps') IS NOT NULL", &[])
        .expect("to_regclass")
        .get::<_, bool>(0)
        && client
            .query_one(
                "SELECT EXISTS (SELECT FROM tb_confiture_steps WHERE migration = $1 \
                 AND stage = 'backfill' AND state = 'running')",
                &[&version],
            )
            .expect("tb_confiture_steps")
            .get(0)
}

/// confiture (Python)'s online run (`migrate up --online`) killed mid-backfill leaves its
/// checkpoints (`tb_confiture_steps`), a `<column>__new` column and a dual-write trigger, and
/// no ledger row: every command of ours that reads the ledger refuses it (exit 7) naming the
/// Python tool's `migrate steps`, writes nothing, and runs nothing; once the Python tool has
/// resumed it, the history is one again.
#[test]
fn an_online_run_confiture_left_unfinished_is_refused_until_it_is_resumed() {
    let db = TestDb::new("interop_online");
    let project = Project::new();
    project
        .write(
            ENV_FILE,
            format!(
                "name: test\ndatabase_url: {}\nmigration:\n  backfill:\n    batch_size: 50\n",
                db.url()
            ),
        )
        .migration(
            "001_create_a",
            "CREATE TABLE a (id int, f2 int NOT NULL DEFAULT 0);\n\
             INSERT INTO a SELECT g, g FROM generate_series(1, 200000) g;\n",
            "DROP TABLE a;\n",
        );
    ours(&project, &["migrate", "up"]).code(0);
    project.migration(
        "002_widen_f2",
        "ALTER TABLE a ALTER COLUMN f2 TYPE bigint;\n",
        "ALTER TABLE a ALTER COLUMN f2 TYPE int;\n",
    );
    let mut client = db.connect();
    let mut online = spawn(python(&project, &["migrate", "up", "--online"]));
    wait_until(
        "confiture (Python) is backfilling migration 002",
        Duration::from_secs(120),
        || backfilling(&mut client, "002"),
    );
    online.kill().expect("kill confiture (Python)");
    let _ = online.wait();
    assert!(backfilling(&mut client, "002"), "killed mid-backfill");
    let ledger = db.ledger();
    assert_eq!(ledger, Some(vec!["001:create_a".into()]));

    for args in [
        &["migrate", "status"][..],
        &["migrate", "up"],
        &["migrate", "up", "--dry-run"],
        &["migrate", "down"],
    ] {
        ours(&project, args)
            .code(confiture::exit::DIVERGED)
            .stderr_has("migration 002 was started by confiture (Python)'s online runner")
            .stderr_has("backfill (running)")
            .stderr_has("confiture migrate steps --resume 002");
        assert_eq!(db.ledger(), ledger, "{args:?} wrote nothing");
    }
    let widened: String = client
        .query_one(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = 'a'::regclass AND attname = 'f2'",
            &[],
        )
        .expect("a.f2")
        .get(0);
    assert_eq!(widened, "integer", "our up ran nothing");

    run_python(
        &project,
        &["migrate", "steps", "--resume", "002", "--allow-destructive"],
    )
    .code(0);
    ours(&project, &["migrate", "status"]).code(0);
    ours(&project, &["migrate", "up"])
        .code(0)
        .stdout_has("up to date");
}

/// Our `status`'s rows as `version:status` (confiture (Python) names a pending `.py` migration
/// `pending`, we `python`).
fn our_statuses(project: &Project) -> Vec<String> {
    let status = ours(project, &["migrate", "status", "--format", "json"]);
    statuses(&rows(&status.json()))
}

/// The suggested command of `stderr` that starts with `prefix` (`confiture migrate down-to`,
/// `cargo confiture migrate down`), as printed between backquotes.
fn suggested(stderr: &str, prefix: &str) -> String {
    let start = stderr
        .find(&format!("`{prefix}"))
        .unwrap_or_else(|| panic!("no `{prefix}...` suggested: {stderr}"));
    let rest = &stderr[start + 1..];
    rest[..rest.find('`').expect("the suggestion's end")].to_string()
}

/// Runs a suggested command of ours as printed (its words plain: split at spaces), in the
/// project.
fn paste_ours(project: &Project, suggested: &str) -> Run {
    let args = suggested
        .strip_prefix("cargo confiture ")
        .unwrap_or_else(|| panic!("not a cargo confiture command: {suggested}"));
    assert!(!args.contains(['\'', '"', '$']), "plain words: {args}");
    project.run(&args.split(' ').collect::<Vec<_>>())
}

/// 001, 002 (SQL), 003 (confiture (Python)'s `.py`) and 004 (SQL), the `test` environment on
/// `db`.
fn with_python_third(db: &TestDb, count: u32) -> Project {
    let project = project(db, count, None);
    std::fs::remove_file(project.root.join("db/migrations/003_create_t3.up.sql")).unwrap();
    std::fs::remove_file(project.root.join("db/migrations/003_create_t3.down.sql")).unwrap();
    project.write("db/migrations/003_add_x.py", PYTHON_MIGRATION);
    project
}

/// hpy A: `down --steps 2` over a confiture (Python) migration said to run it with confiture
/// (Python) (`confiture migrate down`) "then run again": followed literally, confiture rolled
/// back one migration and the same `--steps 2` again two more (then, the Python one in the way
/// again, as many more), 4 rolled back for the 2 asked. The help names confiture (Python)'s
/// command that rolls back exactly the request's rows down to the Python migration
/// (`migrate down-to W`), then ours that stops where the request stops (`--target V`):
/// followed literally, the 2 asked for are rolled back, no more. A plain `down` whose newest
/// migration is the Python one: confiture's command is the whole request.
#[test]
fn following_the_help_past_a_python_migration_rolls_back_what_was_asked() {
    let db = TestDb::new("interop_py_down_help");
    let project = with_python_third(&db, 4);
    run_python(&project, &["migrate", "up"]).code(0);

    let refused = ours(&project, &["migrate", "down", "--steps", "2"]);
    refused
        .code(5)
        .stderr_has("`003_add_x` is a confiture (Python) migration")
        .stderr_lacks("then run again");
    let python = suggested(&refused.stderr, "confiture migrate down-to");
    assert_eq!(
        python,
        "confiture migrate down-to 002 -c db/environments/test.yaml"
    );
    paste_python(&project, &python).code(0);
    // Nothing more here: confiture (Python) rolled back 004 and 003, the two asked for.
    assert!(refused
        .stderr
        .contains("that is all this request rolls back"));
    assert_eq!(
        our_statuses(&project),
        ["001:applied", "002:applied", "003:python", "004:pending"]
    );

    // Three asked for: confiture (Python) rolls back 004 and 003, ours 002 and stops at 001.
    run_python(&project, &["migrate", "up"]).code(0);
    let refused = ours(&project, &["migrate", "down", "--steps", "3"]);
    refused.code(5);
    paste_python(
        &project,
        &suggested(&refused.stderr, "confiture migrate down-to"),
    )
    .code(0);
    let ours_next = suggested(&refused.stderr, "cargo confiture migrate down");
    assert_eq!(
        ours_next,
        "cargo confiture migrate down --target 001 --env test"
    );
    paste_ours(&project, &ours_next).code(0);
    paste_ours(&project, &ours_next)
        .code(0)
        .stdout_has("nothing to roll back");
    assert_eq!(
        our_statuses(&project),
        ["001:applied", "002:pending", "003:python", "004:pending"]
    );

    // The Python migration the newest: a plain `down` rolls it back alone.
    ours(&project, &["migrate", "up", "--target", "002"]).code(0);
    run_python(&project, &["migrate", "up", "--target", "003"]).code(0);
    let refused = ours(&project, &["migrate", "down"]);
    refused.code(5).stderr_lacks("then run again");
    paste_python(
        &project,
        &suggested(&refused.stderr, "confiture migrate down-to"),
    )
    .code(0);
    assert!(refused
        .stderr
        .contains("that is all this request rolls back"));
    assert_eq!(
        our_statuses(&project),
        ["001:applied", "002:applied", "003:python", "004:pending"]
    );
}

/// hpy A, `up`'s counterpart: `up --steps 3` over a pending confiture (Python) migration said
/// `confiture migrate up` (every pending migration, 005 too) "then run again". The help names
/// `confiture migrate up --target 003`, then ours bounded where the request stops: followed
/// literally, the three asked for (002, 003, 004; 001 was applied) and not 005.
#[test]
fn following_the_help_past_a_pending_python_migration_applies_what_was_asked() {
    let db = TestDb::new("interop_py_up_help");
    let project = with_python_third(&db, 5);
    ours(&project, &["migrate", "up", "--target", "001"]).code(0);
    let refused = ours(&project, &["migrate", "up", "--steps", "3"]);
    refused
        .code(5)
        .stderr_has("`003_add_x.py` is a confiture (Python) migration")
        .stderr_lacks("then run again");
    let python = suggested(&refused.stderr, "confiture migrate up");
    assert_eq!(
        python,
        "confiture migrate up --target 003 -c db/environments/test.yaml"
    );
    paste_python(&project, &python).code(0);
    let ours_next = suggested(&refused.stderr, "cargo confiture migrate up --target");
    assert_eq!(
        ours_next,
        "cargo confiture migrate up --target 004 --env test"
    );
    paste_ours(&project, &ours_next).code(0);
    paste_ours(&project, &ours_next).code(0);
    assert_eq!(
        our_statuses(&project),
        [
            "001:applied",
            "002:applied",
            "003:python",
            "004:applied",
            "005:pending"
        ]
    );
}

/// A checksum with whitespace around it (a row written by hand or by another tool, in a column
/// wider than the contract's `varchar(64)`) is another text: confiture (Python)'s
/// `verify-checksums` compares exactly and calls it a mismatch; so do we (modified, with the
/// help to `reinit`, which writes it as confiture does), and both agree again after.
#[test]
fn a_checksum_padded_with_whitespace_is_a_mismatch_for_both_tools() {
    let db = TestDb::new("interop_checksum_pad");
    let project = project(&db, 2, None);
    ours(&project, &["migrate", "up"]).code(0);
    db.connect()
        .batch_execute(
            "ALTER TABLE tb_confiture ALTER COLUMN checksum TYPE text;\n\
             UPDATE tb_confiture SET checksum = checksum || ' ' WHERE version = '001';\n\
             UPDATE tb_confiture SET checksum = E'\\t' || checksum WHERE version = '002';",
        )
        .expect("pad the checksums");
    both_tools_see_a_mismatch_until_reinit(
        &project,
        &["001_create_t1", "002_create_t2"],
        "it is the same digest with whitespace around it",
    );
}

/// `project`'s two applied migrations, the checksums of `mismatched` written otherwise than
/// confiture writes them: confiture (Python)'s `verify-checksums` names each, our `status`
/// says they are modified, `up` refuses saying `why`; `reinit` writes them as confiture does,
/// after which both tools agree they match.
fn both_tools_see_a_mismatch_until_reinit(project: &Project, mismatched: &[&str], why: &str) {
    let verified = run_python(project, &["migrate", "verify-checksums"]);
    verified.code(1);
    for name in mismatched {
        verified.stdout_has(name);
    }
    let status = ours(project, &["migrate", "status", "--format", "json"]);
    status.code(confiture::exit::DIVERGED);
    let json = status.json();
    assert_eq!(json["summary"]["modified"], mismatched.len(), "{json}");
    ours(project, &["migrate", "up"])
        .code(confiture::exit::DIVERGED)
        .stderr_has(why);
    ours(project, &["migrate", "reinit", "--through", "002", "--yes"]).code(0);
    run_python(project, &["migrate", "verify-checksums"])
        .code(0)
        .stdout_has("All migration checksums verified");
    ours(project, &["migrate", "status"]).code(0);
}

/// A checksum written into the ledger in upper case (by hand, or by another tool) was the
/// file's for our `migrate status` (applied), while confiture (Python)'s `migrate
/// verify-checksums` calls it a mismatch: it compares the lower-case hex digest exactly, which is
/// the contract's checksum. Both tools now say modified, and `reinit` writes the checksum
/// as confiture does, after which both agree it matches.
#[test]
fn a_checksum_in_upper_case_is_a_mismatch_for_both_tools() {
    let db = TestDb::new("interop_checksum_case");
    let project = project(&db, 2, None);
    ours(&project, &["migrate", "up"]).code(0);
    db.connect()
        .batch_execute("UPDATE tb_confiture SET checksum = upper(checksum) WHERE version = '001'")
        .expect("write the checksum in upper case");
    both_tools_see_a_mismatch_until_reinit(
        &project,
        &["001_create_t1"],
        "it is the same digest with upper-case letters",
    );
}

/// `baseline --through 004` (and `reinit --through 004`, its dry run) over a pending confiture
/// (Python) migration 003 said to run it with confiture (Python), `confiture migrate up`, "then
/// run again": followed, confiture (Python) ran every pending migration, ours too, which the
/// rewrite was asked to record without running. The help names confiture (Python)'s own
/// `migrate baseline --through 003` (a preview's with `--dry-run`), never its `migrate up`;
/// pasted, then the rewrite again, 001–004 are recorded and nothing ran.
#[test]
fn following_the_help_past_a_pending_python_migration_records_what_a_rewrite_asked() {
    for (args, dry_run) in [
        (&["migrate", "baseline", "--through", "004"][..], false),
        (&["migrate", "reinit", "--through", "004"], false),
        (
            &["migrate", "reinit", "--through", "004", "--dry-run"],
            true,
        ),
    ] {
        let db = TestDb::new("interop_py_rewrite_help");
        let project = with_python_third(&db, 4);
        let refused = ours(&project, args);
        refused
            .code(5)
            .stderr_has("`003_add_x.py` is a confiture (Python) migration")
            .stderr_lacks("`confiture migrate up");
        let python = suggested(&refused.stderr, "confiture migrate baseline");
        let preview = if dry_run { " --dry-run" } else { "" };
        assert_eq!(
            python,
            format!(
                "confiture migrate baseline --through 003 -c db/environments/test.yaml{preview}"
            ),
            "{args:?}"
        );
        if dry_run {
            continue;
        }
        paste_python(&project, &python).code(0);
        ours(&project, args).code(0);
        assert_eq!(
            our_statuses(&project),
            ["001:applied", "002:applied", "003:python", "004:applied"],
            "{args:?}"
        );
        for table in ["t1", "t2", "tx", "t4"] {
            assert!(!db.has_relation(table), "{args:?}: {table} was made");
        }
    }
}

/// 001 creates `t1`; 002, a no-transaction migration, waits at the gate (see [`project`]) and
/// creates `t2`; 003 creates `t3`. Our run of 002 is killed (`kill -9`) at the gate: its start
/// marker stays. confiture (Python), which knows no marker, then applies 002 (and 003): its row
/// is a full apply recorded after our run, which makes our marker out of date.
fn our_run_killed_then_confiture_applied(db: &TestDb) -> Project {
    let project = Project::new();
    project.write(
        ENV_FILE,
        format!("name: test\ndatabase_url: {}\n", db.url()),
    );
    project.migration(
        "001_create_t1",
        "CREATE TABLE t1 (id int);\n",
        "DROP TABLE t1;\n",
    );
    project.migration(
        "002_create_t2",
        "-- confiture:no-transaction\n\
         DO $$ BEGIN\n  WHILE EXISTS (SELECT 1 FROM pause) LOOP PERFORM pg_sleep(0.05); END LOOP;\nEND $$;\n\
         CREATE TABLE IF NOT EXISTS t2 (id int);\n",
        "DROP TABLE t2;\n",
    );
    project.migration(
        "003_create_t3",
        "CREATE TABLE t3 (id int);\n",
        "DROP TABLE t3;\n",
    );
    ours(&project, &["migrate", "up", "--target", "001"]).code(0);
    let mut client = db.connect();
    close_gate(&mut client);
    let mut run = spawn(ours_cmd(&project, &["migrate", "up", "--target", "002"]));
    wait_until(
        "our run of 002 waits at the gate",
        Duration::from_secs(60),
        || at_gate(&mut client, &db.name),
    );
    run.kill().expect("kill our run");
    let _ = run.wait();
    open_gate(&mut client);
    // confiture waits for the migration lock until the server has ended the killed session.
    run_python(&project, &["migrate", "up"]).code(0);
    let markers: i64 = (client.query_one("SELECT count(*) FROM tb_confiture_started", &[]))
        .expect("read the markers")
        .get(0);
    assert_eq!(markers, 1, "our killed run left its start marker");
    // While the row stands, the marker is stale: 002 is applied to both tools.
    let seen = statuses_agree(&project, 0);
    assert_eq!(
        statuses(&seen),
        ["001:applied", "002:applied", "003:applied"]
    );
    project
}

/// Our start marker of a run that confiture (Python) applied over since (its row's `applied_at`
/// after the marker's `started_at`) is out of date: our next writing run under the migration
/// lock deletes it — `up` with nothing to apply, `down` of another migration —, so that
/// confiture's later rollback of that migration leaves it pending, never `interrupted` by our
/// long-replaced run (exit 7, a hint to record it as applied).
#[test]
fn our_marker_of_a_run_confiture_applied_over_goes_with_our_next_writing_run() {
    for (case, ours_writes) in [
        ("up", &["migrate", "up"][..]),
        ("down", &["migrate", "down", "--steps", "1"][..]),
    ] {
        let db = TestDb::new(&format!("interop_superseded_{case}"));
        let project = our_run_killed_then_confiture_applied(&db);
        ours(&project, ours_writes).code(0);
        // confiture rolls back down to 001: 002 is pending to both tools, and we apply it.
        run_python(&project, &["migrate", "down-to", "001"]).code(0);
        ours(&project, &["migrate", "status"])
            .code(1)
            .stdout_lacks("interrupted");
        let seen = statuses_agree(&project, 1);
        assert_eq!(
            statuses(&seen),
            ["001:applied", "002:pending", "003:pending"],
            "{case}"
        );
        let markers: i64 = (db.connect())
            .query_one("SELECT count(*) FROM tb_confiture_started", &[])
            .expect("read the markers")
            .get(0);
        assert_eq!(
            markers, 0,
            "{case}: our writing run deleted the stale marker"
        );
        ours(&project, &["migrate", "up"]).code(0);
        assert!(db.has_relation("t2") && db.has_relation("t3"), "{case}");
    }
}

/// Known limit: confiture (Python) applied the migration our killed run left part-way, then
/// rolled it back with no writing run of ours in between (a `status` reads, never deletes the
/// marker): its rollback deleted the row, the one proof that our marker was out of date, and
/// nothing else left tells it without a column of the marker's. `status` still says
/// `interrupted` (exit 7), and its help says what to check — whether confiture (Python) ran
/// since the run started, and whether the schema has any of the migration — and how to leave
/// it pending, which the test follows as printed.
#[test]
fn a_marker_confiture_applied_over_and_rolled_back_since_says_what_to_check() {
    let db = TestDb::new("interop_rolled_back_over");
    let project = our_run_killed_then_confiture_applied(&db);
    run_python(&project, &["migrate", "down-to", "001"]).code(0);
    assert!(!db.has_relation("t2"), "confiture rolled 002 back");
    let status = ours(&project, &["migrate", "status"]);
    status.code(7).stdout_has("interrupted");
    let check = "if confiture (Python) ran on this database since ";
    let from = status
        .stderr
        .find(check)
        .unwrap_or_else(|| panic!("status says what to check\n{}", status.dump()));
    let abandon = suggested(
        &status.stderr[from..],
        "cargo confiture migrate abandon 002",
    );
    paste_ours(&project, &abandon).code(0);
    let seen = statuses_agree(&project, 1);
    assert_eq!(
        statuses(&seen),
        ["001:applied", "002:pending", "003:pending"]
    );
    ours(&project, &["migrate", "up"]).code(0);
    assert!(db.has_relation("t2") && db.has_relation("t3"));
}
