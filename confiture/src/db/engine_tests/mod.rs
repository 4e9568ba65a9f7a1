//! The engine's own tests against the real PostgreSQL: `db::apply` (scripts, batches, step
//! events) is crate-private, so the tests that drive it directly live inside the crate. They
//! share the integration tests' harness (a database per test, dropped on drop).

#[path = "../../../tests/apply_support/mod.rs"]
mod apply_support;
mod batch;
mod copy;
