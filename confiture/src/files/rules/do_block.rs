//! The statements a `DO` block runs: its PL/pgSQL body read as statements, for the rules about
//! what a statement does to the migration's session (`C106`, `C109`, `C119`). A `DO` block runs
//! where it is written, in the migration's transaction and session, so a `SET` in its body is
//! the migration's; a function's body is not read (it runs where the function is called).

use super::lexer::{self, Token, TokenKind};
use super::{dollar_body, syntax};

/// The statements the body of `tokens` (one statement, no trivia) runs when it is `DO
/// [LANGUAGE plpgsql] <body>` (PL/pgSQL is the default), each as its tokens (no trivia, their
/// offsets the statement's): the SQL statements of the body — `SET ...;`, `PERFORM
/// set_config(...);`, the statement in an `IF ... THEN` or after a `BEGIN` — and the statement
/// of an `EXECUTE` of one literal (`EXECUTE 'SET ...'`), a `DO` among them read in turn. Empty
/// for any other statement, a body in another language, or a `'...'` body with an escaped
/// quote (lint does not decode it); an `EXECUTE` of an expression (`format(...)`, `'...' ||
/// x`) is not read.
pub(super) fn statements<'a>(tokens: &[Token<'a>]) -> Vec<Vec<Token<'a>>> {
    let mut out = Vec::new();
    if let Some(body) = body(tokens) {
        collect(&body, Grammar::PlPgSql, &mut out);
    }
    out
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

/// The body of a `DO` statement in PL/pgSQL, as tokens (no trivia) with the statement's
/// offsets.
fn body<'a>(tokens: &[Token<'a>]) -> Option<Vec<Token<'a>>> {
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
            code = Some(t);
        }
        i += 1;
    }
    literal_tokens(code?)
}

/// The text of a literal (`'...'`, `$tag$...$tag$`) lexed as SQL: its tokens (no trivia) at
/// their offsets in the statement. `None` for a literal lint does not decode in place.
fn literal_tokens<'a>(literal: &Token<'a>) -> Option<Vec<Token<'a>>> {
    let text = match literal.kind {
        TokenKind::DollarString if literal.terminated => dollar_body(literal.text)?,
        TokenKind::String => match syntax::string_value(literal)? {
            std::borrow::Cow::Borrowed(text) => text,
            std::borrow::Cow::Owned(_) => return None,
        },
        _ => return None,
    };
    // `text` is a part of the literal's: its tokens' offsets are the literal's plus where the
    // part starts in it.
    let base = literal.start + (text.as_ptr() as usize - literal.text.as_ptr() as usize);
    Some(
        lexer::tokens(text)
            .filter(|t| !t.is_trivia())
            .map(|t| Token {
                start: t.start + base,
                ..t
            })
            .collect(),
    )
}

/// Cuts `tokens` (a body's or an `EXECUTE`'s, no trivia) into statements, adding each to
/// `out`, and those an `EXECUTE` of a literal or a nested `DO` runs after it.
fn collect<'a>(tokens: &[Token<'a>], grammar: Grammar, out: &mut Vec<Vec<Token<'a>>>) {
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
            statement(&tokens[start..i], out);
            start = i + 1;
        }
    }
    statement(&tokens[start..], out);
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

/// Adds one statement (when not empty) to `out`, then what it runs: an `EXECUTE` of one
/// literal (`EXECUTE '...' [INTO ...] [USING ...]`), a `DO` block.
fn statement<'a>(tokens: &[Token<'a>], out: &mut Vec<Vec<Token<'a>>>) {
    let Some(first) = tokens.first() else {
        return;
    };
    out.push(tokens.to_vec());
    if first.is_word("EXECUTE") {
        let one_literal = tokens
            .get(2)
            .is_none_or(|t| t.is_word("INTO") || t.is_word("USING"));
        if let Some(text) = tokens
            .get(1)
            .filter(|_| one_literal)
            .and_then(literal_tokens)
        {
            collect(&text, Grammar::Sql, out);
        }
    } else if first.is_word("DO") {
        if let Some(body) = body(tokens) {
            collect(&body, Grammar::PlPgSql, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokens;
    use super::*;

    /// The statements of `sql`'s body, each as its text (tokens joined by a space).
    fn run(sql: &str) -> Vec<String> {
        let t: Vec<_> = tokens(sql).filter(|t| !t.is_trivia()).collect();
        statements(&t)
            .iter()
            .map(|s| {
                let words: Vec<_> = s.iter().map(|t| t.text).collect();
                words.join(" ")
            })
            .collect()
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
            "DO 'BEGIN EXECUTE ''SET a = 1''; END'",
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

    #[test]
    fn body_tokens_keep_their_offsets_in_the_statement() {
        let sql = "DO $$ BEGIN SET a = 1; END $$";
        let t: Vec<_> = tokens(sql).filter(|t| !t.is_trivia()).collect();
        let set = &statements(&t)[0][0];
        assert_eq!(&sql[set.start..set.end()], "SET");
    }
}
