//! `Migrator`: the library facade — what the CLI, applications and xtask flows call.

/// A migration session against one database.
pub struct Migrator {}
