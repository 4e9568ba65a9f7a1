//! `C006` (bad file name): the message and help of a `.sql` file that is not named
//! `<VERSION>_<NAME>.up.sql` or `.down.sql`, with a corrected name when one can be guessed and
//! no other entry has it.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::{diagnostic, file_name_of, Found, BAD_FILE_NAME};
use crate::diagnostic::Diagnostic;
use crate::files::name::{self, FILE_FORM};

/// The up file a misnamed down file is taken to be the down file of (`checker::down_of`):
/// the down file's name is that one's, not its own corrected one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DownOf {
    /// The up file, as it is named on disk.
    pub(super) up_file: String,
    /// The name the down file should have (`checker::down_file_name`).
    pub(super) file_name: String,
    /// Its version as the up file spells it, and the up file's `<NAME>`.
    pub(super) version_text: String,
    pub(super) name: String,
}

/// Reports the badly named files, once every name in the directory is known: a corrected name
/// that another entry already has, or that is suggested for another file too, is not
/// suggested as is. `down_of` (one per bad name): a down file's up file, whose name it takes.
pub(super) fn report_bad_names(
    bad_names: &[(PathBuf, name::BadName)],
    down_of: &[Option<&DownOf>],
    found: &[Found],
    subdirectories: &[PathBuf],
    diagnostics: &mut Vec<Diagnostic>,
) {
    if bad_names.is_empty() {
        return;
    }
    let mut taken: HashSet<&OsStr> = found.iter().filter_map(|f| f.path.file_name()).collect();
    taken.extend(subdirectories.iter().filter_map(|p| p.file_name()));
    let down_of = |i: usize| down_of.get(i).copied().flatten();
    let suggestions: Vec<Option<&str>> = (bad_names.iter().enumerate())
        .map(|(i, (_, bad))| match down_of(i) {
            Some(down_of) => Some(down_of.file_name.as_str()),
            None => bad.suggestion.as_deref(),
        })
        .collect();
    let conflicts = suggestion_conflicts(&suggestions, |s| taken.contains(OsStr::new(s)));
    for (i, ((path, bad), conflict)) in bad_names.iter().zip(conflicts).enumerate() {
        let conflict = conflict.map(|c| match c {
            Conflict::Taken => SuggestionTaken::ByFile,
            Conflict::SameAs(other) => SuggestionTaken::AlsoFor(file_name_of(&bad_names[other].0)),
        });
        diagnostics.push(bad_name(path, bad.clone(), down_of(i), conflict));
    }
}

/// A `.sql` file whose name is not UTF-8: no version or name can be read from it.
pub(super) fn not_utf8(path: &Path) -> Diagnostic {
    let bad = name::BadName {
        reason: "its name is not valid UTF-8".to_string(),
        suggestion: None,
        non_ascii: Vec::new(),
    };
    bad_name(path, bad, None, None)
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
pub(super) enum Conflict {
    /// `taken` says another entry has that name.
    Taken,
    /// The suggestion at this index is the same.
    SameAs(usize),
}

/// For each suggestion (of the badly named files, in order), whether it is taken by an entry
/// or suggested for another file too (then the first other one is named).
pub(super) fn suggestion_conflicts(
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

/// A rename that respells the version (`05_e` to `005_e`): the ledger still records an
/// applied file under the old text, and confiture (Python) matches rows by that text, so it
/// would run the file again; `migrate reinit` rewrites the row. Empty when the digits stay.
fn respelled_note(file_name: &str, suggestion: &str) -> &'static str {
    // A stray space before the version is no respelling of it.
    let file_name = name::trim_stray(file_name);
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    if file_name[..digits(file_name)] == suggestion[..digits(suggestion)] {
        ""
    } else {
        " (if it has been applied, run `migrate reinit` afterwards: the ledger row keeps the old \
         version text, which confiture (Python) matches files by)"
    }
}

fn bad_name(
    path: &Path,
    mut bad: name::BadName,
    down_of: Option<&DownOf>,
    taken: Option<SuggestionTaken>,
) -> Diagnostic {
    let file_name = file_name_of(path);
    // Unescaped: a `\r` before the version is one character, not the text `\r`.
    let raw_name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let message = format!("`{file_name}` is not a migration file name: {}", bad.reason);
    // A confiture (Python) migration's form, for a `.py` file.
    let form = if raw_name.ends_with(".py") {
        name::PYTHON_FILE_FORM
    } else {
        FILE_FORM
    };
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
    if let Some(down_of) = down_of {
        bad.suggestion = Some(down_of.file_name.clone());
    }
    let help = match (bad.suggestion, taken) {
        // Its up file's name, not its own corrected: how it is spelt does not matter.
        (Some(suggestion), None) if down_of.is_some() => {
            let note = respelled_note(&raw_name, &suggestion);
            format!(
                "rename it to `{suggestion}`, the name of the down file of `{}`{note}; \
                 migration files are named {form}",
                down_of.map_or("", |d| d.up_file.as_str())
            )
        }
        (Some(suggestion), None) if spelt.is_empty() => {
            let note = respelled_note(&raw_name, &suggestion);
            format!("rename it to `{suggestion}`{note}; migration files are named {form}")
        }
        (Some(suggestion), None) => format!(
            "rename it to `{suggestion}` ({}){}; migration files are named {form}",
            spelt.join(", "),
            respelled_note(&raw_name, &suggestion)
        ),
        (Some(suggestion), Some(SuggestionTaken::ByFile)) => format!(
            "its corrected name `{suggestion}` is taken by another file: if this one duplicates \
             it, delete it; otherwise give it another version or name; migration files are \
             named {form}"
        ),
        (Some(suggestion), Some(SuggestionTaken::AlsoFor(other))) => format!(
            "its corrected name `{suggestion}` is also that of `{other}`: rename one of them to \
             it and give the other another version or name; migration files are named \
             {form}"
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
                "migration files are named {form}; write the name in ASCII letters ({} \
                 {verb} no ASCII spelling here)",
                name::letter_list(&unspelt)
            )
        }
        (None, _) => format!(
            "migration files are named {form}; rename it, or give it another extension if it is not a migration"
        ),
    };
    diagnostic(&BAD_FILE_NAME, path, None, message, help)
}
