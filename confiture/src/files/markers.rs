//! `-- confiture:...` markers in a migration file's leading comment block:
//! `no-transaction`, `irreversible`, `allow(<rule-name>, ...)`.
//!
//! The leading block is everything before the first statement: blank lines and comments.
//! Markers are `--` line comments there, one per line, optionally followed by free text after
//! whitespace (`-- confiture:irreversible the data is gone`). Anything that looks like a marker
//! but is not one — an unknown directive, a malformed `allow`, a marker after the first
//! statement or inside a block comment — is recorded in [`Markers::problems`] so that the
//! rules report it: a typo must never silently turn a marker off.

use super::lexer::{self, TokenKind};

/// The directives confiture understands.
pub const DIRECTIVES: &[&str] = &["no-transaction", "irreversible", "allow"];

/// The markers found in a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markers {
    pub no_transaction: bool,
    pub irreversible: bool,
    /// Rule names from `-- confiture:allow(<rule>)`, with the 1-based line of each.
    pub allows: Vec<(String, u32)>,
    /// Lines of the `no-transaction` markers (the first is reported when it is not needed).
    pub no_transaction_line: Option<u32>,
    /// Line of the `irreversible` marker.
    pub irreversible_line: Option<u32>,
    /// Marker-looking comments that were not understood, in line order.
    pub problems: Vec<MarkerProblem>,
}

/// A comment that looks like a marker but is not taken as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerProblem {
    /// 1-based line of the comment.
    pub line: u32,
    pub kind: MarkerProblemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerProblemKind {
    /// `-- confiture:no_transaction`: not a directive; `suggestion` is the closest one.
    Unknown {
        directive: String,
        suggestion: Option<&'static str>,
    },
    /// `-- confiture:allow(` without a closing parenthesis, an empty list, or text glued to
    /// the directive.
    Malformed {
        comment: String,
        reason: &'static str,
    },
    /// A marker after the first statement: markers are only read from the leading block.
    AfterFirstStatement { directive: String },
    /// `/* confiture:... */`: markers are only read from `--` comments.
    InBlockComment,
}

/// Reads the markers from `text`.
pub fn parse(text: &str) -> Markers {
    let mut markers = Markers::default();
    let bytes = text.as_bytes();
    let mut line = 1u32;
    let mut line_pos = 0usize;
    let mut line_at = |offset: usize| {
        line += u32::try_from(
            bytes[line_pos..offset]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
        )
        .unwrap_or(0);
        line_pos = offset;
        line
    };
    let mut leading_end = text.len();
    for token in lexer::tokens(text) {
        match token.kind {
            TokenKind::LineComment => {
                if let Some(directive) = directive_text(token.text) {
                    let line = line_at(token.start);
                    read_marker(directive, token.text, line, &mut markers);
                }
            }
            TokenKind::BlockComment => {
                if looks_like_marker_anywhere(token.text) {
                    let line = line_at(token.start);
                    markers.problems.push(MarkerProblem {
                        line,
                        kind: MarkerProblemKind::InBlockComment,
                    });
                }
            }
            TokenKind::Whitespace => {}
            _ => {
                leading_end = token.start;
                break;
            }
        }
    }
    // After the leading block, markers are misplaced. Looking for them means lexing the rest of
    // the file, so first check cheaply whether the word appears at all.
    let rest = &text[leading_end..];
    if rest.contains("onfiture") || rest.contains("ONFITURE") {
        for token in lexer::tokens(rest) {
            let offset = leading_end + token.start;
            match token.kind {
                TokenKind::LineComment => {
                    if let Some(directive) = directive_text(token.text) {
                        let line = line_at(offset);
                        let name = directive_name(directive).to_string();
                        markers.problems.push(MarkerProblem {
                            line,
                            kind: MarkerProblemKind::AfterFirstStatement { directive: name },
                        });
                    }
                }
                TokenKind::BlockComment if looks_like_marker_anywhere(token.text) => {
                    let line = line_at(offset);
                    markers.problems.push(MarkerProblem {
                        line,
                        kind: MarkerProblemKind::InBlockComment,
                    });
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

fn looks_like_marker_anywhere(comment: &str) -> bool {
    let bytes = comment.as_bytes();
    bytes
        .windows(10)
        .any(|w| w[..9].eq_ignore_ascii_case(b"confiture") && w[9] == b':')
}

fn directive_name(directive: &str) -> &str {
    let end = directive
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(directive.len());
    &directive[..end]
}

fn read_marker(directive: &str, comment: &str, line: u32, markers: &mut Markers) {
    let name = directive_name(directive);
    let rest = &directive[name.len()..];
    let malformed = |reason| MarkerProblem {
        line,
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
                markers.no_transaction_line.get_or_insert(line);
            } else {
                markers.irreversible = true;
                markers.irreversible_line.get_or_insert(line);
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
                .extend(names.into_iter().map(|n| (n.to_string(), line)));
        }
        _ => markers.problems.push(MarkerProblem {
            line,
            kind: MarkerProblemKind::Unknown {
                directive: name.to_string(),
                suggestion: did_you_mean(name, DIRECTIVES.iter().copied()),
            },
        }),
    }
}

/// The candidate closest to `word` (ASCII case-insensitive, `_` same as `-`), if close enough
/// to be a plausible typo.
pub fn did_you_mean<'c>(word: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    let normal = |s: &str| -> Vec<u8> {
        s.bytes()
            .map(|b| {
                if b == b'_' {
                    b'-'
                } else {
                    b.to_ascii_lowercase()
                }
            })
            .collect()
    };
    let word = normal(word);
    let limit = (word.len() / 3).max(2);
    candidates
        .map(|c| (edit_distance(&word, &normal(c)), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_markers_of_the_leading_block() {
        let m = parse(
            "-- add an index\n\n-- confiture:no-transaction\n--confiture:allow(drop-table, rename-column)  because\n\
             /* license */\n-- confiture:irreversible the data is gone\nCREATE INDEX CONCURRENTLY i ON t (a);\n",
        );
        assert!(m.no_transaction && m.irreversible);
        assert_eq!(m.no_transaction_line, Some(3));
        assert_eq!(m.irreversible_line, Some(6));
        assert_eq!(
            m.allows,
            vec![
                ("drop-table".to_string(), 4),
                ("rename-column".to_string(), 4)
            ]
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
                MarkerProblemKind::Unknown { suggestion, .. } => (*suggestion, p.line),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            suggestions,
            vec![(Some("no-transaction"), 1), (Some("irreversible"), 2)]
        );
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
                        line: 1,
                        kind: MarkerProblemKind::Malformed { .. }
                    }]
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn markers_after_the_first_statement_are_misplaced_but_strings_are_not_markers() {
        let m = parse("SELECT '-- confiture:no-transaction';\n-- confiture:no-transaction\n/* confiture:irreversible */\n");
        assert!(!m.no_transaction);
        assert_eq!(
            m.problems,
            vec![
                MarkerProblem {
                    line: 2,
                    kind: MarkerProblemKind::AfterFirstStatement {
                        directive: "no-transaction".into()
                    }
                },
                MarkerProblem {
                    line: 3,
                    kind: MarkerProblemKind::InBlockComment
                },
            ]
        );
    }

    #[test]
    fn ordinary_comments_mentioning_confiture_are_not_markers() {
        let m = parse("-- confiture runs this in a transaction\n-- see confiture docs\nSELECT 1; -- confiture rocks\n");
        assert_eq!(m, Markers::default());
    }

    #[test]
    fn did_you_mean_finds_plausible_typos_only() {
        let rules = ["drop-table", "drop-column", "rename-table"];
        assert_eq!(
            did_you_mean("drop_tabel", rules.iter().copied()),
            Some("drop-table")
        );
        assert_eq!(
            did_you_mean("DROP-COLUMNS", rules.iter().copied()),
            Some("drop-column")
        );
        assert_eq!(did_you_mean("vacuum", rules.iter().copied()), None);
    }
}
