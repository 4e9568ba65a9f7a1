//! Planning `migrate abandon VERSION`: forgetting a no-transaction run left part-way
//! ([`History::interrupted`], [`History::interrupted_unknown`]) once a person has dealt with
//! what it committed — undone it by hand, or decided to keep it — without running anything.
//! The only way on for a migration whose files were removed, which nothing else can run again
//! or record.

use crate::error::{Error, Result};
use crate::files::{Migration, MigrationSet};
use crate::history::{marker_number, markers_of, History, NotHere, Version};
use crate::ledger::{Rewrite, StartedRun};

/// What `abandon` forgets: the interrupted runs of one version, and where that leaves each
/// migration.
#[derive(Debug, Clone)]
pub struct AbandonPlan<'a, 'm> {
    /// The runs left part-way at that version, as `status` shows them (one apply and one
    /// rollback at most).
    pub runs: Vec<Abandoned<'a, 'm>>,
    /// Every start marker of the version's number, live or stale (every spelling): all go.
    markers: Vec<String>,
}

impl AbandonPlan<'_, '_> {
    /// The ledger rewrite that carries it out: the markers deleted, no row written.
    pub fn rewrite(&self) -> Rewrite {
        Rewrite {
            markers: self.markers.clone(),
            ..Rewrite::default()
        }
    }
}

/// One interrupted run `abandon` forgets.
#[derive(Debug, Clone, Copy)]
pub struct Abandoned<'a, 'm> {
    /// Its start marker: who started it, when, and what is known to have committed.
    pub marker: &'m StartedRun,
    /// Where its migration stands once the marker is gone.
    pub after: After<'a>,
}

/// Where a migration stands once `abandon` has forgotten its interrupted run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After<'a> {
    /// An apply of a migration here: pending again (or out of order), the next `up` runs it.
    Pending(&'a Migration),
    /// A rollback: the ledger still records the migration as applied.
    Applied(&'a Migration),
    /// An apply of a migration no file here has: gone from `status`.
    NotHere,
    /// An apply of another branch's migration at the version of `0`, a file here: that file is
    /// pending, the next `up` runs it.
    Another(&'a Migration),
    /// A rollback of a migration whose files are gone: its row stays, `missing`. `reinit`
    /// forgets it, once what the rollback removes is gone — unless it is above the newest
    /// migration here (`above`: a newer release's for all `reinit` can tell, which it keeps,
    /// [`crate::plan::newer_database_of`]).
    Missing {
        /// The row is above the newest migration here.
        above: bool,
    },
    /// A rollback of a migration whose number `0`, a file here, has now: its row stays,
    /// `replaced` (`reinit` forgets it, and the next `up` runs `0`).
    Replaced(&'a Migration),
}

impl After<'_> {
    /// `pending`, `applied`, `not_here`, `another`: the JSON's name.
    pub fn name(self) -> &'static str {
        match self {
            After::Pending(_) => "pending",
            After::Applied(_) => "applied",
            After::NotHere => "not_here",
            After::Another(_) => "another",
            After::Missing { .. } => "missing",
            After::Replaced(_) => "replaced",
        }
    }
}

/// Plans `abandon`: the interrupted runs of `version`'s number (an apply of a migration here
/// or not, a rollback), read as `status` reads them; every marker of that number goes with
/// them. A version with no interrupted run is refused (exit 64), naming those there are.
pub fn abandon<'a, 'm>(
    set: &MigrationSet,
    history: &History<'a>,
    markers: &'m [StartedRun],
    version: &Version,
) -> Result<AbandonPlan<'a, 'm>> {
    let number = version.number();
    let live = history.interrupted(markers);
    let unknown = history.interrupted_unknown(markers);
    // The rows `reinit` keeps, whatever a person did: those above the newest migration here.
    let newer = super::newer_database_of(set, history);
    let above = |row: Option<&crate::ledger::LedgerRow>| {
        row.zip(newer.as_ref())
            .is_some_and(|(row, newer)| newer.versions.contains(&row.version))
    };
    let mut runs: Vec<Abandoned<'a, 'm>> = Vec::new();
    for mark in live.iter().filter(|m| m.migration.version == number) {
        runs.push(Abandoned {
            marker: mark.marker,
            after: match mark.down {
                true => After::Applied(mark.migration),
                false => After::Pending(mark.migration),
            },
        });
    }
    for u in unknown
        .iter()
        .filter(|u| marker_number(u.marker) == Some(number))
    {
        runs.push(Abandoned {
            marker: u.marker,
            after: match (u.not_here, u.row.is_some()) {
                (NotHere::NoFile, false) => After::NotHere,
                (NotHere::Another(m), false) => After::Another(m),
                (NotHere::NoFile, true) => After::Missing {
                    above: above(u.row),
                },
                (NotHere::Another(m), true) => After::Replaced(m),
            },
        });
    }
    if runs.is_empty() {
        // The others, as `(id, version)`: what the help names instead.
        let others: Vec<(String, &str)> = (live.iter())
            .map(|m| (m.migration.id(), m.migration.version_text.as_str()))
            .chain(
                unknown
                    .iter()
                    .map(|u| (u.marker.id(), u.marker.version.as_str())),
            )
            .collect();
        let help = match others.as_slice() {
            [] => format!(
                "no migration is interrupted here ({} shows none): there is nothing to abandon",
                crate::hint::command("migrate status")
            ),
            [(id, version)] => format!(
                "the only interrupted migration is {id}: {}",
                crate::hint::command(&format!("migrate abandon {version}"))
            ),
            others => format!(
                "the interrupted migrations are {}: name one of their versions",
                others
                    .iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        return Err(Error::usage(format!(
            "abandon {version}: no run of version {version} was left part-way"
        ))
        .with_help(help));
    }
    let markers = markers_of(markers, number)
        .into_iter()
        .map(str::to_string)
        .collect();
    Ok(AbandonPlan { runs, markers })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::error::ErrorKind;
    use crate::files::{SqlFile, TransactionMode};
    use crate::ledger::LedgerRow;

    /// Migration `version` (`00V_name`), both files without a transaction.
    fn no_transaction(version: u64, name: &str) -> Migration {
        let version_text = format!("{version:03}");
        let file = |dir: &str| {
            SqlFile::new(
                format!("m/{version_text}_{name}.{dir}.sql"),
                format!("-- confiture:no-transaction\n-- {dir} {name}\n"),
                TransactionMode::NoTransaction,
                false,
            )
        };
        Migration {
            version,
            up: file("up"),
            down: file("down"),
            version_text,
            name: name.to_string(),
        }
    }

    fn marker(version: &str, name: &str, direction: &str, checksum: &str) -> StartedRun {
        let started_at = "2026-12-06T17:00:00+00:00";
        StartedRun {
            statement: 2,
            statements: 3,
            ..StartedRun::for_test(version, name, direction, checksum, started_at)
        }
    }

    fn row(m: &Migration) -> LedgerRow {
        LedgerRow {
            version: m.version_text.clone(),
            name: m.name.clone(),
            applied_at: "2026-12-06T16:00:00+00:00".to_string(),
            execution_time_ms: Some(1),
            checksum: Some(m.up.checksum.clone()),
            applied_by: Some("app".to_string()),
            slug: None,
            archived_into: None,
        }
    }

    fn abandoned(
        set: &MigrationSet,
        rows: &[LedgerRow],
        markers: &[StartedRun],
        version: u64,
    ) -> Result<(Vec<(String, &'static str)>, Rewrite)> {
        let history = History::of(set, rows, None);
        let plan = abandon(set, &history, markers, &Version::from(version))?;
        let runs = plan
            .runs
            .iter()
            .map(|r| {
                (
                    format!("{}:{}", r.marker.version, r.marker.direction),
                    r.after.name(),
                )
            })
            .collect();
        Ok((runs, plan.rewrite()))
    }

    #[test]
    fn an_apply_left_part_way_is_pending_again_and_every_spelling_of_its_markers_goes() {
        let m = no_transaction(2, "idx");
        let set = MigrationSet::new(PathBuf::from("m"), vec![m.clone()]);
        let sum = m.up.checksum.clone();
        let markers = [
            marker("002", "idx", "up", &sum),
            marker("2", "idx", "up", &sum),
            marker("003", "other", "up", "0"),
        ];
        let (runs, rewrite) = abandoned(&set, &[], &markers, 2).unwrap();
        assert_eq!(runs, [("002:up".to_string(), "pending")]);
        assert_eq!(rewrite.markers, ["002", "2"], "the 003 marker stays");
        assert!(rewrite.delete.is_empty() && rewrite.insert.is_empty());
        assert!(rewrite.update.is_empty() && !rewrite.is_empty());
        // And `settling` keeps them: the rewrite deletes what it was made to.
        assert_eq!(rewrite.settling(&markers).markers, ["002", "2"]);
    }

    #[test]
    fn a_rollback_left_part_way_stays_applied() {
        let m = no_transaction(2, "idx");
        let set = MigrationSet::new(PathBuf::from("m"), vec![m.clone()]);
        let markers = [marker("002", "idx", "down", &m.up.checksum)];
        let (runs, _) = abandoned(&set, &[row(&m)], &markers, 2).unwrap();
        assert_eq!(runs, [("002:down".to_string(), "applied")]);
    }

    #[test]
    fn a_migration_not_here_is_abandoned_too() {
        let here = no_transaction(2, "mine");
        let set = MigrationSet::new(PathBuf::from("m"), vec![here]);
        // Another branch's migration at 002 (another name, another up file); none at 005.
        let markers = [
            marker("002", "theirs", "up", "0"),
            marker("005", "gone", "up", "0"),
        ];
        let (runs, _) = abandoned(&set, &[], &markers, 2).unwrap();
        assert_eq!(runs, [("002:up".to_string(), "another")]);
        let (runs, rewrite) = abandoned(&set, &[], &markers, 5).unwrap();
        assert_eq!(runs, [("005:up".to_string(), "not_here")]);
        assert_eq!(rewrite.markers, ["005"]);
    }

    #[test]
    fn a_rollback_of_a_migration_not_here_keeps_its_row_for_reinit() {
        let gone = no_transaction(2, "gone");
        let here = no_transaction(3, "next");
        let set = MigrationSet::new(PathBuf::from("m"), vec![here.clone()]);
        let markers = [marker("002", "gone", "down", &gone.up.checksum)];
        let (runs, rewrite) = abandoned(&set, &[row(&gone), row(&here)], &markers, 2).unwrap();
        assert_eq!(runs, [("002:down".to_string(), "missing")]);
        assert!(rewrite.delete.is_empty(), "the row stays: {rewrite:?}");
        // Below the newest migration here, `reinit` forgets the row; above it, it keeps it.
        let after = |set: &MigrationSet, rows: &[LedgerRow]| {
            let history = History::of(set, rows, None);
            abandon(set, &history, &markers, &Version::from(2))
                .unwrap()
                .runs[0]
                .after
                == After::Missing { above: true }
        };
        assert!(!after(&set, &[row(&gone), row(&here)]));
        let first = no_transaction(1, "first");
        let older = MigrationSet::new(PathBuf::from("m"), vec![first.clone()]);
        assert!(after(&older, &[row(&first), row(&gone)]));
        // Its number reused by another file here: `replaced`.
        let other = no_transaction(2, "other");
        let set = MigrationSet::new(PathBuf::from("m"), vec![other, here.clone()]);
        let (runs, _) = abandoned(&set, &[row(&gone), row(&here)], &markers, 2).unwrap();
        assert_eq!(runs, [("002:down".to_string(), "replaced")]);
    }

    #[test]
    fn a_version_with_nothing_left_part_way_is_refused_naming_those_that_are() {
        let m = no_transaction(2, "idx");
        let set = MigrationSet::new(PathBuf::from("m"), vec![m.clone()]);
        let refused = |markers: &[StartedRun]| {
            let history = History::of(&set, &[], None);
            abandon(&set, &history, markers, &Version::from(7)).unwrap_err()
        };
        let none = refused(&[]);
        assert_eq!(none.kind, ErrorKind::Usage);
        assert_eq!(
            none.message,
            "abandon 7: no run of version 7 was left part-way"
        );
        assert!(
            none.help
                .as_deref()
                .unwrap()
                .contains("no migration is interrupted here"),
            "{none:?}"
        );
        let one = refused(&[marker("002", "idx", "up", &m.up.checksum)]);
        assert!(
            one.help
                .as_deref()
                .unwrap()
                .starts_with("the only interrupted migration is 002_idx: ")
                && one
                    .help
                    .as_deref()
                    .unwrap()
                    .contains("migrate abandon 002`"),
            "{one:?}"
        );
        let two = refused(&[
            marker("002", "idx", "up", &m.up.checksum),
            marker("009", "gone", "up", "0"),
        ]);
        assert!(
            two.help
                .as_deref()
                .unwrap()
                .starts_with("the interrupted migrations are 002_idx, 009_gone"),
            "{two:?}"
        );
        // A stale marker (the ledger records the apply it marks) is nothing to abandon.
        let recorded = [row(&m)];
        let history = History::of(&set, &recorded, None);
        let stale = [marker("002", "idx", "up", &m.up.checksum)];
        let error = abandon(&set, &history, &stale, &Version::from(2)).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Usage);
    }
}
