//! `migrate verify` and `migrate drift` compare the object kinds outside tables and functions:
//! a down file that leaves extended statistics, a collation, an operator, a text search
//! configuration, a foreign server or a publication behind — or a column's statistics target
//! — is not reversible, and such an object made by hand on the live database is drift
//! (h18 F8). So are the kinds around servers and languages: text search parsers and
//! templates, conversions, access methods, transforms, languages, user mappings (the names of
//! their options, never a password), subscriptions (never their connection string), grants on
//! foreign-data wrappers, servers and languages, and a publication's schemas — while those an
//! extension made stay out, and the same objects made by the migrations are no drift.

use crate::cli_verify::assert_scratch_dropped;
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
        (
            "CREATE TEXT SEARCH PARSER prs (START = prsd_start, GETTOKEN = prsd_nexttoken, \
             END = prsd_end, LEXTYPES = prsd_lextype);",
            "text search parser public.prs: left behind by 002_m.down.sql",
        ),
        (
            "CREATE TEXT SEARCH TEMPLATE tmpl (INIT = dsimple_init, LEXIZE = dsimple_lexize);",
            "text search template public.tmpl: left behind by 002_m.down.sql",
        ),
        (
            "CREATE CONVERSION conv FOR 'UTF8' TO 'LATIN1' FROM utf8_to_iso8859_1;",
            "conversion public.conv: left behind by 002_m.down.sql",
        ),
        (
            "CREATE ACCESS METHOD heap2 TYPE TABLE HANDLER heap_tableam_handler;",
            "access method heap2: left behind by 002_m.down.sql",
        ),
        (
            "CREATE TRUSTED LANGUAGE lang HANDLER plpgsql_call_handler VALIDATOR plpgsql_validator;",
            "language lang: left behind by 002_m.down.sql",
        ),
        (
            "CREATE FUNCTION from_sql(internal) RETURNS internal LANGUAGE internal IMMUTABLE \
             STRICT AS 'int4recv'; \
             CREATE TRANSFORM FOR integer LANGUAGE sql (FROM SQL WITH FUNCTION from_sql(internal));",
            "transform for integer language sql: left behind by 002_m.down.sql",
        ),
        (
            "CREATE SUBSCRIPTION sub CONNECTION 'dbname=elsewhere password=sub_secret' \
             PUBLICATION pub WITH (connect = false);",
            "subscription sub: left behind by 002_m.down.sql",
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
        let run = project.run_on(&db, &["migrate", "verify"]);
        run.code(exit::SCHEMA_CHECK_FAILED)
            .stdout_has("002_m      ✗ down does not restore the schema")
            .stdout_has(object);
        // Even with a subscription left there, which the server drops no database with.
        assert_scratch_dropped(&run);
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

/// What a migration changes on objects made before it: the grants on a foreign-data wrapper, a
/// server and a language, a user mapping's options (named, never their values), a publication's
/// schemas and a subscription's publications — each not undone by its down.
#[test]
fn a_down_that_does_not_undo_a_change_of_a_server_object_is_not_reversible() {
    let db = TestDb::unborn("verify_kinds");
    let project = Project::new();
    project
        .migration("001_objects", OBJECTS, DROP_OBJECTS)
        .migration("002_subscription", SUBSCRIPTION, DROP_SUBSCRIPTION)
        .migration(
            "003_m",
            "GRANT USAGE ON FOREIGN DATA WRAPPER fdw TO PUBLIC;\n\
             GRANT USAGE ON FOREIGN SERVER srv TO PUBLIC;\n\
             REVOKE USAGE ON LANGUAGE lang FROM PUBLIC;\n\
             ALTER USER MAPPING FOR PUBLIC SERVER srv OPTIONS (ADD password 'um_secret');\n\
             ALTER PUBLICATION pub ADD TABLES IN SCHEMA s2;\n\
             ALTER SUBSCRIPTION sub SET PUBLICATION pub, pub2 WITH (refresh = false);\n",
            "SELECT 1;\n",
        );
    let run = project.run_on(&db, &["migrate", "verify"]);
    run.code(exit::SCHEMA_CHECK_FAILED)
        .stdout_has("001_objects       ✓ reversible")
        .stdout_has("002_subscription  ✓ reversible")
        .stdout_has("003_m             ✗ down does not restore the schema");
    for line in [
        "grant on foreign data wrapper fdw to PUBLIC: left behind by 003_m.down.sql",
        "grant on foreign server srv to PUBLIC: left behind by 003_m.down.sql",
        "grant on language lang to PUBLIC: missing after 003_m.down.sql",
        "user mapping for PUBLIC server srv: options password, user, expected user (after 003_m.down.sql)",
        "publication pub: schemas s1, s2, expected s1 (after 003_m.down.sql)",
        "subscription sub: publications pub, pub2, expected pub (after 003_m.down.sql)",
    ] {
        run.stdout_has(line);
    }
    run.stdout_lacks("secret").stderr_lacks("secret");
    assert_scratch_dropped(&run);
}

/// Every new kind, made by a migration with a down that undoes it (and objects of extensions),
/// then on the live database: no drift. Then each changed by hand: drift, naming each, never a
/// password.
#[test]
fn server_objects_made_by_migrations_are_no_drift_and_changed_by_hand_are() {
    let db = TestDb::new("drift_kinds");
    let _subscriptions = DropSubscriptions(&db);
    let project = Project::new();
    project
        .migration(
            "001_extensions",
            "CREATE EXTENSION bloom; CREATE EXTENSION postgres_fdw;\n\
             GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO PUBLIC;\n",
            "DROP EXTENSION postgres_fdw; DROP EXTENSION bloom;\n",
        )
        .migration("002_objects", OBJECTS, DROP_OBJECTS)
        .migration("003_subscription", SUBSCRIPTION, DROP_SUBSCRIPTION);
    let run = project.run_on(&db, &["migrate", "verify"]);
    run.code(exit::SUCCESS);
    assert_scratch_dropped(&run);
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    let run = project.run_on(&db, &["migrate", "drift"]);
    run.code(exit::SUCCESS);
    assert_scratch_dropped(&run);
    db.connect()
        .batch_execute(
            "CREATE TEXT SEARCH TEMPLATE tmpl2 (INIT = dsimple_init, LEXIZE = dsimple_lexize);\n\
             DROP CONVERSION conv;\n\
             ALTER USER MAPPING FOR PUBLIC SERVER srv OPTIONS (ADD password 'um_secret');\n\
             ALTER SUBSCRIPTION sub SET (synchronous_commit = 'local');\n\
             ALTER SUBSCRIPTION sub CONNECTION 'dbname=other password=sub_secret2';\n\
             GRANT USAGE ON FOREIGN SERVER srv TO PUBLIC;\n\
             ALTER PUBLICATION pub DROP TABLES IN SCHEMA s1;\n\
             CREATE USER MAPPING FOR CURRENT_USER SERVER srv OPTIONS (password 'um_secret2');",
        )
        .unwrap();
    let run = project.run_on(&db, &["migrate", "drift"]);
    run.code(exit::SCHEMA_CHECK_FAILED);
    for line in [
        "text search template public.tmpl2: in the live database, not made by its applied migrations",
        "conversion public.conv: missing from the live database",
        "user mapping for PUBLIC server srv: options password, user, expected user",
        "subscription sub: synchronous_commit local, expected off",
        "grant on foreign server srv to PUBLIC: in the live database, not made by its applied migrations",
        "publication pub: no schemas, expected s1",
        "user mapping for postgres server srv: in the live database, not made by its applied migrations",
    ] {
        run.stdout_has(line);
    }
    run.stdout_lacks("secret").stderr_lacks("secret");
}

/// One object of each kind around servers and languages.
const OBJECTS: &str = "\
CREATE SCHEMA s1;
CREATE SCHEMA s2;
CREATE TEXT SEARCH PARSER prs (START = prsd_start, GETTOKEN = prsd_nexttoken, END = prsd_end, LEXTYPES = prsd_lextype);
CREATE TEXT SEARCH TEMPLATE tmpl (INIT = dsimple_init, LEXIZE = dsimple_lexize);
CREATE CONVERSION conv FOR 'UTF8' TO 'LATIN1' FROM utf8_to_iso8859_1;
CREATE ACCESS METHOD heap2 TYPE TABLE HANDLER heap_tableam_handler;
CREATE FUNCTION from_sql(internal) RETURNS internal LANGUAGE internal IMMUTABLE STRICT AS 'int4recv';
CREATE TRANSFORM FOR integer LANGUAGE sql (FROM SQL WITH FUNCTION from_sql(internal));
CREATE TRUSTED LANGUAGE lang HANDLER plpgsql_call_handler VALIDATOR plpgsql_validator;
CREATE FOREIGN DATA WRAPPER fdw;
CREATE SERVER srv FOREIGN DATA WRAPPER fdw;
CREATE USER MAPPING FOR PUBLIC SERVER srv OPTIONS (user 'remote');
CREATE PUBLICATION pub FOR TABLES IN SCHEMA s1;
";

const DROP_OBJECTS: &str = "\
DROP PUBLICATION pub;
DROP USER MAPPING FOR PUBLIC SERVER srv;
DROP SERVER srv;
DROP FOREIGN DATA WRAPPER fdw;
DROP LANGUAGE lang;
DROP TRANSFORM FOR integer LANGUAGE sql;
DROP FUNCTION from_sql(internal);
DROP ACCESS METHOD heap2;
DROP CONVERSION conv;
DROP TEXT SEARCH TEMPLATE tmpl;
DROP TEXT SEARCH PARSER prs;
DROP SCHEMA s2;
DROP SCHEMA s1;
";

/// A subscription, made without connecting; its down, outside a transaction block (`DROP
/// SUBSCRIPTION`), detaches it from its replication slot first.
const SUBSCRIPTION: &str = "\
CREATE SUBSCRIPTION sub CONNECTION 'dbname=elsewhere password=sub_secret' PUBLICATION pub WITH (connect = false);
";

const DROP_SUBSCRIPTION: &str = "\
-- confiture:no-transaction
ALTER SUBSCRIPTION sub SET (slot_name = NONE);
DROP SUBSCRIPTION sub;
";

/// Drops the subscriptions of a test's live database before the database (which the server
/// drops only without subscriptions).
struct DropSubscriptions<'a>(&'a TestDb);

impl Drop for DropSubscriptions<'_> {
    fn drop(&mut self) {
        let _ = self.0.connect().batch_execute(
            "ALTER SUBSCRIPTION sub DISABLE; ALTER SUBSCRIPTION sub SET (slot_name = NONE); \
             DROP SUBSCRIPTION sub;",
        );
    }
}
