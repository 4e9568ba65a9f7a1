//! What `up`, `down`, `baseline` and `reinit` will do, decided from the files, the ledger rows
//! and the request. Pure: no IO, never panics on input. A refusal is an [`Error`] that lists every
//! offending migration in `details` and names the command that resolves it in `help`.

use std::collections::{BTreeMap, HashSet};

use crate::error::{Error, ErrorKind, Result};
use crate::files::{Migration, MigrationSet};
use crate::ledger::LedgerRow;

/// The integer version of a ledger row: digits only (`"003"` → 3), as [`crate::status`] reads
/// it; anything else matches no file. Versions compare as integers, never as strings (`9` < `10`).
pub fn row_version(row: &LedgerRow) -> Option<u64> {
    let text = row.version.as_str();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// One ledger row and the migration file it records, when that file exists.
#[derive(Debug, Clone, Copy)]
pub struct Applied<'a> {
    pub row: &'a LedgerRow,
    pub migration: Option<&'a Migration>,
}

/// The migration files matched against the ledger rows.
#[derive(Debug, Clone)]
pub struct History<'a> {
    /// Ledger rows in order of application, each with its file when there is one.
    pub applied: Vec<Applied<'a>>,
    /// Migrations with no ledger row, in version order.
    pub pending: Vec<&'a Migration>,
}

impl<'a> History<'a> {
    /// Matches rows to files by integer version. `rows` must be in order of application, as
    /// `db::ledger::read` returns them.
    pub fn new(set: &'a MigrationSet, rows: &'a [LedgerRow]) -> History<'a> {
        // The same matching as `status::report`: by integer version, the row spelled exactly
        // like the file (`001` over `1`) first; a second row for one file matches nothing.
        let mut by_version: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, row) in rows.iter().enumerate() {
            if let Some(v) = row_version(row) {
                by_version.entry(v).or_default().push(i);
            }
        }
        let mut file_of: Vec<Option<&'a Migration>> = vec![None; rows.len()];
        let mut pending = Vec::new();
        for m in &set.migrations {
            let candidates = by_version
                .get(&m.version)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let chosen = candidates
                .iter()
                .find(|&&i| rows[i].version == m.version_text)
                .or(candidates.first());
            match chosen {
                Some(&i) => file_of[i] = Some(m),
                None => pending.push(m),
            }
        }
        pending.sort_by_key(|m| m.version);
        let applied = rows
            .iter()
            .zip(file_of)
            .map(|(row, migration)| Applied { row, migration })
            .collect();
        History { applied, pending }
    }

    /// The applied row with the highest version, with that version.
    pub fn newest_applied(&self) -> Option<(u64, &'a LedgerRow)> {
        self.applied
            .iter()
            .filter_map(|a| row_version(a.row).map(|v| (v, a.row)))
            .max_by_key(|(v, _)| *v)
    }

    /// Applied migrations whose up file no longer has the recorded checksum. Rows written
    /// without a checksum cannot be checked and are trusted.
    pub fn modified(&self) -> Vec<(&'a Migration, &'a LedgerRow)> {
        self.applied
            .iter()
            .filter_map(|a| Some((a.migration?, a.row)))
            .filter(|(m, row)| is_modified(m, row))
            .collect()
    }

    /// Applied rows with no file. Rows below `first_version` belong to a squashed history:
    /// their files were removed on purpose.
    pub fn missing(&self, first_version: Option<u64>) -> Vec<&'a LedgerRow> {
        self.applied
            .iter()
            .filter(|a| a.migration.is_none())
            .filter(|a| match (first_version, row_version(a.row)) {
                (Some(first), Some(v)) => v >= first,
                _ => true,
            })
            .map(|a| a.row)
            .collect()
    }

    /// Pending migrations numbered below the newest applied one: a branch merged late.
    pub fn out_of_order(&self) -> Vec<&'a Migration> {
        match self.newest_applied() {
            Some((newest, _)) => self
                .pending
                .iter()
                .copied()
                .filter(|m| m.version < newest)
                .collect(),
            None => Vec::new(),
        }
    }
}

fn is_modified(migration: &Migration, row: &LedgerRow) -> bool {
    row.checksum
        .as_deref()
        .is_some_and(|c| !c.trim().eq_ignore_ascii_case(&migration.up.checksum))
}

fn short(checksum: &str) -> &str {
    checksum.get(..12).unwrap_or(checksum)
}

/// Versions of the set near `version`, for an error about an unknown version: how many, and
/// their ids.
fn nearby(set: &MigrationSet, version: u64) -> (usize, String) {
    let below = set
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .rev()
        .take(2);
    let above = set
        .migrations
        .iter()
        .filter(|m| m.version > version)
        .take(2);
    let mut near: Vec<&Migration> = below.chain(above).collect();
    near.sort_by_key(|m| m.version);
    let ids: Vec<String> = near.iter().map(|m| m.id()).collect();
    (ids.len(), ids.join(", "))
}

fn unknown_version(set: &MigrationSet, flag: &str, version: u64) -> Error {
    let err = Error::usage(format!(
        "{flag} {version}: no migration with version {version} in {}",
        set.dir.display()
    ));
    if set.migrations.is_empty() {
        err.with_help("the migrations directory has no migrations")
    } else {
        let help = match nearby(set, version) {
            (1, id) => format!("the only migration is {id}"),
            (_, ids) => format!("the nearest versions are {ids}"),
        };
        err.with_help(help)
    }
}

fn find(set: &MigrationSet, version: u64) -> Option<&Migration> {
    set.migrations.iter().find(|m| m.version == version)
}

/// What `up` was asked to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpRequest {
    /// Apply at most this many (≥ 1).
    pub steps: Option<u32>,
    /// Apply pending migrations up to and including this version (which must exist).
    pub target: Option<u64>,
    pub allow_out_of_order: bool,
    /// The first version of a squashed history (`CheckOptions::first_version`).
    pub first_version: Option<u64>,
}

/// The migrations `up` will apply, in order, and the pending ones it leaves for later.
#[derive(Debug, Clone, Default)]
pub struct UpPlan<'a> {
    pub apply: Vec<&'a Migration>,
    /// Pending, but beyond `steps` or `target`.
    pub skipped: Vec<&'a Migration>,
}

/// Refuses requests that make no sense whatever the database holds (before connecting).
pub fn check_up_request(set: &MigrationSet, request: &UpRequest) -> Result<()> {
    if request.steps == Some(0) {
        return Err(Error::usage("--steps 0 would apply nothing").with_help(
            "pass --steps 1 or more, or leave it out to apply every pending migration",
        ));
    }
    if let Some(target) = request.target {
        if find(set, target).is_none() {
            return Err(unknown_version(set, "--target", target));
        }
    }
    Ok(())
}

/// Refuses a history that diverged from the files: applied migrations modified or missing,
/// pending ones out of order (unless allowed). Lists every offender.
pub fn check_history(
    history: &History<'_>,
    first_version: Option<u64>,
    allow_out_of_order: bool,
) -> Result<()> {
    let modified = history.modified();
    let missing = history.missing(first_version);
    let out_of_order = if allow_out_of_order {
        Vec::new()
    } else {
        history.out_of_order()
    };
    if modified.is_empty() && missing.is_empty() && out_of_order.is_empty() {
        return Ok(());
    }
    let newest = history
        .newest_applied()
        .map(|(_, row)| row.version.clone())
        .unwrap_or_default();
    let mut counts = Vec::new();
    let mut details = Vec::new();
    let mut help = Vec::new();
    if !modified.is_empty() {
        counts.push(format!("{} applied migration(s) modified", modified.len()));
        for (m, row) in &modified {
            details.push(format!(
                "modified: {} ({}) was applied with checksum {}…, the file now has {}…",
                m.id(),
                m.up.path.display(),
                short(row.checksum.as_deref().unwrap_or("")),
                short(&m.up.checksum),
            ));
        }
        help.push(format!(
            "restore the modified files from version control; if the edits were intended, \
             run {} to accept their checksums",
            crate::hint::command(&format!("migrate reinit --through {newest}"))
        ));
    }
    if !missing.is_empty() {
        counts.push(format!("{} applied migration(s) missing", missing.len()));
        for row in &missing {
            details.push(format!(
                "missing: {}_{} is recorded as applied ({}) but its files are gone",
                row.version, row.name, row.applied_at
            ));
        }
        help.push(format!(
            "restore the missing files from version control; if they were removed on purpose, \
             run {} to forget them",
            crate::hint::command(&format!("migrate reinit --through {newest}"))
        ));
    }
    if !out_of_order.is_empty() {
        counts.push(format!(
            "{} pending migration(s) out of order",
            out_of_order.len()
        ));
        for m in &out_of_order {
            details.push(format!(
                "out of order: {} is pending but {newest} is already applied",
                m.id()
            ));
        }
        help.push(format!(
            "renumber the out-of-order migrations above {newest} (rename both files), \
             or run with `--allow-out-of-order` to apply them anyway"
        ));
    }
    let mut err = Error::new(
        ErrorKind::Diverged,
        format!(
            "the database's migration history does not match the migration files: {}",
            counts.join(", ")
        ),
    )
    .with_help(help.join("; "));
    err.details = details;
    Err(err)
}

/// Plans `up`: refuses a diverged history, then takes the pending migrations in version order,
/// limited by `target` and `steps`.
pub fn up<'a>(
    set: &'a MigrationSet,
    rows: &'a [LedgerRow],
    request: &UpRequest,
) -> Result<UpPlan<'a>> {
    check_up_request(set, request)?;
    let history = History::new(set, rows);
    check_history(&history, request.first_version, request.allow_out_of_order)?;
    let mut plan = UpPlan::default();
    let limit = request.steps.map_or(usize::MAX, |s| s as usize);
    for m in history.pending {
        let within_target = request.target.is_none_or(|t| m.version <= t);
        if within_target && plan.apply.len() < limit {
            plan.apply.push(m);
        } else {
            plan.skipped.push(m);
        }
    }
    Ok(plan)
}

/// What `down` was asked to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownRequest {
    /// Roll back this many (≥ 1); default 1 when `target` is absent.
    pub steps: Option<u32>,
    /// Roll back every migration applied with a version above this one; 0 means all.
    pub target: Option<u64>,
    /// Confirms `target: Some(0)` (roll back everything).
    pub yes: bool,
}

/// The migrations `down` will roll back, newest application first.
#[derive(Debug, Clone, Default)]
pub struct DownPlan<'a> {
    pub roll_back: Vec<&'a Migration>,
}

/// Refuses requests that make no sense whatever the database holds (before connecting).
pub fn check_down_request(set: &MigrationSet, request: &DownRequest) -> Result<()> {
    if request.steps == Some(0) {
        return Err(Error::usage("--steps 0 would roll back nothing")
            .with_help("pass --steps 1 or more (the default is 1); to roll back everything use --target 0 --yes"));
    }
    if request.steps.is_some() && request.target.is_some() {
        return Err(Error::usage("--steps and --target cannot be combined")
            .with_help("pass one of them: --steps N rolls back N migrations, --target V everything after V"));
    }
    match request.target {
        Some(0) if !request.yes => Err(Error::usage(
            "--target 0 rolls back every applied migration",
        )
        .with_help("add --yes to confirm")),
        Some(t) if t != 0 && find(set, t).is_none() => Err(unknown_version(set, "--target", t)),
        _ => Ok(()),
    }
}

/// Plans `down`: the newest applied migrations, in reverse order of application. Refuses
/// (exit 7) if one has no file or its up file was modified since it was applied, and (exit 8)
/// if one is irreversible — before anything is rolled back.
pub fn down<'a>(
    set: &'a MigrationSet,
    rows: &'a [LedgerRow],
    request: &DownRequest,
) -> Result<DownPlan<'a>> {
    check_down_request(set, request)?;
    let history = History::new(set, rows);
    let newest_first = history.applied.iter().rev();
    let chosen: Vec<&Applied<'a>> = match request.target {
        Some(t) => newest_first
            .filter(|a| row_version(a.row).is_none_or(|v| v > t))
            .collect(),
        None => newest_first
            .take(request.steps.unwrap_or(1) as usize)
            .collect(),
    };

    let mut details = Vec::new();
    for a in &chosen {
        match a.migration {
            None => details.push(format!(
                "missing: {}_{} is recorded as applied but its files are gone",
                a.row.version, a.row.name
            )),
            Some(m) if is_modified(m, a.row) => details.push(format!(
                "modified: {} ({}) changed since it was applied; its down file may not undo what was run",
                m.id(),
                m.up.path.display()
            )),
            Some(_) => {}
        }
    }
    if !details.is_empty() {
        let mut err = Error::new(
            ErrorKind::Diverged,
            format!("refusing to roll back: {} migration(s) do not match what was applied", details.len()),
        )
        .with_help(
            "restore the files from version control (`git log -- <file>` shows the applied version), then run `down` again",
        );
        err.details = details;
        return Err(err);
    }

    let roll_back: Vec<&Migration> = chosen.iter().filter_map(|a| a.migration).collect();
    let irreversible: Vec<&&Migration> = roll_back.iter().filter(|m| m.down.irreversible).collect();
    if !irreversible.is_empty() {
        let mut err = Error::new(
            ErrorKind::Irreversible,
            format!(
                "refusing to roll back: {} migration(s) are irreversible",
                irreversible.len()
            ),
        )
        .with_help(format!(
            "an irreversible migration cannot be rolled back; undo its effect with a new migration \
             ({}) and apply it with {}",
            crate::hint::command("migrate generate NAME"),
            crate::hint::command("migrate up")
        ));
        err.details = irreversible
            .iter()
            .map(|m| {
                format!(
                    "irreversible: {} ({} is marked `-- confiture:irreversible`)",
                    m.id(),
                    m.down.path.display()
                )
            })
            .collect();
        return Err(err);
    }
    Ok(DownPlan { roll_back })
}

/// The migrations `baseline --through VERSION` records without running them.
#[derive(Debug, Clone, Default)]
pub struct BaselinePlan<'a> {
    /// Not yet recorded, version ≤ `through`: rows will be written.
    pub record: Vec<&'a Migration>,
    /// Already recorded: left as they are.
    pub already: Vec<&'a Migration>,
}

/// Plans `baseline`: every migration up to `through` that has no row gets one. Rows already
/// present (including rows above `through`) are never changed, so baselining is safe to repeat
/// and can fill a gap below applied history.
pub fn baseline<'a>(
    set: &'a MigrationSet,
    rows: &'a [LedgerRow],
    through: u64,
) -> Result<BaselinePlan<'a>> {
    if find(set, through).is_none() {
        return Err(unknown_version(set, "--through", through));
    }
    let history = History::new(set, rows);
    let recorded: HashSet<u64> = history
        .applied
        .iter()
        .filter_map(|a| a.migration.map(|m| m.version))
        .collect();
    let mut plan = BaselinePlan::default();
    for m in set.migrations.iter().filter(|m| m.version <= through) {
        if recorded.contains(&m.version) {
            plan.already.push(m);
        } else {
            plan.record.push(m);
        }
    }
    Ok(plan)
}

/// What `reinit` does: every ledger row is deleted, and a row is written for each migration up
/// to `through` (all when absent) with its current checksum — confiture's semantics.
#[derive(Debug, Clone, Default)]
pub struct ReinitPlan<'a> {
    pub record: Vec<&'a Migration>,
    /// Rows deleted and not written again: the next `up` will run these migrations if their
    /// files exist. Reported so a dry run shows it.
    pub forget: Vec<&'a LedgerRow>,
}

pub fn reinit<'a>(
    set: &'a MigrationSet,
    rows: &'a [LedgerRow],
    through: Option<u64>,
) -> Result<ReinitPlan<'a>> {
    if let Some(t) = through {
        if find(set, t).is_none() {
            return Err(unknown_version(set, "--through", t));
        }
    }
    let record: Vec<&Migration> = set
        .migrations
        .iter()
        .filter(|m| through.is_none_or(|t| m.version <= t))
        .collect();
    let kept: HashSet<u64> = record.iter().map(|m| m.version).collect();
    let forget = rows
        .iter()
        .filter(|r| row_version(r).is_none_or(|v| !kept.contains(&v)))
        .collect();
    Ok(ReinitPlan { record, forget })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::files::{checksum, SqlFile, TransactionMode};

    fn file(path: String, text: &str, irreversible: bool) -> SqlFile {
        SqlFile {
            path: PathBuf::from(path),
            text: text.to_string(),
            checksum: checksum(text.as_bytes()),
            mode: TransactionMode::Transaction,
            irreversible,
        }
    }

    fn migration(version: u64, name: &str) -> Migration {
        let version_text = format!("{version:03}");
        Migration {
            version,
            up: file(
                format!("m/{version_text}_{name}.up.sql"),
                &format!("-- up {version}\n"),
                false,
            ),
            down: file(
                format!("m/{version_text}_{name}.down.sql"),
                &format!("-- down {version}\n"),
                false,
            ),
            version_text,
            name: name.to_string(),
        }
    }

    fn set(versions: &[u64]) -> MigrationSet {
        MigrationSet {
            dir: PathBuf::from("m"),
            migrations: versions
                .iter()
                .map(|v| migration(*v, &format!("m{v}")))
                .collect(),
        }
    }

    fn row(m: &Migration) -> LedgerRow {
        LedgerRow {
            version: m.version_text.clone(),
            name: m.name.clone(),
            applied_at: "2026-01-15T10:30:00+00:00".to_string(),
            execution_time_ms: Some(1),
            checksum: Some(m.up.checksum.clone()),
            applied_by: Some("postgres".to_string()),
        }
    }

    fn rows(set: &MigrationSet, versions: &[u64]) -> Vec<LedgerRow> {
        versions
            .iter()
            .map(|v| {
                row(set
                    .migrations
                    .iter()
                    .find(|m| m.version == *v)
                    .expect("version in set"))
            })
            .collect()
    }

    fn versions(ms: &[&Migration]) -> Vec<u64> {
        ms.iter().map(|m| m.version).collect()
    }

    /// `status` reports and `plan` acts on the same classification (one rule, two callers).
    #[test]
    fn history_agrees_with_status() {
        let mut s = set(&[1, 2, 3, 4, 5, 6]);
        let mut r = rows(&s, &[1, 2, 4, 5]);
        s.migrations[1].up.checksum = checksum(b"edited");
        s.migrations.retain(|m| m.version != 5);
        let mut spelled = r[0].clone();
        spelled.version = "1".into();
        r.push(spelled);
        r.push(LedgerRow {
            version: "abc".into(),
            ..r[0].clone()
        });
        r.push(LedgerRow {
            version: "4".into(),
            ..r[2].clone()
        });

        let ledger = crate::ledger::Ledger {
            table: "t".into(),
            rows: r.clone(),
        };
        let status = crate::status::report(&s, Some(&ledger), "t");
        let h = History::new(&s, &r);
        assert_eq!(
            (
                status.modified.len(),
                status.missing.len(),
                status.out_of_order.len()
            ),
            (1, 4, 1)
        );
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        assert_eq!(
            sorted(
                h.modified()
                    .iter()
                    .map(|(m, _)| m.version_text.clone())
                    .collect()
            ),
            sorted(status.modified)
        );
        assert_eq!(
            sorted(h.missing(None).iter().map(|r| r.version.clone()).collect()),
            sorted(status.missing)
        );
        assert_eq!(
            sorted(
                h.out_of_order()
                    .iter()
                    .map(|m| m.version_text.clone())
                    .collect()
            ),
            sorted(status.out_of_order)
        );
        assert_eq!(
            sorted(h.pending.iter().map(|m| m.version_text.clone()).collect()),
            sorted(status.pending)
        );
    }

    #[test]
    fn up_applies_pending_in_integer_order() {
        let s = set(&[1, 2, 9, 10]);
        let r = rows(&s, &[1]);
        let plan = up(&s, &r, &UpRequest::default()).unwrap();
        assert_eq!(versions(&plan.apply), [2, 9, 10]);
        assert!(plan.skipped.is_empty());
    }

    #[test]
    fn up_matches_rows_by_integer_version() {
        let s = set(&[3, 4]);
        let mut r = rows(&s, &[3]);
        r[0].version = "3".to_string();
        let plan = up(&s, &r, &UpRequest::default()).unwrap();
        assert_eq!(versions(&plan.apply), [4]);
    }

    #[test]
    fn up_limits_by_steps_and_target() {
        let s = set(&[1, 2, 3, 4, 5]);
        let r = rows(&s, &[1]);
        let plan = up(
            &s,
            &r,
            &UpRequest {
                steps: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            (versions(&plan.apply), versions(&plan.skipped)),
            (vec![2, 3], vec![4, 5])
        );
        let plan = up(
            &s,
            &r,
            &UpRequest {
                target: Some(4),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            (versions(&plan.apply), versions(&plan.skipped)),
            (vec![2, 3, 4], vec![5])
        );
        let plan = up(
            &s,
            &r,
            &UpRequest {
                target: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(plan.apply.is_empty());
    }

    #[test]
    fn up_rejects_zero_steps_and_unknown_target() {
        let s = set(&[1, 2, 5, 6, 7]);
        let err = up(
            &s,
            &[],
            &UpRequest {
                steps: Some(0),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage);
        let err = up(
            &s,
            &[],
            &UpRequest {
                target: Some(4),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage);
        let help = err.help.unwrap();
        assert!(
            help.contains("001_m1") && help.contains("002_m2") && help.contains("006_m6"),
            "{help}"
        );
        assert!(!help.contains("007"), "{help}");
    }

    #[test]
    fn up_refuses_modified_missing_and_out_of_order_listing_each() {
        let mut s = set(&[1, 2, 3, 4, 5]);
        let r = rows(&s, &[1, 2, 4, 5]);
        s.migrations[1].up.checksum = checksum(b"edited");
        s.migrations.retain(|m| m.version != 5);
        let err = up(&s, &r, &UpRequest::default()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Diverged);
        assert_eq!(err.details.len(), 3, "{:?}", err.details);
        assert!(
            err.details[0].starts_with("modified: 002_m2"),
            "{:?}",
            err.details
        );
        assert!(
            err.details[1].starts_with("missing: 005_m5"),
            "{:?}",
            err.details
        );
        assert!(
            err.details[2].starts_with("out of order: 003_m3"),
            "{:?}",
            err.details
        );
        let help = err.help.unwrap();
        assert!(
            help.contains("reinit --through 005") && help.contains("--allow-out-of-order"),
            "{help}"
        );
    }

    #[test]
    fn out_of_order_is_applied_when_allowed() {
        let s = set(&[1, 2, 3]);
        let r = rows(&s, &[1, 3]);
        let req = UpRequest {
            allow_out_of_order: true,
            ..Default::default()
        };
        assert_eq!(versions(&up(&s, &r, &req).unwrap().apply), [2]);
    }

    #[test]
    fn rows_below_first_version_are_a_squashed_history_not_missing() {
        let s = set(&[10, 11]);
        let mut r = rows(&s, &[10]);
        let mut old = r[0].clone();
        old.version = "003".to_string();
        r.insert(0, old);
        let req = UpRequest {
            first_version: Some(10),
            ..Default::default()
        };
        assert_eq!(versions(&up(&s, &r, &req).unwrap().apply), [11]);
        assert_eq!(
            up(&s, &r, &UpRequest::default()).unwrap_err().kind,
            ErrorKind::Diverged
        );
    }

    #[test]
    fn rows_without_checksum_are_trusted() {
        let s = set(&[1]);
        let mut r = rows(&s, &[1]);
        r[0].checksum = None;
        assert!(up(&s, &r, &UpRequest::default()).unwrap().apply.is_empty());
    }

    #[test]
    fn down_rolls_back_in_reverse_application_order() {
        let s = set(&[1, 2, 3, 4]);
        // Applied out of order: 1, 3, then 2.
        let r = rows(&s, &[1, 3, 2]);
        let plan = down(&s, &r, &DownRequest::default()).unwrap();
        assert_eq!(versions(&plan.roll_back), [2]);
        let plan = down(
            &s,
            &r,
            &DownRequest {
                steps: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(versions(&plan.roll_back), [2, 3]);
        let plan = down(
            &s,
            &r,
            &DownRequest {
                target: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(versions(&plan.roll_back), [2, 3]);
        let plan = down(
            &s,
            &r,
            &DownRequest {
                target: Some(0),
                yes: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(versions(&plan.roll_back), [2, 3, 1]);
        let plan = down(&s, &[], &DownRequest::default()).unwrap();
        assert!(plan.roll_back.is_empty());
    }

    #[test]
    fn down_rejects_bad_requests() {
        let s = set(&[1, 2]);
        let r = rows(&s, &[1, 2]);
        for req in [
            DownRequest {
                steps: Some(0),
                ..Default::default()
            },
            DownRequest {
                target: Some(0),
                ..Default::default()
            },
            DownRequest {
                target: Some(7),
                yes: true,
                ..Default::default()
            },
            DownRequest {
                steps: Some(1),
                target: Some(1),
                ..Default::default()
            },
        ] {
            assert_eq!(
                down(&s, &r, &req).unwrap_err().kind,
                ErrorKind::Usage,
                "{req:?}"
            );
        }
    }

    #[test]
    fn down_refuses_irreversible_modified_and_missing() {
        let mut s = set(&[1, 2, 3]);
        let r = rows(&s, &[1, 2, 3]);
        s.migrations[2].down.irreversible = true;
        let err = down(&s, &r, &DownRequest::default()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Irreversible);
        assert!(err.details[0].contains("003_m3"), "{:?}", err.details);
        // Rolling back only 1..=2 past it is still refused, since 3 comes first.
        let err = down(
            &s,
            &r,
            &DownRequest {
                target: Some(1),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Irreversible);

        s.migrations[2].down.irreversible = false;
        s.migrations[2].up.checksum = checksum(b"edited");
        assert_eq!(
            down(&s, &r, &DownRequest::default()).unwrap_err().kind,
            ErrorKind::Diverged
        );
        s.migrations.pop();
        let err = down(&s, &r, &DownRequest::default()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Diverged);
        assert!(
            err.details[0].starts_with("missing: 003_m3"),
            "{:?}",
            err.details
        );
    }

    #[test]
    fn baseline_records_only_what_is_missing_through_the_version() {
        let s = set(&[1, 2, 3, 4]);
        let r = rows(&s, &[2]);
        let plan = baseline(&s, &r, 3).unwrap();
        assert_eq!(
            (versions(&plan.record), versions(&plan.already)),
            (vec![1, 3], vec![2])
        );
        assert_eq!(baseline(&s, &r, 9).unwrap_err().kind, ErrorKind::Usage);
    }

    #[test]
    fn reinit_replaces_every_row_and_reports_the_forgotten() {
        let s = set(&[1, 2, 3]);
        let mut r = rows(&s, &[1, 2, 3]);
        r.push(LedgerRow {
            version: "099".into(),
            name: "gone".into(),
            ..r[0].clone()
        });
        let plan = reinit(&s, &r, Some(2)).unwrap();
        assert_eq!(versions(&plan.record), [1, 2]);
        let forgotten: Vec<&str> = plan.forget.iter().map(|r| r.version.as_str()).collect();
        assert_eq!(forgotten, ["003", "099"]);
        assert_eq!(versions(&reinit(&s, &r, None).unwrap().record), [1, 2, 3]);
        assert_eq!(reinit(&s, &r, Some(5)).unwrap_err().kind, ErrorKind::Usage);
    }
}
