//! `Migrator::with_client` / `into_client` against a real PostgreSQL: a service hands over the
//! connection it holds, gets the same connection back, and the engine's rules hold on it (the
//! migration lock is taken and released, the session is reset around each migration).

use crate::apply_support;

use std::time::Duration;

use apply_support::{environment, value, Dir, TestDb};
use confiture::files::CheckOptions;
use confiture::migrate::{no_progress, UpOptions};
use confiture::{ErrorKind, Migrator};

fn migrations(dir: &Dir) {
    dir.migration(
        "001",
        "create_a",
        // What a migration sets does not outlive it.
        "CREATE TABLE a (id int);\nSET search_path TO pg_catalog;\n",
        "DROP TABLE public.a;\n",
    )
    .migration(
        "002",
        "slow",
        // Killed by the 50ms statement_timeout the service had set, were it kept.
        "SELECT pg_sleep(0.5);\n",
        "SELECT 1;\n",
    );
}

fn advisory_locks(client: &mut postgres::Client) -> String {
    value(
        client,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
    )
    .unwrap()
}

/// Asserts that `error` refuses a connection handed over (a usage error), naming both `names`
/// quoted, with help about `with_client`; `what` says which case and command.
fn refused_naming(error: &confiture::Error, names: [&str; 2], what: &str) {
    assert_eq!(error.kind, ErrorKind::Usage, "{what}: {error}");
    for name in names {
        assert!(
            error.message.contains(&format!("\"{name}\"")),
            "{what}: {name}: {error}"
        );
    }
    let help = error.help.as_deref().unwrap_or_default();
    assert!(help.contains("with_client"), "{what}: {error:?}");
}

/// Runs `status`, `up`, `down`, `baseline` and `reinit` on `migrator`, each expected to be
/// refused: `check` is given each error and the command's name.
fn every_command_refuses(migrator: &mut Migrator, check: impl Fn(&confiture::Error, &str)) {
    use confiture::migrate::{BaselineOptions, DownOptions, ReinitOptions};
    check(&migrator.status().unwrap_err(), "status");
    check(
        &migrator
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap_err()
            .error,
        "up",
    );
    check(
        &migrator
            .down(&DownOptions::default(), &mut no_progress)
            .unwrap_err()
            .error,
        "down",
    );
    check(
        &migrator
            .baseline(&BaselineOptions::through(1), &mut no_progress)
            .unwrap_err()
            .error,
        "baseline",
    );
    check(
        &migrator
            .reinit(&ReinitOptions::default(), &mut no_progress)
            .unwrap_err()
            .error,
        "reinit",
    );
}

/// What a writing command's refusal says it did not do: `up` and `down` run migrations,
/// `baseline` and `reinit` record them without running them (their dry runs too).
fn nothing_done(command: &str) -> &'static str {
    match command.split_whitespace().next() {
        Some("baseline" | "reinit") => "nothing was recorded",
        _ => "nothing was run",
    }
}

/// Runs `up`, `down`, `baseline` and `reinit` (and the dry runs of the last two) on
/// `migrator`: each error, with the command's name.
fn writing_commands(migrator: &mut Migrator) -> Vec<(&'static str, confiture::Error)> {
    use confiture::migrate::{BaselineOptions, DownOptions, ReinitOptions};
    let mut refused = vec![
        (
            "up",
            (migrator.up(&UpOptions::default(), &mut no_progress))
                .unwrap_err()
                .error,
        ),
        (
            "down",
            (migrator.down(&DownOptions::default(), &mut no_progress))
                .unwrap_err()
                .error,
        ),
    ];
    for dry_run in [false, true] {
        let baseline = BaselineOptions::through(1).dry_run(dry_run);
        let reinit = ReinitOptions::default().dry_run(dry_run);
        let (baseline_name, reinit_name) = match dry_run {
            false => ("baseline", "reinit"),
            true => ("baseline --dry-run", "reinit --dry-run"),
        };
        refused.push((
            baseline_name,
            (migrator.baseline(&baseline, &mut no_progress))
                .unwrap_err()
                .error,
        ));
        refused.push((
            reinit_name,
            (migrator.reinit(&reinit, &mut no_progress))
                .unwrap_err()
                .error,
        ));
    }
    refused
}

/// A connection handed over that is refused — inside a transaction, logged in as another user,
/// resolving a tenant's names elsewhere — says what the command did not do: `baseline` and
/// `reinit` record rows without running migrations, and said "nothing was run".
#[test]
fn a_refused_connection_says_what_each_command_did_not_do() {
    use confiture_test_support::reaper::DropRoleLater;
    let db = TestDb::new("withclientnothing");
    let role = DropRoleLater(format!("{}_u", db.name));
    db.client()
        .batch_execute(&format!(
            "CREATE SCHEMA tenant_a; CREATE ROLE \"{}\" LOGIN",
            role.0
        ))
        .unwrap();
    let dir = Dir::new();
    migrations(&dir);
    let base = environment(&db.name);
    let migrator = |env: confiture::config::Environment| {
        Migrator::new(env, &dir.path, CheckOptions::default())
    };
    let tenant = confiture::fleet::Target::schema(&base, "tenant_a", "the test")
        .unwrap()
        .environment;
    let in_transaction = db.client_as("my-service");
    let another_user = postgres::Client::connect(
        &apply_support::server().url_as(&role.0, None, &db.name),
        postgres::NoTls,
    )
    .expect("connect");
    for (case, mut migrator) in [
        (
            "in a transaction",
            migrator(base.clone()).with_client({
                let mut client = in_transaction;
                client.batch_execute("BEGIN").unwrap();
                client
            }),
        ),
        (
            "another user",
            migrator(base.clone()).with_client(another_user),
        ),
        (
            "a tenant's names elsewhere",
            migrator(tenant).with_client(db.client_as("my-service")),
        ),
    ] {
        for (command, error) in writing_commands(&mut migrator) {
            assert_eq!(error.kind, ErrorKind::Usage, "{case}: {command}: {error}");
            assert!(
                error.message.ends_with(nothing_done(command)),
                "{case}: {command}: {error}"
            );
        }
    }
    assert!(!db.table_exists("tb_confiture"), "nothing recorded");
    assert!(
        !db.table_exists("tenant_a.tb_confiture"),
        "nothing recorded"
    );
}

#[test]
fn the_handed_connection_is_used_and_given_back_reset_and_unlocked() {
    let db = TestDb::new("withclient");
    let dir = Dir::new();
    migrations(&dir);
    let mut client = db.client_as("my-service");
    let pid = value(&mut client, "SELECT pg_backend_pid()").unwrap();
    client
        // Long enough for the engine's first statement on the handed session (which runs
        // under it until the reset) even on a loaded machine; 1ms was cancelled there.
        .batch_execute("SET statement_timeout = '50ms'")
        .unwrap();

    let mut migrator = Migrator::new(environment(&db.name), &dir.path, CheckOptions::default())
        .with_client(client);
    let connected = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = connected.clone();
    migrator.on_connect(move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst));
    let report = migrator
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(report.applied, ["001", "002"]);
    let status = migrator.status().unwrap();
    assert_eq!(status.exit_code(), 0);
    assert!(
        !connected.load(std::sync::atomic::Ordering::SeqCst),
        "no connection of its own"
    );

    let mut client = migrator.into_client().expect("the client comes back");
    assert_eq!(value(&mut client, "SELECT pg_backend_pid()").unwrap(), pid);
    assert_eq!(
        value(&mut client, "SHOW search_path").unwrap(),
        "\"$user\", public"
    );
    assert_eq!(value(&mut client, "SHOW statement_timeout").unwrap(), "0");
    assert_eq!(
        value(&mut client, "SHOW application_name").unwrap(),
        "my-service",
        "what the connection was opened with stays"
    );
    assert_eq!(advisory_locks(&mut client), "0", "the lock is released");
    assert_eq!(
        value(&mut client, "SELECT count(*) FROM tb_confiture").unwrap(),
        "2"
    );
    assert_eq!(
        value(&mut client, "SELECT txid_current_if_assigned() IS NULL").unwrap(),
        "t",
        "no transaction left open"
    );
}

#[test]
fn the_lock_is_taken_on_the_handed_connection() {
    let db = TestDb::new("withclientlock");
    let dir = Dir::new();
    migrations(&dir);
    // Another deploy holds the migration lock: `up` on the handed connection waits for it.
    let mut holder = db.client_as("other-deploy");
    let key = confiture::db::lock_id(&db.name);
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock(1751936052, {key})"))
        .unwrap();
    let mut migrator = Migrator::new(environment(&db.name), &dir.path, CheckOptions::default())
        .with_client(db.client_as("my-service"));
    let failed = migrator
        .up(
            &UpOptions::default().lock_wait(Duration::from_millis(500)),
            &mut no_progress,
        )
        .unwrap_err();
    assert_eq!(failed.error.kind, ErrorKind::LockTimeout);
    let mut client = migrator.into_client().expect("the client comes back");
    assert_eq!(
        value(&mut client, "SELECT to_regclass('tb_confiture') IS NULL").unwrap(),
        "t",
        "nothing done without the lock"
    );

    // Once it is released, the same connection migrates.
    holder
        .batch_execute("SELECT pg_advisory_unlock_all()")
        .unwrap();
    let mut migrator = Migrator::new(environment(&db.name), &dir.path, CheckOptions::default())
        .with_client(client);
    migrator
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    let mut client = migrator.into_client().unwrap();
    assert_eq!(advisory_locks(&mut client), "0");
}

#[test]
fn a_session_that_never_connected_gives_back_nothing() {
    let migrator = Migrator::new(
        environment("unused"),
        "db/migrations",
        CheckOptions::default(),
    );
    assert!(migrator.into_client().is_none());
}

/// The run's timeouts hold for the session while its migrations run (one message sets them
/// once, not each transaction): whether the run succeeds or a migration fails, the handed
/// connection comes back with its own `lock_timeout` and `statement_timeout`.
#[test]
fn the_runs_timeouts_do_not_outlive_it_on_the_handed_connection() {
    for fails in [false, true] {
        let db = TestDb::new("withclienttimeouts");
        let dir = Dir::new();
        dir.table("001", "first", "a").migration(
            "002",
            "second",
            // Under the run's timeouts, not the connection's.
            "DO $$ BEGIN IF current_setting('lock_timeout') <> '1234ms' \
             OR current_setting('statement_timeout') <> '56789ms' THEN \
             RAISE EXCEPTION 'timeouts: % %', current_setting('lock_timeout'), \
             current_setting('statement_timeout'); END IF; END $$;\n",
            "SELECT 1;\n",
        );
        if fails {
            dir.migration("003", "third", "SELECT 1/0;\n", "SELECT 1;\n");
        } else {
            dir.migration("003", "third", "SELECT 1;\n", "SELECT 1;\n");
        }
        let mut client = db.client_as("my-service");
        client
            .batch_execute("SET lock_timeout = '7s'; SET statement_timeout = '8s'")
            .unwrap();
        let mut migrator = Migrator::new(environment(&db.name), &dir.path, CheckOptions::default())
            .with_client(client);
        let options = UpOptions::default()
            .lock_timeout_statement(Some(Duration::from_millis(1234)))
            .statement_timeout(Some(Duration::from_millis(56789)));
        let result = migrator.up(&options, &mut no_progress);
        match (&result, fails) {
            (Ok(report), false) => assert_eq!(report.applied, ["001", "002", "003"]),
            (Err(failed), true) => {
                assert_eq!(
                    failed.error.kind,
                    ErrorKind::MigrationFailed,
                    "{}",
                    failed.error
                );
                assert_eq!(failed.report.applied, ["001", "002"]);
            }
            (Ok(_), true) => panic!("003 divides by zero"),
            (Err(failed), false) => panic!("{}", failed.error),
        }
        let mut client = migrator.into_client().expect("the client comes back");
        // The connection's own values are its connection-time ones (what RESET gives): the
        // run's reset of the session already took the service's `SET`s away.
        assert_eq!(
            value(&mut client, "SHOW lock_timeout").unwrap(),
            "0",
            "fails: {fails}"
        );
        assert_eq!(
            value(&mut client, "SHOW statement_timeout").unwrap(),
            "0",
            "fails: {fails}"
        );
    }
}

/// A connection to another database than the environment's is refused before any command
/// reads or writes through it: the reports and errors would name the environment's database
/// while another one is migrated. The error names both, also as data a caller matches on
/// (`Reason::AnotherDatabase`, as `Reason::AnotherUser` for another login user); the client
/// comes back untouched (no ledger, no lock) and still usable.
#[test]
fn a_connection_to_another_database_is_refused_naming_both() {
    let named = TestDb::new("withclientnamed");
    let other = TestDb::new("withclientother");
    let dir = Dir::new();
    migrations(&dir);
    let mut migrator = Migrator::new(environment(&named.name), &dir.path, CheckOptions::default())
        .with_client(other.client_as("my-service"));
    every_command_refuses(&mut migrator, |error, command| {
        refused_naming(error, [&other.name, &named.name], command);
        assert_eq!(
            error.reason(),
            &confiture::Reason::AnotherDatabase {
                connected: other.name.clone(),
                named: named.name.clone(),
            },
            "{command}: {error:?}"
        );
    });
    let mut client = migrator.into_client().expect("the client comes back");
    assert_eq!(
        value(&mut client, "SELECT current_database()").unwrap(),
        other.name
    );
    for db in [&named, &other] {
        assert!(!db.table_exists("tb_confiture"), "{}", db.name);
        assert!(!db.table_exists("a"), "{}", db.name);
    }
    assert_eq!(advisory_locks(&mut client), "0");
}

/// A connection handed over inside a transaction block — a `BEGIN` left open, or a transaction
/// that failed and was never rolled back — is refused as such before anything runs through it
/// (`Reason::InTransaction`), whatever the command. It was refused by the pooler check as
/// "goes through a pooler in transaction pooling mode" (h10 D4): the connection's own open
/// transaction looked like another client's. The service's transaction is left as it was,
/// and the client comes back with it.
#[test]
fn a_connection_inside_a_transaction_is_refused_as_such() {
    let db = TestDb::new("withclienttxn");
    let dir = Dir::new();
    migrations(&dir);
    for (setup, failed) in [
        ("BEGIN; CREATE TABLE svc_work (id int);", false),
        ("BEGIN; SELECT 1/0;", true),
    ] {
        let mut client = db.client_as("my-service");
        let _ = client.batch_execute(setup);
        let mut migrator = Migrator::new(environment(&db.name), &dir.path, CheckOptions::default())
            .with_client(client);
        let refused = migrator
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap_err()
            .error;
        assert_eq!(refused.kind, ErrorKind::Usage, "{setup}: {refused:?}");
        assert_eq!(
            refused.reason(),
            &confiture::Reason::InTransaction,
            "{setup}: {refused:?}"
        );
        assert!(!refused.message.contains("pooler"), "{setup}: {refused}");
        let help = refused.help.clone().unwrap_or_default();
        assert!(
            help.contains("COMMIT") && help.contains("ROLLBACK"),
            "{help}"
        );
        assert_eq!(
            migrator.status().unwrap_err().reason(),
            &confiture::Reason::InTransaction,
            "{setup}: status too"
        );
        let mut client = migrator.into_client().expect("the client comes back");
        if !failed {
            // The service's transaction is still open, with its work in it.
            assert_eq!(
                value(&mut client, "SELECT to_regclass('svc_work') IS NOT NULL").unwrap(),
                "t"
            );
        }
        client.batch_execute("ROLLBACK").unwrap();
        assert!(!db.table_exists("tb_confiture"), "{setup}");
        assert!(!db.table_exists("svc_work"), "{setup}");
    }
}

/// A session-level advisory lock (`pg_advisory_lock`, taken for `pg_advisory_xact_lock`) and a
/// `LISTEN` of a migration do not outlive it: the next migration starts without them, inside
/// `--single-transaction` too (hlk 4: 001's session-level locks were still held when 002 ran
/// there; only the one transaction's own `pg_advisory_xact_lock` lasts until its `COMMIT`),
/// and the connection handed back holds none — any other session of the service waiting on
/// the same key hung before. Every key form: one bigint, two int4 (negative too), shared,
/// taken twice; a transaction-level lock is released by its `COMMIT` as before.
#[test]
fn a_migrations_advisory_locks_and_listens_do_not_outlive_it() {
    let takes = "CREATE TABLE a (id int);\n\
         SELECT pg_advisory_lock(42); SELECT pg_advisory_lock(42);\n\
         SELECT pg_advisory_lock(-7); SELECT pg_advisory_lock_shared(-3, 5);\n\
         SELECT pg_advisory_lock(2000000000, -2000000000); SELECT pg_advisory_xact_lock(9);\n\
         LISTEN confiture_test_chan;\n";
    let no_transaction = format!(
        "-- confiture:no-transaction\n-- confiture:allow(no-transaction-multiple-statements)\n\
         {takes}CREATE INDEX CONCURRENTLY a_id ON a (id);\n"
    );
    let seen = "CREATE TABLE seen AS SELECT \
         (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() \
          AND classid <> 1751936052) AS locks, \
         (SELECT count(*) FROM pg_listening_channels()) AS channels;\n";
    // What 002 sees: advisory locks and channels held. Inside `--single-transaction`, the one
    // transaction's `pg_advisory_xact_lock(9)` alone.
    let ways = [
        ("one up", UpOptions::default(), takes.to_string(), "0/0"),
        (
            "no-transaction",
            UpOptions::default(),
            no_transaction.clone(),
            "0/0",
        ),
        (
            "--single-transaction",
            UpOptions::default().single_transaction(true),
            takes.to_string(),
            "1/0",
        ),
    ];
    for (how, options, first, seen_by_002) in ways {
        let db = TestDb::new("withclient_advisory");
        let dir = Dir::new();
        dir.migration("001", "takes", &first, "DROP TABLE a;\n")
            .migration("002", "sees", seen, "DROP TABLE seen;\n");
        let client = db.client_as("my-service");
        let mut migrator = Migrator::new(environment(&db.name), &dir.path, CheckOptions::default())
            .with_client(client);
        let report = migrator
            .up(&options, &mut no_progress)
            .unwrap_or_else(|f| panic!("{how}: {}", f.error));
        assert_eq!(report.applied, ["001", "002"], "{how}");
        // The release's unlock of the transaction's own lock, which finds nothing, says nothing.
        assert!(report.warnings.is_empty(), "{how}: {:?}", report.warnings);
        let mut client = migrator.into_client().expect("the client comes back");
        assert_eq!(
            value(&mut client, "SELECT locks || '/' || channels FROM seen").unwrap(),
            seen_by_002,
            "{how}: 002 started without 001's session-level locks and LISTEN"
        );
        assert_eq!(
            advisory_locks(&mut client),
            "0",
            "{how}: no lock handed back"
        );
        assert_eq!(
            value(&mut client, "SELECT count(*) FROM pg_listening_channels()").unwrap(),
            "0",
            "{how}: no LISTEN handed back"
        );
    }
}

/// A migration that took a session-level advisory lock and then failed leaves none on the
/// connection handed back either: a rollback does not release it, and the run stops there.
/// In a message of several, alone, and inside `--single-transaction`, at a statement and at
/// the run's `COMMIT`.
#[test]
fn a_failed_migrations_advisory_locks_are_released_too() {
    let ways = [
        ("in a message", UpOptions::default(), "SELECT 1/0;\n"),
        (
            "--single-transaction",
            UpOptions::default().single_transaction(true),
            "SELECT 1/0;\n",
        ),
        (
            "--single-transaction, at its COMMIT",
            UpOptions::default().single_transaction(true),
            "CREATE TABLE p (id int PRIMARY KEY);\n\
             CREATE TABLE c (pid int REFERENCES p DEFERRABLE INITIALLY DEFERRED);\n\
             INSERT INTO c VALUES (42);\n",
        ),
    ];
    for (how, options, fails) in ways {
        let db = TestDb::new("withclient_advisory_failed");
        let dir = Dir::new();
        dir.table("001", "first", "a").migration(
            "002",
            "locks_then_fails",
            &format!("SELECT pg_advisory_lock(42);\n{fails}"),
            "SELECT 1;\n",
        );
        let client = db.client_as("my-service");
        let mut migrator = Migrator::new(environment(&db.name), &dir.path, CheckOptions::default())
            .with_client(client);
        migrator
            .up(&options, &mut no_progress)
            .expect_err("002 fails");
        let mut client = migrator.into_client().expect("the client comes back");
        assert_eq!(
            advisory_locks(&mut client),
            "0",
            "{how}: no lock handed back"
        );
    }
}

/// A connection handed over and given back before any command took it over (none ran, or each
/// was refused: another database, a transaction open or failed) comes back untouched: its
/// `statement_timeout`, and the transaction the refusal says is "left as it was". `into_client`
/// reset the timeout on it all the same, inside the caller's open transaction too.
#[test]
fn a_connection_no_command_took_over_comes_back_untouched() {
    let db = TestDb::new("withclientuntouched");
    let other = TestDb::new("withclientuntouchedother");
    let dir = Dir::new();
    migrations(&dir);
    for (how, connect_to, setup, command) in [
        ("no command", &db, "", false),
        ("another database", &other, "", true),
        ("an open transaction", &db, "BEGIN;", true),
    ] {
        let mut client = connect_to.client_as("my-service");
        client
            .batch_execute(&format!("SET statement_timeout = '7s'; {setup}"))
            .unwrap();
        let mut migrator = Migrator::new(environment(&db.name), &dir.path, CheckOptions::default())
            .with_client(client);
        if command {
            let refused = migrator.up(&UpOptions::default(), &mut no_progress);
            assert_eq!(
                refused.unwrap_err().error.kind,
                ErrorKind::Usage,
                "{how}: refused"
            );
        }
        let mut client = migrator.into_client().expect("the client comes back");
        assert_eq!(
            value(&mut client, "SHOW statement_timeout").unwrap(),
            "7s",
            "{how}: the caller's setting stays"
        );
        // Committed, the caller's transaction holds nothing of ours either.
        client.batch_execute("COMMIT").unwrap();
        assert_eq!(
            value(&mut client, "SHOW statement_timeout").unwrap(),
            "7s",
            "{how}: nothing changed inside the caller's transaction"
        );
    }
}

/// A tenant schema's session ([`confiture::fleet::Target::schema`]) handed a service's
/// connection: its own sessions are opened with the tenant's `search_path` as the connection's
/// (so that the reset before each migration keeps it), but a service's connection went back to
/// `"$user", public`, where the tenant's migrations built while its ledger recorded them — and
/// the next tenant's failed, "already exists". Such a connection is refused before anything
/// runs; one opened with the tenant's `search_path` as its own (either spelling) migrates the
/// tenant, and only it.
#[test]
fn a_tenants_session_refuses_a_connection_that_resolves_names_elsewhere() {
    let db = TestDb::new("withclienttenant");
    let dir = Dir::new();
    migrations(&dir);
    db.client()
        .batch_execute("CREATE SCHEMA tenant_a; CREATE SCHEMA \"Tenant_B\"; CREATE SCHEMA tenant_c")
        .unwrap();
    let base = environment(&db.name);
    let tenant = |schema: &str| {
        let target = confiture::fleet::Target::schema(&base, schema, "the test").unwrap();
        Migrator::new(target.environment, &dir.path, CheckOptions::default())
    };
    // Its own search_path set, or none: refused, whatever the service `SET` on it.
    for setup in ["", "SET search_path = tenant_a"] {
        let mut client = db.client_as("my-service");
        client.batch_execute(setup).unwrap();
        let mut migrator = tenant("tenant_a").with_client(client);
        let refused = migrator
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap_err()
            .error;
        assert_eq!(refused.kind, ErrorKind::Usage, "{setup:?}: {refused}");
        assert!(refused.message.contains("tenant_a"), "{refused}");
        assert!(
            refused
                .help
                .as_deref()
                .unwrap_or_default()
                .contains("search_path"),
            "{:?}",
            refused.help
        );
        assert_eq!(
            migrator.status().unwrap_err().kind,
            ErrorKind::Usage,
            "{setup:?}: status too"
        );
    }
    assert!(!db.table_exists("public.a"), "nothing built in public");
    assert!(
        !db.table_exists("tenant_a.tb_confiture"),
        "nothing recorded"
    );

    for (schema, option) in [
        ("tenant_a", "tenant_a"),
        ("Tenant_B", "\"Tenant_B\""),
        ("tenant_c", "\"tenant_c\""),
    ] {
        let conninfo = format!("{} options='-c search_path={option}'", db.conninfo());
        let client = postgres::Client::connect(&conninfo, postgres::NoTls).unwrap();
        let mut migrator = tenant(schema).with_client(client);
        let report = migrator
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap_or_else(|f| panic!("{schema}: {}", f.error));
        assert_eq!(report.applied, ["001", "002"], "{schema}");
        assert!(db.table_exists(&format!("\"{schema}\".a")), "{schema}");
    }
    assert!(!db.table_exists("public.a"), "nothing built in public");
}

/// `into_client()` called on a thread of a tokio runtime (an async fn, after `up_async` or a
/// blocking command there, which work) gives the connection back: it ran its `RESET` on the
/// driver there, which panicked "Cannot start a runtime from within a runtime", and the
/// connection dropped while unwinding aborted the process. Its own connection and one handed
/// over alike.
#[test]
fn into_client_on_a_runtime_thread_gives_the_connection_back() {
    let db = TestDb::new("withclientruntime");
    let dir = Dir::new();
    migrations(&dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for handed in [true, false] {
        let mut migrator = Migrator::new(environment(&db.name), &dir.path, CheckOptions::default());
        if handed {
            migrator = migrator.with_client(db.client_as("my-service"));
        }
        let client = runtime.block_on(async move {
            migrator.status().unwrap();
            migrator.into_client()
        });
        let mut client = client.expect("the client comes back");
        assert_eq!(
            value(&mut client, "SHOW statement_timeout").unwrap(),
            "0",
            "handed over: {handed}"
        );
    }
}

/// A connection handed over that logged in as another user than the environment names (the
/// service's own role, the environment's migration role) is refused before anything runs
/// through it (`Reason::AnotherUser`, naming both users), whatever the command: it ran the
/// migrations as the service's role while every message named the environment's. What counts
/// is the login user, which the session reset goes back to: a `SET SESSION AUTHORIZATION`
/// made before handing the connection over neither hides another login user nor makes the
/// environment's own one refused.
#[test]
fn a_connection_logged_in_as_another_user_is_refused_naming_both() {
    use confiture_test_support::reaper::DropRoleLater;
    let db = TestDb::new("withclientuser");
    let role = DropRoleLater(format!("{}_u", db.name));
    db.client()
        .batch_execute(&format!(
            "CREATE ROLE \"{0}\" LOGIN; GRANT CREATE, USAGE ON SCHEMA public TO \"{0}\"",
            role.0
        ))
        .expect("create role");
    let dir = Dir::new();
    migrations(&dir);
    let env_as = |user: &str| {
        let url = format!(
            "{}?sslmode=disable",
            apply_support::server().url_as(user, None, &db.name)
        );
        confiture::config::Environment::from_url(&url, "the test database URL").unwrap()
    };
    let connect_as = |user: &str| {
        postgres::Client::connect(
            &apply_support::server().url_as(user, None, &db.name),
            postgres::NoTls,
        )
        .expect("connect")
    };
    let postgres_user = environment(&db.name).connection.user;
    let mut authorized = connect_as(&postgres_user);
    authorized
        .batch_execute(&format!("SET SESSION AUTHORIZATION \"{}\"", role.0))
        .unwrap();
    // (login user, environment's user, the connection)
    for (login, named, client) in [
        (role.0.clone(), postgres_user.clone(), connect_as(&role.0)),
        (postgres_user.clone(), role.0.clone(), authorized),
    ] {
        let case = format!("logged in as {login}, environment names {named}");
        let mut migrator =
            Migrator::new(env_as(&named), &dir.path, CheckOptions::default()).with_client(client);
        let check = |error: &confiture::Error, command: &str| {
            refused_naming(error, [&login, &named], &format!("{case}: {command}"));
            assert_eq!(
                error.reason(),
                &confiture::Reason::AnotherUser {
                    connected: login.clone(),
                    named: named.clone()
                },
                "{case}: {command}: {error:?}"
            );
        };
        every_command_refuses(&mut migrator, check);
        let mut client = migrator.into_client().expect("the client comes back");
        assert!(!db.table_exists("tb_confiture"), "{case}");
        assert!(!db.table_exists("a"), "{case}");
        assert_eq!(advisory_locks(&mut client), "0", "{case}");
    }

    // The environment's login user, set to another role before handing it over: accepted,
    // and the migrations run as the login user (the reset gives the session back to it).
    let mut client = connect_as(&postgres_user);
    client
        .batch_execute(&format!("SET SESSION AUTHORIZATION \"{}\"", role.0))
        .unwrap();
    let mut migrator = Migrator::new(environment(&db.name), &dir.path, CheckOptions::default())
        .with_client(client);
    let report = migrator
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(report.applied, ["001", "002"]);
    assert_eq!(
        db.value("SELECT tableowner FROM pg_tables WHERE tablename = 'a'")
            .as_deref(),
        Some(postgres_user.as_str())
    );
    drop(migrator);
    // The role holds no grant once the database goes; dropped after it (the reaper's order).
    drop(role);
}

/// The first read on a connection handed over (which database, which login user, whether a
/// transaction is open, the `search_path` a reset gives) reads `pg_settings` and
/// `pg_stat_activity`, and ran under the service's own settings, before the session is reset:
/// a service whose session may write no temporary file (`temp_file_limit = 0`, a tiny
/// `work_mem`) and has many settings of its own (`pg_settings` builds every setting's row in a
/// tuple store, which spilled) had every command refused ("cannot reset the session handed
/// over: temporary file size exceeds temp_file_limit"), and one whose `statement_timeout` is
/// 1 ms had it cancelled. That read has the tool's own reads' bounds now: `up` and `status`
/// succeed, and the connection comes back with the service's own settings reset.
#[test]
fn the_first_read_on_a_handed_connection_has_the_tools_own_bounds() {
    let db = TestDb::new("withclientbounds");
    let dir = Dir::new();
    migrations(&dir);
    let pads = "DO $$ BEGIN FOR i IN 1..1000 LOOP PERFORM pg_catalog.set_config(\
                'confiture_test.pad' || i, repeat('x', 1000), false); END LOOP; END $$;";
    for bound in [
        "SET temp_file_limit = 0; SET work_mem = '64kB';",
        "SET statement_timeout = '1ms';",
    ] {
        let mut client = db.client_as("my-service");
        client.batch_execute(&format!("{pads} {bound}")).unwrap();
        let mut migrator = Migrator::new(environment(&db.name), &dir.path, CheckOptions::default())
            .with_client(client);
        migrator
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap_or_else(|e| panic!("{bound}: {}", e.error));
        let status = migrator.status().unwrap_or_else(|e| panic!("{bound}: {e}"));
        assert_eq!(status.exit_code(), 0, "{bound}");
        let mut client = migrator.into_client().expect("the client comes back");
        assert_eq!(
            value(&mut client, "SHOW work_mem").unwrap(),
            "4MB",
            "{bound}"
        );
        assert_eq!(
            value(&mut client, "SHOW statement_timeout").unwrap(),
            "0",
            "{bound}"
        );
    }
}
