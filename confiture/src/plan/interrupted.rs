//! Refusing what a no-transaction migration a run left part-way forbids ([`History::interrupted`],
//! the one rule `status` shows): the same refusal in `up`, `down`, their dry runs and the
//! engine, which meets a marker only when no plan read it first.

use crate::error::{Error, ErrorKind, Result};
use crate::files::{Direction, Migration, SqlFile};
use crate::history::{History, Marked, Recorded, Unknown};
use crate::ledger::{Rewrite, StartedRun};

/// What a no-transaction run left part-way left in the database that its ways on depend on,
/// read by `crate::db::apply::left_behind` (one read for `status`, `up` and `down`): the ways
/// on name it ([`ways_on`]), never a command it makes fail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeftBehind {
    /// The index (`schema.name`, as `DROP INDEX` takes it) an apply's interrupted build left
    /// INVALID, which its up file would build again: it cannot be recorded as applied
    /// (`baseline --through` refuses it); the way on drops it and runs the migration again.
    InvalidIndex(String),
    /// The copies (each `schema.name`, as `DROP INDEX` takes it; one a rebuilt index, its
    /// table's TOAST index's too) that an apply's interrupted `REINDEX ... CONCURRENTLY` left
    /// INVALID — the new copy it was building (`_ccnew`) or the old index it was dropping
    /// (`_ccold`) —, which its up file would leave for good: the rebuilt indexes themselves are
    /// whole (the server swaps a copy in only once it is valid), so the way on drops every copy,
    /// never rebuilds one (`REINDEX` would make it a valid duplicate).
    RebuildCopies(Vec<String>),
    /// The partition its `ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY`, cut part-way,
    /// left pending detach: running the statement again fails ("already pending detach"); the
    /// way on finishes the detach (`FINALIZE`).
    PendingDetach(PendingDetach),
    /// The index (`schema.name`, as `DROP INDEX` takes it) that the statement the run was
    /// running, a `DROP INDEX CONCURRENTLY` (of an apply or a rollback), left INVALID when it
    /// was cut part-way (failed, cancelled, its client killed): its first transaction marks the
    /// index INVALID and commits before it waits for the sessions using its table. The index
    /// still exists, queries no longer use it; the way on runs the file again, whose drop
    /// finishes it, or rebuilds the index (`REINDEX INDEX CONCURRENTLY`) and forgets the run.
    UnfinishedDrop(String),
}

impl LeftBehind {
    /// Whether what the run left keeps an apply a row recorded over since
    /// ([`History::recorded_over`]) `interrupted (recorded)` — the row made nothing whole —:
    /// **the** rule, which `status` shows and `up` and `down` refuse ([`check_interrupted_with`]),
    /// with one help ([`LeftBehind::recorded_help`]). An INVALID index does (no run of the
    /// recorded migration builds it again), and so does a partition pending detach (the
    /// row's writer cannot have run the detach, which fails on it: the row was written by
    /// hand, or over a failed run).
    pub fn keeps_recorded_interrupted(&self) -> bool {
        match self {
            LeftBehind::InvalidIndex(_)
            | LeftBehind::RebuildCopies(_)
            | LeftBehind::PendingDetach(_)
            | LeftBehind::UnfinishedDrop(_) => true,
        }
    }

    /// What an apply a row recorded over since left, as a refusal says it after "the ledger
    /// records it since, but"; also what a run whose connection was lost left, read on a new
    /// connection (`migrator::lost`).
    pub(crate) fn recorded_but(&self) -> String {
        match self {
            LeftBehind::InvalidIndex(_) => "its index is INVALID".to_string(),
            LeftBehind::RebuildCopies(copies) => {
                format!("its index rebuild left {} INVALID", copies_named(copies))
            }
            LeftBehind::PendingDetach(pending) => format!(
                "its partition {} is still pending detach",
                pending.partition
            ),
            LeftBehind::UnfinishedDrop(index) => {
                format!("its unfinished drop left index {index} INVALID")
            }
        }
    }

    /// What to do about an apply left part-way whose migration a ledger row records since
    /// ([`History::recorded_over`]: confiture (Python), say, recorded it) while what its run
    /// left keeps it interrupted ([`LeftBehind::keeps_recorded_interrupted`]): the row made
    /// nothing whole, and no run of the migration would (it is recorded); what was left is
    /// finished in place — the index rebuilt, the detach finalized —, after which the marker
    /// is stale. `status`' help of such a line, and the help of `up`'s and `down`'s refusal.
    pub fn recorded_help(&self) -> String {
        let status = crate::hint::command("migrate status");
        match self {
            LeftBehind::InvalidIndex(index) => format!(
                "the ledger records it since (a row another tool wrote, confiture (Python) say), \
                 but its index {index} exists and is INVALID (its build was interrupted): \
                 queries do not use it, and the row made nothing whole; rebuild it, `REINDEX \
                 INDEX CONCURRENTLY {index};` (or drop it, `DROP INDEX CONCURRENTLY {index};`, \
                 and build it again as the migration's up file does); then {status} shows it \
                 applied"
            ),
            LeftBehind::RebuildCopies(copies) => format!(
                "the ledger records it since (a row another tool wrote, confiture (Python) say), \
                 but its `REINDEX ... CONCURRENTLY` failed or was interrupted and left {} behind, \
                 INVALID: queries do not use {}, and the row made nothing whole; the rebuilt \
                 indexes are whole (a copy is swapped in only once valid), so drop {} (not `REINDEX`, which \
                 would make a copy a valid duplicate index): {}; then {status} shows it applied",
                copies_named(copies),
                them(copies),
                them(copies),
                drop_copies(copies),
            ),
            LeftBehind::PendingDetach(pending) => {
                let (k, count) = (pending.statement, pending.statements);
                let after = match count.saturating_sub(k) {
                    0 => String::new(),
                    1 => format!(
                        ", and check that statement {count} of its up file, which follows the \
                         detach, ran (run it yourself if not)"
                    ),
                    _ => format!(
                        ", and check that statements {}–{count} of its up file, which follow \
                         the detach, ran (run them yourself if not)",
                        k + 1
                    ),
                };
                format!(
                    "the ledger records it since (a row another tool wrote, confiture (Python) \
                     say), but its partition {} is still pending detach from {} (its `DETACH \
                     PARTITION ... CONCURRENTLY` was interrupted): the row made nothing whole; \
                     finish the detach, `{}`{after}; then {status} shows it applied",
                    pending.partition, pending.table, pending.finalize,
                )
            }
            LeftBehind::UnfinishedDrop(index) => format!(
                "the ledger records it since (a row another tool wrote, confiture (Python) say), \
                 but its `DROP INDEX CONCURRENTLY` of {index} was cut part-way and left the index \
                 INVALID: it still exists, queries no longer use it, and the row made nothing \
                 whole; finish the drop, `DROP INDEX CONCURRENTLY IF EXISTS {index};`; then \
                 {status} shows it applied"
            ),
        }
    }
}

/// `its copy a` or `the copies a, b`: the copies a rebuild left, as a sentence names them.
fn copies_named(copies: &[String]) -> String {
    match copies {
        [one] => format!("its copy {one}"),
        _ => format!("the copies {}", copies.join(", ")),
    }
}

/// `it` or `them`, of `copies`.
fn them(copies: &[String]) -> &'static str {
    if copies.len() == 1 {
        "it"
    } else {
        "them"
    }
}

/// The statements that drop `copies`, one `DROP INDEX CONCURRENTLY` each (it takes one index),
/// each quoted as a help quotes SQL.
fn drop_copies(copies: &[String]) -> String {
    (copies.iter())
        .map(|copy| format!("`DROP INDEX CONCURRENTLY {copy};`"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A partition left pending detach (`pg_inherits.inhdetachpending`) by an `ALTER TABLE ...
/// DETACH PARTITION ... CONCURRENTLY` cut part-way: its first transaction committed, and only
/// a `DETACH PARTITION ... FINALIZE` finishes it. A JSON object of `status` (`pending_detach`:
/// `table`, `partition`, `finalize`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PendingDetach {
    /// The partitioned table, `schema.name` quoted as needed.
    pub table: String,
    /// The partition, `schema.name` quoted as needed.
    pub partition: String,
    /// The statement that finishes the detach: `ALTER TABLE t DETACH PARTITION p FINALIZE;`.
    pub finalize: String,
    /// The detach's statement of its file (1-based): the statements after it are run by hand
    /// before the migration is recorded. Not a JSON key.
    #[serde(skip)]
    pub statement: usize,
    /// How many statements its file has. Not a JSON key.
    #[serde(skip)]
    pub statements: usize,
}

impl PendingDetach {
    /// The pending detach of `partition` from `table` (each `schema.name`, quoted as needed)
    /// that statement `statement` (1-based) of a file of `statements` left.
    pub fn new(table: String, partition: String, statement: usize, statements: usize) -> Self {
        let finalize = format!("ALTER TABLE {table} DETACH PARTITION {partition} FINALIZE;");
        PendingDetach {
            table,
            partition,
            finalize,
            statement,
            statements,
        }
    }
}

/// Refuses (exit 7) a run in `direction` that would run `run` over the live start markers of
/// `history` ([`History::interrupted`]), read with the ledger (`markers`), nothing run:
/// - a migration of `run` whose run in that direction was left part-way, unless `rerun`
///   (`--rerun-interrupted`), which runs it again on purpose;
/// - for `up`, any rollback left part-way, `rerun` or not: the migration is half rolled back,
///   and what `up` would apply on top of it (or its `already up to date`) would hide that;
///   the way on is to finish the rollback (`down --rerun-interrupted`);
/// - for `down`, any apply left part-way, `rerun` or not (it reruns rollbacks): what `down`
///   would roll back under the half-applied migration is what it was written for, as under a
///   migration these files do not know (below); the way on is to finish the apply (`up
///   --target V --rerun-interrupted`), then roll back.
///
/// - any migration left part-way that these files do not know ([`History::interrupted_unknown`]:
///   a newer build's, or one whose files were removed), `rerun` or not, in both directions: as
///   a row with no file (`missing`) is refused, what `up` would apply over it (or its `already
///   up to date`) and what `down` would roll back under it would hide it, and nothing here can
///   run it again or record it.
///
/// `again`: the command that runs a refused migration again on purpose in that direction,
/// `--rerun-interrupted` included.
pub fn check_interrupted(
    history: &History<'_>,
    markers: &[StartedRun],
    direction: Direction,
    run: &[&Migration],
    rerun: bool,
    again: &str,
) -> Result<()> {
    check_interrupted_with(history, markers, direction, run, rerun, again, &[])
}

/// [`check_interrupted`], knowing what the runs left part-way left in the database (`left`:
/// the marker's version, and what `crate::db::apply::left_behind` read of it): the refusal of
/// such a migration names it ([`ways_on`]) — an INVALID index is not recorded, which `baseline
/// --through` refuses; a partition pending detach is finished (`FINALIZE`), never detached
/// again.
///
/// An apply left part-way that a row recorded over since ([`History::recorded_over`]) whose
/// run left what [`LeftBehind::keeps_recorded_interrupted`] names (its index INVALID, a
/// partition pending detach) is refused too, in both directions, `rerun` or not: `status`
/// shows it `interrupted (recorded)`, `up` has nothing to run of it (it is recorded) and would
/// build on it, and `down` would run its down file as if it were whole. The help is `status`'
/// ([`LeftBehind::recorded_help`]).
pub fn check_interrupted_with(
    history: &History<'_>,
    markers: &[StartedRun],
    direction: Direction,
    run: &[&Migration],
    rerun: bool,
    again: &str,
    left: &[(String, LeftBehind)],
) -> Result<()> {
    if markers.is_empty() {
        return Ok(());
    }
    if let Some(unknown) = history.interrupted_unknown(markers).first() {
        return Err(unknown_refusal(unknown, direction));
    }
    let down = direction == Direction::Down;
    for mark in history.interrupted(markers) {
        let runs = run.iter().any(|m| m.version == mark.migration.version);
        // A rollback left part-way under rows recorded since: `down` rolls back the newest
        // first, so a run that rolls back anything without it rolls back those rows and
        // leaves it half done, `--rerun-interrupted` or not.
        if down && mark.down && !runs && !run.is_empty() {
            return Err(under_rows_refusal(history, &mark));
        }
        // A run in the other direction than the one left part-way is refused whatever it
        // runs: it would build on (`up`) or pull from under (`down`) a migration half done.
        // What the run left may make running it again fail at once (a partition pending
        // detach): refused, `--rerun-interrupted` or not, as its dry run is.
        let blocks = left_by(left, mark.marker).is_some_and(LeftBehind::refuses_rerun);
        let refused = match mark.down == down {
            true => runs && (!rerun || blocks),
            false => true,
        };
        if refused {
            return Err(refusal_with(
                &mark,
                direction,
                again,
                left_by(left, mark.marker),
            ));
        }
    }
    for mark in history.recorded_over(markers) {
        let kept = left_by(left, mark.marker).filter(|left| left.keeps_recorded_interrupted());
        if let Some(kept) = kept {
            return Err(recorded_refusal(&mark, direction, kept));
        }
    }
    Ok(())
}

/// What the run of `marker` left, of `left` (as [`check_interrupted_with`] takes it).
/// The start markers of applies that a full apply of their migration, recorded since, made out
/// of date: **the** rule of a marker no longer live because a run of another tool (confiture
/// (Python), which knows no marker) applied the migration after ours was cut part-way. An
/// apply's marker (`up`) of a no-transaction migration here whose row records it
/// ([`History::recorded_over`]), written at or after the marker (the row's `applied_at`
/// against the marker's `started_at`, both stamped by the one server's clock, read to the
/// second in UTC: a row dated before the marker was not written by a run after it, and
/// proves nothing), and whose run left nothing that keeps it interrupted (`left`,
/// [`LeftBehind::keeps_recorded_interrupted`]: an INVALID index the row's writer built over).
/// `status` already calls such a marker stale while the row stands; a writing command holding
/// the migration lock deletes it (every spelling of its version's apply markers), so that a
/// later rollback of the row by that tool (which deletes the row, and with it the only proof)
/// does not bring our old run back as `interrupted`. Never a rollback's marker.
pub fn superseded<'m>(
    history: &History<'_>,
    markers: &'m [StartedRun],
    left: &[(String, LeftBehind)],
) -> Vec<&'m str> {
    let over = history.recorded_over(markers);
    let dated = |t: &str| t.len() == 25 && t.as_bytes().get(10) == Some(&b'T');
    (markers.iter())
        .filter(|marker| marker.direction == "up")
        .filter(|marker| {
            let number = crate::history::marker_number(marker);
            let Some(mark) = over.iter().find(|o| Some(o.migration.version) == number) else {
                return false;
            };
            if crate::history::marks_another_migration(mark.migration, marker)
                || left_by(left, marker).is_some_and(LeftBehind::keeps_recorded_interrupted)
            {
                return false;
            }
            history.row_of(mark.migration).is_some_and(|r| {
                let (applied, started) = (&r.row.applied_at, &marker.started_at);
                dated(applied) && dated(started) && applied.as_str() >= started.as_str()
            })
        })
        .map(|marker| marker.version.as_str())
        .collect()
}

/// What to check of an apply's marker (`marker`, of `version`) that may be one [`superseded`]
/// cannot find: confiture (Python), which reads no marker, applied the migration after our
/// run was cut part-way and rolled it back before any writing run of ours — its rollback
/// deleted the one row that proved it. Nothing else left tells it without a column of the
/// marker's: the row's tuple is dead (unreadable), the ledger's catalog row changes only with
/// its DDL, its identity sequence says a row went but not when, confiture (Python)'s record of
/// its lock is deleted as the lock is given back, and a table's statistics are counts, not
/// times; and a run of that tool since the marker proves nothing by itself (its apply may have
/// failed over what our run committed). So `status` says what to check: the other tool's
/// runs since the marker's start, and the schema.
pub fn rolled_back_by_another_tool_help(version: &str, marker: &StartedRun) -> String {
    format!(
        "if confiture (Python) ran on this database since {}, it may have \
         applied {version} and rolled it back, which deletes the row and leaves no trace \
         here: when the schema then has none of what its up file makes, {} leaves it pending",
        marker.started_at,
        abandon_command(version)
    )
}

fn left_by<'l>(left: &'l [(String, LeftBehind)], marker: &StartedRun) -> Option<&'l LeftBehind> {
    (left.iter())
        .find(|(version, _)| *version == marker.version)
        .map(|(_, left)| left)
}

/// The rows the ledger records above `mark`, a rollback left part-way (`mark.down`; none for
/// an apply's): those after its row in order of application
/// ([`History::in_order_of_application`]), which `down` rolls back before it reaches it —
/// written since the rollback was left part-way (confiture (Python) knows no marker; `baseline`
/// and `reinit` refuse to, [`check_rewrite_interrupted`]). **The** rule of a rollback left
/// part-way under newer rows, which `down` refuses ([`check_interrupted_with`]) and `status`'
/// help names ([`under_rows_ways_on`]).
pub fn recorded_above<'h, 'a>(
    history: &'h History<'a>,
    mark: &Marked<'_, '_>,
) -> Vec<&'h Recorded<'a>> {
    if !mark.down {
        return Vec::new();
    }
    let order = history.in_order_of_application();
    let own = |r: &&Recorded<'_>| r.matched().is_some_and(|m| std::ptr::eq(m, mark.migration));
    match order.iter().position(own) {
        Some(at) => order[at + 1..].to_vec(),
        None => Vec::new(),
    }
}

/// The refusal (exit 7) by `down` (and its dry run, `--rerun-interrupted` or not) of the
/// rollback left part-way `mark` under rows recorded since ([`recorded_above`]): it would roll
/// those back and leave `mark`'s migration half rolled back. Help: [`under_rows_ways_on`].
fn under_rows_refusal(history: &History<'_>, mark: &Marked<'_, '_>) -> Error {
    let above: Vec<String> = (recorded_above(history, mark).iter())
        .map(|r| r.id())
        .collect();
    let m = mark.migration;
    let what = format!(
        "{} {} recorded above it since: {} rolled back nothing",
        crate::display::escape(&above.join(", ")),
        if above.len() == 1 { "is" } else { "are" },
        crate::hint::command("migrate down"),
    );
    interrupted_error(&m.id(), &mark.marker_of_file(), &what).with_help(under_rows_ways_on(
        &m.version_text,
        crate::display::path_text(&m.down.path).as_ref(),
        &above,
    ))
}

/// The safe ways on from the rollback of `version` left part-way (`file`: its down file, or
/// `its down file`) under the rows `above` (their ids, [`recorded_above`]): `down` rolls back
/// the newest first, so it would roll those back and never finish this one. Keep them — undo
/// what the rollback removed and forget it (`abandon`: the migration stays applied) —, or roll
/// them back with it, on purpose: `down --steps N --rerun-interrupted`, N those rows and the
/// migration, which runs their down files first. The one text of `down`'s refusal and
/// `status`' help.
pub fn under_rows_ways_on(version: &str, file: &str, above: &[String]) -> String {
    let one = above.len() == 1;
    let rows = crate::display::escape(&above.join(", ")).to_string();
    format!(
        "{rows} {} recorded above it since its rollback was left part-way, and {} rolls back \
         the newest first: it would roll back {rows} and leave this rollback unfinished; to \
         keep {rows}, restore what {file} removed, then run {} to leave {version} applied; to \
         roll back {rows} too, \
         make the statements of {file} safe to run twice (`IF EXISTS`), then run {} (it runs \
         the down file{} of {rows} first: what {} drop{} is lost)",
        if one { "is" } else { "are" },
        crate::hint::command("migrate down"),
        abandon_command(version),
        crate::hint::command(&format!(
            "migrate down --steps {} --rerun-interrupted",
            above.len() + 1
        )),
        if one { "" } else { "s" },
        if one { "it" } else { "they" },
        if one { "s" } else { "" },
    )
}

/// The refusal (exit 7) by a run in `direction` of an apply left part-way (`mark`) that a row
/// recorded over since while what it left (`left`) keeps it interrupted
/// ([`check_interrupted_with`]): `status`' `interrupted (recorded)`, with its help.
fn recorded_refusal(mark: &Marked<'_, '_>, direction: Direction, left: &LeftBehind) -> Error {
    let did = match direction {
        Direction::Up => format!("{} ran nothing", crate::hint::command("migrate up")),
        Direction::Down => format!(
            "{} rolled back nothing",
            crate::hint::command("migrate down")
        ),
    };
    let what = format!(
        "the ledger records it since, but {}: {did}",
        left.recorded_but()
    );
    interrupted_error(&mark.migration.id(), &mark.marker_of_file(), &what)
        .with_help(left.recorded_help())
}

/// [`check_interrupted`]'s refusal of a migration left part-way that these files do not know
/// ([`History::interrupted_unknown`]), or whose rollback was left part-way before its files
/// were renumbered ([`History::interrupted_renumbered`]), which needs no plan: `up` and `down`
/// (and their dry runs) ask it before they plan, so that it comes before the refusal of the
/// row it is of (`missing`, `replaced`, `renumbered`), whose help would name `reinit`, which
/// refuses it too ([`check_rewrite_interrupted`]).
pub fn check_unknown_interrupted(
    set: &crate::files::MigrationSet,
    rows: &[crate::ledger::LedgerRow],
    markers: &[StartedRun],
    first_version: Option<u64>,
    direction: Direction,
) -> Result<()> {
    if markers.is_empty() {
        return Ok(());
    }
    let history = History::of(set, rows, first_version);
    if let Some(unknown) = history.interrupted_unknown(markers).first() {
        return Err(unknown_refusal(unknown, direction));
    }
    match history.interrupted_renumbered(markers).first() {
        Some((row, marker)) => Err(renumbered_refusal(row, marker, direction)),
        None => Ok(()),
    }
}

/// The refusal (exit 7) by a run in `direction` of a rollback left part-way (`marker`) whose
/// row (`row`) is still there while its migration's files were renumbered since
/// ([`History::interrupted_renumbered`]): what `status` shows `interrupted (rollback,
/// renumbered)`, with its help ([`rollback_row_help`]).
fn renumbered_refusal(
    row: &crate::history::Recorded<'_>,
    marker: &StartedRun,
    direction: Direction,
) -> Error {
    let now = row
        .migration
        .map_or_else(|| "another number".to_string(), Migration::id);
    let what = format!(
        "its files were renumbered since, to {now} (its row is still recorded as {}): {}",
        crate::display::escape(&row.row.version),
        match direction {
            Direction::Up => "nothing was applied over it",
            Direction::Down => "nothing was rolled back",
        }
    );
    interrupted_error(&marker.id(), marker, &what).with_help(rollback_row_help(marker))
}

/// The refusal of the interrupted `mark` by a run in `direction`: what is known (who started
/// it, when, what committed; whether its up file changed since) and the safe ways on. The one
/// text of the plan's refusal and the engine's (`again` as for [`check_interrupted`]).
pub fn refusal(mark: &Marked<'_, '_>, direction: Direction, again: &str) -> Error {
    refusal_with(mark, direction, again, None)
}

/// [`refusal`], `left` what the interrupted run left in the database, if anything known: an
/// INVALID index (an `up`, or a `down`, which must finish the apply first, refused over it is
/// told to drop it and run it again, not to record it), a partition pending detach (told to
/// finish it) — [`ways_on`].
fn refusal_with(
    mark: &Marked<'_, '_>,
    direction: Direction,
    again: &str,
    left: Option<&LeftBehind>,
) -> Error {
    let (m, earlier) = (mark.migration, &mark.marker_of_file());
    let id = m.id();
    let down = direction == Direction::Down;
    let what = match (mark.down, down) {
        (left, now) if left == now => "it was not run again".to_string(),
        (true, _) => format!(
            "{} ran nothing: the migration is half rolled back",
            crate::hint::command("migrate up")
        ),
        (false, _) => format!(
            "{} rolled back nothing: the migration is half applied",
            crate::hint::command("migrate down")
        ),
    };
    let mut error = interrupted_error(&id, earlier, &what);
    if earlier.checksum != m.up.checksum {
        error = error.with_detail(format!(
            "its up file changed since that run (checksum {} then)",
            earlier.checksum
        ));
    }
    let help = if mark.down {
        let rerun = match direction {
            Direction::Down => again,
            Direction::Up => "migrate down --rerun-interrupted",
        };
        match left {
            None if earlier.committed_every_statement() => rollback_committed_ways_on(
                &m.version_text,
                &crate::display::path_text(&m.down.path),
                rerun,
            ),
            _ => rollback_ways_on(m, rerun, left),
        }
    } else {
        // `down` under it: finish the apply first (its `again` reruns rollbacks), then roll back.
        let (rerun, then) = match down {
            true => (
                format!("migrate up --target {} --rerun-interrupted", m.version_text),
                ", then roll back",
            ),
            false => (again.to_string(), ""),
        };
        let file = crate::display::path_text(&m.up.path).to_string();
        let ways = ways_on(false, &m.version_text, &file, &rerun, then, left);
        match left.filter(|left| left.reruns_committed()) {
            Some(_) => with_committed_run_again(ways, &committed_statements_of(earlier, &m.up)),
            None => ways,
        }
    };
    error.with_help(help)
}

/// [`ways_on`] from a rollback of `m` left part-way, run again with `rerun`: its down file's,
/// naming what the run `left`.
fn rollback_ways_on(m: &Migration, rerun: &str, left: Option<&LeftBehind>) -> String {
    let file = crate::display::path_text(&m.down.path).to_string();
    ways_on(true, &m.version_text, &file, rerun, "", left)
}

/// The refusal (exit 7) of `unknown`'s migration, which these files do not know
/// ([`History::interrupted_unknown`]), by a run in `direction`: what is known of it and the
/// ways on ([`unknown_help`]).
pub fn unknown_refusal(unknown: &Unknown<'_, '_>, direction: Direction) -> Error {
    unknown_refused(
        unknown,
        match direction {
            Direction::Up => "nothing was applied over it",
            Direction::Down => "nothing was rolled back under it",
        },
    )
}

/// [`unknown_refusal`]'s text, `what` saying what was not done.
/// An apply's of a pair here that shares its version with the version's migration
/// ([`Unknown::pair`]) is named as that pair's, as `status` names it ([`shared_version`]).
fn unknown_refused(unknown: &Unknown<'_, '_>, what: &str) -> Error {
    let marker = unknown.marker;
    if let (Some(pair), crate::history::NotHere::Another(chosen)) = (unknown.pair, unknown.not_here)
    {
        let (why, help) = shared_version(&pair.id(), &pair.version_text, &chosen.id());
        return interrupted_error(&pair.id(), marker, &format!("{why}: {what}")).with_help(help);
    }
    let what = format!("{}: {what}", unknown.not_here);
    interrupted_error(&marker.id(), marker, &what).with_help(unknown_help(marker))
}

/// Why a run left part-way of `pair` (its id), one of two pairs of `version` (C003), is run by
/// no command, and the one way on — the one text of `status`' line and help and of `up`'s and
/// `down`'s refusal ([`Unknown::pair`]). `chosen`: the other pair, the version's migration here
/// (unrecorded: a row of the version would make the marker stale). The run was `pair`'s, at
/// that version: the other pair is the one to renumber, after which the marker is `pair`'s
/// alone and finished as any other ([`ways_on`]).
pub fn shared_version(pair: &str, version: &str, chosen: &str) -> (String, String) {
    let why = format!(
        "{} shares version {} with {} (C003), and no command runs either while they share it",
        crate::display::escape(pair),
        crate::display::escape(version),
        crate::display::escape(chosen),
    );
    let help = format!(
        "the run left part-way is {pair}'s: give {chosen} a version of its own (rename both its \
         files to the next free version, keeping its name: it is not applied here) and keep {pair} \
         at {version}, where its run started; then {} shows {pair} interrupted with the ways on of \
         any run left part-way ({} once its statements are safe to run twice, or {} once what it \
         committed is undone)",
        crate::hint::command("migrate status"),
        crate::hint::command("migrate up --rerun-interrupted"),
        abandon_command(version),
        pair = crate::display::escape(pair),
        chosen = crate::display::escape(chosen),
        version = crate::display::escape(version),
    );
    (why, help)
}

/// Refuses (exit 7) a ledger rewrite (`baseline`, `reinit`: `what`, run again with `again`) that would delete a start
/// marker of a run left part-way, nothing written: the rewrite settles the markers of every
/// version it writes or forgets by number ([`Rewrite::settling`]), and so would take with them
/// - a marker of a migration these files do not know ([`History::interrupted_unknown`]):
///   another branch's migration at the version of a file here whose row it would record
///   ([`crate::history::NotHere::Another`]), or the rollback of a migration whose files are
///   gone or whose number another migration has, whose row it would forget — its half-run
///   migration would be gone from every build's `status`;
/// - a marker of a rollback of a migration here ([`History::interrupted`], `down`), whose row
///   it would rewrite or forget: the migration is half rolled back, and only finishing the
///   rollback (`down --rerun-interrupted`, which deletes the row and the marker) settles it;
/// - any other rollback's marker whose row is still there (its migration renumbered since, say:
///   `check_rollback_rows`);
/// - a marker of a rollback of a migration here under a row the rewrite writes (a newer
///   version): `down` would roll that row back first and never finish the rollback
///   ([`recorded_above`]).
///
/// Refused as `up` and `down` refuse to run over it ([`check_interrupted`]); a rewrite that
/// touches no such version goes on, and the marker stays. The markers of applies of
/// migrations here that a rewrite records (the way on after an interrupted run) are its
/// purpose, once confirmed ([`confirm_recording_interrupted`]).
pub fn check_rewrite_interrupted(
    history: &History<'_>,
    markers: &[StartedRun],
    rewrite: &Rewrite,
    (what, again): (&str, &str),
) -> Result<()> {
    check_rewrite_interrupted_with(history, markers, rewrite, (what, again), &[])
}

/// [`check_rewrite_interrupted`], knowing what the runs left part-way left in the database
/// (`left`, as [`check_interrupted_with`] takes it): the refusal over a rollback left part-way
/// names what it left — an index its cut `DROP INDEX CONCURRENTLY` left INVALID, a partition
/// pending detach — as `up`'s and `down`'s refusals do ([`ways_on`]).
pub fn check_rewrite_interrupted_with(
    history: &History<'_>,
    markers: &[StartedRun],
    rewrite: &Rewrite,
    (what, again): (&str, &str),
    left: &[(String, LeftBehind)],
) -> Result<()> {
    if markers.is_empty() {
        return Ok(());
    }
    let settled = rewrite.clone().settling(markers).markers;
    // What the rewrite does to the row of the marker's version, for the refusal's detail.
    let doing = |marker: &StartedRun| {
        let number = crate::history::marker_number(marker);
        let forgets = (rewrite.delete.iter())
            .filter_map(|v| crate::history::Version::of_ledger(v).ok())
            .any(|v| Some(v.number()) == number);
        format!(
            "{what} would {} the ledger row of version {} and delete that marker with it",
            if forgets { "forget" } else { "write" },
            marker.version
        )
    };
    if let Some(unknown) = (history.interrupted_unknown(markers).into_iter())
        .find(|u| settled.contains(&u.marker.version))
    {
        let not = match unknown.marker.direction == "down" {
            true => "nothing was written",
            false => "nothing was recorded over it",
        };
        return Err(unknown_refused(&unknown, not).with_detail(doing(unknown.marker)));
    }
    // The rows it writes (`insert`, `update`), by number and as written.
    let written: Vec<(u64, &str)> = (rewrite.insert.iter().map(|r| &r.version))
        .chain(rewrite.update.iter().map(|u| &u.version))
        .filter_map(|v| {
            Some((
                crate::history::Version::of_ledger(v).ok()?.number(),
                v.as_str(),
            ))
        })
        .collect();
    let above = |m: &Marked<'_, '_>| -> Vec<&str> {
        (written.iter())
            .filter(|(number, _)| *number > m.migration.version)
            .map(|(_, v)| *v)
            .collect()
    };
    let rollbacks = history.interrupted(markers);
    let settles = (rollbacks.iter()).find(|m| m.down && settled.contains(&m.marker.version));
    // A row written above it would be one `down` rolls back before it ([`recorded_above`]).
    let under = (rollbacks.iter()).find(|m| m.down && !above(m).is_empty());
    let (mark, detail) = match (settles, under) {
        (Some(mark), _) => (mark, doing(mark.marker)),
        (None, Some(mark)) => (
            mark,
            format!(
                "{what} would record version {} above it, which {} would then roll back before \
                 it",
                crate::display::escape(&above(mark).join(", ")),
                crate::hint::command("migrate down"),
            ),
        ),
        (None, None) => return check_rollback_rows(history, markers, &settled, doing),
    };
    let m = mark.migration;
    let rerun = "migrate down --rerun-interrupted";
    let help = match left_by(left, mark.marker) {
        Some(left) => format!(
            "finish the rollback first: {}; then run {} again",
            rollback_ways_on(m, rerun, Some(left)),
            crate::hint::command(again),
        ),
        None => format!(
            "finish the rollback first: check what the schema still has of what {} \
             removes, make its statements safe to run twice (`IF EXISTS`), or restore what \
             it removed, then run {}; then run {} again",
            crate::display::path_text(&m.down.path),
            crate::hint::command(rerun),
            crate::hint::command(again),
        ),
    };
    Err(
        interrupted_error(&m.id(), &mark.marker_of_file(), "nothing was written")
            .with_detail(detail)
            .with_help(help),
    )
}

/// The applies left part-way of migrations here ([`History::interrupted`]) whose start markers
/// a ledger rewrite (`baseline`, `reinit`) settles by recording their migrations as applied
/// ([`Rewrite::settling`]): the way on once the schema has everything the file makes, and a
/// half-applied migration called applied otherwise. [`confirm_recording_interrupted`] asks for
/// them to be confirmed; the reports name them.
pub fn recorded_over<'a, 'm>(
    history: &History<'a>,
    markers: &'m [StartedRun],
    rewrite: &Rewrite,
) -> Vec<Marked<'a, 'm>> {
    if markers.is_empty() {
        return Vec::new();
    }
    let settled = rewrite.clone().settling(markers).markers;
    (history.interrupted(markers).into_iter())
        .filter(|m| !m.down && settled.contains(&m.marker.version))
        .collect()
}

/// Refuses (exit 64, nothing written; a dry run too) a ledger rewrite (`what`: `baseline`,
/// `reinit`, run again with `again`) that would record as applied migrations whose apply was
/// left part-way ([`recorded_over`]), unless `yes` confirms it: their start markers, the only
/// record that their statements after the last one committed never ran, would go with it.
/// Named as `abandon` names a run it forgets: who started it, when, what committed.
pub fn confirm_recording_interrupted(
    runs: &[Marked<'_, '_>],
    what: &str,
    again: &str,
    yes: bool,
) -> Result<()> {
    if yes || runs.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = runs.iter().map(|m| m.migration.id()).collect();
    let one = runs.len() == 1;
    let mut error = Error::usage(format!(
        "{what} would record {} as applied without running {}, over {} run{} left part-way, and \
         delete {} start marker{}: the only record that what followed the last statement \
         committed never ran",
        ids.join(", "),
        if one { "it" } else { "them" },
        if one { "its" } else { "their" },
        if one { "" } else { "s" },
        if one { "that run's" } else { "those runs'" },
        if one { "" } else { "s" },
    ));
    for m in runs {
        error = error.with_detail(crate::display::escape(&format!(
            "{}: {}; {}",
            m.migration.id(),
            m.marker.started(),
            m.marker_of_file().committed()
        )));
    }
    let files: Vec<String> = (runs.iter())
        .map(|m| crate::display::path_text(&m.migration.up.path).to_string())
        .collect();
    // Run again, they are applied up to the newest of them, as the rewrite would record them:
    // never the migrations after it, which it did not ask for.
    let newest = (runs.iter().map(|m| m.migration))
        .max_by_key(|m| m.version)
        .map_or("", |m| m.version_text.as_str());
    Err(error.with_help(format!(
        "check what the schema has of what {} make{}: if everything is there, record {} with \
         {}; otherwise make {} statements safe to run twice (`IF NOT EXISTS`), or undo what \
         committed, then run {} (or {} to leave {} pending)",
        files.join(", "),
        if one { "s" } else { "" },
        if one { "it" } else { "them" },
        crate::hint::command(&format!("{again} --yes")),
        if one { "its" } else { "their" },
        crate::hint::command(&format!("migrate up --target {newest} --rerun-interrupted")),
        match one {
            true => abandon_command(&runs[0].migration.version_text),
            false => crate::hint::command("migrate abandon VERSION"),
        },
        if one { "it" } else { "them" },
    )))
}

/// [`check_rewrite_interrupted`]'s last rule: any other rollback's marker whose row is still
/// there ([`crate::history::marks_row`]: the rollback never finished) — its migration renamed to
/// another number since (`renumbered`), say, which `reinit` rewrites to the new number — is not
/// settled either: a rewrite is no way to finish a rollback. Stale markers (no such row) go.
fn check_rollback_rows(
    history: &History<'_>,
    markers: &[StartedRun],
    settled: &[String],
    doing: impl Fn(&StartedRun) -> String,
) -> Result<()> {
    let open = markers.iter().find(|marker| {
        marker.direction == "down"
            && settled.contains(&marker.version)
            && history.recorded.iter().any(|r| {
                r.version.as_ref().map(crate::history::Version::number)
                    == crate::history::marker_number(marker)
                    && crate::history::marks_row(r.row, marker)
            })
    });
    let Some(marker) = open else {
        return Ok(());
    };
    Err(
        interrupted_error(&marker.id(), marker, "nothing was written")
            .with_detail(doing(marker))
            .with_help(rollback_row_help(marker)),
    )
}

/// What to do about a rollback left part-way (`marker`) whose row is still there while its
/// files are not where they were (renumbered since, [`History::interrupted_renumbered`]): the
/// one text of `reinit`'s refusal ([`check_rewrite_interrupted`]) and `status`'s help.
pub fn rollback_row_help(marker: &StartedRun) -> String {
    format!(
        "finish the rollback first, with the files of {} as they were when it started \
         (renamed back, if they were renamed since): {}; if the rollback was finished by hand, \
         delete its row {} from the ledger: the marker then changes nothing",
        crate::display::escape(&marker.id()),
        crate::hint::command("migrate down --rerun-interrupted"),
        crate::display::escape(&marker.version),
    )
}

/// What to do about a migration left part-way that these files do not know (`marker`, its
/// start marker): the one text of `up`'s and `down`'s refusal and `status`'s help. An apply's
/// is settled by the build that has it; a rollback's is finished there.
pub fn unknown_help(marker: &StartedRun) -> String {
    if marker.direction == "down" {
        let version = crate::display::escape(&marker.version);
        return format!(
            "its rollback never finished, and this checkout has no file to finish it with: \
             {}, {} and {} refuse to run over it; run the build whose migrations include it \
             (or restore its files from version control), where {} finishes the rollback \
             (make its statements safe to run twice, `IF EXISTS`, first); if the rollback was \
             finished by hand and {version} is below the newest migration here, run {}, then \
             {}, which forgets its row {version}",
            crate::hint::command("migrate up"),
            crate::hint::command("migrate down"),
            crate::hint::command("migrate reinit"),
            crate::hint::command("migrate down --rerun-interrupted"),
            abandon_command(&marker.version),
            crate::hint::command("migrate reinit"),
        );
    }
    format!(
        "it is a newer build's migration, or its files were removed since: this checkout can \
         neither run it again nor record it, and {} and {} refuse to run over it; run the build \
         whose migrations include it (or a newer one), where {} shows it and {} (once the \
         schema has everything) or {} settles it; if its files were lost, restore them from \
         version control; if it was given up, undo what it committed and run {}",
        crate::hint::command("migrate up"),
        crate::hint::command("migrate down"),
        crate::hint::command("migrate status"),
        crate::hint::command(&record_interrupted_command(&marker.version)),
        crate::hint::command("migrate up --rerun-interrupted"),
        abandon_command(&marker.version),
    )
}

/// The safe ways on from a no-transaction run of `version` left part-way — its rollback
/// (`down`), else its apply —, the one text of `up`'s and `down`'s refusals ([`refusal`]) and
/// `status`'s help: `file` names the file that run had (its path, or `its up file`), `rerun`
/// the command that runs it again on purpose, and `then` what follows that (`, then roll
/// back`). `left`: what the run left in the database (`crate::db::apply::left_behind`), if
/// anything known — an index an apply left INVALID, then never recording it
/// (`invalid_index_ways_on`), or a partition pending detach, then finishing it
/// (`finalize_ways_on`), or an index its cut `DROP INDEX CONCURRENTLY` left INVALID, then
/// finishing the drop or rebuilding the index (`unfinished_drop_ways_on`), whichever command
/// is refused. The engine's own failure help of such a detach or drop is this text too.
pub fn ways_on(
    down: bool,
    version: &str,
    file: &str,
    rerun: &str,
    then: &str,
    left: Option<&LeftBehind>,
) -> String {
    match left {
        Some(LeftBehind::InvalidIndex(index)) if !down => {
            return invalid_index_ways_on(version, index, rerun, then);
        }
        Some(LeftBehind::RebuildCopies(copies)) if !down => {
            return rebuild_copies_ways_on(version, copies, rerun, then);
        }
        Some(LeftBehind::PendingDetach(pending)) => {
            return finalize_ways_on(down, version, file, rerun, then, pending);
        }
        Some(LeftBehind::UnfinishedDrop(index)) => {
            return unfinished_drop_ways_on(down, version, file, (rerun, then), index);
        }
        _ => {}
    }
    let abandon = abandon_command(version);
    let rerun = crate::hint::command(rerun);
    if down {
        return format!(
            "check what the schema still has of what {file} removes: make its statements safe \
             to run twice (`IF EXISTS`), or restore what it removed, then run {rerun} (or \
             {abandon} to leave it applied)"
        );
    }
    format!(
        "check what the schema has of what {file} makes: if everything is there, record it \
         without running it: {}; otherwise make its statements safe to run twice (`IF NOT \
         EXISTS`), or undo what it committed, then run {rerun}{then} (or {abandon} to leave it \
         pending)",
        crate::hint::command(&record_interrupted_command(version)),
    )
}

/// The ways on from a rollback of `version` whose every statement of `file` committed, the
/// run stopped before deleting its ledger row ([`StartedRun::committed_every_statement`]):
/// only the row is left, which `rerun` deletes once it has run `file` again; never
/// [`ways_on`]'s "abandon it to leave it applied" alone, which keeps the row of a migration
/// whose down file removed everything it made. The one text of `down`'s refusal, `status`'s
/// help and the engine's failure whose row delete waited for a lock.
pub fn rollback_committed_ways_on(version: &str, file: &str, rerun: &str) -> String {
    format!(
        "every statement of {file} committed, and only its ledger row is left to delete: run \
         {}, which runs {file} again and deletes the row (make its statements safe to run \
         twice, `IF EXISTS`, first); {} keeps the row, recording the migration applied while \
         what {file} removed is gone: only once that is restored",
        crate::hint::command(rerun),
        abandon_command(version),
    )
}

/// The safe ways on from an apply of `version` left part-way whose index `index` (`schema.name`)
/// its interrupted build left INVALID: [`ways_on`]'s, without recording it (`baseline
/// --through` refuses an INVALID index: `refuse_recording_invalid_index`): drop the unfinished
/// index, then run it again with `rerun`, which builds it, and what follows (`then`).
fn invalid_index_ways_on(version: &str, index: &str, rerun: &str, then: &str) -> String {
    format!(
        "its index {index} exists and is INVALID (its build was interrupted), so it cannot be \
         recorded as applied: drop the unfinished index, `DROP INDEX CONCURRENTLY {index};`, \
         then run {} to build it{then} (or {} to leave it pending)",
        crate::hint::command(rerun),
        abandon_command(version),
    )
}

/// The safe ways on from an apply of `version` left part-way whose `REINDEX ...
/// CONCURRENTLY` left `copies` INVALID: [`invalid_index_ways_on`]'s, every copy named with its
/// own drop (`DROP INDEX CONCURRENTLY` takes one index), so that one refusal says them all.
fn rebuild_copies_ways_on(version: &str, copies: &[String], rerun: &str, then: &str) -> String {
    format!(
        "its `REINDEX ... CONCURRENTLY` failed or was interrupted and left {} behind, INVALID, \
         so it cannot be recorded as applied (running it again would leave {} for good): drop \
         {}, {}, then run {}{then} (or {} to leave it pending)",
        copies_named(copies),
        them(copies),
        them(copies),
        drop_copies(copies),
        crate::hint::command(rerun),
        abandon_command(version),
    )
}

/// The safe ways on from a run of `version` left part-way (a rollback when `down`) whose
/// `DROP INDEX CONCURRENTLY` of `file` was cut part-way and left `index` INVALID: run it again
/// on purpose (`rerun`, then `then`) — its drop drops an INVALID index like any other, then
/// the rest of the file runs —, or keep the index: rebuild it (`REINDEX` makes it valid
/// whichever phase the drop stopped in), deal with what the statements before it committed,
/// and forget the run, which leaves the migration where the ledger has it. Never "drop it
/// before running again": the drop is the file's own.
fn unfinished_drop_ways_on(
    down: bool,
    version: &str,
    file: &str,
    (rerun, then): (&str, &str),
    index: &str,
) -> String {
    let (keep, before) = match down {
        true => (
            "to keep the migration applied",
            "restore what the statements before the drop removed, if any,",
        ),
        false => (
            "to leave the migration pending",
            "undo what the statements before the drop committed, if any,",
        ),
    };
    format!(
        "its `DROP INDEX CONCURRENTLY` of {index} was cut part-way and left the index INVALID \
         (it still exists, and queries no longer use it): run {}, which finishes the drop \
         (dropping an INVALID index works) and runs the rest of {file}{then}; or, {keep}, \
         rebuild the index, `REINDEX INDEX CONCURRENTLY {index};`, {before} and run {}",
        crate::hint::command(rerun),
        abandon_command(version),
    )
}

/// The safe ways on from a run of `version` left part-way whose `DETACH PARTITION ...
/// CONCURRENTLY` (statement `pending.statement` of `file`) left `pending` pending detach:
/// finish the detach (`FINALIZE`), then — an apply — run the statements after it by hand and
/// record the migration without running it (`baseline --through`; running it again would
/// detach again what is detached), then what follows (`then`); — a rollback, which no command
/// forgets without running its down file — attach the partition again and run the rollback
/// again (`rerun`), which detaches it.
fn finalize_ways_on(
    down: bool,
    version: &str,
    file: &str,
    rerun: &str,
    then: &str,
    pending: &PendingDetach,
) -> String {
    if down {
        return format!(
            "finish the detach: {} then attach the partition again as it was (`ALTER TABLE {} \
             ATTACH PARTITION {} FOR VALUES ...`) and run {}, which detaches it again",
            pending.finalize,
            pending.table,
            pending.partition,
            crate::hint::command(rerun),
        );
    }
    let (k, count) = (pending.statement, pending.statements);
    let after = match count.saturating_sub(k) {
        0 => String::new(),
        1 => format!("run statement {count} of {file} yourself, "),
        _ => format!("run statements {}–{count} of {file} yourself, ", k + 1),
    };
    format!(
        "finish the detach: {} then {after}record it without running it: {}{then} (not \
         `migrate up`, which would detach it again)",
        pending.finalize,
        crate::hint::command(&record_interrupted_command(version)),
    )
}

/// `migrate baseline --through VERSION --yes`: the one command a help suggests to record
/// without running it a migration whose apply was left part-way (its start marker there, which
/// the rewrite deletes: [`confirm_recording_interrupted`] asks for `--yes`).
pub fn record_interrupted_command(version: &str) -> String {
    record_command(version, true)
}

/// `migrate baseline --through VERSION`, as a help suggests it to record without running them
/// the migrations up to `VERSION`: **the** rule of its `--yes`, which it takes when one of them
/// has a run left part-way (`over_run`: its start marker, which the baseline deletes, is there
/// or stays after the failure the help is of) — [`confirm_recording_interrupted`] refuses it
/// otherwise (exit 64).
pub fn record_command(version: &str, over_run: bool) -> String {
    match over_run {
        true => format!("migrate baseline --through {version} --yes"),
        false => format!("migrate baseline --through {version}"),
    }
}

/// `migrate abandon VERSION`, as a help suggests it: the way to forget a run left part-way
/// once what it committed was dealt with ([`crate::plan::abandon`]).
fn abandon_command(version: &str) -> String {
    crate::hint::command(&format!("migrate abandon {version}"))
}

/// `migration {id} was interrupted: ..., and it never finished; {what}`, with what committed
/// as its detail: the beginning of every refusal of a migration left part-way.
fn interrupted_error(id: &str, earlier: &StartedRun, what: &str) -> Error {
    Error::new(
        ErrorKind::Diverged,
        format!(
            "migration {id} was interrupted: {}, and it never finished; {what}",
            earlier.started()
        ),
    )
    .with_detail(format!(
        "{} (it runs without a transaction: what they committed stays)",
        earlier.committed()
    ))
}

impl LeftBehind {
    /// Whether running the migration again fails on what the run left, before anything else:
    /// a partition pending detach (its `DETACH PARTITION ... CONCURRENTLY` fails "already
    /// pending detach"). [`check_interrupted_with`] refuses such a run, `--rerun-interrupted`
    /// or not, dry run or not, with the ways on that finish it ([`ways_on`]).
    pub fn refuses_rerun(&self) -> bool {
        matches!(self, LeftBehind::PendingDetach(_))
    }

    /// Whether the ways on of what the run left ([`ways_on`]) run its file again — dropping an
    /// INVALID index or copies first, or finishing a drop —, so that the statements the run
    /// committed before it stopped run again: their help names them
    /// ([`with_committed_run_again`]). Not a pending detach, whose ways on record the migration.
    pub fn reruns_committed(&self) -> bool {
        !self.refuses_rerun()
    }

    /// What of the statement a run was sending stays although the server refused it (a
    /// failure, a cancel: "nothing of it committed" of a plain statement): what a
    /// `CONCURRENTLY` statement commits before it waits or builds, as `status`' line of the
    /// run says after what it committed ([`crate::status::StatusReport::marker_progress_of`]).
    pub fn committed_first(&self) -> String {
        match self {
            LeftBehind::InvalidIndex(index) => format!(
                "its index {index}, which its build commits before it builds it, stays, INVALID"
            ),
            LeftBehind::RebuildCopies(copies) => format!(
                "{}, which its rebuild commits before it builds, {} INVALID",
                copies_named(copies),
                if copies.len() == 1 { "stays" } else { "stay" }
            ),
            LeftBehind::PendingDetach(pending) => format!(
                "its first step, which commits before it waits, stays: partition {} is pending \
                 detach from {}",
                pending.partition, pending.table
            ),
            LeftBehind::UnfinishedDrop(index) => format!(
                "its first step, which commits before it waits, stays: index {index} is INVALID"
            ),
        }
    }
}

/// The statements of `file` that the run of `marker`, left part-way, committed for sure
/// ([`StartedRun::surely_committed`]), as [`committed_statements`] names them.
pub fn committed_statements_of(marker: &StartedRun, file: &SqlFile) -> Vec<String> {
    committed_statements(file, marker.surely_committed() as usize)
}

/// The first `through` statements of `file` that a run committed, each named by its place and
/// its first words (`db/migrations/001_t.up.sql:2 `CREATE TABLE t (id int)``): those that
/// change the database — never one that changes only its session (`SET`,
/// [`crate::files::StatementSpan::session_only`]), which runs again harmlessly.
pub fn committed_statements(file: &SqlFile, through: usize) -> Vec<String> {
    let path = crate::display::path_text(&file.path);
    (file.statements.iter().take(through))
        .filter(|span| !span.session_only)
        .map(|span| {
            let text = file.text.get(span.range.clone()).unwrap_or_default();
            format!("{path}:{} `{}`", span.line, opening_words(text))
        })
        .collect()
}

/// The first words of a statement's `text`, enough to recognise it: at most five, never one
/// that starts a string or a dollar quote (a password, a body) or a comment, `…` where cut.
fn opening_words(text: &str) -> String {
    const WORDS: usize = 5;
    let mut words = Vec::new();
    let mut all = true;
    for word in text.trim_end_matches(';').split_whitespace() {
        let opens = word.contains(['\'', '$']) || word.starts_with("--") || word.starts_with("/*");
        if words.len() == WORDS || opens {
            all = false;
            break;
        }
        words.push(word);
    }
    let cut = if all { "" } else { " …" };
    crate::display::escape(&format!("{}{cut}", words.join(" "))).into_owned()
}

/// `ways`, ways on that run a migration left part-way again, followed by what running it again
/// meets of its own: the statements the run committed (`committed`, [`committed_statements`]),
/// which run again — and fail (`already exists`), or do their work twice — unless made safe to
/// run twice or undone first. `ways` alone when none committed.
pub fn with_committed_run_again(ways: String, committed: &[String]) -> String {
    match committed_run_again(committed) {
        Some(again) => format!("{ways}; {again}"),
        None => ways,
    }
}

/// What running a migration again meets of the statements a run left part-way committed
/// (`committed`, [`committed_statements`]): the one text of `status`' help, `up`'s refusal, the
/// engine's failure and the dry run of `--rerun-interrupted`. `None` when none committed.
pub fn committed_run_again(committed: &[String]) -> Option<String> {
    committed.first()?;
    let one = committed.len() == 1;
    let listed = crate::display::cut(committed.to_vec()).join(", ");
    Some(if one {
        format!(
            "the statement its run left part-way committed runs again with it: {listed}; \
             before running it again, make it safe to run twice (`IF NOT EXISTS`) or undo it, \
             else it fails (`already exists`) or does its work twice"
        )
    } else {
        format!(
            "the statements its run left part-way committed run again with it: {listed}; \
             before running it again, make them safe to run twice (`IF NOT EXISTS`) or undo \
             them, else they fail (`already exists`) or do their work twice"
        )
    })
}

/// What a plan that runs again (`--rerun-interrupted`) the applies of `run` a run left part-way
/// ([`History::interrupted`], of `markers`) meets of their own: one warning each whose run
/// committed statements ([`committed_run_again`]), which the dry run of `up` says, so that it
/// never presents the rerun as a plain apply.
pub fn committed_run_again_warnings(
    history: &History<'_>,
    markers: &[StartedRun],
    run: &[&Migration],
) -> Vec<String> {
    (history.interrupted(markers).into_iter())
        .filter(|mark| !mark.down && run.iter().any(|m| std::ptr::eq(*m, mark.migration)))
        .filter_map(|mark| {
            let committed = committed_statements_of(mark.marker, &mark.migration.up);
            let again = committed_run_again(&committed)?;
            Some(format!(
                "{} runs again over a run left part-way: {again}",
                crate::display::escape(&mark.migration.id())
            ))
        })
        .collect()
}
