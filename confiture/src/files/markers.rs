//! `-- confiture:...` markers in a migration file's leading comment block:
//! `no-transaction`, `irreversible`, `allow(<rule-name>, ...)`, and confiture (Python)'s
//! `destructive` gate (its generator marks a data-losing up file; `migrate up` refuses it
//! without `--allow-destructive`), and confiture (Python)'s `squashed-baseline through=N ...`
//! header (the first line of the baseline its `migrate squash` writes in place of the
//! migrations through N). Like confiture, `destructive` counts on any `--` line, not only in
//! the leading block.
//!
//! The leading block is everything before the first statement: blank lines and comments.
//! Markers are `--` line comments there, one per line, optionally followed by free text after
//! whitespace (`-- confiture:irreversible the data is gone`). Anything that looks like a marker
//! but is not one — an unknown directive, a malformed `allow`, a marker after the first
//! statement or inside a block comment — is recorded in [`Markers::problems`] so that the
//! rules report it: a typo must never silently turn a marker off.

use std::ops::Range;

use super::lexer::{self, TokenKind};
use crate::text::{did_you_mean, Locator};

/// The directives confiture understands.
pub const DIRECTIVES: &[&str] = &[
    "no-transaction",
    "irreversible",
    "allow",
    "destructive",
    "squashed-baseline",
];

/// The markers found in a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markers {
    /// `-- confiture:no-transaction`: statement by statement, in autocommit.
    pub no_transaction: bool,
    /// `-- confiture:irreversible` (on a down file): rolling back is refused.
    pub irreversible: bool,
    /// `-- confiture:destructive` (on an up file): confiture's gate; `up` refuses the
    /// migration without `allow_destructive`.
    pub destructive: bool,
    /// Rule names from `-- confiture:allow(<rule>)`, with the comment of each.
    pub allows: Vec<(String, Place)>,
    /// The first `no-transaction` marker (reported when it is not needed).
    pub no_transaction_at: Option<Place>,
    /// The first `irreversible` marker.
    pub irreversible_at: Option<Place>,
    /// The first `destructive` marker, on any line (reported in a down file, where it has no
    /// effect).
    pub destructive_at: Option<Place>,
    /// `-- confiture:squashed-baseline through=N ...` (on an up file): confiture (Python)'s
    /// `migrate squash` wrote it, the baseline replacing the migrations through version `N`,
    /// whose down file always raises: it cannot be rolled back.
    pub squashed_through: Option<u64>,
    /// The first `squashed-baseline` marker.
    pub squashed_baseline_at: Option<Place>,
    /// Marker-looking comments that were not understood, in line order.
    pub problems: Vec<MarkerProblem>,
}

/// Where a marker comment is: its 1-based line, and its bytes in the text given to [`parse`]
/// (trailing whitespace left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// 1-based line of the comment.
    pub line: u32,
    /// Its bytes in the text.
    pub range: Range<usize>,
}

/// A comment that looks like a marker but is not taken as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerProblem {
    /// Where the comment is.
    pub at: Place,
    /// What is wrong with it.
    pub kind: MarkerProblemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// What is wrong with a [`MarkerProblem`].
#[non_exhaustive]
pub enum MarkerProblemKind {
    /// `-- confiture:no_transaction`: not a directive; `suggestion` is the closest one.
    Unknown {
        /// The directive as written.
        directive: String,
        /// The closest known directive, if any.
        suggestion: Option<&'static str>,
    },
    /// `-- confiture:allow(` without a closing parenthesis, an empty list, or text glued to
    /// the directive.
    Malformed {
        /// The comment as written.
        comment: String,
        /// Why it is malformed.
        reason: &'static str,
    },
    /// A marker after the first statement: markers are only read from the leading block.
    AfterFirstStatement {
        /// The directive as written.
        directive: String,
    },
    /// `/* confiture:... */`, or a line of a block comment starting with a marker (` * --
    /// confiture:...`): markers are only read from `--` comments. Prose that mentions a
    /// marker inside a sentence is none.
    InBlockComment {
        /// The directive as written.
        directive: String,
    },
}

impl MarkerProblem {
    /// Whether the comment not taken meant the `irreversible` marker: that marker where it is
    /// not read (after the first statement, in a block comment), or a near miss of it anywhere
    /// ([`MarkerProblem::is_irreversible_near_miss`]). In a down file not marked irreversible,
    /// the rollback it meant to refuse would run.
    pub fn is_irreversible(&self) -> bool {
        match &self.kind {
            MarkerProblemKind::AfterFirstStatement { directive }
            | MarkerProblemKind::InBlockComment { directive } => {
                directive.eq_ignore_ascii_case("irreversible") || self.is_irreversible_near_miss()
            }
            _ => self.is_irreversible_near_miss(),
        }
    }

    /// Whether the comment is a near miss of `irreversible`, not that directive as read: a typo
    /// (`irreversable`, the closest directive by [`did_you_mean`]), another case
    /// (`IRREVERSIBLE`), or text glued to it (`irreversible-`, `irreversible.`).
    pub fn is_irreversible_near_miss(&self) -> bool {
        let near = |name: &str| {
            name != "irreversible"
                && did_you_mean(name, DIRECTIVES.iter().copied()) == Some("irreversible")
        };
        match &self.kind {
            MarkerProblemKind::Unknown { directive, .. }
            | MarkerProblemKind::AfterFirstStatement { directive }
            | MarkerProblemKind::InBlockComment { directive } => near(directive),
            // `irreversible.`: the directive read, text glued to it.
            MarkerProblemKind::Malformed { comment, .. } => directive_text(comment)
                .map(directive_name)
                .is_some_and(|name| name.eq_ignore_ascii_case("irreversible")),
        }
    }
}

/// Reads the markers from `text`.
pub fn parse(text: &str) -> Markers {
    let mut markers = Markers::default();
    let mut lines = Locator::new(text);
    let mut place = |start: usize, comment: &str| Place {
        line: lines.line_at(start),
        range: start..start + comment.trim_end().len(),
    };
    let mut leading_end = text.len();
    for token in lexer::tokens(text) {
        match token.kind {
            TokenKind::LineComment => {
                if let Some(directive) = directive_text(token.text) {
                    let at = place(token.start, token.text);
                    read_marker(directive, token.text, at, &mut markers);
                }
            }
            TokenKind::BlockComment => {
                in_block_comment(token.start, token.text, &mut place, &mut markers);
            }
            TokenKind::Whitespace => {}
            _ => {
                leading_end = token.start;
                break;
            }
        }
    }
    // After the leading block, markers are misplaced. Looking for them means lexing the rest of
    // the file, so first check cheaply whether the word appears at all, in any case: the
    // directive is read in any case ([`directive_text`]).
    let rest = &text[leading_end..];
    if mentions_confiture(rest) {
        for token in lexer::tokens(rest) {
            let offset = leading_end + token.start;
            match token.kind {
                TokenKind::LineComment => {
                    if let Some(directive) = directive_text(token.text) {
                        let name = directive_name(directive).to_string();
                        if is_destructive(&name) {
                            // confiture reads its gate on any line: so do we.
                            markers.destructive = true;
                            let at = place(offset, token.text);
                            markers.destructive_at.get_or_insert(at);
                            continue;
                        }
                        markers.problems.push(MarkerProblem {
                            at: place(offset, token.text),
                            kind: MarkerProblemKind::AfterFirstStatement { directive: name },
                        });
                    }
                }
                TokenKind::BlockComment => {
                    in_block_comment(offset, token.text, &mut place, &mut markers);
                }
                _ => {}
            }
        }
    }
    markers
}

/// For `-- confiture:allow(x) note`, the text after `confiture:`; `None` for comments that do
/// not look like a marker at all.
fn directive_text(comment: &str) -> Option<&str> {
    let body = comment
        .strip_prefix("--")?
        .trim_start_matches(|c: char| c == '-' || c.is_ascii_whitespace());
    let prefix = body.get(..9)?;
    if !prefix.eq_ignore_ascii_case("confiture") {
        return None;
    }
    body[9..]
        .trim_start()
        .strip_prefix(':')
        .map(str::trim_start)
}

/// Whether `text` holds the word `confiture` in any case: the one quick look before lexing
/// text for markers.
fn mentions_confiture(text: &str) -> bool {
    (text.as_bytes().windows(9)).any(|w| w.eq_ignore_ascii_case(b"confiture"))
}

/// Records each line of the block comment `comment` (at byte `start`) that starts with a
/// marker as a problem, placed at the marker on its own line ([`block_comment_markers`]).
fn in_block_comment(
    start: usize,
    comment: &str,
    place: &mut impl FnMut(usize, &str) -> Place,
    markers: &mut Markers,
) {
    for (at, marker, directive) in block_comment_markers(comment) {
        markers.problems.push(MarkerProblem {
            at: place(start + at, marker),
            kind: MarkerProblemKind::InBlockComment {
                directive: directive.to_string(),
            },
        });
    }
}

/// The lines of a block comment that start with a marker, as a `--` comment would hold it
/// (`/* confiture:x */`, ` * -- confiture:x note`): each line's text from the marker (its
/// `--`, else the word `confiture`) to the end of the line or of the comment, with its offset
/// in `comment`, and its directive's name. A line of prose that mentions a marker further on
/// is no marker line.
fn block_comment_markers(comment: &str) -> impl Iterator<Item = (usize, &str, &str)> {
    let body_end = comment.len() - if comment.ends_with("*/") { 2 } else { 0 };
    let mut line_start = 0;
    std::iter::from_fn(move || {
        while line_start < body_end {
            let rest = &comment[line_start..body_end];
            let line_len = rest.find(['\n', '\r']).unwrap_or(rest.len());
            let line = &rest[..line_len];
            let offset = line_start;
            line_start += line_len + 1;
            // Leading blanks, the comment's `/*` and a `*` margin.
            let lead = line
                .find(|c: char| !(c.is_ascii_whitespace() || c == '/' || c == '*'))
                .unwrap_or(line.len());
            let text = line[lead..].trim_end();
            let dashes = text.len() - text.trim_start_matches('-').len();
            let marker = match dashes {
                0 => text,
                _ => text[dashes..].trim_start(),
            };
            let directive = marker
                .get(..9)
                .filter(|w| w.eq_ignore_ascii_case("confiture"))
                .and_then(|_| marker[9..].trim_start().strip_prefix(':'));
            let Some(directive) = directive else {
                continue;
            };
            // Shown from its `--` when it has one: the marker as written.
            let shown = if dashes >= 2 { text } else { marker };
            let at = offset + lead + (text.len() - shown.len());
            return Some((at, shown, directive_name(directive.trim_start())));
        }
        None
    })
}

fn directive_name(directive: &str) -> &str {
    let end = directive
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(directive.len());
    &directive[..end]
}

/// confiture compares directive names in lowercase.
fn is_destructive(name: &str) -> bool {
    name.eq_ignore_ascii_case("destructive")
}

fn read_marker(directive: &str, comment: &str, at: Place, markers: &mut Markers) {
    let name = directive_name(directive);
    if is_destructive(name) {
        // confiture takes the first word after `confiture:` as the name, whatever follows.
        markers.destructive = true;
        markers.destructive_at.get_or_insert(at);
        return;
    }
    let rest = &directive[name.len()..];
    let malformed = |reason| MarkerProblem {
        at: at.clone(),
        kind: MarkerProblemKind::Malformed {
            comment: comment.trim_end().to_string(),
            reason,
        },
    };
    let free_text_ok =
        |rest: &str| rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_whitespace());
    match name {
        "no-transaction" | "irreversible" => {
            if !free_text_ok(rest) {
                markers.problems.push(malformed(
                    "text directly after the directive; put a space before any note",
                ));
                return;
            }
            if name == "no-transaction" {
                markers.no_transaction = true;
                markers.no_transaction_at.get_or_insert(at);
            } else {
                markers.irreversible = true;
                markers.irreversible_at.get_or_insert(at);
            }
        }
        "squashed-baseline" => {
            // `through=003 versions=3 digest=...`, as confiture writes it; the other fields
            // are confiture's to check.
            let through = (rest.starts_with(|c: char| c.is_ascii_whitespace()))
                .then(|| rest.split_ascii_whitespace())
                .into_iter()
                .flatten()
                .find_map(|field| field.strip_prefix("through="))
                .map(crate::history::Version::number_of);
            match through {
                Some(Ok(through)) => {
                    markers.squashed_through.get_or_insert(through);
                    markers.squashed_baseline_at.get_or_insert(at);
                }
                _ => markers.problems.push(malformed(
                    "expected `squashed-baseline through=<VERSION>`, as confiture (Python)'s \
                     `migrate squash` writes it",
                )),
            }
        }
        "allow" => {
            let Some(list) = rest.trim_start().strip_prefix('(') else {
                markers
                    .problems
                    .push(malformed("expected `allow(<rule-name>, ...)`"));
                return;
            };
            let Some((list, after)) = list.split_once(')') else {
                markers.problems.push(malformed("missing `)`"));
                return;
            };
            if !free_text_ok(after) {
                markers.problems.push(malformed(
                    "text directly after `)`; put a space before any note",
                ));
                return;
            }
            let names: Vec<&str> = list.split(',').map(str::trim).collect();
            if names.iter().any(|n| n.is_empty()) {
                markers
                    .problems
                    .push(malformed("empty rule name in the list"));
                return;
            }
            markers
                .allows
                .extend(names.into_iter().map(|n| (n.to_string(), at.clone())));
        }
        _ => markers.problems.push(MarkerProblem {
            at,
            kind: MarkerProblemKind::Unknown {
                directive: name.to_string(),
                suggestion: did_you_mean(name, DIRECTIVES.iter().copied()),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_markers_of_the_leading_block() {
        let text = "-- add an index\n\n-- confiture:no-transaction\n--confiture:allow(drop-table, rename-column)  because  \n\
             /* license */\n-- confiture:irreversible the data is gone\nCREATE INDEX CONCURRENTLY i ON t (a);\n";
        let m = parse(text);
        assert!(m.no_transaction && m.irreversible);
        assert_eq!(m.no_transaction_at.as_ref().map(|p| p.line), Some(3));
        assert_eq!(m.irreversible_at.as_ref().map(|p| p.line), Some(6));
        let allows: Vec<_> = m.allows.iter().map(|(r, p)| (r.as_str(), p.line)).collect();
        assert_eq!(allows, [("drop-table", 4), ("rename-column", 4)]);
        // The place is the comment, without the whitespace after it.
        let comment = &text[m.allows[0].1.range.clone()];
        assert_eq!(
            comment,
            "--confiture:allow(drop-table, rename-column)  because"
        );
        assert_eq!(m.problems, vec![]);
    }

    #[test]
    fn typos_are_problems_with_a_suggestion() {
        let m = parse("-- confiture:no_transaction\n-- Confiture: irreversable\nSELECT 1;\n");
        assert!(!m.no_transaction && !m.irreversible);
        let suggestions: Vec<_> = m
            .problems
            .iter()
            .map(|p| match &p.kind {
                MarkerProblemKind::Unknown { suggestion, .. } => (*suggestion, p.at.line),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            suggestions,
            vec![(Some("no-transaction"), 1), (Some("irreversible"), 2)]
        );
    }

    #[test]
    fn confiture_s_destructive_gate_is_read_on_any_line_in_any_case_as_confiture_reads_it() {
        for text in [
            "-- confiture:destructive\nDROP TABLE t;\n",
            "-- CONFITURE:Destructive the rows go\nDROP TABLE t;\n",
            "SELECT 1;\n-- confiture:destructive\nDROP TABLE t;\n",
        ] {
            let m = parse(text);
            assert!(m.destructive, "{text}");
            assert_eq!(m.problems, vec![], "{text}");
        }
        // Not a directive for confiture either: a block comment, a string, another word.
        for text in [
            "/* confiture:destructive */\nDROP TABLE t;\n",
            "SELECT '-- confiture:destructive';\n",
            "-- confiture:destructively\nDROP TABLE t;\n",
        ] {
            assert!(!parse(text).destructive, "{text}");
        }
    }

    /// confiture (Python)'s `migrate squash` heads its baseline with its own marker: read, with
    /// the version it squashed through, never an unknown marker (C190); without a readable
    /// `through=` it is malformed, never silently taken.
    #[test]
    fn confiture_s_squashed_baseline_header_is_read_with_its_through_version() {
        let text = "-- confiture:squashed-baseline through=003 versions=3 digest=8ff6c4\n--\n\
                    -- PostgreSQL database dump\n--\nCREATE TABLE public.t1 (id integer);\n";
        let m = parse(text);
        assert_eq!(m.squashed_through, Some(3));
        assert_eq!(m.squashed_baseline_at.as_ref().map(|p| p.line), Some(1));
        assert_eq!(m.problems, vec![]);
        let m = parse("-- confiture:squashed-baseline through=20260101000000\nSELECT 1;\n");
        assert_eq!(m.squashed_through, Some(20_260_101_000_000));
        for text in [
            "-- confiture:squashed-baseline\nSELECT 1;\n",
            "-- confiture:squashed-baseline versions=3\nSELECT 1;\n",
            "-- confiture:squashed-baseline through=abc\nSELECT 1;\n",
            "-- confiture:squashed-baseline through=\nSELECT 1;\n",
        ] {
            let m = parse(text);
            assert_eq!(m.squashed_through, None, "{text}");
            assert!(
                matches!(
                    m.problems[..],
                    [MarkerProblem {
                        kind: MarkerProblemKind::Malformed { .. },
                        ..
                    }]
                ),
                "{text}: {:?}",
                m.problems
            );
        }
    }

    #[test]
    fn malformed_allow_is_a_problem_not_an_allow() {
        for text in [
            "-- confiture:allow(drop-table\n",
            "-- confiture:allow()\n",
            "-- confiture:allow drop-table\n",
        ] {
            let m = parse(text);
            assert!(m.allows.is_empty(), "{text}");
            assert!(
                matches!(
                    m.problems[..],
                    [MarkerProblem {
                        at: Place { line: 1, .. },
                        kind: MarkerProblemKind::Malformed { .. }
                    }]
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn markers_after_the_first_statement_are_misplaced_but_strings_are_not_markers() {
        let text = "SELECT '-- confiture:no-transaction';\n-- confiture:no-transaction  \n/* confiture:irreversible */\n";
        let m = parse(text);
        assert!(!m.no_transaction);
        let marker = text.find("-- confiture:no-transaction\x20").unwrap();
        // In a block comment: the marker itself, on its own line.
        let block = text.find("confiture:irreversible").unwrap();
        assert_eq!(
            m.problems,
            vec![
                MarkerProblem {
                    at: Place {
                        line: 2,
                        range: marker..marker + "-- confiture:no-transaction".len()
                    },
                    kind: MarkerProblemKind::AfterFirstStatement {
                        directive: "no-transaction".into()
                    }
                },
                MarkerProblem {
                    at: Place {
                        line: 3,
                        range: block..block + "confiture:irreversible".len()
                    },
                    kind: MarkerProblemKind::InBlockComment {
                        directive: "irreversible".into()
                    }
                },
            ]
        );
    }

    /// The word after the first statement is found in any case, as the directive is read: a
    /// destructive gate or a misplaced marker spelt `ConFiture` was passed over (the quick look
    /// for the word knew two spellings only), turning confiture's gate off in silence.
    #[test]
    fn marker_words_after_the_first_statement_are_found_in_any_case() {
        for spelling in ["ConFiture", "CONFiture", "confiTURE", "cOnFiTuRe"] {
            let text = format!("SELECT 1;\n-- {spelling}:destructive\nDROP TABLE t;\n");
            assert!(parse(&text).destructive, "{text}");
            let text = format!("SELECT 1;\n-- {spelling}:no-transaction\n");
            let m = parse(&text);
            assert!(
                matches!(
                    &m.problems[..],
                    [MarkerProblem {
                        at: Place { line: 2, .. },
                        kind: MarkerProblemKind::AfterFirstStatement { directive },
                    }] if directive == "no-transaction"
                ),
                "{text}: {:?}",
                m.problems
            );
            let text = format!("SELECT 1;\n/* {spelling}:irreversible */\n");
            assert!(
                matches!(
                    &parse(&text).problems[..],
                    [MarkerProblem {
                        kind: MarkerProblemKind::InBlockComment { .. },
                        ..
                    }]
                ),
                "{text}"
            );
        }
    }

    /// The suggestion for a mistyped marker is the one every "did you mean" gives (markers used
    /// to allow two edits in a four-letter word where workspace and environment keys allowed one).
    #[test]
    fn a_mistyped_marker_gets_the_suggestion_every_suggester_gives() {
        for (typo, expected) in [
            ("no_transaction", Some("no-transaction")),
            ("No-Transacton", Some("no-transaction")),
            ("irreversable", Some("irreversible")),
            ("alow", Some("allow")),
            ("alwo", None),
            ("vacuum", None),
        ] {
            let m = parse(&format!("-- confiture:{typo}\nSELECT 1;\n"));
            let suggestion = match &m.problems[..] {
                [MarkerProblem {
                    kind: MarkerProblemKind::Unknown { suggestion, .. },
                    ..
                }] => *suggestion,
                other => panic!("{typo}: {other:?}"),
            };
            assert_eq!(suggestion, expected, "{typo}");
            assert_eq!(suggestion, did_you_mean(typo, DIRECTIVES.iter().copied()));
        }
    }

    #[test]
    fn ordinary_comments_mentioning_confiture_are_not_markers() {
        let m = parse("-- confiture runs this in a transaction\n-- see confiture docs\nSELECT 1; -- confiture rocks\n");
        assert_eq!(m, Markers::default());
    }
}
