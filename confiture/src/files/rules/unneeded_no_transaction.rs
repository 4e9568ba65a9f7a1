//! C102 `unneeded-no-transaction`: the no-transaction marker on a file that does not need it.

use super::{Context, Diagnostic, RuleDoc, Severity};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C102",
    name: "unneeded-no-transaction",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "`-- confiture:no-transaction` on a file with no statement that needs it",
    explanation: "\
`-- confiture:no-transaction` makes confiture run the file statement by statement, in
autocommit: if the third statement fails, the first two stay applied and the migration is not
recorded. That is the price of statements PostgreSQL refuses in a transaction block; on any
other file the marker only throws away atomicity, so it is an error.

A file with a `CALL` or a `DO` block is never reported: a procedure or `DO` block that runs
`COMMIT` or `ROLLBACK` (a backfill committing every few thousand rows) works only outside a
transaction block, and lint cannot see what a procedure does.

**Fix:** remove the marker, or move the statement that needs it (such as
`CREATE INDEX CONCURRENTLY`) into this file.",
};

pub(super) fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let Some(at) = &cx.markers.no_transaction_at else {
        return;
    };
    if cx
        .split
        .statements
        .iter()
        .any(|s| s.non_transactional_command().is_some() || s.may_control_transactions().is_some())
    {
        return;
    }
    out.push(cx.diagnostic(
        &DOC,
        at.range.clone(),
        "`-- confiture:no-transaction` but no statement needs it: the migration would lose its atomicity".to_string(),
        "remove the marker; it is only for statements PostgreSQL refuses in a transaction block \
         (CREATE INDEX CONCURRENTLY, VACUUM, ...) and for a CALL or DO that commits"
            .to_string(),
    ));
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, only, up};

    #[test]
    fn marker_without_a_reason_is_an_error_at_the_marker() {
        let d = only("-- confiture:no-transaction\n\nALTER TABLE t ADD COLUMN b text;\n");
        assert_eq!((d.code, d.line), ("C102", Some(1)));
        assert!(d.message.contains("lose its atomicity"));
    }

    #[test]
    fn marker_with_a_reason_is_fine() {
        assert_eq!(up("-- confiture:no-transaction\nVACUUM ANALYZE t;\n"), []);
        assert_eq!(
            up("-- confiture:no-transaction\nCREATE SUBSCRIPTION s CONNECTION 'host=p' PUBLICATION p;\n"),
            []
        );
        assert_eq!(
            down("-- confiture:no-transaction\nDROP SUBSCRIPTION s;\n"),
            []
        );
    }

    #[test]
    fn marker_with_a_procedure_or_do_block_is_accepted() {
        // A procedure or DO block that COMMITs runs only outside a transaction block, and
        // lint cannot see what it does: the marker may be needed.
        for sql in [
            "CALL backfill(10000);",
            "UPDATE t SET a = 1;\nCALL app.backfill();",
            "DO $$ BEGIN INSERT INTO t VALUES (1); COMMIT; END $$;",
        ] {
            let file = format!("-- confiture:no-transaction\n{sql}\n");
            assert!(
                !up(&file).iter().any(|&(code, _)| code == "C102"),
                "{sql}: {:?}",
                up(&file)
            );
        }
    }

    #[test]
    fn marker_on_transactional_subscription_commands_is_still_an_error() {
        for sql in [
            "CREATE SUBSCRIPTION s CONNECTION 'host=p' PUBLICATION p WITH (connect = false);",
            "ALTER SUBSCRIPTION s DISABLE;",
            "SELECT 'CALL p()';",
        ] {
            let d = only(&format!("-- confiture:no-transaction\n{sql}\n"));
            assert_eq!(d.code, "C102", "{sql}");
        }
    }
}
