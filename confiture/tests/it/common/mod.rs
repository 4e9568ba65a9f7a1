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

/// Asserts what README ("The error object") promises: `Display` and the `source()` chain say
/// each cause once — no text of one (each line, a server error's severity prefix left out) is
/// part of another's — so that `anyhow`'s `{:#}` or `std::error::Report` print it once. Returns
/// the chain, `Display` first.
#[track_caller]
pub fn assert_each_cause_said_once(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut chain = vec![error.to_string()];
    let mut next = error.source();
    while let Some(e) = next {
        chain.push(e.to_string());
        next = e.source();
    }
    // `ERROR: relation "a" already exists` says `relation "a" already exists`.
    let said = |line: &str| -> String {
        match line.split_once(": ") {
            Some((severity, rest)) if severity.chars().all(|c| c.is_ascii_uppercase()) => {
                rest.to_string()
            }
            _ => line.to_string(),
        }
    };
    for (i, text) in chain.iter().enumerate() {
        for line in text.lines().map(said).filter(|l| !l.is_empty()) {
            for (j, other) in chain.iter().enumerate() {
                assert!(
                    i == j || !other.contains(&line),
                    "{line:?} is said twice in the chain {chain:#?}"
                );
            }
        }
    }
    chain
}
