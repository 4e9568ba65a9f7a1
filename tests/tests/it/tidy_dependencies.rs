//! Tidy checks for dependencies: ARCHITECTURE.md's table ("Dependencies and why") equals the
//! `Cargo.toml` files, every dependency is named in the code of each crate that declares it,
//! the workspace declares nothing unused, and `confiture-build` (which runs inside every user's
//! build script) pulls in no YAML, JSON, `.env` or database crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use confiture_tests::workspace_root;
use serde_json::Value;

/// One package's declaration of one dependency outside the workspace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Declaration {
    package: String,
    /// `""`, `" (dev)"`, `" (build)"` or `" (feature F)"`: how the table writes it.
    how: String,
}

impl std::fmt::Display for Declaration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.package, self.how)
    }
}

fn cargo(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "cargo {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("cargo prints UTF-8")
}

fn metadata() -> Value {
    let text = cargo(&["metadata", "--format-version", "1", "--no-deps", "--locked"]);
    serde_json::from_str(&text).expect("cargo metadata prints JSON")
}

/// The features of `package` that turn on the optional dependency `name` directly.
fn features_enabling(package: &Value, name: &str) -> Vec<String> {
    let wanted = format!("dep:{name}");
    let mut found: Vec<String> = package["features"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, list)| {
            list.as_array()
                .into_iter()
                .flatten()
                .any(|item| item.as_str() == Some(wanted.as_str()))
        })
        .map(|(feature, _)| feature.clone())
        .collect();
    found.sort();
    found
}

/// Dependency name → its declarations, from `cargo metadata` (workspace path crates left out).
fn declared() -> BTreeMap<String, BTreeSet<Declaration>> {
    let metadata = metadata();
    let mut map: BTreeMap<String, BTreeSet<Declaration>> = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let package_name = package["name"].as_str().expect("package name");
        for dep in package["dependencies"].as_array().expect("dependencies") {
            if dep.get("path").is_some_and(|p| !p.is_null()) {
                continue;
            }
            let name = dep["name"].as_str().expect("dependency name").to_string();
            let how = match dep["kind"].as_str() {
                Some("dev") => " (dev)".to_string(),
                Some("build") => " (build)".to_string(),
                _ if dep["optional"] == Value::Bool(true) => {
                    let features = features_enabling(package, &name);
                    format!(" (feature {})", features.join(", feature "))
                }
                _ => String::new(),
            };
            map.entry(name).or_default().insert(Declaration {
                package: package_name.to_string(),
                how,
            });
        }
    }
    map
}

/// The rows of ARCHITECTURE.md's dependency table: dependency → its "declared in" cell.
fn table() -> BTreeMap<String, BTreeSet<String>> {
    let path = workspace_root().join("ARCHITECTURE.md");
    let text = std::fs::read_to_string(&path).expect("read ARCHITECTURE.md");
    let section = text
        .split("\n## Dependencies and why")
        .nth(1)
        .expect("ARCHITECTURE.md has a section `## Dependencies and why`");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 3 || cells[0] == "dependency" || cells[0].starts_with("---") {
            continue;
        }
        let declared_in = cells[1]
            .split(", ")
            .map(|entry| entry.trim().to_string())
            .collect();
        assert!(
            rows.insert(cells[0].to_string(), declared_in).is_none(),
            "ARCHITECTURE.md's dependency table has two rows for `{}`",
            cells[0]
        );
    }
    rows
}

#[test]
fn the_dependency_table_matches_the_manifests() {
    let declared = declared();
    let table = table();
    let mut problems = Vec::new();
    for (name, declarations) in &declared {
        let expected: BTreeSet<String> = declarations.iter().map(|d| d.to_string()).collect();
        let cell = expected.iter().cloned().collect::<Vec<_>>().join(", ");
        match table.get(name) {
            None => problems.push(format!(
                "`{name}` is declared but has no row: add `| {name} | {cell} | <why> |`"
            )),
            Some(listed) if *listed != expected => problems.push(format!(
                "the row of `{name}` says it is declared in `{}`, the Cargo.toml files say \
                 `{cell}`: write `| {name} | {cell} | ... |`",
                listed.iter().cloned().collect::<Vec<_>>().join(", ")
            )),
            Some(_) => {}
        }
    }
    for name in table.keys().filter(|name| !declared.contains_key(*name)) {
        problems.push(format!(
            "the row of `{name}` names a dependency no Cargo.toml declares: remove it"
        ));
    }
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md's table \"Dependencies and why\" differs from the Cargo.toml files:\n  {}",
        problems.join("\n  ")
    );
}

/// The `.rs` files of a package: its sources, tests, benches, examples and build script.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != "fixtures" {
                rust_files(&path, found);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Whether `code` names the crate `ident` as a path (`ident::...`, `use ident`), not as part
/// of a longer name (`tokio_postgres_rustls::` does not name `rustls`).
fn names_crate(code: &str, ident: &str) -> bool {
    code.match_indices(ident).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = &code[at + ident.len()..];
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && (after.starts_with("::") || after.starts_with(';') || after.starts_with(" as "))
    })
}

#[test]
fn every_dependency_is_used_where_it_is_declared() {
    let metadata = metadata();
    let mut unused = Vec::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let manifest = PathBuf::from(package["manifest_path"].as_str().expect("manifest"));
        let dir = manifest.parent().expect("package directory");
        let mut files = Vec::new();
        rust_files(dir, &mut files);
        let code: String = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        for dep in package["dependencies"].as_array().expect("dependencies") {
            let name = dep["rename"]
                .as_str()
                .or(dep["name"].as_str())
                .expect("dependency name");
            let ident = name.replace('-', "_");
            if !names_crate(&code, &ident) {
                unused.push(format!(
                    "{} declares `{name}` but no .rs file under {} names `{ident}::`: remove it",
                    package["name"].as_str().unwrap_or("?"),
                    dir.display()
                ));
            }
        }
    }
    assert!(
        unused.is_empty(),
        "unused dependencies:\n  {}",
        unused.join("\n  ")
    );
}

/// Every `[workspace.dependencies]` entry is used by a member: the table lists only what some
/// crate declares, so a leftover here would be invisible there.
#[test]
fn the_workspace_declares_only_dependencies_members_use() {
    let root = std::fs::read_to_string(workspace_root().join("Cargo.toml")).expect("Cargo.toml");
    let section = root
        .split("[workspace.dependencies]")
        .nth(1)
        .expect("a [workspace.dependencies] table");
    let section = section.split("\n[").next().unwrap_or(section);
    let metadata = metadata();
    let used: BTreeSet<&str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .flat_map(|p| p["dependencies"].as_array().expect("dependencies"))
        .filter_map(|d| d["name"].as_str())
        .collect();
    let names: Vec<&str> = section
        .lines()
        .filter_map(|l| l.split_once('=').map(|(name, _)| name.trim()))
        .filter(|name| !name.is_empty() && !name.starts_with('#'))
        .collect();
    assert!(
        !names.is_empty(),
        "no names read from [workspace.dependencies]"
    );
    let unused: Vec<&&str> = names.iter().filter(|n| !used.contains(**n)).collect();
    assert!(
        unused.is_empty(),
        "[workspace.dependencies] declares {unused:?}, which no member uses: remove them"
    );
}

/// What a build script compiles: file checking only. No YAML or `.env` (environment files are
/// the CLI's business), no JSON, no database driver or async runtime.
#[test]
fn confiture_build_pulls_in_no_yaml_json_or_database_crate() {
    let tree = cargo(&[
        "tree",
        "--locked",
        "-p",
        "confiture-build",
        "-e",
        "normal",
        "--prefix",
        "none",
        "--format",
        "{p}",
    ]);
    let crates: BTreeSet<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains("confiture") && crates.contains("sha2"),
        "the tree was not read: {crates:?}"
    );
    let forbidden = [
        "serde_yaml",
        "unsafe-libyaml",
        "serde_json",
        "dotenvy",
        "postgres",
        "tokio-postgres",
        "tokio",
        "futures-util",
        "rustls",
        "tokio-postgres-rustls",
        "rustls-pemfile",
        "webpki-roots",
    ];
    let found: Vec<&&str> = forbidden.iter().filter(|c| crates.contains(**c)).collect();
    assert!(
        found.is_empty(),
        "confiture-build's tree holds {found:?}: keep them behind confiture's features \
         (`db`, `env-files`), which confiture-build turns off\n{tree}"
    );
}
