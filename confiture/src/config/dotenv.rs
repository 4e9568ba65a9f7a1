//! `DATABASE_URL` from a `.env` file in the workspace root (as sqlx-cli and dbmate read it):
//! the last way of naming a database. Only that one variable is read, and nothing is set in
//! the process environment, so a `.env` never overrides a variable that is set. The file's
//! syntax is dotenvy's (as sqlx-cli reads it): `$VAR` is substituted in unquoted and
//! double-quoted values, single quotes keep a value as written.

use std::path::{Path, PathBuf};

use super::display_path;
use crate::error::{Error, Result};

/// The file's name, in the workspace root.
pub const FILE_NAME: &str = ".env";

/// The variable read from it.
const VARIABLE: &str = "DATABASE_URL";

/// `DATABASE_URL` of `<root>/.env` with the file's path, or `None` when there is no such file
/// or it does not set the variable (or sets it empty). A file that cannot be read or parsed is
/// an error naming it; its text is never quoted (it holds passwords).
pub(super) fn database_url(root: &Path) -> Result<Option<(PathBuf, String)>> {
    let path = root.join(FILE_NAME);
    if !path.is_file() {
        return Ok(None);
    }
    let shown = display_path(&path);
    let entries = dotenvy::from_path_iter(&path).map_err(|e| unreadable(&shown, e))?;
    let mut found = None;
    for entry in entries {
        let (name, value) = entry.map_err(|e| unreadable(&shown, e))?;
        if name == VARIABLE {
            // The last assignment wins, as when the file is sourced by a shell.
            found = Some(value);
        }
    }
    Ok(found
        .filter(|value| !value.trim().is_empty())
        .map(|value| (path, value)))
}

fn unreadable(shown: &str, error: dotenvy::Error) -> Error {
    match error {
        // The parser's message quotes the line, which may hold a password.
        dotenvy::Error::LineParse(_, _) => Error::invalid(format!(
            "{shown} has a line that is not `NAME=value`: {VARIABLE} was not read from it"
        ))
        .with_help(format!(
            "write `{VARIABLE}=postgresql://user@host:5432/dbname` (quote values with spaces), \
             or name the database another way"
        )),
        dotenvy::Error::Io(io) => {
            Error::invalid(format!("cannot read {shown}")).with_source(io)
        }
        _ => Error::invalid(format!(
            "{shown} uses a variable in a way that cannot be expanded: {VARIABLE} was not read from it"
        )),
    }
}
