//! C108 `writes-tracking-table`: a migration that writes the tracking table (the ledger)
//! itself, which the tool writes for every migration.

use super::lexer::{Token, TokenKind};
use super::{in_code, syntax, Context, Diagnostic, RuleDoc, Severity, Statement};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C108",
    name: "writes-tracking-table",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "a migration writes the tracking table (`INSERT`, `UPDATE`, `DELETE`, `TRUNCATE`, `DROP`, `ALTER`), or attaches a trigger or rule to it; or makes or writes its start markers' table",
    explanation: "\
The tracking table (`tb_confiture`, or the environment's `tracking_table`) is the history the
tool keeps: `up` inserts a migration's row in the migration's own transaction, `down` deletes
it, and every later run plans from it. A migration that writes it itself — a habit of tools
that leave bookkeeping to the migration, or a clean-up of old rows — breaks that history: a
`TRUNCATE` or `DELETE` makes every earlier migration pending again (the next `up` runs them
twice), an `INSERT` of its own row fails the migration, and a `DROP` or `ALTER` changes a table
that confiture (Python) shares. A trigger or rule on it runs on every row the tool writes
there: it may rewrite the row (a name or checksum no file has, and the migration reads as
replaced), suppress it or send it elsewhere.

Flagged, in up and down files: `INSERT INTO`, `UPDATE`, `DELETE FROM`, `MERGE INTO`,
`TRUNCATE`, `DROP TABLE` and `ALTER TABLE` naming the table (with any schema, `ONLY`, or in a
list), `CREATE [OR REPLACE] [CONSTRAINT] TRIGGER ... ON` and `CREATE [OR REPLACE] RULE ... TO`
it, also in a `DO` block's or a function's body, dollar-quoted or `'...'` (`E'...'`), and
in a string inside a body (a statement `EXECUTE` may run). The same for the start markers'
table beside it (`tb_confiture_started`: the tracking table's name and `_started`), which the
tool makes when a database's first no-transaction migration runs and writes around each, and
there also what makes a relation of its name (`CREATE TABLE`, `CREATE VIEW`, `RENAME TO`,
`SELECT ... INTO`): a table of that name made by a migration is not the markers', and the next
no-transaction migration fails on it. Not flagged: reading it (`SELECT
... FROM tb_confiture`), the name in a comment or in a `'...'` string that is a value. `migrate`
commands check the environment's name; `lint` the one of the environment it is given (`--env
NAME`, `-c FILE`), else `tb_confiture`; `confiture-build`, which reads no environment file, the
one given to `Check::tracking_table`, else `tb_confiture`.

**Fix:** remove the write, trigger or rule: the tool records each migration itself. To change the history on
purpose, use `migrate baseline` (record migrations as applied) or `migrate reinit` (rebuild the
ledger from the files).",
};

pub(super) fn check(cx: &Context<'_>, stmt: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    let ledger = cx.tracking_table;
    // Spelled within the markers' name too: one search for both.
    if !cx.mentioned_in(stmt.text, ledger) {
        return;
    }
    // The start markers' table beside it (`TrackingTable::started_table`), which the tool
    // makes at a database's first no-transaction migration and writes around each.
    let markers = format!("{ledger}{}", crate::ledger::STARTED_SUFFIX);
    let tokens: Vec<Token<'_>> = stmt.tokens().collect();
    let (write, written, of_markers) = match write_to(&tokens, ledger, false) {
        Some((write, written)) => (write, written, false),
        None => match write_to(&tokens, &markers, true) {
            Some((write, written)) => (write, written, true),
            None => return,
        },
    };
    let does = match (write, of_markers) {
        (CREATE_TRIGGER | CREATE_RULE, false) => {
            "attaches code to the tracking table, which runs on the rows the tool writes for \
             each migration"
        }
        (_, false) => "writes the tracking table, whose rows the tool writes for each migration",
        (CREATE_TRIGGER | CREATE_RULE, true) => {
            "attaches code to the start markers' table beside the tracking table, which runs \
             on the markers the tool writes for each no-transaction migration"
        }
        (_, true) => {
            "makes or writes the start markers' table beside the tracking table, which the \
             tool makes and writes for each no-transaction migration"
        }
    };
    out.push(
        cx.diagnostic(
            &DOC,
            stmt.range.clone(),
            format!("{write} {written}: the migration {does}"),
            "remove it: `up` and `down` record each migration themselves; to change the history \
         on purpose, use `migrate baseline` or `migrate reinit`"
                .to_string(),
        ),
    );
}

/// The write (`DELETE FROM`, ...) the tokens make to `table`, the first found, with the table's
/// name as the statement wrote it (its schema too: `ops.tb_mig`, `"Ops".tb_mig`): in the
/// statement itself or in the code it holds ([`in_code`]: a `DO` block's or a function's body,
/// dollar-quoted or `'...'`, a string in one), read as SQL in turn.
/// `creates`: a statement that makes a relation of that name (`CREATE TABLE`, `CREATE VIEW`,
/// `RENAME TO`, `SELECT ... INTO`) counts too — for the markers' table, which the tool makes
/// only when a no-transaction migration first runs (the ledger is there before any runs).
fn write_to(tokens: &[Token<'_>], table: &str, creates: bool) -> Option<(&'static str, String)> {
    in_code(tokens, &mut |tokens, _| {
        tokens.iter().enumerate().find_map(|(i, t)| {
            let write = syntax::names(t, table).then(|| {
                write_before(&tokens[..i])
                    .or_else(|| creates.then(|| create_before(&tokens[..i])).flatten())
            })??;
            Some((write, as_written(&tokens[..=i])))
        })
    })
}

/// The statement that makes a relation of the name just after `before`: `CREATE [UNLOGGED]
/// TABLE [IF NOT EXISTS]`, `CREATE [OR REPLACE] [MATERIALIZED] VIEW`, `ALTER ... RENAME TO`,
/// `SELECT ... INTO [TABLE]`.
fn create_before(before: &[Token<'_>]) -> Option<&'static str> {
    let words: Vec<&str> = skip_qualifier(before)
        .iter()
        .rev()
        .take_while(|t| t.kind == TokenKind::Word)
        .map(|t| t.text)
        .filter(|w| {
            ![
                "IF",
                "NOT",
                "EXISTS",
                "UNLOGGED",
                "OR",
                "REPLACE",
                "MATERIALIZED",
            ]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k))
        })
        .take(2)
        .collect();
    let is = |i: usize, w: &str| words.get(i).is_some_and(|x| x.eq_ignore_ascii_case(w));
    if is(0, "TABLE") && is(1, "CREATE") {
        Some("CREATE TABLE")
    } else if is(0, "VIEW") && is(1, "CREATE") {
        Some("CREATE VIEW")
    } else if is(0, "TO") && is(1, "RENAME") {
        Some("RENAME TO")
    } else if is(0, "INTO") || (is(0, "TABLE") && is(1, "INTO")) {
        // `INSERT INTO` and `MERGE INTO` are writes, found before.
        Some("SELECT ... INTO")
    } else {
        None
    }
}

/// The name that ends `tokens`, as written: with the schema before it, the one
/// [`skip_qualifier`] steps over.
fn as_written(tokens: &[Token<'_>]) -> String {
    let [before @ .., name] = tokens else {
        return String::new();
    };
    match before.len() - skip_qualifier(before).len() {
        0 => name.text.to_string(),
        _ => before[before.len() - 2..]
            .iter()
            .chain(std::iter::once(name))
            .map(|t| t.text)
            .collect(),
    }
}

/// How a trigger attached to the table is named in the diagnostic.
const CREATE_TRIGGER: &str = "CREATE TRIGGER ... ON";
/// How a rule attached to the table is named in the diagnostic.
const CREATE_RULE: &str = "CREATE RULE ... TO";

/// The write whose target list ends just before `before` ends (the tokens before the name):
/// back over the name's schema, the list's earlier names (`TRUNCATE a, b`), `ONLY` and
/// `IF EXISTS`, to the command's words; or the trigger or rule attached to the table
/// ([`attached_before`]), which runs on every row written there.
fn write_before(before: &[Token<'_>]) -> Option<&'static str> {
    if let Some(attached) = attached_before(skip_qualifier(before)) {
        return Some(attached);
    }
    let mut rest = skip_qualifier(before);
    while let [earlier @ .., comma] = rest {
        if comma.kind != TokenKind::Comma {
            break;
        }
        // `a, b`: the earlier name (and its schema), then what comes before it.
        let [named @ .., _] = earlier else {
            return None;
        };
        rest = skip_qualifier(named);
    }
    let words: Vec<&str> = rest
        .iter()
        .rev()
        .take_while(|t| t.kind == TokenKind::Word)
        .map(|t| t.text)
        .filter(|w| {
            !["ONLY", "IF", "EXISTS"]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k))
        })
        .take(2)
        .collect();
    let is = |i: usize, w: &str| words.get(i).is_some_and(|x| x.eq_ignore_ascii_case(w));
    if is(0, "INTO") && is(1, "INSERT") {
        Some("INSERT INTO")
    } else if is(0, "INTO") && is(1, "MERGE") {
        Some("MERGE INTO")
    } else if is(0, "UPDATE") {
        Some("UPDATE")
    } else if is(0, "FROM") && is(1, "DELETE") {
        Some("DELETE FROM")
    } else if is(0, "TRUNCATE") || (is(0, "TABLE") && is(1, "TRUNCATE")) {
        Some("TRUNCATE")
    } else if is(0, "TABLE") && is(1, "DROP") {
        Some("DROP TABLE")
    } else if is(0, "TABLE") && is(1, "ALTER") {
        Some("ALTER TABLE")
    } else {
        None
    }
}

/// `CREATE [OR REPLACE] [CONSTRAINT] TRIGGER name {BEFORE | AFTER | INSTEAD OF} event [OR
/// ...] ON` or `CREATE [OR REPLACE] RULE name AS ON event TO`: the tokens (the name's schema
/// left out) end in a trigger or a rule for the table named next.
fn attached_before(before: &[Token<'_>]) -> Option<&'static str> {
    let is = |t: &Token<'_>, w: &str| t.kind == TokenKind::Word && t.text.eq_ignore_ascii_case(w);
    let is_name = |t: &Token<'_>| matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent);
    // `CREATE`, `CREATE OR REPLACE`, with `CONSTRAINT` after it for a trigger.
    let created = |head: &[Token<'_>], constraint: bool| {
        let head = match head {
            [rest @ .., c] if constraint && is(c, "CONSTRAINT") => rest,
            _ => head,
        };
        match head {
            [.., c, o, r] if is(c, "CREATE") && is(o, "OR") && is(r, "REPLACE") => true,
            [.., c] => is(c, "CREATE"),
            [] => false,
        }
    };
    match before {
        [head @ .., rule, name, as_, on, event, to]
            if is(to, "TO")
                && ["INSERT", "UPDATE", "DELETE", "SELECT"]
                    .iter()
                    .any(|e| is(event, e))
                && is(on, "ON")
                && is(as_, "AS")
                && is_name(name)
                && is(rule, "RULE")
                && created(head, false) =>
        {
            Some(CREATE_RULE)
        }
        [.., on] if is(on, "ON") => {
            // Back to `TRIGGER` over the name, the timing and the events (`UPDATE OF a, b`):
            // words, quoted names and commas only.
            let at = before.iter().rposition(|t| {
                !matches!(
                    t.kind,
                    TokenKind::Word | TokenKind::QuotedIdent | TokenKind::Comma
                ) || is(t, "TRIGGER")
            })?;
            (is(&before[at], "TRIGGER") && created(&before[..at], true)).then_some(CREATE_TRIGGER)
        }
        _ => None,
    }
}

/// `tokens` without a trailing `schema .` (the qualifier of the name that follows them).
fn skip_qualifier<'t, 'a>(tokens: &'t [Token<'a>]) -> &'t [Token<'a>] {
    match tokens {
        [rest @ .., schema, dot]
            if dot.kind == TokenKind::Dot
                && matches!(schema.kind, TokenKind::Word | TokenKind::QuotedIdent) =>
        {
            rest
        }
        _ => tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, only, up};

    #[test]
    fn every_write_is_an_error_in_up_and_down_files() {
        let d = only("DELETE FROM tb_confiture WHERE version = '003';");
        assert_eq!(
            d.message,
            "DELETE FROM tb_confiture: the migration writes the tracking table, whose rows the \
             tool writes for each migration"
        );
        for sql in [
            "INSERT INTO tb_confiture (version, name) VALUES ('004', 'x');",
            "insert into public.tb_confiture values (1);",
            "UPDATE tb_confiture SET checksum = NULL;",
            "UPDATE ONLY \"public\".\"tb_confiture\" SET name = 'x';",
            "DELETE FROM ONLY tb_confiture;",
            "TRUNCATE tb_confiture;",
            "TRUNCATE TABLE ONLY tb_other, public.tb_confiture CASCADE;",
            "DROP TABLE IF EXISTS tb_confiture;",
            "DROP TABLE a, b, TB_CONFITURE;",
            "ALTER TABLE IF EXISTS ONLY tb_confiture ADD COLUMN note text;",
            "MERGE INTO tb_confiture t USING s ON true WHEN MATCHED THEN DELETE;",
            "WITH gone AS (DELETE FROM tb_confiture RETURNING 1) SELECT count(*) FROM gone;",
            "DO $$ BEGIN DELETE FROM tb_confiture WHERE version > '010'; END $$;",
            "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $f$ TRUNCATE tb_confiture $f$;",
            // A body quoted with '...' or E'...', a string EXECUTEd in a body.
            "DO 'BEGIN DELETE FROM tb_confiture WHERE version > ''010''; END';",
            "DO E'BEGIN DELETE FROM tb_confiture WHERE version > \\'010\\'; END';",
            "CREATE OR REPLACE FUNCTION f() RETURNS void LANGUAGE sql AS 'TRUNCATE tb_confiture';",
            "DO $$ BEGIN EXECUTE 'TRUNCATE tb_confiture'; END $$;",
            "DO 'BEGIN EXECUTE ''TRUNCATE tb_confiture''; END';",
        ] {
            // Once each (a `DROP TABLE` in an up file is also `drop-table`).
            let ours = |all: Vec<(&'static str, u32)>| {
                all.into_iter()
                    .filter(|(code, _)| *code == "C108")
                    .collect::<Vec<_>>()
            };
            assert_eq!(ours(up(sql)), [("C108", 1)], "{sql}");
            assert_eq!(down(sql), [("C108", 1)], "{sql}");
        }
    }

    /// A trigger or rule attached to the tracking table runs on every row the tool writes
    /// there: it may rewrite the row (a name or checksum that no file has: the migration then
    /// reads as replaced), suppress it or send it elsewhere. The lint let it through.
    #[test]
    fn a_trigger_or_rule_on_the_table_is_an_error_in_up_and_down_files() {
        let d = only(
            "CREATE TRIGGER t BEFORE INSERT ON tb_confiture FOR EACH ROW EXECUTE FUNCTION f();",
        );
        assert_eq!(
            d.message,
            "CREATE TRIGGER ... ON tb_confiture: the migration attaches code to the tracking \
             table, which runs on the rows the tool writes for each migration"
        );
        for sql in [
            "CREATE TRIGGER t BEFORE INSERT ON tb_confiture FOR EACH ROW EXECUTE FUNCTION f();",
            "create or replace constraint trigger t after update of name, slug or delete on \
             public.tb_confiture deferrable for each row execute procedure f();",
            "CREATE TRIGGER \"t\" AFTER TRUNCATE ON \"public\".\"tb_confiture\" EXECUTE FUNCTION f();",
            "CREATE RULE r AS ON INSERT TO tb_confiture DO INSTEAD NOTHING;",
            "CREATE OR REPLACE RULE \"r\" AS ON DELETE TO public.tb_confiture DO INSTEAD NOTHING;",
            "DO $$ BEGIN EXECUTE 'CREATE TRIGGER t BEFORE INSERT ON tb_confiture \
             FOR EACH ROW EXECUTE FUNCTION f()'; END $$;",
            "DO $$ BEGIN IF true THEN CREATE RULE r AS ON UPDATE TO tb_confiture DO INSTEAD \
             NOTHING; END IF; END $$;",
        ] {
            assert_eq!(up(sql), [("C108", 1)], "{sql}");
            assert_eq!(down(sql), [("C108", 1)], "{sql}");
        }
        for sql in [
            "CREATE TRIGGER t AFTER INSERT ON tb_other FOR EACH ROW EXECUTE FUNCTION f();",
            "CREATE RULE r AS ON INSERT TO tb_other DO ALSO SELECT count(*) FROM tb_confiture;",
            "CREATE TRIGGER t AFTER INSERT ON tb_other FOR EACH ROW WHEN (true) \
             EXECUTE FUNCTION f('tb_confiture');",
            "COMMENT ON TABLE tb_confiture IS 'the ledger';",
            "GRANT SELECT ON tb_confiture TO reader;",
            "CREATE POLICY p ON tb_confiture USING (true);",
        ] {
            assert_eq!(up(sql), [], "{sql}");
        }
    }

    /// The start markers' table beside the ledger (`<ledger>_started`), which the tool makes at
    /// the first no-transaction migration: a migration that made a table of that name (without
    /// the markers' columns) made the next no-transaction migration fail with a help about the
    /// ledger; one that writes it loses or forges the record of an interrupted run.
    #[test]
    fn making_or_writing_the_start_markers_table_is_an_error_in_up_and_down_files() {
        let d = only("CREATE TABLE tb_confiture_started (version text, note text);");
        assert_eq!(
            d.message,
            "CREATE TABLE tb_confiture_started: the migration makes or writes the start \
             markers' table beside the tracking table, which the tool makes and writes for \
             each no-transaction migration"
        );
        for sql in [
            "CREATE TABLE tb_confiture_started (version text, note text);",
            "create unlogged table if not exists public.TB_CONFITURE_STARTED (v text);",
            "CREATE TABLE \"tb_confiture_started\" AS SELECT 1 AS version;",
            "CREATE OR REPLACE VIEW tb_confiture_started AS SELECT 1;",
            "ALTER TABLE tb_old RENAME TO tb_confiture_started;",
            "SELECT 1 AS version INTO tb_confiture_started;",
            "DELETE FROM tb_confiture_started;",
            "INSERT INTO ops.tb_confiture_started (version) VALUES ('002');",
            "TRUNCATE tb_confiture_started;",
            "DROP TABLE tb_confiture_started;",
            "DO $$ BEGIN EXECUTE 'DELETE FROM tb_confiture_started'; END $$;",
            "CREATE TRIGGER t BEFORE INSERT ON tb_confiture_started FOR EACH ROW \
             EXECUTE FUNCTION f();",
        ] {
            let ours = |all: Vec<(&'static str, u32)>| {
                all.into_iter()
                    .filter(|(code, _)| *code == "C108")
                    .collect::<Vec<_>>()
            };
            assert_eq!(ours(up(sql)), [("C108", 1)], "{sql}");
            assert_eq!(ours(down(sql)), [("C108", 1)], "{sql}");
        }
        for sql in [
            "SELECT * FROM tb_confiture_started;",
            "CREATE TABLE tb_confiture_started_copy (v text);",
            "CREATE TABLE tb_confiture_archive (v text);",
        ] {
            assert_eq!(up(sql), [], "{sql}");
        }
    }

    /// hvd: with `tracking_table: ops.tb_mig`, `DELETE FROM ops.tb_mig` was reported as
    /// `DELETE FROM tb_mig`: the diagnostic dropped the schema the statement wrote. It quotes
    /// the name as written, qualified or not, quoted or not, in a body too.
    #[test]
    fn the_diagnostic_quotes_the_name_as_the_statement_wrote_it() {
        for (sql, quoted) in [
            (
                "DELETE FROM ops.tb_confiture WHERE version = '003';",
                "DELETE FROM ops.tb_confiture:",
            ),
            (
                "TRUNCATE a, \"Ops\".\"tb_confiture\";",
                "TRUNCATE \"Ops\".\"tb_confiture\":",
            ),
            (
                "UPDATE ONLY TB_Confiture SET name = 'x';",
                "UPDATE TB_Confiture:",
            ),
            (
                "DO $$ BEGIN EXECUTE 'DELETE FROM public.tb_confiture'; END $$;",
                "DELETE FROM public.tb_confiture:",
            ),
            (
                "CREATE TRIGGER t AFTER TRUNCATE ON \"public\".tb_confiture EXECUTE FUNCTION f();",
                "CREATE TRIGGER ... ON \"public\".tb_confiture:",
            ),
        ] {
            let d = only(sql);
            assert!(d.message.starts_with(quoted), "{sql}: {}", d.message);
        }
    }

    #[test]
    fn reading_it_naming_it_in_text_and_other_tables_are_fine() {
        for sql in [
            "SELECT count(*) FROM tb_confiture;",
            "DO $$ BEGIN IF EXISTS (SELECT FROM tb_confiture WHERE version = '001') THEN \
             RAISE NOTICE 'ok'; END IF; END $$;",
            "INSERT INTO tb_audit SELECT version FROM tb_confiture;",
            "UPDATE tb_user SET note = 'see tb_confiture';",
            "INSERT INTO tb_note VALUES ('DELETE FROM tb_confiture');",
            "DO LANGUAGE plpgsql 'BEGIN PERFORM count(*) FROM tb_confiture; END';",
            "-- DELETE FROM tb_confiture;\nSELECT 1;",
            "DELETE FROM tb_confiture_archive;",
            "TRUNCATE tb_other;",
            "CREATE TABLE tb_log (v text REFERENCES tb_confiture (version));",
            "SELECT * FROM tb_confiture FOR UPDATE;",
        ] {
            assert_eq!(up(sql), [], "{sql}");
        }
    }
}
