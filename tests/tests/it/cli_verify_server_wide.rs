//! `migrate verify` and `migrate drift` replay migrations on a scratch database of the target's
//! own server unless `--scratch-url` names another: what the replayed SQL does to the whole
//! server (`ALTER SYSTEM`, replication slots, `COPY ... PROGRAM`, roles that were there
//! before and their memberships) reached the production server for real (h19 F1, F12, F13).
//! They refuse such migrations before replaying anything (exit 5), naming file and line; what
//! the scan cannot see (a name built at run time) is put back or reported after the run.
//!
//! `ALTER SYSTEM` and replication slots only ever run on a throwaway cluster: the shared
//! server is every test's.

use confiture::exit;
use confiture_test_support::reaper::DropRoleLater;
use confiture_tests::cluster::Cluster;
use confiture_tests::{admin, unique, Project, Run, TestDb};

/// One throwaway cluster for the tests of this file that need one (initdb costs seconds).
fn cluster() -> &'static Cluster {
    static CLUSTER: std::sync::OnceLock<Cluster> = std::sync::OnceLock::new();
    CLUSTER.get_or_init(|| {
        let cluster = Cluster::init();
        cluster.start();
        cluster
    })
}

fn run(project: &Project, args: &[&str], url: &str) -> Run {
    Run::of(project.cli().args(args).args(["--database-url", url]))
}

fn auto_conf(cluster: &Cluster) -> String {
    std::fs::read_to_string(cluster.data().join("postgresql.auto.conf")).unwrap_or_default()
}

fn slots(cluster: &Cluster) -> Vec<String> {
    cluster
        .connect("postgres")
        .query("SELECT slot_name::text FROM pg_replication_slots", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn alter_system_slots_and_copy_program_are_refused_on_the_targets_server_before_anything_runs() {
    let cluster = cluster();
    let db = cluster.create_database("vsafe_sys");
    let url = cluster.url(&db, "");
    let mark = cluster.dir().join(unique("side_effect"));
    let project = Project::new();
    project.migration(
        "001_sys",
        "-- confiture:no-transaction\nALTER SYSTEM SET work_mem = '64MB';\n",
        "-- confiture:no-transaction\nALTER SYSTEM RESET work_mem;\n",
    );
    project.migration(
        "002_slot",
        &format!(
            "CREATE TABLE t (a int);\nSELECT pg_create_physical_replication_slot('{}', true);\n",
            "vsafe_slot"
        ),
        "DROP TABLE t;\nSELECT pg_drop_replication_slot('vsafe_slot');\n",
    );
    project.migration(
        "003_notify",
        &format!(
            "DO $$ BEGIN\n  EXECUTE 'COPY (SELECT 1) TO PROGRAM ''cat > /dev/null; echo ran >> {}''';\nEND $$;\n",
            mark.display()
        ),
        "SELECT 1;\n",
    );
    let before = auto_conf(cluster);
    for command in ["verify", "drift"] {
        if command == "drift" {
            // Applied for real (as a deploy would): drift replays what the ledger records.
            run(&project, &["migrate", "up", "-q"], &url).code(exit::SUCCESS);
            let mut admin = cluster.connect("postgres");
            admin.batch_execute("ALTER SYSTEM RESET work_mem").unwrap();
            admin
                .batch_execute("SELECT pg_drop_replication_slot('vsafe_slot')")
                .unwrap();
            std::fs::remove_file(&mark).unwrap();
        }
        let r = run(&project, &["migrate", command], &url);
        r.code(exit::INVALID)
            .stderr_has("nothing was replayed")
            .stderr_has("001_sys.up.sql:2`: ALTER SYSTEM")
            .stderr_has("002_slot.up.sql:2`: pg_create_physical_replication_slot()")
            .stderr_has("003_notify.up.sql:2`: COPY ... PROGRAM, inside a DO block")
            .stderr_has("--scratch-url");
        if command == "verify" {
            r.stderr_has("001_sys.down.sql:2`: ALTER SYSTEM")
                .stderr_has("002_slot.down.sql:2`: pg_drop_replication_slot()");
        }
        assert_eq!(auto_conf(cluster), before, "{command} ran ALTER SYSTEM");
        // Its own slot only: the cluster is shared with the tests that make `vsafe_hidden`.
        assert!(
            !slots(cluster).contains(&"vsafe_slot".to_string()),
            "{command} left a slot"
        );
        assert!(!mark.exists(), "{command} ran the program");
        // Another URL of the same server (another host name) is the same server.
        let same = format!(
            "postgresql://postgres@127.0.0.1:{}/postgres",
            cluster.port()
        );
        run(
            &project,
            &["migrate", command, "--scratch-url", &same],
            &url,
        )
        .code(exit::INVALID)
        .stderr_has("ALTER SYSTEM");
        assert_eq!(auto_conf(cluster), before, "{command} ran ALTER SYSTEM");
    }
}

/// What the scan cannot see — a function name built at run time — is put back after the run:
/// a replication slot the replay created is dropped.
#[test]
fn a_slot_made_under_a_computed_name_is_dropped_after_the_run() {
    let cluster = cluster();
    let db = cluster.create_database("vsafe_slot2");
    let url = cluster.url(&db, "");
    let project = Project::new();
    project.migration(
        "001_slot",
        "DO $$ BEGIN\n  EXECUTE 'SELECT pg_create_' || 'physical_replication_slot(''vsafe_hidden'', true)';\nEND $$;\n",
        "SELECT 1;\n",
    );
    // Its down leaves the slot: verify ends with it there, made by its last up.
    run(&project, &["migrate", "verify"], &url);
    assert!(
        !slots(cluster).contains(&"vsafe_hidden".to_string()),
        "verify left the replication slot on the target's server"
    );
}

fn members_of(role: &str) -> Vec<String> {
    admin()
        .query(
            "SELECT m.member::regrole::text FROM pg_auth_members m WHERE m.roleid::regrole::text = quote_ident($1)",
            &[&role],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// h19 F1: the idempotent create / `DROP ROLE IF EXISTS` pattern, replayed on the live
/// server, dropped the live role and re-created it: its members, password and per-database
/// settings were gone. Refused now before anything runs, and so is every statement changing a
/// role, membership or database that was on the server before the run.
#[test]
fn statements_on_roles_and_databases_already_on_the_server_are_refused() {
    let ro = DropRoleLater(unique("vsafe_ro"));
    let alice = DropRoleLater(unique("vsafe_alice"));
    let db = TestDb::new("vsafe_roles");
    let project = Project::new();
    project.migration(
        "001_roles",
        &format!(
            "DO $$ BEGIN\n  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{r}') THEN CREATE ROLE {r}; END IF;\nEND $$;\nCREATE TABLE t (id int);\n",
            r = ro.0
        ),
        &format!("DROP TABLE t;\nDROP ROLE IF EXISTS {};\n", ro.0),
    );
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    admin()
        .batch_execute(&format!(
            "CREATE ROLE {a} LOGIN PASSWORD 'alicepw'; GRANT {r} TO {a}",
            a = alice.0,
            r = ro.0
        ))
        .unwrap();
    let oid = |name: &str| -> u32 {
        admin()
            .query_one("SELECT oid FROM pg_roles WHERE rolname = $1", &[&name])
            .unwrap()
            .get(0)
    };
    let before = oid(&ro.0);
    for command in ["verify", "drift"] {
        let r = project.run_on(&db, &["migrate", command]);
        r.code(exit::INVALID)
            .stderr_has(&format!(
                "001_roles.up.sql:2`: CREATE ROLE {} (a role that is on the server already), inside a DO block",
                ro.0
            ))
            .stderr_has("--scratch-url")
            .stderr_has("nothing was replayed");
        if command == "verify" {
            r.stderr_has(&format!("001_roles.down.sql:2`: DROP ROLE {}", ro.0));
        }
        assert_eq!(
            oid(&ro.0),
            before,
            "{command} dropped and re-created the role"
        );
        assert_eq!(
            members_of(&ro.0),
            std::slice::from_ref(&alice.0),
            "{command} lost a member"
        );
    }
    // A membership between two roles of the server, a database's privileges, a role's
    // attributes: the same.
    let project = Project::new();
    project.migration(
        "001_grants",
        &format!(
            "GRANT {r} TO {a};\nGRANT CONNECT ON DATABASE \"{d}\" TO {r};\nALTER ROLE {a} CONNECTION LIMIT 3;\nALTER DATABASE \"{d}\" SET work_mem = '5MB';\n",
            r = ro.0,
            a = alice.0,
            d = db.name
        ),
        "SELECT 1;\n",
    );
    project
        .run_on(&db, &["migrate", "verify"])
        .code(exit::INVALID)
        .stderr_has(&format!(
            "001_grants.up.sql:1`: GRANT of role {} to {}",
            ro.0, alice.0
        ))
        .stderr_has("001_grants.up.sql:2`: GRANT ... ON DATABASE")
        .stderr_has(&format!("001_grants.up.sql:3`: ALTER ROLE {}", alice.0))
        .stderr_has("001_grants.up.sql:4`: ALTER DATABASE");
    // A role the run creates itself, granted to one of the server's, goes with it: allowed.
    let own = DropRoleLater(unique("vsafe_own"));
    let project = Project::new();
    project.migration(
        "001_own",
        &format!(
            "CREATE ROLE {o};\nGRANT {o} TO {a};\n",
            o = own.0,
            a = alice.0
        ),
        &format!("DROP ROLE {};\n", own.0),
    );
    project
        .run_on(&db, &["migrate", "verify"])
        .code(exit::SUCCESS)
        .stdout_has("1 reversible");
}

/// What the scan cannot see (a statement built at run time) that drops and creates again a
/// role of the server: the report names the members it lost, with the `GRANT` that gives
/// each back, and its password (h19 F1: it named neither).
#[test]
fn a_role_dropped_under_a_computed_statement_is_reported_with_its_members_and_password() {
    let ro = DropRoleLater(unique("vsafe_cro"));
    let alice = DropRoleLater(unique("vsafe_calice"));
    admin()
        .batch_execute(&format!(
            "CREATE ROLE {r} LOGIN PASSWORD 'ropw'; CREATE ROLE {a}; GRANT {r} TO {a}",
            r = ro.0,
            a = alice.0
        ))
        .unwrap();
    let db = TestDb::new("vsafe_croles");
    let project = Project::new();
    project.migration(
        "001_recreate",
        &format!(
            "DO $$ BEGIN\n  EXECUTE 'DROP ' || 'ROLE ' || quote_ident('{r}');\n  EXECUTE 'CREATE ' || 'ROLE ' || quote_ident('{r}');\nEND $$;\n",
            r = ro.0
        ),
        "SELECT 1;\n",
    );
    let run = project.run_on(&db, &["migrate", "verify", "--format", "json", "-q"]);
    run.code(exit::SCHEMA_CHECK_FAILED);
    let left = run.json()["left_on_server"].to_string();
    assert!(
        left.contains(&format!("GRANT \\\"{}\\\" TO {};", ro.0, alice.0)),
        "{}",
        run.dump()
    );
    assert!(left.contains("password it had is gone"), "{}", run.dump());
}

/// h19 F4: a role left on the server (by a killed `verify`, another database's migrations)
/// made the real `up` say "fix the file": the help says where such a role comes from.
#[test]
fn up_of_a_create_role_that_is_on_the_server_says_the_role_is_the_servers() {
    let role = DropRoleLater(unique("vsafe_left"));
    admin()
        .batch_execute(&format!("CREATE ROLE {}", role.0))
        .unwrap();
    let db = TestDb::new("vsafe_up_role");
    let project = Project::new();
    project.migration(
        "001_role",
        &format!("CREATE ROLE {};\n", role.0),
        &format!("DROP ROLE {};\n", role.0),
    );
    project
        .run_on(&db, &["migrate", "up"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("a role is the server's, not the database's")
        .stderr_has("killed with SIGKILL")
        .stderr_has("confiture_scratch_");
}

/// h19 F4: a `verify` killed with SIGKILL left its scratch database and the role its replay
/// created (held there by the database's grant); the next `verify` said only that the role
/// was there before. It names the leftover database, the role it holds, and the statements to
/// clean up.
#[test]
fn the_refusal_names_a_scratch_database_a_killed_run_left_and_the_role_it_holds() {
    let role = DropRoleLater(unique("vsafe_vrole"));
    // A process that is gone: the pid its name records.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let leftover = format!("confiture_scratch_{pid}_0_{}", std::process::id());
    let mut admin_session = admin();
    admin_session
        .batch_execute(&format!("CREATE ROLE {}", role.0))
        .unwrap();
    admin_session
        .batch_execute(&format!("CREATE DATABASE \"{leftover}\""))
        .unwrap();
    let drop_leftover = || {
        admin()
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{leftover}\" WITH (FORCE)"
            ))
            .unwrap();
    };
    let held = postgres::Client::connect(
        &format!(
            "host={} port={} user=postgres dbname={leftover}",
            confiture_tests::pg_host(),
            confiture_tests::pg_port()
        ),
        postgres::NoTls,
    )
    .and_then(|mut c| {
        c.batch_execute(&format!(
            "CREATE TABLE a (id int); GRANT SELECT ON a TO {}",
            role.0
        ))
    });
    if let Err(e) = held {
        drop_leftover();
        panic!("{e}");
    }
    let db = TestDb::new("vsafe_killed");
    let project = Project::new();
    project.migration(
        "001_a",
        &format!(
            "CREATE ROLE {r};\nCREATE TABLE a (id int);\nGRANT SELECT ON a TO {r};\n",
            r = role.0
        ),
        &format!("DROP TABLE a;\nDROP ROLE {};\n", role.0),
    );
    let run = project.run_on(&db, &["migrate", "verify"]);
    drop_leftover();
    run.code(exit::INVALID)
        .stderr_has(&format!(
            "CREATE ROLE {} (a role that is on the server already)",
            role.0
        ))
        .stderr_has(&format!(
            "the scratch database \"{leftover}\" is on that server with no session"
        ))
        .stderr_has("killed with SIGKILL")
        .stderr_has(&format!(
            "DROP DATABASE IF EXISTS \"{leftover}\" WITH (FORCE);"
        ))
        .stderr_has(&format!("DROP ROLE \"{}\";", role.0));
}

/// h20 F2: a `DO` block or a function whose body is quoted with `'...'` or `E'...'` (not
/// `$$`) was not read: `verify` dropped the server's role and changed another's attributes.
/// Every quoting of a body is read, and a string in one: refused before anything runs.
#[test]
fn bodies_quoted_with_single_quotes_or_e_strings_are_read_before_replaying() {
    let bob = DropRoleLater(unique("vsafe_qbob"));
    let alice = DropRoleLater(unique("vsafe_qalice"));
    admin()
        .batch_execute(&format!(
            "CREATE ROLE {b} LOGIN; CREATE ROLE {a} LOGIN",
            b = bob.0,
            a = alice.0
        ))
        .unwrap();
    let db = TestDb::new("vsafe_quoted");
    let project = Project::new();
    project.migration(
        "001_quoted",
        &format!(
            "CREATE TABLE t (id int);\nDO 'BEGIN EXECUTE ''DROP ROLE IF EXISTS {b}''; END';\nDO E'BEGIN\\n  EXECUTE \\'ALTER ROLE {a} NOLOGIN\\';\\nEND';\nCREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS\n  'BEGIN EXECUTE ''ALTER ROLE {a} CONNECTION LIMIT 1''; END';\nSELECT f();\n",
            b = bob.0,
            a = alice.0
        ),
        "DROP FUNCTION f();\nDROP TABLE t;\n",
    );
    let state = |role: &str| -> Option<(u32, bool, i32)> {
        admin()
            .query_opt(
                "SELECT oid, rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname = $1",
                &[&role],
            )
            .unwrap()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
    };
    let (bob_before, alice_before) = (state(&bob.0), state(&alice.0));
    assert!(bob_before.is_some() && alice_before.is_some());
    let applied = |project: &Project| project.run_on(&db, &["migrate", "up", "-q"]);
    for command in ["verify", "drift"] {
        if command == "drift" {
            // drift replays what the ledger records: applied as `up` would, then put back.
            applied(&project).code(exit::SUCCESS);
            admin()
                .batch_execute(&format!(
                    "CREATE ROLE {b} LOGIN; ALTER ROLE {a} LOGIN CONNECTION LIMIT -1",
                    b = bob.0,
                    a = alice.0
                ))
                .unwrap();
        }
        let (bob_now, alice_now) = (state(&bob.0), state(&alice.0));
        project
            .run_on(&db, &["migrate", command])
            .code(exit::INVALID)
            .stderr_has(&format!(
                "001_quoted.up.sql:2`: DROP ROLE {} (a role that is on the server already), inside a DO block",
                bob.0
            ))
            .stderr_has(&format!("001_quoted.up.sql:3`: ALTER ROLE {}", alice.0))
            .stderr_has(&format!("001_quoted.up.sql:5`: ALTER ROLE {}", alice.0))
            .stderr_has("--scratch-url")
            .stderr_has("nothing was replayed");
        assert_eq!(state(&bob.0), bob_now, "{command} dropped the role");
        assert_eq!(state(&alice.0), alice_now, "{command} changed the role");
    }
}

fn origins(cluster: &Cluster) -> Vec<String> {
    cluster
        .connect("postgres")
        .query("SELECT roname::text FROM pg_replication_origin", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// h20 F13a: a replication origin is the server's, like a slot: `verify` left the one its
/// replay created on the target's server, and the next real `up` failed with "already
/// exists". Refused before replaying when the call is read, dropped after the run when its
/// name is built at run time.
#[test]
fn replication_origins_are_refused_or_dropped_after_the_run() {
    let cluster = cluster();
    let db = cluster.create_database("vsafe_origin");
    let url = cluster.url(&db, "");
    let project = Project::new();
    project.migration(
        "001_origin",
        "CREATE TABLE t (a int);\nSELECT pg_replication_origin_create('vsafe_origin');\n",
        "DROP TABLE t;\nSELECT pg_catalog.pg_replication_origin_drop('vsafe_origin');\n",
    );
    run(&project, &["migrate", "verify"], &url)
        .code(exit::INVALID)
        .stderr_has("001_origin.up.sql:2`: pg_replication_origin_create()")
        .stderr_has("001_origin.down.sql:2`: pg_replication_origin_drop()")
        .stderr_has("--scratch-url")
        .stderr_has("nothing was replayed");
    assert!(!origins(cluster).contains(&"vsafe_origin".to_string()));
    // A name the scan cannot read: the origin the replay made is dropped after the run, so the
    // real `up` creates it.
    let project = Project::new();
    project.migration(
        "001_origin",
        "DO $$ BEGIN\n  EXECUTE 'SELECT pg_replication_origin_' || 'create(''vsafe_horigin'')';\nEND $$;\n",
        "SELECT 1;\n",
    );
    run(&project, &["migrate", "verify"], &url);
    assert!(
        !origins(cluster).contains(&"vsafe_horigin".to_string()),
        "verify left the replication origin on the target's server"
    );
    run(&project, &["migrate", "up", "-q"], &url).code(exit::SUCCESS);
    assert!(origins(cluster).contains(&"vsafe_horigin".to_string()));
}

/// h20 F3: a migration that makes a postgres_fdw server pointing at another database of the
/// server and writes through a foreign table: `verify` and `drift` replayed it on the
/// target's own server and added rows to that live database. The server is refused before
/// anything runs.
#[test]
fn a_postgres_fdw_server_is_refused_before_replaying_on_the_targets_server() {
    let cluster = cluster();
    let db = cluster.create_database("vsafe_fdw");
    let sink = cluster.create_database("vsafe_fdw_sink");
    cluster
        .connect(&sink)
        .batch_execute("CREATE TABLE sink (a int)")
        .unwrap();
    let url = cluster.url(&db, "");
    let project = Project::new();
    project.migration(
        "001_fdw",
        &format!(
            "CREATE EXTENSION IF NOT EXISTS postgres_fdw;\nCREATE SERVER other FOREIGN DATA WRAPPER postgres_fdw\n  OPTIONS (host '{}', port '{}', dbname '{sink}');\nCREATE USER MAPPING FOR CURRENT_USER SERVER other;\nCREATE FOREIGN TABLE ft (a int) SERVER other OPTIONS (table_name 'sink');\nINSERT INTO ft VALUES (1);\n",
            cluster.dir().display(),
            cluster.port()
        ),
        "DROP FOREIGN TABLE ft;\nDROP USER MAPPING FOR CURRENT_USER SERVER other;\nDROP SERVER other;\n",
    );
    let rows = || -> i64 {
        cluster
            .connect(&sink)
            .query_one("SELECT count(*) FROM sink", &[])
            .unwrap()
            .get(0)
    };
    for command in ["verify", "drift"] {
        if command == "drift" {
            run(&project, &["migrate", "up", "-q"], &url).code(exit::SUCCESS);
        }
        let before = rows();
        run(&project, &["migrate", command], &url)
            .code(exit::INVALID)
            .stderr_has("001_fdw.up.sql:2`: CREATE SERVER ... FOREIGN DATA WRAPPER postgres_fdw")
            .stderr_has("--scratch-url")
            .stderr_has("nothing was replayed");
        assert_eq!(rows(), before, "{command} wrote the other database");
    }
}
