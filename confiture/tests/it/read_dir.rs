//! `files::read_dir` and `files::load` on real directories: what cannot be read is reported,
//! never skipped, and a missing or wrong directory is an error naming it.

use std::fs;
use std::path::Path;

use confiture::files::{self, CheckOptions, Entry};
use confiture::ErrorKind;

use crate::common::TempDir;

fn pair(dir: &TempDir, stem: &str) {
    dir.write(
        &format!("{stem}.up.sql"),
        "CREATE TABLE tb_a (pk INTEGER);\n",
    );
    dir.write(&format!("{stem}.down.sql"), "DROP TABLE tb_a;\n");
}

#[test]
fn reads_sql_files_and_directories_only() {
    let dir = TempDir::new("confiture_read_dir");
    pair(&dir, "001_a");
    dir.write("README.md", "# not a migration\n");
    dir.write("002_B.SQL", "SELECT 1;\n");
    fs::create_dir(dir.path.join("archive")).unwrap();
    let mut entries: Vec<String> = files::read_dir(&dir.path)
        .unwrap()
        .iter()
        .map(|entry| match entry {
            Entry::File { path, bytes } => format!("file {} {}", name(path), bytes.len()),
            Entry::Dir { path } => format!("dir {}", name(path)),
            Entry::Unreadable { path, error } => format!("unreadable {} {error}", name(path)),
            // `#[non_exhaustive]`: a kind added later shows up as a test failure below.
            other => format!("unknown {other:?}"),
        })
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            "dir archive",
            "file 001_a.down.sql 17",
            "file 001_a.up.sql 32",
            "file 002_B.SQL 10"
        ]
    );
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[cfg(unix)]
#[test]
fn symlink_loops_broken_links_and_fifos_are_unreadable_errors() {
    use std::os::unix::fs::symlink;

    let dir = TempDir::new("confiture_read_dir");
    pair(&dir, "001_a");
    symlink("002_loop.up.sql", dir.path.join("002_loop.up.sql")).unwrap();
    dir.write("002_loop.down.sql", "SELECT 1;\n");
    let fifo = dir.path.join("003_fifo.up.sql");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    dir.write("003_fifo.down.sql", "SELECT 1;\n");
    // A symbolic link to a good file is followed.
    fs::write(
        dir.path.join("target.txt"),
        "ALTER TABLE tb_a ADD COLUMN b TEXT;\n",
    )
    .unwrap();
    symlink("target.txt", dir.path.join("004_linked.up.sql")).unwrap();
    dir.write("004_linked.down.sql", "ALTER TABLE tb_a DROP COLUMN b;\n");

    let checked = files::load(&dir.path, &CheckOptions::default()).unwrap();
    let rendered: Vec<String> = checked
        .diagnostics
        .iter()
        .map(|d| format!("{} {} {}: {}", d.code, d.rule, name(&d.path), d.message))
        .collect();
    assert_eq!(rendered.len(), 2, "{rendered:#?}");
    assert_eq!(rendered[0], "C010 unreadable-file 002_loop.up.sql: cannot read `002_loop.up.sql`: it is a symbolic link to `002_loop.up.sql`, which cannot be followed: Too many levels of symbolic links (os error 40)");
    assert_eq!(rendered[1], "C010 unreadable-file 003_fifo.up.sql: cannot read `003_fifo.up.sql`: it is not a regular file");
    assert!(checked.diagnostics.iter().all(|d| d.is_error()));
    // The unreadable halves still count as present: no missing-up for their down files, and
    // only the complete, readable pairs are in the set.
    let ids: Vec<String> = checked.set.migrations.iter().map(|m| m.id()).collect();
    assert_eq!(ids, ["001_a", "004_linked"]);
}

/// Only an entry that could be a migration file (a `.sql` name, not hidden) is read, or
/// refused when it cannot be: a broken link named `notes.md`, an Emacs lock link
/// `.#001_a.up.sql`, a hidden file or directory (`.git`) are left out, as a regular `notes.md`
/// is. A broken `.sql` link is still refused.
#[cfg(unix)]
#[test]
fn broken_links_and_hidden_entries_that_are_no_migration_are_left_out() {
    use std::os::unix::fs::symlink;

    let dir = TempDir::new("confiture_read_dir");
    pair(&dir, "001_a");
    symlink("nowhere", dir.path.join("notes.md")).unwrap();
    symlink("root@host.1234:1700000000", dir.path.join(".#001_a.up.sql")).unwrap();
    dir.write(".#002_b.up.sql", "SELECT 1;\n");
    dir.write(".001_a.up.sql.swp", "SELECT 1;\n");
    fs::create_dir(dir.path.join(".git")).unwrap();
    fs::write(dir.path.join(".git/x.sql"), [0xffu8]).unwrap();
    let checked = files::load(&dir.path, &CheckOptions::default()).unwrap();
    assert!(checked.diagnostics.is_empty(), "{:#?}", checked.diagnostics);
    let ids: Vec<String> = checked.set.migrations.iter().map(|m| m.id()).collect();
    assert_eq!(ids, ["001_a"]);

    symlink("nowhere", dir.path.join("002_b.up.sql")).unwrap();
    dir.write("002_b.down.sql", "SELECT 1;\n");
    let checked = files::load(&dir.path, &CheckOptions::default()).unwrap();
    let rendered: Vec<String> = checked
        .diagnostics
        .iter()
        .map(|d| format!("{} {}: {}", d.code, name(&d.path), d.message))
        .collect();
    assert_eq!(
        rendered,
        ["C010 002_b.up.sql: cannot read `002_b.up.sql`: it is a symbolic link to `nowhere`, which does not exist"]
    );
}

/// A link to nowhere named like a confiture (Python) migration (`003_c.py`) was skipped
/// silently, as a broken `notes.md` is, and one named like a `.sql` migration file said only
/// "it is a broken symbolic link". Every link to nowhere that could be a migration file —
/// `.up.sql`, `.down.sql`, `.py` — is C010, an error naming the file and the missing target,
/// and its version is still on disk (no gap, no missing half reported for it).
#[cfg(unix)]
#[test]
fn a_link_to_nowhere_named_like_a_migration_names_its_target() {
    use std::os::unix::fs::symlink;

    let dir = TempDir::new("confiture_read_dir");
    pair(&dir, "001_a");
    symlink("../gone/002_b.up.sql", dir.path.join("002_b.up.sql")).unwrap();
    dir.write("002_b.down.sql", "SELECT 1;\n");
    symlink("nowhere.py", dir.path.join("003_c.py")).unwrap();
    dir.write("004_d.up.sql", "SELECT 1;\n");
    symlink("missing", dir.path.join("004_d.down.sql")).unwrap();
    pair(&dir, "005_e");
    let checked = files::load(&dir.path, &CheckOptions::default()).unwrap();
    let rendered: Vec<String> = (checked.diagnostics.iter())
        .map(|d| format!("{} {}: {}", d.code, name(&d.path), d.message))
        .collect();
    assert_eq!(
        rendered,
        [
            "C010 002_b.up.sql: cannot read `002_b.up.sql`: it is a symbolic link to \
             `../gone/002_b.up.sql`, which does not exist",
            "C010 003_c.py: cannot read `003_c.py`: it is a symbolic link to `nowhere.py`, \
             which does not exist",
            "C010 004_d.down.sql: cannot read `004_d.down.sql`: it is a symbolic link to \
             `missing`, which does not exist",
        ]
    );
    assert!(checked.diagnostics.iter().all(|d| d.is_error()));
    assert_eq!(checked.file_versions, [1, 2, 3, 4, 5]);
    let python: Vec<u64> = checked.set.python.iter().map(|f| f.version).collect();
    assert_eq!(python, [3]);
    // The build script and the CLI read the directory through the same listing.
    let entries = files::read_dir(&dir.path).unwrap();
    let py = (entries.iter()).find(|e| name(e.path()) == "003_c.py");
    assert!(
        matches!(py, Some(files::Entry::Unreadable { .. })),
        "{py:?}"
    );
}

/// A FIFO or a socket named like a confiture (Python) migration (`003_c.py`, a misnamed
/// `07_g.py` too) was left out silently, where a link to nowhere of that name is C010 (hsm).
/// Every entry named like a migration that is no regular file is C010 "it is not a regular
/// file", its version still on disk; a `.py` file that is no migration (`helpers.py`) is
/// left out whatever it is.
#[cfg(unix)]
#[test]
fn a_python_migration_that_is_no_regular_file_is_refused_not_left_out() {
    let dir = TempDir::new("confiture_read_dir");
    pair(&dir, "001_a");
    dir.write("002_b.py", "");
    for fifo in ["003_c.py", "07_g.py", "helpers.py"] {
        let made = std::process::Command::new("mkfifo")
            .arg(dir.path.join(fifo))
            .status()
            .unwrap();
        assert!(made.success());
    }
    let _socket = std::os::unix::net::UnixListener::bind(dir.path.join("004_d.py")).unwrap();
    pair(&dir, "005_e");
    let checked = files::load(&dir.path, &CheckOptions::default()).unwrap();
    let rendered: Vec<String> = (checked.diagnostics.iter())
        .filter(|d| d.code == "C010")
        .map(|d| format!("{} {}: {}", d.code, name(&d.path), d.message))
        .collect();
    assert_eq!(
        rendered,
        [
            "C010 003_c.py: cannot read `003_c.py`: it is not a regular file",
            "C010 004_d.py: cannot read `004_d.py`: it is not a regular file",
            "C010 07_g.py: cannot read `07_g.py`: it is not a regular file",
        ]
    );
    assert!(
        !(checked.diagnostics.iter()).any(|d| name(&d.path) == "helpers.py"),
        "{:#?}",
        checked.diagnostics
    );
    assert_eq!(checked.file_versions, [1, 2, 3, 4, 5]);
    let entries = files::read_dir(&dir.path).unwrap();
    for file in ["003_c.py", "004_d.py", "07_g.py"] {
        let entry = (entries.iter()).find(|e| name(e.path()) == file);
        assert!(
            matches!(entry, Some(files::Entry::Unreadable { .. })),
            "{file}: {entry:?}"
        );
    }
}

#[test]
fn a_missing_directory_is_an_error_naming_it() {
    let dir = TempDir::new("confiture_read_dir");
    let missing = dir.path.join("db/migrations");
    let err = files::load(&missing, &CheckOptions::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert_eq!(
        err.message,
        format!(
            "migrations directory `{}` does not exist",
            missing.display()
        )
    );
    assert!(err.help.unwrap().contains("migrations_dir"));
}

#[test]
fn a_file_is_not_a_directory() {
    let dir = TempDir::new("confiture_read_dir");
    dir.write("migrations", "");
    let path = dir.path.join("migrations");
    let err = files::read_dir(&path).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert_eq!(
        err.message,
        format!(
            "migrations directory `{}` is a file, not a directory",
            path.display()
        )
    );
}

#[test]
fn entry_order_does_not_matter() {
    let dir = TempDir::new("confiture_read_dir");
    for stem in ["001_a", "002_b", "003_c", "005_e"] {
        pair(&dir, stem);
    }
    let entries = files::read_dir(&dir.path).unwrap();
    let forward = files::check(&dir.path, entries.clone(), &CheckOptions::default());
    let backward = files::check(
        &dir.path,
        entries.into_iter().rev().collect(),
        &CheckOptions::default(),
    );
    assert_eq!(forward.set, backward.set);
    assert_eq!(forward.diagnostics, backward.diagnostics);
    assert_eq!(forward.diagnostics.len(), 1);
}

/// `load` inspects each well-named file on the thread that read it; `check` of `read_dir`'s
/// entries inspects them afterwards: the same set, diagnostics (in the same order) and
/// versions, for files of every kind, over enough files for several threads.
#[test]
fn load_finds_what_check_of_read_dir_finds() {
    let dir = TempDir::new("confiture_read_dir");
    for i in 1..=600u32 {
        let stem = format!("{i:04}_m{i}");
        let (up, down) = match i % 12 {
            0 => ("SELECT 1;\r\n".to_string(), "SELECT 2;\n".to_string()),
            1 => ("\u{feff}SELECT 1;\n".to_string(), "COMMIT;\n".to_string()),
            2 => (
                "SELECT 'unterminated;\n".to_string(),
                "SELECT 1;\n".to_string(),
            ),
            3 => (
                "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);\n".to_string(),
                "DROP INDEX i;\n".to_string(),
            ),
            4 => (String::new(), "-- confiture:irreversible\n".to_string()),
            5 => (
                "DELETE FROM tb_confiture;\n".to_string(),
                "SELECT 1;\n".to_string(),
            ),
            6 => (
                "ALTER TABLE t DROP COLUMN c;\n".to_string(),
                "SELECT 1;\n".to_string(),
            ),
            _ => (
                format!("INSERT INTO t VALUES ({i}) RETURNING *;\n"),
                format!("DELETE FROM t WHERE id = {i};\n"),
            ),
        };
        dir.write(&format!("{stem}.up.sql"), &up);
        if i % 50 != 0 {
            dir.write(&format!("{stem}.down.sql"), &down);
        }
    }
    fs::write(dir.path.join("0601_not_utf8.up.sql"), b"SELECT '\xff';\n").unwrap();
    dir.write("0601_not_utf8.down.sql", "SELECT 1;\n");
    dir.write("0602_Bad.up.sql", "SELECT 1;\n");
    dir.write("0602_bad.down.sql", "SELECT 1;\n");
    dir.write("0603_sidecar.verify.sql", "SELECT 1;\n");
    dir.write("0604_python.py", "");
    dir.write("notes.md", "");
    fs::create_dir(dir.path.join("0605_dir.up.sql")).unwrap();
    fs::create_dir(dir.path.join("old")).unwrap();

    let options = CheckOptions::default();
    let loaded = files::load(&dir.path, &options).unwrap();
    let checked = files::check(&dir.path, files::read_dir(&dir.path).unwrap(), &options);
    assert_eq!(loaded.set, checked.set);
    assert_eq!(loaded.diagnostics, checked.diagnostics);
    assert_eq!(loaded.file_versions, checked.file_versions);
    assert!(loaded.set.migrations.len() > 500);
    assert!(loaded.diagnostics.len() > 100);
}

#[test]
fn checksum_is_sha256_of_the_raw_bytes() {
    // confiture's contract: the same digest as `sha256sum` of the up file.
    let dir = TempDir::new("confiture_read_dir");
    dir.write(
        "001_add_bio_to_users.up.sql",
        "ALTER TABLE tb_user ADD COLUMN bio TEXT;\n",
    );
    dir.write(
        "001_add_bio_to_users.down.sql",
        "ALTER TABLE tb_user DROP COLUMN bio;\n",
    );
    let checked = files::load(&dir.path, &CheckOptions::default()).unwrap();
    let up = &checked.set.migrations[0].up;
    let output = std::process::Command::new("sha256sum")
        .arg(&up.path)
        .output()
        .unwrap();
    let expected = String::from_utf8(output.stdout).unwrap();
    assert_eq!(up.checksum, expected.split_whitespace().next().unwrap());
}

#[test]
fn files_of_every_size_are_read_whole_on_every_thread() {
    // Small files take one `read` into a thread's buffer (64 KiB); a file that fills it is read
    // on to its end. Sizes around the buffer's, and enough files for several threads.
    let dir = TempDir::new("confiture_read_dir");
    let sizes = [0, 1, 65_535, 65_536, 65_537, 131_072, 300_001];
    let mut expected = Vec::new();
    for i in 0..1200usize {
        let size = sizes[i % sizes.len()];
        let body: String = (0..size)
            .map(|j| (b'a' + ((i + j) % 26) as u8) as char)
            .collect();
        let name = format!("{:04}_f.up.sql", i + 1);
        dir.write(&name, &body);
        expected.push((name, body.into_bytes()));
    }
    let mut read: Vec<(String, Vec<u8>)> = files::read_dir(&dir.path)
        .unwrap()
        .into_iter()
        .map(|entry| match entry {
            Entry::File { path, bytes } => (name(&path), bytes),
            other => panic!("not read: {other:?}"),
        })
        .collect();
    read.sort();
    assert_eq!(read.len(), expected.len());
    for ((name_read, bytes), (name, body)) in read.iter().zip(&expected) {
        assert_eq!(name_read, name);
        assert!(
            bytes == body,
            "{name}: {} bytes read of {}",
            bytes.len(),
            body.len()
        );
    }
}

/// A `.sql` file whose name gives no version, even corrected (a `pg_dump` left as
/// `backup.sql`, `add_x.up.sql`, a name that is not UTF-8), was read whole — every command and
/// every build script read a 3 GB dump into memory (3 GB resident, 12 s) to report its name.
/// It is not read: its name alone is reported (C006). A misnamed file whose corrected name
/// gives a version is still read: a ledger row may record its checksum.
#[test]
fn a_sql_file_whose_name_gives_no_version_is_not_read() {
    let dir = TempDir::new("confiture_read_dir");
    pair(&dir, "001_a");
    dir.write("backup.sql", "-- a dump\nCREATE TABLE tb_a (pk INTEGER);\n");
    dir.write("add_x.up.sql", "SELECT 1;\n");
    dir.write("002_B.up.sql", "SELECT 1;\n");
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"003_c\xff.up.sql");
        fs::write(dir.path.join(name), "SELECT 1;\n").unwrap();
    }
    let mut entries: Vec<String> = files::read_dir(&dir.path)
        .unwrap()
        .iter()
        .map(|entry| match entry {
            Entry::File { path, bytes } => format!("file {} {}", name(path), bytes.len()),
            Entry::Unversioned { path } => format!("not read {}", name(path)),
            other => format!("other {other:?}"),
        })
        .collect();
    entries.sort();
    let mut expected = vec![
        "file 001_a.down.sql 17",
        "file 001_a.up.sql 32",
        "file 002_B.up.sql 10",
        "not read add_x.up.sql",
        "not read backup.sql",
    ];
    if cfg!(unix) {
        expected.push("not read 003_c\u{fffd}.up.sql");
    }
    expected.sort();
    assert_eq!(entries, expected);
    // Reported by name, as when it was read; nothing says it could not be read.
    for checked in [
        files::load(&dir.path, &CheckOptions::default()).unwrap(),
        files::check(
            &dir.path,
            files::read_dir(&dir.path).unwrap(),
            &CheckOptions::default(),
        ),
    ] {
        let mut rendered: Vec<String> = (checked.diagnostics.iter())
            .map(|d| format!("{} {}", d.code, name(&d.path)))
            .collect();
        rendered.sort();
        let mut expected = vec!["C006 002_B.up.sql", "C006 add_x.up.sql", "C006 backup.sql"];
        if cfg!(unix) {
            expected.push("C006 003_c\u{fffd}.up.sql");
        }
        expected.sort();
        assert_eq!(rendered, expected, "{:#?}", checked.diagnostics);
        assert_eq!(
            checked.set.incomplete.len(),
            1,
            "{:#?}",
            checked.set.incomplete
        );
    }
}
