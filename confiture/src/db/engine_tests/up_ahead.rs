//! What `up` prepares on the connecting thread while its files are read (`migrator::up_ahead`):
//! the lock and the ledger's DDL, never committed there, so that a command whose files are
//! refused leaves the database as it was.

use super::apply_support;

use std::time::Duration;

use apply_support::{lock_is_free, TestDb};

use crate::db::prefetch::Ahead;
use crate::migrator::up_ahead::{LedgerAhead, Prepared, UpAhead};

fn prepare(db: &TestDb) -> (crate::db::connect::Session, Prepared) {
    let env = db.environment();
    let ahead = UpAhead {
        env: env.clone(),
        table: env.migration.tracking_table.clone(),
        lock_wait: Duration::from_secs(5),
        allow_non_empty: false,
        second_connection: None,
    };
    let (session, prepared) =
        Ahead::start_then(&env, crate::db::connect::Need::Write, move |s, w| {
            ahead.run(s, w)
        })
        .expect("a thread")
        .wait()
        .expect("connected");
    (session, prepared.expect("prepared"))
}

#[test]
fn on_a_fresh_database_the_ledger_ddl_waits_uncommitted_and_dies_with_the_connection() {
    let db = TestDb::new("upahead");
    let (mut session, prepared) = prepare(&db);
    let Prepared::Locked { ledger, .. } = prepared else {
        panic!("the lock taken on a fresh database");
    };
    let LedgerAhead {
        found: None,
        pending: Some(pending),
        ..
    } = *ledger
    else {
        panic!("the DDL sent on a fresh database");
    };
    // Its own session sees the table; no other does: nothing is committed.
    let own = session
        .client
        .simple_query("SELECT to_regclass('tb_confiture') IS NOT NULL")
        .expect("a query in the open transaction");
    assert!(is_true(&own), "the DDL was sent");
    assert!(!db.table_exists("tb_confiture"), "not committed");
    assert!(!lock_is_free_now(&db), "the migration lock is held");
    // The files were refused: the work is dropped with its connection.
    drop((pending, session));
    assert!(lock_is_free(&db), "the lock went with the connection");
    assert!(!db.table_exists("tb_confiture"), "nothing was committed");
}

#[test]
fn a_refusal_rolls_the_ddl_back_on_a_session_that_stays() {
    let db = TestDb::new("upaheadrb");
    let (mut session, prepared) = prepare(&db);
    let Prepared::Locked { lock, ledger } = prepared else {
        panic!("the lock taken on a fresh database");
    };
    ledger
        .pending
        .expect("the DDL sent")
        .rollback(&mut session.client)
        .expect("rolled back");
    let seen = session
        .client
        .simple_query("SELECT to_regclass('tb_confiture') IS NULL")
        .expect("outside any transaction");
    assert!(
        is_true(&seen),
        "the session itself no longer sees the table"
    );
    lock.release(&mut session.client).expect("still held");
    assert!(!db.table_exists("tb_confiture"));
}

/// Whether the lock is free at this instant (no waiting for a dying backend).
fn lock_is_free_now(db: &TestDb) -> bool {
    db.value(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .as_deref()
        == Some("0")
}

/// Whether a one-value query answered `t`.
fn is_true(messages: &[postgres::SimpleQueryMessage]) -> bool {
    messages
        .iter()
        .any(|m| matches!(m, postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("t")))
}

/// The DDL the connecting thread sent, handed to the runner (`apply::run_steps`): `001` creates
/// `t`, the others insert a row each. Returns the session, still holding the lock.
fn run_with_pending(
    db: &TestDb,
    migrations: u32,
    before: &str,
    stopped: bool,
) -> (
    crate::db::connect::Session,
    Result<(), (usize, crate::db::apply::StepFailure)>,
) {
    use crate::db::apply::{self, ApplySettings, BatchLimits};
    let (mut session, prepared) = prepare(db);
    let Prepared::Locked { ledger, .. } = prepared else {
        panic!("the lock taken on a fresh database");
    };
    let pending = ledger.pending.expect("the DDL sent");
    if !before.is_empty() {
        session
            .client
            .batch_execute(before)
            .expect("in the DDL's transaction");
    }
    let dir = apply_support::Dir::new();
    dir.migration(
        "001",
        "create_t",
        "CREATE TABLE t (id int);\n",
        "DROP TABLE t;\n",
    );
    for v in 2..=migrations {
        dir.migration(
            &format!("{v:03}"),
            "row",
            &format!("INSERT INTO t VALUES ({v});\n"),
            "SELECT 1;\n",
        );
    }
    let checked = crate::files::load(&dir.path, &crate::files::CheckOptions::default()).unwrap();
    let settings = ApplySettings {
        table: pending.table.clone(),
        lock_timeout: Duration::from_secs(5),
        statement_timeout: None,
        timeouts_set_by: Default::default(),
        lock_retries: 0,
        ledger_lock_wait: Duration::from_secs(5),
        held_lock: None,
        stop: stopped.then(|| {
            let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
            apply::Stop::watch(flag, &session.client, &db.environment())
        }),
        scratch: None,
        ledger_triggers: false,
        in_fleet: false,
        rerun_interrupted: false,
        markers: Vec::new(),
        holders_from: None,
        without_options: false,
    };
    let steps = super::up_steps(&checked.set);
    let result = apply::run_steps(
        &mut session.client,
        &settings,
        &steps,
        BatchLimits::default(),
        Some(pending),
        &mut |_| {},
    );
    (session, result)
}

/// A fresh database's ledger DDL commits at the end of the message that prepares the first
/// message's ledger rows: no `COMMIT` of its own. The table, its rows and nothing of ours
/// left in the session.
#[test]
fn the_ledger_ddl_commits_with_the_first_message_of_migrations() {
    let db = TestDb::new("upaheadrun");
    let (mut session, result) = run_with_pending(&db, 3, "", false);
    result.expect("applied");
    assert_eq!(db.ledger(), ["001:create_t", "002:row", "003:row"]);
    let left = session
        .client
        .simple_query(
            "SELECT (SELECT count(*) FROM pg_prepared_statements) = 0 \
             AND pg_catalog.pg_current_xact_id_if_assigned() IS NULL",
        )
        .expect("outside any transaction");
    assert!(
        is_true(&left),
        "no statement of ours left, no transaction open"
    );
}

/// A run whose first message prepares no rows (one migration) commits the DDL on its own first.
#[test]
fn a_single_migration_commits_the_ledger_ddl_before_it() {
    let db = TestDb::new("upaheadone");
    let (_session, result) = run_with_pending(&db, 1, "", false);
    result.expect("applied");
    assert_eq!(db.ledger(), ["001:create_t"]);
}

/// When the message that was to commit the DDL fails (here: its `PREPARE`, the table altered
/// in the DDL's transaction), the DDL is rolled back with it and created again on its own,
/// committed, and the rows are written inline: the run goes on as after any failed `PREPARE`.
#[test]
fn a_failed_prepare_rolls_the_ddl_back_and_creates_the_ledger_on_its_own() {
    let db = TestDb::new("upaheadprep");
    let (_session, result) = run_with_pending(
        &db,
        3,
        "ALTER TABLE tb_confiture DROP COLUMN applied_by;",
        false,
    );
    result.expect("applied");
    assert_eq!(db.ledger(), ["001:create_t", "002:row", "003:row"]);
    assert_eq!(
        db.value("SELECT count(*) FROM tb_confiture WHERE applied_by IS NOT NULL")
            .as_deref(),
        Some("3"),
        "the ledger created again whole"
    );
}

/// A run stopped before its first message never leaves the session inside the DDL's
/// transaction (a `Migrator` kept across commands would run the next one in it): the DDL
/// commits, as it did before the run when it had a round trip of its own, and nothing else runs.
#[test]
fn a_run_stopped_before_its_first_message_leaves_no_transaction_open() {
    let db = TestDb::new("upaheadstop");
    let (mut session, result) = run_with_pending(&db, 3, "", true);
    assert!(result.is_err(), "stopped");
    let left = session
        .client
        .simple_query("SELECT pg_catalog.pg_current_xact_id_if_assigned() IS NULL")
        .expect("a query");
    assert!(is_true(&left), "no transaction left open");
    assert!(db.table_exists("tb_confiture"));
    assert!(db.ledger().is_empty(), "no migration ran");
}
