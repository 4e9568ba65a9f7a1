//! C113 `column-type-change`: `ALTER COLUMN ... TYPE` can rewrite the table under an
//! exclusive lock.

use super::syntax::Action;
use super::{Context, Diagnostic, RuleDoc, Severity, StatementCx};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C113",
    name: "column-type-change",
    severity: Severity::Warning,
    help_names_allow: true,
    summary: "`ALTER COLUMN ... TYPE` on an existing table",
    explanation: "\
Changing a column's type takes an ACCESS EXCLUSIVE lock (no reads, no writes) and, unless the
new type is binary-compatible, rewrites the whole table and its indexes while holding it.
Application code reading the column may also break on the new type.

Not flagged for a table created earlier in the same file. Applies to up and down files.

**Fix:** add a column of the new type, backfill it in batches, switch the application over, and
drop the old column later. If the change needs no rewrite (`varchar(n)` to `text` or to a
longer `varchar`), allow it: `-- confiture:allow(column-type-change)`.",
};

pub(super) fn check(cx: &Context<'_>, s: &StatementCx<'_, '_>, out: &mut Vec<Diagnostic>) {
    let Some((table, actions)) = s.altered_existing_table() else {
        return;
    };
    for action in actions {
        let Action::AlterColumnType { column } = &action.item else {
            continue;
        };
        out.push(cx.diagnostic(
            &DOC,
            action.range.clone(),
            format!(
                "ALTER COLUMN {column} TYPE on existing table {} can rewrite the table while blocking reads and writes",
                table.display
            ),
            "add a column of the new type, backfill it and switch over; if the change needs no rewrite \
             (varchar(n) to text), allow it with `-- confiture:allow(column-type-change)`"
                .to_string(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::up;

    #[test]
    fn type_changes_warn_in_both_spellings() {
        assert_eq!(
            up("ALTER TABLE t ALTER COLUMN a TYPE bigint;"),
            [("C113", 1)]
        );
        assert_eq!(
            up("ALTER TABLE t ALTER a SET DATA TYPE text USING a::text;"),
            [("C113", 1)]
        );
    }

    #[test]
    fn other_column_changes_are_fine() {
        for sql in [
            "ALTER TABLE t ALTER COLUMN a SET DEFAULT 0;",
            "ALTER TABLE t ALTER COLUMN a DROP NOT NULL;",
            "ALTER TYPE mood RENAME VALUE 'a' TO 'b';",
            "CREATE TABLE t (a int);\nALTER TABLE t ALTER COLUMN a TYPE bigint;",
        ] {
            assert_eq!(up(sql), [], "{sql}");
        }
    }
}
