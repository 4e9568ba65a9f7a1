//! C190 `unknown-marker`: a `-- confiture:` comment that is not a marker confiture knows.

use super::markers::MarkerProblemKind;
use super::{misplaced_irreversible, Context, Diagnostic, RuleDoc, Severity};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C190",
    name: "unknown-marker",
    severity: Severity::Warning,
    help_names_allow: false,
    summary: "an unknown or malformed `-- confiture:` marker",
    explanation: "\
The markers are `-- confiture:no-transaction`, `-- confiture:irreversible`,
`-- confiture:allow(rule-a, rule-b)`, confiture (Python)'s gate `-- confiture:destructive`
(`migrate up` refuses such a migration without `--allow-destructive`) and the header
`-- confiture:squashed-baseline through=<VERSION> ...` of the baseline its `migrate squash`
writes (irreversible: its down file always raises). A comment that starts with `confiture:` but is none of
them is ignored, which would silently turn a typo (`no_transaction`) into a migration that runs
differently than its author meant; so it is reported, with the closest marker. A near miss of
`irreversible` in a down file not marked irreversible is an error instead (`C194`): the rollback
it meant to refuse would run.

**Fix:** spell the marker as suggested. A note may follow a marker after a space:
`-- confiture:irreversible the data is gone`.",
};

pub(super) fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for problem in &cx.markers.problems {
        if misplaced_irreversible::reports(cx.kind, cx.markers, problem) {
            continue;
        }
        let (message, help) = match &problem.kind {
            MarkerProblemKind::Unknown { directive, suggestion } => (
                format!("unknown marker `confiture:{directive}` is ignored"),
                match suggestion {
                    Some(s) => format!("did you mean `-- confiture:{s}`?"),
                    None => "the markers are `-- confiture:no-transaction`, `-- confiture:irreversible` and \
                             `-- confiture:allow(<rule-name>)`"
                        .to_string(),
                },
            ),
            MarkerProblemKind::Malformed { comment, reason } => (
                format!("malformed marker `{comment}` is ignored: {reason}"),
                "write it as `-- confiture:allow(rule-a, rule-b)`, `-- confiture:no-transaction` or \
                 `-- confiture:irreversible`"
                    .to_string(),
            ),
            _ => continue,
        };
        out.push(cx.diagnostic(&DOC, problem.at.range.clone(), message, help));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{only, up};

    #[test]
    fn a_typo_gets_a_suggestion_and_the_marker_is_not_honoured() {
        let sql = "-- confiture:no_transaction\nCREATE INDEX CONCURRENTLY i ON t (a);\n";
        assert_eq!(up(sql), [("C190", 1), ("C101", 2)]);
        let d = only("-- confiture:irreversable\nSELECT 1;\n");
        assert_eq!(
            d.message,
            "unknown marker `confiture:irreversable` is ignored"
        );
        assert_eq!(
            d.help.as_deref(),
            Some("did you mean `-- confiture:irreversible`?")
        );
    }

    #[test]
    fn malformed_allow_warns() {
        assert_eq!(
            up("-- confiture:allow(drop-table\nSELECT 1;\n"),
            [("C190", 1)]
        );
    }
}
