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
                    std::thread::sleep(late);
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
                std::thread::spawn(move || pump(client_in, upstream_out));
                pump(upstream, client);
            });
        }
    });
    (port, cancels)
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
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
    let url = format!(
        "postgresql://{}@127.0.0.1:{port}/{}?sslmode=disable",
        server().user,
        db.name
    );
    let env = crate::config::Environment::from_url(&url, "--database-url").unwrap();
    let mut client = crate::db::connect::connect(&env).expect("connect through the proxy");
    let flag = Arc::new(AtomicBool::new(false));
    let stop = Stop::watch(flag.clone(), &client, &env);
    // What the run does first: its lock, whose session the stop is then told.
    let lock = crate::db::lock::acquire(&mut client, Duration::from_secs(5), &mut |_| {})
        .expect("the migration lock");
    stop.on_session(lock.backend());
    // The stop comes while the message runs; the message ends on its own before the
    // request (held by the proxy) reaches the server.
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        flag.store(true, Ordering::SeqCst);
    });
    let sent = stop
        .send(|| client.batch_execute("SELECT pg_catalog.pg_sleep(0.4)"))
        .expect("the message was sent before the stop");
    setter.join().unwrap();
    assert!(sent.is_ok(), "{sent:?}");
    // The runner's next statement: it outlasts the request's delay.
    let started = Instant::now();
    let next = client.batch_execute("SELECT pg_catalog.pg_sleep(1.5)");
    assert!(
        next.is_ok(),
        "the stop's late cancel request cancelled the runner's next statement after {:?}: {next:?}",
        started.elapsed()
    );
    lock.release(&mut client).expect("release the lock");
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
