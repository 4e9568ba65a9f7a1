//! Test harness for the end-to-end suite: throwaway databases on the real PostgreSQL, throwaway
//! project directories, and running the CLI as a user would.
//!
//! Every test that needs PostgreSQL gets a database of its own (unique name, dropped on drop,
//! also when the test fails) and fails loudly when no server is reachable.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub mod cluster;
pub mod proxy;
pub mod throwaway;

/// The README's Rust blocks, compiled (and, where they do not connect, run) as doctests of this
/// crate, which depends on `confiture` (with `db` and `tokio`), `confiture-build` and `tokio` as
/// the snippets do: a README example cannot drift from the API. (The embedding service's
/// `main.rs` needs a build script's `OUT_DIR`; it is `db/src/main.rs`, built by `db/tests`.)
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeSnippets;

pub use confiture_test_support::{admin, server, unique, SERVER_VAR};

/// The host of the server under test (`CONFITURE_TEST_SERVER`).
pub fn pg_host() -> String {
    server().host.clone()
}

/// The port of the server under test (`CONFITURE_TEST_SERVER`).
pub fn pg_port() -> u16 {
    server().port
}

/// A database created for one test and dropped (WITH (FORCE)) when dropped:
/// `confiture-test-support`'s, with what the end-to-end tests ask of it.
pub struct TestDb(confiture_test_support::TestDb);

impl std::ops::Deref for TestDb {
    type Target = confiture_test_support::TestDb;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl TestDb {
    pub fn new(prefix: &str) -> TestDb {
        TestDb(confiture_test_support::TestDb::new(prefix))
    }

    /// A name for a database that does not exist (yet); dropped if a test creates it.
    pub fn unborn(prefix: &str) -> TestDb {
        TestDb(confiture_test_support::TestDb::unborn(prefix))
    }

    pub fn connect(&self) -> postgres::Client {
        self.client()
    }

    /// The pid of the CLI's backend sleeping in a migration (`pg_sleep`) on this database, if
    /// one is: found by its wait event, not by its query text, which the server truncates at
    /// `track_activity_query_size` (the migration travels in one message with others).
    pub fn sleeping_backend(&self) -> Option<i32> {
        self.waiting_backend("PgSleep")
    }

    /// The pid of the CLI's backend on this database while a statement of it waits on
    /// `wait_event` (`PgSleep`; `virtualxid`: a concurrent build waiting for a writer;
    /// `relation`: a lock on a table another session holds).
    pub fn waiting_backend(&self, wait_event: &str) -> Option<i32> {
        self.connect()
            .query_opt(
                "SELECT pid FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()
                   AND application_name = 'cargo-confiture' AND state = 'active'
                   AND wait_event = $1",
                &[&wait_event],
            )
            .expect("read pg_stat_activity")
            .map(|row| row.get(0))
    }

    /// Waits (30 s at most) for [`TestDb::sleeping_backend`] and returns its pid; panics, with
    /// `what` and the other sessions on the database, when none came.
    pub fn wait_for_sleeping_backend(&self, what: &str) -> i32 {
        let mut pid = None;
        let sleeping = wait_until(Duration::from_secs(30), || {
            pid = self.sleeping_backend();
            pid.is_some()
        });
        assert!(
            sleeping,
            "{what}: never reached its pg_sleep; other sessions: {:?}",
            self.other_backends()
        );
        pid.expect("a sleeping backend's pid")
    }

    /// A session whose open transaction has inserted `row` (a `VALUES` list) into `table`: a
    /// concurrent index build on `table` makes its INVALID index, then waits for this session
    /// (wait event `virtualxid`) until it ends (`COMMIT` or `ROLLBACK`).
    pub fn open_writer(&self, table: &str, row: &str) -> postgres::Client {
        let mut writer = self.connect();
        writer
            .batch_execute(&format!("BEGIN; INSERT INTO {table} VALUES {row};"))
            .expect("an open writer of the table");
        writer
    }

    /// Every relation in the database with its kind and file node, sorted: equal snapshots
    /// before and after a command prove it created, dropped or rewrote nothing.
    pub fn catalog_snapshot(&self) -> Vec<String> {
        let mut client = self.connect();
        let rows = client
            .query(
                "SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text || ':' || c.relfilenode::text
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
                 ORDER BY 1",
                &[],
            )
            .expect("catalog snapshot");
        rows.iter().map(|r| r.get::<_, String>(0)).collect()
    }

    /// A ledger row for `version` and `name` written as another tool writes it (confiture
    /// (Python), a hand): no checksum, no start marker settled, slug `{slug}`.
    pub fn record_as_another_tool(&self, slug: &str, version: &str, name: &str) {
        self.connect()
            .execute(
                "INSERT INTO tb_confiture (slug, version, name, applied_at) \
                 VALUES ($1, $2, $3, now())",
                &[&slug, &version, &name],
            )
            .expect("another tool records it");
    }

    /// `ALTER DATABASE ... SET setting = 'value'`: what this database's new sessions start with.
    pub fn set_for_new_sessions(&self, setting: &str, value: &str) {
        let name = &self.name;
        self.connect()
            .batch_execute(&format!(
                "ALTER DATABASE \"{name}\" SET {setting} = '{value}'"
            ))
            .expect("set the database's setting");
    }

    /// Rows of the ledger as `version:name`, in order of application; None when it does not exist.
    pub fn ledger(&self) -> Option<Vec<String>> {
        // The test's look, not bounded by a `statement_timeout` the test set on its database.
        let mut client = self.unbounded_client_as("confiture-tests");
        let exists: bool = client
            .query_one("SELECT to_regclass('tb_confiture') IS NOT NULL", &[])
            .expect("ledger check")
            .get(0);
        if !exists {
            return None;
        }
        let rows = client
            .query(
                "SELECT version || ':' || name FROM tb_confiture ORDER BY applied_at, pk_confiture",
                &[],
            )
            .expect("ledger rows");
        Some(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    }

    /// Whether a relation exists (through search_path).
    pub fn has_relation(&self, name: &str) -> bool {
        self.connect()
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
            .expect("to_regclass")
            .get(0)
    }

    /// A session that holds confiture's migration lock of this database, computed in SQL by
    /// confiture's formula (so a wrong key in the tool shows up as a test failure). The lock is
    /// held until the returned client is dropped.
    pub fn hold_migration_lock(&self, application_name: &str) -> (postgres::Client, i32) {
        // The test's hold, not bounded by a `statement_timeout` the test set on its database
        // (a 1 ms one cancelled the lock's own query on a loaded machine).
        let mut client = self.unbounded_client_as(application_name);
        let row = client
            .query_one(
                &format!("SELECT pg_advisory_lock({MIGRATION_LOCK_NAMESPACE}, ({LOCK_ID_SQL})), pg_backend_pid()"),
                &[],
            )
            .expect("take the migration lock");
        let pid: i32 = row.get(1);
        (client, pid)
    }

    /// Sessions holding confiture's migration lock of this database (their pids).
    pub fn migration_lock_holders(&self) -> Vec<i32> {
        let mut client = self.connect();
        let rows = client
            .query(
                &format!(
                    "SELECT pid FROM pg_locks
                     WHERE locktype = 'advisory' AND granted
                       AND classid = {MIGRATION_LOCK_NAMESPACE}::oid
                       AND objid = ({LOCK_ID_SQL})::oid AND objsubid = 2
                       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                &[],
            )
            .expect("read pg_locks");
        rows.iter().map(|r| r.get(0)).collect()
    }

    /// The pid of the CLI's backend on this database waiting for an advisory lock (a
    /// migration's gate held by the test), once one waits; panics after 30 s.
    pub fn backend_waiting_on_advisory_lock(&self) -> i32 {
        let mut pid = None;
        let waits = wait_until(Duration::from_secs(30), || {
            pid = self
                .connect()
                .query_opt(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                     AND application_name = 'cargo-confiture' AND wait_event = 'advisory'",
                    &[],
                )
                .expect("read pg_stat_activity")
                .map(|row| row.get(0));
            pid.is_some()
        });
        assert!(waits, "the migration never waited for its gate");
        pid.expect("a waiting backend")
    }

    /// The sessions waiting now for a lock that the server session `holder` holds
    /// (`pg_blocking_pids`), by pid: only what waits behind the test's own session, never a
    /// session of another test on the same server, whatever its query's text. The lock table
    /// is read by a function, not through `pg_locks`: `holder`'s `LOCK pg_catalog.pg_locks`
    /// does not hold this up.
    pub fn blocked_by(&self, holder: i32) -> Vec<i32> {
        self.connect()
            .query(
                "SELECT pid FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid)) \
                 ORDER BY pid",
                &[&holder],
            )
            .expect("read pg_stat_activity")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// Backends connected to this database other than the caller's, as `pid: query`.
    pub fn other_backends(&self) -> Vec<String> {
        let mut client = self.connect();
        let rows = client
            .query(
                "SELECT pid || ': ' || coalesce(query, '') FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .expect("read pg_stat_activity");
        rows.iter().map(|r| r.get(0)).collect()
    }
}

/// Many databases for one test (a fleet of tenants), created by a few threads at once. Dropped
/// on drop, also when the test fails, in the background like every test database
/// (`confiture_test_support::reaper`).
pub struct TestDbs {
    pub dbs: Vec<TestDb>,
}

/// How many sessions create the databases of a [`TestDbs`] at once: well below the server's
/// `max_connections`, which other tests share.
const TEST_DBS_THREADS: usize = 24;

impl TestDbs {
    /// `count` empty databases, named `cft_<prefix>_..._<i>` so that a list sorts as created.
    pub fn new(prefix: &str, count: usize) -> TestDbs {
        let base = unique(&format!("cft_{prefix}"));
        let names: Vec<String> = (0..count).map(|i| format!("{base}_{i:03}")).collect();
        let chunk = count.div_ceil(TEST_DBS_THREADS).max(1);
        let dbs = std::thread::scope(|scope| {
            let handles: Vec<_> = names
                .chunks(chunk)
                .map(|names| {
                    scope.spawn(move || {
                        let mut admin = admin();
                        let mut made = Vec::new();
                        for name in names {
                            admin
                                .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                                .unwrap_or_else(|e| {
                                    panic!("cannot create test database {name}: {e}")
                                });
                            made.push(TestDb(confiture_test_support::TestDb::adopt(name.clone())));
                        }
                        made
                    })
                })
                .collect();
            let mut all = Vec::new();
            let mut failure = None;
            for handle in handles {
                match handle.join() {
                    Ok(made) => all.extend(made),
                    Err(panic) => failure = Some(panic),
                }
            }
            if let Some(panic) = failure {
                drop(all);
                std::panic::resume_unwind(panic);
            }
            all
        });
        TestDbs { dbs }
    }
}

/// The first key of confiture's advisory lock.
pub const MIGRATION_LOCK_NAMESPACE: i32 = 1751936052;

/// confiture's second lock key for the current database, in SQL: the first 4 bytes of
/// SHA-256 of the name, big-endian, sign bit cleared.
pub const LOCK_ID_SQL: &str = "('x' || substr(encode(sha256(current_database()::bytea), 'hex'), 1, 8))::bit(32)::int & 2147483647";

/// The start of the names of the scratch databases of CLI process `pid` (`verify`, `drift`),
/// to be matched with `starts_with`, never `LIKE` (whose `_` matches any character: the
/// prefix of pid 3230 matched the scratch database of pid 32307, another test's).
pub fn scratch_prefix(pid: u32) -> String {
    format!("{}{pid}_", confiture::db::scratch::PREFIX)
}

/// A project whose one migration, `001_slow`, creates a table and sleeps 60 s.
pub fn slow_project() -> Project {
    let project = Project::new();
    project.migration(
        "001_slow",
        "CREATE TABLE t (a int);\nSELECT pg_sleep(60);\n",
        "DROP TABLE t;\n",
    );
    project
}

/// Starts the CLI with `args` and waits until its migration's backend is asleep
/// (`pg_sleep`) in a scratch database of that process; returns the child and that database.
/// When it does not get there within 120 s, or the CLI exits first, fails with what it saw: the
/// CLI's exit and output, the process's scratch databases and their sessions.
pub fn spawn_asleep_on_scratch(project: &Project, args: &[&str]) -> (std::process::Child, String) {
    let mut child = project.spawn(args);
    let prefix = scratch_prefix(child.id());
    let mut scratch = String::new();
    let mut exited = None;
    let sleeping = wait_until(Duration::from_secs(120), || {
        let rows = admin()
            .query(
                "SELECT datname::text FROM pg_stat_activity \
                 WHERE starts_with(datname::text, $1) AND wait_event = 'PgSleep'",
                &[&prefix],
            )
            .unwrap();
        if let Some(row) = rows.first() {
            scratch = row.get(0);
            return true;
        }
        exited = child.try_wait().ok().flatten();
        exited.is_some()
    });
    if !sleeping || exited.is_some() {
        let sessions: Vec<String> = admin()
            .query(
                "SELECT d.datname || ': ' || coalesce(string_agg(a.usename || ' ' || \
                 coalesce(a.state, '') || ' ' || coalesce(a.wait_event, '') || ' ' || \
                 left(a.query, 80), '; '), 'no session') \
                 FROM pg_database d LEFT JOIN pg_stat_activity a ON a.datid = d.oid \
                 WHERE starts_with(d.datname::text, $1) GROUP BY d.datname",
                &[&prefix],
            )
            .map(|rows| rows.iter().map(|r| r.get(0)).collect())
            .unwrap_or_default();
        if exited.is_none() {
            let _ = child.kill();
        }
        let output = child
            .wait_with_output()
            .expect("wait for the CLI under test");
        let run = Run::from_output(output, Duration::ZERO);
        panic!(
            "the migration never started on a scratch database ({}); scratch databases of the \
             process: {sessions:?}\n{}",
            match exited {
                Some(status) => format!("the CLI exited first: {status}"),
                None => "not within 120 s; the CLI was killed".to_string(),
            },
            run.dump()
        );
    }
    (child, scratch)
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A throwaway project directory: a Cargo workspace manifest, `db/migrations`,
/// `db/environments`. Removed when dropped.
pub struct Project {
    pub root: PathBuf,
}

impl Project {
    /// An empty workspace with the default layout (`[workspace]` and no settings).
    pub fn new() -> Project {
        let root = std::env::temp_dir().join(unique("confiture-project"));
        std::fs::create_dir_all(root.join("db/migrations")).expect("create project");
        std::fs::create_dir_all(root.join("db/environments")).expect("create project");
        std::fs::write(root.join("Cargo.toml"), "[workspace]\nmembers = []\n")
            .expect("write Cargo.toml");
        Project { root }
    }

    /// A workspace with one migration that applies cleanly: `001_a`, creating a one-column
    /// table `a` and dropping it going down.
    pub fn with_table_a() -> Project {
        let project = Project::new();
        project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
        project
    }

    /// A workspace with two migrations that apply cleanly: `001_a` and `002_b`, each creating
    /// a one-column table of its name (`a`, `b`) and dropping it going down.
    pub fn two_tables() -> Project {
        let project = Project::with_table_a();
        project.migration("002_b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
        project
    }

    /// A copy of the example project's `db/` (the seed's migrations and environments).
    pub fn example() -> Project {
        let project = Project::new();
        let example = workspace_root().join("db");
        for dir in ["migrations", "environments"] {
            for entry in std::fs::read_dir(example.join(dir)).expect("read example db/") {
                let entry = entry.expect("read example db/");
                if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                    std::fs::copy(
                        entry.path(),
                        project.root.join("db").join(dir).join(entry.file_name()),
                    )
                    .expect("copy example file");
                }
            }
        }
        project
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Writes a file (creating parent directories).
    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) -> &Project {
        let path = self.root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self
    }

    /// Writes `db/migrations/<id>.up.sql` and `.down.sql`.
    pub fn migration(&self, id: &str, up: &str, down: &str) -> &Project {
        self.write(&format!("db/migrations/{id}.up.sql"), up);
        self.write(&format!("db/migrations/{id}.down.sql"), down)
    }

    /// Writes migration `<id>` (`VERSION_NAME`) making table NAME: `CREATE TABLE NAME (id int)`
    /// up, `DROP TABLE NAME` down.
    pub fn table(&self, id: &str) -> &Project {
        let (_, name) = id
            .split_once('_')
            .unwrap_or_else(|| panic!("migration id {id:?} is not VERSION_NAME"));
        self.migration(
            id,
            &format!("CREATE TABLE {name} (id int);\n"),
            &format!("DROP TABLE {name};\n"),
        )
    }

    pub fn remove(&self, relative: &str) -> &Project {
        let path = self.root.join(relative);
        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
        self
    }

    pub fn read(&self, relative: &str) -> String {
        let path = self.root.join(relative);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// The CLI, run in this project's root with a clean environment (see [`cli`]).
    pub fn cli(&self) -> Command {
        let mut cmd = cli();
        cmd.current_dir(&self.root);
        cmd
    }

    /// Runs the CLI with `args` in this project.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::of(self.cli().args(args))
    }

    /// Starts the CLI with `args` in this project, its output captured.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.cli()
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the CLI under test")
    }

    /// Starts the CLI with `args` in this project, on `db` (`--database-url`), its output
    /// captured.
    pub fn spawn_on(&self, db: &TestDb, args: &[&str]) -> std::process::Child {
        let url = db.url();
        self.spawn(&[args, &["--database-url", &url]].concat())
    }

    /// [`Project::spawn_on`], and the pid of the run's backend once a statement of it waits on
    /// `wait_event` ([`TestDb::waiting_backend`], 30 s at most); when it never does, the run
    /// is killed and the test fails naming the database's sessions.
    pub fn spawn_until_it_waits(
        &self,
        db: &TestDb,
        args: &[&str],
        wait_event: &str,
    ) -> (std::process::Child, i32) {
        let mut child = self.spawn_on(db, args);
        let mut pid = None;
        let waiting = wait_until(Duration::from_secs(30), || {
            pid = db.waiting_backend(wait_event);
            pid.is_some()
        });
        if !waiting {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the run never waited on {wait_event} in pg_stat_activity; backends: {:?}",
                db.other_backends()
            );
        }
        (child, pid.expect("a backend pid"))
    }

    /// Runs a command a message suggested, `` `cargo confiture ARGS` `` as printed, in a shell
    /// (its words are shell syntax: quoting, `<(echo NAME)`), with the CLI under test for
    /// `cargo confiture`, in this project's root and [`cli`]'s clean environment.
    pub fn paste(&self, suggested: &str) -> Run {
        self.paste_in(&self.root, suggested)
    }

    /// [`Project::paste`] run in `dir` (a subdirectory), where the user typed it.
    pub fn paste_in(&self, dir: &Path, suggested: &str) -> Run {
        let args = suggested
            .strip_prefix("`cargo confiture ")
            .and_then(|s| s.strip_suffix('`'))
            .unwrap_or_else(|| panic!("not a suggested command: {suggested}"));
        let template = self.cli();
        let mut bash = Command::new("bash");
        for (key, value) in template.get_envs() {
            match value {
                Some(value) => bash.env(key, value),
                None => bash.env_remove(key),
            };
        }
        bash.current_dir(dir)
            .arg("-c")
            .arg(format!("'{}' {args}", binary().display()));
        Run::of(&mut bash)
    }

    /// Runs the CLI with `args` in this project, on `db` (`--database-url`).
    pub fn run_on(&self, db: &TestDb, args: &[&str]) -> Run {
        Run::of(self.cli().args(args).args(["--database-url", &db.url()]))
    }

    /// `migrate status` in this project, on `db`: what most tests look at after a command.
    pub fn status_on(&self, db: &TestDb) -> Run {
        self.run_on(db, &["migrate", "status"])
    }

    /// `migrate status --format json` in this project, on `db`.
    pub fn status_json_on(&self, db: &TestDb) -> Run {
        self.run_on(db, &["migrate", "status", "--format", "json"])
    }

    /// `migrate up` in this project, on `db`.
    pub fn up_on(&self, db: &TestDb) -> Run {
        self.run_on(db, &["migrate", "up"])
    }
}

/// The root manifest of a workspace of the one member `member`, whose
/// `[workspace.metadata.confiture]` names `db/migrations`.
pub fn workspace_manifest(member: &str) -> String {
    format!(
        "[workspace]\nmembers = [\"{member}\"]\n\n[workspace.metadata.confiture]\n\
         migrations_dir = \"db/migrations\"\n"
    )
}

/// The manifest of the package `name`, with a `[package.metadata.confiture]` naming
/// `migrations_dir` when one is given.
pub fn member_manifest(name: &str, migrations_dir: Option<&str>) -> String {
    let package =
        format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    match migrations_dir {
        Some(dir) => {
            format!("{package}\n[package.metadata.confiture]\nmigrations_dir = \"{dir}\"\n")
        }
        None => package,
    }
}

/// The first suggested command of `text` that starts with `` `cargo confiture {start}``, as
/// printed (backticks included: what [`Project::paste`] takes).
pub fn suggested(text: &str, start: &str) -> Option<String> {
    let opening = format!("`cargo confiture {start}");
    let at = text.find(&opening)?;
    let len = text[at + 1..].find('`')?;
    Some(text[at..at + len + 2].to_string())
}

impl Default for Project {
    fn default() -> Self {
        Project::new()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The root of this repository's workspace.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The path of the CLI under test: `confiture-under-test`, which cargo builds beside the test
/// executables (`target/<profile>/deps/<test>` → `target/<profile>/confiture-under-test`).
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile> directory");
    let bin = profile_dir.join(format!(
        "confiture-under-test{}",
        std::env::consts::EXE_SUFFIX
    ));
    assert!(
        bin.is_file(),
        "the CLI under test was not built at {}: run the tests with `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// The CLI under test, with every variable that could pick a database or change the output
/// removed, so a test only sees what it sets: libpq's `PGUSER`, `PGPASSWORD` and the password
/// file (`PGPASSFILE`, else `~/.pgpass`, pointed at nothing) are read for what a URL leaves out.
pub fn cli() -> Command {
    let mut cmd = Command::new(binary());
    for var in [
        "DATABASE_URL",
        "CONFITURE_DATABASE_URL",
        "CLICOLOR_FORCE",
        "PGUSER",
        "PGPASSWORD",
        "PGHOST",
        "PGPORT",
        "PGDATABASE",
        "PGSSLMODE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("PGPASSFILE", "/nonexistent/confiture-tests/pgpass");
    cmd.env("NO_COLOR", "1");
    with_default_stop_signals(&mut cmd);
    cmd
}

/// The signals a test sends the CLI to stop it, as `kill` names them, with their numbers.
const STOP_SIGNALS: [(&str, libc::c_int); 3] = [
    ("-INT", libc::SIGINT),
    ("-TERM", libc::SIGTERM),
    ("-HUP", libc::SIGHUP),
];

/// Starts `cmd` with SIGINT, SIGTERM and SIGHUP at their default disposition, as a shell starts
/// a foreground command, whatever this test process inherited: under `nohup`, or as a
/// background job (`&`) of a non-interactive script, SIGINT (or SIGHUP) is ignored here, the
/// CLI rightly keeps an inherited `SIG_IGN` (`signals_inherited_ignored_stay_ignored`), and a
/// test of what Ctrl-C does would wait forever for a process that never gets it. A test of
/// Ctrl-C is a test of the terminal's Ctrl-C, which reaches a process that does not ignore it;
/// the test that starts the CLI with a signal ignored sets that up itself. (The signal mask
/// std resets already.)
fn with_default_stop_signals(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: `signal` is async-signal-safe, and the closure touches nothing else.
    unsafe {
        cmd.pre_exec(|| {
            for (_, signal) in STOP_SIGNALS {
                if libc::signal(signal, libc::SIG_DFL) == libc::SIG_ERR {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Sends `signal` (`-INT`, `-TERM`, `-HUP`) to the CLI under test, process `pid`: **the** way a
/// test stops it as a user would. Fails at once, never hangs, when the process ignores that
/// signal (SIGINT or SIGHUP inherited ignored by a process not started through [`cli`], which
/// resets them: `SigIgn` of `/proc/PID/status`).
pub fn send_signal(pid: u32, signal: &str) {
    let number = STOP_SIGNALS
        .iter()
        .find(|(name, _)| *name == signal)
        .unwrap_or_else(|| panic!("not a signal the tests send: {signal}"))
        .1;
    assert!(
        !ignores(pid, number),
        "SIG{} is ignored by process {pid}, which inherited it ignored from this process: run \
         the tests from a shell that does not ignore it (not under `nohup`, nor as a background \
         job of a script), or start the CLI through `confiture_tests::cli`",
        &signal[1..]
    );
    let pid = libc::pid_t::try_from(pid).expect("a process id");
    // SAFETY: kill(2) reads its two integer arguments only.
    let sent = unsafe { libc::kill(pid, number) };
    assert_eq!(
        sent,
        0,
        "kill {signal} {pid}: {}",
        std::io::Error::last_os_error()
    );
}

/// Whether process `pid` ignores signal `number`: its bit in the `SigIgn` mask of
/// `/proc/PID/status` (bit `number - 1`, in hexadecimal).
fn ignores(pid: u32, number: libc::c_int) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no SigIgn line in /proc/{pid}/status:\n{status}"));
    mask & (1 << (number - 1)) != 0
}

/// What a run of the CLI did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Wall time from spawning the process to its exit.
    pub elapsed: Duration,
}

impl Run {
    pub fn of(cmd: &mut Command) -> Run {
        let start = Instant::now();
        let output: Output = cmd.output().expect("run the CLI under test");
        Run::from_output(output, start.elapsed())
    }

    /// `cmd` run with `input` written to its stdin, as a shell pipe feeds it
    /// (`--targets /dev/stdin`, `-c /dev/stdin`). Written from a thread while the output is
    /// read, so that neither side waits for the other. A run that exits without reading it — a
    /// refusal made before its input is read — may close the pipe before anything is written:
    /// the broken pipe is then the run's choice, as a shell's `echo` into it ends unnoticed,
    /// and the run is judged by what it printed and its exit code.
    pub fn with_input(cmd: &mut Command, input: &str) -> Run {
        use std::io::Write;
        use std::process::Stdio;
        let start = Instant::now();
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the CLI under test");
        let mut stdin = child.stdin.take().expect("the CLI's stdin");
        let input = input.as_bytes().to_vec();
        let feeder = std::thread::spawn(move || match stdin.write_all(&input) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            written => written,
        });
        let output = child
            .wait_with_output()
            .expect("wait for the CLI under test");
        feeder
            .join()
            .expect("the thread feeding the CLI")
            .expect("feed the CLI's stdin");
        Run::from_output(output, start.elapsed())
    }

    /// What a process spawned elsewhere (e.g. one of several run at once) did.
    pub fn from_output(output: Output, elapsed: Duration) -> Run {
        Run {
            // A signal (no code) is reported as -1 so no assertion on a real code matches it.
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed,
        }
    }

    /// What `child`, spawned elsewhere with its output piped, did once it exits: untimed, for
    /// tests that assert on outcomes, not on durations.
    pub fn reaped(child: std::process::Child) -> Run {
        let output = child.wait_with_output().expect("reap the CLI under test");
        Run::from_output(output, Duration::ZERO)
    }

    /// Everything the command printed, for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "exit code {} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn stderr_lacks(&self, needle: &str) -> &Run {
        assert!(
            !self.stderr.contains(needle),
            "stderr contains {needle:?}\n{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, needle: &str) -> &Run {
        assert!(
            !self.stdout.contains(needle),
            "stdout contains {needle:?}\n{}",
            self.dump()
        );
        self
    }

    /// Asserts the exit code, showing everything the command printed when it differs.
    #[track_caller]
    pub fn code(&self, expected: u8) -> &Run {
        assert_eq!(
            self.code,
            i32::from(expected),
            "expected exit code {expected}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.dump()
        );
        self
    }

    /// The first line of stdout starting with `prefix` (a table's row, by its first cell);
    /// fails, with the run, when there is none.
    #[track_caller]
    pub fn stdout_line(&self, prefix: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix} listed\n{}", self.dump()))
    }

    /// The first `help:` line of stderr, whole and without its indentation: what a test
    /// compares exactly.
    #[track_caller]
    pub fn help_line(&self) -> String {
        self.stderr
            .lines()
            .map(str::trim_start)
            .find(|l| l.starts_with("help:"))
            .unwrap_or_else(|| panic!("no help line\n{}", self.dump()))
            .to_string()
    }

    /// The line of migration `version` in stdout's JSON document (`status --format json`'s
    /// `migrations`).
    #[track_caller]
    pub fn migration_line(&self, version: &str) -> serde_json::Value {
        let doc = self.json();
        (doc["migrations"].as_array().into_iter().flatten())
            .find(|m| m["version"] == version)
            .cloned()
            .unwrap_or_else(|| panic!("{version} listed\n{}", self.dump()))
    }

    /// stdout parsed as the one JSON document it must be.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document: {e}\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// `expected` (a help's text) as a run with `args` says it: when `args` hold `--dry-run`, each
/// suggested `up`, `down`, `baseline`, `reinit`, `abandon` or `generate` in backquotes ends with
/// `--dry-run` too — a preview's suggestions are previews (`hint::Invocation::dry_run`).
pub fn previewed(expected: &str, args: &[&str]) -> String {
    if !args.contains(&"--dry-run") {
        return expected.to_string();
    }
    let writing = ["up", "down", "baseline", "reinit", "abandon", "generate"]
        .map(|sub| format!("cargo confiture migrate {sub}"));
    expected
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            let suggested = i % 2 == 1
                && writing
                    .iter()
                    .any(|w| part == w || part.starts_with(&format!("{w} ")))
                && !part.split(' ').any(|word| word == "--dry-run");
            if suggested {
                format!("{part} --dry-run")
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("`")
}

/// A CLI process whose stderr is read on a thread as it comes: what it says while it waits.
pub struct Watched {
    pub child: std::process::Child,
    read: std::sync::mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<()>,
    seen: Vec<String>,
}

impl Watched {
    pub fn of(mut child: std::process::Child) -> Watched {
        let stderr = child.stderr.take().expect("the child's stderr");
        let (lines, read) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = lines.send(line);
            }
        });
        Watched {
            child,
            read,
            reader,
            seen: Vec::new(),
        }
    }

    /// The first line naming who the run waits for, read while it waits (a minute at most:
    /// a run that says nothing ends with its own lock wait first, and so does its stderr).
    pub fn waiting_line(&mut self) -> String {
        self.line_with("waiting for a lock")
    }

    /// The first line holding `needle`, read as the run says it (a minute at most): returned,
    /// not kept; the lines before it are kept for [`Watched::end`] and [`Watched::run`].
    pub fn line_with(&mut self, needle: &str) -> String {
        loop {
            match self.read.recv_timeout(std::time::Duration::from_secs(60)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no line said {needle:?}: {:?}", self.seen),
            }
        }
    }

    /// Waits for the process: its status and every line of stderr.
    pub fn end(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().unwrap();
        self.reader.join().unwrap();
        self.seen.extend(self.read.try_iter());
        (status, self.seen)
    }

    /// Waits for the process, as a [`Run`]: its stdout, and its stderr's lines (those read
    /// before too, but for the ones [`Watched::line_with`] returned), `elapsed` counted from
    /// `since`.
    pub fn run(mut self, since: std::time::Instant) -> Run {
        use std::io::Read;
        let mut stdout = Vec::new();
        if let Some(mut out) = self.child.stdout.take() {
            out.read_to_end(&mut stdout)
                .expect("read the child's stdout");
        }
        let (status, lines) = self.end();
        let stderr = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        Run::from_output(
            Output {
                status,
                stdout,
                stderr: stderr.into_bytes(),
            },
            since.elapsed(),
        )
    }
}
