//! `confiture::fleet`'s `verify` (once per server, every target reporting its server's
//! result) and `drift` (each target against its own history) against a real PostgreSQL; tenant
//! schemas verified as they run (their schema there before their first migration).

use crate::apply_support;

use apply_support::{environment, Dir, TestDb};
use confiture::drift::{DriftOptions, DriftReport};
use confiture::exit;
use confiture::files::CheckOptions;
use confiture::fleet::{CommandReport, Fleet, FleetReport, Target, TargetState};
use confiture::migrate::{DownOptions, UpOptions};
use confiture::verify::VerifyOptions;
use confiture::ErrorKind;

fn migrations(dir: &Dir) {
    dir.migration(
        "001",
        "create_a",
        "CREATE TABLE a (id int);\n",
        "DROP TABLE a;\n",
    )
    .migration(
        "002",
        "index_a",
        "CREATE INDEX idx_a ON a (id);\n",
        "DROP INDEX idx_a;\n",
    );
}

/// `db` reached under the server's own host name, or (`second_name`) under another name of the
/// same machine (127.0.0.1 and localhost: two servers as far as the fleet can tell).
fn target(db: &TestDb, second_name: bool, i: usize) -> Target {
    let server = apply_support::server();
    let host = if second_name {
        match server.host.as_str() {
            "127.0.0.1" => "localhost",
            "localhost" => "127.0.0.1",
            other => panic!(
                "this test reaches the server under two names; it knows none besides {other} \
                 (CONFITURE_TEST_SERVER): use 127.0.0.1 or localhost"
            ),
        }
    } else {
        server.host.as_str()
    };
    let url = server
        .url(&db.name)
        .replacen(&format!("@{}:", server.host), &format!("@{host}:"), 1);
    Target::url(&environment("postgres"), &url, format!("tenant {i}")).expect("test URL")
}

/// `n` databases, each a target reached under the server's own name.
fn tenants(prefix: &str, n: usize) -> (Vec<TestDb>, Vec<Target>) {
    let dbs: Vec<TestDb> = (0..n).map(|_| TestDb::new(prefix)).collect();
    let targets = dbs
        .iter()
        .enumerate()
        .map(|(i, db)| target(db, false, i))
        .collect();
    (dbs, targets)
}

/// `up` on every target, which must succeed.
fn up(fleet: &Fleet) {
    let report = fleet.up(&UpOptions::default(), &|_| {}).unwrap();
    assert_eq!(report.exit_code(), exit::SUCCESS, "{report:#?}");
}

/// Every target's drift report (each target of a drift fleet has one).
fn drift_reports(report: &FleetReport) -> Vec<&DriftReport> {
    report
        .targets
        .iter()
        .map(|t| match &t.report {
            Some(CommandReport::Drift(r)) => &**r,
            other => panic!("{other:?}"),
        })
        .collect()
}

fn no_ledger(db: &TestDb) -> bool {
    db.value("SELECT to_regclass('tb_confiture') IS NULL")
        .as_deref()
        == Some("t")
}

#[test]
fn verify_runs_once_per_server_and_every_target_reports_its_result() {
    let dir = Dir::new();
    migrations(&dir);
    let dbs: Vec<TestDb> = (0..4).map(|_| TestDb::new("fleetverify")).collect();
    let targets = vec![
        target(&dbs[0], false, 0),
        target(&dbs[1], true, 1),
        target(&dbs[2], false, 2),
        target(&dbs[3], false, 3),
    ];
    let fleet = Fleet::new(targets, &dir.path, CheckOptions::default()).jobs(2);
    let started = std::sync::atomic::AtomicUsize::new(0);
    let report = fleet
        .verify(&VerifyOptions::default(), &|event| {
            if matches!(event, confiture::fleet::Event::Started { .. }) {
                started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })
        .expect("the fleet runs");
    assert_eq!(report.command, "verify");
    assert_eq!(report.exit_code(), exit::SUCCESS, "{report:#?}");
    assert_eq!(started.into_inner(), 2, "one run per server");
    let t = &report.targets;
    assert!(t
        .iter()
        .all(|t| t.state == TargetState::Done && t.exit_code == Some(0)));
    // The first target of each server holds the report; the others name it.
    for i in [0, 1] {
        match &t[i].report {
            Some(CommandReport::Verify(r)) => assert!(r.passed && r.migrations.len() == 2),
            other => panic!("target {i}: {other:?}"),
        }
        assert_eq!(t[i].shared_with, None);
    }
    for i in [2, 3] {
        assert_eq!(t[i].report, None);
        assert_eq!(t[i].shared_with.as_deref(), Some(t[0].target.as_str()));
    }
    // The targets themselves are never touched.
    assert!(dbs.iter().all(no_ledger));
}

#[test]
fn a_down_that_does_not_restore_fails_every_targets_check() {
    let dir = Dir::new();
    migrations(&dir);
    dir.write("002_index_a.down.sql", "SELECT 1;\n");
    let dbs: Vec<TestDb> = (0..2).map(|_| TestDb::new("fleetverify9")).collect();
    let targets = dbs.iter().enumerate().map(|(i, db)| target(db, false, i));
    let fleet = Fleet::new(targets.collect(), &dir.path, CheckOptions::default());
    let report = fleet.verify(&VerifyOptions::default(), &|_| {}).unwrap();
    assert_eq!(report.exit_code(), exit::SCHEMA_CHECK_FAILED);
    for t in &report.targets {
        assert_eq!(t.exit_code, Some(exit::SCHEMA_CHECK_FAILED), "{t:?}");
    }
    let Some(CommandReport::Verify(r)) = &report.targets[0].report else {
        panic!("{report:?}");
    };
    let found = r.first_finding().expect("a finding");
    assert_eq!(found.id(), "002_index_a");
    assert!(
        found.findings[0].message.contains("left behind"),
        "{found:?}"
    );
}

#[test]
fn verify_refuses_a_from_that_names_nothing_before_connecting() {
    let dir = Dir::new();
    migrations(&dir);
    let unreachable = Target::url(
        &environment("postgres"),
        "postgresql://u@127.0.0.1:1/none",
        "t",
    )
    .unwrap();
    let fleet = Fleet::new(vec![unreachable], &dir.path, CheckOptions::default());
    let e = fleet
        .verify(&VerifyOptions::default().from(Some(9)), &|_| {})
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Usage, "{e:?}");
}

#[test]
fn drift_compares_each_target_with_its_own_history() {
    let dir = Dir::new();
    migrations(&dir);
    let (dbs, targets) = tenants("fleetdrift", 3);
    let fleet = Fleet::new(targets, &dir.path, CheckOptions::default()).keep_going(true);
    let up = fleet.up(&UpOptions::default(), &|_| {}).unwrap();
    assert_eq!(up.exit_code(), exit::SUCCESS);
    // Tenant 1 drifted: a table its history does not make.
    dbs[1]
        .client()
        .batch_execute("CREATE TABLE hotfix (id int)")
        .unwrap();
    // Tenant 2 cannot be compared: its history diverged (a row with no file).
    dbs[2]
        .client()
        .batch_execute("UPDATE tb_confiture SET checksum = 'edited' WHERE version = '002'")
        .unwrap();
    let report = fleet.drift(&DriftOptions::default(), &|_| {}).unwrap();
    assert_eq!(report.command, "drift");
    let codes: Vec<Option<u8>> = report.targets.iter().map(|t| t.exit_code).collect();
    assert_eq!(codes[0], Some(exit::SUCCESS), "{report:#?}");
    assert_eq!(codes[1], Some(exit::SCHEMA_CHECK_FAILED), "{report:#?}");
    assert_eq!(report.targets[2].state, TargetState::Failed, "{report:#?}");
    assert_eq!(report.exit_code(), exit::FLEET_MIXED);
    let Some(CommandReport::Drift(r)) = &report.targets[1].report else {
        panic!("{report:?}");
    };
    assert_eq!(r.drift.len(), 1, "{r:?}");
    assert!(r.drift[0].message.contains("hotfix"), "{r:?}");
    assert_eq!(report.targets[0].applied, ["001", "002"]);
}

#[test]
fn drift_replays_each_history_once_per_server() {
    let dir = Dir::new();
    migrations(&dir);
    let (dbs, targets) = tenants("fleetreplay", 4);
    // One target at a time, so that which one replays is known.
    let fleet = Fleet::new(targets.clone(), &dir.path, CheckOptions::default()).jobs(1);
    up(&fleet);
    // Tenant 3 has a shorter history (001 only); tenant 1 drifted.
    let last = Fleet::new(vec![targets[3].clone()], &dir.path, CheckOptions::default());
    let down = last.down(&DownOptions::default(), &|_| {}).unwrap();
    assert_eq!(down.exit_code(), exit::SUCCESS, "{down:#?}");
    dbs[1]
        .client()
        .batch_execute("CREATE TABLE hotfix (id int)")
        .unwrap();

    let report = fleet.drift(&DriftOptions::default(), &|_| {}).unwrap();
    let drift = drift_reports(&report);
    // Each target is still compared with its own history...
    let codes: Vec<Option<u8>> = report.targets.iter().map(|t| t.exit_code).collect();
    let (ok, found) = (Some(exit::SUCCESS), Some(exit::SCHEMA_CHECK_FAILED));
    assert_eq!(codes, [ok, found, ok, ok], "{report:#?}");
    assert!(drift[1].drift[0].message.contains("hotfix"), "{report:#?}");
    assert_eq!(drift[3].replayed, ["001"]);
    // ... but each history is replayed once on this server: two scratch databases in all.
    let scratches: Vec<usize> = drift.iter().map(|r| r.scratch_databases.len()).collect();
    assert_eq!(scratches, [1, 0, 0, 1], "{report:#?}");
    let first = drift[0].database.clone();
    assert!(first.is_some());
    let with: Vec<Option<String>> = drift.iter().map(|r| r.replayed_with.clone()).collect();
    assert_eq!(with, [None, first.clone(), first, None], "{report:#?}");

    // All at once: the targets with the first history wait for the one replaying it.
    let fleet = Fleet::new(targets, &dir.path, CheckOptions::default()).jobs(4);
    let report = fleet.drift(&DriftOptions::default(), &|_| {}).unwrap();
    let codes: Vec<Option<u8>> = report.targets.iter().map(|t| t.exit_code).collect();
    assert_eq!(codes, [ok, found, ok, ok], "{report:#?}");
    let drift = drift_reports(&report);
    let scratches: usize = drift.iter().map(|r| r.scratch_databases.len()).sum();
    assert_eq!(scratches, 2, "{report:#?}");
    assert_eq!(drift[3].scratch_databases.len(), 1, "{report:#?}");
    let replayer = drift[..3]
        .iter()
        .find(|r| r.scratch_databases.len() == 1)
        .expect("one of the first three replayed");
    for r in &drift[..3] {
        if r.scratch_databases.is_empty() {
            assert_eq!(r.replayed_with, replayer.database, "{report:#?}");
        }
    }
}

#[test]
fn a_shared_replay_that_fails_is_every_targets_failure_and_nothing_waits_forever() {
    // 001 relies on a table each live database has and a scratch database has not: it ran on
    // the targets, and fails on every replay.
    let dir = Dir::new();
    dir.migration(
        "001",
        "alter_legacy",
        "ALTER TABLE legacy ADD COLUMN note text;\n",
        "ALTER TABLE legacy DROP COLUMN note;\n",
    );
    let (dbs, targets) = tenants("fleetreplayfail", 3);
    for db in &dbs {
        db.client()
            .batch_execute("CREATE TABLE legacy (id int)")
            .unwrap();
    }
    let fleet = Fleet::new(targets, &dir.path, CheckOptions::default())
        .jobs(3)
        .keep_going(true);
    // Built by other means, then migrated: told to run over what is there.
    let report = fleet
        .up(&UpOptions::default().allow_non_empty(true), &|_| {})
        .unwrap();
    assert_eq!(report.exit_code(), exit::SUCCESS, "{report:#?}");
    let report = fleet.drift(&DriftOptions::default(), &|_| {}).unwrap();
    // Each target waited for the replay before it, found none, and replayed (and failed)
    // itself: three failures, each with its own scratch database, none compared with nothing.
    for (t, r) in report.targets.iter().zip(drift_reports(&report)) {
        assert_eq!(t.state, TargetState::Failed, "{report:#?}");
        assert_eq!(t.exit_code, Some(exit::MIGRATION_FAILED), "{report:#?}");
        assert_eq!(r.scratch_databases.len(), 1, "{report:#?}");
        assert_eq!(r.replayed_with, None, "{report:#?}");
        assert!(r.drift.is_empty(), "{report:#?}");
    }
}

#[test]
fn tenant_schemas_are_verified_as_they_run_and_drift_is_refused() {
    let dir = Dir::new();
    migrations(&dir);
    let db = TestDb::new("fleetschemaverify");
    let base = environment(&db.name);
    let targets: Vec<Target> = ["tenant_a", "tenant_b"]
        .iter()
        .map(|s| Target::schema(&base, s, *s).unwrap())
        .collect();
    let fleet = Fleet::new(targets, &dir.path, CheckOptions::default());
    let report = fleet.verify(&VerifyOptions::default(), &|_| {}).unwrap();
    // One database, one server: one run, as tenant_a (whose schema its ledger would create
    // would otherwise read as left behind by the first down).
    assert_eq!(report.exit_code(), exit::SUCCESS, "{report:#?}");
    assert_eq!(
        report.targets[1].shared_with.as_deref(),
        Some(report.targets[0].shown().as_str())
    );
    let e = fleet.drift(&DriftOptions::default(), &|_| {}).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Usage, "{e:?}");
    assert!(e.message.contains("tenant schemas"), "{e}");
    // Nothing was created in the tenants' database.
    assert_eq!(
        db.value("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'")
            .as_deref(),
        Some("0")
    );
}

/// `verify` ran once per server, as the first target listed there: a target whose connection's
/// options give its sessions other settings (here a `search_path` with `pg_catalog` first,
/// where no tracking table can be created) was reported "verified as" the first target, and
/// the first target's failure was another's. Targets of one server whose sessions differ are
/// verified apart, each with its own result, in either order; those that share the same
/// session still share one run.
#[test]
fn targets_whose_options_differ_are_verified_apart() {
    let dir = Dir::new();
    migrations(&dir);
    let dbs: Vec<TestDb> = (0..3).map(|_| TestDb::new("fleetverifyopts")).collect();
    let system_first = |db: &TestDb, i: usize| {
        let url = format!(
            "{}?options=-c%20search_path%3Dpg_catalog,public",
            apply_support::server().url(&db.name)
        );
        Target::url(&environment("postgres"), &url, format!("tenant {i}")).expect("test URL")
    };
    for options_first in [false, true] {
        let (plain, other) = if options_first { (1, 0) } else { (0, 1) };
        let mut targets = vec![target(&dbs[0], false, 0), target(&dbs[2], false, 2)];
        targets.insert(other, system_first(&dbs[1], 1));
        let fleet = Fleet::new(targets, &dir.path, CheckOptions::default()).keep_going(true);
        let report = fleet.verify(&VerifyOptions::default(), &|_| {}).unwrap();
        let t = &report.targets;
        assert_eq!(t[plain].exit_code, Some(exit::SUCCESS), "{report:#?}");
        assert_eq!(t[plain].shared_with, None, "{report:#?}");
        assert_eq!(t[2].exit_code, Some(exit::SUCCESS), "{report:#?}");
        assert_eq!(
            t[2].shared_with.as_deref(),
            Some(t[plain].target.as_str()),
            "{report:#?}"
        );
        assert_eq!(t[other].shared_with, None, "{report:#?}");
        assert_eq!(t[other].state, TargetState::Failed, "{report:#?}");
        let help = t[other]
            .error
            .as_ref()
            .and_then(|e| e.help.clone())
            .unwrap_or_default();
        assert!(help.contains("pg_catalog"), "{report:#?}");
    }
    assert!(dbs.iter().all(no_ledger));
}
