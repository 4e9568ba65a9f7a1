//! C109 `set-transaction`: `SET TRANSACTION ...` (or the `transaction_isolation`,
//! `transaction_read_only`, `transaction_deferrable` settings set by name) in a migration: the
//! transaction it would shape is confiture's, already running queries, or, in a no-transaction
//! migration, the statement's own; and the session's transactions made read-only
//! (`SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`, `default_transaction_read_only`),
//! which breaks a no-transaction migration's later statements.

use super::lexer::Token;
use super::settings::{self, How, Value};
use super::{do_block, Context, Diagnostic, RuleDoc, Severity, Statement};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C109",
    name: "set-transaction",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "`SET TRANSACTION` (isolation level, read only, deferrable, snapshot) in a migration: confiture's transaction has run queries already, or there is none to set",
    explanation: "\
confiture opens each migration's transaction itself and runs its own statements in it (the
migration's timeouts, the ledger's checks) before the file's first statement. PostgreSQL accepts
`SET TRANSACTION ISOLATION LEVEL`, `[NOT] DEFERRABLE` and `SNAPSHOT` only before a
transaction's first query: in a migration they always fail (SQLSTATE 25001, `must be called
before any query`) — unless the level asked for is the one the transaction has already, when
the statement does nothing. `SET TRANSACTION READ ONLY` is accepted, and then every write
of the migration, and its ledger row, fails. A file written for a client that sends it as
the first statement after its own `BEGIN` cannot work here, whatever it says.

In a `-- confiture:no-transaction` migration each statement runs on its own, in an implicit
transaction that ends with it: `SET TRANSACTION` reaches no other statement (PostgreSQL only
warns, `SET TRANSACTION can only be used in transaction blocks`).

The session's default access mode, made read-only (`SET SESSION CHARACTERISTICS AS TRANSACTION
... READ ONLY`, `default_transaction_read_only` on for the session), shapes the transactions
that follow, not the one running: in a migration it does nothing, and in a no-transaction
migration every later statement that writes, each in a transaction of its own, fails (SQLSTATE
25006; confiture resets the session before it writes the migration's row). `BEGIN READ ONLY` and `START
TRANSACTION READ ONLY` are C100's.

Flagged, in up and down files: `SET TRANSACTION ...`; `SET [LOCAL | SESSION]
transaction_isolation | transaction_read_only | transaction_deferrable`, the same by
`set_config(...)` or by an `UPDATE pg_settings`; `SET SESSION CHARACTERISTICS AS TRANSACTION
... READ ONLY`; `SET [SESSION] default_transaction_read_only` to anything but off or `DEFAULT`,
the same by `set_config(..., false)` or by an `UPDATE pg_settings`. A setting's name or value
given as a string is read as the server reads it, quoted any way: `'...'`, `$$...$$` or
`$tag$...$tag$`, `E'...'` and `U&'...'` with their escapes (`UESCAPE` too). Not flagged: the session's
other defaults (`SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL ...`,
`default_transaction_isolation`: they shape the transactions that follow), `SET LOCAL
default_transaction_read_only` (it ends before any later transaction begins), `SHOW`, a column named like a setting (`UPDATE t SET
transaction_isolation = ...`, also `ON CONFLICT DO UPDATE SET` and `MERGE ... UPDATE SET`), and
`SET TRANSACTION` inside a function's body (run where the function is called).

A `DO` block's body runs where it is written: the same statements in it (`SET TRANSACTION ...;`,
`PERFORM set_config(...)`, `EXECUTE 'SET TRANSACTION ...'`), dollar-quoted or `'...'` (`''` and
`E'...'` escapes decoded, quotes inside quotes read in turn), are flagged, in either kind of
migration: the block is a query of the transaction it would shape (SQLSTATE 25001).

**Fix:** remove the statement. A migration cannot choose its transaction's isolation level or
access mode; to take a stronger lock than the statements do, use `LOCK TABLE ... IN ... MODE`.",
};

/// The transaction characteristics a `SET` may name, as PostgreSQL's settings.
const CHARACTERISTICS: [&str; 3] = [
    "transaction_isolation",
    "transaction_read_only",
    "transaction_deferrable",
];

/// What a statement sets: this transaction's characteristics, or the session's transactions
/// read-only from the next one on.
enum Shapes {
    /// `SET TRANSACTION ...`, a characteristic set by name: the transaction's own.
    Transaction(String),
    /// `SET SESSION CHARACTERISTICS AS TRANSACTION ... READ ONLY`,
    /// `default_transaction_read_only` on for the session: every later transaction of the
    /// session is read-only.
    SessionReadOnly(String),
}

pub(super) fn check(cx: &Context<'_>, stmt: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    // `SET TRANSACTION` begins with `SET`; a setting's name may be written without the word
    // (`E'\x74ransaction_read_only'`): the test of a statement that may set one.
    if !settings::may_assign(cx, stmt) {
        return;
    }
    let tokens: Vec<Token<'_>> = stmt.tokens().collect();
    let Some((shapes, in_do_block)) = do_block::find_in_session(&tokens, &mut sets_characteristics)
    else {
        return;
    };
    let what = match shapes {
        Shapes::Transaction(what) => what,
        Shapes::SessionReadOnly(what) => {
            out.push(session_read_only(cx, stmt, &what));
            return;
        }
    };
    let help = "remove it: PostgreSQL takes the isolation level, deferrable mode and snapshot \
                only before a transaction's first query (SQLSTATE 25001), and READ ONLY would \
                fail every write; a migration cannot choose them";
    let (message, help) = if in_do_block {
        // The block is a query of the transaction it would shape, in either kind of migration.
        (
            format!(
                "{what} in a DO block cannot work in a migration: the block runs in a \
                 transaction that has run queries already (the block's own, at least)"
            ),
            help.to_string(),
        )
    } else if cx.markers.no_transaction {
        (
            format!(
                "{what} does nothing in a no-transaction migration: each statement runs on its \
                 own, in an implicit transaction that ends with it"
            ),
            "remove it: a migration cannot choose its transaction's isolation level or access \
             mode"
                .to_string(),
        )
    } else {
        (
            format!(
                "{what} cannot work in a migration: confiture opens its transaction and runs \
                 statements in it before the file's first"
            ),
            help.to_string(),
        )
    };
    out.push(cx.diagnostic(&DOC, stmt.range.clone(), message, help));
}

/// `what` makes the session's later transactions read-only (in a `DO` block or not: the
/// session is the same): in a no-transaction migration each later statement runs in one
/// (SQLSTATE 25006 for a write; the run resets the session before the ledger row); in a
/// transactional one the migration's transaction has begun, read-write.
fn session_read_only(cx: &Context<'_>, stmt: &Statement<'_>, what: &str) -> Diagnostic {
    let message = match cx.markers.no_transaction {
        true => format!(
            "{what} makes every later statement of this no-transaction migration fail that \
             writes: each runs in a transaction of its own, read-only from here on (SQLSTATE \
             25006, cannot execute ... in a read-only transaction)"
        ),
        false => format!(
            "{what} does nothing in a migration: it sets the access mode of the session's later \
             transactions, and the migration's own has begun, read-write"
        ),
    };
    let help = "remove it: a migration cannot choose the access mode of its session's \
                transactions (confiture resets the session before it writes the migration's row)"
        .to_string();
    cx.diagnostic(&DOC, stmt.range.clone(), message, help)
}

/// What in `tokens` (one statement, or one of a `DO` block's, no trivia) sets the
/// transaction's characteristics, or the session's transactions read-only, as the statement
/// names it.
fn sets_characteristics(tokens: &[Token<'_>]) -> Option<Shapes> {
    let first = tokens.first()?;
    if first.is_word("SET") && tokens.get(1).is_some_and(|t| t.is_word("TRANSACTION")) {
        return Some(Shapes::Transaction("SET TRANSACTION".to_string()));
    }
    if first.is_word("SET") && (tokens.get(1..4)).is_some_and(session_characteristics) {
        let read_only = tokens
            .windows(2)
            .any(|w| w[0].is_word("READ") && w[1].is_word("ONLY"));
        return read_only.then(|| {
            Shapes::SessionReadOnly(
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY".to_string(),
            )
        });
    }
    // `ALTER DATABASE | ROLE ... SET`, `CREATE FUNCTION ... SET`: other sessions', or a
    // function's.
    if first.is_word("ALTER") || first.is_word("CREATE") {
        return None;
    }
    let transaction = CHARACTERISTICS.into_iter().find_map(|name| {
        let set = settings::assignments(tokens, name).into_iter().next()?;
        Some(Shapes::Transaction(named(name, set.how)))
    });
    transaction.or_else(|| {
        // For the session, and not back to the default nor off: a `SET LOCAL`, whose value
        // ends with the transaction, reaches no transaction that begins after it.
        let name = DEFAULT_READ_ONLY;
        let set = settings::assignments(tokens, name).into_iter().find(|a| {
            !a.local && a.value != Value::Default && !settings::is_false(a.value.as_text())
        })?;
        Some(Shapes::SessionReadOnly(named(name, set.how)))
    })
}

/// Whether a file's `text` may leave its transaction read-only when it runs, however it does so
/// (`SET TRANSACTION READ ONLY`, `transaction_read_only` set, also built at run time where
/// [`check`] cannot read it: `'transaction_' || 'read_only'`): it says both `read` and `only`.
/// A superset, as cheap as the engine's reading of a file must be: such a transactional
/// migration carries the row markers (`db::apply::ApplySettings::marks_row`), so that its row's
/// `INSERT` failing in the read-only transaction it left is told from its last statement's
/// failure. Not seen: a function defined elsewhere that does it.
#[cfg(feature = "db")]
pub(crate) fn may_leave_read_only(text: &str) -> bool {
    crate::text::mentions(text, "only") && crate::text::mentions(text, "read")
}

/// The setting that makes the session's transactions read-only.
const DEFAULT_READ_ONLY: &str = "default_transaction_read_only";

/// `SESSION CHARACTERISTICS AS`, after a `SET`.
fn session_characteristics(words: &[Token<'_>]) -> bool {
    words.len() == 3
        && words[0].is_word("SESSION")
        && words[1].is_word("CHARACTERISTICS")
        && words[2].is_word("AS")
}

/// How a message names setting `name` set `how`.
fn named(name: &str, how: How) -> String {
    match how {
        How::Set => format!("SET {name}"),
        How::SetConfig => format!("set_config('{name}', ...)"),
        How::SettingsRow => format!("UPDATE pg_settings ({name})"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::files::rules::check_sql;
    use crate::files::Direction;

    /// The C109 diagnostics of `sql` as an up file: `(line, message)`.
    fn flagged(sql: &str) -> Vec<(u32, String)> {
        check_sql(Path::new("m.sql"), sql, Direction::Up)
            .into_iter()
            .filter(|d| d.code == "C109")
            .map(|d| (d.line.unwrap_or(0), d.message))
            .collect()
    }

    /// Every spelling of "set this transaction's characteristics", each with the words the
    /// message names it by; in a transactional and a no-transaction migration, up and down.
    #[test]
    fn every_way_of_setting_the_transaction_is_flagged() {
        let cases = [
            ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;", "SET TRANSACTION"),
            ("set transaction isolation level repeatable read;", "SET TRANSACTION"),
            ("SET TRANSACTION ISOLATION LEVEL READ COMMITTED;", "SET TRANSACTION"),
            ("SET TRANSACTION READ ONLY;", "SET TRANSACTION"),
            ("SET TRANSACTION READ WRITE, NOT DEFERRABLE;", "SET TRANSACTION"),
            ("SET TRANSACTION DEFERRABLE;", "SET TRANSACTION"),
            ("SET TRANSACTION SNAPSHOT '00000003-0000001B-1';", "SET TRANSACTION"),
            ("SET\n  TRANSACTION -- the level\n  ISOLATION LEVEL SERIALIZABLE;", "SET TRANSACTION"),
            ("SET transaction_isolation = 'serializable';", "SET transaction_isolation"),
            ("SET LOCAL transaction_isolation TO serializable;", "SET transaction_isolation"),
            ("SET SESSION \"transaction_read_only\" = on;", "SET transaction_read_only"),
            ("SET transaction_deferrable = true;", "SET transaction_deferrable"),
            (
                "SELECT set_config('transaction_isolation', 'repeatable read', true);",
                "set_config('transaction_isolation', ...)",
            ),
            (
                "SELECT pg_catalog.set_config('transaction_read_only', 'on', false);",
                "set_config('transaction_read_only', ...)",
            ),
            (
                "SELECT set_config(setting_name => 'transaction_isolation', new_value => 'serializable', is_local => true);",
                "set_config('transaction_isolation', ...)",
            ),
            (
                "SELECT set_config(new_value := 'on', setting_name := 'transaction_read_only', is_local := false);",
                "set_config('transaction_read_only', ...)",
            ),
            (
                "UPDATE pg_settings SET setting = 'serializable' WHERE name = 'transaction_isolation';",
                "UPDATE pg_settings (transaction_isolation)",
            ),
        ];
        for (sql, what) in cases {
            for (marker, says) in [
                ("", "cannot work in a migration"),
                (
                    "-- confiture:no-transaction\n",
                    "does nothing in a no-transaction migration",
                ),
            ] {
                let file = format!("{marker}{sql}\nCREATE TABLE t (a int);\n");
                let line = if marker.is_empty() { 1 } else { 2 };
                let found = flagged(&file);
                assert_eq!(found.len(), 1, "{file}: {found:?}");
                let (at, message) = &found[0];
                assert_eq!(*at, line, "{file}");
                assert!(
                    message.starts_with(&format!("{what} {says}")),
                    "{file}: {message}"
                );
                let down = check_sql(Path::new("m.sql"), &file, Direction::Down);
                assert!(down.iter().any(|d| d.code == "C109"), "{file}: {down:?}");
            }
        }
    }

    /// A `DO` block runs its body in the migration's transaction (the block's own, in a
    /// no-transaction migration): each way of setting the transaction in it is flagged.
    #[test]
    fn setting_the_transaction_in_a_do_block_is_flagged() {
        let cases = [
            ("DO $$ BEGIN SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; END $$;", "SET TRANSACTION"),
            (
                "DO $body$\nDECLARE\n  n int;\nBEGIN\n  IF n IS NULL THEN\n    SET LOCAL transaction_read_only = on;\n  END IF;\nEND\n$body$;",
                "SET transaction_read_only",
            ),
            (
                "DO LANGUAGE plpgsql $$BEGIN PERFORM set_config('transaction_isolation', 'serializable', true); END$$;",
                "set_config('transaction_isolation', ...)",
            ),
            (
                "DO $$BEGIN EXECUTE 'SET TRANSACTION READ ONLY'; END$$;",
                "SET TRANSACTION",
            ),
            (
                "do 'begin execute $x$set transaction_deferrable = true$x$; end';",
                "SET transaction_deferrable",
            ),
        ];
        for (sql, what) in cases {
            for marker in ["", "-- confiture:no-transaction\n"] {
                let file = format!("{marker}{sql}\n");
                let found = flagged(&file);
                assert_eq!(found.len(), 1, "{file}: {found:?}");
                assert!(
                    found[0]
                        .1
                        .starts_with(&format!("{what} in a DO block cannot work in a migration")),
                    "{file}: {found:?}"
                );
            }
        }
        for sql in [
            "DO $$ BEGIN UPDATE t SET transaction_isolation = 'x'; END $$;",
            "DO $$ BEGIN RAISE NOTICE 'SET TRANSACTION READ ONLY'; END $$;",
            "DO $$ BEGIN EXECUTE format('SET TRANSACTION %s', 'READ ONLY'); END $$;",
            "DO LANGUAGE plperl $$ spi_exec_query('SET TRANSACTION READ ONLY') $$;",
        ] {
            assert_eq!(flagged(sql), [], "{sql}");
        }
    }

    /// hlt3: `SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY` passed lint; in a
    /// no-transaction migration every later statement that writes then failed at run
    /// time (SQLSTATE 25006). Every spelling that makes the session's transactions read-only is
    /// flagged: in a no-transaction migration as what breaks the rest, in a transactional one as
    /// what does nothing (the migration's transaction has begun, read-write), in a `DO` block
    /// alike; up and down. Back to read-write, or for this transaction only, is not flagged.
    #[test]
    fn making_the_session_read_only_is_flagged() {
        let cases = [
            (
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY;",
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            ),
            (
                "set session characteristics as transaction isolation level serializable, read only;",
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            ),
            (
                "SET default_transaction_read_only = on;",
                "SET default_transaction_read_only",
            ),
            (
                "SET SESSION default_transaction_read_only TO 'true';",
                "SET default_transaction_read_only",
            ),
            (
                "SET default_transaction_read_only = 1;",
                "SET default_transaction_read_only",
            ),
            (
                "SELECT set_config('default_transaction_read_only', 'on', false);",
                "set_config('default_transaction_read_only', ...)",
            ),
            (
                "SELECT pg_catalog.set_config(setting_name => 'default_transaction_read_only', new_value => 'yes', is_local => false);",
                "set_config('default_transaction_read_only', ...)",
            ),
            (
                "UPDATE pg_settings SET setting = 'on' WHERE name = 'default_transaction_read_only';",
                "UPDATE pg_settings (default_transaction_read_only)",
            ),
            (
                "DO $$ BEGIN SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; END $$;",
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            ),
            (
                "DO $$ BEGIN PERFORM set_config('default_transaction_read_only', 'on', false); END $$;",
                "set_config('default_transaction_read_only', ...)",
            ),
        ];
        for (sql, what) in cases {
            for (marker, says) in [
                ("", "does nothing in a migration"),
                (
                    "-- confiture:no-transaction\n",
                    "makes every later statement of this no-transaction migration fail",
                ),
            ] {
                let file = format!("{marker}{sql}\nCREATE TABLE t (a int);\n");
                let found = flagged(&file);
                assert_eq!(found.len(), 1, "{file}: {found:?}");
                assert!(
                    found[0].1.starts_with(&format!("{what} {says}")),
                    "{file}: {found:?}"
                );
                let down = check_sql(Path::new("m.sql"), &file, Direction::Down);
                assert!(down.iter().any(|d| d.code == "C109"), "{file}: {down:?}");
            }
        }
        // `BEGIN READ ONLY`, `START TRANSACTION READ ONLY`: transaction control, C100's.
        for sql in ["BEGIN READ ONLY;", "START TRANSACTION READ ONLY;"] {
            for marker in ["", "-- confiture:no-transaction\n"] {
                let file = format!("{marker}{sql}\nCREATE TABLE t (a int);\n");
                let all = check_sql(Path::new("m.sql"), &file, Direction::Up);
                assert!(all.iter().any(|d| d.code == "C100"), "{file}: {all:?}");
            }
        }
        for sql in [
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE;",
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED;",
            "SET default_transaction_read_only = off;",
            "SET default_transaction_read_only TO 'no';",
            "SET default_transaction_read_only = DEFAULT;",
            "SET LOCAL default_transaction_read_only = on;",
            "SELECT set_config('default_transaction_read_only', 'on', true);",
            "SELECT set_config('default_transaction_read_only', 'false', false);",
            "ALTER DATABASE d SET default_transaction_read_only = on;",
            "SHOW default_transaction_read_only;",
        ] {
            for marker in ["", "-- confiture:no-transaction\n"] {
                let file = format!("{marker}{sql}\n");
                assert_eq!(flagged(&file), [], "{file}");
            }
        }
    }

    /// The session's defaults, other sessions', a function's, reads, and lookalikes.
    /// The settings' names and values quoted any way a string constant may be
    /// (`test_support::quoted`): `set_config($$default_transaction_read_only$$, ...)` is the
    /// setting as much as `'...'` is.
    #[test]
    fn a_setting_or_value_quoted_any_way_is_read() {
        use crate::files::rules::test_support::quoted;
        for characteristic in super::CHARACTERISTICS {
            for name in quoted(characteristic) {
                let sql = format!("SELECT set_config({name}, 'on', true);");
                let expected = format!("set_config('{characteristic}', ...) cannot work");
                let found = flagged(&sql);
                assert!(
                    matches!(found.as_slice(), [(1, m)] if m.starts_with(&expected)),
                    "{sql}: {found:?}"
                );
            }
        }
        let read_only = super::DEFAULT_READ_ONLY;
        for name in quoted(read_only) {
            for sql in [
                format!("SELECT set_config({name}, 'on', false);"),
                format!("UPDATE pg_settings SET setting = 'on' WHERE name = {name};"),
            ] {
                assert_eq!(flagged(&sql).len(), 1, "{sql}");
            }
            let sql = format!("SELECT set_config({name}, 'off', false);");
            assert_eq!(flagged(&sql), [], "{sql}");
        }
        for off in quoted("off") {
            for sql in [
                format!("SELECT set_config('{read_only}', {off}, false);"),
                format!("SET {read_only} = {off};"),
                format!("UPDATE pg_settings SET setting = {off} WHERE name = '{read_only}';"),
            ] {
                assert_eq!(flagged(&sql), [], "{sql}");
            }
        }
    }

    #[test]
    fn what_does_not_set_this_transaction_is_not_flagged() {
        for sql in [
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE;",
            "SET default_transaction_isolation = 'serializable';",
            "SHOW transaction_isolation;",
            "SELECT current_setting('transaction_isolation');",
            "ALTER DATABASE d SET default_transaction_isolation = 'serializable';",
            "ALTER ROLE r SET transaction_isolation = 'serializable';",
            "CREATE FUNCTION f() RETURNS void LANGUAGE sql SET transaction_isolation = 'serializable' AS 'SELECT 1';",
            "CREATE FUNCTION g() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM set_config('transaction_isolation', 'serializable', true); END $$;",
            "SELECT 'SET TRANSACTION READ ONLY';",
            "COMMENT ON TABLE t IS 'set transaction_isolation = serializable';",
            "CREATE TABLE transaction (isolation int);",
        ] {
            assert_eq!(flagged(sql), [], "{sql}");
        }
    }

    /// Columns named like the characteristics: the `SET` of an `UPDATE`, of `ON CONFLICT DO
    /// UPDATE` and of `MERGE ... UPDATE` assigns them, not the transaction's.
    #[test]
    fn a_column_named_like_a_characteristic_is_not_flagged() {
        for name in super::CHARACTERISTICS {
            for sql in [
                format!("UPDATE t SET {name} = 'serializable';"),
                format!("UPDATE jobs SET done = true, {name} = 'x' WHERE id = 1;"),
                format!("WITH w AS (SELECT 1) UPDATE t SET \"{name}\" = DEFAULT;"),
                format!(
                    "INSERT INTO t (id, {name}) VALUES (1, 'x') \
                     ON CONFLICT (id) DO UPDATE SET {name} = EXCLUDED.{name};"
                ),
                format!(
                    "MERGE INTO t USING s ON t.id = s.id \
                     WHEN MATCHED THEN UPDATE SET {name} = s.{name} \
                     WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.{name});"
                ),
                format!("ALTER TABLE t ALTER COLUMN {name} SET DEFAULT 'x';"),
                format!("ALTER FUNCTION f() SET {name} = 'serializable';"),
            ] {
                assert_eq!(flagged(&sql), [], "{sql}");
            }
        }
    }
}
