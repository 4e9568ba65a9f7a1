//! Cargo-native configuration, end to end: a workspace member's `[package.metadata.confiture]`
//! overrides `[workspace.metadata.confiture]` (run from the member, or with `-p NAME` or
//! `--manifest-path`, the CLI uses the member's migrations), and `DATABASE_URL` in the
//! workspace root's `.env` names the database when nothing else does, never beating a variable
//! that is set.

use confiture::exit;
use confiture_tests::{member_manifest, workspace_manifest, Project, Run, TestDb};

/// A workspace whose root has one migration in `db/migrations` and whose member `billing`
/// keeps two in `billing/migrations`, named by its package table.
fn workspace_with_a_member() -> Project {
    let project = Project::new();
    project
        .write("Cargo.toml", workspace_manifest("billing"))
        .write(
            "billing/Cargo.toml",
            member_manifest("billing", Some("migrations")),
        )
        .migration(
            "001_root",
            "CREATE TABLE root_t (id int);\n",
            "DROP TABLE root_t;\n",
        )
        .write("billing/src/lib.rs", "")
        .write(
            "billing/migrations/001_invoices.up.sql",
            "CREATE TABLE invoices (id int);\n",
        )
        .write(
            "billing/migrations/001_invoices.down.sql",
            "DROP TABLE invoices;\n",
        )
        .write(
            "billing/migrations/002_lines.up.sql",
            "CREATE TABLE invoice_lines (id int);\n",
        )
        .write(
            "billing/migrations/002_lines.down.sql",
            "DROP TABLE invoice_lines;\n",
        );
    project
}

fn run_in(project: &Project, dir: &str, args: &[&str]) -> Run {
    Run::of(project.cli().current_dir(project.path(dir)).args(args))
}

#[test]
fn a_member_uses_the_migrations_its_package_table_names() {
    let project = workspace_with_a_member();
    let billing = TestDb::new("cargo_member");
    let url = billing.url();
    run_in(
        &project,
        "billing",
        &["migrate", "up", "--database-url", &url],
    )
    .code(exit::SUCCESS);
    assert_eq!(
        billing.ledger().unwrap(),
        ["001:invoices", "002:lines"],
        "the member's migrations, not the workspace's"
    );
    assert!(billing.has_relation("invoice_lines") && !billing.has_relation("root_t"));
    // From a subdirectory of the member too; from the root, the workspace's table holds.
    run_in(
        &project,
        "billing/migrations",
        &["migrate", "status", "--database-url", &url],
    )
    .code(exit::SUCCESS);
    let root = TestDb::new("cargo_root");
    project
        .run(&["migrate", "up", "--database-url", &root.url()])
        .code(exit::SUCCESS);
    assert_eq!(root.ledger().unwrap(), ["001:root"]);
}

#[test]
fn a_mistake_in_a_package_table_names_that_table_and_manifest() {
    let project = workspace_with_a_member();
    project.write(
        "billing/Cargo.toml",
        "[package]\nname = \"billing\"\n\n[package.metadata.confiture]\nmigration_dir = \"m\"\n",
    );
    run_in(&project, "billing", &["lint"])
        .code(exit::INVALID)
        .stderr_has(
            "unknown key `migration_dir` in `[package.metadata.confiture]` of `Cargo.toml:5`",
        )
        .stderr_has("did you mean `migrations_dir`?")
        .stderr_has("`[workspace.metadata.confiture]` alike");

    // A directory that is not there: the help names both tables where it can be set.
    project.write(
        "billing/Cargo.toml",
        "[package]\nname = \"billing\"\n\n[package.metadata.confiture]\nmigrations_dir = \"gone\"\n",
    );
    run_in(&project, "billing", &["lint"])
        .code(exit::INVALID)
        .stderr_has("migrations directory `gone` does not exist")
        .stderr_has("`[package.metadata.confiture]` of the package's Cargo.toml")
        .stderr_has("`[workspace.metadata.confiture]` of the workspace's");
}

/// r2ws: an error in a Cargo.toml setting (or in the file's TOML) named the file by its
/// absolute path, where every other line names files relative to the current directory: it is
/// named that way too, the workspace's manifest and a member's alike, from wherever the
/// command runs (`-p` included), with the line of the value.
#[test]
fn a_cargo_toml_error_names_the_file_relative_to_the_current_directory() {
    let project = workspace_with_a_member();
    let root = project.path("");
    let root = root.to_string_lossy();
    let root = root.trim_end_matches('/');
    let member = "[package]\nname = \"billing\"\nversion = \"0.1.0\"\n\n\
                  [package.metadata.confiture]\n";
    project.write(
        "billing/Cargo.toml",
        format!("{member}first_version = \"1\"\n"),
    );
    let wrong_type = "` must be a whole number, 1 or more, not a string";
    for (dir, args, shown) in [
        ("billing", &["lint"][..], "`Cargo.toml:6"),
        ("billing/src", &["lint"], "`../Cargo.toml:6"),
        ("", &["lint", "-p", "billing"], "`billing/Cargo.toml:6"),
    ] {
        run_in(&project, dir, args)
            .code(exit::INVALID)
            .stderr_has(&format!(
                "`first_version` in `[package.metadata.confiture]` of {shown}{wrong_type}"
            ))
            .stderr_lacks(root);
    }
    project.write("billing/Cargo.toml", format!("{member}first_version = 3\n"));
    project.write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"billing\"]\n\n[workspace.metadata.confiture]\n\
         migrations_dir = 3\n",
    );
    for (dir, shown) in [("", "`Cargo.toml:5`"), ("billing", "`../Cargo.toml:5`")] {
        run_in(&project, dir, &["lint"])
            .code(exit::INVALID)
            .stderr_has(&format!(
                "`migrations_dir` in `[workspace.metadata.confiture]` of {shown} must be"
            ))
            .stderr_lacks(root);
    }
    project.write("Cargo.toml", "[workspace]\nmembers = [\n\n= oops\n");
    for (dir, shown) in [("", "`Cargo.toml:4`"), ("billing", "`../Cargo.toml:4`")] {
        run_in(&project, dir, &["lint"])
            .code(exit::INVALID)
            .stderr_has(&format!("invalid TOML in {shown}"))
            .stderr_lacks(root);
    }
}

#[test]
fn dotenv_names_the_database_when_nothing_else_does() {
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    let from_dotenv = TestDb::new("dotenv_only");
    project.write(
        ".env",
        format!("# local development\nDATABASE_URL={}\n", from_dotenv.url()),
    );
    project
        .run(&["migrate", "up"])
        .code(exit::SUCCESS)
        .stderr_has("using DATABASE_URL in .env, line 2: ");
    assert_eq!(from_dotenv.ledger().unwrap(), ["001:a"]);

    // From a subdirectory, the workspace root's `.env` still.
    project.write("src/lib.rs", "");
    Run::of(
        project
            .cli()
            .current_dir(project.path("src"))
            .args(["migrate", "status"]),
    )
    .code(exit::SUCCESS)
    .stderr_has("using DATABASE_URL in ../.env, line 2: ");
}

#[test]
fn dotenv_never_overrides_a_variable_that_is_set() {
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    let from_dotenv = TestDb::new("dotenv_loser");
    let from_var = TestDb::new("dotenv_var");
    project.write(".env", format!("DATABASE_URL={}\n", from_dotenv.url()));
    for var in ["DATABASE_URL", "CONFITURE_DATABASE_URL"] {
        Run::of(
            project
                .cli()
                .env(var, from_var.url())
                .args(["migrate", "up"]),
        )
        .code(exit::SUCCESS)
        .stderr_has(&format!("using {var}: "));
    }
    assert_eq!(from_var.ledger().unwrap(), ["001:a"]);
    assert_eq!(
        from_dotenv.ledger(),
        None,
        "the .env database was never touched"
    );
}

/// `-p billing` and `--manifest-path billing/Cargo.toml` select the member from anywhere, as
/// cargo's own flags do; suggested commands repeat the selection.
#[test]
fn dash_p_and_manifest_path_select_the_member() {
    let project = workspace_with_a_member();
    for selection in [
        &["-p", "billing"][..],
        &["--package", "billing"],
        &["--manifest-path", "billing/Cargo.toml"],
    ] {
        let db = TestDb::new("cargo_select");
        let url = db.url();
        let run =
            project.run(&[&["migrate", "status", "--database-url", &url], selection].concat());
        // The hint repeats the selection (`--package` as `-p`).
        let repeated = selection.join(" ").replace("--package", "-p");
        run.code(exit::NOT_INITIALISED).stderr_has(&format!(
            "`cargo confiture migrate up --database-url <URL> {repeated}`"
        ));
        project
            .run(&[&["migrate", "up", "--database-url", &url], selection].concat())
            .code(exit::SUCCESS);
        assert_eq!(
            db.ledger().unwrap(),
            ["001:invoices", "002:lines"],
            "{selection:?}"
        );
    }
    // From inside the member, `--manifest-path` of the root selects the workspace's settings.
    let db = TestDb::new("cargo_select_root");
    run_in(
        &project,
        "billing",
        &[
            "migrate",
            "up",
            "--manifest-path",
            "../Cargo.toml",
            "--database-url",
            &db.url(),
        ],
    )
    .code(exit::SUCCESS);
    assert_eq!(db.ledger().unwrap(), ["001:root"]);
}

#[test]
fn an_unknown_package_or_manifest_is_refused_naming_what_exists() {
    let project = workspace_with_a_member();
    project
        .run(&["lint", "-p", "biling"])
        .code(exit::USAGE)
        .stderr_has("package `biling` is not a member of the workspace")
        .stderr_has("did you mean -p billing? the members are billing");
    // The one did-you-mean rule: a name far from every member gets the list alone.
    project
        .run(&["lint", "-p", "shipping_labels"])
        .code(exit::USAGE)
        .stderr_has("help: the members are billing")
        .stderr_lacks("did you mean");
    project
        .run(&["lint", "--manifest-path", "billing"])
        .code(exit::USAGE)
        .stderr_has("--manifest-path billing is a directory, not a Cargo.toml file")
        .stderr_has("give the Cargo.toml it holds: --manifest-path billing/Cargo.toml");
}

/// `--manifest-path` is read as cargo reads it: `Cargo.toml/` (a shell's completion of a
/// name it took for a directory) names the file — it was said not to exist — and a directory
/// is said to be one, with the Cargo.toml it holds, whatever its name (`.`, `billing/`).
#[test]
fn a_manifest_path_names_its_file_with_a_trailing_slash_and_a_directory_as_one() {
    let project = workspace_with_a_member();
    for path in [
        "Cargo.toml/",
        "billing/Cargo.toml/",
        "./billing//Cargo.toml",
    ] {
        project
            .run(&["lint", "--manifest-path", path])
            .code(exit::SUCCESS);
    }
    for (path, holds) in [
        (".", "./Cargo.toml"),
        ("billing", "billing/Cargo.toml"),
        ("billing/", "billing/Cargo.toml"),
    ] {
        project
            .run(&["lint", "--manifest-path", path])
            .code(exit::USAGE)
            .stderr_has(&format!(
                "--manifest-path {path} is a directory, not a Cargo.toml file"
            ))
            .stderr_has(&format!(
                "give the Cargo.toml it holds: --manifest-path {holds}"
            ));
    }
    // A directory without one gets the general help, a missing path is still missing.
    std::fs::create_dir_all(project.path("empty")).unwrap();
    project
        .run(&["lint", "--manifest-path", "empty/"])
        .code(exit::USAGE)
        .stderr_has("--manifest-path empty/ is a directory, not a Cargo.toml file")
        .stderr_has("give the path of a Cargo.toml file");
    project
        .run(&["lint", "--manifest-path", "nope/Cargo.toml/"])
        .code(exit::USAGE)
        .stderr_has("--manifest-path nope/Cargo.toml/ does not exist");
}

/// One rule for the package flags' exit codes (they were 64 or 5 for the same kind of
/// mistake): a flag value that cannot be used is a usage error (64), whatever it names — a
/// path that is not a Cargo.toml, that does not exist or is a directory, a package that is not
/// a member, `-p` outside any Cargo project; a Cargo.toml that is there but broken is invalid
/// (5), with or without `-p`.
#[test]
fn package_flags_exit_64_for_a_value_that_cannot_be_used_and_5_for_a_broken_file() {
    let project = workspace_with_a_member();
    std::fs::create_dir_all(project.path("dir/Cargo.toml")).unwrap();
    for (args, says) in [
        (&["-p", "biling"][..], "is not a member of the workspace"),
        (
            &["--manifest-path", "billing"],
            "is a directory, not a Cargo.toml file",
        ),
        (&["--manifest-path", "Cargo.json"], "is not a Cargo.toml"),
        (&["--manifest-path", "nope/Cargo.toml"], "does not exist"),
        (
            &["--manifest-path", "dir/Cargo.toml"],
            "is a directory, not a Cargo.toml file",
        ),
        (
            &["-p", "billing", "--manifest-path", "nope/Cargo.toml"],
            "does not exist",
        ),
    ] {
        project
            .run(&[&["lint"], args].concat())
            .code(exit::USAGE)
            .stderr_has(says);
    }
    // Outside any Cargo project, `-p` names nothing.
    let outside = Project::new();
    outside.remove("Cargo.toml");
    outside
        .run(&["lint", "-p", "billing"])
        .code(exit::USAGE)
        .stderr_has("-p billing needs a Cargo workspace: there is no Cargo.toml")
        .stderr_has("--manifest-path");
    // A broken Cargo.toml is the file's fault, however it was reached.
    let broken = Project::new();
    broken.write("Cargo.toml", "[workspace\n");
    for args in [
        &["lint"][..],
        &["lint", "-p", "billing"],
        &["lint", "--manifest-path", "Cargo.toml"],
    ] {
        broken
            .run(args)
            .code(exit::INVALID)
            .stderr_has("Cargo.toml");
    }
}

/// A broken member Cargo.toml with `-p`: cargo's report was printed on one line with `\n`
/// escapes (its Debug text). It is printed line by line, its snippet's carets still under the
/// column they point at; in JSON the lines are the error's details.
#[test]
fn cargo_metadata_errors_are_printed_line_by_line() {
    let project = workspace_with_a_member();
    project.write(
        "billing/Cargo.toml",
        "[package]\nname = \"billing\"\nversion = \n",
    );
    let run = project.run(&["lint", "-p", "billing"]);
    run.code(exit::INVALID)
        .stderr_has("cannot list the workspace's packages to find `-p billing`")
        .stderr_lacks("\\n");
    let lines: Vec<&str> = run.stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("billing/Cargo.toml:3:11"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    // The line of the snippet, and the caret under column 11 of it.
    let snippet = lines[at + 2];
    let caret = lines[at + 3];
    assert!(
        snippet.trim_start().starts_with("3 | version ="),
        "{}",
        run.stderr
    );
    let column = |line: &str, what: char| line.find(what).unwrap();
    assert_eq!(column(caret, '|'), column(snippet, '|'), "{}", run.stderr);
    assert_eq!(
        column(caret, '^'),
        column(snippet, 'v') + "version = ".len(),
        "{}",
        run.stderr
    );
    let json = project.run(&["lint", "-p", "billing", "--format", "json"]);
    json.code(exit::INVALID);
    assert!(
        json.stdout.contains("billing/Cargo.toml:3:11"),
        "{}",
        json.stdout
    );
}

/// C005's help named `[workspace.metadata.confiture]` when `first_version` came from the
/// member's `[package.metadata.confiture]` (which wins): it names the table that set it.
#[test]
fn the_first_version_help_names_the_table_that_set_it() {
    let project = workspace_with_a_member();
    for (first_version, code) in [
        ("5", "version 001 comes before the first version"),
        ("1", ""),
    ] {
        project.write(
            "billing/Cargo.toml",
            format!(
                "[package]\nname = \"billing\"\n\n[package.metadata.confiture]\n\
                 migrations_dir = \"migrations\"\nfirst_version = {first_version}\n"
            ),
        );
        if code.is_empty() {
            // Below the first file: the late start's help names the package's table too.
            project
                .remove("billing/migrations/001_invoices.up.sql")
                .remove("billing/migrations/001_invoices.down.sql");
            run_in(&project, "billing", &["lint"])
                .code(exit::INVALID)
                .stderr_has("C005")
                .stderr_has("change `first_version` in `[package.metadata.confiture]` of the package's Cargo.toml")
                .stderr_lacks("[workspace.metadata.confiture]");
        } else {
            run_in(&project, "billing", &["lint"])
                .code(exit::INVALID)
                .stderr_has(code)
                .stderr_has("lower `first_version` in `[package.metadata.confiture]` of the package's Cargo.toml")
                .stderr_lacks("[workspace.metadata.confiture]");
        }
    }
    // Set in the workspace's table: that one is named.
    project
        .write(
            "Cargo.toml",
            format!("{}first_version = 3\n", workspace_manifest("billing")),
        )
        .write(
            "billing/Cargo.toml",
            "[package]\nname = \"billing\"\n\n[package.metadata.confiture]\nmigrations_dir = \"migrations\"\n",
        );
    run_in(&project, "billing", &["lint"])
        .code(exit::INVALID)
        .stderr_has(
        "lower `first_version` in `[workspace.metadata.confiture]` of the workspace's Cargo.toml",
    );
}

/// C005's help suggested `first_version = 18446744073709551615`, which the Cargo.toml reader
/// then refused (TOML integers are `i64`). A version is at most `i64::MAX`: above it a file's
/// name is refused, and the suggestion C005 makes for any version up to it is accepted.
#[test]
fn the_first_version_c005_suggests_is_one_cargo_toml_holds() {
    for version in [
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
    ] {
        let project = Project::new();
        project.migration(&format!("{version}_e"), "SELECT 1;\n", "SELECT 1;\n");
        let run = project.run(&["lint"]);
        run.code(exit::INVALID);
        let suggestion = format!("set `first_version = {version}`");
        if version == "9223372036854775807" {
            run.stderr_has("C005").stderr_has(&suggestion);
            project.write(
                "Cargo.toml",
                format!(
                    "[workspace]\nmembers = []\n\n[workspace.metadata.confiture]\n\
                     first_version = {version}\n"
                ),
            );
            project.run(&["lint"]).code(exit::SUCCESS);
        } else {
            run.stderr_lacks(&suggestion)
                .stderr_has("its version is above 9223372036854775807, the largest");
        }
    }
}

/// `first_version = 0` made `migrate generate` create `001` (and `lint` pass `000`), where
/// `migrate down --target 0` cannot roll a version 0 back: 0 is refused, naming the Cargo.toml
/// and the key, by every command, before anything is written.
#[test]
fn first_version_zero_is_refused_naming_cargo_toml_and_the_key() {
    let project = Project::new();
    project.write(
        "Cargo.toml",
        "[workspace]\nmembers = []\n\n[workspace.metadata.confiture]\nfirst_version = 0\n",
    );
    for args in [
        &["migrate", "generate", "init"][..],
        &["lint"],
        &["migrate", "status"],
    ] {
        project.run(args).code(exit::INVALID).stderr_has(
            "`first_version` in `[workspace.metadata.confiture]` of `Cargo.toml:5` must be 1 \
                 or more, not 0",
        );
    }
    assert!(
        std::fs::read_dir(project.path("db/migrations")).map_or(true, |mut d| d.next().is_none()),
        "nothing was generated"
    );
}

/// A `.env` that is a named pipe (a secret manager mounts it so) is read as `-c` reads one, on
/// a helper thread within `STREAM_WAIT`: it was skipped as if there were no `.env`.
#[test]
fn a_dotenv_that_is_a_pipe_is_read() {
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    let from_dotenv = TestDb::new("dotenv_fifo");
    let fifo = project.path(".env");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let text = format!("DATABASE_URL={}\n", from_dotenv.url());
    // Opening a FIFO for writing blocks until the reader opens it.
    let writer = std::thread::spawn(move || std::fs::write(fifo, text).unwrap());
    project
        .run(&["migrate", "up"])
        .code(exit::SUCCESS)
        .stderr_has("using DATABASE_URL in .env, line 1: ");
    writer.join().unwrap();
    assert_eq!(from_dotenv.ledger().unwrap(), ["001:a"]);
}

/// The migrations directory `lint -c FILE` reads, run in `cwd`, as its JSON report names it
/// (relative to `cwd`).
fn lint_dir_with_file(cwd: &std::path::Path, file: &std::path::Path) -> String {
    let run = Run::of(
        confiture_tests::cli()
            .current_dir(cwd)
            .args(["lint", "--format", "json", "-c"])
            .arg(file),
    );
    run.json()["migrations_dir"]
        .as_str()
        .unwrap_or_else(|| panic!("no migrations_dir: {}", run.dump()))
        .to_string()
}

/// `-c FILE` takes the migrations of the Cargo project (and package) that holds the file, as
/// `Migrator::from_config` does (one rule, `Workspace::of_environment_file`); a file outside
/// any Cargo project, those of the current directory's project, or of the current directory
/// itself outside any.
#[test]
fn an_environment_file_brings_the_project_that_holds_it() {
    let url = "database_url: postgresql://app@127.0.0.1:1/app\n";
    let tmp = confiture_test_support::TempDir::new("confiture-plain");
    let plain = tmp.dir("plain");
    tmp.write("plain/db/environments/x.yaml", url);
    tmp.dir("plain/db/migrations");
    let secrets = tmp.write("secrets/x.yaml", url);
    let project = workspace_with_a_member();
    project
        .write("db/environments/x.yaml", url)
        .write("billing/db/environments/x.yaml", url);

    let relative = std::path::Path::new("db/environments/x.yaml");
    // A plain directory: its own db/migrations.
    assert_eq!(lint_dir_with_file(&plain, relative), "db/migrations");
    // Another Cargo project's file: that project's migrations, wherever the command runs.
    let theirs = project.path("db/environments/x.yaml");
    let shown = lint_dir_with_file(&plain, &theirs);
    assert_eq!(
        std::fs::canonicalize(plain.join(&shown)).unwrap(),
        std::fs::canonicalize(project.path("db/migrations")).unwrap(),
        "{shown}"
    );
    // A member's file: the member's package table holds, as from inside the member.
    assert_eq!(
        lint_dir_with_file(
            &project.root,
            std::path::Path::new("billing/db/environments/x.yaml")
        ),
        "billing/migrations"
    );
    // A file outside any Cargo project: the current directory's project.
    assert_eq!(
        lint_dir_with_file(&project.path("billing"), &secrets),
        "migrations"
    );
    assert_eq!(lint_dir_with_file(&plain, &secrets), "db/migrations");
}

/// At the root of a virtual workspace whose migrations are a member's (its package table names
/// them), the root's missing `db/migrations` is not "create it with `migrate generate`" (a
/// second, empty history): the members with confiture settings are named with `-p NAME` —
/// for `generate` too, which would create that second history.
#[test]
fn a_virtual_workspace_root_names_the_members_with_migrations() {
    let project = Project::new();
    project
        .write("Cargo.toml", "[workspace]\nmembers = [\"svc\", \"web\"]\n")
        .write("svc/Cargo.toml", member_manifest("svc", Some("sql")))
        .write("svc/src/lib.rs", "")
        .write("web/Cargo.toml", member_manifest("web", None))
        .write("web/src/lib.rs", "")
        .write("svc/sql/001_a.up.sql", "CREATE TABLE a (id int);\n")
        .write("svc/sql/001_a.down.sql", "DROP TABLE a;\n");
    let _ = std::fs::remove_dir_all(project.path("db/migrations"));
    for args in [
        &["lint"][..],
        &[
            "migrate",
            "status",
            "--database-url",
            "postgresql://u@127.0.0.1:1/x",
        ],
        &["migrate", "generate", "b"],
    ] {
        project
            .run(args)
            .code(exit::INVALID)
            .stderr_has(
                "migrations directory `db/migrations` does not exist at the root of this \
                 virtual workspace, and member svc (its migrations: svc/sql) has confiture \
                 settings",
            )
            .stderr_has(
                "run the command for it: add `-p svc` (or `--manifest-path svc/Cargo.toml`)",
            )
            .stderr_lacks("generate NAME")
            .stderr_lacks("web");
        assert!(!project.path("db/migrations").exists(), "{args:?}");
    }
    project.run(&["lint", "-p", "svc"]).code(exit::SUCCESS);
}

/// The same root while `cargo metadata` cannot list the members (a new member without its
/// `src/` yet: cargo refuses its manifest): `generate` created `db/migrations/001_init.*` at the
/// root, silently, a second, empty history. The members the manifests declare with confiture
/// settings (a `crates/*` pattern too) are named all the same, with cargo's failure, and the
/// `--manifest-path` that works now, `-p NAME` once cargo can list them.
#[test]
fn a_virtual_workspace_root_names_its_members_when_cargo_cannot_list_them() {
    let project = Project::new();
    let member = |name: &str| member_manifest(name, Some("migrations"));
    project
        .write("Cargo.toml", "[workspace]\nmembers = [\"billing\"]\n")
        .write("billing/Cargo.toml", member("billing"));
    let _ = std::fs::remove_dir_all(project.path("db/migrations"));
    for args in [
        &["migrate", "generate", "init"][..],
        &["lint"],
        &[
            "migrate",
            "status",
            "--database-url",
            "postgresql://u@127.0.0.1:1/x",
        ],
    ] {
        project
            .run(args)
            .code(exit::INVALID)
            .stderr_has(
                "migrations directory `db/migrations` does not exist at the root of this \
                 virtual workspace, and member billing (its migrations: billing/migrations) \
                 has confiture settings",
            )
            .stderr_has("cargo cannot list the workspace's members: `cargo metadata` exited")
            .stderr_has(
                "add `--manifest-path billing/Cargo.toml`; `-p billing` works once cargo can \
                 list the members",
            );
        assert!(!project.path("db/migrations").exists(), "{args:?}");
    }
    // The help's command, pasted, works now.
    project
        .run(&[
            "migrate",
            "generate",
            "init",
            "--manifest-path",
            "billing/Cargo.toml",
        ])
        .code(exit::SUCCESS)
        .stdout_has("created billing/migrations/001_init.up.sql");
    project
        .write("Cargo.toml", "[workspace]\nmembers = [\"crates/*\"]\n")
        .write("crates/api/Cargo.toml", member("api"))
        .write("crates/ops/Cargo.toml", member("ops"));
    project
        .run(&["migrate", "generate", "x"])
        .code(exit::INVALID)
        .stderr_has("members api (its migrations: crates/api/migrations), ops (its migrations: crates/ops/migrations) have confiture settings")
        .stderr_has("`--manifest-path crates/api/Cargo.toml`");
    assert!(!project.path("db/migrations").exists());
}

/// The members the manifests declare are read with cargo's own glob patterns (`*`, `?` and
/// `[..]` in any segment, `**`), less `exclude`: `crates/*-svc` and `nested/[ab]?/*` were passed
/// over, silently, and the members they name never offered. A pattern that cannot be read
/// is an error naming the Cargo.toml and its line, never passed over.
#[test]
fn a_virtual_workspace_root_reads_cargo_s_glob_patterns_when_cargo_cannot_list_them() {
    let project = Project::new();
    let member = |name: &str| member_manifest(name, Some("migrations"));
    project
        .write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"crates/*-svc\", \"nested/[ab]?/*\"]\n\
             exclude = [\"crates/old-svc\"]\n",
        )
        .write("crates/pay-svc/Cargo.toml", member("pay"))
        .write("crates/old-svc/Cargo.toml", member("old"))
        .write("crates/lib/Cargo.toml", member("lib"))
        .write("nested/a1/deep/Cargo.toml", member("deep"))
        .write("nested/c1/far/Cargo.toml", member("far"));
    let _ = std::fs::remove_dir_all(project.path("db/migrations"));
    project
        .run(&["migrate", "generate", "x"])
        .code(exit::INVALID)
        .stderr_has(
            "members deep (its migrations: nested/a1/deep/migrations), pay (its migrations: \
             crates/pay-svc/migrations) have confiture settings",
        )
        .stderr_lacks("old")
        .stderr_lacks("lib (")
        .stderr_lacks("far");
    assert!(!project.path("db/migrations").exists());
    project.write(
        "Cargo.toml",
        "[workspace]\nmembers = [\n  \"crates/*-svc\",\n  \"crates/[a\",\n]\n",
    );
    project
        .run(&["migrate", "generate", "x"])
        .code(exit::INVALID)
        .stderr_has("pattern `crates/[a` of `workspace.members` in `Cargo.toml:2` cannot be read");
    assert!(!project.path("db/migrations").exists());
}

/// A member whose `migrations_dir` climbs out of it (`../shared/appmigs`) is shown as the user
/// would type it: `shared/appmigs/...` from the workspace root, `../shared/appmigs/...` from
/// the member, never `app/../shared/appmigs/...` — by `generate` and by the commands that
/// read the directory alike.
#[test]
fn a_members_migrations_dir_that_climbs_out_of_it_is_shown_without_dot_dot() {
    let project = Project::new();
    project
        .write("Cargo.toml", workspace_manifest("app"))
        .write(
            "app/Cargo.toml",
            member_manifest("app", Some("../shared/appmigs")),
        )
        .write("app/src/lib.rs", "")
        .write("shared/appmigs/001_a.up.sql", "CREATE TABLE a (id int);\n")
        .write("shared/appmigs/001_a.down.sql", "DROP TABLE a;\n");
    run_in(&project, ".", &["migrate", "generate", "-p", "app", "z"])
        .code(exit::SUCCESS)
        .stdout_has("created shared/appmigs/002_z.up.sql")
        .stdout_has("created shared/appmigs/002_z.down.sql")
        .stdout_lacks("app/..");
    assert!(project.path("shared/appmigs/002_z.up.sql").is_file());
    run_in(&project, "app", &["migrate", "generate", "y", "--dry-run"])
        .code(exit::SUCCESS)
        .stdout_has("would create ../shared/appmigs/003_y.up.sql");
    // A file of the directory named by `lint`, as `generate` names it.
    project.write(
        "shared/appmigs/004_bad.up.sql",
        "CREATE TABLE b (id int);\n",
    );
    run_in(&project, ".", &["lint", "-p", "app"])
        .stderr_has("shared/appmigs/004_bad.up.sql")
        .stderr_lacks("app/..");
}

/// `DATABASE_URL` comes from the nearest `.env` that sets it, from the directory the command
/// runs in up to the workspace root: run from a member whose own `.env` names its database,
/// the member's migrations go there, never to the database of the root's `.env`; run from the
/// root, the root's `.env` wins. With neither setting it, "no database configured" names
/// every `.env` it looked at, nearest first. (Only the library's tests showed this.)
#[test]
fn a_members_dotenv_beats_the_roots_and_both_are_named_when_neither_sets_it() {
    let project = workspace_with_a_member();
    let root_db = TestDb::new("dotenv_ws_root");
    let member_db = TestDb::new("dotenv_ws_member");
    project
        .write(".env", format!("DATABASE_URL={}\n", root_db.url()))
        .write(
            "billing/.env",
            format!("# the member's own\nDATABASE_URL={}\n", member_db.url()),
        );
    // As cargo runs a subcommand: `cargo confiture ...` is `cargo-confiture confiture ...`.
    run_in(&project, "billing", &["confiture", "migrate", "up"])
        .code(exit::SUCCESS)
        .stderr_has("using DATABASE_URL in .env, line 2: ");
    assert_eq!(member_db.ledger().unwrap(), ["001:invoices", "002:lines"]);
    assert!(member_db.has_relation("invoices") && member_db.has_relation("invoice_lines"));
    assert!(!member_db.has_relation("root_t"));
    assert_eq!(
        root_db.ledger(),
        None,
        "the root's database was never touched"
    );
    assert!(!root_db.has_relation("invoices") && !root_db.has_relation("root_t"));

    // From a directory inside the member, the member's `.env` still, the nearest.
    run_in(&project, "billing/src", &["confiture", "migrate", "status"])
        .code(exit::SUCCESS)
        .stderr_has("using DATABASE_URL in ../.env, line 2: ");

    // From the root, the root's `.env` and the workspace's migrations.
    project
        .run(&["confiture", "migrate", "up"])
        .code(exit::SUCCESS)
        .stderr_has("using DATABASE_URL in .env, line 1: ");
    assert_eq!(root_db.ledger().unwrap(), ["001:root"]);
    assert!(root_db.has_relation("root_t") && !root_db.has_relation("invoices"));
    assert_eq!(
        member_db.ledger().unwrap(),
        ["001:invoices", "002:lines"],
        "the member's database is as the member's run left it"
    );

    // Neither sets it: every `.env` looked at is named, nearest first.
    project
        .write(".env", "OTHER=1\n")
        .write("billing/.env", "OTHER=2\n");
    run_in(&project, "billing/src", &["confiture", "migrate", "status"])
        .code(exit::INVALID)
        .stderr_has("no database configured")
        .stderr_has(
            "6. DATABASE_URL in the nearest of these `.env` files that sets it: .env, ../.env, \
             ../../.env",
        );
}
