//! Numbering (`C003`, `C004`, `C005`, `C011`): duplicate versions, the first version, gaps
//! and zero-padding widths, over the stems in version order.

use std::path::Path;

use super::{diagnostic, Found, Stem, CONFIG_TABLE};
use super::{DUPLICATE_VERSION, FIRST_VERSION, MIXED_VERSION_WIDTH, VERSION_GAP};
use crate::diagnostic::Diagnostic;
use crate::files::name;
use crate::files::AppliedHere;
use crate::files::{CheckOptions, IncompleteFile, PythonFile};

/// Duplicates, the first version, gaps and padding widths. Returns, for each stem, whether it
/// is the one kept for its version (the first in name order that has an up file), and the
/// directory's version width ([`crate::files::Checked::version_width`]).
///
/// `python`: confiture (Python)'s migrations (`<VERSION>_<NAME>.py`), sorted by version then
/// name, which take their versions in the sequence too: one sharing a version with another
/// migration (`.sql` or `.py`) is a duplicate as two `.sql` pairs are.
///
/// `misnamed`: the badly named files whose corrected name gives a version (C006). Each takes
/// that version: no gap or late start is reported where renaming it, as its C006 says, fills
/// the sequence, and no duplicate is told to move to its version.
pub(super) fn check_versions(
    found: &[Found],
    stems: &[Stem],
    python: &[PythonFile],
    misnamed: &[IncompleteFile],
    options: &CheckOptions,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Vec<bool>, usize) {
    // The versions taken by files that are no pair: `.py` migrations and misnamed files.
    let mut others: Vec<(u64, &str)> = (python.iter())
        .map(|f| (f.version, f.version_text.as_str()))
        .chain(
            misnamed
                .iter()
                .map(|f| (f.version, f.version_text.as_str())),
        )
        .collect();
    others.sort_unstable();
    // The sequence first: a gap's help may renumber later migrations down, which moves the
    // next free version a duplicate is told to take.
    let width = directory_width(version_texts(found, stems, python));
    let mut sequence = Vec::new();
    check_sequence(found, stems, &others, options, width, &mut sequence);
    let gap = (sequence.iter()).any(|d| d.code == VERSION_GAP.code || d.code == FIRST_VERSION.code);
    let highest_other = others.last().map(|&(v, _)| v);
    let kept = check_duplicates(found, stems, python, highest_other, gap, diagnostics);
    diagnostics.extend(sequence);
    check_widths(found, stems, python, width, diagnostics);
    (kept, width)
}

/// A migration that takes a version: a `.sql` pair (by its up file) or a confiture (Python)
/// `.py` file.
#[derive(Clone, Copy)]
struct Claim<'a> {
    path: &'a Path,
    version: u64,
    version_text: &'a str,
    name: &'a str,
    python: bool,
}

impl Claim<'_> {
    /// How a message names it: the stem of a pair (`003_f`), the file of a `.py` one
    /// (`003_g.py`), whose stem alone would read as a pair's.
    fn shown(&self) -> String {
        let dot_py = if self.python { ".py" } else { "" };
        format!("{}_{}{dot_py}", self.version_text, self.name)
    }

    /// Its files renamed to version `to`, as a move: `` `006_a` → `007_a` `` (a pair, both of
    /// its files), `` `006_g.py` → `007_g.py` ``.
    fn renamed(&self, to: &str) -> String {
        let dot_py = if self.python { ".py" } else { "" };
        format!("`{}` → `{to}_{}{dot_py}`", self.shown(), self.name)
    }
}

/// Keeps the first stem with an up file of each version; each other one, and each `.py`
/// migration of a version already taken (by a pair or an earlier `.py` file), is a duplicate,
/// told to move to its own next free version (above the highest, `highest_other`: a `.py`
/// migration's or a misnamed file's, included). `gap`: the sequence has a
/// gap (C004, C005), whose help may renumber the migrations above it down: the next free
/// version is then said as the one after the highest once the gap is settled.
fn check_duplicates(
    found: &[Found],
    stems: &[Stem],
    python: &[PythonFile],
    highest_other: Option<u64>,
    gap: bool,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<bool> {
    let mut kept = vec![false; stems.len()];
    let highest = stems.last().map(|s| s.version).max(highest_other);
    let mut next_free = highest.map_or(0, |v| v.saturating_add(1));
    // The migration kept for each version, in version order.
    let mut taken: std::collections::BTreeMap<u64, Claim<'_>> = std::collections::BTreeMap::new();
    let mut claims: Vec<(Option<usize>, Claim<'_>)> = Vec::new();
    for (i, stem) in stems.iter().enumerate() {
        let Some(up) = stem.up else { continue };
        let file = &found[up];
        claims.push((
            Some(i),
            Claim {
                path: &file.path,
                version: file.version,
                version_text: file.version_text(),
                name: file.name(),
                python: false,
            },
        ));
    }
    // After every pair: a pair is kept over a `.py` file of its version, which cargo
    // confiture cannot run.
    claims.extend(python.iter().map(|f| {
        let claim = Claim {
            path: &f.path,
            version: f.version,
            version_text: &f.version_text,
            name: &f.name,
            python: true,
        };
        (None, claim)
    }));
    for (stem, claim) in claims {
        match taken.get(&claim.version) {
            None => {
                taken.insert(claim.version, claim);
                if let Some(i) = stem {
                    kept[i] = true;
                }
            }
            Some(first) => {
                diagnostics.push(duplicate(first, &claim, next_free, gap));
                next_free = next_free.saturating_add(1);
            }
        }
    }
    kept
}

fn duplicate(kept: &Claim<'_>, file: &Claim<'_>, next_free: u64, gap: bool) -> Diagnostic {
    let renumbered = name::version_text(next_free, file.version_text.len());
    let message = format!(
        "version {} is used by two migrations: `{}` and `{}`",
        file.version_text,
        kept.shown(),
        file.shown()
    );
    // Which of the two ran, the files alone cannot tell: both are named, neither picked
    // (`migrate status`, which reads a ledger, names the one: `plan::explain_duplicates`).
    // Renumbered into a gap, the migrations above it leave the highest lower: the number
    // after the highest is the one that leaves no gap, whichever way the gap is settled.
    let to = match gap {
        false => format!("{renumbered}, the next free version"),
        true => format!(
            "the version after the highest once the gap in the versions is settled ({renumbered} \
             as the files are now; less if later migrations are renumbered into the gap)"
        ),
    };
    let help = format!(
        "renumber the one not applied anywhere yet (usually the one from the branch merged \
         last) to {to}, renaming both its files: {} or {}; the files alone do not tell which \
         one ran: `migrate status` names it",
        kept.renamed(&renumbered),
        file.renamed(&renumbered),
    );
    diagnostic(&DUPLICATE_VERSION, file.path, None, message, help).with_related(kept.path)
}

/// C003's help where a ledger was read and neither `kept` nor `file`, the two pairs of one
/// version (`003_a`, `003_b`), is applied on that database (one that is: `migrate status`
/// names it, `plan::explain_duplicates`): either may move, as far as this database goes.
pub(crate) fn duplicate_help_neither_applied(kept: &str, file: &str) -> String {
    format!(
        "neither `{kept}` nor `{file}` is applied here: renumber the one from the branch merged \
         last (rename both its files to the next free version, keeping its name), unless \
         another database applied it: there, renumber the other"
    )
}

/// The sequence, over distinct versions (a half-pair still takes its version). Versions below
/// `first_version` are reported once and left out, so they cause no gap. `others`: the
/// versions (and their texts) of the files that are no pair, `.py` migrations and misnamed
/// files, sorted: they fill the sequence, but a gap or late start is reported on a pair only.
/// The versions a gap or late start asks for are written at `width`, the directory's.
fn check_sequence(
    found: &[Found],
    stems: &[Stem],
    others: &[(u64, &str)],
    options: &CheckOptions,
    width: usize,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let lowest = stems.first().map(|stem| {
        let squashed_through = (stem.up.and_then(|up| found[up].contents.as_ref()))
            .and_then(|contents| contents.squashed_through);
        (stem.version, squashed_through)
    });
    let first_version = crate::history::first_version(crate::history::squashed_first_version(
        options.first_version,
        lowest,
    ));
    // A history numbered by timestamps (sqlx-cli's, dbmate's): one renumbering settles every
    // gap, said once, on the first migration.
    if let Some(first) = stems.first() {
        let file = &found[first.main_file()];
        if first.version > first_version && name::is_timestamp(file.version_text()) {
            diagnostics.push(timestamped(found, stems, first_version));
            return;
        }
    }
    // The previous `.sql` migration's version, and as its file writes it.
    let mut previous: Option<(u64, &str)> = None;
    let mut last_seen: Option<u64> = None;
    for stem in stems {
        if last_seen == Some(stem.version) {
            continue;
        }
        last_seen = Some(stem.version);
        let file = &found[stem.main_file()];
        if stem.version < first_version {
            diagnostics.push(before_first_version(file, options));
            continue;
        }
        // A Python migration or a misnamed file between the previous `.sql` one and this one
        // fills the gap.
        let other_before = others
            .iter()
            .filter(|&&(version, _)| version >= first_version && version < stem.version)
            .max_by_key(|(version, _)| *version)
            .copied();
        let problem = match previous.max(other_before) {
            None if stem.version > first_version => Some(late_start(file, options, width)),
            Some((before, text)) if stem.version > before.saturating_add(1) => {
                Some(gap(file, before, text, width))
            }
            _ => None,
        };
        diagnostics.extend(problem);
        previous = Some((stem.version, file.version_text()));
    }
}

/// How many renames [`timestamped`] spells out; the rest follow the same order.
const RENAMES_SHOWN: usize = 20;

/// `C005` for a history whose first migration's version is a timestamp
/// ([`name::is_timestamp`]: sqlx-cli's, dbmate's `20231010120000`): confiture's versions are
/// consecutive numbers, so every migration is renumbered in order from `first_version`, at the
/// width those numbers need (never fewer than 3 digits, as `generate` pads), each rename a `mv`
/// of its files; then the ledger of a database that applied them is told what to do.
fn timestamped(found: &[Found], stems: &[Stem], first_version: u64) -> Diagnostic {
    let file = &found[stems[0].main_file()];
    let last = first_version.saturating_add(stems.len().saturating_sub(1) as u64);
    let width = last.to_string().len();
    let renames: Vec<String> = (stems.iter().zip(first_version..))
        .take(RENAMES_SHOWN)
        .map(|(stem, to)| {
            let name = found[stem.main_file()].name();
            let to_stem = format!("{}_{name}", name::version_text(to, width));
            let path = |half: Option<usize>| half.map(|i| found[i].path.as_path());
            format!(
                "`{}`",
                crate::hint::mv_pair(path(stem.up), path(stem.down), &to_stem)
            )
        })
        .collect();
    let more = match stems.len().saturating_sub(RENAMES_SHOWN) {
        0 => String::new(),
        n => format!(", and so on for the {n} more, each the next number in version order"),
    };
    let through = name::version_text(last, width);
    let message = format!(
        "the first migration is version {}, a date and time (as sqlx-cli, dbmate and goose \
         number migrations): confiture's versions are consecutive numbers, from {}",
        file.version_text(),
        name::version_text(first_version, width),
    );
    let help = format!(
        "renumber the migrations in order, keeping their names: {}{more}; then, on a database \
         another tool migrated, record them as applied without running them with `migrate \
         baseline --through {through}`, and on one where confiture applied them under these \
         timestamps run `migrate reinit` to rewrite its rows to the new numbers",
        renames.join(", "),
    );
    diagnostic(&FIRST_VERSION, &file.path, None, message, help)
}

/// Where `first_version` is set: the table that set it, else the workspace's.
fn setting_table(options: &CheckOptions) -> &'static str {
    options.first_version_from.unwrap_or(CONFIG_TABLE)
}

/// A version below `first_version`.
fn before_first_version(file: &Found, options: &CheckOptions) -> Diagnostic {
    let table = setting_table(options);
    let first_version = crate::history::first_version(options.first_version);
    let first = name::version_text(first_version, file.version_text().len());
    let message = format!(
        "version {} comes before the first version, {first}",
        file.version_text()
    );
    let help = if first_version > crate::history::MIN_VERSION {
        format!(
            "remove it if it was squashed into version {first}, or lower `first_version` in \
             {table}"
        )
    } else {
        format!(
            "renumber it (versions start at {first}: version {} is the state before every \
             migration, what `migrate down --target 0` returns to), or remove it if it was \
             squashed into version {first}",
            file.version_text()
        )
    };
    diagnostic(&FIRST_VERSION, &file.path, None, message, help)
}

/// The lowest version is above `first_version`, which is named at `width`, the directory's.
fn late_start(file: &Found, options: &CheckOptions, width: usize) -> Diagnostic {
    let first_version = crate::history::first_version(options.first_version);
    let expected = name::version_text(first_version, width);
    let message = format!(
        "the first migration is version {}, but versions start at {expected}",
        file.version_text()
    );
    // No ledger here: `migrate status` says whether the file is applied on its database
    // (`plan::explain_applied`).
    let help = late_start_help(
        file.stem(),
        file.version,
        options,
        width,
        AppliedHere::Unknown,
    );
    diagnostic(&FIRST_VERSION, &file.path, None, message, help)
}

/// C005's help for `stem`, of `version`, the first migration of a history that starts after
/// the first version (written at `width`, the directory's): renumbering it to the first
/// version is safe only where no database applied it, `here` (unknown without a ledger); else
/// earlier migrations were squashed (say so with `first_version`) or deleted.
pub(crate) fn late_start_help(
    stem: &str,
    version: u64,
    options: &CheckOptions,
    width: usize,
    here: AppliedHere,
) -> String {
    let table = setting_table(options);
    let first_version = crate::history::first_version(options.first_version);
    let expected = name::version_text(first_version, width);
    let squashed = match options.first_version {
        None => format!(
            "if earlier migrations were squashed, set `first_version = {version}` in {table}"
        ),
        Some(_) => {
            format!("if earlier migrations were squashed, change `first_version` in {table}")
        }
    };
    match here {
        AppliedHere::Unknown => format!(
            "renumber `{stem}` to {expected} only if it is not applied anywhere yet; {squashed}"
        ),
        AppliedHere::Yes => format!(
            "keep `{stem}` at its number: it is applied here (renumbered, this database would \
             show it `renumbered` and `migrate up` refuse it); {squashed}, else restore them \
             from version control"
        ),
        AppliedHere::No => format!(
            "`{stem}` is not applied here: renumber it to {expected} unless another database \
             applied it (there it would be `renumbered`); {squashed}"
        ),
    }
}

/// `file` follows `previous` with versions missing between them: each version as its file
/// (`.sql` or `.py`) writes it, never padded to the other's width; the missing ones at the
/// directory's `width` ([`directory_width`], C011's), the width the help renumbers `file` to
/// (`versions 003 to 009` after `0002`, before `010`, where most versions have 3 digits).
fn gap(file: &Found, previous: u64, previous_text: &str, width: usize) -> Diagnostic {
    let missing_from = name::version_text(previous + 1, width);
    let missing = if file.version - previous == 2 {
        format!("version {missing_from} is missing")
    } else {
        format!(
            "versions {missing_from} to {} are missing",
            name::version_text(file.version - 1, width)
        )
    };
    let message = format!(
        "version {} follows version {}: {missing}",
        file.version_text(),
        previous_text
    );
    // No ledger here: `migrate status` says whether the file is applied on its database
    // (`plan::explain_applied`), and replaces this help when it knows an applied migration was
    // renumbered away from the gap (`plan::explain_gaps`).
    let help = gap_help(file.stem(), &missing_from, AppliedHere::Unknown);
    diagnostic(&VERSION_GAP, &file.path, None, message, help)
}

/// C004's help for `stem`, the pair after the gap, which would be renumbered to `to` (the first
/// missing version, at the directory's width): whether
/// that is safe depends on the databases that applied it, `here` (unknown without a ledger).
/// Known, no migration was renumbered away from the gap (else `plan::explain_gaps` helps).
pub(crate) fn gap_help(stem: &str, to: &str, here: AppliedHere) -> String {
    let restore = "restore a deleted migration from version control if it was applied anywhere \
                   (to retire it, keep its pair with `SELECT 1;` in each file)";
    match here {
        AppliedHere::Unknown => format!(
            "if an applied migration was renumbered away from it (`migrate status` shows it \
             `renumbered`), rename its files back; {restore}; renumber `{stem}` to {to} only if \
             it is not applied anywhere yet"
        ),
        AppliedHere::Yes => format!(
            "{restore}; keep `{stem}` at its number: it is applied here (renumbered, this \
             database would show it `renumbered` and `migrate up` refuse it)"
        ),
        AppliedHere::No => format!(
            "{restore}; `{stem}` is not applied here: renumber it to {to} unless another \
             database applied it (there it would be `renumbered`)"
        ),
    }
}

/// Whether a version written `text` is written at `width` digits: a padded text (`007`) fits
/// exactly its own width; an unpadded one (`1234`) fits any width up to its length.
fn fits_width(text: &str, width: usize) -> bool {
    match text.len() > 1 && text.starts_with('0') {
        true => text.len() == width,
        false => text.len() >= width,
    }
}

/// The directory's version width, the one owner of it: the width most versions (`texts`, as
/// their files write them; confiture (Python)'s `.py` migrations vote too) are written at, 3
/// at least ([`name::MIN_VERSION_WIDTH`]); the first such width on a tie. C011 reports the
/// versions not at it; C004 and C005 name the versions they ask for at it; `generate` pads to
/// it ([`crate::files::Checked::version_width`]; [`crate::files::MigrationSet::version_width`]
/// once the directory is read).
pub(crate) fn directory_width<'a>(texts: impl IntoIterator<Item = &'a str>) -> usize {
    let texts: Vec<&str> = texts.into_iter().collect();
    let max_width = texts.iter().map(|t| t.len()).max().unwrap_or(0);
    let mut best = (0, name::MIN_VERSION_WIDTH);
    for width in name::MIN_VERSION_WIDTH..=max_width {
        let count = texts.iter().filter(|t| fits_width(t, width)).count();
        if count > best.0 {
            best = (count, width);
        }
    }
    best.1
}

/// The version texts of the stems and `.py` migrations, which [`directory_width`] counts.
fn version_texts<'a>(
    found: &'a [Found],
    stems: &'a [Stem],
    python: &'a [PythonFile],
) -> impl Iterator<Item = &'a str> {
    (stems
        .iter()
        .map(|stem| found[stem.main_file()].version_text()))
    .chain(python.iter().map(|f| f.version_text.as_str()))
}

/// Mixed zero-padding: the versions not at the directory's `width` ([`directory_width`]) are
/// reported.
fn check_widths(
    found: &[Found],
    stems: &[Stem],
    python: &[PythonFile],
    width: usize,
    diagnostics: &mut Vec<Diagnostic>,
) {
    // A version two migrations share is C003's to renumber, to the next free version at this
    // width: renaming it to this width alone would keep the duplicate.
    let mut numbers: Vec<u64> = (stems.iter().map(|s| s.version))
        .chain(python.iter().map(|f| f.version))
        .collect();
    numbers.sort_unstable();
    let duplicated = |version: u64| {
        let at = numbers.partition_point(|&v| v < version);
        numbers.get(at + 1) == Some(&version)
    };
    for stem in stems {
        let file = &found[stem.main_file()];
        if fits_width(file.version_text(), width) || duplicated(stem.version) {
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
