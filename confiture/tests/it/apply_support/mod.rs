//! Helpers for the apply/lock/rollback tests: migration directories, a [`Migrator`] on a test
//! database, and readers of the ledger and the catalog. The database is `common`'s [`TestDb`]
//! (on `confiture-test-support`'s server; no PostgreSQL means the tests fail loudly).
#![allow(dead_code)]

use postgres::Client;

pub use super::common::TestDb;
pub use confiture_test_support::{rows, server, value};

/// A connection to `dbname` on the server under test, named `application_name`.
pub fn connect(dbname: &str, application_name: &str) -> Client {
    server().connect(dbname, application_name)
}

use std::path::{Path, PathBuf};

use confiture::config::Environment;
use confiture::files::CheckOptions;
use confiture::migrate::Progress;
use confiture::Migrator;

/// An environment naming database `dbname` on the test server, with default settings.
pub fn environment(dbname: &str) -> Environment {
    let url = format!("{}?sslmode=disable", server().url(dbname));
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
        let path = std::env::temp_dir().join(super::common::unique("cft_mig"));
        std::fs::create_dir_all(&path).expect("create migrations dir");
        Dir { path }
    }

    /// Writes `<version>_<name>.up.sql` and `.down.sql`.
    pub fn migration(&self, version: &str, name: &str, up: &str, down: &str) -> &Dir {
        self.write(&format!("{version}_{name}.up.sql"), up);
        self.write(&format!("{version}_{name}.down.sql"), down);
        self
    }

    /// Writes migration `<version>_<name>` making table `table` (`CREATE TABLE <table> (id
    /// int)`), its down file dropping it.
    pub fn table(&self, version: &str, name: &str, table: &str) -> &Dir {
        self.migration(
            version,
            name,
            &format!("CREATE TABLE {table} (id int);\n"),
            &format!("DROP TABLE {table};\n"),
        )
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

/// Collects progress events.
pub fn recorder(events: &mut Vec<Progress>) -> impl FnMut(Progress) + '_ {
    move |p| events.push(p)
}

/// A session (`app-traffic`) whose open transaction holds `table` of `db` in ACCESS EXCLUSIVE
/// mode, as application traffic would, until it commits or rolls back.
pub fn traffic_holding(db: &TestDb, table: &str) -> Client {
    let mut traffic = db.client_as("app-traffic");
    traffic
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
        ))
        .unwrap();
    traffic
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
