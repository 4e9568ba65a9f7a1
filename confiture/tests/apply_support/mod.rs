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
