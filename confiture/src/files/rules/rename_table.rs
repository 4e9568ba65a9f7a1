//! C116 `rename-table`: renaming a table breaks the code still using the old name.

use super::syntax::Action;
use super::{Context, Diagnostic, RuleDoc, Severity, StatementCx};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C116",
    name: "rename-table",
    severity: Severity::Warning,
    help_names_allow: true,
    summary: "`ALTER TABLE ... RENAME TO` in an up file",
    explanation: "\
The previous version of the application, still running during a deploy, fails on every query
naming the old table name from the moment the migration commits.

Up files only: a down file undoes its up file, and renaming back is its job. Not flagged for a
table created earlier in the same file.

**Fix:** rename in steps the running code survives (for example, rename and create a view with
the old name, drop the view once no code uses it), or allow it:
`-- confiture:allow(rename-table)`.",
};

pub(super) fn check(cx: &Context<'_>, s: &StatementCx<'_, '_>, out: &mut Vec<Diagnostic>) {
    let Some((table, actions)) = s.altered_existing_table() else {
        return;
    };
    for action in actions {
        let Action::RenameTable { to } = &action.item else {
            continue;
        };
        out.push(cx.diagnostic(
            &DOC,
            action.range.clone(),
            format!("RENAME of table {} to {}: code still using the old name breaks", table.display, to.display),
            "rename in steps the running code survives (e.g. leave a view with the old name), or allow it with \
             `-- confiture:allow(rename-table)`"
                .to_string(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, up};

    #[test]
    fn renaming_a_table_warns_in_up_files_only() {
        assert_eq!(
            up("ALTER TABLE IF EXISTS tb_user RENAME TO tb_person;"),
            [("C116", 1)]
        );
        assert_eq!(down("ALTER TABLE tb_person RENAME TO tb_user;"), []);
    }

    #[test]
    fn renaming_a_new_table_and_using_the_new_name_is_fine() {
        let sql = "CREATE TABLE a (x int);\nALTER TABLE a RENAME TO b;\nCREATE INDEX ON b (x);\nALTER TABLE t RENAME CONSTRAINT c TO d;";
        assert_eq!(up(sql), []);
    }
}
