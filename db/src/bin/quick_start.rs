//! The library's quick start (README "As a library", the `confiture` crate's documentation),
//! built and run by `db/tests/quick_start.rs`: applies the pending migrations of
//! `db/migrations` (from the directory it is run in) to the database `DATABASE_URL` names.

use std::process::ExitCode;

use confiture::config::Environment;
use confiture::migrate::{no_progress, UpOptions};
use confiture::Migrator;

fn main() -> ExitCode {
    match migrate() {
        Ok(applied) => {
            println!("applied {applied:?}");
            ExitCode::SUCCESS
        }
        // What the CLI says: `{:#}` is the message with its cause, the details and the next
        // thing to do (`error.help`, `error.details` as data); the same exit code
        // (`confiture::exit`).
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(error.exit_code())
        }
    }
}

fn migrate() -> Result<Vec<String>, confiture::Error> {
    let url = std::env::var("DATABASE_URL").map_err(|_| {
        confiture::Error::usage("DATABASE_URL is not set")
            .with_help("set it to the database to migrate: postgresql://user@host:5432/dbname")
    })?;
    let env = Environment::from_url(&url, "DATABASE_URL")?;
    let mut migrator = Migrator::new(env, "db/migrations", Default::default());
    // A failed command (`migrate::Failed`: the error and the report so far) is its error here.
    let report = migrator.up(&UpOptions::default(), &mut no_progress)?;
    Ok(report.applied)
}
