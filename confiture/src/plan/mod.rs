//! What `up`, `down`, `baseline`, `reinit` and `abandon` will do, decided from the files, the
//! ledger rows and the request. Pure: no IO, never panics on input. A refusal is an [`Error`]
//! whose [`Reason`] carries every offending migration as data
//! ([`Reason::Diverged`], [`Reason::Irreversible`]),
//! rendered once into `details`, and whose `help` names the command that resolves it.
//!
//! One file per command family: `up` (and the history check), `down`, `rewrite` (`baseline`
//! and `reinit`), `abandon`; this file holds what they share.
//!
//! Which row records which file is [`crate::history`]'s rule, the same `status` shows; a plan
//! names each row it deletes or rewrites by that row's own `version`.

use crate::diagnostic::Diagnostic;
use crate::error::{Diverged, Divergence, Error, NewerDatabase, Reason, Result};
use crate::files::{AppliedHere, Migration, MigrationSet, Origin};
use crate::history::{recorded_checksum, History, Recorded, State, Version};
use crate::ledger::{IncompleteRow, LedgerRow};

mod abandon;
mod down;
mod interrupted;
mod rewrite;
mod shared;
#[cfg(test)]
mod tests;
mod up;

pub use abandon::{abandon, AbandonPlan, Abandoned, After};
pub use down::{
    check_down_files, check_down_interrupted, check_down_interrupted_with, check_down_request,
    down, down_args, finishing_command, gap_warnings, DownPlan, DownRequest, Rollback,
};
pub use interrupted::{
    check_interrupted, check_interrupted_with, check_rewrite_interrupted,
    check_rewrite_interrupted_with, check_unknown_interrupted, committed_run_again,
    committed_run_again_warnings, committed_statements, committed_statements_of,
    confirm_recording_interrupted, record_command, record_interrupted_command,
    recorded_above as recorded_above_rollback, recorded_over, refusal as interrupted_refusal,
    rollback_committed_ways_on, rollback_row_help as interrupted_rollback_row_help,
    rolled_back_by_another_tool_help, shared_version as interrupted_shared_version,
    superseded as superseded_markers, under_rows_ways_on as rollback_under_rows_ways_on,
    unknown_help as interrupted_unknown_help, ways_on as interrupted_ways_on,
    with_committed_run_again, LeftBehind, PendingDetach,
};
pub use rewrite::{
    baseline, baseline_records_over_run, check_reinit_files, confirm_reinit, reinit, BaselinePlan,
    ReinitAction, ReinitPlan, ReinitStep,
};
#[cfg(feature = "db")]
pub(crate) use rewrite::{check_baseline_request, check_reinit_request};
pub use shared::{another_members_help, of_another_member, AnotherMembersRows, SharedLedger};
#[cfg(feature = "db")]
pub(crate) use shared::{
    explain_another_member, markers_to_abandon, refuse_over_another_member, Writing,
};
pub(crate) use up::drop_invalid_index_then;
#[cfg(feature = "db")]
pub(crate) use up::up_over;
pub use up::{
    check_history, check_up_files, check_up_interrupted, check_up_interrupted_with,
    check_up_request, divergences, out_of_order_help, reach, single_transaction_help,
    snapshot_missing_help, up, up_args, up_finishing_command, up_plan_args, up_plan_bound, UpPlan,
    UpRequest, ABSENT_OBJECT_SQLSTATES,
};

/// The command that accepts the files as they are, as hints name it: `reinit` without
/// `--through` only rewrites rows the ledger already has, so it is safe to suggest.
/// The suggestion that accepts edits or forgets rows: plain `reinit`, which only rewrites the
/// rows the ledger has.
/// What confiture (Python)'s squashed `baseline` ([`MigrationSet::squashed_baseline`]) holds,
/// the one wording of it in `up`'s and `down`'s texts, said after its name: `confiture
/// (Python)'s `migrate squash` squashed the versions through 003 into it`.
pub(super) fn squashed_into(baseline: &Migration) -> String {
    let through = baseline.up.squashed_through.unwrap_or_default();
    let width = baseline.version_text.len();
    format!(
        "confiture (Python)'s `migrate squash` squashed the versions through {through:0width$} \
         into it"
    )
}

pub(super) fn lint_help() -> String {
    format!(
        "fix the files listed ({} explains each rule), then run again",
        crate::hint::command("lint")
    )
}

pub(super) fn reinit_hint() -> String {
    crate::hint::command("migrate reinit")
}

/// What a refusal of a diverged history compares the ledger with: the migration files, or the
/// migrations a binary embeds (which are no files on disk).
pub(super) fn compared_with(set: &MigrationSet) -> String {
    match set.origin.binary() {
        Some(binary) => format!("the migrations this binary ({binary}) embeds"),
        None => "the migration files".to_string(),
    }
}

/// What the help of an error about an unknown `version` says of the versions with files in the
/// directory (its migrations', and those whose files cannot be used:
/// [`MigrationSet::versions_on_disk`], sorted, not empty): the only one; the newest (or the
/// oldest) when `version` is past every one (or before), which is the one near it; else the
/// two on each side of it.
fn nearby(on_disk: &[(u64, String)], version: u64) -> String {
    match on_disk {
        [(_, only)] => return format!("the only migration is {only}"),
        [.., (newest, id)] if *newest < version => return format!("the newest migration is {id}"),
        [(oldest, id), ..] if *oldest > version => return format!("the oldest migration is {id}"),
        _ => {}
    }
    let below = on_disk.iter().filter(|(v, _)| *v < version).rev().take(2);
    let above = on_disk.iter().filter(|(v, _)| *v > version).take(2);
    let mut near: Vec<&(u64, String)> = below.chain(above).collect();
    near.sort_by_key(|(v, _)| *v);
    let ids: Vec<&str> = near.iter().map(|(_, id)| id.as_str()).collect();
    format!("the nearest versions are {}", ids.join(", "))
}

/// The one resolver of a flag that names a version (`--target`, `--through`): `Ok` when the
/// directory has files of it — a migration, or files that cannot be used, which the
/// command's own refusal for them names (exit 5) — else the usage error (exit 64) naming the
/// nearest versions.
/// `version` is shown as the user spelt it (`--target 042: no migration with version 042`).
pub(super) fn check_version(
    set: &MigrationSet,
    flag: &str,
    version: &Version,
) -> Result<(), Error> {
    if set.has_version(version.number()) {
        return Ok(());
    }
    let err = Error::usage(format!(
        "{flag} {version}: no migration with version {version} in {}",
        set.dir.display()
    ));
    let on_disk = set.versions_on_disk();
    if on_disk.is_empty() {
        return Err(err.with_help("the migrations directory has no migrations"));
    }
    Err(err.with_help(nearby(&on_disk, version.number())))
}

pub(super) fn find(set: &MigrationSet, version: u64) -> Option<&Migration> {
    set.migrations.iter().find(|m| m.version == version)
}

/// What a command refused for its files would have done with their migrations: the one owner
/// of the sentence its refusal ends with, one per command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// It runs them: `up`, `down`, and `verify`'s and `drift`'s replays.
    Runs,
    /// It records them as applied (or forgets their rows) without running them: `baseline`,
    /// `reinit`.
    Records,
}

impl Effect {
    /// `nothing was run`, `nothing was recorded`.
    pub const fn nothing_done(self) -> &'static str {
        match self {
            Effect::Runs => "nothing was run",
            Effect::Records => "nothing was recorded",
        }
    }
}

/// The invalid-files error: [`crate::files::refusal`], ending with what the command did not
/// do ([`Effect::nothing_done`]).
pub(super) fn invalid_files(
    set: &MigrationSet,
    errors: &[&Diagnostic],
    help: String,
    effect: Effect,
) -> Error {
    crate::files::refusal(&set.dir, errors.iter().copied(), effect.nothing_done()).with_help(help)
}

/// Refuses (exit 5) to go on when a migration `concerns` (its version, and whether a row
/// records it) has files on disk that cannot be used: files that cannot be read
/// ([`State::Unreadable`]), or half a pair of a recorded migration ([`History::incomplete`]).
/// The one refusal of `up`, `down`, `baseline` and `reinit` for such migrations: a row is never
/// taken for one with no file (forgotten, or its migration run again), nor its file for a
/// pending one. A confiture (Python) migration ([`State::Python`]) cannot run either: pending,
/// it concerns whoever `concerns` names; applied, only a run that `rolls_back` it. The message
/// names each file with what is wrong with it. `python_way` is the way past such migrations
/// for the request refused (`up`'s and `down`'s `python_way`: the confiture (Python) command
/// that goes exactly as far as they, then ours that ends where the request ends); `None`, the
/// general [`PYTHON_HELP`].
pub(super) fn check_usable(
    set: &MigrationSet,
    history: &History<'_>,
    rolls_back: bool,
    concerns: impl Fn(u64, bool) -> bool,
    python_way: Option<String>,
) -> Result<(), Error> {
    let recorded = |v: u64| {
        history.recorded.iter().any(|r| {
            r.state == State::Unreadable { recorded: true }
                && r.version.as_ref().is_some_and(|rv| rv.number() == v)
        })
    };
    let shown = |path: &std::path::Path| {
        crate::display::escape(&crate::display::file_name(path)).to_string()
    };
    let unreadable: Vec<String> = history
        .unreadable()
        .filter(|&(v, _)| concerns(v, recorded(v)))
        .flat_map(|(_, files)| files.iter())
        .map(|f| {
            format!(
                "cannot read `{}`: {}",
                shown(&f.path),
                crate::display::escape(&f.error)
            )
        })
        .collect();
    // One list of lines per migration: the count is of migrations, the details of files.
    let incomplete: Vec<Vec<String>> = history
        .incomplete()
        .filter(|&(v, _)| concerns(v, true))
        .map(|(_, files)| {
            files
                .iter()
                .filter_map(|f| {
                    if f.misnamed {
                        return Some(format!(
                            "`{}` is applied, but misnamed: its name is `{}`",
                            shown(&f.path),
                            crate::display::escape(&f.file_name())
                        ));
                    }
                    // Its other half is there, misnamed: that file's line says it.
                    let other_half = files
                        .iter()
                        .any(|o| o.misnamed && o.direction != f.direction);
                    (!other_half).then(|| {
                        format!(
                            "`{}` is applied, but `{}` is not there",
                            shown(&f.path),
                            crate::display::escape(&f.missing_half())
                        )
                    })
                })
                .collect::<Vec<String>>()
        })
        .filter(|lines| !lines.is_empty())
        .collect();
    // A confiture (Python) migration cannot be run (applied, nor rolled back) by us. Recorded
    // ones concern only a run that would roll them back: `up` and `reinit` go past them.
    let python: Vec<String> = history
        .python()
        .filter(|&(f, recorded)| concerns(f.version, recorded) && (!recorded || rolls_back))
        .map(|(f, recorded)| {
            format!(
                "`{}` is a confiture (Python) migration{}; cargo confiture cannot run it",
                shown(&f.path),
                if recorded { ", applied" } else { ", pending" }
            )
        })
        .collect();
    let mut what = Vec::new();
    let mut help = Vec::new();
    match python.len() {
        0 => {}
        1 => what.push("a confiture (Python) migration".to_string()),
        n => what.push(format!("{n} confiture (Python) migrations")),
    }
    if !python.is_empty() {
        help.push(python_way.unwrap_or_else(|| PYTHON_HELP.to_string()));
    }
    match unreadable.len() {
        0 => {}
        1 => what.push("a migration file that cannot be read".to_string()),
        n => what.push(format!("{n} migration files that cannot be read")),
    }
    if !unreadable.is_empty() {
        help.push(UNREADABLE_HELP.to_string());
    }
    match incomplete.len() {
        0 => {}
        1 => what
            .push("an applied migration whose pair of files is incomplete or misnamed".to_string()),
        n => what.push(format!(
            "{n} applied migrations whose pairs of files are incomplete or misnamed"
        )),
    }
    if !incomplete.is_empty() {
        help.push(String::from(incomplete_help(
            (history.incomplete())
                .filter(|&(v, _)| concerns(v, true))
                .map(|(_, files)| IncompletePair::of(files)),
        )));
    }
    if what.is_empty() {
        return Ok(());
    }
    let mut err = Error::invalid(format!(
        "{} has {}; nothing was done",
        set.dir.display(),
        what.join(" and ")
    ))
    .with_help(help.join("; "));
    for line in (python.into_iter())
        .chain(unreadable)
        .chain(incomplete.into_iter().flatten())
    {
        err = err.with_detail(line);
    }
    Err(err)
}

/// Whether a missing migration ([`State::Missing`]) left a gap in the files: a file of a
/// higher version is on disk, so the directory has a version missing (C004, or C005 below the
/// first file) that `up` refuses, with or without the row. Forgetting the row (`reinit`) then
/// does not unblock `up`; keeping the pair with `SELECT 1;` does.
pub fn missing_leaves_gap(set: &MigrationSet, history: &History<'_>) -> bool {
    let missing = history.missing();
    if missing.is_empty() {
        // Most ledgers: the directory's versions (an id formatted for each) are not listed.
        return false;
    }
    let Some(highest) = set.versions_on_disk().last().map(|(v, _)| *v) else {
        return false;
    };
    (missing.iter())
        .filter_map(|r| r.version.as_ref())
        .any(|v| v.number() < highest)
}

/// What to do about applied migrations whose files are gone while another migration has
/// their number (`replaced`): the one text of `up`'s refusal and `status`'s help. The new
/// migration may be the applied one renamed and edited — the files cannot tell —, so the help
/// never says it never ran, and gives the way that records nothing twice before `reinit`,
/// which would run it again.
pub fn replaced_help() -> String {
    format!(
        "restore the applied migrations' files from version control and give the new \
         migration the next free number; if the new one is an applied one renamed (and \
         edited), give it back its old name instead (then {reinit} accepts an edit that changes \
         nothing that runs), since forgetting the row would run it again; only if the applied \
         one was removed on purpose, {reinit} forgets its row and the next `migrate up` runs \
         the new one",
        reinit = reinit_hint()
    )
}

/// What to do about a migration removed on purpose whose number a later file follows
/// ([`missing_leaves_gap`]): the text of `migrate status` and `up`'s refusal, C004's way.
pub const RETIRE_IN_A_GAP_HELP: &str = "if they were removed on purpose, keep each pair with \
     `SELECT 1;` in each file under its number (forgetting the rows with `migrate reinit` alone \
     would leave the gap in the versions, which `migrate up` refuses)";

/// What to do about applied migrations whose files are gone, if they were removed on purpose:
/// **the one answer**, of `up`'s and `down`'s refusals and `migrate status`'s help. `reinit`
/// forgets their rows, unless a later file follows their numbers ([`missing_leaves_gap`]):
/// forgotten, they would leave a gap `up` refuses, so each pair is kept with `SELECT 1;`
/// ([`RETIRE_IN_A_GAP_HELP`]). `kept`: what `reinit` keeps besides (`status`'s rows of a
/// newer release), said after it.
pub fn removed_on_purpose_help(leaves_gap: bool, kept: &str) -> String {
    match leaves_gap {
        true => RETIRE_IN_A_GAP_HELP.to_string(),
        false => format!(
            "if they were removed on purpose, {} forgets their rows{kept}",
            reinit_hint()
        ),
    }
}

/// What to do about applied migrations whose up files were edited since they ran: the one
/// text of `up`'s refusal and `migrate status`'s help. `reinit` records the new text as
/// applied without running it, so it is offered for edits that change nothing that runs
/// only: an intended schema change run through it would be recorded and never made.
///
/// `line_endings` says which of them (by version) differ from what ran only by their line
/// endings, and which way ([`crate::history::line_endings_change`]), and which were edited;
/// each part of the help names its own: to those this checkout converted to CRLF (or an
/// editor to lone CRs), `reinit` is never offered (it would record the converted bytes, which
/// every other checkout would see modified); to those that ran from CRLF bytes and whose file
/// has LF, the bytes the repository holds, it is the way on (a new checkout changes nothing) —
/// once the edited ones, if any, are restored: `reinit` records every modified file, and it
/// refuses to record edits beside them without `--yes` ([`confirm_reinit`]).
pub fn modified_help(line_endings: LineEndings) -> String {
    modified_help_of(&Origin::Directory, line_endings)
}

/// [`modified_help`] for the migrations of `origin`: a binary's embedded set has no file to
/// restore, and what it embeds is the text of the files it was built from.
pub fn modified_help_of(origin: &Origin, line_endings: LineEndings) -> String {
    let LineEndings {
        edited,
        to_crlf,
        to_lf,
        bom_added,
        bom_removed,
    } = &line_endings;
    let mut help = Vec::new();
    if !edited.is_empty() {
        let beside = !(to_lf.is_empty() && bom_removed.is_empty());
        help.push(edited_help(origin, edited, beside));
    }
    // The way on of files whose bytes are the ones to keep: `reinit` records them.
    let reinit_way = |head: String, these: &[String]| {
        let them = crate::display::it_them(these.len());
        match edited.is_empty() {
            true => format!(
                "{head}, and {} records {them} as applied without running {them} (nothing \
                 that runs changed; `--dry-run` shows the rows first)",
                reinit_hint()
            ),
            // `reinit` records every modified file: the edited ones first go back to what ran.
            false => format!(
                "{head}; but {} records every modified file, {}'s edits too, as applied without \
                 running them: restore {} first, then {} records {} (`--dry-run` shows the rows \
                 first)",
                reinit_hint(),
                crate::display::versions(edited),
                crate::display::versions(edited),
                reinit_hint(),
                crate::display::versions(these),
            ),
        }
    };
    if !to_crlf.is_empty() {
        let one = to_crlf.len() == 1;
        help.push(format!(
            "{} {} only by line endings (CRLF, or lone CR) and {} converted by your \
             checkout (git's `core.autocrlf`) or an editor: add `*.sql -text` to .gitattributes \
             and check {} out again (or convert {} to LF); never `migrate reinit` {}, which \
             would record the converted bytes that every LF checkout then sees modified",
            crate::display::versions(to_crlf),
            if one { "differs" } else { "differ" },
            if one { "was" } else { "were" },
            crate::display::it_them(to_crlf.len()),
            crate::display::it_them(to_crlf.len()),
            crate::display::it_them(to_crlf.len()),
        ));
    }
    if !to_lf.is_empty() {
        let them = crate::display::it_them(to_lf.len());
        let one = to_lf.len() == 1;
        let head = format!(
            "{} {} only by line endings: the ledger records {them} with CRLF (or lone CR) line \
             endings and {} LF, the bytes the repository holds: the checkout {} applied from \
             converted {them} (git's `core.autocrlf`), or {} converted to LF since, or a \
             `migrate reinit` recorded the bytes of a checkout that had converted {them} (the \
             text that ran is the same), and a new checkout changes nothing; add `*.sql -text` \
             to .gitattributes so that no checkout converts {them} again",
            crate::display::versions(to_lf),
            if one { "differs" } else { "differ" },
            if one { "it has" } else { "they have" },
            if one { "it was" } else { "they were" },
            if one { "it was" } else { "they were" },
        );
        help.push(reinit_way(head, to_lf));
    }
    if !bom_added.is_empty() {
        let one = bom_added.len() == 1;
        let them = crate::display::it_them(bom_added.len());
        help.push(format!(
            "{} {} only by a UTF-8 byte-order mark (and line endings, if they changed too) \
             that an editor added: {} ran without one; save {them} without the mark (and with \
             LF) again; never `migrate reinit` {them}, which would record the mark that every \
             other checkout then sees modified",
            crate::display::versions(bom_added),
            if one { "differs" } else { "differ" },
            if one { "it" } else { "they" },
        ));
    }
    if !bom_removed.is_empty() {
        let one = bom_removed.len() == 1;
        let head = format!(
            "{} {} only by a UTF-8 byte-order mark (and line endings, if they changed too): the \
             ledger records {them} with the mark, which the {} no longer {} (as `lint`'s C014 \
             advises) — {} ran with it, or a `migrate reinit` recorded the mark an editor had \
             added (the text that ran is the same) —, and the checksum, confiture (Python)'s \
             too, covers the raw bytes",
            crate::display::versions(bom_removed),
            if one { "differs" } else { "differ" },
            if one { "file" } else { "files" },
            if one { "has" } else { "have" },
            if one { "it" } else { "they" },
            them = crate::display::it_them(bom_removed.len()),
        );
        help.push(reinit_way(head, bom_removed));
    }
    help.join("; ")
}

/// Of the modified migrations [`modified_help`] is about, which are which (their versions, as
/// shown): edited, or differing from what ran only by their line endings, one way or the
/// other ([`crate::history::LineEndingChange`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineEndings {
    /// Those edited.
    edited: Vec<String>,
    /// Those that ran with LF and whose file has CRLF (or lone CRs).
    to_crlf: Vec<String>,
    /// Those that ran with CRLF (or lone CRs) and whose file has LF.
    to_lf: Vec<String>,
    /// Those that ran without a byte-order mark and whose file has one.
    bom_added: Vec<String>,
    /// Those that ran with a byte-order mark and whose file has none.
    bom_removed: Vec<String>,
}

impl LineEndings {
    /// Of modified migrations, each one's version and its
    /// [`crate::history::line_endings_change`] (`None`: it was edited), the one rule of which
    /// way on each takes ([`crate::history::LineEndingChange::file_has_lf`]).
    pub fn of(
        changes: impl IntoIterator<Item = (String, Option<crate::history::LineEndingChange>)>,
    ) -> LineEndings {
        let mut kinds = LineEndings::default();
        use crate::history::LineEndingChange::{BomAdded, BomRemoved};
        for (version, change) in changes {
            match change {
                Some(BomAdded) => kinds.bom_added.push(version),
                Some(BomRemoved) => kinds.bom_removed.push(version),
                Some(change) if change.file_has_lf() => kinds.to_lf.push(version),
                Some(_) => kinds.to_crlf.push(version),
                None => kinds.edited.push(version),
            }
        }
        kinds
    }
}

/// [`modified_help`] for the files `edited` (versions); `beside_line_endings`: others differ
/// only by line endings, which `reinit` is offered for once these are restored, and `reinit`
/// refuses to record these beside them without `--yes` ([`confirm_reinit`]).
fn edited_help(origin: &Origin, edited: &[String], beside_line_endings: bool) -> String {
    let listed = crate::display::versions(edited);
    let reinit = match beside_line_endings {
        false => reinit_hint(),
        true => crate::hint::command("migrate reinit --yes"),
    };
    if let Some(binary) = origin.binary() {
        return format!(
            "this binary ({binary}) embeds another text of {listed} than the database ran: it \
             was built from other files than the build (or the command line) that applied \
             them, a file edited since on one side; build and deploy from the files that ran \
             (restore them from version control: `git log -- <file>` shows the applied \
             version); an intended schema change goes in a new migration ({}), never in an \
             applied one; only if the edits change nothing that runs (comments, whitespace, \
             formatting), {reinit} from the files this binary was built from records their \
             text as applied without running it (`--dry-run` shows the rows first)",
            crate::hint::command("migrate generate NAME"),
        );
    }
    format!(
        "restore the modified files of {listed} from version control (the database keeps what \
         the text that ran did); an intended schema change goes in a new migration ({}), never \
         in an applied one; only if the edits change nothing that runs (comments, whitespace, \
         formatting), {reinit} records the new text as applied without running it \
         (`--dry-run` shows the rows first)",
        crate::hint::command("migrate generate NAME"),
    )
}

/// What is wrong with the files of an applied migration that forms no pair
/// ([`crate::history::History::incomplete_files`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncompletePair {
    /// A half is gone (restore it).
    HalfGone,
    /// Both files are there, misnamed (`1_m1.up.sql`, `1_m1.down.sql`): rename them as their
    /// `C006` says; `respelled`: a rename spells the version otherwise
    /// ([`crate::files::name::respells_version`]), so `migrate reinit` follows.
    Misnamed {
        /// A rename respells the version.
        respelled: bool,
    },
}

impl IncompletePair {
    /// The files of one version.
    pub fn of(files: &[&crate::files::IncompleteFile]) -> IncompletePair {
        use crate::files::Direction;
        let has = |d: Direction| files.iter().any(|f| f.direction == d);
        if !(has(Direction::Up) && has(Direction::Down)) {
            return IncompletePair::HalfGone;
        }
        let respelled = files.iter().any(|f| {
            f.misnamed
                && crate::files::name::respells_version(
                    &crate::display::file_name(&f.path),
                    &f.file_name(),
                )
        });
        IncompletePair::Misnamed { respelled }
    }
}

/// What to do about applied migrations whose pairs of files are incomplete or misnamed:
/// **the** choice of help, for `migrate status` and the refusals. A half gone from one of
/// them: [`INCOMPLETE_HELP`]; else (every one misnamed) rename as each `C006` says,
/// [`MISNAMED_HELP`], with `migrate reinit` after when a rename respells a version
/// ([`MISNAMED_RESPELLED_HELP`]).
pub fn incomplete_help(pairs: impl IntoIterator<Item = IncompletePair>) -> &'static str {
    let mut help = MISNAMED_HELP;
    for pair in pairs {
        match pair {
            IncompletePair::HalfGone => return INCOMPLETE_HELP,
            IncompletePair::Misnamed { respelled: true } => help = MISNAMED_RESPELLED_HELP,
            IncompletePair::Misnamed { respelled: false } => {}
        }
    }
    help
}

/// What to do about applied migrations whose files are all there, misnamed ([`incomplete_help`]).
pub const MISNAMED_HELP: &str = "rename each misnamed file as its `C006` error says, then run \
     again; the ledger keeps its row: the migration ran";

/// [`MISNAMED_HELP`], when a rename spells a version otherwise (`1` to `001`).
pub const MISNAMED_RESPELLED_HELP: &str = "rename each misnamed file as its `C006` error says, \
     then run `migrate reinit`: the ledger row keeps the old version text (`1` for `001`), which \
     confiture (Python) matches files by; the ledger keeps its row: the migration ran";

/// What to do about an applied migration of which half a pair is on disk, or misnamed files:
/// `migrate status` and the refusals say it ([`incomplete_help`]). Nothing to forget: it ran,
/// and its files are half there.
pub const INCOMPLETE_HELP: &str = "restore the other file of each pair from version control \
     (`git log -- <file>` shows it) and give a misnamed file its name, then run again; the \
     ledger keeps its row: the migration ran";

/// What to do about a confiture (Python) migration (`<VERSION>_<NAME>.py`) in the way: the
/// refusals and `migrate status` say it.
pub const PYTHON_HELP: &str = "run it with confiture (Python) (`confiture migrate up` applies \
     it, `confiture migrate down` rolls it back), then run again";

/// Refuses (exit 5) a replay on a scratch database by `command` (`migrate verify`, `migrate
/// drift`) that would have to run a confiture (Python) migration: one of version `through` or
/// below (`None`: any). We cannot run it, and a replay that went past it would build another
/// schema than its history's, so that a finding — or its absence — would prove nothing. The one
/// refusal of both commands, given before any scratch database is made; whether the target
/// recorded the migration does not matter: the scratch database has not.
pub fn check_replayable(
    set: &MigrationSet,
    through: Option<u64>,
    command: &str,
) -> Result<(), Error> {
    let python: Vec<_> = set
        .python
        .iter()
        .filter(|f| through.is_none_or(|t| f.version <= t))
        .collect();
    if python.is_empty() {
        return Ok(());
    }
    let what = match python.len() {
        1 => "a confiture (Python) migration".to_string(),
        n => format!("{n} confiture (Python) migrations"),
    };
    let mut err = Error::invalid(format!(
        "{} has {what}, which {} would have to replay on its scratch database; nothing was \
         checked",
        set.dir.display(),
        crate::hint::command(command),
    ))
    .with_help(
        "cargo confiture cannot run a confiture (Python) migration, and a replay without it \
         would not be this history: the migrations cannot be checked this way while it is \
         among those replayed",
    );
    for f in python {
        err = err.with_detail(format!(
            "`{}` is a confiture (Python) migration; cargo confiture cannot run it",
            crate::display::escape(&crate::display::file_name(&f.path))
        ));
    }
    Err(err)
}

/// What to do about files that cannot be read: `migrate status` and the refusals say it.
/// Nothing to forget: the files are there.
pub const UNREADABLE_HELP: &str = "make the files readable (fix their permissions or symbolic \
     links, put a file where a directory or FIFO is, convert them to UTF-8), then run again";

/// A migration a ledger row lacking a value may record, as [`incomplete_row_help`] names it: a
/// pair's, a confiture (Python) migration's, or one whose files cannot be used.
struct Candidate<'s> {
    version: u64,
    version_text: &'s str,
    name: &'s str,
    /// `003_add_users`, escaped.
    id: String,
    /// `migration 003_add_users`, `confiture (Python) migration 003_add_users.py`.
    shown: String,
    /// A confiture (Python) migration: no checksum of ours identifies its row.
    python: bool,
}

impl<'s> Candidate<'s> {
    fn named(version: u64, version_text: &'s str, name: &'s str) -> Candidate<'s> {
        let id = crate::display::escape(&format!("{version_text}_{name}")).into_owned();
        Candidate {
            version,
            version_text,
            name,
            shown: format!("migration {id}"),
            id,
            python: false,
        }
    }

    fn of(m: &'s Migration) -> Candidate<'s> {
        Candidate::named(m.version, &m.version_text, &m.name)
    }

    fn of_python(f: &'s crate::files::PythonFile) -> Candidate<'s> {
        let file = crate::display::escape(&crate::display::file_name(&f.path)).into_owned();
        Candidate {
            shown: format!("confiture (Python) migration {file}"),
            python: true,
            ..Candidate::named(f.version, &f.version_text, &f.name)
        }
    }

    /// What forgetting the row of a migration that ran would do.
    fn rerun(&self) -> &'static str {
        if self.python {
            "without it confiture (Python) would run that migration again"
        } else {
            "without it `migrate up` would run that migration again"
        }
    }
}

/// The help of a ledger row that lacks a value ([`IncompleteRow`], exit 5): the statements that
/// complete it, addressed to that row alone. `set`: the migration files, when they could be
/// read (the read that refuses the row does not know them; `Migrator` completes the help with
/// them); unknown, no row is offered for deletion.
///
/// The row is matched to its file by [`crate::history`] — its version, else the up file whose
/// checksum it recorded ([`crate::history::of_recorded_checksum`]), else its name when one file
/// alone has it. A row that records a migration which ran is never offered for deletion: `up`
/// would run it again without its row. That is the row of a version whose files are there
/// (also one whose version now names another migration, [`State::Replaced`]: the one that ran
/// is not that file), of a file whose up file has its checksum, of a newer release (a version
/// above the newest file, [`newer_database_of`]), or whose name several files have. Only a row that
/// nothing of the files accounts for is offered for deletion. Its name is filled in from its
/// file, its time of application with `now()`, its version (a row without one) from the one
/// file its checksum, slug ([`crate::history::slug_names`]) or name identifies.
///
/// Where no checksum can say whether the row records the migration of its version (the row
/// has none, or that migration is a confiture (Python) `.py` one, which accounts for the row as
/// a pair does), the version alone does not: the row's name or slug must name that migration
/// ([`crate::history::is_identified_as`]). A row nothing identifies (a version and nothing
/// else, or a name or slug of another migration) is said to be unidentified: the `UPDATE` that
/// records it as that migration is offered only if the user knows it ran, the `DELETE` if they
/// know it never did — never either as the fix.
pub fn incomplete_row_help(row: &IncompleteRow, set: Option<&MigrationSet>) -> String {
    let t = &row.table;
    let column = row.column;
    // Completed and pasted, an UPDATE without a WHERE rewrote every row (their `applied_at`,
    // the history, lost).
    let which = match row.pk {
        Some(pk) => format!("pk_confiture = {pk}"),
        None => format!("{column} IS NULL"),
    };
    // The row lacks `column`, and its name too when `column` is its version: both are set.
    let columns: Vec<&str> = match (column, &row.name) {
        ("version", None) => vec!["version", "name"],
        _ => vec![column],
    };
    let update = |values: &[String]| {
        let sets: Vec<String> = columns
            .iter()
            .zip(values)
            .map(|(c, v)| format!("{c} = {v}"))
            .collect();
        format!("UPDATE {t} SET {} WHERE {which};", sets.join(", "))
    };
    let by_hand = update(&vec!["...".to_string(); columns.len()]);
    let delete = format!("DELETE FROM {t} WHERE {which};");
    let again = crate::hint::AGAIN;
    let first = "every row has one when confiture writes it";
    let rerun = "without it `migrate up` would run that migration again";
    let Some(set) = set else {
        return format!(
            "{first}: set it by hand ({by_hand}), then run {again}; keep the row: it may record \
             a migration that ran, and {rerun}"
        );
    };
    let as_row = row.as_row();
    let ids = |ms: &[&Migration]| {
        let ids: Vec<String> = ms
            .iter()
            .map(|m| crate::display::escape(&m.id()).into_owned())
            .collect();
        crate::display::cut(ids).join(", ")
    };
    // The files whose up file has the row's checksum: the row records one of them.
    let by_checksum: Vec<&Migration> =
        crate::history::of_recorded_checksum(&set.migrations, &as_row).collect();
    // The values of `columns` for the migration of version `version_text` and `name`, which
    // the row records.
    let values_of = |version_text: &str, name: &str| -> Vec<String> {
        columns
            .iter()
            .map(|c| match *c {
                "version" => crate::ledger::literal(version_text),
                "name" => crate::ledger::literal(name),
                _ => "pg_catalog.now()".to_string(),
            })
            .collect()
    };
    let lost = match column {
        "applied_at" => " (the time it ran is lost; its place in the history is its pk_confiture)",
        _ => "",
    };
    let slug = as_row
        .slug
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| crate::display::escape(s).into_owned());
    let Some(version) = &row.version else {
        if let [m] = by_checksum.as_slice() {
            return format!(
                "{first}: the row's checksum is that of migration {}'s up file, so the row \
                 records it: complete it ({}), then run {again}; keep the row: {} ran, and \
                 {rerun}",
                m.id(),
                update(&values_of(&m.version_text, &m.name)),
                m.id()
            );
        }
        if by_checksum.len() > 1 {
            return format!(
                "{first}: the row's checksum is that of several migrations' up files ({}), and \
                 nothing tells which one it records: set by hand those of the one that ran \
                 ({by_hand}), then run {again}; keep the row: {rerun}",
                ids(&by_checksum)
            );
        }
        // The migrations the row may record: the pairs', and confiture (Python)'s, whose
        // rows no checksum identifies.
        let candidates: Vec<Candidate<'_>> = (set.migrations.iter().map(Candidate::of))
            .chain(set.python.iter().map(Candidate::of_python))
            .collect();
        let named = |c: &&Candidate<'_>| {
            row.name
                .as_deref()
                .is_none_or(|n| n.is_empty() || n == c.name)
        };
        // Its slug names one of them (of its name, if it has one): it records that one.
        let by_slug: Vec<&Candidate<'_>> = (candidates.iter())
            .filter(|c| crate::history::slug_names(&as_row, c.version, c.name) == Some(true))
            .filter(named)
            .collect();
        if let ([c], Some(slug)) = (by_slug.as_slice(), &slug) {
            return format!(
                "{first}: the row's slug ({slug}) names {}, so the row records it: complete it \
                 ({}), then run {again}; keep the row: it ran, and {}",
                c.shown,
                update(&values_of(c.version_text, c.name)),
                c.rerun()
            );
        }
        // No version: no file is matched to it. One of its name is named, since the row may
        // record it: deleting the row then runs that migration again.
        let of_name: Vec<&Candidate<'_>> = match row.name.as_deref() {
            Some(name) => candidates.iter().filter(|c| c.name == name).collect(),
            None => Vec::new(),
        };
        return match of_name.as_slice() {
            [] => format!(
                "{first}: set it by hand ({by_hand}) or delete the row ({delete}), then run \
                 {again}"
            ),
            [c] => format!(
                "{first}: if the row records {} (of that name), set its version ({}) — \
                 deleting the row would make it pending again; else set it by hand or delete \
                 the row ({delete}), then run {again}",
                c.shown,
                update(&values_of(c.version_text, c.name))
            ),
            several => format!(
                "{first}: several migrations have the row's name ({}), and nothing tells which \
                 one it records: set by hand the version of the one that ran ({by_hand}), then \
                 run {again}; keep the row: {rerun}",
                crate::display::cut(several.iter().map(|c| c.id.clone()).collect()).join(", ")
            ),
        };
    };
    let history = History::of(set, std::slice::from_ref(&as_row), None);
    let Some(recorded) = history.recorded.first() else {
        return format!("{first}: set it by hand ({by_hand}), then run {again}");
    };
    let shown_version = crate::display::escape(version);
    // Its own files are gone: the files of its version (if any) are another migration's.
    if matches!(recorded.state, State::Missing | State::Replaced) {
        if let [m] = by_checksum.as_slice() {
            return format!(
                "{first}: set it ({}){lost}, then run {again}; keep the row: its checksum is \
                 that of migration {}'s up file, so it records that migration, which ran as \
                 version {shown_version} (renumbered since: `migrate status` says what to do), \
                 and {rerun}",
                update(&values_of(&m.version_text, &m.name)),
                m.id()
            );
        }
        if by_checksum.len() > 1 {
            return format!(
                "{first}: set it by hand ({by_hand}){lost}, then run {again}; keep the row: its \
                 checksum is that of several migrations' up files ({}), one of which ran, and \
                 {rerun}",
                ids(&by_checksum)
            );
        }
    }
    // The migration of its version, where no checksum says whether the row records it (the
    // row has none, or that migration is a confiture (Python) one): the version alone does not
    // say it ([`crate::history::is_identified_as`]).
    let uncheckable = recorded.version.as_ref().and_then(|v| {
        let v = v.number();
        let c = (set
            .migrations
            .iter()
            .find(|m| m.version == v)
            .map(Candidate::of))
        .or_else(|| {
            (history.python().find(|(f, _)| f.version == v)).map(|(f, _)| Candidate::of_python(f))
        })
        .or_else(|| {
            (history.unreadable_files(v).first())
                .map(|f| Candidate::named(v, &f.version_text, &f.name))
        })
        .or_else(|| {
            (history.incomplete_files(v).first())
                .map(|f| Candidate::named(v, &f.version_text, &f.name))
        })?;
        (c.python || recorded_checksum(&as_row).is_none()).then_some(c)
    });
    // A row of another name than the file's, which no checksum tells apart, is `ambiguous`
    // ([`State::Ambiguous`]): it names a migration, perhaps one that ran, so it is kept and
    // never offered for deletion (below); only a row with neither name nor checksum is
    // unidentified.
    if let Some(c) = uncheckable.filter(|_| recorded.state != State::Ambiguous) {
        // Completed as that migration's: its name too, where the row has another (or none).
        let mut sets: Vec<(&str, String)> =
            vec![(column, values_of(c.version_text, c.name).remove(0))];
        if column != "name" && as_row.name != c.name {
            sets.push(("name", crate::ledger::literal(c.name)));
        }
        let sets: Vec<String> = sets.iter().map(|(c, v)| format!("{c} = {v}")).collect();
        let as_its_own = format!("UPDATE {t} SET {} WHERE {which};", sets.join(", "));
        if crate::history::is_identified_as(&as_row, c.version, c.name) {
            let by = match (as_row.name.is_empty(), &slug) {
                (true, Some(slug)) => format!("its slug ({slug}) names"),
                _ => "its name is that of".to_string(),
            };
            return format!(
                "{first}: set it ({as_its_own}){lost}, then run {again}; keep the row: {by} {}, \
                 the file of version {shown_version}, so it records that migration, which ran, \
                 and {}",
                c.shown,
                c.rerun()
            );
        }
        let mut why = Vec::new();
        why.push(match row.name.as_deref() {
            None | Some("") => "no name".to_string(),
            Some(name) if name == c.name => "that migration's name".to_string(),
            Some(name) => format!(
                "the name {}, another migration's",
                crate::display::escape(name)
            ),
        });
        if !c.python {
            why.push("no checksum".to_string());
        }
        why.push(
            match (
                &slug,
                crate::history::slug_names(&as_row, c.version, c.name),
            ) {
                (None, _) => "no slug".to_string(),
                (Some(_), Some(true)) => "a slug naming it".to_string(),
                (Some(slug), Some(false)) => format!("the slug {slug}, another migration's"),
                (Some(slug), None) => format!("the slug {slug}, which names no migration"),
            },
        );
        return format!(
            "{first}: nothing identifies the row as {}, the file of version {shown_version} (the \
             row has {}; a version alone does not say which migration ran). Check the database: \
             if that migration ran, complete the row as its own ({as_its_own}){lost}; if it \
             never ran, delete the row ({delete}), and it is pending again; if the row records \
             another migration, whose files are gone, set it by hand ({by_hand}) and keep it; \
             then run {again}",
            c.shown,
            why.join(", "),
        );
    }
    let completed = |m: Option<&Migration>| -> String {
        let values: Vec<String> = columns
            .iter()
            .map(|c| match (*c, m) {
                ("name", Some(m)) => crate::ledger::literal(&m.name),
                ("applied_at", _) => "pg_catalog.now()".to_string(),
                _ => "...".to_string(),
            })
            .collect();
        update(&values)
    };
    match recorded.state {
        State::Replaced => {
            let by = recorded.migration.map(Migration::id).unwrap_or_default();
            let own = match column {
                "name" => format!("the migration that ran as version {shown_version}"),
                _ => format!("migration {}", crate::display::escape(&recorded.id())),
            };
            let name_help = match column {
                "name" => " (the name of the migration that ran, not that of the file now there)",
                _ => "",
            };
            format!(
                "{first}: set it by hand ({}){name_help}{lost}, then run {again}; keep the row: \
                 it records {own}, whose files are gone: version {shown_version} now names \
                 another migration, {by}, whose up file is not the one the row recorded and \
                 which has not run (`migrate status` then shows the row `replaced` and says what \
                 to do)",
                completed(None)
            )
        }
        // Nothing tells whether it records that file: neither guessed nor offered for deletion.
        State::Ambiguous => {
            let may = recorded.migration.map(Migration::id).unwrap_or_default();
            format!(
                "{first}: set it by hand ({}){lost}, then run {again}; keep the row: it may \
                 record migration {may}, which may have run, and {rerun} (`migrate status` then \
                 shows the row `ambiguous` and says how to decide)",
                completed(None)
            )
        }
        State::Missing if newer_rows(set, &history).is_some() => {
            let newest = set
                .versions_on_disk()
                .last()
                .map(|(_, id)| format!(" ({})", crate::display::escape(id)))
                .unwrap_or_default();
            format!(
                "{first}: set it by hand ({}){lost}, then run {again}; keep the row: version \
                 {shown_version} is above the newest migration file{newest}, so it records a \
                 migration of a newer release, which ran (a rolling deploy), and without the \
                 row that release would run it again",
                completed(None)
            )
        }
        State::Missing => format!(
            "{first}: set it by hand ({by_hand}) or, since no migration file has version \
             {shown_version} nor the row's checksum, delete the row ({delete}), then run {again}"
        ),
        _ => {
            // Its files are there: the migration ran.
            let file = recorded.migration;
            let id = match file {
                Some(m) => m.id(),
                None => format!("version {shown_version}"),
            };
            format!(
                "{first}: set it by hand ({}){lost}, then run {again}; keep the row: it records \
                 migration {id}, which ran, and {rerun}",
                completed(file)
            )
        }
    }
}

/// `modified`: `m`'s up file changed since `row` recorded it.
pub(super) fn modified(m: &Migration, row: &LedgerRow) -> Divergence {
    Divergence::Modified {
        id: m.id(),
        file: Some(m.up.path.clone()),
        recorded_checksum: recorded_checksum(row).map(str::to_string),
        checksum: Some(m.up.checksum.clone()),
        applied_at: Some(row.applied_at.clone()),
        line_endings: crate::history::line_endings_change(m, row),
    }
}

/// `missing`: the row's files are gone.
pub(super) fn missing(r: &Recorded<'_>) -> Divergence {
    Divergence::Missing {
        id: r.id(),
        applied_at: Some(r.row.applied_at.clone()),
    }
}

/// `renumbered`: the row's migration now has another number.
pub(super) fn renumbered(r: &Recorded<'_>) -> Option<Divergence> {
    let m = r.migration?;
    Some(Divergence::Renumbered {
        id: m.id(),
        recorded: crate::display::migration_id(&r.row.version, &r.row.name),
        row_version: r.row.version.clone(),
        file: Some(m.up.path.clone()),
        applied_at: Some(r.row.applied_at.clone()),
    })
}

/// `mv` of both files of `m` to the version text `to` (paths as typed from the current
/// directory, shell-quoted), joined by `&&`, without backquotes.
fn mv_pair(m: &Migration, to: &str) -> String {
    let stem = format!("{to}_{}", m.name);
    crate::hint::mv_pair(Some(&m.up.path), Some(&m.down.path), &stem)
}

/// The version text a renumbered migration's files had, from its row: the number the row
/// records, as wide as the file's version now; `None` when that number is not one a file name
/// can carry.
fn old_version_text(m: &Migration, row: &LedgerRow) -> Option<String> {
    let number = crate::history::Version::of_ledger(&row.version)
        .ok()?
        .number();
    Some(crate::files::name::version_text(
        number,
        m.version_text.len(),
    ))
}

/// The shell command that renames a renumbered migration's files back to the number its row
/// records (`mv` of both files, each path as typed from the current directory and
/// shell-quoted), or `None` when that number is not one a file name can carry. Right only
/// where no file has that number ([`renumbered_help`] says what to do where one has).
pub fn rename_back(m: &Migration, row: &LedgerRow) -> Option<String> {
    Some(format!("`{}`", mv_pair(m, &old_version_text(m, row)?)))
}

/// A renumbered migration going back to its old number: its file, its row, that number.
type Back<'h, 'a> = (&'a Migration, &'h Recorded<'a>, u64);

/// The renumbered migrations whose files can go back to their old numbers: the old number
/// free, or held by one going back too (in a cycle, or in a chain that ends at a free
/// number), found by dropping, until none is left to drop, those whose number is held by a
/// file that stays. In an order where each takes a number the ones before it left (a chain's
/// first the one whose number is free); what is left is a cycle, in version order.
fn going_back<'h, 'a>(set: &MigrationSet, renumbered: &[&'h Recorded<'a>]) -> Vec<Back<'h, 'a>> {
    let old_number = |r: &Recorded<'_>| r.version.as_ref().map(crate::history::Version::number);
    let moving: std::collections::BTreeMap<u64, u64> = renumbered
        .iter()
        .filter_map(|r| Some((r.migration?.version, old_number(r)?)))
        .collect();
    let mut back: Vec<Back<'h, 'a>> = renumbered
        .iter()
        .filter(|r| !from_timestamp(r))
        .filter_map(|&r| Some((r.migration?, r, old_number(r)?)))
        .filter(|&(_, _, v)| !set.has_version(v) || moving.contains_key(&v))
        .collect();
    loop {
        let going: std::collections::HashSet<u64> =
            back.iter().map(|&(m, _, _)| m.version).collect();
        let before = back.len();
        back.retain(|&(_, _, v)| !set.has_version(v) || going.contains(&v));
        if back.len() == before {
            break;
        }
    }
    let mut ordered = Vec::with_capacity(back.len());
    while !back.is_empty() {
        let held = |v: u64| back.iter().any(|&(m, _, _)| m.version == v);
        let next = back.iter().position(|&(_, _, v)| !held(v)).unwrap_or(0);
        ordered.push(back.remove(next));
    }
    ordered
}

/// Whether a renumbered migration ran under a timestamp (sqlx-cli's, dbmate's, goose's
/// `20240101120000`, [`crate::files::name::is_timestamp`]): renamed as C005 says, it never
/// goes back — its files would be C005 again, which every command refuses — and `reinit`
/// records its new number, as the README's "Coming from sqlx-cli, dbmate or goose" says.
fn from_timestamp(r: &Recorded<'_>) -> bool {
    r.migration.is_some() && crate::files::name::is_timestamp(&r.row.version)
}

/// The first version missing between two versions on disk (a gap, C004), once `back` went back
/// to their old numbers (none: as the files are now).
fn gap_after(set: &MigrationSet, back: &[Back<'_, '_>]) -> Option<String> {
    let versions = versions_after(set, back);
    let width = set.migrations.first().map_or(3, |m| m.version_text.len());
    versions
        .windows(2)
        .find(|w| w[1] > w[0].saturating_add(1))
        .map(|w| crate::files::name::version_text(w[0] + 1, width))
}

/// The versions on disk, in order, once `back` went back to their old numbers (none: as the
/// files are now): **the** state every help that numbers a file reckons from while it also
/// suggests those renames back, so that following all of them leaves no gap.
fn versions_after(set: &MigrationSet, back: &[Back<'_, '_>]) -> Vec<u64> {
    let mut versions: std::collections::BTreeSet<u64> =
        set.versions_on_disk().into_iter().map(|(v, _)| v).collect();
    for &(m, _, _) in back {
        versions.remove(&m.version);
    }
    versions.extend(back.iter().map(|&(_, _, old)| old));
    versions.into_iter().collect()
}

/// The one command that renames every migration of `back` back, in its order, or `None` when
/// an old number is not one a file name can carry.
fn renames_back(back: &[Back<'_, '_>]) -> Option<String> {
    let renames: Option<Vec<String>> = back
        .iter()
        .map(|&(m, r, _)| Some(mv_pair(m, &old_version_text(m, r.row)?)))
        .collect();
    renames.map(|r| r.join(" && "))
}

/// The help for applied migrations renumbered since they ran ([`State::Renumbered`]), or
/// `None` when there is none: the one text of `status`, `up` and `down`. Renaming the files
/// back is right unless it leaves a gap, and each is named with its `mv`; `reinit` (which
/// records the new numbers) is named as the other way only where no gap refuses it:
/// - where renaming back would vacate a number below a file that stays (a gap, C004, which
///   `up` refuses; e.g. `003_c` now `002_c` after `002_b` was deleted) while the new numbers
///   leave none, `reinit` instead;
/// - where the old number is free (the renumbering left a gap in the versions, C004, which
///   `reinit` refuses while the gap's file is the migration's own), the rename back alone;
/// - where renumbered migrations took each other's numbers (a swap, a cycle, a chain), the
///   renames back of all of them, in one command and in an order where each takes a number
///   the ones before it left (in a cycle none is free: each `mv` still goes to a free name,
///   as their names differ, and the versions are right once all ran);
/// - where another migration, not applied here, now has it, that one first takes the number
///   the renumbered one leaves (free: no row records it, no other file has it, no renumbered
///   migration goes back to it), then the renumbered one goes back — both renames, in that
///   order, valid only if the other one is applied nowhere yet; `reinit` (which records the
///   new number) is the other way;
/// - where the file at the old number is applied here too (a second row of that number), no
///   rename fixes it alone: `reinit`.
pub fn renumbered_help(set: &MigrationSet, history: &History<'_>) -> Option<String> {
    let renumbered = history.renumbered();
    if renumbered.is_empty() {
        return None;
    }
    let pending: Vec<&Migration> = history.pending().collect();
    let old_number = |r: &Recorded<'_>| r.version.as_ref().map(crate::history::Version::number);
    // The migrations going back to their old numbers, by the version they have now.
    let moving: std::collections::BTreeMap<u64, u64> = renumbered
        .iter()
        .filter_map(|r| Some((r.migration?.version, old_number(r)?)))
        .collect();
    let back = going_back(set, &renumbered);
    // A gap in the versions now (C004: `reinit` refuses to record a file after it), or one
    // the renames back would leave (a number they vacate below a file that stays).
    let (gap_now, gap_then) = (gap_after(set, &[]), gap_after(set, &back));
    let going_back_to = |v: u64| back.iter().any(|&(_, _, old)| old == v);
    let mut taken = Vec::new();
    // Ran under a version no file name can carry (confiture (Python) reads `002-dash.up.sql`
    // as version `002-dash`): no rename takes it back.
    let mut uncarried = Vec::new();
    // Ran under a timestamp ([`from_timestamp`]): no rename takes it back either.
    let mut stamped = Vec::new();
    for &r in &renumbered {
        let Some(m) = r.migration else { continue };
        if back.iter().any(|&(b, _, _)| b.version == m.version) {
            continue;
        }
        if from_timestamp(r) {
            stamped.push(format!("`{}` ran as {}", m.id(), r.row.version));
            continue;
        }
        match old_number(r) {
            Some(v) => {
                let ran_as = format!("`{}` ran as {}", m.id(), r.row.version);
                let other = set.migrations.iter().find(|o| o.version == v);
                let unapplied = other.filter(|o| pending.iter().any(|p| p.version == o.version));
                let renumbered_too = other.filter(|o| moving.contains_key(&o.version));
                // Tied to an ambiguous row: nothing tells yet whether it ran.
                let undecided = other.filter(|o| {
                    history
                        .row_of(o)
                        .is_some_and(|x| x.state == State::Ambiguous)
                });
                // The number `m` leaves, unless a renumbered migration goes back to it.
                let leaves = unapplied.filter(|_| !going_back_to(m.version));
                taken.push(match (other, leaves.zip(old_version_text(m, r.row))) {
                    (Some(_), Some((o, old))) => {
                        let to = crate::files::name::version_text(m.version, o.version_text.len());
                        format!(
                            "{ran_as}, which `{}` has now, not applied here: if no other \
                             database applied it either, give it the number `{}` leaves and \
                             rename `{}` back: `{} && {}`",
                            o.id(),
                            m.id(),
                            m.id(),
                            mv_pair(o, &to),
                            mv_pair(m, &old)
                        )
                    }
                    (Some(o), None) if undecided.is_some() => format!(
                        "{ran_as}, which `{}` has now, whose ledger row is ambiguous: decide \
                         that one first (see below)",
                        o.id()
                    ),
                    (Some(o), None) if renumbered_too.is_some() => format!(
                        "{ran_as}, which `{}` has now, itself renumbered and held where it \
                         goes back: no rename fixes it alone",
                        o.id()
                    ),
                    (Some(o), None) if unapplied.is_none() => format!(
                        "{ran_as}, which `{}` has now, itself applied here: no rename fixes it",
                        o.id()
                    ),
                    (Some(o), None) => format!("{ran_as}, which `{}` has now", o.id()),
                    (None, _) => format!("{ran_as}, which another file has now"),
                });
            }
            None => uncarried.push(format!("`{}` ran as {}", m.id(), r.row.version)),
        }
    }
    let mut help = Vec::new();
    let together = back.iter().any(|&(_, _, v)| set.has_version(v));
    if let (Some(gap), None, false) = (&gap_then, &gap_now, back.is_empty()) {
        // Renamed back, they would vacate a number below a file that stays: a gap that `up`
        // refuses. The new numbers leave none: `reinit` records them.
        let ids: Vec<String> = back
            .iter()
            .map(|&(m, r, _)| format!("`{}` ran as {}", m.id(), r.row.version))
            .collect();
        // A migration recorded at that number whose files are gone: restored, no gap.
        let gone: Vec<String> = history
            .missing()
            .iter()
            .filter(|r| r.version.as_ref().map(crate::history::Version::number) == gap.parse().ok())
            .map(|r| format!("`{}`", r.id()))
            .collect();
        let unless = match gone.as_slice() {
            [] => String::new(),
            gone => format!(" unless the files of {} are restored too", gone.join(", ")),
        };
        let (ran, them, their, numbers, runs) = match back.len() {
            1 => (
                "a renumbered migration already ran under its old number",
                "it",
                "its",
                "number",
                "it does",
            ),
            _ => (
                "renumbered migrations already ran under their old numbers",
                "them",
                "their",
                "numbers",
                "they do",
            ),
        };
        help.push(format!(
            "{ran} ({}), but renaming {them} back would leave version {gap} without a file (a gap, C004, which `migrate \
             up` refuses){unless}: {} records {them} under {their} new {numbers} instead \
             ({runs} not run again)",
            ids.join(", "),
            reinit_hint()
        ));
    } else if together {
        let ordered = &back;
        let renames = renames_back(ordered);
        let ids: Vec<String> = ordered
            .iter()
            .map(|&(m, r, _)| format!("`{}` ran as {}", m.id(), r.row.version))
            .collect();
        help.push(match renames {
            Some(renames) => format!(
                "renumbered migrations already ran under their old numbers, which others of \
                 them have now ({}): rename all of them back, in this order: `{}`; they do \
                 not run again",
                ids.join(", "),
                renames,
            ),
            None => format!(
                "renumbered migrations already ran under their old numbers, which others of \
                 them have now ({}): rename all of them back",
                ids.join(", ")
            ),
        });
    } else if !back.is_empty() {
        let back: Vec<String> = back
            .iter()
            .map(|&(m, r, _)| match rename_back(m, r.row) {
                Some(mv) => format!("{} to {}: {mv}", m.id(), r.row.version),
                None => m.id(),
            })
            .collect();
        help.push(format!(
            "a renumbered migration already ran under its old number, which no file has now: \
             rename its files back ({}); it does not run again",
            back.join("; "),
        ));
    }
    if !stamped.is_empty() {
        let once = match gap_now {
            None => "",
            Some(_) => " once the gap in the versions (C004) is closed",
        };
        let (them, their, numbers, runs) = match stamped.len() {
            1 => ("it", "its", "number", "it does"),
            _ => ("them", "their", "numbers", "they do"),
        };
        help.push(format!(
            "renumbered from the timestamps sqlx-cli, dbmate and goose number migrations with, \
             as C005 says, migrations already ran under timestamps ({}): renamed back, the \
             files would be C005 again; {} records {them} under {their} new {numbers}{once} \
             ({runs} not run again)",
            stamped.join(", "),
            reinit_hint()
        ));
    }
    if !uncarried.is_empty() {
        let once = match gap_now {
            None => "",
            Some(_) => " once the gap in the versions (C004) is closed",
        };
        help.push(format!(
            "a renamed migration already ran under a version no file name can carry ({}): {} \
             records it under its new version{once} (it does not run again; never forget its \
             row, which would run it again)",
            uncarried.join("; "),
            reinit_hint()
        ));
    }
    // `reinit` records the new numbers, unless a gap refuses it (C004 on the file after it):
    // then it is no way out, and not named.
    if !taken.is_empty() {
        let otherwise = match gap_now {
            None => format!(
                "; otherwise {} records it under its new number (it does not run again)",
                reinit_hint()
            ),
            Some(_) => String::new(),
        };
        help.push(format!(
            "a renumbered migration already ran under its old number, now another \
             migration's: {}{otherwise}",
            taken.join("; "),
        ));
    } else if together && gap_now.is_none() {
        help.push(format!(
            "or {} records them under their new numbers (they do not run again)",
            reinit_hint()
        ));
    }
    Some(help.join("; "))
}

/// The directory's diagnostics with whether each one's migrations are applied on this
/// database, for the rules whose help depends on it ([`crate::files::help_applied_here`]:
/// C003, C004, C005, C014, C101; `options` the directory was checked with): the file checker, which knows no ledger, names both cases ("only
/// if it is not applied anywhere yet"); a command that read the ledger says which holds here
/// ([`History::applied_here`]) and keeps the caution for other databases. A diagnostic's
/// migrations are those of its file and of its `related` files (C003: the other pair of the
/// version), each a migration of the set or a pair left out for its version; applied here
/// when one of them is; left as it is when one of its files is no such pair's.
pub fn explain_applied(
    set: &MigrationSet,
    history: &History<'_>,
    diagnostics: &[Diagnostic],
    options: &crate::files::CheckOptions,
) -> Vec<Diagnostic> {
    let migration_of = |path: &std::path::Path| {
        (set.migrations.iter())
            .chain(&set.duplicates)
            .find(|m| m.up.path == path || m.down.path == path)
    };
    // A gap's renumbering counts from the versions once the renamed-back migrations
    // (`explain_gaps`) have their old numbers again.
    let versions = versions_after(set, &going_back(set, &history.renumbered()));
    diagnostics
        .iter()
        .map(|d| {
            let mut d = d.clone();
            let migrations: Option<Vec<&Migration>> = std::iter::once(&d.path)
                .chain(&d.related)
                .map(|p| migration_of(p))
                .collect();
            let here = migrations.map(|ms| {
                match ms
                    .iter()
                    .any(|m| history.applied_here(m) == AppliedHere::Yes)
                {
                    true => AppliedHere::Yes,
                    false => AppliedHere::No,
                }
            });
            if let Some(help) = here
                .and_then(|here| crate::files::help_applied_here(set, &versions, &d, here, options))
            {
                d.help = Some(help);
            }
            d
        })
        .collect()
}

/// The directory's diagnostics with what the history knows added: a gap in the versions (C004,
/// [`crate::files::concerns_sequence`]) whose missing number an applied migration had before it
/// was renumbered is no deleted migration — the file checker, which knows no ledger, cannot
/// tell — and its help becomes that migration's rename back ([`rename_back`]).
pub fn explain_gaps(
    set: &MigrationSet,
    history: &History<'_>,
    diagnostics: &[Diagnostic],
) -> Vec<Diagnostic> {
    let renumbered = history.renumbered();
    if renumbered.is_empty() {
        return diagnostics.to_vec();
    }
    let on_disk: Vec<u64> = set.versions_on_disk().into_iter().map(|(v, _)| v).collect();
    let back = going_back(set, &renumbered);
    diagnostics
        .iter()
        .map(|d| {
            let mut d = d.clone();
            if !crate::files::concerns_sequence(&d) {
                return d;
            }
            let Some(after) = d
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| crate::files::name::parse_file_name(n).ok())
                .map(|f| f.version)
            else {
                return d;
            };
            let before = on_disk
                .iter()
                .copied()
                .filter(|&v| v < after)
                .max()
                .unwrap_or(0);
            let moved: Vec<String> = renumbered
                .iter()
                .filter_map(|r| {
                    let old = r.version.as_ref()?.number();
                    let m = r.migration?;
                    // In the gap, so no file has it: it goes back, alone, or with the others
                    // going back (renamed alone, a chain's first would leave a gap where it
                    // was: the others go back too, in their order).
                    (before < old && old < after && !set.has_version(old)).then(|| {
                        let rename = match back.as_slice() {
                            [_, _, ..] => renames_back(&back).map(|all| {
                                format!(
                                    "rename the renumbered migrations back together, in this \
                                     order: `{all}`"
                                )
                            }),
                            _ => None,
                        };
                        format!(
                            "`{}` was applied as version {} and renumbered since (`migrate \
                             status` shows it `renumbered`), so nothing was deleted: {}",
                            m.id(),
                            r.row.version,
                            rename.unwrap_or_else(|| format!(
                                "rename its files back: {}",
                                rename_back(m, r.row).unwrap_or_default()
                            ))
                        )
                    })
                })
                .collect();
            if !moved.is_empty() {
                d.help = Some(moved.join("; "));
            }
            d
        })
        .collect()
}

/// The directory's diagnostics with what the history knows of two migrations sharing a
/// version (C003, [`crate::files::duplicates_a_version`]): the file checker, which knows no
/// ledger, names both and picks none; when a row of that version records one of them (the
/// history's match, [`History::of`]), the help names the other as the one to renumber and the
/// applied one as the one to leave.
pub fn explain_duplicates(history: &History<'_>, diagnostics: &[Diagnostic]) -> Vec<Diagnostic> {
    let stem = |path: &std::path::Path| {
        let name = path.file_name()?.to_str()?;
        let parsed = crate::files::name::parse_file_name(name).ok()?;
        Some((
            parsed.version,
            format!("{}_{}", parsed.version_text, parsed.name),
        ))
    };
    diagnostics
        .iter()
        .map(|d| {
            let mut d = d.clone();
            if !crate::files::duplicates_a_version(&d) {
                return d;
            }
            let (Some((version, id)), Some(other)) =
                (stem(&d.path), d.related.first().and_then(|p| stem(p)))
            else {
                return d;
            };
            let applied = (history.recorded.iter())
                .filter(|r| matches!(r.state, State::Applied | State::Modified))
                .filter_map(Recorded::matched)
                .find(|m| m.version == version);
            let Some(applied) = applied else {
                return d;
            };
            // The applied one is this file or the other; else a third pair of that version,
            // and both of these are to renumber (each diagnostic names its own file).
            let renumber = if applied.up.path == d.path {
                other.1
            } else {
                id
            };
            d.help = Some(format!(
                "`{renumber}` reuses version {} of `{}`, which this database applied: renumber \
                 `{renumber}` (rename both its files to the next free version, keeping its \
                 name) and leave `{}` as it is",
                applied.version_text,
                applied.id(),
                applied.id(),
            ));
            d
        })
        .collect()
}

/// `replaced`: the row's version now names another migration; its own files are gone.
pub(super) fn replaced(r: &Recorded<'_>) -> Option<Divergence> {
    let m = r.migration?;
    Some(Divergence::Replaced {
        id: r.id(),
        by: m.id(),
        row_version: r.row.version.clone(),
        file: Some(m.up.path.clone()),
        applied_at: Some(r.row.applied_at.clone()),
    })
}

/// `ambiguous`: nothing ties the row to one file ([`State::Ambiguous`]).
pub(super) fn ambiguous(r: &Recorded<'_>) -> Option<Divergence> {
    let m = r.migration?;
    let same_version = r.version.as_ref().is_some_and(|v| v.number() == m.version);
    Some(Divergence::Ambiguous {
        id: r.id(),
        row_version: r.row.version.clone(),
        candidate: m.id(),
        file: Some(m.up.path.clone()),
        same_version,
        has_checksum: recorded_checksum(r.row).is_some(),
        applied_at: Some(r.row.applied_at.clone()),
    })
}

/// What the refusals of an ambiguous row say ([`State::Ambiguous`]): nothing is guessed;
/// `migrate status` gives the statements that decide it.
pub(super) fn ambiguous_refusal_help() -> String {
    format!(
        "nothing tells which file an ambiguous row records, so nothing is run, rolled back or \
         forgotten for it: {} names the files it may record and the statement that records \
         the one that ran (its checksum); then run again",
        crate::hint::command("migrate status")
    )
}

/// Refuses (exit 7) a ledger rewrite (`baseline`, `reinit`) while a row is ambiguous
/// ([`State::Ambiguous`]): `reinit` would forget it (and `up` run its migration again) or
/// record a file that never ran; `baseline` would record as applied a file it may record.
pub(super) fn refuse_ambiguous(history: &History<'_>, command: &str) -> Result<()> {
    let found: Vec<Divergence> = history
        .ambiguous()
        .into_iter()
        .filter_map(ambiguous)
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    let message = format!(
        "{command} refused: the database's migration history does not match the migration \
         files: {} ambiguous (nothing tells which file records them); nothing was written",
        crate::display::plural(found.len(), "applied migration")
    );
    Err(Error::diverged(message, Diverged::new(found)).with_help(ambiguous_refusal_help()))
}

/// What to do about each ambiguous row ([`State::Ambiguous`]), one sentence per row, or
/// `None` when there is none: the help of `migrate status`, which knows the tracking table
/// (`table`, as SQL). Never a guess: for each file the row may record — the file of its
/// version (another name), and those of its name at other versions — the statement that says
/// it is the one that ran (recording its checksum in the row, addressed by its `version`),
/// and what to do when none is.
pub fn ambiguous_help(set: &MigrationSet, history: &History<'_>, table: &str) -> Option<String> {
    let rows = history.ambiguous();
    if rows.is_empty() {
        return None;
    }
    let mut help = Vec::new();
    for r in rows {
        // The files no other row records: this row's, or none's.
        let free = |m: &Migration| history.row_of(m).is_none_or(|o| std::ptr::eq(o.row, r.row));
        let number = r.version.as_ref().map(crate::history::Version::number);
        let at_version = number
            .and_then(|v| find(set, v))
            .filter(|m| crate::history::is_undecided(m, r.row) && free(m));
        let of_name: Vec<&Migration> = set
            .migrations
            .iter()
            .filter(|m| m.name == r.row.name && Some(m.version) != number && free(m))
            .collect();
        // Renamed and renumbered, several files with its checksum: which one ran?
        let of_checksum: Vec<&Migration> = match recorded_checksum(r.row) {
            Some(c) if of_name.is_empty() => set
                .migrations
                .iter()
                .filter(|m| {
                    Some(m.version) != number
                        && crate::history::checksum_matches(c, &m.up.checksum)
                        && free(m)
                })
                .collect(),
            _ => Vec::new(),
        };
        let key = crate::ledger::literal(&r.row.version);
        let id = crate::display::escape(&r.id()).into_owned();
        let mut ways = Vec::new();
        for m in &of_checksum {
            ways.push(format!(
                "if `{}` is the migration that ran as {id} (renamed and renumbered since), \
                 record it: `UPDATE {table} SET version = {}, name = {} WHERE version = {key};`",
                m.id(),
                crate::ledger::literal(&m.version_text),
                crate::ledger::literal(&m.name),
            ));
        }
        if let Some(m) = at_version {
            ways.push(format!(
                "if `{}` is the migration that ran as {id} (renamed since), record it: `UPDATE \
                 {table} SET name = {}, checksum = {} WHERE version = {key};`",
                m.id(),
                crate::ledger::literal(&m.name),
                crate::ledger::literal(&m.up.checksum),
            ));
        }
        for m in &of_name {
            let update = format!(
                "`UPDATE {table} SET checksum = {} WHERE version = {key};`",
                crate::ledger::literal(&m.up.checksum)
            );
            ways.push(if recorded_checksum(r.row).is_some() {
                format!(
                    "if `{}` is the migration that ran as {id} (renumbered and edited since), \
                     restore its up file as it ran, or accept the edit: {update}; `migrate \
                     status` then shows it renumbered and says how to record its number",
                    m.id()
                )
            } else {
                format!(
                    "if `{}` is the migration that ran as {id} (renumbered since), record it: \
                     {update}; `migrate status` then shows it renumbered and says how to record \
                     its number",
                    m.id()
                )
            });
        }
        let reused = match at_version {
            Some(m) => format!(" and give `{}` the next free number", m.id()),
            None => String::new(),
        };
        let others: Vec<String> = at_version
            .into_iter()
            .chain(of_name.iter().copied())
            .chain(of_checksum.iter().copied())
            .map(|m| format!("`{}`", m.id()))
            .collect();
        let (none, new, never) = match others.as_slice() {
            [one] => (format!("{one} did not run"), "that one", "it"),
            _ => (
                format!("none of {} ran", others.join(", ")),
                "those",
                "they",
            ),
        };
        ways.push(format!(
            "if {none} as {id} (its files deleted, {new} new), restore the files of {id} from \
             version control under their number (`git log --diff-filter=D --name-only` lists \
             deleted files){reused}: {never} never ran"
        ));
        help.push(format!("{id}: {}", ways.join("; ")));
    }
    Some(format!(
        "`migrate up`, `down`, `baseline` and {} refuse them until their rows say which file \
         ran (nothing is guessed, run again or forgotten); {}",
        reinit_hint(),
        help.join("; ")
    ))
}

/// `duplicate`: a second row for a version.
pub(super) fn duplicate(r: &Recorded<'_>) -> Divergence {
    Divergence::Duplicate {
        row_version: r.row.version.clone(),
        id: r.migration.map(Migration::id),
        applied_at: Some(r.row.applied_at.clone()),
    }
}

/// The rows of a newer release: the versions the ledger records above the newest migration
/// the set has (files that form no migration count, for a directory: their version is there),
/// as the refusals' [`NewerDatabase`] (`None` when no row is above it), and the rows
/// themselves. **The one rule of a database ahead of its migrations**, the same for an
/// embedded set and a directory: `up`'s and `down`'s refusals, `up`'s
/// `allow_newer_database`, `reinit`'s refusal and the rows it keeps, `status`
/// (`newer_database_of`) and the help of a ledger row lacking a value all ask it.
fn newer_rows<'h, 'a>(
    set: &MigrationSet,
    history: &'h History<'a>,
) -> Option<(NewerDatabase, Vec<&'h Recorded<'a>>)> {
    let newest = set.newest_version();
    let rows: Vec<&Recorded<'_>> = history
        .missing()
        .into_iter()
        .filter(|r| {
            r.version
                .as_ref()
                .is_some_and(|v| newest.is_none_or(|(n, _)| v.number() > n))
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    // The newest version of the files, a `.py` migration's too: the one the rows are above.
    let up_to = newest.map(|(_, text)| text.to_string());
    let versions = rows.iter().map(|r| r.row.version.clone()).collect();
    let newer = match &set.origin {
        Origin::Embedded { package, version } => {
            NewerDatabase::new(package.clone(), version.clone(), up_to, versions)
        }
        Origin::Directory => NewerDatabase::of_directory(up_to, versions),
    };
    Some((newer, rows))
}

/// The `missing` rows that are no newer release's ([`newer_rows`]): those `reinit` forgets
/// (it keeps the rows above the newest file), which the help of missing rows is about.
pub(super) fn forgettable_missing<'h, 'a>(
    set: &MigrationSet,
    history: &'h History<'a>,
) -> Vec<&'h Recorded<'a>> {
    let newer = newer_rows(set, history).map(|(_, rows)| rows);
    (history.missing().into_iter())
        .filter(|r| !(newer.iter().flatten()).any(|n| std::ptr::eq(n.row, r.row)))
        .collect()
}

/// The set is older than the database: the [`NewerDatabase`] of the rows above its newest
/// migration (`newer_rows`), `None` when there is none. What `status` reports (and `drift`
/// refuses with), so that they say of those rows what `up` says, never that `reinit` forgets
/// them.
pub fn newer_database_of(set: &MigrationSet, history: &History<'_>) -> Option<NewerDatabase> {
    newer_rows(set, history).map(|(newer, _)| newer)
}

/// Whether `up`'s `allow_newer_database` accepts this history: the rows of a newer release
/// ([`newer_database_of`]) are its only divergence (`explain_newer_database`, `up`'s own decision).
/// `status` names that option only then: beside a row missing below the newest file, or a
/// modified migration, `up` refuses anyway.
pub fn newer_database_alone(set: &MigrationSet, history: &History<'_>) -> bool {
    match up::check_history(set, history, false) {
        Ok(()) => false,
        Err(err) => explain_newer_database(set, history, err, true).1.is_some(),
    }
}

/// How a help names `up`'s option that accepts a newer database (a library session's help
/// names `UpOptions::allow_newer_database`: `migrate::options::name_fields`).
pub(crate) const ALLOW_NEWER_DATABASE: &str = "`--allow-newer-database`";

/// What to do about a newer release's rows: run that release (for a directory: or restore the
/// lost files); neither roll them back nor forget their rows. `up`'s help also names the
/// option that starts an older release anyway (`status` too, which judges for `up`).
/// A directory with no migration at all is nothing older: the help asks first whether it is
/// the directory (and the database) meant, and says how to name another as `named_by` names
/// it (`DirNamedBy::point_at`): a library session's error names no CLI flag. The plan gives
/// the set's own ([`MigrationSet::named_by`]: who named the directory it was read from).
pub fn newer_database_help(
    newer: &NewerDatabase,
    up: bool,
    named_by: crate::files::DirNamedBy,
) -> String {
    let run = match (&newer.package, &newer.package_version, &newer.embeds_up_to) {
        (Some(package), Some(version), _) => format!(
            "this build of {package} ({version}) is older than the database: run the build \
             that applied them (or a newer one) instead"
        ),
        (_, _, None) => format!(
            "check that this is the migrations directory meant (if not, {}) and the database \
             meant; if both are, run the release whose migrations include them instead, or, if \
             their files were lost, restore them from version control",
            named_by.point_at(HOLDING_THEM)
        ),
        _ => "these migrations are older than the database: run the release whose migrations \
              include them (or a newer one) instead, or, if their files were lost, restore \
              them from version control"
            .to_string(),
    };
    let mut help = format!(
        "{run}; leave those migrations as they are: their changes are in the database, so \
         neither rolling them back nor forgetting their rows makes it match (and forgotten \
         rows would be applied again by the newer release)"
    );
    // An empty directory is no older release of a rolling deploy.
    let empty_directory = newer.package.is_none() && newer.embeds_up_to.is_none();
    if up && !empty_directory {
        help.push_str(&format!(
            "; an older release that must start meanwhile (a rolling deploy) can run with \
             {ALLOW_NEWER_DATABASE}: it applies nothing of them and succeeds when every \
             migration it has is applied"
        ));
    }
    help
}

/// `err` refusing a diverged history, when the set is older than the database (the ledger
/// records versions above the newest it has, [`newer_rows`]): says so first (the refusal's
/// What [`newer_database_help`] names another migrations directory as.
const HOLDING_THEM: &str = "the one holding them";

/// [`NewerDatabase`], with those versions and the build that embeds the set); other refusals
/// are left as they are. The second value is that [`NewerDatabase`] when those rows are the
/// history's only divergence: what `up`'s `allow_newer_database` accepts. `up`: the refusal
/// is `up`'s, whose help names that option.
pub(super) fn explain_newer_database(
    set: &MigrationSet,
    history: &History<'_>,
    err: Error,
    up: bool,
) -> (Error, Option<NewerDatabase>) {
    let Reason::Diverged(diverged) = err.reason() else {
        return (err, None);
    };
    let Some((newer, rows)) = newer_rows(set, history) else {
        return (err, None);
    };
    // The newer release's rows are the only divergence: the usual help for missing rows
    // (restore the files, `first_version`, `reinit` forgets the rows) does not apply to them,
    // and forgetting them is harmful: the newer release would apply them again over their own
    // changes.
    // (`down` names only the rows it would roll back: a part of them.)
    let newer_ids: Vec<String> = rows.iter().map(|r| r.id()).collect();
    let only_newer = diverged
        .migrations
        .iter()
        .all(|d| matches!(d, Divergence::Missing { id, .. } if newer_ids.contains(id)));
    let mine = newer_database_help(&newer, up && only_newer, set.named_by);
    let accepted = only_newer.then(|| newer.clone());
    let diverged = diverged.clone().with_newer_database(newer);
    let help = match &err.help {
        Some(help) if !only_newer => format!("{mine}; for the other migrations: {help}"),
        _ => mine,
    };
    let err = Error::diverged(err.message.clone(), diverged).with_help(help);
    (err, accepted)
}

/// [`explain_newer_database`]'s refusal, for `down`.
pub(super) fn newer_database(set: &MigrationSet, history: &History<'_>, err: Error) -> Error {
    explain_newer_database(set, history, err, false).0
}

/// Refuses (exit 7) to rewrite the ledger from a binary older than the database: `reinit`
/// would forget the newer build's rows, which that build would then apply again over their
/// own changes ([`newer_database`] says the same for `up` and `down`). A directory is not
/// refused: its files may have been removed on purpose below the newest one, which only
/// `reinit` records; it keeps the rows above the newest file (`ReinitPlan::newer_database`).
pub(super) fn refuse_newer_database(set: &MigrationSet, history: &History<'_>) -> Result<()> {
    if !matches!(set.origin, Origin::Embedded { .. }) {
        return Ok(());
    }
    let Some((newer, rows)) = newer_rows(set, history) else {
        return Ok(());
    };
    let help = newer_database_help(&newer, false, set.named_by);
    let message = format!(
        "the database has migrations applied that this binary does not embed: {}",
        newer.versions.join(", ")
    );
    let found = rows.into_iter().map(missing).collect();
    Err(Error::diverged(message, Diverged::new(found).with_newer_database(newer)).with_help(help))
}
