//! The example application: applies pending migrations at startup, as a service would, with
//! the `confiture` library instead of shelling out to the CLI.
//!
//! `cargo run -p confiture-example` (uses `DATABASE_URL`, else the `local` environment's default).

use std::process::ExitCode;

use confiture::config::Environment;
use confiture::migrate::{no_progress, UpOptions};
use confiture::Migrator;

fn main() -> ExitCode {
    match migrate() {
        Ok(applied) if applied.is_empty() => {
            println!("database is up to date");
            ExitCode::SUCCESS
        }
        Ok(applied) => {
            println!("applied migrations {}", applied.join(", "));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            for detail in &error.details {
                eprintln!("  - {detail}");
            }
            if let Some(help) = &error.help {
                eprintln!("  help: {help}");
            }
            ExitCode::from(error.exit_code())
        }
    }
}

/// Applies every pending migration of `db/migrations`; returns the versions applied.
fn migrate() -> Result<Vec<String>, confiture::Error> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/confiture_example".to_string());
    let env = Environment::from_url(&url, "DATABASE_URL")?;
    let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let mut migrator = Migrator::new(env, migrations, Default::default());
    let report = migrator.up(&UpOptions::default(), &mut no_progress)?;
    Ok(report.applied)
}
