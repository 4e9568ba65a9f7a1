//! C117 `rename-column`: renaming a column breaks the code still using the old name.

use super::syntax::Action;
use super::{Context, Diagnostic, RuleDoc, Severity, StatementCx};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C117",
    name: "rename-column",
    severity: Severity::Warning,
    help_names_allow: true,
    summary: "`ALTER TABLE ... RENAME COLUMN` in an up file",
    explanation: "\
The previous version of the application, still running during a deploy, fails on every query
naming the old column name from the moment the migration commits.

Up files only: a down file undoes its up file, and renaming back is its job. Not flagged for a
table created earlier in the same file.

**Fix:** add the new column, write to both, backfill, switch reads, then drop the old one; or
allow it: `-- confiture:allow(rename-column)`.",
};

pub(super) fn check(cx: &Context<'_>, s: &StatementCx<'_, '_>, out: &mut Vec<Diagnostic>) {
    let Some((table, actions)) = s.altered_existing_table() else {
        return;
    };
    for action in actions {
        let Action::RenameColumn { column, to } = &action.item else {
            continue;
        };
        out.push(cx.diagnostic(
            &DOC,
            action.range.clone(),
            format!("RENAME of column {column} of {} to {to}: code still using the old name breaks", table.display),
            "add the new column and migrate to it in steps the running code survives, or allow it with \
             `-- confiture:allow(rename-column)`"
                .to_string(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, up};

    #[test]
    fn renaming_a_column_warns_in_up_files_only() {
        assert_eq!(up("ALTER TABLE t RENAME COLUMN a TO b;"), [("C117", 1)]);
        assert_eq!(up("ALTER TABLE t RENAME a TO b;"), [("C117", 1)]);
        assert_eq!(down("ALTER TABLE t RENAME b TO a;"), []);
    }

    #[test]
    fn renaming_other_things_is_not_this_rule() {
        assert_eq!(
            up("ALTER INDEX i RENAME TO j;\nALTER TABLE t RENAME CONSTRAINT c TO d;"),
            []
        );
    }
}
