//! The splitter and the no-transaction classification against a real PostgreSQL: what
//! `requires_no_transaction` says must be what the server does (SQLSTATE 25001), and the pieces
//! the splitter cuts must each run on their own.
//!
//! Needs PostgreSQL (`CONFITURE_TEST_SERVER`, see `confiture-test-support`); fails loudly if
//! none is reachable.
#![cfg(feature = "db")]

use confiture::files::lexer;
use postgres::error::SqlState;
use postgres::Client;

/// A database of this test's own with one open session, dropped (WITH (FORCE)) when the guard
/// goes, also on failure.
struct TestDb {
    name: String,
    client: Option<Client>,
    _guard: confiture_test_support::TestDb,
}

impl TestDb {
    fn create() -> TestDb {
        let guard = confiture_test_support::TestDb::new("sql");
        TestDb {
            name: guard.name.clone(),
            client: Some(guard.client()),
            _guard: guard,
        }
    }

    fn client(&mut self) -> &mut Client {
        self.client.as_mut().expect("connected")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // The session first: the database guard drops the database after it.
        drop(self.client.take());
    }
}

/// Runs `sql` inside a transaction block that is rolled back; `Err(code)` if the server refused.
fn in_transaction(client: &mut Client, sql: &str) -> Result<(), String> {
    let mut tx = client.transaction().expect("BEGIN");
    let result = tx.batch_execute(sql).map_err(|e| {
        e.code()
            .map_or_else(|| e.to_string(), |c| c.code().to_string())
    });
    let _ = tx.rollback();
    result
}

#[test]
fn classification_matches_what_postgres_refuses_in_a_transaction_block() {
    let mut db = TestDb::create();
    let name = db.name.clone();
    db.client()
        .batch_execute(
            "CREATE TABLE t (a int, b text);
             CREATE INDEX i ON t (a);
             CLUSTER t USING i;
             CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x;
             CREATE UNIQUE INDEX mv_x ON mv (x);
             CREATE TYPE mood AS ENUM ('a');
             CREATE TABLE p (a int) PARTITION BY RANGE (a);
             CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10);",
        )
        .expect("setup");
    let statements = [
        "CREATE INDEX CONCURRENTLY i2 ON t (a)".to_string(),
        "create unique index concurrently if not exists i3 on t (a)".to_string(),
        "DROP INDEX CONCURRENTLY i".to_string(),
        "REINDEX TABLE CONCURRENTLY t".to_string(),
        "REINDEX (CONCURRENTLY) INDEX i".to_string(),
        "REINDEX (VERBOSE) INDEX CONCURRENTLY i".to_string(),
        "REINDEX SCHEMA public".to_string(),
        format!("REINDEX DATABASE \"{name}\""),
        "VACUUM".to_string(),
        "VACUUM (ANALYZE) t".to_string(),
        "CLUSTER".to_string(),
        "CLUSTER VERBOSE".to_string(),
        "CREATE DATABASE confiture_never_created".to_string(),
        "DROP DATABASE IF EXISTS confiture_never_created".to_string(),
        format!("ALTER DATABASE \"{name}\" SET TABLESPACE pg_default"),
        "CREATE TABLESPACE confiture_never_created LOCATION '/nonexistent'".to_string(),
        "DROP TABLESPACE IF EXISTS confiture_never_created".to_string(),
        "ALTER SYSTEM SET work_mem = '4MB'".to_string(),
        "ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY".to_string(),
        "DISCARD ALL".to_string(),
        // Fine in a transaction block:
        "CREATE INDEX i4 ON t (b)".to_string(),
        "ALTER TYPE mood ADD VALUE 'b'".to_string(),
        "REFRESH MATERIALIZED VIEW CONCURRENTLY mv".to_string(),
        "CLUSTER t USING i".to_string(),
        "CLUSTER t".to_string(),
        "REINDEX TABLE t".to_string(),
        "REINDEX (CONCURRENTLY false) TABLE t".to_string(),
        "ANALYZE t".to_string(),
        format!("ALTER DATABASE \"{name}\" SET work_mem TO '1MB'"),
        "ALTER TABLE p DETACH PARTITION p1".to_string(),
        "DROP INDEX i".to_string(),
        "SELECT 'VACUUM'".to_string(),
    ];
    let mut refused = 0;
    for sql in &statements {
        let split = lexer::split(sql);
        let [stmt] = &split.statements[..] else {
            panic!("{sql} is one statement")
        };
        let predicted = lexer::requires_no_transaction(stmt);
        let actual = in_transaction(db.client(), sql);
        match (&actual, predicted) {
            (Err(code), true) if code == SqlState::ACTIVE_SQL_TRANSACTION.code() => refused += 1,
            (Ok(()), false) => {}
            _ => panic!(
                "{sql}: predicted requires_no_transaction = {predicted}, server said {actual:?}"
            ),
        }
    }
    assert_eq!(refused, 20);
}

/// Runs `setup` then `sql` in one transaction block that is rolled back; `Err(code)` if the
/// server refused `sql` (the setup must succeed).
fn in_transaction_after(client: &mut Client, setup: &str, sql: &str) -> Result<(), String> {
    let mut tx = client.transaction().expect("BEGIN");
    tx.batch_execute(setup).expect("setup");
    let result = tx.batch_execute(sql).map_err(|e| {
        e.code()
            .map_or_else(|| e.to_string(), |c| c.code().to_string())
    });
    let _ = tx.rollback();
    result
}

#[test]
fn subscription_classification_matches_what_postgres_refuses_in_a_transaction_block() {
    let mut db = TestDb::create();
    // An enabled subscription that never connected (`connect = false`: its conninfo is only
    // parsed, no replication slot is made), created in the same transaction as each statement
    // and rolled back with it: no apply worker starts, nothing is left behind. The server
    // refuses a transaction block before it connects to the publisher, so the cases it refuses
    // need none; `DROP SUBSCRIPTION` is refused because `s` has a slot name, its usual case.
    let setup = "CREATE SUBSCRIPTION s CONNECTION 'dbname=confiture_never_created' \
                 PUBLICATION p, q WITH (connect = false); ALTER SUBSCRIPTION s ENABLE;";
    let statements = [
        "CREATE SUBSCRIPTION s2 CONNECTION 'dbname=confiture_never_created' PUBLICATION p",
        "CREATE SUBSCRIPTION s2 CONNECTION 'dbname=x' PUBLICATION p WITH (create_slot = true)",
        "ALTER SUBSCRIPTION s REFRESH PUBLICATION",
        "ALTER SUBSCRIPTION s REFRESH PUBLICATION WITH (copy_data = false)",
        "ALTER SUBSCRIPTION s SET PUBLICATION p",
        "alter subscription \"s\" add publication r",
        "ALTER SUBSCRIPTION s DROP PUBLICATION q WITH (copy_data = false)",
        "DROP SUBSCRIPTION s",
        // Fine in a transaction block:
        "CREATE SUBSCRIPTION s2 CONNECTION 'dbname=x' PUBLICATION p WITH (connect = false)",
        "CREATE SUBSCRIPTION s2 CONNECTION 'dbname=x' PUBLICATION p WITH (connect = 'off')",
        "ALTER SUBSCRIPTION s SET PUBLICATION p WITH (refresh = false)",
        "ALTER SUBSCRIPTION s ADD PUBLICATION r WITH (refresh = off)",
        "ALTER SUBSCRIPTION s DROP PUBLICATION q WITH (refresh = 0)",
        "ALTER SUBSCRIPTION s DISABLE",
        "ALTER SUBSCRIPTION s SET (binary = true)",
        "ALTER SUBSCRIPTION s CONNECTION 'dbname=confiture_other'",
        "ALTER SUBSCRIPTION s RENAME TO s3",
        "SELECT 'DROP SUBSCRIPTION s'",
    ];
    let mut refused = 0;
    for sql in statements {
        let split = lexer::split(sql);
        let [stmt] = &split.statements[..] else {
            panic!("{sql} is one statement")
        };
        let predicted = lexer::requires_no_transaction(stmt);
        let actual = in_transaction_after(db.client(), setup, sql);
        match (&actual, predicted) {
            (Err(code), true) if code == SqlState::ACTIVE_SQL_TRANSACTION.code() => refused += 1,
            (Ok(()), false) => {}
            _ => panic!(
                "{sql}: predicted requires_no_transaction = {predicted}, server said {actual:?}"
            ),
        }
    }
    assert_eq!(refused, 8);
}

#[test]
fn a_procedure_or_do_block_that_commits_runs_only_outside_a_transaction_block() {
    let mut db = TestDb::create();
    db.client()
        .batch_execute(
            "CREATE TABLE a (i int);
             CREATE PROCEDURE p() LANGUAGE plpgsql AS $$
             BEGIN INSERT INTO a VALUES (1); COMMIT; INSERT INTO a VALUES (2); END $$;",
        )
        .expect("setup");
    for (sql, command) in [
        ("CALL p();", "CALL"),
        (
            "DO $$ BEGIN INSERT INTO a VALUES (3); COMMIT; END $$;",
            "DO",
        ),
    ] {
        let file = format!("-- confiture:no-transaction\n{sql}\n");
        let split = lexer::split(&file);
        let [stmt] = &split.statements[..] else {
            panic!("{sql} is one statement")
        };
        // Lint cannot see the COMMIT: the statement is not known to refuse a transaction
        // block, but it may, so the marker is accepted.
        assert_eq!(stmt.non_transactional_command(), None, "{sql}");
        assert_eq!(stmt.may_control_transactions(), Some(command), "{sql}");
        let diagnostics = confiture::files::rules::check_sql(
            std::path::Path::new("m.up.sql"),
            &file,
            confiture::files::Direction::Up,
        );
        assert!(diagnostics.is_empty(), "{sql}: {diagnostics:#?}");
        // The server refuses it in a transaction block (invalid transaction termination)...
        assert_eq!(
            in_transaction(db.client(), sql),
            Err(SqlState::INVALID_TRANSACTION_TERMINATION.code().to_string()),
            "{sql}"
        );
        // ...and runs it sent on its own, as a no-transaction migration's statements are.
        db.client()
            .batch_execute(stmt.text)
            .unwrap_or_else(|e| panic!("{sql} on its own: {e}"));
    }
    let n: i64 = db
        .client()
        .query_one("SELECT count(*) FROM a", &[])
        .expect("count")
        .get(0);
    assert_eq!(n, 3);
}

#[test]
fn every_client_encoding_change_lint_refuses_is_one_the_server_makes() {
    let db = confiture_test_support::TestDb::new("sql");
    // Each statement in a session of its own; what lint says (C106 or nothing) must be whether
    // the session's client_encoding is no longer UTF8 after it.
    let statements = [
        "SET client_encoding = 'LATIN1'",
        "SELECT set_config('client_encoding', 'LATIN1', false)",
        "UPDATE pg_settings SET setting = 'LATIN1' WHERE name = 'client_encoding'",
        "update pg_catalog.pg_settings set setting = 'WIN1252' where name in ('client_encoding')",
        "UPDATE ONLY \"pg_settings\" AS s SET setting = 'SQL_ASCII' WHERE 'client_encoding' = s.name",
        "SELECT set_config(name, 'LATIN1', false) FROM pg_settings WHERE name = 'client_encoding'",
        // Not changed beyond the statement's transaction, or back to UTF8:
        "SELECT set_config(name, 'LATIN1', true) FROM pg_settings WHERE name = 'client_encoding'",
        "UPDATE pg_settings SET setting = reset_val WHERE name = 'client_encoding'",
        "UPDATE pg_settings SET setting = 'UTF8' WHERE name = 'client_encoding'",
        "SELECT setting FROM pg_settings WHERE name = 'client_encoding' AND setting <> 'UTF8'",
        // A column named like the setting, in a statement lint reads (it names pg_settings).
        "CREATE TEMP TABLE t (id int PRIMARY KEY, client_encoding text); \
         UPDATE t SET client_encoding = 'LATIN1' FROM pg_settings s WHERE s.name = 'x'; \
         INSERT INTO t SELECT 1, setting FROM pg_settings WHERE name = 'server_encoding' \
         ON CONFLICT (id) DO UPDATE SET client_encoding = 'LATIN1'; \
         MERGE INTO t USING pg_settings s ON t.client_encoding = s.name \
         WHEN MATCHED THEN UPDATE SET client_encoding = 'LATIN1'",
        // A DO block's body runs in the session; a SET LOCAL in it ends with its transaction.
        "DO $$ BEGIN SET client_encoding = 'LATIN1'; END $$",
        "DO $$ BEGIN IF true THEN PERFORM set_config('client_encoding', 'SJIS', false); END IF; END $$",
        "DO $$ BEGIN EXECUTE $q$SET NAMES 'WIN1252'$q$; END $$",
        "DO $$ BEGIN SET LOCAL client_encoding = 'LATIN1'; END $$",
    ];
    let mut changed = 0;
    for sql in statements {
        let flagged = confiture::files::rules::check_sql(
            std::path::Path::new("m.up.sql"),
            sql,
            confiture::files::Direction::Up,
        )
        .iter()
        .any(|d| d.code == "C106");
        let mut session = db.client();
        session.batch_execute(sql).expect(sql);
        let encoding: String = session
            .query_one("SHOW client_encoding", &[])
            .expect("SHOW")
            .get(0);
        assert_eq!(
            flagged,
            encoding != "UTF8",
            "{sql}: the session's encoding is {encoding}"
        );
        changed += usize::from(flagged);
    }
    assert_eq!(changed, 9);
}

/// C119 against the server: each statement in a session whose `lock_timeout` and
/// `statement_timeout` are set; lint warns exactly when one of them is 0 after it. A `DO`
/// block's body runs in the session; a column named like a bound is not one.
#[test]
fn every_bound_lint_says_is_turned_off_is_turned_off_by_the_server() {
    let db = confiture_test_support::TestDb::new("sql");
    let statements = [
        ("RESET ALL", true),
        ("DO $$ BEGIN RESET ALL; END $$", true),
        ("DO $$ BEGIN SET lock_timeout = 0; END $$", true),
        ("DO $$ DECLARE n int; BEGIN IF n IS NULL THEN SET statement_timeout TO DEFAULT; END IF; END $$", true),
        ("DO $$ BEGIN PERFORM set_config('lock_timeout', '0', false); END $$", true),
        ("DO $$ BEGIN EXECUTE 'RESET statement_timeout'; END $$", true),
        ("DO $$ BEGIN EXECUTE $q$SET lock_timeout = '0.4ms'$q$; END $$", true),
        ("DO $$ BEGIN SET lock_timeout = '5s'; RAISE NOTICE 'RESET ALL'; END $$", false),
        (
            "CREATE FUNCTION pg_temp.f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN RESET ALL; END $$",
            false,
        ),
        (
            "CREATE TEMP TABLE jobs (id int PRIMARY KEY, lock_timeout int); \
             UPDATE jobs SET lock_timeout = 0 WHERE id = 1; \
             INSERT INTO jobs VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET lock_timeout = 0; \
             MERGE INTO jobs j USING (SELECT 1 AS id) s ON j.id = s.id \
             WHEN MATCHED THEN UPDATE SET lock_timeout = DEFAULT",
            false,
        ),
    ];
    for (sql, off) in statements {
        let flagged = confiture::files::rules::check_sql(
            std::path::Path::new("m.up.sql"),
            sql,
            confiture::files::Direction::Up,
        )
        .iter()
        .any(|d| d.code == "C119");
        assert_eq!(flagged, off, "{sql}: lint");
        let mut session = db.client();
        session
            .batch_execute("SET lock_timeout = '7s'; SET statement_timeout = '9s'")
            .expect("bounds");
        session.batch_execute(sql).expect(sql);
        let mut bound = |name: &str| -> String {
            session
                .query_one(&format!("SHOW {name}"), &[])
                .expect("SHOW")
                .get(0)
        };
        let zero = bound("lock_timeout") == "0" || bound("statement_timeout") == "0";
        assert_eq!(zero, off, "{sql}: the server");
    }
}

/// C109 against the server: `SET TRANSACTION` in a `DO` block is refused after a query of the
/// transaction (a migration's) and in a transaction of its own (a no-transaction migration's,
/// the block being its first query): lint flags both.
#[test]
fn setting_the_transaction_in_a_do_block_fails_where_lint_says() {
    let mut db = TestDb::create();
    for sql in [
        "DO $$ BEGIN SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; END $$",
        "DO $$ BEGIN PERFORM set_config('transaction_isolation', 'repeatable read', true); END $$",
        "DO $$ BEGIN EXECUTE 'SET TRANSACTION DEFERRABLE'; END $$",
    ] {
        let flagged = confiture::files::rules::check_sql(
            std::path::Path::new("m.up.sql"),
            sql,
            confiture::files::Direction::Up,
        )
        .iter()
        .any(|d| d.code == "C109");
        assert!(flagged, "{sql}");
        assert_eq!(
            in_transaction_after(db.client(), "SELECT 1", sql),
            Err("25001".to_string()),
            "{sql}"
        );
        let alone = db.client().batch_execute(sql).map_err(|e| {
            e.code()
                .map_or_else(|| e.to_string(), |c| c.code().to_string())
        });
        assert_eq!(alone, Err("25001".to_string()), "{sql}");
    }
}

/// C109 against the server: each spelling lint reads as making the session's transactions
/// read-only does, run as a no-transaction migration's statement is (alone): the statement
/// after it that writes, in a transaction of its own, fails (SQLSTATE 25006).
#[test]
fn making_the_session_read_only_fails_the_next_write_where_lint_says() {
    let mut db = TestDb::create();
    for sql in [
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY",
        "SET default_transaction_read_only = on",
        "SET SESSION default_transaction_read_only TO 'yes'",
        "SELECT set_config('default_transaction_read_only', 'true', false)",
        "UPDATE pg_settings SET setting = 'on' WHERE name = 'default_transaction_read_only'",
        "DO $$ BEGIN PERFORM set_config('default_transaction_read_only', 'on', false); END $$",
    ] {
        let file = format!("-- confiture:no-transaction\n{sql};\n");
        let flagged = confiture::files::rules::check_sql(
            std::path::Path::new("m.up.sql"),
            &file,
            confiture::files::Direction::Up,
        )
        .iter()
        .any(|d| d.code == "C109");
        assert!(flagged, "{sql}");
        let session = db.client();
        session.batch_execute(sql).expect(sql);
        let write = session
            .batch_execute("CREATE TABLE hlt3_written (a int)")
            .map_err(|e| e.code().map(|c| c.code().to_string()));
        assert_eq!(write, Err(Some("25006".to_string())), "{sql}");
        session.batch_execute("RESET ALL").expect("reset");
    }
}

#[test]
fn split_pieces_run_on_their_own_and_match_running_the_file() {
    let mut db = TestDb::create();
    let file = r#"-- every quoting form the splitter must see through
CREATE TABLE "we;ird" (id int PRIMARY KEY, note text DEFAULT 'it''s; fine', raw text DEFAULT E'\'; \\');
CREATE FUNCTION bump(i int) RETURNS int LANGUAGE plpgsql AS $fn$
BEGIN
  -- COMMIT; in a comment, and a $$ quote inside: $$;$$
  RETURN i + 1; /* nested /* ; */ comment */
END
$fn$;
CREATE FUNCTION grade(score int) RETURNS text LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN score > 90 THEN 'A;' ELSE 'B' END;
END;
INSERT INTO "we;ird" (id) VALUES (bump(1));
INSERT INTO "we;ird" (id, note) VALUES (3, U&'d\0061t\+000061;');
INSERT INTO "we;ird" (id, note) VALUES (4, E'x' -- the literal goes on, with its escapes
'\'; y')
"#;
    let split = lexer::split(file);
    assert_eq!(split.problems, []);
    assert_eq!(split.statements.len(), 6);
    // The whole file is valid as one message too.
    in_transaction(db.client(), file).expect("the whole file runs");
    // A byte-order mark is whitespace to the splitter, a syntax error to the server.
    let with_bom = format!("\u{feff}{file}");
    assert!(in_transaction(db.client(), &with_bom).is_err());
    in_transaction(db.client(), confiture::text::without_bom(&with_bom))
        .expect("without the mark it runs");
    assert_eq!(lexer::split(&with_bom).statements.len(), 6);
    {
        let mut tx = db.client().transaction().expect("BEGIN");
        for stmt in &split.statements {
            tx.batch_execute(stmt.text).unwrap_or_else(|e| {
                panic!("piece at line {} failed: {e}\n{}", stmt.line, stmt.text)
            });
        }
        tx.commit().expect("COMMIT");
    }
    let rows = db
        .client()
        .query(
            r#"SELECT id, note, raw, grade(95) FROM "we;ird" ORDER BY id"#,
            &[],
        )
        .expect("query");
    let got: Vec<(i32, String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        got,
        [
            (
                2,
                "it's; fine".to_string(),
                "'; \\".to_string(),
                "A;".to_string()
            ),
            (
                3,
                "data;".to_string(),
                "'; \\".to_string(),
                "A;".to_string()
            ),
            (
                4,
                "x'; y".to_string(),
                "'; \\".to_string(),
                "A;".to_string()
            ),
        ]
    );
}

#[test]
fn non_transactional_statements_need_the_split() {
    let mut db = TestDb::create();
    db.client()
        .batch_execute("CREATE TABLE t (a int, b int)")
        .expect("setup");
    let file = "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY ta ON t (a);\nCREATE INDEX CONCURRENTLY tb ON t (b);\n";
    // One message with two statements is an implicit transaction: the server refuses it.
    let err = db
        .client()
        .batch_execute(file)
        .expect_err("a multi-statement message is one transaction");
    assert_eq!(err.code(), Some(&SqlState::ACTIVE_SQL_TRANSACTION));
    // Sent one by one, as the engine does with the splitter's pieces, both succeed.
    for stmt in &lexer::split(file).statements {
        assert!(lexer::requires_no_transaction(stmt));
        db.client()
            .batch_execute(stmt.text)
            .expect("statement on its own");
    }
    let n: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass AND indisvalid",
            &[],
        )
        .expect("count")
        .get(0);
    assert_eq!(n, 2);
}
