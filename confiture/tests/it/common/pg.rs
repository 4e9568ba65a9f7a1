//! Helpers that need PostgreSQL (feature `db`): the admin connection, a database per test,
//! confiture's ledger, and connection errors.

use confiture::config::Environment;

// Not every includer uses each (the engine's unit tests include this file too).
#[allow(unused_imports)]
pub use confiture_test_support::{admin, server, SERVER_VAR};

/// libpq parameters of the maintenance database on the server under test.
pub fn admin_conninfo() -> String {
    server().conninfo("postgres")
}

/// A database of the test's own: `confiture-test-support`'s, with what confiture's tests ask
/// of it (an [`Environment`], a URL without TLS). `apply_support` adds the engine's helpers.
pub struct TestDb(confiture_test_support::TestDb);

impl std::ops::Deref for TestDb {
    type Target = confiture_test_support::TestDb;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl TestDb {
    /// A new empty database named `cft_<prefix>_...`, dropped on drop.
    pub fn new(prefix: &str) -> TestDb {
        TestDb(confiture_test_support::TestDb::new(prefix))
    }

    /// Takes charge of dropping database `name`, which the test creates.
    pub fn adopt(name: String) -> TestDb {
        TestDb(confiture_test_support::TestDb::adopt(name))
    }

    /// URL of the test database on the server under test, without TLS (the TLS tests say
    /// their `sslmode` themselves).
    pub fn url(&self) -> String {
        format!("{}?sslmode=disable", self.0.url())
    }

    /// An environment naming the test database, as `--database-url` would.
    pub fn environment(&self) -> Environment {
        Environment::from_url(&self.url(), "--database-url").expect("test URL parses")
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
