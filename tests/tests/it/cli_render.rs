//! How the CLI renders what it did, as a person reads it: nothing from outside (ledger rows,
//! file names) reaches the terminal as control characters; suggested commands repeat how the
//! database was chosen; paths are relative to where the user stands; long runs are summarised
//! in one short line; detail lists and connection errors read cleanly.

use confiture::exit;
use confiture_tests::{Project, Run, TestDb};

/// Asserts that no control character other than a newline reached stdout or stderr (the
/// harness sets NO_COLOR, so the CLI's own colours are off).
#[track_caller]
fn no_control_characters(run: &Run) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let bad: Vec<char> = text
            .chars()
            .filter(|c| (c.is_control() && *c != '\n') || ('\u{202a}'..='\u{202e}').contains(c))
            .collect();
        assert!(bad.is_empty(), "{stream} holds {bad:?}\n{}", run.dump());
    }
}

fn one_migration() -> Project {
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project
}

#[test]
fn ledger_rows_with_control_characters_are_shown_escaped() {
    let db = TestDb::new("render_escape");
    let project = one_migration();
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    db.connect()
        .batch_execute(
            "INSERT INTO tb_confiture (slug, version, name, execution_time_ms, checksum) \
             VALUES ('x', E'002\\x1b[2J', E'clear\\x1b[2J\\nerror: forged line\\u202e', 0, 'x')",
        )
        .expect("insert a hostile ledger row");
    // The table, the advice, and the refusals that name the row.
    let status = project.run_on(&db, &["migrate", "status"]);
    status
        .code(exit::DIVERGED)
        .stdout_has("002\\x1b[2J_clear\\x1b[2J\\nerror: forged line\\u{202e}");
    no_control_characters(&status);
    assert!(
        !status
            .stderr
            .lines()
            .any(|l| l.starts_with("error: forged")),
        "a newline in a name forged a line\n{}",
        status.dump()
    );
    for args in [
        &["migrate", "up"][..],
        &["migrate", "down"],
        &["migrate", "down", "--dry-run"],
        &["migrate", "reinit", "--dry-run"],
    ] {
        let run = project.run_on(&db, args);
        no_control_characters(&run);
    }
    // JSON keeps the raw value, escaped by JSON itself.
    let json = project.run_on(&db, &["migrate", "status", "--format", "json"]);
    assert!(
        !json.stdout.chars().any(|c| c.is_control() && c != '\n'),
        "{}",
        json.dump()
    );
    let doc = json.json();
    let names: Vec<&str> = doc["migrations"]
        .as_array()
        .expect("migrations")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(
        names.contains(&"clear\x1b[2J\nerror: forged line\u{202e}"),
        "{names:?}"
    );
}

#[test]
fn file_names_and_sql_with_control_characters_are_shown_escaped() {
    let project = one_migration();
    project.write("db/migrations/002_b\x1b[2J.up.sql", "SELECT 1;\n");
    project.write(
        "db/migrations/003_c.up.sql",
        "-- \x1b]0;owned\x07\nCREATE INDEX i ON a (id);\n",
    );
    project.write("db/migrations/003_c.down.sql", "DROP INDEX i;\n");
    let lint = project.run(&["lint"]);
    lint.code(exit::INVALID).stderr_has("002_b\\x1b[2J.up.sql");
    no_control_characters(&lint);
    let dry = project.run(&[
        "migrate",
        "up",
        "--dry-run",
        "--database-url",
        "postgresql://postgres@127.0.0.1:1/x",
    ]);
    no_control_characters(&dry);
}

/// Every suggested command repeats how the database was chosen: pasting it acts on the same
/// database. A URL is never repeated (it may hold a password): a placeholder stands for it.
#[test]
fn hints_repeat_the_selection() {
    let db = TestDb::new("render_hints");
    let project = one_migration();
    project.write(
        "db/environments/dev.yaml",
        format!("database_url: {}\n", db.url()),
    );
    // Not initialised: "run `... migrate up`".
    project
        .run(&["migrate", "status", "--env", "dev"])
        .code(exit::NOT_INITIALISED)
        .stderr_has("`cargo confiture migrate up --env dev`");
    project
        .run(&["migrate", "status", "-c", "db/environments/dev.yaml"])
        .stderr_has("`cargo confiture migrate up -c db/environments/dev.yaml`");
    let secret_url = db.url().replace("postgres@", "postgres:s3cret@");
    project
        .run(&["migrate", "status", "--database-url", &secret_url])
        .stderr_has("`cargo confiture migrate up --database-url <URL>`")
        .stderr_lacks("s3cret");
    // Edited after it ran: the reinit suggestion (a library help line) repeats it too.
    project
        .run(&["migrate", "up", "--env", "dev"])
        .code(exit::SUCCESS);
    project.write(
        "db/migrations/001_a.up.sql",
        "CREATE TABLE a (id bigint);\n",
    );
    let run = project.run(&["migrate", "up", "--env", "dev"]);
    run.code(exit::DIVERGED)
        .stderr_has("`cargo confiture migrate reinit --env dev`");
    // A directory named on the command line is repeated, and only it for commands that
    // read files.
    let other = Project::new();
    other.write("sql/001_a.up.sql", "SELECT 1;\n");
    other
        .run_on(&db, &["migrate", "up", "--migrations-dir", "sql"])
        .code(exit::INVALID)
        .stderr_has("`cargo confiture lint --migrations-dir sql`");
    let run = other.run(&["migrate", "generate", "b", "--migrations-dir", "sql"]);
    run.code(exit::INVALID)
        .stderr_has("`cargo confiture lint --migrations-dir sql`");
    // Every suggested command that works on a database names the one the user chose
    // (`migrate generate` works on files alone and names none).
    for args in [&["migrate", "status", "--env", "dev"][..]] {
        let run = project.run(args);
        let mut suggested = 0;
        for line in run.stderr.lines() {
            for (at, _) in line.match_indices("`cargo confiture migrate") {
                let command = &line[at..];
                let end = command[1..].find('`').map_or(command.len(), |e| e + 2);
                let command = &command[..end];
                if command.starts_with("`cargo confiture migrate generate") {
                    assert!(!command.contains("--env"), "{line}\n{}", run.dump());
                    continue;
                }
                suggested += 1;
                assert!(command.contains("--env dev"), "{line}\n{}", run.dump());
            }
        }
        assert!(suggested > 0, "no command suggested\n{}", run.dump());
    }
}

/// Paths in messages are relative to where the user stands: `../../db/migrations` from
/// `app/src`, never the absolute path of the workspace.
#[test]
fn paths_are_relative_to_the_current_directory() {
    let db = TestDb::new("render_paths");
    let project = Project::new();
    project.write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"app\"]\nresolver = \"2\"\n",
    );
    project.write(
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    project.write("app/src/main.rs", "fn main() {}\n");
    project.write(
        "db/environments/local.yaml",
        format!("database_url: {}\n", db.url()),
    );
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.write("db/migrations/002_b.up.sql", "SELECT 1;\n");
    let root = project.root.display().to_string();
    let from_src = |args: &[&str]| {
        Run::of(
            project
                .cli()
                .current_dir(project.path("app/src"))
                .args(args),
        )
    };

    let lint = from_src(&["lint"]);
    lint.code(exit::INVALID)
        .stderr_has(" --> ../../db/migrations/002_b.up.sql")
        .stderr_has("could not lint ../../db/migrations")
        .stderr_lacks(&root);
    let status = from_src(&["migrate", "status"]);
    status
        .code(exit::INVALID)
        .stderr_has("../../db/migrations/002_b.up.sql")
        .stderr_lacks(&root);
    project.remove("db/migrations/002_b.up.sql");
    let status = from_src(&["migrate", "status"]);
    status
        .code(exit::NOT_INITIALISED)
        .stderr_has("using local (../../db/environments/local.yaml)")
        .stderr_lacks(&root);
    let generate = from_src(&["migrate", "generate", "c"]);
    generate
        .code(exit::SUCCESS)
        .stdout_has("created ../../db/migrations/002_c.up.sql")
        .stdout_lacks(&root);
}

/// A run of many migrations ends with one short line; the JSON report keeps every version.
#[test]
fn summaries_of_big_runs_are_short() {
    let db = TestDb::new("render_summary");
    let project = Project::new();
    for v in 1..=40 {
        project.migration(
            &format!("{v:04}_m{v}"),
            &format!("CREATE TABLE t{v} (id int);\n"),
            &format!("DROP TABLE t{v};\n"),
        );
    }
    let up = project.run_on(&db, &["migrate", "up", "-q"]);
    up.code(exit::SUCCESS);
    let line = up.stdout.trim();
    assert!(
        line.starts_with("applied 40 migrations in ") && line.ends_with(" ms: 0001…0040"),
        "{}",
        up.dump()
    );
    let down = project.run_on(
        &db,
        &[
            "migrate", "down", "--target", "0", "--yes", "--format", "json",
        ],
    );
    down.code(exit::SUCCESS);
    assert_eq!(
        down.json()["rolled_back"].as_array().map(Vec::len),
        Some(40)
    );
    let baseline = project.run_on(&db, &["migrate", "baseline", "--through", "0030"]);
    baseline
        .code(exit::SUCCESS)
        .stdout_has("recorded 30 migrations as applied without running them: 0001_m1…0030_m30");
}

#[test]
fn detail_lists_have_one_bullet_and_connection_errors_name_the_host_once() {
    let project = one_migration();
    let run = project.run(&["migrate", "status"]);
    run.code(exit::INVALID)
        .stderr_has("\n    1. --database-url")
        .stderr_lacks("-   1.");
    let run = project.run(&[
        "migrate",
        "status",
        "--database-url",
        "postgresql://postgres@127.0.0.1:1/app",
    ]);
    run.code(exit::CONNECTION);
    let error = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line\n{}", run.dump()));
    assert_eq!(error.matches("127.0.0.1").count(), 1, "{}", run.dump());
    let help = run
        .stderr
        .lines()
        .find(|l| l.trim_start().starts_with("help:"))
        .unwrap_or_else(|| panic!("no help line\n{}", run.dump()));
    assert!(!help.contains("127.0.0.1"), "{}", run.dump());
}

/// No migrations directory yet: `lint` and `status` say how to start, not only which setting
/// points elsewhere.
#[test]
fn a_project_without_migrations_says_how_to_start() {
    let project = Project::new();
    std::fs::remove_dir_all(project.path("db/migrations")).expect("remove db/migrations");
    for args in [
        &["lint"][..],
        &[
            "migrate",
            "status",
            "--database-url",
            "postgresql://postgres@127.0.0.1:1/x",
        ],
    ] {
        project
            .run(args)
            .code(exit::INVALID)
            .stderr_has("`db/migrations` does not exist")
            .stderr_has("`cargo confiture migrate generate NAME` creates it")
            // The command line's flag, never the library's `Migrator::new` argument.
            .stderr_has("(or --migrations-dir) at their directory")
            .stderr_lacks("Migrator::new")
            .stderr_lacks("using ");
    }
}

/// `-q` silences progress, not the `using ...` line nor results; `--help` says so.
#[test]
fn quiet_keeps_the_using_line_and_says_so() {
    let db = TestDb::new("render_quiet");
    let project = one_migration();
    let run = project.run_on(&db, &["migrate", "up", "-q"]);
    run.code(exit::SUCCESS)
        .stderr_has("using --database-url:")
        .stderr_lacks("applied 001_a (")
        .stdout_has("applied 1 migration");
    let help = project.run(&["migrate", "up", "--help"]);
    help.code(exit::SUCCESS).stdout_has("the `using ...` line");
}

/// `reinit` on a database whose ledger records nothing (here: no tracking table) says so, not
/// that "the ledger matches the files" (read as "all applied"), and creates nothing.
#[test]
fn reinit_of_an_empty_ledger_says_it_records_nothing() {
    let db = TestDb::new("render_reinit_empty");
    let project = one_migration();
    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS)
        .stdout_has("nothing to change: the ledger records no migration")
        .stdout_lacks("matches the files");
    assert_eq!(db.ledger(), None, "no table was created");
}

/// `reinit` with nothing to do names `--through VERSION` only where it helps: without
/// `--through`, while a migration file has no row. It said "`--through VERSION` also records
/// migrations that have no row" after `reinit --through 002`, and when every file had one.
#[test]
fn reinit_with_nothing_to_do_suggests_through_only_where_it_helps() {
    let db = TestDb::new("render_reinit_hint");
    let project = Project::new();
    project
        .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration("002_b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let quiet: [&[&str]; 3] = [
        &["migrate", "reinit"],
        &["migrate", "reinit", "--dry-run"],
        &["migrate", "reinit", "--through", "002"],
    ];
    for args in quiet {
        project
            .run_on(&db, args)
            .code(exit::SUCCESS)
            .stdout_has("nothing to change: the ledger matches the files")
            .stdout_lacks("--through");
    }
    // 003 has no row: `--through` could record it, unless it was given (up to 002).
    project.migration("003_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n");
    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS)
        .stdout_has("nothing to change: the ledger matches the files")
        .stdout_has("`--through VERSION` also records migrations that have no row");
    project
        .run_on(&db, &["migrate", "reinit", "--through", "002"])
        .code(exit::SUCCESS)
        .stdout_has("nothing to change: the ledger matches the files")
        .stdout_lacks("--through");
    assert_eq!(
        db.ledger().expect("the ledger"),
        ["001:a", "002:b"],
        "nothing was written"
    );
}

/// `db/migrations` is a symbolic link that leads nowhere (its target missing, a file, a loop):
/// the error says it is a link, names the link and its target, and says what to do — not
/// "does not exist" about a path the user can see.
#[cfg(unix)]
#[test]
fn a_migrations_directory_that_is_a_broken_link_names_the_link_and_its_target() {
    let project = Project::new();
    let link = project.path("db/migrations");
    std::fs::remove_dir_all(&link).expect("remove db/migrations");
    let status = [
        "migrate",
        "status",
        "--database-url",
        "postgresql://postgres@127.0.0.1:1/x",
    ];
    // A missing target, written relative to the link as `ln -s` users do.
    std::os::unix::fs::symlink("../gone/migrations", &link).expect("symlink");
    for args in [&["lint"][..], &status[..]] {
        let run = project.run(args);
        run.code(exit::INVALID)
            .stderr_has(
                "migrations directory `db/migrations` is a symbolic link to \
                 `db/../gone/migrations`, which does not exist",
            )
            .stderr_has("create `db/../gone/migrations`")
            .stderr_has("ln -sfn DIR db/migrations")
            .stderr_lacks("using ");
    }
    let json = project.run(&["lint", "--format", "json"]);
    json.code(exit::INVALID);
    assert!(
        json.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("is a symbolic link to")),
        "{}",
        json.dump()
    );
    // A target that is a file.
    std::fs::remove_file(&link).expect("remove link");
    project.write("db/notes.txt", "not a directory\n");
    std::os::unix::fs::symlink("notes.txt", &link).expect("symlink");
    project
        .run(&status)
        .code(exit::INVALID)
        .stderr_has("is a symbolic link to `db/notes.txt`, which is not a directory");
    // A loop.
    std::fs::remove_file(&link).expect("remove link");
    std::os::unix::fs::symlink("migrations", &link).expect("symlink");
    project
        .run(&status)
        .code(exit::INVALID)
        .stderr_has("is a symbolic link to `db/migrations`, which cannot be followed");
}

/// The refusal over applied migrations whose pairs are incomplete or misnamed counts
/// migrations, not files: one migration with both files misnamed (`001_t1.UP.sql`,
/// `001_t1.DOWN.sql`) was "2 applied migrations".
#[test]
fn incomplete_pairs_are_counted_by_migration() {
    let db = TestDb::new("render_incomplete_count");
    let project = Project::new();
    project.table("001_t1").table("002_t2").table("003_t3");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let rename = |from: &str, to: &str| {
        std::fs::rename(project.path(from), project.path(to)).expect("rename");
    };
    rename("db/migrations/001_t1.up.sql", "db/migrations/001_t1.UP.sql");
    rename(
        "db/migrations/001_t1.down.sql",
        "db/migrations/001_t1.DOWN.sql",
    );
    project
        .run_on(&db, &["migrate", "reinit", "--dry-run"])
        .code(exit::INVALID)
        .stderr_has("has an applied migration whose pair of files is incomplete or misnamed")
        // Both files are there: to rename, nothing to restore (hvd).
        .stderr_has("rename each misnamed file as its `C006` error says")
        .stderr_lacks("restore the other file of each pair")
        .stderr_lacks("2 applied migrations");
    // Two migrations: one misnamed (two files), one half there.
    project.remove("db/migrations/002_t2.down.sql");
    project
        .run_on(&db, &["migrate", "reinit", "--dry-run"])
        .code(exit::INVALID)
        .stderr_has("has 2 applied migrations whose pairs of files are incomplete or misnamed")
        .stderr_has("restore the other file of each pair")
        .stderr_lacks("3 applied migrations");
}

/// A command that records migrations without running them (`baseline`, `reinit
/// --through`) refused for file errors says "nothing was recorded"; `up` says "nothing was
/// run".
#[test]
fn a_file_refusal_says_what_the_command_would_have_done() {
    let db = TestDb::new("render_nothing_verb");
    let project = Project::new();
    project.table("001_t1");
    project.migration("002_b", "SELECT 'x;\n", "SELECT 1;\n");
    for args in [
        &["migrate", "baseline", "--through", "002"][..],
        &["migrate", "baseline", "--through", "002", "--dry-run"],
    ] {
        project
            .run_on(&db, args)
            .code(exit::INVALID)
            .stderr_has("has 1 error; nothing was recorded")
            .stderr_lacks("nothing was run");
    }
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::INVALID)
        .stderr_has("has 1 error; nothing was run");
    project.remove("db/migrations/002_b.up.sql");
    project.remove("db/migrations/002_b.down.sql");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project.migration("002_b", "SELECT 'x;\n", "SELECT 1;\n");
    project
        .run_on(&db, &["migrate", "reinit", "--through", "002"])
        .code(exit::INVALID)
        .stderr_has("has 1 error; nothing was recorded")
        .stderr_lacks("nothing was run");
}

/// `reinit` keeps the rows it may not forget that have no file (above the newest file, a newer
/// release's): its stdout says so, never "the ledger matches the files" — which it said for a
/// migrations directory with no migration at all.
#[test]
fn reinit_keeping_rows_with_no_file_does_not_say_the_ledger_matches() {
    let db = TestDb::new("render_reinit_no_file");
    let project = Project::new();
    project.table("001_t1").table("002_t2");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    std::fs::create_dir_all(project.path("empty")).expect("mkdir");
    for args in [
        &["migrate", "reinit", "--migrations-dir", "empty"][..],
        &[
            "migrate",
            "reinit",
            "--migrations-dir",
            "empty",
            "--dry-run",
        ],
    ] {
        project
            .run_on(&db, args)
            .code(exit::SUCCESS)
            .stdout_has("2 rows with no file on disk as they are")
            .stdout_lacks("matches the files")
            .stdout_lacks("nothing to change");
    }
    project.remove("db/migrations/002_t2.up.sql");
    project.remove("db/migrations/002_t2.down.sql");
    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS)
        .stdout_has("kept 1 row as it is (no change): 001_t1")
        .stdout_has("kept 1 row with no file on disk as it is")
        .stdout_lacks("matches the files");
    assert_eq!(ledger_of(&db), ["001:t1", "002:t2"]);
}

fn ledger_of(db: &TestDb) -> Vec<String> {
    db.ledger().expect("the ledger exists")
}

/// hgn 5: `generate` refuses a name over 200 bytes, but a pair named by hand with 240 passed
/// `lint` in silence, and the `status` and `verify` tables stretched to ~260 columns. `lint`
/// warns of it by the same limit (C017), and the tables cut a long migration's cell; the JSON
/// keeps the whole name.
#[test]
fn a_migration_name_longer_than_generate_accepts_is_warned_and_cut_in_tables() {
    let long = format!("create_{}", "x".repeat(233));
    let id = format!("001_{long}");
    let project = Project::new();
    project.migration(&id, "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.migration("002_b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
    project
        .run(&["lint"])
        .code(exit::SUCCESS)
        .stderr_has("warning[C017]")
        .stderr_has("240 bytes long, longer than the 200 bytes `migrate generate` accepts");
    // The limit itself is no warning.
    let project_200 = Project::new();
    project_200.migration(
        &format!("001_{}", "y".repeat(200)),
        "CREATE TABLE a (id int);\n",
        "DROP TABLE a;\n",
    );
    project_200
        .run(&["lint"])
        .code(exit::SUCCESS)
        .stderr_lacks("C017");

    let db = TestDb::new("hgn_long_name");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let widest = |run: &Run| {
        run.stdout
            .lines()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0)
    };
    let status = project.status_on(&db);
    status.code(exit::SUCCESS).stdout_has("…");
    assert!(widest(&status) <= 120, "{}", status.dump());
    let json = project.status_json_on(&db);
    json.code(exit::SUCCESS);
    assert_eq!(json.json()["migrations"][0]["name"], long.as_str());
    let verify = project.run_on(&db, &["migrate", "verify"]);
    verify.code(exit::SUCCESS).stdout_has("…");
    assert!(widest(&verify) <= 120, "{}", verify.dump());
}
