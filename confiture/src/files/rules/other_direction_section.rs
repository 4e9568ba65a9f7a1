//! C125 `other-direction-section`: another tool's single-file format — dbmate's
//! `-- migrate:up` / `-- migrate:down`, goose's `-- +goose Up` / `-- +goose Down`,
//! sql-migrate's `-- +migrate Up` / `-- +migrate Down`, Play evolutions' `-- !Ups` /
//! `-- !Downs` — whose down section sits in an up file (or up section in a down file). To
//! confiture the markers are comments: `migrate up` would run the down section too.
//! [`sections`] is the one reading of those markers, which `C006`'s help for a misnamed file
//! in such a format (`001_a.sql`) reads too.

use std::ops::Range;

use super::lexer::{self, TokenKind};
use super::{Context, Diagnostic, Direction, RuleDoc, Severity};
use crate::text::{self, Locator};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C125",
    name: "other-direction-section",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "another tool's down section in an up file (dbmate's `-- migrate:down`, goose's \
              `-- +goose Down`, ...), or its up section in a down file",
    explanation: "\
dbmate, goose, sql-migrate and Play evolutions keep both directions of a migration in one file,
split by comment markers: `-- migrate:up` / `-- migrate:down` (dbmate), `-- +goose Up` /
`-- +goose Down` (goose), `-- +migrate Up` / `-- +migrate Down` (sql-migrate), `-- !Ups` /
`-- !Downs` (Play). confiture keeps each direction in a file of its own and runs all of it:
to the server those markers are comments, so an up file holding a down section runs it right
after the up part (`migrate up` drops what it just created, and records the migration as
applied), and a down file holding an up section runs that during a rollback. A marker of the
file's own direction is harmless and not reported; one of the other direction is, on its line,
where it starts a line of the file (outside strings and block comments).

**Fix:** move the section under the marker (down to the next marker, or the end of the file)
into the migration's other file (`001_a.down.sql` for an up file's down section), and delete
the markers. A file named in the other tool's way (`001_a.sql`) is reported by `C006`, whose
help says where to split it.",
};

/// The tools whose single-file format [`sections`] reads: the tool, then its markers' words
/// (in ASCII lower case: they are read in any case) for up and for down.
const TOOLS: [(&str, &[&str], &[&str]); 4] = [
    ("dbmate", &["migrate:up"], &["migrate:down"]),
    ("goose", &["+goose", "up"], &["+goose", "down"]),
    ("sql-migrate", &["+migrate", "up"], &["+migrate", "down"]),
    ("Play evolutions", &["!ups"], &["!downs"]),
];

/// One section of another tool's single-file format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Section {
    /// The tool whose marker starts it (`dbmate`).
    pub(crate) tool: &'static str,
    /// Which direction the tool runs it in.
    pub(crate) direction: Direction,
    /// The marker comment, in bytes of the text read.
    pub(crate) marker: Range<usize>,
    /// Its first line (the marker's) and its last, before the next marker or the end of
    /// the file (the last line holding anything).
    pub(crate) lines: (u32, u32),
}

impl Section {
    /// `lines 4–6`, or `line 4`.
    pub(crate) fn lines_text(&self) -> String {
        match self.lines {
            (first, last) if last > first => format!("lines {first}–{last}"),
            (first, _) => format!("line {first}"),
        }
    }
}

/// The words one of [`TOOLS`]' markers spells: a text that spells none holds none, and is not
/// lexed.
const WORDS: [&str; 4] = ["migrate", "goose", "!ups", "!downs"];

/// The sections of another tool's single-file format in `text` (without its byte-order mark),
/// in order: each marker of [`TOOLS`] that is a `--` comment starting a line (after spaces),
/// written as the tool reads it.
pub(crate) fn sections(text: &str) -> Vec<Section> {
    if !WORDS.iter().any(|word| text::mentions(text, word)) {
        return Vec::new();
    }
    sections_of(text)
}

/// [`sections`], once `text` spells one of the [`WORDS`].
fn sections_of(text: &str) -> Vec<Section> {
    let mut found: Vec<(&'static str, Direction, Range<usize>)> = Vec::new();
    let bytes = text.as_bytes();
    for token in lexer::tokens(text) {
        if token.kind != TokenKind::LineComment {
            continue;
        }
        let before = &bytes[text::line_start(bytes, token.start)..token.start];
        if !before.iter().all(|b| matches!(b, b' ' | b'\t')) {
            continue;
        }
        if let Some((tool, direction)) = marker_of(token.text) {
            let end = token.start + token.text.trim_end().len();
            found.push((tool, direction, token.start..end));
        }
    }
    let mut lines = Locator::new(text);
    let mut out = Vec::with_capacity(found.len());
    for (i, (tool, direction, marker)) in found.iter().enumerate() {
        let end = found.get(i + 1).map_or(text.len(), |next| next.2.start);
        let last_byte = text[..end].trim_end().len().max(marker.end);
        let first = lines.line_at(marker.start);
        let last = lines.line_at(last_byte.saturating_sub(1).max(marker.start));
        out.push(Section {
            tool,
            direction: *direction,
            marker: marker.clone(),
            lines: (first, last),
        });
    }
    out
}

/// The tool and direction a `--` comment marks, if it is one of [`TOOLS`]' markers: its words
/// after the dashes, in any case, with nothing after them but options (`-- migrate:up
/// transaction:false`) or a note.
fn marker_of(comment: &str) -> Option<(&'static str, Direction)> {
    let body = comment.trim_start_matches('-');
    let words: Vec<String> = body
        .split_ascii_whitespace()
        .take(2)
        .map(str::to_ascii_lowercase)
        .collect();
    let starts_with = |marker: &[&str]| {
        marker.len() <= words.len() && marker.iter().zip(&words).all(|(m, w)| m == w)
    };
    TOOLS.iter().find_map(|&(tool, up, down)| {
        if starts_with(up) {
            Some((tool, Direction::Up))
        } else if starts_with(down) {
            Some((tool, Direction::Down))
        } else {
            None
        }
    })
}

/// The name of the other file of the migration `path` names (`001_a.down.sql` for
/// `001_a.up.sql`), when its name is a migration's.
fn other_file(cx: &Context<'_>) -> Option<String> {
    let file_name = cx.path.file_name()?.to_str()?;
    let parsed = crate::files::name::parse_file_name(file_name).ok()?;
    let stem = &file_name[..parsed.version_text.len() + 1 + parsed.name.len()];
    Some(crate::files::half_file_name(stem, cx.kind.opposite()))
}

pub(super) fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    // Asked of the file's cached spelling first: most files spell none of the words.
    if !WORDS.iter().any(|word| cx.mentions(word)) {
        return;
    }
    let sections = sections_of(cx.text);
    if sections.is_empty() {
        return;
    }
    let other = other_file(cx).map_or_else(
        || format!("the migration's {} file", cx.kind.opposite()),
        |name| format!("`{name}`"),
    );
    for section in sections.iter().filter(|s| s.direction != cx.kind) {
        let marker = cx.text.get(section.marker.clone()).unwrap_or_default();
        let run = match cx.kind {
            Direction::Up => "migrate up",
            Direction::Down => "migrate down",
        };
        let message = format!(
            "`{marker}` starts {}'s {} section in {} {} file: `{run}` runs the statements \
             under it too (to the server the marker is a comment)",
            section.tool,
            section.direction,
            if cx.kind == Direction::Up { "an" } else { "a" },
            cx.kind,
        );
        let help = format!(
            "move {} (the {} section) into {other} (or delete them if it holds them already) \
             and delete the markers: confiture keeps each direction of a migration in a file of \
             its own",
            section.lines_text(),
            section.direction,
        );
        out.push(cx.diagnostic(&DOC, section.marker.clone(), message, help));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::test_support::{down, up};
    use super::super::{check_sql, Direction};

    /// hmig: a dbmate file renamed `.up.sql` as C006 said passed lint, and `migrate up` ran
    /// its down section right after its up part: "applied", and the table gone.
    #[test]
    fn a_down_section_in_an_up_file_is_an_error_of_each_tool() {
        let dbmate = "-- migrate:up\nCREATE TABLE a(id int);\n\n-- migrate:down\nDROP TABLE a;\n";
        assert_eq!(up(dbmate), [("C125", 4)]);
        let goose = "-- +goose Up\n-- +goose StatementBegin\nCREATE TABLE a(id int);\n\
                     -- +goose StatementEnd\n\n-- +goose Down\nDROP TABLE a;\n";
        assert_eq!(up(goose), [("C125", 6)]);
        let sql_migrate = "-- +migrate Up\nCREATE TABLE a(id int);\n-- +migrate Down\n\
                           DROP TABLE a;\n";
        assert_eq!(up(sql_migrate), [("C125", 3)]);
        let play = "--- !Ups\nCREATE TABLE a(id int);\n\n--- !Downs\nDROP TABLE a;\n";
        assert_eq!(up(play), [("C125", 4)]);
        // In any case, indented, with dbmate's options after it, CRLF line ends.
        assert_eq!(
            up("CREATE TABLE a(id int);\r\n  -- MIGRATE:DOWN transaction:false\r\nDROP TABLE a;\r\n"),
            [("C125", 2)]
        );
    }

    #[test]
    fn the_help_names_the_section_and_the_other_file() {
        let text = "-- migrate:up\nCREATE TABLE a(id int);\n\n-- migrate:down\nDROP TABLE a;\n\n";
        let all = check_sql(Path::new("db/001_create_a.up.sql"), text, Direction::Up);
        assert_eq!(all.len(), 1, "{all:#?}");
        assert_eq!(
            all[0].message,
            "`-- migrate:down` starts dbmate's down section in an up file: `migrate up` runs \
             the statements under it too (to the server the marker is a comment)"
        );
        assert_eq!(
            all[0].help.as_deref(),
            Some(
                "move lines 4–5 (the down section) into `001_create_a.down.sql` (or delete them \
                 if it holds them already) and delete the markers: confiture keeps each \
                 direction of a migration in a file of its own"
            )
        );
        // A down file holding the whole file: its up section, up to the down marker.
        let all = check_sql(Path::new("001_create_a.down.sql"), text, Direction::Down);
        assert_eq!(all.len(), 1, "{all:#?}");
        assert_eq!(all[0].line, Some(1));
        assert!(
            (all[0].help.as_deref().unwrap_or_default())
                .starts_with("move lines 1–2 (the up section) into `001_create_a.up.sql`"),
            "{all:#?}"
        );
    }

    #[test]
    fn an_up_section_in_a_down_file_is_an_error_and_its_own_direction_is_not() {
        assert_eq!(down("-- +goose Down\nDROP TABLE a;\n"), []);
        assert_eq!(up("-- migrate:up\nCREATE TABLE a(id int);\n"), []);
        assert_eq!(
            down("-- +goose Up\nCREATE TABLE a(id int);\n-- +goose Down\nDROP TABLE a;\n"),
            [("C125", 1)]
        );
    }

    #[test]
    fn markers_in_strings_mid_line_or_in_other_words_are_not() {
        let text = "SELECT '\n-- migrate:down\n';\nSELECT 1; -- migrate:down\n/*\n-- +goose Down\n*/\n\
                    -- migrate:downgrade later\n-- +goose Downs\n-- migrate: down\nCREATE TABLE goose (id int);\n";
        assert_eq!(up(text), []);
    }
}
