//! What a statement sets a run-time setting to: `SET name = v`, `set_config('name', v, l)`,
//! a row of `pg_settings` updated. The one reading of it for the rules about settings
//! (`C106` standard-conforming-strings, `C109` set-transaction, `C119` resets-timeouts).

use std::borrow::Cow;

use super::lexer::{Token, TokenKind};
use super::{syntax, Context, Statement};

/// One value a statement gives a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Assignment<'a> {
    /// The value.
    pub value: Value<'a>,
    /// The value as written (a literal with its quotes), for messages.
    pub written: &'a str,
    /// How the statement sets it.
    pub how: How,
    /// The value ends with the transaction: `SET LOCAL`, `set_config(..., true)`.
    pub local: bool,
}

/// How a statement sets a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum How {
    /// `SET [SESSION | LOCAL] name {= | TO} v`, also in `ALTER DATABASE | ROLE | USER | SYSTEM
    /// ... SET`.
    Set,
    /// `[pg_catalog.]set_config(name, v, is_local)`.
    SetConfig,
    /// `UPDATE pg_settings SET setting = v WHERE name = '...'`: the view's rule calls
    /// `set_config(name, v, false)`.
    SettingsRow,
}

/// A setting's value as the server receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value<'a> {
    /// Back to the default: `DEFAULT`, `set_config(name, NULL, ...)`, `setting = reset_val`.
    Default,
    /// A literal's text (a string without its quotes, a number, a word, an identifier as
    /// PostgreSQL resolves it).
    Text(Cow<'a, str>),
    /// An expression or a string lint does not decode (`'0' || ''`, `B'0'`).
    Unknown,
}

impl Value<'_> {
    /// The value as text: `DEFAULT` for the default, empty for one not known.
    pub fn as_text(&self) -> &str {
        match self {
            Value::Default => "DEFAULT",
            Value::Text(t) => t,
            Value::Unknown => "",
        }
    }
}

/// Whether PostgreSQL reads `value` as a boolean's false: `off`, `0`, and `false` and `no` or
/// a prefix of them, in any case (`of` too, its one prefix of `off` that is no `on`'s).
pub(super) fn is_false(value: &str) -> bool {
    let value = value.to_ascii_lowercase();
    let prefix_of = |word: &str| !value.is_empty() && word.starts_with(value.as_str());
    value == "0" || value == "off" || value == "of" || prefix_of("false") || prefix_of("no")
}

/// The values `tokens` (one statement, no trivia) gives setting `name` (PostgreSQL's spelling:
/// any case): `name = v`, `name TO v` of a `SET [SESSION | LOCAL]` command or of `ALTER
/// DATABASE | ROLE | USER | SYSTEM ... SET` ([`set_command`]), `[pg_catalog.]set_config('name',
/// v, is_local)` (its arguments in order or named: [`set_config_arguments`]), and the same set
/// by a row of `pg_settings` or by `set_config(<expression>, ...)` in a statement that names
/// `'name'` ([`by_settings_row`]).
///
/// The decision is the statement's: the `SET` of an `UPDATE` (also `ON CONFLICT DO UPDATE SET`
/// and `MERGE ... UPDATE SET`) assigns table columns, whatever they are called, and the `SET`
/// of `ALTER TABLE`, `ALTER FUNCTION` or `CREATE FUNCTION` is no run-time setting of the
/// session either.
pub(super) fn assignments<'a>(tokens: &[Token<'a>], name: &str) -> Vec<Assignment<'a>> {
    if let Some(found) = by_settings_row(tokens) {
        return found
            .filter(|_| names_it(tokens, name))
            .into_iter()
            .collect();
    }
    let mut out = Vec::new();
    if let Some(at) = set_command(tokens, name) {
        let local = at >= 2 && tokens[at - 1].is_word("LOCAL");
        let value = (at + 1..tokens.len()).find(|&i| {
            let t = &tokens[i];
            !(t.kind == TokenKind::Comma || t.text == "=" || t.is_word("TO"))
        });
        if let Some(value) = value {
            out.push(Assignment {
                value: value_of(tokens, value, How::Set),
                written: tokens[value].text,
                how: How::Set,
                local,
            });
        }
    }
    for (i, t) in tokens.iter().enumerate() {
        if !syntax::names(t, "set_config") {
            continue;
        }
        let Some([Some(setting), Some(value), local]) = set_config_arguments(&tokens[i + 1..])
        else {
            continue;
        };
        // The setting's name as a literal; any other expression picks it elsewhere in the
        // statement (`set_config(name, v, false) FROM pg_settings WHERE name = '...'`).
        let names = match syntax::constant(setting) {
            Some(setting) => setting.eq_ignore_ascii_case(name),
            None => names_it(tokens, name),
        };
        if !names {
            continue;
        }
        out.push(Assignment {
            value: argument_value(value),
            written: value[0].text,
            how: How::SetConfig,
            // set_config(name, value, is_local): true ends with the transaction.
            local: local.is_some_and(|l| matches!(l, [t] if t.is_word("true"))),
        });
    }
    out
}

/// Whether `stmt` may set a setting for the session as [`assignments`] reads one, itself or
/// in the body of the `DO` block it is: it begins with `SET` or `DO`, or it (and so the file)
/// mentions `set_config` or `pg_settings`. The cheap test before its tokens are read, which
/// the rules about settings share (a rule reading more statements, `RESET` or `ALTER ...
/// SET`, adds them).
pub(super) fn may_assign(cx: &Context<'_>, stmt: &Statement<'_>) -> bool {
    stmt.starts_with(&["SET"])
        || stmt.starts_with(&["DO"])
        || cx.mentioned_in(stmt.text, "set_config")
        || cx.mentioned_in(stmt.text, "pg_settings")
}

/// Whether `sql` (one statement) may give setting `name` a value as [`assignments`] reads one,
/// asked of its text alone (the engine's reading of a file it runs, with no [`Context`]): it
/// spells the name, or `set_config` or `pg_settings`, or an escape that may spell the name
/// otherwise (a backslash: `E'lock_\x74imeout'`, `U&"..."`; `U&'...' UESCAPE`).
#[cfg(feature = "db")]
pub(super) fn may_name(sql: &str, name: &str) -> bool {
    super::mentions(sql, name)
        || super::mentions(sql, "set_config")
        || super::mentions(sql, "pg_settings")
        || sql.contains('\\')
        || super::mentions(sql, "u&")
}

/// Whether `stmt` changes only the session it runs in, nothing of the database: a `SET`
/// command (`SET [SESSION | LOCAL] name ...`, `SET ROLE`, `SET SESSION AUTHORIZATION`, `SET
/// TRANSACTION`, `SET CONSTRAINTS`), a `RESET`, a `SHOW` (which changes nothing), or a
/// `SELECT` of nothing but
/// `[pg_catalog.]set_config(...)` calls whose arguments are plain values (pg_dump's
/// `SELECT pg_catalog.set_config('search_path', '', false);`). The one reading of it: a down
/// file of such statements alone reverses nothing (`C008`), and a no-transaction migration
/// stopped after such statements alone committed nothing. Anything else may change the
/// database (a call in an argument may: not read).
pub(crate) fn changes_only_the_session(stmt: &Statement<'_>) -> bool {
    if stmt.starts_with(&["SET"]) || stmt.starts_with(&["RESET"]) || stmt.starts_with(&["SHOW"]) {
        return true;
    }
    if !(stmt.starts_with(&["SELECT"]) && super::mentions(stmt.text, "set_config")) {
        return false;
    }
    let tokens: Vec<Token<'_>> = stmt.tokens().collect();
    let mut rest = match tokens.split_last() {
        Some((last, before)) if last.kind == TokenKind::Semicolon => &before[1..],
        _ => &tokens[1..],
    };
    loop {
        if let [schema, dot, ..] = rest {
            if syntax::names(schema, "pg_catalog") && dot.kind == TokenKind::Dot {
                rest = &rest[2..];
            }
        }
        let Some((name, call)) = rest.split_first() else {
            return false;
        };
        if !syntax::names(name, "set_config") || set_config_arguments(call).is_none() {
            return false;
        }
        // Its `(`, its arguments with no parenthesis of their own (no call, no subquery), its
        // `)`: then the end, or a `,` and the next call.
        let Some(close) = call.iter().position(|t| t.kind == TokenKind::CloseParen) else {
            return false;
        };
        if call[1..close]
            .iter()
            .any(|t| t.kind == TokenKind::OpenParen)
        {
            return false;
        }
        match &call[close + 1..] {
            [] => return true,
            [comma, next @ ..] if comma.kind == TokenKind::Comma => rest = next,
            _ => return false,
        }
    }
}

/// Where `tokens` (one statement, no trivia) names setting `name` as a `SET` command does:
/// the statement is `SET [SESSION | LOCAL] name ...`, or `ALTER DATABASE | ROLE | USER |
/// SYSTEM ... SET name ...` (the defaults of later sessions). The index of the name.
fn set_command(tokens: &[Token<'_>], name: &str) -> Option<usize> {
    let first = tokens.first()?;
    if first.is_word("SET") {
        let at = match tokens.get(1) {
            Some(t) if t.is_word("SESSION") || t.is_word("LOCAL") => 2,
            _ => 1,
        };
        return tokens
            .get(at)
            .filter(|t| names_setting(t, name))
            .map(|_| at);
    }
    let sets_defaults = first.is_word("ALTER")
        && tokens.get(1).is_some_and(|t| {
            ["DATABASE", "ROLE", "USER", "SYSTEM"]
                .iter()
                .any(|w| t.is_word(w))
        });
    if !sets_defaults {
        return None;
    }
    (1..tokens.len()).find(|&i| tokens[i - 1].is_word("SET") && names_setting(&tokens[i], name))
}

/// Whether a string constant of `tokens` (one statement, no trivia), quoted any way
/// ([`syntax::constant_at`]), is setting `name`, in any case: where a statement picks the
/// setting by a name it compares (`WHERE name = '...'`).
fn names_it(tokens: &[Token<'_>], name: &str) -> bool {
    (0..tokens.len())
        .any(|i| syntax::constant_at(tokens, i).is_some_and(|(s, _)| s.eq_ignore_ascii_case(name)))
}

/// Whether `t` names setting `name`: a word or quoted identifier, in any case (the server
/// looks settings up ignoring case).
fn names_setting(t: &Token<'_>, name: &str) -> bool {
    syntax::resolved(t).is_some_and(|n| n.eq_ignore_ascii_case(name))
}

/// The value a statement sets a setting to through a row of `pg_settings`, the setting picked
/// by its name elsewhere in the statement (a `WHERE name = '...'`): `UPDATE [ONLY]
/// [pg_catalog.]pg_settings ... SET setting = v`: the view's update rule calls `set_config(name,
/// v, false)`, a session `SET` by another name (`reset_val` is `RESET`: `DEFAULT`).
///
/// `None` when the statement has no such `UPDATE`; `Some(None)` when it has one but lint cannot
/// tell its value.
fn by_settings_row<'a>(tokens: &[Token<'a>]) -> Option<Option<Assignment<'a>>> {
    let at = |i: usize| tokens.get(i);
    for (i, t) in tokens.iter().enumerate() {
        if t.is_word("UPDATE") {
            let mut j = i + 1;
            if at(j).is_some_and(|t| t.is_word("ONLY")) {
                j += 1;
            }
            if at(j).is_some_and(|t| syntax::names(t, "pg_catalog"))
                && at(j + 1).is_some_and(|t| t.kind == TokenKind::Dot)
            {
                j += 2;
            }
            if !at(j).is_some_and(|t| syntax::names(t, "pg_settings")) {
                continue;
            }
            let rest = &tokens[j + 1..];
            let value = rest.windows(4).enumerate().find_map(|(k, w)| {
                let sets = (w[0].is_word("SET") || w[0].kind == TokenKind::Comma)
                    && syntax::names(&w[1], "setting")
                    && w[2].text == "=";
                sets.then(|| Assignment {
                    value: if w[3].is_word("reset_val") {
                        Value::Default
                    } else {
                        value_of(rest, k + 3, How::SettingsRow)
                    },
                    written: w[3].text,
                    how: How::SettingsRow,
                    local: false,
                })
            });
            return Some(value);
        }
    }
    None
}

/// The three arguments of `set_config(setting_name, new_value, is_local)` called with `call`
/// (the tokens after the function's name, from its `(`), each as its tokens: written in order,
/// or by name (`new_value => v`, the older `new_value := v`), or both (positional first, as
/// PostgreSQL takes them). `None` when `call` is no call: no `(`, an argument empty or named
/// twice, more than three. PostgreSQL's own `set_config` takes no names (a named call
/// reaches a function of the database's by that name, a wrapper of it in practice): lint
/// reads them as the parameters the documentation names.
fn set_config_arguments<'t, 'a>(call: &'t [Token<'a>]) -> Option<[Option<&'t [Token<'a>]>; 3]> {
    const PARAMETERS: [&str; 3] = ["setting_name", "new_value", "is_local"];
    if call.first()?.kind != TokenKind::OpenParen {
        return None;
    }
    let mut args: [Option<&[Token<'a>]>; 3] = [None; 3];
    let mut positional = 0;
    let mut depth = 0u32;
    let mut start = 1;
    for (i, t) in call.iter().enumerate() {
        match t.kind {
            TokenKind::OpenParen => {
                depth += 1;
                continue;
            }
            TokenKind::CloseParen if depth > 1 => {
                depth -= 1;
                continue;
            }
            TokenKind::CloseParen | TokenKind::Comma if depth == 1 => {}
            _ => continue,
        }
        let arg = call.get(start..i)?;
        start = i + 1;
        let named = match arg {
            [n, a, b, value @ ..]
                if (a.text == "=" && b.text == ">") || (a.text == ":" && b.text == "=") =>
            {
                let at = PARAMETERS.iter().position(|p| syntax::names(n, p))?;
                Some((at, value))
            }
            _ => None,
        };
        let (at, value) = match named {
            Some(named) => named,
            None if arg.is_empty() && t.kind == TokenKind::CloseParen && positional == 0 => {
                break;
            }
            None => {
                positional += 1;
                (positional - 1, arg)
            }
        };
        let slot = args.get_mut(at)?;
        if slot.is_some() || value.is_empty() {
            return None;
        }
        *slot = Some(value);
        if t.kind == TokenKind::CloseParen {
            return Some(args);
        }
    }
    None
}

/// The value an argument of `set_config` gives: that of its value ([`value_of`]: one token,
/// or a constant of several, `U&'...' UESCAPE 'c'`), also cast (`'0'::text`); an expression
/// lint does not evaluate (`'0' || 's'`) is [`Value::Unknown`].
fn argument_value<'a>(argument: &[Token<'a>]) -> Value<'a> {
    let used = syntax::constant_at(argument, 0).map_or(1, |(_, used)| used);
    let cast_only = |cast: &[Token<'_>]| match cast {
        [] => true,
        [a, b, type_name @ ..] if a.text == ":" && b.text == ":" && !type_name.is_empty() => {
            type_name.iter().all(|t| {
                matches!(
                    t.kind,
                    TokenKind::Word | TokenKind::QuotedIdent | TokenKind::Dot
                )
            })
        }
        _ => false,
    };
    match argument.get(used..) {
        Some(cast) if cast_only(cast) => value_of(argument, 0, How::SetConfig),
        _ => Value::Unknown,
    }
}

/// The value the token `tokens[i]` gives: a string constant's text, quoted any way
/// ([`syntax::constant_at`]), a number, a word (`DEFAULT` after `SET`, `NULL` in
/// `set_config`: the default), an identifier as PostgreSQL resolves it.
fn value_of<'a>(tokens: &[Token<'a>], i: usize, how: How) -> Value<'a> {
    let token = &tokens[i];
    match token.kind {
        TokenKind::String | TokenKind::DollarString => {
            syntax::constant_at(tokens, i).map_or(Value::Unknown, |(text, _)| Value::Text(text))
        }
        TokenKind::Number => Value::Text(Cow::Borrowed(token.text)),
        TokenKind::Word if how == How::Set && token.is_word("DEFAULT") => Value::Default,
        TokenKind::Word if how != How::Set && token.is_word("NULL") => Value::Default,
        TokenKind::Word if how == How::Set => Value::Text(Cow::Borrowed(token.text)),
        TokenKind::QuotedIdent if how == How::Set => {
            syntax::resolved(token).map_or(Value::Unknown, Value::Text)
        }
        _ => Value::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokens;
    use super::super::test_support::quoted;
    use super::*;

    fn values(sql: &str, name: &str) -> Vec<(String, bool)> {
        let t: Vec<_> = tokens(sql).filter(|t| !t.is_trivia()).collect();
        assignments(&t, name)
            .into_iter()
            .map(|a| (a.value.as_text().to_string(), a.local))
            .collect()
    }

    #[test]
    fn each_spelling_of_a_setting_gives_its_value_and_scope() {
        let cases: &[(&str, &[(&str, bool)])] = &[
            ("SET lock_timeout = 0", &[("0", false)]),
            ("set session Lock_Timeout to '5s'", &[("5s", false)]),
            ("SET LOCAL lock_timeout TO DEFAULT", &[("DEFAULT", true)]),
            ("SET \"lock_timeout\" = e'0'", &[("0", false)]),
            (
                "SELECT set_config('lock_timeout', '0', false)",
                &[("0", false)],
            ),
            (
                "SELECT pg_catalog.set_config('LOCK_TIMEOUT', '1''s', true)",
                &[("1's", true)],
            ),
            (
                "SELECT set_config('lock_timeout', NULL, false)",
                &[("DEFAULT", false)],
            ),
            (
                "SELECT set_config('lock_timeout', E'\\x30', false)",
                &[("0", false)],
            ),
            (
                "UPDATE pg_settings SET setting = reset_val WHERE name = 'lock_timeout'",
                &[("DEFAULT", false)],
            ),
            ("SELECT lock_timeout = 0 FROM t", &[]),
            ("SELECT f('lock_timeout', '0', false)", &[]),
            ("SET statement_timeout = 0", &[]),
            (
                "ALTER ROLE r IN DATABASE d SET lock_timeout = 0",
                &[("0", false)],
            ),
            ("ALTER SYSTEM SET lock_timeout = '1s'", &[("1s", false)]),
            // set_config's arguments by name, in any order, `=>` or `:=`, after positional ones.
            (
                "SELECT set_config(setting_name => 'lock_timeout', new_value => '0', is_local => false)",
                &[("0", false)],
            ),
            (
                "SELECT set_config(is_local := true, new_value := '2s', setting_name := 'Lock_Timeout')",
                &[("2s", true)],
            ),
            (
                "SELECT set_config('lock_timeout', is_local => true, new_value => NULL)",
                &[("DEFAULT", true)],
            ),
            (
                "SELECT set_config(\"setting_name\" => 'lock_timeout', new_value => '0'::text, is_local => false)",
                &[("0", false)],
            ),
            (
                "SELECT set_config(setting_name => 'statement_timeout', new_value => '0', is_local => false)",
                &[],
            ),
            // An expression lint does not evaluate.
            ("SELECT set_config('lock_timeout', '0' || '1', false)", &[("", false)]),
            (
                "SELECT set_config('lock_timeout', coalesce(NULL, '0'), false)",
                &[("", false)],
            ),
        ];
        for (sql, expected) in cases {
            let expected: Vec<_> = expected.iter().map(|(v, l)| (v.to_string(), *l)).collect();
            assert_eq!(values(sql, "lock_timeout"), expected, "{sql}");
        }
    }

    /// A setting's name and its value, quoted any way a string constant may be
    /// (`test_support::quoted`), are read as the server reads them wherever a statement gives
    /// them: the one reading of a constant, `syntax::constant_at`.
    #[test]
    fn a_setting_named_or_valued_by_any_quoting_of_a_constant_is_read() {
        let name = "default_transaction_read_only";
        let mut names = quoted(name);
        names.push("'Default_Transaction_Read_Only'".to_string());
        for quoted in &names {
            for sql in [
                format!("SELECT set_config({quoted}, 'on', false)"),
                format!("SELECT pg_catalog.set_config(setting_name => {quoted}, new_value => 'on', is_local => false)"),
                format!("SELECT set_config(name, 'on', false) FROM pg_settings WHERE name = {quoted}"),
                format!("UPDATE pg_settings SET setting = 'on' WHERE name = {quoted}"),
            ] {
                assert_eq!(values(&sql, name), [("on".to_string(), false)], "{sql}");
            }
        }
        for quoted in &quoted("on") {
            for sql in [
                format!("SELECT set_config('{name}', {quoted}, false)"),
                format!("SELECT set_config('{name}', {quoted}::text, false)"),
                format!("SET {name} = {quoted}"),
                format!("SET SESSION {name} TO {quoted}"),
                format!("UPDATE pg_settings SET setting = {quoted} WHERE name = '{name}'"),
            ] {
                assert_eq!(values(&sql, name), [("on".to_string(), false)], "{sql}");
            }
        }
        // Another setting, however quoted, is not this one; nor is a U& string read with the
        // default escape when it names another (`UESCAPE` decides).
        for sql in [
            "SELECT set_config($$default_transaction_isolation$$, 'on', false)",
            "SELECT set_config(E'default_transaction_read_onl\\x79x', 'on', false)",
            "SELECT set_config(U&'\\0064efault_transaction_read_only' UESCAPE '!', 'on', false)",
            "SELECT set_config($x$default_transaction_read_only$y$ $y$x$, 'on', false)",
        ] {
            assert_eq!(values(sql, name), [], "{sql}");
        }
    }

    /// A `SET` that assigns table columns (or a table's, or a function's, properties) sets no
    /// run-time setting, whatever the column is called: only the statement's own form counts.
    #[test]
    fn a_set_clause_of_another_statement_sets_no_setting() {
        for sql in [
            "UPDATE t SET lock_timeout = 0",
            "UPDATE ONLY t AS x SET lock_timeout = 0, b = 1",
            "UPDATE t SET b = 1, lock_timeout = 0 WHERE a = 1",
            "WITH w AS (SELECT 1) UPDATE t SET lock_timeout = DEFAULT",
            "INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET lock_timeout = 0",
            "INSERT INTO t VALUES (1) ON CONFLICT DO UPDATE SET a = 1, lock_timeout = '0'",
            "MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN UPDATE SET lock_timeout = 0",
            "MERGE INTO t USING s ON t.a = s.a WHEN NOT MATCHED THEN INSERT VALUES (1) \
             WHEN MATCHED THEN UPDATE SET lock_timeout = 0",
            "ALTER TABLE t ALTER COLUMN lock_timeout SET DEFAULT 0",
            "ALTER FUNCTION f() SET lock_timeout = 0",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET lock_timeout = 0 AS 'SELECT 1'",
            "SELECT 1 FROM t WHERE x = 'SET' AND lock_timeout = 0",
        ] {
            assert_eq!(values(sql, "lock_timeout"), [], "{sql}");
        }
        // A set_config call is one wherever it is.
        assert_eq!(
            values(
                "UPDATE t SET lock_timeout = set_config('lock_timeout', '0', false)",
                "lock_timeout"
            ),
            [("0".to_string(), false)]
        );
    }
}
