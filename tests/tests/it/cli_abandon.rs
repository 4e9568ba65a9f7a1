//! `migrate abandon VERSION` end to end: a no-transaction run left part-way (its second
//! statement failed after the first committed: the start marker stays, deterministically) is
//! forgotten once a person has dealt with what it committed — an apply (pending again), a
//! rollback (still applied), a migration whose files were removed (which nothing else could
//! settle) —, a dry run writes nothing, a version with nothing to abandon is refused, and a
//! run holding the migration lock keeps its marker.

use confiture::exit;
use confiture_tests::{Project, TestDb};

/// `001_t` makes table `t`; `002_i` builds index `i` on it without a transaction, then runs
/// `then` (`SELECT 1/0` leaves the run part-way, the index committed).
fn project(then: &str) -> Project {
    let project = Project::new();
    project.table("001_t");
    project.migration(
        "002_i",
        &format!("-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (id);\n{then}\n"),
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY i;\n",
    );
    project
}

/// The start markers the database has, as `version:direction`.
fn markers(db: &TestDb) -> Vec<String> {
    db.connect()
        .query(
            "SELECT version || ':' || direction FROM tb_confiture_started ORDER BY 1",
            &[],
        )
        .expect("the markers' table exists")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The command a help names, `` `cargo confiture migrate abandon ...` ``, as printed (the
/// database as `--database-url <URL>`, its password never printed).
fn suggested_abandon(help: &str) -> String {
    let start = help
        .find("`cargo confiture migrate abandon ")
        .unwrap_or_else(|| panic!("the help names `migrate abandon`: {help}"));
    let end = help[start + 1..].find('`').expect("closing backquote") + start + 2;
    help[start..end].to_string()
}

#[test]
fn an_interrupted_apply_is_abandoned_then_runs_again_once_fixed() {
    let db = TestDb::new("abandon_up");
    let project = project("SELECT 1/0;");
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED);
    assert!(db.has_relation("i"), "statement 1 committed");
    assert_eq!(markers(&db), ["002:up"]);

    // `status` and `up` name the way to forget it, with the database to run it on.
    let status = project.run_on(&db, &["migrate", "status"]);
    status.code(exit::DIVERGED);
    let abandon = suggested_abandon(&status.stderr);
    let up = project.run_on(&db, &["migrate", "up"]);
    up.code(exit::DIVERGED);
    assert_eq!(suggested_abandon(&up.help_line()), abandon);

    // A dry run says what it would forget, and writes nothing.
    project
        .run_on(&db, &["migrate", "abandon", "2", "--dry-run"])
        .code(exit::SUCCESS)
        .stdout_has("would forget the interrupted apply of 002_i")
        .stdout_has("statement 1 committed; statement 2 of 2 failed")
        .stdout_has("dry run: nothing was written");
    assert_eq!(markers(&db), ["002:up"]);

    // What it committed undone by hand, and its file fixed: forgotten, it is pending again.
    db.connect().batch_execute("DROP INDEX i").unwrap();
    project.migration(
        "002_i",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (id);\nSELECT 1;\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY i;\n",
    );
    let pasted = project.paste(&abandon.replace("<URL>", &db.url()));
    pasted
        .code(exit::SUCCESS)
        .stdout_has("forgot the interrupted apply of 002_i")
        .stdout_has("002_i is pending again: what it committed stays in the database");
    assert!(markers(&db).is_empty(), "{}", pasted.dump());
    assert_eq!(db.ledger().unwrap().len(), 1, "no row written");
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::PENDING)
        .stdout_has("002_i");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    assert!(db.has_relation("i"));
    assert_eq!(db.ledger().unwrap().len(), 2);

    // Nothing left to abandon: refused, naming why.
    project
        .run_on(&db, &["migrate", "abandon", "002"])
        .code(exit::USAGE)
        .stderr_has("no run of version 002 was left part-way")
        .stderr_has("no migration is interrupted here");
}

#[test]
fn a_removed_migration_s_interrupted_run_is_abandoned() {
    let db = TestDb::new("abandon_gone");
    let project = project("SELECT 1/0;");
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED);
    db.connect().batch_execute("DROP INDEX i").unwrap();
    project
        .remove("db/migrations/002_i.up.sql")
        .remove("db/migrations/002_i.down.sql");
    // Nothing here can run it again or record it: `up` refuses, and names the way out.
    let up = project.run_on(&db, &["migrate", "up"]);
    up.code(exit::DIVERGED)
        .stderr_has("no file here has its version");
    let abandon = suggested_abandon(&up.help_line());
    // Another version is refused, naming the interrupted one.
    project
        .run_on(&db, &["migrate", "abandon", "1"])
        .code(exit::USAGE)
        .stderr_has("the only interrupted migration is 002_i");

    let run = project.paste(&format!(
        "{} --format json`",
        abandon.replace("<URL>", &db.url()).trim_end_matches('`')
    ));
    run.code(exit::SUCCESS);
    let json = run.json();
    let forgot = &json["abandoned"][0];
    assert_eq!(forgot["version"], "002", "{json}");
    assert_eq!(forgot["direction"], "up", "{json}");
    assert_eq!(forgot["now"], "not_here", "{json}");
    assert!(forgot["migration"].is_null(), "{json}");
    assert_eq!(forgot["statement"], 2, "{json}");
    assert!(
        (forgot["committed"].as_str().unwrap()).starts_with("statement 1 committed"),
        "{json}"
    );
    assert_eq!(json["dry_run"], false, "{json}");
    assert!(markers(&db).is_empty());
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::SUCCESS)
        .stdout_has("nothing to apply");
}

#[test]
fn an_interrupted_rollback_is_abandoned_and_stays_applied() {
    let db = TestDb::new("abandon_down");
    let project = project("SELECT 1;");
    project.migration(
        "002_i",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (id);\nSELECT 1;\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY i;\nSELECT 1/0;\n",
    );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::MIGRATION_FAILED);
    assert!(
        !db.has_relation("i"),
        "the rollback's statement 1 committed"
    );
    assert_eq!(markers(&db), ["002:down"]);
    let status = project.run_on(&db, &["migrate", "status"]);
    status.code(exit::DIVERGED);
    let abandon = suggested_abandon(&status.stderr);
    assert!(
        status
            .stderr
            .contains(&format!("{abandon} to leave it applied")),
        "{}",
        status.dump()
    );

    // What the rollback removed restored by hand: forgotten, the migration is still applied.
    db.connect()
        .batch_execute("CREATE INDEX i ON t (id)")
        .unwrap();
    project
        .paste(&abandon.replace("<URL>", &db.url()))
        .code(exit::SUCCESS)
        .stdout_has("forgot the interrupted rollback of 002_i")
        .stdout_has("002_i is still applied");
    assert!(markers(&db).is_empty());
    assert_eq!(db.ledger().unwrap().len(), 2, "the row stays");
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::SUCCESS);
}

#[test]
fn a_run_holding_the_migration_lock_keeps_its_marker() {
    let db = TestDb::new("abandon_lock");
    let project = project("SELECT 1/0;");
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED);
    let (_holder, pid) = db.hold_migration_lock("abandon_lock_holder");
    project
        .run_on(&db, &["migrate", "abandon", "2", "--lock-wait", "1s"])
        .code(exit::LOCK_TIMEOUT)
        .stderr_has(&pid.to_string());
    assert_eq!(markers(&db), ["002:up"], "nothing written");
}

/// hpy B, C, D: an apply left part-way, its index committed.
/// - `drift` compared the live database with the applied migrations as if nothing were left
///   part-way: the index was drift, "capture it in a new migration ... or undo it by hand", the
///   interrupted run never named (exit 9). It refuses as `status` does (exit 7), with the ways
///   on `status` gives (`abandon`, `--rerun-interrupted`, `baseline --through`).
/// - `abandon --dry-run` said `... migrate up --dry-run` "runs it": a dry run runs nothing. The
///   next `migrate up` runs it, and the suggested dry run previews it.
/// - After `abandon`, `up` failed on the index already there saying that no run was marked
///   started and that a run marking nothing (confiture (Python), an old release) may have
///   committed it — false: this tool's run did, abandoned a moment before. What did it is not
///   known once the marker is gone: the failure names an abandoned run among the causes and
///   asserts none.
#[test]
fn drift_abandon_and_the_next_up_name_the_run_left_part_way() {
    let db = TestDb::new("abandon_drift");
    let project = project("SELECT 1/0;");
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED);
    assert!(db.has_relation("i"), "statement 1 committed");

    let drift = project.run_on(&db, &["migrate", "drift"]);
    drift
        .code(exit::DIVERGED)
        .stderr_has("002_i was interrupted part-way")
        .stderr_has("nothing was compared")
        .stderr_lacks("not made by its applied migrations");
    assert_eq!(
        suggested_abandon(&drift.help_line()),
        suggested_abandon(&project.run_on(&db, &["migrate", "status"]).stderr)
    );
    assert_eq!(markers(&db), ["002:up"], "drift writes nothing");

    let preview = project.run_on(&db, &["migrate", "abandon", "002", "--dry-run"]);
    preview
        .code(exit::SUCCESS)
        .stdout_has("002_i would be pending again")
        .stdout_has("the next `migrate up` runs it (`cargo confiture migrate up")
        .stdout_lacks("--dry-run` runs it");
    assert!(
        preview.stdout.contains("--dry-run` previews it)"),
        "{}",
        preview.dump()
    );
    assert_eq!(markers(&db), ["002:up"]);

    project
        .run_on(&db, &["migrate", "abandon", "002"])
        .code(exit::SUCCESS)
        .stdout_has("002_i is pending again")
        .stdout_has("`cargo confiture migrate up --database-url <URL>` runs it");
    let up = project.run_on(&db, &["migrate", "up"]);
    up.code(exit::MIGRATION_FAILED)
        .stderr_has("abandoned since")
        .stderr_has("so what did it is not known")
        .stderr_lacks("no run of 002_i was marked started (one stopped part-way would show it");
}

/// The first migration of a new database, a no-transaction one, left part-way: `CREATE TABLE
/// a` committed, the next statement failed. Then its file fixed to be safe to run twice.
fn first_left_part_way(prefix: &str) -> (TestDb, Project) {
    let db = TestDb::new(prefix);
    let project = Project::new();
    project.migration(
        "001_a",
        "-- confiture:no-transaction\nCREATE TABLE a (id int);\nSELECT nosuch;\n\
         CREATE INDEX CONCURRENTLY ai ON a (id);\n",
        "DROP TABLE a;\n",
    );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED);
    assert!(db.has_relation("a"), "statement 1 committed");
    assert_eq!(markers(&db), ["001:up"]);
    assert_eq!(db.ledger(), Some(vec![]));
    project.migration(
        "001_a",
        "-- confiture:no-transaction\nCREATE TABLE IF NOT EXISTS a (id int);\nSELECT 1;\n\
         CREATE INDEX CONCURRENTLY ai ON a (id);\n",
        "DROP TABLE a;\n",
    );
    (db, project)
}

/// Every `` `cargo confiture migrate up ...` `` a text suggests, as printed.
fn suggested_ups(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|part| part.starts_with("cargo confiture migrate up"))
        .map(|part| format!("`{part}`"))
        .collect()
}

/// Pastes `suggested` and checks that it finished the first migration: recorded, its index
/// built, no marker left.
fn pasted_finishes(db: &TestDb, project: &Project, suggested: &str) {
    project.paste(suggested).code(exit::SUCCESS);
    assert_eq!(db.ledger(), Some(vec!["001:a".to_string()]), "{suggested}");
    assert!(db.has_relation("ai"), "{suggested}");
    assert_eq!(markers(db), Vec::<String>::new(), "{suggested}");
}

/// An interrupted first migration left its table, and the ledger no row: the "holds objects
/// but has no history" refusal fired at every way on that `status`, `up` and `down` named
/// (`up --target 001 --rerun-interrupted`, `up --rerun-interrupted`), with a help whose
/// `--allow-non-empty` run was refused again for the marker. Our own start marker says a run
/// of ours was let past that check on this database: the objects may be its migration's own.
/// Each suggested command, pasted, finishes the migration.
#[test]
fn every_way_on_after_an_interrupted_first_migration_works_when_pasted() {
    // `down`'s refusal: "run `up --target 001 --rerun-interrupted`, then roll back".
    let (db, project) = first_left_part_way("abandon_first_down");
    let down = project.run_on(&db, &["migrate", "down"]);
    down.code(exit::DIVERGED);
    let ups = suggested_ups(&down.help_line());
    assert_eq!(
        ups,
        ["`cargo confiture migrate up --target 001 --rerun-interrupted --database-url <URL>`"],
        "{}",
        down.dump()
    );
    pasted_finishes(&db, &project, &ups[0].replace("<URL>", &db.url()));

    // `status`' help, and `up`'s refusal without `--rerun-interrupted`.
    for (prefix, args) in [
        ("abandon_first_status", &["migrate", "status"][..]),
        ("abandon_first_up", &["migrate", "up"][..]),
    ] {
        let (db, project) = first_left_part_way(prefix);
        let run = project.run_on(&db, args);
        run.code(exit::DIVERGED)
            .stderr_lacks("already holds")
            .stderr_lacks("--allow-non-empty");
        let ups: Vec<String> = suggested_ups(&run.stderr)
            .into_iter()
            .filter(|up| up.contains("--rerun-interrupted"))
            .collect();
        assert!(!ups.is_empty(), "{}", run.dump());
        let preview = project.run_on(&db, &["migrate", "up", "--rerun-interrupted", "--dry-run"]);
        preview.code(exit::SUCCESS).stdout_has("001_a");
        pasted_finishes(&db, &project, &ups[0].replace("<URL>", &db.url()));
    }

    // The failure's own help, `up --allow-non-empty --rerun-interrupted`, still works.
    let (db, project) = first_left_part_way("abandon_first_fail");
    project
        .paste(&format!(
            "`cargo confiture migrate up --allow-non-empty --rerun-interrupted --database-url {}`",
            db.url()
        ))
        .code(exit::SUCCESS);
    assert!(db.has_relation("ai"));
}

/// `abandon` of an interrupted first migration: its marker goes, and with it what let `up`
/// past the "holds objects but has no history" check; what the migration committed stays.
/// `abandon` said "`migrate up` runs it", which was refused (exit 7): it names the `up` that
/// runs it over what stays.
#[test]
fn abandoning_an_interrupted_first_migration_names_the_up_that_runs_it() {
    let (db, project) = first_left_part_way("abandon_first_abandon");
    let preview = project.run_on(&db, &["migrate", "abandon", "001", "--dry-run"]);
    preview.code(exit::SUCCESS);
    assert_eq!(
        suggested_ups(&preview.stdout),
        ["`cargo confiture migrate up --allow-non-empty --database-url <URL> --dry-run`"],
        "{}",
        preview.dump()
    );
    let abandon = project.run_on(&db, &["migrate", "abandon", "001"]);
    abandon
        .code(exit::SUCCESS)
        .stdout_has("001_a is pending again")
        .stdout_has("table public.a");
    let ups = suggested_ups(&abandon.stdout);
    assert_eq!(
        ups,
        ["`cargo confiture migrate up --allow-non-empty --database-url <URL>`"],
        "{}",
        abandon.dump()
    );
    // The bare `up` is refused, as the text says.
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::DIVERGED)
        .stderr_has("already holds 1 object (table public.a)");
    pasted_finishes(&db, &project, &ups[0].replace("<URL>", &db.url()));

    // With what it committed undone by hand, the plain `up` runs it, as abandon says.
    let (db, project) = first_left_part_way("abandon_first_undone");
    db.connect().batch_execute("DROP TABLE a").unwrap();
    let abandon = project.run_on(&db, &["migrate", "abandon", "001"]);
    abandon.code(exit::SUCCESS);
    let ups = suggested_ups(&abandon.stdout);
    assert_eq!(
        ups,
        ["`cargo confiture migrate up --database-url <URL>`"],
        "{}",
        abandon.dump()
    );
    pasted_finishes(&db, &project, &ups[0].replace("<URL>", &db.url()));
}

/// hsm3 #2: a run cut part-way is said to have committed only the statements that change the
/// database: a `SET`, `RESET` or `SHOW` before the failure changed only the session (as the
/// statements a rerun runs again never name them, `plan::committed_statements`). Before,
/// `status`, `up`'s refusal and `abandon` said "statements 1–3 committed" of a `SET`, a
/// `CREATE INDEX` and a `RESET`.
#[test]
fn statements_that_change_only_the_session_are_not_said_committed() {
    let db = TestDb::new("abandon_set");
    let project = Project::new();
    project.table("001_t");
    project.migration(
        "002_i",
        "-- confiture:no-transaction\nSET lock_timeout = '2s';\nCREATE INDEX CONCURRENTLY i ON t (id);\n\
         RESET lock_timeout;\nSELECT 1/0;\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY i;\n",
    );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED);
    assert_eq!(markers(&db), ["002:up"]);
    let said = "statement 2 committed; statement 4 of 4 failed";
    let status = project.run_on(&db, &["migrate", "status"]);
    status.code(exit::DIVERGED);
    let refused = project.run_on(&db, &["migrate", "up"]);
    refused.code(exit::DIVERGED);
    let abandon = project.run_on(&db, &["migrate", "abandon", "2", "--dry-run"]);
    abandon.code(exit::SUCCESS);
    for run in [&status, &refused, &abandon] {
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(all.contains(said), "{}", run.dump());
        assert!(!all.contains("statements 1–3 committed"), "{}", run.dump());
    }
}
