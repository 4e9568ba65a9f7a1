//! C100 `transaction-control`: `BEGIN`, `COMMIT`, `ROLLBACK`... at top level, and a savepoint in a
//! no-transaction migration.

use super::{Context, Diagnostic, RuleDoc, Severity, Statement};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C100",
    name: "transaction-control",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "transaction control (BEGIN, COMMIT, ROLLBACK...) at the top level of a migration, or a savepoint outside its transaction",
    explanation: "\
confiture owns the transaction: it runs each migration and its ledger row in one transaction, so
that a failure leaves no trace. A `COMMIT` in the file would commit half a migration without its
ledger row; a `BEGIN` would only produce a warning from PostgreSQL and then end confiture's
transaction early at the matching `COMMIT`.

Flagged at the top level of up and down files: `BEGIN`, `START TRANSACTION`, `COMMIT`, `END`,
`ROLLBACK`, `ABORT`, `PREPARE TRANSACTION`, `COMMIT PREPARED`, `ROLLBACK PREPARED`. Not flagged:
`BEGIN ATOMIC ... END` in a `CREATE FUNCTION` or `CREATE PROCEDURE`, and PL/pgSQL
`BEGIN ... END` blocks inside `$$` bodies.

Savepoints (`SAVEPOINT`, `RELEASE [SAVEPOINT]`, `ROLLBACK TO [SAVEPOINT]`) only nest inside
confiture's transaction: they can neither commit nor end it, so a failure later in the file
still rolls the whole migration back, and they are allowed. In a `-- confiture:no-transaction`
migration they are flagged: each statement is sent on its own, outside a transaction block,
where PostgreSQL refuses a savepoint.

**Fix:** remove the statement. For statements that cannot run in a transaction block (such as
`CREATE INDEX CONCURRENTLY`), put `-- confiture:no-transaction` in the file's leading comments
instead. For a savepoint in a no-transaction migration, move the statements it guards to a
migration without the marker.",
};

pub(super) fn check(cx: &Context<'_>, stmt: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    let Some(command) = stmt.transaction_control() else {
        return;
    };
    let savepoint = stmt.savepoint_command().is_some();
    let (message, help) = match (cx.markers.no_transaction, savepoint) {
        // A savepoint nests inside confiture's transaction: it cannot commit or end it.
        (false, true) => return,
        (true, true) => (
            format!(
                "{command} in a no-transaction migration: PostgreSQL accepts savepoints only \
                 inside a transaction block"
            ),
            format!(
                "remove the {command}: confiture sends each statement of a no-transaction \
                 migration on its own, outside a transaction block, where it fails; savepoints \
                 work in a migration without `-- confiture:no-transaction`, inside its transaction"
            ),
        ),
        (true, false) => (
            format!("{command} at top level: confiture sends each statement of a no-transaction migration on its own"),
            format!("remove the {command}; in a no-transaction migration every statement commits on its own"),
        ),
        (false, false) => (
            format!("{command} at top level: confiture runs each migration in its own transaction"),
            format!(
                "remove the {command}; to run statements outside a transaction, put \
                 `-- confiture:no-transaction` in the file's leading comments"
            ),
        ),
    };
    out.push(cx.diagnostic(&DOC, stmt.range.clone(), message, help));
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::test_support::{only, up};
    use crate::files::rules::check_sql;
    use crate::files::Direction;

    #[test]
    fn flags_every_transaction_command() {
        for sql in [
            "BEGIN;",
            "begin transaction;",
            "START TRANSACTION;",
            "COMMIT;",
            "commit work;",
            "END;",
            "ROLLBACK;",
            "rollback work;",
            "ROLLBACK AND CHAIN;",
            "ABORT;",
            "PREPARE TRANSACTION 'x';",
            "COMMIT PREPARED 'x';",
            "ROLLBACK PREPARED 'x';",
        ] {
            assert_eq!(up(sql), [("C100", 1)], "{sql}");
        }
    }

    const SAVEPOINTS: [&str; 8] = [
        "SAVEPOINT s;",
        "savepoint \"Before\";",
        "RELEASE SAVEPOINT s;",
        "RELEASE s;",
        "ROLLBACK TO SAVEPOINT s;",
        "ROLLBACK TO s;",
        "ROLLBACK WORK TO SAVEPOINT s;",
        "rollback transaction to s;",
    ];

    /// A savepoint nests inside confiture's transaction: it can neither commit nor end it.
    #[test]
    fn savepoints_are_allowed_in_a_transactional_migration() {
        for sql in SAVEPOINTS {
            assert_eq!(up(sql), [], "{sql}");
        }
        let sql = "\
CREATE TABLE t (a int);
SAVEPOINT s;
INSERT INTO t VALUES (1);
ROLLBACK TO SAVEPOINT s;
RELEASE SAVEPOINT s;
INSERT INTO t VALUES (2);
";
        assert_eq!(up(sql), []);
    }

    /// Outside a transaction block the server refuses a savepoint: the help must not send the
    /// author to the no-transaction marker, and says why.
    #[test]
    fn savepoints_are_refused_in_a_no_transaction_migration() {
        for sql in SAVEPOINTS {
            let file = format!(
                "-- confiture:no-transaction\n{sql}\nCREATE INDEX CONCURRENTLY i ON t (a);\n"
            );
            let mut all = check_sql(Path::new("m.sql"), &file, Direction::Up);
            all.retain(|d| d.code == "C100");
            assert_eq!(all.len(), 1, "{sql}: {all:#?}");
            let d = all.remove(0);
            assert_eq!(d.line, Some(2), "{sql}");
            assert!(
                d.message.contains("in a no-transaction migration")
                    && d.message.contains("only inside a transaction block"),
                "{sql}: {}",
                d.message
            );
            let help = d.help.unwrap_or_default();
            assert!(
                help.contains("outside a transaction block")
                    && help.contains("without `-- confiture:no-transaction`"),
                "{sql}: {help}"
            );
        }
    }

    #[test]
    fn message_names_the_command_and_the_fix() {
        let d = only("CREATE TABLE t (a int);\ncommit;\n");
        assert_eq!(d.line, Some(2));
        assert_eq!(
            d.message,
            "COMMIT at top level: confiture runs each migration in its own transaction"
        );
        assert!(d
            .help
            .unwrap_or_default()
            .starts_with("remove the COMMIT; "));
    }

    #[test]
    fn function_bodies_and_lookalikes_are_not_top_level() {
        let sql = "\
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  COMMIT;
  RETURN 1;
END
$$;
CREATE PROCEDURE p() LANGUAGE sql
BEGIN ATOMIC
  INSERT INTO t VALUES (1);
END;
PREPARE q AS SELECT 1;
SELECT 'COMMIT;';
";
        assert_eq!(up(sql), []);
    }
}
