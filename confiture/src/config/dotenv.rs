//! `DATABASE_URL` from the nearest `.env` file that sets it, looked for from the directory the
//! workspace was found from up to the workspace root (as sqlx-cli's dotenvy looks from the
//! current directory upward; dbmate reads `./.env`): the last way of naming a database. Only
//! that one variable is read, and nothing is set in the process environment, so a `.env`
//! never overrides a variable that is set. The file's
//! syntax is dotenvy's (as sqlx-cli reads it): `$VAR` and `${VAR}` are variables in unquoted
//! and double-quoted values, single quotes or `\$` keep a `$` as written. The variables are
//! expanded by the one expansion of environment files (`expand`), never dotenvy's, which
//! makes a variable not set "": one not set, or set to "" without a default, is refused at its
//! line, `${VAR:-default}` is read, and a part of the URL a `${VAR:-}` left out is refused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::display_path;
use crate::error::{Error, Result};
use crate::workspace::Workspace;

/// The file's name, in each directory from the start directory up to the workspace root.
pub const FILE_NAME: &str = ".env";

/// The variable read from it.
pub(super) const VARIABLE: &str = "DATABASE_URL";

/// Every `.env` rule 6 looks at, nearest first: one in each directory from
/// [`Workspace::start`] up to [`Workspace::root`], both included — a workspace member's own
/// `.env` before the root's, as sqlx-cli's dotenvy finds the nearest from the current
/// directory (it goes on above the root; we do not, so that a `.env` of a home directory
/// never names a project's database). A start directory outside the root (a member a
/// `package.workspace` key points elsewhere from) looks at its own directory, then the root's.
pub(super) fn paths(ws: &Workspace) -> Vec<PathBuf> {
    let mut dirs: Vec<&Path> = if ws.start.starts_with(&ws.root) {
        ws.start
            .ancestors()
            .take_while(|dir| dir.starts_with(&ws.root))
            .collect()
    } else {
        vec![ws.start.as_path(), ws.root.as_path()]
    };
    dirs.dedup();
    dirs.into_iter().map(|dir| dir.join(FILE_NAME)).collect()
}

/// What rule 6 found in the `.env` files of [`paths`].
#[derive(Debug, Default)]
pub(super) struct Found {
    /// The nearest `.env` whose `DATABASE_URL` is not blank, and that value, its variables
    /// expanded.
    pub url: Option<(PathBuf, String)>,
    /// The line of that `.env` that sets it, where known: what a message about the URL names.
    pub line: Option<usize>,
    /// The nearer `.env` files that set `DATABASE_URL` to nothing but blanks
    /// (`DATABASE_URL=`), passed over as an empty variable is: "no database configured"
    /// says so.
    pub set_empty: Vec<PathBuf>,
}

impl Found {
    /// Where the URL was found, as every source names one (what to fix, and where):
    /// `DATABASE_URL in .env, line 2`; `None` when no `.env` gave one.
    pub(super) fn label(&self) -> Option<String> {
        let (path, _) = self.url.as_ref()?;
        let line = (self.line).map_or_else(String::new, |line| format!(", line {line}"));
        Some(format!("{VARIABLE} in {}{line}", display_path(path)))
    }
}

/// `DATABASE_URL` of the nearest `.env` of [`paths`] that sets it to more than blanks, its
/// variables expanded (the caller's `vars`, else an earlier line of the file); one that does
/// not set it, or sets it empty, is passed over. A file that cannot be read or parsed is an
/// error naming it, never skipped; its text is never quoted (it holds passwords). A `.env`
/// that is a pipe is given up after `wait` (`STREAM_WAIT` where the database is read from it).
pub(super) fn database_url(
    ws: &Workspace,
    vars: &dyn Fn(&str) -> Option<String>,
    wait: Duration,
) -> Result<Found> {
    let mut found = Found::default();
    for path in paths(ws) {
        match database_url_within(&path, vars, wait)? {
            Some((path, url, _)) if url.trim().is_empty() => found.set_empty.push(path),
            Some((path, url, line)) => {
                found.url = Some((path, url));
                found.line = line;
                break;
            }
            None => {}
        }
    }
    Ok(found)
}

/// `DATABASE_URL` of the `.env` at `path`, with the path and the line that sets it (where
/// known), or `None` when there is no such file or it does not set the variable; a value of nothing but blanks written so
/// (`DATABASE_URL=`) is returned as it is. A `.env` that is a pipe is given up after `wait`.
fn database_url_within(
    path: &Path,
    vars: &dyn Fn(&str) -> Option<String>,
    wait: Duration,
) -> Result<Option<(PathBuf, String, Option<usize>)>> {
    let path = path.to_path_buf();
    let shown = display_path(&path);
    let not_read = |why: String| {
        Error::invalid(format!(
            "{shown} {why}: {VARIABLE} was not read from {shown}"
        ))
        .with_help(format!(
            "make {shown} a file holding `{VARIABLE}=postgresql://user@host:5432/dbname`, \
                 remove it, or name the database another way"
        ))
    };
    // What the name is itself (a link is not followed), then what it leads to: a `.env` that
    // is there but cannot be read is said, as one without permission to read it is — never
    // skipped as if there were none.
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::invalid(format!("cannot read {shown}")).with_source(e));
        }
        Ok(_) => {}
    }
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(not_read(
                "is a symbolic link to a file that does not exist".to_string(),
            ));
        }
        Err(e) => return Err(Error::invalid(format!("cannot read {shown}")).with_source(e)),
        Ok(meta) if meta.is_dir() => return Err(not_read("is a directory".to_string())),
        Ok(meta) if !meta.is_file() && !super::file::is_stream(&meta.file_type()) => {
            return Err(not_read(
                "is not a regular file (a socket or a block device)".to_string(),
            ));
        }
        Ok(_) => {}
    }
    // A pipe (a secret manager's mount) is read as `-c` reads one: on a helper thread, given
    // up after `wait`.
    let bytes = match super::read_user_file(&path, u64::MAX - 1, wait) {
        Ok(bytes) => bytes,
        Err(super::ReadError::TimedOut) => {
            return Err(not_read(format!(
                "is a pipe or a device, and it did not reach its end within {} s of waiting",
                wait.as_secs()
            ))
            .with_help(format!(
                "check that what writes to {shown} runs and ends, or name the database another \
                 way"
            )));
        }
        Err(super::ReadError::Interrupted) => return Err(super::file::read_interrupted(&shown)),
        Err(super::ReadError::Io(e)) => {
            return Err(Error::invalid(format!("cannot read {shown}")).with_source(e));
        }
    };
    // A byte-order mark (Windows editors write one) is not part of the first name: dotenvy
    // refused the first line.
    let text = &bytes[crate::text::bom_len_of_bytes(&bytes)..];
    // dotenvy, as a shell sourcing the file, ends lines at a LF alone: a lone CR (old Mac line
    // endings; a line break wherever else we count lines, `text::is_line_break`) made the
    // rest of the file part of one line, `DATABASE_URL` unread or its value the rest of the
    // file. Refused, at the line it ends.
    if let Some(at) =
        (0..text.len()).find(|&at| text[at] == b'\r' && crate::text::is_line_break(text, at))
    {
        let line = crate::text::line_of(text, at);
        return Err(Error::invalid(format!(
            "{shown}:{line}: the line ends with a lone CR (old Mac line endings), which a \
             `.env` file does not end lines with: {VARIABLE} was not read from {shown}"
        ))
        .with_help(format!(
            "save {shown} with LF line endings (CRLF ones read too), or name the database \
             another way"
        )));
    }
    // dotenvy's own reading first: its errors are the file's syntax errors.
    let mut found = None;
    for (index, entry) in dotenvy::from_read_iter(text).enumerate() {
        let (name, _) = entry.map_err(|e| unreadable(&shown, text, e))?;
        if name == VARIABLE {
            // The last assignment wins, as when the file is sourced by a shell and as dbmate
            // (godotenv) reads it; sqlx-cli (dotenvy's `dotenv()`) keeps the first. The README
            // says so.
            found = Some(index);
        }
    }
    let Some(index) = found else {
        return Ok(None);
    };
    let value = expanded(&shown, text, index, vars)?;
    Ok(Some((path, value, line_of_entry(text, index))))
}

/// The value of the `index`-th entry of the `.env` `text` (shown as `shown`), its variables
/// expanded by the one expansion of environment files (`expand`, with its rules: a variable
/// not set, or set to "" without a default, refused; `${VAR:-default}`; a part of the URL a
/// `${VAR:-}` left out refused, `file::emptied_parts`), never dotenvy's substitution, which
/// makes a variable not set "" and so another database (`postgresql://h/${DB_NAME}`: the
/// database named as the user). Which `$` starts a variable is dotenvy's reading of the file
/// (not in single quotes, not escaped as `\$`), and so is the name (`${NAME}`, or `$NAME`:
/// letters and digits); a variable is the caller's, else the value an earlier line of the
/// file gives it (as dotenvy looks them up), itself expanded so.
fn expanded(
    shown: &str,
    text: &[u8],
    index: usize,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<String> {
    let entries = templates(text).ok_or_else(|| {
        let line = line_of_entry(text, index);
        Error::invalid(format!(
            "{}: `{VARIABLE}` uses a variable in a way that cannot be expanded: {VARIABLE} was \
             not read from {shown}",
            at(shown, line)
        ))
        .with_help(DOLLAR_HELP)
    })?;
    expand_entry(shown, text, &entries, index, vars)
}

/// How a `$` is written in a `.env`, for the help of one that cannot be expanded.
const DOLLAR_HELP: &str = "write ${VAR} or ${VAR:-default}; a literal $ is `\\$`, or the \
                           value in single quotes";

/// `shown:line`, or `shown` alone when the line is not known.
fn at(shown: &str, line: Option<usize>) -> String {
    line.map_or_else(|| shown.to_string(), |line| format!("{shown}:{line}"))
}

/// [`expanded`] of entry `index` of `entries`; the first problem of an earlier entry it uses
/// is the one said, at that entry's line.
fn expand_entry(
    shown: &str,
    text: &[u8],
    entries: &[Entry],
    index: usize,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<String> {
    let (name, template) = &entries[index];
    let line = || line_of_entry(text, index);
    let refused = |what: String, help: String| {
        Error::invalid(format!(
            "{}: `{name}` {what}: {VARIABLE} was not read from {shown}",
            at(shown, line())
        ))
        .with_help(help)
    };
    let template = template
        .as_ref()
        .map_err(|(what, help)| refused(what.clone(), help.clone()))?;
    let cell = std::cell::RefCell::new(None);
    let lookup = |var: &str| {
        vars(var).or_else(|| {
            let earlier = entries[..index].iter().rposition(|(n, _)| n == var)?;
            match expand_entry(shown, text, entries, earlier, vars) {
                Ok(value) => Some(value),
                Err(error) => {
                    cell.borrow_mut().get_or_insert(error);
                    None
                }
            }
        })
    };
    let result = super::expand::expand(template, &lookup, super::expand::Emptied::AnyPart);
    // A problem of an earlier line this one uses is that line's to say.
    if let Some(error) = cell.borrow_mut().take() {
        return Err(error);
    }
    let value = result.map_err(|e| {
        let (what, help) = super::file::expand_problem(e, "database_url", "a literal $ is `\\$`");
        refused(what, help)
    })?;
    if let Some((what, help)) = super::file::emptied_parts(&lookup, template, &value) {
        return Err(refused(what, help));
    }
    Ok(value)
}

/// An entry of a `.env` ([`templates`]): its name, and its value's template or what is wrong
/// with it and the help.
type Entry = (String, std::result::Result<String, (String, String)>);

/// Each entry of the `.env` `text` as dotenvy reads it, its value as a template for
/// `expand` (`${NAME}` where dotenvy substitutes a variable, `$$` for a `$` it takes as
/// written), or why it cannot be one; `None` when dotenvy cannot read the file so. Found by
/// dotenvy itself, each `$` of the file followed by a mark no name holds: where dotenvy
/// substitutes, it takes the name before the mark, empty, as no variable's (the `$` is gone,
/// the mark and the name written after it kept); where it takes the `$` as written, the mark
/// follows it.
fn templates(text: &[u8]) -> Option<Vec<Entry>> {
    let text = std::str::from_utf8(text).ok()?;
    // A private-use character the file does not hold.
    let mark = ('\u{e000}'..='\u{f8ff}').find(|c| !text.contains(*c))?;
    let marked = text.replace('$', &format!("${mark}"));
    dotenvy::from_read_iter(marked.as_bytes())
        .map(|entry| {
            let (name, value) = entry.ok()?;
            Some((name, template(&value, mark)))
        })
        .collect()
}

/// What is wrong with a `$NAME` that dotenvy ends at a `_` (`$DB_NAME_X`: `$DB`, then
/// `_NAME_X`), and the help: to write the braces where the name ends.
fn unbraced_name_cut(name: &str, rest: &str) -> (String, String) {
    (
        format!(
            "uses `${name}{rest}`, which dotenvy (and so sqlx-cli) reads as the variable \
             `${name}` followed by `{rest}`: a variable's name without braces ends at a `_`"
        ),
        format!(
            "write `${{{name}{rest}}}` for the variable {name}{rest}, or `${{{name}}}{rest}` \
             for {name} followed by `{rest}`"
        ),
    )
}

/// The template of a value dotenvy read from a file marked as [`templates`] says, or what is
/// wrong with it and the help.
fn template(value: &str, mark: char) -> std::result::Result<String, (String, String)> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            // Taken as written (quoted, or `\$`): the mark follows.
            chars.next_if_eq(&mark);
            out.push_str("$$");
        } else if c == mark {
            // Where dotenvy substitutes a variable: `${...}`, or a run of letters and digits.
            if chars.next_if_eq(&'{').is_some() {
                let body: String = chars.by_ref().take_while(|c| *c != '}').collect();
                out.push_str(&format!("${{{body}}}"));
            } else {
                let mut name = String::new();
                while let Some(c) = chars.next_if(|c| c.is_alphanumeric()) {
                    name.push(c);
                }
                if name.is_empty() {
                    return Err((
                        "has a `$` that starts no variable's name".to_string(),
                        DOLLAR_HELP.to_string(),
                    ));
                }
                // A `_` ends dotenvy's name where a shell's goes on: `$DB_NAME` is `$DB` then
                // `_NAME` to dotenvy (and so to sqlx-cli), a variable the user did not mean,
                // set or not. Refused, with both spellings that read alike everywhere.
                if chars.peek() == Some(&'_') {
                    let rest: String =
                        std::iter::from_fn(|| chars.next_if(|c| c.is_alphanumeric() || *c == '_'))
                            .collect();
                    return Err(unbraced_name_cut(&name, &rest));
                }
                out.push_str(&format!("${{{name}}}"));
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// The line (from 1) the `index`-th entry of the `.env` `text` starts at: it ends at the
/// first line whose end, the file cut there, gives more entries than that, and starts at the
/// last line up to there that sets its variable.
fn line_of_entry(text: &[u8], index: usize) -> Option<usize> {
    let count = |cut: &[u8]| {
        dotenvy::from_read_iter(cut)
            .take_while(|entry| entry.is_ok())
            .count()
    };
    let (line, lines) = first_cut_line(text, |cut| count(cut) > index);
    let name = dotenvy::from_read_iter(text).nth(index)?.ok()?.0;
    (1..=line.min(lines))
        .rev()
        .find(|line| variable_on_line(text, *line).as_deref() == Some(name.as_str()))
}

/// Where dotenvy stopped with `error`: the line (from 1) the entry it could not read starts
/// at. dotenvy reads entries (a quoted value may span lines) and reports the entry's text, not
/// its line: the entry ends at the first line whose end, the file cut there, gives the same
/// error, and starts as many lines above as its text has line breaks.
fn line_of_error(text: &[u8], error: &dotenvy::Error) -> Option<usize> {
    let dotenvy::Error::LineParse(entry, index) = error else {
        return None;
    };
    // Cut before the entry's end, the file reads without that error (or with another: an
    // entry cut short); cut after, it stops there as the whole file does. So a binary search.
    let same = |cut: &[u8]| {
        matches!(
            dotenvy::from_read_iter(cut).find_map(|entry| entry.err()),
            Some(dotenvy::Error::LineParse(e, i)) if e == *entry && i == *index
        )
    };
    let (line, lines) = first_cut_line(text, same);
    if line > lines {
        return None;
    }
    let breaks = entry.trim_end_matches(['\n', '\r']).matches('\n').count();
    Some(line.saturating_sub(breaks).max(1))
}

/// The first line (from 1) of the `.env` `text` at whose end the file, cut there, `holds`
/// (false for every cut before it, true for every one after: a binary search), `lines + 1`
/// when none; and `lines`, how many lines it has (the last one may have no line break): the
/// one search of [`line_of_entry`] and [`line_of_error`].
fn first_cut_line(text: &[u8], holds: impl Fn(&[u8]) -> bool) -> (usize, usize) {
    let ends: Vec<usize> = text
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .chain(std::iter::once(text.len()))
        .collect();
    (
        ends.partition_point(|end| !holds(&text[..*end])) + 1,
        ends.len(),
    )
}

/// The variable line `line` of the file sets (`NAME=` or `export NAME=`), when it is a name:
/// anything else on a broken line may be part of a password, and is never shown.
fn variable_on_line(text: &[u8], line: usize) -> Option<String> {
    let line = text.split(|b| *b == b'\n').nth(line.checked_sub(1)?)?;
    let line = std::str::from_utf8(line).ok()?.trim_start();
    let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
    let (name, _) = line.split_once('=')?;
    let name = name.trim_end();
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'));
    valid.then(|| name.to_string())
}

fn unreadable(shown: &str, text: &[u8], error: dotenvy::Error) -> Error {
    let line = line_of_error(text, &error);
    let at = line.map_or_else(|| shown.to_string(), |line| format!("{shown}:{line}"));
    let variable = line.and_then(|line| variable_on_line(text, line));
    let what = match &variable {
        Some(name) => format!("the line setting `{name}`"),
        None => "a line".to_string(),
    };
    match error {
        // The parser's message quotes the line, which may hold a password.
        dotenvy::Error::LineParse(_, _) => Error::invalid(format!(
            "{at}: {what} is not `NAME=value` (a quote left open, or a character a value \
             cannot hold unquoted): {VARIABLE} was not read from {shown}"
        ))
        .with_help(match (&variable, line) {
            // Another line than the variable's: that line is the one to fix, not DATABASE_URL.
            (Some(name), Some(line)) if name != VARIABLE => format!(
                "fix or remove line {line} of {shown} (`{name}=` with a value it cannot read: \
                 quote values with spaces, close every quote), or name the database another way"
            ),
            (None, Some(line)) => format!(
                "fix or remove line {line} of {shown} (it is not `NAME=value`), or name the \
                 database another way"
            ),
            _ => format!(
                "write `{VARIABLE}=postgresql://user@host:5432/dbname` (quote values with \
                 spaces, close every quote), or name the database another way"
            ),
        }),
        dotenvy::Error::Io(io) => Error::invalid(format!("cannot read {shown}")).with_source(io),
        _ => Error::invalid(format!(
            "{at}: {what} uses a variable in a way that cannot be expanded: {VARIABLE} was not \
             read from {shown}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `database_url` reads from a `.env` holding `text`, in a directory of its own (a
    /// counter keeps tests that run at once apart).
    fn read(text: &str) -> Result<Option<(std::path::PathBuf, String)>> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "confiture-dotenv-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE_NAME), text).unwrap();
        let result =
            database_url_within(&dir.join(FILE_NAME), &|_| None, crate::config::STREAM_WAIT);
        std::fs::remove_dir_all(&dir).unwrap();
        result.map(|found| found.map(|(path, url, _)| (path, url)))
    }

    fn error_of(text: &str) -> Error {
        read(text).unwrap_err()
    }

    fn database_url_of(text: &str) -> Option<String> {
        read(text).unwrap().map(|(_, url)| url)
    }

    /// A `.env` starting with a byte-order mark was refused (`.env:1: a line is not
    /// NAME=value`); the mark is skipped, whatever the first line sets. A variable set twice:
    /// the last assignment wins (as the README says).
    #[test]
    fn a_byte_order_mark_is_skipped_and_the_last_assignment_wins() {
        for (text, url) in [
            (
                "\u{feff}DATABASE_URL=postgresql://h/a\n",
                Some("postgresql://h/a"),
            ),
            (
                "\u{feff}A=1\nDATABASE_URL=postgresql://h/b\n",
                Some("postgresql://h/b"),
            ),
            (
                "\u{feff}# comment\r\nexport DATABASE_URL=postgresql://h/c\r\n",
                Some("postgresql://h/c"),
            ),
            ("\u{feff}", None),
            (
                "DATABASE_URL=postgresql://h/first\nDATABASE_URL=postgresql://h/last\n",
                Some("postgresql://h/last"),
            ),
        ] {
            assert_eq!(database_url_of(text).as_deref(), url, "{text:?}");
        }
        // The lines of errors still count from the first line.
        let err = error_of("\u{feff}A=1\nB C=x\n");
        assert!(err.message.contains(&format!("{FILE_NAME}:2: ")), "{err}");
    }

    /// A broken `.env` was reported without its line or the variable: each broken line is
    /// named `file:line` with its variable (when the line has a name), past comments, blank
    /// lines and values quoted over several lines; the line's text is never shown.
    #[test]
    fn a_broken_line_is_named_with_its_line_and_variable() {
        for (text, at, variable) in [
            (
                "DATABASE_URL=\"postgresql://u:hunter2@h/db\n",
                1,
                Some("DATABASE_URL"),
            ),
            ("# c\n\nA=1\nB C=hunter2\n", 4, None),
            ("A=1\nexport TOKEN=abc'hunter2\nC=2\n", 2, Some("TOKEN")),
            (
                "A=\"one\ntwo\"\n\nDATABASE_URL=x y'hunter2\n",
                4,
                Some("DATABASE_URL"),
            ),
            ("A=1\nSECRET=${hunter2\n", 2, Some("SECRET")),
            ("DATABASE_URL=postgresql://u@h/db\nFOO\n", 2, None),
        ] {
            let err = error_of(text);
            let shown = err.to_string();
            assert!(!format!("{err:?}").contains("hunter2"), "{text:?}: {err:?}");
            assert!(
                err.message.contains(&format!("{FILE_NAME}:{at}: ")),
                "{text:?}: {shown}"
            );
            match variable {
                Some(name) => assert!(
                    err.message.contains(&format!("the line setting `{name}`")),
                    "{text:?}: {shown}"
                ),
                None => assert!(err.message.contains(": a line "), "{text:?}: {shown}"),
            }
            // The help names what to fix: the broken line, unless it is DATABASE_URL's own.
            let help = err.help.clone().unwrap_or_default();
            if variable == Some(VARIABLE) {
                assert!(help.starts_with("write `DATABASE_URL="), "{text:?}: {help}");
            } else {
                assert!(
                    help.starts_with(&format!("fix or remove line {at} of ")),
                    "{text:?}: {help}"
                );
            }
        }
    }

    /// dotenvy (and a shell sourcing the file) ends lines at a LF alone: a `.env` written with
    /// lone CRs (old Mac line endings) was one line to it — `DATABASE_URL` after the first
    /// line silently not read, or a value holding the rest of the file. Lines end at a lone
    /// CR for every other file we count lines of (`text::is_line_break`), so such a file is
    /// refused, naming the line the first lone CR ends and the line endings to write (exit 5,
    /// the other refusals of the file's); CRLF files read as before.
    #[test]
    fn a_lone_cr_line_ending_is_refused_at_its_line() {
        for (text, at) in [
            ("A=1\rDATABASE_URL=postgresql://h/a\r", 1),
            ("DATABASE_URL=postgresql://h/a\r", 1),
            ("# c\nA=1\nDATABASE_URL=postgresql://h/a\rB=2\n", 3),
            (
                "\u{feff}A=1\r\nB=\"x\ry\"\r\nDATABASE_URL=postgresql://h/a\r\n",
                2,
            ),
        ] {
            let err = error_of(text);
            assert_eq!(err.exit_code(), crate::exit::INVALID, "{text:?}: {err}");
            assert!(
                err.message.contains(&format!("{FILE_NAME}:{at}: "))
                    && err.message.contains("lone CR")
                    && err.message.contains("DATABASE_URL was not read"),
                "{text:?}: {err}"
            );
            let help = err.help.clone().unwrap_or_default();
            assert!(help.contains("LF line endings"), "{text:?}: {help}");
        }
        assert_eq!(
            database_url_of("A=1\r\nDATABASE_URL=postgresql://h/a\r\n").as_deref(),
            Some("postgresql://h/a")
        );
    }

    /// A `.env` that is there but is not a file that can be read is said, naming it and why
    /// (exit 5), never skipped as if there were none: a directory, a link to nothing, a pipe
    /// nothing writes to (given up after the wait, as `-c` gives one up).
    #[cfg(unix)]
    #[test]
    fn a_dotenv_that_cannot_be_read_is_named_with_why() {
        let dir =
            std::env::temp_dir().join(format!("confiture-dotenv-kinds-{}", std::process::id()));
        let path = dir.join(FILE_NAME);
        let cases: [(&str, &dyn Fn()); 3] = [
            ("is a directory", &|| std::fs::create_dir(&path).unwrap()),
            ("is a symbolic link to a file that does not exist", &|| {
                std::os::unix::fs::symlink(dir.join("gone"), &path).unwrap()
            }),
            (
                "is a pipe or a device, and it did not reach its end",
                &|| {
                    let made = std::process::Command::new("mkfifo")
                        .arg(&path)
                        .status()
                        .unwrap();
                    assert!(made.success());
                },
            ),
        ];
        for (why, make) in cases {
            std::fs::create_dir_all(&dir).unwrap();
            make();
            let err =
                database_url_within(&dir.join(FILE_NAME), &|_| None, Duration::from_millis(200))
                    .unwrap_err();
            std::fs::remove_dir_all(&dir).unwrap();
            assert_eq!(err.exit_code(), crate::exit::INVALID, "{err}");
            assert!(
                err.message.contains(&format!("{FILE_NAME} {why}")),
                "{why}: {err}"
            );
            assert!(
                err.message.contains("DATABASE_URL was not read"),
                "{why}: {err}"
            );
        }
    }
}
