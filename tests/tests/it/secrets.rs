//! A password never appears in any output. Every command (status, up, up --dry-run, down,
//! baseline, reinit, verify, drift, lint, generate) runs with a password given every way a user can give one —
//! in `--database-url` (plain and percent-encoded), in libpq conninfo, in `DATABASE_URL` (set,
//! or in the workspace's `.env`), in an environment file's `database_url` (literally or through `${VAR}`) and in its legacy
//! `database:` block — as a table and as JSON, succeeding and failing (closed port, unknown
//! database, a migration whose SQL fails, a rollback whose SQL fails). Neither the password nor
//! its percent-encoded form may appear in stdout or stderr.
//!
//! The test server uses trust authentication, so any password is accepted: the commands really
//! succeed, and the exit codes are asserted so that no run passes by failing early.

use std::sync::Mutex;

use confiture::exit;
use confiture_tests::{pg_host, pg_port, Project, Run, TestDb};

/// How the password reaches the CLI.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// `--database-url postgresql://postgres:PW@host:port/db`
    UrlFlag,
    /// `--database-url "host=... password='PW'"`
    Conninfo,
    /// `DATABASE_URL=postgresql://...`, no flag
    DatabaseUrlVar,
    /// `DATABASE_URL=postgresql://...` in the workspace root's `.env`, no flag
    DotEnv,
    /// `--env staging`, `database_url: postgresql://...` in the file
    EnvFileUrl,
    /// `--env staging`, `database_url: postgresql://postgres:${CFT_SECRET}@...`
    EnvFileVariable,
    /// `--env staging`, a `database:` block with `password:`
    EnvFileLegacy,
}

/// A way of giving the password, and every form of it that must never be printed.
#[derive(Debug, Clone, Copy)]
struct Source {
    via: Via,
    /// As written where it is given (percent-encoded in URLs when it has special characters).
    written: &'static str,
    /// Every form that must not leak: as written, and decoded.
    forms: &'static [&'static str],
}

const SOURCES: &[Source] = &[
    Source {
        via: Via::UrlFlag,
        written: "S3cr3t-PW-xyz",
        forms: &["S3cr3t-PW-xyz", "S3cr3t"],
    },
    Source {
        via: Via::UrlFlag,
        written: "p%40ss",
        forms: &["p%40ss", "p@ss"],
    },
    Source {
        via: Via::UrlFlag,
        written: "S3cr3t%40PW%2Fxyz",
        forms: &["S3cr3t%40PW%2Fxyz", "S3cr3t@PW/xyz", "S3cr3t"],
    },
    Source {
        via: Via::Conninfo,
        written: "S3cr3t PW-xyz",
        forms: &["S3cr3t PW-xyz", "S3cr3t"],
    },
    Source {
        via: Via::DatabaseUrlVar,
        written: "S3cr3t-PW-xyz",
        forms: &["S3cr3t-PW-xyz", "S3cr3t"],
    },
    Source {
        via: Via::DotEnv,
        written: "S3cr3t%40PW%2Fxyz",
        forms: &["S3cr3t%40PW%2Fxyz", "S3cr3t@PW/xyz", "S3cr3t"],
    },
    Source {
        via: Via::EnvFileUrl,
        written: "S3cr3t-PW-xyz",
        forms: &["S3cr3t-PW-xyz", "S3cr3t"],
    },
    Source {
        via: Via::EnvFileUrl,
        written: "S3cr3t%40PW%2Fxyz",
        forms: &["S3cr3t%40PW%2Fxyz", "S3cr3t@PW/xyz", "S3cr3t"],
    },
    Source {
        via: Via::EnvFileVariable,
        written: "p%40ss-S3cr3t",
        forms: &["p%40ss-S3cr3t", "p@ss-S3cr3t", "S3cr3t"],
    },
    Source {
        via: Via::EnvFileLegacy,
        written: "S3cr3t-PW-xyz",
        forms: &["S3cr3t-PW-xyz", "S3cr3t"],
    },
    Source {
        via: Via::EnvFileLegacy,
        written: "p@ss:S3cr3t/x",
        forms: &["p@ss:S3cr3t/x", "p%40ss", "S3cr3t"],
    },
];

/// Where the commands connect: the test database, or one that fails.
struct Target {
    host: String,
    port: u16,
    dbname: String,
}

/// The arguments and environment variables that give `source` for `target` in `project`
/// (environment files are written into it).
fn give(
    source: &Source,
    target: &Target,
    project: &Project,
) -> (Vec<String>, Vec<(String, String)>) {
    let url = format!(
        "postgresql://postgres:{}@{}:{}/{}",
        source.written, target.host, target.port, target.dbname
    );
    let staging = || vec!["--env".to_string(), "staging".to_string()];
    match source.via {
        Via::UrlFlag => (vec!["--database-url".into(), url], vec![]),
        Via::Conninfo => (
            vec![
                "--database-url".into(),
                format!(
                    "host={} port={} dbname={} user=postgres password='{}'",
                    target.host, target.port, target.dbname, source.written
                ),
            ],
            vec![],
        ),
        Via::DatabaseUrlVar => (vec![], vec![("DATABASE_URL".into(), url)]),
        Via::DotEnv => {
            project.write(".env", format!("DATABASE_URL={url}\n"));
            (vec![], vec![])
        }
        Via::EnvFileUrl => {
            project.write(
                "db/environments/staging.yaml",
                format!("database_url: \"{url}\"\n"),
            );
            (staging(), vec![])
        }
        Via::EnvFileVariable => {
            project.write(
                "db/environments/staging.yaml",
                format!(
                    "database_url: postgresql://postgres:${{CFT_SECRET}}@{}:{}/{}\n",
                    target.host, target.port, target.dbname
                ),
            );
            (
                staging(),
                vec![("CFT_SECRET".into(), source.written.into())],
            )
        }
        Via::EnvFileLegacy => {
            project.write(
                "db/environments/staging.yaml",
                format!(
                    "database:\n  host: {}\n  port: {}\n  database: {}\n  user: postgres\n  password: '{}'\n",
                    target.host, target.port, target.dbname, source.written
                ),
            );
            (staging(), vec![])
        }
    }
}

/// Runs one command; returns a problem (with the whole output) when the exit code differs or
/// a form of the password shows up.
fn check(
    project: &Project,
    source: &Source,
    target: &Target,
    json: bool,
    command: &[&str],
    expected: u8,
) -> Option<String> {
    let (args, env) = give(source, target, project);
    let mut cli = project.cli();
    cli.args(command).args(&args);
    if json {
        cli.args(["--format", "json"]);
    }
    for (key, value) in &env {
        cli.env(key, value);
    }
    let run = Run::of(&mut cli);
    let mut problems = Vec::new();
    if run.code != i32::from(expected) {
        problems.push(format!("exit code {}, expected {expected}", run.code));
    }
    for form in source.forms {
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            if text.contains(form) {
                problems.push(format!("the password ({form:?}) appears in {stream}"));
            }
        }
    }
    if json
        && run.code != i32::from(exit::USAGE)
        && serde_json::from_str::<serde_json::Value>(&run.stdout).is_err()
    {
        problems.push("stdout is not one JSON document".into());
    }
    if problems.is_empty() {
        return None;
    }
    Some(format!(
        "{source:?}, json: {json}, command {command:?} {args:?}\n  {}\n--- stdout\n{}--- stderr\n{}---",
        problems.join("\n  "),
        run.stdout,
        run.stderr
    ))
}

/// Every command against a real database, succeeding, then failing in the SQL.
fn against_the_database(source: &Source, json: bool) -> Vec<String> {
    let db = TestDb::new("secrets");
    let project = Project::new();
    project
        .migration(
            "001_create_widget",
            "CREATE TABLE widget (id int);\n",
            "DROP TABLE widget;\n",
        )
        .migration(
            "002_add_color",
            "ALTER TABLE widget ADD COLUMN color text;\n",
            "ALTER TABLE widget DROP COLUMN color;\n",
        );
    let target = Target {
        host: pg_host(),
        port: pg_port(),
        dbname: db.name.clone(),
    };
    let steps: &[(&[&str], u8)] = &[
        (&["migrate", "status"], exit::NOT_INITIALISED),
        (&["migrate", "up", "--dry-run"], exit::SUCCESS),
        (&["migrate", "up", "--steps", "1"], exit::SUCCESS),
        (&["migrate", "status"], exit::PENDING),
        (&["migrate", "up"], exit::SUCCESS),
        (&["migrate", "status"], exit::SUCCESS),
        (&["migrate", "verify"], exit::SUCCESS),
        (&["migrate", "drift"], exit::SUCCESS),
        (&["migrate", "down", "--dry-run"], exit::SUCCESS),
        (&["migrate", "down"], exit::SUCCESS),
        (
            &["migrate", "baseline", "--through", "2", "--dry-run"],
            exit::SUCCESS,
        ),
        (&["migrate", "baseline", "--through", "2"], exit::SUCCESS),
        (&["migrate", "reinit", "--dry-run"], exit::SUCCESS),
        (&["migrate", "reinit"], exit::SUCCESS),
        (&["lint"], exit::SUCCESS),
        (
            &["migrate", "generate", "add_size", "--dry-run"],
            exit::SUCCESS,
        ),
        (&["migrate", "up", "--target", "0"], exit::USAGE),
    ];
    let mut problems: Vec<String> = steps
        .iter()
        .filter_map(|(command, code)| check(&project, source, &target, json, command, *code))
        .collect();

    // A migration whose SQL fails, up then down.
    project.migration(
        "003_add_size",
        "ALTER TABLE widget ADD COLUMN size int;\nINSERT INTO no_such_table VALUES (1);\n",
        "ALTER TABLE widget DROP COLUMN size;\n",
    );
    problems.extend(check(
        &project,
        source,
        &target,
        json,
        &["migrate", "up"],
        exit::MIGRATION_FAILED,
    ));
    project.migration(
        "003_add_size",
        "ALTER TABLE widget ADD COLUMN size int;\n",
        "ALTER TABLE no_such_table DROP COLUMN size;\n",
    );
    problems.extend(check(
        &project,
        source,
        &target,
        json,
        &["migrate", "up"],
        exit::SUCCESS,
    ));
    problems.extend(check(
        &project,
        source,
        &target,
        json,
        &["migrate", "down"],
        exit::MIGRATION_FAILED,
    ));
    // generate writes files: last, so that the sequence above sees the same directory.
    problems.extend(check(
        &project,
        source,
        &target,
        json,
        &["migrate", "generate", "add_size_index"],
        exit::SUCCESS,
    ));
    problems
}

/// Every connecting command against a database that cannot be reached, or does not exist.
fn against_a_failing_connection(source: &Source, json: bool) -> Vec<String> {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port();
    let unknown = TestDb::unborn("secrets_absent");
    let targets = [
        Target {
            host: "127.0.0.1".into(),
            port: closed,
            dbname: "app".into(),
        },
        Target {
            host: pg_host(),
            port: pg_port(),
            dbname: unknown.name.clone(),
        },
    ];
    let project = widget_project();
    let commands: &[&[&str]] = &[
        &["migrate", "status"],
        &["migrate", "up"],
        &["migrate", "up", "--dry-run"],
        &["migrate", "down"],
        &["migrate", "baseline", "--through", "1"],
        &["migrate", "reinit"],
        &["migrate", "drift"],
    ];
    let mut problems = Vec::new();
    for target in &targets {
        for command in commands {
            problems.extend(check(
                &project,
                source,
                target,
                json,
                command,
                exit::CONNECTION,
            ));
        }
        problems.extend(check(
            &project,
            source,
            target,
            json,
            &["lint"],
            exit::SUCCESS,
        ));
        problems.extend(check(
            &project,
            source,
            target,
            json,
            &["migrate", "generate", "add_color", "--dry-run"],
            exit::SUCCESS,
        ));
    }
    problems
}

#[test]
fn no_command_ever_prints_the_password() {
    let jobs: Vec<(&Source, bool)> = SOURCES
        .iter()
        .flat_map(|s| [(s, false), (s, true)])
        .collect();
    let queue = Mutex::new(jobs);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| loop {
                let Some((source, json)) = queue.lock().expect("queue").pop() else {
                    return;
                };
                let mut problems = against_the_database(source, json);
                problems.extend(against_a_failing_connection(source, json));
                failures.lock().expect("failures").extend(problems);
            });
        }
    });
    let failures = failures.into_inner().expect("failures");
    assert!(
        failures.is_empty(),
        "{} run(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// A project of one migration, which a run that connects would apply.
fn widget_project() -> Project {
    let project = Project::new();
    project.migration(
        "001_create_widget",
        "CREATE TABLE widget (id int);\n",
        "DROP TABLE widget;\n",
    );
    project
}

/// A connection string written in the legacy block where a host or a user name goes
/// (`host: "postgresql://app:PW@db/app"`, `host: "u:PW@127.0.0.1"`) was printed whole, password
/// included, in the `using` line, in errors and in JSON. It is refused (exit 5) without being
/// shown, as one in `database.database` is; nothing is written to the database.
#[test]
fn a_connection_string_in_the_legacy_block_is_refused_unshown() {
    let db = TestDb::new("secrets_legacy");
    let project = widget_project();
    let (host, port, name) = (pg_host(), pg_port(), db.name.clone());
    let url = format!("postgresql://postgres:S3cr3t-PW-xyz@{host}:{port}/{name}");
    let before = db.catalog_snapshot();
    for block in [
        format!("  host: \"{url}\"\n  database: {name}\n"),
        format!("  host: \"postgres:S3cr3t-PW-xyz@{host}\"\n  port: {port}\n  database: {name}\n"),
        format!("  host: {host}\n  port: {port}\n  user: \"{url}\"\n  database: {name}\n"),
        format!("  host: {host}\n  port: {port}\n  database: \"{url}\"\n"),
    ] {
        project.write(
            "db/environments/staging.yaml",
            format!("database:\n{block}"),
        );
        for json in [false, true] {
            let mut args = vec!["migrate", "up", "--env", "staging"];
            if json {
                args.extend(["--format", "json"]);
            }
            let run = project.run(&args);
            run.code(exit::INVALID)
                .stdout_lacks("S3cr3t")
                .stderr_lacks("S3cr3t")
                .stderr_has("looks like a connection URL");
            if json {
                run.json();
            }
        }
    }
    assert_eq!(db.catalog_snapshot(), before);
}

/// Keeping the password off disk: `-c <(sops -d prod.yaml)` (process substitution, a pipe) and
/// `-c /dev/stdin` were refused as "not a regular file". Both are read; a FIFO nobody writes
/// to is given up on after a wait (the bad-input case `env-name-is-a-fifo`).
#[test]
fn an_environment_file_is_read_from_a_pipe() {
    let db = TestDb::new("secrets_pipe");
    let project = widget_project();
    let yaml = format!(
        "database_url: postgresql://postgres:S3cr3t-PW-xyz@{}:{}/{}\n",
        pg_host(),
        pg_port(),
        db.name
    );
    // `-c /dev/stdin`, the file piped in.
    let run = run_with_stdin(
        &project,
        &["migrate", "status", "-c", "/dev/stdin", "--format", "json"],
        &yaml,
    );
    run.code(exit::NOT_INITIALISED).stderr_lacks("S3cr3t");
    assert_eq!(run.json()["pending"], serde_json::json!(["001"]));
    // `-c <(cat staging.yaml)`: process substitution, as with `sops -d`.
    project.write("secret.yaml", &yaml);
    let mut bash = std::process::Command::new("bash");
    bash.current_dir(&project.root)
        .args(["-c", "exec \"$0\" migrate up -c <(cat secret.yaml)"])
        .arg(confiture_tests::binary())
        .env("NO_COLOR", "1")
        .env_remove("DATABASE_URL")
        .env_remove("CONFITURE_DATABASE_URL");
    let run = Run::of(&mut bash);
    run.code(exit::SUCCESS).stderr_lacks("S3cr3t");
    assert!(db.has_relation("widget"), "{}", run.dump());

    // A suggested command names the pipe as `-c <FILE>`: `/dev/fd/63` or `/dev/stdin` is gone
    // (or waits for the terminal) when pasted.
    project.write(
        "db/migrations/001_create_widget.up.sql",
        "CREATE TABLE widget (id bigint);\n",
    );
    let run = run_with_stdin(&project, &["migrate", "up", "-c", "/dev/stdin"], &yaml);
    run.code(exit::DIVERGED)
        .stderr_has("migrate reinit -c <FILE>")
        .stderr_lacks("-c /dev/stdin");
}

/// A relative `fleet.targets` in an environment file read from a pipe starts from the current
/// directory: it was joined to the pipe's (`/dev/fd/tenants.txt`, `/dev/tenants.txt`).
#[test]
fn a_relative_target_file_in_a_piped_environment_file_starts_from_the_current_directory() {
    let db = TestDb::new("secrets_pipe_fleet");
    let project = Project::new();
    project
        .migration(
            "001_create_widget",
            "CREATE TABLE widget (id int);\n",
            "DROP TABLE widget;\n",
        )
        .write("tenants.txt", format!("{}\n", db.name));
    let yaml = format!(
        "database_url: postgresql://postgres@{}:{}/postgres\nfleet:\n  targets: tenants.txt\n",
        pg_host(),
        pg_port(),
    );
    let run = run_with_stdin(
        &project,
        &["migrate", "status", "-c", "/dev/stdin", "--format", "json"],
        &yaml,
    );
    run.code(exit::NOT_INITIALISED)
        .stderr_lacks("/dev/tenants.txt");
    assert_eq!(run.json()["summary"]["total"], 1, "{}", run.dump());
}

/// The CLI run in `project` with `args`, `input` written to its stdin (as `-c /dev/stdin`
/// reads an environment file from a pipe).
fn run_with_stdin(project: &Project, args: &[&str], input: &str) -> Run {
    Run::with_input(project.cli().args(args), input)
}

/// A connection string given on the command line where something else goes — a stray word
/// (`migrate up $DATABASE_URL`, the flag forgotten), `--env $DATABASE_URL`, `-c URL`,
/// `--manifest-path URL`, `-p URL`, `--steps URL`, `--schema-dir URL`, a conninfo split by the shell — was echoed
/// by the error, password included, in text and in JSON. Every error of the run is shown with
/// that password removed; nothing connects.
#[test]
fn a_connection_string_given_where_another_argument_goes_is_not_echoed() {
    let project = Project::new();
    let url = "postgresql://app:S3cr3t-PW-xyz@db.invalid:5432/app";
    let encoded = "postgresql://app:S3cr3t%2DPW%2Dxyz@db.invalid/app";
    let cases: Vec<(Vec<&str>, u8)> = vec![
        (vec!["migrate", "up", url], exit::USAGE),
        (
            vec!["migrate", "status", "--database-url", url, url],
            exit::USAGE,
        ),
        (vec!["migrate", "up", encoded], exit::USAGE),
        (vec!["migrate", "up", "--env", url], exit::INVALID),
        (vec!["migrate", "up", "-c", url], exit::INVALID),
        (
            vec!["migrate", "status", "--manifest-path", url],
            exit::USAGE,
        ),
        (vec!["migrate", "status", "-p", url], exit::USAGE),
        (vec!["migrate", "down", "--steps", url], exit::USAGE),
        (vec!["migrate", "up", "--lock-wait", url], exit::USAGE),
        (
            vec![
                "migrate",
                "up",
                "--env",
                "host=db.invalid",
                "password=S3cr3t-PW-xyz",
            ],
            exit::USAGE,
        ),
    ];
    // Connection strings that do not parse (a bad port, a `/` or `?` left unencoded in the
    // password, an unknown parameter): no password can be read from them, they are not shown.
    let unparsed = [
        "postgresql://app:S3cr3t-PW-xyz@db.invalid:99999/app",
        "postgresql://app:S3cr3t/PW-xyz@db.invalid/app",
        "postgresql://app:S3cr3t?PW-xyz@db.invalid/app",
        "postgres://app:S3cr3t-PW-xyz@db.invalid/app?bogus=1",
        "host=db.invalid password=S3cr3t-PW-xyz bogus=1",
        // Pairs joined by commas: a user name holding `password=` is refused, so the
        // password in it is not known to scrub; the word was echoed whole.
        "user=app,password=S3cr3t-PW-xyz,dbname=app",
        "postgresql://app@db.invalid/app?host=db.invalid,password=S3cr3t-PW-xyz",
    ];
    // `--schema URL` and `--migrations-dir URL` were refused with the password scrubbed from
    // the message but repeated in the JSON `schema` keys, in the suggested `generate
    // --migrations-dir URL`, and in the path's normalised form (`postgresql:/u:...`).
    let elsewhere = "postgresql://postgres@db.invalid/app";
    let conninfo = "host=db.invalid password=S3cr3t-PW-xyz";
    let cases = cases
        .into_iter()
        .chain(unparsed.iter().flat_map(|url| {
            [
                (vec!["migrate", "up", *url], exit::USAGE),
                (vec!["migrate", "up", "--env", *url], exit::INVALID),
                (vec!["migrate", "up", "-c", *url], exit::INVALID),
            ]
        }))
        .chain(
            unparsed
                .iter()
                .chain([&url, &encoded, &conninfo])
                .flat_map(|url| {
                    [
                        (
                            vec![
                                "migrate",
                                "status",
                                "--database-url",
                                elsewhere,
                                "--schema",
                                *url,
                            ],
                            exit::INVALID,
                        ),
                        (
                            vec![
                                "migrate",
                                "down",
                                "--database-url",
                                elsewhere,
                                "--migrations-dir",
                                *url,
                            ],
                            exit::INVALID,
                        ),
                        (vec!["lint", "--migrations-dir", *url], exit::INVALID),
                        // `--schema-dir URL` was refused by drift's report, which no scrub reads:
                        // the password was in its text and its JSON `message`.
                        (
                            vec![
                                "migrate",
                                "drift",
                                "--database-url",
                                elsewhere,
                                "--schema-dir",
                                *url,
                            ],
                            exit::INVALID,
                        ),
                    ]
                }),
        );
    for (args, code) in cases {
        for json in [false, true] {
            let mut args = args.clone();
            if json {
                args.extend(["--format", "json"]);
            }
            let run = project.run(&args);
            run.code(code)
                .stdout_lacks("S3cr3t")
                .stderr_lacks("S3cr3t")
                .stdout_lacks("xyz")
                .stderr_lacks("xyz");
            if json {
                run.json();
            }
        }
    }
}

/// hgn 1: `migrate generate URL` masked the password in its message but suggested the name
/// made of the whole URL (`use \`postgres_app_s3cr3t_db_internal_prod\``: a word no scrub of
/// the argument matches), in text and JSON, with or without `--dry-run`; pasted, it wrote the
/// password into file names. A connection string given as the name is refused as `--env URL`
/// is, nothing suggested, nothing written.
#[test]
fn a_connection_string_given_as_a_migration_name_is_refused_unshown() {
    let project = Project::new();
    let before = std::fs::read_dir(project.path("db/migrations"))
        .map(|d| d.count())
        .unwrap_or(0);
    for name in [
        "postgres://app:s3cr3t@db.internal/prod",
        "postgresql://app:S3cr3t%2Dx@db.internal:5432/prod",
        "host=h password=s3cr3t dbname=x",
        "user=app,password=s3cr3t,dbname=app",
        "postgres://app:s3cr3t@db.internal:99999/prod",
        "app:s3cr3t@db.internal",
    ] {
        for more in [
            &[][..],
            &["--dry-run"],
            &["--format", "json"],
            &["--dry-run", "--format", "json"],
        ] {
            let mut args = vec!["migrate", "generate", name];
            args.extend(more);
            let run = project.run(&args);
            run.code(exit::INVALID)
                .stderr_has("looks like a connection string");
            for text in [&run.stdout, &run.stderr] {
                let lower = text.to_lowercase();
                assert!(
                    !lower.contains("s3cr3t") && !lower.contains("use `"),
                    "{args:?}\n{}",
                    run.dump()
                );
            }
            if more.contains(&"json") {
                let doc = run.json();
                assert!(
                    doc["errors"][0]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("looks like a connection string")),
                    "{}",
                    run.dump()
                );
            }
        }
    }
    let after = std::fs::read_dir(project.path("db/migrations"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(before, after, "nothing is written");
}

/// The scrubbing of the command line's connection strings leaves alone the one given to
/// `--database-url` (the library never shows its password): with a password as short or
/// common as `e` or `postgres`, every error was garbled (`***rror: th*** argum***nt`).
#[test]
fn the_database_urls_password_does_not_garble_the_errors() {
    let project = Project::new();
    for password in ["e", "postgres"] {
        let url = format!("postgresql://postgres:{password}@db.invalid/app");
        let joined = format!("--database-url={url}");
        for flag in [vec!["--database-url", url.as_str()], vec![joined.as_str()]] {
            for (more, code, message) in [
                (vec!["--env", "dev"], exit::USAGE, "cannot be used with"),
                (
                    vec!["--migrations-dir", "nonexistent"],
                    exit::INVALID,
                    "migrations directory `nonexistent` does not exist",
                ),
            ] {
                let mut args = vec!["migrate", "status"];
                args.extend(&flag);
                args.extend(&more);
                project
                    .run(&args)
                    .code(code)
                    .stderr_has(message)
                    .stderr_lacks("***");
            }
        }
    }
}

/// A path with `@` or `=` that exists is a path, not a connection string: an error about the
/// environment file `ops@eu.yaml` names it.
#[test]
fn an_existing_path_that_looks_like_a_connection_string_is_still_named() {
    let project = Project::new();
    project.write(
        "ops@eu.yaml",
        "database_url: postgresql://db.invalid/app
aplication_name: x
",
    );
    project
        .run(&["migrate", "status", "-c", "ops@eu.yaml"])
        .code(exit::INVALID)
        .stderr_has("environment file ops@eu.yaml, line 2");
}

/// Connection strings with a `password=` inside another key's value — conninfo pairs joined
/// by commas or `;` (`user=u,password=PW,dbname=db`), a URL's `?host=h,password=PW`, the same
/// percent-encoded — were accepted: the user, host or database name took the whole text, and
/// the password was printed in the `using` line, the fleet's table, its `failed:` and `error:`
/// lines and the JSON (`target`, `error.message`, `error.database`); the host list
/// `127.0.0.1,password=PW` even connected. Each is refused (exit 5) before connecting, written
/// any way a connection is given (`--database-url`, `DATABASE_URL`, `.env`, an environment
/// file's `database_url`, a line of a `--targets` list, a row of `--targets-query`), naming
/// the key and where it was written, never the value.
#[test]
fn a_password_inside_another_keys_value_is_refused_unshown() {
    let db = TestDb::new("secrets_commas");
    let project = widget_project();
    let (host, port, name) = (pg_host(), pg_port(), db.name.clone());
    let pw = "S3cr3t-PW-xyz";
    // (the text, the key whose value holds `password=`)
    let written = [
        (
            format!("user=postgres,password={pw},dbname={name} host={host} port={port}"),
            "user",
        ),
        (
            format!("host={host},password={pw} port={port} dbname={name} user=postgres"),
            "host",
        ),
        (
            format!("host={host} port={port} user=postgres dbname={name};password={pw}"),
            "dbname",
        ),
        (
            format!("host={host} port={port} dbname={name} user=postgres application_name=a,Password={pw}"),
            "application_name",
        ),
        (
            format!("postgresql://postgres@{host}:{port}/{name}?host={host},password={pw}"),
            "host",
        ),
        (
            format!("postgresql://postgres@{host}:{port}/{name}?user=postgres,password%3D{pw}"),
            "user",
        ),
        (
            format!("postgresql://postgres@{host}:{port}/{name}%2Cpassword%3D{pw}"),
            "dbname",
        ),
        (
            format!("postgresql://postgres%2Cpassword%3D{pw}@{host}:{port}/{name}"),
            "user",
        ),
    ];
    let before = db.catalog_snapshot();
    // Refused, the password nowhere, and each of `names` said (on stderr, or in the JSON).
    let check = |run: &Run, json: bool, names: &[&str]| {
        run.code(exit::INVALID)
            .stdout_lacks("S3cr3t")
            .stderr_lacks("S3cr3t")
            .stdout_lacks("xyz")
            .stderr_lacks("xyz");
        if json {
            run.json();
        }
        let said = if json { &run.stdout } else { &run.stderr };
        for name in names {
            assert!(said.contains(name), "{name:?} not said:\n{}", run.dump());
        }
    };
    for (text, key) in &written {
        let holds = format!("the value of `{key}` holds `password=`");
        let yaml = format!("database_url: \"{text}\"\n");
        let dotenv = format!("DATABASE_URL='{text}'\n");
        for json in [false, true] {
            let format: &[&str] = if json { &["--format", "json"] } else { &[] };
            for command in ["status", "up"] {
                let mut flag = project.cli();
                flag.args(["migrate", command, "--database-url", text])
                    .args(format);
                let run = Run::of(&mut flag);
                check(&run, json, &[&holds, "--database-url"]);

                let mut var = project.cli();
                var.args(["migrate", command])
                    .args(format)
                    .env("DATABASE_URL", text);
                let run = Run::of(&mut var);
                check(&run, json, &[&holds, "DATABASE_URL"]);

                project.write(".env", &dotenv);
                let run = project.run(&[&["migrate", command][..], format].concat());
                check(&run, json, &[&holds, ".env"]);
                project.remove(".env");

                project.write("db/environments/staging.yaml", &yaml);
                let run =
                    project.run(&[&["migrate", command, "--env", "staging"][..], format].concat());
                check(&run, json, &[&holds, "staging.yaml"]);
            }
        }
    }
    // A fleet: every line of the list, every row of the query, refused at once with its place.
    let list: String = written
        .iter()
        .map(|(text, _)| format!("{text}\n"))
        .collect();
    project.write("targets.txt", &list);
    // The query's text holds no password: each row is reversed by the server.
    let rows: Vec<String> = written
        .iter()
        .map(|(text, _)| format!("(reverse('{}'))", text.chars().rev().collect::<String>()))
        .collect();
    let query = format!("SELECT * FROM (VALUES {}) AS t(target)", rows.join(", "));
    assert!(!query.contains("S3cr3t"));
    let server = confiture_tests::server().url("postgres");
    for json in [false, true] {
        let format: &[&str] = if json { &["--format", "json"] } else { &[] };
        for command in ["status", "up"] {
            for (list_flag, list, place) in [
                ("--targets", "targets.txt", "targets.txt:"),
                ("--targets-query", query.as_str(), "row "),
            ] {
                let args = [
                    &[
                        "migrate",
                        command,
                        "--database-url",
                        &server,
                        list_flag,
                        list,
                        "--keep-going",
                    ][..],
                    format,
                ]
                .concat();
                let run = project.run(&args);
                let said: Vec<String> = written
                    .iter()
                    .enumerate()
                    .flat_map(|(i, (_, key))| {
                        [
                            format!("{place}{}", i + 1),
                            format!("the value of `{key}` holds `password=`"),
                        ]
                    })
                    .collect();
                let said: Vec<&str> = said.iter().map(String::as_str).collect();
                check(&run, json, &said);
            }
        }
    }
    assert_eq!(db.catalog_snapshot(), before);
}

/// A connection string put, by mistake, in an environment file's duration, number or name
/// setting (`lock_timeout: ${LOCK_TIMEOUT}` with the URL in that variable) was quoted whole,
/// password included, in the refusal ("`migration.lock_timeout` "postgresql://app:PW@..." is
/// not a duration"), on stderr and in the JSON. Every such setting is still refused (exit 5),
/// at its key, without the text.
#[test]
fn a_connection_string_in_a_settings_value_is_not_echoed() {
    let project = widget_project();
    let url = "postgresql://app:S3cr3t-PW-xyz@127.0.0.1/app";
    // (the block and key, what the refusal says of the value)
    let settings = [
        ("migration:\n  lock_timeout", "is not a duration"),
        ("migration:\n  statement_timeout", "is not a duration"),
        ("migration:\n  connect_timeout", "is not a duration"),
        ("migration:\n  wait_for_server", "is not a duration"),
        ("migration:\n  lock_retries", "is not a whole number"),
        (
            "migration:\n  tracking_table",
            "invalid tracking table name",
        ),
        ("fleet:\n  jobs", "is not a number from 1 to"),
    ];
    for (setting, said) in settings {
        let key = setting.replace(":\n  ", ".");
        for written in ["${CFT_VALUE}", "\"${CFT_VALUE}\"", url] {
            project.write(
                "db/environments/ci.yaml",
                format!("database_url: ${{DATABASE_URL}}\n{setting}: {written}\n"),
            );
            for json in [false, true] {
                let mut command = project.cli();
                command
                    .args(["migrate", "status", "--env", "ci"])
                    .env("DATABASE_URL", url)
                    .env("CFT_VALUE", url);
                if json {
                    command.args(["--format", "json"]);
                }
                let run = Run::of(&mut command);
                run.code(exit::INVALID)
                    .stdout_lacks("S3cr3t")
                    .stderr_lacks("S3cr3t")
                    .stdout_lacks("xyz")
                    .stderr_lacks("xyz");
                let shown = if json {
                    run.json()["error"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                } else {
                    run.stderr.clone()
                };
                for part in [key.as_str(), said, "line 3", "not shown"] {
                    assert!(shown.contains(part), "{key}: {part:?}\n{}", run.dump());
                }
            }
        }
    }
}
