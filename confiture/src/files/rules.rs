//! SQL lint rules over one migration file (issue 3).

use std::path::Path;

use crate::diagnostic::{Diagnostic, RuleDoc};

/// The SQL-level rules: codes `C100`–`C199`.
pub const SQL_RULES: &[RuleDoc] = &[];

/// Up or down: some rules only apply to up files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Up,
    Down,
}

/// Every SQL-level problem in one file's text. Called by [`super::check`] for each file.
pub fn check_sql(path: &Path, text: &str, kind: FileKind) -> Vec<Diagnostic> {
    let _ = (path, text, kind);
    Vec::new()
}
