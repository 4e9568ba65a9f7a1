//! Migration file names, `<VERSION>_<NAME>.up.sql` / `<VERSION>_<NAME>.down.sql`: parsing them,
//! and guessing the corrected name when a file (or a `migrate generate` argument) does not
//! follow the form. The only code in the workspace that knows the form.

use super::Direction;
use std::borrow::Cow;

/// The form, as error messages name it.
pub const FILE_FORM: &str = "`<VERSION>_<NAME>.up.sql` and `<VERSION>_<NAME>.down.sql` \
     (VERSION: at least 3 digits, e.g. `001`; NAME: lowercase letters, digits and `_`, \
     starting with a letter)";

/// The form of a confiture (Python) migration's file name, as error messages name it.
pub const PYTHON_FILE_FORM: &str = "`<VERSION>_<NAME>.py` for confiture (Python)'s migrations \
     (VERSION: at least 3 digits, e.g. `001`; NAME: lowercase letters, digits and `_`, \
     starting with a letter)";

/// The form of a migration name, as error messages name it.
pub const NAME_FORM: &str =
    "lowercase letters, digits and `_`, starting with a letter (e.g. `add_bio_to_users`)";

/// The longest migration name `migrate generate` accepts, in bytes: with its version and
/// `.down.sql` the file name stays under the 255 bytes file systems allow, and the ledger's
/// `name` column is `VARCHAR(255)`.
pub const MAX_NAME_LEN: usize = 200;

/// The shortest version text: `001`.
pub const MIN_VERSION_WIDTH: usize = 3;

/// A well-formed migration file name, borrowing from the name it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileName<'a> {
    /// The version compared as an integer.
    pub version: u64,
    /// The version exactly as written (`"003"`).
    pub version_text: &'a str,
    /// The name between the version and the suffix (`add_bio_to_users`).
    pub name: &'a str,
    /// `.up.sql` or `.down.sql`.
    pub kind: Direction,
}

/// Why a `.sql` file name is not a migration file name, and the name it probably meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadName {
    /// A lowercase phrase: what is wrong with the name.
    pub reason: String,
    /// The corrected file name, when one can be guessed.
    pub suggestion: Option<String>,
    /// The letters (and digits) outside ASCII in the name, in order, each once: a migration
    /// name is ASCII. The suggestion spells each in ASCII (`é` as `e`); when one has no such
    /// spelling there is no suggestion, and the letter is named instead of dropped.
    pub non_ascii: Vec<NonAscii>,
}

/// A letter outside ASCII in a name, and how suggestions spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonAscii {
    /// The letter as written.
    pub letter: char,
    /// `e` for `é`, `ss` for `ß`; `None` for letters without a Latin spelling (`数`).
    pub ascii: Option<&'static str>,
}

/// The letters outside ASCII in `text`, in order, each once; a [combining mark](is_combining_mark)
/// too (a letter written decomposed: `e` then U+0301), whose ASCII spelling is nothing: the
/// letter before it is kept.
pub fn non_ascii_letters(text: &str) -> Vec<NonAscii> {
    let mut found: Vec<NonAscii> = Vec::new();
    for letter in text
        .chars()
        .filter(|&c| !c.is_ascii() && (c.is_alphanumeric() || is_combining_mark(c)))
    {
        if !found.iter().any(|n| n.letter == letter) {
            let ascii = match is_combining_mark(letter) {
                true => Some(""),
                false => ascii_spelling(letter),
            };
            found.push(NonAscii { letter, ascii });
        }
    }
    found
}

/// A combining mark (the Combining Diacritical Marks blocks): what a letter written decomposed
/// (Unicode NFD, as macOS file systems and some editors store names) puts after its base
/// letter, `e` then U+0301 for `é`. It looks like the composed letter, but is a character of
/// its own: a name holding one is spelt without it, as the composed letter is spelt in ASCII.
pub fn is_combining_mark(c: char) -> bool {
    matches!(
        u32::from(c),
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F
    )
}

/// The ASCII spelling of a Latin letter with a diacritic or a ligature (Latin-1 and Latin
/// Extended-A, lowercase): what a person writing `café` means by `cafe`.
fn ascii_spelling(letter: char) -> Option<&'static str> {
    let lower = letter.to_lowercase().next()?;
    Some(match lower {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' | 'i' => "i",
        'ĳ' => "ij",
        'ĵ' => "j",
        'ķ' | 'ĸ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' | 'ŋ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ſ' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

/// Whether a directory entry could be a migration (or schema) file: its name ends in `.sql`,
/// ignoring case and [stray characters](is_stray) after it (`003_c.up.sql\r`, written by a
/// script with CRLF line endings, `002_b.up.sql `), and is not hidden ([`is_hidden_name`]).
/// Such a file is meant to be a migration, so a wrong name or an unreadable file is reported,
/// never skipped; any other entry is left out, readable or not (a broken `notes.md` link is no
/// concern of confiture, nor is a backup `001_a.up.sql.bak` or `001_a.up.sql~`).
pub fn is_sql_file_name(file_name: &str) -> bool {
    let bytes = trim_stray(file_name).as_bytes();
    !is_hidden_name(file_name)
        && bytes.len() >= 4
        && bytes[bytes.len() - 4..].eq_ignore_ascii_case(b".sql")
}

/// A character that no name means to start or end with, and that a person does not see there:
/// whitespace (a space, a tab, a no-break space `U+00A0`, an ideographic space), a control
/// character (a carriage return left by a CRLF script) or an invisible one
/// (what `display` escapes: a zero-width space, a byte-order mark, a direction mark).
pub fn is_stray(c: char) -> bool {
    c.is_whitespace() || crate::display::is_hazard(c)
}

/// `file_name` without the [stray characters](is_stray) at its ends.
pub fn trim_stray(file_name: &str) -> &str {
    file_name.trim_matches(is_stray)
}

/// Why a name with [stray characters](is_stray) at its ends is wrong: `it ends in a carriage
/// return (\r)`, `it starts with a space and ends in a no-break space (U+00A0)`. `None`
/// when there are none.
fn stray_reason(file_name: &str) -> Option<String> {
    let trimmed = trim_stray(file_name);
    if trimmed.len() == file_name.len() {
        return None;
    }
    let start = file_name.len() - file_name.trim_start_matches(is_stray).len();
    let end = file_name.trim_end_matches(is_stray).len();
    let described = |part: &str| -> String {
        let mut names: Vec<String> = Vec::new();
        for c in part.chars() {
            let named = match c {
                ' ' => "a space".to_string(),
                '\t' => "a tab (`\\t`)".to_string(),
                '\r' => "a carriage return (`\\r`)".to_string(),
                '\n' => "a line feed (`\\n`)".to_string(),
                '\u{a0}' => "a no-break space (U+00A0)".to_string(),
                c if c.is_whitespace() => format!("a space character (U+{:04X})", u32::from(c)),
                c if c.is_control() => format!("a control character (U+{:04X})", u32::from(c)),
                c => format!("an invisible character (U+{:04X})", u32::from(c)),
            };
            if !names.contains(&named) {
                names.push(named);
            }
        }
        names.join(", ")
    };
    let mut parts = Vec::new();
    if start > 0 {
        parts.push(format!("starts with {}", described(&file_name[..start])));
    }
    if end < file_name.len() && end > start {
        parts.push(format!("ends in {}", described(&file_name[end..])));
    }
    Some(format!("it {}", parts.join(" and ")))
}

/// Whether an entry's name starts with `.`: an editor's lock link (Emacs' `.#a.sql`), a swap
/// file, `.git`. Hidden entries are never migration or schema files, nor directories of them:
/// they are left out, not read and not reported.
pub fn is_hidden_name(file_name: &str) -> bool {
    file_name.starts_with('.')
}

/// The version and name of confiture (Python)'s own migration kind, `<VERSION>_<NAME>.py`
/// (`20261204234418_add_x.py`, what `confiture migrate generate` writes by default): same
/// version and name rules as a `.sql` pair. cargo confiture cannot run it, but it is a
/// migration of the shared directory: counted, never missing. `None` for any other name.
pub fn parse_python_file_name(file_name: &str) -> Option<(u64, &str, &str)> {
    let stem = file_name.strip_suffix(".py")?;
    sidecar_stem(stem)
}

/// Whether a `.py` file is meant to be a confiture (Python) migration: its name starts with a
/// digit and has a `_` after the digits (`03_d.py`, `004_E.py`, `004-e.py` is not). Such a
/// file whose name [`parse_python_file_name`] refuses is a misnamed migration, reported,
/// never left out; any other `.py` file (`__init__.py`, `helpers.py`) is no migration.
pub fn is_python_migration_name(file_name: &str) -> bool {
    let Some(stem) = file_name.strip_suffix(".py") else {
        return false;
    };
    let digits = stem.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && stem.as_bytes().get(digits) == Some(&b'_')
}

/// Why a `.py` file meant to be a migration ([`is_python_migration_name`]) is misnamed, and
/// its corrected name: the rules of a `.sql` name ([`parse_file_name`]), `.py` for the suffix.
/// `None` for a well-formed name.
pub fn bad_python_name(file_name: &str) -> Option<BadName> {
    if parse_python_file_name(file_name).is_some() {
        return None;
    }
    let stem = file_name.strip_suffix(".py")?;
    let as_sql = format!("{stem}.up.sql");
    let bad = parse_file_name(&as_sql).err()?;
    let suggestion = bad
        .suggestion
        .as_deref()
        .and_then(|s| s.strip_suffix(".up.sql"))
        .map(|s| format!("{s}.py"));
    Some(BadName { suggestion, ..bad })
}

/// Whether `file_name` is confiture (Python)'s verification sidecar of a migration,
/// `<VERSION>_<NAME>.verify.sql` (written by `confiture migrate generate`, run by `confiture
/// migrate verify`): not a migration, and not a misnamed one.
pub fn is_verify_sidecar(file_name: &str) -> bool {
    file_name
        .strip_suffix(".verify.sql")
        .is_some_and(|stem| sidecar_stem(stem).is_some())
}

/// `<VERSION>_<NAME>` by the rules of a migration file name ([`parse_file_name`]).
fn sidecar_stem(stem: &str) -> Option<(u64, &str, &str)> {
    let as_sql = format!("{stem}.up.sql");
    let parsed = parse_strict(&as_sql).ok()?;
    let (version, width) = (parsed.version, parsed.version_text.len());
    let (version_text, name) = stem.split_at(width);
    Some((version, version_text, &name[1..]))
}

/// Whether a `.sql` file name gives a version, as it is or as corrected ([`parse_file_name`]
/// and its suggestion): the files whose contents the file rules read — a well-named file's,
/// and a misnamed one's checksum (a ledger row may record it under its corrected name). Any
/// other `.sql` file (`backup.sql`, `add_x.up.sql`) is reported by its name alone (`C006`),
/// never read: a database dump left in the directory is not read whole to say so.
pub fn gives_a_version(file_name: &str) -> bool {
    match parse_file_name(file_name) {
        Ok(_) => true,
        Err(bad) => corrected(&bad).is_some(),
    }
}

/// The corrected name of a badly named file, parsed, when it gives a version.
pub fn corrected(bad: &BadName) -> Option<FileName<'_>> {
    parse_strict(bad.suggestion.as_deref()?).ok()
}

/// Parses `003_create_tb_comment.up.sql`.
pub fn parse_file_name(file_name: &str) -> Result<FileName<'_>, BadName> {
    parse_strict(file_name).map_err(|reason| {
        let non_ascii = non_ascii_letters(file_name);
        let trimmed = trim_stray(file_name);
        // A name with stray characters at its ends says so first, then what else is wrong.
        let mut reason = match (stray_reason(file_name), parse_strict(trimmed)) {
            (Some(stray), Ok(_)) => stray,
            (Some(stray), Err(then)) => format!("{stray}; without them, {then}"),
            (None, _) => reason.to_string(),
        };
        if !non_ascii.is_empty() {
            reason.push_str("; non-ASCII letters are not allowed: ");
            reason.push_str(&letter_list(&non_ascii));
        }
        BadName {
            reason,
            suggestion: suggest_file_name(trimmed).filter(|s| s != file_name),
            non_ascii,
        }
    })
}

/// `` `é`, `ß` `` — at most 8 letters, then `…`; a combining mark by its code point, since
/// alone it shows on whatever is before it: `U+0301 (a combining mark: a letter written
/// decomposed)`.
pub fn letter_list(letters: &[NonAscii]) -> String {
    const SHOWN: usize = 8;
    let mut list: Vec<String> = letters
        .iter()
        .take(SHOWN)
        .map(|n| match is_combining_mark(n.letter) {
            true => format!(
                "U+{:04X} (a combining mark: a letter written decomposed)",
                u32::from(n.letter)
            ),
            false => format!("`{}`", n.letter),
        })
        .collect();
    if letters.len() > SHOWN {
        list.push("…".to_string());
    }
    list.join(", ")
}

fn parse_strict(file_name: &str) -> Result<FileName<'_>, Cow<'static, str>> {
    let (stem, kind) = if let Some(stem) = file_name.strip_suffix(".up.sql") {
        (stem, Direction::Up)
    } else if let Some(stem) = file_name.strip_suffix(".down.sql") {
        (stem, Direction::Down)
    } else {
        return Err("it does not end in `.up.sql` or `.down.sql`".into());
    };
    let Some((version_text, name)) = stem.split_once('_') else {
        return Err("it has no `_` between the version and the name".into());
    };
    if version_text.is_empty() || !version_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("it does not start with a version made of digits".into());
    }
    if version_text.len() < MIN_VERSION_WIDTH {
        return Err("its version has fewer than 3 digits".into());
    }
    // The one rule for a version's range is `Version`'s (at most `MAX_VERSION`).
    let Ok(version) = crate::history::Version::number_of(version_text) else {
        return Err(format!(
            "its version is {}: renumber the migration (its up and down files) below it",
            crate::history::above_max_version()
        )
        .into());
    };
    if name.is_empty() {
        return Err("it has no name after the version".into());
    }
    if !is_valid_name(name) {
        return Err("its name is not lowercase snake_case (letters, digits and `_`, starting with a letter)".into());
    }
    Ok(FileName {
        version,
        version_text,
        name,
        kind,
    })
}

/// `[a-z][a-z0-9_]*`: the migration name, the ledger's `name` column.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// Whether a version text is a date and time, as sqlx-cli, dbmate and goose number their
/// migrations (`20231010120000`, `YYYYMMDDhhmmss`; also without the seconds, 12 digits): a
/// timestamp, not a place in a sequence of consecutive numbers. The one reading of such a
/// version.
pub fn is_timestamp(version_text: &str) -> bool {
    let len = version_text.len();
    if !(len == 12 || len == 14) || !version_text.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let field = |at: usize, width: usize| -> u32 {
        version_text[at..at + width].parse().unwrap_or(u32::MAX)
    };
    let in_range = |value: u32, low: u32, high: u32| (low..=high).contains(&value);
    in_range(field(0, 4), 1970, 2999)
        && in_range(field(4, 2), 1, 12)
        && in_range(field(6, 2), 1, 31)
        && field(8, 2) <= 23
        && field(10, 2) <= 59
        && (len == 12 || field(12, 2) <= 59)
}

/// The version text for `version`, zero-padded to `width` (never fewer than 3 digits).
pub fn version_text(version: u64, width: usize) -> String {
    format!("{version:0width$}", width = width.max(MIN_VERSION_WIDTH))
}

/// The file name a wrong `.sql` name probably meant: `004-Add-Index.UP.sql` →
/// `004_add_index.up.sql`, `1_add_bio.sql` → `001_add_bio.up.sql`. `None` when there is no
/// version to keep or no name to make.
pub fn suggest_file_name(file_name: &str) -> Option<String> {
    let stem = strip_suffix_ignore_case(file_name, ".sql")?;
    let (stem, kind) = split_kind(stem);
    let digits = stem.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    // A version out of range has no well-formed name to suggest (`Version`'s rule).
    let version = stem[..digits]
        .parse::<crate::history::Version>()
        .ok()?
        .number();
    let version = if digits >= MIN_VERSION_WIDTH {
        stem[..digits].to_string()
    } else {
        version_text(version, MIN_VERSION_WIDTH)
    };
    let name = normalize_name(&stem[digits..])?;
    let suffix = match kind {
        // A plain `.sql` file is most often a one-way migration: it is the up file.
        Direction::Up => "up",
        Direction::Down => "down",
    };
    Some(format!("{version}_{name}.{suffix}.sql"))
}

/// The migration name a `migrate generate` argument probably meant: `add bio` → `add_bio`,
/// `AddBio` → `add_bio`, `003_add_bio.up.sql` → `add_bio`. None for a connection string
/// ([`crate::config::names_a_connection`]): its corrected form would repeat its password
/// (`postgres_app_s3cr3t_db`), which no scrub of the argument finds there.
pub fn suggest_name(arg: &str) -> Option<String> {
    if crate::config::names_a_connection(arg) {
        return None;
    }
    let stem = match strip_suffix_ignore_case(arg, ".sql") {
        Some(stem) => split_kind(stem).0,
        None => arg,
    };
    // A version prefix (`003_`) is dropped; digits that start the name (`2fa`) are not.
    let digits = stem.bytes().take_while(u8::is_ascii_digit).count();
    let stem = match stem[digits..].chars().next() {
        Some('_' | '-' | ' ' | '.') if digits > 0 => &stem[digits..],
        _ => stem,
    };
    normalize_name(stem)
}

/// Splits a direction suffix (`.up`, `-down`, ...) off a stem; no suffix means up. Not `_up`:
/// `clean_up` is a name. A misspelt one after a `.` (`.dwon`, `.donw`, `.uo`) counts as the
/// direction it is closest to ([`crate::text::did_you_mean`]): a typo'd down file must not be
/// suggested an up file's name.
fn split_kind(stem: &str) -> (&str, Direction) {
    const KINDS: [(&str, Direction); 2] = [("up", Direction::Up), ("down", Direction::Down)];
    for (word, kind) in KINDS {
        for sep in [".", "-", " "] {
            let suffix = format!("{sep}{word}");
            if let Some(rest) = strip_suffix_ignore_case(stem, &suffix) {
                return (rest, kind);
            }
        }
    }
    if let Some((rest, last)) = stem.rsplit_once('.') {
        if let Some(word) = crate::text::did_you_mean(last, KINDS.map(|(word, _)| word)) {
            if let Some((_, kind)) = KINDS.into_iter().find(|(w, _)| *w == word) {
                return (rest, kind);
            }
        }
    }
    (stem, Direction::Up)
}

fn strip_suffix_ignore_case<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let split = s.len().checked_sub(suffix.len())?;
    let (head, tail) = (s.get(..split)?, s.get(split..)?);
    tail.eq_ignore_ascii_case(suffix).then_some(head)
}

/// Lowercase snake_case from anything: camelCase words split, Latin letters with diacritics
/// spelt in ASCII (`é` as `e`), every other character a `_`, runs of `_` collapsed. `None`
/// when the result would not start with a letter, or when a letter has no ASCII spelling
/// (`数`): dropping it would suggest another name.
fn normalize_name(raw: &str) -> Option<String> {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::with_capacity(raw.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if is_combining_mark(c) {
            // Part of the letter before it (written decomposed): spelt by that letter.
            continue;
        } else if !c.is_ascii() && c.is_alphanumeric() {
            let ascii = ascii_spelling(c)?;
            let prev = i.checked_sub(1).map(|p| chars[p]);
            if c.is_uppercase() && prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit()) {
                out.push('_');
            }
            out.push_str(ascii);
        } else if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1).copied();
            let starts_word = match prev {
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                // The `S` of `HTTPServer` starts `server`.
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if starts_word {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    let mut collapsed = String::with_capacity(out.len());
    for c in out.chars() {
        if !(c == '_' && (collapsed.is_empty() || collapsed.ends_with('_'))) {
            collapsed.push(c);
        }
    }
    while collapsed.ends_with('_') {
        collapsed.pop();
    }
    is_valid_name(&collapsed).then_some(collapsed)
}

/// Whether renaming the file `file_name` to `corrected` (its `C006` suggestion) spells its
/// version otherwise (`1_m1.up.sql` to `001_m1.up.sql`): then a ledger row recording it keeps
/// the old version text, which `migrate reinit` rewrites. A stray space before the version is
/// no respelling of it. **The** rule, for `C006`'s help and `plan::incomplete_help`.
pub fn respells_version(file_name: &str, corrected: &str) -> bool {
    let file_name = trim_stray(file_name);
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    file_name[..digits(file_name)] != corrected[..digits(corrected)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confiture_python_files_are_recognised_by_the_migration_name_rules() {
        assert_eq!(
            parse_python_file_name("20261204234418_add_x.py"),
            Some((20261204234418, "20261204234418", "add_x"))
        );
        assert_eq!(
            parse_python_file_name("003_add_x.py"),
            Some((3, "003", "add_x"))
        );
        for not_one in [
            "__init__.py",
            "helpers.py",
            "03_x.py",
            "003_X.py",
            "003_x.pyc",
        ] {
            assert_eq!(parse_python_file_name(not_one), None, "{not_one}");
        }
        assert!(is_verify_sidecar("002_create_t2.verify.sql"));
        for not_one in [
            "002_create_t2.up.sql",
            "verify.sql",
            "02_x.verify.sql",
            "002_X.verify.sql",
        ] {
            assert!(!is_verify_sidecar(not_one), "{not_one}");
        }
    }

    /// h18 F14: `03_d.py` and `004_E.py` were left out without a word, unlike their `.sql`
    /// near-misses: a `.py` file meant to be a migration is misnamed, with its corrected name.
    #[test]
    fn python_near_misses_are_misnamed_migrations() {
        for (name, reason, suggestion) in [
            ("03_d.py", "its version has fewer than 3 digits", Some("003_d.py")),
            (
                "004_E.py",
                "its name is not lowercase snake_case (letters, digits and `_`, starting with a letter)",
                Some("004_e.py"),
            ),
            ("005_.py", "it has no name after the version", None),
        ] {
            assert!(is_python_migration_name(name), "{name}");
            let bad = bad_python_name(name).expect(name);
            assert_eq!(bad.reason, reason, "{name}");
            assert_eq!(bad.suggestion.as_deref(), suggestion, "{name}");
        }
        assert_eq!(bad_python_name("003_d.py"), None);
        for not_one in [
            "__init__.py",
            "helpers.py",
            "v2_x.py",
            "004-e.py",
            "004.py",
            "004_a.pyc",
        ] {
            assert!(!is_python_migration_name(not_one), "{not_one}");
        }
    }

    #[test]
    fn parses_well_formed_names() {
        let parsed = parse_file_name("003_create_tb_comment.up.sql").unwrap();
        assert_eq!(
            parsed,
            FileName {
                version: 3,
                version_text: "003",
                name: "create_tb_comment",
                kind: Direction::Up
            }
        );
        let parsed = parse_file_name("0042_a.down.sql").unwrap();
        assert_eq!(
            (parsed.version, parsed.version_text, parsed.kind),
            (42, "0042", Direction::Down)
        );
        let parsed = parse_file_name("1000_x2_y.up.sql").unwrap();
        assert_eq!((parsed.version, parsed.name), (1000, "x2_y"));
        // Versions compare as integers, not as text.
        assert!(
            parse_file_name("010_b.up.sql").unwrap().version
                > parse_file_name("009_a.up.sql").unwrap().version
        );
    }

    #[test]
    fn rejects_malformed_names_with_a_reason() {
        let cases = [
            ("001_add_bio.sql", "it does not end in `.up.sql` or `.down.sql`"),
            ("001_add_bio.UP.sql", "it does not end in `.up.sql` or `.down.sql`"),
            ("001.up.sql", "it has no `_` between the version and the name"),
            ("1_add_bio.up.sql", "its version has fewer than 3 digits"),
            ("v001_add_bio.up.sql", "it does not start with a version made of digits"),
            ("_add_bio.up.sql", "it does not start with a version made of digits"),
            ("001_.up.sql", "it has no name after the version"),
            ("001_Add_Bio.up.sql", "its name is not lowercase snake_case (letters, digits and `_`, starting with a letter)"),
            ("001_2fa.up.sql", "its name is not lowercase snake_case (letters, digits and `_`, starting with a letter)"),
            ("001_add-bio.up.sql", "its name is not lowercase snake_case (letters, digits and `_`, starting with a letter)"),
        ];
        for (name, reason) in cases {
            assert_eq!(parse_file_name(name).unwrap_err().reason, reason, "{name}");
        }
    }

    /// A version above the largest said "its version is too large" (hc2): neither the limit
    /// nor what to do. It names `MAX_VERSION` and says to renumber the migration.
    #[test]
    fn a_version_too_large_names_the_largest_and_says_to_renumber() {
        // Above `i64::MAX`, which `first_version` (TOML) could not name, and above `u64::MAX`.
        for name in [
            "9223372036854775808_x.up.sql",
            "99999999999999999999999_x.down.sql",
        ] {
            assert_eq!(
                parse_file_name(name).unwrap_err().reason,
                "its version is above 9223372036854775807, the largest version a migration may \
                 have: renumber the migration (its up and down files) below it",
                "{name}"
            );
        }
        assert!(parse_file_name("9223372036854775807_x.up.sql").is_ok());
    }

    #[test]
    fn suggests_the_corrected_file_name() {
        let cases = [
            ("004-Add-Index.up.sql", Some("004_add_index.up.sql")),
            ("005 add thing.down.sql", Some("005_add_thing.down.sql")),
            ("006_AddThing.UP.SQL", Some("006_add_thing.up.sql")),
            ("1_add_bio.up.sql", Some("001_add_bio.up.sql")),
            ("0001_add_bio.down.sql", None), // already well-formed
            ("007_add_bio.sql", Some("007_add_bio.up.sql")),
            ("008_add_bio-down.sql", Some("008_add_bio.down.sql")),
            ("008_clean_up.sql", Some("008_clean_up.up.sql")),
            ("009__HTTPServer__.up.sql", Some("009_http_server.up.sql")),
            ("add_bio.up.sql", None),
            ("001_2fa.up.sql", None),
            ("001.up.sql", None),
            // lintux N1: a misspelt direction is the direction, not part of the name.
            ("007_typo.dwon.sql", Some("007_typo.down.sql")),
            ("007_typo.donw.sql", Some("007_typo.down.sql")),
            ("007_typo.Dow.sql", Some("007_typo.down.sql")),
            ("007_typo.uo.sql", Some("007_typo.up.sql")),
            ("007_typo.bio.sql", Some("007_typo_bio.up.sql")),
        ];
        for (name, expected) in cases {
            let suggestion = match parse_file_name(name) {
                Ok(_) => None,
                Err(bad) => bad.suggestion,
            };
            assert_eq!(suggestion.as_deref(), expected, "{name}");
        }
    }

    #[test]
    fn suggests_migration_names() {
        let cases = [
            ("add bio", Some("add_bio")),
            ("AddBio", Some("add_bio")),
            ("add-bio-to-users", Some("add_bio_to_users")),
            ("ADD_BIO", Some("add_bio")),
            ("clean_up", Some("clean_up")),
            ("003_add_bio.up.sql", Some("add_bio")),
            ("addBIOToUsers", Some("add_bio_to_users")),
            ("  Add  Bio  ", Some("add_bio")),
            ("2fa", None),
            ("", None),
            ("é", Some("e")),
            ("café", Some("cafe")),
            ("Straße", Some("strasse")),
            ("数据", None),
            ("add_数据", None),
            // A connection string: its password would be in the name suggested.
            ("postgres://app:s3cr3t@db.internal/prod", None),
            ("host=h password=s3cr3t dbname=x", None),
            ("app:s3cr3t@db", None),
        ];
        for (arg, expected) in cases {
            assert_eq!(suggest_name(arg).as_deref(), expected, "{arg:?}");
        }
    }

    #[test]
    fn non_ascii_letters_are_named_and_spelt_in_ascii_or_not_suggested() {
        let bad = parse_file_name("001_café.up.sql").unwrap_err();
        assert!(
            bad.reason
                .ends_with("; non-ASCII letters are not allowed: `é`"),
            "{}",
            bad.reason
        );
        assert_eq!(bad.suggestion.as_deref(), Some("001_cafe.up.sql"));
        assert_eq!(
            bad.non_ascii,
            vec![NonAscii {
                letter: 'é',
                ascii: Some("e")
            }]
        );
        let bad = parse_file_name("002_数据_数.up.sql").unwrap_err();
        assert!(bad.reason.ends_with("`数`, `据`"), "{}", bad.reason);
        assert_eq!(bad.suggestion, None);
        let bad = parse_file_name("003_ÉtéÆ.down.sql").unwrap_err();
        assert_eq!(bad.suggestion.as_deref(), Some("003_ete_ae.down.sql"));
        // Not letters: separators, as any other punctuation.
        let bad = parse_file_name("004_a–b.up.sql").unwrap_err();
        assert_eq!(bad.suggestion.as_deref(), Some("004_a_b.up.sql"));
        assert!(bad.non_ascii.is_empty());
        let many: String = "αβγδεζηθικ".to_string();
        let bad = parse_file_name(&format!("005_{many}.up.sql")).unwrap_err();
        assert!(bad.reason.ends_with("`θ`, …"), "{}", bad.reason);
    }

    /// hxf: a name written decomposed (NFD, as macOS file systems and some editors store it:
    /// `e` then the combining mark U+0301 for `é`) was said to be "not lowercase snake_case"
    /// without naming what is wrong, beside its composed (NFC) twin that looks the same and
    /// names its `é`; and the mark cut the name in two (`cafe\u{301}s` → `cafe_s`, where
    /// `cafés` → `cafes`). A combining mark is named, and dropped from the suggestion: both
    /// spellings get the same one.
    #[test]
    fn a_name_written_decomposed_is_told_its_combining_mark_and_suggested_as_composed() {
        let composed = parse_file_name("002_caf\u{e9}s.up.sql").unwrap_err();
        let decomposed = parse_file_name("002_cafe\u{301}s.up.sql").unwrap_err();
        assert_eq!(decomposed.suggestion, composed.suggestion);
        assert_eq!(decomposed.suggestion.as_deref(), Some("002_cafes.up.sql"));
        assert!(
            decomposed.reason.ends_with(
                "; non-ASCII letters are not allowed: U+0301 (a combining mark: a letter written decomposed)"
            ),
            "{}",
            decomposed.reason
        );
        assert_eq!(suggest_name("cafe\u{301}s").as_deref(), Some("cafes"));
        assert_eq!(suggest_name("caf\u{e9}s").as_deref(), Some("cafes"));
    }

    /// h18 F4: `002_b.up.sql ` and `003_c.up.sql\r` were not `.sql` names, so they were left
    /// out without a word and their migrations never ran. Any whitespace, control or invisible
    /// character at either end of a name that is otherwise an `.sql` one makes it a misnamed
    /// migration file, with the trimmed name suggested.
    #[test]
    fn stray_characters_at_the_ends_make_a_misnamed_sql_file() {
        let cases = [
            ("002_b.up.sql ", "it ends in a space", "002_b.up.sql"),
            ("003_c.up.sql\r", "it ends in a carriage return (`\\r`)", "003_c.up.sql"),
            ("003_c.down.sql\r\n", "it ends in a carriage return (`\\r`), a line feed (`\\n`)", "003_c.down.sql"),
            ("004_d.up.sql\t", "it ends in a tab (`\\t`)", "004_d.up.sql"),
            ("005_e.up.sql\u{a0}", "it ends in a no-break space (U+00A0)", "005_e.up.sql"),
            ("006_f.up.sql\u{200b}", "it ends in an invisible character (U+200B)", "006_f.up.sql"),
            ("007_g.up.sql\u{3000}", "it ends in a space character (U+3000)", "007_g.up.sql"),
            ("007_g.up.sql\u{1b}", "it ends in a control character (U+001B)", "007_g.up.sql"),
            (" 008_h.down.sql", "it starts with a space", "008_h.down.sql"),
            ("\u{feff}009_i.up.sql", "it starts with an invisible character (U+FEFF)", "009_i.up.sql"),
            (" 010_j.up.sql ", "it starts with a space and ends in a space", "010_j.up.sql"),
            (
                "011_K.up.sql ",
                "it ends in a space; without them, its name is not lowercase snake_case \
                 (letters, digits and `_`, starting with a letter)",
                "011_k.up.sql",
            ),
            ("012_l.sql\r", "it ends in a carriage return (`\\r`); without them, it does not end in `.up.sql` or `.down.sql`", "012_l.up.sql"),
        ];
        for (name, reason, suggestion) in cases {
            assert!(
                is_sql_file_name(name),
                "{name:?} is meant to be a migration"
            );
            let bad = parse_file_name(name).unwrap_err();
            assert_eq!(bad.reason, reason, "{name:?}");
            assert_eq!(bad.suggestion.as_deref(), Some(suggestion), "{name:?}");
        }
        // Backups and other extensions are still no migrations.
        for not_one in [
            "001_a.up.sql.bak",
            "001_a.up.sql~",
            "001_a.up.sql.orig ",
            " notes.md\r",
        ] {
            assert!(!is_sql_file_name(not_one), "{not_one:?}");
        }
    }

    #[test]
    fn version_text_keeps_width() {
        assert_eq!(version_text(4, 3), "004");
        assert_eq!(version_text(4, 1), "004");
        assert_eq!(version_text(43, 4), "0043");
        assert_eq!(version_text(1000, 3), "1000");
    }

    #[test]
    fn sql_extension_ignores_case() {
        assert!(is_sql_file_name("a.sql"));
        assert!(is_sql_file_name("A.SQL"));
        assert!(!is_sql_file_name(".sql"));
        assert!(!is_sql_file_name(".#001_a.up.sql"));
        assert!(!is_sql_file_name("sql"));
        assert!(!is_sql_file_name("a.sql.bak"));
        assert!(!is_sql_file_name("README.md"));
        assert!(!is_sql_file_name("é.sq"));
    }
}
