//! The PostgreSQL statement lexer and splitter: the one place that knows where a statement ends.
//!
//! [`split`] cuts a file into [`Statement`]s (byte range, 1-based line of the first token,
//! leading keywords) and reports what cannot be split ([`Problem`]: unterminated strings,
//! quoted identifiers, dollar quotes, block comments, parentheses and `BEGIN ATOMIC` bodies;
//! psql meta-commands). The engine uses the same split to send the statements of a
//! no-transaction migration one by one, and [`requires_no_transaction`] to know which
//! statements PostgreSQL refuses inside a transaction block.
//!
//! The lexer follows PostgreSQL's own scanner (`src/backend/parser/scan.l`) for everything that
//! can hide a `;`:
//! - `'...'` with `''`; `E'...'` with backslash escapes; `U&'...'` like `'...'`; `B'...'` and
//!   `X'...'`, which end at the first `'` (`B'01''1'` is `B'01'` then a new string `'1'`).
//! - String continuation: a quoted string followed by whitespace that holds at least one
//!   newline, `--` comments allowed in it (not `/* */`), and then `'` goes on as the same
//!   literal, read with the rules of its first part (`E'a' -- c⏎'\''` is one E-string).
//! - `"..."` and `U&"..."` with `""`; they never continue.
//! - `$$...$$` and `$tag$...$tag$`: a tag never starts with a digit (`$1` is a parameter) and
//!   `a$b$` is one identifier; the first `$tag$` with the same tag closes the quote.
//! - `--` comments to the end of the line (`\n` or `\r`) and nested `/* /* */ */` comments; both
//!   start wherever `--` or `/*` appears outside a quote, even inside an operator (`+--`, `*/*`).
//! - [`StandardConformingStrings`]: with `off`, a plain `'...'` takes backslash escapes like
//!   `E'...'`. [`split`] assumes `on`, PostgreSQL's default since 9.1 and what the engine's
//!   sessions use; [`split_with`] takes the setting.
//!
//! `confiture/tests/it/sql_pg_scanner.rs` checks all of this against the server's own scanner on
//! generated input (`debug_print_parse` reports where the server cut each statement).
//! A vertical tab is whitespace, as in PostgreSQL 16 and later (15 rejects it outside quotes).
//!
//! Like psql, a `;` inside parentheses or inside a `CREATE FUNCTION|PROCEDURE ... BEGIN ATOMIC
//! ... END` body (counting `CASE ... END` within it) does not end the statement.
//!
//! Pure and allocation-free per byte: tokens and keywords are slices of the input, keyword
//! comparisons are ASCII case-insensitive, and nothing here panics on any `&str`.

use std::fmt;
use std::ops::Range;

use crate::text::{line_of, Locator};

/// How many leading words a [`Statement`] keeps for classification.
pub const MAX_KEYWORDS: usize = 6;

/// What a token is. Trivia (whitespace, comments) is kept so that tokens tile the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenKind {
    /// Spaces, tabs, newlines, form feeds; also a byte-order mark at the very start.
    Whitespace,
    /// `-- ...` up to (not including) the end of the line.
    LineComment,
    /// `/* ... */`, nested.
    BlockComment,
    /// An unquoted identifier or keyword (`$` allowed after the first character).
    Word,
    /// `"..."` or `U&"..."`, with `""` as an escaped quote.
    QuotedIdent,
    /// `'...'`, `E'...'`, `U&'...'`, `B'...'` or `X'...'` (the token includes the prefix), with
    /// every continuation part: `'a'⏎'b'` is one token.
    String,
    /// `$$...$$` or `$tag$...$tag$`.
    DollarString,
    /// A numeric literal.
    Number,
    /// A positional parameter: `$1`.
    Param,
    /// `;`
    Semicolon,
    /// `(`
    OpenParen,
    /// `)`
    CloseParen,
    /// `,`
    Comma,
    /// `.`
    Dot,
    /// A psql meta-command: a backslash outside quotes and comments, up to the end of the line.
    MetaCommand,
    /// Any other operator or punctuation byte.
    Other,
}

/// One token: a slice of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// What kind of token.
    pub kind: TokenKind,
    /// Byte offset of the token in the input.
    pub start: usize,
    /// The token's text: `input[start..end()]`.
    pub text: &'a str,
    /// `false` for a string, quoted identifier, dollar quote or block comment that runs to the
    /// end of the input without its closing delimiter.
    pub terminated: bool,
}

impl<'a> Token<'a> {
    /// Byte offset just past the token.
    pub fn end(&self) -> usize {
        self.start + self.text.len()
    }

    /// Whitespace and comments: never part of a statement's meaning.
    pub fn is_trivia(&self) -> bool {
        matches!(
            self.kind,
            TokenKind::Whitespace | TokenKind::LineComment | TokenKind::BlockComment
        )
    }

    /// An unquoted word equal to `keyword`, ASCII case-insensitively.
    pub fn is_word(&self, keyword: &str) -> bool {
        self.kind == TokenKind::Word && self.text.eq_ignore_ascii_case(keyword)
    }

    /// A plain `'...'` string (no `E`, `U&`, `B` or `X` before it) holding a backslash: the
    /// one token that [`StandardConformingStrings::Off`] reads otherwise (`\'` an escaped
    /// quote), so that the string, and the statement, may end elsewhere. A backslash anywhere
    /// else — an `E'...'` string, a comment, a dollar-quoted body, a quoted identifier — is
    /// read the same under either setting: a text without such a token has the same tokens,
    /// and the same cut, under both.
    pub fn reads_otherwise_without_standard_strings(&self) -> bool {
        self.kind == TokenKind::String && self.text.starts_with('\'') && self.text.contains('\\')
    }
}

/// PostgreSQL's `standard_conforming_strings` setting: whether a backslash in a plain `'...'`
/// string is an ordinary character (`On`) or an escape as in `E'...'` (`Off`).
///
/// The server reads a whole message with the setting the session has when the message
/// arrives: a `SET standard_conforming_strings` inside it only changes later messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StandardConformingStrings {
    /// PostgreSQL's default since 9.1.
    #[default]
    On,
    /// A backslash in `'...'` escapes (before 9.1, or set by the session).
    Off,
}

/// Iterates over every token of a file's `text`, trivia included; the tokens tile `text`
/// exactly. A byte-order mark at the start is whitespace. Assumes
/// `standard_conforming_strings = on`; see [`tokens_with`].
pub fn tokens(text: &str) -> Lexer<'_> {
    tokens_with(text, StandardConformingStrings::On)
}

/// [`tokens`] with the session's `standard_conforming_strings`.
pub fn tokens_with(text: &str, strings: StandardConformingStrings) -> Lexer<'_> {
    Lexer {
        text,
        pos: 0,
        file_start: true,
        strings,
    }
}

/// Tokens of a piece of a file that starts at a token boundary (no byte-order mark there).
fn fragment_tokens(text: &str, strings: StandardConformingStrings) -> Lexer<'_> {
    Lexer {
        text,
        pos: 0,
        file_start: false,
        strings,
    }
}

/// The tokenizer. An iterator over [`Token`]s; see [`tokens`].
#[derive(Debug, Clone)]
pub struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    /// Offset 0 is the start of a file, where a byte-order mark is whitespace.
    file_start: bool,
    strings: StandardConformingStrings,
}

/// How the body of a single-quoted literal ends: scan.l's states `xq`/`xus`, `xe`, `xb`/`xh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoted {
    /// `'...'` (with `standard_conforming_strings = on`) and `U&'...'`: `''` is a quote.
    Standard,
    /// `E'...'`, and `'...'` with `standard_conforming_strings = off`: `''` or `\'` is a
    /// quote, and a backslash takes the byte after it whatever it is.
    Escape,
    /// `B'...'` and `X'...'`: the first `'` ends the part.
    Bits,
}

/// Byte classes, looked up once per byte in the hot loops.
const SPACE: u8 = 1;
/// `[A-Za-z_\x80-\xff]`: starts an identifier or a dollar-quote tag. Every byte of a multibyte
/// UTF-8 character is here, so identifiers never end inside a character.
const IDENT_START: u8 = 2;
/// `[A-Za-z_\x80-\xff0-9]`: continues a dollar-quote tag.
const TAG_CONT: u8 = 4;
/// `[A-Za-z_\x80-\xff0-9$]`: continues an identifier.
const IDENT_CONT: u8 = 8;
/// `[A-Za-z0-9_.]`: continues a numeric literal (loosely: the server validates it).
const NUMBER_CONT: u8 = 16;
/// `\n` or `\r`: ends a line comment or a meta-command.
const NEWLINE: u8 = 32;

static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let alpha = c.is_ascii_alphabetic() || c == b'_' || c >= 0x80;
        let digit = c.is_ascii_digit();
        let mut class = 0;
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            class |= SPACE;
        }
        if alpha {
            class |= IDENT_START | TAG_CONT | IDENT_CONT;
        }
        if digit {
            class |= TAG_CONT | IDENT_CONT;
        }
        if c == b'$' {
            class |= IDENT_CONT;
        }
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
            class |= NUMBER_CONT;
        }
        if matches!(c, b'\n' | b'\r') {
            class |= NEWLINE;
        }
        table[b] = class;
        b += 1;
    }
    table
};

fn is(b: u8, class: u8) -> bool {
    CLASS[usize::from(b)] & class != 0
}

/// The first offset from `i` whose byte is not in `class`.
fn skip(bytes: &[u8], mut i: usize, class: u8) -> usize {
    while i < bytes.len() && is(bytes[i], class) {
        i += 1;
    }
    i
}

/// The first offset from `i` whose byte is in `class` (or the end).
fn until(bytes: &[u8], mut i: usize, class: u8) -> usize {
    while i < bytes.len() && !is(bytes[i], class) {
        i += 1;
    }
    i
}

impl<'a> Lexer<'a> {
    /// Continues lexing at `pos`, which must be a token boundary (a char boundary at least).
    fn seek(&mut self, pos: usize) {
        self.pos = pos.min(self.text.len());
    }

    /// The end of a `"..."` body starting after the opening quote: the offset after the closing
    /// quote, or `None` if the input ends first.
    fn quoted_ident_end(bytes: &[u8], mut i: usize) -> Option<usize> {
        loop {
            i += bytes.get(i..)?.iter().position(|&b| b == b'"')?;
            if bytes.get(i + 1) != Some(&b'"') {
                return Some(i + 1);
            }
            i += 2;
        }
    }

    /// The end of one part of a single-quoted literal, starting after its opening quote: the
    /// offset after its closing quote, or `None` if the input ends first.
    fn quoted_part_end(bytes: &[u8], mut i: usize, quoted: Quoted) -> Option<usize> {
        loop {
            let rest = bytes.get(i..)?;
            let at = match quoted {
                Quoted::Escape => rest.iter().position(|&b| b == b'\'' || b == b'\\')?,
                Quoted::Standard | Quoted::Bits => rest.iter().position(|&b| b == b'\'')?,
            };
            i += at;
            if bytes[i] == b'\\' {
                // `<xe>{xeescape}` and friends: the escaped byte is never the end. A backslash
                // at the very end leaves the literal open.
                i += 2;
                continue;
            }
            if quoted != Quoted::Bits && bytes.get(i + 1) == Some(&b'\'') {
                i += 2; // `{xqdouble}`
                continue;
            }
            return Some(i + 1);
        }
    }

    /// The end of a whole single-quoted literal whose first part's body starts at `i`: every
    /// continuation part is read with the same rules. `None` if the input ends inside it.
    fn quoted_end(bytes: &[u8], i: usize, quoted: Quoted) -> Option<usize> {
        let mut end = Self::quoted_part_end(bytes, i, quoted)?;
        while let Some(body) = Self::continuation(bytes, end) {
            end = Self::quoted_part_end(bytes, body, quoted)?;
        }
        Some(end)
    }

    /// scan.l's `{quotecontinue}` right after a closing quote at `i`: whitespace holding at least
    /// one newline, `--` comments allowed anywhere in it, then `'`. Returns the offset after
    /// that `'` (the next part's body), or `None` if the literal ends at `i`.
    fn continuation(bytes: &[u8], mut i: usize) -> Option<usize> {
        let mut newline = false;
        loop {
            match *bytes.get(i)? {
                b' ' | b'\t' | 0x0b | 0x0c => i += 1,
                b'\n' | b'\r' => {
                    newline = true;
                    i += 1;
                }
                // A comment runs to the end of the line; at the end of the input there is no
                // newline after it, and no continuation.
                b'-' if bytes.get(i + 1) == Some(&b'-') => i = until(bytes, i + 2, NEWLINE),
                b'\'' if newline => return Some(i + 1),
                _ => return None,
            }
        }
    }

    fn block_comment_end(bytes: &[u8], mut i: usize) -> Option<usize> {
        let mut depth = 1usize;
        while i < bytes.len() {
            match bytes[i] {
                b'/' if bytes.get(i + 1) == Some(&b'*') => {
                    depth += 1;
                    i += 2;
                }
                b'*' if bytes.get(i + 1) == Some(&b'/') => {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => i += 1,
            }
        }
        None
    }

    /// The opening delimiter `$tag$` at `i` (tag possibly empty), as its end offset.
    fn dollar_delimiter(bytes: &[u8], i: usize) -> Option<usize> {
        let mut j = i + 1;
        if j < bytes.len() && is(bytes[j], IDENT_START) {
            j = skip(bytes, j + 1, TAG_CONT);
        }
        (bytes.get(j) == Some(&b'$')).then_some(j + 1)
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    #[inline(always)]
    fn next(&mut self) -> Option<Token<'a>> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let &b = bytes.get(start)?;
        let next = bytes.get(start + 1).copied().unwrap_or(0);
        let mut terminated = true;
        // One arm per first byte and (almost) no guards at this level, so that this is a jump
        // table.
        let (kind, end) = match b {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                (TokenKind::Whitespace, skip(bytes, start + 1, SPACE))
            }
            b'-' => match next {
                b'-' => (TokenKind::LineComment, until(bytes, start + 2, NEWLINE)),
                _ => (TokenKind::Other, start + 1),
            },
            b'/' => match next {
                b'*' => {
                    let end = Self::block_comment_end(bytes, start + 2);
                    terminated = end.is_some();
                    (TokenKind::BlockComment, end.unwrap_or(bytes.len()))
                }
                _ => (TokenKind::Other, start + 1),
            },
            b'\'' => {
                let quoted = match self.strings {
                    StandardConformingStrings::On => Quoted::Standard,
                    StandardConformingStrings::Off => Quoted::Escape,
                };
                let end = Self::quoted_end(bytes, start + 1, quoted);
                terminated = end.is_some();
                (TokenKind::String, end.unwrap_or(bytes.len()))
            }
            b'"' => {
                let end = Self::quoted_ident_end(bytes, start + 1);
                terminated = end.is_some();
                (TokenKind::QuotedIdent, end.unwrap_or(bytes.len()))
            }
            // Prefixed literals: `E'`, `B'`, `X'`, `U&'`, `U&"`. `N'` is the word `N` (NCHAR)
            // followed by a plain string, as in scan.l.
            b'e' | b'E' | b'b' | b'B' | b'x' | b'X' | b'u' | b'U' => {
                let after_prefix = match (b | 0x20, next, bytes.get(start + 2).copied()) {
                    (b'e', b'\'', _) => Some((start + 2, Some(Quoted::Escape))),
                    (b'b' | b'x', b'\'', _) => Some((start + 2, Some(Quoted::Bits))),
                    (b'u', b'&', Some(b'\'')) => Some((start + 3, Some(Quoted::Standard))),
                    (b'u', b'&', Some(b'"')) => Some((start + 3, None)),
                    _ => None,
                };
                match after_prefix {
                    Some((body, Some(quoted))) => {
                        let end = Self::quoted_end(bytes, body, quoted);
                        terminated = end.is_some();
                        (TokenKind::String, end.unwrap_or(bytes.len()))
                    }
                    Some((body, None)) => {
                        let end = Self::quoted_ident_end(bytes, body);
                        terminated = end.is_some();
                        (TokenKind::QuotedIdent, end.unwrap_or(bytes.len()))
                    }
                    None => (TokenKind::Word, skip(bytes, start + 1, IDENT_CONT)),
                }
            }
            0xEF if start == 0 && self.file_start && bytes.starts_with(b"\xEF\xBB\xBF") => {
                (TokenKind::Whitespace, 3)
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | 0x80..=0xFF => {
                (TokenKind::Word, skip(bytes, start + 1, IDENT_CONT))
            }
            b'0'..=b'9' => (TokenKind::Number, skip(bytes, start + 1, NUMBER_CONT)),
            b'$' if next.is_ascii_digit() => {
                let mut i = start + 2;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                (TokenKind::Param, i)
            }
            b'$' => match Self::dollar_delimiter(bytes, start) {
                Some(body) => {
                    let delimiter = &bytes[start..body];
                    match find(&bytes[body..], delimiter) {
                        Some(at) => (TokenKind::DollarString, body + at + delimiter.len()),
                        None => {
                            terminated = false;
                            (TokenKind::DollarString, bytes.len())
                        }
                    }
                }
                None => (TokenKind::Other, start + 1),
            },
            b';' => (TokenKind::Semicolon, start + 1),
            b'(' => (TokenKind::OpenParen, start + 1),
            b')' => (TokenKind::CloseParen, start + 1),
            b',' => (TokenKind::Comma, start + 1),
            b'.' => (TokenKind::Dot, start + 1),
            b'\\' => (TokenKind::MetaCommand, until(bytes, start + 1, NEWLINE)),
            _ => (TokenKind::Other, start + 1),
        };
        self.pos = end;
        // Every branch ends on an ASCII byte or at the end of the input, so `end` is a char
        // boundary; `get` keeps that a non-panicking fact rather than a promise.
        let text = self.text.get(start..end).unwrap_or("");
        Some(Token {
            kind,
            start,
            text,
            terminated,
        })
    }
}

/// The offset of the first occurrence of `needle` (starting with `$`) in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut i = 0;
    while let Some(at) = haystack.get(i..)?.iter().position(|&b| b == first) {
        let candidate = i + at;
        if haystack.get(candidate + 1..candidate + needle.len()) == Some(rest) {
            return Some(candidate);
        }
        i = candidate + 1;
    }
    None
}

/// A leading word of a statement: a slice of the input, compared and displayed uppercased.
#[derive(Clone, Copy, Default)]
pub struct Keyword<'a>(&'a str);

impl<'a> Keyword<'a> {
    /// The word as written in the file.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// Whether it is `keyword`, ASCII case-insensitively.
    pub fn is(&self, keyword: &str) -> bool {
        self.0.eq_ignore_ascii_case(keyword)
    }
}

impl PartialEq<&str> for Keyword<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.is(other)
    }
}

impl PartialEq for Keyword<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.is(other.0)
    }
}

impl Eq for Keyword<'_> {}

impl fmt::Display for Keyword<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        self.0
            .chars()
            .try_for_each(|c| f.write_char(c.to_ascii_uppercase()))
    }
}

impl fmt::Debug for Keyword<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// One SQL statement of a file.
#[derive(Debug, Clone)]
pub struct Statement<'a> {
    /// From the first token to the terminating `;` included (or to the last token when the
    /// input ends without one). Leading whitespace and comments belong to the gap before it.
    pub range: Range<usize>,
    /// 1-based line of the first token.
    pub line: u32,
    /// `&input[range]`.
    pub text: &'a str,
    /// Ended by a `;` (the last statement of a file may end without one).
    pub terminated: bool,
    /// Inline data after `COPY ... FROM STDIN;`, up to and including the `\.` line (or to the
    /// end of the input): psql sends it, the server never sees it as SQL.
    pub copy_data: Option<Range<usize>>,
    keywords: [Keyword<'a>; MAX_KEYWORDS],
    keyword_count: u8,
    /// Some word of the statement is `CONCURRENTLY`: lets classification skip re-lexing.
    mentions_concurrently: bool,
    /// The setting the statement was cut with, to lex it again the same way.
    strings: StandardConformingStrings,
}

impl<'a> Statement<'a> {
    /// The leading unquoted words, up to [`MAX_KEYWORDS`], stopping at the first token that is
    /// not a word: `CREATE UNIQUE INDEX CONCURRENTLY idx ON` for `create unique index
    /// concurrently idx on t (a)`.
    pub fn keywords(&self) -> &[Keyword<'a>] {
        &self.keywords[..usize::from(self.keyword_count)]
    }

    /// Whether the leading keywords start with `words` (ASCII case-insensitive).
    pub fn starts_with(&self, words: &[&str]) -> bool {
        words.len() <= self.keywords().len()
            && self.keywords().iter().zip(words).all(|(k, w)| k.is(w))
    }

    /// The tokens of the statement without trivia.
    pub fn tokens(&self) -> impl Iterator<Item = Token<'a>> + 'a {
        let base = self.range.start;
        fragment_tokens(self.text, self.strings)
            .filter(|t| !t.is_trivia())
            .map(move |t| Token {
                start: t.start + base,
                ..t
            })
    }

    /// `CREATE INDEX CONCURRENTLY` for a statement that PostgreSQL refuses inside a transaction
    /// block; see [`requires_no_transaction`].
    pub fn non_transactional_command(&self) -> Option<&'static str> {
        non_transactional_command(self)
    }

    /// `CALL` or `DO` for a statement that may end transactions of its own: a procedure or a
    /// `DO` block may `COMMIT` or `ROLLBACK`, which PostgreSQL allows only outside a transaction
    /// block (SQLSTATE 2D000 inside one). Whether it does is in its body, which lint cannot
    /// see (a procedure's) or prove (a `DO` block may call one): such a statement neither
    /// needs `-- confiture:no-transaction` as far as lint knows nor makes the marker unneeded.
    pub fn may_control_transactions(&self) -> Option<&'static str> {
        let first = self.keywords().first()?;
        if first.is("CALL") {
            Some("CALL")
        } else if first.is("DO") {
            Some("DO")
        } else {
            None
        }
    }

    /// Whether the statement, run outside a transaction block, may commit part of its work
    /// before it ends (fails, or is cancelled): a `CALL`, whose procedure's body is not here; a
    /// `DO` block whose text spells `COMMIT`, `ROLLBACK` or `CALL` (of a procedure that may).
    /// PostgreSQL allows transaction control in a `DO` block only at its top level or in a
    /// procedure it `CALL`s — never under another command, `EXECUTE` included — so a block
    /// that spells none of those words commits nothing of its own. Unlike
    /// [`Statement::may_control_transactions`] (lint's reading, which cannot know), this one
    /// reads the block's text; a word in a comment or a string only makes it cautious.
    pub fn may_commit_inside(&self) -> bool {
        match self.may_control_transactions() {
            Some("DO") => ["commit", "rollback", "call"]
                .iter()
                .any(|word| crate::text::mentions(self.text, word)),
            other => other.is_some(),
        }
    }

    /// `COPY ... FROM STDIN` or `COPY ... TO STDOUT`: a copy whose data goes through the client
    /// (psql, pg_dump's scripts) rather than a file on the server.
    pub fn copy_stream(&self) -> Option<CopyStream> {
        if !self.starts_with(&["COPY"]) {
            return None;
        }
        // `COPY [BINARY] table [(columns)] | (query)  FROM | TO  STDIN | STDOUT | 'file' |
        // PROGRAM 'command' ...`: the first FROM or TO outside parentheses, then the next token.
        // The grammar takes STDIN and STDOUT in either direction, both meaning the client.
        let mut depth = 0u32;
        let mut tokens = self.tokens().skip(1);
        while let Some(t) = tokens.next() {
            match t.kind {
                TokenKind::OpenParen => depth += 1,
                TokenKind::CloseParen => depth = depth.saturating_sub(1),
                TokenKind::Word if depth == 0 => {
                    let stream = if t.is_word("FROM") {
                        CopyStream::FromClient
                    } else if t.is_word("TO") {
                        CopyStream::ToClient
                    } else {
                        continue;
                    };
                    let target = tokens.next()?;
                    return (target.is_word("STDIN") || target.is_word("STDOUT")).then_some(stream);
                }
                _ => {}
            }
        }
        None
    }

    /// Whether the server may send rows for the statement: false only for the commands that
    /// never return any (DDL, `SET`, `DO`, an `INSERT`/`UPDATE`/`DELETE`/`MERGE` without
    /// `RETURNING`...); a `SELECT`, `WITH`, `VALUES`, `SHOW`, `EXPLAIN`, `FETCH`, `EXECUTE`,
    /// `CALL` (its output arguments) or anything unknown may. What the engine asks to send a
    /// migration that may return rows in a message of its own, whose rows it discards as they
    /// arrive (a `SELECT backfill(id) FROM big_table` returns one row per row).
    pub fn may_return_rows(&self) -> bool {
        const NONE: &[&str] = &[
            "ABORT",
            "ALTER",
            "ANALYSE",
            "ANALYZE",
            "BEGIN",
            "CHECKPOINT",
            "CLOSE",
            "CLUSTER",
            "COMMENT",
            "COMMIT",
            "COPY",
            "CREATE",
            "DEALLOCATE",
            "DECLARE",
            "DISCARD",
            "DO",
            "DROP",
            "END",
            "GRANT",
            "IMPORT",
            "LISTEN",
            "LOAD",
            "LOCK",
            "NOTIFY",
            "PREPARE",
            "REASSIGN",
            "REFRESH",
            "REINDEX",
            "RELEASE",
            "RESET",
            "REVOKE",
            "ROLLBACK",
            "SAVEPOINT",
            "SECURITY",
            "SET",
            "START",
            "TRUNCATE",
            "UNLISTEN",
            "VACUUM",
        ];
        const UNLESS_RETURNING: &[&str] = &["INSERT", "UPDATE", "DELETE", "MERGE"];
        let Some(first) = self.keywords().first() else {
            return true;
        };
        if NONE.iter().any(|k| first.is(k)) {
            return false;
        }
        if UNLESS_RETURNING.iter().any(|k| first.is(k)) {
            // A statement whose text never spells the word has no such token: most `INSERT`s
            // and `DELETE`s are not lexed again (this runs for every statement of every file).
            return crate::text::mentions(self.text, "returning")
                && self.tokens().any(|t| t.is_word("RETURNING"));
        }
        true
    }

    /// `BEGIN`, `COMMIT`, `SAVEPOINT`...: statements that control the transaction itself, the
    /// savepoint commands ([`Statement::savepoint_command`]) included.
    pub fn transaction_control(&self) -> Option<&'static str> {
        if let Some(savepoint) = self.savepoint_command() {
            return Some(savepoint);
        }
        let k = self.keywords();
        let first = k.first()?;
        let second = k.get(1);
        let is_second = |w: &str| second.is_some_and(|s| s.is(w));
        Some(match () {
            _ if first.is("BEGIN") => "BEGIN",
            _ if first.is("START") && is_second("TRANSACTION") => "START TRANSACTION",
            _ if first.is("COMMIT") && is_second("PREPARED") => "COMMIT PREPARED",
            _ if first.is("COMMIT") => "COMMIT",
            _ if first.is("END") => "END",
            _ if first.is("ROLLBACK") && is_second("PREPARED") => "ROLLBACK PREPARED",
            _ if first.is("ROLLBACK") => "ROLLBACK",
            _ if first.is("ABORT") => "ABORT",
            _ if first.is("PREPARE") && is_second("TRANSACTION") => "PREPARE TRANSACTION",
            _ => return None,
        })
    }

    /// `SAVEPOINT name`, `RELEASE [SAVEPOINT] name`, `ROLLBACK [WORK | TRANSACTION] TO
    /// [SAVEPOINT] name`: transaction control that only nests inside a transaction block — it
    /// can neither commit nor end the transaction it is in, and the server refuses it outside
    /// one (SQLSTATE 25P01).
    pub fn savepoint_command(&self) -> Option<&'static str> {
        let k = self.keywords();
        let first = k.first()?;
        let word = |i: usize, w: &str| k.get(i).is_some_and(|x| x.is(w));
        if first.is("SAVEPOINT") {
            return Some("SAVEPOINT");
        }
        if first.is("RELEASE") {
            return Some("RELEASE SAVEPOINT");
        }
        if first.is("ROLLBACK") {
            let to_at = if word(1, "WORK") || word(1, "TRANSACTION") {
                2
            } else {
                1
            };
            if word(to_at, "TO") {
                return Some("ROLLBACK TO SAVEPOINT");
            }
        }
        None
    }
}

/// Which way the data of a `COPY` through the client flows; see [`Statement::copy_stream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CopyStream {
    /// `COPY ... FROM STDIN`: the server waits for rows from the client.
    FromClient,
    /// `COPY ... TO STDOUT`: the server sends rows to the client.
    ToClient,
}

/// Whether PostgreSQL refuses `stmt` inside a transaction block (SQLSTATE 25001), so that the
/// migration must be marked `-- confiture:no-transaction` and the statement sent on its own.
///
/// Verified against PostgreSQL 15 (`tests/sql_pg.rs`): `CREATE [UNIQUE] INDEX CONCURRENTLY`,
/// `DROP INDEX CONCURRENTLY`, `REINDEX ... CONCURRENTLY`, `REINDEX SCHEMA|DATABASE|SYSTEM`,
/// `VACUUM`, `CLUSTER` without a table, `CREATE|DROP DATABASE`, `ALTER DATABASE ... SET
/// TABLESPACE`, `CREATE|DROP TABLESPACE`, `ALTER SYSTEM`, `ALTER TABLE ... DETACH PARTITION ...
/// CONCURRENTLY`, `DISCARD ALL`, and the subscription commands that create or drop a replication
/// slot or refresh: `CREATE SUBSCRIPTION` (unless `connect` or `create_slot` is false),
/// `ALTER SUBSCRIPTION ... REFRESH PUBLICATION`, `ALTER SUBSCRIPTION ... SET|ADD|DROP
/// PUBLICATION` (unless `refresh` is false), `DROP SUBSCRIPTION` (the server refuses it when the
/// subscription has a slot, which lint cannot see: its usual case is taken). Not: `ALTER TYPE
/// ... ADD VALUE` (allowed since PostgreSQL 12), `CLUSTER table`, `REFRESH MATERIALIZED VIEW
/// CONCURRENTLY`, `ANALYZE`. `CALL` and `DO` may need it too, which lint cannot know: see
/// [`Statement::may_control_transactions`].
pub fn requires_no_transaction(stmt: &Statement<'_>) -> bool {
    non_transactional_command(stmt).is_some()
}

/// The command [`requires_no_transaction`] finds in `stmt` (`"REINDEX CONCURRENTLY"`, ...).
pub(crate) fn non_transactional_command(stmt: &Statement<'_>) -> Option<&'static str> {
    let k = stmt.keywords();
    let word = |i: usize, w: &str| k.get(i).is_some_and(|x| x.is(w));
    let first = k.first()?;
    if first.is("CREATE") {
        let index_at = if word(1, "UNIQUE") { 2 } else { 1 };
        if word(index_at, "INDEX") && word(index_at + 1, "CONCURRENTLY") {
            return Some("CREATE INDEX CONCURRENTLY");
        }
        if word(1, "DATABASE") {
            return Some("CREATE DATABASE");
        }
        if word(1, "TABLESPACE") {
            return Some("CREATE TABLESPACE");
        }
        if word(1, "SUBSCRIPTION") {
            // Only a subscription that creates its replication slot now; `connect = false`
            // implies `create_slot = false`.
            let makes_slot =
                !option_is_false(stmt, "connect") && !option_is_false(stmt, "create_slot");
            return makes_slot.then_some("CREATE SUBSCRIPTION");
        }
    } else if first.is("DROP") {
        if word(1, "INDEX") && word(2, "CONCURRENTLY") {
            return Some("DROP INDEX CONCURRENTLY");
        }
        if word(1, "DATABASE") {
            return Some("DROP DATABASE");
        }
        if word(1, "TABLESPACE") {
            return Some("DROP TABLESPACE");
        }
        if word(1, "SUBSCRIPTION") {
            return Some("DROP SUBSCRIPTION");
        }
    } else if first.is("REINDEX") {
        return reindex_command(stmt);
    } else if first.is("VACUUM") {
        return Some("VACUUM");
    } else if first.is("CLUSTER") {
        // Only the form without a table (re-cluster every clustered table) refuses a
        // transaction block: `CLUSTER;`, `CLUSTER VERBOSE;`.
        let bare = stmt
            .tokens()
            .skip(1)
            .all(|t| t.is_word("VERBOSE") || t.kind == TokenKind::Semicolon);
        if bare {
            return Some("CLUSTER");
        }
    } else if first.is("ALTER") {
        if word(1, "SYSTEM") {
            return Some("ALTER SYSTEM");
        }
        if word(1, "DATABASE") && adjacent_words(stmt, "SET", "TABLESPACE") {
            return Some("ALTER DATABASE SET TABLESPACE");
        }
        if word(1, "SUBSCRIPTION") {
            return alter_subscription_command(stmt);
        }
        if word(1, "TABLE") && stmt.mentions_concurrently {
            let mut detach = false;
            for t in stmt.tokens() {
                if t.is_word("DETACH") {
                    detach = true;
                } else if detach && t.is_word("CONCURRENTLY") {
                    return Some("ALTER TABLE DETACH PARTITION CONCURRENTLY");
                }
            }
        }
    } else if first.is("DISCARD") && word(1, "ALL") {
        return Some("DISCARD ALL");
    }
    None
}

/// `REINDEX [ ( option [, ...] ) ] { INDEX | TABLE | SCHEMA | DATABASE | SYSTEM } [ CONCURRENTLY ]
/// name`, where the options may say `CONCURRENTLY [ boolean ]`.
fn reindex_command(stmt: &Statement<'_>) -> Option<&'static str> {
    let (target, concurrently) = reindex_reading(stmt)?;
    for (word, command) in [
        ("SCHEMA", "REINDEX SCHEMA"),
        ("DATABASE", "REINDEX DATABASE"),
        ("SYSTEM", "REINDEX SYSTEM"),
    ] {
        if target.is_word(word) {
            return Some(command);
        }
    }
    concurrently.then_some("REINDEX CONCURRENTLY")
}

/// Whether `stmt` is a `REINDEX` the server runs concurrently, whatever its target (`INDEX`,
/// `TABLE`, `SCHEMA`, `DATABASE`): `CONCURRENTLY` after the target, or in the options list
/// without a false value (the keyword after the target wins, as the server appends it to the
/// options). The one reading of it: such a rebuild commits the copies of its indexes
/// (`<index>_ccnew`) before it builds them, and leaves them INVALID when it fails or is
/// interrupted.
#[cfg(feature = "db")]
pub(crate) fn reindexes_concurrently(stmt: &Statement<'_>) -> bool {
    stmt.keywords().first().is_some_and(|w| w.is("REINDEX"))
        && reindex_reading(stmt).is_some_and(|(_, concurrently)| concurrently)
}

/// The target word of a `REINDEX` (`INDEX`, `TABLE`, ...) and whether it runs concurrently.
fn reindex_reading<'a>(stmt: &Statement<'a>) -> Option<(Token<'a>, bool)> {
    let mut tokens = stmt.tokens().skip(1).peekable();
    let mut concurrently = false;
    if tokens.next_if(|t| t.kind == TokenKind::OpenParen).is_some() {
        while let Some(t) = tokens.next() {
            if t.kind == TokenKind::CloseParen {
                break;
            }
            if t.is_word("CONCURRENTLY") {
                concurrently = !tokens.peek().is_some_and(is_false);
            }
        }
    }
    let target = tokens.next()?;
    let concurrently = concurrently || tokens.next().is_some_and(|t| t.is_word("CONCURRENTLY"));
    Some((target, concurrently))
}

/// `ALTER SUBSCRIPTION name { REFRESH PUBLICATION | SET | ADD | DROP PUBLICATION ... }` with
/// a refresh: the forms the server refuses in a transaction block. The others (`ENABLE`,
/// `DISABLE`, `SET (options)`, `CONNECTION`, `SKIP`, `OWNER TO`, `RENAME TO`) are
/// transactional.
fn alter_subscription_command(stmt: &Statement<'_>) -> Option<&'static str> {
    // ALTER SUBSCRIPTION, then the name (one word or quoted identifier), then the action.
    let mut tokens = stmt.tokens().skip(3);
    let action = tokens.next()?;
    if action.is_word("REFRESH") {
        return Some("ALTER SUBSCRIPTION REFRESH PUBLICATION");
    }
    if !tokens.next().is_some_and(|t| t.is_word("PUBLICATION")) {
        return None;
    }
    let command = if action.is_word("SET") {
        "ALTER SUBSCRIPTION SET PUBLICATION"
    } else if action.is_word("ADD") {
        "ALTER SUBSCRIPTION ADD PUBLICATION"
    } else if action.is_word("DROP") {
        "ALTER SUBSCRIPTION DROP PUBLICATION"
    } else {
        return None;
    };
    (!option_is_false(stmt, "refresh")).then_some(command)
}

/// Whether the statement's `WITH (...)` list sets the boolean option `name` to false:
/// `name = false` (or `off`, `0`, `'false'`, `'off'`, as PostgreSQL's `defGetBoolean` reads
/// them). An option written alone is true.
fn option_is_false(stmt: &Statement<'_>, name: &str) -> bool {
    let mut depth = 0u32;
    let mut tokens = stmt.tokens().peekable();
    while let Some(t) = tokens.next() {
        match t.kind {
            TokenKind::OpenParen => depth += 1,
            TokenKind::CloseParen => depth = depth.saturating_sub(1),
            _ => {}
        }
        let set_false = depth == 1
            && t.is_word(name)
            && tokens.next_if(|t| t.text == "=").is_some()
            && tokens.peek().is_some_and(is_false);
        if set_false {
            return true;
        }
    }
    false
}

/// A boolean option's value that PostgreSQL's `defGetBoolean` reads as false: `false`, `off`
/// (as words or plain quoted strings, any case) or the number `0`.
fn is_false(value: &Token<'_>) -> bool {
    match value.kind {
        TokenKind::Word => value.is_word("FALSE") || value.is_word("OFF"),
        TokenKind::Number => value.text == "0",
        TokenKind::String => value
            .text
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .is_some_and(|v| v.eq_ignore_ascii_case("false") || v.eq_ignore_ascii_case("off")),
        _ => false,
    }
}

fn adjacent_words(stmt: &Statement<'_>, first: &str, second: &str) -> bool {
    let mut previous = false;
    stmt.tokens().any(|t| {
        let hit = previous && t.is_word(second);
        previous = t.is_word(first);
        hit
    })
}

/// Something [`split`] could not make sense of, with where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong.
    pub kind: ProblemKind,
    /// Byte range of the construct (for an unterminated one, to the end of the input).
    pub range: Range<usize>,
    /// 1-based line where it starts.
    pub line: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// What kind of [`Problem`].
#[non_exhaustive]
pub enum ProblemKind {
    /// Runs to the end of the input without its closing delimiter.
    Unterminated(Construct),
    /// A psql meta-command (`\i`, `\set`, `\connect`...): psql's, not SQL.
    MetaCommand,
}

/// The constructs that can be left open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Construct {
    /// A `'...'` string literal (also `E''`, `B''`, `X''`, `U&''`).
    String,
    /// A `"..."` identifier.
    QuotedIdentifier,
    /// A `$$...$$` or `$tag$...$tag$` string.
    DollarQuote,
    /// A `/* ... */` comment.
    BlockComment,
    /// A `(` never closed: every later `;` is swallowed into one statement.
    Parenthesis,
    /// `BEGIN ATOMIC` in a function body without its `END`.
    AtomicBody,
}

impl Construct {
    /// `string literal`, `dollar-quoted string`... for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Construct::String => "string literal",
            Construct::QuotedIdentifier => "quoted identifier",
            Construct::DollarQuote => "dollar-quoted string",
            Construct::BlockComment => "block comment",
            Construct::Parenthesis => "parenthesis",
            Construct::AtomicBody => "BEGIN ATOMIC function body",
        }
    }
}

/// A file cut into statements.
#[derive(Debug, Clone, Default)]
pub struct Split<'a> {
    /// In order, non-overlapping; the text between them is whitespace, comments, stray `;`,
    /// meta-commands and `COPY` data.
    pub statements: Vec<Statement<'a>>,
    /// What could not be made sense of, in order.
    pub problems: Vec<Problem>,
    /// Offset of the first token that is neither whitespace nor a comment (the end of the
    /// file's leading comment block), or the input's length.
    pub leading_end: usize,
}

/// The statement being accumulated by [`split`].
struct Open<'a> {
    start: usize,
    last_end: usize,
    line: u32,
    keywords: [Keyword<'a>; MAX_KEYWORDS],
    keyword_count: u8,
    /// Still collecting leading keywords (no non-word token seen yet).
    in_keywords: bool,
    mentions_concurrently: bool,
    paren_depth: u32,
    /// Offset of the `(` that opened the outermost unclosed parenthesis.
    paren_open: usize,
    /// `CREATE [OR REPLACE] FUNCTION|PROCEDURE`: `BEGIN ATOMIC ... END` may follow.
    routine: bool,
    atomic_depth: u32,
    atomic_open: usize,
    /// The previous significant token was `BEGIN` (at parenthesis depth 0) in a routine.
    after_begin: Option<usize>,
}

impl<'a> Open<'a> {
    fn new(start: usize, line: u32) -> Self {
        Open {
            start,
            last_end: start,
            line,
            keywords: [Keyword::default(); MAX_KEYWORDS],
            keyword_count: 0,
            in_keywords: true,
            mentions_concurrently: false,
            paren_depth: 0,
            paren_open: start,
            routine: false,
            atomic_depth: 0,
            atomic_open: start,
            after_begin: None,
        }
    }

    fn push_keyword(&mut self, word: &'a str) {
        let n = usize::from(self.keyword_count);
        if n < MAX_KEYWORDS {
            self.keywords[n] = Keyword(word);
            self.keyword_count += 1;
            let k = &self.keywords[..=n];
            let is_routine = |w: &Keyword<'_>| w.is("FUNCTION") || w.is("PROCEDURE");
            self.routine = self.routine
                || (k.len() == 2 && k[0].is("CREATE") && is_routine(&k[1]))
                || (k.len() == 4
                    && k[0].is("CREATE")
                    && k[1].is("OR")
                    && k[2].is("REPLACE")
                    && is_routine(&k[3]));
        } else {
            self.in_keywords = false;
        }
    }

    /// Tracks `BEGIN ATOMIC ... END` (with `CASE ... END` inside) the way psql does, but only
    /// counting a `BEGIN` followed by `ATOMIC`, so a function named `begin` does not confuse it.
    fn track_atomic(&mut self, token: &Token<'a>) {
        if !self.routine || self.paren_depth > 0 || token.kind != TokenKind::Word {
            self.after_begin = None;
            return;
        }
        if let Some(begin_at) = self.after_begin.take() {
            if token.is_word("ATOMIC") {
                if self.atomic_depth == 0 {
                    self.atomic_open = begin_at;
                }
                self.atomic_depth += 1;
                return;
            }
        }
        if token.is_word("BEGIN") {
            self.after_begin = Some(token.start);
        } else if token.is_word("CASE") && self.atomic_depth > 0 {
            self.atomic_depth += 1;
        } else if token.is_word("END") && self.atomic_depth > 0 {
            self.atomic_depth -= 1;
        }
    }
}

/// Cuts `text` into statements. Never panics; every byte of `text` is either inside exactly one
/// statement's range or in the gaps between them. Assumes `standard_conforming_strings = on`
/// (PostgreSQL's default); see [`split_with`].
pub fn split(text: &str) -> Split<'_> {
    split_with(text, StandardConformingStrings::On)
}

/// [`split`] with the session's `standard_conforming_strings`.
pub fn split_with(text: &str, strings: StandardConformingStrings) -> Split<'_> {
    let bytes = text.as_bytes();
    let mut lines = Locator::new(text);
    let mut lexer = tokens_with(text, strings);
    let mut out = Split {
        // About one statement per 100 bytes in typical DDL: reserve once rather than regrow.
        statements: Vec::with_capacity(text.len() / 100),
        problems: Vec::new(),
        leading_end: text.len(),
    };
    let mut leading = true;
    let mut open: Option<Open<'_>> = None;

    loop {
        // Whitespace is most of the tokens and none of the meaning: skip it without a token.
        lexer.pos = skip(bytes, lexer.pos, SPACE);
        let Some(token) = lexer.next() else { break };
        if token.is_trivia() {
            if !token.terminated {
                out.problems.push(Problem {
                    kind: ProblemKind::Unterminated(Construct::BlockComment),
                    range: token.start..token.end(),
                    line: lines.line_at(token.start),
                });
            }
            continue;
        }
        if leading {
            leading = false;
            out.leading_end = token.start;
        }
        if token.kind == TokenKind::MetaCommand {
            let mut range = token.start..token.end();
            if is_copy_meta_from_stdin(token.text) {
                range.end = copy_data_end(bytes, token.end());
                lexer.seek(range.end);
            }
            out.problems.push(Problem {
                kind: ProblemKind::MetaCommand,
                line: lines.line_at(token.start),
                range,
            });
            continue;
        }
        if !token.terminated {
            let construct = match token.kind {
                TokenKind::QuotedIdent => Construct::QuotedIdentifier,
                TokenKind::DollarString => Construct::DollarQuote,
                _ => Construct::String,
            };
            out.problems.push(Problem {
                kind: ProblemKind::Unterminated(construct),
                range: token.start..token.end(),
                line: lines.line_at(token.start),
            });
        }
        if open.is_none() && token.kind == TokenKind::Semicolon {
            continue; // an empty statement: part of the gap
        }
        let stmt = open.get_or_insert_with(|| Open::new(token.start, lines.line_at(token.start)));
        stmt.last_end = token.end();
        if token.kind == TokenKind::Word && token.text.len() == 12 && token.is_word("CONCURRENTLY")
        {
            stmt.mentions_concurrently = true;
        }
        if stmt.in_keywords {
            if token.kind == TokenKind::Word {
                stmt.push_keyword(token.text);
            } else {
                stmt.in_keywords = false;
            }
        }
        stmt.track_atomic(&token);
        match token.kind {
            TokenKind::OpenParen => {
                if stmt.paren_depth == 0 {
                    stmt.paren_open = token.start;
                }
                stmt.paren_depth += 1;
            }
            TokenKind::CloseParen => stmt.paren_depth = stmt.paren_depth.saturating_sub(1),
            TokenKind::Semicolon if stmt.paren_depth == 0 && stmt.atomic_depth == 0 => {
                if let Some(stmt) = open.take() {
                    let statement = close(text, stmt, true, strings);
                    let statement = with_copy_data(bytes, statement, &mut lexer);
                    out.statements.push(statement);
                }
            }
            _ => {}
        }
    }
    if let Some(stmt) = open.take() {
        if stmt.paren_depth > 0 {
            out.problems.push(Problem {
                kind: ProblemKind::Unterminated(Construct::Parenthesis),
                range: stmt.paren_open..text.len(),
                line: line_of(bytes, stmt.paren_open),
            });
        } else if stmt.atomic_depth > 0 {
            out.problems.push(Problem {
                kind: ProblemKind::Unterminated(Construct::AtomicBody),
                range: stmt.atomic_open..text.len(),
                line: line_of(bytes, stmt.atomic_open),
            });
        }
        out.statements.push(close(text, stmt, false, strings));
    }
    out.problems.sort_by_key(|p| p.range.start);
    out
}

fn close<'a>(
    text: &'a str,
    stmt: Open<'a>,
    terminated: bool,
    strings: StandardConformingStrings,
) -> Statement<'a> {
    let range = stmt.start..stmt.last_end;
    Statement {
        text: text.get(range.clone()).unwrap_or(""),
        range,
        line: stmt.line,
        terminated,
        copy_data: None,
        keywords: stmt.keywords,
        keyword_count: stmt.keyword_count,
        mentions_concurrently: stmt.mentions_concurrently,
        strings,
    }
}

/// `COPY ... FROM STDIN;` is followed by data lines up to `\.`: skip them as psql would.
fn with_copy_data<'a>(
    bytes: &[u8],
    mut stmt: Statement<'a>,
    lexer: &mut Lexer<'a>,
) -> Statement<'a> {
    if stmt.copy_stream() == Some(CopyStream::FromClient) {
        let end = copy_data_end(bytes, stmt.range.end);
        stmt.copy_data = Some(stmt.range.end..end);
        lexer.seek(end);
    }
    stmt
}

fn is_copy_meta_from_stdin(meta: &str) -> bool {
    let mut words = meta.split_ascii_whitespace();
    if !words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("\\copy"))
    {
        return false;
    }
    let mut from = false;
    words.any(|w| {
        let hit = from && (w.eq_ignore_ascii_case("stdin") || w.eq_ignore_ascii_case("pstdin"));
        from = w.eq_ignore_ascii_case("from");
        hit
    })
}

/// Data starts on the line after `from` and ends after the line holding only `\.` (exclusive
/// of its newline), or at the end of the input.
fn copy_data_end(bytes: &[u8], from: usize) -> usize {
    let mut line_start = match bytes[from.min(bytes.len())..]
        .iter()
        .position(|&b| b == b'\n')
    {
        Some(nl) => from + nl + 1,
        None => return bytes.len(),
    };
    while line_start < bytes.len() {
        let line_end = bytes[line_start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |nl| line_start + nl);
        let line = &bytes[line_start..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line == b"\\." {
            return line_end.min(bytes.len());
        }
        line_start = line_end + 1;
    }
    bytes.len()
}
