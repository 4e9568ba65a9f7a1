//! C104 `copy-stdin-stdout`: `COPY ... FROM STDIN` and `COPY ... TO STDOUT` move their data
//! through the client, which confiture is not.

use super::lexer::CopyStream;
use super::{Context, Diagnostic, RuleDoc, Severity, Statement};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C104",
    name: "copy-stdin-stdout",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "`COPY ... FROM STDIN` or `COPY ... TO STDOUT`: data through the client (a psql and pg_dump habit)",
    explanation: "\
`COPY ... FROM STDIN` makes the server wait for rows from the client, and `COPY ... TO STDOUT`
makes it send rows to the client. psql plays that part: in a psql script the lines after
`COPY ... FROM STDIN;` up to `\\.` are data that psql streams to the server. confiture sends SQL
only: the server would wait for rows that never come, or send rows that nobody reads, and the
run would fail part-way. Every form is refused: with or without a final `;`, with or without inline data, with
options, `COPY (query) TO STDOUT`, and `STDIN`/`STDOUT` in either direction (the server takes
both words to mean the client). The splitter skips an inline data block so that the rest of the
file is still checked. A `COPY` from or to a file or program on the server is not affected, and
psql's `\\copy` is C103.

**Fix:** for small data, `INSERT INTO ... VALUES (...)`; for large data, `COPY ... FROM
'/path/on/the/server'` or a data load outside the migration; for an export, `COPY ... TO
'/path/on/the/server'` or run it outside the migration.",
};

pub(super) fn check(cx: &Context<'_>, stmt: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    let Some(stream) = stmt.copy_stream() else {
        return;
    };
    // Data lines: anything but whitespace after the statement's own line (psql's block, up to
    // `\.`). `COPY t FROM STDIN;` alone at the end of a file has none.
    let inline_data = stmt.copy_data.as_ref().is_some_and(|data| {
        cx.text
            .get(data.clone())
            .and_then(|block| block.split_once('\n'))
            .is_some_and(|(_, lines)| !lines.trim().is_empty())
    });
    let (message, help) = match stream {
        CopyStream::FromClient if inline_data => (
            "COPY ... FROM STDIN with inline data is a psql feature: the server never receives the data lines",
            "use INSERT ... VALUES for small data, or COPY ... FROM a file on the server / a separate data load",
        ),
        CopyStream::FromClient => (
            "COPY ... FROM STDIN waits for rows from the client: confiture sends SQL only, so the migration would fail here",
            "use INSERT ... VALUES for small data, or COPY ... FROM a file on the server / a separate data load",
        ),
        CopyStream::ToClient => (
            "COPY ... TO STDOUT sends rows to the client: confiture does not read them, so the migration would fail here",
            "write to a file on the server (COPY ... TO '/path') or run the export outside the migration",
        ),
    };
    out.push(cx.diagnostic(
        &DOC,
        stmt.range.clone(),
        message.to_string(),
        help.to_string(),
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

    /// h18 F9: `COPY t FROM STDIN;` with no line after it was said to have "inline data".
    #[test]
    fn copy_from_stdin_without_data_lines_is_not_said_to_have_inline_data() {
        use super::super::test_support::only;
        for sql in [
            "COPY t FROM STDIN;",
            "COPY t FROM STDIN;\n",
            "COPY t FROM STDIN;  \n\n",
        ] {
            let d = only(sql);
            assert!(
                d.message
                    .starts_with("COPY ... FROM STDIN waits for rows from the client"),
                "{sql:?}: {}",
                d.message
            );
        }
        let d = only("COPY t FROM STDIN;\n1\n\\.\n");
        assert!(d.message.contains("with inline data"), "{}", d.message);
    }

    #[test]
    fn copy_from_a_server_file_is_not_flagged() {
        assert_eq!(up("COPY t FROM '/srv/data/t.csv' WITH (FORMAT csv);\n"), []);
    }

    #[test]
    fn every_copy_through_the_client_is_an_error() {
        for (sql, line) in [
            // No `;`: the end of the file ends the statement.
            ("COPY t FROM STDIN", 1),
            ("CREATE TABLE t (a int);\nCOPY t FROM STDIN\n", 2),
            // No data at all after it.
            ("copy t from stdin;\n", 1),
            ("COPY t TO STDOUT;\n", 1),
            ("COPY t (a, b) TO STDOUT WITH (FORMAT csv, HEADER);\n", 1),
            ("COPY (SELECT * FROM t WHERE a = 'x;') TO STDOUT;\n", 1),
            ("COPY (SELECT * FROM stdin) TO STDOUT;\n", 1),
            ("Copy public.t To StdOut Csv;\n", 1),
            (
                "-- dump\n/* c */ COPY t FROM STDIN WITH (FORMAT csv);\n1,2\n\\.\n",
                2,
            ),
            ("COPY BINARY t FROM STDIN;\n", 1),
            ("COPY t FROM STDIN WHERE a > 1;\n", 1),
            // STDIN and STDOUT are both the client, whichever the direction.
            ("COPY t FROM STDOUT;\n", 1),
            ("COPY t TO STDIN;\n", 1),
        ] {
            assert_eq!(up(sql), [("C104", line)], "{sql:?}");
        }
    }

    #[test]
    fn copy_on_the_server_and_look_alikes_are_not_flagged() {
        for sql in [
            "COPY t TO '/tmp/stdout';\n",
            "COPY t FROM 'stdin';\n",
            // A column or a table named stdin.
            "COPY t (stdin) FROM '/srv/t.csv';\n",
            "COPY (SELECT * FROM stdin) TO '/tmp/x';\n",
            "COPY t TO '/tmp/x' WITH (FORMAT csv, DELIMITER ';');\n",
            "SELECT 'COPY t FROM STDIN';\n",
            "-- COPY t TO STDOUT;\nSELECT 1;\n",
        ] {
            assert_eq!(up(sql), [], "{sql:?}");
        }
        // A program on the server is C120's (a warning), not this rule's.
        assert_eq!(up("COPY t FROM PROGRAM 'cat /srv/t.csv';\n"), [("C120", 1)]);
    }
}
