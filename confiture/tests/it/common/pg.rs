//! Helpers that need PostgreSQL (feature `db`): the admin connection, a database per test,
//! confiture's ledger, and connection errors.

use confiture::config::Environment;

use super::unique;

pub fn admin_conninfo() -> String {
    std::env::var("CONFITURE_TEST_ADMIN")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=postgres".to_string())
}

pub fn admin() -> postgres::Client {
    let conninfo = admin_conninfo();
    postgres::Client::connect(&conninfo, postgres::NoTls).unwrap_or_else(|e| {
        panic!(
            "these tests need PostgreSQL at `{conninfo}` (set CONFITURE_TEST_ADMIN to change it), \
             and it cannot be reached: {e}"
        )
    })
}

/// A database of the test's own.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub fn create(prefix: &str) -> TestDb {
        let name = unique(prefix);
        admin()
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        TestDb { name }
    }

    /// URL for the test database over TCP on 127.0.0.1, without TLS.
    pub fn url(&self) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:5432/{}?sslmode=disable",
            self.name
        )
    }

    /// An environment naming the test database, as `--database-url` would.
    pub fn environment(&self) -> Environment {
        Environment::from_url(&self.url(), "--database-url").expect("test URL parses")
    }

    /// A plain driver connection to the test database (for setting up and inspecting).
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(
            &format!(
                "host=127.0.0.1 port=5432 user=postgres dbname={}",
                self.name
            ),
            postgres::NoTls,
        )
        .unwrap_or_else(|e| panic!("cannot connect to test database {}: {e}", self.name))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&admin_conninfo(), postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// confiture's DDL, copied verbatim from shared/reference/confiture-interop.md (not produced
/// by our own code, so a drift in ours shows up as a failing test).
pub const CONFITURE_DDL: &str = "\
CREATE TABLE tb_confiture (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    pk_confiture BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    slug TEXT NOT NULL UNIQUE,
    version VARCHAR(255) NOT NULL UNIQUE,
    name VARCHAR(255) NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    execution_time_ms INTEGER,
    checksum VARCHAR(64),
    applied_by TEXT
);
CREATE INDEX idx_tb_confiture_pk_confiture ON tb_confiture(pk_confiture);
CREATE INDEX idx_tb_confiture_slug ON tb_confiture(slug);
CREATE INDEX idx_tb_confiture_version ON tb_confiture(version);
CREATE INDEX idx_tb_confiture_applied_at ON tb_confiture(applied_at DESC);
";

/// Creates confiture's ledger as confiture does, optionally in `schema` (created if needed).
pub fn create_confiture_ledger(client: &mut postgres::Client, schema: Option<&str>) {
    let mut sql = String::new();
    if let Some(schema) = schema {
        sql.push_str(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\"; SET search_path TO \"{schema}\";\n"
        ));
    }
    sql.push_str(CONFITURE_DDL);
    if schema.is_some() {
        sql.push_str("RESET search_path;\n");
    }
    client
        .batch_execute(&sql)
        .expect("create confiture's ledger");
}

/// Records a migration as confiture (Python) 1.29 does: slug `<name>_<version>_<YYYYmmdd_HHMMSS>`,
/// version as in the file name, checksum of the up file, `applied_by = current_user`.
pub fn record_applied(
    client: &mut postgres::Client,
    table: &str,
    version: &str,
    name: &str,
    checksum: Option<&str>,
    applied_at: &str,
) {
    client
        .execute(
            &format!(
                "INSERT INTO {table} (slug, version, name, applied_at, execution_time_ms, checksum, applied_by) \
                 VALUES ($1::text || '_' || $2::text || '_' || to_char(now(), 'YYYYMMDD_HH24MISS'), $2::text, $1::text, $3::text::timestamptz, 12, $4::text, current_user)"
            ),
            &[&name, &version, &applied_at, &checksum],
        )
        .expect("record an applied migration");
}

/// The error `db::connect` returns; panics if it connects.
pub fn connect_err(env: &Environment) -> confiture::Error {
    match confiture::db::connect(env) {
        Ok(_) => panic!("expected the connection to {} to fail", env.connection),
        Err(e) => e,
    }
}
