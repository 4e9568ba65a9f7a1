//! C104 `copy-from-stdin`: `COPY ... FROM STDIN` with inline data is a psql feature.

use super::{Context, Diagnostic, RuleDoc, Severity, Statement};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C104",
    name: "copy-from-stdin",
    severity: Severity::Error,
    summary: "`COPY ... FROM STDIN` with inline data (a pg_dump habit)",
    explanation: "\
In a psql script, the lines after `COPY ... FROM STDIN;` up to `\\.` are data that psql streams
to the server. Sent as SQL, the data lines are syntax errors (and the statement itself waits for
data that never comes). The splitter skips the data block so that the rest of the file is still
checked.

**Fix:** for small data, `INSERT INTO ... VALUES (...)`; for large data, `COPY ... FROM
'/path/on/the/server'` or a data load outside the migration.",
};

pub(super) fn check(cx: &Context<'_>, stmt: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    if stmt.copy_data.is_none() {
        return;
    }
    out.push(cx.diagnostic(
        &DOC,
        stmt.line,
        "COPY ... FROM STDIN with inline data is a psql feature: the server never receives the data lines".to_string(),
        "use INSERT ... VALUES for small data, or COPY ... FROM a file on the server / a separate data load".to_string(),
    ));
}

#[cfg(test)]
mod tests {
    use super::super::test_support::up;

    #[test]
    fn inline_data_is_an_error_and_is_skipped() {
        // The data holds an unbalanced quote: skipping it keeps it from swallowing the file.
        let sql = "COPY t (a, b) FROM stdin;\n1\tO'Brien\n2\tx\n\\.\nCOMMIT;\n";
        assert_eq!(up(sql), [("C104", 1), ("C100", 5)]);
    }

    #[test]
    fn copy_from_a_server_file_or_to_stdout_is_not_flagged() {
        assert_eq!(up("COPY t FROM '/srv/data/t.csv' WITH (FORMAT csv);\n"), []);
    }
}
