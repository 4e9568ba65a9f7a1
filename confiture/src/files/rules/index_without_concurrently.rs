//! C110 `index-without-concurrently`: `CREATE INDEX` on an existing table blocks its writes.

use super::syntax::Shape;
use super::{Context, Diagnostic, RuleDoc, Severity, StatementCx};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C110",
    name: "index-without-concurrently",
    severity: Severity::Warning,
    help_names_allow: false,
    summary: "`CREATE INDEX` on an existing table without `CONCURRENTLY`",
    explanation: "\
`CREATE INDEX` holds a SHARE lock on the table until the index is built: every `INSERT`,
`UPDATE` and `DELETE` waits, for minutes on a large table. `CREATE INDEX CONCURRENTLY` builds
the index without blocking writes, but cannot run in a transaction block.

Not flagged for a table created earlier in the same file (nobody uses it yet). Applies to up
and down files (a down file that recreates an index locks the table just the same).

**Fix:** put `CREATE INDEX CONCURRENTLY` in a migration of its own whose leading comments say
`-- confiture:no-transaction`. If the table is known to be small, or is partitioned (where
PostgreSQL does not support `CONCURRENTLY` on the parent), allow it:
`-- confiture:allow(index-without-concurrently)`.",
};

pub(super) fn check(cx: &Context<'_>, s: &StatementCx<'_, '_>, out: &mut Vec<Diagnostic>) {
    let Shape::CreateIndex {
        table,
        concurrently: false,
        ..
    } = s.shape
    else {
        return;
    };
    if s.is_new(table) {
        return;
    }
    out.push(cx.diagnostic(
        &DOC,
        s.stmt.range.clone(),
        format!(
            "CREATE INDEX on existing table {} without CONCURRENTLY blocks writes to it while the index builds",
            table.display
        ),
        "use CREATE INDEX CONCURRENTLY, in a migration of its own marked `-- confiture:no-transaction`".to_string(),
    ));
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, only, up};

    #[test]
    fn index_on_an_existing_table_warns() {
        let d = only(
            "CREATE UNIQUE INDEX IF NOT EXISTS idx ON ONLY public.tb_post USING btree (slug);\n",
        );
        assert_eq!((d.code, d.line), ("C110", Some(1)));
        assert!(
            d.message.contains("existing table public.tb_post"),
            "{}",
            d.message
        );
        assert_eq!(down("CREATE INDEX idx ON tb_post (slug);"), [("C110", 1)]);
    }

    #[test]
    fn index_on_a_new_table_is_fine() {
        let sql =
            "CREATE TABLE Comments (id int, body text);\nCREATE INDEX ON public.comments (body);\n\
                   CREATE TABLE \"Quoted\" (a int);\nCREATE INDEX q ON \"Quoted\" (a);\n";
        assert_eq!(up(sql), []);
    }

    #[test]
    fn a_quoted_name_differs_from_its_folded_form() {
        assert_eq!(
            up("CREATE TABLE \"Foo\" (a int);\nCREATE INDEX i ON foo (a);\n"),
            [("C110", 2)]
        );
    }
}
