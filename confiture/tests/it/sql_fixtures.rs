//! Data-driven tests of the SQL rules: every `*.up.sql` / `*.down.sql` under
//! `tests/fixtures/sql/<dir>/` is checked and its diagnostics compared with the sibling
//! `*.expected` file (`bad.up.sql` → `bad.up.expected`).
//!
//! A directory named after a rule must hold at least one `bad*` file that triggers the rule and
//! one `good*` file that yields nothing at all; every rule must have such a directory. Other
//! directories (`examples/`) are scenarios with no such constraint.
//!
//! `UPDATE_EXPECT=1 cargo test -p confiture --test it sql_fixtures` rewrites the expected files.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use confiture::files::rules::{check_sql, SQL_RULES};
use confiture::files::Direction;
use confiture::Diagnostic;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sql")
}

fn kind_of(name: &str) -> Option<Direction> {
    if name.ends_with(".up.sql") {
        Some(Direction::Up)
    } else if name.ends_with(".down.sql") {
        Some(Direction::Down)
    } else {
        None
    }
}

/// One line per diagnostic (`path:line:column`), then what its span covers (up to the end of
/// its first line) and its help, indented: the format of the `.expected` files.
fn render(text: &str, diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let severity = if d.is_error() { "error" } else { "warning" };
        let _ = write!(
            out,
            "{severity}[{}] {}: {}",
            d.code,
            d.rule,
            d.path.display()
        );
        if let Some(line) = d.line {
            let _ = write!(out, ":{line}");
        }
        if let Some(span) = d.span {
            let _ = write!(out, ":{}", span.column);
        }
        let _ = writeln!(out, ": {}", d.message);
        if let Some(span) = d.span {
            let covered = &text[span.start..span.end];
            let first = covered.lines().next().unwrap_or("");
            let more = if first.len() < covered.trim_end().len() {
                " ..."
            } else {
                ""
            };
            let _ = writeln!(out, "  span: `{}`{more}", first.escape_debug());
        }
        if let Some(help) = &d.help {
            let _ = writeln!(out, "  help: {help}");
        }
    }
    out
}

struct Case {
    dir: String,
    file: String,
    text: String,
    diagnostics: Vec<Diagnostic>,
}

fn run_all() -> Vec<Case> {
    let mut dirs: Vec<_> = fs::read_dir(fixtures_dir())
        .expect("tests/fixtures/sql exists")
        .map(|e| e.expect("readable fixture entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut cases = Vec::new();
    for dir in dirs {
        let dir_name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let mut files: Vec<_> = fs::read_dir(&dir)
            .expect("readable fixture dir")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        for path in files {
            let file = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let Some(kind) = kind_of(&file) else { continue };
            let text = fs::read_to_string(&path).expect("fixture is UTF-8");
            let shown = Path::new(&dir_name).join(&file);
            cases.push(Case {
                dir: dir_name.clone(),
                file,
                diagnostics: check_sql(&shown, &text, kind),
                text,
            });
        }
    }
    cases
}

#[test]
fn fixtures_match_their_expected_diagnostics() {
    let bless = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut mismatches = Vec::new();
    for case in run_all() {
        let expected_path = fixtures_dir()
            .join(&case.dir)
            .join(case.file.replace(".sql", ".expected"));
        let actual = render(&case.text, &case.diagnostics);
        if bless {
            fs::write(&expected_path, &actual).expect("write expected file");
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            mismatches.push(format!(
                "--- {} (expected)\n{expected}+++ {}/{} (actual)\n{actual}",
                expected_path.display(),
                case.dir,
                case.file
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} fixture(s) differ; if the new output is right, run\n  UPDATE_EXPECT=1 cargo test -p confiture --test it sql_fixtures\n\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn every_rule_has_a_triggering_and_a_clean_fixture() {
    let cases = run_all();
    for rule in SQL_RULES {
        let mine: Vec<_> = cases.iter().filter(|c| c.dir == rule.name).collect();
        let bad: Vec<_> = mine.iter().filter(|c| c.file.starts_with("bad")).collect();
        let good: Vec<_> = mine.iter().filter(|c| c.file.starts_with("good")).collect();
        assert!(
            !bad.is_empty() && !good.is_empty(),
            "{} needs bad* and good* fixtures in tests/fixtures/sql/{}/",
            rule.code,
            rule.name
        );
        for case in bad {
            assert!(
                case.diagnostics.iter().any(|d| d.code == rule.code),
                "{}/{} does not trigger {} {}",
                case.dir,
                case.file,
                rule.code,
                rule.name
            );
        }
        for case in good {
            assert!(
                case.diagnostics.is_empty(),
                "{}/{} is not clean:\n{}",
                case.dir,
                case.file,
                render(&case.text, &case.diagnostics)
            );
        }
    }
    for case in &cases {
        let named_after_a_rule = SQL_RULES.iter().any(|r| r.name == case.dir);
        assert!(
            named_after_a_rule || case.dir == "examples",
            "fixture dir {} names no rule",
            case.dir
        );
    }
}

/// `RuleDoc::help_names_allow`, which decides whether the renderer notes the allow marker, is
/// true of each rule's diagnostics: their help names `-- confiture:allow(rule)` exactly when it
/// says so (every rule triggers in a fixture: the test above).
#[test]
fn a_rules_help_names_its_allow_marker_exactly_when_its_doc_says_so() {
    let mut seen = std::collections::BTreeSet::new();
    for case in run_all() {
        for d in &case.diagnostics {
            let rule = SQL_RULES
                .iter()
                .find(|r| r.code == d.code)
                .expect("a listed rule");
            let marker = format!("-- confiture:allow({})", rule.name);
            let names = d.help.as_deref().is_some_and(|h| h.contains(&marker));
            assert_eq!(
                names, rule.help_names_allow,
                "{}/{}: {} {}'s help {:?}; its RuleDoc says help_names_allow: {}",
                case.dir, case.file, rule.code, rule.name, d.help, rule.help_names_allow
            );
            seen.insert(rule.code);
        }
    }
    assert_eq!(seen.len(), SQL_RULES.len(), "every rule is seen: {seen:?}");
}

#[test]
fn examples_have_no_errors_and_the_concurrent_index_needs_its_marker() {
    let cases = run_all();
    for case in cases.iter().filter(|c| c.dir == "examples") {
        assert!(
            !case.diagnostics.iter().any(Diagnostic::is_error),
            "{}:\n{}",
            case.file,
            render(&case.text, &case.diagnostics)
        );
    }
    let with_marker = cases
        .iter()
        .find(|c| c.file == "007_index_post_slug_concurrently.up.sql")
        .expect("example 007");
    assert!(
        with_marker.diagnostics.is_empty(),
        "{}",
        render(&with_marker.text, &with_marker.diagnostics)
    );

    // The same file without the marker is an error that names the fix.
    let path = fixtures_dir().join("examples/007_index_post_slug_concurrently.up.sql");
    let text = fs::read_to_string(path).expect("example 007");
    let without = text.replace("-- confiture:no-transaction\n", "");
    assert_ne!(without, text);
    let diagnostics = check_sql(Path::new("007.up.sql"), &without, Direction::Up);
    assert_eq!(diagnostics.len(), 1, "{}", render(&without, &diagnostics));
    let d = &diagnostics[0];
    assert!(
        d.is_error() && d.code == "C101" && d.line == Some(2),
        "{}",
        render(&without, &diagnostics)
    );
    assert!(
        d.help
            .as_deref()
            .is_some_and(|h| h.contains("`-- confiture:no-transaction`")),
        "{}",
        render(&without, &diagnostics)
    );
}
