//! C191 `misplaced-marker`: a marker where confiture does not read it.

use super::markers::MarkerProblemKind;
use super::{misplaced_irreversible, Context, Diagnostic, Direction, RuleDoc, Severity};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C191",
    name: "misplaced-marker",
    severity: Severity::Warning,
    help_names_allow: false,
    summary: "a marker after the first statement, in a block comment, `irreversible` in an up \
              file or `destructive` in a down file",
    explanation: "\
Markers are read from `--` comments in the file's leading comment block (the comments and blank
lines before the first statement), so that one glance at the top of a file tells how it runs. A
marker anywhere else is ignored and reported (a line of a block comment that starts with a
marker too; prose mentioning one is none). `-- confiture:irreversible` means \"rolling this
migration back is refused\" and belongs in the down file; in an up file it has no effect; in a
down file not marked irreversible, where it is not read, it is an error (`C194`).
`-- confiture:destructive` (confiture (Python)'s gate, read on any line) makes `migrate up`
refuse the up file without `--allow-destructive`; in a down file it has no effect: nothing
gates a rollback by it.

**Fix:** move the marker to the top of the file (of the down file, for `irreversible`; of the
up file, for `destructive`), as a `--` comment.",
};

pub(super) fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for problem in &cx.markers.problems {
        if misplaced_irreversible::reports(cx.kind, cx.markers, problem) {
            continue;
        }
        let (message, help) = match &problem.kind {
            MarkerProblemKind::AfterFirstStatement { directive } => (
                format!("marker `confiture:{directive}` after the first statement is ignored"),
                "move it to the file's leading comments, before the first statement",
            ),
            MarkerProblemKind::InBlockComment { directive } => (
                format!("marker `confiture:{directive}` in a block comment is ignored"),
                "write it as a `--` comment before the first statement",
            ),
            _ => continue,
        };
        out.push(cx.diagnostic(&DOC, problem.at.range.clone(), message, help.to_string()));
    }
    if let (Direction::Down, Some(at)) = (cx.kind, &cx.markers.destructive_at) {
        out.push(
            cx.diagnostic(
                &DOC,
                at.range.clone(),
                "`-- confiture:destructive` in a down file has no effect".to_string(),
                "put it in the up file: `migrate up` refuses an up file so marked without \
             `--allow-destructive`; nothing gates a rollback by it (`-- confiture:irreversible` \
             in the down file refuses rolling back)"
                    .to_string(),
            ),
        );
    }
    if let (Direction::Up, Some(at)) = (cx.kind, &cx.markers.irreversible_at) {
        out.push(
            cx.diagnostic(
                &DOC,
                at.range.clone(),
                "`-- confiture:irreversible` in an up file has no effect".to_string(),
                "put it in the down file: it makes rolling back this migration refuse to run"
                    .to_string(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, up};

    #[test]
    fn markers_after_the_first_statement_warn() {
        let sql = "CREATE TABLE t (a int);\n-- confiture:no-transaction\nSELECT 1; /* confiture:allow(drop-table) */\n";
        assert_eq!(up(sql), [("C191", 2), ("C191", 3)]);
    }

    #[test]
    fn irreversible_belongs_to_down_files() {
        let sql = "-- a note\n-- confiture:irreversible\nSELECT 1;\n";
        assert_eq!(up(sql), [("C191", 2)]);
        assert_eq!(down(sql), []);
    }

    /// hxf: `-- confiture:destructive` in a down file had no effect, in silence: `migrate up`
    /// gates the up file alone (as confiture (Python) does), and nothing gates a rollback by it.
    #[test]
    fn destructive_belongs_to_up_files() {
        for sql in [
            "-- confiture:destructive\nDROP TABLE t;\n",
            "SELECT 1;\n-- CONFITURE:Destructive the rows go\nDROP TABLE t;\n",
        ] {
            let line = if sql.starts_with("--") { 1 } else { 2 };
            assert_eq!(down(sql), [("C191", line)], "{sql}");
            assert!(up(sql).iter().all(|(code, _)| *code != "C191"), "{sql}");
        }
    }

    /// A marker line in a licence or prose block comment was reported with its caret on the
    /// comment's first line (`/*`), not on the line holding it; prose that only mentions a
    /// marker in a sentence is no marker line, and is not reported.
    #[test]
    fn a_marker_line_in_a_block_comment_is_pointed_at_where_it_is() {
        use std::path::Path;

        use super::super::{check_sql, Direction};
        let at = |sql: &str| -> Vec<(&'static str, u32, u32)> {
            check_sql(Path::new("m.sql"), sql, Direction::Up)
                .iter()
                .filter_map(|d| Some((d.code, d.span?.line, d.span?.column)))
                .collect()
        };
        let sql = "/*\n * Copyright\n * -- confiture:no-transaction in prose\n */\n\n\
                   -- confiture:no-transaction\nVACUUM a;\n";
        assert_eq!(at(sql), [("C191", 3, 4)]);
        let sql = "SELECT 1; /* a note\n   confiture:allow(drop-table) */\n";
        assert_eq!(at(sql), [("C191", 2, 4)]);
        // Two marker lines in one comment: each where it is.
        let sql = "/*\n-- confiture:no-transaction\n * confiture:irreversible\n*/\nSELECT 1;\n";
        assert_eq!(at(sql), [("C191", 2, 1), ("C191", 3, 4)]);
        // Prose mentioning a marker is no marker line.
        let sql = "/* This file needs no confiture:no-transaction marker. */\nSELECT 1;\n";
        assert_eq!(at(sql), []);
    }
}
