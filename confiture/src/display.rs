//! How values reach a person's terminal: control characters escaped (a ledger row named
//! `\x1b[2J` must not clear the screen, a file name with a newline must not forge a line) and
//! paths relative to where the user stands. Renderers call these at render time — the CLI's
//! tables, messages and errors, confiture-build's lines; data (reports, JSON, errors) keeps the
//! raw values, and serde escapes them in JSON.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

/// Characters that change what a terminal shows rather than being shown: C0 and C1 controls,
/// DEL, the bidirectional overrides that reorder text ("Trojan Source"), and the invisible
/// ones that show as nothing — zero-width space, joiners and direction marks, the word joiner
/// and invisible operators, the zero-width no-break space, the soft hyphen, the Arabic letter
/// and Mongolian vowel separator marks — so that `"tenant_1\u{200b}"` is not shown as
/// `"tenant_1"`. Also what a suggested shell command writes as escapes (`hint::quote`).
pub(crate) fn is_hazard(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        || is_invisible(c)
}

/// The characters that show as nothing (of [`is_hazard`]'s): a name holding one looks like
/// another name in every message.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200b}'..='\u{200f}'
            | '\u{2060}'..='\u{2064}'
            | '\u{feff}'
            | '\u{00ad}'
            | '\u{061c}'
            | '\u{180e}'
    )
}

fn escape_where(text: &str, hazard: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&hazard) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !hazard(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// One value (a name, a version, a file name): every control character escaped, newlines
/// included — `\x1b[2J` is shown as the six characters `\x1b[2J`.
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_where(text, is_hazard)
}

/// A ledger row's version for a sentence: [`escape`]d, and an empty one (or one of spaces only)
/// named as such, `(empty version)`, rather than shown as nothing.
pub fn ledger_version(version: &str) -> Cow<'_, str> {
    if version.trim().is_empty() {
        Cow::Borrowed(EMPTY_VERSION)
    } else {
        escape(version)
    }
}

/// How [`ledger_version`] names an empty version.
pub const EMPTY_VERSION: &str = "(empty version)";

/// `0002_add_color`: a migration (or a ledger row) by its version and name, as every message
/// and table names it; a row whose version is empty is named as such, `(empty version) ghost`.
/// Not escaped.
pub fn migration_id(version: &str, name: &str) -> String {
    if version.trim().is_empty() {
        format!("{EMPTY_VERSION} {name}")
    } else {
        format!("{version}_{name}")
    }
}

/// Prose that may span lines (a message, a help line, SQL): tabs are kept, every line break
/// ([`crate::text::is_line_break`]: a LF, a CRLF, a lone CR) is written as a newline — a
/// file's CRLF lines are shown as lines, not with a `\r` at their end — and every other
/// control character is escaped.
pub fn escape_prose(text: &str) -> Cow<'_, str> {
    let keep = |c| is_hazard(c) && c != '\n' && c != '\t';
    if !text.contains('\r') {
        return escape_where(text, keep);
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut start = 0;
    for (at, _) in text.match_indices('\r') {
        out.push_str(&escape_where(&text[start..at], keep));
        // A CRLF's CR goes (its LF follows); a lone CR ends a line as a LF does.
        if crate::text::is_line_break(bytes, at) {
            out.push('\n');
        }
        start = at + 1;
    }
    out.push_str(&escape_where(&text[start..], keep));
    Cow::Owned(out)
}

/// `1 migration`, `2 migrations`: a count and its noun, the one rule for every message (never
/// `migration(s)`). `word` is singular and takes an `s`; a phrase's last word does
/// (`applied migration`).
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `is` for one, `are` for more: the verb of a [`plural`] count.
pub fn is_are(n: usize) -> &'static str {
    if n == 1 {
        "is"
    } else {
        "are"
    }
}

/// `it` for one, `them` for more: the pronoun of a [`plural`] count.
pub fn it_them(n: usize) -> &'static str {
    if n == 1 {
        "it"
    } else {
        "them"
    }
}

/// How many versions a list shows in full; a longer one is shortened to its ends.
pub const VERSIONS_SHOWN_IN_FULL: usize = 5;

/// Versions for a sentence that already says how many there are: all of them (escaped) up to
/// [`VERSIONS_SHOWN_IN_FULL`], else the lowest and the highest version (`0001…1000`), whatever
/// the order of the list (rows in applied order: `010` may have run second). Each entry is a
/// version or a migration id (`001_m1`), ordered by the number its leading digits spell. JSON
/// keeps full lists; this is the one rule for shortening them in text.
pub fn version_range(list: &[String]) -> String {
    if list.len() > VERSIONS_SHOWN_IN_FULL {
        let by_version = |a: &&String, b: &&String| version_order(a).cmp(&version_order(b));
        if let (Some(first), Some(last)) = (
            list.iter().min_by(by_version),
            list.iter().max_by(by_version),
        ) {
            return format!("{}…{}", ledger_version(first), ledger_version(last));
        }
    }
    let shown: Vec<_> = list.iter().map(|v| ledger_version(v)).collect();
    shown.join(", ")
}

/// The order of versions (or migration ids) for [`version_range`]: by the number their
/// leading digits spell (`10` after `9`, `010` with `10`), then as text.
fn version_order(v: &str) -> (usize, &str, &str) {
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    let number = v[..digits].trim_start_matches('0');
    (number.len(), number, v)
}

/// Versions for a sentence that does not count them: [`version_range`], with the count when
/// shortened (`0002…0300, 299 migrations`).
pub fn versions(list: &[String]) -> String {
    let range = version_range(list);
    if list.len() > VERSIONS_SHOWN_IN_FULL {
        format!("{range}, {} migrations", list.len())
    } else {
        range
    }
}

/// How many entries a long list in a message shows before it says how many more there are.
pub const MAX_LISTED: usize = 20;

/// The one rule cutting a long list in a message (bad lines of a target list, the ledgers
/// `search_path` does not find): its first [`MAX_LISTED`] entries, then `... and N more` when
/// there were more, as one last entry — each a detail line, or joined into a sentence. An
/// error about a list of any length stays a few kilobytes.
pub fn cut(list: Vec<String>) -> Vec<String> {
    cut_entries(list.into_iter().map(|entry| vec![entry]).collect())
}

/// [`cut`] for a list whose entries take several lines each (an environment file's problems,
/// each with its help): the lines of the first [`MAX_LISTED`] entries, then `... and N more`.
pub fn cut_entries(list: Vec<Vec<String>>) -> Vec<String> {
    let (listed, more) = listed(&list);
    let mut lines: Vec<String> = listed.iter().flatten().cloned().collect();
    if more > 0 {
        lines.push(format!("... and {more} more"));
    }
    lines
}

/// The entries of `list` a message or a JSON document lists — its first [`MAX_LISTED`] — and
/// how many it leaves out: the cut of [`cut`], for data (the JSON error's `settings`).
pub fn listed<T>(list: &[T]) -> (&[T], usize) {
    let shown = list.len().min(MAX_LISTED);
    (&list[..shown], list.len() - shown)
}

/// The one rule cutting a long value in a message (a rejected name): its first
/// `max_chars` characters when it has more, `None` when it is shown whole. The caller marks the
/// cut (`…`) and may say the length: a 1 MB line of a target list prints a line, not a megabyte.
pub fn clip(text: &str, max_chars: usize) -> Option<&str> {
    text.char_indices()
        .nth(max_chars)
        .map(|(cut, _)| &text[..cut])
}

/// `path` relative to `cwd` when they share more than the root: `db/migrations` below it,
/// `../db/migrations` beside it; else `path` unchanged. Both are taken as given (no IO);
/// a relative `path` is returned as it is.
pub fn relative_to(path: &Path, cwd: &Path) -> PathBuf {
    if !path.is_absolute() || !cwd.is_absolute() {
        return path.to_path_buf();
    }
    let (to, from) = (normal(path), normal(cwd));
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    // Only the root (or the prefix, on Windows) in common, or `..` in `cwd` that cannot be
    // walked back: the absolute path says more.
    let shared_roots = to
        .iter()
        .take(common)
        .filter(|c| matches!(c, Component::RootDir | Component::Prefix(_)))
        .count();
    if common <= shared_roots || from[common..].contains(&Component::ParentDir) {
        return path.to_path_buf();
    }
    let mut relative = PathBuf::new();
    for _ in common..from.len() {
        relative.push("..");
    }
    for c in &to[common..] {
        relative.push(c.as_os_str());
    }
    if relative.as_os_str().is_empty() {
        relative.push(".");
    }
    relative
}

/// `path` with each `dir/..` taken out where `dir` is not a symbolic link, and each `.`:
/// `app/../shared/migrations` is `shared/migrations`, the directory the system reaches by
/// either (what a setting relative to a member, `../shared/migrations`, reads as from the
/// workspace root). A `..` after a symbolic link stays (`link/..` is the parent of the link's
/// target, not the directory holding the link), as does one with nothing to climb out of
/// (`../db`). Reads only whether each such `dir` is a link (`symlink_metadata`): what is not
/// there is taken as no link.
pub fn without_dot_dot(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                let climbable = matches!(out.components().next_back(), Some(Component::Normal(_)))
                    && !out
                        .symlink_metadata()
                        .is_ok_and(|m| m.file_type().is_symlink());
                if climbable {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn normal(p: &Path) -> Vec<Component<'_>> {
    p.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// The one rule for a path (or a file name) as text, for people and for JSON alike: a path
/// that is valid UTF-8 as it is; one that is not (Linux allows any bytes but `/` and NUL in a
/// name) with each byte that is not UTF-8 written `\xff`, so that the name stays readable and
/// distinguishable (`to_string_lossy` would make every such byte `�`), and JSON stays valid
/// (serde refuses a path that is not UTF-8). Not escaped: [`path`] and [`file_name`] are, for
/// a terminal.
pub fn path_text(path: &Path) -> Cow<'_, str> {
    os_text(path.as_os_str())
}

/// [`path_text`] of an `OsStr` (a file name).
pub fn os_text(text: &OsStr) -> Cow<'_, str> {
    if let Some(text) = text.to_str() {
        return Cow::Borrowed(text);
    }
    #[cfg(unix)]
    {
        use std::fmt::Write;
        use std::os::unix::ffi::OsStrExt;
        let mut out = String::with_capacity(text.len() + 8);
        for chunk in text.as_bytes().utf8_chunks() {
            out.push_str(chunk.valid());
            for byte in chunk.invalid() {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
        Cow::Owned(out)
    }
    #[cfg(not(unix))]
    {
        text.to_string_lossy()
    }
}

/// For `#[serde(serialize_with)]`: a path in JSON as [`path_text`] gives it. Every path of a
/// report or an error goes through this (or [`serialize_option_path`]).
pub fn serialize_path<S: serde::Serializer>(
    path: impl AsRef<Path>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path_text(path.as_ref()))
}

/// [`serialize_path`] of an optional path (`null` when there is none).
pub fn serialize_option_path<S: serde::Serializer>(
    path: &Option<impl AsRef<Path>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match path {
        Some(path) => serialize_path(path, serializer),
        None => serializer.serialize_none(),
    }
}

/// [`serialize_path`] of a list of paths.
pub fn serialize_paths<S: serde::Serializer>(
    paths: &[impl AsRef<Path>],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(paths.iter().map(|p| path_text(p.as_ref())))
}

/// A file's name (the last part of `path`, or all of it when it has none) for a message:
/// [`path_text`], not escaped (renderers escape messages).
pub fn file_name(path: &Path) -> String {
    os_text(path.file_name().unwrap_or(path.as_os_str())).into_owned()
}

/// A path as the user would type it from the current directory (see [`relative_to`]), as
/// [`path_text`] writes it, with control characters escaped.
pub fn path(path: &Path) -> String {
    escape(&path_text(&relative(path))).into_owned()
}

/// The current directory `cwd` as a message names it ("does not exist in `/home/me/app/src`"):
/// absolute, [`escape`]d. Relative to itself it is `.`, and relative to the workspace root a
/// path from elsewhere (`..` when the root is below it, `--manifest-path ws/Cargo.toml`).
pub fn current_dir(cwd: &Path) -> String {
    escape(&path_text(cwd)).into_owned()
}

/// `path` relative to the current directory ([`relative_to`]; unchanged when there is none):
/// what [`path`] shows, and what a suggested command names ([`crate::hint::quote_path`]).
pub fn relative(path: &Path) -> PathBuf {
    match std::env::current_dir() {
        Ok(cwd) => relative_to(path, &cwd),
        Err(_) => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn long_version_lists_are_shortened_by_one_rule() {
        let list = |n: usize| -> Vec<String> { (2..n + 2).map(|i| format!("{i:04}")).collect() };
        assert_eq!(versions(&[]), "");
        assert_eq!(versions(&list(1)), "0002");
        assert_eq!(versions(&list(5)), "0002, 0003, 0004, 0005, 0006");
        assert_eq!(versions(&list(299)), "0002…0300, 299 migrations");
        assert_eq!(version_range(&list(299)), "0002…0300");
        assert_eq!(versions(&["\x1b[2J".to_string()]), "\\x1b[2J");
    }

    use super::*;

    /// A shortened list named its first and last entries as given — applied order, where
    /// `010` ran second — so `001_m1…009_m9` left out `010_m10`. Its ends are the lowest and
    /// highest versions, whatever the order of the list.
    #[test]
    fn a_shortened_range_runs_from_the_lowest_version_to_the_highest() {
        let ids: Vec<String> = ["001_m1", "010_m10", "002_m2", "003_m3", "004_m4", "009_m9"]
            .map(String::from)
            .to_vec();
        assert_eq!(version_range(&ids), "001_m1…010_m10");
        let unpadded: Vec<String> = ["1", "10", "2", "3", "4", "9"].map(String::from).to_vec();
        assert_eq!(version_range(&unpadded), "1…10");
        assert_eq!(versions(&unpadded), "1…10, 6 migrations");
    }

    #[test]
    fn long_lists_are_cut_by_one_rule() {
        let list = |n: usize| -> Vec<String> { (0..n).map(|i| i.to_string()).collect() };
        assert_eq!(cut(list(0)), list(0));
        assert_eq!(cut(list(MAX_LISTED)), list(MAX_LISTED));
        let cut_list = cut(list(MAX_LISTED + 180));
        assert_eq!(cut_list.len(), MAX_LISTED + 1);
        assert_eq!(cut_list[..MAX_LISTED], list(MAX_LISTED)[..]);
        assert_eq!(cut_list[MAX_LISTED], "... and 180 more");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("\x1b[2J"), "\\x1b[2J");
        assert_eq!(escape("a\nb\tc\r"), "a\\nb\\tc\\r");
        assert_eq!(escape("\u{7f}\u{9b}31m"), "\\x7f\\u{9b}31m");
        assert_eq!(escape("evil\u{202e}lmth.sql"), "evil\\u{202e}lmth.sql");
        // Invisible: shown as nothing, so a name holding one would look like another.
        for c in [
            '\u{200b}', '\u{200d}', '\u{200e}', '\u{2060}', '\u{feff}', '\u{ad}',
        ] {
            assert_eq!(
                escape(&format!("tenant_1{c}")),
                format!("tenant_1\\u{{{:x}}}", c as u32)
            );
        }
        assert_eq!(escape("café ✓"), "café ✓");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape_prose("line 1\n\tline 2\x1b]0;x\x07"),
            "line 1\n\tline 2\\x1b]0;x\\x07"
        );
    }

    /// Prose shows its lines as lines whatever ends them, as `text::is_line_break` ends them:
    /// a CRLF file's SQL (`migrate up --dry-run`) has no `\r` at the end of every line, a lone
    /// CR ends a line rather than drawing what follows over it.
    #[test]
    fn prose_lines_are_shown_without_their_line_terminator() {
        for (text, shown) in [
            ("SELECT 1;\r\nSELECT 2;\r\n", "SELECT 1;\nSELECT 2;\n"),
            ("a\rb\r\nc\n\rd\r", "a\nb\nc\n\nd\n"),
            ("\r\r\n\x1b\r", "\n\n\\x1b\n"),
            ("plain\nlines\n", "plain\nlines\n"),
        ] {
            assert_eq!(escape_prose(text), shown, "{text:?}");
        }
    }

    #[test]
    fn nothing_escaped_contains_a_control_character() {
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            let text = format!("a{c}b");
            assert!(!escape(&text).chars().any(is_hazard), "{c:?}");
            assert!(
                !escape_prose(&text)
                    .chars()
                    .any(|c| is_hazard(c) && c != '\n' && c != '\t'),
                "{c:?}"
            );
        }
    }

    #[test]
    fn dot_dot_is_taken_out_after_a_directory_never_after_a_link() {
        let tmp = confiture_test_support::TempDir::new("confiture_dotdot");
        tmp.dir("ws/app");
        tmp.dir("ws/shared/migrations");
        let ws = tmp.path.join("ws");
        assert_eq!(
            without_dot_dot(&ws.join("app/../shared/./migrations")),
            ws.join("shared/migrations")
        );
        assert_eq!(
            without_dot_dot(&ws.join("app/x/../../shared")),
            ws.join("shared")
        );
        assert_eq!(without_dot_dot(Path::new("../db/a/..")), Path::new("../db"));
        assert_eq!(without_dot_dot(Path::new("a/..")), Path::new("."));
        #[cfg(unix)]
        {
            // `link/..` is the parent of the link's target: it stays.
            std::os::unix::fs::symlink(ws.join("shared/migrations"), ws.join("app/link")).unwrap();
            let through = ws.join("app/link/../migrations");
            assert_eq!(without_dot_dot(&through), through);
            assert!(through.is_dir());
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_path_that_is_not_utf8_is_text_with_its_bytes_written_out() {
        use std::os::unix::ffi::OsStrExt;
        let bad = Path::new(OsStr::from_bytes(b"db/migrations/002_b\xffx\xc3.up.sql"));
        assert_eq!(path_text(bad), "db/migrations/002_b\\xffx\\xc3.up.sql");
        assert_eq!(file_name(bad), "002_b\\xffx\\xc3.up.sql");
        assert_eq!(path(bad), "db/migrations/002_b\\xffx\\xc3.up.sql");
        assert!(matches!(
            path_text(Path::new("café.sql")),
            Cow::Borrowed("café.sql")
        ));
        #[derive(serde::Serialize)]
        struct Doc {
            #[serde(serialize_with = "serialize_path")]
            path: PathBuf,
            #[serde(serialize_with = "serialize_option_path")]
            file: Option<PathBuf>,
            #[serde(serialize_with = "serialize_paths")]
            files: Vec<PathBuf>,
        }
        let doc = Doc {
            path: bad.to_path_buf(),
            file: Some(bad.to_path_buf()),
            files: vec![bad.to_path_buf()],
        };
        let json = serde_json::to_value(&doc).expect("a path that is not UTF-8 is valid JSON");
        let text = "db/migrations/002_b\\xffx\\xc3.up.sql";
        assert_eq!(json["path"], text);
        assert_eq!(json["file"], text);
        assert_eq!(json["files"][0], text);
    }

    #[test]
    fn paths_are_relative_to_the_current_directory() {
        let p = |s: &str| PathBuf::from(s);
        let cases = [
            ("/w/db/migrations", "/w", "db/migrations"),
            ("/w/db/migrations", "/w/src", "../db/migrations"),
            ("/w/db/migrations", "/w/app/src", "../../db/migrations"),
            ("/w/db/migrations", "/w/db/migrations", "."),
            (
                "/w/db/migrations/001_a.up.sql",
                "/w/db",
                "migrations/001_a.up.sql",
            ),
            ("/etc/app.yaml", "/w", "/etc/app.yaml"),
            ("db/migrations", "/w/src", "db/migrations"),
            ("/w/./db", "/w/src", "../db"),
        ];
        for (path, cwd, expected) in cases {
            assert_eq!(
                relative_to(&p(path), &p(cwd)),
                p(expected),
                "{path} from {cwd}"
            );
        }
    }
}
