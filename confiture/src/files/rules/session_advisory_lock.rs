//! C121 `session-advisory-lock`: `pg_advisory_lock()` (or `_shared`, or `pg_try_...`) takes a
//! session-level advisory lock, held past the migration's `COMMIT` or `ROLLBACK`; the
//! transaction-level `pg_advisory_xact_lock()` is what a migration means.

use super::lexer::Token;
use super::{in_code, syntax, Context, Diagnostic, RuleDoc, Severity, Statement};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C121",
    name: "session-advisory-lock",
    severity: Severity::Warning,
    help_names_allow: false,
    summary: "`pg_advisory_lock()`: a session-level advisory lock outlives the migration's transaction; use `pg_advisory_xact_lock()`",
    explanation: "\
`pg_advisory_lock(key)` (and `pg_advisory_lock_shared`, `pg_try_advisory_lock`,
`pg_try_advisory_lock_shared`) takes an advisory lock held by the session until it is unlocked
or the session ends: not released by the migration's `COMMIT`, nor by its `ROLLBACK` when it
fails. A migration usually means `pg_advisory_xact_lock(key)`, released with its transaction.
confiture releases the session-level advisory locks a migration kept (all but its own
migration lock) after the migration, when the file's text says `advisory`, so that the next
migration does not start holding them and a connection handed back by `Migrator::into_client`
keeps none; one taken by a function created elsewhere is not seen, and meanwhile any other
session waiting on the same key waits for the whole migration (a no-transaction migration's
later statements too).

Flagged, in up and down files: a call of one of those four functions anywhere in a statement,
also in a `DO` block's or a function's body, dollar-quoted or `'...'` (`E'...'`), and in a
string inside a body (a statement `EXECUTE` may run). Not flagged: the `_xact_` forms, the name
in a comment or in a `'...'` string that is a value.

**Fix:** `pg_advisory_xact_lock(key)` (or `pg_advisory_xact_lock_shared`,
`pg_try_advisory_xact_lock`); allow it with `-- confiture:allow(session-advisory-lock)`.",
};

/// What every flagged name contains (the `_xact_` forms do not: `advisory_xact_lock`).
const ADVISORY_LOCK: &str = "advisory_lock";

/// The session-level lock functions.
const SESSION_LOCKS: [&str; 4] = [
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
];

pub(super) fn check(cx: &Context<'_>, stmt: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    if !cx.mentioned_in(stmt.text, ADVISORY_LOCK) {
        return;
    }
    let Some(function) = session_lock(&stmt.tokens().collect::<Vec<_>>()) else {
        return;
    };
    out.push(cx.diagnostic(
        &DOC,
        stmt.range.clone(),
        format!(
            "{function}() takes a session-level advisory lock: it outlives the migration's \
             transaction (its COMMIT, and its ROLLBACK when it fails)"
        ),
        format!(
            "use {}() to hold it until the migration's transaction ends",
            function.replace("advisory_lock", "advisory_xact_lock")
        ),
    ));
}

/// The session-level lock function the tokens (one statement's) call, also in the code they
/// hold ([`in_code`]: a dollar-quoted or `'...'` body, a string in one).
fn session_lock(tokens: &[Token<'_>]) -> Option<&'static str> {
    in_code(tokens, &mut |tokens, _| {
        tokens
            .iter()
            .find_map(|t| SESSION_LOCKS.into_iter().find(|f| syntax::names(t, f)))
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, only, up};

    #[test]
    fn session_level_advisory_locks_are_warned_in_up_and_down_files() {
        let d = only("SELECT pg_advisory_lock(42);");
        assert_eq!(
            d.message,
            "pg_advisory_lock() takes a session-level advisory lock: it outlives the \
             migration's transaction (its COMMIT, and its ROLLBACK when it fails)"
        );
        assert_eq!(
            d.help.as_deref(),
            Some("use pg_advisory_xact_lock() to hold it until the migration's transaction ends")
        );
        for sql in [
            "SELECT pg_advisory_lock(42);",
            "SELECT PG_CATALOG.PG_TRY_ADVISORY_LOCK(1, 2);",
            "SELECT pg_advisory_lock_shared(7);",
            "SELECT \"pg_try_advisory_lock_shared\"(7);",
            "DO $$ BEGIN PERFORM pg_advisory_lock(42); END $$;",
            "DO 'BEGIN PERFORM pg_advisory_lock(42); END';",
            "DO E'BEGIN EXECUTE \\'SELECT pg_advisory_lock(42)\\'; END';",
            "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'SELECT pg_advisory_lock(42)';",
        ] {
            assert_eq!(up(sql), [("C121", 1)], "{sql}");
            assert_eq!(down(sql), [("C121", 1)], "{sql}");
        }
        for sql in [
            "SELECT pg_advisory_xact_lock(42);",
            "SELECT pg_try_advisory_xact_lock_shared(42);",
            "-- pg_advisory_lock(42)\nSELECT 1;",
            "SELECT 'pg_advisory_lock(42)';",
            "SELECT pg_advisory_unlock(42);",
        ] {
            assert!(up(sql).is_empty(), "{sql}");
        }
    }
}
