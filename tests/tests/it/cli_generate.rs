//! `migrate generate NAME` as a user runs it: the next pair of files, numbered after the
//! highest, in the workspace's migrations directory, wherever in the workspace it is run.
//! No database is involved.

use std::collections::BTreeSet;
use std::path::Path;

use confiture::exit;
use confiture_tests::{Project, Run};

/// The migration files of a project, sorted.
fn files(project: &Project, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(project.path(dir))
        .map(|entries| {
            entries
                .map(|e| {
                    e.expect("read dir")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A workspace without `db/` at all: what `cargo new` gives.
fn fresh_workspace() -> Project {
    let project = Project::new();
    std::fs::remove_dir_all(project.path("db")).expect("remove db/");
    project
}

#[test]
fn first_and_second_migrations_in_a_fresh_workspace() {
    let project = fresh_workspace();
    project
        .run(&["migrate", "generate", "add_bio_to_users"])
        .code(exit::SUCCESS)
        .stdout_has("db/migrations/001_add_bio_to_users.up.sql")
        .stdout_has("db/migrations/001_add_bio_to_users.down.sql");
    assert_eq!(
        files(&project, "db/migrations"),
        [
            "001_add_bio_to_users.down.sql",
            "001_add_bio_to_users.up.sql"
        ]
    );
    // The pair just created is still empty (a lint error until written): it must not stop
    // the next one.
    project
        .run(&["migrate", "generate", "add_avatar_url"])
        .code(exit::SUCCESS)
        .stdout_has("002_add_avatar_url.up.sql");
    assert_eq!(
        files(&project, "db/migrations"),
        [
            "001_add_bio_to_users.down.sql",
            "001_add_bio_to_users.up.sql",
            "002_add_avatar_url.down.sql",
            "002_add_avatar_url.up.sql",
        ]
    );
    // The templates say what to do, and lint names them until they are written.
    let up = project.read("db/migrations/001_add_bio_to_users.up.sql");
    assert!(
        up.starts_with("-- Migration 001: add_bio_to_users\n"),
        "{up}"
    );
    project
        .run(&["lint"])
        .code(exit::INVALID)
        .stderr_has("001_add_bio_to_users.up.sql");
}

#[test]
fn an_invalid_name_is_refused_with_a_suggestion() {
    let project = fresh_workspace();
    for (name, suggestion) in [("add bio", "add_bio"), ("AddBio", "add_bio")] {
        let run = project.run(&["migrate", "generate", name]);
        // An invalid name is invalid input (5), as the README's exit code table says; never a
        // clap usage error.
        run.code(exit::INVALID)
            .stderr_has(&format!("`{name}` is not a valid migration name"))
            .stderr_has(&format!("use `{suggestion}`"));
    }
    assert!(
        !project.path("db/migrations").exists() || files(&project, "db/migrations").is_empty(),
        "a refused name wrote files"
    );
    // The README documents what the code does.
    let readme = std::fs::read_to_string(confiture_tests::workspace_root().join("README.md"))
        .expect("read README.md");
    assert!(
        readme.contains("lowercase snake_case") && readme.contains("exit 5"),
        "README.md should say that generate takes a lowercase snake_case name and exits 5 otherwise"
    );
}

#[test]
fn never_overwrites_an_existing_file() {
    let project = Project::new();
    // A leftover down file with the number and name generate would choose.
    project.write("db/migrations/001_add_bio.down.sql", "-- mine\n");
    project
        .run(&["migrate", "generate", "add_bio"])
        .code(exit::INVALID)
        .stderr_has("001_add_bio.down.sql");
    assert_eq!(
        project.read("db/migrations/001_add_bio.down.sql"),
        "-- mine\n"
    );
    assert_eq!(files(&project, "db/migrations"), ["001_add_bio.down.sql"]);

    // The up half exists (an orphan with the chosen stem), the down half does not: still no
    // write, and no half pair left behind.
    let project = Project::new();
    project.migration("001_a", "SELECT 1;\n", "SELECT 1;\n");
    project.write("db/migrations/002_b.up.sql", "-- mine\n");
    project
        .run(&["migrate", "generate", "b"])
        .code(exit::INVALID)
        .stderr_has("002_b.up.sql");
    assert_eq!(project.read("db/migrations/002_b.up.sql"), "-- mine\n");
    assert!(!project.path("db/migrations/002_b.down.sql").exists());
}

#[test]
fn dry_run_writes_nothing() {
    let project = fresh_workspace();
    project
        .run(&["migrate", "generate", "add_bio", "--dry-run"])
        .code(exit::SUCCESS)
        .stdout_has("would create")
        .stdout_has("001_add_bio.up.sql");
    assert!(
        !project.path("db/migrations").exists(),
        "--dry-run created the directory"
    );
    let project = Project::new();
    project.migration("001_a", "SELECT 1;\n", "SELECT 1;\n");
    let run = project.run(&["migrate", "generate", "b", "--dry-run", "--format", "json"]);
    run.code(exit::SUCCESS);
    assert_eq!(run.json()["dry_run"], true);
    assert_eq!(
        files(&project, "db/migrations"),
        ["001_a.down.sql", "001_a.up.sql"]
    );
}

#[test]
fn json_output_is_one_document_with_the_new_files() {
    let project = Project::new();
    let run = project.run(&[
        "migrate",
        "generate",
        "add_bio_to_users",
        "--format",
        "json",
    ]);
    run.code(exit::SUCCESS);
    let doc = run.json();
    let keys: BTreeSet<&str> = doc
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["version", "name", "up", "down", "dry_run"]),
        "{doc}"
    );
    assert_eq!(doc["version"], "001");
    assert_eq!(doc["name"], "add_bio_to_users");
    assert_eq!(doc["dry_run"], false);
    for (key, file) in [
        ("up", "001_add_bio_to_users.up.sql"),
        ("down", "001_add_bio_to_users.down.sql"),
    ] {
        let path = doc[key].as_str().expect("a path");
        assert!(path.ends_with(&format!("db/migrations/{file}")), "{path}");
        assert!(project.root.join(path).is_file(), "{path} was not written");
    }
    // A refusal in JSON mode is still one document on stdout.
    let run = project.run(&["migrate", "generate", "Bad Name", "--format", "json"]);
    run.code(exit::INVALID);
    assert_eq!(run.json()["error"]["kind"], "invalid");
}

#[test]
fn from_a_subdirectory_the_workspace_root_is_found() {
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
    project.migration("001_a", "SELECT 1;\n", "SELECT 1;\n");
    let run = Run::of(
        project
            .cli()
            .current_dir(project.path("app/src"))
            .args(["migrate", "generate", "add_bio"]),
    );
    run.code(exit::SUCCESS).stdout_has("002_add_bio.up.sql");
    assert!(project.path("db/migrations/002_add_bio.up.sql").is_file());
    assert!(!project.path("app/src/db").exists());
    assert!(!project.path("app/db").exists());
}

#[test]
fn the_workspace_migrations_dir_setting_is_honoured() {
    let project = Project::new();
    project.write(
        "Cargo.toml",
        "[workspace]\nmembers = []\n\n[workspace.metadata.confiture]\nmigrations_dir = \"sql/changes\"\n",
    );
    project.write("sql/changes/001_a.up.sql", "SELECT 1;\n");
    project.write("sql/changes/001_a.down.sql", "SELECT 1;\n");
    project
        .run(&["migrate", "generate", "add_bio"])
        .code(exit::SUCCESS)
        .stdout_has(
            &Path::new("sql/changes/002_add_bio.up.sql")
                .display()
                .to_string(),
        );
    assert_eq!(
        files(&project, "sql/changes"),
        [
            "001_a.down.sql",
            "001_a.up.sql",
            "002_add_bio.down.sql",
            "002_add_bio.up.sql"
        ]
    );
    assert!(files(&project, "db/migrations").is_empty());
    // --migrations-dir beats the setting.
    project
        .run(&["migrate", "generate", "x", "--migrations-dir", "other"])
        .code(exit::SUCCESS);
    assert_eq!(files(&project, "other"), ["001_x.down.sql", "001_x.up.sql"]);
}

#[test]
fn the_existing_width_is_kept() {
    let project = Project::new();
    for v in 1..=9 {
        project.migration(&format!("{v:04}_m{v}"), "SELECT 1;\n", "SELECT 1;\n");
    }
    project
        .run(&["migrate", "generate", "tenth"])
        .code(exit::SUCCESS)
        .stdout_has("0010_tenth.up.sql");
    assert!(project.path("db/migrations/0010_tenth.down.sql").is_file());
    // Versions compare as integers: after 0010 comes 0011, not a second 0010.
    project
        .run(&["migrate", "generate", "eleventh"])
        .code(exit::SUCCESS)
        .stdout_has("0011_eleventh.up.sql");
}

/// Several `migrate generate` at once in one directory (two developers' scripts, a `make -j`):
/// every one succeeds, and no two pairs share a number — the versions are exactly 1..=N, each
/// a complete pair, and nothing else is left in the directory.
#[test]
fn concurrent_generates_never_share_a_number() {
    use std::process::Stdio;
    const RACERS: usize = 10;
    const ROUNDS: usize = 4;
    let project = Project::new();
    let mut generated = 0;
    for round in 0..ROUNDS {
        let children: Vec<_> = (0..RACERS)
            .map(|i| {
                project
                    .cli()
                    .args(["migrate", "generate", &format!("r{round}_m{i}")])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn the CLI")
            })
            .collect();
        for child in children {
            let start = std::time::Instant::now();
            let output = child.wait_with_output().expect("wait for the CLI");
            Run::from_output(output, start.elapsed()).code(exit::SUCCESS);
        }
        generated += RACERS;
        let names = files(&project, "db/migrations");
        assert_eq!(names.len(), 2 * generated, "{names:#?}");
        let mut versions: Vec<(u64, &str)> = Vec::new();
        for name in &names {
            let parsed = confiture::files::name::parse_file_name(name)
                .unwrap_or_else(|e| panic!("{name}: {}", e.reason));
            versions.push((parsed.version, parsed.name));
        }
        versions.sort();
        versions.dedup();
        let numbers: Vec<u64> = versions.iter().map(|v| v.0).collect();
        let expected: Vec<u64> = (1..=generated as u64).collect();
        assert_eq!(numbers, expected, "two pairs share a number:\n{names:#?}");
    }
}

/// A `generate` killed while holding its claim leaves the claim file: the next one says so,
/// naming the file to remove, instead of waiting forever or taking the number anyway.
#[test]
fn a_claim_left_by_a_killed_generate_is_named() {
    let project = Project::new();
    let claim = project.path("db/migrations/.confiture-generate-1.claim");
    let file = std::fs::File::create(&claim).expect("create the claim");
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    file.set_modified(an_hour_ago).expect("age the claim");
    drop(file);
    // hst: `--dry-run` said `would create db/migrations/001_a.up.sql` (exit 0) where the run
    // refuses: the preview refuses alike, and its JSON is the error.
    for dry_run in [&["--dry-run"][..], &["--dry-run", "--format", "json"], &[]] {
        let mut args = vec!["migrate", "generate", "a"];
        args.extend_from_slice(dry_run);
        let run = project.run(&args);
        run.code(exit::INVALID)
            .stderr_lacks("would create")
            .stdout_lacks("would create")
            .stdout_lacks("\"dry_run\"");
        let said = format!("{}{}", run.stdout, run.stderr);
        for needle in [".confiture-generate-1.claim", "did not finish", "rm "] {
            assert!(said.contains(needle), "{args:?}: {}", run.dump());
        }
        assert!(
            run.elapsed < std::time::Duration::from_secs(5),
            "{}",
            run.dump()
        );
    }
    // A claim too young to be called stale (h18 F9) is named too, with its age:
    // `exit_codes::exit_6_when_other_generates_keep_the_next_version_claimed`.
    std::fs::remove_file(&claim).expect("remove the claim");
    project
        .run(&["migrate", "generate", "a"])
        .code(exit::SUCCESS);
    assert_eq!(
        files(&project, "db/migrations"),
        ["001_a.down.sql", "001_a.up.sql"]
    );
}

/// h12 D9: when the newest migration was a confiture (Python) `.py` file, `generate --dry-run`
/// proposed that file's version, and the real run retried it for 10 s, then blamed "other
/// `migrate generate` runs". The `.py` migration is numbered like any other: the next version
/// is above it, alone or after SQL pairs, and the width of its version is kept.
#[test]
fn generate_numbers_after_a_confiture_python_migration() {
    for (files, expected) in [
        (&["001_py.py"][..], "002_first"),
        (
            &[
                "001_a.up.sql",
                "001_a.down.sql",
                "002_b.up.sql",
                "002_b.down.sql",
                "003_py_thing.py",
            ][..],
            "004_first",
        ),
    ] {
        let project = Project::new();
        for file in files {
            project.write(&format!("db/migrations/{file}"), "SELECT 1;\n");
        }
        let dry = project.run(&[
            "migrate",
            "generate",
            "first",
            "--dry-run",
            "--format",
            "json",
        ]);
        dry.code(exit::SUCCESS);
        let version = expected.split('_').next().unwrap();
        assert_eq!(dry.json()["version"], version, "{}", dry.dump());
        let run = project.run(&["migrate", "generate", "first"]);
        run.code(exit::SUCCESS);
        assert!(
            run.elapsed < std::time::Duration::from_secs(5),
            "{}",
            run.dump()
        );
        assert!(
            project
                .path(&format!("db/migrations/{expected}.up.sql"))
                .is_file(),
            "{}",
            run.dump()
        );
    }
}

/// h18 F12: after `9223372036854775807_a` (the largest version, a squashed history starting
/// there), `generate b` wrote `9223372036854775808_b`, which every later command refused
/// (C006: its version is above the largest). It refuses (exit 5) and writes nothing.
#[test]
fn a_version_above_the_largest_is_refused_and_nothing_is_written() {
    let project = Project::new();
    let max = i64::MAX;
    project.write(
        "Cargo.toml",
        format!(
            "[workspace]\nmembers = []\n\n[workspace.metadata.confiture]\nfirst_version = {max}\n"
        ),
    );
    project.migration(&format!("{max}_a"), "SELECT 1;\n", "SELECT 1;\n");
    project.run(&["lint"]).code(exit::SUCCESS);
    let before = files(&project, "db/migrations");
    project
        .run(&["migrate", "generate", "b"])
        .code(exit::INVALID)
        .stderr_has(&format!("no migration can follow version {max}"));
    assert_eq!(files(&project, "db/migrations"), before);
    project.run(&["lint"]).code(exit::SUCCESS);
}

/// hst: a migrations directory that cannot be created — a symbolic link to nowhere, a loop of
/// links, or a path under a file or under a link to nowhere — was taken by `generate` for a
/// fresh project's missing directory, and its creation failed with the system's bare `cannot
/// create db/migrations: File exists (os error 17)`; `lint` said of a path under a file
/// `check its permissions`, and of one under a link to nowhere that `generate` creates it.
/// Each now names what is in the way, `generate` as `lint` does, and nothing is created.
#[cfg(unix)]
#[test]
fn a_migrations_directory_that_cannot_be_created_is_named_as_lint_names_it() {
    use std::os::unix::fs::symlink;
    // What is in the way, made by its setup, and what the error must name.
    type Case = (&'static str, fn(&Project), &'static str);
    let cases: [Case; 5] = [
        (
            "a link to nowhere",
            |p| symlink("nowhere", p.path("db/migrations")).unwrap(),
            "is a symbolic link to `db/nowhere`, which does not exist",
        ),
        (
            "a loop of links",
            |p| {
                symlink("loop", p.path("db/migrations")).unwrap();
                symlink("migrations", p.path("db/loop")).unwrap();
            },
            "which cannot be followed",
        ),
        (
            "under a file",
            |p| {
                std::fs::remove_dir_all(p.path("db")).unwrap();
                p.write("db", "not a directory\n");
            },
            "`db` is a file, not a directory",
        ),
        (
            "under a link to nowhere",
            |p| {
                std::fs::remove_dir_all(p.path("db")).unwrap();
                symlink("nowhere", p.path("db")).unwrap();
            },
            "`db` is a symbolic link to `nowhere`, which does not exist",
        ),
        (
            "under a link to a file",
            |p| {
                std::fs::remove_dir_all(p.path("db")).unwrap();
                p.write("db.txt", "not a directory\n");
                symlink("db.txt", p.path("db")).unwrap();
            },
            "`db` is a symbolic link to `db.txt`, which is not a directory: it is a file",
        ),
    ];
    for (what, setup, named) in cases {
        let project = Project::new();
        let _ = std::fs::remove_dir_all(project.path("db/migrations"));
        setup(&project);
        let lint = project.run(&["lint"]);
        lint.code(exit::INVALID)
            .stderr_has(named)
            .stderr_lacks("check its permissions");
        let error = lint
            .stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("{what}: {}", lint.dump()))
            .to_string();
        for args in [
            &["migrate", "generate", "first"][..],
            &["migrate", "generate", "first", "--dry-run"],
        ] {
            let run = project.run(args);
            run.code(exit::INVALID)
                .stderr_has(&error)
                .stderr_lacks("os error 17")
                .stdout_lacks("create");
            assert!(run.elapsed < std::time::Duration::from_secs(5), "{what}");
        }
        for left in ["nowhere", "db/nowhere", "db/loop/001_first.up.sql"] {
            assert!(
                std::fs::symlink_metadata(project.path(left)).is_err(),
                "{what}: {left} was created"
            );
        }
    }
}

/// hos4: a migrations directory the user may not write to was refused with the system's
/// words alone (`cannot create files in db/migrations: Permission denied`, no help; `"help":
/// null` in JSON): it now says what to do, and that nothing was generated. Run as `nobody`
/// when the tests run as root, whom permissions do not stop.
#[cfg(unix)]
#[test]
fn a_directory_the_user_may_not_write_to_says_what_to_do() {
    use std::os::unix::fs::PermissionsExt;
    let project = Project::new();
    project.migration("001_a", "SELECT 1;\n", "SELECT 1;\n");
    let dir = project.path("db/migrations");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    for format in ["table", "json"] {
        let template = project.cli();
        let mut cmd = match confiture_tests::cluster::is_root() {
            true => {
                let mut cmd = std::process::Command::new("setpriv");
                cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                    .arg(confiture_tests::binary());
                cmd
            }
            false => std::process::Command::new(confiture_tests::binary()),
        };
        for (key, value) in template.get_envs() {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        cmd.current_dir(project.path("."))
            .args(["migrate", "generate", "add_bio", "--format", format]);
        let run = Run::of(&mut cmd);
        run.code(exit::INVALID)
            .stderr_has("cannot create files in db/migrations")
            .stderr_has("help: let the user running this command write to the migrations directory")
            .stderr_has("nothing was generated");
        if format == "json" {
            assert!(
                run.json()["error"]["help"]
                    .as_str()
                    .is_some_and(|h| h.contains("--migrations-dir")),
                "{}",
                run.json()
            );
        }
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_eq!(
        files(&project, "db/migrations"),
        ["001_a.down.sql", "001_a.up.sql"]
    );
}

/// A file `generate` created but could not write whole (a full disk, a file size limit) was
/// left behind, while the error said "nothing was generated": an empty `001_add_bio.up.sql`
/// alone when the up file's write failed (C001 and C007 on the next run), a partial down
/// file when the down file's write failed. Each is removed; the directory is as it was. The
/// limit is `RLIMIT_FSIZE` with `SIGXFSZ` ignored, as a shell's `ulimit -f` in a script
/// that traps it: the write fails with `EFBIG`, as a full disk fails it with `ENOSPC`.
#[cfg(unix)]
#[test]
fn a_file_that_could_not_be_written_whole_is_not_left_behind() {
    use std::os::unix::process::CommandExt;
    let project = Project::new();
    project.migration("001_a", "SELECT 1;\n", "SELECT 1;\n");
    let before = files(&project, "db/migrations");
    // The size of the up file a run writes: a limit of it lets the up file be written and
    // stops the down file's write partway.
    project
        .run(&["migrate", "generate", "add_bio"])
        .code(exit::SUCCESS);
    let up_len = std::fs::metadata(project.path("db/migrations/002_add_bio.up.sql"))
        .expect("the up file")
        .len();
    for half in ["up", "down"] {
        std::fs::remove_file(project.path(&format!("db/migrations/002_add_bio.{half}.sql")))
            .expect("remove");
    }
    for (failing, limit) in [("up", 0), ("down", up_len)] {
        let mut cmd = project.cli();
        cmd.args(["migrate", "generate", "add_bio"]);
        // SAFETY: `setrlimit` and `signal` are async-signal-safe; nothing else is touched.
        unsafe {
            cmd.pre_exec(move || {
                if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR {
                    return Err(std::io::Error::last_os_error());
                }
                let limit = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: libc::RLIM_INFINITY,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Run::of(&mut cmd)
            .code(exit::INVALID)
            .stderr_has(&format!(
                "cannot write db/migrations/002_add_bio.{failing}.sql"
            ))
            .stderr_has("nothing was generated")
            .stdout_lacks("created");
        assert_eq!(
            files(&project, "db/migrations"),
            before,
            "the {failing} file's write failed"
        );
    }
}

/// A `--migrations-dir` whose path is not UTF-8 was repeated in suggested commands as its
/// text with the bytes replaced (`lint --migrations-dir $'/tmp/m\u{fffd}'`): pasted, it named
/// another directory. It is `<DIR>` there, to be filled in, as a piped `-c` file is `<FILE>`.
#[cfg(unix)]
#[test]
fn a_migrations_dir_that_is_not_utf8_is_a_placeholder_in_suggested_commands() {
    use std::os::unix::ffi::OsStrExt;
    let project = fresh_workspace();
    let dir = std::ffi::OsStr::from_bytes(b"sql\xff");
    let mut cmd = project.cli();
    cmd.args(["migrate", "generate", "add_bio", "--migrations-dir"])
        .arg(dir);
    Run::of(&mut cmd)
        .code(exit::SUCCESS)
        .stderr_has("`cargo confiture lint --migrations-dir <DIR>`")
        .stderr_lacks("\u{fffd}");
}

/// From a subdirectory of a project with no Cargo.toml (`src/deep` of a directory holding
/// `db/migrations` and `db/environments/local.yaml`), `status` said "no database configured
/// ... create db/environments/local.yaml" and `generate` started a second `db/migrations`
/// under the subdirectory. Both now name the directory above (`Workspace::project_above`):
/// `status`'s help says to run from it, `generate` refuses (exit 5, nothing created) unless
/// `--migrations-dir` names a directory, which it then uses.
#[test]
fn outside_a_cargo_project_a_subdirectory_never_starts_a_second_migrations_directory() {
    let root = std::env::temp_dir().join(confiture_tests::unique("confiture-no-cargo"));
    let deep = root.join("src/deep");
    std::fs::create_dir_all(root.join("db/migrations")).expect("mkdir");
    std::fs::create_dir_all(root.join("db/environments")).expect("mkdir");
    std::fs::create_dir_all(&deep).expect("mkdir");
    std::fs::write(
        root.join("db/environments/local.yaml"),
        "database_url: postgresql://postgres@127.0.0.1:1/x\n",
    )
    .expect("write");
    let run_in = |args: &[&str]| {
        let mut cmd = confiture_tests::cli();
        cmd.current_dir(&deep).arg("confiture").args(args);
        Run::of(&mut cmd)
    };
    let help = "found ../../db/migrations in a directory above";
    run_in(&["migrate", "status"])
        .code(exit::INVALID)
        .stderr_has(help)
        .stderr_has("--migrations-dir ../../db/migrations")
        .stderr_lacks("create db/environments/local.yaml");
    run_in(&["migrate", "generate", "foo"])
        .code(exit::INVALID)
        .stderr_has("not starting a second migrations directory")
        .stderr_has(help);
    assert!(!deep.join("db").exists(), "a second db/ was created");
    run_in(&[
        "migrate",
        "generate",
        "foo",
        "--migrations-dir",
        "../../db/migrations",
    ])
    .code(exit::SUCCESS);
    assert!(root.join("db/migrations/001_foo.up.sql").exists());
    assert!(!deep.join("db").exists());
    std::fs::remove_dir_all(&root).expect("rm");
}

/// hsm4 2: from `src/deep` of a project with no Cargo.toml, `status`'s help offered
/// `--migrations-dir ../../db/migrations` as the alternative to `cd`, and `--env dev` said
/// "create db/environments/dev.yaml" (here): pasted with it, the environment was not found,
/// since environments are read from where the command runs. The alternative now names the
/// project's environment file too (the default environment's, else the one `--env` asked
/// for), and pasted as it is, reads the project above's database and migrations.
#[test]
fn outside_a_cargo_project_the_help_s_alternative_to_cd_reads_the_project_above() {
    let project = Project::new();
    project.remove("Cargo.toml");
    project.migration("001_t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n");
    let db = confiture_tests::TestDb::new("project_above");
    let deep = project.path("src/deep");
    std::fs::create_dir_all(&deep).expect("mkdir");
    let run_in =
        |args: &str| project.paste_in(&deep, &format!("`cargo confiture migrate status {args}`"));
    let alternative = |run: &Run| {
        let help = run.help_line();
        let (_, pasted) = help
            .split_once("or pass ")
            .unwrap_or_else(|| panic!("no alternative to cd: {}", run.dump()));
        pasted
            .split(" in place of")
            .next()
            .unwrap_or(pasted)
            .to_string()
    };
    for (env, given) in [("local", ""), ("dev", "--env dev")] {
        let file = format!("db/environments/{env}.yaml");
        project.write(&file, format!("database_url: {}\n", db.url()));
        let refused = run_in(given);
        refused
            .code(exit::INVALID)
            .stderr_has("found ../../db/migrations in a directory above")
            .stderr_has(&format!("-c ../../{file}"));
        if !given.is_empty() {
            refused.stderr_has(&format!("-c ../../{file} in place of {given}"));
        }
        run_in(&alternative(&refused))
            .code(exit::NOT_INITIALISED)
            .stdout_has("001_t");
        project.remove(&file);
    }
}
