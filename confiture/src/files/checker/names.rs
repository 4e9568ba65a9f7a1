//! `C006` (bad file name): the message and help of a `.sql` file that is not named
//! `<VERSION>_<NAME>.up.sql` or `.down.sql`, with a corrected name when one can be guessed and
//! no other entry has it.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::{diagnostic, file_name_of, Found, Stem, BAD_FILE_NAME, LONG_NAME};
use crate::diagnostic::Diagnostic;
use crate::files::name::{self, FILE_FORM};
use crate::files::rules::OtherToolSection;
use crate::files::{Direction, PythonFile};

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

/// `C017`: each migration whose name is longer than `migrate generate` accepts
/// ([`name::MAX_NAME_LEN`], the one limit), said once, of its up file (else its down file).
pub(super) fn report_long_names(found: &[Found], stems: &[Stem], out: &mut Vec<Diagnostic>) {
    for stem in stems {
        let file = &found[stem.main_file()];
        let len = file.name().len();
        if len <= name::MAX_NAME_LEN {
            continue;
        }
        out.push(diagnostic(
            &LONG_NAME,
            &file.path,
            None,
            format!(
                "the migration's name is {len} bytes long, longer than the {} bytes `migrate \
                 generate` accepts",
                name::MAX_NAME_LEN
            ),
            "rename the pair to a shorter name if it is not applied anywhere yet: the name \
             says what the migration changes, the SQL says how"
                .to_string(),
        ));
    }
}

/// Reports the badly named files, once every name in the directory is known: a corrected name
/// that another entry already has, that would give its version a second migration (rule
/// `C003`: [`version_holder`]), whose version comes before `first_version` (rule `C005`:
/// `0_init.up.sql` is no `000_init.up.sql`), or that is suggested for another file too, is not
/// suggested as is. `down_of` (one per bad name): a down file's up file, whose name it takes.
pub(super) fn report_bad_names(
    bad_names: &[(PathBuf, name::BadName, Vec<OtherToolSection>)],
    down_of: &[Option<&DownOf>],
    found: &[Found],
    python: &[PythonFile],
    subdirectories: &[PathBuf],
    first_version: u64,
    diagnostics: &mut Vec<Diagnostic>,
) {
    if bad_names.is_empty() {
        return;
    }
    let mut taken: HashSet<&OsStr> = found.iter().filter_map(|f| f.path.file_name()).collect();
    taken.extend(subdirectories.iter().filter_map(|p| p.file_name()));
    let down_of = |i: usize| down_of.get(i).copied().flatten();
    let suggestions: Vec<Option<&str>> = (bad_names.iter().enumerate())
        .map(|(i, (_, bad, _))| match down_of(i) {
            Some(down_of) => Some(down_of.file_name.as_str()),
            None => bad.suggestion.as_deref(),
        })
        .collect();
    let conflicts = suggestion_conflicts(&suggestions, |s| taken.contains(OsStr::new(s)));
    for (i, ((path, bad, sections), conflict)) in bad_names.iter().zip(conflicts).enumerate() {
        // A down file taking its up file's name completes that pair: no other migration's.
        let holder = match (down_of(i), suggestions[i]) {
            (None, Some(suggestion)) => version_holder(suggestion, found, python),
            _ => None,
        };
        let early = suggestions[i]
            .and_then(|s| name::parse_file_name(s).ok())
            .filter(|corrected| corrected.version < first_version)
            .map(|corrected| {
                let width = corrected.version_text.len();
                SuggestionTaken::BeforeFirst(name::version_text(first_version, width))
            });
        let conflict = match (conflict, holder) {
            (Some(Conflict::Taken), _) => Some(SuggestionTaken::ByFile),
            _ if early.is_some() => early,
            (_, Some(holder)) => Some(SuggestionTaken::VersionOf(holder)),
            (Some(Conflict::SameAs(other)), None) => {
                Some(SuggestionTaken::AlsoFor(file_name_of(&bad_names[other].0)))
            }
            (None, None) => None,
        };
        let named = BadNamed {
            bad: bad.clone(),
            down_of: down_of(i),
            taken: conflict,
            sections,
        };
        diagnostics.push(bad_name(path, named));
    }
}

/// The file of another migration that has the version of the corrected name `suggestion`, and
/// its half (or is a confiture (Python) migration, which has both): renaming a file to
/// `suggestion` would give that version two migrations (rule `C003`). A merge tool's copy
/// (`001_a.up_BASE_1234.sql`, git mergetool's), a file manager's (`001_a.up copy.sql`) or an
/// editor's backup of `001_a.up.sql` is corrected to `001_a_up_base_1234.up.sql` and the like:
/// a copy to delete, not a migration to rename. A file of that version and the other half under
/// another name is not one: the pair's names are then for `C001`/`C002` to settle.
fn version_holder(suggestion: &str, found: &[Found], python: &[PythonFile]) -> Option<String> {
    let corrected = name::parse_file_name(suggestion).ok()?;
    let stem = &suggestion[..corrected.version_text.len() + 1 + corrected.name.len()];
    let same_half = found
        .iter()
        .find(|f| f.version == corrected.version && f.kind == corrected.kind && f.stem() != stem);
    if let Some(file) = same_half {
        return Some(file_name_of(&file.path));
    }
    (python.iter())
        .find(|p| p.version == corrected.version)
        .map(|p| file_name_of(&p.path))
}

/// A `.sql` file whose name is not UTF-8: no version or name can be read from it.
pub(super) fn not_utf8(path: &Path) -> Diagnostic {
    let bad = name::BadName {
        reason: "its name is not valid UTF-8".to_string(),
        suggestion: None,
        non_ascii: Vec::new(),
    };
    let named = BadNamed {
        bad,
        down_of: None,
        taken: None,
        sections: &[],
    };
    bad_name(path, named)
}

/// What [`bad_name`] says of a badly named file: why, the up file it is the down file of,
/// why its corrected name is not suggested as is, and the sections of another tool's
/// single-file format it holds.
struct BadNamed<'a> {
    bad: name::BadName,
    down_of: Option<&'a DownOf>,
    taken: Option<SuggestionTaken>,
    sections: &'a [OtherToolSection],
}

/// The help of an up file in another tool's single-file format (dbmate's `001_a.sql`,
/// corrected to `suggestion`, `001_a.up.sql`): where to split it, when it holds a down section.
fn split_help(suggestion: &str, sections: &[OtherToolSection]) -> Option<String> {
    let corrected = name::parse_file_name(suggestion).ok()?;
    if corrected.kind != Direction::Up {
        return None;
    }
    let downs: Vec<&OtherToolSection> = (sections.iter())
        .filter(|s| s.direction == Direction::Down)
        .collect();
    let first = downs.first()?;
    let stem = &suggestion[..corrected.version_text.len() + 1 + corrected.name.len()];
    let lines: Vec<String> = downs.iter().map(|s| s.lines_text()).collect();
    Some(format!(
        "it is {}'s single-file format, both directions in one file: split it, moving {} (the \
         down section) into `{}` and renaming it to `{suggestion}`, and delete the markers \
         (confiture runs all of a file: a down section left in the up file runs with it)",
        first.tool,
        lines.join(", "),
        super::down_file_name(stem),
    ))
}

/// Why the corrected name of a badly named file is not suggested as is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SuggestionTaken {
    /// Another entry of the directory has that name.
    ByFile,
    /// It is also the corrected name of this other file.
    AlsoFor(String),
    /// Its version is that of another migration, which has this file of that half
    /// ([`version_holder`]).
    VersionOf(String),
    /// Its version comes before the first version, this one (rule `C005`).
    BeforeFirst(String),
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
    if !name::respells_version(file_name, suggestion) {
        ""
    } else {
        " (if it has been applied, run `migrate reinit` afterwards: the ledger row keeps the old \
         version text, which confiture (Python) matches files by)"
    }
}

fn bad_name(path: &Path, named: BadNamed<'_>) -> Diagnostic {
    let BadNamed {
        mut bad,
        down_of,
        taken,
        sections,
    } = named;
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
        // A combining mark is spelt as nothing: its letter, before it, says the spelling.
        .filter_map(|n| {
            n.ascii
                .filter(|a| !a.is_empty())
                .map(|ascii| (n.letter, ascii))
        })
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
            match split_help(&suggestion, sections) {
                Some(split) => format!("{split}{note}; migration files are named {form}"),
                None => format!(
                    "rename it to `{suggestion}`{note}; migration files are named {form}"
                ),
            }
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
        (Some(suggestion), Some(SuggestionTaken::VersionOf(holder))) => {
            let version = suggestion.split('_').next().unwrap_or_default();
            format!(
                "its corrected name `{suggestion}` would give version {version} a second \
                 migration: `{holder}` has it; if this file is a copy of one of that \
                 migration's files (an editor's backup, a merge tool's `_BASE_`, `_LOCAL_`, \
                 `_REMOTE_` or `_BACKUP_` file, a file manager's copy), delete it; otherwise \
                 give it a version of its own; migration files are named {form}"
            )
        }
        (Some(suggestion), Some(SuggestionTaken::BeforeFirst(first))) => {
            let version = suggestion.split('_').next().unwrap_or_default();
            let what = if version.bytes().all(|b| b == b'0') {
                format!(
                    " (version {version} is the state before every migration, what `migrate \
                     down --target 0` returns to): give it a version from {first} on"
                )
            } else {
                format!(
                    ": remove this file if it was squashed into version {first}, otherwise give \
                     it a version from {first} on"
                )
            };
            format!(
                "its corrected name `{suggestion}` has version {version}, before the first \
                 version, {first}{what}; migration files are named {form}"
            )
        }
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
