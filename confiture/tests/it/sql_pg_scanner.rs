//! The splitter against PostgreSQL's own scanner, on generated SQL: strings of every kind
//! (`'...'`, `E'...'`, `N'...'`, `B'...'`, `X'...'`, `U&'...'` with and without `UESCAPE`,
//! dollar quotes with tags), string continuations and near misses, `--` and nested `/* */`
//! comments, comment starts inside operators, quoted and `U&"..."` identifiers, `BEGIN ATOMIC`
//! bodies, literals left open at the end; with `standard_conforming_strings` on and off.
//!
//! The oracle is the server itself. Each generated text is sent as one simple-query message,
//! as the engine sends a migration, with `debug_print_parse` on and `client_min_messages =
//! log`: before running each statement the server reports its parse tree, whose
//! `stmt_location` and `stmt_len` are where its grammar cut the message (the location is just
//! after the previous `;`, the length runs to the statement's own `;`, and 0 means "to the
//! end"). A text the server cannot read comes back as a syntax error at a position instead.
//! The same outcome is predicted from our tokens alone — statement ranges, unterminated
//! constructs, and two literals in a row (the only grammar error the generator can make, and
//! only when the server does not join them into one literal) — and the two must be equal.
//!
//! Deterministic (the shared xorshift generator); `CONFITURE_FUZZ_ITERS` and
//! `CONFITURE_FUZZ_SEED` as in the other property tests (`cargo xtask fuzz` runs it longer).
//! Needs PostgreSQL (`CONFITURE_TEST_SERVER`); fails loudly if none is reachable.
#![cfg(feature = "db")]

use crate::common;
use crate::xorshift;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::TestDb;
use confiture::files::lexer::{self, Construct, ProblemKind, StandardConformingStrings, TokenKind};
use postgres::error::{ErrorPosition, SqlState};
use postgres::{Client, NoTls};
use xorshift::{iterations, XorShift};

/// What the server did with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Every statement ran; where each was cut: `(stmt_location, stmt_len)` in bytes.
    Ran(Vec<(usize, usize)>),
    /// Refused before running anything: a syntax error at this byte offset.
    SyntaxError(usize),
}

/// A session that reports where the server cuts each statement.
struct Scanner {
    client: Client,
    locations: Arc<Mutex<Vec<(usize, usize)>>>,
}

impl Scanner {
    fn connect(db: &TestDb, strings: StandardConformingStrings) -> Scanner {
        let mut config: postgres::Config = db.conninfo().parse().expect("the conninfo parses");
        let locations = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&locations);
        config.notice_callback(move |notice| {
            if notice.message() != "parse tree:" {
                return;
            }
            // The first location of the dump is the top-level query's. Statements of a
            // BEGIN ATOMIC body, analysed while the function is created, report -1.
            if let Some(at) = notice.detail().and_then(top_level_location) {
                sink.lock().expect("lock").push(at);
            }
        });
        let mut client = config.connect(NoTls).unwrap_or_else(|e| {
            panic!(
                "this test needs PostgreSQL at `{}` ({}): {e}",
                db.conninfo(),
                common::SERVER_VAR
            )
        });
        let scs = match strings {
            StandardConformingStrings::On => "on",
            StandardConformingStrings::Off => "off",
        };
        client
            .batch_execute(&format!(
                "SET standard_conforming_strings = {scs}; SET escape_string_warning = off;
                 SET client_min_messages = log; SET debug_pretty_print = off;
                 SET debug_print_parse = on;"
            ))
            .expect("session settings");
        Scanner { client, locations }
    }

    fn run(&mut self, text: &str) -> Outcome {
        self.locations.lock().expect("lock").clear();
        match self.client.batch_execute(text) {
            Ok(()) => Outcome::Ran(std::mem::take(&mut *self.locations.lock().expect("lock"))),
            Err(e) => {
                let Some(db) = e.as_db_error() else {
                    panic!("the connection failed on {text:?}: {e}")
                };
                match (db.code(), db.position()) {
                    (code, Some(ErrorPosition::Original(at))) if *code == SqlState::SYNTAX_ERROR => {
                        Outcome::SyntaxError(byte_offset(text, *at))
                    }
                    _ => panic!(
                        "not a syntax error, so the generator made SQL it did not mean to: {text:?}\n{db:?}"
                    ),
                }
            }
        }
    }
}

/// `:stmt_location 12 :stmt_len 30` of a parse tree dump, if the location is not -1.
fn top_level_location(dump: &str) -> Option<(usize, usize)> {
    let number = |key: &str| -> Option<i64> {
        let at = dump.find(key)? + key.len();
        let digits: String = dump[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        digits.parse().ok()
    };
    let location = usize::try_from(number(":stmt_location ")?).ok()?;
    let len = usize::try_from(number(":stmt_len ")?).ok()?;
    Some((location, len))
}

/// The byte offset of the 1-based character position the server reports.
fn byte_offset(text: &str, position: u32) -> usize {
    let index = usize::try_from(position)
        .unwrap_or(usize::MAX)
        .saturating_sub(1);
    text.char_indices()
        .nth(index)
        .map_or(text.len(), |(at, _)| at)
}

/// What the server will do, from our lexer alone.
fn predict(text: &str, strings: StandardConformingStrings) -> Outcome {
    let split = lexer::split_with(text, strings);
    // The server stops at the first thing it cannot read, in reading order: a quote or
    // comment left open (reported where it starts), a stray backslash, or a literal right
    // after a literal. An open parenthesis or BEGIN ATOMIC body is a grammar error at the end,
    // which the generator never makes.
    let mut first_error = split
        .problems
        .iter()
        .filter(|p| match p.kind {
            ProblemKind::MetaCommand => true,
            ProblemKind::Unterminated(construct) => {
                !matches!(construct, Construct::Parenthesis | Construct::AtomicBody)
            }
            // `#[non_exhaustive]`: a problem kind added later is taken as the server's error.
            _ => true,
        })
        .map(|p| p.range.start)
        .min();
    let mut previous_literal = false;
    let mut tokens = lexer::tokens_with(text, strings)
        .filter(|t| !t.is_trivia())
        .peekable();
    while let Some(token) = tokens.next() {
        // `N'...'` is the keyword NCHAR and a string: one literal. After another literal, the
        // grammar takes `N` for a column alias and stops at the string.
        let nchar = token
            .is_word("N")
            .then(|| {
                tokens.next_if(|next| next.kind == TokenKind::String && next.start == token.end())
            })
            .flatten();
        let at = nchar.map_or(token.start, |string| string.start);
        let literal =
            nchar.is_some() || matches!(token.kind, TokenKind::String | TokenKind::DollarString);
        if literal && previous_literal {
            first_error = Some(first_error.map_or(at, |e| e.min(at)));
            break;
        }
        previous_literal = literal;
    }
    if let Some(at) = first_error {
        return Outcome::SyntaxError(at);
    }
    let semicolons: Vec<usize> = lexer::tokens_with(text, strings)
        .filter(|t| t.kind == TokenKind::Semicolon)
        .map(|t| t.start)
        .collect();
    Outcome::Ran(
        split
            .statements
            .iter()
            .map(|stmt| {
                let location = semicolons
                    .iter()
                    .rev()
                    .find(|&&at| at < stmt.range.start)
                    .map_or(0, |at| at + 1);
                let len = if stmt.terminated {
                    stmt.range.end - 1 - location
                } else {
                    0
                };
                (location, len)
            })
            .collect(),
    )
}

fn assert_agrees(scanner: &mut Scanner, text: &str, strings: StandardConformingStrings) -> Outcome {
    let ours = predict(text, strings);
    let server = scanner.run(text);
    if ours != server {
        let pieces: Vec<&str> = lexer::split_with(text, strings)
            .statements
            .iter()
            .map(|s| s.text)
            .collect();
        let tokens: Vec<(usize, TokenKind, &str)> = lexer::tokens_with(text, strings)
            .filter(|t| !t.is_trivia())
            .map(|t| (t.start, t.kind, t.text))
            .collect();
        panic!(
            "the splitter disagrees with PostgreSQL (standard_conforming_strings {strings:?})\n\
             text: {text:?}\n ours: {ours:?}\n server: {server:?}\n our statements: {pieces:#?}\n\
             our tokens: {tokens:#?}"
        );
    }
    server
}

// ---------------------------------------------------------------------------------------------
// The generator: SQL that is valid when read as PostgreSQL reads it, except for the deliberate
// near misses (two literals that do not join) and the literals left open at the end.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Escape,
    National,
    Bits,
    Hex,
    Unicode,
    Dollar,
}

/// Pieces of string content, before they are written the way each kind of literal needs.
const CONTENT: &[&str] = &[
    "a", "b", " ", ";", "'", "\\", "\"", "$", "$$", "$a$", "--", "/*", "*/", "\n", "é", "日本",
    "COMMIT", "-", "*", "/", "E", "U&", "x", "0", "''", "\\'", ";'",
];

/// Raw escape sequences an `E'...'` string may hold (all valid, none making invalid text).
const ESCAPES: &[&str] = &[
    "\\n",
    "\\t",
    "\\x41",
    "\\101",
    "\\u00e9",
    "\\U0001F980",
    "\\;",
    "\\\"",
    "\\$",
    "\\-",
    "\\*",
    "\\\\",
    "\\'",
    "\\b",
    "\\\n",
];

/// Whitespace between two parts that continues the literal.
const CONTINUE: &[&str] = &[
    "\n",
    " \n",
    "\n ",
    "\t\n\t",
    "\r\n",
    "\r",
    "\n\n",
    " -- c ' ; \" $$ /* \n",
    "-- c\n",
    "\n-- c\n",
    "\n  -- ' ;\n  ",
    " -- a\n-- b\n",
    "\x0c\n",
    "\n\x0c",
    "--\n",
    "\r\n-- x\r\n",
    " --;\r",
];

/// Whitespace between two parts that does not continue the literal (or, for `''`, is a quote).
const NEAR_MISS: &[&str] = &[
    " ",
    "",
    "\t",
    " /* c */\n",
    "\n/* c */",
    "\n/* ' */\n",
    "/**/\n",
    " -- c\n/* x */ ",
    "\x0c",
];

/// Whitespace and comments between tokens.
const TRIVIA: &[&str] = &[
    " ",
    "\n",
    "\t",
    "  ",
    "-- c ' ; $$ \" /*\n",
    "/* c ' ; */",
    "/* a /* b ; */ ' */",
    "\r\n",
    "\x0c",
    "/**/",
    "--\n",
    "/*/ x */",
    "/*** ; **/",
    " -- E'\n",
    "-- c ; '\r",
];

/// Expressions without string literals: comment starts in the middle of operators.
const NUMBERS: &[&str] = &[
    "1",
    "1 +-- c ' ;\n 2",
    "2 */* c ; */ 3",
    "4 -/* ' */- 5",
    "6 <-- x\n 7",
    "8 =/**/ 8",
    "1.5e-3",
    ".5",
    "1e+2",
    "0.",
    "10 /2",
    "( /* ; */ 4 )",
    "(1 + (2))",
    "'x' ||-- c\n 'y'",
    "'x'||/* ' */'y'",
];

const TAGS: &[&str] = &["", "a", "fn", "é", "_1", "A", "a1"];

struct Gen<'r> {
    rng: &'r mut XorShift,
    strings: StandardConformingStrings,
    out: String,
}

impl Gen<'_> {
    fn chance(&mut self, one_in: usize) -> bool {
        self.rng.below(one_in) == 0
    }

    fn pick(&mut self, items: &[&'static str]) -> &'static str {
        self.rng.pick(items)
    }

    fn push(&mut self, text: &str) {
        self.out.push_str(text);
    }

    fn trivia(&mut self) {
        let pieces = 1 + usize::from(self.chance(4));
        for _ in 0..pieces {
            let t = self.pick(TRIVIA);
            self.push(t);
        }
    }

    fn input(mut self) -> String {
        if self.chance(3) {
            self.trivia();
        }
        let statements = 1 + self.rng.below(4);
        let open_end = self.chance(10);
        for i in 0..statements {
            if self.chance(10) {
                self.function();
            } else if self.chance(15) {
                self.parameter_function();
            } else {
                self.select();
            }
            if i + 1 < statements || open_end || !self.chance(3) {
                let end = self.pick(&[";", " ;", ";;", ";\n;", "\n;", ";\n"]);
                self.push(end);
            }
            if self.chance(2) {
                self.trivia();
            }
        }
        if open_end {
            self.push("SELECT ");
            self.open_literal();
        } else if self.chance(10) {
            // A comment that the end of the input ends.
            self.push("-- tail ' ;");
        }
        self.out
    }

    fn select(&mut self) {
        let word = self.pick(&["SELECT", "select", "Select"]);
        self.push(word);
        self.trivia();
        let items = 1 + self.rng.below(3);
        for i in 0..items {
            if i > 0 {
                if self.chance(2) {
                    self.trivia();
                }
                self.push(",");
                self.trivia();
            }
            self.item();
        }
    }

    /// A `BEGIN ATOMIC` body: the grammar, not the scanner, keeps its `;` inside.
    fn function(&mut self) {
        self.push("CREATE OR REPLACE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql");
        self.trivia();
        self.push("BEGIN ATOMIC");
        self.trivia();
        self.select();
        self.push(";");
        self.trivia();
        self.push("SELECT CASE WHEN true THEN 1 END;");
        self.trivia();
        let word = self.pick(&["END", "end"]);
        self.push(word);
    }

    /// `$1` is a parameter, never the start of a dollar quote.
    fn parameter_function(&mut self) {
        self.push("CREATE OR REPLACE FUNCTION pg_temp.g(text) RETURNS text LANGUAGE sql");
        self.trivia();
        self.push("BEGIN ATOMIC SELECT $1||");
        let kind = self.kind();
        self.literal(kind);
        let end = self.pick(&[";END", "; END", ";\nend"]);
        self.push(end);
    }

    fn item(&mut self) {
        match self.rng.below(10) {
            0 => {
                let n = self.pick(NUMBERS);
                self.push(n);
            }
            1 => {
                let word = self.pick(&["text", "varchar"]);
                self.push(word);
                self.trivia();
                self.literal(Kind::Plain);
            }
            _ => {
                let kind = self.kind();
                self.literal(kind);
            }
        }
        if self.chance(3) {
            self.trivia();
            if self.chance(2) {
                self.push("AS");
                self.trivia();
            }
            self.alias();
        }
    }

    fn kind(&mut self) -> Kind {
        loop {
            let kind = [
                Kind::Plain,
                Kind::Plain,
                Kind::Escape,
                Kind::Escape,
                Kind::National,
                Kind::Bits,
                Kind::Hex,
                Kind::Unicode,
                Kind::Dollar,
                Kind::Dollar,
            ][self.rng.below(10)];
            // `U&'...'` is an error with standard_conforming_strings off.
            if kind != Kind::Unicode || self.strings == StandardConformingStrings::On {
                return kind;
            }
        }
    }

    fn alias(&mut self) {
        match self.rng.below(4) {
            0 => {
                let word = self.pick(&["a$b", "x1", "é", "_", "col", "a$b$c", "x$$"]);
                self.push(word);
            }
            1 => {
                let word = self.pick(&["U&\"", "u&\""]);
                self.push(word);
                let content = self.content(CONTENT, 4);
                let mut body = content.replace('\\', "\\\\").replace('"', "\"\"");
                if body.is_empty() || self.chance(4) {
                    body.push_str("\\00e9");
                }
                self.push(&body);
                self.push("\"");
            }
            _ => {
                self.push("\"");
                let mut body = self.content(CONTENT, 4).replace('"', "\"\"");
                if body.is_empty() {
                    body.push('i');
                }
                self.push(&body);
                self.push("\"");
            }
        }
    }

    fn content(&mut self, pool: &[&'static str], max: usize) -> String {
        let n = self.rng.below(max + 1);
        (0..n).map(|_| self.pick(pool)).collect()
    }

    /// How the body of a part of this kind is written, given what it should hold.
    fn body(&mut self, kind: Kind, uescape: bool) -> String {
        let escapes = kind == Kind::Escape
            || (matches!(kind, Kind::Plain | Kind::National)
                && self.strings == StandardConformingStrings::Off);
        match kind {
            Kind::Bits => self.content(&["0", "1"], 6),
            Kind::Hex => self.content(&["0", "9", "a", "F"], 6),
            _ if escapes => {
                let mut body = String::new();
                for _ in 0..self.rng.below(6) {
                    if self.chance(3) {
                        body.push_str(self.pick(ESCAPES));
                        continue;
                    }
                    let piece = self.pick(CONTENT);
                    for c in piece.chars() {
                        match c {
                            '\'' => body.push_str(self.pick(&["''", "\\'"])),
                            '\\' => body.push_str("\\\\"),
                            c => body.push(c),
                        }
                    }
                }
                body
            }
            Kind::Unicode => {
                let (escape, sample) = if uescape {
                    ('!', "!00e9")
                } else {
                    ('\\', "\\+0000e9")
                };
                let mut body = String::new();
                for _ in 0..self.rng.below(6) {
                    if self.chance(4) {
                        body.push_str(sample);
                        continue;
                    }
                    let piece = self.pick(CONTENT);
                    for c in piece.chars() {
                        match c {
                            '\'' => body.push_str("''"),
                            c if c == escape => {
                                body.push(c);
                                body.push(c);
                            }
                            c => body.push(c),
                        }
                    }
                }
                body
            }
            _ => self.content(CONTENT, 5).replace('\'', "''"),
        }
    }

    fn prefix(kind: Kind) -> &'static str {
        match kind {
            Kind::Plain | Kind::Dollar => "",
            Kind::Escape => "E",
            Kind::National => "N",
            Kind::Bits => "B",
            Kind::Hex => "X",
            Kind::Unicode => "U&",
        }
    }

    fn literal(&mut self, mut kind: Kind) {
        if kind == Kind::Dollar {
            let tag = self.pick(TAGS);
            let delimiter = format!("${tag}$");
            let mut body = self.content(CONTENT, 5);
            let closed_at = format!("{body}{delimiter}").find(&delimiter);
            if closed_at != Some(body.len()) {
                body = "x".to_string();
            }
            self.push(&delimiter);
            self.push(&body);
            self.push(&delimiter);
            if self.chance(15) {
                // Dollar quotes never continue: a near miss.
                let gap = self.pick(CONTINUE);
                self.push(gap);
                self.push("'z'");
            }
            return;
        }
        let prefix = Self::prefix(kind);
        let prefix = if self.chance(2) {
            prefix.to_ascii_lowercase()
        } else {
            prefix.to_string()
        };
        let mut uescape = kind == Kind::Unicode && self.chance(3);
        let parts = if self.chance(2) {
            2 + self.rng.below(3)
        } else {
            1
        };
        self.push(&prefix);
        for part in 0..parts {
            if part > 0 {
                // `UESCAPE` applies to the whole literal: a near miss would leave the first part
                // without it, an error of another kind.
                let gap = if !uescape && self.chance(25) {
                    self.pick(NEAR_MISS)
                } else {
                    self.pick(CONTINUE)
                };
                self.push(gap);
                if !uescape && self.chance(30) {
                    // A prefix starts a new literal with its own rules: a near miss.
                    // Later parts continue the new literal, with its rules.
                    let other = self.kind();
                    if !matches!(other, Kind::Dollar | Kind::Plain) {
                        self.push(Self::prefix(other));
                        kind = other;
                        uescape = false;
                    }
                }
            }
            self.push("'");
            let body = self.body(kind, uescape);
            self.push(&body);
            self.push("'");
        }
        if uescape {
            let word = self.pick(&[" UESCAPE '!'", "\nuescape\n'!'"]);
            self.push(word);
        }
    }

    /// A literal, identifier or comment that the input ends inside.
    fn open_literal(&mut self) {
        let mut openers = vec![
            "'abc",
            "'it''s; ",
            "E'a\\'",
            "$a$ x $$ ",
            "$$ $a$",
            "\"id",
            "/* /* */",
            "B'01",
            "'a'\n'b",
            "E'a' -- c\n'\\'",
            "'a\\';",
        ];
        if self.strings == StandardConformingStrings::On {
            openers.push("U&'a");
            openers.push("U&\"a\"\"");
        }
        let opener = self.pick(&openers);
        self.push(opener);
    }
}

fn generate(rng: &mut XorShift, strings: StandardConformingStrings) -> String {
    Gen {
        rng,
        strings,
        out: String::new(),
    }
    .input()
}

/// Runs `count` generated inputs; returns how many ran and how many were syntax errors.
fn differential(strings: StandardConformingStrings, count: usize) -> (usize, usize) {
    let db = TestDb::new("cft_scan");
    let mut scanner = Scanner::connect(&db, strings);
    let mut rng = XorShift::from_env();
    let (mut ran, mut refused) = (0, 0);
    for _ in 0..count {
        let text = generate(&mut rng, strings);
        match assert_agrees(&mut scanner, &text, strings) {
            Outcome::Ran(_) => ran += 1,
            Outcome::SyntaxError(_) => refused += 1,
        }
    }
    (ran, refused)
}

#[test]
fn the_split_matches_postgres_with_standard_conforming_strings() {
    let started = Instant::now();
    let count = iterations(800);
    let (ran, refused) = differential(StandardConformingStrings::On, count);
    // Both kinds of outcome must be well represented, or the test proves little.
    assert!(ran >= count / 2, "only {ran} of {count} inputs ran");
    assert!(
        refused >= count / 20,
        "only {refused} of {count} inputs were refused"
    );
    eprintln!(
        "{count} inputs ({ran} ran, {refused} refused) in {:?}",
        started.elapsed()
    );
}

#[test]
fn the_split_matches_postgres_without_standard_conforming_strings() {
    let count = iterations(800);
    let (ran, refused) = differential(StandardConformingStrings::Off, count);
    assert!(ran >= count / 2, "only {ran} of {count} inputs ran");
    assert!(
        refused >= count / 20,
        "only {refused} of {count} inputs were refused"
    );
}

/// The cases of issue 10, and the oracle's own sanity: it must see the statements.
#[test]
fn issue_examples_split_as_postgres_splits_them() {
    let db = TestDb::new("cft_scan");
    let mut on = Scanner::connect(&db, StandardConformingStrings::On);
    let mut off = Scanner::connect(&db, StandardConformingStrings::Off);
    // PostgreSQL runs the COMMIT: three statements.
    let commit = "SELECT E'a' -- c\n'\\' ' ; COMMIT ; SELECT ' -- '";
    let Outcome::Ran(cuts) = assert_agrees(&mut on, commit, StandardConformingStrings::On) else {
        panic!("{commit:?} runs")
    };
    assert_eq!(cuts.len(), 3, "{cuts:?}");
    // One literal, not an unterminated one.
    let insert = "SELECT (E'a\\n' -- note\n'it\\'s');\nSELECT 2;";
    let end = insert.find(";\n").unwrap_or(0);
    assert_eq!(
        assert_agrees(&mut on, insert, StandardConformingStrings::On),
        Outcome::Ran(vec![(0, end), (end + 1, insert.len() - 1 - (end + 1))])
    );
    // Plain strings take backslash escapes only with standard_conforming_strings off.
    let plain = "SELECT 'a\\'; SELECT '";
    assert_eq!(
        assert_agrees(&mut on, plain, StandardConformingStrings::On),
        Outcome::SyntaxError(plain.len() - 1)
    );
    assert_eq!(
        assert_agrees(&mut off, plain, StandardConformingStrings::Off),
        Outcome::Ran(vec![(0, 0)])
    );
    // A bit string ends at its first quote, also when continued.
    let bits = "SELECT B'01'\n'1''0'; SELECT 2";
    assert_eq!(
        assert_agrees(&mut on, bits, StandardConformingStrings::On),
        Outcome::SyntaxError(bits.rfind("'0'").unwrap_or(0))
    );
}
