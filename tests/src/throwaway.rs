//! A throwaway crate built by a real `cargo build`, for the tests of what runs inside a user's
//! build: `confiture-build`'s build-script check and embedded migrations. The crate and its
//! target directory live under our target directory (`target/<name>/crate`, `.../target`) and
//! are reused between runs, so the dependencies compile once; each test's crate has its own
//! `<name>`, so tests running at once never share a build.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A crate of its own `[workspace]`, with our `Cargo.lock` (no registry round trip).
pub struct ThrowawayCrate {
    pub dir: PathBuf,
    pub target: PathBuf,
}

impl ThrowawayCrate {
    /// The crate `target/<name>/crate` with `manifest` as its `Cargo.toml` (which must hold its
    /// own `[workspace]`: the crate must not be taken for a member of ours).
    pub fn new(name: &str, manifest: &str) -> ThrowawayCrate {
        let workspace = crate::workspace_root();
        let target_root = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("target"));
        let root = target_root.join(name);
        let dir = root.join("crate");
        fs::create_dir_all(dir.join("src")).unwrap();
        let krate = ThrowawayCrate {
            dir,
            target: root.join("target"),
        };
        krate.write_if_changed("Cargo.toml", manifest.as_bytes());
        // The same versions as our workspace, already downloaded: no registry round trip.
        if !krate.dir.join("Cargo.lock").exists() {
            fs::copy(workspace.join("Cargo.lock"), krate.dir.join("Cargo.lock")).unwrap();
        }
        krate
    }

    /// `db/migrations` of the crate.
    pub fn migrations(&self) -> PathBuf {
        self.dir.join("db/migrations")
    }

    /// Writes `relative` unless it already holds `bytes`: rewriting an unchanged build.rs
    /// would recompile it on every run.
    pub fn write_if_changed(&self, relative: &str, bytes: &[u8]) {
        write_if_changed(&self.dir.join(relative), bytes);
    }

    /// `cargo build`: success, and everything it printed.
    pub fn build(&self) -> (bool, String) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.arg("build").current_dir(&self.dir);
        // The outer `cargo test` must not steer the inner build.
        for var in [
            "CARGO_BUILD_TARGET_DIR",
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_RUST_VERSION",
            "CARGO_PRIMARY_PACKAGE",
        ] {
            command.env_remove(var);
        }
        command
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_TERM_COLOR", "never");
        let output = command.output().unwrap();
        let text = String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout);
        (output.status.success(), text)
    }
}

fn write_if_changed(path: &Path, bytes: &[u8]) {
    if fs::read(path).ok().as_deref() != Some(bytes) {
        fs::write(path, bytes).unwrap();
    }
}
