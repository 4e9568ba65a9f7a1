//! The only module that talks to PostgreSQL: connecting (with TLS), reading and writing the
//! ledger, the advisory lock, and running migration SQL.

pub mod connect;
pub mod ledger;
mod tls;

pub use connect::connect;
