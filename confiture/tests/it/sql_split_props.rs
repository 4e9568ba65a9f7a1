//! Property test of the splitter and the rules on generated input: random bytes (lossily made
//! UTF-8) spliced with SQL fragments that open and close quotes, comments and bodies.
//! Splitting never panics, the pieces reproduce the input exactly, ranges are ordered,
//! non-overlapping and on char boundaries, and lines are right.
//!
//! Deterministic (a fixed-seed xorshift generator, no dependency); bounded so that CI runs it
//! in debug. `CONFITURE_FUZZ_ITERS=200000` runs longer; `CONFITURE_FUZZ_SEED` picks the seed.

use std::path::Path;

use confiture::files::lexer::{self, StandardConformingStrings, TokenKind};
use confiture::files::markers;
use confiture::files::rules::check_sql;
use confiture::files::Direction;

use crate::xorshift;

use xorshift::{iterations, XorShift};

const FRAGMENTS: &[&str] = &[
    "'",
    "''",
    "E'",
    "e'",
    "\\'",
    "\\\\",
    "\"",
    "\"\"",
    "U&'",
    "U&\"",
    "u&'\\",
    "B'",
    "x'",
    "N'",
    "' -- c\n'",
    "'\n'",
    "'\r\n-- c\r'",
    "' /* c */\n'",
    "\x0b",
    "\x0c",
    "$$",
    "$fn$",
    "$Fn$",
    "$a$",
    "$1",
    "$1$",
    "a$b",
    "$",
    "$é$",
    "/*",
    "*/",
    "/* /* */",
    "--",
    "-- note\n",
    "\n",
    "\r\n",
    " ",
    "\t",
    ";",
    ";;",
    "(",
    ")",
    ",",
    ".",
    "BEGIN",
    "BEGIN ATOMIC",
    "begin atomic ",
    "END",
    "END;",
    "CASE",
    "CREATE FUNCTION f() ",
    "CREATE OR REPLACE PROCEDURE p() ",
    "COMMIT;",
    "SELECT 1;",
    "COPY t FROM stdin;\n",
    "\\.\n",
    "\\copy t from stdin\n",
    "\\i x.sql\n",
    "é",
    "日本",
    "🦀",
    "\u{feff}",
    "-- confiture:no-transaction\n",
    "-- confiture:allow(drop-table)\n",
    "-- confiture:nope\n",
    "ALTER TABLE t ADD COLUMN c int NOT NULL",
    "ALTER TABLE t DROP COLUMN c, ",
    "CREATE INDEX ON t (a)",
    "CREATE TABLE t (a int)",
    "CREATE INDEX CONCURRENTLY i ON t (a)",
    "DROP TABLE t",
    "RENAME TO u",
    "ADD CONSTRAINT c FOREIGN KEY (a) REFERENCES u",
    "VACUUM",
    "ON",
    "\"t\"",
    "public.",
    "NOT VALID",
];

fn generate(rng: &mut XorShift) -> String {
    let pieces = rng.below(60);
    let mut bytes = Vec::new();
    for _ in 0..pieces {
        match rng.below(10) {
            0 => bytes.push(rng.next() as u8),
            1 | 2 => bytes.push(b' ' + rng.below(95) as u8),
            _ => bytes.extend_from_slice(FRAGMENTS[rng.below(FRAGMENTS.len())].as_bytes()),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The line of `offset`, counted independently of `confiture::text`: a LF or a lone CR ends a
/// line, as PostgreSQL's scanner and libpq count them; a CRLF once.
fn line_of(text: &str, offset: usize) -> u32 {
    let lf = text[..offset].replace("\r\n", "\n");
    // A CR right before `offset` followed by a LF there is a CRLF's.
    let cr_of_crlf = text[..offset].ends_with('\r') && text[offset..].starts_with('\n');
    let breaks = lf.bytes().filter(|&b| b == b'\n' || b == b'\r').count();
    (breaks - usize::from(cr_of_crlf)) as u32 + 1
}

fn check_invariants(text: &str) {
    for strings in [
        StandardConformingStrings::On,
        StandardConformingStrings::Off,
    ] {
        check_split(text, strings);
    }
    check_rules(text);
}

fn check_split(text: &str, strings: StandardConformingStrings) {
    // Tokens tile the input.
    let mut end = 0;
    for token in lexer::tokens_with(text, strings) {
        assert_eq!(token.start, end, "tokens must be contiguous in {text:?}");
        assert!(!token.text.is_empty(), "empty token in {text:?}");
        assert_eq!(&text[token.start..token.end()], token.text);
        end = token.end();
    }
    assert_eq!(end, text.len(), "tokens must cover {text:?}");

    let split = lexer::split_with(text, strings);
    let mut rebuilt = String::with_capacity(text.len());
    let mut previous_end = 0;
    let clean_gaps = split.statements.iter().all(|s| s.copy_data.is_none())
        && split
            .problems
            .iter()
            .all(|p| p.kind != lexer::ProblemKind::MetaCommand);
    for stmt in &split.statements {
        let range = stmt.range.clone();
        assert!(
            previous_end <= range.start && range.start < range.end,
            "ranges out of order in {text:?}"
        );
        assert!(
            text.is_char_boundary(range.start) && text.is_char_boundary(range.end),
            "not a char boundary: {text:?}"
        );
        let gap = &text[previous_end..range.start];
        if clean_gaps {
            for token in lexer::tokens_with(gap, strings) {
                assert!(
                    token.is_trivia() || token.kind == TokenKind::Semicolon,
                    "{token:?} left in a gap of {text:?}"
                );
            }
        }
        rebuilt.push_str(gap);
        rebuilt.push_str(stmt.text);
        assert_eq!(stmt.text, &text[range.clone()]);
        assert_eq!(
            stmt.line,
            line_of(text, range.start),
            "line of {:?} in {text:?}",
            stmt.text
        );
        if clean_gaps {
            // Lexed again on its own, a statement has the tokens it had in the file.
            let again: Vec<_> = stmt.tokens().collect();
            let in_file: Vec<_> = lexer::tokens_with(text, strings)
                .filter(|t| !t.is_trivia() && range.contains(&t.start))
                .collect();
            assert_eq!(again, in_file, "{:?} in {text:?}", stmt.text);
        }
        let first = stmt.tokens().next();
        assert_eq!(
            first.map(|t| t.start),
            Some(range.start),
            "statement starts with trivia in {text:?}"
        );
        previous_end = range.end;
    }
    rebuilt.push_str(&text[previous_end..]);
    assert_eq!(rebuilt, text, "pieces must reproduce the input");
    for problem in &split.problems {
        assert!(
            text.is_char_boundary(problem.range.start) && text.is_char_boundary(problem.range.end)
        );
        assert_eq!(
            problem.line,
            line_of(text, problem.range.start),
            "{problem:?} in {text:?}"
        );
    }
    for stmt in &split.statements {
        let _ = lexer::requires_no_transaction(stmt);
        let _ = stmt.copy_stream();
    }
}

fn check_rules(text: &str) {
    let _ = markers::parse(text);
    for kind in [Direction::Up, Direction::Down] {
        for d in check_sql(Path::new("fuzz.up.sql"), text, kind) {
            assert!(
                d.line
                    .is_some_and(|l| l >= 1 && l <= line_of(text, text.len())),
                "{d:?} for {text:?}"
            );
            // Every SQL diagnostic points at bytes of the file, on its line.
            let span = d
                .span
                .unwrap_or_else(|| panic!("no span: {d:?} for {text:?}"));
            assert!(
                span.start <= span.end
                    && span.end <= text.len()
                    && text.is_char_boundary(span.start)
                    && text.is_char_boundary(span.end),
                "{d:?} for {text:?}"
            );
            assert_eq!(d.line, Some(span.line), "{d:?} for {text:?}");
            assert_eq!(
                (span.line, span.column),
                confiture::text::line_col(text, span.start),
                "{d:?} for {text:?}"
            );
            assert_eq!(
                (span.end_line, span.end_column),
                confiture::text::line_col(text, span.end),
                "{d:?} for {text:?}"
            );
        }
    }
}

#[test]
fn splitting_generated_input_never_panics_and_reproduces_it() {
    let mut rng = XorShift::from_env();
    for _ in 0..iterations(20_000) {
        let text = generate(&mut rng);
        check_invariants(&text);
    }
}

#[test]
fn edge_inputs() {
    for text in [
        "",
        ";",
        "$",
        "$$",
        "'",
        "\"",
        "/*",
        "--",
        "\\",
        "E'\\",
        "B'",
        "U&",
        "U&\"",
        "u&'",
        "'a'\n'",
        "'a' --",
        "'a'\n--",
        "'a'\r",
        "E'\\'\n'",
        "\u{feff}",
        "\u{feff};",
        "é",
        "\n\n",
        "(",
        ")",
    ] {
        check_invariants(text);
    }
}
