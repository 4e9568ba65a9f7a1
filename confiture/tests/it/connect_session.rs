//! `db::connect` against the local PostgreSQL: what the session looks like once connected.
#![cfg(feature = "db")]

use crate::common;

use common::TestDb;
use confiture::config::Environment;

fn show(client: &mut postgres::Client, setting: &str) -> String {
    client
        .query_one(&format!("SHOW {setting}"), &[])
        .expect("SHOW")
        .get(0)
}

#[test]
fn startup_packet_carries_application_name_and_check_interval() {
    let db = TestDb::new("cft_connect");
    let mut client = confiture::db::connect(&db.environment()).expect("connects");
    assert_eq!(show(&mut client, "application_name"), "cargo-confiture");
    assert_eq!(show(&mut client, "client_connection_check_interval"), "1s");
    let current: String = client
        .query_one("SELECT current_database()", &[])
        .unwrap()
        .get(0);
    assert_eq!(current, db.name);
}

/// The tool's own sessions (`db::connect`: status, drift's reads of the live database, the
/// snapshots, the target's settings; a scratch server's maintenance sessions too) start with
/// `statement_timeout` 0 from the startup packet, over the database's, the role's and the
/// connection's `options`: the user's bound for migration SQL cannot cancel their first
/// statement — a `SET statement_timeout = 0` could itself be, under 1 ms on a loaded server.
#[test]
fn the_tools_own_sessions_start_without_the_users_statement_timeout() {
    let db = TestDb::new("cft_connect");
    common::admin()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET statement_timeout = '1ms'",
            db.name
        ))
        .unwrap();
    let mut client = confiture::db::connect(&db.environment()).expect("connects");
    assert_eq!(show(&mut client, "statement_timeout"), "0");
    let url = format!("{}&options=-c%20statement_timeout%3D1", db.url());
    let env = Environment::from_url(&url, "--database-url").unwrap();
    let mut client = confiture::db::connect(&env).expect("connects");
    assert_eq!(show(&mut client, "statement_timeout"), "0");
}

#[test]
fn url_parameters_reach_the_session() {
    let db = TestDb::new("cft_connect");
    let url = format!(
        "{}&application_name=deploy-bot&options=-c%20search_path%3Dops%2Cpublic",
        db.url()
    );
    let env = Environment::from_url(&url, "--database-url").unwrap();
    let mut client = confiture::db::connect(&env).expect("connects");
    assert_eq!(show(&mut client, "application_name"), "deploy-bot");
    assert_eq!(show(&mut client, "search_path"), "ops,public");
    // Our option is still there alongside the user's.
    assert_eq!(show(&mut client, "client_connection_check_interval"), "1s");
}

/// A 20,000-character `application_name` in an environment file made the startup packet too
/// large: the server closed the connection (exit 3). It is cut to the 63 bytes the server
/// keeps, and the connection is made.
#[test]
fn a_long_application_name_from_a_file_connects_cut_to_63_bytes() {
    let db = TestDb::new("cft_connect");
    let text = format!(
        "database_url: {}\napplication_name: {}\n",
        db.url(),
        "a".repeat(20_000)
    );
    let env = Environment::parse(
        &text,
        std::path::Path::new("db/environments/x.yaml"),
        &|_| None,
    )
    .unwrap();
    let mut client = confiture::db::connect(&env).expect("connects");
    assert_eq!(show(&mut client, "application_name"), "a".repeat(63));
}

#[test]
fn connects_through_a_unix_socket() {
    let db = TestDb::new("cft_connect");
    let env = Environment::from_url(
        &format!(
            "postgresql://postgres@%2Fvar%2Frun%2Fpostgresql:{}/{}",
            common::server().port,
            db.name
        ),
        "--database-url",
    )
    .unwrap();
    let mut client = confiture::db::connect(&env).expect("connects over the socket");
    let addr: Option<String> = client
        .query_one("SELECT inet_client_addr()::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(addr, None, "a Unix-socket session has no client address");
}

/// libpq never asks for TLS over a Unix socket, whatever the sslmode (`fe-connect.c`: "Don't
/// request SSL or GSSAPI over Unix sockets"): the socket is local, and a mode that requires TLS
/// connects without it there. So do we, rather than refusing what libpq and `psql` accept.
#[test]
fn a_unix_socket_connects_without_tls_whatever_the_sslmode_as_libpq_does() {
    let db = TestDb::new("cft_socket_tls");
    for sslmode in ["disable", "prefer", "require", "verify-ca", "verify-full"] {
        let env = Environment::from_url(
            &format!(
                "host=/var/run/postgresql port={} dbname={} user=postgres sslmode={sslmode}",
                common::server().port,
                db.name
            ),
            "--database-url",
        )
        .unwrap();
        let mut client = confiture::db::connect(&env)
            .unwrap_or_else(|e| panic!("sslmode={sslmode} connects over the socket: {e}"));
        let ssl: bool = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .unwrap()
            .get(0);
        assert!(!ssl, "sslmode={sslmode}: no TLS over a Unix socket");
    }
}
