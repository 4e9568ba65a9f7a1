//! Embedded migrations: `confiture_build::Check::new().embed()` in the build script of a real
//! throwaway crate built by a real `cargo build`, and `Migrator::from_embedded` against the real
//! PostgreSQL, compared with the same files read from a directory.
//!
//! The throwaway crate and its target directory (`target/embed-e2e`) are reused between runs:
//! `confiture` without its database driver compiles once; later builds only rerun the build
//! script and recompile the crate.

use std::fs;
use std::process::Command;

use confiture::config::Environment;
use confiture::embedded::{EmbeddedFile, EmbeddedMigration, EmbeddedMigrations};
use confiture::files::{self, SqlFile};
use confiture::migrate::{no_progress, DownOptions, UpOptions};
use confiture::{ErrorKind, Migrator};
use confiture_tests::throwaway::ThrowawayCrate;
use confiture_tests::{Project, TestDb};

// ---------------------------------------------------------------------------------------------
// A real crate, a real `cargo build`.

/// The throwaway crate that embeds the migrations and prints what it embedded.
struct Crate(ThrowawayCrate);

impl std::ops::Deref for Crate {
    type Target = ThrowawayCrate;

    fn deref(&self) -> &ThrowawayCrate {
        &self.0
    }
}

const MAIN: &str = r#"static MIGRATIONS: &migrations_lib::embedded::EmbeddedMigrations = migrations_lib::include_migrations!();

fn main() {
    let m = MIGRATIONS;
    println!("set {} {} {} {:?}", m.package, m.package_version, m.dir, m.first_version);
    for m in m.migrations {
        println!("{} {:?} {} {} {}", m.id(), m.mode, m.irreversible, m.up.checksum, m.down.checksum);
    }
    match m.load() {
        Ok(checked) => {
            println!("load {}", checked.set.migrations.len());
            for p in &checked.set.python {
                println!("python {}", p.path.display());
            }
            for d in &checked.diagnostics {
                println!("{} {}:{:?} {}", d.code, d.path.display(), d.line, d.message);
            }
        }
        Err(err) => println!("load error {err}"),
    }
}
"#;

impl Crate {
    fn new() -> Crate {
        let workspace = confiture_tests::workspace_root();
        let krate = ThrowawayCrate::new(
            "embed-e2e",
            &format!(
                "[package]\nname = \"confiture-embed-e2e\"\nversion = \"1.2.3\"\nedition = \"2021\"\npublish = false\n\n\
                 [dependencies]\n# Renamed: the generated code must not assume the name `confiture`.\n\
                 migrations_lib = {{ package = \"confiture\", path = {:?}, default-features = false }}\n\n\
                 [build-dependencies]\nconfiture-build = {{ path = {:?} }}\n\n[workspace]\n",
                workspace.join("confiture").display().to_string(),
                workspace.join("confiture-build").display().to_string(),
            ),
        );
        krate.write_if_changed(
            "build.rs",
            b"fn main() -> Result<(), confiture_build::Error> {\n    confiture_build::Check::new().embed().run()?;\n    Ok(())\n}\n",
        );
        krate.write_if_changed("src/main.rs", MAIN.as_bytes());
        Crate(krate)
    }

    fn write(&self, name: &str, text: &str) {
        fs::write(self.migrations().join(name), text).unwrap();
    }

    /// `cargo build`, then the binary's output. Panics, with cargo's output, when the build
    /// fails.
    fn build_and_run(&self, what: &str) -> String {
        let (ok, output) = self.build();
        assert!(ok, "{what}: the build should succeed\n{output}");
        let binary = self.target.join("debug").join(format!(
            "confiture-embed-e2e{}",
            std::env::consts::EXE_SUFFIX
        ));
        let run = Command::new(&binary).output().unwrap();
        assert!(run.status.success(), "{what}: {run:?}");
        String::from_utf8(run.stdout).unwrap()
    }

    /// What the binary must print for the directory as it is now: computed here from the
    /// files' bytes (the checksum is the ledger's: SHA-256 of the raw bytes).
    fn expected(&self) -> String {
        let checked = files::load(&self.migrations(), &Default::default()).unwrap();
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        let raw = |f: &SqlFile| files::checksum(&fs::read(&f.path).unwrap());
        let mut out = "set confiture-embed-e2e 1.2.3 db/migrations None\n".to_string();
        for m in &checked.set.migrations {
            out += &format!(
                "{} {:?} {} {} {}\n",
                m.id(),
                m.up.mode,
                m.down.irreversible,
                raw(&m.up),
                raw(&m.down)
            );
        }
        // The same rules at run time: the same diagnostics (warnings; errors fail the build).
        out += &format!("load {}\n", checked.set.migrations.len());
        for p in &checked.set.python {
            let path = p.path.strip_prefix(&self.dir).unwrap();
            out += &format!("python {}\n", path.display());
        }
        for d in &checked.diagnostics {
            let path = d.path.strip_prefix(&self.dir).unwrap();
            out += &format!("{} {}:{:?} {}\n", d.code, path.display(), d.line, d.message);
        }
        out
    }
}

/// Adding, editing, renaming and deleting a migration each rebuild the embedded set with a
/// plain `cargo build`: no `cargo clean`, no touching `build.rs`. A broken directory fails the
/// build, so it is never embedded.
#[test]
fn every_change_to_the_directory_reaches_the_next_plain_build() {
    let krate = Crate::new();
    let _ = fs::remove_dir_all(krate.migrations());
    fs::create_dir_all(krate.migrations()).unwrap();
    krate.write(
        "001_create_tb_user.up.sql",
        "CREATE TABLE tb_user (pk INTEGER);\n",
    );
    krate.write("001_create_tb_user.down.sql", "DROP TABLE tb_user;\n");
    // A BOM and CRLF line ends are part of the checksum: embedded exactly.
    krate.write(
        "002_add_bio.up.sql",
        "\u{feff}ALTER TABLE tb_user ADD COLUMN bio TEXT;\r\n",
    );
    krate.write(
        "002_add_bio.down.sql",
        "-- confiture:irreversible the bios are gone\nSELECT 1;\n",
    );
    let first = krate.build_and_run("two migrations");
    assert_eq!(first, krate.expected());
    assert!(first.contains("002_add_bio Transaction true"), "{first}");

    krate.write(
        "003_index_user.up.sql",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY idx_user ON tb_user (pk);\n",
    );
    krate.write(
        "003_index_user.down.sql",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY idx_user;\n",
    );
    let added = krate.build_and_run("a migration added");
    assert_eq!(added, krate.expected());
    assert!(
        added.contains("003_index_user NoTransaction false"),
        "{added}"
    );

    krate.write(
        "001_create_tb_user.up.sql",
        "CREATE TABLE tb_user (pk BIGINT);\n",
    );
    let edited = krate.build_and_run("a migration edited");
    assert_eq!(edited, krate.expected());
    assert_ne!(edited, added, "the edit changed the checksum");

    let dir = krate.migrations();
    for half in ["up", "down"] {
        fs::rename(
            dir.join(format!("003_index_user.{half}.sql")),
            dir.join(format!("003_index_tb_user.{half}.sql")),
        )
        .unwrap();
    }
    let renamed = krate.build_and_run("a migration renamed");
    assert_eq!(renamed, krate.expected());
    assert!(renamed.contains("003_index_tb_user "), "{renamed}");

    for half in ["up", "down"] {
        fs::remove_file(dir.join(format!("003_index_tb_user.{half}.sql"))).unwrap();
    }
    let deleted = krate.build_and_run("a migration deleted");
    assert_eq!(deleted, krate.expected());
    assert!(!deleted.contains("003_"), "{deleted}");

    // Broken: the build fails naming the file; nothing broken is ever embedded.
    krate.write("003_c.up.sql", "SELECT 1;\n");
    let (ok, output) = krate.build();
    assert!(!ok, "a broken directory must fail the build\n{output}");
    assert!(
        output.contains("db/migrations/003_c.up.sql: C001: "),
        "{output}"
    );
    fs::remove_file(dir.join("003_c.up.sql")).unwrap();
    assert_eq!(krate.build_and_run("fixed again"), deleted);

    // hxf: a confiture (Python) migration, `<VERSION>_<NAME>.py`, takes its version in the
    // directory, so the build-time check passed; but the embedded set held the `.sql` pairs
    // alone, and the binary's own check of it (`EmbeddedMigrations::load`) found the version
    // missing (C004, an error: the binary refused to run anything) where `lint` and the build
    // found none. The `.py` migration is in the embedded set, as in the directory's.
    krate.write("003_c.py", "# a confiture (Python) migration\n");
    krate.write("004_d.up.sql", "ALTER TABLE tb_user ADD COLUMN d TEXT;\n");
    krate.write("004_d.down.sql", "ALTER TABLE tb_user DROP COLUMN d;\n");
    let python = krate.build_and_run("a .py migration between two pairs");
    assert_eq!(python, krate.expected());
    assert!(
        python.contains("python db/migrations/003_c.py\n"),
        "{python}"
    );
    assert!(!python.contains("C004"), "{python}");
    for name in ["003_c.py", "004_d.up.sql", "004_d.down.sql"] {
        fs::remove_file(dir.join(name)).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The engine from an embedded set, against the real PostgreSQL.

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_string().into_boxed_str())
}

/// The set a binary built from `project` would embed — what `confiture-build` generates, built
/// here at run time from its own check of the directory — keeping the versions `keep` accepts.
/// Files with errors are embedded too when asked: what a binary built by an older
/// `confiture-build`, without a rule this `confiture` has, would hold.
fn embed(project: &Project, keep: impl Fn(u64) -> bool) -> &'static EmbeddedMigrations {
    let report = confiture_build::Check::new()
        .manifest_dir(&project.root)
        .inspect()
        .unwrap();
    let file = |f: &SqlFile| EmbeddedFile {
        file_name: leak(f.path.file_name().unwrap().to_str().unwrap()),
        sql: leak(&f.text),
        checksum: leak(&f.checksum),
    };
    let migrations: Vec<EmbeddedMigration> = report
        .checked
        .set
        .migrations
        .iter()
        .filter(|m| keep(m.version))
        .map(|m| EmbeddedMigration {
            version: m.version,
            version_text: leak(&m.version_text),
            name: leak(&m.name),
            mode: m.up.mode,
            irreversible: m.down.irreversible,
            up: file(&m.up),
            down: file(&m.down),
        })
        .collect();
    let dir = report.migrations_dir.strip_prefix(&report.root).unwrap();
    Box::leak(Box::new(EmbeddedMigrations {
        package: "service",
        package_version: "1.0.0",
        dir: leak(dir.to_str().unwrap()),
        first_version: None,
        migrations: Box::leak(migrations.into_boxed_slice()),
        python: Box::leak(
            (report.checked.set.python.iter())
                .map(|p| leak(p.path.file_name().unwrap().to_str().unwrap()))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        ),
    }))
}

fn env(db: &TestDb) -> Environment {
    Environment::from_url(&db.url(), "test").unwrap()
}

fn directory_migrator(db: &TestDb, project: &Project) -> Migrator {
    Migrator::new(env(db), project.path("db/migrations"), Default::default())
}

/// `version name checksum` of every ledger row, in version order.
fn rows(db: &TestDb) -> Vec<String> {
    db.connect()
        .query(
            "SELECT version || ' ' || name || ' ' || checksum FROM tb_confiture ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn all() -> impl Fn(u64) -> bool {
    |_| true
}

#[test]
fn embedded_and_directory_runs_write_the_same_ledger_and_each_reads_the_other() {
    let project = Project::example();
    let embedded = embed(&project, all());
    let (by_binary, by_files) = (TestDb::new("embed_bin"), TestDb::new("embed_dir"));

    let mut binary = Migrator::from_embedded(env(&by_binary), embedded);
    let plan = binary
        .up(&UpOptions::default().dry_run(true), &mut no_progress)
        .unwrap();
    let dir_plan = directory_migrator(&by_files, &project)
        .up(&UpOptions::default().dry_run(true), &mut no_progress)
        .unwrap();
    assert_eq!(
        plan.migrations.len(),
        dir_plan.migrations.len(),
        "same plan"
    );
    for (a, b) in plan.migrations.iter().zip(&dir_plan.migrations) {
        assert_eq!((&a.version, &a.name), (&b.version, &b.name));
    }

    let applied = binary.up(&UpOptions::default(), &mut no_progress).unwrap();
    assert_eq!(applied.applied, ["001", "002", "003", "004", "005", "006"]);
    project
        .run_on(&by_files, &["migrate", "up"])
        .code(confiture::exit::SUCCESS);
    assert_eq!(rows(&by_binary), rows(&by_files), "same ledger rows");
    for row in rows(&by_binary) {
        let version = row.split(' ').next().unwrap();
        let m = embedded
            .migrations
            .iter()
            .find(|m| m.version_text == version)
            .unwrap();
        let on_disk = fs::read(project.path(&format!("db/migrations/{}", m.up.file_name))).unwrap();
        assert!(
            row.ends_with(&files::checksum(&on_disk)),
            "the ledger's checksum is the raw file's: {row}"
        );
    }

    // Each reads what the other wrote as applied.
    project
        .run_on(&by_binary, &["migrate", "status"])
        .code(confiture::exit::SUCCESS);
    let status = Migrator::from_embedded(env(&by_files), embedded)
        .status()
        .unwrap();
    assert_eq!(status.exit_code(), confiture::exit::SUCCESS, "{status:?}");
    assert_eq!(status.applied.len(), 6);
}

/// The path of the project's directory as an error shows it, to compare an embedded run's
/// error (`db/migrations/...`) with the directory's.
fn relative(project: &Project, text: &str) -> String {
    text.replace(&format!("{}/", project.root.display()), "")
}

/// An error's data as a caller sees it (kind, text, details, help, diagnostics, reason), without
/// the driver error behind it: the server's error position counts characters of the whole
/// message, which holds a per-run nonce (the statement markers' names) of varying length.
fn data(error: &confiture::Error) -> String {
    format!(
        "{:?} | {} | {:?} | {:?} | {:?} | {:?}",
        error.kind,
        error,
        error.details,
        error.help,
        error.diagnostics,
        error.reason()
    )
}

#[test]
fn a_failing_statement_is_named_by_its_embedded_path_and_line_as_from_the_directory() {
    let project = Project::new();
    project.migration(
        "001_create_t",
        "CREATE TABLE t (id INTEGER);\n",
        "DROP TABLE t;\n",
    );
    project.migration(
        "002_broken",
        "-- line 1\nINSERT INTO t VALUES (1);\n\nINSERT INTO no_such_table VALUES (1);\n",
        "DELETE FROM t;\n",
    );
    let embedded = embed(&project, all());
    let (a, b) = (TestDb::new("embed_fail_bin"), TestDb::new("embed_fail_dir"));
    let from_binary = Migrator::from_embedded(env(&a), embedded)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    let from_files = directory_migrator(&b, &project)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    assert_eq!(from_binary.error.kind, ErrorKind::MigrationFailed);
    let shown = data(&from_binary.error);
    assert!(
        shown.contains("db/migrations/002_broken.up.sql:4"),
        "the error names the embedded file and line: {shown}"
    );
    // The same error, but for the database each ran on (its name is in the error's data).
    assert_eq!(
        shown.replace(&b.name, &a.name),
        relative(&project, &data(&from_files.error)).replace(&b.name, &a.name)
    );
    assert_eq!(rows(&a), rows(&b));
    assert_eq!(rows(&a).len(), 1, "001 stays applied");
}

#[test]
fn file_errors_refuse_an_embedded_set_as_they_refuse_the_directory() {
    let project = Project::new();
    project.migration(
        "001_create_t",
        "CREATE TABLE t (id INTEGER);\n",
        "DROP TABLE t;\n",
    );
    // An empty up file: an error that leaves the pair in the set, as a binary built before a
    // rule existed could embed it.
    project.migration("002_empty", "-- nothing yet\n", "SELECT 1;\n");
    let embedded = embed(&project, all());
    let db = TestDb::new("embed_lint");
    let refused = Migrator::from_embedded(env(&db), embedded)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    let by_files = directory_migrator(&db, &project)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    assert_eq!(refused.error.kind, ErrorKind::Invalid);
    assert_eq!(refused.error.exit_code(), confiture::exit::INVALID);
    assert!(!refused.error.diagnostics.is_empty());
    let shown = |d: &confiture::Diagnostic| {
        format!(
            "{}:{:?}: {}: {}",
            d.path.display(),
            d.line,
            d.code,
            d.message
        )
    };
    let embedded_diagnostics: Vec<String> = refused.error.diagnostics.iter().map(shown).collect();
    let directory_diagnostics: Vec<String> = by_files
        .error
        .diagnostics
        .iter()
        .map(|d| relative(&project, &shown(d)))
        .collect();
    assert_eq!(embedded_diagnostics, directory_diagnostics);
    assert!(
        embedded_diagnostics[0].starts_with("db/migrations/002_empty.up.sql"),
        "{embedded_diagnostics:?}"
    );
    assert_eq!(db.ledger(), None, "nothing ran, nothing was created");
}

#[test]
fn down_runs_from_the_embedded_set_with_no_files_on_disk() {
    let project = Project::example();
    let embedded = embed(&project, all());
    drop(project);
    let db = TestDb::new("embed_down");
    let mut binary = Migrator::from_embedded(env(&db), embedded);
    binary.up(&UpOptions::default(), &mut no_progress).unwrap();
    assert!(db.has_relation("tb_comment"));
    let down = binary
        .down(
            &DownOptions::default().target(Some(0)).yes(true),
            &mut no_progress,
        )
        .unwrap();
    assert_eq!(
        down.rolled_back,
        ["006", "005", "004", "003", "002", "001"],
        "{down:?}"
    );
    assert_eq!(db.ledger(), Some(vec![]));
    assert!(!db.has_relation("tb_user"));
}

#[test]
fn a_binary_older_than_the_database_is_refused_naming_the_versions_it_lacks() {
    let project = Project::example();
    let db = TestDb::new("embed_older");
    project
        .run_on(&db, &["migrate", "up"])
        .code(confiture::exit::SUCCESS);
    let older = embed(&project, |v| v <= 4);
    let mut binary = Migrator::from_embedded(env(&db), older);

    let refused = binary
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    assert_eq!(refused.error.exit_code(), confiture::exit::DIVERGED);
    assert_eq!(
        refused.error.details[0],
        "this binary (service 1.0.0) embeds migrations up to 004; the database also has 005, \
         006 applied, recorded by another build or the CLI"
    );
    // The set is embedded: no file is gone, it is not in this binary.
    let missing: Vec<&String> = (refused.error.details.iter())
        .filter(|d| d.starts_with("missing: "))
        .collect();
    assert_eq!(missing.len(), 2, "{:?}", refused.error.details);
    for line in missing {
        assert!(line.ends_with("but not embedded in this binary"), "{line}");
    }
    let help = refused.error.help.clone().unwrap_or_default();
    assert!(
        help.starts_with("this build of service (1.0.0) is older than the database"),
        "{help}"
    );
    // No command that would forget or roll back the newer build's migrations is suggested.
    for unsafe_advice in [
        "reinit",
        "first_version",
        "restore the missing",
        "cargo confiture",
    ] {
        assert!(!help.contains(unsafe_advice), "{unsafe_advice}: {help}");
    }

    let rollback = binary
        .down(&DownOptions::default(), &mut no_progress)
        .unwrap_err();
    assert_eq!(rollback.error.exit_code(), confiture::exit::DIVERGED);
    assert!(
        rollback.error.details[0].contains("the database also has 005, 006 applied"),
        "{:?}",
        rollback.error
    );

    let status = binary.status().unwrap();
    assert_eq!(status.exit_code(), confiture::exit::DIVERGED);
    assert_eq!(status.missing, ["005", "006"]);
    assert_eq!(rows(&db).len(), 6, "nothing changed");
}

/// A binary whose embedded migration differs from the text the database ran (the CLI applied
/// the file after an edit the binary was not built with): its refusal said "does not match the
/// migration files", "the file now has" and "restore the modified files from version control"
/// — a binary has no file, and what it embeds is the text of the files it was built from. It
/// names the binary and what it embeds, on `up` and `down`, and carries it as data
/// (`Diverged::embedded_in`); the same history read from a directory keeps its files' wording.
#[test]
fn a_binary_embedding_another_text_than_the_database_ran_says_so_not_files() {
    let project = Project::example();
    let db = TestDb::new("embed_modified");
    let binary_set = embed(&project, all());
    let up_file = project.path("db/migrations/003_create_tb_comment.up.sql");
    let mut text = fs::read_to_string(&up_file).unwrap();
    text.push_str("-- edited after the binary was built\n");
    fs::write(&up_file, text).unwrap();
    project
        .run_on(&db, &["migrate", "up"])
        .code(confiture::exit::SUCCESS);
    let mut binary = Migrator::from_embedded(env(&db), binary_set);

    let refused = binary
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(refused.exit_code(), confiture::exit::DIVERGED);
    assert_eq!(
        refused.to_string(),
        "the database's migration history does not match the migrations this binary (service \
         1.0.0) embeds: 1 applied migration modified"
    );
    assert!(std::error::Error::source(&refused).is_none(), "{refused:?}");
    let confiture::Reason::Diverged(diverged) = refused.reason() else {
        panic!("{refused:?}");
    };
    assert_eq!(diverged.embedded_in.as_deref(), Some("service 1.0.0"));
    let [line] = &refused.details[..] else {
        panic!("{:?}", refused.details);
    };
    assert!(
        line.starts_with("modified: 003_create_tb_comment (db/migrations/003_create_tb_comment.up.sql) was applied with checksum "),
        "{line}"
    );
    assert!(line.contains(", this binary embeds "), "{line}");
    assert!(!line.contains("the file now has"), "{line}");
    let help = refused.help.clone().unwrap_or_default();
    assert!(
        help.starts_with(
            "this binary (service 1.0.0) embeds another text of 003 than the database ran"
        ),
        "{help}"
    );
    assert!(!help.contains("restore the modified files"), "{help}");

    // `down` through 003: the same.
    let rollback = binary
        .down(
            &DownOptions::default().target(Some(2)).yes(true),
            &mut no_progress,
        )
        .unwrap_err()
        .error;
    assert_eq!(rollback.exit_code(), confiture::exit::DIVERGED);
    assert!(
        rollback
            .details
            .iter()
            .any(|d| d.contains(", this binary embeds ")
                && d.ends_with("its down file may not undo what was run")),
        "{:?}",
        rollback.details
    );
    let help = rollback.help.clone().unwrap_or_default();
    assert!(
        help.contains("this binary (service 1.0.0) embeds other files than those applied"),
        "{help}"
    );
    assert!(!help.contains("restore the files"), "{help}");

    // The database and the binary's files read as a directory (the edit undone): files.
    let mut text = fs::read_to_string(&up_file).unwrap();
    text.truncate(text.len() - "-- edited after the binary was built\n".len());
    fs::write(&up_file, text).unwrap();
    let refused = directory_migrator(&db, &project)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert!(
        refused
            .message
            .ends_with("does not match the migration files: 1 applied migration modified"),
        "{refused:?}"
    );
    let confiture::Reason::Diverged(diverged) = refused.reason() else {
        panic!("{refused:?}");
    };
    assert_eq!(diverged.embedded_in, None);
    assert!(
        refused.details[0].contains(", the file now has "),
        "{refused:?}"
    );
    assert!(
        refused
            .help
            .unwrap_or_default()
            .starts_with("restore the modified files"),
        "the directory's help"
    );
    assert_eq!(rows(&db).len(), 6, "nothing changed");
}

/// A rolling deploy: a newer replica migrated the database, an older one (re)starts and runs
/// `up`. Refused by default, on both paths, as the same typed case (`newer_database`), never
/// advised to forget the newer rows (`reinit`: the directory path said so, and gave no
/// `newer_database`, so code could not tell "database ahead" from "files lost");
/// `UpOptions::allow_newer_database` (`--allow-newer-database`) accepts it — applies nothing,
/// succeeds, says which rows it left — and still refuses a modified migration or one missing
/// below the newest it has.
#[test]
fn an_older_release_starts_against_a_newer_database_when_allowed_on_both_paths() {
    let project = Project::example();
    let db = TestDb::new("embed_rolling");
    project
        .run_on(&db, &["migrate", "up"])
        .code(confiture::exit::SUCCESS);
    let old = Project::example();
    for id in ["005_add_avatar_url", "006_index_tb_comment_fk_post"] {
        old.remove(&format!("db/migrations/{id}.up.sql"));
        old.remove(&format!("db/migrations/{id}.down.sql"));
    }
    let embedded = || Migrator::from_embedded(env(&db), embed(&project, |v| v <= 4));
    let directory = || directory_migrator(&db, &old);
    for (path, migrator) in [
        ("embedded", &embedded as &dyn Fn() -> Migrator),
        ("directory", &directory),
    ] {
        let refused = migrator()
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap_err()
            .error;
        assert_eq!(refused.exit_code(), confiture::exit::DIVERGED, "{path}");
        let confiture::Reason::Diverged(diverged) = refused.reason() else {
            panic!("{path}: {refused:?}");
        };
        let newer = diverged
            .newer_database
            .as_ref()
            .unwrap_or_else(|| panic!("{path}: the database is ahead, as data: {refused:?}"));
        assert_eq!(newer.versions, ["005", "006"], "{path}");
        assert_eq!(newer.embeds_up_to.as_deref(), Some("004"), "{path}");
        let help = refused.help.clone().unwrap_or_default();
        assert!(!help.contains("reinit"), "{path}: {help}");
        assert!(help.contains("allow_newer_database"), "{path}: {help}");

        let report = migrator()
            .up(
                &UpOptions::default().allow_newer_database(true),
                &mut no_progress,
            )
            .unwrap_or_else(|f| panic!("{path}: {:?}", f.error));
        assert!(report.applied.is_empty(), "{path}: {report:?}");
        assert!(
            report.warnings.iter().any(|w| w.contains("005, 006")),
            "{path}: {:?}",
            report.warnings
        );
    }
    assert_eq!(rows(&db).len(), 6, "nothing changed");

    // The CLI, from the older directory: the flag, and no `reinit` without it.
    old.run_on(&db, &["migrate", "up"])
        .code(confiture::exit::DIVERGED)
        .stderr_lacks("reinit")
        .stderr_has("--allow-newer-database");
    old.run_on(&db, &["migrate", "up", "--allow-newer-database"])
        .code(confiture::exit::SUCCESS);

    // Still refused: a migration it has, modified.
    old.write(
        "db/migrations/002_add_bio_to_users.up.sql",
        "ALTER TABLE tb_user ADD COLUMN bio text; -- edited\n",
    );
    let modified = directory()
        .up(
            &UpOptions::default().allow_newer_database(true),
            &mut no_progress,
        )
        .unwrap_err();
    assert_eq!(modified.error.exit_code(), confiture::exit::DIVERGED);
    // (One missing below the newest it has: `plan::tests`, a directory cannot have that gap.)
    assert_eq!(rows(&db).len(), 6, "nothing changed");
}

/// A service written as the README shows it, with `confiture` under `[dependencies]` but
/// without the `tokio` feature, failed to compile with "no method named `up_async` found for
/// struct `Migrator`", which does not say what is missing. Every async command now fails to
/// compile naming the feature and the line that turns it on.
#[test]
fn an_async_command_without_the_tokio_feature_names_the_feature() {
    let workspace = confiture_tests::workspace_root();
    let krate = ThrowawayCrate::new(
        "no-tokio-feature",
        &format!(
            "[package]\nname = \"confiture-no-tokio\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\nconfiture = {{ path = {:?} }}\n\n[workspace]\n",
            workspace.join("confiture").display().to_string(),
        ),
    );
    krate.write_if_changed(
        "src/main.rs",
        br#"use confiture::migrate::{no_progress, BaselineOptions, DownOptions, ReinitOptions, UpOptions};

async fn service(m: &mut confiture::Migrator) -> Result<(), Box<dyn std::error::Error>> {
    m.up_async(UpOptions::default(), no_progress).await?;
    m.down_async(DownOptions::default(), no_progress).await?;
    m.baseline_async(BaselineOptions::through(1), no_progress).await?;
    m.reinit_async(ReinitOptions::default(), no_progress).await?;
    m.status_async().await?;
    Ok(())
}

fn main() {
    let _ = service;
}
"#,
    );
    let (ok, output) = krate.build();
    assert!(!ok, "the build should fail without the feature:\n{output}");
    let named = output.matches("need confiture's `tokio` feature").count();
    assert!(
        named >= 5,
        "each of the five calls names the feature:\n{output}"
    );
    assert!(
        output.contains(r#"confiture = { version = "0.1", features = ["tokio"] }"#),
        "{output}"
    );
    assert!(!output.contains("no method named"), "{output}");
}
