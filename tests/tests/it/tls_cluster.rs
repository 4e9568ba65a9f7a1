//! TLS end to end, against a throwaway cluster that only accepts TLS (`hostssl` entries,
//! `hostnossl ... reject`) with a certificate for `localhost` signed by a CA made for the test:
//! `verify-full` with that CA connects (and the session is encrypted); another CA, a host name
//! the certificate does not name, and `sslmode=disable` each fail with a clear message (exit 3).
//!
//! One cluster serves every test of this file (initdb costs a second or two).

use std::path::PathBuf;
use std::sync::OnceLock;

use confiture_tests::cluster::{Certificates, Cluster};
use confiture_tests::{Project, Run};

struct Tls {
    cluster: Cluster,
    /// The CA that signed the server's certificate.
    ca: PathBuf,
    /// A CA that signed nothing the server has.
    other_ca: PathBuf,
}

const TLS_ONLY_HBA: &str = "local all all trust\n\
                            hostssl all all 127.0.0.1/32 trust\n\
                            hostssl all all ::1/128 trust\n\
                            hostnossl all all 0.0.0.0/0 reject\n\
                            hostnossl all all ::/0 reject\n";

fn tls() -> &'static Tls {
    static TLS: OnceLock<Tls> = OnceLock::new();
    TLS.get_or_init(|| {
        let cluster = Cluster::init();
        // The certificate names `localhost` only, so 127.0.0.1 is a host name it does not name.
        let server =
            Certificates::generate(cluster.dir(), "", "confiture test CA", "DNS:localhost");
        let other =
            Certificates::generate(cluster.dir(), "other-", "another test CA", "DNS:localhost");
        cluster.start_tls(&server, false, TLS_ONLY_HBA);
        Tls {
            cluster,
            ca: server.ca,
            other_ca: other.ca,
        }
    })
}

/// A project whose one migration records whether its own session is encrypted.
fn project() -> Project {
    let project = Project::new();
    project.migration(
        "001_record_session",
        "CREATE TABLE session_seen AS\n  SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid();\n",
        "DROP TABLE session_seen;\n",
    );
    project
}

fn up(project: &Project, url: &str) -> Run {
    project.run(&["migrate", "up", "--database-url", url])
}

#[test]
fn verify_full_with_the_ca_connects_over_tls() {
    let tls = tls();
    let db = tls.cluster.create_database("tls_ok");
    let project = project();
    let url = tls.cluster.url(
        &db,
        &format!("sslmode=verify-full&sslrootcert={}", tls.ca.display()),
    );
    up(&project, &url).code(0);
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(0)
        .stdout_has("001_record_session");

    let row = tls
        .cluster
        .connect(&db)
        .query_one("SELECT ssl, version FROM session_seen", &[])
        .expect("the migration recorded its session");
    assert!(row.get::<_, bool>(0), "the migration ran over TLS");
    let version: Option<String> = row.get(1);
    assert!(
        version.as_deref().is_some_and(|v| v.starts_with("TLSv1.")),
        "{version:?}"
    );
}

#[test]
fn prefer_and_require_use_tls_on_a_server_that_requires_it() {
    let tls = tls();
    for mode in ["prefer", "require"] {
        let db = tls.cluster.create_database("tls_mode");
        let project = project();
        up(&project, &tls.cluster.url(&db, &format!("sslmode={mode}"))).code(0);
        let ssl: bool = tls
            .cluster
            .connect(&db)
            .query_one("SELECT ssl FROM session_seen", &[])
            .expect("session_seen")
            .get(0);
        assert!(ssl, "sslmode={mode} encrypts");
    }
}

#[test]
fn verify_full_with_another_ca_fails_naming_the_root_certificate() {
    let tls = tls();
    let db = tls.cluster.create_database("tls_wrong_ca");
    let project = project();
    let url = tls.cluster.url(
        &db,
        &format!("sslmode=verify-full&sslrootcert={}", tls.other_ca.display()),
    );
    let run = up(&project, &url);
    run.code(3)
        .stderr_has("the server's TLS certificate is not signed by a trusted root")
        .stderr_has(&format!("sslrootcert {}", tls.other_ca.display()))
        .stderr_has("help: set sslrootcert to the CA certificate");
    assert_nothing_applied(tls, &db);
}

#[test]
fn verify_full_with_a_host_the_certificate_does_not_name_fails() {
    let tls = tls();
    let db = tls.cluster.create_database("tls_wrong_host");
    let project = project();
    let url = format!(
        "postgresql://postgres@127.0.0.1:{}/{db}?sslmode=verify-full&sslrootcert={}",
        tls.cluster.port(),
        tls.ca.display()
    );
    up(&project, &url)
        .code(3)
        .stderr_has("the server's TLS certificate is not valid for the host name connected to")
        .stderr_has("sslmode=verify-full");
    assert_nothing_applied(tls, &db);

    // The same host name passes the chain check when the name is not checked.
    let url = url.replace("verify-full", "verify-ca");
    up(&project, &url).code(0);
}

/// A certificate that does not verify is what a man-in-the-middle looks like: the help said
/// "use sslmode=require without sslrootcert to encrypt without verifying" (or verify-ca, or
/// "remove sslrootcert"). Whatever the sslmode that checked it, a verification failure says
/// what failed and what to fix, and never suggests checking less.
#[test]
fn a_certificate_that_does_not_verify_never_gets_a_weaker_sslmode_suggested() {
    let tls = tls();
    let db = tls.cluster.create_database("tls_no_downgrade");
    let project = project();
    let other_ca = tls.other_ca.display();
    let localhost = |params: String| tls.cluster.url(&db, &params);
    let by_address = |params: String| {
        format!(
            "postgresql://postgres@127.0.0.1:{}/{db}?{params}",
            tls.cluster.port()
        )
    };
    let unknown_issuer = "the server's TLS certificate is not signed by a trusted root";
    let wrong_name = "the server's TLS certificate is not valid for the host name";
    let cases = [
        (
            localhost(format!("sslmode=verify-full&sslrootcert={other_ca}")),
            unknown_issuer,
            "set sslrootcert to the CA certificate that signed the server's certificate",
        ),
        (
            localhost(format!("sslmode=verify-ca&sslrootcert={other_ca}")),
            unknown_issuer,
            "set sslrootcert to the CA certificate that signed the server's certificate",
        ),
        (
            localhost(format!("sslmode=require&sslrootcert={other_ca}")),
            unknown_issuer,
            "set sslrootcert to the CA certificate that signed the server's certificate",
        ),
        (
            localhost(format!("sslmode=prefer&sslrootcert={other_ca}")),
            unknown_issuer,
            "set sslrootcert to the CA certificate that signed the server's certificate",
        ),
        (
            localhost("sslmode=verify-full&sslrootcert=system".to_string()),
            unknown_issuer,
            "set sslrootcert to the CA certificate that signed the server's certificate",
        ),
        (
            by_address(format!(
                "sslmode=verify-full&sslrootcert={}",
                tls.ca.display()
            )),
            wrong_name,
            "the host name in the URL must be one the certificate names",
        ),
    ];
    for (url, what, fix) in cases {
        let run = up(&project, &url);
        run.code(3).stderr_has(what).stderr_has(fix);
        let help: Vec<&str> = run
            .stderr
            .lines()
            .filter(|line| line.trim_start().starts_with("help:"))
            .collect();
        assert!(!help.is_empty(), "{}", run.dump());
        for weaker in [
            "sslmode",
            "verify-ca",
            "without verifying",
            "remove sslrootcert",
        ] {
            for line in &help {
                assert!(
                    !line.contains(weaker),
                    "{url}: {weaker:?} in {line:?}\n{}",
                    run.dump()
                );
            }
        }
    }
    assert_nothing_applied(tls, &db);
}

/// `verify-ca` and `verify-full` without `sslrootcert` trusted the webpki (Mozilla) roots, and
/// `verify-ca` checks no host name: any certificate a public CA issued, for any name, passed
/// (hostile run 8, D15). As libpq: they read `~/.postgresql/root.crt` and fail naming it when
/// it is missing; the public roots only with `sslrootcert=system`, which means `verify-full`
/// (the default then) and refuses a weaker sslmode.
#[test]
fn without_sslrootcert_the_verify_modes_trust_only_root_crt_as_libpq() {
    let tls = tls();
    let db = tls.cluster.create_database("tls_root_crt");
    let project = project();
    let home = project.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let run_in_home = |url: &str| {
        confiture_tests::Run::of(project.cli().env("HOME", &home).args([
            "migrate",
            "status",
            "--database-url",
            url,
        ]))
    };
    let root_crt = home.join(".postgresql").join("root.crt");
    for mode in ["verify-ca", "verify-full"] {
        let run = run_in_home(&tls.cluster.url(&db, &format!("sslmode={mode}")));
        run.code(5)
            .stderr_has(&format!(
                "root certificate file {} does not exist",
                root_crt.display()
            ))
            .stderr_has("sslrootcert=system")
            .stderr_lacks("webpki");
    }
    // The file libpq reads is trusted as sslrootcert would be (exit 2: connected, the
    // database has no ledger yet).
    std::fs::create_dir_all(root_crt.parent().unwrap()).unwrap();
    std::fs::copy(&tls.ca, &root_crt).unwrap();
    for mode in ["verify-ca", "verify-full"] {
        run_in_home(&tls.cluster.url(&db, &format!("sslmode={mode}")))
            .code(2)
            .stderr_lacks("error:");
    }
    std::fs::copy(&tls.other_ca, &root_crt).unwrap();
    run_in_home(&tls.cluster.url(&db, "sslmode=verify-ca"))
        .code(3)
        .stderr_has("the server's TLS certificate is not signed by a trusted root")
        .stderr_has(&root_crt.display().to_string());
    // sslrootcert=system: the public roots, with the host name checked (verify-full, the
    // default then); a weaker sslmode is refused before connecting.
    run_in_home(&tls.cluster.url(&db, "sslrootcert=system"))
        .code(3)
        .stderr_has("the server's TLS certificate is not signed by a trusted root")
        .stderr_has("sslmode=verify-full");
    for mode in ["disable", "prefer", "require", "verify-ca"] {
        run_in_home(
            &tls.cluster
                .url(&db, &format!("sslrootcert=system&sslmode={mode}")),
        )
        .code(5)
        .stderr_has(&format!(
            "sslmode={mode} may not be used with sslrootcert=system"
        ));
    }
    assert_nothing_applied(tls, &db);
}

#[test]
fn sslmode_disable_against_a_server_that_requires_tls_fails_clearly() {
    let tls = tls();
    let db = tls.cluster.create_database("tls_disable");
    let project = project();
    let url = tls.cluster.url(&db, "sslmode=disable");
    for command in ["up", "status"] {
        project
            .run(&["migrate", command, "--database-url", &url])
            .code(3)
            .stderr_has("requires TLS")
            .stderr_has("pg_hba.conf")
            .stderr_has("help: use sslmode=require");
    }
    assert_nothing_applied(tls, &db);
}

fn assert_nothing_applied(tls: &Tls, db: &str) {
    assert!(!tls.cluster.has_ledger(db), "nothing was created in {db}");
}
