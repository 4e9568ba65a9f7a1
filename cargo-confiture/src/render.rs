//! Pure text rendering shared by the commands: diagnostics in rustc's layout, error details,
//! shortened version lists. No IO here (the source line of a diagnostic is passed in), so that
//! every layout has unit tests.

use std::fmt::Write as _;

use confiture::display;
use confiture::error::MigrationFailure;
use confiture::migrator::{Direction, ReportedError};
use confiture::{Diagnostic, Severity};

/// How a renderer paints a piece of text (colour or not is the caller's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    Error,
    Warning,
    Emphasis,
    Gutter,
    Help,
}

/// Versions for a sentence that already says how many there are: `display::version_range`,
/// the one rule for shortening (`0001…1000`). JSON keeps full lists.
pub fn versions(list: &[String]) -> String {
    display::version_range(list)
}

/// The width of a table column: its widest cell or its header, in terminal cells
/// ([`text_width`]). The one rule every table of the CLI aligns its columns by, with [`pad`].
pub fn column_width<'a>(cells: impl IntoIterator<Item = &'a str>, header: &str) -> usize {
    cells
        .into_iter()
        .map(text_width)
        .max()
        .unwrap_or(0)
        .max(text_width(header))
}

/// The widest a migration's cell of a table (`migrate status`, `migrate verify`) is drawn, in
/// characters: a longer one is cut ([`cell`]), so that a pair named by hand with a long name
/// (lint's C017) does not stretch every row of the table. JSON keeps the whole id.
pub const MAX_CELL: usize = 64;

/// `text` as a table's migration cell: whole up to [`MAX_CELL`] characters, else its first
/// ones and `…` ([`display::clip`], the one rule cutting a long value), `MAX_CELL` in all.
pub fn cell(text: String) -> String {
    if display::clip(&text, MAX_CELL).is_none() {
        return text;
    }
    let kept = display::clip(&text, MAX_CELL - 1).unwrap_or(&text);
    format!("{kept}…")
}

/// How many terminal cells `text` takes: a wide character (`添`) two, a combining mark none
/// (see [`cells`]). `format!("{:width$}")` counts characters, which misaligns such a cell.
pub fn text_width(text: &str) -> usize {
    if text.is_ascii() {
        // Every ASCII character is one cell ([`cells`]): no per-character look-up for the
        // common cell (a table of 1,000 migrations asks for each id twice).
        return text.len();
    }
    text.chars().map(cells).sum()
}

/// The spaces that make `text` (unpainted) `width` cells wide: written after the cell, painted
/// or not, so that the next column starts where the header's does.
pub fn padding(text: &str, width: usize) -> String {
    let mut out = String::new();
    push_padding(&mut out, text, width);
    out
}

/// [`padding`] written at the end of `out`.
pub fn push_padding(out: &mut String, text: &str, width: usize) {
    const SPACES: &str = "                                ";
    let mut n = width.saturating_sub(text_width(text));
    // A slice at a time: a table of 1,000 rows pads two cells each.
    while n > 0 {
        let now = n.min(SPACES.len());
        out.push_str(&SPACES[..now]);
        n -= now;
    }
}

/// `text` padded to `width` cells ([`padding`]).
pub fn pad(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len().max(width));
    push_padded(&mut out, text, width);
    out
}

/// [`pad`] written at the end of `out`: a table of many rows without a string per cell.
pub fn push_padded(out: &mut String, text: &str, width: usize) {
    out.push_str(text);
    push_padding(out, text, width);
}

/// `1 warning`, `2 errors`: the library's one rule.
pub use confiture::display::plural;

/// What became of the other migrations of a failed run, from the error's data
/// ([`MigrationFailure`]): the lines shown after its details. JSON has the lists themselves
/// (`committed`, `unknown`, `not_attempted`).
pub fn fate(failure: &MigrationFailure) -> Vec<String> {
    fate_of(failure.direction, failure)
}

/// [`fate`] of a failed run's error as a report carries it ([`ReportedError`]: a fleet
/// target's, its command going in `direction`): the same lines, from the same lists.
pub fn reported_fate(error: &ReportedError, direction: Direction) -> Vec<String> {
    let mut failure = MigrationFailure::default();
    failure.committed.clone_from(&error.committed);
    failure
        .durability_unknown
        .clone_from(&error.durability_unknown);
    failure.unknown.clone_from(&error.unknown);
    failure.not_attempted.clone_from(&error.not_attempted);
    fate_of(direction, &failure)
}

/// The lines of [`fate`], going in `direction`.
fn fate_of(direction: Direction, failure: &MigrationFailure) -> Vec<String> {
    let mut lines = Vec::new();
    if !failure.committed.is_empty() {
        let done = match direction {
            Direction::Up => "applied",
            Direction::Down => "rolled back",
        };
        lines.push(format!(
            "{done} before the failure: {}",
            display::versions(&failure.committed)
        ));
    }
    if !failure.durability_unknown.is_empty() {
        lines.push(format!(
            "durability unknown (committed, but the connection was lost before their commit \
             was known to be on the server's disk: a server crash may have lost them; run {} \
             to see what is recorded): {}",
            confiture::hint::command("migrate status"),
            display::versions(&failure.durability_unknown)
        ));
    }
    if !failure.unknown.is_empty() {
        lines.push(format!(
            "fate unknown (they may have committed; run {} to see what is recorded): {}",
            confiture::hint::command("migrate status"),
            display::versions(&failure.unknown)
        ));
    }
    if !failure.not_attempted.is_empty() {
        lines.push(format!(
            "not attempted: {}",
            display::versions(&failure.not_attempted)
        ));
    }
    lines
}

/// The lines of an error's details: each a bullet, except a detail that starts with two
/// spaces, which continues the one before it (a numbered list under a heading, another tool's
/// report): indented, no bullet, any further indentation kept (carets under a snippet).
pub fn details(details: &[String]) -> String {
    let mut text = String::new();
    for detail in details {
        let shown = display::escape(detail);
        if let Some(rest) = shown.strip_prefix("  ") {
            let _ = writeln!(text, "    {}", rest.trim_end());
        } else if shown.starts_with(' ') {
            let _ = writeln!(text, "    {}", shown.trim_start());
        } else {
            let _ = writeln!(text, "  - {shown}");
        }
    }
    text
}

/// Tabs in a source line are shown as four spaces, as rustc does, so that the caret lines up.
const TAB: &str = "    ";

/// A diagnostic in rustc's layout:
///
/// ```text
/// error[C105]: COPY ... FROM STDIN needs psql
///  --> db/migrations/003_load.up.sql:2:1
///   |
/// 2 | COPY tb_user FROM STDIN;
///   | ^^^^^^^^^^^^^^^^^^^^^^^^
///   |
///   = help: load the data with INSERT statements
/// ```
///
/// `source` is the text of the diagnostic's line when it has one (without its newline). The
/// carets underline the diagnostic's span on that line (to the line's end when the span goes
/// on), or the line's text when it has no span. `paint` styles a piece of text.
pub fn diagnostic(
    d: &Diagnostic,
    path: &str,
    source: Option<&str>,
    paint: &dyn Fn(Paint, &str) -> String,
) -> String {
    let (label, style) = match d.severity {
        Severity::Error => ("error", Paint::Error),
        Severity::Warning => ("warning", Paint::Warning),
    };
    let line_number = d.line.map(|n| n.to_string()).unwrap_or_default();
    let width = line_number.len().max(1);
    let pad = " ".repeat(width);
    let gutter = paint(Paint::Gutter, "|");
    let mut text = format!(
        "{}{}\n",
        paint(style, &format!("{label}[{}]", d.code)),
        paint(
            Paint::Emphasis,
            &format!(": {}", display::escape(&d.message))
        )
    );
    // Columns count characters, a tab as one, as rustc's do.
    let marked = source.map(|src| marked_columns(d, src));
    let location = match (d.line, marked) {
        (Some(line), Some((from, _))) => format!("{path}:{line}:{from}"),
        (Some(line), None) => match d.span {
            Some(span) => format!("{path}:{line}:{}", span.column),
            None => format!("{path}:{line}"),
        },
        (None, _) => path.to_string(),
    };
    let _ = writeln!(text, "{pad}{} {location}", paint(Paint::Gutter, "-->"));
    // The other files it is about (the other migration of the version...), each on its line.
    for other in &d.related {
        let _ = writeln!(
            text,
            "{pad}{} {}",
            paint(Paint::Gutter, "-->"),
            display::path(other)
        );
    }
    if let (Some(line), Some(src), Some((from, to))) = (d.line, source, marked) {
        let _ = writeln!(text, "{pad} {gutter}");
        let (shown, before, under) = underline(src, from, to);
        let _ = writeln!(
            text,
            "{} {gutter} {}",
            paint(Paint::Gutter, &format!("{line:>width$}")),
            shown.trim_end()
        );
        if under > 0 || d.span.is_some() {
            let _ = writeln!(
                text,
                "{pad} {gutter} {}{}",
                " ".repeat(before),
                paint(style, &"^".repeat(under.max(1)))
            );
        }
    }
    if let Some(help) = &d.help {
        let _ = writeln!(text, "{pad} {gutter}");
        let _ = writeln!(
            text,
            "{pad} {} {}",
            paint(Paint::Help, "= help:"),
            display::escape(help)
        );
    }
    // The marker that silences the warning, which the code above does not name; not again
    // for a rule whose help already tells it (the rules whose fix may be to allow it).
    if d.severity == Severity::Warning && confiture::files::rules::allow_note(d.rule) {
        let marker = format!("-- confiture:allow({})", d.rule);
        if d.help.is_none() {
            let _ = writeln!(text, "{pad} {gutter}");
        }
        let _ = writeln!(
            text,
            "{pad} {} if intended, `{marker}` in the file silences it",
            paint(Paint::Help, "= note:"),
        );
    }
    text
}

/// The columns (1-based, end exclusive) to underline in `src`, the diagnostic's line: its span
/// on that line, else the line's text without its indentation.
fn marked_columns(d: &Diagnostic, src: &str) -> (usize, usize) {
    let src = src.trim_end();
    let length = src.chars().count();
    let Some(span) = d.span.filter(|s| Some(s.line) == d.line) else {
        let indent = src.chars().take_while(|c| c.is_whitespace()).count();
        return (indent + 1, length + 1);
    };
    let from = span.column as usize;
    let to = if span.end_line == span.line {
        span.end_column as usize
    } else {
        // The span goes on below: to the end of this line's text.
        length + 1
    };
    (from, to.max(from + 1))
}

/// `src` as shown (control characters escaped, tabs as [`TAB`]), with how many terminal cells
/// of it stand before column `from` and how many columns `from..to` take. Past the end of the
/// line (a span on its newline) the carets stand after its last character. A line longer than
/// [`MAX_SOURCE_CHARS`] is shown as that many characters around column `from` ([`window`]),
/// `…` marking each cut: the carets stay under what they mark, however far right it is.
fn underline(src: &str, from: usize, to: usize) -> (String, usize, usize) {
    let mut shown = String::new();
    let (mut before, mut under) = (0, 0);
    let (first, last) = window(src.chars().count(), from);
    if first > 1 {
        shown.push(CUT);
        before += 1;
    }
    for (column, c) in (1..).zip(src.chars()).skip(first - 1) {
        if column >= last {
            shown.push(CUT);
            break;
        }
        let piece = if c == '\t' {
            std::borrow::Cow::Borrowed(TAB)
        } else {
            display::escape(c.encode_utf8(&mut [0; 4]))
                .into_owned()
                .into()
        };
        let width: usize = piece.chars().map(cells).sum();
        if column < from {
            before += width;
        } else if column < to {
            under += width;
        }
        shown.push_str(&piece);
    }
    (shown, before, under)
}

/// How many terminal cells a character takes, as terminals draw it: two for East Asian wide and
/// fullwidth characters and emoji, none for combining marks, zero-width spaces and variation
/// selectors, else one. The common ranges of Unicode's East Asian Width, without a dependency:
/// a caret under a rare character may be a cell off, never a line.
fn cells(c: char) -> usize {
    match c {
        '\u{0300}'..='\u{036f}'
        | '\u{200b}'..='\u{200f}'
        | '\u{fe00}'..='\u{fe0f}'
        | '\u{feff}' => 0,
        '\u{1100}'..='\u{115f}'
        | '\u{2e80}'..='\u{303e}'
        | '\u{3041}'..='\u{33ff}'
        | '\u{3400}'..='\u{4dbf}'
        | '\u{4e00}'..='\u{9fff}'
        | '\u{a000}'..='\u{a4cf}'
        | '\u{ac00}'..='\u{d7a3}'
        | '\u{f900}'..='\u{faff}'
        | '\u{fe30}'..='\u{fe4f}'
        | '\u{ff00}'..='\u{ff60}'
        | '\u{ffe0}'..='\u{ffe6}'
        | '\u{1f300}'..='\u{1f64f}'
        | '\u{1f900}'..='\u{1f9ff}'
        | '\u{20000}'..='\u{2fffd}'
        | '\u{30000}'..='\u{3fffd}' => 2,
        _ => 1,
    }
}

/// The longest source line shown under a diagnostic, in characters.
pub const MAX_SOURCE_CHARS: usize = 200;

/// How many characters of a cut source line stand before the marked column, when there are
/// that many: the caret is seen with what leads to it.
const CONTEXT_CHARS: usize = MAX_SOURCE_CHARS / 4;

/// What marks where a source line is cut.
const CUT: char = '…';

/// The columns (1-based, end exclusive) of a line of `length` characters shown under a
/// diagnostic marking column `from`: the whole line up to [`MAX_SOURCE_CHARS`], else that
/// many from [`CONTEXT_CHARS`] before `from` (fewer at the line's start, more when `from` is
/// near its end): a one-line `INSERT` of 5 MB shows the part the diagnostic is about.
fn window(length: usize, from: usize) -> (usize, usize) {
    if length <= MAX_SOURCE_CHARS {
        return (1, length + 1);
    }
    let first = from.saturating_sub(CONTEXT_CHARS).max(1);
    let first = first.min(length + 1 - MAX_SOURCE_CHARS);
    (first, first + MAX_SOURCE_CHARS)
}

/// A source line as a diagnostic is given it: without a byte-order mark (invisible and
/// zero-width: it would shift the caret) and without its line break. Cut to
/// [`MAX_SOURCE_CHARS`] around what it marks when rendered ([`diagnostic`]), not here.
pub fn source_text(line: &str) -> &str {
    let line = confiture::text::without_bom(line);
    line.trim_end_matches(['\n', '\r'])
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use confiture::diagnostic::Span;

    use super::*;

    fn plain(_: Paint, text: &str) -> String {
        text.to_string()
    }

    fn diag(line: Option<u32>, message: &str) -> Diagnostic {
        Diagnostic {
            code: "C105",
            rule: "copy-from-stdin",
            severity: Severity::Error,
            path: PathBuf::from("db/migrations/003_load.up.sql"),
            line,
            span: None,
            message: message.to_string(),
            help: Some("load the data with INSERT statements".to_string()),
            related: Vec::new(),
        }
    }

    /// A diagnostic about `range` of `text`, as the rules make them.
    fn spanned(text: &str, range: std::ops::Range<usize>) -> Diagnostic {
        let span = Span::of(text, range);
        Diagnostic {
            span: Some(span),
            ..diag(Some(span.line), "m")
        }
    }

    /// The rendered source line and carets of a diagnostic about `range` of `text`.
    fn carets(text: &str, range: std::ops::Range<usize>) -> String {
        let d = spanned(text, range);
        let line = text
            .lines()
            .nth(d.line.unwrap_or(1) as usize - 1)
            .unwrap_or("");
        let rendered = diagnostic(&d, "p", Some(source_text(line)), &plain);
        rendered
            .lines()
            .skip(2)
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// N19: a warning `allow` can silence names the rule `allow` takes; errors and the
    /// marker rules, which it cannot, do not.
    #[test]
    fn an_allowable_warning_names_its_rule() {
        let warning = Diagnostic {
            code: "C110",
            rule: "index-without-concurrently",
            severity: Severity::Warning,
            ..diag(Some(1), "m")
        };
        let rendered = diagnostic(&warning, "p", None, &plain);
        assert!(
            rendered.ends_with(
                "  = note: if intended, `-- confiture:allow(index-without-concurrently)` in the \
                 file silences it\n"
            ),
            "{rendered}"
        );
        let marker = Diagnostic {
            code: "C192",
            rule: "unknown-allow",
            ..warning.clone()
        };
        let error = diag(Some(1), "m");
        let said = Diagnostic {
            code: "C114",
            rule: "drop-column",
            help: Some("then allow this with `-- confiture:allow(drop-column)`".to_string()),
            ..warning.clone()
        };
        // Decided by the rule's typed `help_names_allow`, not by reading the help: a rule
        // whose help names the marker gets no note whatever a diagnostic's help holds.
        let said_by_its_rule = Diagnostic {
            help: Some("stop using the column".to_string()),
            ..said.clone()
        };
        for d in [marker, error, said, said_by_its_rule] {
            let rendered = diagnostic(&d, "p", None, &plain);
            assert!(!rendered.contains("note:"), "{rendered}");
        }
        // ... and a help that happens to quote the marker does not stand for a rule whose help
        // does not tell it.
        let quoting = Diagnostic {
            help: Some("unlike `-- confiture:allow(index-without-concurrently)`".to_string()),
            ..warning
        };
        let rendered = diagnostic(&quoting, "p", None, &plain);
        assert!(rendered.contains("= note: if intended"), "{rendered}");
    }

    #[test]
    fn the_carets_underline_the_span() {
        let text = "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN b int NOT NULL;\n";
        let start = text.find("ADD").unwrap();
        let end = text.find(';').map(|_| text.rfind(';').unwrap()).unwrap();
        let d = spanned(text, start..end);
        let rendered = diagnostic(&d, "p", Some(text.lines().nth(1).unwrap()), &plain);
        assert!(rendered.contains("\n --> p:2:15\n"), "{rendered}");
        assert_eq!(
            carets(text, start..end),
            "  |\n\
             2 | ALTER TABLE t ADD COLUMN b int NOT NULL;\n  \
             |               ^^^^^^^^^^^^^^^^^^^^^^^^^"
        );
    }

    #[test]
    fn columns_are_measured_in_terminal_cells() {
        assert_eq!(text_width("002_添加用户表"), 14);
        assert_eq!(text_width("e\u{301}tiquette"), 9);
        assert_eq!(column_width(["001_a", "002_添加用户表"], "Migration"), 14);
        assert_eq!(column_width(["001_a"], "Migration"), 9);
        let long = format!("001_{}", "a".repeat(300));
        assert_eq!(cell(long.clone()).chars().count(), MAX_CELL);
        assert!(cell(long).ends_with("a…"));
        let fits = "b".repeat(MAX_CELL);
        assert_eq!(cell(fits.clone()), fits);
        assert_eq!(pad("添加", 6), "添加  ");
        assert_eq!(pad("abc", 2), "abc");
        assert_eq!(padding("✓ applied", 12), "   ");
    }

    #[test]
    fn every_file_a_diagnostic_is_about_is_named() {
        let d = diag(
            None,
            "version 002 is used by two migrations: `002_a` and `002_b`",
        )
        .with_related("db/migrations/002_a.up.sql");
        let rendered = diagnostic(&d, "db/migrations/002_b.up.sql", None, &plain);
        assert!(
            rendered
                .contains("\n --> db/migrations/002_b.up.sql\n --> db/migrations/002_a.up.sql\n"),
            "{rendered}"
        );
    }

    #[test]
    fn a_span_over_several_lines_is_underlined_to_the_end_of_its_first() {
        let text = "SELECT 1;\n  CREATE INDEX i\n    ON t (a);\n";
        let start = text.find("CREATE").unwrap();
        assert_eq!(
            carets(text, start..text.len() - 1),
            "  |\n2 |   CREATE INDEX i\n  |   ^^^^^^^^^^^^^^"
        );
    }

    #[test]
    fn carets_line_up_under_tabs_escapes_and_wide_characters() {
        // A tab shows as four spaces, an escape as its four characters `\x1b`, `é` as one.
        let text = "\tSELECT '\x1bé', 'x';";
        let start = text.find("'x'").unwrap();
        assert_eq!(
            carets(text, start..start + 3),
            "  |\n1 |     SELECT '\\x1bé', 'x';\n  |                     ^^^"
        );
    }

    #[test]
    fn wide_characters_take_two_cells_and_combining_marks_none() {
        // `表` is drawn two cells wide, `e\u{301}` (e and a combining acute) one.
        let text = "SELECT '表', 'e\u{301}', 'x';";
        let start = text.find("'x'").unwrap();
        assert_eq!(
            carets(text, start..start + 3),
            "  |\n1 | SELECT '表', 'e\u{301}', 'x';\n  |                   ^^^"
        );
        let wide = text.find('表').unwrap();
        assert_eq!(
            carets(text, wide..wide + '表'.len_utf8()),
            "  |\n1 | SELECT '表', 'e\u{301}', 'x';\n  |         ^^"
        );
    }

    #[test]
    fn a_byte_order_mark_shifts_nothing_and_an_empty_span_gets_one_caret() {
        let text = "\u{feff}SELECT 1;\r\n";
        assert_eq!(carets(text, 0..3), "  |\n1 | SELECT 1;\n  | ^");
        let crlf = text.find('\r').unwrap();
        assert_eq!(
            carets(text, crlf..crlf + 2),
            "  |\n1 | SELECT 1;\n  |          ^"
        );
    }

    #[test]
    fn a_diagnostic_with_a_line_shows_it_with_a_caret() {
        let d = diag(Some(2), "COPY ... FROM STDIN needs psql");
        let text = diagnostic(
            &d,
            "db/migrations/003_load.up.sql",
            Some("  COPY tb_user FROM STDIN;  "),
            &plain,
        );
        assert_eq!(
            text,
            "error[C105]: COPY ... FROM STDIN needs psql\n \
             --> db/migrations/003_load.up.sql:2:3\n  \
             |\n\
             2 |   COPY tb_user FROM STDIN;\n  \
             |   ^^^^^^^^^^^^^^^^^^^^^^^^\n  \
             |\n  \
             = help: load the data with INSERT statements\n"
        );
    }

    #[test]
    fn the_gutter_widens_with_the_line_number_and_tabs_line_up() {
        let d = diag(Some(120), "m");
        let text = diagnostic(&d, "p", Some("\tCOPY t"), &plain);
        assert!(text.contains("\n   --> p:120:2\n"), "{text}");
        assert!(text.contains("\n120 |     COPY t\n"), "{text}");
        assert!(text.contains("\n    |     ^^^^^^\n"), "{text}");
    }

    #[test]
    fn a_file_level_diagnostic_has_no_source_line() {
        let d = diag(None, "`003_load.up.sql` has no down file");
        let text = diagnostic(&d, "db/migrations/003_load.up.sql", None, &plain);
        assert_eq!(
            text,
            "error[C105]: `003_load.up.sql` has no down file\n \
             --> db/migrations/003_load.up.sql\n  \
             |\n  \
             = help: load the data with INSERT statements\n"
        );
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let d = diag(Some(1), "bad \x1b[2J name");
        let text = diagnostic(&d, "p", Some("SELECT '\x1b[2J';"), &plain);
        assert!(!text.contains('\x1b'), "{text:?}");
        assert!(text.contains("bad \\x1b[2J name"), "{text}");
    }

    #[test]
    fn version_lists_are_shortened_past_five() {
        let list = |n: usize| -> Vec<String> { (1..=n).map(|v| format!("{v:04}")).collect() };
        assert_eq!(versions(&list(0)), "");
        assert_eq!(versions(&list(1)), "0001");
        assert_eq!(versions(&list(5)), "0001, 0002, 0003, 0004, 0005");
        assert_eq!(versions(&list(6)), "0001…0006");
        assert_eq!(versions(&list(1000)), "0001…1000");
        assert_eq!(versions(&["\x1b[2J".to_string()]), "\\x1b[2J");
    }

    #[test]
    fn numbered_details_are_not_bulleted_twice() {
        let text = details(&[
            "name one in any of these ways:".to_string(),
            "  1. --database-url URL".to_string(),
            "  2. --env NAME".to_string(),
        ]);
        assert_eq!(
            text,
            "  - name one in any of these ways:\n    1. --database-url URL\n    2. --env NAME\n"
        );
    }

    #[test]
    fn long_source_lines_are_clipped() {
        let long = "x".repeat(MAX_SOURCE_CHARS + 10);
        let rendered = carets(&long, 0..1);
        let shown = rendered.lines().nth(1).unwrap_or_default();
        assert_eq!(shown, format!("1 | {}…", "x".repeat(MAX_SOURCE_CHARS)));
        assert_eq!(source_text("a\r\n"), "a");
        assert_eq!(source_text("\u{feff}SELECT 1;\n"), "SELECT 1;");
    }

    /// A line cut for display shows the part around what the diagnostic marks, the carets
    /// under it: at its start, in its middle, near its end, with wide characters before it
    /// and a span running past the cut.
    #[test]
    fn a_cut_line_shows_the_window_around_its_carets() {
        for (before, after, marked) in [
            (10, 5_000, "nosuchcol"),
            (2_500, 2_500, "nosuchcol"),
            (5_000, 3, "nosuchcol"),
            (MAX_SOURCE_CHARS - 5, 50, "nosuchcol"),
            (5_000, 5_000, &*"y".repeat(MAX_SOURCE_CHARS * 2)),
        ] {
            for fill in ['x', '添'] {
                let line = format!(
                    "{}{marked}{}",
                    fill.to_string().repeat(before),
                    "z".repeat(after)
                );
                let at = line.find(marked).unwrap_or_default();
                let rendered = carets(&line, at..at + marked.len());
                let lines: Vec<&str> = rendered.lines().collect();
                let (shown, under) = (lines[1], lines[2]);
                assert!(shown.chars().count() <= MAX_SOURCE_CHARS + 6, "{shown}");
                assert!(shown.contains("…"), "{shown}");
                // The caret's terminal cell is the marked text's first.
                let caret = text_width(&under[..under.find('^').unwrap_or_default()]);
                let start = shown.find(&marked[..3]).expect("the marked text is shown");
                assert_eq!(caret, text_width(&shown[..start]), "{shown}\n{under}");
                assert!(under.trim_end().ends_with('^'), "{under}");
                assert!(
                    text_width(under.trim_end()) <= text_width(shown),
                    "{shown}\n{under}"
                );
            }
        }
    }

    #[test]
    fn a_failed_run_says_what_became_of_the_others() {
        let mut failure = MigrationFailure::default();
        assert!(fate(&failure).is_empty(), "nothing to say");
        failure.committed = vec!["001".into(), "002".into()];
        failure.unknown = vec!["003".into()];
        failure.not_attempted = vec!["004".into(), "005".into()];
        let lines = fate(&failure);
        assert_eq!(lines[0], "applied before the failure: 001, 002");
        assert!(
            lines[1].starts_with("fate unknown (they may have committed; run ")
                && lines[1].contains("migrate status")
                && lines[1].ends_with("): 003"),
            "{lines:?}"
        );
        assert_eq!(lines[2], "not attempted: 004, 005");
        assert_eq!(lines.len(), 3);
        failure.direction = Direction::Down;
        assert_eq!(
            fate(&failure)[0],
            "rolled back before the failure: 001, 002"
        );
        failure.durability_unknown = vec!["002".into()];
        let lines = fate(&failure);
        assert!(
            lines[1].starts_with("durability unknown (committed, but the connection was lost")
                && lines[1].contains("a server crash may have lost them")
                && lines[1].contains("migrate status")
                && lines[1].ends_with("): 002"),
            "{lines:?}"
        );
    }
}
