//! The statements a `DO` block runs: its PL/pgSQL body read as statements, for the rules about
//! what a statement does to the migration's session (`C106`, `C109`, `C119`). A `DO` block runs
//! where it is written, in the migration's transaction and session, so a `SET` in its body is
//! the migration's; a function's body is not read (it runs where the function is called).
//!
//! The body's text is [`code_of`]'s, the one reading of "a body" every rule that looks into
//! bodies shares: a `'...'` body with `''`, an `E'...'` body with its backslash escapes, and a
//! string or dollar quote inside either are read as the server reads them.

use super::lexer::{Token, TokenKind};
use super::{code_of, syntax, Code};

/// `visit` applied to each statement the body of `tokens` (one statement, no trivia) runs
/// when it is `DO [LANGUAGE plpgsql] <body>` (PL/pgSQL is the default), in order, each as its
/// tokens (no trivia): the SQL statements of the body — `SET ...;`, `PERFORM set_config(...);`,
/// the statement in an `IF ... THEN` or after a `BEGIN` — and, after an `EXECUTE` of one
/// literal (`EXECUTE 'SET ...'`), the statements of that literal, a `DO` among them read in
/// turn: the first answer it gives. `None` without asking for any other statement, or a body
/// in another language; an `EXECUTE` of an expression (`format(...)`, `'...' || x`) is not
/// read.
pub(super) fn find_statement<T>(
    tokens: &[Token<'_>],
    visit: &mut dyn FnMut(&[Token<'_>]) -> Option<T>,
) -> Option<T> {
    let code = body(tokens, None)?;
    walk(&code, Grammar::PlPgSql, visit)
}

/// What `find` answers of `tokens` (one statement, no trivia), else of the statements the body
/// of the `DO` block it is runs ([`find_statement`]): the statement and those it runs in the
/// migration's session, the one reading of them `C106`, `C109` and `C119` share. The `bool`:
/// found in the block's body.
pub(super) fn find_in_session<T>(
    tokens: &[Token<'_>],
    find: &mut dyn FnMut(&[Token<'_>]) -> Option<T>,
) -> Option<(T, bool)> {
    if let Some(found) = find(tokens) {
        return Some((found, false));
    }
    find_statement(tokens, find).map(|found| (found, true))
}

/// [`find_in_session`], what it found named as the statement names it: `what`, or `what in a
/// DO block`.
pub(super) fn named_in_session(
    tokens: &[Token<'_>],
    find: &mut dyn FnMut(&[Token<'_>]) -> Option<String>,
) -> Option<String> {
    find_in_session(tokens, find).map(|(what, in_block)| {
        if in_block {
            format!("{what} in a DO block")
        } else {
            what
        }
    })
}

/// A `DO` block's PL/pgSQL body, for the engine placing a runtime error of the block
/// ([`plpgsql_body`]).
#[cfg(feature = "db")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DoBody {
    /// Where the body's text begins in the statement's, when it is the text the server runs,
    /// character for character: a dollar quote's body, a `'...'` string's without escapes or
    /// doubled quotes. `None` when decoding moved it (`''`, `E'\n'`): a line PL/pgSQL gives
    /// cannot be found in the file then.
    pub start: Option<usize>,
}

/// The body of `statement` (one statement's text, as the file was cut) when it is
/// `DO [LANGUAGE plpgsql] <body>`, read as [`find_statement`] reads it ([`code_of`]); `None`
/// for any other statement and a body in another language.
#[cfg(feature = "db")]
pub(crate) fn plpgsql_body(statement: &str) -> Option<DoBody> {
    let tokens: Vec<Token<'_>> = super::lexer::tokens(statement)
        .filter(|t| !t.is_trivia())
        .collect();
    let code = body(&tokens, None)?;
    // A backslash in a `'...'` body is read otherwise under `standard_conforming_strings =
    // off`, which the session may have: its lines may not be the file's.
    let quoted = statement
        .get(code.literal..)
        .is_none_or(|literal| !literal.starts_with('$'));
    let start = code.at.filter(|_| !(quoted && code.text.contains('\\')));
    Some(DoBody { start })
}

/// The PL/pgSQL statements of `body` (a body's text, as the server runs it), each the range of
/// its text in `body`, from its first token to its last (no `;`), cut as [`find_statement`]
/// cuts a body: for the engine placing a runtime error the server names only by a line that
/// holds several of the file's, and by the statement's kind or text.
#[cfg(feature = "db")]
pub(crate) fn plpgsql_statements(body: &str) -> Vec<std::ops::Range<usize>> {
    let tokens: Vec<Token<'_>> = super::lexer::tokens(body)
        .filter(|t| !t.is_trivia())
        .collect();
    cut(&tokens, Grammar::PlPgSql)
        .into_iter()
        .filter_map(|statement| {
            let (first, last) = (statement.first()?, statement.last()?);
            Some(first.start..last.start + last.text.len())
        })
        .collect()
}

/// How the text of a body or of an `EXECUTE` is cut into statements.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Grammar {
    /// A PL/pgSQL block: a statement also starts after `BEGIN`, `THEN`, `ELSE`, `LOOP` and a
    /// `<<label>>`.
    PlPgSql,
    /// SQL: statements end at `;`.
    Sql,
}

/// The body of a `DO` statement in PL/pgSQL ([`code_of`]; `outer`: the code `tokens` were
/// read from, when they are a body's own).
fn body<'a>(tokens: &[Token<'a>], outer: Option<&Code<'_>>) -> Option<Code<'a>> {
    if !tokens.first()?.is_word("DO") {
        return None;
    }
    let mut code = None;
    let mut i = 1;
    while let Some(t) = tokens.get(i) {
        if t.is_word("LANGUAGE") {
            let language = tokens.get(i + 1)?;
            let named = match language.kind {
                TokenKind::String => syntax::string_value(language),
                _ => syntax::resolved(language),
            };
            if !named.is_some_and(|l| l.eq_ignore_ascii_case("plpgsql")) {
                return None;
            }
            i += 2;
            continue;
        }
        if code.is_none() && matches!(t.kind, TokenKind::String | TokenKind::DollarString) {
            code = Some(i);
        }
        i += 1;
    }
    match outer {
        Some(outer) => outer.nested(tokens, code?),
        None => code_of(tokens, code?, false),
    }
}

/// `visit` applied to each statement of `code` cut by `grammar`, then to those it runs
/// ([`runs`]), depth first: the first answer.
fn walk<T>(
    code: &Code<'_>,
    grammar: Grammar,
    visit: &mut dyn FnMut(&[Token<'_>]) -> Option<T>,
) -> Option<T> {
    let tokens = code.tokens();
    cut(&tokens, grammar)
        .into_iter()
        .find_map(|statement| visit(statement).or_else(|| runs(code, statement, visit)))
}

/// Cuts `tokens` (a body's or an `EXECUTE`'s, no trivia) into statements, none empty.
fn cut<'t, 'a>(tokens: &'t [Token<'a>], grammar: Grammar) -> Vec<&'t [Token<'a>]> {
    let mut out = Vec::new();
    let mut depth = 0u32;
    let mut start = 0;
    for (i, t) in tokens.iter().enumerate() {
        match t.kind {
            TokenKind::OpenParen => depth += 1,
            TokenKind::CloseParen => depth = depth.saturating_sub(1),
            _ => {}
        }
        let ends = depth == 0
            && (t.kind == TokenKind::Semicolon
                || (grammar == Grammar::PlPgSql && starts_a_statement_after(tokens, i)));
        if ends {
            out.push(&tokens[start..i]);
            start = i + 1;
        }
    }
    out.push(&tokens[start..]);
    out.retain(|s| !s.is_empty());
    out
}

/// Whether a PL/pgSQL statement starts after `tokens[i]`: `BEGIN`, `THEN`, `ELSE`, `LOOP` (not
/// `END LOOP`), or
/// the `>>` ending a label. (In an SQL expression, `THEN` and `ELSE` are followed by an
/// expression, never by the command words the rules read.)
fn starts_a_statement_after(tokens: &[Token<'_>], i: usize) -> bool {
    let t = &tokens[i];
    let after = |w: &str| i >= 1 && tokens[i - 1].is_word(w);
    ["BEGIN", "THEN", "ELSE"].iter().any(|w| t.is_word(w))
        || (t.is_word("LOOP") && !after("END"))
        || (t.text == ">" && i >= 1 && tokens[i - 1].text == ">")
}

/// `visit` applied to what `statement` (one of `code`'s) runs: the statements of an `EXECUTE`
/// of one literal (`EXECUTE '...' [INTO ...] [USING ...]`), of a `DO` block's body.
fn runs<T>(
    code: &Code<'_>,
    statement: &[Token<'_>],
    visit: &mut dyn FnMut(&[Token<'_>]) -> Option<T>,
) -> Option<T> {
    let first = statement.first()?;
    if first.is_word("EXECUTE") {
        let one_literal = statement
            .get(2)
            .is_none_or(|t| t.is_word("INTO") || t.is_word("USING"));
        if !one_literal {
            return None;
        }
        walk(&code.nested(statement, 1)?, Grammar::Sql, visit)
    } else if first.is_word("DO") {
        walk(&body(statement, Some(code))?, Grammar::PlPgSql, visit)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokens;
    use super::*;

    /// The statements of `sql`'s body, each as its text (tokens joined by a space).
    fn run(sql: &str) -> Vec<String> {
        let t: Vec<_> = tokens(sql).filter(|t| !t.is_trivia()).collect();
        let mut out = Vec::new();
        find_statement::<()>(&t, &mut |s| {
            let words: Vec<_> = s.iter().map(|t| t.text).collect();
            out.push(words.join(" "));
            None
        });
        out
    }

    #[test]
    fn a_do_block_runs_the_statements_of_its_body() {
        assert_eq!(
            run("DO $$ BEGIN SET lock_timeout = 0; PERFORM f(1); END $$"),
            ["SET lock_timeout = 0", "PERFORM f ( 1 )", "END"]
        );
        assert_eq!(
            run("DO $x$\nDECLARE n int;\nBEGIN\n  IF n > 0 THEN RESET ALL; ELSE SET a = 1; END IF;\nEND\n$x$;"),
            ["DECLARE n int", "IF n > 0", "RESET ALL", "SET a = 1", "END IF", "END"]
        );
        assert_eq!(
            run("DO LANGUAGE plpgsql 'BEGIN <<l>> LOOP SET a = 1; EXIT; END LOOP; END'"),
            ["< < l >", "SET a = 1", "EXIT", "END LOOP", "END"]
        );
        // An EXECUTE of a literal: its statement too.
        assert_eq!(
            run("DO $$BEGIN EXECUTE 'SET lock_timeout = 0'; EXECUTE $q$RESET ALL$q$ INTO x; END$$"),
            [
                "EXECUTE 'SET lock_timeout = 0'",
                "SET lock_timeout = 0",
                "EXECUTE $q$RESET ALL$q$ INTO x",
                "RESET ALL",
                "END"
            ]
        );
        // Parentheses keep an expression whole.
        assert_eq!(
            run("DO $$BEGIN PERFORM f(CASE WHEN a THEN 1 ELSE 2 END); END$$"),
            ["PERFORM f ( CASE WHEN a THEN 1 ELSE 2 END )", "END"]
        );
    }

    #[test]
    fn what_is_no_do_block_in_pl_pgsql_runs_nothing_lint_reads() {
        for sql in [
            "SELECT $$ SET lock_timeout = 0 $$",
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN SET a = 1; END $$",
            "DO LANGUAGE plperl $$ SET a = 1 $$",
            "DO $$ SET a = 1 $$ LANGUAGE plpython3u",
        ] {
            assert_eq!(run(sql), Vec::<String>::new(), "{sql}");
        }
        // An EXECUTE of an expression: not read.
        assert_eq!(
            run("DO $$BEGIN EXECUTE 'SET a = ' || 1; EXECUTE format('SET %I = 0', 'a'); END$$"),
            [
                "EXECUTE 'SET a = ' | | 1",
                "EXECUTE format ( 'SET %I = 0' , 'a' )",
                "END"
            ]
        );
    }

    /// The class of quoted bodies: each is read as the server reads it, whatever quotes it, at
    /// any depth.
    #[test]
    fn a_quoted_body_is_read_as_the_server_reads_it() {
        let read = ["SET a = 'x'", "RESET ALL", "END"];
        for sql in [
            // `''` in '...'.
            "DO 'BEGIN SET a = ''x''; RESET ALL; END'",
            "DO LANGUAGE 'plpgsql' 'BEGIN SET a = ''x''; RESET ALL; END'",
            // `\'` and `''` in E'...', and its other escapes.
            r"DO E'BEGIN SET a = \'x''; RESET ALL; END'",
            r"DO e'BEGIN\nSET a = ''x\';\tRESET ALL; END'",
            // A continuation.
            "DO 'BEGIN SET a = ''x'';'\n' RESET ALL; END'",
            // U&'...'.
            r"DO U&'BEGIN SET a = ''\0078''; RESET ALL; END'",
        ] {
            assert_eq!(run(sql), read, "{sql}");
        }
        // Quotes within quotes: an EXECUTE's literal, dollar quotes in '...' and in each other.
        for sql in [
            "DO 'BEGIN EXECUTE ''SET a = ''''x''''''; END'",
            r"DO E'BEGIN EXECUTE \'SET a = \'\'x\'\'\'; END'",
            "DO 'BEGIN EXECUTE $q$SET a = ''x''$q$; END'",
            "DO $$BEGIN EXECUTE 'SET a = ''x'''; END$$",
            "DO $a$BEGIN EXECUTE $b$SET a = 'x'$b$; END$a$",
        ] {
            assert_eq!(run(sql)[1..], ["SET a = 'x'", "END"], "{sql}");
        }
        // A DO in a quoted body, quoted in turn.
        assert_eq!(
            run("DO 'BEGIN DO $x$BEGIN EXECUTE ''RESET ALL''; END$x$; END'"),
            [
                "DO $x$BEGIN EXECUTE 'RESET ALL'; END$x$",
                "EXECUTE 'RESET ALL'",
                "RESET ALL",
                "END",
                "END"
            ]
        );
        assert_eq!(
            run(r"DO E'BEGIN DO \'BEGIN RESET ALL; END\'; END'"),
            ["DO 'BEGIN RESET ALL; END'", "RESET ALL", "END", "END"]
        );
    }

    #[test]
    fn body_tokens_keep_their_offsets_in_the_statement() {
        let sql = "DO $$ BEGIN SET a = 1; END $$";
        let t: Vec<_> = tokens(sql).filter(|t| !t.is_trivia()).collect();
        let at = find_statement(&t, &mut |s| Some(s[0].start)).unwrap();
        assert_eq!(&sql[at..at + 3], "SET");
    }

    #[cfg(feature = "db")]
    #[test]
    fn a_blocks_body_starts_where_its_text_is_the_files() {
        let start = |s: &str| plpgsql_body(s).map(|b| b.start);
        assert_eq!(start("DO $t$\nBEGIN END $t$"), Some(Some(6)));
        assert_eq!(start("DO LANGUAGE plpgsql $$ BEGIN END $$"), Some(Some(22)));
        assert_eq!(start("DO 'BEGIN END'"), Some(Some(4)));
        assert_eq!(start("DO E'BEGIN\\n END'"), Some(None), "decoded");
        assert_eq!(start("DO 'BEGIN RAISE ''x''; END'"), Some(None), "decoded");
        assert_eq!(
            start("DO 'BEGIN\\ END'"),
            Some(None),
            "standard strings may be off"
        );
        assert_eq!(start("DO $$BEGIN\\ END$$"), Some(Some(5)));
        assert_eq!(start("DO LANGUAGE plperl $$ 1 $$"), None);
        assert_eq!(start("SELECT $$x$$"), None);
    }
}
