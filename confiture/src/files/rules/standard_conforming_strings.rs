//! C106 `standard-conforming-strings`: a migration that turns `standard_conforming_strings`
//! off changes how PostgreSQL reads every later `'...'` string of the session (or database).

use super::lexer::TokenKind;
use super::{Context, Diagnostic, RuleDoc, Severity, Statement};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C106",
    name: "standard-conforming-strings",
    severity: Severity::Error,
    summary: "a migration turns `standard_conforming_strings` off",
    explanation: "\
With `standard_conforming_strings` off, PostgreSQL reads a backslash in a plain `'...'` string as
an escape, so `'a\\'; DROP ...'` is one string or two statements depending on the setting. The
server applies the setting a message arrives with: a `SET` changes how every *later* message of
the session is read — each statement of a `-- confiture:no-transaction` migration, and the
migrations that follow in the same run — and `ALTER DATABASE|ROLE ... SET` changes it for every
later session. Lint reads files with the setting on, PostgreSQL's default since 9.1, so after
such a statement it no longer sees the statements the server will run.

Flagged: `SET [SESSION] standard_conforming_strings` to `off`, `false`, `no` or `0`, the same in
`ALTER DATABASE`, `ALTER ROLE` and `ALTER SYSTEM`, and `set_config('standard_conforming_strings',
'off', false)`. Not flagged: turning it on (pg_dump writes `SET standard_conforming_strings =
on;`), `SET LOCAL` and `set_config(..., true)`, which end with the transaction, and `RESET`.

**Fix:** leave it on, and write strings that need backslash escapes as `E'...'`.",
};

pub(super) fn check(cx: &Context<'_>, stmt: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    let candidate = stmt.starts_with(&["SET"])
        || stmt.starts_with(&["ALTER"])
        || stmt.text.contains("set_config")
        || stmt.text.contains("SET_CONFIG");
    if !candidate || !turns_off(stmt) {
        return;
    }
    out.push(cx.diagnostic(
        &DOC,
        stmt.range.clone(),
        "standard_conforming_strings turned off: PostgreSQL reads backslashes in later '...' strings as escapes, and lint no longer splits them as the server will".to_string(),
        "leave standard_conforming_strings on; write strings with backslash escapes as E'...'".to_string(),
    ));
}

/// The setting's name followed by an `off` value: `name = off`, `name TO false`,
/// `set_config('name', 'off', false)`; not `SET LOCAL` nor `set_config(..., true)`.
fn turns_off(stmt: &Statement<'_>) -> bool {
    if stmt.starts_with(&["SET", "LOCAL"]) {
        return false;
    }
    let tokens: Vec<_> = stmt.tokens().collect();
    tokens.iter().enumerate().any(|(i, t)| {
        let named = match t.kind {
            TokenKind::Word => t.is_word("standard_conforming_strings"),
            TokenKind::String => unquoted(t.text)
                .is_some_and(|s| s.eq_ignore_ascii_case("standard_conforming_strings")),
            _ => false,
        };
        if !named {
            return false;
        }
        let mut rest = tokens[i + 1..]
            .iter()
            .filter(|t| !(t.kind == TokenKind::Comma || t.text == "=" || t.is_word("TO")));
        let Some(value) = rest.next() else {
            return false;
        };
        let value = match value.kind {
            TokenKind::String => unquoted(value.text).unwrap_or(""),
            _ => value.text,
        };
        // PostgreSQL's booleans, with the prefixes it accepts.
        let value = value.to_ascii_lowercase();
        let prefix_of = |word: &str| !value.is_empty() && word.starts_with(value.as_str());
        let off = value == "0"
            || value == "off"
            || value == "of"
            || prefix_of("false")
            || prefix_of("no");
        // set_config(name, value, is_local): only the session-wide form lasts.
        let local = t.kind == TokenKind::String && rest.next().is_some_and(|l| l.is_word("true"));
        off && !local
    })
}

/// The text of a plain `'...'` literal without its quotes (`None` for other literals).
fn unquoted(text: &str) -> Option<&str> {
    text.strip_prefix('\'')?.strip_suffix('\'')
}

#[cfg(test)]
mod tests {
    use super::super::test_support::up;

    #[test]
    fn turning_it_off_is_an_error() {
        for sql in [
            "SET standard_conforming_strings = off;",
            "set standard_conforming_strings to false;",
            "SET SESSION standard_conforming_strings = 'off';",
            "SET standard_conforming_strings TO 0;",
            "ALTER DATABASE app SET standard_conforming_strings = off;",
            "ALTER ROLE app IN DATABASE app SET standard_conforming_strings TO 'no';",
            "SELECT set_config('standard_conforming_strings', 'off', false);",
            "SELECT pg_catalog.set_config('standard_conforming_strings', 'false', false);",
        ] {
            assert_eq!(up(sql), [("C106", 1)], "{sql}");
        }
    }

    #[test]
    fn on_local_and_reset_are_fine() {
        for sql in [
            "SET standard_conforming_strings = on;",
            "SET LOCAL standard_conforming_strings = off;",
            "RESET standard_conforming_strings;",
            "SELECT set_config('standard_conforming_strings', 'off', true);",
            "SELECT set_config('search_path', '', false);",
            "SELECT 'SET standard_conforming_strings = off';",
            "SET escape_string_warning = off;",
        ] {
            assert_eq!(up(sql), [], "{sql}");
        }
    }
}
