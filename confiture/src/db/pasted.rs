//! The SQL a help prints for the user to paste (end a session, list a database's sessions,
//! reload the server's configuration, look at a connection limit): written here and only here,
//! under one rule — every function, operator and catalog relation named with `pg_catalog`, as
//! the tool's own statements are (ARCHITECTURE: the hostile `search_path` rule). A help is
//! pasted into a session of the database it is about, whose `search_path` (the database's,
//! the role's) may put a schema before `pg_catalog`: an unqualified `pg_terminate_backend` or
//! `pg_stat_activity` there would run whatever that schema holds under the name, as the admin
//! who pasted it. `GRANT`, `ALTER` and `CREATE SCHEMA` commands name no function and are worded
//! where they are decided (`db::ledger`, `db::settings::lift`).

/// The statement that ends the sessions `pids` (one, or several at once); `None` when there is
/// none (a prepared transaction has no session: `db::lock::prepared_help` ends it).
pub(crate) fn terminate(pids: &[i32]) -> Option<String> {
    match pids {
        [] => None,
        [pid] => Some(format!("SELECT pg_catalog.pg_terminate_backend({pid})")),
        _ => Some(format!(
            "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.unnest(ARRAY[{}]) AS pid",
            pids.iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The statement that lists the sessions connected to the database `literal` (an SQL literal,
/// `crate::ledger::literal`): who they are and where from.
pub(crate) fn sessions_on(literal: &str) -> String {
    format!(
        "SELECT pid, usename, application_name, client_addr FROM pg_catalog.pg_stat_activity \
         WHERE datname OPERATOR(pg_catalog.=) {literal}"
    )
}

/// The statement that makes the server read its configuration files again.
pub(crate) const RELOAD_CONFIGURATION: &str = "SELECT pg_catalog.pg_reload_conf()";

/// The statement that shows every database's connection limit.
pub(crate) const DATABASE_CONNECTION_LIMITS: &str =
    "SELECT datname, datconnlimit FROM pg_catalog.pg_database";

/// The statement that shows every role's connection limit.
pub(crate) const ROLE_CONNECTION_LIMITS: &str =
    "SELECT rolname, rolconnlimit FROM pg_catalog.pg_roles";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::lexer::{tokens, Token, TokenKind};

    /// Every statement this module writes, with every shape it takes.
    fn every_statement() -> Vec<String> {
        vec![
            terminate(&[42]).unwrap(),
            terminate(&[42, 43]).unwrap(),
            sessions_on(&crate::ledger::literal("template1")),
            RELOAD_CONFIGURATION.to_string(),
            DATABASE_CONNECTION_LIMITS.to_string(),
            ROLE_CONNECTION_LIMITS.to_string(),
        ]
    }

    /// Words a `(` may follow that call no function.
    const NOT_CALLS: &[&str] = &[
        "OPERATOR", "EXISTS", "IN", "ANY", "ALL", "VALUES", "AS", "ON", "AND", "OR", "NOT",
        "WHERE", "SELECT", "FROM",
    ];

    /// What in `sql` a `search_path` decides: a function called, a relation read (`FROM`,
    /// `JOIN`), an operator or a type cast to, not named with `pg_catalog`.
    fn unqualified(sql: &str) -> Vec<String> {
        let meaningful: Vec<Token<'_>> = tokens(sql).filter(|t| !t.is_trivia()).collect();
        let qualified = |at: usize| {
            at >= 2
                && meaningful[at - 1].kind == TokenKind::Dot
                && meaningful[at - 2].is_word("pg_catalog")
        };
        let mut found = Vec::new();
        for (at, token) in meaningful.iter().enumerate() {
            let next = meaningful.get(at + 1);
            match token.kind {
                TokenKind::Word
                    if next.is_some_and(|n| n.kind == TokenKind::OpenParen)
                        && !NOT_CALLS.iter().any(|w| token.is_word(w))
                        && !qualified(at) =>
                {
                    found.push(format!("function {}", token.text));
                }
                TokenKind::Word
                    if (token.is_word("FROM") || token.is_word("JOIN"))
                        && !next.is_some_and(|n| {
                            n.is_word("pg_catalog") || n.kind == TokenKind::OpenParen
                        }) =>
                {
                    found.push(format!("relation after {}", token.text));
                }
                TokenKind::Other if token.text == ":" => {
                    let cast_to = meaningful.get(at + 2);
                    if next.is_some_and(|n| n.text == ":")
                        && !cast_to.is_some_and(|t| t.is_word("pg_catalog"))
                    {
                        found.push("cast".to_string());
                    }
                }
                TokenKind::Other if !matches!(token.text, "[" | "]" | "*") && !qualified(at) => {
                    found.push(format!("operator {}", token.text));
                }
                _ => {}
            }
        }
        found
    }

    #[test]
    fn the_rule_finds_what_a_search_path_decides() {
        assert_eq!(
            unqualified("SELECT pg_terminate_backend(1)"),
            ["function pg_terminate_backend"]
        );
        assert_eq!(
            unqualified("SELECT a FROM pg_stat_activity WHERE datname = 'x'"),
            ["relation after FROM", "operator ="]
        );
        assert_eq!(unqualified("SELECT '1'::int4"), ["cast"]);
        assert!(unqualified(
            "SELECT pg_catalog.f(a) FROM pg_catalog.t WHERE a OPERATOR(pg_catalog.=) '1'::pg_catalog.int4"
        )
        .is_empty());
    }

    /// Every statement a help pastes names each function, relation, operator and type with
    /// `pg_catalog`.
    #[test]
    fn every_pasted_statement_is_qualified() {
        for sql in every_statement() {
            assert_eq!(unqualified(&sql), Vec::<String>::new(), "{sql}");
        }
    }
}
