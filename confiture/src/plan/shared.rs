//! Another migrations directory writing the same ledger: two workspace members whose
//! environments name one database and one tracking table. Each one's rows are then, to the
//! other, migrations `modified`, `replaced` or `missing`; `reinit` would record one member's
//! files over the other's rows, `baseline` record beside them, `down` run this member's down
//! files for them. **The one rule** of whose rows they are, which `up`'s and `down`'s
//! refusals, `status`, `reinit`, `baseline` and `down` follow, on one database, a tenant
//! schema (`--schema`) or each target of a fleet.

#[cfg(feature = "db")]
use crate::error::{Diverged, Error, Result};
use crate::files::MigrationSet;
#[cfg(feature = "db")]
use crate::history::checksum_matches;
use crate::history::{History, Recorded, State};
use crate::ledger::LedgerRow;
#[cfg(feature = "db")]
use crate::ledger::StartedRun;

/// The migrations of another member of the workspace (its package name) that resolves to the
/// same database and tracking table as this session: given by the front end, which knows the
/// workspace ([`crate::Migrator::sharing_ledger_with`]).
#[derive(Debug, Clone)]
pub struct SharedLedger {
    /// The member's package name (`-p NAME`).
    pub package: String,
    /// Its migrations, read and checked.
    pub set: MigrationSet,
}

/// The rows of this ledger that another member's files record ([`of_another_member`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AnotherMembersRows {
    /// The member whose files have the rows' checksums.
    pub package: String,
    /// The rows (`001_init`), as the ledger has them.
    pub rows: Vec<String>,
}

/// The rows of `history` that diverge from this set's files (modified, replaced, missing,
/// renumbered, ambiguous, recorded twice) and whose checksum is of an up file of one of
/// `shared` (the first that has any): that member applied them into the ledger both use.
/// `None` when no row is.
pub fn of_another_member(
    history: &History<'_>,
    shared: &[SharedLedger],
) -> Option<AnotherMembersRows> {
    of_another_member_among(history, shared, |_| true)
}

/// [`of_another_member`], of the rows `among` keeps alone (those a command would write).
fn of_another_member_among(
    history: &History<'_>,
    shared: &[SharedLedger],
    among: impl Fn(&LedgerRow) -> bool,
) -> Option<AnotherMembersRows> {
    let diverged: Vec<&Recorded<'_>> = (history.recorded.iter())
        .filter(|r| {
            matches!(
                r.state,
                State::Modified
                    | State::Replaced
                    | State::Missing
                    | State::Renumbered
                    | State::Ambiguous
                    | State::Duplicate
            ) && among(r.row)
        })
        .collect();
    shared.iter().find_map(|other| {
        let rows: Vec<String> = (diverged.iter())
            .filter(|r| {
                crate::history::of_recorded_checksum(&other.set.migrations, r.row)
                    .next()
                    .is_some()
            })
            .map(|r| r.id())
            .collect();
        (!rows.is_empty()).then(|| AnotherMembersRows {
            package: other.package.clone(),
            rows,
        })
    })
}

/// What to do about rows another member applied into this ledger: nothing here — never
/// `reinit`, which would record this member's files over them (the other member then sees its
/// migrations modified, and this one's never run) — but a ledger of its own for each member.
pub fn another_members_help(rows: &AnotherMembersRows) -> String {
    let package = crate::display::escape(&rows.package);
    format!(
        "the workspace member `{package}` resolves to the same database and tracking table, and \
         its files have the checksums of {}: those rows are `{package}`'s, not this member's; \
         never `migrate reinit` here, which would record this member's files over them \
         (`{package}` would then see its migrations modified, and this member's would never \
         run); \
         give each member a ledger of its own with a schema-qualified `migration.tracking_table` \
         in its environment (README: \"Several applications in one database\")",
        crate::display::versions(&rows.rows),
    )
}

/// `err`, a refusal of a diverged history, with [`another_members_help`] in place of its help
/// when rows of it are another member's ([`of_another_member`]).
#[cfg(feature = "db")]
pub(crate) fn explain_another_member(
    err: Error,
    history: &History<'_>,
    shared: &[SharedLedger],
) -> Error {
    if !matches!(err.reason(), crate::error::Reason::Diverged(_)) {
        return err;
    }
    match of_another_member(history, shared) {
        Some(rows) => err.with_help(another_members_help(&rows)),
        None => err,
    }
}

/// A command that writes the ledger, which [`refuse_over_another_member`] refuses over rows
/// of another member.
#[cfg(feature = "db")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writing {
    /// `reinit` rewrites every row: this member's files recorded over that member's rows.
    Reinit,
    /// `baseline` records this member's files as applied beside them: the ledger then says
    /// both members' migrations of a version are applied where one ran.
    Baseline,
    /// `down` rolls back the rows it reaches: this member's down file run for that member's
    /// migration, and its row deleted — `--allow-modified` or not.
    Down,
}

/// Refuses (exit 7, nothing written, its dry run too) a command writing the ledger over rows
/// another member's files record ([`of_another_member`]): `reinit` and `baseline` over any
/// of them, `down` over those it would roll back (`rolled_back`). Accepted, this member's
/// files would be recorded as applied over that member's rows, or its down files run for that
/// member's migrations; forgotten, that member's migrations would be pending.
#[cfg(feature = "db")]
pub(crate) fn refuse_over_another_member(
    history: &History<'_>,
    shared: &[SharedLedger],
    writing: Writing,
    rolled_back: impl Fn(&LedgerRow) -> bool,
) -> Result<()> {
    let rows = match writing {
        Writing::Down => of_another_member_among(history, shared, rolled_back),
        Writing::Reinit | Writing::Baseline => of_another_member(history, shared),
    };
    let Some(rows) = rows else {
        return Ok(());
    };
    let found = (super::up::divergences(history, true).into_iter())
        .filter(|d| d.id().is_some_and(|id| rows.rows.iter().any(|r| r == id)))
        .collect();
    let would = match writing {
        Writing::Reinit => "reinit would rewrite rows",
        Writing::Baseline => "baseline would record this member's migrations beside rows",
        Writing::Down => "down would roll back, with this member's down files, rows",
    };
    Err(Error::diverged(
        format!(
            "{would} that the workspace member `{}` applied into this ledger: {}",
            crate::display::escape(&rows.package),
            crate::display::escape(&rows.rows.join(", ")),
        ),
        Diverged::new(found),
    )
    .with_help(another_members_help(&rows)))
}

/// The member of `shared` whose run left `marker` in this ledger: the marker's checksum (of the
/// up file its run had) is that of one of the member's up files and of none of `set`'s — a
/// marker of one of this member's files, the same text, is this member's to settle.
#[cfg(feature = "db")]
fn whose_marker<'s>(
    set: &MigrationSet,
    marker: &StartedRun,
    shared: &'s [SharedLedger],
) -> Option<&'s SharedLedger> {
    let has = |migrations: &[crate::files::Migration]| {
        (migrations.iter()).any(|m| checksum_matches(&marker.checksum, &m.up.checksum))
    };
    if has(&set.migrations) {
        return None;
    }
    shared.iter().find(|other| has(&other.set.migrations))
}

/// The runs left part-way in this ledger (its start markers) that another member started
/// ([`whose_marker`]), of the first member that has any; `None` when no marker is another's.
#[cfg(feature = "db")]
pub(crate) fn markers_of_another_member(
    set: &MigrationSet,
    markers: &[StartedRun],
    shared: &[SharedLedger],
) -> Option<AnotherMembersMarkers> {
    let first = markers.iter().find_map(|m| whose_marker(set, m, shared))?;
    let runs = (markers.iter())
        .filter(|m| whose_marker(set, m, shared).is_some_and(|o| std::ptr::eq(o, first)))
        .map(StartedRun::id)
        .collect();
    Some(AnotherMembersMarkers {
        package: first.package.clone(),
        runs,
    })
}

/// The start markers `abandon VERSION` may forget: `markers` less another member's
/// ([`whose_marker`]), which it never forgets — that member has not dealt with what its run
/// committed. Refused (exit 7, nothing written, its dry run too) when every marker of
/// `version`'s number is another member's: the run to abandon is that member's.
#[cfg(feature = "db")]
pub(crate) fn markers_to_abandon(
    set: &MigrationSet,
    markers: &[StartedRun],
    shared: &[SharedLedger],
    version: &crate::history::Version,
) -> Result<Vec<StartedRun>> {
    let number = version.number();
    let of_version = |m: &&StartedRun| crate::history::marker_number(m) == Some(number);
    let theirs: Vec<&StartedRun> = (markers.iter())
        .filter(of_version)
        .filter(|m| whose_marker(set, m, shared).is_some())
        .collect();
    let ours: Vec<StartedRun> = (markers.iter())
        .filter(|m| whose_marker(set, m, shared).is_none())
        .cloned()
        .collect();
    if theirs.is_empty() || ours.iter().any(|m| of_version(&m)) {
        return Ok(ours);
    }
    let their: Vec<StartedRun> = theirs.into_iter().cloned().collect();
    let Some(rows) = markers_of_another_member(set, &their, shared) else {
        return Ok(ours);
    };
    let package = crate::display::escape(&rows.package);
    Err(Error::new(
        crate::error::ErrorKind::Diverged,
        format!(
            "abandon {version} would forget a run that the workspace member `{package}` left \
             part-way in this ledger: {}",
            crate::display::escape(&rows.runs.join(", ")),
        ),
    )
    .with_help(format!(
        "the workspace member `{package}` resolves to the same database and tracking table, and \
         its files have the checksum of that run: it is `{package}`'s to settle, once what it \
         committed is dealt with (`{package}`'s own `migrate status` names the ways on), never \
         this member's; give each member a ledger of its own with a schema-qualified \
         `migration.tracking_table` in its environment (README: \"Several applications in one \
         database\")"
    )))
}

/// The runs left part-way in this ledger that another member started
/// ([`markers_of_another_member`]).
#[cfg(feature = "db")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AnotherMembersMarkers {
    /// The member whose files have the runs' checksums.
    pub package: String,
    /// The runs (`002_i`), as their markers name them.
    pub runs: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{Migration, SqlFile, TransactionMode};
    use crate::plan::tests::row;

    fn migration(version: u64, name: &str, up: &str) -> Migration {
        let text = format!("{version:03}");
        let file = |dir: &str, sql: &str| {
            SqlFile::new(
                format!("{dir}/{text}_{name}.{dir}.sql"),
                sql,
                TransactionMode::Transaction,
                false,
            )
        };
        Migration {
            version,
            up: file("up", up),
            down: file("down", "SELECT 1;\n"),
            version_text: text,
            name: name.to_string(),
        }
    }

    /// Another member's rows are told apart whatever they look like here — modified (same
    /// name), replaced (another name), missing (no file of their version) — by their
    /// checksums alone; a member whose files do not have them, and the rows this member's
    /// files record, say nothing.
    #[test]
    fn another_members_rows_are_told_by_their_checksums() {
        let billing = [
            migration(1, "init", "CREATE TABLE invoices (id int);\n"),
            migration(2, "lines", "CREATE TABLE lines (id int);\n"),
        ];
        let rows: Vec<LedgerRow> = billing.iter().map(row).collect();
        let shared = |ms: Vec<Migration>| SharedLedger {
            package: "billing".into(),
            set: MigrationSet::new("billing", ms),
        };
        let others = [shared(billing.to_vec())];
        for users in [
            vec![migration(1, "init", "CREATE TABLE accounts (id int);\n")],
            vec![migration(
                1,
                "accounts",
                "CREATE TABLE accounts (id int);\n",
            )],
        ] {
            let set = MigrationSet::new("users", users);
            let history = History::of(&set, &rows, None);
            let found = of_another_member(&history, &others).expect("billing's rows");
            assert_eq!(found.package, "billing");
            assert_eq!(found.rows, ["001_init", "002_lines"]);
            let unrelated = [shared(vec![migration(1, "x", "SELECT 2;\n")])];
            assert_eq!(of_another_member(&history, &unrelated), None);
        }
        // This member's own rows (the same files): nothing diverges, nothing is another's.
        let set = MigrationSet::new("billing", billing.to_vec());
        assert_eq!(
            of_another_member(&History::of(&set, &rows, None), &others),
            None
        );
    }

    /// `reinit` and `baseline` are refused over any row of another member (exit 7, naming the
    /// member and its rows), `down` over those it would roll back alone: this member's own
    /// newer row rolls back.
    #[cfg(feature = "db")]
    #[test]
    fn writing_is_refused_over_another_members_rows() {
        let billing = migration(1, "init", "CREATE TABLE invoices (id int);\n");
        let users = [
            migration(1, "init", "CREATE TABLE accounts (id int);\n"),
            migration(2, "t2", "CREATE TABLE t2 (id int);\n"),
        ];
        let rows = [row(&billing), row(&users[1])];
        let set = MigrationSet::new("users", users.to_vec());
        let history = History::of(&set, &rows, None);
        let shared = [SharedLedger {
            package: "billing".into(),
            set: MigrationSet::new("billing", vec![billing.clone()]),
        }];
        let refused = |writing: Writing, rolled_back: &LedgerRow| {
            refuse_over_another_member(&history, &shared, writing, |r| std::ptr::eq(r, rolled_back))
        };
        for writing in [Writing::Reinit, Writing::Baseline, Writing::Down] {
            let err = refused(writing, &rows[0]).expect_err("billing's row");
            assert_eq!(err.kind, crate::error::ErrorKind::Diverged, "{err:?}");
            let text = err.to_string();
            assert!(
                text.contains("`billing` applied into this ledger: 001_init"),
                "{text}"
            );
        }
        refused(Writing::Down, &rows[1]).expect("users' own row rolls back");
    }
}
