//! C106 `standard-conforming-strings`: a migration that turns `standard_conforming_strings`
//! off, or sets `client_encoding` to anything but UTF-8, changes how PostgreSQL reads every later
//! message of the session (or database).

use std::borrow::Cow;

use super::lexer::{Token, TokenKind};
use super::{do_block, settings, syntax, Context, Diagnostic, RuleDoc, Severity, Statement};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C106",
    name: "standard-conforming-strings",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "a migration changes how the server reads later SQL: `standard_conforming_strings` off, or a `client_encoding` other than UTF-8",
    explanation: "\
The server applies the session's settings a message arrives with: a `SET` changes how every
*later* message of the session is read — each statement of a `-- confiture:no-transaction`
migration, and the migrations that follow in the same run. Two settings change what the SQL
says:

- With `standard_conforming_strings` off, PostgreSQL reads a backslash in a plain `'...'` string
  as an escape, so `'a\\'; DROP ...'` is one string or two statements depending on the setting.
  `ALTER DATABASE|ROLE ... SET` changes it for every later session too. Lint reads files with
  the setting on, PostgreSQL's default since 9.1 and what confiture's sessions start with,
  whatever the file sets: after such a statement it no longer sees the statements the server
  will run, nor the value of a `'...'` string (a `DO` block's body among them) with a
  backslash as the server will read it. This rule is an error for that reason.
- With `client_encoding` other than UTF-8 (`SET client_encoding`, `SET NAMES`), PostgreSQL
  decodes the later messages in that encoding, but migration files are UTF-8 and confiture
  sends them as they are: their non-ASCII text is stored garbled (`café` becomes `cafÃ©`) or
  refused, with no error at the `SET`.

Flagged: `SET [SESSION] standard_conforming_strings` to `off`, `false`, `no` or `0`, the same in
`ALTER DATABASE`, `ALTER ROLE` and `ALTER SYSTEM`, and `set_config('standard_conforming_strings',
'off', false)`; `SET [SESSION] client_encoding`, `SET [SESSION] NAMES` and
`set_config('client_encoding', ..., false)` to an encoding other than UTF-8. Also the same
settings changed through a row of `pg_settings`, a session `SET` by another name:
`UPDATE pg_settings SET setting = ... WHERE name = '...'` (the view's rule calls
`set_config(name, setting, false)`) and `set_config(name, ..., false) FROM pg_settings WHERE
name = '...'`. The same in the body of a `DO` block (run in the migration's session: `SET
...;`, `PERFORM set_config(...)`, `EXECUTE 'SET ...'`), dollar-quoted or `'...'` (`''` and
`E'...'` escapes decoded, quotes inside quotes read in turn), and `set_config` with named arguments
(`setting_name => ..., new_value => ..., is_local => ...`). A setting's name or value given as a
string is read as the server reads it, quoted any way: `'...'`, `$$...$$` or `$tag$...$tag$`,
`E'...'` and `U&'...'` with their escapes (`UESCAPE` too). Not flagged: turning
`standard_conforming_strings` on (pg_dump writes `SET standard_conforming_strings = on;`),
`client_encoding` to `UTF8` (pg_dump writes `SET client_encoding = 'UTF8';`) or `DEFAULT`,
`SET LOCAL` and `set_config(..., true)`, which end with the transaction, `RESET`, and
`ALTER DATABASE|ROLE ... SET client_encoding` (every client, confiture included, sends its own
encoding when it connects), `ALTER FUNCTION ... SET` (the function's own, while it runs), and a
column named like a setting (`UPDATE t SET client_encoding = ...`, also `ON CONFLICT DO UPDATE
SET` and `MERGE ... UPDATE SET`).

**Fix:** leave `standard_conforming_strings` on, and write strings that need backslash escapes
as `E'...'`; leave `client_encoding` alone, and keep migration files UTF-8.",
};

pub(super) fn check(cx: &Context<'_>, stmt: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    if !(stmt.starts_with(&["ALTER"]) || settings::may_assign(cx, stmt)) {
        return;
    }
    // The statement, and those a `DO` block's body runs in the same session.
    let tokens: Vec<Token<'_>> = stmt.tokens().collect();
    let in_run = |found: &mut dyn FnMut(&[Token<'_>]) -> Option<String>| {
        do_block::find_in_session(&tokens, found).map(|(found, _)| found)
    };
    if in_run(&mut |t| turns_off(t).then(String::new)).is_some() {
        out.push(cx.diagnostic(
            &DOC,
            stmt.range.clone(),
            "standard_conforming_strings turned off: PostgreSQL reads backslashes in later '...' strings as escapes, and lint no longer splits them as the server will".to_string(),
            "leave standard_conforming_strings on; write strings with backslash escapes as E'...'".to_string(),
        ));
    }
    if let Some(encoding) = in_run(&mut client_encoding) {
        out.push(cx.diagnostic(
            &DOC,
            stmt.range.clone(),
            format!(
                "client_encoding set to {encoding}: PostgreSQL decodes every later message of the session as {encoding}, but migration files are UTF-8, so their non-ASCII text is stored garbled or refused"
            ),
            "leave client_encoding alone (confiture always sends UTF-8); to store text of another encoding, convert the file to UTF-8 or use convert_from(...)".to_string(),
        ));
    }
}

/// The setting's name followed by an `off` value: `name = off`, `name TO false`,
/// `set_config('name', 'off', false)`; not `SET LOCAL` nor `set_config(..., true)`. `tokens`:
/// one statement, no trivia.
fn turns_off(tokens: &[Token<'_>]) -> bool {
    session_values(tokens, "standard_conforming_strings")
        .iter()
        .any(|value| settings::is_false(value))
}

/// The encoding other than UTF-8 that `tokens` (one statement, no trivia) sets
/// `client_encoding` to for the session: `SET [SESSION] client_encoding = 'LATIN1'`, `SET
/// [SESSION] NAMES 'LATIN1'`, `set_config('client_encoding', 'LATIN1', false)`. Not `SET
/// LOCAL`, `set_config(..., true)`, `DEFAULT` or `RESET` (back to the UTF-8 the connection
/// asked for), nor `ALTER DATABASE | ROLE ... SET` (every client, confiture included, sends
/// its own encoding when it connects).
fn client_encoding(tokens: &[Token<'_>]) -> Option<String> {
    let first = tokens.first()?;
    if first.is_word("ALTER") {
        return None;
    }
    let mut values = session_values(tokens, "client_encoding");
    if first.is_word("SET") {
        let names = match tokens.get(1) {
            Some(t) if t.is_word("SESSION") => 2,
            _ => 1,
        };
        let named = tokens.get(names).is_some_and(|t| t.is_word("NAMES"))
            && (tokens.get(names + 1)).is_some_and(|t| t.kind != TokenKind::Semicolon);
        if named {
            values.push(value_text(tokens, names + 1).into_owned());
        }
    }
    values.into_iter().find(|value| {
        // PostgreSQL's spelling of encoding names: case and punctuation do not count.
        let clean: String = value
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        !matches!(clean.as_str(), "" | "utf8" | "unicode" | "default")
    })
}

/// The values `tokens` (one statement, no trivia) gives setting `name` beyond the transaction
/// ([`settings::assignments`]); not `SET LOCAL` nor `set_config(..., true)`.
fn session_values(tokens: &[Token<'_>], name: &str) -> Vec<String> {
    settings::assignments(tokens, name)
        .into_iter()
        .filter(|a| !a.local)
        .map(|a| a.value.as_text().to_string())
        .collect()
}

/// A setting's value as the server reads it: a string constant's text, quoted any way
/// ([`syntax::constant_at`]: `'LATIN1'`, `$$LATIN1$$`, `E'\x4cATIN1'`), or the word: `tokens[i]`.
fn value_text<'t>(tokens: &[Token<'t>], i: usize) -> Cow<'t, str> {
    let value = &tokens[i];
    match value.kind {
        TokenKind::String | TokenKind::DollarString => {
            syntax::constant_at(tokens, i).map_or(Cow::Borrowed(""), |(text, _)| text)
        }
        _ => Cow::Borrowed(value.text),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{quoted, up};

    #[test]
    fn turning_it_off_is_an_error() {
        for sql in [
            "SET standard_conforming_strings = off;",
            "set standard_conforming_strings to false;",
            "SET SESSION standard_conforming_strings = 'off';",
            "SET standard_conforming_strings TO 0;",
            "ALTER DATABASE app SET standard_conforming_strings = off;",
            "ALTER ROLE app IN DATABASE app SET standard_conforming_strings TO 'no';",
            "SELECT set_config('standard_conforming_strings', 'off', false);",
            "SELECT pg_catalog.set_config('standard_conforming_strings', 'false', false);",
            // pg_settings: its update rule calls set_config(name, setting, false).
            "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings';",
            "SELECT pg_catalog.set_config(s.name, 'off', false) FROM pg_catalog.pg_settings s \
             WHERE s.name = 'standard_conforming_strings';",
            "SELECT set_config(setting_name => 'standard_conforming_strings', new_value => 'off', is_local => false);",
            "DO $$ BEGIN SET standard_conforming_strings = off; END $$;",
            "DO $$ BEGIN IF true THEN PERFORM set_config('standard_conforming_strings', 'off', false); END IF; END $$;",
        ] {
            assert_eq!(up(sql), [("C106", 1)], "{sql}");
        }
    }

    #[test]
    fn a_client_encoding_other_than_utf8_is_an_error() {
        for sql in [
            "SET client_encoding = 'LATIN1';",
            "set client_encoding to latin1;",
            "SET SESSION client_encoding TO 'WIN1252';",
            "SET client_encoding = \"SQL_ASCII\";",
            "SET NAMES 'LATIN1';",
            "set session names 'EUC_JP';",
            "SET NAMES latin9;",
            "SELECT set_config('client_encoding', 'LATIN1', false);",
            "SELECT pg_catalog.set_config('client_encoding', 'SJIS', false);",
            // pg_settings: its update rule calls set_config(name, setting, false).
            "UPDATE pg_settings SET setting = 'LATIN1' WHERE name = 'client_encoding';",
            "update pg_catalog.pg_settings set setting = 'WIN1252' where name in ('client_encoding');",
            "UPDATE PG_Settings SET setting = 'LATIN1' WHERE name = 'client_encoding';",
            "SELECT Set_Config('client_encoding', 'LATIN1', false);",
            "UPDATE ONLY \"pg_settings\" AS s SET setting = 'SQL_ASCII' WHERE 'client_encoding' = s.name;",
            "WITH w AS (SELECT 1) UPDATE pg_settings SET setting = 'LATIN1' \
             WHERE name = 'client_encoding' AND EXISTS (SELECT FROM w);",
            "SELECT set_config(name, 'LATIN1', false) FROM pg_settings WHERE name = 'client_encoding';",
            "SELECT set_config(setting_name => 'client_encoding', new_value => 'LATIN1', is_local => false);",
            "SELECT set_config(is_local := false, new_value := 'SJIS', setting_name := 'client_encoding');",
            "DO $$ BEGIN SET client_encoding = 'LATIN1'; END $$;",
            "DO $$ BEGIN SET NAMES 'LATIN1'; END $$;",
            "DO $$ BEGIN PERFORM set_config('client_encoding', 'LATIN1', false); END $$;",
            "DO $$ BEGIN EXECUTE 'SET SESSION client_encoding TO WIN1252'; END $$;",
        ] {
            assert_eq!(up(sql), [("C106", 1)], "{sql}");
        }
        // The statements after it are still checked; the diagnostic names the line.
        assert_eq!(
            up("CREATE TABLE a (s text);\nSET client_encoding = 'LATIN1';\n"),
            [("C106", 2)]
        );
    }

    #[test]
    fn utf8_default_local_and_reset_encodings_are_fine() {
        for sql in [
            "SET client_encoding = 'UTF8';",
            "SET client_encoding TO 'utf-8';",
            "SET client_encoding = 'Unicode';",
            "SET client_encoding = DEFAULT;",
            "SET NAMES 'UTF8';",
            "SET NAMES;",
            "SET NAMES DEFAULT;",
            "SET LOCAL client_encoding = 'LATIN1';",
            "RESET client_encoding;",
            "SELECT set_config('client_encoding', 'LATIN1', true);",
            "ALTER DATABASE app SET client_encoding = 'LATIN1';",
            "SELECT 'SET NAMES latin1';",
            "SELECT convert_from('\\x636166e9'::bytea, 'LATIN1');",
            "UPDATE pg_settings SET setting = 'UTF8' WHERE name = 'client_encoding';",
            "UPDATE pg_settings SET setting = reset_val WHERE name = 'client_encoding';",
            "UPDATE pg_settings SET setting = 'LATIN1' WHERE name = 'application_name';",
            "UPDATE app_settings SET setting = 'LATIN1' WHERE name = 'client_encoding';",
            "SELECT set_config(name, 'LATIN1', true) FROM pg_settings WHERE name = 'client_encoding';",
            "SELECT setting FROM pg_settings WHERE name = 'client_encoding' AND setting <> 'UTF8';",
        ] {
            assert_eq!(up(sql), [], "{sql}");
        }
    }

    /// The settings' names and values quoted any way a string constant may be
    /// (`test_support::quoted`): read as the server reads them, by `settings`' one reading.
    #[test]
    fn a_setting_or_value_quoted_any_way_is_read() {
        for name in quoted("standard_conforming_strings") {
            for sql in [
                format!("SELECT set_config({name}, 'off', false);"),
                format!("UPDATE pg_settings SET setting = 'off' WHERE name = {name};"),
            ] {
                assert_eq!(up(&sql), [("C106", 1)], "{sql}");
            }
            let sql = format!("SELECT set_config({name}, 'on', false);");
            assert_eq!(up(&sql), [], "{sql}");
        }
        for off in quoted("off") {
            let sql = format!("SELECT set_config('standard_conforming_strings', {off}, false);");
            assert_eq!(up(&sql), [("C106", 1)], "{sql}");
            let sql = format!("SET standard_conforming_strings = {off};");
            assert_eq!(up(&sql), [("C106", 1)], "{sql}");
        }
        for name in quoted("client_encoding") {
            let sql = format!("SELECT set_config({name}, 'LATIN1', false);");
            assert_eq!(up(&sql), [("C106", 1)], "{sql}");
            let sql = format!("SELECT set_config({name}, 'UTF8', false);");
            assert_eq!(up(&sql), [], "{sql}");
        }
        for encoding in quoted("LATIN1") {
            for sql in [
                format!("SET NAMES {encoding};"),
                format!("SET client_encoding = {encoding};"),
                format!("SELECT set_config('client_encoding', {encoding}, false);"),
            ] {
                assert_eq!(up(&sql), [("C106", 1)], "{sql}");
            }
        }
        for encoding in quoted("UTF8") {
            for sql in [
                format!("SET NAMES {encoding};"),
                format!("SET SESSION client_encoding TO {encoding};"),
                format!("SELECT set_config('client_encoding', {encoding}, false);"),
            ] {
                assert_eq!(up(&sql), [], "{sql}");
            }
        }
    }

    /// Columns named like the settings: the `SET` of an `UPDATE`, of `ON CONFLICT DO UPDATE`
    /// and of `MERGE ... UPDATE` assigns them (in statements lint reads, mentioning
    /// `pg_settings` or `set_config`).
    #[test]
    fn a_column_named_like_a_setting_is_not_the_setting() {
        for sql in [
            "UPDATE tenants SET client_encoding = 'LATIN1' FROM pg_settings s WHERE s.name = 'x';",
            "UPDATE t SET standard_conforming_strings = off WHERE note = 'set_config';",
            "INSERT INTO t (id, client_encoding) SELECT 1, setting FROM pg_settings \
             ON CONFLICT (id) DO UPDATE SET client_encoding = 'LATIN1';",
            "MERGE INTO t USING pg_settings s ON t.name = s.name \
             WHEN MATCHED THEN UPDATE SET standard_conforming_strings = 'off';",
            "ALTER TABLE t ALTER COLUMN client_encoding SET DEFAULT 'LATIN1';",
            // The function's own setting, while it runs.
            "ALTER FUNCTION f() SET standard_conforming_strings = off;",
        ] {
            assert_eq!(up(sql), [], "{sql}");
        }
    }

    #[test]
    fn on_local_and_reset_are_fine() {
        for sql in [
            "SET standard_conforming_strings = on;",
            "SET LOCAL standard_conforming_strings = off;",
            "RESET standard_conforming_strings;",
            "SELECT set_config('standard_conforming_strings', 'off', true);",
            "SELECT set_config('search_path', '', false);",
            "SELECT 'SET standard_conforming_strings = off';",
            "SELECT set_config(setting_name => 'standard_conforming_strings', new_value => 'off', is_local => true);",
            "DO $$ BEGIN SET LOCAL standard_conforming_strings = off; END $$;",
            "DO $$ BEGIN SET client_encoding = 'UTF8'; END $$;",
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN SET standard_conforming_strings = off; END $$;",
            "SET escape_string_warning = off;",
            "UPDATE pg_settings SET setting = 'on' WHERE name = 'standard_conforming_strings';",
            "SELECT set_config(s.name, '0', false) FROM pg_settings s WHERE s.name = 'idle_session_timeout';",
        ] {
            assert_eq!(up(sql), [], "{sql}");
        }
    }
}
