//! Data-driven tests of the file-level rules: each directory under `tests/fixtures/files/` is a
//! case with a `migrations/` directory, an optional `options.toml` (`first_version = N`) and
//! `expected.txt`: the parsed set, then every file-level diagnostic, one per line.
//! `UPDATE_EXPECT=1 cargo test -p confiture --test it files_fixtures` re-blesses the expectations.
//!
//! Only file-level diagnostics (`C001`–`C099`) are compared: the SQL rules have tests of their
//! own, and a new SQL lint must not rewrite these expectations.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use confiture::files::{self, CheckOptions, TransactionMode, FILE_RULES};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/files")
}

fn options(case_dir: &Path) -> CheckOptions {
    let path = case_dir.join("options.toml");
    let Ok(text) = fs::read_to_string(&path) else {
        return CheckOptions::default();
    };
    let table: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let first_version = table.get("first_version").map(|v| {
        let v = v
            .as_integer()
            .unwrap_or_else(|| panic!("{}: first_version", path.display()));
        u64::try_from(v).unwrap()
    });
    CheckOptions::default().first_version(first_version)
}

fn mode(mode: TransactionMode) -> &'static str {
    match mode {
        TransactionMode::Transaction => "transaction",
        TransactionMode::NoTransaction => "no-transaction",
    }
}

/// What a case produces, in the form of `expected.txt`.
fn render(case_dir: &Path) -> String {
    let dir = case_dir.join("migrations");
    let checked = files::load(&dir, &options(case_dir)).unwrap();
    let relative = |path: &Path| {
        path.strip_prefix(case_dir)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    let mut out = String::new();
    for m in &checked.set.migrations {
        let irreversible = if m.down.irreversible {
            " irreversible"
        } else {
            ""
        };
        writeln!(
            out,
            "migration {} {} up={} down={}{irreversible} checksum={}",
            m.version_text,
            m.name,
            mode(m.up.mode),
            mode(m.down.mode),
            m.up.checksum
        )
        .unwrap();
        assert_eq!(m.id(), format!("{}_{}", m.version_text, m.name));
        assert_eq!(m.up.path, dir.join(format!("{}.up.sql", m.id())));
        assert_eq!(m.down.path, dir.join(format!("{}.down.sql", m.id())));
    }
    let file_level = |code: &str| FILE_RULES.iter().any(|rule| rule.code == code);
    for d in checked.diagnostics.iter().filter(|d| file_level(d.code)) {
        let severity = if d.is_error() { "error" } else { "warning" };
        let line = d.line.map(|l| format!(":{l}")).unwrap_or_default();
        let help = d.help.as_deref().unwrap_or("-");
        let path = relative(&d.path);
        writeln!(
            out,
            "{severity} {} {} {path}{line}: {} | help: {help}",
            d.code, d.rule, d.message
        )
        .unwrap();
    }
    if out.is_empty() {
        out.push_str("(no migrations, no diagnostics)\n");
    }
    out
}

fn run(case: &str) {
    let case_dir = fixtures_dir().join(case);
    let actual = render(&case_dir);
    let expected_path = case_dir.join("expected.txt");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        fs::write(&expected_path, &actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(&expected_path).unwrap_or_default();
    if actual != expected {
        panic!(
            "fixture `{case}` differs from {}\n--- expected\n{expected}--- actual\n{actual}\
             (rerun with UPDATE_EXPECT=1 to re-bless if the change is intended)",
            expected_path.display()
        );
    }
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        $( #[test] fn $case() { run(stringify!($case)); } )*
        const CASES: &[&str] = &[$(stringify!($case)),*];
    };
}

cases! {
    good,
    good_first_version,
    good_width_growth,
    empty_directory,
    missing_down,
    missing_up,
    renamed_half,
    duplicate_version,
    version_gap,
    first_version_not_one,
    first_version_option,
    bad_names,
    bad_name_suggestion_taken,
    bad_name_non_ascii,
    empty_up,
    empty_down,
    irreversible_down,
    invalid_utf8,
    crlf,
    bom,
    nul_byte,
    lone_cr,
    mixed_width,
    subdirectory,
    misnamed_halves,
    long_name,
}

#[test]
fn every_fixture_directory_has_a_test() {
    let mut dirs: Vec<String> = fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut cases: Vec<String> = CASES.iter().map(|c| c.to_string()).collect();
    cases.sort();
    assert_eq!(dirs, cases, "add the new case to `cases!` in {}", file!());
}

#[test]
fn every_file_rule_has_a_failing_fixture() {
    let mut all = String::new();
    for case in CASES {
        all +=
            &fs::read_to_string(fixtures_dir().join(case).join("expected.txt")).unwrap_or_default();
    }
    // `unreadable-file` needs permissions or a symlink loop, which git cannot carry: it is
    // tested in `read_dir.rs`.
    for rule in FILE_RULES.iter().filter(|r| r.name != "unreadable-file") {
        assert!(
            all.contains(&format!(" {} {} ", rule.code, rule.name)),
            "no fixture shows {}",
            rule.name
        );
    }
}
