//! The one error type of the library. Its [`ErrorKind`] decides the exit code; its message
//! names the thing involved (file and line, environment, database without password) and its
//! help line says what to do next.

use std::fmt;

use crate::diagnostic::Diagnostic;
use crate::exit;

/// What went wrong, as far as a caller deciding what to do next cares. Maps 1:1 to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Cannot reach or log in to the database (exit 3).
    Connection,
    /// A migration's SQL failed (exit 4).
    MigrationFailed,
    /// Invalid configuration, environment file or migration files (exit 5).
    Invalid,
    /// The migration lock was not acquired in time (exit 6).
    LockTimeout,
    /// History diverged: modified, missing, duplicate or out-of-order migrations (exit 7).
    Diverged,
    /// A migration to roll back is irreversible (exit 8).
    Irreversible,
    /// A request that makes no sense (e.g. `--steps 0`, unknown `--target`) (exit 64).
    Usage,
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
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Connection => exit::CONNECTION,
            ErrorKind::MigrationFailed => exit::MIGRATION_FAILED,
            ErrorKind::Invalid => exit::INVALID,
            ErrorKind::LockTimeout => exit::LOCK_TIMEOUT,
            ErrorKind::Diverged => exit::DIVERGED,
            ErrorKind::Irreversible => exit::IRREVERSIBLE,
            ErrorKind::Usage => exit::USAGE,
        }
    }
}

/// A library error: kind, message (lowercase phrase naming the object), optional help line
/// (the next thing to do), optional details (one per line, e.g. every offending migration),
/// and the underlying cause rendered as text.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub details: Vec<String>,
    pub help: Option<String>,
    pub cause: Option<String>,
    /// The file problems behind an `Invalid` refusal, as data: a renderer shows these (rustc
    /// style) in place of `details`, which repeat them as text lines for JSON. Boxed: an error
    /// stays small on the happy path.
    pub diagnostics: Box<[Diagnostic]>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            details: Vec::new(),
            help: None,
            cause: None,
            diagnostics: Box::default(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Invalid, message)
    }
    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Usage, message)
    }
    pub fn connection(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Connection, message)
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Error {
        self.help = Some(help.into());
        self
    }
    pub fn with_detail(mut self, detail: impl Into<String>) -> Error {
        self.details.push(detail.into());
        self
    }
    pub fn with_cause(mut self, cause: impl fmt::Display) -> Error {
        self.cause = Some(cause.to_string());
        self
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
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(cause) = &self.cause {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
