//! An INVALID index a failed or interrupted `CREATE INDEX CONCURRENTLY` or `REINDEX INDEX
//! CONCURRENTLY` left behind a pending no-transaction migration: `status` (text and JSON) and
//! `up --dry-run` say what the real `up` refuses, and the real `up` refuses the rebuild too.

use std::time::Duration;

use confiture::exit;
use confiture_tests::{wait_until, Project, TestDb};

/// The INVALID indexes of `db`, by name.
fn invalid_indexes(db: &TestDb) -> Vec<String> {
    db.connect()
        .query(
            "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE NOT i.indisvalid ORDER BY 1",
            &[],
        )
        .expect("read pg_index")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The start markers left in `db`.
fn markers(db: &TestDb) -> i64 {
    let mut client = db.connect();
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('public.tb_confiture_started') IS NOT NULL",
            &[],
        )
        .expect("look for the markers' table")
        .get(0);
    if !exists {
        return 0;
    }
    client
        .query_one("SELECT count(*) FROM public.tb_confiture_started", &[])
        .expect("count the markers")
        .get(0)
}

/// The JSON line of `002` in `status --format json` of `project` on `db`, which exits `code`.
fn status_line_of_002(project: &Project, db: &TestDb, code: u8) -> serde_json::Value {
    let status = project.status_json_on(db);
    status.code(code);
    status.migration_line("002")
}

/// `status` (text and JSON) and `up --dry-run` of `project` on `db`, whose pending `002` would
/// meet the INVALID `index`: each names it and the `DROP INDEX CONCURRENTLY`, the dry run
/// refusing as `up` does (exit 4, `refusal`); nothing written.
fn each_says_what_up_refuses(project: &Project, db: &TestDb, index: &str, refusal: &str) {
    let drop = format!("DROP INDEX CONCURRENTLY {index};");
    let status = project.run_on(db, &["migrate", "status"]);
    status
        .code(exit::PENDING)
        .stdout_has("pending")
        .stderr_has(&format!("{index} exists and is INVALID"))
        .stderr_has(&drop);
    let line = status_line_of_002(project, db, exit::PENDING);
    assert_eq!(line["status"], "pending", "{line}");
    assert_eq!(line["invalid_index"], index, "{line}");
    project
        .run_on(db, &["migrate", "up", "--dry-run"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has(refusal)
        .stderr_has("failed or was interrupted")
        .stderr_lacks("client killed, server restarted)")
        .stderr_has(&drop);
    assert_eq!(db.ledger().expect("the ledger"), ["001:f"]);
    let up = project.run_on(db, &["migrate", "up"]);
    up.code(exit::MIGRATION_FAILED)
        .stderr_has(refusal)
        .stderr_has("failed or was interrupted")
        .stderr_lacks("client killed, server restarted)")
        .stderr_has(&drop);
    assert_eq!(db.ledger().expect("the ledger"), ["001:f"], "{}", up.dump());
}

/// A `CREATE UNIQUE INDEX CONCURRENTLY` that failed on a duplicate key left its index
/// INVALID (and said the run committed none of its statements). Once the duplicate was gone,
/// `status` said `pending` and nothing of the index, `up --dry-run` "would apply 1 migration"
/// (exit 0), and only the real `up` refused (exit 4), saying an earlier run "was interrupted
/// (client killed, server restarted)". Now all three say the same, true for a failed build;
/// following the help applies it.
#[test]
fn a_failed_index_build_is_said_by_status_and_the_dry_run_as_up_refuses_it() {
    let db = TestDb::new("hix_failed_cic");
    let project = Project::new();
    project
        .migration(
            "001_f",
            "CREATE TABLE f (id int);\nINSERT INTO f VALUES (1), (1);\n",
            "DROP TABLE f;\n",
        )
        .migration(
            "002_k",
            "-- confiture:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY fu ON f (id);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY fu;\n",
        );
    let failed = project.run_on(&db, &["migrate", "up"]);
    failed
        .code(exit::MIGRATION_FAILED)
        .stderr_has("public.fu was left INVALID")
        .stderr_lacks("committed none of its statements");
    assert_eq!(invalid_indexes(&db), ["fu"], "{}", failed.dump());
    db.connect()
        .batch_execute("DELETE FROM f WHERE ctid <> (SELECT min(ctid) FROM f)")
        .expect("the duplicate deleted");
    each_says_what_up_refuses(
        &project,
        &db,
        "public.fu",
        "migration 002_k creates index public.fu, which exists and is INVALID",
    );
    db.connect()
        .batch_execute("DROP INDEX CONCURRENTLY public.fu")
        .expect("the suggested DROP INDEX");
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::PENDING)
        .stderr_lacks("INVALID");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    assert!(invalid_indexes(&db).is_empty());
}

/// A project whose no-transaction `002_h` runs `build` on `big` (`001_f`, with its index
/// `big_i`), applied through 001, and a session whose open transaction wrote to `big`: the
/// concurrent build commits its INVALID index, then waits for that writer. `up` is started and
/// stopped (SIGTERM) once the INVALID index `invalid` is there; the writer ends.
fn stopped_while_building(db: &TestDb, build: &str, invalid: &str) -> (Project, String) {
    stopped_while_building_on(db, "big", "big", build, invalid, &[], "-TERM")
}

/// [`stopped_while_building`] with `001_f` creating `table` (`app.big` creates schema `app`
/// first), the writer writing to `written` (qualified as the test's own session needs), and
/// each `up` given `args` too (`--schema tenant_a`), stopped by `signal`: `-KILL` cuts the run
/// part-way (its start marker left; the server ends the build once it notices the client
/// gone, before the writer ends).
fn stopped_while_building_on(
    db: &TestDb,
    table: &str,
    written: &str,
    build: &str,
    invalid: &str,
    args: &[&str],
    signal: &str,
) -> (Project, String) {
    let schema = match table.split_once('.') {
        Some((schema, _)) => format!("CREATE SCHEMA {schema};\n"),
        None => String::new(),
    };
    let project = Project::new();
    project
        .migration(
            "001_f",
            &format!(
                "{schema}CREATE TABLE {table} AS SELECT g AS h FROM generate_series(1, 1000) g;\n\
                 CREATE INDEX big_i ON {table} (h);\n"
            ),
            &format!("DROP TABLE {table};\n"),
        )
        .migration(
            "002_h",
            &format!("-- confiture:no-transaction\n{build}\n"),
            "SELECT 1;\n",
        );
    let with = |command: &[&'static str]| -> Vec<String> {
        (command.iter().chain(args))
            .map(|a| a.to_string())
            .collect()
    };
    let target = with(&["migrate", "up", "--target", "001"]);
    project
        .run_on(db, &target.iter().map(String::as_str).collect::<Vec<_>>())
        .code(exit::SUCCESS);
    let mut writer = db.connect();
    writer
        .batch_execute(&format!("BEGIN; INSERT INTO {written} VALUES (0);"))
        .expect("an open writer");
    let up = with(&["migrate", "up"]);
    let mut child = project.spawn_on(db, &up.iter().map(String::as_str).collect::<Vec<_>>());
    let built = wait_until(Duration::from_secs(30), || {
        invalid_indexes(db).iter().any(|i| i == invalid)
    });
    match signal {
        "-KILL" => child.kill().expect("kill the runner"),
        signal => confiture_tests::send_signal(child.id(), signal),
    }
    let run = confiture_tests::Run::reaped(child);
    assert!(built, "the build never started\n{}", run.dump());
    let building =
        || (db.other_backends().iter()).any(|b| b.contains("CONCURRENTLY") && !b.contains("BEGIN"));
    let ended = wait_until(Duration::from_secs(30), || !building());
    assert!(ended, "the server never ended the build");
    writer.batch_execute("ROLLBACK").expect("end the writer");
    if signal == "-TERM" {
        run.code(exit::INTERRUPTED);
    }
    (project, run.stderr.clone())
}

/// (stopped) the same after a `CREATE INDEX CONCURRENTLY` cancelled by a stop.
#[test]
fn a_stopped_index_build_is_said_by_status_and_the_dry_run_as_up_refuses_it() {
    let db = TestDb::new("hix_stopped_cic");
    let (project, stderr) =
        stopped_while_building(&db, "CREATE INDEX CONCURRENTLY big_h ON big (h);", "big_h");
    assert!(
        !stderr.contains("committed none of its statements"),
        "{stderr}"
    );
    each_says_what_up_refuses(
        &project,
        &db,
        "public.big_h",
        "migration 002_h creates index public.big_h, which exists and is INVALID",
    );
    dropped_as_told_then_up(&db, &project, "big_h");
}

/// `big_i_ccnew`, the INVALID copy a stopped `REINDEX ... CONCURRENTLY` of `big_i` left, is
/// what `status`, the dry run and `up` refuse; dropped as told, `up` finishes.
fn the_copy_of_big_i_is_refused_until_it_is_dropped(db: &TestDb, project: &Project) {
    each_says_what_up_refuses(
        project,
        db,
        "public.big_i_ccnew",
        "migration 002_h rebuilds index public.big_i, and index public.big_i_ccnew",
    );
    assert_eq!(invalid_indexes(db), ["big_i_ccnew"]);
    dropped_as_told_then_up(db, project, "big_i_ccnew");
}

/// The INVALID `index` (of `public`) dropped as the help says: `up` then finishes, leaving
/// no INVALID index and no start marker.
fn dropped_as_told_then_up(db: &TestDb, project: &Project, index: &str) {
    db.connect()
        .batch_execute(&format!("DROP INDEX CONCURRENTLY public.{index}"))
        .expect("the suggested DROP INDEX");
    project.up_on(db).code(exit::SUCCESS);
    assert!(invalid_indexes(db).is_empty());
    assert_eq!(markers(db), 0);
}

/// A `REINDEX INDEX CONCURRENTLY` stopped while it waited left `big_i_ccnew` INVALID and
/// said "this run committed none of its statements" (the new index's catalog entry had
/// committed); the next `up` ran the rebuild again (into `big_i_ccnew1`), recorded the
/// migration (exit 0) and kept the INVALID index for good. Now the stop says what committed,
/// `status`, the dry run and `up` refuse it as they refuse a `CREATE INDEX CONCURRENTLY`'s, and
/// following the help leaves no INVALID index.
#[test]
fn an_interrupted_reindex_concurrently_is_refused_until_its_copy_is_dropped() {
    let db = TestDb::new("hix_reindex");
    let (project, stderr) =
        stopped_while_building(&db, "REINDEX INDEX CONCURRENTLY big_i;", "big_i_ccnew");
    assert!(
        !stderr.contains("committed none of its statements"),
        "{stderr}"
    );
    assert!(
        stderr.contains("DROP INDEX CONCURRENTLY public.big_i_ccnew;"),
        "{stderr}"
    );
    the_copy_of_big_i_is_refused_until_it_is_dropped(&db, &project);
}

/// A `REINDEX TABLE CONCURRENTLY` stopped while it waited left the copy of each index of its
/// table (`big_i_ccnew`) INVALID; the next `up` ran it again (the server skips an INVALID
/// index with a warning), recorded the migration (exit 0) and kept the copy for good: only a
/// `REINDEX INDEX` was read for the copies it leaves. Now every `REINDEX ... CONCURRENTLY` is
/// refused as `REINDEX INDEX`'s is, by `status`, the dry run and `up`.
#[test]
fn an_interrupted_reindex_of_a_table_is_refused_until_its_copies_are_dropped() {
    let db = TestDb::new("hrx_reindex_table");
    let (project, stderr) =
        stopped_while_building(&db, "REINDEX TABLE CONCURRENTLY big;", "big_i_ccnew");
    assert!(
        stderr.contains("DROP INDEX CONCURRENTLY public.big_i_ccnew;"),
        "{stderr}"
    );
    the_copy_of_big_i_is_refused_until_it_is_dropped(&db, &project);
}

/// The same for a `REINDEX (VERBOSE) SCHEMA CONCURRENTLY` that failed (its index's function
/// raised an error while the copy was built), its copy in the schema it names, not `public`,
/// the table's toast index's copy (in `pg_toast`) left too.
#[test]
fn a_failed_reindex_of_a_schema_is_refused_until_its_copies_are_dropped() {
    let db = TestDb::new("hrx_reindex_schema");
    let project = Project::new();
    project
        .migration(
            "001_f",
            "CREATE SCHEMA app;\n\
             CREATE FUNCTION app.boom(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$\n\
             BEGIN\n  IF current_setting('app.boom', true) = 'on' THEN RAISE EXCEPTION 'boom'; END IF;\n  RETURN $1;\nEND $$;\n\
             CREATE TABLE app.t (a int, b text);\n\
             INSERT INTO app.t VALUES (1, 'x');\n\
             CREATE INDEX t_b ON app.t (app.boom(a));\n",
            "DROP SCHEMA app CASCADE;\n",
        )
        .migration(
            "002_h",
            "-- confiture:no-transaction\nREINDEX (VERBOSE) SCHEMA CONCURRENTLY app;\n",
            "SELECT 1;\n",
        );
    project
        .run_on(&db, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    let set = |value: &str| {
        db.connect()
            .batch_execute(&format!(
                "ALTER DATABASE \"{}\" SET app.boom = '{value}'",
                db.name
            ))
            .expect("set app.boom for new sessions");
    };
    set("on");
    let failed = project.run_on(&db, &["migrate", "up"]);
    failed
        .code(exit::MIGRATION_FAILED)
        .stderr_has("app.t_b_ccnew was left INVALID");
    set("off");
    assert!(
        invalid_indexes(&db).contains(&"t_b_ccnew".to_string()),
        "{}",
        failed.dump()
    );
    each_says_what_up_refuses(
        &project,
        &db,
        "app.t_b_ccnew",
        "migration 002_h rebuilds index app.t_b, and index app.t_b_ccnew",
    );
    for index in invalid_indexes_qualified(&db) {
        db.connect()
            .batch_execute(&format!("DROP INDEX CONCURRENTLY {index}"))
            .expect("the suggested DROP INDEX");
    }
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    assert!(invalid_indexes(&db).is_empty());
}

/// The INVALID indexes of `db`, as `DROP INDEX` takes them.
fn invalid_indexes_qualified(db: &TestDb) -> Vec<String> {
    db.connect()
        .query(
            "SELECT c.oid::regclass::text FROM pg_index i JOIN pg_class c \
             ON c.oid = i.indexrelid WHERE NOT i.indisvalid ORDER BY 1",
            &[],
        )
        .expect("read pg_index")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A fleet's `status` (`--targets`) said nothing of the INVALID index a pending migration
/// would meet, which one database's `status` names with the drop to run: now each target's
/// line of help says it, addressed to that target.
#[test]
fn a_fleet_status_names_the_invalid_index_a_pending_migration_meets() {
    let db = TestDb::new("hrx_fleet_invalid");
    let project = Project::new();
    project
        .migration(
            "001_f",
            "CREATE TABLE f (id int);\nINSERT INTO f VALUES (1), (1);\n",
            "DROP TABLE f;\n",
        )
        .migration(
            "002_k",
            "-- confiture:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY fu ON f (id);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY fu;\n",
        );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED);
    assert_eq!(invalid_indexes(&db), ["fu"]);
    project.write("tenants.txt", format!("{}\n", db.name));
    let url = confiture_tests::server().url("postgres");
    let run = confiture_tests::Run::of(project.cli().args([
        "migrate",
        "status",
        "--database-url",
        &url,
        "--targets",
        "tenants.txt",
    ]));
    run.stderr_has("public.fu exists and is INVALID")
        .stderr_has("DROP INDEX CONCURRENTLY public.fu;")
        .stderr_has(&db.name);
}

/// A `REINDEX TABLE CONCURRENTLY` that failed after the file's first statement committed left
/// its run interrupted (its marker stays) and a copy of each index of its table INVALID:
/// `status` said to record it (`baseline --through 002`), which would keep the copies for
/// good. Now its help, the dry run's and `up`'s name a copy and its drop, never the record;
/// following them completes the run.
#[test]
fn an_interrupted_run_whose_table_reindex_left_copies_is_not_offered_a_record() {
    let db = TestDb::new("hrx_reindex_marker");
    let project = Project::new();
    project
        .migration(
            "001_f",
            "CREATE FUNCTION boom(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$\n\
             BEGIN\n  IF current_setting('app.boom', true) = 'on' THEN RAISE EXCEPTION 'boom'; END IF;\n  RETURN $1;\nEND $$;\n\
             CREATE TABLE t (a int);\n\
             INSERT INTO t VALUES (1);\n\
             CREATE INDEX t_b ON t (boom(a));\n",
            "DROP TABLE t;\nDROP FUNCTION boom(int);\n",
        )
        .migration(
            "002_h",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_a ON t (a);\n\
             REINDEX TABLE CONCURRENTLY t;\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t_a;\n",
        );
    project
        .run_on(&db, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    let set = |value: &str| {
        db.connect()
            .batch_execute(&format!(
                "ALTER DATABASE \"{}\" SET app.boom = '{value}'",
                db.name
            ))
            .expect("set app.boom for new sessions");
    };
    set("on");
    let failed = project.run_on(&db, &["migrate", "up"]);
    failed.code(exit::MIGRATION_FAILED);
    set("off");
    assert_eq!(markers(&db), 1, "the run is interrupted\n{}", failed.dump());
    assert_eq!(
        invalid_indexes(&db),
        ["t_a_ccnew", "t_b_ccnew"],
        "{}",
        failed.dump()
    );
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::DIVERGED)
        .stdout_has("! interrupted")
        .stderr_lacks("baseline --through")
        .stderr_has("left the copies public.t_a_ccnew, public.t_b_ccnew behind, INVALID")
        .stderr_has("`DROP INDEX CONCURRENTLY public.t_a_ccnew;`");
    for args in [&["migrate", "up"][..], &["migrate", "up", "--dry-run"]] {
        project
            .run_on(&db, args)
            .code(exit::DIVERGED)
            .stderr_lacks("baseline --through")
            .stderr_has("`DROP INDEX CONCURRENTLY public.t_a_ccnew;`")
            .stderr_has("--rerun-interrupted");
    }
    for index in invalid_indexes_qualified(&db) {
        db.connect()
            .batch_execute(&format!("DROP INDEX CONCURRENTLY {index}"))
            .expect("the suggested DROP INDEX");
    }
    project
        .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
        .code(exit::SUCCESS);
    assert_eq!(markers(&db), 0);
    assert!(invalid_indexes(&db).is_empty());
}

/// The INVALID indexes of `db`, each `schema.name` as a help names it (quoted as needed).
fn invalid_indexes_named(db: &TestDb) -> Vec<String> {
    db.connect()
        .query(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid ORDER BY 1",
            &[],
        )
        .expect("read pg_index")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A project whose no-transaction `002_h` builds `t_a` on `t` (two indexes then, and a TOAST
/// table), then runs `REINDEX TABLE CONCURRENTLY t`, which failed (the function of `t_b`
/// raised): the run is interrupted (its marker stays) and a copy of each of its indexes, the
/// TOAST index's too, is left INVALID. Returns the project and those copies.
fn interrupted_with_several_rebuild_copies(db: &TestDb) -> (Project, Vec<String>) {
    let project = Project::new();
    project
        .migration(
            "001_f",
            "CREATE FUNCTION boom(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$\n\
             BEGIN\n  IF current_setting('app.boom', true) = 'on' THEN RAISE EXCEPTION 'boom'; END IF;\n  RETURN $1;\nEND $$;\n\
             CREATE TABLE t (a int, b text);\n\
             INSERT INTO t VALUES (1, 'x');\n\
             CREATE INDEX t_b ON t (boom(a));\n",
            "DROP TABLE t;\nDROP FUNCTION boom(int);\n",
        )
        .migration(
            "002_h",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_a ON t (a);\n\
             REINDEX TABLE CONCURRENTLY t;\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t_a;\n",
        );
    project
        .run_on(db, &["migrate", "up", "--target", "001"])
        .code(exit::SUCCESS);
    let set = |value: &str| {
        db.connect()
            .batch_execute(&format!(
                "ALTER DATABASE \"{}\" SET app.boom = '{value}'",
                db.name
            ))
            .expect("set app.boom for new sessions");
    };
    set("on");
    let failed = project.run_on(db, &["migrate", "up"]);
    failed.code(exit::MIGRATION_FAILED);
    set("off");
    assert_eq!(markers(db), 1, "the run is interrupted\n{}", failed.dump());
    let copies = invalid_indexes_named(db);
    assert_eq!(copies.len(), 3, "{copies:?}\n{}", failed.dump());
    assert!(
        copies.iter().any(|c| c.starts_with("pg_toast.")),
        "{copies:?}"
    );
    (project, copies)
}

/// A `REINDEX TABLE CONCURRENTLY` left part-way left a copy of each index of its table (its
/// TOAST index's too), but the refusals of `status`, `up`, `up --dry-run` and `down` named
/// only the first: the user, following the help, was refused once a copy. Now each names
/// every copy, with one `DROP INDEX CONCURRENTLY` each; following the help once finishes.
#[test]
fn an_interrupted_table_reindex_names_every_copy_it_left() {
    let db = TestDb::new("hcc_every_copy");
    let (project, copies) = interrupted_with_several_rebuild_copies(&db);
    let drops: Vec<String> = (copies.iter())
        .map(|c| format!("`DROP INDEX CONCURRENTLY {c};`"))
        .collect();
    let runs: [&[&str]; 5] = [
        &["migrate", "status"],
        &["migrate", "up"],
        &["migrate", "up", "--dry-run"],
        &["migrate", "down"],
        &["migrate", "down", "--dry-run"],
    ];
    for args in runs {
        let run = project.run_on(&db, args);
        run.code(exit::DIVERGED)
            .stderr_lacks("baseline --through")
            .stderr_lacks("REINDEX INDEX");
        for drop in &drops {
            run.stderr_has(drop);
        }
    }
    let line = status_line_of_002(&project, &db, exit::DIVERGED);
    assert_eq!(line["invalid_index"], copies[0].as_str(), "{line}");
    assert_eq!(line["rebuild_copies"], serde_json::json!(copies), "{line}");
    for copy in &copies {
        db.connect()
            .batch_execute(&format!("DROP INDEX CONCURRENTLY {copy}"))
            .expect("the suggested DROP INDEX");
    }
    project
        .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
        .code(exit::SUCCESS);
    assert_eq!(markers(&db), 0);
    assert!(invalid_indexes(&db).is_empty());
}

/// A ledger row another tool wrote over the run of `an_interrupted_table_reindex_names_every_copy_it_left`
/// keeps it `interrupted (recorded)`, whose help (`status`'s, `up`'s, `down`'s) said `REINDEX
/// INDEX CONCURRENTLY <copy>`, which makes the copy a valid duplicate of the index it copies.
/// A copy is dropped: the help names every copy's `DROP INDEX CONCURRENTLY`, never a
/// `REINDEX`; following it, `status` says applied and no duplicate index is left.
#[test]
fn a_row_recorded_over_rebuild_copies_drops_them_rather_than_rebuilding_them() {
    let db = TestDb::new("hcc_recorded_copies");
    let (project, copies) = interrupted_with_several_rebuild_copies(&db);
    db.record_as_another_tool("h_002_py", "002", "h");
    let runs: [&[&str]; 4] = [
        &["migrate", "status"],
        &["migrate", "up"],
        &["migrate", "up", "--dry-run"],
        &["migrate", "down"],
    ];
    for args in runs {
        let run = project.run_on(&db, args);
        run.code(exit::DIVERGED)
            .stderr_lacks("REINDEX INDEX")
            .stderr_lacks("baseline --through");
        for copy in &copies {
            run.stderr_has(&format!("`DROP INDEX CONCURRENTLY {copy};`"));
        }
    }
    project
        .run_on(&db, &["migrate", "status"])
        .stdout_has("! interrupted (recorded)");
    let line = project.status_json_on(&db).migration_line("002");
    assert_eq!(line["rebuild_copies"], serde_json::json!(copies), "{line}");
    for copy in &copies {
        db.connect()
            .batch_execute(&format!("DROP INDEX CONCURRENTLY {copy}"))
            .expect("the suggested DROP INDEX");
    }
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::SUCCESS)
        .stdout_lacks("interrupted");
    let indexes: i64 = db
        .connect()
        .query_one(
            "SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass",
            &[],
        )
        .expect("count the indexes of t")
        .get(0);
    assert_eq!(indexes, 2, "t_a and t_b, no duplicate");
}

/// A rollback's `DROP INDEX CONCURRENTLY` (a no-transaction down file) cut part-way — here by
/// `--statement-timeout` while a reader of the table keeps it waiting — leaves the index
/// INVALID: its first transaction committed that. The down's start marker went with the
/// failure (nothing else had committed), so `status` said `002` applied, up to date, silent
/// about an index queries no longer use. Now the marker stays: `status` (text and JSON
/// `unfinished_drop`) names the index and the rollback that left it, `down` and `reinit`
/// refuse to pass it (`reinit` naming the index as `down` does), and the help pasted as
/// printed finishes the rollback.
#[test]
fn a_cut_index_drop_of_a_rollback_is_named_by_status_until_finished() {
    let db = TestDb::new("hix_cut_drop");
    let project = Project::new();
    project
        .migration("001_t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n")
        .migration(
            "002_i",
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_i ON t (id);\n",
            "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t_i;\n",
        );
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let mut reader = db.connect();
    reader
        .batch_execute("BEGIN; SELECT * FROM t;")
        .expect("an open reader of t");
    let down = project.run_on(&db, &["migrate", "down", "--statement-timeout", "1s"]);
    reader.batch_execute("ROLLBACK").expect("end the reader");
    let rerun = "migrate down --rerun-interrupted";
    down.code(exit::MIGRATION_FAILED)
        .stderr_has("index public.t_i was left INVALID by the unfinished DROP INDEX CONCURRENTLY")
        .stderr_has(rerun)
        .stderr_has("`REINDEX INDEX CONCURRENTLY public.t_i;`")
        .stderr_lacks("committed none of its statements");
    assert_eq!(invalid_indexes(&db), ["t_i"], "{}", down.dump());
    assert_eq!(markers(&db), 1, "{}", down.dump());

    let status = project.run_on(&db, &["migrate", "status"]);
    status
        .code(exit::DIVERGED)
        .stdout_has("interrupted")
        .stderr_has("002_i was interrupted part-way")
        .stderr_has("`DROP INDEX CONCURRENTLY` of public.t_i was cut part-way")
        .stderr_has(rerun)
        .stderr_has("`REINDEX INDEX CONCURRENTLY public.t_i;`")
        .stderr_has("migrate abandon 002");
    let line = status_line_of_002(&project, &db, exit::DIVERGED);
    assert_eq!(line["status"], "interrupted", "{line}");
    assert_eq!(line["unfinished_drop"], "public.t_i", "{line}");
    assert_eq!(line["started"]["direction"], "down", "{line}");

    // Neither a plain rollback nor a ledger rewrite passes it.
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::DIVERGED)
        .stderr_has("public.t_i")
        .stderr_has(rerun);
    // The rewrite's refusal names the index too, as `down`'s does (it said only "finish the
    // rollback first").
    for dry_run in [false, true] {
        let mut args = vec!["migrate", "reinit", "--through", "001", "--yes"];
        args.extend(dry_run.then_some("--dry-run"));
        project
            .run_on(&db, &args)
            .code(exit::DIVERGED)
            .stderr_has("`DROP INDEX CONCURRENTLY` of public.t_i was cut part-way")
            .stderr_has("`REINDEX INDEX CONCURRENTLY public.t_i;`")
            .stderr_has(rerun);
    }

    // The help, as printed: the rollback run again finishes the drop.
    project
        .run_on(&db, &["migrate", "down", "--rerun-interrupted"])
        .code(exit::SUCCESS);
    assert!(invalid_indexes(&db).is_empty());
    assert_eq!(markers(&db), 0);
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::PENDING)
        .stderr_lacks("INVALID");
}

/// The backend of the CLI run on `db` that runs `statement_start` (the start of a statement
/// of its file) and waits, once there is one.
fn backend_running(db: &TestDb, statement_start: &str) -> Option<i32> {
    db.connect()
        .query_opt(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND application_name = 'cargo-confiture' \
             AND state = 'active' AND wait_event_type = 'Lock' AND strpos(query, $1) > 0",
            &[&statement_start],
        )
        .expect("read pg_stat_activity")
        .map(|row| row.get(0))
}

/// `args` of `project` on `db` spawned while a session holds a snapshot open (a `CONCURRENTLY`
/// statement waits for it), its backend terminated (`pg_terminate_backend`) once it waits in
/// the statement starting `statement_start`: the run's connection is lost mid-statement.
fn cut_while_waiting(
    project: &Project,
    db: &TestDb,
    args: &[&str],
    hold: &str,
    statement_start: &str,
) -> confiture_tests::Run {
    let mut holder = db.connect();
    holder.batch_execute(hold).expect("a session that holds");
    let child = project.spawn_on(db, args);
    let mut pid = None;
    let waiting = wait_until(Duration::from_secs(30), || {
        pid = backend_running(db, statement_start);
        pid.is_some()
    });
    if let Some(pid) = pid {
        db.connect()
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .expect("terminate the run's backend");
    }
    let run = confiture_tests::Run::reaped(child);
    assert!(waiting, "the statement never waited\n{}", run.dump());
    holder.batch_execute("ROLLBACK").expect("end the holder");
    run
}

/// hdx2 #1: a no-transaction `CREATE TABLE; INSERT; CREATE INDEX CONCURRENTLY` cut during the
/// build (its connection lost) left the INVALID index and the first two statements
/// committed. `up`'s error and `status`' help said to drop the index and run again with
/// `--rerun-interrupted`, never that the statements before it committed and clash on the rerun
/// (`relation "hdx2_t" already exists`), and `up --rerun-interrupted --dry-run` presented the
/// rerun as plain. Each names the committed statements (`file:line`, their first words) and
/// says to make them safe to run twice or undo them first.
#[test]
fn an_index_build_cut_names_the_committed_statements_a_rerun_runs_again() {
    let db = TestDb::new("hdx2_cut_cic");
    let project = Project::new();
    project.migration(
        "001_t",
        "-- confiture:no-transaction\nCREATE TABLE hdx2_t (id int);\n\
         INSERT INTO hdx2_t VALUES (1);\nCREATE INDEX CONCURRENTLY hdx2_ix ON hdx2_t (id);\n",
        "DROP TABLE hdx2_t;\n",
    );
    let run = cut_while_waiting(
        &project,
        &db,
        &["migrate", "up", "--lock-timeout-statement", "60s"],
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM pg_class;",
        "CREATE INDEX CONCURRENTLY hdx2_ix",
    );
    run.code(exit::CONNECTION);
    assert_eq!(invalid_indexes(&db), ["hdx2_ix"], "{}", run.dump());
    let names = |stderr: &str, what: &str| {
        for part in [
            "001_t.up.sql:2 `CREATE TABLE hdx2_t",
            "001_t.up.sql:3 `INSERT INTO hdx2_t",
            "IF NOT EXISTS",
        ] {
            assert!(stderr.contains(part), "{what} lacks {part:?}:\n{stderr}");
        }
        assert!(!stderr.contains("001_t.up.sql:4 `"), "{what}:\n{stderr}");
    };
    names(&run.stderr, "up's error");
    let status = project.status_on(&db);
    status.code(exit::DIVERGED);
    names(&status.stderr, "status' help");
    project
        .run_on(&db, &["migrate", "up", "--rerun-interrupted", "--dry-run"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("DROP INDEX CONCURRENTLY public.hdx2_ix;");
    db.connect()
        .batch_execute("DROP INDEX CONCURRENTLY public.hdx2_ix")
        .expect("the suggested DROP INDEX");
    let dry = project.run_on(&db, &["migrate", "up", "--rerun-interrupted", "--dry-run"]);
    dry.code(exit::SUCCESS);
    names(&dry.stderr, "the rerun's dry run");
    assert!(dry.stderr.contains("run again"), "{}", dry.dump());
    // Following the help: the committed statements undone, the rerun applies it.
    db.connect()
        .batch_execute("DROP TABLE hdx2_t")
        .expect("undo what committed");
    project
        .run_on(&db, &["migrate", "up", "--rerun-interrupted"])
        .code(exit::SUCCESS);
    assert!(invalid_indexes(&db).is_empty());
    assert_eq!(markers(&db), 0);
}

/// hdx2 #3: a `CREATE INDEX CONCURRENTLY` after a committed statement, cancelled by the
/// statement timeout, left its INVALID index while `status` said of it "failed: the server
/// refused it, and nothing of it committed". The line names the INVALID index it left, and
/// the help its drop.
#[test]
fn a_cancelled_index_build_is_never_said_to_have_committed_nothing() {
    let db = TestDb::new("hdx2_timeout_cic");
    let project = Project::new();
    project.migration(
        "001_t",
        "-- confiture:no-transaction\nCREATE TABLE hdx2_t (id int);\n\
         CREATE INDEX CONCURRENTLY hdx2_ix ON hdx2_t (id);\n",
        "DROP TABLE hdx2_t;\n",
    );
    let mut holder = db.connect();
    holder
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM pg_class;")
        .expect("a snapshot held");
    let up = project.run_on(
        &db,
        &[
            "migrate",
            "up",
            "--lock-timeout-statement",
            "60s",
            "--statement-timeout",
            "1s",
        ],
    );
    holder.batch_execute("ROLLBACK").expect("end the holder");
    up.code(exit::MIGRATION_FAILED)
        .stderr_has("public.hdx2_ix was left INVALID");
    assert_eq!(invalid_indexes(&db), ["hdx2_ix"], "{}", up.dump());
    let status = project.status_on(&db);
    status
        .code(exit::DIVERGED)
        .stdout_has("public.hdx2_ix")
        .stderr_has("`DROP INDEX CONCURRENTLY public.hdx2_ix;`");
    let line = (status.stdout.lines())
        .find(|l| l.starts_with("001_t: "))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.contains("INVALID") && line.contains("public.hdx2_ix"),
        "{}",
        status.dump()
    );
}

/// A `REINDEX INDEX CONCURRENTLY` after the file's own `SET search_path`, cut part-way (the
/// client killed), left `app.big_i_ccnew` INVALID: `status`, the dry run and `up
/// --rerun-interrupted` read the rebuild under the session's `search_path`, not the file's,
/// found no `big_i`, and said nothing of the copy (the run again rebuilt it and recorded the
/// migration, the copy left for good). The rebuild is read with the file's `search_path`, as
/// a `CREATE INDEX` after it is.
#[test]
fn a_reindex_after_the_files_own_search_path_is_read_with_it() {
    let db = TestDb::new("hix_reindex_path");
    let (project, _) = stopped_while_building_on(
        &db,
        "app.big",
        "app.big",
        "SET search_path = app;\nREINDEX INDEX CONCURRENTLY big_i;",
        "big_i_ccnew",
        &[],
        "-KILL",
    );
    let drop = "`DROP INDEX CONCURRENTLY app.big_i_ccnew;`";
    project
        .run_on(&db, &["migrate", "status"])
        .code(exit::DIVERGED)
        .stdout_has("interrupted")
        .stderr_has("left its copy app.big_i_ccnew behind, INVALID")
        .stderr_has(drop);
    for args in [
        &["migrate", "up", "--rerun-interrupted", "--dry-run"][..],
        &["migrate", "up", "--rerun-interrupted"],
    ] {
        project.run_on(&db, args).stderr_has(drop);
    }
    assert_eq!(db.ledger().expect("the ledger"), ["001:f"]);
    assert_eq!(invalid_indexes(&db), ["big_i_ccnew"]);
}

/// The tenant mode of the reading: a tenant's build naming no schema (`--schema tenant_a`, its
/// `search_path` pinned to the tenant) stopped part-way left `tenant_a.big_h` INVALID; a
/// tenant's `status`, and a `--schemas-query` fleet's status, name it in the tenant's schema,
/// and the tenant's `up` refuses it.
#[test]
fn a_tenants_interrupted_build_is_read_in_the_tenants_schema() {
    let db = TestDb::new("hix_tenant");
    let (project, _) = stopped_while_building_on(
        &db,
        "big",
        "tenant_a.big",
        "CREATE INDEX CONCURRENTLY big_h ON big (h);",
        "big_h",
        &["--schema", "tenant_a"],
        "-TERM",
    );
    let drop = "DROP INDEX CONCURRENTLY tenant_a.big_h;";
    project
        .run_on(&db, &["migrate", "status", "--schema", "tenant_a"])
        .code(exit::PENDING)
        .stderr_has("tenant_a.big_h exists and is INVALID")
        .stderr_has(drop);
    project
        .run_on(
            &db,
            &["migrate", "status", "--schemas-query", "SELECT 'tenant_a'"],
        )
        .stderr_has("tenant_a.big_h exists and is INVALID")
        .stderr_has(drop);
    project
        .run_on(&db, &["migrate", "up", "--schema", "tenant_a"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("migration 002_h creates index tenant_a.big_h, which exists and is INVALID")
        .stderr_has(drop);
    assert_eq!(invalid_indexes(&db), ["big_h"]);
}
