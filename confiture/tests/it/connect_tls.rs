//! TLS through rustls against the local server (Debian's snakeoil certificate: self-signed,
//! CN and SAN `localhost`), with libpq's sslmode semantics.
#![cfg(feature = "db")]

use crate::common;

use common::TestDb;
use confiture::config::Environment;
use confiture::exit;

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

fn env(host: &str, db: &TestDb, params: &str) -> Environment {
    Environment::from_url(
        &format!(
            "postgresql://postgres@{host}:{}/{}?{params}",
            common::server().port,
            db.name
        ),
        "--database-url",
    )
    .unwrap()
}

fn uses_tls(client: &mut postgres::Client) -> bool {
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .expect("pg_stat_ssl")
        .get(0)
}

fn full_text(err: &confiture::Error) -> String {
    format!("{err} | {:?} | {:?}", err.help, err.details)
}

#[test]
fn require_encrypts_without_verifying() {
    let db = TestDb::new("cft_tls");
    let mut client = confiture::db::connect(&env(&common::server().host, &db, "sslmode=require"))
        .expect("connects");
    assert!(uses_tls(&mut client));
}

#[test]
fn prefer_uses_tls_when_offered_and_disable_does_not() {
    let db = TestDb::new("cft_tls");
    let mut client = confiture::db::connect(&env(&common::server().host, &db, "sslmode=prefer"))
        .expect("connects");
    assert!(uses_tls(&mut client));
    let mut client = confiture::db::connect(&env(&common::server().host, &db, "sslmode=disable"))
        .expect("connects");
    assert!(!uses_tls(&mut client));
}

#[test]
fn verify_full_fails_on_a_host_the_certificate_does_not_name() {
    let db = TestDb::new("cft_tls");
    let err = common::connect_err(&env(
        &common::server().host,
        &db,
        &format!("sslmode=verify-full&sslrootcert={SNAKEOIL}"),
    ));
    assert_eq!(err.exit_code(), exit::CONNECTION, "{}", full_text(&err));
    assert!(
        err.message
            .contains("not valid for the host name connected to"),
        "{}",
        full_text(&err)
    );
    assert!(err.message.contains(&db.display()));
    // Checking the chain only (verify-ca) is checking less: never suggested.
    let help = err.help.as_deref().unwrap_or("");
    assert!(
        help.contains("the host name in the URL must be one the certificate names")
            && !help.contains("verify-ca"),
        "{}",
        full_text(&err)
    );
}

#[test]
fn verify_full_succeeds_on_the_name_in_the_certificate() {
    let db = TestDb::new("cft_tls");
    let mut client = confiture::db::connect(&env(
        "localhost",
        &db,
        &format!("sslmode=verify-full&sslrootcert={SNAKEOIL}"),
    ))
    .expect("localhost is the certificate's name");
    assert!(uses_tls(&mut client));
}

#[test]
fn verify_ca_checks_the_chain_but_not_the_host_name() {
    let db = TestDb::new("cft_tls");
    let mut client = confiture::db::connect(&env(
        &common::server().host,
        &db,
        &format!("sslmode=verify-ca&sslrootcert={SNAKEOIL}"),
    ))
    .expect("the self-signed certificate is its own root");
    assert!(uses_tls(&mut client));
}

#[test]
fn verify_ca_without_a_matching_root_fails_clearly() {
    let db = TestDb::new("cft_tls");
    // sslrootcert=system: the webpki roots (verify-full), which did not sign the snakeoil
    // certificate. (Without sslrootcert the verify modes trust ~/.postgresql/root.crt alone,
    // as libpq: tests/tests/it/tls_cluster.rs.)
    let err = common::connect_err(&env(&common::server().host, &db, "sslrootcert=system"));
    assert_eq!(err.exit_code(), exit::CONNECTION, "{}", full_text(&err));
    assert!(
        err.message.contains("not signed by a trusted root"),
        "{}",
        full_text(&err)
    );
    assert!(err.message.contains("webpki"), "{}", full_text(&err));
}

#[test]
fn require_with_a_root_certificate_verifies_like_verify_ca() {
    let db = TestDb::new("cft_tls");
    let dir = common::TempDir::new("cft_tls_roots");
    // A valid root certificate that did not sign the server's: a public CA from the system.
    let other_ca = [
        "/etc/ssl/certs/ISRG_Root_X1.pem",
        "/etc/ssl/certs/ca-certificates.crt",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).is_file());
    let Some(other_ca) = other_ca else {
        panic!("this test needs a system CA bundle in /etc/ssl/certs (package ca-certificates)");
    };
    let roots = dir.write("other.pem", &std::fs::read_to_string(other_ca).unwrap());
    let err = common::connect_err(&env(
        &common::server().host,
        &db,
        &format!("sslmode=require&sslrootcert={}", roots.display()),
    ));
    assert_eq!(err.exit_code(), exit::CONNECTION, "{}", full_text(&err));
    assert!(
        err.message.contains("not signed by a trusted root"),
        "{}",
        full_text(&err)
    );
    // And with the right root, require succeeds.
    confiture::db::connect(&env(
        &common::server().host,
        &db,
        &format!("sslmode=require&sslrootcert={SNAKEOIL}"),
    ))
    .expect("snakeoil as root");
}

/// A help line suggests a change, never the sslmode already in use: with `require` or `prefer`
/// a `sslrootcert` is what makes the chain checked, so the way out is that file, not
/// `sslmode=require` — nor any weaker sslmode or dropping the file: a certificate that does
/// not verify is what a man-in-the-middle shows.
#[test]
fn a_tls_failure_never_suggests_the_sslmode_in_use() {
    let db = TestDb::new("cft_tls");
    let dir = common::TempDir::new("cft_tls_roots");
    let other_ca = [
        "/etc/ssl/certs/ISRG_Root_X1.pem",
        "/etc/ssl/certs/ca-certificates.crt",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).is_file())
    .expect("this test needs a system CA bundle in /etc/ssl/certs (package ca-certificates)");
    let roots = dir.write("other.pem", &std::fs::read_to_string(other_ca).unwrap());
    let roots = roots.display();
    for (host, params, mode) in [
        (
            common::server().host.as_str(),
            format!("sslmode=require&sslrootcert={roots}"),
            "require",
        ),
        (
            common::server().host.as_str(),
            format!("sslmode=prefer&sslrootcert={roots}"),
            "prefer",
        ),
        (
            common::server().host.as_str(),
            format!("sslmode=verify-ca&sslrootcert={roots}"),
            "verify-ca",
        ),
        (
            "localhost",
            format!("sslmode=verify-full&sslrootcert={roots}"),
            "verify-full",
        ),
        (
            &common::server().host,
            format!("sslmode=verify-full&sslrootcert={SNAKEOIL}"),
            "verify-full",
        ),
    ] {
        let err = common::connect_err(&env(host, &db, &params));
        let text = full_text(&err);
        assert_eq!(err.exit_code(), exit::CONNECTION, "{params}: {text}");
        let help = err.help.as_deref().unwrap_or_default();
        assert!(!help.is_empty(), "{params}: {text}");
        assert!(
            !help.contains(&format!("sslmode={mode}")),
            "{params}: the help suggests the mode in use: {text}"
        );
        if matches!(mode, "require" | "prefer") {
            assert!(help.contains("sslrootcert"), "{params}: {text}");
        }
        assert!(
            !help.contains("sslmode") && !help.contains("without verifying"),
            "{params}: the help suggests checking less: {text}"
        );
    }
}

#[test]
fn unreadable_root_certificate_is_a_configuration_error() {
    let db = TestDb::new("cft_tls");
    let err = common::connect_err(&env(
        &common::server().host,
        &db,
        "sslmode=verify-ca&sslrootcert=/nonexistent/root.pem",
    ));
    assert_eq!(err.exit_code(), exit::INVALID, "{}", full_text(&err));
    assert!(
        err.message.contains("/nonexistent/root.pem"),
        "{}",
        full_text(&err)
    );
    // The reading error is the source, as data.
    let io = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("the io::Error as the source");
    assert_eq!(
        io.kind(),
        std::io::ErrorKind::NotFound,
        "{}",
        full_text(&err)
    );
}
