//! C194 `misplaced-irreversible`: a `-- confiture:irreversible` marker a down file does not
//! read, in a file that is not marked irreversible.

use super::{Context, Diagnostic, Direction, RuleDoc, Severity};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C194",
    name: "misplaced-irreversible",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "`-- confiture:irreversible` in a down file where it is not read (after the first \
              statement, in a block comment) or misspelled: rolling back would run the file",
    explanation: "\
A down file is irreversible when its leading comments (the comments and blank lines before its
first statement) hold the line `-- confiture:irreversible`: `migrate down` then refuses to roll
the migration back (exit code 8). The same marker anywhere else is not read, so the rollback runs
the file's statements and removes the migration from the ledger — whatever the schema still
holds. So does a near miss of the marker, wherever it is: a typo (`-- confiture:irreversable`),
another case (`-- CONFITURE:IRREVERSIBLE`) or text glued to it (`-- confiture:irreversible-`),
which the error names with the marker it missed. Its author meant the opposite, so this is an error, not the warning a misplaced marker
gets (`C191`). confiture (Python) reads no such marker at all: it rolls back whatever down file
there is.

**Fix:** move the line to the top of the down file, before the first statement, as a `--`
comment, spelt `-- confiture:irreversible` (a note may follow after a space).",
};

pub(super) fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let problems = cx.markers.problems.iter();
    for problem in problems.filter(|p| reports(cx.kind, cx.markers, p)) {
        let (message, help) = if problem.is_irreversible_near_miss() {
            let comment = &cx.text[problem.at.range.clone()];
            (
                format!(
                    "`{comment}` is not the marker `-- confiture:irreversible`: rolling back \
                     would run this file and remove the migration from the ledger"
                ),
                "did you mean `-- confiture:irreversible`? Write it so, as a `--` comment at \
                 the top of the file, before the first statement (rolling back is then refused)",
            )
        } else {
            (
                "`-- confiture:irreversible` is not read here: rolling back would run this file \
                 and remove the migration from the ledger"
                    .to_string(),
                "move the line to the top of the file, before the first statement, as a `--` \
                 comment (rolling back is then refused)",
            )
        };
        out.push(cx.diagnostic(&DOC, problem.at.range.clone(), message, help.to_string()));
    }
}

/// Whether C194 reports `problem` of a file of `kind` whose markers are `markers`: the one
/// rule C191 and C190 leave it to.
pub(super) fn reports(
    kind: Direction,
    markers: &super::Markers,
    problem: &super::markers::MarkerProblem,
) -> bool {
    kind == Direction::Down && !markers.irreversible && problem.is_irreversible()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, up};
    use super::super::{check_sql, Direction};

    #[test]
    fn an_irreversible_marker_a_down_file_does_not_read_is_an_error() {
        for (sql, line) in [
            ("SELECT 1;\n-- confiture:irreversible the data is gone\n", 2),
            ("SELECT 1;\n-- Confiture:IRREVERSIBLE\n", 2),
            ("/* confiture:irreversible */\nSELECT 1;\n", 1),
            ("/*\n * -- confiture:irreversible\n */\nSELECT 1;\n", 2),
        ] {
            assert_eq!(down(sql), [("C194", line)], "{sql}");
            // In an up file it has no effect either way: misplaced, a warning.
            assert_eq!(up(sql), [("C191", line)], "{sql}");
        }
        // Read: the file is irreversible; another marker further down is only misplaced.
        assert_eq!(down("-- confiture:irreversible\nSELECT 1;\n"), []);
        assert_eq!(
            down("-- confiture:irreversible\nSELECT 1;\n-- confiture:irreversible\n"),
            [("C191", 3)]
        );
    }

    /// A near miss of the marker (a typo, text glued to it, another case) in a down file not
    /// marked irreversible leaves the rollback to run, as a misplaced marker does: the same
    /// error, naming the marker it missed, wherever in the file it is.
    #[test]
    fn a_near_miss_of_the_irreversible_marker_in_a_down_file_is_the_same_error() {
        for (sql, line) in [
            ("-- confiture: irreversable\nSELECT 1;\n", 1),
            ("-- drop it\n-- confiture:irreversible-\nSELECT 1;\n", 2),
            ("-- CONFITURE:IRREVERSIBLE\nSELECT 1;\n", 1),
            ("-- confiture:irreversible.\nSELECT 1;\n", 1),
            ("-- confiture:irreversibel the data is gone\nSELECT 1;\n", 1),
            ("SELECT 1;\n-- confiture:irreversable\n", 2),
            ("/* confiture:irreversable */\nSELECT 1;\n", 1),
        ] {
            assert_eq!(down(sql), [("C194", line)], "{sql}");
            let d = check_sql(std::path::Path::new("m.sql"), sql, Direction::Down).remove(0);
            assert!(
                d.help
                    .as_deref()
                    .is_some_and(|h| h.contains("did you mean `-- confiture:irreversible`?")),
                "{sql}: {d:?}"
            );
            // In an up file it has no effect either way: the typo's warning.
            assert!(
                up(sql)
                    .iter()
                    .all(|(code, _)| ["C190", "C191"].contains(code)),
                "{sql}: {:?}",
                up(sql)
            );
        }
        // A down file the marker makes irreversible: a typo further down is only a typo.
        assert_eq!(
            down("-- confiture:irreversible\n-- confiture:irreversable\nSELECT 1;\n"),
            [("C190", 2)]
        );
        // Other markers' typos stay warnings.
        assert_eq!(
            down("-- confiture:no_transaction\nSELECT 1;\n"),
            [("C190", 1)]
        );
    }
}
