//! `Migrator`: the library facade — what the CLI, applications and xtask flows call.
//! Connects lazily; the connection is closed when the `Migrator` is dropped.

use std::path::PathBuf;

use crate::config::Environment;
use crate::files::CheckOptions;

/// A migration session against one database, with one migrations directory.
pub struct Migrator {
    pub(crate) env: Environment,
    pub(crate) migrations_dir: PathBuf,
    pub(crate) check_options: CheckOptions,
    pub(crate) client: Option<postgres::Client>,
}
