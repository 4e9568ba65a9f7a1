//! C103 `psql-meta-command`: `\i`, `\set`, `\connect`... are psql's, not SQL.

use super::lexer::ProblemKind;
use super::{Context, Diagnostic, RuleDoc, Severity};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C103",
    name: "psql-meta-command",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "a psql meta-command (`\\i`, `\\set`, `\\connect`, ...) in a migration",
    explanation: "\
Backslash commands are interpreted by psql and never reach the server; confiture sends the file
to PostgreSQL directly, where a backslash outside a string is a syntax error. A backslash
outside quotes and comments is reported wherever it appears on a line.

**Fix:** write the SQL the command stood for: inline the file an `\\i` included (or make it a
migration of its own), write the values a `\\set` defined into the SQL, load data with
`INSERT ... VALUES` or `COPY ... FROM` a file on the server instead of `\\copy`, and remove a
`\\set ON_ERROR_STOP` or a `\\timing`: confiture always stops at the first failing statement and
reports how long each migration took. A migration runs on its environment's database, so
`\\connect` has no equivalent: use another environment.",
};

pub(super) fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for problem in &cx.split.problems {
        if problem.kind != ProblemKind::MetaCommand {
            continue;
        }
        let text = cx.text.get(problem.range.clone()).unwrap_or("");
        let command = text.split_ascii_whitespace().next().unwrap_or("\\");
        let command: String = command.chars().take(24).collect();
        // The psql variable a `\set` sets: the ones that ask psql for what confiture always
        // does have nothing to be replaced with.
        let variable = text.split_ascii_whitespace().nth(1).unwrap_or("");
        let help = match command.trim_start_matches('\\') {
            "set" if variable == "ON_ERROR_STOP" => {
                "remove it: confiture always stops at the first statement that fails, as psql \
                 does with ON_ERROR_STOP"
            }
            "timing" => "remove it: confiture reports how long each migration took",
            "i" | "ir" | "include" | "include_relative" => {
                "put the included SQL in this migration, or in a migration of its own"
            }
            "set" | "unset" | "gset" | "setenv" => "write the values into the SQL; migrations have no variables",
            "c" | "connect" => "a migration runs on its environment's database; use another environment for another database",
            "copy" => "load data with INSERT ... VALUES, or COPY ... FROM a file on the server, or in a separate data load",
            "gexec" => "generate the statements once and write them into the migration, or use a DO block with EXECUTE",
            _ => "remove it; a migration holds SQL statements only",
        };
        out.push(cx.diagnostic(
            &DOC,
            problem.range.clone(),
            format!(
                "psql meta-command `{command}`: confiture sends SQL to the server, not to psql"
            ),
            help.to_string(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{only, up};

    #[test]
    fn backslash_commands_are_errors_with_a_specific_help() {
        let d = only("\\i other.sql\n");
        assert_eq!((d.code, d.line), ("C103", Some(1)));
        assert_eq!(
            d.message,
            "psql meta-command `\\i`: confiture sends SQL to the server, not to psql"
        );
        assert!(d.help.unwrap_or_default().contains("included SQL"));
        assert_eq!(
            up("CREATE TABLE t (a int);\n  \\set ON_ERROR_STOP on\nSELECT 1 \\gset\n"),
            [("C103", 2), ("C103", 3)]
        );
    }

    /// `\set ON_ERROR_STOP` (the first line of many psql scripts) and `\timing` ask psql for
    /// what confiture always does: their help says to remove them, not to write "the values
    /// into the SQL", which has nothing to write.
    #[test]
    fn settings_confiture_always_has_are_said_to_go() {
        for text in [
            "\\set ON_ERROR_STOP 1\n",
            "\\set ON_ERROR_STOP on\n",
            "\\timing on\n",
        ] {
            let d = only(text);
            assert_eq!((d.code, d.line), ("C103", Some(1)), "{text}");
            let help = d.help.unwrap_or_default();
            assert!(help.starts_with("remove it: confiture "), "{text}: {help}");
        }
        // Other variables keep their help.
        let d = only("\\set id 42\n");
        assert!(d.help.unwrap_or_default().contains("write the values"));
    }

    #[test]
    fn backslashes_in_strings_and_comments_are_fine() {
        assert_eq!(
            up("-- \\i nothing\nSELECT E'\\\\i', '\\set', $$\\c$$; /* \\connect */\n"),
            []
        );
    }
}
