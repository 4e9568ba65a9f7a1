//! `Migrator` constructors: which environment and migrations directory they pick. They never
//! connect; the connection is opened by the first command that needs it.
#![cfg(feature = "db")]

use crate::common;

use std::path::PathBuf;

use common::TempDir;
use confiture::config::{Environment, Origin};
use confiture::files::CheckOptions;
use confiture::workspace::{Settings, Workspace};
use confiture::Migrator;

fn workspace(root: &TempDir) -> Workspace {
    Workspace {
        root: root.path().to_path_buf(),
        start: root.path().to_path_buf(),
        manifest: None,
        package_manifest: None,
        settings: Settings {
            first_version: Some(7),
            ..Settings::default()
        },
    }
}

#[test]
fn from_env_reads_the_named_environment_without_connecting() {
    let root = TempDir::new("cft_migrator");
    // Nothing listens on port 1: a constructor that connected would fail.
    root.write(
        "db/environments/staging.yaml",
        "database_url: postgresql://app@127.0.0.1:1/app\nmigration:\n  tracking_table: ops.tb_mig\n",
    );
    let migrator = Migrator::from_env(&workspace(&root), "staging").expect("no connection needed");
    let env = migrator.environment();
    assert_eq!(env.name, "staging");
    assert_eq!(env.origin, Origin::Env);
    assert_eq!(env.connection.to_string(), "app@127.0.0.1:1/app");
    assert_eq!(env.migration.tracking_table.to_string(), "ops.tb_mig");
    assert_eq!(migrator.migrations_dir(), root.path().join("db/migrations"));
}

#[test]
fn from_env_for_a_missing_environment_lists_the_others() {
    let root = TempDir::new("cft_migrator");
    root.write(
        "db/environments/local.yaml",
        "database_url: postgresql:///x\n",
    );
    root.write(
        "db/environments/production.yaml",
        "database_url: postgresql:///x\n",
    );
    let err = Migrator::from_env(&workspace(&root), "prod")
        .err()
        .expect("no such environment");
    assert_eq!(err.exit_code(), confiture::exit::INVALID);
    assert!(
        err.help.as_deref().unwrap().contains("local, production"),
        "{err:?}"
    );
}

#[test]
fn new_keeps_what_it_is_given() {
    let env = Environment::from_url("postgresql://u@h/db", "test").unwrap();
    let migrator = Migrator::new(
        env.clone(),
        "some/dir",
        CheckOptions::default().first_version(Some(3)),
    );
    assert_eq!(migrator.environment(), &env);
    assert_eq!(migrator.migrations_dir(), PathBuf::from("some/dir"));
}

#[test]
fn from_url_rejects_a_bad_url_before_anything_else() {
    let err = Migrator::from_url("postgresql://u:pw@h:notaport/db")
        .err()
        .expect("bad port");
    assert_eq!(err.exit_code(), confiture::exit::INVALID);
    assert!(err.message.contains("the port is not a number"), "{err}");
}

/// A connection string passed where the environment file's path goes was echoed, password
/// included: "environment file postgresql://u:hunter2@h/db does not exist".
#[test]
fn from_config_never_shows_a_connection_string_given_as_its_path() {
    for given in [
        "postgresql://u:hunter2@h/db",
        "host=h password=hunter2 dbname=x",
    ] {
        let err = Migrator::from_config(given).err().expect("no file");
        assert_eq!(err.exit_code(), confiture::exit::INVALID);
        let all = format!(
            "{} {:?} {:?}",
            err.message_with_cause(),
            err.details,
            err.help
        );
        assert!(!all.contains("hunter2"), "{all}");
        assert!(all.contains("connection string"), "{all}");
    }
}

/// A path that exists but is no regular file is said as what it is, by the reader of
/// environment files: a directory was "environment file ... does not exist", and so was
/// `/dev/null`, sending the caller to look for a file that is there.
#[test]
fn from_config_says_what_a_path_that_is_no_file_is() {
    let dir = std::env::temp_dir();
    let err = Migrator::from_config(&dir).err().expect("a directory");
    assert_eq!(err.exit_code(), confiture::exit::INVALID);
    assert!(err.message.contains("is a directory"), "{err}");
    if std::path::Path::new("/dev/null").exists() {
        let err = Migrator::from_config("/dev/null")
            .err()
            .expect("no settings");
        assert!(!err.message.contains("does not exist"), "{err}");
    }
}

/// A directory given to `Migrator::from_config` (or `Environment::from_file`) was helped with
/// "give the path of a .yaml file to file, or another environment name to environment": the
/// library's names of the ways to select a database (`config::Labels::LIBRARY`, the one owner
/// of that wording, whose CLI spelling is `-c` / `--env`) were words, not the calls that take
/// them. A directory that holds environment files and one that holds none say the same calls.
#[test]
fn from_config_on_a_directory_names_the_calls_to_use() {
    let empty = confiture_test_support::TempDir::new("cft_cfgdir");
    let holding = confiture_test_support::TempDir::new("cft_cfgdir");
    std::fs::write(
        holding.path().join("prod.yaml"),
        "database_url: postgresql://localhost/app\n",
    )
    .unwrap();
    for dir in [empty.path(), holding.path()] {
        let errors = [
            Migrator::from_config(dir).err().expect("a directory"),
            confiture::config::Environment::from_file(dir, &|_| None).expect_err("a directory"),
        ];
        for err in errors {
            assert!(err.message.contains("is a directory"), "{err}");
            let help = err.help.clone().unwrap_or_default();
            assert!(
                help.contains("Migrator::from_config") && help.contains("Migrator::from_env"),
                "{}: {help}",
                dir.display()
            );
            for word in [" to file", " to environment"] {
                assert!(!help.contains(word), "{}: {help}", dir.display());
            }
        }
    }
}

#[test]
fn from_config_names_a_missing_file() {
    let err = Migrator::from_config("/nonexistent/prod.yaml")
        .err()
        .expect("no file");
    assert_eq!(err.exit_code(), confiture::exit::INVALID);
    assert!(
        err.message
            .contains("/nonexistent/prod.yaml does not exist"),
        "{err}"
    );
}

/// `Migrator::from_config` said "does not exist" (and "looks like a connection string") with
/// words and help of its own, apart from the reader of environment files, which says it for
/// `Environment::from_file`, `config::resolve` and the CLI's `-c`: one owner now, the
/// reader's, so the message and help are the same whichever way the file is named.
#[test]
fn from_config_says_a_missing_file_as_the_reader_of_environment_files_does() {
    let tmp = TempDir::new("cft_from_config_missing");
    for given in [
        tmp.path().join("db/environments/prod.yaml"),
        tmp.path().join("no/such/dir/prod.yaml"),
        PathBuf::from("postgresql://u:hunter2@h/db"),
    ] {
        let by_migrator = Migrator::from_config(&given).err().expect("no file");
        let by_reader = Environment::from_file(&given, &|_| None).expect_err("no file");
        let by_resolve = confiture::config::resolve(
            &workspace(&tmp),
            &confiture::config::Selection::File(given.clone()),
            &|_| None,
        )
        .expect_err("no file");
        for err in [&by_migrator, &by_resolve] {
            assert_eq!(err.exit_code(), by_reader.exit_code());
            assert_eq!(
                (&err.message, &err.help),
                (&by_reader.message, &by_reader.help),
                "{}",
                given.display()
            );
        }
        let help = by_migrator.help.clone().unwrap_or_default();
        assert!(help.contains("Migrator::from_config"), "{help}");
    }
}

/// Set for the child process of [`from_config_takes_the_project_the_cli_takes_for_the_file`]:
/// the environment file to give `Migrator::from_config`, from the child's current directory.
const CHILD_CONFIG: &str = "CFT_FROM_CONFIG_FILE";

#[test]
#[ignore = "started as a child process, in a directory of its own, by \
            from_config_takes_the_project_the_cli_takes_for_the_file"]
fn child_prints_the_migrations_dir_of_from_config() {
    let file = std::env::var(CHILD_CONFIG).expect("only run as a child process");
    let migrator = Migrator::from_config(&file).expect("from_config");
    println!("migrations_dir={}", migrator.migrations_dir().display());
}

/// The migrations directory `Migrator::from_config(file)` picks when the process runs in `cwd`
/// (a child process: the current directory is the whole process's).
fn from_config_in(cwd: &std::path::Path, file: &std::path::Path) -> PathBuf {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "config_migrator::child_prints_the_migrations_dir_of_from_config",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .current_dir(cwd)
        .env(CHILD_CONFIG, file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // The harness prints the test's name on the same line.
    let line = stdout
        .split("migrations_dir=")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("no migrations_dir in {stdout}"));
    PathBuf::from(line)
}

/// `from_config` finds the migrations `-c FILE` finds: those of the Cargo project that holds
/// the file, and for a file outside any Cargo project those of the current directory's
/// project (or of the current directory itself) — never a `db/migrations` under the file's own
/// directory (`db/environments/db/migrations`).
#[test]
fn from_config_takes_the_project_the_cli_takes_for_the_file() {
    let tmp = TempDir::new("cft_from_config");
    let url = "database_url: postgresql://app@127.0.0.1:1/app\n";
    // A plain directory, no Cargo.toml: the layout `generate` and `-c` use there.
    let plain = tmp.dir("plain");
    tmp.write("plain/db/environments/x.yaml", url);
    tmp.dir("plain/db/migrations");
    // A Cargo project with its own migrations directory.
    tmp.write(
        "project/Cargo.toml",
        "[package]\nname = \"p\"\nversion = \"0.1.0\"\n\n[package.metadata.confiture]\nmigrations_dir = \"sql\"\n",
    );
    tmp.write("project/db/environments/x.yaml", url);
    // A file outside any project (a secrets mount).
    let secrets = tmp.write("secrets/x.yaml", url);

    let relative = std::path::Path::new("db/environments/x.yaml");
    assert_eq!(
        from_config_in(&plain, relative),
        plain.join("db/migrations")
    );
    assert_eq!(
        from_config_in(&plain, &plain.join(relative)),
        plain.join("db/migrations")
    );
    assert_eq!(
        from_config_in(&plain, &tmp.path().join("project").join(relative)),
        tmp.path().join("project/sql")
    );
    assert_eq!(
        from_config_in(&plain, &secrets),
        plain.join("db/migrations")
    );
    assert_eq!(
        from_config_in(&tmp.path().join("project/db"), &secrets),
        tmp.path().join("project/sql")
    );
}

/// A library option's duration above PostgreSQL's limit (`Timeout::MAX`, about 24.8 days) is
/// refused before connecting, as a usage error naming the option and the limit — by the rule
/// the CLI's flags follow. `lock_wait(40 days)` ("wait for ever") failed every migration as
/// "migration failed, fix the file" (exit 4): the server refused the `lock_timeout` it became
/// (hostile run 5, item 14).
#[test]
fn library_durations_beyond_postgres_limit_are_usage_errors_before_connecting() {
    use confiture::config::Timeout;
    use confiture::drift::DriftOptions;
    use confiture::fleet::{check_request, Request};
    use confiture::migrate::{no_progress, BaselineOptions, DownOptions, ReinitOptions, UpOptions};
    use confiture::verify::VerifyOptions;
    use std::time::Duration;

    let root = TempDir::new("cft_migrator");
    root.write("db/migrations/001_a.up.sql", "CREATE TABLE a (id int);\n");
    root.write("db/migrations/001_a.down.sql", "DROP TABLE a;\n");
    // Nothing listens on port 1: a refusal after connecting would be a connection error.
    let migrator = || {
        let env = Environment::from_url("postgresql://app@127.0.0.1:1/app", "test").unwrap();
        Migrator::new(
            env,
            root.path().join("db/migrations"),
            CheckOptions::default(),
        )
    };
    let too_long = [
        Timeout::MAX + Duration::from_millis(1),
        Duration::from_secs(40 * 86_400),
        Duration::MAX,
    ];
    let check = |what: &str, error: confiture::Error| {
        assert_eq!(error.kind, confiture::ErrorKind::Usage, "{what}: {error}");
        assert!(
            error.message.contains(what) && error.message.contains("2147483647 ms"),
            "{what}: {error}"
        );
        assert!(
            error.help.as_deref().unwrap_or_default().contains("596h"),
            "{what}: {:?}",
            error.help
        );
    };
    let no_scratch = |_: confiture::verify::ScratchProgress| {};
    for long in too_long {
        let runs: Vec<(&str, confiture::Error)> = vec![
            (
                "UpOptions::lock_wait",
                migrator()
                    .up(&UpOptions::default().lock_wait(long), &mut no_progress)
                    .unwrap_err()
                    .error,
            ),
            (
                "UpOptions::statement_timeout",
                migrator()
                    .up(
                        &UpOptions::default().statement_timeout(Some(long)),
                        &mut no_progress,
                    )
                    .unwrap_err()
                    .error,
            ),
            (
                "UpOptions::lock_timeout_statement",
                migrator()
                    .up(
                        &UpOptions::default()
                            .dry_run(true)
                            .lock_timeout_statement(Some(long)),
                        &mut no_progress,
                    )
                    .unwrap_err()
                    .error,
            ),
            (
                "DownOptions::lock_wait",
                migrator()
                    .down(&DownOptions::default().lock_wait(long), &mut no_progress)
                    .unwrap_err()
                    .error,
            ),
            (
                "DownOptions::statement_timeout",
                migrator()
                    .down(
                        &DownOptions::default().statement_timeout(Some(long)),
                        &mut no_progress,
                    )
                    .unwrap_err()
                    .error,
            ),
            (
                "BaselineOptions::lock_wait",
                migrator()
                    .baseline(
                        &BaselineOptions::through(1).lock_wait(long),
                        &mut no_progress,
                    )
                    .unwrap_err()
                    .error,
            ),
            (
                "ReinitOptions::lock_wait",
                migrator()
                    .reinit(&ReinitOptions::default().lock_wait(long), &mut no_progress)
                    .unwrap_err()
                    .error,
            ),
            (
                "VerifyOptions::statement_timeout",
                migrator()
                    .verify(
                        &VerifyOptions::default().statement_timeout(Some(long)),
                        &mut { no_scratch },
                    )
                    .unwrap_err()
                    .error,
            ),
            (
                "DriftOptions::lock_timeout_statement",
                migrator()
                    .drift(
                        &DriftOptions::default().lock_timeout_statement(Some(long)),
                        &mut { no_scratch },
                    )
                    .unwrap_err()
                    .error,
            ),
            (
                "UpOptions::lock_wait",
                check_request(
                    &migrator(),
                    Request::Up(&UpOptions::default().lock_wait(long)),
                )
                .unwrap_err(),
            ),
            (
                "VerifyOptions::lock_timeout_statement",
                check_request(
                    &migrator(),
                    Request::Verify(&VerifyOptions::default().lock_timeout_statement(Some(long))),
                )
                .unwrap_err(),
            ),
        ];
        for (what, error) in runs {
            check(what, error);
        }
    }
    // The limit itself is taken: the run goes on, to the server that is not there.
    let error = migrator()
        .up(
            &UpOptions::default().lock_wait(Timeout::MAX),
            &mut no_progress,
        )
        .unwrap_err()
        .error;
    assert_eq!(error.kind, confiture::ErrorKind::Connection, "{error}");
}

/// `Migrator::from_url` with a URL that cannot be parsed said "invalid database URL in the
/// database URL: ...": the label read twice. It names the call the URL was given to, never
/// the password, for every kind of bad URL.
#[test]
fn from_url_says_the_call_a_bad_url_was_given_to() {
    for url in [
        "postgresql://postgres:s3cret@127.0.0.1:54x32/db",
        "postgresql://postgres:s3cret@127.0.0.1/db?sslmode=bogus",
        "postgresql://postgres:s3cret@127.0.0.1/db?connect_timeout=abc",
        "postgresql://postgres:s3cret@127.0.0.1/d%zzb",
        "postgresql://postgres:s3cret@[::1/db",
    ] {
        let err = Migrator::from_url(url).err().expect("a bad URL");
        assert_eq!(err.exit_code(), confiture::exit::INVALID);
        assert!(
            err.message
                .starts_with("invalid database URL given to Migrator::from_url: "),
            "{url}: {err}"
        );
        assert!(!err.message.contains("in the database URL"), "{err}");
        let all = format!(
            "{} {:?} {:?}",
            err.message_with_cause(),
            err.details,
            err.help
        );
        assert!(!all.contains("s3cret"), "{url}: {all}");
    }
}

/// The library's helps choosing another environment were the CLI's words rewritten ("did you
/// mean Migrator::from_env prod?", "or use Migrator::from_env NAME"): not Rust. They are calls
/// a caller can write.
#[test]
fn library_helps_choosing_an_environment_are_valid_rust() {
    let root = TempDir::new("cft_migrator");
    root.write(
        "db/environments/prod.yaml",
        "database_url: postgresql:///x\n",
    );
    let err = Migrator::from_env(&workspace(&root), "prd")
        .err()
        .expect("no such environment");
    let help = err.help.clone().unwrap_or_default();
    assert!(
        help.contains("did you mean Migrator::from_env(&workspace, \"prod\")?"),
        "{help}"
    );
    let err = Migrator::from_env(&workspace(&root), "prod.yaml")
        .err()
        .expect("a file name");
    let help = err.help.clone().unwrap_or_default();
    assert!(
        help.contains("(e.g. Migrator::from_env(&workspace, \"prod\"))"),
        "{help}"
    );
    assert!(!help.contains("Migrator::from_config FILE"), "{help}");
    let missing = root.path().join("db/environments/nope.yaml");
    let err = Migrator::from_config(&missing).err().expect("no file");
    let help = err.help.clone().unwrap_or_default();
    assert!(help.contains("or use Migrator::from_env"), "{help}");
    assert!(!help.contains("NAME"), "{help}");
}
