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
