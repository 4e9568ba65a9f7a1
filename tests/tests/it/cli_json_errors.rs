//! The one JSON error object: with `--format json`, whatever failed — a flag, the environment,
//! the files, the connection, a migration's SQL, the lock, the history — stdout holds one
//! document whose `errors[0]` is the same object with the same keys (README "The error
//! object"). A failure before any report also gives it as `error`.

use confiture::exit;
use confiture_tests::{Project, Run, TestDb};

/// Every key of the error object, always present.
const KEYS: &[&str] = &[
    "kind",
    "exit_code",
    "message",
    "details",
    "help",
    "database",
    "schema",
    "version",
    "name",
    "file",
    "line",
    "column",
    "sqlstate",
    "server_message",
    "committed",
    "not_attempted",
    "unknown",
    "durability_unknown",
    "lock_holders",
    "dropped_own_statements",
    "diagnostics",
    "diverged",
    "irreversible",
    "newer_database",
    "settings",
    "settings_not_listed",
    "database_from",
];

/// The error object of a failed `--format json` run, checked for its shape, its kind and its
/// exit code; a document with `error` has the same object as `errors[0]`.
#[track_caller]
fn error_object(run: &Run, code: u8, kind: &str) -> serde_json::Value {
    run.code(code);
    let doc = run.json();
    let errors = doc["errors"].as_array().unwrap_or_else(|| {
        panic!("no `errors` array\n{}", run.dump());
    });
    assert_eq!(errors.len(), 1, "{}", run.dump());
    let error = errors[0].clone();
    if !doc["error"].is_null() {
        assert_eq!(
            doc["error"],
            error,
            "`error` is `errors[0]`\n{}",
            run.dump()
        );
    }
    let keys: Vec<&str> = error
        .as_object()
        .unwrap_or_else(|| panic!("not an object\n{}", run.dump()))
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = KEYS.to_vec();
    expected.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(keys_sorted, expected, "{}", run.dump());
    assert_eq!(error["kind"], kind, "{}", run.dump());
    assert_eq!(error["exit_code"], u64::from(code), "{}", run.dump());
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        run.dump()
    );
    error
}

#[test]
fn usage_errors_give_the_error_object() {
    let project = Project::two_tables();
    // clap's own refusal, before anything else runs.
    let run = project.run(&["migrate", "up", "--bogus", "--format", "json"]);
    error_object(&run, exit::USAGE, "usage");
    // A request the library refuses, before anything connects.
    let run = project.run(&[
        "migrate",
        "down",
        "--steps",
        "0",
        "--database-url",
        "postgresql://postgres@127.0.0.1:1/app",
        "--format",
        "json",
    ]);
    error_object(&run, exit::USAGE, "usage");
}

/// `--format json` given with another `--format` (twice at one level, which clap refuses, or
/// with another value): the user asked for JSON, and gets the error document on stdout with
/// the usage exit code, whichever `--format` came last. Before, the last one decided, and a
/// refusal of the flag itself printed clap's text alone.
#[test]
fn a_usage_error_with_format_json_anywhere_gives_the_error_object() {
    let project = Project::two_tables();
    for args in [
        &["migrate", "status", "--format", "json", "--format", "table"][..],
        &["migrate", "status", "--format=json", "--format", "table"],
        &["migrate", "status", "--format", "json", "--format", "json"],
        &["--format", "json", "migrate", "status", "--format", "bogus"],
        &[
            "--format", "json", "migrate", "status", "--format", "table", "--bogus",
        ],
        &["lint", "--format", "table", "--format=json"],
    ] {
        let run = project.run(args);
        let error = error_object(&run, exit::USAGE, "usage");
        assert!(
            error["help"].as_str().is_some_and(|h| h.contains("--help")),
            "{args:?}\n{}",
            run.dump()
        );
    }
    // Nothing after `--` is an option: no JSON asked there.
    let run = project.run(&["migrate", "generate", "x", "y", "--", "--format", "json"]);
    run.code(exit::USAGE);
    assert!(run.stdout.trim().is_empty(), "{}", run.dump());
}

/// hgn 2: a usage error whose text names what it is about on the lines below its first
/// (`the following required arguments were not provided:` then `<NAME>`; the possible values
/// of a flag) lost them in JSON: its message ended at the colon. The JSON message says every
/// line of the text's first paragraph.
#[test]
fn a_usage_errors_json_message_says_what_its_text_says() {
    let project = Project::two_tables();
    for (args, wanted) in [
        (&["migrate", "generate"][..], &["<NAME>"][..]),
        (&["migrate", "abandon"], &["<VERSION>"]),
        (
            &["migrate", "status", "--color", "purple"],
            &["always", "never"],
        ),
    ] {
        let text = project.run(args);
        text.code(exit::USAGE);
        let paragraph: Vec<&str> = text
            .stderr
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .map(|l| l.trim().trim_start_matches("error: "))
            .collect();
        let mut json_args = args.to_vec();
        json_args.extend(["--format", "json"]);
        let run = project.run(&json_args);
        let error = error_object(&run, exit::USAGE, "usage");
        let message = error["message"].as_str().unwrap_or_default();
        for line in paragraph.iter().chain(wanted) {
            let line = line.trim_end_matches(':');
            assert!(
                message.contains(line),
                "{args:?}: {line:?} not in {message:?}\n{}",
                run.dump()
            );
        }
    }
}

/// hgn 3: `--version --format json` printed the text line: `--format json` gives one JSON
/// document on stdout, the version's too.
#[test]
fn the_version_is_a_json_document_with_format_json() {
    let project = Project::two_tables();
    let text = project.run(&["--version"]);
    text.code(exit::SUCCESS);
    let version = text
        .stdout
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string();
    for args in [
        &["--version", "--format", "json"][..],
        &["--format=json", "-V"],
    ] {
        let run = project.run(args);
        run.code(exit::SUCCESS);
        let doc = run.json();
        assert_eq!(doc["version"], version.as_str(), "{}", run.dump());
        assert_eq!(doc["name"], "cargo-confiture", "{}", run.dump());
    }
}

#[test]
fn an_invalid_environment_gives_the_error_object() {
    let project = Project::two_tables();
    let run = project.run(&["migrate", "up", "--env", "nope", "--format", "json"]);
    error_object(&run, exit::INVALID, "invalid");
    project.write("db/environments/broken.yaml", "database_url: [unclosed\n");
    let run = project.run(&["migrate", "status", "--env", "broken", "--format", "json"]);
    error_object(&run, exit::INVALID, "invalid");
}

/// An environment file with several problems (a misspelled key, a bad value, a duration
/// without a unit, a malformed one, no database) named them one run at a time: the user fixed
/// one and met the next. One error now names each at its line, in the text and in the JSON
/// (`settings`: key, line, message, help); one problem alone is the error it always was.
#[test]
fn every_problem_of_an_environment_file_is_named_at_once() {
    let project = Project::two_tables();
    project.write(
        "db/environments/bad.yaml",
        "name: bad\n\
         aplication_name: x\n\
         migration:\n\
         \x20 lock_timeout: 5\n\
         \x20 statement_timeout: fast\n\
         \x20 tracking_table: 12ab\n\
         \x20 lock_retrys: 3\n\
         fleet:\n\
         \x20 jobs: many\n",
    );
    let expected = [
        (
            Some(2),
            "aplication_name",
            "did you mean `application_name`?",
        ),
        (
            Some(4),
            "migration.lock_timeout",
            "durations need a unit: `lock_timeout: 5s`",
        ),
        (
            Some(5),
            "migration.statement_timeout",
            "`statement_timeout: 5s`",
        ),
        (Some(6), "migration.tracking_table", "`ops.tb_confiture`"),
        (Some(7), "migration.lock_retrys", "`migration.lock_retries`"),
        (Some(9), "fleet.jobs", ""),
        (None, "", "database_url: postgresql://"),
    ];
    let run = project.run(&["migrate", "status", "--env", "bad"]);
    run.code(exit::INVALID).stderr_has(&format!(
        "error: environment file {} has {} problems",
        confiture::display::path(std::path::Path::new("db/environments/bad.yaml")),
        expected.len()
    ));
    for (line, key, help) in expected {
        match line {
            Some(line) => run.stderr_has(&format!("line {line}: `{key}`")),
            None => run.stderr_has("the file names no database"),
        };
        run.stderr_has(help);
    }

    let run = project.run(&["migrate", "status", "--env", "bad", "--format", "json"]);
    let error = error_object(&run, exit::INVALID, "invalid");
    assert!(
        error["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("bad.yaml")),
        "{}",
        run.dump()
    );
    let settings = error["settings"].as_array().expect("settings");
    assert_eq!(settings.len(), expected.len(), "{}", run.dump());
    for (problem, (line, key, help)) in settings.iter().zip(expected) {
        assert_eq!(problem["line"], serde_json::json!(line), "{}", run.dump());
        let want_key = (!key.is_empty()).then_some(key);
        assert_eq!(
            problem["key"],
            serde_json::json!(want_key),
            "{}",
            run.dump()
        );
        assert!(
            problem["help"].as_str().is_some_and(|h| h.contains(help)),
            "{problem}"
        );
    }

    // One problem: the error it was, at its line, with the same data.
    project.write(
        "db/environments/one.yaml",
        "database_url: postgresql:///app\nmigration:\n  lock_timeout: 5\n",
    );
    let run = project.run(&["migrate", "status", "--env", "one", "--format", "json"]);
    let error = error_object(&run, exit::INVALID, "invalid");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("line 3: `migration.lock_timeout` \"5\" has no unit")),
        "{}",
        run.dump()
    );
    assert_eq!(error["line"], 3, "{}", run.dump());
    assert_eq!(error["settings"][0]["key"], "migration.lock_timeout");
    assert_eq!(error["settings_not_listed"], 0, "{}", run.dump());
}

/// The JSON error's `settings` held every problem of an environment file (hc2): 5,000 unknown
/// keys were a 2.6 MB document, while the text lists the first 20 and says how many more. The
/// JSON lists the same 20 and counts the rest in `settings_not_listed`.
#[test]
fn the_settings_of_an_environment_file_are_cut_as_the_text_is() {
    const PROBLEMS: usize = 5_000;
    let project = Project::two_tables();
    let keys: String = (0..PROBLEMS)
        .map(|i| format!("  unknown_{i}: 1\n"))
        .collect();
    project.write(
        "db/environments/many.yaml",
        format!("database_url: postgresql:///app\nfleet:\n  targets: [a]\n{keys}"),
    );
    let run = project.run(&["migrate", "status", "--env", "many", "--format", "json"]);
    let error = error_object(&run, exit::INVALID, "invalid");
    let listed = confiture::display::MAX_LISTED;
    let settings = error["settings"].as_array().expect("settings");
    assert_eq!(settings.len(), listed, "{}", run.dump());
    assert_eq!(settings[0]["line"], 4, "{}", run.dump());
    assert_eq!(error["settings_not_listed"], PROBLEMS - listed);
    let more = format!("... and {} more", PROBLEMS - listed);
    assert_eq!(
        error["details"].as_array().and_then(|d| d.last()),
        Some(&serde_json::json!(more))
    );
    assert!(run.stdout.len() < 100_000, "{} bytes", run.stdout.len());
}

#[test]
fn invalid_files_give_the_error_object_with_diagnostics() {
    let db = TestDb::new("jsonerr_files");
    let project = Project::two_tables();
    project.remove("db/migrations/002_b.down.sql");
    let run = project.run_on(&db, &["migrate", "up", "--format", "json"]);
    let error = error_object(&run, exit::INVALID, "invalid");
    let diagnostics = error["diagnostics"].as_array().unwrap();
    assert!(!diagnostics.is_empty(), "{}", run.dump());
    assert!(
        diagnostics[0]["path"]
            .as_str()
            .is_some_and(|p| p.contains("002_b")),
        "{}",
        run.dump()
    );
}

#[test]
fn a_connection_failure_gives_the_error_object_naming_the_database() {
    let project = Project::two_tables();
    for command in ["up", "status", "down"] {
        let run = project.run(&[
            "migrate",
            command,
            "--database-url",
            "postgresql://app:hunter2@127.0.0.1:1/app",
            "--format",
            "json",
        ]);
        let error = error_object(&run, exit::CONNECTION, "connection");
        assert_eq!(error["database"], "app@127.0.0.1:1/app", "{}", run.dump());
        // The message names the database already: no detail line repeats it.
        assert!(
            !error["details"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d.as_str().is_some_and(|d| d.starts_with("database:"))),
            "{}",
            run.dump()
        );
        run.stdout_lacks("hunter2").stderr_lacks("hunter2");
    }
}

#[test]
fn a_failed_migration_gives_the_error_object_with_its_data() {
    let db = TestDb::new("jsonerr_sql");
    let project = Project::two_tables();
    project
        .migration(
            "003_broken",
            "-- duplicate\nCREATE TABLE a (id int);\n",
            "SELECT 1;\n",
        )
        .migration("004_later", "SELECT 1;\n", "SELECT 1;\n");
    let run = project.run_on(&db, &["migrate", "up", "--format", "json"]);
    let error = error_object(&run, exit::MIGRATION_FAILED, "migration_failed");
    assert_eq!(error["version"], "003", "{}", run.dump());
    assert_eq!(error["name"], "broken");
    assert!(error["file"]
        .as_str()
        .is_some_and(|f| f.ends_with("003_broken.up.sql")));
    assert_eq!(error["line"], 2);
    assert_eq!(error["column"], 1);
    assert_eq!(error["sqlstate"], "42P07");
    assert_eq!(error["server_message"], "relation \"a\" already exists");
    assert_eq!(error["committed"], serde_json::json!(["001", "002"]));
    assert_eq!(error["not_attempted"], serde_json::json!(["004"]));
    assert_eq!(error["unknown"], serde_json::json!([]));
    // 001 and 002 were made durable before the report.
    assert_eq!(error["durability_unknown"], serde_json::json!([]));
    assert!(
        error["database"]
            .as_str()
            .is_some_and(|d| d.ends_with(&db.name)),
        "{}",
        run.dump()
    );
}

#[test]
fn the_lock_gives_the_error_object_with_its_holder() {
    let db = TestDb::new("jsonerr_lock");
    let project = Project::two_tables();
    let (_holder, pid) = db.hold_migration_lock("jsonerr-holder");
    let run = project.run_on(
        &db,
        &["migrate", "up", "--lock-wait", "300ms", "--format", "json"],
    );
    let error = error_object(&run, exit::LOCK_TIMEOUT, "lock_timeout");
    assert_eq!(error["lock_holders"][0]["pid"], pid, "{}", run.dump());
    assert_eq!(
        error["lock_holders"][0]["application_name"],
        "jsonerr-holder"
    );
    let database = error["database"].as_str().unwrap_or_default();
    assert!(database.ends_with(&db.name), "{}", run.dump());
    // The message names only the database's name: the target is a detail line too.
    assert!(
        error["details"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(format!("database: {database}"))),
        "{}",
        run.dump()
    );
}

/// A migration's ledger row that waited for another session's lock — on its row (`down`'s row
/// `FOR UPDATE`, by two sessions `FOR SHARE`) or on the whole tracking table — is exit 6: the
/// error object names the migration and lists every holder in `lock_holders`, as the
/// migration lock's does.
#[test]
fn a_locked_ledger_row_gives_the_error_object_with_its_holders() {
    let for_update = "SELECT 1 FROM tb_confiture WHERE version = '002' FOR UPDATE";
    let for_share = "SELECT 1 FROM tb_confiture WHERE version = '002' FOR SHARE";
    let table = "LOCK TABLE tb_confiture IN SHARE MODE";
    for holds in [&[for_update][..], &[for_share, for_share], &[table]] {
        let db = TestDb::new("jsonerr_rowlock");
        let project = Project::two_tables();
        project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
        let mut holders = Vec::new();
        let mut pids = Vec::new();
        for (i, hold) in holds.iter().enumerate() {
            let mut client = db.client_as(&format!("jsonerr-row-{i}"));
            client.batch_execute(&format!("BEGIN; {hold}")).unwrap();
            let pid: i32 = client
                .query_one("SELECT pg_backend_pid()", &[])
                .unwrap()
                .get(0);
            pids.push(pid);
            holders.push(client);
        }
        let run = project.run_on(
            &db,
            &[
                "migrate",
                "down",
                "--lock-wait",
                "300ms",
                "--format",
                "json",
            ],
        );
        for mut client in holders {
            client.batch_execute("ROLLBACK").unwrap();
        }
        let error = error_object(&run, exit::LOCK_TIMEOUT, "lock_timeout");
        assert_eq!(error["version"], "002", "{holds:?}: {}", run.dump());
        let listed = error["lock_holders"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut named: Vec<i64> = listed.iter().filter_map(|h| h["pid"].as_i64()).collect();
        named.sort_unstable();
        let expected: Vec<i64> = pids.iter().map(|&p| i64::from(p)).collect();
        assert_eq!(named, expected, "{holds:?}: {}", run.dump());
        for holder in &listed {
            assert!(
                holder["application_name"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("jsonerr-row-")),
                "{holds:?}: {}",
                run.dump()
            );
        }
        assert_eq!(
            db.ledger(),
            Some(vec!["001:a".to_string(), "002:b".to_string()]),
            "{holds:?}"
        );
        assert!(
            db.has_relation("b"),
            "{holds:?}: the rollback was rolled back"
        );
    }
}

#[test]
fn diverged_history_gives_the_error_object() {
    let db = TestDb::new("jsonerr_diverged");
    let project = Project::two_tables();
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project.write(
        "db/migrations/002_b.up.sql",
        "CREATE TABLE b (id bigint);\n",
    );
    let run = project.run_on(&db, &["migrate", "up", "--format", "json"]);
    let error = error_object(&run, exit::DIVERGED, "diverged");
    assert!(
        error["details"][0]
            .as_str()
            .is_some_and(|d| d.contains("002")),
        "{}",
        run.dump()
    );
    // The same, as data: each migration with how it diverged, every key present.
    let diverged = &error["diverged"];
    assert_eq!(diverged.as_array().map(Vec::len), Some(1), "{}", run.dump());
    assert_eq!(diverged[0]["state"], "modified", "{}", run.dump());
    assert_eq!(diverged[0]["migration"], "002_b", "{}", run.dump());
    assert_eq!(
        diverged[0]["file"],
        "db/migrations/002_b.up.sql",
        "{}",
        run.dump()
    );
    let recorded = confiture::files::checksum(b"CREATE TABLE b (id int);\n");
    let now = confiture::files::checksum(b"CREATE TABLE b (id bigint);\n");
    assert_eq!(diverged[0]["recorded_checksum"], recorded, "{}", run.dump());
    assert_eq!(diverged[0]["checksum"], now, "{}", run.dump());
    // When its row was written, as for a missing row.
    assert!(diverged[0]["applied_at"].is_string(), "{}", run.dump());
    for key in ["row_version", "newest_applied"] {
        assert!(diverged[0][key].is_null(), "{key}: {}", run.dump());
    }
    assert_eq!(
        error["irreversible"],
        serde_json::json!([]),
        "{}",
        run.dump()
    );
    assert!(error["newer_database"].is_null(), "{}", run.dump());
}

/// `diverged[].applied_at` was null for a modified migration (and a duplicate row) while a
/// missing one had it: every divergence that is a ledger row carries that row's `applied_at`,
/// the time `migrate status` shows for it, in every command that refuses a diverged history
/// (`up`, `down`, `drift`).
#[test]
fn every_diverged_row_carries_its_applied_at() {
    let db = TestDb::new("jsonerr_applied_at");
    let project = Project::two_tables();
    project.migration("003_c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    db.connect()
        .batch_execute(
            "INSERT INTO tb_confiture (slug, version, name, checksum, applied_at) \
             SELECT 'a_again', '1', name, checksum, applied_at + interval '1 hour' \
             FROM tb_confiture WHERE version = '001'",
        )
        .expect("a second row for 001");
    project.write(
        "db/migrations/002_b.up.sql",
        "CREATE TABLE b (id bigint);\n",
    );
    project
        .remove("db/migrations/003_c.up.sql")
        .remove("db/migrations/003_c.down.sql");

    // What status shows for each row: `migration` (or the duplicate's row version) → time.
    let status = project.run_on(&db, &["migrate", "status", "--format", "json"]);
    status.code(exit::DIVERGED);
    let shown: std::collections::BTreeMap<String, String> = status.json()["migrations"]
        .as_array()
        .expect("migrations")
        .iter()
        .filter(|m| m["status"] != "applied")
        .map(|m| {
            let key = match m["status"].as_str() {
                Some("duplicate") => m["version"].as_str().unwrap().to_string(),
                _ => format!(
                    "{}_{}",
                    m["version"].as_str().unwrap(),
                    m["name"].as_str().unwrap()
                ),
            };
            (
                key,
                m["applied_at"].as_str().expect("a row's time").to_string(),
            )
        })
        .collect();
    assert_eq!(shown.len(), 3, "{}", status.dump());

    for args in [
        &["migrate", "up"][..],
        &["migrate", "down", "--steps", "3", "--yes"],
        &["migrate", "drift"],
    ] {
        let run = project.run_on(&db, &[args, &["--format", "json"]].concat());
        let error = error_object(&run, exit::DIVERGED, "diverged");
        let diverged = error["diverged"].as_array().expect("diverged").clone();
        let mut states: Vec<&str> = diverged
            .iter()
            .map(|d| d["state"].as_str().unwrap())
            .collect();
        states.sort_unstable();
        assert_eq!(
            states,
            ["duplicate", "missing", "modified"],
            "{args:?}: {}",
            run.dump()
        );
        for d in &diverged {
            let key = match d["state"].as_str() {
                Some("duplicate") => d["row_version"].as_str().unwrap(),
                _ => d["migration"].as_str().unwrap(),
            };
            assert_eq!(
                d["applied_at"].as_str(),
                Some(shown[key].as_str()),
                "{args:?} {key}: {}",
                run.dump()
            );
        }
    }
}

#[test]
fn irreversible_rollback_gives_the_error_object_with_each_migration() {
    let db = TestDb::new("jsonerr_irreversible");
    let project = Project::two_tables();
    project.write(
        "db/migrations/002_b.down.sql",
        "-- confiture:irreversible\n",
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let run = project.run_on(&db, &["migrate", "down", "--format", "json"]);
    let error = error_object(&run, exit::IRREVERSIBLE, "irreversible");
    assert_eq!(
        error["irreversible"],
        serde_json::json!([{
            "reason": "irreversible",
            "migration": "002_b",
            "down_file": "db/migrations/002_b.down.sql",
            "first_version": null,
            "archived_into": null,
        }]),
        "{}",
        run.dump()
    );
    assert_eq!(error["diverged"], serde_json::json!([]), "{}", run.dump());
}

/// README's "The error object" names every key, and the object has no other.
#[test]
fn readme_documents_every_key_of_the_error_object() {
    let readme = std::fs::read_to_string(confiture_tests::workspace_root().join("README.md"))
        .expect("read README.md");
    let start = readme
        .find("### The error object")
        .expect("README has a `### The error object` section");
    let section = &readme[start..];
    let section = &section[..section[4..]
        .find("\n#")
        .map_or(section.len(), |end| end + 4)];
    for key in KEYS {
        assert!(
            section.contains(&format!("`{key}`")),
            "README's error object lacks `{key}`"
        );
    }
    let object = serde_json::to_value(confiture::migrate::ReportedError::of(
        &confiture::Error::invalid("x"),
    ))
    .unwrap();
    let mut keys: Vec<&str> = object
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected = KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(
        keys, expected,
        "the error object's keys changed: update KEYS and README"
    );
}

/// The suggested commands in the JSON document repeat how the run chose its database and its
/// directory, as the text's do: a script running one acted on the default database (another
/// one, perhaps) and the default directory.
#[test]
fn suggested_commands_in_json_repeat_the_selection() {
    let db = TestDb::new("json_hint");
    let project = Project::two_tables();
    project.write(
        "db/environments/dev.yaml",
        format!("database_url: {}\n", db.url()),
    );
    project.write("db/migrations/003_c.up.sql", "-- a draft\n");
    project.write("db/migrations/003_c.down.sql", "-- a draft\n");
    let run = Run::of(
        project
            .cli()
            .args(["migrate", "up", "--env", "dev", "--format", "json"]),
    );
    run.code(exit::INVALID);
    let help = run.json()["errors"][0]["help"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        help.contains("`cargo confiture migrate up --target 002 --env dev`"),
        "{help}"
    );
    assert_eq!(db.ledger(), None, "nothing ran");
}

/// `migrate drift`'s `diverged` entries disagreed with `up`'s and `down`'s for the same ledger:
/// `migration` was `3_t3` for a duplicate (up/down: `003_t3`), `file` null for a modified one
/// (up/down: its path), `newest_applied` null for an out-of-order one (up: `007`). They are
/// built by the same function now: drift's list is up's, and each of down's is among them.
#[test]
fn drift_up_and_down_describe_a_divergence_alike() {
    let db = TestDb::new("je_drift_alike");
    let project = Project::new();
    for (id, table) in [
        ("001_a", "a"),
        ("002_b", "b"),
        ("003_t3", "t3"),
        ("004_d", "d"),
    ] {
        project.migration(
            id,
            &format!("CREATE TABLE {table} (id int);\n"),
            &format!("DROP TABLE {table};\n"),
        );
    }
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    db.connect()
        .batch_execute(
            "INSERT INTO tb_confiture (slug, version, name, checksum, applied_at) \
             SELECT 't3_again', '3', name, checksum, applied_at + interval '1 hour' \
             FROM tb_confiture WHERE version = '003'; \
             INSERT INTO tb_confiture (slug, version, name, checksum, applied_at) \
             SELECT 'gone', '007', 'gone', checksum, applied_at + interval '2 hour' \
             FROM tb_confiture WHERE version = '001'; \
             DELETE FROM tb_confiture WHERE version = '004'",
        )
        .expect("a second row for 003, a row with no file, 004 unrecorded");
    project.write(
        "db/migrations/002_b.up.sql",
        "CREATE TABLE b (id bigint);\n",
    );

    let diverged = |args: &[&str]| -> Vec<serde_json::Value> {
        let run = project.run_on(&db, &[args, &["--format", "json"]].concat());
        let error = error_object(&run, exit::DIVERGED, "diverged");
        error["diverged"].as_array().expect("diverged").clone()
    };
    let up = diverged(&["migrate", "up"]);
    let by_state = |state: &str| {
        up.iter()
            .find(|d| d["state"] == state)
            .unwrap_or_else(|| panic!("no {state} in {up:?}"))
            .clone()
    };
    assert_eq!(by_state("duplicate")["migration"], "003_t3", "{up:?}");
    assert_eq!(
        by_state("modified")["file"],
        "db/migrations/002_b.up.sql",
        "{up:?}"
    );
    assert_eq!(by_state("out_of_order")["newest_applied"], "007", "{up:?}");
    assert_eq!(by_state("missing")["migration"], "007_gone", "{up:?}");

    assert_eq!(diverged(&["migrate", "drift"]), up);
    let down = diverged(&["migrate", "down", "--steps", "5", "--yes"]);
    assert!(down.len() >= 3, "{down:?}");
    for d in &down {
        assert!(up.contains(d), "down's {d} is not up's: {up:?}");
    }
}

/// `database` was `null` in a `diverged` or `irreversible` refusal, raised once the command
/// had connected, while `migration_failed` had it: every error a connected command raises
/// names its database (never the password), whatever its kind.
#[test]
fn every_refusal_after_connecting_names_the_database() {
    let db = TestDb::new("jsonerr_refusal_db");
    let project = Project::two_tables();
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let names_it = |run: &Run, error: &serde_json::Value| {
        assert!(
            error["database"]
                .as_str()
                .is_some_and(|d| d.ends_with(&format!("/{}", db.name))),
            "{}",
            run.dump()
        );
    };

    // Irreversible: `down` of a migration whose down file says so.
    project.write(
        "db/migrations/002_b.down.sql",
        "-- confiture:irreversible\n",
    );
    let run = project.run_on(&db, &["migrate", "down", "--format", "json"]);
    let error = error_object(&run, exit::IRREVERSIBLE, "irreversible");
    names_it(&run, &error);

    // Diverged: each command that refuses a modified applied migration.
    project.write(
        "db/migrations/002_b.up.sql",
        "CREATE TABLE b (id bigint);\n",
    );
    for args in [&["migrate", "up"][..], &["migrate", "down", "--yes"]] {
        let run = project.run_on(&db, &[args, &["--format", "json"]].concat());
        let error = error_object(&run, exit::DIVERGED, "diverged");
        names_it(&run, &error);
    }
}

/// hsm3 #3: a database URL a `.env` gave — taken as it is, or as an environment file's
/// `${DATABASE_URL}` — is named in the error object as the text names it (`DATABASE_URL in
/// .env, line 2`): `database_from`, `{file, line, key}`; `null` for a URL from elsewhere.
#[test]
fn the_error_object_says_which_dotenv_line_gave_the_database_url() {
    let project = Project::two_tables();
    let missing = TestDb::unborn("json_dotenv");
    project.write(
        ".env",
        format!("# the app's\nDATABASE_URL={}\n", missing.url()),
    );
    let expected = serde_json::json!({"file": ".env", "line": 2, "key": "DATABASE_URL"});
    let run = project.run(&["migrate", "status", "--format", "json"]);
    let error = error_object(&run, exit::CONNECTION, "connection");
    assert_eq!(error["database_from"], expected, "{}", run.dump());
    run.stderr_has("using DATABASE_URL in .env, line 2");

    project.write(
        "db/environments/local.yaml",
        "database_url: ${DATABASE_URL}\n",
    );
    let run = project.run(&["migrate", "status", "--format", "json"]);
    let error = error_object(&run, exit::CONNECTION, "connection");
    assert_eq!(error["database_from"], expected, "{}", run.dump());

    // A URL given otherwise names no `.env`.
    let run = project.run_on(&missing, &["migrate", "status", "--format", "json"]);
    let error = error_object(&run, exit::CONNECTION, "connection");
    assert_eq!(
        error["database_from"],
        serde_json::Value::Null,
        "{}",
        run.dump()
    );
}

/// `lint --format json` of a `--migrations-dir` that is not UTF-8 printed
/// `{"error":{"message":"path contains invalid UTF-8 characters"}}` — no report, no `kind`, no
/// `exit_code` — and exited 0 (serde refuses a `Path` that is not UTF-8; the report's
/// `migrations_dir` bypassed `display::serialize_path`). Every command's JSON names such a
/// path with its bytes written out (`x\xff/db/migrations`), in a document that parses, with
/// its own exit code; a document that could not be written never exits 0.
#[cfg(unix)]
#[test]
fn every_commands_json_names_a_path_that_is_not_utf8_with_its_bytes_written_out() {
    use std::os::unix::ffi::OsStrExt;
    let project = Project::new();
    let dir = std::ffi::OsStr::from_bytes(b"x\xff/db/migrations");
    let shown = "x\\\\xff/db/migrations";
    let up = project.root.join(dir).join("001_a.up.sql");
    std::fs::create_dir_all(up.parent().expect("a directory")).expect("create the directory");
    std::fs::write(&up, "CREATE TABLE a (id int);\n").expect("write");
    let down = project.root.join(dir).join("001_a.down.sql");
    std::fs::write(&down, "DROP TABLE a;\n").expect("write");
    let db = TestDb::new("hjs_json_path");
    let run = |args: &[&str], code: u8| -> (Run, serde_json::Value) {
        let mut cmd = project.cli();
        cmd.args(args)
            .arg("--migrations-dir")
            .arg(dir)
            .args(["--format", "json"]);
        if args[0] == "migrate" && args[1] != "generate" {
            cmd.args(["--database-url", &db.url()]);
        }
        let run = Run::of(&mut cmd);
        run.code(code)
            .stdout_lacks("invalid UTF-8")
            .stdout_lacks("\u{fffd}")
            .stderr_lacks("\u{fffd}");
        let doc = run.json();
        (run, doc)
    };
    let (lint, doc) = run(&["lint"], exit::SUCCESS);
    assert_eq!(
        doc["migrations_dir"],
        "x\\xff/db/migrations",
        "{}",
        lint.dump()
    );
    assert_eq!(doc["migrations"], 1, "{}", lint.dump());
    run(&["migrate", "status"], exit::NOT_INITIALISED);
    run(&["migrate", "up", "--dry-run"], exit::SUCCESS);
    run(&["migrate", "up"], exit::SUCCESS);
    run(&["migrate", "down", "--dry-run"], exit::SUCCESS);
    run(&["migrate", "generate", "b", "--dry-run"], exit::SUCCESS)
        .0
        .stdout_has(shown);

    // A missing down file: the `invalid` report, its diagnostic naming the file as written.
    std::fs::remove_file(&down).expect("remove the down file");
    let (lint, doc) = run(&["lint"], exit::INVALID);
    assert_eq!(
        doc["migrations_dir"],
        "x\\xff/db/migrations",
        "{}",
        lint.dump()
    );
    let error = error_object(&lint, exit::INVALID, "invalid");
    assert!(
        error["diagnostics"][0]["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("x\\xff/db/migrations/001_a.")),
        "{}",
        lint.dump()
    );
}

/// The error object of an environment file that is not YAML (`database_url: [`) had `file`,
/// `line` and `settings` null or empty while its text named the file and the line; one that
/// could not be read named no file; and a setting's refusal put the file's absolute path in
/// `file` while the message named it from where the user stands. Every error of an environment
/// file fills `file` (as the text shows it, `display::relative`), `line` when it has one, and
/// `settings` with its problem.
#[test]
fn every_environment_file_error_names_its_file_and_line_in_json() {
    let project = Project::two_tables();
    project.write("bad.yaml", "database_url: [\n");
    project.write("db/environments/bad.yaml", "database_url: [\n");
    project.write(
        "db/environments/twice.yaml",
        "database_url: postgresql:///app\nmigration:\n  lock_timeout: 5s\n  lock_timeout: 6s\n",
    );
    project.write("db/environments/control.yaml", "database_url: x\n\x07\n");
    project.write(
        "db/environments/latin1.yaml",
        b"database_url: x\n# caf\xe9\n",
    );
    project.write(
        "db/environments/one.yaml",
        "database_url: postgresql:///app\nmigration:\n  lock_timeout: 5\n",
    );
    std::fs::create_dir_all(project.path("db/environments/dir.yaml")).expect("mkdir");
    let cases: [(&[&str], &str, Option<u32>); 8] = [
        (&["-c", "bad.yaml"], "bad.yaml", Some(2)),
        (&["--env", "bad"], "db/environments/bad.yaml", Some(2)),
        (&["--env", "twice"], "db/environments/twice.yaml", Some(4)),
        (
            &["--env", "control"],
            "db/environments/control.yaml",
            Some(2),
        ),
        (&["--env", "latin1"], "db/environments/latin1.yaml", Some(2)),
        (&["--env", "one"], "db/environments/one.yaml", Some(3)),
        (&["-c", "missing.yaml"], "missing.yaml", None),
        (
            &["-c", "db/environments/dir.yaml"],
            "db/environments/dir.yaml",
            None,
        ),
    ];
    for (args, file, line) in cases {
        let mut all = vec!["migrate", "status", "--format", "json"];
        all.extend_from_slice(args);
        let run = project.run(&all);
        let error = error_object(&run, exit::INVALID, "invalid");
        assert_eq!(error["file"], file, "{args:?}\n{}", run.dump());
        assert_eq!(
            error["line"],
            serde_json::json!(line),
            "{args:?}\n{}",
            run.dump()
        );
        let settings = error["settings"].as_array().expect("settings");
        assert_eq!(settings.len(), 1, "{args:?}\n{}", run.dump());
        assert_eq!(settings[0]["line"], serde_json::json!(line), "{args:?}");
        assert!(
            error["message"].as_str().is_some_and(|m| m.contains(file)),
            "the message names the file as `file` does: {args:?}\n{}",
            run.dump()
        );
    }
}

/// A path that is not UTF-8 was shown lossily in messages (`failed at x\u{fffd}/db/...`,
/// `environment file env\u{fffd}.yaml`), every such byte the same `\u{fffd}`: the text and the
/// JSON `message` write each byte out (`x\xff`), as `display::path_text` does for every path.
#[cfg(unix)]
#[test]
fn messages_name_a_path_that_is_not_utf8_with_its_bytes_written_out() {
    use std::os::unix::ffi::OsStrExt;
    let project = Project::new();
    let dir = std::ffi::OsStr::from_bytes(b"x\xff/db/migrations");
    let up = project.root.join(dir).join("001_a.up.sql");
    std::fs::create_dir_all(up.parent().expect("a directory")).expect("create the directory");
    std::fs::write(&up, "SELECT nope;\n").expect("write");
    std::fs::write(project.root.join(dir).join("001_a.down.sql"), "SELECT 1;\n").expect("write");
    let env = std::ffi::OsStr::from_bytes(b"env\xff.yaml");
    std::fs::write(
        project.root.join(env),
        "database_url: postgresql:///app\nmigration:\n  lock_timeout: 5\n",
    )
    .expect("write");
    let db = TestDb::new("hjs_msg_path");
    let url = db.url();
    let cases: [(Vec<&std::ffi::OsStr>, u8, &str); 2] = [
        (
            vec![
                "--migrations-dir".as_ref(),
                dir,
                "--database-url".as_ref(),
                url.as_ref(),
            ],
            exit::MIGRATION_FAILED,
            "x\\xff/db/migrations/001_a.up.sql",
        ),
        (vec!["-c".as_ref(), env], exit::INVALID, "env\\xff.yaml"),
    ];
    for (args, code, shown) in cases {
        for json in [false, true] {
            let mut cmd = project.cli();
            cmd.args(["migrate", "up"]).args(&args);
            if json {
                cmd.args(["--format", "json"]);
            }
            let run = Run::of(&mut cmd);
            run.code(code)
                .stderr_lacks("\u{fffd}")
                .stdout_lacks("\u{fffd}")
                .stderr_has(shown);
            if json {
                let message = run.json()["errors"][0]["message"].clone();
                assert!(
                    message.as_str().is_some_and(|m| m.contains(shown)),
                    "{shown}\n{}",
                    run.dump()
                );
            }
        }
    }
}
