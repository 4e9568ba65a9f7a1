//! C114 `drop-column`: dropping a column breaks the code still running against it.

use super::syntax::Action;
use super::{Context, Diagnostic, RuleDoc, Severity, StatementCx};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C114",
    name: "drop-column",
    severity: Severity::Warning,
    help_names_allow: true,
    summary: "`ALTER TABLE ... DROP COLUMN` in an up file",
    explanation: "\
During a deploy the previous version of the application is still running: its queries naming
the column fail from the moment the migration commits. And the data is gone; the down file can
only bring back an empty column.

Up files only: a down file undoes its up file, and dropping what the up file added is its job.
Not flagged for a table created earlier in the same file.

**Fix:** stop using the column in the application and deploy that first; then drop it, and say
so with `-- confiture:allow(drop-column)`.",
};

pub(super) fn check(cx: &Context<'_>, s: &StatementCx<'_, '_>, out: &mut Vec<Diagnostic>) {
    let Some((table, actions)) = s.altered_existing_table() else {
        return;
    };
    for action in actions {
        let Action::DropColumn { column } = &action.item else {
            continue;
        };
        out.push(cx.diagnostic(
            &DOC,
            action.range.clone(),
            format!("DROP COLUMN {column} of {}: code still using it breaks, and its data is gone", table.display),
            "stop using the column in the application and deploy that first; then allow this with \
             `-- confiture:allow(drop-column)`"
                .to_string(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, up};

    #[test]
    fn dropping_a_column_warns_in_up_files_only() {
        let sql = "ALTER TABLE tb_user DROP COLUMN bio, DROP avatar_url;";
        assert_eq!(up(sql), [("C114", 1), ("C114", 1)]);
        assert_eq!(down(sql), []);
    }

    #[test]
    fn dropping_constraints_or_defaults_is_fine() {
        assert_eq!(
            up("ALTER TABLE t DROP CONSTRAINT c, ALTER COLUMN a DROP DEFAULT;"),
            []
        );
        assert_eq!(
            up("-- confiture:allow(drop-column)\nALTER TABLE t DROP COLUMN a;"),
            []
        );
    }
}
