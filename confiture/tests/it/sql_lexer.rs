//! The statement splitter against every quoting form PostgreSQL has, and the classification
//! the engine uses to send non-transactional statements on their own.

use confiture::files::lexer::{self, Construct, ProblemKind, TokenKind};

/// The statements' texts.
fn statements(sql: &str) -> Vec<&str> {
    let split = lexer::split(sql);
    assert_eq!(split.problems, [], "unexpected problems in {sql:?}");
    split.statements.iter().map(|s| s.text).collect()
}

#[test]
fn splits_plain_statements_keeping_the_semicolon() {
    assert_eq!(
        statements("SELECT 1; SELECT 2;\nSELECT 3"),
        ["SELECT 1;", "SELECT 2;", "SELECT 3"]
    );
}

#[test]
fn single_quoted_strings_with_doubled_quotes() {
    assert_eq!(
        statements("SELECT 'it''s; fine'; SELECT ';';"),
        ["SELECT 'it''s; fine';", "SELECT ';';"]
    );
    // With standard_conforming_strings (the default), a backslash is an ordinary character.
    assert_eq!(
        statements(r"SELECT 'C:\'; SELECT 2;"),
        [r"SELECT 'C:\';", "SELECT 2;"]
    );
}

#[test]
fn escape_strings_with_backslash_quotes() {
    assert_eq!(
        statements(r"SELECT E'\''; SELECT 2;"),
        [r"SELECT E'\'';", "SELECT 2;"]
    );
    assert_eq!(
        statements(r"SELECT e'a\\'; SELECT 'b';"),
        [r"SELECT e'a\\';", "SELECT 'b';"]
    );
    assert_eq!(
        statements(r"SELECT E'x''y\';z'; SELECT 2;"),
        [r"SELECT E'x''y\';z';", "SELECT 2;"]
    );
    // A word ending in e is not a prefix: `somee'` is an identifier followed by a plain string.
    assert_eq!(
        statements(r"SELECT somee'\'; SELECT 2;"),
        [r"SELECT somee'\';", "SELECT 2;"]
    );
}

#[test]
fn escape_strings_continue_across_a_newline_still_with_escapes() {
    let sql = "SELECT E'a'\n  -- comment\n  '\\'; still inside'; SELECT 2;";
    assert_eq!(
        statements(sql),
        [
            "SELECT E'a'\n  -- comment\n  '\\'; still inside';",
            "SELECT 2;"
        ]
    );
}

#[test]
fn unicode_escape_strings_and_identifiers() {
    let sql = r#"SELECT U&'d\0061t\+000061;' UESCAPE '!', U&"d;a""t"; SELECT 2;"#;
    assert_eq!(
        statements(sql),
        [
            r#"SELECT U&'d\0061t\+000061;' UESCAPE '!', U&"d;a""t";"#,
            "SELECT 2;"
        ]
    );
}

#[test]
fn double_quoted_identifiers() {
    assert_eq!(
        statements(r#"CREATE TABLE "we;ird ""name""" (a int); SELECT 1;"#),
        [r#"CREATE TABLE "we;ird ""name""" (a int);"#, "SELECT 1;"]
    );
}

#[test]
fn dollar_quoted_bodies_hide_semicolons_commit_and_quotes() {
    let function = "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n  UPDATE t SET a = 'x;';\n  COMMIT;\n  RAISE NOTICE 'it''s';\nEND\n$$;";
    let sql = format!("{function}\nSELECT 2;");
    assert_eq!(statements(&sql), [function, "SELECT 2;"]);
    assert_eq!(
        statements("SELECT $$it's$$; SELECT 2;"),
        ["SELECT $$it's$$;", "SELECT 2;"]
    );
}

#[test]
fn tagged_dollar_quotes_nest_different_tags() {
    let body = "CREATE FUNCTION g() RETURNS text LANGUAGE plpgsql AS $fn$\nBEGIN\n  EXECUTE $q$SELECT $$;$$$q$;\n  RETURN $x$;$x$;\nEND\n$fn$;";
    let sql = format!("{body}\nSELECT 2;");
    assert_eq!(statements(&sql), [body, "SELECT 2;"]);
    // Tags are case-sensitive: $Fn$ does not close $fn$.
    assert_eq!(
        statements("SELECT $fn$ $Fn$; $fn$; SELECT 2;"),
        ["SELECT $fn$ $Fn$; $fn$;", "SELECT 2;"]
    );
    // Non-ASCII tags are tags.
    assert_eq!(
        statements("SELECT $été$;$été$; SELECT 2;"),
        ["SELECT $été$;$été$;", "SELECT 2;"]
    );
}

#[test]
fn dollar_that_is_not_a_quote() {
    // A positional parameter.
    assert_eq!(
        statements("PREPARE p AS SELECT $1, $2; SELECT 2;"),
        ["PREPARE p AS SELECT $1, $2;", "SELECT 2;"]
    );
    // A tag cannot start with a digit: `$1$` is the parameter $1 then a `$`.
    assert_eq!(
        statements("SELECT $1$; SELECT 2;"),
        ["SELECT $1$;", "SELECT 2;"]
    );
    // `$` inside an identifier.
    assert_eq!(
        statements("CREATE TABLE a$b (x$ int); SELECT $$;$$;"),
        ["CREATE TABLE a$b (x$ int);", "SELECT $$;$$;"]
    );
    let words: Vec<_> = lexer::tokens("a$b$c").map(|t| (t.kind, t.text)).collect();
    assert_eq!(words, [(TokenKind::Word, "a$b$c")]);
}

#[test]
fn comments_hide_semicolons_and_quotes() {
    assert_eq!(
        statements("SELECT 1 -- it's; done\n; SELECT 2;"),
        ["SELECT 1 -- it's; done\n;", "SELECT 2;"]
    );
    assert_eq!(
        statements("SELECT /* outer /* inner; */ still; ' */ 1; SELECT 2;"),
        ["SELECT /* outer /* inner; */ still; ' */ 1;", "SELECT 2;"]
    );
    // `--` and `/*` start comments even right after an operator character.
    assert_eq!(
        statements("SELECT 1+--;\n1; SELECT 2;"),
        ["SELECT 1+--;\n1;", "SELECT 2;"]
    );
}

#[test]
fn begin_atomic_bodies_with_case_inside() {
    let function = "\
CREATE OR REPLACE FUNCTION grade(score int) RETURNS text LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN score > 90 THEN 'A' ELSE 'B' END;
  SELECT (CASE score WHEN 1 THEN 'x' END);
  SELECT 'end;';
END;";
    let procedure =
        "CREATE PROCEDURE p() BEGIN ATOMIC INSERT INTO t VALUES (1); DELETE FROM t; END;";
    let sql = format!("{function}\n{procedure}\nSELECT 2;");
    assert_eq!(statements(&sql), [function, procedure, "SELECT 2;"]);
}

#[test]
fn begin_that_is_not_an_atomic_body() {
    // A function named `begin` (a non-reserved keyword) does not open a body.
    assert_eq!(
        statements("CREATE FUNCTION begin() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$; SELECT 2;"),
        [
            "CREATE FUNCTION begin() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;",
            "SELECT 2;"
        ]
    );
    assert_eq!(
        statements("BEGIN; SELECT 1; COMMIT;"),
        ["BEGIN;", "SELECT 1;", "COMMIT;"]
    );
}

#[test]
fn semicolons_inside_parentheses_do_not_split() {
    let rule = "CREATE RULE r AS ON INSERT TO t DO INSTEAD (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));";
    assert_eq!(
        statements(&format!("{rule} SELECT 1;")),
        [rule, "SELECT 1;"]
    );
}

#[test]
fn lines_are_those_of_the_first_token() {
    let sql =
        "-- header\n\n/* note\n */ CREATE TABLE t (\n  a int\n);\r\n\r\n  -- between\nSELECT 1;";
    let split = lexer::split(sql);
    let lines: Vec<_> = split.statements.iter().map(|s| s.line).collect();
    assert_eq!(lines, [4, 9]);
    assert_eq!(split.leading_end, sql.find("CREATE").unwrap_or(0));
}

#[test]
fn leading_keywords_are_uppercased_slices() {
    let split = lexer::split("create unique index concurrently if not exists idx on t (a);\nalter table \"T\" add column b int;");
    let first = &split.statements[0];
    let shown: Vec<String> = first.keywords().iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY", "IF", "NOT"]
    );
    assert_eq!(first.keywords()[0].as_str(), "create");
    assert!(first.starts_with(&["CREATE", "unique", "Index"]));
    // Keywords stop at the first token that is not an unquoted word.
    let second: Vec<String> = split.statements[1]
        .keywords()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(second, ["ALTER", "TABLE"]);
}

#[test]
fn byte_order_mark_and_multibyte_text() {
    let sql = "\u{feff}CREATE TABLE café (nom text DEFAULT 'crème; brûlée');\nSELECT '日本語;';";
    let split = lexer::split(sql);
    assert_eq!(split.problems, []);
    let texts: Vec<_> = split.statements.iter().map(|s| s.text).collect();
    assert_eq!(
        texts,
        [
            "CREATE TABLE café (nom text DEFAULT 'crème; brûlée');",
            "SELECT '日本語;';"
        ]
    );
    assert!(split.statements[0].starts_with(&["CREATE", "TABLE"]));
}

#[test]
fn unterminated_constructs_are_reported_where_they_start() {
    for (sql, construct) in [
        ("SELECT 1;\nSELECT 'oops;\nSELECT 2;", Construct::String),
        ("SELECT 1;\nSELECT E'oops\\';\nSELECT 2;", Construct::String),
        (
            "SELECT 1;\nSELECT \"oops;\nSELECT 2;",
            Construct::QuotedIdentifier,
        ),
        (
            "SELECT 1;\nSELECT $body$ oops; $$;\nSELECT 2;",
            Construct::DollarQuote,
        ),
        (
            "SELECT 1;\n/* a /* b */ c;\nSELECT 2;",
            Construct::BlockComment,
        ),
        ("SELECT 1;\nSELECT (1;\nSELECT 2;", Construct::Parenthesis),
        (
            "SELECT 1;\nCREATE PROCEDURE p() BEGIN ATOMIC\nSELECT 2;",
            Construct::AtomicBody,
        ),
    ] {
        let split = lexer::split(sql);
        let problems: Vec<_> = split.problems.iter().map(|p| (p.kind, p.line)).collect();
        assert_eq!(
            problems,
            [(ProblemKind::Unterminated(construct), 2)],
            "{sql:?}"
        );
        assert_eq!(
            split.statements.len(),
            if construct == Construct::BlockComment {
                1
            } else {
                2
            },
            "{sql:?}"
        );
    }
}

#[test]
fn meta_commands_and_copy_data_are_not_statements() {
    let sql = "\\set ON_ERROR_STOP on\nCOPY t (a) FROM STDIN;\nit's; data\n\\.\nSELECT 1;\n\\copy t from stdin\nmore 'data\n\\.\n";
    let split = lexer::split(sql);
    let texts: Vec<_> = split.statements.iter().map(|s| s.text).collect();
    assert_eq!(texts, ["COPY t (a) FROM STDIN;", "SELECT 1;"]);
    let data = split.statements[0].copy_data.clone().unwrap_or_default();
    assert_eq!(&sql[data], "\nit's; data\n\\.");
    let problems: Vec<_> = split.problems.iter().map(|p| (p.kind, p.line)).collect();
    assert_eq!(
        problems,
        [(ProblemKind::MetaCommand, 1), (ProblemKind::MetaCommand, 6)]
    );
}

#[test]
fn stray_semicolons_are_gaps() {
    assert_eq!(statements(";;SELECT 1;;\n;"), ["SELECT 1;"]);
    assert_eq!(statements("  -- only a comment\n"), Vec::<&str>::new());
}

#[test]
fn statements_that_refuse_a_transaction_block() {
    let cases = [
        (
            "CREATE INDEX CONCURRENTLY i ON t (a)",
            Some("CREATE INDEX CONCURRENTLY"),
        ),
        (
            "create unique index concurrently if not exists i on t (a)",
            Some("CREATE INDEX CONCURRENTLY"),
        ),
        (
            "DROP INDEX CONCURRENTLY IF EXISTS i",
            Some("DROP INDEX CONCURRENTLY"),
        ),
        ("REINDEX TABLE CONCURRENTLY t", Some("REINDEX CONCURRENTLY")),
        (
            "REINDEX (VERBOSE) INDEX CONCURRENTLY i",
            Some("REINDEX CONCURRENTLY"),
        ),
        (
            "REINDEX (CONCURRENTLY) TABLE t",
            Some("REINDEX CONCURRENTLY"),
        ),
        ("REINDEX (CONCURRENTLY false) TABLE t", None),
        ("REINDEX SCHEMA public", Some("REINDEX SCHEMA")),
        ("REINDEX DATABASE d", Some("REINDEX DATABASE")),
        ("REINDEX TABLE t", None),
        ("VACUUM", Some("VACUUM")),
        ("vacuum (analyze) t", Some("VACUUM")),
        ("CLUSTER", Some("CLUSTER")),
        ("CLUSTER VERBOSE", Some("CLUSTER")),
        ("CLUSTER t USING i", None),
        ("CREATE DATABASE d", Some("CREATE DATABASE")),
        ("DROP DATABASE IF EXISTS d", Some("DROP DATABASE")),
        (
            "ALTER DATABASE d SET TABLESPACE ts",
            Some("ALTER DATABASE SET TABLESPACE"),
        ),
        ("ALTER DATABASE d SET work_mem TO '1MB'", None),
        (
            "CREATE TABLESPACE ts LOCATION '/x'",
            Some("CREATE TABLESPACE"),
        ),
        ("DROP TABLESPACE ts", Some("DROP TABLESPACE")),
        ("ALTER SYSTEM SET work_mem = '4MB'", Some("ALTER SYSTEM")),
        (
            "ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY",
            Some("ALTER TABLE DETACH PARTITION CONCURRENTLY"),
        ),
        ("ALTER TABLE p DETACH PARTITION p1", None),
        ("DISCARD ALL", Some("DISCARD ALL")),
        (
            "CREATE SUBSCRIPTION s CONNECTION 'dbname=p' PUBLICATION p",
            Some("CREATE SUBSCRIPTION"),
        ),
        (
            "create subscription s connection 'dbname=p' publication p with (create_slot = true)",
            Some("CREATE SUBSCRIPTION"),
        ),
        (
            "CREATE SUBSCRIPTION s CONNECTION 'dbname=p' PUBLICATION p WITH (connect = false)",
            None,
        ),
        (
            "CREATE SUBSCRIPTION s CONNECTION 'dbname=p' PUBLICATION p WITH (enabled, create_slot = 'off')",
            None,
        ),
        (
            "ALTER SUBSCRIPTION s REFRESH PUBLICATION WITH (copy_data = false)",
            Some("ALTER SUBSCRIPTION REFRESH PUBLICATION"),
        ),
        (
            "ALTER SUBSCRIPTION \"S\" SET PUBLICATION p, q",
            Some("ALTER SUBSCRIPTION SET PUBLICATION"),
        ),
        (
            "ALTER SUBSCRIPTION s ADD PUBLICATION q WITH (copy_data = false)",
            Some("ALTER SUBSCRIPTION ADD PUBLICATION"),
        ),
        (
            "ALTER SUBSCRIPTION s DROP PUBLICATION q WITH (refresh = 0)",
            None,
        ),
        ("ALTER SUBSCRIPTION s SET (slot_name = NONE)", None),
        ("ALTER SUBSCRIPTION s DISABLE", None),
        ("ALTER SUBSCRIPTION s CONNECTION 'dbname=q'", None),
        ("DROP SUBSCRIPTION IF EXISTS s", Some("DROP SUBSCRIPTION")),
        ("ALTER TYPE mood ADD VALUE 'meh'", None),
        ("REFRESH MATERIALIZED VIEW CONCURRENTLY mv", None),
        ("CREATE INDEX i ON t (a)", None),
        ("SELECT 'VACUUM'", None),
    ];
    for (sql, expected) in cases {
        let split = lexer::split(sql);
        let stmt = &split.statements[0];
        assert_eq!(stmt.non_transactional_command(), expected, "{sql}");
        assert_eq!(
            lexer::requires_no_transaction(stmt),
            expected.is_some(),
            "{sql}"
        );
    }
}

#[test]
fn statements_that_may_end_transactions_of_their_own() {
    // A procedure or a `DO` block may COMMIT or ROLLBACK, which PostgreSQL allows only outside
    // a transaction block; what the body does is not in the statement.
    let cases = [
        ("CALL p()", Some("CALL")),
        ("call app.backfill(1000)", Some("CALL")),
        ("DO $$ BEGIN COMMIT; END $$", Some("DO")),
        (
            "do language plpgsql $body$ begin null; end $body$",
            Some("DO"),
        ),
        ("SELECT p()", None),
        ("CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1 $$", None),
        ("SELECT 'CALL p()'", None),
    ];
    for (sql, expected) in cases {
        let split = lexer::split(sql);
        let stmt = &split.statements[0];
        assert_eq!(stmt.may_control_transactions(), expected, "{sql}");
        assert_eq!(stmt.non_transactional_command(), None, "{sql}");
    }
}

/// What the engine reads of a no-transaction statement that failed or was stopped: may it have
/// committed part of its work? A `CALL` may; a `DO` block only when it spells transaction
/// control or a `CALL` (PostgreSQL refuses transaction control under any other command).
#[test]
fn statements_that_may_commit_part_of_their_work() {
    let cases = [
        ("CALL p()", true),
        (
            "DO $$ BEGIN FOR i IN 1..9 LOOP INSERT INTO t VALUES (i); COMMIT; END LOOP; END $$",
            true,
        ),
        (
            "do $$ begin insert into t values (1); rollback; end $$",
            true,
        ),
        ("DO $$ BEGIN CALL backfill(1000); END $$", true),
        ("DO $$ BEGIN PERFORM pg_catalog.pg_sleep(60); END $$", false),
        (
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_type WHERE typname = 'mood') THEN \
             CREATE TYPE mood AS ENUM ('ok'); END IF; END $$",
            false,
        ),
        ("SELECT p()", false),
        (
            "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$",
            false,
        ),
    ];
    for (sql, expected) in cases {
        let split = lexer::split(sql);
        assert_eq!(split.statements[0].may_commit_inside(), expected, "{sql}");
    }
}

// String continuation (issue 10): PostgreSQL joins two quoted strings separated by whitespace
// that holds a newline, `--` comments allowed in it, and reads the second part with the rules
// of the first (`E'...'` escapes, `B'...'` without doubled quotes).

#[test]
fn escape_string_continues_across_a_comment_before_the_newline() {
    // The `\'` is a quote inside the continued E-string, so the `;` after it ends the
    // statement and COMMIT is a statement of its own: PostgreSQL runs it.
    assert_eq!(
        statements("SELECT E'a' -- c\n'\\' ' ; COMMIT ; SELECT ' -- '"),
        ["SELECT E'a' -- c\n'\\' ' ;", "COMMIT ;", "SELECT ' -- '"]
    );
    // The reverse: a continued E-string with `\'` is not an unterminated plain string.
    assert_eq!(
        statements("INSERT INTO t VALUES (E'a\\n' -- note\n'it\\'s');\nSELECT 2;"),
        [
            "INSERT INTO t VALUES (E'a\\n' -- note\n'it\\'s');",
            "SELECT 2;"
        ]
    );
    // Several comment lines, tabs, form feeds and carriage returns in the gap.
    assert_eq!(
        statements("SELECT e'a'\t-- one\r-- two\n\x0c\n  -- three\n'\\';x'; SELECT 2;"),
        [
            "SELECT e'a'\t-- one\r-- two\n\x0c\n  -- three\n'\\';x';",
            "SELECT 2;"
        ]
    );
}

#[test]
fn what_does_not_continue_a_string() {
    for sql in [
        // No newline between the parts.
        "SELECT E'a' '\\'; SELECT 2;",
        "SELECT E'a'\t-- c\n",
        // A block comment is not whitespace for continuation, before or after the newline.
        "SELECT E'a' /* c */\n'\\'; SELECT 2;",
        "SELECT E'a'\n/* c */'\\'; SELECT 2;",
        // A prefixed literal starts a new literal with its own rules.
        "SELECT E'a'\nU&'\\'; SELECT 2;",
        // Dollar quotes never continue, nor are they continued.
        "SELECT $$a$$\n'\\'; SELECT 2;",
    ] {
        let split = lexer::split(sql);
        let last = split.statements.last().map(|s| s.text);
        assert!(
            split.statements.len() == 2 && last == Some("SELECT 2;")
                || split.statements.len() == 1 && !sql.contains("SELECT 2"),
            "{sql:?} split as {:?}",
            split.statements.iter().map(|s| s.text).collect::<Vec<_>>()
        );
    }
}

#[test]
fn bit_and_hex_strings_end_at_the_first_quote_and_continue_as_themselves() {
    // `B'01''...'` is B'01' followed by a new string, not a doubled quote.
    let split = lexer::split("SELECT B'01''; SELECT 2;");
    let kinds: Vec<_> = lexer::tokens("B'01''x'")
        .map(|t| (t.kind, t.text))
        .collect();
    assert_eq!(
        kinds,
        [(TokenKind::String, "B'01'"), (TokenKind::String, "'x'")]
    );
    assert_eq!(split.statements.len(), 1);
    // Continued, a bit string is still a bit string.
    let kinds: Vec<_> = lexer::tokens("X'0f' -- c\n'a0'")
        .map(|t| (t.kind, t.text))
        .collect();
    assert_eq!(kinds, [(TokenKind::String, "X'0f' -- c\n'a0'")]);
}

#[test]
fn every_quoted_string_continues_as_one_token() {
    for sql in [
        "'a'\n'b'",
        "E'a\\''\n'b'",
        "U&'a'\n\n'b'",
        "N'a' -- n\n'b'",
        "b'1'\r\n'0'",
    ] {
        let kinds: Vec<_> = lexer::tokens(sql)
            .filter(|t| !t.is_trivia() && t.kind != TokenKind::Word)
            .map(|t| (t.kind, t.text))
            .collect();
        let expected = sql.trim_start_matches('N');
        assert_eq!(kinds, [(TokenKind::String, expected)], "{sql:?}");
    }
}

/// Which statements the server may answer with rows: the engine sends a migration holding one
/// in a message of its own whose rows it discards as they arrive. Unknown or row-returning
/// forms may; only the commands that never return rows do not.
#[test]
fn statements_that_may_return_rows() {
    let may = |sql: &str| {
        let split = lexer::split(sql);
        split.statements[0].may_return_rows()
    };
    for sql in [
        "SELECT backfill(id) FROM t;",
        "select 1",
        "WITH x AS (DELETE FROM t RETURNING id) SELECT 1;",
        "VALUES (1);",
        "TABLE t;",
        "SHOW search_path;",
        "EXPLAIN SELECT 1;",
        "FETCH ALL FROM c;",
        "EXECUTE p;",
        "CALL p();",
        "(SELECT 1);",
        "INSERT INTO t VALUES (1) RETURNING id;",
        "update t set a = 1 returning *;",
        "DELETE FROM t RETURNING id;",
    ] {
        assert!(may(sql), "{sql}");
    }
    for sql in [
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 10) g;",
        "ALTER TABLE t ADD COLUMN returning_x int;",
        "INSERT INTO t SELECT 'RETURNING' FROM u;",
        "UPDATE t SET a = \"returning\";",
        "DELETE FROM t;",
        "DO $$ BEGIN PERFORM 1; END $$;",
        "SET search_path = a;",
        "CREATE FUNCTION f() RETURNS SETOF int AS $$ INSERT INTO t VALUES (1) RETURNING id $$ LANGUAGE sql;",
        "COMMENT ON TABLE t IS 'x';",
        "GRANT SELECT ON t TO r;",
        "TRUNCATE t;",
    ] {
        assert!(!may(sql), "{sql}");
    }
}
