//! Schema snapshots read from the catalogs of the real PostgreSQL (`db::snapshot`) and compared
//! with `schema::diff`: the groundwork of `migrate verify` and `migrate drift`.
//!
//! - The corpus `tests/fixtures/snapshot/down/<case>/`: `setup.sql` (optional), `up.sql`,
//!   `down.sql` and `expected.txt`, which holds what the snapshot sees of the up (the
//!   difference from before to after it) and what the down leaves different from before the
//!   up. Cases named `wrong_*` are down files that do not undo their up: each must be caught.
//!   Cases named `right_*` must leave nothing, and their up must be repeatable after the down.
//!   `UPDATE_EXPECT=1 cargo test -p confiture --test it schema_snapshot` re-blesses. A
//!   `teardown.sql` runs at the end, passed or not (a subscription must be dropped before its
//!   database can be).
//! - A realistic chain of 30 migrations (`tests/fixtures/snapshot/chain/`) and the example
//!   `db/migrations`, applied with `Migrator` one step at a time: each down restores the
//!   snapshot from before its up, and each up after its down gives the snapshot after the
//!   first up.
//! - Stability: two databases built by the same DDL (with different OIDs, names and session
//!   settings) give equal snapshots; the ledger, system schemas and extension members are left
//!   out; roles are compared by name.
#![cfg(feature = "db")]

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{admin, unique, TestDb};
use confiture::db::snapshot::{snapshot, SnapshotOptions};
use confiture::files::CheckOptions;
use confiture::ledger::TrackingTable;
use confiture::migrate::{no_progress, DownOptions, UpOptions};
use confiture::schema::{diff, Difference, ObjectId, ObjectKind, Snapshot};
use confiture::Migrator;
use confiture_test_support::reaper::DropRoleLater;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snapshot")
}

fn snap(db: &TestDb) -> Snapshot {
    snapshot(&mut db.client(), &SnapshotOptions::default()).expect("snapshot")
}

fn rendered(differences: &[Difference]) -> String {
    differences.iter().map(|d| format!("{d}\n")).collect()
}

fn execute(db: &TestDb, file: &Path) {
    let sql = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    db.client()
        .batch_execute(&sql)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
}

// ---------------------------------------------------------------------------------------------
// The corpus of down files.

/// Runs one case and compares with its `expected.txt`.
fn run_case(case: &str) {
    let dir = fixtures().join("down").join(case);
    assert!(dir.is_dir(), "no fixture directory {}", dir.display());
    let db = TestDb::new("cft_snap");
    let _teardown = Teardown(&db, dir.join("teardown.sql"));
    if dir.join("setup.sql").exists() {
        execute(&db, &dir.join("setup.sql"));
    }
    let before = snap(&db);
    execute(&db, &dir.join("up.sql"));
    let after_up = snap(&db);
    execute(&db, &dir.join("down.sql"));
    let after_down = snap(&db);

    let up = diff(&before, &after_up);
    let down = diff(&before, &after_down);
    let actual = format!(
        "# what the up changes\n{}# left different by the down\n{}",
        rendered(&up),
        rendered(&down)
    );

    assert!(
        !up.is_empty() || dir.join("up-changes-data-only").exists(),
        "{case}: the snapshot sees nothing of the up (add `up-changes-data-only` if intended)"
    );
    if case.starts_with("wrong_") {
        assert!(!down.is_empty(), "{case}: the wrong down was not caught");
    } else {
        assert!(
            case.starts_with("right_"),
            "{case}: name it wrong_* or right_*"
        );
        assert_eq!(
            rendered(&down),
            "",
            "{case}: the right down left differences"
        );
        execute(&db, &dir.join("up.sql"));
        let again = diff(&after_up, &snap(&db));
        assert_eq!(
            rendered(&again),
            "",
            "{case}: the up is not repeatable after the down"
        );
    }

    let expected_path = dir.join("expected.txt");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        fs::write(&expected_path, &actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(&expected_path).unwrap_or_default();
    assert!(
        actual == expected,
        "fixture `{case}` differs from {}\n--- expected\n{expected}--- actual\n{actual}\
         (rerun with UPDATE_EXPECT=1 to re-bless if the change is intended)",
        expected_path.display()
    );
}

/// Runs a case's `teardown.sql`, if it has one, when dropped (before its database is).
struct Teardown<'a>(&'a TestDb, PathBuf);

impl Drop for Teardown<'_> {
    fn drop(&mut self) {
        if let Ok(sql) = fs::read_to_string(&self.1) {
            let _ = self.0.client().batch_execute(&sql);
        }
    }
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        $( #[test] fn $case() { run_case(stringify!($case)); } )*
        const CASES: &[&str] = &[$(stringify!($case)),*];
    };
}

cases! {
    wrong_leftover_index,
    wrong_leftover_sequence,
    wrong_leftover_column_default,
    wrong_leftover_check_constraint,
    wrong_leftover_trigger,
    wrong_leftover_grant,
    wrong_leftover_enum_value,
    wrong_leftover_function,
    wrong_leftover_view,
    wrong_column_type_restored_wrong,
    wrong_nullability_not_restored,
    wrong_comment_not_restored,
    wrong_leftover_policy_and_row_security,
    wrong_leftover_extension,
    wrong_function_body_not_restored,
    wrong_view_definition_not_restored,
    wrong_owner_not_restored,
    wrong_leftover_default_privileges,
    wrong_leftover_identity,
    wrong_leftover_partition,
    wrong_leftover_domain_constraint,
    wrong_trigger_left_disabled,
    wrong_sequence_parameters_not_restored,
    wrong_leftover_composite_attribute,
    wrong_leftover_materialized_view,
    wrong_leftover_table,
    wrong_leftover_generated_column,
    wrong_collation_not_restored,
    wrong_leftover_statistics_object,
    wrong_leftover_collation,
    wrong_leftover_operator_class_family_cast,
    wrong_leftover_text_search,
    wrong_leftover_foreign_server_publication,
    wrong_column_statistics_and_options_not_restored,
    wrong_leftover_server_and_language_objects,
    wrong_subscription_not_restored,
    right_add_column,
    right_grant_then_revoke,
    right_enum_value_removed_by_recreating_the_type,
    right_comment_restored,
    right_column_readded_at_the_end,
    right_aggregate_rule_event_trigger_foreign_table,
    right_sequence_values_are_not_schema,
    right_function_replaced_and_restored,
    right_catalog_objects_dropped,
    right_server_and_language_objects_dropped,
}

#[test]
fn every_corpus_directory_is_a_test() {
    let mut on_disk: Vec<String> = fs::read_dir(fixtures().join("down"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| c.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "add the new directory to `cases!`");
}

// ---------------------------------------------------------------------------------------------
// Chains of migrations applied with the library, as `migrate verify` will.

fn migrator(db: &TestDb, dir: &Path) -> Migrator {
    Migrator::new(db.environment(), dir, CheckOptions::default())
}

fn up_one(db: &TestDb, dir: &Path) -> Vec<String> {
    let up = UpOptions::default().steps(Some(1));
    migrator(db, dir)
        .up(&up, &mut no_progress)
        .unwrap_or_else(|e| panic!("up in {}: {e:?}", dir.display()))
        .applied
}

fn down_one(db: &TestDb, dir: &Path) {
    migrator(db, dir)
        .down(&DownOptions::default(), &mut no_progress)
        .unwrap_or_else(|e| panic!("down in {}: {e:?}", dir.display()));
}

/// For each migration of `dir` in order: snapshot, up, snapshot, down, snapshot (must equal
/// the first), up again, snapshot (must equal the second). Returns every finding, rendered.
fn verify(db: &TestDb, dir: &Path) -> (usize, Vec<String>) {
    let mut findings = Vec::new();
    let mut count = 0;
    loop {
        let before = snap(db);
        let applied = up_one(db, dir);
        let Some(version) = applied.first() else {
            break;
        };
        count += 1;
        let after_up = snap(db);
        assert_ne!(
            diff(&before, &after_up),
            [],
            "{version}: the snapshot sees nothing of the up"
        );
        down_one(db, dir);
        for d in diff(&before, &snap(db)) {
            findings.push(format!("{version} down: {d}"));
        }
        assert_eq!(up_one(db, dir), std::slice::from_ref(version));
        for d in diff(&after_up, &snap(db)) {
            findings.push(format!("{version} up again: {d}"));
        }
    }
    (count, findings)
}

#[test]
fn a_realistic_chain_of_30_migrations_reverses_cleanly_and_repeats() {
    let db = TestDb::new("cft_snap_chain");
    let (count, findings) = verify(&db, &fixtures().join("chain"));
    assert_eq!(count, 30);
    assert_eq!(findings, Vec::<String>::new());
}

fn example_migrations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../db/migrations")
}

#[test]
fn the_example_migrations_reverse_cleanly_and_repeat() {
    let db = TestDb::new("cft_snap_example");
    let (count, findings) = verify(&db, &example_migrations());
    assert_eq!(count, 6);
    assert_eq!(findings, Vec::<String>::new());
}

/// Not a timing assertion (the machine is shared): prints what a snapshot of the example
/// schema costs, and checks that it sees the example's objects and repeats itself.
#[test]
fn a_snapshot_of_the_example_schema_is_quick_and_stable() {
    let db = TestDb::new("cft_snap_speed");
    migrator(&db, &example_migrations())
        .up(&UpOptions::default(), &mut no_progress)
        .expect("example migrations apply");
    let mut client = db.client();
    // The first snapshot of a session also prepares the query.
    let start = Instant::now();
    let first = snapshot(&mut client, &SnapshotOptions::default()).unwrap();
    let cold = start.elapsed();
    let mut times = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        let again = snapshot(&mut client, &SnapshotOptions::default()).unwrap();
        times.push(start.elapsed());
        assert_eq!(again, first);
    }
    times.sort();
    eprintln!(
        "snapshot of the example schema ({} objects): first {cold:?}, then median {:?}, fastest {:?}",
        first.len(),
        times[times.len() / 2],
        times[0]
    );
    for id in [
        ObjectId::new(ObjectKind::Index, "public.idx_tb_comment_fk_post"),
        ObjectId::new(ObjectKind::View, "public.v_post"),
        ObjectId::with_sub(ObjectKind::Column, "public.tb_user", "avatar_url"),
        ObjectId::with_sub(
            ObjectKind::Constraint,
            "public.tb_comment",
            "tb_comment_fk_post_fkey",
        ),
    ] {
        assert!(first.get(&id).is_some(), "{id} is not in the snapshot");
    }
    assert!(
        first
            .iter()
            .all(|(id, _)| !id.name.contains("tb_confiture")),
        "the ledger leaked into the snapshot"
    );
    assert!(times[times.len() / 2] < Duration::from_secs(5));
}

// ---------------------------------------------------------------------------------------------
// Stability: what must not leak into a snapshot.

/// Applies every migration of the chain with one `up`.
fn build_chain(db: &TestDb) {
    migrator(db, &fixtures().join("chain"))
        .up(&UpOptions::default(), &mut no_progress)
        .unwrap_or_else(|e| panic!("chain: {e:?}"));
}

#[test]
fn two_databases_built_by_the_same_ddl_have_equal_snapshots() {
    let first = TestDb::new("cft_snap_twin");
    let second = TestDb::new("cft_snap_twin_other_name");
    build_chain(&first);
    // Other OIDs in the second database: objects created and dropped before the chain.
    second
        .client()
        .batch_execute(
            "CREATE TABLE shift_oids (a int, b text); CREATE TYPE shift_type AS ENUM ('x');\n\
             CREATE FUNCTION shift_fn() RETURNS int LANGUAGE sql AS 'SELECT 1';\n\
             DROP TABLE shift_oids; DROP TYPE shift_type; DROP FUNCTION shift_fn();",
        )
        .unwrap();
    build_chain(&second);

    let a = snap(&first);
    // Another session state: search_path, time zone and date style change how names and
    // constants print, unless the snapshot fixes them.
    let mut client = second.client();
    client
        .batch_execute(
            "SET search_path = app, public; SET TimeZone = 'Pacific/Chatham'; \
             SET DateStyle = 'SQL, DMY'; SET IntervalStyle = 'sql_standard'; \
             SET extra_float_digits = 3; SET quote_all_identifiers = on",
        )
        .unwrap();
    let b = snapshot(&mut client, &SnapshotOptions::default()).unwrap();
    assert_eq!(rendered(&diff(&a, &b)), "");
    assert_eq!(a, b);
    // Every kind the chain creates is there (a sanity check against an empty comparison).
    for kind in [
        ObjectKind::Schema,
        ObjectKind::Extension,
        ObjectKind::Type,
        ObjectKind::Domain,
        ObjectKind::Sequence,
        ObjectKind::Table,
        ObjectKind::View,
        ObjectKind::MaterializedView,
        ObjectKind::Column,
        ObjectKind::Attribute,
        ObjectKind::Constraint,
        ObjectKind::Index,
        ObjectKind::Function,
        ObjectKind::Procedure,
        ObjectKind::Trigger,
        ObjectKind::Policy,
        ObjectKind::Grant,
    ] {
        assert!(
            a.iter().any(|(id, _)| id.kind == kind),
            "no {kind} in the chain"
        );
    }

    let json = serde_json::to_string(&b).unwrap();
    for name in [&first.name, &second.name] {
        assert!(
            !json.contains(name.as_str()),
            "the database name {name} leaked"
        );
    }
    // The session's own settings are untouched.
    let search_path: String = client.query_one("SHOW search_path", &[]).unwrap().get(0);
    assert_eq!(search_path, "app, public");
    let tz: String = client.query_one("SHOW TimeZone", &[]).unwrap().get(0);
    assert_eq!(tz, "Pacific/Chatham");
}

#[test]
fn the_ledger_is_left_out_entirely_wherever_it_is() {
    let db = TestDb::new("cft_snap_ledger");
    let mut client = db.client();
    client.batch_execute("CREATE SCHEMA ops").unwrap();
    let without = snapshot(&mut client, &SnapshotOptions::default()).unwrap();

    for table in ["ops.tb_confiture", "tb_confiture", "ops.migrations_log"] {
        let ledger = TrackingTable::parse(table).unwrap();
        let q = ledger.quoted();
        let sql = format!(
            "{}\
             GRANT SELECT ON {q} TO PUBLIC;\n\
             GRANT SELECT (version) ON {q} TO pg_monitor;\n\
             COMMENT ON TABLE {q} IS 'the ledger';\n\
             COMMENT ON COLUMN {q}.version IS 'the version';\n\
             ALTER TABLE {q} ADD CONSTRAINT ledger_check CHECK (version <> '');\n\
             ALTER TABLE {q} ENABLE ROW LEVEL SECURITY;\n\
             CREATE POLICY ledger_policy ON {q} USING (true);\n\
             INSERT INTO {q} (slug, version, name) VALUES ('a_001', '001', 'a');\n",
            ledger.create_sql()
        );
        client.batch_execute(&sql).unwrap();
        let options = SnapshotOptions {
            ledger: Some(ledger.clone()),
        };
        let with = snapshot(&mut client, &options).unwrap();
        assert_eq!(rendered(&diff(&without, &with)), "", "ledger {table}");

        // Without the option, all of it is seen: the exclusion is the option's doing.
        let seen = snapshot(&mut client, &SnapshotOptions { ledger: None }).unwrap();
        let seen = rendered(&diff(&without, &seen));
        assert!(
            seen.contains(&format!("table {}: left behind", qualified(&ledger))),
            "{seen}"
        );
        client.batch_execute(&format!("DROP TABLE {q}")).unwrap();
    }

    // A ledger that does not exist (yet) leaves nothing out and is no error.
    let options = SnapshotOptions {
        ledger: Some(TrackingTable::parse("nowhere.tb_confiture").unwrap()),
    };
    assert_eq!(snapshot(&mut client, &options).unwrap(), without);
}

fn qualified(table: &TrackingTable) -> String {
    match &table.schema {
        Some(schema) => format!("{schema}.{}", table.name),
        None => format!("public.{}", table.name),
    }
}

#[test]
fn system_schemas_and_extension_members_are_left_out() {
    let db = TestDb::new("cft_snap_ext");
    let mut client = db.client();
    client
        .batch_execute(
            "CREATE EXTENSION pgcrypto; CREATE EXTENSION citext;\n\
             CREATE TABLE t (email citext, h bytea DEFAULT public.digest('x', 'sha256'));\n\
             CREATE EXTENSION bloom; CREATE EXTENSION postgres_fdw;\n\
             GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO PUBLIC;",
        )
        .unwrap_or_else(|e| {
            panic!(
                "this test needs the contrib extensions pgcrypto, citext, bloom and \
                 postgres_fdw: {e}"
            )
        });
    let s = snapshot(&mut client, &SnapshotOptions::default()).unwrap();
    let names: Vec<String> = s.iter().map(|(id, _)| id.to_string()).collect();
    let members = s.iter().filter(|(id, _)| id.kind != ObjectKind::Extension);
    for id in members.map(|(id, _)| id.to_string()) {
        assert!(
            !id.contains("pg_catalog.")
                && !id.contains("information_schema.")
                && !id.contains("pg_toast"),
            "a system object: {id}"
        );
        // bloom's access method, postgres_fdw's wrapper (and a grant on it), plpgsql's
        // language and handler.
        assert!(
            !["digest", "citext", "bloom", "postgres_fdw", "plpgsql"]
                .iter()
                .any(|member| id.contains(member)),
            "an extension member: {id}"
        );
    }
    for id in [
        "extension pgcrypto",
        "extension citext",
        "extension bloom",
        "extension postgres_fdw",
        "extension plpgsql",
        "schema public",
    ] {
        assert!(
            names.iter().any(|n| n == id),
            "{id} missing from {names:#?}"
        );
    }
    let email = s
        .get(&ObjectId::with_sub(ObjectKind::Column, "public.t", "email"))
        .unwrap();
    assert_eq!(email.properties["type"], "public.citext");
    let pgcrypto = s
        .get(&ObjectId::new(ObjectKind::Extension, "pgcrypto"))
        .unwrap();
    assert_eq!(pgcrypto.properties["schema"], "public");
}

/// A new role of the cluster for one test, dropped afterwards (after the databases handed over
/// before it: declare it before the databases that use it).
fn new_role() -> DropRoleLater {
    let name = unique("cft_snap_role");
    admin()
        .batch_execute(&format!("CREATE ROLE \"{name}\" NOLOGIN"))
        .unwrap();
    DropRoleLater(name)
}

#[test]
fn ownership_and_grants_are_compared_by_role_name() {
    let role = new_role();
    let ours = TestDb::new("cft_snap_owner");
    let theirs = TestDb::new("cft_snap_owner");
    let ddl = "CREATE TABLE t (a int); CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';";
    ours.client().batch_execute(ddl).unwrap();
    theirs
        .client()
        .batch_execute(&format!(
            "{ddl} ALTER TABLE t OWNER TO \"{r}\"; GRANT SELECT ON t TO postgres;\n\
             ALTER FUNCTION f() OWNER TO \"{r}\";",
            r = role.0
        ))
        .unwrap();
    let r = &role.0;
    assert_eq!(
        rendered(&diff(&snap(&ours), &snap(&theirs))),
        // The owner's own (default) privileges follow the owner: one difference, not three.
        format!(
            "table public.t: owner {r}, expected postgres\n\
             function public.f(): owner {r}, expected postgres\n\
             grant on table public.t to postgres: left behind\n"
        )
    );
    drop(ours);
    drop(theirs);
}

/// A subscription and a user mapping are read without their secrets: a subscription's
/// connection string and a mapping's option values (passwords) are in no snapshot, and a role
/// other than a superuser, which may not read them, takes the same snapshot as the superuser.
#[test]
fn subscriptions_and_user_mappings_are_read_without_their_secrets() {
    let role = new_role();
    let db = TestDb::new("cft_snap_secrets");
    let r = &role.0;
    let _teardown = Teardown(
        &db,
        fixtures().join("down/wrong_subscription_not_restored/teardown.sql"),
    );
    db.client()
        .batch_execute(&format!(
            "CREATE SUBSCRIPTION sub5 CONNECTION 'host=127.0.0.1 dbname=nowhere password=sub_hunter2' \
               PUBLICATION pub5 WITH (connect = false);\n\
             CREATE FOREIGN DATA WRAPPER fdw6; CREATE SERVER srv6 FOREIGN DATA WRAPPER fdw6;\n\
             CREATE USER MAPPING FOR \"{r}\" SERVER srv6 OPTIONS (user 'remote', password 'um_hunter2');\n\
             GRANT USAGE ON FOREIGN SERVER srv6 TO \"{r}\";"
        ))
        .unwrap();
    let as_superuser = snap(&db);
    let mut client = db.client();
    client.batch_execute(&format!("SET ROLE \"{r}\"")).unwrap();
    let as_role = snapshot(&mut client, &SnapshotOptions::default()).unwrap();
    for s in [&as_superuser, &as_role] {
        let json = serde_json::to_string(s).unwrap();
        assert!(!json.contains("hunter2"), "a secret in {json}");
        let subscription = s
            .get(&ObjectId::new(ObjectKind::Subscription, "sub5"))
            .expect("the subscription");
        assert_eq!(subscription.properties["publications"], "pub5");
        assert_eq!(subscription.properties["enabled"], "no");
    }
    // The mapped role, which may use the server, may read its mapping's options: their names,
    // as the superuser does.
    let mapping = ObjectId::with_sub(ObjectKind::UserMapping, "srv6", r.as_str());
    assert_eq!(
        as_role.get(&mapping).unwrap().properties["options"],
        "password, user"
    );
    assert_eq!(rendered(&diff(&as_superuser, &as_role)), "");
    drop(client);
    drop(_teardown);
    drop(db);
}

#[test]
fn a_read_only_session_can_take_a_snapshot() {
    let db = TestDb::new("cft_snap_ro");
    execute(&db, &fixtures().join("down/right_add_column/setup.sql"));
    let mut client = db.client();
    let before = snapshot(&mut client, &SnapshotOptions::default()).unwrap();
    client
        .batch_execute("SET default_transaction_read_only = on")
        .unwrap();
    let after = snapshot(&mut client, &SnapshotOptions::default()).unwrap();
    assert_eq!(before, after);
}

#[test]
fn a_lost_connection_is_a_connection_error() {
    let db = TestDb::new("cft_snap_lost");
    let mut client = db.client();
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    admin()
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap();
    let error = snapshot(&mut client, &SnapshotOptions::default()).unwrap_err();
    assert_eq!(error.kind, confiture::ErrorKind::Connection);
    assert!(
        error.message.contains("cannot read the schema"),
        "{}",
        error.message
    );
}

/// The rendering used in reports, on one realistic difference of each shape.
#[test]
fn differences_render_as_one_line_per_object_and_property() {
    let db = TestDb::new("cft_snap_render");
    let mut client = db.client();
    client
        .batch_execute(
            "CREATE TABLE tb_post (slug text, n integer NOT NULL);\n\
             CREATE INDEX idx_tb_post_slug ON tb_post (slug);",
        )
        .unwrap();
    let before = snapshot(&mut client, &SnapshotOptions::default()).unwrap();
    client
        .batch_execute(
            "DROP INDEX idx_tb_post_slug; ALTER TABLE tb_post ALTER COLUMN n TYPE bigint;\n\
             ALTER TABLE tb_post ALTER COLUMN n DROP NOT NULL; CREATE VIEW v AS SELECT 1 AS one;",
        )
        .unwrap();
    let after = snapshot(&mut client, &SnapshotOptions::default()).unwrap();
    // Sorted by kind, then name; the view's columns and grants are hidden behind the view.
    assert_eq!(
        rendered(&diff(&before, &after)),
        "view public.v: left behind\n\
         column public.tb_post.n: nullable yes, expected no\n\
         column public.tb_post.n: type bigint, expected integer\n\
         index public.idx_tb_post_slug: missing\n"
    );
}

/// Another session drops a table and its view while a snapshot reads them: the snapshot's
/// catalog scan still sees them, then waits for the dropping transaction's lock to read the
/// view's definition, and finds the relation gone ("could not open relation with OID ...").
/// The snapshot is tried again and sees the catalogs as they are now.
#[test]
fn a_snapshot_survives_objects_dropped_while_it_reads_them() {
    let db = TestDb::new("cft_snap_race");
    db.client()
        .batch_execute(
            "CREATE TABLE race_t (a int DEFAULT 1, b text);\n\
             CREATE VIEW race_v AS SELECT * FROM race_t;\n\
             CREATE INDEX race_i ON race_t (a);\n\
             CREATE TABLE kept (a int);",
        )
        .unwrap();
    let mut dropper = db.client();
    dropper
        .batch_execute("BEGIN; DROP VIEW race_v; DROP TABLE race_t;")
        .unwrap();
    let mut reader = db.client();
    let reader_pid: i32 = reader
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    std::thread::scope(|scope| {
        let taken = scope.spawn(|| snapshot(&mut reader, &SnapshotOptions::default()));
        // Wait (polling) until the snapshot waits for the dropper's lock, then commit the drop.
        let mut watcher = db.client();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let waiting: bool = watcher
                .query_one(
                    "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock')",
                    &[&reader_pid],
                )
                .unwrap()
                .get(0);
            if waiting {
                break;
            }
            assert!(
                Instant::now() < deadline && !taken.is_finished(),
                "the snapshot never waited for the dropping transaction"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        dropper.batch_execute("COMMIT").unwrap();
        let s = taken
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("the snapshot failed: {e}"));
        let names: Vec<String> = s.iter().map(|(id, _)| id.to_string()).collect();
        assert!(names.iter().any(|n| n == "table public.kept"), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("race_")), "{names:?}");
    });
}

/// Names that need quoting keep objects apart; a table named like the ledger in another
/// schema is an ordinary table.
#[test]
fn odd_names_are_quoted_and_kept_apart() {
    let db = TestDb::new("cft_snap_names");
    let mut client = db.client();
    client
        .batch_execute(
            r#"CREATE SCHEMA "My Schema";
               CREATE TABLE "My Schema"."a.b" ("Col" int, "x""y" text);
               CREATE TABLE "My Schema".a (b int);
               CREATE TABLE "My Schema"."A" (b int);
               CREATE TABLE "My Schema".tb_confiture (version text);
               CREATE TABLE public."été" ("clé" int);
               CREATE FUNCTION "My Schema"."f("(a int) RETURNS int LANGUAGE sql AS 'SELECT a';
               COMMENT ON COLUMN "My Schema"."a.b"."Col" IS 'it''s';"#,
        )
        .unwrap();
    let s = snapshot(&mut client, &SnapshotOptions::default()).unwrap();
    let names: Vec<String> = s.iter().map(|(id, _)| id.to_string()).collect();
    for expected in [
        r#"schema "My Schema""#,
        r#"table "My Schema"."a.b""#,
        r#"table "My Schema".a"#,
        r#"table "My Schema"."A""#,
        r#"table "My Schema".tb_confiture"#,
        r#"table public."été""#,
        r#"column "My Schema"."a.b"."Col""#,
        r#"column "My Schema"."a.b"."x""y""#,
        r#"column public."été"."clé""#,
        r#"function "My Schema"."f("(integer)"#,
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not in {names:#?}"
        );
    }
    let col = s
        .get(&ObjectId::with_sub(
            ObjectKind::Column,
            r#""My Schema"."a.b""#,
            r#""Col""#,
        ))
        .unwrap();
    assert_eq!(col.properties["comment"], "it's");
}
