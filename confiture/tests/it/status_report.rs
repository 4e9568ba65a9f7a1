//! `status::report`: the pure decision over files and ledger rows, its exit codes and its JSON.

use crate::common;

use common::{migration, migration_set};
use confiture::exit;
use confiture::files::{checksum, MigrationSet};
use confiture::ledger::{Ledger, LedgerRow};
use confiture::status::{report, State, StatusReport};

fn row(version: &str, name: &str, up: Option<&str>, applied_at: &str) -> LedgerRow {
    LedgerRow {
        version: version.to_string(),
        name: name.to_string(),
        applied_at: applied_at.to_string(),
        execution_time_ms: Some(5),
        checksum: up.map(|text| checksum(text.as_bytes())),
        applied_by: Some("postgres".to_string()),
        slug: None,
        archived_into: None,
    }
}

/// A start marker of `version`'s run in `direction` (`up`, `down`), started by `app` from
/// 10.0.0.7, statement 2 of 3 sent last.
fn start_marker(version: &str, name: &str, direction: &str) -> confiture::ledger::StartedRun {
    let values = [
        version,
        name,
        direction,
        "abc",
        "2026-01-15T10:30:00+00:00",
        "app",
        "10.0.0.7",
        "2",
        "3",
    ];
    confiture::ledger::StartedRun::parse(|i| values.get(i).map(|v| v.to_string()))
        .expect("a marker")
}

fn ledger(rows: Vec<LedgerRow>) -> Ledger {
    Ledger {
        started: Vec::new(),
        table: "public.tb_confiture".to_string(),
        rows,
    }
}

fn states(report: &StatusReport) -> Vec<(String, State)> {
    report
        .migrations
        .iter()
        .map(|m| (m.version.clone(), m.status))
        .collect()
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
        migration(
            "004",
            "add_comment_views",
            "CREATE INDEX i ON tb_post(fk_user);\n",
        ),
    ])
}

#[test]
fn the_seed_example_exits_1_with_the_seed_json() {
    let set = seed_set();
    let ledger = ledger(vec![
        row(
            "001",
            "add_bio_to_users",
            Some(&set.migrations[0].up.text),
            "2026-01-15T10:30:00+00:00",
        ),
        row(
            "002",
            "add_avatar_url",
            Some(&set.migrations[1].up.text),
            "2026-01-20T14:22:00+00:00",
        ),
    ]);
    let report = report(&set, Some(&ledger), "public.tb_confiture");
    assert_eq!(report.exit_code(), exit::PENDING);
    assert!(report.has_pending() && !report.is_up_to_date());

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["tracking_table"], "public.tb_confiture");
    assert_eq!(json["applied"], serde_json::json!(["001", "002"]));
    assert_eq!(json["pending"], serde_json::json!(["003", "004"]));
    assert_eq!(json["summary"]["applied"], 2);
    assert_eq!(json["summary"]["pending"], 2);
    assert_eq!(json["summary"]["total"], 4);
    let first = &json["migrations"][0];
    assert_eq!(first["version"], "001");
    assert_eq!(first["name"], "add_bio_to_users");
    assert_eq!(first["status"], "applied");
    assert_eq!(first["applied_at"], "2026-01-15T10:30:00+00:00");
    let third = &json["migrations"][2];
    assert_eq!(third["status"], "pending");
    assert!(third["applied_at"].is_null());
}

#[test]
fn json_has_the_seed_keys_then_ours_and_nothing_renamed() {
    let set = seed_set();
    let report = report(&set, Some(&ledger(vec![])), "public.tb_confiture");
    let json = serde_json::to_value(&report).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for seed_key in [
        "tracking_table",
        "applied",
        "pending",
        "migrations",
        "summary",
    ] {
        assert!(keys.contains(&seed_key), "{seed_key} in {keys:?}");
    }
    for ours in [
        "database",
        "initialised",
        "modified",
        "missing",
        "out_of_order",
        "unrecorded",
    ] {
        assert!(keys.contains(&ours), "{ours} in {keys:?}");
    }
    let summary: Vec<&str> = json["summary"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "applied",
        "pending",
        "total",
        "modified",
        "missing",
        "out_of_order",
    ] {
        assert!(summary.contains(&key), "summary.{key}");
    }
    let migration: Vec<&str> = json["migrations"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "version",
        "name",
        "status",
        "applied_at",
        "checksum",
        "recorded_checksum",
    ] {
        assert!(migration.contains(&key), "migrations[].{key}");
    }
    // serde_json keeps declaration order: the seed's keys come first, in the seed's order.
    let text = serde_json::to_string(&report).unwrap();
    let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
    assert!(at("tracking_table") < at("applied") && at("applied") < at("pending"));
    assert!(at("pending") < at("migrations") && at("migrations") < at("summary"));
}

#[test]
fn everything_applied_exits_0() {
    let set = seed_set();
    let rows = set
        .migrations
        .iter()
        .map(|m| {
            row(
                &m.version_text,
                &m.name,
                Some(&m.up.text),
                "2026-01-15T10:30:00+00:00",
            )
        })
        .collect();
    let report = report(&set, Some(&ledger(rows)), "public.tb_confiture");
    assert_eq!(report.exit_code(), exit::SUCCESS);
    assert!(report.is_up_to_date());
    assert_eq!(report.summary.applied, 4);
    assert!(report.migrations.iter().all(|m| m.status == State::Applied));
}

#[test]
fn no_tracking_table_exits_2_with_everything_pending() {
    let report = report(&seed_set(), None, "public.tb_confiture");
    assert_eq!(report.exit_code(), exit::NOT_INITIALISED);
    assert!(!report.initialised);
    assert_eq!(report.tracking_table, "public.tb_confiture");
    assert_eq!(report.pending, ["001", "002", "003", "004"]);
    assert_eq!(report.summary.pending, 4);
    // Even with no migrations at all, a missing table is exit 2.
    let report = confiture::status::report(&migration_set(vec![]), None, "public.tb_confiture");
    assert_eq!(report.exit_code(), exit::NOT_INITIALISED);
    // An existing but empty ledger with no migrations is up to date.
    let report = confiture::status::report(&migration_set(vec![]), Some(&ledger(vec![])), "t");
    assert_eq!(report.exit_code(), exit::SUCCESS);
}

#[test]
fn an_edited_applied_file_is_modified_and_exits_7() {
    let set = seed_set();
    let rows = vec![row(
        "001",
        "add_bio_to_users",
        Some("the file as it was when applied\n"),
        "2026-01-15T10:30:00+00:00",
    )];
    let report = report(&set, Some(&ledger(rows)), "public.tb_confiture");
    assert_eq!(states(&report)[0], ("001".to_string(), State::Modified));
    assert_eq!(report.modified, ["001"]);
    assert_eq!(
        report.applied,
        ["001"],
        "a modified migration is still applied"
    );
    assert_eq!(report.exit_code(), exit::DIVERGED, "7 wins over pending");
    let m = &report.migrations[0];
    assert_eq!(
        m.checksum.as_deref(),
        Some(set.migrations[0].up.checksum.as_str())
    );
    assert_ne!(m.recorded_checksum, m.checksum);
}

#[test]
fn a_row_without_checksum_counts_as_applied() {
    let set = migration_set(vec![migration("001", "a", "SELECT 1;\n")]);
    let report = report(
        &set,
        Some(&ledger(vec![row(
            "001",
            "a",
            None,
            "2026-01-15T10:30:00+00:00",
        )])),
        "t",
    );
    assert_eq!(states(&report), [("001".to_string(), State::Applied)]);
    assert_eq!(report.exit_code(), exit::SUCCESS);
}

#[test]
fn a_recorded_migration_without_file_is_missing_and_exits_7() {
    let set = migration_set(vec![
        migration("001", "a", "SELECT 1;\n"),
        migration("003", "c", "SELECT 3;\n"),
    ]);
    let rows = vec![
        row("001", "a", Some("SELECT 1;\n"), "2026-01-15T10:30:00+00:00"),
        row("002", "b", Some("SELECT 2;\n"), "2026-01-16T10:30:00+00:00"),
        row("003", "c", Some("SELECT 3;\n"), "2026-01-17T10:30:00+00:00"),
    ];
    let report = report(&set, Some(&ledger(rows)), "t");
    assert_eq!(
        states(&report),
        [
            ("001".to_string(), State::Applied),
            ("002".to_string(), State::Missing),
            ("003".to_string(), State::Applied)
        ]
    );
    let missing = &report.migrations[1];
    assert_eq!(missing.name, "b");
    assert_eq!(
        missing.applied_at.as_deref(),
        Some("2026-01-16T10:30:00+00:00")
    );
    assert_eq!(missing.checksum, None);
    assert_eq!(report.missing, ["002"]);
    assert_eq!(report.summary.total, 3);
    assert_eq!(report.exit_code(), exit::DIVERGED);
}

#[test]
fn a_pending_migration_older_than_the_newest_applied_is_out_of_order() {
    let set = migration_set(vec![
        migration("001", "a", "SELECT 1;\n"),
        migration("002", "merged_late", "SELECT 2;\n"),
        migration("003", "c", "SELECT 3;\n"),
        migration("004", "d", "SELECT 4;\n"),
    ]);
    let rows = vec![
        row("001", "a", Some("SELECT 1;\n"), "2026-01-15T10:30:00+00:00"),
        row("003", "c", Some("SELECT 3;\n"), "2026-01-17T10:30:00+00:00"),
    ];
    let report = report(&set, Some(&ledger(rows)), "t");
    assert_eq!(report.migrations[1].status, State::OutOfOrder);
    assert_eq!(report.migrations[3].status, State::Pending);
    assert_eq!(report.out_of_order, ["002"]);
    assert_eq!(
        report.pending,
        ["002", "004"],
        "out of order still has to be applied"
    );
    assert_eq!(report.summary.pending, 2);
    assert_eq!(
        report.summary.applied + report.summary.pending,
        report.summary.total
    );
    assert_eq!(report.exit_code(), exit::DIVERGED);
}

#[test]
fn versions_compare_as_integers() {
    // As strings, "9" > "10": confiture (Python) would call 9 out of order here.
    let set = migration_set(vec![
        migration("9", "nine", "SELECT 9;\n"),
        migration("10", "ten", "SELECT 10;\n"),
        migration("11", "eleven", "SELECT 11;\n"),
    ]);
    let rows = vec![
        row(
            "9",
            "nine",
            Some("SELECT 9;\n"),
            "2026-01-15T10:30:00+00:00",
        ),
        row(
            "10",
            "ten",
            Some("SELECT 10;\n"),
            "2026-01-16T10:30:00+00:00",
        ),
    ];
    let report = report(&set, Some(&ledger(rows)), "t");
    assert_eq!(report.applied, ["9", "10"]);
    assert_eq!(report.pending, ["11"]);
    assert_eq!(report.exit_code(), exit::PENDING);
    // Each line carries its version as the history parsed it (`drift` replays up to the
    // newest applied one from it, never parsing the text again).
    let numbers: Vec<_> = report.migrations.iter().map(|m| m.number).collect();
    assert_eq!(numbers, [Some(9), Some(10), Some(11)]);
}

#[test]
fn rows_match_files_by_integer_version() {
    // Recorded as "1" by some other tool, file named 001: the same migration.
    let set = migration_set(vec![migration("001", "a", "SELECT 1;\n")]);
    let report = report(
        &set,
        Some(&ledger(vec![row(
            "1",
            "a",
            Some("SELECT 1;\n"),
            "2026-01-15T10:30:00+00:00",
        )])),
        "t",
    );
    assert_eq!(states(&report), [("001".to_string(), State::Applied)]);
    // A row whose version is not a number matches no file: missing, listed last.
    let rows = vec![
        row("001", "a", Some("SELECT 1;\n"), "2026-01-15T10:30:00+00:00"),
        row("legacy", "x", None, "2026-01-14T10:30:00+00:00"),
    ];
    let report = confiture::status::report(&set, Some(&ledger(rows)), "t");
    assert_eq!(
        states(&report),
        [
            ("001".to_string(), State::Applied),
            ("legacy".to_string(), State::Missing)
        ]
    );
    let numbers: Vec<_> = report.migrations.iter().map(|m| m.number).collect();
    assert_eq!(numbers, [Some(1), None]);
}

/// A set whose files could not all be read, reported without its diagnostics (as
/// `Migrator::status_of` does): the unreadable migrations are still `unreadable`, listed and
/// counted, and the exit code is still 5 — the set itself says so, not only its diagnostics.
#[test]
fn unreadable_files_exit_5_even_without_their_diagnostics() {
    use confiture::files::{check, CheckOptions, Entry};
    let dir = std::path::Path::new("m");
    let file = |name: &str| Entry::File {
        path: dir.join(name),
        bytes: b"SELECT 1;\n".to_vec(),
    };
    let denied = |name: &str| Entry::Unreadable {
        path: dir.join(name),
        error: "Permission denied (os error 13)".to_string(),
    };
    let entries = vec![
        file("001_a.up.sql"),
        file("001_a.down.sql"),
        denied("002_b.up.sql"),
        file("002_b.down.sql"),
        file("003_c.up.sql"),
        denied("003_c.down.sql"),
    ];
    let checked = check(dir, entries, &CheckOptions::default());
    let ledger = ledger(vec![
        row("001", "a", Some("SELECT 1;\n"), "2026-01-15T10:30:00+00:00"),
        row("002", "b", Some("SELECT 1;\n"), "2026-01-15T10:30:01+00:00"),
    ]);
    let report = report(&checked.set, Some(&ledger), "public.tb_confiture");
    assert_eq!(
        states(&report),
        [
            ("001".to_string(), State::Applied),
            ("002".to_string(), State::Unreadable { recorded: true }),
            ("003".to_string(), State::Unreadable { recorded: false }),
        ]
    );
    assert_eq!(report.unreadable, ["002", "003"]);
    assert!(report.missing.is_empty());
    assert_eq!(
        (
            report.summary.applied,
            report.summary.pending,
            report.summary.unreadable
        ),
        (2, 1, 2)
    );
    assert_eq!(report.summary.errors, 0);
    assert_eq!(report.exit_code(), exit::INVALID);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["migrations"][1]["status"], "unreadable");
    assert_eq!(
        json["migrations"][2]["unreadable_files"],
        serde_json::json!([{"path": "m/003_c.down.sql", "error": "Permission denied (os error 13)"}])
    );
}

/// A start marker a run left beside the ledger (`Ledger::started`) makes its no-transaction
/// migration `interrupted`: counted among the pending, listed in `interrupted`, its marker in
/// its line (`started`), exit 7. A marker whose migration is transactional now, or contradicts
/// the ledger (an up marker of an applied migration), changes nothing.
#[test]
fn a_start_marker_makes_its_no_transaction_migration_interrupted() {
    use confiture::files::{SqlFile, TransactionMode};
    let mut no_tx = migration("002", "ix", "CREATE INDEX CONCURRENTLY i ON t (id);\n");
    no_tx.up = SqlFile::new(
        "db/migrations/002_ix.up.sql",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (id);\n",
        TransactionMode::NoTransaction,
        false,
    );
    let set = migration_set(vec![
        migration("001", "t", "CREATE TABLE t (id int);\n"),
        no_tx,
        migration("003", "u", "CREATE TABLE u (id int);\n"),
    ]);
    let marker = |version: &str, name: &str| start_marker(version, name, "up");
    let mut l = ledger(vec![row(
        "001",
        "t",
        Some("CREATE TABLE t (id int);\n"),
        "2026-01-15T10:00:00+00:00",
    )]);
    l.started = vec![marker("001", "t"), marker("002", "ix"), marker("003", "u")];
    let r = confiture::status::report(&set, Some(&l), "public.tb_confiture");
    assert_eq!(
        states(&r),
        [
            ("001".to_string(), State::Applied),
            ("002".to_string(), State::Interrupted { recorded: false }),
            ("003".to_string(), State::Pending),
        ]
    );
    assert_eq!(r.interrupted, ["002"]);
    assert_eq!(r.pending, ["002", "003"]);
    assert_eq!(
        (r.summary.applied, r.summary.pending, r.summary.total),
        (1, 2, 3)
    );
    assert_eq!(r.summary.interrupted, 1);
    assert_eq!(r.exit_code(), exit::DIVERGED);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["migrations"][1]["status"], "interrupted");
    assert_eq!(json["migrations"][1]["started"]["statement"], 2);
    assert_eq!(json["migrations"][1]["started"]["client_addr"], "10.0.0.7");
    assert!(json["migrations"][2].get("started").is_none(), "{json}");
    let help = r.interrupted_help();
    assert_eq!(help.len(), 1);
    assert!(help[0].contains("002_ix was interrupted"), "{help:?}");
    assert!(
        help[0].contains("migrate baseline --through 002"),
        "{help:?}"
    );
    assert_eq!(
        l.started[1].committed(),
        "statement 1 committed; statement 2 of 3 was running: it may have committed"
    );
}

/// A start marker of an apply that no ledger row and no file here has — a newer build's
/// no-transaction migration interrupted, seen from an older checkout — is `interrupted`, never
/// stale: a line of its own named by the marker (no checksum), listed in `interrupted` and
/// `interrupted_unknown`, exit 7, as a row with no file is `missing`; one line per number
/// (`005` and `0005`: the first by version text). A marker of a version a row records (a `missing` row: refused as such)
/// or of a rollback with no row (stale) is not one. `up` and `down` refuse to run over it
/// (exit 7), `--rerun-interrupted` or not. While a run holds the lock, the marker is that run's:
/// pending, not interrupted.
#[test]
fn a_start_marker_no_file_here_has_is_interrupted_and_refused() {
    use confiture::files::Direction;
    use confiture::history::History;
    let set = migration_set(vec![
        migration("001", "t", "CREATE TABLE t (id int);\n"),
        migration("002", "u", "CREATE TABLE u (id int);\n"),
    ]);
    let marker = start_marker;
    let mut l = ledger(vec![
        row(
            "001",
            "t",
            Some("CREATE TABLE t (id int);\n"),
            "2026-01-15T10:00:00+00:00",
        ),
        row("004", "w", Some("x"), "2026-01-15T10:10:00+00:00"),
    ]);
    l.started = vec![
        marker("0005", "ix", "up"),
        marker("005", "ix", "up"),
        marker("004", "w", "up"),
        marker("007", "gone", "down"),
    ];
    let r = report(&set, Some(&l), "public.tb_confiture");
    assert_eq!(
        states(&r),
        [
            ("001".to_string(), State::Applied),
            ("002".to_string(), State::OutOfOrder),
            ("004".to_string(), State::Missing),
            ("0005".to_string(), State::Interrupted { recorded: false }),
        ]
    );
    assert_eq!(r.interrupted, ["0005"]);
    assert_eq!(r.interrupted_unknown, ["0005"]);
    assert_eq!(r.summary.interrupted, 1);
    assert_eq!(r.exit_code(), exit::DIVERGED);
    let line = &r.migrations[3];
    assert_eq!((line.name.as_str(), line.checksum.as_ref()), ("ix", None));
    assert_eq!(line.started.as_ref().map(|m| m.statement), Some(2));
    assert!(
        r.migrations[2].started.is_none(),
        "a missing row keeps its state"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["interrupted_unknown"], serde_json::json!(["0005"]));
    assert_eq!(json["migrations"][3]["status"], "interrupted");
    let help = r.interrupted_help();
    assert_eq!(help.len(), 1, "{help:?}");
    assert!(
        help[0].contains("0005_ix was interrupted part-way")
            && help[0].contains("no file here has its version"),
        "{help:?}"
    );

    // Alone, without the missing row: the refusal is its own, in both directions, rerun or not.
    l.rows.pop();
    l.started.retain(|m| m.version != "004");
    let history = History::of(&set, &l.rows, None);
    for (direction, rerun) in [
        (Direction::Up, false),
        (Direction::Up, true),
        (Direction::Down, false),
        (Direction::Down, true),
    ] {
        let err =
            confiture::plan::check_interrupted(&history, &l.started, direction, &[], rerun, "x")
                .expect_err("refused");
        assert_eq!(err.exit_code(), exit::DIVERGED);
        assert!(
            err.message.contains("migration 0005_ix was interrupted")
                && err.message.contains("no file here has its version"),
            "{err}"
        );
    }
    let stale = [marker("007", "gone", "down")];
    confiture::plan::check_interrupted(&history, &stale, Direction::Up, &[], false, "x")
        .expect("a rollback's marker with no row is stale");

    // A run holds the lock: its own marker, pending.
    let options = confiture::files::CheckOptions::default();
    let running = confiture::status::report_while(
        &set,
        &[],
        &options,
        Some(&l),
        "public.tb_confiture",
        Some("pid 42".to_string()),
    );
    assert_eq!(running.migrations[2].status, State::Pending);
    let started = running.migrations[2].started.as_ref().expect("its marker");
    // A live run's statement is running, not "may have committed" as a gone run's.
    assert_eq!(
        running.marker_progress(started),
        format!(
            "{}; statement 1 committed; statement 2 of 3 is running",
            started.started()
        )
    );
    assert!(
        r.marker_progress(started)
            .ends_with("was running: it may have committed"),
        "without a run, the same marker is a gone run's"
    );
    assert!(running.interrupted_unknown.is_empty());
    assert_eq!(running.exit_code(), exit::PENDING);
}

/// The same class when a file here has the marker's version but is another migration (another
/// name and another up file, [`confiture::history::is_another_migration`]'s rule for a row:
/// another branch's `002_u` where the newer build's `002_b` was interrupted): the marker is
/// not of that file, whichever its mode — never stale beside a transactional file, never that
/// file's `interrupted` beside a no-transaction one. A marker of the file renamed (its
/// checksum) or edited (its name) stays that file's.
#[test]
fn a_start_marker_of_another_migration_at_a_files_version_is_unknown() {
    use confiture::files::{Direction, SqlFile, TransactionMode};
    use confiture::history::History;
    let mut no_tx = migration("003", "ix", "CREATE INDEX CONCURRENTLY i ON t (id);\n");
    no_tx.up = SqlFile::new(
        "db/migrations/003_ix.up.sql",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (id);\n",
        TransactionMode::NoTransaction,
        false,
    );
    let ix_checksum = no_tx.up.checksum.clone();
    let set = migration_set(vec![
        migration("001", "t", "CREATE TABLE t (id int);\n"),
        migration("002", "u", "CREATE TABLE u (id int);\n"),
        no_tx,
    ]);
    let mut l = ledger(vec![row(
        "001",
        "t",
        Some("CREATE TABLE t (id int);\n"),
        "2026-01-15T10:00:00+00:00",
    )]);
    l.started = vec![
        start_marker("002", "b", "up"),
        start_marker("003", "other", "up"),
    ];
    let r = report(&set, Some(&l), "public.tb_confiture");
    assert_eq!(r.interrupted_unknown, ["002", "003"], "{:?}", states(&r));
    assert_eq!(r.exit_code(), exit::DIVERGED);
    let ids: Vec<(String, State)> = r.migrations.iter().map(|m| (m.id(), m.status)).collect();
    assert_eq!(
        ids,
        [
            ("001_t".to_string(), State::Applied),
            ("002_u".to_string(), State::Pending),
            ("002_b".to_string(), State::Interrupted { recorded: false }),
            ("003_ix".to_string(), State::Pending),
            (
                "003_other".to_string(),
                State::Interrupted { recorded: false }
            ),
        ]
    );
    let help = r.interrupted_help();
    assert!(
        help[0].contains("002_b was interrupted part-way")
            && help[0].contains("the file of its version here is another migration, 002_u"),
        "{help:?}"
    );
    let history = History::of(&set, &l.rows, None);
    let err =
        confiture::plan::check_interrupted(&history, &l.started, Direction::Up, &[], true, "x")
            .expect_err("refused");
    assert!(
        err.message.contains("migration 002_b was interrupted")
            && err
                .message
                .contains("the file of its version here is another migration, 002_u"),
        "{err}"
    );

    // Nor recorded over: a `baseline` or `reinit` through a version of such a marker (however
    // spelled: markers are settled by number) would delete it with the row it writes for the
    // file here. Refused; one that stops below it goes on.
    let through = |v: &str| v.parse::<confiture::history::Version>().expect("a version");
    let rows = l.rows.clone();
    let rewrite_check = |started: &[confiture::ledger::StartedRun], v: &str, reinit: bool| {
        let history = History::of(&set, &rows, None);
        let rewrite = match reinit {
            true => confiture::plan::reinit(&set, &rows, Some(&through(v)), None)
                .expect("planned")
                .rewrite(),
            false => confiture::plan::baseline(&set, &rows, &through(v))
                .expect("planned")
                .rewrite(),
        };
        let again = format!("migrate baseline --through {v}");
        confiture::plan::check_rewrite_interrupted(
            &history,
            started,
            &rewrite,
            ("baseline", &again),
        )
    };
    let mut respelled = l.started.clone();
    respelled.push(start_marker("0002", "b", "up"));
    for started in [&l.started, &respelled] {
        for (v, reinit) in [("002", false), ("003", false), ("002", true), ("003", true)] {
            let err = rewrite_check(started, v, reinit).expect_err("refused");
            assert_eq!(err.exit_code(), exit::DIVERGED);
            assert!(
                // The first by version text: `0002_b` once both spellings are there.
                err.message.contains(if started.len() == 2 {
                    "migration 002_b was interrupted"
                } else {
                    "migration 0002_b was interrupted"
                }) && err.message.contains("nothing was recorded over it"),
                "{err}"
            );
        }
        rewrite_check(started, "001", false).expect("nothing of 002 or 003 written");
    }

    // Renamed (the same up file) or edited (the same name): that file's own marker.
    let mut renamed = start_marker("003", "old_name", "up");
    renamed.checksum = ix_checksum;
    for own in [renamed, start_marker("003", "ix", "up")] {
        l.started = vec![own];
        let r = report(&set, Some(&l), "public.tb_confiture");
        assert!(r.interrupted_unknown.is_empty(), "{:?}", states(&r));
        assert_eq!(r.interrupted, ["003"]);
        let history = History::of(&set, &l.rows, None);
        // Its own apply left part-way stops `down` under it, as an unknown one does, `rerun` or
        // not (that reruns rollbacks); an `up` that runs something else goes on.
        let applied: Vec<&confiture::files::Migration> = set.migrations.iter().take(1).collect();
        for rerun in [false, true] {
            let err = confiture::plan::check_interrupted(
                &history,
                &l.started,
                Direction::Down,
                &applied,
                rerun,
                "migrate down --rerun-interrupted",
            )
            .expect_err("refused");
            assert_eq!(err.exit_code(), exit::DIVERGED);
            assert!(
                err.message.contains("migration 003_ix was interrupted")
                    && err
                        .message
                        .contains("rolled back nothing: the migration is half applied")
                    && err.help.as_deref().is_some_and(|h| {
                        h.contains("migrate up --target 003 --rerun-interrupted`, then roll back")
                    }),
                "{err} {:?}",
                err.help
            );
        }
        let pending: Vec<&confiture::files::Migration> = set.migrations[1..2].iter().collect();
        confiture::plan::check_interrupted(
            &history,
            &l.started,
            Direction::Up,
            &pending,
            false,
            "x",
        )
        .expect("003 not run");
        // Recorded by `baseline --through` (the way on once everything committed): settled.
        rewrite_check(&l.started, "003", false).expect("its own marker is settled");
    }
}
