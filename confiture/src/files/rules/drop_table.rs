//! C115 `drop-table`: dropping a table breaks the code still running against it.

use super::syntax::Shape;
use super::{Context, Diagnostic, RuleDoc, Severity, StatementCx};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C115",
    name: "drop-table",
    severity: Severity::Warning,
    help_names_allow: true,
    summary: "`DROP TABLE` in an up file",
    explanation: "\
The previous version of the application, still running during a deploy, fails on every query
naming the table, and the data cannot be brought back by the down file.

Up files only: a down file undoes its up file, and dropping what the up file created is its
job. Not flagged for a table created earlier in the same file.

**Fix:** stop using the table in the application and deploy that first; then drop it, and say
so with `-- confiture:allow(drop-table)`.",
};

pub(super) fn check(cx: &Context<'_>, s: &StatementCx<'_, '_>, out: &mut Vec<Diagnostic>) {
    let Shape::DropTable { tables } = s.shape else {
        return;
    };
    for table in tables.iter().filter(|t| !s.is_new(t)) {
        out.push(cx.diagnostic(
            &DOC,
            s.stmt.range.clone(),
            format!("DROP TABLE {}: code still using it breaks, and its data is gone", table.display),
            "stop using the table in the application and deploy that first; then allow this with \
             `-- confiture:allow(drop-table)`"
                .to_string(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, only, up};

    #[test]
    fn dropping_existing_tables_warns_in_up_files_only() {
        let d = only("DROP TABLE IF EXISTS tb_comment CASCADE;");
        assert_eq!(
            d.message,
            "DROP TABLE tb_comment: code still using it breaks, and its data is gone"
        );
        assert_eq!(up("DROP TABLE a, b;"), [("C115", 1), ("C115", 1)]);
        assert_eq!(down("DROP TABLE tb_comment;"), []);
    }

    #[test]
    fn dropping_a_table_created_in_the_same_file_is_fine() {
        assert_eq!(
            up("CREATE TABLE tmp (a int);\nDROP TABLE tmp;\nDROP INDEX i;\nDROP VIEW v;"),
            []
        );
    }
}
