//! C112 `constraint-without-not-valid`: adding a foreign key or check constraint validates
//! every row under a lock.

use super::syntax::{Action, ConstraintKind};
use super::{Context, Diagnostic, RuleDoc, Severity, StatementCx};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C112",
    name: "constraint-without-not-valid",
    severity: Severity::Warning,
    help_names_allow: false,
    summary: "`ADD CONSTRAINT ... FOREIGN KEY` or `CHECK` on an existing table without `NOT VALID`",
    explanation: "\
Adding a foreign key or a check constraint checks every existing row while holding a lock:
`CHECK` blocks reads and writes of the table (ACCESS EXCLUSIVE), `FOREIGN KEY` blocks writes to
both tables. `NOT VALID` adds the constraint for new rows only, instantly; `VALIDATE CONSTRAINT`
later checks the old rows under a lock that lets reads and writes through.

Not flagged for a table created earlier in the same file. Applies to up and down files.

**Fix:** `ALTER TABLE t ADD CONSTRAINT c ... NOT VALID;` here, and
`ALTER TABLE t VALIDATE CONSTRAINT c;` in a later migration.",
};

pub(super) fn check(cx: &Context<'_>, s: &StatementCx<'_, '_>, out: &mut Vec<Diagnostic>) {
    let Some((table, actions)) = s.altered_existing_table() else {
        return;
    };
    for action in actions {
        let Action::AddConstraint {
            name,
            kind,
            not_valid: false,
        } = &action.item
        else {
            continue;
        };
        let (what, blocks) = match kind {
            ConstraintKind::ForeignKey => ("FOREIGN KEY", "writes to both tables"),
            ConstraintKind::Check => ("CHECK", "reads and writes"),
            ConstraintKind::Other => continue,
        };
        let name = name.as_deref().map(|n| format!(" {n}")).unwrap_or_default();
        out.push(cx.diagnostic(
            &DOC,
            action.range.clone(),
            format!(
                "ADD {what}{name} on existing table {} without NOT VALID checks every row while blocking {blocks}",
                table.display
            ),
            "add it with NOT VALID, then VALIDATE CONSTRAINT in a later migration".to_string(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{only, up};

    #[test]
    fn foreign_keys_and_checks_warn() {
        let d = only("ALTER TABLE tb_post ADD CONSTRAINT fk_user FOREIGN KEY (fk_user) REFERENCES tb_user (pk_user);");
        assert_eq!(d.code, "C112");
        assert!(
            d.message
                .starts_with("ADD FOREIGN KEY fk_user on existing table tb_post"),
            "{}",
            d.message
        );
        assert_eq!(up("ALTER TABLE t ADD CHECK (a > 0);"), [("C112", 1)]);
    }

    #[test]
    fn not_valid_other_constraints_and_new_tables_are_fine() {
        for sql in [
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;",
            "ALTER TABLE t ADD FOREIGN KEY (a) REFERENCES u (id) NOT VALID;",
            "ALTER TABLE t ADD CONSTRAINT u UNIQUE (a);",
            "ALTER TABLE t VALIDATE CONSTRAINT c;",
            "CREATE TABLE t (a int);\nALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);",
        ] {
            assert_eq!(up(sql), [], "{sql}");
        }
    }
}
