//! The migration lock against a real PostgreSQL: confiture's keys, polling outside any
//! transaction, the timeout naming the holder, release.

use super::apply_support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use apply_support::{value, TestDb};
use confiture::db::lock::{self, LockHolder, LOCK_NAMESPACE};
use confiture::ErrorKind;

#[test]
fn lock_id_matches_the_server_side_formula() {
    let db = TestDb::new("lockid");
    let server = db
        .value(
            "SELECT (('x' || substr(encode(sha256(convert_to(current_database(), 'UTF8')), 'hex'), 1, 8))::bit(32)::int \
             & 2147483647)::text",
        )
        .unwrap();
    assert_eq!(lock::lock_id(&db.name).to_string(), server);
}

#[test]
fn times_out_naming_the_holder() {
    let db = TestDb::new("locktimeout");
    let mut holder = db.client_as("holder-app");
    let key = lock::lock_id(&db.name);
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock({LOCK_NAMESPACE}, {key})"))
        .unwrap();
    let holder_pid = value(&mut holder, "SELECT pg_backend_pid()").unwrap();

    let mut waiter = db.client();
    let mut seen: Vec<Option<LockHolder>> = Vec::new();
    let start = Instant::now();
    let err = lock::acquire(&mut waiter, Duration::from_secs(2), &mut |h| {
        seen.push(h.cloned())
    })
    .unwrap_err();
    let elapsed = start.elapsed();
    assert_eq!(err.kind, ErrorKind::LockTimeout);
    assert_eq!(err.exit_code(), 6);
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    let details = err.details.join("\n");
    assert!(details.contains(&format!("pid {holder_pid}")), "{details}");
    assert!(details.contains("holder-app"), "{details}");
    assert!(err
        .help
        .as_deref()
        .unwrap()
        .contains(&format!("pg_terminate_backend({holder_pid})")));
    // The holder as data, not only as a detail line.
    match err.reason() {
        confiture::Reason::Lock { holders, .. } => {
            assert_eq!(holders.len(), 1, "{err:?}");
            let LockHolder::Session(session) = &holders[0] else {
                panic!("not a session: {err:?}");
            };
            assert_eq!(session.pid.to_string(), holder_pid);
            assert_eq!(session.application_name.as_deref(), Some("holder-app"));
        }
        other => panic!("not a lock reason: {other:?}"),
    }
    // Announced once, with the holder.
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0]
            .as_ref()
            .and_then(LockHolder::pid)
            .map(|p| p.to_string()),
        Some(holder_pid)
    );
}

#[test]
fn waits_until_released_then_holds_and_releases() {
    let db = TestDb::new("lockwait");
    let mut holder = db.client_as("holder-app");
    let key = lock::lock_id(&db.name);
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock({LOCK_NAMESPACE}, {key})"))
        .unwrap();
    // Connected before the holder lets go, so the wait measured is the lock's alone.
    let mut waiter = db.client();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        let unlocking = std::time::Instant::now();
        holder
            .batch_execute(&format!(
                "SELECT pg_advisory_unlock({LOCK_NAMESPACE}, {key})"
            ))
            .unwrap();
        (holder, unlocking)
    });
    let asked = std::time::Instant::now();
    let taken = lock::acquire(&mut waiter, Duration::from_secs(10), &mut |_| {}).unwrap();
    let got = std::time::Instant::now();
    let (mut holder, unlocking) = release.join().unwrap();
    // Taken only once the holder let go (however slow this machine is), and it reports a
    // wait within the one it had.
    assert!(got >= unlocking, "taken before the holder let go");
    assert!(
        taken.waited > Duration::ZERO && taken.waited <= got - asked,
        "{:?} reported for a wait of {:?}",
        taken.waited,
        got - asked
    );
    // Held by the waiter now: the former holder cannot take it.
    assert_eq!(
        value(
            &mut holder,
            &format!("SELECT pg_try_advisory_lock({LOCK_NAMESPACE}, {key})")
        )
        .as_deref(),
        Some("f")
    );
    taken.release(&mut waiter).unwrap();
    assert_eq!(
        value(
            &mut holder,
            &format!("SELECT pg_try_advisory_lock({LOCK_NAMESPACE}, {key})")
        )
        .as_deref(),
        Some("t")
    );
}

#[test]
fn a_lost_lock_is_reported_at_release() {
    let db = TestDb::new("locklost");
    let mut client = db.client();
    let taken = lock::acquire(&mut client, Duration::from_secs(1), &mut |_| {}).unwrap();
    client
        .batch_execute("SELECT pg_advisory_unlock_all()")
        .unwrap();
    let err = taken.release(&mut client).unwrap_err();
    assert!(err.message.contains("lost"), "{err}");
}

/// A connection moved to another server session between transactions (what a pooler in
/// transaction pooling mode does) releases the lock where it was taken, or says which server
/// session keeps it: never "released" on a session that did not hold it. Here the "moved"
/// connection is a second client, which never reaches the holder: the error names the
/// holder's server session as a pooled server connection, and the lock is still there (it
/// used to be a warning, the lock left behind unnamed).
#[test]
fn a_lock_out_of_reach_at_release_names_the_server_session_holding_it() {
    let db = TestDb::new("lockmoved");
    let mut holder = db.client();
    let holder_pid = value(&mut holder, "SELECT pg_backend_pid()").unwrap();
    let taken = lock::acquire(&mut holder, Duration::from_secs(1), &mut |_| {}).unwrap();
    let mut moved = db.client();
    let start = Instant::now();
    let err = taken.release(&mut moved).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid, "{err}");
    assert!(
        err.message.contains(&format!(
            "stays held by server session {holder_pid}, a pooled"
        )),
        "{err}"
    );
    assert!(err.message.contains("transaction pooling"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let held = value(
        &mut moved,
        &format!(
            "SELECT count(*)::text FROM pg_locks WHERE locktype = 'advisory' \
             AND classid = {LOCK_NAMESPACE}::oid AND pid = {holder_pid}"
        ),
    )
    .unwrap();
    assert_eq!(held, "1", "the holder still holds it");
}

/// `--lock-wait 0` is one attempt: its error says so, not "within 0ms".
#[test]
fn a_zero_wait_is_one_attempt_and_says_so() {
    let db = TestDb::new("lockzero");
    let mut holder = db.client_as("holder-app");
    let key = lock::lock_id(&db.name);
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock({LOCK_NAMESPACE}, {key})"))
        .unwrap();
    let mut waiter = db.client();
    let err = lock::acquire(&mut waiter, Duration::ZERO, &mut |_| {}).unwrap_err();
    assert_eq!(err.kind, ErrorKind::LockTimeout);
    assert!(
        err.message
            .contains("not acquired at once (no wait was allowed)"),
        "{err}"
    );
}

/// The check in each migration's transaction passes, any number of times, while the run holds the
/// lock, without ever letting it go (another session cannot take it between two checks), and
/// leaves the hold that release gives back (the lock is free after it); it fails once the
/// session released everything, and `is_held` says so.
#[test]
fn the_check_before_each_row_keeps_the_lock_and_fails_once_it_is_gone() {
    let db = TestDb::new("lockcheck");
    let mut client = db.client();
    let mut other = db.client();
    let key = lock::lock_id(&db.name);
    let try_other = format!("SELECT pg_try_advisory_lock({LOCK_NAMESPACE}, {key})::text");
    let taken = lock::acquire(&mut client, Duration::from_secs(1), &mut |_| {}).unwrap();
    let held = taken.held();
    let check = format!("SELECT ({})::text", held.check_sql());
    for _ in 0..5 {
        assert_eq!(value(&mut client, &check).unwrap(), "");
        assert_eq!(value(&mut other, &try_other).unwrap(), "false");
    }
    assert!(held.is_held(&mut client).unwrap());
    taken.release(&mut client).expect("the hold was there");
    assert!(!held.is_held(&mut client).unwrap());
    assert_eq!(value(&mut other, &try_other).unwrap(), "true", "released");
    other
        .batch_execute(&format!(
            "SELECT pg_advisory_unlock({LOCK_NAMESPACE}, {key})"
        ))
        .unwrap();

    let taken = lock::acquire(&mut client, Duration::from_secs(1), &mut |_| {}).unwrap();
    client
        .batch_execute("SELECT pg_advisory_unlock_all()")
        .unwrap();
    let err = client.simple_query(&check).expect_err("the check fails");
    assert!(!held.is_held(&mut client).unwrap(), "{err}");
    assert_eq!(
        value(&mut other, &try_other).unwrap(),
        "true",
        "the failed check did not take the lock again"
    );
    assert!(taken.release(&mut client).is_err());
}

/// One `pg_advisory_unlock` of the run's own key (not every lock of the session) is a lost
/// lock too: the check fails. The check never lets the lock go itself (its transaction holds
/// the key while it gives back and takes again the session's hold).
#[test]
fn one_targeted_unlock_fails_the_check_and_the_check_never_lets_go() {
    let db = TestDb::new("lockone");
    let mut client = db.client();
    let mut other = db.client();
    let key = lock::lock_id(&db.name);
    let taken = lock::acquire(&mut client, Duration::from_secs(1), &mut |_| {}).unwrap();
    let held = taken.held();
    let check = format!("SELECT ({})::text", held.check_sql());
    // The check, in a transaction left open: another session tries the lock, exclusive or
    // shared, while it is still in progress.
    client.batch_execute("BEGIN").unwrap();
    assert_eq!(value(&mut client, &check).unwrap(), "");
    assert_eq!(
        value(
            &mut other,
            &format!("SELECT pg_try_advisory_lock({LOCK_NAMESPACE}, {key})::text")
        )
        .unwrap(),
        "false"
    );
    assert_eq!(
        value(
            &mut other,
            &format!("SELECT pg_try_advisory_lock_shared({LOCK_NAMESPACE}, {key})::text")
        )
        .unwrap(),
        "false"
    );
    client.batch_execute("COMMIT").unwrap();
    value(
        &mut client,
        &format!("SELECT pg_advisory_unlock({LOCK_NAMESPACE}, {key})::text"),
    )
    .unwrap();
    client
        .simple_query(&check)
        .expect_err("one unlock of the key is a lost lock");
    assert!(!held.is_held(&mut client).unwrap());
    assert!(taken.release(&mut client).is_err());
}

/// A waiter must poll outside any transaction: one blocked inside `pg_advisory_lock` holds a
/// snapshot, and the holder's `CREATE INDEX CONCURRENTLY` would wait for it forever.
#[test]
fn a_waiting_runner_does_not_block_create_index_concurrently() {
    let db = TestDb::new("lockcic");
    let mut holder = db.client_as("holder-app");
    holder
        .batch_execute("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 1000)")
        .unwrap();
    let key = lock::lock_id(&db.name);
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock({LOCK_NAMESPACE}, {key})"))
        .unwrap();

    let (announced_tx, announced_rx) = mpsc::channel();
    let name = db.name.clone();
    let waiter = std::thread::spawn(move || {
        let mut waiter = apply_support::connect(&name, "waiter-app");
        let taken = lock::acquire(&mut waiter, Duration::from_secs(20), &mut |_| {
            announced_tx.send(()).unwrap();
        });
        taken.map(|t| t.release(&mut waiter))
    });
    announced_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("waiter started waiting");
    // With a waiter blocked inside pg_advisory_lock this would hang until the timeout.
    holder
        .batch_execute("SET statement_timeout = '8s'")
        .unwrap();
    holder
        .batch_execute("CREATE INDEX CONCURRENTLY t_id ON t (id)")
        .unwrap();
    holder
        .batch_execute(&format!(
            "SELECT pg_advisory_unlock({LOCK_NAMESPACE}, {key})"
        ))
        .unwrap();
    waiter.join().unwrap().unwrap().unwrap();
}

/// The unlock is a statement of our own: another session's lock on a system catalog the
/// server reads to run it (`LOCK pg_catalog.pg_proc`, `VACUUM FULL pg_proc`: the function's
/// look-up, on a session that never called it) keeps it waiting no longer than the wait it is
/// given — it used to wait as long as that lock lasted, forever for a session left idle in its
/// transaction, after a run that was over. Given up, the lock is still this session's
/// ([`lock::kept_by_session`]): it ends with the connection, which the holder of the catalog
/// lock never delays.
#[test]
fn a_catalog_lock_in_the_way_of_the_unlock_is_waited_for_no_longer_than_the_lock_wait() {
    let db = TestDb::new("lockrelcat");
    let mut maintenance = db.client_as("maintenance-app");
    let key = lock::lock_id(&db.name);
    let name = db.name.clone();
    let (locked_tx, locked_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        let mut client = apply_support::connect(&name, "runner-app");
        let taken = lock::acquire(&mut client, Duration::from_secs(1), &mut |_| {}).unwrap();
        locked_tx.send(()).unwrap();
        // The catalog is locked now.
        let _ = done_rx.recv();
        let start = Instant::now();
        let released = taken.release(&mut client);
        (released, start.elapsed(), client)
    });
    locked_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the runner took the lock");
    maintenance
        .batch_execute("BEGIN; LOCK TABLE pg_catalog.pg_proc IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    done_tx.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !runner.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let finished = runner.is_finished();
    // Let the runner go either way, so that the test ends.
    maintenance.batch_execute("ROLLBACK").unwrap();
    assert!(
        finished,
        "the unlock waited for the catalog lock past its bound"
    );
    let (released, elapsed, mut client) = runner.join().unwrap();
    let err = released.expect_err("the unlock could not run");
    assert!(lock::kept_by_session(&err), "{err:?}");
    assert_eq!(err.kind, ErrorKind::LockTimeout, "{err}");
    assert!(err.message.contains("could not be given back"), "{err}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    // Still the runner's, until its connection ends.
    assert_eq!(
        value(
            &mut maintenance,
            &format!("SELECT pg_try_advisory_lock({LOCK_NAMESPACE}, {key})")
        )
        .as_deref(),
        Some("f")
    );
    // And the session still answers: nothing but the unlock was given up.
    assert_eq!(value(&mut client, "SELECT 1::text").as_deref(), Some("1"));
    drop(client);
    let mut tries = 0;
    while value(
        &mut maintenance,
        &format!("SELECT pg_try_advisory_lock({LOCK_NAMESPACE}, {key})"),
    )
    .as_deref()
        != Some("t")
    {
        tries += 1;
        assert!(tries < 100, "the lock outlived its connection");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The idle timeouts the wait for the lock turned off come back by the lock's end, taken
/// or not (its timeout): the session has the database's values again.
#[test]
fn the_wait_for_the_lock_gives_the_idle_timeouts_back_taken_or_not() {
    for release in [true, false] {
        let db = TestDb::new("lockidle");
        db.client()
            .batch_execute(&format!(
                "ALTER DATABASE \"{0}\" SET idle_session_timeout = '10min'; \
                 ALTER DATABASE \"{0}\" SET idle_in_transaction_session_timeout = '9min'",
                db.name
            ))
            .unwrap();
        let mut holder = Some(db.client_as("holder-app"));
        let key = lock::lock_id(&db.name);
        holder
            .as_mut()
            .unwrap()
            .batch_execute(&format!("SELECT pg_advisory_lock({LOCK_NAMESPACE}, {key})"))
            .unwrap();
        let mut waiter = db.client();
        let mut waited = 0;
        let taken = lock::acquire(&mut waiter, Duration::from_millis(600), &mut |_| {
            waited += 1;
            // The wait has begun (its timeouts off): the holder goes, the next attempt takes it.
            if release {
                drop(holder.take());
            }
        });
        assert_eq!(waited, 1, "release={release}");
        match release {
            true => drop(taken.expect("taken once the holder is gone")),
            false => assert_eq!(taken.unwrap_err().kind, ErrorKind::LockTimeout),
        }
        assert_eq!(
            value(
                &mut waiter,
                "SELECT current_setting('idle_session_timeout') || ' ' || \
                 current_setting('idle_in_transaction_session_timeout')"
            )
            .as_deref(),
            Some("10min 9min"),
            "release={release}"
        );
    }
}

/// The idle timeouts are turned off for a wait by `SET`, reading no catalog: a server that
/// does not know one of them (`idle_session_timeout` before PostgreSQL 14; here a name no
/// server knows) refuses the message (SQLSTATE 42704, which undoes its other `SET`s), and each
/// is then set alone: those it knows are off, and only they come back with the restore.
#[test]
fn idle_timeouts_the_server_does_not_know_are_left_out() {
    let db = TestDb::new("idleunknown");
    let mut client = db.client();
    client
        .batch_execute(
            "SET idle_session_timeout = '1h'; SET idle_in_transaction_session_timeout = '1h'",
        )
        .unwrap();
    let names = [
        "idle_session_timeout",
        "confiture_no_such_timeout",
        "idle_in_transaction_session_timeout",
    ];
    let restore = crate::db::timeouts_off(&mut client, &names).unwrap();
    assert_eq!(restore.0, [names[0], names[2]]);
    for name in [names[0], names[2]] {
        assert_eq!(
            value(&mut client, &format!("SHOW {name}")).as_deref(),
            Some("0"),
            "{name}"
        );
    }
    assert!(!restore.sql().contains(names[1]), "{}", restore.sql());
    restore.now(&mut client).unwrap();
}
