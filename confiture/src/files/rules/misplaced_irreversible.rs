//! C194 `misplaced-irreversible`: a `-- confiture:irreversible` marker a down file does not
//! read, in a file that is not marked irreversible.

use super::{Context, Diagnostic, Direction, RuleDoc, Severity};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C194",
    name: "misplaced-irreversible",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "`-- confiture:irreversible` in a down file where it is not read (after the first \
              statement, in a block comment): rolling back would run the file",
    explanation: "\
A down file is irreversible when its leading comments (the comments and blank lines before its
first statement) hold the line `-- confiture:irreversible`: `migrate down` then refuses to roll
the migration back (exit code 8). The same marker anywhere else is not read, so the rollback runs
the file's statements and removes the migration from the ledger — whatever the schema still
holds. Its author meant the opposite, so this is an error, not the warning a misplaced marker
gets (`C191`). confiture (Python) reads no such marker at all: it rolls back whatever down file
there is.

**Fix:** move the line to the top of the down file, before the first statement, as a `--`
comment.",
};

pub(super) fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let problems = cx.markers.problems.iter();
    for problem in problems.filter(|p| reports(cx.kind, cx.markers, p)) {
        out.push(
            cx.diagnostic(
                &DOC,
                problem.at.range.clone(),
                "`-- confiture:irreversible` is not read here: rolling back would run this file \
             and remove the migration from the ledger"
                    .to_string(),
                "move the line to the top of the file, before the first statement, as a `--` \
             comment (rolling back is then refused)"
                    .to_string(),
            ),
        );
    }
}

/// Whether C194 reports `problem` of a file of `kind` whose markers are `markers`: the one
/// rule C191 leaves it to.
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
}
