//! The file-level rules (`C001`–`C099`): pairing, numbering, names, encoding and emptiness,
//! each with its documentation ([`docs`]). [`check`] runs them all over the entries of a
//! directory: it sorts the entries, inspects each well-named file ([`contents`], then the SQL
//! rules), pairs the halves, then checks the numbering ([`versions`]) and the bad names
//! ([`names`]).

mod contents;
mod docs;
mod names;
#[cfg(test)]
mod tests;
mod versions;

use std::path::{Path, PathBuf};

use super::name::{self, FileName};
use super::rules;
use super::Direction;
use super::{
    checksum, CheckOptions, Checked, Entry, IncompleteFile, Migration, MigrationSet, SqlFile,
    StatementSpan, TransactionMode, UnreadableFile,
};
use crate::diagnostic::{Diagnostic, RuleDoc, Span};
use crate::text;

pub(super) use contents::bom_help;
#[cfg(test)]
pub(super) use contents::NoStatement;
pub use docs::*;
pub(super) use versions::{
    directory_width, duplicate_help_neither_applied, gap_help, late_start_help,
};

const CONFIG_TABLE: &str = crate::workspace::WORKSPACE_SETTING;
const IRREVERSIBLE_MARKER: &str = "-- confiture:irreversible";

fn diagnostic(
    rule: &RuleDoc,
    path: &Path,
    line: Option<u32>,
    message: String,
    help: String,
) -> Diagnostic {
    Diagnostic {
        code: rule.code,
        rule: rule.name,
        severity: rule.severity,
        path: path.to_path_buf(),
        line,
        span: None,
        message,
        help: Some(help),
        related: Vec::new(),
    }
}

/// A diagnostic about `span` of the file.
fn diagnostic_at(
    rule: &RuleDoc,
    path: &Path,
    span: Span,
    message: String,
    help: String,
) -> Diagnostic {
    Diagnostic {
        span: Some(span),
        ..diagnostic(rule, path, Some(span.line), message, help)
    }
}

/// A well-named file. Its version and name are ranges of its file name, so that reading
/// thousands of files allocates nothing per file beyond the path and the text.
struct Found {
    path: PathBuf,
    /// Where the file name starts in the path's bytes: `Path::file_name` parses components,
    /// which costs more than everything else here when done a few times per file.
    name_start: usize,
    version: u64,
    /// `file_name[..version_end]` is the version text.
    version_end: usize,
    /// `file_name[version_end + 1..stem_end]` is the name.
    stem_end: usize,
    kind: Direction,
    /// The raw bytes until they are inspected; `None` for an unreadable file.
    bytes: Option<Vec<u8>>,
    /// `None` when the file could not be read or is not UTF-8 (already reported).
    contents: Option<Contents>,
    /// Why it could not be read, or read as UTF-8 (the system's error, or the first invalid
    /// byte); `None` for a file read as text, and until it is inspected.
    unreadable: Option<String>,
}

struct Contents {
    text: String,
    checksum: String,
    mode: TransactionMode,
    irreversible: bool,
    destructive: bool,
    squashed_through: Option<u64>,
    statements: Vec<StatementSpan>,
}

impl Found {
    /// The file name's bytes, from the path without parsing it again.
    fn name_bytes(&self) -> &[u8] {
        let bytes = self.path.as_os_str().as_encoded_bytes();
        bytes.get(self.name_start..).unwrap_or_default()
    }
    /// `003_create_tb_comment`, as bytes: compared without decoding.
    fn stem_bytes(&self) -> &[u8] {
        self.name_bytes().get(..self.stem_end).unwrap_or_default()
    }
    fn file_name(&self) -> &str {
        let bytes = self.path.as_os_str().as_encoded_bytes();
        std::str::from_utf8(bytes.get(self.name_start..).unwrap_or_default()).unwrap_or_default()
    }
    fn version_text(&self) -> &str {
        self.file_name().get(..self.version_end).unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.file_name()
            .get(self.version_end + 1..self.stem_end)
            .unwrap_or_default()
    }
    /// `003_create_tb_comment`
    fn stem(&self) -> &str {
        self.file_name().get(..self.stem_end).unwrap_or_default()
    }
}

/// An up file and a down file with the same `<VERSION>_<NAME>`, either of which may be missing.
struct Stem {
    version: u64,
    up: Option<usize>,
    down: Option<usize>,
}

impl Stem {
    /// The file diagnostics about the whole migration point at: the up file when there is one.
    fn main_file(&self) -> usize {
        self.up.or(self.down).unwrap_or_default()
    }
}

pub fn check(dir: &Path, entries: Vec<Entry>, options: &CheckOptions) -> Checked {
    check_read(dir, entries.into_iter().map(Read::Entry).collect(), options)
}

/// What a reading thread made of one directory entry: the entry, or, for a well-named file
/// read as `files::load` reads a directory, the file already inspected there
/// ([`inspect_read`]): the same [`read_contents`] that [`check`] runs, done while the bytes are
/// fresh and without a second pass over the files on threads of their own.
#[allow(clippy::large_enum_variant)] // Unboxed: a box per file costs more than the moves.
pub(super) enum Read {
    Entry(Entry),
    Inspected(Inspected),
}

/// A well-named file inspected where it was read, with what the inspection reported.
pub(super) struct Inspected {
    found: Found,
    diagnostics: Vec<Diagnostic>,
}

/// `path`'s `bytes`, inspected now when its name is a migration's ([`Found::new`]); anything
/// else is left for [`check`] as the entry it is.
pub(super) fn inspect_read(path: PathBuf, bytes: Vec<u8>, tracking_table: &str) -> Read {
    let parsed = path
        .file_name()
        .and_then(|name| name.to_str())
        .filter(|name| name::is_sql_file_name(name) && !name::is_verify_sidecar(name))
        .and_then(|name| name::parse_file_name(name).ok())
        .map(|parsed| Found::new(&path, &parsed));
    let Some(file) = parsed else {
        return Read::Entry(Entry::File { path, bytes });
    };
    let mut diagnostics = Vec::new();
    let (contents, unreadable) =
        match read_contents(&path, file.kind, bytes, tracking_table, &mut diagnostics) {
            Ok(contents) => (Some(contents), None),
            Err(reason) => (None, Some(reason)),
        };
    let found = Found {
        path,
        contents,
        unreadable,
        ..file
    };
    Read::Inspected(Inspected { found, diagnostics })
}

/// [`check`] of entries read by `files::load`, some of them already inspected.
pub(super) fn check_read(dir: &Path, entries: Vec<Read>, options: &CheckOptions) -> Checked {
    let Classified {
        mut found,
        bad_names,
        mut misnamed,
        subdirectories,
        mut diagnostics,
        python,
        inspected,
    } = Classified::new(entries);
    // The one full sort, of the well-named files only: by version (mostly decides, cheaply),
    // then name, then down before up. The halves of a pair end up adjacent, and the stems
    // come out in version order.
    found.sort_unstable_by(|a, b| {
        a.version
            .cmp(&b.version)
            .then_with(|| a.stem_bytes().cmp(b.stem_bytes()))
            .then_with(|| (a.kind == Direction::Up).cmp(&(b.kind == Direction::Up)))
    });
    // Where the files inspected when read report too: the same order of phases.
    diagnostics.extend(inspected);
    diagnostics.extend(inspect_all(&mut found, options.tracking_table_name()));

    let down_of = down_of(&found, &misnamed);
    let stems = pair(&found, &misnamed, &mut diagnostics);
    names::report_long_names(&found, &stems, &mut diagnostics);
    // The pairing read each misnamed file by its own corrected name (a guess from its version
    // is said by C001 or C002 too); from here on a down file taken as an up file's has that
    // one's name, as its C006 says.
    let bad_down_of: Vec<Option<&names::DownOf>> = (bad_names.iter())
        .map(|(path, _, _)| {
            let at = misnamed.iter().position(|f| &f.path == path)?;
            down_of[at].as_ref()
        })
        .collect();
    names::report_bad_names(
        &bad_names,
        &bad_down_of,
        &found,
        &python,
        &subdirectories,
        crate::history::first_version(options.first_version),
        &mut diagnostics,
    );
    for (file, down_of) in misnamed.iter_mut().zip(&down_of) {
        if let Some(down_of) = down_of {
            file.version_text.clone_from(&down_of.version_text);
            file.name.clone_from(&down_of.name);
        }
    }
    let mut python = python;
    python.sort_by(|a, b| (a.version, &a.name).cmp(&(b.version, &b.name)));
    let (kept, version_width) = versions::check_versions(
        &found,
        &stems,
        &python,
        &misnamed,
        options,
        &mut diagnostics,
    );
    let mut file_versions: Vec<u64> = stems.iter().map(|stem| stem.version).collect();
    // confiture (Python)'s migrations take their versions too: `generate` must not reuse one.
    file_versions.extend(python.iter().map(|f| f.version));
    file_versions.sort_unstable();
    file_versions.dedup();
    let mut set = build_set(dir, found, &stems, &kept, misnamed);
    set.python = python;
    diagnostics.extend(stray_subdirectories(&subdirectories, &set).map(|p| subdirectory(p)));

    diagnostics.sort_by(|a, b| {
        (report_order(&a.path), a.line, a.code).cmp(&(report_order(&b.path), b.line, b.code))
    });
    Checked {
        set,
        diagnostics,
        file_versions,
        first_version: options.first_version,
        version_width,
    }
}

/// The entries of a directory sorted by what they are, before any file is inspected.
#[derive(Default)]
struct Classified {
    /// The well-named `.sql` files, readable or not.
    found: Vec<Found>,
    /// The badly named readable `.sql` files. They wait until every name in the directory is
    /// known: a corrected name that another entry already has is not suggested.
    /// Each with the sections of another tool's single-file format it holds
    /// ([`rules::other_tool_sections`]), which its help says how to split.
    bad_names: Vec<(PathBuf, name::BadName, Vec<rules::OtherToolSection>)>,
    /// The badly named readable `.sql` files whose corrected name gives a version.
    misnamed: Vec<IncompleteFile>,
    subdirectories: Vec<PathBuf>,
    /// confiture (Python)'s migrations (`<VERSION>_<NAME>.py`).
    python: Vec<super::PythonFile>,
    /// What is known to be wrong already: subdirectories, unreadable entries, names that are
    /// not UTF-8.
    diagnostics: Vec<Diagnostic>,
    /// What the files inspected when read reported ([`Read::Inspected`]).
    inspected: Vec<Diagnostic>,
}

impl Classified {
    fn new(entries: Vec<Read>) -> Classified {
        let mut classified = Classified {
            found: Vec::with_capacity(entries.len()),
            ..Classified::default()
        };
        for entry in entries {
            match entry {
                Read::Entry(entry) => classified.add(entry),
                Read::Inspected(Inspected { found, diagnostics }) => {
                    classified.found.push(found);
                    classified.inspected.extend(diagnostics);
                }
            }
        }
        classified
    }

    fn add(&mut self, entry: Entry) {
        let (path, bytes) = match entry {
            Entry::Dir { path } => {
                // Reported once the set is known ([`stray_subdirectories`]).
                self.subdirectories.push(path);
                return;
            }
            Entry::Unreadable { path, error } => {
                self.diagnostics.push(unreadable(&path, &error));
                let file_name = path.file_name().and_then(|n| n.to_str());
                if file_name.is_some_and(name::is_python_migration_name) {
                    // confiture (Python)'s migration (a link to nowhere): its version is on
                    // disk all the same, as a readable one's is.
                    return self.add(Entry::Python { path });
                }
                // Still counts as present if well named, so that its other half is not
                // reported as missing, and its migration is unreadable, not missing.
                (path, Err(error))
            }
            Entry::File { path, bytes } => (path, Ok(bytes)),
            Entry::Unversioned { path } => {
                self.add_unversioned(path);
                return;
            }
            Entry::Python { path } => {
                let bad = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(name::bad_python_name);
                match bad {
                    Some(bad) => self.bad_names.push((path, bad, Vec::new())),
                    None => self.python.extend(super::PythonFile::of(path)),
                }
                return;
            }
        };
        self.add_file(path, bytes);
    }

    /// A `.sql` file left unread, its name giving no version: a bad name (`C006`), by its
    /// name alone. One whose name does give a version (an entry made by hand) is a file not
    /// read, as an unreadable one is.
    fn add_unversioned(&mut self, path: PathBuf) {
        let Some(file_name) = path.file_name() else {
            return;
        };
        let Some(file_name) = file_name.to_str() else {
            self.diagnostics.push(names::not_utf8(&path));
            return;
        };
        if !name::is_sql_file_name(file_name) || name::is_verify_sidecar(file_name) {
            return;
        }
        match name::parse_file_name(file_name) {
            Err(bad) if name::corrected(&bad).is_none() => {
                self.bad_names.push((path, bad, Vec::new()));
            }
            _ => {
                let error = "its contents were not read".to_string();
                self.add(Entry::Unreadable { path, error });
            }
        }
    }

    /// A file (`bytes` is why not when it could not be read): well named, badly named, or
    /// not a `.sql` file (left out).
    fn add_file(&mut self, path: PathBuf, bytes: Result<Vec<u8>, String>) {
        let Some(file_name) = path.file_name() else {
            return;
        };
        let Some(file_name) = file_name.to_str() else {
            if bytes.is_ok() && name::is_sql_file_name(&file_name.to_string_lossy()) {
                self.diagnostics.push(names::not_utf8(&path));
            }
            return;
        };
        if !name::is_sql_file_name(file_name) || name::is_verify_sidecar(file_name) {
            // Not a migration; a `.verify.sql` sidecar is confiture (Python)'s.
            return;
        }
        match name::parse_file_name(file_name) {
            Ok(parsed) => {
                let file = Found::new(&path, &parsed);
                let (bytes, unreadable) = match bytes {
                    Ok(bytes) => (Some(bytes), None),
                    Err(error) => (None, Some(error)),
                };
                self.found.push(Found {
                    path,
                    bytes,
                    unreadable,
                    ..file
                });
            }
            Err(bad) => {
                let Ok(bytes) = bytes else { return };
                if let Some(parsed) = name::corrected(&bad) {
                    self.misnamed.push(IncompleteFile {
                        path: path.clone(),
                        version: parsed.version,
                        version_text: parsed.version_text.to_string(),
                        name: parsed.name.to_string(),
                        direction: parsed.kind,
                        checksum: checksum(&bytes),
                        misnamed: true,
                    });
                }
                // A file in another tool's single-file format (dbmate's `001_a.sql`): its
                // help says where to split it.
                let sections = std::str::from_utf8(&bytes)
                    .map(|text| rules::other_tool_sections(text::without_bom(text)))
                    .unwrap_or_default();
                self.bad_names.push((path, bad, sections));
            }
        }
    }
}

/// The order problems are reported in: by path, except that a pair's up file comes before its
/// down file (`001_a.up.sql`, then `001_a.down.sql`), as a reader goes through a migration.
fn report_order(path: &Path) -> (&[u8], u8) {
    let bytes = path.as_os_str().as_encoded_bytes();
    if let Some(stem) = bytes.strip_suffix(b".up.sql") {
        (stem, 0)
    } else if let Some(stem) = bytes.strip_suffix(b".down.sql") {
        (stem, 1)
    } else {
        (bytes, 0)
    }
}

impl Entry {
    /// The path of the entry, whatever its kind.
    pub fn path(&self) -> &Path {
        match self {
            Entry::File { path, .. }
            | Entry::Unversioned { path }
            | Entry::Dir { path }
            | Entry::Python { path }
            | Entry::Unreadable { path, .. } => path,
        }
    }
}

impl Found {
    /// `parsed` borrows the file name of `path`; only offsets into the path are kept.
    fn new(path: &Path, parsed: &FileName<'_>) -> Found {
        let path_bytes = path.as_os_str().as_encoded_bytes();
        // The file name is a subslice of the path: its offset is the distance between the two.
        let name_start = (parsed.version_text.as_ptr() as usize)
            .checked_sub(path_bytes.as_ptr() as usize)
            .filter(|&start| start <= path_bytes.len())
            .unwrap_or(path_bytes.len());
        Found {
            path: PathBuf::new(),
            name_start,
            version: parsed.version,
            version_end: parsed.version_text.len(),
            stem_end: parsed.version_text.len() + 1 + parsed.name.len(),
            kind: parsed.kind,
            bytes: None,
            contents: None,
            unreadable: None,
        }
    }
}

/// The file name of `path`, as text for messages ([`crate::display::file_name`]).
fn file_name_of(path: &Path) -> String {
    crate::display::file_name(path)
}

/// The subdirectory confiture (Python)'s `migrate squash` moves the migrations it squashed
/// into, beside its baseline (`<migrations-dir>/archive/`).
const PYTHON_ARCHIVE: &str = "archive";

/// The subdirectories C012 reports: all but confiture (Python)'s [`PYTHON_ARCHIVE`] when the
/// set holds its squashed baseline ([`SqlFile::squashed_through`]), whose layout it is.
fn stray_subdirectories<'p>(
    subdirectories: &'p [PathBuf],
    set: &MigrationSet,
) -> impl Iterator<Item = &'p PathBuf> {
    let squashed = (set.migrations.iter()).any(|m| m.up.squashed_through.is_some());
    subdirectories.iter().filter(move |path| {
        !(squashed && path.file_name() == Some(std::ffi::OsStr::new(PYTHON_ARCHIVE)))
    })
}

fn subdirectory(path: &Path) -> Diagnostic {
    let message = format!(
        "`{}` is a subdirectory: migrations in it are not read",
        file_name_of(path)
    );
    let help =
        "move its migrations up into the migrations directory, or move it elsewhere".to_string();
    diagnostic(&SUBDIRECTORY, path, None, message, help)
}

fn unreadable(path: &Path, error: &str) -> Diagnostic {
    let shown = crate::display::file_name(path);
    let message = format!("cannot read `{shown}`: {error}");
    // One help for every reason (the reason is words, never decided on): each shape's fix.
    let help = "make it a readable file: fix its permissions or the symbolic link; a directory, \
                a FIFO, a device or a file the system makes (under `/proc`, `/sys` or `/dev`) \
                in a migration's place is no migration file: put the migration's file there \
                instead; remove it only if it is no migration: an \
                applied migration's files must stay"
        .to_string();
    diagnostic(&UNREADABLE_FILE, path, None, message, help)
}

/// `C010` for a `.sql` entry of `drift --schema-dir`'s directory that cannot be read (a broken
/// or looping symbolic link, a FIFO, no permission): the migrations directory's rule, with a
/// help about a schema file.
#[cfg(feature = "db")]
pub(crate) fn unreadable_schema_file(path: &Path, error: &str) -> Diagnostic {
    let shown = crate::display::path(path);
    let message = format!("cannot read `{shown}`: {error}");
    let help = "make it a readable file (fix its permissions or the symbolic link), or move it \
                out of the schema directory"
        .to_string();
    diagnostic(&UNREADABLE_FILE, path, None, message, help)
}

/// Inspects the contents of every readable well-named file, on a few threads when there are
/// many: with the SQL rules, this is where the time goes. A directory of 500 migrations (1,000
/// files) is already inspected on two threads.
fn inspect_all(found: &mut [Found], tracking_table: &str) -> Vec<Diagnostic> {
    const PER_THREAD: usize = 512;
    if found.iter().all(|file| file.bytes.is_none()) {
        // Inspected when read (`files::load`), or unreadable: no thread for nothing.
        return Vec::new();
    }
    let inspect = |files: &mut [Found]| -> Vec<Diagnostic> {
        let mut diagnostics = Vec::new();
        for file in files {
            if let Some(bytes) = file.bytes.take() {
                match read_contents(
                    &file.path,
                    file.kind,
                    bytes,
                    tracking_table,
                    &mut diagnostics,
                ) {
                    Ok(contents) => file.contents = Some(contents),
                    Err(reason) => file.unreadable = Some(reason),
                }
            }
        }
        diagnostics
    };
    super::fan_out(found, PER_THREAD, inspect)
}

/// Decodes and inspects one well-named file: encoding, BOM, line endings, emptiness, markers
/// and the SQL rules. `Err` with the reason when it is not UTF-8.
fn read_contents(
    path: &Path,
    kind: Direction,
    bytes: Vec<u8>,
    tracking_table: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<Contents, String> {
    let checksum = checksum(&bytes);
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let (diagnostic, reason) = contents::invalid_utf8(path, &err);
            diagnostics.push(diagnostic);
            return Err(reason);
        }
    };
    let bom = text::bom_len(&text);
    diagnostics.extend(contents::byte_order_mark(path, kind, &text, bom));
    diagnostics.extend(contents::crlf_line_endings(path, &text));
    diagnostics.extend(contents::lone_cr_line_endings(path, &text));
    diagnostics.extend(contents::nul_byte(path, &text));
    let (sql_diagnostics, markers, statements) =
        rules::check_file(path, &text, kind, tracking_table);
    diagnostics.extend(contents::no_sql(
        path,
        &text[bom..],
        &statements,
        kind,
        markers.irreversible,
    ));
    diagnostics.extend(sql_diagnostics);

    let mode = if markers.no_transaction {
        TransactionMode::NoTransaction
    } else {
        TransactionMode::Transaction
    };
    Ok(Contents {
        text,
        checksum,
        mode,
        irreversible: markers.irreversible,
        destructive: markers.destructive,
        // confiture (Python) reads its header on the up file only.
        squashed_through: markers.squashed_through.filter(|_| kind == Direction::Up),
        statements,
    })
}

/// Groups the sorted files into stems (the halves of a pair are adjacent) and reports missing
/// halves. The stems are in version order, ties in name order.
///
/// `misnamed`: the badly named files whose corrected name gives a version (C006 tells each its
/// corrected name). A half whose other half is there misnamed — its corrected name is the
/// missing half's — is not reported: renaming that file, as its C006 says, makes the pair. A
/// misnamed file of the version under another name is named as the half it may be.
fn pair(
    found: &[Found],
    misnamed: &[IncompleteFile],
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Stem> {
    let mut stems: Vec<Stem> = Vec::with_capacity(found.len() / 2 + 1);
    for (i, file) in found.iter().enumerate() {
        let same_stem = stems
            .last()
            .is_some_and(|stem: &Stem| found[stem.main_file()].stem_bytes() == file.stem_bytes());
        if !same_stem {
            stems.push(Stem {
                version: file.version,
                up: None,
                down: None,
            });
        }
        let Some(stem) = stems.last_mut() else {
            continue;
        };
        match file.kind {
            Direction::Up => stem.up = Some(i),
            Direction::Down => stem.down = Some(i),
        }
    }
    for stem in &stems {
        let (file, missing) = match (stem.up, stem.down) {
            (Some(up), None) => (&found[up], Direction::Down),
            (None, Some(down)) => (&found[down], Direction::Up),
            _ => continue,
        };
        if file.unreadable.is_some() && file.path.is_dir() {
            // `002_x.up.sql/`, a directory: its C010 says it is no file, which is the one
            // thing to fix; whether it was meant as a migration, whose other half is missing,
            // is not known.
            continue;
        }
        let others = other_halves(file, missing, &stems, found, misnamed);
        if others.iter().any(|other| other.is_this_half) {
            // Its C006 says to rename it to exactly the missing half: nothing else to do.
            continue;
        }
        diagnostics.push(missing_half(file, missing, &others));
    }
    stems
}

/// The name a down file should have: its up file's `<VERSION>_<NAME>` (`up_stem`, corrected
/// when the up file is misnamed) with `.down.sql`. The up file names the migration — the
/// ledger records its name once it is applied — so the down file follows it, never the
/// reverse: the one answer C001, C002 and C006 give.
fn down_file_name(up_stem: &str) -> String {
    half_file_name(up_stem, Direction::Down)
}

/// The file name of the `direction` half of the migration `stem` (`001_a`): `001_a.up.sql`.
pub(crate) fn half_file_name(stem: &str, direction: Direction) -> String {
    format!("{stem}.{direction}.sql")
}

/// For each of the `misnamed` files (in order): the up file it is taken to be the down file
/// of, when its name gives another `<NAME>` ([`names::DownOf`]). That is when its version has
/// one up file without a down file (well named or misnamed: by its corrected name) and this is
/// its one down file without an up file; `None` for any other file, and when the version has
/// several of either (which goes with which is not guessed). `found` is sorted by version.
fn down_of(found: &[Found], misnamed: &[IncompleteFile]) -> Vec<Option<names::DownOf>> {
    let mut out: Vec<Option<names::DownOf>> = misnamed.iter().map(|_| None).collect();
    if !misnamed.iter().any(|f| f.direction == Direction::Down) {
        return out;
    }
    let stem_of = |f: &IncompleteFile| format!("{}_{}", f.version_text, f.name);
    for (at, down) in misnamed.iter().enumerate() {
        if down.direction != Direction::Down {
            continue;
        }
        // The halves of its version, well named and misnamed: (stem, direction, the file as
        // it is named, whether misnamed, its index in `misnamed`).
        let from = found.partition_point(|f| f.version < down.version);
        let mut halves: Vec<(String, Direction, String, Option<usize>)> = found[from..]
            .iter()
            .take_while(|f| f.version == down.version)
            .map(|f| {
                (
                    f.stem().to_string(),
                    f.kind,
                    f.file_name().to_string(),
                    None,
                )
            })
            .collect();
        halves.extend(
            (misnamed.iter().enumerate())
                .filter(|(_, f)| f.version == down.version)
                .map(|(i, f)| (stem_of(f), f.direction, file_name_of(&f.path), Some(i))),
        );
        let lone = |direction: Direction| -> Vec<&(String, Direction, String, Option<usize>)> {
            let other = direction.opposite();
            (halves.iter())
                .filter(|h| h.1 == direction)
                .filter(|h| !halves.iter().any(|o| o.1 == other && o.0 == h.0))
                .collect()
        };
        let (ups, downs) = (lone(Direction::Up), lone(Direction::Down));
        let ([up], [this]) = (ups.as_slice(), downs.as_slice()) else {
            continue;
        };
        if this.3 != Some(at) {
            continue;
        }
        let (version_text, name) = up.0.split_once('_').unwrap_or_default();
        out[at] = Some(names::DownOf {
            up_file: up.2.clone(),
            file_name: down_file_name(&up.0),
            version_text: version_text.to_string(),
            name: name.to_string(),
        });
    }
    out
}

/// A file that may be the missing half of a well-named file: one of the same version whose
/// own pair lacks that half, well named under another name, or misnamed.
struct OtherHalf<'a> {
    path: &'a Path,
    /// Its file name as it is on disk.
    file_name: String,
    /// `003_x`: its own stem, or its corrected one when misnamed.
    stem: String,
    misnamed: bool,
    /// Misnamed, and its corrected name is the missing half's.
    is_this_half: bool,
}

/// The files that may be `file`'s `missing` half ([`OtherHalf`]): stems of its version with
/// only the other half (`003_x.up.sql` beside `003_y.down.sql`), and misnamed files of its
/// version on that side whose corrected pair has no such half either.
fn other_halves<'a>(
    file: &Found,
    missing: Direction,
    stems: &[Stem],
    found: &'a [Found],
    misnamed: &'a [IncompleteFile],
) -> Vec<OtherHalf<'a>> {
    // Stems are in version order: those of this version are adjacent.
    let from = stems.partition_point(|other| other.version < file.version);
    let mut others: Vec<OtherHalf<'a>> = stems[from..]
        .iter()
        .take_while(|other| other.version == file.version)
        .filter_map(|other| match (other.up, other.down, missing) {
            (None, Some(half), Direction::Down) | (Some(half), None, Direction::Up) => {
                Some(&found[half])
            }
            _ => None,
        })
        .filter(|other| other.stem_bytes() != file.stem_bytes())
        .map(|other| OtherHalf {
            path: &other.path,
            file_name: other.file_name().to_string(),
            stem: other.stem().to_string(),
            misnamed: false,
            is_this_half: false,
        })
        .collect();
    let stem_of = |f: &IncompleteFile| format!("{}_{}", f.version_text, f.name);
    // Whether a file well named or misnamed has `stem` and is the `direction` half.
    let has_half = |stem: &str, direction: Direction| {
        let well_named = found
            .iter()
            .any(|f| f.kind == direction && f.stem() == stem);
        well_named || (misnamed.iter()).any(|f| f.direction == direction && stem_of(f) == stem)
    };
    let opposite = Direction::opposite;
    for f in misnamed {
        if f.version != file.version || f.direction != missing {
            continue;
        }
        let stem = stem_of(f);
        let is_this_half = stem == file.stem();
        if !is_this_half && has_half(&stem, opposite(missing)) {
            // The half of a pair of its own, misnamed.
            continue;
        }
        others.push(OtherHalf {
            path: &f.path,
            file_name: file_name_of(&f.path),
            stem,
            misnamed: true,
            is_this_half,
        });
    }
    others
}

/// C001 or C002: `file` has no `missing` half; `others` may be it.
fn missing_half(file: &Found, missing: Direction, others: &[OtherHalf<'_>]) -> Diagnostic {
    let stem = file.stem();
    let rule = match missing {
        Direction::Down => &MISSING_DOWN,
        Direction::Up => &MISSING_UP,
    };
    let (message, help) = match (others, missing) {
        ([], Direction::Down) => (
            format!("`{}` has no down file", file.file_name()),
            format!(
                "create `{stem}.down.sql` with the SQL that reverses it; if it cannot be reversed, put the line `{IRREVERSIBLE_MARKER}` in it"
            ),
        ),
        ([], Direction::Up) => (
            format!("`{}` has no up file", file.file_name()),
            format!(
                "restore `{stem}.up.sql`, or rename this file so that its `<VERSION>_<NAME>` matches its up file"
            ),
        ),
        // The down file takes the up file's name ([`down_file_name`]), as a misnamed down
        // file's C006 says too.
        ([other, ..], Direction::Down) => (
            format!(
                "`{}` has no down file; `{}` has its version but {}",
                file.file_name(),
                other.file_name,
                if other.misnamed { "is misnamed" } else { "another name" }
            ),
            format!(
                "if `{}` is its down file, rename it to `{down}`; else create `{down}`",
                other.file_name,
                down = down_file_name(stem),
            ),
        ),
        ([other, ..], Direction::Up) => (
            format!(
                "`{}` has no up file; `{}` has its version but {}",
                file.file_name(),
                other.file_name,
                if other.misnamed { "is misnamed" } else { "another name" }
            ),
            format!(
                "if `{}` is its up file, rename this file to `{}`{}; else restore `{stem}.up.sql`",
                other.file_name,
                down_file_name(&other.stem),
                if other.misnamed {
                    format!(" and that one to `{}.up.sql`", other.stem)
                } else {
                    String::new()
                },
            ),
        ),
    };
    let mut d = diagnostic(rule, &file.path, None, message, help);
    d.related = others.iter().map(|f| f.path.to_path_buf()).collect();
    d
}

/// The set: every kept stem whose two files were read as UTF-8, in version order (the others,
/// second pairs of a version, in [`MigrationSet::duplicates`]); every
/// well-named file that could not be read as text ([`MigrationSet::unreadable`]); and every
/// file read as text whose pair has no other half, and the `misnamed` files
/// ([`MigrationSet::incomplete`]).
fn build_set(
    dir: &Path,
    found: Vec<Found>,
    stems: &[Stem],
    kept: &[bool],
    misnamed: Vec<IncompleteFile>,
) -> MigrationSet {
    let unreadable: Vec<UnreadableFile> = found
        .iter()
        .filter_map(|f| {
            let error = f.unreadable.clone()?;
            Some(UnreadableFile {
                path: f.path.clone(),
                version: f.version,
                version_text: f.version_text().to_string(),
                name: f.name().to_string(),
                direction: f.kind,
                error,
            })
        })
        .collect();
    let mut incomplete: Vec<IncompleteFile> = stems
        .iter()
        .filter_map(|stem| match (stem.up, stem.down) {
            (Some(half), None) | (None, Some(half)) => {
                let f = &found[half];
                Some(IncompleteFile {
                    path: f.path.clone(),
                    version: f.version,
                    version_text: f.version_text().to_string(),
                    name: f.name().to_string(),
                    direction: f.kind,
                    checksum: f.contents.as_ref()?.checksum.clone(),
                    misnamed: false,
                })
            }
            _ => None,
        })
        .collect();
    incomplete.extend(misnamed);
    incomplete.sort_by_key(|f| f.version);
    let mut slots: Vec<Option<Found>> = found.into_iter().map(Some).collect();
    let mut migrations = Vec::with_capacity(stems.len());
    let mut duplicates = Vec::new();
    for (stem, &kept) in stems.iter().zip(kept) {
        let (Some(up), Some(down)) = (stem.up, stem.down) else {
            continue;
        };
        if slots[up]
            .as_ref()
            .and_then(|f| f.contents.as_ref())
            .is_none()
        {
            continue;
        }
        if slots[down]
            .as_ref()
            .and_then(|f| f.contents.as_ref())
            .is_none()
        {
            continue;
        }
        let (Some(up), Some(down)) = (slots[up].take(), slots[down].take()) else {
            continue;
        };
        let version_text = up.version_text().to_string();
        let name = up.name().to_string();
        let (Some(up_file), Some(mut down_file)) = (sql_file(up), sql_file(down)) else {
            continue;
        };
        // confiture (Python)'s squashed baseline: its down file always raises.
        down_file.irreversible |= up_file.squashed_through.is_some();
        let migration = Migration {
            version: stem.version,
            version_text,
            name,
            up: up_file,
            down: down_file,
        };
        match kept {
            true => migrations.push(migration),
            false => duplicates.push(migration),
        }
    }
    MigrationSet {
        unreadable,
        incomplete,
        duplicates,
        ..MigrationSet::new(dir, migrations)
    }
}

fn sql_file(found: Found) -> Option<SqlFile> {
    let contents = found.contents?;
    Some(SqlFile {
        path: found.path,
        text: contents.text,
        checksum: contents.checksum,
        mode: contents.mode,
        irreversible: contents.irreversible,
        destructive: contents.destructive,
        squashed_through: contents.squashed_through,
        statements: contents.statements,
    })
}
