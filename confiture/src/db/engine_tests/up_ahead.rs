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
