//! The PostgreSQL server every test suite of the workspace runs against, and a database of its
//! own for each test.
//!
//! One variable names the server: [`SERVER_VAR`] (`CONFITURE_TEST_SERVER`), a URL without a
//! database, default `postgresql://postgres@127.0.0.1:5432`. Every URL, conninfo string and
//! expected `user@host:port/db` a test builds comes from [`server()`], so pointing the suite at
//! another server is setting that one variable.
//!
//! A test that needs PostgreSQL fails loudly when the server cannot be reached: it never skips.
//! Each [`TestDb`] has a unique name and is dropped (`WITH (FORCE)`) when the guard is dropped,
//! also when the test fails: in the background ([`reaper`]), and before the test process exits.
//!
//! This crate depends on the driver only. `confiture`'s own integration tests use it, and a
//! dependency on `confiture` here would link a second copy of the library into their binary.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use postgres::{Client, NoTls, SimpleQueryMessage};

pub mod reaper;

/// The variable naming the server under test: `postgresql://USER[:PASSWORD]@HOST[:PORT]`.
pub const SERVER_VAR: &str = "CONFITURE_TEST_SERVER";

/// The server when [`SERVER_VAR`] is not set: the local PostgreSQL, trust auth.
pub const DEFAULT_SERVER: &str = "postgresql://postgres@127.0.0.1:5432";

/// Where the tests' PostgreSQL is and who they connect as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub user: String,
    pub password: Option<String>,
    pub host: String,
    pub port: u16,
}

/// The server under test, read once from [`SERVER_VAR`]; a malformed value panics, naming it.
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let text = std::env::var(SERVER_VAR).unwrap_or_else(|_| DEFAULT_SERVER.to_string());
        Server::parse(&text).unwrap_or_else(|e| panic!("{SERVER_VAR}={text:?}: {e}"))
    })
}

impl Server {
    /// Parses `postgresql://USER[:PASSWORD]@HOST[:PORT][/]` (also `postgres://`).
    pub fn parse(text: &str) -> Result<Server, String> {
        let rest = text
            .strip_prefix("postgresql://")
            .or_else(|| text.strip_prefix("postgres://"))
            .ok_or("expected postgresql://USER[:PASSWORD]@HOST[:PORT]")?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (userinfo, hostport) = rest
            .rsplit_once('@')
            .ok_or("expected a user: postgresql://USER@HOST[:PORT]")?;
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password.to_string())),
            None => (userinfo, None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| "the port is not a number")?),
            None => (hostport, 5432),
        };
        if user.is_empty() || host.is_empty() || host.contains('/') {
            return Err(
                "expected postgresql://USER[:PASSWORD]@HOST[:PORT], without a database".into(),
            );
        }
        Ok(Server {
            user: user.to_string(),
            password,
            host: host.to_string(),
            port,
        })
    }

    /// `HOST:PORT`.
    pub fn host_port(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `USER@HOST:PORT/DB`: how confiture names a connection in its output.
    pub fn display(&self, db: &str) -> String {
        format!("{}@{}/{db}", self.user, self.host_port())
    }

    /// `postgresql://USER[:PASSWORD]@HOST:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        self.url_as(&self.user, self.password.as_deref(), db)
    }

    /// A URL for `db` on this server as another role.
    pub fn url_as(&self, user: &str, password: Option<&str>, db: &str) -> String {
        let password = password.map(|p| format!(":{p}")).unwrap_or_default();
        format!("postgresql://{user}{password}@{}/{db}", self.host_port())
    }

    /// libpq key/value parameters for `db` (what the driver connects with).
    pub fn conninfo(&self, db: &str) -> String {
        let mut conninfo = format!(
            "host={} port={} user={} dbname={db}",
            self.host, self.port, self.user
        );
        if let Some(password) = &self.password {
            conninfo.push_str(&format!(" password={password}"));
        }
        conninfo
    }

    /// A connection to `db`, panicking with a clear message when the server cannot be reached.
    pub fn connect(&self, db: &str, application_name: &str) -> Client {
        self.connect_with(db, application_name, "")
    }

    /// [`Server::connect`] with startup `options` (none when empty).
    pub fn connect_with(&self, db: &str, application_name: &str, options: &str) -> Client {
        let mut conninfo = format!("{} application_name={application_name}", self.conninfo(db));
        if !options.is_empty() {
            conninfo.push_str(&format!(" options='{options}'"));
        }
        Client::connect(&conninfo, NoTls).unwrap_or_else(|e| {
            panic!(
                "this test needs PostgreSQL at {} ({SERVER_VAR}; start it, e.g. with \
                 `bash .ci/run`) and cannot connect to database {db}: {e}",
                self.url(""),
            )
        })
    }
}

/// A connection to the maintenance database `postgres`.
pub fn admin() -> Client {
    server().connect("postgres", "confiture-tests")
}

/// A name no other test (in this or another process) uses: prefix, pid, counter, nanoseconds.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// A directory of one test under the system's temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    pub path: std::path::PathBuf,
}

impl TempDir {
    /// A new empty directory named by [`unique`]`(prefix)`.
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(prefix));
        std::fs::create_dir_all(&path).expect("create the test's temporary directory");
        TempDir { path }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Writes `text` to `relative` (creating its parent directories); returns the full path.
    pub fn write(&self, relative: &str, text: &str) -> std::path::PathBuf {
        let path = self.path.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create a parent directory");
        }
        std::fs::write(&path, text).expect("write a test file");
        path
    }

    /// Creates the directory `relative` (and its parents); returns the full path.
    pub fn dir(&self, relative: &str) -> std::path::PathBuf {
        let path = self.path.join(relative);
        std::fs::create_dir_all(&path).expect("create a test directory");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A database of one test, dropped (`WITH (FORCE)`) when this guard is dropped.
#[derive(Debug)]
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    /// A new empty database named `cft_<prefix>_...`.
    pub fn new(prefix: &str) -> TestDb {
        let db = TestDb::unborn(prefix);
        admin()
            .batch_execute(&format!("CREATE DATABASE \"{}\"", db.name))
            .unwrap_or_else(|e| panic!("cannot create test database {}: {e}", db.name));
        db
    }

    /// A name for a database that does not exist (yet); dropped if a test creates it.
    pub fn unborn(prefix: &str) -> TestDb {
        TestDb::adopt(unique(&format!("cft_{prefix}")))
    }

    /// Takes charge of dropping database `name`, which the caller created (or may create).
    pub fn adopt(name: String) -> TestDb {
        TestDb { name }
    }

    /// `postgresql://USER@HOST:PORT/NAME`.
    pub fn url(&self) -> String {
        server().url(&self.name)
    }

    /// `USER@HOST:PORT/NAME`, as confiture prints the connection.
    pub fn display(&self) -> String {
        server().display(&self.name)
    }

    /// libpq key/value parameters of this database.
    pub fn conninfo(&self) -> String {
        server().conninfo(&self.name)
    }

    /// A driver connection to this database (for setting up and inspecting).
    pub fn client(&self) -> Client {
        self.client_as("confiture-tests")
    }

    /// A driver connection with `application_name`, to find it in `pg_stat_activity`.
    pub fn client_as(&self, application_name: &str) -> Client {
        server().connect(&self.name, application_name)
    }

    /// A session of this database named `application_name` holding `relation` in `ACCESS
    /// EXCLUSIVE` mode, in a transaction left open (`ROLLBACK` lets it go), and its pid.
    pub fn holding_lock(&self, application_name: &str, relation: &str) -> (Client, i32) {
        let mut holder = self.client_as(application_name);
        let pid: i32 = holder
            .query_one("SELECT pg_backend_pid()", &[])
            .expect("the holder's pid")
            .get(0);
        holder
            .batch_execute(&format!(
                "BEGIN; LOCK TABLE {relation} IN ACCESS EXCLUSIVE MODE"
            ))
            .expect("the lock taken");
        (holder, pid)
    }

    /// [`TestDb::client_as`], not bounded by a `statement_timeout` the test set on its
    /// database or role: turned off in the startup packet, before any statement — a `SET` of
    /// it ran under a 1 ms one and was cancelled on a loaded machine.
    pub fn unbounded_client_as(&self, application_name: &str) -> Client {
        server().connect_with(&self.name, application_name, "-c statement_timeout=0")
    }

    /// The first column of the first row of `sql`, as text (simple protocol).
    pub fn value(&self, sql: &str) -> Option<String> {
        value(&mut self.client(), sql)
    }

    /// Whether the database exists on the server.
    pub fn exists(&self) -> bool {
        admin()
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
                &[&self.name],
            )
            .expect("look up pg_database")
            .get(0)
    }
}

impl Drop for TestDb {
    /// Hands the database to [`reaper`], which drops it in the background: the test does not
    /// wait for the checkpoint `DROP DATABASE` forces.
    fn drop(&mut self) {
        reaper::drop_later(std::mem::take(&mut self.name));
    }
}

/// The first column of the first row of `sql`, as text (simple protocol).
pub fn value(client: &mut Client, sql: &str) -> Option<String> {
    client
        .simple_query(sql)
        .expect(sql)
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
            _ => None,
        })?
}

/// The first column of every row of `sql`, as text (`NULL` for null), in order.
pub fn rows(client: &mut Client, sql: &str) -> Vec<String> {
    client
        .simple_query(sql)
        .expect(sql)
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("NULL").to_string()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_server_is_the_local_postgres() {
        let server = Server::parse(DEFAULT_SERVER).unwrap();
        assert_eq!(server.display("app"), "postgres@127.0.0.1:5432/app");
        assert_eq!(
            server.url("app"),
            "postgresql://postgres@127.0.0.1:5432/app"
        );
        assert_eq!(
            server.conninfo("app"),
            "host=127.0.0.1 port=5432 user=postgres dbname=app"
        );
    }

    #[test]
    fn another_server_changes_every_form() {
        let server = Server::parse("postgres://ci:s3cret@db.internal:6543/").unwrap();
        assert_eq!(server.display("app"), "ci@db.internal:6543/app");
        assert_eq!(
            server.url("app"),
            "postgresql://ci:s3cret@db.internal:6543/app"
        );
        assert_eq!(
            server.conninfo("app"),
            "host=db.internal port=6543 user=ci dbname=app password=s3cret"
        );
        assert_eq!(Server::parse("postgresql://ci@h").unwrap().port, 5432);
    }

    #[test]
    fn a_database_or_a_missing_user_is_refused() {
        for bad in [
            "127.0.0.1:5432",
            "postgresql://127.0.0.1:5432",
            "postgresql://postgres@127.0.0.1:5432/app",
            "postgresql://postgres@127.0.0.1:port",
        ] {
            assert!(Server::parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
