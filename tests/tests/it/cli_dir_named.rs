//! What a wrong `--migrations-dir` (or `migrations_dir`) is told: a file named in the
//! directory's place is never to be moved away (an applied migration, `Cargo.toml`), and a
//! directory mistyped beside the project's own is never created in silence (hcl A, B).

use confiture::exit;
use confiture_tests::Project;

/// A database no test reaches: the files are read and refused before connecting.
const NOWHERE: &str = "postgresql://nobody@127.0.0.1:1/none";

/// `--migrations-dir db/migrations/001_a.up.sql` (or `Cargo.toml`) was helped with "it is a
/// file: move it away and create the directory": followed, an applied migration (or the
/// manifest) is moved aside. The help says that the flag names a file and suggests the
/// directory that holds it when that directory holds migrations; nothing is to be moved.
#[test]
fn a_migrations_dir_naming_a_file_suggests_its_directory_and_never_moving_it() {
    let project = Project::two_tables();
    let file = "db/migrations/001_a.up.sql";
    for args in [
        &[
            "migrate",
            "up",
            "--migrations-dir",
            file,
            "--database-url",
            NOWHERE,
        ][..],
        &["migrate", "generate", "add_c", "--migrations-dir", file],
        &["lint", "--migrations-dir", file],
    ] {
        let run = project.run(args);
        run.code(exit::INVALID)
            .stderr_has(&format!(
                "migrations directory `{file}` is a file, not a directory"
            ))
            .stderr_lacks("move");
        assert_eq!(
            run.help_line(),
            "help: --migrations-dir names a file: did you mean `--migrations-dir db/migrations`? \
             (the directory that holds it)",
            "{}",
            run.dump()
        );
    }
    // A file whose directory holds no migrations: no directory guessed, nothing moved.
    for args in [
        &[
            "migrate",
            "up",
            "--migrations-dir",
            "Cargo.toml",
            "--database-url",
            NOWHERE,
        ][..],
        &[
            "migrate",
            "generate",
            "add_c",
            "--migrations-dir",
            "Cargo.toml",
        ],
    ] {
        let run = project.run(args);
        run.code(exit::INVALID)
            .stderr_has("migrations directory `Cargo.toml` is a file, not a directory")
            .stderr_lacks("move")
            .stderr_lacks("did you mean");
        assert_eq!(
            run.help_line(),
            "help: --migrations-dir names a file: point --migrations-dir at the directory that \
             holds the migrations",
            "{}",
            run.dump()
        );
    }
    // A file above the directory: never moved either.
    let run = project.run(&["lint", "--migrations-dir", "Cargo.toml/migrations"]);
    run.code(exit::INVALID)
        .stderr_has("`Cargo.toml` is a file, not a directory")
        .stderr_lacks("move");
    // Named by the setting: the setting is what to point at the directory.
    project.write(
        "Cargo.toml",
        format!("[workspace]\nmembers = []\n\n[workspace.metadata.confiture]\nmigrations_dir = \"{file}\"\n"),
    );
    let run = project.run(&["lint"]);
    run.code(exit::INVALID)
        .stderr_has("is a file, not a directory")
        .stderr_lacks("move")
        .stderr_has(
            "did you mean `db/migrations` (the directory that holds it)? point `migrations_dir` in",
        );
    assert!(project.path(file).is_file());
}

/// hgn 4: with no `migrations_dir` set, a file at the default `db/migrations` was helped with
/// "`migrations_dir` names a file: point `migrations_dir` in ...", blaming a setting never
/// written. The help says where the directory came from: the default (no setting), the
/// setting, the flag.
#[test]
fn a_file_in_place_of_the_migrations_directory_is_named_by_where_the_directory_came_from() {
    let project = Project::new();
    std::fs::remove_dir(project.path("db/migrations")).expect("remove db/migrations");
    project.write("db/migrations", "not a directory\n");
    let runs = |project: &Project| {
        [
            &["lint"][..],
            &["migrate", "generate", "add_c"],
            &["migrate", "up", "--database-url", NOWHERE],
        ]
        .map(|args| {
            let run = project.run(args);
            run.code(exit::INVALID)
                .stderr_has("migrations directory `db/migrations` is a file, not a directory");
            run
        })
    };
    for run in runs(&project) {
        let help = run.help_line();
        assert!(
            help.starts_with(
                "help: the default migrations directory is a file (no `migrations_dir` is set): \
                 point `migrations_dir` in"
            ),
            "{}",
            run.dump()
        );
        run.stderr_lacks("`migrations_dir` names a file");
    }
    // Set, the setting names it.
    project.write(
        "Cargo.toml",
        "[workspace]\nmembers = []\n\n[workspace.metadata.confiture]\nmigrations_dir = \"db/migrations\"\n",
    );
    for run in runs(&project) {
        assert!(
            run.help_line()
                .starts_with("help: `migrations_dir` names a file: point `migrations_dir` in"),
            "{}",
            run.dump()
        );
    }
}

/// `migrate generate add_x --migrations-dir db/migration` beside `db/migrations` created
/// `db/migration/001_add_x.*`, a second history, exit 0; `up --migrations-dir db/migration`
/// said to create it. A missing directory whose name is close to a directory of migrations
/// beside it (`text::did_you_mean`, the rule of every other name) is refused by `generate`
/// (usage, exit 64), naming the close one and how to start the new one on purpose; `up`'s
/// help names the close one first.
#[test]
fn a_mistyped_migrations_dir_is_not_created_beside_a_close_one() {
    let project = Project::two_tables();
    let generate = [
        "migrate",
        "generate",
        "add_x",
        "--migrations-dir",
        "db/migration",
    ];
    for dry_run in [&[][..], &["--dry-run"]] {
        let run = project.run(&[&generate[..], dry_run].concat());
        run.code(exit::USAGE)
            .stderr_has(
                "migrations directory `db/migration` does not exist, but `db/migrations`, a \
                 directory of migrations with a close name, does",
            )
            .stdout_lacks("001_add_x");
        assert_eq!(
            run.help_line(),
            "help: did you mean `--migrations-dir db/migrations`? or, to start a new migrations \
             directory there, create it first (`mkdir -p db/migration`)",
            "{}",
            run.dump()
        );
        assert!(!project.path("db/migration").exists(), "{}", run.dump());
    }
    // JSON: the same usage error.
    let run = project.run(&[&generate[..], &["--format", "json"]].concat());
    run.code(exit::USAGE);
    assert_eq!(run.json()["error"]["kind"], "usage", "{}", run.dump());

    // `up`: the close one first, then how to start a new one.
    let run = project.run(&[
        "migrate",
        "up",
        "--migrations-dir",
        "db/migratons",
        "--database-url",
        NOWHERE,
    ]);
    run.code(exit::INVALID)
        .stderr_has("migrations directory `db/migratons` does not exist");
    assert!(
        run.help_line()
            .starts_with("help: did you mean `--migrations-dir db/migrations`?"),
        "{}",
        run.dump()
    );

    // Created on purpose, as the help says: `generate` writes there.
    std::fs::create_dir(project.path("db/migration")).expect("mkdir");
    project.run(&generate).code(exit::SUCCESS);
    assert!(project.path("db/migration/001_add_x.up.sql").is_file());

    // A close name that holds no migrations (the environments directory) is no suggestion:
    // `db/environment` is a new directory, created as ever.
    project
        .run(&[
            "migrate",
            "generate",
            "add_y",
            "--migrations-dir",
            "db/environment",
        ])
        .code(exit::SUCCESS)
        .stderr_lacks("did you mean");
}

/// The example's `db/` copied out of its workspace (`cp -r db /tmp/x/`): its Cargo.toml
/// inherits `version.workspace = true`, which cargo cannot read there — the tool read it as a
/// project of its own, looked for `db/db/migrations` and said to create it with `migrate
/// generate`, a second, empty history beside `migrations/`. The manifest is refused (exit 5,
/// naming it and cargo's reason); once it reads, a missing migrations directory while
/// `migrations/` with migrations is in the current directory (or its parent) is helped to it,
/// and `generate` refuses to create the other.
#[test]
fn a_package_copied_out_of_its_workspace_is_never_given_a_second_history() {
    let project = Project::new();
    std::fs::remove_dir_all(project.path("db")).expect("remove db/");
    project.write(
        "Cargo.toml",
        "[package]\nname = \"copied\"\nversion.workspace = true\nedition = \"2021\"\n",
    );
    project.write("migrations/001_a.up.sql", "CREATE TABLE a (id int);\n");
    project.write("migrations/001_a.down.sql", "DROP TABLE a;\n");
    let run = project.run(&["lint"]);
    run.code(exit::INVALID).stderr_has(
        "error: `Cargo.toml` cannot be read by cargo: `package.version.workspace = true` \
         (Cargo.toml:3) inherits `workspace.package.version` from a workspace, but no \
         Cargo.toml with `[workspace]` encloses it (cargo: failed to find a workspace root)",
    );
    project.write(
        "Cargo.toml",
        "[package]\nname = \"copied\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    for dir in ["", "src"] {
        std::fs::create_dir_all(project.path("src")).expect("mkdir src");
        let run =
            confiture_tests::Run::of(project.cli().current_dir(project.path(dir)).args(["lint"]));
        run.code(exit::INVALID)
            .stderr_has("did you mean `")
            .stderr_lacks("migrate generate NAME");
        let run = confiture_tests::Run::of(
            (project.cli().current_dir(project.path(dir))).args(["migrate", "generate", "t"]),
        );
        run.code(exit::USAGE)
            .stderr_has("a directory of migrations with a close name, does");
        assert!(!project.path("db").exists(), "{}", run.dump());
    }
}

/// `environments_dir = "Cargo.toml"` was "cannot tell whether the default environment file
/// Cargo.toml/local.yaml exists: Not a directory", its help "fix or remove
/// Cargo.toml/local.yaml". The error names the setting (its `Cargo.toml:LINE`) and says that it
/// names a file; `--env` alike.
#[test]
fn an_environments_dir_naming_a_file_names_the_setting() {
    let project = Project::two_tables();
    project.write(
        "Cargo.toml",
        "[workspace]\nmembers = []\n\n[workspace.metadata.confiture]\n\
         environments_dir = \"Cargo.toml\"\n",
    );
    for args in [
        &["migrate", "status"][..],
        &["migrate", "status", "--env", "local"],
    ] {
        let run = project.run(args);
        run.code(exit::INVALID)
            .stderr_has(
                "`environments_dir` in `[workspace.metadata.confiture]` of `Cargo.toml:5` names \
                 Cargo.toml, a file, not a directory",
            )
            .stderr_lacks("fix or remove");
    }
}

/// The environment files in `./environments` while the environments directory is
/// `db/environments`, which does not exist: "no database configured" (or "environment not
/// found: db/environments holds no environment files") said nothing of them. The help names the
/// directory that holds them and the setting that would read it.
#[test]
fn environment_files_beside_the_environments_directory_are_named() {
    let project = Project::two_tables();
    std::fs::remove_dir(project.path("db/environments")).expect("remove db/environments");
    project.write(
        "environments/local.yaml",
        "database_url: postgresql://nobody@127.0.0.1:1/none\n",
    );
    for args in [
        &["migrate", "status"][..],
        &["migrate", "status", "--env", "local"],
    ] {
        let run = project.run(args);
        run.code(exit::INVALID).stderr_has(
            "db/environments does not exist, but environments holds environment files (local)",
        );
        assert!(
            run.help_line()
                .contains("environments_dir = \"environments\""),
            "{}",
            run.dump()
        );
    }
}
