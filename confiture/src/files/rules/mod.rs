//! SQL lint rules over one migration file: codes `C100`–`C199`, one file per rule holding its
//! check, its [`RuleDoc`] and its tests.
//!
//! Errors (`C100`–`C109`) are what would fail or silently misbehave when the migration runs;
//! warnings (`C110`–`C189`) are what would hurt production while it runs, and can be allowed
//! per file with `-- confiture:allow(<rule-name>)`; `C190`–`C199` report the markers
//! themselves and cannot be allowed (`C194`, an `irreversible` marker a down file does not
//! read, is an error).

mod do_block;
mod settings;
mod syntax;

pub(crate) use other_direction_section::{
    sections as other_tool_sections, Section as OtherToolSection,
};
pub(crate) use settings::changes_only_the_session;

#[cfg(feature = "db")]
pub(crate) use do_block::{plpgsql_body, plpgsql_statements};
#[cfg(feature = "db")]
pub(crate) use own_backend_signal::{cancels_own_statement, ends_own_session};
#[cfg(feature = "db")]
pub(crate) use resets_timeouts::{
    bound_set_by, idle_session_ended_by, timeouts_turned_off, BoundSet, BoundTo,
    Finding as TimeoutFinding,
};
#[cfg(feature = "db")]
pub(crate) use server_wide::{server_wide, Effect};
#[cfg(feature = "db")]
pub(crate) use set_transaction::may_leave_read_only;
#[cfg(feature = "db")]
pub(crate) use syntax::{
    concurrently_created_index, concurrently_detached, concurrently_reindexed, created_index,
    dropped_indexes, Reindexed,
};

/// C101's help for a file of `kind` whose migration is applied here, or not, or unknown.
pub(crate) use requires_no_transaction::help as requires_no_transaction_help;

/// C101's code: the rule whose help depends on whether its migration is applied
/// ([`crate::files::help_applied_here`]).
pub(crate) fn requires_no_transaction_code() -> &'static str {
    requires_no_transaction::DOC.code
}

mod column_type_change;
mod constraint_without_not_valid;
mod copy_stdin_stdout;
mod drop_column;
mod drop_table;
mod index_without_concurrently;
mod invisible_character;
mod merge_conflict_marker;
mod misplaced_irreversible;
mod misplaced_marker;
mod no_transaction_multiple_statements;
mod not_null_without_default;
mod other_direction_section;
mod own_backend_signal;
mod psql_meta_command;
mod releases_migration_lock;
mod rename_column;
mod rename_table;
mod requires_no_transaction;
mod resets_timeouts;
mod server_wide;
mod session_advisory_lock;
mod set_transaction;
mod standard_conforming_strings;
mod transaction_control;
mod unknown_allow;
mod unknown_marker;
mod unneeded_no_transaction;
mod unterminated;
mod unused_allow;
mod writes_tracking_table;

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::ops::Range;
use std::path::Path;

use super::lexer::{self, Split, Statement, Token, TokenKind};
use super::markers::{self, Markers};
use super::{Direction, StatementSpan};
use crate::diagnostic::{Diagnostic, RuleDoc, Severity, Span};
use crate::text::{self, Locator};
use syntax::{Shape, TableName};

/// The SQL-level rules: codes `C100`–`C199`, in code order.
pub const SQL_RULES: &[RuleDoc] = &[
    transaction_control::DOC,
    requires_no_transaction::DOC,
    unneeded_no_transaction::DOC,
    psql_meta_command::DOC,
    copy_stdin_stdout::DOC,
    unterminated::DOC,
    standard_conforming_strings::DOC,
    releases_migration_lock::DOC,
    writes_tracking_table::DOC,
    set_transaction::DOC,
    index_without_concurrently::DOC,
    not_null_without_default::DOC,
    constraint_without_not_valid::DOC,
    column_type_change::DOC,
    drop_column::DOC,
    drop_table::DOC,
    rename_table::DOC,
    rename_column::DOC,
    no_transaction_multiple_statements::DOC,
    resets_timeouts::DOC,
    server_wide::DOC,
    session_advisory_lock::DOC,
    merge_conflict_marker::DOC,
    invisible_character::DOC,
    own_backend_signal::DOC,
    other_direction_section::DOC,
    unknown_marker::DOC,
    misplaced_marker::DOC,
    unknown_allow::DOC,
    unused_allow::DOC,
    misplaced_irreversible::DOC,
];

/// The rules that only apply to up files: a down file undoes the up file, so dropping what the
/// up file created (or renaming it back) is its purpose, not a hazard.
const UP_ONLY: &[&str] = &[
    drop_column::DOC.name,
    drop_table::DOC.name,
    rename_table::DOC.name,
    rename_column::DOC.name,
];

/// The rules about markers: they report `allow` itself, so `allow` cannot silence them.
const MARKER_RULES: &[&str] = &[
    unknown_marker::DOC.name,
    misplaced_marker::DOC.name,
    unknown_allow::DOC.name,
    unused_allow::DOC.name,
    misplaced_irreversible::DOC.name,
];

/// Every SQL-level problem in one file's text, sorted by line. `text` is the whole file (a
/// byte-order mark, if any, is left out of the SQL and counted in the spans' byte offsets).
/// The tracking table is the default one (`tb_confiture`).
pub fn check_sql(path: &Path, text: &str, kind: Direction) -> Vec<Diagnostic> {
    check_file(path, text, kind, crate::ledger::DEFAULT_TRACKING_TABLE).0
}

/// [`check_sql`], with the file's markers and statements: [`super::check`] reads them here,
/// once per file, from the split every rule sees.
/// `tracking_table` is the ledger's name without its schema.
pub(super) fn check_file(
    path: &Path,
    file_text: &str,
    kind: Direction,
    tracking_table: &str,
) -> (Vec<Diagnostic>, Markers, Vec<StatementSpan>) {
    let bom = text::bom_len(file_text);
    let text = &file_text[bom..];
    let split = lexer::split(text);
    let markers = markers::parse(text);
    let cx = Context {
        path,
        text,
        bom,
        locator: RefCell::new(Locator::new(file_text)),
        kind,
        split: &split,
        markers: &markers,
        tracking_table,
        mentioned: RefCell::default(),
        lowered: OnceCell::new(),
        spelled: OnceCell::new(),
    };
    let out = check_split(&cx);
    (out, markers, StatementSpan::of(&split, bom))
}

/// The rules over a file already split and its markers read: every rule sees the same split.
fn check_split(cx: &Context<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();

    unterminated::check(cx, &mut out);
    psql_meta_command::check(cx, &mut out);
    merge_conflict_marker::check(cx, &mut out);
    other_direction_section::check(cx, &mut out);
    invisible_character::check(cx, &mut out);
    unneeded_no_transaction::check(cx, &mut out);
    no_transaction_multiple_statements::check(cx, &mut out);
    unknown_marker::check(cx, &mut out);
    misplaced_marker::check(cx, &mut out);
    misplaced_irreversible::check(cx, &mut out);

    let mut new_tables: Vec<TableName<'_>> = Vec::new();
    let mut scratch = Vec::new();
    for stmt in &cx.split.statements {
        transaction_control::check(cx, stmt, &mut out);
        requires_no_transaction::check(cx, stmt, &mut out);
        copy_stdin_stdout::check(cx, stmt, &mut out);
        standard_conforming_strings::check(cx, stmt, &mut out);
        releases_migration_lock::check(cx, stmt, &mut out);
        writes_tracking_table::check(cx, stmt, &mut out);
        resets_timeouts::check(cx, stmt, &mut out);
        session_advisory_lock::check(cx, stmt, &mut out);
        set_transaction::check(cx, stmt, &mut out);
        server_wide::check(cx, stmt, &mut out);
        own_backend_signal::check(cx, stmt, &mut out);
        let shape = syntax::shape(stmt, &mut scratch);
        if matches!(shape, Shape::Other) {
            continue;
        }
        let s = StatementCx {
            stmt,
            shape: &shape,
            new_tables: &new_tables,
        };
        index_without_concurrently::check(cx, &s, &mut out);
        not_null_without_default::check(cx, &s, &mut out);
        constraint_without_not_valid::check(cx, &s, &mut out);
        column_type_change::check(cx, &s, &mut out);
        if cx.kind == Direction::Up {
            drop_column::check(cx, &s, &mut out);
            drop_table::check(cx, &s, &mut out);
            rename_table::check(cx, &s, &mut out);
            rename_column::check(cx, &s, &mut out);
        }
        record_new_tables(&shape, &mut new_tables);
    }

    let used = apply_allows(cx.markers, &mut out);
    unknown_allow::check(cx, &mut out);
    unused_allow::check(cx, &used, &mut out);
    out.sort_by(|a, b| (a.line, a.code).cmp(&(b.line, b.code)));
    out
}

/// Whether `text` spells `word` at all, in any ASCII case: the test a rule makes before it
/// reads a statement's tokens.
fn mentions(text: &str, word: &str) -> bool {
    text::mentions(text, word)
}

/// The text between the opening and closing tags of a dollar-quoted string (`$tag$...$tag$`):
/// a `DO` block's or a function's body, which rules read as SQL in turn.
fn dollar_body(text: &str) -> Option<&str> {
    let tag_len = text.get(1..)?.find('$')? + 2;
    text.get(tag_len..text.len().checked_sub(tag_len)?)
}

/// The code a literal may hold, which the rules about what a statement runs read as SQL in
/// turn ([`code_of`]).
pub(super) struct Code<'a> {
    /// The text the server runs: a dollar quote's body, a `'...'` string's value.
    pub(super) text: Cow<'a, str>,
    /// Where `text` starts in the file when its offsets are the file's (a dollar quote's body,
    /// a string without escapes); `None` when decoding moved them (`''`, `E'\n'`).
    at: Option<usize>,
    /// Where the literal starts in the file.
    literal: usize,
}

impl Code<'_> {
    /// The tokens of the code (no trivia), at their offsets in the file (a decoded string's
    /// all at the literal's start: its line is theirs).
    pub(super) fn tokens(&self) -> Vec<Token<'_>> {
        lexer::tokens(&self.text)
            .filter(|t| !t.is_trivia())
            .map(|t| Token {
                start: self.at.map_or(self.literal, |at| at + t.start),
                ..t
            })
            .collect()
    }

    /// The code `tokens[i]` (of [`Code::tokens`]) holds: [`code_of`] in a body, whose offsets
    /// are this code's literal's when this code's are not the file's.
    pub(super) fn nested<'c>(&self, tokens: &[Token<'c>], i: usize) -> Option<Code<'c>> {
        let mut code = code_of(tokens, i, true)?;
        if self.at.is_none() {
            code.at = None;
            code.literal = self.literal;
        }
        Some(code)
    }
}

/// `visit` applied to `tokens` (one statement's, no trivia; `false`: not in a body), then to
/// the tokens of each code they hold ([`code_of`]: a `DO` block's or a function's body, a
/// string in one), depth first, with `true`: the first answer it gives. The one walk of the
/// rules that look into bodies.
pub(super) fn in_code<T>(
    tokens: &[Token<'_>],
    visit: &mut dyn FnMut(&[Token<'_>], bool) -> Option<T>,
) -> Option<T> {
    fn walk<T>(
        tokens: &[Token<'_>],
        body: Option<&Code<'_>>,
        visit: &mut dyn FnMut(&[Token<'_>], bool) -> Option<T>,
    ) -> Option<T> {
        if let Some(found) = visit(tokens, body.is_some()) {
            return Some(found);
        }
        (0..tokens.len()).find_map(|i| {
            let code = match body {
                Some(outer) => outer.nested(tokens, i),
                None => code_of(tokens, i, false),
            }?;
            walk(&code.tokens(), Some(&code), visit)
        })
    }
    walk(tokens, None, visit)
}

/// The code `tokens[i]` holds, if it is a literal that may be code: the one reading of "a body"
/// for every rule that looks into bodies ([`in_code`], and `do_block` for the statements a
/// `DO` block runs). `tokens` are one statement's (no trivia), or one
/// body's when `in_body`. A dollar-quoted string anywhere (a `DO` block's or a function's body,
/// a value: conservative); a `'...'` string (also `E'...'` with its backslash escapes,
/// `U&'...'`, a continuation: [`syntax::string_value`]) that is a body — the code of a `DO`, what
/// follows `AS` in `CREATE [OR REPLACE] FUNCTION | PROCEDURE` — or is in a body, where
/// `EXECUTE` may run it. A string elsewhere is a value; `None` for it and any other token.
pub(super) fn code_of<'a>(tokens: &[Token<'a>], i: usize, in_body: bool) -> Option<Code<'a>> {
    let t = tokens.get(i)?;
    match t.kind {
        TokenKind::DollarString if t.terminated => {
            let body = dollar_body(t.text)?;
            let tag = (t.text.len() - body.len()) / 2;
            Some(Code {
                text: Cow::Borrowed(body),
                at: Some(t.start + tag),
                literal: t.start,
            })
        }
        TokenKind::String if in_body || is_body(tokens, i) => {
            let text = syntax::string_value(t)?;
            let at = match &text {
                // A borrowed value is the literal's text after its opening quote (and prefix).
                Cow::Borrowed(b) => {
                    Some(t.start + (b.as_ptr() as usize - t.text.as_ptr() as usize))
                }
                Cow::Owned(_) => None,
            };
            Some(Code {
                text,
                at,
                literal: t.start,
            })
        }
        _ => None,
    }
}

/// Whether the string `tokens[i]` of a statement is its code: `DO [LANGUAGE l] '...'`, and
/// `CREATE [OR REPLACE] FUNCTION | PROCEDURE ... AS '...'`.
fn is_body(tokens: &[Token<'_>], i: usize) -> bool {
    let before = |w: &str| i >= 1 && tokens[i - 1].is_word(w);
    if tokens.first().is_some_and(|t| t.is_word("DO")) {
        return !before("LANGUAGE");
    }
    let routine = match tokens {
        [create, or, replace, what, ..]
            if create.is_word("CREATE") && or.is_word("OR") && replace.is_word("REPLACE") =>
        {
            what
        }
        [create, what, ..] if create.is_word("CREATE") => what,
        _ => return false,
    };
    (routine.is_word("FUNCTION") || routine.is_word("PROCEDURE")) && before("AS")
}

/// Tables created earlier in the same migration are new: nobody else uses them yet, so
/// locking or rewriting them hurts no one.
fn record_new_tables<'a>(shape: &Shape<'a>, new_tables: &mut Vec<TableName<'a>>) {
    match shape {
        Shape::CreateTable { table } => new_tables.push(table.clone()),
        Shape::AlterTable { table, actions } if new_tables.iter().any(|t| t.same_as(table)) => {
            for action in actions {
                if let syntax::Action::RenameTable { to } = &action.item {
                    new_tables.push(to.clone());
                }
            }
        }
        _ => {}
    }
}

/// Removes the warnings the file allows; returns which allows were used.
fn apply_allows(markers: &Markers, out: &mut Vec<Diagnostic>) -> Vec<bool> {
    let mut used = vec![false; markers.allows.len()];
    out.retain(|d| {
        if !is_allowable(d.rule) {
            return true;
        }
        match markers.allows.iter().position(|(rule, _)| rule == d.rule) {
            Some(i) => {
                used[i] = true;
                false
            }
            None => true,
        }
    });
    used
}

/// Whether `-- confiture:allow(rule)` can silence the rule: the warnings of this module other
/// than the marker rules.
pub fn is_allowable(rule: &str) -> bool {
    SQL_RULES
        .iter()
        .any(|r| r.name == rule && r.severity == Severity::Warning)
        && !MARKER_RULES.contains(&rule)
}

/// Whether a renderer notes, after a diagnostic of `rule`, the `-- confiture:allow(rule)` that
/// silences it: for an allowable rule ([`is_allowable`]) whose help does not already tell it
/// ([`RuleDoc::help_names_allow`]).
pub fn allow_note(rule: &str) -> bool {
    is_allowable(rule)
        && !SQL_RULES
            .iter()
            .any(|r| r.name == rule && r.help_names_allow)
}

/// What every rule sees of the file.
struct Context<'a> {
    path: &'a Path,
    /// The file's text without its byte-order mark: what the rules read, and what the offsets
    /// they pass to [`Context::diagnostic`] are in.
    text: &'a str,
    /// The length of the byte-order mark the file starts with: spans count the file's bytes.
    bom: usize,
    /// Over the whole file's text; rules report roughly in file order, so it moves little.
    locator: RefCell<Locator<'a>>,
    kind: Direction,
    split: &'a Split<'a>,
    markers: &'a Markers,
    /// The ledger's name without its schema (`tb_confiture`, or the environment's).
    tracking_table: &'a str,
    /// The words rules asked about ([`Context::mentions`]), each with the answer: one search
    /// of the file per word, not one per statement.
    mentioned: RefCell<Mentioned<'a>>,
    /// The file's text in ASCII lower case, made once for every word asked about (of a file
    /// longer than [`text::mentions`] compares in place).
    lowered: OnceCell<String>,
    /// The characters the file's text holds ([`text::spelled_with`]), made once: most words
    /// asked about are ruled out by it without a search.
    spelled: OnceCell<u64>,
}

/// The answers of [`Context::mentions`]: the rules ask about a handful of words (set_config,
/// pg_settings, the unlock function, the tracking table, ...), each answered once per file
/// whatever their number — an answer not kept is a search of the whole file per statement,
/// which a 50 MB file's statements made hours of.
#[derive(Default)]
struct Mentioned<'a> {
    answers: Vec<(&'a str, bool)>,
}

impl<'a> Context<'a> {
    /// Whether the file spells `word` anywhere, in any ASCII case ([`text::mentions`]): one
    /// search of the whole file, so that a rule about a rare word costs a file that lacks it
    /// nothing per statement.
    fn mentions(&self, word: &'a str) -> bool {
        let known = self.mentioned.borrow();
        if let Some(&(_, answer)) = known.answers.iter().find(|(w, _)| *w == word) {
            return answer;
        }
        drop(known);
        let spelled = *self.spelled.get_or_init(|| text::spelled_with(self.text));
        let answer = if !text::may_spell(spelled, word) {
            false
        } else if self.text.len() <= text::COMPARED_IN_PLACE {
            text::mentions(self.text, word)
        } else {
            // Lowered once for every word asked about.
            let lowered = self.lowered.get_or_init(|| self.text.to_ascii_lowercase());
            lowered.contains(&word.to_ascii_lowercase())
        };
        self.mentioned.borrow_mut().answers.push((word, answer));
        answer
    }

    /// Whether `text` (a statement of the file, or a body or string in one) spells `word`, in
    /// any ASCII case: asked of the whole file first ([`Context::mentions`]), so that a file
    /// that lacks the word costs nothing per statement. The one test of a rule about a word.
    fn mentioned_in(&self, text: &str, word: &'a str) -> bool {
        self.mentions(word) && mentions(text, word)
    }

    /// A diagnostic about `range` (bytes of [`Context::text`]): its line and span.
    fn diagnostic(
        &self,
        doc: &RuleDoc,
        range: Range<usize>,
        message: String,
        help: String,
    ) -> Diagnostic {
        let range = range.start + self.bom..range.end + self.bom;
        let span = Span::locate(&mut self.locator.borrow_mut(), range);
        Diagnostic {
            code: doc.code,
            rule: doc.name,
            severity: doc.severity,
            path: self.path.to_path_buf(),
            line: Some(span.line),
            span: Some(span),
            message,
            help: Some(help),
            related: Vec::new(),
        }
    }
}

/// What the table rules see of one statement.
struct StatementCx<'s, 'a> {
    stmt: &'s Statement<'a>,
    shape: &'s Shape<'a>,
    /// Tables created by earlier statements of the file.
    new_tables: &'s [TableName<'a>],
}

impl StatementCx<'_, '_> {
    fn is_new(&self, table: &TableName<'_>) -> bool {
        self.new_tables.iter().any(|t| t.same_as(table))
    }

    /// The table and actions of an `ALTER TABLE` on a table that existed before this migration
    /// (the table rules' common start): `None` for other statements and for new tables.
    fn altered_existing_table(
        &self,
    ) -> Option<(&TableName<'_>, &[syntax::Located<syntax::Action<'_>>])> {
        match self.shape {
            Shape::AlterTable { table, actions } if !self.is_new(table) => {
                Some((table, actions.as_slice()))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod test_support {
    use std::path::Path;

    use super::{check_sql, Direction};

    /// `(code, line)` of every diagnostic for an up file.
    pub fn up(text: &str) -> Vec<(&'static str, u32)> {
        codes(text, Direction::Up)
    }

    pub fn down(text: &str) -> Vec<(&'static str, u32)> {
        codes(text, Direction::Down)
    }

    fn codes(text: &str, kind: Direction) -> Vec<(&'static str, u32)> {
        check_sql(Path::new("m.sql"), text, kind)
            .iter()
            .map(|d| (d.code, d.line.unwrap_or(0)))
            .collect()
    }

    /// `word` (ASCII, two characters at least) as every form of string constant the server
    /// reads as it: `'...'`, dollar quotes with and without a tag, `E'...'` and `U&'...'` with
    /// and without escapes (`UESCAPE` with a quoted and a dollar-quoted character), a
    /// continuation across a newline and a `--` comment. For the rules that read a constant's
    /// text (`syntax::constant_at`).
    pub fn quoted(word: &str) -> Vec<String> {
        let (first, rest) = word.split_at(1);
        let code = u32::from(first.as_bytes()[0]);
        let (a, b) = word.split_at(word.len() / 2);
        vec![
            format!("'{word}'"),
            format!("$${word}$$"),
            format!("$q${word}$q$"),
            format!("$_1${word}$_1$"),
            format!("E'{word}'"),
            format!("e'\\x{code:02x}{rest}'"),
            format!("E'\\{code:03o}{rest}'"),
            format!("E'\\u{code:04X}{rest}'"),
            format!("U&'{word}'"),
            format!("U&'\\{code:04x}{rest}'"),
            format!("u&'\\+{code:06x}{rest}'"),
            format!("U&'!{code:04x}{rest}' UESCAPE '!'"),
            format!("U&'*{code:04x}{rest}' uescape $$*$$"),
            format!("'{a}'\n'{b}'"),
            format!("E'{a}' -- c\n'{b}'"),
        ]
    }

    /// The one diagnostic of an up file (fails if there is not exactly one).
    pub fn only(text: &str) -> crate::Diagnostic {
        let mut all = check_sql(Path::new("m.sql"), text, Direction::Up);
        assert_eq!(all.len(), 1, "{all:#?}");
        all.remove(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// hxf: a byte-order mark in the middle of a file (`cat a.sql b.sql` of a file saved with
    /// one) or a zero-width space pasted into the SQL passed `lint` and the build check, and
    /// the server refused it (`syntax error at or near "\u{feff}CREATE"`, exit 4) after the
    /// migrations before it ran, or took it into a name (`cafe\u{200b}`).
    /// A lone CR (`\r` without `\n`) ends a `--` comment for PostgreSQL's scanner (`newline
    /// [\n\r]` in scan.l), and so for the rules: the statement after it, which a terminal
    /// may draw over the comment, is checked, on the line after the CR.
    #[test]
    fn a_lone_cr_ends_a_comment_as_the_server_reads_it() {
        use super::test_support::{down, up};
        assert_eq!(up("-- a note\rDROP TABLE a;\r"), [("C115", 2)]);
        assert_eq!(
            down("SELECT 1; -- x\rDELETE FROM tb_confiture;"),
            [("C108", 2)]
        );
        assert_eq!(up("SELECT 1;\n-- a note\r\\i other.sql\n"), [("C103", 3)]);
        // A CRLF is one line break.
        assert_eq!(up("-- a note\r\nDROP TABLE a;\r\n"), [("C115", 2)]);
        // In a string it is data: no comment ends there.
        assert_eq!(up("SELECT '-- a\rDROP TABLE a;';"), []);
    }

    #[test]
    fn an_invisible_character_in_the_sql_is_found_before_the_server_reads_it() {
        use super::test_support::up;
        assert_eq!(
            up("CREATE TABLE a (id int);\n\u{feff}CREATE TABLE b (id int);\n"),
            [("C123", 2)]
        );
        assert_eq!(up("CREATE TABLE cafe\u{200b} (id int);\n"), [("C123", 1)]);
        // A no-break space pasted from a web page: the server's whitespace is ASCII alone.
        assert_eq!(up("CREATE\u{a0}TABLE t (id int);\n"), [("C123", 1)]);
    }

    #[test]
    fn the_allow_note_is_decided_by_the_rules_typed_fields() {
        // Allowable, its help silent on the marker: noted.
        assert!(allow_note(index_without_concurrently::DOC.name));
        // Allowable, its help names the marker (`help_names_allow`): not again.
        assert!(!allow_note(drop_column::DOC.name));
        // Not allowable: a marker rule, an error, a name no rule has.
        assert!(!allow_note(unknown_allow::DOC.name));
        assert!(!allow_note(transaction_control::DOC.name));
        assert!(!allow_note("no-such-rule"));
        // The same decision for every rule, from its fields alone.
        for doc in SQL_RULES {
            assert_eq!(
                allow_note(doc.name),
                doc.severity == Severity::Warning
                    && !MARKER_RULES.contains(&doc.name)
                    && !doc.help_names_allow,
                "{}",
                doc.name
            );
        }
    }

    #[test]
    fn a_dollar_body_is_what_its_tags_enclose() {
        assert_eq!(dollar_body("$$ x $$"), Some(" x "));
        assert_eq!(dollar_body("$tag$y$tag$"), Some("y"));
        assert_eq!(dollar_body("$$$$"), Some(""));
        assert_eq!(dollar_body("$"), None);
    }

    #[test]
    fn codes_are_unique_in_range_and_ordered() {
        let codes: Vec<&str> = SQL_RULES.iter().map(|r| r.code).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            codes, sorted,
            "SQL_RULES must be in code order without duplicates"
        );
        for r in SQL_RULES {
            let n: u32 = r.code.trim_start_matches('C').parse().unwrap_or(0);
            assert!((100..200).contains(&n), "{} out of C100–C199", r.code);
            assert!(
                r.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{} is not kebab-case",
                r.name
            );
            assert!(
                !r.summary.is_empty() && !r.explanation.is_empty(),
                "{} undocumented",
                r.code
            );
        }
    }
}
