//! `Migrator::status` against the real PostgreSQL: each state and exit code, confiture's own
//! ledger read correctly, and the database left exactly as it was.
#![cfg(feature = "db")]

use crate::common;

use common::{create_confiture_ledger, migration, migration_set, record_applied, TestDb};
use confiture::config::Environment;
use confiture::exit;
use confiture::files::{CheckOptions, MigrationSet};
use confiture::ledger::TrackingTable;
use confiture::status::State;
use confiture::Migrator;

fn migrator(db: &TestDb) -> Migrator {
    Migrator::new(db.environment(), "db/migrations", CheckOptions::default())
}

fn seed_set() -> MigrationSet {
    migration_set(vec![
        migration(
            "001",
            "add_bio_to_users",
            "ALTER TABLE tb_user ADD COLUMN bio TEXT;\n",
        ),
        migration(
            "002",
            "add_avatar_url",
            "ALTER TABLE tb_user ADD COLUMN avatar_url TEXT;\n",
        ),
        migration(
            "003",
            "create_tb_comment",
            "CREATE TABLE tb_comment (id int);\n",
        ),
    ])
}

/// Records `set`'s first `n` migrations as confiture (Python) would after applying them.
fn record_first(db: &TestDb, set: &MigrationSet, n: usize) {
    let mut client = db.client();
    create_confiture_ledger(&mut client, None);
    for (i, m) in set.migrations.iter().take(n).enumerate() {
        let at = format!("2026-01-{:02} 10:30:00+00", 15 + i);
        record_applied(
            &mut client,
            "tb_confiture",
            &m.version_text,
            &m.name,
            Some(&m.up.checksum),
            &at,
        );
    }
}

#[test]
fn without_a_ledger_everything_is_pending_and_exit_is_2() {
    let db = TestDb::new("cft_status");
    let report = migrator(&db).status_of(&seed_set()).unwrap();
    assert_eq!(report.exit_code(), exit::NOT_INITIALISED);
    assert!(!report.initialised);
    assert_eq!(report.tracking_table, "public.tb_confiture");
    assert_eq!(report.pending, ["001", "002", "003"]);
    assert_eq!(report.database.as_deref(), Some(db.display().as_str()));
}

#[test]
fn reads_confiture_s_ledger_applied_then_pending_exit_1() {
    let db = TestDb::new("cft_status");
    let set = seed_set();
    record_first(&db, &set, 2);
    let report = migrator(&db).status_of(&set).unwrap();
    assert_eq!(report.tracking_table, "public.tb_confiture");
    assert_eq!(report.applied, ["001", "002"]);
    assert_eq!(report.pending, ["003"]);
    assert_eq!(
        report.migrations[0].applied_at.as_deref(),
        Some("2026-01-15T10:30:00+00:00")
    );
    assert_eq!(report.exit_code(), exit::PENDING);
}

#[test]
fn all_applied_exit_0() {
    let db = TestDb::new("cft_status");
    let set = seed_set();
    record_first(&db, &set, 3);
    let report = migrator(&db).status_of(&set).unwrap();
    assert!(report.migrations.iter().all(|m| m.status == State::Applied));
    assert_eq!(report.exit_code(), exit::SUCCESS);
}

#[test]
fn an_edited_file_is_modified_and_a_deleted_one_missing_exit_7() {
    let db = TestDb::new("cft_status");
    let set = seed_set();
    record_first(&db, &set, 3);

    let mut edited = set.clone();
    edited.migrations[1] = migration(
        "002",
        "add_avatar_url",
        "ALTER TABLE tb_user ADD COLUMN avatar TEXT;\n",
    );
    let report = migrator(&db).status_of(&edited).unwrap();
    assert_eq!(report.modified, ["002"]);
    assert_eq!(report.exit_code(), exit::DIVERGED);

    let mut deleted = set.clone();
    deleted.migrations.remove(2);
    let report = migrator(&db).status_of(&deleted).unwrap();
    assert_eq!(report.missing, ["003"]);
    assert_eq!(
        report.migrations[2].name, "create_tb_comment",
        "named from the ledger"
    );
    assert_eq!(report.exit_code(), exit::DIVERGED);
}

#[test]
fn the_tracking_table_of_the_environment_is_used() {
    let db = TestDb::new("cft_status");
    let dir = common::TempDir::new("cft_status_env");
    let file = dir.write(
        "prod.yaml",
        &format!(
            "database_url: {}\nmigration:\n  tracking_table: ops.tb_confiture\n",
            db.url()
        ),
    );
    let env = Environment::from_file(&file, &|_| None).unwrap();
    assert_eq!(
        env.migration.tracking_table,
        TrackingTable::parse("ops.tb_confiture").unwrap()
    );
    let set = seed_set();
    let mut client = db.client();
    create_confiture_ledger(&mut client, Some("ops"));
    let m = &set.migrations[0];
    record_applied(
        &mut client,
        "ops.tb_confiture",
        &m.version_text,
        &m.name,
        Some(&m.up.checksum),
        "2026-01-15 10:30:00+00",
    );

    let report = Migrator::new(env, "db/migrations", CheckOptions::default())
        .status_of(&set)
        .unwrap();
    assert_eq!(report.tracking_table, "ops.tb_confiture");
    assert_eq!(report.applied, ["001"]);
}

#[test]
fn an_unreachable_database_is_exit_3() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = Environment::from_url(
        &format!("postgresql://postgres@127.0.0.1:{port}/x?sslmode=disable"),
        "--database-url",
    )
    .unwrap();
    let err = Migrator::new(env, "db/migrations", CheckOptions::default())
        .status_of(&seed_set())
        .expect_err("cannot connect");
    assert_eq!(err.exit_code(), exit::CONNECTION, "{err}");
}

/// Everything status could conceivably change: relations (name, file node), schemas, the
/// ledger's rows and their xmin, and its identity sequence.
fn snapshot(db: &TestDb, with_ledger: bool) -> Vec<String> {
    let mut client = db.client();
    let mut lines: Vec<String> = client
        .query(
            "SELECT c.oid::text || ' ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text || ' ' || c.relfilenode::text \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY c.oid",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    lines.extend(
        client
            .query(
                "SELECT oid::text || ' ' || nspname FROM pg_namespace ORDER BY oid",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0)),
    );
    if with_ledger {
        lines.extend(
            client
                .query("SELECT version || ' ' || xmin::text || ' ' || slug FROM tb_confiture ORDER BY version", &[])
                .unwrap()
                .iter()
                .map(|r| r.get::<_, String>(0)),
        );
        let last: i64 = client
            .query_one("SELECT last_value FROM tb_confiture_pk_confiture_seq", &[])
            .unwrap()
            .get(0);
        lines.push(format!("sequence {last}"));
    }
    lines
}

fn advisory_locks(db: &TestDb) -> i64 {
    db.client()
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .unwrap()
        .get(0)
}

#[test]
fn status_never_writes_without_a_ledger() {
    let db = TestDb::new("cft_status");
    let before = snapshot(&db, false);
    let mut migrator = migrator(&db);
    for _ in 0..2 {
        let report = migrator.status_of(&seed_set()).unwrap();
        assert_eq!(
            report.exit_code(),
            exit::NOT_INITIALISED,
            "still 2 on the next call"
        );
    }
    assert_eq!(advisory_locks(&db), 0, "no lock held by the open session");
    drop(migrator);
    assert_eq!(snapshot(&db, false), before);
}

#[test]
fn status_never_writes_with_a_ledger() {
    let db = TestDb::new("cft_status");
    let set = seed_set();
    record_first(&db, &set, 2);
    let before = snapshot(&db, true);
    let mut migrator = migrator(&db);
    let report = migrator.status_of(&set).unwrap();
    assert_eq!(report.exit_code(), exit::PENDING);
    assert_eq!(advisory_locks(&db), 0, "no lock held by the open session");
    drop(migrator);
    assert_eq!(snapshot(&db, true), before);
}
