//! PgBouncer between us and the server, started by each test on a free port with a config of
//! its own in a temporary directory, in front of the test server. In transaction pooling mode
//! the session-level migration lock and session settings would not stay with our connection:
//! `up` refuses before running anything (exit 5); `status`, which needs no session state, still
//! reads. In session pooling mode everything works as with a direct connection.
//!
//! The pooler check's second connection is skipped only when the server's end of the
//! connection is the address and port dialled: counted here with `pg_stat_database.sessions`.
//!
//! Needs the `pgbouncer` program (Debian package `pgbouncer`, installed by `.ci/run`), fetched
//! into `target/pgbouncer` on first use when it is not installed ([`pgbouncer`]); fails loudly
//! when neither works.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use confiture_test_support::reaper::DropRoleLater;
use confiture_tests::{admin, pg_host, pg_port, unique, wait_until, Project, Run, TestDb};

/// A running PgBouncer, stopped (and its directory removed) when dropped.
struct PgBouncer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl PgBouncer {
    /// PgBouncer in `pool_mode` with at most `pool_size` server sessions per database.
    fn start(pool_mode: &str, pool_size: u32) -> PgBouncer {
        PgBouncer::start_with(pool_mode, pool_size, "")
    }

    /// [`PgBouncer::start`] with more `[pgbouncer]` settings (`extra`, lines).
    fn start_with(pool_mode: &str, pool_size: u32, extra: &str) -> PgBouncer {
        PgBouncer::start_serving(pool_mode, pool_size, extra, "*")
    }

    /// [`PgBouncer::start_with`] serving only the database `serves` (`*`: any).
    fn start_serving(pool_mode: &str, pool_size: u32, extra: &str, serves: &str) -> PgBouncer {
        PgBouncer::start_for(pool_mode, pool_size, extra, serves, &[])
    }

    /// [`PgBouncer::start_serving`] that also lets the roles `users` log in (trust), besides
    /// `postgres`.
    fn start_for(
        pool_mode: &str,
        pool_size: u32,
        extra: &str,
        serves: &str,
        users: &[&str],
    ) -> PgBouncer {
        let program = pgbouncer();
        let dir = std::env::temp_dir().join(unique("confiture-pgbouncer"));
        std::fs::create_dir_all(&dir).expect("create the pgbouncer directory");
        let port = free_port();
        let users: String = std::iter::once("postgres")
            .chain(users.iter().copied())
            .map(|user| format!("\"{user}\" \"\"\n"))
            .collect();
        std::fs::write(dir.join("users.txt"), users).expect("write users.txt");
        // PgBouncer refuses to run as root unless told which user to become.
        let user = if confiture_tests::cluster::is_root() {
            "user = postgres\n"
        } else {
            ""
        };
        let config = format!(
            "[databases]\n\
             {serves} = host={host} port={server_port}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {users}\n\
             pool_mode = {pool_mode}\n\
             default_pool_size = {pool_size}\n\
             {extra}\
             {user}",
            host = pg_host(),
            server_port = pg_port(),
            users = dir.join("users.txt").display(),
        );
        let ini = dir.join("pgbouncer.ini");
        std::fs::write(&ini, config).expect("write pgbouncer.ini");
        make_readable(&dir);
        let child = program
            .command()
            .arg(&ini)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("pgbouncer.log")).expect("create the log"),
            ))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.path.display()));
        let mut bouncer = PgBouncer { child, dir, port };
        let up = wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if !up || bouncer.child.try_wait().ok().flatten().is_some() {
            panic!("pgbouncer did not start:\n{}", bouncer.log());
        }
        bouncer
    }

    fn url(&self, db: &TestDb) -> String {
        self.url_as("postgres", db)
    }

    /// [`PgBouncer::url`], logging in as `user`.
    fn url_as(&self, user: &str, db: &TestDb) -> String {
        format!("postgresql://{user}@127.0.0.1:{}/{}", self.port, db.name)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `pgbouncer` program, and where the libraries it needs are when they are not the
/// system's.
#[derive(Clone)]
struct Program {
    path: PathBuf,
    libraries: Option<PathBuf>,
}

impl Program {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.path);
        if let Some(libraries) = &self.libraries {
            command.env("LD_LIBRARY_PATH", libraries);
        }
        command
    }

    fn runs(&self) -> bool {
        self.command()
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

/// PgBouncer: the system's (Debian package `pgbouncer`, which `.ci/run` installs), else one
/// fetched on first use into `target/pgbouncer` (`apt-get download` of the package and the two
/// libraries a PostgreSQL machine may lack, unpacked with `dpkg-deb -x`: no root needed), so
/// that `cargo test --workspace` works on a machine with Rust and PostgreSQL, as the README
/// says — as the interoperability tests install confiture (Python) into `target/`. Fails
/// loudly, saying what to install, when neither works.
fn pgbouncer() -> Program {
    static FOUND: std::sync::OnceLock<Result<Program, String>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(find_or_fetch_pgbouncer)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn find_or_fetch_pgbouncer() -> Result<Program, String> {
    let installed = ["/usr/sbin/pgbouncer", "pgbouncer"]
        .into_iter()
        .map(|path| Program {
            path: PathBuf::from(path),
            libraries: None,
        })
        .find(Program::runs);
    if let Some(program) = installed {
        return Ok(program);
    }
    let root = confiture_tests::workspace_root().join("target/pgbouncer");
    let fetched = Program {
        path: root.join("root/usr/sbin/pgbouncer"),
        libraries: Some(root.join("root/usr/lib/x86_64-linux-gnu")),
    };
    if fetched.runs() {
        return Ok(fetched);
    }
    let run = |program: &str, args: &[&str]| -> Result<(), String> {
        let output = Command::new(program)
            .args(args)
            .current_dir(&root)
            .output()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        output.status.success().then_some(()).ok_or_else(|| {
            format!(
                "{program} {} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )
        })
    };
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let packages = ["pgbouncer", "libevent-2.1-7", "libc-ares2"];
    let fetch = run("apt-get", &[&["download"][..], &packages].concat()).and_then(|()| {
        let debs = std::fs::read_dir(&root)
            .map_err(|e| e.to_string())?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "deb"))
            .collect::<Vec<_>>();
        for deb in debs {
            run("dpkg-deb", &["-x", &deb.to_string_lossy(), "root"])?;
        }
        Ok(())
    });
    match fetch {
        Ok(()) if fetched.runs() => Ok(fetched),
        outcome => {
            Err(format!(
            "this test needs pgbouncer, which is not installed, and fetching it into {} failed \
             ({}). Install it: apt-get install pgbouncer (bash .ci/run does)",
            root.display(),
            outcome.err().unwrap_or_else(|| "the fetched program does not run".into())
        ))
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// PgBouncer runs as `postgres` when started by root: it must read its files.
fn make_readable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
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

#[test]
fn transaction_pooling_is_refused_before_anything_runs() {
    let bouncer = PgBouncer::start("transaction", 4);
    let db = TestDb::new("pooler_tx");
    let project = project();
    let url = bouncer.url(&db);
    // `baseline` and `reinit` run nothing anyway: what they did not do is record.
    for (command, nothing_done) in [
        (&["migrate", "up"][..], "nothing was run"),
        (&["migrate", "down", "--steps", "1"][..], "nothing was run"),
        (
            &["migrate", "baseline", "--through", "1"][..],
            "nothing was recorded",
        ),
        (&["migrate", "reinit"][..], "nothing was recorded"),
    ] {
        // A dry run is refused as its run is (it said `would apply 1`, exit 0, and the run
        // was refused): the check reads and writes nothing.
        for dry_run in [false, true] {
            let mut args = command.to_vec();
            args.extend(["--database-url", &url]);
            if dry_run {
                args.push("--dry-run");
            }
            project
                .run(&args)
                .code(5)
                .stderr_has("goes through a pooler in transaction or statement pooling mode")
                .stderr_has("pool_mode = session")
                .stderr_has(&format!("; {nothing_done}"));
        }
    }
    assert_eq!(db.ledger(), None, "nothing may be written");
    // Statement pooling too, the run and its dry run.
    let statements = PgBouncer::start("statement", 4);
    for dry_run in [&[][..], &["--dry-run"][..]] {
        let url = statements.url(&db);
        let mut args = vec!["migrate", "up", "--database-url", &url];
        args.extend(dry_run);
        project
            .run(&args)
            .code(5)
            .stderr_has("goes through a pooler in transaction or statement pooling mode");
    }
    assert_eq!(db.ledger(), None, "nothing may be written");
    assert!(!db.has_relation("users"));
    // Reading needs no session state: status works through the same pooler.
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(2);
    // And the same database, connected to directly, is migrated.
    project.run_on(&db, &["migrate", "up"]).code(0);
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(0)
        .stdout_has("001_create_users");
}

#[test]
fn session_pooling_works_like_a_direct_connection() {
    let bouncer = PgBouncer::start("session", 4);
    let db = TestDb::new("pooler_session");
    let project = project();
    let url = bouncer.url(&db);
    project
        .run(&["migrate", "up", "--database-url", &url])
        .code(0);
    assert_eq!(db.ledger(), Some(vec!["001:create_users".to_string()]));
    project
        .run(&["migrate", "down", "--steps", "1", "--database-url", &url])
        .code(0);
    assert_eq!(db.ledger(), Some(vec![]));
    assert!(!db.has_relation("users"));
}

#[test]
fn a_full_session_pool_does_not_stop_the_check() {
    // One server session: the check's second connection waits for it while `up` holds it.
    // The check gives up within its bound and concludes nothing, and `up` goes on.
    let bouncer = PgBouncer::start("session", 1);
    let db = TestDb::new("pooler_full");
    let project = project();
    let url = bouncer.url(&db);
    let run = project.run(&["migrate", "up", "--database-url", &url]);
    run.code(0)
        .stderr_has("warning: could not tell whether")
        .stderr_has("got no answer within");
    assert_eq!(db.ledger(), Some(vec!["001:create_users".to_string()]));
    // Said in JSON too.
    let run = project.run(&[
        "migrate",
        "down",
        "--steps",
        "1",
        "--database-url",
        &url,
        "--format",
        "json",
    ]);
    run.code(0);
    assert!(
        run.json()["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w
                .as_str()
                .is_some_and(|w| w.starts_with("could not tell whether")))),
        "{}",
        run.dump()
    );
}

/// A pooler that refuses the check's second connection (PgBouncer's `max_client_conn`) leaves
/// it unable to tell whether transaction pooling sits in between: a writing command stops
/// (exit 5, nothing run) and says why, rather than write through it unchecked. It used to go
/// on with no word at all. The refusal's SQLSTATE (PgBouncer's) is the error's in JSON: the
/// driver's error is kept as the typed source, not the text of a wrapper (it was null).
#[test]
fn a_refused_second_connection_stops_a_writing_command() {
    let bouncer = PgBouncer::start_with("transaction", 4, "max_client_conn = 1\n");
    let db = TestDb::new("pooler_maxconn");
    let project = project();
    let url = bouncer.url(&db);
    for format in ["table", "json"] {
        let run = project.run(&["migrate", "up", "--database-url", &url, "--format", format]);
        run.code(5)
            .stderr_has("the second connection the check needs was refused")
            .stderr_has("max_client_conn");
        if format == "json" {
            let error = &run.json()["errors"][0];
            assert!(
                error["sqlstate"].as_str().is_some_and(|s| s.len() == 5),
                "{}",
                run.dump()
            );
        }
    }
    assert_eq!(db.ledger(), None, "nothing may be written");
    // Reading needs no check.
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(2);
}

/// The server sessions ever started on `db` (`pg_stat_database.sessions`), read once the
/// database has no backend left: a backend reports its session to the statistics before it
/// leaves `pg_stat_activity`, so every session that ended is counted. Read from the
/// maintenance database, so that reading starts no session on `db`.
fn sessions_started(db: &TestDb) -> i64 {
    let mut admin = admin();
    let mut backends = || -> i64 {
        admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                &[&db.name],
            )
            .expect("read pg_stat_activity")
            .get(0)
    };
    assert!(
        wait_until(Duration::from_secs(30), || backends() == 0),
        "{} still has backends after 30 s",
        db.name
    );
    admin
        .query_one(
            "SELECT sessions FROM pg_stat_database WHERE datname = $1",
            &[&db.name],
        )
        .expect("read pg_stat_database")
        .get(0)
}

#[test]
fn a_direct_up_starts_one_server_session() {
    // Nothing between us and the server: its end of the connection is the address and port
    // dialled, so the pooler check needs no second connection (and no second backend start).
    let db = TestDb::new("pooler_direct");
    let project = project();
    let before = sessions_started(&db);
    project.run_on(&db, &["migrate", "up"]).code(0);
    let after = sessions_started(&db);
    assert_eq!(
        after - before,
        1,
        "`up` on a direct connection: server sessions started"
    );
    assert_eq!(db.ledger(), Some(vec!["001:create_users".to_string()]));
}

#[test]
fn through_session_pooling_the_check_still_opens_its_second_connection() {
    // Through PgBouncer the server's end of the connection is where PgBouncer dialled (the
    // server's port), not the pooler's port we dialled: the full check runs, a second client
    // connection, which a session pool serves with a second server session.
    let bouncer = PgBouncer::start("session", 4);
    let db = TestDb::new("pooler_session_check");
    let project = project();
    let url = bouncer.url(&db);
    let before = sessions_started(&db);
    project
        .run(&["migrate", "up", "--database-url", &url])
        .code(0);
    // PgBouncer keeps its server sessions open: stopping it ends them.
    drop(bouncer);
    let after = sessions_started(&db);
    assert_eq!(
        after - before,
        2,
        "`up` through session pooling: the connection and the check's second one"
    );
    assert_eq!(db.ledger(), Some(vec!["001:create_users".to_string()]));
}

/// Ordinary application traffic through `bouncer`: `clients` connections, each running short
/// transactions until the returned flag is set; joined by [`stop_load`].
fn load(
    bouncer: &PgBouncer,
    db: &TestDb,
    clients: usize,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    Vec<std::thread::JoinHandle<()>>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let url = bouncer.url(db);
    let threads = (0..clients)
        .map(|_| {
            let (stop, url) = (stop.clone(), url.clone());
            std::thread::spawn(move || {
                let mut client =
                    postgres::Client::connect(&url, postgres::NoTls).expect("connect the load");
                while !stop.load(Ordering::Relaxed) {
                    client
                        .simple_query("SELECT pg_sleep(0.001)")
                        .expect("the load's transaction");
                }
            })
        })
        .collect();
    (stop, threads)
}

fn stop_load(
    (stop, threads): (
        std::sync::Arc<std::sync::atomic::AtomicBool>,
        Vec<std::thread::JoinHandle<()>>,
    ),
) {
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("a load thread");
    }
}

/// Other clients of a transaction pool take the server session `up` just released and give it
/// back: the check must see transaction pooling whatever they do. It used to be fooled about
/// once in 25 runs under such load: `up` then ran through transaction pooling (exit 0, a "lock
/// was lost" warning) and left the migration lock on a pooled server session the application
/// went on using, blocking every later run. Every run is refused, nothing is written, and no
/// migration lock is left behind.
#[test]
fn transaction_pooling_is_refused_under_load_from_other_clients() {
    let bouncer = PgBouncer::start("transaction", 3);
    let db = TestDb::new("pooler_load");
    let project = project();
    let url = bouncer.url(&db);
    let traffic = load(&bouncer, &db, 6);
    let start = std::time::Instant::now();
    let mut runs = 0;
    let mut failed = None;
    while start.elapsed() < Duration::from_secs(12) && failed.is_none() {
        runs += 1;
        let run = project.run(&["migrate", "up", "--database-url", &url]);
        if run.code != 5
            || !run.stderr.contains("nothing was run")
            || !db.migration_lock_holders().is_empty()
        {
            failed = Some(run.dump());
        }
    }
    stop_load(traffic);
    if let Some(dump) = failed {
        panic!(
            "run {runs} under load went through transaction pooling (lock holders {:?}):\n{dump}",
            db.migration_lock_holders()
        );
    }
    assert!(runs >= 20, "only {runs} runs in 12 s");
    assert_eq!(db.ledger(), None, "nothing may be written");
    assert!(!db.has_relation("users"));
}

/// `verify` and `drift` create their scratch database on the server, and connect to it by the
/// same host and port: a pooler that serves only the databases it is configured for cannot
/// reach a random name. The error says so and helps with `--scratch-url` (a direct
/// connection), which then works; it used to say "check the connection settings".
#[test]
fn verify_and_drift_through_a_pooler_help_with_a_direct_scratch_url() {
    let db = TestDb::new("pooler_scratch");
    let bouncer = PgBouncer::start_serving("session", 4, "", &db.name);
    let project = project();
    let url = bouncer.url(&db);
    project
        .run(&["migrate", "up", "--database-url", &url])
        .code(0);
    for command in ["verify", "drift"] {
        project
            .run(&["migrate", command, "--database-url", &url])
            .code(3)
            .stderr_has("cannot connect to the scratch database")
            .stderr_has("a pooler (PgBouncer, ...) or proxy in front of the server")
            .stderr_has("--scratch-url URL")
            .stderr_lacks("check the connection settings");
        works_with_a_direct_scratch_url(&project, command, &url);
    }
}

/// `up --create-database` through PgBouncer for a database the server does not have: PgBouncer
/// answers the login itself (SQLSTATE 08P01, its own code, not the server's 3D000 that
/// `--create-database` acts on) and holds the next logins to it for `server_login_retry`, so
/// no run can create it through the pooler. The error said "check the connection settings";
/// it says to create the database directly on the server, and nothing is created.
#[test]
fn create_database_through_a_pooler_says_to_create_it_on_the_server() {
    let bouncer = PgBouncer::start("session", 4);
    let db = TestDb::unborn("pooler_create");
    let project = project();
    let url = bouncer.url(&db);
    project
        .run(&["migrate", "up", "--create-database", "--database-url", &url])
        .code(3)
        .stderr_has("a pooler (PgBouncer, ...) answered for the server")
        .stderr_has("create it directly on the server")
        .stderr_lacks("check the connection settings");
    assert!(!db.exists(), "nothing is created through the pooler");
}

/// `migrate COMMAND` (`verify`, `drift`) on `url` with `--scratch-url` a direct connection to
/// the server: what the help of a scratch database behind a pooler says to do, which works.
fn works_with_a_direct_scratch_url(project: &Project, command: &str, url: &str) {
    let direct = format!("postgresql://postgres@{}:{}/postgres", pg_host(), pg_port());
    project
        .run(&[
            "migrate",
            command,
            "--database-url",
            url,
            "--scratch-url",
            &direct,
        ])
        .code(0);
}

/// `verify` and `drift` through a transaction pooler that serves every database (`*`): the
/// scratch database is reached through it too, and the pooler check refuses the replay's
/// session. The help said to fix `--database-url` (which they only read, and which works
/// through that pooler with `--scratch-url`) instead of giving `--scratch-url` a direct
/// connection.
#[test]
fn verify_through_transaction_pooling_helps_with_a_direct_scratch_url() {
    let db = TestDb::new("pooler_tx_scratch");
    let bouncer = PgBouncer::start("transaction", 4);
    let project = project();
    // Applied directly: `drift` replays what the ledger holds.
    project.run_on(&db, &["migrate", "up"]).code(0);
    let ledger = db.ledger();
    let url = bouncer.url(&db);
    for command in ["verify", "drift"] {
        let run = project.run(&["migrate", command, "--database-url", &url]);
        run.code(5)
            .stderr_has("goes through a pooler in transaction or statement pooling mode")
            .stderr_has("on the scratch database")
            .stderr_has("--scratch-url URL");
        assert!(
            !run.help_line().contains("in --database-url"),
            "{}",
            run.dump()
        );
        assert_eq!(db.ledger(), ledger, "{command} never writes its target");
        works_with_a_direct_scratch_url(&project, command, &url);
    }
}

/// A database with `standard_conforming_strings = off`, behind a session-mode PgBouncer that
/// refuses the `options` startup parameter (`ignore_startup_parameters` lists only
/// `extra_float_digits`): the tool's own `-c standard_conforming_strings=on` never reaches the
/// server, so a writing command refuses (exit 5, nothing run), and the help says the startup
/// options were refused and gives the `ALTER ROLE ... IN DATABASE` for the connecting role —
/// not "the tool turns it on for its sessions", nor `ALTER DATABASE`, which neither helps.
/// The statement alone did not help through the same pooler: its server sessions, opened
/// before, keep the value they started with, and the help said nothing of it. It says to have
/// the pooler open new ones (PgBouncer's `RECONNECT`), after which the same pooler migrates.
#[test]
fn a_pooler_refusing_startup_options_with_backslash_escapes_says_so() {
    let role = unique("cft_pooler_scs");
    admin()
        .batch_execute(&format!("CREATE ROLE \"{role}\" LOGIN"))
        .unwrap();
    let _role = DropRoleLater(role.clone());
    let db = TestDb::new("pooler_scs");
    admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{db}\" OWNER TO \"{role}\"; \
             ALTER DATABASE \"{db}\" SET standard_conforming_strings = off",
            db = db.name
        ))
        .unwrap();
    let bouncer = PgBouncer::start_for(
        "session",
        4,
        "ignore_startup_parameters = extra_float_digits\nadmin_users = postgres\n",
        "*",
        &[&role],
    );
    let project = project();
    let url = bouncer.url_as(&role, &db);
    let alter = format!(
        "ALTER ROLE {role} IN DATABASE {db} SET standard_conforming_strings = on",
        db = db.name
    );
    let refused = |run: &Run| {
        run.code(5)
            .stderr_has("(standard_conforming_strings is off)")
            .stderr_has("nothing was run")
            .stderr_has("refused the tool's startup options")
            .stderr_has("ignore_startup_parameters")
            .stderr_has("`RECONNECT`")
            .stderr_has(&alter)
            .stderr_lacks("ALTER DATABASE")
            .stderr_lacks("the tool turns it on for its sessions");
        assert_eq!(db.ledger(), None, "nothing may be written\n{}", run.dump());
        assert!(!db.has_relation("users"), "{}", run.dump());
    };
    for (command, format) in [
        (&["migrate", "up"][..], "table"),
        (&["migrate", "up"][..], "json"),
        (&["migrate", "down", "--steps", "1"][..], "table"),
    ] {
        let mut args = command.to_vec();
        args.extend(["--database-url", &url, "--format", format]);
        let run = project.run(&args);
        refused(&run);
        if format == "json" {
            let error = &run.json()["errors"][0];
            assert_eq!(error["kind"], "invalid", "{}", run.dump());
            assert!(
                error["help"]
                    .as_str()
                    .is_some_and(|help| help.ends_with(&alter)),
                "{}",
                run.dump()
            );
        }
    }
    // The help's statement, as given: the pooler's server sessions, opened before it, still
    // have the old value...
    admin().batch_execute(&alter).unwrap();
    refused(&project.run(&["migrate", "up", "--database-url", &url]));
    // ... until the pooler opens new ones, as the help says.
    let mut console = postgres::Client::connect(
        &format!("postgresql://postgres@127.0.0.1:{}/pgbouncer", bouncer.port),
        postgres::NoTls,
    )
    .expect("connect to the PgBouncer admin console");
    console.simple_query("RECONNECT").expect("RECONNECT");
    let run = project.run(&["migrate", "up", "--database-url", &url]);
    run.code(0);
    assert_eq!(
        db.ledger(),
        Some(vec!["001:create_users".to_string()]),
        "{}",
        run.dump()
    );
}

/// Behind a session-mode PgBouncer that drops the `options` startup parameter, the tool's
/// `client_connection_check_interval` never reaches the server: a `--rerun-interrupted`
/// failing on what a killed run committed said the server stops a statement whose client died
/// "within a second", which only the tool's own options make true. It says the server's own
/// setting decides.
#[test]
fn a_rerun_through_a_pooler_dropping_startup_options_words_the_client_check_true() {
    let db = TestDb::new("pooler_rerun");
    let bouncer = PgBouncer::start_with(
        "session",
        4,
        "ignore_startup_parameters = extra_float_digits\n",
    );
    let url = bouncer.url(&db);
    let project = super::cli_engine::failing_second_build();
    project
        .run(&["migrate", "up", "--database-url", &url])
        .code(4)
        .stderr_has("23505");
    // What a run killed while statement 2 ran leaves: no answer recorded.
    let mut fix = db.connect();
    fix.batch_execute("UPDATE tb_confiture_started SET failed = NULL")
        .expect("the marker of a killed run");
    fix.batch_execute("DROP INDEX public.t_b_key")
        .expect("drop the INVALID index");
    fix.batch_execute("DELETE FROM t WHERE a = 2")
        .expect("fix the data");
    project
        .run(&[
            "migrate",
            "up",
            "--rerun-interrupted",
            "--database-url",
            &url,
        ])
        .code(4)
        .stderr_has("42P07")
        .stderr_has("statement 2 of 2 was running: it may have committed")
        .stderr_has("as its own client_connection_check_interval says")
        .stderr_lacks("within a second");
}

/// A CLI killed (SIGKILL) while its transactional migration runs through session pooling:
/// PgBouncer keeps the server session (it drops the `options` that would have set
/// `client_connection_check_interval`), which goes on running the migration and holding the
/// migration lock. `status` names that session, and says the pending migration may be being
/// applied now, rather than calling it merely pending.
#[test]
fn status_names_the_session_a_killed_cli_left_running_behind_session_pooling() {
    let bouncer = PgBouncer::start("session", 4);
    let db = TestDb::new("pooler_orphan");
    let project = project();
    project.migration(
        "002_slow",
        "CREATE TABLE slow (id int);\nSELECT pg_sleep(60);\n",
        "DROP TABLE slow;\n",
    );
    let url = bouncer.url(&db);
    project
        .run(&["migrate", "up", "--steps", "1", "--database-url", &url])
        .code(0);
    let mut child = project
        .cli()
        .args(["migrate", "up", "--database-url", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the CLI under test");
    let mut pid: Option<i32> = None;
    // Its server session, by its wait event (PgBouncer sets its own `application_name`).
    let sleeping = wait_until(Duration::from_secs(30), || {
        pid = db
            .connect()
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event = 'PgSleep'",
                &[],
            )
            .expect("read pg_stat_activity")
            .map(|row| row.get(0));
        pid.is_some()
    });
    child.kill().expect("kill the runner");
    child.wait().expect("reap the runner");
    let pid = pid.unwrap_or_else(|| panic!("never slept: {:?}", db.other_backends()));
    assert!(sleeping);
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(1)
        .stdout_has("002_slow")
        .stderr_has(&format!("note: a run holds the migration lock (pid {pid}"))
        .stderr_has("the pending migration may be being applied now");
    // The orphan ended (the test's own cleanup), the note goes.
    db.connect()
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .expect("end the orphan");
    assert!(wait_until(Duration::from_secs(15), || db
        .migration_lock_holders()
        .is_empty()));
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(1)
        .stderr_lacks("holds the migration lock");
}

/// A session-mode PgBouncer that drops the `options` startup parameter
/// (`ignore_startup_parameters = extra_float_digits,options`): a tenant's `search_path`, sent
/// only there, never reached the server, so a tenant's `up` built in `public` and wrote the
/// tenant's ledger (exit 0), and a later `down` of the tenant dropped `public`'s table with
/// its data. Every writing command (a dry run too) refuses such a session before anything is
/// written (exit 5), naming the pooler, as it refuses options of the connection's own that
/// never arrived; `public` is untouched. A pooler that refuses `options` outright says so too.
#[test]
fn a_pooler_dropping_startup_options_is_refused_before_a_tenant_run_writes() {
    let db = TestDb::new("pooler_drop_opts");
    let bouncer = PgBouncer::start_with(
        "session",
        4,
        "ignore_startup_parameters = extra_float_digits,options\n",
    );
    let url = bouncer.url(&db);
    let project = Project::new();
    project.migration(
        "001_widget",
        "CREATE TABLE tb_widget (id int);\n",
        "DROP TABLE tb_widget;\n",
    );
    let public_widget = |db: &TestDb| -> Option<i64> {
        db.connect()
            .query_one(
                "SELECT CASE WHEN to_regclass('public.tb_widget') IS NOT NULL \
                 THEN (xpath('/row/c/text()', query_to_xml('SELECT count(*) AS c FROM public.tb_widget', false, true, '')))[1]::text::bigint END",
                &[],
            )
            .expect("read public.tb_widget")
            .get(0)
    };
    let refused = |run: &Run| {
        run.code(5)
            .stderr_has("dropped the connection's startup options")
            .stderr_has("ignore_startup_parameters")
            .stderr_has("connect to the server directly");
    };
    let tenant_ledger = |db: &TestDb, schema: &str| -> bool {
        db.connect()
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&format!("{schema}.tb_confiture")],
            )
            .expect("to_regclass")
            .get(0)
    };
    for args in [
        &["migrate", "up", "--schema", "tenant_x"][..],
        &["migrate", "up", "--dry-run", "--schema", "tenant_x"][..],
    ] {
        let mut args = args.to_vec();
        args.extend(["--database-url", &url]);
        let run = project.run(&args);
        refused(&run);
        run.stderr_has("nothing was run");
        assert_eq!(public_widget(&db), None, "{}", run.dump());
        assert!(!tenant_ledger(&db, "tenant_x"), "{}", run.dump());
        assert_eq!(db.ledger(), None, "{}", run.dump());
    }
    // The tenant migrated directly; the database's own table in public holds data.
    project
        .run_on(&db, &["migrate", "up", "--schema", "tenant_x"])
        .code(0);
    db.connect()
        .batch_execute(
            "CREATE TABLE public.tb_widget (id int); INSERT INTO public.tb_widget VALUES (1)",
        )
        .unwrap();
    let run = project.run(&[
        "migrate",
        "down",
        "--steps",
        "1",
        "--schema",
        "tenant_x",
        "--database-url",
        &url,
    ]);
    refused(&run);
    assert_eq!(public_widget(&db), Some(1), "{}", run.dump());
    assert!(tenant_ledger(&db, "tenant_x"));
    // The connection's own options, dropped alike: a search_path of the URL's.
    let with_options = format!("{url}?options=-c%20search_path%3Dapp");
    let run = project.run(&["migrate", "up", "--database-url", &with_options]);
    refused(&run);
    assert_eq!(db.ledger(), None, "{}", run.dump());
    // Without options of its own, the same pooler migrates (the tool's own settings are
    // checked where they matter).
    let other = TestDb::new("pooler_drop_opts2");
    project
        .run(&["migrate", "up", "--database-url", &bouncer.url(&other)])
        .code(0);
    assert_eq!(other.ledger(), Some(vec!["001:widget".to_string()]));

    // A pooler refusing `options` outright: the help names it and what to do.
    let refusing = PgBouncer::start_with("session", 4, "");
    let run = project.run(&[
        "migrate",
        "up",
        "--schema",
        "tenant_y",
        "--database-url",
        &refusing.url(&db),
    ]);
    run.stderr_has("refuses the `options` startup parameter")
        .stderr_has("ignore_startup_parameters")
        .stderr_has("connect to the server directly");
    assert!(!tenant_ledger(&db, "tenant_y"), "{}", run.dump());
}

/// The settings the tool sends in every session's startup options, ahead of the connection's
/// own (and `statement_timeout` after them, for its own sessions).
const OURS: [&str; 3] = [
    "client_connection_check_interval",
    "standard_conforming_strings",
    "statement_timeout",
];

/// `options` with only the `-c name=value` settings `keep` keeps (the tests' options have no
/// escapes): what a proxy filtering startup options sends on.
fn options_keeping(options: Option<&str>, keep: fn(&str) -> bool) -> Option<String> {
    let words: Vec<&str> = options?.split_whitespace().collect();
    let kept: Vec<String> = words
        .iter()
        .enumerate()
        .filter(|(i, w)| **w != "-c" && *i > 0 && words[i - 1] == "-c")
        .filter(|(_, w)| keep(w.split('=').next().unwrap_or_default()))
        .map(|(_, w)| format!("-c {w}"))
        .collect();
    Some(kept.join(" ")).filter(|o| !o.is_empty())
}

/// `migrate up` and `migrate up --dry-run` of `url`, each refused (exit 5) before anything
/// ran, with the help to connect directly: what the caller checks further.
fn up_and_its_dry_run(project: &Project, url: &str) -> Vec<Run> {
    [&["migrate", "up"][..], &["migrate", "up", "--dry-run"][..]]
        .into_iter()
        .map(|args| {
            let mut args = args.to_vec();
            args.extend(["--database-url", url]);
            let run = project.run(&args);
            run.code(5)
                .stderr_has("nothing was run")
                .stderr_has("connect to the server directly");
            run
        })
        .collect()
}

/// A proxy that passes the tool's own startup options on and drops the connection's
/// (`options=-c search_path=app` in the URL), or keeps the connection's and drops the tool's:
/// the check of a session's first query compared only the tool's first option
/// (`client_connection_check_interval`), so the first one went unnoticed — `up` built the
/// ledger and the table in `public`, not in `app` — and the second was told "the session has
/// none of the settings" the options give. Every setting sent is compared now: a setting of
/// the connection's own that did not arrive is refused and named (exit 5), before anything is
/// written; the tool's own alone missing is no refusal, as with a connection without options.
#[test]
fn a_proxy_dropping_some_startup_options_names_the_missing_settings() {
    let db = TestDb::new("pooler_some_opts");
    db.connect().batch_execute("CREATE SCHEMA app").unwrap();
    let project = project();
    let drops_users =
        confiture_tests::proxy::OptionsProxy::start(|o| options_keeping(o, |n| OURS.contains(&n)));
    let url = format!(
        "{}&options=-c%20search_path%3Dapp%20-c%20lock_timeout%3D7s",
        drops_users.url(&db.name)
    );
    for run in up_and_its_dry_run(&project, &url) {
        run.stderr_has("the session lacks settings the connection's startup options (`options`) give: search_path=app, lock_timeout=7s")
            .stderr_has("likely dropped the connection's startup options");
    }
    assert_eq!(db.ledger(), None);
    assert!(!db.has_relation("users"));
    // `status` reads the ledger its search_path finds: refused alike, with and without one.
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(5)
        .stderr_has("search_path=app")
        .stderr_has("no status was read");
    project
        .run(&["migrate", "up", "--database-url", &db.url()])
        .code(0);
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(5)
        .stderr_has("search_path=app")
        .stderr_has("no status was read");

    // The connection's own kept, the tool's dropped: the migrations have their settings.
    let other = TestDb::new("pooler_some_opts2");
    other.connect().batch_execute("CREATE SCHEMA app").unwrap();
    let drops_ours =
        confiture_tests::proxy::OptionsProxy::start(|o| options_keeping(o, |n| !OURS.contains(&n)));
    let url = format!(
        "{}&options=-c%20search_path%3Dapp",
        drops_ours.url(&other.name)
    );
    project
        .run(&["migrate", "up", "--database-url", &url])
        .code(0);
    let in_app: bool = other
        .connect()
        .query_one("SELECT to_regclass('app.users') IS NOT NULL", &[])
        .unwrap()
        .get(0);
    assert!(in_app);
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(0)
        .stdout_has("001_create_users");
}

/// A proxy that passes the startup options on with a value changed (as a pooler's
/// `connect_query`, or a role's settings its reset applies, leave a session): the check of a
/// session's first query took a setting the startup packet set for one that arrived, whatever
/// its value, so `up` built `users` in schema `other` while the connection's options said
/// `app`, and a `lock_timeout` of 7 s ran as 1 s, unsaid. Each setting's value is compared as
/// the server reads it (`7000` of milliseconds is `7s`): a changed one is refused (exit 5) by
/// `up`, `status` and each target of a fleet's `status`, naming what was sent and what the
/// session has.
#[test]
fn a_proxy_changing_a_startup_option_names_what_was_sent_and_what_the_session_has() {
    let db = TestDb::new("pooler_changed_opts");
    db.connect()
        .batch_execute("CREATE SCHEMA app; CREATE SCHEMA other")
        .unwrap();
    let project = project();
    let moved = confiture_tests::proxy::OptionsProxy::changing("search_path", "other");
    let url = format!("{}&options=-c%20search_path%3Dapp", moved.url(&db.name));
    for run in up_and_its_dry_run(&project, &url) {
        run.stderr_has("the session has other values than the connection's startup options (`options`) give: search_path=app sent, the session has other");
    }
    assert_eq!(db.ledger(), None);
    assert!(!db.has_relation("users"));
    assert!(!db.has_relation("other.users"));
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(5)
        .stderr_has("search_path=app sent, the session has other")
        .stderr_has("no status was read");

    // Directly, settings the tool's own reads set for themselves (`SET LOCAL`) arrived.
    let direct = format!(
        "{}?options=-c%20lock_timeout%3D7s%20-c%20statement_timeout%3D1h%20-c%20work_mem%3D8MB",
        db.url()
    );
    project
        .run(&["migrate", "up", "--database-url", &direct])
        .code(0);
    project
        .run(&["migrate", "status", "--database-url", &direct])
        .code(0);
    // A setting of another type: a timeout changed is named; spelled otherwise, it is the same.
    let shorter = confiture_tests::proxy::OptionsProxy::changing("lock_timeout", "1s");
    let options = "&options=-c%20lock_timeout%3D7s";
    let url = format!("{}{options}", shorter.url(&db.name));
    project
        .run(&["migrate", "up", "--database-url", &url])
        .code(5)
        .stderr_has("lock_timeout=7s sent, the session has 1000ms");
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(5)
        .stderr_has("lock_timeout=7s sent, the session has 1000ms");
    // Each target of a fleet's status.
    let query = format!("SELECT '{}'", db.name);
    project
        .run(&[
            "migrate",
            "status",
            "--targets-query",
            &query,
            "--database-url",
            &url,
        ])
        .code(5)
        .stderr_has("lock_timeout=7s sent, the session has 1000ms")
        .stderr_has("no status was read");
    let same = confiture_tests::proxy::OptionsProxy::changing("lock_timeout", "7000");
    let url = format!("{}{options}", same.url(&db.name));
    project
        .run(&["migrate", "up", "--database-url", &url])
        .code(0);
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(0)
        .stdout_has("001_create_users");
}

/// `migrate status --schema` (and each target of a `--schemas-query` fleet's status) behind a
/// proxy that drops the startup options was read under the server's `search_path`, not the
/// tenant's, and said all was well (exit 0). Its session is checked as a writing session is,
/// in the same message as the ledger read (one round trip more without a ledger where that
/// search_path puts it): refused (exit 5), naming the tenant's search_path.
#[test]
fn a_tenant_status_behind_a_proxy_dropping_startup_options_is_refused() {
    let db = TestDb::new("pooler_status_tenant");
    let project = project();
    project
        .run_on(&db, &["migrate", "up", "--schema", "tenant_x"])
        .code(0);
    let proxy = confiture_tests::proxy::OptionsProxy::start(|_| None);
    let url = proxy.url(&db.name);
    // The tenant's ledger read in the same message; a tenant without a ledger yet.
    for tenant in ["tenant_x", "tenant_y"] {
        let run = project.run(&[
            "migrate",
            "status",
            "--schema",
            tenant,
            "--database-url",
            &url,
        ]);
        run.code(5)
            .stderr_has(&format!("not tenant schema {tenant} alone"))
            .stderr_has("the tenant's status would be read under that search_path")
            .stderr_has("connect to the server directly");
    }
    // A fleet's status, per target.
    let query = "SELECT 'tenant_x'";
    project
        .run(&[
            "migrate",
            "status",
            "--schemas-query",
            query,
            "--database-url",
            &url,
        ])
        .code(5)
        .stderr_has("not tenant schema tenant_x alone");
    // Directly, the tenant's status is its own.
    project
        .run_on(&db, &["migrate", "status", "--schema", "tenant_x"])
        .code(0);
}
