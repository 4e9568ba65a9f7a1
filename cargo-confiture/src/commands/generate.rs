//! `migrate generate NAME`: the library decides the next pair ([`files::new_migration`]); this
//! writes it, safely when several `generate` run at once in one directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use confiture::files::{self, Checked, NewMigration};
use confiture::{display, exit, hint, Error, ErrorKind, Result};
use serde::Serialize;

use super::Context;
use crate::cli::GenerateArgs;
use crate::output::{Output, Style};

/// `cargo confiture migrate generate --format json`.
#[derive(Serialize)]
struct GenerateReport {
    version: String,
    name: String,
    #[serde(serialize_with = "confiture::display::serialize_path")]
    up: PathBuf,
    #[serde(serialize_with = "confiture::display::serialize_path")]
    down: PathBuf,
    dry_run: bool,
}

/// How long `generate` waits for other `generate` runs in the same directory.
const CLAIM_WAIT: Duration = Duration::from_secs(10);

/// A claim older than this was left by a `generate` that was killed. It is never removed
/// automatically (a live one could be taken for it): the user is told to remove it.
const STALE_CLAIM: Duration = Duration::from_secs(30);

pub fn run(cx: &Context, args: &GenerateArgs, out: &Output) -> Result<u8> {
    // Outside a Cargo project, a default directory that is not there while one above has
    // it: never a second migrations directory here, unless `--migrations-dir` names it.
    if cx.dir_named_by == confiture::files::DirNamedBy::DefaultDir && !cx.migrations_dir.exists() {
        if let Some(help) = cx.workspace.project_above_help() {
            return Err(confiture::Error::invalid(format!(
                "{} does not exist here, and a directory above has its own: not starting a \
                 second migrations directory; nothing was created",
                display::path(&cx.display_dir)
            ))
            .with_help(help));
        }
    }
    let start = Instant::now();
    let mut pause = Pause::new();
    let new = loop {
        let new = match next_migration(cx, &args.name, start)? {
            Ok(new) => new,
            // The library's refusal: a bad name as such, a broken numbering with its
            // diagnostics (shown like `lint` by `Output::error`).
            Err((e, _)) => return Err(e),
        };
        if args.dry_run {
            // What the run would answer: a killed run's claim on this number refuses it.
            if is_stale_claim(cx, new.version) {
                return Err(busy_error(cx));
            }
            break new;
        }
        std::fs::create_dir_all(&cx.migrations_dir).map_err(|e| {
            cannot_write(
                format!(
                    "cannot create {}",
                    confiture::display::path_text(&cx.display_dir)
                ),
                e,
            )
        })?;
        if claim_and_write(cx, &new)? {
            break new;
        }
        // Another run holds that number's claim, or took the number: number again.
        if start.elapsed() > CLAIM_WAIT {
            return Err(busy_error(cx));
        }
        pause.wait();
    };
    if !new.same_name.is_empty() {
        out.warning(&format!(
            "{} already uses the name `{}`: history checks match migrations by name, so \
             give this migration another name",
            new.same_name.join(", "),
            new.name
        ));
    }
    if out.json_mode() {
        out.json(&GenerateReport {
            version: new.version_text.clone(),
            name: new.name.clone(),
            up: new.up_path.clone(),
            down: new.down_path.clone(),
            dry_run: args.dry_run,
        });
        return Ok(exit::SUCCESS);
    }
    let verb = if args.dry_run {
        "would create"
    } else {
        "created"
    };
    out.result(&format!(
        "{verb} {}\n{verb} {}",
        display::path(&new.up_path),
        display::path(&new.down_path)
    ));
    if !args.dry_run {
        // The guidance lives here, not in the files: they are part of the checksum and every
        // `--dry-run` prints them. Progress, so `-q` silences it.
        out.progress(&format!(
            "{} write the change in the up file, and how to undo it in the down file\n  \
             - a statement that cannot run in a transaction (CREATE INDEX CONCURRENTLY): put the \
             line `-- confiture:no-transaction` at the top of its file\n  \
             - a change that cannot be undone: put the line `-- confiture:irreversible` in the \
             down file\n  \
             then check them with {}",
            out.paint_err(Style::Cyan, "note:"),
            out.hint(&hint::command("lint"))
        ));
    }
    Ok(exit::SUCCESS)
}

/// Short, growing pauses while another `generate` finishes (milliseconds each).
struct Pause(Duration);

impl Pause {
    fn new() -> Pause {
        Pause(Duration::from_millis(2))
    }

    fn wait(&mut self) {
        std::thread::sleep(self.0);
        self.0 = (self.0 * 2).min(Duration::from_millis(50));
    }
}

/// The directory read and checked; a missing directory is an empty set (a fresh project).
/// Only one that is not there at all ([`files::is_missing_dir`]): a link to nowhere, or a file
/// in the way, is the library's to name, as `lint` names it — never a fresh project whose
/// directory then cannot be created; nor one beside a directory of migrations of a close name
/// (`db/migration` beside `db/migrations`), which the library refuses
/// ([`files::refuse_new_dir_close_to_one`]).
fn load(cx: &Context) -> Result<Checked> {
    if files::is_missing_dir(&cx.migrations_dir) {
        files::refuse_new_dir_close_to_one(&cx.display_dir, cx.dir_named_by)?;
        Ok(files::check(&cx.display_dir, Vec::new(), &cx.check_options))
    } else {
        cx.load()
    }
}

/// The next migration named `name` — or the refusal with the directory it was decided on.
///
/// The directory may be changing under another `generate`, which shows a half-written pair
/// for a moment: that is not a broken directory. A refusal is returned only when two reads in
/// a row agree on it with no live claim seen between them: a pair being written is always
/// covered by its writer's claim (created before the first file, removed after the second),
/// so a half pair seen twice with no claim between the reads is really there.
fn next_migration(
    cx: &Context,
    name: &str,
    start: Instant,
) -> Result<std::result::Result<NewMigration, (Error, Checked)>> {
    let mut pause = Pause::new();
    let mut before: Option<Checked> = None;
    loop {
        if start.elapsed() > CLAIM_WAIT {
            return Err(busy_error(cx));
        }
        let checked = load(cx)?;
        let refused = match files::new_migration(&checked, name) {
            Ok(new) => return Ok(Ok(new)),
            Err(e) => e,
        };
        // Nothing in the directory changes a bad name.
        if !files::name::is_valid_name(name) {
            return Ok(Err((refused, checked)));
        }
        let claims = claims(&cx.migrations_dir);
        let live = claims.iter().any(|(_, age)| *age <= STALE_CLAIM);
        if !live {
            if before
                .as_ref()
                .is_some_and(|b| b.diagnostics == checked.diagnostics)
            {
                // A killed run's claim explains a half-written pair: say so.
                let refused = match claims.first() {
                    Some((path, _)) => refused.with_detail(format!(
                        "{} was left by a `migrate generate` that did not finish: remove it",
                        display::path(path)
                    )),
                    None => refused,
                };
                return Ok(Err((refused, checked)));
            }
            before = Some(checked);
            continue;
        }
        before = None;
        pause.wait();
    }
}

/// The claim on a version while its pair is being written: `.confiture-generate-<V>.claim` in
/// the migrations directory (not `.sql`: never read as a migration).
fn claim_path(dir: &Path, version: u64) -> PathBuf {
    dir.join(format!(".confiture-generate-{version}.claim"))
}

/// The claim files in `dir`, each with its age.
fn claims(dir: &Path) -> Vec<(PathBuf, Duration)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(".confiture-generate-") && name.ends_with(".claim")
        })
        .map(|e| {
            let age = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .unwrap_or_default();
            (e.path(), age)
        })
        .collect()
}

/// Whether the claim on `version` was left by a `generate` that did not finish (older than
/// [`STALE_CLAIM`]): the run that numbers `version` refuses, naming it ([`busy_error`]).
fn is_stale_claim(cx: &Context, version: u64) -> bool {
    let path = claim_path(&cx.migrations_dir, version);
    claims(&cx.migrations_dir)
        .iter()
        .any(|(p, age)| *p == path && *age > STALE_CLAIM)
}

/// Removes the claim file when dropped: on success, on error, on panic.
struct Claim(PathBuf);

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Claims `new`'s version (`create_new` of its claim file: one run wins) and, holding it,
/// reads the directory again: if the number is still free, writes both files and returns
/// `true`; if another run holds the claim or took the number meanwhile, returns `false`.
fn claim_and_write(cx: &Context, new: &NewMigration) -> Result<bool> {
    let path = claim_path(&cx.migrations_dir, new.version);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return if is_stale_claim(cx, new.version) {
                Err(busy_error(cx))
            } else {
                Ok(false)
            };
        }
        Err(e) => {
            return Err(cannot_write(
                format!(
                    "cannot create files in {}",
                    confiture::display::path_text(&cx.display_dir)
                ),
                e,
            ))
        }
    }
    let _claim = Claim(path);
    // Under the claim: a run that finished between our read and our claim took the number.
    if new.is_taken_in(&load(cx)?) {
        return Ok(false);
    }
    write_new(&new.up_path, &new.up_text)?;
    if let Err(e) = write_new(&new.down_path, &new.down_text) {
        // Never leave half a pair behind.
        let _ = std::fs::remove_file(&new.up_path);
        return Err(e);
    }
    Ok(true)
}

/// Other `generate` runs kept the directory busy too long (a claim not acquired in time, exit
/// 6, as a lock; maybe a run killed a moment ago, named), or a killed one left its claim (a
/// file for a person to remove, exit 5).
fn busy_error(cx: &Context) -> Error {
    let claims = claims(&cx.migrations_dir);
    if let Some((path, _)) = claims.iter().find(|(_, age)| *age > STALE_CLAIM) {
        return Error::invalid(format!(
            "{} was left by a `migrate generate` that did not finish",
            display::path(path)
        ))
        .with_help(format!(
            "check that no `migrate generate` is running, remove it (`rm {}`), then generate again",
            hint::quote_path(&display::relative(path))
        ));
    }
    let error = Error::new(
        ErrorKind::LockTimeout,
        format!(
            "other `migrate generate` runs kept {} busy for {} s",
            confiture::display::path_text(&cx.display_dir),
            CLAIM_WAIT.as_secs()
        ),
    );
    // A claim younger than `STALE_CLAIM` may still be a killed run's: name it and its age,
    // rather than only after it grows old.
    match claims.first() {
        Some((path, age)) => error.with_help(format!(
            "wait for them to finish, then generate again; if no `migrate generate` is running, \
             {} ({} s old) was left by one that did not finish: remove it (`rm {}`)",
            display::path(path),
            age.as_secs(),
            hint::quote_path(&display::relative(path))
        )),
        None => error.with_help("wait for them to finish, then generate again"),
    }
}

/// Writes a new file, refusing to overwrite one that exists. A file it created but could not
/// write whole (a full disk, a file size limit) is removed: "nothing was generated" stays true.
fn write_new(path: &Path, text: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::invalid(format!(
                    "{} already exists: not overwriting it",
                    display::path(path)
                ))
                .with_help("choose another name, or delete the file if it is a leftover")
            } else {
                cannot_write(format!("cannot create {}", display::path(path)), e)
            }
        })?;
    file.write_all(text.as_bytes()).map_err(|e| {
        drop(file);
        let _ = std::fs::remove_file(path);
        cannot_write(format!("cannot write {}", display::path(path)), e)
    })
}

/// `generate` could not write to the migrations directory: `message`, its cause, and what to
/// do next — a directory the user may not write to, a read-only file system, a full disk.
fn cannot_write(message: String, e: std::io::Error) -> Error {
    use std::io::ErrorKind;
    let help = match e.kind() {
        ErrorKind::PermissionDenied => {
            "let the user running this command write to the migrations directory (and enter its \
             parents), or give another one with --migrations-dir; nothing was generated"
        }
        ErrorKind::ReadOnlyFilesystem => {
            "the migrations directory is on a read-only file system: generate where the \
             project's sources can be written (a checkout, not a deployed copy); nothing was \
             generated"
        }
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => {
            "free some space on the migrations directory's disk, then generate again; nothing \
             was generated"
        }
        _ => {
            "check that the migrations directory is a directory you may write to, then \
              generate again; nothing was generated"
        }
    };
    Error::invalid(message).with_cause(e).with_help(help)
}

#[cfg(test)]
mod tests {
    use std::io::{Error as IoError, ErrorKind};

    use super::*;

    /// hos4: a migrations directory `generate` may not write to (read-only for this user, or
    /// a read-only mount) was refused with the system's words and no help: each such refusal
    /// now says what to do next, and that nothing was generated.
    #[test]
    fn a_directory_that_cannot_be_written_says_what_to_do() {
        for (kind, says) in [
            (
                ErrorKind::PermissionDenied,
                "let the user running this command write",
            ),
            (ErrorKind::ReadOnlyFilesystem, "read-only file system"),
            (ErrorKind::StorageFull, "free some space"),
            (ErrorKind::Other, "a directory you may write to"),
        ] {
            let err = cannot_write(
                "cannot create files in db/migrations".to_string(),
                IoError::new(kind, "denied"),
            );
            assert_eq!(err.exit_code(), exit::INVALID);
            assert!(err.message_with_cause().contains("denied"), "{err:?}");
            let help = err.help.as_deref().unwrap_or_default();
            assert!(help.contains(says), "{kind:?}: {help}");
            assert!(help.contains("nothing was generated"), "{help}");
        }
    }
}
