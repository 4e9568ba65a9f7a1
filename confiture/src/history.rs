//! The history of a database: its ledger rows matched to the migration files. The one rule
//! that `status` (what to show), `plan` (what `up`, `down`, `baseline` and `reinit` do) and the
//! engine (what committed before a lost connection) all read. Pure.
//!
//! The rule:
//! - Versions compare as integers ([`Version`]: `9` < `10`, `001` = `1`), a ledger row's with
//!   surrounding whitespace dropped ([`Version::of_ledger`]: `' 003'` is `003`). A ledger row
//!   whose version is not a number (or does not fit in 64 bits) matches no file.
//! - Two pairs sharing a version (`C003`; the set keeps the first by name,
//!   [`MigrationSet::duplicates`] holds the others): the one a row of that version records
//!   (its name, or its checksum) is that version's migration, when no row records the kept
//!   one. The other is the duplicate to renumber, never a migration that replaced it.
//! - A file matches the row with its integer version. When several rows have that version, the
//!   one spelled like the file wins (`001` over `1`), else the one applied first; the others are
//!   [`State::Duplicate`]. A row is always addressed by its own `version` text (the column is
//!   `UNIQUE`), never by a text re-derived from a file name.
//! - A matched row whose checksum differs from the up file's ([`checksum_matches`]) is
//!   [`State::Modified`]; otherwise [`State::Applied`], also when the row has no checksum and
//!   the file its name: nothing says it changed. A row with no checksum whose name is not the
//!   file's is [`State::Ambiguous`] ([`is_undecided`]): renamed, or another migration at its
//!   number, nothing tells.
//! - A row whose version has no file or another migration ([`is_another_migration`]; a version
//!   that is not a number has none), and whose name and checksum are a file's of another
//!   version — or, when no file has both, whose checksum one file of another version alone has
//!   (renamed and renumbered: confiture (Python) runs `002-dash.up.sql` as version `002-dash`,
//!   which we refuse, C006, and the file renamed `002_dash.up.sql` is its migration; not below
//!   `first_version`) — is [`State::Renumbered`] to it
//!   unless the rows of that file's version record it (one of them is not another migration
//!   than it): swaps, cycles and chains of renumbered migrations included; one row per file.
//!   The rows of that version then match no file (renumbered themselves, or missing). Several
//!   files with its checksum and none with its name: [`State::Ambiguous`] (which one ran?).
//! - A row whose version has no file or another migration, that is not renumbered, and whose name a file of another version has without its recorded checksum
//!   (the row has none, or another) is [`State::Ambiguous`], tied to that file, under the
//!   same conditions as a renumbering (not recorded by the rows of its own version, one row
//!   per file; not below `first_version`): renumbered and edited, or a new migration reusing
//!   the name, nothing tells. Never missing (forgotten, `up` would run the file again), never
//!   renumbered (accepted, an edit would pass unseen): every command that writes refuses it
//!   until its row records the file that ran.
//! - A confiture (Python) migration, a `.py` file of a version no `.sql` pair has, is
//!   [`State::Python`], recorded by the rows of its version with its name ([`records_python`]:
//!   no checksum can be compared); a row of that version with another name matches no file.
//! - A row with no file is [`State::Squashed`] when its version is below `first_version` (the
//!   migrations squashed into a schema snapshot) or confiture (Python)'s `migrate squash`
//!   archived it into a squashed baseline ([`LedgerRow::archived_into`]), else
//!   [`State::Missing`]. Such a row is never renumbered by checksum alone nor ambiguous, as
//!   one below `first_version` is not.
//! - A file with no row is [`State::OutOfOrder`] when its version is below the highest version
//!   recorded, else [`State::Pending`].
//! - A version whose files are on disk but could not be read as text
//!   ([`MigrationSet::unreadable`]: permissions, a directory in a file's place, not UTF-8...) and
//!   that no migration of the set has is [`State::Unreadable`]: recorded when a row has its
//!   version (that row, the one spelled like the file else the first applied; others are
//!   duplicates), else not. Never missing, squashed or renumbered away: the files are there.
//!   [`History::of`] knows them; [`History::new`], given migrations alone, does not.
//! - A recorded version that no migration of the set has and no unreadable file, but one half
//!   of whose pair is on disk ([`MigrationSet::incomplete`]: its down file or its up file
//!   removed; or a misnamed file whose corrected name has its version), is recorded, not missing: its row (spelled like the file, else the first) is
//!   [`State::Modified`] when the up file is there with another checksum, else
//!   [`State::Applied`], the others duplicates; [`History::incomplete`] lists it, and every
//!   command refuses it until the missing half is restored. Nothing is gone that a row's
//!   forgetting would account for. Unrecorded, such a file is a draft (its file errors say so).
//! - A start marker of a no-transaction run ([`crate::ledger::StartedRun`]) is of the migration
//!   of its version's number, as a row is ([`marker_number`], [`markers_of`]); it is live when
//!   the ledger agrees with it, else stale ([`History::interrupted`]). A marker of an apply
//!   whose number no row and no file here has is of a migration these files do not know (a
//!   newer build's, or one whose files were removed): live too, as a row with no file is
//!   recorded (`missing`), never stale ([`History::interrupted_unknown`]); so is a marker of a
//!   rollback whose row is there but records a migration these files do not have (`missing`,
//!   `replaced`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::str::FromStr;

use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::files::{
    name, Direction, IncompleteFile, Migration, MigrationSet, PythonFile, UnreadableFile,
};
use crate::ledger::{LedgerRow, StartedRun};

/// A migration version: an integer, with its text as written (`"003"`). Parsed once, compared
/// as an integer: `1` and `001` are equal (they name the same migration); [`Version::as_str`]
/// keeps the spelling, which is what a file name or a ledger row says.
#[derive(Debug, Clone)]
pub struct Version {
    number: u64,
    text: String,
}

impl Version {
    /// The version of a migration file (already parsed by [`crate::files`]).
    pub fn of(migration: &Migration) -> Version {
        Version {
            number: migration.version,
            text: migration.version_text.clone(),
        }
    }

    /// The integer it compares by.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A version given as a number (a library caller's `target(Some(3))`): spelt as the number is
/// (`3`), which is what that caller wrote.
impl From<u64> for Version {
    fn from(number: u64) -> Version {
        Version {
            number,
            text: number.to_string(),
        }
    }
}

/// The largest version, `i64::MAX`: the most `first_version` (a TOML integer) can name, so
/// that every version a file may have can start a squashed history. Above it a file name, a
/// `--target` or a ledger row's version is refused as too large ([`VersionError::TooLarge`]).
pub const MAX_VERSION: u64 = i64::MAX.unsigned_abs();

/// The smallest version a migration may have, and so `first_version`: 0 is the state before
/// every migration, what `migrate down --target 0` returns to, which no migration can be
/// (a `--target` could never roll it back).
pub const MIN_VERSION: u64 = 1;

/// The version a history starts at, given `first_version` (a squashed history's): the setting,
/// [`MIN_VERSION`] without one. The one reading of the setting for the file rules and
/// `migrate generate`; a setting below [`MIN_VERSION`] (which the Cargo.toml reader and
/// `confiture-build` refuse, but a library's `CheckOptions` may hold) counts as
/// [`MIN_VERSION`], so a `000` file is still reported.
pub fn first_version(setting: Option<u64>) -> u64 {
    setting.map_or(MIN_VERSION, |v| v.max(MIN_VERSION))
}

/// The `first_version` a directory's history has: the setting, else — with no setting — the
/// version of the directory's lowest migration when it is confiture (Python)'s squashed
/// baseline through the version just before it (`lowest`: its version and the `through` of its
/// `-- confiture:squashed-baseline` header, [`crate::files::SqlFile::squashed_through`]):
/// `migrate squash` moved the migrations it replaced away, so the history starts after them, as
/// the setting would say. The one rule, for the file rules ([`first_version`] of it) and the
/// history ([`History::of`]) alike.
pub fn squashed_first_version(
    setting: Option<u64>,
    lowest: Option<(u64, Option<u64>)>,
) -> Option<u64> {
    setting.or(match lowest {
        Some((version, Some(through))) if through.checked_add(1) == Some(version) => Some(version),
        _ => None,
    })
}

/// Why a text is not a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VersionError {
    /// An empty text.
    Empty,
    /// Something other than ASCII digits.
    NotDigits,
    /// More than [`MAX_VERSION`].
    TooLarge,
}

impl fmt::Display for VersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionError::Empty => f.write_str("it is empty"),
            VersionError::NotDigits => f.write_str("it is not made of digits"),
            VersionError::TooLarge => write!(f, "it is {}", above_max_version()),
        }
    }
}

/// What a version above [`MAX_VERSION`] is, with the limit: the one wording of
/// [`VersionError::TooLarge`], for a flag, a ledger row and a file name alike.
pub fn above_max_version() -> String {
    format!("above {MAX_VERSION}, the largest version a migration may have")
}

impl std::error::Error for VersionError {}

impl Version {
    /// The version a ledger row records: [`Version::from_str`] of its text with surrounding
    /// whitespace dropped, as [`recorded_checksum`] drops it (a `char(n)` column, or a row
    /// written by hand, pads): `" 003"` is `003`. The row itself is still addressed by its
    /// text as stored.
    pub fn of_ledger(text: &str) -> Result<Version, VersionError> {
        text.trim().parse()
    }

    /// The number [`Version::from_str`] reads in `text`, without keeping the text: the one
    /// rule, for a caller that keeps the text its own way (a file name's version is a range
    /// of the name).
    pub fn number_of(text: &str) -> Result<u64, VersionError> {
        if text.is_empty() {
            return Err(VersionError::Empty);
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VersionError::NotDigits);
        }
        text.parse()
            .ok()
            .filter(|n| *n <= MAX_VERSION)
            .ok_or(VersionError::TooLarge)
    }
}

/// Digits only (`"003"`); no sign, no spaces.
impl FromStr for Version {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Version, VersionError> {
        let number = Version::number_of(text)?;
        Ok(Version {
            number,
            text: text.to_string(),
        })
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.number == other.number
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        self.number.cmp(&other.number)
    }
}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.number.hash(state);
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The checksum a row recorded, as written; `None` when absent or blank — such a row cannot be
/// checked and is trusted.
pub fn recorded_checksum(row: &LedgerRow) -> Option<&str> {
    row.checksum.as_deref().filter(|c| !c.trim().is_empty())
}

/// Whether a recorded checksum is the file's: the same text, exactly. The contract's checksum
/// is the lower-case hex digest alone, and confiture (Python)'s `migrate verify-checksums`
/// compares it exactly, so a checksum written in upper case or with whitespace around it (by
/// hand, by another tool, or padded by a `char(n)` column) is a mismatch there, and modified
/// here ([`checksum_written_otherwise`] tells it apart, for the help). The one comparison of a
/// recorded checksum with a file's.
pub fn checksum_matches(recorded: &str, file: &str) -> bool {
    recorded == file
}

/// How a recorded checksum that does not match the file's ([`checksum_matches`]) is still the
/// same digest, written otherwise: by hand, or by another tool. The file is what ran;
/// `migrate reinit` writes the checksum as confiture does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChecksumSpelling {
    /// Whitespace around the digest (or a `char(n)` column wider than the digest, which pads
    /// every value it holds).
    pub padded: bool,
    /// Upper-case letters.
    pub upper_case: bool,
}

/// Whether `recorded` is the file's checksum `file` written otherwise ([`ChecksumSpelling`]);
/// `None` when it matches ([`checksum_matches`]) or is another digest.
pub fn checksum_written_otherwise(recorded: &str, file: &str) -> Option<ChecksumSpelling> {
    let digest = recorded.trim();
    (!checksum_matches(recorded, file) && digest.eq_ignore_ascii_case(file)).then(|| {
        ChecksumSpelling {
            padded: digest.len() != recorded.len(),
            upper_case: digest != file,
        }
    })
}

/// The migrations whose up file has the checksum `row` recorded ([`recorded_checksum`]),
/// as written ([`checksum_matches`]) or otherwise ([`checksum_written_otherwise`]: the same
/// digest still names the file that ran), in the order given; none when the row has no
/// checksum. What identifies a row that lacks the version or name that would match it to its
/// file (a hand-edited ledger): a checksum is the file's content, whatever its number or name.
pub fn of_recorded_checksum<'a>(
    migrations: &'a [Migration],
    row: &LedgerRow,
) -> impl Iterator<Item = &'a Migration> {
    let recorded = recorded_checksum(row).map(str::to_string);
    migrations.iter().filter(move |m| {
        recorded.as_deref().is_some_and(|c| {
            checksum_matches(c, &m.up.checksum)
                || checksum_written_otherwise(c, &m.up.checksum).is_some()
        })
    })
}

/// Whether `row` records `migration` with a checksum it no longer has.
pub fn is_modified(migration: &Migration, row: &LedgerRow) -> bool {
    recorded_checksum(row).is_some_and(|c| !checksum_matches(c, &migration.up.checksum))
}

/// Whether `migration`'s up file differs from what `row` recorded only by its line endings
/// ([`line_endings_change`]).
pub fn differs_only_by_line_endings(migration: &Migration, row: &LedgerRow) -> bool {
    line_endings_change(migration, row).is_some()
}

/// How an up file differs from what ran only by its line endings ([`line_endings_change`]):
/// which way the conversion went decides the way on ([`LineEndingChange::file_has_lf`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineEndingChange {
    /// It ran with LF and the file now has CRLF: this checkout converted it (git's
    /// `core.autocrlf`). The cure is to check it out again unconverted, never to record the
    /// converted bytes (`reinit`), which every LF checkout would then see modified.
    ToCrlf,
    /// The row records CRLF and the file now has LF: it ran with CRLF, the checkout it was
    /// applied from having converted it — or a `reinit` given `--yes` recorded the bytes of a
    /// checkout that had converted it ([`LineEndingChange::ToCrlf`]): the same text ran either
    /// way. The file is what the repository holds, so a new checkout changes nothing. `reinit`
    /// (which records the file's checksum, the SHA-256 of its bytes, as confiture (Python)
    /// does) is the way on.
    ToLf,
    /// It ran with LF and the file now has lone CRs (`\r` without `\n`, C016) among its line
    /// endings: an editor converted it. As for [`LineEndingChange::ToCrlf`], the cure is LF
    /// again, never `reinit`.
    ToCr,
    /// It ran with lone CR line endings and the file now has LF: it was converted since (C016
    /// advises it for a file applied nowhere yet). As for [`LineEndingChange::ToLf`], the file
    /// has the line endings to keep, and `reinit` is the way on.
    ToLfFromCr,
    /// It ran with a UTF-8 byte-order mark and the file has none now (C014 advises removing
    /// it), its line endings as they were or converted to LF: as for
    /// [`LineEndingChange::ToLf`], the file is what to keep, and `reinit` is the way on.
    BomRemoved,
    /// It ran without a byte-order mark and the file starts with one now (an editor saved it
    /// so), its line endings as they were or converted: the cure is to save it without the
    /// mark again (and with LF), never `reinit`.
    BomAdded,
}

impl LineEndingChange {
    /// Whether the file now has the bytes to keep — LF, the line endings it ran with being
    /// others (CRLF, lone CRs), or no byte-order mark where it ran with one —, which `reinit`
    /// records. Otherwise it ran with LF (or without a mark), and the file is to be so again.
    /// The one rule of the way on: `up`'s and `status`'s help, `status`'s
    /// `modified_applied_crlf` and `modified_bom_removed`.
    pub fn file_has_lf(self) -> bool {
        matches!(
            self,
            LineEndingChange::ToLf | LineEndingChange::ToLfFromCr | LineEndingChange::BomRemoved
        )
    }
}

/// Whether `migration`'s up file differs from what `row` recorded only by its line endings,
/// and which way: its text with CRLF turned to LF has the recorded checksum (it ran with LF:
/// [`LineEndingChange::ToCrlf`]), or with every line end, lone CRs too
/// ([`crate::text::with_lf_line_breaks`]), turned to LF ([`LineEndingChange::ToCr`]), or with
/// LF turned to CRLF (it ran with CRLF: [`LineEndingChange::ToLf`]) or to CR (it ran with lone
/// CRs: [`LineEndingChange::ToLfFromCr`]). A conversion of line endings (git's
/// `core.autocrlf`, an editor) did it, not an edit. The one rule: `up`'s refusal, `down`'s and
/// `migrate status` follow it.
///
/// A UTF-8 byte-order mark removed since (C014 advises it; [`LineEndingChange::BomRemoved`])
/// or added (an editor; [`LineEndingChange::BomAdded`]), alone or with such a conversion of
/// the line endings, is told apart the same way: the checksum, confiture (Python)'s too, is
/// the SHA-256 of the raw bytes, the mark included.
pub fn line_endings_change(migration: &Migration, row: &LedgerRow) -> Option<LineEndingChange> {
    let recorded = recorded_checksum(row)?;
    let text = &migration.up.text;
    let ran = |converted: &str| {
        converted != text
            && checksum_matches(recorded, &crate::files::checksum(converted.as_bytes()))
    };
    let converted = line_ending_conversions(text);
    if let Some((_, change)) = converted.iter().find(|(c, _)| ran(c)) {
        return Some(*change);
    }
    let bom = crate::text::bom_len(text);
    if bom > 0 {
        // It ran without the mark: as the file is, or before a conversion of line endings.
        let without = &text[bom..];
        let ran_without = std::iter::once(without.to_string())
            .chain(line_ending_conversions(without).into_iter().map(|(c, _)| c))
            .any(|c| ran(&c));
        return ran_without.then_some(LineEndingChange::BomAdded);
    }
    // It ran with the mark: as the file is, or with line endings the file now has as LF.
    let ran_with = std::iter::once(text.to_string())
        .chain(
            (converted.into_iter())
                .filter(|(_, change)| change.file_has_lf())
                .map(|(c, _)| c),
        )
        .any(|c| ran(&format!("\u{feff}{c}")));
    ran_with.then_some(LineEndingChange::BomRemoved)
}

/// The texts `text` was before a conversion of its line endings, each with the conversion that
/// made `text` of it ([`line_endings_change`]).
fn line_ending_conversions(text: &str) -> [(String, LineEndingChange); 4] {
    // A checkout's conversion leaves a CR that is no line end (data in a string) as it is.
    let lf = text.replace("\r\n", "\n");
    let all_lf = crate::text::with_lf_line_breaks(text);
    let crlf = lf.replace('\n', "\r\n");
    let cr = all_lf.replace('\n', "\r");
    [
        (lf, LineEndingChange::ToCrlf),
        (all_lf, LineEndingChange::ToCr),
        (crlf, LineEndingChange::ToLf),
        (cr, LineEndingChange::ToLfFromCr),
    ]
}

/// Whether `row`'s version now names another migration than the one it recorded: `migration`
/// (the file of that version) has another name and another checksum (an applied file deleted
/// and its number given to a new one; a renumbering after a merge). An edit keeps the name, a
/// rename keeps the checksum. The one rule: `status`, `up`, `down` and `reinit` follow it.
pub fn is_another_migration(migration: &Migration, row: &LedgerRow) -> bool {
    row.name != migration.name && is_modified(migration, row)
}

/// Whether `marker`, a start marker of `migration`'s version, is of another migration: it
/// names another one and had another up file ([`is_another_migration`]'s rule for a row: an
/// edit keeps the name, a rename keeps the checksum) — another branch's migration at that
/// number ([`History::interrupted_unknown`]).
pub fn marks_another_migration(migration: &Migration, marker: &StartedRun) -> bool {
    marker.name != migration.name && !checksum_matches(&marker.checksum, &migration.up.checksum)
}

/// Whether `marker`, a start marker of `row`'s version, is of the migration `row` records: it
/// has its name or its up file ([`marks_another_migration`]'s rule, the other way round). A
/// rollback's marker beside a row of another migration is stale: its own row went (the rollback
/// was finished by hand) and another was written since.
pub fn marks_row(row: &LedgerRow, marker: &StartedRun) -> bool {
    marker.name == row.name
        || recorded_checksum(row).is_some_and(|c| checksum_matches(c, &marker.checksum))
}

/// Whether nothing decides if `row` records `migration`, the file of its version: the row has
/// another name and no checksum to compare ([`recorded_checksum`]). A rename keeps the
/// checksum, another migration has another one; without it, either may be true
/// ([`State::Ambiguous`]). With the same name, the row is trusted (applied); with none (empty,
/// or a row read without one), nothing contradicts its version, which decides.
pub fn is_undecided(migration: &Migration, row: &LedgerRow) -> bool {
    !row.name.trim().is_empty() && row.name != migration.name && recorded_checksum(row).is_none()
}

/// Whether `row` records the confiture (Python) migration `file`: a row of its version with its
/// name. There is no checksum to compare (confiture computes a `.py` file's its own way), so
/// the name decides: a row of another name records another migration, whose files are gone
/// (its SQL files deleted and a `.py` file added at its number), never this one. The one rule:
/// the history's states and [`History::python`] follow it.
pub fn records_python(row: &LedgerRow, file: &PythonFile) -> bool {
    row.name == file.name
}

/// Whether `row`'s slug names the migration of `version` and `name`: `Some(true)` when the
/// slug's text before its time ([`crate::ledger::slug_stem`]) is `<name>_<version>` as
/// confiture writes it, or `<name>` as it did before 1.29, `Some(false)` when it is another
/// text (the slug names another migration); a slug written by hand, with no time, names it when
/// it is its name or its id (`<version>_<name>`), else says nothing (`None`), as a row without
/// a slug. Versions compare as integers (`3` is `003`).
pub fn slug_names(row: &LedgerRow, version: u64, name: &str) -> Option<bool> {
    let slug = row.slug.as_deref().filter(|s| !s.trim().is_empty())?;
    let is_version = |text: &str| Version::number_of(text) == Ok(version);
    let names = |text: &str| {
        text == name
            || (text.strip_prefix(name))
                .and_then(|rest| rest.strip_prefix('_'))
                .is_some_and(is_version)
            || (text.strip_suffix(name))
                .and_then(|rest| rest.strip_suffix('_'))
                .is_some_and(is_version)
    };
    match crate::ledger::slug_stem(slug) {
        Some(stem) => Some(names(stem)),
        None => names(slug).then_some(true),
    }
}

/// Whether something beyond its version says `row` records the migration of `version` and
/// `name`, where no checksum can say it (the row has none, or the migration is a confiture
/// (Python) one, [`records_python`]): its name is that name, or its slug names it ([`slug_names`]);
/// and neither names another (a name NULL or empty, a hand-edited row's, names none).
/// A version alone identifies nothing: a row made by hand with a version and nothing else may
/// record a migration whose files are gone as well as the one now there, which may never have
/// run. What the help of a row lacking a value asks before it says the row records that file
/// ([`crate::plan::incomplete_row_help`]).
pub fn is_identified_as(row: &LedgerRow, version: u64, name: &str) -> bool {
    let by_name = (!row.name.is_empty()).then(|| row.name == name);
    let by_slug = slug_names(row, version, name);
    by_name != Some(false) && by_slug != Some(false) && (by_name.or(by_slug) == Some(true))
}

/// The file `row` was renumbered to: a file of another version with its recorded checksum,
/// while the row's own version has no file or another migration ([`is_another_migration`]),
/// and that file is not the migration the rows of its own version record (each of them is
/// another migration than it, or there is none). So a swap (`002_a`, `003_b` applied, now
/// `002_b` and `003_a`), a cycle and a chain (`002_a`, `003_b` now `003_a`, `004_b`) are each
/// renumbered, whatever took the numbers they left. `by_name`: the file has the row's name
/// too (the first round, so that a file of both is never taken by a row of its checksum
/// alone); else (the second round) the file alone of those left has the row's checksum, under
/// another name: renamed and renumbered, as confiture (Python)'s `002-dash.up.sql` (version
/// `002-dash`) renamed `002_dash.up.sql` — a rename keeps the checksum; not below
/// `first_version` (squashed). A row without a checksum is never renumbered: nothing proves
/// the file is the one that ran. Two rows never claim one file: `claimed` holds the versions
/// of the files already taken. Searched for among `elsewhere`'s files.
fn renumbered_to<'a>(
    elsewhere: &Elsewhere<'_, 'a>,
    i: usize,
    present: impl Fn(u64, &LedgerRow) -> bool,
    claimed: &BTreeMap<u64, usize>,
    by_name: bool,
) -> Option<&'a Migration> {
    let row = &elsewhere.rows[i];
    let recorded = recorded_checksum(row)?;
    let found = elsewhere.candidates(
        i,
        present,
        |v| claimed.contains_key(&v),
        |m| (!by_name || m.name == row.name) && checksum_matches(recorded, &m.up.checksum),
    );
    match (by_name, found.as_slice()) {
        (true, [first, ..]) | (false, [first]) => Some(first),
        _ => None,
    }
}
/// The file `row` is tied to as [`State::Ambiguous`] at another version, when it is not
/// renumbered: its own version has no file or another migration
/// ([`is_another_migration`]; a file it [`is_undecided`] about ties it there; a version that
/// is not a number has none), and a file of another version has its name without its
/// recorded checksum (the row has none, or another one; a row whose version is a number), or
/// several files of other versions,
/// none of its name, have its checksum (renamed and renumbered, but which one ran?). That
/// file (the first) is neither taken from the rows of its own version that record it (not
/// another migration than it) nor claimed by another row (`claimed`: the file versions
/// taken). A row below `first_version` is squashed, whatever has its name. Searched for
/// among `elsewhere`'s files.
fn ambiguous_to<'a>(
    elsewhere: &Elsewhere<'_, 'a>,
    i: usize,
    present: impl Fn(u64, &LedgerRow) -> bool + Copy,
    claimed: impl Fn(u64) -> bool + Copy,
    first_version: Option<u64>,
) -> Option<&'a Migration> {
    let version = elsewhere.versions[i].as_ref();
    let row = &elsewhere.rows[i];
    if is_squashed(row, version, first_version) {
        return None;
    }
    // By name alone only for a row whose version is a number: a name confiture (Python) read
    // from a name we refuse (`002-dash`, `120000_add`) is no migration name of ours.
    if version.is_some() {
        let of_name = elsewhere.candidates(i, present, claimed, |m| {
            m.name == row.name && is_another_checksum(m, row)
        });
        if let Some(&first) = of_name.first() {
            return Some(first);
        }
    }
    let recorded = recorded_checksum(row)?;
    let of_checksum = elsewhere.candidates(i, present, claimed, |m| {
        checksum_matches(recorded, &m.up.checksum)
    });
    match of_checksum.as_slice() {
        [first, _, ..] => Some(first),
        _ => None,
    }
}

/// Whether `row` (of `version`) is part of a squashed history, its files removed on purpose:
/// below `first_version` (squashed into a schema snapshot; a version that is not a number is
/// never below it), or archived into a squashed baseline by confiture (Python)'s `migrate
/// squash` ([`LedgerRow::archived_into`]), whatever its version.
fn is_squashed(row: &LedgerRow, version: Option<&Version>, first_version: Option<u64>) -> bool {
    row.archived_into.is_some()
        || version.is_some_and(|v| first_version.is_some_and(|f| v.number() < f))
}

/// The search [`renumbered_to`] and [`ambiguous_to`] share: the files of another version than
/// row `i`'s that a predicate accepts, while the row's own version has no file or another
/// migration ([`is_another_migration`]) and its own files are not on disk otherwise
/// (`present`: unread, incomplete, a `.py`), which neither the rows of their own version
/// record nor another row `claimed`. `migrations` is sorted by version.
struct Elsewhere<'r, 'a> {
    rows: &'r [LedgerRow],
    versions: &'r [Option<Version>],
    migrations: &'r [&'a Migration],
    by_number: &'r BTreeMap<u64, Vec<usize>>,
}

impl<'a> Elsewhere<'_, 'a> {
    /// The files of another version than row `i`'s that `fits` accepts, in version order. A
    /// row whose version is not a number (confiture (Python) reads `002-dash.up.sql` as version
    /// `002-dash`) has no file of its own: every file is of another version.
    fn candidates(
        &self,
        i: usize,
        present: impl Fn(u64, &LedgerRow) -> bool,
        claimed: impl Fn(u64) -> bool,
        fits: impl Fn(&Migration) -> bool,
    ) -> Vec<&'a Migration> {
        let row = &self.rows[i];
        let number = self.versions[i].as_ref().map(Version::number);
        if let Some(number) = number {
            if present(number, row) {
                // Its own files are there, unread or incomplete: nothing says it moved.
                return Vec::new();
            }
            // The first migration of `number`, found without a scan (this runs for every row:
            // a scan made `status` quadratic in the number of migrations).
            let first = self.migrations.partition_point(|m| m.version < number);
            let own = self.migrations.get(first).filter(|m| m.version == number);
            if own.is_some_and(|m| !is_another_migration(m, row)) {
                // Its version's file records it, or may ([`is_undecided`]: tied to it there).
                return Vec::new();
            }
        }
        let recorded_by_its_rows = |m: &Migration| {
            self.by_number
                .get(&m.version)
                .is_some_and(|rs| rs.iter().any(|&j| !is_another_migration(m, &self.rows[j])))
        };
        (self.migrations.iter().copied())
            .filter(|m| {
                Some(m.version) != number
                    && fits(m)
                    && !claimed(m.version)
                    && !recorded_by_its_rows(m)
            })
            .collect()
    }
}

/// The pair of `kept`'s version that the ledger records, among `kept` (the set's migration of
/// that version) and the pairs that share its version (`duplicates`, a `C003` error; the set
/// keeps the first by name): `kept`, unless a row of that version records one of the others
/// (its name, or its checksum: not [`is_another_migration`], not [`is_undecided`]) and none
/// records `kept`. Two branches merged with the same number: the applied pair is the
/// migration of that version, applied; the other one is the duplicate to renumber, never a
/// migration that replaced it (its files are there).
fn recorded_pair<'a>(
    kept: &'a Migration,
    duplicates: &'a [Migration],
    rows: &[LedgerRow],
) -> &'a Migration {
    let mut others = duplicates
        .iter()
        .filter(|d| d.version == kept.version)
        .peekable();
    if others.peek().is_none() {
        return kept;
    }
    let rows_of: Vec<&LedgerRow> = (rows.iter())
        .filter(|r| Version::of_ledger(&r.version).is_ok_and(|v| v.number() == kept.version))
        .collect();
    let records = |m: &Migration| {
        (rows_of.iter()).any(|r| !is_another_migration(m, r) && !is_undecided(m, r))
    };
    if records(kept) {
        return kept;
    }
    others.find(|d| records(d)).unwrap_or(kept)
}

/// Whether `row` does not record `migration`'s up file: it has no checksum, or another one.
fn is_another_checksum(migration: &Migration, row: &LedgerRow) -> bool {
    recorded_checksum(row).is_none_or(|c| !checksum_matches(c, &migration.up.checksum))
}

/// Where a migration (a file pair, a ledger row, or both) stands. Serialized as
/// [`State::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Recorded, and the up file still has the recorded checksum.
    Applied,
    /// Not recorded, and newer than every recorded version.
    Pending,
    /// Recorded, but the up file changed since.
    Modified,
    /// Recorded, but no file has its version (and it is not below `first_version`).
    Missing,
    /// Not recorded, but older than the newest recorded version (a branch merged late).
    OutOfOrder,
    /// Recorded below `first_version`, or archived into a squashed baseline by confiture
    /// (Python)'s `migrate squash` ([`LedgerRow::archived_into`]): part of the history
    /// squashed into a schema snapshot, whose files were removed on purpose.
    Squashed,
    /// A second row for a version another row already records (e.g. `1` beside `001`).
    Duplicate,
    /// Recorded under a version its file no longer has: the file was renumbered (its name and
    /// up file unchanged, e.g. `003_add_x` now `005_add_x` after a merge, or `002_a` and
    /// `003_b` now `002_b` and `003_a`: a swap, a cycle or a chain). Applied, not
    /// pending: `up` refuses until the files are renamed back or `reinit` records the new
    /// number.
    Renumbered,
    /// Recorded, but its version now names another migration ([`is_another_migration`]:
    /// another name and another up file, e.g. `002_b` applied, its files deleted and `002_x`
    /// added). The recorded migration ran and its files are gone; the file of that version
    /// never ran. `up` refuses until the files are restored (and the new one renumbered) or
    /// `reinit` forgets the row, after which `up` runs the new file.
    Replaced,
    /// Recorded, but nothing tells which file it records, if any: its row has no checksum and
    /// the file of its version another name ([`is_undecided`]: renamed, or another migration
    /// at its number), or a file of another version has its name without its recorded
    /// checksum (renumbered and edited, or a new migration reusing the name). Neither applied
    /// nor missing: `up`, `down`, `baseline` and `reinit` refuse it (exit 7) until the row
    /// records the file that ran (its checksum), or the files are renamed back; nothing is
    /// guessed, forgotten or run again.
    Ambiguous,
    /// Its files are on disk but could not be read as text ([`MigrationSet::unreadable`]:
    /// permissions, a directory or a FIFO in a file's place, a broken symbolic link, bytes
    /// that are not UTF-8). `recorded`: a ledger row records it (applied), else it is pending.
    /// Not missing: nothing is gone, and nothing should be forgotten. Every command refuses it
    /// (exit 5) until the files can be read.
    Unreadable {
        /// Whether a ledger row records it.
        recorded: bool,
    },
    /// A confiture (Python) migration, `<VERSION>_<NAME>.py` ([`MigrationSet::python`]), of a
    /// version no `.sql` pair has: cargo confiture cannot run it. `recorded`: a ledger row of
    /// its version and name records it ([`records_python`]; applied by confiture (Python),
    /// never missing, kept by `reinit`), else it is pending and `up` refuses to run past it
    /// (exit 5).
    Python {
        /// Whether a ledger row records it.
        recorded: bool,
    },
    /// A no-transaction migration a run started and never finished: its start marker is
    /// there ([`crate::ledger::StartedRun`], beside the ledger), left by a run killed,
    /// disconnected, or stopped after one of its statements committed. `recorded`: its ledger
    /// row is there (its rollback was interrupted), else it is pending (its apply was). Part
    /// of it may have committed: `up` (`down`) refuses it (exit 7) until the schema is checked
    /// and it is recorded (`baseline --through`) or run again on purpose
    /// (`--rerun-interrupted`). Decided by `status` from the marker, over the state its files
    /// and row give.
    Interrupted {
        /// Whether a ledger row records it.
        recorded: bool,
    },
}

impl Serialize for State {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl State {
    /// Whether the ledger records it.
    pub fn is_recorded(self) -> bool {
        match self {
            State::Pending | State::OutOfOrder => false,
            State::Unreadable { recorded }
            | State::Python { recorded }
            | State::Interrupted { recorded } => recorded,
            _ => true,
        }
    }

    /// Whether it is a migration the ledger records, counted once: recorded and not a second
    /// row ([`State::Duplicate`] records a migration another row already records). What
    /// `status` counts and lists as `applied`.
    pub fn is_applied_migration(self) -> bool {
        self.is_recorded() && self != State::Duplicate
    }

    /// Whether history diverged here (modified, missing, out of order, duplicate): exit 7.
    pub fn is_diverged(self) -> bool {
        matches!(
            self,
            State::Modified
                | State::Missing
                | State::OutOfOrder
                | State::Duplicate
                | State::Renumbered
                | State::Replaced
                | State::Ambiguous
        )
    }

    /// Whether its files are on disk but cannot be read ([`State::Unreadable`], applied or not).
    pub fn is_unreadable(self) -> bool {
        matches!(self, State::Unreadable { .. })
    }

    /// The JSON spelling: `applied`, `pending`, `modified`, `missing`, `out_of_order`,
    /// `squashed`, `duplicate`, `renumbered`, `replaced`, `ambiguous`, `unreadable`, `python`,
    /// `interrupted`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Modified => "modified",
            State::Missing => "missing",
            State::OutOfOrder => "out_of_order",
            State::Squashed => "squashed",
            State::Duplicate => "duplicate",
            State::Renumbered => "renumbered",
            State::Replaced => "replaced",
            State::Ambiguous => "ambiguous",
            State::Unreadable { .. } => "unreadable",
            State::Python { .. } => "python",
            State::Interrupted { .. } => "interrupted",
        }
    }
}

/// One ledger row and what it records.
#[derive(Debug, Clone)]
pub struct Recorded<'a> {
    /// The row as read.
    pub row: &'a LedgerRow,
    /// The row's version; `None` when it is not a number.
    pub version: Option<Version>,
    /// The file it records; for a duplicate, the file another row matched; for a replaced
    /// row, the other migration that now has its version; for an ambiguous one, the file it
    /// may record (of its version, else of its name).
    pub migration: Option<&'a Migration>,
    /// Applied, modified, missing, squashed, duplicate, renumbered, replaced, ambiguous or
    /// unreadable.
    pub state: State,
}

impl<'a> Recorded<'a> {
    /// The file this row records, when it is the row that file matched (applied, modified or
    /// renumbered; not replaced: that file is another migration).
    pub fn matched(&self) -> Option<&'a Migration> {
        match self.state {
            State::Applied | State::Modified | State::Renumbered => self.migration,
            _ => None,
        }
    }

    /// `0002_add_color`: the row's own version and name; a row whose version is empty is
    /// named as such, `(empty version) add_color`.
    pub fn id(&self) -> String {
        crate::display::migration_id(&self.row.version, &self.row.name)
    }
}

/// A migration file with no ledger row.
#[derive(Debug, Clone, Copy)]
pub struct Unrecorded<'a> {
    /// The file.
    pub migration: &'a Migration,
    /// Pending or out of order.
    pub state: State,
}

/// One line of the history in version order: a row, a file, or both.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// As the file spells it, or as the row does when it has no file (or is a duplicate).
    pub version: &'a str,
    /// As the file spells it, or as the row does.
    pub name: &'a str,
    /// Applied, pending, modified, missing...
    pub state: State,
    /// The ledger row, if recorded.
    pub row: Option<&'a LedgerRow>,
    /// The migration file, if on disk.
    pub migration: Option<&'a Migration>,
    /// The integer version; `None` for a row whose version is not a number.
    pub number: Option<u64>,
}

impl<'a> Entry<'a> {
    /// Integer versions first, in order; for one version the row its file matched before
    /// second rows; then by text; rows whose version is not a number last.
    pub fn sort_key(&self) -> (bool, u64, bool, &'a str) {
        (
            self.number.is_none(),
            self.number.unwrap_or(0),
            self.state == State::Duplicate,
            self.version,
        )
    }
}

/// A live start marker ([`History::interrupted`]): the no-transaction migration a run left
/// part-way, and in which direction.
#[derive(Debug, Clone, Copy)]
pub struct Marked<'a, 'm> {
    /// The migration it is of.
    pub migration: &'a Migration,
    /// The marker.
    pub marker: &'m StartedRun,
    /// Its rollback was interrupted (the ledger records it); else its apply (it does not).
    pub down: bool,
}

impl Marked<'_, '_> {
    /// Its marker, knowing the file its run ran ([`StartedRun::of_file`]: the down file of an
    /// interrupted rollback, else the up file), whose statements that change only the
    /// session are not said committed.
    pub(crate) fn marker_of_file(&self) -> StartedRun {
        let file = match self.down {
            true => &self.migration.down,
            false => &self.migration.up,
        };
        self.marker.clone().of_file(file)
    }
}

/// A live start marker of a migration these files do not know ([`History::interrupted_unknown`]).
#[derive(Debug, Clone, Copy)]
pub struct Unknown<'a, 'm> {
    /// The marker.
    pub marker: &'m StartedRun,
    /// A rollback's: the row of its version it is of (`missing` or `replaced`); none for an
    /// apply's.
    pub row: Option<&'a LedgerRow>,
    /// Why it is of no migration here.
    pub not_here: NotHere<'a>,
    /// An apply's of a pair here that shares its version with the version's migration (C003,
    /// [`History::other_pair_of`]): the pair it is of. `status`, `up` and `down` name it, and
    /// the one way on ([`crate::plan::interrupted_unknown_help`]).
    pub pair: Option<&'a Migration>,
}

/// Why a start marker is of no migration here ([`Unknown`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotHere<'a> {
    /// No file here has its version.
    NoFile,
    /// The file of its version is another migration ([`marks_another_migration`]).
    Another(&'a Migration),
}

impl fmt::Display for NotHere<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotHere::NoFile => f.write_str("no file here has its version"),
            NotHere::Another(m) => write!(
                f,
                "the file of its version here is another migration, {}",
                m.id()
            ),
        }
    }
}

/// The version number of a start marker, read as a ledger row's ([`Version::of_ledger`]);
/// `None` when it is not a number (it is of no migration).
pub fn marker_number(marker: &StartedRun) -> Option<u64> {
    Version::of_ledger(&marker.version).ok().map(|v| v.number())
}

/// The version texts of every marker of `version` (by number, [`marker_number`]), live or
/// stale: what a run that writes or deletes that version's ledger row, or a ledger rewrite
/// that records or forgets it, deletes with the row.
pub fn markers_of(markers: &[StartedRun], version: u64) -> Vec<&str> {
    markers
        .iter()
        .filter(|m| marker_number(m) == Some(version))
        .map(|m| m.version.as_str())
        .collect()
}

/// The start marker, of `markers`, of an apply (`up`) of `version` left part-way: how far that
/// run got, which says the statements whose index its interrupted build may have left INVALID
/// (`db::apply`'s reads of them). Of several (its version spelled otherwise too), the one that
/// got least far: every statement from there on may be the one.
pub fn apply_marker_of(markers: &[StartedRun], version: u64) -> Option<&StartedRun> {
    (markers.iter())
        .filter(|m| m.direction == "up" && marker_number(m) == Some(version))
        .min_by_key(|m| m.statement)
}

/// The ledger rows matched to the migration files (see the module docs for the rule).
#[derive(Debug, Clone)]
pub struct History<'a> {
    /// Every ledger row, in the ledger's order ([`crate::ledger::APPLICATION_ORDER`]), with
    /// what it records; `down`'s order is [`History::in_order_of_application`].
    pub recorded: Vec<Recorded<'a>>,
    /// Every migration with no row, in version order.
    pub unrecorded: Vec<Unrecorded<'a>>,
    /// The highest integer version any row records.
    newest: Option<u64>,
    /// Indexes into `recorded` of the rows of each integer version, in order of application.
    by_number: BTreeMap<u64, Vec<usize>>,
    /// Index into `recorded` of the row each file version matched.
    matched: BTreeMap<u64, usize>,
    /// The files that could not be read, by version, for versions no migration has.
    unreadable: BTreeMap<u64, Vec<&'a UnreadableFile>>,
    /// The halves of pairs whose other half is not there, by version, for recorded versions
    /// no migration and no unreadable file has.
    incomplete: BTreeMap<u64, Vec<&'a IncompleteFile>>,
    /// confiture (Python)'s migrations, by version, for versions no migration and no
    /// unreadable file has.
    python: BTreeMap<u64, &'a PythonFile>,
    /// The versions of files on disk that form no migration (unreadable, half a pair or
    /// misnamed, confiture (Python)'s), recorded or not: a start marker of one of them is of a
    /// file here ([`History::interrupted_unknown`]).
    stray: BTreeSet<u64>,
    /// The pairs sharing a version with the history's migration of it (`C003`) that are not
    /// it ([`recorded_pair`] chose the other): the duplicates to renumber, never run, in
    /// version order ([`History::other_pairs`]).
    other_pairs: Vec<&'a Migration>,
}

impl<'a> History<'a> {
    /// Matches `rows` (in order of application, as `db::ledger::read` returns them) to the
    /// migrations of `set` and its unreadable files ([`State::Unreadable`]): what every
    /// command reads. `first_version` is the first version of a squashed history
    /// (`CheckOptions::first_version`).
    pub fn of(
        set: &'a MigrationSet,
        rows: &'a [LedgerRow],
        first_version: Option<u64>,
    ) -> History<'a> {
        let first_version = set.first_version(first_version);
        let migrations: Vec<&'a Migration> = (set.migrations.iter())
            .map(|m| recorded_pair(m, &set.duplicates, rows))
            .collect();
        let mut other_pairs: Vec<&'a Migration> = (set.migrations.iter())
            .chain(&set.duplicates)
            .filter(|m| !migrations.iter().any(|chosen| std::ptr::eq(*chosen, *m)))
            .collect();
        other_pairs.sort_by(|a, b| (a.version, &a.name).cmp(&(b.version, &b.name)));
        let mut history = History::with_present(
            migrations,
            (&set.unreadable, &set.incomplete, &set.python),
            rows,
            first_version,
        );
        history.other_pairs = other_pairs;
        history
    }

    /// The pairs of a version that another pair of the set has too (`C003`) and that are not
    /// that version's migration here ([`MigrationSet::duplicates`], or the pair the set kept
    /// when a row records one of the others): files with no row, that no command runs until
    /// they are renumbered. [`History::entries`] lists them, pending or out of order
    /// ([`History::unrecorded_state`]), so that `status` shows every pair on disk.
    pub fn other_pairs(&self) -> &[&'a Migration] {
        &self.other_pairs
    }

    /// The pair of [`History::other_pairs`] that `marker`, a start marker of an apply, is of
    /// (its name or its up file: [`marks_another_migration`]'s rule): two pairs share its
    /// version and it is not the one the version's migration here is. Its apply is still
    /// unknown to the runs ([`History::interrupted_unknown`]: no command runs that pair), but
    /// `status` shows the marker on that pair's line, never on another's nor a line of its own.
    pub fn other_pair_of(&self, marker: &StartedRun) -> Option<&'a Migration> {
        if marker.direction == "down" {
            return None;
        }
        let number = marker_number(marker)?;
        (self.other_pairs.iter().copied())
            .find(|m| m.version == number && !marks_another_migration(m, marker))
    }

    /// Matches `rows` to `migrations` alone, as if every other file were absent (for
    /// migrations picked from a set, and tests); [`History::of`] is a directory's history.
    pub fn new(
        migrations: impl IntoIterator<Item = &'a Migration>,
        rows: &'a [LedgerRow],
        first_version: Option<u64>,
    ) -> History<'a> {
        History::with_present(migrations, (&[], &[], &[]), rows, first_version)
    }

    /// `present`: the set's unreadable and incomplete files ([`MigrationSet::unreadable`],
    /// [`MigrationSet::incomplete`]).
    fn with_present(
        migrations: impl IntoIterator<Item = &'a Migration>,
        present: (&'a [UnreadableFile], &'a [IncompleteFile], &'a [PythonFile]),
        rows: &'a [LedgerRow],
        first_version: Option<u64>,
    ) -> History<'a> {
        let versions: Vec<Option<Version>> = rows
            .iter()
            .map(|r| Version::of_ledger(&r.version).ok())
            .collect();
        let mut by_number: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, v) in versions.iter().enumerate() {
            if let Some(v) = v {
                by_number.entry(v.number()).or_default().push(i);
            }
        }
        let newest = by_number.keys().next_back().copied();

        let mut matched = BTreeMap::new();
        let mut file_of: Vec<Option<&'a Migration>> = vec![None; rows.len()];
        let mut state_of: Vec<Option<State>> = vec![None; rows.len()];
        let mut unrecorded = Vec::new();
        let mut migrations: Vec<&'a Migration> = migrations.into_iter().collect();
        migrations.sort_by_key(|m| m.version);
        let stray: BTreeSet<u64> = (present.0.iter().map(|f| f.version))
            .chain(present.1.iter().map(|f| f.version))
            .chain(present.2.iter().map(|f| f.version))
            .filter(|v| !migrations.iter().any(|m| m.version == *v))
            .collect();
        let mut unreadable: BTreeMap<u64, Vec<&'a UnreadableFile>> = BTreeMap::new();
        for f in present.0 {
            if !migrations.iter().any(|m| m.version == f.version) {
                unreadable.entry(f.version).or_default().push(f);
            }
        }
        let mut incomplete: BTreeMap<u64, Vec<&'a IncompleteFile>> = BTreeMap::new();
        for f in present.1 {
            if by_number.contains_key(&f.version)
                && !unreadable.contains_key(&f.version)
                && !migrations.iter().any(|m| m.version == f.version)
            {
                incomplete.entry(f.version).or_default().push(f);
            }
        }
        let mut python: BTreeMap<u64, &'a PythonFile> = BTreeMap::new();
        for f in present.2 {
            if !unreadable.contains_key(&f.version)
                && !incomplete.contains_key(&f.version)
                && !migrations.iter().any(|m| m.version == f.version)
            {
                python.entry(f.version).or_insert(f);
            }
        }
        let on_disk: HashSet<u64> = unreadable
            .keys()
            .chain(incomplete.keys())
            .copied()
            .collect();
        // A row's own files are on disk: unreadable or half a pair, or its confiture (Python)
        // migration ([`records_python`]).
        let own_files_there = |number: u64, row: &LedgerRow| {
            on_disk.contains(&number) || python.get(&number).is_some_and(|f| records_python(row, f))
        };
        // Rows whose migration now has another number: they record that file, not the one
        // (if any) that has their version now.
        // First by name and checksum, then by checksum alone (renamed too), never taking a
        // file a row of its name records.
        let mut renumbered: BTreeMap<u64, usize> = BTreeMap::new();
        let elsewhere = Elsewhere {
            rows,
            versions: &versions,
            migrations: &migrations,
            by_number: &by_number,
        };
        for by_name in [true, false] {
            // One version a row (`versions` is read from `rows`).
            for (i, version) in versions.iter().enumerate() {
                if renumbered.values().any(|&r| r == i)
                    || (!by_name && is_squashed(&rows[i], version.as_ref(), first_version))
                {
                    continue;
                }
                let (present, claimed) = (&own_files_there, &renumbered);
                let to = renumbered_to(&elsewhere, i, present, claimed, by_name);
                if let Some(m) = to {
                    renumbered.insert(m.version, i);
                }
            }
        }
        // Rows tied to a file of another version with their name but not their checksum:
        // nothing tells whether that file is theirs.
        let mut ambiguous: BTreeMap<u64, usize> = BTreeMap::new();
        for i in 0..rows.len() {
            if renumbered.values().any(|&r| r == i) {
                continue;
            }
            let claimed = |v: u64| renumbered.contains_key(&v) || ambiguous.contains_key(&v);
            let to = ambiguous_to(&elsewhere, i, own_files_there, claimed, first_version);
            if let Some(m) = to {
                ambiguous.insert(m.version, i);
            }
        }
        for m in migrations {
            if let Some(&i) = renumbered.get(&m.version) {
                matched.insert(m.version, i);
                file_of[i] = Some(m);
                state_of[i] = Some(State::Renumbered);
                continue;
            }
            if let Some(&i) = ambiguous.get(&m.version) {
                matched.insert(m.version, i);
                file_of[i] = Some(m);
                state_of[i] = Some(State::Ambiguous);
                continue;
            }
            let candidates: Vec<usize> = by_number
                .get(&m.version)
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .copied()
                .filter(|i| !renumbered.values().any(|r| r == i))
                .filter(|i| !ambiguous.values().any(|r| r == i))
                .collect();
            let candidates = candidates.as_slice();
            let chosen = candidates
                .iter()
                .copied()
                .find(|&i| rows[i].version == m.version_text)
                .or(candidates.first().copied());
            let Some(chosen) = chosen else {
                let state = if newest.is_some_and(|n| m.version < n) {
                    State::OutOfOrder
                } else {
                    State::Pending
                };
                unrecorded.push(Unrecorded {
                    migration: m,
                    state,
                });
                continue;
            };
            matched.insert(m.version, chosen);
            for &i in candidates {
                file_of[i] = Some(m);
                state_of[i] = Some(if i != chosen {
                    State::Duplicate
                } else if is_another_migration(m, &rows[i]) {
                    State::Replaced
                } else if is_modified(m, &rows[i]) {
                    State::Modified
                } else if is_undecided(m, &rows[i]) {
                    State::Ambiguous
                } else {
                    State::Applied
                });
            }
        }
        // A version whose files are on disk but form no migration — they cannot be read, or
        // half a pair is there — is recorded by its row (spelled like the files, else the
        // first applied), the others second rows. Never missing: nothing is gone that
        // forgetting the row would account for. Half a pair is modified when the up file
        // there changed.
        let own_row = |number: u64, spelled: Option<&str>| {
            let rows_of = by_number.get(&number).map(Vec::as_slice).unwrap_or(&[]);
            let chosen = rows_of
                .iter()
                .copied()
                .find(|&i| Some(rows[i].version.as_str()) == spelled)
                .or(rows_of.first().copied());
            (rows_of, chosen)
        };
        for (&number, files) in &unreadable {
            let (rows_of, chosen) = own_row(number, files.first().map(|f| &*f.version_text));
            for &i in rows_of {
                state_of[i] = Some(if Some(i) == chosen {
                    State::Unreadable { recorded: true }
                } else {
                    State::Duplicate
                });
            }
        }
        // A confiture (Python) migration is recorded by the rows of its version with its name
        // (spelled like the file, else the first applied; the others second rows); a row of
        // another name records a migration whose files are gone: missing, the `.py` file
        // unrecorded.
        for (&number, file) in &python {
            let rows_of = by_number.get(&number).map(Vec::as_slice).unwrap_or(&[]);
            let named: Vec<usize> = (rows_of.iter().copied())
                .filter(|&i| records_python(&rows[i], file))
                .collect();
            let chosen = (named.iter().copied())
                .find(|&i| rows[i].version == file.version_text)
                .or(named.first().copied());
            for &i in &named {
                state_of[i] = Some(if Some(i) == chosen {
                    State::Python { recorded: true }
                } else {
                    State::Duplicate
                });
            }
        }
        for (&number, files) in &incomplete {
            let (rows_of, chosen) = own_row(number, files.first().map(|f| &*f.version_text));
            let up = files.iter().find(|f| f.direction == Direction::Up);
            for &i in rows_of {
                let changed = |up: &&IncompleteFile| {
                    recorded_checksum(&rows[i]).is_some_and(|c| !checksum_matches(c, &up.checksum))
                };
                state_of[i] = Some(if Some(i) != chosen {
                    State::Duplicate
                } else if up.is_some_and(changed) {
                    State::Modified
                } else {
                    State::Applied
                });
            }
        }
        let recorded = rows
            .iter()
            .zip(versions)
            .zip(file_of.into_iter().zip(state_of))
            .map(|((row, version), (migration, state))| {
                let state = state.unwrap_or_else(|| {
                    if is_squashed(row, version.as_ref(), first_version) {
                        State::Squashed
                    } else {
                        State::Missing
                    }
                });
                Recorded {
                    row,
                    version,
                    migration,
                    state,
                }
            })
            .collect();
        History {
            recorded,
            unrecorded,
            newest,
            by_number,
            matched,
            unreadable,
            incomplete,
            python,
            stray,
            other_pairs: Vec::new(),
        }
    }

    /// confiture (Python)'s migrations ([`State::Python`]), in version order, with whether a
    /// row records each.
    pub fn python(&self) -> impl Iterator<Item = (&'a PythonFile, bool)> + '_ {
        self.python.values().map(|&f| {
            let rows = self
                .by_number
                .get(&f.version)
                .map_or(&[][..], Vec::as_slice);
            let recorded = rows
                .iter()
                .any(|&i| records_python(self.recorded[i].row, f));
            (f, recorded)
        })
    }

    /// Recorded migrations whose files are incomplete (half a pair on disk), in version order,
    /// with the half that is there.
    pub fn incomplete(&self) -> impl Iterator<Item = (u64, &[&'a IncompleteFile])> + '_ {
        self.incomplete
            .iter()
            .map(|(&v, files)| (v, files.as_slice()))
    }

    /// The half pair on disk of `version` when it is recorded with its files incomplete
    /// ([`History::incomplete`]); empty otherwise.
    pub fn incomplete_files(&self, version: u64) -> &[&'a IncompleteFile] {
        self.incomplete.get(&version).map_or(&[], Vec::as_slice)
    }

    /// The files of `version` that could not be read, when no migration of the set has that
    /// version (its state is then [`State::Unreadable`]); empty otherwise.
    pub fn unreadable_files(&self, version: u64) -> &[&'a UnreadableFile] {
        self.unreadable.get(&version).map_or(&[], Vec::as_slice)
    }

    /// Migrations whose files cannot be read ([`State::Unreadable`]), recorded or not, in
    /// version order, with those files.
    pub fn unreadable(&self) -> impl Iterator<Item = (u64, &[&'a UnreadableFile])> + '_ {
        self.unreadable
            .iter()
            .map(|(&v, files)| (v, files.as_slice()))
    }

    /// The unreadable versions no row records: pending migrations that cannot be read.
    fn unreadable_unrecorded(&self) -> impl Iterator<Item = &'a UnreadableFile> + '_ {
        self.unreadable
            .iter()
            .filter(|(v, _)| !self.by_number.contains_key(v))
            .filter_map(|(_, files)| files.first().copied())
    }

    /// The row that records `migration`'s version (applied, modified, renumbered, or replaced
    /// by it), if any.
    pub fn row_of(&self, migration: &Migration) -> Option<&Recorded<'a>> {
        self.matched
            .get(&migration.version)
            .map(|&i| &self.recorded[i])
    }

    /// Whether `migration` is applied on this database: **the** answer to "is V applied here"
    /// that a help depending on it gives ([`crate::files::AppliedHere`]): a row records it
    /// ([`Recorded::matched`]: applied, modified, or renumbered from another number), never
    /// a row of its version that records another migration (replaced, ambiguous).
    pub fn applied_here(&self, migration: &Migration) -> crate::files::AppliedHere {
        let recorded = (self.recorded.iter())
            .filter_map(Recorded::matched)
            .any(|m| m.up.path == migration.up.path);
        match recorded {
            true => crate::files::AppliedHere::Yes,
            false => crate::files::AppliedHere::No,
        }
    }

    /// The row that records `migration` as applied ([`History::row_of`]), unless nothing
    /// tells that it does ([`State::Ambiguous`]: a row of another version with its name, or
    /// of its version without a checksum and another name). What a check of whether a run
    /// committed reads: a row left by another migration of that name is not this run's.
    pub fn recording(&self, migration: &Migration) -> Option<&Recorded<'a>> {
        self.row_of(migration)
            .filter(|r| r.state != State::Ambiguous)
    }

    /// The other rows for `migration`'s version, beside the one it matched.
    pub fn duplicates_of(&self, migration: &Migration) -> impl Iterator<Item = &Recorded<'a>> {
        self.by_number
            .get(&migration.version)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|&i| &self.recorded[i])
            .filter(|r| r.state == State::Duplicate)
    }

    /// Every row in the order its migration was applied: **the** order `down` rolls back in,
    /// reversed. The ledger's order ([`crate::ledger::APPLICATION_ORDER`]: `pk_confiture`, the
    /// order rows were written), except for a row written without running its migration
    /// ([`LedgerRow::kind`]: `baseline`'s, `reinit`'s, confiture (Python)'s `auto-baseline`...):
    /// it records a migration applied earlier, not a newer application, so it is placed by
    /// its version — before the first row, in that order, whose version is higher; where none
    /// is, where it was written. A row applied after newer versions (a late-merged branch, `up
    /// --allow-out-of-order`) keeps its place: rolled back first. Rows of one version keep
    /// their order; a row whose version is not a number keeps its place.
    pub fn in_order_of_application(&self) -> Vec<&Recorded<'a>> {
        let number = |r: &Recorded<'_>| r.version.as_ref().map(Version::number);
        let mut order: Vec<&Recorded<'a>> = Vec::with_capacity(self.recorded.len());
        // The highest version placed so far: a row at or above it goes last without a scan.
        let mut highest: Option<u64> = None;
        for r in &self.recorded {
            let v = number(r);
            let placed_by_version = r.row.kind() != crate::ledger::RowKind::Applied;
            match v {
                Some(v) if placed_by_version && highest.is_some_and(|h| v < h) => {
                    let at = order
                        .iter()
                        .position(|o| number(o).is_some_and(|n| n > v))
                        .unwrap_or(order.len());
                    order.insert(at, r);
                }
                _ => order.push(r),
            }
            highest = highest.max(v);
        }
        order
    }

    /// Rows in `state`, in order of application.
    pub fn rows_in(&self, state: State) -> impl Iterator<Item = &Recorded<'a>> {
        self.recorded.iter().filter(move |r| r.state == state)
    }

    /// Applied migrations whose up file no longer has the recorded checksum.
    pub fn modified(&self) -> Vec<&Recorded<'a>> {
        self.rows_in(State::Modified).collect()
    }

    /// Rows with no file that are not part of a squashed history.
    pub fn missing(&self) -> Vec<&Recorded<'a>> {
        self.rows_in(State::Missing).collect()
    }

    /// Rows whose migration's files now have another number ([`State::Renumbered`]).
    pub fn renumbered(&self) -> Vec<&Recorded<'a>> {
        self.rows_in(State::Renumbered).collect()
    }

    /// Rows whose version now names another migration ([`State::Replaced`]).
    pub fn replaced(&self) -> Vec<&Recorded<'a>> {
        self.rows_in(State::Replaced).collect()
    }

    /// Rows that nothing ties to one file ([`State::Ambiguous`]).
    pub fn ambiguous(&self) -> Vec<&Recorded<'a>> {
        self.rows_in(State::Ambiguous).collect()
    }

    /// Second rows for a version another row records.
    pub fn duplicates(&self) -> Vec<&Recorded<'a>> {
        self.rows_in(State::Duplicate).collect()
    }

    /// Every migration with no row, in version order.
    pub fn pending(&self) -> impl Iterator<Item = &'a Migration> + '_ {
        self.unrecorded.iter().map(|u| u.migration)
    }

    /// Migrations with no row numbered below the newest recorded version.
    pub fn out_of_order(&self) -> Vec<&'a Migration> {
        self.unrecorded
            .iter()
            .filter(|u| u.state == State::OutOfOrder)
            .map(|u| u.migration)
            .collect()
    }

    /// The row with the highest integer version.
    pub fn newest_recorded(&self) -> Option<&Recorded<'a>> {
        let newest = self.newest?;
        self.recorded
            .iter()
            .find(|r| r.version.as_ref().map(Version::number) == Some(newest))
    }

    /// The no-transaction migrations a run left part-way, from the start markers read beside
    /// the ledger ([`crate::ledger::Ledger::started`]): **the** rule that `status`, `up`,
    /// `down` and their dry runs read. A marker is of the migration of its version's number
    /// ([`marker_number`]: `002` is `0002`'s, as a ledger row is). It is live when the ledger
    /// agrees with it — a marker of an apply (`up`) on a migration the ledger does not record
    /// (pending or out of order), one of a rollback (`down`) on one it records (applied or
    /// modified, the row its file matched) — and the file of that direction is a
    /// no-transaction one. Any other marker is stale: the ledger was written since by someone
    /// else (another tool recorded it, a person finished the rollback by hand and deleted the
    /// row), the file was made transactional, or its version's file is not a migration of the
    /// set: it changes nothing, and the next run that writes that version's row (or forgets
    /// it) deletes it. A marker of an apply no row and no file has is not stale but unknown
    /// ([`History::interrupted_unknown`]). Several live
    /// markers of one migration: the one spelled like the file (up) or its row (down) wins,
    /// else the first by version text. An apply's marker whose migration a row records since
    /// is stale here, unless the schema says otherwise ([`History::recorded_over`]).
    pub fn interrupted<'m>(&self, markers: &'m [StartedRun]) -> Vec<Marked<'a, 'm>> {
        let mut found: Vec<Marked<'a, 'm>> = Vec::new();
        for marker in markers {
            let Some(number) = marker_number(marker) else {
                continue;
            };
            let down = marker.direction == "down";
            let (migration, spelled) = if down {
                let Some(r) = self.matched.get(&number).map(|&i| &self.recorded[i]) else {
                    continue;
                };
                match (r.state, r.migration) {
                    (State::Applied | State::Modified, Some(m)) => (m, r.row.version.as_str()),
                    _ => continue,
                }
            } else {
                match self
                    .unrecorded
                    .iter()
                    .find(|u| u.migration.version == number)
                {
                    // Another migration's marker: unknown ([`History::interrupted_unknown`]).
                    Some(u) if marks_another_migration(u.migration, marker) => continue,
                    Some(u) => (u.migration, u.migration.version_text.as_str()),
                    None => continue,
                }
            };
            let file = if down { &migration.down } else { &migration.up };
            if file.mode != crate::files::TransactionMode::NoTransaction {
                continue;
            }
            let mark = Marked {
                migration,
                marker,
                down,
            };
            match found
                .iter_mut()
                .find(|f| f.migration.version == migration.version)
            {
                Some(earlier) if earlier.marker.version != spelled && marker.version == spelled => {
                    *earlier = mark;
                }
                Some(_) => {}
                None => found.push(mark),
            }
        }
        found.sort_by_key(|f| f.migration.version);
        found
    }

    /// The applies a run left part-way whose migration a ledger row records since: a start
    /// marker of an apply (`up`) of a no-transaction migration here (not another migration's,
    /// [`marks_another_migration`]) whose row is the one its file matched (applied or
    /// modified) — confiture (Python), or anything writing a row of that version, recorded it
    /// after our run was interrupted (or while it ran: the marker's age against the row's says
    /// nothing of the schema). [`History::interrupted`] calls them stale: the row is trusted.
    /// What it cannot say is whether the row's writer made the migration whole: a `CREATE
    /// INDEX CONCURRENTLY IF NOT EXISTS` "succeeds" over the INVALID index our interrupted
    /// build left. The schema is the truth: the caller reads each one's index
    /// (`crate::db::apply::left_behind`), and one left INVALID makes the migration
    /// interrupted still, recorded ([`crate::status::MigrationStatus::invalid_index`]); with
    /// none, the marker is stale. One per migration, in version order.
    pub fn recorded_over<'m>(&self, markers: &'m [StartedRun]) -> Vec<Marked<'a, 'm>> {
        let mut found: Vec<Marked<'a, 'm>> = Vec::new();
        for marker in markers.iter().filter(|m| m.direction == "up") {
            let Some(number) = marker_number(marker) else {
                continue;
            };
            let Some(r) = self.matched.get(&number).map(|&i| &self.recorded[i]) else {
                continue;
            };
            let migration = match (r.state, r.migration) {
                (State::Applied | State::Modified, Some(m)) => m,
                _ => continue,
            };
            if migration.up.mode != crate::files::TransactionMode::NoTransaction
                || marks_another_migration(migration, marker)
                || found.iter().any(|f| f.migration.version == number)
            {
                continue;
            }
            found.push(Marked {
                migration,
                marker,
                down: false,
            });
        }
        found.sort_by_key(|f| f.migration.version);
        found
    }

    /// The rollbacks a run left part-way of migrations whose files were renumbered since: a
    /// start marker of a rollback (`down`) whose row, of the marker's version's number, is
    /// still there ([`marks_row`]: its rollback never finished) and [`State::Renumbered`] to a
    /// file of another number. Neither [`History::interrupted`] (no file has the row's
    /// number) nor [`History::interrupted_unknown`] (the files are here, under the new number):
    /// what `status` shows `interrupted (rollback)` on the line of that file, and `reinit`
    /// refuses to rewrite (`plan::check_rewrite_interrupted`). One per row, in version order
    /// of their files.
    pub fn interrupted_renumbered<'m>(
        &self,
        markers: &'m [StartedRun],
    ) -> Vec<(&Recorded<'a>, &'m StartedRun)> {
        let mut found: Vec<(&Recorded<'a>, &'m StartedRun)> = Vec::new();
        for marker in markers.iter().filter(|m| m.direction == "down") {
            let Some(number) = marker_number(marker) else {
                continue;
            };
            let rows = self.by_number.get(&number).map_or(&[][..], Vec::as_slice);
            let renumbered = (rows.iter().map(|&i| &self.recorded[i]))
                .find(|r| r.state == State::Renumbered && marks_row(r.row, marker));
            if let Some(r) = renumbered {
                if !found.iter().any(|(f, _)| std::ptr::eq(f.row, r.row)) {
                    found.push((r, marker));
                }
            }
        }
        found.sort_by_key(|(r, _)| r.migration.map(|m| m.version));
        found
    }

    /// The no-transaction migrations a run left part-way that these files do not know: a start
    /// marker of an apply (`up`) whose version's number ([`marker_number`]) no ledger row and
    /// no file here has — no migration, nor a file that forms none (unreadable, half a pair,
    /// misnamed, confiture (Python)'s) —, or whose file is another migration
    /// ([`marks_another_migration`]: another branch's at that number, [`NotHere::Another`]). A newer build's migration interrupted (a rolling deploy, a service sharing the
    /// database), or one whose files were removed since: part of it committed, unrecorded, and
    /// nothing here can run it again or record it. Never stale, as a row with no file is never
    /// forgotten (`missing`): `status` shows it `interrupted`, and `up` and `down` refuse to run
    /// over it ([`crate::plan::check_interrupted`]). One per number: the first by version text.
    ///
    /// A marker of a rollback (`down`) is unknown when the row of its version that it is of
    /// ([`marks_row`]) records a migration these files do not have: its files are gone
    /// ([`State::Missing`], [`NotHere::NoFile`]) or another migration has its number
    /// ([`State::Replaced`], [`NotHere::Another`]). The row is still there, so its rollback
    /// never finished: a row that `reinit` forgets (or a rewrite settles) would take the half-run
    /// rollback with it, and it is refused as an apply's is. Without such a row it is stale,
    /// or of a migration here ([`History::interrupted`]).
    pub fn interrupted_unknown<'m>(&self, markers: &'m [StartedRun]) -> Vec<Unknown<'a, 'm>> {
        let mut found: BTreeMap<u64, Unknown<'a, 'm>> = BTreeMap::new();
        for marker in markers {
            let Some(number) = marker_number(marker) else {
                continue;
            };
            let mut row = None;
            let not_here = if marker.direction == "down" {
                let rows = self.by_number.get(&number).map_or(&[][..], Vec::as_slice);
                let gone = rows.iter().map(|&i| &self.recorded[i]).find(|r| {
                    matches!(r.state, State::Missing | State::Replaced) && marks_row(r.row, marker)
                });
                let Some(r) = gone else {
                    continue;
                };
                row = Some(r.row);
                match (r.state, r.migration) {
                    (State::Replaced, Some(m)) => NotHere::Another(m),
                    _ => NotHere::NoFile,
                }
            } else {
                if self.by_number.contains_key(&number) || self.stray.contains(&number) {
                    continue;
                }
                match (self.unrecorded.iter()).find(|u| u.migration.version == number) {
                    None => NotHere::NoFile,
                    Some(u) if marks_another_migration(u.migration, marker) => {
                        NotHere::Another(u.migration)
                    }
                    Some(_) => continue,
                }
            };
            let unknown = Unknown {
                marker,
                row,
                not_here,
                pair: self.other_pair_of(marker),
            };
            found
                .entry(number)
                .and_modify(|kept| {
                    if marker.version < kept.marker.version {
                        *kept = unknown;
                    }
                })
                .or_insert(unknown);
        }
        found.into_values().collect()
    }

    /// The state a migration of `version` would have without a row: out of order below the
    /// newest recorded version, else pending.
    pub fn unrecorded_state(&self, version: u64) -> State {
        if self.newest.is_some_and(|n| version < n) {
            State::OutOfOrder
        } else {
            State::Pending
        }
    }

    /// Every row and every unrecorded file, in version order: integer versions first (equal
    /// numbers by text), then rows whose version is not a number, by text.
    pub fn entries(&self) -> Vec<Entry<'a>> {
        let mut entries: Vec<Entry<'a>> = self
            .recorded
            .iter()
            .map(|r| match (r.matched(), &r.version) {
                (Some(m), _) => Entry {
                    version: &m.version_text,
                    name: &m.name,
                    state: r.state,
                    row: Some(r.row),
                    migration: Some(m),
                    number: Some(m.version),
                },
                (None, v) => Entry {
                    version: &r.row.version,
                    name: &r.row.name,
                    state: r.state,
                    row: Some(r.row),
                    migration: None,
                    number: v.as_ref().map(Version::number),
                },
            })
            .chain(self.unrecorded.iter().map(|u| Entry {
                version: &u.migration.version_text,
                name: &u.migration.name,
                state: u.state,
                row: None,
                migration: Some(u.migration),
                number: Some(u.migration.version),
            }))
            .chain(self.other_pairs.iter().map(|m| Entry {
                version: &m.version_text,
                name: &m.name,
                state: self.unrecorded_state(m.version),
                row: None,
                migration: Some(m),
                number: Some(m.version),
            }))
            .chain(self.unreadable_unrecorded().map(|f| Entry {
                version: &f.version_text,
                name: &f.name,
                state: State::Unreadable { recorded: false },
                row: None,
                migration: None,
                number: Some(f.version),
            }))
            .chain(
                self.python()
                    .filter(|(_, recorded)| !recorded)
                    .map(|(f, _)| Entry {
                        version: &f.version_text,
                        name: &f.name,
                        state: State::Python { recorded: false },
                        row: None,
                        migration: None,
                        number: Some(f.version),
                    }),
            )
            .collect();
        entries.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        entries
    }
}

/// A migration version named by a file that has an error, as its file name gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The version as an integer.
    pub version: u64,
    /// The version as the file name spells it.
    pub version_text: String,
    /// The name the file name gives.
    pub name: String,
}

/// The error diagnostics of a directory, by the migration version they concern: a file of a
/// migration of the set, or a file whose name gives a version (an up file without its down
/// file, a second file for one version, ...). Errors on files whose name gives no version
/// (`4_x.up.sql`) concern no migration the ledger can record, but may be one `up` would skip.
#[derive(Debug, Clone, Default)]
pub struct FileErrors<'a> {
    by_version: BTreeMap<u64, Vec<&'a Diagnostic>>,
    /// Versions named only by files outside the set, with the name they give.
    outside: BTreeMap<u64, Named>,
    /// The errors of misnamed files whose corrected name gives a version (`03_draft.up.sql`,
    /// a draft of version 3), by that version: no migration's (the ledger matches no row to
    /// such a name), but `up` stops at them as at a well-named draft's ([`Self::blocking_up`]).
    misnamed: BTreeMap<u64, Vec<&'a Diagnostic>>,
    unversioned: Vec<&'a Diagnostic>,
}

impl<'a> FileErrors<'a> {
    /// Sorts the error diagnostics of `set`'s directory by the version they concern.
    pub fn new(set: &MigrationSet, diagnostics: &'a [Diagnostic]) -> FileErrors<'a> {
        let mut errors = FileErrors::default();
        let mut diagnostics = diagnostics.iter().filter(|d| d.is_error()).peekable();
        if diagnostics.peek().is_none() {
            // The common case: no map of every file for nothing.
            return errors;
        }
        let mut version_of_path: HashMap<&Path, u64> = HashMap::new();
        for m in &set.migrations {
            version_of_path.insert(&m.up.path, m.version);
            version_of_path.insert(&m.down.path, m.version);
        }
        for d in diagnostics {
            let named = match version_of_path.get(d.path.as_path()) {
                Some(&v) => Some(v),
                None => {
                    let parsed = d
                        .path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .and_then(|n| name::parse_file_name(n).ok());
                    parsed.map(|f| {
                        errors.outside.entry(f.version).or_insert_with(|| Named {
                            version: f.version,
                            version_text: f.version_text.to_string(),
                            name: f.name.to_string(),
                        });
                        f.version
                    })
                }
            };
            match named {
                Some(v) => errors.by_version.entry(v).or_default().push(d),
                None => {
                    // A misnamed file whose corrected name gives a version is a draft of that
                    // version, shown where it will run; its error concerns no migration the
                    // ledger records, but stops an `up` that reaches its version, as a
                    // well-named draft's does (its digits are read the same).
                    let misnamed = (set.incomplete.iter()).find(|f| f.misnamed && f.path == d.path);
                    match misnamed {
                        Some(f) => {
                            errors.outside.entry(f.version).or_insert_with(|| Named {
                                version: f.version,
                                version_text: f.version_text.clone(),
                                name: f.name.clone(),
                            });
                            errors.misnamed.entry(f.version).or_default().push(d);
                        }
                        None => errors.unversioned.push(d),
                    }
                }
            }
        }
        let in_set: HashSet<u64> = set.migrations.iter().map(|m| m.version).collect();
        errors.outside.retain(|v, _| !in_set.contains(v));
        errors
    }

    /// Whether there is no error diagnostic.
    pub fn is_empty(&self) -> bool {
        self.by_version.is_empty() && self.misnamed.is_empty() && self.unversioned.is_empty()
    }

    /// Whether an error concerns the migration with this version.
    pub fn concern(&self, version: u64) -> bool {
        self.by_version.contains_key(&version)
    }

    /// The errors concerning the migration with this version.
    pub fn of(&self, version: u64) -> &[&'a Diagnostic] {
        self.by_version.get(&version).map_or(&[], Vec::as_slice)
    }

    /// The versions errors concern, up to `through`, in order.
    pub fn versions_through(&self, through: u64) -> impl Iterator<Item = u64> + '_ {
        self.by_version.range(..=through).map(|(&v, _)| v)
    }

    /// The lowest version an error stops `up` at ([`Self::blocking_up`]): a migration's, a
    /// draft's, a misnamed file's by its corrected name.
    pub fn first_version(&self) -> Option<u64> {
        let first = |map: &BTreeMap<u64, Vec<&'a Diagnostic>>| map.keys().next().copied();
        match (first(&self.by_version), first(&self.misnamed)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Errors on files whose name gives no version, as it is or corrected.
    pub fn unversioned(&self) -> &[&'a Diagnostic] {
        &self.unversioned
    }

    /// Versions named by files with errors that form no migration of the set (a draft with no
    /// down file yet, a misnamed file by its corrected name), in version order.
    pub fn drafts(&self) -> impl Iterator<Item = &Named> {
        self.outside.values()
    }

    /// The errors that stop `up` from running migrations through `through` (all when `None`):
    /// the one rule of which errors a bounded `up` stops at. Those on a file whose version can
    /// be read — a migration's, a draft's, a misnamed file's by its corrected name — up to it:
    /// a broken file below a migration that runs would be skipped and become out of order;
    /// above it, it does not stop the run. And every error on a file with no version, which
    /// may be anywhere.
    pub fn blocking_up(&self, through: Option<u64>) -> Vec<&'a Diagnostic> {
        let through = ..=through.unwrap_or(u64::MAX);
        let mut blocking: Vec<&'a Diagnostic> = (self.by_version.range(through))
            .chain(self.misnamed.range(through))
            .flat_map(|(_, ds)| ds.iter().copied())
            .collect();
        blocking.extend(self.unversioned.iter().copied());
        blocking
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{checksum, SqlFile, TransactionMode};

    fn migration(version_text: &str) -> Migration {
        let file = |kind: &str| {
            SqlFile::new(
                format!("m/{version_text}_m.{kind}.sql"),
                format!("-- {kind} {version_text}\n"),
                TransactionMode::Transaction,
                false,
            )
        };
        Migration {
            version: version_text.parse().unwrap(),
            version_text: version_text.to_string(),
            name: "m".to_string(),
            up: file("up"),
            down: file("down"),
        }
    }

    /// hpm #1: an apply's marker whose migration a row records since (every spelling of the
    /// version) is stale to [`History::interrupted`] and [`History::interrupted_unknown`], and
    /// [`History::recorded_over`] names it — not another migration's, not a transactional
    /// file's, not a rollback's, nor one of a migration without a row.
    #[test]
    fn a_marker_a_row_recorded_over_is_named_by_recorded_over_alone() {
        let no_transaction = |version_text: &str| {
            let mut m = migration(version_text);
            m.up = SqlFile::new(
                format!("m/{version_text}_m.up.sql"),
                "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (id);\n".to_string(),
                TransactionMode::NoTransaction,
                false,
            );
            m
        };
        let (ix, tx, pending) = (
            no_transaction("002"),
            migration("003"),
            no_transaction("004"),
        );
        let marker = |version: &str, name: &str, direction: &str, checksum: &str| {
            StartedRun::for_test(
                version,
                name,
                direction,
                checksum,
                "2026-01-15T10:00:00+00:00",
            )
        };
        let rows = [row("002", None), row("003", None)];
        let set = [ix.clone(), tx.clone(), pending.clone()];
        let history = History::new(&set, &rows, None);
        for spelled in ["002", "2"] {
            let markers = [marker(spelled, "m", "up", &ix.up.checksum)];
            let over = history.recorded_over(&markers);
            assert_eq!(over.len(), 1, "{spelled}");
            assert_eq!(over[0].migration.version, 2);
            assert!(!over[0].down);
            assert!(
                history.interrupted(&markers).is_empty(),
                "{spelled}: stale there"
            );
            assert!(
                history.interrupted_unknown(&markers).is_empty(),
                "{spelled}"
            );
        }
        for markers in [
            [marker("002", "other", "up", "0")],
            [marker("003", "m", "up", &tx.up.checksum)],
            [marker("002", "m", "down", &ix.up.checksum)],
            [marker("004", "m", "up", &pending.up.checksum)],
        ] {
            assert!(history.recorded_over(&markers).is_empty(), "{markers:?}");
        }
    }

    fn row(version: &str, checksum: Option<&str>) -> LedgerRow {
        LedgerRow {
            version: version.to_string(),
            name: "m".to_string(),
            applied_at: "2026-01-15T10:30:00+00:00".to_string(),
            execution_time_ms: Some(1),
            checksum: checksum.map(str::to_string),
            applied_by: None,
            slug: None,
            archived_into: None,
        }
    }

    /// A file that differs from the applied one only by its line endings or a UTF-8
    /// byte-order mark was plainly `modified` ("restore the modified files"), where a CRLF
    /// conversion was told apart: one converted from lone CRs to LF (as C016 advises), one that
    /// ran with LF and has lone CRs, a mark removed (as C014 advises) or added (an editor saved
    /// it so), alone or with its line endings converted too. Each is told apart, and its help
    /// says which: a file with LF (a mark removed) is the one to keep, which `reinit` records
    /// (confiture (Python) checksums the raw bytes too, so a row it wrote compares the same);
    /// the others are to go again. An edit beside it, or no change, is none.
    #[test]
    fn a_line_ending_or_byte_order_mark_change_is_no_edit() {
        use LineEndingChange::{BomAdded, BomRemoved, ToCr, ToCrlf, ToLf, ToLfFromCr};
        let change = |ran: &str, now: &str| {
            let mut m = migration("001");
            m.up = SqlFile::new(
                m.up.path.clone(),
                now.to_string(),
                TransactionMode::Transaction,
                false,
            );
            line_endings_change(&m, &row("001", Some(&checksum(ran.as_bytes()))))
        };
        for (ran, now, expected) in [
            ("-- a\rSELECT 1;\r", "-- a\nSELECT 1;\n", Some(ToLfFromCr)),
            ("-- a\nSELECT 1;\n", "-- a\rSELECT 1;\r", Some(ToCr)),
            ("-- a\nSELECT 1;\n", "-- a\r\nSELECT 1;\r", Some(ToCr)),
            ("-- a\nSELECT 1;\n", "-- a\r\nSELECT 1;\r\n", Some(ToCrlf)),
            ("-- a\r\nSELECT 1;\r\n", "-- a\nSELECT 1;\n", Some(ToLf)),
            // A CR that is data in a string is kept by a checkout converting LF to CRLF.
            ("SELECT 'a\rb';\n", "SELECT 'a\rb';\r\n", Some(ToCrlf)),
            ("\u{feff}SELECT 1;\n", "SELECT 1;\n", Some(BomRemoved)),
            ("SELECT 1;\n", "\u{feff}SELECT 1;\n", Some(BomAdded)),
            // A mark and line endings together.
            ("\u{feff}SELECT 1;\r\n", "SELECT 1;\n", Some(BomRemoved)),
            (
                "\u{feff}-- a\rSELECT 1;\r",
                "-- a\nSELECT 1;\n",
                Some(BomRemoved),
            ),
            ("SELECT 1;\n", "\u{feff}SELECT 1;\r\n", Some(BomAdded)),
            // An edit beside it is an edit, and no change at all is none.
            ("-- a\rSELECT 1;\r", "-- a\nSELECT 2;\n", None),
            ("-- a\rSELECT 1;\r", "-- a\rSELECT 1;\r", None),
            ("\u{feff}SELECT 1;\n", "SELECT 2;\n", None),
            ("SELECT 1;\n", "\u{feff}SELECT 2;\n", None),
        ] {
            let found = change(ran, now);
            assert_eq!(found, expected, "{ran:?} -> {now:?}");
            let Some(found) = found else {
                continue;
            };
            let help = crate::plan::modified_help(crate::plan::LineEndings::of([(
                "001".to_string(),
                Some(found),
            )]));
            let mark = matches!(found, BomRemoved | BomAdded);
            assert_eq!(
                help.contains("byte-order mark"),
                mark,
                "{ran:?} -> {now:?}: {help}"
            );
            if mark {
                assert_eq!(
                    help.contains("records it as applied"),
                    found.file_has_lf(),
                    "{help}"
                );
            }
        }
        // Which of them `reinit` is the way on for: those whose file has LF.
        for (change, has_lf) in [
            (ToLf, true),
            (ToLfFromCr, true),
            (BomRemoved, true),
            (ToCrlf, false),
            (ToCr, false),
            (BomAdded, false),
        ] {
            assert_eq!(change.file_has_lf(), has_lf, "{change:?}");
        }
    }

    fn states(h: &History<'_>) -> Vec<String> {
        h.entries()
            .iter()
            .map(|e| format!("{}:{}", e.version, e.state.as_str()))
            .collect()
    }

    #[test]
    fn versions_compare_as_integers_and_keep_their_text() {
        let a: Version = "009".parse().unwrap();
        let b: Version = "10".parse().unwrap();
        let c: Version = "9".parse().unwrap();
        assert!(a < b);
        assert_eq!(a, c);
        assert_eq!((a.as_str(), c.as_str(), a.number()), ("009", "9", 9));
        assert_eq!("".parse::<Version>().unwrap_err(), VersionError::Empty);
        for bad in ["-1", "+1", " 1", "1 ", "1.0", "x", "١"] {
            assert_eq!(
                bad.parse::<Version>().unwrap_err(),
                VersionError::NotDigits,
                "{bad}"
            );
        }
        assert_eq!(
            "99999999999999999999".parse::<Version>().unwrap_err(),
            VersionError::TooLarge
        );
        // The limit is said (hc2), for a flag and a ledger row alike.
        assert_eq!(
            VersionError::TooLarge.to_string(),
            format!("it is above {MAX_VERSION}, the largest version a migration may have")
        );
    }

    /// h18 F3: a row with a version and nothing else (no name, no checksum) was taken for the
    /// file of its version. Its name identifies it, else its slug — confiture's
    /// `<name>_<version>_<time>[_<reason>]`, an older `<name>_<time>`, an id written by hand —;
    /// nothing else does, and a name or slug of another migration contradicts the version.
    #[test]
    fn a_row_is_identified_by_its_name_or_slug_never_by_its_version_alone() {
        let with = |name: &str, slug: Option<&str>| LedgerRow {
            name: name.to_string(),
            slug: slug.map(str::to_string),
            ..row("003", None)
        };
        for slug in [
            "add_users_003_20250101_000000",
            "add_users_3_20250101_000000_baseline",
            "add_users_003_20250101_000000_reinit",
            "add_users_20250101_000000",
            "add_users_003_20250101_000000_0003_baseline_from_db",
            "003_add_users",
            "add_users",
        ] {
            let row = with("", Some(slug));
            assert_eq!(slug_names(&row, 3, "add_users"), Some(true), "{slug}");
            assert!(is_identified_as(&row, 3, "add_users"), "{slug}");
            assert!(is_identified_as(
                &with("add_users", Some(slug)),
                3,
                "add_users"
            ));
            // Another version (where the slug has one) or name: not this migration.
            let versioned = slug.contains("003") || slug.contains("_3_");
            assert_eq!(is_identified_as(&row, 4, "add_users"), !versioned, "{slug}");
            assert!(!is_identified_as(&row, 3, "users"), "{slug}");
            // Its name another's: the two disagree.
            assert!(!is_identified_as(
                &with("other", Some(slug)),
                3,
                "add_users"
            ));
        }
        // A slug confiture wrote, of another migration: it contradicts the row's name.
        for slug in [
            "other_003_20250101_000000",
            "add_users_004_20250101_000000",
            "x_add_users_003_20250101_000000",
        ] {
            assert_eq!(
                slug_names(&with("", Some(slug)), 3, "add_users"),
                Some(false)
            );
            assert!(!is_identified_as(&with("", Some(slug)), 3, "add_users"));
            assert!(!is_identified_as(
                &with("add_users", Some(slug)),
                3,
                "add_users"
            ));
        }
        // A slug written by hand that is not its name or id says nothing: the name decides.
        for slug in ["004_add_users", "made_by_hand", "g"] {
            assert_eq!(slug_names(&with("", Some(slug)), 3, "add_users"), None);
            assert!(!is_identified_as(&with("", Some(slug)), 3, "add_users"));
            assert!(is_identified_as(
                &with("add_users", Some(slug)),
                3,
                "add_users"
            ));
        }
        // Nothing but the version: unidentified.
        for slug in [None, Some(""), Some("  ")] {
            assert!(
                !is_identified_as(&with("", slug), 3, "add_users"),
                "{slug:?}"
            );
            assert!(is_identified_as(&with("add_users", slug), 3, "add_users"));
        }
    }

    /// A ledger version padded with whitespace (`' 003'`) was "missing" and `reinit` forgot
    /// it, so `up` ran an applied migration again; checksums were already compared trimmed.
    #[test]
    fn a_padded_ledger_version_matches_its_file_and_an_empty_one_is_named() {
        let files = [migration("001"), migration("003")];
        for padded in [" 003", "003 ", "\t003\n", "  3  "] {
            assert_eq!(Version::of_ledger(padded).map(|v| v.number()), Ok(3));
            let rows = [row("001", None), row(padded, None)];
            let h = History::new(&files, &rows, None);
            assert_eq!(states(&h), ["001:applied", "003:applied"], "{padded:?}");
            assert_eq!(h.row_of(&files[1]).unwrap().row.version, padded);
            assert_eq!(h.pending().count(), 0);
        }
        // Beside the row spelled like the file, a padded one is a second row.
        let rows = [row(" 003", None), row("003", None)];
        let h = History::new(&files, &rows, None);
        assert_eq!(h.row_of(&files[1]).unwrap().row.version, "003");
        assert_eq!(h.duplicates().len(), 1);
        assert_eq!(Version::of_ledger("  "), Err(VersionError::Empty));
        assert_eq!(Version::of_ledger("0 3"), Err(VersionError::NotDigits));
        // An empty version is named as such.
        let rows = [row("", None)];
        let h = History::new(&files, &rows, None);
        assert_eq!(h.recorded[0].state, State::Missing);
        assert_eq!(h.recorded[0].id(), "(empty version) m");
        assert_eq!(
            crate::display::version_range(&["".into(), " ".into(), "002".into()]),
            "(empty version), (empty version), 002"
        );
    }

    #[test]
    fn checksums_compare_one_way() {
        let m = migration("001");
        let sum = m.up.checksum.clone();
        assert!(!is_modified(&m, &row("001", Some(&sum))));
        // confiture (Python)'s `verify-checksums` compares the recorded text exactly: a digest
        // with whitespace around it (written by hand, or by another tool) is a mismatch there,
        // and modified here — the same digest, which the help says.
        for recorded in [format!("{sum}   "), format!(" {sum}\n"), format!("{sum}\t")] {
            assert!(
                is_modified(&m, &row("001", Some(&recorded))),
                "{recorded:?}"
            );
            assert_eq!(
                checksum_written_otherwise(&recorded, &sum),
                Some(ChecksumSpelling {
                    padded: true,
                    upper_case: false
                }),
                "{recorded:?}"
            );
            // It still names the file that ran, for a row lacking its version or name.
            let named =
                of_recorded_checksum(std::slice::from_ref(&m), &row("001", Some(&recorded)));
            assert_eq!(named.count(), 1);
        }
        assert!(!is_modified(&m, &row("001", None)));
        assert!(!is_modified(&m, &row("001", Some("  "))));
        assert!(is_modified(&m, &row("001", Some(&checksum(b"x")))));
        assert!(is_modified(&m, &row("001", Some(&sum[1..]))));
        // confiture (Python)'s `verify-checksums` compares the lower-case digest exactly.
        assert!(is_modified(&m, &row("001", Some(&sum.to_uppercase()))));
        assert!(is_modified(
            &m,
            &row("001", Some(&format!("{}  ", sum.to_uppercase())))
        ));
        assert_eq!(
            checksum_written_otherwise(&sum.to_uppercase(), &sum),
            Some(ChecksumSpelling {
                padded: false,
                upper_case: true
            })
        );
        assert_eq!(
            checksum_written_otherwise(&format!(" {} ", sum.to_uppercase()), &sum),
            Some(ChecksumSpelling {
                padded: true,
                upper_case: true
            })
        );
        assert_eq!(checksum_written_otherwise(&sum, &sum), None);
        assert_eq!(checksum_written_otherwise(&checksum(b"x"), &sum), None);
    }

    /// A row confiture (Python)'s `migrate squash` archived into a squashed baseline
    /// (`archived_into`) with no file is squashed, whatever `first_version` says — never
    /// missing, nor renumbered by its checksum alone; a live row with no file stays missing.
    #[test]
    fn a_row_archived_into_a_squashed_baseline_is_squashed_never_missing() {
        let baseline = migration("004");
        let elsewhere = migration("005");
        let archived = |version: &str, checksum: Option<&str>| LedgerRow {
            archived_into: Some("004".to_string()),
            ..row(version, checksum)
        };
        let rows = [
            archived("001", None),
            // Its up file's checksum is 005's: renamed and renumbered, were it live.
            LedgerRow {
                name: "other".to_string(),
                ..archived("002", Some(&elsewhere.up.checksum))
            },
            LedgerRow {
                name: "gone".to_string(),
                ..row("003", None)
            },
            row("004", Some(&baseline.up.checksum)),
        ];
        let files = [baseline.clone(), elsewhere.clone()];
        for first_version in [None, Some(2), Some(4)] {
            let h = History::new(&files, &rows, first_version);
            let live_missing = if first_version == Some(4) {
                State::Squashed
            } else {
                State::Missing
            };
            let recorded: Vec<State> = h.recorded.iter().map(|r| r.state).collect();
            assert_eq!(
                recorded,
                [
                    State::Squashed,
                    State::Squashed,
                    live_missing,
                    State::Applied
                ],
                "{first_version:?}"
            );
            assert_eq!(h.pending().count(), 1, "005 is pending: {first_version:?}");
        }
    }

    /// rnm: a row whose up file (checksum) one file of another version has, under another
    /// name, is renumbered to it — its version a number or not (confiture (Python) reads
    /// `002-dash.up.sql` as version `002-dash`) —, never missing with the file pending; several
    /// such files make it ambiguous; a file with its name and checksum is never taken from the
    /// row it belongs to; a row below `first_version` stays squashed.
    #[test]
    fn a_row_whose_up_file_another_file_has_under_another_name_is_renumbered_to_it() {
        let renamed = |version: &str, name: &str, of: &Migration| LedgerRow {
            name: name.to_string(),
            ..row(version, Some(&of.up.checksum))
        };
        let files = [migration("001"), migration("002")];
        for (version, name) in [("002-dash", "002-dash"), ("20260101", "120000_add")] {
            let rows = [
                row("001", Some(&files[0].up.checksum)),
                renamed(version, name, &files[1]),
            ];
            let h = History::new(&files, &rows, None);
            assert_eq!(h.recorded[1].state, State::Renumbered, "{version}");
            assert_eq!(h.row_of(&files[1]).unwrap().row.version, version);
            assert_eq!(h.pending().count(), 0, "{version}");
            assert!(h.missing().is_empty(), "{version}");
            // Below `first_version`: squashed, whatever has its up file.
            if version == "20260101" {
                let h = History::new(&files, &rows, Some(30_000_000));
                assert_eq!(h.recorded[1].state, State::Squashed);
            }
        }
        // Two files with its up file: which one ran? Ambiguous, tied to the first.
        let twin = Migration {
            version: 3,
            version_text: "003".to_string(),
            name: "again".to_string(),
            ..files[1].clone()
        };
        let three = [files[0].clone(), files[1].clone(), twin];
        let rows = [
            row("001", Some(&files[0].up.checksum)),
            renamed("002-dash", "002-dash", &files[1]),
        ];
        let h = History::new(&three, &rows, None);
        assert_eq!(h.recorded[1].state, State::Ambiguous);
        assert_eq!(h.row_of(&three[1]).unwrap().row.version, "002-dash");
        assert!(h.missing().is_empty());
        // A row of its name and checksum takes the file first, whatever the rows' order.
        let rows = [
            renamed("x", "other", &files[1]),
            renamed("007", "m", &files[1]),
        ];
        let h = History::new(&files[1..], &rows, None);
        assert_eq!(h.row_of(&files[1]).unwrap().row.version, "007");
        assert_eq!(h.recorded[0].state, State::Missing);
    }

    #[test]
    fn rows_below_first_version_are_squashed_others_missing() {
        let files = [migration("003"), migration("004")];
        // Named unlike the files: a file of its name could be its own, renumbered (ambiguous).
        let gone = |v: &str| LedgerRow {
            name: "gone".to_string(),
            ..row(v, None)
        };
        let rows = [gone("001"), gone("002"), row("003", None), row("x", None)];
        let h = History::new(&files, &rows, Some(3));
        assert_eq!(
            states(&h),
            [
                "001:squashed",
                "002:squashed",
                "003:applied",
                "004:pending",
                "x:missing"
            ]
        );
        let h = History::new(&files, &rows, None);
        assert_eq!(
            states(&h),
            [
                "001:missing",
                "002:missing",
                "003:applied",
                "004:pending",
                "x:missing"
            ]
        );
    }

    #[test]
    fn the_row_spelled_like_the_file_wins_and_others_are_duplicates() {
        let files = [migration("001"), migration("002")];
        let rows = [
            row("2", None),
            row("1", None),
            row("001", None),
            row("0002", None),
        ];
        let h = History::new(&files, &rows, None);
        assert_eq!(
            states(&h),
            [
                "001:applied",
                "1:duplicate",
                "002:applied",
                "0002:duplicate"
            ]
        );
        // No exact spelling: the first applied wins, and addresses its own row.
        let m2 = &files[1];
        assert_eq!(h.row_of(m2).unwrap().row.version, "2");
        assert_eq!(
            h.duplicates_of(m2)
                .map(|r| r.row.version.as_str())
                .collect::<Vec<_>>(),
            ["0002"]
        );
        assert_eq!(h.row_of(&files[0]).unwrap().row.version, "001");
    }

    #[test]
    fn unrecorded_files_below_the_newest_row_are_out_of_order() {
        let files = [migration("001"), migration("002"), migration("003")];
        let rows = [row("001", None), row("003", None)];
        let h = History::new(&files, &rows, None);
        assert_eq!(
            states(&h),
            ["001:applied", "002:out_of_order", "003:applied"]
        );
        assert_eq!(h.newest_recorded().unwrap().row.version, "003");
        assert_eq!(h.unrecorded_state(2), State::OutOfOrder);
        assert_eq!(h.unrecorded_state(4), State::Pending);
        let h = History::new(&files, &[], None);
        assert_eq!(states(&h), ["001:pending", "002:pending", "003:pending"]);
        assert!(h.newest_recorded().is_none());
    }

    #[test]
    fn never_panics_on_odd_rows() {
        let files = [migration("001")];
        let rows = [
            row("", None),
            row("9223372036854775807", None),
            row("18446744073709551615", None),
            row("18446744073709551616", None),
            row("001", Some("")),
            row("0001", Some("zz")),
        ];
        let h = History::new(&files, &rows, Some(MAX_VERSION));
        assert_eq!(
            states(&h),
            [
                "001:applied",
                "0001:duplicate",
                "9223372036854775807:missing",
                // Above `MAX_VERSION`: no version, as a row with no digits.
                ":missing",
                "18446744073709551615:missing",
                "18446744073709551616:missing"
            ]
        );
    }

    fn unreadable_file(version_text: &str, name: &str) -> UnreadableFile {
        UnreadableFile {
            path: format!("m/{version_text}_{name}.up.sql").into(),
            version: version_text.parse().unwrap(),
            version_text: version_text.to_string(),
            name: name.to_string(),
            direction: crate::files::Direction::Up,
            error: "it is a directory, not a file".to_string(),
        }
    }

    /// A version whose files are on disk but cannot be read was `missing` (a row) or not there
    /// at all (no row): it is `unreadable`, recorded or not; a second row beside it is a
    /// duplicate; a readable migration of another number with the row's name and checksum is
    /// not taken for it renumbered; [`History::new`] (migrations alone) knows nothing of it.
    #[test]
    fn a_version_whose_files_cannot_be_read_is_unreadable_recorded_or_not() {
        let mut set = MigrationSet::new("m", vec![migration("001")]);
        set.unreadable = vec![unreadable_file("002", "m"), unreadable_file("003", "m")];
        let rows = [row("001", None), row("2", None), row("002", None)];
        let h = History::of(&set, &rows, Some(2));
        assert_eq!(
            states(&h),
            [
                "001:applied",
                "002:unreadable",
                "2:duplicate",
                "003:unreadable"
            ]
        );
        assert_eq!(h.recorded[2].state, State::Unreadable { recorded: true });
        assert!(h.missing().is_empty() && h.pending().count() == 0);
        assert_eq!(h.unreadable_files(2), [&set.unreadable[0]]);
        assert_eq!(h.unreadable_files(1), [] as [&UnreadableFile; 0]);
        assert!(State::Unreadable { recorded: true }.is_applied_migration());
        assert!(!State::Unreadable { recorded: false }.is_recorded());
        assert!(!State::Unreadable { recorded: true }.is_diverged());
        assert_eq!(
            serde_json::to_value(State::Unreadable { recorded: false }).unwrap(),
            "unreadable"
        );
        assert_eq!(
            serde_json::to_value(State::OutOfOrder).unwrap(),
            "out_of_order"
        );
        // Migrations alone: the rows are missing again.
        let h = History::new(&set.migrations, &rows, None);
        assert_eq!(h.missing().len(), 2);

        // Its row's name and checksum at another number: still unreadable, not renumbered.
        let mut moved = migration("005");
        moved.name = "b".to_string();
        let mut set = MigrationSet::new("m", vec![migration("001"), moved.clone()]);
        set.unreadable = vec![unreadable_file("002", "b")];
        let mut applied = row("002", Some(&moved.up.checksum));
        applied.name = "b".to_string();
        let rows = [row("001", None), applied];
        let h = History::of(&set, &rows, None);
        assert_eq!(states(&h), ["001:applied", "002:unreadable", "005:pending"]);
        // A readable migration of that version wins: the unreadable file is another one's.
        let mut set = MigrationSet::new("m", vec![migration("001"), migration("002")]);
        set.unreadable = vec![unreadable_file("002", "x")];
        let rows = [row("001", None), row("002", None)];
        let h = History::of(&set, &rows, None);
        assert_eq!(states(&h), ["001:applied", "002:applied"]);
    }

    fn half(version_text: &str, direction: crate::files::Direction, text: &str) -> IncompleteFile {
        IncompleteFile {
            path: format!("m/{version_text}_m.{direction}.sql").into(),
            version: version_text.parse().unwrap(),
            version_text: version_text.to_string(),
            name: "m".to_string(),
            direction,
            checksum: checksum(text.as_bytes()),
            misnamed: false,
        }
    }

    /// A recorded version of which half a pair is on disk was `missing`: it is recorded —
    /// `applied` when its up file is there unchanged or only its down file is, `modified` when
    /// the up file changed — a second row a duplicate, never renumbered away; listed by
    /// `incomplete`. Unrecorded, such a file is no line of the history (a draft).
    #[test]
    fn a_recorded_version_with_half_its_pair_on_disk_is_recorded_not_missing() {
        use crate::files::Direction::{Down, Up};
        let up = "-- up 002\n";
        let mut set = MigrationSet::new("m", vec![migration("001")]);
        set.incomplete = vec![
            half("002", Up, up),
            half("003", Up, "-- edited\n"),
            half("004", Down, "-- down 004\n"),
            half("005", Up, "-- draft\n"),
        ];
        let rows = [
            row("001", None),
            row("002", Some(&checksum(up.as_bytes()))),
            row("3", Some(&checksum(b"-- up 003\n"))),
            row("003", Some(&checksum(b"-- up 003\n"))),
            row("004", Some("abc")),
        ];
        let h = History::of(&set, &rows, None);
        assert_eq!(
            states(&h),
            [
                "001:applied",
                "002:applied",
                "003:modified",
                "3:duplicate",
                "004:applied"
            ]
        );
        assert!(h.missing().is_empty() && h.pending().count() == 0);
        let versions: Vec<u64> = h.incomplete().map(|(v, _)| v).collect();
        assert_eq!(versions, [2, 3, 4]);
        assert_eq!(h.incomplete_files(4), [&set.incomplete[2]]);
        assert!(h.incomplete_files(5).is_empty());
        // Migrations alone: the rows are missing again.
        assert_eq!(
            History::new(&set.migrations, &rows, None).missing().len(),
            4
        );
    }
    /// A migration named `name` whose up file says `body`.
    fn named(version_text: &str, name: &str, body: &str) -> Migration {
        let mut m = migration(version_text);
        m.name = name.to_string();
        m.up = SqlFile::new(
            format!("m/{version_text}_{name}.up.sql"),
            body.to_string(),
            TransactionMode::Transaction,
            false,
        );
        m.down.path = format!("m/{version_text}_{name}.down.sql").into();
        m
    }

    /// The row confiture writes for `name` applied as `version` with the up file `body`.
    fn applied(version: &str, name: &str, body: &str) -> LedgerRow {
        LedgerRow {
            name: name.to_string(),
            ..row(version, Some(&checksum(body.as_bytes())))
        }
    }

    /// `version:name:state` of every line, and the file each renumbered row matched.
    fn lines(h: &History<'_>) -> Vec<String> {
        h.entries()
            .iter()
            .map(|e| format!("{}_{}:{}", e.version, e.name, e.state.as_str()))
            .collect()
    }

    /// D1: migrations renumbered in a swap, a cycle or a chain were `replaced` (or `missing`)
    /// and their files pending: a target number recorded by another row, or an old number
    /// taken by a file, ruled the renumbering out, so `reinit` forgot the rows and `up` ran
    /// the migrations a second time. Each row is renumbered to its file, whatever took the
    /// number it left; a file the rows of its version record is never taken from them, and
    /// no file is claimed by two rows.
    #[test]
    fn migrations_renumbered_in_a_swap_a_cycle_or_a_chain_are_renumbered() {
        let (a, b, c) = ("-- a\n", "-- b\n", "-- c\n");
        let first = named("001", "first", "-- first\n");
        let ran = |list: &[(&str, &str, &str)]| -> Vec<LedgerRow> {
            std::iter::once(applied("001", "first", "-- first\n"))
                .chain(list.iter().map(|(v, n, body)| applied(v, n, body)))
                .collect()
        };
        let check = |files: &[Migration], rows: &[LedgerRow], expected: &[&str]| {
            let set = MigrationSet::new("m", files.to_vec());
            let h = History::of(&set, rows, None);
            assert_eq!(lines(&h), expected, "{rows:?}");
            // Each renumbered row matched the file with its name and checksum, one each.
            let mut claimed = HashSet::new();
            for r in h.renumbered() {
                let m = r.matched().expect("renumbered to a file");
                assert_eq!(
                    (m.name.as_str(), is_modified(m, r.row)),
                    (&*r.row.name, false)
                );
                assert!(claimed.insert(m.version), "two rows claim {}", m.id());
                assert_eq!(h.row_of(m).map(|x| &*x.row.version), Some(&*r.row.version));
            }
            h.renumbered().len()
        };
        // A swap.
        let rows = ran(&[("002", "a", a), ("003", "b", b)]);
        let files = [first.clone(), named("002", "b", b), named("003", "a", a)];
        let expected = ["001_first:applied", "002_b:renumbered", "003_a:renumbered"];
        assert_eq!(check(&files, &rows, &expected), 2);
        // A cycle of three.
        let rows = ran(&[("002", "a", a), ("003", "b", b), ("004", "c", c)]);
        let files = [
            first.clone(),
            named("002", "c", c),
            named("003", "a", a),
            named("004", "b", b),
        ];
        let expected = [
            "001_first:applied",
            "002_c:renumbered",
            "003_a:renumbered",
            "004_b:renumbered",
        ];
        assert_eq!(check(&files, &rows, &expected), 3);
        // A chain: each one number up, the first number left free (a gap).
        let rows = ran(&[("002", "a", a), ("003", "b", b)]);
        let files = [first.clone(), named("003", "a", a), named("004", "b", b)];
        let expected = ["001_first:applied", "003_a:renumbered", "004_b:renumbered"];
        assert_eq!(check(&files, &rows, &expected), 2);
        // A chain with a new migration at the number it left: that one never ran.
        let mut files = files.to_vec();
        files.push(named("002", "new", "-- new\n"));
        let expected = [
            "001_first:applied",
            "002_new:out_of_order",
            "003_a:renumbered",
            "004_b:renumbered",
        ];
        assert_eq!(check(&files, &rows, &expected), 2);
        // A swap whose other migration's files are gone: renumbered, and the other missing
        // (it ran and its files are gone), not replaced by the file that took its number.
        let files = [first.clone(), named("003", "a", a)];
        let expected = ["001_first:applied", "003_a:renumbered", "003_b:missing"];
        let got = check(&files, &rows, &expected);
        let h = History::new(&files, &rows, None);
        assert_eq!((got, h.missing()[0].row.name.as_str()), (1, "b"));
        assert!(h.replaced().is_empty() && h.pending().count() == 0);
        // The file recorded by the rows of its own version (same name and up file at 003 as
        // at 002): theirs, not taken; the row at 002 is missing.
        let rows = ran(&[("002", "a", a), ("003", "a", a)]);
        let files = [first.clone(), named("003", "a", a)];
        let expected = ["001_first:applied", "002_a:missing", "003_a:applied"];
        assert_eq!(check(&files, &rows, &expected), 0);
        // Also when that row has another name and no checksum: nothing says it is another
        // migration (nor that it is: it is ambiguous there).
        let mut rows = ran(&[("002", "a", a), ("003", "renamed", a)]);
        rows[2].checksum = None;
        let expected = [
            "001_first:applied",
            "002_a:missing",
            "003_renamed:ambiguous",
        ];
        assert_eq!(check(&files, &rows, &expected), 0);
        // Two rows of one migration (002 and 004, the same name and up file), one file now at
        // 003: one row claims it, the other is missing.
        let rows = ran(&[("002", "a", a), ("004", "a", a)]);
        let expected = ["001_first:applied", "003_a:renumbered", "004_a:missing"];
        assert_eq!(check(&files, &rows, &expected), 1);
        // A swap with one of them edited too: nothing proves the edited one is the one that
        // ran, nor that it is another migration (F12): its row is ambiguous, tied to it, and
        // the other one still renumbered.
        let rows = ran(&[("002", "a", a), ("003", "b", b)]);
        let files = [
            first.clone(),
            named("002", "b", "-- b edited\n"),
            named("003", "a", a),
        ];
        let expected = ["001_first:applied", "003_a:renumbered", "003_b:ambiguous"];
        assert_eq!(check(&files, &rows, &expected), 1);
    }

    /// F10, F12: a row whose name is not the file's at its version and which has no checksum
    /// was `applied` to that file (renamed? another migration?), and a row whose name a file
    /// of another version has without its checksum was `missing` (its file pending): `reinit`
    /// renamed or forgot the row, `up` ran a migration that may have run. Nothing tells: the
    /// row is `ambiguous`, tied to that file (never pending, never forgotten), in a swap, a
    /// chain, a cycle, with its files deleted, with or without a checksum.
    #[test]
    fn a_row_nothing_ties_to_one_file_is_ambiguous() {
        let (a, b, c) = ("-- a\n", "-- b\n", "-- c\n");
        let first = named("001", "first", "-- first\n");
        let unsummed = |v: &str, n: &str| LedgerRow {
            checksum: None,
            ..applied(v, n, "")
        };
        let check = |files: &[Migration], rows: &[LedgerRow], expected: &[&str]| {
            let set = MigrationSet::new("m", files.to_vec());
            let h = History::of(&set, rows, None);
            assert_eq!(lines(&h), expected, "{rows:?}");
            // Each ambiguous row is tied to one file, which is no pending one; never to a file
            // another row took.
            let mut tied = HashSet::new();
            for r in h.ambiguous() {
                let m = r.migration.expect("tied to a file");
                assert!(r.matched().is_none(), "{}", r.id());
                assert!(h.pending().all(|p| p.version != m.version), "{}", m.id());
                assert!(tied.insert(m.version), "two rows tied to {}", m.id());
                assert_eq!(h.row_of(m).map(|x| &*x.row.version), Some(&*r.row.version));
                assert!(r.state.is_diverged() && r.state.is_applied_migration());
            }
            h.ambiguous()
                .iter()
                .map(|r| r.migration.map(Migration::id).unwrap_or_default())
                .collect::<Vec<_>>()
        };
        let one = [
            applied("001", "first", "-- first\n"),
            unsummed("002", "add_users"),
        ];

        // F10: no checksum, another name at its version.
        let files = [first.clone(), named("002", "add_orders", a)];
        let expected = ["001_first:applied", "002_add_users:ambiguous"];
        assert_eq!(check(&files, &one, &expected), ["002_add_orders"]);
        // ... and its name at another number: tied to the file of its version, the other one
        // left unrecorded (`up` refuses all the same).
        let mut files = files.to_vec();
        files.push(named("003", "add_users", b));
        let expected = [
            "001_first:applied",
            "002_add_users:ambiguous",
            "003_add_users:pending",
        ];
        assert_eq!(check(&files, &one, &expected), ["002_add_orders"]);
        // No checksum, its files deleted, its name at another number (renumbered? reused?).
        let files = [first.clone(), named("003", "add_users", b)];
        let expected = ["001_first:applied", "002_add_users:ambiguous"];
        assert_eq!(check(&files, &one, &expected), ["003_add_users"]);
        // A swap without checksums: both ambiguous, each at its version.
        let rows = [
            applied("001", "first", "-- first\n"),
            unsummed("002", "a"),
            unsummed("003", "b"),
        ];
        let files = [first.clone(), named("002", "b", b), named("003", "a", a)];
        let expected = ["001_first:applied", "002_a:ambiguous", "003_b:ambiguous"];
        assert_eq!(check(&files, &rows, &expected), ["002_b", "003_a"]);
        // A chain without checksums: the first row's name is at the version the second row
        // may record; the second is ambiguous there, the first missing until it is decided.
        let files = [first.clone(), named("003", "a", a), named("004", "b", b)];
        let expected = [
            "001_first:applied",
            "002_a:missing",
            "003_b:ambiguous",
            "004_b:pending",
        ];
        assert_eq!(check(&files, &rows, &expected), ["003_a"]);

        // F12: with checksums, a swap whose one file was also edited.
        let ran = |list: &[(&str, &str, &str)]| -> Vec<LedgerRow> {
            std::iter::once(applied("001", "first", "-- first\n"))
                .chain(list.iter().map(|(v, n, body)| applied(v, n, body)))
                .collect()
        };
        let rows = ran(&[("002", "a", a), ("003", "b", b)]);
        let files = [
            first.clone(),
            named("002", "b", b),
            named("003", "a", "-- a edited\n"),
        ];
        let expected = ["001_first:applied", "002_a:ambiguous", "002_b:renumbered"];
        assert_eq!(check(&files, &rows, &expected), ["003_a"]);
        // Both edited.
        let files = [
            first.clone(),
            named("002", "b", "-- b edited\n"),
            named("003", "a", "-- a edited\n"),
        ];
        let expected = ["001_first:applied", "002_a:ambiguous", "003_b:ambiguous"];
        assert_eq!(check(&files, &rows, &expected), ["003_a", "002_b"]);
        // A chain, the first edited: ambiguous, the second renumbered.
        let files = [
            first.clone(),
            named("003", "a", "-- a edited\n"),
            named("004", "b", b),
        ];
        let expected = ["001_first:applied", "002_a:ambiguous", "004_b:renumbered"];
        assert_eq!(check(&files, &rows, &expected), ["003_a"]);
        // A cycle of three, one edited.
        let rows = ran(&[("002", "a", a), ("003", "b", b), ("004", "c", c)]);
        let files = [
            first.clone(),
            named("002", "c", c),
            named("003", "a", a),
            named("004", "b", "-- b edited\n"),
        ];
        let expected = [
            "001_first:applied",
            "002_c:renumbered",
            "003_a:renumbered",
            "003_b:ambiguous",
        ];
        assert_eq!(check(&files, &rows, &expected), ["004_b"]);
        // Its files deleted, a file of its name at a new number with another up file.
        let rows = ran(&[("002", "a", a)]);
        let files = [first.clone(), named("005", "a", "-- new a\n")];
        let expected = ["001_first:applied", "002_a:ambiguous"];
        assert_eq!(check(&files, &rows, &expected), ["005_a"]);
        // Another migration at its version (replaced) and its name elsewhere, edited: tied to
        // the one of its name; the one at its version never ran.
        let files = [
            first.clone(),
            named("002", "x", "-- x\n"),
            named("005", "a", "-- new a\n"),
        ];
        let expected = ["001_first:applied", "002_a:ambiguous", "002_x:pending"];
        assert_eq!(check(&files, &rows, &expected), ["005_a"]);

        // Not ambiguous: the same name without checksum (trusted), no name at all (nothing
        // contradicts the version), a rename keeping the checksum, a file of its name that the rows of its own version record, a row below
        // `first_version`.
        let files = [first.clone(), named("002", "add_users", a)];
        assert!(check(
            &files,
            &one,
            &["001_first:applied", "002_add_users:applied"]
        )
        .is_empty());
        let nameless = [applied("001", "first", "-- first\n"), unsummed("002", "")];
        let expected = ["001_first:applied", "002_add_users:applied"];
        assert!(check(&files, &nameless, &expected).is_empty());
        let rows = ran(&[("002", "add_users", a)]);
        let files = [first.clone(), named("002", "add_orders", a)];
        assert!(check(
            &files,
            &rows,
            &["001_first:applied", "002_add_orders:applied"]
        )
        .is_empty());
        let rows = ran(&[("002", "a", a), ("003", "a", "-- a2\n")]);
        let files = [first.clone(), named("003", "a", "-- a2\n")];
        let expected = ["001_first:applied", "002_a:missing", "003_a:applied"];
        assert!(check(&files, &rows, &expected).is_empty());
        let set = MigrationSet::new("m", vec![named("003", "a", "-- new a\n")]);
        let rows = ran(&[("002", "a", a)]);
        let h = History::of(&set, &rows, Some(3));
        assert_eq!(
            lines(&h),
            ["001_first:squashed", "002_a:squashed", "003_a:pending"]
        );
        assert_eq!(State::Ambiguous.as_str(), "ambiguous");

        // The migrations of a run alone (the engine's check after a lost connection): a row
        // of another version with the name of the one being applied does not record it.
        let running = named("010", "add_index", "-- new index\n");
        let rows = [applied("002", "add_index", "-- old index\n")];
        let h = History::new([&running], &rows, None);
        assert_eq!(h.recorded[0].state, State::Ambiguous);
        assert!(h.recording(&running).is_none());
        let rows = [
            applied("002", "add_index", "-- old index\n"),
            applied("010", "add_index", "-- new index\n"),
        ];
        let h = History::new([&running], &rows, None);
        assert_eq!(h.recording(&running).map(|r| &*r.row.version), Some("010"));
    }
    fn python_file(version_text: &str, name: &str) -> PythonFile {
        PythonFile {
            path: format!("m/{version_text}_{name}.py").into(),
            version: version_text.parse().unwrap(),
            version_text: version_text.to_string(),
            name: name.to_string(),
        }
    }

    /// D13: a confiture (Python) migration `002_x.py` at the number of an applied SQL migration
    /// of another name (`002_b`, its SQL files deleted) was taken for that row's migration,
    /// `python` applied, whatever its name: `002_x.py` never ran. A row records a `.py` file
    /// only with its name; another one's files are gone (missing, or renumbered when its SQL
    /// files have another number now), and the `.py` file is unrecorded.
    #[test]
    fn a_python_migration_is_recorded_only_by_a_row_of_its_name() {
        let b = "-- b\n";
        let mut set = MigrationSet::new("m", vec![migration("001")]);
        set.python = vec![python_file("002", "x"), python_file("003", "c")];
        let rows = [
            row("001", None),
            applied("002", "b", b),
            applied("3", "c", "-- c\n"),
            applied("003", "c", "-- c\n"),
        ];
        let h = History::of(&set, &rows, None);
        assert_eq!(
            lines(&h),
            [
                "001_m:applied",
                "002_b:missing",
                "002_x:python",
                "003_c:python",
                "3_c:duplicate"
            ]
        );
        let python: Vec<(&str, bool)> = h.python().map(|(f, r)| (&*f.name, r)).collect();
        assert_eq!(python, [("x", false), ("c", true)]);
        assert_eq!(h.recorded[1].state, State::Missing);
        assert_eq!(h.recorded[3].state, State::Python { recorded: true });
        // Its SQL files renumbered: the row is renumbered to them, the `.py` file unrecorded.
        set.migrations.push(named("004", "b", b));
        let h = History::of(&set, &rows, None);
        assert_eq!(h.recorded[1].state, State::Renumbered);
        assert_eq!(
            h.recorded[1].matched().map(|m| m.id()),
            Some("004_b".into())
        );
        assert_eq!(h.python().filter(|(_, r)| !r).count(), 1);
        // A row of its name at another spelling records it; a first version squashes the other.
        let rows = [row("001", None), applied("02", "x", b)];
        let h = History::of(&set, &rows, None);
        assert_eq!(h.recorded[1].state, State::Python { recorded: true });
        let rows = [row("001", None), applied("002", "b", "-- other\n")];
        let h = History::of(&set, &rows, Some(3));
        assert_eq!(h.recorded[1].state, State::Squashed);
    }

    /// N2: two pairs of one version (C003), the set keeping the first by name: the row
    /// recorded the other one (applied before the merge), and the history matched it to the
    /// kept pair — `replaced`, files gone, which `reinit` forgot. The row records the pair
    /// with its name (edited since: modified) or its checksum (renamed), whichever is kept;
    /// the kept one when a row records it, or when none records either (the replaced case).
    #[test]
    fn a_row_of_a_version_two_pairs_share_records_the_pair_it_names() {
        let kept = named("006", "add_dup", "-- dup\n");
        let applied_pair = named("006", "add_tags", "-- tags\n");
        let mut set = MigrationSet::new("m", vec![migration("001"), kept]);
        set.duplicates.push(applied_pair);
        let state_of = |rows: &[LedgerRow]| {
            let h = History::of(&set, rows, None);
            let r = &h.recorded[1];
            (r.state, r.migration.map(|m| m.id()))
        };
        let tags = Some("006_add_tags".to_string());
        let dup = Some("006_add_dup".to_string());
        // Its name and checksum: applied.
        let rows = [row("001", None), applied("006", "add_tags", "-- tags\n")];
        assert_eq!(state_of(&rows), (State::Applied, tags.clone()));
        // Its name, another checksum: edited since it ran.
        let rows = [row("001", None), applied("006", "add_tags", "-- tags v2\n")];
        assert_eq!(state_of(&rows), (State::Modified, tags.clone()));
        // Its checksum under another name: renamed in place.
        let rows = [row("001", None), applied("006", "tags", "-- tags\n")];
        assert_eq!(state_of(&rows), (State::Applied, tags));
        // The kept pair recorded: it stays the version's migration.
        let rows = [row("001", None), applied("006", "add_dup", "-- dup\n")];
        assert_eq!(state_of(&rows), (State::Applied, dup.clone()));
        // Neither: a migration whose files are gone, replaced by the kept pair, as before.
        let rows = [row("001", None), applied("006", "gone", "-- gone\n")];
        assert_eq!(state_of(&rows), (State::Replaced, dup));
    }
}
