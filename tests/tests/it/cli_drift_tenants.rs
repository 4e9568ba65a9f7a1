//! Whole-database `migrate drift` of a database that also hosts tenant schemas (migrated with
//! `--schema`, each with a confiture ledger of its own): the tenants are left out of the
//! comparison and named, not reported as drift; a schema with a table merely named like the
//! ledger is still drift (h18 F7).

use confiture::exit;
use confiture_tests::{Project, TestDb};

#[test]
fn tenant_schemas_are_left_out_of_drift_and_named() {
    let db = TestDb::new("drift_tenants");
    let project = Project::new();
    project.migration(
        "001_post",
        "CREATE TABLE tb_post (id bigint PRIMARY KEY, title text);\n",
        "DROP TABLE tb_post;\n",
    );
    project
        .run_on(&db, &["migrate", "up", "-q"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "up", "-q", "--schema", "tenant_a"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "drift"])
        .code(exit::SUCCESS)
        .stdout_has("no drift: the live database matches its 1 applied migration replayed")
        .stdout_has("left out: schema tenant_a, a tenant migrated with --schema");
    let run = project.run_on(&db, &["migrate", "drift", "--format", "json", "-q"]);
    run.code(exit::SUCCESS);
    assert_eq!(
        run.json()["tenant_schemas"],
        serde_json::json!(["tenant_a"])
    );

    // Drift of the database's own schema is still seen beside a tenant.
    db.connect()
        .batch_execute("ALTER TABLE public.tb_post ADD COLUMN nickname text")
        .unwrap();
    project
        .run_on(&db, &["migrate", "drift"])
        .code(exit::SCHEMA_CHECK_FAILED)
        .stdout_has("column public.tb_post.nickname: in the live database");
    db.connect()
        .batch_execute("ALTER TABLE public.tb_post DROP COLUMN nickname")
        .unwrap();

    // A table named like the ledger, without the ledger's columns, makes no tenant.
    db.connect()
        .batch_execute("CREATE SCHEMA fake; CREATE TABLE fake.tb_confiture (a integer)")
        .unwrap();
    project
        .run_on(&db, &["migrate", "drift"])
        .code(exit::SCHEMA_CHECK_FAILED)
        .stdout_has(
            "table fake.tb_confiture: in the live database, not made by its applied migrations",
        )
        .stdout_lacks("left out: schema fake");
}
