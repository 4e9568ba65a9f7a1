//! One rule matches ledger rows to files (`confiture::history`), and every command follows it:
//! `status`, `up`, `down`, `reinit` agree on a squashed history, on rows whose version is spelled
//! differently from the file (`0002` for `002_b`), on checksums written in another case or with
//! trailing spaces, on two rows for one version and on versions that are not numbers. Whatever
//! deletes or rewrites a row addresses the row it matched, never one re-derived from a file name.

use crate::apply_support;

use apply_support::{environment, rows, Dir, TestDb};
use confiture::files::{checksum, CheckOptions};
use confiture::migrate::{no_progress, BaselineOptions, DownOptions, ReinitOptions, UpOptions};
use confiture::{exit, ErrorKind, Migrator};

fn migrator(db: &TestDb, dir: &Dir, first_version: Option<u64>) -> Migrator {
    Migrator::new(
        environment(&db.name),
        dir.path.clone(),
        CheckOptions::default().first_version(first_version),
    )
}

fn table(dir: &Dir, version: &str, name: &str) {
    dir.migration(
        version,
        name,
        &format!("CREATE TABLE {name} (id int);\n"),
        &format!("DROP TABLE {name};\n"),
    );
}

/// A database named after `name` with `001_t1` and `002_t2` applied, and their directory.
fn two_applied(name: &str) -> (TestDb, Dir) {
    let db = TestDb::new(name);
    let dir = Dir::new();
    table(&dir, "001", "t1");
    table(&dir, "002", "t2");
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .expect("up");
    (db, dir)
}

/// `version:status` of each migration of `migrate status --format json`.
fn states(m: &mut Migrator) -> (Vec<String>, u8, serde_json::Value) {
    let report = m.status().expect("status");
    let json = serde_json::to_value(&report).expect("status serialises");
    let states = json["migrations"]
        .as_array()
        .expect("migrations[]")
        .iter()
        .map(|m| {
            format!(
                "{}:{}",
                m["version"].as_str().unwrap_or("?"),
                m["status"].as_str().unwrap_or("?")
            )
        })
        .collect();
    (states, report.exit_code(), json)
}

fn insert_row(db: &TestDb, version: &str, name: &str, checksum_sql: &str, applied_at: &str) {
    db.client()
        .batch_execute(&format!(
            "INSERT INTO tb_confiture (slug, version, name, applied_at, execution_time_ms, checksum, applied_by) \
             VALUES ('{name}_{version}_old', '{version}', '{name}', '{applied_at}', 7, {checksum_sql}, current_user)"
        ))
        .expect("insert a ledger row");
}

#[test]
fn a_squashed_history_is_squashed_in_status_and_up_to_date_for_up() {
    let db = TestDb::new("squashed");
    let dir = Dir::new();
    table(&dir, "003", "t3");
    table(&dir, "004", "t4");
    migrator(&db, &dir, Some(3))
        .up(&UpOptions::default(), &mut no_progress)
        .expect("up");
    // The rows of the migrations squashed into 003, applied long ago.
    insert_row(&db, "001", "old_one", "NULL", "2020-01-01T00:00:00Z");
    insert_row(&db, "002", "old_two", "'abc'", "2020-01-02T00:00:00Z");

    let (states_now, code, json) = states(&mut migrator(&db, &dir, Some(3)));
    assert_eq!(
        states_now,
        ["001:squashed", "002:squashed", "003:applied", "004:applied"],
        "{json}"
    );
    assert_eq!(code, exit::SUCCESS, "{json}");
    assert_eq!(json["missing"], serde_json::json!([]), "{json}");
    assert_eq!(
        json["squashed"],
        serde_json::json!(["001", "002"]),
        "{json}"
    );
    assert_eq!(json["summary"]["squashed"], 2, "{json}");

    let up = migrator(&db, &dir, Some(3))
        .up(&UpOptions::default(), &mut no_progress)
        .expect("up agrees with status");
    assert!(up.applied.is_empty());

    // Without `first_version` the files starting at 003 are an error (C005), and the rows
    // below are missing: both commands say so with the same exit code.
    let (states_now, code, json) = states(&mut migrator(&db, &dir, None));
    assert_eq!(
        states_now,
        ["001:missing", "002:missing", "003:applied", "004:applied"]
    );
    assert_eq!(json["migrations"][2]["invalid"], true, "{json}");
    assert_eq!(code, exit::INVALID);
    let err = migrator(&db, &dir, None)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.exit_code(), code);

    // Rolling back into the squashed history is refused before anything runs: those rows
    // have no down file. (`--target 0 --yes` rolls back to the snapshot: the rows stay.)
    let failed = migrator(&db, &dir, Some(3))
        .down(
            &DownOptions::default().steps(Some(3)).yes(true),
            &mut no_progress,
        )
        .unwrap_err();
    assert_eq!(
        failed.error.kind,
        ErrorKind::Irreversible,
        "{}",
        failed.error
    );
    assert!(
        failed
            .error
            .details
            .iter()
            .any(|d| d.contains("002_old_two")),
        "{:?}",
        failed.error.details
    );
    assert_eq!(db.ledger().len(), 4);
    assert!(db.table_exists("t4"));
}

#[test]
fn down_after_renaming_versions_deletes_the_row_it_matched() {
    let db = TestDb::new("renamed");
    let dir = Dir::new();
    table(&dir, "0001", "a");
    table(&dir, "0002", "b");
    // A no-transaction migration writes its ledger row on its own: the same rule holds.
    dir.migration(
        "0003",
        "c",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY c_idx ON b (id);\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY c_idx;\n",
    );
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .expect("up");
    assert_eq!(db.ledger(), ["0001:a", "0002:b", "0003:c"]);

    // C011 suggests exactly this rename.
    for (from, to) in [
        ("0001_a", "001_a"),
        ("0002_b", "002_b"),
        ("0003_c", "003_c"),
    ] {
        for kind in ["up", "down"] {
            std::fs::rename(
                dir.file(&format!("{from}.{kind}.sql")),
                dir.file(&format!("{to}.{kind}.sql")),
            )
            .expect("rename");
        }
    }
    let (states_now, code, _) = states(&mut db.migrator(&dir));
    assert_eq!(states_now, ["001:applied", "002:applied", "003:applied"]);
    assert_eq!(code, exit::SUCCESS);

    let r = db
        .migrator(&dir)
        .down(&DownOptions::default().steps(Some(2)), &mut no_progress)
        .expect("down");
    assert_eq!(r.rolled_back, ["003", "002"]);
    assert!(!db.table_exists("b") && !db.table_exists("c_idx"));
    assert_eq!(db.ledger(), ["0001:a"], "the matched rows are deleted");

    let (states_now, code, _) = states(&mut db.migrator(&dir));
    assert_eq!(states_now, ["001:applied", "002:pending", "003:pending"]);
    assert_eq!(code, exit::PENDING);

    let up = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .expect("up reapplies");
    assert_eq!(up.applied, ["002", "003"]);
    assert!(db.table_exists("b") && db.table_exists("c_idx"));
    assert_eq!(db.ledger(), ["0001:a", "002:b", "003:c"]);

    // reinit aligns the old row with the file's spelling, in place.
    let r = db
        .migrator(&dir)
        .reinit(&ReinitOptions::default(), &mut no_progress)
        .expect("reinit");
    assert_eq!(
        (r.accepted.clone(), r.deleted_count),
        (vec!["001".to_string()], 0)
    );
    assert_eq!(db.ledger(), ["001:a", "002:b", "003:c"]);

    // Everything, the renamed row included.
    db.migrator(&dir)
        .down(
            &DownOptions::default().target(Some(0)).yes(true),
            &mut no_progress,
        )
        .expect("down everything");
    assert!(db.ledger().is_empty(), "{:?}", db.ledger());
    assert!(!db.table_exists("a"));
}

#[test]
fn checksums_padded_or_in_upper_case_are_modified_in_status_up_and_down() {
    let (db, dir) = two_applied("checksumcase");
    // A ledger kept by another tool: a `char(72)` column pads every checksum with spaces,
    // another text than the digest, which confiture (Python)'s `verify-checksums` compares
    // exactly: modified, for every command.
    db.client()
        .batch_execute("ALTER TABLE tb_confiture ALTER COLUMN checksum TYPE char(72)")
        .expect("rewrite checksums");
    let (states_now, code, json) = states(&mut db.migrator(&dir));
    assert_eq!(states_now, ["001:modified", "002:modified"], "{json}");
    assert_eq!(code, exit::DIVERGED);
    let err = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.kind, ErrorKind::Diverged);
    assert!(
        err.to_string().contains("varchar(64)") || format!("{err:?}").contains("varchar(64)"),
        "{err:?}"
    );
    let err = db
        .migrator(&dir)
        .down(&DownOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.kind, ErrorKind::Diverged);
    // The column as confiture creates it: the cast drops a `char(n)`'s padding.
    db.client()
        .batch_execute("ALTER TABLE tb_confiture ALTER COLUMN checksum TYPE varchar(64)")
        .expect("rewrite checksums");
    let (states_now, code, json) = states(&mut db.migrator(&dir));
    assert_eq!(states_now, ["001:applied", "002:applied"], "{json}");
    assert_eq!(code, exit::SUCCESS);
    // In upper case it is another text than the lower-case digest the contract records, which
    // confiture (Python)'s `verify-checksums` calls a mismatch: modified, for us too.
    db.client()
        .batch_execute("UPDATE tb_confiture SET checksum = upper(checksum) WHERE version = '001'")
        .expect("upper-case checksum");
    let (states_now, code, json) = states(&mut db.migrator(&dir));
    assert_eq!(states_now, ["001:modified", "002:applied"], "{json}");
    assert_eq!(code, exit::DIVERGED);
    db.client()
        .batch_execute("UPDATE tb_confiture SET checksum = lower(checksum) WHERE version = '001'")
        .expect("lower-case checksum");
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .expect("up agrees");
    let r = db
        .migrator(&dir)
        .down(&DownOptions::default(), &mut no_progress)
        .expect("down agrees");
    assert_eq!(r.rolled_back, ["002"]);

    // A different digest is modified for every command.
    db.client()
        .batch_execute(&format!(
            "UPDATE tb_confiture SET checksum = '{}' WHERE version = '001'",
            checksum(b"something else").to_uppercase()
        ))
        .expect("rewrite checksum");
    let (states_now, code, _) = states(&mut db.migrator(&dir));
    assert_eq!(states_now, ["001:modified", "002:pending"]);
    assert_eq!(code, exit::DIVERGED);
    let err = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.kind, ErrorKind::Diverged);
    let err = db
        .migrator(&dir)
        .down(&DownOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.kind, ErrorKind::Diverged);
}

#[test]
fn two_rows_for_one_version_are_refused_alike_and_down_never_leaves_one_behind() {
    let (db, dir) = two_applied("tworows");
    // confiture (Python) compares versions as strings: after a rename it records `2` again.
    // Here the second row is the newest; below, the oldest.
    let sum = checksum(b"CREATE TABLE t2 (id int);\n");
    insert_row(&db, "2", "t2", &format!("'{sum}'"), "2030-01-01T00:00:00Z");

    let (states_now, code, json) = states(&mut db.migrator(&dir));
    assert_eq!(
        states_now,
        ["001:applied", "002:applied", "2:duplicate"],
        "{json}"
    );
    assert_eq!(code, exit::DIVERGED);
    assert_eq!(json["duplicate"], serde_json::json!(["2"]), "{json}");
    let err = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.kind, ErrorKind::Diverged);
    assert!(
        err.details
            .iter()
            .any(|d| d.contains("002_t2") && d.contains('2')),
        "{:?}",
        err.details
    );
    // Rolling 002 back would leave a row saying it is applied: refused.
    let err = db
        .migrator(&dir)
        .down(&DownOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.kind, ErrorKind::Diverged);
    assert_eq!(db.ledger().len(), 3);
    assert!(db.table_exists("t2"));

    // The extra row applied first (the row `002` written again after it): `down` picks the
    // row `002` (the newest), and deleting only that one would leave `2` saying 002 is applied
    // once its table is gone.
    db.client()
        .batch_execute(
            "WITH gone AS (DELETE FROM tb_confiture WHERE version = '002' RETURNING slug, \
             version, name, applied_at, execution_time_ms, checksum, applied_by) \
             INSERT INTO tb_confiture (slug, version, name, applied_at, execution_time_ms, \
             checksum, applied_by) SELECT * FROM gone",
        )
        .expect("write the row 002 after the extra row");
    let (states_now, code, _) = states(&mut db.migrator(&dir));
    assert_eq!(states_now, ["001:applied", "002:applied", "2:duplicate"]);
    assert_eq!(code, exit::DIVERGED);
    let err = db
        .migrator(&dir)
        .down(&DownOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.kind, ErrorKind::Diverged, "{err}");
    assert_eq!(db.ledger().len(), 3);
    assert!(db.table_exists("t2"));

    // reinit keeps one row per migration: the one its file matched (spelled like the file).
    let r = db
        .migrator(&dir)
        .reinit(&ReinitOptions::default(), &mut no_progress)
        .expect("reinit");
    assert_eq!(r.forgotten, ["2"]);
    assert_eq!(db.ledger(), ["001:t1", "002:t2"]);
    let (states_now, code, _) = states(&mut db.migrator(&dir));
    assert_eq!(states_now, ["001:applied", "002:applied"]);
    assert_eq!(code, exit::SUCCESS);
    db.migrator(&dir)
        .down(&DownOptions::default(), &mut no_progress)
        .expect("down");
    assert_eq!(db.ledger(), ["001:t1"]);
    assert!(!db.table_exists("t2"));
}

/// `down` rolls back in the order the rows were written — `pk_confiture`, an identity that
/// every writer (confiture's Python tool included) takes under the migration lock — never in a
/// wall clock's: a clock stepped back (a failover to a standby whose clock lags, an NTP step)
/// or an edited `applied_at` made it roll back the first migration, under the ones applied on
/// top of it, and report success.
#[test]
fn down_rolls_back_in_the_order_rows_were_written_whatever_their_applied_at() {
    let db = TestDb::new("pkorder");
    let dir = Dir::new();
    table(&dir, "001", "t1");
    table(&dir, "002", "t2");
    table(&dir, "003", "t3");
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .expect("up");
    // By `applied_at` the order is now 003, 002, 001: the reverse of the real one.
    db.client()
        .batch_execute(
            "UPDATE tb_confiture SET applied_at = applied_at + interval '1 day' WHERE version = '001'; \
             UPDATE tb_confiture SET applied_at = applied_at - interval '1 day' WHERE version = '003'",
        )
        .expect("step the clocks");
    let planned = |options: DownOptions| -> Vec<String> {
        let report = db
            .migrator(&dir)
            .down(&options.dry_run(true).yes(true), &mut no_progress)
            .unwrap_or_else(|f| panic!("down --dry-run: {}", f.error));
        report
            .migrations
            .iter()
            .map(|m| m.version.clone())
            .collect()
    };
    assert_eq!(planned(DownOptions::default()), ["003"]);
    assert_eq!(
        planned(DownOptions::default().steps(Some(2))),
        ["003", "002"]
    );
    assert_eq!(
        planned(DownOptions::default().target(Some(1))),
        ["003", "002"]
    );
    assert_eq!(
        planned(DownOptions::default().target(Some(0))),
        ["003", "002", "001"]
    );

    let report = db
        .migrator(&dir)
        .down(&DownOptions::default(), &mut no_progress)
        .unwrap_or_else(|f| panic!("down: {}", f.error));
    assert_eq!(report.rolled_back, ["003"]);
    assert!(!db.table_exists("t3") && db.table_exists("t1"));
    let (states_now, code, _) = states(&mut db.migrator(&dir));
    assert_eq!(states_now, ["001:applied", "002:applied", "003:pending"]);
    assert_eq!(code, exit::PENDING);
}

/// A ledger whose `applied_at` is `timestamp` (without time zone: hand-made or altered) holds
/// the wall clock of the session that wrote it, in its `TimeZone`: read as if it were UTC,
/// `status` showed a time off by twice the zone's offset (in the future east of Greenwich).
/// Either column type reads as the instant the row was written, whatever the zone.
#[test]
fn applied_at_is_the_instant_the_row_was_written_in_either_column_type_and_any_zone() {
    let utc_now = "SELECT to_char(date_trunc('second', clock_timestamp()) AT TIME ZONE 'UTC', \
                   'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"')";
    for zone in ["Asia/Tokyo", "America/New_York"] {
        for column in ["TIMESTAMPTZ", "TIMESTAMP"] {
            let db = TestDb::new("zone");
            let dir = Dir::new();
            table(&dir, "001", "t1");
            let ddl = crate::common::CONFITURE_DDL
                .replace("applied_at TIMESTAMPTZ", &format!("applied_at {column}"));
            db.client()
                .batch_execute(&format!(
                    "ALTER DATABASE \"{}\" SET timezone = '{zone}'; {ddl}",
                    db.name
                ))
                .expect("a ledger in a database of another time zone");
            let before = db.value(utc_now).expect("the server's time");
            db.migrator(&dir)
                .up(&UpOptions::default(), &mut no_progress)
                .expect("up");
            let after = db.value(utc_now).expect("the server's time");
            let (_, _, json) = states(&mut db.migrator(&dir));
            let shown = json["migrations"][0]["applied_at"]
                .as_str()
                .unwrap_or_else(|| panic!("{zone}, {column}: {json}"))
                .to_string();
            assert!(
                before <= shown && shown <= after,
                "{zone}, applied_at {column}: {shown} is not between {before} and {after}"
            );
        }
    }
}

/// The versions a dry run of `down` with `options` would roll back, in its order.
fn planned(db: &TestDb, dir: &Dir, options: DownOptions) -> Vec<String> {
    let report = db
        .migrator(dir)
        .down(&options.dry_run(true).yes(true), &mut no_progress)
        .unwrap_or_else(|f| panic!("down --dry-run: {}", f.error));
    report
        .migrations
        .iter()
        .map(|m| m.version.clone())
        .collect()
}

/// Writes the row of 002 again, without running it.
type WriteRow = dyn Fn(&TestDb, &Dir);

/// A row written without running its migration — `baseline --through V` or `reinit --through
/// V` repairing a lost middle row (the documented repair), or confiture (Python)'s own
/// (`_baseline`, `_auto-baseline`, `_NNNN_baseline_from_db` after the slug's time) — records a
/// migration applied earlier, not a newer application: `down` rolled it back first, as the last
/// row written, leaving the migrations above it applied on top of it (h16 F20). It is placed by
/// its version; a migration applied after newer ones (a late-merged branch, `up
/// --allow-out-of-order`) is still rolled back first.
#[test]
fn a_row_recorded_without_running_is_rolled_back_in_version_order() {
    let repairs: [(&str, &WriteRow); 5] = [
        ("baseline", &|db, dir| {
            db.migrator(dir)
                .baseline(&BaselineOptions::through(2), &mut no_progress)
                .expect("baseline --through 2");
        }),
        ("reinit", &|db, dir| {
            db.migrator(dir)
                .reinit(&ReinitOptions::default().through(Some(5)), &mut no_progress)
                .expect("reinit --through 5");
        }),
        ("auto-baseline", &|db, _| {
            python_row(db, "t2_002_20261125_170442_auto-baseline")
        }),
        ("from_db", &|db, _| {
            python_row(db, "t2_002_20261125_170442_0001_baseline_from_db")
        }),
        ("squashed", &|db, _| {
            python_row(db, "t2_20261125_170442_squashed")
        }),
    ];
    for (repair, write_row) in repairs {
        let db = TestDb::new(&format!("laterow_{}", repair.replace('-', "_")));
        let dir = Dir::new();
        for v in 1..=5 {
            table(&dir, &format!("00{v}"), &format!("t{v}"));
        }
        db.migrator(&dir)
            .up(&UpOptions::default(), &mut no_progress)
            .expect("up");
        db.client()
            .batch_execute("DELETE FROM tb_confiture WHERE version = '002'")
            .expect("lose the row of 002");
        write_row(&db, &dir);
        assert_eq!(
            db.value("SELECT string_agg(version, ',' ORDER BY pk_confiture) FROM tb_confiture")
                .as_deref(),
            Some("001,003,004,005,002"),
            "{repair}: 002's row is the last written"
        );
        assert_eq!(
            planned(&db, &dir, DownOptions::default()),
            ["005"],
            "{repair}"
        );
        assert_eq!(
            planned(&db, &dir, DownOptions::default().steps(Some(3))),
            ["005", "004", "003"],
            "{repair}"
        );
        assert_eq!(
            planned(&db, &dir, DownOptions::default().target(Some(1))),
            ["005", "004", "003", "002"],
            "{repair}"
        );
        assert_eq!(
            planned(&db, &dir, DownOptions::default().target(Some(0))),
            ["005", "004", "003", "002", "001"],
            "{repair}"
        );
        let report = db
            .migrator(&dir)
            .down(&DownOptions::default().steps(Some(3)), &mut no_progress)
            .unwrap_or_else(|f| panic!("{repair}: down --steps 3: {}", f.error));
        assert_eq!(report.rolled_back, ["005", "004", "003"], "{repair}");
        assert!(db.table_exists("t2") && !db.table_exists("t3"), "{repair}");
        let (states_now, code, _) = states(&mut db.migrator(&dir));
        assert_eq!(
            states_now,
            [
                "001:applied",
                "002:applied",
                "003:pending",
                "004:pending",
                "005:pending"
            ],
            "{repair}"
        );
        assert_eq!(code, exit::PENDING, "{repair}");
    }

    // A late-merged migration applied after newer ones keeps its place: rolled back first,
    // whatever row `baseline` writes below it.
    let db = TestDb::new("laterow_merged");
    let dir = Dir::new();
    for v in 1..=5 {
        table(&dir, &format!("00{v}"), &format!("t{v}"));
    }
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .expect("up");
    // 003 applied last, as `up --allow-out-of-order` records it; 002's row lost.
    db.client()
        .batch_execute(
            "WITH gone AS (DELETE FROM tb_confiture WHERE version = '003' RETURNING slug, \
             version, name, applied_at, execution_time_ms, checksum, applied_by) \
             INSERT INTO tb_confiture (slug, version, name, applied_at, execution_time_ms, \
             checksum, applied_by) SELECT * FROM gone; \
             DELETE FROM tb_confiture WHERE version = '002'",
        )
        .expect("003 written last, 002's row lost");
    db.migrator(&dir)
        .baseline(&BaselineOptions::through(2), &mut no_progress)
        .expect("baseline --through 2");
    assert_eq!(planned(&db, &dir, DownOptions::default()), ["003"]);
    assert_eq!(
        planned(&db, &dir, DownOptions::default().steps(Some(4))),
        ["003", "005", "004", "002"]
    );
}

/// A row of 002 as confiture (Python) writes one without running it, with `slug`.
fn python_row(db: &TestDb, slug: &str) {
    db.client()
        .batch_execute(&format!(
            "INSERT INTO tb_confiture (slug, version, name, execution_time_ms, checksum, applied_by) \
             SELECT '{slug}', '002', 't2', 0, '{}', current_user",
            checksum(b"CREATE TABLE t2 (id int);\n")
        ))
        .expect("a row of confiture (Python)");
}

/// A ledger without its `UNIQUE (version)` can hold one version twice, spelled the same: the
/// row `reinit` forgets is the second one the history found, in the same order of application
/// (`pk_confiture`), never another one picked by a clock.
#[test]
fn reinit_forgets_the_second_of_two_rows_spelled_alike_whatever_their_applied_at() {
    let (db, dir) = two_applied("samerows_order");
    db.client()
        .batch_execute(
            "ALTER TABLE tb_confiture DROP CONSTRAINT tb_confiture_version_key; \
             INSERT INTO tb_confiture (slug, version, name, checksum, applied_at) \
             SELECT 'again', version, name, checksum, applied_at - interval '1 day' \
             FROM tb_confiture WHERE version = '002'",
        )
        .expect("the same version twice, the second with an earlier clock");
    let r = db
        .migrator(&dir)
        .reinit(&ReinitOptions::default(), &mut no_progress)
        .expect("reinit");
    assert_eq!(r.forgotten, ["002"]);
    assert_eq!(
        db.value("SELECT string_agg(slug, ',') FROM tb_confiture WHERE version = '002'")
            .as_deref()
            .map(|s| s.starts_with("t2_002_")),
        Some(true),
        "the row written first stays"
    );
}

/// A ledger without its `UNIQUE (version)` (an old or hand-altered one) can hold one version
/// twice, spelled the same: `reinit` reported keeping one row, and deleted both (its delete
/// addressed the version), leaving the migration pending while its table stayed.
#[test]
fn reinit_keeps_one_of_two_rows_spelled_alike() {
    let (db, dir) = two_applied("samerows");
    db.client()
        .batch_execute(
            "ALTER TABLE tb_confiture DROP CONSTRAINT tb_confiture_version_key; \
             INSERT INTO tb_confiture (slug, version, name, checksum, applied_at) \
             SELECT 'again', version, name, checksum, applied_at + interval '1 second' \
             FROM tb_confiture WHERE version = '002'",
        )
        .expect("the same version twice");
    let r = db
        .migrator(&dir)
        .reinit(&ReinitOptions::default(), &mut no_progress)
        .expect("reinit");
    assert_eq!(r.forgotten, ["002"]);
    assert_eq!(db.ledger(), ["001:t1", "002:t2"]);
    let (states_now, code, _) = states(&mut db.migrator(&dir));
    assert_eq!(states_now, ["001:applied", "002:applied"]);
    assert_eq!(code, exit::SUCCESS);
}

#[test]
fn ledger_versions_that_are_not_numbers_are_missing_for_every_command() {
    let db = TestDb::new("nonnumeric");
    let dir = Dir::new();
    table(&dir, "001", "t1");
    db.migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .expect("up");
    insert_row(&db, "v2", "from_elsewhere", "NULL", "2030-01-01T00:00:00Z");
    insert_row(
        &db,
        "99999999999999999999999",
        "huge",
        "NULL",
        "2030-01-02T00:00:00Z",
    );

    // Even below a first_version: a text that is not a number is not below anything.
    for first_version in [None, Some(1)] {
        let mut m = migrator(&db, &dir, first_version);
        let (states_now, code, json) = states(&mut m);
        assert_eq!(
            states_now,
            [
                "001:applied",
                "99999999999999999999999:missing",
                "v2:missing"
            ],
            "{json}"
        );
        assert_eq!(code, exit::DIVERGED);
        let err = migrator(&db, &dir, first_version)
            .up(&UpOptions::default(), &mut no_progress)
            .unwrap_err()
            .error;
        assert_eq!(err.kind, ErrorKind::Diverged);
        assert_eq!(
            err.details
                .iter()
                .filter(|d| d.starts_with("missing:"))
                .count(),
            2,
            "{:?}",
            err.details
        );
    }
    let err = db
        .migrator(&dir)
        .down(&DownOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(err.kind, ErrorKind::Diverged);
    assert!(
        err.details[0].contains("99999999999999999999999_huge"),
        "{:?}",
        err.details
    );
    let versions = rows(
        &mut db.client(),
        "SELECT version FROM tb_confiture ORDER BY 1",
    );
    assert_eq!(versions.len(), 3);

    // reinit forgets them: no file records them.
    let r = db
        .migrator(&dir)
        .reinit(&ReinitOptions::default(), &mut no_progress)
        .expect("reinit");
    assert_eq!(r.forgotten, ["v2", "99999999999999999999999"]);
    assert!(r.forgotten_with_files.is_empty());
    assert_eq!(db.ledger(), ["001:t1"]);
}

/// A row missing a column every row has (a hand-edited `applied_at`) stopped every command
/// with "a row with no applied_at", naming neither the row nor the way out.
#[test]
fn a_row_missing_a_required_column_is_named_with_its_version_and_the_fix() {
    let (db, dir) = two_applied("nullat");
    db.client()
        .batch_execute(
            "ALTER TABLE tb_confiture ALTER applied_at DROP NOT NULL; \
             UPDATE tb_confiture SET applied_at = NULL WHERE version = '002'",
        )
        .expect("a row without applied_at");
    let err = db.migrator(&dir).status().unwrap_err();
    assert_eq!(err.exit_code(), exit::INVALID);
    assert!(
        err.message
            .ends_with("has a row with no applied_at (version 002)"),
        "{err}"
    );
    // The row of an applied migration whose file is there is completed, never deleted
    // (h14 D3: `up` would run it again).
    let help = err.help.as_deref().unwrap_or_default();
    assert!(
        help.contains("SET applied_at = pg_catalog.now() WHERE"),
        "{err:?}"
    );
    assert!(!help.contains("DELETE"), "{err:?}");
    assert!(err.incomplete_row().is_some(), "{err:?}");
}

/// Rows are read in the order of application, `pk_confiture` compared as a number: a merge
/// gave the read an output column named `pk_confiture` holding its text (for a help naming a
/// row), and `ORDER BY pk_confiture` sorted by that text, so `10` came before `9` and `down`
/// rolled back the migration of pk 9 — not the newest — leaving the newest applied above a
/// pending one. Any run whose ledger passed pk 9 (a down and up again, a trial row) did so.
#[test]
fn rows_are_read_in_numeric_order_of_pk_confiture() {
    let db = TestDb::new("ledger_pk_order");
    let dir = Dir::new();
    table(&dir, "001", "a");
    table(&dir, "002", "b");
    table(&dir, "003", "c");
    migrator(&db, &dir, None)
        .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
        .unwrap();
    // The next rows get pk_confiture 9 and 10.
    db.client()
        .batch_execute("SELECT setval(pg_get_serial_sequence('tb_confiture', 'pk_confiture'), 8)")
        .unwrap();
    migrator(&db, &dir, None)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap();
    let r = migrator(&db, &dir, None)
        .down(&DownOptions::default(), &mut no_progress)
        .unwrap();
    assert_eq!(r.rolled_back, ["003"], "the newest, pk 10");
    assert_eq!(db.ledger(), ["001:a", "002:b"]);
}
