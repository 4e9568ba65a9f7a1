//! Planning `down`: the request, the rows it rolls back, the refusals (a diverged history,
//! migrations that cannot be rolled back, files with errors).

use super::{
    check_version, duplicate, invalid_files, lint_help, missing, modified, newer_database,
    reinit_hint,
};
use crate::diagnostic::Diagnostic;
use crate::display::plural;
use crate::error::{Diverged, Divergence, Error, Result, Unrollable};
use crate::files::{Migration, MigrationSet};
use crate::history::{FileErrors, History, Recorded, State, Version};
use crate::ledger::LedgerRow;

/// What `down` was asked to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownRequest {
    /// Roll back this many (≥ 1); default 1 when `target` is absent.
    pub steps: Option<u32>,
    /// Roll back every migration applied with a version above this one; 0 (or, on a squashed
    /// history, any version below `first_version`) means all, back to the schema snapshot.
    /// Below confiture (Python)'s squashed baseline, which cannot be rolled back, it is refused
    /// (exit 8, [`MigrationSet::squashed_baseline`]).
    /// Spelt as the user wrote it: messages echo it so.
    pub target: Option<Version>,
    /// Confirms rolling back everything: `target: Some(0)`, or `steps` beyond the applied
    /// migrations.
    pub yes: bool,
    /// Roll back migrations whose up file changed since they were applied, instead of refusing.
    pub allow_modified: bool,
    /// The first version of a squashed history (`CheckOptions::first_version`).
    pub first_version: Option<u64>,
    /// The request is a dry run (`--dry-run`): the commands its helps suggest are previews
    /// too ([`crate::hint::Invocation::dry_run`] adds the flag to them), so their words say
    /// what those show, never that they drop anything.
    pub preview: bool,
}

impl DownRequest {
    /// The flags of this request a suggested `down` repeats, each with whether it is on
    /// ([`crate::hint::args`]; the counterpart of [`super::UpRequest::repeated_flags`]). Not
    /// `--dry-run`, which the invocation adds to every suggestion of a preview
    /// ([`crate::hint::Invocation::dry_run`]).
    pub fn repeated_flags(&self) -> [(&'static str, bool); 1] {
        [("--allow-modified", self.allow_modified)]
    }
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
    if below_baseline(set, request).is_some() {
        // Whether it crosses the baseline is the ledger's to say ([`crossed_baseline`]).
        return Ok(());
    }
    // A migration of the files that the `--target` rolls back if applied is irreversible: whether
    // it stops the request (exit 8, `--yes` or not) is the ledger's to say, before `--yes` is
    // asked for (`down_plan`).
    if !reaches_irreversible_file(set, request) {
        confirm_everything(set, request, None)?;
    }
    match &request.target {
        Some(t) if t.number() >= first_version(set, request) => check_version(set, "--target", t),
        _ => Ok(()),
    }
}

/// Whether a migration of the files that `request`'s `--target` would roll back, were it
/// applied, is irreversible (its down file says so): then a request that reaches it can never
/// succeed, and only the ledger tells whether it does.
fn reaches_irreversible_file(set: &MigrationSet, request: &DownRequest) -> bool {
    let Some(t) = &request.target else {
        return false;
    };
    let floor = t.number().max(first_version(set, request) - 1);
    set.migrations
        .iter()
        .any(|m| m.version > floor && m.down.irreversible)
}

/// The `--target` of `request` and confiture (Python)'s squashed baseline the history starts at
/// ([`MigrationSet::squashed_baseline`]) when the target is below it: never "everything, back
/// to a schema snapshot" (there is none), but nothing to do or a refusal, which only the ledger
/// tells ([`crossed_baseline`]).
fn below_baseline<'s>(
    set: &'s MigrationSet,
    request: &'s DownRequest,
) -> Option<(&'s Version, &'s Migration)> {
    let t = request.target.as_ref()?;
    let baseline = set.squashed_baseline(request.first_version)?;
    (t.number() < baseline.version).then_some((t, baseline))
}

/// Refuses (exit 8, `--yes` or not) a `--target` below confiture (Python)'s squashed baseline
/// ([`below_baseline`]) when the ledger records a row it would cross: the baseline itself, or a
/// version above the target that `migrate squash` squashed into it (its files were removed, its
/// down file always raises). A database that applied what was squashed but has not recorded
/// the baseline yet is at that target already: nothing to roll back (exit 0), as for any target
/// at or above the current version.
fn crossed_baseline(
    set: &MigrationSet,
    history: &History<'_>,
    request: &DownRequest,
) -> Result<()> {
    let Some((t, baseline)) = below_baseline(set, request) else {
        return Ok(());
    };
    let crossed = history.recorded.iter().any(|r| {
        r.version
            .as_ref()
            .is_some_and(|v| v.number() > t.number() && v.number() <= baseline.version)
    });
    // Whether the ledger records the baseline (confiture (Python)'s `migrate up` archives the
    // squashed rows into it then), as its help says.
    let recorded = history.recorded.iter().any(|r| {
        r.version
            .as_ref()
            .is_some_and(|v| v.number() == baseline.version)
    });
    match crossed {
        true => Err(below_squashed_baseline(set, request, t, baseline, recorded)),
        false => Ok(()),
    }
}

/// The refusal (exit 8) of a `--target` below confiture (Python)'s squashed baseline that
/// crosses it ([`crossed_baseline`]): the versions below it are squashed into it, not into a
/// schema snapshot, and its down file always raises, so no rollback reaches below it; the help
/// says what the baseline is ([`baseline_help`]) and names the rollback that reaches it
/// ([`after_squashed_baseline`]).
fn below_squashed_baseline(
    set: &MigrationSet,
    request: &DownRequest,
    t: &Version,
    baseline: &Migration,
    recorded: bool,
) -> Error {
    let message = format!(
        "refusing to roll back: --target {t} is below {}, which cannot be rolled back: {}",
        baseline.id(),
        super::squashed_into(baseline)
    );
    let unrollable = Unrollable::Irreversible {
        id: baseline.id(),
        down_file: baseline.down.path.clone(),
        squashed_baseline: true,
    };
    Error::irreversible(message, vec![unrollable]).with_help(format!(
        "{}; {}",
        baseline_help(baseline, recorded),
        after_squashed_baseline(set, request, baseline)
    ))
}

/// The help of a refusal to roll back confiture (Python)'s squashed baseline (never the
/// generic "undo its effect with a new migration" of an irreversible migration): what it is,
/// that the versions before it are archived — their rows too once the ledger records it
/// (`recorded`; until then they are not, and the help says so) — and what is left: a backup,
/// or rolling forward.
fn baseline_help(baseline: &Migration, recorded: bool) -> String {
    let rows = match recorded {
        true => "keeping their rows, archived into it, for the record",
        false => {
            "keeping their rows for the record; it is not recorded here yet, and their rows \
             are archived only once confiture (Python) records it (`migrate up`, or \
             `migrate squash-ledger`)"
        }
    };
    format!(
        "{} is confiture (Python)'s squashed baseline: {}, moving their files to its \
         `archive/` and {rows}; its down file only raises, so no rollback goes back past it: \
         to return to an earlier state, restore the database from a backup taken before it, \
         else roll forward with a new migration ({}, applied with {})",
        baseline.id(),
        super::squashed_into(baseline),
        crate::hint::command("migrate generate NAME"),
        crate::hint::command("migrate up")
    )
}

/// What a rollback can still do on a history starting at confiture (Python)'s squashed
/// `baseline`: roll back the migrations after it (`migrate down --target 004`), or nothing when
/// the directory has none.
fn after_squashed_baseline(
    set: &MigrationSet,
    request: &DownRequest,
    baseline: &Migration,
) -> String {
    let id = baseline.id();
    if !set.migrations.iter().any(|m| m.version > baseline.version) {
        return format!("no migration comes after {id} here: there is nothing to roll back");
    }
    let target = format!("--target {}", baseline.version_text);
    format!(
        "{} {} every migration applied after {id}, which stays applied",
        crate::hint::command(&down_args(request, &target)),
        rolls_back(request)
    )
}

/// What a rollback can still do over the rows that confiture (Python)'s squashed `baseline`
/// squashed (they have no down file): roll back the `reachable` rows applied after them with
/// `--steps`, or nothing when there are none.
fn after_baseline_rows(request: &DownRequest, baseline: &Migration, reachable: usize) -> String {
    let rest = match reachable {
        0 => "there is nothing to roll back".to_string(),
        n => format!(
            "{} {} every migration applied after them",
            crate::hint::command(&down_args(request, &format!("--steps {n}"))),
            rolls_back(request)
        ),
    };
    format!(
        "the rows below {} have no down file ({}): {rest}",
        baseline.id(),
        super::squashed_into(baseline)
    )
}

/// The directory's first version: a squashed history's `first_version` (the setting, or
/// confiture (Python)'s squashed baseline: [`MigrationSet::first_version`]), else 1.
fn first_version(set: &MigrationSet, request: &DownRequest) -> u64 {
    crate::history::first_version(set.first_version(request.first_version))
}

/// The one rule of rolling back everything: a request that reaches past the history — `--target`
/// below the directory's first version (0, or any version of a squashed history's snapshot), or
/// `--steps` beyond the `applied` rows — rolls back every migration that can be rolled back, and
/// must say so with `--yes`. On a squashed history "everything" is every row down to the schema
/// snapshot: the rows below `first_version` stay ([`chosen`] plans `--target` below it as the
/// point before the first file). `applied` is `None` before the ledger is read: only `--target`
/// is decided then. A request that reaches a row that cannot be rolled back is refused for it
/// first, `--yes` or not (`down_plan`, exit 8): confirming could not make it run.
fn confirm_everything(
    set: &MigrationSet,
    request: &DownRequest,
    applied: Option<usize>,
) -> Result<()> {
    // Below confiture (Python)'s squashed baseline a target is never "everything": nothing to
    // do, or refused (`crossed_baseline`).
    if request.yes || below_baseline(set, request).is_some() {
        return Ok(());
    }
    let first = first_version(set, request);
    let target = request.target.as_ref();
    match (target.map(Version::number), request.steps, applied) {
        (Some(0), _, _) => {
            let t = target.map_or("0", Version::as_str);
            Err(Error::usage(format!(
                "--target {t} rolls back every applied migration{}",
                if first > 1 {
                    ", back to the schema snapshot"
                } else {
                    ""
                }
            ))
            .with_help(confirm_help(request, t, first)))
        }
        (Some(number), _, _) if number < first => {
            let t = target.map_or_else(|| number.to_string(), |t| t.to_string());
            let first_id = set
                .migrations
                .iter()
                .min_by_key(|m| m.version)
                .map(Migration::id)
                .unwrap_or_else(|| first.to_string());
            Err(Error::usage(format!(
                "--target {t} is below the first migration of {} ({first_id}, first_version \
                 {first}): it rolls back every applied migration, back to the schema snapshot",
                crate::display::path_text(&set.dir)
            ))
            .with_help(confirm_help(request, &t, first)))
        }
        (None, Some(steps), Some(applied)) if applied > 0 && steps as usize > applied => {
            // Beyond a row that cannot be rolled back (a squashed one), `down_plan` refuses
            // for it before: here every applied row can be rolled back.
            let help = format!(
                "to {} every one, run {}: {}",
                roll_back(request),
                every_one(request, applied),
                drops(
                    request,
                    "each migration's down file",
                    "runs",
                    "every migration's objects"
                )
            );
            Err(Error::usage(format!(
                "--steps {steps} is more than the {}: it would roll back every one",
                plural(applied, "applied migration")
            ))
            .with_help(help))
        }
        _ => Ok(()),
    }
}

/// The help of a `--target T` that rolls back everything, refused without `--yes`: the command
/// that confirms it, to paste, and what it drops — every migration's objects, or on a squashed
/// history (`first` above 1) those of the migrations since the schema snapshot.
fn confirm_help(request: &DownRequest, t: &str, first: u64) -> String {
    let command = crate::hint::command(&down_args(request, &format!("--target {t} --yes")));
    // Below a squashed history's first version, any target is the snapshot, as 0 is.
    let same = match t.parse::<Version>() {
        Ok(v) if v.number() > 0 => ", the same plan as --target 0 --yes",
        _ => "",
    };
    if first > 1 {
        let drops = drops(
            request,
            "the down files of every migration applied since the schema snapshot",
            "run",
            "their objects",
        );
        format!(
            "add --yes to confirm ({command}{same}): {drops}; the rows below `first_version` \
             are squashed and stay"
        )
    } else {
        let drops = drops(
            request,
            "each migration's down file",
            "runs",
            "every migration's objects",
        );
        format!("add --yes to confirm ({command}): {drops}")
    }
}

/// "roll back", or in a dry run, whose suggestions are previews too, "preview rolling back".
fn roll_back(request: &DownRequest) -> &'static str {
    if request.preview {
        "preview rolling back"
    } else {
        "roll back"
    }
}

/// What a suggested `down` does: "rolls back", or in a dry run "previews rolling back"
/// ([`roll_back`]).
fn rolls_back(request: &DownRequest) -> &'static str {
    if request.preview {
        "previews rolling back"
    } else {
        "rolls back"
    }
}

/// What the suggested command does: `files` `run`, dropping `objects`; in a dry run, whose
/// suggestions are previews too ([`DownRequest::preview`]), that it only shows them, and what
/// the same command without `--dry-run` does.
fn drops(request: &DownRequest, files: &str, run: &str, objects: &str) -> String {
    let drops = format!("{files} {run}, dropping {objects}");
    if request.preview {
        format!("it shows {files} and runs nothing (without --dry-run, {drops})")
    } else {
        drops
    }
}

/// The commands that roll back every migration of this database that `--steps` can reach
/// (`count`): suggested commands, so that the CLI addresses them to this database — in a
/// fleet to this target alone, whose count this is (`hint::Invocation`). The `--yes` form
/// first: confirming "everything" is the point of the refusals that name it (a `--steps 20`
/// typed for `--steps 2`), and the `--steps` form rolls back as much without asking.
fn every_one(request: &DownRequest, count: usize) -> String {
    format!(
        "{} (or {})",
        crate::hint::command(&down_args(request, "--target 0 --yes")),
        crate::hint::command(&down_args(request, &format!("--steps {count}")))
    )
}

/// `down` as a help suggests it for `request` ([`crate::hint::command`]'s arguments):
/// `migrate down`, the `bound` the help names (`--target 003`, `--steps 2`, with `--yes` when
/// it confirms everything), then the request's flags that still apply (`--allow-modified`).
/// The one spelling of "the same `down`" in a suggestion, the counterpart of
/// [`super::up_args`]: a flag the user gave is never dropped from the command to paste.
pub fn down_args(request: &DownRequest, bound: &str) -> String {
    crate::hint::args("migrate down", bound, &request.repeated_flags(), None)
}

/// The bound `request` was given, as [`down_args`] takes it (`--steps 2`, `--target 3 --yes`;
/// empty for the default, one step).
fn own_bound(request: &DownRequest) -> String {
    let mut bound = match (request.steps, &request.target) {
        (Some(steps), _) => format!("--steps {steps}"),
        (None, Some(target)) => format!("--target {target}"),
        (None, None) => String::new(),
    };
    if request.yes {
        bound.push_str(" --yes");
    }
    bound.trim_start().to_string()
}

/// Refuses (exit 7) a `down` planned as `plan` over the start markers read with the ledger
/// (`markers`, [`crate::plan::check_interrupted`]): a migration it rolls back whose earlier
/// rollback was left part-way, unless `rerun` (`--rerun-interrupted`). What `down` and its dry
/// run both refuse, before anything runs.
pub fn check_down_interrupted(
    set: &MigrationSet,
    rows: &[LedgerRow],
    markers: &[crate::ledger::StartedRun],
    request: &DownRequest,
    plan: &DownPlan<'_>,
    rerun: bool,
) -> Result<()> {
    check_down_interrupted_with(set, rows, markers, request, plan, rerun, &[])
}

/// [`check_down_interrupted`], knowing what the runs left part-way left in the database
/// (`left`, as [`crate::plan::check_interrupted_with`] takes it): the refusal of `down` under
/// such an apply says what `status` says of it — drop the INVALID index, then finish the apply
/// (`up --target V --rerun-interrupted`), never record it; finish a pending detach — and an
/// apply a row recorded over while its index is INVALID is refused as `status` shows it.
pub fn check_down_interrupted_with(
    set: &MigrationSet,
    rows: &[LedgerRow],
    markers: &[crate::ledger::StartedRun],
    request: &DownRequest,
    plan: &DownPlan<'_>,
    rerun: bool,
    left: &[(String, super::LeftBehind)],
) -> Result<()> {
    if markers.is_empty() {
        return Ok(());
    }
    let history = History::of(set, rows, request.first_version);
    let own = own_bound(request);
    let bound = match own.is_empty() {
        true => "--rerun-interrupted".to_string(),
        false => format!("{own} --rerun-interrupted"),
    };
    super::check_interrupted_with(
        &history,
        markers,
        crate::files::Direction::Down,
        &plan.migrations(),
        rerun,
        &down_args(request, &bound),
        left,
    )
}

/// How many rows `--steps` can roll back, newest first, before it reaches a row of the squashed
/// history (every row when there is none).
fn reachable(history: &History<'_>) -> usize {
    history
        .in_order_of_application()
        .into_iter()
        .rev()
        .take_while(|r| r.state != State::Squashed)
        .count()
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
        let history = History::of(set, rows, request.first_version);
        newer_database(set, &history, err)
    })
}

/// The plan, or the refusal (see [`down`]).
fn down_plan<'a>(
    set: &'a MigrationSet,
    rows: &'a [LedgerRow],
    request: &DownRequest,
) -> Result<DownPlan<'a>> {
    let history = History::of(set, rows, request.first_version);
    crossed_baseline(set, &history, request)?;
    let chosen = chosen(set, &history, request);
    let reachable = reachable(&history);
    let roll_back: Vec<Rollback<'a>> = chosen
        .iter()
        .filter_map(|r| {
            Some(Rollback {
                migration: r.matched()?,
                row: r.row,
            })
        })
        .collect();
    // A request that reaches an irreversible migration or a row of a squashed history
    // (`--steps` beyond the applied ones included) is refused for it (exit 8,
    // `check_reversible`), as a `--target` crossing it is, `--yes` or not: confirming
    // "everything" could not make it run.
    let unrollable = roll_back.iter().any(|r| r.migration.down.irreversible)
        || chosen.iter().any(|r| r.state == State::Squashed);
    if !unrollable {
        confirm_everything(set, request, Some(history.recorded.len()))?;
    }
    // A migration to roll back whose files cannot be read or are half there: its down file
    // cannot run.
    super::check_usable(
        set,
        &history,
        true,
        |v, recorded| {
            recorded
                && chosen
                    .iter()
                    .any(|r| r.version.as_ref().is_some_and(|rv| rv.number() == v))
        },
        python_way(set, rows, &history, request, &chosen),
    )?;
    let (found, modified) = divergences(&history, &chosen, request.allow_modified);
    if !found.is_empty() {
        return Err(diverged(set, &history, &chosen, found, request));
    }
    let above = above_irreversible(set, rows, request, &chosen, &roll_back);
    check_reversible(set, request, &chosen, &roll_back, reachable, above)?;
    Ok(DownPlan {
        roll_back,
        modified,
    })
}

/// The command that finishes `plan` (made from `request` over `rows`) once a part of it may
/// have been rolled back — a run that failed or was interrupted midway: `migrate down --target
/// V`, V the newest version the plan keeps, so that it rolls back what the plan had left and
/// nothing more, however much of it committed (the same `--steps N` again would roll back N
/// more) — V, V as the files spell it (`"003"`; `"0"` for nothing kept), and the command's
/// arguments. `--yes` when V is below the history (`confirm_everything`: every row rolled back),
/// `--allow-modified` when the request had it. `None` when no `--target` reaches exactly the
/// plan's rows (a migration applied out of order among them, a row without a file): the help
/// then keeps `migrate status`, which tells what is still applied.
pub fn finishing_command(
    set: &MigrationSet,
    rows: &[LedgerRow],
    request: &DownRequest,
    plan: &DownPlan<'_>,
) -> Option<(u64, String, String)> {
    let planned: Vec<&LedgerRow> = plan.roll_back.iter().map(|r| r.row).collect();
    finishing_rows(set, rows, request, &planned)
}

/// [`finishing_command`] of a plan rolling back the rows `planned` (of `rows`), newest first:
/// those of a plan, or of a request that a plan cannot hold (a confiture (Python) migration
/// among them, [`python_way`]).
fn finishing_rows(
    set: &MigrationSet,
    rows: &[LedgerRow],
    request: &DownRequest,
    planned_rows: &[&LedgerRow],
) -> Option<(u64, String, String)> {
    let planned = |row: &LedgerRow| planned_rows.iter().any(|r| std::ptr::eq(*r, row));
    let history = History::of(set, rows, request.first_version);
    let (mut target, mut spelled) = (0, "0".to_string());
    for r in history.recorded.iter().filter(|r| !planned(r.row)) {
        let version = r.version.as_ref()?;
        if version.number() >= target {
            target = version.number();
            spelled = r
                .migration
                .map_or_else(|| version.as_str().to_string(), |m| m.version_text.clone());
        }
    }
    let finish = DownRequest {
        steps: None,
        target: Some(spelled.parse().unwrap_or_else(|_| Version::from(target))),
        yes: false,
        ..request.clone()
    };
    let yes = confirm_everything(set, &finish, None).is_err();
    let finish = DownRequest { yes, ..finish };
    check_down_request(set, &finish).ok()?;
    let chosen = chosen(set, &history, &finish);
    let same = chosen.len() == planned_rows.len() && chosen.iter().all(|r| planned(r.row));
    if !same {
        return None;
    }
    let bound = if yes {
        format!("--target {spelled} --yes")
    } else {
        format!("--target {spelled}")
    };
    let args = down_args(request, &bound);
    Some((target, spelled, args))
}

/// The way past the confiture (Python) migrations among `chosen` (the rows the request rolls
/// back, newest first, over `rows`), which cargo confiture cannot roll back: None when there
/// are none. confiture (Python) rolls back the rows of the request down to the oldest of them
/// — `confiture migrate down-to W`, W the row below them, or `--steps N` when they are every
/// row —, then ours rolls back the rest and stops where the request stops (`migrate down
/// --target V`, [`finishing_rows`]): what the request asked for and nothing more, however
/// it was bounded. A `confiture migrate down` (one step) then the same request again would
/// roll back more than asked. When no confiture (Python) command reaches exactly those rows
/// ([`python_rollback`]), the help says so instead of guessing one.
pub(super) fn python_way(
    set: &MigrationSet,
    rows: &[LedgerRow],
    history: &History<'_>,
    request: &DownRequest,
    chosen: &[&Recorded<'_>],
) -> Option<String> {
    let is_python = |r: &&Recorded<'_>| r.state == State::Python { recorded: true };
    let last = chosen.iter().rposition(&is_python)?;
    let (first, rest) = chosen.split_at(last + 1);
    let names = |rs: &[&Recorded<'_>]| {
        rs.iter()
            .map(|r| format!("`{}`", crate::display::escape(&r.id())))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let python: Vec<&Recorded<'_>> = first.iter().copied().filter(|r| is_python(r)).collect();
    let what = match python.len() {
        1 => format!("{} is a confiture (Python) migration", names(&python)),
        _ => format!("{} are confiture (Python) migrations", names(&python)),
    };
    let Some(command) = python_rollback(history, first) else {
        return Some(format!(
            "{what}, which cargo confiture cannot roll back; confiture (Python) rolls back in \
             order of `applied_at` (`confiture migrate down --steps N`, `confiture migrate \
             down-to VERSION`), and no such command rolls back exactly {} here (this ledger's \
             `applied_at` does not follow the order its rows were written, a row below them \
             cannot be a `down-to` target, or one of them is irreversible): roll them back by \
             hand, `{} migrate down --dry-run` showing what it would roll back first; {} shows \
             what is still applied",
            names(first),
            crate::hint::PYTHON_PROGRAM,
            crate::hint::command("migrate status")
        ));
    };
    let then = if rest.is_empty() {
        "; that is all this request rolls back".to_string()
    } else {
        // Where the whole request ends: once confiture (Python) rolled back its part, what is
        // above it is the rest.
        let all: Vec<&LedgerRow> = chosen.iter().map(|r| r.row).collect();
        match finishing_rows(set, rows, request, &all) {
            Some((_, spelled, args)) => format!(
                ", then {} {} the rest ({}) and stops at {spelled}, where this request stops",
                crate::hint::command(&args),
                rolls_back(request),
                names(rest)
            ),
            None => format!(
                ", then roll back the rest of this request ({}); {} shows what is still applied",
                names(rest),
                crate::hint::command("migrate status")
            ),
        }
    };
    Some(format!(
        "{what}, which cargo confiture cannot roll back: first {command} {} {} (confiture \
         (Python) runs their down files) and nothing more{then}",
        rolls_back(request),
        names(first)
    ))
}

/// The confiture (Python) command that rolls back exactly the rows `first` (newest first), or
/// None when none does: confiture (Python) rolls back in order of `applied_at` alone — the last
/// N rows (`migrate down --steps N`), or those after a version (`migrate down-to W`, W a row it
/// reads: not archived) —, which is ours when `applied_at` never goes back along the order the
/// rows were written ([`History::in_order_of_application`]; the engine keeps it so, and reads
/// it to the second, so rows of one second are taken in our order). `first` must be the newest
/// rows, none of them irreversible (confiture (Python) would run its down file, which raises,
/// after rolling back those above it).
fn python_rollback(history: &History<'_>, first: &[&Recorded<'_>]) -> Option<String> {
    let order = history.in_order_of_application();
    // `2026-01-15T10:30:00+00:00`: an `infinity` or a date BC has no order Python shares.
    let plain = |at: &str| at.len() == 25 && at.ends_with("+00:00");
    let agrees = order.iter().all(|r| plain(&r.row.applied_at))
        && order
            .windows(2)
            .all(|w| w[0].row.applied_at <= w[1].row.applied_at);
    let newest_first: Vec<&Recorded<'_>> = order.into_iter().rev().collect();
    let newest = first.len() <= newest_first.len()
        && first
            .iter()
            .zip(&newest_first)
            .all(|(a, b)| std::ptr::eq(a.row, b.row));
    let reversible = first
        .iter()
        .all(|r| r.state != State::Squashed && r.matched().is_none_or(|m| !m.down.irreversible));
    if !(agrees && newest && reversible) {
        return None;
    }
    let args = match newest_first.get(first.len()) {
        Some(below) if below.row.archived_into.is_none() && !below.row.version.is_empty() => {
            format!("migrate down-to {}", crate::hint::quote(&below.row.version))
        }
        Some(_) => return None,
        None => format!("migrate down --steps {}", first.len()),
    };
    Some(crate::hint::python_command(&args))
}

/// The rows `down` rolls back, newest application first
/// ([`History::in_order_of_application`]): every row above `target`, else the newest `steps`
/// (1 by default). A `target` below the first version is the point before the
/// first file: on a squashed history, the schema snapshot, whose rows stay.
fn chosen<'h, 'a>(
    set: &MigrationSet,
    history: &'h History<'a>,
    request: &DownRequest,
) -> Vec<&'h Recorded<'a>> {
    let newest_first = history.in_order_of_application().into_iter().rev();
    match &request.target {
        Some(t) => {
            let floor = t.number().max(first_version(set, request) - 1);
            newest_first
                .filter(|r| r.version.as_ref().is_none_or(|v| v.number() > floor))
                .collect()
        }
        None => newest_first
            .take(request.steps.unwrap_or(1) as usize)
            .collect(),
    }
}

/// What among `chosen` does not match the files (a row with no file, a version recorded
/// twice, a modified up file unless `allow_modified`), and the modified ones it lets through.
fn divergences<'a>(
    history: &History<'a>,
    chosen: &[&Recorded<'a>],
    allow_modified: bool,
) -> (Vec<Divergence>, Vec<Rollback<'a>>) {
    let mut found = Vec::new();
    let mut let_through = Vec::new();
    for r in chosen {
        match r.state {
            State::Missing => found.push(missing(r)),
            State::Renumbered => found.extend(super::renumbered(r)),
            State::Replaced => found.extend(super::replaced(r)),
            State::Ambiguous => found.extend(super::ambiguous(r)),
            State::Duplicate => found.push(duplicate(r)),
            State::Modified | State::Applied => {
                let Some(m) = r.migration else { continue };
                found.extend(history.duplicates_of(m).map(duplicate));
                if r.state != State::Modified {
                    continue;
                }
                if allow_modified {
                    let_through.push(Rollback {
                        migration: m,
                        row: r.row,
                    });
                } else {
                    found.push(modified(m, r.row));
                }
            }
            // Refused before, by `check_usable`.
            State::Squashed
            | State::Pending
            | State::OutOfOrder
            | State::Unreadable { .. }
            | State::Python { .. } => {}
            // Never a state of the history: `status` decides it from the start marker, and
            // the engine refuses the step itself (`--rerun-interrupted`).
            State::Interrupted { .. } => {}
        }
    }
    // One entry per divergence: a duplicate row is reached both as a chosen row and as a
    // second row of a chosen migration, not necessarily one after the other.
    let mut unique: Vec<Divergence> = Vec::with_capacity(found.len());
    for d in found {
        if !unique.contains(&d) {
            unique.push(d);
        }
    }
    (unique, let_through)
}

/// The refusal (exit 7) of a rollback whose rows do not match the files.
fn diverged(
    set: &MigrationSet,
    history: &History<'_>,
    chosen: &[&Recorded<'_>],
    found: Vec<Divergence>,
    request: &DownRequest,
) -> Error {
    // The same `down` again, as the user asked for it.
    let again = &down_args(request, &own_bound(request));
    let mut help = Vec::new();
    if found
        .iter()
        .any(|d| matches!(d, Divergence::Renumbered { .. }))
    {
        help.extend(super::renumbered_help(set, history));
    }
    if found
        .iter()
        .any(|d| matches!(d, Divergence::Ambiguous { .. }))
    {
        help.push(super::ambiguous_refusal_help());
    }
    // Files to restore only when a file is gone or changed: a duplicate row is the ledger's.
    if found.iter().any(|d| {
        matches!(
            d,
            Divergence::Missing { .. } | Divergence::Modified { .. } | Divergence::Replaced { .. }
        )
    }) {
        // The up files that ran, where they were: never the file that has a replaced
        // row's number now.
        let files: Vec<String> = (found.iter())
            .filter_map(|d| d.applied_up_file(&set.dir))
            .map(|f| crate::display::path_text(&f).to_string())
            .collect();
        let log = match files.is_empty() {
            true => "`git log -- <file>`".to_string(),
            false => format!("`git log -- {}`", files.join(" ")),
        };
        // A binary has no file to restore: the build of the files that ran has them.
        let restore = match set.origin.binary() {
            Some(binary) => format!(
                "this binary ({binary}) embeds other files than those applied: build and deploy \
                 from the files that ran"
            ),
            None => "restore the files from version control".to_string(),
        };
        help.push(format!(
            "{restore} ({log} shows the applied version), then run {} again",
            crate::hint::command(again)
        ));
    }
    if chosen.iter().any(|r| r.state == State::Modified) && !request.allow_modified {
        // The flag named on its own too: a library session reads it as its option's name.
        help.push(format!(
            "if the down file still undoes what was applied, pass --allow-modified: {}",
            crate::hint::command(&format!("{again} --allow-modified"))
        ));
    }
    if chosen
        .iter()
        .any(|r| matches!(r.state, State::Duplicate | State::Missing | State::Replaced))
        || found
            .iter()
            .any(|d| matches!(d, Divergence::Duplicate { .. }))
    {
        // Rows with no file whose numbers a later file follows: forgotten by `reinit`, they
        // would leave a gap `up` refuses — the answer `status` and `up` give.
        let missing = chosen.iter().any(|r| r.state == State::Missing);
        if missing && super::missing_leaves_gap(set, history) {
            help.push(super::removed_on_purpose_help(true, ""));
        } else {
            help.push(format!(
                "{} keeps one row per migration and forgets rows with no file",
                reinit_hint()
            ));
        }
    }
    let message = format!(
        "refusing to roll back: {} {} not match what was applied",
        plural(found.len(), "migration"),
        if found.len() == 1 { "does" } else { "do" }
    );
    let diverged = Diverged::of_rollback(found).of_set_in(set.origin.binary());
    Error::diverged(message, diverged).with_help(help.join("; "))
}

/// When the newest migration among `chosen` (the rows the request reaches, newest first) that
/// cannot be rolled back is an irreversible one with rows above it: the rollback that still
/// works, a help sentence — the `migrate down --target V` that rolls back exactly those rows
/// ([`finishing_command`], V the irreversible one's version as its files spell it) and the
/// `--steps K` of as many, as the squashed history's refusal names the `--steps` it reaches.
fn above_irreversible(
    set: &MigrationSet,
    rows: &[LedgerRow],
    request: &DownRequest,
    chosen: &[&Recorded<'_>],
    roll_back: &[Rollback<'_>],
) -> Option<String> {
    let first = chosen.iter().position(|r| {
        r.state == State::Squashed || r.matched().is_some_and(|m| m.down.irreversible)
    })?;
    let stays = chosen[first].matched()?;
    if first == 0 || roll_back.len() < first {
        return None;
    }
    let above = DownPlan {
        roll_back: roll_back[..first].to_vec(),
        modified: Vec::new(),
    };
    let (_, _, args) = finishing_command(set, rows, request, &above)?;
    let what = match first {
        1 => "the migration".to_string(),
        n => format!("the {n} migrations"),
    };
    Some(format!(
        "{} (or {}) {} {what} applied after {}, which stays applied",
        crate::hint::command(&args),
        crate::hint::command(&down_args(request, &format!("--steps {first}"))),
        rolls_back(request),
        stays.id()
    ))
}

/// Refuses (exit 8) a rollback of an irreversible migration or of a row of a squashed history;
/// `above` is the rollback that still works above the irreversible one ([`above_irreversible`]).
fn check_reversible(
    set: &MigrationSet,
    request: &DownRequest,
    chosen: &[&Recorded<'_>],
    roll_back: &[Rollback<'_>],
    reachable: usize,
    above: Option<String>,
) -> Result<()> {
    let first_version = first_version(set, request);
    let irreversible = roll_back
        .iter()
        .filter(|r| r.migration.down.irreversible)
        .map(|r| Unrollable::Irreversible {
            id: r.migration.id(),
            down_file: r.migration.down.path.clone(),
            squashed_baseline: r.migration.up.squashed_through.is_some(),
        });
    let squashed = chosen
        .iter()
        .filter(|r| r.state == State::Squashed)
        .map(|r| Unrollable::Squashed {
            id: r.id(),
            first_version,
            archived_into: r.row.archived_into.clone(),
        });
    let found: Vec<Unrollable> = irreversible.chain(squashed).collect();
    if found.is_empty() {
        return Ok(());
    }
    let mut help = Vec::new();
    let irreversible = found
        .iter()
        .any(|u| matches!(u, Unrollable::Irreversible { .. }));
    // confiture (Python)'s squashed baseline has its own help: what it is, and what is left.
    let baseline = roll_back
        .iter()
        .find(|r| r.migration.down.irreversible && r.migration.up.squashed_through.is_some());
    if let Some(baseline) = baseline {
        // Rolled back, it is recorded.
        help.push(baseline_help(baseline.migration, true));
    }
    if roll_back
        .iter()
        .any(|r| r.migration.down.irreversible && r.migration.up.squashed_through.is_none())
    {
        help.push(format!(
            "an irreversible migration cannot be rolled back; undo its effect with a new \
             migration ({}) and apply it with {}",
            crate::hint::command("migrate generate NAME"),
            crate::hint::command("migrate up")
        ));
    }
    if irreversible {
        help.extend(above);
    }
    if found
        .iter()
        .any(|u| matches!(u, Unrollable::Squashed { .. }))
    {
        // Above the snapshot, an irreversible migration stops `--steps` first: said above.
        let baseline = set.squashed_baseline(request.first_version);
        let fewer = if irreversible {
            String::new()
        } else if reachable == 0 {
            "; there is nothing above the snapshot to roll back".to_string()
        } else {
            format!(
                "; {} {} every migration applied since the snapshot",
                every_one(request, reachable),
                rolls_back(request)
            )
        };
        let archived = chosen.iter().any(|r| r.row.archived_into.is_some());
        match baseline {
            // What is left above confiture (Python)'s baseline, never "the snapshot".
            Some(baseline) => help.push(match irreversible {
                true => format!(
                    "the rows below {} have no down file ({})",
                    baseline.id(),
                    super::squashed_into(baseline)
                ),
                false => after_baseline_rows(request, baseline, reachable),
            }),
            None => help.push(format!(
                "rows below `first_version`{} belong to the history squashed into a schema \
             snapshot and have no down file{fewer}",
                if archived {
                    " and rows confiture (Python)'s `migrate squash` archived into a squashed \
                 baseline"
                } else {
                    ""
                }
            )),
        }
    }
    let message = format!(
        "refusing to roll back: {} {} irreversible",
        plural(found.len(), "migration"),
        crate::display::is_are(found.len())
    );
    Err(Error::irreversible(message, found).with_help(help.join("; ")))
}

/// Refuses (exit 5) a `down` that would run files with errors: a migration it rolls back whose
/// files (its down file, or its pair) have an error. Errors elsewhere — a draft being written —
/// do not stop it.
pub fn check_down_files(
    set: &MigrationSet,
    plan: &DownPlan<'_>,
    errors: &FileErrors<'_>,
) -> Result<()> {
    // A gap before a migration (C004) is the sequence's, not its files': its down file is
    // complete and valid, so it is rolled back, with [`gap_warnings`].
    let blocking: Vec<&Diagnostic> = plan
        .roll_back
        .iter()
        .flat_map(|r| errors.of(r.migration.version).iter().copied())
        .filter(|d| !crate::files::concerns_sequence(d))
        .collect();
    if blocking.is_empty() {
        return Ok(());
    }
    Err(invalid_files(
        set,
        &blocking,
        lint_help(),
        super::Effect::Runs,
    ))
}

/// The warnings of a `down` that rolls back migrations reported after a gap in the versions
/// ([`crate::files::concerns_sequence`]), which [`check_down_files`] lets through: the gap is
/// still there, and `up` still refuses to run past it.
pub fn gap_warnings(plan: &DownPlan<'_>, errors: &FileErrors<'_>) -> Vec<String> {
    plan.roll_back
        .iter()
        .flat_map(|r| {
            errors
                .of(r.migration.version)
                .iter()
                .filter(|d| crate::files::concerns_sequence(d))
                .map(move |d| {
                    format!(
                        "{} (C004: {}): rolled back all the same, the gap is not an error of its \
                         files; `migrate up` refuses to run until the gap is closed",
                        r.migration.id(),
                        d.message
                    )
                })
        })
        .collect()
}
