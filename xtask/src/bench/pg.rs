//! The PostgreSQL side of the benchmark: a fresh database per run (created and dropped here,
//! never one we did not create), the checks that a tool really did its work, and the floor —
//! the same per-migration transactions sent by a minimal client as one simple-query message.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls, SimpleQueryMessage};

use super::workload::Migration;

/// The server under test; every tool connects as `user` without a password (trust auth).
#[derive(Debug, Clone)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub user: String,
}

impl Server {
    fn conninfo(&self, dbname: &str) -> String {
        format!(
            "host={} port={} user={} dbname={dbname} application_name=confiture-bench",
            self.host, self.port, self.user
        )
    }

    pub fn admin(&self) -> Result<Client, String> {
        Client::connect(&self.conninfo("postgres"), NoTls).map_err(|e| {
            format!(
                "cannot connect to PostgreSQL at {}@{}:{} ({e}); start it, or pass --host/--port/--user",
                self.user, self.host, self.port
            )
        })
    }

    /// A new, empty database, dropped when the guard is.
    pub fn fresh_db(&self) -> Result<Db, String> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "cfbench_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        self.admin()?
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .map_err(|e| format!("cannot create database {name}: {e}"))?;
        let db = Db {
            server: self.clone(),
            name,
            owned: true,
        };
        // The first session of a new database builds the relation cache from the catalogs
        // (tens of milliseconds) and saves it for the next ones: pay that here, untimed, so that
        // every tool meets the same warm database.
        db.value("SELECT 1")?;
        Ok(db)
    }
}

/// A database this run created; dropped (WITH (FORCE)) on drop, also after a failure.
pub struct Db {
    server: Server,
    pub name: String,
    owned: bool,
}

impl Db {
    /// Another handle on the same database; dropping it drops nothing.
    pub fn shared(&self) -> Db {
        Db {
            server: self.server.clone(),
            name: self.name.clone(),
            owned: false,
        }
    }

    /// The URL tools connect with, at `port` (the server's, or a delaying proxy's).
    pub fn url(&self, port: u16) -> String {
        format!(
            "postgresql://{}@{}:{port}/{}?sslmode=disable",
            self.server.user, self.server.host, self.name
        )
    }

    pub fn client(&self) -> Result<Client, String> {
        self.client_at(self.server.port)
    }

    pub fn client_at(&self, port: u16) -> Result<Client, String> {
        let mut config = postgres::Config::new();
        config
            .host(&self.server.host)
            .port(port)
            .user(&self.server.user)
            .dbname(&self.name)
            .application_name("confiture-bench");
        config
            .connect(NoTls)
            .map_err(|e| format!("cannot connect to {}: {e}", self.name))
    }

    /// The first column of the first row, as text.
    pub fn value(&self, sql: &str) -> Result<String, String> {
        let messages = self
            .client()?
            .simple_query(sql)
            .map_err(|e| format!("{sql}: {e}"))?;
        messages
            .iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .ok_or_else(|| format!("{sql}: no row"))
    }

    pub fn count(&self, sql: &str) -> Result<u64, String> {
        let text = self.value(sql)?;
        text.parse()
            .map_err(|_| format!("{sql}: not a count: {text}"))
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        if let Ok(mut admin) = self.server.admin() {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// confiture's ledger DDL (shared/reference/confiture-interop.md): the floor and `psql -f`
/// write the same rows into the same table, created before the clock starts.
pub const LEDGER_DDL: &str = "CREATE TABLE tb_confiture (
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

/// The row a migration tool writes: the same columns as confiture's, values as literals.
pub fn ledger_insert(m: &Migration) -> String {
    format!(
        "INSERT INTO tb_confiture (slug, version, name, execution_time_ms, checksum, applied_by) \
         VALUES ('{name}_{version}_x', '{version}', '{name}', 0, \
         'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', current_user);",
        name = m.name,
        version = m.version_text,
    )
}

/// One transaction per migration: `BEGIN; <body>; <ledger insert>; COMMIT`, with
/// `synchronous_commit = off` on all but the last (a later synchronous commit flushes the WAL
/// of every earlier one, so the last makes them all durable).
pub fn floor_message(migrations: &[Migration]) -> String {
    let mut sql = String::new();
    let last = migrations.len().saturating_sub(1);
    for (i, m) in migrations.iter().enumerate() {
        sql.push_str("BEGIN;\n");
        if i != last {
            sql.push_str("SET LOCAL synchronous_commit = off;\n");
        }
        sql.push_str(&m.up);
        sql.push('\n');
        sql.push_str(&ledger_insert(m));
        sql.push_str("\nCOMMIT;\n");
    }
    sql
}

/// The floor: connect, send the whole run as one message, wait for the server. The table and
/// the message are ready before the clock starts.
pub fn run_floor(db: &Db, port: u16, message: &str) -> Result<Duration, String> {
    db.client()?
        .batch_execute(LEDGER_DDL)
        .map_err(|e| format!("ledger table: {e}"))?;
    let start = Instant::now();
    let mut client = db.client_at(port)?;
    client
        .batch_execute(message)
        .map_err(|e| format!("floor message failed: {e}"))?;
    let elapsed = start.elapsed();
    drop(client);
    Ok(elapsed)
}
