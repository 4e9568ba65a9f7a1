//! Whole-output snapshots of what people read: every `--help` text, `lint`'s rustc-style
//! diagnostics, the status table, the summaries of `up`, `down` and `generate`, a migration
//! that fails (its file and line), a connection that fails, and the fleet table of `status`
//! and `up` over several databases. One file per case in
//! `tests/fixtures/snapshots/<case>.txt`:
//!
//! ```text
//! $ cargo confiture lint
//! exit: 5
//! --- stdout
//! --- stderr
//! error[C001]: `003_x.up.sql` has no down file
//! ...
//! ```
//!
//! Volatile parts are redacted in the actual output before comparing: the project directory
//! (`[ROOT]`), the test database's name (`[DB]`, a fleet's `[TENANT1]`...), the server's
//! `host:port` (`[HOST]`),
//! timestamps (`[TIME]`) and durations (`[N] ms`). An expected file may also use snapbox's
//! wildcards: `[..]` for any text within a line, and a line `...` for any number of lines.
//!
//! `UPDATE_SNAPSHOTS=1 cargo test -p confiture-tests --test it cli_snapshots` rewrites the files
//! whose expectations no longer match (a file that still matches is left as written, wildcards
//! and all); review the diff before committing.

use std::path::PathBuf;

use confiture_tests::{pg_host, pg_port, server, workspace_root, Project, Run, TestDb};

fn snapshot_path(case: &str) -> PathBuf {
    workspace_root().join(format!("tests/fixtures/snapshots/{case}.txt"))
}

/// What a run printed, redacted, in the snapshot format.
fn rendered(args: &[&str], run: &Run, redact: &dyn Fn(&str) -> String) -> String {
    format!(
        "$ cargo confiture {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        run.code,
        redact(&run.stdout),
        redact(&run.stderr)
    )
}

/// Replaces every `YYYY-MM-DD HH:MM:SS` with `[TIME]` and every `<digits> ms` with `[N] ms`.
fn redact_volatile(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let is_digit = |c: Option<&char>| c.is_some_and(char::is_ascii_digit);
    while i < chars.len() {
        let shape = "dddd-dd-dd dd:dd:dd";
        let time = chars.len() - i >= shape.len()
            && shape.chars().zip(&chars[i..]).all(|(s, c)| match s {
                'd' => c.is_ascii_digit(),
                other => other == *c,
            });
        if time {
            out.push_str("[TIME]");
            i += shape.len();
            continue;
        }
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphanumeric()) {
            let mut j = i;
            while is_digit(chars.get(j)) {
                j += 1;
            }
            if chars[j..].starts_with(&[' ', 'm', 's'])
                && !chars.get(j + 3).is_some_and(|c| c.is_alphanumeric())
            {
                out.push_str("[N] ms");
                i = j + 3;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Whether `actual` matches `expected`, whose lines may hold `[..]` (any text within the line)
/// or be `...` (any number of lines).
fn matches(expected: &str, actual: &str) -> bool {
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    fn lines(e: &[&str], a: &[&str]) -> bool {
        match e.split_first() {
            None => a.is_empty(),
            Some((&"...", rest)) => (0..=a.len()).any(|skip| lines(rest, &a[skip..])),
            Some((first, rest)) => a
                .split_first()
                .is_some_and(|(line, a_rest)| line_matches(first, line) && lines(rest, a_rest)),
        }
    }
    lines(&expected, &actual)
}

fn line_matches(pattern: &str, line: &str) -> bool {
    let mut parts = pattern.split("[..]");
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    if parts.is_empty() {
        return rest.is_empty();
    }
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Compares (or with `UPDATE_SNAPSHOTS=1` re-blesses) one case.
#[track_caller]
fn check(case: &str, actual: String) {
    let path = snapshot_path(case);
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if matches(&expected, &actual) {
        return;
    }
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v != "0") {
        std::fs::create_dir_all(path.parent().expect("snapshot dir")).expect("create dir");
        std::fs::write(&path, &actual).expect("write snapshot");
        return;
    }
    panic!(
        "snapshot {} does not match (UPDATE_SNAPSHOTS=1 re-blesses it)\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// Runs `args` in `project` and checks the snapshot `case`.
#[track_caller]
fn snap(case: &str, project: &Project, db: Option<&TestDb>, args: &[&str]) {
    let names: Vec<(&str, &str)> = db.iter().map(|d| (d.name.as_str(), "[DB]")).collect();
    let url = db.map(|d| d.url());
    snap_on(case, project, url.as_deref(), &names, args);
}

/// Runs `args` in `project` (with `--database-url URL` when given) and checks the snapshot
/// `case`, each database name of `names` replaced by its placeholder.
#[track_caller]
fn snap_on(
    case: &str,
    project: &Project,
    url: Option<&str>,
    names: &[(&str, &str)],
    args: &[&str],
) {
    let mut cmd = project.cli();
    cmd.args(args);
    if let Some(url) = url {
        cmd.args(["--database-url", url]);
    }
    let run = Run::of(&mut cmd);
    let root = project.root.display().to_string();
    let host = format!("{}:{}", pg_host(), pg_port());
    let redact = |text: &str| {
        let mut text = text.replace(&root, "[ROOT]");
        for (name, placeholder) in names {
            text = text.replace(name, placeholder);
        }
        redact_volatile(&text.replace(&host, "[HOST]"))
    };
    let mut shown: Vec<&str> = args.to_vec();
    if url.is_some() {
        shown.extend(["--database-url", "[URL]"]);
    }
    check(case, rendered(&shown, &run, &redact));
}

#[test]
fn the_runner_matches_wildcards_and_redacts() {
    assert!(matches("a\n[..] ms\n...\nz\n", "a\n12 ms\nb\nc\nz\n"));
    assert!(matches("a\n...\n", "a\n"));
    assert!(!matches("a\nb\n", "a\nc\n"));
    assert!(!matches("a\n", "a\nb\n"));
    assert!(line_matches("x [..] y [..]", "x 1 y 2"));
    assert!(!line_matches("x [..] y", "x 1 z"));
    assert_eq!(
        redact_volatile("001  2026-01-15 10:30:00 (12 ms) v15 ms 3 msg"),
        "001  [TIME] ([N] ms) v15 ms 3 msg"
    );
}

#[test]
fn help_texts() {
    let project = Project::new();
    for (case, args) in [
        ("help", &["--help"][..]),
        ("help-lint", &["lint", "--help"]),
        ("help-migrate", &["migrate", "--help"]),
        ("help-migrate-generate", &["migrate", "generate", "--help"]),
        ("help-migrate-up", &["migrate", "up", "--help"]),
        ("help-migrate-down", &["migrate", "down", "--help"]),
        ("help-migrate-status", &["migrate", "status", "--help"]),
        ("help-migrate-baseline", &["migrate", "baseline", "--help"]),
        ("help-migrate-reinit", &["migrate", "reinit", "--help"]),
        ("help-migrate-abandon", &["migrate", "abandon", "--help"]),
        ("help-migrate-verify", &["migrate", "verify", "--help"]),
        ("help-migrate-drift", &["migrate", "drift", "--help"]),
    ] {
        snap(case, &project, None, args);
    }
}

/// A directory with an error at a line, a file-level error, a warning and an up/down pair with
/// problems in both halves: rustc's layout, up file before down file, a summary line.
fn lint_project() -> Project {
    let project = Project::new();
    project.migration(
        "001_create_tb_user",
        "CREATE TABLE tb_user (id int);\n",
        "DROP TABLE tb_user;\n",
    );
    project.migration(
        "002_index_tb_user",
        "-- speeds up the lookup\n\tCREATE INDEX idx_user ON tb_user (id);\n",
        "DROP INDEX idx_user;\nCOMMIT;\n",
    );
    project.write(
        "db/migrations/003_load_users.up.sql",
        "BEGIN;\nINSERT INTO tb_user VALUES (1);\n",
    );
    project
}

#[test]
fn lint_output() {
    let project = lint_project();
    snap("lint-errors", &project, None, &["lint"]);
    // Every command shows a directory's problems with the same renderer, before connecting.
    let dead = "postgresql://postgres@127.0.0.1:1/x";
    snap(
        "up-refuses-broken-files",
        &project,
        None,
        &["migrate", "up", "--database-url", dead],
    );
    // `status` reads the database all the same: the table, then the problems (exit 5).
    let db = TestDb::new("snap_status_broken");
    snap(
        "status-shows-broken-files",
        &project,
        Some(&db),
        &["migrate", "status"],
    );
    let warned = Project::new();
    warned.migration(
        "001_create_tb_user",
        "CREATE TABLE tb_user (id int);\n",
        "DROP TABLE tb_user;\n",
    );
    warned.migration(
        "002_index_tb_user",
        "CREATE INDEX idx_user ON tb_user (id);\n",
        "DROP INDEX idx_user;\n",
    );
    snap("lint-warnings", &warned, None, &["lint"]);
    snap(
        "lint-deny-warnings",
        &warned,
        None,
        &["lint", "-D", "warnings"],
    );
    let clean = Project::example();
    snap("lint-clean", &clean, None, &["lint"]);
}

/// The carets stand under what a diagnostic is about, not under its whole line: one action of
/// an `ALTER TABLE`, a marker after a statement, a meta-command at the end of a line, the first
/// line of a statement that goes on; a byte-order mark, tabs and wide characters shift nothing;
/// an invalid byte and a CRLF are pointed at. JSON carries the same spans (`span`).
#[test]
fn lint_spans() {
    let project = Project::new();
    project.migration(
        "001_create_tb_user",
        "CREATE TABLE tb_user (id int, bio text);\n",
        "DROP TABLE tb_user;\n",
    );
    project.migration(
        "002_alter_tb_user",
        "\u{feff}ALTER TABLE tb_user ADD COLUMN café text NOT NULL, DROP COLUMN bio;\n\
         SELECT 1; -- confiture:allow(drop-column)\n\
         \tCREATE INDEX idx_user\n\t\tON tb_user (id);\n\
         SELECT 'x' \\gexec\n",
        "ALTER TABLE tb_user DROP COLUMN café;\r\nALTER TABLE tb_user ADD COLUMN bio text;\r\n",
    );
    project.write(
        "db/migrations/003_seed.up.sql",
        b"INSERT INTO tb_user VALUES (1);\nSELECT '\xff';\n".as_slice(),
    );
    project.write("db/migrations/003_seed.down.sql", "DELETE FROM tb_user;\n");
    snap("lint-spans", &project, None, &["lint"]);
    snap(
        "lint-spans-json",
        &project,
        None,
        &["lint", "--format", "json"],
    );
}

/// The README's sample of `lint` is what `lint` prints, line for line.
#[test]
fn the_readme_shows_the_lint_output() {
    let project = Project::new();
    project.migration(
        "001_create_tb_user",
        "CREATE TABLE tb_user (id int);\n",
        "DROP TABLE tb_user;\n",
    );
    project.migration(
        "002_index_tb_user",
        "-- speeds up the lookup\n\tCREATE INDEX idx_user ON tb_user (id);\n",
        "DROP INDEX idx_user;\n",
    );
    project.write(
        "db/migrations/003_load_users.up.sql",
        "INSERT INTO tb_user VALUES (1);\n",
    );
    snap("lint-readme", &project, None, &["lint"]);
    let run = project.run(&["lint"]);
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    assert!(
        readme.contains(&format!("```text\n{}```", run.stderr)),
        "README.md should show `lint`'s output as printed:\n{}",
        run.stderr
    );
}

#[test]
fn status_and_up_on_the_example() {
    let db = TestDb::new("snap_status");
    let project = Project::example();
    snap(
        "status-not-initialised",
        &project,
        Some(&db),
        &["migrate", "status"],
    );
    snap(
        "up-steps-3",
        &project,
        Some(&db),
        &["migrate", "up", "--steps", "3"],
    );
    snap(
        "status-pending",
        &project,
        Some(&db),
        &["migrate", "status"],
    );
    snap(
        "down-dry-run",
        &project,
        Some(&db),
        &["migrate", "down", "--dry-run"],
    );
}

/// `verify` finding a wrong down in the example (its 005 forgets to drop the column), and
/// `drift` finding a column added by hand. Scratch database names are `[..]` in the files.
#[test]
fn verify_and_drift_output() {
    let db = TestDb::new("snap_verify");
    let project = Project::example();
    project.write(
        "db/migrations/005_add_avatar_url.down.sql",
        "SELECT 1; -- forgets to drop the column\n",
    );
    snap(
        "verify-wrong-down",
        &project,
        Some(&db),
        &["migrate", "verify"],
    );
    let project = Project::example();
    project
        .cli()
        .args(["migrate", "up", "-q", "--database-url", &db.url()])
        .status()
        .unwrap();
    db.connect()
        .batch_execute("ALTER TABLE tb_user ADD COLUMN nickname text")
        .unwrap();
    snap("drift-found", &project, Some(&db), &["migrate", "drift"]);
}

#[test]
fn generate_output() {
    let project = Project::new();
    project.migration("001_a", "SELECT 1;\n", "SELECT 1;\n");
    snap(
        "generate",
        &project,
        None,
        &["migrate", "generate", "add_bio_to_users"],
    );
    let up = project.read("db/migrations/002_add_bio_to_users.up.sql");
    let down = project.read("db/migrations/002_add_bio_to_users.down.sql");
    check(
        "generate-files",
        format!("--- 002_add_bio_to_users.up.sql\n{up}--- 002_add_bio_to_users.down.sql\n{down}"),
    );
}

/// `down` rolling back for real, then a migration that fails: the error names its file and
/// line and what was applied before it; and a server that refuses the connection.
#[test]
fn down_and_failures() {
    let db = TestDb::new("snap_down");
    let project = Project::example();
    project
        .cli()
        .args(["migrate", "up", "-q", "--database-url", &db.url()])
        .status()
        .unwrap();
    snap(
        "down-steps-2",
        &project,
        Some(&db),
        &["migrate", "down", "--steps", "2"],
    );
    let failing = Project::new();
    failing.migration(
        "001_create_tb_user",
        "CREATE TABLE tb_user (id int);\n",
        "DROP TABLE tb_user;\n",
    );
    failing.migration(
        "002_fill_tb_user",
        "-- one row\nINSERT INTO tb_user VALUES ('not a number');\n",
        "DELETE FROM tb_user;\n",
    );
    let db = TestDb::new("snap_fail");
    snap(
        "up-fails-at-file-line",
        &failing,
        Some(&db),
        &["migrate", "up"],
    );
    let dead = "postgresql://postgres@127.0.0.1:1/x?connect_timeout=5";
    snap(
        "status-connection-refused",
        &failing,
        None,
        &["migrate", "status", "--database-url", dead],
    );
}

/// The fleet tables: `status` and `up` over two tenant databases listed in a file.
#[test]
fn fleet_tables() {
    let tenants = [TestDb::new("snap_fleet"), TestDb::new("snap_fleet")];
    let project = Project::example();
    project.write(
        "tenants.txt",
        format!("# tenants\n{}\n{}\n", tenants[0].name, tenants[1].name),
    );
    let names = [
        (tenants[0].name.as_str(), "[TENANT1]"),
        (tenants[1].name.as_str(), "[TENANT2]"),
    ];
    let url = server().url("postgres");
    let fleet = ["--targets", "tenants.txt", "--jobs", "1"];
    let status: Vec<&str> = ["migrate", "status"]
        .iter()
        .chain(&fleet)
        .copied()
        .collect();
    let up: Vec<&str> = ["migrate", "up"].iter().chain(&fleet).copied().collect();
    snap_on(
        "fleet-status-pending",
        &project,
        Some(&url),
        &names,
        &status,
    );
    snap_on("fleet-up", &project, Some(&url), &names, &up);
    snap_on(
        "fleet-status-up-to-date",
        &project,
        Some(&url),
        &names,
        &status,
    );
}
