//! The file-level rules (`C001`–`C099`): pairing, numbering, names, encoding and emptiness,
//! each with its documentation. [`check`] runs them all over the entries of a directory.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::name::{self, FileName, FILE_FORM};
use super::rules;
use super::Direction;
use super::{
    checksum, CheckOptions, Checked, Entry, Migration, MigrationSet, SqlFile, StatementSpan,
    TransactionMode,
};
use crate::diagnostic::{Diagnostic, RuleDoc, Severity, Span};
use crate::text;

const CONFIG_TABLE: &str = "`[workspace.metadata.confiture]` of the workspace's Cargo.toml";
const IRREVERSIBLE_MARKER: &str = "-- confiture:irreversible";

pub const MISSING_DOWN: RuleDoc = RuleDoc {
    code: "C001",
    name: "missing-down",
    severity: Severity::Error,
    summary: "an up file has no down file",
    explanation: "Every migration is a pair: `<VERSION>_<NAME>.up.sql` applies the change and \
`<VERSION>_<NAME>.down.sql` reverses it. A missing down file is found now rather than on the day \
a rollback is needed. Write the SQL that undoes the up file, in reverse order. If the change \
cannot be undone (data is destroyed), create the down file with the line \
`-- confiture:irreversible`: rolling back is then refused with exit code 8.",
};

pub const MISSING_UP: RuleDoc = RuleDoc {
    code: "C002",
    name: "missing-up",
    severity: Severity::Error,
    summary: "a down file has no up file",
    explanation: "A down file without its up file is usually a rename that missed one half of the \
pair, or an up file deleted by mistake. Rename the files so that both halves have the same \
`<VERSION>_<NAME>`, or restore the up file from version control.",
};

pub const DUPLICATE_VERSION: RuleDoc = RuleDoc {
    code: "C003",
    name: "duplicate-version",
    severity: Severity::Error,
    summary: "two migrations use the same version",
    explanation: "Two branches that each added a migration with the next number were merged. \
Versions must be unique: the ledger records migrations by version, and which of the two runs \
first would be an accident. Renumber the migration that is not applied anywhere yet (usually \
the one from the branch merged last) to the next free version; the diagnostic names it.",
};

pub const VERSION_GAP: RuleDoc = RuleDoc {
    code: "C004",
    name: "version-gap",
    severity: Severity::Error,
    summary: "a version is missing from the sequence",
    explanation:
        "Versions are consecutive integers. A gap usually means a migration was deleted or \
a file was renamed with the wrong number. If a migration was deleted by mistake, restore it from \
version control (a migration applied to any database must never be removed); otherwise renumber \
the later migrations to close the gap.",
};

pub const FIRST_VERSION: RuleDoc = RuleDoc {
    code: "C005",
    name: "first-version",
    severity: Severity::Error,
    summary: "the first version is not 1 (or the configured `first_version`)",
    explanation: "The sequence starts at version 1. A history whose old migrations were squashed \
into a schema snapshot starts later: say so with `first_version = N` in \
`[workspace.metadata.confiture]` of the workspace's Cargo.toml. Versions below `first_version` \
are errors too.",
};

pub const BAD_FILE_NAME: RuleDoc = RuleDoc {
    code: "C006",
    name: "bad-file-name",
    severity: Severity::Error,
    summary: "a `.sql` file's name is not `<VERSION>_<NAME>.up.sql` or `.down.sql`",
    explanation: "A `.sql` file in the migrations directory is meant to be a migration, so a name \
that does not follow the form is reported rather than silently skipped (a skipped migration \
never runs). VERSION is at least 3 ASCII digits (`001`), NAME is lowercase snake_case starting \
with a letter, then `.up.sql` or `.down.sql`. The diagnostic suggests the corrected name when it \
can guess it, never a name another file already has (nor one it suggests for another file). Names \
are ASCII: a Latin letter with a diacritic is spelt without it in the suggestion (`café` → `cafe`, \
said in the help), and a letter with no ASCII spelling (`数`) is named rather than dropped. Files \
that do not end in `.sql` (README.md, .gitkeep) are ignored.",
};

pub const EMPTY_UP: RuleDoc = RuleDoc {
    code: "C007",
    name: "empty-up",
    severity: Severity::Error,
    summary: "an up file has no SQL (only whitespace or comments)",
    explanation:
        "An up file that does nothing would still be recorded as applied, which is almost \
always a migration generated and then forgotten. Write its SQL, or delete the pair if it is not \
needed.",
};

pub const EMPTY_DOWN: RuleDoc = RuleDoc {
    code: "C008",
    name: "empty-down",
    severity: Severity::Error,
    summary: "a down file has no SQL and is not marked `-- confiture:irreversible`",
    explanation: "An empty down file would make a rollback silently do nothing while removing the \
migration from the ledger. Write the SQL that reverses the up file, or, if the change cannot be \
reversed, add the line `-- confiture:irreversible`: rolling back is then refused with exit code 8.",
};

pub const INVALID_UTF8: RuleDoc = RuleDoc {
    code: "C009",
    name: "invalid-utf8",
    severity: Severity::Error,
    summary: "a migration file is not valid UTF-8",
    explanation: "Migration files are UTF-8 text. A file saved in another encoding (Latin-1, \
UTF-16) would send different characters to the database than the ones you see. Convert it to \
UTF-8; the diagnostic gives the line of the first invalid byte.",
};

pub const UNREADABLE_FILE: RuleDoc = RuleDoc {
    code: "C010",
    name: "unreadable-file",
    severity: Severity::Error,
    summary: "an entry of the migrations directory cannot be read",
    explanation:
        "Permissions, a broken symbolic link or a symbolic-link loop keep a file from being \
read, and a directory named like a migration file (`002_x.up.sql/`) is not a file. It may be a \
migration, so it is an error rather than skipped. Fix the permissions or the link, or remove the \
entry.",
};

pub const MIXED_VERSION_WIDTH: RuleDoc = RuleDoc {
    code: "C011",
    name: "mixed-version-width",
    severity: Severity::Warning,
    summary: "versions are zero-padded to different widths",
    explanation: "Versions compare as integers, so `0004` and `005` are in the right order for \
confiture, but the files no longer sort in order in a directory listing, and the ledger keeps \
the version text as written. Rename the odd one out if it is not applied anywhere yet; \
`migrate generate` keeps the width of the highest version.",
};

pub const SUBDIRECTORY: RuleDoc = RuleDoc {
    code: "C012",
    name: "subdirectory",
    severity: Severity::Warning,
    summary: "the migrations directory has a subdirectory, which is not read",
    explanation: "Migrations are read from the migrations directory itself, not from \
subdirectories, so migrations placed in one never run. Move them up into the migrations \
directory, or move the subdirectory elsewhere.",
};

pub const CRLF_LINE_ENDINGS: RuleDoc = RuleDoc {
    code: "C013",
    name: "crlf-line-endings",
    severity: Severity::Warning,
    summary: "a migration file has CRLF line endings",
    explanation: "The ledger's checksum is taken over the file's raw bytes, so a checkout that \
converts line endings (git's `core.autocrlf`) makes an applied migration look modified. Convert \
the file to LF line endings if it is not applied anywhere yet, and add `*.sql -text` to \
`.gitattributes` so that every checkout has the same bytes.",
};

pub const BYTE_ORDER_MARK: RuleDoc = RuleDoc {
    code: "C014",
    name: "byte-order-mark",
    severity: Severity::Warning,
    summary: "a migration file starts with a UTF-8 byte-order mark",
    explanation:
        "Editors add or drop a byte-order mark silently, which changes the checksum of an \
applied migration. Save the file without a byte-order mark if it is not applied anywhere yet.",
};

/// In code order: the source of `files::FILE_RULES`.
pub const ALL: &[RuleDoc] = &[
    MISSING_DOWN,
    MISSING_UP,
    DUPLICATE_VERSION,
    VERSION_GAP,
    FIRST_VERSION,
    BAD_FILE_NAME,
    EMPTY_UP,
    EMPTY_DOWN,
    INVALID_UTF8,
    UNREADABLE_FILE,
    MIXED_VERSION_WIDTH,
    SUBDIRECTORY,
    CRLF_LINE_ENDINGS,
    BYTE_ORDER_MARK,
];

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
}

struct Contents {
    text: String,
    checksum: String,
    mode: TransactionMode,
    irreversible: bool,
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
    /// Zero-padded: `007` fits exactly its own width, `1234` any width up to its length.
    fn version_is_padded(&self) -> bool {
        self.version_end > 1 && self.name_bytes().first() == Some(&b'0')
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
    let mut diagnostics = Vec::new();
    let mut found: Vec<Found> = Vec::with_capacity(entries.len());
    // Badly named files wait until every name in the directory is known: a corrected name
    // that another entry already has is not suggested.
    let mut bad_names: Vec<(PathBuf, name::BadName)> = Vec::new();
    let mut subdirectories: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let (path, bytes) = match entry {
            Entry::Dir { path } => {
                diagnostics.push(subdirectory(&path));
                subdirectories.push(path);
                continue;
            }
            Entry::Unreadable { path, error } => {
                let shown = path
                    .file_name()
                    .unwrap_or(path.as_os_str())
                    .to_string_lossy();
                let message = format!("cannot read `{shown}`: {error}");
                let help = "make it a readable file (fix its permissions or the symbolic link), \
                            or remove it"
                    .to_string();
                diagnostics.push(diagnostic(&UNREADABLE_FILE, &path, None, message, help));
                // Still counts as present if well named, so that its other half is not
                // reported as missing.
                (path, None)
            }
            Entry::File { path, bytes } => (path, Some(bytes)),
        };
        let Some(file_name) = path.file_name() else {
            continue;
        };
        let Some(file_name) = file_name.to_str() else {
            if bytes.is_some() && name::is_sql_file_name(&file_name.to_string_lossy()) {
                let reason = "its name is not valid UTF-8".to_string();
                let bad = name::BadName {
                    reason,
                    suggestion: None,
                    non_ascii: Vec::new(),
                };
                diagnostics.push(bad_name(&path, bad, None));
            }
            continue;
        };
        if !name::is_sql_file_name(file_name) {
            continue;
        }
        match name::parse_file_name(file_name) {
            Ok(parsed) => {
                let file = Found::new(&path, &parsed);
                found.push(Found {
                    path,
                    bytes,
                    ..file
                });
            }
            Err(bad) if bytes.is_some() => bad_names.push((path, bad)),
            Err(_) => {}
        }
    }
    if !bad_names.is_empty() {
        let mut taken: HashSet<&OsStr> = found.iter().filter_map(|f| f.path.file_name()).collect();
        taken.extend(subdirectories.iter().filter_map(|p| p.file_name()));
        let suggestions: Vec<Option<&str>> = bad_names
            .iter()
            .map(|(_, bad)| bad.suggestion.as_deref())
            .collect();
        let conflicts = suggestion_conflicts(&suggestions, |s| taken.contains(OsStr::new(s)));
        for ((path, bad), conflict) in bad_names.iter().zip(conflicts) {
            let conflict = conflict.map(|c| match c {
                Conflict::Taken => SuggestionTaken::ByFile,
                Conflict::SameAs(other) => {
                    SuggestionTaken::AlsoFor(file_name_of(&bad_names[other].0))
                }
            });
            diagnostics.push(bad_name(path, bad.clone(), conflict));
        }
    }
    // The one full sort, of the well-named files only: by version (mostly decides, cheaply),
    // then name, then down before up. The halves of a pair end up adjacent, and the stems
    // come out in version order.
    found.sort_unstable_by(|a, b| {
        a.version
            .cmp(&b.version)
            .then_with(|| a.stem_bytes().cmp(b.stem_bytes()))
            .then_with(|| (a.kind == Direction::Up).cmp(&(b.kind == Direction::Up)))
    });
    diagnostics.extend(inspect_all(&mut found));

    let stems = pair(&found, &mut diagnostics);
    let kept = check_versions(&found, &stems, options, &mut diagnostics);
    let set = build_set(dir, found, &stems, &kept);

    diagnostics.sort_by(|a, b| {
        (report_order(&a.path), a.line, a.code).cmp(&(report_order(&b.path), b.line, b.code))
    });
    Checked { set, diagnostics }
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
            Entry::File { path, .. } | Entry::Dir { path } | Entry::Unreadable { path, .. } => path,
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
        }
    }
}

fn subdirectory(path: &Path) -> Diagnostic {
    let message = format!(
        "`{}` is a subdirectory: migrations in it are not read",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let help =
        "move its migrations up into the migrations directory, or move it elsewhere".to_string();
    diagnostic(&SUBDIRECTORY, path, None, message, help)
}

/// Why the corrected name of a badly named file is not suggested as is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SuggestionTaken {
    /// Another entry of the directory has that name.
    ByFile,
    /// It is also the corrected name of this other file.
    AlsoFor(String),
}

/// A suggestion that cannot be given as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conflict {
    /// `taken` says another entry has that name.
    Taken,
    /// The suggestion at this index is the same.
    SameAs(usize),
}

/// For each suggestion (of the badly named files, in order), whether it is taken by an entry
/// or suggested for another file too (then the first other one is named).
fn suggestion_conflicts(
    suggestions: &[Option<&str>],
    taken: impl Fn(&str) -> bool,
) -> Vec<Option<Conflict>> {
    let mut first_with: HashMap<&str, usize> = HashMap::new();
    let mut second_with: HashMap<&str, usize> = HashMap::new();
    for (i, s) in suggestions.iter().enumerate() {
        if let Some(s) = s {
            if first_with.contains_key(s) {
                second_with.entry(s).or_insert(i);
            } else {
                first_with.insert(s, i);
            }
        }
    }
    suggestions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let s = (*s)?;
            if taken(s) {
                return Some(Conflict::Taken);
            }
            let first = first_with[s];
            let other = if first == i {
                second_with.get(s).copied()
            } else {
                Some(first)
            };
            other.map(Conflict::SameAs)
        })
        .collect()
}

fn file_name_of(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn bad_name(path: &Path, bad: name::BadName, taken: Option<SuggestionTaken>) -> Diagnostic {
    let file_name = file_name_of(path);
    let message = format!("`{file_name}` is not a migration file name: {}", bad.reason);
    let spelt: Vec<String> = bad
        .non_ascii
        .iter()
        .filter_map(|n| n.ascii.map(|ascii| (n.letter, ascii)))
        .enumerate()
        .map(|(i, (letter, ascii))| {
            let written = if i == 0 { " written" } else { "" };
            format!("`{letter}`{written} as `{ascii}`")
        })
        .collect();
    let help = match (bad.suggestion, taken) {
        (Some(suggestion), None) if spelt.is_empty() => {
            format!("rename it to `{suggestion}`; migration files are named {FILE_FORM}")
        }
        (Some(suggestion), None) => format!(
            "rename it to `{suggestion}` ({}); migration files are named {FILE_FORM}",
            spelt.join(", ")
        ),
        (Some(suggestion), Some(SuggestionTaken::ByFile)) => format!(
            "its corrected name `{suggestion}` is taken by another file: if this one duplicates \
             it, delete it; otherwise give it another version or name; migration files are \
             named {FILE_FORM}"
        ),
        (Some(suggestion), Some(SuggestionTaken::AlsoFor(other))) => format!(
            "its corrected name `{suggestion}` is also that of `{other}`: rename one of them to \
             it and give the other another version or name; migration files are named \
             {FILE_FORM}"
        ),
        (None, _) if bad.non_ascii.iter().any(|n| n.ascii.is_none()) => {
            let unspelt: Vec<name::NonAscii> = bad
                .non_ascii
                .iter()
                .filter(|n| n.ascii.is_none())
                .copied()
                .collect();
            let verb = if unspelt.len() == 1 { "has" } else { "have" };
            format!(
                "migration files are named {FILE_FORM}; write the name in ASCII letters ({} \
                 {verb} no ASCII spelling here)",
                name::letter_list(&unspelt)
            )
        }
        (None, _) => format!(
            "migration files are named {FILE_FORM}; rename it, or give it another extension if it is not a migration"
        ),
    };
    diagnostic(&BAD_FILE_NAME, path, None, message, help)
}

/// Inspects the contents of every readable well-named file, on a few threads when there are
/// many: with the SQL rules, this is where the time goes.
fn inspect_all(found: &mut [Found]) -> Vec<Diagnostic> {
    const PER_THREAD: usize = 1024;
    let inspect = |files: &mut [Found]| -> Vec<Diagnostic> {
        let mut diagnostics = Vec::new();
        for file in files {
            if let Some(bytes) = file.bytes.take() {
                file.contents = read_contents(&file.path, file.kind, bytes, &mut diagnostics);
            }
        }
        diagnostics
    };
    super::fan_out(found, PER_THREAD, inspect)
}

/// Decodes and inspects one well-named file: encoding, BOM, line endings, emptiness, markers
/// and the SQL rules. `None` when it is not UTF-8.
fn read_contents(
    path: &Path,
    kind: Direction,
    bytes: Vec<u8>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Contents> {
    let checksum = checksum(&bytes);
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let bytes = err.as_bytes();
            let utf8 = err.utf8_error();
            let valid = utf8.valid_up_to();
            // The bytes before are valid: the line and column of the bad byte are counted there.
            let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
            let bad = utf8.error_len().unwrap_or(bytes.len() - valid);
            // A renderer shows the bad bytes as one replacement character: one column.
            let at = Span::of(before, valid..valid);
            let span = Span {
                end: valid + bad,
                end_column: at.column + 1,
                ..at
            };
            let message = format!(
                "file is not valid UTF-8: byte 0x{:02X} at line {}, column {}",
                bytes.get(valid).copied().unwrap_or_default(),
                span.line,
                span.column
            );
            let help = "convert it to UTF-8 (migration files are UTF-8 text)".to_string();
            diagnostics.push(diagnostic_at(&INVALID_UTF8, path, span, message, help));
            return None;
        }
    };

    let bom = text::bom_len(&text);
    if bom > 0 {
        let message = "file starts with a UTF-8 byte-order mark".to_string();
        let help = "save it without a byte-order mark if it is not applied anywhere yet (the checksum covers the raw bytes)".to_string();
        let span = Span::of(&text, 0..bom);
        diagnostics.push(diagnostic_at(&BYTE_ORDER_MARK, path, span, message, help));
    }
    let body = &text[bom..];
    if let Some(at) = text.find("\r\n") {
        let span = Span::of(&text, at..at + 2);
        let message = format!(
            "file has CRLF line endings (the first at line {})",
            span.line
        );
        let help = "convert it to LF if it is not applied anywhere yet, and add `*.sql -text` to .gitattributes so that every checkout has the same bytes (the checksum covers the raw bytes)".to_string();
        diagnostics.push(diagnostic_at(&CRLF_LINE_ENDINGS, path, span, message, help));
    }

    let (sql_diagnostics, markers, statements) = rules::check_file(path, &text, kind);
    if is_blank_sql(body) {
        match kind {
            Direction::Up => {
                let message = "up file has no SQL: it is empty or only comments".to_string();
                let help =
                    "write the migration's SQL, or delete the pair if it is not needed".to_string();
                diagnostics.push(diagnostic(&EMPTY_UP, path, None, message, help));
            }
            Direction::Down if !markers.irreversible => {
                let message = "down file has no SQL and is not marked irreversible".to_string();
                let help = format!(
                    "write the SQL that reverses the up file; if it cannot be reversed, add the line `{IRREVERSIBLE_MARKER}` (rolling back is then refused)"
                );
                diagnostics.push(diagnostic(&EMPTY_DOWN, path, None, message, help));
            }
            Direction::Down => {}
        }
    }
    diagnostics.extend(sql_diagnostics);

    let mode = if markers.no_transaction {
        TransactionMode::NoTransaction
    } else {
        TransactionMode::Transaction
    };
    Some(Contents {
        text,
        checksum,
        mode,
        irreversible: markers.irreversible,
        statements,
    })
}

/// Whether `sql` holds nothing to run: whitespace, `;`, `--` and (nested) `/* */` comments.
pub(super) fn is_blank_sql(sql: &str) -> bool {
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | b';' => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |p| i + p + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                // PostgreSQL block comments nest.
                let mut depth = 1;
                i += 2;
                while i < bytes.len() && depth > 0 {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
            }
            _ => return false,
        }
    }
    true
}

/// Groups the sorted files into stems (the halves of a pair are adjacent) and reports missing
/// halves. The stems are in version order, ties in name order.
fn pair(found: &[Found], diagnostics: &mut Vec<Diagnostic>) -> Vec<Stem> {
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
        match (stem.up, stem.down) {
            (Some(up), None) => {
                let file = &found[up];
                let message = format!("`{}` has no down file", file.file_name());
                let help = format!(
                    "create `{}.down.sql` with the SQL that reverses it; if it cannot be reversed, put the line `{IRREVERSIBLE_MARKER}` in it",
                    file.stem()
                );
                diagnostics.push(diagnostic(&MISSING_DOWN, &file.path, None, message, help));
            }
            (None, Some(down)) => {
                let file = &found[down];
                let message = format!("`{}` has no up file", file.file_name());
                let help = format!(
                    "restore `{}.up.sql`, or rename this file so that its `<VERSION>_<NAME>` matches its up file",
                    file.stem()
                );
                diagnostics.push(diagnostic(&MISSING_UP, &file.path, None, message, help));
            }
            _ => {}
        }
    }
    stems
}

/// Numbering: duplicates, the first version, gaps and padding widths. Returns, for each stem,
/// whether it is the one kept for its version (the first in name order that has an up file).
fn check_versions(
    found: &[Found],
    stems: &[Stem],
    options: &CheckOptions,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<bool> {
    let mut kept = vec![false; stems.len()];
    let Some(max_version) = stems.last().map(|s| s.version) else {
        return kept;
    };
    let mut next_free = max_version.saturating_add(1);

    let mut start = 0;
    while start < stems.len() {
        let version = stems[start].version;
        let end = start
            + stems[start..]
                .iter()
                .take_while(|s| s.version == version)
                .count();
        let group = start..end;
        let mut first: Option<usize> = None;
        for i in group.clone() {
            let Some(up) = stems[i].up else { continue };
            let Some(first) = first else {
                first = Some(i);
                kept[i] = true;
                continue;
            };
            let (kept_file, file) = (&found[stems[first].main_file()], &found[up]);
            let renumbered = name::version_text(next_free, file.version_text().len());
            next_free = next_free.saturating_add(1);
            let message = format!(
                "version {} is used by two migrations: `{}` and `{}`",
                file.version_text(),
                kept_file.stem(),
                file.stem()
            );
            let help = format!(
                "renumber the one not yet applied anywhere (usually the one from the branch merged last), e.g. rename `{stem}.up.sql` and `{stem}.down.sql` to `{renumbered}_{name}.up.sql` and `{renumbered}_{name}.down.sql` ({renumbered} is the next free version)",
                stem = file.stem(),
                name = file.name(),
            );
            diagnostics.push(diagnostic(
                &DUPLICATE_VERSION,
                &file.path,
                None,
                message,
                help,
            ));
        }
        start = end;
    }

    // The sequence, over distinct versions (a half-pair still takes its version). Versions
    // below `first_version` are reported once and left out, so they cause no gap.
    let first_version = options.first_version.unwrap_or(1);
    let mut previous: Option<u64> = None;
    let mut last_seen: Option<u64> = None;
    for stem in stems {
        if last_seen == Some(stem.version) {
            continue;
        }
        last_seen = Some(stem.version);
        let file = &found[stem.main_file()];
        let width = file.version_text().len();
        if stem.version < first_version {
            let first = name::version_text(first_version, width);
            let message = format!(
                "version {} comes before the first version, {first}",
                file.version_text()
            );
            let help = format!(
                "remove it if it was squashed into version {first}, or lower `first_version` in {CONFIG_TABLE}"
            );
            diagnostics.push(diagnostic(&FIRST_VERSION, &file.path, None, message, help));
            continue;
        }
        match previous {
            None if stem.version > first_version => {
                let expected = name::version_text(first_version, width);
                let message = format!(
                    "the first migration is version {}, but versions start at {expected}",
                    file.version_text()
                );
                let help = match options.first_version {
                    None => format!(
                        "renumber it to {expected}; if earlier migrations were squashed, set `first_version = {}` in {CONFIG_TABLE}",
                        stem.version
                    ),
                    Some(_) => format!(
                        "renumber it to {expected}, or change `first_version` in {CONFIG_TABLE}"
                    ),
                };
                diagnostics.push(diagnostic(&FIRST_VERSION, &file.path, None, message, help));
            }
            Some(previous) if stem.version > previous.saturating_add(1) => {
                let missing_from = name::version_text(previous + 1, width);
                let missing = if stem.version - previous == 2 {
                    format!("version {missing_from} is missing")
                } else {
                    format!(
                        "versions {missing_from} to {} are missing",
                        name::version_text(stem.version - 1, width)
                    )
                };
                let message = format!(
                    "version {} follows version {}: {missing}",
                    file.version_text(),
                    name::version_text(previous, width)
                );
                let help = format!(
                    "if a migration was deleted by mistake, restore it from version control; otherwise renumber `{}` to {missing_from}",
                    file.stem()
                );
                diagnostics.push(diagnostic(&VERSION_GAP, &file.path, None, message, help));
            }
            _ => {}
        }
        previous = Some(stem.version);
    }

    check_widths(found, stems, diagnostics);
    kept
}

/// Mixed zero-padding: the width most versions agree with wins; the others are reported.
fn check_widths(found: &[Found], stems: &[Stem], diagnostics: &mut Vec<Diagnostic>) {
    // A padded text (`007`) fits exactly its own width; an unpadded one (`1234`) fits any width
    // up to its length.
    let fits = |file: &Found, width: usize| {
        if file.version_is_padded() {
            file.version_end == width
        } else {
            file.version_end >= width
        }
    };
    let max_width = stems
        .iter()
        .map(|s| found[s.main_file()].version_end)
        .max()
        .unwrap_or(0);
    let mut best = (0, name::MIN_VERSION_WIDTH);
    for width in name::MIN_VERSION_WIDTH..=max_width {
        let count = stems
            .iter()
            .filter(|s| fits(&found[s.main_file()], width))
            .count();
        if count > best.0 {
            best = (count, width);
        }
    }
    let width = best.1;
    for stem in stems {
        let file = &found[stem.main_file()];
        if fits(file, width) {
            continue;
        }
        let text = file.version_text();
        let message = if text.starts_with('0') {
            format!(
                "version {text} is padded to {} digits, the other versions to {width}",
                text.len()
            )
        } else {
            format!(
                "version {text} has {} digits, the other versions are padded to {width}",
                text.len()
            )
        };
        let help = format!(
            "versions compare as integers, so this works, but the files do not sort in order; if `{}` is not applied anywhere yet, rename its files to `{renamed}.up.sql` and `{renamed}.down.sql`",
            file.stem(),
            renamed = format_args!("{}_{}", name::version_text(file.version, width), file.name()),
        );
        diagnostics.push(diagnostic(
            &MIXED_VERSION_WIDTH,
            &file.path,
            None,
            message,
            help,
        ));
    }
}

/// The set: every kept stem whose two files were read as UTF-8, in version order.
fn build_set(dir: &Path, found: Vec<Found>, stems: &[Stem], kept: &[bool]) -> MigrationSet {
    let mut slots: Vec<Option<Found>> = found.into_iter().map(Some).collect();
    let mut migrations = Vec::with_capacity(stems.len());
    for (stem, &kept) in stems.iter().zip(kept) {
        let (Some(up), Some(down)) = (stem.up, stem.down) else {
            continue;
        };
        if !kept
            || slots[up]
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
        let (Some(up_file), Some(down_file)) = (sql_file(up), sql_file(down)) else {
            continue;
        };
        migrations.push(Migration {
            version: stem.version,
            version_text,
            name,
            up: up_file,
            down: down_file,
        });
    }
    MigrationSet::new(dir, migrations)
}

fn sql_file(found: Found) -> Option<SqlFile> {
    let contents = found.contents?;
    Some(SqlFile {
        path: found.path,
        text: contents.text,
        checksum: contents.checksum,
        mode: contents.mode,
        irreversible: contents.irreversible,
        statements: contents.statements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn blank_sql_is_whitespace_and_comments() {
        for blank in [
            "",
            "  \n\t",
            "-- only a comment",
            "-- a\n-- b\n",
            "/* a /* nested */ still */\n",
            ";\n",
            "/* unterminated",
        ] {
            assert!(is_blank_sql(blank), "{blank:?}");
        }
        for sql in [
            "SELECT 1;",
            "-- c\nSELECT 1",
            "/* a */ x",
            "- 1",
            "/ 2",
            "/* a /* b */ */ SELECT",
        ] {
            assert!(!is_blank_sql(sql), "{sql:?}");
        }
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

    fn run(files: &[&str], first_version: Option<u64>) -> Checked {
        let dir = Path::new("m");
        let entries = files
            .iter()
            .map(|f| Entry::File {
                path: dir.join(f),
                bytes: b"SELECT 1;\n".to_vec(),
            })
            .collect();
        check(dir, entries, &CheckOptions { first_version })
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
        assert!(helps[0].contains("`004_y.up.sql`"), "{}", helps[0]);
        assert!(helps[1].contains("`005_z.up.sql`"), "{}", helps[1]);
        // One migration per version in the set: the first by name.
        let ids: Vec<String> = checked.set.migrations.iter().map(Migration::id).collect();
        assert_eq!(ids, ["001_a", "002_x", "003_c"]);
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

    #[test]
    fn first_version_zero_allows_000() {
        let files = pairs(&["000_base", "001_a"]);
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        assert!(run(&files, Some(0)).diagnostics.is_empty());
        assert_eq!(
            codes(&run(&files, None)),
            [("C005", "000_base.up.sql".into())]
        );
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
    }
}
