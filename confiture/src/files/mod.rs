//! The rules for migration files — names, pairing, numbering, checksums, statement splitting
//! and lint rules. The one place that owns them: confiture-build, the CLI and the engine all
//! call this module. A regex over file names anywhere else is a bug.
//!
//! Pure apart from [`read_dir`]: reading produces `(path, bytes)` entries; [`check`] turns
//! them into a [`MigrationSet`] plus every problem found, never panics, never prints.

mod checker;
pub(crate) use checker::half_file_name;
#[cfg(feature = "db")]
pub(crate) use checker::unreadable_schema_file;
mod generate;
pub mod lexer;
pub mod markers;
pub mod name;
pub mod rules;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, RuleDoc};
use crate::error::{Error, Result};

pub use generate::{blocks_numbering, new_migration, NewMigration};

/// The file-level rules (names, pairing, numbering, encoding): codes `C001`–`C099`.
pub const FILE_RULES: &[RuleDoc] = checker::ALL;

/// Every rule, file-level then SQL-level, in code order: the source of `docs/lints.md`.
pub fn all_rules() -> impl Iterator<Item = &'static RuleDoc> {
    FILE_RULES.iter().chain(rules::SQL_RULES)
}

/// What changes what is valid: settings from `[workspace.metadata.confiture]`, and the
/// environment's tracking table.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CheckOptions {
    /// The first version of a squashed history; `None` means 1, and so does 0
    /// ([`crate::history::first_version`]).
    pub first_version: Option<u64>,
    /// Where `first_version` was set, as the help of a diagnostic about it names it
    /// ([`crate::workspace::Settings::first_version_from`]); `None`: the workspace's table.
    pub first_version_from: Option<&'static str>,
    /// The tracking table that migrations must not write (rule `writes-tracking-table`);
    /// `None` means the default `tb_confiture`. A [`Migrator`](crate::Migrator) gives its
    /// environment's when this is `None`.
    pub tracking_table: Option<crate::ledger::TrackingTable>,
}

setters!(CheckOptions {
    first_version: Option<u64>,
    first_version_from: Option<&'static str>,
    tracking_table: Option<crate::ledger::TrackingTable>,
});

impl CheckOptions {
    /// The tracking table's name without its schema: what the rules look for.
    pub(crate) fn tracking_table_name(&self) -> &str {
        self.tracking_table
            .as_ref()
            .map_or(crate::ledger::DEFAULT_TRACKING_TABLE, |t| t.name.as_str())
    }
}

/// Up or down: which file of a pair (`.up.sql`, `.down.sql`) and which way a run goes (applying,
/// rolling back). The one enum for both: the linter (some rules apply only to up files), the
/// engine and the reports use it. `Display` and serde give `up` / `down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The `.up.sql` file; applying.
    Up,
    /// The `.down.sql` file; rolling back.
    Down,
}

impl Direction {
    /// The other half of a pair, the other way of a run.
    pub fn opposite(self) -> Direction {
        match self {
            Direction::Up => Direction::Down,
            Direction::Down => Direction::Up,
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Up => "up",
            Direction::Down => "down",
        })
    }
}

/// Whether a migration runs in one transaction with its ledger row (the default) or, marked
/// `-- confiture:no-transaction`, statement by statement in autocommit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionMode {
    /// In one transaction with its ledger row (the default).
    Transaction,
    /// Marked `-- confiture:no-transaction`: statement by statement, in autocommit.
    NoTransaction,
}

/// One `.up.sql` or `.down.sql` file, read and decoded, its statements cut.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqlFile {
    /// Path as given to the checker (joined onto the directory passed to [`read_dir`]).
    pub path: PathBuf,
    /// The file's text (valid UTF-8; a BOM, if any, is kept — it is part of the checksum).
    pub text: String,
    /// Lowercase hex SHA-256 of the raw bytes, as confiture (Python) computes it.
    pub checksum: String,
    /// Whether it runs in a transaction (markers of the up file).
    pub mode: TransactionMode,
    /// Rolling back is refused (exit 8): the down file carries `-- confiture:irreversible`, or
    /// the up file is confiture (Python)'s squashed baseline ([`SqlFile::squashed_through`]),
    /// whose down file always raises. The one answer to whether a migration can be rolled back.
    pub irreversible: bool,
    /// The up file is the baseline confiture (Python)'s `migrate squash` wrote in place of the
    /// migrations through this version (its `-- confiture:squashed-baseline through=N` header).
    pub squashed_through: Option<u64>,
    /// The up file carries confiture's gate `-- confiture:destructive` (data is lost when it
    /// applies): `up` refuses it without `allow_destructive`, as confiture does.
    pub destructive: bool,
    /// Its statements, cut once when the file was read (by the split the SQL rules checked):
    /// the engine sends and names statements by these, never splitting the file again.
    pub statements: Vec<StatementSpan>,
}

impl SqlFile {
    /// A file of `text` (a byte-order mark kept), with its checksum and statements: for a file
    /// made by hand (tests, an application building migrations in memory). [`check`] makes
    /// the files of a directory.
    pub fn new(
        path: impl Into<PathBuf>,
        text: impl Into<String>,
        mode: TransactionMode,
        irreversible: bool,
    ) -> SqlFile {
        let text = text.into();
        let bom = crate::text::bom_len(&text);
        let statements = StatementSpan::of(&lexer::split(&text[bom..]), bom);
        let markers = markers::parse(&text[bom..]);
        SqlFile {
            path: path.into(),
            checksum: checksum(text.as_bytes()),
            text,
            mode,
            irreversible,
            destructive: markers.destructive,
            squashed_through: markers.squashed_through,
            statements,
        }
    }
}

/// One statement of a [`SqlFile`], as [`lexer::split`] cut it (with PostgreSQL's default
/// `standard_conforming_strings = on`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatementSpan {
    /// Byte range in the file's text (a byte-order mark counted): from the first token to the
    /// terminating `;` included, or to the last token.
    pub range: std::ops::Range<usize>,
    /// 1-based line of the first token.
    pub line: u32,
    /// Ended by a `;` (the last statement of a file may end without one).
    pub terminated: bool,
    /// A `COPY` whose data goes through the client, which the engine refuses to send.
    pub copy_stream: Option<lexer::CopyStream>,
    /// The server may send rows for it ([`lexer::Statement::may_return_rows`]).
    pub may_return_rows: bool,
    /// It changes only the session it runs in, nothing of the database: a `SET`, a `RESET`, a
    /// `SELECT` of `set_config` calls (`rules::changes_only_the_session`, the one reading).
    pub session_only: bool,
}

impl StatementSpan {
    /// The spans of `split`, a split of a file's text after its byte-order mark of `bom` bytes.
    pub(crate) fn of(split: &lexer::Split<'_>, bom: usize) -> Vec<StatementSpan> {
        split
            .statements
            .iter()
            .map(|s| StatementSpan {
                range: s.range.start + bom..s.range.end + bom,
                line: s.line,
                terminated: s.terminated,
                copy_stream: s.copy_stream(),
                may_return_rows: s.may_return_rows(),
                session_only: rules::changes_only_the_session(s),
            })
            .collect()
    }
}

/// A complete, well-formed pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The version compared as an integer.
    pub version: u64,
    /// The version exactly as in the file name (`"003"`): the ledger's `version` column.
    pub version_text: String,
    /// `add_bio_to_users`: the ledger's `name` column.
    pub name: String,
    /// The `.up.sql` file.
    pub up: SqlFile,
    /// The `.down.sql` file.
    pub down: SqlFile,
}

impl Migration {
    /// `001_add_bio_to_users`, as the status table shows it.
    pub fn id(&self) -> String {
        format!("{}_{}", self.version_text, self.name)
    }

    /// The file that runs in `direction`: the up file applies, the down file rolls back.
    pub fn file(&self, direction: Direction) -> &SqlFile {
        match direction {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        }
    }
}

/// The migrations of a directory, sorted by version, one per version. Holds only complete
/// pairs whose two files are well named and readable UTF-8 (when two migrations share a
/// version, the first by name); everything else is reported as a diagnostic. Problems inside
/// a pair's files (an empty up file, SQL lints) are diagnostics too, but leave the pair here.
/// The well-named files that are on disk but could not be read as text are listed in
/// `unreadable` (and reported as diagnostics): their migrations are
/// [`crate::history::State::Unreadable`], never missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationSet {
    /// The directory the files were read from (for an embedded set, the one it was built from).
    pub dir: PathBuf,
    /// The migrations, sorted by version.
    pub migrations: Vec<Migration>,
    /// Where the files came from: a directory read now, or a binary that embedded them.
    pub origin: Origin,
    /// Who named the directory the files were read from ([`load_named_by`]): how a help that
    /// names another directory says to change it (`DirNamedBy::point_at`), the command
    /// line's flag or a library caller's `Migrator::new`. [`DirNamedBy::Command`] for a set
    /// made otherwise ([`MigrationSet::new`], [`load`]).
    pub named_by: DirNamedBy,
    /// The well-named files that could not be read as text, in version order.
    pub unreadable: Vec<UnreadableFile>,
    /// The well-named files read as text whose other half is not there, in version order.
    pub incomplete: Vec<IncompleteFile>,
    /// confiture (Python)'s migrations, `<VERSION>_<NAME>.py`, in version order: cargo
    /// confiture cannot run them; their versions are [`crate::history::State::Python`].
    pub python: Vec<PythonFile>,
    /// The complete, readable pairs left out of `migrations` because another pair has their
    /// version (`C003`, a duplicate version: the set keeps the first by name), in version
    /// order. Never run; the history reads them to tell which of the pairs of a version a
    /// ledger row records ([`crate::history::History::of`]): the applied one is not the one
    /// to renumber, whatever its name.
    pub duplicates: Vec<Migration>,
}

impl MigrationSet {
    /// The `first_version` of the set's history given the setting: the setting, else the
    /// version of confiture (Python)'s squashed baseline when it is the lowest migration
    /// ([`crate::history::squashed_first_version`]).
    pub fn first_version(&self, setting: Option<u64>) -> Option<u64> {
        let lowest = (self.migrations.first()).map(|m| (m.version, m.up.squashed_through));
        crate::history::squashed_first_version(setting, lowest)
    }

    /// confiture (Python)'s squashed baseline the set's history starts at, given the
    /// `first_version` setting: the lowest migration, when it is that baseline through the
    /// version just before it ([`SqlFile::squashed_through`]) and the history's first version
    /// ([`MigrationSet::first_version`]) is its own. The versions below it are squashed into
    /// it, not into a schema snapshot, and it cannot be rolled back: what `up` and `down` say
    /// of a request that reaches below it.
    pub fn squashed_baseline(&self, setting: Option<u64>) -> Option<&Migration> {
        let lowest = self.migrations.first()?;
        let through = lowest.up.squashed_through?;
        let starts = through.checked_add(1) == Some(lowest.version)
            && self.first_version(setting) == Some(lowest.version);
        starts.then_some(lowest)
    }

    /// The set of the migrations read from `dir`.
    pub fn new(dir: impl Into<PathBuf>, migrations: Vec<Migration>) -> MigrationSet {
        MigrationSet {
            dir: dir.into(),
            migrations,
            origin: Origin::Directory,
            named_by: DirNamedBy::default(),
            unreadable: Vec::new(),
            incomplete: Vec::new(),
            python: Vec::new(),
            duplicates: Vec::new(),
        }
    }

    /// Every version the directory has files of, ascending, once each, with its id (`003_c`):
    /// its migrations', and those of files that form no migration — they cannot be read, or
    /// half a pair or misnamed ([`MigrationSet::unreadable`], [`MigrationSet::incomplete`]).
    /// Such a version exists: a flag that names it (`--target`, `--through`, `--from`) is
    /// refused for its files, never as naming no migration.
    pub fn versions_on_disk(&self) -> Vec<(u64, String)> {
        let mut versions: std::collections::BTreeMap<u64, String> = self
            .unreadable
            .iter()
            .map(|f| (f.version, format!("{}_{}", f.version_text, f.name)))
            .chain(
                self.incomplete
                    .iter()
                    .map(|f| (f.version, format!("{}_{}", f.version_text, f.name))),
            )
            .chain(
                self.python
                    .iter()
                    .map(|f| (f.version, format!("{}_{}", f.version_text, f.name))),
            )
            .collect();
        // A migration's own id wins over a stray file of its version.
        versions.extend(self.migrations.iter().map(|m| (m.version, m.id())));
        versions.into_iter().collect()
    }

    /// The directory's version width, as the file checker decides it
    /// ([`Checked::version_width`]: the one most versions are written at), over the files the
    /// set holds: a helper that renumbers a migration writes the version at it.
    pub fn version_width(&self) -> usize {
        let stray = (self.unreadable.iter().map(|f| f.version_text.as_str()))
            .chain((self.incomplete.iter()).map(|f| f.version_text.as_str()))
            .chain((self.python.iter()).map(|f| f.version_text.as_str()));
        checker::directory_width(
            (self.migrations.iter())
                .chain(&self.duplicates)
                .map(|m| m.version_text.as_str())
                .chain(stray),
        )
    }

    /// How the files of `version` spell it ([`MigrationSet::versions_on_disk`]'s files: a
    /// migration's own over a stray file's), if the directory has any.
    pub fn version_text_of(&self, version: u64) -> Option<&str> {
        let stray = (self.unreadable.iter().map(|f| (f.version, &f.version_text)))
            .chain((self.incomplete.iter()).map(|f| (f.version, &f.version_text)))
            .chain((self.python.iter()).map(|f| (f.version, &f.version_text)));
        (self.migrations.iter().map(|m| (m.version, &m.version_text)))
            .chain(stray)
            .find(|(v, _)| *v == version)
            .map(|(_, text)| text.as_str())
    }

    /// The newest version the directory has files of ([`MigrationSet::versions_on_disk`]'s
    /// last: a confiture (Python) `.py` migration's, or files that form no migration, count),
    /// with its text as its files spell it (a migration's own over a stray file's): what "the
    /// migrations go up to" names, and what rows of a newer release are above.
    pub fn newest_version(&self) -> Option<(u64, &str)> {
        let stray = (self
            .unreadable
            .iter()
            .map(|f| (f.version, f.version_text.as_str())))
        .chain((self.incomplete.iter()).map(|f| (f.version, f.version_text.as_str())))
        .chain((self.python.iter()).map(|f| (f.version, f.version_text.as_str())))
        .max_by_key(|(v, _)| *v);
        let migration = (self.migrations.iter())
            .max_by_key(|m| m.version)
            .map(|m| (m.version, m.version_text.as_str()));
        match (migration, stray) {
            (Some(m), Some(f)) if f.0 > m.0 => Some(f),
            (Some(m), _) => Some(m),
            (None, f) => f,
        }
    }

    /// Whether the directory has files of `version` ([`MigrationSet::versions_on_disk`]).
    pub fn has_version(&self, version: u64) -> bool {
        self.migrations.iter().any(|m| m.version == version)
            || self.unreadable.iter().any(|f| f.version == version)
            || self.incomplete.iter().any(|f| f.version == version)
            || self.python.iter().any(|f| f.version == version)
    }
}

/// A migration of confiture (Python)'s own kind, `<VERSION>_<NAME>.py`
/// ([`name::parse_python_file_name`]): on disk and counted, run only by confiture (Python).
/// Pending, `up` refuses to run past it; recorded, it is applied, never missing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PythonFile {
    /// Its path (joined onto the directory read).
    pub path: PathBuf,
    /// The version its name gives, as an integer.
    pub version: u64,
    /// The version as its name spells it.
    pub version_text: String,
    /// The name its name gives.
    pub name: String,
}

impl PythonFile {
    /// The file of `file_name` in `dir`, when it is a confiture (Python) migration's name.
    pub fn of(path: PathBuf) -> Option<PythonFile> {
        let file_name = path.file_name()?.to_str()?;
        let (version, version_text, name) = name::parse_python_file_name(file_name)?;
        let (version_text, name) = (version_text.to_string(), name.to_string());
        Some(PythonFile {
            path,
            version,
            version_text,
            name,
        })
    }
}

/// A well-named migration file that is on disk but could not be read as text: permissions, a
/// directory or a FIFO in its place, a broken symbolic link or a loop (rule `C010`), or bytes
/// that are not UTF-8 (`C009`). Its migration is not in the set, and its version is not
/// missing: [`crate::history`] makes it [`crate::history::State::Unreadable`]. The JSON of
/// `migrate status` shows `path` and `error`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct UnreadableFile {
    /// Its path (joined onto the directory read).
    #[serde(serialize_with = "crate::display::serialize_path")]
    pub path: PathBuf,
    /// The version its name gives, as an integer.
    #[serde(skip)]
    pub version: u64,
    /// The version as its name spells it.
    #[serde(skip)]
    pub version_text: String,
    /// The name its name gives.
    #[serde(skip)]
    pub name: String,
    /// Which half of its migration it is.
    #[serde(skip)]
    pub direction: Direction,
    /// Why it could not be read: the system's error (`Permission denied (os error 13)`), `it is
    /// a directory, not a file`, `it is not valid UTF-8: byte 0xFF at line 1, column 9`...
    pub error: String,
}

/// A migration file read as text that forms no migration of the set: a well-named half of a
/// pair whose other half is not there (rule `C001` or `C002`: `002_b.up.sql` without
/// `002_b.down.sql`, or the down file alone), or a misnamed file whose corrected name gives a
/// version (rule `C006`: `002_B.up.sql`, `002-b.up.sql`). Its version is not missing: a ledger row of that version is recorded
/// and its files are invalid ([`crate::history`]), and every command refuses it until the
/// missing half is restored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IncompleteFile {
    /// Its path (joined onto the directory read).
    pub path: PathBuf,
    /// The version its name (corrected, if misnamed) gives, as an integer.
    pub version: u64,
    /// The version as its name (corrected, if misnamed) spells it.
    pub version_text: String,
    /// The name its name (corrected, if misnamed) gives.
    pub name: String,
    /// Which half of its migration it is.
    pub direction: Direction,
    /// Its checksum: for an up file, what a ledger row records of it.
    pub checksum: String,
    /// Its name is malformed; [`IncompleteFile::file_name`] is the corrected one (a down file
    /// under another name than the one up file of its version without a down file: that up
    /// file's, as its `C006` says).
    pub misnamed: bool,
}

impl IncompleteFile {
    /// Its well-formed file name: `002_b.up.sql`.
    pub fn file_name(&self) -> String {
        format!("{}_{}.{}.sql", self.version_text, self.name, self.direction)
    }

    /// The file name of the half that is not there: `002_b.down.sql`.
    pub fn missing_half(&self) -> String {
        let other = match self.direction {
            Direction::Up => "down",
            Direction::Down => "up",
        };
        format!("{}_{}.{other}.sql", self.version_text, self.name)
    }
}

/// Where a [`MigrationSet`] came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// Read from the migrations directory (`dir`) by [`read_dir`].
    #[default]
    Directory,
    /// Compiled into a binary by `confiture-build` (see [`crate::embedded`]): `dir` is the
    /// directory it was built from, relative to its workspace; `package` and `version` are the
    /// Cargo package that embedded it.
    Embedded {
        /// The Cargo package that embedded it.
        package: String,
        /// That package's version.
        version: String,
    },
}

impl Origin {
    /// The binary that embedded the set, as messages name it (`my-service 1.4.0`); `None` for
    /// a directory.
    pub fn binary(&self) -> Option<String> {
        match self {
            Origin::Embedded { package, version } => Some(format!("{package} {version}")),
            Origin::Directory => None,
        }
    }
}

/// What [`check`] found: the set and every problem, errors and warnings, in path order.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// The migrations that can run.
    pub set: MigrationSet,
    /// Every problem found, errors and warnings, in path order.
    pub diagnostics: Vec<Diagnostic>,
    /// The version of every well-named file (confiture (Python)'s `.py` migrations too), sorted, each once: paired or not, readable or
    /// not, in the set or not (`generate` must not reuse any of them).
    pub file_versions: Vec<u64>,
    /// The first version of a squashed history it was checked with
    /// ([`CheckOptions::first_version`]): `generate`'s first number in an empty directory.
    pub first_version: Option<u64>,
    /// The zero-padding width of the directory's versions: the one most of them have (3 at
    /// least); `C011` reports the others. `generate` pads the next version to it.
    pub version_width: usize,
}

impl Checked {
    /// Whether any diagnostic is an error (`up` and the build refuse the set).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// One thing found in the migrations directory by [`read_dir`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Entry {
    /// A file, with its raw bytes.
    File {
        /// Its path (joined onto the directory read).
        path: PathBuf,
        /// Its bytes, undecoded.
        bytes: Vec<u8>,
    },
    /// A `.sql` file whose name gives no version, as it is or corrected
    /// ([`name::gives_a_version`]: `backup.sql`, `add_x.up.sql`, a name that is not UTF-8):
    /// no migration's, so not read; [`check`] reports its name (rule `C006`). A database dump
    /// left in the directory is not read into memory only to say so.
    Unversioned {
        /// Its path (joined onto the directory read).
        path: PathBuf,
    },
    /// A subdirectory (migrations are not read from subdirectories: reported).
    Dir {
        /// Its path (joined onto the directory read).
        path: PathBuf,
    },
    /// A confiture (Python) migration, `<VERSION>_<NAME>.py` ([`PythonFile`]), or a `.py` file
    /// meant to be one whose name is wrong ([`name::is_python_migration_name`]): not read.
    Python {
        /// Its path (joined onto the directory read).
        path: PathBuf,
    },
    /// Could not be read (permissions, symlink loop...): reported, never silently skipped.
    Unreadable {
        /// Its path (joined onto the directory read).
        path: PathBuf,
        /// Why it could not be read.
        error: String,
    },
}

/// Reads the directory, not recursively: subdirectories are entries, reported by [`check`].
/// Only files whose name ends in `.sql` (any case) and is not hidden ([`name::is_sql_file_name`])
/// are read, and of those only the ones whose name gives a version ([`Entry::Unversioned`]);
/// others are not migrations and are left out, readable or not, and so are hidden
/// directories (`.git`). Anything of a `.sql` name that cannot be examined — a broken symbolic
/// link or a loop, a file without read permission, an entry that is not a regular file (a
/// `<VERSION>_<NAME>.py` one too, [`name::is_python_migration_name`]) — is an
/// [`Entry::Unreadable`], never skipped. A missing directory, or a path that is a file, is an
/// `Invalid` error naming it. Entries come in no particular order; [`check`] sorts them.
pub fn read_dir(dir: &Path) -> Result<Vec<Entry>> {
    read_dir_named_by(dir, DirNamedBy::Command)
}

/// Who named the migrations directory: what an error about it (a missing directory, a file in
/// its place) says to change when the migrations are elsewhere, besides `migrations_dir` in
/// Cargo.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DirNamedBy {
    /// A `cargo confiture` command reading Cargo.toml's `migrations_dir`: the setting, or its
    /// `--migrations-dir` flag, is what to change.
    #[default]
    Command,
    /// A `cargo confiture` command reading the default directory, `db/migrations`: neither
    /// Cargo.toml's `migrations_dir` nor `--migrations-dir` named it, and an error about it
    /// blames neither (its help, as [`DirNamedBy::Command`]'s, says to set one or the other).
    DefaultDir,
    /// A build script (confiture-build): Cargo.toml alone, whose setting the build script
    /// reads as every command does (its `Check::migrations_dir` must agree with it).
    BuildScript,
    /// A program calling the library: the directory it gives [`crate::Migrator::new`] (or
    /// `Fleet::new`), which has no `--migrations-dir` flag and comes from no Cargo.toml; a
    /// relative one is read from the process's current directory, which its errors name.
    Library,
    /// A program calling the library with a workspace's directory
    /// ([`crate::Migrator::from_url`], `from_config`, `from_env`): Cargo.toml's
    /// `migrations_dir` (or its default) named it, and is what to change.
    Workspace,
    /// A `cargo confiture` command given `--migrations-dir`: the flag named it, and is what
    /// to change (Cargo.toml's `migrations_dir` does not count while it is given).
    Flag,
}

impl DirNamedBy {
    /// The other way to name the directory, besides Cargo.toml's `migrations_dir`, if any:
    /// `--migrations-dir`. A build script has none: Cargo.toml's setting is the owner, and a
    /// `Check::migrations_dir` that differs from it fails the build.
    fn alternative(self) -> Option<&'static str> {
        match self {
            DirNamedBy::Command | DirNamedBy::DefaultDir | DirNamedBy::Flag => {
                Some("--migrations-dir")
            }
            DirNamedBy::BuildScript | DirNamedBy::Workspace | DirNamedBy::Library => None,
        }
    }

    /// How a help says to name another directory: point Cargo.toml's `migrations_dir` (and
    /// the [`DirNamedBy::alternative`], if any) at `at`; `--migrations-dir` alone when the
    /// flag named it.
    pub(crate) fn point_at(self, at: &str) -> String {
        let tables = crate::workspace::SETTINGS_TABLES;
        match (self, self.alternative()) {
            (DirNamedBy::Flag, _) => format!("point --migrations-dir at {at}"),
            // No Cargo.toml named it: the program's own path is what to change.
            (DirNamedBy::Library, _) => {
                format!("point the directory your program gives `Migrator::new` at {at}")
            }
            (_, Some(or)) => format!("point `migrations_dir` in {tables} (or {or}) at {at}"),
            (_, None) => format!("point `migrations_dir` in {tables} at {at}"),
        }
    }

    /// The one "did you mean" of another directory, `dir` as shown, with `why` it is meant
    /// (`the directory that holds it`), if said: the flag that names it (`--migrations-dir
    /// db/migrations`), else the directory and the setting to point at it.
    fn did_you_mean(self, dir: &str, why: Option<&str>) -> String {
        let why = why.map_or_else(String::new, |why| format!(" ({why})"));
        match self {
            DirNamedBy::Flag => format!(
                "did you mean `--migrations-dir {}`?{why}",
                crate::hint::quote_path(Path::new(dir))
            ),
            _ => format!("did you mean `{dir}`{why}? {}", self.point_at("it")),
        }
    }
}

/// [`read_dir`], an error about the directory itself saying how `named_by` names another.
pub fn read_dir_named_by(dir: &Path, named_by: DirNamedBy) -> Result<Vec<Entry>> {
    let read = read_dir_inspecting(dir, None, named_by, Shown(None))?;
    Ok(entries_of(read))
}

/// [`read_dir_named_by`], an error about the directory itself showing its paths relative to
/// `base` ([`crate::display::relative_to`]): a build script's lines are relative to the
/// workspace root, while its current directory is its package's.
pub fn read_dir_shown_from(dir: &Path, base: &Path, named_by: DirNamedBy) -> Result<Vec<Entry>> {
    let read = read_dir_inspecting(dir, None, named_by, Shown(Some(base)))?;
    Ok(entries_of(read))
}

/// The entries of what was read (none inspected).
fn entries_of(read: Vec<checker::Read>) -> Vec<Entry> {
    read.into_iter()
        .filter_map(|read| match read {
            checker::Read::Entry(entry) => Some(entry),
            checker::Read::Inspected(_) => None,
        })
        .collect()
}

/// How an error about the migrations directory shows a path: relative to the base it holds
/// ([`read_dir_shown_from`]), else as given.
#[derive(Debug, Clone, Copy)]
struct Shown<'a>(Option<&'a Path>);

impl Shown<'_> {
    fn text(self, path: &Path) -> String {
        match self.0 {
            Some(base) => {
                crate::display::path_text(&crate::display::relative_to(path, base)).into_owned()
            }
            None => crate::display::path_text(path).into_owned(),
        }
    }
}

/// [`read_dir`], each well-named file inspected on the thread that read it when `inspect`
/// gives the tracking table ([`checker::inspect_read`], what [`load`] does).
fn read_dir_inspecting(
    dir: &Path,
    inspect: Option<&str>,
    named_by: DirNamedBy,
    shown: Shown<'_>,
) -> Result<Vec<checker::Read>> {
    let items = fs::read_dir(dir).map_err(|err| dir_error(dir, err, named_by, shown))?;
    let mut entries = Vec::new();
    let mut to_read = Vec::new();
    for item in items {
        let item = match item {
            Ok(item) => item,
            Err(err) => {
                let error = err.to_string();
                entries.push(Entry::Unreadable {
                    path: dir.to_path_buf(),
                    error,
                });
                continue;
            }
        };
        let name = item.file_name();
        // `DirEntry::path` joins without reserving: two reallocations per file.
        let mut path = PathBuf::with_capacity(dir.as_os_str().len() + 1 + name.len());
        path.push(dir);
        path.push(&name);
        let file_name = name.to_string_lossy();
        if name::is_hidden_name(&file_name) {
            // An editor's lock link (`.#a.sql`), a swap file, `.git`: never a migration.
            continue;
        }
        let is_sql = name::is_sql_file_name(&file_name);
        // `file_type` comes from the directory listing itself on most systems: no extra stat.
        let file_type = match item.file_type() {
            Ok(file_type) => file_type,
            Err(err) => {
                entries.push(Entry::Unreadable {
                    path,
                    error: err.to_string(),
                });
                continue;
            }
        };
        let (is_dir, is_file) = if file_type.is_symlink() {
            match fs::metadata(&path) {
                Ok(meta) => {
                    // A migration's link into `/proc`, `/sys` or `/dev`
                    // (`/proc/self/environ`): refused, never read.
                    let migration = is_sql || name::is_python_migration_name(&file_name);
                    if let Some(error) = migration.then(|| system_link(&path)).flatten() {
                        entries.push(Entry::Unreadable { path, error });
                        continue;
                    }
                    (meta.is_dir(), meta.is_file())
                }
                // A link that cannot be followed is refused only if it could be a migration
                // file, `.sql` or confiture (Python)'s `.py`: a broken `notes.md` is left out,
                // as a readable one is.
                Err(_) if !is_sql && !name::is_python_migration_name(&file_name) => continue,
                Err(err) => {
                    let error = unreadable_link(&path, &err);
                    entries.push(Entry::Unreadable { path, error });
                    continue;
                }
            }
        } else {
            (file_type.is_dir(), file_type.is_file())
        };
        if is_dir && (is_sql || name::is_python_migration_name(&file_name)) {
            // `002_x.up.sql/` (or confiture (Python)'s `002_x.py/`) is a migration that cannot
            // be read, not a folder of migrations: reported as such, its other half is not
            // reported as missing, nor its version.
            let error = IS_A_DIRECTORY.to_string();
            entries.push(Entry::Unreadable { path, error });
        } else if is_dir {
            entries.push(Entry::Dir { path });
        } else if !is_sql {
            // Not a `.sql` migration: not read. confiture (Python)'s own migrations are
            // counted, by name; a misnamed one (`03_d.py`) too: reported, never left out. One
            // that is no regular file (a FIFO, a socket, a device) is refused as a `.sql` one
            // is, never left out.
            if name::is_python_migration_name(&file_name) {
                entries.push(match is_file {
                    true => Entry::Python { path },
                    false => Entry::Unreadable {
                        path,
                        error: NOT_A_REGULAR_FILE.to_string(),
                    },
                });
            }
        } else if name::is_verify_sidecar(&file_name) {
            // confiture (Python)'s verification sidecar: not a migration, not read.
        } else if !is_file {
            // Reading a FIFO would block forever.
            let error = NOT_A_REGULAR_FILE.to_string();
            entries.push(Entry::Unreadable { path, error });
        } else if !name.to_str().is_some_and(name::gives_a_version) {
            entries.push(Entry::Unversioned { path });
        } else {
            to_read.push(path);
        }
    }
    let mut read: Vec<checker::Read> = entries.into_iter().map(checker::Read::Entry).collect();
    read.extend(read_files(to_read, inspect));
    Ok(read)
}

/// Why the symbolic link `path` could not be followed (`metadata` of the link failed, `err`),
/// naming where it points as the link holds it (relative to the link's directory, as `ls -l`
/// shows it): the one wording of the migrations directory and of `drift --schema-dir`.
pub(crate) fn unreadable_link(path: &Path, err: &io::Error) -> String {
    let target = fs::read_link(path).map(|t| crate::display::path_text(&t).into_owned());
    match (err.kind(), target) {
        (io::ErrorKind::NotFound, Ok(to)) => {
            format!("it is a symbolic link to `{to}`, which does not exist")
        }
        (io::ErrorKind::NotFound, Err(_)) => "it is a broken symbolic link".to_string(),
        (_, Ok(to)) => format!("it is a symbolic link to `{to}`, which cannot be followed: {err}"),
        (_, Err(_)) => err.to_string(),
    }
}

/// Why a `.sql` entry, or one named like a confiture (Python) migration, that is no directory
/// and no regular file (a FIFO, a socket, a device) is not read: reading a FIFO would block
/// forever.
pub(crate) const NOT_A_REGULAR_FILE: &str = "it is not a regular file";

/// The directories whose files the system makes, not a person: the process's environment
/// (`/proc/self/environ`), the kernel's state (`/sys`), devices (`/dev`). A migration file is
/// never read there, whatever leads to it: its text could be a secret that a diagnostic quotes
/// (a hostile change's link `002_x.up.sql -> /proc/self/environ` would print a CI job's
/// environment). [`system_link`] refuses a link that resolves under one, [`open_regular`] a
/// file opened on the file system of one.
const SYSTEM_DIRS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// Why the migration file at `path`, a symbolic link, is not read: it resolves under one of
/// the [`SYSTEM_DIRS`]. `None` for a link to anywhere else (a monorepo's shared migration),
/// which is read as its target.
fn system_link(path: &Path) -> Option<String> {
    let resolved = fs::canonicalize(path).ok()?;
    let dir = SYSTEM_DIRS.iter().find(|dir| resolved.starts_with(dir))?;
    let to = fs::read_link(path).map_or_else(
        |_| crate::display::path_text(&resolved).into_owned(),
        |to| crate::display::path_text(&to).into_owned(),
    );
    Some(format!(
        "it is a symbolic link to `{to}`, a file the system makes (under `{dir}`), not a \
         migration: it is never read"
    ))
}

/// Which of the [`SYSTEM_DIRS`] holds the file system of the opened file described by `meta`
/// (its device): `/proc/self/environ` reached by any path — a link to a link, a migrations
/// directory that is one, a swap after the listing. A system directory on the root's own file
/// system (no `/proc` mounted) is none: its device would be every file's. The devices are
/// asked once per process.
#[cfg(unix)]
fn on_system_file_system(meta: &fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::MetadataExt;
    static DEVICES: std::sync::OnceLock<Vec<(u64, &'static str)>> = std::sync::OnceLock::new();
    let devices = DEVICES.get_or_init(|| {
        let root = fs::metadata("/").map(|m| m.dev()).ok();
        (SYSTEM_DIRS.iter())
            .filter_map(|&dir| {
                let dev = fs::metadata(dir).ok()?.dev();
                (Some(dev) != root).then_some((dev, dir))
            })
            .collect()
    });
    let dev = meta.dev();
    devices.iter().find(|(d, _)| *d == dev).map(|(_, dir)| *dir)
}

#[cfg(not(unix))]
fn on_system_file_system(_: &fs::Metadata) -> Option<&'static str> {
    None
}

/// The bytes of a `.sql` file no listing of [`read_dir`] saw (`drift --schema-dir`'s, walked),
/// refused as a migration file is: a symbolic link into the [`SYSTEM_DIRS`], what is no regular
/// file, a file on the system's file systems ([`open_regular`]). `Err` is why, in the words
/// of [`crate::files::UnreadableFile::error`].
#[cfg(feature = "db")]
pub(crate) fn read_sql_file(path: &Path) -> std::result::Result<Vec<u8>, String> {
    let is_link = fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink());
    if let Some(error) = is_link.then(|| system_link(path)).flatten() {
        return Err(error);
    }
    read_bytes(path, &mut vec![0u8; READ_BUFFER])
}

/// The text of the migration file at `path` for a diagnostic to quote its lines, read again as
/// the directory read it (`open_regular`: no FIFO, no file of the system); `None` when it
/// cannot be read or is no text: not UTF-8 (rule `C009`) or holding a NUL byte (rule `C015`).
/// A file that is no text is shown by position only — its bytes could be anything, a binary
/// dump, the process's environment — and no line of it is ever printed. The CLI's one reader
/// of a diagnostic's source line.
pub fn quotable_text(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    open_regular(path).ok()?.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    (!text.contains('\0')).then_some(text)
}

/// Why a `.sql` entry that is a directory (`002_x.up.sql/`) is not read.
const IS_A_DIRECTORY: &str = "it is a directory, not a file";

/// Reads the files, on a few threads when there are many: opening and reading thousands of
/// small files is system-call bound, and the calls run in parallel. Each thread reads through
/// one buffer of its own.
fn read_files(mut paths: Vec<PathBuf>, inspect: Option<&str>) -> Vec<checker::Read> {
    fan_out(&mut paths, 512, |paths| {
        let mut buffer = vec![0u8; READ_BUFFER];
        paths
            .iter_mut()
            .map(
                |path| match (read_file(std::mem::take(path), &mut buffer), inspect) {
                    (Entry::File { path, bytes }, Some(table)) => {
                        checker::inspect_read(path, bytes, table)
                    }
                    (entry, _) => checker::Read::Entry(entry),
                },
            )
            .collect()
    })
}

/// The read buffer: a migration file of up to this size is read with one `read`.
const READ_BUFFER: usize = 64 * 1024;

/// Runs `work` over consecutive chunks of `items` on up to four threads, at least `per_thread`
/// items each (so on the caller's thread alone for fewer), and returns the results in order.
/// Where a directory's thousands of files are read and inspected: the system calls and the SQL
/// rules run in parallel. The first chunk is worked on the caller's thread, which would
/// otherwise only wait. A panic in `work` is resumed on the caller's thread.
fn fan_out<T: Send, R: Send>(
    items: &mut [T],
    per_thread: usize,
    work: impl Fn(&mut [T]) -> Vec<R> + Sync,
) -> Vec<R> {
    let threads = parallelism().min(4);
    let threads = threads.min(items.len() / per_thread.max(1)).max(1);
    if threads == 1 {
        return work(items);
    }
    let chunk = items.len().div_ceil(threads);
    let work = &work;
    std::thread::scope(|scope| {
        let mut chunks = items.chunks_mut(chunk);
        let first = chunks.next();
        let handles: Vec<_> = chunks
            .map(|chunk| scope.spawn(move || work(chunk)))
            .collect();
        let mut results = first.map(work).unwrap_or_default();
        for handle in handles {
            results.extend(
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        results
    })
}

/// How many threads can run at once, asked once per process: the answer reads the cgroup's
/// CPU quota from `/proc` and `/sys`, a few files each time.
fn parallelism() -> usize {
    static PARALLELISM: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PARALLELISM.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn read_file(path: PathBuf, buffer: &mut [u8]) -> Entry {
    match read_bytes(&path, buffer) {
        Ok(bytes) => Entry::File { path, bytes },
        Err(error) => Entry::Unreadable { path, error },
    }
}

/// The bytes of the file at `path`, read through `buffer` (its contents are overwritten):
/// `open`, `read`, `close` for a file smaller than the buffer. `fs::read` also asks for the
/// size (`statx`) and reads once more to see the end: for thousands of small files these
/// calls cost more than the reading. A `read` of a regular file that returns less than it was
/// asked for has reached the end of the file (a file being written meanwhile is read as of
/// some moment either way); only a read that fills the buffer is followed by another.
fn read_bytes(path: &Path, buffer: &mut [u8]) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    let mut file = open_regular(path)?;
    let mut bytes = Vec::new();
    loop {
        match file.read(buffer) {
            Ok(0) => return Ok(bytes),
            Ok(n) => {
                let got = buffer.get(..n).unwrap_or_default();
                if bytes.is_empty() && n < buffer.len() {
                    return Ok(got.to_vec());
                }
                bytes.extend_from_slice(got);
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err.to_string()),
        }
    }
}

/// Opens the migration file at `path` for reading, refusing what is no regular file with the
/// words the listing refuses it with ([`NOT_A_REGULAR_FILE`], [`IS_A_DIRECTORY`]): the listing
/// saw a regular file, but a FIFO may have taken its place since, and opening a FIFO for
/// reading waits for a writer, for ever. On Unix the file is opened without blocking
/// (`O_NONBLOCK`: no effect on reading a regular file) and the opened file's own type decides
/// (`fstat`), so no swap between a look and the open can slip through. A file on the file
/// system of `/proc`, `/sys` or `/dev` ([`on_system_file_system`]) is refused too, from the
/// same `fstat`: never read, whatever path led to it. Only migration files:
/// an environment file may be a FIFO on purpose (`-c <(sops -d f.yaml)`, `config::file`).
fn open_regular(path: &Path) -> std::result::Result<fs::File, String> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|err| err.to_string())?;
    let meta = file.metadata().map_err(|err| err.to_string())?;
    if meta.is_dir() {
        return Err(IS_A_DIRECTORY.to_string());
    }
    if !meta.is_file() {
        return Err(NOT_A_REGULAR_FILE.to_string());
    }
    if let Some(dir) = on_system_file_system(&meta) {
        return Err(format!(
            "it is a file the system makes (on the file system of `{dir}`), not a migration: \
             it is never read"
        ));
    }
    Ok(file)
}

fn dir_error(dir: &Path, err: io::Error, named_by: DirNamedBy, show: Shown<'_>) -> Error {
    let shown = show.text(dir);
    let err = match link_error(dir, err, named_by, show) {
        Ok(error) => return error,
        Err(err) => err,
    };
    let from_cwd = read_from_current_dir(dir, named_by);
    let help = match close_to_missing_dir(dir) {
        // A close directory of migrations first: the path is likely its misspelling.
        Some(close) => close_dir_help(&shown, &show.text(&close), named_by),
        // `migrate generate` finds its workspace's directory, not the program's.
        None if named_by == DirNamedBy::Library => format!(
            "create it (`mkdir -p {}`) and write the migrations there; or, if the migrations \
             are elsewhere, {}{}",
            crate::hint::quote_path(&std::path::absolute(dir).unwrap_or_else(|_| dir.into())),
            named_by.point_at("their directory"),
            if from_cwd.is_empty() {
                ""
            } else {
                " (an absolute path, such as one built on `env!(\"CARGO_MANIFEST_DIR\")`, \
                 reads the same from any current directory)"
            }
        ),
        None => format!(
            "create it: {} creates it with the first migration; or, if the migrations are \
             elsewhere, {}",
            crate::hint::command("migrate generate NAME"),
            named_by.point_at("their directory")
        ),
    };
    if let Some(blocker) = blocking_ancestor(dir) {
        return blocked_error(dir, &blocker, named_by, show);
    }
    match fs::metadata(dir) {
        Err(meta_err) if meta_err.kind() == io::ErrorKind::NotFound => Error::invalid(format!(
            "migrations directory `{shown}` does not exist{from_cwd}"
        ))
        .with_help(help),
        Ok(meta) if !meta.is_dir() => {
            let kind = not_a_directory(&meta);
            let point = named_by.point_at("the right directory");
            // Never "move it away": the file may be a migration of the directory meant
            // (`--migrations-dir db/migrations/001_x.up.sql`), or `Cargo.toml`.
            let help = if meta.is_file() {
                file_named_help(dir, named_by, show)
            } else {
                format!("it is {kind}: {point}")
            };
            Error::invalid(format!(
                "migrations directory `{shown}` is {kind}, not a directory{from_cwd}"
            ))
            .with_help(help)
        }
        _ => Error::invalid(format!("cannot read migrations directory `{shown}`"))
            .with_source(err)
            .with_help("check its permissions"),
    }
}

/// What a message about the migrations directory `dir` adds when a program gave it
/// ([`DirNamedBy::Library`]) as a relative path: that the path is read from the process's
/// current directory, which it names, with the path it read (` (a relative path, read from
/// the current directory /srv/app: /srv/app/db/migrations)`); empty otherwise. A command
/// line's relative path is the user's own shell's, and a workspace's is its root's.
fn read_from_current_dir(dir: &Path, named_by: DirNamedBy) -> String {
    if named_by != DirNamedBy::Library || !dir.is_relative() {
        return String::new();
    }
    match std::env::current_dir() {
        Ok(cwd) => format!(
            " (a relative path, read from the current directory {}: {})",
            crate::display::path_text(&cwd),
            crate::display::path_text(&cwd.join(dir))
        ),
        Err(_) => " (a relative path, read from the current directory)".to_string(),
    }
}

/// The help of a migrations directory `dir` that is a regular file: what names it names a
/// file, and the directory that holds it when that one holds migrations
/// (`--migrations-dir db/migrations/001_x.up.sql`: did you mean `--migrations-dir
/// db/migrations`?). Never to move the file away: it may be an applied migration, or
/// `Cargo.toml`.
fn file_named_help(dir: &Path, named_by: DirNamedBy, show: Shown<'_>) -> String {
    let names = match named_by {
        DirNamedBy::Flag => "--migrations-dir names a file",
        DirNamedBy::DefaultDir => {
            "the default migrations directory is a file (no `migrations_dir` is set)"
        }
        DirNamedBy::Library => "the directory your program gives `Migrator::new` is a file",
        DirNamedBy::Command => "`migrations_dir` names a file",
        // Cargo.toml's setting, or its default when not set: which, the caller did not say.
        DirNamedBy::BuildScript | DirNamedBy::Workspace => {
            "`migrations_dir` (`db/migrations` when not set) names a file"
        }
    };
    let parent = match dir.parent() {
        Some(parent) if parent.as_os_str().is_empty() => Path::new("."),
        Some(parent) => parent,
        None => return format!("{names}: {}", named_by.point_at("a directory")),
    };
    if holds_migrations(parent) {
        format!(
            "{names}: {}",
            named_by.did_you_mean(&show.text(parent), Some("the directory that holds it"))
        )
    } else {
        format!(
            "{names}: {}",
            named_by.point_at("the directory that holds the migrations")
        )
    }
}

/// Whether `dir` is a directory holding at least one migration file (`<VERSION>_<NAME>.sql`,
/// as it is or corrected, or a confiture (Python) `.py` one): what a directory must hold to
/// be suggested as the migrations directory meant.
fn holds_migrations(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(|entry| entry.ok()).any(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        !name::is_hidden_name(&name)
            && ((name::is_sql_file_name(&name) && name::gives_a_version(&name))
                || name::is_python_migration_name(&name))
    })
}

/// The directory beside the missing migrations directory `dir` whose name is close to its
/// name (`db/migrations` for `db/migration`, by [`crate::text::did_you_mean`], the one rule
/// of every other name) and which holds migrations (a file whose name gives a version): the
/// directory `dir` likely misspells; else a `migrations/` directory holding migrations in the
/// current directory or its parent (`migrations_here`). `None` when `dir` is there, or no
/// such directory is.
pub fn close_to_missing_dir(dir: &Path) -> Option<PathBuf> {
    if !is_missing_dir(dir) {
        return None;
    }
    close_sibling(dir).or_else(|| migrations_here(dir))
}

/// A `migrations/` directory holding migrations in the current directory or its parent, not
/// `missing` itself: a project whose migrations sit beside its `Cargo.toml` (the example's
/// `db/` copied out of its workspace, read from `db/db/migrations`) has them there; creating
/// `missing` would start a second, empty history.
fn migrations_here(missing: &Path) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    let missing = std::path::absolute(missing).ok()?;
    let found = [Some(cwd.as_path()), cwd.parent()]
        .into_iter()
        .flatten()
        .map(|dir| dir.join("migrations"))
        .find(|found| *found != missing && holds_migrations(found))?;
    Some(crate::display::relative_to(&found, &cwd))
}

/// [`close_to_missing_dir`]'s directory beside `dir` of a close name.
fn close_sibling(dir: &Path) -> Option<PathBuf> {
    let name = dir.file_name()?.to_str()?;
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    let listing = fs::read_dir(parent.unwrap_or(Path::new("."))).ok()?;
    let at = |sibling: &str| parent.map_or_else(|| PathBuf::from(sibling), |p| p.join(sibling));
    let close: Vec<String> = listing
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|sibling| !name::is_hidden_name(sibling))
        .filter(|sibling| crate::text::did_you_mean(name, [sibling.as_str()]).is_some())
        .filter(|sibling| holds_migrations(&at(sibling)))
        .collect();
    let closest = crate::text::did_you_mean(name, close.iter().map(String::as_str))?;
    Some(at(closest))
}

/// The help of a missing migrations directory `shown` beside `close`, a directory of
/// migrations with a close name ([`close_to_missing_dir`]): the close one first, then how to
/// start a new directory on purpose — created first, since `migrate generate` refuses to
/// create it beside the close one ([`refuse_new_dir_close_to_one`]).
fn close_dir_help(shown: &str, close: &str, named_by: DirNamedBy) -> String {
    // After a question, or after the setting to point at it.
    let or = match named_by {
        DirNamedBy::Flag => " or,",
        _ => "; or,",
    };
    format!(
        "{}{or} to start a new migrations directory there, create it first (`mkdir -p {}`)",
        named_by.did_you_mean(close, None),
        crate::hint::quote_path(Path::new(shown))
    )
}

/// `migrate generate`'s refusal to create the missing migrations directory `dir` beside a
/// directory of migrations whose name is close to its name ([`close_to_missing_dir`]): a
/// misspelled `--migrations-dir db/migration` would start a second history beside
/// `db/migrations`. A usage error naming the close one and how to create the new one on
/// purpose; a directory created first is written to as any other.
pub fn refuse_new_dir_close_to_one(dir: &Path, named_by: DirNamedBy) -> Result<()> {
    let Some(close) = close_to_missing_dir(dir) else {
        return Ok(());
    };
    let show = Shown(None);
    let (shown, close) = (show.text(dir), show.text(&close));
    Err(Error::usage(format!(
        "migrations directory `{shown}` does not exist, but `{close}`, a directory of \
         migrations with a close name, does"
    ))
    .with_help(close_dir_help(&shown, &close, named_by)))
}

/// Whether the migrations directory `dir` is simply not there yet — nothing at its path, not
/// even a symbolic link to nowhere, and nothing in the way of creating it (no file or broken
/// link above it) —: a fresh project's, which `migrate generate` creates. Anything else is for
/// [`load`] to read or to name what is wrong with it.
pub fn is_missing_dir(dir: &Path) -> bool {
    matches!(fs::symlink_metadata(dir), Err(e) if e.kind() == io::ErrorKind::NotFound)
        && blocking_ancestor(dir).is_none()
}

/// The nearest ancestor of `dir` that is there but is no directory (a file, a symbolic link
/// to nowhere or to a file, a loop of links): what stops `dir` from existing, so that it can
/// neither be read nor created. `None` when `dir` itself is there, or when its nearest
/// ancestor that is there is a directory.
fn blocking_ancestor(dir: &Path) -> Option<PathBuf> {
    match fs::symlink_metadata(dir) {
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory => {}
        _ => return None,
    }
    for ancestor in dir.ancestors().skip(1) {
        // `db/migrations`'s last ancestor is the current directory, spelled ``.
        if ancestor.as_os_str().is_empty() {
            return None;
        }
        match fs::symlink_metadata(ancestor) {
            Ok(_) => {
                return match fs::metadata(ancestor) {
                    Ok(meta) if meta.is_dir() => None,
                    _ => Some(ancestor.to_path_buf()),
                }
            }
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.kind() == io::ErrorKind::NotADirectory => {}
            Err(_) => return None,
        }
    }
    None
}

/// The error for a migrations directory that cannot exist because `blocker`, above it, is no
/// directory: what `blocker` is (the same words as for the directory itself) and what to do.
fn blocked_error(dir: &Path, blocker: &Path, named_by: DirNamedBy, show: Shown<'_>) -> Error {
    let shown = show.text(dir);
    let at = show.text(blocker);
    let point = named_by.point_at("the right directory");
    let is_link = fs::symlink_metadata(blocker).is_ok_and(|meta| meta.file_type().is_symlink());
    let (what, help) = match fs::read_link(blocker) {
        Ok(target) if is_link => {
            let resolved = match blocker.parent() {
                Some(parent) if target.is_relative() => parent.join(&target),
                _ => target,
            };
            let to = show.text(&resolved);
            match fs::metadata(blocker) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => (
                    format!("a symbolic link to `{to}`, which does not exist"),
                    format!("create `{to}`, or point the link at a directory, or {point}"),
                ),
                Ok(meta) => (
                    format!(
                        "a symbolic link to `{to}`, which is not a directory: it is {}",
                        not_a_directory(&meta)
                    ),
                    format!("point the link at a directory, or {point}"),
                ),
                Err(_) => (
                    format!("a symbolic link to `{to}`, which cannot be followed"),
                    format!("fix the link (a loop of links?), or {point}"),
                ),
            }
        }
        _ => match fs::metadata(blocker) {
            // Never "move it away": it may be `Cargo.toml`, or a migration.
            Ok(meta) if meta.is_file() => ("a file, not a directory".to_string(), point.clone()),
            Ok(meta) => (
                format!("{}, not a directory", not_a_directory(&meta)),
                point.clone(),
            ),
            Err(_) => ("not a directory".to_string(), point.clone()),
        },
    };
    Error::invalid(format!(
        "migrations directory `{shown}` cannot exist: `{at}` is {what}"
    ))
    .with_help(help)
}

/// What a path that is no directory is, in words: `a file`, `a character device`
/// (`/dev/null`), `a block device`, `a FIFO (named pipe)`, `a socket`. Only a regular file is
/// one to suggest moving away.
#[cfg(unix)]
fn not_a_directory(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_file() {
        "a file"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "neither a file nor a directory"
    }
}

#[cfg(not(unix))]
fn not_a_directory(meta: &fs::Metadata) -> &'static str {
    if meta.is_file() {
        "a file"
    } else {
        "neither a file nor a directory"
    }
}

/// `dir` is a symbolic link that does not lead to a directory (a missing target, a file, a
/// loop): the error names the link and where it points (resolved from the link's directory,
/// as the system resolves it) and says what to do. `Err(err)` back when `dir` is not a link.
fn link_error(
    dir: &Path,
    err: io::Error,
    named_by: DirNamedBy,
    show: Shown<'_>,
) -> std::result::Result<Error, io::Error> {
    let is_link = fs::symlink_metadata(dir).is_ok_and(|meta| meta.file_type().is_symlink());
    let target = match fs::read_link(dir) {
        Ok(target) if is_link => target,
        _ => return Err(err),
    };
    let resolved = match dir.parent() {
        Some(parent) if target.is_relative() => parent.join(&target),
        _ => target.clone(),
    };
    let link = show.text(dir);
    let to = show.text(&resolved);
    let repoint = format!(
        "point the link at the directory that holds the migrations (`ln -sfn DIR {link}`), or \
         {}",
        named_by.point_at("that directory")
    );
    let error = match fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Error::invalid(format!(
            "migrations directory `{link}` is a symbolic link to `{to}`, which does not exist"
        ))
        .with_help(format!("create `{to}`, or {repoint}")),
        Ok(meta) if !meta.is_dir() => Error::invalid(format!(
            "migrations directory `{link}` is a symbolic link to `{to}`, which is not a \
             directory: it is {}",
            not_a_directory(&meta)
        ))
        .with_help(repoint),
        Err(e) => Error::invalid(format!(
            "migrations directory `{link}` is a symbolic link to `{to}`, which cannot be followed"
        ))
        .with_source(e)
        .with_help(format!("fix the link (a loop of links?): {repoint}")),
        Ok(_) => Error::invalid(format!(
            "cannot read migrations directory `{link}` (a symbolic link to `{to}`)"
        ))
        .with_source(err)
        .with_help("check the permissions of the directory it points to"),
    };
    Ok(error)
}

/// Checks the entries of `dir`: the pure core. Returns the set and every problem found, in
/// path order; never fails, never panics on input.
pub fn check(dir: &Path, entries: Vec<Entry>, options: &CheckOptions) -> Checked {
    checker::check(dir, entries, options)
}

/// Whether the migration a file belongs to is applied on the database a command read, for the
/// helps that depend on it (C004's renumbering, C101's marker on an applied file): `Unknown`
/// where no ledger was read (lint, confiture-build, a refusal made before connecting), and the
/// help says which case needs what; `Yes`/`No` from [`crate::history::History::applied_here`]
/// where one was (`migrate status`: [`crate::plan::explain_applied`]), and the help says what
/// holds on this database, keeping the caution for the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppliedHere {
    /// No ledger was read.
    Unknown,
    /// A row of this database records it.
    Yes,
    /// No row of this database records it.
    No,
}

/// The help of `diagnostic` once whether its migration is applied here is known (`here`), for
/// the rules whose help depends on it: C003 (two pairs of one version: `here` is whether
/// either is; renumber one only if it is applied nowhere), C004 (the file after a gap:
/// renumber it into the gap only if it is applied nowhere), C005 (the first migration, after
/// `options`' first version: renumber it to that only if it is applied nowhere; not one whose
/// version is a timestamp, whose help already says what each database needs), C014 (a byte-order mark in an
/// applied up file is in its checksum), C101 (the no-transaction marker changes an applied up
/// file's checksum). `None` for every other diagnostic, for one of a file without a
/// well-formed name, and for C003 when one is applied (`plan::explain_duplicates` names it).
/// `versions` are the versions on disk once the renames back that the same report suggests
/// are done (`set.versions_on_disk()`'s where it suggests none): C004's number into the gap
/// counts from them, so that following every help leaves no gap.
pub fn help_applied_here(
    set: &MigrationSet,
    versions: &[u64],
    diagnostic: &Diagnostic,
    here: AppliedHere,
    options: &CheckOptions,
) -> Option<String> {
    let parsed = (diagnostic.path.file_name())
        .and_then(|n| n.to_str())
        .and_then(|n| name::parse_file_name(n).ok())?;
    let stem = format!("{}_{}", parsed.version_text, parsed.name);
    if diagnostic.code == checker::VERSION_GAP.code {
        let before = (versions.iter().copied())
            .filter(|v| *v < parsed.version)
            .max();
        let to = name::version_text(before.unwrap_or(0) + 1, set.version_width());
        return Some(checker::gap_help(&stem, &to, here));
    }
    if diagnostic.code == rules::requires_no_transaction_code() {
        return Some(rules::requires_no_transaction_help(parsed.kind, here));
    }
    let first_version = crate::history::first_version(options.first_version);
    if diagnostic.code == checker::FIRST_VERSION.code
        && parsed.version > first_version
        && !name::is_timestamp(parsed.version_text)
    {
        // The first migration, after the first version (one before it is to remove or to
        // let in by `first_version`, wherever it is applied).
        return Some(checker::late_start_help(
            &stem,
            parsed.version,
            options,
            set.version_width(),
            here,
        ));
    }
    if diagnostic.code == checker::BYTE_ORDER_MARK.code {
        return Some(checker::bom_help(&stem, parsed.kind, here));
    }
    if duplicates_a_version(diagnostic) && here == AppliedHere::No {
        // The pair kept for the version; one that is applied is named by
        // `plan::explain_duplicates`, which knows which one.
        let kept = (diagnostic.related.first())
            .and_then(|p| p.file_name()?.to_str())
            .and_then(|n| name::parse_file_name(n).ok())?;
        let kept = format!("{}_{}", kept.version_text, kept.name);
        return Some(checker::duplicate_help_neither_applied(&kept, &stem));
    }
    None
}

/// Whether `diagnostic` is about the sequence of versions — a gap before the file it is
/// reported on (C004) — rather than about that file's migration: the file is complete and
/// valid, its neighbours are what is missing. `down` rolls such a migration back (with a
/// warning); `up` still refuses to run past a gap.
pub fn concerns_sequence(diagnostic: &Diagnostic) -> bool {
    diagnostic.code == checker::VERSION_GAP.code
}

/// Whether `diagnostic` is two migrations sharing a version (C003): which of them a row of
/// that version records is for the history to tell ([`crate::history::History::of`]), and
/// nothing that writes the ledger from the files (`reinit`) may go on until one is renumbered.
pub fn duplicates_a_version(diagnostic: &Diagnostic) -> bool {
    diagnostic.code == checker::DUPLICATE_VERSION.code
}

/// "The directory has errors": the one error of every command that a migrations directory's
/// errors stop (`up`, `down`, `generate`, confiture-build's check). `Invalid` (exit 5):
/// `{dir} has 2 errors; {outcome}`, with a help line that points at `lint`, and the errors
/// attached as data ([`Error::diagnostics`], each also a line of `details`) so that every
/// renderer shows them its own way: rustc's layout, `cargo::error=` lines, JSON.
pub fn refusal<'a>(
    dir: &Path,
    errors: impl IntoIterator<Item = &'a Diagnostic>,
    outcome: &str,
) -> Error {
    let errors: Vec<&Diagnostic> = errors.into_iter().collect();
    let count = crate::display::plural(errors.len(), "error");
    Error::invalid(format!(
        "{} has {count}; {outcome}",
        crate::display::path_text(dir)
    ))
    .with_help(format!(
        "fix the files listed ({} explains each rule), then run again",
        crate::hint::command("lint")
    ))
    .with_diagnostics(errors)
}

/// `read_dir` then `check`.
pub fn load(dir: &Path, options: &CheckOptions) -> Result<Checked> {
    load_named_by(dir, options, DirNamedBy::Command)
}

/// [`load`], an error about the directory itself saying how `named_by` names another.
pub fn load_named_by(dir: &Path, options: &CheckOptions, named_by: DirNamedBy) -> Result<Checked> {
    // The files are inspected on the threads that read them, as [`check`] would inspect them.
    let read = read_dir_inspecting(
        dir,
        Some(options.tracking_table_name()),
        named_by,
        Shown(None),
    )?;
    let mut checked = checker::check_read(dir, read, options);
    checked.set.named_by = named_by;
    Ok(checked)
}

/// Lowercase hex SHA-256 of raw bytes (no normalisation), as confiture (Python) computes it.
pub fn checksum(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A regular `002_b.up.sql` replaced by a FIFO between the listing and the open (a race
    /// the listing's type check cannot see) made the read wait for a writer, for ever: the
    /// open was blocking. The file is opened without blocking and its opened type decides, so
    /// a FIFO (or a directory) in its place is refused with the listing's own words. The open
    /// runs on a thread with a deadline: a regression fails the test instead of hanging it.
    #[cfg(unix)]
    #[test]
    fn a_fifo_swapped_in_after_the_listing_is_refused_not_waited_on() {
        let tmp = confiture_test_support::TempDir::new("files_fifo_swap");
        let fifo = tmp.path.join("002_b.up.sql");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let folder = tmp.path.join("003_c.up.sql");
        fs::create_dir(&folder).unwrap();
        for (path, error) in [(&fifo, NOT_A_REGULAR_FILE), (&folder, IS_A_DIRECTORY)] {
            let (sent, got) = std::sync::mpsc::channel();
            let opened = path.clone();
            std::thread::spawn(move || {
                let _ = sent.send(read_file(opened, &mut [0u8; 64]));
            });
            let read = got.recv_timeout(std::time::Duration::from_secs(10));
            if read.is_err() {
                // Give the blocked open its writer, so that the thread ends.
                let _ = fs::OpenOptions::new().write(true).open(path);
            }
            match read {
                Ok(Entry::Unreadable { path: p, error: e }) => {
                    assert_eq!((&p, e.as_str()), (path, error));
                }
                other => panic!("{}: {other:?}", path.display()),
            }
        }
        // A regular file still reads, through the buffer or past it.
        let file = tmp.path.join("001_a.up.sql");
        fs::write(&file, "SELECT 1;\n".repeat(20)).unwrap();
        for size in [8, 4096] {
            match read_file(file.clone(), &mut vec![0u8; size]) {
                Entry::File { bytes, .. } => assert_eq!(bytes, "SELECT 1;\n".repeat(20).as_bytes()),
                other => panic!("{other:?}"),
            }
        }
    }

    /// hd2: a migration file linked to `/proc/self/environ` was read, and its NUL byte's C015
    /// quoted its line: the process's environment, secrets included, printed by `lint` in a
    /// CI job. A migration's link that resolves under `/proc`, `/sys` or `/dev` — directly, by
    /// a chain of links, by a `/proc/self/...` path — is refused before reading (C010, the
    /// migration `unreadable`), and a file opened on their file systems by any path is too; a
    /// link to a regular file elsewhere (a monorepo's shared migration) is read as before.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_migration_linked_into_the_system_directories_is_never_read() {
        let tmp = confiture_test_support::TempDir::new("files_system_link");
        let dir = tmp.path.join("migrations");
        fs::create_dir(&dir).unwrap();
        let shared = tmp.path.join("shared.sql");
        fs::write(&shared, "SELECT 1;\n").unwrap();
        let link = |name: &str, to: &Path| {
            std::os::unix::fs::symlink(to, dir.join(name)).unwrap();
            fs::write(dir.join(name.replace(".up.", ".down.")), "SELECT 1;\n").unwrap();
        };
        link("001_shared.up.sql", &shared);
        link("002_env.up.sql", Path::new("/proc/self/environ"));
        link("003_status.up.sql", Path::new("/proc/self/status"));
        link("004_kernel.up.sql", Path::new("/sys/kernel/uevent_seqnum"));
        let hop = tmp.path.join("hop");
        std::os::unix::fs::symlink("/proc/self/environ", &hop).unwrap();
        link("005_hop.up.sql", &hop);
        link("006_fd.up.sql", Path::new("/dev/stdin"));
        let entries = read_dir(&dir).unwrap();
        let unreadable: Vec<(String, &str)> = (entries.iter())
            .filter_map(|e| match e {
                Entry::Unreadable { path, error } => Some((
                    path.file_name()?.to_string_lossy().into_owned(),
                    error.as_str(),
                )),
                _ => None,
            })
            .collect();
        let names: Vec<&str> = unreadable.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names.iter().filter(|n| n.ends_with(".up.sql")).count(),
            5,
            "{unreadable:?}"
        );
        assert!(!names.contains(&"001_shared.up.sql"), "{unreadable:?}");
        for (name, error) in &unreadable {
            assert!(
                error.contains("never read") || error.contains("not a regular file"),
                "{name}: {error}"
            );
        }
        assert!(
            unreadable
                .iter()
                .any(|(_, e)| e.contains("symbolic link to `/proc/self/environ`")),
            "{unreadable:?}"
        );
        let read = (entries.iter()).any(|e| matches!(e, Entry::File { path, bytes } if path.ends_with("001_shared.up.sql") && bytes == b"SELECT 1;\n"));
        assert!(
            read,
            "a link to a regular file elsewhere is read: {entries:?}"
        );
        // The open itself refuses a file of those file systems, whatever path names it.
        for path in [
            "/proc/self/environ",
            "/proc/self/cmdline",
            "/sys/kernel/uevent_seqnum",
        ] {
            match read_file(PathBuf::from(path), &mut [0u8; 64]) {
                Entry::Unreadable { error, .. } => assert!(error.contains("never read"), "{error}"),
                other => panic!("{path}: {other:?}"),
            }
        }
    }

    /// hd2: a diagnostic quoted a line of any file, `\x00` escapes and all: a file that is
    /// not text (not UTF-8, a NUL byte) is shown by position only, a text file's lines are
    /// quoted, a FIFO or a file of the system is not even read.
    #[cfg(unix)]
    #[test]
    fn only_text_is_quotable() {
        let tmp = confiture_test_support::TempDir::new("files_quotable");
        let file = |name: &str, bytes: &[u8]| {
            let path = tmp.path.join(name);
            fs::write(&path, bytes).unwrap();
            path
        };
        assert_eq!(
            quotable_text(&file("a.sql", "SELECT 'é';\r\n".as_bytes())).as_deref(),
            Some("SELECT 'é';\r\n")
        );
        assert_eq!(
            quotable_text(&file("b.sql", b"SECRET=x\0SELECT 1;\n")),
            None
        );
        assert_eq!(
            quotable_text(&file("c.sql", b"SELECT '\xff secret';\n")),
            None
        );
        assert_eq!(quotable_text(Path::new("/proc/self/status")), None);
        assert_eq!(quotable_text(&tmp.path.join("missing.sql")), None);
    }

    /// hxf: a directory named like a confiture (Python) migration (`002_b.py/`) was taken for a
    /// subdirectory (C012, a warning), its version missing (C004 on the next pair), where a
    /// directory named like a `.sql` migration file is that migration unreadable (C010, its
    /// version on disk), as C010's documentation says of both.
    #[test]
    fn a_directory_named_like_a_migration_file_is_that_migration_unreadable_py_too() {
        let tmp = confiture_test_support::TempDir::new("files_dir_named_py");
        for (name, text) in [
            ("001_a.up.sql", "SELECT 1;\n"),
            ("001_a.down.sql", "SELECT 1;\n"),
        ] {
            fs::write(tmp.path.join(name), text).unwrap();
        }
        for name in ["003_c.up.sql", "003_c.down.sql"] {
            fs::write(tmp.path.join(name), "SELECT 1;\n").unwrap();
        }
        for dir in ["002_b.py", "004_d.up.sql"] {
            fs::create_dir(tmp.path.join(dir)).unwrap();
        }
        fs::write(tmp.path.join("004_d.down.sql"), "SELECT 1;\n").unwrap();
        let checked = load(&tmp.path, &CheckOptions::default()).unwrap();
        let codes: Vec<(&str, String)> = (checked.diagnostics.iter())
            .map(|d| (d.code, crate::display::file_name(&d.path)))
            .collect();
        assert_eq!(
            codes,
            [
                ("C010", "002_b.py".to_string()),
                ("C010", "004_d.up.sql".to_string())
            ]
        );
        assert!(checked.set.has_version(2));
    }

    #[test]
    fn fan_out_keeps_the_order_on_one_thread_and_on_several() {
        for n in [0, 1, 5, 100, 10_000] {
            let mut items: Vec<usize> = (0..n).collect();
            let doubled = fan_out(&mut items, 10, |chunk| {
                chunk.iter_mut().map(|i| *i * 2).collect::<Vec<_>>()
            });
            assert_eq!(doubled, (0..n).map(|i| i * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn fan_out_lets_the_work_change_the_items() {
        let mut items: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
        let taken = fan_out(&mut items, 100, |chunk| {
            chunk.iter_mut().map(std::mem::take).collect::<Vec<_>>()
        });
        assert_eq!(taken.len(), 5000);
        assert_eq!(taken[4999], "4999");
        assert!(items.iter().all(String::is_empty));
    }

    #[test]
    fn a_file_is_split_when_read_and_its_statements_skip_the_byte_order_mark() {
        let text = "\u{feff}-- c\nSELECT 1; SELECT 2;\nCOPY t FROM STDIN";
        let entries = vec![
            Entry::File {
                path: PathBuf::from("m/001_a.up.sql"),
                bytes: text.as_bytes().to_vec(),
            },
            Entry::File {
                path: PathBuf::from("m/001_a.down.sql"),
                bytes: b"SELECT 1;".to_vec(),
            },
        ];
        let checked = check(Path::new("m"), entries, &CheckOptions::default());
        let up = &checked.set.migrations[0].up;
        assert_eq!(up, &SqlFile::new("m/001_a.up.sql", text, up.mode, false));
        let spans: Vec<(&str, u32, bool)> = up
            .statements
            .iter()
            .map(|s| (&text[s.range.clone()], s.line, s.terminated))
            .collect();
        assert_eq!(
            spans,
            [
                ("SELECT 1;", 2, true),
                ("SELECT 2;", 2, true),
                ("COPY t FROM STDIN", 3, false)
            ]
        );
        assert_eq!(up.statements[0].copy_stream, None);
        assert_eq!(
            up.statements[2].copy_stream,
            Some(lexer::CopyStream::FromClient)
        );
    }
}
