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
//! - `Migrator` (feature `db`): the library facade the CLI and applications use; its
//!   commands that change a database (`up`, `down`, `baseline`, `reinit`) are in `migrate`;
//!   `verify` (every down undoes its up, on a scratch database) and `drift` (the live
//!   database against its replayed history) are in their own modules.
//! - `fleet` (feature `db`): one command against many databases, with bounded concurrency.

#![deny(missing_docs)]

// The engine's tests inside the crate share the integration tests' harness, which names the
// crate `confiture`.
#[cfg(test)]
extern crate self as confiture;

pub mod config;
pub mod diagnostic;
pub mod display;
pub mod embedded;
// error.rs is being reworked on another branch (typed errors): its docs come with that work.
#[allow(missing_docs)]
pub mod error;
pub mod exit;
pub mod files;
pub mod hint;
pub mod history;
pub mod ledger;
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
pub mod migrate;
#[cfg(feature = "db")]
mod migrator;
#[cfg(feature = "tokio")]
mod nonblocking;
#[cfg(feature = "db")]
pub mod verify;

pub use diagnostic::{Diagnostic, Severity, Span};
pub use error::{Error, ErrorKind, Result};
#[cfg(feature = "db")]
pub use migrator::Migrator;
/// The `postgres` crate this one is built with: [`Migrator::with_client`] takes its `Client`,
/// so an application names the same version through this path.
#[cfg(feature = "db")]
pub use postgres;
