//! C124 `own-backend-signal`: `pg_terminate_backend(pg_backend_pid())` ends the migration's own
//! session, `pg_cancel_backend(pg_backend_pid())` cancels its own statement; and the one
//! reading of such a call ([`ends_own_session`], [`cancels_own_statement`]), which the engine
//! asks too when a session is lost or a statement cancelled (`db::apply::failure`).

use super::lexer::Token;
use super::{in_code, syntax, Context, Diagnostic, RuleDoc, Severity, Statement};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C124",
    name: "own-backend-signal",
    severity: Severity::Warning,
    help_names_allow: true,
    summary: "`pg_terminate_backend(pg_backend_pid())` or `pg_cancel_backend(pg_backend_pid())`: the migration ends its own session or cancels its own statement",
    explanation: "\
`pg_backend_pid()` is the process of the session that calls it: in a migration, confiture's own
session. `pg_terminate_backend(pg_backend_pid())` ends that session (FATAL 57P01, terminating
connection due to administrator command): the run stops with a lost connection (exit 3), a
transactional migration is rolled back, a no-transaction one stays half-applied (interrupted),
and every run stops at the same statement. `pg_cancel_backend(pg_backend_pid())` cancels the
statement that calls it (SQLSTATE 57014, canceling statement due to user request): the
migration fails (exit 4) every time. Usually a line copied from an administrator's script
(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE ...`) with the filter lost.

Flagged, in up and down files: a call of `pg_terminate_backend` or `pg_cancel_backend` (in any
case, either name `pg_catalog.`-qualified, a timeout argument or not) whose argument is
`pg_backend_pid()`; also inside a `DO` block's or a function's body, dollar-quoted or `'...'`
(`E'...'` with its backslash escapes), and inside a `'...'` string of such a body (a statement
`EXECUTE` may run): a body's call counts whether or not it runs. Not flagged: another process's
pid (`pg_terminate_backend(pid) ... WHERE pid <> pg_backend_pid()`), the call in a comment or a
string that is a value. `migrate up` names such a statement (its `file:line`) when the
session ends while it runs.

A warning, not an error: a function the migration only creates (for the application to call
later), or a `DO` block's branch that never runs, is no fault of the migration.

**Fix:** remove the call (to stop a migration on purpose, `RAISE EXCEPTION` in a `DO` block says
why); allow it with `-- confiture:allow(own-backend-signal)` where it is in a body the migration
does not run.",
};

/// What the migration's own backend is sent by a call [`signal`] finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// `pg_terminate_backend(pg_backend_pid())`: the session ends.
    Terminate,
    /// `pg_cancel_backend(pg_backend_pid())`: the running statement is cancelled.
    Cancel,
}

impl Signal {
    /// The function sending it.
    fn function(self) -> &'static str {
        match self {
            Signal::Terminate => "pg_terminate_backend",
            Signal::Cancel => "pg_cancel_backend",
        }
    }
}

/// The word every flagged call holds: a statement that does not spell it is not read.
const OWN_PID: &str = "pg_backend_pid";

pub(super) fn check(cx: &Context<'_>, stmt: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    if !cx.mentioned_in(stmt.text, OWN_PID) {
        return;
    }
    let tokens: Vec<Token<'_>> = stmt.tokens().collect();
    let Some((at, signal)) = signal(&tokens, |_| true) else {
        return;
    };
    let start = at.min(stmt.range.end);
    let function = signal.function();
    let message = match signal {
        Signal::Terminate => format!(
            "{function}(pg_backend_pid()) ends the migration's own session: the run stops \
             there with a lost connection, every time"
        ),
        Signal::Cancel => format!(
            "{function}(pg_backend_pid()) cancels the migration's own statement: it fails \
             (canceling statement due to user request), every time"
        ),
    };
    out.push(
        cx.diagnostic(
            &DOC,
            start..stmt.range.end.max(start),
            message,
            "remove it (to stop a migration on purpose, RAISE EXCEPTION says why); allow it with \
         `-- confiture:allow(own-backend-signal)` where it is in a body the migration does not \
         run"
            .to_string(),
        ),
    );
}

/// Whether `sql`, one statement of a migration, calls `pg_terminate_backend(pg_backend_pid())`
/// ([`signal`]): the statement ends its own session. What a lost connection (57P01, or the
/// socket closed without a word) while that statement ran is put down to, never another
/// session. Conservative: a body's call counts whether or not it runs.
#[cfg(feature = "db")]
pub(crate) fn ends_own_session(sql: &str) -> bool {
    if !(super::mentions(sql, Signal::Terminate.function()) && super::mentions(sql, OWN_PID)) {
        return false;
    }
    let tokens: Vec<Token<'_>> = super::lexer::tokens(sql)
        .filter(|t| !t.is_trivia())
        .collect();
    signal(&tokens, |s| s == Signal::Terminate).is_some()
}

/// Whether `sql`, one statement of a migration, calls `pg_cancel_backend(pg_backend_pid())`
/// ([`signal`]): the statement cancels itself. What a cancelled statement (57014) that no
/// `statement_timeout` explains is put down to, never another session. Conservative, as
/// [`ends_own_session`]: a body's call counts whether or not it runs.
#[cfg(feature = "db")]
pub(crate) fn cancels_own_statement(sql: &str) -> bool {
    if !(super::mentions(sql, Signal::Cancel.function()) && super::mentions(sql, OWN_PID)) {
        return false;
    }
    let tokens: Vec<Token<'_>> = super::lexer::tokens(sql)
        .filter(|t| !t.is_trivia())
        .collect();
    signal(&tokens, |s| s == Signal::Cancel).is_some()
}

/// The first call in `tokens` (one statement's, no trivia) or in the code they hold
/// ([`in_code`]: a `DO` block's or a function's body, a string in one) that signals its own
/// backend (unqualified or `pg_catalog`'s) and is `wanted`: where it starts (the offsets of `tokens`) and what it sends.
fn signal(tokens: &[Token<'_>], wanted: impl Fn(Signal) -> bool) -> Option<(usize, Signal)> {
    in_code(tokens, &mut |tokens, _| {
        (0..tokens.len()).find_map(|i| {
            // `my.pg_terminate_backend(...)` is another schema's function.
            if i > 0 && tokens[i - 1].text == "." {
                return None;
            }
            signal_at(&tokens[i..])
                .filter(|s| wanted(*s))
                .map(|s| (tokens[i].start, s))
        })
    })
}

/// What `tokens` start with: `[pg_catalog.]pg_terminate_backend | pg_cancel_backend
/// ([pg_catalog.]pg_backend_pid()` followed by `)` or `,` (a timeout).
fn signal_at(tokens: &[Token<'_>]) -> Option<Signal> {
    /// The index after `[pg_catalog.]name` at `at`, if it is there.
    fn named(tokens: &[Token<'_>], at: usize, name: &str) -> Option<usize> {
        let at = match (tokens.get(at), tokens.get(at + 1)) {
            (Some(schema), Some(dot)) if syntax::names(schema, "pg_catalog") && dot.text == "." => {
                at + 2
            }
            _ => at,
        };
        tokens
            .get(at)
            .filter(|t| syntax::names(t, name))
            .map(|_| at + 1)
    }
    let punct = |at: usize, p: &str| tokens.get(at).is_some_and(|t| t.text == p);
    let (open, signal) = [Signal::Terminate, Signal::Cancel]
        .into_iter()
        .find_map(|s| named(tokens, 0, s.function()).map(|open| (open, s)))?;
    if !punct(open, "(") {
        return None;
    }
    let call = named(tokens, open + 1, OWN_PID)?;
    (punct(call, "(") && punct(call + 1, ")") && (punct(call + 2, ")") || punct(call + 2, ",")))
        .then_some(signal)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, only, up};

    /// hse: a migration calling `pg_terminate_backend(pg_backend_pid())` passed lint, and every
    /// run of it ended with a lost connection at that statement; `pg_cancel_backend` the same
    /// with a cancelled statement.
    #[test]
    fn a_call_signalling_the_migrations_own_backend_is_warned() {
        let d = only("SELECT pg_terminate_backend(pg_backend_pid());");
        assert_eq!(d.code, "C124");
        assert!(
            d.message.contains("ends the migration's own session"),
            "{d:?}"
        );
        let d = only("SELECT 1;\nSELECT pg_cancel_backend(pg_backend_pid());");
        assert!(
            d.message.contains("cancels the migration's own statement"),
            "{d:?}"
        );
        assert_eq!(d.line, Some(2));
        for sql in [
            "SELECT pg_terminate_backend(pg_backend_pid());",
            "select PG_TERMINATE_BACKEND ( PG_BACKEND_PID ( ) );",
            "SELECT pg_catalog.pg_terminate_backend(pg_catalog.pg_backend_pid(), 1000);",
            "SELECT \"pg_catalog\".\"pg_terminate_backend\"(pg_backend_pid());",
            "SELECT pg_cancel_backend(pg_backend_pid());",
            "SELECT PG_CATALOG . pg_cancel_backend(pg_backend_pid());",
            "SELECT x FROM t WHERE pg_terminate_backend(/* me */ pg_backend_pid());",
            "DO $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); END $$;",
            "DO 'BEGIN PERFORM pg_cancel_backend(pg_backend_pid()); END';",
            "DO $$ BEGIN EXECUTE 'SELECT pg_terminate_backend(pg_backend_pid())'; END $$;",
            "CREATE FUNCTION f() RETURNS bool LANGUAGE sql AS \
             'SELECT pg_terminate_backend(pg_backend_pid())';",
        ] {
            assert_eq!(up(sql), [("C124", 1)], "{sql}");
            assert_eq!(down(sql), [("C124", 1)], "{sql}");
        }
        for sql in [
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid();",
            "SELECT pg_cancel_backend(pg_backend_pid() + 1);",
            "SELECT 'pg_terminate_backend(pg_backend_pid())';",
            "-- pg_terminate_backend(pg_backend_pid())\nSELECT 1;",
            "SELECT pg_backend_pid();",
            "SELECT my.pg_terminate_backend(pg_backend_pid());",
        ] {
            assert!(up(sql).is_empty(), "{sql}");
        }
        // Allowed by the file.
        assert!(up("-- confiture:allow(own-backend-signal)\n\
                    SELECT pg_terminate_backend(pg_backend_pid());")
        .is_empty());
    }

    #[cfg(feature = "db")]
    #[test]
    fn only_a_termination_ends_the_session() {
        for sql in [
            "SELECT pg_terminate_backend(pg_backend_pid());",
            "select PG_CATALOG.pg_terminate_backend(pg_catalog.pg_backend_pid(), 1000)",
            "DO $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); END $$",
            "DO $$ BEGIN EXECUTE 'SELECT pg_terminate_backend(pg_backend_pid())'; END $$",
            "SELECT pg_cancel_backend(pg_backend_pid()), pg_terminate_backend(pg_backend_pid())",
        ] {
            assert!(super::ends_own_session(sql), "{sql}");
        }
        for sql in [
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
            "SELECT pg_cancel_backend(pg_backend_pid())",
            "SELECT 'pg_terminate_backend(pg_backend_pid())'",
            "-- pg_terminate_backend(pg_backend_pid())\nSELECT 1",
        ] {
            assert!(!super::ends_own_session(sql), "{sql}");
        }
    }

    #[cfg(feature = "db")]
    #[test]
    fn only_a_cancel_of_its_own_pid_cancels_the_statement() {
        for sql in [
            "SELECT pg_cancel_backend(pg_backend_pid());",
            "select PG_CATALOG.pg_cancel_backend(pg_catalog.pg_backend_pid())",
            "DO $$ BEGIN PERFORM pg_cancel_backend(pg_backend_pid()); END $$",
            "DO $$ BEGIN EXECUTE 'SELECT pg_cancel_backend(pg_backend_pid())'; END $$",
        ] {
            assert!(super::cancels_own_statement(sql), "{sql}");
        }
        for sql in [
            // A computed pid is not read: the engine names both causes then.
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = pg_backend_pid()",
            "SELECT pg_terminate_backend(pg_backend_pid())",
            "SELECT 'pg_cancel_backend(pg_backend_pid())'",
            "SELECT my.pg_cancel_backend(pg_backend_pid())",
        ] {
            assert!(!super::cancels_own_statement(sql), "{sql}");
        }
    }
}
