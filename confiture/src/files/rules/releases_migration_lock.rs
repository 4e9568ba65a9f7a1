//! C107 `releases-migration-lock`: `DISCARD ALL` and `pg_advisory_unlock_all()` end every
//! advisory lock of the session, the migration lock among them, and `pg_advisory_unlock` of
//! confiture's key class ([`LOCK_NAMESPACE`]) ends that one.

use super::lexer::{Token, TokenKind};
use super::{in_code, mentions, syntax, Context, Diagnostic, RuleDoc, Severity, Statement};
use crate::lock_key::LOCK_NAMESPACE;

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C107",
    name: "releases-migration-lock",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "`DISCARD ALL`, `pg_advisory_unlock_all()` or an unlock of confiture's key class: the migration lock is released mid-run",
    explanation: "\
A run holds a session advisory lock from before it reads the ledger until after its last
migration, so that two runs (ours or the Python tool's, from two deploys or two replicas) never
apply migrations at the same time. `DISCARD ALL` and `pg_advisory_unlock_all()` release every
advisory lock of the session, that one too: the rest of the run goes on unprotected, and another
run may start and apply the same migrations meanwhile. At run time the engine checks the lock in
each migration's transaction before it commits and stops the run there (exit 4, the
migration rolled back); lint refuses the file before anything runs.
`pg_advisory_unlock(1751936052, key)` (or `pg_advisory_unlock_shared`) releases it too:
1751936052 is the first key of every lock confiture and the Python tool take, the migration
lock's class.

Flagged, in up and down files: a `DISCARD ALL` statement, and a call to
`pg_advisory_unlock_all` anywhere in a statement, also in a `DO` block's or a function's body,
dollar-quoted or `'...'` (`E'...'`), and in a string inside a body (a statement `EXECUTE` may
run), and the same for `pg_advisory_unlock` and `pg_advisory_unlock_shared` whose first of two
arguments is 1751936052. Not flagged: the name in a comment or in a `'...'` string that is a
value, the other `DISCARD` forms, and unlocks of other keys (other first keys, the one-key
`bigint` form). A call built at run time (`EXECUTE 'SELECT ' || f || '()'`), or in a function
created by an earlier migration, is found at run time only: that migration fails,
rolled back (an unlock of the key class that gives back one of the run's two holds is found
only when the run releases the lock: a warning).

**Fix:** `DISCARD PLANS`, `DISCARD TEMP` or `DISCARD SEQUENCES` for what the migration needs;
`pg_advisory_unlock(key)` for an advisory lock the migration took itself, with a first key of
its own.",
};

/// The word that names the function, wherever SQL can call it.
const UNLOCK_ALL: &str = "pg_advisory_unlock_all";

/// What the two-key unlocks' names start with (`_all` too: a cheap first look).
const UNLOCK: &str = "pg_advisory_unlock";

/// The functions that release one advisory lock: with two `int` keys, the first one is the
/// key class.
const UNLOCK_ONE: [&str; 2] = ["pg_advisory_unlock", "pg_advisory_unlock_shared"];

pub(super) fn check(cx: &Context<'_>, stmt: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    let (what, help) = if stmt.starts_with(&["DISCARD", "ALL"]) {
        (
            "DISCARD ALL".to_string(),
            "use DISCARD PLANS, DISCARD TEMP or DISCARD SEQUENCES for what the migration needs"
                .to_string(),
        )
    } else if !cx.mentioned_in(stmt.text, UNLOCK) {
        return;
    } else if mentions(stmt.text, UNLOCK_ALL)
        && calls_unlock_all(&stmt.tokens().collect::<Vec<_>>())
    {
        (
            "pg_advisory_unlock_all()".to_string(),
            "release an advisory lock the migration took itself with pg_advisory_unlock(key)"
                .to_string(),
        )
    } else if let Some(function) = unlocks_key_class(&stmt.tokens().collect::<Vec<_>>()) {
        (
            format!("{function}({LOCK_NAMESPACE}, ...)"),
            format!(
                "advisory locks whose first key is {LOCK_NAMESPACE} are confiture's migration \
                 lock, held by the run: leave them to confiture, and give the migration's own \
                 advisory locks another first key"
            ),
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
        help,
    ));
}

/// Whether the tokens (one statement's) call `pg_advisory_unlock_all`, also in the code they
/// hold ([`in_code`]: a dollar-quoted or `'...'` body, a string in one).
fn calls_unlock_all(tokens: &[Token<'_>]) -> bool {
    in_code(tokens, &mut |tokens, _| {
        tokens
            .windows(2)
            .any(|w| syntax::names(&w[0], UNLOCK_ALL) && w[1].kind == TokenKind::OpenParen)
            .then_some(())
    })
    .is_some()
}

/// `pg_advisory_unlock(LOCK_NAMESPACE, key)` or `pg_advisory_unlock_shared(...)` called in
/// `tokens` (one statement's, no trivia), also in the code they hold ([`in_code`]): the
/// function's name. The key class is the first argument, the constant itself (in parentheses,
/// cast, or as a `'...'` literal, which PostgreSQL reads as the same `int`); the one-key
/// `bigint` form is another lock space, never the migration lock.
fn unlocks_key_class(tokens: &[Token<'_>]) -> Option<&'static str> {
    in_code(tokens, &mut |tokens, _| {
        tokens.iter().enumerate().find_map(|(i, t)| {
            let function = UNLOCK_ONE.into_iter().find(|f| syntax::names(t, f))?;
            first_of_two_arguments_is_key_class(&tokens[i + 1..]).then_some(function)
        })
    })
}

/// `(LOCK_NAMESPACE, ...)`: the call's first argument, followed by a second one, is confiture's
/// key class.
fn first_of_two_arguments_is_key_class(call: &[Token<'_>]) -> bool {
    let Some((open, rest)) = call.split_first() else {
        return false;
    };
    if open.kind != TokenKind::OpenParen {
        return false;
    }
    let mut depth = 1u32;
    for (i, t) in rest.iter().enumerate() {
        match t.kind {
            TokenKind::OpenParen => depth += 1,
            // One argument (or none): the `bigint` form.
            TokenKind::CloseParen if depth == 1 => return false,
            TokenKind::CloseParen => depth -= 1,
            TokenKind::Comma if depth == 1 => return is_key_class(&rest[..i]),
            _ => {}
        }
    }
    false
}

/// The argument is the constant: parentheses aside, its literal first, then nothing or a cast.
fn is_key_class(argument: &[Token<'_>]) -> bool {
    let class = LOCK_NAMESPACE.to_string();
    let mut significant = argument
        .iter()
        .filter(|t| !matches!(t.kind, TokenKind::OpenParen | TokenKind::CloseParen));
    let Some(first) = significant.next() else {
        return false;
    };
    let literal = match first.kind {
        TokenKind::Number => first.text == class,
        TokenKind::String => {
            first
                .text
                .strip_prefix('\'')
                .and_then(|t| t.strip_suffix('\''))
                == Some(class.as_str())
        }
        _ => false,
    };
    literal && significant.next().is_none_or(|t| t.text.starts_with(':'))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, only, up};
    use crate::lock_key::LOCK_NAMESPACE;

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
            "DO 'BEGIN PERFORM pg_advisory_unlock_all(); END';",
            "DO E'BEGIN EXECUTE \\'SELECT pg_advisory_unlock_all()\\'; END';",
            "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'SELECT pg_advisory_unlock_all()';",
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
    fn unlocking_confiture_s_key_class_is_an_error() {
        let class = LOCK_NAMESPACE;
        for sql in [
            format!("SELECT pg_advisory_unlock({class}, 123456);"),
            format!("select PG_CATALOG.pg_advisory_unlock_shared({class}, hashtext('app'));"),
            format!("SELECT \"pg_advisory_unlock\"(({class}), 7);"),
            format!("SELECT pg_advisory_unlock({class}::int, 7);"),
            format!("SELECT pg_advisory_unlock('{class}', 7);"),
            format!("DO $$ BEGIN PERFORM pg_advisory_unlock({class}, 42); END $$;"),
            format!("DO 'BEGIN PERFORM pg_advisory_unlock({class}, 42); END';"),
            format!(
                "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $body$\nBEGIN\n  \
                 PERFORM pg_advisory_unlock_shared({class}, 1);\nEND\n$body$;"
            ),
        ] {
            assert_eq!(up(&sql), [("C107", 1)], "{sql}");
            assert_eq!(down(&sql), [("C107", 1)], "{sql}");
        }
        let d = only(&format!("SELECT pg_advisory_unlock({class}, 1);"));
        assert_eq!(
            d.message,
            format!(
                "pg_advisory_unlock({class}, ...) releases the migration lock: the rest of the \
                 run is unprotected, and another run may apply the same migrations meanwhile"
            )
        );
    }

    #[test]
    fn the_explanation_names_the_key_class_the_rule_checks() {
        // Prose cannot be built from the constant: tie the number it shows to it.
        let class = LOCK_NAMESPACE.to_string();
        assert_eq!(super::DOC.explanation.matches(class.as_str()).count(), 3);
    }

    #[test]
    fn other_discards_names_in_strings_and_comments_and_other_unlocks_are_fine() {
        let class = LOCK_NAMESPACE;
        for sql in [
            "DISCARD PLANS;".to_string(),
            "DISCARD TEMP;".to_string(),
            "DISCARD SEQUENCES;".to_string(),
            "SELECT pg_advisory_unlock(1, 2);".to_string(),
            "SELECT pg_advisory_unlock_shared(1);".to_string(),
            // Other key classes, the one-key (bigint) form, taking the lock, a comment:
            format!("SELECT pg_advisory_unlock(42, {class});"),
            format!("SELECT pg_advisory_unlock({class});"),
            format!("SELECT pg_advisory_unlock({class}0, 1);"),
            format!("SELECT pg_advisory_unlock(-{class}, 1);"),
            format!("SELECT pg_try_advisory_xact_lock({class}, 1);"),
            format!("-- never pg_advisory_unlock({class}, 1)\nSELECT 1;"),
            format!("SELECT 'pg_advisory_unlock({class}, 1)';"),
        ] {
            assert_eq!(up(&sql), [], "{sql}");
        }
        for sql in [
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
