//! The example service: applies its pending migrations at startup, as a service would, from
//! the set its build script embedded (`confiture_build::Check::new().embed()`): the binary
//! needs no migration file on disk.
//!
//! `cargo run -p confiture-example` (uses `DATABASE_URL`, else the `local` environment's
//! default). `confiture-example --list` prints the embedded migrations and exits.

use std::process::ExitCode;

use confiture::config::Environment;
use confiture::embedded::EmbeddedMigrations;
use confiture::migrate::{no_progress, UpOptions};
use confiture::Migrator;

/// `db/migrations`, checked and compiled in by `build.rs`.
static MIGRATIONS: &EmbeddedMigrations = confiture::include_migrations!();

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--list") {
        for m in MIGRATIONS.migrations {
            println!("{} {}", m.id(), m.up.checksum);
        }
        return ExitCode::SUCCESS;
    }
    match migrate().await {
        Ok(applied) if applied.is_empty() => {
            println!("database is up to date");
            ExitCode::SUCCESS
        }
        Ok(applied) => {
            println!("applied migrations {}", applied.join(", "));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(error.exit_code())
        }
    }
    // ... the service would start serving here.
}

/// Applies every pending embedded migration; returns the versions applied.
async fn migrate() -> Result<Vec<String>, confiture::Error> {
    // The label is what errors blame ("fix the database name in DATABASE_URL"): when the
    // variable is unset, the URL is this file's default, and errors must say so.
    let (url, label) = match std::env::var("DATABASE_URL") {
        Ok(url) => (url, "DATABASE_URL"),
        Err(_) => (
            "postgresql://postgres@127.0.0.1:5432/confiture_example".to_string(),
            "the default URL of src/main.rs (DATABASE_URL is not set)",
        ),
    };
    let env = Environment::from_url(&url, label)?;
    let mut migrator = Migrator::from_embedded(env, MIGRATIONS);
    let report = migrator.up_async(UpOptions::default(), no_progress).await?;
    Ok(report.applied)
}
