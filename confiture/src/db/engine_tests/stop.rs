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
/// later one [`LATE`]: its port.
fn late_proxy() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy's port");
    let port = listener.local_addr().expect("the proxy's port").port();
    let seen = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let later = seen.fetch_add(1, Ordering::SeqCst) > 0;
            std::thread::spawn(move || {
                if later {
                    std::thread::sleep(LATE);
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
    port
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
    let port = late_proxy();
    let url = format!(
        "postgresql://{}@127.0.0.1:{port}/{}?sslmode=disable",
        server().user,
        db.name
    );
    let env = crate::config::Environment::from_url(&url, "--database-url").unwrap();
    let mut client = crate::db::connect::connect(&env).expect("connect through the proxy");
    let flag = Arc::new(AtomicBool::new(false));
    let stop = Stop::watch(flag.clone(), &client, &env);
    // What the run does first: its lock, which tells the stop which server session it is.
    let lock = crate::db::lock::acquire_scoped(
        &mut client,
        db.name.clone(),
        None,
        Duration::from_secs(5),
        Some(&stop),
        &mut |_| {},
    )
    .expect("the migration lock");
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
