//! Ledgers confiture (Python) made or wrote in ways our own never are: one created before
//! confiture 0.17 (no `applied_by` column), one kept under another `migration.tracking_table`,
//! rows with no checksum. Each is read as confiture reads it, and said as it is.

use confiture::exit;
use confiture_tests::{Project, TestDb};

/// confiture's DDL before 0.17.0: no `applied_by` column.
const PRE_017_LEDGER: &str = "CREATE TABLE tb_confiture (\
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(), \
    pk_confiture BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE, \
    slug TEXT NOT NULL UNIQUE, version VARCHAR(255) NOT NULL UNIQUE, \
    name VARCHAR(255) NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW(), \
    execution_time_ms INTEGER, checksum VARCHAR(64))";

fn three_migrations() -> Project {
    let project = Project::new();
    for n in 1..=3 {
        project.migration(
            &format!("00{n}_create_t{n}"),
            &format!("CREATE TABLE t{n} (id int);\n"),
            &format!("DROP TABLE t{n};\n"),
        );
    }
    project
}

/// The SQL of the checksum confiture records for `CREATE TABLE t<n> (id int);\n`.
fn checksum_of_t(n: u32) -> String {
    format!("encode(sha256(convert_to(E'CREATE TABLE t{n} (id int);\\n', 'UTF8')), 'hex')")
}

/// A pre-0.17 ledger recording 001 (and its table), as confiture left it.
fn pre_017_ledger(db: &TestDb) {
    db.connect()
        .batch_execute(&format!(
            "{PRE_017_LEDGER}; CREATE TABLE t1 (id int); \
             INSERT INTO tb_confiture (slug, version, name, checksum, execution_time_ms) \
             VALUES ('create_t1_001_20250101_000000', '001', 'create_t1', {}, 5)",
            checksum_of_t(1)
        ))
        .unwrap();
}

fn has_applied_by(db: &TestDb) -> bool {
    db.connect()
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'tb_confiture'::regclass \
             AND attname = 'applied_by' AND NOT attisdropped)",
            &[],
        )
        .unwrap()
        .get(0)
}

/// D14: a ledger confiture created before 0.17.0 has no `applied_by`: confiture reads it
/// (`applied_by` NULL) and adds the column when it writes. It was "not a confiture ledger"
/// (exit 5) even for `status`.
#[test]
fn a_ledger_from_before_confiture_0_17_is_read_and_upgraded_on_write() {
    let db = TestDb::new("fixledger9_pre017");
    pre_017_ledger(&db);
    let project = three_migrations();

    // Read as it is: nothing written, the column still absent.
    let run = project.run_on(&db, &["migrate", "status", "--format", "json"]);
    run.code(exit::PENDING);
    let doc = run.json();
    assert_eq!(doc["applied"], serde_json::json!(["001"]), "{doc}");
    assert!(!has_applied_by(&db), "status writes nothing");
    project
        .run_on(&db, &["migrate", "up", "--dry-run"])
        .code(exit::SUCCESS);
    assert!(!has_applied_by(&db), "a dry run writes nothing");

    // `up` adds the column with its first migration; the old row keeps NULL.
    project
        .run_on(&db, &["migrate", "up", "--steps", "1"])
        .code(exit::SUCCESS);
    assert!(has_applied_by(&db));
    let rows: Vec<(String, Option<String>)> = db
        .connect()
        .query(
            "SELECT version, applied_by FROM tb_confiture ORDER BY pk_confiture",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        rows,
        [
            ("001".to_string(), None),
            ("002".to_string(), Some("postgres".to_string()))
        ]
    );
    // One transaction each, or all in one.
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::PENDING);

    // The same ledger, the whole run in one transaction.
    let single = TestDb::new("fixledger9_pre017_single");
    pre_017_ledger(&single);
    project
        .run_on(&single, &["migrate", "up", "--single-transaction"])
        .code(exit::SUCCESS);
    assert!(has_applied_by(&single));
    assert_eq!(
        single.ledger().unwrap(),
        ["001:create_t1", "002:create_t2", "003:create_t3"]
    );

    // `baseline` and `reinit` write rows too: the column comes with them.
    let baseline = TestDb::new("fixledger9_pre017_base");
    pre_017_ledger(&baseline);
    project
        .run_on(&baseline, &["migrate", "baseline", "--through", "003"])
        .code(exit::SUCCESS);
    assert!(has_applied_by(&baseline));
    assert_eq!(
        baseline.ledger().unwrap(),
        ["001:create_t1", "002:create_t2", "003:create_t3"]
    );
}

/// D15: the database's confiture ledger is under another `migration.tracking_table`
/// (`ops.ledger_x`), and this environment file forgot the key. It was "not initialised"
/// (exit 2) with a help to `up`, which made an empty second ledger and ran every migration
/// again; now refused (exit 5: the configuration names the wrong table), naming the ledger
/// and its rows and the setting — also for a ledger from before confiture 0.17.
#[test]
fn a_ledger_under_another_name_is_named_never_started_again() {
    let db = TestDb::new("fixledger9_renamed");
    let project = three_migrations();
    let ops = confiture::ledger::TrackingTable::parse("ops.ledger_x").unwrap();
    db.connect()
        .batch_execute(&format!(
            "CREATE SCHEMA ops; {} CREATE TABLE t1 (id int); CREATE TABLE t2 (id int); \
             INSERT INTO ops.ledger_x (slug, version, name, checksum) VALUES \
             ('create_t1_001_x', '001', 'create_t1', {}), \
             ('create_t2_002_x', '002', 'create_t2', {})",
            ops.create_sql(),
            checksum_of_t(1),
            checksum_of_t(2),
        ))
        .unwrap();
    for args in [
        &["migrate", "status"][..],
        &["migrate", "up"],
        &["migrate", "up", "--dry-run"],
        &["migrate", "baseline", "--through", "001"],
    ] {
        project
            .run_on(&db, args)
            .code(exit::INVALID)
            .stderr_has("ops.ledger_x (2 rows)")
            .stderr_has("migration.tracking_table: ops.ledger_x")
            .stderr_has("give this one a separate ledger")
            .stderr_has("`migration.tracking_table: public.tb_confiture`")
            .stderr_lacks("cargo confiture migrate up");
    }
    let run = project.run_on(&db, &["migrate", "status", "--format", "json"]);
    run.code(exit::INVALID);
    assert!(run.stdout.contains("ledger_x"), "{}", run.stdout);
    assert!(!db.has_relation("tb_confiture"), "no second ledger");
    assert!(!db.has_relation("t3"), "nothing ran");

    // With the setting, it is this database's ledger.
    project.write(
        "db/environments/ops.yaml",
        format!(
            "database_url: {}\nmigration:\n  tracking_table: ops.ledger_x\n",
            db.url()
        ),
    );
    project
        .run(&["migrate", "status", "--env", "ops"])
        .code(exit::PENDING);

    // A ledger from before confiture 0.17 (no applied_by) is one too.
    db.connect()
        .batch_execute(
            "ALTER TABLE ops.ledger_x RENAME TO old_ledger; \
             ALTER TABLE ops.old_ledger DROP COLUMN applied_by",
        )
        .unwrap();
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::INVALID)
        .stderr_has("ops.old_ledger (2 rows)");

    // An empty one is no history to lose: not initialised, as before.
    db.connect()
        .batch_execute("DELETE FROM ops.old_ledger")
        .unwrap();
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::NOT_INITIALISED);
}

/// D16: rows whose checksum is NULL or empty (hand-made, older tools) were "applied" with
/// nothing said: an edit of their files could not be seen. confiture's `verify-checksums`
/// reports them as mismatches; `status` names them (text and JSON `unverified`) and says how
/// to record the checksums.
#[test]
fn rows_without_a_checksum_are_said_to_be_unverifiable() {
    let db = TestDb::new("fixledger9_nosum");
    let project = three_migrations();
    project
        .run_on(&db, &["migrate", "up", "--steps", "2"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute(
            "UPDATE tb_confiture SET checksum = NULL WHERE version = '001'; \
             UPDATE tb_confiture SET checksum = '' WHERE version = '002'",
        )
        .unwrap();
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::PENDING)
        .stdout_has("2 without checksum")
        .stderr_has("records no checksum for applied migrations (001, 002)")
        .stderr_has("migrate reinit");
    let run = project.run_on(&db, &["migrate", "status", "--format", "json"]);
    let doc = run.json();
    assert_eq!(
        doc["unverified"],
        serde_json::json!(["001", "002"]),
        "{doc}"
    );
    assert_eq!(doc["summary"]["unverified"], 2, "{doc}");

    // `reinit` records the files' checksums: nothing left unverifiable.
    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS);
    let doc = project
        .run_on(&db, &["migrate", "status", "--format", "json"])
        .json();
    assert_eq!(doc["unverified"], serde_json::json!([]), "{doc}");
}

/// A project whose third migration runs without a transaction (its statements commit one by
/// one, its row written after them).
fn with_a_no_transaction_migration() -> Project {
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.migration("002_b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
    project.migration(
        "003_c",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY ia ON a (id);\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS ia;\n",
    );
    project
}

/// h12 D3: a ledger every command could read but whose rows cannot be written — a column
/// confiture writes dropped (`slug`, which the read does not select), a view in its place
/// (not insertable, or insertable: the ledger is a table), a CHECK of its own on an extra
/// column, a trigger refusing inserts — let a no-transaction migration commit and then fail to
/// record it ("every statement was committed, but the migration is not recorded"), and every
/// later `up` failed on it. Each is now refused with nothing run: the shape by the read
/// (`status` too), the rest by the row tried before the migration's statements.
#[test]
fn a_ledger_that_cannot_take_the_row_is_refused_before_a_no_transaction_migration_runs() {
    let broken: [(&str, &str, bool); 5] = [
        ("no_slug", "ALTER TABLE tb_confiture DROP COLUMN slug", true),
        (
            "distinct_view",
            "CREATE SCHEMA real; ALTER TABLE tb_confiture SET SCHEMA real; \
             CREATE VIEW public.tb_confiture AS SELECT DISTINCT * FROM real.tb_confiture",
            true,
        ),
        (
            "plain_view",
            "CREATE SCHEMA real; ALTER TABLE tb_confiture SET SCHEMA real; \
             CREATE VIEW public.tb_confiture AS SELECT * FROM real.tb_confiture",
            true,
        ),
        (
            "check",
            "ALTER TABLE tb_confiture ADD COLUMN env text; UPDATE tb_confiture SET env = 'x'; \
             ALTER TABLE tb_confiture ADD CONSTRAINT ck CHECK (env IS NOT NULL)",
            false,
        ),
        (
            "trigger",
            "CREATE FUNCTION no_rows() RETURNS trigger LANGUAGE plpgsql AS \
             $$BEGIN RAISE EXCEPTION 'ledger closed'; END$$; \
             CREATE TRIGGER closed BEFORE INSERT ON tb_confiture \
             FOR EACH ROW EXECUTE FUNCTION no_rows()",
            false,
        ),
    ];
    let project = with_a_no_transaction_migration();
    for (name, breaking, shape) in broken {
        let db = TestDb::new(&format!("li_shape_{name}"));
        project
            .run_on(&db, &["migrate", "up", "--target", "2"])
            .code(exit::SUCCESS);
        db.connect().batch_execute(breaking).unwrap();
        let status = project.run_on(&db, &["migrate", "status"]);
        if shape {
            status.code(exit::INVALID);
        } else {
            status.code(exit::PENDING);
        }
        let up = project.run_on(&db, &["migrate", "up"]);
        up.code(exit::INVALID)
            .stderr_lacks("every statement was committed");
        if !shape {
            up.stderr_has("refuses the row of migration 003_c, which was not run");
        }
        assert!(!db.has_relation("ia"), "{name}: 003_c did not run");
    }
    // A ledger from before confiture 0.17 (no `applied_by`) takes the row: upgraded first.
    let db = TestDb::new("li_shape_pre017");
    db.connect()
        .batch_execute(&format!("{PRE_017_LEDGER}; CREATE TABLE a (id int); CREATE TABLE b (id int); INSERT INTO tb_confiture (slug, version, name) VALUES ('a_001', '001', 'a'), ('b_002', '002', 'b')"))
        .unwrap();
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    assert!(db.has_relation("ia"));
    assert_eq!(db.ledger().unwrap().len(), 3);
}

/// The statements a help offers to paste (`UPDATE ...;`, `DELETE FROM ...;`), as written.
fn statements_in(help: &str) -> Vec<String> {
    let mut found = Vec::new();
    for start in ["UPDATE ", "DELETE FROM "] {
        let mut rest = help;
        while let Some(at) = rest.find(start) {
            let statement = &rest[at..];
            let end = statement.find(';').expect("a statement ends with ;");
            found.push(statement[..=end].to_string());
            rest = &statement[end..];
        }
    }
    found
}

/// The help of the ledger row `status` refuses (exit 5), from its JSON error.
fn row_help(project: &Project, db: &TestDb) -> String {
    let run = project.run_on(db, &["migrate", "status", "--format", "json"]);
    run.code(exit::INVALID);
    run.json()["errors"][0]["help"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// h12 D6: a ledger row with a NULL column (a hand-made or altered ledger) was refused with
/// the help `UPDATE "tb_confiture" SET name = ...`, no WHERE: completed and pasted, it rewrote
/// every row (every `applied_at` made the same). The statements name that row alone.
/// h14 D3: the help also offered `DELETE` of the row of an applied migration whose file is
/// there: pasted, `up` ran that migration a second time (a data migration's rows doubled). The
/// row of a migration with files is completed (its name from the file, `now()` for its time),
/// never deleted; only a row no file has is offered for deletion. Every statement the help
/// offers, pasted, leaves `up` with nothing to run.
#[test]
fn a_row_with_a_null_column_is_completed_from_its_file_never_deleted() {
    let db = TestDb::new("li_null_column");
    let (project, pk) = seeded_and_nullable(&db);
    let mut client = db.connect();
    let seeded = |client: &mut postgres::Client| -> i64 {
        client
            .query_one("SELECT count(*) FROM t1", &[])
            .unwrap()
            .get(0)
    };
    // The applied data migration's row loses each column in turn.
    for (column, filled) in [
        ("name", "SET name = 'seed' WHERE"),
        ("applied_at", "SET applied_at = pg_catalog.now() WHERE"),
        ("version", "SET version = '004' WHERE"),
    ] {
        client
            .batch_execute(&format!(
                "UPDATE tb_confiture SET {column} = NULL WHERE pk_confiture = {pk}"
            ))
            .unwrap();
        let help = row_help(&project, &db);
        let statements = statements_in(&help);
        assert!(
            statements
                .iter()
                .all(|s| s.contains(&format!("pk_confiture = {pk};"))),
            "{column}: every statement names that row alone: {help}"
        );
        assert!(help.contains(filled), "{column}: {help}");
        if column != "version" {
            assert!(
                !help.contains("DELETE"),
                "{column}: the row of an applied migration is never deleted: {help}"
            );
        }
        // Pasted, the first statement (the one completing it) makes the ledger whole again.
        client.batch_execute(&statements[0]).unwrap();
        project
            .run_on(&db, &["migrate", "up"])
            .code(exit::SUCCESS)
            .stderr_lacks("applied 1");
        assert_eq!(seeded(&mut client), 1, "{column}: 004_seed ran again");
    }
    // A row whose version has no file, below the newest file (a newer release's row, above it,
    // is kept: `a_row_whose_migration_ran_is_never_offered_for_deletion`), may go.
    client
        .batch_execute("INSERT INTO tb_confiture (slug, version, name) VALUES ('g', '000', NULL)")
        .unwrap();
    let help = row_help(&project, &db);
    let statements = statements_in(&help);
    let delete = statements
        .iter()
        .find(|s| s.starts_with("DELETE"))
        .unwrap_or_else(|| panic!("a row no file has may be deleted: {help}"));
    client.batch_execute(delete).unwrap();
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::SUCCESS);
    assert_eq!(seeded(&mut client), 1);
}

/// h14 D9: an error raised by a trigger of the tracking table on the row's write (`BEFORE
/// INSERT` going up, `BEFORE DELETE` going down) was blamed on the migration's file ("failed
/// at db/migrations/...", help "fix db/migrations/...", exit 4), although the statement markers
/// said every statement of the file had completed. It is the ledger's (exit 5), naming the
/// table's triggers: batched and `--single-transaction`, up and down, and a no-transaction
/// migration (whose row is tried before its statements run).
#[test]
fn a_trigger_of_the_tracking_table_that_raises_is_the_ledgers_failure() {
    let db = TestDb::new("li_ledger_trigger");
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.migration(
        "002_b",
        "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\nCREATE TABLE b2 (id int);\n",
        "DROP TABLE b2;\nDROP TABLE b;\n",
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE FUNCTION li_no() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'no writes on the ledger'; END $$; \
             CREATE TRIGGER li_nodel BEFORE DELETE ON tb_confiture \
             FOR EACH ROW EXECUTE FUNCTION li_no()",
        )
        .unwrap();
    let refused = |run: &confiture_tests::Run| {
        run.code(exit::INVALID)
            .stderr_has("but writing the tracking table")
            .stderr_lacks("fix db/migrations")
            .stderr_lacks("failed at db/migrations");
    };
    for args in [
        &["migrate", "down", "--yes"][..],
        &["migrate", "down", "--yes", "--target", "0"][..],
    ] {
        let run = project.run_on(&db, args);
        refused(&run);
        run.stderr_has("li_nodel");
        assert!(db.has_relation("b2"), "{args:?}: rolled back");
    }
    client
        .batch_execute(
            "DROP TRIGGER li_nodel ON tb_confiture; \
             CREATE TRIGGER li_noins BEFORE INSERT ON tb_confiture \
             FOR EACH ROW EXECUTE FUNCTION li_no()",
        )
        .unwrap();
    project
        .run_on(&db, &["migrate", "down", "--yes"])
        .code(exit::SUCCESS);
    for args in [
        &["migrate", "up"][..],
        &["migrate", "up", "--single-transaction"][..],
    ] {
        let run = project.run_on(&db, args);
        refused(&run);
        run.stderr_has("li_noins");
        let json = project.run_on(&db, &[args, &["--format", "json"]].concat());
        assert_ne!(
            json.json()["errors"][0]["kind"],
            "migration_failed",
            "{args:?}"
        );
        assert!(!db.has_relation("b"), "{args:?}: rolled back");
    }
    // A no-transaction migration's row is tried first: nothing of it runs.
    let no_transaction = Project::new();
    no_transaction.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    no_transaction.migration(
        "002_c",
        "-- confiture:no-transaction\nCREATE TABLE c (id int);\nCREATE INDEX CONCURRENTLY c_i ON c (id);\n",
        "DROP TABLE c;\n",
    );
    let run = no_transaction.run_on(&db, &["migrate", "up"]);
    run.code(exit::INVALID)
        .stderr_has("tracking table")
        .stderr_lacks("fix db/migrations")
        .stderr_lacks("C102");
    assert!(!db.has_relation("c"));
}

/// h14 D9, a migration of one statement (up and down files alike): "failed at
/// db/migrations/002_one.up.sql:1:1 (statement 1 of 1)". Where the tracking table has triggers
/// that fire on its rows, such a file carries a statement marker too, which tells the
/// trigger's error on the row from the statement's.
#[test]
fn a_trigger_of_the_tracking_table_is_told_from_a_single_statement() {
    let db = TestDb::new("li_ledger_trigger_one");
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.migration("002_one", "CREATE TABLE one (id int);\n", "SELECT 1;\n");
    project
        .run_on(&db, &["migrate", "up", "--target", "1"])
        .code(exit::SUCCESS);
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE FUNCTION li_no() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'no writes on the ledger'; END $$; \
             CREATE TRIGGER li_noins BEFORE INSERT ON tb_confiture \
             FOR EACH ROW EXECUTE FUNCTION li_no()",
        )
        .unwrap();
    for args in [
        &["migrate", "up"][..],
        &["migrate", "up", "--single-transaction"][..],
    ] {
        project
            .run_on(&db, args)
            .code(exit::INVALID)
            .stderr_has("002_one ran, but writing the tracking table")
            .stderr_has("li_noins")
            .stderr_lacks("statement 1 of 1")
            .stderr_lacks("fix db/migrations");
        assert!(!db.has_relation("one"), "{args:?}: rolled back");
    }
    // The statement's own error is still the file's.
    client.batch_execute("CREATE TABLE one (id int)").unwrap();
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("fix db/migrations/002_one.up.sql");
    client
        .batch_execute(
            "DROP TABLE one; DROP TRIGGER li_noins ON tb_confiture; \
             CREATE TRIGGER li_nodel BEFORE DELETE ON tb_confiture \
             FOR EACH ROW EXECUTE FUNCTION li_no()",
        )
        .unwrap();
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down", "--yes"])
        .code(exit::INVALID)
        .stderr_has("li_nodel")
        .stderr_lacks("statement 1 of 1")
        .stderr_lacks("fix db/migrations");
}

/// An error the tracking table raises on the row's write without naming itself and without a
/// trigger — a column narrowed by hand (`varchar(5)`: 22001), a domain's `CHECK` (23514, naming
/// the domain, not the table) — was blamed on the migration's file ("failed at
/// db/migrations/...:1:1 (statement 1 of 1)", help "fix ...", exit 4). The row is refused by the
/// table as it stands, the migration's SQL aside: the ledger's failure (exit 5), for a file of
/// one statement and of several, batched and `--single-transaction`. A migration whose own
/// statement raises the same error on a table of its own stays the file's.
#[test]
fn the_tracking_table_refusing_the_row_without_naming_itself_is_the_ledgers_failure() {
    let db = TestDb::new("li_ledger_narrowed");
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.migration(
        "002_create_b",
        "CREATE TABLE b (id int);\n",
        "DROP TABLE b;\n",
    );
    project.migration(
        "003_create_c",
        "CREATE TABLE c (id int);\nINSERT INTO c VALUES (1);\n",
        "DROP TABLE c;\n",
    );
    project
        .run_on(&db, &["migrate", "up", "--target", "1"])
        .code(exit::SUCCESS);
    let mut client = db.connect();
    let narrowings = [
        "ALTER TABLE tb_confiture ALTER COLUMN name TYPE varchar(5)",
        "ALTER TABLE tb_confiture ALTER COLUMN name TYPE text; \
         CREATE DOMAIN li_short AS text CHECK (length(VALUE) < 5); \
         ALTER TABLE tb_confiture ALTER COLUMN name TYPE li_short",
    ];
    for narrowing in narrowings {
        client.batch_execute(narrowing).unwrap();
        for args in [
            &["migrate", "up", "--target", "2"][..],
            &["migrate", "up"][..],
            &["migrate", "up", "--single-transaction"][..],
        ] {
            let run = project.run_on(&db, args);
            run.code(exit::INVALID)
                .stderr_has("002_create_b ran, but writing the tracking table")
                .stderr_lacks("statement 1 of 1")
                .stderr_lacks("fix db/migrations")
                .stderr_lacks("failed at db/migrations");
            assert!(!db.has_relation("b"), "{narrowing} {args:?}: rolled back");
        }
    }
    // A value too long for a table of the migration's own is the file's, the ledger as it is.
    client
        .batch_execute("CREATE TABLE short_names (n varchar(2))")
        .unwrap();
    let own = Project::new();
    own.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    own.migration(
        "002_x",
        "INSERT INTO short_names VALUES ('too long');\n",
        "DELETE FROM short_names;\n",
    );
    own.run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("fix db/migrations/002_x.up.sql");
}

/// The first migration of the deferred-constraint tests: a child table whose foreign key is
/// checked at `COMMIT` (`INITIALLY DEFERRED`), one whose key a migration may defer (`SET
/// CONSTRAINTS ... DEFERRED`), and a row of the latter.
const DEFERRED_KEYS: &str = "CREATE TABLE parent (id int PRIMARY KEY);\n\
    CREATE TABLE child (parent_id int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);\n\
    CREATE TABLE child2 (parent_id int REFERENCES parent DEFERRABLE);\n\
    INSERT INTO parent VALUES (1);\nINSERT INTO child2 VALUES (1);\n";

/// A trigger of the tracking table that does nothing but return the row (an audit trigger, say),
/// up and down.
const BENIGN_LEDGER_TRIGGER: &str = "CREATE FUNCTION li_audit() RETURNS trigger LANGUAGE plpgsql \
    AS $$ BEGIN IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $$; \
    CREATE TRIGGER li_audit BEFORE INSERT OR DELETE ON tb_confiture \
    FOR EACH ROW EXECUTE FUNCTION li_audit()";

/// h16 D2: a migration's own deferred constraint, violated by its SQL and checked at its
/// `COMMIT` (after its ledger row), was blamed on a benign trigger of the tracking table
/// (exit 5, "writing the tracking table failed", the trigger named), up and down. It is the
/// migration's failure (exit 4), with its file: bodies of several statements, of one, and one
/// without statement markers (a backslash); an `INITIALLY DEFERRED` key and one the migration
/// deferred itself. A deferrable constraint trigger of the tracking table that raises at the
/// `COMMIT` is still the ledger's.
#[test]
fn a_deferred_constraint_a_migration_violates_is_its_own_failure_not_a_ledger_triggers() {
    let db = TestDb::new("li_deferred_commit");
    let project = Project::new();
    project.migration(
        "001_keys",
        DEFERRED_KEYS,
        "DROP TABLE child, child2, parent;\n",
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let mut client = db.connect();
    client.batch_execute(BENIGN_LEDGER_TRIGGER).unwrap();
    let the_migrations = |run: &confiture_tests::Run, file: &str| {
        run.code(exit::MIGRATION_FAILED)
            .stderr_has(&format!("fix db/migrations/{file}"))
            .stderr_has("COMMIT")
            .stderr_lacks("writing the tracking table")
            .stderr_lacks("li_audit");
    };
    let cases = [
        ("002_several", "INSERT INTO child VALUES (42);\nSELECT 1;\n"),
        ("002_one", "INSERT INTO child VALUES (42);\n"),
        (
            "002_unmarked",
            "INSERT INTO child VALUES (42);\nSELECT '\\\\';\n",
        ),
        (
            "002_deferred_here",
            "SET CONSTRAINTS ALL DEFERRED;\nINSERT INTO child2 VALUES (42);\n",
        ),
    ];
    for (id, up) in cases {
        project.migration(id, up, "SELECT 1;\n");
        for args in [
            &["migrate", "up"][..],
            &["migrate", "up", "--single-transaction"][..],
        ] {
            let run = project.run_on(&db, args);
            the_migrations(&run, &format!("{id}.up.sql"));
            let json = project.run_on(&db, &[args, &["--format", "json"]].concat());
            assert_eq!(
                json.json()["errors"][0]["kind"],
                "migration_failed",
                "{id} {args:?}"
            );
        }
        project
            .remove(&format!("db/migrations/{id}.up.sql"))
            .remove(&format!("db/migrations/{id}.down.sql"));
    }
    // Two migrations in one message (their rows prepared once): the second one's COMMIT fails,
    // the first stays applied.
    project.migration(
        "002_fine",
        "CREATE TABLE fine (id int);\n",
        "DROP TABLE fine;\n",
    );
    project.migration(
        "003_orphan",
        "INSERT INTO child VALUES (42);\nSELECT '\\\\';\n",
        "SELECT 1;\n",
    );
    let run = project.run_on(&db, &["migrate", "up"]);
    the_migrations(&run, "003_orphan.up.sql");
    assert!(db.has_relation("fine"), "002_fine committed before it");
    project
        .run_on(&db, &["migrate", "down", "--yes"])
        .code(exit::SUCCESS);
    for id in ["002_fine", "003_orphan"] {
        project
            .remove(&format!("db/migrations/{id}.up.sql"))
            .remove(&format!("db/migrations/{id}.down.sql"));
    }
    // Down: the rollback deletes a parent its child still references, its key deferred.
    project.migration(
        "002_down",
        "SELECT 1;\n",
        "SET CONSTRAINTS ALL DEFERRED;\nDELETE FROM parent;\n",
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let run = project.run_on(&db, &["migrate", "down", "--yes"]);
    the_migrations(&run, "002_down.down.sql");
    // A constraint trigger of the tracking table, deferred to the COMMIT, is the ledger's.
    client
        .batch_execute(
            "CREATE FUNCTION li_late() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'no deletes on the ledger'; END $$; \
             CREATE CONSTRAINT TRIGGER li_late AFTER DELETE ON tb_confiture \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION li_late()",
        )
        .unwrap();
    project.migration("002_down", "SELECT 1;\n", "SELECT 1;\nSELECT 2;\n");
    project
        .run_on(&db, &["migrate", "down", "--yes"])
        .code(exit::INVALID)
        .stderr_has("002_down ran, but writing the tracking table")
        .stderr_has("li_late")
        .stderr_lacks("fix db/migrations");
}

/// h16 D3: a file that carries no statement markers — it has a backslash in a plain string, or says
/// `statement_timeout` or `DEALLOCATE`, in its SQL or (before the fix) only in a comment —
/// blamed the trigger of the tracking table that raised on its row on the file (exit 4, "fix
/// db/migrations/..."). Markers around the row tell it whatever the body: the ledger's (exit
/// 5), batched and `--single-transaction`, up and down; and a word in a comment no longer takes
/// a file's markers away.
#[test]
fn a_ledger_trigger_is_told_from_a_body_without_statement_markers() {
    let db = TestDb::new("li_trigger_unmarked");
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE FUNCTION li_no() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'no writes on the ledger'; END $$; \
             CREATE TRIGGER li_noins BEFORE INSERT ON tb_confiture \
             FOR EACH ROW EXECUTE FUNCTION li_no()",
        )
        .unwrap();
    let the_ledgers = |run: &confiture_tests::Run, trigger: &str| {
        run.code(exit::INVALID)
            .stderr_has("but writing the tracking table")
            .stderr_has(trigger)
            .stderr_lacks("fix db/migrations")
            .stderr_lacks("failed at db/migrations");
    };
    let cases = [
        (
            "002_comment_timeout",
            "-- sets no statement_timeout\nCREATE TABLE d1 (id int);\nCREATE TABLE d2 (id int);\n",
        ),
        (
            "002_comment_deallocate",
            "/* no DEALLOCATE here */ CREATE TABLE d1 (id int);\nCREATE TABLE d2 (id int);\n",
        ),
        (
            "002_backslash",
            "CREATE TABLE d1 (id int);\nCOMMENT ON TABLE d1 IS 'a\\\\b';\n",
        ),
        (
            "002_timeout",
            "SET statement_timeout = '30s';\nCREATE TABLE d1 (id int);\n",
        ),
        (
            "002_deallocate",
            "DEALLOCATE ALL;\nCREATE TABLE d1 (id int);\n",
        ),
    ];
    for (id, up) in cases {
        project.migration(id, up, "DROP TABLE d1;\n");
        for args in [
            &["migrate", "up"][..],
            &["migrate", "up", "--single-transaction"][..],
        ] {
            the_ledgers(&project.run_on(&db, args), "li_noins");
            assert!(!db.has_relation("d1"), "{id} {args:?}: rolled back");
        }
        project
            .remove(&format!("db/migrations/{id}.up.sql"))
            .remove(&format!("db/migrations/{id}.down.sql"));
    }
    // Down, the rollback's file without markers.
    client
        .batch_execute(
            "DROP TRIGGER li_noins ON tb_confiture; \
             CREATE TRIGGER li_nodel BEFORE DELETE ON tb_confiture \
             FOR EACH ROW EXECUTE FUNCTION li_no()",
        )
        .unwrap();
    project.migration(
        "002_down",
        "CREATE TABLE d1 (id int);\n",
        "SET statement_timeout = '30s';\nDROP TABLE d1;\n",
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    the_ledgers(
        &project.run_on(&db, &["migrate", "down", "--yes"]),
        "li_nodel",
    );
    assert!(db.has_relation("d1"), "the rollback was rolled back");
    // The statement's own error is still the file's, located by its markers despite the comment.
    client
        .batch_execute("DROP TRIGGER li_nodel ON tb_confiture")
        .unwrap();
    project.migration(
        "002_down",
        "CREATE TABLE d1 (id int);\n",
        "-- no DEALLOCATE\nSELECT 1;\nSELECT 1 / 0;\n",
    );
    project
        .run_on(&db, &["migrate", "down", "--yes"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("statement 2 of 2")
        .stderr_has("fix db/migrations/002_down.down.sql");
}

/// h16 D16: a trigger of the tracking table cancelled by the run's `statement_timeout` while
/// it wrote a migration's row got the help of a slow migration ("split the migration"). It
/// names the trigger, the timeout that cancelled it, and no split.
#[test]
fn a_ledger_trigger_cancelled_by_the_statement_timeout_is_named_with_the_timeout() {
    let db = TestDb::new("li_trigger_cancelled");
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    db.connect()
        .batch_execute(
            "CREATE FUNCTION li_slow() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$; \
             CREATE TRIGGER li_slow BEFORE INSERT ON tb_confiture \
             FOR EACH ROW EXECUTE FUNCTION li_slow()",
        )
        .unwrap();
    project.migration(
        "002_b",
        "CREATE TABLE b (id int);\nCREATE TABLE b2 (id int);\n",
        "DROP TABLE b2, b;\n",
    );
    project
        .run_on(&db, &["migrate", "up", "--statement-timeout", "700ms"])
        .code(exit::INVALID)
        .stderr_has("li_slow")
        .stderr_has("was cancelled")
        .stderr_has("statement_timeout (700ms)")
        .stderr_lacks("split the migration")
        .stderr_lacks("fix db/migrations");
    assert!(!db.has_relation("b"));
}

/// The project of `three_migrations` with a data migration, `004_seed`, applied on `db`, and
/// the ledger's columns made nullable (a hand-edited ledger); the row of 004's `pk_confiture`.
fn seeded_and_nullable(db: &TestDb) -> (Project, String) {
    let project = three_migrations();
    project.migration(
        "004_seed",
        "INSERT INTO t1 VALUES (1);\n",
        "DELETE FROM t1;\n",
    );
    project.run_on(db, &["migrate", "up"]).code(exit::SUCCESS);
    ledger_made_nullable(db);
    let pk: String = db
        .connect()
        .query_one(
            "SELECT pk_confiture::text FROM tb_confiture WHERE version = '004'",
            &[],
        )
        .unwrap()
        .get(0);
    (project, pk)
}

/// How many times `004_seed` ran.
fn seeded(db: &TestDb) -> i64 {
    db.connect()
        .query_one("SELECT count(*) FROM t1", &[])
        .unwrap()
        .get(0)
}

/// h15 D5, D6, D12: rows the help still offered to delete, or named after a file that never
/// ran, though their migration ran: a row with no version and no name whose checksum is an
/// applied file's (D5); a row with no name whose version's file is now another migration
/// (D6: it was named after the new file, "which ran"); a newer release's row, above the
/// newest file, with no applied_at (D12). Each help now offers only the UPDATE, no DELETE;
/// pasted, nothing runs twice and no file that never ran is recorded as applied.
#[test]
fn a_row_whose_migration_ran_is_never_offered_for_deletion() {
    // D5: the checksum tells the file.
    let db = TestDb::new("li_null_d5");
    let (project, pk) = seeded_and_nullable(&db);
    db.connect()
        .batch_execute(&format!(
            "UPDATE tb_confiture SET version = NULL, name = NULL WHERE pk_confiture = {pk}"
        ))
        .unwrap();
    let help = row_help(&project, &db);
    assert!(!help.contains("DELETE"), "{help}");
    let statements = statements_in(&help);
    assert!(
        statements[0].ends_with(&format!(
            "SET version = '004', name = 'seed' WHERE pk_confiture = {pk};"
        )),
        "{help}"
    );
    db.connect().batch_execute(&statements[0]).unwrap();
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::SUCCESS)
        .stderr_lacks("applied 1");
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::SUCCESS);
    assert_eq!(seeded(&db), 1, "004_seed ran again");

    // D6: 004's files deleted and its number given to another migration.
    let db = TestDb::new("li_null_d6");
    let (project, pk) = seeded_and_nullable(&db);
    project
        .remove("db/migrations/004_seed.up.sql")
        .remove("db/migrations/004_seed.down.sql")
        .migration(
            "004_other",
            "INSERT INTO t1 VALUES (2);\n",
            "DELETE FROM t1 WHERE id = 2;\n",
        );
    db.connect()
        .batch_execute(&format!(
            "UPDATE tb_confiture SET name = NULL WHERE pk_confiture = {pk}"
        ))
        .unwrap();
    let help = row_help(&project, &db);
    assert!(!help.contains("DELETE"), "{help}");
    assert!(!help.contains("'other'"), "not the new file's name: {help}");
    assert!(!help.contains("004_other, which ran"), "{help}");
    assert!(
        help.contains("now names another migration, 004_other"),
        "{help}"
    );
    let statements = statements_in(&help);
    // Completed as it says: the name of the migration that ran.
    db.connect()
        .batch_execute(&statements[0].replace("SET name = ...", "SET name = 'seed'"))
        .unwrap();
    let status = project.run_on(&db, &["migrate", "status", "--format", "json"]);
    status.code(exit::DIVERGED);
    assert_eq!(status.json()["replaced"], serde_json::json!(["004"]));
    project.run_on(&db, &["migrate", "up"]).code(exit::DIVERGED);
    assert_eq!(seeded(&db), 1, "neither 004 ran again");

    // D12: a newer release applied 004; this one's files stop at 003.
    let db = TestDb::new("li_null_d12");
    let (project, pk) = seeded_and_nullable(&db);
    let up = project.read("db/migrations/004_seed.up.sql");
    let down = project.read("db/migrations/004_seed.down.sql");
    project
        .remove("db/migrations/004_seed.up.sql")
        .remove("db/migrations/004_seed.down.sql");
    db.connect()
        .batch_execute(&format!(
            "UPDATE tb_confiture SET applied_at = NULL WHERE pk_confiture = {pk}"
        ))
        .unwrap();
    let help = row_help(&project, &db);
    assert!(!help.contains("DELETE"), "{help}");
    assert!(help.contains("newer release"), "{help}");
    let statements = statements_in(&help);
    assert!(
        statements[0].ends_with(&format!(
            "SET applied_at = pg_catalog.now() WHERE pk_confiture = {pk};"
        )),
        "{help}"
    );
    db.connect().batch_execute(&statements[0]).unwrap();
    project
        .run_on(&db, &["migrate", "up", "--allow-newer-database"])
        .code(exit::SUCCESS);
    // The newer release again: nothing to run.
    project.migration("004_seed", &up, &down);
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::SUCCESS)
        .stderr_lacks("applied 1");
    assert_eq!(seeded(&db), 1, "004_seed ran again");
}

/// The project of `three_migrations` with 001 and 002 applied on `db` and the ledger's columns
/// made nullable (a hand-edited ledger, where rows lack values).
fn two_applied_and_nullable(db: &TestDb, project: &Project) {
    project
        .run_on(db, &["migrate", "up", "--target", "002"])
        .code(exit::SUCCESS);
    ledger_made_nullable(db);
}

/// The ledger's `name`, `applied_at` and `version` columns made nullable (a hand-edited ledger).
fn ledger_made_nullable(db: &TestDb) {
    db.connect()
        .batch_execute(
            "ALTER TABLE tb_confiture ALTER COLUMN name DROP NOT NULL, \
             ALTER COLUMN applied_at DROP NOT NULL, ALTER COLUMN version DROP NOT NULL",
        )
        .unwrap();
}

/// The statement of `help` that starts with `start` (`UPDATE`, `DELETE`).
fn statement(help: &str, start: &str) -> String {
    statements_in(help)
        .into_iter()
        .find(|s| s.starts_with(start))
        .unwrap_or_else(|| panic!("no {start} in: {help}"))
}

/// h18 F3: a hand-made row of version 003 with nothing else (no name, no checksum, a slug
/// naming nothing) was said to record 003's file, "which ran", with the UPDATE that marks it
/// applied: pasted, `up` never ran 003 (its table never made). The row is said to be
/// unidentified; the UPDATE is offered only if 003 ran, the DELETE if it never did, and the
/// DELETE pasted lets `up` run it. A slug naming 003 identifies the row: completed, kept.
#[test]
fn a_row_nothing_identifies_is_never_marked_as_the_file_of_its_version() {
    let db = TestDb::new("li_unidentified");
    let project = three_migrations();
    two_applied_and_nullable(&db, &project);
    for (name, slug) in [("NULL", "'made_by_hand'"), ("''", "'g'")] {
        db.connect()
            .batch_execute(&format!(
                "DELETE FROM tb_confiture WHERE version = '003'; \
                 INSERT INTO tb_confiture (slug, version, name, applied_at) \
                 VALUES ({slug}, '003', {name}, CASE WHEN {name} IS NULL THEN now() END)"
            ))
            .unwrap();
        let help = row_help(&project, &db);
        assert!(
            help.contains("nothing identifies the row as migration 003_create_t3"),
            "{help}"
        );
        assert!(!help.contains("so it records"), "{help}");
        let ran = help.find("if that migration ran").expect("{help}");
        assert!(ran < help.find("UPDATE").unwrap(), "{help}");
        assert!(
            help.find("if it never ran").unwrap() < help.find("DELETE").unwrap(),
            "{help}"
        );
    }
    // It never ran: the DELETE pasted, `up` runs it.
    db.connect()
        .batch_execute(&statement(&row_help(&project, &db), "DELETE"))
        .unwrap();
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::SUCCESS)
        .stderr_has("003_create_t3");
    assert!(db.has_relation("t3"));

    // Its slug (as written) names 003: the row records it; completed, nothing runs again.
    db.connect()
        .batch_execute("UPDATE tb_confiture SET name = NULL, checksum = NULL WHERE version = '003'")
        .unwrap();
    let help = row_help(&project, &db);
    assert!(!help.contains("DELETE"), "{help}");
    assert!(help.contains("names migration 003_create_t3"), "{help}");
    db.connect()
        .batch_execute(&statement(&help, "UPDATE"))
        .unwrap();
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::SUCCESS)
        .stderr_lacks("applied 1");
}

/// h18 F9: the row of a confiture (Python) migration lacking its name (`003_add_users.py`
/// beside the SQL pairs) was said to have no migration file of its version and offered for
/// deletion. The `.py` file is named as that version's migration; its row, named by its slug,
/// is completed from it and kept (no DELETE); a row nothing identifies is unidentified.
#[test]
fn a_python_migrations_row_lacking_a_value_is_accounted_for_by_its_file() {
    let db = TestDb::new("li_python_row");
    let project = three_migrations();
    project
        .remove("db/migrations/003_create_t3.up.sql")
        .remove("db/migrations/003_create_t3.down.sql")
        .write(
            "db/migrations/003_add_users.py",
            "def up(connection):\n    pass\n",
        );
    two_applied_and_nullable(&db, &project);
    db.connect()
        .batch_execute(
            "INSERT INTO tb_confiture (slug, version, name) \
             VALUES ('made_by_hand', '003', NULL)",
        )
        .unwrap();
    let help = row_help(&project, &db);
    assert!(!help.contains("no migration file has version"), "{help}");
    assert!(
        help.contains(
            "nothing identifies the row as confiture (Python) migration 003_add_users.py"
        ),
        "{help}"
    );
    assert!(
        help.find("if it never ran").unwrap() < help.find("DELETE").unwrap(),
        "{help}"
    );
    // Its slug as confiture (Python) writes it: the `.py` migration's row.
    db.connect()
        .batch_execute(
            "UPDATE tb_confiture SET slug = 'add_users_003_20250101_000000' \
             WHERE version = '003'",
        )
        .unwrap();
    let help = row_help(&project, &db);
    assert!(!help.contains("DELETE"), "{help}");
    assert!(
        help.contains("names confiture (Python) migration 003_add_users.py"),
        "{help}"
    );
    db.connect()
        .batch_execute(&statement(&help, "UPDATE"))
        .unwrap();
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::SUCCESS)
        .stdout_has("003_add_users");
}

/// h19 F2: `up --single-transaction` of several migrations whose `COMMIT` fails on a deferred
/// constraint blamed the last migration ("fix 003", JSON `version` "003") when an earlier one
/// wrote the row — the user edited an innocent file. The run's COMMIT is of no one migration:
/// the error says so, names the run's migrations and the table, `version`/`name`/`file` are
/// null, and the help says to run without `--single-transaction` (which does name 002, as
/// before) or to look at the migrations that write the table. Nothing is recorded.
#[test]
fn a_deferred_constraint_failing_at_the_single_transactions_commit_is_blamed_on_no_one_file() {
    let db = TestDb::new("li_single_commit");
    let project = Project::new();
    project
        .migration(
            "001_p",
            "CREATE TABLE p (id int PRIMARY KEY);\n",
            "DROP TABLE p;\n",
        )
        .migration(
            "002_c",
            "CREATE TABLE c (pid int REFERENCES p DEFERRABLE INITIALLY DEFERRED);\n\
             INSERT INTO c VALUES (42);\n",
            "DROP TABLE c;\n",
        )
        .migration("003_z", "CREATE TABLE z (id int);\n", "DROP TABLE z;\n");
    let single = ["migrate", "up", "--single-transaction"];
    project
        .run_on(&db, &single)
        .code(exit::MIGRATION_FAILED)
        .stderr_has("the run's COMMIT failed on a deferred constraint of one of its migrations (001_p .. 003_z)")
        .stderr_has("without --single-transaction")
        .stderr_has("write table \"c\"")
        .stderr_lacks("fix db/migrations")
        .stderr_lacks("migration 003_z failed");
    let json = project.run_on(&db, &[&single[..], &["--format", "json"]].concat());
    json.code(exit::MIGRATION_FAILED);
    let error = &json.json()["errors"][0];
    for key in ["version", "name", "file"] {
        assert!(error[key].is_null(), "{key}: {}", json.dump());
    }
    assert_eq!(error["sqlstate"], "23503", "{}", json.dump());
    assert_eq!(db.ledger(), Some(Vec::new()), "nothing is recorded");
    // Without it, the migration that wrote the row is named, as the help says.
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("fix db/migrations/002_c.up.sql");
}

/// The versions of a `migrate status --format json` document's `key` (`applied`, `pending`).
fn versions(run: &confiture_tests::Run, key: &str) -> Vec<String> {
    let doc = run.json();
    doc[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {doc}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Two applications sharing one database, each with its own ledger (Flyway's and Atlas's
/// schema-per-application history tables): the second names its ledger schema-qualified
/// (`migration.tracking_table: public.tb_second`, or in its own schema, `ops.tb_second`), which
/// is deliberate. Every qualified name was refused (exit 5) as the forgotten key of the first
/// application's ledger, whose name the help proposed: followed, the second application read the
/// first one's history as its own (its rows `missing`, `reinit` erasing them). Now each
/// application's `status`, `up` and `down` see its own migrations alone; an unqualified name
/// is still refused (a typo, a renamed setting), its help naming both ways on.
#[test]
fn two_applications_with_separate_ledgers_in_one_database_each_see_their_own() {
    for (prefix, table) in [
        ("hled_two_public", "public.tb_second"),
        ("hled_two_ops", "ops.tb_second"),
    ] {
        let db = TestDb::new(prefix);
        db.connect().batch_execute("CREATE SCHEMA ops").unwrap();
        let first = three_migrations();
        first
            .run_on(&db, &["migrate", "up", "--steps", "2"])
            .code(exit::SUCCESS);
        let second = Project::new();
        second.migration(
            "001_create_b1",
            "CREATE TABLE b1 (id int);\n",
            "DROP TABLE b1;\n",
        );
        second.migration(
            "002_create_b2",
            "CREATE TABLE b2 (id int);\n",
            "DROP TABLE b2;\n",
        );
        let env = |tracking_table: &str| {
            second.write(
                "db/environments/b.yaml",
                format!(
                    "database_url: {}\nmigration:\n  tracking_table: {tracking_table}\n",
                    db.url()
                ),
            );
        };

        // Unqualified: still the guard against a mistyped or forgotten name, its help naming
        // the first ledger as a choice, never as the only way, and the separate ledger.
        env("tb_second");
        let refused = second.run(&["migrate", "status", "--env", "b"]);
        refused
            .code(exit::INVALID)
            .stderr_has("public.tb_confiture (2 rows)")
            .stderr_has("if it is this application's ledger, set `migration.tracking_table: public.tb_confiture`")
            .stderr_has("if it is another application's")
            .stderr_has("`migration.tracking_table: public.tb_second`");

        // Qualified: a ledger of its own, not made yet.
        env(table);
        second
            .run(&["migrate", "status", "--env", "b"])
            .code(exit::NOT_INITIALISED)
            .stderr_lacks("under another name")
            .stdout_lacks("tb_confiture");
        // Its first `up` is told of the first application's objects, as the help said.
        second
            .run(&["migrate", "up", "--env", "b"])
            .code(exit::DIVERGED)
            .stderr_has("--allow-non-empty");
        second
            .run(&["migrate", "up", "--env", "b", "--allow-non-empty"])
            .code(exit::SUCCESS);
        let status = second.run(&["migrate", "status", "--env", "b", "--format", "json"]);
        status.code(exit::SUCCESS);
        assert_eq!(versions(&status, "applied"), ["001", "002"], "{table}");
        assert_eq!(
            versions(&status, "pending"),
            Vec::<String>::new(),
            "{table}"
        );
        assert_eq!(status.json()["tracking_table"], table, "{table}");

        // The first application sees its own history alone: 003 pending, nothing missing.
        let status = first.run_on(&db, &["migrate", "status", "--format", "json"]);
        status.code(exit::PENDING);
        assert_eq!(versions(&status, "applied"), ["001", "002"], "{table}");
        assert_eq!(versions(&status, "pending"), ["003"], "{table}");
        first
            .status_on(&db)
            .code(exit::PENDING)
            .stdout_lacks("missing")
            .stderr_lacks("missing");

        // Each `down` and `up` moves its own ledger and objects alone.
        second
            .run(&["migrate", "down", "--env", "b"])
            .code(exit::SUCCESS);
        assert!(!db.has_relation("b2") && db.has_relation("t2"), "{table}");
        first.up_on(&db).code(exit::SUCCESS);
        assert!(db.has_relation("t3") && !db.has_relation("b2"), "{table}");
        assert_eq!(
            db.ledger().unwrap(),
            ["001:create_t1", "002:create_t2", "003:create_t3"],
            "{table}"
        );
        first.run_on(&db, &["migrate", "down"]).code(exit::SUCCESS);
        assert!(!db.has_relation("t3") && db.has_relation("b1"), "{table}");
        let status = second.run(&["migrate", "status", "--env", "b", "--format", "json"]);
        status.code(exit::PENDING);
        assert_eq!(versions(&status, "applied"), ["001"], "{table}");
        assert_eq!(versions(&status, "pending"), ["002"], "{table}");
        second
            .run(&["migrate", "up", "--env", "b"])
            .code(exit::SUCCESS);
        assert!(db.has_relation("b2"), "{table}");
        assert_eq!(
            db.ledger().unwrap(),
            ["001:create_t1", "002:create_t2"],
            "{table}"
        );
    }
}
