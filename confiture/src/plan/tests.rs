//! The plans, on sets and ledgers built in memory.

use std::path::PathBuf;

use super::*;
use crate::error::ErrorKind;
use crate::files::{checksum, SqlFile, TransactionMode};
use crate::history::State;
use crate::ledger::RowKind;

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

/// The ledger row of `m` applied (its checksum, `postgres`'s): the plan's tests' and
/// `plan::shared`'s.
pub(super) fn row(m: &Migration) -> LedgerRow {
    LedgerRow {
        version: m.version_text.clone(),
        name: m.name.clone(),
        applied_at: "2026-01-15T10:30:00+00:00".to_string(),
        execution_time_ms: Some(1),
        checksum: Some(m.up.checksum.clone()),
        applied_by: Some("postgres".to_string()),
        slug: None,
        archived_into: None,
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
    // A `char(n)` column's padding of the same checksum is another text: modified, as
    // confiture (Python)'s `verify-checksums` says.
    r[0].checksum = r[0].checksum.as_ref().map(|c| format!("{c}  "));

    let ledger = crate::ledger::Ledger {
        table: "t".into(),
        rows: r.clone(),
        started: Vec::new(),
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
        (2, 2, 1, 2)
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
    assert_eq!(err.details.len(), 2 + 2 + 2 + 1, "{:?}", err.details);
    assert!(
        err.details[0].starts_with("modified: 001_m1")
            && err.details[0].contains("the same digest with whitespace around it")
            && err.details[1].starts_with("modified: 002_m2"),
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
            target: Some(Version::from(4)),
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
            target: Some(Version::from(1)),
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
            target: Some(Version::from(4)),
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

/// A set older than its database (a rolling deploy's older release), embedded or read from a
/// directory: the same typed refusal (`newer_database`, no `reinit` in the help, which names
/// `allow_newer_database`); with that option the plan applies nothing and carries the rows it
/// leaves, unless another divergence is there too (a row missing below the newest migration,
/// a modified one).
#[test]
fn a_set_older_than_the_database_is_accepted_only_when_asked_and_alone() {
    let all = set(&[1, 2, 3, 4]);
    let r = rows(&all, &[1, 2, 3, 4]);
    let embedded = {
        let mut s = set(&[1, 2]);
        s.origin = crate::files::Origin::Embedded {
            package: "service".into(),
            version: "1.0.0".into(),
        };
        s
    };
    let allow = UpRequest {
        allow_newer_database: true,
        ..UpRequest::default()
    };
    for (s, newer) in [
        (
            embedded,
            NewerDatabase::new(
                "service",
                "1.0.0",
                Some("002".into()),
                vec!["003".into(), "004".into()],
            ),
        ),
        (
            set(&[1, 2]),
            NewerDatabase::of_directory(Some("002".into()), vec!["003".into(), "004".into()]),
        ),
    ] {
        let err = up(&s, &r, &UpRequest::default()).unwrap_err();
        let Reason::Diverged(diverged) = err.reason() else {
            panic!("{err:?}");
        };
        assert_eq!(diverged.newer_database.as_ref(), Some(&newer));
        let help = err.help.clone().unwrap();
        assert!(!help.contains("reinit"), "{help}");
        assert!(help.contains("`--allow-newer-database`"), "{help}");
        let down_help = down(&s, &r, &DownRequest::default())
            .unwrap_err()
            .help
            .unwrap();
        assert!(!down_help.contains("reinit"), "{down_help}");
        assert!(
            !down_help.contains("allow_newer_database"),
            "an up option: {down_help}"
        );

        let plan = up(&s, &r, &allow).unwrap();
        assert!(plan.apply.is_empty() && plan.skipped.is_empty());
        assert_eq!(plan.newer_database, Some(newer));
        // Its own migrations pending below the newer rows: out of order, still refused.
        let err = up(&s, &rows(&all, &[1, 3, 4]), &allow).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Diverged, "{err:?}");
        // Modified: still refused.
        let mut modified = r.clone();
        modified[0].checksum = Some("0".repeat(64));
        assert_eq!(
            up(&s, &modified, &allow).unwrap_err().kind,
            ErrorKind::Diverged
        );
    }
    // A row missing below the newest migration the set has is no newer release's.
    let gap = set(&[1, 2, 4]);
    let err = up(
        &gap,
        &rows(&set(&[1, 2, 3, 4, 5]), &[1, 2, 3, 4, 5]),
        &allow,
    )
    .unwrap_err();
    let Reason::Diverged(diverged) = err.reason() else {
        panic!("{err:?}");
    };
    assert_eq!(
        diverged.newer_database.as_ref().map(|n| n.versions.clone()),
        Some(vec!["005".to_string()])
    );
}

/// A binary older than its database: the versions it lacks and who embedded the set are the
/// refusal's data, rendered once as its first detail.
#[test]
fn an_embedded_set_older_than_the_database_says_so_as_data() {
    let all = set(&[1, 2, 3]);
    let r = rows(&all, &[1, 2, 3]);
    let mut s = set(&[1, 2]);
    s.origin = crate::files::Origin::Embedded {
        package: "service".into(),
        version: "1.0.0".into(),
    };
    let expected = NewerDatabase::new("service", "1.0.0", Some("002".into()), vec!["003".into()]);
    let up_err = up(&s, &r, &UpRequest::default()).unwrap_err();
    let down_err = down(&s, &r, &DownRequest::default()).unwrap_err();
    // `reinit` would forget the newer build's rows (which it would then apply again): refused
    // as `up` and `down` are, with or without `--through`.
    let reinit_err = reinit(&s, &r, None, None).unwrap_err();
    let reinit_through_err = reinit(&s, &r, Some(&Version::from(2)), None).unwrap_err();
    for err in [up_err, down_err, reinit_err, reinit_through_err] {
        assert_eq!(err.kind, ErrorKind::Diverged);
        let Reason::Diverged(diverged) = err.reason() else {
            panic!("{err:?}");
        };
        assert_eq!(diverged.newer_database.as_ref(), Some(&expected));
        assert_eq!(
            err.details[0],
            "this binary (service 1.0.0) embeds migrations up to 002; the database also has 003 \
             applied, recorded by another build or the CLI"
        );
        assert!(
            (err.details.iter())
                .any(|d| d.starts_with("missing: 003")
                    && d.ends_with("but not embedded in this binary")),
            "{:?}",
            err.details
        );
        assert!(
            !err.details.iter().any(|d| d.contains("files are gone")),
            "{:?}",
            err.details
        );
        assert_eq!(err.details[1..], diverged.lines()[1..], "rendered once");
        let help = err.help.unwrap();
        assert!(
            help.starts_with("this build of service (1.0.0) is older than the database"),
            "the build's help first: {help}"
        );
        assert!(help.contains("run the build that applied them"), "{help}");
        // Nothing that would lose the newer build's changes or make it apply them again.
        for unsafe_advice in [
            "reinit",
            "first_version",
            "restore the missing",
            "cargo confiture",
        ] {
            assert!(!help.contains(unsafe_advice), "{unsafe_advice}: {help}");
        }
    }
    // Another divergence beside the newer rows keeps its own help, after the build's.
    let mut modified = rows(&all, &[1, 2, 3]);
    modified[0].checksum = Some("0".repeat(64));
    let err = up(&s, &modified, &UpRequest::default()).unwrap_err();
    let help = err.help.unwrap();
    assert!(help.starts_with("this build of service"), "{help}");
    assert!(help.contains("; for the other migrations: "), "{help}");
    // Read from a directory, the same rows are above its newest migration: the same case
    // (`a_set_older_than_the_database_is_accepted_only_when_asked_and_alone`).
    let err = up(&set(&[1, 2]), &r, &UpRequest::default()).unwrap_err();
    assert!(
        err.details[0].starts_with("the migrations go up to 002; the database also has 003"),
        "{:?}",
        err.details
    );
}

/// h18 F7: "the migrations go up to 002" beside a newer confiture (Python) migration,
/// `003_x.py`: the newest version was the newest SQL pair's, while the rows above it were
/// counted from every file (`.py` ones too). Both are [`MigrationSet::newest_version`], the
/// newest file's whatever its kind; a pair's own spelling wins over a stray file's.
#[test]
fn the_migrations_go_up_to_the_newest_file_of_any_kind() {
    let r = rows(&set(&[1, 2, 3, 4, 5]), &[1, 2, 5]);
    let with_python = |versions: &[u64], python: &str| {
        let mut s = set(versions);
        s.python
            .push(crate::files::PythonFile::of(PathBuf::from(format!("m/{python}"))).unwrap());
        s
    };
    for (s, up_to) in [
        (with_python(&[1, 2], "003_x.py"), "003"),
        (with_python(&[1, 2], "0004_x.py"), "0004"),
        (with_python(&[1, 3], "002_x.py"), "003"),
        (set(&[1, 2]), "002"),
    ] {
        assert_eq!(s.newest_version().map(|(_, text)| text), Some(up_to));
        let history = History::of(&s, &r, None);
        let newer = newer_database_of(&s, &history).expect("005 is above the files");
        assert_eq!(newer.embeds_up_to.as_deref(), Some(up_to));
        assert_eq!(newer.versions, ["005"]);
        assert!(
            newer.to_string().starts_with(&format!(
                "the migrations go up to {up_to}; the database also has 005"
            )),
            "{newer}"
        );
    }
    // Files of that version that form no migration: the text of the pair wins.
    let mut s = with_python(&[1, 2], "002_x.py");
    s.python[0].version_text = "02".into();
    assert_eq!(s.newest_version(), Some((2, "002")));
}

#[test]
fn up_refuses_modified_missing_and_out_of_order_listing_each() {
    let mut s = set(&[1, 2, 3, 4, 5]);
    let r = rows(&s, &[1, 2, 4, 5]);
    s.migrations[1].up.checksum = checksum(b"edited");
    s.migrations.retain(|m| m.version != 5);
    let err = up(&s, &r, &UpRequest::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Diverged);
    // 005 is above the newest file: first, the database ahead of the files.
    assert_eq!(err.details.len(), 4, "{:?}", err.details);
    assert!(
        err.details[0].starts_with("the migrations go up to 004; the database also has 005"),
        "{:?}",
        err.details
    );
    assert!(
        err.details[1].starts_with("modified: 002_m2"),
        "{:?}",
        err.details
    );
    assert!(
        err.details[2].starts_with("missing: 005_m5"),
        "{:?}",
        err.details
    );
    assert!(
        err.details[3].starts_with("out of order: 003_m3"),
        "{:?}",
        err.details
    );
    let help = err.help.unwrap();
    // The safe form of reinit: no `--through`, so no version that might not exist; the
    // out-of-order one's `baseline --through` names its own version, which does.
    assert!(
        help.contains("`cargo confiture migrate reinit`")
            && !help.contains("reinit --through")
            && help.contains("`cargo confiture migrate baseline --through 003`")
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

/// `up --target V` below a squashed history's `first_version` said "no migration with version
/// V", as if V were a typo: V is in the schema snapshot, which `up` does not apply.
#[test]
fn up_target_below_first_version_names_the_snapshot() {
    let s = set(&[10, 11]);
    let req = UpRequest {
        target: Some(Version::from(3)),
        first_version: Some(10),
        ..Default::default()
    };
    let err = check_up_request(&s, &req).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Usage);
    assert!(
        err.message
            .contains("--target 3 is below `first_version` (10)"),
        "{err}"
    );
    assert!(err
        .help
        .as_deref()
        .is_some_and(|h| h.contains("--target 10")));
    // Without squashing, an unknown version is still one.
    let plain = UpRequest {
        target: Some(Version::from(3)),
        ..Default::default()
    };
    assert!(check_up_request(&s, &plain)
        .unwrap_err()
        .message
        .contains("no migration with version 3"));
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
            target: Some(Version::from(1)),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rolled(&plan), [2, 3]);
    let plan = down(
        &s,
        &r,
        &DownRequest {
            target: Some(Version::from(0)),
            yes: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rolled(&plan), [2, 3, 1]);
    let plan = down(&s, &[], &DownRequest::default()).unwrap();
    assert!(plan.roll_back.is_empty());
}

/// The versions `down --steps N` rolls back over `rows`.
fn rolled_steps(s: &MigrationSet, r: &[LedgerRow], steps: u32) -> Vec<u64> {
    let request = DownRequest {
        steps: Some(steps),
        yes: true,
        ..Default::default()
    };
    rolled(&down(s, r, &request).unwrap())
}

/// `rows` of `versions`, in that order of writing, each with `reason` after its slug's time
/// when it has one (a row written without running its migration).
fn written(s: &MigrationSet, versions: &[(u64, &str)]) -> Vec<LedgerRow> {
    versions
        .iter()
        .map(|&(v, reason)| {
            let mut r = rows(s, &[v]).remove(0);
            r.slug = Some(format!("{}_{}_20261125_170442{reason}", r.name, r.version));
            r
        })
        .collect()
}

/// h16 F20: a row written without running its migration (a lost middle row recorded again by
/// `baseline` or `reinit`, ours or confiture (Python)'s) is placed by its version, never taken
/// for the newest application; a migration applied after newer ones keeps its place.
#[test]
fn down_places_rows_recorded_without_running_by_version() {
    let s = set(&[1, 2, 3, 4, 5]);
    for reason in [
        "_baseline",
        "_reinit",
        "_auto-baseline",
        "_0002_baseline_from_db",
        "_squashed",
    ] {
        let r = written(&s, &[(1, ""), (3, ""), (4, ""), (5, ""), (2, reason)]);
        assert_eq!(rolled_steps(&s, &r, 1), [5], "{reason}");
        assert_eq!(rolled_steps(&s, &r, 3), [5, 4, 3], "{reason}");
        assert_eq!(rolled_steps(&s, &r, 5), [5, 4, 3, 2, 1], "{reason}");
    }
    // Applied by running it: the ledger's order, a late-merged 2 rolled back first.
    let r = written(&s, &[(1, ""), (3, ""), (4, ""), (5, ""), (2, "")]);
    assert_eq!(rolled_steps(&s, &r, 3), [2, 5, 4]);
    // Several rows recorded at once, below and above the applied ones.
    let r = written(
        &s,
        &[
            (1, ""),
            (4, ""),
            (2, "_baseline"),
            (3, "_baseline"),
            (5, "_baseline"),
        ],
    );
    assert_eq!(rolled_steps(&s, &r, 5), [5, 4, 3, 2, 1]);
    // A late-merged 3 applied after 4 and 5 stays first; 2 recorded again goes below 4.
    let r = written(&s, &[(1, ""), (4, ""), (5, ""), (3, ""), (2, "_baseline")]);
    assert_eq!(rolled_steps(&s, &r, 5), [3, 5, 4, 2, 1]);
    // A row recorded first is where it was written: nothing applied before it.
    let r = written(&s, &[(2, "_baseline"), (1, ""), (3, "")]);
    assert_eq!(rolled_steps(&s, &r, 3), [3, 1, 2]);
    // A row whose version is not a number keeps its place (refused as missing, as before).
    let mut r = written(&s, &[(1, ""), (3, ""), (2, "_baseline")]);
    r.insert(
        1,
        LedgerRow {
            version: "abc".into(),
            ..r[0].clone()
        },
    );
    let history = History::of(&s, &r, None);
    let order: Vec<&str> = (history.in_order_of_application().iter())
        .map(|r| r.row.version.as_str())
        .collect();
    assert_eq!(order, ["001", "abc", "002", "003"]);
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
            target: Some(Version::from(0)),
            ..Default::default()
        },
        DownRequest {
            target: Some(Version::from(7)),
            yes: true,
            ..Default::default()
        },
        DownRequest {
            steps: Some(1),
            target: Some(Version::from(1)),
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
            target: Some(Version::from(1)),
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
    // 003 is above the newest file: the database is ahead of the files, or they were lost.
    assert!(
        err.details[1].starts_with("missing: 003_m3"),
        "{:?}",
        err.details
    );
    let help = err.help.unwrap_or_default();
    assert!(help.contains("restore them from version control"), "{help}");
    assert!(!help.contains("reinit"), "{help}");
}

/// In a dry run, the `down` a refusal suggests is a preview too (the invocation adds
/// `--dry-run` to it), yet its help said that "each migration's down file runs, dropping every
/// migration's objects". A dry run's helps say what the suggestion shows, and what the same
/// command without `--dry-run` would drop; a real run's are unchanged.
#[test]
fn a_dry_runs_suggested_rollback_is_worded_as_a_preview() {
    let s = set(&[1, 2, 3]);
    let r = rows(&s, &[1, 2, 3]);
    let squashed = set(&[3, 4, 5]);
    for preview in [false, true] {
        let beyond = DownRequest {
            steps: Some(10),
            preview,
            ..Default::default()
        };
        let everything = DownRequest {
            target: Some(Version::from(0)),
            preview,
            ..Default::default()
        };
        let snapshot = DownRequest {
            target: Some(Version::from(0)),
            first_version: Some(3),
            preview,
            ..Default::default()
        };
        let helps = [
            down(&s, &r, &beyond).unwrap_err(),
            check_down_request(&s, &everything).unwrap_err(),
            check_down_request(&squashed, &snapshot).unwrap_err(),
        ]
        .map(|e| e.help.unwrap_or_default());
        for help in &helps {
            if preview {
                assert!(help.contains("runs nothing (without --dry-run, "), "{help}");
                assert!(!help.contains("to roll back"), "{help}");
            } else {
                assert!(!help.contains("dry"), "{help}");
            }
            assert!(help.contains("dropping"), "{help}");
        }
        let first = if preview {
            "to preview rolling back every one, run"
        } else {
            "to roll back every one, run"
        };
        assert!(helps[0].starts_with(first), "{}", helps[0]);
    }
}

/// `--steps 10` with three applied rolled back all three without the `--yes` that
/// `--target 0` asks for.
#[test]
fn steps_beyond_the_applied_migrations_need_yes() {
    let s = set(&[1, 2, 3]);
    let r = rows(&s, &[1, 2, 3]);
    let ask = |steps: u32, yes: bool| {
        down(
            &s,
            &r,
            &DownRequest {
                steps: Some(steps),
                yes,
                ..Default::default()
            },
        )
        .map(|plan| rolled(&plan))
    };
    let err = ask(10, false).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Usage);
    assert!(
        err.message
            .contains("--steps 10 is more than the 3 applied"),
        "{err}"
    );
    // The help leads with the form that confirms (a `--steps 10` typed for `--steps 1` is
    // what the refusal is for), says what it drops, and each command works as it is.
    let help = err.help.unwrap_or_default();
    assert!(
        help.starts_with(
            "to roll back every one, run `cargo confiture migrate down --target 0 --yes` \
             (or `cargo confiture migrate down --steps 3`): each migration's down file runs, \
             dropping every migration's objects"
        ) && !help.contains("--steps 3 --yes"),
        "{help}"
    );
    assert_eq!(ask(10, true).unwrap(), [3, 2, 1]);
    assert_eq!(ask(3, false).unwrap(), [3, 2, 1]);
    assert_eq!(ask(2, false).unwrap(), [3, 2]);
}

/// A squashed history (`first_version` 3, files 3..=5, applied): every `--target` below 3 is
/// the point before the files, planned as `--steps` reaching it is, and confirmed with `--yes`
/// like `--target 0` (it was an unknown version).
#[test]
fn target_below_first_version_is_the_snapshot_and_needs_yes() {
    let s = set(&[3, 4, 5]);
    let r = rows(&s, &[3, 4, 5]);
    let ask = |target: Option<u64>, steps: Option<u32>, yes: bool| {
        let request = DownRequest {
            target: target.map(Version::from),
            steps,
            yes,
            first_version: Some(3),
            ..Default::default()
        };
        down(&s, &r, &request).map(|plan| rolled(&plan))
    };
    for target in [0, 1, 2] {
        let err = ask(Some(target), None, false).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage, "{err}");
        assert!(err.help.unwrap_or_default().contains("--yes"));
        assert_eq!(ask(Some(target), None, true).unwrap(), [5, 4, 3]);
    }
    assert_eq!(ask(None, Some(3), false).unwrap(), [5, 4, 3]);
    assert_eq!(ask(Some(3), None, false).unwrap(), [5, 4]);
    // With the snapshot's rows 1 and 2 in the ledger, every suggested command works: "roll
    // back everything" is back to the snapshot, whose rows stay.
    let mut squashed = r.clone();
    for v in ["001", "002"] {
        squashed.insert(
            0,
            LedgerRow {
                version: v.into(),
                ..r[0].clone()
            },
        );
    }
    let ask = |target: Option<u64>, steps: Option<u32>, yes: bool| {
        let request = DownRequest {
            target: target.map(Version::from),
            steps,
            yes,
            first_version: Some(3),
            ..Default::default()
        };
        down(&s, &squashed, &request).map(|plan| rolled(&plan))
    };
    for target in [0, 1, 2] {
        let help = ask(Some(target), None, false)
            .unwrap_err()
            .help
            .unwrap_or_default();
        assert!(
            help.contains(&format!("--target {target} --yes")) || help == "add --yes to confirm"
        );
        assert_eq!(
            ask(Some(target), None, true).unwrap(),
            [5, 4, 3],
            "{target}"
        );
    }
    // Beyond the rows above the snapshot, `--steps` reaches squashed rows, which no `--yes`
    // rolls back: refused for them (exit 8) whether confirmed or not, naming what works (r3d).
    for (steps, yes) in [(4, true), (5, true), (6, true), (6, false)] {
        let err = ask(None, Some(steps), yes).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Irreversible, "{err}");
        let help = err.help.unwrap_or_default();
        assert!(
            help.contains(
                "`cargo confiture migrate down --target 0 --yes` \
                 (or `cargo confiture migrate down --steps 3`)"
            ),
            "{help}"
        );
    }
    assert_eq!(ask(None, Some(3), false).unwrap(), [5, 4, 3]);
    // Above first_version, a version no file has is still unknown.
    let err = ask(Some(6), None, true).unwrap_err();
    assert!(err.message.contains("no migration with version 6"), "{err}");
    // Without a squashed history only 0 is below the first version.
    let plain = DownRequest {
        target: Some(Version::from(2)),
        yes: true,
        ..Default::default()
    };
    assert!(down(&s, &r, &plain)
        .unwrap_err()
        .message
        .contains("no migration with version 2"));
}

/// The snapshot help is for the first migration of a squashed history on a ledger that records
/// nothing, failing with a SQLSTATE an absent object raises; any other failure is its file's
/// (a division by zero cannot be a missing snapshot). On verify's scratch database it says
/// verify cannot check the history, not "load the snapshot".
#[test]
fn snapshot_missing_help_only_for_the_first_migration_of_a_squashed_history_on_an_empty_ledger() {
    let s = set(&[3, 4]);
    let help = snapshot_missing_help(&s, &[], Some(3), 3, "42P01", None).expect("help");
    assert!(help.contains("003_m3, the first migration"), "{help}");
    assert!(help.contains("fix m/003_m3.up.sql"), "{help}");
    for sqlstate in ABSENT_OBJECT_SQLSTATES {
        assert!(snapshot_missing_help(&s, &[], Some(3), 3, sqlstate, None).is_some());
    }
    for sqlstate in ["22012", "42601", "23505", "42P07", ""] {
        assert_eq!(
            snapshot_missing_help(&s, &[], Some(3), 3, sqlstate, None),
            None,
            "{sqlstate}"
        );
    }
    assert_eq!(
        snapshot_missing_help(&s, &[], Some(3), 4, "42P01", None),
        None
    );
    assert_eq!(
        snapshot_missing_help(&s, &rows(&s, &[3]), Some(3), 3, "42P01", None),
        None
    );
    for first_version in [None, Some(1), Some(0)] {
        assert_eq!(
            snapshot_missing_help(&s, &[], first_version, 3, "42P01", None),
            None
        );
    }
    assert_eq!(
        snapshot_missing_help(&set(&[]), &[], Some(3), 3, "42P01", None),
        None
    );
    // On a scratch database, the command running is named, and run again as given (its
    // flags too), never `migrate up`/`down`.
    for command in ["migrate verify", "migrate drift"] {
        let scratch =
            snapshot_missing_help(&s, &[], Some(3), 3, "42P01", Some(command)).expect("help");
        assert!(scratch.contains("cannot check this history"), "{scratch}");
        assert!(!scratch.contains("a new database loads first"), "{scratch}");
        assert!(
            scratch.contains(&format!("`{command}` builds")),
            "{scratch}"
        );
        assert!(
            scratch.contains(&format!("run {}", crate::hint::AGAIN)),
            "{scratch}"
        );
        assert!(!scratch.contains("migrate up"), "{scratch}");
        assert!(!scratch.contains("migrate down"), "{scratch}");
        assert_eq!(
            scratch.contains("--from"),
            command == "migrate verify",
            "{scratch}"
        );
    }
}

#[test]
fn a_duplicate_row_alone_is_refused_with_the_ledgers_fix_not_the_files() {
    let s = set(&[1, 2]);
    let mut r = rows(&s, &[1, 2]);
    let mut again = row(&s.migrations[0]);
    again.version = "1".to_string();
    r.push(again);
    let err = down(
        &s,
        &r,
        &DownRequest {
            steps: Some(3),
            yes: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Diverged);
    let help = err.help.unwrap_or_default();
    assert!(
        help.contains("keeps one row per migration") && !help.contains("restore the files"),
        "{help}"
    );
}

/// A duplicate row reached twice (as a chosen row and as the second row of a chosen
/// migration) with another row between was listed twice: `dedup` removed only adjacent repeats.
#[test]
fn a_duplicate_row_is_listed_once_however_it_is_reached() {
    let s = set(&[1, 2]);
    let mut r = rows(&s, &[1]);
    // 009 has no file: a missing row between the two rows of version 1.
    r.push(LedgerRow {
        version: "009".into(),
        ..r[0].clone()
    });
    let mut again = row(&s.migrations[0]);
    again.version = "1".to_string();
    r.push(again);
    let err = down(
        &s,
        &r,
        &DownRequest {
            steps: Some(3),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Diverged);
    let crate::error::Reason::Diverged(diverged) = err.reason() else {
        panic!("{err:?}")
    };
    let listed: Vec<String> = diverged.migrations.iter().map(|d| d.to_string()).collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    // And the line of the row above the newest file (009: a newer release's, or lost files).
    assert_eq!(err.details.len(), 3, "{:?}", err.details);
    assert!(err.message.contains(": 2 migrations"), "{err}");
}

#[test]
fn baseline_records_only_what_is_missing_through_the_version() {
    let s = set(&[1, 2, 3, 4]);
    let r = rows(&s, &[2]);
    let plan = baseline(&s, &r, &Version::from(3)).unwrap();
    assert_eq!(
        (versions(&plan.record), versions(&plan.already)),
        (vec![1, 3], vec![2])
    );
    assert_eq!(
        baseline(&s, &r, &Version::from(9)).unwrap_err().kind,
        ErrorKind::Usage
    );
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

/// A row that has no checksum is applied, not modified, but `reinit` rewrites it as confiture
/// writes it; so it does a checksum in upper case or with whitespace around it, which is
/// modified (confiture (Python)'s `verify-checksums` calls both a mismatch).
#[test]
fn reinit_rewrites_a_checksum_written_otherwise_into_the_exact_one() {
    let s = set(&[1, 2, 3]);
    let mut r = rows(&s, &[1, 2, 3]);
    r[2].checksum = None;
    let history = History::new(&s.migrations, &r, None);
    assert!(history.entries().iter().all(|e| e.state == State::Applied));
    let plan = reinit(&s, &r, None, None).unwrap();
    assert_eq!(actions(&plan), ["001:Keep", "002:Keep", "003:Accept"]);
    let mut otherwise = r.clone();
    otherwise[0].checksum = otherwise[0].checksum.as_ref().map(|c| c.to_uppercase());
    otherwise[1].checksum = otherwise[1].checksum.as_ref().map(|c| format!("{c}  "));
    let history = History::new(&s.migrations, &otherwise, None);
    let states: Vec<State> = history.entries().iter().map(|e| e.state).collect();
    assert_eq!(states, [State::Modified, State::Modified, State::Applied]);
    let plan = reinit(&s, &otherwise, None, None).unwrap();
    assert_eq!(actions(&plan), ["001:Accept", "002:Accept", "003:Accept"]);
    let rewrite = plan.rewrite();
    let checksums: Vec<&str> = rewrite.update.iter().map(|u| u.checksum.as_str()).collect();
    assert_eq!(
        checksums,
        [
            &s.migrations[0].up.checksum,
            &s.migrations[1].up.checksum,
            &s.migrations[2].up.checksum
        ]
    );
}

#[test]
fn reinit_without_through_rewrites_only_the_rows_the_ledger_has() {
    let mut s = set(&[1, 2, 3, 4]);
    let mut r = rows(&s, &[1, 2, 3]);
    s.migrations[1].up.checksum = checksum(b"edited");
    r[2].version = "0003".into();
    // A row with no file below the newest one (a row above it is a newer release's, kept:
    // `reinit_never_forgets_a_newer_releases_rows`).
    r.push(LedgerRow {
        version: "000".into(),
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
            "000:Forget",
            "1:Forget"
        ]
    );
    let rewrite = plan.rewrite();
    assert_eq!(rewrite.delete, ["000", "1"]);
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

/// A row whose file now holds another migration (name and checksum both differ: an applied
/// file deleted and its number reused) was "accepted": renamed to the new file, which then
/// counted as applied though it never ran. It is forgotten: the next `up` runs the file. An
/// edit (same name) or a rename (same checksum) is still accepted.
#[test]
fn reinit_forgets_a_row_whose_version_now_names_another_migration() {
    let mut s = set(&[1, 2, 3]);
    let r = rows(&s, &[1, 2, 3]);
    s.migrations[1].name = "add_email".into();
    s.migrations[1].up.checksum = checksum(b"ALTER TABLE a ADD COLUMN email text;");
    s.migrations[2].name = "renamed".into();
    let plan = reinit(&s, &r, None, None).unwrap();
    assert_eq!(actions(&plan), ["001:Keep", "002:Forget", "003:Accept"]);
    assert_eq!(plan.rewrite().delete, ["002"]);
}

/// `replaced` is decided once, by the history: a row whose version's file is another
/// migration (another name and another checksum) records a migration whose files are gone,
/// not that file edited. An edit (same name) is `modified`, a rename (same checksum) and a row
/// without a checksum of the file's name are `applied`; a row without a checksum of another
/// name is `ambiguous` (nothing tells). `up` and `down` refuse it as `replaced`, naming the
/// row and the file that has its number now; `reinit` forgets the row.
#[test]
fn a_row_whose_version_now_names_another_migration_is_replaced_everywhere() {
    let mut s = set(&[1, 2, 3, 4, 5]);
    let mut r = rows(&s, &[1, 2, 3, 4, 5]);
    s.migrations[1].name = "add_email".into();
    s.migrations[1].up.checksum = checksum(b"ALTER TABLE a ADD COLUMN email text;");
    s.migrations[2].up.checksum = checksum(b"edited");
    s.migrations[3].name = "renamed".into();
    s.migrations[4].up.checksum = checksum(b"another");
    r[4].checksum = None;
    let mut other_name = s.clone();
    other_name.migrations[4].name = "another".into();
    let history = crate::history::History::new(&other_name.migrations, &r, None);
    assert_eq!(history.recorded[4].state, State::Ambiguous);
    let err = reinit(&other_name, &r, None, None).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Diverged);
    let history = crate::history::History::new(&s.migrations, &r, None);
    let states: Vec<_> = history.recorded.iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        [
            State::Applied,
            State::Replaced,
            State::Modified,
            State::Applied,
            State::Applied
        ]
    );
    assert!(State::Replaced.is_diverged());
    let replaced = &history.recorded[1];
    assert_eq!(
        replaced.matched(),
        None,
        "the file is not the row's migration"
    );
    assert_eq!(
        replaced.migration.map(Migration::id),
        Some(s.migrations[1].id())
    );

    let expected = Divergence::Replaced {
        id: "002_m2".into(),
        by: "002_add_email".into(),
        row_version: "002".into(),
        file: Some(s.migrations[1].up.path.clone()),
        applied_at: Some(r[1].applied_at.clone()),
    };
    let up_err = up(&s, &r, &UpRequest::default()).unwrap_err();
    let req = DownRequest {
        target: Some(Version::from(1)),
        allow_modified: true,
        ..Default::default()
    };
    let down_err = down(&s, &r, &req).unwrap_err();
    for err in [up_err, down_err] {
        assert_eq!(err.kind, ErrorKind::Diverged);
        let Reason::Diverged(diverged) = err.reason() else {
            panic!("{err:?}");
        };
        assert!(diverged.migrations.contains(&expected), "{diverged:?}");
        assert!(
            !diverged
                .migrations
                .iter()
                .any(|d| matches!(d, Divergence::Modified { id, .. } if id == "002_add_email")),
            "{diverged:?}"
        );
    }
    let plan = reinit(&s, &r, None, None).unwrap();
    assert_eq!(plan.rewrite().delete, ["002"]);
}

/// The files no row records that `reinit` leaves so: every one without `--through`, those above
/// it with it (what the text report's `--through VERSION` hint is about).
#[test]
fn reinit_says_which_files_it_leaves_without_a_row() {
    let s = set(&[1, 2, 3, 4, 5]);
    let r = rows(&s, &[1, 3]);
    let versions =
        |plan: &ReinitPlan<'_>| -> Vec<u64> { plan.unrecorded.iter().map(|m| m.version).collect() };
    assert_eq!(versions(&reinit(&s, &r, None, None).unwrap()), [2, 4, 5]);
    assert_eq!(
        versions(&reinit(&s, &r, Some(&Version::from(4)), None).unwrap()),
        [5]
    );
    assert_eq!(
        versions(&reinit(&s, &r, Some(&Version::from(5)), None).unwrap()),
        [0u64; 0]
    );
    let all = rows(&s, &[1, 2, 3, 4, 5]);
    assert!(reinit(&s, &all, None, None).unwrap().unrecorded.is_empty());
}

#[test]
fn reinit_through_records_pending_files_and_forgets_rows_above_it() {
    let s = set(&[1, 2, 3, 4]);
    let mut r = rows(&s, &[1, 3, 4]);
    r.push(LedgerRow {
        version: "x".into(),
        ..r[0].clone()
    });
    let plan = reinit(&s, &r, Some(&Version::from(3)), None).unwrap();
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
        reinit(&s, &r, Some(&Version::from(5)), None)
            .unwrap_err()
            .kind,
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
    let plan = reinit(&s, &r, Some(&Version::from(4)), Some(3)).unwrap();
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
        steps: Some(2),
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
    let help = err.help.unwrap_or_default();
    assert!(
        help.contains(
            "`cargo confiture migrate down --target 0 --yes` \
             (or `cargo confiture migrate down --steps 1`)"
        ),
        "{help}"
    );
    // `--target 0` on a squashed history rolls back to the snapshot: the squashed row stays.
    let req = DownRequest {
        target: Some(Version::from(0)),
        yes: true,
        first_version: Some(3),
        ..Default::default()
    };
    assert_eq!(rolled(&down(&s, &r, &req).unwrap()), [3]);
    let req = DownRequest {
        first_version: Some(3),
        ..Default::default()
    };
    assert_eq!(rolled(&down(&s, &r, &req).unwrap()), [3]);
}

/// `renumbered` is decided once, by the history: a row whose name and checksum are a file's of
/// another, unrecorded version (its own version now another migration's, or no file's). An
/// edit as well as a new number is not a renumbering; `reinit` moves the row, never forgets it.
#[test]
fn a_renumbered_migration_is_one_state_decided_by_the_history() {
    let old = migration(3, "c");
    let mut moved = migration(4, "c");
    moved.up = file("m/004_c.up.sql".into(), &old.up.text, false);
    let mut other = migration(3, "other");
    other.up = file("m/003_other.up.sql".into(), "-- another\n", false);
    let applied = [migration(1, "a"), migration(2, "b")];
    let ledger: Vec<LedgerRow> = applied.iter().chain([&old]).map(row).collect();
    let files = [
        applied[0].clone(),
        applied[1].clone(),
        other.clone(),
        moved.clone(),
    ];
    let history = crate::history::History::new(files.iter(), &ledger, None);
    let states: Vec<_> = history.recorded.iter().map(|r| r.state).collect();
    assert_eq!(states, [State::Applied, State::Applied, State::Renumbered]);
    assert_eq!(
        history.recorded[2].matched().map(Migration::id),
        Some(moved.id())
    );
    assert_eq!(
        history.pending().map(Migration::id).collect::<Vec<_>>(),
        [other.id()]
    );
    assert!(crate::history::is_another_migration(&other, &ledger[2]));
    let dir = MigrationSet::new("m", files.to_vec());
    let plan = reinit(&dir, &ledger, None, None).expect("plan");
    let rewrite = plan.rewrite();
    assert!(rewrite.delete.is_empty(), "{rewrite:?}");
    assert_eq!(rewrite.update.len(), 1);
    assert_eq!(
        (
            rewrite.update[0].key.as_str(),
            rewrite.update[0].version.as_str()
        ),
        ("003", "004")
    );

    // Renumbered and edited: nothing proves it is the migration that ran, nor that it is
    // another one reusing the name: ambiguous (not modified, which would say `003_other`
    // ran; not replaced, which `reinit` forgets and `up` runs again), tied to `004_c`; `reinit`
    // refuses it.
    let mut edited = moved.clone();
    edited.up = file("m/004_c.up.sql".into(), "-- edited\n", false);
    let files = [
        applied[0].clone(),
        applied[1].clone(),
        other.clone(),
        edited,
    ];
    let history = crate::history::History::new(files.iter(), &ledger, None);
    assert_eq!(history.recorded[2].state, State::Ambiguous);
    assert_eq!(
        history.recorded[2].migration.map(Migration::id),
        Some("004_c".to_string())
    );
    let dir = MigrationSet::new("m", files.to_vec());
    let err = reinit(&dir, &ledger, None, None).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Diverged, "{err:?}");
    // Kept at its number and edited: modified, not renumbered.
    let mut kept = old.clone();
    kept.up = file("m/003_c.up.sql".into(), "-- edited\n", false);
    let files = [applied[0].clone(), applied[1].clone(), kept, moved];
    let history = crate::history::History::new(files.iter(), &ledger, None);
    assert_eq!(history.recorded[2].state, State::Modified);
}

/// `s` with the migrations of `versions` taken out of the set and listed as unreadable: their
/// up files are on disk but could not be read, as `files::check` leaves them.
fn unreadable(s: &mut MigrationSet, versions: &[u64]) {
    for &v in versions {
        let i = s
            .migrations
            .iter()
            .position(|m| m.version == v)
            .expect("version in set");
        let m = s.migrations.remove(i);
        s.unreadable.push(crate::files::UnreadableFile {
            path: m.up.path.clone(),
            version: m.version,
            version_text: m.version_text.clone(),
            name: m.name.clone(),
            direction: crate::files::Direction::Up,
            error: "Permission denied (os error 13)".to_string(),
        });
    }
}

/// The check of a plan refused for files that are there but unusable (unreadable, half a
/// pair): exit 5, the one `detail`, a help that says `help_word` and forgets nothing.
fn refused_as_unusable<'a>(
    detail: &'a str,
    help_word: &'a str,
) -> impl Fn(Result<(), Error>, &str) + 'a {
    move |result, what| {
        let err = result.expect_err(what);
        assert_eq!(err.kind, ErrorKind::Invalid, "{what}: {err:?}");
        assert_eq!(err.details, [detail], "{what}");
        let help = err.help.unwrap_or_default();
        assert!(
            !help.contains("reinit") && !help.contains("forget") && help.contains(help_word),
            "{what}: {help}"
        );
    }
}

fn up_to(target: Option<u64>) -> UpRequest {
    UpRequest {
        target: target.map(Version::from),
        ..UpRequest::default()
    }
}

fn back(steps: u32) -> DownRequest {
    DownRequest {
        steps: Some(steps),
        ..DownRequest::default()
    }
}

/// An applied migration whose files cannot be read was `missing`: `up --target` below it
/// refused it as diverged with the help that `reinit` forgets it, and `down` and `reinit`
/// took it for a row with no file. Every plan refuses it alike (exit 5), naming the file and
/// the system's reason, with a help that forgets nothing; a pending one too where it would
/// run or be recorded, and nowhere else.
#[test]
fn every_plan_refuses_an_unreadable_migration_where_it_matters() {
    let mut s = set(&[1, 2, 3]);
    let r = rows(&s, &[1, 2]);
    unreadable(&mut s, &[2]);
    let history = History::of(&s, &r, None);
    assert_eq!(
        history.recorded[1].state,
        State::Unreadable { recorded: true }
    );
    let refused = refused_as_unusable(
        "cannot read `002_m2.up.sql`: Permission denied (os error 13)",
        "permissions",
    );
    refused(up(&s, &r, &up_to(None)).map(drop), "up");
    refused(up(&s, &r, &up_to(Some(1))).map(drop), "up --target 1");
    refused(down(&s, &r, &back(1)).map(drop), "down");
    refused(reinit(&s, &r, None, None).map(drop), "reinit");

    // Not rolled back, not recorded: nothing to refuse.
    let r = rows(&set(&[1, 2, 3]), &[1, 2, 3]);
    let history = History::of(&s, &r, None);
    assert_eq!(
        history.recorded[1].state,
        State::Unreadable { recorded: true }
    );
    assert_eq!(rolled(&down(&s, &r, &back(1)).unwrap()), [3]);
    refused(down(&s, &r, &back(2)).map(drop), "down --steps 2");

    // Pending: `up` refuses it up to its target only, `baseline` and `reinit --through` when
    // they would record it.
    let mut s = set(&[1, 2, 3]);
    let r = rows(&s, &[1]);
    unreadable(&mut s, &[2]);
    let history = History::of(&s, &r, None);
    assert_eq!(
        history
            .entries()
            .iter()
            .map(|e| e.state)
            .collect::<Vec<_>>(),
        [
            State::Applied,
            State::Unreadable { recorded: false },
            State::Pending
        ]
    );
    assert!(up(&s, &r, &up_to(Some(1))).unwrap().apply.is_empty());
    refused(up(&s, &r, &up_to(Some(3))).map(drop), "up --target 3");
    refused(
        baseline(&s, &r, &Version::from(3)).map(drop),
        "baseline --through 3",
    );
    assert_eq!(
        versions(&baseline(&s, &r, &Version::from(1)).unwrap().already),
        [1]
    );
    refused(
        reinit(&s, &r, Some(&Version::from(3)), None).map(drop),
        "reinit --through 3",
    );
    assert!(reinit(&s, &r, None, None).is_ok());
}

/// An applied migration of which half a pair is on disk (here its up file, its down file
/// gone) was `missing`: `up --target` below it refused it as diverged, `down` rolled back a
/// row with no file's refusal (exit 7) and `reinit` forgot it. Every plan refuses it alike
/// (exit 5) without the file diagnostics, naming the file that is not there, with a help that
/// forgets nothing; a `down` that does not reach it goes on.
#[test]
fn every_plan_refuses_an_applied_migration_whose_pair_is_incomplete() {
    let mut s = set(&[1, 2, 3]);
    let r = rows(&s, &[1, 2, 3]);
    let m = s.migrations.remove(1);
    s.incomplete.push(crate::files::IncompleteFile {
        path: m.up.path.clone(),
        version: m.version,
        version_text: m.version_text.clone(),
        name: m.name.clone(),
        direction: crate::files::Direction::Up,
        checksum: m.up.checksum.clone(),
        misnamed: false,
    });
    let history = History::of(&s, &r, None);
    assert_eq!(history.recorded[1].state, State::Applied);
    let refused = refused_as_unusable(
        "`002_m2.up.sql` is applied, but `002_m2.down.sql` is not there",
        "restore",
    );
    refused(up(&s, &r, &up_to(None)).map(drop), "up");
    refused(up(&s, &r, &up_to(Some(1))).map(drop), "up --target 1");
    assert_eq!(rolled(&down(&s, &r, &back(1)).unwrap()), [3]);
    refused(down(&s, &r, &back(2)).map(drop), "down --steps 2");
    refused(reinit(&s, &r, None, None).map(drop), "reinit");
}

/// `s` with the migration of `version` taken out of the set and its up file alone left, as
/// `files::check` leaves a half pair (applied or not).
fn half_pair(s: &mut MigrationSet, version: u64) {
    let i = s
        .migrations
        .iter()
        .position(|m| m.version == version)
        .expect("version in set");
    let m = s.migrations.remove(i);
    s.incomplete.push(crate::files::IncompleteFile {
        path: m.up.path.clone(),
        version: m.version,
        version_text: m.version_text.clone(),
        name: m.name.clone(),
        direction: crate::files::Direction::Up,
        checksum: m.up.checksum.clone(),
        misnamed: false,
    });
}

/// `baseline`/`reinit --through V` and `down --target V` said "no migration with version V"
/// (exit 64, offering the other versions) when V's files are on disk but form no migration —
/// they cannot be read, or half the pair is there: every flag that names a version resolves
/// it against every version the directory has files of, so V's own refusal (exit 5) is the
/// one given, or the command goes on where V's files do not matter (`down` keeps V). A version
/// with no file at all is still unknown, and its help counts the unusable files' versions
/// among the nearest (a directory whose files all cannot be read "has no migrations" no more).
#[test]
fn a_version_whose_files_are_there_but_unusable_is_no_unknown_version() {
    let unknown = |result: Result<(), Error>| {
        result
            .err()
            .filter(|e| e.kind == ErrorKind::Usage && e.message.contains("no migration with"))
    };
    for applied in [false, true] {
        for broken in ["unreadable", "half pair"] {
            let mut s = set(&[1, 2, 3]);
            let r = rows(&s, if applied { &[1, 2, 3] } else { &[1, 2] });
            match broken {
                "unreadable" => unreadable(&mut s, &[3]),
                _ => half_pair(&mut s, 3),
            }
            let what = format!("{broken}, applied: {applied}");
            let at_3 = UpRequest {
                target: Some(Version::from(3)),
                ..UpRequest::default()
            };
            let down_to_3 = DownRequest {
                target: Some(Version::from(3)),
                ..DownRequest::default()
            };
            for (command, result) in [
                ("up --target 3", check_up_request(&s, &at_3)),
                ("up --target 3 (plan)", up(&s, &r, &at_3).map(drop)),
                ("down --target 3", check_down_request(&s, &down_to_3)),
                ("down --target 3 (plan)", down(&s, &r, &down_to_3).map(drop)),
                (
                    "baseline --through 3",
                    baseline(&s, &r, &Version::from(3)).map(drop),
                ),
                (
                    "baseline --through 3 (no rows)",
                    baseline(&s, &[], &Version::from(3)).map(drop),
                ),
                (
                    "reinit --through 3",
                    reinit(&s, &r, Some(&Version::from(3)), None).map(drop),
                ),
                (
                    "reinit --through 3 (no rows)",
                    reinit(&s, &[], Some(&Version::from(3)), None).map(drop),
                ),
            ] {
                assert!(unknown(result).is_none(), "{command}, {what}");
            }
        }
    }

    // Unreadable, pending: the refusal for it, exit 5.
    let mut s = set(&[1, 2, 3]);
    let r = rows(&s, &[1, 2]);
    unreadable(&mut s, &[3]);
    let refused = refused_as_unusable(
        "cannot read `003_m3.up.sql`: Permission denied (os error 13)",
        "permissions",
    );
    refused(
        baseline(&s, &r, &Version::from(3)).map(drop),
        "baseline --through 3",
    );
    refused(
        reinit(&s, &r, Some(&Version::from(3)), None).map(drop),
        "reinit --through 3",
    );
    refused(
        up(&s, &r, &up_to(Some(3))).map(drop),
        "up --target 3 (plan)",
    );
    // `down --target 3` rolls back what is above 3: nothing here; 3 stays as it is.
    let down_to_3 = DownRequest {
        target: Some(Version::from(3)),
        ..DownRequest::default()
    };
    assert!(rolled(&down(&s, &r, &down_to_3).unwrap()).is_empty());

    // An unknown version's help counts every version with files, usable or not.
    let err = check_up_request(&s, &up_to(Some(4))).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Usage);
    // Past every version: the newest is the one near it, not the two below it.
    assert_eq!(err.help.as_deref(), Some("the newest migration is 003_m3"));
    let mut none_readable = set(&[1, 2]);
    unreadable(&mut none_readable, &[1, 2]);
    let err = baseline(&none_readable, &[], &Version::from(5)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Usage);
    assert_eq!(
        err.help.as_deref(),
        Some("the newest migration is 002_m2"),
        "not: the directory has no migrations"
    );
}

/// An unknown version's help names the versions near it: the two on each side inside the
/// range, the newest past it (`down --target 009` with 001..003 said "the nearest versions are
/// 002_b, 003_c"), the oldest before it, the only one.
#[test]
fn an_unknown_versions_help_names_the_versions_near_it() {
    let on_disk: Vec<(u64, String)> = [2, 4, 6, 8]
        .iter()
        .map(|v| (*v, format!("00{v}_m")))
        .collect();
    for (version, help) in [
        (9, "the newest migration is 008_m"),
        (1, "the oldest migration is 002_m"),
        (5, "the nearest versions are 002_m, 004_m, 006_m, 008_m"),
        (7, "the nearest versions are 004_m, 006_m, 008_m"),
    ] {
        assert_eq!(super::nearby(&on_disk, version), help, "{version}");
    }
    assert_eq!(
        super::nearby(&on_disk[..1], 9),
        "the only migration is 002_m"
    );
}

/// Runs the `mv`s of a help on `files` (names): each target must be free when it is moved
/// to, and no two files may share a version and direction afterwards.
fn run_renames(help: &str, files: &mut Vec<String>) {
    for command in help.split('`').filter(|c| c.starts_with("mv ")) {
        for mv in command.split(" && ") {
            let words: Vec<&str> = mv.split(' ').collect();
            let (from, to) = (
                words[1].trim_start_matches("m/").to_string(),
                words[2].trim_start_matches("m/").to_string(),
            );
            assert!(files.contains(&from), "{mv}: no {from} in {files:?}");
            assert!(!files.contains(&to), "{mv}: {to} exists in {files:?}");
            files.retain(|f| *f != from);
            files.push(to);
        }
    }
    let mut keys: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            (
                f[..3].to_string(),
                f.rsplit('.').nth(1).unwrap_or("").to_string(),
            )
        })
        .collect();
    keys.sort();
    let len = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), len, "two files share a version: {files:?}");
}

/// D9: every `mv` the renumbered help gives is right when run — the old number free (the
/// rename back alone), or taken by a migration not applied here (that one takes the number
/// the renumbered one leaves, first) — and the help names what ran as what, never the new id
/// as the old number.
#[test]
fn the_renumbered_help_renames_only_to_free_numbers() {
    for (taken, recorded_as) in [(true, 2u64), (false, 2u64)] {
        let mut migrations = vec![migration(1, "a")];
        if taken {
            migrations.push(migration(2, "new"));
        }
        let seed = migration(3, "seed");
        migrations.push(seed.clone());
        let set = MigrationSet::new(PathBuf::from("m"), migrations);
        let mut rows = rows(&set, &[1]);
        rows.push(LedgerRow {
            version: format!("{recorded_as:03}"),
            ..row(&seed)
        });
        let history = History::of(&set, &rows, None);
        assert_eq!(history.renumbered().len(), 1, "taken {taken}");
        let help = renumbered_help(&set, &history).expect("a help");
        assert!(!help.contains("old number (003_seed"), "{help}");
        let mut files: Vec<String> = set
            .migrations
            .iter()
            .flat_map(|m| [format!("{}.up.sql", m.id()), format!("{}.down.sql", m.id())])
            .collect();
        run_renames(&help, &mut files);
        assert!(
            files.contains(&"002_seed.up.sql".to_string()),
            "{help}\n{files:?}"
        );
        if taken {
            assert!(
                help.contains("`003_seed` ran as 002, which `002_new` has now"),
                "{help}"
            );
            assert!(
                files.contains(&"003_new.up.sql".to_string()),
                "{help}\n{files:?}"
            );
        }
    }
}

/// `m`'s files renumbered to `version`: the same name and up file.
fn renumbered_to(m: &Migration, version: u64) -> Migration {
    let version_text = format!("{version:03}");
    let path = |direction: &str| format!("m/{version_text}_{}.{direction}.sql", m.name);
    Migration {
        version,
        version_text: version_text.clone(),
        name: m.name.clone(),
        up: file(path("up"), &m.up.text, false),
        down: file(path("down"), &m.down.text, false),
    }
}

/// D1: migrations renumbered in a swap, a cycle or a chain were `replaced` and pending, and
/// the help said no rename fixes them; `reinit` forgot their rows. The help's renames, run in
/// its order, give each its old number back (never two files at one version); where a new
/// migration took a number of the chain, no rename is offered that would leave two files at
/// one version, and `reinit` is; `reinit` moves every row, forgetting none.
#[test]
fn migrations_renumbered_in_a_swap_a_cycle_or_a_chain_get_renames_back_that_work() {
    let names = ["first", "a", "b", "c"];
    let applied: Vec<Migration> = (1..=4)
        .map(|v| migration(v, names[v as usize - 1]))
        .collect();
    // (how many are applied, where each applied one after the first is now, a new file).
    let cases: [(usize, &[u64], Option<u64>); 4] = [
        (3, &[3, 2], None),
        (4, &[3, 4, 2], None),
        (3, &[3, 4], None),
        (3, &[3, 4], Some(2)),
    ];
    for (count, now, new) in cases {
        let ledger: Vec<LedgerRow> = applied[..count].iter().map(row).collect();
        let mut files = vec![applied[0].clone()];
        files.extend(
            applied[1..count]
                .iter()
                .zip(now)
                .map(|(m, &v)| renumbered_to(m, v)),
        );
        files.extend(new.map(|v| Migration {
            up: file(format!("m/{v:03}_new.up.sql"), "-- new\n", false),
            ..migration(v, "new")
        }));
        let set = MigrationSet::new(PathBuf::from("m"), files);
        let history = History::of(&set, &ledger, None);
        assert_eq!(history.renumbered().len(), count - 1, "{now:?}");
        let help = renumbered_help(&set, &history).expect("a help");
        assert_eq!(help.contains("no rename fixes it"), new.is_some(), "{help}");
        let mut names: Vec<String> = set
            .migrations
            .iter()
            .flat_map(|m| [format!("{}.up.sql", m.id()), format!("{}.down.sql", m.id())])
            .collect();
        run_renames(&help, &mut names);
        names.sort();
        if new.is_none() {
            let mut back: Vec<String> = applied[..count]
                .iter()
                .flat_map(|m| [format!("{}.up.sql", m.id()), format!("{}.down.sql", m.id())])
                .collect();
            back.sort();
            assert_eq!(names, back, "{help}");
        } else {
            assert!(help.contains("migrate reinit"), "{help}");
        }
        // `reinit` moves each row to its file's number; it forgets none and records nothing.
        let plan = reinit(&set, &ledger, None, None).expect("plan");
        let rewrite = plan.rewrite();
        assert!(
            rewrite.delete.is_empty() && rewrite.insert.is_empty(),
            "{rewrite:?}"
        );
        let moved: Vec<(&str, &str)> = rewrite
            .update
            .iter()
            .map(|u| (u.key.as_str(), u.version.as_str()))
            .collect();
        let expected: Vec<(String, String)> = applied[1..count]
            .iter()
            .zip(now)
            .map(|(m, v)| (m.version_text.clone(), format!("{v:03}")))
            .collect();
        let expected: Vec<(&str, &str)> = expected
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(moved, expected, "{now:?}");
    }
}

/// D15: the renames of the renumbered help broke for a migrations directory whose path starts
/// with `-` (`-db/migrations`): `mv -db/migrations/...` is an option to `mv`. Each path of a
/// suggested command goes through `hint::quote_path` (`./-db/...`): run in a directory holding
/// such files, every rename works, the one back to a free number and those of a swap.
#[test]
fn the_renumbered_help_renames_in_a_directory_starting_with_a_dash() {
    let root = std::env::temp_dir().join(format!("confiture-dash-dir-{}", std::process::id()));
    let dir = PathBuf::from("-db/migrations");
    let moved = |m: &Migration, v: u64| {
        let mut m = renumbered_to(m, v);
        for f in [&mut m.up, &mut m.down] {
            f.path = dir.join(f.path.file_name().expect("a file name"));
        }
        m
    };
    let first = moved(&migration(1, "first"), 1);
    let (a, b) = (migration(2, "a"), migration(3, "b"));
    // The old number free (a gap), and a swap.
    for now in [vec![moved(&a, 4)], vec![moved(&a, 3), moved(&b, 2)]] {
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join(&dir)).expect("the directory");
        let ledger: Vec<LedgerRow> = [&migration(1, "first"), &a, &b][..now.len() + 1]
            .iter()
            .map(|m| row(m))
            .collect();
        let files: Vec<Migration> = std::iter::once(first.clone()).chain(now.clone()).collect();
        for m in &files {
            for f in [&m.up, &m.down] {
                std::fs::write(root.join(&f.path), &f.text).expect("a file");
            }
        }
        let set = MigrationSet::new(dir.clone(), files);
        let history = History::of(&set, &ledger, None);
        let help = renumbered_help(&set, &history).expect("a help");
        assert!(help.contains("mv ./-db/migrations/"), "{help}");
        for command in help.split('`').filter(|c| c.starts_with("mv ")) {
            let status = std::process::Command::new("bash")
                .current_dir(&root)
                .arg("-c")
                .arg(command)
                .status()
                .expect("bash");
            assert!(status.success(), "{command}");
        }
        for m in [&migration(1, "first"), &a, &b].iter().take(now.len() + 1) {
            for f in [&m.up, &m.down] {
                let name = f.path.file_name().expect("a file name");
                assert!(root.join(&dir).join(name).is_file(), "{help}: {name:?}");
            }
        }
    }
    std::fs::remove_dir_all(&root).expect("clean up");
}

/// A ledger row of the `tb_confiture` table lacking `column`, as the read refuses it.
fn incomplete(
    column: &'static str,
    version: Option<&str>,
    name: Option<&str>,
    checksum: Option<&str>,
) -> IncompleteRow {
    IncompleteRow {
        table: "\"public\".\"tb_confiture\"".into(),
        column,
        pk: Some(7),
        version: version.map(str::to_string),
        name: name.map(str::to_string),
        checksum: checksum.map(str::to_string),
        slug: None,
    }
}

/// h15 D5, D6, D12: the help of a row lacking a value offered `DELETE` of rows whose migration
/// ran (pasted, `up` ran it again), or named the row after a file that never ran. `DELETE` is
/// offered only when no file's up file has the row's checksum, no file has its version, and
/// its version is not above the newest file (a newer release's); otherwise only the `UPDATE`
/// that completes it, with the values the files say.
#[test]
fn an_incomplete_row_is_offered_for_deletion_only_when_no_file_accounts_for_it() {
    let s = set(&[1, 2, 3]);
    let sum = |v: usize| s.migrations[v - 1].up.checksum.clone();
    let help = |row: IncompleteRow| incomplete_row_help(&row, Some(&s));
    let kept = |help: &str| {
        assert!(!help.contains("DELETE"), "a row that ran is kept: {help}");
    };

    // D5: no version and no name; the checksum is 002's up file's (padded or not).
    for recorded in [sum(2), format!("{}  ", sum(2))] {
        let h = help(incomplete("version", None, None, Some(&recorded)));
        kept(&h);
        assert!(
            h.contains(
                "UPDATE \"public\".\"tb_confiture\" SET version = '002', name = 'm2' WHERE \
                 pk_confiture = 7;"
            ),
            "{h}"
        );
    }
    // No time of application, another name than 002's file and no checksum: nothing tells
    // whether it records that file (ambiguous); it is kept, never said to have run it.
    let h = help(incomplete("applied_at", Some("002"), Some("other"), None));
    kept(&h);
    assert!(
        h.contains("it may record migration 002_m2, which may have run")
            && h.contains("`ambiguous`"),
        "{h}"
    );
    // No version, its name given: the version alone is set, from the checksum's file.
    let h = help(incomplete("version", None, Some("m2"), Some(&sum(2))));
    kept(&h);
    assert!(
        h.contains("SET version = '002' WHERE pk_confiture = 7;"),
        "{h}"
    );

    // D6: no name, and version 002's file is another migration now (another up file): the
    // row is not named after it, nor is it said to have run.
    let old = checksum(b"-- the migration that ran as 002\n");
    let h = help(incomplete("name", Some("002"), None, Some(&old)));
    kept(&h);
    assert!(!h.contains("'m2'"), "not the new file's name: {h}");
    assert!(!h.contains("002_m2, which ran"), "{h}");
    assert!(h.contains("SET name = ... WHERE pk_confiture = 7;"), "{h}");
    assert!(h.contains("whose files are gone"), "{h}");
    assert!(h.contains("now names another migration, 002_m2"), "{h}");
    // ... unless the checksum is another file's: that migration, renumbered since.
    let h = help(incomplete("name", Some("002"), None, Some(&sum(3))));
    kept(&h);
    assert!(h.contains("SET name = 'm3' WHERE pk_confiture = 7;"), "{h}");
    // A replaced row lacking its time: kept, named by its own name.
    let h = help(incomplete(
        "applied_at",
        Some("002"),
        Some("old"),
        Some(&old),
    ));
    kept(&h);
    assert!(h.contains("SET applied_at = pg_catalog.now()"), "{h}");
    assert!(
        h.contains("records migration 002_old, whose files are gone"),
        "{h}"
    );
    // The same row's file, its checksum unchanged: completed from it.
    let h = help(incomplete("name", Some("002"), None, Some(&sum(2))));
    kept(&h);
    assert!(h.contains("SET name = 'm2' WHERE"), "{h}");

    // D12: a newer release's row (above the newest file, 003) lacking its time or name.
    for (column, name, set_to) in [
        (
            "applied_at",
            Some("later"),
            "SET applied_at = pg_catalog.now() WHERE",
        ),
        ("name", None, "SET name = ... WHERE"),
    ] {
        let h = help(incomplete(column, Some("009"), name, Some(&old)));
        kept(&h);
        assert!(h.contains(set_to), "{h}");
        assert!(h.contains("newer release"), "{h}");
    }
    // Its checksum one file's: that migration, renumbered.
    let h = help(incomplete(
        "applied_at",
        Some("009"),
        Some("m1"),
        Some(&sum(1)),
    ));
    kept(&h);

    // Two files of one name: a row with no version is not guessed to be either.
    let twins = MigrationSet::new(
        PathBuf::from("m"),
        vec![
            migration(1, "dup"),
            migration(2, "dup"),
            migration(3, "other"),
        ],
    );
    let h = incomplete_row_help(
        &incomplete("version", None, Some("dup"), None),
        Some(&twins),
    );
    kept(&h);
    assert!(!h.contains("SET version = '00"), "{h}");
    assert!(h.contains("001_dup, 002_dup"), "{h}");
    // Its checksum tells which.
    let h = incomplete_row_help(
        &incomplete(
            "version",
            None,
            Some("dup"),
            Some(&twins.migrations[1].up.checksum),
        ),
        Some(&twins),
    );
    kept(&h);
    assert!(h.contains("SET version = '002' WHERE"), "{h}");
    // Several files with the row's checksum: not guessed either.
    let mut same = twins.clone();
    same.migrations[1].up.checksum = same.migrations[0].up.checksum.clone();
    let h = incomplete_row_help(
        &incomplete("version", None, None, Some(&same.migrations[0].up.checksum)),
        Some(&same),
    );
    kept(&h);
    assert!(!h.contains("SET version = '00"), "{h}");

    // The files unknown (they could not be read): no row is offered for deletion.
    kept(&incomplete_row_help(
        &incomplete("version", None, None, Some(&sum(2))),
        None,
    ));

    // Nothing of the files accounts for it: it may go.
    let gap = set(&[1, 3]);
    for row in [
        incomplete("name", Some("002"), None, Some(&old)),
        incomplete("name", Some("002"), None, None),
        incomplete("version", None, None, Some(&old)),
        incomplete("version", None, Some("gone"), None),
    ] {
        let h = incomplete_row_help(&row, Some(&gap));
        assert!(
            h.contains("DELETE FROM \"public\".\"tb_confiture\" WHERE pk_confiture = 7;"),
            "{h}"
        );
    }
}

/// The help's statements are offered only on a condition the user checks: the first `UPDATE`
/// and the first `DELETE` come after "if that migration ran" and "if it never ran".
fn offered_on_condition(h: &str) {
    let update = h.find("UPDATE").expect("an UPDATE");
    let delete = h.find("DELETE").expect("a DELETE");
    let ran = h
        .find("if that migration ran")
        .expect("the condition of the UPDATE");
    let never = h
        .find("if it never ran")
        .expect("the condition of the DELETE");
    assert!(ran < update && never < delete, "{h}");
    assert!(!h.contains("so it records"), "{h}");
    assert!(!h.contains("no migration file has version"), "{h}");
}

/// h18 F3: a row with a version and nothing else that says which migration it records (no
/// name, or an empty or another one; no checksum; no slug, or one naming another migration)
/// was said to record the file of its version, "which ran", with the UPDATE that marks that
/// file applied — though it may never have run. Such a row is said to be unidentified; the
/// UPDATE (the file's name included) is offered only if the user knows the file ran, the
/// DELETE if they know it never did. A name or a slug naming the file identifies it.
#[test]
fn an_incomplete_row_nothing_identifies_is_never_taken_for_the_file_of_its_version() {
    let s = set(&[1, 2, 3]);
    let row = |column: &'static str, name: Option<&str>, slug: Option<&str>| IncompleteRow {
        slug: slug.map(str::to_string),
        ..incomplete(column, Some("003"), name, None)
    };
    // Another name than the file's, and no checksum: the row is `ambiguous` (it names a
    // migration, perhaps one that ran): kept, never offered for deletion, whatever its slug.
    for slug in [None, Some("m3_003_20250101_000000"), Some("made_by_hand")] {
        let h = incomplete_row_help(&row("applied_at", Some("other"), slug), Some(&s));
        assert!(!h.contains("DELETE"), "{slug:?}: {h}");
        assert!(
            h.contains("it may record migration 003_m3, which may have run")
                && h.contains("`ambiguous`"),
            "{slug:?}: {h}"
        );
    }
    for (column, name) in [("name", None), ("applied_at", Some(""))] {
        for slug in [
            None,
            Some(""),
            Some("made_by_hand"),
            Some("other_003_20250101_000000"),
            Some("m3_004_20250101_000000"),
        ] {
            let h = incomplete_row_help(&row(column, name, slug), Some(&s));
            assert!(
                h.contains(
                    "nothing identifies the row as migration 003_m3, the file of version 003"
                ),
                "{column} {name:?} {slug:?}: {h}"
            );
            offered_on_condition(&h);
            let set_name = match column {
                "name" => "SET name = 'm3' WHERE pk_confiture = 7;",
                _ => "SET applied_at = pg_catalog.now(), name = 'm3' WHERE pk_confiture = 7;",
            };
            assert!(h.contains(set_name), "{h}");
        }
        // Its slug names the file (confiture's, an older one's, a reason's, an id by hand),
        // and no name of another: it records that file.
        for slug in [
            "m3_003_20250101_000000",
            "m3_3_20250101_000000_reinit",
            "m3_20250101_000000",
            "003_m3",
        ] {
            let h = incomplete_row_help(&row(column, name, Some(slug)), Some(&s));
            assert!(!h.contains("DELETE"), "{h}");
            assert!(
                h.contains(&format!("its slug ({slug}) names migration 003_m3")),
                "{h}"
            );
            assert!(h.contains("name = 'm3' WHERE"), "{h}");
        }
    }
    // Its name identifies it, whatever a slug written by hand says.
    for slug in [None, Some("made_by_hand")] {
        let h = incomplete_row_help(&row("applied_at", Some("m3"), slug), Some(&s));
        assert!(!h.contains("DELETE"), "{h}");
        assert!(h.contains("its name is that of migration 003_m3"), "{h}");
        assert!(h.contains("SET applied_at = pg_catalog.now() WHERE"), "{h}");
    }
    // ... unless confiture's slug names another migration: the two disagree.
    let h = incomplete_row_help(
        &row("applied_at", Some("m3"), Some("other_003_20250101_000000")),
        Some(&s),
    );
    offered_on_condition(&h);
    // Its version's files on disk but forming no migration (half a pair): the same.
    let mut half = set(&[1, 2, 3]);
    let m = half.migrations.remove(2);
    half.incomplete.push(crate::files::IncompleteFile {
        path: m.up.path.clone(),
        version: m.version,
        version_text: m.version_text.clone(),
        name: m.name.clone(),
        direction: crate::files::Direction::Up,
        checksum: m.up.checksum.clone(),
        misnamed: false,
    });
    let h = incomplete_row_help(&row("name", None, None), Some(&half));
    assert!(
        h.contains("nothing identifies the row as migration 003_m3"),
        "{h}"
    );
    offered_on_condition(&h);
    let h = incomplete_row_help(
        &row("name", None, Some("m3_003_20250101_000000")),
        Some(&half),
    );
    assert!(!h.contains("DELETE"), "{h}");
    assert!(h.contains("SET name = 'm3' WHERE"), "{h}");
    // A row with no version: its slug gives it.
    let h = incomplete_row_help(
        &IncompleteRow {
            slug: Some("m2_002_20250101_000000".into()),
            ..incomplete("version", None, None, None)
        },
        Some(&s),
    );
    assert!(!h.contains("DELETE"), "{h}");
    assert!(
        h.contains("SET version = '002', name = 'm2' WHERE pk_confiture = 7;"),
        "{h}"
    );
}

/// h18 F9: the row of a confiture (Python) migration lacking a value (`003_add_users.py`, a
/// row of version 003 with no name) was said to have no migration file of its version, and
/// offered for deletion as if nothing accounted for it. The `.py` file is that version's
/// migration: named, completed from it when the row's name or slug names it, else the row is
/// unidentified (no checksum of ours identifies a `.py` migration's row, whatever it holds).
#[test]
fn an_incomplete_row_of_a_python_migration_is_accounted_for_by_its_file() {
    let mut s = set(&[1, 2]);
    s.python
        .push(crate::files::PythonFile::of(PathBuf::from("m/003_add_users.py")).unwrap());
    let row =
        |column: &'static str, name: Option<&str>, checksum: Option<&str>, slug: Option<&str>| {
            IncompleteRow {
                slug: slug.map(str::to_string),
                ..incomplete(column, Some("003"), name, checksum)
            }
        };
    let other = checksum(b"-- another\n");
    for checksum in [None, Some(other.as_str())] {
        for (column, name) in [
            ("name", None),
            ("applied_at", Some("")),
            ("applied_at", Some("x")),
        ] {
            let h = incomplete_row_help(&row(column, name, checksum, None), Some(&s));
            assert!(
                h.contains(
                    "nothing identifies the row as confiture (Python) migration \
                     003_add_users.py, the file of version 003"
                ),
                "{h}"
            );
            offered_on_condition(&h);
        }
        // Named by its name or slug: completed from the file, kept.
        for (column, name, slug) in [
            ("applied_at", Some("add_users"), None),
            ("name", None, Some("add_users_003_20250101_000000")),
            (
                "applied_at",
                Some(""),
                Some("add_users_003_20250101_000000"),
            ),
        ] {
            let h = incomplete_row_help(&row(column, name, checksum, slug), Some(&s));
            assert!(!h.contains("DELETE"), "{h}");
            assert!(h.contains("confiture (Python) migration 003_add_users.py, the file of version 003, so it records that migration"), "{h}");
            assert!(
                h.contains("without it confiture (Python) would run that migration again"),
                "{h}"
            );
        }
    }
    // A row with no version, of its name or slug: the `.py` file's version.
    for (name, slug) in [
        (Some("add_users"), None),
        (None, Some("add_users_003_20250101_000000")),
    ] {
        let h = incomplete_row_help(
            &IncompleteRow {
                slug: slug.map(str::to_string),
                ..incomplete("version", None, name, None)
            },
            Some(&s),
        );
        assert!(
            h.contains("confiture (Python) migration 003_add_users.py"),
            "{h}"
        );
        assert!(h.contains("SET version = '003'"), "{h}");
    }
}

/// A migrations directory with no migration, on a database with applied ones: `up`'s and
/// `down`'s refusals ask whether it is the directory meant and say how to name another as
/// whoever named it does (`DirNamedBy::point_at`): the plan wrote a library session's words
/// whoever read the set, and only a `Migrator` rewrote them afterwards, so a set read for the
/// command line (`files::load_named_by`) and planned directly named `Migrator::new`.
#[test]
fn an_empty_directorys_refusal_names_the_directory_as_whoever_named_it() {
    use crate::files::DirNamedBy;
    let all = set(&[1, 2, 3]);
    let r = rows(&all, &[1, 2, 3]);
    let every = [
        DirNamedBy::Command,
        DirNamedBy::Flag,
        DirNamedBy::BuildScript,
        DirNamedBy::Library,
    ];
    let tmp = confiture_test_support::TempDir::new("plan_empty_named_by");
    for named_by in every {
        let checked = crate::files::load_named_by(
            tmp.path(),
            &crate::files::CheckOptions::default(),
            named_by,
        )
        .unwrap();
        let helps = [
            up(&checked.set, &r, &UpRequest::default())
                .unwrap_err()
                .help,
            down(&checked.set, &r, &DownRequest::default())
                .unwrap_err()
                .help,
        ];
        for help in helps {
            let help = help.unwrap_or_default();
            assert!(
                help.contains("check that this is the migrations directory meant"),
                "{named_by:?}: {help}"
            );
            for other in every {
                let words = other.point_at(HOLDING_THEM);
                assert_eq!(
                    help.contains(&words),
                    other == named_by,
                    "{named_by:?} names {other:?}'s way: {help}"
                );
            }
        }
    }
}

/// h15 D7: a rolling deploy (a newer release applied 004 and 005, this directory stops at 003)
/// and a file removed below the newest one (002): `status` offered `reinit` for 002, and
/// `reinit` forgot 004 and 005 too, which the newer release would then apply again over their
/// own changes. The rows above the newest file are kept, with or without `--through`.
#[test]
fn reinit_never_forgets_a_newer_releases_rows() {
    let all = set(&[1, 2, 3, 4, 5]);
    let r = rows(&all, &[1, 2, 3, 4, 5]);
    let s = set(&[1, 3]);
    let newer = NewerDatabase::of_directory(Some("003".into()), vec!["004".into(), "005".into()]);
    let plan = reinit(&s, &r, None, None).unwrap();
    assert_eq!(
        actions(&plan),
        ["001:Keep", "002:Forget", "003:Keep", "004:Keep", "005:Keep"]
    );
    assert_eq!(plan.rewrite().delete, ["002"]);
    assert_eq!(plan.newer_database, Some(newer.clone()));
    let plan = reinit(&s, &r, Some(&Version::from(1)), None).unwrap();
    assert_eq!(
        actions(&plan),
        [
            "001:Keep",
            "002:Forget",
            "003:Forget",
            "004:Keep",
            "005:Keep"
        ]
    );
    assert_eq!(plan.newer_database, Some(newer));
    // No newer rows: nothing of the kind.
    assert_eq!(reinit(&all, &r, None, None).unwrap().newer_database, None);
}

/// `reinit` accepted a file with real edits beside one that differs only by line
/// endings (the help's way on for the latter): both recorded, the edit never run. Refused
/// without `--yes`, naming which is which; alone, either is accepted as before.
#[test]
fn reinit_refuses_recording_edits_beside_line_endings_without_yes() {
    let with_text = |version: u64, text: &str| {
        let mut m = migration(version, &format!("m{version}"));
        m.up = file(
            crate::display::path_text(&m.up.path).to_string(),
            text,
            false,
        );
        m
    };
    let ran = [
        with_text(1, "CREATE TABLE a (id int);\n"),
        with_text(2, "CREATE TABLE thing (id int);\r\n"),
        with_text(3, "CREATE TABLE t3 (a int);\n"),
    ];
    let r: Vec<LedgerRow> = ran.iter().map(row).collect();
    let now = |edited: bool| {
        let third = match edited {
            true => with_text(3, "CREATE TABLE t3 (a int, b int);\n"),
            false => ran[2].clone(),
        };
        MigrationSet::new(
            PathBuf::from("m"),
            vec![
                ran[0].clone(),
                with_text(2, "CREATE TABLE thing (id int);\n"),
                third,
            ],
        )
    };
    let s = now(true);
    let plan = reinit(&s, &r, None, None).unwrap();
    assert_eq!(actions(&plan), ["001:Keep", "002:Accept", "003:Accept"]);
    let e = confirm_reinit(&s, &plan, false).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Usage);
    assert!(
        e.message.contains("edited text of 003_m3 as applied without running it, beside 002_m2, which differs from what ran only by line endings"),
        "{e}"
    );
    let help = e.help.clone().unwrap_or_default();
    assert!(
        help.contains("restore 003_m3 from version control first"),
        "{help}"
    );
    assert!(confirm_reinit(&s, &plan, true).is_ok());
    // Line endings alone: no confirmation.
    let s = now(false);
    let plan = reinit(&s, &r, None, None).unwrap();
    assert_eq!(actions(&plan), ["001:Keep", "002:Accept", "003:Keep"]);
    assert!(confirm_reinit(&s, &plan, false).is_ok());
}

/// The refusal of a reinit that would forget every row but a newer release's: its help's
/// `--yes` forgets the rows its message counts, never "every row" while it keeps others (hcr B).
#[test]
fn reinit_forgetting_every_row_but_newer_ones_says_what_yes_forgets() {
    // Another project's migration at a version: another name and text (`replaced`).
    let migration = |version: u64, name: &str| {
        let mut m = migration(version, name);
        m.up = file(
            crate::display::path_text(&m.up.path).to_string(),
            &format!("-- {name}\n"),
            false,
        );
        m
    };
    let all = set(&[1, 2, 3, 4, 5, 6]);
    let r = rows(&all, &[1, 2, 3, 4, 5, 6]);
    let s = MigrationSet::new(PathBuf::from("m"), vec![migration(1, "zz")]);
    let plan = reinit(&s, &r, None, None).unwrap();
    let e = confirm_reinit(&s, &plan, false).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Usage);
    assert!(
        e.message.contains("would forget 1 row of the ledger"),
        "{e}"
    );
    let help = e.help.clone().unwrap_or_default();
    assert!(!help.contains("every row"), "{help}");
    assert!(
        help.contains("to forget that row anyway add --yes"),
        "{help}"
    );
    // Two rows forgotten, one kept: "those 2 rows".
    let s = MigrationSet::new(
        PathBuf::from("m"),
        vec![migration(1, "zz"), migration(2, "yy")],
    );
    let plan = reinit(&s, &r, None, None).unwrap();
    let help = confirm_reinit(&s, &plan, false)
        .unwrap_err()
        .help
        .unwrap_or_default();
    assert!(
        help.contains("to forget those 2 rows anyway add --yes"),
        "{help}"
    );
    // Every row forgotten, none kept: "every row".
    let s = MigrationSet::new(
        PathBuf::from("m"),
        (1..=6).map(|v| migration(v, "other")).collect(),
    );
    let plan = reinit(&s, &r, None, None).unwrap();
    let help = confirm_reinit(&s, &plan, false)
        .unwrap_err()
        .help
        .unwrap_or_default();
    assert!(
        help.contains("to forget every row anyway add --yes"),
        "{help}"
    );
}

/// The command that finishes a rollback stopped midway (`finishing_command`) rolls back
/// exactly what the plan had — the run's own `--target`, `--steps` turned into the version the
/// plan ends at (whatever part of it committed, run twice it does no more), `--yes` when that
/// is everything, back to a squashed history's snapshot too — or is `None` when no `--target`
/// reaches exactly those rows (an out-of-order application among them).
#[test]
fn a_stopped_rollback_is_finished_by_the_target_its_plan_ends_at() {
    let finish = |s: &MigrationSet, r: &[LedgerRow], request: DownRequest| {
        let plan = down(s, r, &request).unwrap();
        let found = finishing_command(s, r, &request, &plan);
        if let Some((target, _, _)) = &found {
            // The same plan, whatever part of it committed.
            let again = DownRequest {
                steps: None,
                target: Some(Version::from(*target)),
                yes: true,
                ..request.clone()
            };
            assert_eq!(rolled(&down(s, r, &again).unwrap()), rolled(&plan));
            for done in 1..plan.roll_back.len() {
                let left: Vec<LedgerRow> = r[..r.len() - done].to_vec();
                let rest = down(s, &left, &again).unwrap();
                assert_eq!(rolled(&rest), rolled(&plan)[done..]);
            }
        }
        found.map(|(_, _, args)| args)
    };
    let steps = |n| DownRequest {
        steps: Some(n),
        ..Default::default()
    };
    let s = set(&[1, 2, 3, 4]);
    let r = rows(&s, &[1, 2, 3, 4]);
    assert_eq!(
        finish(&s, &r, steps(2)).as_deref(),
        Some("migrate down --target 002")
    );
    assert_eq!(
        finish(&s, &r, steps(3)).as_deref(),
        Some("migrate down --target 001")
    );
    assert_eq!(
        finish(&s, &r, steps(4)).as_deref(),
        Some("migrate down --target 0 --yes")
    );
    let modified = DownRequest {
        allow_modified: true,
        ..steps(2)
    };
    assert_eq!(
        finish(&s, &r, modified).as_deref(),
        Some("migrate down --target 002 --allow-modified")
    );
    let target = DownRequest {
        target: Some(Version::from(1)),
        ..Default::default()
    };
    assert_eq!(
        finish(&s, &r, target).as_deref(),
        Some("migrate down --target 001")
    );

    // Applied 1, 3, then 2: `--steps 1` rolls back 2 alone, which no `--target` does.
    let r = rows(&s, &[1, 3, 2]);
    assert_eq!(finish(&s, &r, steps(1)), None);
    assert_eq!(
        finish(&s, &r, steps(2)).as_deref(),
        Some("migrate down --target 001")
    );

    // A squashed history (first_version 3, rows 1 and 2 the snapshot's): everything above it.
    let s = set(&[3, 4, 5]);
    let mut r = rows(&s, &[3, 4, 5]);
    for v in ["002", "001"] {
        r.insert(
            0,
            LedgerRow {
                version: v.into(),
                ..r[0].clone()
            },
        );
    }
    let squashed = DownRequest {
        first_version: Some(3),
        ..steps(3)
    };
    assert_eq!(
        finish(&s, &r, squashed).as_deref(),
        Some("migrate down --target 002 --yes")
    );
}

/// `up`'s counterpart (`up_finishing_command`): a limited plan stopped midway is finished by
/// `--target V`, V its newest version, which applies the rest of the plan and no more however
/// much committed; an unlimited plan (nothing skipped) needs none — the command again finishes it.
#[test]
fn a_stopped_limited_up_is_finished_by_its_newest_version() {
    let s = set(&[1, 2, 3, 4]);
    let r = rows(&s, &[1]);
    let finish = |request: UpRequest| {
        let plan = up(&s, &r, &request).unwrap();
        let found = up_finishing_command(&s, &r, &request, &plan);
        if let Some((target, _, _)) = &found {
            let again = UpRequest {
                steps: None,
                target: Some(Version::from(*target)),
                ..request.clone()
            };
            for done in 0..plan.apply.len() {
                let applied: Vec<u64> = [1]
                    .into_iter()
                    .chain(plan.apply[..done].iter().map(|m| m.version))
                    .collect();
                let left = rows(&s, &applied);
                let rest = up(&s, &left, &again).unwrap();
                assert_eq!(versions(&rest.apply), versions(&plan.apply[done..]));
            }
        }
        found.map(|(_, _, args)| args)
    };
    let steps = UpRequest {
        steps: Some(2),
        ..Default::default()
    };
    assert_eq!(
        finish(steps.clone()).as_deref(),
        Some("migrate up --target 003")
    );
    let destructive = UpRequest {
        allow_destructive: true,
        ..steps
    };
    assert_eq!(
        finish(destructive).as_deref(),
        Some("migrate up --target 003 --allow-destructive")
    );
    let target = UpRequest {
        target: Some(Version::from(2)),
        ..Default::default()
    };
    assert_eq!(finish(target).as_deref(), Some("migrate up --target 002"));
    assert_eq!(finish(UpRequest::default()), None);
    let all = UpRequest {
        steps: Some(3),
        ..Default::default()
    };
    assert_eq!(finish(all), None);
}

/// h18 F1, F11: `--steps N` reaches the N-th version it could run over the ledger — a
/// confiture (Python) migration counted, never stepped over — and is refused exactly when the
/// `--target` of the same migrations is; below a `.py`, a bare `up` names that `--target`.
#[test]
fn steps_reach_what_the_ledger_says_and_stop_before_a_python_migration() {
    let mut s = set(&[1, 2, 4]);
    s.python
        .push(crate::files::PythonFile::of(PathBuf::from("m/003_x.py")).unwrap());
    let r = rows(&s, &[1]);
    let request = |steps: Option<u32>, target: Option<u64>| UpRequest {
        steps,
        target: target.map(Version::from),
        ..UpRequest::default()
    };
    let history = History::of(&s, &r, None);
    let cases: [(Option<u32>, Option<u64>, Option<u64>); 6] = [
        (Some(1), None, Some(2)),
        (Some(2), None, Some(3)),
        (Some(3), None, Some(4)),
        (Some(9), None, None),
        (Some(9), Some(2), Some(2)),
        (None, Some(4), Some(4)),
    ];
    for (steps, target, through) in cases {
        assert_eq!(
            reach(&s, &history, &request(steps, target)),
            through,
            "{steps:?} {target:?}"
        );
    }
    let plan = up(&s, &r, &request(Some(1), None)).unwrap();
    assert_eq!((versions(&plan.apply), plan.through), (vec![2], Some(2)));
    for (steps, target) in [(Some(2), None), (None, None), (None, Some(4))] {
        let err = up(&s, &r, &request(steps, target)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid, "{steps:?} {target:?}");
        assert!(
            err.help.as_deref().unwrap_or_default().contains(
                "`cargo confiture migrate up --target 002` applies the migrations before \
                 `003_x.py` and stops there"
            ),
            "{err:?}"
        );
    }
}

/// A suggested `up` or `down` is its words joined by one space, whatever the request leaves
/// out: a `down` with no bound but `--allow-modified`, refused for a file replaced, said
/// `migrate down  --allow-modified` (two spaces) in the command to run again.
#[test]
fn a_suggested_command_repeats_the_requests_flags_one_space_apart() {
    let full = set(&[1, 2, 3]);
    let r = rows(&full, &[1, 2, 3]);
    let request = DownRequest {
        allow_modified: true,
        ..Default::default()
    };
    let mut other = migration(3, "other");
    other.up = file("m/003_other.up.sql".to_string(), "-- other\n", false);
    let renamed = MigrationSet::new(
        PathBuf::from("m"),
        vec![migration(1, "m1"), migration(2, "m2"), other],
    );
    let err = down(&renamed, &r, &request).unwrap_err();
    let help = err.help.clone().unwrap_or_default();
    assert!(
        help.contains("`cargo confiture migrate down --allow-modified`"),
        "{help}"
    );
    for (bound, expected) in [
        ("", "migrate down --allow-modified"),
        ("--steps 2", "migrate down --steps 2 --allow-modified"),
    ] {
        assert_eq!(down_args(&request, bound), expected);
    }
    let up_request = UpRequest {
        allow_destructive: true,
        single_transaction: true,
        ..Default::default()
    };
    assert_eq!(
        up_args(&up_request, None, Some("--allow-out-of-order")),
        "migrate up --allow-destructive --single-transaction --allow-out-of-order"
    );
    assert_eq!(
        up_args(&up_request, Some("003"), Some("--single-transaction")),
        "migrate up --target 003 --allow-destructive --single-transaction"
    );
    assert_eq!(up_args(&UpRequest::default(), None, None), "migrate up");
}

/// N10: a version bound was echoed as the number it parses to: `--target 042` said "--target
/// 42: no migration with version 42", `--through 0005` "--through 5", `--target 000` "--target
/// 0 rolls back every applied migration". The requests carry the version as it was written,
/// and every message about the bound spells it so.
#[test]
fn a_version_bound_is_echoed_as_it_was_written() {
    let v = |text: &str| text.parse::<Version>().unwrap();
    let s = set(&[1, 2, 3]);
    let r = rows(&s, &[1, 2]);
    let message = |result: Result<()>| result.unwrap_err().to_string();
    let up_to = |text: &str| UpRequest {
        target: Some(v(text)),
        ..Default::default()
    };
    let down_to = |text: &str| DownRequest {
        target: Some(v(text)),
        ..Default::default()
    };
    let unknown =
        |flag: &str, text: &str| format!("{flag} {text}: no migration with version {text} in m");
    let cases = [
        (
            message(up(&s, &r, &up_to("042")).map(drop)),
            unknown("--target", "042"),
        ),
        (
            message(up(&s, &r, &up_to("000")).map(drop)),
            unknown("--target", "000"),
        ),
        (
            message(down(&s, &r, &down_to("042")).map(drop)),
            unknown("--target", "042"),
        ),
        (
            message(down(&s, &r, &down_to("000")).map(drop)),
            "--target 000 rolls back every applied migration".to_string(),
        ),
        (
            message(baseline(&s, &r, &v("0005")).map(drop)),
            unknown("--through", "0005"),
        ),
        (
            message(reinit(&s, &r, Some(&v("042")), None).map(drop)),
            unknown("--through", "042"),
        ),
    ];
    for (message, expected) in cases {
        assert!(
            message.starts_with(&expected),
            "{message}\nexpected: {expected}"
        );
    }
    // Below a squashed history's first version: the bound as written too.
    let s = set(&[3, 4, 5]);
    let r = rows(&s, &[3, 4, 5]);
    let request = UpRequest {
        first_version: Some(3),
        ..up_to("0002")
    };
    let err = message(up(&s, &r, &request).map(drop));
    assert!(
        err.starts_with("--target 0002 is below `first_version`"),
        "{err}"
    );
    let request = DownRequest {
        first_version: Some(3),
        ..down_to("0002")
    };
    let err = down(&s, &r, &request).unwrap_err();
    assert!(
        err.message
            .starts_with("--target 0002 is below the first migration"),
        "{err}"
    );
    let help = err.help.unwrap_or_default();
    assert!(
        help.contains(
            "(`cargo confiture migrate down --target 0002 --yes`, the same plan as --target 0 \
             --yes)"
        ),
        "{help}"
    );
}

/// `down --target 0` without `--yes` said only "add --yes to confirm": no command to paste, and
/// nothing on what confirming drops, where `--steps` beyond the applied migrations names both.
/// Every refusal of a `--target` that rolls back everything gives the command that confirms
/// it, the target as written and the request's other flags kept, and says that the down files
/// drop the migrations' objects (since the schema snapshot, on a squashed history).
#[test]
fn a_target_that_rolls_back_everything_names_the_command_and_what_it_drops() {
    let cases: &[(&[u64], Option<u64>, &str, &str)] = &[
        (&[1, 2, 3], None, "0", "dropping every migration's objects"),
        (
            &[1, 2, 3],
            None,
            "000",
            "dropping every migration's objects",
        ),
        (&[3, 4, 5], Some(3), "0", "dropping their objects"),
        (&[3, 4, 5], Some(3), "2", "dropping their objects"),
    ];
    for (versions, first_version, target, drops) in cases {
        let s = set(versions);
        let request = DownRequest {
            target: Some(target.parse::<Version>().unwrap()),
            allow_modified: true,
            first_version: *first_version,
            ..Default::default()
        };
        let err = check_down_request(&s, &request).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage, "{err}");
        let help = err.help.unwrap_or_default();
        let command =
            format!("`cargo confiture migrate down --target {target} --yes --allow-modified`");
        assert!(help.contains(&command), "{target}: {help}");
        assert!(help.contains(drops), "{target}: {help}");
    }
}

/// The help of an edited applied migration named the new migration to write as a bare
/// `migrate generate NAME`, which no shell runs and which the CLI could not complete with the
/// run's `--migrations-dir` or `-p`: it is a suggested command like the `reinit` beside it.
#[test]
fn the_modified_help_suggests_generate_as_a_command() {
    let help = modified_help(LineEndings::of([("001".to_string(), None)]));
    assert!(
        help.contains("goes in a new migration (`cargo confiture migrate generate NAME`)"),
        "{help}"
    );
    let inv = crate::hint::Invocation {
        files: vec!["--migrations-dir".into(), "sql".into()],
        ..Default::default()
    };
    assert!(
        inv.render(&help)
            .contains("`cargo confiture migrate generate NAME --migrations-dir sql`"),
        "{help}"
    );
}

/// The same for a binary's embedded migrations: its help named a bare `migrate generate NAME`
/// beside a completed `reinit`. Every origin's help suggests it through the one writer.
#[test]
fn the_modified_help_of_a_binary_suggests_generate_as_a_command() {
    let origin = crate::files::Origin::Embedded {
        package: "app".into(),
        version: "1.0.0".into(),
    };
    let help = modified_help_of(&origin, LineEndings::of([("001".to_string(), None)]));
    assert!(
        help.contains("(`cargo confiture migrate generate NAME`)"),
        "{help}"
    );
    assert!(!help.contains("(`migrate generate NAME`)"), "{help}");
}

/// C004's help with the ledger read names the version the file checker names (the first
/// missing one, at the directory's width, the one most versions have: `0009_gap` after `007` goes to
/// `0008`) and says whether the file after the gap is applied here; no other help changes.
#[test]
fn explain_applied_says_whether_the_file_after_a_gap_is_applied_here() {
    let dir = std::path::Path::new("m");
    let entries = ["007_h", "0009_gap", "0010_x"]
        .iter()
        .flat_map(|s| [format!("{s}.up.sql"), format!("{s}.down.sql")])
        .map(|f| crate::files::Entry::File {
            path: dir.join(f),
            bytes: b"SELECT 1;\n".to_vec(),
        })
        .collect();
    let options = crate::files::CheckOptions {
        first_version: Some(7),
        ..Default::default()
    };
    let checked = crate::files::check(dir, entries, &options);
    let c004 = |ds: &[Diagnostic]| {
        (ds.iter())
            .find(|d| d.code == "C004")
            .and_then(|d| d.help.clone())
            .unwrap_or_else(|| panic!("no C004: {ds:?}"))
    };
    let unknown = c004(&checked.diagnostics);
    assert!(
        unknown.contains("renumber `0009_gap` to 0008 only if it is not applied anywhere yet"),
        "{unknown}"
    );
    let explained = |applied: &[u64]| {
        let rows = rows(&checked.set, applied);
        let history = History::of(&checked.set, &rows, Some(7));
        let ds = explain_applied(&checked.set, &history, &checked.diagnostics, &options);
        // Only the helps that depend on it change.
        for (before, after) in checked.diagnostics.iter().zip(&ds) {
            if before.code != "C004" {
                assert_eq!(before, after);
            }
        }
        c004(&ds)
    };
    let here = explained(&[7, 9]);
    assert!(
        here.contains("keep `0009_gap` at its number: it is applied here"),
        "{here}"
    );
    let not_here = explained(&[7]);
    assert!(
        not_here.contains("`0009_gap` is not applied here: renumber it to 0008 unless another"),
        "{not_here}"
    );
}

/// With 001 and 002 applied, 002's files renumbered to 003 and a new 005 added, `status` said
/// both "rename its files back" (003 to 002) and "renumber `005_t5` to 004": followed
/// together, they left version 003 missing (C004 again). The number into the gap counts from
/// the versions once the renames back the same report suggests are done: 003.
#[test]
fn a_gap_s_renumbering_counts_from_the_versions_after_the_renames_back() {
    let dir = std::path::Path::new("m");
    let file = |name: &str, sql: &str| crate::files::Entry::File {
        path: dir.join(name),
        bytes: sql.as_bytes().to_vec(),
    };
    let before = crate::files::check(
        dir,
        vec![
            file("001_a.up.sql", "SELECT 1;\n"),
            file("001_a.down.sql", "SELECT 1;\n"),
            file("002_b.up.sql", "SELECT 2;\n"),
            file("002_b.down.sql", "SELECT 2;\n"),
        ],
        &Default::default(),
    );
    let ledger: Vec<LedgerRow> = before.set.migrations.iter().map(row).collect();
    let after = crate::files::check(
        dir,
        vec![
            file("001_a.up.sql", "SELECT 1;\n"),
            file("001_a.down.sql", "SELECT 1;\n"),
            file("003_b.up.sql", "SELECT 2;\n"),
            file("003_b.down.sql", "SELECT 2;\n"),
            file("005_t5.up.sql", "SELECT 5;\n"),
            file("005_t5.down.sql", "SELECT 5;\n"),
        ],
        &Default::default(),
    );
    let history = History::of(&after.set, &ledger, None);
    let options = Default::default();
    let ds = explain_gaps(
        &after.set,
        &history,
        &explain_applied(&after.set, &history, &after.diagnostics, &options),
    );
    let of = |path: &str| {
        (ds.iter())
            .find(|d| d.code == "C004" && d.path == dir.join(path))
            .and_then(|d| d.help.clone())
            .unwrap_or_else(|| panic!("no C004 on {path}: {ds:?}"))
    };
    assert!(
        of("003_b.up.sql").contains("rename its files back"),
        "{ds:?}"
    );
    let renumber = of("005_t5.up.sql");
    assert!(
        renumber.contains("`005_t5` is not applied here: renumber it to 003 unless another"),
        "{renumber}"
    );
}

/// The status report of the files `entries` (`(name, bytes)` in `m/`) on a ledger of the rows
/// `applied` picks among the set's migrations and the pairs left out for their version.
fn status_of(
    entries: &[(&str, &[u8])],
    applied: impl Fn(&Migration) -> bool,
) -> (crate::files::Checked, crate::status::StatusReport) {
    let dir = std::path::Path::new("m");
    let entries = (entries.iter())
        .map(|(name, bytes)| crate::files::Entry::File {
            path: dir.join(name),
            bytes: bytes.to_vec(),
        })
        .collect();
    let checked = crate::files::check(dir, entries, &Default::default());
    let set = &checked.set;
    let rows = (set.migrations.iter().chain(&set.duplicates))
        .filter(|m| applied(m))
        .map(row)
        .collect();
    let ledger = crate::ledger::Ledger {
        table: "t".into(),
        rows,
        started: Vec::new(),
    };
    let report = crate::status::report_checked(set, &checked.diagnostics, None, Some(&ledger), "t");
    (checked, report)
}

/// The help of the first diagnostic of `code` among `diagnostics`.
fn help_of(diagnostics: &[Diagnostic], code: &str) -> String {
    (diagnostics.iter())
        .find(|d| d.code == code)
        .and_then(|d| d.help.clone())
        .unwrap_or_else(|| panic!("no {code}: {diagnostics:?}"))
}

/// `migrate status`, which had read the ledger, gave C003 (two pairs of one version) the help
/// without a ledger when neither pair was applied: "renumber the one not applied anywhere yet
/// ...; the files alone do not tell which one ran: `migrate status` names it" — said by
/// `migrate status` itself. It now says that neither is applied here; one that is applied is
/// named as the one to leave; `lint`'s help is unchanged.
#[test]
fn status_says_whether_either_pair_of_a_duplicate_version_is_applied_here() {
    let sql: &[u8] = b"SELECT 1;\n";
    let entries = [
        ("001_a.up.sql", sql),
        ("001_a.down.sql", sql),
        ("002_b.up.sql", b"SELECT 2;\n".as_slice()),
        ("002_b.down.sql", sql),
        ("002_c.up.sql", b"SELECT 3;\n".as_slice()),
        ("002_c.down.sql", sql),
    ];
    let (checked, neither) = status_of(&entries, |m| m.version == 1);
    let lint = help_of(&checked.diagnostics, "C003");
    assert!(
        lint.contains("the files alone do not tell which one ran"),
        "{lint}"
    );
    let help = help_of(&neither.diagnostics, "C003");
    assert_eq!(
        help,
        "neither `002_b` nor `002_c` is applied here: renumber the one from the branch merged \
         last (rename both its files to the next free version, keeping its name), unless \
         another database applied it: there, renumber the other"
    );
    for applied in ["002_b", "002_c"] {
        let (_, one) = status_of(&entries, |m| m.id() == applied || m.version == 1);
        let help = help_of(&one.diagnostics, "C003");
        assert!(
            help.contains(&format!("of `{applied}`, which this database applied")),
            "{applied}: {help}"
        );
    }
}

/// `migrate status`, which had read the ledger, gave C014 (a byte-order mark) the help without
/// a ledger, "save it without a byte-order mark if it is not applied anywhere yet": on an up
/// file it now says whether the migration is applied here (then the mark is in its recorded
/// checksum: keep it); a down file's bytes are in no checksum, so its mark may always go, in
/// `lint` too.
#[test]
fn status_says_whether_a_file_with_a_byte_order_mark_is_applied_here() {
    let bom: &[u8] = b"\xef\xbb\xbfSELECT 1;\n";
    let sql: &[u8] = b"SELECT 1;\n";
    let entries = [
        ("001_a.up.sql", bom),
        ("001_a.down.sql", bom),
        ("002_b.up.sql", sql),
        ("002_b.down.sql", sql),
    ];
    let helps = |ds: &[Diagnostic]| -> Vec<String> {
        (ds.iter())
            .filter(|d| d.code == "C014")
            .map(|d| d.help.clone().unwrap_or_default())
            .collect()
    };
    let down = "save it without a byte-order mark: only the up file's bytes are in the checksum";
    let (checked, applied) = status_of(&entries, |_| true);
    assert_eq!(
        helps(&checked.diagnostics),
        [
            "save it without a byte-order mark if it is not applied anywhere yet (the checksum \
             covers the raw bytes)",
            down
        ]
    );
    assert_eq!(
        helps(&applied.diagnostics),
        [
            "keep the mark: `001_a` is applied here, and the checksum covers the raw bytes \
             (without it, this database would show it `modified`)",
            down
        ]
    );
    let (_, pending) = status_of(&entries, |_| false);
    assert_eq!(
        helps(&pending.diagnostics),
        [
            "`001_a` is not applied here: save it without a byte-order mark, unless another \
             database applied it (the checksum covers the raw bytes: there it would be \
             `modified`)",
            down
        ]
    );
}

/// C005 (the first migration after the first version) told `lint` and `migrate status` alike
/// to "renumber it to 001", though renumbering a migration some database applied makes it
/// `renumbered` there. `lint` now says to renumber it only if it is applied nowhere;
/// `migrate status`, which read the ledger, says whether it is applied here: then to keep its
/// number, else to renumber it unless another database applied it. Both keep the
/// `first_version` way out, naming the table the setting came from.
#[test]
fn status_says_whether_a_late_first_migration_is_applied_here() {
    let sql: &[u8] = b"SELECT 1;\n";
    let entries = [
        ("003_c.up.sql", sql),
        ("003_c.down.sql", sql),
        ("004_d.up.sql", b"SELECT 2;\n".as_slice()),
        ("004_d.down.sql", sql),
    ];
    let squashed = "if earlier migrations were squashed, set `first_version = 3` in \
                    `[workspace.metadata.confiture]` of the workspace's Cargo.toml";
    let (checked, applied) = status_of(&entries, |_| true);
    assert_eq!(
        help_of(&checked.diagnostics, "C005"),
        format!("renumber `003_c` to 001 only if it is not applied anywhere yet; {squashed}")
    );
    assert_eq!(
        help_of(&applied.diagnostics, "C005"),
        format!(
            "keep `003_c` at its number: it is applied here (renumbered, this database would \
             show it `renumbered` and `migrate up` refuse it); {squashed}, else restore them \
             from version control"
        )
    );
    let (_, pending) = status_of(&entries, |_| false);
    assert_eq!(
        help_of(&pending.diagnostics, "C005"),
        format!(
            "`003_c` is not applied here: renumber it to 001 unless another database applied \
             it (there it would be `renumbered`); {squashed}"
        )
    );
    // Where `first_version` was set, the table that set it is named.
    let (set, diagnostics) = (&checked.set, &checked.diagnostics);
    let ledger = crate::ledger::Ledger {
        table: "t".into(),
        rows: Vec::new(),
        started: Vec::new(),
    };
    let options = crate::files::CheckOptions::default()
        .first_version(Some(2))
        .first_version_from(Some(
            "`[package.metadata.confiture]` of the package's Cargo.toml",
        ));
    let report = crate::status::report_while(set, diagnostics, &options, Some(&ledger), "t", None);
    assert_eq!(
        help_of(&report.diagnostics, "C005"),
        "`003_c` is not applied here: renumber it to 002 unless another database applied it \
         (there it would be `renumbered`); if earlier migrations were squashed, change \
         `first_version` in `[package.metadata.confiture]` of the package's Cargo.toml"
    );
}

/// `up`'s refusal of files with errors, once the ledger is read (`--steps N`), said
/// "migrate up --target 002` stops before 003_c if it is not applied yet" whatever the ledger
/// held: with 003_c applied, or 002 applied already, that command does nothing. With the
/// history, the help says what holds here; before connecting, it keeps the condition.
#[test]
fn the_refusal_of_broken_files_says_what_stopping_before_them_does_here() {
    use crate::history::FileErrors;
    let dir = std::path::Path::new("m");
    let entries = ["001_a", "002_b", "003_c", "004_d"]
        .iter()
        .flat_map(|s| [format!("{s}.up.sql"), format!("{s}.down.sql")])
        .map(|f| {
            let sql: &[u8] = match f.as_str() {
                "003_c.up.sql" => b"CREATE INDEX CONCURRENTLY i ON t (a);\n",
                _ => b"SELECT 1;\n",
            };
            crate::files::Entry::File {
                path: dir.join(f),
                bytes: sql.to_vec(),
            }
        })
        .collect();
    let checked = crate::files::check(dir, entries, &Default::default());
    let errors = FileErrors::new(&checked.set, &checked.diagnostics);
    let stop = |v: &str| format!("migrate up --target {v}");
    let help = |applied: Option<&[u64]>| {
        let rows = applied.map(|a| rows(&checked.set, a)).unwrap_or_default();
        let history = History::of(&checked.set, &rows, None);
        let err = check_up_files(
            &checked.set,
            &errors,
            Some(4),
            Some(&stop),
            applied.map(|_| &history),
            Effect::Runs,
        )
        .expect_err("003_c has an error");
        err.help.unwrap_or_default()
    };
    let unknown = help(None);
    assert!(
        unknown.contains("migrate up --target 002` stops before 003_c if it is not applied yet"),
        "{unknown}"
    );
    let some_left = help(Some(&[1]));
    assert!(
        some_left.contains(
            "migrate up --target 002` applies what comes before 003_c, which is not applied here"
        ),
        "{some_left}"
    );
    let none_left = help(Some(&[1, 2]));
    assert!(
        none_left.contains("003_c is not applied here, and nothing before it is left to apply"),
        "{none_left}"
    );
    assert!(!none_left.contains("--target"), "{none_left}");
    let applied = help(Some(&[1, 2, 3]));
    assert!(applied.contains("003_c is applied here"), "{applied}");
    assert!(!applied.contains("--target"), "{applied}");
    for known in [&some_left, &none_left, &applied] {
        assert!(!known.contains("if it is not applied yet"), "{known}");
    }
}

/// A file that ran with CRLF and has LF (a Windows checkout applied it) was told its checkout
/// converted it, to check it out again (which changes nothing) and never to `reinit` it (the
/// way on): each direction of a line-ending change has its own help, beside an edit's.
#[test]
fn the_modified_help_tells_the_line_endings_directions_apart() {
    use crate::history::LineEndingChange::{ToCrlf, ToLf};
    let help = |changes: &[Option<crate::history::LineEndingChange>]| {
        modified_help(LineEndings::of(
            (changes.iter().enumerate()).map(|(i, c)| (format!("{:03}", i + 1), *c)),
        ))
    };
    let reinit = "`cargo confiture migrate reinit`";
    let to_crlf = help(&[Some(ToCrlf)]);
    assert!(to_crlf.contains("check it out again"), "{to_crlf}");
    assert!(!to_crlf.contains(reinit), "{to_crlf}");
    let to_lf = help(&[Some(ToLf), Some(ToLf)]);
    assert!(to_lf.contains("a new checkout changes nothing"), "{to_lf}");
    assert!(to_lf.contains(reinit), "{to_lf}");
    assert!(!to_lf.contains("check it out again"), "{to_lf}");
    assert!(!to_lf.contains("restore the modified files"), "{to_lf}");
    let all = help(&[None, Some(ToCrlf), Some(ToLf)]);
    for said in [
        "restore the modified files",
        "check it out again",
        "a new checkout changes nothing",
    ] {
        assert!(all.contains(said), "{said}: {all}");
    }
    assert_eq!(
        help(&[None]),
        modified_help(LineEndings::of([("001".to_string(), None)]))
    );
    // Lone CRs: the way on of the line endings the file has now, as CRLF's.
    use crate::history::LineEndingChange::{ToCr, ToLfFromCr};
    assert_eq!(help(&[Some(ToLfFromCr), Some(ToLfFromCr)]), to_lf);
    assert_eq!(help(&[Some(ToCr)]), to_crlf);
}

/// A file that differs only by line endings beside one with real edits was told
/// "`migrate reinit` records the file as applied without running it (nothing that runs
/// changed)", never which file — and `reinit` records both. Each part of the help names its
/// own files, and the line endings' part asks for the edited ones to be restored first.
#[test]
fn the_modified_help_names_which_files_differ_only_by_line_endings() {
    use crate::history::LineEndingChange::{ToCrlf, ToLf};
    let of = |changes: &[(&str, Option<crate::history::LineEndingChange>)]| {
        modified_help(LineEndings::of(
            (changes.iter()).map(|(v, c)| (v.to_string(), *c)),
        ))
    };
    let mixed = of(&[("002", Some(ToLf)), ("003", None)]);
    assert!(
        mixed.contains("002 differs only by line endings"),
        "{mixed}"
    );
    assert!(
        mixed.contains("restore the modified files of 003"),
        "{mixed}"
    );
    assert!(!mixed.contains("nothing that runs changed"), "{mixed}");
    assert!(mixed.contains("003's edits too"), "{mixed}");
    assert!(mixed.contains("restore 003 first, then"), "{mixed}");
    // Alone, the line endings' way on is `reinit`, as before.
    let alone = of(&[("002", Some(ToLf))]);
    assert!(
        alone.contains("002 differs only by line endings"),
        "{alone}"
    );
    assert!(alone.contains("nothing that runs changed"), "{alone}");
    let crlf = of(&[("004", Some(ToCrlf)), ("005", Some(ToCrlf)), ("003", None)]);
    assert!(
        crlf.contains("004, 005 differ only by line endings"),
        "{crlf}"
    );
}

/// confiture (Python)'s `migrate squash --through 003` directory: its baseline 004 (the
/// `squashed-baseline` header, a down file that raises: irreversible), then `more`.
fn squashed_by_python(more: &[u64]) -> MigrationSet {
    let mut baseline = migration(4, "squashed_baseline");
    baseline.up = file(
        "m/004_squashed_baseline.up.sql".into(),
        "-- confiture:squashed-baseline through=003 versions=3 digest=8ff6\nCREATE TABLE t (id int);\n",
        false,
    );
    baseline.down.irreversible = true;
    let mut s = set(more);
    s.migrations.insert(0, baseline);
    s
}

/// A ledger row of version `version` (`001`) with no file: applied before `migrate squash`.
fn squashed_row(version: &str, archived_into: Option<&str>) -> LedgerRow {
    LedgerRow {
        version: version.into(),
        name: format!("t{version}"),
        applied_at: "2026-01-15T10:00:00+00:00".into(),
        execution_time_ms: Some(1),
        checksum: Some(checksum(version.as_bytes())),
        applied_by: Some("postgres".into()),
        slug: None,
        archived_into: archived_into.map(Into::into),
    }
}

/// hsq 1: with 001-003 applied but confiture (Python)'s squashed baseline 004 not yet recorded,
/// `down --target 3` exited 8 (refused before connecting) although it rolls nothing back. A
/// target below the baseline is decided by the ledger: nothing to do when no recorded row lies
/// between it and the baseline (exit 0, as for any target at or above the current version);
/// refused (exit 8, `--yes` or not) when the baseline or a version squashed into it would be
/// rolled back.
#[test]
fn a_target_below_an_unrecorded_squashed_baseline_is_decided_by_the_ledger() {
    let s = squashed_by_python(&[5]);
    let below: Vec<LedgerRow> = ["001", "002", "003"]
        .iter()
        .map(|v| squashed_row(v, None))
        .collect();
    let mut archived: Vec<LedgerRow> = ["001", "002", "003"]
        .iter()
        .map(|v| squashed_row(v, Some("004")))
        .collect();
    archived.push(row(&s.migrations[0]));
    let ask = |rows: &[LedgerRow], target: &str, yes: bool, setting: Option<u64>| {
        let request = DownRequest {
            target: Some(target.parse().unwrap()),
            yes,
            first_version: setting,
            ..Default::default()
        };
        check_down_request(&s, &request)?;
        down(&s, rows, &request).map(|plan| rolled(&plan))
    };
    for setting in [None, Some(4)] {
        for yes in [false, true] {
            // Nothing above 3 is recorded: nothing to roll back.
            for target in ["3", "003"] {
                assert_eq!(ask(&below, target, yes, setting).unwrap(), [0u64; 0]);
                assert_eq!(ask(&[], target, yes, setting).unwrap(), [0u64; 0]);
            }
            assert_eq!(ask(&[], "0", yes, setting).unwrap(), [0u64; 0]);
            // Crossing a squashed version or the baseline: refused, naming the baseline.
            let crossing = [
                (&below, "2"),
                (&below, "0"),
                (&archived, "3"),
                (&archived, "003"),
                (&archived, "0"),
            ];
            for (rows, target) in crossing {
                let err = ask(rows, target, yes, setting).unwrap_err();
                assert_eq!(err.kind, ErrorKind::Irreversible, "{target}: {err}");
                assert!(err.message.contains("004_squashed_baseline"), "{err}");
                assert!(err.message.contains("through 003"), "{err}");
                // hwd 1: the baseline's help alone says what is archived (only once
                // confiture (Python) records it), never its `irreversible:` line.
                for said in &err.details {
                    assert!(!said.contains("archived"), "{target}: {said}");
                }
            }
        }
    }
    // 005 applied (out of order) above an unrecorded baseline: `--target 3` rolls it back.
    let mut ahead = below.clone();
    ahead.push(row(&s.migrations[1]));
    assert_eq!(ask(&ahead, "3", false, None).unwrap(), [5]);
}

/// hsq 2: confiture (Python)'s squashed baseline got the generic help of an irreversible
/// migration ("undo its effect with a new migration"), as if it had a change to undo. Every
/// refusal to roll it back says what it is instead: the versions before it archived into it,
/// and what is left — a backup, or rolling forward.
#[test]
fn the_squashed_baseline_has_its_own_help_when_refused() {
    let s = squashed_by_python(&[5]);
    let mut r: Vec<LedgerRow> = ["001", "002", "003"]
        .iter()
        .map(|v| squashed_row(v, Some("004")))
        .collect();
    r.extend(rows(&s, &[4, 5]));
    let requests = [
        DownRequest {
            steps: Some(2),
            ..Default::default()
        },
        DownRequest {
            steps: Some(10),
            ..Default::default()
        },
        DownRequest {
            target: Some(Version::from(3)),
            ..Default::default()
        },
    ];
    for request in requests {
        let err = down(&s, &r[..], &request).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Irreversible, "{request:?}: {err}");
        let help = err.help.unwrap_or_default();
        assert!(!help.contains("undo its effect"), "{request:?}: {help}");
        assert!(
            help.contains("004_squashed_baseline is confiture (Python)'s squashed baseline"),
            "{help}"
        );
        assert!(help.contains("archived into it"), "{help}");
        assert!(
            help.contains("restore the database from a backup"),
            "{help}"
        );
        assert!(help.contains("roll forward"), "{help}");
        assert!(help.contains("--target 004"), "{request:?}: {help}");
    }
    // A plain irreversible migration keeps its own help, beside the baseline's.
    let mut s = s;
    s.migrations[1].down.irreversible = true;
    let err = down(&s, &r[..], &DownRequest::default()).unwrap_err();
    let help = err.help.unwrap_or_default();
    assert!(help.contains("undo its effect"), "{help}");
    assert!(!help.contains("squashed baseline"), "{help}");
}

/// hsq 3: `--steps N` beyond the applied migrations asked for `--yes` (exit 64) and suggested
/// `--target 0 --yes`, which crosses an irreversible migration: only the squashed baseline got
/// a word about it. A step count that reaches any irreversible migration is refused for it
/// (exit 8, the rule `--target` has), naming it and the rollback that still works, `--yes` or
/// not.
#[test]
fn steps_beyond_the_applied_migrations_stop_at_an_irreversible_one() {
    let mut s = set(&[1, 2, 3, 4]);
    let r = rows(&s, &[1, 2, 3, 4]);
    s.migrations[1].down.irreversible = true;
    let target = down(
        &s,
        &r,
        &DownRequest {
            target: Some(Version::from(1)),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(target.kind, ErrorKind::Irreversible);
    for steps in [3, 4, 5, 10] {
        for yes in [false, true] {
            let request = DownRequest {
                steps: Some(steps),
                yes,
                ..Default::default()
            };
            let err = down(&s, &r, &request).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Irreversible, "{steps} {yes}: {err}");
            assert!(err.details[0].contains("002_m2"), "{:?}", err.details);
            let help = err.help.unwrap_or_default();
            assert!(
                help.contains(
                    "`cargo confiture migrate down --target 002` (or `cargo confiture migrate \
                     down --steps 2`) rolls back the 2 migrations applied after 002_m2"
                ),
                "{steps}: {help}"
            );
            assert!(!help.contains("--target 0 --yes"), "{help}");
        }
    }
    // Short of it, nothing changes.
    let two = DownRequest {
        steps: Some(2),
        ..Default::default()
    };
    assert_eq!(rolled(&down(&s, &r, &two).unwrap()), [4, 3]);
}

/// hrb F1: the rollback of a no-transaction 002 left part-way, then a newer 003 recorded over
/// it (`baseline --through 003`, or confiture (Python)'s `migrate up`, which knows no marker).
/// `down` rolls back the newest first: plain, `--rerun-interrupted` and their dry runs rolled
/// back 003 (dropping its table and data) and left 002 half rolled back — the very command
/// `status` suggested. Any `down` that rolls back rows above the half rollback without it is
/// refused (exit 7), whatever the rows' kind; one that reaches it with `--rerun-interrupted`
/// (the help's `--steps 2`) runs; and no rewrite records a row above it.
#[test]
fn a_rollback_left_part_way_under_newer_rows_is_never_skipped_by_down() {
    let mut s = set(&[1, 2, 3, 4]);
    let m2 = &mut s.migrations[1];
    for f in [&mut m2.up, &mut m2.down] {
        *f = SqlFile::new(
            crate::display::path_text(&f.path).to_string(),
            "-- confiture:no-transaction\nSELECT 1;\nSELECT 2;\n",
            TransactionMode::NoTransaction,
            false,
        );
    }
    let marker = crate::ledger::StartedRun {
        version: "002".to_string(),
        name: "m2".to_string(),
        direction: "down".to_string(),
        checksum: s.migrations[1].up.checksum.clone(),
        started_at: "2026-12-06T17:00:00+00:00".to_string(),
        started_by: "app".to_string(),
        client_addr: None,
        statement: 2,
        statements: 2,
        failed: false,
        stopped_after: false,
        earlier_committed: 0,
        earlier_unsure: None,
        session_only: Vec::new(),
    };
    let markers = [marker];
    let refused = |r: &[LedgerRow], request: &DownRequest, rerun: bool| {
        let plan = down(&s, r, request).unwrap();
        check_down_interrupted(&s, r, &markers, request, &plan, rerun).err()
    };
    let one = DownRequest::default();
    let steps = |n| DownRequest {
        steps: Some(n),
        ..Default::default()
    };
    // Rows above it as `up` writes them, as `baseline` writes them (placed by version), several.
    let mut baselined = rows(&s, &[1, 2]);
    baselined.push(written(&s, &[(3, "_baseline")]).remove(0));
    for (r, above, count) in [
        (rows(&s, &[1, 2, 3]), "003_m3", 2),
        (baselined, "003_m3", 2),
        (rows(&s, &[1, 2, 3, 4]), "003_m3, 004_m4", 3),
    ] {
        for rerun in [false, true] {
            let err = refused(&r, &one, rerun).expect("refused");
            assert_eq!(err.kind, ErrorKind::Diverged, "{err}");
            assert!(err.message.contains(&format!("{above} ")), "{err}");
            let help = err.help.unwrap_or_default();
            assert!(
                help.contains(&format!(
                    "`cargo confiture migrate down --steps {count} --rerun-interrupted`"
                )),
                "{help}"
            );
            assert!(
                help.contains("`cargo confiture migrate abandon 002`"),
                "{help}"
            );
        }
        // Reaching it, on purpose, runs; without `--rerun-interrupted`, as before, refused.
        assert!(refused(&r, &steps(count), true).is_none());
        assert!(refused(&r, &steps(count), false).is_some());
    }
    // No rewrite records a row above it; one that records nothing above it goes on.
    let two = rows(&s, &[1, 2]);
    let history = History::of(&s, &two, None);
    let plan = baseline(&s, &two, &Version::from(3)).unwrap();
    let err = check_rewrite_interrupted(&history, &markers, &plan.rewrite(), ("baseline", "x"))
        .unwrap_err();
    assert!(
        err.details
            .iter()
            .any(|d| d.contains("record version 003 above it")),
        "{err:?}"
    );
    let plan = baseline(&s, &two, &Version::from(2)).unwrap();
    check_rewrite_interrupted(&history, &markers, &plan.rewrite(), ("baseline", "x")).unwrap();
    // With nothing above it, the rollback's own `--rerun-interrupted` finishes it.
    assert!(refused(&two, &one, true).is_none());
}

/// hdx2: the statements a run left part-way committed, as a rerun's help names them: `file:line`
/// and their first words, never a statement that changes only the session, never a string (a
/// password) or a comment; and what a marker says committed for sure.
#[test]
fn the_committed_statements_a_rerun_runs_again_are_named_by_place_and_first_words() {
    let file = SqlFile::new(
        "db/migrations/001_t.up.sql",
        "-- confiture:no-transaction\nSET lock_timeout = '1s';\nCREATE TABLE t (id int, \
         name text, other int);\nCREATE ROLE r PASSWORD 'secret';\nCREATE INDEX CONCURRENTLY \
         i ON t (id);\n",
        TransactionMode::NoTransaction,
        false,
    );
    let named = super::committed_statements(&file, 3);
    assert_eq!(
        named,
        [
            "db/migrations/001_t.up.sql:3 `CREATE TABLE t (id int, …`",
            "db/migrations/001_t.up.sql:4 `CREATE ROLE r PASSWORD …`",
        ]
    );
    assert!(super::committed_run_again(&[]).is_none());
    let again = super::committed_run_again(&named).expect("a note");
    assert!(
        again.contains("IF NOT EXISTS") && !again.contains("secret"),
        "{again}"
    );
    let mut marker = crate::ledger::StartedRun {
        version: "001".to_string(),
        name: "t".to_string(),
        direction: "up".to_string(),
        checksum: file.checksum.clone(),
        started_at: "2026-12-06T17:00:00+00:00".to_string(),
        started_by: "app".to_string(),
        client_addr: None,
        statement: 4,
        statements: 4,
        failed: true,
        stopped_after: false,
        earlier_committed: 0,
        earlier_unsure: None,
        session_only: Vec::new(),
    };
    assert_eq!(marker.surely_committed(), 3);
    assert_eq!(super::committed_statements_of(&marker, &file).len(), 2);
    (marker.failed, marker.stopped_after, marker.statement) = (false, true, 2);
    assert_eq!(marker.surely_committed(), 2);
    marker.earlier_committed = 3;
    assert_eq!(marker.surely_committed(), 3);
}

/// hrh 3: a checkout of 001–003 (002 modified) against a database with 001–009 applied: the
/// help said to leave 004–009 as they are ("neither rolling them back nor forgetting their
/// rows"), then that `reinit` forgets their rows if they were removed on purpose — but
/// `reinit` keeps the rows above the newest file (`newer_rows`). The help of missing rows is
/// for the rows `reinit` forgets alone, never for a newer release's; beside them, a row
/// missing below the newest file keeps its own.
#[test]
fn up_never_says_reinit_forgets_the_rows_above_the_newest_file() {
    let all = set(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let mut r = rows(&all, &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    r[1].checksum = Some("0".repeat(64));
    let s = set(&[1, 2, 3]);
    let help = up(&s, &r, &UpRequest::default()).unwrap_err().help.unwrap();
    assert!(!help.contains("forgets their rows"), "{help}");
    assert!(!help.contains("restore the missing files"), "{help}");
    // reinit keeps them, as the help says of them.
    let plan = reinit(&s, &r, None, None).unwrap();
    assert!(plan.with(ReinitAction::Forget).next().is_none());
    // A row missing below the newest file: its own help stays, after the newer release's.
    let gap = set(&[1, 3]);
    let help = up(&gap, &rows(&all, &[1, 2, 3, 4]), &UpRequest::default())
        .unwrap_err()
        .help
        .unwrap();
    assert!(help.contains("restore the missing files"), "{help}");
}

/// An apply's start marker is out of date (`superseded_markers`) only when a row records its
/// migration, written at or after the marker, and the run left nothing that keeps it
/// interrupted: not a rollback's marker, not another migration's, not under a row dated before
/// it (written by hand: no proof of a run after ours), not while its index is INVALID, not
/// without a row (the migration pending: the marker is live).
#[test]
fn only_an_apply_marker_a_later_row_recorded_over_is_superseded() {
    let mut s = set(&[1, 2]);
    let m2 = &mut s.migrations[1];
    for f in [&mut m2.up, &mut m2.down] {
        *f = SqlFile::new(
            f.path.display().to_string(),
            "-- confiture:no-transaction\nSELECT 1;\n",
            TransactionMode::NoTransaction,
            false,
        );
    }
    let marker = |direction: &str, name: &str, started_at: &str| {
        let checksum = if name == "m2" {
            s.migrations[1].up.checksum.clone()
        } else {
            "0".repeat(64)
        };
        crate::ledger::StartedRun::for_test("002", name, direction, &checksum, started_at)
    };
    let mut applied = rows(&s, &[1, 2]);
    applied[1].applied_at = "2026-12-06T17:00:05+00:00".to_string();
    let pending = rows(&s, &[1]);
    let (before, same, after) = (
        "2026-12-06T17:00:00+00:00",
        "2026-12-06T17:00:05+00:00",
        "2026-12-06T17:00:09+00:00",
    );
    let invalid = [(
        "002".to_string(),
        LeftBehind::InvalidIndex("public.i".to_string()),
    )];
    for (r, m, left, superseded) in [
        (&applied, marker("up", "m2", before), &[][..], true),
        (&applied, marker("up", "m2", same), &[][..], true),
        (&applied, marker("up", "m2", after), &[][..], false),
        (&applied, marker("up", "m2", before), &invalid[..], false),
        (&applied, marker("down", "m2", before), &[][..], false),
        (&applied, marker("up", "other", before), &[][..], false),
        (&pending, marker("up", "m2", before), &[][..], false),
    ] {
        let history = History::of(&s, r, None);
        let markers = [m];
        let found = superseded_markers(&history, &markers, left);
        assert_eq!(found.len(), superseded as usize, "{markers:?} {left:?}");
    }
}
