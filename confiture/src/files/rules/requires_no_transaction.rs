//! C101 `requires-no-transaction`: a statement PostgreSQL refuses inside a transaction block,
//! in a migration that confiture runs in one.

use super::{Context, Diagnostic, RuleDoc, Severity, Statement};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C101",
    name: "requires-no-transaction",
    severity: Severity::Error,
    summary: "a statement that cannot run inside a transaction block, in a file without `-- confiture:no-transaction`",
    explanation: "\
PostgreSQL refuses some statements inside a transaction block (SQLSTATE 25001), and confiture
runs every migration in one unless the file says otherwise. The statements, checked against
PostgreSQL 15: `CREATE [UNIQUE] INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`,
`REINDEX ... CONCURRENTLY`, `REINDEX SCHEMA|DATABASE|SYSTEM`, `VACUUM`, `CLUSTER` without a
table, `CREATE|DROP DATABASE`, `ALTER DATABASE ... SET TABLESPACE`, `CREATE|DROP TABLESPACE`,
`ALTER SYSTEM`, `ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY`, `DISCARD ALL` (reported
as `releases-migration-lock` instead: it has no place in a migration either way).
Not among them: `ALTER TYPE ... ADD VALUE` (allowed in a transaction since PostgreSQL 12),
`CLUSTER table`, `REFRESH MATERIALIZED VIEW CONCURRENTLY`.

**Fix:** add `-- confiture:no-transaction` to the file's leading comments (before the first
statement). confiture then sends each statement on its own, in autocommit, and records the
migration after the last one succeeds. Keep such a migration to that one statement
(see `no-transaction-multiple-statements`).",
};

pub(super) fn check(cx: &Context<'_>, stmt: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    if cx.markers.no_transaction {
        return;
    }
    let Some(command) = stmt
        .non_transactional_command()
        .filter(|&c| c != "DISCARD ALL")
    else {
        return;
    };
    out.push(cx.diagnostic(
        &DOC,
        stmt.range.clone(),
        format!("{command} cannot run inside a transaction block, and confiture runs this migration in one"),
        "add `-- confiture:no-transaction` to the file's leading comments (before the first statement), \
         and keep the statement in a migration of its own"
            .to_string(),
    ));
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, only, up};

    #[test]
    fn concurrent_index_without_the_marker_names_the_fix() {
        let d =
            only("-- add an index\nCREATE INDEX CONCURRENTLY idx_user_email ON tb_user (email);\n");
        assert_eq!((d.code, d.line), ("C101", Some(2)));
        assert_eq!(
            d.message,
            "CREATE INDEX CONCURRENTLY cannot run inside a transaction block, and confiture runs this migration in one"
        );
        assert!(d
            .help
            .unwrap_or_default()
            .contains("-- confiture:no-transaction"));
    }

    #[test]
    fn the_marker_makes_it_clean_in_up_and_down_files() {
        let up_sql = "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY idx ON t (a);\n";
        assert_eq!(up(up_sql), []);
        let down_sql = "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY idx;\n";
        assert_eq!(down(down_sql), []);
    }

    #[test]
    fn transactional_lookalikes_are_fine() {
        for sql in [
            "ALTER TYPE mood ADD VALUE 'ok';",
            "REFRESH MATERIALIZED VIEW CONCURRENTLY mv;",
            "CLUSTER t USING t_pkey;",
            "REINDEX TABLE t;",
            "ANALYZE t;",
            "ALTER DATABASE d SET default_tablespace TO x;",
        ] {
            assert_eq!(up(sql), [], "{sql}");
        }
    }
}
