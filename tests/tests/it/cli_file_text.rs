//! How a migration file's text reaches the terminal: a file that is not text, or that the
//! system makes (`/proc/self/environ`), is never quoted; a failed migration's column is the
//! linter's; a long line is cut around what a diagnostic marks; SQL is shown line by line
//! whatever its line endings.

use confiture::exit;
use confiture_tests::{Project, Run, TestDb};

/// The CLI on `project` with `args`, a secret in its environment.
fn with_secret(project: &Project, args: &[&str]) -> Run {
    Run::of(
        project
            .cli()
            .args(args)
            .env("PGPASSWORD", "hunter2")
            .env("HD2_TOKEN", "s3cr3t-token"),
    )
}

#[track_caller]
fn no_secret(run: &Run) {
    run.stderr_lacks("hunter2")
        .stderr_lacks("s3cr3t-token")
        .stdout_lacks("hunter2")
        .stdout_lacks("s3cr3t-token")
        .stderr_lacks("SECRET_IN");
}

/// hd2: a migration file linked to `/proc/self/environ` made `lint` (and `migrate status`,
/// `up`: the same diagnostics) print the process's environment, PGPASSWORD included, as
/// C015's source line — a hostile pull request's link read in a CI job holding secrets. It is
/// refused unread (C010, by the link and where it points); a file that is not text (a NUL
/// byte, not UTF-8) is shown by its position only; a link to a regular file elsewhere still
/// works.
#[cfg(target_os = "linux")]
#[test]
fn a_file_of_the_system_or_no_text_is_never_quoted() {
    let db = TestDb::new("hd2_environ");
    let project = Project::new();
    project.write("shared/001_a.up.sql", "SELECT 1;\n");
    project.write("db/migrations/001_a.down.sql", "SELECT 1;\n");
    std::os::unix::fs::symlink(
        "../../shared/001_a.up.sql",
        project.path("db/migrations/001_a.up.sql"),
    )
    .expect("link");
    std::os::unix::fs::symlink(
        "/proc/self/environ",
        project.path("db/migrations/002_env.up.sql"),
    )
    .expect("link");
    project.write("db/migrations/002_env.down.sql", "SELECT 1;\n");
    let nul = "SELECT 1; -- SECRET_IN_A_NUL_FILE\0\n";
    project.write("db/migrations/003_nul.up.sql", nul);
    project.write("db/migrations/003_nul.down.sql", "SELECT 1;\n");
    project.write(
        "db/migrations/004_latin.up.sql",
        b"SELECT 1; -- SECRET_IN_LATIN1 \xe9t\xe9\n",
    );
    project.write("db/migrations/004_latin.down.sql", "SELECT 1;\n");
    let lint = with_secret(&project, &["lint"]);
    lint.code(exit::INVALID)
        .stderr_has("error[C010]: cannot read `002_env.up.sql`: it is a symbolic link to `/proc/self/environ`")
        .stderr_has("never read")
        .stderr_has(&format!("003_nul.up.sql:1:{}", nul.find('\0').unwrap_or(0) + 1))
        .stderr_has("004_latin.up.sql:1:")
        .stderr_lacks("001_a.up.sql");
    no_secret(&lint);
    let url = db.url();
    for args in [
        &["migrate", "status"][..],
        &["migrate", "up"],
        &["migrate", "up", "--dry-run"],
        &["migrate", "status", "--format", "json"],
    ] {
        let run = with_secret(&project, &[args, &["--database-url", &url]].concat());
        assert_ne!(run.code, 0, "{}", run.dump());
        no_secret(&run);
    }
}

/// hd2: `drift --schema-dir` read its `.sql` files its own way: a schema file linked to
/// `/proc/self/environ` was read and replayed. It is refused as a migration file is (C010,
/// before any scratch database), its text never shown.
#[cfg(target_os = "linux")]
#[test]
fn a_schema_file_of_the_system_is_never_read() {
    let db = TestDb::new("hd2_schema_environ");
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n");
    project.write("db/schema/a.sql", "CREATE TABLE t1 (id int);\n");
    std::os::unix::fs::symlink("/proc/self/environ", project.path("db/schema/env.sql"))
        .expect("link");
    let url = db.url();
    let args = [
        "migrate",
        "drift",
        "--schema-dir",
        "db/schema",
        "--database-url",
        &url,
    ];
    let run = with_secret(&project, &args);
    run.code(exit::INVALID)
        .stderr_has("error[C010]")
        .stderr_has(
            "cannot read `db/schema/env.sql`: it is a symbolic link to `/proc/self/environ`",
        )
        .stderr_lacks("created the scratch database");
    no_secret(&run);
}

/// hd2: a failed migration in a file with a byte-order mark was reported one column right of
/// the linter's on line 1 (`:1:9` for `nosuchcol` at column 8), in text and JSON: the engine
/// counted the mark, which takes no column. The engine's location is the linter's
/// (`text::line_col`): with the mark, whole or cut by statement markers.
#[test]
fn a_failure_after_a_byte_order_mark_is_at_the_linters_column() {
    let db = TestDb::new("hd2_bom");
    let project = Project::new();
    project.migration(
        "001_a",
        "\u{feff}SELECT nosuchcol FROM pg_class;\n",
        "SELECT 1;\n",
    );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("db/migrations/001_a.up.sql:1:8")
        .stderr_lacks("001_a.up.sql:1:9");
    let json = project.run_on(&db, &["migrate", "up", "--format", "json"]);
    json.code(exit::MIGRATION_FAILED);
    assert!(
        json.stdout.contains("\"column\": 8") || json.stdout.contains("\"column\":8"),
        "{}",
        json.dump()
    );
    project.write(
        "db/migrations/001_a.up.sql",
        "\u{feff}SELECT 1; SELECT nosuchcol FROM pg_class;\n",
    );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("db/migrations/001_a.up.sql:1:18");
}

/// hd2: the caret under a diagnostic on a long line (a one-line `INSERT` of megabytes) stood
/// at the cut, 200 characters in, far from the problem the header's column named. The line
/// is shown around that column, `…` at each cut, the caret under the problem.
#[test]
fn a_long_lines_caret_is_under_the_problem() {
    let project = Project::new();
    let values = "(1, 'a row of data'),".repeat(50_000);
    let up = format!("INSERT INTO t VALUES {values}(2, 'b'); CREATE INDEX i ON t (id);\n");
    project.migration("001_a", &up, "DROP INDEX i;\n");
    let lint = project.run(&["lint"]);
    let column = up.find("CREATE INDEX").unwrap_or(0) + 1;
    lint.stderr_has(&format!("001_a.up.sql:1:{column}"));
    let lines: Vec<&str> = lint.stderr.lines().collect();
    let at = (lines.iter())
        .position(|l| l.starts_with("1 | "))
        .unwrap_or_else(|| panic!("no source line\n{}", lint.dump()));
    let (shown, carets) = (lines[at], lines[at + 1]);
    assert!(shown.chars().count() < 220, "{shown}");
    assert!(shown.contains("…"), "{shown}");
    let under = carets
        .find('^')
        .unwrap_or_else(|| panic!("no caret\n{}", lint.dump()));
    let problem = shown
        .find("CREATE INDEX")
        .unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(
        carets[..under].chars().count(),
        shown[..problem].chars().count(),
        "\n{shown}\n{carets}"
    );
}

/// hd2: `migrate up --dry-run` of a CRLF file showed `\r` at the end of every line but the
/// last: its lines are shown as lines, without their terminator, whatever it is (a lone CR
/// too); other control characters are still escaped.
#[test]
fn a_dry_run_shows_crlf_sql_as_lines() {
    let db = TestDb::new("hd2_crlf");
    let project = Project::new();
    project.migration(
        "001_a",
        "CREATE TABLE a (id int);\r\nCREATE TABLE b (id int);\r\n-- \x1b[2J\r\n",
        "DROP TABLE b;\r\nDROP TABLE a;\r\n",
    );
    project.migration("002_b", "SELECT 1;\rSELECT 2;\r", "SELECT 1;\r");
    let dry = project.run_on(&db, &["migrate", "up", "--dry-run"]);
    dry.code(exit::SUCCESS)
        .stdout_has("CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n-- \\x1b[2J\n")
        .stdout_has("SELECT 1;\nSELECT 2;\n")
        .stdout_lacks("\\r")
        .stdout_lacks("\r");
}
