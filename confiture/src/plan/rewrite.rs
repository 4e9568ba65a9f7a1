//! Planning the ledger rewrites that run no migration: `baseline` and `reinit`.

use super::{check_version, invalid_files, lint_help};
use crate::diagnostic::Diagnostic;
use crate::error::{Error, NewerDatabase, Result};
use crate::files::{Migration, MigrationSet};
use crate::history::{FileErrors, History, Recorded, State, Version};
use crate::ledger::{LedgerRow, NewRow, Rewrite, RowKind, RowUpdate, StartedRun};

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

/// What `baseline` refuses from the files and `through` alone, before the ledger is read
/// ([`baseline`] without its rows). Whether a confiture (Python) migration up to `through` is
/// pending — which refuses it — is the ledger's to say: the run asks it with the rows, so that
/// one recorded by confiture (Python)'s own baseline, the way past it, is gone past.
#[cfg(feature = "db")]
pub(crate) fn check_baseline_request(set: &MigrationSet, through: &Version) -> Result<()> {
    check_version(set, "--through", through)?;
    baseline(&python_left_out(set), &[], through).map(drop)
}

/// [`check_baseline_request`]'s counterpart of `reinit`.
#[cfg(feature = "db")]
pub(crate) fn check_reinit_request(
    set: &MigrationSet,
    through: Option<&Version>,
    first_version: Option<u64>,
) -> Result<()> {
    if let Some(t) = through {
        check_version(set, "--through", t)?;
    }
    reinit(&python_left_out(set), &[], through, first_version).map(drop)
}

/// `set` without its confiture (Python) migrations, which a check without the ledger cannot
/// tell pending from applied.
#[cfg(feature = "db")]
fn python_left_out(set: &MigrationSet) -> MigrationSet {
    MigrationSet {
        python: Vec::new(),
        ..set.clone()
    }
}

/// Plans `baseline`: every migration up to `through` that has no row gets one. Rows already
/// present (including rows above `through`) are never changed, so baselining is safe to repeat
/// and can fill a gap below applied history.
pub fn baseline<'a>(
    set: &'a MigrationSet,
    rows: &'a [LedgerRow],
    through: &Version,
) -> Result<BaselinePlan<'a>> {
    check_version(set, "--through", through)?;
    let through = through.number();
    let history = History::of(set, rows, None);
    // A migration up to `through` that cannot be read would be left out, below recorded ones.
    super::check_usable(
        set,
        &history,
        false,
        |v, recorded| !recorded && v <= through,
        python_record_way(&history, Some(through)),
    )?;
    // A file an ambiguous row may record would be recorded a second time, or one that never
    // ran as applied.
    super::refuse_ambiguous(&history, "baseline")?;
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

/// Whether `migrate baseline --through {through}` over `rows` and the start markers read with
/// them (`markers`) records over a run left part-way ([`super::recorded_over`] of its plan):
/// what a help that suggests it gives [`super::record_command`], which adds the `--yes` that
/// [`super::confirm_recording_interrupted`] asks for then. A baseline its plan refuses records
/// nothing.
pub fn baseline_records_over_run(
    set: &MigrationSet,
    rows: &[LedgerRow],
    markers: &[StartedRun],
    through: &Version,
) -> bool {
    let Ok(plan) = baseline(set, rows, through) else {
        return false;
    };
    let history = History::of(set, rows, None);
    !super::recorded_over(&history, markers, &plan.rewrite()).is_empty()
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
    /// The row's state in the history ([`History`]); `None` for a file `Record` adds.
    pub state: Option<State>,
}

impl ReinitStep<'_> {
    /// A newer release's row, kept (above the newest migration file:
    /// [`ReinitPlan::newer_database`]): the only rows with no file that `reinit` keeps as
    /// `missing`; the ledger does not match the files there.
    pub fn kept_as_newer(&self) -> bool {
        self.action == ReinitAction::Keep && self.state == Some(State::Missing)
    }
}

/// What `reinit` does: rows the ledger already has are kept and, where the file changed,
/// rewritten in place to accept it; rows with no file and second rows for a version are
/// forgotten. Only with `--through V` are files without a row recorded (those up to V), and
/// rows above V forgotten (confiture's semantics for `--through`). Rows of a squashed history
/// are kept as they are, and so are the rows above the newest file, with or without
/// `--through` ([`ReinitPlan::newer_database`]): a newer release's (a rolling deploy), which it
/// would apply again over their own changes once forgotten.
#[derive(Debug, Clone, Default)]
pub struct ReinitPlan<'a> {
    /// Every row, in order of application, then every file recorded.
    pub steps: Vec<ReinitStep<'a>>,
    /// Migration files no row records that it leaves so (all of them without `--through`,
    /// those above it with it), in version order: the next `up` runs them.
    pub unrecorded: Vec<&'a Migration>,
    /// The rows above the newest migration file, kept: a newer release applied them
    /// ([`super::newer_database_of`], the rule `up` and `status` follow); `None` when there is
    /// none.
    pub newer_database: Option<NewerDatabase>,
    /// `--through`: the versions up to it that no row records are recorded.
    through: Option<u64>,
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
///
/// Deliberately exact, not [`crate::history::checksum_matches`]: that one decides whether a
/// row *matches* its file (a `char(n)` column's padding, a row without a checksum are
/// trusted); `reinit` rewrites a matching row until it is the row confiture would write, as
/// it does a `0003` recorded for file `003`.
fn row_is_current(m: &Migration, row: &LedgerRow) -> bool {
    row.checksum.as_deref() == Some(m.up.checksum.as_str())
        && row.version == m.version_text
        && row.name == m.name
}

/// Plans `reinit` (see [`ReinitPlan`]). `through` must name a migration file.
pub fn reinit<'a>(
    set: &'a MigrationSet,
    rows: &'a [LedgerRow],
    through: Option<&Version>,
    first_version: Option<u64>,
) -> Result<ReinitPlan<'a>> {
    if let Some(t) = through {
        check_version(set, "--through", t)?;
    }
    let through = through.map(Version::number);
    let history = History::of(set, rows, first_version);
    // A row whose files cannot be read or are half there is neither forgotten (it ran) nor
    // rewritten (its checksum is unknown, or the pair is not); a file up to `through` that cannot be read cannot be recorded.
    super::check_usable(
        set,
        &history,
        false,
        |v, recorded| recorded || through.is_some_and(|t| v <= t),
        python_record_way(&history, through),
    )?;
    super::refuse_newer_database(set, &history)?;
    // Forgotten, its migration would run again; accepted, a file that never ran recorded.
    super::refuse_ambiguous(&history, "reinit")?;
    // A newer release's rows (above the newest file): never forgotten, whatever `--through`.
    let newer = super::newer_rows(set, &history);
    let is_newer = |r: &Recorded<'_>| {
        newer
            .as_ref()
            .is_some_and(|(_, rows)| rows.iter().any(|n| std::ptr::eq(n.row, r.row)))
    };
    let above_through = |r: &Recorded<'_>| {
        through.is_some_and(|t| r.version.as_ref().is_none_or(|v| v.number() > t))
    };
    let mut steps: Vec<ReinitStep<'a>> = history
        .recorded
        .iter()
        .map(|r| {
            let action = match r.state {
                State::Squashed => ReinitAction::Keep,
                _ if is_newer(r) => ReinitAction::Keep,
                _ if above_through(r) => ReinitAction::Forget,
                State::Applied | State::Modified => match r.migration {
                    Some(m) if row_is_current(m, r.row) => ReinitAction::Keep,
                    _ => ReinitAction::Accept,
                },
                // Another migration at this version: accepting it would record as applied a
                // migration that never ran. Forgotten, the next `up` runs it.
                State::Replaced => ReinitAction::Forget,
                // The same migration under its new number: the row is rewritten to it, not
                // forgotten (which would run it again).
                State::Renumbered => ReinitAction::Accept,
                // Refused above, by `refuse_ambiguous`.
                State::Ambiguous => ReinitAction::Keep,
                State::Missing | State::Duplicate | State::Pending | State::OutOfOrder => {
                    ReinitAction::Forget
                }
                // Refused above, by `check_usable`.
                State::Unreadable { .. } => ReinitAction::Keep,
                // confiture (Python) ran it and its file is there: forgotten, confiture would
                // run it again.
                State::Python { .. } => ReinitAction::Keep,
                // Never a state of the history (`status` decides it from the start marker).
                State::Interrupted { .. } => ReinitAction::Keep,
            };
            ReinitStep {
                action,
                row: Some(r.row),
                migration: r.migration,
                state: Some(r.state),
            }
        })
        .collect();
    let (record, unrecorded): (Vec<&'a Migration>, Vec<&'a Migration>) = history
        .pending()
        .partition(|m| through.is_some_and(|t| m.version <= t));
    steps.extend(record.into_iter().map(|m| ReinitStep {
        action: ReinitAction::Record,
        row: None,
        migration: Some(m),
        state: None,
    }));
    Ok(ReinitPlan {
        steps,
        unrecorded,
        newer_database: newer.map(|(newer, _)| newer),
        through,
    })
}

/// The one confirmation of `reinit`: a plan that forgets every row the ledger has (at least
/// one) needs `yes`, as `down` needs it to roll back everything. A directory sharing no
/// migration with the ledger — empty, another project's, not checked out yet, a mistyped
/// `--migrations-dir` — would otherwise wipe the history (`applied_at`, `applied_by`, the
/// checksums cannot be recovered) and the next `up` would run every migration again.
/// Refused as a usage error (exit 64), naming the rows it would forget; a dry run too, as
/// `down --target 0 --dry-run` is.
/// The rows above the newest file, which it keeps ([`ReinitPlan::newer_database`]), are left out:
/// a directory that shares no migration with the others still needs it.
///
/// A plan that forgets rows whose migrations' files are on disk (`--through V` below the
/// newest applied row: the next `up` would run them — again, a data migration twice, for
/// those that ran; over what a baseline said the database has, for those recorded without
/// running) needs `yes` too, refused the same way, with the way back: `migrate baseline
/// --through` the newest of them records them again.
///
/// A plan that accepts files with real edits beside files that differ from what ran only by
/// their line endings needs `yes` too (`confirm_accepting_edits`), refused the same way.
pub fn confirm_reinit(set: &MigrationSet, plan: &ReinitPlan<'_>, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    confirm_forgetting_every_row(set, plan)?;
    confirm_forgetting_what_ran(plan)?;
    confirm_recording_conversions(plan)?;
    confirm_accepting_edits(plan)
}

/// The accepted rows' files that differ from what ran only by their line endings (or
/// byte-order mark), each with how ([`crate::history::line_endings_change`]).
fn accepted_line_endings<'p>(
    plan: &'p ReinitPlan<'_>,
) -> impl Iterator<Item = (&'p Migration, crate::history::LineEndingChange)> {
    plan.with(ReinitAction::Accept).filter_map(|step| {
        let (Some(m), Some(row), Some(State::Modified)) = (step.migration, step.row, step.state)
        else {
            return None;
        };
        Some((m, crate::history::line_endings_change(m, row)?))
    })
}

/// [`confirm_reinit`]'s refusal of recording bytes a checkout (or an editor) converted: files
/// that ran with LF (or without a byte-order mark) and now have CRLF, lone CRs or a mark —
/// the kind whose way on is to convert the file back, never `reinit`
/// ([`crate::history::LineEndingChange::file_has_lf`], the one rule `status`'s and `up`'s help,
/// [`super::modified_help`], follow). Recorded, the converted bytes are what every LF checkout
/// then sees modified. Refused (exit 64, its dry run too) naming them, unless `yes` says
/// those bytes are the repository's from now on.
fn confirm_recording_conversions(plan: &ReinitPlan<'_>) -> Result<()> {
    let converted: Vec<&Migration> = accepted_line_endings(plan)
        .filter(|(_, change)| !change.file_has_lf())
        .map(|(m, _)| m)
        .collect();
    if converted.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = converted.iter().map(|m| m.id()).collect();
    let ids = crate::display::escape(&ids.join(", ")).into_owned();
    let one = converted.len() == 1;
    let them = crate::display::it_them(converted.len());
    let error = Error::usage(format!(
        "reinit would record the bytes of {ids} as your checkout (git's `core.autocrlf`) or an          editor converted {them}: {} ran with LF line endings and no byte-order mark, and every          LF checkout would then see {them} modified",
        if one { "it" } else { "they" },
    ));
    let error = (converted.iter()).fold(error, |e, m| {
        e.with_detail(format!(
            "{}: differs from what ran only by its line endings (CRLF, or lone CR) or a              byte-order mark",
            crate::display::escape(crate::display::path_text(&m.up.path).as_ref())
        ))
    });
    Err(error.with_help(format!(
        "add `*.sql -text` to .gitattributes and check {them} out again (or convert {them} to LF          and save {them} without the mark): {} then shows {them} applied, nothing to record;          only if the converted bytes are the ones the repository holds from now on, add --yes          to record {them} (`--dry-run --yes` shows the rows first)",
        crate::hint::command("migrate status"),
    )))
}

/// [`confirm_reinit`]'s refusal of accepting files with real edits beside files that differ
/// from what ran only by their line endings ([`crate::history::line_endings_change`], the one
/// rule, which `status`'s and `up`'s help follow, [`super::modified_help`]): that help offers
/// `reinit` for the latter, and `reinit` would record the former's edits too, as applied
/// without running them — a schema change never made, `status` up to date. Refused (exit 64,
/// its dry run too), naming which are which, unless `yes` says the edits change nothing that
/// runs. A plan accepting only edited files, or only line endings, is not asked: the help of
/// edited files offers `reinit` for edits that change nothing that runs alone.
fn confirm_accepting_edits(plan: &ReinitPlan<'_>) -> Result<()> {
    let (mut edited, mut line_endings) = (Vec::new(), Vec::new());
    for step in plan.with(ReinitAction::Accept) {
        let (Some(m), Some(row), Some(State::Modified)) = (step.migration, step.row, step.state)
        else {
            continue;
        };
        match crate::history::line_endings_change(m, row) {
            Some(_) => line_endings.push(m),
            None => edited.push(m),
        }
    }
    if edited.is_empty() || line_endings.is_empty() {
        return Ok(());
    }
    let ids = |ms: &[&Migration]| {
        let ids: Vec<String> = ms.iter().map(|m| m.id()).collect();
        crate::display::escape(&ids.join(", ")).into_owned()
    };
    let one = edited.len() == 1;
    let error = Error::usage(format!(
        "reinit would record the edited text of {} as applied without running it, beside {}, \
         which {} from what ran only by line endings (or a byte-order mark)",
        ids(&edited),
        ids(&line_endings),
        if line_endings.len() == 1 {
            "differs"
        } else {
            "differ"
        },
    ));
    let error = (edited.iter()).fold(error, |e, m| {
        e.with_detail(format!(
            "{}: edited since it ran (not only its line endings)",
            crate::display::escape(crate::display::path_text(&m.up.path).as_ref())
        ))
    });
    Err(error.with_help(format!(
        "restore {} from version control first (`git log -- <file>` shows the applied version; \
         the database keeps what the text that ran did; an intended schema change goes in a new \
         migration, {}), then run {} again; only if {} edits change nothing that runs \
         (comments, whitespace, formatting), add --yes to record {} too (`--dry-run --yes` \
         shows the rows first)",
        ids(&edited),
        crate::hint::command("migrate generate NAME"),
        crate::hint::command("migrate reinit"),
        if one { "its" } else { "their" },
        if one { "it" } else { "them" },
    )))
}

/// The rows a plan forgets whose files are on disk (applied — by running their migrations, or
/// recorded without running them: [`LedgerRow::kind`] tells —, modified, renumbered, a
/// confiture (Python) migration, unreadable files): the next `up` would run them. Only
/// `--through` forgets such a row.
fn forgotten_with_files<'p, 'a>(plan: &'p ReinitPlan<'a>) -> Vec<&'p ReinitStep<'a>> {
    plan.with(ReinitAction::Forget)
        .filter(|s| {
            matches!(
                s.state,
                Some(
                    State::Applied
                        | State::Modified
                        | State::Renumbered
                        | State::Python { .. }
                        | State::Unreadable { .. }
                )
            )
        })
        .collect()
}

/// [`confirm_reinit`]'s refusal of forgetting rows whose files are on disk
/// ([`forgotten_with_files`]). How each row was written ([`LedgerRow::kind`], not the
/// history's state) says whether its migration ran: a row `baseline` or `reinit` recorded is
/// named so, and the next `up` runs them "again" only when every one ran.
fn confirm_forgetting_what_ran(plan: &ReinitPlan<'_>) -> Result<()> {
    let steps = forgotten_with_files(plan);
    let Some(newest) = (steps.iter())
        .filter_map(|s| match s.migration {
            Some(m) => Some((m.version, m.version_text.clone())),
            None => (s
                .row?
                .version
                .trim()
                .parse::<crate::history::Version>()
                .ok())
            .map(|v| (v.number(), v.as_str().to_string())),
        })
        .max_by_key(|(v, _)| *v)
        .map(|(_, text)| text)
    else {
        return Ok(());
    };
    let rows: Vec<&LedgerRow> = steps.iter().filter_map(|s| s.row).collect();
    let not_run = (rows.iter())
        .filter(|r| r.kind().recorded_without_running_by().is_some())
        .count();
    let ids: Vec<String> = (rows.iter())
        .map(|r| {
            let id = crate::display::migration_id(&r.version, &r.name);
            let how = match r.kind().recorded_without_running_by() {
                None => format!("applied {}", r.applied_at),
                Some(by) => format!("recorded by {by} without running it, {}", r.applied_at),
            };
            crate::display::escape(&format!("{id}, {how}")).into_owned()
        })
        .collect();
    let rows_text = crate::display::plural(ids.len(), "row");
    // One row is "it", with "its migration" and "its file"; more are "them" (hwd 2).
    let one = ids.len() == 1;
    let them = crate::display::it_them(ids.len());
    let (migrations_ran, files_are) = match one {
        true => ("whose migration ran and whose file is", "whose file is"),
        false => (
            "whose migrations ran and whose files are",
            "whose files are",
        ),
    };
    let message = match not_run {
        0 => format!(
            "reinit would forget {rows_text} above `--through` {migrations_ran} on disk: the \
             ledger would call {them} pending and the next `migrate up` would run {them} again"
        ),
        n => format!(
            "reinit would forget {rows_text} above `--through` {files_are} on disk, {}: the \
             ledger would call {them} pending and the next `migrate up` would run {them}",
            match n == ids.len() {
                true if n == 1 => "recorded without running its migration".to_string(),
                true => "recorded without running their migrations".to_string(),
                false if n == 1 => "1 of them recorded without running its migration".to_string(),
                false => format!("{n} of them recorded without running their migrations"),
            }
        ),
    };
    let mut error = Error::usage(message);
    for id in crate::display::cut(ids) {
        error = error.with_detail(id);
    }
    let keep = match one {
        true => format!("to keep it, give `--through` its version ({newest})"),
        false => format!("to keep them, give `--through` the newest of them ({newest})"),
    };
    Err(error.with_help(format!(
        "`--through V` forgets the rows above V: {keep} or leave it out; to forget {them} \
         anyway add --yes (`--dry-run --yes` shows the whole plan first); once forgotten, {} \
         records {them} again without running {them}",
        // The rows it forgets take the start markers of their versions with them: none is
        // left for the baseline to record over.
        crate::hint::command(&super::record_command(&newest, false)),
    )))
}

/// [`confirm_reinit`]'s refusal of forgetting every row.
fn confirm_forgetting_every_row(set: &MigrationSet, plan: &ReinitPlan<'_>) -> Result<()> {
    let newer = plan.newer_database.as_ref().map_or(0, |n| n.versions.len());
    let rows: Vec<&ReinitStep<'_>> = plan
        .steps
        .iter()
        .filter(|s| s.row.is_some() && !s.kept_as_newer())
        .collect();
    let forgets_all = !rows.is_empty() && rows.iter().all(|s| s.action == ReinitAction::Forget);
    if !forgets_all {
        return Ok(());
    }
    let ids: Vec<String> = rows
        .iter()
        .filter_map(|s| s.row)
        .map(|r| {
            let id = crate::display::migration_id(&r.version, &r.name);
            crate::display::escape(&format!("{id}, applied {}", r.applied_at)).into_owned()
        })
        .collect();
    let dir = crate::display::escape(&crate::display::path_text(&set.dir)).into_owned();
    let files = set.migrations.len();
    // What it forgets, said once: the message and the help's `--yes` name the same rows.
    let (forgotten, message) = match (newer, set.migrations.last()) {
        (0, _) | (_, None) => (
            "every row".to_string(),
            format!(
                "reinit would forget every row of the ledger ({}, listed below): {dir} has none \
                 of their migrations",
                ids.len()
            ),
        ),
        (n, Some(newest)) => {
            let rows = crate::display::plural(ids.len(), "row");
            let message = format!(
                "reinit would forget {rows} of the ledger (listed below): {dir} has none of their \
                 migrations; the {} above its newest file ({}) {} kept",
                crate::display::plural(n, "row"),
                newest.version_text,
                if n == 1 { "is" } else { "are" }
            );
            let those = match ids.len() {
                1 => "that row".to_string(),
                _ => format!("those {rows}"),
            };
            (those, message)
        }
    };
    let mut error = Error::usage(message);
    for id in crate::display::cut(ids) {
        error = error.with_detail(id);
    }
    Err(error.with_help(format!(
        "check that {dir} ({files} migration{}) is this database's migrations directory; to forget \
         {forgotten} anyway add --yes (their applied_at and checksums cannot be recovered, and the \
         next `migrate up` runs every migration of {dir})",
        if files == 1 { "" } else { "s" }
    )))
}

/// Refuses (exit 5) a `reinit` that would write the checksum of a file with errors — a row it
/// accepts or a migration it records — or forget a row as having no file while files of its
/// version are on disk but cannot be used (unreadable, a directory, not UTF-8...): that
/// migration ran, and forgetting its row would make `up` run it again. With `--through`,
/// broken files of a version up to it that no row records stop it too (a half pair being
/// written): recording the others would leave it behind, below recorded versions, as
/// `baseline --through` refuses it. Two migrations sharing a version (C003) stop it too, as
/// they stop `up`. Rows it keeps, and drafts above `--through` (all without it), do not stop
/// it.
pub fn check_reinit_files(
    set: &MigrationSet,
    plan: &ReinitPlan<'_>,
    errors: &FileErrors<'_>,
) -> Result<()> {
    let forgotten_with_files = plan
        .steps
        .iter()
        .filter(|s| s.action == ReinitAction::Forget && s.migration.is_none())
        .filter_map(|s| s.row)
        .filter_map(|row| crate::history::Version::of_ledger(&row.version).ok())
        .flat_map(|v| errors.of(v.number()).iter().copied());
    let recorded: std::collections::HashSet<u64> = plan
        .steps
        .iter()
        .filter_map(|s| s.row)
        .filter_map(|row| crate::history::Version::of_ledger(&row.version).ok())
        .map(|v| v.number())
        .collect();
    // Every migration it records is among them.
    let unrecorded_through = plan
        .through
        .into_iter()
        .flat_map(|t| errors.versions_through(t))
        .filter(|v| !recorded.contains(v))
        .flat_map(|v| errors.of(v).iter().copied());
    // Two migrations of one version: which one a row records, or the next `up` runs, is
    // not settled until one is renumbered.
    let duplicated =
        (errors.blocking_up(None).into_iter()).filter(|d| crate::files::duplicates_a_version(d));
    let blocking: Vec<&Diagnostic> = plan
        .steps
        .iter()
        .filter(|s| s.action == ReinitAction::Accept)
        .filter_map(|s| s.migration)
        .flat_map(|m| errors.of(m.version).iter().copied())
        .chain(forgotten_with_files)
        .chain(unrecorded_through)
        .chain(duplicated)
        .collect();
    if blocking.is_empty() {
        return Ok(());
    }
    Err(invalid_files(
        set,
        &blocking,
        lint_help(),
        super::Effect::Records,
    ))
}

/// The way past the pending confiture (Python) migrations a ledger rewrite (`baseline`,
/// `reinit`) would record up to `through` (`None`: it records none), which cargo confiture
/// cannot read: confiture (Python)'s own `migrate baseline --through P` (P the newest of them,
/// as its file spells it) records them without running them — and the migrations before P, as
/// the rewrite would, none after it —, then the rewrite, run again, does the rest. Never its
/// `migrate up`, which would run them, and every pending migration of ours with them, which the
/// rewrite was asked to record without running. `None` when there are none.
fn python_record_way(history: &History<'_>, through: Option<u64>) -> Option<String> {
    let through = through?;
    let python: Vec<&crate::files::PythonFile> = (history.python())
        .filter(|&(f, recorded)| !recorded && f.version <= through)
        .map(|(f, _)| f)
        .collect();
    let newest = python.iter().max_by_key(|f| f.version)?;
    let names = (python.iter())
        .map(|f| {
            format!(
                "`{}`",
                crate::display::escape(&crate::display::file_name(&f.path))
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let (what, them) = match python.len() {
        1 => (format!("{names} is a confiture (Python) migration"), "it"),
        _ => (format!("{names} are confiture (Python) migrations"), "them"),
    };
    Some(format!(
        "{what}, which cargo confiture cannot record: record {them} without running {them} \
         with confiture (Python)'s own baseline, which records the migrations up to {}, none \
         after it: {}; then run again (not confiture (Python)'s `migrate up`, which would run \
         {them}, and every pending migration with {them})",
        crate::display::escape(&newest.version_text),
        crate::hint::python_command(&format!(
            "migrate baseline --through {}",
            crate::hint::quote(&newest.version_text)
        )),
    ))
}
