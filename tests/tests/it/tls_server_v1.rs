//! A server whose certificate is X.509 version 1 (what `openssl x509 -req` writes without
//! extensions; hostile run htl, A): `require` and `prefer` without `sslrootcert` encrypt without
//! reading the certificate, as libpq does, and connect; the handshake's signature is still
//! checked against the certificate's key. The modes that verify the chain (`verify-ca`,
//! `verify-full`, `require` with `sslrootcert`) cannot verify a version 1 certificate (webpki reads
//! version 3 only): they refuse it saying so, and how to reissue it, never pointing at
//! `sslrootcert`.
//!
//! Its own cluster: one server certificate per cluster, swapped (RSA and EC keys) and the TLS
//! version capped (1.3, then 1.2: their signatures are checked by different code) with restarts,
//! so one test walks every case in turn.

use std::path::Path;

use confiture_tests::cluster::{Certificates, Cluster};
use confiture_tests::Project;

const TLS_ONLY_HBA: &str = "local all all trust\n\
                            hostssl all all 127.0.0.1/32 trust\n\
                            hostssl all all ::1/128 trust\n\
                            hostnossl all all 0.0.0.0/0 reject\n\
                            hostnossl all all ::/0 reject\n";

/// A project whose one migration records whether its own session is encrypted, and how.
fn project() -> Project {
    let project = Project::new();
    project.migration(
        "001_record_session",
        "CREATE TABLE session_seen AS\n  SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid();\n",
        "DROP TABLE session_seen;\n",
    );
    project
}

/// Serves `cert` and `key`, TLS capped at `max_protocol`, from the next (re)start.
fn serve(cluster: &Cluster, cert: &Path, key: &Path, max_protocol: &str) {
    let conf = format!(
        "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n\
         ssl_max_protocol_version = '{max_protocol}'\n",
        cert.display(),
        key.display()
    );
    cluster.configure(&conf, TLS_ONLY_HBA);
}

#[test]
fn a_version_1_server_certificate_encrypts_under_require_and_is_refused_precisely_when_verified() {
    let cluster = Cluster::init();
    let dir = cluster.dir().to_path_buf();
    let certs = Certificates::generate(&dir, "", "confiture test CA", "DNS:localhost");
    let rsa = certs.server_v1(&dir, "v1-rsa", "localhost", &["-newkey", "rsa:2048"]);
    let ec = certs.server_v1(
        &dir,
        "v1-ec",
        "localhost",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    );
    let configurations = [
        (&rsa, "TLSv1.3"),
        (&ec, "TLSv1.3"),
        (&rsa, "TLSv1.2"),
        (&ec, "TLSv1.2"),
    ];
    let mut started = false;
    for ((cert, key), protocol) in configurations {
        serve(&cluster, cert, key, protocol);
        if started {
            cluster.restart("fast");
        } else {
            cluster.start();
            started = true;
        }
        let case = format!("{} over {protocol}", cert.display());

        // Encryption only: the certificate is not read, the session is encrypted.
        for mode in ["require", "prefer"] {
            let db = cluster.create_database("tls_v1");
            let project = project();
            let url = cluster.url(&db, &format!("sslmode={mode}"));
            let run = project.run(&["migrate", "up", "--database-url", &url]);
            run.code(0);
            let row = cluster
                .connect(&db)
                .query_one("SELECT ssl, version FROM session_seen", &[])
                .unwrap_or_else(|e| panic!("{case}, sslmode={mode}: {e}\n{}", run.dump()));
            assert!(row.get::<_, bool>(0), "{case}, sslmode={mode}: encrypted");
            assert_eq!(
                row.get::<_, Option<String>>(1).as_deref(),
                Some(protocol),
                "{case}, sslmode={mode}"
            );
        }

        // Verified: refused, saying the certificate's version is the reason.
        let db = cluster.create_database("tls_v1_verify");
        let project = project();
        let ca = certs.ca.display();
        for params in [
            format!("sslmode=verify-ca&sslrootcert={ca}"),
            format!("sslmode=verify-full&sslrootcert={ca}"),
            format!("sslmode=require&sslrootcert={ca}"),
        ] {
            let url = cluster.url(&db, &params);
            let run = project.run(&["migrate", "status", "--database-url", &url]);
            run.code(3)
                .stderr_has("the server's TLS certificate is X.509 version 1")
                .stderr_has("which cannot be verified: only X.509 version 3 certificates can")
                .stderr_has("help: reissue the server's certificate as X.509 version 3");
            for line in run
                .stderr
                .lines()
                .filter(|line| line.trim_start().starts_with("help:"))
            {
                for weaker in ["sslmode", "sslrootcert", "verify-ca"] {
                    assert!(
                        !line.contains(weaker),
                        "{case}, {params}: {weaker:?} in {line:?}\n{}",
                        run.dump()
                    );
                }
            }
        }
        assert!(!cluster.has_ledger(&db), "{case}: nothing was created");
    }
}
