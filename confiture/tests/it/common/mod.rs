//! Shared helpers for the integration tests: a throwaway database per test on the local
//! PostgreSQL (created here, dropped `WITH (FORCE)` on drop, also when the test fails),
//! temporary directories, and confiture's ledger written the way confiture (Python) writes it.
//!
//! The server is `confiture-test-support`'s (`CONFITURE_TEST_SERVER`, default
//! `postgresql://postgres@127.0.0.1:5432`); a test that needs it fails loudly when it cannot be
//! reached — it never skips.
#![allow(dead_code)]

#[cfg(feature = "db")]
mod pg;
// Not every test file uses the database helpers.
#[cfg(feature = "db")]
#[allow(unused_imports)]
pub use pg::*;

use std::path::PathBuf;

pub use confiture_test_support::unique;
// The engine's unit tests share this module and write no directory.
#[allow(unused_imports)]
pub use confiture_test_support::TempDir;

/// A migration pair as `files::check` would produce it, for tests that need a
/// [`MigrationSet`](confiture::files::MigrationSet) without a directory.
pub fn migration(version_text: &str, name: &str, up: &str) -> confiture::files::Migration {
    use confiture::files::{Migration, SqlFile, TransactionMode};
    let file = |suffix: &str, text: &str| {
        SqlFile::new(
            format!("db/migrations/{version_text}_{name}.{suffix}.sql"),
            text,
            TransactionMode::Transaction,
            false,
        )
    };
    Migration {
        version: version_text.parse().expect("test versions are numbers"),
        version_text: version_text.to_string(),
        name: name.to_string(),
        up: file("up", up),
        down: file("down", "SELECT 1;\n"),
    }
}

pub fn migration_set(
    migrations: Vec<confiture::files::Migration>,
) -> confiture::files::MigrationSet {
    confiture::files::MigrationSet::new(PathBuf::from("db/migrations"), migrations)
}
