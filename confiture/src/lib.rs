//! confiture: PostgreSQL schema migrations — the migration-file rules, workspace and
//! environment configuration, and (feature `db`) the engine that applies migrations.
//!
//! The layers, from the pure core outwards (see ARCHITECTURE.md):
//! - [`files`]: the rules for migration files — names, pairing, numbering, checksums, the SQL
//!   lexer and lint rules. Pure: reads a directory into bytes, then returns data.
//! - [`workspace`], [`config`]: where the migrations and environment files are, and which
//!   database an environment names.
//! - [`history`]: the one rule matching ledger rows to migration files ([`history::Version`],
//!   squashed, missing, modified, duplicate, out of order).
//! - [`status`], [`plan`]: pure decisions over that history.
//! - [`text`]: did-you-mean, line and column of an offset, the byte-order mark (one owner each).
//! - [`schema`]: a database schema as data (a snapshot) and the difference between two.
//! - [`embedded`]: migrations compiled into a binary by `confiture-build`
//!   ([`include_migrations!`]), checked at run time by the same rules as a directory.
//! - `db` (feature `db`): the only module that talks to PostgreSQL.
//! - `Migrator` (feature `db`): the library facade the CLI and applications use, in
//!   `migrator` with its commands (`up`, `down`, `baseline`, `reinit`, `abandon`, `status`), their
//!   options and reports (also reachable as `migrate`);
//!   `verify` (every down undoes its up, on a scratch database) and `drift` (the live
//!   database against its replayed history) are in their own modules.
//! - `fleet` (feature `db`): one command against many databases, with bounded concurrency.
//!
//! # Quick start
//!
//! Apply the pending migrations of `db/migrations` to the database `DATABASE_URL` names, as a
//! service does at startup (`cargo confiture migrate up` does the same from the command line),
//! and say a failure as the CLI does — message with cause, details, help, and the error's exit
//! code (a `main` returning `Result` prints the error's `Debug` form and exits 1):
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! use confiture::config::Environment;
//! use confiture::migrate::{no_progress, UpOptions};
//! use confiture::Migrator;
//!
//! fn main() -> ExitCode {
//!     match migrate() {
//!         Ok(applied) => {
//!             println!("applied {applied:?}");
//!             ExitCode::SUCCESS
//!         }
//!         // What the CLI says: `{:#}` is the message with its cause, the details and the next
//!         // thing to do (`error.help`, `error.details` as data); the same exit code
//!         // (`confiture::exit`).
//!         Err(error) => {
//!             eprintln!("error: {error:#}");
//!             ExitCode::from(error.exit_code())
//!         }
//!     }
//! }
//!
//! fn migrate() -> Result<Vec<String>, confiture::Error> {
//!     let url = std::env::var("DATABASE_URL").map_err(|_| {
//!         confiture::Error::usage("DATABASE_URL is not set")
//!             .with_help("set it to the database to migrate: postgresql://user@host:5432/dbname")
//!     })?;
//!     let env = Environment::from_url(&url, "DATABASE_URL")?;
//!     let mut migrator = Migrator::new(env, "db/migrations", Default::default());
//!     // A failed command (`migrate::Failed`: the error and the report so far) is its error here.
//!     let report = migrator.up(&UpOptions::default(), &mut no_progress)?;
//!     Ok(report.applied)
//! }
//! ```
//!
//! Then:
//! - the same from migrations compiled into the binary: [`Migrator::from_embedded`] with
//!   `confiture_build::Check::new().embed()` in `build.rs` and [`include_migrations!`];
//! - from async code: `up_async` and the other `*_async` commands (feature `tokio`);
//! - on a connection the application already holds: [`Migrator::with_client`], and
//!   [`Migrator::into_client`] to get it back; [`postgres`] is the driver crate, re-exported so
//!   that the `Client` types match;
//! - the state of every migration: [`Migrator::status`]; a failed command is a
//!   [`migrate::Failed`] holding the [`Error`] (its `exit_code()` is the CLI's) and the report
//!   of what ran before it;
//! - what went wrong, matched by type: [`Error::kind`] (an [`ErrorKind`]) and
//!   [`Error::reason`] (a [`Reason`]); a fleet target's [`migrate::ReportedError`] carries both
//!   (`kind`, `reason`), so that a service tells a missing database from a failed migration
//!   without reading a message.
//!
//! The migrations directory given to [`Migrator::new`] is the program's: a relative path is
//! read from the process's current directory (its errors name it), so a service started
//! elsewhere gives an absolute one (e.g. built on `env!("CARGO_MANIFEST_DIR")`).
//!
//! The public surface is the modules listed above and the re-exports below; the engine's
//! internals (the SQL scripts and batches it sends, their step events) are private to the
//! crate. Every public item is documented (`#![deny(missing_docs)]`).

#![deny(missing_docs)]

// The engine's tests inside the crate share the integration tests' harness, which names the
// crate `confiture`.
#[cfg(test)]
extern crate self as confiture;

/// Generates a consuming setter per listed field of an options struct, so that options are
/// built as `UpOptions::default().dry_run(true)`: the structs are `#[non_exhaustive]`, and a
/// field added later breaks no caller.
macro_rules! setters {
    ($ty:ident { $($field:ident: $t:ty),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("Sets [`", stringify!($ty), "::", stringify!($field), "`].")]
                #[must_use]
                pub fn $field(mut self, value: $t) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

pub mod config;
pub mod diagnostic;
pub mod display;
pub mod embedded;
pub mod error;
pub mod exit;
pub mod files;
pub mod hint;
pub mod history;
pub mod ledger;
pub mod lock_key;
pub mod plan;
pub mod schema;
pub mod status;
pub mod text;
pub mod workspace;

#[cfg(feature = "db")]
pub mod db;
#[cfg(feature = "db")]
pub mod drift;
#[cfg(feature = "db")]
pub mod fleet;
#[cfg(feature = "db")]
pub mod migrator;
#[cfg(feature = "tokio")]
mod nonblocking;
#[cfg(feature = "db")]
pub mod verify;
#[cfg(all(feature = "db", not(feature = "tokio")))]
mod without_tokio;

pub use diagnostic::{Diagnostic, Severity, Span};
pub use error::{Error, ErrorKind, Reason, Result, ServerError};
/// The commands' options, progress events and reports: [`migrator`] under the name it had
/// before the two modules became one (`confiture::migrate::UpOptions` and the like).
#[cfg(feature = "db")]
pub use migrator as migrate;
#[cfg(feature = "db")]
pub use migrator::Migrator;
/// The `postgres` crate this one is built with: [`Migrator::with_client`] takes its `Client`,
/// so an application names the same version through this path.
#[cfg(feature = "db")]
pub use postgres;
