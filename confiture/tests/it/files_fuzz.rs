//! Property test of the file-name grammar (`files::name`) and of the checker on generated
//! directory listings: no input panics; a well-formed name round-trips through
//! `parse_file_name`; a parsed name prints back to exactly the input; every suggested name is
//! itself well formed; `migrate generate`'s suggestions are valid names; the checker only
//! keeps pairs whose names parse, in strictly increasing version order.
//!
//! Deterministic (a fixed-seed xorshift generator, as in `sql_split_props.rs`, no dependency);
//! bounded so that CI runs it in debug. `CONFITURE_FUZZ_ITERS=200000` runs longer (`cargo xtask
//! fuzz`); `CONFITURE_FUZZ_SEED` picks the seed.

use std::path::{Path, PathBuf};

use confiture::files::name::{
    is_sql_file_name, is_valid_name, parse_file_name, suggest_file_name, suggest_name,
    version_text, MIN_VERSION_WIDTH,
};
use confiture::files::Direction;
use confiture::files::{check, new_migration, CheckOptions, Entry};
use confiture::history::MAX_VERSION;

use crate::xorshift;

use xorshift::{iterations, XorShift};

fn rng() -> XorShift {
    XorShift::from_env()
}

const NAME_FRAGMENTS: &[&str] = &[
    "001",
    "002",
    "1",
    "01",
    "0",
    "000",
    "0042",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "_",
    "__",
    ".",
    "-",
    " ",
    "up",
    "down",
    "UP",
    "Down",
    ".up",
    ".down",
    "-up",
    " down",
    "_up",
    ".up.sql",
    ".down.sql",
    ".sql",
    ".SQL",
    ".Up.Sql",
    ".sql.up.sql",
    "add",
    "bio",
    "users",
    "Add",
    "HTTPServer",
    "camelCase",
    "2fa",
    "x",
    "é",
    "日本",
    "🦀",
    "\u{0}",
    "\u{feff}",
    "/",
    "\\",
    "\t",
    // Pieces of connection strings: no suggestion is made of one.
    "://",
    "@",
    "=",
    "password=",
    ":s3cr3t",
];

fn generate_name(rng: &mut XorShift) -> String {
    let pieces = rng.below(8);
    let mut bytes = Vec::new();
    for _ in 0..pieces {
        match rng.below(8) {
            0 => bytes.push(b' ' + rng.below(95) as u8),
            1 => bytes.push(b'a' + rng.below(26) as u8),
            2 => bytes.push(rng.next() as u8),
            _ => bytes.extend_from_slice(rng.pick(NAME_FRAGMENTS).as_bytes()),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `[a-z][a-z0-9_]*`, 1 to 30 characters.
fn generate_valid_name(rng: &mut XorShift) -> String {
    const FIRST: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    const REST: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";
    let len = 1 + rng.below(30);
    let mut name = String::with_capacity(len);
    name.push(char::from(FIRST[rng.below(FIRST.len())]));
    for _ in 1..len {
        name.push(char::from(REST[rng.below(REST.len())]));
    }
    name
}

fn kind_suffix(kind: Direction) -> &'static str {
    match kind {
        Direction::Up => "up",
        Direction::Down => "down",
    }
}

/// The properties of one (possibly malformed) file name.
fn check_name(file_name: &str) {
    match parse_file_name(file_name) {
        Ok(parsed) => {
            assert_eq!(
                format!(
                    "{}_{}.{}.sql",
                    parsed.version_text,
                    parsed.name,
                    kind_suffix(parsed.kind)
                ),
                file_name,
                "a parsed name prints back to its input"
            );
            assert!(is_valid_name(parsed.name), "{file_name:?}");
            assert!(
                parsed.version_text.len() >= MIN_VERSION_WIDTH,
                "{file_name:?}"
            );
            assert_eq!(
                parsed.version_text.parse::<u64>().ok(),
                Some(parsed.version)
            );
            assert!(is_sql_file_name(file_name), "{file_name:?}");
        }
        Err(bad) => {
            assert!(!bad.reason.is_empty(), "{file_name:?}");
            if let Some(suggestion) = &bad.suggestion {
                assert_ne!(suggestion, file_name, "a suggestion differs from the input");
                assert!(
                    parse_file_name(suggestion).is_ok(),
                    "{file_name:?}: the suggestion {suggestion:?} is not well formed"
                );
            }
        }
    }
    if let Some(suggestion) = suggest_file_name(file_name) {
        assert!(
            parse_file_name(&suggestion).is_ok(),
            "{file_name:?}: suggest_file_name gave {suggestion:?}"
        );
    }
    if let Some(name) = suggest_name(file_name) {
        assert!(
            is_valid_name(&name),
            "{file_name:?}: suggest_name gave {name:?}"
        );
        // Nothing is made of a connection string: its password would be in the name.
        assert!(
            !confiture::config::names_a_connection(file_name),
            "{file_name:?}: suggest_name gave {name:?}"
        );
    }
}

#[test]
fn generated_file_names_never_panic_and_suggestions_are_well_formed() {
    let mut rng = rng();
    for _ in 0..iterations(50_000) {
        check_name(&generate_name(&mut rng));
    }
}

#[test]
fn well_formed_names_round_trip() {
    let mut rng = rng();
    for _ in 0..iterations(50_000) {
        let version = match rng.below(4) {
            0 => rng.below(1000) as u64,
            1 => rng.next() % 1_000_000_000,
            2 => MAX_VERSION - rng.below(3) as u64,
            _ => rng.next() % (MAX_VERSION + 1),
        };
        let width = rng.below(24);
        let text = version_text(version, width);
        assert!(text.len() >= MIN_VERSION_WIDTH.max(width), "{text}");
        let name = generate_valid_name(&mut rng);
        let kind = if rng.below(2) == 0 {
            Direction::Up
        } else {
            Direction::Down
        };
        let file_name = format!("{text}_{name}.{}.sql", kind_suffix(kind));
        let parsed = parse_file_name(&file_name)
            .unwrap_or_else(|bad| panic!("{file_name:?} must parse: {}", bad.reason));
        assert_eq!(parsed.version, version, "{file_name}");
        assert_eq!(parsed.version_text, text);
        assert_eq!(parsed.name, name);
        assert_eq!(parsed.kind, kind);
        check_name(&file_name);
    }
}

const CONTENTS: &[&[u8]] = &[
    b"",
    b"SELECT 1;\n",
    b"CREATE TABLE t (id int);\n",
    b"-- only a comment\n",
    b"-- confiture:irreversible\n",
    b"-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);\n",
    b"\xef\xbb\xbfSELECT 1;\r\n",
    b"caf\xe9;\n",
    b"BEGIN;\nCOMMIT;\n",
    b"$$",
];

/// A directory listing as `read_dir` would return it.
fn generate_entries(rng: &mut XorShift) -> Vec<Entry> {
    let dir = Path::new("db/migrations");
    let count = rng.below(12);
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let file_name = match rng.below(3) {
            0 => generate_name(rng),
            _ => format!(
                "{}_{}.{}.sql",
                version_text(rng.below(6) as u64, 3 + rng.below(2)),
                generate_valid_name(rng),
                if rng.below(2) == 0 { "up" } else { "down" }
            ),
        };
        // A name with `/` or NUL is not a file name: it would be a path.
        if file_name.is_empty() || file_name.contains(['/', '\0']) || file_name == "." {
            continue;
        }
        let path: PathBuf = dir.join(&file_name);
        entries.push(match rng.below(12) {
            0 => Entry::Dir { path },
            1 => Entry::Unreadable {
                path,
                error: "it is a broken symbolic link".to_string(),
            },
            _ => Entry::File {
                path,
                bytes: CONTENTS[rng.below(CONTENTS.len())].to_vec(),
            },
        });
    }
    entries
}

#[test]
fn generated_directories_never_panic_the_checker() {
    let mut rng = rng();
    // Each listing holds several files, each linted: fewer iterations for the same time.
    for _ in 0..iterations(50_000) / 10 {
        let entries = generate_entries(&mut rng);
        let first_version = match rng.below(4) {
            0 => Some(rng.below(4) as u64),
            _ => None,
        };
        let checked = check(
            Path::new("db/migrations"),
            entries,
            &CheckOptions::default().first_version(first_version),
        );
        let mut previous: Option<u64> = None;
        for m in &checked.set.migrations {
            assert!(
                previous.is_none_or(|p| p < m.version),
                "versions strictly increase: {:?}",
                checked
                    .set
                    .migrations
                    .iter()
                    .map(|m| m.version)
                    .collect::<Vec<_>>()
            );
            previous = Some(m.version);
            assert!(is_valid_name(&m.name));
            for file in [&m.up, &m.down] {
                let file_name = file.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let parsed = parse_file_name(file_name).expect("kept files are well named");
                assert_eq!((parsed.version, parsed.name), (m.version, m.name.as_str()));
            }
        }
        for d in &checked.diagnostics {
            assert!(!d.message.is_empty());
            assert!(d.code.starts_with('C'), "{d:?}");
        }
        // `migrate generate` on whatever was found: an error or a next version, never a panic.
        let name = if rng.below(2) == 0 {
            generate_valid_name(&mut rng)
        } else {
            generate_name(&mut rng)
        };
        if let Ok(new) = new_migration(&checked, &name) {
            assert!(!checked.has_errors());
            assert!(is_valid_name(&new.name));
            let up = new
                .up_path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("");
            let parsed = parse_file_name(up).expect("generated names are well formed");
            assert_eq!(parsed.version, new.version);
            assert!(checked
                .set
                .migrations
                .iter()
                .all(|m| m.version < new.version));
        }
    }
}

#[test]
fn edge_names() {
    for name in [
        "",
        ".sql",
        ".up.sql",
        "_.up.sql",
        "001_.up.sql",
        "001.up.sql",
        "1.sql",
        "001_a.up.sql.sql",
        "18446744073709551615_a.up.sql",
        "18446744073709551616_a.up.sql",
        "9223372036854775807_a.up.sql",
        "9223372036854775808_a.up.sql",
        "9223372036854775808 a.sql",
        "001_a.UP.SQL",
        "é.sql",
        "001_é.up.sql",
        "001_a.up.sqlé",
        "\u{feff}001_a.up.sql",
        "001_a-up.sql",
        "001 a down.sql",
    ] {
        check_name(name);
    }
    // Above the largest version, nothing parses and nothing is suggested.
    let above = format!("{}_a.up.sql", MAX_VERSION + 1);
    assert!(parse_file_name(&above).is_err());
    assert_eq!(
        suggest_file_name(&format!("{} a.sql", MAX_VERSION + 1)),
        None
    );
    assert!(parse_file_name(&format!("{MAX_VERSION}_a.up.sql")).is_ok());
}
