//! Statement markers: which statement of a transactional migration failed, read from the session
//! after the failure, without running the migration again.

use std::ops::Range;

use super::Step;
use crate::files::SqlFile;

/// Statement markers: how the engine knows which statement of a transactional migration failed
/// when the server's error has no position (a runtime error: division by zero, a unique
/// violation, a `RAISE`), without ever running the migration's SQL again.
///
/// After the `k`-th statement of a migration of several, the message carries
/// `PREPARE confiture_at_<nonce>_<step>_<k> AS SELECT` (and deallocates marker `k - 1`). A
/// prepared statement is session state that a rollback does not undo, so after an error the
/// one marker left names the last statement that completed; the failing one is the next.
/// Exact: nothing a migration sets (`client_min_messages`, roles, `search_path`) hides it, it
/// needs no privilege and writes nothing, and the server parses `SELECT` with no table. A
/// notice per statement would be hidden by `client_min_messages = error`; a count of the
/// statements completed would need the raw message stream that the `postgres` driver drops
/// on error. Single-statement migrations need none and carry none.
pub(super) const STATEMENT_MARKER: &str = "confiture_at_";

/// The name of marker `k` of the step tagged `tag` (`<nonce>_<step>`): lowercase ASCII,
/// digits and `_`, so it needs no quoting.
pub(super) fn marker_name(tag: &str, k: usize) -> String {
    format!("{STATEMENT_MARKER}{tag}_{k}")
}

/// How many statements of the step tagged `tag` completed, from the markers left in the
/// session after a failure (0 when none is left: the first statement failed).
pub(super) fn completed_statements(markers: &[String], tag: &str) -> usize {
    let prefix = format!("{STATEMENT_MARKER}{tag}_");
    markers
        .iter()
        .filter_map(|name| name.strip_prefix(&prefix)?.parse::<usize>().ok())
        .max()
        .unwrap_or(0)
}

/// Whether a prepared statement's name is of a form the engine gives its own (a statement
/// marker, a prepared ledger row), so that a statement of the user's is never dropped.
pub(super) fn is_ours(name: &str) -> bool {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let marker = name.strip_prefix(STATEMENT_MARKER).is_some_and(|rest| {
        let parts: Vec<&str> = rest.split('_').collect();
        parts.len() == 3 && parts.iter().all(|p| digits(p))
    });
    let row = name.strip_prefix("confiture_row_").is_some_and(|rest| {
        let nonce = ["_next", "_role"]
            .iter()
            .find_map(|suffix| rest.strip_suffix(suffix))
            .unwrap_or(rest);
        digits(nonce)
    });
    marker || row
}

/// The file's text has `word` in it, in any case, anywhere (in a string, a comment, a longer
/// word): how the engine learns, without parsing, that a file cannot do something.
pub(super) fn says(file: &SqlFile, word: &str) -> bool {
    crate::text::mentions(&file.text, word)
}

/// [`says`] in a file's text already lowered, for several words: `word` is lower case.
pub(super) fn says_in(lowercase: &str, word: &str) -> bool {
    lowercase.contains(word)
}

/// The file says `DEALLOCATE`: it may drop the session's prepared statements, ours too, so it
/// gets none that must outlive it.
pub(super) fn says_deallocate(file: &SqlFile) -> bool {
    says(file, "deallocate")
}

/// Whether the cut of `file` into statements, made when it was read with PostgreSQL's default
/// `standard_conforming_strings = on`, is where any session's server cuts it: not when the file
/// has a backslash (a session with `standard_conforming_strings = off`, for instance from
/// `ALTER ROLE ... SET`, reads a `'...\\'...'` string differently, so a cut could fall inside
/// one). The one rule of whether the engine may send a file's statements apart.
pub(crate) fn cut_holds(file: &SqlFile) -> bool {
    !file.text.contains('\\')
}

/// A file's text between two statement markers: up to the end of one statement (the last
/// piece: to the end of the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Piece {
    pub range: Range<usize>,
    /// Line and column where the piece starts.
    pub start_line: u32,
    pub start_column: u32,
    /// Line of the statement's first token: what a failure names.
    pub line: u32,
    /// Ends with its statement's `;`.
    pub terminated: bool,
}

/// A transactional file cut after each statement, where statement markers can go: two
/// statements or more, as the file was cut when read — or one, when `last_too` (the tracking
/// table has triggers that fire on the row, [`super::ApplySettings::ledger_triggers`]: the
/// marker after it tells a trigger's error on the row from the statement's). `None` — no markers — for a file with a
/// backslash (`standard_conforming_strings = off`, for instance from `ALTER ROLE ... SET`,
/// would make the server read a `'...\'...'` string differently, so a cut could fall inside
/// one), one that says `DEALLOCATE` (`DEALLOCATE ALL` would drop a marker, and the next
/// `DEALLOCATE` of ours would fail), or one that says `statement_timeout` (a tiny one would
/// cancel a marker, failing a migration that would otherwise pass).
pub(super) fn pieces(file: &SqlFile, last_too: bool) -> Option<Vec<Piece>> {
    let text = &file.text;
    if !cut_holds(file) || says_deallocate(file) || says(file, "statement_timeout") {
        return None;
    }
    let statements = &file.statements;
    if statements.len() < 2 && !(last_too && statements.len() == 1) {
        return None;
    }
    let mut locator = crate::text::Locator::new(text);
    let last = statements.len() - 1;
    let mut start = 0;
    let mut pieces = Vec::with_capacity(statements.len());
    for (k, stmt) in statements.iter().enumerate() {
        let end = if k == last {
            text.len()
        } else {
            stmt.range.end
        };
        let (start_line, start_column) = if start == 0 {
            (1, 1)
        } else {
            locator.line_col(start)
        };
        pieces.push(Piece {
            range: start..end,
            start_line,
            start_column,
            line: stmt.line,
            terminated: stmt.terminated,
        });
        start = end;
    }
    Some(pieces)
}

/// Which statement of a transactional migration failed, when the server's error has no
/// position (a runtime error: `ALTER TABLE` on a missing table, a constraint violated by an
/// `UPDATE`): the one after the last statement marker left in the session (`markers`, the
/// step's tagged `tag`), or the only one. The migration's SQL is never run a second time to
/// find out — its side effects outside the transaction (`nextval`, `COPY ... TO PROGRAM`,
/// dblink) would happen twice. `None` when the file carried no markers (see [`pieces`]), or
/// when every statement completed: then our own SQL after the body failed.
pub(super) fn failed_statement(
    step: &Step<'_>,
    error: &postgres::Error,
    markers: &[String],
    tag: &str,
    last_too: bool,
) -> Option<Statement> {
    let db = error.as_db_error()?;
    // Placed by the server in the message: located from there. An internal position (inside a
    // function or `DO` body the statement ran) says nothing of which statement ran it.
    if super::script::placed_in_message(db) {
        return None;
    }
    if let Some(pieces) = pieces(step.file(), last_too) {
        let done = completed_statements(markers, tag);
        let piece = pieces.get(done)?;
        return Some(Statement {
            index: done + 1,
            count: pieces.len(),
            line: piece.line,
        });
    }
    match step.file().statements.as_slice() {
        [only] => Some(Statement {
            index: 1,
            count: 1,
            line: only.line,
        }),
        _ => None,
    }
}

/// Whether the statement markers left in the session (`markers`, the step's tagged `tag`) say
/// that every statement of the step's file completed before an error the server did not place
/// in the message: what failed then is the engine's own SQL after the body (its ledger row,
/// a trigger of the tracking table it fired) or the `COMMIT` (a deferred constraint). `false`
/// when the file carried no markers (see [`pieces`]; `last_too` as it was sent): nothing says.
pub(super) fn body_completed(
    step: &Step<'_>,
    error: &postgres::Error,
    markers: &[String],
    tag: &str,
    last_too: bool,
) -> bool {
    let Some(db) = error.as_db_error() else {
        return false;
    };
    if super::script::placed_in_message(db) {
        return false;
    }
    pieces(step.file(), last_too)
        .is_some_and(|pieces| completed_statements(markers, tag) >= pieces.len())
}

/// Which statement of a no-transaction file failed: 1-based index, count, first line.
pub(super) struct Statement {
    pub index: usize,
    pub count: usize,
    pub line: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_of_our_forms_are_ours() {
        for ours in [
            "confiture_at_7_0_3",
            "confiture_row_12",
            "confiture_row_12_next",
            "confiture_row_12_role",
        ] {
            assert!(is_ours(ours), "{ours}");
        }
        for theirs in [
            "confiture_at_7_0",
            "confiture_at_7_0_x",
            "confiture_row_",
            "confiture_row_1_other",
            "confiture_mine",
            "my_stmt",
        ] {
            assert!(!is_ours(theirs), "{theirs}");
        }
    }
}
