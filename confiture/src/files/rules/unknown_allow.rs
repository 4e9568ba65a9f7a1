//! C192 `unknown-allow`: `-- confiture:allow(...)` naming a rule that does not exist or cannot
//! be allowed.

use super::{is_allowable, Context, Diagnostic, RuleDoc, Severity, SQL_RULES};
use crate::diagnostic::LINTS_URL;
use crate::files::{all_rules, FILE_RULES};
use crate::text::{did_you_mean, sharing_words};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C192",
    name: "unknown-allow",
    severity: Severity::Warning,
    help_names_allow: false,
    summary: "`-- confiture:allow(...)` naming an unknown rule, an error or a marker rule",
    explanation: "\
`allow` takes rule names (kebab-case, as listed on this page), not codes. A name that matches no
rule allows nothing, so it is reported with the closest name. Errors cannot be allowed: they are
what would fail or misbehave when the migration runs. Nor can the marker rules
(`C190`–`C199`), which report `allow` itself.

**Fix:** use the rule name the warning's note gives (`= note: ... -- confiture:allow(index-without-concurrently)`);
fix errors instead of allowing them.",
};

pub(super) fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for (rule, at) in &cx.markers.allows {
        if FILE_RULES.iter().any(|r| r.name == rule) {
            continue; // the file-level rules read their own allows
        }
        let (message, help) = match SQL_RULES.iter().find(|r| r.name == rule) {
            None => (
                format!("`allow({rule})` names no rule, so it allows nothing"),
                match did_you_mean(rule, all_rules().map(|r| r.name)) {
                    Some(name) => format!("did you mean `{name}`?"),
                    None => match all_rules().find(|r| r.code.eq_ignore_ascii_case(rule)) {
                        // The code of a rule: its name is known.
                        Some(doc) => format!(
                            "allow takes rule names, not codes: {} is `{}`, allowed by \
                             `-- confiture:allow({})`",
                            doc.code, doc.name, doc.name
                        ),
                        None if rule.starts_with(['C', 'c'])
                            && rule[1..].bytes().all(|b| b.is_ascii_digit()) =>
                        {
                            "allow takes rule names, not codes: use the name shown after the code"
                                .to_string()
                        }
                        None => match sharing_words(rule, all_rules().map(|r| r.name)) {
                            Some(name) => format!("did you mean `{name}`?"),
                            None => format!("the rules are listed at {LINTS_URL}"),
                        },
                    },
                },
            ),
            Some(doc) if doc.severity == Severity::Error => (
                format!("`allow({rule})` cannot silence an error"),
                format!("fix the problem instead; {} explains how", doc.code),
            ),
            Some(_) if !is_allowable(rule) => (
                format!("`allow({rule})`: the marker rules cannot be allowed"),
                "fix the marker instead".to_string(),
            ),
            Some(_) => continue,
        };
        out.push(cx.diagnostic(&DOC, at.range.clone(), message, help));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{only, up};

    #[test]
    fn unknown_names_get_a_suggestion() {
        let d = only("-- confiture:allow(drop_tabel)\nSELECT 1;\n");
        assert_eq!((d.code, d.line), ("C192", Some(1)));
        assert_eq!(d.help.as_deref(), Some("did you mean `drop-table`?"));
        assert_eq!(up("-- confiture:allow(C115)\nSELECT 1;\n"), [("C192", 1)]);
    }

    /// N19: a name too far for a did-you-mean still gets the rule sharing its words, and a
    /// name sharing none gets where the rules are listed, not a path in the source tree.
    #[test]
    fn every_unknown_name_gets_the_closest_rule_or_the_list() {
        let d = only("-- confiture:allow(create-index-non-concurent)\nSELECT 1;\n");
        assert_eq!(
            d.help.as_deref(),
            Some("did you mean `index-without-concurrently`?")
        );
        let d = only("-- confiture:allow(vacuum)\nSELECT 1;\n");
        assert_eq!(
            d.help,
            Some(format!(
                "the rules are listed at {}",
                crate::diagnostic::LINTS_URL
            ))
        );
        assert!(crate::diagnostic::LINTS_URL.starts_with("https://"));
    }

    /// h18 F9: `allow(C110)` was told to "use the name shown after the code": the code is
    /// known, so the help names the rule and the marker that allows it.
    #[test]
    fn a_rule_s_code_gets_its_name() {
        for code in ["C110", "c110"] {
            let d = only(&format!("-- confiture:allow({code})\nSELECT 1;\n"));
            assert_eq!(
                d.help.as_deref(),
                Some(
                    "allow takes rule names, not codes: C110 is `index-without-concurrently`, \
                     allowed by `-- confiture:allow(index-without-concurrently)`"
                ),
                "{code}"
            );
        }
        let d = only("-- confiture:allow(C999)\nSELECT 1;\n");
        assert_eq!(
            d.help.as_deref(),
            Some("allow takes rule names, not codes: use the name shown after the code")
        );
    }

    #[test]
    fn errors_and_marker_rules_cannot_be_allowed() {
        let sql = "-- confiture:allow(transaction-control, unused-allow)\nCOMMIT;\n";
        assert_eq!(up(sql), [("C192", 1), ("C192", 1), ("C100", 2)]);
    }
}
