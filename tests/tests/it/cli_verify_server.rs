//! What `migrate verify` and `migrate drift` leave on the scratch database's server, which is
//! the target's by default: roles, tablespaces and databases are the server's, and dropping
//! the scratch database does not remove them. A role the migrations replayed create is dropped
//! with the scratch database (the run passes, and the next real `up` creates it); what cannot
//! be put back — a role that cannot be dropped, a role that was there before and that a
//! migration changed — fails the run, named with what to do (h18 F13).

use confiture::exit;
use confiture_test_support::reaper::DropRoleLater;
use confiture_tests::{admin, unique, Project, TestDb};

fn role_exists(name: &str) -> bool {
    admin()
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)",
            &[&name],
        )
        .unwrap()
        .get(0)
}

#[test]
fn a_role_created_by_the_migrations_is_dropped_with_the_scratch_database() {
    let role = DropRoleLater(unique("cft_vrole"));
    let project = Project::new();
    project.migration(
        "001_role",
        &format!("CREATE ROLE \"{}\" NOLOGIN;\n", role.0),
        &format!("DROP ROLE \"{}\";\n", role.0),
    );
    // Created by an up that verify applies again at the end: gone after a run that passes.
    let db = TestDb::new("verify_role");
    project
        .run_on(&db, &["migrate", "verify"])
        .code(exit::SUCCESS)
        .stdout_has("001_role   ✓ reversible");
    assert!(!role_exists(&role.0), "verify left the role on the server");
    // Irreversible: its down never runs, the role is still the run's.
    project.write(
        "db/migrations/001_role.down.sql",
        "-- confiture:irreversible\n",
    );
    project
        .run_on(&db, &["migrate", "verify"])
        .code(exit::SUCCESS)
        .stdout_has("001_role   – irreversible: applied up only");
    assert!(!role_exists(&role.0), "verify left the role on the server");
    // A run that stops at a later migration's failure: its help's "nothing was written" holds.
    project.migration("002_bad", "SELECT 1/0;\n", "SELECT 1;\n");
    project
        .run_on(&db, &["migrate", "verify"])
        .code(exit::MIGRATION_FAILED)
        .stderr_has("nothing was written there");
    assert!(
        !role_exists(&role.0),
        "a failed verify left the role on the server"
    );
    project.remove("db/migrations/002_bad.up.sql");
    project.remove("db/migrations/002_bad.down.sql");
    // Drift of a database where nothing was applied yet replays nothing; `up` then creates the
    // role on the real database, which verify and drift left alone.
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    assert!(role_exists(&role.0));
    // Now the role is on the server before any replay: the file is right, the server is the
    // wrong one to replay on, and the refusal says so before anything runs (never "fix the
    // file").
    for command in ["verify", "drift"] {
        project
            .run_on(&db, &["migrate", command])
            .code(exit::INVALID)
            .stderr_has(&format!(
                "CREATE ROLE {} (a role that is on the server already)",
                role.0
            ))
            .stderr_has("`--scratch-url URL`")
            .stderr_lacks("fix db/migrations");
        assert!(role_exists(&role.0), "{command} dropped the target's role");
    }
}

#[test]
fn what_the_run_cannot_put_back_fails_it_naming_the_object() {
    let created = DropRoleLater(unique("cft_vgrant"));
    let db = TestDb::new("verify_left");
    let project = Project::new();
    // Its grant on a database that is not the scratch one keeps the role from being dropped.
    // Built at run time, which the refusal before the replay does not see.
    project.migration(
        "001_role",
        &format!(
            "CREATE ROLE \"{r}\" NOLOGIN;\nDO $$ BEGIN EXECUTE 'GRANT CONNECT ' || 'ON DATABASE \"{d}\" TO \"{r}\"'; END $$;\n",
            r = created.0,
            d = db.name
        ),
        "-- confiture:irreversible\n",
    );
    let run = project.run_on(&db, &["migrate", "verify"]);
    run.code(exit::SCHEMA_CHECK_FAILED)
        .stdout_has("left on the scratch database's server")
        .stdout_has(&format!(
            "role \"{}\" was created on the server of",
            created.0
        ))
        .stdout_has(&format!("`DROP ROLE \"{}\";`", created.0));
    let clean = || {
        admin()
            .batch_execute(&format!(
                "REVOKE CONNECT ON DATABASE \"{}\" FROM \"{r}\"; DROP ROLE \"{r}\"",
                db.name,
                r = created.0
            ))
            .unwrap();
    };
    clean();
    let run = project.run_on(&db, &["migrate", "verify", "--format", "json", "-q"]);
    run.code(exit::SCHEMA_CHECK_FAILED);
    let json = run.json();
    assert_eq!(json["passed"], false);
    assert_eq!(json["migrations"][0]["result"], "irreversible");
    let left = json["left_on_server"].as_array().unwrap();
    assert!(
        left.iter()
            .any(|l| l.as_str().unwrap().contains(&created.0)),
        "{}",
        run.dump()
    );
    clean();

    // A role that was there before, changed by a migration (its down puts it back, but the
    // run ends with every up applied) under a name built at run time: not put back, named.
    let existing = DropRoleLater(unique("cft_vexisting"));
    admin()
        .batch_execute(&format!("CREATE ROLE \"{}\" NOLOGIN", existing.0))
        .unwrap();
    let project = Project::new();
    project.migration(
        "001_limit",
        &format!(
            "DO $$ BEGIN EXECUTE 'ALTER ' || 'ROLE \"{}\" CONNECTION LIMIT 3'; END $$;\n",
            existing.0
        ),
        &format!(
            "DO $$ BEGIN EXECUTE 'ALTER ' || 'ROLE \"{}\" CONNECTION LIMIT -1'; END $$;\n",
            existing.0
        ),
    );
    let run = project.run_on(&db, &["migrate", "verify"]);
    run.code(exit::SCHEMA_CHECK_FAILED)
        .stdout_has("001_limit  ✓ reversible")
        .stdout_has(&format!(
            "role \"{}\", which was on the server of",
            existing.0
        ))
        .stdout_has("was changed by the migrations replayed")
        .stdout_has("--scratch-url");
    // Drift replays it too.
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    admin()
        .batch_execute(&format!(
            "ALTER ROLE \"{}\" CONNECTION LIMIT -1",
            existing.0
        ))
        .unwrap();
    project
        .run_on(&db, &["migrate", "drift"])
        .code(exit::SCHEMA_CHECK_FAILED)
        .stdout_has("was changed by the migrations replayed")
        // One migration, said as one (h19: "replaying 1 applied migrations").
        .stderr_has("replaying 1 applied migration ");
}
