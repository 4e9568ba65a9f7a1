//! Which failures are whose: SQLSTATEs of class 08/57P0x raised by a migration's own SQL are a
//! failed migration while our session lives (exit 4, not 3); the tool's own SQL failing on the
//! ledger names the ledger and the privilege or column (exit 5), never the user's file; and a
//! failed migration's SQL is never executed a second time.

#![allow(clippy::result_large_err)] // `Outcome`s are returned from test threads as they are.

use crate::apply_support;

use apply_support::{connect, migrator_for, Dir, TestDb};
use confiture::config::Environment;
use confiture::migrate::{no_progress, UpOptions};
use confiture::{ErrorKind, Reason};
use confiture_test_support::reaper::DropRoleLater;

#[test]
fn connection_sqlstates_raised_by_migration_sql_are_a_failed_migration() {
    for code in ["57P01", "57P02", "08006", "08001"] {
        for no_transaction in [false, true] {
            let db = TestDb::new("sqlstate");
            let dir = Dir::new();
            let marker = if no_transaction {
                // A statement that needs it, so that the marker is not refused by lint.
                "-- confiture:no-transaction\nCREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n"
            } else {
                ""
            };
            dir.migration(
                "001",
                "raise",
                &format!(
                    "{marker}DO $$ BEGIN RAISE EXCEPTION 'remote gone' USING ERRCODE = '{code}'; END $$;\n"
                ),
                "SELECT 1;\n",
            )
            .migration("002", "next", "CREATE TABLE n (id int);\n", "SELECT 1;\n");
            let mut migrator = db.migrator(&dir);
            let failed = migrator
                .up(&UpOptions::default(), &mut no_progress)
                .unwrap_err();
            let how = format!("{code}, no-transaction {no_transaction}");
            assert_eq!(
                failed.error.kind,
                ErrorKind::MigrationFailed,
                "{how}: {failed}"
            );
            assert_eq!(failed.error.exit_code(), 4, "{how}");
            assert!(
                failed.error.message_with_cause().contains("remote gone"),
                "{how}: {failed}"
            );
            assert_eq!(failed.report.errors[0].sqlstate.as_deref(), Some(code));
            assert_eq!(failed.report.skipped, ["002"], "{how}: not attempted");
            assert!(db.ledger().is_empty(), "{how}");
            // A no-transaction first migration committed its table and left the ledger with no
            // rows: its start marker, not `--allow-non-empty`, lets the next `up` run it over
            // that table (a plain `up` without the marker refuses that database, h14 D5).
            let help = failed.error.help.clone().unwrap_or_default();
            assert!(!help.contains("--allow-non-empty"), "{how}: {help}");
            let mut again = UpOptions::default();
            // What it committed is unrecorded: its start marker stays, and the help says to
            // run it again on purpose.
            assert_eq!(
                help.contains("--rerun-interrupted"),
                no_transaction,
                "{how}: {help}"
            );
            again.rerun_interrupted = no_transaction;
            // The session is alive: the same migrator goes on with it.
            dir.write(
                "001_raise.up.sql",
                if no_transaction {
                    "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_id2 ON t (id);\n"
                } else {
                    "SELECT 1;\n"
                },
            );
            migrator
                .up(&again, &mut no_progress)
                .unwrap_or_else(|f| panic!("{how}: {f}"));
            assert_eq!(db.ledger(), ["001:raise", "002:next"], "{how}");
        }
    }
}

/// A login role that exists for one test, named after the test database and so created after
/// it: handed over before the database (which holds its grants), the reaper drops it once the
/// database is.
struct Role(DropRoleLater);

impl Role {
    fn login(db: &TestDb) -> Role {
        let name = format!("{}_u", db.name);
        db.client()
            .batch_execute(&format!(
                "CREATE ROLE \"{name}\" LOGIN; GRANT CREATE, USAGE ON SCHEMA public TO \"{name}\""
            ))
            .expect("create role");
        Role(DropRoleLater(name))
    }

    fn name(&self) -> &str {
        &self.0 .0
    }

    fn environment(&self, db: &TestDb) -> Environment {
        let url = format!(
            "{}?sslmode=disable",
            apply_support::server().url_as(self.name(), None, &db.name)
        );
        Environment::from_url(&url, "the test database URL").expect("test URL parses")
    }
}

/// Runs `up` over `dir` as `role` and returns the failure.
fn up_as(
    role: &Role,
    db: &TestDb,
    dir: &Dir,
) -> confiture::migrate::Failed<confiture::migrate::UpReport> {
    migrator_for(role.environment(db), &dir.path)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
}

/// The ledger exists (created by `postgres`, the way an operator would).
fn ledger_by_postgres(db: &TestDb) {
    let empty = Dir::new();
    db.migrator(&empty)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    assert!(db.table_exists("tb_confiture"));
}

#[test]
fn a_ledger_this_role_may_read_but_not_write_is_named_before_any_migration_runs() {
    let db = TestDb::new("ledger_ro");
    let role = Role::login(&db);
    ledger_by_postgres(&db);
    db.client()
        .batch_execute(&format!(
            "GRANT SELECT ON tb_confiture TO \"{}\"",
            role.name()
        ))
        .unwrap();
    let dir = Dir::new();
    dir.table("001", "a", "a");
    let failed = up_as(&role, &db, &dir);
    let e = &failed.error;
    assert_eq!(e.kind, ErrorKind::Invalid, "{e:?}");
    assert_eq!(e.exit_code(), 5);
    assert!(e.message.contains("public.tb_confiture"), "{e:?}");
    assert!(e.message.contains("INSERT"), "{e:?}");
    let help = e.help.as_deref().unwrap_or_default();
    assert!(
        help.contains("GRANT") && help.contains(role.name()),
        "{e:?}"
    );
    assert!(
        !e.to_string().contains("001_a.up.sql"),
        "not blamed on the file: {e}"
    );
    assert!(!db.table_exists("a"), "no migration ran");
}

/// Row-level security on the ledger hid its rows from a role that may read it: `status` said
/// every migration was pending, and `up` ran 001 again (its row then refused by the policy,
/// blamed on 001's file). Wherever it applies to the role — enabled and the role not the
/// owner, or forced on the owner; whatever the policies say; with `row_security = off`,
/// which makes such a read an error — `status`, `up` and `down` refuse (exit 5) before
/// anything runs, naming the table, the role and how to exempt them. Where it does not apply
/// (the owner without `FORCE`, `BYPASSRLS`), nothing changes.
#[test]
fn row_level_security_on_the_ledger_is_refused_before_anything_runs() {
    use confiture::migrate::DownOptions;
    let cases: [(&str, &str, bool); 6] = [
        (
            "enabled, no policy",
            "ALTER TABLE tb_confiture ENABLE ROW LEVEL SECURITY",
            true,
        ),
        (
            "enabled, a policy showing every row",
            "ALTER TABLE tb_confiture ENABLE ROW LEVEL SECURITY; \
             CREATE POLICY everything ON tb_confiture USING (true) WITH CHECK (true)",
            true,
        ),
        (
            "enabled, row_security off for the database",
            "ALTER TABLE tb_confiture ENABLE ROW LEVEL SECURITY; \
             ALTER DATABASE {db} SET row_security = off",
            true,
        ),
        (
            "forced on the owner",
            "ALTER TABLE tb_confiture OWNER TO {role}; \
             ALTER TABLE tb_confiture ENABLE ROW LEVEL SECURITY; \
             ALTER TABLE tb_confiture FORCE ROW LEVEL SECURITY",
            true,
        ),
        (
            "enabled, the role owns the table",
            "ALTER TABLE tb_confiture OWNER TO {role}; \
             ALTER TABLE tb_confiture ENABLE ROW LEVEL SECURITY",
            false,
        ),
        (
            "forced, the role has BYPASSRLS",
            "ALTER TABLE tb_confiture ENABLE ROW LEVEL SECURITY; \
             ALTER TABLE tb_confiture FORCE ROW LEVEL SECURITY; ALTER ROLE {role} BYPASSRLS",
            false,
        ),
    ];
    for (what, setup, refused) in cases {
        let db = TestDb::new("ledger_rls");
        let role = Role::login(&db);
        let dir = Dir::new();
        dir.table("001", "a", "a").table("002", "b", "b");
        db.migrator(&dir)
            .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
            .unwrap();
        db.client()
            .batch_execute(&format!(
                "GRANT SELECT, INSERT, DELETE ON tb_confiture TO \"{r}\"; \
                 GRANT ALL ON a TO \"{r}\"; {}",
                setup
                    .replace("{role}", &format!("\"{}\"", role.name()))
                    .replace("{db}", &format!("\"{}\"", db.name)),
                r = role.name()
            ))
            .unwrap();
        let migrator = || migrator_for(role.environment(&db), &dir.path);
        let status = migrator().status();
        if !refused {
            let status = status.unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(status.applied, ["001"], "{what}: the role sees the ledger");
            migrator()
                .up(&UpOptions::default(), &mut no_progress)
                .unwrap_or_else(|f| panic!("{what}: {}", f.error));
            assert_eq!(db.ledger(), ["001:a", "002:b"], "{what}");
            continue;
        }
        let refusals = [
            ("status", status.err()),
            (
                "up",
                migrator()
                    .up(&UpOptions::default(), &mut no_progress)
                    .err()
                    .map(|f| f.error),
            ),
            (
                "down",
                migrator()
                    .down(&DownOptions::default(), &mut no_progress)
                    .err()
                    .map(|f| f.error),
            ),
        ];
        for (command, error) in refusals {
            let e = error.unwrap_or_else(|| panic!("{what}: {command} is refused"));
            assert_eq!(e.kind, ErrorKind::Invalid, "{what}: {command}: {e:?}");
            assert_eq!(e.exit_code(), 5);
            assert!(
                e.message.contains("row-level security")
                    && e.message.contains("public.tb_confiture")
                    && e.message.contains(role.name()),
                "{what}: {command}: {e}"
            );
            let help = e.help.as_deref().unwrap_or_default();
            assert!(
                help.contains("DISABLE ROW LEVEL SECURITY") && help.contains("BYPASSRLS"),
                "{what}: {command}: {help}"
            );
            assert!(!e.to_string().contains(".up.sql"), "{what}: {command}: {e}");
        }
        assert_eq!(db.ledger(), ["001:a"], "{what}: nothing written");
        assert!(
            db.table_exists("a") && !db.table_exists("b"),
            "{what}: nothing ran"
        );
    }
}

#[test]
fn permission_denied_reading_the_ledger_is_not_a_connection_error() {
    let db = TestDb::new("ledger_noread");
    let role = Role::login(&db);
    ledger_by_postgres(&db);
    let dir = Dir::new();
    dir.table("001", "a", "a");
    let failed = up_as(&role, &db, &dir);
    assert_eq!(failed.error.kind, ErrorKind::Invalid, "{:?}", failed.error);
    assert!(
        failed.error.message.contains("tb_confiture"),
        "{:?}",
        failed.error
    );
    assert!(
        failed
            .error
            .help
            .as_deref()
            .unwrap_or_default()
            .contains("GRANT SELECT"),
        "{:?}",
        failed.error
    );
    // The server's "permission denied" was in the message and in the source: said once.
    crate::common::assert_each_cause_said_once(&failed.error);
    assert!(
        failed
            .error
            .message_with_cause()
            .contains("permission denied"),
        "{:?}",
        failed.error
    );
    let status = migrator_for(role.environment(&db), &dir.path).status();
    let e = status.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid, "status: {e:?}");
    assert!(!db.table_exists("a"));
}

#[test]
fn a_ledger_with_an_extra_not_null_column_is_named_with_the_column() {
    let db = TestDb::new("ledger_col");
    ledger_by_postgres(&db);
    db.client()
        .batch_execute("ALTER TABLE tb_confiture ADD COLUMN team text NOT NULL")
        .unwrap();
    let dir = Dir::new();
    dir.table("001", "a", "a");
    let failed = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    let e = &failed.error;
    assert_eq!(e.kind, ErrorKind::Invalid, "{e:?}");
    assert!(
        e.message.contains("tb_confiture") && e.message.contains("team"),
        "{e:?}"
    );
    assert!(
        !e.to_string().contains("001_a.up.sql"),
        "not blamed on the file: {e}"
    );
    assert!(!db.table_exists("a"), "no migration ran");
}

/// A migration that writes its own ledger row (ported from a tool whose migrations did) where
/// lint does not see it makes the engine's row a duplicate. The plan, read under the lock, had no row for it, so the
/// migration (or a trigger it fired) wrote it: that is the migration's failure (exit 4), named
/// with its file, not a ledger to repair (exit 5) — alone and in a message with others.
#[test]
fn a_migration_that_writes_its_own_ledger_row_is_its_failure_named_with_its_file() {
    for steps in [None, Some(1)] {
        let db = TestDb::new("ownrow");
        let dir = Dir::new();
        dir.table("001", "a", "a")
            .migration(
                "002",
                "b",
                // Built at run time, where lint (`writes-tracking-table`) cannot see it.
                "CREATE TABLE b (id int);\nDO $$ BEGIN EXECUTE 'INSERT INTO tb_' || \
                 'confiture (slug, version, name) VALUES (''b_002_x'', ''002'', ''b'')'; END $$;\n",
                "DROP TABLE b;\n",
            )
            .table("003", "c", "c");
        let failed = up_fails_past_001(&db, &dir, steps);
        let e = &failed.error;
        assert_eq!(e.kind, ErrorKind::MigrationFailed, "{steps:?}: {e:?}");
        let help = e.help.as_deref().unwrap_or_default();
        assert!(
            help.contains("002_b.up.sql") && help.contains("records each migration itself"),
            "{steps:?}: {help}"
        );
        assert!(
            e.details
                .iter()
                .any(|d| d.contains("inserted, updated or deleted rows of the tracking table")),
            "{steps:?}: {:?}",
            e.details
        );
        assert_eq!(db.ledger(), ["001:a"], "{steps:?}");
        assert!(
            db.table_exists("a") && !db.table_exists("b") && !db.table_exists("c"),
            "{steps:?}"
        );
    }
}

/// `up` of `dir`'s migrations failing after 001: in one message with it (`steps` `None`), or
/// in a run of its own after 001 was applied alone (`Some(1)`).
fn up_fails_past_001(
    db: &TestDb,
    dir: &Dir,
    steps: Option<u32>,
) -> confiture::migrate::Failed<confiture::migrate::UpReport> {
    let mut migrator = db.migrator(dir);
    if steps.is_some() {
        migrator
            .up(&UpOptions::default().steps(steps), &mut no_progress)
            .expect("001 alone");
    }
    migrator
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
}

/// A failure without a server position is never located by running the file again: a
/// sequence the migration advances moves exactly once.
#[test]
fn a_failed_migration_is_never_executed_twice() {
    let db = TestDb::new("once");
    db.client().batch_execute("CREATE SEQUENCE calls").unwrap();
    let dir = Dir::new();
    dir.migration(
        "001",
        "a",
        "CREATE TABLE a (id int PRIMARY KEY);\nSELECT nextval('calls');\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES (1);\n",
        "DROP TABLE a;\n",
    );
    let failed = db
        .migrator(&dir)
        .up(
            &UpOptions::default().allow_non_empty(true),
            &mut no_progress,
        )
        .unwrap_err();
    assert_eq!(failed.report.errors[0].sqlstate.as_deref(), Some("23505"));
    assert_eq!(
        db.value("SELECT last_value FROM calls").as_deref(),
        Some("1"),
        "the migration ran more than once"
    );
    assert!(!db.table_exists("a"));
}

/// An interrupted `CREATE INDEX CONCURRENTLY` leaves an INVALID index (here made the way a
/// failed build makes one); running the migration again is refused before anything runs, with
/// the `DROP INDEX CONCURRENTLY` to run — also with `IF NOT EXISTS`, which would otherwise
/// record the migration over an index that was never built.
#[test]
fn an_invalid_index_left_by_an_interrupted_build_is_named_with_the_drop_to_run() {
    for if_not_exists in ["", "IF NOT EXISTS "] {
        let db = TestDb::new("invalid_idx");
        let dir = Dir::new();
        dir.migration(
            "001",
            "t",
            "CREATE SCHEMA app;\nCREATE TABLE app.t (id int);\n",
            "DROP SCHEMA app CASCADE;\n",
        )
        .migration(
            "002",
            "idx",
            &format!(
                "-- confiture:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY {if_not_exists}\"T_id\" ON app.t (id);\n"
            ),
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY app.\"T_id\";\n",
        );
        let mut migrator = db.migrator(&dir);
        migrator
            .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
            .unwrap();
        let mut c = db.client();
        c.batch_execute("INSERT INTO app.t VALUES (1), (1)")
            .unwrap();
        c.batch_execute("CREATE UNIQUE INDEX CONCURRENTLY \"T_id\" ON app.t (id)")
            .unwrap_err();
        c.batch_execute("DELETE FROM app.t").unwrap();
        let failed = migrator
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap_err();
        let e = &failed.error;
        let how = format!("{if_not_exists:?}: {e:?}");
        assert_eq!(e.kind, ErrorKind::MigrationFailed, "{how}");
        assert!(e.message.contains("INVALID"), "{how}");
        assert!(
            e.help
                .as_deref()
                .unwrap_or_default()
                .contains("DROP INDEX CONCURRENTLY app.\"T_id\";"),
            "{how}"
        );
        assert_eq!(db.ledger(), ["001:t"], "{how}");
        c.batch_execute("DROP INDEX CONCURRENTLY app.\"T_id\"")
            .unwrap();
        migrator
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap_or_else(|f| panic!("{if_not_exists:?}: {f}"));
        assert_eq!(
            db.value("SELECT indisvalid FROM pg_index WHERE indexrelid = 'app.\"T_id\"'::regclass")
                .as_deref(),
            Some("t")
        );
    }
}

/// Leaves `schema.name` INVALID on `schema.r1`, the way an interrupted build does.
fn invalid_index(db: &TestDb, schema: &str, name: &str) {
    let mut c = db.client();
    c.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {schema}.r1 (id int, r1_i int);
         INSERT INTO {schema}.r1 VALUES (1, 1), (1, 1);"
    ))
    .unwrap();
    c.batch_execute(&format!(
        "CREATE UNIQUE INDEX CONCURRENTLY {name} ON {schema}.r1 (id)"
    ))
    .unwrap_err();
    c.batch_execute(&format!("DELETE FROM {schema}.r1"))
        .unwrap();
}

/// An INVALID index is the one a no-transaction `CREATE INDEX` would build again only when it
/// has the index's name in the schema the statement creates it in — its table's, qualified or
/// found on the session's `search_path` (a tenant's schema). One of the same name in another
/// schema (another tenant's interrupted build), or named like a later word of the statement (a
/// column), refused the migration and told it to drop another schema's index.
#[test]
fn an_invalid_index_of_another_schema_or_named_like_a_column_does_not_block_a_build() {
    let build = "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY r1_i ON r1 (id);\n";
    let drop = "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY r1_i;\n";
    let table = |schema: &str| format!("CREATE TABLE {schema}r1 (id int, r1_i int);\n");

    // The database's own schema: `other.r1_i` is another schema's, `public.id` a column's name.
    let db = TestDb::new("invalid_other");
    let dir = Dir::new();
    dir.migration("001", "t", &table(""), "DROP TABLE r1;\n")
        .migration("002", "idx", build, drop)
        .migration(
            "003",
            "qualified",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY r1_i ON app.r1 (id);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY app.r1_i;\n",
        );
    let mut migrator = db.migrator(&dir);
    migrator
        .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
        .unwrap();
    db.client()
        .batch_execute("CREATE SCHEMA other; CREATE SCHEMA app;")
        .unwrap();
    invalid_index(&db, "other", "r1_i");
    invalid_index(&db, "public", "r1_i_id");
    db.client()
        .batch_execute("ALTER INDEX public.r1_i_id RENAME TO id")
        .unwrap();
    migrator
        .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
        .unwrap_or_else(|f| panic!("another schema's INVALID index blocked the build: {f}"));
    assert_eq!(db.ledger(), ["001:t", "002:idx"]);
    // `app.r1_i` is INVALID now: the qualified statement is refused, and told to drop that one.
    invalid_index(&db, "app", "r1_i");
    let failed = migrator
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    let help = failed.error.help.as_deref().unwrap_or_default();
    assert!(
        help.contains("DROP INDEX CONCURRENTLY app.r1_i;"),
        "{failed:?}"
    );

    // A tenant schema: `public.r1_i` (the database's) is INVALID, the tenant builds its own.
    let db = TestDb::new("invalid_tenant");
    let dir = Dir::new();
    dir.migration("001", "t", &table(""), "DROP TABLE r1;\n")
        .migration("002", "idx", build, drop);
    db.client().batch_execute("CREATE SCHEMA solo").unwrap();
    invalid_index(&db, "public", "r1_i");
    let base = apply_support::environment(&db.name);
    let tenant = confiture::fleet::Target::schema(&base, "solo", "test").unwrap();
    let mut migrator = migrator_for(tenant.environment, &dir.path);
    migrator
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_or_else(|f| panic!("another tenant's INVALID index blocked the build: {f}"));
    assert_eq!(
        db.value("SELECT indisvalid FROM pg_index WHERE indexrelid = 'solo.r1_i'::regclass")
            .as_deref(),
        Some("t")
    );
    // The tenant's own INVALID index is still found through its `search_path`.
    migrator
        .down(
            &confiture::migrate::DownOptions::default(),
            &mut no_progress,
        )
        .unwrap();
    invalid_index(&db, "solo", "r1_i");
    let failed = migrator
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    let help = failed.error.help.as_deref().unwrap_or_default();
    assert!(
        help.contains("DROP INDEX CONCURRENTLY solo.r1_i;"),
        "{failed:?}"
    );
}

/// The connection drops while a message of four migrations runs (the first has committed, the
/// second sleeps) and cannot be re-established (the database refuses connections): none of
/// them is "skipped" — their fate is unknown, listed as such in the report (JSON) and the
/// error's details (text), which say to run `migrate status`.
#[test]
fn after_an_unrecoverable_lost_connection_committed_migrations_are_never_skipped() {
    let db = TestDb::new("lost_unknown");
    let dir = Dir::new();
    dir.table("001", "a", "a")
        .migration(
            "002",
            "slow",
            "DO $$ BEGIN PERFORM pg_sleep(30); END $$;\n",
            "SELECT 1;\n",
        )
        .table("003", "c", "c")
        .table("004", "d", "d");
    let mut env = apply_support::environment(&db.name);
    env.application_name = "lost-unknown".to_string();
    let path = dir.path.clone();
    let runner = std::thread::spawn(move || {
        let mut migrator = migrator_for(env, &path);
        // The four travel in one message.
        migrator.up(&UpOptions::default(), &mut no_progress)
    });
    let mut admin = apply_support::connect("postgres", "confiture-tests");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let pid = loop {
        let found = apply_support::value(
            &mut admin,
            &format!(
                "SELECT pid::text FROM pg_stat_activity WHERE datname = '{}' AND application_name = \
                 'lost-unknown' AND wait_event = 'PgSleep'",
                db.name
            ),
        );
        if let Some(pid) = found {
            break pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the migration never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // Committed before the backend is terminated (one message would be one transaction, and
    // the reconnection could win the race against its commit).
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS false",
            db.name
        ))
        .unwrap();
    admin
        .batch_execute(&format!("SELECT pg_terminate_backend({pid})"))
        .unwrap();
    let failed = runner.join().unwrap().unwrap_err();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS true",
            db.name
        ))
        .unwrap();
    assert_eq!(failed.error.kind, ErrorKind::Connection, "{}", failed.error);
    let report = &failed.report;
    assert!(report.applied.is_empty(), "{report:?}");
    assert_eq!(report.unknown, ["001", "002", "003", "004"], "{report:?}");
    assert!(report.skipped.is_empty(), "{report:?}");
    let json = serde_json::to_value(report).unwrap();
    assert_eq!(json["unknown"][0], "001");
    let Reason::Migration(failure) = failed.error.reason() else {
        panic!("a migration failure: {:?}", failed.error.reason());
    };
    assert_eq!(failure.unknown, ["001", "002", "003", "004"]);
    // 001 did commit, with its row: exactly what "unknown" warned about.
    assert_eq!(db.ledger(), ["001:a"]);
}

/// A failed migration is data: the migration and its file:line, the server's SQLSTATE and
/// message, what committed and what was not attempted, the database; the driver's error is
/// the `source()` (downcast, its `SqlState` matched as a type).
#[test]
fn a_failed_migration_is_data_and_keeps_the_driver_error() {
    let db = TestDb::new("errdata");
    let dir = Dir::new();
    dir.table("001", "first", "a")
        .migration(
            "002",
            "again",
            "-- creates a twice\n\nCREATE TABLE a (id int);\n",
            "SELECT 1;\n",
        )
        .table("003", "later", "c");
    let failed = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    let error = &failed.error;
    assert_eq!(error.kind, ErrorKind::MigrationFailed, "{error}");
    assert_eq!(error.sqlstate(), Some("42P07"));
    let confiture::Reason::Migration(m) = error.reason() else {
        panic!("not a migration failure: {:?}", error.reason());
    };
    assert_eq!((m.version.as_str(), m.name.as_str()), ("002", "again"));
    let location = m.location.as_ref().expect("a position");
    assert!(location.path.ends_with("002_again.up.sql"), "{location:?}");
    assert_eq!((location.line, location.column), (3, 1));
    let server = m.server.as_ref().expect("the server's answer");
    assert_eq!(server.sqlstate, "42P07");
    assert_eq!(server.message, "relation \"a\" already exists");
    assert_eq!(m.committed, ["001"]);
    assert_eq!(m.not_attempted, ["003"]);
    assert!(m.unknown.is_empty());
    assert!(
        m.database.as_deref().is_some_and(|d| d.ends_with(&db.name)),
        "{:?}",
        m.database
    );
    let source = std::error::Error::source(error).expect("source()");
    let driver = source
        .downcast_ref::<postgres::Error>()
        .expect("the driver's error");
    assert_eq!(
        driver.code(),
        Some(&postgres::error::SqlState::DUPLICATE_TABLE)
    );
    // `Display` said the server's message and the driver's error said it again: `{:#}`
    // printed it twice. Said once, by the chain; the one line the CLI and JSON show keeps it.
    let chain = crate::common::assert_each_cause_said_once(error);
    assert!(
        chain.concat().contains(&server.message),
        "the server's message is in the chain: {chain:?}"
    );
    assert_eq!(
        error.message_with_cause(),
        format!(
            "migration 002_again failed at {}:3:1 (statement 1 of 1): {}",
            location.path.display(),
            server.message
        )
    );
    // The report's error object is built from the same data.
    let reported = &failed.report.errors[0];
    assert_eq!(reported.sqlstate.as_deref(), Some("42P07"));
    assert_eq!(
        reported.server_message.as_deref(),
        Some(server.message.as_str())
    );
    assert_eq!(reported.line, Some(3));
    assert_eq!(reported.committed, ["001"]);
    assert_eq!(reported.not_attempted, ["003"]);
    assert_eq!(reported.database, m.database);
    assert_eq!(reported.message, error.message_with_cause());
}

/// A ledger in a schema the role may not use: the server says "permission denied for schema",
/// and a table grant does not fix it — the help names `GRANT USAGE ON SCHEMA` (quoted), with
/// the table's grant while that is missing too.
#[test]
fn a_ledger_in_a_schema_this_role_may_not_use_names_the_schema_grant() {
    let db = TestDb::new("ledger_nousage");
    let role = Role::login(&db);
    let table = confiture::ledger::TrackingTable::parse("Tn.tb_confiture").unwrap();
    let empty = Dir::new();
    let mut env = apply_support::environment(&db.name);
    env.migration.tracking_table = table.clone();
    migrator_for(env, &empty.path)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    let as_role = || {
        let mut env = role.environment(&db);
        env.migration.tracking_table = table.clone();
        migrator_for(env, &empty.path)
    };
    let quoted_role = format!("\"{}\"", role.name());
    for table_granted in [false, true] {
        if table_granted {
            // What the help said before: not enough without USAGE on the schema.
            db.client()
                .batch_execute(&format!(
                    "GRANT SELECT ON \"Tn\".\"tb_confiture\" TO {quoted_role}"
                ))
                .unwrap();
        }
        let status = as_role().status().unwrap_err();
        let up = as_role()
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap_err()
            .error;
        for (what, e) in [("status", &status), ("up", &up)] {
            assert_eq!(e.kind, ErrorKind::Invalid, "{what}: {e:?}");
            let help = e.help.as_deref().unwrap_or_default();
            assert!(
                help.contains(&format!("GRANT USAGE ON SCHEMA \"Tn\" TO {quoted_role}")),
                "{what}, table granted {table_granted}: {e:?}"
            );
            assert_eq!(
                help.contains("GRANT SELECT ON \"Tn\".\"tb_confiture\""),
                !table_granted,
                "{what}, table granted {table_granted}: {e:?}"
            );
        }
    }
    db.client()
        .batch_execute(&format!("GRANT USAGE ON SCHEMA \"Tn\" TO {quoted_role}"))
        .unwrap();
    let report = as_role().status().expect("the suggested grants are enough");
    assert_eq!(report.exit_code(), 0);
}

/// A ledger rewrite (`baseline`, `reinit`) the server refuses although the role has every
/// privilege — a trigger or constraint of the tracking table's own — is the ledger's problem
/// (exit 5, `invalid`), never a failed migration (exit 4): neither command runs one. Nothing is
/// written.
#[test]
fn a_ledger_rewrite_the_server_refuses_is_invalid_not_a_failed_migration() {
    use confiture::migrate::{BaselineOptions, ReinitOptions};
    for (operation, command) in [("INSERT", "baseline"), ("UPDATE", "reinit")] {
        let db = TestDb::new("ledger_rewrite_refused");
        let dir = Dir::new();
        dir.table("001", "a", "a").table("002", "b", "b");
        db.migrator(&dir)
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap();
        db.client()
            .batch_execute(&format!(
                "CREATE FUNCTION no_rows() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'not on this ledger'; END $$; \
                 CREATE TRIGGER no_rows BEFORE {operation} ON tb_confiture \
                 FOR EACH ROW EXECUTE FUNCTION no_rows()"
            ))
            .unwrap();
        // Something to write: a migration to record, or an applied one edited.
        dir.table("003", "c", "c").migration(
            "002",
            "b",
            "CREATE TABLE b (id int); -- edited\n",
            "DROP TABLE b;\n",
        );
        let e = match command {
            "baseline" => {
                db.migrator(&dir)
                    .baseline(&BaselineOptions::through(3), &mut no_progress)
                    .unwrap_err()
                    .error
            }
            _ => {
                db.migrator(&dir)
                    .reinit(&ReinitOptions::default(), &mut no_progress)
                    .unwrap_err()
                    .error
            }
        };
        assert_eq!(e.kind, ErrorKind::Invalid, "{command}: {e:?}");
        assert_eq!(e.exit_code(), confiture::exit::INVALID, "{command}");
        assert!(
            e.message.contains("could not write the tracking table")
                && format!("{e:?}").contains("not on this ledger"),
            "{command}: {e}"
        );
        assert_eq!(
            db.ledger(),
            ["001:a", "002:b"],
            "{command}: nothing written"
        );
    }
}

/// The row of a no-transaction migration is written after its statements committed, in a
/// message of our own SQL alone, and tried first (rolled back) before they run: the server
/// refusing it (here a trigger of the tracking table, whose error names no table and has no
/// position) is the ledger's problem (exit 5, naming the tracking table), never "migration
/// failed, fix its file" (exit 4), and refused at the trial nothing ran.
#[test]
fn a_refused_row_after_a_no_transaction_migration_is_the_ledgers() {
    let db = TestDb::new("ledger_row_refused");
    let dir = Dir::new();
    dir.table("001", "a", "a");
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    db.client()
        .batch_execute(
            "CREATE FUNCTION no_rows() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'not on this ledger'; END $$; \
             CREATE TRIGGER no_rows BEFORE INSERT ON tb_confiture \
             FOR EACH ROW EXECUTE FUNCTION no_rows()",
        )
        .unwrap();
    dir.migration(
        "002",
        "a_i",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a_i ON a (id);\n",
        "DROP INDEX a_i;\n",
    );
    let e = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(e.kind, ErrorKind::Invalid, "{e:?}");
    // Its row is tried (and rolled back) before its statements run: refused there, nothing ran.
    assert!(
        e.message
            .contains("refuses the row of migration 002_a_i, which was not run")
            && !e.to_string().contains("fix "),
        "{e}"
    );
    let index: Option<String> = db
        .client()
        .query_one("SELECT to_regclass('public.a_i')::text", &[])
        .unwrap()
        .get(0);
    assert!(index.is_none(), "its statement never ran");
    assert_eq!(db.ledger(), ["001:a"], "not recorded");
}

/// An INVALID index blocks a no-transaction build up front only when confiture is certain the
/// statement builds that very index: when an earlier statement of the file may change the
/// session or the index (a `SET search_path`, a `DROP INDEX`), the server decides. A
/// `SET search_path = tenant_b` before an unqualified build was refused for `public`'s INVALID
/// index of that name, with advice to drop it; a file that drops its own INVALID index first
/// was refused too.
#[test]
fn an_earlier_statement_of_the_file_leaves_the_invalid_index_check_to_the_server() {
    let db = TestDb::new("invalid_set_path");
    let dir = Dir::new();
    dir.migration(
        "001",
        "t",
        "CREATE SCHEMA tenant_b;\nCREATE TABLE tenant_b.r1 (id int, r1_i int);\nCREATE SCHEMA app;\n",
        "DROP SCHEMA tenant_b CASCADE;\nDROP SCHEMA app CASCADE;\n",
    )
    .migration(
        "002",
        "idx",
        "-- confiture:no-transaction\nSET search_path = tenant_b;\nCREATE INDEX CONCURRENTLY r1_i ON r1 (id);\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY tenant_b.r1_i;\n",
    )
    .migration(
        "003",
        "heal",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS app.r1_i;\nCREATE UNIQUE INDEX CONCURRENTLY r1_i ON app.r1 (id);\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY app.r1_i;\n",
    );
    let mut migrator = db.migrator(&dir);
    migrator
        .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
        .unwrap();
    invalid_index(&db, "public", "r1_i");
    invalid_index(&db, "app", "r1_i");
    migrator
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_or_else(|f| panic!("refused up front: {f}"));
    assert_eq!(db.ledger(), ["001:t", "002:idx", "003:heal"]);
    for index in ["tenant_b.r1_i", "app.r1_i"] {
        assert_eq!(
            db.value(&format!(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = '{index}'::regclass"
            ))
            .as_deref(),
            Some("t"),
            "{index}"
        );
    }

    // The tenant's own INVALID index: the server refuses the build ("already exists"), and the
    // failure names that index and the drop to run.
    migrator
        .down(
            &confiture::migrate::DownOptions::default().steps(Some(2)),
            &mut no_progress,
        )
        .unwrap();
    invalid_index(&db, "tenant_b", "r1_i");
    let failed = migrator
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    let e = &failed.error;
    assert_eq!(e.kind, ErrorKind::MigrationFailed, "{e:?}");
    let all = format!("{e:?}");
    assert!(all.contains("tenant_b.r1_i"), "{all}");
    assert!(
        all.contains("DROP INDEX CONCURRENTLY tenant_b.r1_i;"),
        "{all}"
    );
    assert_eq!(db.ledger(), ["001:t"]);

    // With `IF NOT EXISTS` after a `SET`, the server skips the INVALID index: the migration
    // is not recorded over an index that was never built.
    let dir = Dir::new();
    dir.migration(
        "001",
        "t",
        "CREATE SCHEMA tenant_b;\nCREATE TABLE tenant_b.r1 (id int, r1_i int);\nCREATE SCHEMA app;\n",
        "DROP SCHEMA tenant_b CASCADE;\nDROP SCHEMA app CASCADE;\n",
    )
    .migration(
        "002",
        "idx",
        "-- confiture:no-transaction\nSET lock_timeout = '5s';\nSET search_path = tenant_b;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS r1_i ON r1 (id);\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY tenant_b.r1_i;\n",
    );
    let mut migrator = db.migrator(&dir);
    let failed = migrator
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    let e = &failed.error;
    assert_eq!(e.kind, ErrorKind::MigrationFailed, "{e:?}");
    assert!(e.message.contains("tenant_b.r1_i"), "{e:?}");
    let help = e.help.as_deref().unwrap_or_default();
    assert!(
        help.contains("DROP INDEX CONCURRENTLY tenant_b.r1_i;"),
        "{e:?}"
    );
    assert_eq!(db.ledger(), ["001:t"]);
    // The statement ran (and skipped the build): the run's start marker stays, and the help
    // runs the migration again on purpose.
    assert!(help.contains("--rerun-interrupted"), "{e:?}");
    db.client()
        .batch_execute("DROP INDEX CONCURRENTLY tenant_b.r1_i")
        .unwrap();
    migrator
        .up(
            &UpOptions::default().rerun_interrupted(true),
            &mut no_progress,
        )
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(db.ledger(), ["001:t", "002:idx"]);
}

/// Another session that takes no migration lock (confiture (Python)'s `migrate baseline`, a
/// hand-written `INSERT`) writes the ledger row of the version a run is applying: the run's
/// own row then breaks the unique constraint on `version`. That is not the migration writing
/// its own row (a_migration_that_writes_its_own_ledger_row_is_its_failure_named_with_its_file):
/// exit 7, the row and the constraint as data (`concurrent_row`), nothing of the migration
/// committed — in a message of several migrations and with `--single-transaction` alike.
#[test]
fn a_ledger_row_written_by_another_session_during_the_run_is_named_as_such() {
    for single in [false, true] {
        let db = TestDb::new("rowrace");
        let dir = Dir::new();
        dir.table("001", "a", "a")
            .migration(
                "002",
                "b",
                "CREATE TABLE b (id int);\nDO $$ BEGIN\n  WHILE EXISTS (SELECT 1 FROM pause) LOOP \
                 PERFORM pg_sleep(0.02); END LOOP;\nEND $$;\n",
                "DROP TABLE b;\n",
            )
            .table("003", "c", "c");
        let mut client = db.client();
        client
            .batch_execute("CREATE TABLE pause (x int); INSERT INTO pause VALUES (1);")
            .unwrap();
        let mut migrator = db.migrator(&dir);
        let run = std::thread::spawn(move || {
            migrator.up(
                &UpOptions::default()
                    .single_transaction(single)
                    .allow_non_empty(true),
                &mut no_progress,
            )
        });
        // Once 002 waits (the ledger exists: 001's row, or the single transaction's table is
        // created before), the other session records 002, as confiture's baseline does.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let waiting: bool = client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' \
                     AND datname = current_database() AND pid <> pg_backend_pid())",
                    &[],
                )
                .unwrap()
                .get(0);
            if waiting {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "002 never started");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS tb_confiture (id UUID PRIMARY KEY DEFAULT \
                 gen_random_uuid(), pk_confiture BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE, \
                 slug TEXT NOT NULL UNIQUE, version VARCHAR(255) NOT NULL UNIQUE, name \
                 VARCHAR(255) NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW(), \
                 execution_time_ms INTEGER, checksum VARCHAR(64), applied_by TEXT);
                 INSERT INTO tb_confiture (slug, version, name, applied_by) \
                 VALUES ('b_002_x_baseline', '002', 'b', 'someone'); DELETE FROM pause;",
            )
            .unwrap_or_else(|e| panic!("single {single}: {e}"));
        let failed = run.join().unwrap().unwrap_err();
        let e = &failed.error;
        assert_eq!(e.kind, ErrorKind::Diverged, "single {single}: {e:?}");
        assert!(
            e.message.contains("was written by another session")
                && e.message.contains("tb_confiture_version_key"),
            "{e}"
        );
        assert!(
            e.details
                .iter()
                .any(|d| d.contains("nothing of 002_b was committed")),
            "{:?}",
            e.details
        );
        assert!(!e
            .help
            .as_deref()
            .unwrap_or_default()
            .contains("remove the write"));
        let Reason::Migration(m) = e.reason() else {
            panic!("single {single}: {:?}", e.reason())
        };
        let row = m.concurrent_row.as_ref().expect("concurrent_row");
        assert_eq!(row.constraint.as_deref(), Some("tb_confiture_version_key"));
        assert_eq!(row.slug, "b_002_x_baseline");
        assert_eq!(row.applied_by.as_deref(), Some("someone"));
        assert_eq!(m.version, "002");
        assert!(
            !db.table_exists("b") && !db.table_exists("c"),
            "single {single}"
        );
        let expected: &[&str] = if single {
            &["002:b"]
        } else {
            &["001:a", "002:b"]
        };
        assert_eq!(db.ledger(), expected, "single {single}");
        assert_eq!(db.table_exists("a"), !single, "single {single}");
    }
}

/// h11 D6: a migration the server refuses for want of a privilege (SQLSTATE 42501: "must be
/// owner of table", "permission denied") is correct SQL run by the wrong role: its help is
/// about privileges and ownership, not "fix the file", which sent the user to edit a correct,
/// reviewed migration. Here a system catalog, which no role may alter, raises it.
#[test]
fn a_migration_refused_for_a_privilege_is_helped_with_privileges_not_the_file() {
    let db = TestDb::new("privhelp");
    let dir = Dir::new();
    dir.migration(
        "001",
        "catalog",
        "ALTER TABLE pg_catalog.pg_class ADD COLUMN x int;\n",
        "SELECT 1;\n",
    );
    let failed = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(failed.kind, ErrorKind::MigrationFailed, "{failed:?}");
    let help = failed.help.clone().unwrap_or_default();
    assert!(help.contains("privilege"), "{help}");
    assert!(help.contains("owner"), "{help}");
    assert!(!help.starts_with("fix "), "{help}");
    assert!(db.ledger().is_empty());
}

/// A no-transaction migration whose `DO` block or `CALL` commits inside (a batched backfill)
/// and then fails has committed part of itself, unrecorded: it never counts as "committed
/// nothing". Its start marker stays (the next run refuses it, exit 7, until told to run it
/// again), and the help is the one of a run left part-way: check, then `--rerun-interrupted`
/// or `baseline --through`. Up and down, `DO` and `CALL`, alone or after a `SET`.
#[test]
fn a_statement_that_commits_inside_then_fails_leaves_its_start_marker() {
    for call in [false, true] {
        for down in [false, true] {
            statement_committing_inside_fails(call, down);
        }
    }
}

fn statement_committing_inside_fails(call: bool, down: bool) {
    let how = format!("call {call}, down {down}");
    let db = TestDb::new("commitsinside");
    let dir = Dir::new();
    // Commits each batch; batch 4 fails unless table `go` exists.
    let body = |verb: &str, gate: &str| {
        format!(
            "FOR i IN 1..10 LOOP {verb}; COMMIT; IF i = 4 AND NOT EXISTS (SELECT 1 FROM pg_tables \
             WHERE tablename = '{gate}') THEN RAISE EXCEPTION 'batch % failed', i; END IF; END LOOP;"
        )
    };
    let statement = |verb: &str, gate: &str, name: &str| match call {
        false => format!("DO $$ BEGIN {} END $$;\n", body(verb, gate)),
        true => format!(
            "CREATE PROCEDURE {name}() LANGUAGE plpgsql AS $$ BEGIN {} END $$;\n",
            body(verb, gate)
        ),
    };
    let (up_first, down_first) = match call {
        false => (String::new(), String::new()),
        true => (
            statement("INSERT INTO t VALUES (i)", "go", "fill_up"),
            statement("DELETE FROM t WHERE v = i", "go_down", "fill_down"),
        ),
    };
    let run = |verb: &str, gate: &str, name: &str| match call {
        false => statement(verb, gate, name),
        true => format!("CALL {name}();\n"),
    };
    dir.migration(
        "001",
        "a",
        &format!(
            "CREATE TABLE t (v int);\n{}{up_first}{down_first}",
            if down { "CREATE TABLE go ();\n" } else { "" }
        ),
        "DROP TABLE t;\n",
    )
    .migration(
        "002",
        "backfill",
        &format!(
            "-- confiture:no-transaction\nSET lock_timeout = '5s';\n{}",
            run("INSERT INTO t VALUES (i)", "go", "fill_up")
        ),
        &format!(
            "-- confiture:no-transaction\n{}",
            run("DELETE FROM t WHERE v = i", "go_down", "fill_down")
        ),
    );
    let mut migrator = db.migrator(&dir);
    if down {
        migrator
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap();
    }
    let e = match down {
        false => migrator
            .up(&UpOptions::default(), &mut no_progress)
            .map(drop)
            .map_err(|f| f.error),
        true => migrator
            .down(
                &confiture::migrate::DownOptions::default(),
                &mut no_progress,
            )
            .map(drop)
            .map_err(|f| f.error),
    }
    .unwrap_err();
    let e = &e;
    assert_eq!(e.kind, ErrorKind::MigrationFailed, "{how}: {e:?}");
    let rows = db
        .client()
        .query_one("SELECT count(*) FROM t", &[])
        .unwrap();
    assert_eq!(rows.get::<_, i64>(0), if down { 6 } else { 4 }, "{how}");
    let all = format!("{e:?}");
    assert!(!all.contains("committed none"), "{how}: {all}");
    let help = e.help.clone().unwrap_or_default();
    let rerun = if down {
        "migrate down --rerun-interrupted"
    } else {
        "migrate up --rerun-interrupted"
    };
    assert!(help.contains(rerun), "{how}: {help}");
    if !down {
        assert!(
            help.contains("migrate baseline --through 002"),
            "{how}: {help}"
        );
    }
    let marker = apply_support::value(
        &mut db.client(),
        "SELECT version || ':' || direction FROM tb_confiture_started",
    );
    let direction = if down { "down" } else { "up" };
    assert_eq!(marker, Some(format!("002:{direction}")), "{how}");
    // Run again as it is, the migration is refused as interrupted, nothing run.
    let refused = match down {
        false => migrator
            .up(&UpOptions::default(), &mut no_progress)
            .map(drop)
            .map_err(|f| f.error),
        true => migrator
            .down(
                &confiture::migrate::DownOptions::default(),
                &mut no_progress,
            )
            .map(drop)
            .map_err(|f| f.error),
    }
    .unwrap_err();
    assert_eq!(refused.exit_code(), 7, "{how}: {refused:?}");
    let rows = db
        .client()
        .query_one("SELECT count(*) FROM t", &[])
        .unwrap();
    assert_eq!(rows.get::<_, i64>(0), if down { 6 } else { 4 }, "{how}");
}

/// A timeout an environment file sets (`migration.lock_timeout`,
/// `migration.statement_timeout`), hit at run time by a program's session, is raised where it
/// was set: the help names that file and the key, never a flag (the library's caller has
/// none) nor an option the program did not set.
#[test]
fn a_timeout_an_environment_file_sets_is_raised_in_that_file() {
    let db = TestDb::new("file_timeouts");
    let mut holder = connect(&db.name, "holder");
    holder
        .batch_execute("CREATE SCHEMA other; CREATE TABLE other.held (id int)")
        .unwrap();
    let files = Dir::new();
    for (key, value, up) in [
        (
            "lock_timeout",
            "200ms",
            "ALTER TABLE other.held ADD COLUMN c int;\n",
        ),
        ("statement_timeout", "100ms", "SELECT pg_sleep(2);\n"),
    ] {
        let env_file = files.file(&format!("{key}.yaml"));
        files.write(
            &format!("{key}.yaml"),
            &format!(
                "database_url: {}\nmigration:\n  {key}: {value}\n  lock_retries: 0\n",
                db.url()
            ),
        );
        let env = Environment::from_file(&env_file, &|_| None).unwrap();
        let dir = Dir::new();
        dir.migration("001", "slow", up, "SELECT 1;\n");
        if key == "lock_timeout" {
            holder
                .batch_execute("BEGIN; LOCK TABLE other.held IN ACCESS EXCLUSIVE MODE")
                .unwrap();
        }
        // The table the lock is held on is there already: the run goes over it.
        let options = UpOptions::default().allow_non_empty(true);
        let failed = migrator_for(env, &dir.path)
            .up(&options, &mut no_progress)
            .unwrap_err();
        if key == "lock_timeout" {
            holder.batch_execute("ROLLBACK").unwrap();
        }
        let help = failed.error.help.clone().unwrap_or_default();
        let cwd = std::env::current_dir().unwrap();
        let shown = confiture::display::relative_to(&env_file, &cwd)
            .display()
            .to_string();
        assert!(
            help.contains(&format!("`migration.{key}` in {shown}")),
            "{key}: {help}"
        );
        for flag in confiture::migrate::SQL_TIMEOUT_FLAGS {
            assert!(!help.contains(flag), "{key}: {help}");
        }
        assert!(!help.contains("Options::"), "{key}: {help}");
    }
}

/// hlt3: a migration that made its own transaction read-only (`set_config('transaction_read_only',
/// 'on', true)` after its writes, built at run time where lint's C109 cannot see it) failed at our ledger row's `INSERT` (SQLSTATE 25006), reported
/// as its file's failure "at 002_ro.up.sql", "the server did not say which statement failed".
/// It is said as what it is: the migration left its transaction read-only, its row could not be
/// written, nothing committed — the ledger's failure as any other the migration caused to the
/// row (exit 5) — whatever the spelling, the statements around it, and whether the message
/// carries one migration or several.
#[test]
fn a_migration_that_leaves_its_transaction_read_only_is_told_its_row_could_not_be_written() {
    for (i, body) in [
        "CREATE TABLE q (a int);\nSELECT set_config('transaction_' || 'read_only', 'on', true);\n",
        "CREATE TABLE q (a int);\nDO $$ BEGIN EXECUTE 'SET TRANSACTION READ ' || 'ONLY'; END $$;\n",
        "DO $$ BEGIN CREATE TABLE q (a int); \
         PERFORM set_config('transaction_' || 'read_only', 'on', true); END $$;\n",
    ]
    .into_iter()
    .enumerate()
    {
        for steps in [None, Some(1)] {
            let db = TestDb::new(&format!("hlt3ro{i}"));
            let dir = Dir::new();
            dir.table("001", "a", "a")
                .migration("002", "ro", body, "SELECT 1;\n")
                .table("003", "c", "c");
            let failed = up_fails_past_001(&db, &dir, steps);
            let e = &failed.error;
            assert_eq!(e.kind, ErrorKind::Invalid, "{body}{steps:?}: {e:?}");
            assert_eq!(e.exit_code(), 5);
            assert!(
                e.message.contains("002_ro left its transaction read-only")
                    && e.message.contains("could not be written"),
                "{body}{steps:?}: {e:?}"
            );
            let all = format!("{e:?}");
            assert!(
                !all.contains("did not say which statement failed"),
                "{body}{steps:?}: {all}"
            );
            let help = e.help.as_deref().unwrap_or_default();
            assert!(help.contains("002_ro.up.sql"), "{body}{steps:?}: {help}");
            assert_eq!(db.ledger(), ["001:a"], "{body}{steps:?}");
            assert!(!db.table_exists("q"), "{body}{steps:?}");
        }
    }
}
