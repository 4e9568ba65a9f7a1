//! `migrate verify` and `migrate drift` compare the object kinds outside tables and functions:
//! a down file that leaves extended statistics, a collation, an operator, a text search
//! configuration, a foreign server or a publication behind — or a column's statistics target
//! — is not reversible, and such an object made by hand on the live database is drift
//! (h18 F8).

use confiture::exit;
use confiture_tests::{Project, TestDb};

#[test]
fn a_down_that_leaves_a_catalog_object_behind_is_not_reversible() {
    let db = TestDb::unborn("verify_kinds");
    for (up, object) in [
        (
            "CREATE STATISTICS IF NOT EXISTS st ON a, b FROM t;",
            "statistics public.st: left behind by 002_m.down.sql",
        ),
        (
            "CREATE COLLATION IF NOT EXISTS coll_und (provider = icu, locale = 'und');",
            "collation public.coll_und: left behind by 002_m.down.sql",
        ),
        (
            "ALTER TABLE t ALTER COLUMN a SET STATISTICS 500;",
            "column public.t.a: statistics_target 500, expected none (after 002_m.down.sql)",
        ),
        (
            "ALTER TABLE t ALTER COLUMN a SET (n_distinct = 5);",
            "column public.t.a: options n_distinct=5, expected none (after 002_m.down.sql)",
        ),
        (
            "CREATE TEXT SEARCH CONFIGURATION cfg (COPY = pg_catalog.simple);",
            "text search configuration public.cfg: left behind by 002_m.down.sql",
        ),
        (
            "CREATE FOREIGN DATA WRAPPER fdw; CREATE SERVER srv FOREIGN DATA WRAPPER fdw;",
            "foreign data wrapper fdw: left behind by 002_m.down.sql",
        ),
        (
            "CREATE PUBLICATION pub FOR TABLE t;",
            "publication pub: left behind by 002_m.down.sql",
        ),
    ] {
        let project = Project::new();
        project
            .migration(
                "001_t",
                "CREATE TABLE t (a integer, b integer);\n",
                "DROP TABLE t;\n",
            )
            .migration("002_m", &format!("{up}\n"), "SELECT 1;\n");
        project
            .run_on(&db, &["migrate", "verify"])
            .code(exit::SCHEMA_CHECK_FAILED)
            .stdout_has("002_m      ✗ down does not restore the schema")
            .stdout_has(object);
    }
}

#[test]
fn a_statistics_object_made_by_hand_is_drift() {
    let db = TestDb::new("drift_kinds");
    let project = Project::new();
    project.migration(
        "001_t",
        "CREATE TABLE t (a integer, b integer);\n",
        "DROP TABLE t;\n",
    );
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "drift"])
        .code(exit::SUCCESS);
    db.connect()
        .batch_execute("CREATE STATISTICS st ON a, b FROM t; CREATE COLLATION c (locale = 'C')")
        .unwrap();
    project
        .run_on(&db, &["migrate", "drift"])
        .code(exit::SCHEMA_CHECK_FAILED)
        .stdout_has(
            "statistics public.st: in the live database, not made by its applied migrations",
        )
        .stdout_has("collation public.c: in the live database, not made by its applied migrations");
}
