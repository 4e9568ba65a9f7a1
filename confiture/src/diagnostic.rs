//! A problem found in the migrations directory: stable code, rule name, severity, file, line
//! and span, message and help. Produced by [`crate::files`]; rendered by the CLI (rustc style, JSON) and by
//! confiture-build (`cargo::error=` lines).

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
/// How bad a [`Diagnostic`] is.
pub enum Severity {
    /// Fails `up`, `generate` and the build.
    Error,
    /// Reported; nothing is refused for it.
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
/// One problem found in the migrations directory, with where it is and what to do.
pub struct Diagnostic {
    /// Stable code, e.g. `C001`. Never reused for another meaning.
    pub code: &'static str,
    /// Stable kebab-case rule name, e.g. `missing-down`; used by `-- confiture:allow(<rule>)`.
    pub rule: &'static str,
    /// Error or warning (a `-- confiture:allow` can lower neither).
    pub severity: Severity,
    /// The file (or directory) involved, as given to the checker (usually relative to the workspace).
    #[serde(serialize_with = "crate::display::serialize_path")]
    pub path: PathBuf,
    /// 1-based line, where one applies (the line the span starts on, when there is one).
    pub line: Option<u32>,
    /// What in the file the diagnostic is about, where that is narrower than the file: the
    /// statement, clause, comment or bytes a renderer underlines.
    pub span: Option<Span>,
    /// What is wrong, as a lowercase phrase.
    pub message: String,
    /// How to fix it, when there is a fix to suggest.
    pub help: Option<String>,
    /// The other files the problem is about, beside `path`: the other migration of a version
    /// used twice, the file a missing half may be misnamed as. Renderers name each, as they
    /// name `path`; empty for most diagnostics.
    #[serde(serialize_with = "crate::display::serialize_paths")]
    pub related: Vec<PathBuf>,
}

/// A piece of a file: its byte range (of the raw file, a byte-order mark included) and where
/// it starts and ends as 1-based lines and columns. Columns count characters (a tab is one, a
/// byte-order mark none), as rustc's do; the end is exclusive, as `end` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    /// Byte offset where it starts.
    pub start: usize,
    /// Byte offset where it ends (exclusive).
    pub end: usize,
    /// 1-based line where it starts.
    pub line: u32,
    /// 1-based column (in characters) where it starts.
    pub column: u32,
    /// 1-based line where it ends.
    pub end_line: u32,
    /// 1-based column (in characters) where it ends (exclusive).
    pub end_column: u32,
}

impl Span {
    /// The span of `range` in `text` (a file's whole text).
    pub fn of(text: &str, range: Range<usize>) -> Span {
        Span::locate(&mut crate::text::Locator::new(text), range)
    }

    /// [`Span::of`] with a [`crate::text::Locator`] reused across the spans of one file.
    pub fn locate(locator: &mut crate::text::Locator<'_>, range: Range<usize>) -> Span {
        let (line, column) = locator.line_col(range.start);
        let (end_line, end_column) = locator.line_col(range.end.max(range.start));
        Span {
            start: range.start,
            end: range.end.max(range.start),
            line,
            column,
            end_line,
            end_column,
        }
    }
}

impl Diagnostic {
    /// The diagnostic, also about `path` ([`Diagnostic::related`]).
    pub fn with_related(mut self, path: impl Into<PathBuf>) -> Diagnostic {
        self.related.push(path.into());
        self
    }

    /// Whether it is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `path:line:column`, as much of it as is known (`path` as the caller shows it): the form
    /// that editors and terminals turn into a link.
    pub fn location(&self, path: &str) -> String {
        match (self.line, self.span) {
            (Some(line), Some(span)) if span.line == line => {
                format!("{path}:{line}:{}", span.column)
            }
            (Some(line), _) => format!("{path}:{line}"),
            (None, _) => path.to_string(),
        }
    }
}

/// One line: `path:line:column: code: message` (the form confiture-build prints).
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = crate::display::path_text(&self.path);
        write!(
            f,
            "{}: {}: {}",
            self.location(&path),
            self.code,
            self.message
        )
    }
}

/// Where `docs/lints.md` is published: what a diagnostic cites, for an installed CLI has no
/// source tree to look in.
pub const LINTS_URL: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/lints.md");

/// The documentation of one rule: listed in `docs/lints.md`, which a test keeps current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleDoc {
    /// Stable code, e.g. `C001`.
    pub code: &'static str,
    /// Stable kebab-case rule name, e.g. `missing-down`.
    pub name: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// Its diagnostics' help already tells to allow it with `-- confiture:allow(name)` (the
    /// rules whose fix may be to allow it): a renderer adds no note saying so again
    /// ([`crate::files::rules::allow_note`]). Not shown in the rule's documentation.
    #[serde(skip)]
    pub help_names_allow: bool,
    /// One line: what the rule finds.
    pub summary: &'static str,
    /// Why it matters and how to fix it (Markdown).
    pub explanation: &'static str,
}
