//! A problem found in the migrations directory: stable code, rule name, severity, file, line,
//! message and help. Produced by [`crate::files`]; rendered by the CLI (rustc style, JSON) and by
//! confiture-build (`cargo::error=` lines).

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable code, e.g. `C001`. Never reused for another meaning.
    pub code: &'static str,
    /// Stable kebab-case rule name, e.g. `missing-down`; used by `-- confiture:allow(<rule>)`.
    pub rule: &'static str,
    pub severity: Severity,
    /// The file (or directory) involved, as given to the checker (usually relative to the workspace).
    pub path: PathBuf,
    /// 1-based line, where one applies.
    pub line: Option<u32>,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// One line: `path:line: code: message` (the form confiture-build prints).
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}: {}", self.code, self.message)
    }
}

/// The documentation of one rule: listed in `docs/lints.md`, which a test keeps current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleDoc {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    /// One line: what the rule finds.
    pub summary: &'static str,
    /// Why it matters and how to fix it (Markdown).
    pub explanation: &'static str,
}
