//! The library's quick start (README "As a library", the crate's documentation), run: what a
//! new user copies first must say what failed as the CLI does — the message, its details and
//! help on stderr, the error's exit code — not a 2 KB `Debug` dump of the error and its report
//! with exit 1, nor `Error: NotPresent` for an unset `DATABASE_URL` (h19 N39).

use std::path::PathBuf;
use std::process::Command;

use confiture_tests::{unique, TestDb};

/// A directory holding `db/migrations` with `files` (name, text), removed on drop.
struct Project(PathBuf);

impl Project {
    fn new(files: &[(&str, &str)]) -> Project {
        let dir = std::env::temp_dir().join(unique("confiture-quick-start"));
        let migrations = dir.join("db/migrations");
        std::fs::create_dir_all(&migrations).unwrap();
        for (name, text) in files {
            std::fs::write(migrations.join(name), text).unwrap();
        }
        Project(dir)
    }

    /// Runs the quick start in the directory, with `DATABASE_URL` when given: exit code,
    /// stdout, stderr.
    fn run(&self, url: Option<&str>) -> (i32, String, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_quick_start"));
        command
            .current_dir(&self.0)
            .env_remove("DATABASE_URL")
            .env_remove("CONFITURE_DATABASE_URL");
        if let Some(url) = url {
            command.env("DATABASE_URL", url);
        }
        let output = command.output().unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (
            output.status.code().unwrap_or(-1),
            text(&output.stdout),
            text(&output.stderr),
        )
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_quick_start_says_what_failed_and_exits_with_the_errors_code() {
    let project = Project::new(&[
        ("001_a.up.sql", "CREATE TABLE a (id int);\n"),
        ("001_a.down.sql", "DROP TABLE a;\n"),
        ("002_boom.up.sql", "SELECT 1/0;\n"),
        ("002_boom.down.sql", "SELECT 1;\n"),
    ]);

    let (code, stdout, stderr) = project.run(None);
    assert_eq!(code, i32::from(confiture::exit::USAGE), "{stdout}{stderr}");
    assert!(
        stderr.contains("DATABASE_URL"),
        "names the variable: {stderr}"
    );
    assert!(!stderr.contains("NotPresent"), "{stderr}");

    let db = TestDb::new("quick_start");
    let (code, stdout, stderr) = project.run(Some(&db.url()));
    assert_eq!(
        code,
        i32::from(confiture::exit::MIGRATION_FAILED),
        "{stdout}{stderr}"
    );
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("error: migration 002_boom failed at db/migrations/002_boom.up.sql:1:")
            && first.ends_with(": division by zero"),
        "the message with its cause, first: {stderr}"
    );
    assert!(stderr.contains("\n  help: "), "the help: {stderr}");
    for debug in ["Failed {", "kind: ", "DbError"] {
        assert!(!stderr.contains(debug), "no Debug dump ({debug}): {stderr}");
    }
}
