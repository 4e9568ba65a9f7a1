//! Where and how things are printed: results on stdout (table or one JSON document), progress
//! and diagnostics on stderr, colour only on a terminal (honouring `NO_COLOR` and `--color`).
//! A closed stdout (`| head`) is not an error: writes that fail are dropped.

use std::io::{IsTerminal, Write};

use confiture::{Diagnostic, Error, Severity};
use serde::Serialize;

use crate::cli::{Color, Format, Global};

/// ANSI styles used by the renderers.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    Green,
    Yellow,
    Red,
    Bold,
    Cyan,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Green => "32",
            Style::Yellow => "33",
            Style::Red => "31",
            Style::Bold => "1",
            Style::Cyan => "36",
        }
    }
}

pub struct Output {
    pub format: Format,
    color_stdout: bool,
    color_stderr: bool,
    quiet: bool,
    /// stderr is a terminal: live progress lines may be redrawn in place.
    pub stderr_is_terminal: bool,
}

fn wants_color(choice: Color, is_terminal: bool) -> bool {
    match choice {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

impl Output {
    pub fn new(global: &Global) -> Output {
        let stderr_is_terminal = std::io::stderr().is_terminal();
        Output {
            format: global.format,
            color_stdout: wants_color(global.color, std::io::stdout().is_terminal()),
            color_stderr: wants_color(global.color, stderr_is_terminal),
            quiet: global.quiet,
            stderr_is_terminal,
        }
    }

    pub fn json_mode(&self) -> bool {
        self.format == Format::Json
    }

    /// Text styled for stdout.
    pub fn paint(&self, style: Style, text: &str) -> String {
        paint(self.color_stdout, style, text)
    }

    /// Text styled for stderr.
    pub fn paint_err(&self, style: Style, text: &str) -> String {
        paint(self.color_stderr, style, text)
    }

    /// A result line (or block) on stdout.
    pub fn result(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
    }

    /// The one JSON document of a `--format json` run, on stdout.
    pub fn json<T: Serialize>(&self, value: &T) {
        let text = serde_json::to_string_pretty(value)
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        self.result(&text);
    }

    /// A progress line on stderr, unless `--quiet`. On a terminal it replaces the line that
    /// [`Output::progress_inline`] left open.
    pub fn progress(&self, text: &str) {
        if !self.quiet {
            let clear = if self.stderr_is_terminal {
                "\r\x1b[K"
            } else {
                ""
            };
            // One write per line: stderr is unbuffered, and `up` may report thousands.
            let line = format!("{clear}{text}\n");
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }

    /// A live status line on a terminal (no newline): the next progress line replaces it.
    pub fn progress_inline(&self, text: &str) {
        if !self.quiet && self.stderr_is_terminal {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[K{text}");
            let _ = stderr.flush();
        }
    }

    /// A note on stderr that is shown even with `--quiet` (which database is used).
    pub fn note(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }

    /// An error on stderr, and in JSON mode also as `{"error": {...}}` on stdout so that a
    /// script reading stdout always gets one document.
    pub fn error(&self, error: &Error) {
        self.error_text(error);
        if self.json_mode() {
            self.json(&ErrorDocument::from(error));
        }
    }

    /// An error on stderr only (when stdout already carries a report that includes it).
    pub fn error_text(&self, error: &Error) {
        // The file problems behind a refusal, each as `lint` shows it; its details repeat them.
        for d in &error.diagnostics {
            self.diagnostic(d);
        }
        let mut text = format!("{} {error}\n", self.paint_err(Style::Red, "error:"));
        if error.diagnostics.is_empty() {
            for detail in &error.details {
                text.push_str(&format!("  - {detail}\n"));
            }
        }
        if let Some(help) = &error.help {
            text.push_str(&format!(
                "  {} {help}\n",
                self.paint_err(Style::Cyan, "help:")
            ));
        }
        let clear = if self.stderr_is_terminal {
            "\r\x1b[K"
        } else {
            ""
        };
        let _ = write!(std::io::stderr().lock(), "{clear}{text}");
    }

    /// A diagnostic rendered like rustc, on stderr.
    pub fn diagnostic(&self, d: &Diagnostic) {
        let (label, style) = match d.severity {
            Severity::Error => ("error", Style::Red),
            Severity::Warning => ("warning", Style::Yellow),
        };
        let mut text = format!(
            "{}{}\n {} {}",
            self.paint_err(style, &format!("{label}[{}]", d.code)),
            self.paint_err(Style::Bold, &format!(": {}", d.message)),
            self.paint_err(Style::Cyan, "-->"),
            d.path.display()
        );
        if let Some(line) = d.line {
            text.push_str(&format!(":{line}"));
        }
        text.push('\n');
        if let Some(help) = &d.help {
            text.push_str(&format!(
                "  {} {help}\n",
                self.paint_err(Style::Cyan, "= help:")
            ));
        }
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}

fn paint(enabled: bool, style: Style, text: &str) -> String {
    if enabled {
        format!("\x1b[{}m{text}\x1b[0m", style.code())
    } else {
        text.to_string()
    }
}

/// `{"error": {...}}`: what a failed `--format json` run prints on stdout.
#[derive(Serialize)]
struct ErrorDocument<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    kind: &'static str,
    exit_code: u8,
    message: String,
    details: &'a [String],
    help: Option<&'a str>,
}

impl<'a> From<&'a Error> for ErrorDocument<'a> {
    fn from(error: &'a Error) -> Self {
        ErrorDocument {
            error: ErrorBody {
                kind: error.kind.name(),
                exit_code: error.exit_code(),
                message: error.to_string(),
                details: &error.details,
                help: error.help.as_deref(),
            },
        }
    }
}
