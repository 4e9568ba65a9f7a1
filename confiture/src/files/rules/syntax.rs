//! Just enough of PostgreSQL's DDL grammar for the rules: which table a `CREATE TABLE`,
//! `CREATE INDEX`, `ALTER TABLE` or `DROP TABLE` names, and what each `ALTER TABLE` action
//! does. Anything not recognised is [`Shape::Other`] / [`Action::Other`]: the rules stay quiet
//! rather than guess.

use std::borrow::Cow;

use crate::files::lexer::{Statement, Token, TokenKind};

/// A table name, normalised the way PostgreSQL resolves it: unquoted parts folded to lowercase,
/// quoted parts kept as written (with `""` unescaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName<'a> {
    pub schema: Option<Cow<'a, str>>,
    pub name: Cow<'a, str>,
    /// As written in the file, for messages.
    pub display: &'a str,
}

impl TableName<'_> {
    /// The same table, when one side omits the schema (we cannot know the search path).
    pub fn same_as(&self, other: &TableName<'_>) -> bool {
        self.name == other.name
            && match (&self.schema, &other.schema) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// What a statement does, as far as the rules care.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Shape<'a> {
    CreateTable {
        table: TableName<'a>,
    },
    CreateIndex {
        /// The index's name, normalised; `None` when the statement gives none (the server
        /// picks one). Never qualified: an index is created in its table's schema. Read by the
        /// engine only.
        #[cfg_attr(not(feature = "db"), allow(dead_code))]
        name: Option<Cow<'a, str>>,
        table: TableName<'a>,
        concurrently: bool,
    },
    AlterTable {
        table: TableName<'a>,
        actions: Vec<Located<Action<'a>>>,
    },
    DropTable {
        tables: Vec<TableName<'a>>,
    },
    Other,
}

/// An item with the bytes (of the file) it was read from.
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub range: std::ops::Range<usize>,
    pub item: T,
}

/// One action of `ALTER TABLE t action, action, ...`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Action<'a> {
    AddColumn {
        column: Cow<'a, str>,
        not_null: bool,
        has_default: bool,
    },
    AddConstraint {
        name: Option<Cow<'a, str>>,
        kind: ConstraintKind,
        not_valid: bool,
    },
    AlterColumnType {
        column: Cow<'a, str>,
    },
    DropColumn {
        column: Cow<'a, str>,
    },
    RenameTable {
        to: TableName<'a>,
    },
    RenameColumn {
        column: Cow<'a, str>,
        to: Cow<'a, str>,
    },
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConstraintKind {
    ForeignKey,
    Check,
    Other,
}

/// Reads the shape of `stmt`. Only statements whose leading keywords can matter are
/// tokenized, into `scratch`: reused across a file's statements so checking allocates per file.
pub fn shape<'a>(stmt: &Statement<'a>, scratch: &mut Vec<Token<'a>>) -> Shape<'a> {
    let k = stmt.keywords();
    let creates = k.first().is_some_and(|w| w.is("CREATE"))
        && k.iter()
            .skip(1)
            .take(3)
            .any(|w| w.is("TABLE") || w.is("INDEX"));
    if !(creates || stmt.starts_with(&["ALTER", "TABLE"]) || stmt.starts_with(&["DROP", "TABLE"])) {
        return Shape::Other;
    }
    scratch.clear();
    let tokens = stmt.tokens().filter(|t| t.kind != TokenKind::Semicolon);
    if creates {
        // The table's name comes before the first parenthesis: the rest is not needed.
        scratch.extend(tokens.take_while(|t| t.kind != TokenKind::OpenParen));
    } else {
        scratch.extend(tokens);
    }
    let src = Source {
        text: stmt.text,
        base: stmt.range.start,
    };
    parse(scratch, src).unwrap_or(Shape::Other)
}

/// The index a `CREATE [UNIQUE] INDEX` statement (its text, as the file was cut) creates: its
/// name, when it gives one, and its table; `None` for any other statement. What the engine asks
/// of a no-transaction file before it runs, to find an index an interrupted run left INVALID.
#[cfg(feature = "db")]
pub(crate) fn created_index(statement: &str) -> Option<(Option<Cow<'_, str>>, TableName<'_>)> {
    index_created(statement).map(|(name, table, _)| (name, table))
}

/// The index a `CREATE [UNIQUE] INDEX CONCURRENTLY` statement creates, as [`created_index`]
/// reads it; `None` for any other statement (a build without `CONCURRENTLY` is one
/// transaction: interrupted, it leaves no index behind).
#[cfg(feature = "db")]
pub(crate) fn concurrently_created_index(
    statement: &str,
) -> Option<(Option<Cow<'_, str>>, TableName<'_>)> {
    index_created(statement)
        .filter(|(_, _, concurrently)| *concurrently)
        .map(|(name, table, _)| (name, table))
}

/// [`created_index`], with whether it is built `CONCURRENTLY`.
#[cfg(feature = "db")]
fn index_created(statement: &str) -> Option<(Option<Cow<'_, str>>, TableName<'_>, bool)> {
    let tokens: Vec<Token<'_>> = crate::files::lexer::tokens(statement)
        .filter(|t| !t.is_trivia())
        .take_while(|t| t.kind != TokenKind::OpenParen && t.kind != TokenKind::Semicolon)
        .collect();
    let src = Source {
        text: statement,
        base: 0,
    };
    match parse(&tokens, src)? {
        Shape::CreateIndex {
            name,
            table,
            concurrently,
        } => Some((name, table, concurrently)),
        _ => None,
    }
}

/// What a `REINDEX ... CONCURRENTLY` rebuilds ([`concurrently_reindexed`]), as written (a
/// schema when qualified): each index it rebuilds gets a copy, `<index>_ccnew`, committed
/// before it is built, and one that failed or was interrupted leaves it INVALID, or, cut while
/// it dropped the old index, `<index>_ccold`.
#[cfg(feature = "db")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reindexed<'a> {
    /// `REINDEX INDEX`: that index (a partitioned one's, its partitions' indexes).
    Index(TableName<'a>),
    /// `REINDEX TABLE`: each index of that table, of its partitions and of their TOAST tables.
    Table(TableName<'a>),
    /// `REINDEX SCHEMA`: each index of the tables of that schema and of their TOAST tables.
    Schema(Cow<'a, str>),
    /// `REINDEX DATABASE`: each index of the database's tables (not the system catalogs',
    /// which the server never rebuilds concurrently).
    Database,
}

/// What a `REINDEX [ ( options ) ] { INDEX | TABLE | SCHEMA | DATABASE } [ CONCURRENTLY ] name`
/// statement (its text, as the file was cut) rebuilds, when it runs concurrently (the
/// lexer's reading, [`crate::files::lexer::reindexes_concurrently`]: `CONCURRENTLY` after the
/// target or in the options); `None` for any other statement, a `REINDEX` without
/// `CONCURRENTLY` included (one transaction a table, which leaves nothing behind when
/// interrupted). What the engine asks of a no-transaction file before it runs, for the copies
/// ([`Reindexed`]) an earlier run of it left.
#[cfg(feature = "db")]
pub(crate) fn concurrently_reindexed(statement: &str) -> Option<Reindexed<'_>> {
    let split = crate::files::lexer::split(statement);
    if !crate::files::lexer::reindexes_concurrently(split.statements.first()?) {
        return None;
    }
    whole_statement(statement, |c| {
        c.eat("REINDEX");
        if c.eat_kind(TokenKind::OpenParen) {
            while !c.eat_kind(TokenKind::CloseParen) {
                c.bump()?;
            }
        }
        if c.eat("INDEX") {
            c.eat("CONCURRENTLY");
            Some(Reindexed::Index(c.table_name()?))
        } else if c.eat("TABLE") {
            c.eat("CONCURRENTLY");
            Some(Reindexed::Table(c.table_name()?))
        } else if c.eat("SCHEMA") {
            c.eat("CONCURRENTLY");
            Some(Reindexed::Schema(c.ident()?))
        } else if c.eat("DATABASE") {
            // Its name (the current database's) may be left out since PostgreSQL 16.
            c.eat("CONCURRENTLY");
            c.ident();
            Some(Reindexed::Database)
        } else {
            None
        }
    })
}

/// The indexes a `DROP INDEX [CONCURRENTLY] [IF EXISTS] name [, ...] [CASCADE | RESTRICT]`
/// statement (its text, as the file was cut) drops, each as written (a schema when
/// qualified); `None` for any other statement. What the engine asks of the statements before
/// an index build: a file that drops its own INVALID index first builds it anew.
#[cfg(feature = "db")]
pub(crate) fn dropped_indexes(statement: &str) -> Option<Vec<TableName<'_>>> {
    whole_statement(statement, |c| {
        if !c.eat_seq(&["DROP", "INDEX"]) {
            return None;
        }
        c.eat("CONCURRENTLY");
        c.eat_seq(&["IF", "EXISTS"]);
        let mut indexes = vec![c.table_name()?];
        while c.eat_kind(TokenKind::Comma) {
            indexes.push(c.table_name()?);
        }
        c.eat_any(&["CASCADE", "RESTRICT"]);
        Some(indexes)
    })
}

/// The table and the partition of an `ALTER TABLE [IF EXISTS] [ONLY] table DETACH PARTITION
/// partition CONCURRENTLY` statement (its text, as the file was cut); `None` for any other
/// statement. What the engine asks of a no-transaction statement that failed or was
/// interrupted: such a detach commits its first transaction before it waits, and one cut
/// there leaves the partition pending detach.
#[cfg(feature = "db")]
pub(crate) fn concurrently_detached(statement: &str) -> Option<(TableName<'_>, TableName<'_>)> {
    whole_statement(statement, |c| {
        if !c.eat_seq(&["ALTER", "TABLE"]) {
            return None;
        }
        c.eat_seq(&["IF", "EXISTS"]);
        c.eat("ONLY");
        let table = c.table_name()?;
        if !c.eat_seq(&["DETACH", "PARTITION"]) {
            return None;
        }
        let partition = c.table_name()?;
        c.eat("CONCURRENTLY").then_some((table, partition))
    })
}

/// What `read` reads of one statement (its text, as the file was cut) from its first token,
/// when it reads it to its end (a `;` aside): the engine's readings of a whole statement,
/// which name what they read only when nothing follows that they do not understand.
#[cfg(feature = "db")]
fn whole_statement<'a, R>(
    statement: &'a str,
    read: impl FnOnce(&mut Cursor<'_, 'a>) -> Option<R>,
) -> Option<R> {
    let tokens: Vec<Token<'a>> = crate::files::lexer::tokens(statement)
        .filter(|t| !t.is_trivia() && t.kind != TokenKind::Semicolon)
        .collect();
    let mut c = Cursor {
        t: &tokens,
        i: 0,
        src: Source {
            text: statement,
            base: 0,
        },
    };
    let read = read(&mut c)?;
    c.peek().is_none().then_some(read)
}

fn parse<'a>(t: &[Token<'a>], src: Source<'a>) -> Option<Shape<'a>> {
    let mut c = Cursor { t, i: 1, src };
    if t.first()?.is_word("CREATE") {
        c.eat_any(&["GLOBAL", "LOCAL"]);
        c.eat_any(&["TEMP", "TEMPORARY", "UNLOGGED"]);
        if c.eat("TABLE") {
            c.eat_seq(&["IF", "NOT", "EXISTS"]);
            return Some(Shape::CreateTable {
                table: c.table_name()?,
            });
        }
        c.eat("UNIQUE");
        if !c.eat("INDEX") {
            return None;
        }
        let concurrently = c.eat("CONCURRENTLY");
        // CREATE [UNIQUE] INDEX [CONCURRENTLY] [[IF NOT EXISTS] name] ON [ONLY] table
        c.eat_seq(&["IF", "NOT", "EXISTS"]);
        let name = if c.at_word("ON") { None } else { c.ident() };
        while !c.at_word("ON") {
            c.bump()?;
        }
        c.i += 1;
        c.eat("ONLY");
        return Some(Shape::CreateIndex {
            name,
            table: c.table_name()?,
            concurrently,
        });
    }
    if t.first()?.is_word("DROP") {
        c.i = 2;
        c.eat_seq(&["IF", "EXISTS"]);
        let mut tables = vec![c.table_name()?];
        while c.eat_kind(TokenKind::Comma) {
            tables.push(c.table_name()?);
        }
        return Some(Shape::DropTable { tables });
    }
    // ALTER TABLE [ IF EXISTS ] [ ONLY ] name [ * ] action [, ... ]
    c.i = 2;
    c.eat_seq(&["IF", "EXISTS"]);
    c.eat("ONLY");
    let table = c.table_name()?;
    if c.peek().is_some_and(|t| t.text == "*") {
        c.i += 1;
    }
    let actions = split_actions(&t[c.i..])
        .map(|a| Located {
            range: a.first().map_or(0, |t| t.start)..a.last().map_or(0, Token::end),
            item: action(a, src),
        })
        .collect();
    Some(Shape::AlterTable { table, actions })
}

/// The actions of an `ALTER TABLE`, split at commas outside parentheses.
fn split_actions<'t, 'a>(tokens: &'t [Token<'a>]) -> impl Iterator<Item = &'t [Token<'a>]> {
    let mut depth = 0u32;
    tokens
        .split(move |t| {
            match t.kind {
                TokenKind::OpenParen => depth += 1,
                TokenKind::CloseParen => depth = depth.saturating_sub(1),
                _ => {}
            }
            depth == 0 && t.kind == TokenKind::Comma
        })
        .filter(|a| !a.is_empty())
}

fn action<'a>(t: &[Token<'a>], src: Source<'a>) -> Action<'a> {
    let mut c = Cursor { t, i: 1, src };
    let Some(first) = t.first() else {
        return Action::Other;
    };
    let parsed = if first.is_word("ADD") {
        add_action(&mut c)
    } else if first.is_word("ALTER") {
        c.eat("COLUMN");
        if c.at_word("CONSTRAINT") {
            return Action::Other;
        }
        c.ident().and_then(|column| {
            (c.eat("TYPE") || c.eat_seq(&["SET", "DATA", "TYPE"]))
                .then_some(Action::AlterColumnType { column })
        })
    } else if first.is_word("DROP") {
        if c.at_word("CONSTRAINT") {
            return Action::Other;
        }
        c.eat("COLUMN");
        c.eat_seq(&["IF", "EXISTS"]);
        c.ident().map(|column| Action::DropColumn { column })
    } else if first.is_word("RENAME") {
        if c.eat("TO") {
            c.table_name().map(|to| Action::RenameTable { to })
        } else if c.at_word("CONSTRAINT") {
            None
        } else {
            c.eat("COLUMN");
            c.ident().and_then(|column| {
                let to = c.eat("TO").then(|| c.ident()).flatten()?;
                Some(Action::RenameColumn { column, to })
            })
        }
    } else {
        None
    };
    parsed.unwrap_or(Action::Other)
}

fn add_action<'a>(c: &mut Cursor<'_, 'a>) -> Option<Action<'a>> {
    let name = if c.eat("CONSTRAINT") {
        Some(c.ident()?)
    } else {
        None
    };
    let constraint = if c.at_word("FOREIGN") {
        Some(ConstraintKind::ForeignKey)
    } else if c.at_word("CHECK") {
        Some(ConstraintKind::Check)
    } else if ["UNIQUE", "PRIMARY", "EXCLUDE"]
        .iter()
        .any(|w| c.at_word(w))
        || name.is_some()
    {
        Some(ConstraintKind::Other)
    } else {
        None
    };
    if let Some(kind) = constraint {
        let not_valid = c.depth0_pair("NOT", "VALID");
        return Some(Action::AddConstraint {
            name,
            kind,
            not_valid,
        });
    }
    c.eat("COLUMN");
    c.eat_seq(&["IF", "NOT", "EXISTS"]);
    let column = c.ident()?;
    let ty = c.peek();
    let serial = ty.is_some_and(|t| {
        [
            "SERIAL",
            "BIGSERIAL",
            "SMALLSERIAL",
            "SERIAL2",
            "SERIAL4",
            "SERIAL8",
        ]
        .iter()
        .any(|w| t.is_word(w))
    });
    let not_null = c.depth0_pair("NOT", "NULL") || c.depth0_word("PRIMARY");
    let has_default = serial || c.depth0_word("DEFAULT") || c.depth0_word("GENERATED");
    Some(Action::AddColumn {
        column,
        not_null,
        has_default,
    })
}

/// The statement's text, to slice names out of it for messages.
#[derive(Clone, Copy)]
struct Source<'a> {
    text: &'a str,
    /// Offset of `text` in the file (token offsets are file offsets).
    base: usize,
}

struct Cursor<'t, 'a> {
    t: &'t [Token<'a>],
    i: usize,
    src: Source<'a>,
}

impl<'a> Cursor<'_, 'a> {
    fn peek(&self) -> Option<&Token<'a>> {
        self.t.get(self.i)
    }

    fn bump(&mut self) -> Option<&Token<'a>> {
        let t = self.t.get(self.i)?;
        self.i += 1;
        Some(t)
    }

    fn at_word(&self, w: &str) -> bool {
        self.peek().is_some_and(|t| t.is_word(w))
    }

    fn eat(&mut self, w: &str) -> bool {
        let hit = self.at_word(w);
        self.i += usize::from(hit);
        hit
    }

    fn eat_any(&mut self, ws: &[&str]) -> bool {
        ws.iter().any(|w| self.eat(w))
    }

    fn eat_kind(&mut self, kind: TokenKind) -> bool {
        let hit = self.peek().is_some_and(|t| t.kind == kind);
        self.i += usize::from(hit);
        hit
    }

    /// All of `ws` in a row, or nothing consumed.
    fn eat_seq(&mut self, ws: &[&str]) -> bool {
        let hit = ws
            .iter()
            .enumerate()
            .all(|(k, w)| self.t.get(self.i + k).is_some_and(|t| t.is_word(w)));
        if hit {
            self.i += ws.len();
        }
        hit
    }

    /// One identifier, normalised.
    fn ident(&mut self) -> Option<Cow<'a, str>> {
        let t = self.peek()?;
        let name = normalise(t)?;
        self.i += 1;
        // `U&"..." UESCAPE 'c'` escapes with another character: not worth guessing.
        if self.peek().is_some_and(|next| next.is_word("UESCAPE")) {
            return None;
        }
        Some(name)
    }

    /// `name`, `schema.name` or `db.schema.name`.
    fn table_name(&mut self) -> Option<TableName<'a>> {
        let first = self.peek()?.start;
        let mut name = self.ident()?;
        let mut schema = None;
        while self.peek().is_some_and(|t| t.kind == TokenKind::Dot) {
            self.i += 1;
            schema = Some(std::mem::replace(&mut name, self.ident()?));
        }
        let end = self.t.get(self.i.wrapping_sub(1)).map_or(first, Token::end);
        let display = self
            .src
            .text
            .get(first - self.src.base..end - self.src.base)
            .unwrap_or_default();
        Some(TableName {
            schema,
            name,
            display,
        })
    }

    /// A word at parenthesis depth 0 from here to the end of the action.
    fn depth0_word(&self, w: &str) -> bool {
        self.depth0().any(|t| t.is_word(w))
    }

    fn depth0_pair(&self, a: &str, b: &str) -> bool {
        let mut previous = false;
        self.depth0().any(|t| {
            let hit = previous && t.is_word(b);
            previous = t.is_word(a);
            hit
        })
    }

    fn depth0(&self) -> impl Iterator<Item = &Token<'a>> {
        let mut depth = 0u32;
        self.t[self.i.min(self.t.len())..].iter().filter(move |t| {
            match t.kind {
                TokenKind::OpenParen => depth += 1,
                TokenKind::CloseParen => {
                    depth = depth.saturating_sub(1);
                    return false;
                }
                _ => {}
            }
            depth == 0
        })
    }
}

/// Whether the token is the identifier `name` as PostgreSQL resolves it (a word folded to
/// lower case, a quoted identifier as written): the one test of "this token names that".
pub(super) fn names(t: &Token<'_>, name: &str) -> bool {
    normalise(t).is_some_and(|n| n == name)
}

/// An identifier as PostgreSQL resolves it (a word folded to lower case, a quoted identifier
/// as written); `None` for any other token.
pub(super) fn resolved<'a>(t: &Token<'a>) -> Option<Cow<'a, str>> {
    normalise(t)
}

/// The text of a `'...'` literal as PostgreSQL reads it (with `standard_conforming_strings =
/// on`, as the file was split: what confiture's sessions start with, and what a file that turns
/// it off is an error for, `C106`): `''` an escaped quote; in `E'...'` also the backslash escapes (`\'`, `\n`, `\t`, octal
/// `\101`, `\x41`, `\u0041`, `\U00000041`, `\c` for any other `c`); in `U&'...'` the Unicode
/// escapes (`\0041`, `\+000041`, with the default escape character); the parts of a
/// continuation (`'a'⏎'b'`) joined. `None` for a bit string (`B'...'`, `X'...'`), an
/// unterminated literal, or an escape PostgreSQL would refuse.
pub(super) fn string_value<'a>(token: &Token<'a>) -> Option<Cow<'a, str>> {
    if !token.terminated {
        return None;
    }
    let text = token.text;
    let (escapes, unicode, quoted) = match text.as_bytes().first()? {
        b'\'' => (false, false, text),
        b'E' | b'e' => (true, false, &text[1..]),
        b'U' | b'u' => (
            false,
            true,
            text.get(2..).filter(|_| text[1..].starts_with('&'))?,
        ),
        _ => return None,
    };
    // The common case, one part without escapes: the literal's own text.
    if let Some(inner) = quoted.strip_prefix('\'').and_then(|q| q.strip_suffix('\'')) {
        if !inner.contains('\'') && !((escapes || unicode) && inner.contains('\\')) {
            return Some(Cow::Borrowed(inner));
        }
    }
    let mut raw = String::with_capacity(quoted.len());
    let mut rest = quoted;
    loop {
        rest = rest.strip_prefix('\'')?;
        // One part: up to its closing quote (not `''`, nor `\'` in an E-string).
        let bytes = rest.as_bytes();
        let (mut from, mut i) = (0, 0);
        loop {
            match bytes.get(i)? {
                b'\'' if bytes.get(i + 1) == Some(&b'\'') => {
                    raw.push_str(&rest[from..=i]);
                    i += 2;
                    from = i;
                }
                b'\'' => break,
                b'\\' if escapes => i += 2,
                _ => i += 1,
            }
        }
        raw.push_str(&rest[from..i]);
        rest = &rest[i + 1..];
        // Whitespace (and `--` comments) up to the next part's quote, if any.
        loop {
            let trimmed = rest.trim_start_matches([' ', '\t', '\n', '\r', '\x0c', '\x0b']);
            match trimmed.strip_prefix("--") {
                Some(comment) => rest = comment.find(['\n', '\r']).map_or("", |at| &comment[at..]),
                None => {
                    rest = trimmed;
                    break;
                }
            }
        }
        if rest.is_empty() {
            break;
        }
    }
    if unicode {
        return unicode_unescape(&raw).map(Cow::Owned);
    }
    if !escapes {
        return Some(Cow::Owned(raw));
    }
    backslash_unescape(&raw).map(Cow::Owned)
}

/// The string constant that starts at `tokens[i]` (no trivia), in any of its forms, as the
/// server reads it, with how many tokens it takes: `'...'`, `E'...'`, `U&'...'` and a
/// continuation ([`string_value`]; 1), `$$...$$` or `$tag$...$tag$` (its body as written; 1),
/// `U&'...' UESCAPE 'c'` (its escapes written with `c`; 3). The one reading of "the text this
/// literal gives" for a value that may be quoted any way a constant may: a setting's name or
/// value (`settings`). `None` for any other token, a bit string, an unterminated literal, or
/// escapes the server would refuse.
pub(super) fn constant_at<'a>(tokens: &[Token<'a>], i: usize) -> Option<(Cow<'a, str>, usize)> {
    let t = tokens.get(i)?;
    match t.kind {
        TokenKind::DollarString if t.terminated => {
            super::dollar_body(t.text).map(|body| (Cow::Borrowed(body), 1))
        }
        TokenKind::String => match (tokens.get(i + 1), tokens.get(i + 2)) {
            (Some(uescape), Some(escape)) if uescape.is_word("UESCAPE") => {
                let body = t.text.get(2..).filter(|_| t.text[1..].starts_with('&'))?;
                let escape = match escape.kind {
                    TokenKind::DollarString if escape.terminated => {
                        Cow::Borrowed(super::dollar_body(escape.text)?)
                    }
                    _ => string_value(escape)?,
                };
                let mut chars = escape.chars();
                let (Some(c), None) = (chars.next(), chars.next()) else {
                    return None;
                };
                if c.is_ascii_hexdigit() || "+'\" \t\n\r\x0c".contains(c) {
                    return None;
                }
                // The parts' quotes read as `string_value` reads them, with no escape of its
                // own (a plain literal's rule), then the Unicode escapes with `c`.
                let plain = Token { text: body, ..*t };
                let raw = string_value(&plain)?;
                unicode_unescape_with(&raw, c).map(|text| (Cow::Owned(text), 3))
            }
            _ => string_value(t).map(|text| (text, 1)),
        },
        _ => None,
    }
}

/// The string constant `tokens` (one argument, no trivia) is, whole: [`constant_at`] taking
/// every token.
pub(super) fn constant<'a>(tokens: &[Token<'a>]) -> Option<Cow<'a, str>> {
    constant_at(tokens, 0)
        .filter(|(_, used)| *used == tokens.len())
        .map(|(text, _)| text)
}

/// The text of an `E'...'` literal's parts (`''` already read) with its backslash escapes
/// decoded, as PostgreSQL's scanner does; `None` for bytes that are not UTF-8 or a code point
/// that is no character.
fn backslash_unescape(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let digits = |from: usize, max: usize, radix: u32| {
        let n = bytes[from..]
            .iter()
            .take(max)
            .take_while(|b| (**b as char).is_digit(radix))
            .count();
        (n, u32::from_str_radix(&raw[from..from + n], radix).ok())
    };
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'\\' || i + 1 >= bytes.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let c = bytes[i + 1];
        i += 2;
        match c {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'0'..=b'7' => {
                let (n, value) = digits(i - 1, 3, 8);
                out.push((value? & 0xff) as u8);
                i += n - 1;
            }
            b'x' if bytes.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                let (n, value) = digits(i, 2, 16);
                out.push(value? as u8);
                i += n;
            }
            b'u' | b'U' => {
                let len = if c == b'u' { 4 } else { 8 };
                let (n, value) = digits(i, len, 16);
                if n != len {
                    return None;
                }
                let mut buf = [0u8; 4];
                out.extend_from_slice(char::from_u32(value?)?.encode_utf8(&mut buf).as_bytes());
                i += n;
            }
            // `\c` is `c` for any other character (its first byte; the rest follow as they are).
            _ => out.push(c),
        }
    }
    String::from_utf8(out).ok()
}

/// An identifier as PostgreSQL resolves it; borrowed unless folding or unescaping changes it.
fn normalise<'a>(t: &Token<'a>) -> Option<Cow<'a, str>> {
    match t.kind {
        TokenKind::Word if t.text.bytes().any(|b| b.is_ascii_uppercase()) => {
            Some(Cow::Owned(t.text.to_ascii_lowercase()))
        }
        TokenKind::Word => Some(Cow::Borrowed(t.text)),
        TokenKind::QuotedIdent if t.terminated && t.text.len() >= 2 => {
            if let Some(escaped) = t
                .text
                .get(3..t.text.len() - 1)
                .filter(|_| t.text.starts_with("U&") || t.text.starts_with("u&"))
            {
                return unicode_unescape(&escaped.replace("\"\"", "\"")).map(Cow::Owned);
            }
            let inner = &t.text[1..t.text.len() - 1];
            Some(if inner.contains("\"\"") {
                Cow::Owned(inner.replace("\"\"", "\""))
            } else {
                Cow::Borrowed(inner)
            })
        }
        _ => None,
    }
}

/// The body of `U&"..."` with its default escapes decoded: `\XXXX`, `\+XXXXXX`, `\\`.
/// `None` for anything PostgreSQL would refuse (or that names no character).
fn unicode_unescape(body: &str) -> Option<String> {
    unicode_unescape_with(body, '\\')
}

/// [`unicode_unescape`] with `escape` for the escape character (`UESCAPE 'c'`).
fn unicode_unescape_with(body: &str, escape: char) -> Option<String> {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.find(escape) {
        out.push_str(&rest[..at]);
        rest = &rest[at + escape.len_utf8()..];
        if let Some(after) = rest.strip_prefix(escape) {
            out.push(escape);
            rest = after;
            continue;
        }
        let (digits, after) = match rest.strip_prefix('+') {
            Some(plus) => (plus.get(..6)?, &plus[6..]),
            None => (rest.get(..4)?, &rest[4..]),
        };
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        // A surrogate (which PostgreSQL pairs up) is not a char here: stay quiet.
        out.push(char::from_u32(u32::from_str_radix(digits, 16).ok()?)?);
        rest = after;
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::up;

    #[cfg(feature = "db")]
    #[test]
    fn a_concurrent_reindex_names_what_it_rebuilds() {
        use super::{concurrently_reindexed, Reindexed};
        let read = |sql: &str| {
            concurrently_reindexed(sql).map(|r| {
                let name = |t: super::TableName<'_>| {
                    format!("{}.{}", t.schema.as_deref().unwrap_or("?"), t.name)
                };
                match r {
                    Reindexed::Index(t) => format!("index {}", name(t)),
                    Reindexed::Table(t) => format!("table {}", name(t)),
                    Reindexed::Schema(s) => format!("schema {s}"),
                    Reindexed::Database => "database".to_string(),
                }
            })
        };
        // Every place PostgreSQL 15 takes `CONCURRENTLY` in: after the target, or in the
        // options (true unless given a false value; the keyword after the target wins).
        for (sql, expected) in [
            ("REINDEX INDEX CONCURRENTLY big_i;", Some("index ?.big_i")),
            ("reindex index concurrently Big_I", Some("index ?.big_i")),
            (
                "REINDEX INDEX CONCURRENTLY app.\"Big\";",
                Some("index app.Big"),
            ),
            ("REINDEX (CONCURRENTLY) INDEX big_i;", Some("index ?.big_i")),
            (
                "REINDEX (VERBOSE, CONCURRENTLY true) INDEX CONCURRENTLY big_i;",
                Some("index ?.big_i"),
            ),
            ("REINDEX TABLE CONCURRENTLY big;", Some("table ?.big")),
            (
                "REINDEX (CONCURRENTLY) TABLE app.big",
                Some("table app.big"),
            ),
            (
                "REINDEX (CONCURRENTLY false) TABLE CONCURRENTLY big;",
                Some("table ?.big"),
            ),
            (
                "REINDEX (CONCURRENTLY 1, VERBOSE) TABLE big;",
                Some("table ?.big"),
            ),
            ("REINDEX SCHEMA CONCURRENTLY App;", Some("schema app")),
            (
                "REINDEX (VERBOSE) SCHEMA CONCURRENTLY \"App\";",
                Some("schema App"),
            ),
            ("REINDEX (CONCURRENTLY ON) SCHEMA app;", Some("schema app")),
            ("REINDEX DATABASE CONCURRENTLY app;", Some("database")),
            ("REINDEX (CONCURRENTLY) DATABASE app;", Some("database")),
            ("REINDEX DATABASE CONCURRENTLY;", Some("database")),
            // Not concurrently: one transaction a table, nothing left behind.
            ("REINDEX (CONCURRENTLY false) INDEX big_i;", None),
            ("REINDEX (CONCURRENTLY off) TABLE big;", None),
            ("REINDEX INDEX big_i;", None),
            ("REINDEX TABLE big;", None),
            ("REINDEX SCHEMA app;", None),
            ("REINDEX DATABASE app;", None),
            // Refused by the server (system catalogs are never rebuilt concurrently), or not
            // PostgreSQL 15's grammar.
            ("REINDEX SYSTEM CONCURRENTLY app;", None),
            ("REINDEX TABLE big CONCURRENTLY;", None),
            ("CREATE INDEX CONCURRENTLY big_i ON big (h);", None),
        ] {
            assert_eq!(read(sql).as_deref(), expected, "{sql}");
        }
    }

    #[test]
    fn a_string_literal_is_read_as_the_server_reads_it() {
        use super::super::lexer::tokens;
        use super::string_value;
        let value = |sql: &str| {
            let t = tokens(sql).find(|t| !t.is_trivia()).unwrap();
            string_value(&t).map(|v| v.into_owned())
        };
        // What PostgreSQL 15 returns for each (`SELECT <literal>`).
        for (sql, expected) in [
            ("'abc'", Some("abc")),
            ("'a''b'", Some("a'b")),
            (r"'a\n'", Some(r"a\n")),
            (r"E'a\'b'", Some("a'b")),
            (r"e'a''b'", Some("a'b")),
            (r"E'\n\t\\'", Some("\n\t\\")),
            (r"E'\101\x41\u0041\U00000041'", Some("AAAA")),
            (r"E'\1010'", Some("A0")),
            (r"E'\q'", Some("q")),
            (r"E'\xZ'", Some("xZ")),
            (r"U&'d\0061t\+000061'", Some("data")),
            ("'x' -- c\n'y'", Some("xy")),
            ("E'a'\n'\\''", Some("a'")),
            ("'é''é'", Some("é'é")),
            (r"E'\é'", Some("é")),
            ("B'01'", None),
            ("X'1F'", None),
            (r"E'\u12'", None),
            ("'open", None),
        ] {
            assert_eq!(value(sql).as_deref(), expected, "{sql:?}");
        }
    }

    #[cfg(feature = "db")]
    #[test]
    fn a_created_index_is_its_name_and_its_table_as_the_server_reads_them() {
        use super::created_index;
        let read = |sql| {
            created_index(sql).map(|(name, t)| {
                (
                    name.map(|n| n.into_owned()),
                    t.schema.map(|s| s.into_owned()),
                    t.name.into_owned(),
                )
            })
        };
        let owned = |n: Option<&str>, s: Option<&str>, t: &str| {
            Some((n.map(str::to_string), s.map(str::to_string), t.to_string()))
        };
        assert_eq!(
            read("CREATE INDEX CONCURRENTLY R1_i ON r1 (id);"),
            owned(Some("r1_i"), None, "r1")
        );
        assert_eq!(
            read("create unique index concurrently if not exists \"Ix\" on only \"S\".T (a)"),
            owned(Some("Ix"), Some("S"), "t")
        );
        // No name: the server picks one. A column named like an index is not its name.
        assert_eq!(
            read("CREATE INDEX CONCURRENTLY ON s.t (r1_i);"),
            owned(None, Some("s"), "t")
        );
        assert_eq!(
            read("/* c */ CREATE INDEX -- x\n i ON db.s.t USING btree (a)"),
            owned(Some("i"), Some("s"), "t")
        );
        assert_eq!(read("CREATE TABLE i (a int);"), None);
        assert_eq!(read("DROP INDEX CONCURRENTLY i;"), None);
    }

    #[cfg(feature = "db")]
    #[test]
    fn a_drop_index_is_the_indexes_it_names() {
        use super::dropped_indexes;
        let read = |sql| {
            dropped_indexes(sql).map(|names| {
                (names.into_iter())
                    .map(|n| (n.schema.map(|s| s.into_owned()), n.name.into_owned()))
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(
            read("DROP INDEX CONCURRENTLY IF EXISTS t_u;"),
            Some(vec![(None, "t_u".to_string())])
        );
        assert_eq!(
            read("drop index \"S\".I, j cascade"),
            Some(vec![
                (Some("S".to_string()), "i".to_string()),
                (None, "j".to_string())
            ])
        );
        assert_eq!(read("DROP TABLE t_u;"), None);
        assert_eq!(read("DROP INDEX t_u; SELECT 1"), None);
        assert_eq!(read("CREATE INDEX t_u ON t (a);"), None);
    }

    #[cfg(feature = "db")]
    #[test]
    fn a_concurrent_detach_is_its_table_and_its_partition() {
        use super::concurrently_detached;
        let read = |sql| {
            concurrently_detached(sql).map(|(t, p)| {
                (
                    t.schema.map(|s| s.into_owned()),
                    t.name.into_owned(),
                    p.schema.map(|s| s.into_owned()),
                    p.name.into_owned(),
                )
            })
        };
        let owned = |ts: Option<&str>, t: &str, ps: Option<&str>, p: &str| {
            Some((
                ts.map(str::to_string),
                t.to_string(),
                ps.map(str::to_string),
                p.to_string(),
            ))
        };
        assert_eq!(
            read("ALTER TABLE p DETACH PARTITION p2 CONCURRENTLY;"),
            owned(None, "p", None, "p2")
        );
        assert_eq!(
            read(
                "alter table if exists only \"S\".P /* c */ detach partition s.\"P2\" concurrently"
            ),
            owned(Some("S"), "p", Some("s"), "P2")
        );
        assert_eq!(read("ALTER TABLE p DETACH PARTITION p2;"), None);
        assert_eq!(read("ALTER TABLE p DETACH PARTITION p2 FINALIZE;"), None);
        assert_eq!(read("ALTER TABLE p ADD COLUMN concurrently int;"), None);
        assert_eq!(read("CREATE INDEX CONCURRENTLY i ON p (id);"), None);
    }

    #[test]
    fn unicode_escaped_identifiers_name_the_table_they_spell() {
        // U&"t\0061b" is the table tab, created just before: the index is on a new table.
        let sql = "CREATE TABLE tab (a int);\nCREATE INDEX i ON U&\"t\\0061b\" (a);\n\
                   CREATE INDEX j ON u&\"\\+000074ab\" (a);\n";
        assert_eq!(up(sql), []);
        // Another table, spelled with escapes, is an existing one.
        assert_eq!(
            up("CREATE TABLE tab (a int);\nCREATE INDEX i ON U&\"t\\0061x\" (a);\n"),
            [("C110", 2)]
        );
        // With UESCAPE, or an escape that is not one, the rules stay quiet rather than guess.
        assert_eq!(
            up("CREATE INDEX i ON U&\"t!0061b\" UESCAPE '!' (a);\nCREATE INDEX j ON U&\"\\zz\" (a);\n"),
            []
        );
    }
}
