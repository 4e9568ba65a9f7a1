//! C111 `not-null-without-default`: `ADD COLUMN ... NOT NULL` without a default fails on a
//! table with rows.

use super::syntax::Action;
use super::{Context, Diagnostic, RuleDoc, Severity, StatementCx};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C111",
    name: "not-null-without-default",
    severity: Severity::Warning,
    help_names_allow: false,
    summary: "`ADD COLUMN ... NOT NULL` (or `PRIMARY KEY`) without a default",
    explanation: "\
Adding a `NOT NULL` column without a default fails as soon as the table has a row: the new
column would be null in every existing row. It passes on an empty development database and fails
in production. A default (including `GENERATED ... AS IDENTITY` and the `serial` types) fills
the existing rows.

Not flagged for a table created earlier in the same file. Applies to up and down files.

**Fix:** add a `DEFAULT`; or add the column nullable, backfill it, then
`ALTER COLUMN ... SET NOT NULL` (on a large table, first add a `CHECK (col IS NOT NULL) NOT
VALID` constraint and validate it, so that `SET NOT NULL` does not scan under an exclusive
lock).",
};

pub(super) fn check(cx: &Context<'_>, s: &StatementCx<'_, '_>, out: &mut Vec<Diagnostic>) {
    let Some((table, actions)) = s.altered_existing_table() else {
        return;
    };
    for action in actions {
        let Action::AddColumn {
            column,
            not_null: true,
            has_default: false,
        } = &action.item
        else {
            continue;
        };
        out.push(cx.diagnostic(
            &DOC,
            action.range.clone(),
            format!(
                "ADD COLUMN {column} NOT NULL without a default fails if {} has rows",
                table.display
            ),
            "add a DEFAULT, or add the column nullable, backfill it, then SET NOT NULL".to_string(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{only, up};

    #[test]
    fn not_null_without_default_warns_at_the_action() {
        let d = only(
            "ALTER TABLE tb_user\n  ADD COLUMN bio text,\n  ADD COLUMN email text NOT NULL;\n",
        );
        assert_eq!((d.code, d.line), ("C111", Some(3)));
        assert_eq!(
            d.message,
            "ADD COLUMN email NOT NULL without a default fails if tb_user has rows"
        );
        assert_eq!(up("ALTER TABLE t ADD id int PRIMARY KEY;"), [("C111", 1)]);
    }

    #[test]
    fn defaults_nullable_columns_and_new_tables_are_fine() {
        for sql in [
            "ALTER TABLE t ADD COLUMN a int NOT NULL DEFAULT 0;",
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS a int;",
            "ALTER TABLE t ADD COLUMN a int CHECK (a IS NOT NULL);",
            "ALTER TABLE t ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY NOT NULL;",
            "ALTER TABLE t ADD COLUMN id bigserial NOT NULL;",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a IS NOT NULL) NOT VALID;",
            "ALTER TABLE t ALTER COLUMN a SET NOT NULL;",
            "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN b int NOT NULL;",
        ] {
            assert_eq!(up(sql), [], "{sql}");
        }
    }
}
