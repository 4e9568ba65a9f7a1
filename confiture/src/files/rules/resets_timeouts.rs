//! C119 `resets-timeouts`: `RESET ALL`, `RESET lock_timeout`, or `SET lock_timeout = 0` (or
//! `statement_timeout`, or `DEFAULT`) in a migration switches off the environment's
//! `migration.lock_timeout`/`statement_timeout` for the rest of that migration.

use super::lexer::{Token, TokenKind};
use super::{syntax, Context, Diagnostic, RuleDoc, Severity, Statement};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C119",
    name: "resets-timeouts",
    severity: Severity::Warning,
    summary: "`RESET ALL`, or `lock_timeout`/`statement_timeout` reset or set to 0: the environment's bounds are off for the rest of the migration",
    explanation: "\
confiture sets the environment's `migration.lock_timeout` and `migration.statement_timeout`
(and the command's flags) in each migration's transaction, so that a statement waiting for a
lock gives up instead of queueing every other session's traffic behind its request. `RESET ALL`
returns them to the server's defaults (usually none), and so do `RESET lock_timeout` and `SET
lock_timeout = 0` (or `DEFAULT`, or `statement_timeout` the same): every later statement of the
migration waits for a lock as long as another session holds it. pg_dump's preamble (`SET
statement_timeout = 0; SET lock_timeout = 0; ...`) pasted into a migration does just that. The
next migration gets the environment's bounds back.

Flagged, in up and down files: `RESET ALL`, `RESET lock_timeout`, `RESET statement_timeout`,
and `SET [SESSION | LOCAL] lock_timeout | statement_timeout` to `0` (a number, or a string
starting with `0`: `'0'`, `'0s'`) or `DEFAULT`. `migrate up` also says it when it runs such a
migration. Not flagged: a non-zero value (the migration chose its own bound).

**Fix:** remove the statement (reset only the settings the migration itself set, by name), or
set the bound the migration needs; allow it with `-- confiture:allow(resets-timeouts)`.",
};

/// The settings whose loss this rule reports.
const BOUNDS: [&str; 2] = ["lock_timeout", "statement_timeout"];

pub(super) fn check(cx: &Context<'_>, stmt: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    if !(stmt.starts_with(&["RESET"]) || stmt.starts_with(&["SET"])) {
        return;
    }
    let tokens: Vec<Token<'_>> = stmt.tokens().collect();
    let Some(what) = turns_off(&tokens) else {
        return;
    };
    out.push(
        cx.diagnostic(
            &DOC,
            stmt.range.clone(),
            message(&what),
            "remove it, or reset by name only what the migration itself set; allow it with \
         `-- confiture:allow(resets-timeouts)`"
                .to_string(),
        ),
    );
}

/// The rule's message for `what` (`RESET ALL`, `SET lock_timeout = 0`).
fn message(what: &str) -> String {
    format!(
        "{what} turns off the environment's lock_timeout/statement_timeout for the rest of this \
         migration: a later statement may wait for a lock (and queue other sessions' traffic \
         behind it) as long as another session holds it"
    )
}

/// The statements of `text` (a migration's file, split when it was read: `statements`' spans)
/// that turn the environment's bounds off, each as `(line, message)`: what `migrate up` says
/// when it runs that migration. Each statement's tokens are read again; nothing is split.
#[cfg(feature = "db")]
pub(crate) fn timeouts_turned_off<'s>(
    text: &'s str,
    statements: impl Iterator<Item = (std::ops::Range<usize>, u32)> + 's,
) -> impl Iterator<Item = (u32, String)> + 's {
    statements.filter_map(move |(range, line)| {
        let sql = text.get(range)?;
        if !(super::mentions(sql, "reset") || super::mentions(sql, "timeout")) {
            return None;
        }
        let tokens: Vec<Token<'_>> = super::lexer::tokens(sql)
            .filter(|t| !t.is_trivia())
            .collect();
        turns_off(&tokens).map(|what| (line, message(&what)))
    })
}

/// What in `tokens` (one statement, no trivia) turns a bound off, as the statement names it.
fn turns_off(tokens: &[Token<'_>]) -> Option<String> {
    let first = tokens.first()?;
    if first.is_word("RESET") {
        let name = tokens.get(1)?;
        if name.is_word("ALL") {
            return Some("RESET ALL".to_string());
        }
        let bound = BOUNDS.into_iter().find(|b| syntax::names(name, b))?;
        return Some(format!("RESET {bound}"));
    }
    if !first.is_word("SET") {
        return None;
    }
    let mut rest = &tokens[1..];
    if rest
        .first()
        .is_some_and(|t| t.is_word("SESSION") || t.is_word("LOCAL"))
    {
        rest = &rest[1..];
    }
    let (name, rest) = rest.split_first()?;
    let bound = BOUNDS.into_iter().find(|b| syntax::names(name, b))?;
    let (to, rest) = rest.split_first()?;
    if !(to.is_word("TO") || (to.kind == TokenKind::Other && to.text == "=")) {
        return None;
    }
    let value = rest.first()?;
    let off = match value.kind {
        TokenKind::Word => value.is_word("DEFAULT"),
        TokenKind::Number => value.text.trim_start_matches('0').is_empty(),
        TokenKind::String => zero_string(value.text),
        _ => false,
    };
    off.then(|| format!("SET {bound} = {}", value.text))
}

/// `'0'`, `'0s'`, `'0ms'`, `'00'`: a quoted zero, with a unit or not.
fn zero_string(text: &str) -> bool {
    let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) else {
        return false;
    };
    let inner = inner.trim();
    let digits = inner
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .trim();
    !digits.is_empty() && digits.chars().all(|c| c == '0')
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, only, up};

    #[test]
    fn resets_and_zero_bounds_warn_in_up_and_down_files() {
        assert_eq!(up("RESET ALL;"), [("C119", 1)]);
        assert_eq!(down("reset lock_timeout;"), [("C119", 1)]);
        assert_eq!(up("RESET statement_timeout;"), [("C119", 1)]);
        assert_eq!(
            up("SET statement_timeout = 0;\nSET lock_timeout = 0;\nSET client_encoding = 'UTF8';"),
            [("C119", 1), ("C119", 2)]
        );
        assert_eq!(up("SET LOCAL lock_timeout TO DEFAULT;"), [("C119", 1)]);
        assert_eq!(up("SET SESSION lock_timeout = '0s';"), [("C119", 1)]);
        assert_eq!(up("SET \"lock_timeout\" = '0';"), [("C119", 1)]);
        let d = only("RESET ALL;");
        assert!(
            d.message.starts_with(
                "RESET ALL turns off the environment's lock_timeout/statement_timeout for the \
                 rest of this migration"
            ),
            "{}",
            d.message
        );
    }

    #[test]
    fn other_settings_and_non_zero_bounds_are_fine() {
        assert_eq!(up("RESET search_path;"), []);
        assert_eq!(up("SET lock_timeout = '5s';"), []);
        assert_eq!(up("SET lock_timeout = 100;"), []);
        assert_eq!(up("SET statement_timeout TO '10min';"), []);
        assert_eq!(up("SELECT 'RESET ALL';"), []);
        assert_eq!(up("-- RESET ALL\nSELECT 1;"), []);
    }
}
