//! `-- confiture:...` markers in a migration file's leading comment block:
//! `no-transaction`, `irreversible`, `allow(<rule-name>)`.

/// The markers found in a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markers {
    pub no_transaction: bool,
    pub irreversible: bool,
    /// Rule names from `-- confiture:allow(<rule>)`, with the 1-based line of each.
    pub allows: Vec<(String, u32)>,
}

/// Reads the markers from `text`.
pub fn parse(text: &str) -> Markers {
    let _ = text;
    Markers::default()
}
