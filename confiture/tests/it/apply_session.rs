//! Every migration starts from the same session state, whether it runs alone, in a message
//! with others, after another in the same run, or inside `--single-transaction`; and the
//! ledger is written by its schema-qualified name as the connecting role, whatever the
//! migration did to its session (`SET search_path`, a pg_dump preamble, `SET ROLE`,
//! `RESET ALL`, timeouts, read-only).

use crate::apply_support;

use apply_support::{rows, Dir, TestDb};
use confiture::migrate::{no_progress, UpOptions};
use confiture_test_support::reaper::DropRoleLater;

/// The ways one `up` can run `001` then `002`: one message, one run per migration, one
/// transaction for all.
fn runs() -> Vec<(&'static str, Vec<UpOptions>)> {
    vec![
        ("one up", vec![UpOptions::default()]),
        (
            "up --steps 1 twice",
            vec![UpOptions::default().steps(Some(1)), UpOptions::default()],
        ),
        (
            "up --single-transaction",
            vec![UpOptions::default().single_transaction(true)],
        ),
    ]
}

/// Applies the migrations of `dir` to `db` by the `up`s of one of [`runs`] (`how` names it),
/// failing the test if one fails; returns the migrator for what the test does next.
fn apply(how: &str, db: &TestDb, dir: &Dir, runs: &[UpOptions]) -> confiture::Migrator {
    let mut migrator = db.migrator(dir);
    for options in runs {
        if let Err(failed) = migrator.up(options, &mut no_progress) {
            panic!("{how}: {}\n{:?}", failed.error, failed.report);
        }
    }
    migrator
}

/// Applies `001` (which changes its session) and `002` every way of [`runs`], each in a fresh
/// database, and hands each database to `check` with the run's name.
fn every_way(first: &str, second: &str, check: impl Fn(&str, &TestDb)) {
    for (how, runs) in runs() {
        let db = TestDb::new("session");
        let dir = Dir::new();
        dir.migration("001", "first", first, "SELECT 1;\n")
            .migration("002", "second", second, "SELECT 1;\n");
        apply(how, &db, &dir, &runs);
        assert_eq!(
            db.ledger(),
            ["001:first", "002:second"],
            "{how}: both recorded"
        );
        check(how, &db);
    }
}

/// A no-transaction up file: an index built concurrently on `public.t1`, then `sql`.
fn index_then(sql: &str) -> String {
    format!(
        "-- confiture:no-transaction\n-- confiture:allow(no-transaction-multiple-statements)\n\
         CREATE INDEX CONCURRENTLY t1_id ON public.t1 (id);\n{sql}"
    )
}

fn schema_of(db: &TestDb, table: &str) -> String {
    db.value(&format!(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relname = '{table}'"
    ))
    .unwrap_or_else(|| panic!("table {table} exists"))
}

#[test]
fn a_search_path_set_by_one_migration_does_not_reach_the_next() {
    every_way(
        "CREATE SCHEMA app;\nSET search_path = app, public;\nCREATE TABLE t1 (id int);\n",
        "CREATE TABLE t2 (id int);\n",
        |how, db| {
            assert_eq!(schema_of(db, "t1"), "app", "{how}");
            assert_eq!(schema_of(db, "t2"), "public", "{how}");
        },
    );
}

#[test]
fn a_pg_dump_preamble_breaks_neither_the_ledger_nor_the_next_migration() {
    every_way(
        "SELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE public.t1 (id int);\n",
        "CREATE TABLE t2 (id int);\n",
        |how, db| assert_eq!(schema_of(db, "t2"), "public", "{how}"),
    );
}

#[test]
fn reset_all_inside_a_migration_breaks_nothing() {
    every_way(
        "CREATE TABLE t1 (id int);\nRESET ALL;\n",
        "RESET ALL;\nCREATE TABLE t2 (id int);\n",
        |how, db| {
            assert!(
                db.table_exists("t1") && db.table_exists("t2"),
                "{how}: both ran"
            );
        },
    );
}

#[test]
fn session_settings_do_not_leak_into_the_next_migration() {
    // A statement_timeout of 100 ms (set last: 001's own statements must not hit it on a busy
    // machine), a read-only default and a custom setting, all set for the session by 001 (after
    // a statement of its own: a file of only `SET`s is C007): 002 sleeps past the timeout,
    // writes, and checks that the custom setting is gone. The read-only default built at run
    // time, where lint's C109 does not read it.
    every_way(
        "CREATE TABLE t1 (id int);\n\
         SELECT set_config('default_transaction_' || 'read_only', 'on', false);\n\
         SELECT set_config('app.tenant', 'leaked', false);\nSET statement_timeout = '100ms';\n",
        "SELECT pg_sleep(0.3);\nCREATE TABLE t2 (id int);\n\
         DO $$ BEGIN IF coalesce(current_setting('app.tenant', true), '') <> '' THEN \
         RAISE EXCEPTION 'app.tenant leaked: %', current_setting('app.tenant'); END IF; END $$;\n",
        |how, db| assert!(db.table_exists("t2"), "{how}"),
    );
}

/// Objects a migration leaves in its session — a temporary table, a cursor `WITH HOLD`, a
/// prepared statement — are gone before the next migration: the same names again passed when
/// the two ran in two sessions and failed ("already exists") when they ran in one.
#[test]
fn temporary_tables_cursors_and_prepared_statements_do_not_reach_the_next_migration() {
    let uses = |table: &str| {
        format!(
            "CREATE TEMP TABLE tmp_ids AS SELECT 1 AS id;\n\
             CREATE TABLE {table} AS SELECT id FROM tmp_ids;\n\
             DECLARE c CURSOR WITH HOLD FOR SELECT 1;\n\
             PREPARE seed(int) AS INSERT INTO {table} VALUES ($1);\nEXECUTE seed(2);\n"
        )
    };
    every_way(&uses("t1"), &uses("t2"), |how, db| {
        let rows = db.value("SELECT count(*) FROM t2");
        assert_eq!(rows.as_deref(), Some("2"), "{how}");
    });

    // A no-transaction migration's temporary table goes too.
    let db = TestDb::new("session_nt_temp");
    let dir = Dir::new();
    dir.migration(
        "001",
        "first",
        "CREATE TABLE t1 (id int);\n",
        "DROP TABLE t1;\n",
    )
    .migration(
        "002",
        "index",
        &index_then("CREATE TEMP TABLE tmp_ids (id int);\n"),
        "SELECT 1;\n",
    )
    .migration(
        "003",
        "third",
        "CREATE TEMP TABLE tmp_ids (id int);\n",
        "SELECT 1;\n",
    );
    apply("one up", &db, &dir, &[UpOptions::default()]);
    assert_eq!(db.ledger(), ["001:first", "002:index", "003:third"]);
}

/// A cursor still open on a migration's temporary table — declared `WITH HOLD`, declared
/// without (open until the migration's `COMMIT`), or opened by a `DO` block — does not fail
/// the drop of the temporary table after its row: the drop of the session's temporary objects
/// closed the cursors after it, and `DISCARD TEMP` failed ("cannot DROP TABLE ... because it is
/// being used by active queries in this session", 55006), blamed on the migration's file.
#[test]
fn a_cursor_open_on_a_temporary_table_does_not_fail_its_migration() {
    let uses = |table: &str| {
        format!(
            "CREATE TEMP TABLE tmp_ids AS SELECT 1 AS id;\n\
             DECLARE held CURSOR WITH HOLD FOR SELECT id FROM tmp_ids;\n\
             DECLARE plain CURSOR FOR SELECT id FROM tmp_ids;\n\
             DO $$ DECLARE r refcursor := 'opened'; BEGIN OPEN r FOR SELECT id FROM tmp_ids; END $$;\n\
             CREATE TABLE {table} AS SELECT id FROM tmp_ids;\n"
        )
    };
    every_way(&uses("t1"), &uses("t2"), |how, db| {
        assert!(db.table_exists("t1") && db.table_exists("t2"), "{how}");
    });
}

/// A role that exists for one test (roles belong to the cluster, not to the test database),
/// named after `db` and so created after it: handed over before `db`, the reaper drops it once
/// `db` is.
fn new_role(db: &TestDb) -> DropRoleLater {
    let name = format!("{}_r", db.name);
    db.client()
        .batch_execute(&format!("CREATE ROLE \"{name}\" NOLOGIN"))
        .expect("create role");
    DropRoleLater(name)
}

#[test]
fn set_role_inside_a_migration_writes_the_ledger_as_the_connecting_role() {
    for (set, (how, runs)) in ["SET ROLE", "SET SESSION AUTHORIZATION"]
        .into_iter()
        .flat_map(|set| runs().into_iter().map(move |run| (set, run)))
    {
        let how = format!("{set}, {how}");
        let db = TestDb::new("role");
        let role = new_role(&db);
        let dir = Dir::new();
        // The role may not touch the ledger: the row must be written as the connecting role,
        // and 002 must run as it too (the role may not create tables in public). Nor may it
        // use the advisory-lock functions: the check of the migration lock in each transaction
        // runs as the connecting role too.
        db.client()
            .batch_execute(
                "REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
                 REVOKE EXECUTE ON FUNCTION pg_advisory_unlock(int, int), \
                 pg_try_advisory_lock(int, int) FROM PUBLIC",
            )
            .unwrap();
        dir.migration(
            "001",
            "first",
            &format!("{set} \"{}\";\nSELECT 1;\n", role.0),
            "SELECT 1;\n",
        )
        .migration(
            "002",
            "second",
            "CREATE TABLE t2 (id int);\n",
            "SELECT 1;\n",
        );
        let mut migrator = db.migrator(&dir);
        for options in &runs {
            if let Err(failed) = migrator.up(options, &mut no_progress) {
                panic!("{how}: {}", failed.error);
            }
        }
        assert_eq!(db.ledger(), ["001:first", "002:second"], "{how}");
        let by = apply_support::rows(
            &mut db.client(),
            "SELECT DISTINCT applied_by FROM tb_confiture",
        );
        assert_eq!(by, ["postgres"], "{how}");
        assert_eq!(
            db.value("SELECT tableowner FROM pg_tables WHERE tablename = 't2'")
                .as_deref(),
            Some("postgres"),
            "{how}"
        );
        drop(db);
    }
}

#[test]
fn a_no_transaction_migration_starts_and_leaves_a_clean_session() {
    let db = TestDb::new("session_nt");
    let dir = Dir::new();
    dir.migration(
        "001",
        "first",
        "-- confiture:no-transaction\nCREATE TABLE public.t1 (id int);\nSET search_path = '';\n\
         CREATE INDEX CONCURRENTLY t1_id ON public.t1 (id);\n",
        "SELECT 1;\n",
    )
    .migration(
        "002",
        "second",
        "CREATE TABLE t2 (id int);\n",
        "SELECT 1;\n",
    )
    .migration(
        "003",
        "third",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t2_id ON t2 (id);\nRESET ALL;\n",
        "SELECT 1;\n",
    );
    if let Err(failed) = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
    {
        panic!("{}", failed.error);
    }
    assert_eq!(db.ledger(), ["001:first", "002:second", "003:third"]);
    assert_eq!(schema_of(&db, "t2"), "public");
}

/// A no-transaction migration's statements are each their own transaction, so what its
/// `SET`s leave in the session is there when its ledger row's transaction begins: a read-only
/// default refused the row (the migration's statements committed, the migration unrecorded),
/// and a role without rights on the ledger, tiny timeouts or an empty search path must not
/// reach the row either. Up and down, and the migration after it runs as usual.
#[test]
fn a_no_transaction_migration_s_settings_reach_neither_its_row_nor_the_next_migration() {
    let db = TestDb::new("session_nt_sets");
    let role = new_role(&db);
    // Nor may the role use the advisory-lock functions, which the check of the migration lock
    // between the statements and before the row calls.
    db.client()
        .batch_execute(
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
             REVOKE EXECUTE ON FUNCTION pg_advisory_unlock(int, int), \
             pg_try_advisory_lock(int, int) FROM PUBLIC",
        )
        .unwrap();
    let hostile = format!(
        // The read-only default built at run time, where lint's C109 does not read it.
        "SELECT set_config('default_transaction_' || 'read_only', 'on', false);\n\
         SET SESSION AUTHORIZATION \"{}\";\n\
         SET search_path = '';\nSET lock_timeout = 1;\nSET statement_timeout = 1;\n",
        role.0
    );
    let dir = Dir::new();
    dir.migration(
        "001",
        "first",
        "CREATE TABLE t1 (id int);\n",
        "DROP TABLE t1;\n",
    )
    .migration(
        "002",
        "index",
        &index_then(&hostile),
        &format!(
            "-- confiture:no-transaction\n-- confiture:allow(no-transaction-multiple-statements)\n\
                 DROP INDEX CONCURRENTLY public.t1_id;\n{hostile}"
        ),
    )
    .migration(
        "003",
        "third",
        "SELECT pg_sleep(0.05);\nCREATE TABLE t3 (id int);\n",
        "DROP TABLE t3;\n",
    );
    let mut migrator = db.migrator(&dir);
    if let Err(failed) = migrator.up(&UpOptions::default(), &mut no_progress) {
        panic!("up: {}\n{:?}", failed.error, failed.report);
    }
    assert_eq!(db.ledger(), ["001:first", "002:index", "003:third"]);
    assert_eq!(schema_of(&db, "t3"), "public");
    let by = apply_support::rows(
        &mut db.client(),
        "SELECT DISTINCT applied_by FROM tb_confiture",
    );
    assert_eq!(by, ["postgres"]);

    let down = confiture::migrate::DownOptions::default()
        .steps(Some(3))
        .yes(true);
    if let Err(failed) = migrator.down(&down, &mut no_progress) {
        panic!("down: {}\n{:?}", failed.error, failed.report);
    }
    assert_eq!(db.ledger(), Vec::<String>::new());
    assert!(!db.table_exists("t1") && !db.table_exists("t3"));
}

/// The ledger's `applied_at` follows the order of application (what confiture (Python)'s
/// `down` rolls back by; ours goes by `pk_confiture`), so it must hold whatever a migration did
/// to its session. A migration in the middle of
/// a run that took the engine's clock away (`RESET ALL`, or emptying it) was stamped with the
/// message's `now()` — before the migration applied ahead of it — and `down` then rolled back
/// 001 before 002. Without its clock a migration's row is still timed (its `execution_time_ms`
/// was NULL).
#[test]
fn the_ledger_keeps_the_order_of_application_whatever_a_migration_does_to_its_session() {
    use confiture::migrate::DownOptions;
    // (what the migration does, its up file)
    let middles = [
        ("RESET ALL", "CREATE TABLE t2 (id int);\nRESET ALL;\n"),
        (
            "the clock found and emptied",
            "CREATE TABLE t2 (id int);\nSELECT pg_catalog.set_config(\
             substring(query from 'confiture\\.t_[0-9a-f]{8}'), '', false) \
             FROM pg_catalog.pg_stat_activity WHERE pid = pg_catalog.pg_backend_pid();\n",
        ),
        (
            "the clock's name before it had a token",
            "CREATE TABLE t2 (id int);\nSELECT pg_catalog.set_config('confiture.t', '1', false);\n",
        ),
    ];
    for (what, middle) in middles {
        for (how, runs) in runs() {
            let db = TestDb::new("order");
            let dir = Dir::new();
            dir.migration(
                "001",
                "a",
                "CREATE TABLE t1 (id int);\n",
                "DROP TABLE t1;\n",
            )
            .migration("002", "b", middle, "DROP TABLE t2;\n")
            .migration(
                "003",
                "c",
                "CREATE TABLE t3 (id int);\n",
                "DROP TABLE t3;\n",
            );
            let mut migrator = apply(&format!("{what}, {how}"), &db, &dir, &runs);
            assert_eq!(
                db.ledger(),
                ["001:a", "002:b", "003:c"],
                "{what}, {how}: the ledger's order is the order of application"
            );
            assert_eq!(
                db.value(
                    "SELECT execution_time_ms IS NOT NULL FROM tb_confiture WHERE version = '002'"
                )
                .as_deref(),
                Some("t"),
                "{what}, {how}: 002's own time"
            );
            let down = DownOptions::default().steps(Some(3)).dry_run(true);
            let report = migrator
                .down(&down, &mut no_progress)
                .unwrap_or_else(|failed| panic!("{what}, {how}: {}", failed.error));
            let order: Vec<&str> = report
                .migrations
                .iter()
                .map(|m| m.version.as_str())
                .collect();
            assert_eq!(order, ["003", "002", "001"], "{what}, {how}: newest first");
        }
    }
}

/// A migration may put a schema of its own before `pg_catalog` in its `search_path`, with
/// types, functions and operators named like the built-in ones: the engine's statements
/// around the body (the statement before the row, the row, the `DELETE` of `down`) run
/// under that path, and a `float8`, `to_char`, `~`, `||` or `=` of the migration's must not
/// fail the row, change what it records, or keep `down` from forgetting the migration; nor
/// may an operator in `public` that matches the ledger's types more closely than the
/// built-in one, under the default path.
#[test]
fn a_search_path_that_shadows_pg_catalog_does_not_reach_the_ledger() {
    use confiture::migrate::DownOptions;
    const SHADOWS: &str = "CREATE SCHEMA evil;\n\
        CREATE DOMAIN evil.float8 AS int;\n\
        CREATE FUNCTION evil.to_char(timestamptz, text) RETURNS text LANGUAGE sql AS $$SELECT 'evil'$$;\n\
        CREATE FUNCTION evil.never(text, text) RETURNS bool LANGUAGE sql AS $$SELECT false$$;\n\
        CREATE FUNCTION evil.cat(text, text) RETURNS text LANGUAGE sql AS $$SELECT 'evil'$$;\n\
        CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.never);\n\
        CREATE OPERATOR evil.~ (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.never);\n\
        CREATE OPERATOR evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.cat);\n\
        CREATE OPERATOR evil.>= (LEFTARG = float8, RIGHTARG = float8, FUNCTION = pg_catalog.float8lt);\n\
        CREATE FUNCTION public.never(varchar, varchar) RETURNS bool LANGUAGE sql AS $$SELECT false$$;\n\
        CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.never);\n";
    const SHADOW: &str = "SET search_path = evil, pg_catalog, public;\n";
    for (how, runs) in runs() {
        let db = TestDb::new("shadow");
        let dir = Dir::new();
        dir.migration(
            "001",
            "first",
            &format!("{SHADOWS}{SHADOW}CREATE TABLE public.t1 (id int);\n"),
            &format!("{SHADOW}DROP TABLE public.t1;\n"),
        )
        // Without a path of its own: `public`'s `=` on `varchar` is a closer match than
        // `pg_catalog`'s on `text` for the ledger's `version` column.
        .migration(
            "002",
            "second",
            "SELECT pg_sleep(0.01);\nCREATE TABLE public.t2 (id int);\n",
            "DROP TABLE public.t2;\n",
        );
        let mut migrator = apply(how, &db, &dir, &runs);
        assert_eq!(db.ledger(), ["001:first", "002:second"], "{how}");
        assert_eq!(
            apply_support::rows(
                &mut db.client(),
                "SELECT slug ~ ('^' || name || '_' || version || '_[0-9]{8}_[0-9]{6}$') \
                 AND execution_time_ms IS NOT NULL FROM tb_confiture ORDER BY version"
            ),
            ["t", "t"],
            "{how}: each row has its slug and its own time"
        );
        let down = DownOptions::default().steps(Some(2));
        if let Err(failed) = migrator.down(&down, &mut no_progress) {
            panic!("{how}: {}\n{:?}", failed.error, failed.report);
        }
        assert!(db.ledger().is_empty(), "{how}: down forgot both");
        assert!(!db.table_exists("public.t1") && !db.table_exists("public.t2"));
    }
}

/// The slug's time is the local time of the connection, as confiture writes it; a migration
/// that sets its own `TimeZone` (the two below are 26 hours apart, so at least one is not the
/// connection's) must not move its row's slug away from its `applied_at`.
#[test]
fn a_time_zone_set_by_a_migration_does_not_reach_its_ledger_row() {
    every_way(
        "SET TimeZone = 'Pacific/Kiritimati';\nCREATE TABLE t1 (id int);\n",
        "SET TimeZone = 'Etc/GMT+12';\nCREATE TABLE t2 (id int);\n",
        |how, db| {
            assert_eq!(
                apply_support::rows(
                    &mut db.client(),
                    "SELECT slug = name || '_' || version || '_' \
                     || to_char(applied_at, 'YYYYMMDD_HH24MISS') FROM tb_confiture ORDER BY version"
                ),
                ["t", "t"],
                "{how}: the slug's time is applied_at in the connection's time zone"
            );
        },
    );
}

/// A migration that digs the engine's clock out of its own session's query text (the setting's
/// name has a token of the process, and `pg_settings` does not list it) and writes junk into
/// it sabotages the tool (the clock is read unchecked): it fails, and loses nothing — its transaction is rolled
/// back, the migrations before it stay recorded, the ones after it are not attempted.
#[test]
fn a_migration_that_writes_junk_into_the_engines_settings_fails_and_loses_nothing() {
    let db = TestDb::new("junkclock");
    let dir = Dir::new();
    dir.migration(
        "001",
        "a",
        "CREATE TABLE t1 (id int);\n",
        "DROP TABLE t1;\n",
    )
    .migration(
        "002",
        "b",
        "CREATE TABLE t2 (id int);\nSELECT pg_catalog.set_config(\
         substring(query from 'confiture\\.t_[0-9a-f]{8}'), 'junk', false) \
         FROM pg_catalog.pg_stat_activity WHERE pid = pg_catalog.pg_backend_pid();\n",
        "DROP TABLE t2;\n",
    )
    .migration(
        "003",
        "c",
        "CREATE TABLE t3 (id int);\n",
        "DROP TABLE t3;\n",
    );
    let failed = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .expect_err("junk in the clock fails the migration's ledger row");
    assert_eq!(failed.error.kind, confiture::ErrorKind::MigrationFailed);
    assert!(failed.error.message.contains("002_b"), "{}", failed.error);
    assert_eq!(failed.report.applied, ["001"]);
    assert_eq!(db.ledger(), ["001:a"]);
    assert!(db.table_exists("t1") && !db.table_exists("t2") && !db.table_exists("t3"));
}

/// Session settings that change how the server writes values as text, each as a database
/// could set it (`ALTER DATABASE ... SET`, what every new session starts with) and as a
/// migration could (`SET`). The ones that fail the ledger without the fix: the clock that
/// times each migration travelled as `float8` text, which `extra_float_digits` below 0 rounds
/// (-6: `applied_at` seconds off, -15: `execution_time_ms` out of range for `int4`).
const TEXT_SETTINGS: [(&str, &str); 8] = [
    ("extra_float_digits", "-15"),
    ("extra_float_digits", "-10"),
    ("extra_float_digits", "-6"),
    ("DateStyle", "SQL, DMY"),
    ("DateStyle", "German"),
    ("IntervalStyle", "iso_8601"),
    ("TimeZone", "Pacific/Chatham"),
    ("bytea_output", "escape"),
];

/// The server's clock in microseconds since the epoch, as an integer (its text depends on no
/// setting).
fn server_micros(db: &TestDb) -> i64 {
    db.value("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::int8")
        .and_then(|v| v.parse().ok())
        .expect("the server's clock")
}

/// Each ledger row's `applied_at` (microseconds since the epoch) and `execution_time_ms`.
fn ledger_times(db: &TestDb) -> Vec<(String, i64, Option<i64>)> {
    apply_support::rows(
        &mut db.client(),
        "SELECT version || ' ' || (extract(epoch FROM applied_at) * 1000000)::int8 || ' ' \
         || coalesce(execution_time_ms::text, '-') FROM tb_confiture ORDER BY version",
    )
    .iter()
    .map(|row| {
        let mut parts = row.split(' ');
        let version = parts.next().unwrap_or_default().to_string();
        let at = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let ms = parts.next().and_then(|p| p.parse().ok());
        (version, at, ms)
    })
    .collect()
}

/// Each row recorded between `from` and `to` (server microseconds), with a time of its own
/// no shorter than its body's `pg_sleep` and no longer than the run.
fn assert_rows_timed(what: &str, db: &TestDb, versions: &[&str], from: i64, to: i64) {
    let rows = ledger_times(db);
    let recorded: Vec<&str> = rows.iter().map(|(v, _, _)| v.as_str()).collect();
    assert_eq!(recorded, versions, "{what}: the rows");
    for (version, at, ms) in &rows {
        assert!(
            (from..=to).contains(at),
            "{what}: {version}'s applied_at is {} s away from the run ({from}..{to})",
            (at - from) as f64 / 1e6
        );
        let ms = ms.unwrap_or_else(|| panic!("{what}: {version} has no execution_time_ms"));
        assert!(
            (SLEEP_MS..=(to - from) / 1000 + 1).contains(&ms),
            "{what}: {version}'s execution_time_ms is {ms}, the run took {} ms",
            (to - from) / 1000
        );
    }
}

/// How long each migration of [`the_ledger_s_values_depend_on_no_session_setting`] sleeps.
const SLEEP_MS: i64 = 50;

/// What the ledger records (`applied_at`, `execution_time_ms`) and what `down` reports (each
/// migration's time) are the server's measure, whatever the settings a database, a role or a
/// migration set for how values are written as text: for a batch of migrations (prepared
/// rows), one alone, `--single-transaction`, a no-transaction migration, and `down` of both
/// kinds. `status` reads the rows back.
#[test]
fn the_ledger_s_values_depend_on_no_session_setting() {
    use confiture::migrate::DownOptions;
    let cases: Vec<(&str, &str, bool)> = TEXT_SETTINGS
        .iter()
        .flat_map(|&(name, value)| [(name, value, true), (name, value, false)])
        .collect();
    std::thread::scope(|scope| {
        for &(name, value, database) in &cases {
            scope.spawn(move || {
                let what = format!(
                    "{name} = {value} set by {}",
                    if database {
                        "the database"
                    } else {
                        "each migration"
                    }
                );
                let db = TestDb::new("textsettings");
                let set = if database {
                    db.client()
                        .batch_execute(&format!(
                            "ALTER DATABASE \"{}\" SET {name} = '{value}'",
                            db.name
                        ))
                        .expect("database setting");
                    String::new()
                } else {
                    format!("SET {name} = '{value}';\n")
                };
                let sleep = format!("SELECT pg_sleep({});\n", SLEEP_MS as f64 / 1000.0);
                let no_transaction = "-- confiture:no-transaction\n\
                    -- confiture:allow(no-transaction-multiple-statements)\n";
                let dir = Dir::new();
                dir.migration(
                    "001",
                    "a",
                    &format!("{set}CREATE TABLE t1 (id int);\n{sleep}"),
                    &format!("{set}DROP TABLE t1;\n{sleep}"),
                )
                .migration(
                    "002",
                    "b",
                    &format!("{set}CREATE TABLE t2 (id int);\n{sleep}"),
                    &format!("{set}DROP TABLE t2;\n{sleep}"),
                )
                .migration(
                    "003",
                    "c",
                    &format!(
                        "{no_transaction}{set}CREATE INDEX CONCURRENTLY t1_id ON t1 (id);\n{sleep}"
                    ),
                    &format!("{no_transaction}{set}DROP INDEX CONCURRENTLY t1_id;\n{sleep}"),
                );
                let mut migrator = db.migrator(&dir);
                let up = |migrator: &mut confiture::Migrator, options: &UpOptions| {
                    if let Err(failed) = migrator.up(options, &mut no_progress) {
                        panic!("{what}: {}\n{:?}", failed.error, failed.report);
                    }
                };
                // One message of two (prepared rows), then the no-transaction one.
                let from = server_micros(&db);
                up(&mut migrator, &UpOptions::default());
                let to = server_micros(&db);
                assert_rows_timed(
                    &format!("{what}, up"),
                    &db,
                    &["001", "002", "003"],
                    from,
                    to,
                );
                let status = migrator.status().unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(
                    status.applied,
                    ["001", "002", "003"],
                    "{what}: status reads the rows back"
                );
                let down = |migrator: &mut confiture::Migrator| {
                    let from = server_micros(&db);
                    let report = migrator
                        .down(&DownOptions::default().steps(Some(3)), &mut no_progress)
                        .unwrap_or_else(|failed| panic!("{what}: {}", failed.error));
                    let span = (server_micros(&db) - from) / 1000 + 1;
                    assert_eq!(report.migrations.len(), 3, "{what}");
                    for m in &report.migrations {
                        let ms = m.duration_ms.expect("down reports each migration's time") as i64;
                        assert!(
                            (SLEEP_MS..=span).contains(&ms),
                            "{what}: down of {} took {ms} ms, the run {span} ms",
                            m.version
                        );
                    }
                    assert!(db.ledger().is_empty(), "{what}: down forgot all three");
                };
                down(&mut migrator);
                // One alone (its row not prepared), one in `--single-transaction`, then the
                // no-transaction one.
                let from = server_micros(&db);
                up(&mut migrator, &UpOptions::default().steps(Some(1)));
                up(
                    &mut migrator,
                    &UpOptions::default().single_transaction(true).steps(Some(1)),
                );
                up(&mut migrator, &UpOptions::default());
                let to = server_micros(&db);
                assert_rows_timed(
                    &format!("{what}, up one by one"),
                    &db,
                    &["001", "002", "003"],
                    from,
                    to,
                );
                down(&mut migrator);
            });
        }
    });
}

/// A progress callback that panics (the caller's bug, caught by its runtime or its own
/// `catch_unwind`) leaves nothing held on the server while the `Migrator` lives on: at every
/// event of a run — the lock just taken, the tracking table's DDL sent and not committed, a
/// message sent, a migration started, a notice, a migration finished — the session holding
/// the migration lock kept it (every other deploy waited on it until the `Migrator` was
/// dropped), and a panic before the first migration left it idle inside the DDL's transaction,
/// `tb_confiture` locked against every reader. Own session, one handed over, a stoppable run
/// (its own thread), and `down` alike; what committed stays recorded.
#[test]
fn a_panicking_progress_callback_leaves_no_lock_nor_transaction() {
    let db = TestDb::new("panicprogress");
    let dir = Dir::new();
    dir.migration(
        "001",
        "notice",
        "CREATE TABLE a (id int);\nDO $$ BEGIN RAISE NOTICE 'hello'; END $$;\n",
        "DROP TABLE a;\n",
    )
    .migration(
        "002",
        "alone",
        "-- confiture:no-transaction\nCREATE TABLE b (id int);\nCREATE INDEX CONCURRENTLY b_id ON b (id);\n",
        "DROP TABLE b;\n",
    )
    .migration("003", "c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n");
    // Client sessions only: an autovacuum worker of this database's churned catalogs shows
    // as `active` with a relation lock (seen in CI), and is nobody's leftover.
    let held = |db: &TestDb| {
        rows(
            &mut db.client(),
            "SELECT coalesce(state, '?') || ' ' || coalesce((SELECT string_agg(DISTINCT locktype, ',') \
               FROM pg_locks l WHERE l.pid = s.pid AND locktype IN ('advisory', 'relation')), '') \
             FROM pg_stat_activity s WHERE datname = current_database() AND pid <> pg_backend_pid() \
               AND backend_type = 'client backend' \
               AND (state <> 'idle' OR EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = s.pid \
               AND locktype = 'advisory'))",
        )
    };
    for how in ["own session", "handed over", "stoppable", "down"] {
        let mut events = 0;
        for k in 0.. {
            db.client()
                .batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
                .unwrap();
            let mut migrator = db.migrator(&dir);
            if how == "handed over" {
                migrator = migrator.with_client(db.client_as("my-service"));
            }
            if how == "stoppable" {
                let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                migrator = migrator.stop_when(flag);
            }
            if how == "down" {
                migrator
                    .up(&UpOptions::default(), &mut no_progress)
                    .unwrap();
            }
            let mut seen = 0;
            let mut at = String::new();
            let mut panicking = |p: confiture::migrate::Progress| {
                if seen == k {
                    at = format!("{p:?}");
                    panic!("the caller's bug");
                }
                seen += 1;
            };
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if how == "down" {
                    let all = confiture::migrate::DownOptions::default().steps(Some(3));
                    migrator
                        .down(&all, &mut panicking)
                        .map(|_| ())
                        .map_err(|f| f.error)
                } else {
                    let up = UpOptions::default();
                    migrator
                        .up(&up, &mut panicking)
                        .map(|_| ())
                        .map_err(|f| f.error)
                }
            }));
            if let Ok(done) = run {
                done.unwrap_or_else(|e| panic!("{how}: {e}: {:?}", e.details));
                events = k;
                break;
            }
            // The Migrator lives on, as a service's does: it holds nothing.
            assert_eq!(held(&db), Vec::<String>::new(), "{how}: a panic at {at}");
            // It works again, and so does any other runner.
            let report = db
                .migrator(&dir)
                .up(
                    &UpOptions::default().lock_wait(std::time::Duration::from_secs(2)),
                    &mut no_progress,
                )
                .unwrap_or_else(|f| panic!("{how}: after a panic at {at}: {}", f.error));
            assert_eq!(db.ledger().len(), 3, "{how}: {at}: {:?}", report.applied);
            drop(migrator);
        }
        assert!(events >= 6, "{how}: every event was tried ({events})");
    }
}

/// What a migration does to empty its session (every setting, the engine's clock among them),
/// each after a sleep of [`SLEEP_MS`]: `(what, its statements)`. A `DO` block sleeps
/// (`SELECT pg_sleep` may return rows, which sends its migration alone).
const SESSION_EMPTIED: [(&str, &str); 4] = [
    ("RESET ALL", "RESET ALL;\n"),
    (
        "SET SESSION AUTHORIZATION, SET ROLE, RESET ALL",
        "SET SESSION AUTHORIZATION DEFAULT;\nSET ROLE pg_monitor;\nRESET ALL;\n",
    ),
    (
        "RESET ALL in a DO block",
        "DO $$ BEGIN EXECUTE 'RESET ALL'; END $$;\n",
    ),
    (
        "RESET ALL by a function an earlier migration created",
        "DO $$ BEGIN PERFORM hidden_clear(); END $$;\n",
    ),
];

/// A migration that empties its session (`RESET ALL`, also after `SET SESSION AUTHORIZATION`
/// or `SET ROLE`, in a `DO` block, by a function of an earlier migration) still has its own
/// time: in the ledger's `execution_time_ms` and in the report's `duration_ms`, no shorter
/// than its sleep and no longer than the run — in the middle of a message of several, alone,
/// in `--single-transaction`, sent in parts (over 64 KiB), without a transaction, and going
/// down. Its time was NULL: the engine's clock is a session setting, which `RESET ALL`
/// empties. (`DISCARD ALL`, which also releases the migration lock, is refused: C107.)
#[test]
fn a_migration_that_empties_its_session_keeps_its_own_time() {
    use confiture::migrate::DownOptions;
    let sleep = format!(
        "DO $$ BEGIN PERFORM pg_sleep({}); END $$;\n",
        SLEEP_MS as f64 / 1000.0
    );
    // Over 64 KiB of statements: sent in parts inside its transaction.
    let long: String = (0..1500)
        .map(|i| format!("COMMENT ON TABLE t2 IS 'a comment long enough to fill a message {i}';\n"))
        .collect();
    let no_transaction = "-- confiture:no-transaction\n\
        -- confiture:allow(no-transaction-multiple-statements)\n";
    let hidden = "CREATE FUNCTION hidden_clear() RETURNS void LANGUAGE plpgsql AS \
        $f$ BEGIN EXECUTE 'RESE' || 'T ALL'; END $f$;\n";
    std::thread::scope(|scope| {
        for (what, emptied) in SESSION_EMPTIED {
            let (sleep, long) = (&sleep, &long);
            scope.spawn(move || {
                let db = TestDb::new("emptied");
                let dir = Dir::new();
                let body = |table: &str, extra: &str| {
                    format!("CREATE TABLE {table} (id int);\n{extra}{sleep}{emptied}")
                };
                let down = |table: &str| format!("DROP TABLE {table};\n{sleep}{emptied}");
                dir.migration(
                    "001",
                    "a",
                    &format!("{hidden}{sleep}"),
                    &format!("DROP FUNCTION hidden_clear();\n{sleep}"),
                )
                .migration("002", "b", &body("t2", ""), &down("t2"))
                .migration("003", "c", &body("t3", ""), &down("t3"))
                .migration(
                    "004",
                    "long",
                    &body("t4", &long.replace("t2", "t4")),
                    &down("t4"),
                )
                .migration(
                    "005",
                    "nt",
                    &format!("{no_transaction}CREATE TABLE t5 (id int);\n{sleep}{emptied}"),
                    &format!("{no_transaction}DROP TABLE t5;\n{sleep}{emptied}"),
                );
                let all = ["001", "002", "003", "004", "005"];
                let mut migrator = db.migrator(&dir);
                let up = |migrator: &mut confiture::Migrator, options: &UpOptions| {
                    let report = migrator
                        .up(options, &mut no_progress)
                        .unwrap_or_else(|f| panic!("{what}: {}\n{:?}", f.error, f.report));
                    report.migrations
                };
                let runs: [(&str, Vec<UpOptions>); 3] = [
                    ("one up", vec![UpOptions::default()]),
                    (
                        "up --steps 1 each",
                        vec![UpOptions::default().steps(Some(1)); all.len()],
                    ),
                    (
                        "up --single-transaction, then the no-transaction one",
                        vec![
                            UpOptions::default().single_transaction(true).steps(Some(4)),
                            UpOptions::default(),
                        ],
                    ),
                ];
                for (how, runs) in runs {
                    let what = format!("{what}, {how}");
                    let from = server_micros(&db);
                    let mut reported = Vec::new();
                    for options in &runs {
                        reported.extend(up(&mut migrator, options));
                    }
                    let to = server_micros(&db);
                    assert_rows_timed(&what, &db, &all, from, to);
                    let span = (to - from) / 1000 + 1;
                    assert_eq!(reported.len(), all.len(), "{what}: {reported:?}");
                    for m in &reported {
                        let ms = m.duration_ms.unwrap_or_else(|| {
                            panic!("{what}: {} is reported without its time", m.version)
                        }) as i64;
                        assert!(
                            (SLEEP_MS..=span).contains(&ms),
                            "{what}: {} is reported as {ms} ms, the run took {span} ms",
                            m.version
                        );
                    }
                    let from = server_micros(&db);
                    let report = migrator
                        .down(&DownOptions::default().steps(Some(5)), &mut no_progress)
                        .unwrap_or_else(|f| panic!("{what}: down: {}", f.error));
                    let span = (server_micros(&db) - from) / 1000 + 1;
                    assert_eq!(report.migrations.len(), all.len(), "{what}: down");
                    for m in &report.migrations {
                        let ms = m.duration_ms.unwrap_or_else(|| {
                            panic!("{what}: down of {} is reported without its time", m.version)
                        }) as i64;
                        assert!(
                            (SLEEP_MS..=span).contains(&ms),
                            "{what}: down of {} took {ms} ms, the run {span} ms",
                            m.version
                        );
                    }
                    assert!(db.ledger().is_empty(), "{what}: down forgot them all");
                }
            });
        }
    });
}
