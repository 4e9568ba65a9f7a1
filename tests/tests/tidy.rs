//! Tidy checks: the docs say what the code does. README's two commands, the exit-code table,
//! module docs, the changelog.

use std::path::Path;

use confiture_tests::workspace_root;

fn read(relative: &str) -> String {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The command lines of the README's first code block.
fn readme_commands() -> Vec<String> {
    let readme = read("README.md");
    let start = readme.find("```").expect("README has a code block");
    let body = &readme[start..];
    let body = &body[body.find('\n').expect("code block opening line") + 1..];
    let end = body
        .find("```")
        .expect("README's first code block is closed");
    body[..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn readme_starts_with_exactly_two_commands() {
    let commands = readme_commands();
    assert_eq!(
        commands.len(),
        2,
        "README's first code block must hold exactly two commands: {commands:?}"
    );
    assert!(
        commands[0].starts_with("cargo confiture migrate up"),
        "first command runs the main job: {commands:?}"
    );
}

#[test]
fn ci_runs_the_readme_test_command() {
    let test_command = readme_commands().pop().expect("README's test command");
    let ci = read(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == test_command),
        ".ci/run must run the README's test command `{test_command}` on a line of its own"
    );
    let xtask = read("xtask/src/main.rs");
    assert!(
        xtask.contains(&format!("cmd!(sh, \"{test_command}\")")),
        "cargo xtask ci must run `{test_command}`"
    );
}

#[test]
fn readme_documents_every_exit_code() {
    let readme = read("README.md");
    for (code, meaning) in confiture::exit::ALL {
        let row = format!("| {code} | {meaning} |");
        assert!(
            readme.contains(&row),
            "README's exit-code table lacks the row `{row}` (from confiture/src/exit.rs)"
        );
    }
}

#[test]
fn changelog_has_an_unreleased_section() {
    assert!(read("CHANGELOG.md").contains("## [Unreleased]"));
}

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            if !path.ends_with("fixtures") {
                rust_files(&path, found);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_module_says_what_it_is_for() {
    let root = workspace_root();
    let mut files = Vec::new();
    for krate in [
        "confiture",
        "confiture-build",
        "cargo-confiture",
        "db",
        "xtask",
        "tests",
    ] {
        for dir in ["src", "tests", "benches"] {
            let dir = root.join(krate).join(dir);
            if dir.is_dir() {
                rust_files(&dir, &mut files);
            }
        }
    }
    assert!(files.len() > 10, "found too few Rust files: {files:?}");
    let undocumented: Vec<_> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|p| p.strip_prefix(&root).unwrap_or(p).display().to_string())
        .collect();
    assert!(
        undocumented.is_empty(),
        "these files do not start with a `//!` line saying what they are for: {undocumented:?}"
    );
}

/// Every test RELIABILITY.md cites (`confiture/tests/x.rs::name`, or `::name` after a cited
/// file on the same line, or a bare `` `name` `` in a section that names its file) exists, so a
/// guarantee never points at a test that is not there.
#[test]
fn reliability_cites_only_tests_that_exist() {
    let root = workspace_root();
    let text = read("RELIABILITY.md");
    let mut cited = 0;
    let mut missing = Vec::new();
    for line in text.lines() {
        let mut file: Option<String> = None;
        let mut rest = line;
        while let Some(start) = rest.find(['c', 't', ':']) {
            let here = &rest[start..];
            let path_end = here.find(".rs").map(|i| i + 3);
            let is_path = (here.starts_with("confiture/tests/")
                || here.starts_with("tests/tests/"))
                && path_end.is_some();
            if is_path {
                let end = path_end.unwrap_or(0);
                file = Some(here[..end].to_string());
                rest = &here[end..];
                continue;
            }
            if let Some(after) = here.strip_prefix("::") {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if let (Some(file), false) = (&file, name.is_empty()) {
                    cited += 1;
                    let source = std::fs::read_to_string(root.join(file)).unwrap_or_default();
                    if !source.contains(&format!("fn {name}(")) {
                        missing.push(format!("{file}::{name}"));
                    }
                }
                rest = &after[name.len()..];
                continue;
            }
            rest = &here[1..];
        }
    }
    assert!(
        cited > 20,
        "RELIABILITY.md should cite its tests; found {cited}"
    );
    assert!(
        missing.is_empty(),
        "RELIABILITY.md cites tests that do not exist: {missing:?}"
    );
}
