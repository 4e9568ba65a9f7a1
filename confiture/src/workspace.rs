//! Where things are: the Cargo workspace root and its `[workspace.metadata.confiture]` table.
//! Discovery walks up to the `Cargo.toml` that has `[workspace]` and reads the table directly
//! (a `cargo metadata` subprocess would cost as much as a whole `status`).

use std::path::{Path, PathBuf};

use crate::error::Result;

/// `[workspace.metadata.confiture]`, with defaults filled in. Paths are relative to the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub migrations_dir: PathBuf,
    pub environments_dir: PathBuf,
    pub default_env: String,
    pub first_version: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            migrations_dir: PathBuf::from("db/migrations"),
            environments_dir: PathBuf::from("db/environments"),
            default_env: "local".to_string(),
            first_version: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// The workspace root (or the start directory when not inside a Cargo workspace).
    pub root: PathBuf,
    /// The `Cargo.toml` the settings were read from, if any (for `cargo:rerun-if-changed`).
    pub manifest: Option<PathBuf>,
    pub settings: Settings,
}

impl Workspace {
    /// Finds the workspace containing `start` and reads its settings.
    pub fn discover(start: &Path) -> Result<Workspace> {
        let _ = start;
        todo!("workspace::discover")
    }

    pub fn migrations_dir(&self) -> PathBuf {
        self.root.join(&self.settings.migrations_dir)
    }

    pub fn environments_dir(&self) -> PathBuf {
        self.root.join(&self.settings.environments_dir)
    }
}
