//! Pure text rendering shared by the commands: diagnostics in rustc's layout, error details,
//! shortened version lists. No IO here (the source line of a diagnostic is passed in), so that
//! every layout has unit tests.

use std::fmt::Write as _;

use confiture::display;
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

/// `1 warning`, `2 errors`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The lines of an error's details: each a bullet, except a detail that starts with spaces,
/// which continues the one before it (a numbered list under a heading): indented, no bullet.
pub fn details(details: &[String]) -> String {
    let mut text = String::new();
    for detail in details {
        let shown = display::escape(detail);
        if shown.starts_with(' ') {
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
/// `source` is the text of the diagnostic's line when it has one (without its newline); the
/// caret underlines that line's text (the rules locate a statement or marker by its line).
/// `paint` styles a piece of text; the result ends with a blank line.
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
    let shown_source = source.map(|s| display::escape(&s.replace('\t', TAB)).into_owned());
    let location = match (d.line, source) {
        // The column counts characters, a tab as one, as rustc's does.
        (Some(line), Some(src)) => {
            let column = src.chars().take_while(|c| c.is_whitespace()).count() + 1;
            format!("{path}:{line}:{column}")
        }
        (Some(line), None) => format!("{path}:{line}"),
        (None, _) => path.to_string(),
    };
    let _ = writeln!(text, "{pad}{} {location}", paint(Paint::Gutter, "-->"));
    if let (Some(line), Some(src)) = (d.line, &shown_source) {
        let _ = writeln!(text, "{pad} {gutter}");
        let src = src.trim_end();
        let indent = src.chars().take_while(|c| c.is_whitespace()).count();
        let marked = src.chars().count() - indent;
        let _ = writeln!(
            text,
            "{} {gutter} {src}",
            paint(Paint::Gutter, &format!("{line:>width$}"))
        );
        if marked > 0 {
            let _ = writeln!(
                text,
                "{pad} {gutter} {}{}",
                " ".repeat(indent),
                paint(style, &"^".repeat(marked))
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
    text
}

/// The longest source line shown under a diagnostic, in characters.
pub const MAX_SOURCE_CHARS: usize = 200;

/// A source line cut to [`MAX_SOURCE_CHARS`].
pub fn clip_source(line: &str) -> String {
    // A byte-order mark is invisible and zero-width: it would shift the caret.
    let line = line.trim_start_matches('\u{feff}');
    let line = line.trim_end_matches(['\n', '\r']);
    match line.char_indices().nth(MAX_SOURCE_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

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
            message: message.to_string(),
            help: Some("load the data with INSERT statements".to_string()),
        }
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
        let clipped = clip_source(&long);
        assert_eq!(clipped.chars().count(), MAX_SOURCE_CHARS + 1);
        assert!(clipped.ends_with('…'));
        assert_eq!(clip_source("a\r\n"), "a");
        assert_eq!(clip_source("\u{feff}SELECT 1;\n"), "SELECT 1;");
    }
}
