//! C193 `unused-allow`: `-- confiture:allow(rule)` where the rule has nothing to allow.

use super::{is_allowable, Context, Diagnostic, Direction, RuleDoc, Severity, UP_ONLY};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C193",
    name: "unused-allow",
    severity: Severity::Warning,
    help_names_allow: false,
    summary: "`-- confiture:allow(rule)` in a file where that rule finds nothing",
    explanation: "\
An allow that silences nothing today would silently swallow a real problem added to the file
tomorrow. It usually means the statement was fixed, or the allow names the wrong rule, or it is
in the down file for a rule that only applies to up files.

**Fix:** remove the allow.",
};

pub(super) fn check(cx: &Context<'_>, used: &[bool], out: &mut Vec<Diagnostic>) {
    for ((rule, at), used) in cx.markers.allows.iter().zip(used) {
        if *used || !is_allowable(rule) {
            continue;
        }
        let help = if cx.kind == Direction::Down && UP_ONLY.contains(&rule.as_str()) {
            format!("remove it: {rule} does not apply to down files")
        } else {
            "remove it, so that it cannot hide a future problem".to_string()
        };
        out.push(cx.diagnostic(
            &DOC,
            at.range.clone(),
            format!("`allow({rule})` but no {rule} warning in this file"),
            help,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, up};

    #[test]
    fn used_allows_are_quiet_and_unused_ones_warn() {
        assert_eq!(up("-- confiture:allow(drop-table)\nDROP TABLE t;\n"), []);
        assert_eq!(
            up("-- confiture:allow(drop-table, drop-column)\nDROP TABLE t;\n"),
            [("C193", 1)]
        );
        assert_eq!(
            down("-- confiture:allow(drop-table)\nDROP TABLE t;\n"),
            [("C193", 1)]
        );
    }
}
