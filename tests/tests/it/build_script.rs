//! End to end: `confiture_build::check()` in the build script of a real throwaway crate, built
//! by a real `cargo build`. A good migrations directory builds; each kind of error fails the
//! build naming the file; and the check reruns when the directory changes.
//!
//! One crate and one target directory (`target/build-script-e2e`) are reused for every build,
//! swapping the migration files in between, so the dependencies compile once (the first run
//! takes a minute; later builds only rerun the build script). The crates of the other tests
//! here (`stale-embed-e2e`, `settings-e2e`) are reused the same way.

use std::fs;
use std::time::Instant;

use confiture_tests::throwaway::ThrowawayCrate;

/// A migration file: name and raw bytes.
type File = (&'static str, &'static [u8]);

const GOOD: &[File] = &[
    (
        "001_create_tb_user.up.sql",
        b"CREATE TABLE tb_user (pk_user INTEGER PRIMARY KEY);\n",
    ),
    ("001_create_tb_user.down.sql", b"DROP TABLE tb_user;\n"),
    (
        "002_add_bio_to_users.up.sql",
        b"ALTER TABLE tb_user ADD COLUMN bio TEXT;\n",
    ),
    (
        "002_add_bio_to_users.down.sql",
        b"ALTER TABLE tb_user DROP COLUMN bio;\n",
    ),
    ("README.md", b"Not a migration: ignored.\n"),
];

/// Each error kind: the files added to `GOOD`, the file the error must name, and its code.
const BROKEN: &[(&str, &[File], &str, &str)] = &[
    (
        "missing down",
        &[("003_c.up.sql", b"SELECT 1;\n")],
        "003_c.up.sql",
        "C001",
    ),
    (
        "missing up",
        &[("003_c.down.sql", b"SELECT 1;\n")],
        "003_c.down.sql",
        "C002",
    ),
    (
        "duplicate version",
        &[
            ("002_other.up.sql", b"SELECT 1;\n"),
            ("002_other.down.sql", b"SELECT 1;\n"),
        ],
        "002_other.up.sql",
        "C003",
    ),
    (
        // h18 F14: a confiture (Python) migration of a pair's version was left out.
        "duplicate version of a .py migration",
        &[("002_other.py", b"# a confiture (Python) migration\n")],
        "002_other.py",
        "C003",
    ),
    (
        "gap",
        &[
            ("004_d.up.sql", b"SELECT 1;\n"),
            ("004_d.down.sql", b"SELECT 1;\n"),
        ],
        "004_d.up.sql",
        "C004",
    ),
    (
        "bad name",
        &[("003-Add-Thing.up.sql", b"SELECT 1;\n")],
        "003-Add-Thing.up.sql",
        "C006",
    ),
    (
        // h18 F4: a name ending in a carriage return (a CRLF script) was left out.
        "bad name ending in a carriage return",
        &[
            ("003_c.up.sql\r", b"SELECT 1;\n"),
            ("003_c.down.sql\r", b"SELECT 1;\n"),
        ],
        "003_c.up.sql\\r",
        "C006",
    ),
    (
        "empty up",
        &[
            ("003_c.up.sql", b"-- to do\n"),
            ("003_c.down.sql", b"SELECT 1;\n"),
        ],
        "003_c.up.sql",
        "C007",
    ),
    (
        "up of session settings only",
        &[
            (
                "003_c.up.sql",
                b"-- settings\nSET search_path = app;\nSET lock_timeout = '1s';\n",
            ),
            ("003_c.down.sql", b"SELECT 1;\n"),
        ],
        "003_c.up.sql:2",
        "C007",
    ),
    (
        "misspelled irreversible marker",
        &[
            ("003_c.up.sql", b"SELECT 1;\n"),
            ("003_c.down.sql", b"-- confiture: irreversable\nSELECT 1;\n"),
        ],
        "003_c.down.sql:1:1",
        "C194",
    ),
    (
        "not UTF-8",
        &[
            ("003_c.up.sql", b"-- line 1\nSELECT 'caf\xe9';\n"),
            ("003_c.down.sql", b"SELECT 1;\n"),
        ],
        "003_c.up.sql:2:12",
        "C009",
    ),
];

/// The throwaway crate, whose migrations directory the tests swap.
struct Project(ThrowawayCrate);

impl std::ops::Deref for Project {
    type Target = ThrowawayCrate;

    fn deref(&self) -> &ThrowawayCrate {
        &self.0
    }
}

impl Project {
    fn new() -> Project {
        let confiture_build = confiture_tests::workspace_root().join("confiture-build");
        let krate = ThrowawayCrate::new(
            "build-script-e2e",
            &format!(
                "[package]\nname = \"confiture-build-e2e\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
                 [build-dependencies]\nconfiture-build = {{ path = {:?} }}\n\n[workspace]\n",
                confiture_build.display().to_string()
            ),
        );
        krate.write_if_changed(
            "build.rs",
            b"fn main() -> Result<(), confiture_build::Error> {\n    confiture_build::check()?;\n    Ok(())\n}\n",
        );
        krate.write_if_changed(
            "src/lib.rs",
            b"//! Nothing: only the build script matters.\n",
        );
        Project(krate)
    }

    /// Replaces the migrations directory's contents with `files`.
    fn set_migrations(&self, files: &[File]) {
        let dir = self.migrations();
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in files {
            fs::write(dir.join(name), bytes).unwrap();
        }
    }

    fn add(&self, files: &[File]) {
        for (name, bytes) in files {
            fs::write(self.migrations().join(name), bytes).unwrap();
        }
    }
}

fn assert_builds(project: &Project, what: &str) {
    let (ok, output) = project.build();
    assert!(ok, "{what}: the build should succeed\n{output}");
}

/// The build failed, and cargo's `error:` line names the file (relative to the crate root)
/// and the rule's code.
fn assert_fails_naming(project: &Project, what: &str, file: &str, code: &str) {
    let (ok, output) = project.build();
    assert!(!ok, "{what}: the build should fail\n{output}");
    let expected = format!("db/migrations/{file}: {code}: ");
    let named = output
        .lines()
        .any(|line| line.starts_with("error: ") && line.contains(&expected));
    assert!(
        named,
        "{what}: no `error:` line with `{expected}`\n{output}"
    );
}

#[test]
fn build_script_fails_the_build_naming_the_file_and_reruns_on_change() {
    let project = Project::new();

    project.set_migrations(GOOD);
    // The first build compiles confiture-build and its dependencies.
    assert_builds(&project, "a good directory");
    let after_first_compile = Instant::now();

    for (what, extra, file, code) in BROKEN {
        project.set_migrations(GOOD);
        project.add(extra);
        assert_fails_naming(&project, what, file, code);
    }

    // A file name that is not UTF-8 is named as lint names it (`\xff`), in the line's location
    // as in its message: never with `�`, which made two such names alike.
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        project.set_migrations(GOOD);
        let name = std::ffi::OsStr::from_bytes(b"003_n\xff.up.sql");
        fs::write(project.migrations().join(name), b"SELECT 1;\n").unwrap();
        assert_fails_naming(
            &project,
            "a name that is not UTF-8",
            "003_n\\xff.up.sql",
            "C006",
        );
        let (_, output) = project.build();
        assert!(!output.contains('\u{fffd}'), "{output}");
    }

    // Rerun: good, then a bad file added, then fixed, each noticed by the next plain build.
    project.set_migrations(GOOD);
    assert_builds(&project, "back to good");
    project.add(&[(
        "003_create_tb_post.up.sql",
        b"CREATE TABLE tb_post (pk INTEGER);\n",
    )]);
    assert_fails_naming(
        &project,
        "a bad file added after a good build",
        "003_create_tb_post.up.sql",
        "C001",
    );
    project.add(&[("003_create_tb_post.down.sql", b"DROP TABLE tb_post;\n")]);
    assert_builds(&project, "the bad file fixed");
    // An edit to a file already checked reruns the check too.
    project.add(&[("003_create_tb_post.down.sql", b"-- emptied\n")]);
    assert_fails_naming(
        &project,
        "an edit that empties a down file",
        "003_create_tb_post.down.sql",
        "C008",
    );

    // Timing is reported, not asserted: the machine is shared.
    eprintln!(
        "builds after the first compile: {:?}",
        after_first_compile.elapsed()
    );
}

/// A crate whose binary includes the embedded set and prints each migration's id; its build
/// script embeds or only checks, as a test writes it.
fn embedding_crate() -> ThrowawayCrate {
    let workspace = confiture_tests::workspace_root();
    let krate = ThrowawayCrate::new(
        "stale-embed-e2e",
        &format!(
            "[package]\nname = \"confiture-stale-embed-e2e\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\nconfiture = {{ path = {:?}, default-features = false }}\n\n\
             [build-dependencies]\nconfiture-build = {{ path = {:?} }}\n\n[workspace]\n",
            workspace.join("confiture").display().to_string(),
            workspace.join("confiture-build").display().to_string(),
        ),
    );
    krate.write_if_changed(
        "src/main.rs",
        b"static MIGRATIONS: &confiture::embedded::EmbeddedMigrations = confiture::include_migrations!();\n\n\
          fn main() {\n    for m in MIGRATIONS.migrations {\n        println!(\"{}\", m.id());\n    }\n}\n",
    );
    krate
}

const EMBED: &[u8] =
    b"fn main() -> Result<(), confiture_build::Error> {\n    confiture_build::Check::new().embed().run()?;\n    Ok(())\n}\n";
const CHECK_ONLY: &[u8] =
    b"fn main() -> Result<(), confiture_build::Error> {\n    confiture_build::check()?;\n    Ok(())\n}\n";

/// The build failed on `include_migrations!()`, and the compiler's error says to embed.
fn assert_include_names_the_fix(krate: &ThrowawayCrate, what: &str) {
    let (ok, output) = krate.build();
    assert!(!ok, "{what}: the build should fail\n{output}");
    assert!(
        output
            .lines()
            .any(|l| l.starts_with("error") && l.contains("Check::new().embed()")),
        "{what}: no error naming `Check::new().embed()`\n{output}"
    );
}

/// A build script that stopped embedding left the previous run's `confiture_migrations.rs` in
/// `OUT_DIR`, and `include_migrations!()` compiled that stale set without a word; on a clean
/// build the include failed naming only a missing file.
#[test]
fn a_build_script_that_stops_embedding_never_compiles_a_stale_set() {
    let krate = embedding_crate();
    let dir = krate.migrations();
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in GOOD {
        fs::write(dir.join(name), bytes).unwrap();
    }
    krate.write_if_changed("build.rs", EMBED);
    let (ok, output) = krate.build();
    assert!(ok, "embedding: the build should succeed\n{output}");
    let binary = krate.target.join("debug").join(format!(
        "confiture-stale-embed-e2e{}",
        std::env::consts::EXE_SUFFIX
    ));
    let run = std::process::Command::new(&binary).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "001_create_tb_user\n002_add_bio_to_users\n"
    );

    // The build script only checks now, and the directory has a migration more.
    krate.write_if_changed("build.rs", CHECK_ONLY);
    fs::write(dir.join("003_c.up.sql"), b"CREATE TABLE c (i int);\n").unwrap();
    fs::write(dir.join("003_c.down.sql"), b"DROP TABLE c;\n").unwrap();
    assert_include_names_the_fix(&krate, "a check without embed after an embedding build");

    // A clean build (the build script's output directory gone) says the same.
    let build = krate.target.join("debug/build");
    for entry in fs::read_dir(&build).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("confiture-stale-embed-e2e-") {
            fs::remove_dir_all(&path).unwrap();
        }
    }
    assert_include_names_the_fix(&krate, "a clean build with a check without embed");

    // No build script at all: no OUT_DIR, and the macro says what to add.
    fs::remove_file(krate.dir.join("build.rs")).unwrap();
    assert_include_names_the_fix(&krate, "no build script");

    // Embedding again compiles the set as the directory has it.
    krate.write_if_changed("build.rs", EMBED);
    let (ok, output) = krate.build();
    assert!(ok, "embedding again: the build should succeed\n{output}");
    let run = std::process::Command::new(&binary).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "001_create_tb_user\n002_add_bio_to_users\n003_c\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Cargo.toml owns the settings: the build script and `cargo confiture` read the same ones.

/// The binary of [`settings_crate`]: `Migrator::from_embedded(..).status()` on `DATABASE_URL`,
/// printed as the library's JSON (what `migrate status --format json` prints of it).
const STATUS_MAIN: &[u8] = b"static MIGRATIONS: &confiture::embedded::EmbeddedMigrations = confiture::include_migrations!();\n\n\
fn main() {\n    let url = std::env::var(\"DATABASE_URL\").expect(\"DATABASE_URL\");\n    \
let env = confiture::config::Environment::from_url(&url, \"e2e\").expect(\"a database URL\");\n    \
match confiture::Migrator::from_embedded(env, MIGRATIONS).status() {\n        \
Ok(report) => println!(\"{}\", serde_json::to_string(&report).unwrap()),\n        \
Err(err) => {\n            eprintln!(\"{err}\");\n            std::process::exit(i32::from(err.exit_code()));\n        }\n    }\n}\n";

/// The up file of version 3: the same bytes in the project that applied it and in the crate,
/// so that its ledger row's checksum matches.
const V3_UP: &str = "CREATE TABLE tb_three (pk INTEGER);\n";

/// A crate whose `[package.metadata.confiture]` holds a squashed history's `first_version = 3`
/// and `migrations_dir = "sql"`, with 003 and 004 there; its binary embeds them and prints
/// the embedded set's status on a database. One target directory for every build:
/// `confiture` with its driver compiles once.
fn settings_crate() -> ThrowawayCrate {
    let workspace = confiture_tests::workspace_root();
    let krate = ThrowawayCrate::new(
        "settings-e2e",
        &format!(
            "[package]\nname = \"confiture-settings-e2e\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [package.metadata.confiture]\nfirst_version = 3\nmigrations_dir = \"sql\"\n\n\
             [dependencies]\nconfiture = {{ path = {:?}, default-features = false, features = [\"db\"] }}\n\
             serde_json = \"1\"\n\n\
             [build-dependencies]\nconfiture-build = {{ path = {:?} }}\n\n[workspace]\n",
            workspace.join("confiture").display().to_string(),
            workspace.join("confiture-build").display().to_string(),
        ),
    );
    krate.write_if_changed("src/main.rs", STATUS_MAIN);
    let _ = fs::remove_dir_all(krate.dir.join("db"));
    fs::create_dir_all(krate.dir.join("sql")).unwrap();
    krate.write_if_changed("sql/003_three.up.sql", V3_UP.as_bytes());
    krate.write_if_changed("sql/003_three.down.sql", b"DROP TABLE tb_three;\n");
    krate.write_if_changed(
        "sql/004_four.up.sql",
        b"CREATE TABLE tb_four (pk INTEGER);\n",
    );
    krate.write_if_changed("sql/004_four.down.sql", b"DROP TABLE tb_four;\n");
    krate
}

/// A build script that embeds, its builder given `settings`.
fn embedding_build_rs(settings: &str) -> Vec<u8> {
    format!(
        "fn main() -> Result<(), confiture_build::Error> {{\n    \
         confiture_build::Check::new(){settings}.embed().run()?;\n    Ok(())\n}}\n"
    )
    .into_bytes()
}

/// `(version, status)` of every migration a status JSON document lists, and its summary.
fn statuses(report: &serde_json::Value) -> (Vec<(String, String)>, serde_json::Value) {
    let migrations = report["migrations"].as_array().expect("migrations");
    let pairs = migrations
        .iter()
        .map(|m| (m["version"].to_string(), m["status"].to_string()))
        .collect();
    (pairs, report["summary"].clone())
}

/// The owner of `first_version` and `migrations_dir` is Cargo.toml, end to end: a build.rs
/// setting that disagrees with it fails a real `cargo build` naming both places; a consistent
/// setup builds, and its binary (`Migrator::from_embedded`) and `cargo confiture migrate status`
/// on the crate agree on a ledger with squashed rows. Before, a `Check::first_version` alone
/// made the binary take those rows as squashed while `status` called them missing (exit 7).
#[test]
fn cargo_toml_settings_own_the_build_and_the_cli_agrees_with_the_binary() {
    let krate = settings_crate();
    for (settings, parts) in [
        (
            ".first_version(2)",
            [
                "`Check::first_version(2)` in build.rs disagrees with `first_version` in \
                 `[package.metadata.confiture]` of `Cargo.toml:8`, which is 3",
                "help: remove `Check::first_version` from build.rs",
            ],
        ),
        (
            ".migrations_dir(\"db/migrations\")",
            [
                "`Check::migrations_dir(\"db/migrations\")` in build.rs (`db/migrations`) \
                 disagrees with `migrations_dir` in `[package.metadata.confiture]` of \
                 `Cargo.toml:9`, which is `sql`",
                "help: remove `Check::migrations_dir` from build.rs",
            ],
        ),
    ] {
        krate.write_if_changed("build.rs", &embedding_build_rs(settings));
        let (ok, output) = krate.build();
        assert!(!ok, "{settings}: the build should fail\n{output}");
        let error = output
            .lines()
            .find(|line| line.starts_with("error: ") && line.contains("in build.rs"))
            .unwrap_or_else(|| panic!("{settings}: no `error:` line naming build.rs\n{output}"));
        for part in parts {
            assert!(error.contains(part), "{settings}: `{part}`\n{output}");
        }
    }

    // Consistent: the same value in build.rs as in Cargo.toml builds, without a warning.
    krate.write_if_changed("build.rs", &embedding_build_rs(".first_version(3)"));
    let (ok, output) = krate.build();
    assert!(ok, "a consistent setup should build\n{output}");
    assert!(!output.contains("Check::"), "{output}");

    // The ledger: 001 and 002 (squashed into 003 since), and 003, applied from files.
    let db = confiture_tests::TestDb::new("build_settings");
    let project = confiture_tests::Project::new();
    project
        .migration(
            "001_one",
            "CREATE TABLE tb_one (pk INTEGER);\n",
            "DROP TABLE tb_one;\n",
        )
        .migration(
            "002_two",
            "CREATE TABLE tb_two (pk INTEGER);\n",
            "DROP TABLE tb_two;\n",
        )
        .migration("003_three", V3_UP, "DROP TABLE tb_three;\n");
    project.run_on(&db, &["migrate", "up"]).code(0);

    let binary = krate.target.join("debug").join(format!(
        "confiture-settings-e2e{}",
        std::env::consts::EXE_SUFFIX
    ));
    let run = std::process::Command::new(&binary)
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    assert!(run.status.success(), "the binary's status: {run:?}");
    let by_binary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();

    let cli = confiture_tests::Run::of(confiture_tests::cli().current_dir(&krate.dir).args([
        "migrate",
        "status",
        "--format",
        "json",
        "--database-url",
        &db.url(),
    ]));
    // Pending (1): 004. Not diverged (7): the rows below 3 are squashed, for both.
    cli.code(confiture::exit::PENDING);
    let by_cli = cli.json();
    assert_eq!(statuses(&by_cli), statuses(&by_binary), "{}", cli.dump());
    let (pairs, summary) = statuses(&by_binary);
    let expected = [
        ("\"001\"", "\"squashed\""),
        ("\"002\"", "\"squashed\""),
        ("\"003\"", "\"applied\""),
        ("\"004\"", "\"pending\""),
    ];
    let expected: Vec<_> = (expected.iter())
        .map(|(v, s)| (v.to_string(), s.to_string()))
        .collect();
    assert_eq!(pairs, expected, "{summary}");

    // Cargo.toml is watched: a change to its settings alone reruns the check; here a value of
    // the wrong type, named with its file and line. (`settings_crate` writes it back.)
    let manifest = fs::read_to_string(krate.dir.join("Cargo.toml")).unwrap();
    let manifest = manifest.replace("first_version = 3\n", "first_version = \"3\"\n");
    krate.write_if_changed("Cargo.toml", manifest.as_bytes());
    let (ok, output) = krate.build();
    assert!(
        !ok,
        "a setting of the wrong type: the build should fail\n{output}"
    );
    // Named from the workspace root, as every other line of the check (r2ws: it was named
    // by its absolute path).
    let named = output.lines().any(|line| {
        line.starts_with("error: ")
            && line.contains(
                "`first_version` in `[package.metadata.confiture]` of `Cargo.toml:8` must be a \
                 whole number, 1 or more, not a string",
            )
    });
    assert!(named, "no `error:` line naming Cargo.toml:8\n{output}");
}
