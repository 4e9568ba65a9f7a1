//! Planning `up`: the request, the files it could run, the history check, the plan.

use super::{
    check_version, duplicate, explain_newer_database, find, invalid_files, lint_help, reinit_hint,
};
use crate::display::plural;
use crate::error::{Diverged, Divergence, Error, NewerDatabase, Result};
use crate::files::{Migration, MigrationSet};
use crate::history::{FileErrors, History, Version};
use crate::ledger::{LedgerRow, StartedRun};

/// What `up` was asked to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpRequest {
    /// Apply at most this many (≥ 1).
    pub steps: Option<u32>,
    /// Apply pending migrations up to and including this version (which must exist), spelt
    /// as the user wrote it: messages echo it so.
    pub target: Option<Version>,
    /// Apply pending migrations older than the newest applied one (refused otherwise).
    pub allow_out_of_order: bool,
    /// The first version of a squashed history (`CheckOptions::first_version`).
    pub first_version: Option<u64>,
    /// Apply migrations confiture gates as destructive (`-- confiture:destructive`).
    pub allow_destructive: bool,
    /// Accept a database ahead of the set (a newer release's rows above its newest migration,
    /// and no other divergence): apply nothing of them ([`UpPlan::newer_database`]).
    pub allow_newer_database: bool,
    /// Apply them on a database without a ledger that already holds objects where they
    /// build ([`crate::ledger::Unrecorded`]).
    pub allow_non_empty: bool,
    /// Apply them all in one transaction (`--single-transaction`): the plan is the same; the
    /// commands a help suggests for this request keep it ([`up_args`]).
    pub single_transaction: bool,
    /// Create the database first when it does not exist (`--create-database`): the plan is
    /// the same; the commands a help suggests keep it (a refusal made before connecting does
    /// not know whether the database exists).
    pub create_database: bool,
}

impl UpRequest {
    /// The flags of this request a suggested `up` repeats, each with whether it is on, in the
    /// order they are written ([`crate::hint::args`]): a flag the user gave is never dropped
    /// from the command to paste. Not `--dry-run`, which the invocation adds to every
    /// suggestion of a preview ([`crate::hint::Invocation::dry_run`]).
    pub fn repeated_flags(&self) -> [(&'static str, bool); 6] {
        [
            ("--allow-out-of-order", self.allow_out_of_order),
            ("--allow-destructive", self.allow_destructive),
            ("--allow-newer-database", self.allow_newer_database),
            ("--allow-non-empty", self.allow_non_empty),
            ("--single-transaction", self.single_transaction),
            ("--create-database", self.create_database),
        ]
    }
}

/// The migrations `up` will apply, in order, and the pending ones it leaves for later.
#[derive(Debug, Clone, Default)]
pub struct UpPlan<'a> {
    /// The migrations to apply, in order.
    pub apply: Vec<&'a Migration>,
    /// Pending, but beyond `steps` or `target`.
    pub skipped: Vec<&'a Migration>,
    /// The newer release's rows the plan leaves as they are (`allow_newer_database`).
    pub newer_database: Option<NewerDatabase>,
    /// The newest version the request could run ([`reach`]; `None`: every one): what
    /// [`check_up_files`] checks the files through once the ledger is read.
    pub through: Option<u64>,
}

/// Refuses requests that make no sense whatever the database holds (before connecting).
pub fn check_up_request(set: &MigrationSet, request: &UpRequest) -> Result<()> {
    if request.steps == Some(0) {
        return Err(Error::usage("--steps 0 would apply nothing").with_help(
            "pass --steps 1 or more, or leave it out to apply every pending migration",
        ));
    }
    if let Some(target) = &request.target {
        if let Some(first) =
            (set.first_version(request.first_version)).filter(|&first| target.number() < first)
        {
            // Not "no migration with version 2": the version exists, in the snapshot (or in
            // confiture (Python)'s squashed baseline, which `up` applies whole).
            let first_id = set.migrations.first().map(|m| m.id());
            let message = match set.squashed_baseline(request.first_version) {
                Some(baseline) => format!(
                    "--target {target} is below {} ({}): `up` applies it whole, never a part \
                     of it",
                    baseline.id(),
                    super::squashed_into(baseline)
                ),
                None => format!(
                    "--target {target} is below `first_version` ({first}): the versions below \
                     it are squashed into the schema snapshot, which `up` does not apply"
                ),
            };
            return Err(Error::usage(message).with_help(match first_id {
                Some(id) => {
                    format!("pass --target {first} or higher (the first migration is {id})")
                }
                None => "the migrations directory has no migrations".to_string(),
            }));
        }
        check_version(set, "--target", target)?;
    }
    Ok(())
}

/// Refuses (exit 5) an `up` that could run a migration whose files have errors: every version
/// up to `target` — `--target` before connecting, the plan's [`UpPlan::through`] once the
/// ledger is read (a `--steps N` is decided by it: [`reach`]) — and any `.sql` file whose name
/// gives no version. A broken draft
/// above `--target` does not stop it. `stop` is how the command that asks stops before a
/// version: the arguments of the command that stops at the version it is given (as its file
/// spells it) — `up`'s request bounded there, every flag of it kept ([`up_args`]), or
/// `migrate baseline --through V` — which the help suggests; `None` for a command that cannot
/// (`verify`). `history`, once the ledger is read: whether the broken migration is applied
/// here, and whether any migration before it is left to apply, which the help then says
/// ([`History::applied_here`]); `None` before connecting, and the help names the condition.
/// `effect`: what the command does with the migrations (`baseline` records them), which the
/// refusal says it did not do.
pub fn check_up_files(
    set: &MigrationSet,
    errors: &FileErrors<'_>,
    target: Option<u64>,
    stop: Option<&dyn Fn(&str) -> String>,
    history: Option<&History<'_>>,
    effect: super::Effect,
) -> Result<()> {
    let blocking = errors.blocking_up(target);
    if blocking.is_empty() {
        return Ok(());
    }
    let mut help = lint_help();
    // The migrations before the first broken one can still be applied on their own — when
    // it is pending (an applied one whose files are half there or unreadable refuses that
    // command too) and some before it are.
    if let (true, Some(stop)) = (errors.unversioned().is_empty(), stop) {
        if let Some(first) = errors.first_version() {
            if let Some(before) = set.migrations.iter().rev().find(|m| m.version < first) {
                let command = crate::hint::command(&stop(&before.version_text));
                let broken = broken_id(set, errors, first);
                help.push_str(&stop_before_help(set, history, first, &command, &broken));
            }
        }
    }
    Err(invalid_files(set, &blocking, help, effect))
}

/// What [`check_up_files`]'s help says of `command`, which stops before `broken` (version
/// `first`): without a ledger, that it does if `broken` is not applied; with one, whether
/// it does anything here.
fn stop_before_help(
    set: &MigrationSet,
    history: Option<&History<'_>>,
    first: u64,
    command: &str,
    broken: &str,
) -> String {
    let Some(history) = history else {
        return format!("; {command} stops before {broken} if it is not applied yet");
    };
    // Files that form no migration (a draft, half a pair) are not applied here: `up`'s
    // plan refused recorded ones before this check (`check_usable`).
    let applied = find(set, first).map(|m| history.applied_here(m));
    if applied == Some(crate::files::AppliedHere::Yes) {
        return format!("; {broken} is applied here: its files are what to fix");
    }
    let left = (history.unrecorded.iter()).any(|u| u.migration.version < first);
    match left {
        true => {
            format!("; {command} applies what comes before {broken}, which is not applied here")
        }
        false => format!(
            "; {broken} is not applied here, and nothing before it is left to apply: its files \
             are what to fix"
        ),
    }
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

/// How the history differs from the files, one entry per offender in the order `up` lists them:
/// applied migrations modified, then missing, versions recorded twice, pending ones out of
/// order (unless `allow_out_of_order`). The entries every command shows (`up`'s refusal,
/// `drift`'s, `status` as data), built by the same functions as `down`'s.
pub fn divergences(history: &History<'_>, allow_out_of_order: bool) -> Vec<Divergence> {
    let mut found: Vec<Divergence> = history
        .modified()
        .iter()
        .filter_map(|r| Some(super::modified(r.migration?, r.row)))
        .collect();
    found.extend(history.missing().iter().map(|r| super::missing(r)));
    found.extend(
        history
            .renumbered()
            .iter()
            .filter_map(|r| super::renumbered(r)),
    );
    found.extend(history.replaced().iter().filter_map(|r| super::replaced(r)));
    found.extend(
        history
            .ambiguous()
            .iter()
            .filter_map(|r| super::ambiguous(r)),
    );
    found.extend(history.duplicates().iter().map(|r| duplicate(r)));
    if !allow_out_of_order {
        let newest = history.newest_recorded().map(|r| r.row.version.clone());
        found.extend(
            history
                .out_of_order()
                .iter()
                .map(|m| Divergence::OutOfOrder {
                    id: m.id(),
                    newest_applied: newest.clone(),
                }),
        );
    }
    found
}

/// Refuses a history that diverged from the files: applied migrations modified or missing,
/// versions recorded twice, pending ones out of order (unless allowed). Lists every offender.
/// Its help knows no start markers: the baseline it suggests records over no run left part-way.
pub fn check_history(
    set: &MigrationSet,
    history: &History<'_>,
    allow_out_of_order: bool,
) -> Result<()> {
    check_history_for(
        set,
        history,
        allow_out_of_order,
        ("migrate up --allow-out-of-order", &|_| false),
    )
}

/// [`check_history`] for an `up` whose request is `with_out_of_order` (its [`up_args`] with
/// `--allow-out-of-order`): what the out-of-order help suggests, with the baseline that records
/// the out-of-order migrations up to a version — `over_run`: whether it records over a run left
/// part-way ([`super::baseline_records_over_run`]).
fn check_history_for(
    set: &MigrationSet,
    history: &History<'_>,
    allow_out_of_order: bool,
    (with_out_of_order, over_run): (&str, &dyn Fn(&Migration) -> bool),
) -> Result<()> {
    let modified = history.modified();
    let missing = history.missing();
    let renumbered = history.renumbered();
    let replaced = history.replaced();
    let ambiguous = history.ambiguous();
    let duplicates = history.duplicates();
    let out_of_order = if allow_out_of_order {
        Vec::new()
    } else {
        history.out_of_order()
    };
    if modified.is_empty()
        && missing.is_empty()
        && renumbered.is_empty()
        && replaced.is_empty()
        && ambiguous.is_empty()
        && duplicates.is_empty()
        && out_of_order.is_empty()
    {
        return Ok(());
    }
    let found = divergences(history, allow_out_of_order);
    let mut counts = Vec::new();
    let mut help = Vec::new();
    if !modified.is_empty() {
        counts.push(format!(
            "{} modified",
            plural(modified.len(), "applied migration")
        ));
        let changes = (modified.iter()).map(|r| {
            let change = (r.migration).and_then(|m| crate::history::line_endings_change(m, r.row));
            let version = r.migration.map_or(&r.row.version, |m| &m.version_text);
            (version.clone(), change)
        });
        help.push(super::modified_help_of(
            &set.origin,
            super::LineEndings::of(changes),
        ));
    }
    if !missing.is_empty() {
        counts.push(format!(
            "{} missing",
            plural(missing.len(), "applied migration")
        ));
    }
    // A newer release's rows have their own help (`explain_newer_database`): `reinit` keeps
    // them, so the help of missing rows is for the others alone.
    if !super::forgettable_missing(set, history).is_empty() {
        let removed = super::removed_on_purpose_help(super::missing_leaves_gap(set, history), "");
        help.push(format!(
            "restore the missing files from version control; if they were squashed into a \
             schema snapshot, set `first_version` in {}; {removed}",
            crate::workspace::SETTINGS_TABLES,
        ));
    }
    if !renumbered.is_empty() {
        counts.push(format!(
            "{} renumbered",
            plural(renumbered.len(), "applied migration")
        ));
        help.extend(super::renumbered_help(set, history));
    }
    if !replaced.is_empty() {
        let their = if replaced.len() == 1 { "its" } else { "their" };
        counts.push(format!(
            "{} replaced by another at {their} version",
            plural(replaced.len(), "applied migration")
        ));
        help.push(format!(
            "an applied migration's files are gone and another migration has its number: {}",
            super::replaced_help()
        ));
    }
    if !ambiguous.is_empty() {
        counts.push(format!(
            "{} ambiguous (nothing tells which file records them)",
            plural(ambiguous.len(), "applied migration")
        ));
        help.push(super::ambiguous_refusal_help());
    }
    if !duplicates.is_empty() {
        counts.push(format!(
            "{} recorded twice",
            plural(duplicates.len(), "version")
        ));
        help.push(format!("{} keeps one row per migration", reinit_hint()));
    }
    if !out_of_order.is_empty() {
        let newest = history
            .newest_recorded()
            .map(|r| r.row.version.clone())
            .unwrap_or_default();
        counts.push(format!(
            "{} out of order",
            plural(out_of_order.len(), "pending migration")
        ));
        let lost = out_of_order.last();
        help.push(out_of_order_help_for(
            Some(&newest),
            lost.map(|m| (m.version_text.as_str(), over_run(m))),
            with_out_of_order,
        ));
    }
    let message = format!(
        "the database's migration history does not match {}: {}",
        super::compared_with(set),
        counts.join(", ")
    );
    let diverged = Diverged::new(found).of_set_in(set.origin.binary());
    Err(Error::diverged(message, diverged).with_help(help.join("; ")))
}

/// What to do about pending migrations older than the newest applied one (`newest`, its
/// version, when known): the one text of `up`'s refusal and `status`'s help. A pending
/// migration below an applied one is, after a merge, usually the one that came from the main
/// branch — already applied on other databases, where a renumbered copy would be
/// `renumbered` and refused — so renumbering is only for a migration applied nowhere yet.
/// Every caller has read the ledger (`status`, `up`'s refusal): an out-of-order migration is
/// one this database has not applied, which the help says rather than a condition.
///
/// `through`, the newest out-of-order version and whether recording it records over a run
/// left part-way ([`super::baseline_records_over_run`]): the `baseline --through` that
/// records them without running them ([`super::record_command`]) when their changes are in the
/// database already — a ledger row lost to a restore or a cleanup, which running them again
/// would apply twice (a data migration) or fail on (`already exists`).
pub fn out_of_order_help(newest: Option<&str>, through: Option<(&str, bool)>) -> String {
    out_of_order_help_for(newest, through, "migrate up --allow-out-of-order")
}

/// [`out_of_order_help`] suggesting `up_args` (`up`'s refusal: its request's [`up_args`] with
/// `--allow-out-of-order`, which a bare `migrate up --allow-out-of-order` would exceed).
fn out_of_order_help_for(
    newest: Option<&str>,
    through: Option<(&str, bool)>,
    up_args: &str,
) -> String {
    let above = newest.map_or("the newest applied one".to_string(), |v| v.to_string());
    let (through, over_run) = through.unwrap_or(("VERSION", false));
    format!(
        "first check the schema: if what an out-of-order migration makes is already in this \
         database (its ledger row was lost to a restore or a manual cleanup), record it without \
         running it ({}); otherwise, as it is not applied here, renumber it above {above} \
         (rename both files) only if no other database applied it either — usually your own, \
         unmerged one; one that came from another branch may already be applied elsewhere: \
         apply it here with `--allow-out-of-order` ({})",
        crate::hint::command(&super::record_command(through, over_run)),
        crate::hint::command(up_args)
    )
}

/// The newest version `request` could run over `history`, or `None` for every one: **the** rule
/// of which migrations a bounded `up` could run, which the refusal of files it cannot use
/// (`check_usable`), the file check ([`check_up_files`] through
/// [`UpPlan::through`]) and the plan share. A `--target` is its own bound; a `--steps N` stops
/// at the N-th version it could reach, in order, within the target: a pending migration, or a
/// version whose files no row records and which form no migration (a confiture (Python)
/// migration, files that cannot be read, half a pair) — counted as the migration it would be,
/// never stepped over. Fewer than N such versions: the target's bound, as without `--steps`.
pub fn reach(set: &MigrationSet, history: &History<'_>, request: &UpRequest) -> Option<u64> {
    let target = request.target.as_ref().map(Version::number);
    let Some(steps) = request.steps.map(|s| s.max(1) as usize) else {
        return target;
    };
    let pending: std::collections::BTreeSet<u64> = history.pending().map(|m| m.version).collect();
    let recorded: std::collections::BTreeSet<u64> = (history.recorded.iter())
        .filter_map(|r| r.version.as_ref().map(crate::history::Version::number))
        .collect();
    let mut could_run = (set.versions_on_disk().into_iter().map(|(v, _)| v)).filter(|v| {
        target.is_none_or(|t| *v <= t)
            && (pending.contains(v) || (!recorded.contains(v) && find(set, *v).is_none()))
    });
    could_run.nth(steps - 1).or(target)
}

/// Plans `up`: refuses a diverged history, then takes the pending migrations in version order,
/// limited by `target` and `steps` ([`reach`]).
pub fn up<'a>(
    set: &'a MigrationSet,
    rows: &'a [LedgerRow],
    request: &UpRequest,
) -> Result<UpPlan<'a>> {
    up_over(set, rows, &[], request)
}

/// [`up`] over the start markers read with the ledger (`markers`): the baseline its refusal of
/// out-of-order migrations suggests takes `--yes` when it records over a run left part-way.
pub(crate) fn up_over<'a>(
    set: &'a MigrationSet,
    rows: &'a [LedgerRow],
    markers: &[StartedRun],
    request: &UpRequest,
) -> Result<UpPlan<'a>> {
    check_up_request(set, request)?;
    let history = History::of(set, rows, request.first_version);
    let through = reach(set, &history, request);
    // An applied migration that cannot be read, or is half there, cannot be checked; a
    // pending one the request reaches cannot run (beyond it, a draft being written, or a
    // confiture (Python) migration, does not stop `up`).
    super::check_usable(
        set,
        &history,
        false,
        |v, recorded| recorded || through.is_none_or(|t| v <= t),
        python_way(set, &history, request, through),
    )
    .map_err(|err| stop_before_python(set, rows, request, &history, through, err))?;
    let mut plan = UpPlan {
        through,
        ..UpPlan::default()
    };
    let spelled = request
        .target
        .as_ref()
        .and_then(|t| find(set, t.number()))
        .map(|m| m.version_text.as_str());
    let with_out_of_order = up_args(request, spelled, Some("--allow-out-of-order"));
    let over_run =
        |m: &Migration| super::baseline_records_over_run(set, rows, markers, &Version::of(m));
    if let Err(err) = check_history_for(
        set,
        &history,
        request.allow_out_of_order,
        (&with_out_of_order, &over_run),
    ) {
        match explain_newer_database(set, &history, err, true) {
            (_, Some(newer)) if request.allow_newer_database => plan.newer_database = Some(newer),
            (err, _) => return Err(err),
        }
    }
    if !request.allow_destructive {
        check_destructive_gate(&history, request.target.as_ref().map(Version::number))?;
    }
    let limit = request.steps.map_or(usize::MAX, |s| s as usize);
    for m in history.pending() {
        let within = through.is_none_or(|t| m.version <= t);
        if within && plan.apply.len() < limit {
            plan.apply.push(m);
        } else {
            plan.skipped.push(m);
        }
    }
    Ok(plan)
}

/// Refuses (exit 7) an `up` planned as `plan` over the start markers read with the ledger
/// (`markers`, [`crate::plan::check_interrupted`]): a migration it applies whose earlier run
/// was left part-way, unless `rerun` (`--rerun-interrupted`); any rollback left part-way.
/// What `up` and its dry run both refuse, before anything runs.
pub fn check_up_interrupted(
    set: &MigrationSet,
    rows: &[LedgerRow],
    markers: &[crate::ledger::StartedRun],
    request: &UpRequest,
    plan: &UpPlan<'_>,
    rerun: bool,
) -> Result<()> {
    check_up_interrupted_with(set, rows, markers, request, plan, rerun, &[])
}

/// [`check_up_interrupted`], knowing what the runs left part-way left in the database (`left`,
/// as [`crate::plan::check_interrupted_with`] takes it): their refusal names it (an INVALID
/// index is dropped and built again, never recorded; a pending detach is finished), and an
/// apply a row recorded over while its index is INVALID is refused as `status` shows it.
pub fn check_up_interrupted_with(
    set: &MigrationSet,
    rows: &[LedgerRow],
    markers: &[crate::ledger::StartedRun],
    request: &UpRequest,
    plan: &UpPlan<'_>,
    rerun: bool,
    left: &[(String, super::LeftBehind)],
) -> Result<()> {
    if markers.is_empty() {
        return Ok(());
    }
    let history = History::of(set, rows, request.first_version);
    // What it committed does not make a database with no row refuse it as one whose history
    // was lost: its marker says a run of ours left it ([`crate::ledger::Unrecorded::left_by_our_run`]).
    let again = up_args(
        request,
        up_plan_bound(request, plan),
        Some("--rerun-interrupted"),
    );
    super::check_interrupted_with(
        &history,
        markers,
        crate::files::Direction::Up,
        &plan.apply,
        rerun,
        &again,
        left,
    )
}

/// The way past the pending confiture (Python) migrations the request reaches (`through`,
/// [`reach`]), which cargo confiture cannot run: None when there are none. confiture (Python)
/// applies the pending migrations up to the newest of them (`confiture migrate up --target P`:
/// those of a version up to P, its own and ours), then ours applies the rest and stops where
/// the request stops: `migrate up --target T` (T its bound, as the files spell it) for a
/// bounded request — the same `--steps N` again would count from there and apply more —, the
/// request itself for an unbounded one. A bare `confiture migrate up` would apply every
/// pending migration, beyond the request's bound.
pub(super) fn python_way(
    set: &MigrationSet,
    history: &History<'_>,
    request: &UpRequest,
    through: Option<u64>,
) -> Option<String> {
    let python: Vec<&crate::files::PythonFile> = history
        .python()
        .filter(|&(f, recorded)| !recorded && through.is_none_or(|t| f.version <= t))
        .map(|(f, _)| f)
        .collect();
    let newest = python.iter().max_by_key(|f| f.version)?;
    let names = python
        .iter()
        .map(|f| {
            format!(
                "`{}`",
                crate::display::escape(&crate::display::file_name(&f.path))
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let what = match python.len() {
        1 => format!("{names} is a confiture (Python) migration"),
        _ => format!("{names} are confiture (Python) migrations"),
    };
    let command = crate::hint::python_command(&format!(
        "migrate up --target {}",
        crate::hint::quote(&newest.version_text)
    ));
    // The newest version the request applies, as its files spell it (a `--steps N` reaches a
    // migration or a confiture (Python) one; a `--target`, as typed when no file has it):
    // past the newest confiture (Python) migration, ours applies the rest.
    let bounded = request.target.is_some() || request.steps.is_some();
    let end = through.map(|t| {
        let spelled = find(set, t)
            .map(|m| m.version_text.clone())
            .or_else(|| {
                (set.python.iter())
                    .find(|f| f.version == t)
                    .map(|f| f.version_text.clone())
            })
            .or_else(|| request.target.as_ref().map(|v| v.as_str().to_string()))
            .unwrap_or_else(|| t.to_string());
        (t, spelled)
    });
    let then = match (bounded, end) {
        (true, Some((v, _))) if v <= newest.version => {
            "; that is all this request applies".to_string()
        }
        (true, Some((_, spelled))) => format!(
            ", then {} applies the rest and stops at {spelled}, where this request stops",
            crate::hint::command(&up_args(request, Some(&spelled), None))
        ),
        _ => format!(
            ", then {} applies the rest",
            crate::hint::command(&up_args(request, None, None))
        ),
    };
    Some(format!(
        "{what}, which cargo confiture cannot run: first {command} applies the pending \
         migrations up to {} with confiture (Python), and none after it{then}",
        crate::display::escape(&newest.version_text),
    ))
}

/// The refusal of a pending confiture (Python) migration the request reaches, with the
/// `migrate up --target V` that applies the migrations before it and stops there (V the newest
/// pending one below it, as its files spell it) when that command would be accepted — the same
/// way past a broken draft as [`check_up_files`]'s: a service owning the SQL migrations need
/// not run confiture (Python) first.
fn stop_before_python(
    set: &MigrationSet,
    rows: &[LedgerRow],
    request: &UpRequest,
    history: &History<'_>,
    through: Option<u64>,
    err: Error,
) -> Error {
    let Some(python) = history
        .python()
        .filter(|&(f, recorded)| !recorded && through.is_none_or(|t| f.version <= t))
        .map(|(f, _)| f)
        .min_by_key(|f| f.version)
    else {
        return err;
    };
    let Some(before) = history
        .pending()
        .filter(|m| m.version < python.version)
        .max_by_key(|m| m.version)
    else {
        return err;
    };
    let stop = UpRequest {
        steps: None,
        target: Some(Version::of(before)),
        ..request.clone()
    };
    if up(set, rows, &stop).is_err() {
        return err;
    }
    let args = up_args(request, Some(&before.version_text), None);
    let help = format!(
        "{} applies the migrations before `{}` and stops there",
        crate::hint::command(&args),
        crate::display::escape(&crate::display::file_name(&python.path))
    );
    let joined = match &err.help {
        Some(text) => format!("{text}; {help}"),
        None => help,
    };
    err.with_help(joined)
}

/// The command that finishes `plan` (made from `request` over `rows`) once a part of it may
/// have been applied — a run that failed or was interrupted midway, limited by `--steps` or
/// `--target` (`plan.skipped` not empty): `migrate up --target V`, V the plan's newest
/// version, so that it applies what the plan had left and nothing more, however much of it
/// committed (the same `--steps N` again would apply N more; a bare `migrate up`, every pending
/// one). The request's `--allow-*` flags are kept. `None` when the plan holds every pending
/// migration (the command again finishes it) or no `--target` reaches exactly its migrations.
/// The counterpart of [`super::finishing_command`] (`down`).
pub fn up_finishing_command(
    set: &MigrationSet,
    rows: &[LedgerRow],
    request: &UpRequest,
    plan: &UpPlan<'_>,
) -> Option<(u64, String, String)> {
    if plan.skipped.is_empty() {
        return None;
    }
    let newest = plan.apply.iter().max_by_key(|m| m.version)?;
    let (target, spelled) = (newest.version, newest.version_text.clone());
    let finish = UpRequest {
        steps: None,
        target: Some(Version::of(newest)),
        ..request.clone()
    };
    let again = up(set, rows, &finish).ok()?;
    let versions = |ms: &[&Migration]| {
        let mut v: Vec<u64> = ms.iter().map(|m| m.version).collect();
        v.sort_unstable();
        v
    };
    if versions(&again.apply) != versions(&plan.apply) {
        return None;
    }
    let args = up_args(request, Some(&spelled), None);
    Some((target, spelled, args))
}

/// `up` as `request` asked it, as a help suggests it ([`crate::hint::command`]'s arguments):
/// `migrate up`, its bound — `--target V` when `target` (V spelled as its file spells it:
/// `--target 003`), else the request's `--steps N` — its `--allow-*` flags,
/// `--single-transaction` and `--create-database`, then `also`, the flag a refusal asks for. The one spelling of
/// "the same `up`" in a suggestion: a bare `migrate up` would apply every pending migration,
/// more than a `--target` or `--steps` asked.
pub fn up_args(request: &UpRequest, target: Option<&str>, also: Option<&str>) -> String {
    let bound = match (target, request.steps) {
        (Some(target), _) => format!("--target {target}"),
        (None, Some(steps)) => format!("--steps {steps}"),
        (None, None) => String::new(),
    };
    crate::hint::args("migrate up", &bound, &request.repeated_flags(), also)
}

/// [`up_args`] bounded as `plan` (made from `request`) is: `--target V`, V the newest migration
/// it applies, when the request had a bound (`--target`, or a `--steps N` that counts from
/// whatever the ledger has by then: after a `baseline`, N more), else none.
pub fn up_plan_args(request: &UpRequest, plan: &UpPlan<'_>, also: Option<&str>) -> String {
    up_args(request, up_plan_bound(request, plan), also)
}

/// The version `plan` (made from `request`) is bounded at, as [`up_plan_args`] writes it in
/// `--target V`: the newest migration it applies when the request had a bound (`--target`,
/// `--steps N`), else `None` (every pending migration).
pub fn up_plan_bound<'p>(request: &UpRequest, plan: &'p UpPlan<'_>) -> Option<&'p str> {
    let limited = request.target.is_some() || request.steps.is_some();
    plan.apply
        .iter()
        .max_by_key(|m| m.version)
        .filter(|_| limited)
        .map(|m| m.version_text.as_str())
}

/// The help of `--single-transaction`'s refusal of `plan` (made from `request`): its migration
/// `i` runs without a transaction. The commands that apply the same migrations, each keeping
/// the request's flags: those before it in one transaction (`--target` the one before it,
/// `--single-transaction`), it on its own (`--target` it, without `--single-transaction`), then
/// the rest as the request bounded them ([`up_plan_args`]: the same `--steps N` again would
/// count from there and apply more); or the request without `--single-transaction`.
pub fn single_transaction_help(request: &UpRequest, plan: &UpPlan<'_>, i: usize) -> String {
    let Some(alone) = plan.apply.get(i) else {
        return "drop --single-transaction".to_string();
    };
    let each = UpRequest {
        single_transaction: false,
        ..request.clone()
    };
    let mut steps = Vec::new();
    if let Some(before) = i.checked_sub(1).and_then(|b| plan.apply.get(b)) {
        steps.push(format!(
            "the migrations before it in one transaction ({})",
            crate::hint::command(&up_args(request, Some(&before.version_text), None))
        ));
    }
    steps.push(format!(
        "{} on its own ({})",
        alone.id(),
        crate::hint::command(&up_args(&each, Some(&alone.version_text), None))
    ));
    if i + 1 < plan.apply.len() {
        steps.push(format!(
            "the rest ({})",
            crate::hint::command(&up_plan_args(request, plan, None))
        ));
    }
    format!(
        "apply {}; or drop --single-transaction: {}",
        steps.join(", then "),
        crate::hint::command(&up_plan_args(&each, plan, None))
    )
}

/// Refuses (exit 5, before anything runs) when a pending migration up to `target` carries
/// confiture's gate `-- confiture:destructive`, as confiture's `migrate up` does (`VALID_002`):
/// every pending one up to the target, whatever `--steps` says, like confiture.
fn check_destructive_gate(history: &History<'_>, target: Option<u64>) -> Result<()> {
    let gated: Vec<String> = history
        .pending()
        .filter(|m| target.is_none_or(|t| m.version <= t) && m.up.destructive)
        .map(|m| crate::display::path_text(&m.up.path).to_string())
        .collect();
    if gated.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "refusing to apply {} gated as destructive (`-- confiture:destructive`: \
         data is lost when {} applies): {}",
        plural(gated.len(), "migration"),
        if gated.len() == 1 { "it" } else { "they" },
        gated.join(", ")
    ))
    .with_help(
        "review the migration, then run again with `--allow-destructive` (confiture's \
         `migrate up` refuses it the same way)",
    ))
}

/// The SQLSTATEs a statement gets when an object it names does not exist: undefined table,
/// column, object, function, schema. What a correct first migration of a squashed history
/// gets on a database without the snapshot.
pub const ABSENT_OBJECT_SQLSTATES: [&str; 5] = ["42P01", "42703", "42704", "42883", "3F000"];

/// The help of a migration that failed on a database without the schema snapshot of a squashed
/// history, or `None`: the directory starts at `first_version` > 1 (the versions below were
/// squashed into a snapshot), the ledger records nothing (`rows` empty: a new database, or a
/// scratch one), the migration that failed (`failed`, its version) is the directory's first —
/// which runs on that snapshot — and the server's `sqlstate` is one an absent object raises
/// ([`ABSENT_OBJECT_SQLSTATES`]; a division by zero is the file's). Decided from this data,
/// never from the server's words. `scratch`: the database is the scratch one of this command
/// (`migrate verify`, `migrate drift`: `ApplySettings::scratch`), which
/// never has the snapshot: the help names that command, never `migrate up`/`down` (pasted,
/// they would write the target).
pub fn snapshot_missing_help(
    set: &MigrationSet,
    rows: &[LedgerRow],
    first_version: Option<u64>,
    failed: u64,
    sqlstate: &str,
    scratch: Option<&str>,
) -> Option<String> {
    let first_version = first_version.filter(|&v| v > 1)?;
    let first = set.migrations.iter().min_by_key(|m| m.version)?;
    if !rows.is_empty() || first.version != failed || !ABSENT_OBJECT_SQLSTATES.contains(&sqlstate) {
        return None;
    }
    if let Some(command) = scratch {
        let from = if command == crate::hint::VERIFY {
            " (`--from` does not help: the migrations before it are applied first, on the same \
             scratch database)"
        } else {
            ""
        };
        return Some(format!(
            "the history is squashed (`first_version = {first_version}`): {}, the first \
             migration, runs on the schema snapshot of the versions below {first_version}, and \
             `{command}` builds its scratch database from the files alone, without the \
             snapshot, so it cannot check this history{from}. Check the migrations by hand on a \
             copy of a database that has the snapshot loaded; if {} does not need the snapshot, \
             fix it, then run {}",
            first.id(),
            crate::display::path_text(&first.up.path),
            crate::hint::AGAIN
        ));
    }
    Some(format!(
        "the history is squashed (`first_version = {first_version}`) and this database records \
         none of it: {}, the first migration, runs on the schema snapshot of the versions below \
         {first_version}, which a new database loads first (e.g. `psql -f <snapshot>.sql`), \
         then {}; `migrate verify` builds its scratch database from the files alone, without \
         the snapshot. If the snapshot is loaded, fix {}",
        first.id(),
        crate::hint::command("migrate up"),
        crate::display::path_text(&first.up.path)
    ))
}

/// The help of a run that an INVALID index (`schema.name`, as `DROP INDEX` takes it) stops or
/// would stop: drop it, then run `again` (a suggested command: with `--rerun-interrupted` when
/// the migration's start marker stays), which builds it. The one wording of the engine's
/// refusals and failures over such an index, and of `status`' help for a pending migration
/// that would meet one ([`crate::status::StatusReport::interrupted_help`]).
///
/// The statement comes first, in backquotes, as it is run: a help may go on after the command
/// (`; what it committed stays: ...`).
pub(crate) fn drop_invalid_index_then(qualified: &str, again: &str) -> String {
    format!(
        "drop the unfinished index, `DROP INDEX CONCURRENTLY {qualified};`, then run {} again",
        crate::hint::command(again),
    )
}
