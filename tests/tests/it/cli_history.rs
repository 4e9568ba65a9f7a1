//! The history rule through the real binary: `status`, `up`, `down` and `reinit` agree on what
//! the ledger records (a squashed history, renamed versions), `reinit` never records what did
//! not run unless told to, `down` of an edited migration needs `--allow-modified`, and a broken
//! draft does not stop `status` or `down`.

use confiture::exit;
use confiture_tests::{member_manifest, Project, Run, TestDb};

fn ledger(db: &TestDb) -> Vec<String> {
    db.ledger().expect("the ledger exists")
}

/// A project of one table per migration of `ids` ([`Project::table`]), all applied to `db` by
/// `migrate up`.
fn applied(db: &TestDb, ids: &[&str]) -> Project {
    let project = Project::new();
    for id in ids {
        project.table(id);
    }
    project.up_on(db).code(exit::SUCCESS);
    project
}

/// A project whose history is squashed below 003 (`first_version = 3`), with no migration yet.
fn squashed_project() -> Project {
    let project = Project::new();
    project.write(
        "Cargo.toml",
        "[workspace]\nmembers = []\n\n[workspace.metadata.confiture]\nfirst_version = 3\n",
    );
    project
}

/// A [`squashed_project`] of tables 003 and 004 ([`Project::table`]), both applied to `db` by
/// `migrate up`.
fn squashed_applied(db: &TestDb) -> Project {
    let project = squashed_project();
    project.table("003_t3");
    project.table("004_t4");
    project.up_on(db).code(exit::SUCCESS);
    project
}

/// A project of tables 001, 002 and 003 ([`Project::table`]), the first two applied to `db`
/// (`migrate up --target 002`).
fn two_of_three_applied(db: &TestDb) -> Project {
    let project = Project::new();
    project.table("001_a");
    project.table("002_b");
    project.table("003_c");
    project
        .run_on(db, &["migrate", "up", "--target", "002"])
        .code(exit::SUCCESS);
    project
}

/// Every command that reads the history of [`two_of_three_applied`] and may change the ledger
/// or the schema: what a file of an applied migration that is not there as it should be must
/// stop alike.
const EVERY_COMMAND: [&[&str]; 8] = [
    &["migrate", "up", "--target", "001"],
    &["migrate", "up"],
    &["migrate", "down"],
    &["migrate", "down", "--steps", "2", "--yes"],
    &["migrate", "reinit"],
    &["migrate", "reinit", "--dry-run"],
    &["migrate", "verify"],
    &["migrate", "drift"],
];

/// `(version, applied_at, execution_time_ms, checksum)` of each row, by version.
fn row_details(db: &TestDb) -> Vec<(String, String, Option<i32>, Option<String>)> {
    db.connect()
        .query(
            "SELECT version, applied_at::text, execution_time_ms, checksum FROM tb_confiture ORDER BY version",
            &[],
        )
        .expect("ledger rows")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// Runs each of `commands` in `project` on `db`, checks its run with `check`, and asserts it
/// wrote no row of the ledger: what a refusal and its dry run leave.
fn each_writes_nothing(
    project: &Project,
    db: &TestDb,
    commands: &[&[&str]],
    check: impl Fn(&[&str], &Run),
) {
    let before = row_details(db);
    for args in commands {
        check(args, &project.run_on(db, args));
        assert_eq!(row_details(db), before, "{args:?} wrote nothing");
    }
}

#[test]
fn a_squashed_history_exits_0_for_status_and_up() {
    let db = TestDb::new("hi_squash");
    let project = squashed_applied(&db);
    db.connect()
        .batch_execute(
            "INSERT INTO tb_confiture (slug, version, name, applied_at, checksum) VALUES
               ('one_001_x', '001', 'one', '2020-01-01', NULL),
               ('two_002_x', '002', 'two', '2020-01-02', 'abc')",
        )
        .expect("the squashed rows");

    project
        .status_on(&db)
        .code(exit::SUCCESS)
        .stdout_has("001_one")
        .stdout_has("squashed")
        .stdout_lacks("missing");
    let run = project.status_json_on(&db);
    run.code(exit::SUCCESS);
    let doc = run.json();
    assert_eq!(doc["migrations"][0]["status"], "squashed", "{doc}");
    assert_eq!(doc["missing"], serde_json::json!([]), "{doc}");
    project
        .up_on(&db)
        .code(exit::SUCCESS)
        .stdout_has("already up to date");
}

/// A squashed project (`first_version = 3`, files 003 and 004) whose database holds the
/// snapshot's rows 001 and 002, then 003 and 004, written in that order (the order of
/// application is the order the rows were written).
fn squashed_and_applied(prefix: &str) -> (TestDb, Project) {
    let db = TestDb::new(prefix);
    let project = squashed_applied(&db);
    db.connect()
        .batch_execute(
            "INSERT INTO tb_confiture (slug, version, name, applied_at, checksum) VALUES
               ('one_001_x', '001', 'one', '2020-01-01', NULL),
               ('two_002_x', '002', 'two', '2020-01-02', NULL);
             WITH later AS (DELETE FROM tb_confiture WHERE version IN ('003', '004') RETURNING
               slug, version, name, applied_at, execution_time_ms, checksum, applied_by)
             INSERT INTO tb_confiture (slug, version, name, applied_at, execution_time_ms,
               checksum, applied_by) SELECT * FROM later ORDER BY version",
        )
        .expect("the squashed rows, written before the others");
    (db, project)
}

/// `down --target V` below a squashed history's `first_version` was a usage error (`no
/// migration with version 2`) while `--steps N` reaching the same point worked: a version of
/// the snapshot is a point of the history. Like `--target 0` it rolls back every migration the
/// files have, back to the schema snapshot (the squashed rows stay), so it takes `--yes`.
/// Every command a refusal suggests works as suggested: `--target 1 --yes` (suggested by the
/// `--target 1` refusal) and `--target 0 --yes` exited 8 on the squashed row 002, and `--steps`
/// reaching a squashed row suggested `--steps N --yes` with N counting the squashed rows.
#[test]
fn down_target_below_first_version_plans_as_steps_does() {
    let (db, project) = squashed_and_applied("hi_sq_target");
    let before = ledger(&db);
    assert_eq!(before, ["001:one", "002:two", "003:t3", "004:t4"]);

    for target in ["2", "1"] {
        project
            .run_on(&db, &["migrate", "down", "--target", target])
            .code(exit::USAGE)
            .stderr_has(&format!("--target {target} is below the first migration"))
            .stderr_has(&format!("--target {target} --yes"))
            .stderr_lacks("no migration with version");
        assert_eq!(ledger(&db), before, "nothing was written");
    }

    // Every way of saying "everything" plans 004 and 003: back to the snapshot.
    let steps = project.run_on(&db, &["migrate", "down", "--steps", "2", "--dry-run"]);
    steps.code(exit::SUCCESS);
    for target in ["2", "1", "0"] {
        let run = project.run_on(
            &db,
            &["migrate", "down", "--target", target, "--yes", "--dry-run"],
        );
        run.code(exit::SUCCESS);
        assert_eq!(run.stdout, steps.stdout, "{}", run.dump());
        run.stdout_has("would roll back 2 migrations");
    }

    // `--steps` reaching a squashed row is refused, naming the N that works.
    for n in ["3", "4", "5"] {
        project
            .run_on(&db, &["migrate", "down", "--steps", n, "--yes"])
            .code(exit::IRREVERSIBLE)
            .stderr_has("squashed: 002_two")
            .stderr_has(
                "`cargo confiture migrate down --target 0 --yes --database-url <URL>` (or \
                 `cargo confiture migrate down --steps 2 --database-url <URL>`) rolls \
                 back every migration",
            );
    }
    // Without `--yes` too: no confirmation makes a squashed row roll back (r3d).
    project
        .run_on(&db, &["migrate", "down", "--steps", "5"])
        .code(exit::IRREVERSIBLE)
        .stderr_has(
            "`cargo confiture migrate down --target 0 --yes --database-url <URL>` (or \
             `cargo confiture migrate down --steps 2 --database-url <URL>`) rolls back every \
             migration applied since the snapshot",
        )
        .stderr_lacks("--steps 2 --yes");
    assert_eq!(ledger(&db), before, "nothing was written");

    // The command the `--target 1` refusal names works.
    project
        .run_on(&db, &["migrate", "down", "--target", "1", "--yes"])
        .code(exit::SUCCESS);
    assert_eq!(ledger(&db), ["001:one", "002:two"]);
    assert!(!db.has_relation("t3") && !db.has_relation("t4"));

    // A version above first_version that no file has is still unknown.
    project
        .run_on(&db, &["migrate", "down", "--target", "7", "--yes"])
        .code(exit::USAGE)
        .stderr_has("no migration with version 7");
}

#[test]
fn down_after_renaming_the_versions_deletes_the_row_and_up_reapplies() {
    let db = TestDb::new("hi_rename");
    let project = applied(&db, &["0001_a", "0002_b"]);
    for (from, to) in [("0001_a", "001_a"), ("0002_b", "002_b")] {
        for kind in ["up", "down"] {
            std::fs::rename(
                project.path(&format!("db/migrations/{from}.{kind}.sql")),
                project.path(&format!("db/migrations/{to}.{kind}.sql")),
            )
            .expect("rename");
        }
    }
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::SUCCESS)
        .stdout_has("rolled back 1 migration");
    assert!(!db.has_relation("b"));
    assert_eq!(ledger(&db), ["0001:a"]);
    project
        .status_on(&db)
        .code(exit::PENDING)
        .stdout_has("1 applied, 1 pending, 2 total");
    project
        .up_on(&db)
        .code(exit::SUCCESS)
        .stdout_has("applied 1 migration");
    assert!(db.has_relation("b"));
    assert_eq!(ledger(&db), ["0001:a", "002:b"]);
}

#[test]
fn reinit_without_through_records_only_what_the_ledger_had_and_keeps_its_times() {
    let db = TestDb::new("hi_reinit");
    let project = Project::example();
    project.up_on(&db).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::SUCCESS);
    // An applied file edited on purpose.
    let path = "db/migrations/005_add_avatar_url.up.sql";
    project.write(path, format!("-- reviewed\n{}", project.read(path)));
    let before = row_details(&db);

    // The advice names the safe command.
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stderr_has("cargo confiture migrate reinit --database-url <URL>`");
    let run = project.up_on(&db);
    run.code(exit::DIVERGED).stderr_lacks("--through 006");

    let dry = project.run_on(&db, &["migrate", "reinit", "--dry-run"]);
    dry.code(exit::SUCCESS)
        .stdout_has("005")
        .stdout_lacks("006")
        .stdout_has("nothing was written");
    assert_eq!(row_details(&db), before);

    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS)
        .stdout_lacks("006");
    let after = row_details(&db);
    assert_eq!(after.len(), 5, "{after:?}");
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(
            (&old.0, &old.1, old.2),
            (&new.0, &new.1, new.2),
            "applied_at and execution_time_ms are kept"
        );
    }
    assert_ne!(before[4].3, after[4].3, "005's checksum was accepted");
    project
        .status_on(&db)
        .code(exit::PENDING)
        .stdout_has("5 applied, 1 pending, 6 total");
    // The next down rolls back what did run.
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::SUCCESS);
    assert_eq!(ledger(&db).len(), 4);
}

#[test]
fn reinit_through_records_pending_files_only_when_asked_and_says_which_have_files() {
    let db = TestDb::new("hi_through");
    let project = Project::example();
    project.table("007_t7");
    project
        .run_on(&db, &["migrate", "up", "--steps", "5"])
        .code(exit::SUCCESS);
    // Now 001..005 are applied; 006 and 007 pending.

    // A version that does not exist is refused.
    project
        .run_on(&db, &["migrate", "reinit", "--through", "9"])
        .code(exit::USAGE);
    // --through 006 records 006 without running it, and says so first.
    let dry = project.run_on(&db, &["migrate", "reinit", "--through", "6", "--dry-run"]);
    dry.code(exit::SUCCESS)
        .stdout_has("006_index_tb_comment_fk_post")
        .stdout_lacks("007");
    assert_eq!(ledger(&db).len(), 5);
    let run = project.run_on(
        &db,
        &["migrate", "reinit", "--through", "6", "--format", "json"],
    );
    run.code(exit::SUCCESS);
    let doc = run.json();
    assert_eq!(doc["recorded"], serde_json::json!(["006"]), "{doc}");
    assert_eq!(ledger(&db).len(), 6);

    // Apply 007, then reinit through 005: 006 and 007 are forgotten, and both have files
    // (confirmed: their migrations ran).
    project.up_on(&db).code(exit::SUCCESS);
    let run = project.run_on(&db, &["migrate", "reinit", "--through", "5", "--yes"]);
    run.code(exit::SUCCESS)
        .stdout_lacks("no file on disk")
        .stdout_has("006")
        .stdout_has("007");
    assert_eq!(ledger(&db).len(), 5);
}

#[test]
fn down_of_an_edited_migration_is_refused_unless_allow_modified() {
    let db = TestDb::new("hi_downmod");
    let project = applied(&db, &["001_t1", "002_t2"]);
    project.write(
        "db/migrations/002_t2.up.sql",
        "CREATE TABLE t2 (id bigint);\n",
    );
    let sum = confiture::files::checksum(b"CREATE TABLE t2 (id bigint);\n");

    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::DIVERGED)
        .stderr_has("002_t2.up.sql")
        .stderr_has(&sum[..12])
        .stderr_has("`git log -- db/migrations/002_t2.up.sql` shows the applied version")
        .stderr_lacks("<file>")
        .stderr_has("then run `cargo confiture migrate down --database-url")
        .stderr_has(
            "pass --allow-modified: `cargo confiture migrate down --allow-modified --database-url",
        );
    // The command to paste keeps the bound the user gave.
    project
        .run_on(&db, &["migrate", "down", "--target", "1"])
        .code(exit::DIVERGED)
        .stderr_has("then run `cargo confiture migrate down --target 1 --database-url")
        .stderr_has(
            "pass --allow-modified: `cargo confiture migrate down --target 1 --allow-modified --database-url",
        );
    assert_eq!(ledger(&db).len(), 2);
    project
        .run_on(&db, &["migrate", "down", "--dry-run"])
        .code(exit::DIVERGED);

    project
        .run_on(&db, &["migrate", "down", "--allow-modified"])
        .code(exit::SUCCESS)
        .stdout_has("rolled back 1 migration")
        .stderr_has("002_t2");
    assert_eq!(ledger(&db), ["001:t1"]);
    assert!(!db.has_relation("t2"));
}

#[test]
fn a_broken_draft_does_not_stop_status_or_down_and_up_says_what_it_would_run() {
    let db = TestDb::new("hi_draft");
    let project = applied(&db, &["001_t1", "002_t2"]);
    // A draft being written: COMMIT inside a migration is an error (C100).
    project.migration(
        "003_draft",
        "CREATE TABLE t3 (id int);\nCOMMIT;\n",
        "DROP TABLE t3;\n",
    );

    project
        .status_on(&db)
        .code(exit::INVALID)
        .stdout_has("002_t2")
        .stdout_has("003_draft")
        .stdout_has("invalid")
        .stderr_has("C100");
    let run = project.status_json_on(&db);
    run.code(exit::INVALID);
    let doc = run.json();
    assert_eq!(doc["migrations"][2]["invalid"], true, "{doc}");
    assert_eq!(doc["migrations"][1]["invalid"], false, "{doc}");
    assert_eq!(doc["pending"], serde_json::json!(["003"]), "{doc}");

    project
        .run_on(&db, &["migrate", "down", "--dry-run"])
        .code(exit::SUCCESS)
        .stdout_has("002_t2");
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::SUCCESS)
        .stdout_has("rolled back 1 migration");
    assert_eq!(ledger(&db), ["001:t1"]);

    // up would run the draft: refused, naming it; with a target before it, it goes on.
    project
        .up_on(&db)
        .code(exit::INVALID)
        .stderr_has("003_draft.up.sql")
        .stderr_has("--target 002");
    let run = project.run_on(&db, &["migrate", "up", "--format", "json"]);
    run.code(exit::INVALID);
    let doc = run.json();
    assert_eq!(doc["errors"][0]["diagnostics"][0]["code"], "C100", "{doc}");
    assert_eq!(ledger(&db), ["001:t1"]);
    project
        .run_on(&db, &["migrate", "up", "--target", "2"])
        .code(exit::SUCCESS)
        .stdout_has("applied 1 migration");
    assert_eq!(ledger(&db), ["001:t1", "002:t2"]);

    // An applied migration whose down file is broken cannot be rolled back.
    project.write("db/migrations/002_t2.down.sql", "-- nothing yet\n");
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::INVALID)
        .stderr_has("002_t2.down.sql");
    assert_eq!(ledger(&db), ["001:t1", "002:t2"]);
}

#[test]
fn a_padded_checksum_is_modified_for_status_up_and_down() {
    let db = TestDb::new("hi_checksum");
    let project = applied(&db, &["001_t1", "002_t2"]);
    // A ledger kept by another tool: `char(72)` pads. confiture (Python)'s `verify-checksums`
    // calls it a mismatch (`interop_python::a_checksum_padded_with_whitespace_is_a_mismatch_for_both_tools`).
    db.connect()
        .batch_execute("ALTER TABLE tb_confiture ALTER COLUMN checksum TYPE char(72)")
        .expect("rewrite the checksums");
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("001_t1     ! modified");
    for args in [&["migrate", "up"][..], &["migrate", "down"]] {
        project
            .run_on(&db, args)
            .code(exit::DIVERGED)
            .stderr_has("it is the same digest with whitespace around it")
            .stderr_has("make it `varchar(64)`, as confiture creates it");
    }
    // The help's way on: the column as confiture creates it (the cast drops the padding).
    db.connect()
        .batch_execute("ALTER TABLE tb_confiture ALTER COLUMN checksum TYPE varchar(64)")
        .expect("restore the column");
    project.status_on(&db).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::SUCCESS)
        .stdout_has("rolled back 1 migration");
    assert_eq!(ledger(&db), ["001:t1"]);
}

/// A broken draft refuses `baseline` and `verify` with the way to stop before it that each
/// command has: `baseline --through`, and none for `verify`. Both suggested `migrate up
/// --target`, which runs migrations — on the target, for `verify`, which never touches it.
#[test]
fn a_broken_draft_gets_each_commands_own_way_to_stop_before_it() {
    let db = TestDb::new("draft_hints");
    let project = Project::new();
    project.table("001_a");
    project.table("002_b");
    project.migration("003_draft", "-- todo\n", "-- todo\n");
    project
        .run_on(&db, &["migrate", "baseline", "--through", "3"])
        .code(exit::INVALID)
        .stderr_has("`cargo confiture migrate baseline --through 002 --database-url <URL>` stops before 003_draft if it is not applied yet")
        .stderr_lacks("migrate up --target");
    project
        .run_on(&db, &["migrate", "verify"])
        .code(exit::INVALID)
        .stderr_lacks("migrate up --target");
    assert_eq!(db.ledger(), None, "nothing was written");
}

/// `up` and `baseline` refused for a migration whose files are broken said that `--target` /
/// `--through` of the version before it "stops before" it: true of a pending migration only.
/// The files are checked before connecting, so the ledger is not known there; an applied one
/// (here a half pair, or an unreadable up file) refuses the suggested command too, which the
/// help now says.
#[test]
fn the_way_to_stop_before_a_broken_migration_says_it_is_for_one_not_applied() {
    for (broken, name) in [
        ("half pair", "stop_before_half"),
        ("unreadable", "stop_before_bad"),
    ] {
        let db = TestDb::new(name);
        let project = applied(&db, &["001_a", "002_b"]);
        project.table("003_c");
        match broken {
            "half pair" => {
                project.remove("db/migrations/002_b.down.sql");
            }
            _ => {
                project.write(
                    "db/migrations/002_b.up.sql",
                    b"CREATE TABLE b (); -- \xff\n",
                );
            }
        }
        let mut suggesting = vec![(&["migrate", "up"][..], "migrate up --target 001")];
        if broken == "half pair" {
            // An unreadable file refuses `baseline` with no way to stop before it.
            suggesting.push((
                &["migrate", "baseline", "--through", "3"],
                "migrate baseline --through 001",
            ));
        }
        for (command, stop) in suggesting {
            let run = project.run_on(&db, command);
            run.code(exit::INVALID).stderr_has(&format!(
                "`cargo confiture {stop} --database-url <URL>` stops before 002_b if it is not \
                 applied yet"
            ));
        }
        // Applied, it is refused by the suggested command as well.
        project
            .run_on(&db, &["migrate", "up", "--target", "001"])
            .code(exit::INVALID);
        assert_eq!(ledger(&db), ["001:a", "002:b"], "{broken}");
    }
}

/// A second row for an applied version (`0002` beside `002`) is forgotten by `reinit`, and
/// its migration stays applied: the report said the next `up` would run it again.
#[test]
fn reinit_says_a_second_row_is_forgotten_without_rerunning_its_migration() {
    let db = TestDb::new("reinit_second");
    let project = applied(&db, &["001_a", "002_b"]);
    db.connect()
        .batch_execute(
            "INSERT INTO tb_confiture (slug, version, name, checksum) \
             SELECT 'b_again', '0002', name, checksum FROM tb_confiture WHERE version = '002'",
        )
        .expect("a second row for 002");
    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS)
        .stdout_has("forgot 1 second row for a migration another row records (it stays applied)")
        .stdout_lacks("runs it");
    assert_eq!(ledger(&db), ["001:a", "002:b"]);
    project
        .run_on(&db, &["migrate", "up", "--dry-run"])
        .code(exit::SUCCESS)
        .stdout_has("already up to date");
}

/// A squashed history (`first_version = 3`) on a database without its snapshot: `up` and
/// `verify` blamed 003's correct file (`fix db/migrations/003_t3.up.sql`) when it failed for
/// want of the snapshot's objects. With an empty ledger, the first migration's failure says
/// the snapshot must be loaded first — decided from the ledger, `first_version` and which
/// migration failed, not from the server's words; elsewhere the help still names the file.
#[test]
fn the_first_migration_of_a_squashed_history_failing_on_an_empty_database_names_the_snapshot() {
    let project = squashed_project();
    // 003 needs t1, a table of the squashed snapshot.
    project.migration(
        "003_t3",
        "CREATE TABLE t3 (id int REFERENCES t1 (id));\n",
        "DROP TABLE t3;\n",
    );
    project.table("004_t4");
    let snapshot_help = "the history is squashed (`first_version = 3`)";

    let db = TestDb::new("hi_sq_nosnap");
    for args in [
        &["migrate", "up"][..],
        &["migrate", "up", "--single-transaction"],
        &["migrate", "verify"],
    ] {
        let run = project.run_on(&db, args);
        run.code(exit::MIGRATION_FAILED)
            .stderr_has(snapshot_help)
            .stderr_has("003_t3, the first migration, runs on the schema snapshot");
        let run = project.run_on(&db, &[args, &["--format", "json"]].concat());
        run.code(exit::MIGRATION_FAILED);
        let help = run.json()["errors"][0]["help"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(help.contains(snapshot_help), "{args:?}: {}", run.dump());
    }
    assert_eq!(db.ledger().unwrap_or_default(), Vec::<String>::new());

    // With the snapshot loaded, 003 runs; a failure of a later migration is its file's.
    db.connect()
        .batch_execute("CREATE TABLE t1 (id int PRIMARY KEY)")
        .expect("the snapshot");
    project.write(
        "db/migrations/004_t4.up.sql",
        "CREATE TABLE t4 (id nope);\n",
    );
    project
        .up_on(&db)
        .code(exit::MIGRATION_FAILED)
        .stderr_has("fix db/migrations/004_t4.up.sql")
        .stderr_lacks(snapshot_help);
    assert_eq!(ledger(&db), ["003:t3"]);

    // The ledger records the snapshot's rows: the snapshot was loaded, the file is blamed.
    let db2 = TestDb::new("hi_sq_rows");
    db2.connect()
        .batch_execute("CREATE TABLE t1 (id int PRIMARY KEY)")
        .expect("the snapshot");
    project
        .run_on(&db2, &["migrate", "up", "--steps", "1"])
        .code(exit::SUCCESS);
    project
        .run_on(&db2, &["migrate", "down"])
        .code(exit::SUCCESS);
    db2.connect()
        .batch_execute(
            "DROP TABLE t1; INSERT INTO tb_confiture (slug, version, name, applied_at) VALUES
               ('one_001_x', '001', 'one', '2020-01-01'), ('two_002_x', '002', 'two', '2020-01-02')",
        )
        .expect("the squashed rows");
    project
        .up_on(&db2)
        .code(exit::MIGRATION_FAILED)
        .stderr_has("fix db/migrations/003_t3.up.sql")
        .stderr_lacks(snapshot_help);

    // A history that is not squashed: its first migration's failure is its file's.
    let plain = Project::new();
    plain.migration(
        "001_t3",
        "CREATE TABLE t3 (id int REFERENCES t1 (id));\n",
        "DROP TABLE t3;\n",
    );
    let db3 = TestDb::new("hi_plain_first");
    plain
        .up_on(&db3)
        .code(exit::MIGRATION_FAILED)
        .stderr_has("fix db/migrations/001_t3.up.sql")
        .stderr_lacks("squashed");
}

/// The squashed-history "load the snapshot" help replaced more specific help: a migration that
/// released the migration lock, a no-transaction migration that committed part of itself, and
/// a failure no missing snapshot causes (division by zero, SQLSTATE 22012). It is given only
/// for a SQLSTATE an absent object raises, and never replaces a more specific help (it becomes
/// a detail). On `verify`'s scratch database, which never has the snapshot, it says verify
/// cannot check the history, also with `--from`.
#[test]
fn the_snapshot_help_never_hides_a_more_specific_one() {
    let project = squashed_project();
    project.table("004_t4");
    let snapshot_help = "the history is squashed (`first_version = 3`)";
    let first_error = |db: &TestDb, args: &[&str]| {
        let run = project.run_on(db, &[args, &["--format", "json"]].concat());
        run.code(exit::MIGRATION_FAILED);
        let error = run.json()["errors"][0].clone();
        (
            error["help"].as_str().unwrap_or_default().to_string(),
            error,
            run,
        )
    };

    // A division by zero is the file's, whatever the ledger.
    project.migration("003_t3", "SELECT 1 / 0;\n", "SELECT 1;\n");
    let db = TestDb::new("hi_sq_div0");
    let (help, error, run) = first_error(&db, &["migrate", "up"]);
    assert_eq!(error["sqlstate"], "22012", "{}", run.dump());
    assert!(
        help.starts_with("fix db/migrations/003_t3.up.sql") && !help.contains("squashed"),
        "{}",
        run.dump()
    );

    // The migration released the migration lock, then failed on an absent table: the lock's
    // help stays, the snapshot is a detail.
    project.write(
        "db/migrations/003_t3.up.sql",
        "CREATE FUNCTION let_go() RETURNS void LANGUAGE plpgsql AS 'BEGIN EXECUTE \
         ''SELECT pg_advisory_'' || ''unlock_all()''; END';\n\
         SELECT let_go();\nCREATE TABLE t3 (id int REFERENCES t1 (id));\n",
    );
    let db = TestDb::new("hi_sq_unlock");
    let (help, error, run) = first_error(&db, &["migrate", "up"]);
    assert!(
        help.starts_with("remove that call from db/migrations/003_t3.up.sql")
            && !help.contains("squashed"),
        "{}",
        run.dump()
    );
    assert!(
        error["details"].as_array().is_some_and(|d| d
            .iter()
            .any(|d| d.as_str().unwrap_or_default().contains(snapshot_help))),
        "{}",
        run.dump()
    );

    // A no-transaction migration committed its first statement: running it again as it is
    // would fail on it; the help says what to do with what it committed.
    project.write(
        "db/migrations/003_t3.up.sql",
        "-- confiture:no-transaction\n-- confiture:allow(no-transaction-multiple-statements)\n\
         CREATE TABLE t3 (id int);\nCREATE INDEX CONCURRENTLY t1_id ON t1 (id);\n",
    );
    let db = TestDb::new("hi_sq_notx");
    let (help, error, run) = first_error(&db, &["migrate", "up"]);
    assert_eq!(error["sqlstate"], "42P01", "{}", run.dump());
    assert!(
        help.contains("what it committed stays: undo it, or make its statements safe to run twice")
            && !help.contains("squashed")
            && !help.contains("then run the command again"),
        "{}",
        run.dump()
    );
    assert!(db.has_relation("t3"), "statement 1 committed");

    // The same without a squashed history: the partial commit's help too.
    let plain = Project::new();
    plain.migration(
        "001_t3",
        "-- confiture:no-transaction\n-- confiture:allow(no-transaction-multiple-statements)\n\
         CREATE TABLE t3 (id int);\nCREATE INDEX CONCURRENTLY t3_id ON t3 (id);\nSELECT 1 / 0;\n",
        "DROP TABLE t3;\n",
    );
    let db = TestDb::new("hi_notx_part");
    plain
        .up_on(&db)
        .code(exit::MIGRATION_FAILED)
        .stderr_has("fix db/migrations/001_t3.up.sql; what it committed stays: undo it")
        .stderr_lacks("then run the command again");

    // verify: its scratch database never has the snapshot, `--from` or not.
    project.write(
        "db/migrations/003_t3.up.sql",
        "CREATE TABLE t3 (id int REFERENCES t1 (id));\n",
    );
    let db = TestDb::new("hi_sq_verify");
    for args in [
        &["migrate", "verify"][..],
        &["migrate", "verify", "--from", "4"],
    ] {
        let (help, _, run) = first_error(&db, args);
        assert!(
            help.contains("`migrate verify` builds its scratch database from the files alone")
                && help.contains("cannot check this history")
                && !help.contains("which a new database loads first"),
            "{args:?}: {}",
            run.dump()
        );
        // The command running, as given, is the one to run again, never `migrate up`/`down`
        // (which would write the target).
        assert!(
            help.contains("then run the command again")
                && !help.contains("migrate up")
                && !help.contains("migrate down"),
            "{args:?}: {}",
            run.dump()
        );
    }
    // drift replays the applied migrations on its scratch database, which never has the
    // snapshot either: its help named `migrate verify`.
    let db = TestDb::new("hi_sq_drift");
    db.connect()
        .batch_execute("CREATE TABLE t1 (id int PRIMARY KEY)")
        .expect("the snapshot");
    project.up_on(&db).code(exit::SUCCESS);
    let (help, _, run) = first_error(&db, &["migrate", "drift"]);
    assert!(
        help.contains("`migrate drift` builds its scratch database from the files alone")
            && help.contains("cannot check this history")
            && help.contains("then run the command again")
            && !help.contains("migrate verify")
            && !help.contains("--from")
            && !help.contains("migrate up")
            && !help.contains("migrate down"),
        "{}",
        run.dump()
    );
}

/// A ledger row whose version is padded (`' 002'`, as a `char(n)` column or a hand-written row
/// stores it) was `missing` and `reinit` forgot it, so `up` ran the applied migration again.
/// Its version matches its file, as a padded checksum does; `reinit` rewrites its spelling.
/// A row with an empty version is named as such, not `()` or `_name`.
#[test]
fn a_padded_ledger_version_is_its_migration_and_an_empty_one_is_named() {
    let db = TestDb::new("hi_padded");
    let project = applied(&db, &["001_a", "002_b"]);
    db.connect()
        .batch_execute("UPDATE tb_confiture SET version = ' 002' WHERE version = '002'")
        .expect("pad the version");

    project
        .status_on(&db)
        .code(exit::SUCCESS)
        .stdout_lacks("missing")
        .stdout_has("2 applied, 0 pending");
    project
        .up_on(&db)
        .code(exit::SUCCESS)
        .stdout_has("already up to date");
    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS)
        .stdout_lacks("forget");
    assert_eq!(
        ledger(&db),
        ["001:a", "002:b"],
        "rewritten to the file's spelling"
    );

    db.connect()
        .batch_execute(
            "INSERT INTO tb_confiture (slug, version, name, applied_at) VALUES ('e', '', 'ghost', now())",
        )
        .expect("an empty version");
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("(empty version) ghost")
        .stderr_has("no file ((empty version))");
    project
        .up_on(&db)
        .code(exit::DIVERGED)
        .stderr_has("missing: (empty version) ghost is recorded");
    project
        .run_on(&db, &["migrate", "reinit", "--dry-run"])
        .code(exit::SUCCESS)
        .stdout_has("(empty version) ghost");
}

fn renumber(project: &Project, from: &str, to: &str) {
    for kind in ["up", "down"] {
        std::fs::rename(
            project.path(&format!("db/migrations/{from}.{kind}.sql")),
            project.path(&format!("db/migrations/{to}.{kind}.sql")),
        )
        .expect("rename");
    }
}

/// An applied migration renumbered (same name, same up file: `003_c` now `004_c` after a
/// merge), its old number given to another migration: `status`, `up`, `down` and
/// `reinit` all see it as `renumbered` — applied, not modified, missing or pending. `reinit`
/// records it under its new number and never runs it again; the migration now at its old
/// number is pending.
#[test]
fn a_renumbered_migration_is_renumbered_everywhere_and_reinit_moves_its_row() {
    // Renumbered without a migration in its place would leave a gap, itself an error.
    let db = TestDb::new("hi_renum");
    let project = applied(&db, &["001_a", "002_b", "003_c"]);
    renumber(&project, "003_c", "004_c");
    project.table("003_other");

    let run = project.status_on(&db);
    run.code(exit::DIVERGED)
        .stdout_has("! renumbered")
        // Its old number is another migration's now: the other one takes the number it
        // leaves and it goes back (both renames named), or `reinit`.
        .stderr_has("`004_c` ran as 003, which `003_other` has now")
        // `status` read the ledger: `003_other` is not applied here, which it says, keeping
        // the caution for other databases (not "if it is not applied anywhere yet").
        .stderr_has(
            "which `003_other` has now, not applied here: if no other database applied it \
             either, give it the number `004_c` leaves and rename `004_c` back: `mv ",
        )
        .stderr_lacks("not applied anywhere yet")
        .stderr_has("`cargo confiture migrate reinit --database-url <URL>` records it")
        .stdout_lacks("modified")
        .stdout_lacks("missing");
    let row = run.stdout_line("004_c");
    assert!(row.contains("! renumbered"), "{}", run.dump());
    let run = project.status_json_on(&db);
    run.code(exit::DIVERGED);
    let doc = run.json();
    assert_eq!(doc["summary"]["renumbered"], 1, "{}", run.dump());
    assert_eq!(doc["summary"]["modified"], 0, "{}", run.dump());
    assert_eq!(doc["summary"]["missing"], 0, "{}", run.dump());
    assert_eq!(
        doc["renumbered"],
        serde_json::json!(["004"]),
        "{}",
        run.dump()
    );
    assert_eq!(doc["pending"], serde_json::json!(["003"]), "{}", run.dump());

    let run = project.run_on(&db, &["migrate", "up", "--format", "json"]);
    run.code(exit::DIVERGED);
    let diverged = &run.json()["errors"][0]["diverged"][0];
    assert_eq!(diverged["state"], "renumbered", "{}", run.dump());
    assert_eq!(diverged["migration"], "004_c", "{}", run.dump());
    assert_eq!(diverged["row_version"], "003", "{}", run.dump());
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::DIVERGED)
        .stderr_has("renumbered: 003_c was applied, and its files are now 004_c");
    assert!(db.has_relation("c"));

    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS)
        .stdout_lacks("forget");
    assert_eq!(ledger(&db), ["001:a", "002:b", "004:c"]);
    // `c` is not created again (it would fail: the table exists).
    project
        .run_on(&db, &["migrate", "up", "--allow-out-of-order"])
        .code(exit::SUCCESS);
    project.status_on(&db).code(exit::SUCCESS);
    assert!(db.has_relation("other"));
}

/// The `mv` a help names for renaming a migration's files back, run in the project's root.
fn paste_rename_back(project: &Project, text: &str) {
    let start = text.find("`mv ").expect("a rename back is named") + 1;
    let len = text[start..].find('`').expect("its closing backquote");
    let status = std::process::Command::new("bash")
        .current_dir(project.path(""))
        .arg("-c")
        .arg(&text[start..start + len])
        .status()
        .expect("run the rename");
    assert!(status.success(), "{}", &text[start..start + len]);
}

/// An applied migration renumbered so that its old number is left free (`003_c` now `005_c`,
/// or a middle one, `002_b` now `005_b`): the versions have a gap (C004). `status` and `up`
/// said "record the new numbers with `migrate reinit`", which is refused while the gap is
/// the migration's own file (exit 5), and C004 said "renumber it only if it is not applied
/// anywhere yet" though the tool knows it is applied: a loop of helps. Now every help
/// (C004's in `status`, `status`'s, `up`'s and `down`'s refusals) names the `mv` of both
/// files that renames it back, never `reinit`; pasted, it leaves nothing to fix.
#[test]
fn a_renumbering_that_leaves_a_gap_is_helped_with_its_rename_back_never_reinit() {
    for (from, to) in [("003_c", "005_c"), ("002_b", "005_b")] {
        let db = TestDb::new("hi_renumgap");
        let project = Project::new();
        project.table("001_a");
        project.table("002_b");
        project.table("003_c");
        if from == "002_b" {
            project.table("004_d");
        }
        project.up_on(&db).code(exit::SUCCESS);
        renumber(&project, from, to);
        let mv = format!(
            "`mv db/migrations/{to}.up.sql db/migrations/{from}.up.sql && \
             mv db/migrations/{to}.down.sql db/migrations/{from}.down.sql`"
        );

        let run = project.status_on(&db);
        run.code(exit::INVALID)
            .stdout_has("! renumbered")
            .stderr_has(&format!("`{to}` was applied as version {}", &from[..3]))
            .stderr_has(&mv)
            .stderr_lacks("reinit")
            .stderr_lacks("only if it is not applied anywhere yet");
        let doc = project.status_json_on(&db).json();
        let gap = doc["diagnostics"]
            .as_array()
            .and_then(|ds| ds.iter().find(|d| d["code"] == "C004"))
            .unwrap_or_else(|| panic!("C004 reported: {doc}"));
        assert!(
            gap["help"].as_str().unwrap_or_default().contains(&mv),
            "{doc}"
        );
        project
            .up_on(&db)
            .code(exit::INVALID)
            .stderr_lacks("reinit");
        project
            .run_on(&db, &["migrate", "up", "--target", "001"])
            .code(exit::DIVERGED)
            .stderr_has(&mv)
            .stderr_lacks("reinit");
        // Down to the renumbered one: refused before anything is rolled back.
        let run = project.run_on(&db, &["migrate", "down", "--steps", "3"]);
        run.code(exit::DIVERGED)
            .stderr_has(&mv)
            .stderr_lacks("reinit");

        paste_rename_back(&project, &run.stderr);
        project.status_on(&db).code(exit::SUCCESS);
    }
}

/// How many times each migration of [`counted`] ran, by name, as the catalog says.
fn runs(db: &TestDb) -> Vec<(String, i64)> {
    db.connect()
        .query(
            "SELECT name, count(*) FROM runs GROUP BY name ORDER BY name COLLATE \"C\"",
            &[],
        )
        .expect("the runs")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// `up --allow-out-of-order` on `db`, then `status`: both succeed, and each migration of `ran`
/// (those of [`counted`] that run) has run once, `what` naming the case.
fn up_runs_each_once(project: &Project, db: &TestDb, mut ran: Vec<&str>, what: &str) {
    project
        .run_on(db, &["migrate", "up", "--allow-out-of-order"])
        .code(exit::SUCCESS);
    project.status_on(db).code(exit::SUCCESS);
    ran.sort();
    let ran: Vec<(String, i64)> = ran.iter().map(|id| (id.to_string(), 1)).collect();
    assert_eq!(runs(db), ran, "{what}each migration ran once");
}

/// A project whose migrations after the first each add a row to `runs` when they run, all
/// applied to `db` by `migrate up`.
fn counted(db: &TestDb, ids: &[&str]) -> Project {
    let project = Project::new();
    project.migration(
        "001_runs",
        "CREATE TABLE runs (name text);\n",
        "DROP TABLE runs;\n",
    );
    for id in ids {
        project.migration(
            id,
            &format!("INSERT INTO runs VALUES ('{id}');\n"),
            &format!("DELETE FROM runs WHERE name = '{id}';\n"),
        );
    }
    project.up_on(db).code(exit::SUCCESS);
    project
}

/// D1: applied migrations renumbered in a swap (`002_b`, `003_c` now `003_b`, `002_c`), a
/// cycle or a chain (now `003_b`, `004_c`, a new `002_new` at the number left) were `replaced`
/// ("files gone, never ran") and pending: `reinit` forgot their rows and `up` ran them a second
/// time. They are `renumbered` in `status`, `up` refuses, the help's renames (one command, in
/// order) set them right, and `reinit` moves every row (a swap through a version of its own:
/// the column is `UNIQUE`); nothing runs twice, as the catalog says.
#[test]
fn migrations_renumbered_in_a_swap_a_cycle_or_a_chain_never_run_twice() {
    let swap: &[(&str, &str)] = &[("002_b", "003_b"), ("003_c", "002_c")];
    let cycle: &[(&str, &str)] = &[("002_b", "003_b"), ("003_c", "004_c"), ("004_d", "002_d")];
    let chain: &[(&str, &str)] = &[("003_c", "004_c"), ("002_b", "003_b")];
    for (moves, new) in [(swap, false), (cycle, false), (chain, true)] {
        let db = TestDb::new("hi_renumswap");
        let ids: Vec<&str> = moves.iter().map(|(from, _)| *from).collect();
        let project = counted(&db, &ids);
        let before = ledger(&db);
        let renumber_all = || {
            // Through names of their own: in a swap a target name may be a source's.
            for (from, _) in moves {
                renumber(&project, from, &format!("x{from}"));
            }
            for (from, to) in moves {
                renumber(&project, &format!("x{from}"), to);
            }
            if new {
                project.migration(
                    "002_new",
                    "INSERT INTO runs VALUES ('002_new');\n",
                    "DELETE FROM runs WHERE name = '002_new';\n",
                );
            }
        };
        renumber_all();
        let status = project.status_json_on(&db);
        status.code(exit::DIVERGED);
        let doc = status.json();
        assert_eq!(
            doc["summary"]["renumbered"],
            moves.len(),
            "{}",
            status.dump()
        );
        assert_eq!(doc["summary"]["replaced"], 0, "{}", status.dump());
        assert_eq!(doc["summary"]["missing"], 0, "{}", status.dump());
        let unrecorded = if new {
            serde_json::json!(["002"])
        } else {
            serde_json::json!([])
        };
        assert_eq!(doc["pending"], unrecorded, "{}", status.dump());
        project
            .up_on(&db)
            .code(exit::DIVERGED)
            .stderr_has("renumbered: 00");
        if !new {
            // The renames the help gives, pasted: nothing is left to fix.
            let status = project.status_on(&db);
            status
                .code(exit::DIVERGED)
                .stdout_lacks("replaced")
                .stderr_has("rename all of them back, in this order: `mv ")
                .stderr_lacks("no rename fixes it");
            paste_rename_back(&project, &status.stderr);
            project.status_on(&db).code(exit::SUCCESS);
            assert_eq!(ledger(&db), before);
            renumber_all();
        }
        project
            .run_on(&db, &["migrate", "reinit"])
            .code(exit::SUCCESS)
            .stdout_lacks("forget");
        let moved: Vec<String> = before
            .iter()
            .map(|row| {
                let (version, name) = row.split_once(':').expect("version:name");
                let from = format!("{version}_{name}");
                match moves.iter().find(|(f, _)| *f == from) {
                    Some((_, to)) => to.replacen('_', ":", 1),
                    None => row.clone(),
                }
            })
            .collect();
        assert_eq!(ledger(&db), moved);
        let mut ran: Vec<&str> = ids.to_vec();
        ran.extend(new.then_some("002_new"));
        up_runs_each_once(&project, &db, ran, "");
    }
}

/// An applied migration renumbered while another migration took its old number (`007_seed`
/// now `008_seed`, a new `007_new`): the help called the new id (`008_seed`) the "old
/// number", and gave no rename, only "give the other one the next free number". It now says
/// what ran as what (`008_seed` ran as 007, which `007_new` has now) and gives the renames that
/// fix it — the other one takes the number the renumbered one leaves, the renumbered one goes
/// back — in `status`, `up` and `down`: pasted, `up` runs the new one and nothing diverges.
#[test]
fn a_renumbered_migration_whose_old_number_is_taken_gets_renames_that_work() {
    let db = TestDb::new("hi_renumtaken");
    let project = applied(&db, &["001_a", "002_seed"]);
    // Applied: 001_a, 002_seed. Renumber 002_seed to 003_seed, a new 002_new takes 002.
    renumber(&project, "002_seed", "003_seed");
    project.table("002_new");
    let swap = "`mv db/migrations/002_new.up.sql db/migrations/003_new.up.sql && \
                mv db/migrations/002_new.down.sql db/migrations/003_new.down.sql && \
                mv db/migrations/003_seed.up.sql db/migrations/002_seed.up.sql && \
                mv db/migrations/003_seed.down.sql db/migrations/002_seed.down.sql`";
    let status = project.status_on(&db);
    status
        .code(exit::DIVERGED)
        .stderr_has("`003_seed` ran as 002, which `002_new` has now")
        .stderr_lacks("old number (003_seed")
        .stderr_has(swap);
    project.up_on(&db).code(exit::DIVERGED).stderr_has(swap);
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::DIVERGED)
        .stderr_has(swap);
    paste_rename_back(&project, &status.stderr);
    project.status_on(&db).code(exit::PENDING);
    project
        .up_on(&db)
        .code(exit::SUCCESS)
        .stderr_has("applied 003_new");
    project.status_on(&db).code(exit::SUCCESS);
    assert!(db.has_relation("new"));
}

/// A gap in the versions before the newest applied migration (a never-applied `003` dropped in
/// review, the applied migration and its row `004_c`): `down` of `004_c` was refused (exit 5)
/// as if its own files had errors, though README says `down` refuses only then — an emergency
/// rollback blocked by a file name. The gap (C004) is the sequence's: `down` warns and rolls
/// back; `status` and `up` still refuse (exit 5).
#[test]
fn a_gap_before_the_newest_migration_does_not_stop_its_rollback_but_stops_up() {
    let db = TestDb::new("hi_gapdown");
    let project = applied(&db, &["001_a", "002_b", "003_c"]);
    renumber(&project, "003_c", "004_c");
    db.connect()
        .batch_execute("UPDATE tb_confiture SET version = '004' WHERE version = '003'")
        .expect("the row of 004_c");
    project
        .status_on(&db)
        .code(exit::INVALID)
        .stderr_has("C004");
    project.up_on(&db).code(exit::INVALID);
    project
        .run_on(&db, &["migrate", "down", "--dry-run"])
        .code(exit::SUCCESS)
        .stderr_has("004_c (C004: version 004 follows version 002");
    let run = project.run_on(&db, &["migrate", "down", "--dry-run", "--format", "json"]);
    run.code(exit::SUCCESS);
    assert!(
        run.json()["warnings"].to_string().contains("C004"),
        "{}",
        run.dump()
    );
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::SUCCESS)
        .stderr_has("004_c (C004: version 004 follows version 002")
        .stderr_has("`migrate up` refuses to run until the gap is closed");
    assert!(!db.has_relation("c"));
    assert_eq!(ledger(&db), ["001:a", "002:b"]);
    project.up_on(&db).code(exit::INVALID);
}

/// An applied migration whose files were deleted and whose number was given to another
/// migration (another name, another up file: `002_b` gone, `002_x` added). `status`, `up`,
/// `down` and `reinit` all see the row as `replaced` — not `002_x` modified, which would say
/// `002_x` ran and invite `reinit` to record it as applied. `reinit` forgets the row and the
/// next `up` runs `002_x`.
#[test]
fn an_applied_migration_replaced_by_another_at_its_number_is_replaced_everywhere() {
    let db = TestDb::new("hi_replaced");
    let project = applied(&db, &["001_a", "002_b"]);
    project.remove("db/migrations/002_b.up.sql");
    project.remove("db/migrations/002_b.down.sql");
    project.table("002_x");

    let run = project.status_on(&db);
    run.code(exit::DIVERGED)
        .stdout_has("1 replaced")
        .stdout_lacks("modified")
        .stdout_lacks("002_x")
        .stderr_lacks("records the new text as applied")
        .stderr_has("give the new migration the next free number")
        .stderr_has(
            "if the new one is an applied one renamed (and edited), give it back its old name",
        )
        .stderr_has("forgets its row and the next `migrate up` runs the new one")
        .stderr_lacks("never ran");
    // `up`'s refusal gives the same help, and never says the new one did not run: the files
    // cannot tell a new migration from the applied one renamed and edited.
    project
        .up_on(&db)
        .code(exit::DIVERGED)
        .stderr_has("give it back its old name")
        .stderr_lacks("never ran");
    let row = run.stdout_line("002_b");
    assert!(row.contains("! replaced"), "{}", run.dump());
    let run = project.status_json_on(&db);
    run.code(exit::DIVERGED);
    let doc = run.json();
    assert_eq!(doc["summary"]["replaced"], 1, "{}", run.dump());
    assert_eq!(doc["summary"]["modified"], 0, "{}", run.dump());
    assert_eq!(
        doc["replaced"],
        serde_json::json!(["002"]),
        "{}",
        run.dump()
    );
    assert_eq!(doc["modified"], serde_json::json!([]), "{}", run.dump());
    let line = doc["migrations"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["version"] == "002"))
        .unwrap_or_else(|| panic!("002 listed\n{}", run.dump()));
    assert_eq!(line["name"], "b", "{}", run.dump());
    assert_eq!(line["status"], "replaced", "{}", run.dump());

    let run = project.up_on(&db);
    run.code(exit::DIVERGED)
        .stderr_has("replaced: 002 was applied as 002_b; its files are gone and 002_x")
        .stderr_lacks("modified")
        .stderr_lacks("records the new text as applied");
    let run = project.run_on(&db, &["migrate", "up", "--format", "json"]);
    run.code(exit::DIVERGED);
    let diverged = &run.json()["errors"][0]["diverged"][0];
    assert_eq!(diverged["state"], "replaced", "{}", run.dump());
    assert_eq!(diverged["migration"], "002_b", "{}", run.dump());
    assert_eq!(diverged["row_version"], "002", "{}", run.dump());
    assert!(
        diverged["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("002_x.up.sql")),
        "{}",
        run.dump()
    );
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::DIVERGED)
        .stderr_has("replaced: 002 was applied as 002_b");
    assert!(db.has_relation("b"));

    project
        .run_on(&db, &["migrate", "reinit", "--dry-run"])
        .code(exit::SUCCESS)
        .stdout_has("would forget 1 row whose files are gone and whose number another migration now has: the next `migrate up` runs that migration: 002_b (now 002_x)");
    let run = project.run_on(&db, &["migrate", "reinit", "--format", "json"]);
    run.code(exit::SUCCESS);
    assert_eq!(
        run.json()["forgotten"],
        serde_json::json!(["002"]),
        "{}",
        run.dump()
    );
    assert_eq!(ledger(&db), ["001:a"]);
    project.up_on(&db).code(exit::SUCCESS);
    assert_eq!(ledger(&db), ["001:a", "002:x"]);
    assert!(db.has_relation("x"));
    project.status_on(&db).code(exit::SUCCESS);
}

/// An applied migration whose file is on disk but cannot be read (a directory in its place, a
/// FIFO — as root, `chmod 000` does not stop reading, so these stand for an unreadable file):
/// `reinit` refuses (exit 5) rather than forget its row as one "with no file", which would make
/// the next `up` run it again. The ledger is untouched.
#[cfg(unix)]
#[test]
fn reinit_refuses_to_forget_a_migration_whose_file_is_there_but_unreadable() {
    let db = TestDb::new("hi_unreadable");
    let project = applied(&db, &["001_a", "002_b"]);
    let path = project.path("db/migrations/002_b.up.sql");
    let make: [(&str, &dyn Fn()); 2] = [
        ("a directory", &|| {
            std::fs::create_dir(&path).expect("mkdir")
        }),
        ("a FIFO", &|| {
            let ok = std::process::Command::new("mkfifo")
                .arg(&path)
                .status()
                .expect("mkfifo")
                .success();
            assert!(ok, "mkfifo");
        }),
    ];
    for (what, make) in make {
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&path);
        make();
        for args in [
            &["migrate", "reinit"][..],
            &["migrate", "reinit", "--dry-run"],
        ] {
            let run = project.run_on(&db, args);
            run.code(exit::INVALID)
                .stderr_has("cannot read `002_b.up.sql`")
                .stdout_lacks("forget");
            assert_eq!(ledger(&db), ["001:a", "002:b"], "{what}\n{}", run.dump());
        }
    }
}

/// An applied migration whose up file cannot be read was `missing` to `up --target` below it
/// and to `down` (exit 7, with the help that `reinit` forgets rows with no file): every
/// command now reads the history's `unreadable` and refuses alike (exit 5), naming the file
/// and the system's reason, forgetting nothing, and the ledger and schema are untouched; a
/// fleet's `status` says `unreadable` for each database. With the file readable again,
/// everything goes on.
#[cfg(unix)]
#[test]
fn every_command_refuses_an_applied_migration_whose_file_cannot_be_read() {
    let db = TestDb::new("hi_unread_all");
    let project = two_of_three_applied(&db);
    let path = project.path("db/migrations/002_b.up.sql");
    std::fs::remove_file(&path).expect("rm");
    std::fs::create_dir(&path).expect("mkdir");

    for args in EVERY_COMMAND {
        let run = project.run_on(&db, args);
        run.code(exit::INVALID)
            .stderr_has("cannot read `002_b.up.sql`: it is a directory, not a file")
            .stderr_lacks("missing")
            .stderr_lacks("reinit")
            .stderr_lacks("forget");
        assert_eq!(ledger(&db), ["001:a", "002:b"], "{}", run.dump());
        assert!(db.has_relation("b"), "{}", run.dump());
    }
    let run = project.run_on(
        &db,
        &["migrate", "up", "--target", "001", "--format", "json"],
    );
    run.code(exit::INVALID);
    assert_eq!(run.json()["errors"][0]["kind"], "invalid", "{}", run.dump());

    // A fleet of that one database: its status is unreadable too.
    project.write("targets.txt", format!("{}\n", db.name));
    let run = project.run(&[
        "migrate",
        "status",
        "--database-url",
        &db.url(),
        "--targets",
        "targets.txt",
        "--format",
        "json",
    ]);
    run.code(exit::INVALID);
    let report = &run.json()["targets"][0]["report"];
    assert_eq!(
        report["unreadable"],
        serde_json::json!(["002"]),
        "{}",
        run.dump()
    );
    assert_eq!(report["missing"], serde_json::json!([]), "{}", run.dump());

    std::fs::remove_dir(&path).expect("rmdir");
    std::fs::write(&path, "CREATE TABLE b (id int);\n").expect("restore");
    project.up_on(&db).code(exit::SUCCESS);
    assert_eq!(ledger(&db), ["001:a", "002:b", "003:c"]);
}

/// `baseline --dry-run` said neither that nothing was written nor which migrations by name
/// (`001, 002` where `reinit --dry-run` said `001_a, 002_b`): recording migrations as applied
/// reads the same from both commands, dry run or not.
#[test]
fn baseline_and_reinit_say_what_they_record_alike() {
    let project = Project::new();
    project
        .migration("001_a", "SELECT 1;\n", "SELECT 1;\n")
        .migration("002_b", "SELECT 2;\n", "SELECT 2;\n");
    for dry_run in [true, false] {
        let mut stdout = Vec::new();
        for command in ["baseline", "reinit"] {
            let db = TestDb::new(&format!("hist_record_{command}"));
            let mut args = vec!["migrate", command, "--through", "002"];
            if dry_run {
                args.push("--dry-run");
            }
            let run = project.run_on(&db, &args);
            run.code(exit::SUCCESS)
                .stdout_has("as applied without running them: 001_a, 002_b");
            if dry_run {
                run.stdout_has("dry run: nothing was written");
            } else {
                run.stdout_lacks("dry run");
            }
            stdout.push(run.stdout.clone());
        }
        assert_eq!(stdout[0], stdout[1], "dry run {dry_run}");
    }
}

/// An applied migration whose files are there but incomplete (its down file removed, or its
/// up file) was `missing` to `down` and `drift` (exit 7, "its files are gone", with the help
/// that `reinit` forgets rows with no file, which would make `up` run it again once restored):
/// every command refuses it alike (exit 5), never saying it is missing or to forget it, and the
/// ledger and schema are untouched. With the file restored, everything goes on.
#[test]
fn every_command_refuses_an_applied_migration_whose_files_are_incomplete() {
    let db = TestDb::new("hi_halfpair_all");
    let project = two_of_three_applied(&db);
    for half in ["down", "up"] {
        let path = project.path(&format!("db/migrations/002_b.{half}.sql"));
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::remove_file(&path).expect("rm");
        for args in EVERY_COMMAND {
            let run = project.run_on(&db, args);
            run.code(exit::INVALID)
                .stderr_has(&format!("002_b.{half}.sql"))
                .stderr_lacks("missing:")
                .stderr_lacks("are gone")
                .stderr_lacks("reinit")
                .stderr_lacks("forget");
            assert_eq!(ledger(&db), ["001:a", "002:b"], "{half} {}", run.dump());
            assert!(db.has_relation("b"), "{half} {}", run.dump());
        }
        std::fs::write(&path, text).expect("restore");
    }
    project.up_on(&db).code(exit::SUCCESS);
    assert_eq!(ledger(&db), ["001:a", "002:b", "003:c"]);
}

/// `baseline --through V`, `reinit --through V` and `down --target V` said "no migration with
/// version V" (exit 64, kind `usage`, offering the other versions) when V's files are there
/// but cannot be used: an up file that is a FIFO, a directory or not UTF-8 (as root, `chmod
/// 000` does not stop reading), or half a pair, applied or not. The version exists: each
/// command gives its own answer for such files — `baseline` and `reinit --through`, which
/// would record V, refuse it (exit 5, kind `invalid`, naming the file) as `up --target V`
/// does; `down --target V` keeps V and rolls back what is above it. Nothing is written.
#[cfg(unix)]
#[test]
fn a_flag_naming_a_version_whose_files_cannot_be_used_is_refused_for_the_files() {
    type Break<'a> = (&'a str, &'a dyn Fn(&Project));
    let breaks: [Break<'_>; 4] = [
        ("a FIFO", &|p: &Project| {
            let path = p.path("db/migrations/003_c.up.sql");
            std::fs::remove_file(&path).expect("rm");
            let ok = std::process::Command::new("mkfifo")
                .arg(&path)
                .status()
                .expect("mkfifo")
                .success();
            assert!(ok, "mkfifo");
        }),
        ("a directory", &|p: &Project| {
            let path = p.path("db/migrations/003_c.up.sql");
            std::fs::remove_file(&path).expect("rm");
            std::fs::create_dir(&path).expect("mkdir");
        }),
        ("not UTF-8", &|p: &Project| {
            p.write(
                "db/migrations/003_c.up.sql",
                b"CREATE TABLE c (); -- \xff\n",
            );
        }),
        ("half a pair", &|p: &Project| {
            p.remove("db/migrations/003_c.down.sql");
        }),
    ];
    for applied in [false, true] {
        for (what, break_it) in breaks {
            let db = TestDb::new("hi_flag_unusable");
            let project = Project::new();
            project.table("001_a");
            project.table("002_b");
            project.table("003_c");
            let through = if applied { "003" } else { "002" };
            project
                .run_on(&db, &["migrate", "up", "--target", through])
                .code(exit::SUCCESS);
            break_it(&project);
            let before = ledger(&db);
            let case = format!("{what}, applied: {applied}");
            let mut refusing = vec![
                &["migrate", "up", "--target", "3"][..],
                &["migrate", "baseline", "--through", "003"],
                &["migrate", "baseline", "--through", "3", "--dry-run"],
            ];
            if !applied || what == "half a pair" {
                // An applied unreadable one is kept by `reinit --through` as it is.
                refusing.push(&["migrate", "reinit", "--through", "3"]);
                refusing.push(&["migrate", "reinit", "--through", "3", "--dry-run"]);
            }
            for args in refusing {
                let run = project.run_on(&db, args);
                run.code(exit::INVALID)
                    .stderr_has("003_c.")
                    .stderr_lacks("no migration with version");
                let mut json = args.to_vec();
                json.extend(["--format", "json"]);
                let run = project.run_on(&db, &json);
                run.code(exit::INVALID);
                assert_eq!(
                    run.json()["errors"][0]["kind"],
                    "invalid",
                    "{case}: {}",
                    run.dump()
                );
                assert_eq!(ledger(&db), before, "{case}: {}", run.dump());
            }
            let run = project.run_on(&db, &["migrate", "down", "--target", "3"]);
            run.code(exit::SUCCESS)
                .stdout_has("nothing to roll back")
                .stderr_lacks("no migration with version");
            assert_eq!(ledger(&db), before, "{case}: {}", run.dump());
        }
    }
}

/// `drift` refused for a broken file among the migrations it replays (here applied, half a
/// pair or not UTF-8) said that `cargo confiture migrate up --target 002` "stops before" it: a
/// read-only command suggested writing the target, which does not help `drift` (and is refused
/// too when the broken one is applied). The way to stop before a version is the command's own:
/// `verify` and `drift` have none, on their scratch replays too.
#[test]
fn verify_and_drift_never_suggest_up_to_stop_before_a_broken_migration() {
    for broken in ["half pair", "not UTF-8"] {
        let db = TestDb::new("drift_no_up_hint");
        let project = applied(&db, &["001_a", "002_b", "003_c"]);
        match broken {
            "half pair" => {
                project.remove("db/migrations/003_c.down.sql");
            }
            _ => {
                project.write(
                    "db/migrations/003_c.up.sql",
                    b"CREATE TABLE c (); -- \xff\n",
                );
            }
        }
        for command in ["drift", "verify"] {
            let run = project.run_on(&db, &["migrate", command]);
            run.code(exit::INVALID)
                .stderr_has("003_c.")
                .stderr_has("then run again")
                .stderr_lacks("migrate up")
                .stderr_lacks("stops before");
            let run = project.run_on(&db, &["migrate", command, "--format", "json"]);
            run.code(exit::INVALID);
            let doc = run.json();
            let help = doc["errors"][0]["help"].to_string();
            assert!(
                !help.contains("migrate up") && !help.contains("stops before"),
                "{broken}, {command}: {}",
                run.dump()
            );
            // Refused as files, before a scratch database is made (drift made one, and its
            // error named the scratch database).
            assert!(
                doc["errors"][0]["database"].is_null()
                    && doc["scratch_databases"]
                        .as_array()
                        .is_none_or(|made| made.is_empty()),
                "{broken}, {command}: {}",
                run.dump()
            );
            run.stderr_lacks("scratch database");
        }
        assert_eq!(ledger(&db), ["001:a", "002:b", "003:c"], "{broken}");
    }
}

/// `drift` replays the applied migrations only: a broken draft that is not applied yet does
/// not stop it (with `--schema-dir`, which replays every migration, it does).
#[test]
fn drift_is_not_stopped_by_a_broken_draft_it_does_not_replay() {
    let db = TestDb::new("drift_draft");
    let project = applied(&db, &["001_a"]);
    project.table("002_b");
    project.remove("db/migrations/002_b.down.sql");
    project
        .run_on(&db, &["migrate", "drift"])
        .code(exit::SUCCESS);
    project.write("schema/a.sql", "CREATE TABLE a ();\n");
    project
        .run_on(&db, &["migrate", "drift", "--schema-dir", "schema"])
        .code(exit::INVALID)
        .stderr_has("002_b.up.sql")
        .stderr_lacks("scratch database");
}

/// `reinit` pointed at a directory that has none of the ledger's migrations — empty, another
/// project's (same numbers, other names), a mistyped `--migrations-dir` — would forget every
/// row, and the next `up` would run every migration again: refused (exit 64) without `--yes`,
/// naming the rows, its dry run too; a reinit that keeps some row is not asked to confirm.
/// The rows above the directory's newest file are a newer release's, which `reinit` never
/// forgets (h15 D7): an empty directory forgets nothing, and another project's would forget
/// every row but those.
#[test]
fn reinit_that_would_forget_every_row_needs_yes() {
    let db = TestDb::new("hi_reinit_all");
    let project = applied(&db, &["001_a", "002_b", "003_c"]);
    std::fs::create_dir_all(project.path("empty")).expect("empty dir");
    project.write("other/001_x.up.sql", "CREATE TABLE x (id int);\n");
    project.write("other/001_x.down.sql", "DROP TABLE x;\n");
    let before = row_details(&db);
    for dry in [&["--dry-run"][..], &[]] {
        // Every row is above an empty directory's (no) newest file: kept.
        let mut args = vec!["migrate", "reinit", "--migrations-dir", "empty"];
        args.extend_from_slice(dry);
        project
            .run_on(&db, &args)
            .code(exit::SUCCESS)
            .stderr_has("reinit keeps their rows");
        assert_eq!(row_details(&db), before, "empty {dry:?}: nothing forgotten");
        let mut args = vec!["migrate", "reinit", "--migrations-dir", "other"];
        args.extend_from_slice(dry);
        project
            .run_on(&db, &args)
            .code(exit::USAGE)
            .stderr_has(
                "reinit would forget 1 row of the ledger (listed below): other has none of their \
                 migrations; the 2 rows above its newest file (001) are kept",
            )
            .stderr_has("001_a, applied ")
            .stderr_has("to forget that row anyway add --yes")
            .stderr_lacks("every row");
        assert_eq!(row_details(&db), before, "other {dry:?}: nothing forgotten");
    }
    // With --through, forgetting every row to record others is the same wipe.
    project
        .run_on(
            &db,
            &[
                "migrate",
                "reinit",
                "--migrations-dir",
                "other",
                "--through",
                "1",
            ],
        )
        .code(exit::USAGE)
        .stderr_has("reinit would forget 1 row of the ledger (listed below)");
    // A directory that still has one of them: forgetting the other needs no confirmation.
    project.remove("db/migrations/002_b.up.sql");
    project.remove("db/migrations/002_b.down.sql");
    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS);
    assert_eq!(ledger(&db), ["001:a", "003:c"]);
    // Confirmed, it forgets them, but for the rows above its newest file.
    project
        .run_on(
            &db,
            &["migrate", "reinit", "--migrations-dir", "other", "--yes"],
        )
        .code(exit::SUCCESS)
        .stdout_has("001_a");
    assert_eq!(ledger(&db), ["003:c"]);
}

/// `001_prices` (a table `prices` with one row of amount 10, made so that running it twice
/// changes nothing) and `002_cents` (multiplies the amounts by 100: running it twice shows).
fn prices_and_cents() -> Project {
    let project = Project::new();
    project.migration(
        "001_prices",
        "CREATE TABLE IF NOT EXISTS prices (id int PRIMARY KEY, amount numeric);\n\
         INSERT INTO prices VALUES (1, 10) ON CONFLICT DO NOTHING;\n",
        "DROP TABLE prices;\n",
    );
    project.migration(
        "002_cents",
        "UPDATE prices SET amount = amount * 100;\n",
        "UPDATE prices SET amount = amount / 100;\n",
    );
    project
}

/// The amount of [`prices_and_cents`]'s one row.
fn prices_amount(db: &TestDb) -> String {
    db.connect()
        .query_one("SELECT amount::text FROM prices", &[])
        .unwrap()
        .get(0)
}

/// The way out for [`prices_and_cents`]'s database whose history is lost, with its tables
/// there: the help's `baseline --through 2` records the migrations without running them; and,
/// the history lost again by `lose` (SQL), `up --allow-non-empty`, told to, runs them over
/// what is there.
fn baseline_then_up_anyway(project: &Project, db: &TestDb, lose: &str) {
    project
        .run_on(db, &["migrate", "baseline", "--through", "2"])
        .code(exit::SUCCESS);
    project.up_on(db).code(exit::SUCCESS);
    assert_eq!(prices_amount(db), "1000");
    assert_eq!(ledger(db), ["001:prices", "002:cents"]);
    db.connect().batch_execute(lose).unwrap();
    project
        .run_on(db, &["migrate", "up", "--allow-non-empty"])
        .code(exit::SUCCESS);
    assert_eq!(prices_amount(db), "100000");
}

/// h11 D4: a database whose ledger is gone (dropped, left out of a restore) while its tables
/// are there is not a new database. `status` said "run `migrate up` to create the tracking
/// table and apply the migrations", and `up` ran every migration over the data again (a data
/// migration doubled values, exit 0). Now `status` points at `migrate baseline --through`,
/// `up` refuses (exit 7, nothing run) unless `--allow-non-empty`, and the baseline it points
/// at records them without running them.
#[test]
fn a_database_with_its_tables_but_no_ledger_is_not_migrated_again() {
    let db = TestDb::new("hi_noledger");
    let project = prices_and_cents();
    let amount = || prices_amount(&db);
    project.up_on(&db).code(exit::SUCCESS);
    assert_eq!(amount(), "1000");
    db.connect()
        .batch_execute("DROP TABLE tb_confiture")
        .unwrap();

    project
        .status_on(&db)
        .code(exit::NOT_INITIALISED)
        .stderr_has("already holds 1 object (table public.prices)")
        .stderr_has("`cargo confiture migrate baseline --through <VERSION> --database-url <URL>`")
        .stderr_lacks("to create the tracking table and apply the migrations");
    for (args, anyway) in [
        (&["migrate", "up"][..], "migrate up --allow-non-empty"),
        // The request's flags are kept (h17 F4).
        (
            &["migrate", "up", "--single-transaction"],
            "migrate up --single-transaction --allow-non-empty",
        ),
        // Its dry run refuses as it does (it previewed a full apply, exit 0: h13 D3).
        (
            &["migrate", "up", "--dry-run"],
            "migrate up --allow-non-empty",
        ),
    ] {
        project
            .run_on(&db, args)
            .code(exit::DIVERGED)
            .stderr_has("the tracking table tb_confiture does not exist, but the database already holds 1 object (table public.prices)")
            .stderr_has("nothing was run")
            .stderr_has(&confiture_tests::previewed(
                &format!("`cargo confiture {anyway} --database-url <URL>`"),
                args,
            ));
        assert_eq!(amount(), "1000", "{args:?}: nothing ran");
        assert_eq!(db.ledger(), None, "{args:?}: no ledger made");
    }
    // The help's way, then `up` told to run them anyway.
    baseline_then_up_anyway(&project, &db, "DROP TABLE tb_confiture");
}

/// What a new database holds before any migration is not a reason to refuse it: what its
/// template held (a DBA's function in `template1`), an extension a DBA installed, a database
/// `--create-database` made. And a tenant schema is judged by what it holds, not by the other
/// tenants of its database.
#[test]
fn a_new_database_with_its_templates_objects_and_extensions_is_migrated() {
    let template = TestDb::new("hi_tmpl");
    template
        .connect()
        .batch_execute(
            "CREATE FUNCTION dba_helper() RETURNS int LANGUAGE sql AS 'SELECT 1';\n\
             CREATE TABLE dba_audit (id int);",
        )
        .unwrap();
    let db = TestDb::unborn("hi_fromtmpl");
    confiture_tests::admin()
        .batch_execute(&format!(
            "CREATE DATABASE \"{}\" TEMPLATE \"{}\"",
            db.name, template.name
        ))
        .unwrap();
    db.connect()
        .batch_execute("CREATE EXTENSION citext")
        .unwrap();
    let project = Project::new();
    project.table("001_a");
    project
        .status_on(&db)
        .code(exit::NOT_INITIALISED)
        .stderr_has("to create the tracking table and apply the migrations");
    project.up_on(&db).code(exit::SUCCESS);
    assert_eq!(ledger(&db), ["001:a"]);

    let created = TestDb::unborn("hi_created");
    project
        .run_on(&created, &["migrate", "up", "--create-database"])
        .code(exit::SUCCESS);
    assert_eq!(ledger(&created), ["001:a"]);

    // Tenants: tenant_a has its tables and lost its ledger; tenant_b is new.
    let tenants = TestDb::new("hi_tenants");
    tenants
        .connect()
        .batch_execute("CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b")
        .unwrap();
    project
        .run_on(&tenants, &["migrate", "up", "--schema", "tenant_a"])
        .code(exit::SUCCESS);
    tenants
        .connect()
        .batch_execute("DROP TABLE tenant_a.tb_confiture")
        .unwrap();
    project
        .run_on(&tenants, &["migrate", "up", "--schema", "tenant_b"])
        .code(exit::SUCCESS);
    project
        .run_on(&tenants, &["migrate", "up", "--schema", "tenant_a"])
        .code(exit::DIVERGED)
        .stderr_has("already holds 1 object (table tenant_a.a)");
}

/// The rows of `ops.tb_confiture`, `version:name`, by version.
fn ops_ledger(db: &TestDb) -> Vec<String> {
    db.connect()
        .query(
            "SELECT version || ':' || name FROM ops.tb_confiture ORDER BY version",
            &[],
        )
        .expect("ops ledger rows")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// h14 D1: a tracking table qualified in the environment file (`ops.tb_confiture`) is where
/// the ledger is, not where unqualified migrations build (the session's `search_path`,
/// `public`). The check looked in `ops` alone: a lost `ops` ledger beside `public`'s tables
/// ran every migration again, and a new database whose `ops` held an unrelated table was
/// refused.
#[test]
fn a_qualified_ledgers_schema_is_not_where_the_migrations_build() {
    let db = TestDb::new("hi_opsledger");
    let project = Project::new();
    project.write(
        "db/environments/ops.yaml",
        format!(
            "database_url: {}\nmigration:\n  tracking_table: ops.tb_confiture\n",
            db.url()
        ),
    );
    project.migration(
        "001_prices",
        "CREATE TABLE prices (id int PRIMARY KEY, amount numeric);\n\
         INSERT INTO prices VALUES (1, 10);\n",
        "DROP TABLE prices;\n",
    );
    // A new database: its `ops` schema holds another tool's table, nothing the migrations made.
    db.connect()
        .batch_execute("CREATE SCHEMA ops; CREATE TABLE ops.audit (id int)")
        .unwrap();
    project
        .run(&["migrate", "status", "--env", "ops"])
        .code(exit::NOT_INITIALISED)
        .stderr_has("to create the tracking table and apply the migrations");
    project
        .run(&["migrate", "up", "--env", "ops"])
        .code(exit::SUCCESS);
    assert_eq!(ops_ledger(&db), ["001:prices"]);

    // Its ledger lost: `public`'s table is what the migrations built.
    db.connect()
        .batch_execute("DROP TABLE ops.tb_confiture")
        .unwrap();
    project
        .run(&["migrate", "status", "--env", "ops"])
        .code(exit::NOT_INITIALISED)
        .stderr_has("already holds 1 object (table public.prices)");
    for args in [&["migrate", "up"][..], &["migrate", "up", "--dry-run"]] {
        project
            .run(&[args, &["--env", "ops"]].concat())
            .code(exit::DIVERGED)
            .stderr_has("already holds 1 object (table public.prices)")
            .stderr_has("nothing was run");
    }
    let rows: i64 = db
        .connect()
        .query_one("SELECT count(*) FROM prices", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 1, "nothing ran twice");
}

/// h14 D2: migrations that name their schema (`CREATE SCHEMA app; CREATE TABLE app.t`) build
/// outside the `search_path`: a lost ledger there ran every migration again. Every user
/// schema counts, but not a tenant schema holding its own ledger (other tenants never make a
/// database refused), nor an extension's objects.
#[test]
fn objects_built_outside_the_search_path_count_but_tenants_do_not() {
    let db = TestDb::new("hi_appschema");
    let project = Project::new();
    // Qualified: an unqualified name beside the tenants' ledgers is refused (hidden_ledger).
    project.write(
        "db/environments/main.yaml",
        format!(
            "database_url: {}\nmigration:\n  tracking_table: public.tb_confiture\n",
            db.url()
        ),
    );
    let main = |args: &[&str]| project.run(&[args, &["--env", "main"]].concat());
    project.migration(
        "001_app",
        "CREATE SCHEMA app;\nCREATE TABLE app.prices (id int PRIMARY KEY);\n\
         INSERT INTO app.prices VALUES (1);\n",
        "DROP SCHEMA app CASCADE;\n",
    );
    // Tenants of the same database, with their own ledgers and tables, and an extension in a
    // schema of its own: none of them is what this database's migrations made.
    let tenants = Project::new();
    tenants.table("001_t");
    db.connect()
        .batch_execute(
            "CREATE SCHEMA tenant_a; CREATE SCHEMA ext; CREATE EXTENSION citext SCHEMA ext",
        )
        .unwrap();
    tenants
        .run_on(&db, &["migrate", "up", "--schema", "tenant_a"])
        .code(exit::SUCCESS);
    main(&["migrate", "status"])
        .code(exit::NOT_INITIALISED)
        .stderr_has("to create the tracking table and apply the migrations");
    main(&["migrate", "up"]).code(exit::SUCCESS);

    db.connect()
        .batch_execute("DROP TABLE tb_confiture")
        .unwrap();
    main(&["migrate", "status"])
        .code(exit::NOT_INITIALISED)
        .stderr_has("already holds 1 object (table app.prices)");
    for args in [&["migrate", "up"][..], &["migrate", "up", "--dry-run"]] {
        main(args)
            .code(exit::DIVERGED)
            .stderr_has("already holds 1 object (table app.prices)");
    }
    assert_eq!(db.ledger(), None, "no ledger made");
    // The tenant is judged by its own schema alone.
    tenants
        .run_on(&db, &["migrate", "status", "--schema", "tenant_a"])
        .code(exit::SUCCESS);
}

/// h14 D5: a ledger that exists with no rows (confiture (Python) created it and a
/// no-transaction migration then failed; `DELETE FROM tb_confiture`) while the migrations'
/// objects are there: `up` ran every migration again. Refused as a missing ledger is, with
/// the same way out, which works on the empty ledger; an empty ledger in a database that
/// holds nothing is migrated.
#[test]
fn an_empty_ledger_beside_the_migrations_objects_is_not_migrated_again() {
    let db = TestDb::new("hi_emptyledger");
    let project = prices_and_cents();
    let amount = || prices_amount(&db);
    // Empty and nothing else there: a new database.
    project.up_on(&db).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down", "--steps", "2"])
        .code(exit::SUCCESS);
    assert_eq!(ledger(&db), Vec::<String>::new());
    project.up_on(&db).code(exit::SUCCESS);
    assert_eq!(amount(), "1000");

    db.connect()
        .batch_execute("DELETE FROM tb_confiture")
        .unwrap();
    project
        .status_on(&db)
        .stderr_has("the tracking table public.tb_confiture has no rows, but the database already holds 1 object (table public.prices)")
        .stderr_has("`cargo confiture migrate baseline --through <VERSION> --database-url <URL>`");
    for (args, anyway) in [
        (&["migrate", "up"][..], "migrate up --allow-non-empty"),
        (
            &["migrate", "up", "--single-transaction"],
            "migrate up --single-transaction --allow-non-empty",
        ),
        (
            &["migrate", "up", "--dry-run"],
            "migrate up --allow-non-empty --database-url <URL> --dry-run",
        ),
    ] {
        let anyway = if anyway.contains("--database-url") {
            anyway.to_string()
        } else {
            format!("{anyway} --database-url <URL>")
        };
        project
            .run_on(&db, args)
            .code(exit::DIVERGED)
            .stderr_has(
                "has no rows, but the database already holds 1 object (table public.prices)",
            )
            .stderr_has("nothing was run")
            .stderr_has(&format!("`cargo confiture {anyway}`"));
        assert_eq!(amount(), "1000", "{args:?}: nothing ran");
    }
    // The help's command, as it says it, on the empty ledger; then `up` told to.
    baseline_then_up_anyway(&project, &db, "DELETE FROM tb_confiture");
}

/// h14 D8: `status --format json` and a fleet's status kept the "holds objects" finding to
/// their text: a script read a database whose ledger was lost as a new one.
#[test]
fn status_json_and_fleet_status_say_what_a_database_without_its_history_holds() {
    let db = TestDb::new("hi_unrecjson");
    let project = Project::new();
    project.table("001_a");
    let json = project
        .status_json_on(&db)
        .code(exit::NOT_INITIALISED)
        .json();
    assert_eq!(json["unrecorded"], serde_json::Value::Null, "{json}");
    project.up_on(&db).code(exit::SUCCESS);
    db.connect()
        .batch_execute("DROP TABLE tb_confiture")
        .unwrap();
    let json = project
        .status_json_on(&db)
        .code(exit::NOT_INITIALISED)
        .json();
    assert_eq!(
        json["unrecorded"],
        serde_json::json!({"objects": ["table public.a"], "count": 1, "ledger_empty": false}),
        "{json}"
    );

    // Tenants: tenant_a lost its ledger, tenant_b is new.
    db.connect()
        .batch_execute("CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b")
        .unwrap();
    project
        .run_on(&db, &["migrate", "up", "--schema", "tenant_a"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute("DROP TABLE tenant_a.tb_confiture")
        .unwrap();
    let query = "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' ORDER BY 1";
    let text = project.run_on(&db, &["migrate", "status", "--schemas-query", query]);
    text.code(exit::NOT_INITIALISED)
        .stdout_has("! holds unrecorded objects")
        .stderr_has("the tracking table tenant_a.tb_confiture does not exist, but it already holds 1 object (table tenant_a.a)")
        .stderr_has("`cargo confiture migrate baseline --through <VERSION> --database-url <URL> --schema tenant_a`")
        .stderr_lacks("tenant_b.tb_confiture does not exist, but");
    let json = project
        .run_on(
            &db,
            &[
                "migrate",
                "status",
                "--schemas-query",
                query,
                "--format",
                "json",
            ],
        )
        .json();
    let targets = json["targets"].as_array().expect("targets");
    let unrecorded: Vec<_> = targets
        .iter()
        .map(|t| t["report"]["unrecorded"]["objects"].clone())
        .collect();
    assert_eq!(
        unrecorded,
        [
            serde_json::json!(["table tenant_a.a"]),
            serde_json::Value::Null
        ],
        "{json}"
    );
}

/// h17 F4: `up --target V` (or `--steps N`) refused on a database with objects and no ledger
/// suggested the unbounded `migrate up` and `migrate up --allow-non-empty`: followed, they applied
/// every pending migration, more than was asked. Every command of a refusal of `up` is the
/// request's own — its bound spelled as the files spell it, its `--allow-*` flags and
/// `--single-transaction` — with the flag the refusal asks for; the out-of-order refusal too.
#[test]
fn a_refused_limited_up_suggests_commands_that_keep_its_bound() {
    let db = TestDb::new("hints_bound");
    let project = Project::new();
    project.table("001_a");
    project.table("002_b");
    project.table("003_c");
    db.connect()
        .batch_execute("CREATE TABLE kept (id int)")
        .unwrap();
    // What a run over what is there would run: the migrations up to the bound, not every
    // migration, when the `up` is bounded.
    let refusal = |target: &str| {
        let runs = match target.split(' ').nth(1) {
            Some(version) => format!("the migrations up to {version}"),
            None => "every migration".to_string(),
        };
        format!(
            "help: if its ledger was lost (dropped, emptied, left out of a restore) or its schema \
             was built by other means, check which migrations the schema already has and record \
             them without running them: `cargo confiture migrate baseline --through <VERSION> \
             --database-url <URL>` (the newest one it has), then `cargo confiture migrate up \
             {target} --database-url <URL>` applies the rest; to run {runs} over what is \
             there anyway: `cargo confiture migrate up {target} --allow-non-empty --database-url \
             <URL>`"
        )
    };
    for (args, target) in [
        (&["--target", "2"][..], "--target 002"),
        (&["--steps", "1"], "--target 001"),
        (&["--steps", "2", "--dry-run"], "--target 002"),
        (
            &[
                "--target",
                "2",
                "--single-transaction",
                "--allow-destructive",
            ],
            "--target 002 --allow-destructive --single-transaction",
        ),
    ] {
        let run = project.run_on(&db, &[&["migrate", "up"][..], args].concat());
        run.code(exit::DIVERGED).stderr_has(&format!(
            "running the migrations up to {} over it could apply them twice",
            target.split(' ').nth(1).unwrap_or_default()
        ));
        assert_eq!(
            run.help_line(),
            confiture_tests::previewed(&refusal(target), args),
            "{args:?}"
        );
        assert_eq!(db.ledger(), None, "{args:?}: nothing ran");
    }
    // Unbounded, the commands stay unbounded.
    let run = project.up_on(&db);
    run.code(exit::DIVERGED)
        .stderr_has("running every migration over it could apply them twice");
    assert_eq!(run.help_line(), refusal("").replace("up  --", "up --"));
    // Followed, the suggestion applies what was asked, and no more.
    let suggested =
        "`cargo confiture migrate up --target 002 --allow-non-empty --database-url <URL>`";
    project
        .paste(&suggested.replace("<URL>", &db.url()))
        .code(exit::SUCCESS);
    assert_eq!(ledger(&db), ["001:a", "002:b"].map(String::from).to_vec());

    // The out-of-order refusal of a bounded `up`: `--allow-out-of-order` with the bound.
    let db = TestDb::new("hints_bound_ooo");
    let project = applied(&db, &["001_a", "002_b", "003_c"]);
    // 002 pending below the applied 003 (as a merged branch's would be).
    db.connect()
        .batch_execute("DELETE FROM tb_confiture WHERE version = '002'; DROP TABLE b")
        .unwrap();
    project.table("004_d");
    project.table("005_e");
    for (args, command) in [
        (
            &["--target", "4"][..],
            "migrate up --target 004 --allow-out-of-order",
        ),
        (
            &["--steps", "1"],
            "migrate up --steps 1 --allow-out-of-order",
        ),
        (
            &["--single-transaction"],
            "migrate up --single-transaction --allow-out-of-order",
        ),
    ] {
        let run = project.run_on(&db, &[&["migrate", "up"][..], args].concat());
        run.code(exit::DIVERGED);
        let help = run.help_line();
        assert!(
            help.ends_with(&format!(
                "apply it here with `--allow-out-of-order` (`cargo confiture {command} \
                 --database-url <URL>`)"
            )),
            "{args:?}: {help}"
        );
    }
    project
        .paste(&format!(
            "`cargo confiture migrate up --target 004 --allow-out-of-order --database-url {}`",
            db.url()
        ))
        .code(exit::SUCCESS);
    assert_eq!(
        ledger(&db),
        ["001:a", "003:c", "002:b", "004:d"]
            .map(String::from)
            .to_vec()
    );
}

/// The first `UPDATE ...;` statement a help names after `after`, run on `db`.
fn paste_update(db: &TestDb, text: &str, after: &str) {
    let from = text
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} in\n{text}"));
    let start = from + text[from..].find("`UPDATE ").expect("an UPDATE is named") + 1;
    let len = text[start..].find('`').expect("its closing backquote");
    db.connect()
        .batch_execute(&text[start..start + len])
        .expect("the UPDATE the help names");
}

/// Every command that writes refuses an ambiguous row (exit 7) and changes nothing: `up` (also
/// with the flags that let a history through), `down`, `baseline`, `reinit`.
fn every_command_refuses_ambiguous(db: &TestDb, project: &Project, id: &str) {
    let before = ledger(db);
    let ran = runs(db);
    for args in [
        &["migrate", "up"][..],
        &[
            "migrate",
            "up",
            "--allow-out-of-order",
            "--allow-newer-database",
        ],
        &["migrate", "down", "--target", "0", "--yes"],
        &["migrate", "baseline", "--through", "002"],
        &["migrate", "reinit"],
        &["migrate", "reinit", "--through", "001"],
    ] {
        project
            .run_on(db, args)
            .code(exit::DIVERGED)
            .stderr_has(&format!("ambiguous: {id}"))
            .stderr_has("nothing tells which file an ambiguous row records");
        assert_eq!(ledger(db), before, "{args:?}");
        assert_eq!(runs(db), ran, "{args:?}");
    }
    let run = project.run_on(db, &["migrate", "up", "--format", "json"]);
    run.code(exit::DIVERGED);
    let diverged = run.json()["errors"][0]["diverged"].clone();
    let found = diverged
        .as_array()
        .and_then(|ds| ds.iter().find(|d| d["state"] == "ambiguous"))
        .unwrap_or_else(|| panic!("an ambiguous entry\n{}", run.dump()));
    assert_eq!(found["migration"], id, "{}", run.dump());
}

/// F10: a ledger row with no checksum (written by hand, or by an older tool) whose version's
/// file has another name now (`002_add_users` ran, the files are `002_add_orders`, with or
/// without an `003_add_users`) was `applied`: `reinit` renamed the row to `add_orders`, which
/// never ran, and `up` ran `add_users` a second time. Nothing tells whether it was renamed or
/// replaced: the row is `ambiguous` in `status` (exit 7, JSON too), with a help that names the
/// statement recording the file that ran, and every command that writes refuses it. Pasted,
/// that statement settles it.
#[test]
fn a_row_without_checksum_whose_file_has_another_name_is_ambiguous_everywhere() {
    for also_renumbered in [false, true] {
        let db = TestDb::new("hi_ambig_nosum");
        let project = counted(&db, &["002_add_users"]);
        db.connect()
            .batch_execute("UPDATE tb_confiture SET checksum = NULL WHERE version = '002'")
            .expect("a row without checksum");
        project.remove("db/migrations/002_add_users.up.sql");
        project.remove("db/migrations/002_add_users.down.sql");
        project.migration(
            "002_add_orders",
            "INSERT INTO runs VALUES ('002_add_orders');\n",
            "DELETE FROM runs WHERE name = '002_add_orders';\n",
        );
        if also_renumbered {
            project.migration(
                "003_add_users",
                "INSERT INTO runs VALUES ('002_add_users');\n",
                "DELETE FROM runs WHERE name = '002_add_users';\n",
            );
        }

        let run = project.status_on(&db);
        run.code(exit::DIVERGED)
            .stdout_has("1 ambiguous")
            .stderr_has("if `002_add_orders` is the migration that ran as 002_add_users")
            .stderr_has("WHERE version = '002';`")
            .stderr_lacks("--allow-out-of-order");
        let row = run.stdout_line("002_add_users");
        assert!(row.contains("! ambiguous"), "{}", run.dump());
        if also_renumbered {
            run.stderr_has("if `003_add_users` is the migration that ran as 002_add_users");
        }
        let json = project.status_json_on(&db);
        json.code(exit::DIVERGED);
        let doc = json.json();
        assert_eq!(doc["summary"]["ambiguous"], 1, "{}", json.dump());
        assert_eq!(
            doc["ambiguous"],
            serde_json::json!(["002"]),
            "{}",
            json.dump()
        );
        assert_eq!(doc["summary"]["unverified"], 0, "{}", json.dump());
        let line = doc["migrations"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["version"] == "002"))
            .unwrap_or_else(|| panic!("002 listed\n{}", json.dump()));
        assert_eq!(
            (&line["name"], &line["status"]),
            (&"add_users".into(), &"ambiguous".into()),
            "{}",
            json.dump()
        );
        every_command_refuses_ambiguous(&db, &project, "002_add_users");

        // It was renamed: the statement the help gives records it, and nothing runs again.
        paste_update(&db, &run.stderr, "if `002_add_orders`");
        let expected = if also_renumbered {
            exit::PENDING
        } else {
            exit::SUCCESS
        };
        project.status_on(&db).code(expected);
        assert_eq!(ledger(&db)[1], "002:add_orders");
        assert_eq!(runs(&db), [("002_add_users".to_string(), 1)]);
    }
}

/// F12: applied migrations renumbered and one of them edited too (a swap, `002_a` and `003_b`
/// now `002_b` and `003_a` with `003_a` edited; a chain; or the files deleted and a new
/// migration given the name): the row's file was `missing` and the file of its name pending,
/// so `reinit` forgot the row and `up --allow-out-of-order` ran `a` a second time. The row is
/// `ambiguous`, tied to the file of its name (neither pending nor out of order), every
/// command that writes refuses it, and no help names a flag that would run it; the statement
/// the help gives, pasted, makes it renumbered, which `reinit` records without running it.
#[test]
fn a_renumbered_and_edited_migration_is_ambiguous_and_never_runs_twice() {
    // (renames, edited, new migration, the ambiguous row, its file)
    type Case = (
        &'static [(&'static str, &'static str)],
        &'static str,
        Option<&'static str>,
    );
    let swap: Case = (&[("002_a", "003_a"), ("003_b", "002_b")], "003_a", None);
    let chain: Case = (
        &[("003_b", "004_b"), ("002_a", "003_a")],
        "003_a",
        Some("002_new"),
    );
    let swap_other_edited: Case = (&[("002_a", "003_a"), ("003_b", "002_b")], "002_b", None);
    for (case, (moves, edited, new)) in [swap, chain, swap_other_edited].into_iter().enumerate() {
        let db = TestDb::new("hi_ambig_edit");
        let project = counted(&db, &["002_a", "003_b"]);
        for (from, _) in moves {
            renumber(&project, from, &format!("x{from}"));
        }
        for (from, to) in moves {
            renumber(&project, &format!("x{from}"), to);
        }
        let path = format!("db/migrations/{edited}.up.sql");
        let text = project.read(&path);
        project.write(&path, format!("{text}-- edited\n"));
        if let Some(new) = new {
            project.migration(
                new,
                &format!("INSERT INTO runs VALUES ('{new}');\n"),
                &format!("DELETE FROM runs WHERE name = '{new}';\n"),
            );
        }
        let row = if edited == "003_a" { "002_a" } else { "003_b" };

        let run = project.status_on(&db);
        run.code(exit::DIVERGED)
            .stdout_has("1 ambiguous")
            .stderr_has(&format!(
                "if `{edited}` is the migration that ran as {row} (renumbered and edited since)"
            ))
            .stderr_lacks("--allow-newer-database");
        if new.is_none() {
            // Nothing is out of order: no flag is named that would run a file.
            run.stderr_lacks("--allow-out-of-order");
        } else {
            // The new migration at the number the row left is no file it may record.
            run.stderr_lacks(&format!("if `{}` is", new.unwrap_or_default()));
        }
        let doc = project.status_json_on(&db).json();
        assert_eq!(doc["summary"]["ambiguous"], 1, "{case}: {doc}");
        assert_eq!(doc["summary"]["missing"], 0, "{case}: {doc}");
        let unrecorded = match new {
            Some(_) => serde_json::json!(["002"]),
            None => serde_json::json!([]),
        };
        assert_eq!(doc["pending"], unrecorded, "{case}: {doc}");
        every_command_refuses_ambiguous(&db, &project, row);

        // The edit accepted: renumbered, recorded by `reinit`, never run again.
        paste_update(&db, &run.stderr, &format!("if `{edited}`"));
        project
            .status_on(&db)
            .code(exit::DIVERGED)
            .stdout_lacks("ambiguous")
            .stdout_has("renumbered");
        project
            .run_on(&db, &["migrate", "reinit"])
            .code(exit::SUCCESS)
            .stdout_lacks("forget");
        let ran = ["002_a", "003_b"].into_iter().chain(new).collect();
        up_runs_each_once(&project, &db, ran, &format!("{case}: "));
    }
}

/// F13: after a renumbering, the renames the help gave led into a gap (C004). A chain (`002_b`,
/// `003_c` now `003_b`, `004_c`): C004's help in `status` named the first one's rename alone,
/// which moved the gap up (`003` missing), and `status` offered `reinit`, which refuses while
/// the gap is there (exit 5). A migration moved down into a deleted one's number (`002_b`
/// deleted, `003_c` now `002_c`): the rename back left `002` without a file. Now C004's help
/// names every rename, in order; `reinit` is offered only where no gap refuses it; and where a rename back would leave a gap, `reinit`, which
/// records the new number, is the help. Followed, each help leaves nothing to fix.
#[test]
fn the_help_of_a_renumbering_never_leads_into_a_gap() {
    // A chain leaving a gap where it started.
    let db = TestDb::new("hi_renumchain");
    let project = counted(&db, &["002_b", "003_c"]);
    renumber(&project, "003_c", "004_c");
    renumber(&project, "002_b", "003_b");
    let all = "rename the renumbered migrations back together, in this order: `mv \
               db/migrations/003_b.up.sql db/migrations/002_b.up.sql && mv \
               db/migrations/003_b.down.sql db/migrations/002_b.down.sql && mv \
               db/migrations/004_c.up.sql db/migrations/003_c.up.sql && mv \
               db/migrations/004_c.down.sql db/migrations/003_c.down.sql`";
    let run = project.status_on(&db);
    run.code(exit::INVALID)
        .stderr_has(all)
        .stderr_lacks("reinit");
    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::INVALID);
    let doc = project.status_json_on(&db).json();
    let gap = doc["diagnostics"]
        .as_array()
        .and_then(|ds| ds.iter().find(|d| d["code"] == "C004"))
        .unwrap_or_else(|| panic!("C004 reported: {doc}"));
    let help = gap["help"].as_str().unwrap_or_default();
    assert!(help.contains(all), "{doc}");
    // C004's help, pasted: no gap is left, nothing to fix.
    paste_rename_back(&project, help);
    project.status_on(&db).code(exit::SUCCESS);

    // Moved down into a deleted migration's number: renamed back, `002` would have no file.
    let db = TestDb::new("hi_renumdown");
    let project = counted(&db, &["002_b", "003_c"]);
    project.remove("db/migrations/002_b.up.sql");
    project.remove("db/migrations/002_b.down.sql");
    renumber(&project, "003_c", "002_c");
    let run = project.status_on(&db);
    run.code(exit::DIVERGED)
        .stderr_has(
            "renaming it back would leave version 002 without a file (a gap, C004, which \
             `migrate up` refuses) unless the files of `002_b` are restored too: `cargo \
             confiture migrate reinit --database-url <URL>` records it under its new number",
        )
        .stderr_lacks("`mv ");
    project.up_on(&db).code(exit::DIVERGED).stderr_lacks("`mv ");
    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS);
    assert_eq!(ledger(&db), ["001:runs", "002:c"]);
    project.up_on(&db).code(exit::SUCCESS);
    project.status_on(&db).code(exit::SUCCESS);
    assert_eq!(
        runs(&db),
        [("002_b".to_string(), 1), ("003_c".to_string(), 1)]
    );
}

/// Two branches merged with one number: `006_add_tags` applied, `006_add_dup` added beside it.
/// The set keeps the first pair by name (`006_add_dup`), and the history matched the applied
/// row to it: `status` said `006_add_tags` was `replaced` ("its files are gone") while its
/// files were there, unchanged, and `reinit` forgot its row, so renumbering it as told made
/// the next `up` run it a second time. The row records the pair with its name and checksum,
/// whichever the set keeps; and `reinit`, like `up`, refuses a directory with two migrations
/// of one version, writing nothing.
#[test]
fn an_applied_migration_sharing_its_version_with_a_new_one_stays_applied() {
    for (applied, added) in [("add_tags", "add_dup"), ("add_dup", "add_tags")] {
        let db = TestDb::new("hi_dup_version");
        let project = Project::new();
        project.table("001_t1");
        project.table(&format!("006_{applied}"));
        // Versions 002..005, so that the duplicate is the only problem.
        for v in 2..=5 {
            project.table(&format!("00{v}_t{v}"));
        }
        project.up_on(&db).code(exit::SUCCESS);
        project.table(&format!("006_{added}"));
        let before = row_details(&db);

        let status = project.status_on(&db);
        status
            .code(exit::INVALID)
            .stderr_lacks("replaced")
            .stderr_lacks("files are gone")
            .stdout_lacks("replaced");
        let doc = project.status_json_on(&db).json();
        let row = &doc["migrations"][5];
        assert_eq!(row["name"], applied, "{doc}");
        assert_eq!(row["status"], "applied", "{doc}");

        for args in [
            &["migrate", "reinit", "--dry-run"][..],
            &["migrate", "reinit"],
        ] {
            project
                .run_on(&db, args)
                .code(exit::INVALID)
                .stderr_has("C003")
                .stdout_lacks("forget");
            assert_eq!(row_details(&db), before, "{args:?} wrote nothing");
        }
    }
}

/// An applied migration edited to change its schema (a column added to its `CREATE TABLE`):
/// `up` and `status` said "if the edits were intended, `reinit` accepts their checksums", and
/// the user, who did intend the column, ran it: the ledger recorded the new text as applied,
/// the column was never made, and every later `status` was clean. The help offers `reinit`
/// for edits that change nothing that runs only, and a new migration for a schema change;
/// `reinit` and its dry run say that the new text is recorded without being run.
#[test]
fn an_edited_applied_migration_is_never_offered_reinit_as_a_way_to_apply_the_edit() {
    let db = TestDb::new("hi_edit_help");
    let project = applied(&db, &["001_t1", "002_t2"]);
    project.write(
        "db/migrations/002_t2.up.sql",
        "CREATE TABLE t2 (id int, added_col text NOT NULL);\n",
    );

    let up = project.up_on(&db);
    let status = project.status_on(&db);
    for run in [&up, &status] {
        run.code(exit::DIVERGED)
            .stderr_lacks("if the edits were intended")
            .stderr_lacks("accept")
            .stderr_has("only if the edits change nothing that runs (comments, whitespace,")
            .stderr_has("records the new text as applied without running it")
            .stderr_has(
                "schema change goes in a new migration (`cargo confiture migrate generate NAME`)",
            );
    }

    let said = "the new text of 002_t2 (edited since it ran)";
    project
        .run_on(&db, &["migrate", "reinit", "--dry-run"])
        .code(exit::SUCCESS)
        .stdout_has(&format!(
            "{said} would be recorded as applied without being run"
        ))
        .stdout_has("the database keeps what the text that ran did")
        // A suggested command as every other: whole, with the run's selection.
        .stdout_has(
            "(a schema change goes in a new migration: `cargo confiture migrate generate NAME \
             --dry-run`)",
        );
    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS)
        .stdout_has(&format!("{said} is recorded as applied without being run"));
    let doc = project
        .run_on(&db, &["migrate", "reinit", "--dry-run", "--format", "json"])
        .json();
    // Accepted now, the row is current: nothing edited is left to say.
    assert!(
        doc["rows"]
            .as_array()
            .is_some_and(|rows| rows.iter().all(|r| r["edited"] == false)),
        "{doc}"
    );
}

/// `reinit --through V` below the newest applied row forgot the applied rows above V, whose
/// files are on disk, without a word of confirmation: their tables existed, the ledger called
/// them pending, and the next `up` ran them again (`relation "t3" already exists`; a data
/// migration would have run twice), while forgetting every row needs `--yes`. Refused without
/// `--yes` (exit 64, its dry run too, writing nothing), naming each row and the way back
/// (`migrate baseline --through` the newest of them), which the report repeats once they are
/// forgotten; and that way back works.
#[test]
fn reinit_through_below_the_newest_applied_row_needs_yes_to_forget_what_ran() {
    let db = TestDb::new("hi_through_yes");
    let project = Project::new();
    for v in 1..=4 {
        project.table(&format!("00{v}_t{v}"));
    }
    project.up_on(&db).code(exit::SUCCESS);
    let before = row_details(&db);
    each_writes_nothing(
        &project,
        &db,
        &[
            &["migrate", "reinit", "--through", "002"][..],
            &["migrate", "reinit", "--through", "002", "--dry-run"],
        ],
        |args, run| {
            run.code(exit::USAGE)
                .stderr_has("would forget 2 rows above `--through` whose migrations ran")
                .stderr_has("003_t3, applied")
                .stderr_has("004_t4, applied")
                .stderr_has("add --yes")
                .stderr_has(&confiture_tests::previewed(
                    "`cargo confiture migrate baseline --through 004 --database-url <URL>`",
                    args,
                ));
        },
    );
    // hwd 2: one row is "it", never "them".
    project
        .run_on(&db, &["migrate", "reinit", "--through", "003"])
        .code(exit::USAGE)
        .stderr_has(
            "would forget 1 row above `--through` whose migration ran and whose file is on disk: \
             the ledger would call it pending and the next `migrate up` would run it again",
        )
        .stderr_has("to keep it, give `--through` its version (004)")
        .stderr_has("to forget it anyway add --yes")
        .stderr_lacks("them");
    assert_eq!(row_details(&db), before);
    // Through the newest applied row: nothing above it to forget, nothing to confirm.
    project
        .run_on(&db, &["migrate", "reinit", "--through", "004"])
        .code(exit::SUCCESS);
    assert_eq!(row_details(&db), before);

    // The way back is a suggested command as every other: whole, on this database (its
    // report's text named the default environment's, and dropped a preview's `--dry-run`).
    project
        .run_on(
            &db,
            &[
                "migrate",
                "reinit",
                "--through",
                "002",
                "--yes",
                "--dry-run",
            ],
        )
        .code(exit::SUCCESS)
        .stdout_has(
            "(`cargo confiture migrate baseline --through 004 --database-url <URL> --dry-run` \
             records them again without running them)",
        );
    project
        .run_on(&db, &["migrate", "reinit", "--through", "002", "--yes"])
        .code(exit::SUCCESS)
        .stdout_has(
            "(`cargo confiture migrate baseline --through 004 --database-url <URL>` records them \
             again without running them)",
        );
    assert_eq!(ledger(&db), ["001:t1", "002:t2"]);
    project
        .run_on(&db, &["migrate", "baseline", "--through", "004"])
        .code(exit::SUCCESS);
    assert_eq!(ledger(&db), ["001:t1", "002:t2", "003:t3", "004:t4"]);
    project
        .up_on(&db)
        .code(exit::SUCCESS)
        .stdout_has("already up to date");
}

/// `reinit --through V`'s refusal to forget rows above V whose files are on disk said of
/// every such row "whose migrations ran", deciding by the history's state: a row `baseline`
/// or `reinit` wrote records its migration without running it. How each row was written
/// (its `RowKind`, as `down` reads it) decides the words: rows recorded without running are
/// named so, and `migrate up` "runs them again" only when every one of them ran.
#[test]
fn reinit_through_does_not_say_rows_recorded_without_running_ran() {
    let db = TestDb::new("hi_through_baseline_rows");
    let project = Project::new();
    for v in 1..=4 {
        project.table(&format!("00{v}_t{v}"));
    }
    project
        .run_on(&db, &["migrate", "up", "--target", "002"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "baseline", "--through", "3"])
        .code(exit::SUCCESS);
    // Only a baseline row above `--through`: none of them ran.
    each_writes_nothing(
        &project,
        &db,
        &[
            &["migrate", "reinit", "--through", "2"][..],
            &["migrate", "reinit", "--through", "2", "--dry-run"],
        ],
        |_, run| {
            run.code(exit::USAGE)
                .stderr_has(
                    "would forget 1 row above `--through` whose file is on disk, recorded \
                     without running its migration: the ledger would call it pending and the \
                     next `migrate up` would run it",
                )
                // hwd 2: one row is "it", never "them".
                .stderr_lacks("them")
                .stderr_has(
                    "003_t3, recorded by a baseline (`migrate baseline`) without running it",
                )
                .stderr_lacks("whose migrations ran")
                .stderr_lacks("003_t3, applied")
                .stderr_has("add --yes");
        },
    );
    // One that ran and one that did not.
    project.up_on(&db).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "reinit", "--through", "2"])
        .code(exit::USAGE)
        .stderr_has(
            "would forget 2 rows above `--through` whose files are on disk, 1 of them recorded \
             without running its migration: the ledger would call them pending and the next \
             `migrate up` would run them",
        )
        .stderr_has("to keep them, give `--through` the newest of them (004)")
        .stderr_has("003_t3, recorded by a baseline (`migrate baseline`) without running it")
        .stderr_has("004_t4, applied")
        .stderr_lacks("whose migrations ran")
        .stderr_lacks("run them again");
    // Rows `reinit --through` recorded, forgotten by a lower one.
    let db = TestDb::new("hi_through_reinit_rows");
    project
        .run_on(&db, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "reinit", "--through", "3"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "reinit", "--through", "1"])
        .code(exit::USAGE)
        .stderr_has("would forget 2 rows above `--through` whose files are on disk, recorded")
        .stderr_has("002_t2, recorded by `migrate reinit` without running it")
        .stderr_has("003_t3, recorded by `migrate reinit` without running it")
        .stderr_lacks("whose migrations ran");
}

/// The help of two migrations sharing a version (C003) picked the second by name as the one to
/// renumber — `006_add_tags`, the applied one — in `lint`, `up` and `status` alike: followed,
/// the applied migration became `renumbered` (refused), or with `reinit` ran again. `lint` and
/// `up`, which read no ledger here, name both and say the files alone do not tell; `status`
/// names the one this database did not apply, and the applied one to leave, whichever sorts
/// first; on a database that applied neither, it says so.
#[test]
fn a_duplicate_version_help_never_names_the_applied_migration_to_renumber() {
    for (applied, added) in [("add_tags", "add_dup"), ("add_dup", "add_tags")] {
        let db = TestDb::new("hi_dup_help");
        let project = Project::new();
        project.table("001_t1");
        project.table(&format!("002_{applied}"));
        project.up_on(&db).code(exit::SUCCESS);
        project.table(&format!("002_{added}"));

        let both = format!("`002_{added}` → `003_{added}`");
        let either = format!("`002_{applied}` → `003_{applied}`");
        for run in [project.run(&["lint"]), project.up_on(&db)] {
            run.code(exit::INVALID)
                .stderr_has(&both)
                .stderr_has(&either)
                .stderr_has("the files alone do not tell which one ran");
        }
        project
            .status_on(&db)
            .code(exit::INVALID)
            .stderr_has(&format!(
                "`002_{added}` reuses version 002 of `002_{applied}`, which this database \
                 applied: renumber `002_{added}`"
            ))
            .stderr_has(&format!("leave `002_{applied}` as it is"))
            .stderr_lacks(&format!("renumber `002_{applied}`"));
        // A database that applied neither: `status` says so, never that the files do not
        // tell (it is the command that tells).
        let fresh = TestDb::new("hi_dup_fresh");
        project
            .status_on(&fresh)
            .code(exit::INVALID)
            .stderr_has("neither `002_add_dup` nor `002_add_tags` is applied here")
            .stderr_lacks("the files alone do not tell");
    }
}

/// A pending migration below the newest applied one whose changes are in the database already:
/// its ledger row was lost (a restore, a manual cleanup). The help offered only renumbering it
/// or `--allow-out-of-order`, both of which run it again (a data migration twice); it now
/// first says to check the schema and, when its changes are there, to record it without
/// running it with the `baseline --through` that does so — followed, the ledger matches again
/// and nothing ran twice.
#[test]
fn an_out_of_order_migration_whose_row_was_lost_is_recorded_by_the_baseline_the_help_names() {
    let db = TestDb::new("hi_lost_row");
    let project = applied(&db, &["001_a", "002_b", "003_c"]);
    db.connect()
        .batch_execute("DELETE FROM tb_confiture WHERE version = '002'")
        .expect("lose the row");
    let suggested = "`cargo confiture migrate baseline --through 002";
    for command in ["status", "up"] {
        project
            .run_on(&db, &["migrate", command])
            .code(exit::DIVERGED)
            .stderr_has("its ledger row was lost")
            .stderr_has(suggested);
    }
    project
        .run_on(&db, &["migrate", "baseline", "--through", "002"])
        .code(exit::SUCCESS);
    let mut recorded = ledger(&db);
    recorded.sort();
    assert_eq!(recorded, ["001:a", "002:b", "003:c"]);
    project.status_on(&db).code(exit::SUCCESS);
}

/// A checkout that converts line endings (git's `core.autocrlf`) changes the checksum of every
/// applied migration: `up`, `down` and `status` say the file differs only by its line endings,
/// and which way. Applied from LF and checked out CRLF, this checkout converted it: check it out
/// again, never `reinit` (it would record the CRLF bytes every other checkout sees modified).
/// Applied from CRLF (a Windows checkout) and now LF, the file is what the repository holds: a
/// new checkout changes nothing, and `reinit`, recording the file's bytes, is the way on. A
/// file really edited beside them still gets its own help.
/// An applied up file whose only change is a UTF-8 byte-order mark — removed (as C014
/// advises) or added by an editor, alone or with its line endings converted — was called
/// edited ("restore the modified files"), where a CRLF conversion was told apart. It is named
/// so: a mark removed is recorded by the `reinit` the help suggests (which takes it without
/// `--yes`), a mark added is to be saved away again, never recorded.
#[test]
fn a_file_that_differs_only_by_its_byte_order_mark_is_named_so_with_its_way_on() {
    let db = TestDb::new("hi_bom");
    let project = Project::new();
    project.migration(
        "001_t1",
        "\u{feff}CREATE TABLE t1 (id int);\n",
        "DROP TABLE t1;\n",
    );
    project.migration("002_t2", "CREATE TABLE t2 (id int);\n", "DROP TABLE t2;\n");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project.write("db/migrations/001_t1.up.sql", "CREATE TABLE t1 (id int);\n");
    project.write(
        "db/migrations/002_t2.up.sql",
        "\u{feff}CREATE TABLE t2 (id int);\r\n",
    );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::DIVERGED)
        .stderr_has("it differs only by its byte-order mark")
        .stderr_lacks("restore the modified files");
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::DIVERGED)
        .stderr_has("002 differs only by a UTF-8 byte-order mark")
        .stderr_has("never `migrate reinit` it")
        .stderr_has("001 differs only by a UTF-8 byte-order mark")
        .stderr_has("`cargo confiture migrate reinit")
        .stderr_lacks("restore the modified files");
    let run = project.run_on(&db, &["migrate", "status", "--format", "json"]);
    assert_eq!(
        run.json()["modified_line_endings"],
        serde_json::json!(["001", "002"])
    );
    // A mark removed is no CRLF line ending: its own key (the way on is the same, `reinit`
    // records the file).
    assert_eq!(run.json()["modified_applied_crlf"], serde_json::json!([]));
    assert_eq!(
        run.json()["modified_bom_removed"],
        serde_json::json!(["001"])
    );
    // The mark removed alone: the suggested `reinit` records the file, no `--yes` asked.
    project.write("db/migrations/002_t2.up.sql", "CREATE TABLE t2 (id int);\n");
    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::SUCCESS);
}

#[test]
fn a_file_that_differs_only_by_line_endings_is_named_so_with_the_way_on_of_its_direction() {
    let db = TestDb::new("hi_crlf");
    let project = Project::new();
    project.migration("001_t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n");
    project.migration(
        "002_t2",
        "-- two\r\nCREATE TABLE t2 (id int);\r\n",
        "DROP TABLE t2;\n",
    );
    project.up_on(&db).code(exit::SUCCESS);
    // 001 applied from LF, now CRLF; 002 applied from CRLF, now LF.
    project.write(
        "db/migrations/001_t1.up.sql",
        "CREATE TABLE t1 (id int);\r\n",
    );
    project.write(
        "db/migrations/002_t2.up.sql",
        "-- two\nCREATE TABLE t2 (id int);\n",
    );
    let to_crlf = "differs only by line endings (CRLF): your checkout converted it";
    let to_lf = "differs only by line endings: the ledger records it with CRLF, the file has LF";
    // `up` names both, `down` the one it would roll back.
    for (args, file, said) in [
        (
            &["migrate", "up"][..],
            "001_t1.up.sql) was applied",
            to_crlf,
        ),
        (&["migrate", "up"][..], "002_t2.up.sql) was applied", to_lf),
        (
            &["migrate", "down"][..],
            "002_t2.up.sql) was applied",
            to_lf,
        ),
    ] {
        project
            .run_on(&db, args)
            .code(exit::DIVERGED)
            .stderr_has(file)
            .stderr_has(said)
            .stderr_has("`*.sql -text`");
    }
    // Both directions: each its way on.
    for command in ["up", "status"] {
        project
            .run_on(&db, &["migrate", command])
            .code(exit::DIVERGED)
            .stderr_has("was converted by your checkout")
            .stderr_has("check it out again")
            .stderr_has("a new checkout changes nothing")
            .stderr_has("`cargo confiture migrate reinit");
    }
    let run = project.status_json_on(&db);
    assert_eq!(
        run.json()["modified_line_endings"],
        serde_json::json!(["001", "002"])
    );
    assert_eq!(
        run.json()["modified_applied_crlf"],
        serde_json::json!(["002"])
    );

    // Applied from LF, now CRLF, alone: never sent to reinit.
    project.write(
        "db/migrations/002_t2.up.sql",
        "-- two\r\nCREATE TABLE t2 (id int);\r\n",
    );
    for command in ["up", "status"] {
        project
            .run_on(&db, &["migrate", command])
            .code(exit::DIVERGED)
            .stderr_has("check it out again")
            .stderr_lacks("a new checkout changes nothing")
            .stderr_lacks("`cargo confiture migrate reinit");
    }

    // Applied from CRLF, now LF, alone: checking out again changes nothing; the help's
    // `reinit` records the file's bytes, and the history matches again.
    project.write("db/migrations/001_t1.up.sql", "CREATE TABLE t1 (id int);\n");
    project.write(
        "db/migrations/002_t2.up.sql",
        "-- two\nCREATE TABLE t2 (id int);\n",
    );
    for command in ["up", "status"] {
        project
            .run_on(&db, &["migrate", command])
            .code(exit::DIVERGED)
            .stderr_has("a new checkout changes nothing")
            .stderr_has("`cargo confiture migrate reinit")
            .stderr_lacks("check it out again")
            .stderr_lacks("never `migrate reinit`");
    }
    project
        .run_on(&db, &["migrate", "reinit", "--yes"])
        .code(exit::SUCCESS);
    project.status_on(&db).code(exit::SUCCESS);

    // A real edit beside a conversion: its help (which may offer reinit) and the line endings' both.
    project.write(
        "db/migrations/001_t1.up.sql",
        "CREATE TABLE t1 (id int);\r\n",
    );
    project.write(
        "db/migrations/002_t2.up.sql",
        "-- two, edited\nCREATE TABLE t2 (id int);\n",
    );
    project
        .up_on(&db)
        .code(exit::DIVERGED)
        .stderr_has("`*.sql -text`")
        .stderr_has("`cargo confiture migrate reinit")
        .stderr_has(to_crlf);
    let run = project.status_json_on(&db);
    assert_eq!(
        run.json()["modified_line_endings"],
        serde_json::json!(["001"])
    );
    assert_eq!(run.json()["modified_applied_crlf"], serde_json::json!([]));
}

/// 002 applied from CRLF and converted to LF since, 003 really edited. `status` (exit 7)
/// said "a file that differs only by line endings ... `migrate reinit` records the file as
/// applied without running it (nothing that runs changed)", never which file, and `reinit`
/// (no `--yes`) then recorded 003's edit too: `status` up to date, column b never made. The
/// help names which file is which and asks for 003 to be restored first; `reinit` refuses
/// (exit 64, dry run too, nothing written) naming 003 as edited, unless `--yes`.
#[test]
fn following_the_line_endings_help_never_records_a_real_edit_unasked() {
    let db = TestDb::new("hcr_le_edit");
    let project = Project::new();
    project.migration("001_t1", "CREATE TABLE t1 (id int);\n", "DROP TABLE t1;\n");
    project.migration(
        "002_add_thing",
        "CREATE TABLE thing(id int);\r\n",
        "DROP TABLE thing;\n",
    );
    project.migration(
        "003_with_space",
        "CREATE TABLE t3(a int);",
        "DROP TABLE t3;\n",
    );
    project.up_on(&db).code(exit::SUCCESS);
    project.write(
        "db/migrations/002_add_thing.up.sql",
        "CREATE TABLE thing(id int);\n",
    );
    project.write(
        "db/migrations/003_with_space.up.sql",
        "CREATE TABLE t3(a int, b int);\n",
    );
    for command in ["status", "up"] {
        project
            .run_on(&db, &["migrate", command])
            .code(exit::DIVERGED)
            .stderr_has("002 differs only by line endings")
            .stderr_has("restore the modified files of 003 from version control")
            .stderr_has("restore 003 first, then")
            .stderr_lacks("nothing that runs changed");
    }
    let before = ledger_checksums(&db);
    for args in [
        &["migrate", "reinit"][..],
        &["migrate", "reinit", "--dry-run"],
    ] {
        project
            .run_on(&db, args)
            .code(exit::USAGE)
            .stderr_has(
                "reinit would record the edited text of 003_with_space as applied without \
                 running it, beside 002_add_thing, which differs from what ran only by line \
                 endings",
            )
            .stderr_has("restore 003_with_space from version control first");
        assert_eq!(ledger_checksums(&db), before, "{args:?} wrote nothing");
    }
    // Restored, the line endings alone are accepted, as the help says.
    project.write(
        "db/migrations/003_with_space.up.sql",
        "CREATE TABLE t3(a int);",
    );
    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS);
    project.status_on(&db).code(exit::SUCCESS);
}

fn ledger_checksums(db: &TestDb) -> Vec<(String, String)> {
    db.connect()
        .query(
            "SELECT version, checksum FROM tb_confiture ORDER BY version",
            &[],
        )
        .expect("the ledger")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// A file applied with lone CR line endings and converted to LF since (as C016 advises for a
/// file applied nowhere) was plainly `modified`, with the help of an edit: it differs only by
/// its line endings, and its file has LF, so `reinit` is the way on, as for a file that ran
/// with CRLF; one applied with LF whose file has lone CRs now is told to convert it back, never
/// `reinit`.
#[test]
fn a_file_converted_from_lone_cr_to_lf_differs_only_by_line_endings() {
    let db = TestDb::new("hcr_cr");
    let project = Project::new();
    project.migration(
        "001_t1",
        "-- one\rCREATE TABLE t1 (id int);\r",
        "DROP TABLE t1;\n",
    );
    project.migration("002_t2", "CREATE TABLE t2 (id int);\n", "DROP TABLE t2;\n");
    project.up_on(&db).code(exit::SUCCESS);

    // 001 ran with lone CRs, now LF.
    project.write(
        "db/migrations/001_t1.up.sql",
        "-- one\nCREATE TABLE t1 (id int);\n",
    );
    for command in ["up", "status"] {
        project
            .run_on(&db, &["migrate", command])
            .code(exit::DIVERGED)
            .stderr_has("lone CR")
            .stderr_has("a new checkout changes nothing")
            .stderr_has("`cargo confiture migrate reinit")
            .stderr_lacks("check it out again")
            .stderr_lacks("restore the modified files");
    }
    project
        .up_on(&db)
        .stderr_has("it ran with lone CR line endings, the file has LF");
    let run = project.status_json_on(&db);
    assert_eq!(
        run.json()["modified_line_endings"],
        serde_json::json!(["001"])
    );
    assert_eq!(
        run.json()["modified_applied_crlf"],
        serde_json::json!(["001"])
    );
    project
        .run_on(&db, &["migrate", "reinit", "--yes"])
        .code(exit::SUCCESS);
    project.status_on(&db).code(exit::SUCCESS);

    // 002 ran with LF, now lone CRs: back to LF, never `reinit`.
    project.write("db/migrations/002_t2.up.sql", "CREATE TABLE t2 (id int);\r");
    for command in ["up", "status"] {
        project
            .run_on(&db, &["migrate", command])
            .code(exit::DIVERGED)
            .stderr_has("lone CR")
            .stderr_has("convert it to LF")
            .stderr_lacks("`cargo confiture migrate reinit")
            .stderr_lacks("restore the modified files");
    }
    let run = project.status_json_on(&db);
    assert_eq!(
        run.json()["modified_line_endings"],
        serde_json::json!(["002"])
    );
    assert_eq!(run.json()["modified_applied_crlf"], serde_json::json!([]));
}

/// A row as confiture (Python) writes it for a migration it ran from `sql` (the up file's
/// text): its version and name as it reads them from the file name, its checksum the SHA-256
/// of the text, computed by the server. The migration's SQL is the caller's to run.
fn python_row(db: &TestDb, version: &str, name: &str, sql: &str) {
    db.connect()
        .batch_execute(&format!(
            "INSERT INTO tb_confiture (slug, version, name, checksum, execution_time_ms, \
             applied_by) VALUES ('{name}_{version}_20260101_120000', '{version}', '{name}', \
             encode(sha256(convert_to($q${sql}$q$, 'UTF8')), 'hex'), 1, current_user);"
        ))
        .expect("a confiture (Python) row");
}

/// rnm: confiture (Python) runs files whose names we refuse (C006): `002-dash.up.sql` is its
/// version `002-dash`, `20260101_120000_add.up.sql` its version `20260101` named
/// `120000_add`. Renamed to a name we accept, the file has the row's checksum, yet the row
/// was `missing` and the file `pending`: `reinit` (which forgets missing rows) then `up` ran
/// the migration a second time. The row is `renumbered` to the file (never missing, never
/// pending), `up` refuses and writes nothing, and the help's `reinit` records the new version
/// without running it again.
#[test]
fn a_python_row_whose_file_was_renamed_to_a_name_we_accept_never_runs_twice() {
    for (version, name, renamed) in [
        ("002-dash", "002-dash", "002_dash"),
        ("20260101", "120000_add", "002_add"),
    ] {
        let db = TestDb::new("hi_rnm_py");
        let project = counted(&db, &[]);
        let sql = format!("INSERT INTO runs VALUES ('{renamed}');\n");
        db.connect().batch_execute(&sql).expect("the migration");
        python_row(&db, version, name, &sql);
        project.migration(
            renamed,
            &sql,
            &format!("DELETE FROM runs WHERE name = '{renamed}';\n"),
        );
        let before = ledger(&db);

        let run = project.status_on(&db);
        run.code(exit::DIVERGED)
            .stdout_has("! renumbered")
            .stdout_lacks("! missing")
            .stdout_lacks("✗ pending")
            .stderr_has(&format!("`{renamed}` ran as {version}"))
            .stderr_has("reinit");
        let doc = project.status_json_on(&db).json();
        assert_eq!(doc["summary"]["renumbered"], 1, "{doc}");
        assert_eq!(doc["summary"]["missing"], 0, "{doc}");
        assert_eq!(doc["pending"], serde_json::json!([]), "{doc}");

        for args in [
            &["migrate", "up"][..],
            &["migrate", "up", "--allow-out-of-order"],
        ] {
            project
                .run_on(&db, args)
                .code(exit::DIVERGED)
                .stderr_has(&format!("renumbered: {version}_{name} was applied"));
            assert_eq!(ledger(&db), before, "{args:?}");
            assert_eq!(runs(&db), [(renamed.to_string(), 1)], "{args:?}");
        }

        // The way out the help names: the row records the new version; nothing runs again.
        project
            .run_on(&db, &["migrate", "reinit"])
            .code(exit::SUCCESS)
            .stdout_lacks("forget");
        assert_eq!(
            ledger(&db),
            ["001:runs".to_string(), renamed.replacen('_', ":", 1)]
        );
        project.up_on(&db).code(exit::SUCCESS);
        project.status_on(&db).code(exit::SUCCESS);
        assert_eq!(runs(&db), [(renamed.to_string(), 1)]);
    }
}

/// rnm: a Python row whose checksum two files of other versions have (`002_dash` and
/// `003_dash_again`, the same text): nothing tells which one ran. The row is `ambiguous`,
/// neither missing nor pending, every command that writes refuses it, and the statement the
/// help names for the file that ran records it; the other one is then pending.
#[test]
fn a_python_row_whose_checksum_two_files_have_is_ambiguous() {
    let db = TestDb::new("hi_rnm_twins");
    let project = counted(&db, &[]);
    let sql = "INSERT INTO runs VALUES ('dash');\n";
    db.connect().batch_execute(sql).expect("the migration");
    python_row(&db, "002-dash", "002-dash", sql);
    for id in ["002_dash", "003_dash_again"] {
        project.migration(id, sql, "DELETE FROM runs WHERE name = 'dash';\n");
    }

    let run = project.status_on(&db);
    run.code(exit::DIVERGED)
        .stdout_has("! ambiguous")
        .stdout_lacks("! missing")
        .stderr_has("if `002_dash` is the migration that ran as 002-dash_002-dash")
        .stderr_has("if `003_dash_again` is the migration that ran as 002-dash_002-dash");
    every_command_refuses_ambiguous(&db, &project, "002-dash_002-dash");

    paste_update(&db, &run.stderr, "if `002_dash`");
    project.status_on(&db).code(exit::PENDING);
    assert_eq!(ledger(&db), ["001:runs", "002:dash"]);
}

/// rnm: confiture (Python) applies a `CREATE INDEX CONCURRENTLY` file without the
/// `-- confiture:no-transaction` marker; we refuse the directory (C101), and once the marker is
/// added the applied file reads `modified` (exit 7). C101's help now says that second step and
/// the way out (`reinit`, which records the file as it is, running nothing); followed, it
/// leaves nothing to fix.
#[test]
fn c101s_help_says_how_a_migration_applied_without_the_marker_gets_it() {
    let db = TestDb::new("hi_rnm_c101");
    let project = counted(&db, &[]);
    let sql = "CREATE INDEX CONCURRENTLY idx_runs_name ON runs (name);\n";
    db.connect().batch_execute(sql).expect("the migration");
    python_row(&db, "002", "idx", sql);
    project.migration(
        "002_idx",
        sql,
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY idx_runs_name;\n",
    );
    let before = ledger(&db);

    project
        .up_on(&db)
        .code(exit::INVALID)
        .stderr_has("C101")
        .stderr_has("where this migration is already applied")
        .stderr_has("`migrate status` then shows it `modified`, and `migrate reinit` records");
    assert_eq!(ledger(&db), before);

    project.write(
        "db/migrations/002_idx.up.sql",
        format!("-- confiture:no-transaction\n{sql}"),
    );
    project
        .status_on(&db)
        .code(exit::DIVERGED)
        .stdout_has("modified");
    project
        .run_on(&db, &["migrate", "reinit"])
        .code(exit::SUCCESS);
    project.status_on(&db).code(exit::SUCCESS);
    project.up_on(&db).code(exit::SUCCESS);
    assert_eq!(ledger(&db), before);
}

/// `up --steps N` refuses files with errors once it has read the ledger, and its help said
/// "`migrate up --target 002` stops before 003_c if it is not applied yet" whatever the
/// ledger held — also once 002 was applied, when that command does nothing. It now says what
/// holds on this database; `up` without `--steps`, which refuses before connecting, keeps
/// the condition.
#[test]
fn the_broken_files_refusal_after_the_ledger_says_what_holds_here() {
    let db = TestDb::new("hist_steps_here");
    let project = Project::new();
    for id in ["001_a", "002_b", "003_c", "004_d"] {
        project.migration(id, "SELECT 1;\n", "SELECT 1;\n");
    }
    project
        .run_on(&db, &["migrate", "up", "--steps", "1"])
        .code(exit::SUCCESS);
    project.migration(
        "003_c",
        "CREATE TABLE c (id int);\nCREATE INDEX CONCURRENTLY c_id ON c (id);\n",
        "DROP TABLE c;\n",
    );
    project
        .run_on(&db, &["migrate", "up", "--steps", "3"])
        .code(exit::INVALID)
        .stderr_has("migrate up --target 002")
        .stderr_has("applies what comes before 003_c, which is not applied here")
        .stderr_lacks("if it is not applied yet");
    project
        .run_on(&db, &["migrate", "up", "--steps", "1"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "up", "--steps", "1", "--dry-run"])
        .code(exit::INVALID)
        .stderr_has("003_c is not applied here, and nothing before it is left to apply")
        .stderr_lacks("--target 002");
    // Before connecting, no ledger: the condition stays.
    project
        .up_on(&db)
        .code(exit::INVALID)
        .stderr_has("stops before 003_c if it is not applied yet");
}

/// hxl F3: a ledger made partitioned by hand (the Python tool or a DBA: confiture's columns,
/// `PARTITION BY RANGE (applied_at)`), empty: its own partitions (and theirs, nested) were
/// counted as objects the database already holds (`table public.tb_confiture_2026`), so
/// `status` pointed at `baseline` and `up` refused a new database (exit 7). The ledger's
/// partitions are the ledger, as its markers' table is; other tables still count.
#[test]
fn the_partitions_of_an_empty_ledger_are_the_ledger_not_objects_the_database_holds() {
    let db = TestDb::new("hi_partitioned_ledger");
    db.connect()
        .batch_execute(
            "CREATE TABLE tb_confiture (id uuid DEFAULT gen_random_uuid(), \
             pk_confiture bigint GENERATED ALWAYS AS IDENTITY, slug text NOT NULL, \
             version varchar(255) NOT NULL, name varchar(255) NOT NULL, \
             applied_at timestamptz NOT NULL DEFAULT now(), execution_time_ms int, \
             checksum varchar(64), applied_by text) PARTITION BY RANGE (applied_at); \
             CREATE TABLE tb_confiture_old PARTITION OF tb_confiture \
             FOR VALUES FROM ('2000-01-01') TO ('2020-01-01'); \
             CREATE TABLE tb_confiture_new PARTITION OF tb_confiture \
             FOR VALUES FROM ('2020-01-01') TO ('2100-01-01') PARTITION BY LIST (name); \
             CREATE TABLE tb_confiture_new_all PARTITION OF tb_confiture_new DEFAULT;",
        )
        .expect("a partitioned ledger");
    let project = Project::two_tables();
    project
        .status_on(&db)
        .code(exit::PENDING)
        .stderr_lacks("already holds");
    project
        .run_on(&db, &["migrate", "up", "--dry-run"])
        .code(exit::SUCCESS);
    project.up_on(&db).code(exit::SUCCESS);
    assert_eq!(ledger(&db), ["001:a", "002:b"]);
    // Another table still counts.
    project
        .run_on(&db, &["migrate", "down", "--steps", "2"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute("CREATE TABLE other (id int)")
        .unwrap();
    project
        .up_on(&db)
        .code(exit::DIVERGED)
        .stderr_has("already holds 1 object (table public.other)");
}

/// `down` on a row `baseline` recorded without running its migration (003's table never
/// made here) failed on the missing table and told the user to fix a correct down file. It
/// says how the row was written, that what its down file removes may never have existed, and
/// the way on that runs nothing: `reinit --through` the migration before it (the command given,
/// run, forgets that row alone), or a down file that tolerates what is missing.
#[test]
fn down_on_a_row_baseline_recorded_without_running_says_so() {
    let db = TestDb::new("down_baselined");
    let project = applied(&db, &["001_t1", "002_t2"]);
    project.table("003_t3");
    project
        .run_on(&db, &["migrate", "baseline", "--through", "3"])
        .code(exit::SUCCESS);
    let run = project.run_on(&db, &["migrate", "down"]);
    run.code(exit::MIGRATION_FAILED)
        .stderr_has(
            "003_t3's row was recorded by a baseline (`migrate baseline`) without running it",
        )
        .stderr_has("may never have existed on this database")
        .stderr_has("`cargo confiture migrate reinit --through 002 --dry-run --database-url <URL>`")
        .stderr_has("tolerate what is missing (`DROP ... IF EXISTS`)")
        .stderr_lacks("help: fix db/migrations/003_t3.down.sql");
    let run = project.run_on(&db, &["migrate", "down", "--format", "json"]);
    run.code(exit::MIGRATION_FAILED);
    let error = &run.json()["errors"][0];
    assert!(
        error["help"]
            .as_str()
            .unwrap()
            .contains("migrate reinit --through 002"),
        "{error}"
    );
    // The command the help gives forgets 003's row alone and runs nothing.
    project
        .run_on(&db, &["migrate", "reinit", "--through", "002", "--yes"])
        .code(exit::SUCCESS);
    assert_eq!(ledger(&db), ["001:t1", "002:t2"]);
    // A row applied by running it keeps the help that blames its file.
    project.up_on(&db).code(exit::SUCCESS);
    db.connect().batch_execute("DROP TABLE t3").unwrap();
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("help: fix db/migrations/003_t3.down.sql")
        .stderr_lacks("without running it");
}

/// `down`'s refusal over a diverged migration names, for `git log`, the up file that ran —
/// where it was when it was applied — never the file that has its number now. For a
/// `replaced` row (`002_t2` renamed to `002_x` and edited) it named `002_x.up.sql`; a
/// `missing` one named no file at all (`<file>`); a `modified` one names its own file.
#[test]
fn downs_git_log_help_names_the_file_that_ran() {
    let db = TestDb::new("hi_git_log");
    let project = applied(&db, &["001_t1", "002_t2", "003_t3", "004_t4"]);
    // 002: renamed and edited (replaced); 003: deleted (missing).
    project.remove("db/migrations/002_t2.up.sql");
    project.remove("db/migrations/002_t2.down.sql");
    project.migration("002_x", "CREATE TABLE x (id int);\n", "DROP TABLE x;\n");
    project.remove("db/migrations/003_t3.up.sql");
    project.remove("db/migrations/003_t3.down.sql");
    let run = project.run_on(&db, &["migrate", "down", "--dry-run", "--steps", "4"]);
    run.code(exit::DIVERGED)
        .stderr_has("replaced: 002 was applied as 002_t2")
        .stderr_has("`git log -- db/migrations/003_t3.up.sql db/migrations/002_t2.up.sql` shows the applied version")
        .stderr_lacks("git log -- db/migrations/002_x")
        .stderr_lacks("<file>");
    // Edited in place: the file that ran is the one there.
    project.table("003_t3");
    project.write(
        "db/migrations/003_t3.up.sql",
        "CREATE TABLE t3 (id bigint);\n",
    );
    project.remove("db/migrations/002_x.up.sql");
    project.remove("db/migrations/002_x.down.sql");
    project.table("002_t2");
    project
        .run_on(&db, &["migrate", "down", "--dry-run", "--steps", "4"])
        .code(exit::DIVERGED)
        .stderr_has("`git log -- db/migrations/003_t3.up.sql` shows the applied version");
}

/// Confiture (Python) applied `1_m1` … `10_m10` (complete pairs, which we refuse: C006).
/// `status`'s last help said the pairs were "incomplete or misnamed" and to restore the other
/// file of each pair from version control: no file is missing. It now says what each C006
/// says: rename them, then `reinit`.
#[test]
fn status_over_misnamed_complete_pairs_python_applied_says_to_rename_them() {
    let db = TestDb::new("hvd_misnamed");
    let project = Project::new();
    // The ledger, made by a run with nothing to apply.
    project.up_on(&db).code(exit::SUCCESS);
    for n in [1, 2, 10] {
        let (up, down) = (
            format!("CREATE TABLE t{n} (id int);\n"),
            format!("DROP TABLE t{n};\n"),
        );
        project.migration(&format!("{n}_m{n}"), &up, &down);
        db.connect().batch_execute(&up).expect("the migration");
        python_row(&db, &n.to_string(), &format!("m{n}"), &up);
    }
    let run = project.status_on(&db);
    run.code(exit::INVALID)
        .stderr_has("rename it to `001_m1.up.sql`")
        .stderr_has(
            "help: the files of 1, 2, 10 are misnamed, and the ledger records them: rename each \
             misnamed file as its `C006` error says, then run `migrate reinit`",
        )
        .stderr_lacks("restore the other file of each pair");
    let run = project.status_json_on(&db);
    assert_eq!(run.json()["misnamed"], serde_json::json!(["1", "2", "10"]));
    assert_eq!(
        run.json()["misnamed_respelled"],
        serde_json::json!(["1", "2", "10"])
    );
}

/// hrh 1: a file this checkout converted (CRLF, lone CRs, or a byte-order mark an editor
/// added), which `status` says never to `reinit`: `reinit` recorded it without a word, and
/// called the line endings "edited"; every LF checkout was then blocked, and `status` said
/// the file "ran with CRLF". `reinit` refuses without `--yes` (its dry run too), writes
/// nothing, names the kind; with `--yes` it says what it recorded; and once the LF file is
/// back, `status` says the ledger may hold converted bytes `reinit` recorded, and that
/// `reinit` of the file records what ran.
#[test]
fn reinit_never_records_a_checkout_converted_file_without_yes() {
    let db = TestDb::new("hrh_conv");
    let project = Project::new();
    let lf = "CREATE TABLE t1 (id int);\n";
    project.migration("001_t1", lf, "DROP TABLE t1;\n");
    project.up_on(&db).code(exit::SUCCESS);
    for converted in [
        "CREATE TABLE t1 (id int);\r\n",
        "\u{feff}CREATE TABLE t1 (id int);\n",
    ] {
        project.write("db/migrations/001_t1.up.sql", converted);
        each_writes_nothing(
            &project,
            &db,
            &[
                &["migrate", "reinit"][..],
                &["migrate", "reinit", "--dry-run"],
            ],
            |_, run| {
                run.code(exit::USAGE)
                    .stderr_has("001_t1")
                    .stderr_has("--yes")
                    .stderr_lacks("edited");
            },
        );
        project
            .run_on(&db, &["migrate", "reinit", "--yes"])
            .code(exit::SUCCESS)
            .stdout_lacks("edited since")
            .stdout_has("converted");
        // Back to the bytes the repository holds: the ledger holds the converted ones.
        project.write("db/migrations/001_t1.up.sql", lf);
        project
            .status_on(&db)
            .code(exit::DIVERGED)
            .stderr_lacks("it ran with CRLF")
            .stderr_lacks("ran with the mark")
            .stderr_has("a `migrate reinit` recorded")
            .stderr_has("`cargo confiture migrate reinit");
        project
            .run_on(&db, &["migrate", "reinit"])
            .code(exit::SUCCESS)
            .stdout_lacks("edited since");
        project.status_on(&db).code(exit::SUCCESS);
    }
}

/// hrh 2: two workspace members on one database and one tracking table, each with its own
/// `001_init`: to `users`, `billing`'s row was its migration "modified", whose help offered
/// `migrate reinit -p users` — which recorded `users`' file over `billing`'s row (its table
/// never made), and `billing` then saw its migration modified. The rows whose checksums
/// another member's files have are said to be that member's, with a ledger of its own as the
/// way on, never `reinit`; `reinit` refuses (exit 7, its dry run too, nothing written). Names
/// differing (`replaced`), the same.
#[test]
fn another_members_rows_in_a_shared_ledger_are_never_offered_to_reinit() {
    let db = TestDb::new("hrh_ws");
    let project = members_with_one_init(TWO_MEMBERS, &[BILLING, USERS]);
    project
        .run_on(&db, &["migrate", "up", "-p", "billing"])
        .code(exit::SUCCESS);
    for renamed in [false, true] {
        if renamed {
            project.remove("users/migrations/001_init.up.sql");
            project.remove("users/migrations/001_init.down.sql");
            project
                .write(
                    "users/migrations/001_accounts.up.sql",
                    "CREATE TABLE accounts (id int);\n",
                )
                .write(
                    "users/migrations/001_accounts.down.sql",
                    "DROP TABLE accounts;\n",
                );
        }
        for args in [
            &["migrate", "up", "-p", "users"][..],
            &["migrate", "status", "-p", "users"],
        ] {
            refused_as_billings(&project.run_on(&db, args));
        }
        each_writes_nothing(
            &project,
            &db,
            &[
                &["migrate", "reinit", "-p", "users"][..],
                &["migrate", "reinit", "-p", "users", "--dry-run"],
                &["migrate", "reinit", "-p", "users", "--yes"],
            ],
            |_, run| {
                refused_as_billings(run);
                run.stderr_has("`billing` applied into this ledger");
            },
        );
        project
            .run_on(&db, &["migrate", "status", "-p", "billing"])
            .code(exit::SUCCESS);
    }
}

/// hsm3 #1: a history numbered by timestamps (sqlx-cli's, dbmate's), applied under them by
/// confiture (Python), then renamed `001_...` as C005's `mv` says: `status` told to rename the
/// files back (a single migration) or, for a gap the timestamps leave, `reinit` — renamed back,
/// the files are C005 again and nothing runs. What works is the README's way ("Coming from
/// sqlx-cli, dbmate or goose"): `reinit`, which `status`'s help now names for that reason;
/// pasted, it leaves `status` clean.
#[test]
fn a_history_renumbered_from_timestamps_is_told_to_reinit_which_works() {
    for ids in [&["001_a"][..], &["001_a", "002_b", "003_c"]] {
        let db = TestDb::new("hist_stamps");
        let project = applied(&db, ids);
        // Recorded as `20240101120001`, ...: the timestamps the files had when they ran.
        db.connect()
            .batch_execute("UPDATE tb_confiture SET version = '20240101120' || version")
            .unwrap();
        let status = project.status_on(&db);
        status
            .code(exit::DIVERGED)
            .stderr_has("ran under timestamps")
            .stderr_has("C005")
            .stderr_lacks("mv ")
            .stderr_lacks("C004");
        let reinit = confiture_tests::suggested(&status.stderr, "migrate reinit")
            .unwrap_or_else(|| panic!("{ids:?}: no reinit suggested: {}", status.dump()));
        project
            .paste(&reinit.replace("<URL>", &db.url()))
            .code(exit::SUCCESS);
        project
            .status_on(&db)
            .code(exit::SUCCESS)
            .stderr_lacks("help:");
        let versions: Vec<String> = ids.iter().map(|id| id.replace('_', ":")).collect();
        assert_eq!(ledger(&db), versions, "{ids:?}");
    }
}

/// The root manifest of a workspace of the members `billing` and `users`.
const TWO_MEMBERS: &str = "[workspace]\nmembers = [\"billing\", \"users\"]\nresolver = \"2\"\n";
/// The member `billing` (directory, package, the table its `001_init` creates).
const BILLING: (&str, &str, &str) = ("billing", "billing", "invoices");
/// The member `users`, whose `001_init` is not `billing`'s.
const USERS: (&str, &str, &str) = ("users", "users", "accounts");

/// A workspace whose root manifest is `root` and whose `members` — `(directory, package,
/// table)` — each keep in their own `migrations` a `001_init` creating their table: with one
/// database and the default tracking table, members writing one ledger.
fn members_with_one_init(root: &str, members: &[(&str, &str, &str)]) -> Project {
    let project = Project::new();
    project.write("Cargo.toml", root);
    for (dir, package, table) in members {
        project
            .write(
                &format!("{dir}/Cargo.toml"),
                member_manifest(package, Some("migrations")),
            )
            .write(&format!("{dir}/src/main.rs"), "fn main() {}\n")
            .write(
                &format!("{dir}/migrations/001_init.up.sql"),
                format!("CREATE TABLE {table} (id int);\n"),
            )
            .write(
                &format!("{dir}/migrations/001_init.down.sql"),
                format!("DROP TABLE {table};\n"),
            );
    }
    project
}

/// `run` refused (exit 7) rows of the ledger as `billing`'s, with a ledger of its own as the
/// way on: never `reinit`, never `--allow-modified` (which would run `users`' down file for
/// `billing`'s migration and delete its row).
fn refused_as_billings(run: &Run) {
    run.code(exit::DIVERGED)
        .stderr_has("the workspace member `billing` resolves to the same database")
        .stderr_has("Several applications in one database")
        .stderr_lacks("`cargo confiture migrate reinit")
        .stderr_lacks("pass --allow-modified");
}

/// hrh3 1: `down`, `baseline` and `verify` of a member over another member's rows (one
/// database, one tracking table). `down` refused `billing`'s row as `users`' migration
/// "modified" and offered `--allow-modified`, which ran `users`' down file for it and deleted
/// `billing`'s row; `baseline` recorded `users`' migrations beside it. Both refuse (exit 7,
/// their dry runs too, nothing written), saying whose rows they are; `verify`, which proves the
/// files on a scratch database and reads no ledger, runs. The members are found as cargo finds
/// them: a glob (`crates/*`) less `exclude` (an excluded crate with `billing`'s files, first by
/// name, is never named).
#[test]
fn down_and_baseline_never_write_over_another_members_rows() {
    let db = TestDb::new("hrh3_one");
    let project = members_with_one_init(
        "[workspace]\nmembers = [\"crates/*\"]\nexclude = [\"crates/archive\"]\nresolver = \"2\"\n",
        &[
            ("crates/billing", "billing", "invoices"),
            ("crates/users", "users", "accounts"),
            ("crates/archive", "archive", "invoices"),
        ],
    );
    project
        .run_on(&db, &["migrate", "up", "-p", "billing"])
        .code(exit::SUCCESS);
    each_writes_nothing(
        &project,
        &db,
        &[
            &["migrate", "down", "-p", "users"][..],
            &["migrate", "down", "-p", "users", "--dry-run"],
            &["migrate", "down", "-p", "users", "--allow-modified"],
            &[
                "migrate",
                "down",
                "-p",
                "users",
                "--allow-modified",
                "--dry-run",
            ],
            &["migrate", "baseline", "-p", "users", "--through", "001"],
            &[
                "migrate",
                "baseline",
                "-p",
                "users",
                "--through",
                "001",
                "--dry-run",
            ],
        ],
        |_, run| {
            refused_as_billings(run);
            run.stderr_lacks("archive");
        },
    );
    assert!(db.has_relation("invoices"), "billing's table stays");
    project
        .run_on(&db, &["migrate", "verify", "-p", "users"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "status", "-p", "billing"])
        .code(exit::SUCCESS);
}

/// hrh3 1: the same rule on a tenant schema (`--schema`) and on each target of a fleet
/// (`--targets FILE`, `--targets-query`, `--schemas-query`, and `baseline`'s list of one
/// target): `billing` applied there with the same flags, `users`' commands said its rows were
/// `users`' own migrations modified, and `down --allow-modified` rolled them back.
#[test]
fn a_tenant_and_a_fleets_targets_tell_another_members_rows() {
    // A database's own ledger beside a tenant's is refused: one database for each.
    let (whole, tenants) = (TestDb::new("hrh3_fleet"), TestDb::new("hrh3_tenant"));
    let project = members_with_one_init(TWO_MEMBERS, &[BILLING, USERS]);
    project.write("targets.txt", format!("{}\n", whole.name));
    let tenant: &[&str] = &["--schema", "t1"];
    let targets: &[&str] = &["--targets", "targets.txt"];
    for (db, flags) in [(&tenants, tenant), (&whole, targets)] {
        let args = [&["migrate", "up", "-p", "billing"][..], flags].concat();
        project.run_on(db, &args).code(exit::SUCCESS);
    }
    let rows = || {
        let client = &mut tenants.connect();
        let tenant: Vec<String> = (client.query("SELECT version FROM t1.tb_confiture", &[]))
            .expect("the tenant's ledger")
            .iter()
            .map(|r| r.get(0))
            .collect();
        (row_details(&whole), tenant)
    };
    let before = rows();
    let lists: [(&TestDb, &[&str]); 4] = [
        (&tenants, tenant),
        (&tenants, &["--schemas-query", "SELECT 't1'"]),
        (&whole, targets),
        (&whole, &["--targets-query", "SELECT current_database()"]),
    ];
    for command in [&["up"][..], &["down", "--allow-modified"], &["status"]] {
        for (db, flags) in lists {
            let args = [&["migrate"][..], command, &["-p", "users"], flags].concat();
            project
                .run_on(db, &args)
                .code(exit::DIVERGED)
                .stderr_has("`billing`");
        }
    }
    for (db, flags) in lists {
        let baseline = ["migrate", "baseline", "-p", "users", "--through", "001"];
        refused_as_billings(&project.run_on(db, &[&baseline[..], flags].concat()));
    }
    assert_eq!(rows(), before, "nothing written");
}

/// hlt4 2: `abandon` of a member forgot another member's run left part-way in the ledger both
/// write (one database, one tracking table): `billing`'s no-transaction `002_i` failed after
/// its first statement committed, and `users`' `abandon 2` deleted its start marker, exit 0 —
/// `billing`'s `status` then no longer said the run was left part-way. The run is `billing`'s
/// (its file has the marker's checksum): `users`' `abandon` refuses (exit 7, its dry run too,
/// the marker kept) on the database, a tenant schema (`--schema`) and a list of one target
/// (`--targets`), naming the member; `billing`'s own `abandon` forgets it.
#[test]
fn abandon_never_forgets_another_members_run() {
    let (whole, tenants) = (TestDb::new("hlt4_abandon"), TestDb::new("hlt4_abandon_t"));
    let project = members_with_one_init(TWO_MEMBERS, &[BILLING, USERS]);
    project
        .write(
            "billing/migrations/002_i.up.sql",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY i ON invoices (id);\nSELECT 1/0;\n",
        )
        .write(
            "billing/migrations/002_i.down.sql",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY i;\n",
        )
        .write("targets.txt", format!("{}\n", whole.name));
    let tenant: &[&str] = &["--schema", "t1"];
    let targets: &[&str] = &["--targets", "targets.txt"];
    let markers = |db: &TestDb, table: &str| -> Vec<String> {
        (db.connect().query(
            &format!("SELECT version || ':' || direction FROM {table} ORDER BY 1"),
            &[],
        ))
        .expect("the markers' table")
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    let lists: [(&TestDb, &[&str], &str); 3] = [
        (&whole, &[], "tb_confiture_started"),
        (&tenants, tenant, "t1.tb_confiture_started"),
        (&whole, targets, "tb_confiture_started"),
    ];
    for (db, flags, table) in lists {
        if markers_table_is_empty(db, table) {
            let up = [&["migrate", "up", "-p", "billing"][..], flags].concat();
            project.run_on(db, &up).code(exit::MIGRATION_FAILED);
        }
        assert_eq!(markers(db, table), ["002:up"], "{flags:?}");
        for abandon in [
            &["migrate", "abandon", "2", "-p", "users"][..],
            &["migrate", "abandon", "002", "-p", "users", "--dry-run"],
        ] {
            let run = project.run_on(db, &[abandon, flags].concat());
            run.code(exit::DIVERGED)
                .stderr_has("would forget a run that the workspace member `billing` left part-way")
                .stderr_has("002_i")
                .stderr_has("Several applications in one database");
            assert_eq!(
                markers(db, table),
                ["002:up"],
                "{abandon:?} {flags:?}: {}",
                run.dump()
            );
        }
    }
    // The member whose run it is forgets it.
    project
        .run_on(&whole, &["migrate", "abandon", "2", "-p", "billing"])
        .code(exit::SUCCESS);
    assert_eq!(
        markers(&whole, "tb_confiture_started"),
        Vec::<String>::new()
    );
}

/// Whether `db` has no start marker in `table` (or no such table yet).
fn markers_table_is_empty(db: &TestDb, table: &str) -> bool {
    db.connect()
        .query(&format!("SELECT 1 FROM {table}"), &[])
        .map_or(true, |rows| rows.is_empty())
}

/// hlt4 2: `drift` of a member over a ledger another member writes refused the history as
/// diverged, "fix the history first" (its rows `users`' own migrations modified, or a newer
/// release's: "run it from the release that applied them"). It says the ledger is shared and
/// whose rows they are, with a ledger of its own for each member as the way on (exit 7, as
/// for any history it cannot replay: it only reads), on the database and on a list
/// (`--targets`); `drift --schema` is refused before (one tenant's drift is not read).
#[test]
fn drift_over_a_shared_ledger_says_whose_rows_they_are() {
    let db = TestDb::new("hlt4_drift");
    let project = members_with_one_init(TWO_MEMBERS, &[BILLING, USERS]);
    project.write("targets.txt", format!("{}\n", db.name));
    project
        .run_on(&db, &["migrate", "up", "-p", "billing"])
        .code(exit::SUCCESS);
    for renamed in [false, true] {
        if renamed {
            // `users`' migration numbered after `billing`'s: its row is a newer release's.
            project
                .remove("users/migrations/001_init.up.sql")
                .remove("users/migrations/001_init.down.sql");
            project.remove("billing/migrations/001_init.down.sql");
            project
                .write(
                    "billing/migrations/001_init.down.sql",
                    "DROP TABLE invoices;\n",
                )
                .write(
                    "users/migrations/000_init.up.sql",
                    "CREATE TABLE accounts (id int);\n",
                )
                .write(
                    "users/migrations/000_init.down.sql",
                    "DROP TABLE accounts;\n",
                );
        }
        for flags in [&[][..], &["--targets", "targets.txt"]] {
            let args = [&["migrate", "drift", "-p", "users"][..], flags].concat();
            let run = project.run_on(&db, &args);
            refused_as_billings(&run);
            run.stderr_has("the ledger is shared: the workspace member `billing` applied")
                .stderr_lacks("fix the history first")
                .stderr_lacks("release that applied them");
        }
    }
    project
        .run_on(&db, &["migrate", "drift", "-p", "billing"])
        .code(exit::SUCCESS);
}

/// `down` refused for an applied migration whose files are gone said "`reinit` ... forgets
/// rows with no file" where `status` (and `up`) warned that forgetting the row alone leaves a
/// gap `up` refuses (a later file follows its number): both give the one answer
/// (`plan::removed_on_purpose_help`).
#[test]
fn down_and_status_agree_on_what_to_do_about_a_removed_migration() {
    let db = TestDb::new("hi_removed_agree");
    let project = two_of_three_applied(&db);
    project.remove("db/migrations/001_a.up.sql");
    project.remove("db/migrations/001_a.down.sql");
    let expected = "if they were removed on purpose, keep each pair with `SELECT 1;` in each file";
    project.status_on(&db).stderr_has(expected);
    let down = project.run_on(&db, &["migrate", "down", "--steps", "2", "--yes"]);
    down.code(exit::DIVERGED)
        .stderr_has(expected)
        .stderr_lacks("forgets rows with no file");
    assert_eq!(ledger(&db), ["001:a", "002:b"], "{}", down.dump());
}

/// hts: a mistyped schema in a schema-qualified tracking table (`opz.tb_confiture` beside the
/// schema `ops`) was created by `up` with its ledger, exit 0, and `status` said nothing of
/// it. As a mistyped `--schema` (the one close-name rule, `text::close_name`): `status` says
/// the schema does not exist and names the close one; `up`, its dry run and `baseline` refuse
/// to create it (exit 5), naming the file and key that set it; a schema with no close name is
/// created as before, `up` saying so.
#[test]
fn a_mistyped_ledger_schema_is_said_not_to_exist_naming_the_close_schema() {
    let db = TestDb::new("hts_ledgerschema");
    let project = Project::new();
    let env = |table: &str| {
        project.write(
            "db/environments/ops.yaml",
            format!(
                "database_url: {}\nmigration:\n  tracking_table: {table}\n",
                db.url()
            ),
        );
    };
    env("opz.tb_confiture");
    project.migration(
        "001_prices",
        "CREATE TABLE prices (id int PRIMARY KEY);\n",
        "DROP TABLE prices;\n",
    );
    db.connect().batch_execute("CREATE SCHEMA ops").unwrap();
    let schemas = || -> Vec<String> {
        db.connect()
            .query(
                "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'op%' \
                 OR nspname LIKE 'zz%' ORDER BY 1",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    project
        .run(&["migrate", "status", "--env", "ops"])
        .code(exit::NOT_INITIALISED)
        .stderr_has(
            "schema opz of the tracking table opz.tb_confiture does not exist, but schema ops \
             does: did you mean `ops`?",
        )
        .stderr_has("`migration.tracking_table: ops.tb_confiture` in db/environments/ops.yaml");
    for args in [
        &["migrate", "up"][..],
        &["migrate", "up", "--dry-run"],
        &["migrate", "baseline", "--through", "001", "--yes"],
    ] {
        project
            .run(&[args, &["--env", "ops"]].concat())
            .code(exit::INVALID)
            .stderr_has("schema opz of the tracking table opz.tb_confiture does not exist")
            .stderr_has("did you mean `ops`?")
            .stderr_has("`migration.tracking_table: ops.tb_confiture` in db/environments/ops.yaml");
    }
    assert_eq!(schemas(), ["ops"], "nothing was created");
    // No schema close to it: a new schema for the ledger, created as before, and said.
    env("zzledger.tb_confiture");
    project
        .run(&["migrate", "status", "--env", "ops"])
        .code(exit::NOT_INITIALISED)
        .stderr_has(
            "schema zzledger of the tracking table zzledger.tb_confiture does not exist: run",
        )
        .stderr_lacks("did you mean");
    // Its dry run says it would create it (hsm4 3: it said nothing), and creates nothing.
    project
        .run(&["migrate", "up", "--dry-run", "--env", "ops"])
        .code(exit::SUCCESS)
        .stderr_has("schema zzledger does not exist: `up` would create it, with the tracking table zzledger.tb_confiture");
    assert_eq!(schemas(), ["ops"], "a dry run created nothing");
    project
        .run(&["migrate", "up", "--env", "ops"])
        .code(exit::SUCCESS)
        .stderr_has("schema zzledger does not exist: `up` creates it, with the tracking table zzledger.tb_confiture");
    assert_eq!(schemas(), ["ops", "zzledger"]);
    project
        .run(&["migrate", "up", "--env", "ops"])
        .code(exit::SUCCESS)
        .stderr_lacks("does not exist");
}
