//! `docs/lints.md` is generated from the [`RuleDoc`] of every rule (file-level and SQL-level,
//! via `files::all_rules()`); this test regenerates it and fails if the committed page differs.
//!
//! `UPDATE_EXPECT=1 cargo test -p confiture --test it sql_docs` rewrites the page.

use std::fmt::Write as _;
use std::path::PathBuf;

use confiture::diagnostic::RuleDoc;
use confiture::files::all_rules;
use confiture::Severity;

fn page_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/lints.md")
}

fn severity(rule: &RuleDoc) -> &'static str {
    match rule.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn render(rules: &[&RuleDoc]) -> String {
    let mut out = String::new();
    out.push_str(
        "# Lints\n\n\
<!-- Generated from the RuleDoc of every rule (confiture::files::all_rules()). Do not edit:\n     \
run `UPDATE_EXPECT=1 cargo test -p confiture --test it sql_docs` after changing a rule. -->\n\n\
`cargo confiture lint` and the `confiture-build` check apply these rules to every migration\n\
file. Errors fail the build. Warnings are shown as warnings; one file can allow a warning with a\n\
marker in its leading comments (the comments and blank lines before the first statement):\n\n\
```sql\n\
-- confiture:allow(index-without-concurrently, drop-column)\n\
```\n\n\
The other markers are `-- confiture:no-transaction` (run the file statement by statement,\n\
outside a transaction: only for statements PostgreSQL refuses in a transaction block, and for\n\
a `CALL` or `DO` that commits) and `-- confiture:irreversible` (in a down file: rolling the\n\
migration back is refused).\n\n\
The SQL rules read each file the way PostgreSQL's own scanner does (string continuations,\n\
escape strings, dollar quotes, nested comments; checked against the server by\n\
`confiture/tests/it/sql_pg_scanner.rs`), with `standard_conforming_strings = on`, PostgreSQL's\n\
default since 9.1: a backslash in a plain `'...'` string is an ordinary character. A server,\n\
database or role configured with it `off` reads such strings differently.\n\n\
| Code | Rule | Severity | Finds |\n|---|---|---|---|\n",
    );
    for rule in rules {
        let anchor = format!("{}-{}", rule.code, rule.name).to_lowercase();
        let _ = writeln!(
            out,
            "| [{}](#{anchor}) | `{}` | {} | {} |",
            rule.code,
            rule.name,
            severity(rule),
            rule.summary.replace('|', "\\|")
        );
    }
    for rule in rules {
        let _ = write!(
            out,
            "\n## {} `{}`\n\n*{}* — {}\n\n{}\n",
            rule.code,
            rule.name,
            severity(rule),
            rule.summary,
            rule.explanation.trim_end()
        );
    }
    out
}

#[test]
fn lints_page_is_current() {
    let rules: Vec<&RuleDoc> = all_rules().collect();
    let page = render(&rules);
    let path = page_path();
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::create_dir_all(path.parent().expect("docs dir")).expect("create docs/");
        std::fs::write(&path, &page).expect("write docs/lints.md");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != page {
        let first_difference = committed
            .lines()
            .zip(page.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || committed.lines().count().min(page.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "docs/lints.md is out of date (first difference at line {first_difference}); regenerate it with\n  \
             UPDATE_EXPECT=1 cargo test -p confiture --test it sql_docs\n\nexpected line: {:?}\ncommitted line: {:?}",
            page.lines().nth(first_difference - 1),
            committed.lines().nth(first_difference - 1)
        );
    }
}

#[test]
fn every_rule_is_documented_once() {
    let rules: Vec<&RuleDoc> = all_rules().collect();
    let mut codes: Vec<_> = rules.iter().map(|r| r.code).collect();
    let mut names: Vec<_> = rules.iter().map(|r| r.name).collect();
    codes.sort_unstable();
    names.sort_unstable();
    let (n_codes, n_names) = (codes.len(), names.len());
    codes.dedup();
    names.dedup();
    assert_eq!(
        (codes.len(), names.len()),
        (n_codes, n_names),
        "duplicate rule code or name"
    );
    let page = render(&rules);
    for rule in &rules {
        assert!(
            page.contains(&format!("## {} `{}`", rule.code, rule.name)),
            "{} missing",
            rule.code
        );
    }
}
