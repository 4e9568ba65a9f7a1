//! The file-level rules over small directories of entries.

use std::path::Path;

use super::names::{suggestion_conflicts, Conflict};
use super::{check, NoStatement, ALL};
use crate::files::{CheckOptions, Checked, Direction, Entry, Migration};

#[test]
fn a_suggestion_taken_or_shared_is_a_conflict() {
    let taken = |s: &str| s == "001_a.up.sql";
    let conflicts = suggestion_conflicts(
        &[
            Some("001_a.up.sql"),
            Some("002_b.up.sql"),
            None,
            Some("002_b.up.sql"),
            Some("003_c.up.sql"),
            Some("002_b.up.sql"),
        ],
        taken,
    );
    assert_eq!(
        conflicts,
        vec![
            Some(Conflict::Taken),
            Some(Conflict::SameAs(3)),
            None,
            Some(Conflict::SameAs(1)),
            None,
            Some(Conflict::SameAs(1)),
        ]
    );
}

/// The messages of `C007`/`C008` for each file holding no statement, as its up and as its
/// down half (the other half is `SELECT 1;`), with and without a no-transaction marker.
fn no_statement_messages(text: &str) -> Vec<(&'static str, String)> {
    let dir = Path::new("m");
    let files = |up: &str, down: &str| {
        vec![
            Entry::File {
                path: dir.join("001_a.up.sql"),
                bytes: up.as_bytes().to_vec(),
            },
            Entry::File {
                path: dir.join("001_a.down.sql"),
                bytes: down.as_bytes().to_vec(),
            },
        ]
    };
    let mut out = Vec::new();
    for entries in [files(text, "SELECT 1;\n"), files("SELECT 1;\n", text)] {
        let checked = check(dir, entries, &CheckOptions::default());
        out.extend(
            checked
                .diagnostics
                .iter()
                .filter(|d| matches!(d.code, "C007" | "C008"))
                .map(|d| (d.code, d.message.clone())),
        );
    }
    out
}

#[test]
fn a_file_without_a_statement_is_told_what_it_holds() {
    let up = |holds: &str| ("C007", format!("up file has no SQL: {holds}"));
    let down = |holds: &str| {
        let message = format!("down file has no SQL and is not marked irreversible: {holds}");
        ("C008", message)
    };
    let cases: &[(&str, &str)] = &[
        ("", "it is empty"),
        ("\u{feff}", "it is empty"),
        ("  \n\t", "it holds only whitespace"),
        ("-- only a comment", "it holds only comments"),
        ("-- a\n-- b\n", "it holds only comments"),
        ("/* a /* nested */ still */\n", "it holds only comments"),
        ("/* unterminated", "it holds only comments"),
        (";", "it holds no statement, only `;`"),
        (";;\n ;\n", "it holds no statement, only `;`"),
        ("; -- x\n", "it holds no statement, only comments and `;`"),
        (
            "-- confiture:no-transaction\n;\n",
            "it holds no statement, only comments and `;`",
        ),
    ];
    for (text, holds) in cases {
        assert_eq!(
            no_statement_messages(text),
            vec![up(holds), down(holds)],
            "{text:?}"
        );
    }
    // A statement, however small, or a psql meta-command (C103 names it): no C007/C008.
    for text in [
        "SELECT 1;",
        "-- c\nSELECT 1",
        "/* a */ x",
        ";SELECT 1;;",
        "- 1",
        "/ 2",
        "/* a /* b */ */ SELECT",
        "'unterminated",
        "\\set x 1\n",
    ] {
        assert_eq!(no_statement_messages(text), vec![], "{text:?}");
    }
    assert_eq!(NoStatement::of("\\i a.sql\n;"), None);
}

#[test]
fn rules_are_in_code_order_with_unique_names() {
    for (i, rule) in ALL.iter().enumerate() {
        assert_eq!(rule.code, format!("C{:03}", i + 1));
        assert!(
            rule.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{}",
            rule.name
        );
        assert!(
            ALL[..i].iter().all(|r| r.name != rule.name),
            "{}",
            rule.name
        );
    }
}

/// The directory of `files`, each `.sql` file holding `SELECT 1;`; a `.py` file is a
/// confiture (Python) migration, as `read_dir` gives it.
fn run(files: &[&str], first_version: Option<u64>) -> Checked {
    let dir = Path::new("m");
    let entries = files
        .iter()
        .map(|f| match f.ends_with(".py") {
            true => Entry::Python { path: dir.join(f) },
            false => Entry::File {
                path: dir.join(f),
                bytes: b"SELECT 1;\n".to_vec(),
            },
        })
        .collect();
    check(
        dir,
        entries,
        &CheckOptions::default().first_version(first_version),
    )
}

fn pairs(stems: &[&str]) -> Vec<String> {
    stems
        .iter()
        .flat_map(|s| [format!("{s}.up.sql"), format!("{s}.down.sql")])
        .collect()
}

fn codes(checked: &Checked) -> Vec<(&'static str, String)> {
    checked
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.code,
                d.path.file_name().unwrap().to_string_lossy().into_owned(),
            )
        })
        .collect()
}

#[test]
fn each_extra_migration_of_a_version_gets_its_own_free_version() {
    let files = pairs(&["001_a", "002_x", "002_y", "002_z", "003_c"]);
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let checked = run(&files, None);
    let helps: Vec<&str> = checked
        .diagnostics
        .iter()
        .map(|d| d.help.as_deref().unwrap())
        .collect();
    assert_eq!(
        codes(&checked),
        [
            ("C003", "002_y.up.sql".into()),
            ("C003", "002_z.up.sql".into())
        ]
    );
    assert!(helps[0].contains("`002_y` → `004_y`"), "{}", helps[0]);
    assert!(helps[1].contains("`002_z` → `005_z`"), "{}", helps[1]);
    // One migration per version in the set: the first by name.
    let ids: Vec<String> = checked.set.migrations.iter().map(Migration::id).collect();
    assert_eq!(ids, ["001_a", "002_x", "003_c"]);
}

/// N4: a duplicate version (two `006`) beside a gap (`0009_gap` after `007`): C003 said
/// "rename to 010 (010 is the next free version)" and C004 "renumber `0009_gap` to 008";
/// following both left `010` after `008`, a new gap. With a gap in the sequence, C003 says the
/// version after the highest once the gap is settled, which leaves none whichever way it is
/// settled; without one, the next free version as before.
#[test]
fn a_duplicate_beside_a_gap_is_told_the_version_after_the_highest_once_the_gap_is_settled() {
    let stems = [
        "001_a", "002_b", "003_c", "004_d", "005_e", "006_f", "006_g", "007_h", "0009_gap",
    ];
    let files = pairs(&stems);
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let checked = run(&files, None);
    let help_of = |checked: &Checked, code: &str| {
        (checked.diagnostics.iter())
            .find(|d| d.code == code)
            .and_then(|d| d.help.clone())
            .unwrap_or_else(|| panic!("{code} reported: {:?}", checked.diagnostics))
    };
    let c003 = help_of(&checked, "C003");
    assert!(
        c003.contains("the version after the highest once the gap in the versions is settled"),
        "{c003}"
    );
    assert!(!c003.contains("the next free version"), "{c003}");
    assert!(help_of(&checked, "C004").contains("to 008"));

    // The gap settled as C004 says: the duplicate's next free version is the one after 008.
    let settled: Vec<&str> = stems
        .iter()
        .map(|s| if *s == "0009_gap" { "008_gap" } else { s })
        .collect();
    let files = pairs(&settled);
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let c003 = help_of(&run(&files, None), "C003");
    assert!(c003.contains("to 009, the next free version"), "{c003}");
}

/// C004 re-padded the previous version to the later file's width: `001_x` then
/// `9223372036854775807_y` said "follows version 0000000000000000001: versions
/// 0000000000000000002 to ...". Each version is shown as its file writes it.
#[test]
fn a_gap_shows_each_version_as_its_file_writes_it() {
    let files = pairs(&["001_x", "9223372036854775807_y"]);
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let checked = run(&files, None);
    let gap = checked
        .diagnostics
        .iter()
        .find(|d| d.code == "C004")
        .expect("a gap");
    assert!(
        gap.message.starts_with(
            "version 9223372036854775807 follows version 001: versions 002 to \
             9223372036854775806 are missing"
        ),
        "{}",
        gap.message
    );
}

/// h18 F9: after a confiture (Python) migration `1500_x.py`, C004 padded its version to the
/// later file's width ("follows version 0000000000000001500: versions 0000000000000001501 to
/// ..."). A `.py` version is shown as its file writes it too.
#[test]
fn a_gap_after_a_python_migration_shows_its_version_as_its_file_writes_it() {
    let dir = Path::new("m");
    let mut entries: Vec<Entry> = pairs(&["1499_a", "9223372036854775807_big"])
        .iter()
        .map(|f| Entry::File {
            path: dir.join(f),
            bytes: b"SELECT 1;\n".to_vec(),
        })
        .collect();
    entries.push(Entry::Python {
        path: dir.join("1500_x.py"),
    });
    let options = CheckOptions::default().first_version(Some(1499));
    let checked = check(dir, entries, &options);
    let gap = checked
        .diagnostics
        .iter()
        .find(|d| d.code == "C004")
        .expect("a gap");
    assert!(
        gap.message.starts_with(
            "version 9223372036854775807 follows version 1500: versions 1501 to \
             9223372036854775806 are missing"
        ),
        "{}",
        gap.message
    );
}

#[test]
fn versions_compare_as_integers() {
    let files = pairs(&["008_h", "009_i", "010_j"]);
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let checked = run(&files, Some(8));
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
    let versions: Vec<u64> = checked.set.migrations.iter().map(|m| m.version).collect();
    assert_eq!(versions, [8, 9, 10]);
}

/// Version 0 is the state before every migration (`migrate down --target 0`), never a
/// migration's, whatever `first_version` says (Cargo.toml refuses 0; a library's options may
/// still hold it): `000` comes before the first version, and the help does not say to lower
/// it to 0.
#[test]
fn version_000_is_before_the_first_version_even_with_first_version_zero() {
    let files = pairs(&["000_base", "001_a"]);
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    for first_version in [None, Some(0), Some(1)] {
        let checked = run(&files, first_version);
        assert_eq!(codes(&checked), [("C005", "000_base.up.sql".into())]);
        let help = checked.diagnostics[0].help.as_deref().unwrap();
        assert!(!help.contains("lower `first_version`"), "{help}");
        assert!(help.contains("versions start at 001"), "{help}");
    }
    // A squashed history's own first version can still be lowered, to 1 at least.
    let files = pairs(&["001_a", "002_b"]);
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let checked = run(&files, Some(2));
    let help = checked.diagnostics[0].help.as_deref().unwrap();
    assert!(help.contains("lower `first_version`"), "{help}");
}

#[test]
fn the_width_most_versions_use_wins() {
    let files = pairs(&["0001_a", "0002_b", "0003_c", "004_d"]);
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let checked = run(&files, None);
    assert_eq!(codes(&checked), [("C011", "004_d.up.sql".into())]);
    assert_eq!(
        checked.diagnostics[0].message,
        "version 004 is padded to 3 digits, the other versions to 4"
    );
}

/// hst: a version two migrations share, padded unlike the others (`001_a` and `0001_b`), drew
/// a C011 telling to rename `0001_b` to `001_b` — still the duplicate — beside the C003 telling
/// to renumber it to `002_b`. A duplicated version is C003's alone: no C011 names a rename
/// to a version another migration holds.
#[test]
fn a_duplicated_version_gets_no_width_rename() {
    for stems in [
        &["001_a", "0001_b", "002_c"][..],
        &["0001_a", "0002_b", "002_c", "0003_d"],
        &["001_a", "002_b", "0002_c", "003_d"],
    ] {
        let files = pairs(stems);
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let checked = run(&files, None);
        let codes = codes(&checked);
        assert!(
            codes.iter().any(|(code, _)| *code == "C003"),
            "{stems:?}: {codes:?}"
        );
        assert!(
            !codes.iter().any(|(code, _)| *code == "C011"),
            "{stems:?}: {:#?}",
            checked.diagnostics
        );
    }
}

#[test]
fn an_unreadable_half_is_present_but_not_in_the_set() {
    let dir = Path::new("m");
    let entries = vec![
        Entry::File {
            path: dir.join("001_a.up.sql"),
            bytes: b"SELECT 1;".to_vec(),
        },
        Entry::Unreadable {
            path: dir.join("001_a.down.sql"),
            error: "denied".into(),
        },
    ];
    let checked = check(dir, entries, &CheckOptions::default());
    assert_eq!(codes(&checked), [("C010", "001_a.down.sql".into())]);
    assert!(checked.set.migrations.is_empty());
    let unreadable = &checked.set.unreadable;
    assert_eq!(unreadable.len(), 1);
    assert_eq!(
        (
            unreadable[0].path.as_path(),
            unreadable[0].version_text.as_str(),
            unreadable[0].name.as_str(),
            unreadable[0].direction,
            unreadable[0].error.as_str()
        ),
        (
            dir.join("001_a.down.sql").as_path(),
            "001",
            "a",
            Direction::Down,
            "denied"
        )
    );
}

/// A file whose bytes are not UTF-8 cannot be read as text either: listed with why, beside
/// the encoding error; a readable pair is not listed.
#[test]
fn a_file_that_is_not_utf8_is_listed_as_unreadable() {
    let dir = Path::new("m");
    let entries = vec![
        Entry::File {
            path: dir.join("001_a.up.sql"),
            bytes: b"SELECT 1;\n".to_vec(),
        },
        Entry::File {
            path: dir.join("001_a.down.sql"),
            bytes: b"SELECT 1;\n".to_vec(),
        },
        Entry::File {
            path: dir.join("002_b.up.sql"),
            bytes: b"SELECT '\xff';\n".to_vec(),
        },
        Entry::File {
            path: dir.join("002_b.down.sql"),
            bytes: b"SELECT 1;\n".to_vec(),
        },
    ];
    let checked = check(dir, entries, &CheckOptions::default());
    assert_eq!(codes(&checked), [("C009", "002_b.up.sql".into())]);
    assert_eq!(checked.set.migrations.len(), 1);
    let unreadable = &checked.set.unreadable;
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    assert_eq!(unreadable[0].version, 2);
    assert_eq!(
        unreadable[0].error,
        "it is not valid UTF-8: byte 0xFF at line 1, column 9"
    );
}

/// The files that form no migration but name one are listed as incomplete, with what a ledger
/// row is compared with: a half pair whose other half is not there (up or down), and a
/// misnamed file whose corrected name gives a version; a complete pair and an unreadable half
/// are not.
#[test]
fn half_pairs_and_misnamed_files_are_listed_as_incomplete() {
    let dir = Path::new("m");
    let file = |name: &str| Entry::File {
        path: dir.join(name),
        bytes: format!("-- {name}\n").into_bytes(),
    };
    let entries = vec![
        file("001_a.up.sql"),
        file("001_a.down.sql"),
        file("002_b.up.sql"),
        file("003_c.down.sql"),
        file("004_D.up.sql"),
        file("005-e.up.sql"),
        file("005-e.down.sql"),
        Entry::Unreadable {
            path: dir.join("006_f.up.sql"),
            error: "denied".to_string(),
        },
    ];
    let checked = check(dir, entries, &CheckOptions::default());
    let listed: Vec<(u64, String, Direction, bool, String)> = checked
        .set
        .incomplete
        .iter()
        .map(|f| {
            let shown = f.path.file_name().unwrap().to_string_lossy().to_string();
            assert_eq!(
                f.checksum,
                super::checksum(format!("-- {shown}\n").as_bytes())
            );
            (f.version, f.file_name(), f.direction, f.misnamed, shown)
        })
        .collect();
    let row = |v, name: &str, d, m, shown: &str| (v, name.to_string(), d, m, shown.to_string());
    assert_eq!(
        listed,
        [
            row(2, "002_b.up.sql", Direction::Up, false, "002_b.up.sql"),
            row(
                3,
                "003_c.down.sql",
                Direction::Down,
                false,
                "003_c.down.sql"
            ),
            row(4, "004_d.up.sql", Direction::Up, true, "004_D.up.sql"),
            row(5, "005_e.up.sql", Direction::Up, true, "005-e.up.sql"),
            row(5, "005_e.down.sql", Direction::Down, true, "005-e.down.sql"),
        ]
    );
    assert_eq!(checked.set.incomplete[1].missing_half(), "003_c.up.sql");
}

/// The files are inspected on several threads when there are many: the diagnostics come out as
/// one thread inspecting them in order would give them (same order, each naming its file), and
/// each file's contents are the same.
#[test]
fn inspecting_on_several_threads_gives_what_one_thread_gives() {
    use super::{inspect_all, read_contents, Classified, Direction, Read};
    let mut entries = Vec::new();
    for v in 1..=1500u32 {
        let up = match v % 7 {
            0 => "BEGIN;\nSELECT 1;\n".to_string(),
            3 => format!("-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY i{v} ON t (a);\n"),
            _ => format!("INSERT INTO t VALUES ({v});\n"),
        };
        let down: Vec<u8> = match v % 11 {
            0 => b"DELETE FROM t;\nCOMMIT;\n".to_vec(),
            5 => b"DELETE FROM t WHERE a = '\xff';\n".to_vec(),
            7 => b"DELETE FROM t WHERE a = 'open;\n".to_vec(),
            _ => format!("DELETE FROM t WHERE a = {v};\r\n").into_bytes(),
        };
        entries.push(Entry::File {
            path: format!("m/{v:04}_m.up.sql").into(),
            bytes: up.into_bytes(),
        });
        entries.push(Entry::File {
            path: format!("m/{v:04}_m.down.sql").into(),
            bytes: down,
        });
    }
    let read = |entries: Vec<Entry>| entries.into_iter().map(Read::Entry).collect();
    let mut parallel = Classified::new(read(entries.clone())).found;
    let mut serial = Classified::new(read(entries)).found;
    let from_threads = inspect_all(&mut parallel, "tb_confiture");
    let mut from_one = Vec::new();
    for file in &mut serial {
        let bytes = file.bytes.take().expect("read");
        file.contents =
            read_contents(&file.path, file.kind, bytes, "tb_confiture", &mut from_one).ok();
    }
    assert!(from_one.len() > 1000, "{}", from_one.len());
    assert_eq!(from_threads, from_one);
    let errors_on = |kind: Direction| {
        from_one
            .iter()
            .filter(|d| d.is_error() && d.path.to_string_lossy().ends_with(&format!(".{kind}.sql")))
            .count()
    };
    assert!(errors_on(Direction::Up) > 100 && errors_on(Direction::Down) > 200);
    assert_eq!(parallel.len(), serial.len());
    for (a, b) in parallel.iter().zip(&serial) {
        assert_eq!(a.path, b.path);
        let (a, b) = (a.contents.as_ref(), b.contents.as_ref());
        assert_eq!(a.is_some(), b.is_some());
        if let (Some(a), Some(b)) = (a, b) {
            assert_eq!(
                (&a.text, &a.checksum, a.mode, a.irreversible, &a.statements),
                (&b.text, &b.checksum, b.mode, b.irreversible, &b.statements)
            );
        }
    }
}

/// Every diagnostic about a version's two files names both: where the version is used twice,
/// the other migration's file; where a half is missing but a file of that version has another
/// name (a misnamed half), that file, in the message and as a related path.
#[test]
fn a_problem_of_a_version_names_both_of_its_files() {
    let related = |checked: &Checked| -> Vec<(&'static str, String, Vec<String>)> {
        checked
            .diagnostics
            .iter()
            .map(|d| {
                let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
                (
                    d.code,
                    name(&d.path),
                    d.related.iter().map(|p| name(p)).collect(),
                )
            })
            .collect()
    };
    let named = |s: &str| vec![s.to_string()];
    // A version used twice.
    let checked = run(
        &[
            "001_a.up.sql",
            "001_a.down.sql",
            "001_b.up.sql",
            "001_b.down.sql",
        ],
        None,
    );
    assert_eq!(
        related(&checked),
        [("C003", "001_b.up.sql".into(), named("001_a.up.sql"))]
    );
    // Mismatched names: each half names the other.
    let checked = run(&["001_a.up.sql", "001_b.down.sql"], None);
    assert_eq!(
        related(&checked),
        [
            ("C001", "001_a.up.sql".into(), named("001_b.down.sql")),
            ("C002", "001_b.down.sql".into(), named("001_a.up.sql")),
        ]
    );
    for d in &checked.diagnostics {
        assert!(
            d.message.contains("001_a.up.sql") && d.message.contains("001_b.down.sql"),
            "{}",
            d.message
        );
        assert!(d.help.as_deref().unwrap().contains("rename"), "{d:?}");
    }
    // A half missing with no other file of its version: nothing else to name.
    let checked = run(&["001_a.up.sql", "002_b.up.sql", "002_b.down.sql"], None);
    assert_eq!(related(&checked), [("C001", "001_a.up.sql".into(), vec![])]);
    // A down file beside a complete pair of its version is not that pair's half.
    let checked = run(&["001_a.up.sql", "001_a.down.sql", "001_b.down.sql"], None);
    assert_eq!(
        related(&checked),
        [("C002", "001_b.down.sql".into(), vec![])]
    );
}

#[test]
fn confiture_python_migrations_take_their_versions_and_sidecars_are_ignored() {
    let dir = Path::new("m");
    let mut entries: Vec<Entry> = [
        "001_a.up.sql",
        "001_a.down.sql",
        "003_c.up.sql",
        "003_c.down.sql",
    ]
    .iter()
    .map(|f| Entry::File {
        path: dir.join(f),
        bytes: b"SELECT 1;\n".to_vec(),
    })
    .collect();
    entries.push(Entry::File {
        path: dir.join("001_a.verify.sql"),
        bytes: b"SELECT 1;\n".to_vec(),
    });
    entries.push(Entry::Python {
        path: dir.join("002_b.py"),
    });
    let checked = check(dir, entries, &CheckOptions::default());
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
    assert_eq!(
        checked.file_versions,
        [1, 2, 3],
        "generate must not reuse 002"
    );
    assert_eq!(checked.set.python.len(), 1);
    assert_eq!(checked.set.python[0].name, "b");
    assert!(checked.set.has_version(2));
}

/// h18 F14: a confiture (Python) `.py` migration of a version a `.sql` pair (or another `.py`
/// file) already has was left out without a word. It is a duplicate version (C003) as a
/// second pair is, reported on the `.py` file and naming both; the pair stays in the set.
#[test]
fn a_python_migration_sharing_a_version_is_a_duplicate() {
    let dir = Path::new("m");
    let mut entries: Vec<Entry> = pairs(&["001_a", "002_b", "003_f"])
        .iter()
        .map(|f| Entry::File {
            path: dir.join(f),
            bytes: b"SELECT 1;\n".to_vec(),
        })
        .collect();
    for py in ["003_g.py", "004_d.py", "004_c.py", "002_a.py"] {
        entries.push(Entry::Python { path: dir.join(py) });
    }
    let checked = check(dir, entries, &CheckOptions::default());
    let found: Vec<(&str, &Path, &Path)> = checked
        .diagnostics
        .iter()
        .map(|d| (d.code, d.path.as_path(), d.related[0].as_path()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "C003",
                dir.join("002_a.py").as_path(),
                dir.join("002_b.up.sql").as_path()
            ),
            (
                "C003",
                dir.join("003_g.py").as_path(),
                dir.join("003_f.up.sql").as_path()
            ),
            (
                "C003",
                dir.join("004_d.py").as_path(),
                dir.join("004_c.py").as_path()
            ),
        ]
    );
    let c003 = &checked.diagnostics[1];
    assert_eq!(
        c003.message,
        "version 003 is used by two migrations: `003_f` and `003_g.py`"
    );
    let help = c003.help.as_deref().unwrap();
    assert!(
        help.contains("`003_g.py` → `006_g.py`"),
        "the next free version is above the highest, a `.py` one: {help}"
    );
    assert!(checked.has_errors());
    let ids: Vec<String> = checked.set.migrations.iter().map(Migration::id).collect();
    assert_eq!(ids, ["001_a", "002_b", "003_f"]);
}

/// N37: a misnamed migration file (C006, with a corrected name) also brought diagnostics whose
/// advice contradicted its rename: its well-named other half was told the half is missing
/// ("create `002_a.down.sql`", "restore `002_a.up.sql`"), a later migration was told to
/// renumber into its version (C004) or that the history starts late (C005), a duplicate was
/// told to move to its version (C003). A misnamed file takes its corrected version, and its
/// corrected name completes its other half: each case reports the C006 alone. Misnamed up,
/// misnamed down, both; by version, name, case, separator, suffix or stray characters.
#[test]
fn a_misnamed_file_is_the_half_and_the_version_its_corrected_name_gives() {
    let cases: &[(&str, &[&str])] = &[
        // The up misnamed, the down well named.
        (
            "separator",
            &["002-add_email.up.sql", "002_add_email.down.sql"],
        ),
        ("case", &["002_Add_email.up.sql", "002_add_email.down.sql"]),
        (
            "short version",
            &["2_add_email.up.sql", "002_add_email.down.sql"],
        ),
        (
            "stray space",
            &["002_add_email.up.sql ", "002_add_email.down.sql"],
        ),
        // The down misnamed, the up well named.
        (
            "down separator",
            &["002_add_email.up.sql", "002_add-email.down.sql"],
        ),
        (
            "down suffix",
            &["002_add_email.up.sql", "002_add_email.Down.sql"],
        ),
        (
            "down stray",
            &["002_add_email.up.sql", "002_add_email.down.sql\r"],
        ),
        (
            "down short",
            &["002_add_email.up.sql", "02_add_email.down.sql"],
        ),
        // Both misnamed.
        (
            "both space",
            &["002_add email.up.sql", "002_add email.down.sql"],
        ),
        (
            "both short",
            &["2_add_email.up.sql", "2_add_email.down.sql"],
        ),
        // One misnamed half alone: its missing half is said once it is renamed.
        ("up alone", &["2_add_email.up.sql"]),
        ("down alone", &["002-add_email.down.sql"]),
    ];
    for (what, misnamed) in cases {
        // Between two migrations, and first (the history starting at its version).
        for (around, first_version) in [(&["001_a", "003_c"][..], None), (&["003_c"], Some(2))] {
            let mut files = pairs(around);
            files.extend(misnamed.iter().map(|f| f.to_string()));
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            let checked = run(&files, first_version);
            let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).collect();
            let bad_names = (misnamed.iter())
                .filter(|f| crate::files::name::parse_file_name(f).is_err())
                .count();
            assert_eq!(
                codes,
                vec!["C006"; bad_names],
                "{what} {around:?}: {:#?}",
                checked.diagnostics
            );
        }
    }
}

/// N37: a misnamed file of a half's version under another name is named by the C001/C002 as
/// the half it may be, with the name that completes the pair (the down file takes the up
/// file's, as its C006 says); one whose corrected name has its own other half is not.
#[test]
fn a_misnamed_file_under_another_name_is_named_as_the_half_it_may_be() {
    let checked = run(&["001_add_email.up.sql", "001_add-emial.down.sql"], None);
    let missing: Vec<_> = (checked.diagnostics.iter())
        .filter(|d| d.code == "C001")
        .collect();
    assert_eq!(missing.len(), 1, "{:#?}", checked.diagnostics);
    let d = missing[0];
    assert_eq!(d.related, [Path::new("m/001_add-emial.down.sql")]);
    assert!(d
        .message
        .contains("`001_add-emial.down.sql` has its version but is misnamed"));
    let help = d.help.as_deref().unwrap();
    assert_eq!(
        help,
        "if `001_add-emial.down.sql` is its down file, rename it to `001_add_email.down.sql`; \
         else create `001_add_email.down.sql`"
    );
    let c006 = (checked.diagnostics.iter())
        .find(|d| d.code == "C006")
        .expect("C006");
    assert!(
        c006.help.as_deref().unwrap().starts_with(
            "rename it to `001_add_email.down.sql`, the name of the down file of \
             `001_add_email.up.sql`;"
        ),
        "{c006:?}"
    );
    let checked = run(&["001_add-emial.up.sql", "001_add_email.down.sql"], None);
    let d = (checked.diagnostics.iter())
        .find(|d| d.code == "C002")
        .expect("C002");
    assert_eq!(d.related, [Path::new("m/001_add-emial.up.sql")]);
    assert_eq!(
        d.help.as_deref().unwrap(),
        "if `001_add-emial.up.sql` is its up file, rename this file to \
         `001_add_emial.down.sql` and that one to `001_add_emial.up.sql`; else restore \
         `001_add_email.up.sql`"
    );
    // A misnamed pair of its own is no half of another migration.
    let checked = run(
        &[
            "001_add_email.up.sql",
            "001_Other.up.sql",
            "001_Other.down.sql",
        ],
        None,
    );
    let d = (checked.diagnostics.iter())
        .find(|d| d.code == "C001")
        .expect("C001");
    assert!(d.related.is_empty(), "{d:?}");
}

/// N37: a duplicate is told to move to the version after every file's, a misnamed file's
/// corrected one too: never to the version that file's C006 renames it to.
#[test]
fn a_duplicate_is_never_told_to_take_a_misnamed_files_version() {
    let mut files = pairs(&["001_a", "001_b"]);
    files.extend(["2_c.up.sql".to_string(), "2_c.down.sql".to_string()]);
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let checked = run(&files, None);
    let d = (checked.diagnostics.iter())
        .find(|d| d.code == "C003")
        .expect("C003");
    let help = d.help.as_deref().unwrap();
    assert!(help.contains("to 003, the next free version"), "{help}");
}

/// A down file whose name is not its up file's — another name, also misspelt (case,
/// separator, version digits) — was told by its C006 to take a corrected name of its own while
/// the up file's C001 told it to take the up file's: following one left the other's error. The
/// name a down file should have is its up file's (corrected, when the up file is misnamed) with
/// `.down.sql`: every diagnostic that names a new name for the down file names that one, and
/// giving it that name (and the up file its corrected one) leaves nothing to report.
#[test]
fn every_diagnostic_names_the_same_name_for_a_down_file() {
    // (up, down, the down's name: the up's stem, corrected).
    let cases = [
        // Another name, well spelt.
        (
            "002_add_users.up.sql",
            "002_add_user.down.sql",
            "002_add_users",
        ),
        // Another name, misspelt.
        (
            "002_add_users.up.sql",
            "002_Add_User.down.sql",
            "002_add_users",
        ),
        (
            "002_add_users.up.sql",
            "002-add-user.down.sql",
            "002_add_users",
        ),
        (
            "002_add_users.up.sql",
            "002_add user.down.sql",
            "002_add_users",
        ),
        (
            "002_add_users.up.sql",
            "2_add_user.down.sql",
            "002_add_users",
        ),
        (
            "002_add_users.up.sql",
            "02_add_user.Down.sql",
            "002_add_users",
        ),
        // The same name, misspelt.
        (
            "002_add_users.up.sql",
            "002_Add_Users.down.sql",
            "002_add_users",
        ),
        (
            "002_add_users.up.sql",
            "002-add_users.down.sql",
            "002_add_users",
        ),
        (
            "002_add_users.up.sql",
            "2_add_users.down.sql",
            "002_add_users",
        ),
        // The up misnamed: the down takes its corrected name.
        (
            "002_Add_User.up.sql",
            "002_add_users.down.sql",
            "002_add_user",
        ),
        (
            "2_add_user.up.sql",
            "002_add_users.down.sql",
            "002_add_user",
        ),
        // Both misnamed.
        (
            "002_Add_Users.up.sql",
            "2_add_user.down.sql",
            "002_add_users",
        ),
        (
            "002-add-users.up.sql",
            "002_Add_User.down.sql",
            "002_add_users",
        ),
    ];
    for (up, down, stem) in cases {
        let expected = format!("{stem}.down.sql");
        let mut files = pairs(&["001_a", "003_c"]);
        files.extend([up.to_string(), down.to_string()]);
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let checked = run(&files, None);
        let mut named = Vec::new();
        for d in &checked.diagnostics {
            let help = d.help.as_deref().unwrap_or_default();
            // Every `....down.sql` a help names, but the down file as it is and the form.
            let names = help
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|n| n.ends_with(".down.sql") && *n != down && !n.starts_with('<'));
            named.extend(names.map(|n| (d.code, n.to_string())));
        }
        assert!(
            !named.is_empty(),
            "{up} + {down}: no diagnostic renames the down file: {:#?}",
            checked.diagnostics
        );
        for (code, name) in &named {
            assert_eq!(
                name, &expected,
                "{up} + {down}: {code} names another name for the down file: {:#?}",
                checked.diagnostics
            );
        }
        // Following them: the up file takes its corrected name, the down file that one.
        let up_fixed = match crate::files::name::parse_file_name(up) {
            Ok(_) => up.to_string(),
            Err(bad) => bad.suggestion.expect("a corrected name"),
        };
        let mut files = pairs(&["001_a", "003_c"]);
        files.extend([up_fixed, expected.clone()]);
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let checked = run(&files, None);
        assert!(
            checked.diagnostics.is_empty(),
            "{up} + {down} renamed: {:#?}",
            checked.diagnostics
        );
    }
}

/// A corrected name whose version another migration has was suggested as is: git mergetool's
/// `001_a.up_BASE_1234.sql` beside `001_a.up.sql` was told to be renamed to
/// `001_a_up_base_1234.up.sql`, and following that made version 001 two migrations (C003).
/// Whatever copy or misspelling sits beside another migration's file of its version and half
/// (or a confiture (Python) migration of its version), its C006 names that file instead, and
/// says to delete a copy; a rename it does suggest is never refused by C003.
#[test]
fn a_corrected_name_never_gives_another_migrations_version_a_second_migration() {
    let base = pairs(&["001_a", "002_b"]);
    // (the file, the file of its version its help names, or `None`: a rename is suggested).
    let cases: &[(&str, Option<&str>)] = &[
        ("001_a.up_BASE_1234.sql", Some("001_a.up.sql")),
        ("001_a.up_LOCAL_1234.sql", Some("001_a.up.sql")),
        ("001_a.up_REMOTE_1234.sql", Some("001_a.up.sql")),
        ("001_a.up_BACKUP_1234.sql", Some("001_a.up.sql")),
        ("002_b.down_BASE_1234.sql", Some("002_b.up.sql")),
        ("001_a.up copy.sql", Some("001_a.up.sql")),
        ("001_a.up (1).sql", Some("001_a.up.sql")),
        ("001_a.up.sql.sql", Some("001_a.up.sql")),
        ("001_a.up.old.sql", Some("001_a.up.sql")),
        ("002_B.up.sql", None),
        ("002_C.up.sql", Some("002_b.up.sql")),
        ("002_C.down.sql", None),
        ("3_C.up.sql", None),
        ("002-c.down.sql", None),
    ];
    for &(file, holder) in cases {
        let mut files: Vec<&str> = base.iter().map(String::as_str).collect();
        files.push(file);
        let checked = run(&files, None);
        let c006 = (checked.diagnostics.iter())
            .find(|d| d.code == "C006" && d.path.ends_with(file))
            .unwrap_or_else(|| panic!("{file}: no C006: {:#?}", checked.diagnostics));
        let help = c006.help.as_deref().unwrap_or_default();
        match holder {
            Some(holder) => {
                assert!(
                    help.contains(&format!("`{holder}` has it")) && help.contains("delete it"),
                    "{file}: {help}"
                );
                assert!(!help.starts_with("rename it to"), "{file}: {help}");
            }
            None => {
                let Some(rest) = help.strip_prefix("rename it to `") else {
                    continue;
                };
                let renamed = rest.split('`').next().unwrap_or_default().to_string();
                let mut files: Vec<String> = base.clone();
                files.push(renamed.clone());
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                let checked = run(&files, None);
                assert!(
                    !checked.diagnostics.iter().any(|d| d.code == "C003"),
                    "{file} renamed to {renamed}: {:#?}",
                    checked.diagnostics
                );
            }
        }
    }
    // A confiture (Python) migration's version.
    let mut files: Vec<&str> = base.iter().map(String::as_str).collect();
    files.extend(["003_c.py", "003_D.up.sql"]);
    let checked = run(&files, None);
    let help = (checked.diagnostics.iter())
        .find(|d| d.code == "C006")
        .and_then(|d| d.help.as_deref())
        .unwrap_or_default();
    assert!(help.contains("`003_c.py` has it"), "{help}");
}

/// A corrected name whose version comes before the first version was suggested as is:
/// `0_init.up.sql` was told to be renamed to `000_init.up.sql`, which C005 refuses (version 000
/// is the state before every migration), and so was a short version below a squashed
/// history's `first_version`. Its C006 now says which versions it may take; a rename it does
/// suggest is never refused by C005.
#[test]
fn a_corrected_name_never_has_a_version_before_the_first() {
    // (first_version, the other files, the misnamed file, whether a rename is suggested).
    let cases: &[(Option<u64>, &[&str], &str, bool)] = &[
        (None, &[], "0_init.up.sql", false),
        (None, &[], "00_init.down.sql", false),
        (
            None,
            &["001_a.up.sql", "001_a.down.sql"],
            "0-Init.up.sql",
            false,
        ),
        (
            Some(100),
            &["100_a.up.sql", "100_a.down.sql"],
            "5_x.up.sql",
            false,
        ),
        (
            Some(100),
            &["100_a.up.sql", "100_a.down.sql"],
            "99-x.up.sql",
            false,
        ),
        (None, &[], "1_init.up.sql", true),
        (
            Some(100),
            &["100_a.up.sql", "100_a.down.sql"],
            "101-X.up.sql",
            true,
        ),
    ];
    for &(first_version, others, file, renamed) in cases {
        let mut files = others.to_vec();
        files.push(file);
        let checked = run(&files, first_version);
        let help = (checked.diagnostics.iter())
            .find(|d| d.code == "C006" && d.path.ends_with(file))
            .and_then(|d| d.help.as_deref())
            .unwrap_or_else(|| panic!("{file}: no C006: {:#?}", checked.diagnostics));
        let suggested = help
            .strip_prefix("rename it to `")
            .and_then(|rest| rest.split('`').next());
        assert_eq!(suggested.is_some(), renamed, "{file}: {help}");
        match suggested {
            Some(suggested) => {
                let mut files = others.to_vec();
                files.push(suggested);
                let checked = run(&files, first_version);
                assert!(
                    !checked.diagnostics.iter().any(|d| d.code == "C005"),
                    "{file} renamed to {suggested}: {:#?}",
                    checked.diagnostics
                );
            }
            None => assert!(
                help.contains("before the first version") && help.contains("from "),
                "{file}: {help}"
            ),
        }
    }
}

/// The directory confiture (Python)'s `migrate squash --through 003` leaves: its baseline 004
/// (the `squashed-baseline` header on the up file, a down file that raises), the squashed
/// files moved away; `more` migrations after it.
fn squashed_by_python(more: &[&str], first_version: Option<u64>) -> Checked {
    let dir = Path::new("m");
    let baseline = "-- confiture:squashed-baseline through=003 versions=3 digest=8ff6\n\
                    CREATE TABLE public.t1 (id integer);\n";
    let raises = "DO $$\nBEGIN\n    RAISE EXCEPTION 'a squashed baseline cannot be rolled back';\nEND\n$$;\n";
    let mut entries = vec![
        Entry::File {
            path: dir.join("004_squashed_baseline.up.sql"),
            bytes: baseline.as_bytes().to_vec(),
        },
        Entry::File {
            path: dir.join("004_squashed_baseline.down.sql"),
            bytes: raises.as_bytes().to_vec(),
        },
    ];
    entries.extend(pairs(more).iter().map(|f| Entry::File {
        path: dir.join(f),
        bytes: b"SELECT 1;\n".to_vec(),
    }));
    check(
        dir,
        entries,
        &CheckOptions::default().first_version(first_version),
    )
}

/// confiture (Python)'s squashed baseline is irreversible as a `-- confiture:irreversible`
/// down file is (its down file always raises), its header a marker, not C190; the migrations
/// after it are as reversible as they were.
#[test]
fn confiture_s_squashed_baseline_is_irreversible_and_its_header_no_unknown_marker() {
    let checked = squashed_by_python(&["005_e"], Some(4));
    assert_eq!(codes(&checked), []);
    let reversible: Vec<_> = (checked.set.migrations.iter())
        .map(|m| (m.id(), m.up.squashed_through, m.down.irreversible))
        .collect();
    assert_eq!(
        reversible,
        [
            ("004_squashed_baseline".to_string(), Some(3), true),
            ("005_e".to_string(), None, false),
        ]
    );
}

/// A directory whose lowest migration is confiture (Python)'s squashed baseline through N
/// starts at N + 1 without `first_version` (it was C005 until `first_version` said so); a
/// baseline that does not follow its `through` version, or a setting, decides as before.
#[test]
fn a_directory_starting_at_confiture_s_squashed_baseline_starts_after_its_through_version() {
    assert_eq!(codes(&squashed_by_python(&["005_e"], None)), []);
    assert_eq!(codes(&squashed_by_python(&[], None)), []);
    // A setting is the user's word: below the baseline it still says the start is late.
    assert_eq!(
        codes(&squashed_by_python(&["005_e"], Some(1))),
        [("C005", "004_squashed_baseline.up.sql".to_string())]
    );
    // A migration below the baseline: the directory starts there, as before.
    let mut with_older = squashed_by_python(&["001_a"], None);
    with_older.diagnostics.retain(|d| d.code != "C004");
    assert_eq!(codes(&with_older), []);
}

/// confiture (Python)'s `migrate squash` moves the migrations it squashed into `archive/`
/// beside its baseline: that subdirectory is its layout, not migrations left unread (C012
/// warned "move its migrations up", which would bring back the squashed versions). Any other
/// subdirectory, or `archive/` without a squashed baseline, is still reported.
#[test]
fn confiture_s_archive_beside_its_squashed_baseline_is_no_stray_subdirectory() {
    let with_dirs = |stems: &[&str], baseline: bool| {
        let dir = Path::new("m");
        let mut entries: Vec<Entry> = ["archive", "old"]
            .iter()
            .map(|d| Entry::Dir { path: dir.join(d) })
            .collect();
        let mut files = pairs(stems);
        if baseline {
            files.extend(pairs(&["004_squashed_baseline"]));
        }
        entries.extend(files.iter().map(|f| Entry::File {
            path: dir.join(f),
            bytes: match f.starts_with("004_squashed_baseline.up") {
                true => b"-- confiture:squashed-baseline through=003\nSELECT 1;\n".to_vec(),
                false => b"SELECT 1;\n".to_vec(),
            },
        }));
        codes(&check(dir, entries, &CheckOptions::default()))
    };
    assert_eq!(with_dirs(&["005_e"], true), [("C012", "old".to_string())]);
    assert_eq!(
        with_dirs(&["001_a"], false),
        [("C012", "archive".to_string()), ("C012", "old".to_string())]
    );
}

/// The diagnostics (code, error?, line) of a pair whose down file is `down`.
fn down_file_findings(down: &str) -> Vec<(&'static str, bool, Option<u32>)> {
    pair_findings("CREATE TABLE a (id int);\n", down)
}

/// The findings, `(code, is error, line)`, of the pair `001_a` with these up and down files.
fn pair_findings(up: &str, down: &str) -> Vec<(&'static str, bool, Option<u32>)> {
    let dir = Path::new("m");
    let entries = vec![
        Entry::File {
            path: dir.join("001_a.up.sql"),
            bytes: up.as_bytes().to_vec(),
        },
        Entry::File {
            path: dir.join("001_a.down.sql"),
            bytes: down.as_bytes().to_vec(),
        },
    ];
    let checked = check(dir, entries, &CheckOptions::default());
    (checked.diagnostics.iter())
        .map(|d| (d.code, d.is_error(), d.line))
        .collect()
}

/// A `-- confiture:irreversible` marker that is not read (after the first statement, in a
/// block comment, in any case) was a C191 warning: `down` ran the file, removed the ledger
/// row and exited 0, the schema still holding what the up file made. The author's intent is
/// clear: it is an error, C194, until the marker is where it is read.
#[test]
fn an_irreversible_marker_a_down_file_does_not_read_is_an_error() {
    for (down, line) in [
        (
            "SET search_path = public;\n-- confiture:irreversible (the data is gone)\n",
            2,
        ),
        ("DELETE FROM a;\n-- confiture:irreversible\n", 2),
        ("DELETE FROM a;\n-- CONFITURE:Irreversible\n", 2),
        ("DELETE FROM a; /* confiture:irreversible */\n", 1),
        ("/*\n * -- confiture:irreversible\n */\nDELETE FROM a;\n", 2),
    ] {
        let found = down_file_findings(down);
        assert!(
            found.contains(&("C194", true, Some(line))),
            "{down:?}: {found:?}"
        );
        // Reported once: not a C191 warning beside it.
        assert!(found.iter().all(|(code, ..)| *code != "C191"), "{down:?}");
    }
    // Read where it is: nothing to say. A second one further down, once the file is
    // irreversible, is only misplaced (C191).
    assert_eq!(
        down_file_findings("-- confiture:irreversible\nSET search_path = public;\n"),
        []
    );
    assert_eq!(
        down_file_findings("-- confiture:irreversible\nSELECT 1;\n-- confiture:irreversible\n"),
        [("C191", false, Some(3))]
    );
}

/// A file whose statements only change the session (`SET`, `RESET`, `SET LOCAL`,
/// `set_config` in a `SELECT`, pg_dump's preamble) does nothing: a down file so reverses
/// nothing (`down` ran it and removed the ledger row, the schema unchanged), C008 unless marked
/// irreversible; an up file so changes nothing and would be recorded as applied, C007 — one
/// rule for both, at the first statement.
#[test]
fn a_file_that_only_changes_the_session_does_nothing_up_or_down() {
    for (down, line) in [
        ("SET search_path = public;\n", 1),
        ("-- undo\nRESET ALL;\nSET LOCAL lock_timeout = '1s';\n", 2),
        (
            "SELECT pg_catalog.set_config('search_path', '', false);\n",
            1,
        ),
        (
            "SET statement_timeout = 0;\nSET lock_timeout = 0;\n\
             SET idle_in_transaction_session_timeout = 0;\nSET client_encoding = 'UTF8';\n\
             SET standard_conforming_strings = on;\n\
             SELECT pg_catalog.set_config('search_path', '', false);\n\
             SET check_function_bodies = false;\nSET xmloption = content;\n\
             SET client_min_messages = warning;\nSET row_security = off;\n",
            1,
        ),
        ("SET ROLE admin; SET SESSION AUTHORIZATION DEFAULT;", 1),
    ] {
        let found = down_file_findings(down);
        assert!(
            found.contains(&("C008", true, Some(line))),
            "{down:?}: {found:?}"
        );
        let found = pair_findings(down, "DROP TABLE a;\n");
        assert!(
            found.contains(&("C007", true, Some(line))),
            "up {down:?}: {found:?}"
        );
    }
    // A statement that changes the database: no C007.
    for up in [
        "SET search_path = public;\nCREATE TABLE a (id int);\n",
        "SELECT set_config('search_path', 'public', false), drop_everything();\n",
        "SELECT 1;\n",
    ] {
        let found = pair_findings(up, "DROP TABLE a;\n");
        assert!(
            found.iter().all(|(code, ..)| *code != "C007"),
            "{up:?}: {found:?}"
        );
    }
    // Marked irreversible, or a statement that changes the database: no C008.
    for down in [
        "-- confiture:irreversible\nSET search_path = public;\n",
        "SET search_path = public;\nDROP TABLE a;\n",
        "SELECT set_config('search_path', 'public', false), drop_everything();\n",
        "SELECT set_config('x', (SELECT f()), false);\n",
        "SELECT set_config('x', 'y', false) FROM t;\n",
        "SELECT 1;\n",
    ] {
        let found = down_file_findings(down);
        assert!(
            found.iter().all(|(code, ..)| *code != "C008"),
            "{down:?}: {found:?}"
        );
    }
}

/// hgn 5: a pair named by hand past `migrate generate`'s limit is C017, said once, of its up
/// file (else of its down file); the limit itself is not; the rule names the one limit.
#[test]
fn a_name_longer_than_generate_accepts_is_c017_by_the_one_limit() {
    use crate::files::name::MAX_NAME_LEN;
    assert!(super::LONG_NAME
        .summary
        .contains(&format!(" {MAX_NAME_LEN} bytes")));
    let over = format!("001_{}", "a".repeat(MAX_NAME_LEN + 1));
    let at = format!("002_{}", "b".repeat(MAX_NAME_LEN));
    let down_only = format!("003_{}.down.sql", "c".repeat(MAX_NAME_LEN + 1));
    let mut files = pairs(&[&over, &at]);
    files.push(down_only.clone());
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let checked = run(&files, None);
    let long: Vec<String> = codes(&checked)
        .into_iter()
        .filter(|(code, _)| *code == "C017")
        .map(|(_, file)| file)
        .collect();
    assert_eq!(long, [format!("{over}.up.sql"), down_only]);
}

/// hmig: a dbmate (goose, sql-migrate) file named in its tool's way, `001_create_a.sql`, was
/// told by its C006 to be renamed `001_create_a.up.sql` alone: renamed so, `migrate up` ran
/// its down section too. Its help says to split it at its down marker; a file of one
/// direction, or without markers, keeps the plain rename.
#[test]
fn a_misnamed_file_of_another_tools_single_file_format_is_told_to_split() {
    let dir = Path::new("m");
    let help_of = |file: &str, text: &str| {
        let entries = vec![Entry::File {
            path: dir.join(file),
            bytes: text.as_bytes().to_vec(),
        }];
        let checked = check(dir, entries, &CheckOptions::default());
        let c006 = (checked.diagnostics.iter())
            .find(|d| d.code == "C006")
            .expect("C006");
        c006.help.clone().unwrap_or_default()
    };
    let dbmate = "-- migrate:up\nCREATE TABLE a(id int);\n\n-- migrate:down\nDROP TABLE a;\n";
    assert_eq!(
        help_of("001_create_a.sql", dbmate),
        format!(
            "it is dbmate's single-file format, both directions in one file: split it, moving \
             lines 4–5 (the down section) into `001_create_a.down.sql` and renaming it to \
             `001_create_a.up.sql`, and delete the markers (confiture runs all of a file: a \
             down section left in the up file runs with it); migration files are named {}",
            crate::files::name::FILE_FORM
        )
    );
    let goose = "-- +goose Up\nCREATE TABLE a(id int);\n-- +goose Down\nDROP TABLE a;\n";
    assert!(help_of("00001_a.sql", goose).starts_with(
        "it is goose's single-file format, both directions in one file: split it, moving lines \
         3–4 (the down section) into `00001_a.down.sql`"
    ));
    // No down section: the rename alone.
    assert!(help_of("001_a.sql", "-- migrate:up\nSELECT 1;\n").starts_with("rename it to"));
    assert!(help_of("001_a.sql", "SELECT 1;\n").starts_with("rename it to"));
}

/// hmig: a history numbered by timestamps (sqlx-cli's, dbmate's) got a C005 "renumber
/// `20231010120000_create_users` to 00000000000001" and a C004 "versions 20231010120001 to
/// 20231011092999 are missing": neither works. One C005 says that the versions are
/// timestamps and renames every pair in order from 001, at the width the numbers need.
#[test]
fn a_timestamped_history_is_told_once_to_renumber_in_order() {
    let dir = Path::new("m");
    let pair = |stem: &str| {
        ["up", "down"].map(|half| Entry::File {
            path: dir.join(format!("{stem}.{half}.sql")),
            bytes: b"SELECT 1;\n".to_vec(),
        })
    };
    let entries: Vec<Entry> = ["20231010120000_create_users", "20231011093000_add_v"]
        .iter()
        .flat_map(|stem| pair(stem))
        .collect();
    let checked = check(dir, entries, &CheckOptions::default());
    let found: Vec<(&str, &str)> = (checked.diagnostics.iter())
        .map(|d| (d.code, d.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [(
            "C005",
            "the first migration is version 20231010120000, a date and time (as sqlx-cli, dbmate \
             and goose number migrations): confiture's versions are consecutive numbers, from 001"
        )]
    );
    assert_eq!(
        checked.diagnostics[0].help.as_deref(),
        Some(
            "renumber the migrations in order, keeping their names: `mv \
             m/20231010120000_create_users.up.sql m/001_create_users.up.sql && mv \
             m/20231010120000_create_users.down.sql m/001_create_users.down.sql`, `mv \
             m/20231011093000_add_v.up.sql m/002_add_v.up.sql && mv \
             m/20231011093000_add_v.down.sql m/002_add_v.down.sql`; then, on a database another \
             tool migrated, record them as applied without running them with `migrate baseline \
             --through 002`, and on one where confiture applied them under these timestamps run \
             `migrate reinit` to rewrite its rows to the new numbers"
        )
    );
    // A version of 12 or 14 digits that is no date and time is a number like any other.
    assert!(crate::files::name::is_timestamp("20231010120000"));
    assert!(crate::files::name::is_timestamp("202310101200"));
    for number in [
        "20231310120000",
        "20231010250000",
        "00000000000001",
        "2023101012000",
        "001",
    ] {
        assert!(!crate::files::name::is_timestamp(number), "{number}");
    }
}

/// hlt3: C004 and C005 wrote the versions they name at a stray file's width: `001_a`,
/// `0002_b`, `010_c` drew "versions 0003 to 0009 are missing", "renumber `010_c` to 0003"
/// beside C011 telling `0002_b` to take 3 digits. The directory's width (the one most
/// versions have, `Checked::version_width`) is the one every rule renumbers to.
#[test]
fn gaps_and_late_starts_name_versions_at_the_directory_s_width() {
    let cases: [(&[&str], &str, &str, &str); 3] = [
        (
            &["001_a", "0002_b", "010_c"],
            "C004",
            "versions 003 to 009 are missing",
            "renumber `010_c` to 003 only if",
        ),
        (
            &["0007_a", "009_b", "010_c"],
            "C004",
            "version 008 is missing",
            "renumber `009_b` to 008 only if",
        ),
        (
            &["0002_a", "003_b", "004_c"],
            "C005",
            "versions start at 001",
            "renumber `0002_a` to 001 only if",
        ),
    ];
    for (stems, code, message, help) in cases {
        let files = pairs(stems);
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let checked = run(&files, None);
        assert_eq!(checked.version_width, 3, "{stems:?}");
        let d = (checked.diagnostics.iter())
            .find(|d| d.code == code)
            .unwrap_or_else(|| panic!("no {code} for {stems:?}: {:?}", checked.diagnostics));
        assert!(d.message.contains(message), "{stems:?}: {}", d.message);
        let d_help = d.help.as_deref().unwrap_or_default();
        assert!(d_help.contains(help), "{stems:?}: {d_help}");
        // C011 renames the stray file to that same width.
        assert!(
            (checked.diagnostics.iter()).any(|d| d.code == "C011"),
            "{stems:?}: {:?}",
            checked.diagnostics
        );
    }
}
