//! The one error type of the library. Its [`ErrorKind`] decides the exit code; its [`Reason`]
//! carries, as data, what the failure is about (the migration and its file:line, the SQLSTATE
//! and server message, what committed and what did not, the database, the lock's holders); the
//! driver or IO error behind it is its [`source`](std::error::Error::source). Its message names
//! the thing involved (file and line, environment, database without password) and its help line
//! says what to do next. Code decides from the kind and the reason, never from the message.

use std::fmt;
use std::sync::Arc;

use crate::diagnostic::Diagnostic;
use crate::exit;

/// What went wrong, as far as a caller deciding what to do next cares. Maps 1:1 to exit codes
/// ([`ErrorKind::exit_code`], the one place that says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Cannot reach or log in to the database (exit 3).
    Connection,
    /// A migration's SQL failed (exit 4).
    MigrationFailed,
    /// Invalid configuration, environment file or migration files (exit 5).
    Invalid,
    /// The migration lock (or `migrate generate`'s claim on a version) was not acquired in
    /// time (exit 6).
    LockTimeout,
    /// History diverged: modified, missing, duplicate or out-of-order migrations (exit 7).
    Diverged,
    /// A migration to roll back is irreversible (exit 8).
    Irreversible,
    /// A request that makes no sense (e.g. `--steps 0`, unknown `--target`) (exit 64).
    Usage,
    /// The command completed, but its result could not be written to stdout (a full disk, an
    /// I/O error) (exit 74). The CLI's: the library writes nothing.
    OutputFailed,
    /// Interrupted by a signal (`verify`, `drift`: the scratch databases were dropped; `up`,
    /// `down`, `baseline`, `reinit`, `status` stopped by [`crate::Migrator::stop_when`]: the
    /// running statement was cancelled and its transaction rolled back) (exit 130).
    Interrupted,
}

impl ErrorKind {
    /// Stable snake_case name, used in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connection => "connection",
            ErrorKind::MigrationFailed => "migration_failed",
            ErrorKind::Invalid => "invalid",
            ErrorKind::LockTimeout => "lock_timeout",
            ErrorKind::Diverged => "diverged",
            ErrorKind::Irreversible => "irreversible",
            ErrorKind::Usage => "usage",
            ErrorKind::OutputFailed => "output_failed",
            ErrorKind::Interrupted => "interrupted",
        }
    }

    /// The process exit code of this kind (see [`crate::exit`]).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Connection => exit::CONNECTION,
            ErrorKind::MigrationFailed => exit::MIGRATION_FAILED,
            ErrorKind::Invalid => exit::INVALID,
            ErrorKind::LockTimeout => exit::LOCK_TIMEOUT,
            ErrorKind::Diverged => exit::DIVERGED,
            ErrorKind::Irreversible => exit::IRREVERSIBLE,
            ErrorKind::Usage => exit::USAGE,
            ErrorKind::OutputFailed => exit::OUTPUT_FAILED,
            ErrorKind::Interrupted => exit::INTERRUPTED,
        }
    }
}

/// What an error is about, as data (the message says it in prose for people). Renderers build
/// the JSON error object from it; callers match on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// Nothing beyond the kind, the message and the diagnostics.
    #[default]
    Other,
    /// The connection handed over with [`crate::Migrator::with_client`] is inside a
    /// transaction block (a `BEGIN` left open, or a transaction that failed and was not rolled
    /// back): refused before anything runs through it (exit 64), the transaction left as it is.
    InTransaction,
    /// The connection handed over with [`crate::Migrator::with_client`] logged in as another
    /// user than the environment names: refused before anything runs through it (exit 64).
    AnotherUser {
        /// The user the connection logged in as.
        connected: String,
        /// The user the environment names.
        named: String,
    },
    /// The connection handed over with [`crate::Migrator::with_client`] is to another
    /// database than the environment names: refused before anything runs through it (exit
    /// 64).
    AnotherDatabase {
        /// The database the connection is to (its `current_database()`).
        connected: String,
        /// The database the environment names.
        named: String,
    },
    /// The connection goes through a pooler in transaction or statement pooling mode, which
    /// would hand the migration lock and session settings to other clients: refused before
    /// anything runs (exit 5). `verify` and `drift` say it of their scratch database with
    /// help to give `--scratch-url`.
    TransactionPooling,
    /// The failure concerns this database: it cannot be reached, was lost, is read-only.
    Database {
        /// The connection target as `user@host:port/db` (never the password).
        database: String,
    },
    /// An unqualified tracking table has no schema to be created in (exit 5): the session's
    /// `search_path` names no existing schema, or puts a system schema first (`pg_catalog`),
    /// where no ledger can be. Refused before anything is written; the help says where the
    /// `search_path` is set.
    NoLedgerSchema,
    /// A lock another session holds was not acquired in time (the migration lock, or a lock on
    /// the tracking table).
    #[cfg(feature = "db")]
    Lock {
        /// The connection target (never the password), once known.
        database: Option<String>,
        /// The session holding it, when the server still named one.
        holders: Vec<crate::db::lock::LockHolder>,
    },
    /// A migration failed: its SQL was refused, or the connection was lost while it ran.
    #[cfg(feature = "db")]
    Migration(Box<MigrationFailure>),
    /// A file of `migrate drift --schema-dir` failed on its scratch database (exit 4): which
    /// file, where in it when known (the server placed the error, or the statement that failed
    /// ran alone), and what the server said.
    #[cfg(feature = "db")]
    SchemaFile {
        /// The file, as found under the schema directory.
        file: std::path::PathBuf,
        /// The 1-based line and column in `file`, when known.
        at: Option<(u32, u32)>,
        /// What the server said, when it answered.
        server: Option<ServerError>,
    },
    /// The ledger's history does not match the migration files (exit 7): which migrations,
    /// and how each differs. Made by [`Error::diverged`].
    Diverged(Diverged),
    /// A rollback that cannot run (exit 8): which migrations have no way back. Made by
    /// [`Error::irreversible`].
    Irreversible(Vec<Unrollable>),
    /// An environment file that cannot be used (exit 5): every problem found in it, each at
    /// its key and line, so that one run names them all.
    EnvironmentFile(Box<EnvironmentFileProblems>),
}

/// The problems of an environment file ([`Reason::EnvironmentFile`]): one error, several
/// causes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvironmentFileProblems {
    /// The file, as it was given.
    pub file: std::path::PathBuf,
    /// Each problem, in the order of the file's lines (those at no line last).
    pub problems: Vec<SettingProblem>,
}

/// Where the database URL came from when a file other than an environment file gave it: the
/// `DATABASE_URL` line of a `.env` (taken as it is, or as the value of an environment file's
/// `${DATABASE_URL}`) — the text's `DATABASE_URL in .env, line 2` as data
/// ([`Error::database_from`]), named as an environment file's problem is (`file`, `line`,
/// `key`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DatabaseFrom {
    /// The file, as the text names it (`.env`).
    #[serde(serialize_with = "crate::display::serialize_path")]
    pub file: std::path::PathBuf,
    /// The 1-based line that sets it, when known.
    pub line: Option<u32>,
    /// The variable it sets (`DATABASE_URL`).
    pub key: String,
}

/// One problem of an environment file: the key and line it is at, what is wrong, what to do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SettingProblem {
    /// The key, as a dotted path (`migration.lock_timeout`); `None` for the file as a whole
    /// (it names no database, it is not YAML).
    pub key: Option<String>,
    /// The 1-based line of the key, when it is found.
    pub line: Option<u32>,
    /// What is wrong, without the file (`` `migration.lock_timeout` "5" has no unit ``).
    pub message: String,
    /// Further lines of context.
    pub details: Vec<String>,
    /// What to write instead, when there is something to suggest.
    pub help: Option<String>,
}

impl SettingProblem {
    /// `line L: message`, or the message alone at no line: one line of the error's details.
    pub fn line_text(&self) -> String {
        match self.line {
            Some(line) => format!("line {line}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// The migrations of a diverged history, as a refusal carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diverged {
    /// Each migration (or row) that does not match, with how, in the order they are shown.
    pub migrations: Vec<Divergence>,
    /// The refusal is of a rollback (`down`): a modified migration is refused because its down
    /// file may not undo what was run.
    pub rollback: bool,
    /// The set is older than the database (a binary's embedded set, or a directory): the
    /// versions above its newest migration it lacks, and who embedded it. Shown first: it
    /// explains the `missing` rows.
    pub newer_database: Option<NewerDatabase>,
    /// The binary whose embedded set the ledger was compared with (`my-service 1.4.0`,
    /// [`crate::files::Origin::binary`]); `None` for a directory. Its migrations are no files
    /// on disk: a `modified` line says what the binary embeds, a `missing` one what it lacks.
    pub embedded_in: Option<String>,
}

/// A release older than its database: the ledger records versions above the newest its
/// migrations have — an embedded set's binary, or a migrations directory
/// (`plan::up`/`down` find them; `Display` is the detail line). What a rolling deploy's older
/// replicas meet once a newer one migrated; `UpOptions::allow_newer_database` accepts it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct NewerDatabase {
    /// The Cargo package that embedded the set; `None` for a set read from a directory.
    pub package: Option<String>,
    /// That package's version; `None` for a set read from a directory.
    pub package_version: Option<String>,
    /// The newest version the set has, as its file names it; `None` for an empty set.
    pub embeds_up_to: Option<String>,
    /// The versions the database records above it, as the ledger stores them.
    pub versions: Vec<String>,
}

impl NewerDatabase {
    /// The versions `package` (`package_version`), embedding up to `embeds_up_to`, lacks.
    pub fn new(
        package: impl Into<String>,
        package_version: impl Into<String>,
        embeds_up_to: Option<String>,
        versions: Vec<String>,
    ) -> NewerDatabase {
        NewerDatabase {
            package: Some(package.into()),
            package_version: Some(package_version.into()),
            embeds_up_to,
            versions,
        }
    }

    /// The versions a migrations directory whose newest migration is `up_to` lacks.
    pub fn of_directory(up_to: Option<String>, versions: Vec<String>) -> NewerDatabase {
        NewerDatabase {
            package: None,
            package_version: None,
            embeds_up_to: up_to,
            versions,
        }
    }
}

impl fmt::Display for NewerDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.package, &self.package_version) {
            (Some(package), Some(version)) => {
                write!(f, "this binary ({package} {version}) ")?;
                match &self.embeds_up_to {
                    Some(newest) => write!(f, "embeds migrations up to {newest}")?,
                    None => f.write_str("embeds no migration")?,
                }
                write!(
                    f,
                    "; the database also has {} applied, recorded by another build or the CLI",
                    self.versions.join(", ")
                )
            }
            _ => match &self.embeds_up_to {
                Some(newest) => write!(
                    f,
                    "the migrations go up to {newest}; the database also has {} applied, above \
                     them: recorded by a newer release, or their files are gone",
                    self.versions.join(", ")
                ),
                // Nothing to be above, nor older than: maybe not the directory (or the
                // database) meant ([`crate::plan::newer_database_help`] says how to check).
                None => write!(
                    f,
                    "the migrations directory has no migration, and the database has {} \
                     applied: recorded from another directory or by another release, or their \
                     files are gone",
                    self.versions.join(", ")
                ),
            },
        }
    }
}

impl Diverged {
    /// A refusal of `migrations`.
    pub fn new(migrations: Vec<Divergence>) -> Diverged {
        Diverged {
            migrations,
            rollback: false,
            newer_database: None,
            embedded_in: None,
        }
    }

    /// The same, refusing a rollback.
    pub fn of_rollback(migrations: Vec<Divergence>) -> Diverged {
        Diverged {
            migrations,
            rollback: true,
            newer_database: None,
            embedded_in: None,
        }
    }

    /// The same, from a binary older than its database ([`NewerDatabase`]).
    pub fn with_newer_database(self, newer: NewerDatabase) -> Diverged {
        Diverged {
            newer_database: Some(newer),
            ..self
        }
    }

    /// The same, of the set `binary` embeds ([`Diverged::embedded_in`]); `None` for a
    /// directory.
    pub fn of_set_in(self, binary: Option<String>) -> Diverged {
        Diverged {
            embedded_in: binary,
            ..self
        }
    }

    /// One line per migration, as the error's details show them, after the line of a
    /// [`NewerDatabase`].
    pub fn lines(&self) -> Vec<String> {
        let newer = self.newer_database.iter().map(ToString::to_string);
        let embedded = self.embedded_in.is_some()
            || (self.newer_database.as_ref()).is_some_and(|n| n.package.is_some());
        let mut lines: Vec<String> = newer
            .chain(self.migrations.iter().map(|d| match d {
                Divergence::Modified { .. } => {
                    // A binary's migrations are embedded: what it has now is no file's text.
                    let now = if embedded {
                        "this binary embeds"
                    } else {
                        "the file now has"
                    };
                    let line = ModifiedLine(d, now).to_string();
                    match self.rollback {
                        true => format!("{line}; its down file may not undo what was run"),
                        false => line,
                    }
                }
                // A binary's migrations are embedded: no file is involved.
                Divergence::Missing { id, applied_at } if embedded => {
                    let at = applied_at.as_ref().map(|at| format!(" ({at})"));
                    format!(
                        "missing: {id} is recorded as applied{} but not embedded in this binary",
                        at.unwrap_or_default()
                    )
                }
                _ => d.to_string(),
            }))
            .collect();
        lines.dedup();
        lines
    }
}

/// How one migration of the history differs from the files (the states `migrate status`
/// shows as diverged). `Display` is its detail line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Divergence {
    /// An applied migration whose up file changed since it was applied.
    Modified {
        /// The migration, `002_t2`.
        id: String,
        /// Its up file, when known.
        file: Option<std::path::PathBuf>,
        /// The checksum recorded when it was applied.
        recorded_checksum: Option<String>,
        /// The up file's checksum now.
        checksum: Option<String>,
        /// When it was applied (its ledger row's `applied_at`), when known.
        applied_at: Option<String>,
        /// The file differs from what ran only by its line endings, and which way
        /// ([`crate::history::line_endings_change`]): a checkout converted them.
        line_endings: Option<crate::history::LineEndingChange>,
    },
    /// Recorded as applied, but its files are gone.
    Missing {
        /// The row's migration, `002_t2`.
        id: String,
        /// When it was applied, when known.
        applied_at: Option<String>,
    },
    /// A second row for a version.
    Duplicate {
        /// The row's `version`, as stored.
        row_version: String,
        /// The migration it records a second time, when its file is on disk.
        id: Option<String>,
        /// When the second row was written (its `applied_at`), when known.
        applied_at: Option<String>,
    },
    /// An applied migration whose files now have another number (same name, same up file).
    Renumbered {
        /// The migration as its files name it now, `005_add_x`.
        id: String,
        /// As the ledger recorded it, `003_add_x`.
        recorded: String,
        /// The row's `version`, as stored (`003`).
        row_version: String,
        /// Its up file now.
        file: Option<std::path::PathBuf>,
        /// When it was applied, when known.
        applied_at: Option<String>,
    },
    /// An applied migration whose files are gone, its version now another migration's
    /// (another name, another up file).
    Replaced {
        /// As the ledger recorded it, `002_b`.
        id: String,
        /// The migration that has its version now, `002_x` (the applied one renamed and edited, or another: the files cannot tell).
        by: String,
        /// The row's `version`, as stored (`002`).
        row_version: String,
        /// The up file of the migration that has its version now.
        file: Option<std::path::PathBuf>,
        /// When it was applied, when known.
        applied_at: Option<String>,
    },
    /// A ledger row that nothing ties to one file ([`crate::history::State::Ambiguous`]): it
    /// has no checksum and the file of its version another name, or a file of another
    /// version has its name without its recorded checksum.
    Ambiguous {
        /// As the ledger recorded it, `002_add_users`.
        id: String,
        /// The row's `version`, as stored (`002`).
        row_version: String,
        /// The file it may record, `002_add_orders` (of its version) or `003_add_users` (of
        /// its name).
        candidate: String,
        /// That file's up file.
        file: Option<std::path::PathBuf>,
        /// Whether the candidate has the row's version (its name is another, and the row has
        /// no checksum); else it has the row's name at another version.
        same_version: bool,
        /// Whether the row recorded a checksum (then the candidate, of its name, has another
        /// up file).
        has_checksum: bool,
        /// When it was applied, when known.
        applied_at: Option<String>,
    },
    /// A pending migration numbered below the newest applied one.
    OutOfOrder {
        /// The migration, `002_t2`.
        id: String,
        /// The newest applied version, when known.
        newest_applied: Option<String>,
    },
}

impl Divergence {
    /// The migration, `002_t2`; `None` for a duplicate row whose file is gone.
    pub fn id(&self) -> Option<&str> {
        match self {
            Divergence::Modified { id, .. }
            | Divergence::Missing { id, .. }
            | Divergence::Renumbered { id, .. }
            | Divergence::Replaced { id, .. }
            | Divergence::Ambiguous { id, .. }
            | Divergence::OutOfOrder { id, .. } => Some(id),
            Divergence::Duplicate { id, .. } => id.as_deref(),
        }
    }

    /// The up file that ran, named where it was when it was applied (what `git log --`
    /// shows the applied version of): a modified migration's own file; a replaced or missing
    /// one's by its row's name — beside the file that has its number now, else in `dir`, the
    /// migrations directory. Never the file that has a replaced row's number now: another
    /// name. `None` for the other states, and for a row whose name is no file's (an empty
    /// version, a path separator).
    pub fn applied_up_file(&self, dir: &std::path::Path) -> Option<std::path::PathBuf> {
        let by_row = |id: &str, beside: Option<&std::path::Path>| {
            let plain = !id.contains(['/', '\\']) && !id.starts_with(crate::display::EMPTY_VERSION);
            let dir = beside.and_then(std::path::Path::parent).unwrap_or(dir);
            plain.then(|| dir.join(format!("{id}.up.sql")))
        };
        match self {
            Divergence::Modified { file, .. } => file.clone(),
            Divergence::Replaced { id, file, .. } => by_row(id, file.as_deref()),
            Divergence::Missing { id, .. } => by_row(id, None),
            _ => None,
        }
    }

    /// Its state, as `migrate status` names it.
    pub fn state(&self) -> crate::history::State {
        use crate::history::State;
        match self {
            Divergence::Modified { .. } => State::Modified,
            Divergence::Missing { .. } => State::Missing,
            Divergence::Duplicate { .. } => State::Duplicate,
            Divergence::OutOfOrder { .. } => State::OutOfOrder,
            Divergence::Renumbered { .. } => State::Renumbered,
            Divergence::Replaced { .. } => State::Replaced,
            Divergence::Ambiguous { .. } => State::Ambiguous,
        }
    }
}

/// A `modified` divergence's line, saying what has the other checksum now (`the file now
/// has`, `this binary embeds`): [`Divergence`]'s `Display` and [`Diverged::lines`].
struct ModifiedLine<'a>(&'a Divergence, &'a str);

impl fmt::Display for ModifiedLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Divergence::Modified {
            id,
            file,
            recorded_checksum,
            checksum,
            line_endings,
            ..
        } = self.0
        else {
            return self.0.fmt(f);
        };
        write!(f, "modified: {id}")?;
        if let Some(file) = file {
            write!(f, " ({})", crate::display::path_text(file))?;
        }
        if let Some(now) = checksum {
            let then = recorded_checksum.as_deref().unwrap_or("");
            write!(
                f,
                " was applied with checksum {}…, {} {}…",
                short(then),
                self.1,
                short(now)
            )?;
        }
        match line_endings {
            Some(crate::history::LineEndingChange::ToCrlf) => f.write_str(
                "; it differs only by line endings (CRLF): your checkout converted it; \
                 add `*.sql -text` to .gitattributes and check it out again",
            )?,
            Some(crate::history::LineEndingChange::ToLf) => f.write_str(
                "; it differs only by line endings: the ledger records it with CRLF, the file \
                 has LF (the checkout it was applied from converted it, or a `migrate reinit` \
                 recorded a converted checkout's bytes); a new checkout changes nothing: add \
                 `*.sql -text` to .gitattributes and `migrate reinit` records the file",
            )?,
            Some(crate::history::LineEndingChange::ToCr) => f.write_str(
                "; it differs only by line endings: it ran with LF, the file has lone CR line \
                 endings (an editor converted it); convert it to LF again",
            )?,
            Some(crate::history::LineEndingChange::ToLfFromCr) => f.write_str(
                "; it differs only by line endings: it ran with lone CR line endings, the file \
                 has LF (converted since); `migrate reinit` records the file",
            )?,
            Some(crate::history::LineEndingChange::BomRemoved) => f.write_str(
                "; it differs only by its byte-order mark (and its line endings, if they changed \
                 too): the ledger records it with a UTF-8 byte-order mark (it ran with one, or \
                 a `migrate reinit` recorded an editor's), the file has none now; `migrate \
                 reinit` records the file",
            )?,
            Some(crate::history::LineEndingChange::BomAdded) => f.write_str(
                "; it differs only by its byte-order mark (and its line endings, if they changed \
                 too): it ran without one, the file starts with a UTF-8 byte-order mark now (an \
                 editor saved it so); save it without the mark again",
            )?,
            None => {}
        }
        if let (Some(then), Some(now)) = (recorded_checksum, checksum) {
            if let Some(spelling) = crate::history::checksum_written_otherwise(then, now) {
                let how = match (spelling.upper_case, spelling.padded) {
                    (true, false) => "with upper-case letters",
                    (false, _) => "with whitespace around it",
                    (true, true) => "with upper-case letters and whitespace around it",
                };
                write!(
                    f,
                    "; it is the same digest {how}, written into the ledger by hand or by \
                     another tool (confiture writes the lower-case digest alone and compares it \
                     exactly): the file is what ran, and `migrate reinit` records its checksum \
                     as confiture does"
                )?;
                if spelling.padded {
                    f.write_str(
                        " (a `char(n)` checksum column pads every value it holds: make it \
                         `varchar(64)`, as confiture creates it, first)",
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// The first 12 characters of a checksum, as details show it.
fn short(checksum: &str) -> &str {
    checksum.get(..12).unwrap_or(checksum)
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Divergence::Modified { .. } => ModifiedLine(self, "the file now has").fmt(f),
            Divergence::Missing { id, applied_at } => {
                write!(f, "missing: {id} is recorded as applied")?;
                if let Some(at) = applied_at {
                    write!(f, " ({at})")?;
                }
                f.write_str(" but its files are gone")
            }
            Divergence::Duplicate {
                row_version,
                id: Some(id),
                ..
            } => write!(
                f,
                "duplicate: row `{row_version}` records {id} a second time"
            ),
            Divergence::Duplicate {
                row_version,
                id: None,
                ..
            } => write!(f, "duplicate: row `{row_version}`"),
            Divergence::Renumbered { id, recorded, .. } => write!(
                f,
                "renumbered: {recorded} was applied, and its files are now {id} (same up file)"
            ),
            Divergence::Replaced {
                id,
                by,
                row_version,
                file,
                ..
            } => {
                write!(
                    f,
                    "replaced: {row_version} was applied as {id}; its files are gone and {by}"
                )?;
                if let Some(file) = file {
                    write!(f, " ({})", crate::display::path_text(file))?;
                }
                f.write_str(" now has that number")
            }
            Divergence::Ambiguous {
                id,
                row_version,
                candidate,
                same_version,
                has_checksum,
                ..
            } => {
                if *same_version {
                    write!(
                        f,
                        "ambiguous: {id} was applied with no checksum, and {candidate} now has \
                         version {row_version} under another name: renamed since, or another \
                         migration that never ran, nothing tells"
                    )
                } else if *has_checksum {
                    write!(
                        f,
                        "ambiguous: {id} was applied as version {row_version}, and {candidate} \
                         now has its name but not the up file it recorded: renumbered and \
                         edited, or a new migration reusing the name, nothing tells"
                    )
                } else {
                    write!(
                        f,
                        "ambiguous: {id} was applied as version {row_version} with no \
                         checksum, and {candidate} now has its name: renumbered since, or a \
                         new migration reusing the name, nothing tells"
                    )
                }
            }
            Divergence::OutOfOrder { id, newest_applied } => {
                write!(f, "out of order: {id} is pending")?;
                match newest_applied {
                    Some(newest) => write!(f, " but {newest} is already applied"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A migration a rollback cannot run. `Display` is its detail line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unrollable {
    /// Its down file is marked `-- confiture:irreversible`, or it is confiture (Python)'s
    /// squashed baseline ([`crate::files::SqlFile::irreversible`]).
    Irreversible {
        /// The migration, `002_t2`.
        id: String,
        /// Its down file.
        down_file: std::path::PathBuf,
        /// It is the baseline confiture (Python)'s `migrate squash` wrote, whose down file
        /// always raises ([`crate::files::SqlFile::squashed_through`]).
        squashed_baseline: bool,
    },
    /// Its row is below `first_version`, or confiture (Python)'s `migrate squash` archived it
    /// into a squashed baseline: part of a history squashed into a schema snapshot, with no
    /// down file.
    Squashed {
        /// The row's migration, `002_t2`.
        id: String,
        /// The workspace's `first_version`.
        first_version: u64,
        /// The squashed baseline confiture (Python) archived the row into
        /// ([`crate::ledger::LedgerRow::archived_into`]), else `None`: below `first_version`.
        archived_into: Option<String>,
    },
}

impl Unrollable {
    /// The migration, `002_t2`.
    pub fn id(&self) -> &str {
        match self {
            Unrollable::Irreversible { id, .. } | Unrollable::Squashed { id, .. } => id,
        }
    }

    /// `irreversible` or `squashed`: why it cannot be rolled back.
    pub fn name(&self) -> &'static str {
        match self {
            Unrollable::Irreversible { .. } => "irreversible",
            Unrollable::Squashed { .. } => "squashed",
        }
    }
}

impl fmt::Display for Unrollable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unrollable::Irreversible {
                id,
                down_file,
                squashed_baseline: false,
            } => write!(
                f,
                "irreversible: {id} ({} is marked `-- confiture:irreversible`)",
                crate::display::path_text(down_file)
            ),
            Unrollable::Irreversible {
                id,
                down_file,
                squashed_baseline: true,
            } => write!(
                f,
                "irreversible: {id} is the squashed baseline confiture (Python)'s `migrate squash` \
                 wrote ({} always raises)",
                crate::display::path_text(down_file)
            ),
            Unrollable::Squashed {
                id,
                archived_into: Some(baseline),
                ..
            } => write!(
                f,
                "squashed: {id} was archived into the squashed baseline {baseline} by confiture \
                 (Python)'s `migrate squash`: its files were squashed away"
            ),
            Unrollable::Squashed {
                id, first_version, ..
            } => write!(
                f,
                "squashed: {id} is below first_version {first_version}: its files were squashed away"
            ),
        }
    }
}

/// A migration that failed, and what is known about the others of the run. The lists are the
/// data a renderer states: the CLI prints them as `applied before the failure: ...` (`rolled
/// back ...` for `down`), `fate unknown ...` and `not attempted: ...` after the error (they are
/// not lines of [`Error::details`]), and the JSON error object has them as `committed`,
/// `unknown` and `not_attempted`.
#[cfg(feature = "db")]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationFailure {
    /// The connection target (never the password).
    pub database: Option<String>,
    /// The migration's version, as its file names it.
    pub version: String,
    /// The migration's name.
    pub name: String,
    /// Whether the run applied (`up`) or rolled back (`down`): what `committed` did.
    pub direction: crate::migrator::Direction,
    /// Where in its file, when the server gave a position (or the file has one statement).
    pub location: Option<crate::db::apply::Location>,
    /// What the server said, when it answered (none for a lost connection).
    pub server: Option<ServerError>,
    /// Migrations this run committed (applied, or rolled back by `down`) before the failure.
    pub committed: Vec<String>,
    /// Migrations this run did not attempt after the failure.
    pub not_attempted: Vec<String>,
    /// Migrations whose fate is unknown: the connection dropped while they ran.
    pub unknown: Vec<String>,
    /// Migrations of `committed` whose commit may not have reached the server's disk: all but
    /// a run's last migration commit asynchronously, and the run ends by making them durable
    /// — unless the connection was lost first. A server crash then may have lost them
    /// (`migrate status` tells); a new connection that could read the ledger (and make it
    /// durable) leaves here only those it no longer shows. Empty otherwise.
    pub durability_unknown: Vec<String>,
    /// The sessions whose locks its ledger row waited for (exit 6): on the tracking table, or
    /// on the row itself. Empty for any other failure.
    pub lock_holders: Vec<crate::db::lock::LockHolder>,
    /// The migration's ledger row was written by another session during the run (exit 7):
    /// ours then broke the table's unique constraint, and the migration's transaction, its
    /// SQL with our row, rolled back. `None` for any other failure.
    pub concurrent_row: Option<ConcurrentRow>,
    /// The migration dropped cargo-confiture's own prepared statements (a `DEALLOCATE ALL` its
    /// SQL does not say: built at run time, or in a function it calls), and the engine's
    /// statement that needed one failed; `location` is the statement that dropped them, when
    /// known. `false` for any other failure.
    pub dropped_own_statements: bool,
}

/// A ledger row another session wrote for the version a run was applying, while it applied
/// it: a writer that takes no migration lock (confiture (Python)'s `migrate baseline` and
/// `migrate reinit`) or a hand-written `INSERT`.
#[cfg(feature = "db")]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConcurrentRow {
    /// The unique constraint of the tracking table our row broke (`tb_confiture_version_key`),
    /// as the server named it.
    pub constraint: Option<String>,
    /// The row there now: its `slug` (`..._baseline` for confiture's baseline)...
    pub slug: String,
    /// ... and its `applied_by`.
    pub applied_by: Option<String>,
}

#[cfg(feature = "db")]
impl Default for MigrationFailure {
    fn default() -> Self {
        MigrationFailure {
            database: None,
            version: String::new(),
            name: String::new(),
            direction: crate::migrator::Direction::Up,
            location: None,
            server: None,
            committed: Vec::new(),
            not_attempted: Vec::new(),
            unknown: Vec::new(),
            durability_unknown: Vec::new(),
            lock_holders: Vec::new(),
            concurrent_row: None,
            dropped_own_statements: false,
        }
    }
}

/// An error the server reported.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerError {
    /// The five-character SQLSTATE (`42P07`).
    pub sqlstate: String,
    /// The server's primary message.
    pub message: String,
}

#[cfg(feature = "db")]
impl ServerError {
    /// The SQLSTATE and primary message of a driver error, when the server sent one.
    /// A lost connection's is the server's `FATAL` heard under the driver before the socket's
    /// end, which the driver's error does not carry (`db::notices::heard_end_of`).
    pub fn of(error: &postgres::Error) -> Option<ServerError> {
        match error.as_db_error() {
            Some(db) => Some(ServerError {
                sqlstate: db.code().code().to_string(),
                message: db.message().to_string(),
            }),
            None => crate::db::notices::heard_end_of(error).and_then(|ended| {
                Some(ServerError {
                    sqlstate: ended.code?.code().to_string(),
                    message: ended.message,
                })
            }),
        }
    }
}

/// `message (SQLSTATE code)`, as [`crate::db`] words a server's error after the message it
/// explains.
impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (SQLSTATE {})", self.message, self.sqlstate)
    }
}

/// The source of an error whose server's answer is known without the driver's error: a
/// connection refused for a database a fleet found absent in `pg_database`
/// (`db::connect::absent_database`), which no connection was opened to learn.
impl std::error::Error for ServerError {}

/// The error behind an [`Error`], shared so that the error stays `Clone`.
type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// A library error: kind, [`reason`](Error::reason) (what it is about, as data), message (lowercase phrase naming
/// the object), optional help line (the next thing to do), optional details (one per line, e.g.
/// every offending migration), the underlying cause rendered as text, and that cause itself as
/// [`source`](std::error::Error::source) when it is an error value (driver, IO).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Error {
    /// What went wrong, as far as a caller deciding what to do next cares; decides the exit code.
    pub kind: ErrorKind,
    /// A lowercase phrase naming the thing involved (file and line, environment, database).
    pub message: String,
    /// Further lines of context, one per line (every offending migration, the database, ...).
    pub details: Vec<String>,
    /// The next thing to do, when there is one.
    pub help: Option<String>,
    /// The file problems behind an `Invalid` refusal, as data: a renderer shows these (rustc
    /// style) in place of `details`, which repeat them as text lines for JSON. Boxed: an error
    /// stays small on the happy path.
    pub diagnostics: Box<[Diagnostic]>,
    /// The reason, the cause and the source, boxed: an error stays small on the happy path
    /// (and `Result`s of it cheap to return); `None` is `Reason::Other` without a cause.
    data: Option<Box<Data>>,
}

#[derive(Debug, Clone, Default)]
struct Data {
    reason: Reason,
    /// The underlying cause as shown after the message (`message: cause`).
    cause: Option<String>,
    source: Option<Source>,
    /// The database a connected command raised it in, when its reason does not say
    /// ([`Error::in_database`]).
    database: Option<String>,
    /// The tenant schema of the session that raised it ([`Error::in_schema`]).
    schema: Option<String>,
    /// The password file the error says was not read ([`Error::ignored_passfile`]).
    ignored_passfile: Option<std::path::PathBuf>,
    /// The ledger row the read refused for a missing value ([`Error::incomplete_row`]).
    incomplete_row: Option<crate::ledger::IncompleteRow>,
    /// Where the database URL came from, a `.env` ([`Error::database_from`]).
    database_from: Option<DatabaseFrom>,
    /// The suggested commands of `help` and `details` were completed for the session
    /// (`hint::Invocation::complete_error`): once only.
    #[cfg(feature = "db")]
    suggestions_completed: bool,
    /// The server's word that it ended the session, heard under the driver before the lost
    /// connection that is the source ([`Error::keep_source`]).
    #[cfg(feature = "db")]
    ended: Option<ServerError>,
}

const OTHER: &Reason = &Reason::Other;

/// The library's `Result`: its error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            details: Vec::new(),
            help: None,
            diagnostics: Box::default(),
            data: None,
        }
    }
    /// Invalid configuration, environment file or migration files (exit 5).
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Invalid, message)
    }
    /// A request that makes no sense (exit 64).
    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Usage, message)
    }
    /// Cannot reach, or lost, the database (exit 3).
    pub fn connection(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Connection, message)
    }
    /// A diverged history (exit 7): `diverged` is its reason, and its lines are the details.
    pub fn diverged(message: impl Into<String>, diverged: Diverged) -> Error {
        let mut error = Error::new(ErrorKind::Diverged, message);
        error.details = diverged.lines();
        error.with_reason(Reason::Diverged(diverged))
    }
    /// A rollback refused because `migrations` cannot be rolled back (exit 8): they are its
    /// reason, and their lines the details.
    pub fn irreversible(message: impl Into<String>, migrations: Vec<Unrollable>) -> Error {
        let mut error = Error::new(ErrorKind::Irreversible, message);
        error.details = migrations.iter().map(ToString::to_string).collect();
        error.with_reason(Reason::Irreversible(migrations))
    }
    /// Adds the help line: what to do next.
    pub fn with_help(mut self, help: impl Into<String>) -> Error {
        self.help = Some(help.into());
        self
    }
    /// Adds a detail line.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Error {
        self.details.push(detail.into());
        self
    }
    /// Adds the underlying cause, as text (prefer [`Error::with_source`] when there is an error value).
    pub fn with_cause(mut self, cause: impl fmt::Display) -> Error {
        self.data_mut().cause = Some(cause.to_string());
        self
    }
    /// Keeps `source` as the error's [`source`](std::error::Error::source) and its text as the
    /// cause.
    pub fn with_source<E: std::error::Error + Send + Sync + 'static>(mut self, source: E) -> Error {
        self.data_mut().cause = Some(source.to_string());
        self.keep_source(source);
        self
    }
    /// Keeps `source` as the error's source, with `cause` as the text shown (e.g. the driver's
    /// text with the password scrubbed).
    pub fn with_source_shown<E: std::error::Error + Send + Sync + 'static>(
        mut self,
        source: E,
        cause: impl fmt::Display,
    ) -> Error {
        self.data_mut().cause = Some(cause.to_string());
        self.keep_source(source);
        self
    }
    /// Keeps `source`, and, for a driver error of a lost connection, the server's `FATAL` heard
    /// before it ([`ServerError::of`]): the error's SQLSTATE ([`Error::sqlstate`]).
    fn keep_source<E: std::error::Error + Send + Sync + 'static>(&mut self, source: E) {
        #[cfg(feature = "db")]
        {
            let driver = (&source as &dyn std::any::Any).downcast_ref::<postgres::Error>();
            self.data_mut().ended = driver
                .filter(|e| e.as_db_error().is_none())
                .and_then(ServerError::of);
        }
        self.data_mut().source = Some(Arc::new(source));
    }
    /// Replaces the cause text, keeping the source.
    #[cfg(feature = "db")]
    pub(crate) fn set_cause(&mut self, cause: String) {
        self.data_mut().cause = Some(cause);
    }
    /// Keeps `source` as the error's source without changing the cause text.
    #[cfg(feature = "db")]
    pub(crate) fn set_source<E: std::error::Error + Send + Sync + 'static>(&mut self, source: E) {
        self.keep_source(source);
    }
    /// Shares `other`'s source (the driver's error behind it, so its SQLSTATE), leaving this
    /// error's cause text as it is: an error made of several (one per host) whose first server
    /// answer `other` is.
    #[cfg(feature = "db")]
    pub(crate) fn share_source_of(&mut self, other: &Error) {
        if let Some(source) = other.data.as_ref().and_then(|d| d.source.clone()) {
            self.data_mut().source = Some(source);
            self.data_mut().ended = other.data.as_ref().and_then(|d| d.ended.clone());
        }
    }
    /// Marks the suggested commands completed; `false` when they already were.
    #[cfg(feature = "db")]
    pub(crate) fn mark_suggestions_completed(&mut self) -> bool {
        !std::mem::replace(&mut self.data_mut().suggestions_completed, true)
    }
    fn data_mut(&mut self) -> &mut Data {
        self.data.get_or_insert_with(Box::default)
    }
    /// The message and the cause's text, `message: cause`: the one line that says it all, as
    /// the CLI and the JSON error object show it (the cause is the driver's text with the
    /// password removed). `Display` leaves out a cause that is the `source()`, which error
    /// reporters print themselves.
    pub fn message_with_cause(&self) -> String {
        match self.cause() {
            Some(cause) => format!("{}: {cause}", self.message),
            None => self.message.clone(),
        }
    }
    /// The underlying cause as text (the source's, or the driver's with the password removed).
    pub fn cause(&self) -> Option<&str> {
        self.data.as_ref().and_then(|d| d.cause.as_deref())
    }
    /// The cause, to rewrite it (escape it) in place.
    #[cfg(feature = "db")]
    pub(crate) fn cause_mut(&mut self) -> Option<&mut String> {
        self.data.as_mut().and_then(|d| d.cause.as_mut())
    }
    /// What the error is about, as data ([`Reason::Other`] when nothing more is known).
    pub fn reason(&self) -> &Reason {
        self.data.as_ref().map_or(OTHER, |d| &d.reason)
    }
    /// What the error is about, to change it in place.
    #[cfg(feature = "db")]
    pub(crate) fn reason_mut(&mut self) -> &mut Reason {
        &mut self.data_mut().reason
    }
    /// Attaches what the error is about, as data.
    pub fn with_reason(mut self, reason: Reason) -> Error {
        self.data_mut().reason = reason;
        self
    }
    /// The ledger row a read refused because it lacks a value every row has when confiture
    /// writes it (exit 5); its help is decided against the files
    /// ([`crate::plan::incomplete_row_help`]).
    pub fn incomplete_row(&self) -> Option<&crate::ledger::IncompleteRow> {
        self.data.as_ref().and_then(|d| d.incomplete_row.as_ref())
    }
    /// Attaches the ledger row a read refused ([`Error::incomplete_row`]).
    #[cfg(feature = "db")]
    pub(crate) fn with_incomplete_row(mut self, row: crate::ledger::IncompleteRow) -> Error {
        self.data_mut().incomplete_row = Some(row);
        self
    }
    /// The database the error concerns (`user@host:port/db`, never the password), if known.
    pub fn database(&self) -> Option<&str> {
        match self.reason() {
            Reason::Database { database } => Some(database.as_str()),
            #[cfg(feature = "db")]
            Reason::Lock { database, .. } => database.as_deref(),
            #[cfg(feature = "db")]
            Reason::Migration(m) => m.database.as_deref(),
            #[cfg(feature = "db")]
            Reason::SchemaFile { .. } => None,
            Reason::Other
            | Reason::InTransaction
            | Reason::TransactionPooling
            | Reason::NoLedgerSchema
            | Reason::AnotherUser { .. }
            | Reason::AnotherDatabase { .. }
            | Reason::Diverged(_)
            | Reason::Irreversible(_)
            | Reason::EnvironmentFile(_) => None,
        }
        .or_else(|| self.data.as_ref().and_then(|d| d.database.as_deref()))
    }
    /// Where the URL of the database the error concerns came from when a `.env` gave it
    /// (`DATABASE_URL in .env, line 2`, which the text's `using` line and helps name).
    pub fn database_from(&self) -> Option<&DatabaseFrom> {
        self.data.as_ref().and_then(|d| d.database_from.as_ref())
    }
    /// Names where the database URL came from ([`Error::database_from`]), unless it already
    /// says.
    #[cfg(feature = "db")]
    pub(crate) fn with_database_from(mut self, from: Option<DatabaseFrom>) -> Error {
        if let (Some(from), None) = (from, self.database_from()) {
            self.data_mut().database_from = Some(from);
        }
        self
    }
    /// Names `database` (`user@host:port/db`, never the password) as the one the error was
    /// raised in, unless it already names one: what a command does with every error it
    /// raises once connected.
    #[cfg(feature = "db")]
    pub(crate) fn in_database(mut self, database: String) -> Error {
        if self.database().is_none() {
            self.data_mut().database = Some(database);
        }
        self
    }
    /// The password file this error says was not read because its group or others may read it
    /// or it is not a file ([`crate::config::PassfileUnread`])
    /// (`ConnectionSpec::ignored_passfile`), as the reason the server's request for a
    /// password went unanswered: a caller that warns about such a file before connecting, as
    /// libpq does, need not say it again (the CLI warns only when the error does not).
    pub fn ignored_passfile(&self) -> Option<&std::path::Path> {
        self.data
            .as_ref()
            .and_then(|d| d.ignored_passfile.as_deref())
    }
    /// Marks the error as the one saying `passfile` was not read ([`Error::ignored_passfile`]).
    #[cfg(feature = "db")]
    pub(crate) fn with_ignored_passfile(mut self, passfile: &std::path::Path) -> Error {
        self.data_mut().ignored_passfile = Some(passfile.to_path_buf());
        self
    }
    /// The tenant schema the error concerns: raised by a session on one tenant schema (a
    /// `--schema` run, a fleet's tenant target), `None` for a whole database.
    pub fn schema(&self) -> Option<&str> {
        self.data.as_ref().and_then(|d| d.schema.as_deref())
    }
    /// Names `schema` as the tenant schema the error was raised for, unless it names one.
    #[cfg(feature = "db")]
    pub(crate) fn in_schema(mut self, schema: &str) -> Error {
        if self.schema().is_none() {
            self.data_mut().schema = Some(schema.to_string());
        }
        self
    }
    /// The server's SQLSTATE, when the server reported the failure: a migration's, a schema
    /// file's, or the server's error behind this one (a connection refused with `53300`, a
    /// query refused, the `FATAL` that ended a lost session). Always with its
    /// [`Error::server_message`]: both are read from one place (`Error::server`).
    pub fn sqlstate(&self) -> Option<&str> {
        self.server().map(|(sqlstate, _)| sqlstate)
    }
    /// The server's primary message of the failure whose [`Error::sqlstate`] this is
    /// (`relation "a" already exists`, `terminating connection due to administrator command`),
    /// as the server wrote it.
    pub fn server_message(&self) -> Option<&str> {
        self.server().map(|(_, message)| message)
    }

    /// **The one owner** of "what the server said of this error": its SQLSTATE and primary
    /// message, from the reason (a migration's, a schema file's), else from the server's
    /// error behind it (the driver's, a [`ServerError`] source, or the `FATAL` heard before a
    /// lost connection).
    #[cfg(feature = "db")]
    fn server(&self) -> Option<(&str, &str)> {
        fn pair(s: &ServerError) -> (&str, &str) {
            (s.sqlstate.as_str(), s.message.as_str())
        }
        let told = match self.reason() {
            Reason::Migration(m) => m.server.as_ref().map(pair),
            Reason::SchemaFile { server, .. } => server.as_ref().map(pair),
            _ => None,
        };
        told.or_else(|| {
            self.driver_error()
                .and_then(postgres::Error::as_db_error)
                .map(|db| (db.code().code(), db.message()))
        })
        .or_else(|| {
            // A server's answer known without a connection ([`ServerError`]'s source).
            let source = self.data.as_ref()?.source.as_deref()?;
            source.downcast_ref::<ServerError>().map(pair)
        })
        .or_else(|| self.data.as_ref()?.ended.as_ref().map(pair))
    }

    #[cfg(not(feature = "db"))]
    fn server(&self) -> Option<(&str, &str)> {
        None
    }
    /// The driver's error behind this one, when there is one (downcast from the source).
    #[cfg(feature = "db")]
    pub fn driver_error(&self) -> Option<&postgres::Error> {
        self.data
            .as_ref()
            .and_then(|d| d.source.as_deref())
            .and_then(|s| s.downcast_ref())
    }
    /// Attaches the diagnostics of a refusal, each also a line of `details`.
    pub fn with_diagnostics<'a>(
        mut self,
        diagnostics: impl IntoIterator<Item = &'a Diagnostic>,
    ) -> Error {
        let mut all = std::mem::take(&mut self.diagnostics).into_vec();
        for d in diagnostics {
            self.details.push(d.to_string());
            all.push(d.clone());
        }
        self.diagnostics = all.into_boxed_slice();
        self
    }
    /// The process exit code of this error (see [`crate::exit`]).
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }
}

/// The message; the cause's text after it only when the cause is no [`source`](
/// std::error::Error::source) (a text cause, [`Error::with_cause`]). A cause that is an error
/// value is the source, and error reporters (`anyhow`, `eyre`, `std::error::Report`) print
/// each source on a line of its own: shown here too, it would be printed twice. The line a
/// renderer shows is [`Error::message_with_cause`].
///
/// The alternate form (`{:#}`) is the whole report, as the CLI's text says it: the message with
/// its cause, each detail on a line of its own (`  - `), then the next thing to do (`  help: `).
/// Error reporters never ask for it (`anyhow`'s `{:#}` prints each error of the chain with
/// `{}`), so the cause is still said once in a chain.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            f.write_str(&self.message_with_cause())?;
            for detail in &self.details {
                write!(f, "\n  - {detail}")?;
            }
            if let Some(help) = &self.help {
                write!(f, "\n  help: {help}")?;
            }
            return Ok(());
        }
        f.write_str(&self.message)?;
        let has_source = self.data.as_ref().is_some_and(|d| d.source.is_some());
        match self.cause() {
            Some(cause) if !has_source => write!(f, ": {cause}"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.data
            .as_ref()
            .and_then(|d| d.source.as_deref())
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_kept_and_its_text_is_the_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let err = Error::invalid("cannot read x").with_source(io);
        assert_eq!(err.message_with_cause(), "cannot read x: denied");
        let source = std::error::Error::source(&err).expect("source");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("an io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
        // A clone shares it.
        assert!(std::error::Error::source(&err.clone()).is_some());
        // A text cause is no source.
        assert!(std::error::Error::source(&Error::invalid("x").with_cause("y")).is_none());
    }

    /// Display showed the cause and `source()` returned it too: a reporter walking the chain
    /// (`anyhow`'s `{:#}`, `Caused by:`) printed it twice. Each text is printed once, for every
    /// way of attaching a cause.
    #[test]
    fn walking_the_chain_prints_each_cause_once() {
        fn chain(err: &Error) -> Vec<String> {
            let mut lines = vec![err.to_string()];
            let mut next = std::error::Error::source(err);
            while let Some(e) = next {
                lines.push(e.to_string());
                next = e.source();
            }
            lines
        }
        let io = || std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let sourced = [
            Error::invalid("cannot read x").with_source(io()),
            Error::invalid("cannot read x").with_source_shown(io(), "denied"),
        ];
        for err in &sourced {
            assert_eq!(chain(err), ["cannot read x", "denied"], "{err:?}");
            assert_eq!(err.message_with_cause(), "cannot read x: denied");
        }
        // A text cause has no source: Display is where it is said, once.
        let text = Error::invalid("cannot read x").with_cause("denied");
        assert_eq!(chain(&text), ["cannot read x: denied"]);
        assert_eq!(text.message_with_cause(), "cannot read x: denied");
        // No cause at all.
        assert_eq!(chain(&Error::invalid("x")), ["x"]);
        assert_eq!(Error::invalid("x").message_with_cause(), "x");
    }

    /// `{:#}` is the whole report — cause, details, help — so that an application printing
    /// one error loses none of the next step; `{}` stays the one line a chain needs.
    #[test]
    fn the_alternate_form_is_the_whole_report() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let err = Error::invalid("cannot read x")
            .with_source(io)
            .with_detail("db/migrations/001_a.up.sql")
            .with_detail("db/migrations/002_b.up.sql")
            .with_help("fix the file's mode, then run it again");
        assert_eq!(
            format!("{err:#}"),
            "cannot read x: denied\n  - db/migrations/001_a.up.sql\n  - \
             db/migrations/002_b.up.sql\n  help: fix the file's mode, then run it again"
        );
        assert_eq!(format!("{err}"), "cannot read x");
        // Without details or help, the one line.
        assert_eq!(format!("{:#}", Error::invalid("x").with_cause("y")), "x: y");
    }

    #[test]
    fn the_database_is_read_from_the_reason() {
        assert_eq!(Error::invalid("x").database(), None);
        let err = Error::connection("x").with_reason(Reason::Database {
            database: "app@h:5432/db".to_string(),
        });
        assert_eq!(err.database(), Some("app@h:5432/db"));
        assert_eq!(err.sqlstate(), None);
    }

    /// The server's message comes with its SQLSTATE whatever carries them, and the JSON
    /// error object says both: a connection error once had `server_message` null.
    #[cfg(feature = "db")]
    #[test]
    fn the_servers_message_comes_with_its_sqlstate() {
        let server = ServerError {
            sqlstate: "28P01".to_string(),
            message: "password authentication failed for user \"app\"".to_string(),
        };
        let refused = Error::connection("x").with_source(server.clone());
        let schema_file =
            Error::new(ErrorKind::MigrationFailed, "x").with_reason(Reason::SchemaFile {
                file: "a.sql".into(),
                at: None,
                server: Some(server.clone()),
            });
        for error in [refused, schema_file] {
            let said = (Some("28P01"), Some(server.message.as_str()));
            assert_eq!((error.sqlstate(), error.server_message()), said);
            let reported = crate::migrator::ReportedError::of(&error);
            let reported = (
                reported.sqlstate.as_deref(),
                reported.server_message.as_deref(),
            );
            assert_eq!(reported, said, "{error:?}");
        }
        let none = Error::connection("x").with_cause("refused");
        assert_eq!((none.sqlstate(), none.server_message()), (None, None));
    }

    #[test]
    fn every_kind_has_its_exit_code_and_name() {
        let kinds = [
            (ErrorKind::Connection, exit::CONNECTION, "connection"),
            (
                ErrorKind::MigrationFailed,
                exit::MIGRATION_FAILED,
                "migration_failed",
            ),
            (ErrorKind::Invalid, exit::INVALID, "invalid"),
            (ErrorKind::LockTimeout, exit::LOCK_TIMEOUT, "lock_timeout"),
            (ErrorKind::Diverged, exit::DIVERGED, "diverged"),
            (ErrorKind::Irreversible, exit::IRREVERSIBLE, "irreversible"),
            (ErrorKind::Usage, exit::USAGE, "usage"),
            (
                ErrorKind::OutputFailed,
                exit::OUTPUT_FAILED,
                "output_failed",
            ),
            (ErrorKind::Interrupted, exit::INTERRUPTED, "interrupted"),
        ];
        for (kind, code, name) in kinds {
            assert_eq!(kind.exit_code(), code, "{kind:?}");
            assert_eq!(kind.name(), name, "{kind:?}");
            assert_eq!(Error::new(kind, "x").exit_code(), code);
        }
    }
}
