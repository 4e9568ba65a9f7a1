//! C101 `requires-no-transaction`: a statement PostgreSQL refuses inside a transaction block,
//! in a migration that confiture runs in one.

use super::{Context, Diagnostic, Direction, RuleDoc, Severity, Statement};
use crate::files::AppliedHere;

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C101",
    name: "requires-no-transaction",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "a statement that cannot run inside a transaction block, in a file without `-- confiture:no-transaction`",
    explanation: "\
PostgreSQL refuses some statements inside a transaction block (SQLSTATE 25001), and confiture
runs every migration in one unless the file says otherwise. The statements, checked against
PostgreSQL 15: `CREATE [UNIQUE] INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`,
`REINDEX ... CONCURRENTLY`, `REINDEX SCHEMA|DATABASE|SYSTEM`, `VACUUM`, `CLUSTER` without a
table, `CREATE|DROP DATABASE`, `ALTER DATABASE ... SET TABLESPACE`, `CREATE|DROP TABLESPACE`,
`ALTER SYSTEM`, `ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY`, `CREATE SUBSCRIPTION`
(unless `connect = false` or `create_slot = false`), `ALTER SUBSCRIPTION ... REFRESH
PUBLICATION`, `ALTER SUBSCRIPTION ... SET|ADD|DROP PUBLICATION` (unless `refresh = false`),
`DROP SUBSCRIPTION` (refused by the server when the subscription has a replication slot, its
usual case: lint cannot see the catalog), `DISCARD ALL` (reported as `releases-migration-lock`
instead: it has no place in a migration either way).
Not among them: `ALTER TYPE ... ADD VALUE` (allowed in a transaction since PostgreSQL 12),
`CLUSTER table`, `REFRESH MATERIALIZED VIEW CONCURRENTLY`.

A `CALL` of a procedure, or a `DO` block, that runs `COMMIT` or `ROLLBACK` is refused in a
transaction block too (SQLSTATE 2D000), but what it does is in its body: lint does not report
it, and accepts the marker on a file that has one (`unneeded-no-transaction` stays silent).

**Fix:** add `-- confiture:no-transaction` to the file's leading comments (before the first
statement). confiture then sends each statement on its own, in autocommit, and records the
migration after the last one succeeds. Keep such a migration to that one statement
(see `no-transaction-multiple-statements`). A migration already applied without the marker
(confiture (Python) runs it so) then has another checksum: `migrate status` shows it `modified`,
and `migrate reinit` records the file as it is now, running nothing.",
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
        help(cx.kind, AppliedHere::Unknown),
    ));
}

/// The help, for an up or a down file (`kind`) whose migration is applied on the database a
/// command read, or not, or unknown (`here`): for an up file, the second step where a database
/// already applied it (confiture (Python) runs such a file without the marker): the marker
/// changes the file's checksum, so `status` then says `modified` (exit 7), and `reinit`
/// records the file as it is now, running nothing. Without a ledger it says when the step
/// applies; with one, whether it does here, keeping the caution for other databases.
pub(crate) fn help(kind: Direction, here: AppliedHere) -> String {
    let mut help = "add `-- confiture:no-transaction` to the file's leading comments (before the first statement), \
         and keep the statement in a migration of its own"
        .to_string();
    if kind == Direction::Up {
        help.push_str(match here {
            AppliedHere::Unknown => {
                "; where this migration is already applied (confiture (Python) runs it without \
                 the marker), the marker changes its up file's checksum: `migrate status` then \
                 shows it `modified`, and `migrate reinit` records the file as it is now \
                 (nothing runs again)"
            }
            AppliedHere::Yes => {
                "; this migration is applied here (confiture (Python) runs it without the \
                 marker), so the marker changes its up file's checksum: `migrate status` then \
                 shows it `modified`, and `migrate reinit` records the file as it is now \
                 (nothing runs again)"
            }
            AppliedHere::No => {
                "; it is not applied here, so the marker is all this database needs; where \
                 another database already applied it (confiture (Python) runs it without the \
                 marker), the marker changes its up file's checksum: `migrate status` there \
                 shows it `modified`, and `migrate reinit` records the file as it is now \
                 (nothing runs again)"
            }
        });
    }
    help
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, only, up};
    use super::Direction;

    #[test]
    fn concurrent_index_without_the_marker_names_the_fix() {
        let d =
            only("-- add an index\nCREATE INDEX CONCURRENTLY idx_user_email ON tb_user (email);\n");
        assert_eq!((d.code, d.line), ("C101", Some(2)));
        assert_eq!(
            d.message,
            "CREATE INDEX CONCURRENTLY cannot run inside a transaction block, and confiture runs this migration in one"
        );
        let help = d.help.unwrap_or_default();
        assert!(help.contains("-- confiture:no-transaction"), "{help}");
        // The way out for a file already applied without the marker: an up file's checksum.
        assert!(
            help.contains("`migrate reinit` records the file as it is now"),
            "{help}"
        );
        let d = crate::files::rules::check_sql(
            std::path::Path::new("m.sql"),
            "VACUUM tb_user;\n",
            Direction::Down,
        );
        assert!(!d[0].help.as_deref().unwrap_or_default().contains("reinit"));
    }

    /// With a ledger read, the help says which case holds on that database, keeping the
    /// caution for the others; a down file's checksum is not recorded: no second step.
    #[test]
    fn the_help_says_whether_the_migration_is_applied_here() {
        use crate::files::AppliedHere;
        let here = super::help(Direction::Up, AppliedHere::Yes);
        assert!(here.contains("; this migration is applied here"), "{here}");
        let not_here = super::help(Direction::Up, AppliedHere::No);
        assert!(not_here.contains("; it is not applied here"), "{not_here}");
        assert!(not_here.contains("where another database already applied it"));
        for help in [&here, &not_here] {
            assert!(
                !help.contains("where this migration is already applied"),
                "{help}"
            );
        }
        for here in [AppliedHere::Unknown, AppliedHere::Yes, AppliedHere::No] {
            assert!(!super::help(Direction::Down, here).contains("reinit"));
        }
    }

    #[test]
    fn the_marker_makes_it_clean_in_up_and_down_files() {
        let up_sql = "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY idx ON t (a);\n";
        assert_eq!(up(up_sql), []);
        let down_sql = "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY idx;\n";
        assert_eq!(down(down_sql), []);
    }

    #[test]
    fn subscription_commands_that_manage_a_replication_slot_need_the_marker() {
        for (sql, command) in [
            (
                "CREATE SUBSCRIPTION s CONNECTION 'host=p' PUBLICATION p;",
                "CREATE SUBSCRIPTION",
            ),
            (
                "ALTER SUBSCRIPTION s REFRESH PUBLICATION;",
                "ALTER SUBSCRIPTION REFRESH PUBLICATION",
            ),
            ("DROP SUBSCRIPTION s;", "DROP SUBSCRIPTION"),
        ] {
            let d = only(sql);
            assert_eq!(d.code, "C101", "{sql}");
            assert!(d.message.starts_with(command), "{sql}: {}", d.message);
        }
    }

    #[test]
    fn a_procedure_or_do_block_is_left_to_the_server() {
        // Whether it COMMITs is in its body, not in the file: no C101 either way.
        assert_eq!(up("CALL backfill();"), []);
        assert_eq!(up("DO $$ BEGIN NULL; END $$;"), []);
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
            "CREATE SUBSCRIPTION s CONNECTION 'host=p' PUBLICATION p WITH (create_slot = false);",
            "ALTER SUBSCRIPTION s SET PUBLICATION p WITH (refresh = false);",
            "ALTER SUBSCRIPTION s ENABLE;",
        ] {
            assert_eq!(up(sql), [], "{sql}");
        }
    }
}
