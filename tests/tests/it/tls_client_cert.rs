//! TLS client certificates end to end, against a throwaway cluster whose `pg_hba.conf` admits
//! TCP only over TLS with `clientcert=verify-full` (a certificate signed by the test CA whose
//! common name is the user). `sslcert`/`sslkey` given in a URL, in conninfo or in an
//! environment file connect; a missing, foreign or mismatched certificate, an encrypted key and
//! a key others can read each fail with a clear message, and no byte of a key is ever printed.
//!
//! One cluster serves every test of this file (initdb costs a second or two).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use confiture_tests::cluster::{Certificates, Cluster};
use confiture_tests::{Project, Run};

struct Setup {
    cluster: Cluster,
    /// The CA that signed the server's certificate and the client certificates it trusts.
    ca: PathBuf,
    /// `CN=postgres`, signed by `ca`.
    cert: PathBuf,
    key: PathBuf,
    /// `CN=somebody_else`, signed by `ca`: not the user's.
    other_user_cert: PathBuf,
    other_user_key: PathBuf,
    /// `CN=postgres`, signed by a CA the server does not trust.
    foreign_cert: PathBuf,
    foreign_key: PathBuf,
    /// `CN=postgres`, signed by `ca`, X.509 version 1 (no extensions): an EC key, an RSA key.
    v1: [(PathBuf, PathBuf); 2],
}

const CLIENT_CERT_HBA: &str = "local all all trust\n\
     hostssl all all 127.0.0.1/32 trust clientcert=verify-full\n\
     hostssl all all ::1/128 trust clientcert=verify-full\n\
     hostnossl all all 0.0.0.0/0 reject\n\
     hostnossl all all ::/0 reject\n";

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let cluster = Cluster::init();
        let dir = cluster.dir().to_path_buf();
        let certs = Certificates::generate(&dir, "", "confiture test CA", "DNS:localhost");
        let foreign = Certificates::generate(&dir, "foreign-", "a foreign CA", "DNS:localhost");
        let (cert, key) = certs.client(&dir, "client", "postgres");
        let (other_user_cert, other_user_key) = certs.client(&dir, "other-user", "somebody_else");
        let (foreign_cert, foreign_key) = foreign.client(&dir, "foreign-client", "postgres");
        let v1 = [
            certs.client_v1(
                &dir,
                "v1-ec",
                "postgres",
                &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
            ),
            certs.client_v1(&dir, "v1-rsa", "postgres", &["-newkey", "rsa:2048"]),
        ];
        cluster.start_tls(&certs, true, CLIENT_CERT_HBA);
        Setup {
            cluster,
            ca: certs.ca,
            cert,
            key,
            other_user_cert,
            other_user_key,
            foreign_cert,
            foreign_key,
            v1,
        }
    })
}

/// A project whose one migration records the client certificate its session presented.
fn project() -> Project {
    let project = Project::new();
    project.migration(
        "001_record_session",
        "CREATE TABLE session_seen AS\n  SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid();\n",
        "DROP TABLE session_seen;\n",
    );
    project
}

fn url(setup: &Setup, db: &str, cert: &Path, key: &Path) -> String {
    setup.cluster.url(
        db,
        &format!(
            "sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
            setup.ca.display(),
            cert.display(),
            key.display()
        ),
    )
}

fn up(project: &Project, url: &str) -> Run {
    project.run(&["migrate", "up", "--database-url", url])
}

fn client_dn(setup: &Setup, db: &str) -> String {
    setup
        .cluster
        .connect(db)
        .query_one("SELECT client_dn FROM session_seen", &[])
        .expect("the migration recorded its session")
        .get(0)
}

fn assert_nothing_applied(setup: &Setup, db: &str) {
    assert!(!setup.cluster.has_ledger(db), "nothing was created in {db}");
}

/// No line of the key's base64 body reaches the output.
fn assert_key_not_shown(run: &Run, key: &Path) {
    let text = std::fs::read_to_string(key).expect("read the key");
    let all = run.dump();
    for line in text
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
    {
        assert!(!all.contains(line), "key material printed:\n{all}");
    }
}

#[test]
fn a_client_certificate_in_a_url_connects() {
    let setup = setup();
    let db = setup.cluster.create_database("cert_url");
    let project = project();
    let url = url(setup, &db, &setup.cert, &setup.key);
    up(&project, &url).code(0);
    assert_eq!(client_dn(setup, &db), "/CN=postgres");
    project
        .run(&["migrate", "status", "--database-url", &url])
        .code(0);
}

#[test]
fn a_client_certificate_in_conninfo_and_environment_files_connects() {
    let setup = setup();
    let port = setup.cluster.port();
    let conninfo_db = setup.cluster.create_database("cert_conninfo");
    let project = project();
    let conninfo = format!(
        "host=localhost port={port} user=postgres dbname={conninfo_db} sslmode=verify-full \
         sslrootcert='{}' sslcert='{}' sslkey='{}'",
        setup.ca.display(),
        setup.cert.display(),
        setup.key.display()
    );
    up(&project, &conninfo).code(0);
    assert_eq!(client_dn(setup, &conninfo_db), "/CN=postgres");

    // The `database:` block of an environment file.
    let file_db = setup.cluster.create_database("cert_file");
    let project = self::project();
    project.write(
        "db/environments/certified.yaml",
        format!(
            "name: certified\ndatabase:\n  host: localhost\n  port: {port}\n  database: {file_db}\n  \
             user: postgres\n  sslmode: verify-full\n  sslrootcert: {}\n  sslcert: {}\n  sslkey: {}\n",
            setup.ca.display(),
            setup.cert.display(),
            setup.key.display()
        ),
    );
    project
        .run(&["migrate", "up", "--env", "certified"])
        .code(0);
    assert_eq!(client_dn(setup, &file_db), "/CN=postgres");
}

#[test]
fn no_certificate_is_refused_by_the_server_with_a_clear_message() {
    let setup = setup();
    let db = setup.cluster.create_database("cert_none");
    let project = project();
    let url = setup.cluster.url(
        &db,
        &format!("sslmode=verify-full&sslrootcert={}", setup.ca.display()),
    );
    up(&project, &url)
        .code(3)
        .stderr_has("client certificate")
        .stderr_has("sslcert");
    assert_nothing_applied(setup, &db);
}

#[test]
fn a_certificate_the_server_rejects_fails_clearly() {
    let setup = setup();
    let db = setup.cluster.create_database("cert_rejected");
    let project = project();
    // Signed by the trusted CA, but for another user.
    let run = up(
        &project,
        &url(setup, &db, &setup.other_user_cert, &setup.other_user_key),
    );
    run.code(3)
        .stderr_has("client certificate")
        .stderr_has("sslcert");
    assert_key_not_shown(&run, &setup.other_user_key);
    // Signed by a CA the server does not trust.
    let run = up(
        &project,
        &url(setup, &db, &setup.foreign_cert, &setup.foreign_key),
    );
    run.code(3)
        .stderr_has("client certificate")
        .stderr_has("sslcert");
    assert_key_not_shown(&run, &setup.foreign_key);
    assert_nothing_applied(setup, &db);
}

#[test]
fn unusable_keys_are_refused_before_connecting_and_never_printed() {
    let setup = setup();
    let db = setup.cluster.create_database("cert_keys");
    let project = project();
    let dir = setup.cluster.dir();

    for (name, args) in [
        ("encrypted-pkcs8.key", &["pkey", "-aes256"][..]),
        ("encrypted-traditional.key", &["ec", "-aes256"][..]),
    ] {
        let encrypted = dir.join(name);
        let output = std::process::Command::new("openssl")
            .args(args)
            .arg("-in")
            .arg(&setup.key)
            .args(["-passout", "pass:correct horse"])
            .arg("-out")
            .arg(&encrypted)
            .output()
            .expect("this test needs the openssl command line tool");
        assert!(output.status.success(), "{output:?}");
        chmod(&encrypted, 0o600);
        let run = up(&project, &url(setup, &db, &setup.cert, &encrypted));
        run.code(5)
            .stderr_has("is encrypted with a passphrase")
            .stderr_has(&encrypted.display().to_string())
            .stderr_has("openssl pkey");
        assert_key_not_shown(&run, &encrypted);
    }

    // A key other users can read (libpq's rule).
    let readable = dir.join("readable.key");
    std::fs::copy(&setup.key, &readable).expect("copy the key");
    chmod(&readable, 0o644);
    let run = up(&project, &url(setup, &db, &setup.cert, &readable));
    run.code(5)
        .stderr_has("can be read by other users")
        .stderr_has("chmod 0600");
    assert_key_not_shown(&run, &readable);

    // The key of another certificate.
    let run = up(
        &project,
        &url(setup, &db, &setup.cert, &setup.other_user_key),
    );
    run.code(5)
        .stderr_has("is not the key of the certificate in sslcert");
    assert_key_not_shown(&run, &setup.other_user_key);

    // A certificate given as the key, and a key given as the certificate.
    let cert_as_key = dir.join("cert-as-key.pem");
    std::fs::copy(&setup.cert, &cert_as_key).expect("copy the certificate");
    chmod(&cert_as_key, 0o600);
    let run = up(&project, &url(setup, &db, &setup.cert, &cert_as_key));
    run.code(5).stderr_has("holds no PEM private key");
    let run = up(&project, &url(setup, &db, &setup.key, &setup.key));
    run.code(5).stderr_has("holds no PEM certificate");
    assert_key_not_shown(&run, &setup.key);

    // One without the other.
    let only_cert = setup.cluster.url(
        &db,
        &format!("sslmode=require&sslcert={}", setup.cert.display()),
    );
    up(&project, &only_cert)
        .code(5)
        .stderr_has("sslcert is set without sslkey");
    assert_nothing_applied(setup, &db);
}

/// An X.509 version 1 client certificate (what `openssl x509 -req` writes without
/// extensions), which psql sends and PostgreSQL accepts, was refused as "sslkey is not the key
/// of the certificate": rustls's key check reads the certificate with webpki, which reads
/// version 3 only. It connects, with an RSA or an EC key; a key that is not its own is still
/// refused as not its key (exit 5).
#[test]
fn an_x509_version_1_client_certificate_connects_as_with_libpq() {
    let setup = setup();
    for (i, (cert, key)) in setup.v1.iter().enumerate() {
        let text = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(cert)
            .output()
            .expect("openssl x509 -text");
        assert!(
            String::from_utf8_lossy(&text.stdout).contains("Version: 1 (0x0)"),
            "{}",
            String::from_utf8_lossy(&text.stdout)
        );
        let db = setup.cluster.create_database("cert_v1");
        let project = project();
        let run = up(&project, &url(setup, &db, cert, key));
        run.code(0);
        assert_key_not_shown(&run, key);
        assert_eq!(client_dn(setup, &db), "/CN=postgres");

        // The other certificate's key, and the v3 certificate's key.
        let (_, other_key) = &setup.v1[1 - i];
        for wrong in [other_key, &setup.key] {
            let db = setup.cluster.create_database("cert_v1_wrong");
            let run = up(&project, &url(setup, &db, cert, wrong));
            run.code(5)
                .stderr_has("is not the key of the certificate in sslcert")
                .stderr_lacks("UnsupportedCertVersion");
            assert_key_not_shown(&run, wrong);
            assert_nothing_applied(setup, &db);
        }
    }
}

/// An sslrootcert, sslcert or sslkey that is a FIFO nobody writes to hung the command forever
/// (`connect_timeout` does not cover reading them). Each is read as `-c <(…)` is: given up on
/// after `STREAM_WAIT`, exit 5 naming the parameter. One that is written to (`sslkey=<(vault
/// read …)`) is read, once, whatever the number of connections the run makes.
#[test]
fn tls_files_that_are_pipes_are_read_within_a_bound() {
    let setup = setup();
    let db = setup.cluster.create_database("cert_fifo");
    let project = project();
    let fifo = |name: &str| mkfifo(&project.path(name));
    let silent = fifo("nobody-writes");
    let cases = [
        (
            "sslrootcert",
            url(setup, &db, &setup.cert, &setup.key).replace(
                &format!("sslrootcert={}", setup.ca.display()),
                &format!("sslrootcert={}", silent.display()),
            ),
        ),
        ("sslcert", url(setup, &db, &silent, &setup.key)),
        ("sslkey", url(setup, &db, &setup.cert, &silent)),
    ];
    let runs: Vec<(&str, Run)> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(param, url)| {
                let mut child = project
                    .cli()
                    .args(["migrate", "status", "--database-url", url])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("start the CLI");
                scope.spawn(move || {
                    let start = std::time::Instant::now();
                    // Well past STREAM_WAIT (30 s): before the fix it waited forever.
                    while child.try_wait().expect("wait").is_none() {
                        if start.elapsed() > std::time::Duration::from_secs(90) {
                            child.kill().expect("kill the hung CLI");
                        }
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                    let output = child.wait_with_output().expect("output");
                    (*param, Run::from_output(output, start.elapsed()))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (param, run) in runs {
        run.code(5)
            .stderr_has(&format!("{param} {}", silent.display()))
            .stderr_has("is a pipe or a device, and it did not reach its end within 30 s");
    }

    // Written to once, as `<(command)` is: read once, kept for every connection of the run.
    let written = fifo("written-once");
    let key = std::fs::read(&setup.key).expect("read the key");
    let writer = {
        let written = written.clone();
        std::thread::spawn(move || std::fs::write(written, key).unwrap())
    };
    let run = up(&project, &url(setup, &db, &setup.cert, &written));
    writer.join().unwrap();
    run.code(0);
    assert_eq!(client_dn(setup, &db), "/CN=postgres");
}

/// The targets of a fleet naming one pipe (`sslkey=<(vault read ...)` in each URL of a list)
/// connect at once with `--jobs` above 1: each read the pipe itself, one got its bytes and the
/// others nothing (`sslkey /dev/fd/63 holds no PEM private key`), as often as not. A pipe is
/// read once per run for every target: the others wait for its bytes. The writer starts late,
/// so that every target waits on the pipes before anything is written.
#[test]
fn tls_files_that_are_pipes_are_read_once_for_every_target_of_a_fleet() {
    let setup = setup();
    let project = project();
    let dbs: Vec<String> = (0..4)
        .map(|i| {
            setup
                .cluster
                .create_database(&format!("cert_fifo_fleet_{i}"))
        })
        .collect();
    let fifo = |name: &str, from: &Path| {
        let path = mkfifo(&project.path(name));
        let (bytes, to) = (std::fs::read(from).expect("read"), path.clone());
        let writer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(2));
            // A run that failed before reading it closes it early (`finish` below).
            let _ = std::fs::write(to, bytes);
        });
        (path, writer)
    };
    let (cert, cert_writer) = fifo("cert-pipe", &setup.cert);
    let (key, key_writer) = fifo("key-pipe", &setup.key);
    let list: String = dbs
        .iter()
        .map(|db| format!("{}\n", url(setup, db, &cert, &key)))
        .collect();
    project.write("targets.txt", list);
    let run = project.run(&[
        "migrate",
        "up",
        "--database-url",
        &url(setup, &dbs[0], &setup.cert, &setup.key),
        "--targets",
        "targets.txt",
        "--jobs",
        "4",
    ]);
    // A run that never opened a pipe leaves its writer waiting for a reader: be that reader.
    let finish = |path: &Path, writer: std::thread::JoinHandle<()>| {
        if !writer.is_finished() {
            let _ = std::fs::read(path);
        }
        writer.join().unwrap();
    };
    finish(&cert, cert_writer);
    finish(&key, key_writer);
    run.code(0);
    for db in &dbs {
        assert_eq!(client_dn(setup, db), "/CN=postgres", "{}", run.dump());
    }
}

/// A path starting with `~` (`sslrootcert=~/ca.crt` in a quoted URL: no shell expands it, nor
/// does libpq) was said not to be expanded, but the help only asked for "the path of the home
/// directory": it gives the path to write now, from `HOME`, for each of the three files, and
/// says when `HOME` is not set.
#[test]
fn a_tilde_path_is_answered_with_the_path_to_write() {
    let setup = setup();
    let db = setup.cluster.create_database("cert_tilde");
    let project = project();
    let home = project.path("home");
    let tilde = Path::new("~/certs/x.pem");
    let cases = [
        url(setup, &db, &setup.cert, &setup.key).replace(
            &format!("sslrootcert={}", setup.ca.display()),
            &format!("sslrootcert={}", tilde.display()),
        ),
        url(setup, &db, tilde, &setup.key),
        url(setup, &db, &setup.cert, tilde),
    ];
    for url in &cases {
        let run = Run::of(project.cli().env("HOME", &home).args([
            "migrate",
            "status",
            "--database-url",
            url,
        ]));
        run.code(5).stderr_has(&format!(
            "`~` is not expanded (nor by libpq): write {}/certs/x.pem instead",
            home.display()
        ));
        let run = Run::of(project.cli().env_remove("HOME").args([
            "migrate",
            "status",
            "--database-url",
            url,
        ]));
        run.code(5).stderr_has("HOME is not set");
    }
}

/// Relative sslrootcert, sslcert and sslkey paths in an environment file were read from the
/// current directory: the same `--env` worked at the project root and failed in a
/// subdirectory, while `fleet.targets` in the same file is relative to the file. They are
/// relative to the file's directory now, from anywhere; `--database-url`'s stay relative to the
/// current directory, as psql's, and an error says so.
#[test]
fn relative_tls_paths_in_an_environment_file_are_relative_to_the_file() {
    let setup = setup();
    let port = setup.cluster.port();
    let project = project();
    copy_certs(setup, &project, "db/environments/certs");
    let url_db = setup.cluster.create_database("cert_rel_url");
    let block_db = setup.cluster.create_database("cert_rel_block");
    project.write(
        "db/environments/url.yaml",
        format!(
            "database_url: postgresql://postgres@localhost:{port}/{url_db}?sslmode=verify-full&\
             sslrootcert=certs/ca.pem&sslcert=certs/client.crt&sslkey=certs/client.key\n"
        ),
    );
    project.write(
        "db/environments/block.yaml",
        format!(
            "database:\n  host: localhost\n  port: {port}\n  database: {block_db}\n  \
             user: postgres\n  sslmode: verify-full\n  sslrootcert: certs/ca.pem\n  \
             sslcert: ./certs/client.crt\n  sslkey: certs/client.key\n"
        ),
    );
    let subdir = project.path("db/migrations");
    for (env, db) in [("url", &url_db), ("block", &block_db)] {
        for cwd in [&project.root, &subdir] {
            Run::of(
                project
                    .cli()
                    .current_dir(cwd)
                    .args(["migrate", "status", "--env", env]),
            )
            .code(confiture::exit::NOT_INITIALISED);
        }
        Run::of(
            project
                .cli()
                .current_dir(&subdir)
                .args(["migrate", "up", "--env", env]),
        )
        .code(0);
        assert_eq!(client_dn(setup, db), "/CN=postgres");
    }

    // A URL's relative paths are the current directory's, and the error says so.
    let url = url(
        setup,
        &url_db,
        Path::new("certs/client.crt"),
        Path::new("certs/client.key"),
    );
    let run = project.run(&["migrate", "status", "--database-url", &url]);
    run.code(5).stderr_has(&format!(
        "cannot read sslcert certs/client.crt (relative to the current directory {})",
        project.root.display()
    ));
}

/// The URLs of an environment file's `fleet.targets` list, and of a target file it names, take
/// relative sslrootcert, sslcert and sslkey paths from where they are written, as the file's
/// own connection does: the environment file's directory, the target file's directory. They
/// were read from the current directory, so the fleet failed from a subdirectory.
#[test]
fn relative_tls_paths_in_a_fleet_list_are_relative_to_the_file_that_lists_them() {
    let setup = setup();
    let port = setup.cluster.port();
    let project = project();
    for dir in ["db/environments/certs", "db/environments/lists/keys"] {
        copy_certs(setup, &project, dir);
    }
    let target = |db: &str, dir: &str| {
        format!(
            "postgresql://postgres@localhost:{port}/{db}?sslmode=verify-full&\
             sslrootcert={dir}/ca.pem&sslcert={dir}/client.crt&sslkey={dir}/client.key"
        )
    };
    let inline = [
        setup.cluster.create_database("cert_fleet_a"),
        setup.cluster.create_database("cert_fleet_b"),
    ];
    let listed = [
        setup.cluster.create_database("cert_fleet_c"),
        setup.cluster.create_database("cert_fleet_d"),
    ];
    let head = format!("database_url: {}\n", target(&inline[0], "certs"));
    project.write(
        "db/environments/inline.yaml",
        format!(
            "{head}fleet:\n  targets:\n    - {}\n    - {}\n",
            target(&inline[0], "certs"),
            target(&inline[1], "./certs")
        ),
    );
    project.write(
        "db/environments/listed.yaml",
        format!("{head}fleet:\n  targets: lists/tenants.txt\n"),
    );
    project.write(
        "db/environments/lists/tenants.txt",
        format!(
            "{}\n{}\n",
            target(&listed[0], "keys"),
            target(&listed[1], "keys")
        ),
    );
    let subdir = project.path("db/migrations");
    for (env, dbs) in [("inline", &inline), ("listed", &listed)] {
        let run = Run::of(
            project
                .cli()
                .current_dir(&subdir)
                .args(["migrate", "up", "--env", env]),
        );
        run.code(0);
        for db in dbs {
            assert_eq!(client_dn(setup, db), "/CN=postgres", "{}", run.dump());
        }
    }
}

/// The CA, client certificate and key as `ca.pem`, `client.crt` and `client.key` in `dir` of
/// `project` (the key readable by its owner only).
fn copy_certs(setup: &Setup, project: &Project, dir: &str) {
    let certs = project.path(dir);
    std::fs::create_dir_all(&certs).expect("mkdir certs");
    for (from, to) in [
        (&setup.ca, "ca.pem"),
        (&setup.cert, "client.crt"),
        (&setup.key, "client.key"),
    ] {
        std::fs::copy(from, certs.join(to)).expect("copy");
    }
    chmod(&certs.join("client.key"), 0o600);
}

/// A FIFO at `path`, readable by its owner only (as a key must be), returned.
fn mkfifo(path: &Path) -> PathBuf {
    let made = std::process::Command::new("mkfifo")
        .args(["-m", "600"])
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    path.to_path_buf()
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
