//! The status of each migration, decided from the files and the ledger rows. Pure.
//!
//! Every migration (a file pair, a ledger row, or both) is in exactly one [`State`]:
//!
//! - `applied`: recorded in the ledger, and the up file's SHA-256 matches the recorded checksum
//!   (a row recorded without a checksum counts as applied);
//! - `modified`: recorded, but the up file changed since;
//! - `missing`: recorded, but no file has its version;
//! - `pending`: not recorded, and newer than every recorded version;
//! - `out_of_order`: not recorded, but older than the newest recorded version (typically a
//!   branch merged late). It still has to be applied, so it counts as pending too.
//!
//! Versions compare as integers (`9` < `10`), and ledger rows are matched to files by integer
//! version. The seed's lists and counts follow one rule: `applied` is everything recorded in
//! the ledger (applied, modified, missing), `pending` everything not recorded (pending,
//! out_of_order), so `summary.applied + summary.pending == summary.total`. The extra lists
//! (`modified`, `missing`, `out_of_order`) name the ones that need attention.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::exit;
use crate::files::MigrationSet;
use crate::ledger::{Ledger, LedgerRow};

/// The state of one migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Applied,
    Pending,
    Modified,
    Missing,
    OutOfOrder,
}

impl State {
    /// Whether the ledger records it (applied, modified or missing).
    pub fn is_recorded(self) -> bool {
        matches!(self, State::Applied | State::Modified | State::Missing)
    }

    /// Whether history diverged here (modified, missing or out of order): exit 7.
    pub fn is_diverged(self) -> bool {
        matches!(self, State::Modified | State::Missing | State::OutOfOrder)
    }

    /// The JSON spelling: `applied`, `pending`, `modified`, `missing`, `out_of_order`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Modified => "modified",
            State::Missing => "missing",
            State::OutOfOrder => "out_of_order",
        }
    }
}

/// One line of the status table / one object of `migrations[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationStatus {
    /// As in the file name (`"003"`), or as recorded for a missing migration.
    pub version: String,
    pub name: String,
    pub status: State,
    /// When it was applied, RFC 3339 in UTC (`2026-01-15T10:30:00+00:00`); null if not recorded.
    pub applied_at: Option<String>,
    /// SHA-256 of the up file; null when the file is missing.
    pub checksum: Option<String>,
    /// The checksum the ledger recorded; null when not recorded, or recorded without one.
    pub recorded_checksum: Option<String>,
}

impl MigrationStatus {
    /// `001_add_bio_to_users`, as the status table shows it.
    pub fn id(&self) -> String {
        format!("{}_{}", self.version, self.name)
    }
}

/// Counts. `applied + pending == total`; `modified` and `missing` are among `applied`,
/// `out_of_order` among `pending`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub applied: usize,
    pub pending: usize,
    pub total: usize,
    pub modified: usize,
    pub missing: usize,
    pub out_of_order: usize,
}

/// What `migrate status` reports. Field names are the JSON keys: the seed's first
/// (`tracking_table`, `applied`, `pending`, `migrations`, `summary`), then ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    /// Schema-qualified (`public.tb_confiture`), also when the table does not exist yet.
    pub tracking_table: String,
    /// Versions recorded in the ledger, in version order.
    pub applied: Vec<String>,
    /// Versions not recorded (out-of-order ones included), in version order.
    pub pending: Vec<String>,
    /// Every migration, files and ledger rows together, in version order.
    pub migrations: Vec<MigrationStatus>,
    pub summary: Summary,
    /// `user@host:port/db`, never with the password; null when not known (pure use).
    pub database: Option<String>,
    /// Whether the tracking table exists. When it does not, everything is pending (exit 2).
    pub initialised: bool,
    pub modified: Vec<String>,
    pub missing: Vec<String>,
    pub out_of_order: Vec<String>,
}

impl StatusReport {
    /// The exit code for `migrate status`: 2 when the tracking table does not exist; else 7
    /// when a migration is modified, missing or out of order (it wins over pending); else 1
    /// when some are pending; else 0.
    pub fn exit_code(&self) -> u8 {
        if !self.initialised {
            exit::NOT_INITIALISED
        } else if self.summary.modified + self.summary.missing + self.summary.out_of_order > 0 {
            exit::DIVERGED
        } else if self.summary.pending > 0 {
            exit::PENDING
        } else {
            exit::SUCCESS
        }
    }

    /// Whether everything is applied and nothing diverged.
    pub fn is_up_to_date(&self) -> bool {
        self.exit_code() == exit::SUCCESS
    }

    pub fn has_pending(&self) -> bool {
        self.summary.pending > 0
    }
}

/// Decides the status of every migration. `ledger` is `None` when the tracking table does not
/// exist; `tracking_table` is the name to report (schema-qualified where known).
pub fn report(set: &MigrationSet, ledger: Option<&Ledger>, tracking_table: &str) -> StatusReport {
    let rows: &[LedgerRow] = ledger.map(|l| l.rows.as_slice()).unwrap_or(&[]);
    let mut by_version: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    let mut unmatched: Vec<usize> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match integer_version(&row.version) {
            Some(v) => by_version.entry(v).or_default().push(i),
            None => unmatched.push(i),
        }
    }
    let newest_recorded = by_version.keys().next_back().copied();

    // (sort key, status): integer versions first in order, unparsable recorded versions last.
    let mut entries: Vec<((bool, u64, String), MigrationStatus)> = Vec::new();
    for migration in &set.migrations {
        let candidates = by_version.get_mut(&migration.version);
        let row = candidates.and_then(|indexes| {
            // The row spelled exactly like the file wins (`001` over `1`); others stay missing.
            let position = indexes
                .iter()
                .position(|&i| rows[i].version == migration.version_text)
                .unwrap_or(0);
            (!indexes.is_empty()).then(|| indexes.remove(position))
        });
        let status = match row.map(|i| &rows[i]) {
            Some(row) => MigrationStatus {
                version: migration.version_text.clone(),
                name: migration.name.clone(),
                status: match &row.checksum {
                    Some(recorded) if !recorded.eq_ignore_ascii_case(&migration.up.checksum) => {
                        State::Modified
                    }
                    _ => State::Applied,
                },
                applied_at: Some(row.applied_at.clone()),
                checksum: Some(migration.up.checksum.clone()),
                recorded_checksum: row.checksum.clone(),
            },
            None => MigrationStatus {
                version: migration.version_text.clone(),
                name: migration.name.clone(),
                status: if newest_recorded.is_some_and(|newest| migration.version < newest) {
                    State::OutOfOrder
                } else {
                    State::Pending
                },
                applied_at: None,
                checksum: Some(migration.up.checksum.clone()),
                recorded_checksum: None,
            },
        };
        entries.push((
            (false, migration.version, migration.version_text.clone()),
            status,
        ));
    }
    let leftovers = by_version
        .into_iter()
        .flat_map(|(v, indexes)| indexes.into_iter().map(move |i| (Some(v), i)));
    for (version, i) in leftovers.chain(unmatched.into_iter().map(|i| (None, i))) {
        let row = &rows[i];
        entries.push((
            (version.is_none(), version.unwrap_or(0), row.version.clone()),
            MigrationStatus {
                version: row.version.clone(),
                name: row.name.clone(),
                status: State::Missing,
                applied_at: Some(row.applied_at.clone()),
                checksum: None,
                recorded_checksum: row.checksum.clone(),
            },
        ));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let migrations: Vec<MigrationStatus> = entries.into_iter().map(|(_, s)| s).collect();

    let versions = |keep: &dyn Fn(State) -> bool| -> Vec<String> {
        migrations
            .iter()
            .filter(|m| keep(m.status))
            .map(|m| m.version.clone())
            .collect()
    };
    let applied = versions(&|s| s.is_recorded());
    let pending = versions(&|s| !s.is_recorded());
    let modified = versions(&|s| s == State::Modified);
    let missing = versions(&|s| s == State::Missing);
    let out_of_order = versions(&|s| s == State::OutOfOrder);
    let summary = Summary {
        applied: applied.len(),
        pending: pending.len(),
        total: migrations.len(),
        modified: modified.len(),
        missing: missing.len(),
        out_of_order: out_of_order.len(),
    };
    StatusReport {
        tracking_table: tracking_table.to_string(),
        applied,
        pending,
        migrations,
        summary,
        database: None,
        initialised: ledger.is_some(),
        modified,
        missing,
        out_of_order,
    }
}

/// A recorded version as an integer: digits only (`"003"` → 3); anything else matches no file.
fn integer_version(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}
