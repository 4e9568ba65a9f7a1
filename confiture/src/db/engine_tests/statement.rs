//! Which statement of a migration failed, when the server's error has no position (a runtime
//! error): named from what the server did before the error — the statement markers the
//! engine sends between statements — never by running the migration's SQL again. Every way
//! a migration runs: several in one message, `--steps 1`, `--single-transaction`, and
//! `no-transaction` statement by statement.

use super::apply_support;

use apply_support::{Dir, TestDb};
use confiture::db::apply::{ApplySettings, Step};
use confiture::files::{self, CheckOptions};
use confiture::migrate::{no_progress, UpOptions};
use confiture::ErrorKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// 001, 002, 003 pending: one message carries them.
    Batch,
    /// `up --steps 1` for 001, then for 002.
    StepByStep,
    /// `up --single-transaction`.
    Single,
    /// 002 is `no-transaction`.
    NoTransaction,
}

/// Runtime errors with no server position, each a whole statement.
const FAILURES: [(&str, &str); 4] = [
    ("division", "SELECT 1 / 0;"),
    ("unique", "INSERT INTO u\n  VALUES (1);"),
    ("raise", "DO $$\nBEGIN\n  RAISE EXCEPTION 'boom';\nEND\n$$;"),
    (
        "check",
        "ALTER TABLE u ADD CONSTRAINT negative CHECK (id < 0);",
    ),
];

/// The file of 002: three statements, the failing one at `at`, the others a `nextval` (which
/// must move exactly once when it runs) and a harmless one. Returns the text and the failing
/// statement's first line.
fn file_002(failing: &str, at: usize, mode: Mode) -> (String, u32) {
    let harmless = if mode == Mode::NoTransaction {
        "CREATE INDEX CONCURRENTLY u_again\n  ON u (id);"
    } else {
        "CREATE TABLE t2 (\n  id int\n);"
    };
    let mut others = vec!["SELECT nextval('calls');", harmless].into_iter();
    let mut text = String::from("-- 002: three statements\n");
    if mode == Mode::NoTransaction {
        text.push_str("-- confiture:no-transaction\n");
    }
    text.push('\n');
    let mut line = 0;
    for k in 0..3 {
        if k == at {
            line = text.matches('\n').count() as u32 + 1;
            text.push_str(failing);
        } else {
            text.push_str(others.next().unwrap());
        }
        text.push_str(" -- trailing comment\n\n");
    }
    (text, line)
}

fn sequence_calls(db: &TestDb) -> u32 {
    match db
        .value("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM calls")
        .as_deref()
    {
        Some(n) => n.parse().unwrap(),
        None => panic!("sequence calls is gone"),
    }
}

#[test]
fn a_runtime_error_names_the_failing_statement_in_every_mode() {
    for mode in [
        Mode::Batch,
        Mode::StepByStep,
        Mode::Single,
        Mode::NoTransaction,
    ] {
        for (kind, failing) in FAILURES {
            for at in 0..3 {
                let case = format!("{mode:?} {kind} at statement {}", at + 1);
                let db = TestDb::new("stmt");
                db.client().batch_execute("CREATE SEQUENCE calls").unwrap();
                let dir = Dir::new();
                dir.migration(
                    "001",
                    "u",
                    "CREATE TABLE u (id int PRIMARY KEY);\nINSERT INTO u VALUES (1);\n",
                    "DROP TABLE u;\n",
                );
                let (text, first_line) = file_002(failing, at, mode);
                // A `DO` block's error is on the line of its body's statement.
                let (line, column) = match kind {
                    "raise" => (first_line + 2, 3),
                    _ => (first_line, 1),
                };
                dir.migration("002", "multi", &text, "SELECT 1;\n");
                dir.migration(
                    "003",
                    "after",
                    "CREATE TABLE t3 (id int);\n",
                    "DROP TABLE t3;\n",
                );
                let mut migrator = db.migrator(&dir);
                if mode == Mode::StepByStep {
                    let one = UpOptions::default().allow_non_empty(true).steps(Some(1));
                    migrator.up(&one, &mut no_progress).unwrap();
                }
                let options = UpOptions::default()
                    .allow_non_empty(true)
                    .steps((mode == Mode::StepByStep).then_some(1))
                    .single_transaction(mode == Mode::Single);
                let failed = migrator.up(&options, &mut no_progress).unwrap_err();
                assert_eq!(
                    failed.error.kind,
                    ErrorKind::MigrationFailed,
                    "{case}: {}",
                    failed.error
                );
                let reported = &failed.report.errors[0];
                let file = reported.file.as_deref().expect("a file");
                assert!(file.ends_with("002_multi.up.sql"), "{case}: {file:?}");
                assert_eq!(reported.line, Some(line), "{case}: {}", failed.error);
                assert!(
                    failed.error.message.contains(&format!(
                        "002_multi.up.sql:{line}:{column} (statement {} of 3",
                        at + 1
                    )),
                    "{case}: {}",
                    failed.error
                );
                let ran_nextval = u32::from(at > 0);
                assert_eq!(
                    sequence_calls(&db),
                    ran_nextval,
                    "{case}: nextval ran again"
                );
                let ledger = db.ledger();
                let expected: &[&str] = if mode == Mode::Single {
                    &[]
                } else {
                    &["001:u"]
                };
                assert_eq!(ledger, expected, "{case}");
                assert!(!db.table_exists("t3"), "{case}: 003 ran");
            }
        }
    }
}

fn settings() -> ApplySettings {
    ApplySettings::for_tests()
}

fn prepared(client: &mut postgres::Client) -> Vec<String> {
    apply_support::rows(
        client,
        "SELECT name FROM pg_prepared_statements ORDER BY name",
    )
}

/// A session on `db` with the ledger created and a prepared statement of the user's own
/// (`users_own`), which the engine must leave alone.
fn with_ledger_and_users_own(db: &TestDb) -> (postgres::Client, ApplySettings) {
    let mut client = db.client();
    let settings = settings();
    super::create_ledger(&mut client, &settings.table, None).unwrap();
    client
        .batch_execute("PREPARE users_own AS SELECT 2")
        .unwrap();
    (client, settings)
}

/// The markers are exact whatever the migration sets (a notice per statement would be hidden
/// by `client_min_messages = error`), leave nothing in the session after a success or a
/// failure, never touch the user's own prepared statements, and are left out of a file that
/// says `DEALLOCATE` (which would drop one) or has a backslash in a plain `'...'` string (which
/// `standard_conforming_strings = off` would read differently).
#[test]
fn statement_markers_are_exact_and_leave_nothing_behind() {
    let db = TestDb::new("stmt_markers");
    let dir = Dir::new();
    dir.migration(
        "001",
        "quiet",
        "SET client_min_messages = error;\nSET statement_timeout = 0;\nCREATE TABLE a (id int);\n",
        "DROP TABLE a;\n",
    );
    dir.migration(
        "002",
        "dealloc",
        "PREPARE mine AS SELECT 1;\nDEALLOCATE ALL;\nCREATE TABLE b (id int);\n",
        "DROP TABLE b;\n",
    );
    dir.migration(
        "003",
        "fails",
        "SET client_min_messages = error;\nCREATE TABLE c (id int);\nSELECT 1 / 0;\nCREATE TABLE d (id int);\n",
        "DROP TABLE c;\n",
    );
    let checked = files::load(&dir.path, &CheckOptions::default()).unwrap();
    let steps = super::up_steps(&checked.set);
    let (mut client, settings) = with_ledger_and_users_own(&db);
    super::run_steps(&mut client, &settings, &steps[..2]).unwrap();
    // 002's `DEALLOCATE ALL` took the user's own statement too, and no marker is left.
    assert!(
        prepared(&mut client).is_empty(),
        "markers left after success"
    );
    client
        .batch_execute("PREPARE users_own AS SELECT 2")
        .unwrap();
    let (at, failure) = super::run_steps(&mut client, &settings, &steps[2..]).unwrap_err();
    assert_eq!(at, 0);
    assert_eq!(
        failure.location.as_ref().map(|l| l.line),
        Some(3),
        "{}",
        failure.error
    );
    assert!(
        failure.error.message.contains("(statement 3 of 4)"),
        "{}",
        failure.error
    );
    assert_eq!(
        prepared(&mut client),
        ["users_own"],
        "markers left after failure"
    );
    assert!(db.table_exists("a") && db.table_exists("b") && !db.table_exists("c"));
}

/// Without markers (a file with a backslash in a plain string), a failure names the file without a line, and
/// nothing runs twice; the user's own prepared statements stay.
#[test]
fn a_file_without_markers_is_named_without_a_line_and_runs_once() {
    let db = TestDb::new("stmt_nomarkers");
    let (mut client, settings) = with_ledger_and_users_own(&db);
    let dir = Dir::new();
    dir.migration(
        "004",
        "backslash",
        "CREATE TABLE e (t text);\nINSERT INTO e VALUES ('a\\\\b');\nSELECT 1 / 0;\n",
        "DROP TABLE e;\n",
    );
    let checked = files::load(&dir.path, &CheckOptions::default()).unwrap();
    let step = Step::up(&checked.set.migrations[0], true);
    let (_, failure) =
        super::run_steps(&mut client, &settings, std::slice::from_ref(&step)).unwrap_err();
    assert_eq!(failure.location, None, "{}", failure.error);
    assert_eq!(
        failure.server.as_ref().map(|s| s.sqlstate.as_str()),
        Some("22012")
    );
    assert_eq!(prepared(&mut client), ["users_own"]);
}
