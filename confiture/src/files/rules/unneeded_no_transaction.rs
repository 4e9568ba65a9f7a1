//! C102 `unneeded-no-transaction`: the no-transaction marker on a file that does not need it.

use super::{Context, Diagnostic, RuleDoc, Severity};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C102",
    name: "unneeded-no-transaction",
    severity: Severity::Error,
    summary: "`-- confiture:no-transaction` on a file with no statement that needs it",
    explanation: "\
`-- confiture:no-transaction` makes confiture run the file statement by statement, in
autocommit: if the third statement fails, the first two stay applied and the migration is not
recorded. That is the price of statements PostgreSQL refuses in a transaction block; on any
other file the marker only throws away atomicity, so it is an error.

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
        .any(|s| s.non_transactional_command().is_some())
    {
        return;
    }
    out.push(cx.diagnostic(
        &DOC,
        at.range.clone(),
        "`-- confiture:no-transaction` but no statement needs it: the migration would lose its atomicity".to_string(),
        "remove the marker; it is only for statements PostgreSQL refuses in a transaction block \
         (CREATE INDEX CONCURRENTLY, VACUUM, ...)"
            .to_string(),
    ));
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{only, up};

    #[test]
    fn marker_without_a_reason_is_an_error_at_the_marker() {
        let d = only("-- confiture:no-transaction\n\nALTER TABLE t ADD COLUMN b text;\n");
        assert_eq!((d.code, d.line), ("C102", Some(1)));
        assert!(d.message.contains("lose its atomicity"));
    }

    #[test]
    fn marker_with_a_reason_is_fine() {
        assert_eq!(up("-- confiture:no-transaction\nVACUUM ANALYZE t;\n"), []);
    }
}
