//! Shared helpers for the apply/lock/rollback tests: a database per test, created on the local
//! PostgreSQL and dropped (WITH (FORCE)) when the guard goes out of scope, also on failure.
//! No PostgreSQL means the tests fail loudly; they never skip.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use postgres::{Client, NoTls};

/// libpq-style parameters of the server under test (`CONFITURE_TEST_PG` overrides).
pub fn server() -> String {
    std::env::var("CONFITURE_TEST_PG")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres".to_string())
}

pub fn connect(dbname: &str, application_name: &str) -> Client {
    let params = format!(
        "{} dbname={dbname} application_name={application_name}",
        server()
    );
    Client::connect(&params, NoTls).unwrap_or_else(|e| {
        panic!("these tests need PostgreSQL ({params}); start it or set CONFITURE_TEST_PG: {e}")
    })
}

/// A fresh database, dropped on drop.
pub struct TestDb {
    pub name: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub fn new(prefix: &str) -> TestDb {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "cft_{prefix}_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = connect("postgres", "confiture-tests");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("create test database");
        TestDb { name }
    }

    pub fn client(&self) -> Client {
        connect(&self.name, "confiture-tests")
    }

    pub fn client_as(&self, application_name: &str) -> Client {
        connect(&self.name, application_name)
    }

    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:5432/{}", self.name)
    }

    /// A first value of a query, as text (simple protocol).
    pub fn value(&self, sql: &str) -> Option<String> {
        value(&mut self.client(), sql)
    }
}

pub fn value(client: &mut Client, sql: &str) -> Option<String> {
    client
        .simple_query(sql)
        .expect(sql)
        .iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
            _ => None,
        })?
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let mut admin = connect("postgres", "confiture-tests");
        let _ = admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ));
    }
}

use std::path::{Path, PathBuf};

use confiture::config::Environment;
use confiture::files::CheckOptions;
use confiture::migrate::Progress;
use confiture::Migrator;

/// An environment naming database `dbname` on the test server, with default settings.
pub fn environment(dbname: &str) -> Environment {
    let url = format!("postgresql://postgres@127.0.0.1:5432/{dbname}?sslmode=disable");
    let mut env = Environment::from_url(&url, "the test database URL").expect("test URL parses");
    env.application_name = "confiture-test".to_string();
    env
}

/// A migrations directory in the temp dir, removed on drop.
pub struct Dir {
    pub path: PathBuf,
}

impl Dir {
    pub fn new() -> Dir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "cft_mig_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create migrations dir");
        Dir { path }
    }

    /// Writes `<version>_<name>.up.sql` and `.down.sql`.
    pub fn migration(&self, version: &str, name: &str, up: &str, down: &str) -> &Dir {
        self.write(&format!("{version}_{name}.up.sql"), up);
        self.write(&format!("{version}_{name}.down.sql"), down);
        self
    }

    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.path.join(file), text).expect("write migration file");
    }

    pub fn file(&self, file: &str) -> PathBuf {
        self.path.join(file)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl TestDb {
    pub fn migrator(&self, dir: &Dir) -> Migrator {
        migrator_for(environment(&self.name), &dir.path)
    }

    /// `version:name` of each ledger row, in order of application.
    pub fn ledger(&self) -> Vec<String> {
        self.ledger_of("\"tb_confiture\"")
    }

    pub fn ledger_of(&self, table: &str) -> Vec<String> {
        rows(
            &mut self.client(),
            &format!(
                "SELECT version || ':' || name FROM {table} ORDER BY applied_at, pk_confiture"
            ),
        )
    }

    pub fn table_exists(&self, name: &str) -> bool {
        self.value(&format!("SELECT to_regclass('{name}') IS NOT NULL"))
            .as_deref()
            == Some("t")
    }

    /// Every relation, schema and advisory lock of the database, for "nothing changed" checks.
    pub fn snapshot(&self) -> Vec<String> {
        rows(
            &mut self.client(),
            "SELECT 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text FROM pg_class c \
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
             UNION ALL SELECT 'schema ' || nspname FROM pg_namespace \
             UNION ALL SELECT 'lock ' || classid || '/' || objid FROM pg_locks WHERE locktype = 'advisory' \
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             ORDER BY 1",
        )
    }
}

pub fn migrator_for(env: Environment, dir: &Path) -> Migrator {
    Migrator::new(env, dir.to_path_buf(), CheckOptions::default())
}

pub fn rows(client: &mut Client, sql: &str) -> Vec<String> {
    client
        .simple_query(sql)
        .expect(sql)
        .iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("NULL").to_string()),
            _ => None,
        })
        .collect()
}

/// Collects progress events.
pub fn recorder(events: &mut Vec<Progress>) -> impl FnMut(Progress) + '_ {
    move |p| events.push(p)
}

/// Whether the migration lock of `db` is free, waiting up to 5 s for a dying backend to exit.
pub fn lock_is_free(db: &TestDb) -> bool {
    let sql = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    let mut client = db.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if value(&mut client, sql).as_deref() == Some("0") {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
