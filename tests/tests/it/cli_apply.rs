//! `migrate up|down|baseline|reinit` end to end: the seed's scenario on a copy of the example
//! project, dry runs that write nothing, the JSON reports, a failure part-way, rolling back
//! everything, creating the database, and `CREATE INDEX CONCURRENTLY`.

use std::collections::BTreeSet;

use confiture::exit;
use confiture_tests::{Project, Run, TestDb};

const EXAMPLE: [&str; 6] = [
    "001:initial_schema",
    "002:add_bio_to_users",
    "003:create_tb_comment",
    "004:add_comment_views",
    "005:add_avatar_url",
    "006:index_tb_comment_fk_post",
];

fn ledger(db: &TestDb) -> Vec<String> {
    db.ledger().expect("the ledger exists")
}

#[test]
fn the_seed_scenario_on_the_example_project() {
    let db = TestDb::new("ap_seed");
    let project = Project::example();

    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::NOT_INITIALISED)
        .stdout_has("0 applied, 6 pending, 6 total");
    assert_eq!(db.ledger(), None);

    project
        .run_on(&db, &["migrate", "up", "--steps", "2"])
        .code(exit::SUCCESS)
        .stdout_has("applied 2 migrations")
        .stderr_has("applied 001_initial_schema")
        .stderr_has("applied 002_add_bio_to_users");
    assert_eq!(ledger(&db), EXAMPLE[..2]);
    assert!(db.has_relation("tb_user") && !db.has_relation("tb_comment"));

    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::PENDING)
        .stdout_has("2 applied, 4 pending, 6 total");

    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::SUCCESS)
        .stdout_has("applied 4 migrations");
    assert_eq!(ledger(&db), EXAMPLE);
    assert!(db.has_relation("idx_tb_comment_fk_post"));

    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::SUCCESS)
        .stdout_has("6 applied, 0 pending, 6 total");
    // Nothing left: `up` says so and succeeds.
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::SUCCESS)
        .stdout_has("already up to date");

    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::SUCCESS)
        .stdout_has("rolled back 1 migration")
        .stdout_has("006");
    assert_eq!(ledger(&db), EXAMPLE[..5]);
    assert!(!db.has_relation("idx_tb_comment_fk_post"));

    let run = project.run_on(&db, &["migrate", "status", "--format", "json"]);
    run.code(exit::PENDING);
    let doc = run.json();
    assert_eq!(doc["pending"], serde_json::json!(["006"]));
    assert_eq!(doc["migrations"][5]["name"], "index_tb_comment_fk_post");
    assert_eq!(doc["migrations"][5]["status"], "pending");
}

#[test]
fn dry_run_prints_the_sql_and_writes_nothing() {
    let db = TestDb::new("ap_dry");
    let project = Project::example();
    let before = db.catalog_snapshot();
    let run = project.run_on(&db, &["migrate", "up", "--dry-run"]);
    run.code(exit::SUCCESS)
        .stdout_has("001_initial_schema (in a transaction)")
        .stdout_has("CREATE TABLE tb_user (")
        .stdout_has("006_index_tb_comment_fk_post (no transaction")
        .stdout_has("CREATE INDEX CONCURRENTLY")
        .stdout_has("nothing was written");
    assert_eq!(db.catalog_snapshot(), before, "--dry-run wrote");
    assert_eq!(db.ledger(), None);

    // With part of the history applied: the plan is the rest, and still nothing is written.
    project
        .run_on(&db, &["migrate", "up", "--steps", "3"])
        .code(exit::SUCCESS);
    let before = db.catalog_snapshot();
    let run = project.run_on(&db, &["migrate", "up", "--dry-run", "--format", "json"]);
    run.code(exit::SUCCESS);
    let doc = run.json();
    assert_eq!(doc["dry_run"], true);
    let planned: Vec<&str> = doc["migrations"]
        .as_array()
        .expect("migrations")
        .iter()
        .map(|m| m["version"].as_str().expect("version"))
        .collect();
    assert_eq!(planned, ["004", "005", "006"]);
    assert_eq!(doc["applied"], serde_json::json!([]));
    let run = project.run_on(&db, &["migrate", "down", "--dry-run", "--steps", "2"]);
    run.code(exit::SUCCESS)
        .stdout_has("003_create_tb_comment")
        .stdout_has("DROP TABLE tb_comment;");
    assert_eq!(db.catalog_snapshot(), before, "a dry run wrote");
    assert_eq!(ledger(&db), EXAMPLE[..3]);
}

/// hvd: a file's byte-order mark showed in `up --dry-run` as a literal `\u{feff}` before the
/// SQL it prints. The SQL shown is the SQL sent: without the mark, in the text and the JSON,
/// up and down.
#[test]
fn a_dry_run_shows_the_sql_without_the_files_byte_order_mark() {
    let db = TestDb::new("ap_dry_bom");
    let project = Project::new();
    project.migration(
        "001_b",
        "\u{feff}CREATE TABLE b (id int);\n",
        "\u{feff}DROP TABLE b;\n",
    );
    project
        .run_on(&db, &["migrate", "up", "--dry-run"])
        .code(exit::SUCCESS)
        .stdout_has("(in a transaction)\nCREATE TABLE b (id int);")
        .stdout_lacks("feff")
        .stdout_lacks("\u{feff}");
    let run = project.run_on(&db, &["migrate", "up", "--dry-run", "--format", "json"]);
    assert_eq!(
        run.json()["migrations"][0]["sql"],
        "CREATE TABLE b (id int);\n"
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down", "--dry-run"])
        .code(exit::SUCCESS)
        .stdout_has("(in a transaction)\nDROP TABLE b;")
        .stdout_lacks("feff")
        .stdout_lacks("\u{feff}");
}

/// Five migrations of which the third fails at its line 4, on a relation the server names.
fn third_of_five_fails() -> Project {
    let project = Project::new();
    for v in 1..=5 {
        let (up, down) = if v == 3 {
            (
                "-- Migration 003\nCREATE TABLE t3 (a int);\n\nINSERT INTO no_such_table VALUES (1);\n"
                    .to_string(),
                "DROP TABLE t3;\n".to_string(),
            )
        } else {
            (
                format!("CREATE TABLE t{v} (a int);\n"),
                format!("DROP TABLE t{v};\n"),
            )
        };
        project.migration(&format!("00{v}_m{v}"), &up, &down);
    }
    project
}

#[test]
fn a_failure_part_way_keeps_what_ran_and_attempts_nothing_after() {
    let db = TestDb::new("ap_fail");
    let project = third_of_five_fails();
    let run = project.run_on(&db, &["migrate", "up"]);
    run.code(exit::MIGRATION_FAILED)
        .stderr_has("db/migrations/003_m3.up.sql:4")
        .stderr_has("no_such_table")
        .stderr_has("applied 001_m1")
        .stderr_has("applied 002_m2")
        .stderr_lacks("applied 003_m3")
        .stderr_lacks("004_m4");
    assert_eq!(ledger(&db), ["001:m1", "002:m2"]);
    assert!(db.has_relation("t1") && db.has_relation("t2"));
    assert!(
        !db.has_relation("t3"),
        "the failed migration left its table"
    );
    assert!(!db.has_relation("t4") && !db.has_relation("t5"));
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::PENDING)
        .stdout_has("2 applied, 3 pending, 5 total");
}

#[test]
fn json_report_of_up_on_success_and_on_failure() {
    let db = TestDb::new("ap_json");
    let project = third_of_five_fails();
    let good = Project::new();
    good.migration("001_m1", "CREATE TABLE t1 (a int);\n", "DROP TABLE t1;\n")
        .migration("002_m2", "CREATE TABLE t2 (a int);\n", "DROP TABLE t2;\n");

    let run = good.run_on(&db, &["migrate", "up", "--format", "json", "--steps", "1"]);
    run.code(exit::SUCCESS);
    let doc = run.json();
    for key in ["applied", "skipped", "errors", "total_duration_ms"] {
        assert!(doc.get(key).is_some(), "{key} missing from {doc}");
    }
    assert_eq!(doc["applied"], serde_json::json!(["001"]));
    assert_eq!(doc["skipped"], serde_json::json!(["002"]));
    assert_eq!(doc["errors"], serde_json::json!([]));
    assert!(doc["total_duration_ms"].is_u64());
    let m = &doc["migrations"][0];
    assert_eq!(m["version"], "001");
    assert!(m["duration_ms"].is_u64(), "{m}");
    // The seed's renamed keys are gone for good.
    for old in [
        "migrations_applied",
        "total_execution_time_ms",
        "execution_time_ms",
    ] {
        assert!(!run.stdout.contains(old), "{old} in {doc}");
    }

    // On failure: exit 4, and stdout still holds only the report, with the error in it.
    let db = TestDb::new("ap_jsonf");
    let run = project.run_on(&db, &["migrate", "up", "--format", "json"]);
    run.code(exit::MIGRATION_FAILED);
    let doc = run.json();
    assert_eq!(doc["applied"], serde_json::json!(["001", "002"]));
    let errors = doc["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{doc}");
    let e = &errors[0];
    assert_eq!(e["kind"], "migration_failed");
    assert_eq!(e["exit_code"], 4);
    assert_eq!(e["version"], "003");
    assert_eq!(e["line"], 4);
    assert!(
        e["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("003_m3.up.sql")),
        "{e}"
    );
    assert_eq!(e["sqlstate"], "42P01");
    let skipped: BTreeSet<&str> = doc["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        skipped.contains("004") && skipped.contains("005"),
        "004 and 005 were not attempted: {doc}"
    );
    // The error is also on stderr, for the person reading the log.
    run.stderr_has("003_m3.up.sql:4");
}

#[test]
fn rolling_back_everything_needs_yes() {
    let db = TestDb::new("ap_zero");
    let project = Project::example();
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let run = project.run_on(&db, &["migrate", "down", "--target", "0"]);
    run.code(exit::USAGE).stderr_has("--yes");
    assert_eq!(
        ledger(&db),
        EXAMPLE,
        "down --target 0 without --yes rolled back"
    );

    project
        .run_on(&db, &["migrate", "down", "--target", "0", "--yes"])
        .code(exit::SUCCESS)
        .stdout_has("rolled back 6 migrations");
    assert_eq!(ledger(&db), Vec::<String>::new());
    for relation in [
        "tb_user",
        "tb_post",
        "tb_comment",
        "v_user",
        "idx_tb_comment_fk_post",
    ] {
        assert!(!db.has_relation(relation), "{relation} is still there");
    }
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::PENDING)
        .stdout_has("0 applied, 6 pending, 6 total");
    // And back up again.
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    assert_eq!(ledger(&db), EXAMPLE);
}

#[test]
fn create_database_creates_a_missing_database() {
    let db = TestDb::unborn("ap_create");
    let project = Project::example();
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::CONNECTION)
        .stderr_has("--create-database");
    assert!(!db.exists());
    project
        .run_on(&db, &["migrate", "up", "--create-database"])
        .code(exit::SUCCESS);
    assert!(db.exists());
    assert_eq!(ledger(&db), EXAMPLE);
    // A second time the database exists: nothing to create, nothing to apply.
    project
        .run_on(&db, &["migrate", "up", "--create-database"])
        .code(exit::SUCCESS)
        .stdout_has("already up to date");
}

#[test]
fn baseline_and_reinit_round_trips() {
    let db = TestDb::new("ap_base");
    let project = Project::example();
    // A database whose first two migrations were applied by hand, before confiture.
    let mut client = db.connect();
    for file in ["001_initial_schema.up.sql", "002_add_bio_to_users.up.sql"] {
        client
            .batch_execute(&project.read(&format!("db/migrations/{file}")))
            .expect("apply by hand");
    }
    drop(client);

    project
        .run_on(&db, &["migrate", "baseline", "--through", "2", "--dry-run"])
        .code(exit::SUCCESS)
        .stdout_has("would record 2 migrations");
    assert_eq!(db.ledger(), None, "baseline --dry-run wrote");
    project
        .run_on(&db, &["migrate", "baseline", "--through", "2"])
        .code(exit::SUCCESS)
        .stdout_has("recorded 2 migrations");
    assert_eq!(ledger(&db), EXAMPLE[..2]);
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::PENDING)
        .stdout_has("2 applied, 4 pending, 6 total");
    // Baselined migrations were not run again: `up` applies the other four.
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::SUCCESS)
        .stdout_has("applied 4 migrations");
    assert_eq!(ledger(&db), EXAMPLE);

    // An applied file edited on purpose (a comment): status says modified (7), reinit accepts it.
    let path = "db/migrations/005_add_avatar_url.up.sql";
    project.write(path, format!("-- reviewed\n{}", project.read(path)));
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::DIVERGED)
        .stdout_has("modified");
    let before = ledger(&db);
    project
        .run_on(&db, &["migrate", "reinit", "--dry-run"])
        .code(exit::SUCCESS)
        .stdout_has("would accept the files of 1 row")
        .stdout_has("005_add_avatar_url")
        .stdout_has("nothing was written");
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::DIVERGED);
    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS)
        .stdout_has("accepted the files of 1 row")
        .stdout_has("kept 5 rows");
    assert_eq!(ledger(&db), before);
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::SUCCESS);

    // reinit --through 4 --yes forgets 005 and 006; rolling them back by hand leaves a consistent
    // database that `up` brings forward again.
    let run = project.run_on(
        &db,
        &[
            "migrate",
            "reinit",
            "--through",
            "4",
            "--yes",
            "--format",
            "json",
        ],
    );
    run.code(exit::SUCCESS);
    assert_eq!(run.json()["forgotten"], serde_json::json!(["005", "006"]));
    assert_eq!(
        run.json()["forgotten_with_files"],
        serde_json::json!(["005", "006"])
    );
    assert_eq!(ledger(&db), EXAMPLE[..4]);
    let mut client = db.connect();
    for file in [
        "006_index_tb_comment_fk_post.down.sql",
        "005_add_avatar_url.down.sql",
    ] {
        client
            .batch_execute(&project.read(&format!("db/migrations/{file}")))
            .expect("roll back by hand");
    }
    drop(client);
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    assert_eq!(ledger(&db), EXAMPLE);
}

/// Whether an index exists and is valid.
fn index_is_valid(db: &TestDb, name: &str) -> Option<bool> {
    db.connect()
        .query_opt(
            "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)",
            &[&name],
        )
        .expect("pg_index")
        .map(|row| row.get(0))
}

#[test]
fn create_index_concurrently_up_and_down() {
    let db = TestDb::new("ap_cic");
    let project = Project::new();
    project
        .migration(
            "001_tb_item",
            "CREATE TABLE tb_item (pk_item int PRIMARY KEY, a int, b int);\n\
             INSERT INTO tb_item SELECT g, g % 7, g % 11 FROM generate_series(1, 1000) g;\n",
            "DROP TABLE tb_item;\n",
        )
        // Two statements that must each run outside a transaction (confiture (Python) sends
        // them as one message and fails).
        .migration(
            "002_index_tb_item",
            "-- confiture:no-transaction\n\
             CREATE INDEX CONCURRENTLY idx_tb_item_a ON tb_item (a);\n\
             CREATE INDEX CONCURRENTLY idx_tb_item_b ON tb_item (b);\n",
            "-- confiture:no-transaction\n\
             DROP INDEX CONCURRENTLY idx_tb_item_b;\n\
             DROP INDEX CONCURRENTLY idx_tb_item_a;\n",
        );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::SUCCESS)
        .stdout_has("applied 2 migrations");
    assert_eq!(index_is_valid(&db, "idx_tb_item_a"), Some(true));
    assert_eq!(index_is_valid(&db, "idx_tb_item_b"), Some(true));
    assert_eq!(ledger(&db), ["001:tb_item", "002:index_tb_item"]);

    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::SUCCESS);
    assert_eq!(index_is_valid(&db, "idx_tb_item_a"), None);
    assert_eq!(index_is_valid(&db, "idx_tb_item_b"), None);
    assert_eq!(ledger(&db), ["001:tb_item"]);

    // The example's own no-transaction migration, up and down.
    let db = TestDb::new("ap_cic2");
    let example = Project::example();
    example.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    assert_eq!(index_is_valid(&db, "idx_tb_comment_fk_post"), Some(true));
    let run: Run = example.run_on(&db, &["migrate", "down", "--format", "json"]);
    run.code(exit::SUCCESS);
    assert_eq!(run.json()["rolled_back"], serde_json::json!(["006"]));
    assert_eq!(index_is_valid(&db, "idx_tb_comment_fk_post"), None);
}

/// A migration's `RESET ALL` or pg_dump preamble (`SET statement_timeout = 0; SET lock_timeout =
/// 0;`) silently switched off the environment's `lock_timeout`/`statement_timeout` for the
/// rest of that migration: an `ALTER` then queued behind another session's lock for as long
/// as it was held. Lint warns (C119, `file:line`), `up` says it when it runs the migration,
/// and the next migration gets the bounds back.
#[test]
fn a_migration_that_turns_the_timeouts_off_is_warned_about_and_the_next_gets_them_back() {
    let db = TestDb::new("ap_resets");
    let project = Project::new();
    let seen = |table: &str| {
        format!(
            "CREATE TABLE {table} AS SELECT current_setting('lock_timeout') AS lt, \
             current_setting('statement_timeout') AS st;\n"
        )
    };
    project.migration(
        "001_reset",
        &format!("RESET ALL;\n{}", seen("seen1")),
        "DROP TABLE seen1;\n",
    );
    project.migration(
        "002_next",
        &format!("SELECT 1;\n{}", seen("seen2")),
        "DROP TABLE seen2;\n",
    );
    project.migration(
        "003_dump",
        &format!(
            "SET statement_timeout = 0;\nSET lock_timeout = 0;\nSET client_encoding = 'UTF8';\n{}",
            seen("seen3")
        ),
        "DROP TABLE seen3;\n",
    );
    project.migration("004_after", &seen("seen4"), "DROP TABLE seen4;\n");

    let lint = project.run(&["lint"]);
    let all = format!("{}{}", lint.stdout, lint.stderr);
    for at in [
        "001_reset.up.sql:1",
        "003_dump.up.sql:1",
        "003_dump.up.sql:2",
    ] {
        assert!(all.contains(at), "{at}\n{}", lint.dump());
    }
    assert!(all.contains("C119"), "{}", lint.dump());
    assert!(!all.contains("002_next.up.sql:1"), "{}", lint.dump());

    let run = project.run_on(
        &db,
        &[
            "migrate",
            "up",
            "--lock-timeout-statement",
            "2s",
            "--statement-timeout",
            "40s",
        ],
    );
    run.code(exit::SUCCESS)
        .stderr_has("001_reset.up.sql:1: RESET ALL turns off the environment's lock_timeout/statement_timeout for the rest of this migration")
        .stderr_has("003_dump.up.sql:2: SET lock_timeout = 0 turns off");
    let settings = |table: &str| -> (String, String) {
        let row = db
            .connect()
            .query_one(&format!("SELECT lt, st FROM {table}"), &[])
            .expect("the settings seen");
        (row.get(0), row.get(1))
    };
    assert_eq!(settings("seen1"), ("0".to_string(), "0".to_string()));
    assert_eq!(settings("seen3"), ("0".to_string(), "0".to_string()));
    // The next migration runs under the environment's bounds again.
    for table in ["seen2", "seen4"] {
        assert_eq!(
            settings(table),
            ("2s".to_string(), "40s".to_string()),
            "{table}"
        );
    }
}

/// Issue 15: each statement of a no-transaction migration costs the server two messages (two
/// transactions): the statement, then one message with what must be known before the next is
/// sent — the session's encoding, the migration lock, the start marker advanced. They were
/// four (the marker's advance, the statement, the encoding's read, the lock's check). Counted
/// from the server's own statistics (`pg_stat_database`: transactions committed or rolled
/// back in the run's database), as the difference between a migration of 30 statements and
/// one of 10, so that what a run does once is not counted.
#[test]
fn a_no_transaction_migration_costs_two_messages_a_statement() {
    let short = transactions_of_a_no_transaction_up("apply_nt_msgs10", 10);
    let long = transactions_of_a_no_transaction_up("apply_nt_msgs30", 30);
    // Ten to spare for an autovacuum worker's visit to either database: it counts there too.
    // One message more a statement would be 20 more.
    assert!(
        long - short <= 2 * 20 + 10,
        "20 statements more cost {} transactions more ({short} for 10 statements, {long} for \
         30): more than two a statement",
        long - short
    );
}

/// Issue 15: `up` on a fresh database asks where its ledger would be created (no schema there:
/// a system schema first on the `search_path`, refused with exit 5) in the ledger's read, not
/// in a message of its own. Counted in the log of a server of its own (`log_statement =
/// 'all'`: a line for each simple-query message, and for each execution of the driver's
/// extended-protocol queries): the whole run of one migration on a fresh database — the
/// session's checks, the lock, the ledger's read and the looks for a ledger elsewhere, the
/// objects already there, the ledger's DDL and its commit, the migration with its row, the
/// lock's release — is [`FRESH_UP_MESSAGES`] of them; the check in a message of its own made
/// them 12. hsm4 4: so with a schema-qualified tracking table whose schema `up` creates: the
/// schemas it looks among for a close name (`NewTenantSchema::of_ledger`) were asked twice
/// more, each a prepared query (12 messages, 14 round trips); they now come with the look for
/// a ledger elsewhere.
#[test]
fn up_on_a_fresh_database_asks_where_the_ledger_goes_in_its_read() {
    let cluster = logging_cluster();
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (i int);\n", "DROP TABLE t;\n");
    for (name, tracking_table) in [
        ("fresh_msgs", None),
        ("fresh_msgs_ops", Some("ops.tb_confiture")),
    ] {
        let db = cluster.create_database(name);
        let url = cluster.url(&db, "");
        let mut cmd = project.cli();
        match tracking_table {
            Some(table) => {
                project.write(
                    "db/environments/local.yaml",
                    format!("database_url: {url}\nmigration:\n  tracking_table: {table}\n"),
                );
                cmd.args(["migrate", "up"])
            }
            None => cmd.args(["migrate", "up", "--database-url", &url]),
        };
        let run = Run::of(&mut cmd);
        run.code(exit::SUCCESS);
        if tracking_table.is_some() {
            run.stderr_has("schema ops does not exist: `up` creates it");
        }
        let messages = logged_messages(&cluster, &db);
        assert!(
            messages.len() <= FRESH_UP_MESSAGES,
            "up of one migration on a fresh database ({name}) sent {} messages, more than \
             {FRESH_UP_MESSAGES}:\n{}",
            messages.len(),
            messages.join("\n")
        );
    }
}

/// See [`up_on_a_fresh_database_asks_where_the_ledger_goes_in_its_read`].
const FRESH_UP_MESSAGES: usize = 11;

/// hbd3 2: `status` and `up` on a database holding objects but no ledger looked for start
/// markers beside the missing ledger in round trips of their own — where the ledger resolves
/// (a transaction of 4 messages), then the markers' table, absent or not. The read of what the
/// database holds now says whether that table stands there: where it does not, no message
/// asks for it.
#[test]
fn objects_without_a_ledger_cost_no_message_for_start_markers_that_are_not_there() {
    let cluster = logging_cluster();
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (i int);\n", "DROP TABLE t;\n");
    for (name, args, code) in [
        (
            "objects_status",
            &["migrate", "status"][..],
            exit::NOT_INITIALISED,
        ),
        ("objects_up", &["migrate", "up"][..], exit::DIVERGED),
    ] {
        let db = cluster.create_database(name);
        let url = cluster.url(&db, "");
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client.batch_execute("CREATE TABLE obj (i int)").unwrap();
        drop(client);
        let run = Run::of(project.cli().args(args).args(["--database-url", &url]));
        run.code(code);
        let messages = logged_messages(&cluster, &db);
        // The markers' read, and where the ledger resolves (`ledger::resolve`, which a help
        // of `status` asks once for a ledger it cannot create).
        let markers = messages
            .iter()
            .filter(|m| m.contains(" m ORDER BY version"))
            .count();
        let resolved = messages
            .iter()
            .filter(|m| m.starts_with("execute") && m.contains("to_regclass($1"))
            .count();
        assert!(
            markers == 0 && resolved <= 1,
            "{name} looked for start markers that are not there:\n{}\n{}",
            messages.join("\n"),
            run.dump()
        );
    }
}

/// A server of its own, started, that logs every message with its database
/// (`log_statement = 'all'`, `log_line_prefix = '[%d] '`): read by [`logged_messages`].
fn logging_cluster() -> confiture_tests::cluster::Cluster {
    let cluster = confiture_tests::cluster::Cluster::init();
    cluster.configure(
        "log_statement = 'all'\nlog_line_prefix = '[%d] '\n",
        confiture_tests::cluster::TRUST_ALL,
    );
    cluster.start();
    cluster
}

/// The messages a server of its own started with `log_statement = 'all'` and
/// `log_line_prefix = '[%d] '` logged for database `db`: a line for each simple-query message,
/// and for each execution of the driver's extended-protocol queries.
fn logged_messages(cluster: &confiture_tests::cluster::Cluster, db: &str) -> Vec<String> {
    let prefix = format!("[{db}] LOG:  ");
    cluster
        .log()
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .filter(|line| line.starts_with("statement: ") || line.starts_with("execute "))
        .map(str::to_string)
        .collect()
}

/// `baseline` and `reinit` on a fresh database (no ledger yet) ask where the ledger would be
/// created (refused when no schema can take it: a system schema first on the `search_path`)
/// in the ledger's read, as `up` does
/// ([`up_on_a_fresh_database_asks_where_the_ledger_goes_in_its_read`]), not in a message of
/// its own (`SELECT pg_catalog.current_schema()`, which they sent after the read). Counted in the log of a server of its own: each rewrite of a fresh database is
/// at most [`FRESH_REWRITE_MESSAGES`] messages, and none of them is the check alone.
#[test]
fn baseline_and_reinit_on_a_fresh_database_ask_where_the_ledger_goes_in_its_read() {
    let cluster = logging_cluster();
    let project = Project::new();
    project.migration("001_t", "CREATE TABLE t (i int);\n", "DROP TABLE t;\n");
    for (name, args) in [
        (
            "fresh_baseline",
            &["migrate", "baseline", "--through", "1"][..],
        ),
        ("fresh_reinit", &["migrate", "reinit"][..]),
    ] {
        let db = cluster.create_database(name);
        let url = cluster.url(&db, "");
        let run = Run::of(project.cli().args(args).args(["--database-url", &url]));
        run.code(exit::SUCCESS);
        let messages = logged_messages(&cluster, &db);
        let alone: Vec<&String> = messages
            .iter()
            .filter(|m| m.contains("current_schema()") && !m.contains("FROM"))
            .collect();
        assert!(
            alone.is_empty(),
            "{name}: the check where the ledger goes was a message of its own: {alone:?}"
        );
        assert!(
            messages.len() <= FRESH_REWRITE_MESSAGES,
            "{name} of one migration on a fresh database sent {} messages, more than \
             {FRESH_REWRITE_MESSAGES}:\n{}",
            messages.len(),
            messages.join("\n")
        );
    }
}

/// See [`baseline_and_reinit_on_a_fresh_database_ask_where_the_ledger_goes_in_its_read`]: the
/// ledger's read also says whether a start markers' table stands where the ledger would be
/// created (`Creation::Known::markers_beside`), so a fresh database's markers cost no message.
const FRESH_REWRITE_MESSAGES: usize = 8;

/// The transactions the server counts in a new database of its own while `up` applies one
/// no-transaction migration of `statements` statements there.
fn transactions_of_a_no_transaction_up(prefix: &str, statements: usize) -> i64 {
    let db = TestDb::new(prefix);
    let project = Project::new();
    let mut up = "-- confiture:no-transaction\nCREATE TABLE nt (i int);\n".to_string();
    for i in 2..statements {
        up.push_str(&format!("INSERT INTO nt VALUES ({i});\n"));
    }
    up.push_str("CREATE INDEX CONCURRENTLY nt_i ON nt (i);\n");
    project.migration("001_nt", &up, "DROP TABLE nt;\n");
    let mut admin = confiture_tests::admin();
    let before = settled_transactions(&mut admin, &db.name);
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    settled_transactions(&mut admin, &db.name) - before
}

/// The transactions committed and rolled back in database `name` (read from another one), once
/// no session is left there: a session's counts reach the statistics as it ends (PostgreSQL
/// 15), and without a change over a few reads (earlier servers send them on their way).
fn settled_transactions(admin: &mut postgres::Client, name: &str) -> i64 {
    let read = |admin: &mut postgres::Client| -> (i64, i64) {
        let row = admin
            .query_one(
                "SELECT (SELECT (xact_commit + xact_rollback)::int8 FROM pg_stat_database \
                 WHERE datname = $1), \
                 (SELECT count(*) FROM pg_stat_activity WHERE datname = $1)",
                &[&name],
            )
            .expect("read pg_stat_database");
        (row.get::<_, Option<i64>>(0).unwrap_or(0), row.get(1))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut last = None;
    let mut same = 0;
    loop {
        let (count, sessions) = read(admin);
        if sessions == 0 && last == Some(count) {
            same += 1;
            if same == 3 {
                return count;
            }
        } else {
            same = 0;
        }
        last = Some(count);
        assert!(
            std::time::Instant::now() < deadline,
            "the transactions of {name} did not settle"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// h14 D10: a no-transaction migration cut by `statement_timeout` after an earlier statement
/// committed got only "raise the statement_timeout": run again, the committed statement ran
/// a second time and failed ("already exists"). Its help says what it committed stays, as
/// every other failure of such a migration says — the run's timeout and the session's alike.
#[test]
fn a_no_transaction_migration_cut_by_statement_timeout_says_what_it_committed_stays() {
    let db = TestDb::new("apply_nt_timeout");
    let project = Project::new();
    project.migration(
        "001_n",
        "-- confiture:no-transaction\nCREATE TABLE n1 (id int);\nSELECT pg_sleep(2);\nCREATE INDEX CONCURRENTLY n1_i ON n1 (id);\n",
        "DROP TABLE n1;\n",
    );
    let run = project.run_on(&db, &["migrate", "up", "--statement-timeout", "100ms"]);
    run.code(exit::MIGRATION_FAILED)
        .stderr_has("statement_timeout")
        .stderr_has("what it committed stays");
    assert!(db.has_relation("n1"));
    db.connect().batch_execute("DROP TABLE n1").unwrap();
    let name = db.name.clone();
    db.connect()
        .batch_execute(&format!(
            "ALTER DATABASE \"{name}\" SET statement_timeout = '100ms'"
        ))
        .unwrap();
    // What it committed was undone: run again on purpose (its start marker stays).
    let run = project.run_on(&db, &["migrate", "up", "--rerun-interrupted"]);
    run.code(exit::MIGRATION_FAILED)
        .stderr_has("the session's")
        .stderr_has("what it committed stays");
}

/// A failure in a file with lone CR line endings is named at the line the server (psql's
/// `LINE n`) and the linter count: a lone CR ends a line, a CRLF is one line break. A
/// statement sent alone (a no-transaction file's) and the server's position in a
/// transactional file's text both; lint's source line under a diagnostic is that line too.
/// Was line 1 (or the line of the LFs alone) in every lone-CR case.
#[test]
fn a_failure_in_a_lone_cr_file_is_named_at_its_line() {
    for (up, at) in [
        (
            "-- one\rCREATE TABLE t0 (a int);\r\r  INSERT INTO no_such_table VALUES (1);\r",
            "001_m.up.sql:4:15",
        ),
        (
            "-- one\nCREATE TABLE t1 (a int);\r\n\r  INSERT INTO t1 VALUES\r  (1, 2);\r",
            "001_m.up.sql:5:7",
        ),
        (
            "-- confiture:no-transaction\rCREATE TABLE t2 (a int);\r\rCREATE INDEX CONCURRENTLY i2 ON t2\r(no_such_column);\r",
            "001_m.up.sql:4:1 (statement 2 of 2)",
        ),
        (
            "-- one\r\nCREATE TABLE t3 (a int);\r\n\r\n  SELECT no_such_column FROM t3;\r\n",
            "001_m.up.sql:4:10",
        ),
    ] {
        // A no-transaction file's first statement commits: a database each.
        let db = TestDb::new("ap_lone_cr");
        let project = Project::new();
        project.migration("001_m", up, "SELECT 1;\n");
        project
            .run_on(&db, &["migrate", "up"])
            .code(exit::MIGRATION_FAILED)
            .stderr_has(at)
            .stderr_lacks("001_m.up.sql:1:");
    }

    let project = Project::new();
    project.migration(
        "001_m",
        "-- one\rCREATE TABLE a (id int);\r\rDROP TABLE b;\r",
        "SELECT 1;\n",
    );
    project
        .run(&["lint"])
        .stderr_has("001_m.up.sql:4:1")
        .stderr_has("4 | DROP TABLE b;")
        // C016's line is the first, without the lines after its CR.
        .stderr_has("1 | -- one\n")
        .stderr_lacks("1 | -- one\\r");
}

/// `up --single-transaction` runs every migration again from the first after a lock wait of
/// one of them: its retry line named the run's first migration (`002_s2`), not the one that
/// waited (`003_alt`, whose `ALTER TABLE` waits for a session's lock on `lk`).
#[test]
fn a_single_transactions_retry_names_the_migration_that_waited() {
    let db = TestDb::new("ap_single_retry");
    let project = Project::new();
    project
        .migration("001_lk", "CREATE TABLE lk (id int);\n", "DROP TABLE lk;\n")
        .migration("002_s2", "CREATE TABLE s2 (id int);\n", "DROP TABLE s2;\n")
        .migration(
            "003_alt",
            "ALTER TABLE lk ADD COLUMN x int;\n",
            "ALTER TABLE lk DROP COLUMN x;\n",
        );
    project
        .run_on(&db, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    let mut holder = db.connect();
    holder
        .batch_execute("BEGIN; LOCK TABLE lk IN ACCESS SHARE MODE")
        .unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        holder.batch_execute("COMMIT").unwrap();
    });
    let run = project.run_on(
        &db,
        &[
            "migrate",
            "up",
            "--single-transaction",
            "--lock-timeout-statement",
            "300ms",
        ],
    );
    release.join().unwrap();
    run.stderr_has("003_alt: lock not available, retrying")
        .stderr_lacks("002_s2: lock not available");
}

/// A failed `up --single-transaction` rolls back the migrations before the failed one (they
/// ran) and never sends those after it: those are not attempted, as in a run of one
/// transaction per migration — the error listed none (`not_attempted: []`), nor did the text.
#[test]
fn a_failed_single_transaction_lists_the_later_migrations_as_not_attempted() {
    let db = TestDb::new("ap_single_rest");
    let project = Project::new();
    project
        .migration("001_lk", "CREATE TABLE lk (id int);\n", "DROP TABLE lk;\n")
        .migration("002_s2", "CREATE TABLE s2 (id int);\n", "DROP TABLE s2;\n")
        .migration("003_bad", "SELECT 1/0;\n", "SELECT 1;\n")
        .migration("004_s4", "CREATE TABLE s4 ();\n", "DROP TABLE s4;\n")
        .migration("005_s5", "CREATE TABLE s5 ();\n", "DROP TABLE s5;\n");
    project
        .run_on(&db, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    let run = project.run_on(
        &db,
        &["migrate", "up", "--single-transaction", "--format", "json"],
    );
    run.code(exit::MIGRATION_FAILED);
    let error = &run.json()["errors"][0];
    assert_eq!(error["version"], "003", "{}", run.dump());
    assert_eq!(
        error["not_attempted"],
        serde_json::json!(["004", "005"]),
        "{}",
        run.dump()
    );
    assert_eq!(error["committed"], serde_json::json!([]), "{}", run.dump());
    project
        .run_on(&db, &["migrate", "up", "--single-transaction"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("not attempted: 004, 005");
}

/// A migration that makes a table of the start markers' name without their columns (out of
/// the lint's sight: dynamic SQL), then a no-transaction migration: the first run's failure
/// blamed the tracking table ("check that public.tb_confiture has confiture's columns"), the
/// next run's, from the read of the markers, named the right table. Both say it alike now.
#[test]
fn a_migration_made_table_of_the_markers_name_is_named_on_the_first_run_too() {
    let db = TestDb::new("ap_own_markers");
    let project = Project::new();
    project
        .migration(
            "001_own",
            "CREATE TABLE t (id int);\n\
             DO $$ BEGIN EXECUTE 'CREATE TABLE ' || 'tb_confiture_started (version text, note text)'; END $$;\n",
            "DROP TABLE t;\n",
        )
        .migration(
            "002_i",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_i ON t (id);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t_i;\n",
        );
    let help = |run: &Run| {
        run.code(exit::INVALID);
        let doc = run.json();
        let help = doc["errors"][0]["help"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            help.contains("rename the other table")
                && help.contains("\"tb_confiture_started\"")
                && !help.contains("has confiture's columns"),
            "{}",
            run.dump()
        );
        help
    };
    let first = help(&project.run_on(&db, &["migrate", "up", "--format", "json"]));
    let second = help(&project.run_on(&db, &["migrate", "up", "--format", "json"]));
    assert_eq!(first, second);
}

/// A no-transaction migration that leaves many settings and a tiny `statement_timeout` in the
/// session, up and down: the tool's message with its ledger row starts with the session's
/// reset (`RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL`), and the server arms each
/// statement's timer with the timeout in force when it starts — the migration's 1 ms. The
/// `RESET ALL` over the settings it left was cancelled: every statement committed, the
/// migration reported failed and unrecorded, and the help blamed another session's cancel.
#[test]
fn a_no_transaction_migration_s_tiny_statement_timeout_does_not_cancel_its_row() {
    let db = TestDb::new("nt_timeout_row");
    let project = Project::new();
    let hostile = "DO $$ BEGIN FOR i IN 1..4000 LOOP \
                   PERFORM set_config('app.setting_' || i, 'v', false); END LOOP; END $$;\n\
                   SET statement_timeout = '1ms';\n";
    project
        .migration("001_t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n")
        .migration(
            "002_nt",
            &format!(
                "-- confiture:no-transaction\n\
                 -- confiture:allow(no-transaction-multiple-statements)\n\
                 CREATE INDEX CONCURRENTLY t_id ON t (id);\n{hostile}"
            ),
            &format!(
                "-- confiture:no-transaction\n\
                 -- confiture:allow(no-transaction-multiple-statements)\n\
                 DROP INDEX CONCURRENTLY t_id;\n{hostile}"
            ),
        );
    let run = project.run_on(&db, &["migrate", "up"]);
    assert_eq!(run.code, i32::from(exit::SUCCESS), "{}", run.dump());
    assert_eq!(
        db.ledger(),
        Some(vec!["001:t".to_string(), "002:nt".to_string()]),
        "{}",
        run.dump()
    );
    let run = project.run_on(&db, &["migrate", "down", "--steps", "1"]);
    assert_eq!(run.code, i32::from(exit::SUCCESS), "{}", run.dump());
    assert_eq!(
        db.ledger(),
        Some(vec!["001:t".to_string()]),
        "{}",
        run.dump()
    );
}

/// `status` read the INVALID indexes once for each interrupted line whose up file opens with an
/// index build: a ledger with many runs left part-way cost a message (a transaction) a line.
/// Now one read serves them all: twenty lines more cost no more messages than ten to spare
/// (an autovacuum worker's visit counts there too), and each line still says `interrupted`.
#[test]
fn status_reads_the_invalid_indexes_once_for_every_interrupted_line() {
    let short = transactions_of_status_with_interrupted("hrx_status_left2", 2);
    let long = transactions_of_status_with_interrupted("hrx_status_left22", 22);
    assert!(
        long - short <= 10,
        "20 interrupted lines more cost {} transactions more ({short} for 2, {long} for 22)",
        long - short
    );
}

/// The transactions of one `status` of a database with `interrupted` runs left part-way (their
/// markers written by hand), each of a no-transaction migration opening with a `CREATE INDEX
/// CONCURRENTLY`.
fn transactions_of_status_with_interrupted(prefix: &str, interrupted: usize) -> i64 {
    let db = TestDb::new(prefix);
    let project = Project::new();
    project
        .migration("001_t", "CREATE TABLE t (a int);\n", "DROP TABLE t;\n")
        .migration(
            "002_i",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_i ON t (a);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t_i;\n",
        );
    let mut markers = Vec::new();
    for k in 0..interrupted {
        let version = format!("{:03}", k + 3);
        project.migration(
            &format!("{version}_i{k}"),
            &format!("-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_i{k} ON t (a);\n"),
            &format!("-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t_i{k};\n"),
        );
        markers.push(format!("('{version}', 'i{k}', 'up', 'x', 1, 1)"));
    }
    // `002` makes the markers' table.
    project
        .run_on(&db, &["migrate", "up", "--target", "002"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute(&format!(
            "INSERT INTO tb_confiture_started (version, name, direction, checksum, statement, \
             statements) VALUES {}",
            markers.join(", ")
        ))
        .expect("the markers");
    let mut admin = confiture_tests::admin();
    let before = settled_transactions(&mut admin, &db.name);
    let status = project.run_on(&db, &["migrate", "status"]);
    status.code(exit::DIVERGED);
    assert_eq!(
        status.stdout.matches("! interrupted").count(),
        interrupted,
        "{}",
        status.dump()
    );
    settled_transactions(&mut admin, &db.name) - before
}

/// A timeout the environment file sets (`migration.lock_timeout`,
/// `migration.statement_timeout`), hit at run time, is raised where it was set: the help
/// names that file and the key, not the flag the run was not given.
#[test]
fn a_timeout_the_environment_file_sets_is_raised_in_that_file() {
    let db = TestDb::new("apply_file_timeouts");
    let mut holder = db.connect();
    holder
        .batch_execute("CREATE SCHEMA other; CREATE TABLE other.held (id int)")
        .unwrap();
    for (key, value, up) in [
        (
            "lock_timeout",
            "200ms",
            "ALTER TABLE other.held ADD COLUMN c int;\n",
        ),
        ("statement_timeout", "100ms", "SELECT pg_sleep(2);\n"),
    ] {
        let project = Project::new();
        project.write(
            "db/environments/dev.yaml",
            format!(
                "database_url: {}\nmigration:\n  {key}: {value}\n  lock_retries: 0\n",
                db.url()
            ),
        );
        project.migration("001_slow", up, "SELECT 1;\n");
        if key == "lock_timeout" {
            holder
                .batch_execute("BEGIN; LOCK TABLE other.held IN ACCESS EXCLUSIVE MODE")
                .unwrap();
        }
        // The table the lock is held on is there already: the run goes over it.
        let run = project.run(&["migrate", "up", "--env", "dev", "--allow-non-empty"]);
        if key == "lock_timeout" {
            holder.batch_execute("ROLLBACK").unwrap();
        }
        run.code(exit::MIGRATION_FAILED)
            .stderr_has(&format!("`migration.{key}` in db/environments/dev.yaml"));
        for flag in confiture::migrate::SQL_TIMEOUT_FLAGS {
            run.stderr_lacks(flag);
        }
    }
}
