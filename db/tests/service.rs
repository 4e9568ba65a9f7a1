//! The example is a real service: its binary, copied alone into an empty directory, applies
//! its embedded migrations to a fresh database at startup; `cargo confiture migrate status`
//! (the same CLI code, run in-process on this workspace's `db/migrations`) then reads that
//! database as up to date. A database migrated by a newer build is refused (exit 7) naming the
//! versions this binary lacks.

use std::path::PathBuf;
use std::process::Command;

use confiture_tests::{unique, TestDb};

/// The example's binary, copied into a fresh empty directory (removed on drop).
struct Alone {
    dir: PathBuf,
    binary: PathBuf,
}

impl Alone {
    fn new() -> Alone {
        let dir = std::env::temp_dir().join(unique("confiture-service"));
        std::fs::create_dir_all(&dir).unwrap();
        let binary = dir.join(format!("service{}", std::env::consts::EXE_SUFFIX));
        std::fs::copy(env!("CARGO_BIN_EXE_confiture-example"), &binary).unwrap();
        Alone { dir, binary }
    }

    /// Runs the service on `db`, from its empty directory: exit code, stdout, stderr.
    fn run(&self, db: &TestDb) -> (i32, String, String) {
        let output = Command::new(&self.binary)
            .current_dir(&self.dir)
            .env("DATABASE_URL", db.url())
            .env_remove("CONFITURE_DATABASE_URL")
            .output()
            .unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (
            output.status.code().unwrap_or(-1),
            text(&output.stdout),
            text(&output.stderr),
        )
    }
}

impl Drop for Alone {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `cargo confiture migrate status --database-url URL` in this workspace: its exit code.
fn cli_status(db: &TestDb) -> u8 {
    cargo_confiture::run(
        [
            "cargo-confiture",
            "confiture",
            "migrate",
            "status",
            "--database-url",
        ]
        .map(Into::into)
        .into_iter()
        .chain([db.url().into()]),
    )
}

#[test]
fn the_binary_alone_migrates_a_fresh_database_at_startup() {
    let service = Alone::new();
    let entries: Vec<_> = std::fs::read_dir(&service.dir).unwrap().collect();
    assert_eq!(entries.len(), 1, "nothing but the binary");
    let db = TestDb::new("service");

    let (code, stdout, stderr) = service.run(&db);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stdout, "applied migrations 001, 002, 003, 004, 005, 006\n");
    assert_eq!(cli_status(&db), confiture::exit::SUCCESS);

    let (code, stdout, _) = service.run(&db);
    assert_eq!((code, stdout.as_str()), (0, "database is up to date\n"));
}

#[test]
fn a_database_migrated_by_a_newer_build_is_refused_with_the_versions() {
    let service = Alone::new();
    let db = TestDb::new("service_newer");
    assert_eq!(service.run(&db).0, 0);
    db.connect()
        .batch_execute(
            "INSERT INTO tb_confiture (slug, version, name, checksum) \
             VALUES ('add_tags_007', '007', 'add_tags', repeat('a', 64))",
        )
        .unwrap();
    let (code, stdout, stderr) = service.run(&db);
    assert_eq!(
        code,
        i32::from(confiture::exit::DIVERGED),
        "{stdout}{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "this binary (confiture-example {}) embeds migrations up to 006; the database also \
             has 007 applied, recorded by another build or the CLI",
            env!("CARGO_PKG_VERSION")
        )),
        "{stderr}"
    );
}
