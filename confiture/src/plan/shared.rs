//! Another migrations directory writing the same ledger: two workspace members whose
//! environments name one database and one tracking table. Each one's rows are then, to the
//! other, migrations `modified`, `replaced` or `missing`; `reinit` would record one member's
//! files over the other's rows. **The one rule** of whose rows they are, which `up`'s refusal,
//! `status` and `reinit` follow.

#[cfg(feature = "db")]
use crate::error::{Diverged, Error, Result};
use crate::files::MigrationSet;
use crate::history::{History, Recorded, State};

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
            )
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

/// Refuses (exit 7, nothing written, its dry run too) a `reinit` over rows another member's
/// files record ([`of_another_member`]): accepted, this member's files would be recorded as
/// applied over that member's rows; forgotten, that member's migrations would be pending.
#[cfg(feature = "db")]
pub(crate) fn refuse_reinit_over_another_member(
    history: &History<'_>,
    shared: &[SharedLedger],
) -> Result<()> {
    let Some(rows) = of_another_member(history, shared) else {
        return Ok(());
    };
    let found = (super::up::divergences(history, true).into_iter())
        .filter(|d| d.id().is_some_and(|id| rows.rows.iter().any(|r| r == id)))
        .collect();
    Err(Error::diverged(
        format!(
            "reinit would rewrite rows that the workspace member `{}` applied into this ledger: {}",
            crate::display::escape(&rows.package),
            crate::display::escape(&rows.rows.join(", ")),
        ),
        Diverged::new(found),
    )
    .with_help(another_members_help(&rows)))
}
