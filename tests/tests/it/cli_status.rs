//! `migrate status` as a user and a script see it: the seed's table and JSON, the `using ...`
//! line, which database the precedence rules pick (proved by the exit code of a database in a
//! known state, not only by what is printed), colour, and passwords never shown.

use std::collections::BTreeSet;
use std::process::Command;

use confiture::exit;
use confiture_tests::{binary, pg_host, pg_port, server, Project, Run, TestDb};

fn two_migrations() -> Project {
    let project = Project::new();
    project
        .migration(
            "001_add_bio_to_users",
            "CREATE TABLE tb_user (pk_user INTEGER PRIMARY KEY, bio TEXT);\n",
            "DROP TABLE tb_user;\n",
        )
        .migration(
            "002_add_avatar_url",
            "ALTER TABLE tb_user ADD COLUMN avatar_url TEXT;\n",
            "ALTER TABLE tb_user DROP COLUMN avatar_url;\n",
        );
    project
}

/// `001_a`, `002_b`, `003_c`, each creating (dropping) its table `a`, `b`, `c`.
fn three_tables() -> Project {
    let project = Project::new();
    for (id, table) in [("001_a", "a"), ("002_b", "b"), ("003_c", "c")] {
        project.migration(
            id,
            &format!("CREATE TABLE {table} (id int);\n"),
            &format!("DROP TABLE {table};\n"),
        );
    }
    project
}

/// `user@host:port/db`, as the CLI shows a database.
fn shown(db: &TestDb) -> String {
    db.display()
}

/// The cells of a table line: separated by two spaces or more.
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

fn keys(value: &serde_json::Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

fn has_keys(value: &serde_json::Value, expected: &[&str]) {
    let keys = keys(value);
    for key in expected {
        assert!(keys.contains(*key), "{key:?} missing from {value}");
    }
}

#[test]
fn table_as_in_the_seed() {
    let db = TestDb::new("st_table");
    let project = two_migrations();
    project
        .run_on(&db, &["migrate", "up", "--steps", "1"])
        .code(exit::SUCCESS);
    let run = project.run_on(&db, &["migrate", "status"]);
    run.code(exit::PENDING);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.dump());
    let header = cells(lines[0]);
    assert_eq!(
        header,
        // The ledger's times are UTC, and the header says so.
        ["Migration", "Status", "Applied At (UTC)"],
        "{}",
        run.dump()
    );
    let applied = cells(lines[1]);
    assert_eq!(applied[0], "001_add_bio_to_users");
    assert_eq!(applied[1], "✓ applied");
    // `2026-01-15 10:30:00`
    let at = applied[2];
    assert!(
        at.len() == 19 && at.as_bytes()[10] == b' ' && at.as_bytes()[4] == b'-',
        "applied at {at:?}\n{}",
        run.dump()
    );
    let pending = cells(lines[2]);
    assert_eq!(pending, ["002_add_avatar_url", "✗ pending", "—"]);
    assert_eq!(lines[3], "1 applied, 1 pending, 2 total");
    // The columns line up.
    let status_col = lines[0].find("Status").unwrap();
    assert_eq!(lines[1].find('✓'), Some(status_col));
    assert_eq!(lines[2].find('✗'), Some(status_col));
}

#[test]
fn json_is_one_document_with_the_seed_keys() {
    let db = TestDb::new("st_json");
    let project = two_migrations();
    project
        .run_on(&db, &["migrate", "up", "--steps", "1"])
        .code(exit::SUCCESS);
    let run = project.run_on(&db, &["migrate", "status", "--format", "json"]);
    run.code(exit::PENDING);
    // serde_json::from_str rejects trailing text: stdout is this document and nothing else.
    let doc = run.json();
    has_keys(
        &doc,
        &[
            "tracking_table",
            "applied",
            "pending",
            "migrations",
            "summary",
        ],
    );
    assert_eq!(doc["tracking_table"], "public.tb_confiture");
    assert_eq!(doc["applied"], serde_json::json!(["001"]));
    assert_eq!(doc["pending"], serde_json::json!(["002"]));
    let migrations = doc["migrations"].as_array().expect("migrations");
    assert_eq!(migrations.len(), 2);
    for m in migrations {
        has_keys(m, &["version", "name", "status", "applied_at"]);
    }
    assert_eq!(migrations[0]["version"], "001");
    assert_eq!(migrations[0]["name"], "add_bio_to_users");
    assert_eq!(migrations[0]["status"], "applied");
    let at = migrations[0]["applied_at"].as_str().expect("applied_at");
    assert!(
        at.len() == 25 && at.as_bytes()[10] == b'T' && at.ends_with("+00:00"),
        "applied_at {at:?} is not RFC 3339 UTC"
    );
    assert_eq!(migrations[1]["status"], "pending");
    assert!(migrations[1]["applied_at"].is_null());
    has_keys(&doc["summary"], &["applied", "pending", "total"]);
    assert_eq!(doc["summary"]["applied"], 1);
    assert_eq!(doc["summary"]["pending"], 1);
    assert_eq!(doc["summary"]["total"], 2);
    // The `using` line goes to stderr, never into the document.
    run.stderr_has(&format!("using --database-url: {}", shown(&db)));

    // Not initialised: still one document, with exit 2.
    let fresh = TestDb::new("st_json2");
    let run = project.run_on(&fresh, &["migrate", "status", "--format", "json"]);
    run.code(exit::NOT_INITIALISED);
    let doc = run.json();
    assert_eq!(doc["applied"], serde_json::json!([]));
    assert_eq!(doc["summary"]["pending"], 2);

    // A failure (cannot connect) in JSON mode: one document on stdout, the error on stderr.
    let run = project.run(&[
        "migrate",
        "status",
        "--format",
        "json",
        "--database-url",
        "postgresql://postgres@127.0.0.1:1/nowhere",
    ]);
    run.code(exit::CONNECTION);
    assert_eq!(run.json()["error"]["exit_code"], 3);
}

#[test]
fn json_names_the_broken_files_beside_the_status() {
    let db = TestDb::new("status_broken_json");
    let project = two_migrations();
    project.write(
        "db/migrations/002_add_avatar_url.up.sql",
        "-- nothing yet\n",
    );
    let run = project.run(&[
        "migrate",
        "status",
        "--database-url",
        &db.url(),
        "--format",
        "json",
    ]);
    run.code(exit::INVALID);
    let doc = run.json();
    // The status is there, with the broken migration marked and the diagnostics listed.
    assert_eq!(doc["summary"]["total"], 2, "{}", run.dump());
    assert_eq!(doc["migrations"][1]["invalid"], true, "{}", run.dump());
    assert_eq!(doc["migrations"][0]["invalid"], false, "{}", run.dump());
    let diagnostics = doc["diagnostics"]
        .as_array()
        .expect("diagnostics is a list");
    assert!(
        diagnostics.iter().any(|d| d["code"] == "C007"
            && d["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("002_add_avatar_url.up.sql"))),
        "the JSON names the file and the rule: {}",
        run.dump()
    );
    // Nothing was written to the database.
    assert!(db.ledger().is_none());
}

#[test]
fn the_using_line_names_environment_file_and_database() {
    let db = TestDb::new("st_using");
    let project = two_migrations();
    project.write(
        "db/environments/staging.yaml",
        format!("name: staging\ndatabase_url: {}\n", db.url()),
    );
    project
        .run(&["migrate", "status", "--env", "staging"])
        .code(exit::NOT_INITIALISED)
        .stderr_has(&format!(
            "using staging (db/environments/staging.yaml): {}",
            shown(&db)
        ))
        .stdout_lacks("using");
}

/// Three databases in three states, so that the exit code of `status` says which one was read.
struct Three {
    /// Every migration applied: status exits 0.
    up_to_date: TestDb,
    /// No ledger: status exits 2.
    fresh: TestDb,
    /// One migration applied: status exits 1.
    pending: TestDb,
    project: Project,
}

impl Three {
    fn new() -> Three {
        let project = two_migrations();
        let three = Three {
            up_to_date: TestDb::new("st_prec0"),
            fresh: TestDb::new("st_prec2"),
            pending: TestDb::new("st_prec1"),
            project,
        };
        three
            .project
            .run_on(&three.up_to_date, &["migrate", "up"])
            .code(exit::SUCCESS);
        three
            .project
            .run_on(&three.pending, &["migrate", "up", "--steps", "1"])
            .code(exit::SUCCESS);
        three
    }

    /// `status` with `args` and the given environment variables.
    fn status(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut cmd = self.project.cli();
        cmd.args(["migrate", "status"]).args(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        Run::of(&mut cmd)
    }
}

#[test]
fn precedence_of_the_ways_to_name_a_database() {
    let t = Three::new();
    let (a, b, c) = (&t.up_to_date, &t.fresh, &t.pending);
    let (a_url, c_url) = (a.url(), c.url());
    t.project.write(
        "db/environments/local.yaml",
        format!("database_url: {}\n", b.url()),
    );
    t.project.write(
        "db/environments/staging.yaml",
        format!("database_url: {}\n", a.url()),
    );
    t.project.write(
        "elsewhere/pending.yaml",
        format!("database_url: {}\n", c.url()),
    );

    // 1. --database-url beats CONFITURE_DATABASE_URL, the default env file and DATABASE_URL.
    t.status(
        &["--database-url", &a_url],
        &[("CONFITURE_DATABASE_URL", &c_url), ("DATABASE_URL", &c_url)],
    )
    .code(exit::SUCCESS)
    .stderr_has(&format!("using --database-url: {}", shown(a)));

    // 2. --env beats the default env file and DATABASE_URL.
    t.status(&["--env", "staging"], &[("DATABASE_URL", &c_url)])
        .code(exit::SUCCESS)
        .stderr_has("using staging (db/environments/staging.yaml)");

    // 2. -c FILE likewise.
    t.status(
        &["-c", "elsewhere/pending.yaml"],
        &[("DATABASE_URL", &a_url)],
    )
    .code(exit::PENDING)
    .stderr_has(&format!("elsewhere/pending.yaml): {}", shown(c)));

    // 3. CONFITURE_DATABASE_URL beats the default env file and DATABASE_URL.
    t.status(
        &[],
        &[("CONFITURE_DATABASE_URL", &a_url), ("DATABASE_URL", &c_url)],
    )
    .code(exit::SUCCESS)
    .stderr_has(&format!("using CONFITURE_DATABASE_URL: {}", shown(a)));

    // 4. The default env file (local.yaml) beats DATABASE_URL — said on stderr when the
    // variable names another database (a sqlx-cli or dbmate user aiming at it), not when it
    // names the same one.
    t.status(&[], &[("DATABASE_URL", &a_url)])
        .code(exit::NOT_INITIALISED)
        .stderr_has(&format!(
            "using local (db/environments/local.yaml): {}",
            shown(b)
        ))
        .stderr_has(
            "note: DATABASE_URL is set but not used: db/environments/local.yaml takes \
             precedence (to use it: --database-url \"$DATABASE_URL\", or `database_url: \
             ${DATABASE_URL:-...}` in db/environments/local.yaml)",
        );
    t.status(&[], &[("DATABASE_URL", &b.url())])
        .code(exit::NOT_INITIALISED)
        .stderr_lacks("DATABASE_URL is set but not used");
    t.status(&["--env", "local"], &[("DATABASE_URL", &a_url)])
        .code(exit::NOT_INITIALISED)
        .stderr_lacks("DATABASE_URL is set but not used");

    // 5. DATABASE_URL when there is no default env file.
    t.project.remove("db/environments/local.yaml");
    t.status(&[], &[("DATABASE_URL", &c_url)])
        .code(exit::PENDING)
        .stderr_has(&format!("using DATABASE_URL: {}", shown(c)));

    // Nothing at all: exit 5 listing the five ways.
    t.status(&[], &[])
        .code(exit::INVALID)
        .stderr_has("no database configured")
        .stderr_has("CONFITURE_DATABASE_URL")
        .stderr_has("DATABASE_URL");

    // An empty variable counts as unset.
    t.status(
        &[],
        &[("CONFITURE_DATABASE_URL", ""), ("DATABASE_URL", &c_url)],
    )
    .code(exit::PENDING);
}

/// `${DATABASE_URL}` in an environment file takes the `.env`'s `DATABASE_URL` when the
/// environment has none (sqlx-cli's and dbmate's habit: the `.env` is where the variable is
/// set), never the file's default silently; a default environment file that does not use the
/// variable while a `.env` names another database says so, as it does of an exported one.
#[test]
fn an_environment_files_database_url_variable_reads_the_dotenv() {
    let t = Three::new();
    let (a, b, c) = (&t.up_to_date, &t.fresh, &t.pending);
    let with_default =
        |default: &TestDb| format!("database_url: ${{DATABASE_URL:-{}}}\n", default.url());
    t.project
        .write("db/environments/local.yaml", with_default(b));
    t.project
        .write(".env", format!("# the app's\nDATABASE_URL={}\n", c.url()));
    t.status(&[], &[])
        .code(exit::PENDING)
        .stderr_has(&format!(
            "using local (db/environments/local.yaml, DATABASE_URL in .env, line 2): {}",
            shown(c)
        ))
        .stderr_lacks("is set but not used");
    // An exported DATABASE_URL is set: the `.env` overrides nothing.
    t.status(&[], &[("DATABASE_URL", &a.url())])
        .code(exit::SUCCESS)
        .stderr_has(&format!(
            "using local (db/environments/local.yaml): {}",
            shown(a)
        ));
    // Any environment file's variable, `--env`'s too.
    t.project.write(
        "db/environments/staging.yaml",
        "database_url: ${DATABASE_URL}\n",
    );
    t.status(&["--env", "staging"], &[])
        .code(exit::PENDING)
        .stderr_has(&format!(
            "using staging (db/environments/staging.yaml, DATABASE_URL in .env, line 2): {}",
            shown(c)
        ));
    // A `.env` that cannot be read is an error, never passed over for the default.
    t.project
        .write(".env", "DATABASE_URL=postgresql://h/${HENV_NOT_SET}\n");
    t.status(&[], &[])
        .code(exit::INVALID)
        .stderr_has(".env:1: `DATABASE_URL` uses ${HENV_NOT_SET}, which is not set");

    // A default file naming its database itself: the `.env`'s is passed over, and said.
    t.project.write(
        "db/environments/local.yaml",
        format!("database_url: {}\n", b.url()),
    );
    t.project
        .write(".env", format!("DATABASE_URL={}\n", c.url()));
    t.status(&[], &[])
        .code(exit::NOT_INITIALISED)
        .stderr_has(&format!(
            "using local (db/environments/local.yaml): {}",
            shown(b)
        ))
        .stderr_has(
            "note: DATABASE_URL in .env, line 1 is set but not used: \
             db/environments/local.yaml takes precedence (to use it: `database_url: \
             ${DATABASE_URL:-...}` in db/environments/local.yaml)",
        );
    t.project
        .write(".env", format!("DATABASE_URL={}\n", b.url()));
    t.status(&[], &[])
        .code(exit::NOT_INITIALISED)
        .stderr_lacks("is set but not used");
}

#[test]
fn an_explicit_file_and_confiture_database_url_naming_another_database_is_an_error() {
    let t = Three::new();
    t.project.write(
        "db/environments/staging.yaml",
        format!("database_url: {}\n", t.up_to_date.url()),
    );
    let other = t.pending.url();
    for args in [
        &["--env", "staging"][..],
        &["-c", "db/environments/staging.yaml"],
    ] {
        t.status(args, &[("CONFITURE_DATABASE_URL", &other)])
            .code(exit::INVALID)
            .stderr_has(&t.up_to_date.name)
            .stderr_has(&t.pending.name);
    }
    // The same database named twice is fine.
    t.status(
        &["--env", "staging"],
        &[("CONFITURE_DATABASE_URL", &t.up_to_date.url())],
    )
    .code(exit::SUCCESS);
}

#[test]
fn an_unknown_environment_lists_the_existing_ones() {
    let project = two_migrations();
    project.write(
        "db/environments/local.yaml",
        "database_url: postgresql://x@h/db\n",
    );
    project.write(
        "db/environments/staging.yaml",
        "database_url: postgresql://x@h/db\n",
    );
    project
        .run(&["migrate", "status", "--env", "stagin"])
        .code(exit::INVALID)
        .stderr_has("environment \"stagin\" not found")
        .stderr_has("did you mean --env staging?")
        .stderr_has("available environments: local, staging");
}

/// `default_env = "locl"` beside `local.yaml` (or `Local.yaml` for the default `local`) went on
/// to `DATABASE_URL`, another database, whose "does not exist" help offered `up
/// --create-database`. The misspelling is refused before anything connects, naming both files
/// and where the default was set, in text and in JSON.
#[test]
fn a_misnamed_default_environment_is_refused_not_replaced_by_database_url() {
    let project = two_migrations();
    project.write(
        "db/environments/local.yaml",
        "database_url: postgresql://x@127.0.0.1:1/local_db\n",
    );
    project.write(
        "Cargo.toml",
        "[workspace]\nmembers = []\n[workspace.metadata.confiture]\ndefault_env = \"locl\"\n",
    );
    let elsewhere = [("DATABASE_URL", "postgresql://x@127.0.0.1:1/elsewhere")];
    let run = |args: &[&str]| Run::of(project.cli().args(args).envs(elsewhere));
    run(&["migrate", "status"])
        .code(exit::INVALID)
        .stderr_has(
            "error: the default environment file db/environments/locl.yaml does not exist, but \
             db/environments/local.yaml does",
        )
        .stderr_has("`default_env` in `[workspace.metadata.confiture]` of `Cargo.toml:4` sets it")
        .stderr_has("did you mean `local`? set `default_env = \"local\"`")
        .stderr_lacks("elsewhere")
        .stderr_lacks("using");
    let json = run(&["migrate", "up", "--create-database", "--format", "json"]);
    json.code(exit::INVALID).stderr_lacks("elsewhere");
    assert_eq!(json.json()["error"]["kind"], "invalid");

    project.write("Cargo.toml", "[workspace]\nmembers = []\n");
    project.remove("db/environments/local.yaml");
    project.write(
        "db/environments/Local.yaml",
        "database_url: postgresql://x@h/db\n",
    );
    run(&["migrate", "status"])
        .code(exit::INVALID)
        .stderr_has(
            "db/environments/local.yaml does not exist, but db/environments/Local.yaml does",
        )
        .stderr_has("did you mean --env Local?")
        .stderr_lacks("elsewhere");
}

/// Runs the CLI on a pseudo-terminal (util-linux `script`), returning everything it printed.
fn on_a_terminal(project: &Project, args: &[&str], no_color: bool) -> String {
    let mut command_line = shell_quote(&binary().display().to_string());
    for a in args {
        command_line.push(' ');
        command_line.push_str(&shell_quote(a));
    }
    let mut cmd = Command::new("script");
    cmd.args(["-qefc", &command_line, "/dev/null"])
        .current_dir(&project.root)
        .env_remove("DATABASE_URL")
        .env_remove("CONFITURE_DATABASE_URL")
        .env("TERM", "xterm");
    if no_color {
        cmd.env("NO_COLOR", "1");
    } else {
        cmd.env_remove("NO_COLOR");
    }
    let output = cmd.output().unwrap_or_else(|e| {
        panic!("this test needs util-linux `script` to run the CLI on a terminal: {e}")
    });
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn colour_follows_the_flag_the_terminal_and_no_color() {
    let db = TestDb::new("st_color");
    let project = two_migrations();
    project
        .run_on(&db, &["migrate", "up", "--steps", "1"])
        .code(exit::SUCCESS);
    let url = db.url();
    // Through a pipe (the harness sets NO_COLOR; --color always overrides it).
    let always = project.run_on(&db, &["migrate", "status", "--color", "always"]);
    always.code(exit::PENDING).stdout_has("\x1b[");
    // Colour never gets into a JSON document.
    let json = project.run_on(
        &db,
        &["migrate", "status", "--color", "always", "--format", "json"],
    );
    json.code(exit::PENDING).stdout_lacks("\x1b[");
    assert_eq!(json.json()["summary"]["total"], 2);
    let never = project.run_on(&db, &["migrate", "status", "--color", "never"]);
    never
        .code(exit::PENDING)
        .stdout_lacks("\x1b[")
        .stderr_lacks("\x1b[");
    let mut piped = project.cli();
    piped
        .args(["migrate", "status", "--database-url", &url])
        .env_remove("NO_COLOR");
    Run::of(&mut piped)
        .code(exit::PENDING)
        .stdout_lacks("\x1b[")
        .stderr_lacks("\x1b[");

    // On a terminal: colour in auto, none with NO_COLOR or --color never.
    let status = ["migrate", "status", "--database-url", &url];
    let tty = on_a_terminal(&project, &status, false);
    assert!(tty.contains("applied"), "{tty}");
    assert!(tty.contains("\x1b[32m"), "no colour on a terminal:\n{tty}");
    let tty = on_a_terminal(&project, &status, true);
    assert!(tty.contains("applied"), "{tty}");
    assert!(!tty.contains("\x1b["), "colour despite NO_COLOR:\n{tty:?}");
    let never = [&status[..], &["--color", "never"]].concat();
    let tty = on_a_terminal(&project, &never, false);
    assert!(tty.contains("applied"), "{tty}");
    assert!(
        !tty.contains("\x1b["),
        "colour despite --color never:\n{tty:?}"
    );
}

#[test]
fn a_password_never_appears_in_any_output() {
    const PASSWORD: &str = "s3cr3t-Pa55word";
    let db = TestDb::new("st_pw");
    let project = two_migrations();
    project.migration(
        "003_broken",
        "SELECT * FROM no_such_table;\n",
        "SELECT 1;\n",
    );
    // Trust authentication ignores the password, so the commands really run.
    let url = server().url_as(&server().user, Some(PASSWORD), &db.name);
    let refused = format!("postgresql://postgres:{PASSWORD}@127.0.0.1:1/{}", db.name);
    let missing = format!(
        "postgresql://postgres:{PASSWORD}@{}:{}/{}_absent",
        pg_host(),
        pg_port(),
        db.name
    );
    project.write(
        "db/environments/legacy.yaml",
        format!(
            "database:\n  host: {}\n  port: {}\n  database: {}\n  user: postgres\n  password: {PASSWORD}\n",
            pg_host(),
            pg_port(),
            db.name
        ),
    );
    let runs: Vec<(Vec<&str>, u8)> = vec![
        (
            vec!["migrate", "status", "--database-url", &url],
            exit::NOT_INITIALISED,
        ),
        (
            vec!["migrate", "up", "--steps", "2", "--database-url", &url],
            exit::SUCCESS,
        ),
        (
            vec![
                "migrate",
                "status",
                "--database-url",
                &url,
                "--format",
                "json",
            ],
            exit::PENDING,
        ),
        (
            vec!["migrate", "up", "--database-url", &url],
            exit::MIGRATION_FAILED,
        ),
        (
            vec!["migrate", "up", "--database-url", &url, "--format", "json"],
            exit::MIGRATION_FAILED,
        ),
        (
            vec!["migrate", "up", "--dry-run", "--database-url", &url],
            exit::SUCCESS,
        ),
        (
            vec![
                "migrate",
                "down",
                "--dry-run",
                "--database-url",
                &url,
                "--format",
                "json",
            ],
            exit::SUCCESS,
        ),
        (vec!["migrate", "status", "--env", "legacy"], exit::PENDING),
        (
            vec!["migrate", "status", "--database-url", &refused],
            exit::CONNECTION,
        ),
        (
            vec![
                "migrate",
                "status",
                "--database-url",
                &refused,
                "--format",
                "json",
            ],
            exit::CONNECTION,
        ),
        (
            vec!["migrate", "status", "--database-url", &missing],
            exit::CONNECTION,
        ),
    ];
    for (args, code) in runs {
        let run = project.run(&args);
        assert_eq!(
            run.code,
            i32::from(code),
            "{}\n{}",
            args.join(" "),
            run.dump()
        );
        assert!(
            !run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD),
            "the password was shown by `{}`\n{}",
            args.join(" "),
            run.dump()
        );
    }
}

/// A version recorded twice — the same text in a ledger without `UNIQUE (version)` (Python
/// confiture's older tables), or another spelling (`1` beside `001`) — counted the migration
/// twice among the applied (`3 applied`, `"applied": ["001", "002", "002"]`): each migration is
/// counted and listed once, and the second rows stay the divergence they are (exit 7, listed in
/// `duplicate`, a `duplicate` line of the table).
#[test]
fn a_version_recorded_twice_is_one_applied_migration_and_a_duplicate() {
    let db = TestDb::new("st_dup_rows");
    let project = two_migrations();
    project.migration(
        "003_add_email",
        "ALTER TABLE tb_user ADD COLUMN email TEXT;\n",
        "ALTER TABLE tb_user DROP COLUMN email;\n",
    );
    project
        .run_on(&db, &["migrate", "up", "--steps", "2"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute(
            "ALTER TABLE tb_confiture DROP CONSTRAINT tb_confiture_version_key; \
             INSERT INTO tb_confiture (slug, version, name, checksum, applied_at) \
             SELECT 'again', version, name, checksum, applied_at + interval '1 second' \
             FROM tb_confiture WHERE version = '002'; \
             INSERT INTO tb_confiture (slug, version, name, checksum, applied_at) \
             SELECT 'spelled', '1', name, checksum, applied_at + interval '2 seconds' \
             FROM tb_confiture WHERE version = '001'",
        )
        .expect("versions recorded twice");

    let run = project.run_on(&db, &["migrate", "status"]);
    run.code(exit::DIVERGED)
        .stdout_has("2 applied, 1 pending, 3 total, 2 duplicate");
    let duplicates = run
        .stdout
        .lines()
        .filter(|l| cells(l).get(1) == Some(&"! duplicate"))
        .count();
    assert_eq!(duplicates, 2, "{}", run.dump());

    let run = project.run_on(&db, &["migrate", "status", "--format", "json"]);
    run.code(exit::DIVERGED);
    let doc = run.json();
    assert_eq!(doc["applied"], serde_json::json!(["001", "002"]), "{doc}");
    assert_eq!(doc["pending"], serde_json::json!(["003"]), "{doc}");
    assert_eq!(doc["duplicate"], serde_json::json!(["1", "002"]), "{doc}");
    let summary = &doc["summary"];
    assert_eq!(
        (
            &summary["applied"],
            &summary["pending"],
            &summary["total"],
            &summary["duplicate"]
        ),
        (
            &serde_json::json!(2),
            &serde_json::json!(1),
            &serde_json::json!(3),
            &serde_json::json!(2)
        ),
        "{doc}"
    );
    let states: Vec<&str> = doc["migrations"]
        .as_array()
        .expect("migrations")
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["applied", "duplicate", "applied", "duplicate", "pending"],
        "{doc}"
    );
}

/// A file name that is not UTF-8 (Linux allows any bytes): the JSON stays one valid document
/// naming the file with its bytes written out (`\xff`), and the human output names it the same
/// readable way — never `�`, never an error about serialising a path.
#[cfg(unix)]
#[test]
fn a_file_name_that_is_not_utf8_is_named_readably_in_json_and_text() {
    use std::os::unix::ffi::OsStrExt;
    let db = TestDb::new("st_not_utf8");
    let project = two_migrations();
    for kind in ["up", "down"] {
        let mut bytes = format!("003_bx.{kind}.sql").into_bytes();
        bytes.insert(5, 0xff);
        let path = project
            .path("db/migrations")
            .join(std::ffi::OsStr::from_bytes(&bytes));
        std::fs::write(&path, "SELECT 1;\n").expect("write a file whose name is not UTF-8");
    }
    let run = project.run_on(&db, &["migrate", "status", "--format", "json"]);
    run.code(exit::INVALID);
    let doc = run.json();
    assert_eq!(doc["summary"]["total"], 2, "{}", run.dump());
    let named: Vec<&str> = doc["diagnostics"]
        .as_array()
        .expect("diagnostics is a list")
        .iter()
        .filter_map(|d| d["path"].as_str())
        .collect();
    for kind in ["up", "down"] {
        let shown = format!("003_b\\xffx.{kind}.sql");
        assert!(
            named.iter().any(|p| p.ends_with(&shown)),
            "{shown} in {named:?}\n{}",
            run.dump()
        );
    }
    let run = project.run_on(&db, &["migrate", "status"]);
    run.code(exit::INVALID);
    assert!(
        run.stderr
            .contains("`003_b\\xffx.up.sql` is not a migration file name")
            && run.stderr.contains("--> db/migrations/003_b\\xffx.up.sql"),
        "{}",
        run.dump()
    );
    assert!(!run.stderr.contains('\u{fffd}'), "{}", run.dump());
}

/// h18 F14: a confiture (Python) `.py` migration numbered as an SQL pair (the usual merge
/// collision) was left out without a word: `lint` clean, `status` "up to date" (exit 0). It is
/// a duplicate version (C003), as a second pair is, in `lint` and every command, naming both
/// files; a `.py` file beside another `.py` file of its version too.
#[test]
fn a_python_migration_numbered_as_a_pair_is_a_duplicate_version() {
    let db = TestDb::new("st_py_duplicate");
    let project = two_migrations();
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    for (py, pair) in [
        ("002_other.py", "002_add_avatar_url"),
        ("003_b.py", "003_a.py"),
    ] {
        if py == "003_b.py" {
            project.write("db/migrations/003_a.py", "# confiture (Python)\n");
        }
        project.write(&format!("db/migrations/{py}"), "# confiture (Python)\n");
        let lint = project.run(&["lint"]);
        lint.code(exit::INVALID)
            .stderr_has("error[C003]")
            .stderr_has(&format!("`{pair}` and `{py}`"))
            .stderr_has(&format!("--> db/migrations/{py}"));
        project
            .run_on(&db, &["migrate", "status"])
            .code(exit::INVALID)
            .stderr_has("C003");
        project
            .run_on(&db, &["migrate", "up"])
            .code(exit::INVALID)
            .stderr_has("C003");
        project.remove(&format!("db/migrations/{py}"));
    }
    project.remove("db/migrations/003_a.py");
    // A `.py` file meant to be a migration but misnamed is reported as a `.sql` one is;
    // other `.py` files are no migrations.
    project.write("db/migrations/__init__.py", "");
    project.write("db/migrations/helpers.py", "");
    project.run(&["lint"]).code(exit::SUCCESS);
    for (py, corrected) in [("03_d.py", "003_d.py"), ("003_E.py", "003_e.py")] {
        project.write(&format!("db/migrations/{py}"), "# confiture (Python)\n");
        project
            .run(&["lint"])
            .code(exit::INVALID)
            .stderr_has(&format!("error[C006]: `{py}` is not a migration file name"))
            .stderr_has(&format!("rename it to `{corrected}`"))
            .stderr_has("`<VERSION>_<NAME>.py`");
        project
            .run_on(&db, &["migrate", "status"])
            .code(exit::INVALID)
            .stderr_has("C006");
        project.remove(&format!("db/migrations/{py}"));
    }
}

/// h18 F4: a migration file whose name ends (or starts) with whitespace, a control or an
/// invisible character (`003_c.up.sql\r` from a CRLF script, `003_c.up.sql `) was left out
/// without a word: `lint` clean, `status` "up to date" (exit 0), the migration never ran. It
/// is a misnamed migration file (C006) in `lint` and every command, shown escaped, with the
/// trimmed name to rename it to.
#[test]
fn a_migration_name_with_stray_characters_at_its_ends_is_misnamed() {
    let db = TestDb::new("st_stray_name");
    let project = two_migrations();
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    for (up, down, shown) in [
        ("003_c.up.sql ", "003_c.down.sql ", "`003_c.up.sql `"),
        ("003_c.up.sql\r", "003_c.down.sql\r", "`003_c.up.sql\\r`"),
        (
            "003_c.up.sql\u{a0}",
            "003_c.down.sql\u{a0}",
            "`003_c.up.sql\u{a0}`",
        ),
        (
            "003_c.up.sql\u{200b}",
            "003_c.down.sql\u{200b}",
            "`003_c.up.sql\\u{200b}`",
        ),
        (" 003_c.up.sql", " 003_c.down.sql", "` 003_c.up.sql`"),
    ] {
        project.write(&format!("db/migrations/{up}"), "CREATE TABLE t3 (x int);\n");
        project.write(&format!("db/migrations/{down}"), "DROP TABLE t3;\n");
        project
            .run(&["lint"])
            .code(exit::INVALID)
            .stderr_has("error[C006]")
            .stderr_has(&format!("{shown} is not a migration file name"))
            .stderr_has("rename it to `003_c.up.sql`;")
            .stderr_has("rename it to `003_c.down.sql`;");
        project
            .run_on(&db, &["migrate", "status"])
            .code(exit::INVALID)
            .stderr_has("C006");
        project
            .run_on(&db, &["migrate", "up"])
            .code(exit::INVALID)
            .stderr_has("C006");
        project.remove(&format!("db/migrations/{up}"));
        project.remove(&format!("db/migrations/{down}"));
    }
    assert!(!db.has_relation("t3"));
}

/// N37: a misnamed migration file (C006) also brought diagnostics whose advice contradicted
/// its rename — "`002_b.down.sql` has no up file: restore `002_b.up.sql`" beside the misnamed
/// up file, "version 003 follows version 001: renumber `003_c` to 002" beside a misnamed
/// pair — in `lint` and `migrate status` alike, and `status` left a misnamed pair out of its
/// table. A misnamed file is the half and the version its corrected name gives: each command
/// reports the C006 alone, and `status` shows the migration where it will run.
#[test]
fn a_misnamed_file_is_reported_alone_and_shown_where_it_will_run() {
    let db = TestDb::new("st_misnamed_alone");
    let project = Project::new();
    project
        .migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration("003_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n");
    for (what, files) in [
        ("the up file misnamed", ["002-b.up.sql", "002_b.down.sql"]),
        (
            "the down file misnamed",
            ["002_b.up.sql", "002_b.down.sql "],
        ),
        ("both misnamed", ["2_b.up.sql", "2_b.down.sql"]),
        (
            "the down file named in capitals",
            ["002_b.up.sql", "002_B.DOWN.sql"],
        ),
    ] {
        for file in files {
            project.write(&format!("db/migrations/{file}"), "SELECT 1;\n");
        }
        let misnamed = (files.iter())
            .filter(|f| confiture::files::name::parse_file_name(f).is_err())
            .count();
        let only_c006 = |run: &Run, diagnostics: &serde_json::Value| {
            let codes: Vec<&str> = (diagnostics.as_array().expect("diagnostics").iter())
                .map(|d| d["code"].as_str().expect("code"))
                .collect();
            assert_eq!(codes, vec!["C006"; misnamed], "{what}\n{}", run.dump());
        };
        for args in [&["lint"][..], &["migrate", "status"]] {
            let run = project.run_on(&db, args);
            run.code(exit::INVALID).stderr_has("error[C006]");
            for code in ["C001", "C002", "C003", "C004", "C005"] {
                run.stderr_lacks(code);
            }
            let json = [args, &["--format", "json"]].concat();
            let run = project.run_on(&db, &json);
            run.code(exit::INVALID);
            only_c006(&run, &run.json()["diagnostics"]);
        }
        let run = project.run_on(&db, &["migrate", "status"]);
        let lines: Vec<Vec<&str>> = run.stdout.lines().skip(1).take(3).map(cells).collect();
        let shown: Vec<&[&str]> = lines.iter().map(|l| l.get(..2).unwrap_or(l)).collect();
        assert_eq!(
            shown,
            [
                &["001_a", "✗ pending"][..],
                &["002_b", "✗ pending, invalid"],
                &["003_c", "✗ pending"],
            ],
            "{what}\n{}",
            run.dump()
        );
        for file in files {
            project.remove(&format!("db/migrations/{file}"));
        }
    }
    // Renamed as C006 says: nothing else to do.
    project.migration("002_b", "SELECT 1;\n", "SELECT 1;\n");
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::NOT_INITIALISED);
}

/// The table's columns line up in terminal cells, not characters: a ledger row named with wide
/// characters (`添加用户表`, two cells each), combining marks (none) or control characters
/// (escaped, several cells) keeps every Status cell under the header's `Status`.
#[test]
fn the_columns_line_up_whatever_the_names_are_made_of() {
    let db = TestDb::new("st_widths");
    let project = two_migrations();
    project
        .run_on(&db, &["migrate", "up", "--steps", "1"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute(
            "INSERT INTO tb_confiture (slug, version, name) VALUES \
             ('w1', '003', '添加用户表'), \
             ('w2', '004', 'e' || chr(769) || 'tiquette'), \
             ('w3', '005', 'tab' || chr(27) || '[2J'), \
             ('w4', '006', 'a_rather_long_name_that_is_the_widest_of_all_the_rows')",
        )
        .expect("rows recorded by another tool");
    let run = project.run_on(&db, &["migrate", "status"]);
    run.code(exit::DIVERGED);
    // Terminal cells before `needle` in `line`: wide characters two, combining marks none.
    let cells_before = |line: &str, needle: &str| -> usize {
        let at = line
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} in {line}"));
        line[..at]
            .chars()
            .map(|c| match c {
                '\u{300}'..='\u{36f}' => 0,
                '\u{4e00}'..='\u{9fff}' => 2,
                _ => 1,
            })
            .sum()
    };
    let lines: Vec<&str> = run.stdout.lines().collect();
    let status = cells_before(lines[0], "Status");
    let at = cells_before(lines[0], "Applied At");
    let rows = &lines[1..lines.len() - 1];
    assert_eq!(rows.len(), 6, "{}", run.dump());
    for line in rows {
        let mark = ["✓", "✗", "!"]
            .into_iter()
            .find(|m| line.contains(m))
            .unwrap_or_else(|| panic!("no status in {line}"));
        assert_eq!(cells_before(line, mark), status, "{line}\n{}", run.dump());
        let time = if line.contains('—') { "—" } else { "20" };
        assert_eq!(cells_before(line, time), at, "{line}\n{}", run.dump());
    }
}

/// A way to break a file, by name.
#[cfg(unix)]
type Way = (&'static str, fn(&std::path::Path));

/// The ways a migration file can be on disk and still not be read: a directory in its place, a
/// FIFO, a symbolic link to nothing, bytes that are not UTF-8, and `chmod 000` (not a way as
/// root, who reads it anyway: then only the others are tried). Each `(name, break it)`.
#[cfg(unix)]
fn ways_to_make_unreadable(project: &Project) -> Vec<Way> {
    use std::os::unix::fs::PermissionsExt;
    let mut ways: Vec<Way> = vec![
        ("a directory", |path| {
            std::fs::remove_file(path).expect("rm");
            std::fs::create_dir(path).expect("mkdir");
        }),
        ("a FIFO", |path| {
            std::fs::remove_file(path).expect("rm");
            let ok = Command::new("mkfifo").arg(path).status().expect("mkfifo");
            assert!(ok.success(), "mkfifo");
        }),
        ("a symbolic link to nothing", |path| {
            std::fs::remove_file(path).expect("rm");
            std::os::unix::fs::symlink("nowhere.sql", path).expect("ln -s");
        }),
        ("not UTF-8", |path| {
            std::fs::write(path, b"SELECT '\xff';\n").expect("write");
        }),
    ];
    project.write("probe.txt", "SELECT 1;\n");
    let file = project.path("probe.txt");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    if std::fs::read(&file).is_err() {
        ways.push(("chmod 000", |path| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o000)).expect("chmod");
        }));
    }
    ways
}

/// Puts back a file broken by [`ways_to_make_unreadable`].
#[cfg(unix)]
fn restore(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644));
    let _ = std::fs::remove_dir(path);
    let _ = std::fs::remove_file(path);
    std::fs::write(path, text).expect("restore");
}

/// An applied migration whose up file is on disk but cannot be read was `missing` — "the file
/// is gone", followed by a help that `reinit` forgets its row, which would make `up` run it
/// again — and a pending one whose down file cannot be read `pending, invalid`. Both are
/// `unreadable`, whatever the way, with the file and the system's reason in the table and the
/// JSON; the row counts among the applied and the pending one among the pending, and the
/// help says to make the files readable, never to forget anything. Exit 5, as for other file
/// errors.
#[cfg(unix)]
#[test]
fn a_migration_whose_files_are_there_but_unreadable_is_unreadable_not_missing() {
    let db = TestDb::new("st_unreadable");
    let project = three_tables();
    project
        .run_on(&db, &["migrate", "up", "--target", "002"])
        .code(exit::SUCCESS);
    let applied_up = project.path("db/migrations/002_b.up.sql");
    let pending_down = project.path("db/migrations/003_c.down.sql");
    for (way, break_it) in ways_to_make_unreadable(&project) {
        break_it(&applied_up);
        break_it(&pending_down);

        let run = project.run_on(&db, &["migrate", "status"]);
        run.code(exit::INVALID)
            .stdout_lacks("missing")
            .stderr_lacks("reinit")
            .stderr_lacks("forget")
            // The file rule's help: removing an applied migration's file makes it missing.
            .stderr_lacks("or remove it")
            .stdout_has("2 applied, 1 pending, 3 total, 2 unreadable");
        let states: Vec<Vec<&str>> = run.stdout.lines().skip(1).take(3).map(cells).collect();
        assert_eq!(
            states.iter().map(|c| c[..2].to_vec()).collect::<Vec<_>>(),
            [
                ["001_a", "✓ applied"],
                ["002_b", "! unreadable"],
                ["003_c", "! unreadable"]
            ],
            "{way}\n{}",
            run.dump()
        );
        for file in ["db/migrations/002_b.up.sql", "db/migrations/003_c.down.sql"] {
            assert!(
                run.stdout
                    .lines()
                    .any(|l| l.starts_with("cannot read ") && l.contains(file)),
                "{way}: {file} named on stdout\n{}",
                run.dump()
            );
        }
        run.stderr_has("help: ");

        let run = project.run_on(&db, &["migrate", "status", "--format", "json"]);
        run.code(exit::INVALID);
        let doc = run.json();
        assert_eq!(
            doc["applied"],
            serde_json::json!(["001", "002"]),
            "{way} {doc}"
        );
        assert_eq!(doc["pending"], serde_json::json!(["003"]), "{way} {doc}");
        assert_eq!(doc["missing"], serde_json::json!([]), "{way} {doc}");
        assert_eq!(
            doc["unreadable"],
            serde_json::json!(["002", "003"]),
            "{way} {doc}"
        );
        assert_eq!(doc["summary"]["unreadable"], 2, "{way} {doc}");
        assert_eq!(doc["summary"]["missing"], 0, "{way} {doc}");
        let migrations = doc["migrations"].as_array().expect("migrations");
        assert_eq!(migrations[0]["unreadable_files"], serde_json::json!([]));
        for (m, file) in [
            (&migrations[1], "002_b.up.sql"),
            (&migrations[2], "003_c.down.sql"),
        ] {
            assert_eq!(m["status"], "unreadable", "{way} {doc}");
            let files = m["unreadable_files"].as_array().expect("unreadable_files");
            assert_eq!(files.len(), 1, "{way} {doc}");
            assert!(
                files[0]["path"].as_str().is_some_and(|p| p.ends_with(file)),
                "{way} {doc}"
            );
            assert!(
                files[0]["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{way} {doc}"
            );
        }
        assert!(migrations[1]["applied_at"].is_string(), "{way} {doc}");
        assert!(migrations[2]["applied_at"].is_null(), "{way} {doc}");

        restore(&applied_up, "CREATE TABLE b (id int);\n");
        restore(&pending_down, "DROP TABLE c;\n");
    }
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::PENDING);
}

/// A way to leave an applied migration's files on disk but incomplete, by name: `(name, do
/// it, the state its line shows)`.
type HalfWay = (&'static str, fn(&Project), &'static str);

/// An applied migration whose files are there but incomplete — its down file removed, its up
/// file removed (the down file alone), its down file removed and its up file edited — was
/// `missing` ("its files are gone"), with the help that `reinit` forgets its row, which would
/// make `up` run it again once the file is back; so was one whose files are misnamed
/// (`002_B.up.sql` alone, `002-b.up.sql` and `002-b.down.sql`), whose corrected names the
/// files module knows. Its row is recorded and its files invalid:
/// `applied, invalid` (`modified, invalid` when the up file that is there changed), counted
/// among the applied and listed in `incomplete`, with a help to restore the missing half and
/// never to forget anything; exit 5, without the diagnostics too (the set says so).
#[test]
fn an_applied_migration_whose_files_are_incomplete_is_not_missing() {
    let db = TestDb::new("st_halfpair");
    let project = Project::new();
    for (id, name) in [("001_a", "a"), ("002_b", "b")] {
        project.migration(
            id,
            &format!("CREATE TABLE {name} (id int);\n"),
            &format!("DROP TABLE {name};\n"),
        );
    }
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let ways: Vec<HalfWay> = vec![
        (
            "no down file",
            |p| std::fs::remove_file(p.path("db/migrations/002_b.down.sql")).expect("rm"),
            "✓ applied, invalid",
        ),
        (
            "no up file",
            |p| std::fs::remove_file(p.path("db/migrations/002_b.up.sql")).expect("rm"),
            "✓ applied, invalid",
        ),
        (
            "no down file, the up file edited",
            |p| {
                std::fs::remove_file(p.path("db/migrations/002_b.down.sql")).expect("rm");
                p.write(
                    "db/migrations/002_b.up.sql",
                    "CREATE TABLE b (id bigint);\n",
                );
            },
            "! modified, invalid",
        ),
        (
            "the up file misnamed, no down file",
            |p| {
                std::fs::remove_file(p.path("db/migrations/002_b.down.sql")).expect("rm");
                let from = p.path("db/migrations/002_b.up.sql");
                std::fs::rename(from, p.path("db/migrations/002_B.up.sql")).expect("mv");
            },
            "✓ applied, invalid",
        ),
        (
            "both files misnamed",
            |p| {
                for half in ["up", "down"] {
                    let from = p.path(&format!("db/migrations/002_b.{half}.sql"));
                    let to = p.path(&format!("db/migrations/002-b.{half}.sql"));
                    std::fs::rename(from, to).expect("mv");
                }
            },
            "✓ applied, invalid",
        ),
    ];
    for (way, break_it, state) in ways {
        break_it(&project);
        let run = project.run_on(&db, &["migrate", "status"]);
        run.code(exit::INVALID)
            .stdout_lacks("missing")
            .stderr_lacks("missing")
            .stderr_lacks("reinit")
            .stderr_lacks("forget")
            // Both files there, misnamed: nothing to restore, only to rename (hvd).
            .stderr_has(if way == "both files misnamed" {
                "rename each misnamed file as its `C006` error says, then run again"
            } else {
                "restore"
            })
            .stdout_has("2 applied, 0 pending, 2 total");
        let lines: Vec<Vec<&str>> = run.stdout.lines().skip(1).take(2).map(cells).collect();
        assert_eq!(
            lines[0][..2],
            ["001_a", "✓ applied"],
            "{way}\n{}",
            run.dump()
        );
        assert_eq!(lines[1][..2], ["002_b", state], "{way}\n{}", run.dump());

        let run = project.run_on(&db, &["migrate", "status", "--format", "json"]);
        run.code(exit::INVALID);
        let doc = run.json();
        assert_eq!(
            doc["applied"],
            serde_json::json!(["001", "002"]),
            "{way} {doc}"
        );
        assert_eq!(doc["missing"], serde_json::json!([]), "{way} {doc}");
        assert_eq!(doc["summary"]["missing"], 0, "{way} {doc}");
        assert_eq!(doc["incomplete"], serde_json::json!(["002"]), "{way} {doc}");
        assert_eq!(doc["summary"]["incomplete"], 1, "{way} {doc}");
        assert_eq!(doc["migrations"][1]["invalid"], true, "{way} {doc}");

        // `down` and `reinit` refuse it too, naming the file.
        for args in [&["migrate", "down"][..], &["migrate", "reinit"]] {
            project
                .run_on(&db, args)
                .code(exit::INVALID)
                .stderr_has("002")
                .stderr_lacks("missing:")
                .stderr_lacks("forget");
        }
        for stray in ["002_B.up.sql", "002-b.up.sql", "002-b.down.sql"] {
            let _ = std::fs::remove_file(project.path(&format!("db/migrations/{stray}")));
        }
        project.migration("002_b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
        project
            .run_on(&db, &["migrate", "status"])
            .code(exit::SUCCESS);
    }
}

/// A ledger the database's `search_path` puts in a schema whose name needs quoting is named as
/// PostgreSQL names it — in the "not initialised" line, in the JSON `tracking_table`, and once
/// created — and `up` writes its rows there, whatever a migration's own `search_path`.
#[test]
fn a_ledger_schema_that_needs_quoting_is_shown_quoted() {
    let db = TestDb::new("status_odd_schema");
    db.connect()
        .batch_execute(&format!(
            "CREATE SCHEMA \"Odd Name\";\n\
             ALTER DATABASE \"{}\" SET search_path = \"Odd Name\"",
            db.name
        ))
        .unwrap();
    let project = Project::new();
    project.migration(
        "001_elsewhere",
        "SET search_path = public;\nCREATE TABLE t1 (id int);\n",
        "DROP TABLE public.t1;\n",
    );
    let shown = "\"Odd Name\".tb_confiture";
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::NOT_INITIALISED)
        .stdout_has(&format!("(tracking table {shown} not initialised)"));
    let run = project.run_on(&db, &["migrate", "status", "--format", "json"]);
    assert_eq!(run.json()["tracking_table"], shown, "{}", run.dump());

    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    let run = project.run_on(&db, &["migrate", "status", "--format", "json"]);
    run.code(exit::SUCCESS);
    assert_eq!(run.json()["tracking_table"], shown, "{}", run.dump());
    let rows: i64 = db
        .connect()
        .query_one("SELECT count(*) FROM \"Odd Name\".tb_confiture", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
}

/// A database whose `search_path` names no existing schema (`ALTER DATABASE ... SET
/// search_path = ''`): an unqualified tracking table has nowhere to be created. `up` fails
/// saying so (3F000 "no schema has been selected to create in"), not blaming the role's
/// privileges, and `status` does not suggest that `up`; both name the two ways out, which work.
#[test]
fn a_search_path_naming_no_schema_is_said_by_up_and_status() {
    let db = TestDb::new("st_nopath");
    db.connect()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET search_path = ''",
            db.name
        ))
        .unwrap();
    let project = two_migrations();
    for args in [
        &["confiture", "migrate", "status"][..],
        &["confiture", "migrate", "up"][..],
    ] {
        let run = project.run_on(&db, args);
        run.stderr_has("search_path names no existing schema")
            .stderr_has("migration.tracking_table")
            .stderr_has("SET search_path")
            .stderr_lacks("may create tables")
            .stderr_lacks("to create the tracking table and apply");
    }
    project
        .run_on(&db, &["confiture", "migrate", "status"])
        .code(exit::NOT_INITIALISED);
    // One way out: a schema-qualified tracking table (here through an environment file); the
    // migrations' own unqualified names are theirs to fix, so only `status` is asked.
    project.write(
        "db/environments/local.yaml",
        format!(
            "database_url: {}\nmigration:\n  tracking_table: public.tb_confiture\n",
            db.url()
        ),
    );
    project
        .run(&["confiture", "migrate", "status"])
        .code(exit::NOT_INITIALISED)
        .stderr_has("to create the tracking table and apply")
        .stderr_lacks("search_path");
    // The other: a search_path for the database.
    db.connect()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET search_path = public",
            db.name
        ))
        .unwrap();
    project
        .run_on(&db, &["confiture", "migrate", "up"])
        .code(exit::SUCCESS);
}

/// Runs the CLI with `args` in `project` on `url` (`--database-url`).
fn run_at(project: &Project, url: &str, args: &[&str]) -> Run {
    Run::of(project.cli().args(args).args(["--database-url", url]))
}

/// A database of the test's own (`db_prefix`) owned by a login role of its own
/// (`role_prefix`), so that the role may create in `public`, and the role's URL of it. Bound
/// in this order, the database is dropped before the role.
fn owned_by_a_role(
    role_prefix: &str,
    db_prefix: &str,
) -> (
    confiture_test_support::reaper::DropRoleLater,
    TestDb,
    String,
) {
    let guard = confiture_test_support::reaper::DropRoleLater(confiture_tests::unique(role_prefix));
    let db = TestDb::new(db_prefix);
    as_admin(&format!(
        "CREATE ROLE \"{0}\" LOGIN; ALTER DATABASE \"{1}\" OWNER TO \"{0}\"",
        guard.0, db.name
    ));
    let url = server().url_as(&guard.0, None, &db.name);
    (guard, db, url)
}

/// Runs `sql` as the server's admin.
fn as_admin(sql: &str) {
    confiture_tests::admin()
        .batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A `search_path` whose first existing schema is one PostgreSQL keeps for itself —
/// `pg_catalog` (the database's, the role's in the database), `pg_toast` or `pg_temp` (the
/// connection's options) —, with the unqualified default tracking table: no place for the
/// ledger (`pg_catalog` and `pg_toast` refuse user tables whatever the grants, one in
/// `pg_temp` is temporary). `status`, `up`'s and `baseline`'s dry runs and runs all refuse it
/// the same way (exit 5; `status` 2, not initialised) before anything is written, never with
/// a `GRANT ... ON SCHEMA pg_catalog` no grant can satisfy, and their help says where the
/// `search_path` is set and how to put a schema of the user's first: followed, `up` works.
#[test]
fn a_system_schema_first_on_the_search_path_is_no_place_for_the_ledger() {
    let (guard, db, as_role) = owned_by_a_role("hsp_sys", "st_syspath");
    let role = &guard.0;
    let project = two_migrations();
    let database = format!("\"{}\"", db.name);
    let from_options =
        "it is set by the connection's options (`options=-c search_path=...` in --database-url)"
            .to_string();
    // (how it is set, the URL, the schema put first, the fix the help gives)
    let cases = [
        (
            format!("ALTER DATABASE {database} SET search_path = pg_catalog, public"),
            db.url(),
            "pg_catalog",
            format!(
                "`public` (it is set for the database: ALTER DATABASE {} SET search_path = \
                 public)",
                confiture::ledger::quote_ident(&db.name)
            ),
        ),
        (
            format!(
                "ALTER ROLE \"{role}\" IN DATABASE {database} SET search_path = pg_catalog, \
                 \"$user\", public"
            ),
            as_role.clone(),
            "pg_catalog",
            format!(
                "`\"$user\", public` (it is set for the role {role} in this database: ALTER ROLE \
                 {role} IN DATABASE {} SET search_path = \"$user\", public)",
                confiture::ledger::quote_ident(&db.name)
            ),
        ),
        (
            String::new(),
            format!("{}?options=-csearch_path%3Dpg_toast,public", db.url()),
            "pg_toast",
            from_options.clone(),
        ),
        (
            String::new(),
            format!("{}?options=-csearch_path%3Dpg_temp,public", db.url()),
            "pg_temp_",
            from_options.clone(),
        ),
    ];
    // `ALTER ... SET search_path = ...` undone.
    let reset = |set: &str| {
        let alter = set.split(" SET search_path").next().expect("an ALTER");
        format!("{alter} RESET search_path")
    };
    let before = db.catalog_snapshot();
    for (set, url, first, fix) in &cases {
        if !set.is_empty() {
            as_admin(set);
        }
        let help = |run: &Run| {
            run.stderr_has(&format!("puts schema {first}"))
                .stderr_has("PostgreSQL keeps for itself")
                .stderr_has(fix)
                .stderr_has("or schema-qualify the tracking table: `migration.tracking_table: public.tb_confiture`")
                .stderr_lacks("GRANT")
                .stderr_lacks("pg_catalog.tb_confiture");
        };
        let run = run_at(&project, url, &["migrate", "status"]);
        run.code(exit::NOT_INITIALISED)
            .stdout_has("(tracking table tb_confiture not initialised)");
        help(&run);
        for args in [
            &["migrate", "up", "--dry-run"][..],
            &["migrate", "up"],
            &["migrate", "baseline", "--through", "1", "--dry-run"],
            &["migrate", "baseline", "--through", "1"],
        ] {
            let run = run_at(&project, url, args);
            run.code(exit::INVALID)
                .stderr_has("cannot create the tracking table tb_confiture")
                .stderr_has("nothing was written");
            help(&run);
        }
        assert_eq!(
            db.catalog_snapshot(),
            before,
            "{set} {url}: something was written"
        );
        if !set.is_empty() {
            // The help's fix, pasted, lets `up` create the ledger and run.
            let alter = fix
                .split(": ")
                .last()
                .and_then(|s| s.strip_suffix(')'))
                .expect("the help's ALTER");
            as_admin(alter);
            run_at(&project, url, &["migrate", "up"]).code(exit::SUCCESS);
            run_at(&project, url, &["migrate", "down", "--steps", "2"]).code(exit::SUCCESS);
            db.connect()
                .batch_execute("DROP TABLE public.tb_confiture")
                .expect("drop the ledger");
            as_admin(&reset(set));
        }
    }
}

/// Every help that gives a `GRANT`, `REVOKE` or `ALTER TABLE` on the ledger or its start
/// markers' table names it schema-qualified, as the session resolved it: `GRANT SELECT ON
/// "tb_confiture"` (the read refused) and a rewrite's `GRANT ... ON "tb_confiture"` (baseline
/// refused a write) were pasted by an admin whose own `search_path` decides which table they
/// name. The helps collected: the read, `up`'s, `down`'s and `baseline`'s writes, row-level
/// security, a markers' table of another shape.
#[test]
fn every_grant_or_alter_a_help_gives_names_the_ledger_schema_qualified() {
    let guard =
        confiture_test_support::reaper::DropRoleLater(confiture_tests::unique("hh2_grants"));
    let role = &guard.0;
    let db = TestDb::new("st_hh2_grants");
    let project = two_migrations();
    as_admin(&format!(
        "CREATE ROLE \"{role}\" LOGIN; GRANT CONNECT ON DATABASE \"{}\" TO \"{role}\"",
        db.name
    ));
    let as_role = server().url_as(role, None, &db.name);
    let in_db = |sql: &str| {
        db.connect()
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    let as_owner = |args: &[&str]| {
        run_at(&project, &db.url(), args).code(exit::SUCCESS);
    };
    as_owner(&["migrate", "up"]);
    let mut helps = Vec::new();
    let mut refused = |args: &[&str], said: &str| {
        let run = run_at(&project, &as_role, args);
        run.code(exit::INVALID).stderr_has(said);
        helps.push((args.join(" "), run.stderr.clone()));
    };
    refused(&["migrate", "status"], "cannot read the tracking table");
    in_db(&format!(
        "GRANT SELECT ON public.tb_confiture TO \"{role}\""
    ));
    refused(&["migrate", "down", "--steps", "1"], "may not DELETE rows");
    as_owner(&["migrate", "down", "--steps", "1"]);
    refused(&["migrate", "up"], "may not INSERT rows");
    refused(
        &["migrate", "baseline", "--through", "2"],
        "may not INSERT rows",
    );
    as_owner(&["migrate", "up"]);
    in_db("ALTER TABLE public.tb_confiture ENABLE ROW LEVEL SECURITY");
    refused(&["migrate", "status"], "row-level security applies");
    in_db(&format!(
        "ALTER TABLE public.tb_confiture DISABLE ROW LEVEL SECURITY; \
         CREATE TABLE public.tb_confiture_started (id int); \
         GRANT SELECT ON public.tb_confiture_started TO \"{role}\""
    ));
    refused(
        &["migrate", "status"],
        "is not the table of confiture's start markers",
    );
    for (args, stderr) in &helps {
        let mut statements = 0;
        for keyword in ["GRANT ", "REVOKE ", "ALTER TABLE "] {
            for (at, _) in stderr.match_indices(keyword) {
                let statement = stderr[at..].split([';', ')']).next().unwrap_or_default();
                if !statement.contains("tb_confiture") {
                    continue;
                }
                statements += 1;
                assert!(
                    statement.contains("\"public\".\"tb_confiture")
                        || statement.contains("public.tb_confiture"),
                    "{args}: `{statement}` names the ledger without its schema:\n{stderr}"
                );
            }
        }
        assert!(
            statements > 0,
            "{args}: no statement on the ledger:\n{stderr}"
        );
    }
}

/// The help of a `search_path` that names no existing schema names where that path is set
/// (`pg_settings.source`) and the command that gives a schema there: the role's (`ALTER ROLE
/// r SET`), the role's in the database (`ALTER ROLE r IN DATABASE d SET`), the connection's
/// options (the URL's: no `ALTER` changes them), the database's (`ALTER DATABASE`) — it used to
/// say `ALTER DATABASE` for all, which changes nothing under a role's setting. Followed, `up`
/// creates the ledger.
#[test]
fn the_help_of_a_search_path_naming_no_schema_names_where_it_is_set() {
    let (guard, db, as_role) = owned_by_a_role("hsp_empty", "st_emptypath");
    let role = &guard.0;
    let project = two_migrations();
    let name = confiture::ledger::quote_ident(&db.name).into_owned();
    // (how it is set, how it is reset, the URL, what the help says)
    let cases = [
        (
            format!("ALTER ROLE \"{role}\" SET search_path = ''"),
            format!("ALTER ROLE \"{role}\" RESET search_path"),
            as_role.clone(),
            format!("it is set for the role {role}: ALTER ROLE {role} SET search_path = public"),
        ),
        (
            format!("ALTER ROLE \"{role}\" IN DATABASE \"{}\" SET search_path = ''", db.name),
            format!("ALTER ROLE \"{role}\" IN DATABASE \"{}\" RESET search_path", db.name),
            as_role.clone(),
            format!(
                "it is set for the role {role} in this database: ALTER ROLE {role} IN DATABASE \
                 {name} SET search_path = public"
            ),
        ),
        (
            format!("ALTER DATABASE \"{}\" SET search_path = nowhere", db.name),
            format!("ALTER DATABASE \"{}\" RESET search_path", db.name),
            as_role.clone(),
            format!("it is set for the database: ALTER DATABASE {name} SET search_path = nowhere, public"),
        ),
        // The connection's options, over a role's empty path: removed, the session would
        // fall back to the role's, not to the path the help proposes; the options written
        // with it, as the URL writes them (`-csearch_path`, percent-encoded), give it.
        (
            format!("ALTER ROLE \"{role}\" SET search_path = ''"),
            format!("ALTER ROLE \"{role}\" RESET search_path"),
            format!("{}?options=-csearch_path%3Dnowhere", as_role),
            "it is set by the connection's options (`options=-c search_path=...` in \
             --database-url): write `options=-csearch_path%3Dnowhere,%5C%20public` there"
                .to_string(),
        ),
    ];
    for (set, reset, url, said) in &cases {
        if !set.is_empty() {
            as_admin(set);
        }
        for (args, code) in [
            (&["migrate", "status"][..], exit::NOT_INITIALISED),
            (&["migrate", "up"], exit::INVALID),
            (&["migrate", "up", "--dry-run"], exit::INVALID),
        ] {
            let run = run_at(&project, url, args);
            run.code(code)
                .stderr_has("search_path names no existing schema")
                .stderr_has(said);
            if url.contains("options") {
                run.stderr_lacks("ALTER");
            }
        }
        if let Some((_, options)) = said.split_once("write `") {
            // The help's options, written in the URL in place of its own, give the session
            // a schema.
            let options = options.trim_end_matches("` there");
            let url = url.replace("options=-csearch_path%3Dnowhere", options);
            run_at(&project, &url, &["migrate", "up"]).code(exit::SUCCESS);
            run_at(&project, &url, &["migrate", "down", "--steps", "2"]).code(exit::SUCCESS);
            db.connect()
                .batch_execute("DROP TABLE public.tb_confiture")
                .expect("drop the ledger");
        }
        if let Some((_, alter)) = said.split_once(": ALTER") {
            // The help's command, pasted, gives the session a schema.
            as_admin(&format!("ALTER{alter}"));
            run_at(&project, url, &["migrate", "up"]).code(exit::SUCCESS);
            run_at(&project, url, &["migrate", "down", "--steps", "2"]).code(exit::SUCCESS);
            db.connect()
                .batch_execute("DROP TABLE public.tb_confiture")
                .expect("drop the ledger");
        }
        if !reset.is_empty() {
            as_admin(reset);
        }
    }
}

/// The tracking table's own DDL refused by the server is the database's configuration, not a
/// failed migration: `up` (before any migration ran), `baseline` and `reinit` (which run none)
/// exit 5 with kind `invalid`, never 4 `migration_failed`, and the help names the database
/// (`ALTER DATABASE <name> SET search_path`), in text and JSON alike.
#[test]
fn a_tracking_table_that_cannot_be_created_is_invalid_not_a_failed_migration() {
    let db = TestDb::new("st_noddl");
    db.connect()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET search_path = ''",
            db.name
        ))
        .unwrap();
    let project = two_migrations();
    let alter = format!(
        "ALTER DATABASE {} SET search_path = public",
        confiture::ledger::quote_ident(&db.name)
    );
    for command in [
        &["confiture", "migrate", "up"][..],
        &["confiture", "migrate", "baseline", "--through", "1"][..],
        &["confiture", "migrate", "reinit", "--through", "1"][..],
    ] {
        project
            .run_on(&db, command)
            .code(exit::INVALID)
            .stderr_has("cannot create the tracking table tb_confiture")
            .stderr_has(&alter)
            .stderr_lacks("<database>");
        let run = project.run_on(&db, &[command, &["--format", "json"][..]].concat());
        run.code(exit::INVALID);
        let error = &run.json()["errors"][0];
        assert_eq!(error["kind"], "invalid", "{command:?}: {error}");
        assert_eq!(error["exit_code"], exit::INVALID, "{command:?}: {error}");
    }
    project
        .run_on(&db, &["confiture", "migrate", "status"])
        .code(exit::NOT_INITIALISED)
        .stderr_has(&alter)
        .stderr_lacks("<database>");
    assert_eq!(db.ledger(), None);
}

/// `migration.tracking_table` in a system schema (`pg_temp`, any `pg_*`, `information_schema`)
/// is refused when the environment file is read, naming the file and the key (exit 5), as
/// `--schema pg_temp` is: `status` does not suggest an `up` that cannot create it, and `up`
/// never connects (the URL's port has no server) to fail as a "migration".
#[test]
fn a_tracking_table_in_a_system_schema_is_refused_by_the_environment_file() {
    let project = two_migrations();
    for schema in ["pg_temp", "pg_catalog", "information_schema"] {
        project.write(
            "db/environments/local.yaml",
            format!(
                "database_url: postgresql://postgres@127.0.0.1:1/nowhere\n\
                 migration:\n  tracking_table: {schema}.tb_confiture\n"
            ),
        );
        for command in ["status", "up", "baseline"] {
            let mut args = vec!["confiture", "migrate", command];
            if command == "baseline" {
                args.extend(["--through", "1"]);
            }
            project
                .run(&args)
                .code(exit::INVALID)
                .stderr_has("local.yaml, line 3: `migration.tracking_table`")
                .stderr_has(&format!("{schema} is a system schema"))
                .stderr_lacks("to create the tracking table");
        }
    }
}

/// A URL without a user connects as libpq's default user — `PGUSER`, else the system user —
/// as psql, sqlx and confiture (Python, through psycopg) do with the same URL, never as
/// `postgres` (hostile run 5, item 16: the migrations ran as the superuser and its tables
/// belonged to it). The password is `PGPASSWORD`'s, else the password file's.
#[test]
fn a_url_without_a_user_connects_as_pguser() {
    use std::os::unix::fs::PermissionsExt;
    let project = two_migrations();
    let dead = "postgresql://127.0.0.1:1/app";
    let run = Run::of(
        project
            .cli()
            .args(["migrate", "status", "--database-url", dead])
            .env("PGUSER", "app_owner")
            .env("PGPASSWORD", "pg-secret"),
    );
    run.code(exit::CONNECTION)
        .stderr_has("using --database-url: app_owner@127.0.0.1:1/app")
        .stderr_lacks("pg-secret");
    // A password file others may read is not read, with libpq's warning.
    let passfile = project.root.join("pgpass");
    std::fs::write(&passfile, "*:*:*:*:file-secret\n").unwrap();
    for (mode, warned) in [(0o644, true), (0o600, false)] {
        std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(mode)).unwrap();
        let run = Run::of(
            project
                .cli()
                .args(["migrate", "status", "--database-url", dead])
                .env("PGUSER", "app_owner")
                .env("PGPASSFILE", &passfile),
        );
        run.code(exit::CONNECTION).stderr_lacks("file-secret");
        assert_eq!(
            run.stderr
                .contains("has group or world access; permissions should be u=rw (0600)"),
            warned,
            "{mode:o}\n{}",
            run.dump()
        );
    }
    // The server's own user through PGUSER, with a URL that names none: it connects.
    let db = TestDb::new("pguser");
    let url = format!("postgresql://{}:{}/{}", pg_host(), pg_port(), db.name);
    let mut cmd = project.cli();
    cmd.args(["migrate", "up", "--database-url", &url])
        .env("PGUSER", &server().user);
    if let Some(password) = &server().password {
        cmd.env("PGPASSWORD", password);
    }
    let run = Run::of(&mut cmd);
    run.code(exit::SUCCESS)
        .stderr_has(&format!("using --database-url: {}", shown(&db)));
    let mut client = db.client();
    let owner: String = client
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'tb_user'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owner, server().user);
}

/// A rolling deploy: a newer release applied migrations 004 and 005, and an older release,
/// whose files stop at 003, runs `status` (or `drift`). Its help said that `reinit` forgets
/// the rows that have no file — which would make the newer release apply them again over
/// their own changes. It now says what `up` says of those rows (the database is newer than
/// these files: run the newer release), and keeps `reinit` for a row below the newest file
/// whose file was removed.
#[test]
fn an_older_release_is_not_told_to_forget_a_newer_releases_rows() {
    let db = TestDb::new("st_newer");
    let project = steps_applied(&db, 5);
    for v in 4..=5 {
        project
            .remove(&format!("db/migrations/00{v}_step_{v}.up.sql"))
            .remove(&format!("db/migrations/00{v}_step_{v}.down.sql"));
    }
    let run = project.run_on(&db, &["migrate", "status"]);
    run.code(exit::DIVERGED)
        .stderr_lacks("reinit")
        .stderr_has("the migrations go up to 003; the database also has 004, 005 applied")
        .stderr_has("run the release whose migrations include them");
    // `up` accepts them with `--allow-newer-database`, as the status help says.
    project
        .run_on(&db, &["migrate", "up", "--allow-newer-database"])
        .code(exit::SUCCESS);
    // `drift` from this release cannot judge them either.
    let run = project.run_on(&db, &["migrate", "drift"]);
    run.code(exit::DIVERGED)
        .stderr_lacks("reinit")
        .stderr_has("the migrations go up to 003; the database also has 004, 005 applied");

    // A file removed below the newest one is another matter: `reinit` is offered for it
    // alone (the gap it leaves is an error of the files: exit 5).
    project
        .remove("db/migrations/002_step_2.up.sql")
        .remove("db/migrations/002_step_2.down.sql");
    let run = project.run_on(&db, &["migrate", "status"]);
    run.code(exit::INVALID)
        .stderr_has("the ledger records migrations that have no file (002)")
        .stderr_has("the migrations go up to 003; the database also has 004, 005 applied");
}

/// A project of the migrations `001_step_1` to `00{last}_step_{last}` (each a table
/// `tb_step_N`), all applied on `db`.
fn steps_applied(db: &TestDb, last: u32) -> Project {
    let project = Project::new();
    for v in 1..=last {
        project.migration(
            &format!("00{v}_step_{v}"),
            &format!("CREATE TABLE tb_step_{v} (pk INTEGER);\n"),
            &format!("DROP TABLE tb_step_{v};\n"),
        );
    }
    project.run_on(db, &["migrate", "up"]).code(exit::SUCCESS);
    project
}

/// h18 F7: a newer release applied 004; this release's files are 001 and 002 and a newer
/// confiture (Python) migration, `003_add_users.py`. `status`, `up` and `drift` said "the
/// migrations go up to 002" — the newest SQL pair — though 003 is this release's too: the
/// newest migration is counted over files of every kind.
#[test]
fn the_migrations_go_up_to_a_newer_python_migration() {
    let db = TestDb::new("st_newer_py");
    let project = steps_applied(&db, 2);
    project.write(
        "db/migrations/003_add_users.py",
        "def up(connection):\n    pass\n",
    );
    db.connect()
        .batch_execute(
            "INSERT INTO tb_confiture (slug, version, name) \
             VALUES ('add_users_003_20250101_000000', '003', 'add_users'), \
             ('later_004_20250101_000001', '004', 'later')",
        )
        .unwrap();
    for command in [
        &["migrate", "status"][..],
        &["migrate", "up"],
        &["migrate", "drift"],
    ] {
        project
            .run_on(&db, command)
            .code(exit::DIVERGED)
            .stderr_lacks("go up to 002")
            .stderr_has("the migrations go up to 003; the database also has 004 applied");
    }
}

/// h15 D7: a rolling deploy (a newer release applied 004 and 005; this release's files stop at
/// 003) and a file removed below the newest one (002): `status` offered `reinit` for 002, and
/// `reinit` forgot 004 and 005 too — the newer release then applied them again over their own
/// changes. `reinit` keeps the rows above the newest file (and says so), and `status` names
/// `--allow-newer-database` only when `up` would accept it.
#[test]
fn reinit_keeps_a_newer_releases_rows_when_it_forgets_a_removed_file() {
    let db = TestDb::new("st_newer_reinit");
    let project = steps_applied(&db, 5);
    let newer_files: Vec<(String, String, String)> = (4..=5)
        .map(|v| {
            let id = format!("00{v}_step_{v}");
            let up = project.read(&format!("db/migrations/{id}.up.sql"));
            let down = project.read(&format!("db/migrations/{id}.down.sql"));
            (id, up, down)
        })
        .collect();
    for (id, _, _) in &newer_files {
        project
            .remove(&format!("db/migrations/{id}.up.sql"))
            .remove(&format!("db/migrations/{id}.down.sql"));
    }
    // 002 removed on purpose, in every release.
    project
        .remove("db/migrations/002_step_2.up.sql")
        .remove("db/migrations/002_step_2.down.sql");
    let run = project.run_on(&db, &["migrate", "status"]);
    run.stderr_has("the ledger records migrations that have no file (002)")
        // 003 follows the gap 002 left: C004's way, which a reinit alone does not give.
        .stderr_has("keep each pair with `SELECT 1;` in each file")
        // `up` refuses the missing 002 whatever the option.
        .stderr_lacks("--allow-newer-database");
    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS)
        .stderr_has("reinit keeps their rows");
    let versions: Vec<String> = db
        .connect()
        .query("SELECT version FROM tb_confiture ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, ["001", "003", "004", "005"]);
    // This release starts meanwhile, as the status help says now.
    project
        .run_on(&db, &["migrate", "status"])
        .stderr_has("--allow-newer-database");
    // The newer release (its files have the gap too, which its `up` refuses until closed):
    // nothing of it to apply again.
    for (id, up, down) in &newer_files {
        project.migration(id, up, down);
    }
    let status = project.run_on(&db, &["migrate", "status", "--format", "json"]);
    let doc = status.json();
    assert_eq!(doc["pending"], serde_json::json!([]), "{doc}");
    assert_eq!(
        doc["applied"],
        serde_json::json!(["001", "003", "004", "005"]),
        "{doc}"
    );
}

/// A table of the ledger's name lacking a ledger's columns (exit 5) was helped with
/// "migration.tracking_table must name the table confiture created" even for a `--database-url`
/// user, who has no environment file to set it in. The help names the setting where the
/// selection can set it, whichever column is missing (one the read selects, `name`, or only
/// one confiture writes, `pk_confiture`).
#[test]
fn a_table_that_is_not_a_ledger_is_helped_where_the_tracking_table_can_be_set() {
    for (label, columns) in [
        ("read", "id int, version text"),
        (
            "shape",
            "slug text, version text, name text, applied_at timestamptz, \
             execution_time_ms bigint, checksum text",
        ),
    ] {
        let db = TestDb::new(&format!("status_not_ledger_{label}"));
        db.connect()
            .batch_execute(&format!("CREATE TABLE tb_confiture ({columns})"))
            .expect("table");
        let project = two_migrations();
        project.write(
            "db/environments/local.yaml",
            format!("database_url: {}\n", db.url()),
        );
        for command in ["status", "up"] {
            Run::of(
                project
                    .cli()
                    .args(["migrate", command, "--database-url", &db.url()]),
            )
            .code(exit::INVALID)
            .stderr_has("the tracking table public.tb_confiture is not a confiture ledger")
            .stderr_has(
                "name confiture's ledger with `migration.tracking_table: SCHEMA.NAME` in an \
                 environment file given with `-c FILE` (--database-url reads none)",
            );
        }
        Run::of(project.cli().args(["migrate", "status"]))
            .code(exit::INVALID)
            .stderr_has(
                "name confiture's ledger with `migration.tracking_table: SCHEMA.NAME` in \
                 db/environments/local.yaml",
            );
    }
}

/// A ledger the session's `search_path` does not find (exit 5) said "set
/// `migration.tracking_table: public.tb_confiture`" to a `--database-url` user, who has no
/// environment file, and guessed "the search_path of the database or the role changed" when
/// the URL's own options had set it. The help names where the path comes from, as the server
/// says, with the change that puts the ledger's schema back there, and the tracking table as the
/// selection can set it: in its environment file, else in one to give with `-c FILE`.
#[test]
fn a_ledger_off_the_search_path_is_helped_for_where_the_path_comes_from() {
    let db = TestDb::new("status_path_source");
    let project = two_migrations();
    project.write(
        "db/environments/local.yaml",
        format!("database_url: {}\n", db.url()),
    );
    Run::of(project.cli().args(["migrate", "up", "-q"])).code(exit::SUCCESS);
    db.connect().batch_execute("CREATE SCHEMA s2").expect("s2");
    let with_options = format!("{}?options=-csearch_path%3Ds2", db.url());
    project.write(
        "db/environments/opts.yaml",
        format!("database_url: {with_options}\n"),
    );
    let status = |selection: &[&str]| {
        let run = Run::of(project.cli().args(["migrate", "status"]).args(selection));
        run.code(exit::INVALID)
            .stderr_has("the tracking table tb_confiture is not on this session's search_path")
            .stderr_lacks("changed since the ledger was made");
        run
    };
    // The options written with the path proposed, as the URL writes them: removed, the
    // session would take the database's or role's path, not necessarily one with public.
    status(&["--database-url", &with_options])
        .stderr_has(
            "put public on the search_path (it is set by the connection's options \
             (`options=-c search_path=...` in --database-url): write \
             `options=-csearch_path%3Ds2,%5C%20public` there)",
        )
        .stderr_has(
            "or set `migration.tracking_table: public.tb_confiture` in an environment file \
             given with `-c FILE` (--database-url reads none)",
        )
        .stderr_lacks("ALTER");
    // A conninfo's options in its quotes, the backslash doubled there.
    let spec = confiture::config::ConnectionSpec::parse(&db.url()).expect("the URL");
    project.write(
        "db/environments/pairs.yaml",
        format!(
            "database_url: host={} port={} user={} dbname={} options='-c search_path=s2'\n",
            spec.host, spec.port, spec.user, spec.dbname
        ),
    );
    status(&["-e", "pairs"]).stderr_has(
        "in environment file db/environments/pairs.yaml): write \
         `options='-c search_path=s2,\\\\ public'` there",
    );
    status(&["-e", "opts"])
        .stderr_has(
            "in environment file db/environments/opts.yaml): write \
             `options=-csearch_path%3Ds2,%5C%20public` there",
        )
        .stderr_has(
            "or set `migration.tracking_table: public.tb_confiture` in \
             db/environments/opts.yaml",
        );
    // The database's setting: its `ALTER DATABASE`, which, run, finds the ledger again.
    let database = confiture::ledger::quote_ident(&db.name).into_owned();
    db.connect()
        .batch_execute(&format!("ALTER DATABASE {database} SET search_path = s2"))
        .expect("alter");
    let alter = format!("ALTER DATABASE {database} SET search_path = s2, public");
    status(&["--database-url", &db.url()])
        .stderr_has(&format!("(it is set for the database: {alter})"));
    db.connect()
        .batch_execute(&alter)
        .expect("the help's ALTER");
    Run::of(
        project
            .cli()
            .args(["migrate", "status", "--database-url", &db.url()]),
    )
    .code(exit::SUCCESS);
}

/// An applied migration deleted from the middle (`002_b` of 001..003): `status` said "if they
/// were removed on purpose, `reinit` forgets their rows", but after that reinit the directory
/// still had the gap and `up` still refused (exit 5), while C004's help said to keep the pair
/// with `SELECT 1;`: two ways, one of them a dead end. With a file above it, the help gives
/// C004's way and says reinit alone leaves `up` blocked; and C004's way does unblock `up`.
#[test]
fn a_deleted_migration_a_later_one_follows_is_retired_with_select_1_not_reinit() {
    let db = TestDb::new("st_deleted_gap");
    let project = three_tables();
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project.remove("db/migrations/002_b.up.sql");
    project.remove("db/migrations/002_b.down.sql");

    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::INVALID)
        .stderr_has("error[C004]")
        .stderr_has("if they were removed on purpose, keep each pair with `SELECT 1;` in each file")
        .stderr_has("`migrate reinit` alone would leave the gap in the versions")
        .stderr_lacks("forgets their rows");
    // C004's way: the pair kept, each file `SELECT 1;`. Then `up` has nothing to refuse.
    project.migration("002_b", "SELECT 1;\n", "SELECT 1;\n");
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::DIVERGED)
        .stdout_has("modified");
    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::SUCCESS)
        .stdout_has("already up to date");
}

/// The help of each `diagnostics` entry of `status --format json`, by its file's path.
fn helps_by_path(
    doc: &serde_json::Value,
    code: &str,
) -> std::collections::BTreeMap<String, String> {
    (doc["diagnostics"].as_array().expect("diagnostics").iter())
        .filter(|d| d["code"] == code)
        .map(|d| {
            let path = d["path"].as_str().expect("path").to_string();
            (path, d["help"].as_str().expect("help").to_string())
        })
        .collect()
}

/// C004 on the pair after a gap said "renumber `003_c` to 002 only if it is not applied
/// anywhere yet" in `status`, which had just read the ledger: with 003_c applied, the user
/// could not tell from it that renumbering was ruled out here (it would be `renumbered`, and
/// `up` refuse it). `status` now says whether it is applied on this database, keeping the
/// caution for the others; lint, which reads no ledger, keeps the hedge.
#[test]
fn the_file_after_a_gap_is_said_applied_or_not_here() {
    let applied = TestDb::new("st_gap_here");
    let pending = TestDb::new("st_gap_not_here");
    let project = three_tables();
    project
        .run_on(&applied, &["migrate", "up"])
        .code(exit::SUCCESS);
    project
        .run_on(&pending, &["migrate", "up", "--steps", "1"])
        .code(exit::SUCCESS);
    project.remove("db/migrations/002_b.up.sql");
    project.remove("db/migrations/002_b.down.sql");

    let gap_help = |db: &TestDb| {
        let run = project.run_on(db, &["migrate", "status", "--format", "json"]);
        let helps = helps_by_path(&run.json(), "C004");
        helps
            .get("db/migrations/003_c.up.sql")
            .unwrap_or_else(|| panic!("no C004 on 003_c: {helps:?}"))
            .clone()
    };
    let here = gap_help(&applied);
    assert!(
        here.contains("keep `003_c` at its number: it is applied here"),
        "{here}"
    );
    let not_here = gap_help(&pending);
    assert!(
        not_here.contains(
            "`003_c` is not applied here: renumber it to 002 unless another database applied it"
        ),
        "{not_here}"
    );
    for help in [&here, &not_here] {
        assert!(
            !help.contains("only if it is not applied anywhere yet"),
            "{help}"
        );
        // No migration was renumbered away from the gap: status knows it.
        assert!(
            !help.contains("if an applied migration was renumbered"),
            "{help}"
        );
        assert!(help.contains("restore a deleted migration"), "{help}");
    }
    // The text table says the same.
    project
        .run_on(&applied, &["migrate", "status"])
        .stderr_has("keep `003_c` at its number: it is applied here")
        .stderr_lacks("only if it is not applied anywhere yet");
    // No ledger read: both cases named.
    project
        .run(&["lint"])
        .stderr_has("renumber `003_c` to 002 only if it is not applied anywhere yet");
}

/// C101 on an up file said "where this migration is already applied, the marker changes its
/// up file's checksum ..." in `status`, which knew whether it was: a conditional the user had
/// to settle with the table above it. `status` now says which holds for each file here.
#[test]
fn the_no_transaction_help_is_said_applied_or_not_here() {
    let db = TestDb::new("st_c101_here");
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    // The applied one gains an index (as confiture (Python) ran it), a pending one has one.
    project.migration(
        "001_a",
        "CREATE TABLE a (id int);\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n",
        "DROP TABLE a;\n",
    );
    project.migration(
        "002_b",
        "CREATE INDEX CONCURRENTLY a_id2 ON a (id);\n",
        "DROP INDEX a_id2;\n",
    );
    let run = project.run_on(&db, &["migrate", "status", "--format", "json"]);
    let helps = helps_by_path(&run.json(), "C101");
    let applied = &helps["db/migrations/001_a.up.sql"];
    assert!(
        applied.contains("; this migration is applied here (confiture (Python) runs it"),
        "{applied}"
    );
    let pending = &helps["db/migrations/002_b.up.sql"];
    assert!(
        pending.contains("; it is not applied here, so the marker is all this database needs; where another database already applied it"),
        "{pending}"
    );
    for help in [applied, pending] {
        assert!(
            !help.contains("where this migration is already applied"),
            "{help}"
        );
    }
    project
        .run(&["lint"])
        .stderr_has("where this migration is already applied (confiture (Python) runs it");
}

/// `status` from an empty migrations directory against a database with migrations
/// applied said "there is no migration; the database also has 001, 002, 003 applied, above
/// them ... these migrations are older than the database": nothing is above or older, and no
/// word that this may be the wrong directory or database. It says what holds, and asks to check
/// both (`--migrations-dir` or `migrations_dir`); `up` and `drift` from it (their refusals
/// take the same words) too, and name no `--allow-newer-database` for it.
#[test]
fn status_from_an_empty_migrations_directory_asks_whether_it_is_the_one_meant() {
    let db = TestDb::new("hdx_empty_dir");
    three_tables()
        .run_on(&db, &["migrate", "up"])
        .code(exit::SUCCESS);
    let empty = Project::new();
    for args in [
        &["migrate", "status"][..],
        &["migrate", "up"],
        &["migrate", "drift"],
    ] {
        let run = empty.run_on(&db, args);
        run.code(exit::DIVERGED)
            .stderr_has(
                "the migrations directory has no migration, and the database has 001, 002, 003 \
                 applied: recorded from another directory or by another release, or their files \
                 are gone",
            )
            .stderr_has(
                "check that this is the migrations directory meant (if not, point \
                 `migrations_dir` in `[package.metadata.confiture]` of the package's Cargo.toml \
                 (or `[workspace.metadata.confiture]` of the workspace's) (or --migrations-dir) \
                 at the one holding them) and the database meant",
            )
            .stderr_lacks("above them")
            .stderr_lacks("older than the database")
            .stderr_lacks("there is no migration")
            .stderr_lacks("--allow-newer-database")
            .stderr_lacks("Migrator::new");
        // Given `--migrations-dir`, the flag alone is what to change.
        let run = empty.run_on(
            &db,
            &[args, &["--migrations-dir", "db/migrations"]].concat(),
        );
        run.code(exit::DIVERGED)
            .stderr_has(
                "check that this is the migrations directory meant (if not, point \
                 --migrations-dir at the one holding them)",
            )
            .stderr_lacks("Migrator::new");
    }
}

/// A session holding the migration lock is a run going on — another CLI, confiture
/// (Python), a service, or the session of a killed CLI a pooler keeps running its
/// transactional migration —, which may be applying the pending migrations as `status` reads
/// them: `status` names it (text and JSON, `lock_held_by`), with and without a ledger (a first
/// run may be creating it), keeps its exit code, and says nothing while the lock is free.
#[test]
fn a_session_holding_the_migration_lock_is_named_with_the_pending_migrations() {
    let project = two_migrations();
    let db = TestDb::new("st_lockheld");
    project
        .run_on(&db, &["migrate", "up", "--steps", "1"])
        .code(exit::SUCCESS);
    let fresh = TestDb::new("st_lockheld_fresh");
    for (db, code, pending) in [
        (
            &db,
            exit::PENDING,
            "the pending migration may be being applied now",
        ),
        (
            &fresh,
            exit::NOT_INITIALISED,
            "the pending migrations may be being applied now",
        ),
    ] {
        let free = project.run_on(db, &["migrate", "status"]);
        free.code(code).stderr_lacks("holds the migration lock");
        let free = project.run_on(db, &["migrate", "status", "--format", "json"]);
        free.code(code);
        assert!(free.json().get("lock_held_by").is_none(), "{}", free.dump());

        let (holder, pid) = db.hold_migration_lock("st-lock-holder");
        let held = project.run_on(db, &["migrate", "status"]);
        held.code(code)
            .stderr_has(&format!(
                "note: a run holds the migration lock (pid {pid}, application_name \"st-lock-holder\""
            ))
            .stderr_has(pending)
            .stderr_has("run `cargo confiture migrate status");
        let held = project.run_on(db, &["migrate", "status", "--format", "json"]);
        held.code(code);
        let doc = held.json();
        assert_eq!(doc["lock_held_by"]["pid"], pid, "{}", held.dump());
        assert_eq!(
            doc["lock_held_by"]["application_name"],
            "st-lock-holder",
            "{}",
            held.dump()
        );
        drop(holder);
    }
}

/// hrc: a run going on that holds the migration lock and is running a no-transaction
/// migration made `status` say the one fact twice, in two notes decided in two places ("a run
/// holds the migration lock (pid ...): the pending migration may be being applied now" and
/// "002_nt is being run now by the run that holds the migration lock (pid ...)"). One line
/// says it now, naming what the run is running; the JSON keeps `lock_held_by` and `running`.
#[test]
fn a_run_going_on_is_said_once_naming_what_it_runs() {
    let gate = 741;
    let project = Project::new();
    project
        .migration("001_t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n")
        .migration(
            "002_nt",
            &format!(
                "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_i ON t (id);\n\
                 SELECT pg_advisory_xact_lock({gate});\n"
            ),
            "DROP INDEX t_i;\n",
        );
    let db = TestDb::new("st_running_once");
    let mut holder = db.connect();
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock({gate})"))
        .expect("hold the gate");
    let child = project.spawn_on(&db, &["migrate", "up"]);
    let pid = db.backend_waiting_on_advisory_lock();
    let text = project.status_on(&db);
    let json = project.status_json_on(&db);
    holder
        .batch_execute(&format!("SELECT pg_advisory_unlock({gate})"))
        .expect("open the gate");
    let up = Run::from_output(
        child.wait_with_output().expect("reap the runner"),
        std::time::Duration::ZERO,
    );
    up.code(exit::SUCCESS);
    text.code(exit::PENDING)
        .stderr_has(&format!(
            "note: a run holds the migration lock (pid {pid}, "
        ))
        .stderr_has(
            "): 002_nt is being run now by it; this status is of the moment it was read: run \
             `cargo confiture migrate status",
        )
        .stderr_lacks("may be being applied now");
    assert_eq!(
        text.stderr.matches("holds the migration lock").count(),
        1,
        "{}",
        text.dump()
    );
    json.code(exit::PENDING);
    let doc = json.json();
    assert_eq!(doc["lock_held_by"]["pid"], pid, "{}", json.dump());
    assert!(
        doc["running"]
            .as_str()
            .is_some_and(|r| r.contains(&format!("pid {pid}"))),
        "{}",
        json.dump()
    );
}

/// A tenant's status (`--schema`) names the session holding that tenant's lock, and not one
/// holding another tenant's: the key is the one a tenant run takes
/// ([`confiture::db::tenant_lock_id`]), computed by the server with the ledger read.
#[test]
fn a_tenant_status_names_the_holder_of_that_tenants_lock_only() {
    let project = two_migrations();
    let db = TestDb::new("st_lockheld_tenant");
    for tenant in ["tenant_a", "tenant_b"] {
        project
            .run_on(&db, &["migrate", "up", "--steps", "1", "--schema", tenant])
            .code(exit::SUCCESS);
    }
    let key = confiture::db::tenant_lock_id(&db.name, "tenant_a");
    let mut holder = db.client_as("st-tenant-holder");
    holder
        .batch_execute(&format!(
            "SELECT pg_advisory_lock_shared({ns}, {db_key}), pg_advisory_lock({ns}, {key})",
            ns = confiture::db::LOCK_NAMESPACE,
            db_key = confiture::db::lock_id(&db.name),
        ))
        .expect("take tenant_a's lock");
    project
        .run_on(&db, &["migrate", "status", "--schema", "tenant_a"])
        .code(exit::PENDING)
        .stderr_has("note: a run holds the migration lock (pid ")
        .stderr_has("application_name \"st-tenant-holder\"");
    project
        .run_on(&db, &["migrate", "status", "--schema", "tenant_b"])
        .code(exit::PENDING)
        .stderr_lacks("holds the migration lock");
    drop(holder);
}

/// A connection that names no database (a URL ending at the port, with or without its `/`, a
/// conninfo without `dbname`, `CONFITURE_DATABASE_URL`, an environment file's `database_url`
/// or legacy `database:` block without one) reaches the database its name defaulted to — the
/// user's name, `postgres` here: the maintenance database. Every writing command, dry runs
/// included, refuses it before connecting (exit 5, naming where to write the name); `status`
/// reads it, says the name was defaulted, and never suggests `migrate up` there.
#[test]
fn a_connection_naming_no_database_is_refused_by_writing_commands_and_said_by_status() {
    let project = Project::with_table_a();
    let (host, port) = (pg_host(), pg_port());
    // Writing commands as a role that does not exist: were one not refused before it
    // connects, it would fail to log in rather than write in the maintenance database.
    let role = "confiture_no_such_role";
    let url = format!("postgresql://{role}@{host}:{port}");
    let status_url = format!("postgresql://postgres@{host}:{port}");
    let writing: [&[&str]; 8] = [
        &["migrate", "up"],
        &["migrate", "up", "--dry-run"],
        &["migrate", "down"],
        &["migrate", "down", "--dry-run"],
        &["migrate", "baseline", "--through", "001", "--yes"],
        &["migrate", "reinit", "--yes"],
        &["migrate", "reinit", "--dry-run"],
        &["migrate", "abandon", "001"],
    ];
    let slash = format!("{url}/");
    let conninfo = format!("host={host} port={port} user={role}");
    let selections: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (
            vec!["--database-url", &url],
            None,
            "write the database's name after",
        ),
        (
            vec!["--database-url", &slash],
            None,
            "write the database's name after",
        ),
        (vec!["--database-url", &conninfo], None, "add `dbname=NAME`"),
        (vec![], Some(&url), "write the database's name after"),
    ];
    let check = |run: &Run, help: &str| {
        run.code(exit::INVALID);
        run.stderr_has("names no database: it defaulted to ");
        run.stderr_has(help);
        // Refused before connecting: no `using` line.
        assert!(!run.stderr.contains("using "), "{}", run.dump());
    };
    for (flags, variable, help) in &selections {
        for command in writing {
            let mut cmd = project.cli();
            cmd.args(command).args(flags);
            if let Some(value) = variable {
                cmd.env("CONFITURE_DATABASE_URL", value);
            }
            check(&Run::of(&mut cmd), help);
        }
        // `status` reads the defaulted database: `postgres`, as the `postgres` role.
        let flags: Vec<String> = flags.iter().map(|f| f.replace(role, "postgres")).collect();
        let mut cmd = project.cli();
        cmd.args(["migrate", "status"]).args(&flags);
        if let Some(value) = variable {
            cmd.env("CONFITURE_DATABASE_URL", value.replace(role, "postgres"));
        }
        let run = Run::of(&mut cmd);
        run.code(exit::NOT_INITIALISED);
        run.stderr_has("/postgres (no database named: postgres, the user's name");
        run.stderr_has(help);
        assert!(
            !run.stderr.contains("`cargo confiture migrate up"),
            "{}",
            run.dump()
        );
    }
    // Environment files: `database_url` without a database, and a legacy block without
    // `database` (confiture (Python)'s default, `postgres`).
    for (file, help) in [
        (
            format!("database_url: {url}/\n"),
            "write the database's name after",
        ),
        (
            format!("database:\n  host: {host}\n  port: {port}\n  user: {role}\n"),
            "add `database: NAME`",
        ),
    ] {
        project.write("db/environments/local.yaml", &file);
        for command in writing {
            let run = project.run(command);
            check(&run, help);
            run.stderr_has("environment file db/environments/local.yaml");
        }
        project.write("db/environments/local.yaml", file.replace(role, "postgres"));
        let run = project.run(&["migrate", "status"]);
        run.code(exit::NOT_INITIALISED);
        run.stderr_has("(no database named: postgres, ");
        assert!(
            !run.stderr.contains("`cargo confiture migrate up"),
            "{}",
            run.dump()
        );
    }
    // A fleet's entry: that target is refused, its line named.
    project.write(
        "db/environments/local.yaml",
        format!("database_url: {status_url}/postgres\n"),
    );
    project.write("targets.txt", format!("{url}/\n"));
    let run = project.run(&["migrate", "up", "--targets", "targets.txt"]);
    run.code(exit::INVALID);
    run.stderr_has("targets.txt:1 names no database: it defaulted to ");
    // Named, the same database is no default: the refusal is the missing database's.
    project.write(
        "db/environments/local.yaml",
        format!("database_url: {status_url}/postgres\n"),
    );
    let run = project.run(&["migrate", "up", "--dry-run"]);
    assert!(!run.stderr.contains("names no database"), "{}", run.dump());
}
