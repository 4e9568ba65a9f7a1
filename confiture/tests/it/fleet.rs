//! `confiture::fleet` against a real PostgreSQL: at most `jobs` targets at once and in list
//! order, stop at the first failure or keep going, refusals decided once before any target is
//! reached, `down` and `status` fleets, and target lists from a query.

use crate::apply_support;

use std::sync::Mutex;

use apply_support::{environment, Dir, TestDb};
use confiture::exit;
use confiture::files::CheckOptions;
use confiture::fleet::{self, CommandReport, Event, Fleet, Target, TargetState};
use confiture::migrate::{DownOptions, UpOptions};
use confiture::ErrorKind;

/// Databases of one test.
struct Tenants(Vec<TestDb>);

impl Tenants {
    fn new(prefix: &str, count: usize) -> Tenants {
        Tenants((0..count).map(|_| TestDb::new(prefix)).collect())
    }

    fn targets(&self) -> Vec<Target> {
        self.0
            .iter()
            .enumerate()
            .map(|(i, db)| {
                Target::url(&environment("postgres"), &db.url(), format!("tenant {i}"))
                    .expect("test URL")
            })
            .collect()
    }
}

fn two_migrations(dir: &Dir) {
    dir.migration(
        "001",
        "create_a",
        "CREATE TABLE a (id int);\n",
        "DROP TABLE a;\n",
    )
    .migration(
        "002",
        "create_b",
        "CREATE TABLE b (id int);\n",
        "DROP TABLE b;\n",
    );
}

fn has_ledger(db: &TestDb) -> bool {
    db.value("SELECT to_regclass('tb_confiture') IS NOT NULL")
        .as_deref()
        == Some("t")
}

fn fleet(dir: &Dir, tenants: &Tenants) -> Fleet {
    Fleet::new(tenants.targets(), &dir.path, CheckOptions::default())
}

#[test]
fn every_target_runs_the_files_as_they_were_when_the_fleet_started() {
    let tenants = Tenants::new("fleet_snapshot", 3);
    let dir = Dir::new();
    two_migrations(&dir);
    let original = confiture::files::checksum(b"CREATE TABLE b (id int);\n");
    // Someone edits 002 once the first target is done (one target at a time).
    let report = fleet(&dir, &tenants)
        .jobs(1)
        .up(&UpOptions::default(), &|event| {
            if let Event::Finished { index: 0, .. } = event {
                dir.write("002_create_b.up.sql", "CREATE TABLE b_edited (id int);\n");
            }
        })
        .expect("the fleet runs");
    assert_eq!(report.exit_code(), exit::SUCCESS, "{report:?}");
    // Every target ran 002 as it was read when the fleet started, and recorded its checksum.
    for db in &tenants.0 {
        assert_eq!(
            db.value("SELECT to_regclass('b') IS NOT NULL AND to_regclass('b_edited') IS NULL")
                .as_deref(),
            Some("t"),
            "{}",
            db.name
        );
        assert_eq!(
            db.value("SELECT checksum FROM tb_confiture WHERE version = '002'"),
            Some(original.clone()),
            "{}",
            db.name
        );
    }
    // The next command reads the files again: the edit is a modified migration now.
    let status = fleet(&dir, &tenants).status(&|_| {}).unwrap();
    let Some(CommandReport::Status(first)) = &status.targets[0].report else {
        panic!("{status:?}");
    };
    assert_eq!(first.summary.modified, 1, "{first:?}");
}

#[test]
fn at_most_jobs_targets_run_at_once_in_list_order() {
    let tenants = Tenants::new("fleet_jobs", 9);
    let dir = Dir::new();
    dir.migration(
        "001",
        "slow",
        "CREATE TABLE a (id int);\nSELECT pg_sleep(0.3);\n",
        "DROP TABLE a;\n",
    );
    let started = Mutex::new(Vec::new());
    let most = Mutex::new(0);
    let report = fleet(&dir, &tenants)
        .jobs(3)
        .up(&UpOptions::default(), &|event| {
            let counts = match event {
                Event::Started { index, counts, .. } => {
                    started.lock().unwrap().push(*index);
                    counts
                }
                Event::Finished { counts, .. } => counts,
                // A target's own progress (lock taken, migration applied) changes no count.
                Event::Progress { .. } => return,
                other => panic!("an event this test does not know: {other:?}"),
            };
            let mut most = most.lock().unwrap();
            *most = (*most).max(counts.running);
        })
        .expect("the fleet runs");
    assert_eq!(report.exit_code(), exit::SUCCESS, "{report:?}");
    assert_eq!(*most.lock().unwrap(), 3, "three at once, never more");
    assert_eq!(*started.lock().unwrap(), (0..9).collect::<Vec<_>>());
    assert_eq!(report.summary.done, 9);
    for (entry, db) in report.targets.iter().zip(&tenants.0) {
        assert!(
            entry.target.ends_with(&format!("/{}", db.name)),
            "{entry:?}"
        );
        assert_eq!(entry.applied, ["001"]);
        assert!(has_ledger(db));
    }
}

#[test]
fn the_first_failure_stops_the_fleet_unless_it_keeps_going() {
    for keep_going in [false, true] {
        let tenants = Tenants::new("fleet_stop", 5);
        let dir = Dir::new();
        two_migrations(&dir);
        tenants.0[1]
            .client()
            .batch_execute("CREATE TABLE b (other text)")
            .expect("poison");
        let report = fleet(&dir, &tenants)
            .jobs(1)
            .keep_going(keep_going)
            .up(&UpOptions::default().allow_non_empty(true), &|_| {})
            .expect("the fleet runs");
        let states: Vec<TargetState> = report.targets.iter().map(|t| t.state).collect();
        use TargetState::{Done, Failed, NotStarted};
        let expected = if keep_going {
            [Done, Failed, Done, Done, Done]
        } else {
            [Done, Failed, NotStarted, NotStarted, NotStarted]
        };
        assert_eq!(states, expected, "keep_going {keep_going}");
        assert_eq!(report.exit_code(), exit::MIGRATION_FAILED);
        let failed: Vec<_> = report.failed().collect();
        assert_eq!(failed.len(), 1);
        let error = failed[0].error.as_ref().expect("the error");
        assert_eq!(error.version.as_deref(), Some("002"));
        assert_eq!(error.line, Some(1));
        assert_eq!(failed[0].source, "tenant 1");
        for (i, db) in tenants.0.iter().enumerate() {
            assert_eq!(
                has_ledger(db),
                keep_going || i < 2,
                "tenant {i}, keep_going {keep_going}"
            );
        }
        if !keep_going {
            assert_eq!(report.targets[3].exit_code, None);
            assert_eq!(report.summary.not_started, 3);
        }
    }
}

/// A panic in the caller's progress callback stops the fleet — no target starts after it,
/// whatever `jobs` — and reaches the caller with its own payload. With `jobs(4)` the other
/// workers went on starting targets and the caller got "a scoped thread panicked" (h10 D5).
#[test]
fn a_panicking_callback_stops_the_fleet_and_keeps_its_payload() {
    for jobs in [1, 4] {
        let tenants = Tenants::new("fleet_cb_panic", 6);
        let dir = Dir::new();
        dir.migration(
            "001",
            "slow",
            "SELECT pg_sleep(0.5);\nCREATE TABLE a (id int);\n",
            "DROP TABLE a;\n",
        );
        let once = std::sync::atomic::AtomicBool::new(false);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fleet(&dir, &tenants)
                .jobs(jobs)
                .up(&UpOptions::default(), &|event| {
                    if matches!(event, Event::Started { index: 0, .. })
                        && !once.swap(true, std::sync::atomic::Ordering::SeqCst)
                    {
                        std::panic::panic_any("fleet cb boom");
                    }
                })
        }));
        let payload = caught.expect_err("the panic reaches the caller");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"fleet cb boom"),
            "jobs {jobs}: its own payload"
        );
        // Targets 4 and 5 could only start once a worker was free again: after the panic.
        for (i, db) in tenants.0.iter().enumerate().skip(4) {
            assert!(
                !has_ledger(db),
                "jobs {jobs}: tenant {i} started after the panic"
            );
        }
    }
}

#[test]
fn what_up_refuses_before_connecting_refuses_the_whole_fleet() {
    // A target that cannot be reached: had anything connected, it would be a connection error.
    let unreachable = Target::url(
        &environment("postgres"),
        "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=1",
        "tenants.txt:1",
    )
    .expect("URL");
    let dir = Dir::new();
    two_migrations(&dir);
    let fleet = Fleet::new(vec![unreachable], &dir.path, CheckOptions::default());
    let steps0 = UpOptions::default().steps(Some(0));
    let refused = fleet
        .up(&steps0, &|_| panic!("no target starts"))
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Usage, "{refused:?}");

    dir.write("003_draft.up.sql", "CREATE TABLE c (id int);\n");
    let refused = fleet
        .up(&UpOptions::default(), &|_| panic!("no target starts"))
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Invalid, "{refused:?}");

    // Reachable or not, the failure is the target's own, in the report.
    std::fs::remove_file(dir.file("003_draft.up.sql")).expect("remove the draft");
    let report = fleet.up(&UpOptions::default(), &|_| {}).expect("runs");
    assert_eq!(report.targets[0].exit_code, Some(exit::CONNECTION));
    assert_eq!(report.exit_code(), exit::CONNECTION);
}

#[test]
fn down_and_status_fleets() {
    let tenants = Tenants::new("fleet_down", 3);
    let dir = Dir::new();
    two_migrations(&dir);
    let fleet = fleet(&dir, &tenants).jobs(2);
    assert_eq!(
        fleet
            .up(&UpOptions::default(), &|_| {})
            .unwrap()
            .exit_code(),
        exit::SUCCESS
    );
    let report = fleet.down(&DownOptions::default(), &|_| {}).unwrap();
    assert_eq!(report.command, "down");
    for t in &report.targets {
        assert_eq!(t.rolled_back, ["002"], "{t:?}");
    }
    let status = fleet.status(&|_| {}).unwrap();
    assert_eq!(
        status.exit_code(),
        exit::PENDING,
        "every target has 002 pending"
    );
    for t in &status.targets {
        assert_eq!(t.state, TargetState::Done);
        assert_eq!(t.applied, ["001"]);
    }
    for db in &tenants.0 {
        assert_eq!(
            db.value("SELECT to_regclass('b') IS NULL").as_deref(),
            Some("t")
        );
    }
}

#[test]
fn a_query_lists_names_on_the_server_and_urls() {
    let tenants = Tenants::new("fleet_query", 2);
    let base = environment(&tenants.0[0].name);
    let sql = format!(
        "SELECT * FROM (VALUES ('{}'), ('{}')) AS t(target)",
        tenants.0[0].name,
        tenants.0[1].url()
    );
    let targets = fleet::query_targets(&base, &sql).expect("the query runs");
    let shown: Vec<String> = targets.iter().map(Target::shown).collect();
    assert_eq!(shown, [tenants.0[0].display(), tenants.0[1].display(),]);
    assert_eq!(targets[1].source, "the targets query, row 2");
    // The name keeps the environment's settings; the URL brings its own connection.
    assert_eq!(targets[0].environment.application_name, "confiture-test");

    let e = fleet::query_targets(&base, "SELECT NULL::text UNION ALL SELECT 'x'").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(
        e.details
            .iter()
            .any(|d| d == "the targets query, row 1 is NULL"),
        "{e:?}"
    );
    let e = fleet::query_targets(&base, "SELECT 1, 2").unwrap_err();
    assert!(e.message.contains("2 columns"), "{e:?}");
    let e = fleet::query_targets(&base, "SELECT 1").unwrap_err();
    assert_eq!(e.details, ["its column is of type int4, not text"], "{e:?}");
    let e = fleet::query_targets(&base, "SELECT nextval('no_such_sequence')::text").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(
        e.message.starts_with("the targets query failed on "),
        "{e:?}"
    );
    assert!(e.cause().unwrap_or("").contains("SQLSTATE 42P01"), "{e:?}");
    assert_eq!(
        e.driver_error().and_then(|d| d.code()),
        Some(&postgres::error::SqlState::UNDEFINED_TABLE),
        "the driver's error is the source: {e:?}"
    );
    // The query runs in a read-only transaction: its one row names a database `on`.
    let read_only = "SELECT current_setting('transaction_read_only')";
    let targets = fleet::query_targets(&base, read_only).expect("the query runs");
    assert!(
        targets[0].shown().ends_with("/on"),
        "{}",
        targets[0].shown()
    );
}
/// The list queries a service may run in async code (`query_targets`, `query_schemas`,
/// `one_schema`) work on a thread of a tokio runtime, as the `Migrator` commands do: the
/// driver there panicked "Cannot start a runtime from within a runtime".
#[test]
fn the_list_queries_work_on_a_runtime_thread() {
    let tenants = Tenants::new("fleet_query_runtime", 1);
    let base = environment(&tenants.0[0].name);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (targets, schemas, one) = runtime.block_on(async {
        let sql = format!("SELECT '{}'", tenants.0[0].name);
        (
            fleet::query_targets(&base, &sql),
            fleet::query_schemas(&base, "SELECT 'tenant_q'"),
            fleet::one_schema(&base, "tenant_q", "--schema", false),
        )
    });
    assert_eq!(targets.expect("query_targets").len(), 1);
    assert_eq!(schemas.expect("query_schemas").len(), 1);
    assert_eq!(one.expect("one_schema").schema.as_deref(), Some("tenant_q"));
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// An application that embeds its migrations rolls them out to its tenants with no file on
/// disk: the fleet keeps the `Migrator`'s embedded set.
#[test]
fn a_fleet_of_a_migrator_with_embedded_migrations_reads_no_file() {
    use confiture::embedded::{EmbeddedFile, EmbeddedMigration, EmbeddedMigrations};
    use confiture::files::{checksum, TransactionMode};
    let file = |name: String, sql: &str| EmbeddedFile {
        file_name: leak(name),
        sql: leak(sql.to_string()),
        checksum: leak(checksum(sql.as_bytes())),
    };
    let migrations: Vec<EmbeddedMigration> = [(1, "create_a", "a"), (2, "create_b", "b")]
        .into_iter()
        .map(|(version, name, table)| EmbeddedMigration {
            version,
            version_text: leak(format!("00{version}")),
            name,
            mode: TransactionMode::Transaction,
            irreversible: false,
            up: file(
                format!("00{version}_{name}.up.sql"),
                &format!("CREATE TABLE {table} (id int);\n"),
            ),
            down: file(
                format!("00{version}_{name}.down.sql"),
                &format!("DROP TABLE {table};\n"),
            ),
        })
        .collect();
    let set: &'static EmbeddedMigrations = Box::leak(Box::new(EmbeddedMigrations {
        package: "service",
        package_version: "1.0.0",
        dir: "no/such/dir/migrations",
        first_version: None,
        migrations: Box::leak(migrations.into_boxed_slice()),
        python: &[],
    }));
    let tenants = Tenants::new("fleet_embed", 2);
    let app = confiture::Migrator::from_embedded(environment("postgres"), set);
    let fleet = Fleet::for_migrator(&app, tenants.targets());
    let report = fleet.up(&UpOptions::default(), &|_| {}).expect("runs");
    assert_eq!(report.exit_code(), exit::SUCCESS, "{report:?}");
    for t in &report.targets {
        assert_eq!(t.applied, ["001", "002"], "{t:?}");
    }
    assert_eq!(fleet.status(&|_| {}).unwrap().exit_code(), exit::SUCCESS);
}

/// A stop that arrives once every target has finished stopped nothing: the fleet's outcome is
/// what the targets did (exit 0 here), not "interrupted" (130). It used to be 130 whenever
/// the flag was set by the end, whatever the ledgers show.
#[test]
fn a_stop_after_the_last_target_finished_is_not_an_interruption() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let tenants = Tenants::new("fleet_late_stop", 2);
    let dir = Dir::new();
    two_migrations(&dir);
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    for command in ["up", "down", "status"] {
        stop.store(false, Ordering::SeqCst);
        let fleet = fleet(&dir, &tenants).jobs(1).stop_when(stop.clone());
        // Set exactly when the last target reports that it finished.
        let at_the_end = |event: &Event| {
            if let Event::Finished { counts, .. } = event {
                if counts.done == counts.total {
                    stop.store(true, Ordering::SeqCst);
                }
            }
        };
        let report = match command {
            "up" => fleet.up(&UpOptions::default(), &at_the_end),
            "down" => fleet.down(&DownOptions::default(), &at_the_end),
            _ => fleet.status(&at_the_end),
        }
        .expect("the fleet runs");
        assert!(
            stop.load(Ordering::SeqCst),
            "{command}: the stop was never set"
        );
        // `status` after `down`: one migration pending on each target (exit 1), not 130.
        let expected = if command == "status" {
            exit::PENDING
        } else {
            exit::SUCCESS
        };
        assert_eq!(report.exit_code(), expected, "{command}: {report:?}");
        assert!(!report.summary.interrupted, "{command}: {report:?}");
        assert!(
            report.targets.iter().all(|t| t.state == TargetState::Done),
            "{command}: {report:?}"
        );
    }
}

/// A stop cancels what the running targets do, as it does for one database: the running
/// target's next migration is not started (its committed ones stay), and it ends interrupted
/// with its own code 130; the targets not reached are not started; the fleet exits 130. It
/// used to let the running targets run to their end.
#[test]
fn a_stop_interrupts_the_running_targets_and_starts_no_other() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let tenants = Tenants::new("fleet_stop", 3);
    let dir = Dir::new();
    two_migrations(&dir);
    // A no-transaction migration travels alone: the stop falls between 002 and it.
    dir.migration(
        "003",
        "index_b",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY b_id ON b (id);\n",
        "DROP INDEX b_id;\n",
    );
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let report = fleet(&dir, &tenants)
        .jobs(1)
        .stop_when(stop.clone())
        .up(&UpOptions::default(), &|event| {
            if let Event::Progress {
                index: 0,
                progress: confiture::migrate::Progress::Finished { version, .. },
                ..
            } = event
            {
                if version == "002" {
                    stop.store(true, Ordering::SeqCst);
                }
            }
        })
        .expect("the fleet runs");
    assert_eq!(report.exit_code(), exit::INTERRUPTED, "{report:?}");
    assert!(report.summary.interrupted, "{report:?}");
    let first = &report.targets[0];
    assert_eq!(first.state, TargetState::Interrupted, "{report:?}");
    assert_eq!(first.exit_code, Some(exit::INTERRUPTED), "{report:?}");
    assert_eq!(first.applied, ["001", "002"], "{report:?}");
    assert_eq!(
        first.error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Interrupted),
        "{report:?}"
    );
    assert_eq!(
        tenants.0[0].value("SELECT string_agg(version, ',' ORDER BY version) FROM tb_confiture"),
        Some("001,002".to_string())
    );
    for (t, db) in report.targets[1..].iter().zip(&tenants.0[1..]) {
        assert_eq!(t.state, TargetState::NotStarted, "{report:?}");
        assert_eq!(t.exit_code, None, "{report:?}");
        assert!(!has_ledger(db), "{} was reached", t.target);
    }
}

/// A target listed by name is refused without connecting when its server's `pg_database` lacks
/// it, read at most a second before it starts: a database created while the fleet runs (here,
/// after the target before it was refused on such a read) is reached and migrated, not
/// refused from the older read.
#[test]
fn a_database_created_while_the_fleet_runs_is_reached() {
    let dir = Dir::new();
    two_migrations(&dir);
    let gone = crate::common::unique("cft_hflt_gone");
    let created = TestDb::adopt(crate::common::unique("cft_hflt_later"));
    let base = environment("postgres");
    let targets = vec![
        Target::database(&base, &gone, "list:1").expect("a name"),
        Target::database(&base, &created.name, "list:2").expect("a name"),
    ];
    let fleet = Fleet::new(targets, &dir.path, CheckOptions::default())
        .jobs(1)
        .keep_going(true);
    let create = |event: &Event| {
        if let Event::Finished { index: 0, .. } = event {
            // Older than the read that refused the first target may be trusted for.
            std::thread::sleep(std::time::Duration::from_millis(1100));
            confiture_test_support::admin()
                .batch_execute(&format!("CREATE DATABASE \"{}\"", created.name))
                .expect("create the database");
        }
    };
    let report = fleet
        .up(&UpOptions::default(), &create)
        .expect("the fleet runs");
    assert_eq!(report.targets[0].state, TargetState::Failed, "{report:?}");
    assert_eq!(
        report.targets[0].exit_code,
        Some(exit::CONNECTION),
        "{report:?}"
    );
    let refused = report.targets[0].error.as_ref().expect("an error");
    assert_eq!(refused.sqlstate.as_deref(), Some("3D000"), "{report:?}");
    assert_eq!(report.targets[1].state, TargetState::Done, "{report:?}");
    assert_eq!(report.targets[1].applied.len(), 2, "{report:?}");
}

/// A fleet target's error is data a service branches on without comparing strings: its
/// `kind` is the `ErrorKind` and its `reason` the `Reason` the target's command failed with —
/// a database missing (`Connection`, `Reason::Database`, SQLSTATE 3D000) told from a migration
/// that failed (`MigrationFailed`, `Reason::Migration` with the version) — while the JSON
/// keeps `kind` as its name and has no `reason` key.
#[test]
fn a_target_error_carries_its_kind_and_reason_as_types() {
    let dir = Dir::new();
    two_migrations(&dir);
    let poisoned = TestDb::new("fleet_typed");
    poisoned
        .client()
        .batch_execute("CREATE TABLE b (other text)")
        .expect("poison");
    let gone = crate::common::unique("cft_fleet_typed_gone");
    let base = environment("postgres");
    let targets = vec![
        Target::database(&base, &gone, "list:1").expect("a name"),
        Target::url(&base, &poisoned.url(), "list:2").expect("test URL"),
    ];
    let report = Fleet::new(targets, &dir.path, CheckOptions::default())
        .jobs(1)
        .keep_going(true)
        .up(&UpOptions::default().allow_non_empty(true), &|_| {})
        .expect("the fleet runs");
    let missing = report.targets[0].error.as_ref().expect("an error");
    assert_eq!(missing.kind, ErrorKind::Connection, "{report:?}");
    assert!(
        matches!(&missing.reason, confiture::Reason::Database { database } if database.contains(&gone)),
        "{report:?}"
    );
    assert_eq!(missing.sqlstate.as_deref(), Some("3D000"), "{report:?}");
    let failed = report.targets[1].error.as_ref().expect("an error");
    assert_eq!(failed.kind, ErrorKind::MigrationFailed, "{report:?}");
    assert!(
        matches!(&failed.reason, confiture::Reason::Migration(m) if m.version == "002"),
        "{report:?}"
    );
    let json = serde_json::to_value(&report).expect("JSON");
    assert_eq!(json["targets"][0]["error"]["kind"], "connection", "{json}");
    assert_eq!(
        json["targets"][1]["error"]["kind"], "migration_failed",
        "{json}"
    );
    assert!(
        json["targets"][1]["error"].get("reason").is_none(),
        "{json}"
    );
}
