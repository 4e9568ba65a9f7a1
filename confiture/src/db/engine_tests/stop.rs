//! A run's stop ([`crate::db::apply::Stop`]) against a real PostgreSQL: the cancel request it
//! makes must have reached the server before the runner sends its next statement, or the
//! request, processed late, cancels that statement (a `ROLLBACK` after the failure, a ledger
//! read, the lock's release) instead of the migration's.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::apply_support::TestDb;
use super::common::server;
use crate::db::apply::Stop;

/// How long the proxy holds every connection after the first before it reaches the server:
/// a server slow to take a new connection (a loaded machine forking its backends, a remote
/// server), which is what a cancel request waits on.
const LATE: Duration = Duration::from_millis(700);

/// A TCP proxy to the test server whose first connection goes through at once and every
/// later one `late` after it was accepted: its port, and how many cancel requests went through.
fn late_proxy(late: Duration) -> (u16, Arc<AtomicUsize>) {
    proxy(late, Duration::ZERO)
}

/// A TCP proxy to the test server whose first connection goes through at once and, on every
/// later one, each piece the client writes reaches the server `late` after it came: a
/// connection made at once (a TLS handshake too, slowly) whose last packet, written by a
/// client that then goes on, reaches the server late. Its port.
fn slow_proxy(late: Duration) -> u16 {
    proxy(Duration::ZERO, late).0
}

/// [`late_proxy`] and [`slow_proxy`]: every connection after the first reaches the server
/// `connect_late` after it was accepted, each piece its client writes `write_late` after it
/// came. Its port, and how many (plain) cancel requests went through.
fn proxy(connect_late: Duration, write_late: Duration) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy's port");
    let port = listener.local_addr().expect("the proxy's port").port();
    let seen = Arc::new(AtomicUsize::new(0));
    let cancels = Arc::new(AtomicUsize::new(0));
    let counted = cancels.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let later = seen.fetch_add(1, Ordering::SeqCst) > 0;
            let counted = counted.clone();
            std::thread::spawn(move || {
                if later {
                    std::thread::sleep(connect_late);
                }
                // A cancel request's packet: length 16, then the code 80877102.
                let mut first = [0u8; 8];
                if client.peek(&mut first).is_ok_and(|n| n == 8)
                    && first == [0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e]
                {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                let Ok(upstream) = TcpStream::connect((server().host.as_str(), server().port))
                else {
                    return;
                };
                let (Ok(client_in), Ok(upstream_out)) = (client.try_clone(), upstream.try_clone())
                else {
                    return;
                };
                let held = if later { write_late } else { Duration::ZERO };
                std::thread::spawn(move || pump(client_in, upstream_out, held));
                pump(upstream, client, Duration::ZERO);
            });
        }
    });
    (port, cancels)
}

/// Copies `from` to `to`, each piece read `held` before it is written, until `from` ends;
/// then ends `to`'s writing side.
fn pump(mut from: TcpStream, mut to: TcpStream, held: Duration) {
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                std::thread::sleep(held);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    std::thread::sleep(held);
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// The stop's cancel request, made while a migration's message ran and reaching the server
/// only after the message ended on its own, cancelled the runner's next statement (CI: the
/// `ROLLBACK` after an interrupted migration failed, and the run was reported as a lost
/// connection, exit 3, instead of interrupted). The runner's next statement waits for the
/// request to be done on the server.
#[test]
fn a_cancel_request_slow_to_reach_the_server_never_cancels_the_next_statement() {
    let db = TestDb::new("stop_late_cancel");
    let (port, _) = late_proxy(LATE);
    let env = through_proxy(&db, port);
    let mut client = crate::db::connect::connect(&env).expect("connect through the proxy");
    let flag = Arc::new(AtomicBool::new(false));
    let stop = Stop::watch(flag.clone(), &client, &env);
    // What the run does first: its lock, whose session the stop is then told.
    let lock = crate::db::lock::acquire(&mut client, Duration::from_secs(5), &mut |_| {})
        .expect("the migration lock");
    stop.on_session(lock.backend());
    let sent = stop_in_a_message_then_next(&mut client, &stop, flag);
    assert!(sent.is_ok(), "{sent:?}");
    lock.release(&mut client).expect("release the lock");
}

/// Sets `flag` while a message of `stop`'s run on `client` runs (100 ms into 0.4 s: the stop's
/// request, held by the proxy, reaches the server after the message ended on its own), then
/// sends the runner's next statement, which outlasts the proxy's hold and must not be
/// cancelled. The message's outcome.
fn stop_in_a_message_then_next(
    client: &mut postgres::Client,
    stop: &Stop,
    flag: Arc<AtomicBool>,
) -> Result<(), postgres::Error> {
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        flag.store(true, Ordering::SeqCst);
    });
    let sent = stop
        .send(|| client.batch_execute("SELECT pg_catalog.pg_sleep(0.4)"))
        .expect("the message was sent before the stop");
    setter.join().unwrap();
    let started = Instant::now();
    let next = client.batch_execute("SELECT pg_catalog.pg_sleep(1.5)");
    assert!(
        next.is_ok(),
        "the stop's cancel request, late on the server, cancelled the runner's next statement \
         after {:?}: {next:?}",
        started.elapsed()
    );
    sent
}

/// The stop's cancel request over TLS (the run's server session not known, or no second
/// session to cancel it from: a pooler, a connection limit), reaching the server only after
/// the message ended on its own, cancelled the runner's next statement: CI, a role allowed one
/// connection, the `ROLLBACK` after the interrupted migration cancelled by the second request
/// (`CANCEL_AGAIN`), the run reported as a lost connection (exit 3) instead of interrupted.
/// The request now waits for the server to close its connection, as libpq's `PQcancel` does:
/// the backend was signalled before the runner sends anything more, whichever statement
/// comes next (a `ROLLBACK`, a ledger read or row, the lock's release: all wait for the
/// request, `Stop::send`), and a signal that finds the session idle is ignored.
#[test]
fn a_cancel_request_over_tls_is_done_on_the_server_before_the_next_statement() {
    let db = TestDb::new("stop_tls_request");
    // Four pieces (the SSL request, two of the handshake, the request) held 250 ms each:
    // well within the stop's wait for the request (`CANCEL_WAIT`, 3 s).
    let port = slow_proxy(Duration::from_millis(250));
    let env = through_proxy_as(&db, port, "require");
    let mut client = crate::db::connect::connect(&env).expect("connect through the proxy");
    let flag = Arc::new(AtomicBool::new(false));
    // The session is never told: the cancel request is the one way.
    let stop = Stop::watch(flag.clone(), &client, &env);
    // Cancelled, or ended before the request reached the server: either is the stop's.
    if let Err(e) = stop_in_a_message_then_next(&mut client, &stop, flag) {
        assert_eq!(
            e.code(),
            Some(&postgres::error::SqlState::QUERY_CANCELED),
            "{e:?}"
        );
    }
}

/// `up` cancels its running migration from a session of its own once it holds its lock,
/// whichever way it took it: the lock taken on the connecting thread while the files are read
/// (`migrator::up_ahead`), the common case, never told the stop the session, which then sent
/// a cancel request (and, the server getting to it late, could cancel the `ROLLBACK` after the
/// migration: exit 3, not 130).
#[test]
fn up_cancels_its_migration_without_a_cancel_request_once_it_holds_its_lock() {
    use crate::migrate::{no_progress, UpOptions};

    let db = TestDb::new("stop_up_session");
    let dir = super::apply_support::Dir::new();
    dir.migration(
        "001",
        "slow",
        "SELECT pg_catalog.pg_sleep(30);\n",
        "SELECT 1;\n",
    );
    let (port, cancels) = late_proxy(Duration::ZERO);
    let url = format!(
        "postgresql://{}@127.0.0.1:{port}/{}?sslmode=disable",
        server().user,
        db.name
    );
    let env = crate::config::Environment::from_url(&url, "--database-url").unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let mut migrator = super::apply_support::migrator_for(env, &dir.path).stop_when(flag.clone());
    let run = std::thread::spawn(move || {
        migrator
            .up(&UpOptions::default(), &mut no_progress)
            .map_err(Box::new)
    });
    let mut admin = db.client();
    let deadline = Instant::now() + Duration::from_secs(30);
    while super::apply_support::value(
        &mut admin,
        "SELECT pid::text FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event = 'PgSleep'",
    )
    .is_none()
    {
        assert!(Instant::now() < deadline, "the migration never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    flag.store(true, Ordering::SeqCst);
    let failed = run.join().unwrap().expect_err("the run was stopped");
    assert_eq!(
        failed.error.kind,
        crate::ErrorKind::Interrupted,
        "{}",
        failed.error
    );
    assert_eq!(
        cancels.load(Ordering::SeqCst),
        0,
        "the stop sent a cancel request: {}",
        failed.error
    );
}

/// The test server's address, as a connection dialling it directly would have dialled it.
fn server_address() -> std::net::SocketAddr {
    use std::net::ToSocketAddrs;
    (server().host.as_str(), server().port)
        .to_socket_addrs()
        .expect("the test server's address")
        .next()
        .expect("an address of the test server")
}

/// An environment naming `db` through the proxy on `port`.
fn through_proxy(db: &TestDb, port: u16) -> crate::config::Environment {
    through_proxy_as(db, port, "disable")
}

/// [`through_proxy`] with `sslmode`.
fn through_proxy_as(db: &TestDb, port: u16, sslmode: &str) -> crate::config::Environment {
    let url = format!(
        "postgresql://{}@127.0.0.1:{port}/{}?sslmode={sslmode}",
        server().user,
        db.name
    );
    crate::config::Environment::from_url(&url, "--database-url").unwrap()
}

/// `db` with its ledger, and a session holding it locked (`ACCESS EXCLUSIVE`, in an open
/// transaction): every ledger read waits for it.
fn ledger_locked(db: &TestDb, dir: &super::apply_support::Dir) -> postgres::Client {
    use crate::migrate::{no_progress, UpOptions};
    dir.table("001", "one", "one");
    db.migrator(dir)
        .up(&UpOptions::default(), &mut no_progress)
        .expect("the ledger, applied");
    let mut holder = db.client();
    holder
        .batch_execute("BEGIN; LOCK TABLE tb_confiture IN ACCESS EXCLUSIVE MODE")
        .expect("lock the ledger");
    holder
}

/// Sets `flag` once a session of `db` waits for a lock on the server, with 300 ms at least
/// left of its message's `lock_timeout` when it names one. A ledger read waits in slices
/// (`lock::ServerWait`, from 50 ms): a flag set as one ends is seen by the read before its
/// next slice, which then sends nothing to cancel, and the stop's way of cancelling (a session
/// of its own, a cancel request), which the tests look at, was never taken (seen about once
/// in six runs: "no cancel request was sent").
fn stop_once_waiting(db: &TestDb, flag: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let mut admin = db.client();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while super::apply_support::value(
            &mut admin,
            "SELECT pid::text FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' \
             AND COALESCE(substring(query FROM 'lock_timeout = ''([0-9]+)ms''')::float8 \
             - 1000 * extract(epoch FROM clock_timestamp() - query_start)::float8, 1e9) > 300",
        )
        .is_none()
        {
            assert!(
                Instant::now() < deadline,
                "nothing ever waited for the lock"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        flag.store(true, Ordering::SeqCst);
    })
}

/// The ledger read of `db` (whose ledger another session keeps locked) through the proxy on
/// `port`, its stop told that the connection was dialled at `dialled`
/// ([`Stop::watch_direct`]) and set once the read waits for the lock: the read must end
/// interrupted. The session, for its next statement.
fn stopped_ledger_read(db: &TestDb, port: u16, dialled: std::net::SocketAddr) -> postgres::Client {
    let env = through_proxy(db, port);
    let mut client = crate::db::connect::connect(&env).expect("connect through the proxy");
    let flag = Arc::new(AtomicBool::new(false));
    let stop = Stop::watch_direct(flag.clone(), &mut client, Some(dialled), &env);
    let setter = stop_once_waiting(db, flag);
    let read = crate::db::ledger::read_unless_stopped(
        &mut client,
        &env.migration.tracking_table,
        Duration::from_secs(30),
        Some(&stop),
        crate::ledger::BuildSite::Database(None),
    );
    setter.join().unwrap();
    let interrupted = read.expect_err("the read was stopped");
    assert_eq!(
        interrupted.kind,
        crate::ErrorKind::Interrupted,
        "{interrupted}"
    );
    client
}

/// A stop before the run holds its lock — a dry run's ledger read, the session's first
/// statement, waiting for a lock on the ledger — sent a cancel request (the session was known
/// only once the lock was taken), which the server, slow to take its connection, handled
/// after the runner went on: the runner's next statement was cancelled. On a connection that
/// reaches the server directly the session is known from the start (`Stop::watch_direct`): no
/// cancel request, the next statement runs. The proxy stands for a postmaster slow to take
/// the request's connection: the stop is told the connection was dialled at the server's own
/// address, as a direct one is.
#[test]
fn a_stop_before_the_lock_cancels_from_a_session_of_its_own_on_a_direct_connection() {
    let db = TestDb::new("stop_before_lock");
    let dir = super::apply_support::Dir::new();
    let mut holder = ledger_locked(&db, &dir);
    let (port, cancels) = late_proxy(LATE);
    let mut client = stopped_ledger_read(&db, port, server_address());
    // The runner's next statement: it outlasts the proxy's delay.
    let started = Instant::now();
    let next = client.batch_execute("SELECT pg_catalog.pg_sleep(1.5)");
    assert!(
        next.is_ok(),
        "a cancel request of the stop cancelled the runner's next statement after {:?}: {next:?}",
        started.elapsed()
    );
    assert_eq!(
        cancels.load(Ordering::SeqCst),
        0,
        "the stop sent a cancel request"
    );
    holder.batch_execute("ROLLBACK").unwrap();
}

/// A stop before the lock through a connection that does not reach the server directly (here
/// the proxy: a pooler may hand the connection's statements to another server session between
/// two transactions) is never sent to a server session named before the pooler check: the
/// cancel request is the one way, and it does cancel the read.
#[test]
fn a_stop_before_the_lock_through_a_relay_falls_back_to_a_cancel_request() {
    let db = TestDb::new("stop_relayed");
    let dir = super::apply_support::Dir::new();
    let mut holder = ledger_locked(&db, &dir);
    let (port, cancels) = late_proxy(Duration::ZERO);
    // Dialled at the proxy's address: the server's end of the connection is another.
    stopped_ledger_read(
        &db,
        port,
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
    );
    assert!(
        cancels.load(Ordering::SeqCst) >= 1,
        "no cancel request was sent"
    );
    holder.batch_execute("ROLLBACK").unwrap();
}

/// The commands stopped before their lock through the counting proxy: `up` waiting for the
/// migration lock (a poll: nothing of the run is on the server to cancel), `status` reading a
/// ledger locked by another session (on the connecting thread, which the stop leaves behind),
/// a dry run on a connection that reaches the server directly (cancelled from a session of its
/// own). None sends a cancel request, and the session's next statement (the same `Migrator`'s
/// next command) runs.
#[test]
fn a_stop_before_the_lock_sends_no_cancel_request() {
    use crate::migrate::{no_progress, Progress, UpOptions};

    // `up` waiting for the migration lock, held by another session.
    let db = TestDb::new("stop_lock_wait");
    let dir = super::apply_support::Dir::new();
    dir.table("001", "one", "one");
    let mut holder = db.client();
    let lock = crate::db::lock::acquire(&mut holder, Duration::from_secs(5), &mut |_| {})
        .expect("the migration lock, held by another session");
    let (port, cancels) = late_proxy(Duration::ZERO);
    let flag = Arc::new(AtomicBool::new(false));
    let mut migrator = super::apply_support::migrator_for(through_proxy(&db, port), &dir.path)
        .stop_when(flag.clone());
    let waiting = Arc::new(AtomicBool::new(false));
    let seen = waiting.clone();
    let run = std::thread::spawn(move || {
        let mut progress = |p: Progress| {
            if matches!(p, Progress::LockWaiting { .. }) {
                seen.store(true, Ordering::SeqCst);
            }
        };
        let outcome = migrator.up(
            &UpOptions {
                lock_wait: Duration::from_secs(30),
                ..UpOptions::default()
            },
            &mut progress,
        );
        (migrator, outcome.map(|_| ()).map_err(|f| f.error))
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !waiting.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "up never waited for the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    flag.store(true, Ordering::SeqCst);
    let (migrator, outcome) = run.join().unwrap();
    let error = outcome.expect_err("the run was stopped");
    assert_eq!(error.kind, crate::ErrorKind::Interrupted, "{error}");
    assert_eq!(
        cancels.load(Ordering::SeqCst),
        0,
        "the stop sent a cancel request"
    );
    lock.release(&mut holder).expect("release the lock");
    let mut migrator = migrator.stop_when(Arc::new(AtomicBool::new(false)));
    migrator
        .up(&UpOptions::default(), &mut no_progress)
        .expect("the next command runs");

    // `status` reading a ledger another session holds locked.
    let db = TestDb::new("stop_status_read");
    let dir = super::apply_support::Dir::new();
    let mut holder = ledger_locked(&db, &dir);
    let (port, cancels) = late_proxy(Duration::ZERO);
    let flag = Arc::new(AtomicBool::new(false));
    let mut migrator = super::apply_support::migrator_for(through_proxy(&db, port), &dir.path)
        .stop_when(flag.clone());
    let setter = stop_once_waiting(&db, flag);
    let error = migrator.status().expect_err("status was stopped");
    setter.join().unwrap();
    assert_eq!(error.kind, crate::ErrorKind::Interrupted, "{error}");
    assert_eq!(
        cancels.load(Ordering::SeqCst),
        0,
        "the stop sent a cancel request"
    );
    holder.batch_execute("ROLLBACK").unwrap();

    // A dry run's ledger read, on a connection to the server itself.
    let db = TestDb::new("stop_dry_run");
    let dir = super::apply_support::Dir::new();
    let mut holder = ledger_locked(&db, &dir);
    dir.table("002", "two", "two");
    let flag = Arc::new(AtomicBool::new(false));
    let mut migrator = db.migrator(&dir).stop_when(flag.clone());
    let setter = stop_once_waiting(&db, flag);
    let dry_run = UpOptions {
        dry_run: true,
        lock_wait: Duration::from_secs(30),
        ..UpOptions::default()
    };
    let stopped = migrator
        .up(&dry_run, &mut no_progress)
        .expect_err("the dry run was stopped");
    setter.join().unwrap();
    assert_eq!(
        stopped.error.kind,
        crate::ErrorKind::Interrupted,
        "{}",
        stopped.error
    );
    holder.batch_execute("ROLLBACK").unwrap();
    let mut migrator = migrator.stop_when(Arc::new(AtomicBool::new(false)));
    migrator
        .up(&dry_run, &mut no_progress)
        .expect("the next command runs");
}
