//! The `fleet:` block of an environment file: the target list the fleet commands
//! (`crate::fleet`) run against when the command line gives none, and their scheduling.
//!
//! ```yaml
//! database_url: postgresql://app@db.internal/app   # the server, credentials and settings
//! fleet:
//!   targets:              # a list: database names on that server, or URLs
//!     - tenant_1
//!     - postgresql://app@db2.internal/tenant_2
//!   # or: targets: tenants.txt      (a target file, relative to this environment file)
//!   # or: targets_query: SELECT dbname FROM tenants WHERE active
//!   # or: schemas_query: SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\_%'
//!   jobs: 8               # default 4
//!   keep_going: true      # default false
//! ```
//!
//! Exactly one of `targets`, `targets_query` and `schemas_query` names the list (or none:
//! then `jobs` and `keep_going` are the defaults of a list given on the command line). The
//! command line's list, `--jobs` and `--keep-going` win over the file's. confiture (Python)
//! ignores the block.

use std::path::PathBuf;

/// The `fleet:` block of an environment file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetSettings {
    /// The target list, if the block names one.
    pub list: Option<FleetList>,
    /// `fleet.jobs`: targets at once (1 to 1024).
    pub jobs: Option<usize>,
    /// `fleet.keep_going`: run every target even after one failed.
    pub keep_going: Option<bool>,
    /// Where the block's relative paths start (the environment file's directory; empty, the
    /// current directory, for a file read from a pipe): a target file's path, and the
    /// `sslrootcert`, `sslcert` and `sslkey` of a URL in the `targets` list
    /// ([`crate::fleet::resolve_list`]).
    pub(crate) relative_to: PathBuf,
    /// Whether the block's query (`targets_query`, `schemas_query`) was written with `$$`,
    /// which the file reads as one `$` (`${VAR}` expansion): a dollar quote `$$...$$` reaches
    /// the server as `$...$`. Said when the server finds the query's syntax wrong
    /// ([`crate::fleet::query_targets`]).
    pub(crate) query_has_double_dollar: bool,
    /// The line of the `fleet:` key in its environment file, when it can be found: what an
    /// error about the block as a whole names ([`FleetSettings::line`]).
    pub(crate) line: Option<usize>,
}

impl FleetSettings {
    /// The line of the `fleet:` key in its environment file (1-based), when it can be found:
    /// an error about the block as a whole (it names no target list) names it, as the errors
    /// about one of its keys name theirs (`environment file F, line L: ...`).
    pub fn line(&self) -> Option<usize> {
        self.line
    }
}

/// Where a fleet's targets come from. `{:?}` shows an entry that is a URL or conninfo as
/// [`RedactedConnection`](super::RedactedConnection): it may hold a password.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FleetList {
    /// `fleet.targets` as a YAML list: each entry (a database name, URL or conninfo) with
    /// where it is written (`db/environments/prod.yaml:7`).
    Entries(Vec<(String, String)>),
    /// `fleet.targets` as a path: a target file (one entry per line), relative to the
    /// environment file's directory when it is relative there.
    File(PathBuf),
    /// `fleet.targets_query`: SQL returning database names or URLs.
    TargetsQuery(String),
    /// `fleet.schemas_query`: SQL returning tenant schema names.
    SchemasQuery(String),
}

impl std::fmt::Debug for FleetList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FleetList::Entries(entries) => {
                let shown: Vec<_> = entries
                    .iter()
                    .map(|(entry, at)| (super::connection::NameOrConnection(entry), at))
                    .collect();
                f.debug_tuple("Entries").field(&shown).finish()
            }
            FleetList::File(path) => f.debug_tuple("File").field(path).finish(),
            FleetList::TargetsQuery(sql) => f.debug_tuple("TargetsQuery").field(sql).finish(),
            FleetList::SchemasQuery(sql) => f.debug_tuple("SchemasQuery").field(sql).finish(),
        }
    }
}

/// The text of one entry of a target list, as every list reads it — a line of a target file,
/// an entry of `fleet.targets`, a row of `--targets-query` or `--schemas-query`: whitespace
/// around it (an indented line, a padded value) is not part of a name or URL and is dropped.
/// What is left is the entry, or no target ([`is_no_target`]).
pub fn list_entry(raw: &str) -> &str {
    raw.trim()
}

/// Whether `entry` (as [`list_entry`] reads it) is no target: blank, or a `#` comment. The one
/// rule of every list: a target file, whose lines these are, skips it; a query's row and an
/// entry of `fleet.targets` — data, not lines: YAML has comments of its own — are refused,
/// naming it (a `"${TENANT:-}"` left empty, a quoted `"#tenant_2"`, a `LEFT JOIN` that lost
/// a tenant is never a target skipped in silence).
pub fn is_no_target(entry: &str) -> bool {
    entry.is_empty() || entry.starts_with('#')
}

/// The most targets at once, in the file as on the command line (`--jobs`).
pub const MAX_JOBS: usize = 1024;
