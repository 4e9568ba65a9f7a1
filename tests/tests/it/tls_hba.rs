//! pg_hba.conf refusals that depend on TLS, against a throwaway cluster with `ssl = on` whose
//! `pg_hba.conf` admits TCP only without TLS (`hostnossl`) and the Unix socket only to
//! `postgres`: `sslmode=prefer` falls back to a plain connection as libpq does, the other modes
//! are told which entry is missing (not "check the user and password"), and a socket's refusal
//! never talks of TLS (hostile run 8, D2 and D3).

use std::sync::OnceLock;

use confiture_tests::cluster::{Certificates, Cluster};
use confiture_tests::Project;

const PLAIN_ONLY_HBA: &str = "local all postgres trust\n\
                              hostnossl all all 127.0.0.1/32 trust\n\
                              hostnossl all all ::1/128 trust\n";

/// A role that no `local` entry admits.
const NO_LOCAL_ROLE: &str = "cft_no_local";

fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let cluster = Cluster::init();
        let certs = Certificates::generate(cluster.dir(), "", "confiture test CA", "DNS:localhost");
        cluster.start_tls(&certs, false, PLAIN_ONLY_HBA);
        cluster
            .connect("postgres")
            .batch_execute(&format!("CREATE ROLE {NO_LOCAL_ROLE} LOGIN"))
            .expect("create role");
        cluster
    })
}

/// Over a Unix socket no `hostssl` entry applies and no TLS is ever used: a refusal there is a
/// missing `local` entry, never "it requires TLS from this host" nor "without encryption
/// (sslmode=require)".
#[test]
fn a_refusal_over_a_unix_socket_names_the_local_entry_not_tls() {
    let cluster = cluster();
    let db = cluster.create_database("hba_socket");
    let project = Project::new();
    for mode in ["disable", "prefer", "require", "verify-full"] {
        let conninfo = format!(
            "host={} port={} user={NO_LOCAL_ROLE} dbname={db} sslmode={mode} sslrootcert=system",
            cluster.dir().display(),
            cluster.port()
        );
        let conninfo = if mode == "verify-full" {
            conninfo
        } else {
            conninfo.replace(" sslrootcert=system", "")
        };
        let run = project.run(&["migrate", "status", "--database-url", &conninfo]);
        run.code(3)
            .stderr_has("no `local` pg_hba.conf entry admits")
            .stderr_lacks("requires TLS")
            .stderr_lacks("without encryption")
            .stderr_lacks("check the user and password");
    }
}

/// The server offers TLS but pg_hba.conf admits this host only without it (`hostnossl`):
/// `prefer` retries once without TLS, as libpq does, and connects; `require` and the verify
/// modes fail, told which pg_hba.conf entry is missing, never "check the user and password".
#[test]
fn prefer_falls_back_to_plain_when_pg_hba_refuses_tls() {
    let cluster = cluster();
    let db = cluster.create_database("hba_prefer");
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    let url = |params: &str| cluster.url(&db, params);
    project
        .run(&["migrate", "up", "--database-url", &url("sslmode=prefer")])
        .code(0);
    // The default sslmode is prefer.
    project
        .run(&["migrate", "status", "--database-url", &url("")])
        .code(0)
        .stdout_has("001_a");
    let ca = cluster.dir().join("ca.pem");
    for mode in [
        "require".to_string(),
        format!("verify-full&sslrootcert={}", ca.display()),
    ] {
        project
            .run(&[
                "migrate",
                "status",
                "--database-url",
                &url(&format!("sslmode={mode}")),
            ])
            .code(3)
            .stderr_has("over TLS")
            .stderr_has("`hostssl`")
            .stderr_lacks("check the user and password");
    }
    // A refusal of the plain retry too is said with the first one.
    let run = project.run(&[
        "migrate",
        "status",
        "--database-url",
        &format!(
            "postgresql://nobody_at_all@localhost:{}/{db}?sslmode=prefer",
            cluster.port()
        ),
    ]);
    run.code(3)
        .stderr_has("over TLS (sslmode=prefer)")
        .stderr_has("retried without TLS, as libpq does with sslmode=prefer: ")
        .stderr_has(r#"role "nobody_at_all" does not exist"#);
}
