//! `Migrator::status` end to end: a workspace on disk (Cargo.toml, environment file, migration
//! files), the real PostgreSQL, and the exit code after each change a team makes.
#![cfg(feature = "db")]

use crate::common;

use common::{create_confiture_ledger, record_applied, TempDir, TestDb};
use confiture::exit;
use confiture::files::checksum;
use confiture::Migrator;

const UP_1: &str = "CREATE TABLE tb_user (id int);\n";
const UP_2: &str = "ALTER TABLE tb_user ADD COLUMN bio TEXT;\n";

/// A workspace whose `db/environments/test.yaml` names `db`, with two migrations.
fn project(db: &TestDb) -> TempDir {
    let root = TempDir::new("cft_project");
    root.write(
        "Cargo.toml",
        "[workspace]\nmembers = []\n\n[workspace.metadata.confiture]\nmigrations_dir = \"db/migrations\"\n",
    );
    root.write(
        "db/environments/test.yaml",
        &format!("database_url: {}\n", db.url()),
    );
    root.write("db/migrations/001_create_users.up.sql", UP_1);
    root.write(
        "db/migrations/001_create_users.down.sql",
        "DROP TABLE tb_user;\n",
    );
    root.write("db/migrations/002_add_bio.up.sql", UP_2);
    root.write(
        "db/migrations/002_add_bio.down.sql",
        "ALTER TABLE tb_user DROP COLUMN bio;\n",
    );
    root
}

fn status_code(root: &TempDir) -> u8 {
    let mut migrator =
        Migrator::from_config(root.path().join("db/environments/test.yaml")).expect("config");
    migrator.status().expect("status").exit_code()
}

#[test]
fn exit_codes_follow_the_team_s_changes() {
    let db = TestDb::new("cft_project");
    let root = project(&db);
    let mut migrator =
        Migrator::from_config(root.path().join("db/environments/test.yaml")).unwrap();
    assert_eq!(migrator.migrations_dir(), root.path().join("db/migrations"));
    let report = migrator.status().unwrap();
    assert_eq!(report.exit_code(), exit::NOT_INITIALISED);
    assert_eq!(report.pending, ["001", "002"]);
    assert_eq!(report.migrations[0].id(), "001_create_users");

    let mut client = db.client();
    create_confiture_ledger(&mut client, None);
    let at = "2026-01-15 10:30:00+00";
    record_applied(
        &mut client,
        "tb_confiture",
        "001",
        "create_users",
        Some(&checksum(UP_1.as_bytes())),
        at,
    );
    assert_eq!(status_code(&root), exit::PENDING);

    record_applied(
        &mut client,
        "tb_confiture",
        "002",
        "add_bio",
        Some(&checksum(UP_2.as_bytes())),
        at,
    );
    assert_eq!(status_code(&root), exit::SUCCESS);

    // Someone edits an applied migration: refused as modified.
    root.write(
        "db/migrations/002_add_bio.up.sql",
        "ALTER TABLE tb_user ADD COLUMN bio VARCHAR;\n",
    );
    assert_eq!(status_code(&root), exit::DIVERGED);
    root.write("db/migrations/002_add_bio.up.sql", UP_2);
    assert_eq!(status_code(&root), exit::SUCCESS);

    // Someone deletes the latest applied migration's files: missing.
    std::fs::remove_file(root.path().join("db/migrations/002_add_bio.up.sql")).unwrap();
    std::fs::remove_file(root.path().join("db/migrations/002_add_bio.down.sql")).unwrap();
    let report = Migrator::from_config(root.path().join("db/environments/test.yaml"))
        .unwrap()
        .status()
        .unwrap();
    assert_eq!(report.missing, ["002"]);
    assert_eq!(report.exit_code(), exit::DIVERGED);
}

/// A draft being written does not hide the database: the report has every migration, the
/// diagnostics, the draft marked invalid, and exit 5 (what `up` would answer).
#[test]
fn invalid_migration_files_are_reported_with_the_table_exit_5() {
    let db = TestDb::new("cft_project");
    let root = project(&db);
    let mut client = db.client();
    create_confiture_ledger(&mut client, None);
    record_applied(
        &mut client,
        "tb_confiture",
        "001",
        "create_users",
        Some(&checksum(UP_1.as_bytes())),
        "2026-01-15 10:30:00+00",
    );
    // 003 has no down file yet (C001); 002 is complete but commits on its own (C100).
    root.write(
        "db/migrations/003_draft.up.sql",
        "CREATE TABLE d (id int);\n",
    );
    root.write(
        "db/migrations/002_add_bio.up.sql",
        "ALTER TABLE tb_user ADD COLUMN bio TEXT;\nCOMMIT;\n",
    );
    let report = Migrator::from_config(root.path().join("db/environments/test.yaml"))
        .unwrap()
        .status()
        .expect("status reads the database despite the broken drafts");
    assert_eq!(report.exit_code(), exit::INVALID);
    let lines: Vec<(String, &str, bool)> = report
        .migrations
        .iter()
        .map(|m| (m.id(), m.status.as_str(), m.invalid))
        .collect();
    assert_eq!(
        lines,
        [
            ("001_create_users".to_string(), "applied", false),
            ("002_add_bio".to_string(), "pending", true),
            ("003_draft".to_string(), "pending", true),
        ]
    );
    let codes: Vec<&str> = report.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["C100", "C001"]);
    assert_eq!((report.summary.errors, report.summary.invalid), (2, 2));
}

/// Two pairs sharing a version (C003) are both lines of the report, both invalid, whichever of
/// them (or neither) the ledger records, and whether the version is the newest or below it:
/// a pair the ledger does not record is never left out of the table, the JSON or the counts.
#[test]
fn every_pair_sharing_a_version_is_a_line_of_the_report() {
    const UP_C: &str = "CREATE TABLE tb_c (id int);\n";
    let db = TestDb::new("cft_project");
    let root = project(&db);
    root.write("db/migrations/002_c.up.sql", UP_C);
    root.write("db/migrations/002_c.down.sql", "DROP TABLE tb_c;\n");
    let mut client = db.client();
    create_confiture_ledger(&mut client, None);
    let at = "2026-01-15 10:30:00+00";
    record_applied(
        &mut client,
        "tb_confiture",
        "001",
        "create_users",
        Some(&checksum(UP_1.as_bytes())),
        at,
    );
    let report_lines = |root: &TempDir| {
        let report = Migrator::from_config(root.path().join("db/environments/test.yaml"))
            .unwrap()
            .status()
            .expect("status");
        let lines: Vec<(String, &'static str, bool)> = (report.migrations.iter())
            .map(|m| (m.id(), m.status.as_str(), m.invalid))
            .collect();
        let s = &report.summary;
        (
            report.exit_code(),
            lines,
            (s.applied, s.pending, s.total, s.invalid),
        )
    };
    let line = |id: &str, state: &'static str| (id.to_string(), state, id != "001_create_users");

    // Neither is applied: both pending.
    assert_eq!(
        report_lines(&root),
        (
            exit::INVALID,
            vec![
                line("001_create_users", "applied"),
                line("002_add_bio", "pending"),
                line("002_c", "pending"),
            ],
            (1, 2, 3, 2)
        )
    );

    // The one the set does not keep (by name) is applied: the kept one is still listed.
    record_applied(
        &mut client,
        "tb_confiture",
        "002",
        "c",
        Some(&checksum(UP_C.as_bytes())),
        at,
    );
    let (code, lines, counts) = report_lines(&root);
    assert_eq!(code, exit::INVALID);
    assert_eq!(
        lines,
        [
            line("001_create_users", "applied"),
            line("002_c", "applied"),
            line("002_add_bio", "pending"),
        ]
    );
    assert_eq!(counts, (2, 1, 3, 2));

    // The kept one is applied: the other is still listed.
    client
        .batch_execute("DELETE FROM tb_confiture WHERE version = '002'")
        .unwrap();
    record_applied(
        &mut client,
        "tb_confiture",
        "002",
        "add_bio",
        Some(&checksum(UP_2.as_bytes())),
        at,
    );
    let (_, lines, counts) = report_lines(&root);
    assert_eq!(
        lines,
        [
            line("001_create_users", "applied"),
            line("002_add_bio", "applied"),
            line("002_c", "pending"),
        ]
    );
    assert_eq!(counts, (2, 1, 3, 2));

    // Below the newest applied version: both out of order.
    client
        .batch_execute("DELETE FROM tb_confiture WHERE version = '002'")
        .unwrap();
    root.write(
        "db/migrations/003_d.up.sql",
        "CREATE TABLE tb_d (id int);\n",
    );
    root.write("db/migrations/003_d.down.sql", "DROP TABLE tb_d;\n");
    record_applied(
        &mut client,
        "tb_confiture",
        "003",
        "d",
        Some(&checksum(b"CREATE TABLE tb_d (id int);\n")),
        at,
    );
    let (_, lines, counts) = report_lines(&root);
    assert_eq!(
        lines,
        [
            line("001_create_users", "applied"),
            line("002_add_bio", "out_of_order"),
            line("002_c", "out_of_order"),
            ("003_d".to_string(), "applied", false),
        ]
    );
    assert_eq!(counts, (2, 2, 4, 2));
}

/// A directory that cannot be read is still an error, before connecting.
#[test]
fn a_missing_migrations_directory_is_exit_5_before_connecting() {
    let root = TempDir::new("cft_project");
    root.write("Cargo.toml", "[workspace]\nmembers = []\n");
    // Nothing listens on port 1: reaching the database would be exit 3, not 5.
    root.write(
        "db/environments/test.yaml",
        "database_url: postgresql://u@127.0.0.1:1/x\n",
    );
    let err = Migrator::from_config(root.path().join("db/environments/test.yaml"))
        .unwrap()
        .status()
        .expect_err("no migrations directory");
    assert_eq!(err.exit_code(), exit::INVALID, "{err} {:?}", err.details);
}

#[test]
fn from_env_and_from_url_use_the_workspace_s_migrations() {
    let db = TestDb::new("cft_project");
    let root = project(&db);
    let ws = confiture::workspace::Workspace::discover(root.path()).unwrap();
    let mut migrator = Migrator::from_env(&ws, "test").unwrap();
    assert_eq!(
        migrator.status().unwrap().exit_code(),
        exit::NOT_INITIALISED
    );

    // The test runs in the confiture package: from_url finds this repository's workspace.
    let migrator = Migrator::from_url(&db.url()).unwrap();
    assert!(
        migrator.migrations_dir().ends_with("db/migrations"),
        "{:?}",
        migrator.migrations_dir()
    );
    assert_eq!(migrator.environment().connection.dbname, db.name);
}

/// `status` reads the ledger on the thread that connects, while the files are read and checked;
/// a session already connected reads it itself, after the files. Both give the same report:
/// without a ledger (the schema-qualified name asked separately) and with one, with every kind
/// of line — applied, modified, pending, an invalid down file, a draft without its down file.
#[test]
fn the_ledger_read_while_connecting_gives_the_report_read_after_the_files() {
    let db = TestDb::new("cft_project");
    let root = project(&db);
    root.write(
        "db/migrations/003_broken_down.up.sql",
        "CREATE TABLE tb_three (id int);\n",
    );
    root.write(
        "db/migrations/003_broken_down.down.sql",
        "DROP TABLE tb_three;\nCOMMIT;\n",
    );
    root.write(
        "db/migrations/004_draft.up.sql",
        "CREATE TABLE tb_four (id int);\n",
    );
    let config = root.path().join("db/environments/test.yaml");
    let both = || {
        let ahead = Migrator::from_config(&config).unwrap().status().unwrap();
        let serial = Migrator::from_config(&config)
            .unwrap()
            .with_client(db.client())
            .status()
            .unwrap();
        (ahead, serial)
    };

    let (ahead, serial) = both();
    assert_eq!(ahead, serial);
    assert!(!ahead.initialised);
    assert_eq!(ahead.tracking_table, "public.tb_confiture");

    let mut client = db.client();
    create_confiture_ledger(&mut client, None);
    let at = "2026-01-15 10:30:00+00";
    record_applied(
        &mut client,
        "tb_confiture",
        "001",
        "create_users",
        Some(&checksum(UP_1.as_bytes())),
        at,
    );
    record_applied(
        &mut client,
        "tb_confiture",
        "002",
        "add_bio",
        Some(&checksum(b"edited")),
        at,
    );
    let (ahead, serial) = both();
    assert_eq!(ahead, serial);
    assert_eq!(ahead.applied, ["001", "002"]);
    assert_eq!(ahead.modified, ["002"]);
    assert_eq!(ahead.pending, ["003", "004"]);
    let invalid: Vec<String> = ahead
        .migrations
        .iter()
        .filter(|m| m.invalid)
        .map(|m| m.id())
        .collect();
    assert_eq!(invalid, ["003_broken_down", "004_draft"]);
    let named: Vec<String> = ahead
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(named, ["003_broken_down.down.sql", "004_draft.up.sql"]);
    assert_eq!(ahead.exit_code(), exit::INVALID);
}

/// Relays connections to the server under test, recording the type and length of each
/// message a client sends after its startup packet (`sslmode=disable`: no TLS to look
/// through), so that a test can count what a command asked the server.
struct CountingRelay {
    addr: std::net::SocketAddr,
    sent: std::sync::Arc<std::sync::Mutex<Vec<(u8, u32)>>>,
}

impl CountingRelay {
    fn start() -> CountingRelay {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = std::sync::Arc::default();
        let record = std::sync::Arc::clone(&sent);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let upstream = common::server().host_port();
                let Ok(server) = std::net::TcpStream::connect(upstream) else {
                    return;
                };
                let (mut back_from, mut back_to) =
                    (server.try_clone().unwrap(), client.try_clone().unwrap());
                std::thread::spawn(move || std::io::copy(&mut back_from, &mut back_to));
                let record: std::sync::Arc<std::sync::Mutex<Vec<(u8, u32)>>> =
                    std::sync::Arc::clone(&record);
                std::thread::spawn(move || -> Option<()> {
                    // A message's head, then the rest of its `len` bytes (the length
                    // counts itself).
                    let relay = |client: &mut std::net::TcpStream, len: u32, head: &[u8]| {
                        let mut body = vec![0u8; (len as usize).checked_sub(4)?];
                        client.read_exact(&mut body).ok()?;
                        (&server).write_all(head).ok()?;
                        (&server).write_all(&body).ok()
                    };
                    let mut head = [0u8; 4];
                    client.read_exact(&mut head).ok()?;
                    relay(&mut client, u32::from_be_bytes(head), &head)?;
                    loop {
                        let mut head = [0u8; 5];
                        client.read_exact(&mut head).ok()?;
                        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
                        record.lock().unwrap().push((head[0], len));
                        relay(&mut client, len, &head)?;
                    }
                });
            }
        });
        CountingRelay { addr, sent }
    }

    /// The simple-query messages sent so far, and how many of them were empty (a liveness
    /// probe: `Q`, its length, a lone NUL).
    fn queries(&self) -> (usize, usize) {
        let sent = self.sent.lock().unwrap();
        let queries = sent.iter().filter(|(kind, _)| *kind == b'Q');
        let empty = queries.clone().filter(|(_, len)| *len == 5).count();
        (queries.count(), empty)
    }
}

/// `status` asks the server only what its report needs: the ledger read, one message, and
/// nothing after it when no run was left part-way and no pending migration builds an index
/// concurrently — no liveness probe of the connection it has just read the ledger on (each
/// was a round trip on the way to the report, after the files). Without a ledger, with one
/// and a pending migration, and with everything applied.
#[test]
fn status_sends_the_ledger_read_alone() {
    let db = TestDb::new("cft_project");
    let root = project(&db);
    let relay = CountingRelay::start();
    let url = db
        .url()
        .replacen(&common::server().host_port(), &relay.addr.to_string(), 1);
    root.write(
        "db/environments/test.yaml",
        &format!("database_url: {url}\n"),
    );
    // Without a ledger, what the ledger would need is asked too (no ledger is no error),
    // never a probe.
    assert_eq!(status_code(&root), exit::NOT_INITIALISED);
    let (mut expected, probes) = relay.queries();
    assert_eq!(probes, 0, "no ledger");
    let mut status = |code: u8, what: &str| {
        assert_eq!(status_code(&root), code, "{what}");
        expected += 1;
        assert_eq!(relay.queries(), (expected, 0), "{what}");
    };
    let mut client = db.client();
    create_confiture_ledger(&mut client, None);
    let at = "2026-01-15 10:30:00+00";
    let up_1 = Some(checksum(UP_1.as_bytes()));
    record_applied(
        &mut client,
        "tb_confiture",
        "001",
        "create_users",
        up_1.as_deref(),
        at,
    );
    status(exit::PENDING, "one pending");
    let up_2 = Some(checksum(UP_2.as_bytes()));
    record_applied(
        &mut client,
        "tb_confiture",
        "002",
        "add_bio",
        up_2.as_deref(),
        at,
    );
    status(exit::SUCCESS, "all applied");
}
