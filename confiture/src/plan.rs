//! What `up`, `down`, `baseline` and `reinit` will do, decided from the files, the ledger rows
//! and the request. Pure: no IO, never panics on input. A refusal is an [`Error`] that lists every
//! offending migration in `details` and names the command that resolves it in `help`.
//!
//! Which row records which file is [`crate::history`]'s rule, the same `status` shows; a plan
//! names each row it deletes or rewrites by that row's own `version`.

use crate::diagnostic::Diagnostic;
use crate::error::{Error, ErrorKind, Result};
use crate::files::{Migration, MigrationSet, Origin};
use crate::history::{recorded_checksum, FileErrors, History, Recorded, State};
use crate::ledger::{LedgerRow, NewRow, Rewrite, RowKind, RowUpdate};

/// The command that accepts the files as they are, as hints name it: `reinit` without
/// `--through` only rewrites rows the ledger already has, so it is safe to suggest.
/// The suggestion that accepts edits or forgets rows: plain `reinit`, which only rewrites the
/// rows the ledger has.
fn lint_help() -> String {
    format!(
        "fix the files listed ({} explains each rule), then run again",
        crate::hint::command("lint")
    )
}

fn reinit_hint() -> String {
    crate::hint::command("migrate reinit")
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
    /// Apply pending migrations older than the newest applied one (refused otherwise).
    pub allow_out_of_order: bool,
    /// The first version of a squashed history (`CheckOptions::first_version`).
    pub first_version: Option<u64>,
}

/// The migrations `up` will apply, in order, and the pending ones it leaves for later.
#[derive(Debug, Clone, Default)]
pub struct UpPlan<'a> {
    /// The migrations to apply, in order.
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

/// The invalid-files error: [`crate::files::refusal`], `nothing was run`.
fn invalid_files(set: &MigrationSet, errors: &[&Diagnostic], help: String) -> Error {
    crate::files::refusal(&set.dir, errors.iter().copied(), "nothing was run").with_help(help)
}

/// Refuses (exit 5, before connecting) an `up` that could run a migration whose files have
/// errors: every version up to `--target` (all without one; `--steps` is decided by the ledger,
/// so it does not narrow this), and any `.sql` file whose name gives no version. A broken draft
/// above `--target` does not stop it.
pub fn check_up_files(
    set: &MigrationSet,
    errors: &FileErrors<'_>,
    target: Option<u64>,
) -> Result<()> {
    let blocking = errors.blocking_up(target);
    if blocking.is_empty() {
        return Ok(());
    }
    let mut help = lint_help();
    // The migrations before the first broken one can still be applied on their own.
    if errors.unversioned().is_empty() {
        if let Some(first) = errors.first_version() {
            if let Some(before) = set.migrations.iter().rev().find(|m| m.version < first) {
                help.push_str(&format!(
                    "; {} stops before {}",
                    crate::hint::command(&format!("migrate up --target {}", before.version_text)),
                    broken_id(set, errors, first)
                ));
            }
        }
    }
    Err(invalid_files(set, &blocking, help))
}

/// `003_draft` for the broken version `version`.
fn broken_id(set: &MigrationSet, errors: &FileErrors<'_>, version: u64) -> String {
    find(set, version)
        .map(Migration::id)
        .or_else(|| {
            errors
                .drafts()
                .find(|d| d.version == version)
                .map(|d| format!("{}_{}", d.version_text, d.name))
        })
        .unwrap_or_else(|| version.to_string())
}

/// `modified: 002_t2 (m/002_t2.up.sql) was applied with checksum 3c7e…, the file now has 91a0…`
fn modified_detail(m: &Migration, row: &LedgerRow) -> String {
    format!(
        "modified: {} ({}) was applied with checksum {}…, the file now has {}…",
        m.id(),
        m.up.path.display(),
        short(recorded_checksum(row).unwrap_or("")),
        short(&m.up.checksum),
    )
}

fn missing_detail(r: &Recorded<'_>) -> String {
    format!(
        "missing: {} is recorded as applied ({}) but its files are gone",
        r.id(),
        r.row.applied_at
    )
}

fn duplicate_detail(r: &Recorded<'_>) -> String {
    match r.migration {
        Some(m) => format!(
            "duplicate: row `{}` records {} a second time",
            r.row.version,
            m.id()
        ),
        None => format!("duplicate: row `{}`", r.row.version),
    }
}

/// Refuses a history that diverged from the files: applied migrations modified or missing,
/// versions recorded twice, pending ones out of order (unless allowed). Lists every offender.
pub fn check_history(history: &History<'_>, allow_out_of_order: bool) -> Result<()> {
    let modified = history.modified();
    let missing = history.missing();
    let duplicates = history.duplicates();
    let out_of_order = if allow_out_of_order {
        Vec::new()
    } else {
        history.out_of_order()
    };
    if modified.is_empty() && missing.is_empty() && duplicates.is_empty() && out_of_order.is_empty()
    {
        return Ok(());
    }
    let mut counts = Vec::new();
    let mut details = Vec::new();
    let mut help = Vec::new();
    if !modified.is_empty() {
        counts.push(format!("{} applied migration(s) modified", modified.len()));
        for r in &modified {
            if let Some(m) = r.migration {
                details.push(modified_detail(m, r.row));
            }
        }
        help.push(format!(
            "restore the modified files from version control; if the edits were intended, \
             {} accepts their checksums (`--dry-run` shows the rows first)",
            reinit_hint()
        ));
    }
    if !missing.is_empty() {
        counts.push(format!("{} applied migration(s) missing", missing.len()));
        details.extend(missing.iter().map(|r| missing_detail(r)));
        help.push(format!(
            "restore the missing files from version control; if they were squashed into a \
             schema snapshot, set `first_version` in {}; if they were removed on purpose, {} \
             forgets their rows",
            crate::workspace::SETTINGS_TABLES,
            reinit_hint()
        ));
    }
    if !duplicates.is_empty() {
        counts.push(format!("{} version(s) recorded twice", duplicates.len()));
        details.extend(duplicates.iter().map(|r| duplicate_detail(r)));
        help.push(format!("{} keeps one row per migration", reinit_hint()));
    }
    if !out_of_order.is_empty() {
        let newest = history
            .newest_recorded()
            .map(|r| r.row.version.clone())
            .unwrap_or_default();
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
    let history = History::new(&set.migrations, rows, request.first_version);
    check_history(&history, request.allow_out_of_order)
        .map_err(|err| newer_database(set, &history, err))?;
    let mut plan = UpPlan::default();
    let limit = request.steps.map_or(usize::MAX, |s| s as usize);
    for m in history.pending() {
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
    /// Roll back migrations whose up file changed since they were applied, instead of refusing.
    pub allow_modified: bool,
    /// The first version of a squashed history (`CheckOptions::first_version`).
    pub first_version: Option<u64>,
}

/// One migration to roll back, with the ledger row that records it: that row (by its own
/// `version`) is the one deleted.
#[derive(Debug, Clone, Copy)]
pub struct Rollback<'a> {
    /// The migration's files (the down file runs).
    pub migration: &'a Migration,
    /// The row that records it (deleted).
    pub row: &'a LedgerRow,
}

/// The migrations `down` will roll back, newest application first.
#[derive(Debug, Clone, Default)]
pub struct DownPlan<'a> {
    /// What to roll back, newest application first.
    pub roll_back: Vec<Rollback<'a>>,
    /// Among them, those whose up file changed since they were applied (`allow_modified`).
    pub modified: Vec<Rollback<'a>>,
}

impl<'a> DownPlan<'a> {
    /// The migrations, in the order they will be rolled back.
    pub fn migrations(&self) -> Vec<&'a Migration> {
        self.roll_back.iter().map(|r| r.migration).collect()
    }
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

/// Plans `down`: the newest applied migrations, in reverse order of application. Before anything
/// is rolled back it refuses (exit 7) a row with no file, a version recorded twice (deleting one
/// row would leave the other saying the migration is applied) and, unless `allow_modified`, an
/// up file modified since it was applied; then (exit 8) a row of a squashed history and an
/// irreversible migration.
pub fn down<'a>(
    set: &'a MigrationSet,
    rows: &'a [LedgerRow],
    request: &DownRequest,
) -> Result<DownPlan<'a>> {
    check_down_request(set, request)?;
    down_plan(set, rows, request).map_err(|err| {
        let history = History::new(&set.migrations, rows, request.first_version);
        newer_database(set, &history, err)
    })
}

/// A binary older than the database: the set is embedded and the ledger records versions
/// above the newest it knows. Says so first, with those versions and the build that embeds
/// the set; other refusals are left as they are.
fn newer_database(set: &MigrationSet, history: &History<'_>, mut err: Error) -> Error {
    let Origin::Embedded { package, version } = &set.origin else {
        return err;
    };
    if err.kind != ErrorKind::Diverged {
        return err;
    }
    let newest_migration = set.migrations.iter().max_by_key(|m| m.version);
    let newest = newest_migration.map(|m| m.version);
    let newer: Vec<&str> = history
        .missing()
        .into_iter()
        .filter(|r| {
            r.version
                .as_ref()
                .is_some_and(|v| newest.is_none_or(|n| v.number() > n))
        })
        .map(|r| r.row.version.as_str())
        .collect();
    if newer.is_empty() {
        return err;
    }
    let knows = match newest_migration {
        Some(m) => format!("embeds migrations up to {}", m.version_text),
        None => "embeds no migration".to_string(),
    };
    err.details.insert(
        0,
        format!(
            "this binary ({package} {version}) {knows}; the database also has {} applied, \
             recorded by a newer build",
            newer.join(", ")
        ),
    );
    let mine = format!(
        "run the newer build of {package} that applied them (its embedded down files roll them \
         back), or build this one from a checkout that has their files"
    );
    err.help = Some(match err.help.take() {
        Some(help) => format!("{mine}; {help}"),
        None => mine,
    });
    err
}

fn down_plan<'a>(
    set: &'a MigrationSet,
    rows: &'a [LedgerRow],
    request: &DownRequest,
) -> Result<DownPlan<'a>> {
    let history = History::new(&set.migrations, rows, request.first_version);
    let newest_first = history.recorded.iter().rev();
    let chosen: Vec<&Recorded<'a>> = match request.target {
        Some(t) => newest_first
            .filter(|r| r.version.as_ref().is_none_or(|v| v.number() > t))
            .collect(),
        None => newest_first
            .take(request.steps.unwrap_or(1) as usize)
            .collect(),
    };

    let mut details = Vec::new();
    let mut modified = Vec::new();
    for r in &chosen {
        match r.state {
            State::Missing => details.push(missing_detail(r)),
            State::Duplicate => details.push(duplicate_detail(r)),
            State::Modified | State::Applied => {
                let Some(m) = r.migration else { continue };
                for other in history.duplicates_of(m) {
                    details.push(duplicate_detail(other));
                }
                if r.state == State::Modified {
                    if request.allow_modified {
                        modified.push(Rollback {
                            migration: m,
                            row: r.row,
                        });
                    } else {
                        details.push(format!(
                            "{}; its down file may not undo what was run",
                            modified_detail(m, r.row)
                        ));
                    }
                }
            }
            State::Squashed | State::Pending | State::OutOfOrder => {}
        }
    }
    details.dedup();
    if !details.is_empty() {
        let mut help = vec![
            "restore the files from version control (`git log -- <file>` shows the applied \
             version), then run `down` again"
                .to_string(),
        ];
        if chosen.iter().any(|r| r.state == State::Modified) && !request.allow_modified {
            help.push(
                "if the down file still undoes what was applied, pass `--allow-modified`".into(),
            );
        }
        if chosen
            .iter()
            .any(|r| matches!(r.state, State::Duplicate | State::Missing))
            || details.iter().any(|d| d.starts_with("duplicate:"))
        {
            help.push(format!(
                "{} keeps one row per migration and forgets rows with no file",
                reinit_hint()
            ));
        }
        let mut err = Error::new(
            ErrorKind::Diverged,
            format!(
                "refusing to roll back: {} migration(s) do not match what was applied",
                details.len()
            ),
        )
        .with_help(help.join("; "));
        err.details = details;
        return Err(err);
    }

    let squashed: Vec<&&Recorded<'a>> = chosen
        .iter()
        .filter(|r| r.state == State::Squashed)
        .collect();
    let roll_back: Vec<Rollback<'a>> = chosen
        .iter()
        .filter_map(|r| {
            Some(Rollback {
                migration: r.matched()?,
                row: r.row,
            })
        })
        .collect();
    let irreversible: Vec<&Rollback<'a>> = roll_back
        .iter()
        .filter(|r| r.migration.down.irreversible)
        .collect();
    if !irreversible.is_empty() || !squashed.is_empty() {
        let mut err = Error::new(
            ErrorKind::Irreversible,
            format!(
                "refusing to roll back: {} migration(s) are irreversible",
                irreversible.len() + squashed.len()
            ),
        );
        let mut help = Vec::new();
        if !irreversible.is_empty() {
            help.push(format!(
                "an irreversible migration cannot be rolled back; undo its effect with a new \
                 migration ({}) and apply it with {}",
                crate::hint::command("migrate generate NAME"),
                crate::hint::command("migrate up")
            ));
        }
        if !squashed.is_empty() {
            help.push(
                "rows below `first_version` belong to the history squashed into a schema \
                 snapshot and have no down file; roll back fewer migrations (`--steps N`)"
                    .to_string(),
            );
        }
        err.details = irreversible
            .iter()
            .map(|r| {
                format!(
                    "irreversible: {} ({} is marked `-- confiture:irreversible`)",
                    r.migration.id(),
                    r.migration.down.path.display()
                )
            })
            .chain(squashed.iter().map(|r| {
                format!(
                    "squashed: {} is below first_version {}: its files were squashed away",
                    r.id(),
                    request.first_version.unwrap_or(1)
                )
            }))
            .collect();
        return Err(err.with_help(help.join("; ")));
    }
    Ok(DownPlan {
        roll_back,
        modified,
    })
}

/// Refuses (exit 5) a `down` that would run files with errors: a migration it rolls back whose
/// files (its down file, or its pair) have an error. Errors elsewhere — a draft being written —
/// do not stop it.
pub fn check_down_files(
    set: &MigrationSet,
    plan: &DownPlan<'_>,
    errors: &FileErrors<'_>,
) -> Result<()> {
    let blocking: Vec<&Diagnostic> = plan
        .roll_back
        .iter()
        .flat_map(|r| errors.of(r.migration.version).iter().copied())
        .collect();
    if blocking.is_empty() {
        return Ok(());
    }
    Err(invalid_files(set, &blocking, lint_help()))
}

/// Refuses (exit 5) a `reinit` that would write the checksum of a file with errors: a row it
/// accepts or a migration it records. Rows it keeps or forgets, and drafts it leaves alone, do
/// not stop it.
pub fn check_reinit_files(
    set: &MigrationSet,
    plan: &ReinitPlan<'_>,
    errors: &FileErrors<'_>,
) -> Result<()> {
    let blocking: Vec<&Diagnostic> = plan
        .steps
        .iter()
        .filter(|s| matches!(s.action, ReinitAction::Accept | ReinitAction::Record))
        .filter_map(|s| s.migration)
        .flat_map(|m| errors.of(m.version).iter().copied())
        .collect();
    if blocking.is_empty() {
        return Ok(());
    }
    Err(invalid_files(set, &blocking, lint_help()))
}

/// The migrations `baseline --through VERSION` records without running them.
#[derive(Debug, Clone, Default)]
pub struct BaselinePlan<'a> {
    /// Not yet recorded, version ≤ `through`: rows will be written.
    pub record: Vec<&'a Migration>,
    /// Already recorded: left as they are.
    pub already: Vec<&'a Migration>,
}

impl BaselinePlan<'_> {
    /// The ledger rewrite that carries it out: one `_baseline` row per recorded migration.
    pub fn rewrite(&self) -> Rewrite {
        Rewrite {
            insert: new_rows(&self.record, RowKind::Baseline),
            ..Rewrite::default()
        }
    }
}

fn new_rows(migrations: &[&Migration], kind: RowKind) -> Vec<NewRow> {
    migrations
        .iter()
        .map(|m| NewRow {
            version: m.version_text.clone(),
            name: m.name.clone(),
            checksum: m.up.checksum.clone(),
            kind,
        })
        .collect()
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
    let history = History::new(&set.migrations, rows, None);
    let mut plan = BaselinePlan::default();
    for m in set.migrations.iter().filter(|m| m.version <= through) {
        if history.row_of(m).is_some() {
            plan.already.push(m);
        } else {
            plan.record.push(m);
        }
    }
    Ok(plan)
}

/// What `reinit` does to one ledger row, or to one file with no row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReinitAction {
    /// The row matches its file: left as it is.
    Keep,
    /// The row is rewritten in place to match its file (checksum, or the version's spelling,
    /// or the name); `applied_at` and `execution_time_ms` stay.
    Accept,
    /// A file with no row, through `--through`: recorded as applied without running it.
    Record,
    /// The row is deleted: its file is gone, it is a second row for one version, or it is
    /// above `--through`. When its file is on disk, the next `up` runs that migration.
    Forget,
}

/// One line of a reinit plan.
#[derive(Debug, Clone, Copy)]
pub struct ReinitStep<'a> {
    /// What happens to it.
    pub action: ReinitAction,
    /// The row as it is (none for `Record`).
    pub row: Option<&'a LedgerRow>,
    /// The file on disk for this version, if any.
    pub migration: Option<&'a Migration>,
}

/// What `reinit` does: rows the ledger already has are kept and, where the file changed,
/// rewritten in place to accept it; rows with no file and second rows for a version are
/// forgotten. Only with `--through V` are files without a row recorded (those up to V), and
/// rows above V forgotten (confiture's semantics for `--through`). Rows of a squashed history
/// are kept as they are.
#[derive(Debug, Clone, Default)]
pub struct ReinitPlan<'a> {
    /// Every row, in order of application, then every file recorded.
    pub steps: Vec<ReinitStep<'a>>,
}

impl<'a> ReinitPlan<'a> {
    /// The steps with this action, in order.
    pub fn with(&self, action: ReinitAction) -> impl Iterator<Item = &ReinitStep<'a>> {
        self.steps.iter().filter(move |s| s.action == action)
    }

    /// The ledger rewrite that carries it out, each row addressed by its own `version`.
    pub fn rewrite(&self) -> Rewrite {
        let mut rewrite = Rewrite::default();
        for step in &self.steps {
            match (step.action, step.row, step.migration) {
                (ReinitAction::Forget, Some(row), _) => rewrite.delete.push(row.version.clone()),
                (ReinitAction::Accept, Some(row), Some(m)) => rewrite.update.push(RowUpdate {
                    key: row.version.clone(),
                    version: m.version_text.clone(),
                    name: m.name.clone(),
                    checksum: m.up.checksum.clone(),
                }),
                (ReinitAction::Record, _, Some(m)) => {
                    rewrite.insert.extend(new_rows(&[m], RowKind::Reinit))
                }
                _ => {}
            }
        }
        rewrite
    }
}

/// Whether a row already says what its file says: checksum (exactly as confiture writes
/// it), version spelling and name.
fn row_is_current(m: &Migration, row: &LedgerRow) -> bool {
    row.checksum.as_deref() == Some(m.up.checksum.as_str())
        && row.version == m.version_text
        && row.name == m.name
}

/// Plans `reinit` (see [`ReinitPlan`]). `through` must name a migration file.
pub fn reinit<'a>(
    set: &'a MigrationSet,
    rows: &'a [LedgerRow],
    through: Option<u64>,
    first_version: Option<u64>,
) -> Result<ReinitPlan<'a>> {
    if let Some(t) = through {
        if find(set, t).is_none() {
            return Err(unknown_version(set, "--through", t));
        }
    }
    let history = History::new(&set.migrations, rows, first_version);
    let above_through = |r: &Recorded<'_>| {
        through.is_some_and(|t| r.version.as_ref().is_none_or(|v| v.number() > t))
    };
    let mut steps: Vec<ReinitStep<'a>> = history
        .recorded
        .iter()
        .map(|r| {
            let action = match r.state {
                State::Squashed => ReinitAction::Keep,
                _ if above_through(r) => ReinitAction::Forget,
                State::Applied | State::Modified => match r.migration {
                    Some(m) if row_is_current(m, r.row) => ReinitAction::Keep,
                    _ => ReinitAction::Accept,
                },
                State::Missing | State::Duplicate | State::Pending | State::OutOfOrder => {
                    ReinitAction::Forget
                }
            };
            ReinitStep {
                action,
                row: Some(r.row),
                migration: r.migration,
            }
        })
        .collect();
    if let Some(t) = through {
        steps.extend(
            history
                .pending()
                .filter(|m| m.version <= t)
                .map(|m| ReinitStep {
                    action: ReinitAction::Record,
                    row: None,
                    migration: Some(m),
                }),
        );
    }
    Ok(ReinitPlan { steps })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::files::{checksum, SqlFile, TransactionMode};

    fn file(path: String, text: &str, irreversible: bool) -> SqlFile {
        SqlFile::new(path, text, TransactionMode::Transaction, irreversible)
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
        MigrationSet::new(
            PathBuf::from("m"),
            versions
                .iter()
                .map(|v| migration(*v, &format!("m{v}")))
                .collect(),
        )
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

    fn rolled(plan: &DownPlan<'_>) -> Vec<u64> {
        versions(&plan.migrations())
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
        // Another tool's spelling of the same checksum is the same checksum.
        r[0].checksum = r[0]
            .checksum
            .as_ref()
            .map(|c| format!("{}  ", c.to_uppercase()));

        let ledger = crate::ledger::Ledger {
            table: "t".into(),
            rows: r.clone(),
        };
        let status = crate::status::report(&s, Some(&ledger), "t");
        let h = History::new(&s.migrations, &r, None);
        assert_eq!(
            (
                status.modified.len(),
                status.missing.len(),
                status.out_of_order.len(),
                status.duplicate.len()
            ),
            (1, 2, 1, 2)
        );
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let texts = |rs: Vec<&Recorded<'_>>| -> Vec<String> {
            sorted(rs.iter().map(|r| r.row.version.clone()).collect())
        };
        assert_eq!(texts(h.modified()), sorted(status.modified.clone()));
        assert_eq!(texts(h.missing()), sorted(status.missing.clone()));
        assert_eq!(texts(h.duplicates()), sorted(status.duplicate.clone()));
        assert_eq!(
            sorted(
                h.out_of_order()
                    .iter()
                    .map(|m| m.version_text.clone())
                    .collect()
            ),
            sorted(status.out_of_order.clone())
        );
        assert_eq!(
            sorted(h.pending().map(|m| m.version_text.clone()).collect()),
            sorted(status.pending.clone())
        );
        // And `up` refuses exactly what status flags.
        let err = up(&s, &r, &UpRequest::default()).unwrap_err();
        assert_eq!(err.details.len(), 1 + 2 + 2 + 1, "{:?}", err.details);
        assert!(
            err.details[0].starts_with("modified: 002_m2"),
            "{:?}",
            err.details
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
        // The safe form of reinit: no `--through`, so no version that might not exist.
        assert!(
            help.contains("`cargo confiture migrate reinit`")
                && !help.contains("--through")
                && help.contains("--allow-out-of-order"),
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
        assert_eq!(rolled(&plan), [2]);
        let plan = down(
            &s,
            &r,
            &DownRequest {
                steps: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(rolled(&plan), [2, 3]);
        let plan = down(
            &s,
            &r,
            &DownRequest {
                target: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(rolled(&plan), [2, 3]);
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
        assert_eq!(rolled(&plan), [2, 3, 1]);
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

    fn actions(plan: &ReinitPlan<'_>) -> Vec<String> {
        plan.steps
            .iter()
            .map(|s| {
                let version = match (s.row, s.migration) {
                    (Some(row), _) => row.version.clone(),
                    (None, Some(m)) => m.version_text.clone(),
                    (None, None) => String::new(),
                };
                format!("{version}:{:?}", s.action)
            })
            .collect()
    }

    #[test]
    fn reinit_without_through_rewrites_only_the_rows_the_ledger_has() {
        let mut s = set(&[1, 2, 3, 4]);
        let mut r = rows(&s, &[1, 2, 3]);
        s.migrations[1].up.checksum = checksum(b"edited");
        r[2].version = "0003".into();
        r.push(LedgerRow {
            version: "099".into(),
            name: "gone".into(),
            ..r[0].clone()
        });
        r.push(LedgerRow {
            version: "1".into(),
            ..r[0].clone()
        });
        let plan = reinit(&s, &r, None, None).unwrap();
        assert_eq!(
            actions(&plan),
            [
                "001:Keep",
                "002:Accept",
                "0003:Accept",
                "099:Forget",
                "1:Forget"
            ]
        );
        let rewrite = plan.rewrite();
        assert_eq!(rewrite.delete, ["099", "1"]);
        let updates: Vec<(&str, &str)> = rewrite
            .update
            .iter()
            .map(|u| (u.key.as_str(), u.version.as_str()))
            .collect();
        assert_eq!(updates, [("002", "002"), ("0003", "003")]);
        assert_eq!(rewrite.update[0].checksum, checksum(b"edited"));
        assert!(rewrite.insert.is_empty(), "004 never ran: not recorded");
        // Nothing to do on a ledger that matches.
        let clean = rows(&s, &[1]);
        assert!(reinit(&s, &clean, None, None).unwrap().rewrite().is_empty());
    }

    #[test]
    fn reinit_through_records_pending_files_and_forgets_rows_above_it() {
        let s = set(&[1, 2, 3, 4]);
        let mut r = rows(&s, &[1, 3, 4]);
        r.push(LedgerRow {
            version: "x".into(),
            ..r[0].clone()
        });
        let plan = reinit(&s, &r, Some(3), None).unwrap();
        assert_eq!(
            actions(&plan),
            [
                "001:Keep",
                "003:Keep",
                "004:Forget",
                "x:Forget",
                "002:Record"
            ]
        );
        let forgotten_with_file: Vec<bool> = plan
            .with(ReinitAction::Forget)
            .map(|s| s.migration.is_some())
            .collect();
        assert_eq!(forgotten_with_file, [true, false]);
        let rewrite = plan.rewrite();
        assert_eq!(rewrite.insert.len(), 1);
        assert_eq!(
            (rewrite.insert[0].version.as_str(), rewrite.insert[0].kind),
            ("002", RowKind::Reinit)
        );
        assert_eq!(
            reinit(&s, &r, Some(5), None).unwrap_err().kind,
            ErrorKind::Usage
        );
    }

    #[test]
    fn reinit_keeps_a_squashed_history() {
        let s = set(&[3, 4]);
        let mut r = rows(&s, &[3]);
        r.insert(
            0,
            LedgerRow {
                version: "001".into(),
                ..r[0].clone()
            },
        );
        let plan = reinit(&s, &r, Some(4), Some(3)).unwrap();
        assert_eq!(actions(&plan), ["001:Keep", "003:Keep", "004:Record"]);
        let plan = reinit(&s, &r, None, None).unwrap();
        assert_eq!(actions(&plan), ["001:Forget", "003:Keep"]);
    }

    #[test]
    fn down_deletes_the_row_it_matched_and_refuses_what_would_leave_a_row_behind() {
        let s = set(&[1, 2]);
        let mut r = rows(&s, &[1, 2]);
        r[1].version = "0002".into();
        let plan = down(&s, &r, &DownRequest::default()).unwrap();
        assert_eq!(plan.roll_back[0].row.version, "0002");
        // A second row for 2, applied first: deleting `0002` would leave `2`.
        r.insert(
            0,
            LedgerRow {
                version: "2".into(),
                ..r[1].clone()
            },
        );
        let err = down(&s, &r, &DownRequest::default()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Diverged);
        // The first applied of the two is the one its file matched.
        assert!(
            err.details[0].starts_with("duplicate: row `0002`"),
            "{:?}",
            err.details
        );
    }

    #[test]
    fn down_of_a_modified_migration_needs_allow_modified() {
        let mut s = set(&[1, 2]);
        let r = rows(&s, &[1, 2]);
        s.migrations[1].up.checksum = checksum(b"edited");
        let err = down(&s, &r, &DownRequest::default()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Diverged);
        assert!(
            err.details[0].contains(&checksum(b"edited")[..12]),
            "{:?}",
            err.details
        );
        assert!(
            err.details[0].contains("m/002_m2.up.sql"),
            "{:?}",
            err.details
        );
        assert!(err.help.unwrap().contains("--allow-modified"));
        let plan = down(
            &s,
            &r,
            &DownRequest {
                allow_modified: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(rolled(&plan), [2]);
        assert_eq!(plan.modified.len(), 1);
    }

    #[test]
    fn a_squashed_row_cannot_be_rolled_back() {
        let s = set(&[3]);
        let mut r = rows(&s, &[3]);
        r.insert(
            0,
            LedgerRow {
                version: "002".into(),
                ..r[0].clone()
            },
        );
        let req = DownRequest {
            target: Some(0),
            yes: true,
            first_version: Some(3),
            ..Default::default()
        };
        let err = down(&s, &r, &req).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Irreversible);
        assert!(
            err.details[0].starts_with("squashed: 002_m3"),
            "{:?}",
            err.details
        );
        let req = DownRequest {
            first_version: Some(3),
            ..Default::default()
        };
        assert_eq!(rolled(&down(&s, &r, &req).unwrap()), [3]);
    }
}
