//! C107 `releases-migration-lock`: `DISCARD ALL` and `pg_advisory_unlock_all()` end every
//! advisory lock of the session, the migration lock among them.

use super::lexer::{self, Token, TokenKind};
use super::{dollar_body, mentions, syntax, Context, Diagnostic, RuleDoc, Severity, Statement};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C107",
    name: "releases-migration-lock",
    severity: Severity::Error,
    summary: "`DISCARD ALL` or `pg_advisory_unlock_all()`: the migration lock is released mid-run",
    explanation: "\
A run holds a session advisory lock from before it reads the ledger until after its last
migration, so that two runs (ours or the Python tool's, from two deploys or two replicas) never
apply migrations at the same time. `DISCARD ALL` and `pg_advisory_unlock_all()` release every
advisory lock of the session, that one too: the rest of the run goes on unprotected, and another
run may start and apply the same migrations meanwhile. At run time the engine checks the lock in
each migration's transaction before it commits and stops the run there (exit 4, the
migration rolled back); lint refuses the file before anything runs.

Flagged, in up and down files: a `DISCARD ALL` statement, and a call to
`pg_advisory_unlock_all` anywhere in a statement, also in a dollar-quoted body (`DO $$ ... $$`,
`CREATE FUNCTION ... AS $$ ... $$`). Not flagged: the name in a comment or a `'...'` string, and
the other `DISCARD` forms. A call hidden in a function body quoted with `'...'`, or in a function
created by an earlier migration, is found at run time only: that migration fails, rolled back.

**Fix:** `DISCARD PLANS`, `DISCARD TEMP` or `DISCARD SEQUENCES` for what the migration needs;
`pg_advisory_unlock(key)` for an advisory lock the migration took itself.",
};

/// The word that names the function, wherever SQL can call it.
const UNLOCK_ALL: &str = "pg_advisory_unlock_all";

pub(super) fn check(cx: &Context<'_>, stmt: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    let (what, help) = if stmt.starts_with(&["DISCARD", "ALL"]) {
        (
            "DISCARD ALL",
            "use DISCARD PLANS, DISCARD TEMP or DISCARD SEQUENCES for what the migration needs",
        )
    } else if cx.mentions(UNLOCK_ALL)
        && mentions(stmt.text, UNLOCK_ALL)
        && stmt.tokens().any(|t| calls_unlock_all(&t))
    {
        (
            "pg_advisory_unlock_all()",
            "release an advisory lock the migration took itself with pg_advisory_unlock(key)",
        )
    } else {
        return;
    };
    out.push(cx.diagnostic(
        &DOC,
        stmt.range.clone(),
        format!(
            "{what} releases the migration lock: the rest of the run is unprotected, and another \
             run may apply the same migrations meanwhile"
        ),
        help.to_string(),
    ));
}

/// The token names the function: a word, the same quoted (lower case, as PostgreSQL folds
/// it), or a dollar-quoted body that does, read as SQL in turn.
fn calls_unlock_all(token: &Token<'_>) -> bool {
    match token.kind {
        TokenKind::DollarString => dollar_body(token.text).is_some_and(|body| {
            mentions(body, UNLOCK_ALL) && lexer::tokens(body).any(|t| calls_unlock_all(&t))
        }),
        _ => syntax::names(token, UNLOCK_ALL),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, only, up};

    #[test]
    fn discard_all_and_unlock_all_are_errors_in_up_and_down_files() {
        // Not also `requires-no-transaction`: its fix would not help.
        let d = only("DISCARD ALL;");
        assert_eq!(
            d.message,
            "DISCARD ALL releases the migration lock: the rest of the run is unprotected, and \
             another run may apply the same migrations meanwhile"
        );
        for sql in [
            "discard all;",
            "SELECT pg_advisory_unlock_all();",
            "SELECT 1;\nSELECT PG_CATALOG.PG_ADVISORY_UNLOCK_ALL();",
            "SELECT \"pg_advisory_unlock_all\"();",
            "DO $$ BEGIN PERFORM pg_advisory_unlock_all(); END $$;",
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $body$\nBEGIN\n  \
             EXECUTE 'x';\n  PERFORM pg_advisory_unlock_all();\nEND\n$body$;",
            "DO $a$ BEGIN EXECUTE $b$ SELECT pg_advisory_unlock_all() $b$; END $a$;",
        ] {
            let line = sql.lines().count() as u32;
            let line = if sql.starts_with("SELECT 1;") {
                line
            } else {
                1
            };
            assert_eq!(up(sql), [("C107", line)], "{sql}");
            assert_eq!(down(sql), [("C107", line)], "{sql}");
        }
    }

    #[test]
    fn other_discards_names_in_strings_and_comments_and_other_unlocks_are_fine() {
        for sql in [
            "DISCARD PLANS;",
            "DISCARD TEMP;",
            "DISCARD SEQUENCES;",
            "SELECT pg_advisory_unlock(1, 2);",
            "SELECT pg_advisory_unlock_shared(1);",
            "-- never pg_advisory_unlock_all()\nSELECT 1;",
            "COMMENT ON TABLE t IS 'do not call pg_advisory_unlock_all()';",
            "DO $$ BEGIN RAISE NOTICE 'pg_advisory_unlock_all'; END $$;",
            "SELECT pg_advisory_unlock_all_x();",
            "SELECT \"PG_ADVISORY_UNLOCK_ALL\"();",
        ] {
            assert_eq!(up(sql), [], "{sql}");
        }
    }
}
