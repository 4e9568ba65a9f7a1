//! The bad-input corpus: what a user will type, run through the real binary. One directory per
//! case under `tests/fixtures/bad-input/<case>/`:
//!
//! - `cmd` — the arguments, one per line (blank lines are ignored; `{EMPTY}` is an empty
//!   argument);
//! - `exit` — the exit code the case must end with (the constants of `confiture/src/exit.rs`);
//! - `expect` — substrings, one per line, that must all appear in stdout + stderr: the message
//!   must name the thing involved and the fix;
//! - `once` (optional) — substrings, one per line, that must appear exactly once in stdout +
//!   stderr: a problem said at its place is not said again under another;
//! - `project/` (optional) — files copied over a fresh project (`Cargo.toml` with `[workspace]`,
//!   empty `db/migrations` and `db/environments`); a file replaces an empty directory of the
//!   same name (`project/db/migrations` as a file);
//! - `env` (optional) — `NAME=value` lines set in the command's environment (`\xHH` in a
//!   value is a raw byte, for values that are not UTF-8);
//! - `prepare` (optional) — arguments of a command run first, which must succeed (e.g.
//!   `migrate up`, so that the database has something to lose);
//! - `sql` (optional) — SQL run on the case's database after `prepare` (e.g. a table that
//!   takes the ledger's name);
//! - `setup` (optional) — run after `prepare`: what cannot be committed, one directive a line,
//!   paths relative to the project: `remove PATH`, `mkdir PATH`, `symlink TARGET LINK`,
//!   `unreadable PATH`, `fifo PATH`, `touch PATH` (empty file; `\xHH` in PATH is a raw byte,
//!   for names that are not UTF-8), `append PATH TEXT` (a line added to a file, e.g. an edit
//!   after `prepare` applied it), `big-migration PATH BYTES` (generated at test time: a 50 MB
//!   file is never committed), `repeat PATH COUNT TEXT` (TEXT appended COUNT times to a file,
//!   no newline: a 200 KB run of `[` is generated, not committed);
//! - `note` (optional) — why the case is built the way it is.
//!
//! Placeholders, substituted in `cmd`, `env`, `expect` and the project's files: `{DB_URL}` and
//! `{DB_NAME}` (a database created for the case and dropped after it), `{PG_HOST}`,
//! `{PG_PORT}`, and `{PORT_CLOSED}` (a local port nothing listens on). A case whose files
//! mention `{DB_` gets its own database; its catalog (relations and schemas) must be the same
//! before and after the command, and no other database may appear.
//!
//! Every case also checks: no panic (exit code 101 never, `panicked` never in stderr), no raw
//! control character in the output (names are shown escaped), a signal never ends the command,
//! and with `--format json` stdout is one JSON document (usage errors included: clap's are
//! rendered as the error document). All cases run,
//! then every failure is reported at once with the case's full output.

use std::collections::BTreeSet;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use confiture_tests::{admin, pg_host, pg_port, workspace_root, Project, TestDb};

/// A command that runs longer than this is reported as hanging (and killed). Generous: the
/// 50 MB cases take ~14 s of CPU in a debug build, and on a loaded 2-core machine (CI beside
/// other jobs, load 14-16) they were seen to pass 120 s; a hang is still caught.
const TIMEOUT: Duration = Duration::from_secs(360);
/// Cases run on a few threads: most of the time goes to creating databases and to the
/// server, not to this process.
const WORKERS: usize = 3;

fn corpus_dir() -> PathBuf {
    workspace_root().join("tests/fixtures/bad-input")
}

#[derive(Debug)]
struct Case {
    name: String,
    dir: PathBuf,
}

fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = std::fs::read_dir(corpus_dir())
        .expect("read tests/fixtures/bad-input")
        .map(|entry| entry.expect("read tests/fixtures/bad-input"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| Case {
            name: entry.file_name().to_string_lossy().into_owned(),
            dir: entry.path(),
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

fn read_optional(path: &Path) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("read {}: {e}", path.display()),
    }
}

/// Every file of the case that may name a placeholder, as text (lossy for binary files).
fn mentions_database(case: &Case) -> bool {
    fn walk(dir: &Path, found: &mut bool) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if let Ok(bytes) = std::fs::read(&path) {
                *found |= String::from_utf8_lossy(&bytes).contains("{DB_");
            }
        }
    }
    let mut found = false;
    walk(&case.dir, &mut found);
    found
}

/// A local TCP port on which nothing listens (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    listener.local_addr().expect("local address").port()
}

struct Placeholders {
    pairs: Vec<(&'static str, String)>,
}

impl Placeholders {
    fn new(db: Option<&TestDb>) -> Placeholders {
        let mut pairs = vec![
            ("{PG_HOST}", pg_host()),
            ("{PG_PORT}", pg_port().to_string()),
            ("{PORT_CLOSED}", closed_port().to_string()),
        ];
        if let Some(db) = db {
            pairs.push(("{DB_URL}", db.url()));
            pairs.push(("{DB_NAME}", db.name.clone()));
        }
        Placeholders { pairs }
    }

    fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (key, value) in &self.pairs {
            out = out.replace(key, value);
        }
        out
    }

    /// Substitutes in raw bytes only where a placeholder occurs, so that fixtures with
    /// invalid UTF-8, BOMs or CRLF keep their exact bytes.
    fn bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for (key, value) in &self.pairs {
            out = replace_bytes(&out, key.as_bytes(), value.as_bytes());
        }
        out
    }
}

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// Copies `from` over `to`; a file replaces an empty directory of the same name.
fn copy_tree(from: &Path, to: &Path, placeholders: &Placeholders) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).expect("read fixture project") {
        let entry = entry.expect("read fixture project");
        let source = entry.path();
        let target = to.join(entry.file_name());
        if source.is_dir() {
            copy_tree(&source, &target, placeholders);
        } else {
            if target.is_dir() {
                std::fs::remove_dir(&target)
                    .unwrap_or_else(|e| panic!("replace directory {}: {e}", target.display()));
            }
            let bytes = std::fs::read(&source).expect("read fixture file");
            std::fs::write(&target, placeholders.bytes(&bytes))
                .unwrap_or_else(|e| panic!("write {}: {e}", target.display()));
        }
    }
}

/// The `setup` directives. Returns notes to show with a failure (e.g. which way a file was
/// made unreadable).
fn setup(case: &Case, project: &Project) -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    let Some(text) = read_optional(&case.dir.join("setup")) else {
        return Ok(notes);
    };
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let path = |i: usize| -> Result<PathBuf, String> {
            words
                .get(i)
                .map(|p| project.path(p))
                .ok_or_else(|| format!("setup line {line:?} lacks an argument"))
        };
        let io = |e: std::io::Error| format!("setup {line:?}: {e}");
        match words[0] {
            "remove" => {
                let p = path(1)?;
                if p.is_dir() {
                    std::fs::remove_dir_all(&p).map_err(io)?;
                } else {
                    std::fs::remove_file(&p).map_err(io)?;
                }
            }
            "mkdir" => std::fs::create_dir_all(path(1)?).map_err(io)?,
            "symlink" => {
                let target = words.get(1).ok_or("symlink needs a target")?;
                std::os::unix::fs::symlink(target, path(2)?).map_err(io)?;
            }
            "unreadable" => notes.push(make_unreadable(&path(1)?).map_err(io)?),
            "fifo" => {
                let status = Command::new("mkfifo").arg(path(1)?).status().map_err(io)?;
                if !status.success() {
                    return Err(format!("setup {line:?}: mkfifo failed"));
                }
            }
            "touch" => {
                use std::os::unix::ffi::OsStrExt;
                let raw = words.get(1).ok_or("touch needs a path")?;
                let bytes = unescape_bytes(raw);
                let relative = std::ffi::OsStr::from_bytes(&bytes);
                std::fs::write(project.root.join(relative), b"SELECT 1;\n").map_err(io)?;
            }
            "append" => {
                use std::io::Write;
                let text = line.splitn(3, ' ').nth(2).unwrap_or_default();
                let mut file = std::fs::OpenOptions::new()
                    .append(true)
                    .open(path(1)?)
                    .map_err(io)?;
                writeln!(file, "{text}").map_err(io)?;
            }
            "big-migration" => {
                let size: usize = words
                    .get(2)
                    .and_then(|s| s.parse().ok())
                    .ok_or("big-migration needs a size in bytes")?;
                std::fs::write(path(1)?, big_migration(size)).map_err(io)?;
            }
            "repeat" => {
                use std::io::Write;
                let count: usize = words
                    .get(2)
                    .and_then(|s| s.parse().ok())
                    .ok_or("repeat needs a count")?;
                let text = words.get(3).ok_or("repeat needs a text")?;
                let mut file = std::fs::OpenOptions::new()
                    .append(true)
                    .open(path(1)?)
                    .map_err(io)?;
                file.write_all(text.repeat(count).as_bytes()).map_err(io)?;
            }
            other => return Err(format!("unknown setup directive {other:?}")),
        }
    }
    Ok(notes)
}

/// `\xHH` escapes to raw bytes; everything else as is.
fn unescape_bytes(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x'))
            .then(|| bytes.get(i + 2..i + 4))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// `chmod 000`, unless this process can read the file anyway (root, or a capability such as
/// CAP_DAC_OVERRIDE): then the file is replaced by a symbolic link to nowhere, which nobody
/// can read. Either way the CLI must report the file as unreadable, by name.
fn make_unreadable(path: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o000))?;
    if std::fs::File::open(path).is_err() {
        return Ok(format!("{} made unreadable with chmod 000", path.display()));
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
    std::fs::remove_file(path)?;
    std::os::unix::fs::symlink("/nonexistent/confiture-unreadable", path)?;
    Ok(format!(
        "chmod 000 does not stop this process from reading (running as root): {} replaced by a dangling symbolic link",
        path.display()
    ))
}

/// A valid migration of about `size` bytes: one table, then many rows.
fn big_migration(size: usize) -> Vec<u8> {
    let mut sql = b"CREATE TABLE big_migration (id int, note text);\n".to_vec();
    let row = format!(
        "INSERT INTO big_migration VALUES (1, '{}');\n",
        "x".repeat(200)
    );
    while sql.len() + row.len() <= size {
        sql.extend_from_slice(row.as_bytes());
    }
    sql
}

/// What a run of the CLI did; `timed_out` when it had to be killed.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

fn run(mut command: Command) -> Outcome {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start the CLI under test");
    // Drain both pipes on threads so that a chatty command never blocks on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait().expect("wait for the CLI") {
            Some(status) => break status,
            None if start.elapsed() > TIMEOUT => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait for the killed CLI");
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = err_thread.join().unwrap_or_default();
    Outcome {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        timed_out,
    }
}

/// Schemas of the case's database: a command that created only a schema (for a tracking
/// table in another schema) changed the database too.
fn schemas(db: &TestDb) -> Vec<String> {
    db.connect()
        .query("SELECT nspname::text FROM pg_namespace ORDER BY 1", &[])
        .expect("list schemas")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Databases whose name starts with the case's: `--create-database` or a typo must not leave
/// a new one behind.
fn sibling_databases(db: &TestDb) -> BTreeSet<String> {
    admin()
        .query(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)",
            &[&db.name],
        )
        .expect("list databases")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

struct Snapshot {
    relations: Vec<String>,
    schemas: Vec<String>,
    databases: BTreeSet<String>,
}

fn snapshot(db: &TestDb) -> Snapshot {
    Snapshot {
        relations: db.catalog_snapshot(),
        schemas: schemas(db),
        databases: sibling_databases(db),
    }
}

/// A `cmd` or `prepare` file: one argument a line, blank lines ignored, `{EMPTY}` for "".
fn arguments(text: &str, placeholders: &Placeholders) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            if l == "{EMPTY}" {
                String::new()
            } else {
                placeholders.text(l)
            }
        })
        .collect()
}

/// Runs one case; returns what went wrong (empty when it passed).
fn check_case(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let db = mentions_database(case).then(|| TestDb::new("bad"));
    let placeholders = Placeholders::new(db.as_ref());

    let Some(cmd) = read_optional(&case.dir.join("cmd")) else {
        return vec!["the case has no `cmd` file".to_string()];
    };
    let Some(exit) = read_optional(&case.dir.join("exit")) else {
        return vec!["the case has no `exit` file".to_string()];
    };
    let Ok(expected_code) = exit.trim().parse::<i32>() else {
        return vec![format!("`exit` holds {exit:?}, not an exit code")];
    };
    let expect: Vec<String> = read_optional(&case.dir.join("expect"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| placeholders.text(l))
        .collect();
    if expect.is_empty() {
        problems.push("the case has no `expect` lines: it must say what the message names".into());
    }
    let args = arguments(&cmd, &placeholders);

    let project = Project::new();
    let project_dir = case.dir.join("project");
    if project_dir.is_dir() {
        copy_tree(&project_dir, &project.root, &placeholders);
    }
    if let Some(prepare) = read_optional(&case.dir.join("prepare")) {
        let prepare = arguments(&prepare, &placeholders);
        let mut command = project.cli();
        command.args(&prepare);
        let outcome = run(command);
        if outcome.code != Some(0) {
            return vec![format!(
                "`prepare` {prepare:?} failed ({:?})\n--- stdout\n{}--- stderr\n{}---",
                outcome.code, outcome.stdout, outcome.stderr
            )];
        }
    }
    if let Some(sql) = read_optional(&case.dir.join("sql")) {
        let Some(db) = db.as_ref() else {
            return vec!["an `sql` file needs a database: mention {DB_URL} or {DB_NAME}".into()];
        };
        if let Err(e) = db.connect().batch_execute(&placeholders.text(&sql)) {
            return vec![format!("the `sql` file failed: {e}")];
        }
    }
    let notes = match setup(case, &project) {
        Ok(notes) => notes,
        Err(e) => return vec![e],
    };

    let mut command = project.cli();
    command.args(&args);
    if let Some(env) = read_optional(&case.dir.join("env")) {
        for line in env.lines().filter(|l| !l.trim().is_empty()) {
            match line.split_once('=') {
                Some((key, value)) => {
                    use std::os::unix::ffi::OsStringExt;
                    let value = unescape_bytes(&placeholders.text(value));
                    command.env(key.trim(), std::ffi::OsString::from_vec(value));
                }
                None => problems.push(format!("`env` line {line:?} is not NAME=value")),
            }
        }
    }

    let before = db.as_ref().map(snapshot);
    let outcome = run(command);
    let after = db.as_ref().map(snapshot);

    if outcome.timed_out {
        problems.push(format!(
            "the command ran longer than {TIMEOUT:?} and was killed"
        ));
    }
    match outcome.code {
        None => problems.push("the command was ended by a signal".into()),
        Some(101) => problems.push("exit code 101: the command panicked".into()),
        Some(code) if code != expected_code => {
            problems.push(format!("exit code {code}, expected {expected_code}"));
        }
        Some(_) => {}
    }
    if outcome.stderr.contains("panicked") {
        problems.push("stderr says `panicked`".into());
    }
    // Names from files, URLs and the server are shown escaped: no output drives the terminal.
    let raw_control = |text: &str| {
        text.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    };
    if raw_control(&outcome.stdout) || raw_control(&outcome.stderr) {
        problems.push("the output holds a raw control character (it must be escaped)".into());
    }
    let all = format!("{}{}", outcome.stdout, outcome.stderr);
    for needle in &expect {
        if !all.contains(needle.as_str()) {
            problems.push(format!("the output lacks {needle:?}"));
        }
    }
    let once = read_optional(&case.dir.join("once")).unwrap_or_default();
    for needle in once.lines().filter(|l| !l.trim().is_empty()) {
        let needle = placeholders.text(needle);
        let times = all.matches(needle.as_str()).count();
        if times != 1 {
            problems.push(format!(
                "the output says {needle:?} {times} times, not once"
            ));
        }
    }
    let json = args
        .windows(2)
        .any(|w| w[0] == "--format" && w[1] == "json")
        || args.iter().any(|a| a == "--format=json");
    // Usage errors too: clap's are rendered as the error document when `--format json` is given.
    if json {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&outcome.stdout) {
            problems.push(format!(
                "--format json, but stdout is not one JSON document: {e}"
            ));
        }
    }
    if let (Some(before), Some(after)) = (before, after) {
        if before.relations != after.relations {
            problems.push(format!(
                "the database changed: relations {:?} became {:?}",
                before.relations, after.relations
            ));
        }
        if before.schemas != after.schemas {
            problems.push(format!(
                "the database changed: schemas {:?} became {:?}",
                before.schemas, after.schemas
            ));
        }
        if before.databases != after.databases {
            problems.push(format!(
                "databases changed: {:?} became {:?}",
                before.databases, after.databases
            ));
        }
    }

    if !problems.is_empty() {
        let mut report = problems;
        report.push(format!("command: {args:?}"));
        report.extend(notes);
        report.push(format!(
            "--- stdout\n{}--- stderr\n{}---",
            outcome.stdout, outcome.stderr
        ));
        return report;
    }
    Vec::new()
}

/// The cases whose name contains `filter` (`BAD_INPUT_CASE`), all without one. A filter that
/// matches nothing is an error: a typo must not pass by running no case.
fn select<'a>(cases: &'a [Case], filter: Option<&str>) -> Result<Vec<&'a Case>, String> {
    let Some(filter) = filter else {
        return Ok(cases.iter().collect());
    };
    let selected: Vec<&Case> = cases.iter().filter(|c| c.name.contains(filter)).collect();
    if selected.is_empty() {
        return Err(format!(
            "BAD_INPUT_CASE={filter:?} matches no case in tests/fixtures/bad-input \
             (it selects the cases whose directory name contains it); unset it to run them all"
        ));
    }
    Ok(selected)
}

#[test]
fn a_case_filter_that_matches_nothing_is_an_error() {
    let cases = cases();
    let err = select(&cases, Some("no-such-case-xyz")).unwrap_err();
    assert!(
        err.contains("BAD_INPUT_CASE=\"no-such-case-xyz\" matches no case"),
        "{err}"
    );
    assert_eq!(select(&cases, None).unwrap().len(), cases.len());
    let some = select(&cases, Some("env-yaml")).unwrap();
    assert!(!some.is_empty() && some.iter().all(|c| c.name.contains("env-yaml")));
}

#[test]
fn every_bad_input_case_fails_as_documented() {
    let cases = cases();
    assert!(
        cases.len() >= 50,
        "the corpus holds {} cases; it must hold at least 50",
        cases.len()
    );
    let only = std::env::var("BAD_INPUT_CASE").ok();
    let queue = Mutex::new(select(&cases, only.as_deref()).unwrap_or_else(|e| panic!("{e}")));
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let Some(case) = queue.lock().expect("queue").pop() else {
                    return;
                };
                // A panic in the harness (not in the CLI) is a failure of this case, not of
                // the whole run: every case is still reported.
                let problems =
                    std::panic::catch_unwind(|| check_case(case)).unwrap_or_else(|panic| {
                        let text = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        vec![format!("the test harness panicked: {text}")]
                    });
                if !problems.is_empty() {
                    failures
                        .lock()
                        .expect("failures")
                        .push((case.name.clone(), problems));
                }
            });
        }
    });
    let mut failures = failures.into_inner().expect("failures");
    failures.sort();
    if !failures.is_empty() {
        let mut report = format!("{} bad-input case(s) failed:\n", failures.len());
        for (name, problems) in &failures {
            report.push_str(&format!("\n=== {name} (tests/fixtures/bad-input/{name})\n"));
            for p in problems {
                report.push_str(&format!("  {p}\n"));
            }
        }
        panic!("{report}");
    }
}

#[test]
fn every_case_is_complete() {
    for case in cases() {
        for file in ["cmd", "exit", "expect"] {
            assert!(
                case.dir.join(file).is_file(),
                "tests/fixtures/bad-input/{}: missing `{file}`",
                case.name
            );
        }
        let exit = std::fs::read_to_string(case.dir.join("exit")).expect("read exit");
        let code: u8 = exit.trim().parse().unwrap_or_else(|_| {
            panic!(
                "tests/fixtures/bad-input/{}: `exit` is not a code",
                case.name
            )
        });
        assert!(
            confiture::exit::ALL.iter().any(|(c, _)| *c == code),
            "tests/fixtures/bad-input/{}: exit code {code} is not one of confiture::exit::ALL",
            case.name
        );
    }
}
