//! `cargo xtask peers`: installs the migration tools that users would pick instead of ours
//! (sqlx-cli, refinery_cli, dbmate, confiture in Python), each at a pinned version, into
//! `target/peers/` (or `$CONFITURE_PEERS_DIR`), for `cargo xtask bench`. This module owns where
//! each peer lives in that directory; `tools::Installed::discover` asks it.
//!
//! Safe to re-run: a peer already installed at its pinned version is left alone, one at another
//! version is replaced. Each comes from its own registry through its ordinary client (cargo,
//! npm, pip), so the first run takes several minutes (sqlx-cli and refinery_cli compile).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::tools::Tool;

/// A peer at the version the benchmark measures.
pub struct Peer {
    pub tool: Tool,
    /// The package's name in its registry.
    pub package: &'static str,
    pub version: &'static str,
    source: Source,
}

enum Source {
    /// `cargo install --locked` with these features (default features off).
    Crate {
        features: &'static str,
        bin: &'static str,
    },
    /// The npm package; its Go binary comes in a per-platform package it depends on.
    Npm,
    /// A Python virtual environment with the package from PyPI.
    Pip { bin: &'static str },
}

/// The pinned peers. `fraiseql-confiture` is the version the interoperability tests use
/// (`tests/tests/it/interop_python.rs`, `.ci/run`; a test below keeps them equal).
pub const PEERS: [Peer; 4] = [
    Peer {
        tool: Tool::Sqlx,
        package: "sqlx-cli",
        version: "0.9.0",
        source: Source::Crate {
            features: "postgres,rustls",
            bin: "sqlx",
        },
    },
    Peer {
        tool: Tool::Refinery,
        package: "refinery_cli",
        version: "0.10.0",
        source: Source::Crate {
            features: "postgresql",
            bin: "refinery",
        },
    },
    Peer {
        tool: Tool::Dbmate,
        package: "dbmate",
        version: "2.36.0",
        source: Source::Npm,
    },
    Peer {
        tool: Tool::Python,
        package: "fraiseql-confiture",
        version: "1.29.0",
        source: Source::Pip { bin: "confiture" },
    },
];

/// Where the peers are installed: `$CONFITURE_PEERS_DIR`, else `peers/` in the target directory.
pub fn dir(root: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("CONFITURE_PEERS_DIR") {
        return PathBuf::from(dir);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("peers")
}

impl Peer {
    /// The executables that run this peer, the preferred first; the first is also where it is
    /// reported missing.
    pub fn executables(&self, dir: &Path) -> Vec<PathBuf> {
        match self.source {
            Source::Crate { bin, .. } => vec![dir.join("cargo/bin").join(bin)],
            // The npm package's `.bin/dbmate` is a node script that starts the Go binary; the
            // binary itself is what dbmate users run, so prefer it.
            Source::Npm => {
                let arch = match std::env::consts::ARCH {
                    "x86_64" => "x64",
                    "aarch64" => "arm64",
                    "x86" => "ia32",
                    other => other,
                };
                let platform = format!("{}-{arch}", std::env::consts::OS);
                vec![
                    dir.join("npm/node_modules/@dbmate")
                        .join(platform)
                        .join("bin/dbmate"),
                    dir.join("npm/node_modules/.bin/dbmate"),
                ]
            }
            Source::Pip { bin } => vec![dir.join("venv/bin").join(bin)],
        }
    }

    /// Whether this peer is installed in `dir` at its pinned version, as its installer recorded.
    fn is_installed(&self, dir: &Path) -> bool {
        if !self.executables(dir).iter().any(|p| is_executable(p)) {
            return false;
        }
        match self.source {
            Source::Crate { .. } => std::fs::read_to_string(dir.join("cargo/.crates.toml"))
                .is_ok_and(|t| t.contains(&format!("\"{} {} (", self.package, self.version))),
            Source::Npm => std::fs::read_to_string(
                dir.join("npm/node_modules")
                    .join(self.package)
                    .join("package.json"),
            )
            .is_ok_and(|t| t.contains(&format!("\"version\": \"{}\"", self.version))),
            Source::Pip { .. } => {
                let dist_info = format!(
                    "{}-{}.dist-info",
                    self.package.replace('-', "_"),
                    self.version
                );
                std::fs::read_dir(dir.join("venv/lib")).is_ok_and(|pythons| {
                    pythons.flatten().any(|python| {
                        python
                            .path()
                            .join("site-packages")
                            .join(&dist_info)
                            .is_dir()
                    })
                })
            }
        }
    }

    /// The commands that install this peer into `dir`, in order.
    fn install_commands(&self, dir: &Path) -> Vec<Command> {
        match self.source {
            Source::Crate { features, .. } => {
                let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
                c.args(["install", "--locked", "--version"])
                    .arg(format!("={}", self.version))
                    .arg(self.package)
                    .args(["--no-default-features", "--features", features, "--root"])
                    .arg(dir.join("cargo"));
                // The bench runs the peers by path; with their directory on PATH, cargo does not
                // advise adding it.
                let bin = dir.join("cargo/bin");
                let path = std::env::var_os("PATH").unwrap_or_default();
                if let Ok(path) =
                    std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path)))
                {
                    c.env("PATH", path);
                }
                vec![c]
            }
            Source::Npm => {
                let mut c = Command::new("npm");
                c.args([
                    "install",
                    "--save-exact",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                ])
                .arg(dir.join("npm"))
                .arg(format!("{}@{}", self.package, self.version));
                vec![c]
            }
            Source::Pip { .. } => {
                let venv = dir.join("venv");
                let mut commands = Vec::new();
                if !is_executable(&venv.join("bin/pip")) {
                    let mut c = Command::new("python3");
                    c.args(["-m", "venv"]).arg(&venv);
                    commands.push(c);
                }
                let mut c = Command::new(venv.join("bin/pip"));
                c.args(["install", "--quiet"])
                    .arg(format!("{}=={}", self.package, self.version));
                commands.push(c);
                commands
            }
        }
    }

    /// Installs this peer unless it is there at its pinned version.
    fn install(&self, dir: &Path) -> Result<(), String> {
        if self.is_installed(dir) {
            eprintln!("{} {}: already installed", self.package, self.version);
            return Ok(());
        }
        eprintln!("installing {} {}...", self.package, self.version);
        for mut command in self.install_commands(dir) {
            let shown = format!("{command:?}");
            // Only the list of peers goes to stdout; the installers' output is progress.
            let status = command
                .stdout(Stdio::from(std::io::stderr()))
                .status()
                .map_err(|e| format!("{}: cannot run {shown}: {e}", self.package))?;
            if !status.success() {
                return Err(format!("{}: {shown} failed ({status})", self.package));
            }
        }
        if self.is_installed(dir) {
            Ok(())
        } else {
            Err(format!(
                "{}: installed, but {} {} is not where the benchmark looks ({})",
                self.package,
                self.package,
                self.version,
                self.executables(dir)[0].display()
            ))
        }
    }
}

pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

pub const USAGE: &str = "usage: cargo xtask peers [TOOL...]

Installs the peers `cargo xtask bench` compares with, at pinned versions, into target/peers
($CONFITURE_PEERS_DIR if set): sqlx-cli and refinery_cli with cargo, dbmate with npm,
confiture (Python) with python3 -m venv and pip. TOOL (sqlx, refinery, dbmate, python) installs
only those. Installs only what is missing or at another version; the first run takes several
minutes. Prints one line per installed peer: NAME VERSION<TAB>PATH.";

/// Installs `peers` into `dir`, going on after a failure so that one missing client (npm,
/// python3) does not stop the others; fails if any failed.
pub fn install(dir: &Path, peers: &[&Peer]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut failed = Vec::new();
    for peer in peers {
        if let Err(e) = peer.install(dir) {
            eprintln!("{e}");
            failed.push(peer.package);
        }
    }
    for peer in peers {
        if let Some(path) = peer.executables(dir).into_iter().find(|p| is_executable(p)) {
            println!("{} {}\t{}", peer.package, peer.version, path.display());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("could not install {}", failed.join(", ")))
    }
}

/// Installs every peer into `dir` (`bench --install-peers`).
pub fn install_all(dir: &Path) -> Result<(), String> {
    install(dir, &PEERS.iter().collect::<Vec<_>>())
}

/// `cargo xtask peers [TOOL...]`.
pub fn run(args: &[String], root: &Path) -> Result<(), String> {
    let mut chosen = Vec::new();
    for arg in args {
        if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            return Ok(());
        }
        let peer = PEERS
            .iter()
            .find(|p| p.tool.key() == arg || p.package == arg)
            .ok_or_else(|| format!("unknown peer {arg:?}\n\n{USAGE}"))?;
        chosen.push(peer);
    }
    if chosen.is_empty() {
        chosen = PEERS.iter().collect();
    }
    install(&dir(root), &chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(relative: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(relative);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// The benchmark's Python peer is the confiture the interoperability tests run against.
    #[test]
    fn python_peer_is_the_version_the_interop_tests_pin() {
        let python = PEERS.iter().find(|p| p.tool == Tool::Python).unwrap();
        let spec = format!("{}=={}", python.package, python.version);
        for file in ["tests/tests/it/interop_python.rs", ".ci/run"] {
            assert!(
                read(file).contains(&format!("\"{spec}\"")),
                "{file} should pin {spec}, as the benchmark does (xtask/src/bench/peers.rs)"
            );
        }
    }

    /// docs/benchmarks.md names every peer at the version `cargo xtask peers` installs.
    #[test]
    fn benchmarks_doc_names_the_pinned_versions() {
        let doc = read("docs/benchmarks.md");
        for peer in &PEERS {
            let named = format!("{} {}", peer.package, peer.version);
            assert!(
                doc.contains(&named),
                "docs/benchmarks.md should name `{named}` (pinned in xtask/src/bench/peers.rs)"
            );
        }
    }

    #[test]
    fn every_benchmark_peer_is_pinned() {
        for tool in super::super::tools::PEERS {
            assert!(
                PEERS.iter().any(|p| p.tool == tool),
                "{tool} has no pinned version"
            );
        }
    }

    /// A peer counts as installed only at its pinned version: another version is replaced.
    #[test]
    fn installed_means_installed_at_the_pinned_version() {
        use std::os::unix::fs::PermissionsExt;
        for peer in &PEERS {
            for (version, expected) in [(peer.version, true), ("0.0.1", false)] {
                let dir = std::env::temp_dir().join(format!(
                    "xtask-peers-{}-{}-{version}",
                    std::process::id(),
                    peer.package
                ));
                let _ = std::fs::remove_dir_all(&dir);
                assert!(
                    !peer.is_installed(&dir),
                    "{} found in an empty directory",
                    peer.package
                );
                let executable = &peer.executables(&dir)[0];
                std::fs::create_dir_all(executable.parent().unwrap()).unwrap();
                std::fs::write(executable, "#!/bin/sh\n").unwrap();
                std::fs::set_permissions(executable, std::fs::Permissions::from_mode(0o755))
                    .unwrap();
                let (record, text) = match peer.source {
                    Source::Crate { bin, .. } => (
                        dir.join("cargo/.crates.toml"),
                        format!("[v1]\n\"{} {version} (registry+https://github.com/rust-lang/crates.io-index)\" = [\"{bin}\"]\n", peer.package),
                    ),
                    Source::Npm => (
                        dir.join("npm/node_modules/dbmate/package.json"),
                        format!("{{\n  \"name\": \"dbmate\",\n  \"version\": \"{version}\"\n}}\n"),
                    ),
                    Source::Pip { .. } => (
                        dir.join(format!(
                            "venv/lib/python3.13/site-packages/fraiseql_confiture-{version}.dist-info/METADATA"
                        )),
                        String::new(),
                    ),
                };
                std::fs::create_dir_all(record.parent().unwrap()).unwrap();
                std::fs::write(&record, text).unwrap();
                assert_eq!(
                    peer.is_installed(&dir),
                    expected,
                    "{} recorded at {version}",
                    peer.package
                );
                std::fs::remove_dir_all(&dir).unwrap();
            }
        }
    }
}
