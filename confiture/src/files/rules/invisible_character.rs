//! C123 `invisible-character`: a character that shows as nothing — a byte-order mark, a
//! zero-width space, a direction mark — or a control character in the SQL itself, outside
//! strings, quoted identifiers and comments.

use super::lexer::TokenKind;
use super::{Context, Diagnostic, RuleDoc, Severity};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C123",
    name: "invisible-character",
    severity: Severity::Warning,
    help_names_allow: false,
    summary: "an invisible or control character, or a space that is not ASCII, in the SQL, outside strings, quoted identifiers and comments",
    explanation: "\
A byte-order mark in the middle of a file (`cat a.sql b.sql` of a file saved with one; the
mark at the very start is C014's), a zero-width space or a direction mark pasted with the SQL,
a control character, or a no-break space (a web page's) shows as nothing or as a space in an
editor, but the server reads it as a letter of the word it touches: `\\u{feff}CREATE` is no keyword (`syntax error`, after the migrations before
it have run; a no-transaction migration's statements before it have committed), and
`cafe\\u{200b}` is a table name that looks like `cafe` and is not. Reported where it is part of
the SQL outside strings, quoted identifiers and comments, at the first such character of each
word; inside them it is data, sent as written. The body of a function or `DO` block is not
read. A NUL byte is C015's. A warning, not an error: the server accepts some of them (in a
name), and a migration applied with one must keep its text (the ledger's checksum covers it),
so `up` is not refused for it; `lint -D warnings` and CI fail on it.

**Fix:** delete the character, or put a plain space for a no-break one (the diagnostic gives
its line and column, and names it), if the migration is not applied anywhere yet; if it is,
leave its text as it ran.",
};

pub(super) fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    if cx.text.is_ascii() && !cx.text.bytes().any(|b| is_reported(char::from(b))) {
        return;
    }
    for stmt in &cx.split.statements {
        for token in stmt.tokens() {
            if !matches!(token.kind, TokenKind::Word | TokenKind::Other) {
                continue;
            }
            let Some((at, c)) = token.text.char_indices().find(|&(_, c)| is_reported(c)) else {
                continue;
            };
            let start = token.start + at;
            out.push(
                cx.diagnostic(
                    &DOC,
                    start..start + c.len_utf8(),
                    format!(
                        "{} (U+{:04X}) in the SQL: the server reads it as part of `{}`",
                        named(c),
                        u32::from(c),
                        crate::display::escape(token.text)
                    ),
                    "delete it (a space: put a plain one) if the migration is not applied anywhere yet (the checksum covers \
                     the file's bytes): it shows as nothing, but the server reads it (outside \
                     strings, quoted identifiers and comments it is no whitespace)"
                        .to_string(),
                ),
            );
        }
    }
}

/// An invisible or control character the lexer keeps in a word or an operator, or a space
/// that is not ASCII (a no-break space: the server's whitespace is ASCII alone): neither
/// whitespace it skips nor the NUL byte (C015).
fn is_reported(c: char) -> bool {
    (crate::display::is_hazard(c) || (c.is_whitespace() && !c.is_ascii()))
        && !c.is_ascii_whitespace()
        && c != '\0'
}

fn named(c: char) -> &'static str {
    match c {
        '\u{feff}' => "a byte-order mark",
        '\u{200b}' => "a zero-width space",
        '\u{a0}' => "a no-break space",
        c if c.is_whitespace() => "a space character",
        c if c.is_control() => "a control character",
        _ => "an invisible character",
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{only, up};

    #[test]
    fn only_the_sql_itself_is_read_and_each_word_once() {
        let d = only("SELECT 1;\n\u{feff}\u{feff}SELECT 2;\n");
        assert_eq!((d.code, d.line), ("C123", Some(2)));
        assert!(
            d.message
                .starts_with("a byte-order mark (U+FEFF) in the SQL"),
            "{}",
            d.message
        );
        // Data: strings, quoted identifiers, comments, a dollar-quoted body.
        assert_eq!(
            up("SELECT 'a\u{200b}b', \"c\u{200b}d\"; -- e\u{feff}\n/* \u{200e} */ SELECT $$\u{feff}$$;\n"),
            []
        );
        // The leading byte-order mark is C014's (the file rules'), never the SQL's.
        assert_eq!(up("\u{feff}SELECT 1;\n"), []);
        // A control character: the server reads it too.
        assert_eq!(up("SELECT 1\u{1};\n"), [("C123", 1)]);
    }
}
