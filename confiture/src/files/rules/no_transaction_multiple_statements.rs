//! C118 `no-transaction-multiple-statements`: a no-transaction migration with several
//! statements can fail halfway.

use super::{Context, Diagnostic, RuleDoc, Severity};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C118",
    name: "no-transaction-multiple-statements",
    severity: Severity::Warning,
    help_names_allow: false,
    summary: "more than one statement in a `-- confiture:no-transaction` migration",
    explanation: "\
A no-transaction migration runs statement by statement in autocommit, and is recorded in the
ledger only after the last one succeeds. If statement 2 fails, statement 1 stays committed and
the migration is not recorded: the next `up` runs statement 1 again, which fails if it is not
idempotent. Applies to up and down files.

**Fix:** give each non-transactional statement a migration of its own, or make every statement
safe to run twice (`IF NOT EXISTS`, `IF EXISTS`) and allow it:
`-- confiture:allow(no-transaction-multiple-statements)`.",
};

pub(super) fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let statements = &cx.split.statements;
    if !cx.markers.no_transaction || statements.len() < 2 {
        return;
    }
    out.push(cx.diagnostic(
        &DOC,
        statements[1].range.clone(),
        format!(
            "no-transaction migration has {} statements: if one fails, those before it stay committed and \
             the migration is not recorded",
            statements.len()
        ),
        "give each non-transactional statement a migration of its own".to_string(),
    ));
}

#[cfg(test)]
mod tests {
    use super::super::test_support::up;

    #[test]
    fn second_statement_of_a_no_transaction_file_warns() {
        let sql = "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a ON t (a);\nCREATE INDEX CONCURRENTLY b ON t (b);\n";
        assert_eq!(up(sql), [("C118", 3)]);
    }

    #[test]
    fn one_statement_is_fine() {
        assert_eq!(
            up("-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a ON t (a);"),
            []
        );
    }
}
