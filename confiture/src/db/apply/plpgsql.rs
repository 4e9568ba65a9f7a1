//! Where in its file a runtime error of a migration's `DO` block falls: the server places it
//! only in the PL/pgSQL context of the error (`PL/pgSQL function inline_code_block line 6 at
//! RAISE`), a line of the block's body, and, for an SQL statement of the body it could not
//! plan, a position in that statement's text. The block's statement alone said the block's
//! first line.

use postgres::error::{DbError, ErrorPosition};

use super::failure::statement_start;
use super::Location;
use crate::files::{SqlFile, StatementSpan};

/// The name PL/pgSQL gives a `DO` block's body in the context of an error (a function's is
/// its signature, with parentheses; the compiler's, quoted).
const INLINE: &str = "inline_code_block";

/// A failure inside the `DO` block a migration's statement is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct InBlock {
    /// The file line the block begins on.
    pub block_line: u32,
    /// Where, in the file, the body's failing PL/pgSQL statement is (its line, and the
    /// column of the server's position in it when it gave one); where the block begins when
    /// the body's text is not the file's (a `'...'` body with escapes or doubled quotes): only
    /// the block's line is known then, never a line that may be wrong.
    pub at: Location,
}

/// Where `db`'s error falls in `span` of `file` when that statement is a PL/pgSQL `DO` block
/// and the error's outermost frame is the block's ([`body_line`]); `None` otherwise.
pub(super) fn in_do_block(file: &SqlFile, span: &StatementSpan, db: &DbError) -> Option<InBlock> {
    let where_ = db.where_()?;
    let line = body_line(where_)?;
    let statement = file.text.get(span.range.clone())?;
    let body = crate::files::rules::plpgsql_body(statement)?;
    // The server's position is in the text of the body's statement only when that statement
    // is the error's one frame; with more, it is in SQL the statement ran (a function's).
    let query = match db.position() {
        Some(ErrorPosition::Internal { position, query }) if !where_.contains('\n') => {
            Some((query.as_str(), *position))
        }
        _ => None,
    };
    let at = body
        .start
        .and_then(|start| {
            let body = span.range.start + start..span.range.end;
            locate(file, body, line, query, where_)
        })
        .unwrap_or_else(|| statement_start(file, span));
    Some(InBlock {
        block_line: span.line,
        at,
    })
}

/// The line of the body the error's outermost frame names: the context lists frames
/// innermost first, so the last line is the statement's own — a `DO` block's when it is the
/// anonymous block's frame. The first number after [`INLINE`], so that a context worded in
/// another `lc_messages` is read too; `None` when the last frame is anything else.
fn body_line(where_: &str) -> Option<u32> {
    let last = where_.rsplit('\n').next()?;
    let after = &last[last.find(INLINE)? + INLINE.len()..];
    if after.starts_with(['(', '"']) {
        return None;
    }
    let digits: String = after
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|&l| l >= 1)
}

/// Line `line` (1-based) of a PL/pgSQL body `text`, without its LF: the one rule of the lines
/// PL/pgSQL names (`plpgsql_location_to_lineno`), counted from the body's first character by
/// LF alone — a lone CR ends none, a CRLF's CR stands on the line it ends — where the file's
/// lines end as [`crate::text::is_line_break`] says. `None` past the body's last line.
fn server_line(text: &str, line: u32) -> Option<std::ops::Range<usize>> {
    let mut start = 0;
    for _ in 1..line {
        start += text[start..].find('\n')? + 1;
    }
    let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
    Some(start..end)
}

/// The place in `file` of line `line` of the body at `body` (bytes of the file, its closing
/// quote included): PL/pgSQL counts lines from the body's first character ([`server_line`]).
/// With `query`, the server's text of the failing statement and the 1-based character
/// position in it, the position when that text starts on the line (a `PERFORM`'s, which the
/// server runs as `SELECT`, found by the rest); else the line's first character that is not
/// blank, or, when the server's line holds several of the file's lines with text, the
/// statement `context` (the error's) names there ([`named_by_context`]).
fn locate(
    file: &SqlFile,
    body: std::ops::Range<usize>,
    line: u32,
    query: Option<(&str, u32)>,
    context: &str,
) -> Option<Location> {
    let text = file.text.get(body.clone())?;
    let std::ops::Range { start, end } = server_line(text, line)?;
    let on_line = |q: &str, position: u32| {
        let found = start + text[start..].find(q)?;
        let skip = usize::try_from(position.checked_sub(1)?).ok()?;
        let inside = q.char_indices().nth(skip)?.0;
        (found < end).then_some(found + inside)
    };
    let placed = query.and_then(|(q, position)| {
        on_line(q, position).or_else(|| {
            let rest = q.strip_prefix("SELECT ")?;
            on_line(rest, position.checked_sub(7)?)
        })
    });
    let at = match placed {
        Some(at) => at,
        None => {
            let blank = text[start..end].len() - text[start..end].trim_start().len();
            let first = start + blank;
            // PL/pgSQL counts the body's lines by LF alone; the file's end at a lone CR too
            // (`text::is_line_break`). The statement starts on the server's line, which may
            // then be several of the file's: with text on more than one after its first
            // character that is not blank, the context tells which, or nothing does (`None`:
            // the block's line).
            let rest = text[first..end].trim_end().len();
            if crate::text::count_line_breaks(text.as_bytes(), first..first + rest) > 0 {
                named_by_context(text, start..end, context)?
            } else {
                first
            }
        }
    };
    let (line, column) = crate::text::line_col(&file.text, body.start + at);
    Some(Location {
        path: file.path.clone(),
        line,
        column,
    })
}

/// The levels of a `RAISE` that raise no error.
const NOT_ERRORS: [&str; 5] = ["DEBUG", "LOG", "INFO", "NOTICE", "WARNING"];

/// Where, in the body `text`, the statement starts that the error's `context` names among
/// those starting on the server's line `line` (bytes of `text`): the one of the kind its
/// outermost frame ends with (`... line 1 at RAISE`, a `RAISE` of a level below `EXCEPTION`
/// left out), else the one of them (or of all, when none is of that kind) whose text an
/// inner frame quotes (`SQL statement "INSERT ..."`; a `PERFORM`'s as the `SELECT` the server
/// runs). `None` when none or several are: the line stays unknown.
fn named_by_context(text: &str, line: std::ops::Range<usize>, context: &str) -> Option<usize> {
    let frame = context.rsplit('\n').next()?;
    let inner = &context[..context.len() - frame.len()];
    let kind =
        (frame.split_whitespace().last()).filter(|w| w.bytes().all(|b| b.is_ascii_uppercase()));
    let words = |s: &std::ops::Range<usize>| {
        let mut words = text[s.clone()]
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty());
        (words.next().unwrap_or(""), words.next().unwrap_or(""))
    };
    let on_line: Vec<_> = crate::files::rules::plpgsql_statements(text)
        .into_iter()
        .filter(|s| line.contains(&s.start))
        .collect();
    let of_kind: Vec<_> = (on_line.iter())
        .filter(|s| {
            let (first, second) = words(s);
            kind.is_some_and(|k| first.eq_ignore_ascii_case(k))
                && !(first.eq_ignore_ascii_case("RAISE")
                    && NOT_ERRORS.iter().any(|l| second.eq_ignore_ascii_case(l)))
        })
        .cloned()
        .collect();
    if let [one] = of_kind.as_slice() {
        return Some(one.start);
    }
    let pool = if of_kind.is_empty() { on_line } else { of_kind };
    // Each quoted statement's text, the longest first: a shorter one found in the context is
    // part of the longer one's quote (`SELECT 1` of `"SELECT 1/0"`).
    let mut quoted: Vec<(usize, usize)> = (pool.iter())
        .filter_map(|s| {
            let statement = &text[s.clone()];
            let sql = match words(s).0.eq_ignore_ascii_case("PERFORM") {
                true => format!("SELECT {}", statement["PERFORM".len()..].trim_start()),
                false => statement.to_string(),
            };
            quotes(inner, &sql).then_some((sql.len(), s.start))
        })
        .collect();
    quoted.sort_unstable_by_key(|&(len, _)| std::cmp::Reverse(len));
    match quoted.as_slice() {
        [(longest, at), rest @ ..] if rest.first().is_none_or(|(next, _)| next < longest) => {
            Some(*at)
        }
        _ => None,
    }
}

/// Whether `context` quotes `sql`: between marks of any language (`"..."`, `»...«`), not as
/// the end of a longer statement (`SELECT 1/0` of `INSERT INTO t SELECT 1/0`).
fn quotes(context: &str, sql: &str) -> bool {
    let quote = |c: Option<char>| c.is_some_and(|c| !c.is_alphanumeric() && !c.is_whitespace());
    context.match_indices(sql).any(|(at, _)| {
        quote(context[..at].chars().next_back()) && quote(context[at + sql.len()..].chars().next())
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_file as sql_file;
    use super::*;

    #[test]
    fn the_outermost_frame_must_be_the_blocks() {
        assert_eq!(
            body_line("PL/pgSQL function inline_code_block line 6 at RAISE"),
            Some(6)
        );
        assert_eq!(
            body_line("SQL statement \"SELECT 1/0\"\nPL/pgSQL function inline_code_block line 3 at PERFORM"),
            Some(3)
        );
        assert_eq!(
            body_line("PL/pgSQL-Funktion inline_code_block Zeile 12 bei RAISE"),
            Some(12)
        );
        for other in [
            "PL/pgSQL function inline_code_block line 2 at RAISE\nSQL function \"f\" statement 1",
            "PL/pgSQL function inline_code_block() line 2 at RAISE",
            "compilation of PL/pgSQL function \"inline_code_block\" near line 1",
            "PL/pgSQL function f() line 4 at RAISE",
            "PL/pgSQL function inline_code_block",
        ] {
            assert_eq!(body_line(other), None, "{other}");
        }
    }

    fn at(file: &SqlFile, body: &str, line: u32, query: Option<(&str, u32)>) -> (u32, u32) {
        let start = file.text.find(body).unwrap();
        let l = locate(file, start..file.text.len(), line, query, "").unwrap();
        (l.line, l.column)
    }

    #[test]
    fn body_lines_count_from_the_opening_quote() {
        let file = sql_file(
            "SELECT 1;\nDO $x$\nBEGIN\n  PERFORM 1; INSERT INTO t VALUES (1);\nEND $x$;\n",
        );
        let body = "\nBEGIN";
        assert_eq!(at(&file, body, 3, None), (4, 3));
        assert_eq!(
            at(&file, body, 3, Some(("INSERT INTO t VALUES (1)", 13))),
            (4, 26)
        );
        assert_eq!(at(&file, body, 3, Some(("SELECT 1", 8))), (4, 11));
        // A text found only on a later line is not the statement's: the line's start.
        assert_eq!(at(&file, body, 2, Some(("INSERT", 1))), (3, 1));
        assert_eq!(locate(&file, 0..10, 9, None, ""), None);
    }

    /// PL/pgSQL's lines end at a LF alone (a lone-CR body is its line 1), the file's at a lone
    /// CR too: a server line holding two file lines with text names none of them (the block's
    /// line is said instead); blank file lines before the statement, a CRLF, a position the
    /// server gave, still place it.
    #[test]
    fn a_server_line_of_several_file_lines_is_placed_only_when_one_holds_text() {
        let file = sql_file("DO $x$\rBEGIN\r  PERFORM 1;\rEND $x$;\r");
        let body = "\rBEGIN";
        let start = file.text.find(body).unwrap();
        assert_eq!(locate(&file, start..file.text.len(), 1, None, ""), None);
        assert_eq!(at(&file, body, 1, Some(("SELECT 1", 8))), (3, 11));
        let file = sql_file("DO $x$\nBEGIN\n\r\r  PERFORM 1;\r\r\nEND $x$;\n");
        assert_eq!(at(&file, "\nBEGIN", 3, None), (5, 3));
        let file = sql_file("DO $x$\r\nBEGIN\r\n  PERFORM 1;\r\nEND $x$;\r\n");
        assert_eq!(at(&file, "\r\nBEGIN", 3, None), (3, 3));
    }

    /// A lone-CR body is one line of the server's: the statement the context names there.
    #[test]
    fn a_server_line_of_several_file_lines_is_placed_by_the_statement_the_context_names() {
        let body =
            "\rBEGIN\r  RAISE NOTICE 'n';\r  PERFORM 1/0;\r  INSERT INTO t\r  SELECT 1/0;\r  \
                    RAISE EXCEPTION 'x';\rEND ";
        let named = |context: &str| {
            let at = named_by_context(body, 0..body.len(), context)?;
            Some(crate::text::line_col(body, at))
        };
        let frame = "PL/pgSQL function inline_code_block line 1 at";
        assert_eq!(named(&format!("{frame} RAISE")), Some((7, 3)));
        assert_eq!(
            named(&format!("SQL statement \"SELECT 1/0\"\n{frame} PERFORM")),
            Some((4, 3))
        );
        assert_eq!(
            named(&format!(
                "SQL statement \"INSERT INTO t\r  SELECT 1/0\"\n{frame} SQL statement"
            )),
            Some((5, 3))
        );
        // Nothing names one: unknown.
        assert_eq!(named(&format!("{frame} SQL statement")), None);
        assert_eq!(named(&format!("{frame} ASSERT")), None);
        let perform = "\rBEGIN\r  PERFORM 1;\r  PERFORM 1/0;\rEND ";
        let context = format!("SQL statement \"SELECT 1/0\"\n{frame} PERFORM");
        let at = named_by_context(perform, 0..perform.len(), &context);
        assert_eq!(
            at.map(|at| crate::text::line_col(perform, at)),
            Some((4, 3))
        );
        let two = "\rBEGIN\r  RAISE EXCEPTION 'a';\r  RAISE EXCEPTION 'b';\rEND ";
        assert_eq!(
            named_by_context(two, 0..two.len(), &format!("{frame} RAISE")),
            None
        );
    }
}
