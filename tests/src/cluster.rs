//! Throwaway PostgreSQL clusters for the tests that must not touch the shared server: restarting
//! the server, TLS-only `pg_hba.conf`. Each cluster lives in a temporary directory (data, Unix
//! socket, log, certificates), listens on its own free port on 127.0.0.1, trusts local users,
//! and is stopped and removed when dropped — also when the test panics, and also for a cluster
//! kept in a `static` (which is never dropped): a reaper process started with the cluster waits
//! for its stdin to close, which happens when the test process ends in any way, then stops the
//! server and removes the directory.
//!
//! As root, everything that touches the cluster runs as the `postgres` user (PostgreSQL refuses
//! to run as root). The binaries come from `CONFITURE_TEST_PG_BINDIR`, else the newest
//! `/usr/lib/postgresql/<version>/bin`, else `pg_config --bindir`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A `pg_hba.conf` that trusts every local connection, over TCP and the Unix socket.
pub const TRUST_ALL: &str = "local all all trust\n\
                             host all all 127.0.0.1/32 trust\n\
                             host all all ::1/128 trust\n";

/// A throwaway cluster. Create it, write what the server needs into [`Cluster::dir`]
/// (certificates), [`Cluster::configure`] it, then [`Cluster::start`] it.
pub struct Cluster {
    dir: PathBuf,
    port: AtomicU16,
    /// Closing its stdin makes the reaper stop the server and remove `dir`.
    reaper: Option<(Child, ChildStdin)>,
}

impl Cluster {
    /// Runs `initdb` in a new temporary directory. The server is not started yet.
    pub fn init() -> Cluster {
        let dir = std::env::temp_dir().join(crate::unique("confiture-cluster"));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        give_to_postgres(&dir);
        let reaper = spawn_reaper(&dir);
        let cluster = Cluster {
            dir,
            port: AtomicU16::new(0),
            reaper: Some(reaper),
        };
        let data = cluster.data();
        cluster.expect_ok(
            "initdb",
            as_postgres(&bin("initdb"))
                .args(["--auth=trust", "--username=postgres", "--no-sync"])
                .args(["--encoding=UTF8", "--locale=C", "-D"])
                .arg(&data),
        );
        cluster.configure("fsync = off\nshared_buffers = 16MB\n", TRUST_ALL);
        cluster
    }

    /// A streaming standby of `primary` (which must be running, with `local replication all
    /// trust` in its `pg_hba.conf`): `pg_basebackup -R` in a new temporary directory. Not
    /// started yet; [`Cluster::configure`] it (its own socket directory), then start it.
    pub fn standby_of(primary: &Cluster) -> Cluster {
        let dir = std::env::temp_dir().join(crate::unique("confiture-standby"));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        give_to_postgres(&dir);
        let reaper = spawn_reaper(&dir);
        let cluster = Cluster {
            dir,
            port: AtomicU16::new(0),
            reaper: Some(reaper),
        };
        cluster.expect_ok(
            "pg_basebackup",
            as_postgres(&bin("pg_basebackup"))
                .args(["-R", "-X", "stream", "-U", "postgres", "-h"])
                .arg(primary.dir())
                .args(["-p", &primary.port().to_string(), "-D"])
                .arg(cluster.data()),
        );
        cluster
    }

    /// The cluster's directory: the data directory is `data/`, the Unix socket and the
    /// server's log are here, and tests put certificates here.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The data directory (e.g. for `standby.signal`).
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn port(&self) -> u16 {
        self.port.load(Ordering::SeqCst)
    }

    /// Appends `conf` to `postgresql.conf` and replaces `pg_hba.conf` with `hba`. Takes effect at
    /// the next start.
    pub fn configure(&self, conf: &str, hba: &str) {
        let data = self.data();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("open postgresql.conf");
        let socket_dir = self.dir.display().to_string().replace('\'', "''");
        write!(
            file,
            "\n# confiture tests\nlisten_addresses = 'localhost'\n\
             unix_socket_directories = '{socket_dir}'\n{conf}\n"
        )
        .expect("write postgresql.conf");
        std::fs::write(data.join("pg_hba.conf"), hba).expect("write pg_hba.conf");
    }

    /// Turns TLS on with the server certificate of `certs` (and, with `trust_clients`, its CA
    /// for client certificates), replaces `pg_hba.conf` with `hba`, and starts the server.
    pub fn start_tls(&self, certs: &Certificates, trust_clients: bool, hba: &str) {
        let mut conf = format!(
            "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
            certs.server_cert.display(),
            certs.server_key.display()
        );
        if trust_clients {
            conf.push_str(&format!("ssl_ca_file = '{}'\n", certs.ca.display()));
        }
        self.configure(&conf, hba);
        self.start();
    }

    /// A port that is free now on 127.0.0.1, for [`Cluster::start_on`].
    pub fn free_port() -> u16 {
        free_port()
    }

    /// Starts the server on `port` (which must be free) and waits until it accepts
    /// connections.
    pub fn start_on(&self, port: u16) {
        give_to_postgres(&self.dir);
        self.port.store(port, Ordering::SeqCst);
        self.expect_ok(
            "pg_ctl start",
            as_postgres(&bin("pg_ctl"))
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(self.data())
                .arg("-l")
                .arg(self.log_path())
                .args(["-o", &format!("-p {port}")]),
        );
    }

    /// A started cluster that asks every TCP client for its password (`scram-sha-256`; local
    /// connections, the tests' own, trusted), with `roles` (SQL: the `CREATE ROLE ... PASSWORD`
    /// a test connects as) run on its `postgres` database.
    pub fn asking_passwords(roles: &str) -> Cluster {
        let cluster = Cluster::init();
        cluster.configure(
            "",
            "local all all trust\n\
             host all all 127.0.0.1/32 scram-sha-256\n\
             host all all ::1/128 scram-sha-256\n",
        );
        cluster.start();
        cluster
            .connect("postgres")
            .batch_execute(roles)
            .expect("create the roles with a password");
        cluster
    }

    /// Starts the server on a free port and waits until it accepts connections.
    pub fn start(&self) {
        give_to_postgres(&self.dir);
        // The port is free when chosen but may be taken before the server binds it.
        let mut last = None;
        for _ in 0..5 {
            let port = free_port();
            self.port.store(port, Ordering::SeqCst);
            let output = run(as_postgres(&bin("pg_ctl"))
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(self.data())
                .arg("-l")
                .arg(self.log_path())
                .args(["-o", &format!("-p {port}")]));
            if output.status.success() {
                return;
            }
            last = Some(output);
        }
        panic!(
            "the throwaway PostgreSQL cluster in {} did not start: {}\n--- server log\n{}",
            self.dir.display(),
            last.map(|o| describe(&o)).unwrap_or_default(),
            self.log()
        );
    }

    /// Restarts the server (`pg_ctl restart -m MODE`: `fast` ends every session, `immediate`
    /// crashes it); returns when it accepts connections again, on the same port.
    pub fn restart(&self, mode: &str) {
        self.expect_ok(
            "pg_ctl restart",
            as_postgres(&bin("pg_ctl"))
                .args(["restart", "-w", "-t", "60", "-m", mode, "-D"])
                .arg(self.data())
                .arg("-l")
                .arg(self.log_path()),
        );
    }

    /// Stops the server (`pg_ctl stop -m MODE`: `immediate` crashes it); [`Cluster::start`]
    /// starts it again (on another port).
    pub fn stop(&self, mode: &str) {
        self.expect_ok(
            "pg_ctl stop",
            as_postgres(&bin("pg_ctl"))
                .args(["stop", "-w", "-t", "60", "-m", mode, "-D"])
                .arg(self.data()),
        );
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `postgresql://postgres@localhost:PORT/DB` plus `params` (a query string, may be empty).
    pub fn url(&self, db: &str, params: &str) -> String {
        let query = if params.is_empty() {
            String::new()
        } else {
            format!("?{params}")
        };
        format!(
            "postgresql://postgres@localhost:{}/{db}{query}",
            self.port()
        )
    }

    /// A superuser connection over the Unix socket (which `pg_hba.conf` always trusts here).
    pub fn connect(&self, db: &str) -> postgres::Client {
        let conninfo = format!(
            "host={} port={} user=postgres dbname={db}",
            self.dir.display(),
            self.port()
        );
        postgres::Client::connect(&conninfo, postgres::NoTls).unwrap_or_else(|e| {
            panic!(
                "cannot connect to the throwaway cluster ({conninfo}): {e}\n--- server log\n{}",
                self.log()
            )
        })
    }

    /// Whether `db` has confiture's ledger (a refused run must create nothing).
    pub fn has_ledger(&self, db: &str) -> bool {
        self.connect(db)
            .query_one("SELECT to_regclass('tb_confiture') IS NOT NULL", &[])
            .expect("to_regclass")
            .get(0)
    }

    /// Creates a database with a unique name; it goes away with the cluster.
    pub fn create_database(&self, prefix: &str) -> String {
        let name = crate::unique(&format!("cft_{prefix}"));
        self.connect("postgres")
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        name
    }

    fn expect_ok(&self, what: &str, cmd: &mut Command) {
        let output = run(cmd);
        assert!(
            output.status.success(),
            "{what} failed for the throwaway cluster in {}: {}\n--- server log\n{}",
            self.dir.display(),
            describe(&output),
            self.log()
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some((mut child, stdin)) = self.reaper.take() {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// A CA and a server certificate signed by it (EC P-256 keys, generated by the `openssl` CLI),
/// written into a directory: `ca.pem`, `server.crt`, `server.key` (mode 0600).
pub struct Certificates {
    pub ca: PathBuf,
    /// The CA's private key, for [`Certificates::client`].
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl Certificates {
    /// A CA named `ca_name` and, when `server_names` is given, a server certificate for those
    /// subject alternative names (`DNS:localhost`, `IP:127.0.0.1`), signed by the CA. Files
    /// are named with `prefix`.
    pub fn generate(dir: &Path, prefix: &str, ca_name: &str, server_names: &str) -> Certificates {
        let path = |name: &str| dir.join(format!("{prefix}{name}"));
        let certs = Certificates {
            ca: path("ca.pem"),
            ca_key: path("ca.key"),
            server_cert: path("server.crt"),
            server_key: path("server.key"),
        };
        let ca_key = certs.ca_key.clone();
        let csr = path("server.csr");
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        openssl(
            Command::new("openssl")
                .args(["req", "-x509", "-nodes", "-days", "2"])
                .args(ec)
                .args(["-subj", &format!("/CN={ca_name}")])
                .args(["-addext", "basicConstraints=critical,CA:TRUE"])
                .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
                .arg("-keyout")
                .arg(&ca_key)
                .arg("-out")
                .arg(&certs.ca),
        );
        openssl(
            Command::new("openssl")
                .args(["req", "-new", "-nodes"])
                .args(ec)
                .args(["-subj", "/CN=localhost"])
                .arg("-keyout")
                .arg(&certs.server_key)
                .arg("-out")
                .arg(&csr),
        );
        let ext = path("server.ext");
        std::fs::write(
            &ext,
            format!(
                "subjectAltName = {server_names}\nbasicConstraints = CA:FALSE\n\
                 keyUsage = critical,digitalSignature,keyEncipherment\n\
                 extendedKeyUsage = serverAuth\n"
            ),
        )
        .expect("write the certificate extensions");
        openssl(
            Command::new("openssl")
                .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
                .arg("-in")
                .arg(&csr)
                .arg("-CA")
                .arg(&certs.ca)
                .arg("-CAkey")
                .arg(&ca_key)
                .arg("-extfile")
                .arg(&ext)
                .arg("-out")
                .arg(&certs.server_cert),
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&certs.server_key, std::fs::Permissions::from_mode(0o600))
                .expect("chmod 0600 the server key");
        }
        certs
    }
}

impl Certificates {
    /// A client certificate for `common_name` (the user name `clientcert=verify-full` checks)
    /// signed by this CA, with its unencrypted key (mode 0600): `<name>.crt`, `<name>.key`.
    pub fn client(&self, dir: &Path, name: &str, common_name: &str) -> (PathBuf, PathBuf) {
        let ext = dir.join(format!("{name}.ext"));
        std::fs::write(
            &ext,
            "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n\
             extendedKeyUsage = clientAuth\n",
        )
        .expect("write the certificate extensions");
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        self.issue(dir, name, common_name, &ec, Some(&ext))
    }

    /// A client certificate as `openssl x509 -req` writes it without extensions: X.509
    /// version 1, which libpq (OpenSSL) sends and PostgreSQL accepts. `newkey`: openssl's
    /// `-newkey` arguments (`["-newkey", "rsa:2048"]`).
    pub fn client_v1(
        &self,
        dir: &Path,
        name: &str,
        common_name: &str,
        newkey: &[&str],
    ) -> (PathBuf, PathBuf) {
        self.issue(dir, name, common_name, newkey, None)
    }

    /// A server certificate for `common_name`, as `openssl x509 -req` writes it without
    /// extensions: X.509 version 1 (no subject alternative names), which libpq (OpenSSL)
    /// accepts under every sslmode, `verify-ca` included. `newkey`: openssl's `-newkey`
    /// arguments.
    pub fn server_v1(
        &self,
        dir: &Path,
        name: &str,
        common_name: &str,
        newkey: &[&str],
    ) -> (PathBuf, PathBuf) {
        self.issue(dir, name, common_name, newkey, None)
    }

    fn issue(
        &self,
        dir: &Path,
        name: &str,
        common_name: &str,
        newkey: &[&str],
        extensions: Option<&Path>,
    ) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        let csr = dir.join(format!("{name}.csr"));
        openssl(
            Command::new("openssl")
                .args(["req", "-new", "-nodes"])
                .args(newkey)
                .args(["-subj", &format!("/CN={common_name}")])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&csr),
        );
        let mut sign = Command::new("openssl");
        sign.args(["x509", "-req", "-days", "2", "-CAcreateserial"])
            .arg("-in")
            .arg(&csr)
            .arg("-CA")
            .arg(&self.ca)
            .arg("-CAkey")
            .arg(&self.ca_key);
        if let Some(extensions) = extensions {
            sign.arg("-extfile").arg(extensions);
        }
        openssl(sign.arg("-out").arg(&cert));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
                .expect("chmod 0600 the key");
        }
        (cert, key)
    }
}

fn openssl(cmd: &mut Command) {
    let output = cmd.output().unwrap_or_else(|e| {
        panic!("this test needs the openssl command line tool to make certificates: {e}")
    });
    assert!(
        output.status.success(),
        "openssl failed: {}",
        describe(&output)
    );
}

/// The directory of PostgreSQL's server binaries (initdb, pg_ctl, postgres).
pub fn bindir() -> &'static Path {
    static BINDIR: OnceLock<PathBuf> = OnceLock::new();
    BINDIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("CONFITURE_TEST_PG_BINDIR") {
            return PathBuf::from(dir);
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        versions.sort();
        if let Some((_, bin)) = versions.pop() {
            return bin;
        }
        match Command::new("pg_config").arg("--bindir").output() {
            Ok(o) if o.status.success() => {
                PathBuf::from(String::from_utf8_lossy(&o.stdout).trim().to_string())
            }
            _ => panic!(
                "this test starts a throwaway PostgreSQL cluster and found no initdb: install the \
                 PostgreSQL server (apt-get install postgresql; bash .ci/run does), or set \
                 CONFITURE_TEST_PG_BINDIR to the directory holding initdb and pg_ctl"
            ),
        }
    })
}

fn bin(name: &str) -> PathBuf {
    bindir().join(name)
}

/// Whether the tests run as root, whom file permissions do not stop (and as whom PostgreSQL
/// refuses to run).
pub fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        // The effective uid, without a libc dependency.
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("Uid:"))?;
                line.split_whitespace().nth(2).map(|uid| uid == "0")
            })
            .unwrap_or(false)
    })
}

/// `program`, run as the `postgres` user when we are root (PostgreSQL refuses to run as root).
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        // Not always on a root shell's PATH in a minimal environment.
        let runuser = ["/usr/sbin/runuser", "/sbin/runuser"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .unwrap_or("runuser");
        let mut cmd = Command::new(runuser);
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn give_to_postgres(dir: &Path) {
    if is_root() {
        let output = run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir));
        assert!(
            output.status.success(),
            "cannot give {} to the postgres user: {}",
            dir.display(),
            describe(&output)
        );
    }
}

/// The process that stops the cluster and removes its directory when its stdin closes: at
/// drop, or when the test process ends (the kernel closes our end of the pipe, whatever
/// the way the process ended).
fn spawn_reaper(dir: &Path) -> (Child, ChildStdin) {
    let script = r#"read -r _ignored || true
"$1" stop -D "$2/data" -m immediate -w -t 30 >/dev/null 2>&1
rm -rf "$2""#;
    let mut child = as_postgres(Path::new("/bin/sh"))
        .args(["-c", script, "confiture-cluster-reaper"])
        .arg(bin("pg_ctl"))
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the cluster's reaper: {e}"));
    let stdin = child.stdin.take().expect("the reaper's stdin");
    (child, stdin)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Polls `condition` every 20 ms until it holds, panicking with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
