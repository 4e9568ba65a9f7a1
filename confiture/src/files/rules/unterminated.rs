//! C105 `unterminated`: a string, quoted identifier, dollar quote, block comment, parenthesis
//! or `BEGIN ATOMIC` body that is never closed.

use super::lexer::{Construct, ProblemKind};
use super::{Context, Diagnostic, RuleDoc, Severity};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C105",
    name: "unterminated",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "an unterminated string, quoted identifier, dollar quote, block comment, parenthesis or BEGIN ATOMIC body",
    explanation: "\
An opening `'`, `\"`, `$tag$` or `/*` without its closing partner swallows the rest of the file,
so statements after it silently become part of a string or comment. The diagnostic points at
the line where the construct starts. Block comments nest in PostgreSQL: `/* /* */` is still
open. A `(` never closed, or a `BEGIN ATOMIC` function body without its `END`, keeps every later
`;` from ending the statement.

**Fix:** close it: `'` (write `''` for a quote inside a string), `\"`, the same `$tag$` that
opened the dollar quote, `*/` for each `/*`, `)`, or `END`.",
};

pub(super) fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for problem in &cx.split.problems {
        let ProblemKind::Unterminated(construct) = problem.kind else {
            continue;
        };
        let text = cx.text.get(problem.range.clone()).unwrap_or("");
        let help = match construct {
            Construct::String => {
                "close the string with `'` (write `''` for a quote inside it)".to_string()
            }
            Construct::QuotedIdentifier => {
                "close the identifier with `\"` (write `\"\"` for a quote inside it)".to_string()
            }
            Construct::DollarQuote => {
                let tag = text
                    .get(1..)
                    .and_then(|t| t.find('$'))
                    .and_then(|end| text.get(..end + 2))
                    .unwrap_or("$$");
                format!("close it with the same `{tag}` that opened it")
            }
            Construct::BlockComment => {
                "close it with `*/`; block comments nest, so every `/*` needs its own `*/`"
                    .to_string()
            }
            Construct::Parenthesis => {
                "add the missing `)`; until then every later `;` is inside it".to_string()
            }
            Construct::AtomicBody => "end the BEGIN ATOMIC body with END".to_string(),
        };
        out.push(cx.diagnostic(
            &DOC,
            problem.range.clone(),
            format!(
                "unterminated {} starting here: the rest of the file is inside it",
                construct.describe()
            ),
            help,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{only, up};

    #[test]
    fn each_construct_points_at_its_start() {
        for (sql, help) in [
            ("SELECT 1;\nSELECT 'abc;\nSELECT 2;\n", "`'`"),
            ("SELECT 1;\nSELECT \"abc;\n", "`\"`"),
            ("SELECT 1;\nSELECT $fn$ body;\n", "`$fn$`"),
            ("SELECT 1;\n/* outer /* inner */\nSELECT 2;\n", "`*/`"),
            ("SELECT 1;\nCREATE TABLE t (a int;\nSELECT 2;\n", "`)`"),
            (
                "SELECT 1;\nCREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC\nSELECT 1;\n",
                "END",
            ),
        ] {
            let d = only(sql);
            assert_eq!((d.code, d.line), ("C105", Some(2)), "{sql}");
            assert!(d.help.unwrap_or_default().contains(help), "{sql}");
        }
    }

    #[test]
    fn closed_constructs_are_fine() {
        assert_eq!(
            up("SELECT 'a''b', E'\\'', \"x\"\"y\", $a$ $b$ ; $b$ $a$ /* /* */ */;\n"),
            []
        );
    }
}
