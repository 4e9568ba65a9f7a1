//! C100 `transaction-control`: `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`... at top level.

use super::{Context, Diagnostic, RuleDoc, Severity, Statement};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C100",
    name: "transaction-control",
    severity: Severity::Error,
    summary: "transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT...) at the top level of a migration",
    explanation: "\
confiture owns the transaction: it runs each migration and its ledger row in one transaction, so
that a failure leaves no trace. A `COMMIT` in the file would commit half a migration without its
ledger row; a `BEGIN` would only produce a warning from PostgreSQL and then end confiture's
transaction early at the matching `COMMIT`.

Flagged at the top level of up and down files: `BEGIN`, `START TRANSACTION`, `COMMIT`, `END`,
`ROLLBACK`, `ABORT`, `SAVEPOINT`, `RELEASE`, `PREPARE TRANSACTION`, `COMMIT PREPARED`,
`ROLLBACK PREPARED`. Not flagged: `BEGIN ATOMIC ... END` in a `CREATE FUNCTION` or
`CREATE PROCEDURE`, and PL/pgSQL `BEGIN ... END` blocks inside `$$` bodies.

**Fix:** remove the statement. For statements that cannot run in a transaction block (such as
`CREATE INDEX CONCURRENTLY`), put `-- confiture:no-transaction` in the file's leading comments
instead.",
};

pub(super) fn check(cx: &Context<'_>, stmt: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    let Some(command) = stmt.transaction_control() else {
        return;
    };
    let (message, help) = if cx.markers.no_transaction {
        (
            format!("{command} at top level: confiture sends each statement of a no-transaction migration on its own"),
            format!("remove the {command}; in a no-transaction migration every statement commits on its own"),
        )
    } else {
        (
            format!("{command} at top level: confiture runs each migration in its own transaction"),
            format!(
                "remove the {command}; to run statements outside a transaction, put \
                 `-- confiture:no-transaction` in the file's leading comments"
            ),
        )
    };
    out.push(cx.diagnostic(&DOC, stmt.range.clone(), message, help));
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{only, up};

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
            "ROLLBACK TO SAVEPOINT s;",
            "ABORT;",
            "SAVEPOINT s;",
            "RELEASE SAVEPOINT s;",
            "RELEASE s;",
            "PREPARE TRANSACTION 'x';",
            "COMMIT PREPARED 'x';",
            "ROLLBACK PREPARED 'x';",
        ] {
            assert_eq!(up(sql), [("C100", 1)], "{sql}");
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
