//! What a migration (or a trigger or rule of the tracking table) does to the ledger is caught
//! before its `COMMIT`: a ledger row that was not written or not deleted, rows of the ledger a
//! migration deleted, a tracking table it dropped; and what a migration `PREPARE`s is its own,
//! whatever its name.

use crate::apply_support;

use apply_support::{Dir, TestDb};
use confiture::migrate::{no_progress, BaselineOptions, DownOptions, ReinitOptions, UpOptions};
use confiture::ErrorKind;

/// A function that suppresses every row it is fired for, and a `DO` loop that fires it before
/// `events` on every table of `public` — the tracking table too, where lint cannot see it.
fn suppress_on_every_table(events: &str) -> String {
    format!(
        "CREATE FUNCTION ignore_rows() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;\n\
         DO $$ DECLARE r record; BEGIN\n  FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP\n    \
         EXECUTE format('CREATE TRIGGER t_%s BEFORE {events} ON public.%I FOR EACH ROW EXECUTE FUNCTION ignore_rows()', r.tablename, r.tablename);\n  \
         END LOOP;\nEND $$;\n"
    )
}

fn abc(dir: &Dir, b_up: &str, b_down: &str) {
    dir.migration("001", "a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration("002", "b", b_up, b_down)
        .migration("003", "c", "CREATE TABLE c (id int);\n", "DROP TABLE c;\n");
}

/// A function that rewrites every row it is fired for (a generic "normalise every text
/// column" kind: before, `NEW` changed; after, an `UPDATE` of the row), and a `DO` loop that
/// fires it `when` (`BEFORE`, `AFTER`) `INSERT` on every table of `public` — the tracking
/// table too, where lint cannot see it.
fn rewrite_on_every_table(when: &str) -> String {
    format!(
        "CREATE FUNCTION rewrite_rows() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN\n  \
         IF TG_WHEN = 'BEFORE' THEN NEW.name := 'rewritten'; NEW.checksum := 'x'; RETURN NEW; END IF;\n  \
         EXECUTE format('UPDATE %I.%I SET name = ''rewritten'' WHERE version = $1', TG_TABLE_SCHEMA, TG_TABLE_NAME) USING NEW.version;\n  \
         RETURN NULL;\nEND $$;\n\
         DO $$ DECLARE r record; BEGIN\n  FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP\n    \
         EXECUTE format('CREATE TRIGGER t_%s {when} INSERT ON public.%I FOR EACH ROW EXECUTE FUNCTION rewrite_rows()', r.tablename, r.tablename);\n  \
         END LOOP;\nEND $$;\n"
    )
}

/// h6 #12: a trigger the migration puts on the tracking table (`BEFORE INSERT ... RETURN
/// NULL`) suppressed its row and the run said "applied"; one that rewrites it (`NEW.name :=
/// ...`, or an `AFTER INSERT` trigger's `UPDATE`) recorded a name and a checksum no file has,
/// and the next `status` called the migrations `replaced` (exit 7). Now the migration fails
/// before its `COMMIT`, rolled back, exit 5 naming the cause — alone, in a message with others
/// (prepared rows), inside `--single-transaction`, and for a `no-transaction` migration after
/// it.
#[test]
fn a_trigger_that_suppresses_the_ledger_row_fails_the_migration_before_its_commit() {
    let cases = [
        ("suppress", suppress_on_every_table("INSERT")),
        ("rewrite before", rewrite_on_every_table("BEFORE")),
        ("rewrite after", rewrite_on_every_table("AFTER")),
    ];
    for ((trigger, b_up), (how, options, first)) in cases.iter().flat_map(|case| {
        [
            ("batched", UpOptions::default(), None),
            ("alone", UpOptions::default().steps(Some(1)), Some(1)),
            (
                "single",
                UpOptions::default().single_transaction(true),
                None,
            ),
        ]
        .map(|way| (case, way))
    }) {
        let how = format!("{trigger}, {how}");
        let db = TestDb::new("suppress_up");
        let dir = Dir::new();
        abc(&dir, b_up, "SELECT 1;\n");
        let mut migrator = db.migrator(&dir);
        if let Some(steps) = first {
            migrator
                .up(&UpOptions::default().steps(Some(steps)), &mut no_progress)
                .expect("001 alone");
        }
        let failed = migrator.up(&options, &mut no_progress).unwrap_err();
        let e = &failed.error;
        assert_eq!(e.kind, ErrorKind::Invalid, "{how}: {e:?}");
        assert_eq!(e.exit_code(), 5, "{how}");
        assert!(
            e.message.contains("002_b")
                && e.message.contains("not written")
                && e.message.contains("trigger or rule"),
            "{how}: {e}"
        );
        let help = e.help.as_deref().unwrap_or_default();
        assert!(help.contains("tb_confiture"), "{how}: {help}");
        let expected: &[&str] = if how.ends_with("single") {
            &[]
        } else {
            &["001:a"]
        };
        assert_eq!(db.ledger(), expected, "{how}");
        assert!(!db.table_exists("c"), "{how}: 003 did not run");
        assert_eq!(
            db.value("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 't_%'")
                .as_deref(),
            Some("0"),
            "{how}: the migration was rolled back"
        );
    }
}

/// A trigger already on the tracking table (not the migration's) that suppresses rows,
/// deletes the row once written (`AFTER INSERT`) or rewrites it (before, or updating it
/// after): the same failure, for a transactional and a `no-transaction` migration.
#[test]
fn a_trigger_of_the_tracking_table_that_loses_the_row_fails_every_kind_of_migration() {
    let triggers = [
        ("BEFORE INSERT", "RETURN NULL;"),
        (
            "AFTER INSERT",
            "DELETE FROM tb_confiture WHERE version = NEW.version; RETURN NULL;",
        ),
        (
            "BEFORE INSERT",
            "NEW.name := 'rewritten'; NEW.checksum := 'x'; RETURN NEW;",
        ),
        (
            "AFTER INSERT",
            "UPDATE tb_confiture SET checksum = 'x' WHERE version = NEW.version; RETURN NULL;",
        ),
    ];
    for (when, body) in triggers {
        for no_transaction in [false, true] {
            let how = format!("{when}, no-transaction {no_transaction}");
            let db = TestDb::new("suppress_pre");
            let dir = Dir::new();
            dir.migration("001", "a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
            db.migrator(&dir)
                .up(&UpOptions::default(), &mut no_progress)
                .expect("001");
            db.client()
                .batch_execute(&format!(
                    "CREATE FUNCTION lose() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} END $$;\n\
                     CREATE TRIGGER lose {when} ON tb_confiture FOR EACH ROW EXECUTE FUNCTION lose();"
                ))
                .unwrap();
            let up = if no_transaction {
                "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n"
            } else {
                "CREATE TABLE b (id int);\n"
            };
            dir.migration("002", "b", up, "SELECT 1;\n");
            let failed = db
                .migrator(&dir)
                .up(&UpOptions::default(), &mut no_progress)
                .unwrap_err();
            let e = &failed.error;
            assert_eq!(e.kind, ErrorKind::Invalid, "{how}: {e:?}");
            assert!(
                e.message.contains("002_b") && e.message.contains("trigger or rule"),
                "{how}: {e}"
            );
            assert_eq!(db.ledger(), ["001:a"], "{how}");
        }
    }
}

/// `down`: a `BEFORE DELETE` trigger that keeps the row. The rollback is itself rolled back
/// (the table is still there, the row too) rather than reported done with its row left.
#[test]
fn a_trigger_that_keeps_the_row_down_deletes_fails_the_rollback() {
    for steps in [1, 2] {
        let db = TestDb::new("suppress_down");
        let dir = Dir::new();
        abc(&dir, "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
        db.migrator(&dir)
            .up(&UpOptions::default(), &mut no_progress)
            .expect("all three");
        db.client()
            .batch_execute(&suppress_on_every_table("DELETE"))
            .unwrap();
        let failed = db
            .migrator(&dir)
            .down(&DownOptions::default().steps(Some(steps)), &mut no_progress)
            .unwrap_err();
        let e = &failed.error;
        assert_eq!(e.kind, ErrorKind::Invalid, "{steps}: {e:?}");
        assert!(
            e.message.contains("003_c")
                && e.message.contains("not deleted")
                && e.message.contains("trigger or rule"),
            "{steps}: {e}"
        );
        assert_eq!(db.ledger(), ["001:a", "002:b", "003:c"], "{steps}");
        assert!(db.table_exists("c"), "{steps}: rolled back");
    }
}

/// `baseline` and `reinit` with such a trigger in place recorded nothing and said they had.
#[test]
fn baseline_and_reinit_fail_when_a_trigger_suppresses_their_rows() {
    let db = TestDb::new("suppress_rewrite");
    let dir = Dir::new();
    abc(&dir, "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
    db.migrator(&dir)
        .up(&UpOptions::default().steps(Some(1)), &mut no_progress)
        .expect("001");
    db.client()
        .batch_execute(&suppress_on_every_table("INSERT OR UPDATE OR DELETE"))
        .unwrap();
    let baseline = db
        .migrator(&dir)
        .baseline(&BaselineOptions::through(3), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(baseline.kind, ErrorKind::Invalid, "{baseline:?}");
    assert!(
        baseline.to_string().contains("trigger or rule"),
        "{baseline}"
    );
    let reinit = db
        .migrator(&dir)
        .reinit(&ReinitOptions::default().through(Some(3)), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(reinit.kind, ErrorKind::Invalid, "{reinit:?}");
    assert!(reinit.to_string().contains("trigger or rule"), "{reinit}");
    // A row rewritten in place (an edited file): the same.
    dir.write("001_a.up.sql", "CREATE TABLE a (id int); -- edited\n");
    let reinit = db
        .migrator(&dir)
        .reinit(&ReinitOptions::default(), &mut no_progress)
        .unwrap_err()
        .error;
    assert_eq!(reinit.kind, ErrorKind::Invalid, "{reinit:?}");
    assert_eq!(db.ledger(), ["001:a"]);
}

/// A `DO` loop over every table of `public` running `action` (`TRUNCATE public.%I`, ...):
/// what lint cannot see reaching the tracking table.
fn on_every_table(action: &str) -> String {
    format!(
        "DO $$ DECLARE r record; BEGIN\n  FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP\n    \
         EXECUTE format('{action}', r.tablename);\n  END LOOP;\nEND $$;\n"
    )
}

/// h6 #13: a migration that empties every table of the schema wiped the ledger and the run
/// said "applied"; `status` then called the earlier migrations out of order. Now it fails
/// before its `COMMIT`, rolled back (exit 4, a migration's failure): emptied, truncated, its
/// oldest or its newest row deleted — alone, in a message with the others, and inside
/// `--single-transaction`.
#[test]
fn a_migration_that_deletes_rows_of_the_ledger_fails_before_its_commit() {
    let actions = [
        on_every_table("TRUNCATE public.%I"),
        on_every_table("DELETE FROM public.%I"),
        // Built at run time, where lint (`writes-tracking-table`) cannot see it.
        "DO $$ BEGIN EXECUTE 'DELETE FROM tb_' || 'confiture WHERE version = ''001'''; END $$;\n"
            .to_string(),
        "DO $$ BEGIN EXECUTE 'DELETE FROM tb_' || 'confiture WHERE version = ''002'''; END $$;\n"
            .to_string(),
    ];
    for action in &actions {
        for (how, options, first) in [
            ("batched", UpOptions::default(), None),
            ("alone", UpOptions::default(), Some(2)),
            (
                "single",
                UpOptions::default().single_transaction(true),
                None,
            ),
        ] {
            let how = format!("{how}: {action}");
            let db = TestDb::new("wipe_up");
            let dir = Dir::new();
            dir.migration("001", "a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
                .migration("002", "b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n")
                .migration(
                    "003",
                    "reset",
                    &format!("CREATE TABLE c (id int);\n{action}"),
                    "DROP TABLE c;\n",
                )
                .migration("004", "d", "CREATE TABLE d (id int);\n", "DROP TABLE d;\n");
            let mut migrator = db.migrator(&dir);
            if let Some(steps) = first {
                migrator
                    .up(&UpOptions::default().steps(Some(steps)), &mut no_progress)
                    .expect("001 and 002");
            }
            let failed = migrator.up(&options, &mut no_progress).unwrap_err();
            let e = &failed.error;
            assert_eq!(e.kind, ErrorKind::MigrationFailed, "{how}: {e:?}");
            assert_eq!(e.exit_code(), 4, "{how}");
            assert!(
                e.message.contains("003_reset") && e.message.contains("rows of the tracking table"),
                "{how}: {e}"
            );
            let help = e.help.as_deref().unwrap_or_default();
            assert!(help.contains("003_reset.up.sql"), "{how}: {help}");
            let expected: &[&str] = if how.starts_with("single") {
                &[]
            } else {
                &["001:a", "002:b"]
            };
            assert_eq!(db.ledger(), expected, "{how}");
            assert!(!db.table_exists("c") && !db.table_exists("d"), "{how}");
        }
    }
}

/// `down`: a down migration that empties every table rolls back its own rollback, and the
/// ledger keeps every row.
#[test]
fn a_down_migration_that_empties_the_ledger_fails_before_its_commit() {
    for steps in [1, 3] {
        let db = TestDb::new("wipe_down");
        let dir = Dir::new();
        dir.migration("001", "a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
            .migration("002", "b", "CREATE TABLE b (id int);\n", "DROP TABLE b;\n")
            .migration(
                "003",
                "c",
                "CREATE TABLE c (id int);\n",
                &format!("DROP TABLE c;\n{}", on_every_table("TRUNCATE public.%I")),
            );
        db.migrator(&dir)
            .up(&UpOptions::default(), &mut no_progress)
            .expect("all three");
        let failed = db
            .migrator(&dir)
            .down(&DownOptions::default().steps(Some(steps)), &mut no_progress)
            .unwrap_err();
        let e = &failed.error;
        assert_eq!(e.kind, ErrorKind::MigrationFailed, "{steps}: {e:?}");
        assert!(
            e.message.contains("003_c") && e.message.contains("rows of the tracking table"),
            "{steps}: {e}"
        );
        assert_eq!(db.ledger(), ["001:a", "002:b", "003:c"], "{steps}");
        assert!(db.table_exists("c"), "{steps}: rolled back");
    }
}

/// h16 F5: a migration whose statements write a row of the ledger other than its own —
/// deleting, updating or inserting one between the oldest and the newest, built at run time
/// where lint cannot see it — fails before its `COMMIT`, rolled back (exit 4), going up or
/// down, alone, in a message with others (prepared rows) and inside `--single-transaction`.
#[test]
fn a_migration_that_writes_a_middle_row_of_the_ledger_fails_before_its_commit() {
    let writes = [
        "DELETE FROM public.tb_' || 'confiture WHERE version = ''002''",
        "UPDATE public.tb_' || 'confiture SET name = ''x'' WHERE version = ''002''",
        "INSERT INTO public.tb_' || 'confiture (slug, version, name) VALUES (''z_099'', ''099'', ''z'')",
    ];
    for write in writes {
        let hidden = format!("DO $$ BEGIN EXECUTE '{write}'; END $$;\n");
        let runs: [(&str, bool, UpOptions); 3] = [
            ("up", true, UpOptions::default()),
            (
                "up single",
                true,
                UpOptions::default().single_transaction(true),
            ),
            ("down", false, UpOptions::default()),
        ];
        for (run, up, options) in runs {
            for (first, then) in [(3, 1), (2, 2)] {
                let how = format!("{run} {first}+{then}: {write}");
                let db = TestDb::new("middle_row");
                let dir = Dir::new();
                let (d_up, d_down) = if up {
                    (
                        format!("CREATE TABLE d (id int);\n{hidden}"),
                        "DROP TABLE d;\n".to_string(),
                    )
                } else {
                    (
                        "CREATE TABLE d (id int);\n".to_string(),
                        format!("DROP TABLE d;\n{hidden}"),
                    )
                };
                abc(&dir, "CREATE TABLE b (id int);\n", "DROP TABLE b;\n");
                dir.migration("004", "d", &d_up, &d_down);
                let mut migrator = db.migrator(&dir);
                let before = if up {
                    migrator
                        .up(&UpOptions::default().steps(Some(first)), &mut no_progress)
                        .expect("the first ones");
                    db.ledger()
                } else {
                    migrator
                        .up(&UpOptions::default(), &mut no_progress)
                        .expect("all four");
                    db.ledger()
                };
                let e = if up {
                    migrator.up(&options, &mut no_progress).unwrap_err().error
                } else {
                    migrator
                        .down(&DownOptions::default().steps(Some(then)), &mut no_progress)
                        .unwrap_err()
                        .error
                };
                let e = &e;
                assert_eq!(e.kind, ErrorKind::MigrationFailed, "{how}: {e:?}");
                assert!(
                    e.message.contains("004_d") && e.message.contains("rows of the tracking table"),
                    "{how}: {e}"
                );
                if run == "up single" {
                    assert_eq!(db.ledger(), before, "{how}: all rolled back");
                } else if up {
                    assert_eq!(db.ledger(), ["001:a", "002:b", "003:c"], "{how}");
                    assert!(!db.table_exists("d"), "{how}: rolled back");
                } else {
                    assert_eq!(db.ledger(), before, "{how}");
                    assert!(db.table_exists("d"), "{how}: rolled back");
                }
            }
        }
    }
}

/// A `no-transaction` migration's statements commit one by one: what it deleted stays, but it
/// is not recorded over a ledger it emptied, and the failure says so (exit 4).
#[test]
fn a_no_transaction_migration_that_empties_the_ledger_is_not_recorded_over_it() {
    let db = TestDb::new("wipe_notx");
    let dir = Dir::new();
    dir.migration("001", "a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n")
        .migration(
            "002",
            "b",
            &format!(
                "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n{}",
                on_every_table("DELETE FROM public.%I")
            ),
            "SELECT 1;\n",
        );
    let failed = db
        .migrator(&dir)
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_err();
    let e = &failed.error;
    assert_eq!(e.kind, ErrorKind::MigrationFailed, "{e:?}");
    assert!(
        e.message.contains("002_b") && e.message.contains("rows of the tracking table"),
        "{e}"
    );
    assert!(db.ledger().is_empty(), "002 is not recorded");
}

/// h6 #14: a migration that drops the tracking table (`DROP SCHEMA public CASCADE`, or built at
/// run time) was told to check the table's columns and this role's privileges. The ledger was
/// there when the run read it: the migration dropped it, and the error says so (exit 5, rolled
/// back) — alone and in a message with others.
#[test]
fn a_migration_that_drops_the_tracking_table_is_named_as_the_cause() {
    let drops = [
        "DROP SCHEMA public CASCADE;\nCREATE SCHEMA public;\nCREATE TABLE b (id int);\n",
        "CREATE TABLE b (id int);\nDO $$ BEGIN EXECUTE 'DROP TABLE tb_' || 'confiture'; END $$;\n",
    ];
    for up in drops {
        for first in [None, Some(1)] {
            let how = format!("{first:?}: {up}");
            let db = TestDb::new("drop_ledger");
            let dir = Dir::new();
            abc(&dir, up, "DROP TABLE b;\n");
            let mut migrator = db.migrator(&dir);
            if let Some(steps) = first {
                migrator
                    .up(&UpOptions::default().steps(Some(steps)), &mut no_progress)
                    .expect("001 alone");
            }
            let failed = migrator
                .up(&UpOptions::default(), &mut no_progress)
                .unwrap_err();
            let e = &failed.error;
            assert_eq!(e.kind, ErrorKind::Invalid, "{how}: {e:?}");
            assert!(
                e.message.contains("002_b dropped the tracking table"),
                "{how}: {e}"
            );
            let help = e.help.as_deref().unwrap_or_default();
            assert!(
                !help.contains("columns") && help.contains("002_b.up.sql"),
                "{how}: {help}"
            );
            assert_eq!(db.ledger(), ["001:a"], "{how}: rolled back");
        }
    }
}

/// h16 F11: a `no-transaction` migration (up or down) that drops the tracking table commits
/// it: every row is gone, so the failure says so (and during which statement it went) — never "still recorded as applied" nor "not
/// recorded" — and its help names the whole `migrate baseline --through V` command, V the
/// newest migration whose statements are in effect, without "run the command again" (nothing
/// is recorded to run it against).
#[test]
fn a_no_transaction_migration_that_drops_the_tracking_table_says_every_row_is_gone() {
    let notx = "-- confiture:no-transaction\n";
    let drop = "DO $$ BEGIN EXECUTE 'DROP TABLE tb_' || 'confiture'; END $$;\n";
    let index = "CREATE INDEX CONCURRENTLY a_id ON a (id);\n";
    // (up file of 002, down file of 002, rolling back?, the version to give baseline)
    let cases = [
        (
            format!("{notx}{index}{drop}"),
            "DROP INDEX a_id;\n".to_string(),
            false,
            "002",
        ),
        (
            format!("{notx}{index}"),
            format!("{notx}{drop}"),
            true,
            "001",
        ),
    ];
    for (up, down, rolling_back, through) in cases {
        let how = if rolling_back { "down" } else { "up" };
        let db = TestDb::new("drop_ledger_notx");
        let dir = Dir::new();
        abc(&dir, &up, &down);
        let mut migrator = db.migrator(&dir);
        let e = if rolling_back {
            migrator
                .up(&UpOptions::default(), &mut no_progress)
                .expect("all three");
            migrator
                .down(&DownOptions::default().steps(Some(2)), &mut no_progress)
                .unwrap_err()
                .error
        } else {
            migrator
                .up(&UpOptions::default(), &mut no_progress)
                .unwrap_err()
                .error
        };
        let e = &e;
        // Its statements committed one by one: nothing tells its own drop from another
        // session's while it ran, so the message names when, and both.
        let during = match rolling_back {
            false => "statement 2 of 2 of migration 002_b",
            true => "statement 1 of 1 of the rollback of migration 002_b",
        };
        assert!(
            e.message.contains(&format!(
                "the tracking table public.tb_confiture was dropped during {during} — by it or \
                 by another session"
            )),
            "{how}: {e}"
        );
        let details = e.details.join("\n");
        assert!(
            !details.contains("recorded as applied") && !details.contains("not recorded"),
            "{how}: {details}"
        );
        assert!(details.contains("every row"), "{how}: {details}");
        let help = e.help.as_deref().unwrap_or_default();
        // One code span: the command, its version, then only the flags the run was given.
        let span = help
            .split('`')
            .find(|s| s.starts_with("cargo confiture migrate baseline"))
            .unwrap_or_default();
        assert!(
            span.starts_with(&format!(
                "cargo confiture migrate baseline --through {through}"
            )) && !span.to_lowercase().contains("<version>"),
            "{how}: {help}"
        );
        assert!(!help.contains("the command again"), "{how}: {help}");
        assert_eq!(help.matches("migrate baseline").count(), 1, "{how}: {help}");
        assert!(!db.table_exists("tb_confiture"), "{how}: committed");
    }
}

/// h6 #16: what a migration `PREPARE`s is dropped after it whatever its name — a statement
/// named `confiture_ins` survived into the next migration, which failed preparing it again —
/// while the engine's own statements (markers, prepared rows) of the run stay.
#[test]
fn a_statement_a_migration_prepares_under_a_confiture_name_is_dropped_after_it() {
    for (how, options) in [
        ("batched", UpOptions::default()),
        ("single", UpOptions::default().single_transaction(true)),
    ] {
        let db = TestDb::new("prepared");
        let dir = Dir::new();
        dir.migration(
            "001",
            "a",
            "CREATE TABLE a (i int);\nPREPARE confiture_ins(int) AS INSERT INTO a VALUES ($1);\nEXECUTE confiture_ins(1);\n",
            "DROP TABLE a;\n",
        )
        .migration(
            "002",
            "b",
            "PREPARE confiture_ins(int) AS INSERT INTO a VALUES ($1);\nEXECUTE confiture_ins(2);\n",
            "DELETE FROM a WHERE i = 2;\n",
        )
        // The form of the engine's own names, with a nonce no run has (they start at 1).
        .migration(
            "003",
            "c",
            "PREPARE confiture_row_0 AS SELECT 1;\nCREATE TABLE c (id int);\n",
            "DROP TABLE c;\n",
        )
        .migration(
            "004",
            "d",
            "PREPARE confiture_row_0 AS SELECT 2;\nCREATE TABLE d (id int);\n",
            "DROP TABLE d;\n",
        );
        let report = db
            .migrator(&dir)
            .up(&options, &mut no_progress)
            .unwrap_or_else(|f| panic!("{how}: {}", f.error));
        assert_eq!(report.applied, ["001", "002", "003", "004"], "{how}");
        assert_eq!(
            db.value("SELECT string_agg(i::text, ',' ORDER BY i) FROM a")
                .as_deref(),
            Some("1,2"),
            "{how}"
        );
    }
}
