//! What one file's bytes say before its SQL is read: `C009` (not UTF-8), `C014` (byte-order
//! mark), `C013` (CRLF line endings), `C016` (lone CR line endings), `C007`/`C008` (no SQL).

use std::fmt;
use std::path::Path;
use std::string::FromUtf8Error;

use super::LONE_CR_LINE_ENDINGS;
use super::{diagnostic, diagnostic_at, IRREVERSIBLE_MARKER};
use super::{BYTE_ORDER_MARK, CRLF_LINE_ENDINGS, EMPTY_DOWN, EMPTY_UP, INVALID_UTF8, NUL_BYTE};
use crate::diagnostic::{Diagnostic, Span};
use crate::files::lexer::{self, TokenKind};
use crate::files::{AppliedHere, Direction, StatementSpan};

/// `C009`: the file is not UTF-8; the diagnostic points at the first invalid byte. With it,
/// why the file cannot be read as text (`it is not valid UTF-8: byte 0xFF at line 1, column
/// 9`), which [`crate::files::UnreadableFile::error`] keeps.
pub(super) fn invalid_utf8(path: &Path, err: &FromUtf8Error) -> (Diagnostic, String) {
    let bytes = err.as_bytes();
    let utf8 = err.utf8_error();
    let valid = utf8.valid_up_to();
    // The bytes before are valid: the line and column of the bad byte are counted there.
    let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
    let bad = utf8.error_len().unwrap_or(bytes.len() - valid);
    // A renderer shows the bad bytes as one replacement character: one column.
    let at = Span::of(before, valid..valid);
    let span = Span {
        end: valid + bad,
        end_column: at.column + 1,
        ..at
    };
    let what = format!(
        "not valid UTF-8: byte 0x{:02X} at line {}, column {}",
        bytes.get(valid).copied().unwrap_or_default(),
        span.line,
        span.column
    );
    let message = format!("file is {what}");
    let help = "convert it to UTF-8 (migration files are UTF-8 text)".to_string();
    (
        diagnostic_at(&INVALID_UTF8, path, span, message, help),
        format!("it is {what}"),
    )
}

/// `C014`: the text starts with a byte-order mark of `bom` bytes (none when 0). `kind`: which
/// file of its pair it is.
pub(super) fn byte_order_mark(
    path: &Path,
    kind: Direction,
    text: &str,
    bom: usize,
) -> Option<Diagnostic> {
    if bom == 0 {
        return None;
    }
    let message = "file starts with a UTF-8 byte-order mark".to_string();
    let stem = (path.file_name().and_then(|n| n.to_str()))
        .and_then(|n| crate::files::name::parse_file_name(n).ok())
        .map(|parsed| format!("{}_{}", parsed.version_text, parsed.name))
        .unwrap_or_default();
    let help = bom_help(&stem, kind, AppliedHere::Unknown);
    let span = Span::of(text, 0..bom);
    Some(diagnostic_at(&BYTE_ORDER_MARK, path, span, message, help))
}

/// C014's help for the `kind` file of `stem`: whether the mark may go depends on the databases
/// that applied the up file (the ledger's checksum covers its raw bytes), `here` (unknown
/// without a ledger). A down file's bytes are in no checksum: its mark may always go.
pub(crate) fn bom_help(stem: &str, kind: Direction, here: AppliedHere) -> String {
    let save = "save it without a byte-order mark";
    match (kind, here) {
        (Direction::Down, _) => format!("{save}: only the up file's bytes are in the checksum"),
        (Direction::Up, AppliedHere::Unknown) => {
            format!("{save} if it is not applied anywhere yet (the checksum covers the raw bytes)")
        }
        (Direction::Up, AppliedHere::Yes) => format!(
            "keep the mark: `{stem}` is applied here, and the checksum covers the raw bytes \
             (without it, this database would show it `modified`)"
        ),
        (Direction::Up, AppliedHere::No) => format!(
            "`{stem}` is not applied here: {save}, unless another database applied it (the \
             checksum covers the raw bytes: there it would be `modified`)"
        ),
    }
}

/// `C015`: the first NUL byte, if any.
pub(super) fn nul_byte(path: &Path, text: &str) -> Option<Diagnostic> {
    let at = text.find('\0')?;
    let span = Span::of(text, at..at + 1);
    let message = format!(
        "file contains a NUL byte (at line {}, column {}): PostgreSQL cannot receive it",
        span.line, span.column
    );
    let help = "remove it (an invisible character from a copy and paste, a binary dump or a \
                UTF-16 file)"
        .to_string();
    Some(diagnostic_at(&NUL_BYTE, path, span, message, help))
}

/// `C013`: the first CRLF line ending, if any.
pub(super) fn crlf_line_endings(path: &Path, text: &str) -> Option<Diagnostic> {
    let at = text.find("\r\n")?;
    let span = Span::of(text, at..at + 2);
    let message = format!(
        "file has CRLF line endings (the first at line {})",
        span.line
    );
    let help = "convert it to LF, and add `*.sql -text` to .gitattributes so that every checkout has the same bytes (the checksum covers the raw bytes); if it was applied from LF bytes (`migrate status` says it differs only by line endings), LF is what the ledger records; only if it was applied with CRLF bytes everywhere, keep them".to_string();
    Some(diagnostic_at(&CRLF_LINE_ENDINGS, path, span, message, help))
}

/// `C016`: the first lone CR (a `\r` not followed by `\n`), if any: a line ending to
/// PostgreSQL's scanner (and to the lexer: it ends a `--` comment) and to the line numbers of
/// diagnostics ([`crate::text::is_line_break`]), none to git and terminals.
pub(super) fn lone_cr_line_endings(path: &Path, text: &str) -> Option<Diagnostic> {
    let bytes = text.as_bytes();
    let at =
        (text.match_indices('\r').map(|(i, _)| i)).find(|&i| bytes.get(i + 1) != Some(&b'\n'))?;
    let span = Span::of(text, at..at + 1);
    let message = format!(
        "file has lone CR line endings (a CR without LF, the first at line {}, column {}): \
         PostgreSQL and the line numbers of diagnostics end a line and a `--` comment there, \
         git and terminals do not",
        span.line, span.column
    );
    let help = "convert them to LF if the file is not applied anywhere yet (the checksum covers \
                the raw bytes), a CR that is data in a string as `E'\\r'`; a terminal draws the \
                text after a lone CR over the text before it: look at the file with `cat -A`"
        .to_string();
    Some(diagnostic_at(
        &LONE_CR_LINE_ENDINGS,
        path,
        span,
        message,
        help,
    ))
}

/// `C007`/`C008`: a file that does nothing, unless it is an irreversible down file: a `body`
/// (the text after any byte-order mark) whose [`lexer::split`] found no statement
/// (`statements`, the split's spans) — the message says what the file holds instead
/// ([`NoStatement`]) —, or whose statements all change only the session
/// ([`StatementSpan::session_only`]: `SET`, `RESET`, pg_dump's preamble), which end with the
/// connection: such an up file changes nothing and would be recorded as applied, such a down
/// file reverses nothing. Reported at the first statement. The one rule of both codes.
pub(super) fn no_sql(
    path: &Path,
    body: &str,
    statements: &[StatementSpan],
    kind: Direction,
    irreversible: bool,
) -> Option<Diagnostic> {
    // Where the marker goes is said where the file has statements: above them.
    let help = |place: &str| {
        format!(
            "write the SQL that reverses the up file; if it cannot be reversed, add the line `{IRREVERSIBLE_MARKER}`{place} (rolling back is then refused)"
        )
    };
    let up_help =
        || "write the migration's SQL, or delete the pair if it is not needed".to_string();
    if let Some(first) = statements.first() {
        if !statements.iter().all(|s| s.session_only) {
            return None;
        }
        const SESSION_ONLY: &str = "its statements only change the session (`SET`, `RESET`, \
                                    `set_config`), which ends with the connection";
        return match kind {
            Direction::Up => Some(diagnostic(
                &EMPTY_UP,
                path,
                Some(first.line),
                format!(
                    "up file does nothing: {SESSION_ONLY}; `migrate up` would record it as \
                     applied, the database unchanged"
                ),
                up_help(),
            )),
            Direction::Down if !irreversible => Some(diagnostic(
                &EMPTY_DOWN,
                path,
                Some(first.line),
                format!(
                    "down file reverses nothing and is not marked irreversible: \
                     {SESSION_ONLY}; rolling back would run them before removing the migration \
                     from the ledger"
                ),
                help(" at the top of the file, before its first statement"),
            )),
            Direction::Down => None,
        };
    }
    let holds = NoStatement::of(body)?;
    match kind {
        Direction::Up => {
            let message = format!("up file has no SQL: {holds}");
            Some(diagnostic(&EMPTY_UP, path, None, message, up_help()))
        }
        Direction::Down if !irreversible => {
            let message = format!("down file has no SQL and is not marked irreversible: {holds}");
            Some(diagnostic(&EMPTY_DOWN, path, None, message, help("")))
        }
        Direction::Down => None,
    }
}

/// What a text in which [`lexer::split`] found no statement holds: said by `C007`/`C008`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::files) enum NoStatement {
    /// Zero bytes.
    Empty,
    /// Whitespace only.
    Whitespace,
    /// Comments (and whitespace).
    Comments,
    /// Empty statements: `;` (and whitespace), which the server runs as nothing.
    Semicolons,
    /// Comments and `;`.
    CommentsAndSemicolons,
}

impl NoStatement {
    /// What `body` holds, read with the lexer's tokens; only called once the split found no
    /// statement in it. `None` when it holds a psql meta-command: not SQL either, but `C103`
    /// names it at its line.
    pub(in crate::files) fn of(body: &str) -> Option<NoStatement> {
        let (mut comments, mut semicolons) = (false, false);
        for token in lexer::tokens(body) {
            match token.kind {
                TokenKind::LineComment | TokenKind::BlockComment => comments = true,
                TokenKind::Semicolon => semicolons = true,
                TokenKind::MetaCommand => return None,
                _ => {}
            }
        }
        Some(match (comments, semicolons) {
            (false, false) if body.is_empty() => NoStatement::Empty,
            (false, false) => NoStatement::Whitespace,
            (true, false) => NoStatement::Comments,
            (false, true) => NoStatement::Semicolons,
            (true, true) => NoStatement::CommentsAndSemicolons,
        })
    }
}

impl fmt::Display for NoStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoStatement::Empty => "it is empty",
            NoStatement::Whitespace => "it holds only whitespace",
            NoStatement::Comments => "it holds only comments",
            NoStatement::Semicolons => "it holds no statement, only `;`",
            NoStatement::CommentsAndSemicolons => "it holds no statement, only comments and `;`",
        })
    }
}
