//! Schema-per-tenant fleets from the command line: `migrate up|status --schemas-query SQL`
//! against 500 tenant schemas of one real database, one poisoned — each tenant's objects and
//! ledger in its own schema (checked from the catalogs), nothing in `public`, a re-run that
//! applies only what is missing, and the per-tenant migration lock.

use confiture::exit;
use confiture_test_support::reaper::DropRoleLater;
use confiture_tests::{Project, Run, TestDb};

/// Three migrations. The first sets the session's `search_path` to `public` (not `LOCAL`):
/// if the tenant's pinned `search_path` did not come back at the reset between migrations,
/// the second would create `tb_widget` in `public`. The second creates `tb_widget` at its line
/// 2 (the poison's conflict); the third finds it unqualified, through the pinned path.
fn tenant_project() -> Project {
    let project = Project::new();
    project
        .migration(
            "001_create_tb_account",
            "CREATE TABLE tb_account (pk int PRIMARY KEY);\nSET search_path = public;\n",
            "DROP TABLE tb_account;\n",
        )
        .migration(
            "002_create_tb_widget",
            "-- widgets of the tenant\nCREATE TABLE tb_widget (pk int PRIMARY KEY);\n",
            "DROP TABLE tb_widget;\n",
        )
        .migration(
            "003_index_tb_widget",
            "CREATE INDEX idx_tb_widget ON tb_widget (pk);\n",
            "DROP INDEX idx_tb_widget;\n",
        );
    project
}

const TENANTS: usize = 500;
const QUERY: &str =
    "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' ORDER BY nspname";

fn tenant(i: usize) -> String {
    format!("tenant_{i:03}")
}

fn fleet(project: &Project, db: &TestDb, args: &[&str]) -> Run {
    let url = db.url();
    let mut all = vec!["migrate", "--database-url", url.as_str()];
    all.extend_from_slice(args);
    Run::of(project.cli().args(&all))
}

/// Every relation outside the system schemas, as `schema.name`, sorted.
fn relations(db: &TestDb) -> Vec<String> {
    db.connect()
        .query(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
             ORDER BY 1",
            &[],
        )
        .expect("relations")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// What a complete tenant holds: its ledger (with confiture's indexes) and its three objects.
fn complete(schema: &str) -> Vec<String> {
    let mut names: Vec<String> = [
        "idx_tb_confiture_applied_at",
        "idx_tb_confiture_pk_confiture",
        "idx_tb_confiture_slug",
        "idx_tb_confiture_version",
        "idx_tb_widget",
        "tb_account",
        "tb_account_pkey",
        "tb_confiture",
        "tb_confiture_pk_confiture_key",
        "tb_confiture_pk_confiture_seq",
        "tb_confiture_pkey",
        "tb_confiture_slug_key",
        "tb_confiture_version_key",
        "tb_widget",
        "tb_widget_pkey",
    ]
    .iter()
    .map(|n| format!("{schema}.{n}"))
    .collect();
    names.sort();
    names
}

fn tenant_ledger(client: &mut postgres::Client, schema: &str) -> Vec<String> {
    ledger_column(client, schema, "version")
}

/// `expr` of each ledger row of `schema`, in order of application.
fn ledger_column(client: &mut postgres::Client, schema: &str, expr: &str) -> Vec<String> {
    client
        .query(
            &format!(
                "SELECT {expr} FROM \"{schema}\".tb_confiture ORDER BY applied_at, pk_confiture"
            ),
            &[],
        )
        .expect("tenant ledger")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn five_hundred_tenant_schemas_one_poisoned_keep_going_then_resume_only_the_poisoned_one() {
    let db = TestDb::new("fleetschemas");
    let project = tenant_project();
    let poisoned = 137;
    let mut setup: String = (0..TENANTS)
        .map(|i| format!("CREATE SCHEMA {};", tenant(i)))
        .collect();
    // The poison: a conflicting table of the tenant's own. And a schema not listed.
    setup.push_str(&format!(
        "CREATE TABLE {}.tb_widget (other text); CREATE SCHEMA bystander;",
        tenant(poisoned)
    ));
    db.connect()
        .batch_execute(&setup)
        .expect("create the tenants");

    let run = fleet(
        &project,
        &db,
        &[
            "up",
            "--allow-non-empty",
            "--schemas-query",
            QUERY,
            "--jobs",
            "8",
            "--keep-going",
            "--format",
            "json",
        ],
    );
    run.code(exit::MIGRATION_FAILED)
        .stderr_has(&format!("schema {}", tenant(poisoned)))
        .stderr_has("002_create_tb_widget.up.sql:2");
    let doc = run.json();
    let targets = doc["targets"].as_array().expect("targets[]");
    assert_eq!(targets.len(), TENANTS, "{}", doc["summary"]);
    assert_eq!(doc["summary"]["done"], TENANTS - 1, "{}", doc["summary"]);
    assert_eq!(doc["summary"]["failed"], 1);
    for (i, entry) in targets.iter().enumerate() {
        assert_eq!(
            entry["source"],
            format!("the schemas query, row {}", i + 1),
            "{entry}"
        );
        // `target` is the database as the README documents it (`user@host:port/db`), the
        // tenant in its own `schema` key: it was `.../db schema tenant_1`, as the table shows it.
        assert!(
            entry["target"]
                .as_str()
                .is_some_and(|t| t.ends_with(&format!("/{}", db.name))),
            "{entry}"
        );
        assert_eq!(entry["schema"], tenant(i), "{entry}");
        if i == poisoned {
            assert_eq!(entry["state"], "failed", "{entry}");
            assert_eq!(entry["applied"], serde_json::json!(["001"]));
            let error = &entry["error"];
            assert_eq!(error["version"], "002", "{error}");
            assert_eq!(error["line"], 2, "{error}");
            assert_eq!(error["sqlstate"], "42P07", "{error}");
            assert!(
                error["file"]
                    .as_str()
                    .is_some_and(|f| f.ends_with("db/migrations/002_create_tb_widget.up.sql")),
                "{error}"
            );
        } else {
            assert_eq!(entry["state"], "done", "{entry}");
            assert_eq!(entry["applied"], serde_json::json!(["001", "002", "003"]));
        }
    }

    // From the catalogs: each tenant's objects in its own schema only, nothing in `public` or
    // in the schema nobody listed; the poisoned tenant stopped before its failed migration.
    let found = relations(&db);
    let mut expected: Vec<String> = Vec::new();
    for i in 0..TENANTS {
        let schema = tenant(i);
        if i == poisoned {
            let mut partial: Vec<String> = complete(&schema)
                .into_iter()
                .filter(|n| !n.ends_with(".idx_tb_widget") && !n.ends_with(".tb_widget_pkey"))
                .collect();
            partial.sort();
            expected.extend(partial);
        } else {
            expected.extend(complete(&schema));
        }
    }
    expected.sort();
    assert_eq!(found.len(), expected.len());
    assert_eq!(found, expected);
    let mut client = db.connect();
    assert_eq!(tenant_ledger(&mut client, &tenant(poisoned)), ["001"]);
    assert_eq!(
        tenant_ledger(&mut client, &tenant(0)),
        ["001", "002", "003"]
    );

    // The poison removed, a re-run applies what is missing: only the poisoned tenant's.
    client
        .batch_execute(&format!("DROP TABLE {}.tb_widget", tenant(poisoned)))
        .expect("remove the poison");
    let run = fleet(
        &project,
        &db,
        &[
            "up",
            "--schemas-query",
            QUERY,
            "--jobs",
            "8",
            "--format",
            "json",
        ],
    );
    run.code(exit::SUCCESS);
    let doc = run.json();
    let applied: Vec<(usize, &serde_json::Value)> = doc["targets"]
        .as_array()
        .expect("targets[]")
        .iter()
        .map(|e| &e["applied"])
        .enumerate()
        .filter(|(_, a)| a.as_array().is_some_and(|a| !a.is_empty()))
        .collect();
    assert_eq!(
        applied,
        [(poisoned, &serde_json::json!(["002", "003"]))],
        "{}",
        doc["summary"]
    );
    let mut expected: Vec<String> = (0..TENANTS).flat_map(|i| complete(&tenant(i))).collect();
    expected.sort();
    assert_eq!(relations(&db), expected);

    fleet(&project, &db, &["status", "--schemas-query", QUERY])
        .code(exit::SUCCESS)
        .stdout_has(&format!("{TENANTS} targets: {TENANTS} done, 0 failed"));
}

/// A tenant run holds its database's lock shared and its own exclusively: a run on the whole
/// database (the database key held exclusively, as confiture and a non-tenant run take it)
/// keeps it out; another tenant's run does not.
#[test]
fn a_tenant_run_waits_for_a_whole_database_run_and_not_for_another_tenant() {
    let db = TestDb::new("fleetschemalock");
    let project = tenant_project();
    db.connect()
        .batch_execute("CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b;")
        .expect("create the tenants");
    let ns = confiture::db::LOCK_NAMESPACE;
    let database_key = confiture::db::lock_id(&db.name);
    let tenant_a = confiture::db::tenant_lock_id(&db.name, "tenant_a");
    let query_b = "SELECT 'tenant_b'";

    // Tenant a's run in progress (its keys held by another session): b's run is not kept out.
    let mut holder = db.connect();
    holder
        .batch_execute(&format!(
            "SELECT pg_advisory_lock_shared({ns}, {database_key}); \
             SELECT pg_advisory_lock({ns}, {tenant_a});"
        ))
        .expect("hold tenant a's lock");
    fleet(
        &project,
        &db,
        &["up", "--schemas-query", query_b, "--lock-wait", "2s"],
    )
    .code(exit::SUCCESS);
    // Tenant a's own run waits for it, and gives up; the wait was shown named by the tenant
    // (it was not shown at all) and by who holds its lock.
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .expect("pid")
        .get(0);
    fleet(
        &project,
        &db,
        &[
            "up",
            "--schemas-query",
            "SELECT 'tenant_a'",
            "--lock-wait",
            "1s",
        ],
    )
    .code(exit::LOCK_TIMEOUT)
    .stderr_has(&format!(
        "/{} schema tenant_a: waiting for the migration lock held by pid {pid}",
        db.name
    ))
    .stderr_has(&format!(
        "migration lock of tenant schema tenant_a on database \"{}\" not acquired within 1s",
        db.name
    ));
    // One tenant on its own (`--schema`): its lock is named, not the database's (which
    // other tenants' runs share).
    project
        .run_on(
            &db,
            &["migrate", "up", "--schema", "tenant_a", "--lock-wait", "1s"],
        )
        .code(exit::LOCK_TIMEOUT)
        .stderr_has(&format!(
            "migration lock of tenant schema tenant_a on database \"{}\" not acquired",
            db.name
        ))
        .stderr_lacks("migration lock on database");
    drop(holder);

    // A run on the whole database in progress: every tenant waits.
    let mut holder = db.connect();
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock({ns}, {database_key})"))
        .expect("hold the database's lock");
    fleet(
        &project,
        &db,
        &[
            "up",
            "--schemas-query",
            "SELECT 'tenant_a'",
            "--lock-wait",
            "1s",
        ],
    )
    .code(exit::LOCK_TIMEOUT)
    .stderr_has("migration lock of tenant schema tenant_a on database");
    drop(holder);
    fleet(
        &project,
        &db,
        &[
            "up",
            "--schemas-query",
            "SELECT 'tenant_a'",
            "--lock-wait",
            "2s",
        ],
    )
    .code(exit::SUCCESS);

    // Both released after the runs: the whole-database lock is free again.
    let free: bool = db
        .connect()
        .query_one(
            &format!("SELECT pg_try_advisory_lock({ns}, {database_key})"),
            &[],
        )
        .expect("try the lock")
        .get(0);
    assert!(free);
}

#[test]
fn bad_schema_names_are_named_by_row_and_nothing_runs() {
    let db = TestDb::new("fleetschemabad");
    let project = tenant_project();
    fleet(
        &project,
        &db,
        &[
            "up",
            "--schemas-query",
            "SELECT * FROM (VALUES ('ok_1'), ('bad name'), ('ok_1'), ('x\"; DROP')) v",
        ],
    )
    .code(exit::INVALID)
    .stderr_has("the schemas query, row 2")
    .stderr_has(
        "the schemas query, row 3: schema ok_1 is already listed at the schemas query, row 1",
    )
    .stderr_has("the schemas query, row 4");
    assert_eq!(relations(&db), Vec::<String>::new());
}

/// A tenant named with other capitals than its schema (`--schema Acme` for the schema `acme`
/// that `CREATE SCHEMA Acme` made: PostgreSQL folds unquoted names to lower case; a tenants
/// table's `Acme` in a schemas query) was "not initialised", and `up` created a second schema
/// `"Acme"` beside `acme` and ran every migration there, exit 0. Refused before connecting a
/// tenant session (exit 5), naming the schema that exists, for `--schema` and a query alike;
/// a schema of that exact name, once created, is a tenant as any other.
#[test]
fn a_tenant_named_with_other_capitals_than_its_existing_schema_is_refused() {
    let db = TestDb::new("fleetschemacase");
    let project = tenant_project();
    fleet(&project, &db, &["up", "--schema", "acme"]).code(exit::SUCCESS);
    let before = relations(&db);
    fleet(&project, &db, &["up", "--schema", "Acme"])
        .code(exit::INVALID)
        .stderr_has("--schema: schema Acme does not exist, but acme does");
    fleet(&project, &db, &["status", "--schema", "ACME"]).code(exit::INVALID);
    fleet(
        &project,
        &db,
        &["up", "--schemas-query", "SELECT * FROM (VALUES ('Acme')) v"],
    )
    .code(exit::INVALID)
    .stderr_has("the schemas query, row 1: schema Acme does not exist, but acme does");
    assert_eq!(relations(&db), before);
    // Created on purpose, it is a tenant of its own.
    db.connect()
        .batch_execute("CREATE SCHEMA \"Acme\"")
        .expect("create");
    fleet(&project, &db, &["up", "--schema", "Acme"]).code(exit::SUCCESS);
}

/// A schemas query returning two names that differ only in capitals (`acme` and `Acme`),
/// neither schema existing yet, made `up` create both schemas side by side and migrate each,
/// exit 0: the rule that refuses `Acme` beside an existing `acme` did not see two new ones.
/// The second row is refused (exit 5), nothing created; two schemas of those exact names that
/// both exist are two tenants.
#[test]
fn two_new_tenants_whose_names_differ_only_in_capitals_are_refused() {
    let db = TestDb::new("fleetschemacase2");
    let project = tenant_project();
    let query = "SELECT * FROM (VALUES ('acme'), ('ok_1'), ('Acme')) v";
    fleet(&project, &db, &["up", "--schemas-query", query])
        .code(exit::INVALID)
        .stderr_has(
            "the schemas query, row 3: schema Acme and acme (the schemas query, row 1) differ \
             only in capitals",
        );
    assert_eq!(relations(&db), Vec::<String>::new());
    // Both there on purpose: two tenants.
    db.connect()
        .batch_execute("CREATE SCHEMA acme; CREATE SCHEMA \"Acme\"")
        .expect("create");
    fleet(&project, &db, &["up", "--schemas-query", query]).code(exit::SUCCESS);
}

#[test]
fn down_rolls_back_every_tenant_and_refuses_a_bad_request_once_before_connecting() {
    let db = TestDb::new("fleetschemadown");
    let project = tenant_project();
    db.connect()
        .batch_execute("CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b; CREATE SCHEMA tenant_c;")
        .expect("create the tenants");
    let query = "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' ORDER BY 1";
    // A dry run of `up` shows each tenant's plan (it used to say "up to date").
    fleet(
        &project,
        &db,
        &["up", "--schemas-query", query, "--dry-run"],
    )
    .code(exit::SUCCESS)
    .stdout_has("would apply 3");
    assert_eq!(relations(&db), Vec::<String>::new());
    fleet(&project, &db, &["up", "--schemas-query", query]).code(exit::SUCCESS);
    let schemas = ["tenant_a", "tenant_b", "tenant_c"];
    let before = relations(&db);

    // A dry run says what it would do, and does nothing.
    fleet(
        &project,
        &db,
        &["down", "--schemas-query", query, "--dry-run"],
    )
    .code(exit::SUCCESS)
    .stdout_has("would roll back 1")
    .stdout_has("3 targets: 3 done, 0 failed");
    assert_eq!(relations(&db), before);

    // `--target 0` without `--yes`: refused once, as a whole, before any tenant is reached.
    let run = fleet(
        &project,
        &db,
        &["down", "--schemas-query", query, "--target", "0"],
    );
    run.code(exit::USAGE)
        .stderr_has("--target 0 rolls back every applied migration");
    assert!(!run.stdout.contains("tenant_a"), "{}", run.stdout);
    assert_eq!(relations(&db), before);

    let run = fleet(
        &project,
        &db,
        &[
            "down",
            "--schemas-query",
            query,
            "--steps",
            "1",
            "--format",
            "json",
        ],
    );
    run.code(exit::SUCCESS);
    let doc = run.json();
    assert_eq!(doc["command"], "down");
    for entry in doc["targets"].as_array().expect("targets[]") {
        assert_eq!(entry["rolled_back"], serde_json::json!(["003"]), "{entry}");
    }
    let mut client = db.connect();
    for schema in schemas {
        assert_eq!(tenant_ledger(&mut client, schema), ["001", "002"]);
    }
    let mut expected: Vec<String> = schemas
        .iter()
        .flat_map(|s| complete(s))
        .filter(|n| !n.ends_with(".idx_tb_widget"))
        .collect();
    expected.sort();
    assert_eq!(relations(&db), expected);
}

/// `--schemas-query`'s bad rows came in two rounds (NULL and blank rows first; bad names,
/// repeated names only once those were fixed), and a name padded with spaces was refused
/// there while `--targets-query` (like a target file) took it trimmed. Both queries read their
/// rows by one rule: whitespace around a value dropped, and every bad row — NULL, blank, bad
/// name, repeated — named in one error before anything runs.
#[test]
fn every_bad_row_of_either_query_is_named_at_once_and_padding_is_dropped_alike() {
    let db = TestDb::new("fleetrows");
    let project = tenant_project();
    let schemas = "SELECT * FROM (VALUES ('tenant_a'), (NULL), ('bad name'), ('  '), \
                   (' tenant_b '), ('tenant_a')) v(s)";
    let run = fleet(&project, &db, &["status", "--schemas-query", schemas]);
    run.code(exit::INVALID)
        .stderr_has("4 bad targets in the schemas query")
        .stderr_has("the schemas query, row 2 is NULL")
        .stderr_has("the schemas query, row 3: \"bad name\" is not a tenant schema name")
        .stderr_has("the schemas query, row 4 is \"  \", not a target")
        .stderr_has("the schemas query, row 6: schema tenant_a is already listed")
        .stderr_lacks("row 5");

    let other = TestDb::new("fleetrows_t");
    let targets = format!(
        "SELECT * FROM (VALUES ('{0}'), (NULL), ('bad name'), ('  '), (' {1} '), ('{0}')) v(s)",
        db.name, other.name
    );
    let run = fleet(&project, &db, &["status", "--targets-query", &targets]);
    run.code(exit::INVALID)
        .stderr_has("4 bad targets in the targets query")
        .stderr_has("the targets query, row 2 is NULL")
        .stderr_has("the targets query, row 3: \"bad name\" is not a database name")
        .stderr_has("the targets query, row 4 is \"  \", not a target")
        .stderr_has("the targets query, row 6:")
        .stderr_lacks("row 5");
    assert_eq!(relations(&db), Vec::<String>::new(), "nothing ran");

    // The padded rows alone: each reaches its tenant, named without the padding.
    let run = fleet(
        &project,
        &db,
        &[
            "up",
            "--schemas-query",
            "SELECT ' tenant_b ' UNION ALL SELECT E'tenant_c\\t'",
        ],
    );
    run.code(exit::SUCCESS)
        .stdout_has("schema tenant_b")
        .stdout_has("schema tenant_c");
    assert!(db.has_relation("tenant_b.tb_widget") && db.has_relation("tenant_c.tb_widget"));
    let padded = format!("SELECT '  {}  '", other.name);
    fleet(&project, &db, &["up", "--targets-query", &padded])
        .code(exit::SUCCESS)
        .stdout_has(&format!("/{}", other.name));
    assert!(other.has_relation("tb_widget"));
}

/// The suggested command `` `cargo confiture migrate <sub> ...` `` in `text` (the first one),
/// as the arguments after `cargo confiture`, `<URL>` replaced by `url`: what a user pastes.
fn suggested(text: &str, sub: &str, url: &str) -> Vec<String> {
    let opening = format!("`cargo confiture migrate {sub}");
    let start = text
        .find(&opening)
        .unwrap_or_else(|| panic!("no {opening}` in:\n{text}"))
        + 1;
    let len = text[start..].find('`').expect("the closing backtick");
    text[start..start + len]
        .split_whitespace()
        .skip(2)
        .map(|w| if w == "<URL>" { url } else { w }.to_string())
        .collect()
}

/// Every ledger row of `schema` as `version:checksum`, in order.
fn ledger_rows(db: &TestDb, schema: &str) -> Vec<String> {
    ledger_column(&mut db.connect(), schema, "version || ':' || checksum")
}

/// `--schema NAME`: `status`, `up`, `down` and `reinit` act on that tenant of the selected
/// database exactly as a fleet's tenant target does (its ledger, objects and lock), and no
/// other tenant's objects or ledger rows, nor `public`, change. There was no way to address one
/// tenant: `reinit` and `baseline` only acted on the database's public ledger.
#[test]
fn one_tenant_schema_on_its_own_touches_only_that_tenant() {
    let db = TestDb::new("tenantone");
    let project = tenant_project();
    db.connect()
        .batch_execute("CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b;")
        .expect("create the tenants");
    fleet(
        &project,
        &db,
        &["up", "--schemas-query", "SELECT 'tenant_b'"],
    )
    .code(exit::SUCCESS);
    let b_objects = relations(&db);
    assert_eq!(b_objects, complete("tenant_b"));
    let b_ledger = ledger_rows(&db, "tenant_b");
    let untouched = |db: &TestDb| {
        let others: Vec<String> = relations(db)
            .into_iter()
            .filter(|r| !r.starts_with("tenant_a."))
            .collect();
        assert_eq!(others, b_objects, "only tenant_a's objects change");
        assert_eq!(ledger_rows(db, "tenant_b"), b_ledger, "tenant_b's ledger");
        assert!(!db.has_relation("public.tb_confiture"), "no public ledger");
    };

    // Status reads tenant_a's ledger (none yet) and writes nothing.
    let before = db.catalog_snapshot();
    fleet(&project, &db, &["status", "--schema", "tenant_a"])
        .code(exit::NOT_INITIALISED)
        .stdout_has("tracking table tenant_a.tb_confiture not initialised")
        .stderr_has(&format!("/{} schema tenant_a", db.name))
        .stderr_has("--schema tenant_a`");
    assert_eq!(db.catalog_snapshot(), before);

    fleet(&project, &db, &["up", "--schema", "tenant_a"]).code(exit::SUCCESS);
    let mut both = [complete("tenant_a"), complete("tenant_b")].concat();
    both.sort();
    assert_eq!(relations(&db), both);
    assert_eq!(
        tenant_ledger(&mut db.connect(), "tenant_a"),
        ["001", "002", "003"]
    );
    untouched(&db);
    let run = fleet(
        &project,
        &db,
        &["status", "--schema", "tenant_a", "--format", "json"],
    );
    run.code(exit::SUCCESS);
    assert_eq!(run.json()["tracking_table"], "tenant_a.tb_confiture");

    // An edited migration: tenant_a's status says so, its help names tenant_a, and that
    // `reinit` rewrites tenant_a's row alone.
    project.write(
        "db/migrations/003_index_tb_widget.up.sql",
        "CREATE INDEX idx_tb_widget ON tb_widget (pk); -- edited\n",
    );
    let a_before = ledger_rows(&db, "tenant_a");
    let run = fleet(&project, &db, &["status", "--schema", "tenant_a"]);
    run.code(exit::DIVERGED);
    let reinit = suggested(&run.stderr, "reinit", &db.url());
    assert!(
        reinit.ends_with(&["--schema".to_string(), "tenant_a".to_string()]),
        "{reinit:?}"
    );
    Run::of(project.cli().args(&reinit)).code(exit::SUCCESS);
    let a_after = ledger_rows(&db, "tenant_a");
    assert_eq!(a_after[..2], a_before[..2]);
    assert_ne!(a_after[2], a_before[2], "003's checksum accepted");
    untouched(&db);
    fleet(&project, &db, &["status", "--schema", "tenant_a"]).code(exit::SUCCESS);

    fleet(&project, &db, &["down", "--schema", "tenant_a"]).code(exit::SUCCESS);
    assert_eq!(tenant_ledger(&mut db.connect(), "tenant_a"), ["001", "002"]);
    assert!(!db.has_relation("tenant_a.idx_tb_widget"));
    untouched(&db);
    fleet(
        &project,
        &db,
        &["baseline", "--schema", "tenant_a", "--through", "3"],
    )
    .code(exit::SUCCESS);
    assert_eq!(
        tenant_ledger(&mut db.connect(), "tenant_a"),
        ["001", "002", "003"]
    );
    assert!(
        !db.has_relation("tenant_a.idx_tb_widget"),
        "recorded, not run"
    );
    untouched(&db);
    // `verify` replays the migrations as the tenant's, on a scratch database.
    fleet(&project, &db, &["verify", "--schema", "tenant_a"])
        .code(exit::SUCCESS)
        .stderr_has("schema tenant_a");
    untouched(&db);

    // A bad name gets the fleet's error; a list, or `drift`, is refused before connecting.
    fleet(&project, &db, &["status", "--schema", "bad name"])
        .code(exit::INVALID)
        .stderr_has("--schema: \"bad name\" is not a tenant schema name");
    fleet(&project, &db, &["up", "--schema", "pg_catalog"])
        .code(exit::INVALID)
        .stderr_has("pg_catalog is a system schema");
    for list in [
        &["--schemas-query", "SELECT 'tenant_b'"][..],
        &["--targets", "tenants.txt"],
        &["--jobs", "2"],
    ] {
        let mut args = vec!["up", "--schema", "tenant_a"];
        args.extend_from_slice(list);
        fleet(&project, &db, &args)
            .code(exit::USAGE)
            .stderr_has(&format!(
                "--schema tenant_a names one tenant schema, and {}",
                list[0]
            ))
            .stderr_lacks("using ");
    }
    fleet(&project, &db, &["drift", "--schema", "tenant_a"])
        .code(exit::USAGE)
        .stderr_has("drift of tenant schemas is not supported (schema tenant_a)")
        .stderr_lacks("using ");
    untouched(&db);
}

/// A tenant whose history diverged in a `--schemas-query` fleet suggested
/// `migrate reinit --env dev` (and in a fleet run with a URL, `--database-url <URL>`): pasted,
/// it rewrote the database's public ledger, not the tenant's. Its help now names the tenant,
/// in the table's error lines and in the JSON document, and pasted it repairs that tenant alone.
#[test]
fn a_diverged_tenants_suggested_command_pasted_repairs_that_tenant_alone() {
    let db = TestDb::new("tenanthelp");
    let project = tenant_project();
    project.write(
        "db/environments/dev.yaml",
        format!("database_url: {}\n", db.url()),
    );
    db.connect()
        .batch_execute("CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b; CREATE SCHEMA tenant_c;")
        .expect("create the tenants");
    let query = "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' ORDER BY 1";
    let run_dev = |args: &[&str]| {
        let mut all = vec!["migrate", "--env", "dev"];
        all.extend_from_slice(args);
        Run::of(project.cli().args(&all))
    };
    run_dev(&["up", "--schemas-query", query]).code(exit::SUCCESS);
    let objects = relations(&db);
    let ledgers = |db: &TestDb| -> Vec<Vec<String>> {
        ["tenant_a", "tenant_b", "tenant_c"]
            .iter()
            .map(|s| ledger_rows(db, s))
            .collect()
    };
    let good = ledgers(&db);
    let tamper = || {
        db.connect()
            .batch_execute(
                "UPDATE tenant_b.tb_confiture SET checksum = 'edited' WHERE version = '002'",
            )
            .expect("tamper with tenant_b's ledger");
    };

    for json in [false, true] {
        tamper();
        let tampered = ledgers(&db);
        let mut args = vec!["up", "--schemas-query", query, "--keep-going"];
        if json {
            args.extend(["--format", "json"]);
        }
        let run = run_dev(&args);
        run.code(exit::DIVERGED);
        let help = if json {
            let doc = run.json();
            let entry = &doc["targets"][1];
            assert_eq!(entry["schema"], "tenant_b", "{entry}");
            assert_eq!(entry["state"], "failed", "{entry}");
            assert!(doc["targets"][0].get("schema").is_some());
            entry["error"]["help"].as_str().expect("help").to_string()
        } else {
            run.stderr.clone()
        };
        let reinit = suggested(&help, "reinit", "");
        assert_eq!(
            reinit,
            ["migrate", "reinit", "--env", "dev", "--schema", "tenant_b"],
            "{help}"
        );
        // The commands that take a list keep the fleet's.
        if let Some(at) = help.find("`cargo confiture migrate status") {
            assert!(help[at..].contains("--schemas-query"), "{help}");
        }
        Run::of(project.cli().args(&reinit)).code(exit::SUCCESS);
        let repaired = ledgers(&db);
        assert_eq!(repaired[0], tampered[0], "tenant_a untouched");
        assert_eq!(repaired[2], tampered[2], "tenant_c untouched");
        assert_eq!(repaired, good, "tenant_b's row has its checksum back");
        assert_eq!(relations(&db), objects, "no object made or dropped");
        assert!(!db.has_relation("public.tb_confiture"), "no public ledger");
        run_dev(&["status", "--schemas-query", query]).code(exit::SUCCESS);
    }

    // `--schema` wins over the environment file's `fleet:` list: the command runs on the one
    // tenant named.
    project.write(
        "db/environments/prod.yaml",
        format!(
            "database_url: {}\nfleet:\n  schemas_query: {query:?}\n",
            db.url()
        ),
    );
    let prod = |args: &[&str]| {
        let mut all = vec!["migrate", "--env", "prod"];
        all.extend_from_slice(args);
        Run::of(project.cli().args(&all))
    };
    prod(&["status"])
        .code(exit::SUCCESS)
        .stdout_has("3 targets: 3 done");
    prod(&["status", "--schema", "tenant_b"])
        .code(exit::SUCCESS)
        .stdout_has("3 applied, 0 pending")
        .stdout_lacks("targets");
    prod(&["down", "--schema", "tenant_b"]).code(exit::SUCCESS);
    let after = ledgers(&db);
    assert_eq!(after[1], good[1][..2]);
    assert_eq!([&after[0], &after[2]], [&good[0], &good[2]]);
}

/// A fleet `down --steps N` where one tenant has fewer than N applied: its refusal said
/// "pass --steps 1 (or --target 0 --yes)", one tenant's count, which with the fleet's list
/// would roll back every target again. The suggested command now addresses that tenant alone,
/// in text and JSON, and pasted it rolls back that tenant only.
#[test]
fn a_fleet_down_beyond_one_tenants_migrations_suggests_a_command_for_that_tenant() {
    let db = TestDb::new("tenantdown");
    let project = tenant_project();
    db.connect()
        .batch_execute("CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b; CREATE SCHEMA tenant_c;")
        .expect("create the tenants");
    let query = "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' ORDER BY 1";
    fleet(&project, &db, &["up", "--schemas-query", query]).code(exit::SUCCESS);
    let only = |schema: &str| format!("SELECT '{schema}'");
    fleet(
        &project,
        &db,
        &["down", "--schemas-query", &only("tenant_b"), "--steps", "2"],
    )
    .code(exit::SUCCESS);

    // `down --steps 2` on every tenant, going on past the one with fewer.
    let down_two = |more: &[&str]| {
        let mut args = vec![
            "down",
            "--schemas-query",
            query,
            "--steps",
            "2",
            "--keep-going",
        ];
        args.extend_from_slice(more);
        fleet(&project, &db, &args)
    };
    let run = down_two(&[]);
    run.code(exit::USAGE)
        .stderr_has("--steps 2 is more than the 1 applied migration:");
    let mut client = db.connect();
    assert_eq!(tenant_ledger(&mut client, "tenant_a"), ["001"]);
    assert_eq!(tenant_ledger(&mut client, "tenant_b"), ["001"]);
    assert_eq!(tenant_ledger(&mut client, "tenant_c"), ["001"]);
    let url = db.url();
    let down = suggested(&run.stderr, "down", &url);
    assert_eq!(
        down,
        [
            "migrate",
            "down",
            "--target",
            "0",
            "--yes",
            "--database-url",
            url.as_str(),
            "--schema",
            "tenant_b"
        ]
    );
    // The `--yes` form first (what the refusal asks for), then the `--steps` one.
    let both = suggested(
        &run.stderr[run.stderr.find("--yes").expect("the first")..],
        "down",
        &url,
    );
    assert_eq!(both[2..4], ["--steps", "1"], "{both:?}");
    assert!(both.ends_with(&["--schema".to_string(), "tenant_b".to_string()]));

    // The same in JSON: the tenant's entry carries the command for it.
    fleet(&project, &db, &["up", "--schemas-query", &only("tenant_a")]).code(exit::SUCCESS);
    let run = down_two(&["--format", "json"]);
    run.code(exit::USAGE);
    let doc = run.json();
    assert_eq!(doc["targets"][0]["state"], "done", "{doc}");
    let help = doc["targets"][1]["error"]["help"].as_str().expect("help");
    assert_eq!(suggested(help, "down", &url), down, "{help}");
    assert!(!help.contains("--schemas-query"), "{help}");
    assert_eq!(tenant_ledger(&mut client, "tenant_a"), ["001"]);

    // Pasted, it rolls back tenant_b's one migration and nothing of the others.
    let others = relations(&db)
        .into_iter()
        .filter(|r| !r.starts_with("tenant_b."))
        .collect::<Vec<_>>();
    Run::of(project.cli().args(&down)).code(exit::SUCCESS);
    assert_eq!(tenant_ledger(&mut client, "tenant_b"), Vec::<String>::new());
    assert!(!db.has_relation("tenant_b.tb_account"));
    assert_eq!(tenant_ledger(&mut client, "tenant_a"), ["001"]);
    assert_eq!(tenant_ledger(&mut client, "tenant_c"), ["001"]);
    let now: Vec<String> = relations(&db)
        .into_iter()
        .filter(|r| !r.starts_with("tenant_b."))
        .collect();
    assert_eq!(now, others);
}

/// A list query on an environment database that does not exist was refused with the
/// one-database help "create it (`cargo confiture migrate up --create-database --database-url
/// <URL>` does ...)" — also when `--create-database` was given: pasted, it created the database
/// and migrated its `public` schema with a whole-database ledger (the schemas query's
/// tenants), or migrated the database that is supposed to list the targets (the targets
/// query). The help is the list's: `createdb` for the tenants' database, the database name for
/// a targets query; never `migrate up`. Nothing is created.
#[test]
fn a_list_query_on_a_missing_database_never_suggests_migrating_that_database() {
    let db = TestDb::unborn("fleet_missing_env");
    let project = tenant_project();
    for (list, help) in [
        ("--schemas-query", "createdb"),
        ("--targets-query", "the one that lists the targets"),
    ] {
        for args in [
            &["up", "--create-database"][..],
            &["up"],
            &["status"],
            &["up", "--create-database", "--dry-run"],
        ] {
            let mut args = args.to_vec();
            args.extend([list, "SELECT 'tenant_a'"]);
            let run = fleet(&project, &db, &args);
            run.code(exit::CONNECTION)
                .stderr_has(&format!("database \"{}\" does not exist", db.name))
                .stderr_has(help)
                .stderr_lacks("migrate up");
            args.extend(["--format", "json"]);
            let run = fleet(&project, &db, &args);
            run.code(exit::CONNECTION);
            let doc = run.json();
            let help_text = doc["errors"][0]["help"].as_str().unwrap_or_default();
            assert!(
                help_text.contains(help) && !help_text.contains("migrate up"),
                "{list} {args:?}: {}",
                run.dump()
            );
            assert!(!db.exists(), "{list} {args:?}: {}", run.dump());
        }
    }
}

/// A `--schema` run's connection errors point at where the host, port and database name are
/// (`--database-url`, the environment file), never at `--schema`, which holds only the schema.
#[test]
fn a_tenant_runs_connection_help_names_where_the_connection_is_set() {
    let project = tenant_project();
    let refused = "postgresql://postgres@127.0.0.1:1/x";
    let run = Run::of(project.cli().args([
        "migrate",
        "down",
        "--schema",
        "tenant_a",
        "--database-url",
        refused,
    ]));
    run.code(exit::CONNECTION)
        .stderr_has("check them in --database-url (schema tenant_a, given by --schema)")
        .stderr_lacks("in --schema");
    let missing = confiture_test_support::server().url("cft_no_such_database_for_schema");
    let run = Run::of(project.cli().args([
        "migrate",
        "status",
        "--schema",
        "tenant_a",
        "--database-url",
        &missing,
    ]));
    run.code(exit::CONNECTION)
        .stderr_has("fix the database name in --database-url (schema tenant_a, given by --schema)")
        .stderr_lacks("in --schema");
    // The same from an environment file: the file is named.
    project.write(
        "db/environments/local.yaml",
        format!("name: local\ndatabase_url: {refused}\n"),
    );
    let run = Run::of(
        project
            .cli()
            .args(["migrate", "status", "--schema", "tenant_a"]),
    );
    run.code(exit::CONNECTION)
        .stderr_has("check them in environment file db/environments/local.yaml (schema tenant_a, given by --schema)");
}

/// A single `--schema` run's JSON names its tenant schema, as a fleet's `targets` entries do:
/// `schema` in the document and in every error object (`null` for a whole database), whether
/// the run succeeded, a migration failed, the lock or the connection failed.
#[test]
fn a_single_tenant_runs_json_names_its_schema_in_the_document_and_every_error() {
    let db = TestDb::new("schemajson");
    let project = tenant_project();
    db.connect()
        .batch_execute("CREATE SCHEMA tenant_a; CREATE TABLE tenant_a.tb_widget (pk int);")
        .expect("poison tenant a");
    let json = |args: &[&str]| {
        let run = project.run_on(&db, &[args, &["--format", "json"]].concat());
        (run.json(), run)
    };
    // Success (status).
    let (doc, run) = json(&["migrate", "status", "--schema", "tenant_b"]);
    assert_eq!(doc["schema"], "tenant_b", "{}", run.dump());
    // A migration that fails: the report and its error.
    let (doc, run) = json(&["migrate", "up", "--allow-non-empty", "--schema", "tenant_a"]);
    run.code(exit::MIGRATION_FAILED);
    assert_eq!(doc["schema"], "tenant_a", "{}", run.dump());
    assert_eq!(doc["errors"][0]["schema"], "tenant_a", "{}", run.dump());
    // The lock held by another run of that tenant.
    let ns = confiture::db::LOCK_NAMESPACE;
    let database_key = confiture::db::lock_id(&db.name);
    let key = confiture::db::tenant_lock_id(&db.name, "tenant_b");
    let mut holder = db.connect();
    holder
        .batch_execute(&format!(
            "SELECT pg_advisory_lock_shared({ns}, {database_key}); \
             SELECT pg_advisory_lock({ns}, {key});"
        ))
        .expect("hold tenant b's lock");
    let (doc, run) = json(&["migrate", "up", "--schema", "tenant_b", "--lock-wait", "0"]);
    run.code(exit::LOCK_TIMEOUT);
    assert_eq!(doc["schema"], "tenant_b", "{}", run.dump());
    assert_eq!(doc["errors"][0]["schema"], "tenant_b", "{}", run.dump());
    drop(holder);
    // A connection that fails: the error document.
    let run = Run::of(project.cli().args([
        "migrate",
        "down",
        "--schema",
        "tenant_b",
        "--database-url",
        "postgresql://postgres@127.0.0.1:1/x",
        "--format",
        "json",
    ]));
    run.code(exit::CONNECTION);
    let doc = run.json();
    assert_eq!(doc["schema"], "tenant_b", "{}", run.dump());
    assert_eq!(doc["errors"][0]["schema"], "tenant_b", "{}", run.dump());
    // A whole database: the key is there, null.
    let (doc, run) = json(&["migrate", "status"]);
    assert!(doc["schema"].is_null(), "{}", run.dump());
    assert!(
        doc.as_object().unwrap().contains_key("schema"),
        "{}",
        run.dump()
    );
}

/// A tenant schema that holds the whole database's tracking table (`tracking_table:
/// ops.tb_confiture` and a tenant `ops`) shared that ledger: the tenant showed "up to date"
/// with none of its tables, and `down --schema ops` rolled the database's migrations back in
/// the tenant's schema. Refused (exit 5) before anything runs, by `--schema` and by a list.
#[test]
fn a_tenant_schema_holding_the_databases_own_ledger_is_refused() {
    let db = TestDb::new("tenant_ledger_clash");
    let project = tenant_project();
    project.write(
        "db/environments/local.yaml",
        format!(
            "database_url: {}\nmigration:\n  tracking_table: ops.tb_confiture\n",
            db.url()
        ),
    );
    db.connect()
        .batch_execute("CREATE SCHEMA ops")
        .expect("create ops");
    Run::of(project.cli().args(["migrate", "up", "-q"])).code(exit::SUCCESS);
    let before = relations(&db);
    for args in [
        &["migrate", "status", "--schema", "ops"][..],
        &["migrate", "up", "--schema", "ops"],
        &["migrate", "down", "--schema", "ops"],
        &["migrate", "up", "--schemas-query", "SELECT 'ops'"],
    ] {
        let run = Run::of(project.cli().args(args));
        run.code(exit::INVALID)
            .stderr_has("ops holds the whole database's tracking table ops.tb_confiture");
    }
    assert_eq!(relations(&db), before);
}

/// The same clash with the tracking table left unqualified (the default `tb_confiture`): it is
/// the table the database's `search_path` finds, else where it would create it — most often
/// `public.tb_confiture`, so a tenant `public` (a schemas query that forgot to leave it out)
/// shared the whole database's ledger. Refused as the qualified clash is (exit 5), by the schema
/// the server resolves the name to, before anything runs.
#[test]
fn a_tenant_schema_holding_the_databases_unqualified_ledger_is_refused() {
    let db = TestDb::new("tenant_ledger_resolved");
    let project = tenant_project();
    project.write(
        "db/environments/local.yaml",
        format!("database_url: {}\n", db.url()),
    );
    // By a list (`--schemas-query`) and by `--schema NAME` alone, which only refused a
    // qualified tracking table: one rule, the server's answer.
    // `holds`: the ledger exists; else the tenant "would hold" it, where `up` would create it
    // (it said "holds" of a ledger that did not exist; hostile run htl, B), and the help never
    // changes the database's search_path, every application session's.
    let refused = |command: &str, tenant: &str, holds: &str, ledger: &str| {
        let query = format!("SELECT '{tenant}'");
        for how in [["--schemas-query", &query], ["--schema", tenant]] {
            let before = relations(&db);
            let run = Run::of(project.cli().args(["migrate", command]).args(how));
            run.code(exit::INVALID)
                .stderr_has(&format!(
                    "{tenant} {holds} the whole database's tracking table {ledger}"
                ))
                .stderr_lacks("ALTER DATABASE");
            if holds == "would hold" {
                run.stderr_has("it does not exist yet")
                    .stderr_has("`migration.tracking_table: ops.tb_confiture`")
                    .stderr_lacks("off the whole database's search_path");
            }
            assert_eq!(relations(&db), before, "{}", run.dump());
        }
    };
    // No ledger yet: where `CREATE TABLE` would put it.
    for command in ["status", "up", "down", "verify"] {
        refused(command, "public", "would hold", "public.tb_confiture");
    }
    db.connect()
        .batch_execute(&format!(
            "CREATE SCHEMA ops; ALTER DATABASE \"{}\" SET search_path = ops, public",
            db.name
        ))
        .expect("a search_path starting elsewhere");
    refused("up", "ops", "would hold", "ops.tb_confiture");
    // A ledger that exists: where the search_path finds it, though new tables would go to
    // `ops`; `ops` is then a tenant like any other.
    db.connect()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET search_path = public",
            db.name
        ))
        .expect("search_path public");
    Run::of(project.cli().args(["migrate", "up", "-q"])).code(exit::SUCCESS);
    db.connect()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET search_path = ops, public",
            db.name
        ))
        .expect("search_path ops, public");
    refused("up", "public", "holds", "public.tb_confiture");
    // `ops` holds no ledger the database's search_path finds, but the search_path names it:
    // refused too (`a_tenant_named_by_the_databases_search_path_is_refused`).
    let run = Run::of(project.cli().args(["migrate", "up", "--schema", "ops"]));
    run.code(exit::INVALID)
        .stderr_has("ops is on the whole database's search_path (`ops, public`)");
    assert!(!relations(&db).contains(&"ops.tb_confiture".to_string()));
}

/// The schemas a whole-database session resolves names into, `"$user"` expanded, whether
/// they exist yet or not. A tenant schema named like the login role (default search_path
/// `"$user", public`), or like a schema of a database's or a role's `search_path` not created
/// yet (the database's, the connection's), was accepted and created: from then on the whole database's unqualified names — its
/// ledger `tb_confiture`, its migrations' tables — resolved into the tenant's schema, and a
/// whole-database `down` dropped the tenant's column and deleted the tenant's ledger row.
/// Refused (exit 5) before anything is created, by `--schema`, a schemas query and an
/// environment file's `fleet.schemas_query`, the tracking table qualified or not, on a
/// database that exists and on one `--create-database` is about to create.
#[test]
fn a_tenant_named_by_the_databases_search_path_is_refused() {
    let db = TestDb::new("tenant_search_path");
    let user: String = db
        .connect()
        .query_one("SELECT current_user::text", &[])
        .expect("current_user")
        .get(0);
    let project = tenant_project();
    let schemas = || -> Vec<String> {
        db.connect()
            .query(
                "SELECT nspname::text FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' \
                 AND nspname <> 'information_schema' ORDER BY 1",
                &[],
            )
            .expect("schemas")
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let env = |tracking: &str, fleet: &str| {
        project.write(
            "db/environments/local.yaml",
            format!("database_url: {}\n{tracking}{fleet}", db.url()),
        );
    };
    let refused = |tenant: &str, shown: &str, fleet: bool| {
        let query = format!("SELECT '{tenant}'");
        let mut ways = vec![
            vec!["--schema", tenant],
            vec!["--schemas-query", query.as_str()],
        ];
        if fleet {
            ways.push(vec![]);
        }
        for how in ways {
            for command in ["up", "status", "down"] {
                let (before, schemas_before) = (relations(&db), schemas());
                let run = Run::of(project.cli().args(["migrate", command]).args(&how));
                run.code(exit::INVALID).stderr_has(&format!(
                    "{tenant} is on the whole database's search_path (`{shown}`"
                ));
                assert_eq!(relations(&db), before, "{}", run.dump());
                assert_eq!(schemas(), schemas_before, "{}", run.dump());
            }
        }
    };
    let qualified = "migration:\n  tracking_table: ops.tb_confiture\n";
    db.connect()
        .batch_execute("CREATE SCHEMA ops")
        .expect("ops");
    for tracking in ["", qualified] {
        env(tracking, "");
        Run::of(project.cli().args(["migrate", "up", "-q"])).code(exit::SUCCESS);
        // The default search_path, `"$user", public`: the role's name.
        refused(&user, "\"$user\", public", false);
        env(
            tracking,
            &format!("fleet:\n  schemas_query: SELECT '{user}'\n"),
        );
        refused(&user, "\"$user\", public", true);
        // A database's search_path naming a schema not created yet.
        db.connect()
            .batch_execute(&format!(
                "ALTER DATABASE \"{}\" SET search_path = app, public",
                db.name
            ))
            .expect("database search_path");
        env(tracking, "");
        refused("app", "app, public", false);
        // The connection's own, over the database's.
        project.write(
            "db/environments/local.yaml",
            format!(
                "database_url: {}?options=-c%20search_path%3D%22App2%22,public\n{tracking}",
                db.url()
            ),
        );
        refused("App2", "\"App2\",public", false);
        env(tracking, "");
        // Any other schema is a tenant as before.
        Run::of(
            project
                .cli()
                .args(["migrate", "up", "-q", "--schema", "tenant_ok"]),
        )
        .code(exit::SUCCESS);
        db.connect()
            .batch_execute(&format!(
                "ALTER DATABASE \"{0}\" RESET search_path; \
                 DROP SCHEMA tenant_ok CASCADE; DROP TABLE IF EXISTS public.tb_confiture, \
                 ops.tb_confiture, public.tb_account, public.tb_widget CASCADE",
                db.name
            ))
            .expect("reset");
    }
}

/// The tenant refused for being on the whole database's `search_path` blamed the database's
/// setting (and its help pointed at `migration.tracking_table`) whatever set it; a path that
/// puts the tenant first from the URL's `options=-csearch_path=...` was "the database's". The
/// URL's options of the selection used get the change that takes the schema off the path
/// there; a setting every session gets (`ALTER DATABASE`, `ALTER ROLE`, `ALTER ROLE ... IN
/// DATABASE`, the server's default) is never offered (hcx: the refusal of a schema the path
/// names offered it, while the one of a schema that would hold the ledger did not). Both
/// refusals: the schema named by the path, and the schema the path resolves the unqualified
/// ledger into.
#[test]
fn a_tenant_refused_for_the_search_path_names_where_the_path_comes_from() {
    // A login role of its own (never `ALTER ROLE postgres`), declared first: its grant on the
    // database goes first.
    let role = DropRoleLater(confiture_tests::unique("cft_path_role"));
    let db = TestDb::new("tenant_path_source");
    let project = tenant_project();
    confiture_tests::admin()
        .batch_execute(&format!(
            "CREATE ROLE \"{r}\" LOGIN; GRANT CREATE ON DATABASE \"{d}\" TO \"{r}\"",
            r = role.0,
            d = db.name
        ))
        .expect("role");
    let as_role = confiture_tests::server().url_as(&role.0, None, &db.name);
    let database = confiture::ledger::quote_ident(&db.name).into_owned();
    let quoted_role = confiture::ledger::quote_ident(&role.0).into_owned();
    let with_options = format!("{}?options=-csearch_path%3Dtenant_p,public", db.url());
    project.write(
        "db/environments/opts.yaml",
        format!("database_url: {with_options}\n"),
    );
    project.write(
        "db/environments/role.yaml",
        format!("database_url: {as_role}\n"),
    );
    let status = |selection: &[&str], tenant: &str| {
        Run::of(
            project
                .cli()
                .args(["migrate", "status", "--schema", tenant])
                .args(selection),
        )
    };
    let refused = |selection: &[&str], tenant: &str, help: &str| {
        let run = status(selection, tenant);
        run.code(exit::INVALID).stderr_has(help);
        run
    };
    let sql = |statement: String| {
        confiture_tests::admin()
            .batch_execute(&statement)
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    };
    // The URL's options, by `--database-url` and by an environment file's URL: never the
    // database's setting, never an `ALTER`.
    let from_url = "take tenant_p off the whole database's search_path: it is set by the \
                    connection's options (`options=-c search_path=...` in";
    // The options with the path that leaves it out, as the URL writes them.
    let written = "`options=-csearch_path%3Dpublic`";
    let run = refused(
        &["--database-url", &with_options],
        "tenant_p",
        &format!("{from_url} --database-url): write {written} there"),
    );
    run.stderr_has("is on the whole database's search_path (`tenant_p,public`)")
        .stderr_lacks("ALTER");
    refused(
        &["-e", "opts"],
        "tenant_p",
        &format!("{from_url} environment file db/environments/opts.yaml): write {written} there"),
    )
    .stderr_lacks("ALTER");
    // The tenant existing, first on the path: the ledger resolves into it; the help names the
    // URL's options too, and the tracking table as the selection can set it.
    db.connect()
        .batch_execute("CREATE SCHEMA tenant_p")
        .expect("schema");
    let run = refused(
        &["--database-url", &with_options],
        "tenant_p",
        &format!("{from_url} --database-url): write {written} there"),
    );
    run.stderr_has("tenant_p would hold the whole database's tracking table tenant_p.tb_confiture")
        .stderr_has(
            "`migration.tracking_table: ops.tb_confiture` in an environment file given with \
             `-c FILE` (--database-url reads none)",
        );
    refused(&["-e", "opts"], "tenant_p", "in db/environments/opts.yaml");
    db.connect()
        .batch_execute("DROP SCHEMA tenant_p")
        .expect("drop schema");
    // A setting every session of the database (or of the role) gets — the database's, the
    // role's everywhere or in this database, the server's default — is never offered as a way
    // out: changing it would change the applications' names too. Both refusals, one rule.
    let unchanged = "name another tenant schema, one that search_path does not name: every \
                     session of the database gets it";
    let url = db.url();
    let settings = [
        (
            format!("ALTER DATABASE {database} SET search_path = tenant_p, \"$user\", public"),
            format!("ALTER DATABASE {database} RESET search_path"),
            &["--database-url", url.as_str()][..],
            "tenant_p",
        ),
        (
            format!("ALTER ROLE {quoted_role} SET search_path = tenant_p, public"),
            format!("ALTER ROLE {quoted_role} RESET search_path"),
            &["-e", "role"][..],
            "tenant_p",
        ),
        (
            format!(
                "ALTER ROLE {quoted_role} IN DATABASE {database} SET search_path = public, tenant_p"
            ),
            format!("ALTER ROLE {quoted_role} IN DATABASE {database} RESET search_path"),
            &["-e", "role"][..],
            "tenant_p",
        ),
        // The server's default (`"$user", public`), the tenant named as the role.
        (
            "SELECT 1".to_string(),
            "SELECT 1".to_string(),
            &["-e", "role"][..],
            role.0.as_str(),
        ),
    ];
    for (set, reset, selection, tenant) in settings {
        sql(set.clone());
        refused(selection, tenant, unchanged)
            .stderr_has("is on the whole database's search_path")
            .stderr_lacks("ALTER")
            .stderr_lacks("off the whole database's search_path");
        sql(reset);
    }
    // A database `up --create-database` would create, asked on the maintenance database: no
    // `ALTER DATABASE` either, the maintenance one's least of all (the tenant named as the
    // login role, `postgres`, which `"$user"` names; `public`, where the new database's
    // ledger would be).
    let unborn = TestDb::unborn("tenant_path_new");
    let new_database = |tenant: &str| {
        Run::of(project.cli().args([
            "migrate",
            "up",
            "--create-database",
            "--dry-run",
            "--schema",
            tenant,
            "--database-url",
            &unborn.url(),
        ]))
    };
    new_database("postgres")
        .code(exit::INVALID)
        .stderr_has(unchanged)
        .stderr_lacks("ALTER DATABASE");
    new_database("public")
        .code(exit::INVALID)
        .stderr_has("public would hold the whole database's tracking table public.tb_confiture")
        .stderr_lacks("ALTER DATABASE");
}

/// `--schema NAME` asked the server whether the schema may be a tenant while the command line
/// was read, before the command refused what its flags and files decide: an unknown `--target`
/// was exit 3 when the server was down and exit 5 when the schema was refused, never its usage
/// error. Every such refusal of every command that takes `--schema` now comes first (exit 64
/// for a usage mistake, 5 for broken files), whether the server is down or refuses the tenant;
/// a good command line still gets the tenant's refusal.
#[test]
fn a_tenant_command_refuses_its_usage_mistakes_before_asking_the_server() {
    let db = TestDb::new("tenant_usage_first");
    let project = tenant_project();
    let down = "postgresql://postgres@127.0.0.1:1/nowhere".to_string();
    let mistakes: [&[&str]; 9] = [
        &["up", "--target", "999"],
        &["up", "--steps", "0"],
        &["up", "--target", "999", "--create-database"],
        &["down", "--target", "999"],
        &["down", "--steps", "0"],
        &["baseline", "--through", "999"],
        &["reinit", "--through", "999"],
        &["verify", "--from", "999"],
        &["drift"],
    ];
    // The server down, and a server that refuses the tenant (`public` holds the whole
    // database's ledger).
    for (url, schema) in [(down.as_str(), "tenant_a"), (db.url().as_str(), "public")] {
        for args in mistakes {
            let run = Run::of(project.cli().arg("migrate").args(args).args([
                "--database-url",
                url,
                "--schema",
                schema,
            ]));
            run.code(exit::USAGE)
                .stderr_lacks("connection refused")
                .stderr_lacks("hold the whole database's tracking table")
                .stderr_lacks("using ");
        }
        // Broken files: their refusal (exit 5), not the server's.
        project.write("db/migrations/004_half.up.sql", "SELECT 1;\n");
        Run::of(
            project
                .cli()
                .args(["migrate", "up", "--database-url", url, "--schema", schema]),
        )
        .code(exit::INVALID)
        .stderr_has("004_half.up.sql")
        .stderr_lacks("connection refused")
        .stderr_lacks("hold the whole database's tracking table");
        project.remove("db/migrations/004_half.up.sql");
    }
    // A good command line: the server's answer, as before.
    Run::of(project.cli().args([
        "migrate",
        "status",
        "--database-url",
        &down,
        "--schema",
        "tenant_a",
    ]))
    .code(exit::CONNECTION);
    Run::of(project.cli().args([
        "migrate",
        "up",
        "--database-url",
        &db.url(),
        "--schema",
        "public",
    ]))
    .code(exit::INVALID)
    .stderr_has("public would hold the whole database's tracking table public.tb_confiture");
}

/// Tenants migrated before the whole database has a ledger of its own (`--schema`,
/// `--schemas-query`, then shared migrations on the whole database): the whole-database
/// command is refused (a ledger of that name off its `search_path` may be its own, moved), but
/// with one tenant its help proposed that tenant's ledger as the database's — `put tenant_001
/// on the search_path`, `migration.tracking_table: tenant_001.tb_confiture` — which, followed,
/// made the whole database read the tenant's history as its own (`up`: nothing to apply,
/// `down`: the tenant's tables dropped); with several, it named no way for the whole database
/// to get a ledger at all. Both now say that these may be tenants' ledgers, and give the whole
/// database its own qualified with a schema of its search_path, which then runs beside them.
#[test]
fn a_database_whose_tenants_came_first_is_told_how_to_get_its_own_ledger() {
    let db = TestDb::new("tenants_first");
    let project = tenant_project();
    project.write(
        "db/environments/local.yaml",
        format!("database_url: {}\n", db.url()),
    );
    let own = "`migration.tracking_table: public.tb_confiture`";
    for i in 1..=2 {
        Run::of(
            project
                .cli()
                .args(["migrate", "up", "-q", "--schema", &tenant(i)]),
        )
        .code(exit::SUCCESS);
        let before = relations(&db);
        let run = Run::of(project.cli().args(["migrate", "up"]));
        run.code(exit::INVALID).stderr_has(own);
        let help = run
            .stderr
            .lines()
            .find(|l| l.trim_start().starts_with("help:"))
            .unwrap_or_default()
            .to_string();
        assert!(help.contains("tenant"), "{}", run.dump());
        // The tenant's ledger is proposed as the database's only as one of two cases.
        assert!(
            !help.trim_start().starts_with("help: put tenant_001"),
            "{}",
            run.dump()
        );
        assert_eq!(relations(&db), before);
    }
    project.write(
        "db/environments/local.yaml",
        format!(
            "database_url: {}\nmigration:\n  tracking_table: public.tb_confiture\n",
            db.url()
        ),
    );
    Run::of(project.cli().args(["migrate", "up", "-q"])).code(exit::SUCCESS);
    let all = relations(&db);
    for table in [
        "public.tb_confiture",
        "public.tb_widget",
        "tenant_001.tb_widget",
    ] {
        assert!(all.contains(&table.to_string()), "{table}: {all:?}");
    }
    Run::of(project.cli().args([
        "migrate",
        "status",
        "--schemas-query",
        "SELECT 'tenant_001' UNION ALL SELECT 'tenant_002'",
    ]))
    .code(exit::SUCCESS);
}

/// A confiture (Python) migration in the way of a tenant schema: confiture (Python) has no
/// `--schema`, so its command cannot reach the tenant; the help says so rather than give it
/// bare (which pasted acts on `db/environments/local.yaml`'s database), for a fleet's tenant
/// and a single `--schema` run alike.
#[test]
fn a_python_migration_in_a_tenants_way_is_said_out_of_confitures_reach() {
    let db = TestDb::new("fleetschemapython");
    let project = tenant_project();
    project.write(
        "db/migrations/004_data.py",
        "def up(connection):\n    pass\n",
    );
    db.connect()
        .batch_execute("CREATE SCHEMA tenant_a;")
        .expect("create the tenant");
    let said = "`confiture migrate up --target 004` (confiture (Python) has no `--schema`: it \
                cannot address tenant schema tenant_a)";
    fleet(
        &project,
        &db,
        &["up", "--schemas-query", "SELECT 'tenant_a'"],
    )
    .code(exit::INVALID)
    .stderr_has(said);
    fleet(&project, &db, &["up", "--schema", "tenant_a"])
        .code(exit::INVALID)
        .stderr_has(said);
}

/// A mistyped `--schema` (`tenat_b` for the tenant `tenant_b`) was "not initialised", its help
/// `up --schema tenat_b`: pasted, it created a stray tenant and ran every migration into it.
/// `status` says the schema does not exist and names the tenant with a close name (the one
/// close-name rule of databases: a name of the same numbered series is no misspelling), before
/// the `up` that would create it; `up` says it is creating a new schema, and warns of the close
/// one. A schema that does not exist, with no tenant close to it, is said not to exist.
#[test]
fn a_mistyped_tenant_schema_is_said_not_to_exist_naming_the_close_tenant() {
    let db = TestDb::new("fleetschematypo");
    let project = tenant_project();
    fleet(&project, &db, &["up", "--schema", "tenant_b"]).code(exit::SUCCESS);
    let before = relations(&db);
    let status = fleet(&project, &db, &["status", "--schema", "tenat_b"]);
    status
        .code(exit::NOT_INITIALISED)
        .stderr_has("schema tenat_b does not exist, but schema tenant_b holds a tracking table")
        .stderr_has("did you mean `--schema tenant_b`?");
    let help = status.help_line();
    assert!(
        help.find("tenant_b`?") < help.find("migrate up"),
        "the close tenant comes first: {help}"
    );
    fleet(&project, &db, &["status", "--schema", "zzz"])
        .code(exit::NOT_INITIALISED)
        .stderr_has("schema zzz does not exist: run")
        .stderr_lacks("did you mean");
    // Another of a numbered series is no misspelling of the others.
    fleet(&project, &db, &["up", "--schema", "tenant_1"]).code(exit::SUCCESS);
    fleet(&project, &db, &["status", "--schema", "tenant_2"])
        .code(exit::NOT_INITIALISED)
        .stderr_lacks("did you mean");
    assert_eq!(relations(&db).len(), before.len() * 2);
    fleet(&project, &db, &["up", "--schema", "tenat_b", "--dry-run"])
        .code(exit::SUCCESS)
        .stderr_has("schema tenat_b does not exist")
        .stderr_has("schema tenant_b holds a tracking table");
    fleet(&project, &db, &["up", "--schema", "tenat_b"])
        .code(exit::SUCCESS)
        .stderr_has("schema tenat_b does not exist")
        .stderr_has("schema tenant_b holds a tracking table");
    fleet(&project, &db, &["up", "--schema", "tenat_b"])
        .code(exit::SUCCESS)
        .stderr_lacks("does not exist");
}
