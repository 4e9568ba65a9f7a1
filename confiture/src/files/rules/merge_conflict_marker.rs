//! C122 `merge-conflict-marker`: a line git (or another merge tool) wrote around a conflict it
//! left for a person to resolve: `<<<<<<< HEAD`, `=======`, `>>>>>>> branch`.

use super::lexer::{Token, TokenKind};
use super::{in_code, Context, Diagnostic, RuleDoc, Severity};
use crate::text;

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C122",
    name: "merge-conflict-marker",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "a merge conflict marker (`<<<<<<<`, `=======`, `>>>>>>>`) left in a migration",
    explanation: "\
A merge that could not combine two changes to the file wrote both versions into it between
conflict markers: `<<<<<<< HEAD`, `|||||||` (the common ancestor, with `merge.conflictStyle
diff3`), `=======` and `>>>>>>> branch`, each at the start of a line (after a LF, a CRLF or a
lone CR: PostgreSQL ends a line at each). Such a file is no SQL:
the server refuses it at the marker, after the migrations before it have run, and a
no-transaction migration's statements before the marker have committed. A marker is reported
where it starts a line outside strings, quoted identifiers and comments (inside them it is
data, sent as written), and where it starts a line of the body of a `DO` block or of a
function or procedure a statement creates (outside the body's own strings and comments): the
server would refuse the body.

**Fix:** resolve the conflict: keep the SQL the migration must run, delete the markers and the
version it replaces, then check the file again. If the migration is applied anywhere, its
resolved text must be the text that ran there (`migrate status` shows it `modified` otherwise).",
};

/// The markers, each at the start of a line; a marker but `=======` may be followed by a space
/// and a label (`HEAD`, a branch, a commit).
const MARKERS: [(&str, bool); 4] = [
    ("<<<<<<<", true),
    ("|||||||", true),
    ("=======", false),
    (">>>>>>>", true),
];

pub(super) fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    if !holds_a_marker(cx.text) {
        return;
    }
    for stmt in &cx.split.statements {
        let tokens: Vec<_> = stmt.tokens().collect();
        if !defines_code(cx, &tokens) {
            report_markers(cx, &tokens, out);
            continue;
        }
        // The statement's tokens, then those of each body it holds (a function's, a `DO`
        // block's): a conflict in a function's body is as unresolved. Another statement's
        // dollar-quoted string is data (`INSERT ... VALUES ($$...$$)`), sent as written.
        in_code::<()>(&tokens, &mut |tokens, _| {
            report_markers(cx, tokens, out);
            None
        });
    }
}

/// Whether the statement of `tokens` is a `DO` block or creates a function or procedure: its
/// literals are code. Its leading words are read past marker lines: the `>>>>>>> b` line of a
/// conflict before it, which no `;` ends, starts the statement's text.
fn defines_code(cx: &Context<'_>, tokens: &[Token<'_>]) -> bool {
    let mut words = Vec::new();
    let mut marker_line_end = 0;
    for token in tokens {
        if token.start < marker_line_end {
            continue;
        }
        if let Some(end) = marker_line(cx, token) {
            marker_line_end = end;
            continue;
        }
        if token.kind != TokenKind::Word || words.len() == 4 {
            break;
        }
        words.push(token.text);
    }
    let is = |at: usize, word: &str| words.get(at).is_some_and(|w| w.eq_ignore_ascii_case(word));
    let routine = |at: usize| is(at, "function") || is(at, "procedure");
    is(0, "do")
        || (is(0, "create") && (routine(1) || (is(1, "or") && is(2, "replace") && routine(3))))
}

/// Whether `text` holds one of the [`MARKERS`] anywhere, at the start of a line or not: seven
/// of one of their characters in a row. One pass over the bytes, where a search for each
/// marker was four (every file of a directory is asked, and most hold none).
fn holds_a_marker(text: &str) -> bool {
    let (mut last, mut run) = (0u8, 0usize);
    for &b in text.as_bytes() {
        if !matches!(b, b'<' | b'|' | b'=' | b'>') {
            run = 0;
            continue;
        }
        run = if run > 0 && b == last { run + 1 } else { 1 };
        last = b;
        if run == MARKER_LEN {
            return true;
        }
    }
    false
}

/// How long each of the [`MARKERS`] is: seven of one character.
const MARKER_LEN: usize = 7;

/// The end of the marker line `token` starts, if it starts one: where its line ends (at its
/// line break, a CRLF's CR; lines end as [`text::is_line_break`] says, at a lone CR too).
fn marker_line(cx: &Context<'_>, token: &Token<'_>) -> Option<usize> {
    if token.kind != TokenKind::Other {
        return None;
    }
    let rest = cx.text.get(token.start..)?;
    let bytes = cx.text.as_bytes();
    let starts_line = text::line_start(bytes, token.start) == token.start;
    marker_of(rest).filter(|_| starts_line)?;
    Some(text::line_end(bytes, token.start))
}

/// A diagnostic for each marker that starts a line among `tokens`, the rest of its line
/// skipped.
fn report_markers(cx: &Context<'_>, tokens: &[Token<'_>], out: &mut Vec<Diagnostic>) {
    let mut after = 0;
    for token in tokens {
        if token.start < after {
            continue;
        }
        let Some(end) = marker_line(cx, token) else {
            continue;
        };
        after = end;
        let marker = cx
            .text
            .get(token.start..token.start + MARKER_LEN)
            .unwrap_or_default();
        out.push(cx.diagnostic(
            &DOC,
            token.start..end,
            format!("merge conflict marker `{marker}`: the file holds a conflict left unresolved"),
            "resolve the conflict: keep the SQL the migration must run, and delete the markers \
             and the version it replaces"
                .to_string(),
        ));
    }
}

/// The marker `line` starts with, if it is one: the marker alone on its line, or (but
/// `=======`) followed by a space and a label.
fn marker_of(line: &str) -> Option<&'static str> {
    MARKERS.iter().find_map(|&(marker, labelled)| {
        let rest = line.strip_prefix(marker)?;
        // A line break after it: a LF, a CRLF or a lone CR (`text::is_line_break`).
        let ends = rest.is_empty() || rest.starts_with(['\n', '\r']);
        (ends || (labelled && rest.starts_with([' ', '\t']))).then_some(marker)
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::up;

    #[test]
    fn each_marker_at_the_start_of_a_line_is_an_error() {
        let text = "CREATE TABLE t (a int);\n<<<<<<< HEAD\nALTER TABLE t ADD b int;\n\
                    ||||||| base\n=======\nALTER TABLE t ADD c int;\n>>>>>>> feature/c\n";
        assert_eq!(
            up(text),
            [("C122", 2), ("C122", 4), ("C122", 5), ("C122", 7)]
        );
        // At the very start of the file, and with CRLF line endings.
        assert_eq!(
            up("<<<<<<< HEAD\r\nSELECT 1;\r\n=======\r\nSELECT 2;\r\n>>>>>>> b\r\n"),
            [("C122", 1), ("C122", 3), ("C122", 5)]
        );
    }

    /// A lone CR ends a line (`text::is_line_break`): a marker after one starts a line, and
    /// one ends a marker's line, as after a LF; in a function's body too.
    #[test]
    fn a_marker_after_a_lone_cr_starts_a_line() {
        assert_eq!(
            up("SELECT 0;\r<<<<<<< HEAD\rSELECT 1;\r=======\rSELECT 2;\r>>>>>>> b\r"),
            [("C122", 2), ("C122", 4), ("C122", 6)]
        );
        assert_eq!(
            up("<<<<<<< HEAD\r\nSELECT 1;\n\r=======\rSELECT 2;\r\n>>>>>>> b"),
            [("C122", 1), ("C122", 4), ("C122", 6)]
        );
        let text = "DO $do$\rBEGIN\r<<<<<<< HEAD\r  PERFORM 1;\r=======\r  PERFORM 2;\r\
                    >>>>>>> b\rEND\r$do$;\r";
        assert_eq!(up(text), [("C122", 3), ("C122", 5), ("C122", 7)]);
        // Mid-line, or in a comment a lone CR does not end (a `/* */` one), it is none.
        assert_eq!(up("SELECT 1 \r/*\r=======\r*/;\rSELECT 2 <<<<<<< 3;\r"), []);
    }

    #[test]
    fn a_marker_in_a_function_body_is_an_error_but_not_in_its_comments() {
        let text = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n\
                    <<<<<<< HEAD\n  RETURN 1;\n=======\n  RETURN 2;\n>>>>>>> b\n\
                    /*\n<<<<<<< not a marker: a comment\n*/\nEND\n$$;\n";
        assert_eq!(up(text), [("C122", 3), ("C122", 5), ("C122", 7)]);
        let text = "DO $do$\nBEGIN\n<<<<<<< HEAD\n  PERFORM 1;\n=======\n  PERFORM 2;\n\
                    >>>>>>> b\nEND\n$do$;\n";
        assert_eq!(up(text), [("C122", 3), ("C122", 5), ("C122", 7)]);
    }

    /// The one pass finds what a search for each marker finds: each marker is seven of one of
    /// the characters it looks for, and a text holds one exactly when it holds such a run.
    #[test]
    fn holds_a_marker_is_a_search_for_each_marker() {
        for (marker, _) in super::MARKERS {
            let first = marker.chars().next().unwrap();
            assert_eq!(marker, first.to_string().repeat(super::MARKER_LEN));
            assert!(matches!(first, '<' | '|' | '=' | '>'));
        }
        let searched = |text: &str| super::MARKERS.iter().any(|(m, _)| text.contains(m));
        let pieces = [
            "", "<", "<<<<<<", "<<<<<<<", "<<<<<<<<", "======", "=======", "|||||||", ">>>>>>>",
            "<<<<<<=", "=<<<<<<", "<<<<<<>", "é", "a = b", "\n", "\r\n", "x",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let text = format!("{a}{b}{c}");
                    assert_eq!(super::holds_a_marker(&text), searched(&text), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn markers_in_strings_comments_or_mid_line_are_not() {
        let text = "-- <<<<<<< HEAD\n/*\n=======\n*/\nSELECT '\n>>>>>>> b\n', $$\n<<<<<<< x\n$$;\n\
                    SELECT 1 <<<<<<< 2;\nSELECT 2\n========\n;\n";
        assert_eq!(up(text), []);
    }
}
