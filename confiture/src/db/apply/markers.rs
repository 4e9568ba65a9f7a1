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
/// `PREPARE confiture_at_<nonce>_<step>_<k> AS SELECT` and deallocates marker `k - 2` (after
/// the first, it prepares a spare marker `0` too, which the second deallocates): two markers
/// are alive between statements, at the same two statements per statement as one alive. A
/// prepared statement is session state that a rollback does not undo, so after an error the
/// newest marker left
/// names the last statement that completed; the failing one is the next. A statement that
/// drops the session's prepared statements where the file does not say so (`EXECUTE
/// 'DEALLOC' || 'ATE ALL'`) fails the `DEALLOCATE` of ours right after it, and leaves its own
/// marker without the one before it ([`dropped_by`]).
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

/// The two row markers of a transactional step whose tracking table has triggers that fire on
/// its row ([`super::ApplySettings::ledger_triggers`]), placed around the ledger row's write,
/// named as statement markers are with a word for the statement number, so that the session's
/// drop of a migration's prepared statements keeps them and [`completed_statements`] never
/// counts them. Together with the body's markers they tell where a failed transaction stopped
/// ([`reached`]): in the body, in the row's write (a trigger of the tracking table), or after
/// the row — at `COMMIT`, where a deferred constraint of the migration's fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RowMarker {
    /// Before the row's `INSERT` (up) or `DELETE` (down), after the statement that resets the
    /// role and sets our timeouts for it: the body completed. Placed only where the body
    /// carries no markers of its own ([`pieces`] is `None`); its last marker says as much.
    Begun,
    /// Right after the row's write, before the checks of the ledger and the `COMMIT`.
    Written,
}

impl RowMarker {
    const ALL: [RowMarker; 2] = [RowMarker::Begun, RowMarker::Written];

    fn word(self) -> &'static str {
        match self {
            RowMarker::Begun => "row",
            RowMarker::Written => "written",
        }
    }

    /// The marker's name for the step tagged `tag` (`<nonce>_<step>`).
    pub(super) fn name(self, tag: &str) -> String {
        format!("{STATEMENT_MARKER}{tag}_{}", self.word())
    }

    /// The statement that leaves the marker in the session.
    pub(super) fn prepare(self, tag: &str) -> String {
        format!("PREPARE {} AS SELECT;", self.name(tag))
    }

    fn left(self, markers: &[String], tag: &str) -> bool {
        let name = self.name(tag);
        markers.contains(&name)
    }
}

/// Where a failed transactional step stopped, by the markers left in the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reached {
    /// In the body, or nothing says otherwise: the migration's failure.
    Body,
    /// Every statement of the body completed, and the row's write had not: what failed is the
    /// engine's SQL before the row, or the row's write (a trigger of the tracking table).
    Row,
    /// The row was written ([`RowMarker::Written`]): what failed is the checks after it or the
    /// `COMMIT` (a deferred constraint, of the migration's or a constraint trigger of the
    /// tracking table).
    Commit,
}

/// Where the step tagged `tag` stopped, from the `markers` left in the session after `error`
/// (`last_too` as the body was sent, [`pieces`]). An error the server placed in the message
/// is located from there: [`Reached::Body`].
pub(super) fn reached(
    step: &Step<'_>,
    error: &postgres::Error,
    markers: &[String],
    tag: &str,
    last_too: bool,
) -> Reached {
    let Some(db) = error.as_db_error() else {
        return Reached::Body;
    };
    if super::script::placed_in_message(db) {
        return Reached::Body;
    }
    if dropped_by(step, error, markers, tag, last_too, None).is_some() {
        return Reached::Body;
    }
    if last_too && RowMarker::Written.left(markers, tag) {
        return Reached::Commit;
    }
    let completed = match pieces(step.file(), last_too) {
        Some(pieces) => completed_statements(markers, tag) >= pieces.len(),
        None => last_too && RowMarker::Begun.left(markers, tag),
    };
    if completed {
        Reached::Row
    } else {
        Reached::Body
    }
}

/// The statements that drop the step's markers once its transaction is over: the body's
/// last (`body`, as [`super::Script::push_marked_body`] returned it) and its row markers
/// (`row_markers`: [`RowMarker::Begun`] when the body carries none, and
/// [`RowMarker::Written`]).
pub(super) fn deallocate_markers(tag: &str, body: Option<usize>, row_markers: bool) -> String {
    let mut sql = String::new();
    if let Some(n) = body {
        // The last two are alive ([`STATEMENT_MARKER`]); one statement has one.
        sql.push_str(&format!(" DEALLOCATE {};", marker_name(tag, n)));
        if n >= 2 {
            sql.push_str(&format!(" DEALLOCATE {};", marker_name(tag, n - 1)));
        }
    }
    if row_markers {
        for marker in RowMarker::ALL {
            if marker == RowMarker::Begun && body.is_some() {
                continue;
            }
            sql.push_str(&format!(" DEALLOCATE {};", marker.name(tag)));
        }
    }
    sql
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

/// The statements that follow statement `k` (1-based) of a body cut in `count` pieces: its
/// marker, and the drop of the one two statements back — of the spare marker `0`, prepared
/// with the first statement's, after the second — so that two are alive between statements
/// and a statement that dropped them fails the `DEALLOCATE` right after it ([`dropped_by`]).
pub(super) fn after_statement(tag: &str, k: usize, count: usize) -> String {
    let mut sql = format!("PREPARE {} AS SELECT;", marker_name(tag, k));
    match k {
        1 if count >= 2 => sql.push_str(&format!(" PREPARE {} AS SELECT;", marker_name(tag, 0))),
        1 => {}
        _ => sql.push_str(&format!(" DEALLOCATE {};", marker_name(tag, k - 2))),
    }
    sql
}

/// The SQLSTATE of a prepared statement that does not exist (`invalid_sql_statement_name`):
/// what a `DEALLOCATE` or `EXECUTE` of ours gets when the migration dropped it.
const NO_SUCH_PREPARED_STATEMENT: &str = "26000";

/// The statement of the step tagged `tag` that dropped the engine's own prepared statements
/// (a `DEALLOCATE ALL` the file's SQL does not say, [`says_deallocate`]: built at run time, or
/// in a function it calls), when `error` is one of ours finding a prepared statement gone and
/// the statements `left` in the session say so:
/// - its marker `k` is left without marker `k - 1` ([`after_statement`]: two are alive
///   between statements, and the statement's own is prepared before the `DEALLOCATE` that
///   failed) — statement `k`, which dropped them;
/// - or `row` (the message's prepared ledger row, [`super::sql::prepared_row`], when it had
///   one and what was left is known) is gone while the markers are whole: a drop in the
///   second statement or later would have failed at a marker, so the first statement (or the
///   only one) dropped it; a file without markers says no statement.
///
/// `None` when nothing says a statement dropped them. Decided from the session's data and the
/// SQLSTATE, never from the server's message.
pub(super) fn dropped_by(
    step: &Step<'_>,
    error: &postgres::Error,
    markers: &[String],
    tag: &str,
    last_too: bool,
    row: Option<&str>,
) -> Option<Dropped> {
    let db = error.as_db_error()?;
    if db.code().code() != NO_SUCH_PREPARED_STATEMENT {
        return None;
    }
    let pieces = pieces(step.file(), last_too);
    let statement = |k: usize| {
        let line = match &pieces {
            Some(pieces) => pieces.get(k - 1)?.line,
            None => step.file().statements.get(k - 1)?.line,
        };
        let count = pieces
            .as_ref()
            .map_or(step.file().statements.len(), Vec::len);
        Some(Statement {
            index: k,
            count,
            line,
        })
    };
    if pieces.is_some() {
        if let Some(k) = dropped_at(markers, tag) {
            return Some(Dropped {
                statement: statement(k),
            });
        }
    }
    let row = row?;
    if markers.iter().any(|name| name == row) {
        return None;
    }
    let first = pieces.is_some() || step.file().statements.len() == 1;
    Some(Dropped {
        statement: first.then(|| statement(1)).flatten(),
    })
}

/// The statement (1-based) whose marker is left without the one before it ([`dropped_by`]):
/// it dropped the session's prepared statements, and our `DEALLOCATE` after it failed.
fn dropped_at(markers: &[String], tag: &str) -> Option<usize> {
    let k = completed_statements(markers, tag);
    (k >= 2 && !markers.contains(&marker_name(tag, k - 1))).then_some(k)
}

/// The engine's prepared statements were dropped by the step ([`dropped_by`]).
pub(super) struct Dropped {
    /// The statement that dropped them, when known.
    pub statement: Option<Statement>,
}

/// Whether a prepared statement's name is of a form the engine gives its own (a statement
/// marker, a prepared ledger row), so that a statement of the user's is never dropped.
pub(super) fn is_ours(name: &str) -> bool {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let marker = name.strip_prefix(STATEMENT_MARKER).is_some_and(|rest| {
        let parts: Vec<&str> = rest.split('_').collect();
        parts.len() == 3
            && digits(parts[0])
            && digits(parts[1])
            && (digits(parts[2]) || RowMarker::ALL.iter().any(|m| m.word() == parts[2]))
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

/// The file's SQL has `word` in it, in any case: in a token the server reads — a keyword or
/// identifier, quoted or not, a longer word, a string or a dollar-quoted body (a function's, a
/// `DO` block's `EXECUTE 'DEALLOCATE ALL'`, a `set_config('statement_timeout', ...)`) — never
/// in a comment, which the server does not run (the file's own lexer,
/// [`crate::files::lexer::tokens`], tells them apart). How the engine learns, without parsing
/// what a statement does, that a file cannot do something. Text without the word is not lexed.
pub(super) fn says(file: &SqlFile, word: &str) -> bool {
    use crate::text::mentions;
    mentions(&file.text, word)
        && crate::files::lexer::tokens(&file.text)
            .any(|token| !token.is_trivia() && mentions(token.text, word))
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
/// `standard_conforming_strings = on`, is where any session's server cuts it: not when a plain
/// `'...'` string of the file has a backslash (a session with `standard_conforming_strings =
/// off`, for instance from `ALTER ROLE ... SET`, reads a `'...\\'...'` string differently, so a
/// cut could fall inside one: [`Token::reads_otherwise_without_standard_strings`]); a backslash
/// elsewhere (`E'\n'`, a comment, a dollar-quoted body) reads the same under either setting.
/// Text without a backslash is not lexed. The one rule of whether the engine may send a file's
/// statements apart.
///
/// [`Token::reads_otherwise_without_standard_strings`]: crate::files::lexer::Token::reads_otherwise_without_standard_strings
pub(crate) fn cut_holds(file: &SqlFile) -> bool {
    !file.text.contains('\\')
        || !crate::files::lexer::tokens(&file.text)
            .any(|token| token.reads_otherwise_without_standard_strings())
}

/// A file's text between two statement markers: up to the end of one statement (the last
/// piece: to the end of the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Piece {
    pub range: Range<usize>,
    /// Line of the statement's first token: what a failure names.
    pub line: u32,
    /// Ends with its statement's `;`.
    pub terminated: bool,
}

/// A transactional file cut after each statement, where statement markers can go: two
/// statements or more, as the file was cut when read — or one, when `last_too` (the tracking
/// table has triggers that fire on the row, [`super::ApplySettings::ledger_triggers`]: the
/// marker after it tells a trigger's error on the row from the statement's). `None` — no markers — for a file with a
/// backslash in a plain `'...'` string ([`cut_holds`]: `standard_conforming_strings = off`, for
/// instance from `ALTER ROLE ... SET`, would make the server read it differently, so a cut
/// could fall inside one), one that says `DEALLOCATE` (`DEALLOCATE ALL` would drop a marker, and the next
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
    let last = statements.len() - 1;
    let mut start = 0;
    let mut pieces = Vec::with_capacity(statements.len());
    for (k, stmt) in statements.iter().enumerate() {
        let end = if k == last {
            text.len()
        } else {
            stmt.range.end
        };
        pieces.push(Piece {
            range: start..end,
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
    if let Some(dropped) = dropped_by(step, error, markers, tag, last_too, None) {
        return dropped.statement;
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
    fn a_file_says_a_word_in_its_sql_never_in_a_comment() {
        use crate::files::TransactionMode;
        let file = |text: &str| SqlFile::new("m.sql", text, TransactionMode::Transaction, false);
        for said in [
            "SET statement_timeout = 0;",
            "SET \"Statement_Timeout\" = 0;",
            "SELECT set_config('statement_timeout', '1ms', false);",
            "DO $$ BEGIN EXECUTE 'SET statement_timeout = 1'; END $$;",
            "-- a comment\nSET lock_timeout = 0; SET my.statement_timeout_x = 1;",
        ] {
            assert!(says(&file(said), "statement_timeout"), "{said}");
        }
        for unsaid in [
            "-- no statement_timeout here\nSELECT 1;",
            "/* statement_timeout /* nested */ */ SELECT 1;",
            "SELECT 1; -- statement_timeout",
            "SELECT 1;",
        ] {
            assert!(!says(&file(unsaid), "statement_timeout"), "{unsaid}");
        }
        let commented = file("-- DEALLOCATE\nSELECT 1;\nSELECT 2;\n");
        assert!(!says_deallocate(&commented));
        assert_eq!(pieces(&commented, false).map(|p| p.len()), Some(2));
    }

    /// A file whose cut holds has the same statements under `standard_conforming_strings =
    /// off` as the cut it was read with: a backslash in `E'...'`, a comment, a dollar quote or
    /// a quoted identifier keeps the statement markers (it took them away); one in a plain
    /// `'...'` string (also continued, or after `N`) does not.
    #[test]
    fn the_cut_holds_unless_a_plain_string_has_a_backslash() {
        use crate::files::lexer::{split_with, StandardConformingStrings};
        use crate::files::TransactionMode;
        let cuts = |text: &str, strings| {
            split_with(text, strings)
                .statements
                .iter()
                .map(|s| s.range.clone())
                .collect::<Vec<_>>()
        };
        let holds = [
            "SELECT 1; SELECT 2;",
            "INSERT INTO t VALUES (E'a\\'; b'); SELECT 'c';",
            "INSERT INTO t VALUES (e'\\\\'); SELECT 2;",
            "SELECT E'a'\n'\\'; b'; SELECT 2;",
            "-- it\\'s\nSELECT 'x'; /* \\' */ SELECT 2;",
            "SELECT $$\\'; x$$; SELECT $t$ \\ $t$;",
            "SELECT 1 AS \"a\\'b\"; SELECT 'c';",
        ];
        let breaks = [
            "SELECT 'a\\'; SELECT 2; --';",
            "SELECT 'a'\n'\\'; SELECT 2; --';",
            "SELECT N'a\\'; SELECT 2; --';",
            "SELECT '\\\\'; SELECT 2;",
        ];
        for text in holds {
            let file = SqlFile::new("m.sql", text, TransactionMode::Transaction, false);
            assert!(cut_holds(&file), "{text}");
            assert_eq!(
                cuts(text, StandardConformingStrings::On),
                cuts(text, StandardConformingStrings::Off),
                "{text}"
            );
            assert_eq!(pieces(&file, false).map(|p| p.len()), Some(2), "{text}");
        }
        for text in breaks {
            let file = SqlFile::new("m.sql", text, TransactionMode::Transaction, false);
            assert!(!cut_holds(&file), "{text}");
            assert_eq!(pieces(&file, false), None, "{text}");
        }
        let moved = "SELECT 'a\\'; SELECT 2; --';";
        assert_ne!(
            cuts(moved, StandardConformingStrings::On),
            cuts(moved, StandardConformingStrings::Off)
        );
    }

    /// Runs a body of `count` statements with its markers ([`after_statement`]) against a
    /// model of the session's prepared statements, statement `drop` (if any) dropping them
    /// all: what is left when our first `DEALLOCATE` fails, or after the body.
    fn left_after(count: usize, drop: Option<usize>) -> (Vec<String>, bool) {
        let mut alive: Vec<String> = Vec::new();
        for k in 1..=count {
            if drop == Some(k) {
                alive.clear();
            }
            for sql in after_statement("7_0", k, count).split(';') {
                let sql = sql.trim();
                if let Some(name) = sql.strip_prefix("PREPARE ") {
                    alive.push(name.trim_end_matches(" AS SELECT").to_string());
                } else if let Some(name) = sql.strip_prefix("DEALLOCATE ") {
                    let Some(at) = alive.iter().position(|n| n == name) else {
                        return (alive, true);
                    };
                    alive.remove(at);
                }
            }
        }
        (alive, false)
    }

    /// Two markers are alive between statements, at two statements per statement as with one
    /// alive (and the spare's two per body); a statement that drops them fails the
    /// `DEALLOCATE` right after it and is named by what is left; with none dropped (or the
    /// first statement's drop, before any marker of the body), what is left names the last
    /// statement completed, as before; the end drops exactly what is alive.
    #[test]
    fn two_markers_name_the_statement_that_dropped_them() {
        for count in 1..=6 {
            let per_statement: usize = (1..=count)
                .map(|k| after_statement("7_0", k, count).matches(';').count())
                .sum();
            let end = deallocate_markers("7_0", Some(count), false);
            // One `PREPARE` and one `DEALLOCATE` per statement, as with one marker alive, and
            // the spare's two for a body of several.
            assert_eq!(
                per_statement + end.matches(';').count(),
                2 * count + 2 * usize::from(count >= 2),
                "{count}"
            );
            let (alive, failed) = left_after(count, None);
            assert!(!failed);
            assert_eq!(completed_statements(&alive, "7_0"), count);
            assert_eq!(dropped_at(&alive, "7_0"), None);
            let mut ended: Vec<String> = end
                .split(';')
                .filter_map(|s| s.trim().strip_prefix("DEALLOCATE ").map(str::to_string))
                .collect();
            ended.sort();
            let mut alive = alive;
            alive.sort();
            assert_eq!(ended, alive, "{count}");
            for drop in 1..=count {
                let (left, failed) = left_after(count, Some(drop));
                if drop == 1 {
                    assert!(!failed, "{count} {drop}");
                    assert_eq!(dropped_at(&left, "7_0"), None);
                } else {
                    assert!(failed, "{count} {drop}");
                    assert_eq!(
                        dropped_at(&left, "7_0"),
                        Some(drop),
                        "{count} {drop}: {left:?}"
                    );
                }
            }
            // A failure of statement `k` itself leaves what was alive before it.
            for k in 1..=count {
                let (left, _) = left_after(k - 1, None);
                if k >= 2 {
                    assert_eq!(dropped_at(&left, "7_0"), None, "{count} {k}");
                    assert_eq!(completed_statements(&left, "7_0"), k - 1);
                }
            }
        }
    }

    #[test]
    fn only_names_of_our_forms_are_ours() {
        for ours in [
            "confiture_at_7_0_3",
            "confiture_at_7_0_row",
            "confiture_at_7_0_written",
            "confiture_row_12",
            "confiture_row_12_next",
            "confiture_row_12_role",
        ] {
            assert!(is_ours(ours), "{ours}");
        }
        for theirs in [
            "confiture_at_7_0",
            "confiture_at_7_0_x",
            "confiture_at_7_row_0",
            "confiture_row_",
            "confiture_row_1_other",
            "confiture_mine",
            "my_stmt",
        ] {
            assert!(!is_ours(theirs), "{theirs}");
        }
    }
}
