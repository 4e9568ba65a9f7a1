//! Tidy checks: the docs say what the code does. README's two commands, its sections, the
//! exit-code table, install lines, the cargo aliases, `rust-version`, module docs, the changelog.

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

/// The API docs build with warnings denied (a broken intra-doc link, an undocumented public
/// item under `#![deny(missing_docs)]`) in both CI entry points.
#[test]
fn ci_builds_the_docs_with_warnings_denied() {
    let ci = read(".ci/run");
    assert!(
        ci.lines()
            .any(|l| l.trim() == "RUSTDOCFLAGS=\"-D warnings\" cargo doc --workspace --no-deps"),
        ".ci/run must build the docs with warnings denied"
    );
    let xtask = read("xtask/src/main.rs");
    assert!(
        xtask.contains("cmd!(sh, \"cargo doc --workspace --no-deps\")")
            && xtask.contains(".env(\"RUSTDOCFLAGS\", \"-D warnings\")"),
        "cargo xtask ci must build the docs with warnings denied"
    );
    for krate in ["confiture/src/lib.rs", "confiture-build/src/lib.rs"] {
        assert!(
            read(krate).contains("#![deny(missing_docs)]"),
            "{krate} must deny missing docs"
        );
    }
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

/// What a doc or code comment says a `migrate status` exit code means (`0 up to date`, `1
/// pending`, `2 not initialised`, `exit 2 = pending`) agrees with confiture/src/exit.rs: a
/// readiness check copied from an example must not take "never migrated" for "pending" (hostile
/// run 5, item 15).
#[test]
fn comments_give_the_status_exit_codes_exit_rs_gives() {
    use confiture::exit;
    let meanings: [(&str, u8); 5] = [
        ("up to date", exit::SUCCESS),
        ("pending", exit::PENDING),
        ("not initialised", exit::NOT_INITIALISED),
        ("not initialized", exit::NOT_INITIALISED),
        ("connection error", exit::CONNECTION),
    ];
    let root = workspace_root();
    let mut files = Vec::new();
    for krate in ["confiture", "confiture-build", "cargo-confiture"] {
        rust_files(&root.join(krate).join("src"), &mut files);
    }
    let mut wrong = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            let Some(comment) = line.find("//").map(|at| &line[at..]) else {
                continue;
            };
            if !comment.contains("exit") {
                continue;
            }
            // Each `<number> <meaning>` and `exit <number> = <meaning>` in the comment.
            let bytes = comment.as_bytes();
            let mut at = 0;
            while at < bytes.len() {
                if !bytes[at].is_ascii_digit() || (at > 0 && bytes[at - 1].is_ascii_alphanumeric())
                {
                    at += 1;
                    continue;
                }
                let end = at
                    + bytes[at..]
                        .iter()
                        .take_while(|b| b.is_ascii_digit())
                        .count();
                let rest = comment[end..].trim_start_matches([' ', '=', ':', '-']);
                let number = &comment[at..end];
                if let (false, Ok(code), Some((meaning, expected))) = (
                    number.len() > 1 && number.starts_with('0'),
                    number.parse::<u8>(),
                    meanings.iter().find(|(m, _)| rest.starts_with(m)),
                ) {
                    if code != *expected {
                        wrong.push(format!(
                            "{}:{}: `{code} {meaning}`, but exit.rs says {expected}: {}",
                            path.strip_prefix(&root).unwrap_or(path).display(),
                            n + 1,
                            line.trim()
                        ));
                    }
                }
                at = end;
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The lines of a Markdown text outside fenced code blocks.
fn prose_lines(text: &str) -> Vec<&str> {
    let mut in_code = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                return false;
            }
            !in_code
        })
        .collect()
}

/// The README's `##` sections, in this order (issue 13, item 15): helpers add `###`
/// subsections under them, never a `##` of their own.
const README_SECTIONS: [&str; 7] = [
    "Install",
    "Usage",
    "Configuration",
    "Embedding",
    "Reliability",
    "Exit codes",
    "Development",
];

#[test]
fn readme_sections_are_the_agreed_ones_in_order() {
    let readme = read("README.md");
    let sections: Vec<&str> = prose_lines(&readme)
        .into_iter()
        .filter_map(|line| line.strip_prefix("## "))
        .map(str::trim)
        .collect();
    assert_eq!(
        sections, README_SECTIONS,
        "README.md's `##` sections must be exactly these, in this order; put new material in a \
         `###` subsection of one of them"
    );
    let first_section = readme.find("\n## ").expect("README has sections");
    assert!(
        readme[..first_section].contains("```sh\ncargo confiture migrate up"),
        "README opens with what the tool is and its two commands, before the first section"
    );
}

/// Every `cargo install` the docs show uses `--locked`: the dependency versions we tested.
#[test]
fn docs_install_with_locked() {
    let mut docs = vec!["README.md".to_string()];
    for entry in std::fs::read_dir(workspace_root().join("docs")).expect("read docs/") {
        let path = entry.expect("docs/ entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(format!(
                "docs/{}",
                path.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    let mut unlocked = Vec::new();
    for doc in &docs {
        for line in read(doc).lines() {
            if line.contains("cargo install") && !line.contains("--locked") {
                unlocked.push(format!("{doc}: {}", line.trim()));
            }
        }
    }
    assert!(
        unlocked.is_empty(),
        "`cargo install` without `--locked`: {unlocked:#?}"
    );
}

/// The benchmark tables live in docs/benchmarks.md, linked from the README; nothing the README or
/// the benchmark tells you to run lives outside the repository.
#[test]
fn benchmarks_are_in_their_own_page_and_self_contained() {
    let readme = read("README.md");
    assert!(
        readme.contains("](docs/benchmarks.md)"),
        "README links docs/benchmarks.md"
    );
    assert!(
        !readme.contains("× base"),
        "the benchmark tables belong in docs/benchmarks.md, not the README"
    );
    let page = read("docs/benchmarks.md");
    assert!(
        page.contains("× base"),
        "docs/benchmarks.md holds the figures"
    );
    for (file, text) in [
        ("README.md", readme.as_str()),
        ("docs/benchmarks.md", page.as_str()),
        ("xtask/src/bench.rs", &read("xtask/src/bench.rs")),
    ] {
        assert!(
            !text.contains("../shared") && !text.contains(".cache/confiture-peers"),
            "{file} points outside the repository"
        );
    }
}

/// `cargo confiture` inside the repository shows cargo's build progress: the first run compiles
/// for a minute or two, and a silent minute looks like a hang.
#[test]
fn cargo_aliases_let_the_build_progress_show() {
    let config = read(".cargo/config.toml");
    let aliases: Vec<&str> = config
        .lines()
        .filter(|l| l.starts_with("confiture") || l.starts_with("xtask"))
        .collect();
    assert_eq!(aliases.len(), 2, "the two aliases: {aliases:?}");
    for alias in aliases {
        let words: Vec<&str> = alias.split(['"', ' ']).collect();
        assert!(
            !words.contains(&"--quiet") && !words.contains(&"-q"),
            "the alias hides the build: {alias}"
        );
    }
}

/// The `rust-version` in Cargo.toml is one that builds the workspace with its Cargo.lock: no
/// locked dependency built for this machine declares a newer one. (Our own code's use of the
/// standard library is checked against the same line by clippy's `incompatible_msrv`, which
/// `cargo clippy -- -D warnings` denies.)
#[test]
fn rust_version_covers_the_locked_dependencies() {
    fn parse(version: &str) -> (u64, u64) {
        let mut parts = version
            .split('.')
            .map(|p| p.parse::<u64>().expect("a number"));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    }
    let manifest = read("Cargo.toml");
    let declared = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("Cargo.toml declares rust-version")
        .trim_matches('"');
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("-vV")
            .output()
            .expect("run rustc -vV");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host");
    let output = std::process::Command::new(cargo)
        .current_dir(workspace_root())
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host])
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let resolved: std::collections::HashSet<&str> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve.nodes")
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    let newer: Vec<String> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| resolved.contains(id)))
        .filter_map(|p| {
            let needs = p["rust_version"].as_str()?;
            (parse(needs) > parse(declared))
                .then(|| format!("{} {} needs {needs}", p["name"], p["version"]))
        })
        .collect();
    assert!(
        resolved.len() > 50,
        "cargo metadata resolved too few packages: {}",
        resolved.len()
    );
    assert!(
        newer.is_empty(),
        "Cargo.toml says rust-version = {declared}, but the locked dependencies need more: {newer:?}"
    );
}

/// Keep a Changelog: under `## [Unreleased]`, one `###` section per kind of change, each kind
/// one of the format's own.
#[test]
fn changelog_has_one_unreleased_section_per_kind() {
    const KINDS: [&str; 6] = [
        "Added",
        "Changed",
        "Deprecated",
        "Removed",
        "Fixed",
        "Security",
    ];
    let changelog = read("CHANGELOG.md");
    let start = changelog
        .find("## [Unreleased]")
        .expect("CHANGELOG.md has an `## [Unreleased]` section");
    let unreleased = &changelog[start + 3..];
    let unreleased = &unreleased[..unreleased.find("\n## ").unwrap_or(unreleased.len())];
    let kinds: Vec<&str> = unreleased
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(str::trim)
        .collect();
    assert!(!kinds.is_empty(), "`## [Unreleased]` has no `###` sections");
    for kind in &kinds {
        assert!(
            KINDS.contains(kind),
            "CHANGELOG.md: `### {kind}` is not a Keep a Changelog kind ({KINDS:?}); add its \
             bullets to the section of their kind"
        );
        assert_eq!(
            kinds.iter().filter(|k| *k == kind).count(),
            1,
            "CHANGELOG.md: `### {kind}` appears twice under [Unreleased]: {kinds:?}"
        );
    }
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

/// Every test RELIABILITY.md cites (`confiture/tests/it/x.rs::name`, or `::name` after a cited
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
                || here.starts_with("confiture/src/")
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
                    // A test, or a module of tests (`confiture/src/...rs::tests`).
                    if !source.contains(&format!("fn {name}("))
                        && !source.contains(&format!("mod {name} "))
                    {
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

/// The code of a file as the README shows it: without its leading `//!` doc comment and the
/// blank line after it (the README says the same in prose).
fn code_of(source: &str) -> String {
    let mut lines = source.lines().peekable();
    while lines.peek().is_some_and(|l| l.starts_with("//!")) {
        lines.next();
    }
    while lines.peek().is_some_and(|l| l.trim().is_empty()) {
        lines.next();
    }
    lines.map(|l| format!("{l}\n")).collect()
}

/// The README's code blocks that name a file of the repository on their first line
/// (`// db/src/main.rs`): that path, and the block's code after that line.
fn readme_file_blocks(readme: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut rest = readme;
    while let Some(open) = rest.find("\n```") {
        let after_fence = &rest[open + 4..];
        let Some(info_end) = after_fence.find('\n') else {
            break;
        };
        let body = &after_fence[info_end + 1..];
        let Some(close) = body.find("```") else {
            break;
        };
        let block = &body[..close];
        rest = &body[close + 3..];
        let Some((first, code)) = block.split_once('\n') else {
            continue;
        };
        if let Some(path) = first.strip_prefix("// ") {
            if path.contains('/') && workspace_root().join(path).is_file() {
                blocks.push((path.to_string(), code.to_string()));
            }
        }
    }
    blocks
}

/// README's Embedding example (`build.rs` and the service's `main`) had drifted from
/// `db/build.rs` and `db/src/main.rs`, the example that is built and tested: each README block
/// headed by a repository path shows that file's code exactly.
#[test]
fn readme_blocks_that_name_a_file_show_that_file() {
    let readme = read("README.md");
    let blocks = readme_file_blocks(&readme);
    let paths: Vec<&str> = blocks.iter().map(|(p, _)| p.as_str()).collect();
    for expected in ["db/build.rs", "db/src/main.rs", "db/src/bin/quick_start.rs"] {
        assert!(
            paths.contains(&expected),
            "README should show {expected}, headed `// {expected}`: {paths:?}"
        );
    }
    for (path, code) in blocks {
        let file = code_of(&read(&path));
        assert!(
            code == file,
            "README's block headed `// {path}` differs from {path} (after its `//!` comment); \
             copy the file's code into the README:\n--- README\n{code}\n--- {path}\n{file}"
        );
    }
}

/// The crate's documentation opens with the quick start README shows, `db/src/bin/quick_start.rs`,
/// which `db/tests/quick_start.rs` runs: its failure says the message, details and help and
/// exits with the error's code (it printed a 2 KB `Debug` dump, exit 1, h19 N39).
#[test]
fn the_crate_docs_quick_start_is_the_tested_one() {
    let lib = read("confiture/src/lib.rs");
    let start = lib
        .find("//! # Quick start")
        .expect("confiture/src/lib.rs has a Quick start");
    let block: String = lib[start..]
        .lines()
        .skip_while(|l| *l != "//! ```no_run")
        .skip(1)
        .take_while(|l| *l != "//! ```")
        .map(|l| {
            format!(
                "{}\n",
                l.strip_prefix("//! ")
                    .unwrap_or(l.trim_start_matches("//!"))
            )
        })
        .collect();
    let file = code_of(&read("db/src/bin/quick_start.rs"));
    assert!(
        block == file,
        "the crate's Quick start differs from db/src/bin/quick_start.rs (after its `//!` \
         comment):\n--- lib.rs\n{block}\n--- file\n{file}"
    );
}

/// In one target's text of a fleet, `hint::AGAIN` ("the command again") is what the renderer
/// turns into "the command again on this target alone (select it with ...)": the fleet's
/// command run again acts on every target (a `down` rolls the finished ones back once more).
/// About thirty helps wrote the phrase themselves, and a few said "try again": a change of
/// `AGAIN`'s wording would have left them out of the rewrite without a word. Every sentence
/// that tells to run the failed command once more is built from `hint::AGAIN`, which alone
/// writes the phrase (comments aside; a string continued over lines is read as one).
#[test]
fn every_run_the_command_again_is_built_from_hint_again() {
    let root = workspace_root();
    let mut files = Vec::new();
    for krate in ["confiture", "confiture-build", "cargo-confiture"] {
        rust_files(&root.join(krate).join("src"), &mut files);
    }
    assert!(files.len() > 10, "found too few Rust files: {files:?}");
    let owner = root.join("confiture/src/hint.rs");
    let mut written = Vec::new();
    for path in files.iter().filter(|p| **p != owner) {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let code = joined_code(&text);
        let code = code.to_lowercase();
        for phrase in ["the command again", "try again"] {
            if code.contains(phrase) {
                let shown = path.strip_prefix(&root).unwrap_or(path).display();
                written.push(format!("{shown}: {phrase:?}"));
            }
        }
    }
    assert!(
        written.is_empty(),
        "these files tell to run the command again in their own words; build the sentence from \
         `confiture::hint::AGAIN` (`format!(\"... run {{AGAIN}}\")`), so that a fleet target's \
         text names that target: {written:?}"
    );
}

/// h18 F9: "refusing to roll back: 1 migration(s) are irreversible", "1 applied migration(s)
/// modified": a message counts with `confiture::display::plural` (`1 migration`, `2
/// migrations`), never `(s)`. Comments aside, no word of the code is followed by `(s)`.
#[test]
fn messages_count_with_plural_never_parenthesised_s() {
    let root = workspace_root();
    let mut files = Vec::new();
    for krate in ["confiture", "confiture-build", "cargo-confiture"] {
        rust_files(&root.join(krate).join("src"), &mut files);
    }
    assert!(files.len() > 10, "found too few Rust files: {files:?}");
    let mut written = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let code = joined_code(&text);
        for literal in string_literals(&code) {
            let counted = literal
                .match_indices("(s)")
                .any(|(at, _)| literal[..at].ends_with(|c: char| c.is_ascii_alphabetic()));
            if counted {
                let shown = path.strip_prefix(&root).unwrap_or(path).display();
                written.push(format!("{shown}: {literal:?}"));
            }
        }
    }
    assert!(
        written.is_empty(),
        "these lines count with `(s)`; use `confiture::display::plural`: {written:?}"
    );
}

/// The code of `text` without its comments, each string continued with `\` joined as Rust does.
fn joined_code(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        if code.ends_with('\\') {
            code.pop();
            code.push_str(line.trim_start());
        } else {
            code.push('\n');
            code.push_str(line);
        }
    }
    code
}

/// The contents of the `"..."` string literals of `code` (a `'"'` character literal is none).
fn string_literals(code: &str) -> Vec<&str> {
    let bytes = code.as_bytes();
    let mut literals = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'"' && !(i > 0 && bytes[i - 1] == b'\'' && bytes.get(i + 1) == Some(&b'\''))
        {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            let end = end.min(bytes.len());
            literals.push(&code[start..end]);
            i = end + 1;
        } else {
            i += 1;
        }
    }
    literals
}

/// The SQL a help prints for the user to paste runs in a session of the database it is about,
/// whose `search_path` may put a schema before `pg_catalog` (ARCHITECTURE: the hostile
/// `search_path` rule): written unqualified, `pg_terminate_backend(...)`, `pg_reload_conf()` or
/// `FROM pg_stat_activity` would run whatever that schema holds under the name. Every such
/// statement is `confiture::db::pasted`'s (whose own test reads each with the SQL lexer), and
/// no string of the code (the lint rules' and the tests' aside) names a `pg_*` function or
/// catalog relation without `pg_catalog.`.
#[test]
fn every_catalog_name_in_the_code_is_qualified() {
    let root = workspace_root();
    let mut files = Vec::new();
    for krate in ["confiture", "confiture-build", "cargo-confiture"] {
        rust_files(&root.join(krate).join("src"), &mut files);
    }
    assert!(files.len() > 10, "found too few Rust files: {files:?}");
    // The lint rules (about migrations' own SQL) and the tests (their own sessions) aside.
    let rules = root.join("confiture/src/files/rules");
    let engine_tests = root.join("confiture/src/db/engine_tests");
    let mut written = Vec::new();
    for path in files
        .iter()
        .filter(|p| !p.starts_with(&rules) && !p.starts_with(&engine_tests))
    {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let code = joined_code(text.split("\n#[cfg(test)]").next().unwrap_or_default());
        for literal in string_literals(&code) {
            if let Some(name) = unqualified_catalog_name(literal) {
                let shown = path.strip_prefix(&root).unwrap_or(path).display();
                written.push(format!("{shown}: {name} in {literal:?}"));
            }
        }
    }
    assert!(
        written.is_empty(),
        "these strings name a catalog function or relation without `pg_catalog.`; write it \
         qualified (a statement a help pastes: in `confiture::db::pasted`): {written:?}"
    );
}

/// The first `pg_*` name in `sql` called as a function (`pg_x(`) or read as a relation (`FROM
/// pg_x`, `JOIN pg_x`) without `pg_catalog.` before it.
fn unqualified_catalog_name(sql: &str) -> Option<&str> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    sql.match_indices("pg_").find_map(|(at, _)| {
        let before = &sql[..at];
        if before.ends_with(is_name) || before.ends_with('.') || before.ends_with('"') {
            return None;
        }
        let name = &sql[at..];
        let name = &name[..name.find(|c: char| !is_name(c)).unwrap_or(name.len())];
        if name == "pg_catalog" {
            return None;
        }
        let called = sql[at + name.len()..].starts_with('(');
        let words = before.trim_end().to_ascii_uppercase();
        let read = before.ends_with(' ') && (words.ends_with("FROM") || words.ends_with("JOIN"));
        (called || read).then_some(name)
    })
}
